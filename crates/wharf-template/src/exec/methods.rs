//! Methods callable on values: Go's `time.Time` and Masterminds' `*semver.Version`.
//!
//! `Month()` and `Weekday()` return their names (Go returns named integer types
//! that print as names).

use std::rc::Rc;

use crate::data::{Data, RVal};
use crate::funcs::Ty;
use crate::time_layout;

const TIME_METHODS: &[(&str, &[Ty])] = &[
    ("Year", &[]),
    ("Month", &[]),
    ("Day", &[]),
    ("Hour", &[]),
    ("Minute", &[]),
    ("Second", &[]),
    ("Nanosecond", &[]),
    ("YearDay", &[]),
    ("Weekday", &[]),
    ("Unix", &[]),
    ("UnixMilli", &[]),
    ("UnixNano", &[]),
    ("UTC", &[]),
    ("Local", &[]),
    ("String", &[]),
    ("IsZero", &[]),
    ("Format", &[Ty::Str]),
    ("AddDate", &[Ty::Int, Ty::Int, Ty::Int]),
];

const SEMVER_METHODS: &[(&str, &[Ty])] = &[
    ("Major", &[]),
    ("Minor", &[]),
    ("Patch", &[]),
    ("Prerelease", &[]),
    ("Metadata", &[]),
    ("Original", &[]),
    ("String", &[]),
];

fn table(d: &Data) -> &'static [(&'static str, &'static [Ty])] {
    match d {
        Data::Time(_) => TIME_METHODS,
        Data::Semver(_) => SEMVER_METHODS,
        _ => &[],
    }
}

/// Whether `d` has a method called `name`.
pub(crate) fn has_method(d: &Data, name: &str) -> bool {
    table(d).iter().any(|(n, _)| *n == name)
}

/// The parameter types of a method.
pub(crate) fn params(d: &Data, name: &str) -> &'static [Ty] {
    table(d)
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(&[], |(_, p)| p)
}

/// Calls a method.
pub(crate) fn call(d: &Data, name: &str, args: &[RVal]) -> Result<Data, String> {
    match d {
        Data::Time(z) => {
            let dt = z.datetime();
            Ok(match name {
                "Year" => Data::Int(dt.year() as i64),
                "Month" => Data::str(time_layout::format(z, "January")),
                "Day" => Data::Int(dt.day() as i64),
                "Hour" => Data::Int(dt.hour() as i64),
                "Minute" => Data::Int(dt.minute() as i64),
                "Second" => Data::Int(dt.second() as i64),
                "Nanosecond" => Data::Int(dt.subsec_nanosecond() as i64),
                "YearDay" => Data::Int(dt.day_of_year() as i64),
                "Weekday" => Data::str(time_layout::format(z, "Monday")),
                "Unix" => Data::Int(z.timestamp().as_second()),
                "UnixMilli" => Data::Int(z.timestamp().as_millisecond()),
                "UnixNano" => Data::Int(z.timestamp().as_nanosecond() as i64),
                "UTC" | "Local" => Data::Time(Rc::new(z.with_time_zone(jiff::tz::TimeZone::UTC))),
                "String" => Data::str(time_layout::go_string(z)),
                "IsZero" => Data::Bool(**z == time_layout::zero_time()),
                "Format" => Data::str(time_layout::format(z, &crate::funcs::s(args, 0))),
                "AddDate" => {
                    let span = jiff::Span::new()
                        .try_years(crate::funcs::n(args, 0))
                        .and_then(|s| s.try_months(crate::funcs::n(args, 1)))
                        .and_then(|s| s.try_days(crate::funcs::n(args, 2)))
                        .map_err(|e| e.to_string())?;
                    Data::Time(Rc::new(z.checked_add(span).map_err(|e| e.to_string())?))
                }
                _ => return Err(format!("no method {name}")),
            })
        }
        Data::Semver(v) => Ok(match name {
            "Major" => Data::Int(v.major as i64),
            "Minor" => Data::Int(v.minor as i64),
            "Patch" => Data::Int(v.patch as i64),
            "Prerelease" => Data::str(&v.pre),
            "Metadata" => Data::str(&v.build),
            "Original" => Data::str(&v.original),
            "String" => Data::str(v.to_string()),
            _ => return Err(format!("no method {name}")),
        }),
        _ => Err(format!("no method {name}")),
    }
}
