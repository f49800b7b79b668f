//! Property-based fuzzing of the loader: whatever the text, loading never panics,
//! and every problem it reports points inside the file it names.
//!
//! `cargo xtask fuzz --seconds N` runs these with many more cases.

use std::collections::BTreeMap;

use proptest::prelude::*;
use wharf_spec::{Files, LoadOptions, Secret, SecretFailure, load};

struct NoFiles;

impl Files for NoFiles {
    fn read(&self, _path: &str) -> Result<String, String> {
        Err("no files in fuzzing".into())
    }
}

/// Options as the CLI gives them: a run id and a registry are always set.
fn options() -> LoadOptions {
    let mut options = LoadOptions::default();
    options.run.id = "r1".into();
    options.run.registry = "example.azurecr.io".into();
    options
}

fn any_secrets(decls: &[Secret]) -> Result<BTreeMap<String, String>, SecretFailure> {
    Ok(decls.iter().map(|d| (d.id.clone(), "v".into())).collect())
}

/// Loads `text` and checks the invariants that must hold for any input.
fn check(text: &str) -> Result<(), TestCaseError> {
    let options = options();
    let (diags, sources) = match load("acb.yaml", text, &options, &NoFiles, &mut any_secrets) {
        Ok(loaded) => {
            for step in &loaded.task.steps {
                for dep in &step.depends_on {
                    prop_assert!(
                        loaded.task.step(dep).is_some(),
                        "dependency {dep} is not a step"
                    );
                }
            }
            (loaded.warnings, loaded.sources)
        }
        Err(failure) => {
            prop_assert!(
                failure.diagnostics.has_errors(),
                "a failure must carry an error"
            );
            (failure.diagnostics, failure.sources)
        }
    };
    for d in &diags {
        if let Some(loc) = d.location {
            let len = sources.get(loc.file).text().len();
            prop_assert!(
                loc.span.start <= loc.span.end && loc.span.end <= len,
                "{} points outside its file ({:?}, length {len})",
                d.code,
                loc.span
            );
        }
        prop_assert!(!d.message.is_empty());
    }
    Ok(())
}

const SEEDS: &[&str] = &[
    "version: v1.1.0\nalias:\n  values:\n    img: busybox\n  src: []\nsteps:\n  - id: a\n    cmd: $img echo $ID {{.Values.x}}\n    env: [A=1]\n  - id: b\n    build: -t $Registry/app:$ID --build-arg X=1 .\n    when: [a]\n  - push: [\"app\"]\n    when: [\"-\"]\n",
    "stepTimeout: 5\nenv: [A=1,B=2]\nsecrets:\n  - id: s\n    keyvault: https://v.vault.azure.net/secrets/s\nvolumes:\n  - name: v\n    secret:\n      f: YQ==\nnetworks:\n  - name: n\n    isDefault: true\nsteps:\n  - cmd: busybox echo {{.Secrets.s}}\n    volumeMounts:\n      - name: v\n        mountPath: /v\n",
    "steps:\n{{- range $i, $e := list 1 2 3}}\n  - id: s{{$i}}\n    cmd: busybox echo {{$e | quote}}\n{{- end}}\n",
];

/// Fragments that tend to reach deep into the passes when spliced in.
const FRAGMENTS: &[&str] = &[
    "{{",
    "}}",
    "{{.Values.a.b}}",
    "{{ end }}",
    "{{range .}}",
    "{{-",
    "-}}",
    "$",
    "$$",
    "$ID",
    "$Registry",
    "alias:\n",
    "version: v1.1.0\n",
    "\n",
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "#",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!str ",
    "---\n",
    "when: [\"-\"]",
    "id: x\n",
    "  ",
    "\t",
    "é",
    "🐳",
    "\r\n",
    "|\n",
    ">-\n",
    "~",
    "0x1F",
    "yes",
];

fn mutated() -> impl Strategy<Value = String> {
    (
        0..SEEDS.len(),
        prop::collection::vec(
            (any::<prop::sample::Index>(), 0..FRAGMENTS.len(), 0u8..3),
            0..8,
        ),
    )
        .prop_map(|(seed, edits)| {
            let mut text = SEEDS[seed].to_string();
            for (at, fragment, op) in edits {
                let mut pos = at.index(text.len() + 1);
                while !text.is_char_boundary(pos) {
                    pos -= 1;
                }
                match op {
                    0 => text.insert_str(pos, FRAGMENTS[fragment]),
                    1 => {
                        let mut end = (pos + FRAGMENTS[fragment].len()).min(text.len());
                        while !text.is_char_boundary(end) {
                            end -= 1;
                        }
                        text.replace_range(pos..end, "");
                    }
                    _ => {
                        let mut end = (pos + 1).min(text.len());
                        while !text.is_char_boundary(end) {
                            end += 1;
                        }
                        text.replace_range(pos..end, FRAGMENTS[fragment]);
                    }
                }
            }
            text
        })
}

/// Documents that chain anchors: each anchor nests brackets around references to
/// the previous one (`a1: &a1 [[*a0, *a0]]`), so aliases multiply both the depth
/// and the size of the tree; the last anchor is used at some depth, possibly
/// through a merge key.
fn chained_anchors() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((1usize..250, 1usize..4), 1..80),
        0usize..250,
        any::<bool>(),
    )
        .prop_map(|(links, use_depth, merge)| {
            let mut text = String::from("a0: &a0 x\n");
            for (i, (depth, refs)) in links.iter().enumerate() {
                let n = i + 1;
                let inner = vec![format!("*a{i}"); *refs].join(", ");
                text.push_str(&format!(
                    "a{n}: &a{n} {}{inner}{}\n",
                    "[".repeat(*depth),
                    "]".repeat(*depth)
                ));
            }
            let last = links.len();
            if merge {
                text.push_str(&format!("m: &m {{k: *a{last}}}\nuse:\n  <<: *m\n"));
            } else {
                text.push_str(&format!(
                    "use: {}*a{last}{}\n",
                    "[".repeat(use_depth),
                    "]".repeat(use_depth)
                ));
            }
            text.push_str("steps:\n  - cmd: busybox true\n");
            text
        })
}

proptest! {
    #[test]
    fn chained_anchors_never_panic(text in chained_anchors()) {
        check(&text)?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        check(&text)?;
    }

    #[test]
    fn yamlish_text_never_panics(text in "([a-z{}\\[\\]:$#\\-\\. \n\"'|>]|version|steps|cmd|when|alias|values|\\{\\{\\.Values\\.x\\}\\}){0,120}") {
        check(&text)?;
    }

    #[test]
    fn mutated_valid_files_never_panic(text in mutated()) {
        check(&text)?;
    }
}

/// The file that overflowed the stack: 200 anchors, each nesting the previous one
/// 200 levels deeper. It is refused with a located error.
#[test]
fn chained_anchor_file_is_refused() {
    let mut text = String::from("a0: &a0 x\n");
    for i in 1..200 {
        text.push_str(&format!(
            "a{i}: &a{i} {}*a{}{}\n",
            "[".repeat(200),
            i - 1,
            "]".repeat(200)
        ));
    }
    text.push_str("steps:\n  - cmd: busybox true\n");
    let result = load("acb.yaml", &text, &options(), &NoFiles, &mut any_secrets);
    let Err(failure) = result else {
        panic!("a 40 000-level document loaded")
    };
    let first = failure
        .diagnostics
        .iter()
        .next()
        .map(|d| d.short(&failure.sources));
    assert_eq!(
        first.as_deref(),
        Some("acb.yaml:4:209: error[yaml]: this alias nests the document deeper than 512 levels")
    );
}

#[test]
fn seeds_are_valid() {
    for seed in SEEDS {
        let options = options();
        let result = load("acb.yaml", seed, &options, &NoFiles, &mut any_secrets);
        assert!(
            result.is_ok(),
            "seed should load: {seed}\n{:?}",
            result.err().map(|f| f.diagnostics)
        );
    }
}
