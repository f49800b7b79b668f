//! Property tests: hostile input never panics the engine, and text without
//! actions renders to itself with one Text origin.

use proptest::prelude::*;
use wharf_template::{MissingKey, Options, OriginKind, Template, Value};

const FRAGMENTS: &[&str] = &[
    "{{",
    "}}",
    "{{- ",
    " -}}",
    ".a",
    ".a.b",
    "$",
    "$x",
    ":=",
    "=",
    "|",
    " ",
    "\n",
    "(",
    ")",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "\"s\"",
    "`r`",
    "'c'",
    "1",
    "-2",
    "1.5",
    "0x1f",
    "nil",
    "true",
    ".",
    ",",
    "/*",
    "*/",
    "printf",
    "\"%d %s\"",
    "upper",
    "default",
    "index",
    "len",
    "eq",
    "and",
    "or",
    "not",
    "dict",
    "list",
    "toJson",
    "until",
    "repeat",
    "slice",
    "semver",
    "date",
    "now",
    "tpl",
    "x",
];

fn opts() -> Options {
    Options {
        missing_key: MissingKey::Zero,
        ..Options::default()
    }
}

fn data() -> Value {
    Value::from(serde_json::json!({"a": {"b": [1, "two", null]}, "x": "y"}))
}

fn check(src: &str) {
    match Template::parse("fuzz", src) {
        Ok(t) => {
            if let Err(e) = t.execute(&data(), &opts()) {
                assert!(!e.message.contains("panicked"), "{}", e.message);
                assert!(e.span.end <= src.len());
            }
        }
        Err(e) => {
            assert!(!e.message.contains("panicked"), "{}", e.message);
            assert!(e.span.end <= src.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(src in ".{0,80}") {
        check(&src);
    }

    #[test]
    fn token_soup_never_panics(parts in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..40)) {
        check(&parts.concat());
    }

    #[test]
    fn text_without_actions_is_identity(src in "[^{]{0,200}") {
        let t = Template::parse("plain", &src).expect("plain text parses");
        let out = t.execute(&data(), &opts()).expect("plain text executes");
        prop_assert_eq!(&out.text, &src);
        if src.is_empty() {
            prop_assert!(out.origins.is_empty());
        } else {
            prop_assert_eq!(out.origins.len(), 1);
            let o = out.origins[0];
            prop_assert_eq!(o.kind, OriginKind::Text);
            prop_assert_eq!((o.out_start, o.out_len, o.src_start, o.src_len), (0, src.len(), 0, src.len()));
        }
    }
}
