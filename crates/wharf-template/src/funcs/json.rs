//! Go `encoding/json` compatible encoding of [`Data`] (sorted keys, Go float
//! formatting, HTML escaping) and decoding into Go's `interface{}` shapes
//! (every number becomes a float64).

use std::collections::BTreeMap;

use crate::data::{Data, MAX_NESTING};
use crate::format::float::format_float;

/// Encodes like `json.Marshal` (`indent` = `MarshalIndent(v, "", "  ")`).
pub(crate) fn encode(d: &Data, escape_html: bool, indent: bool) -> Result<String, String> {
    encode_within(d, escape_html, indent, MAX_NESTING)
}

/// [`encode`] for values nesting at most `max_depth` levels.
pub(crate) fn encode_within(
    d: &Data,
    escape_html: bool,
    indent: bool,
    max_depth: usize,
) -> Result<String, String> {
    let mut out = String::new();
    let mut w = Writer {
        out: &mut out,
        esc: escape_html,
        indent,
        max_depth,
    };
    w.write(d, 0)?;
    Ok(out)
}

struct Writer<'a> {
    out: &'a mut String,
    esc: bool,
    indent: bool,
    max_depth: usize,
}

impl Writer<'_> {
    fn newline(&mut self, depth: usize) {
        if self.indent {
            self.out.push('\n');
            for _ in 0..depth {
                self.out.push_str("  ");
            }
        }
    }

    fn write(&mut self, d: &Data, depth: usize) -> Result<(), String> {
        if depth > self.max_depth {
            return Err("json: unsupported value: encountered a cycle or excessive nesting".into());
        }
        match d {
            Data::Nil => self.out.push_str("null"),
            Data::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Data::Int(i) => self.out.push_str(&i.to_string()),
            Data::Uint(u) => self.out.push_str(&u.to_string()),
            Data::Float(f) => self.out.push_str(&float(*f)?),
            Data::Str(s) => string(self.out, s, self.esc),
            Data::Time(z) => string(self.out, &crate::time_layout::rfc3339_nano(z), self.esc),
            Data::Semver(v) => string(self.out, &v.to_string(), self.esc),
            Data::Cert(c) => self.write(&c.to_map(), depth)?,
            Data::List(l) => {
                if l.is_empty() {
                    self.out.push_str("[]");
                    return Ok(());
                }
                self.out.push('[');
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.newline(depth + 1);
                    self.write(e, depth + 1)?;
                }
                self.newline(depth);
                self.out.push(']');
            }
            Data::Map(_) => {
                let entries = d.map_entries();
                if entries.is_empty() {
                    self.out.push_str("{}");
                    return Ok(());
                }
                self.out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.newline(depth + 1);
                    string(self.out, k, self.esc);
                    self.out.push(':');
                    if self.indent {
                        self.out.push(' ');
                    }
                    self.write(v, depth + 1)?;
                }
                self.newline(depth);
                self.out.push('}');
            }
        }
        Ok(())
    }
}

/// Go's JSON float formatting.
fn float(f: f64) -> Result<String, String> {
    json_float(f).ok_or_else(|| format!("json: unsupported value: {}", format_float(f, 'g', -1)))
}

/// A float as Go's `encoding/json` writes it; `None` for NaN and infinities, which
/// Go refuses to encode.
pub(crate) fn json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    let e = abs != 0.0 && !(1e-6..1e21).contains(&abs);
    let mut s = format_float(f, if e { 'e' } else { 'f' }, -1);
    if e {
        // e-07 → e-7
        let n = s.len();
        let b = s.as_bytes();
        if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
            s.remove(n - 2);
        }
    }
    Some(s)
}

/// Appends `s` as Go's `json.Marshal` writes a string; `esc` escapes `<`, `>` and
/// `&` as `json.Marshal` does by default.
pub(crate) fn string(out: &mut String, s: &str, esc: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if esc => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Decodes JSON into Go's `interface{}` shapes (numbers are float64).
pub(crate) fn decode(s: &str) -> Result<Data, String> {
    let v: serde_json::Value = serde_json::from_str(s).map_err(|e| e.to_string())?;
    Ok(from_json(&v))
}

fn from_json(v: &serde_json::Value) -> Data {
    match v {
        serde_json::Value::Null => Data::Nil,
        serde_json::Value::Bool(b) => Data::Bool(*b),
        serde_json::Value::Number(n) => Data::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Data::str(s),
        serde_json::Value::Array(a) => Data::list(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => Data::map(
            o.iter()
                .map(|(k, v)| (k.clone(), from_json(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_like() {
        let mut m = BTreeMap::new();
        m.insert("b".to_string(), Data::Float(1e21));
        m.insert("a".to_string(), Data::str("<x>&"));
        m.insert(
            "c".to_string(),
            Data::list(vec![Data::Int(1), Data::Float(0.5)]),
        );
        let d = Data::map(m);
        assert_eq!(
            encode(&d, true, false).expect("json"),
            r#"{"a":"\u003cx\u003e\u0026","b":1e+21,"c":[1,0.5]}"#
        );
        assert_eq!(
            encode(&d, false, true).expect("json"),
            "{\n  \"a\": \"<x>&\",\n  \"b\": 1e+21,\n  \"c\": [\n    1,\n    0.5\n  ]\n}"
        );
        assert_eq!(float(100000.0).expect("f"), "100000");
        assert_eq!(float(1e-7).expect("f"), "1e-7");
        assert!(float(f64::NAN).is_err());
    }
}
