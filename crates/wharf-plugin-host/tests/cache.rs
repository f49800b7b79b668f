//! Precompiled code: compiled once, then mapped from the cache by later hosts
//! (processes); a damaged cache file is replaced, never trusted.

mod support;

use wharf_plugin_host::*;

fn host_with(dir: &std::path::Path) -> PluginHost {
    PluginHost::new(HostConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..HostConfig::default()
    })
    .expect("host")
}

#[test]
fn a_plugin_is_compiled_once_and_loaded_from_the_cache_afterwards() {
    let wasm = wharf_e2e::plugins::plugin_wasm("hostile-plugin");
    let dir = tempfile::tempdir().expect("tempdir");

    let first = host_with(dir.path());
    let plugin = first.load_file(&wasm).expect("load");
    assert!(
        matches!(plugin.compiled(), Compiled::Now(_)),
        "{:?}",
        plugin.compiled()
    );
    let again = first.load_file(&wasm).expect("load again");
    assert_eq!(again.compiled(), Compiled::InMemory);

    let cache = first.cache_dir().expect("cache dir").to_path_buf();
    assert!(cache.starts_with(dir.path()));
    let hex = plugin.digest().strip_prefix("sha256:").expect("digest");
    let cwasm = cache.join(format!("{hex}.cwasm"));
    assert!(cwasm.is_file(), "{} written", cwasm.display());
    drop(first);

    let second = host_with(dir.path());
    assert_eq!(
        second.cache_dir(),
        Some(cache.as_path()),
        "same engine, same key"
    );
    let cached = second.load_file(&wasm).expect("load cached");
    assert!(
        matches!(cached.compiled(), Compiled::FromCache(_)),
        "{:?}",
        cached.compiled()
    );
    assert_eq!(cached.world(), World::Tagger);
    drop(second);

    // Replace (never overwrite in place: the loaded plugins still map the file).
    std::fs::remove_file(&cwasm).expect("remove");
    std::fs::write(&cwasm, b"garbage").expect("damage");
    let third = host_with(dir.path());
    let recompiled = third.load_file(&wasm).expect("recompiled");
    assert!(matches!(recompiled.compiled(), Compiled::Now(_)));
    assert_ne!(std::fs::read(&cwasm).expect("rewritten"), b"garbage");
}
