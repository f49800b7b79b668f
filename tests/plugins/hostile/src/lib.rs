//! A tagger that misbehaves in the way `with: mode` names, for the host's tests:
//! each mode must end its step with a clear error, within its limits, and leave the
//! host able to run the next step.

use wharf_plugin_sdk::tagger::{Guest, ImageRef, PluginError, TagResult, config, log};

struct Hostile;

/// 6 MiB of zeroed memory for `remember` (in the module's zero-initialised data, so
/// it costs the other modes nothing they do not touch).
static MEMORY: [std::sync::atomic::AtomicU8; 6 << 20] =
    [const { std::sync::atomic::AtomicU8::new(0) }; 6 << 20];

impl Guest for Hostile {
    fn tag(_image: ImageRef) -> Result<TagResult, PluginError> {
        let mode = config::require("mode")?;
        match mode.as_str() {
            // Burns CPU forever: the epoch deadline must stop it.
            "spin" => {
                let mut x: u64 = 1;
                loop {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    std::hint::black_box(x);
                }
            }
            // Allocates until the memory cap stops it.
            "allocate" => {
                let mut blocks: Vec<Vec<u8>> = Vec::new();
                loop {
                    blocks.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&blocks);
                }
            }
            // Recurses without end: the wasm stack limit stops it.
            "recurse" => Ok(TagResult {
                tags: vec![recurse(std::hint::black_box(1)).to_string()],
                outputs: vec![],
            }),
            // Floods the log through the log import.
            "flood-log" => loop {
                log::info(&"x".repeat(1000));
            },
            // Floods stdout.
            "flood-stdout" => loop {
                println!("{}", "y".repeat(1000));
            },
            // Traps (wasm `unreachable`).
            "trap" => std::process::abort(),
            // Panics: Rust prints the message to stderr, then traps.
            "panic" => panic!("the hostile plugin panicked on purpose"),
            // Returns more output than the host accepts.
            "huge-output" => Ok(TagResult {
                tags: (0..200_000).map(|i| format!("tag-{i}")).collect(),
                outputs: vec![],
            }),
            // Does nothing: one tag (the benchmark's minimal call).
            // Looks for what an earlier call wrote to its memory, then writes there:
            // tag `clean` when it found nothing, `leaked` when it did. The places
            // are in a zeroed static, below and above the size the host keeps
            // resident between calls (4 MiB), so both ways a slot is reset count.
            "remember" => {
                use std::sync::atomic::Ordering::Relaxed;
                let places = [0, (3 << 20) + 17, (6 << 20) - 1];
                let leaked = places.iter().any(|&i| MEMORY[i].load(Relaxed) != 0);
                for &i in &places {
                    MEMORY[i].store(0xab, Relaxed);
                }
                Ok(TagResult {
                    tags: vec![if leaked { "leaked" } else { "clean" }.into()],
                    outputs: vec![],
                })
            }
            "noop" => Ok(TagResult {
                tags: vec!["noop".into()],
                outputs: vec![],
            }),
            // Behaves: one tag, after printing a line to stdout and stderr.
            "ok" => {
                println!("hello from stdout");
                eprintln!("hello from stderr");
                Ok(TagResult {
                    tags: vec!["fine".into()],
                    outputs: vec![],
                })
            }
            other => Err(PluginError::InvalidConfig(format!(
                "unknown mode {other:?}"
            ))),
        }
    }
}

fn recurse(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let mut pad = [0u8; 256];
    pad[0] = n as u8;
    std::hint::black_box(&mut pad);
    recurse(std::hint::black_box(n + 1)) + u64::from(pad[0])
}

wharf_plugin_sdk::export_tagger!(Hostile);
