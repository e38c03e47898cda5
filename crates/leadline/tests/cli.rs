//! The `leadline` binary as an operator uses it: keys, apply, and a first `serve` whose printed
//! curl line works.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};

mod common;

use common::{startup_lines, Scratch};

fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("cli-{name}"))
}

impl Scratch {
    fn url(&self) -> String {
        format!("sqlite://{}", self.0.join("cli.db").display())
    }

    fn leadline(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_leadline"))
            .args(args)
            .args(["--database-url", &self.url()])
            .current_dir(&self.0)
            .env_remove("LEADLINE_DATABASE_URL")
            .env_remove("LEADLINE_LISTEN")
            .output()
            .unwrap()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn keys_are_created_listed_and_revoked_and_the_secret_is_the_last_line() {
    let scratch = scratch("keys");
    let created = scratch.leadline(&["keys", "create", "--role", "admin", "--name", "ops", "--expires-in", "90d"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let text = stdout(&created);
    let secret = text.lines().last().unwrap();
    assert!(secret.starts_with("ll_") && secret.len() <= 50, "{text}");
    let listed = stdout(&scratch.leadline(&["keys", "list"]));
    assert!(listed.contains("ops") && listed.contains("expires") && !listed.contains(secret), "{listed}");
    let revoked = scratch.leadline(&["keys", "revoke", "1"]);
    assert!(revoked.status.success());
    assert!(stdout(&scratch.leadline(&["keys", "list"])).contains("revoked"));
    let refused = scratch.leadline(&["keys", "create", "--role", "buyer"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("buyer_id"));
}

#[test]
fn apply_is_idempotent_and_a_bad_file_names_the_place_and_applies_nothing() {
    let scratch = scratch("apply");
    let good = scratch.0.join("catalog.json");
    std::fs::write(&good, r#"{"queues": [{"id": 2, "name": "Q", "kind": "review", "vertical_id": 1}], "verticals": [{"id": 1, "name": "Solar"}]}"#).unwrap();
    let first = scratch.leadline(&["apply", good.to_str().unwrap()]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(stdout(&first).contains("2 created, 0 updated, 0 unchanged"), "{}", stdout(&first));
    let again = scratch.leadline(&["apply", good.to_str().unwrap()]);
    assert!(stdout(&again).contains("0 created, 0 updated, 2 unchanged"), "{}", stdout(&again));

    let bad = scratch.0.join("bad.json");
    std::fs::write(&bad, r#"{"verticals": [{"id": 5, "name": "Loans"}, {"id": 6, "name": ""}]}"#).unwrap();
    let refused = scratch.leadline(&["apply", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("verticals[1].name"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    std::fs::write(&bad, r#"{"verticals": [{"id": 5, "name": "Loans"}]}"#).unwrap();
    assert!(
        stdout(&scratch.leadline(&["apply", bad.to_str().unwrap()])).contains("1 created"),
        "vertical 5 was not written before"
    );
}

#[test]
fn a_first_serve_prints_an_admin_key_whose_curl_line_works() {
    let scratch = scratch("serve");
    let mut server = Command::new(env!("CARGO_BIN_EXE_leadline"))
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--database-url", &scratch.url()])
        .current_dir(&scratch.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    // The server prints its address, the key and the curl lines before it serves.
    let printed = startup_lines(&mut lines);
    let text = printed.join("\n");
    let secret = text.split_whitespace().find(|w| w.starts_with("ll_")).expect("a key is printed").to_string();
    let curl = printed.iter().find(|l| l.contains("/v1/verticals")).expect("a curl line for the verticals");
    let url = curl.split_whitespace().last().unwrap();
    let address = url.trim_start_matches("http://").split('/').next().unwrap();
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /v1/verticals HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {secret}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("\"name\":\"Solar\""), "the demo catalog is loaded: {response}");
}

#[test]
fn import_loads_a_list_writes_its_rejects_and_export_writes_it_back() {
    let scratch = scratch("import");
    std::fs::write(
        scratch.0.join("catalog.json"),
        r#"{"campaign-templates": [{"id": 1, "name": "T", "phone_country": "AU",
              "fields": [{"name": "Mobile", "kind": "phone"}, {"name": "First Name", "kind": "text"}]}],
            "campaigns": [{"id": 1, "template_id": 1, "name": "C"}],
            "allocations": [{"id": 1, "campaign_id": 1, "name": "A", "active": true}],
            "dnc": [{"id": 1, "phone": "0412000003"}]}"#,
    )
    .unwrap();
    assert!(scratch.leadline(&["apply", "catalog.json"]).status.success());
    std::fs::write(
        scratch.0.join("list.csv"),
        "Tel,First Name,Notes\n0412000001,Ann,x\n0412000001,Dup,y\n0412000003,Dnc,z\n",
    )
    .unwrap();
    let dry = scratch.leadline(&[
        "import",
        "list.csv",
        "--campaign",
        "1",
        "--allocation",
        "1",
        "--map",
        "Tel=Mobile",
        "--dry-run",
    ]);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    assert!(
        stdout(&dry).starts_with("dry run (nothing written) import of list.csv: 3 rows read, 1 would load, 2 rejected"),
        "{}",
        stdout(&dry)
    );
    let output =
        scratch.leadline(&["import", "list.csv", "--campaign", "1", "--allocation", "1", "--map", "Tel=Mobile"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let shown = stdout(&output);
    assert!(shown.starts_with("import 1 of list.csv: 3 rows read, 1 loaded, 2 rejected (1 on a do-not-call list, 1 duplicates, 0 invalid)"), "{shown}");
    assert!(shown.contains("columns that fill nothing: Notes"), "{shown}");
    let rejects = std::fs::read_to_string(scratch.0.join("list.rejects.csv")).unwrap();
    assert_eq!(
        rejects,
        "line,reason,row\n3,phone 61412000001 is on an earlier row of this file,\"0412000001,Dup,y\"\n4,phone 61412000003 is on a do-not-call list,\"0412000003,Dnc,z\"\n"
    );
    let again =
        scratch.leadline(&["import", "list.csv", "--campaign", "1", "--allocation", "1", "--map", "Tel=Mobile"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("was already imported"));
    let export = scratch.leadline(&["export", "--campaign", "1"]);
    let text = stdout(&export);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[1].contains(",Ann,,,61412000001,"), "{}", lines[1]);
    std::fs::write(scratch.0.join("bad.csv"), "Mobile,First Name\n0412000009,A,extra\n").unwrap();
    let bad = scratch.leadline(&["import", "bad.csv", "--campaign", "1", "--allocation", "1"]);
    assert!(!bad.status.success());
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim(),
        "leadline: file: line 2: the row has 3 fields but the header has 2"
    );
}

#[test]
fn an_outbound_allowance_that_is_not_a_range_stops_the_start_and_is_named() {
    let scratch = scratch("outbound");
    std::fs::write(scratch.0.join("leadline.toml"), "outbound_allow_private = [\"10.0.0.0/8\", \"10.0.0.1/8\"]\n")
        .unwrap();
    let refused = scratch.leadline(&["keys", "list"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("outbound_allow_private") && stderr.contains("`10.0.0.1/8`"), "{stderr}");
    std::fs::write(scratch.0.join("leadline.toml"), "outbound_allow_private = [\"10.0.0.0/8\", \"::1\"]\n").unwrap();
    let listed = scratch.leadline(&["keys", "list"]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
}

#[test]
fn formula_safe_export_and_rejects_files_prefix_cells_a_spreadsheet_would_evaluate() {
    let scratch = scratch("formula");
    std::fs::write(
        scratch.0.join("catalog.json"),
        r#"{"campaign-templates": [{"id": 1, "name": "T", "phone_country": "AU",
              "fields": [{"name": "Mobile", "kind": "phone"}, {"name": "First Name", "kind": "text"}]}],
            "campaigns": [{"id": 1, "template_id": 1, "name": "C"}],
            "allocations": [{"id": 1, "campaign_id": 1, "name": "A", "active": true}]}"#,
    )
    .unwrap();
    assert!(scratch.leadline(&["apply", "catalog.json"]).status.success());
    std::fs::write(scratch.0.join("list.csv"), "First Name,Mobile\n=1+2,0412000001\n@SUM(A1),0412000001\n").unwrap();
    let import = scratch.leadline(&["import", "list.csv", "--campaign", "1", "--allocation", "1", "--formula-safe"]);
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));
    let rejects = std::fs::read_to_string(scratch.0.join("list.rejects.csv")).unwrap();
    assert_eq!(
        rejects,
        "line,reason,row\n3,phone 61412000001 is on an earlier row of this file,\"'@SUM(A1),0412000001\"\n"
    );
    let safe = stdout(&scratch.leadline(&["export", "--campaign", "1", "--formula-safe"]));
    assert!(safe.lines().nth(1).unwrap().contains(",'=1+2,"), "{safe}");
    let plain = stdout(&scratch.leadline(&["export", "--campaign", "1"]));
    assert!(plain.lines().nth(1).unwrap().contains(",=1+2,"), "as stored without the flag: {plain}");
    let ndjson = scratch.leadline(&["export", "--format", "ndjson", "--formula-safe"]);
    assert!(!ndjson.status.success());
    assert!(String::from_utf8_lossy(&ndjson.stderr).contains("--formula-safe applies to CSV"));
}
