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

pub(crate) use wharf_template::go::json_float;

/// Go's `strconv.FormatFloat(f, 'g', -1, bits)`.
pub(crate) fn format_float_g(f: f64, bits: u32) -> String {
    wharf_template::go::format_float(f, 'g', -1, bits)
}

/// Appends `s` as Go's `json.Marshal` writes it (HTML characters escaped).
pub(crate) fn json_string(out: &mut String, s: &str) {
    wharf_template::go::json_string(out, s, true);
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
