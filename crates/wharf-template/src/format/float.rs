//! Go's `strconv.FormatFloat` for the `e`, `f` and `g` formats.
//!
//! Shortest digits come from Rust's round-trip formatting (the same digits as
//! Go's shortest algorithm); fixed precision rounds the exact binary value
//! half-to-even, as Go does.

/// Decimal digits `d` and decimal point position `dp`: value = 0.d1d2d3... × 10^dp.
#[derive(Debug, Clone)]
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

/// The shortest digits that round-trip `f` as a float of `bits` (32 or 64; f
/// finite, sign ignored).
fn shortest(f: f64, bits: u32) -> Digits {
    let f = f.abs();
    if f == 0.0 {
        return Digits { d: vec![], dp: 0 };
    }
    let s = if bits == 32 {
        format!("{:e}", f as f32)
    } else {
        format!("{f:e}")
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    let mut digits = Digits { d, dp: exp + 1 };
    trim_zeros(&mut digits);
    digits
}

fn trim_zeros(d: &mut Digits) {
    while d.d.last() == Some(&b'0') {
        d.d.pop();
    }
    if d.d.is_empty() {
        d.dp = 0;
    }
}

/// The exact decimal expansion of finite `f` (sign ignored).
fn exact(f: f64) -> Digits {
    let f = f.abs();
    if f == 0.0 {
        return Digits { d: vec![], dp: 0 };
    }
    let bits = f.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (mant, exp2) = if exp_bits == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp_bits - 1075)
    };
    // value = mant * 2^exp2. Big integer as little-endian base 1e9 limbs.
    let mut limbs: Vec<u64> = vec![mant % 1_000_000_000, mant / 1_000_000_000];
    let mut dp_shift = 0i32;
    if exp2 >= 0 {
        for _ in 0..exp2 {
            mul_small(&mut limbs, 2);
        }
    } else {
        // mant * 2^-k = mant * 5^k / 10^k
        let k = -exp2;
        for _ in 0..k {
            mul_small(&mut limbs, 5);
        }
        dp_shift = -k;
    }
    while limbs.len() > 1 && limbs.last() == Some(&0) {
        limbs.pop();
    }
    let mut s = String::new();
    if let Some(top) = limbs.last() {
        s.push_str(&top.to_string());
    }
    for l in limbs.iter().rev().skip(1) {
        s.push_str(&format!("{l:09}"));
    }
    let d: Vec<u8> = s.bytes().collect();
    let mut digits = Digits {
        dp: d.len() as i32 + dp_shift,
        d,
    };
    // strip leading zeros (none expected) and trailing zeros
    while digits.d.first() == Some(&b'0') {
        digits.d.remove(0);
        digits.dp -= 1;
    }
    trim_zeros(&mut digits);
    digits
}

fn mul_small(limbs: &mut Vec<u64>, m: u64) {
    let mut carry = 0u64;
    for l in limbs.iter_mut() {
        let v = *l * m + carry;
        *l = v % 1_000_000_000;
        carry = v / 1_000_000_000;
    }
    if carry > 0 {
        limbs.push(carry);
    }
}

/// Rounds to `nd` digits total, half to even on the exact expansion.
fn round_to(d: &mut Digits, nd: i32) {
    if nd < 0 {
        d.d.clear();
        d.dp = 0;
        return;
    }
    let nd = nd as usize;
    if nd >= d.d.len() {
        return;
    }
    let up = match d.d[nd] {
        b'5' if nd + 1 == d.d.len() => nd > 0 && (d.d[nd - 1] - b'0') % 2 == 1,
        c => c >= b'5',
    };
    d.d.truncate(nd);
    if up {
        let mut i = nd;
        loop {
            if i == 0 {
                d.d.insert(0, b'1');
                d.dp += 1;
                break;
            }
            i -= 1;
            if d.d[i] == b'9' {
                d.d[i] = b'0';
            } else {
                d.d[i] += 1;
                break;
            }
        }
    }
    trim_zeros(d);
}

fn digit(d: &Digits, i: i32) -> u8 {
    if i >= 0 && (i as usize) < d.d.len() {
        d.d[i as usize]
    } else {
        b'0'
    }
}

fn fmt_e(d: &Digits, prec: i32, upper: bool) -> String {
    let mut s = String::new();
    s.push(digit(d, 0) as char);
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(digit(d, i) as char);
        }
    }
    s.push(if upper { 'E' } else { 'e' });
    let exp = if d.d.is_empty() { 0 } else { d.dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        s.push('0');
    }
    s.push_str(&e.to_string());
    s
}

fn fmt_f(d: &Digits, prec: i32) -> String {
    let mut s = String::new();
    if d.dp > 0 {
        for i in 0..d.dp {
            s.push(digit(d, i) as char);
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 0..prec {
            s.push(digit(d, d.dp + i) as char);
        }
    }
    s
}

/// `strconv.FormatFloat(f, fmt, prec, 64)` for fmt in `e E f g G`; prec -1 = shortest.
pub(crate) fn format_float(f: f64, fmt: char, prec: i32) -> String {
    format_float_bits(f, fmt, prec, 64)
}

/// `strconv.FormatFloat(f, fmt, prec, bits)`: with `bits` 32, `f` is first rounded
/// to a float32 and the shortest form is the float32's.
pub(crate) fn format_float_bits(f: f64, fmt: char, prec: i32, bits: u32) -> String {
    let f = if bits == 32 { f64::from(f as f32) } else { f };
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let neg = f.is_sign_negative();
    let shortest_mode = prec < 0;
    let mut digs;
    let mut prec = prec;
    if shortest_mode {
        digs = shortest(f, bits);
        prec = match fmt {
            'e' | 'E' => digs.d.len() as i32 - 1,
            'f' => (digs.d.len() as i32 - digs.dp).max(0),
            _ => digs.d.len() as i32,
        };
    } else {
        digs = exact(f);
        match fmt {
            'e' | 'E' => round_to(&mut digs, prec + 1),
            'f' => {
                let nd = digs.dp + prec;
                round_to(&mut digs, nd)
            }
            _ => {
                if prec == 0 {
                    prec = 1;
                }
                round_to(&mut digs, prec)
            }
        }
    }
    let body = match fmt {
        'e' | 'E' => fmt_e(&digs, prec.max(0), fmt == 'E'),
        'f' => fmt_f(&digs, prec.max(0)),
        _ => {
            let nd = digs.d.len() as i32;
            let mut eprec = prec;
            if eprec > nd && nd >= digs.dp {
                eprec = nd;
            }
            if shortest_mode {
                eprec = 6;
            }
            let exp = if nd == 0 { 0 } else { digs.dp - 1 };
            if exp < -4 || exp >= eprec {
                let p = if prec > nd { nd } else { prec };
                fmt_e(&digs, (p - 1).max(0), fmt == 'G')
            } else {
                let p = if prec > digs.dp { nd } else { prec };
                fmt_f(&digs, (p - digs.dp).max(0))
            }
        }
    };
    if neg { format!("-{body}") } else { body }
}

#[cfg(test)]
mod tests {
    use super::format_float as ff;

    #[test]
    fn shortest_g() {
        assert_eq!(ff(1.5, 'g', -1), "1.5");
        assert_eq!(ff(1e6, 'g', -1), "1e+06");
        assert_eq!(ff(100000.0, 'g', -1), "100000");
        assert_eq!(ff(123456789.0, 'g', -1), "1.23456789e+08");
        assert_eq!(ff(0.0001, 'g', -1), "0.0001");
        assert_eq!(ff(0.00001, 'g', -1), "1e-05");
        assert_eq!(ff(0.0, 'g', -1), "0");
        assert_eq!(ff(-2.0, 'g', -1), "-2");
        assert_eq!(ff(1e21, 'g', -1), "1e+21");
        assert_eq!(ff(3.0, 'g', -1), "3");
    }

    #[test]
    fn fixed() {
        assert_eq!(ff(2.34567, 'f', 2), "2.35");
        assert_eq!(ff(0.125, 'f', 2), "0.12");
        assert_eq!(ff(0.375, 'f', 2), "0.38");
        assert_eq!(ff(2.5, 'f', 0), "2");
        assert_eq!(ff(1.0, 'f', 6), "1.000000");
        assert_eq!(ff(1234.5678, 'e', 3), "1.235e+03");
        assert_eq!(ff(0.0, 'e', 2), "0.00e+00");
        assert_eq!(ff(1.5, 'e', -1), "1.5e+00");
        assert_eq!(ff(1.0 / 3.0, 'g', 3), "0.333");
        assert_eq!(ff(1e-7, 'f', -1), "0.0000001");
        assert_eq!(ff(999.99, 'f', 1), "1000.0");
        assert_eq!(ff(5e-324, 'e', 3), "4.941e-324");
    }
}
