//! Rate limits per API key and per client IP, and the ephemeral store behind them.
//!
//! Production counts in Redis, so every gateway replica shares one budget per key. Without
//! `REDIS_URL` (the embedded default) counts are in process. If Redis fails at run time the
//! limiter degrades to the in-process counters for that request and logs it: requests keep
//! being served (never a 5xx because the cache is down), limits become per replica until
//! Redis is back.

use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const WINDOW_SECS: u64 = 60;
const LOCAL_SWEEP_AT: usize = 100_000;

/// Whether a request may proceed, and if not, when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny { retry_after_secs: u64 },
}

pub struct RateLimiter {
    redis: Option<ConnectionManager>,
    local: Mutex<HashMap<String, (u64, u64)>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl RateLimiter {
    pub fn new(redis: Option<ConnectionManager>) -> Self {
        Self {
            redis,
            local: Mutex::new(HashMap::new()),
        }
    }

    pub fn redis(&self) -> Option<&ConnectionManager> {
        self.redis.as_ref()
    }

    /// Counts one request against `bucket` (e.g. `key:<id>` or `ip:<addr>`), allowing at
    /// most `limit` per fixed one-minute window.
    pub async fn check(&self, bucket: &str, limit: u64) -> Decision {
        let now = now_secs();
        let window = now / WINDOW_SECS;
        let retry_after_secs = (window + 1) * WINDOW_SECS - now;
        let count = match &self.redis {
            Some(redis) => match self.count_in_redis(redis.clone(), bucket, window).await {
                Ok(count) => count,
                Err(error) => {
                    tracing::warn!(%error, "rate limiter: Redis unavailable, counting in process");
                    self.count_locally(bucket, window)
                }
            },
            None => self.count_locally(bucket, window),
        };
        if count > limit {
            Decision::Deny {
                retry_after_secs: retry_after_secs.max(1),
            }
        } else {
            Decision::Allow
        }
    }

    async fn count_in_redis(
        &self,
        mut redis: ConnectionManager,
        bucket: &str,
        window: u64,
    ) -> redis::RedisResult<u64> {
        let key = format!("hub:rl:{bucket}:{window}");
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(&key)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(WINDOW_SECS + 1)
            .ignore()
            .query_async(&mut redis)
            .await?;
        Ok(count)
    }

    fn count_locally(&self, bucket: &str, window: u64) -> u64 {
        let Ok(mut counts) = self.local.lock() else {
            return 0;
        };
        if counts.len() >= LOCAL_SWEEP_AT {
            counts.retain(|_, (w, _)| *w == window);
        }
        let entry = counts.entry(bucket.to_string()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        entry.1
    }

    /// `Ok` when Redis answers (or is not configured), for readiness.
    pub async fn ping(&self) -> Result<(), String> {
        let Some(redis) = &self.redis else {
            return Ok(());
        };
        let mut redis = redis.clone();
        let pong: redis::RedisResult<String> = tokio::time::timeout(
            Duration::from_secs(1),
            redis::cmd("PING").query_async(&mut redis),
        )
        .await
        .unwrap_or_else(|_| Err(redis::RedisError::from((redis::ErrorKind::Io, "timed out"))));
        pong.map(|_| ()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_limiter_denies_past_the_limit() {
        let limiter = RateLimiter::new(None);
        for _ in 0..3 {
            assert_eq!(limiter.check("key:a", 3).await, Decision::Allow);
        }
        assert!(matches!(
            limiter.check("key:a", 3).await,
            Decision::Deny { .. }
        ));
        assert_eq!(limiter.check("key:b", 3).await, Decision::Allow);
    }
}
