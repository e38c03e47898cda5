//! Just enough of the W3C WebDriver protocol to drive headless Chromium through chromedriver:
//! open pages, find elements, type, click, read text, take screenshots. It speaks plain JSON over
//! HTTP with the HTTP client the server already depends on, so the browser tests add no crate.
//!
//! `Browser::start` returns None, after printing why, when `chromedriver` or Chromium is missing
//! (`.ci/run` installs Debian's `chromium` and `chromium-driver` first, so in CI that means they
//! could not be installed).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The key of an element reference in WebDriver replies.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver, in its own process group so that the browser it starts goes with it, and the
/// temporary directory they both write their profiles to, removed once they are gone.
struct Driver(Child, PathBuf);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(name)).find(|p| p.is_file())
}

pub struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    _driver: Driver,
    shots: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium session, or says why it cannot. Where
    /// `LEADLINE_REQUIRE_BROWSER` is set (CI sets it), a missing browser fails the test instead.
    pub async fn start() -> Option<Browser> {
        let missing = |what: &str| {
            let message = format!("browser tests need {what} (Debian: apt-get install chromium chromium-driver)");
            assert!(std::env::var_os("LEADLINE_REQUIRE_BROWSER").is_none(), "{message}");
            eprintln!("SKIPPED: {message}");
        };
        let Some(chromedriver) = on_path("chromedriver") else {
            missing("`chromedriver`");
            return None;
        };
        if ["chromium", "chromium-browser", "google-chrome"].iter().all(|b| on_path(b).is_none()) {
            missing("Chromium");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).ok()?.port();
        // Killed rather than closed, the browser would leave its profile in the shared /tmp.
        let scratch = std::env::temp_dir().join(format!("leadline-browser-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).unwrap();
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .env("TMPDIR", &scratch)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("chromedriver starts")
        };
        let driver = Driver(child, scratch);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        // chromedriver is another program: wait (bounded) until it answers.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(reply) = http.get(format!("{base}/status")).send().await {
                if reply.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not answer on port {port} within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                            "--window-size=1280,900", "--lang=en-US"]}
        }}});
        let reply = http.post(format!("{base}/session")).body(capabilities.to_string()).send().await.unwrap();
        let body: Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
        let session =
            body["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no browser session: {body}")).to_string();
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("console-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Some(Browser { http, base, session, _driver: driver, shots })
    }

    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.post(&url).body(body.unwrap_or(json!({})).to_string()),
        };
        let reply = request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = reply.status();
        let body: Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path} answered {status}: {body}");
        body["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url}))).await;
    }

    pub async fn url(&self) -> String {
        self.command("GET", "/url", None).await.as_str().unwrap_or("").to_string()
    }

    pub async fn title(&self) -> String {
        self.command("GET", "/title", None).await.as_str().unwrap_or("").to_string()
    }

    pub async fn find(&self, css: &str) -> Element {
        let found = self.command("POST", "/element", Some(json!({"using": "css selector", "value": css}))).await;
        Element(found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}")).to_string())
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self.command("POST", "/elements", Some(json!({"using": "css selector", "value": css}))).await;
        found.as_array().unwrap().iter().map(|e| Element(e[ELEMENT].as_str().unwrap().to_string())).collect()
    }

    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.text_of(&element).await
    }

    pub async fn text_of(&self, element: &Element) -> String {
        self.command("GET", &format!("/element/{}/text", element.0), None).await.as_str().unwrap_or("").to_string()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command("POST", &format!("/element/{}/value", element.0), Some(json!({"text": text}))).await;
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.click_on(&element).await;
    }

    pub async fn click_on(&self, element: &Element) {
        self.command("POST", &format!("/element/{}/click", element.0), Some(json!({}))).await;
    }

    /// The text of the first element matching `css` right now, read in one step (no stale
    /// element when the page changes between finding and reading); None when there is none.
    pub async fn text_now(&self, css: &str) -> Option<String> {
        let source = format!(
            "const e = document.querySelector({}); return e ? e.innerText : null;",
            serde_json::to_string(css).unwrap()
        );
        self.script(&source).await.as_str().map(str::to_string)
    }

    /// Picks the option with this value in a `<select>`.
    pub async fn select(&self, select_css: &str, value: &str) {
        self.click(&format!("{select_css} option[value='{value}']")).await;
    }

    pub async fn set_size(&self, width: u32, height: u32) {
        self.command("POST", "/window/rect", Some(json!({"width": width, "height": height}))).await;
    }

    /// Runs a script in the page and returns its value.
    pub async fn script(&self, source: &str) -> Value {
        self.command("POST", "/execute/sync", Some(json!({"script": source, "args": []}))).await
    }

    /// Saves a PNG of the window as `<target>/console-screenshots/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let encoded = self.command("GET", "/screenshot", None).await;
        let png = decode_base64(encoded.as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn quit(self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
    }
}

/// Standard base64 (as WebDriver sends screenshots) to bytes.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("`{}` is not base64", c as char),
        }
    };
    let clean: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    out
}

#[test]
fn base64_decodes_with_and_without_padding() {
    assert_eq!(decode_base64("aGVsbG8="), b"hello");
    assert_eq!(decode_base64("aGVsbG8h"), b"hello!");
    assert_eq!(decode_base64("aGk="), b"hi");
}
