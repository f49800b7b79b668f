//! The JSON Schema that `wharf schema` prints accepts real task files and catches
//! the mistakes an editor should underline.

use serde_json::{Map, Number, Value};
use wharf_spec::schema::json_schema;
use wharf_spec::yaml::{self, Node, NodeKind, Resolved};

/// A mapping key as an editor's YAML library (eemeli/yaml, in yaml-language-server)
/// writes a key that is itself a mapping: `{ .Values.t }` for the key of `{{.Values.t}}`.
fn key_text(key: &Node) -> String {
    match &key.kind {
        NodeKind::Scalar(s) => s.value.clone(),
        NodeKind::Map(entries) => {
            let inner: Vec<String> = entries.iter().map(|(k, _)| key_text(k)).collect();
            format!("{{ {} }}", inner.join(", "))
        }
        NodeKind::Seq(_) => "[]".to_string(),
    }
}

/// YAML as an editor's language server sees it: plain JSON values.
fn to_json(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Scalar(s) => match s.resolve() {
            Resolved::Null => Value::Null,
            Resolved::Bool(b) => Value::Bool(b),
            Resolved::Int(i) => Value::Number(i.into()),
            Resolved::Uint(u) => Value::Number(u.into()),
            Resolved::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            Resolved::Str(s) => Value::String(s),
        },
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (key_text(k), to_json(v)))
                .collect::<Map<String, Value>>(),
        ),
    }
}

fn errors(yaml_text: &str) -> Vec<String> {
    let schema = json_schema();
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("the schema is not a valid JSON Schema: {e}"));
    let node = yaml::parse(yaml_text)
        .unwrap_or_else(|e| panic!("test YAML does not parse: {e:?}"))
        .unwrap_or_else(|| panic!("empty test YAML"));
    let instance = to_json(&node);
    validator
        .iter_errors(&instance)
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn accepts_the_examples_that_are_plain_yaml() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for name in [
        "hello-web/acb.yaml",
        "hello-web/release.yaml",
        "parallel/acb.yaml",
    ] {
        let text = std::fs::read_to_string(root.join(name)).unwrap_or_default();
        assert_eq!(errors(&text), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn notify_on_is_a_list_of_success_and_failure() {
    let with = |on: &str| {
        format!(
            "version: v1.1.0\nsteps:\n  - build: -t app .\nnotify:\n  - plugin: webhook-notifier\n    on: {on}\n"
        )
    };
    assert_eq!(errors(&with("[success, failure]")), Vec::<String>::new());
    assert_eq!(errors(&with("[Failure]")), Vec::<String>::new());
    assert_eq!(errors(&with("[sucess]")).len(), 1, "a misspelt value");
}

#[test]
fn accepts_every_property() {
    let text = r#"
version: v1.1.0
stepTimeout: 300
workingDirectory: src
env: [A=1]
secrets:
  - {id: pw, keyvault: "https://v.vault.azure.net/secrets/pw", clientID: c1a2b3c4-0000-1111-2222-333344445555}
networks:
  - {name: n, driver: bridge, ipv6: false, skipCreation: false, isDefault: true}
volumes:
  - {name: v, secret: {a.txt: YQ==}}
steps:
  - id: web
    cmd: nginx
    when: ["-"]
    keep: true
    ports: ["8080:80"]
    expose: ["80"]
    timeout: {{.Values.timeout}}
    detach: $yes
    retries: 2
    retryDelay: 1
    retryOnErrors: [refused]
    repeat: 1
    ignoreErrors: false
    privileged: false
    user: "1000"
    network: n
    isolation: default
    entryPoint: /bin/sh
    cpus: 2
    workingDirectory: x
    disableWorkingDirectoryOverride: true
    env: [B=2]
    pull: true
    cmdDownloadRetries: 1
    cmdDownloadRetryDelay: 1
    volumeMounts: [{name: v, mountPath: /v}]
    exitedWith: [0]
    exitedWithout: [1]
  - build: -t app .
    cache: enabled
  - push: [app]
"#;
    assert_eq!(errors(text), Vec::<String>::new());
}

#[test]
fn accepts_what_the_loader_accepts_in_any_case() {
    // ACR compares `cache` and `version` case-insensitively, and passes any isolation.
    let text = "version: V1.1.0\nsteps:\n  - build: -t a .\n    cache: Enabled\n  - build: -t b .\n    cache: DISABLED\n  - cmd: busybox true\n    isolation: anything\n";
    assert_eq!(errors(text), Vec::<String>::new());
    assert_eq!(
        errors(
            "version: 1.0-PREVIEW-1\nsteps:\n  - build: -t a .\n    cache: \"{{.Values.cache}}\"\n"
        ),
        Vec::<String>::new()
    );
    for loaded in [
        "version: V1.1.0\nsteps:\n  - build: -t a .\n    cache: Enabled\n",
        "steps:\n  - cmd: busybox true\n    isolation: anything\n",
    ] {
        let result = wharf_spec::load_task(loaded);
        assert!(
            result.is_ok(),
            "{loaded}: {:?}",
            result.err().map(|f| f.diagnostics)
        );
    }
}

#[test]
fn rejects_typos_wrong_types_and_stepless_actions() {
    assert!(
        !errors("steps:\n  - cmd: x\n    timout: 5\n").is_empty(),
        "unknown key"
    );
    assert!(
        !errors("steps:\n  - cmd: x\n    retries: many\n").is_empty(),
        "wrong type"
    );
    assert!(
        !errors("steps:\n  - id: nothing\n").is_empty(),
        "no cmd, build or push"
    );
    assert!(
        !errors("version: v9\nsteps: []\n").is_empty(),
        "unknown version"
    );
    assert!(
        !errors("steps:\n  - build: x .\n    cache: sometimes\n").is_empty(),
        "cache value"
    );
    assert!(
        !errors("steps:\n  - build: x .\n    cache: enabledx\n").is_empty(),
        "the whole cache value must match"
    );
    assert!(
        !errors("version: v1.1.00\nsteps: []\n").is_empty(),
        "the whole version must match"
    );
    assert!(
        !errors("steps:\n  - cmd: x\n    build: -t a .\n").is_empty(),
        "two kinds in one step"
    );
    // A quoted template renders to a string: ACR (and wharf) refuse it in a number.
    assert!(
        !errors("steps:\n  - cmd: x\n    timeout: \"{{.Values.t}}\"\n").is_empty(),
        "a quoted template in a number"
    );
    assert!(
        !errors("steps:\n  - cmd: x\n    timeout: {a: 1}\n").is_empty(),
        "a mapping that is not a template"
    );
}
