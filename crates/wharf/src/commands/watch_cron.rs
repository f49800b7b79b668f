//! `--schedule`: ACR's timer triggers. Five fields, `{minute} {hour} {day} {month}
//! {day-of-week}`, in UTC, as NCrontab reads them: values, `*`, ranges `1-3`, lists
//! `20,30`, steps `*/10` and `1-30/5`, month and day names (`Jan`, `Mon`), `7` for
//! Sunday as well as `0`. A time matches when every field matches (NCrontab's rule:
//! day of month and day of week both). No seconds field, no year field.

use jiff::civil::DateTime;
use jiff::{Timestamp, ToSpan, tz::TimeZone};

/// One parsed `--schedule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The timer's name (`t1`, `t2`, ... unless given as `name:cron`).
    pub name: String,
    /// The expression as written.
    pub text: String,
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Schedule {
    /// Parses `--schedule` number `index` (from 1): `CRON` or `NAME:CRON`.
    pub fn parse(flag: &str, index: usize) -> Result<Schedule, String> {
        let (name, text) = match flag.split_once(':') {
            Some((n, c)) if !n.trim().is_empty() && !n.contains(' ') => {
                (n.trim().to_string(), c.trim())
            }
            _ => (format!("t{index}"), flag.trim()),
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "--schedule {flag:?}: a schedule has 5 fields, minute hour day month day-of-week (UTC), not {}{}",
                fields.len(),
                if fields.len() == 6 {
                    ": seconds and years are not supported"
                } else {
                    ""
                }
            ));
        }
        let field = |i: usize, what: &str, min: u32, max: u32, names: &[&str]| {
            parse_field(fields[i], min, max, names)
                .map_err(|e| format!("--schedule {flag:?}: the {what} field {:?}: {e}", fields[i]))
        };
        let mut weekdays = field(4, "day-of-week", 0, 7, &DAYS)?;
        if weekdays[7] {
            weekdays[0] = true;
        }
        weekdays.truncate(7);
        Ok(Schedule {
            name,
            text: text.to_string(),
            minutes: field(0, "minute", 0, 59, &[])?,
            hours: field(1, "hour", 0, 23, &[])?,
            days: field(2, "day", 1, 31, &[])?,
            months: field(3, "month", 1, 12, &MONTHS)?,
            weekdays,
        })
    }

    fn matches(&self, t: DateTime) -> bool {
        self.months[t.month() as usize]
            && self.days[t.day() as usize]
            && self.weekdays[t.weekday().to_sunday_zero_offset() as usize]
            && self.hours[t.hour() as usize]
            && self.minutes[t.minute() as usize]
    }

    /// The first minute strictly after `after` that matches, or `None` when none
    /// comes in the next five years (`30 0 31 2 *`).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = after.to_zoned(TimeZone::UTC).datetime();
        let mut t = start
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(1.minute())
            .ok()?;
        let limit = start.checked_add(5.years()).ok()?;
        while t <= limit {
            if !self.months[t.month() as usize]
                || !self.days[t.day() as usize]
                || !self.weekdays[t.weekday().to_sunday_zero_offset() as usize]
            {
                t = t
                    .date()
                    .tomorrow()
                    .ok()?
                    .to_datetime(jiff::civil::Time::midnight());
                continue;
            }
            if !self.hours[t.hour() as usize] {
                t = t
                    .with()
                    .minute(0)
                    .build()
                    .ok()?
                    .checked_add(1.hour())
                    .ok()?;
                continue;
            }
            if self.matches(t) {
                return t.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp());
            }
            t = t.checked_add(1.minute()).ok()?;
        }
        None
    }
}

/// One field as a table of allowed values (index = value).
fn parse_field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let mut allowed = vec![false; max as usize + 1];
    let value = |v: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            // Months are 1-based, days 0-based.
            return Ok(i as u32 + min);
        }
        let n: u32 = v.parse().map_err(|_| {
            format!(
                "{v:?} is not a number{}",
                if names.is_empty() { "" } else { " or a name" }
            )
        })?;
        if n < min || n > max {
            return Err(format!("{n} is out of range {min}-{max}"));
        }
        Ok(n)
    };
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("the step {s:?} is not a positive number"))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(format!("the range {range} runs backwards"));
            }
            (a, b)
        } else {
            let a = value(range)?;
            (a, if part.contains('/') { max } else { a })
        };
        let mut v = lo;
        while v <= hi {
            allowed[v as usize] = true;
            v += step;
        }
    }
    Ok(allowed)
}

/// Parses every `--schedule`; the first bad one is the error.
pub fn parse_all(flags: &[String]) -> Result<Vec<Schedule>, String> {
    let schedules: Vec<Schedule> = flags
        .iter()
        .enumerate()
        .map(|(i, f)| Schedule::parse(f, i + 1))
        .collect::<Result<_, _>>()?;
    for (i, a) in schedules.iter().enumerate() {
        if schedules[..i].iter().any(|b| b.text == a.text) {
            return Err(format!(
                "--schedule {:?} is given twice (ACR requires schedules to differ)",
                a.text
            ));
        }
    }
    Ok(schedules)
}

/// Where "now" comes from: the system clock, or one shifted to start at a given
/// time (`WHARF_FAKE_NOW`, RFC 3339) and then running at the real pace, so that
/// tests see a timer fire without waiting for a real minute boundary.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    offset_ms: i64,
}

impl Clock {
    /// The system clock, shifted when `fake_now` is given.
    pub fn new(fake_now: Option<Timestamp>) -> Clock {
        let offset_ms = fake_now
            .map(|f| f.as_millisecond() - Timestamp::now().as_millisecond())
            .unwrap_or(0);
        Clock { offset_ms }
    }

    /// Now.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(Timestamp::now().as_millisecond() + self.offset_ms)
            .unwrap_or_else(|_| Timestamp::now())
    }
}

/// The next timer to fire after `now`: its time and the schedules due then.
pub fn next_fire(schedules: &[Schedule], now: Timestamp) -> Option<(Timestamp, Vec<&Schedule>)> {
    let times: Vec<(Timestamp, &Schedule)> = schedules
        .iter()
        .filter_map(|s| s.next_after(now).map(|t| (t, s)))
        .collect();
    let first = times.iter().map(|(t, _)| *t).min()?;
    Some((
        first,
        times
            .into_iter()
            .filter(|(t, _)| *t == first)
            .map(|(_, s)| s)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn next(cron: &str, after: &str) -> Option<String> {
        Schedule::parse(cron, 1)
            .unwrap_or_else(|e| panic!("{e}"))
            .next_after(at(after))
            .map(|t| t.to_string())
    }

    #[test]
    fn next_times_in_utc() {
        assert_eq!(
            next("0 21 * * *", "2026-12-02T05:00:00Z").as_deref(),
            Some("2026-12-02T21:00:00Z")
        );
        assert_eq!(
            next("0 21 * * *", "2026-12-02T21:00:00Z").as_deref(),
            Some("2026-12-03T21:00:00Z")
        );
        assert_eq!(
            next("*/10 * * * *", "2026-12-02T05:01:30Z").as_deref(),
            Some("2026-12-02T05:10:00Z")
        );
        assert_eq!(
            next("30 9 * Jan Mon", "2026-12-02T00:00:00Z").as_deref(),
            Some("2027-01-04T09:30:00Z")
        );
        assert_eq!(
            next("0 0 1-3 * *", "2026-12-03T00:00:00Z").as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
        // Both day fields must match (NCrontab): the 13th that is a Friday.
        assert_eq!(
            next("0 0 13 * 5", "2026-12-02T00:00:00Z").as_deref(),
            Some("2027-08-13T00:00:00Z")
        );
        assert_eq!(
            next("0 0 * * 7", "2026-12-02T00:00:00Z").as_deref(),
            Some("2026-12-06T00:00:00Z")
        );
        assert_eq!(
            next("20,40 * * * *", "2026-12-02T05:30:00Z").as_deref(),
            Some("2026-12-02T05:40:00Z")
        );
        assert_eq!(next("0 0 31 2 *", "2026-12-02T00:00:00Z"), None);
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        for (bad, says) in [
            ("* * * *", "5 fields"),
            ("0 * * * * *", "seconds and years"),
            ("61 * * * *", "out of range 0-59"),
            ("* 5-2 * * *", "runs backwards"),
            ("* * * Foo *", "not a number or a name"),
            ("*/0 * * * *", "positive"),
        ] {
            let e = Schedule::parse(bad, 1).err().unwrap_or_default();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(parse_all(&["* * * * *".into(), "nightly:* * * * *".into()]).is_err());
    }

    #[test]
    fn timers_are_named_t1_t2_unless_named() {
        let s = parse_all(&[
            "0 1 * * *".into(),
            "nightly:0 2 * * *".into(),
            "0 3 * * *".into(),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["t1", "nightly", "t3"]);
    }

    #[test]
    fn a_fake_clock_fires_the_timers_due_at_the_same_minute() {
        let s = parse_all(&["* * * * *".into(), "*/2 * * * *".into(), "5 * * * *".into()])
            .unwrap_or_else(|e| panic!("{e}"));
        let clock = Clock::new(Some(at("2026-12-02T05:03:59Z")));
        let (when, due) = next_fire(&s, clock.now()).unwrap_or_else(|| panic!("none"));
        assert_eq!(when.to_string(), "2026-12-02T05:04:00Z");
        let names: Vec<&str> = due.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["t1", "t2"]);
        assert!(clock.now() < when);
    }
}
