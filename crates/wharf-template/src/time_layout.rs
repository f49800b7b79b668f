//! Go's reference-time layouts (`2006-01-02 15:04:05 MST`) for formatting and
//! parsing and Go's `time.Time.String()`.
//!
//! "Local" time is UTC in wharf: ACR's build agents run in UTC.

use jiff::Zoned;
use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};

const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// One element of a layout.
#[derive(Debug, Clone, PartialEq)]
enum Std {
    Lit(String),
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    /// Numeric zone: (iso "Z" for UTC, colon, with seconds, hours only)
    Tz {
        iso: bool,
        colon: bool,
        secs: bool,
        hours_only: bool,
    },
    TzName,
    /// Fractional seconds: (separator, digits, trim trailing zeros)
    Frac(char, usize, bool),
}

fn tokenize(layout: &str) -> Vec<Std> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let b = layout.as_bytes();
    let mut i = 0;
    let starts = |i: usize, p: &str| layout[i..].starts_with(p);
    while i < b.len() {
        let (tok, len): (Option<Std>, usize) = match b[i] {
            b'J' if starts(i, "January") => (Some(Std::LongMonth), 7),
            b'J' if starts(i, "Jan") => (Some(Std::Month), 3),
            b'M' if starts(i, "Monday") => (Some(Std::LongWeekDay), 6),
            b'M' if starts(i, "Mon") => (Some(Std::WeekDay), 3),
            b'M' if starts(i, "MST") => (Some(Std::TzName), 3),
            b'0' if i + 1 < b.len() && (b'1'..=b'6').contains(&b[i + 1]) => (
                Some(match b[i + 1] {
                    b'1' => Std::ZeroMonth,
                    b'2' => Std::ZeroDay,
                    b'3' => Std::ZeroHour12,
                    b'4' => Std::ZeroMinute,
                    b'5' => Std::ZeroSecond,
                    _ => Std::Year,
                }),
                2,
            ),
            b'0' if starts(i, "002") => (Some(Std::ZeroYearDay), 3),
            b'1' if starts(i, "15") => (Some(Std::Hour), 2),
            b'1' => (Some(Std::NumMonth), 1),
            b'2' if starts(i, "2006") => (Some(Std::LongYear), 4),
            b'2' => (Some(Std::Day), 1),
            b'_' if starts(i, "_2") && starts(i + 1, "2006") => (None, 1),
            b'_' if starts(i, "_2") => (Some(Std::UnderDay), 2),
            b'_' if starts(i, "__2") => (Some(Std::UnderYearDay), 3),
            b'3' => (Some(Std::Hour12), 1),
            b'4' => (Some(Std::Minute), 1),
            b'5' => (Some(Std::Second), 1),
            b'P' if starts(i, "PM") => (Some(Std::PM), 2),
            b'p' if starts(i, "pm") => (Some(Std::Pm), 2),
            c @ (b'-' | b'Z') => {
                let iso = c == b'Z';
                let mk = |colon, secs, hours_only| {
                    Some(Std::Tz {
                        iso,
                        colon,
                        secs,
                        hours_only,
                    })
                };
                if starts(i + 1, "070000") {
                    (mk(false, true, false), 7)
                } else if starts(i + 1, "07:00:00") {
                    (mk(true, true, false), 9)
                } else if starts(i + 1, "0700") {
                    (mk(false, false, false), 5)
                } else if starts(i + 1, "07:00") {
                    (mk(true, false, false), 6)
                } else if starts(i + 1, "07") {
                    (mk(false, false, true), 3)
                } else {
                    (None, 1)
                }
            }
            c @ (b'.' | b',') if i + 1 < b.len() && (b[i + 1] == b'0' || b[i + 1] == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    (None, 1)
                } else {
                    (Some(Std::Frac(c as char, j - i - 1, ch == b'9')), j - i)
                }
            }
            _ => (None, 0),
        };
        match tok {
            Some(t) => {
                if !lit.is_empty() {
                    out.push(Std::Lit(std::mem::take(&mut lit)));
                }
                out.push(t);
                i += len;
            }
            None => {
                let n = layout[i..].chars().next().map_or(1, char::len_utf8);
                let n = n.max(len.min(1));
                lit.push_str(&layout[i..i + n]);
                i += n;
            }
        }
    }
    if !lit.is_empty() {
        out.push(Std::Lit(lit));
    }
    out
}

/// The zone name Go would print for `MST`, or None for a nameless fixed zone.
fn zone_name(z: &Zoned) -> Option<String> {
    let tz = z.time_zone();
    if *tz == TimeZone::UTC {
        return Some("UTC".into());
    }
    tz.iana_name()?;
    Some(tz.to_offset_info(z.timestamp()).abbreviation().to_string())
}

fn push_num(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        out.push('-');
    }
    let s = v.unsigned_abs().to_string();
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(&s);
}

/// Formats `z` with a Go layout.
pub(crate) fn format(z: &Zoned, layout: &str) -> String {
    let mut out = String::new();
    let dt = z.datetime();
    let offset = z.offset().seconds() as i64;
    for t in tokenize(layout) {
        match t {
            Std::Lit(s) => out.push_str(&s),
            Std::LongMonth => out.push_str(LONG_MONTHS[(dt.month() - 1) as usize]),
            Std::Month => out.push_str(&LONG_MONTHS[(dt.month() - 1) as usize][..3]),
            Std::NumMonth => push_num(&mut out, dt.month() as i64, 0),
            Std::ZeroMonth => push_num(&mut out, dt.month() as i64, 2),
            Std::LongWeekDay => {
                out.push_str(LONG_DAYS[dt.weekday().to_sunday_zero_offset() as usize])
            }
            Std::WeekDay => {
                out.push_str(&LONG_DAYS[dt.weekday().to_sunday_zero_offset() as usize][..3])
            }
            Std::Day => push_num(&mut out, dt.day() as i64, 0),
            Std::UnderDay => {
                if dt.day() < 10 {
                    out.push(' ');
                }
                push_num(&mut out, dt.day() as i64, 0)
            }
            Std::ZeroDay => push_num(&mut out, dt.day() as i64, 2),
            Std::UnderYearDay => {
                let yd = dt.day_of_year() as i64;
                if yd < 100 {
                    out.push(' ');
                }
                if yd < 10 {
                    out.push(' ');
                }
                push_num(&mut out, yd, 0)
            }
            Std::ZeroYearDay => push_num(&mut out, dt.day_of_year() as i64, 3),
            Std::Hour => push_num(&mut out, dt.hour() as i64, 2),
            Std::Hour12 | Std::ZeroHour12 => {
                let mut h = dt.hour() as i64 % 12;
                if h == 0 {
                    h = 12;
                }
                push_num(&mut out, h, if t == Std::Hour12 { 0 } else { 2 })
            }
            Std::Minute => push_num(&mut out, dt.minute() as i64, 0),
            Std::ZeroMinute => push_num(&mut out, dt.minute() as i64, 2),
            Std::Second => push_num(&mut out, dt.second() as i64, 0),
            Std::ZeroSecond => push_num(&mut out, dt.second() as i64, 2),
            Std::LongYear => push_num(&mut out, dt.year() as i64, 4),
            Std::Year => push_num(&mut out, (dt.year() as i64).rem_euclid(100), 2),
            Std::PM => out.push_str(if dt.hour() >= 12 { "PM" } else { "AM" }),
            Std::Pm => out.push_str(if dt.hour() >= 12 { "pm" } else { "am" }),
            Std::Tz {
                iso,
                colon,
                secs,
                hours_only,
            } => {
                if iso && offset == 0 {
                    out.push('Z');
                    continue;
                }
                let abs = offset.abs();
                out.push(if offset < 0 { '-' } else { '+' });
                push_num(&mut out, abs / 3600, 2);
                if !hours_only {
                    if colon {
                        out.push(':');
                    }
                    push_num(&mut out, abs / 60 % 60, 2);
                }
                if secs {
                    if colon {
                        out.push(':');
                    }
                    push_num(&mut out, abs % 60, 2);
                }
            }
            Std::TzName => match zone_name(z) {
                Some(n) => out.push_str(&n),
                None => {
                    let m = offset / 60;
                    out.push(if m < 0 { '-' } else { '+' });
                    push_num(&mut out, m.abs() / 60, 2);
                    push_num(&mut out, m.abs() % 60, 2);
                }
            },
            Std::Frac(sep, n, trim) => {
                let ns = format!("{:09}", dt.subsec_nanosecond());
                let mut digits = ns[..n.min(9)].to_string();
                if trim {
                    while digits.ends_with('0') {
                        digits.pop();
                    }
                    if digits.is_empty() {
                        continue;
                    }
                } else {
                    for _ in 9..n {
                        digits.push('0');
                    }
                }
                out.push(sep);
                out.push_str(&digits);
            }
        }
    }
    out
}

/// Go's `time.Time.String()` (without the monotonic clock reading).
pub(crate) fn go_string(z: &Zoned) -> String {
    format(z, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// RFC 3339 with nanoseconds, as Go's JSON encoding of a time.
pub(crate) fn rfc3339_nano(z: &Zoned) -> String {
    format(z, "2006-01-02T15:04:05.999999999Z07:00")
}

/// Go's zero time, `0001-01-01 00:00:00 UTC`.
pub(crate) fn zero_time() -> Zoned {
    DateTime::constant(1, 1, 1, 0, 0, 0, 0)
        .to_zoned(TimeZone::UTC)
        .unwrap_or_else(|_| Zoned::new(jiff::Timestamp::UNIX_EPOCH, TimeZone::UTC))
}

fn getnum(v: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = v.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() {
        return None;
    }
    if b.len() < 2 || !b[1].is_ascii_digit() {
        if fixed {
            return None;
        }
        return Some(((b[0] - b'0') as i64, &v[1..]));
    }
    Some((((b[0] - b'0') * 10 + (b[1] - b'0')) as i64, &v[2..]))
}

fn lookup_name<'a>(v: &'a str, names: &[&str], short: bool) -> Option<(usize, &'a str)> {
    for (i, n) in names.iter().enumerate() {
        let n = if short { &n[..3] } else { n };
        if v.len() >= n.len() && v.is_char_boundary(n.len()) && v[..n.len()].eq_ignore_ascii_case(n)
        {
            return Some((i, &v[n.len()..]));
        }
    }
    None
}

/// Go's `time.ParseInLocation(layout, value, Local)` with Local = UTC.
pub(crate) fn parse(layout: &str, value: &str) -> Result<Zoned, String> {
    let err = |rest: &str, elem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            crate::format::quote(value),
            crate::format::quote(layout),
            crate::format::quote(rest),
            crate::format::quote(elem)
        )
    };
    let (mut year, mut month, mut day, mut hour, mut min, mut sec, mut nsec) =
        (1i64, -1i64, -1i64, 0i64, 0i64, 0i64, 0i64);
    let mut yday = -1i64;
    let mut pm_set: Option<bool> = None;
    let mut offset: Option<i64> = None;
    let mut v = value;
    let toks = tokenize(layout);
    for (ti, t) in toks.iter().enumerate() {
        let elem = format!("{t:?}");
        let before = v;
        let bad = || err(before, &elem_text(t, &elem));
        match t {
            Std::Lit(s) => {
                // Go skips leading spaces on both sides.
                let lt = s.trim_start_matches(' ');
                let vt = if lt.len() != s.len() {
                    v.trim_start_matches(' ')
                } else {
                    v
                };
                v = vt.strip_prefix(lt).ok_or_else(|| err(v, s))?;
            }
            Std::LongYear => {
                if v.len() < 4 || !v.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
                    return Err(bad());
                }
                year = v[..4].parse().map_err(|_| bad())?;
                v = &v[4..];
            }
            Std::Year => {
                let (y, r) = getnum(v, true).ok_or_else(bad)?;
                year = if y >= 69 { 1900 + y } else { 2000 + y };
                v = r;
            }
            Std::LongMonth | Std::Month => {
                let (m, r) = lookup_name(v, &LONG_MONTHS, *t == Std::Month).ok_or_else(bad)?;
                month = m as i64 + 1;
                v = r;
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (m, r) = getnum(v, *t == Std::ZeroMonth).ok_or_else(bad)?;
                if !(1..=12).contains(&m) {
                    return Err(format!(
                        "parsing time {}: month out of range",
                        crate::format::quote(value)
                    ));
                }
                month = m;
                v = r;
            }
            Std::LongWeekDay | Std::WeekDay => {
                let (_, r) = lookup_name(v, &LONG_DAYS, *t == Std::WeekDay).ok_or_else(bad)?;
                v = r;
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if *t == Std::UnderDay && v.starts_with(' ') {
                    v = &v[1..];
                }
                let (d, r) = getnum(v, *t == Std::ZeroDay).ok_or_else(bad)?;
                day = d;
                v = r;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                let mut s = v;
                if *t == Std::UnderYearDay {
                    s = s.trim_start_matches(' ');
                }
                let n = s.bytes().take(3).take_while(u8::is_ascii_digit).count();
                if n == 0 || (*t == Std::ZeroYearDay && n < 3) {
                    return Err(bad());
                }
                yday = s[..n].parse().map_err(|_| bad())?;
                v = &s[n..];
            }
            Std::Hour => {
                let (h, r) = getnum(v, false).ok_or_else(bad)?;
                if h >= 24 {
                    return Err(format!(
                        "parsing time {}: hour out of range",
                        crate::format::quote(value)
                    ));
                }
                hour = h;
                v = r;
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let (h, r) = getnum(v, *t == Std::ZeroHour12).ok_or_else(bad)?;
                if h > 12 {
                    return Err(format!(
                        "parsing time {}: hour out of range",
                        crate::format::quote(value)
                    ));
                }
                hour = h;
                v = r;
            }
            Std::Minute | Std::ZeroMinute => {
                let (m, r) = getnum(v, *t == Std::ZeroMinute).ok_or_else(bad)?;
                if m >= 60 {
                    return Err(format!(
                        "parsing time {}: minute out of range",
                        crate::format::quote(value)
                    ));
                }
                min = m;
                v = r;
            }
            Std::Second | Std::ZeroSecond => {
                let (s, r) = getnum(v, *t == Std::ZeroSecond).ok_or_else(bad)?;
                if s >= 60 {
                    return Err(format!(
                        "parsing time {}: second out of range",
                        crate::format::quote(value)
                    ));
                }
                sec = s;
                v = r;
                // A fraction in the value without one in the layout.
                let next_is_frac = matches!(toks.get(ti + 1), Some(Std::Frac(..)));
                if !next_is_frac
                    && v.len() >= 2
                    && (v.starts_with('.') || v.starts_with(','))
                    && v.as_bytes()[1].is_ascii_digit()
                {
                    let n = v[1..].bytes().take_while(u8::is_ascii_digit).count();
                    nsec = frac_nanos(&v[1..1 + n]);
                    v = &v[1 + n..];
                }
            }
            Std::PM | Std::Pm => {
                if v.len() < 2 {
                    return Err(bad());
                }
                match &v[..2] {
                    "PM" | "pm" => pm_set = Some(true),
                    "AM" | "am" => pm_set = Some(false),
                    _ => return Err(bad()),
                }
                v = &v[2..];
            }
            Std::Tz {
                iso,
                colon,
                secs,
                hours_only,
            } => {
                if *iso && v.starts_with('Z') {
                    v = &v[1..];
                    offset = Some(0);
                    continue;
                }
                let sign = match v.as_bytes().first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return Err(bad()),
                };
                let mut r = &v[1..];
                let (h, rr) = getnum(r, true).ok_or_else(bad)?;
                r = rr;
                let mut m = 0;
                let mut s = 0;
                if !hours_only {
                    if *colon {
                        r = r.strip_prefix(':').ok_or_else(bad)?;
                    }
                    let (mm, rr) = getnum(r, true).ok_or_else(bad)?;
                    m = mm;
                    r = rr;
                }
                if *secs {
                    if *colon {
                        r = r.strip_prefix(':').ok_or_else(bad)?;
                    }
                    let (ss, rr) = getnum(r, true).ok_or_else(bad)?;
                    s = ss;
                    r = rr;
                }
                offset = Some(sign * (h * 3600 + m * 60 + s));
                v = r;
            }
            Std::TzName => {
                if v.starts_with("UTC") {
                    offset.get_or_insert(0);
                    v = &v[3..];
                    continue;
                }
                let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
                if n < 3 {
                    return Err(bad());
                }
                v = &v[n..];
            }
            Std::Frac(_, n, trim) => {
                if *trim {
                    if v.len() >= 2
                        && (v.starts_with('.') || v.starts_with(','))
                        && v.as_bytes()[1].is_ascii_digit()
                    {
                        let k = v[1..].bytes().take_while(u8::is_ascii_digit).count();
                        nsec = frac_nanos(&v[1..1 + k]);
                        v = &v[1 + k..];
                    }
                } else {
                    if v.len() < n + 1 || !v[1..].bytes().take(*n).all(|c| c.is_ascii_digit()) {
                        return Err(bad());
                    }
                    nsec = frac_nanos(&v[1..1 + n]);
                    v = &v[1 + n..];
                }
            }
        }
    }
    if !v.is_empty() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            crate::format::quote(value),
            crate::format::quote(v)
        ));
    }
    if let Some(pm) = pm_set {
        if pm && hour < 12 {
            hour += 12;
        } else if !pm && hour == 12 {
            hour = 0;
        }
    }
    if yday >= 0 {
        let base = jiff::civil::Date::new(year as i16, 1, 1).map_err(|e| e.to_string())?;
        let d = base
            .checked_add(jiff::Span::new().days(yday - 1))
            .map_err(|_| {
                format!(
                    "parsing time {}: day-of-year out of range",
                    crate::format::quote(value)
                )
            })?;
        month = d.month() as i64;
        day = d.day() as i64;
    }
    if month < 0 {
        month = 1;
    }
    if day < 0 {
        day = 1;
    }
    let dt = DateTime::new(
        year as i16,
        month as i8,
        day as i8,
        hour as i8,
        min as i8,
        sec as i8,
        nsec as i32,
    )
    .map_err(|_| {
        format!(
            "parsing time {}: day out of range",
            crate::format::quote(value)
        )
    })?;
    let tz = match offset {
        None | Some(0) => TimeZone::UTC,
        Some(o) => TimeZone::fixed(Offset::from_seconds(o as i32).map_err(|e| e.to_string())?),
    };
    dt.to_zoned(tz).map_err(|e| e.to_string())
}

fn elem_text(t: &Std, dbg: &str) -> String {
    match t {
        Std::Lit(s) => s.clone(),
        Std::LongYear => "2006".into(),
        Std::Year => "06".into(),
        Std::LongMonth => "January".into(),
        Std::Month => "Jan".into(),
        Std::NumMonth => "1".into(),
        Std::ZeroMonth => "01".into(),
        Std::Day => "2".into(),
        Std::ZeroDay => "02".into(),
        Std::Hour => "15".into(),
        Std::ZeroMinute => "04".into(),
        Std::ZeroSecond => "05".into(),
        _ => dbg.to_string(),
    }
}

fn frac_nanos(digits: &str) -> i64 {
    let mut s: String = digits.chars().take(9).collect();
    while s.len() < 9 {
        s.push('0');
    }
    s.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Zoned {
        s.parse().expect("valid zoned")
    }

    #[test]
    fn formats() {
        let z = t("2024-03-05T07:08:09.120+00:00[UTC]");
        assert_eq!(
            format(&z, "2006-01-02 15:04:05 MST"),
            "2024-03-05 07:08:09 UTC"
        );
        assert_eq!(format(&z, "Jan _2 3:04PM Mon"), "Mar  5 7:08AM Tue");
        assert_eq!(format(&z, "20060102-150405z"), "20240305-070809z");
        assert_eq!(go_string(&z), "2024-03-05 07:08:09.12 +0000 UTC");
        assert_eq!(
            format(&z, "2006-01-02T15:04:05Z07:00"),
            "2024-03-05T07:08:09Z"
        );
        assert_eq!(format(&z, ".000 .999 002"), ".120 .12 065");
        let ny = t("2024-01-10T12:00:00-05:00[America/New_York]");
        assert_eq!(format(&ny, "15:04 MST -07:00"), "12:00 EST -05:00");
    }

    #[test]
    fn parses() {
        let z = parse("2006-01-02", "2024-02-29").expect("parse");
        assert_eq!(go_string(&z), "2024-02-29 00:00:00 +0000 UTC");
        let z = parse("2006-01-02T15:04:05Z07:00", "2024-02-29T10:11:12+05:30").expect("parse");
        assert_eq!(go_string(&z), "2024-02-29 10:11:12 +0530 +0530");
        assert!(parse("2006-01-02", "2024-13-01").is_err());
        assert!(parse("2006-01-02", "x").is_err_and(|e| e.contains("cannot parse")));
    }
}
