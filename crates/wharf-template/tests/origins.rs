//! The source map: text copied through maps byte-exactly, produced text maps to
//! its action, and `remove_all` keeps both true.

use wharf_template::{ErrorKind, MissingKey, Options, OriginKind, Output, Template, Value};

fn run(src: &str, data: serde_json::Value, mk: MissingKey) -> Output {
    let t = Template::parse("main", src).expect("parse");
    let opts = Options {
        missing_key: mk,
        ..Options::default()
    };
    t.execute(&Value::from(data), &opts).expect("execute")
}

/// Every output byte of a Text origin equals the template byte it maps to.
fn assert_exact(out: &Output, src: &str) {
    let mut at = 0;
    for o in &out.origins {
        assert_eq!(o.out_start, at, "gapless");
        assert!(o.out_len > 0);
        if o.kind == OriginKind::Text {
            assert_eq!(o.out_len, o.src_len);
            assert_eq!(
                &out.text[o.out_start..o.out_start + o.out_len],
                &src[o.src_start..o.src_start + o.src_len]
            );
        } else {
            let action = &src[o.src_start..o.src_start + o.src_len];
            assert!(
                action.starts_with("{{") && action.ends_with("}}"),
                "{action}"
            );
        }
        at += o.out_len;
    }
    assert_eq!(at, out.text.len());
}

#[test]
fn text_after_trim_maps_exactly() {
    let src = "a:  \n{{- .x -}}\n  b: 1\n";
    let out = run(src, serde_json::json!({"x": "VAL"}), MissingKey::Default);
    assert_eq!(out.text, "a:VALb: 1\n");
    assert_exact(&out, src);
    assert_eq!(out.origins.len(), 3);
    let act = out.origins[1];
    assert_eq!(act.kind, OriginKind::Action);
    assert_eq!(
        &src[act.src_start..act.src_start + act.src_len],
        "{{- .x -}}"
    );
    // "b" in the output comes from the "b" in the template.
    let ob = out.text.find("b:").expect("b");
    assert_eq!(out.source_offset(ob), src.find("b:"));
    // every byte of the produced value maps to the action start
    assert_eq!(out.source_offset(2), Some(act.src_start));
    assert_eq!(out.source_offset(4), Some(act.src_start));
}

#[test]
fn range_outputs_map_to_their_actions() {
    let src = "{{range .l}}- {{.}}\n{{end}}";
    let out = run(
        src,
        serde_json::json!({"l": ["x", "yy"]}),
        MissingKey::Default,
    );
    assert_eq!(out.text, "- x\n- yy\n");
    assert_exact(&out, src);
    let dot = src.find("{{.}}").expect("dot");
    let y = out.text.find("yy").expect("yy");
    assert_eq!(out.source_offset(y), Some(dot));
    assert_eq!(out.source_offset(0), Some(src.find("- ").expect("dash")));
}

#[test]
fn remove_all_keeps_mapping() {
    let src = "k: {{.Values.missing}}\nv: {{.Values.x}} end";
    let mut out = run(
        src,
        serde_json::json!({"Values": {"x": "X"}}),
        MissingKey::Zero,
    );
    assert_eq!(out.text, "k: <no value>\nv: X end");
    out.remove_all("<no value>");
    assert_eq!(out.text, "k: \nv: X end");
    assert_exact(&out, src);
    let v = out.text.find("v:").expect("v");
    assert_eq!(out.source_offset(v), src.find("v:"));
    let e = out.text.find("end").expect("end");
    assert_eq!(out.source_offset(e), src.find("end"));
}

#[test]
fn defined_template_text_maps_into_the_define() {
    let src = "{{define \"t\"}}inner {{.}}{{end}}outer {{template \"t\" 1}}";
    let out = run(src, serde_json::json!({}), MissingKey::Default);
    assert_eq!(out.text, "outer inner 1");
    assert_exact(&out, src);
    let i = out.text.find("inner").expect("inner");
    assert_eq!(out.source_offset(i), src.find("inner"));
}

#[test]
fn no_actions_is_one_text_origin() {
    let src = "just: text\n";
    let out = run(src, serde_json::json!({}), MissingKey::Default);
    assert_eq!(out.text, src);
    assert_eq!(out.origins.len(), 1);
    assert_eq!(out.origins[0].src_start, 0);
}

#[test]
fn error_spans_point_at_the_node() {
    let src = "a: 1\nb: {{ .Values.a.b }}\n";
    let t = Template::parse("acb.yaml", src).expect("parse");
    let opts = Options {
        missing_key: MissingKey::Zero,
        ..Options::default()
    };
    let e = t
        .execute(&Value::from(serde_json::json!({"Values": {}})), &opts)
        .expect_err("nil pointer");
    assert_eq!(e.kind, ErrorKind::Exec);
    assert_eq!(&src[e.span.clone()], ".Values.a.b");
    assert_eq!(
        e.message,
        "template: acb.yaml:2:6: executing \"acb.yaml\" at <.Values.a.b>: nil pointer evaluating interface {}.b"
    );

    let e =
        Template::parse("p", "ok\n{{ if .x }}\n{{ nosuch 1 }}{{end}}").expect_err("parse error");
    assert_eq!(e.kind, ErrorKind::Parse);
    assert_eq!(
        &"ok\n{{ if .x }}\n{{ nosuch 1 }}{{end}}"[e.span.clone()],
        "nosuch"
    );
    assert!(
        e.message
            .starts_with("template: p:3:3: function \"nosuch\" not defined"),
        "{}",
        e.message
    );
}

#[test]
fn template_is_reusable_across_threads() {
    let t = std::sync::Arc::new(Template::parse("t", "{{.n}}").expect("parse"));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let t = t.clone();
            std::thread::spawn(move || {
                let out = t
                    .execute(
                        &Value::from(serde_json::json!({"n": i})),
                        &Options::default(),
                    )
                    .expect("exec");
                assert_eq!(out.text, i.to_string());
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
}

#[test]
fn reports_sprig_v3_only_calls() {
    let src = "{{ dig \"a\" \"d\" . }} {{ upper \"x\" }}{{ if (toRawJson .) }}{{ end }}";
    let t = Template::parse("t", src).expect("parse");
    let calls = t.sprig_v3_only_calls();
    let names: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["dig", "toRawJson"]);
    assert_eq!(&src[calls[0].1.clone()], "dig");
}
