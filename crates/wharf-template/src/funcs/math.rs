//! Sprig math: int64 arithmetic with Sprig's loose conversions, float helpers,
//! `seq`, `until`, `untilStep`.
//!
//! `addf`, `subf` and `mulf` compute on the shortest decimal forms of their
//! operands like Sprig's decimal library (`addf 0.1 0.2` is `0.3`); `divf`
//! divides in float64.

use rand::Rng;

use super::convert::{to_float64, to_int64};
use super::{Ctx, FuncDef, Since, Ty, a, check_size, def, n, ok, ok_s, s};
use crate::data::{Data, RVal};

const V2: Since = Since::V2;
const V3: Since = Since::V3;

fn int(v: i64) -> Result<RVal, String> {
    ok(Data::Int(v))
}

fn float(v: f64) -> Result<RVal, String> {
    ok(Data::Float(v))
}

fn ints(x: &[RVal]) -> Vec<i64> {
    x.iter().map(|v| to_int64(&v.data())).collect()
}

fn floats(x: &[RVal]) -> Vec<f64> {
    x.iter().map(|v| to_float64(&v.data())).collect()
}

pub(crate) const FUNCS: &[FuncDef] = &[
    def("add1", &[Ty::Any], None, V2, |_, x| {
        int(to_int64(&a(&x, 0)).wrapping_add(1))
    }),
    def("add", &[], Some(Ty::Any), V2, |_, x| {
        int(ints(&x).into_iter().fold(0i64, i64::wrapping_add))
    }),
    def("sub", &[Ty::Any, Ty::Any], None, V2, |_, x| {
        let v = ints(&x);
        int(v[0].wrapping_sub(v[1]))
    }),
    def("div", &[Ty::Any, Ty::Any], None, V2, |_, x| {
        let v = ints(&x);
        if v[1] == 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        int(v[0].wrapping_div(v[1]))
    }),
    def("mod", &[Ty::Any, Ty::Any], None, V2, |_, x| {
        let v = ints(&x);
        if v[1] == 0 {
            return Err("runtime error: integer divide by zero".into());
        }
        int(v[0].wrapping_rem(v[1]))
    }),
    def("mul", &[Ty::Any], Some(Ty::Any), V2, |_, x| {
        int(ints(&x).into_iter().fold(1i64, i64::wrapping_mul))
    }),
    def("max", &[Ty::Any], Some(Ty::Any), V2, |_, x| {
        int(ints(&x).into_iter().fold(i64::MIN, i64::max))
    }),
    def("biggest", &[Ty::Any], Some(Ty::Any), V2, |_, x| {
        int(ints(&x).into_iter().fold(i64::MIN, i64::max))
    }),
    def("min", &[Ty::Any], Some(Ty::Any), V2, |_, x| {
        int(ints(&x).into_iter().fold(i64::MAX, i64::min))
    }),
    def("maxf", &[Ty::Any], Some(Ty::Any), V3, |_, x| {
        let v = floats(&x);
        float(v[1..].iter().fold(v[0], |m, b| go_max(m, *b)))
    }),
    def("minf", &[Ty::Any], Some(Ty::Any), V3, |_, x| {
        let v = floats(&x);
        float(v[1..].iter().fold(v[0], |m, b| go_min(m, *b)))
    }),
    def("ceil", &[Ty::Any], None, V2, |_, x| {
        float(to_float64(&a(&x, 0)).ceil())
    }),
    def("floor", &[Ty::Any], None, V2, |_, x| {
        float(to_float64(&a(&x, 0)).floor())
    }),
    def("round", &[Ty::Any, Ty::Int], Some(Ty::Float), V2, round),
    def("add1f", &[Ty::Any], None, V3, |_, x| {
        float(dec_fold(to_float64(&a(&x, 0)), &[1.0], Op::Add))
    }),
    def("addf", &[], Some(Ty::Any), V3, |_, x| {
        float(dec_fold(0.0, &floats(&x), Op::Add))
    }),
    def("subf", &[Ty::Any], Some(Ty::Any), V3, |_, x| {
        let v = floats(&x);
        float(dec_fold(v[0], &v[1..], Op::Sub))
    }),
    def("mulf", &[Ty::Any], Some(Ty::Any), V3, |_, x| {
        let v = floats(&x);
        float(dec_fold(v[0], &v[1..], Op::Mul))
    }),
    def("divf", &[Ty::Any], Some(Ty::Any), V3, |_, x| {
        let v = floats(&x);
        let mut acc = v[0];
        for d in &v[1..] {
            if *d == 0.0 {
                return Err("decimal division by 0".into());
            }
            acc /= d;
        }
        float(acc)
    }),
    def("int", &[Ty::Any], None, V2, |_, x| int(to_int64(&a(&x, 0)))),
    def("int64", &[Ty::Any], None, V2, |_, x| {
        int(to_int64(&a(&x, 0)))
    }),
    def("float64", &[Ty::Any], None, V2, |_, x| {
        float(to_float64(&a(&x, 0)))
    }),
    def("atoi", &[Ty::Str], None, V2, |_, x| int(atoi(&s(&x, 0)))),
    def("toDecimal", &[Ty::Any], None, V2, |_, x| {
        let v = crate::format::fmt_v(&a(&x, 0));
        int(i64::from_str_radix(&v, 8).unwrap_or(0))
    }),
    def("randInt", &[Ty::Int, Ty::Int], None, V3, |_, x| {
        let (lo, hi) = (n(&x, 0), n(&x, 1));
        if hi <= lo {
            return Err("invalid argument to Intn".into());
        }
        int(rand::rng().random_range(lo..hi))
    }),
    def("until", &[Ty::Int], None, V2, |_, x| {
        let c = n(&x, 0);
        list_ints(until_step(0, c, if c < 0 { -1 } else { 1 })?)
    }),
    def(
        "untilStep",
        &[Ty::Int, Ty::Int, Ty::Int],
        None,
        V2,
        |_, x| list_ints(until_step(n(&x, 0), n(&x, 1), n(&x, 2))?),
    ),
    def("seq", &[], Some(Ty::Int), V3, seq),
];

fn list_ints(v: Vec<i64>) -> Result<RVal, String> {
    ok(Data::list(v.into_iter().map(Data::Int).collect()))
}

fn go_max(x: f64, y: f64) -> f64 {
    if x.is_infinite() && x > 0.0 || y.is_infinite() && y > 0.0 {
        return f64::INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    x.max(y)
}

fn go_min(x: f64, y: f64) -> f64 {
    if x.is_infinite() && x < 0.0 || y.is_infinite() && y < 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    x.min(y)
}

/// Sprig's `untilStep`, capped in size.
pub(crate) fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    let count: i128 = if stop < start {
        if step >= 0 {
            return Ok(Vec::new());
        }
        (start as i128 - stop as i128 + (-step as i128) - 1) / -(step as i128)
    } else {
        if step <= 0 {
            return Ok(Vec::new());
        }
        (stop as i128 - start as i128 + step as i128 - 1) / step as i128
    };
    check_size(count.max(0) as u128, "until")?;
    let mut v = Vec::with_capacity(count.max(0) as usize);
    let mut i = start as i128;
    for _ in 0..count {
        v.push(i as i64);
        i += step as i128;
    }
    Ok(v)
}

fn seq(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let p: Vec<i64> = (0..x.len()).map(|i| n(&x, i)).collect();
    let v = match p.as_slice() {
        [end] => {
            let inc = if *end < 1 { -1 } else { 1 };
            until_step(1, end.saturating_add(inc), inc)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step(*start, end.saturating_add(step), step)?
        }
        [start, step, end] => {
            let inc = if end < start {
                if *step > 0 {
                    return ok_s("");
                }
                -1
            } else {
                1
            };
            until_step(*start, end.saturating_add(inc), *step)?
        }
        _ => return ok_s(""),
    };
    let parts: Vec<String> = v.iter().map(i64::to_string).collect();
    ok_s(parts.join(" "))
}

fn round(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let val = to_float64(&a(&x, 0));
    let places = n(&x, 1) as f64;
    let round_on = match x.get(2).map(RVal::data) {
        Some(Data::Float(f)) => f,
        _ => 0.5,
    };
    let pow = 10f64.powf(places);
    let digit = pow * val;
    let frac = digit.fract();
    let r = if frac >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    float(r / pow)
}

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
}

/// A float's shortest decimal form as mantissa × 10^exp.
fn decimal(f: f64) -> Option<(i128, i32)> {
    if !f.is_finite() {
        return None;
    }
    if f == 0.0 {
        return Some((0, 0));
    }
    let s = format!("{f:e}");
    let (m, e) = s.split_once('e')?;
    let e: i32 = e.parse().ok()?;
    let neg = m.starts_with('-');
    let m = m.trim_start_matches('-');
    let (ip, fp) = m.split_once('.').unwrap_or((m, ""));
    let digits: i128 = format!("{ip}{fp}").parse().ok()?;
    Some((if neg { -digits } else { digits }, e - fp.len() as i32))
}

fn dec_op(x: f64, y: f64, op: Op) -> f64 {
    let fallback = match op {
        Op::Add => x + y,
        Op::Sub => x - y,
        Op::Mul => x * y,
    };
    let (Some((m1, e1)), Some((m2, e2))) = (decimal(x), decimal(y)) else {
        return fallback;
    };
    let result = match op {
        Op::Mul => m1.checked_mul(m2).map(|m| (m, e1 + e2)),
        Op::Add | Op::Sub => {
            let e = e1.min(e2);
            let scale = |m: i128, from: i32| -> Option<i128> {
                let d = u32::try_from(from - e).ok()?;
                m.checked_mul(10i128.checked_pow(d)?)
            };
            match (scale(m1, e1), scale(m2, e2)) {
                (Some(a), Some(b)) => match op {
                    Op::Add => a.checked_add(b),
                    _ => a.checked_sub(b),
                }
                .map(|m| (m, e)),
                _ => None,
            }
        }
    };
    match result {
        Some((m, e)) => format!("{m}e{e}").parse().unwrap_or(fallback),
        None => fallback,
    }
}

fn dec_fold(init: f64, rest: &[f64], op: Op) -> f64 {
    rest.iter().fold(init, |acc, v| dec_op(acc, *v, op))
}

/// Sprig's `atoi`: Go's `strconv.Atoi` with its error ignored: an optional sign and
/// decimal digits; out of range saturates (Go returns the bound with the error);
/// anything else is 0.
fn atoi(v: &str) -> i64 {
    let (negative, digits) = match v.as_bytes().first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    match v.parse::<i64>() {
        Ok(n) => n,
        Err(_) if negative => i64::MIN,
        Err(_) => i64::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(dec_fold(0.0, &[0.1, 0.2], Op::Add), 0.3);
        assert_eq!(dec_fold(1.1, &[3.0], Op::Mul), 3.3);
        assert_eq!(dec_fold(1.5, &[0.25], Op::Sub), 1.25);
        assert_eq!(until_step(0, 5, 2).expect("ok"), vec![0, 2, 4]);
        assert_eq!(until_step(5, 0, -2).expect("ok"), vec![5, 3, 1]);
        assert!(until_step(0, i64::MAX, 1).is_err());
    }
}
