//! Go's `time.Duration` text forms: `String()` and `ParseDuration`.

/// Go's `time.Duration.String()`.
pub(crate) fn duration_string(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        if u == 0 {
            return "0s".into();
        }
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (frac, int) = frac_part(u, prec);
        out = format!("{int}{frac}{unit}");
    } else {
        let (frac, secs) = frac_part(u, 9);
        u = secs;
        let s = u % 60;
        u /= 60;
        let mut tail = format!("{s}{frac}s");
        if u > 0 {
            tail = format!("{}m{tail}", u % 60);
            u /= 60;
            if u > 0 {
                tail = format!("{u}h{tail}");
            }
        }
        out.push_str(&tail);
    }
    if neg { format!("-{out}") } else { out }
}

/// Splits `v` into integer part and ".fraction" of `prec` decimal places, trailing zeros trimmed.
fn frac_part(v: u64, prec: u32) -> (String, u64) {
    if prec == 0 {
        return (String::new(), v);
    }
    let p = 10u64.pow(prec);
    let frac = v % p;
    if frac == 0 {
        return (String::new(), v / p);
    }
    let mut s = format!("{:0width$}", frac, width = prec as usize);
    while s.ends_with('0') {
        s.pop();
    }
    (format!(".{s}"), v / p)
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Result<i64, String> {
    let orig = s;
    let bad = || format!("time: invalid duration {}", crate::format::quote(orig));
    let mut s = s;
    let mut neg = false;
    if let Some(r) = s.strip_prefix('-') {
        neg = true;
        s = r;
    } else if let Some(r) = s.strip_prefix('+') {
        s = r;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let n = s
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        let num = &s[..n];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad());
        }
        let val: f64 = num.parse().map_err(|_| bad())?;
        s = &s[n..];
        let u = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(s.len(), |(i, _)| i);
        let unit = &s[..u];
        if unit.is_empty() {
            return Err(format!(
                "time: missing unit in duration {}",
                crate::format::quote(orig)
            ));
        }
        let mult = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    crate::format::quote(unit),
                    crate::format::quote(orig)
                ));
            }
        };
        total += val * mult;
        if total > 9.223_372_036_854_776e18 {
            return Err(bad());
        }
        s = &s[u..];
    }
    let t = total.round() as i64;
    Ok(if neg { -t } else { t })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_string(0), "0s");
        assert_eq!(duration_string(3_600_000_000_000), "1h0m0s");
        assert_eq!(duration_string(1_500_000_000), "1.5s");
        assert_eq!(duration_string(1_500), "1.5µs");
        assert_eq!(duration_string(-90_000_000_000), "-1m30s");
        assert_eq!(parse_duration("1h30m").expect("ok"), 5_400_000_000_000);
        assert_eq!(parse_duration("-1.5h").expect("ok"), -5_400_000_000_000);
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("1").is_err());
    }
}
