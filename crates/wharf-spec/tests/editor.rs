//! The JSON Schema of `wharf schema` in a real editor's language server
//! (yaml-language-server, pinned in tests/editor/package.json and installed by
//! .ci/run with `npm ci --prefix tests/editor`), driven over LSP as an editor drives
//! it: files as they are written — templates and aliases not yet resolved — must get
//! no false errors, real mistakes must be underlined, and completion and hover must
//! work. In CI a missing server fails the test; elsewhere it is skipped with a reason.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn server_script() -> PathBuf {
    root().join("tests/editor/node_modules/yaml-language-server/bin/yaml-language-server")
}

/// The server, or why there is none.
fn available() -> Result<(), String> {
    if !server_script().exists() {
        return Err("yaml-language-server is not installed (npm ci --prefix tests/editor)".into());
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("node is not installed".into());
    }
    Ok(())
}

macro_rules! require_server {
    () => {
        if let Err(why) = available() {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("this test needs the language server, and CI=true: {why}");
            }
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// One language server session.
struct Lsp {
    child: Child,
    stdin: ChildStdin,
    incoming: mpsc::Receiver<Value>,
    next_id: i64,
    dir: tempfile::TempDir,
}

fn frame(msg: &Value) -> Vec<u8> {
    let body = msg.to_string();
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

impl Lsp {
    fn start() -> Lsp {
        // No leading dot: the server's file globs do not match paths through dot
        // directories (tempfile's default `.tmpXXXX`).
        let dir = tempfile::Builder::new()
            .prefix("wharf-lsp-")
            .tempdir()
            .unwrap_or_else(|e| panic!("{e}"));
        let schema =
            serde_json::to_string_pretty(&wharf_spec::schema::json_schema()).unwrap_or_default();
        std::fs::write(dir.path().join("acb.schema.json"), schema)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut child = Command::new("node")
            .arg(server_script())
            .arg("--stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the language server: {e}"));
        let stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (tx, incoming) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 {
                        return;
                    }
                    let header = header.trim();
                    if header.is_empty() {
                        break;
                    }
                    if let Some(n) = header.strip_prefix("Content-Length:") {
                        length = n.trim().parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.unwrap_or(0)];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                if let Ok(msg) = serde_json::from_slice::<Value>(&body)
                    && tx.send(msg).is_err()
                {
                    return;
                }
            }
        });
        let mut lsp = Lsp {
            child,
            stdin,
            incoming,
            next_id: 1,
            dir,
        };
        let root_uri = lsp.uri("");
        lsp.request(
            "initialize",
            json!({"processId": null, "rootUri": root_uri, "capabilities": {
                "textDocument": {"hover": {"contentFormat": ["markdown"]}, "completion": {}}
            }}),
        );
        lsp.notify("initialized", json!({}));
        let settings = lsp.settings();
        lsp.notify(
            "workspace/didChangeConfiguration",
            json!({"settings": {"yaml": settings}}),
        );
        lsp
    }

    fn uri(&self, name: &str) -> String {
        format!("file://{}/{name}", self.dir.path().display())
    }

    fn settings(&self) -> Value {
        json!({
            "schemas": {self.uri("acb.schema.json"): "*.yaml"},
            "validate": true, "hover": true, "completion": true,
        })
    }

    fn send(&mut self, msg: &Value) {
        self.stdin
            .write_all(&frame(msg))
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("the language server went away: {e}"));
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Waits for a message that `pick` accepts, answering the server's own requests
    /// for settings meanwhile.
    fn wait_for<T>(&mut self, what: &str, mut pick: impl FnMut(&Value) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self
                .incoming
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the language server did not send {what}"));
            if msg["method"] == "workspace/configuration" {
                let settings = self.settings();
                let answer = json!({"jsonrpc": "2.0", "id": msg["id"].clone(),
                    "result": [settings, {}, {}, {}]});
                self.send(&answer);
                continue;
            }
            if let Some(found) = pick(&msg) {
                return found;
            }
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.wait_for(method, |m| {
            (m["id"] == id && m.get("method").is_none()).then(|| m["result"].clone())
        })
    }

    /// Opens `text` as `name` and returns the diagnostics the server publishes for it
    /// as `(line, message)`, lines from 1.
    fn diagnostics(&mut self, name: &str, text: &str) -> Vec<(u64, String)> {
        let uri = self.uri(name);
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}),
        );
        let is_ours = |m: &Value| {
            (m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri)
                .then(|| m["params"]["diagnostics"].clone())
        };
        // The server may publish before it has read the schema, then again: take the
        // last list once it has been quiet for a while.
        let mut list = self.wait_for("diagnostics", is_ours);
        loop {
            match self.incoming.recv_timeout(Duration::from_secs(3)) {
                Ok(m) if m["method"] == "workspace/configuration" => {
                    let settings = self.settings();
                    let answer = json!({"jsonrpc": "2.0", "id": m["id"].clone(),
                        "result": [settings, {}, {}, {}]});
                    self.send(&answer);
                }
                Ok(m) => {
                    if let Some(newer) = is_ours(&m) {
                        list = newer;
                    }
                }
                Err(_) => break,
            }
        }
        list.as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                (
                    d["range"]["start"]["line"].as_u64().unwrap_or(0) + 1,
                    d["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    fn at(&mut self, method: &str, name: &str, line: u64, character: u64) -> Value {
        let uri = self.uri(name);
        self.request(
            method,
            json!({"textDocument": {"uri": uri}, "position": {"line": line - 1, "character": character}}),
        )
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn files_as_written_get_no_false_errors() {
    require_server!();
    let mut lsp = Lsp::start();
    let examples = root().join("examples");
    // (examples/templates builds its steps with template control structures: it is
    // not YAML until rendered, for any schema.)
    for example in [
        "hello-web/acb.yaml",
        "hello-web/release.yaml",
        "parallel/acb.yaml",
    ] {
        let text = std::fs::read_to_string(examples.join(example))
            .unwrap_or_else(|e| panic!("examples/{example}: {e}"));
        let found = lsp.diagnostics(&example.replace('/', "-"), &text);
        assert_eq!(found, Vec::new(), "examples/{example}");
    }
    // What real task files do and ACR accepts: unquoted templates in numbers and
    // booleans, aliases, templated strings and lists, empty values.
    let written = "version: v1.1.0\nalias:\n  values:\n    yes: \"true\"\nstepTimeout: {{.Values.timeout}}\nsteps:\n  - id: build\n    build: -t $Registry/app:$ID {{.Values.context}}\n    cache: {{.Values.cache}}\n  - cmd: \"{{.Values.image}} run\"\n    timeout: {{.Values.t | default 60}}\n    detach: $yes\n    retries: $retries\n    when: [\"-\"]\n    ports: [\"{{.Values.port}}:80\"]\n    cpus:\n";
    assert_eq!(lsp.diagnostics("written.yaml", written), Vec::new());
}

#[test]
fn mistakes_are_underlined_where_they_are() {
    require_server!();
    let mut lsp = Lsp::start();
    let text = "steps:\n  - cmd: busybox true\n    build: -t a .\n  - cmd: busybox\n    timout: 5\n  - cmd: busybox\n    timeout: \"{{.Values.t}}\"\n  - build: -t b .\n    cache: sometimes\n";
    let found = lsp.diagnostics("bad.yaml", text);
    let lines: Vec<u64> = found.iter().map(|(l, _)| *l).collect();
    assert!(lines.contains(&2), "a step with cmd and build: {found:?}");
    assert!(lines.contains(&5), "a misspelt key: {found:?}");
    assert!(
        lines.contains(&7),
        "a quoted template is a string, which a number refuses: {found:?}"
    );
    assert!(lines.contains(&9), "an unknown cache value: {found:?}");
}

#[test]
fn completion_offers_values_and_hover_names_the_key_once() {
    require_server!();
    let mut lsp = Lsp::start();
    let text = "steps:\n  - build: -t b .\n    cache: \n";
    lsp.diagnostics("complete.yaml", text);
    let items = lsp.at("textDocument/completion", "complete.yaml", 3, 11);
    let labels: Vec<&str> = items["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["label"].as_str())
        .collect();
    assert!(
        labels.contains(&"enabled") && labels.contains(&"disabled"),
        "{labels:?}"
    );
    lsp.diagnostics(
        "hover.yaml",
        "steps:\n  - build: -t b .\n    cache: enabled\n    timeout: 30\n",
    );
    let timeout = lsp.at("textDocument/hover", "hover.yaml", 4, 6);
    let shown = timeout["contents"]["value"].as_str().unwrap_or_default();
    assert!(shown.starts_with("#### timeout\n"), "{shown}");
    let hover = lsp.at("textDocument/hover", "hover.yaml", 3, 6);
    let shown = hover["contents"]["value"].as_str().unwrap_or_default();
    assert!(shown.starts_with("#### cache\n"), "{shown}");
    assert_eq!(shown.matches("####").count(), 1, "{shown}");
    assert!(shown.contains("registry build cache"), "{shown}");
}
