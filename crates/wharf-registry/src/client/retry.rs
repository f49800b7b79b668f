//! Retries: which failures, how long to wait, and when to stop.
//!
//! A failed attempt is retried when it is transient (a dropped or refused
//! connection, a timeout, 408, 429, 500, 502, 503, 504). The pause doubles from
//! [`RetryPolicy::initial_backoff`] up to [`RetryPolicy::max_backoff`], with jitter
//! (a random half to all of it), unless the registry sent `Retry-After`, which is
//! honoured. All retries of one operation share one time budget, counted from its
//! first failure: no attempt starts once the budget is spent, and a `Retry-After`
//! longer than what is left ends the operation at once rather than sleeping past
//! the budget.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng as _;

use super::error::Error;

/// Called with each retry's notice.
pub type OnRetry = Arc<dyn Fn(&RetryNotice) + Send + Sync>;

/// How retries are spaced and bounded.
#[derive(Clone)]
pub struct RetryPolicy {
    /// Total time one operation may spend retrying, from its first failure.
    pub budget: Duration,
    /// The first pause.
    pub initial_backoff: Duration,
    /// The longest pause (before jitter).
    pub max_backoff: Duration,
    /// Called before each retry (after tracing's event), for progress output.
    pub on_retry: Option<OnRetry>,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("budget", &self.budget)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("on_retry", &self.on_retry.is_some())
            .finish()
    }
}

impl Default for RetryPolicy {
    /// 15 s in total, pauses from 250 ms to 4 s.
    fn default() -> Self {
        RetryPolicy {
            budget: Duration::from_secs(15),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            on_retry: None,
        }
    }
}

/// What is about to be retried, for a progress line.
#[derive(Debug, Clone)]
pub struct RetryNotice {
    /// The registry.
    pub registry: String,
    /// What is being done: `upload blob sha256:... to app`.
    pub operation: String,
    /// The attempt that failed (from 1).
    pub attempt: u32,
    /// The pause before the next attempt.
    pub delay: Duration,
    /// What is left of the budget after the pause.
    pub remaining: Duration,
    /// Why the attempt failed.
    pub reason: String,
}

impl fmt::Display for RetryNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} failed (attempt {}): {}; retrying in {:.1}s ({:.1}s of retry budget left)",
            self.registry,
            self.operation,
            self.attempt,
            self.reason,
            self.delay.as_secs_f64(),
            self.remaining.as_secs_f64()
        )
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            budget: Duration::ZERO,
            ..RetryPolicy::default()
        }
    }

    /// The pause after failed attempt `attempt` (from 1), before jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1_u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// The pause with jitter: a random point in the upper half of the backoff.
    fn jittered(&self, attempt: u32) -> Duration {
        let full = self.backoff(attempt);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(rand::rng().random_range(0..=spread))
    }

    /// Runs `attempt` until it succeeds, fails for good, or the budget is spent.
    /// `attempt` gets the attempt number (from 1).
    pub(crate) async fn run<T, F, Fut>(
        &self,
        registry: &str,
        operation: &(dyn Fn() -> String + Send + Sync),
        mut attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut first_failure: Option<Instant> = None;
        let mut n = 1;
        loop {
            let error = match attempt(n).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let Some(asked) = error.retry_hint() else {
                return Err(error);
            };
            let started = *first_failure.get_or_insert_with(Instant::now);
            let elapsed = started.elapsed();
            let left = self.budget.saturating_sub(elapsed);
            let delay = asked.unwrap_or_else(|| self.jittered(n));
            let why = if self.budget.is_zero() {
                Some("retries are off".to_string())
            } else if delay >= left {
                Some(match asked {
                    Some(asked) => format!(
                        "the registry asked to wait {:.1}s, more than the {:.1}s left of the {:.0}s retry budget",
                        asked.as_secs_f64(),
                        left.as_secs_f64(),
                        self.budget.as_secs_f64()
                    ),
                    None => format!("retry budget of {:.0}s spent", self.budget.as_secs_f64()),
                })
            } else {
                None
            };
            if let Some(why) = why {
                if self.budget.is_zero() && n == 1 {
                    return Err(error);
                }
                return Err(Error::GaveUp {
                    registry: registry.to_string(),
                    attempts: n,
                    elapsed,
                    why,
                    last: Box::new(error),
                });
            }
            let notice = RetryNotice {
                registry: registry.to_string(),
                operation: operation(),
                attempt: n,
                delay,
                remaining: left - delay,
                reason: error.to_string(),
            };
            tracing::warn!(
                registry = %notice.registry,
                operation = %notice.operation,
                attempt = n,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                reason = %notice.reason,
                "retrying registry operation"
            );
            if let Some(on_retry) = &self.on_retry {
                on_retry(&notice);
            }
            drop(error);
            tokio::time::sleep(delay).await;
            n += 1;
        }
    }
}

/// The delay a `Retry-After` header asks for: seconds, or an HTTP date. Capped at an
/// hour (the budget decides whether it is waited for).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let when = httpdate::parse_http_date(value).ok()?;
        when.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(Duration::from_secs(3600)))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn refused() -> Error {
        Error::Connection {
            registry: "r.example".into(),
            message: "connection refused".into(),
        }
    }

    fn fast(budget_ms: u64) -> RetryPolicy {
        RetryPolicy {
            budget: Duration::from_millis(budget_ms),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            on_retry: None,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(250));
        assert_eq!(p.backoff(2), Duration::from_millis(500));
        assert_eq!(p.backoff(5), Duration::from_secs(4));
        assert_eq!(p.backoff(40), Duration::from_secs(4));
        for attempt in 1..8 {
            let j = p.jittered(attempt);
            assert!(
                j >= p.backoff(attempt) / 2 && j <= p.backoff(attempt),
                "{j:?}"
            );
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("999999", now),
            Some(Duration::from_secs(3600))
        );
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut policy = fast(5_000);
        let record = Arc::clone(&seen);
        policy.on_retry = Some(Arc::new(move |n: &RetryNotice| {
            record
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(n.to_string());
        }));
        let result = policy
            .run("r.example", &|| "get thing".into(), |_| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move { if n < 2 { Err(refused()) } else { Ok(n) } }
            })
            .await;
        assert_eq!(result.ok(), Some(2));
        let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(
            seen[0].starts_with("r.example: get thing failed (attempt 1): "),
            "{}",
            seen[0]
        );
    }

    #[tokio::test]
    async fn the_budget_ends_retries_and_names_the_registry() {
        let start = Instant::now();
        let calls = AtomicU32::new(0);
        let result: Result<(), Error> = fast(150)
            .run("r.example", &|| "push".into(), |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(refused()) }
            })
            .await;
        let Err(Error::GaveUp {
            registry, attempts, ..
        }) = result
        else {
            panic!("{result:?}")
        };
        assert_eq!(registry, "r.example");
        assert!(attempts >= 3, "{attempts}");
        assert_eq!(calls.load(Ordering::SeqCst), attempts);
        assert!(start.elapsed() < Duration::from_millis(150 + 100));
    }

    #[tokio::test]
    async fn a_retry_after_beyond_the_budget_gives_up_at_once() {
        let start = Instant::now();
        let result: Result<(), Error> = fast(1_000)
            .run("r.example", &|| "push".into(), |_| async {
                Err(Error::Status {
                    registry: "r.example".into(),
                    request: "PUT /v2/x/blobs/uploads/1".into(),
                    status: 429,
                    code: Some("TOOMANYREQUESTS".into()),
                    message: None,
                    retry_after: Some(Duration::from_secs(30)),
                })
            })
            .await;
        let text = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("asked to wait 30.0s"), "{text}");
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), Error> = fast(1_000)
            .run("r.example", &|| "get".into(), |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    Err(Error::NotFound {
                        registry: "r.example".into(),
                        repository: "x".into(),
                        what: "manifest 1".into(),
                        no_repository: false,
                    })
                }
            })
            .await;
        assert!(matches!(result, Err(Error::NotFound { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
