//! Go `text/template` with the Sprig text functions, as ACR Tasks renders `acb.yaml`.
//!
//! ACR's engine (Azure/acr-builder) parses the task file with Go's
//! `text/template` and Sprig's `TxtFuncMap()`, executes it with
//! `missingkey=zero`, then deletes every `<no value>` from the output. This crate
//! reproduces that in Rust and also records where each byte of output came from
//! ([`Output::origins`]), so errors found in the rendered YAML can be reported at
//! the template's own line and column.
//!
//! ```
//! use wharf_template::{Template, Options, MissingKey, Value};
//! let t = Template::parse("acb.yaml", "image: {{ .Values.name | upper | quote }}\n").unwrap();
//! let data: Value = serde_json::json!({"Values": {"name": "web"}}).into();
//! let opts = Options { missing_key: MissingKey::Zero, ..Options::default() };
//! let mut out = t.execute(&data, &opts).unwrap();
//! out.remove_all("<no value>");
//! assert_eq!(out.text, "image: \"WEB\"\n");
//! ```
//!
//! Deliberate differences from Go and Sprig are listed in the crate README.

mod ast;
mod data;
mod duration;
mod exec;
mod format;
mod funcs;
pub mod go;
mod lexer;
mod net_url;
mod output;
mod parse;
mod pem;
mod time_layout;
mod value;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

pub use funcs::{UNSUPPORTED as UNSUPPORTED_FUNCTIONS, supported_functions};
pub use output::{AcrDifference, Origin, OriginKind, Output};
pub use value::Value;

/// Stack size of the thread that parses and executes (deep nesting stays safe).
const STACK_SIZE: usize = 64 << 20;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The template text is malformed (Go's `Parse` error).
    Parse,
    /// Execution failed (Go's `ExecError`).
    Exec,
}

/// A parse or execution error. `message` reads like Go's
/// (`template: NAME:LINE:COL: ...`, column 0-based in bytes as Go prints it);
/// `span` is the byte range in the template text of the node at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// Parse or exec.
    pub kind: ErrorKind,
    /// The full message.
    pub message: String,
    /// Byte span of the offending node in the template text.
    pub span: Range<usize>,
}

/// What a missing map key evaluates to (Go's `missingkey=` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// `missingkey=default` / `invalid`: an invalid value, printed `<no value>`.
    #[default]
    Default,
    /// `missingkey=zero`: the map's zero value (nil), also printed `<no value>`;
    /// a field access through it is an error. ACR uses this.
    Zero,
    /// `missingkey=error`: an error.
    Error,
}

/// Execution options.
#[derive(Clone, Debug)]
pub struct Options {
    /// Missing-key behaviour.
    pub missing_key: MissingKey,
    /// The time `now` returns (and `ago`, `durationRound` measure from).
    pub now: jiff::Zoned,
    /// The environment seen by `env` and `expandenv` (never the process's own).
    pub env: BTreeMap<String, String>,
    /// How `getHostByName` resolves names; `None` (the default) makes it fail,
    /// since the engine itself does no I/O.
    pub host_lookup: Option<HostLookup>,
}

/// The resolver behind `getHostByName`: a host name to its addresses
/// (`"10.0.0.1"`, `"::1"`), as Go's `net.LookupHost` returns them, or a reason
/// it failed.
///
/// ```
/// use wharf_template::{HostLookup, Options, Template, Value};
/// let lookup = HostLookup::new(|name| match name {
///     "db.internal" => Ok(vec!["10.1.2.3".to_string()]),
///     _ => Err("no such host".to_string()),
/// });
/// let opts = Options { host_lookup: Some(lookup), ..Options::default() };
/// let t = Template::parse("t", r#"{{ getHostByName "db.internal" }}"#).unwrap();
/// assert_eq!(t.execute(&Value::Nil, &opts).unwrap().text, "10.1.2.3");
/// ```
#[derive(Clone)]
pub struct HostLookup(Arc<LookupFn>);

type LookupFn = dyn Fn(&str) -> Result<Vec<String>, String> + Send + Sync;

impl HostLookup {
    /// Wraps a resolver.
    pub fn new(f: impl Fn(&str) -> Result<Vec<String>, String> + Send + Sync + 'static) -> Self {
        HostLookup(Arc::new(f))
    }

    /// Resolves `name`.
    pub fn lookup(&self, name: &str) -> Result<Vec<String>, String> {
        (self.0)(name)
    }
}

impl std::fmt::Debug for HostLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostLookup(..)")
    }
}

impl Default for Options {
    /// `MissingKey::Default`, the current time in UTC, an empty environment,
    /// no host lookups.
    fn default() -> Self {
        Options {
            missing_key: MissingKey::Default,
            now: jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC),
            env: BTreeMap::new(),
            host_lookup: None,
        }
    }
}

/// A parsed template with its `define`d templates; reusable and thread-safe.
#[derive(Debug)]
pub struct Template {
    name: String,
    src: String,
    parsed: parse::Parsed,
}

impl Template {
    /// Parses `text` as the template `name` (used in messages). Unknown functions
    /// are parse errors, as in Go.
    pub fn parse(name: &str, text: &str) -> Result<Template, Error> {
        let run = || {
            parse::parse(name, text).map(|parsed| Template {
                name: name.to_string(),
                src: text.to_string(),
                parsed,
            })
        };
        on_big_stack(run).unwrap_or_else(|msg| {
            Err(Error {
                kind: ErrorKind::Parse,
                message: format!("template: {name}: {msg}"),
                span: 0..0,
            })
        })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The template source text.
    pub fn source(&self) -> &str {
        &self.src
    }

    /// Names of the templates defined with `define`/`block`.
    pub fn defined_templates(&self) -> Vec<&str> {
        self.parsed.defs.keys().map(String::as_str).collect()
    }

    /// Calls of functions that exist only in Sprig v3, which ACR (Sprig v2.22)
    /// rejects as undefined: `(name, span)` in source order. wharf accepts them;
    /// use this to warn that the cloud run would fail.
    pub fn sprig_v3_only_calls(&self) -> Vec<(String, Range<usize>)> {
        let mut out = Vec::new();
        let mut lists: Vec<&[ast::Node]> = vec![&self.parsed.main];
        lists.extend(self.parsed.defs.values().map(Vec::as_slice));
        for l in lists {
            ast::collect_calls(l, &mut |name, func, sp| {
                if func.since == funcs::Since::V3 {
                    out.push((name.to_string(), sp.range()));
                }
            });
        }
        out.sort_by_key(|(_, r)| r.start);
        out
    }

    /// Executes the template on `data`.
    pub fn execute(&self, data: &Value, options: &Options) -> Result<Output, Error> {
        let run = || {
            let root = data::Data::from_value(data, 0).map_err(|m| Error {
                kind: ErrorKind::Exec,
                message: format!("template: {}: {m}", self.name),
                span: 0..0,
            })?;
            let root = match root {
                data::Data::Nil => data::RVal::Invalid,
                d => data::RVal::Plain(d),
            };
            let mut ex = exec::Exec::new(self, options);
            ex.run(root)?;
            Ok(ex.out)
        };
        on_big_stack(run).unwrap_or_else(|msg| {
            Err(Error {
                kind: ErrorKind::Exec,
                message: format!("template: {}: {msg}", self.name),
                span: 0..0,
            })
        })
    }
}

/// Runs `f` on a scoped thread with a large stack; a panic becomes an error.
fn on_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, String> {
    std::thread::scope(|s| {
        let h = std::thread::Builder::new()
            .name("wharf-template".into())
            .stack_size(STACK_SIZE)
            .spawn_scoped(s, f)
            .map_err(|e| format!("cannot start the template thread: {e}"))?;
        h.join()
            .map_err(|_| "internal error: the template engine panicked".to_string())
    })
}

/// 1-based line and Go-style 0-based byte column of `pos` in `src`.
pub(crate) fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src.as_bytes()[..pos];
    let line = 1 + before.iter().filter(|c| **c == b'\n').count();
    let col = match before.iter().rposition(|c| *c == b'\n') {
        Some(i) => pos - i - 1,
        None => pos,
    };
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn template_is_send_sync() {
        assert_send_sync::<Template>();
        assert_send_sync::<Options>();
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("ab\ncd", 4), (2, 1));
        assert_eq!(line_col("ab", 1), (1, 1));
    }
}
