//! The function table: Go's builtins overlaid by Sprig's `TxtFuncMap`.
//!
//! Every function declares Go-like parameter types so the executor can apply
//! Go's argument rules (`wrong type for value; expected string; got int`, nil
//! handling) before the implementation runs.

pub(crate) mod builtins;
pub(crate) mod certs;
pub(crate) mod convert;
pub(crate) mod crypto;
pub(crate) mod dates;
pub(crate) mod defaults;
pub(crate) mod dicts;
pub(crate) mod encoding;
pub(crate) mod json;
pub(crate) mod lists;
pub(crate) mod math;
pub(crate) mod network;
pub(crate) mod paths;
pub(crate) mod reflect;
pub(crate) mod regex;
pub(crate) mod semver;
pub(crate) mod strings;
pub(crate) mod urls;

use crate::Options;
use crate::data::{Data, RVal};

/// A Go parameter type, as far as argument checking needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    /// `interface{}`
    Any,
    /// `reflect.Value` (Go builtins): sees missing values as invalid.
    Reflect,
    Str,
    Int,
    Float,
    Bool,
    /// `map[string]interface{}`
    Map,
    /// `time.Time`
    Time,
    /// `[]interface{}`
    List,
    /// `uint32`: only untyped number constants convert to it.
    Uint32,
    /// Sprig's `certificate` struct.
    Cert,
}

impl Ty {
    /// The Go spelling of the type, for messages.
    pub(crate) fn go_name(self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::Reflect => "reflect.Value",
            Ty::Str => "string",
            Ty::Int => "int",
            Ty::Float => "float64",
            Ty::Bool => "bool",
            Ty::Map => "map[string]interface {}",
            Ty::Time => "time.Time",
            Ty::List => "[]interface {}",
            Ty::Uint32 => "uint32",
            Ty::Cert => "sprig.certificate",
        }
    }

    /// Whether a concrete value has this type.
    pub(crate) fn accepts(self, d: &Data) -> bool {
        matches!(
            (self, d),
            (Ty::Any | Ty::Reflect, _)
                | (Ty::Str, Data::Str(_))
                | (Ty::Int, Data::Int(_))
                | (Ty::Float, Data::Float(_))
                | (Ty::Bool, Data::Bool(_))
                | (Ty::Map, Data::Map(_))
                | (Ty::Time, Data::Time(_))
                | (Ty::List, Data::List(_))
                | (Ty::Cert, Data::Cert(_))
        )
    }

    /// Go's `canBeNil`.
    pub(crate) fn can_be_nil(self) -> bool {
        matches!(self, Ty::Any | Ty::Reflect | Ty::Map | Ty::List)
    }
}

/// Which Sprig release introduced a function (ACR uses Sprig v2.22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Since {
    /// Go builtin or present in Sprig v2.22.
    V2,
    /// Added in Sprig v3.
    V3,
}

/// What the executor runs for a call.
#[derive(Clone, Copy)]
pub(crate) enum Imp {
    /// Builtin `and`: short-circuit.
    And,
    /// Builtin `or`: short-circuit.
    Or,
    /// An ordinary function over evaluated arguments.
    Call(fn(&mut Ctx<'_>, Vec<RVal>) -> Result<RVal, String>),
}

impl std::fmt::Debug for Imp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Imp::And => write!(f, "and"),
            Imp::Or => write!(f, "or"),
            Imp::Call(_) => write!(f, "fn"),
        }
    }
}

/// One template function.
#[derive(Debug)]
pub(crate) struct FuncDef {
    pub name: &'static str,
    pub params: &'static [Ty],
    pub variadic: Option<Ty>,
    pub imp: Imp,
    pub since: Since,
}

/// Execution context handed to functions.
pub(crate) struct Ctx<'a> {
    pub opts: &'a Options,
    /// Where this call's result differs from what ACR's engine would give (wharf's
    /// sound behaviour kept), for `wharf validate --acr`.
    pub acr_differences: Vec<String>,
}

impl<'a> Ctx<'a> {
    /// A context with these options.
    pub(crate) fn new(opts: &'a Options) -> Ctx<'a> {
        Ctx {
            opts,
            acr_differences: Vec::new(),
        }
    }
}

/// Result of looking a name up.
pub(crate) enum Lookup {
    Found(&'static FuncDef),
    /// A Sprig function that wharf deliberately does not implement.
    Unsupported,
    Unknown,
}

/// Sprig v3 functions that wharf does not implement. ACR (Sprig v2.22) lacks
/// them too, so a task that calls one fails there as well.
pub const UNSUPPORTED: &[&str] = &[
    "genCAWithKey",
    "genSelfSignedCertWithKey",
    "genSignedCertWithKey",
    "bcrypt",
    "htpasswd",
    "randBytes",
    "randSeededNumeric",
];

fn tables() -> [&'static [FuncDef]; 16] {
    [
        builtins::FUNCS,
        strings::FUNCS,
        defaults::FUNCS,
        encoding::FUNCS,
        math::FUNCS,
        lists::FUNCS,
        dicts::FUNCS,
        dates::FUNCS,
        semver::FUNCS,
        regex::FUNCS,
        reflect::FUNCS,
        paths::FUNCS,
        urls::FUNCS,
        crypto::FUNCS,
        certs::FUNCS,
        network::FUNCS,
    ]
}

/// Finds a function by name. Sprig entries win over Go builtins of the same
/// name, as a `FuncMap` does in Go.
pub(crate) fn lookup(name: &str) -> Lookup {
    let mut found = None;
    for table in tables() {
        for f in table {
            if f.name == name {
                found = Some(f);
            }
        }
    }
    match found {
        Some(f) => Lookup::Found(f),
        None if UNSUPPORTED.contains(&name) => Lookup::Unsupported,
        None => Lookup::Unknown,
    }
}

/// Names of every supported function with the Sprig release that introduced it
/// (`true` = only in Sprig v3, which ACR does not have).
pub fn supported_functions() -> Vec<(&'static str, bool)> {
    let mut v: Vec<(&'static str, bool)> = tables()
        .iter()
        .flat_map(|t| t.iter().map(|f| (f.name, f.since == Since::V3)))
        .collect();
    v.sort();
    v.dedup_by(|a, b| a.0 == b.0);
    v
}

/// Builds a table entry.
pub(crate) const fn def(
    name: &'static str,
    params: &'static [Ty],
    variadic: Option<Ty>,
    since: Since,
    f: fn(&mut Ctx<'_>, Vec<RVal>) -> Result<RVal, String>,
) -> FuncDef {
    FuncDef {
        name,
        params,
        variadic,
        imp: Imp::Call(f),
        since,
    }
}

// ---- argument helpers (arguments were type-checked by the executor) ----

/// The string at `i` (empty if absent or not a string).
pub(crate) fn s(args: &[RVal], i: usize) -> String {
    match args.get(i).and_then(RVal::as_data) {
        Some(Data::Str(s)) => s.to_string(),
        _ => String::new(),
    }
}

/// The int at `i` (0 if absent).
pub(crate) fn n(args: &[RVal], i: usize) -> i64 {
    match args.get(i).and_then(RVal::as_data) {
        Some(Data::Int(v)) => *v,
        _ => 0,
    }
}

/// The value at `i` (nil if absent).
pub(crate) fn a(args: &[RVal], i: usize) -> Data {
    args.get(i).map(RVal::data).unwrap_or(Data::Nil)
}

/// A plain result.
pub(crate) fn ok(d: Data) -> Result<RVal, String> {
    Ok(RVal::Plain(d))
}

/// A string result.
pub(crate) fn ok_s(s: impl AsRef<str>) -> Result<RVal, String> {
    Ok(RVal::Plain(Data::str(s)))
}

/// Largest collection or string a function may build.
pub(crate) const MAX_BUILD: usize = 16 << 20;

/// Errors if `n` items/bytes exceed [`MAX_BUILD`].
pub(crate) fn check_size(n: u128, what: &str) -> Result<(), String> {
    if n > MAX_BUILD as u128 {
        return Err(format!(
            "{what} would build {n} elements, over wharf's limit of {MAX_BUILD}"
        ));
    }
    Ok(())
}
