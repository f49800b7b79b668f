//! Sprig's loose conversions (`strval`, `toInt64`, `toFloat64`, `strslice`), as in
//! Sprig v2.22 which ACR uses: strings are parsed in base 10, failures give 0.

use crate::data::Data;
use crate::format::fmt_v;

/// Sprig's `strval`: strings as is, stringers via `String()`, else `%v`.
pub(crate) fn strval(v: &Data) -> String {
    match v {
        Data::Str(s) => s.to_string(),
        other => fmt_v(other),
    }
}

/// Sprig v2's `toInt64`.
pub(crate) fn to_int64(v: &Data) -> i64 {
    match v {
        Data::Str(s) => s.parse::<i64>().unwrap_or(0),
        Data::Int(i) => *i,
        // cast.ToInt64 converts a uint64 as Go does: the bits, wrapped.
        Data::Uint(u) => i64::from_ne_bytes(u.to_ne_bytes()),
        Data::Float(f) => float_to_int(*f),
        Data::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

/// Go's `int64(f)` conversion on amd64 (out-of-range gives the minimum value).
pub(crate) fn float_to_int(f: f64) -> i64 {
    if f.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// Sprig v2's `toFloat64`.
pub(crate) fn to_float64(v: &Data) -> f64 {
    match v {
        Data::Str(s) => parse_go_float(s).unwrap_or(0.0),
        Data::Int(i) => *i as f64,
        Data::Uint(u) => *u as f64,
        Data::Float(f) => *f,
        Data::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}

/// Go's `strconv.ParseFloat` on a string value (accepts inf/nan spellings).
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if matches!(body, "inf" | "infinity" | "nan") {
        return lower.parse::<f64>().ok();
    }
    crate::ast::parse_float(s)
}

/// Sprig's `strslice`: a list becomes its elements' strings (nils dropped),
/// nil becomes empty, anything else a one-element list.
pub(crate) fn strslice(v: &Data) -> Vec<String> {
    match v {
        Data::List(l) => l
            .iter()
            .filter(|e| !matches!(e, Data::Nil))
            .map(strval)
            .collect(),
        Data::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(to_int64(&Data::str("42")), 42);
        assert_eq!(to_int64(&Data::str("0x10")), 0);
        assert_eq!(to_int64(&Data::Float(3.9)), 3);
        assert_eq!(to_int64(&Data::Bool(true)), 1);
        assert_eq!(to_float64(&Data::str("1.5")), 1.5);
        assert_eq!(strval(&Data::Nil), "<nil>");
        assert_eq!(
            strslice(&Data::list(vec![Data::Int(1), Data::Nil, Data::str("a")])),
            vec!["1", "a"]
        );
    }
}
