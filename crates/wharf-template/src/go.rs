//! Pieces of Go's standard library that the template functions use, for callers
//! that must behave exactly as Go does outside templates too (wharf-spec decodes
//! YAML integers, cleans paths and writes `.ValuesJSON` with them).

use crate::data::{Data, MAX_VALUE_NESTING};
use crate::value::Value;

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then a decimal, `0x`
/// hexadecimal, `0o` or `0` octal, or `0b` binary integer, with `_` allowed
/// between digits as in Go literals. `None` when it is not one or overflows.
///
/// ```
/// use wharf_template::go::parse_int;
/// assert_eq!(parse_int("0x1F"), Some(31));
/// assert_eq!(parse_int("010"), Some(8));
/// assert_eq!(parse_int("-1_000"), Some(-1000));
/// assert_eq!(parse_int("1.5"), None);
/// ```
pub fn parse_int(s: &str) -> Option<i64> {
    crate::ast::parse_int(s)
}

/// Go's `strconv.FormatFloat(f, fmt, prec, bits)` for `fmt` in `e E f g G`;
/// `prec` -1 gives the shortest form that reads back as the same float of `bits`
/// (32 or 64).
///
/// ```
/// use wharf_template::go::format_float;
/// assert_eq!(format_float(1e6, 'g', -1, 64), "1e+06");
/// assert_eq!(format_float(1.234_567_89, 'g', -1, 32), "1.2345679");
/// ```
pub fn format_float(f: f64, fmt: char, prec: i32, bits: u32) -> String {
    crate::format::float::format_float_bits(f, fmt, prec, bits)
}

/// A float as Go's `encoding/json` writes it (`1e+21`, `1e-7`, `0.000001`);
/// `None` for NaN and infinities, which Go refuses to encode.
pub fn json_float(f: f64) -> Option<String> {
    crate::funcs::json::json_float(f)
}

/// Appends `s` as Go's `json.Marshal` writes a string: `\b`, `\f` and the other
/// short escapes, U+2028 and U+2029 escaped, and with `escape_html` (Marshal's
/// default) `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026`.
pub fn json_string(out: &mut String, s: &str, escape_html: bool) {
    crate::funcs::json::string(out, s, escape_html);
}

/// Go's `strconv.ParseUint(s, 0, 64)`.
pub fn parse_uint(s: &str) -> Option<u64> {
    crate::ast::parse_uint(s)
}

/// Go's `path.Clean`: the shortest lexically equivalent slash-separated path.
///
/// ```
/// use wharf_template::go::clean_path;
/// assert_eq!(clean_path("/a/./b/../c/"), "/a/c");
/// assert_eq!(clean_path("/../x"), "/x");
/// assert_eq!(clean_path(""), ".");
/// ```
pub fn clean_path(path: &str) -> String {
    crate::funcs::paths::clean(path)
}

/// `value` as Go's `json.Marshal` writes it: keys sorted, no spaces, floats in
/// Go's shortest form (`1`, `100000000000000000000`, `0.000001`, `1e+21`), and with
/// `escape_html` the characters `<`, `>`, `&` written as `\u003c`, `\u003e`,
/// `\u0026`. Fails as Go does on NaN and infinities, and on data nesting deeper
/// than 10 000 levels.
///
/// ```
/// use wharf_template::{Value, go::json};
/// let v = Value::map([("b", Value::Float(1e20)), ("a", Value::from("<x>"))]);
/// assert_eq!(json(&v, true).as_deref(), Ok(r#"{"a":"\u003cx\u003e","b":100000000000000000000}"#));
/// ```
pub fn json(value: &Value, escape_html: bool) -> Result<String, String> {
    crate::on_big_stack(|| {
        let data = Data::from_value(value, 0)?;
        crate::funcs::json::encode_within(&data, escape_html, false, MAX_VALUE_NESTING)
    })
    .and_then(|result| result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_int_is_go_strconv() {
        assert_eq!(parse_int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int("9223372036854775808"), None);
        assert_eq!(parse_int("0b101"), Some(5));
        assert_eq!(parse_int("0O17"), Some(15));
        assert_eq!(parse_int("+0x10"), Some(16));
        // A sign belongs before the base prefix only.
        assert_eq!(parse_int("0x+5"), None);
        assert_eq!(parse_int("0x"), None);
        assert_eq!(parse_int("08"), None);
        assert_eq!(parse_int("1__0"), None);
    }

    #[test]
    fn json_floats_are_go_floats() {
        let floats = Value::List(vec![
            Value::Float(1.0),
            Value::Float(1e20),
            Value::Float(1e-6),
            Value::Float(1e21),
            Value::Float(1e-7),
            Value::Float(0.5),
        ]);
        assert_eq!(
            json(&floats, true).as_deref(),
            Ok("[1,100000000000000000000,0.000001,1e+21,1e-7,0.5]")
        );
        assert_eq!(
            json(&Value::Float(f64::NAN), true),
            Err("json: unsupported value: NaN".to_string())
        );
        assert_eq!(json(&Value::from("<&>"), false).as_deref(), Ok("\"<&>\""));
    }

    #[test]
    fn json_takes_deep_values() {
        let mut v = Value::Nil;
        for _ in 0..5_000 {
            v = Value::List(vec![v]);
        }
        let text = json(&v, true).unwrap_or_default();
        assert_eq!(text.len(), 5_000 * 2 + 4);
        for _ in 0..6_000 {
            v = Value::List(vec![v]);
        }
        assert!(json(&v, true).is_err());
        // Dropping 11 000 levels recurses; do it where the stack is large.
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || drop(v))
            .map(|h| h.join())
            .ok();
    }
}
