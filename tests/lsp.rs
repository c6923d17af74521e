//! `yingji lsp` (issue 19) as an editor speaks to it: a client in this test
//! spawns the server and talks JSON-RPC with `Content-Length` framing over
//! its standard input and output — initialize, didOpen with errors,
//! publishDiagnostics (UTF-16 ranges on Chinese text), hover, definition,
//! completion, documentSymbol, formatting, malformed messages, shutdown and
//! exit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

struct Client {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Value>,
    /// Notifications received while waiting for responses.
    notes: Vec<Value>,
}

fn read_message(r: &mut impl BufRead) -> Option<Value> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            len = v.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; len?];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

impl Client {
    fn start(root: &Path) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_yingji"))
            .arg("lsp")
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn yingji lsp");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            while let Some(m) = read_message(&mut stdout) {
                if tx.send(m).is_err() {
                    break;
                }
            }
        });
        Client {
            child,
            stdin,
            rx,
            notes: Vec::new(),
        }
    }

    fn send_raw(&mut self, body: &str) {
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn send(&mut self, v: &Value) {
        self.send_raw(&v.to_string());
    }

    fn recv(&mut self) -> Value {
        self.rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server answers within 60 s")
    }

    /// The response to request `id` (notifications meanwhile are kept).
    fn request(&mut self, id: i64, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.response(&json!(id))
    }

    fn response(&mut self, id: &Value) -> Value {
        loop {
            let m = self.recv();
            if m.get("id") == Some(id) && m.get("method").is_none() {
                return m;
            }
            self.notes.push(m);
        }
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        loop {
            if let Some(i) = self.notes.iter().position(|n| {
                n["method"] == "textDocument/publishDiagnostics" && n["params"]["uri"] == uri
            }) {
                let n = self.notes.remove(i);
                return n["params"]["diagnostics"].as_array().unwrap().clone();
            }
            let m = self.recv();
            self.notes.push(m);
        }
    }
}

/// A file URI as servers and editors write it (non-ASCII bytes percent-encoded).
fn uri(p: &Path) -> String {
    let mut s = String::from("file://");
    for b in p.display().to_string().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// An LSP position (UTF-16 columns) of the `nth` occurrence of `needle`.
fn pos(text: &str, needle: &str, nth: usize) -> Value {
    let at = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("`{needle}` not in the text"))
        .0;
    let before = &text[..at];
    let line = before.matches('\n').count();
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    json!({"line": line, "character": before[start..].encode_utf16().count()})
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn workspace(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("yingji-lsp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("plans")).unwrap();
    for f in ["rainstorm.yj", "river.yj", "landslide.yj"] {
        std::fs::copy(root().join("policies").join(f), dir.join(f)).unwrap();
    }
    for f in [
        "flood.yaml",
        "roster.yaml",
        "responsibility.yaml",
        "geohazard.yaml",
        "consultation.yaml",
    ] {
        std::fs::copy(root().join("plans").join(f), dir.join("plans").join(f)).unwrap();
    }
    dir
}

fn hover_text(r: &Value) -> String {
    r["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("no hover: {r}"))
        .to_string()
}

#[test]
fn an_editor_session() {
    let dir = workspace("session");
    let mut c = Client::start(&dir);

    // before initialize: refused, and the server goes on
    let r = c.request(1, "textDocument/hover", json!({}));
    assert_eq!(r["error"]["code"], -32002, "{r}");

    let r = c.request(
        2,
        "initialize",
        json!({"processId": null, "rootUri": uri(&dir), "capabilities": {}}),
    );
    let caps = &r["result"]["capabilities"];
    for cap in [
        "hoverProvider",
        "definitionProvider",
        "completionProvider",
        "documentSymbolProvider",
        "documentFormattingProvider",
    ] {
        assert!(!caps[cap].is_null(), "{cap} missing: {r}");
    }
    c.notify("initialized", json!({}));

    // a new file with an unknown field after Chinese names
    let bad_path = dir.join("新.yj");
    let bad_uri = uri(&bad_path);
    let bad = "signal 坏信号 {\n  from rain\n  key 站点编号\n  level red when mm >= 1\n}\n";
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": bad_uri, "languageId": "yingji", "version": 1, "text": bad}}),
    );
    let ds = c.diagnostics(&bad_uri);
    let d = ds
        .iter()
        .find(|d| d["code"] == "E0101")
        .unwrap_or_else(|| panic!("no E0101 in {ds:?}"));
    assert_eq!(d["severity"], 1);
    assert_eq!(
        d["range"],
        json!({"start": {"line": 2, "character": 6}, "end": {"line": 2, "character": 10}}),
        "UTF-16 columns of `站点编号`"
    );
    assert!(d["message"].as_str().unwrap().contains("站点编号"), "{d}");

    // fixed as the author types: the diagnostics go away
    let good = bad.replace("站点编号", "station");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": bad_uri, "version": 2}, "contentChanges": [{"text": good}]}),
    );
    assert_eq!(c.diagnostics(&bad_uri), Vec::<Value>::new());

    // hover: a signal's levels and thresholds
    let rain = std::fs::read_to_string(dir.join("rainstorm.yj")).unwrap();
    let rain_uri = uri(&dir.join("rainstorm.yj"));
    let at = |text: &str, needle: &str, nth: usize, u: &str| json!({"textDocument": {"uri": u}, "position": pos(text, needle, nth)});
    let h = hover_text(&c.request(
        10,
        "textDocument/hover",
        at(&rain, "暴雨预警 {", 0, &rain_uri),
    ));
    assert!(h.contains("signal 暴雨预警"), "{h}");
    assert!(h.contains("| red | `r3 >= 100`"), "{h}");
    assert!(h.contains("| blue | `r12 >= 50`"), "{h}");
    // a field's type
    let h = hover_text(&c.request(
        11,
        "textDocument/hover",
        at(&rain, "mm: number", 0, &rain_uri),
    ));
    assert!(h.contains("field `mm`: **number**"), "{h}");
    // a built-in's signature
    let h = hover_text(&c.request(
        12,
        "textDocument/hover",
        at(&rain, "sum(mm, 3h)", 0, &rain_uri),
    ));
    assert!(h.contains("sum(x, D) -> number"), "{h}");
    // a table row
    let river = std::fs::read_to_string(dir.join("river.yj")).unwrap();
    let river_uri = uri(&dir.join("river.yj"));
    let h = hover_text(&c.request(
        13,
        "textDocument/hover",
        at(&river, "YY-H01\": {", 0, &river_uri),
    ));
    assert!(h.contains("row `YY-H01` of table `水文站`"), "{h}");
    assert!(h.contains("警戒水位: 175.0"), "{h}");
    // a roster role's people
    let flood = std::fs::read_to_string(dir.join("plans/flood.yaml")).unwrap();
    let flood_uri = uri(&dir.join("plans/flood.yaml"));
    let h = hover_text(&c.request(
        14,
        "textDocument/hover",
        at(&flood, "乡镇主要负责人", 0, &flood_uri),
    ));
    assert!(h.contains("role **乡镇主要负责人**"), "{h}");
    assert!(h.contains("双江街道主任（示例） (SJ01, 双江街道)"), "{h}");
    // nothing under the cursor, or past the end of the file: null, no error
    let r = c.request(
        15,
        "textDocument/hover",
        json!({"textDocument": {"uri": rain_uri}, "position": {"line": 999, "character": 3}}),
    );
    assert!(r["result"].is_null() && r["error"].is_null(), "{r}");

    // go to definition: a `let`, a table, a step
    let r = c.request(
        20,
        "textDocument/definition",
        at(&rain, "r3  >= 100", 0, &rain_uri),
    );
    let loc = &r["result"][0];
    assert_eq!(loc["uri"], rain_uri);
    assert_eq!(loc["range"]["start"], pos(&rain, "r3  = sum", 0), "{r}");
    let r = c.request(
        21,
        "textDocument/definition",
        at(&river, "水文站.警戒水位", 0, &river_uri),
    );
    assert_eq!(
        r["result"][0]["range"]["start"],
        pos(&river, "水文站 {", 0),
        "{r}"
    );
    let r = c.request(
        22,
        "textDocument/definition",
        at(&flood, "研判\n", 1, &flood_uri),
    );
    assert_eq!(
        r["result"][0]["range"]["start"],
        pos(&flood, "研判", 0),
        "{r}"
    );
    // a signal named in a plan: its definition in the policy
    let r = c.request(
        23,
        "textDocument/definition",
        at(&flood, "暴雨预警", 1, &flood_uri),
    );
    assert_eq!(r["result"][0]["uri"], rain_uri, "{r}");

    // a script function: its signature, and its definition
    let land = std::fs::read_to_string(dir.join("landslide.yj")).unwrap();
    let land_uri = uri(&dir.join("landslide.yj"));
    let h = hover_text(&c.request(
        26,
        "textDocument/hover",
        at(&land, "tangent_angle(速率", 0, &land_uri),
    ));
    assert!(
        h.contains("fn tangent_angle(v: number, v0: number) -> number"),
        "{h}"
    );
    let r = c.request(
        27,
        "textDocument/definition",
        at(&land, "tangent_angle(速率", 0, &land_uri),
    );
    assert_eq!(
        r["result"][0]["range"]["start"],
        pos(&land, "tangent_angle(v:", 0),
        "{r}"
    );
    // a chain and a roster role
    let r = c.request(
        24,
        "textDocument/definition",
        at(&flood, "防汛叫应", 0, &flood_uri),
    );
    assert_eq!(r["result"][0]["uri"], flood_uri, "{r}");
    assert_eq!(
        r["result"][0]["range"]["start"],
        pos(&flood, "防汛叫应:\n", 0),
        "{r}"
    );
    let roster = std::fs::read_to_string(dir.join("plans/roster.yaml")).unwrap();
    let r = c.request(
        25,
        "textDocument/definition",
        at(&flood, "乡镇主要负责人", 0, &flood_uri),
    );
    assert_eq!(
        r["result"][0]["uri"],
        uri(&dir.join("plans/roster.yaml")),
        "{r}"
    );
    assert_eq!(
        r["result"][0]["range"]["start"],
        pos(&roster, "乡镇主要负责人", 0),
        "{r}"
    );

    // completion inside a signal: its fields and lets, functions, levels
    let r = c.request(
        30,
        "textDocument/completion",
        at(&rain, "  level red", 0, &rain_uri),
    );
    let labels: Vec<&str> = r["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    for want in [
        "mm",
        "station",
        "r3",
        "sum",
        "rate",
        "red",
        "橙色",
        "水文站.警戒水位",
    ] {
        assert!(labels.contains(&want), "{want} not offered: {labels:?}");
    }
    let first = r["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "mm")
        .unwrap();
    assert_eq!(first["sortText"], "0mm", "fields in scope first");
    // in a plan: step ids and roles
    let r = c.request(
        31,
        "textDocument/completion",
        at(&flood, "next: 研判", 0, &flood_uri),
    );
    let labels: Vec<&str> = r["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    for want in ["研判", "叫应", "乡镇主要负责人", "防汛叫应"] {
        assert!(labels.contains(&want), "{want} not offered: {labels:?}");
    }

    // document symbols
    let r = c.request(
        40,
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": river_uri}}),
    );
    let syms = r["result"].as_array().unwrap();
    let names: Vec<&str> = syms.iter().map(|s| s["name"].as_str().unwrap()).collect();
    for want in [
        "river_level",
        "水文站",
        "YY-H01",
        "水位预警",
        "red",
        "设备失联",
    ] {
        assert!(names.contains(&want), "{want} missing: {names:?}");
    }
    let sig = syms.iter().find(|s| s["name"] == "水位预警").unwrap();
    assert_eq!(
        sig["location"]["range"]["start"],
        pos(&river, "水位预警 {", 0)
    );

    // formatting: one edit with the formatter's text
    let ugly = "event rain {station:string,mm:number}\nsignal 坏信号 {\nfrom rain\nkey station\nlevel red when mm>=1\n  level 橙色 when mm >= 0.5\n}\n";
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": bad_uri, "version": 3}, "contentChanges": [{"text": ugly}]}),
    );
    let r = c.request(
        50,
        "textDocument/formatting",
        json!({"textDocument": {"uri": bad_uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let edits = r["result"].as_array().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(edits.len(), 1, "{r}");
    assert_eq!(
        edits[0]["newText"],
        yingji_dsl::fmt::format_yj(0, ugly).unwrap().as_str()
    );
    assert!(
        edits[0]["newText"]
            .as_str()
            .unwrap()
            .contains("  level red  when mm >= 1\n  level 橙色 when mm >= 0.5\n")
    );

    // malformed messages: answered, and the server goes on
    c.send_raw("{ this is not json");
    let r = c.response(&Value::Null);
    assert_eq!(r["error"]["code"], -32700, "{r}");
    let r = c.request(60, "textDocument/hover", json!({"textDocument": 5}));
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = c.request(61, "yingji/noSuchMethod", json!({}));
    assert_eq!(r["error"]["code"], -32601, "{r}");
    // a document that vanished from disk mid-session
    let r = c.request(62, "textDocument/definition", json!({"textDocument": {"uri": uri(&dir.join("gone.yj"))}, "position": {"line": 0, "character": 0}}));
    assert!(r["error"].is_null(), "{r}");
    // still alive
    let h = hover_text(&c.request(
        63,
        "textDocument/hover",
        at(&rain, "暴雨预警 {", 0, &rain_uri),
    ));
    assert!(h.contains("暴雨预警"));

    let r = c.request(70, "shutdown", Value::Null);
    assert!(r["result"].is_null() && r["error"].is_null(), "{r}");
    c.notify("exit", Value::Null);
    let status = c.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exit_without_shutdown_is_an_error_exit() {
    let dir = std::env::temp_dir();
    let mut c = Client::start(&dir);
    c.notify("exit", Value::Null);
    assert_eq!(c.child.wait().unwrap().code(), Some(1));
}

/// Random positions, requests and half-typed documents: every request gets
/// an answer (a result, or a JSON-RPC error with a code), the server never
/// stops, and it still shuts down cleanly.
#[test]
fn random_requests_on_half_typed_documents_are_all_answered() {
    let dir = workspace("random");
    let mut c = Client::start(&dir);
    c.request(
        1,
        "initialize",
        json!({"processId": null, "rootUri": uri(&dir), "capabilities": {}}),
    );
    c.notify("initialized", json!({}));
    let mut seed: u64 = 0x5eed_1234;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n.max(1)
    };
    let files = [
        "rainstorm.yj",
        "river.yj",
        "plans/flood.yaml",
        "plans/roster.yaml",
    ];
    let methods = [
        "textDocument/hover",
        "textDocument/definition",
        "textDocument/completion",
        "textDocument/documentSymbol",
        "textDocument/formatting",
    ];
    let mut id = 100;
    for (version, f) in files.iter().enumerate() {
        let path = dir.join(f);
        let u = uri(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        c.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": u, "languageId": "yingji", "version": 1, "text": text}}),
        );
        for round in 0..40 {
            if round % 8 == 7 {
                // the author is typing: the document is cut anywhere (mid-character too)
                let cut = next(text.len() as u64 + 1) as usize;
                let cut = (0..=cut).rev().find(|&i| text.is_char_boundary(i)).unwrap();
                c.notify(
                    "textDocument/didChange",
                    json!({"textDocument": {"uri": u, "version": version * 100 + round}, "contentChanges": [{"text": &text[..cut]}]}),
                );
            }
            let lines = text.lines().count() as u64;
            let m = methods[next(methods.len() as u64) as usize];
            let params = json!({
                "textDocument": {"uri": u},
                "position": {"line": next(lines + 3), "character": next(90)},
                "options": {"tabSize": 2, "insertSpaces": true}
            });
            id += 1;
            let r = c.request(id, m, params);
            assert!(
                r.get("result").is_some() || r["error"]["code"].is_i64(),
                "{m}: {r}"
            );
        }
    }
    let r = c.request(9999, "shutdown", Value::Null);
    assert!(r["error"].is_null(), "{r}");
    c.notify("exit", Value::Null);
    assert_eq!(c.child.wait().unwrap().code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
