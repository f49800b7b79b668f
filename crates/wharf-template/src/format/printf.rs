//! Go's `fmt.Sprintf` verb engine: flags, width, precision, argument indexes and
//! the `%!verb(type=value)` error forms.

use super::float::format_float;
use super::{Flags, bad_verb, pad, print_arg, quote_with};
use crate::data::Data;

/// Widths and precisions above this are treated as bad, as Go's `tooLarge`.
const TOO_LARGE: usize = 1_000_000;

/// Go's `fmt.Sprintf(format, args...)`.
pub(crate) fn sprintf(format: &str, args: &[Data]) -> String {
    let b = format.as_bytes();
    let end = b.len();
    let mut out = String::new();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut i = 0usize;
    while i < end {
        let mut good_arg_num = true;
        let last = i;
        while i < end && b[i] != b'%' {
            i += 1;
        }
        if i > last {
            out.push_str(&format[last..i]);
        }
        if i >= end {
            break;
        }
        i += 1;
        let mut f = Flags::default();
        while i < end {
            match b[i] {
                b'#' => f.sharp = true,
                b'0' => f.zero = !f.minus,
                b'+' => f.plus = true,
                b'-' => {
                    f.minus = true;
                    f.zero = false;
                }
                b' ' => f.space = true,
                _ => break,
            }
            i += 1;
        }
        // argument index
        let mut after_index;
        (arg_num, i, after_index) = arg_number(
            arg_num,
            format,
            i,
            args.len(),
            &mut reordered,
            &mut good_arg_num,
        );
        // width
        if i < end && b[i] == b'*' {
            i += 1;
            let (n, ok, na) = int_from_arg(args, arg_num);
            arg_num = na;
            if !ok {
                out.push_str("%!(BADWIDTH)");
            } else if n < 0 {
                f.wid = Some(n.unsigned_abs() as usize);
                f.minus = true;
                f.zero = false;
            } else {
                f.wid = Some(n as usize);
            }
            after_index = false;
        } else {
            let (n, ok, ni) = parse_num(b, i, end);
            i = ni;
            if ok {
                f.wid = Some(n);
                if after_index {
                    good_arg_num = false;
                }
            }
        }
        // precision
        if i + 1 < end && b[i] == b'.' {
            i += 1;
            if after_index {
                good_arg_num = false;
            }
            (arg_num, i, after_index) = arg_number(
                arg_num,
                format,
                i,
                args.len(),
                &mut reordered,
                &mut good_arg_num,
            );
            if i < end && b[i] == b'*' {
                i += 1;
                let (n, ok, na) = int_from_arg(args, arg_num);
                arg_num = na;
                if !ok || n < 0 {
                    if !ok {
                        out.push_str("%!(BADPREC)");
                    }
                    f.prec = None;
                } else {
                    f.prec = Some(n as usize);
                }
                after_index = false;
            } else {
                let (n, ok, ni) = parse_num(b, i, end);
                i = ni;
                f.prec = Some(if ok { n } else { 0 });
            }
        }
        if !after_index {
            (arg_num, i, _) = arg_number(
                arg_num,
                format,
                i,
                args.len(),
                &mut reordered,
                &mut good_arg_num,
            );
        }
        if i >= end {
            out.push_str("%!(NOVERB)");
            break;
        }
        let verb = format[i..].chars().next().unwrap_or('?');
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
        } else if !good_arg_num {
            out.push_str(&format!("%!{verb}(BADINDEX)"));
        } else if arg_num >= args.len() {
            out.push_str(&format!("%!{verb}(MISSING)"));
        } else {
            if verb == 'v' {
                f.sharp_v = f.sharp;
                f.sharp = false;
                f.plus = false;
            }
            print_arg(&mut out, &args[arg_num], verb, f, 0);
            arg_num += 1;
        }
    }
    if !reordered && arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            if matches!(a, Data::Nil) {
                out.push_str("<nil>");
            } else {
                out.push_str(a.type_name());
                out.push('=');
                print_arg(&mut out, a, 'v', Flags::default(), 0);
            }
        }
        out.push(')');
    }
    out
}

fn parse_num(b: &[u8], start: usize, end: usize) -> (usize, bool, usize) {
    let mut n = 0usize;
    let mut ok = false;
    let mut i = start;
    while i < end && b[i].is_ascii_digit() {
        if n > TOO_LARGE {
            return (0, false, end);
        }
        n = n * 10 + (b[i] - b'0') as usize;
        ok = true;
        i += 1;
    }
    (n, ok, i)
}

fn arg_number(
    arg_num: usize,
    format: &str,
    i: usize,
    num_args: usize,
    reordered: &mut bool,
    good: &mut bool,
) -> (usize, usize, bool) {
    let b = format.as_bytes();
    if i >= b.len() || b[i] != b'[' {
        return (arg_num, i, false);
    }
    *reordered = true;
    let rest = &b[i..];
    if rest.len() < 3 {
        *good = false;
        return (arg_num, i + 1, false);
    }
    for j in 1..rest.len() {
        if rest[j] == b']' {
            let (n, ok, ni) = parse_num(rest, 1, j);
            if !ok || ni != j {
                *good = false;
                return (arg_num, i + j + 1, false);
            }
            if n >= 1 && n - 1 < num_args {
                return (n - 1, i + j + 1, true);
            }
            *good = false;
            return (arg_num, i + j + 1, true);
        }
    }
    *good = false;
    (arg_num, i + 1, false)
}

fn int_from_arg(args: &[Data], arg_num: usize) -> (i64, bool, usize) {
    if arg_num >= args.len() {
        return (0, false, arg_num);
    }
    match &args[arg_num] {
        Data::Int(n) if n.unsigned_abs() <= TOO_LARGE as u64 => (*n, true, arg_num + 1),
        _ => (0, false, arg_num + 1),
    }
}

/// Integer verbs.
pub(crate) fn fmt_integer(out: &mut String, v: i64, verb: char, f: Flags, orig: &Data) {
    fmt_magnitude(out, v < 0, v.unsigned_abs(), verb, f, orig);
}

/// A `uint64` as Go's fmt prints it.
pub(crate) fn fmt_unsigned(out: &mut String, v: u64, verb: char, f: Flags, orig: &Data) {
    fmt_magnitude(out, false, v, verb, f, orig);
}

/// An integer given by its sign and magnitude.
fn fmt_magnitude(out: &mut String, negative: bool, u: u64, verb: char, f: Flags, orig: &Data) {
    // The value's bits, as Go's %U shows a negative int (two's complement).
    let bits = if negative { u.wrapping_neg() } else { u };
    let code = if negative {
        None
    } else {
        u32::try_from(u).ok()
    };
    let (base, upper) = match verb {
        'v' | 'd' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        'c' => {
            let c = code.and_then(char::from_u32).unwrap_or('\u{FFFD}');
            pad(out, &c.to_string(), f);
            return;
        }
        'q' => {
            let c = code.and_then(char::from_u32).unwrap_or('\u{FFFD}');
            let s = if f.sharp && super::is_print(c) && c != '\'' {
                format!("'{c}'")
            } else {
                quote_with(&c.to_string(), '\'', f.plus)
            };
            pad(out, &s, f);
            return;
        }
        'U' => {
            let mut s = format!("U+{bits:04X}");
            if f.sharp
                && let Some(c) = code.and_then(char::from_u32)
                && super::is_print(c)
            {
                s.push_str(&format!(" '{c}'"));
            }
            pad(out, &s, f);
            return;
        }
        _ => {
            bad_verb(out, orig, verb);
            return;
        }
    };
    if let Some(0) = f.prec
        && u == 0
    {
        let mut g = f;
        g.zero = false;
        pad(out, "", g);
        return;
    }
    let mut digits = match base {
        2 => format!("{u:b}"),
        8 => format!("{u:o}"),
        16 if upper => format!("{u:X}"),
        16 => format!("{u:x}"),
        _ => u.to_string(),
    };
    let mut prec = 0usize;
    if let Some(p) = f.prec {
        prec = p;
    } else if f.zero
        && !f.minus
        && let Some(w) = f.wid
    {
        prec = w;
        if negative || f.plus || f.space {
            prec = prec.saturating_sub(1);
        }
    }
    if digits.len() < prec {
        digits = "0".repeat(prec - digits.len()) + &digits;
    }
    let mut prefix = String::new();
    if f.sharp {
        match base {
            2 => prefix.push_str("0b"),
            8 if !digits.starts_with('0') => prefix.push('0'),
            16 => prefix.push_str(if upper { "0X" } else { "0x" }),
            _ => {}
        }
    }
    if verb == 'O' {
        prefix = format!("0o{prefix}");
    }
    let sign = if negative {
        "-"
    } else if f.plus {
        "+"
    } else if f.space {
        " "
    } else {
        ""
    };
    let s = format!("{sign}{prefix}{digits}");
    let mut g = f;
    g.zero = false;
    pad(out, &s, g);
}

/// Float verbs.
pub(crate) fn fmt_float(out: &mut String, v: f64, verb: char, f: Flags, orig: &Data) {
    let (fmtc, default_prec) = match verb {
        'v' => ('g', -1),
        'g' | 'G' => (verb, -1),
        'e' | 'E' => (verb, 6),
        'f' | 'F' => ('f', 6),
        'x' | 'X' => {
            let s = hex_float(v, verb == 'X');
            let s = if f.plus && !s.starts_with('-') {
                format!("+{s}")
            } else {
                s
            };
            pad(out, &s, f);
            return;
        }
        _ => {
            bad_verb(out, orig, verb);
            return;
        }
    };
    let prec = f.prec.map(|p| p as i32).unwrap_or(default_prec);
    let num = format_float(v, fmtc, prec);
    let (sign, body) = match num.strip_prefix('-') {
        Some(rest) => ("-", rest.to_string()),
        None => match num.strip_prefix('+') {
            Some(rest) => ("+", rest.to_string()),
            None => ("+", num.clone()),
        },
    };
    let sign = if sign == "+" && f.space && !f.plus {
        " "
    } else {
        sign
    };
    if body == "Inf" || body == "NaN" {
        let mut g = f;
        g.zero = false;
        let s = if body == "NaN" && !f.space && !f.plus {
            body
        } else {
            format!("{sign}{body}")
        };
        pad(out, &s, g);
        return;
    }
    if f.plus || sign != "+" {
        let s = format!("{sign}{body}");
        if let Some(w) = f.wid
            && f.zero
            && !f.minus
            && w > s.len()
        {
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', w - s.len()));
            out.push_str(&body);
            return;
        }
        pad(out, &s, f);
        return;
    }
    pad(out, &body, f);
}

fn hex_float(v: f64, upper: bool) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let neg = v.is_sign_negative();
    let bits = v.abs().to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    let s = if exp == 0 && mant == 0 {
        "0x0p+00".to_string()
    } else {
        if exp == 0 {
            // subnormal: normalise
            exp = 1;
            while mant & (1u64 << 52) == 0 {
                mant <<= 1;
                exp -= 1;
            }
            mant &= (1u64 << 52) - 1;
        }
        let e = exp - 1023;
        let mut h = format!("{mant:013x}");
        while h.ends_with('0') {
            h.pop();
        }
        let frac = if h.is_empty() {
            String::new()
        } else {
            format!(".{h}")
        };
        let es = if e < 0 { '-' } else { '+' };
        format!("0x1{frac}p{es}{:02}", e.unsigned_abs())
    };
    let s = if neg { format!("-{s}") } else { s };
    if upper { s.to_uppercase() } else { s }
}

/// String verbs.
pub(crate) fn fmt_string(out: &mut String, s: &str, verb: char, f: Flags, orig: &Data) {
    let truncated: String = match f.prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    };
    match verb {
        'v' if f.sharp_v => pad(out, &quote_with(&truncated, '"', false), f),
        'v' | 's' => pad(out, &truncated, f),
        'q' => {
            let q = if f.sharp && !truncated.contains('`') && can_backquote(&truncated) {
                format!("`{truncated}`")
            } else {
                quote_with(&truncated, '"', f.plus)
            };
            pad(out, &q, f);
        }
        'x' | 'X' => {
            let bytes = s.as_bytes();
            let len = f.prec.map(|p| p.min(bytes.len())).unwrap_or(bytes.len());
            let digits: &[u8; 16] = if verb == 'x' {
                b"0123456789abcdef"
            } else {
                b"0123456789ABCDEF"
            };
            let mut width = 2 * len;
            if width == 0 {
                if let Some(w) = f.wid {
                    out.extend(std::iter::repeat_n(' ', w));
                }
                return;
            }
            if f.space {
                if f.sharp {
                    width *= 2;
                }
                width += len - 1;
            } else if f.sharp {
                width += 2;
            }
            let padding = f.wid.filter(|w| *w > width).map(|w| w - width);
            if let (Some(p), false) = (padding, f.minus) {
                out.extend(std::iter::repeat_n(' ', p));
            }
            let x = if verb == 'x' { 'x' } else { 'X' };
            if f.sharp {
                out.push('0');
                out.push(x);
            }
            for (i, c) in bytes[..len].iter().enumerate() {
                if f.space && i > 0 {
                    out.push(' ');
                    if f.sharp {
                        out.push('0');
                        out.push(x);
                    }
                }
                out.push(digits[(c >> 4) as usize] as char);
                out.push(digits[(c & 15) as usize] as char);
            }
            if let (Some(p), true) = (padding, f.minus) {
                out.extend(std::iter::repeat_n(' ', p));
            }
        }
        _ => bad_verb(out, orig, verb),
    }
}

fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !c.is_control()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sf(f: &str, a: &[Data]) -> String {
        sprintf(f, a)
    }

    #[test]
    fn verbs() {
        assert_eq!(
            sf(
                "%d|%5d|%-5d|%05d",
                &[Data::Int(42), Data::Int(42), Data::Int(42), Data::Int(-42)]
            ),
            "42|   42|42   |-0042"
        );
        assert_eq!(
            sf(
                "%x %X %o %b %#x %O",
                &[
                    Data::Int(255),
                    Data::Int(255),
                    Data::Int(8),
                    Data::Int(5),
                    Data::Int(255),
                    Data::Int(8)
                ]
            ),
            "ff FF 10 101 0xff 0o10"
        );
        assert_eq!(
            sf(
                "%s|%10s|%-4s|%.2s",
                &[
                    Data::str("hi"),
                    Data::str("hi"),
                    Data::str("hi"),
                    Data::str("hello")
                ]
            ),
            "hi|        hi|hi  |he"
        );
        assert_eq!(
            sf(
                "%q %v %t",
                &[Data::str("a\"b"), Data::Bool(true), Data::Bool(false)]
            ),
            "\"a\\\"b\" true false"
        );
        assert_eq!(
            sf(
                "%.2f %e %g %8.3f",
                &[
                    Data::Float(2.34567),
                    Data::Float(1234.5678),
                    Data::Float(0.5),
                    Data::Float(2.0)
                ]
            ),
            "2.35 1.234568e+03 0.5    2.000"
        );
        assert_eq!(
            sf("%c%c %U", &[Data::Int(72), Data::Int(105), Data::Int(65)]),
            "Hi U+0041"
        );
        assert_eq!(
            sf(
                "%+d % d %+.1f",
                &[Data::Int(5), Data::Int(5), Data::Float(1.25)]
            ),
            "+5  5 +1.2"
        );
        assert_eq!(
            sf("%T %T %T", &[Data::Int(1), Data::str("s"), Data::Nil]),
            "int string <nil>"
        );
        assert_eq!(sf("100%%", &[]), "100%");
        assert_eq!(
            sf(
                "%x % x %#x",
                &[Data::str("hi"), Data::str("hi"), Data::str("hi")]
            ),
            "6869 68 69 0x6869"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(sf("%d", &[Data::str("x")]), "%!d(string=x)");
        assert_eq!(sf("%s", &[Data::Int(1)]), "%!s(int=1)");
        assert_eq!(sf("%d %d", &[Data::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            sf("%d", &[Data::Int(1), Data::str("a")]),
            "1%!(EXTRA string=a)"
        );
        assert_eq!(sf("%", &[]), "%!(NOVERB)");
        assert_eq!(sf("%z", &[Data::Int(1)]), "%!z(int=1)");
        assert_eq!(sf("%s", &[Data::Nil]), "%!s(<nil>)");
        assert_eq!(sf("%v", &[Data::Nil]), "<nil>");
        assert_eq!(sf("%[2]d %[1]d", &[Data::Int(1), Data::Int(2)]), "2 1");
        assert_eq!(sf("%*d", &[Data::Int(4), Data::Int(7)]), "   7");
        assert_eq!(sf("%[3]d", &[Data::Int(1)]), "%!d(BADINDEX)");
        assert_eq!(
            sf("%d", &[Data::list(vec![Data::Int(1), Data::str("a")])]),
            "[1 %!d(string=a)]"
        );
    }
}
