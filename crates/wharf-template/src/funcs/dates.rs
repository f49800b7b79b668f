//! Sprig date functions over Go layouts. `now` is [`Options::now`]; the "Local"
//! zone is UTC.
//!
//! [`Options::now`]: crate::Options::now

use std::rc::Rc;

use jiff::Zoned;
use jiff::tz::TimeZone;

use super::{Ctx, FuncDef, Since, Ty, a, def, ok, ok_s, s};
use crate::data::{Data, RVal};
use crate::duration::{duration_string, parse_duration};
use crate::time_layout;

const V2: Since = Since::V2;
const V3: Since = Since::V3;

pub(crate) const FUNCS: &[FuncDef] = &[
    def("now", &[], None, V2, |c, _| {
        ok(Data::Time(Rc::new(c.opts.now.clone())))
    }),
    def("date", &[Ty::Str, Ty::Any], None, V2, |c, x| {
        ok_s(date_in_zone(c, &s(&x, 0), &a(&x, 1), "Local")?)
    }),
    def(
        "dateInZone",
        &[Ty::Str, Ty::Any, Ty::Str],
        None,
        V2,
        |c, x| ok_s(date_in_zone(c, &s(&x, 0), &a(&x, 1), &s(&x, 2))?),
    ),
    def(
        "date_in_zone",
        &[Ty::Str, Ty::Any, Ty::Str],
        None,
        V2,
        |c, x| ok_s(date_in_zone(c, &s(&x, 0), &a(&x, 1), &s(&x, 2))?),
    ),
    def("htmlDate", &[Ty::Any], None, V2, |c, x| {
        ok_s(date_in_zone(c, "2006-01-02", &a(&x, 0), "Local")?)
    }),
    def("htmlDateInZone", &[Ty::Any, Ty::Str], None, V2, |c, x| {
        ok_s(date_in_zone(c, "2006-01-02", &a(&x, 0), &s(&x, 1))?)
    }),
    def("dateModify", &[Ty::Str, Ty::Time], None, V2, |_, x| {
        date_modify(x, false)
    }),
    def("date_modify", &[Ty::Str, Ty::Time], None, V2, |_, x| {
        date_modify(x, false)
    }),
    def("mustDateModify", &[Ty::Str, Ty::Time], None, V3, |_, x| {
        date_modify(x, true)
    }),
    def(
        "must_date_modify",
        &[Ty::Str, Ty::Time],
        None,
        V3,
        |_, x| date_modify(x, true),
    ),
    def("ago", &[Ty::Any], None, V2, ago),
    def("toDate", &[Ty::Str, Ty::Str], None, V2, |_, x| {
        let t =
            time_layout::parse(&s(&x, 0), &s(&x, 1)).unwrap_or_else(|_| time_layout::zero_time());
        ok(Data::Time(Rc::new(t)))
    }),
    def("mustToDate", &[Ty::Str, Ty::Str], None, V3, |_, x| {
        ok(Data::Time(Rc::new(time_layout::parse(
            &s(&x, 0),
            &s(&x, 1),
        )?)))
    }),
    def("unixEpoch", &[Ty::Time], None, V2, |_, x| match a(&x, 0) {
        Data::Time(z) => ok_s(z.timestamp().as_second().to_string()),
        _ => ok_s("0"),
    }),
    def("duration", &[Ty::Any], None, V3, |_, x| {
        let secs = match a(&x, 0) {
            Data::Str(v) => v.parse::<i64>().unwrap_or(0),
            Data::Int(i) => i,
            _ => 0,
        };
        ok_s(duration_string(secs.wrapping_mul(1_000_000_000)))
    }),
    def("durationRound", &[Ty::Any], None, V3, duration_round),
];

/// The time a Sprig date argument stands for (anything else is "now").
fn time_of(c: &Ctx<'_>, v: &Data) -> Result<Zoned, String> {
    match v {
        Data::Time(z) => Ok((**z).clone()),
        Data::Int(sec) => jiff::Timestamp::from_second(*sec)
            .map(|t| t.to_zoned(TimeZone::UTC))
            .map_err(|e| e.to_string()),
        _ => Ok(c.opts.now.clone()),
    }
}

fn zone(name: &str) -> TimeZone {
    match name {
        "" | "UTC" | "Local" => TimeZone::UTC,
        n => TimeZone::get(n).unwrap_or(TimeZone::UTC),
    }
}

fn date_in_zone(c: &Ctx<'_>, layout: &str, d: &Data, z: &str) -> Result<String, String> {
    let t = time_of(c, d)?.with_time_zone(zone(z));
    Ok(time_layout::format(&t, layout))
}

fn date_modify(x: Vec<RVal>, must: bool) -> Result<RVal, String> {
    let Data::Time(t) = a(&x, 1) else {
        return ok(a(&x, 1));
    };
    match parse_duration(&s(&x, 0)) {
        Ok(ns) => {
            let z = t
                .checked_add(jiff::SignedDuration::from_nanos(ns))
                .map_err(|e| e.to_string())?;
            ok(Data::Time(Rc::new(z)))
        }
        Err(e) if must => Err(e),
        Err(_) => ok(Data::Time(t)),
    }
}

/// Nanoseconds from `t` to now.
fn since(c: &Ctx<'_>, t: &Zoned) -> i64 {
    let d = c.opts.now.timestamp().as_nanosecond() - t.timestamp().as_nanosecond();
    d.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn ago(c: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let t = time_of(c, &a(&x, 0))?;
    let d = since(c, &t);
    // Duration.Round(time.Second): halves away from zero.
    let sec = 1_000_000_000i64;
    let r = d % sec;
    let mut rounded = d - r;
    if r.abs() * 2 >= sec {
        rounded = rounded.saturating_add(if d < 0 { -sec } else { sec });
    }
    ok_s(duration_string(rounded))
}

fn duration_round(c: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let d: i64 = match a(&x, 0) {
        Data::Str(v) => parse_duration(&v).unwrap_or(0),
        Data::Int(i) => i,
        Data::Time(t) => since(c, &t),
        _ => 0,
    };
    let u = d.unsigned_abs();
    let second = 1_000_000_000u64;
    let (minute, hour) = (60 * second, 3600 * second);
    let day = 24 * hour;
    let (month, year) = (30 * day, 365 * day);
    let out = if u > year {
        format!("{}y", u / year)
    } else if u > month {
        format!("{}mo", u / month)
    } else if u > day {
        format!("{}d", u / day)
    } else if u > hour {
        format!("{}h", u / hour)
    } else if u > minute {
        format!("{}m", u / minute)
    } else if u > second {
        format!("{}s", u / second)
    } else {
        "0s".to_string()
    };
    ok_s(out)
}
