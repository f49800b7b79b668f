//! What Go's standard library does to text and numbers on helm's way from
//! Chart.yaml to an archive: `strconv.FormatFloat`, `encoding/json` string and
//! float encoding, and the `unicode` predicates behind helm's string sanitising
//! and yaml.v2's key order.

use unicode_general_category::{GeneralCategory, get_general_category};

/// helm's `sanitizeString`: every Unicode space becomes `' '`, every other
/// character that is not printable (Go's `unicode.IsPrint`) is dropped.
pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if is_print(c) {
                Some(c)
            } else {
                None
            }
        })
        .collect()
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the
/// ASCII space.
pub(crate) fn is_print(c: char) -> bool {
    use GeneralCategory as G;
    if c == ' ' {
        return true;
    }
    !matches!(
        get_general_category(c),
        G::Control
            | G::Format
            | G::Surrogate
            | G::PrivateUse
            | G::Unassigned
            | G::SpaceSeparator
            | G::LineSeparator
            | G::ParagraphSeparator
    )
}

/// Go's `unicode.IsLetter` (category L).
pub(crate) fn is_letter(c: char) -> bool {
    use GeneralCategory as G;
    matches!(
        get_general_category(c),
        G::UppercaseLetter
            | G::LowercaseLetter
            | G::TitlecaseLetter
            | G::ModifierLetter
            | G::OtherLetter
    )
}

/// Go's `unicode.IsDigit` (category Nd).
pub(crate) fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || get_general_category(c) == GeneralCategory::DecimalNumber
}

/// The shortest decimal digits of a finite, non-negative float and its decimal
/// point position (`digits` × 10^(`point` − len)), as Go's `strconv` computes them.
struct Digits {
    digits: Vec<u8>,
    point: i32,
}

fn shortest_digits(text: &str) -> Digits {
    // `text` is Rust's shortest round-trip `{:e}` form: "1.2345e-6", "0e0".
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits == b"0" {
        return Digits {
            digits: Vec::new(),
            point: 0,
        };
    }
    Digits {
        digits,
        point: exponent + 1,
    }
}

fn digits_of(f: f64, bits: u32) -> Digits {
    let text = if bits == 32 {
        format!("{:e}", (f as f32).abs())
    } else {
        format!("{:e}", f.abs())
    };
    shortest_digits(&text)
}

/// `%f` with `prec` digits after the point.
fn fmt_f(out: &mut String, d: &Digits, prec: i32) {
    if d.point > 0 {
        for i in 0..d.point {
            let digit = d.digits.get(i as usize).copied().unwrap_or(b'0');
            out.push(char::from(digit));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            let index = d.point + i - 1;
            let digit = if index >= 0 {
                d.digits.get(index as usize).copied().unwrap_or(b'0')
            } else {
                b'0'
            };
            out.push(char::from(digit));
        }
    }
}

/// `%e` with `prec` digits after the point.
fn fmt_e(out: &mut String, d: &Digits, prec: i32) {
    out.push(char::from(d.digits.first().copied().unwrap_or(b'0')));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(char::from(
                d.digits.get(i as usize).copied().unwrap_or(b'0'),
            ));
        }
    }
    out.push('e');
    let exp = if d.digits.is_empty() { 0 } else { d.point - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

/// Go's `strconv.FormatFloat(f, 'g', -1, bits)`.
pub(crate) fn format_float_g(f: f64, bits: u32) -> String {
    let value = if bits == 32 { f64::from(f as f32) } else { f };
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let mut out = String::new();
    if value.is_sign_negative() {
        out.push('-');
    }
    let d = digits_of(value, bits);
    let nd = d.digits.len() as i32;
    let exp = d.point - 1;
    if !(-4..6).contains(&exp) {
        fmt_e(&mut out, &d, (nd - 1).max(0));
    } else {
        fmt_f(&mut out, &d, (nd - d.point).max(0));
    }
    out
}

/// A float as Go's `encoding/json` writes it; `None` for NaN and infinities,
/// which Go refuses to encode.
pub(crate) fn json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    let abs = f.abs();
    let d = digits_of(abs, 64);
    let nd = d.digits.len() as i32;
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        fmt_e(&mut out, &d, (nd - 1).max(0));
        // Go writes e-07 as e-7.
        let bytes = out.as_bytes();
        let n = bytes.len();
        if n >= 4 && bytes[n - 4] == b'e' && bytes[n - 3] == b'-' && bytes[n - 2] == b'0' {
            out.remove(n - 2);
        }
    } else {
        fmt_f(&mut out, &d, (nd - d.point).max(0));
    }
    Some(out)
}

/// Appends `s` as a JSON string the way Go's `json.Marshal` writes it: HTML
/// characters escaped, `\b` and `\f` short forms, U+2028/U+2029 escaped.
pub(crate) fn json_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => {
                let b = c as u32 as u8;
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `strings.TrimSpace(s) != ""`.
pub(crate) fn has_non_space(s: &str) -> bool {
    !s.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go_formats_them() {
        assert_eq!(format_float_g(1.1, 32), "1.1");
        assert_eq!(format_float_g(1.0, 32), "1");
        assert_eq!(format_float_g(1.10, 64), "1.1");
        assert_eq!(format_float_g(1e6, 64), "1e+06");
        assert_eq!(format_float_g(123456.0, 64), "123456");
        assert_eq!(format_float_g(1234567.0, 64), "1.234567e+06");
        assert_eq!(format_float_g(0.0001, 64), "0.0001");
        assert_eq!(format_float_g(0.00001, 64), "1e-05");
        assert_eq!(format_float_g(0.0, 64), "0");
        assert_eq!(format_float_g(-2.5, 64), "-2.5");
        assert_eq!(format_float_g(1e21, 64), "1e+21");
        assert_eq!(format_float_g(1e100, 64), "1e+100");
        assert_eq!(format_float_g(f64::INFINITY, 32), "+Inf");
        assert_eq!(format_float_g(f64::NAN, 64), "NaN");
        // float32 precision: 0.1 has a short float32 form.
        assert_eq!(format_float_g(0.1, 32), "0.1");
        assert_eq!(format_float_g(1.234_567_89, 32), "1.2345679");
    }

    #[test]
    fn json_floats_as_go_writes_them() {
        assert_eq!(json_float(1.0).as_deref(), Some("1"));
        assert_eq!(json_float(1.5).as_deref(), Some("1.5"));
        assert_eq!(json_float(1e20).as_deref(), Some("100000000000000000000"));
        assert_eq!(json_float(1e21).as_deref(), Some("1e+21"));
        assert_eq!(json_float(0.000001).as_deref(), Some("0.000001"));
        assert_eq!(json_float(1e-7).as_deref(), Some("1e-7"));
        assert_eq!(json_float(-0.0).as_deref(), Some("-0"));
        assert_eq!(json_float(f64::NAN), None);
    }

    #[test]
    fn json_strings_as_go_writes_them() {
        let mut out = String::new();
        json_string(&mut out, "a<b>&\"\\\n\t\u{1}\u{8}\u{7f}\u{2028}é🚀");
        assert_eq!(
            out,
            "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\t\\u0001\\b\u{7f}\\u2028é🚀\""
        );
    }

    #[test]
    fn sanitising_keeps_printables_and_normalises_spaces() {
        assert_eq!(sanitize("a\tb\nc\u{a0}d"), "a b c d");
        // Zero-width joiner (Cf), a control character and private use are dropped.
        assert_eq!(sanitize("x\u{200d}y\u{1}z\u{e000}"), "xyz");
        assert_eq!(sanitize("ünï 🚀"), "ünï 🚀");
    }
}
