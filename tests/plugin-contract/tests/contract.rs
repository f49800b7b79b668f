//! Every case in `cases/` against the Rust, Python and JavaScript guests, through
//! the real host; the import surface of each language's build; and builds without
//! the tools' WASI opt-outs refused before they run.

use std::path::PathBuf;

use wharf_e2e::plugin_langs::BuildOptions;
use wharf_plugin_contract::{Language, cases, guest, run_case, suite_dir};
use wharf_plugin_host::*;

/// The worlds each language's guests are built for: all three, in every language.
/// (A JavaScript notifier is built from a respelt copy of the WIT: componentize-qjs
/// 0.4.5 cannot build the contract's notifier world as it is; see
/// `wharf_e2e::plugin_langs::build`.)
fn worlds(_lang: Language) -> &'static [&'static str] {
    &["tagger", "scanner", "notifier"]
}

/// What a notifier imports beside `wharf:plugin/*`: wasi:http and what its types use.
fn notifier_wasi(import: &str) -> bool {
    [
        "wasi:http/types@",
        "wasi:http/outgoing-handler@",
        "wasi:io/error@",
        "wasi:io/poll@",
        "wasi:io/streams@",
        "wasi:clocks/monotonic-clock@",
    ]
    .iter()
    .any(|p| import.starts_with(p))
}

fn host() -> PluginHost {
    PluginHost::new(HostConfig {
        cache_dir: Some(wharf_e2e::plugins::workspace_root().join("target/plugin-cache-tests")),
        ..HostConfig::default()
    })
    .expect("host")
}

fn built(lang: Language, world: &str, options: BuildOptions) -> PathBuf {
    guest(lang, world, options)
        .unwrap_or_else(|e| panic!("building the {} {world} guest: {e}", lang.as_str()))
}

async fn passes_every_case(lang: Language) {
    let host = host();
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() >= 10, "the suite lost its cases");
    for world in worlds(lang) {
        let bytes = std::fs::read(built(lang, world, BuildOptions::default())).expect("read");
        // The same name for every language, so messages compare equal.
        let plugin = host
            .load(&format!("contract-{world}"), &bytes)
            .expect("load");
        for (name, case) in all.iter().filter(|(_, c)| c.world == *world) {
            if let Err(e) = run_case(&host, &plugin, case).await {
                failures.push(format!("{name} ({}): {e}", case.about));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "the {} guests broke the contract:\n{}",
        lang.as_str(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_rust_guests_pass_every_case() {
    passes_every_case(Language::Rust).await;
}

#[tokio::test]
async fn the_python_guests_pass_every_case() {
    passes_every_case(Language::Python).await;
}

#[tokio::test]
async fn the_js_guests_pass_every_case() {
    passes_every_case(Language::Js).await;
}

/// The imports of each language's build, as `snapshots/<lang>-<world>.txt` records
/// them: a tool upgrade that adds an import (sockets, a newer WASI) fails here.
/// `UPDATE_SNAPSHOTS=1` rewrites them.
#[test]
fn import_surface_snapshots() {
    let host = host();
    let mut diffs = Vec::new();
    for lang in Language::ALL {
        for &world in worlds(lang) {
            let plugin = host
                .load_file(&built(lang, world, BuildOptions::default()))
                .expect("load");
            let mut imports = plugin.imports().to_vec();
            imports.sort();
            let got = imports.join("\n") + "\n";
            let path = suite_dir().join(format!("snapshots/{}-{world}.txt", lang.as_str()));
            if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
                std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
                std::fs::write(&path, &got).expect("write");
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            if got != want {
                diffs.push(format!(
                    "{}: imports changed\n--- recorded\n{want}--- now\n{got}",
                    path.display()
                ));
            }
            if lang != Language::Rust {
                let foreign: Vec<&String> = imports
                    .iter()
                    .filter(|i| !i.starts_with("wharf:plugin/"))
                    .filter(|i| !(world == "notifier" && notifier_wasi(i)))
                    .collect();
                assert!(
                    foreign.is_empty(),
                    "a {} {world} built with the opt-out imports only wharf:plugin/* (and a \
                     notifier wasi:http), not {foreign:?}",
                    lang.as_str()
                );
                if world == "notifier" {
                    assert!(
                        imports
                            .iter()
                            .any(|i| i.starts_with("wasi:http/outgoing-handler@")),
                        "a {} notifier must import wasi:http/outgoing-handler: {imports:?}",
                        lang.as_str()
                    );
                }
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{}\n(UPDATE_SNAPSHOTS=1 to accept)",
        diffs.join("\n")
    );
}

/// componentize-py without `--stub-wasi` imports raw sockets: refused at load,
/// naming the import and the flag.
#[test]
fn python_built_without_the_opt_out_is_refused_before_it_runs() {
    let host = host();
    let path = built(
        Language::Python,
        "tagger",
        BuildOptions { stub_wasi: false },
    );
    let err = host.load_file(&path).expect_err("refused");
    let text = err.to_string();
    assert!(matches!(err, LoadError::Unsupported { .. }), "{text}");
    assert!(text.contains("wasi:sockets/"), "{text}");
    assert!(text.contains("--stub-wasi"), "{text}");
}

/// componentize-qjs without `--stub-wasi` imports the file system: the plugin does
/// not run without a read grant, and the refusal names the import and the grant.
#[test]
fn js_built_without_the_opt_out_needs_a_grant_it_does_not_get() {
    let host = host();
    let path = built(Language::Js, "tagger", BuildOptions { stub_wasi: false });
    let plugin = host.load_file(&path).expect("loads");
    let denied = plugin.check(&Grants::default()).expect_err("denied");
    assert!(
        denied.message.contains("wasi:filesystem/"),
        "{}",
        denied.message
    );
    assert!(
        denied.message.contains("allow: { read:"),
        "{}",
        denied.message
    );
}

/// The SDKs carry the contract: their `wit/` is `wit/` of the repository, file for file.
#[test]
fn the_sdks_carry_the_contract_unchanged() {
    let root = wharf_e2e::plugins::workspace_root();
    for sdk in ["plugins/sdk-python/wharf_plugin/wit", "plugins/sdk-js/wit"] {
        for file in [
            "plugin.wit",
            "deps/cli.wit",
            "deps/clocks.wit",
            "deps/filesystem.wit",
            "deps/http.wit",
            "deps/io.wit",
            "deps/random.wit",
            "deps/sockets.wit",
        ] {
            let want = std::fs::read(root.join("wit").join(file)).expect("wit");
            let got = std::fs::read(root.join(sdk).join(file))
                .unwrap_or_else(|e| panic!("{sdk}/{file}: {e}"));
            assert!(
                want == got,
                "{sdk}/{file} differs from wit/{file}: copy wit/ into the SDK"
            );
        }
    }
}
