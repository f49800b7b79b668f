//! The JavaScript SDK's TypeScript declarations (`plugins/sdk-js/*.d.ts`): a tagger,
//! a scanner and a notifier written in TypeScript (`types/*.ts`), the JS templates
//! of `cargo xtask new-plugin --lang js` and the contract suite's JS guests all
//! type-check against them with `tsc --strict` (TypeScript from the pinned JS
//! toolchain); the mistakes in `types/mistakes.ts` are each caught on their line;
//! and every export of the SDK's modules is declared.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    wharf_e2e::plugins::workspace_root()
}

fn sdk() -> PathBuf {
    root().join("plugins/sdk-js")
}

/// `tsc --strict` over `files` with `@wharf/plugin-sdk` resolving to the SDK's
/// declarations: its exit status and output. `javascript`: the files are plain
/// JavaScript, whose parameters carry no types (so implicit `any` is no error; every
/// call into the SDK is still checked).
fn tsc(files: &[PathBuf], javascript: bool) -> (bool, String) {
    let tool = wharf_e2e::plugin_langs::js_toolchain().expect("the JavaScript toolchain");
    let tsc = tool.with_file_name("tsc");
    let dir = tempfile::tempdir().expect("tempdir");
    let sdk = sdk();
    let config = serde_json::json!({
        "compilerOptions": {
            "strict": true,
            "noImplicitAny": !javascript,
            "noEmit": true,
            "target": "es2022",
            // `console` (which the SDK routes to the step's log) is typed by dom.
            "lib": ["es2022", "esnext.disposable", "dom"],
            "module": "esnext",
            "moduleResolution": "bundler",
            "allowJs": true,
            "checkJs": true,
            "types": [],
            "paths": {
                "@wharf/plugin-sdk": [sdk.join("index.d.ts")],
                "@wharf/plugin-sdk/*": [sdk.join("*.d.ts")],
            },
        },
        "files": files,
    });
    let tsconfig = dir.path().join("tsconfig.json");
    std::fs::write(&tsconfig, config.to_string()).expect("tsconfig");
    let out = Command::new(&tsc)
        .arg("-p")
        .arg(&tsconfig)
        .arg("--pretty")
        .arg("false")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tsc.display()));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn in_dir(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    files
}

#[test]
fn plugins_written_against_the_sdk_type_check() {
    let types = root().join("tests/plugin-contract/types");
    let typed: Vec<PathBuf> = ["tagger.ts", "scanner.ts", "notifier.ts"]
        .iter()
        .map(|f| types.join(f))
        .collect();
    let (ok, text) = tsc(&typed, false);
    assert!(ok, "tsc found errors in the TypeScript plugins:\n{text}");
    let mut js = in_dir(&sdk().join("templates"), "js");
    for world in ["tagger", "scanner", "notifier"] {
        js.push(root().join(format!("tests/plugin-contract/guests/js/{world}/app.js")));
    }
    let (ok, text) = tsc(&js, true);
    assert!(ok, "tsc found errors in the JavaScript plugins:\n{text}");
}

#[test]
fn the_declarations_catch_each_mistake_on_its_line() {
    let file = root().join("tests/plugin-contract/types/mistakes.ts");
    let source = std::fs::read_to_string(&file).expect("mistakes.ts");
    let marked: BTreeSet<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("// error:"))
        .map(|(i, _)| i + 1)
        .collect();
    assert!(marked.len() >= 4, "{marked:?}");
    let (ok, text) = tsc(std::slice::from_ref(&file), false);
    assert!(!ok, "tsc accepted the mistakes:\n{text}");
    // `…/mistakes.ts(LINE,COL): error TS…`
    let found: BTreeSet<usize> = text
        .lines()
        .filter_map(|l| {
            let rest = l.split("mistakes.ts(").nth(1)?;
            rest.split(',').next()?.parse().ok()
        })
        .collect();
    assert_eq!(found, marked, "errors on other lines than marked:\n{text}");
}

#[test]
fn every_export_of_the_sdk_is_declared() {
    for module in ["index", "image", "http"] {
        let js = std::fs::read_to_string(sdk().join(format!("{module}.js"))).expect("js");
        let dts = std::fs::read_to_string(sdk().join(format!("{module}.d.ts"))).expect("d.ts");
        let names = |text: &str, prefix: &str| -> BTreeSet<String> {
            text.lines()
                .filter_map(|l| l.strip_prefix(prefix))
                .filter_map(|l| {
                    let l = ["const ", "function ", "class "]
                        .iter()
                        .find_map(|k| l.strip_prefix(k))?;
                    let name: String = l
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    (!name.is_empty()).then_some(name)
                })
                .collect()
        };
        let exported = names(&js, "export ");
        let declared = names(&dts, "export declare ");
        assert!(!exported.is_empty(), "{module}.js exports nothing?");
        assert_eq!(
            exported, declared,
            "{module}.js exports and {module}.d.ts declares different names"
        );
    }
    let package: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sdk().join("package.json")).expect("package.json"),
    )
    .expect("json");
    for (path, entry) in package["exports"].as_object().expect("exports") {
        let types = entry["types"].as_str().unwrap_or_default();
        assert!(
            sdk().join(types).is_file(),
            "package.json export {path}: no declarations at {types:?}"
        );
    }
    assert!(
        sdk()
            .join(package["types"].as_str().unwrap_or_default())
            .is_file()
    );
}
