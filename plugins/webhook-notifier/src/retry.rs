//! When to send a request again: on 429 and 5xx answers and on failed connections,
//! after `Retry-After` (when it is a number of seconds) or an exponential backoff.

use std::time::Duration;

/// The longest wait between attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// Whether an answer with `status` is worth another attempt.
pub fn retryable(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// How long to wait before attempt `attempt + 1` (attempts count from 1).
pub fn delay(attempt: u32, base: Duration, retry_after: Option<&str>) -> Duration {
    if let Some(secs) = retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        return Duration::from_secs(secs).min(MAX_DELAY);
    }
    let factor = 1u32 << attempt.saturating_sub(1).min(10);
    base.saturating_mul(factor).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_and_server_errors_are_retried_client_errors_are_not() {
        for s in [429, 500, 502, 503, 599] {
            assert!(retryable(s), "{s}");
        }
        for s in [200, 301, 400, 401, 404, 410] {
            assert!(!retryable(s), "{s}");
        }
    }

    #[test]
    fn backoff_doubles_and_retry_after_wins_up_to_the_cap() {
        let base = Duration::from_millis(100);
        assert_eq!(delay(1, base, None), Duration::from_millis(100));
        assert_eq!(delay(3, base, None), Duration::from_millis(400));
        assert_eq!(delay(1, base, Some("2")), Duration::from_secs(2));
        assert_eq!(delay(1, base, Some("9999")), MAX_DELAY);
        assert_eq!(delay(30, Duration::from_secs(1), None), MAX_DELAY);
    }
}
