//! The executor's internal value: like [`Value`] but with Go's sharing rules.
//!
//! Go maps are references: `set $d "k" "v"` changes every holder of `$d`. Internal
//! maps are therefore `Rc<RefCell<..>>`. Lists and strings are immutable and shared
//! cheaply. Values nest at most [`MAX_NESTING`] levels when walked (printing,
//! JSON, copying), so self-referencing maps cannot overflow the stack.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::funcs::certs::Certificate;
use crate::funcs::semver::SemVer;
use crate::value::Value;

/// How deep printing, copying and comparing descend before giving up.
pub(crate) const MAX_NESTING: usize = 200;

/// How deep public data ([`Value`], a tree without cycles) may nest.
pub(crate) const MAX_VALUE_NESTING: usize = MAX_NESTING * 50;

/// A shared, mutable Go map.
pub(crate) type MapRef = Rc<RefCell<BTreeMap<String, Data>>>;

/// A dynamic value during execution.
#[derive(Clone, Debug)]
pub(crate) enum Data {
    Nil,
    Bool(bool),
    Int(i64),
    /// A `uint64`: what yaml.v2 makes of an integer above int64's range.
    Uint(u64),
    Float(f64),
    Str(Rc<str>),
    List(Rc<Vec<Data>>),
    Map(MapRef),
    Time(Rc<jiff::Zoned>),
    Semver(Rc<SemVer>),
    /// Sprig's `certificate` struct (`genCA`, `genSignedCert`, ...).
    Cert(Rc<Certificate>),
}

impl Data {
    /// A string value.
    pub(crate) fn str(s: impl AsRef<str>) -> Data {
        Data::Str(Rc::from(s.as_ref()))
    }

    /// A list value.
    pub(crate) fn list(v: Vec<Data>) -> Data {
        Data::List(Rc::new(v))
    }

    /// A fresh map value.
    pub(crate) fn map(m: BTreeMap<String, Data>) -> Data {
        Data::Map(Rc::new(RefCell::new(m)))
    }

    /// A list of strings (`[]string`).
    pub(crate) fn strings<S: AsRef<str>>(v: impl IntoIterator<Item = S>) -> Data {
        Data::list(v.into_iter().map(Data::str).collect())
    }

    /// Converts public data into the internal form.
    pub(crate) fn from_value(v: &Value, depth: usize) -> Result<Data, String> {
        if depth > MAX_VALUE_NESTING {
            return Err("data nests too deeply".into());
        }
        Ok(match v {
            Value::Nil => Data::Nil,
            Value::Bool(b) => Data::Bool(*b),
            Value::Int(i) => Data::Int(*i),
            Value::Uint(u) => Data::Uint(*u),
            Value::Float(f) => Data::Float(*f),
            Value::String(s) => Data::str(s),
            Value::List(l) => Data::list(
                l.iter()
                    .map(|v| Data::from_value(v, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Map(m) => Data::map(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), Data::from_value(v, depth + 1)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Value::Time(z) => Data::Time(Rc::new(z.clone())),
        })
    }

    /// Go's `%T` of the value.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Data::Nil => "<nil>",
            Data::Bool(_) => "bool",
            Data::Int(_) => "int",
            Data::Uint(_) => "uint64",
            Data::Float(_) => "float64",
            Data::Str(_) => "string",
            Data::List(_) => "[]interface {}",
            Data::Map(_) => "map[string]interface {}",
            Data::Time(_) => "time.Time",
            Data::Semver(_) => "*semver.Version",
            Data::Cert(_) => "sprig.certificate",
        }
    }

    /// Go's `reflect.Kind` name of the value.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Data::Nil => "invalid",
            Data::Bool(_) => "bool",
            Data::Int(_) => "int",
            Data::Uint(_) => "uint64",
            Data::Float(_) => "float64",
            Data::Str(_) => "string",
            Data::List(_) => "slice",
            Data::Map(_) => "map",
            Data::Time(_) => "struct",
            Data::Semver(_) => "ptr",
            Data::Cert(_) => "struct",
        }
    }

    /// Go template truthiness (`isTrue`): the zero value and empty collections are false.
    pub(crate) fn truth(&self) -> bool {
        match self {
            Data::Nil => false,
            Data::Bool(b) => *b,
            Data::Int(i) => *i != 0,
            Data::Uint(u) => *u != 0,
            Data::Float(f) => *f != 0.0,
            Data::Str(s) => !s.is_empty(),
            Data::List(l) => !l.is_empty(),
            Data::Map(m) => m.try_borrow().map(|m| !m.is_empty()).unwrap_or(true),
            Data::Time(_) | Data::Semver(_) | Data::Cert(_) => true,
        }
    }

    /// Sprig's `empty`: like falsiness, but structs (times) are never empty.
    pub(crate) fn is_empty(&self) -> bool {
        !self.truth()
    }

    /// A snapshot of a map's entries (empty for non-maps).
    pub(crate) fn map_entries(&self) -> Vec<(String, Data)> {
        match self {
            Data::Map(m) => m
                .try_borrow()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Looks a key up in a map (None for non-maps or a missing key).
    pub(crate) fn map_get(&self, key: &str) -> Option<Data> {
        match self {
            Data::Map(m) => m.try_borrow().ok().and_then(|m| m.get(key).cloned()),
            _ => None,
        }
    }

    /// The number of entries in a map.
    pub(crate) fn map_len(m: &MapRef) -> usize {
        m.try_borrow().map(|m| m.len()).unwrap_or(0)
    }

    /// A deep copy with fresh maps (Sprig's `deepCopy`).
    pub(crate) fn deep_copy(&self, depth: usize) -> Result<Data, String> {
        if depth > MAX_NESTING {
            return Err("value nests too deeply (self-referencing map?)".into());
        }
        Ok(match self {
            Data::List(l) => Data::list(
                l.iter()
                    .map(|v| v.deep_copy(depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            Data::Map(_) => Data::map(
                self.map_entries()
                    .into_iter()
                    .map(|(k, v)| Ok((k, v.deep_copy(depth + 1)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }

    /// Go's `reflect.DeepEqual` on the value model.
    pub(crate) fn deep_equal(&self, other: &Data, depth: usize) -> bool {
        if depth > MAX_NESTING {
            return false;
        }
        match (self, other) {
            (Data::Nil, Data::Nil) => true,
            (Data::Bool(a), Data::Bool(b)) => a == b,
            (Data::Int(a), Data::Int(b)) => a == b,
            (Data::Float(a), Data::Float(b)) => a == b,
            (Data::Str(a), Data::Str(b)) => a == b,
            (Data::List(a), Data::List(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b.iter())
                        .all(|(x, y)| x.deep_equal(y, depth + 1))
            }
            (Data::Map(a), Data::Map(b)) => {
                if Rc::ptr_eq(a, b) {
                    return true;
                }
                let (ea, eb) = (self.map_entries(), other.map_entries());
                ea.len() == eb.len()
                    && ea
                        .iter()
                        .zip(eb.iter())
                        .all(|((ka, va), (kb, vb))| ka == kb && va.deep_equal(vb, depth + 1))
            }
            (Data::Time(a), Data::Time(b)) => a == b,
            (Data::Semver(a), Data::Semver(b)) => a == b,
            (Data::Cert(a), Data::Cert(b)) => a == b,
            _ => false,
        }
    }
}

/// A value as Go's `reflect.Value` sees it during execution.
///
/// `Invalid` is the zero `reflect.Value` (a missing key, printed `<no value>`);
/// `Iface` is a value whose static type is `interface{}` (map elements, list
/// elements), which matters for nil and for error messages; `Plain` is a
/// concretely typed value.
#[derive(Clone, Debug)]
pub(crate) enum RVal {
    Invalid,
    Iface(Data),
    Plain(Data),
}

impl RVal {
    /// The data inside; invalid and nil interfaces become `Nil`.
    pub(crate) fn data(&self) -> Data {
        match self {
            RVal::Invalid => Data::Nil,
            RVal::Iface(d) | RVal::Plain(d) => d.clone(),
        }
    }

    /// Borrow the data inside, if any.
    pub(crate) fn as_data(&self) -> Option<&Data> {
        match self {
            RVal::Invalid => None,
            RVal::Iface(d) | RVal::Plain(d) => Some(d),
        }
    }

    /// What `evalPipeline` does after each command: look inside `interface{}`.
    pub(crate) fn unwrap_iface(self) -> RVal {
        match self {
            RVal::Iface(Data::Nil) | RVal::Plain(Data::Nil) => RVal::Invalid,
            RVal::Iface(d) => RVal::Plain(d),
            other => other,
        }
    }

    /// Go's `isTrue(indirectInterface(v))`.
    pub(crate) fn truth(&self) -> bool {
        self.as_data().is_some_and(Data::truth)
    }

    /// The Go type name of the reflect value (`interface {}` for interface-typed values).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            RVal::Invalid => "<nil>",
            RVal::Iface(_) => "interface {}",
            RVal::Plain(d) => d.type_name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_and_names() {
        assert!(!Data::Nil.truth());
        assert!(!Data::str("").truth());
        assert!(Data::Int(2).truth());
        assert!(!Data::list(vec![]).truth());
        assert_eq!(
            Data::map(BTreeMap::new()).type_name(),
            "map[string]interface {}"
        );
        assert_eq!(Data::Nil.kind_name(), "invalid");
    }

    #[test]
    fn self_reference_is_bounded() {
        let m = Data::map(BTreeMap::new());
        if let Data::Map(r) = &m {
            r.borrow_mut().insert("me".into(), m.clone());
        }
        assert!(m.deep_copy(0).is_err());
        assert!(m.deep_equal(&m, 0));
        if let Data::Map(r) = &m {
            r.borrow_mut().clear();
        }
    }
}
