//! `leadline config check`, and the database password kept out of what the binary prints.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

mod common;

use common::{startup_lines, Scratch};

fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("config-check-{name}"))
}

impl Scratch {
    /// Runs `leadline` with the configuration file `text` and no `LEADLINE_*` variables.
    fn leadline(&self, text: &str, args: &[&str]) -> Output {
        let file = self.0.join("leadline.toml");
        std::fs::write(&file, text).unwrap();
        command(&self.0).arg("--config").arg(&file).args(args).output().unwrap()
    }
}

fn command(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leadline"));
    command.current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("LEADLINE_") {
            command.env_remove(name);
        }
    }
    command
}

fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_valid_file_is_accepted_and_its_settings_printed_with_secrets_hidden() {
    let scratch = scratch("valid");
    let output = scratch.leadline(
        "listen = \"0.0.0.0:9000\"\n\
         database_url = \"postgres://leadline:hunter2@db.internal/leadline\"\n\
         webhook_secret = \"whsec-not-to-be-shown\"\n\
         noojee_concurrency = 8\n\
         slow_request_ms = 250\n\
         [vicidial]\nmax_lead_ids = 200\n",
        &["config", "check"],
    );
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("is a valid configuration"), "{stdout}");
    assert!(stdout.contains("listen = 0.0.0.0:9000") && stdout.contains("concurrency 8"), "{stdout}");
    assert!(stdout.contains("max_lead_ids 200") && stdout.contains("slow_request_ms = 250"), "{stdout}");
    assert!(stdout.contains("postgres://leadline:***@db.internal/leadline"), "{stdout}");
    assert!(!stdout.contains("hunter2") && !stdout.contains("whsec-not-to-be-shown"), "{stdout}");
    assert!(stdout.contains("webhook_secret = (set)"), "{stdout}");
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let scratch = scratch("unknown");
    for (file, key, line) in [
        ("listen = \"127.0.0.1:8080\"\nlisen = \"x\"\n", "lisen", "line 2"),
        ("[vicidial]\nmax_leads = 5\n", "max_leads", "line 2"),
    ] {
        let output = scratch.leadline(file, &["config", "check"]);
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("unknown field `{key}`")) && stderr.contains(line), "{stderr}");
    }
}

#[test]
fn a_bad_value_is_explained() {
    let scratch = scratch("bad");
    for (file, expected) in [
        ("listen = 80\n", "invalid type: integer `80`, expected a string"),
        ("listen = \"nowhere\"\n", "listen `nowhere` is not HOST:PORT"),
        ("log = \"leadline_http=loud\"\n", "log filter `leadline_http=loud` is not valid"),
        ("log_format = \"xml\"\n", "log format `xml` is not text or json"),
        ("pool_max_connections = 0\n", "pool_max_connections must be at least 1"),
        ("noojee_concurrency = 0\n", "noojee_concurrency must be at least 1"),
        ("[vicidial]\nholidays = [\"2026-12-25\"]\n", "need a timezone"),
        ("database_url = \"mysql://root:hunter2@db/leads\"\n", "is neither sqlite://PATH nor postgres://"),
    ] {
        let output = scratch.leadline(file, &["config", "check"]);
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{file}: {stderr}");
        assert!(stderr.contains(expected), "{file}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{file}: {stderr}");
    }
}

#[test]
fn the_database_password_is_not_printed_when_the_database_cannot_be_opened() {
    let scratch = scratch("unopened");
    // Nothing listens on port 1; the error names the database without its password.
    let output = scratch.leadline(
        "database_url = \"postgres://leadline:hunter2@127.0.0.1:1/leadline?password=hunter2\"\n\
         pool_acquire_timeout_seconds = 1\n",
        &["migrate"],
    );
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("could not open the database at postgres://leadline:***@127.0.0.1:1/leadline"), "{stderr}");
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"), "{stdout}{stderr}");
    let output = scratch.leadline("[vicidial]\ndatabase_url = \"postgres://root:hunter2@db/asterisk\"\n", &["migrate"]);
    let (_, stderr) = text(&output);
    assert!(stderr.contains("root:***@db") && !stderr.contains("hunter2"), "{stderr}");
}

/// On PostgreSQL (when LEADLINE_TEST_POSTGRES_URL is set; trust authentication takes any
/// password), the lines a server prints and logs as it starts show the URL without its password.
#[tokio::test]
async fn a_server_starting_on_postgresql_shows_its_database_without_the_password() {
    let Ok(base) = std::env::var("LEADLINE_TEST_POSTGRES_URL") else {
        eprintln!("skipped: LEADLINE_TEST_POSTGRES_URL is not set");
        return;
    };
    let (scheme, rest) = base.split_once("://").unwrap();
    let (user_info, host) = rest.split_once('@').expect("the test URL names a user");
    let user = user_info.split(':').next().unwrap();
    let schema = format!("t_config_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.unwrap();
    let separator = if host.contains('?') { '&' } else { '?' };
    let url = format!("{scheme}://{user}:hunter2@{host}{separator}options=-c%20search_path%3D{schema}");

    let dir = scratch("postgres");
    let mut server = command(&dir.0)
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "debug", "--database-url", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let printed = startup_lines(&mut BufReader::new(server.stdout.take().unwrap()).lines());
    server.kill().unwrap();
    server.wait().unwrap();
    let mut logged = String::new();
    std::io::Read::read_to_string(&mut server.stderr.take().unwrap(), &mut logged).unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin).await.unwrap();
    let printed = printed.join("\n");
    assert!(printed.contains(&format!("(database {scheme}://{user}:***@")), "{printed}");
    assert!(!printed.contains("hunter2") && !logged.contains("hunter2"), "{printed}\n{logged}");
}

/// The keys a `leadline.toml` section may hold, as the file parser lists them when refusing an
/// unknown one.
fn known_keys(scratch: &Scratch, section: &str) -> Vec<String> {
    let output = scratch.leadline(&format!("{section}\nnot_a_key = 1\n"), &["config", "check"]);
    let (_, stderr) = text(&output);
    let list = stderr.split("expected one of ").nth(1).unwrap_or_else(|| panic!("{stderr}"));
    list.lines().next().unwrap().split(", ").map(|key| key.trim_matches('`').to_string()).collect()
}

#[test]
fn the_example_file_is_valid_and_names_every_setting() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/leadline.toml.example");
    let example_text = std::fs::read_to_string(&example).unwrap();
    let scratch = scratch("example");
    let output = scratch.leadline(&example_text, &["config", "check"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("is a valid configuration"), "{stdout}");
    // Uncommented with its commented-out values too, the file is still valid.
    let uncommented: String = example_text
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if rest.contains(" = ") || rest.starts_with("    {") || rest == "]" => rest,
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let output = scratch.leadline(&uncommented, &["config", "check"]);
    assert!(output.status.success(), "{}\n{uncommented}", text(&output).1);

    let example: toml::Table = uncommented.parse().expect("the example is TOML");
    let keys = |table: &toml::Table| -> Vec<String> { table.keys().cloned().collect() };
    let vicidial = example["vicidial"].as_table().expect("the example has a [vicidial] section");
    for (section, mut named, header) in
        [("top level", keys(&example), ""), ("[vicidial]", keys(vicidial), "[vicidial]")]
    {
        let mut expected = known_keys(&scratch, header);
        expected.sort();
        named.sort();
        assert_eq!(named, expected, "the example's {section} keys and the configuration's");
    }
}
