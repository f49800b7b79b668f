//! Host bindings of the `wharf:plugin@0.1.0` worlds (generated from `wit/`).

/// The `tagger` world; it also owns the interfaces every world shares.
pub mod tagger {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "tagger",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wharf:plugin/secrets.secret": crate::state::SecretHandle,
        },
    });
}

/// The `scanner` world.
pub mod scanner {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "scanner",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wharf:plugin/types": super::tagger::wharf::plugin::types,
            "wharf:plugin/log": super::tagger::wharf::plugin::log,
            "wharf:plugin/config": super::tagger::wharf::plugin::config,
            "wharf:plugin/secrets": super::tagger::wharf::plugin::secrets,
            "wharf:plugin/files": super::tagger::wharf::plugin::files,
        },
    });
}

/// The `notifier` world.
pub mod notifier {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "notifier",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wharf:plugin/types": super::tagger::wharf::plugin::types,
            "wharf:plugin/log": super::tagger::wharf::plugin::log,
            "wharf:plugin/config": super::tagger::wharf::plugin::config,
            "wharf:plugin/secrets": super::tagger::wharf::plugin::secrets,
            "wharf:plugin/files": super::tagger::wharf::plugin::files,
            "wasi": wasmtime_wasi::p2::bindings,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        },
    });
}
