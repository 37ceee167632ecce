//! Rate limits per API key and per client IP, and the ephemeral store behind them.
//!
//! Counting happens in process on every request; Redis holds the budget all gateway replicas
//! share. With `rate_limit_sync_ms` > 0 (the default) each replica sends what it counted to
//! Redis in one pipeline every that many milliseconds (`INCRBY`, write-behind, as Kong's
//! `sync_rate` does) and learns the shared total back; a request costs no Redis round trip.
//! One replica is exact; several together may overshoot a budget by what the others counted
//! within one sync interval. With `rate_limit_sync_ms = 0` every request waits for Redis
//! (exact across replicas, two round trips a request). Without `REDIS_URL` (the embedded
//! default) counts stay in process. If Redis fails at run time, counting goes on in process
//! and the unsent counts are sent once it is back: requests keep being served (never a 5xx
//! because the cache is down), limits become per replica meanwhile.
//!
//! A bucket's Redis key is a keyed hash of its name ([`KeyedDigest`], derived from the
//! key-encryption key under [`REDIS_KEY_LABEL`]): every replica with the same configuration
//! names a bucket alike, and a dump of Redis, which never holds the key, cannot confirm a
//! guessed IP address or id.

use hub_kernel::crypto::KeyedDigest;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const WINDOW_SECS: u64 = 60;
/// Past this many buckets, buckets of finished windows are dropped.
const SWEEP_AT: usize = 100_000;
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// The label the rate-limit key names are derived under (from the key-encryption key).
pub const REDIS_KEY_LABEL: &str = "rate-limit-redis-keys";

/// Whether a request may proceed, and if not, when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny { retry_after_secs: u64 },
}

/// One bucket's requests in the current window.
#[derive(Debug, Default)]
struct Count {
    window: u64,
    /// Counted here, not yet sent to Redis.
    unsent: u64,
    /// Sent to Redis, answer not yet back.
    in_flight: u64,
    /// The shared total Redis last reported (every replica's counts it has received).
    shared: u64,
}

impl Count {
    fn total(&self) -> u64 {
        self.shared + self.in_flight + self.unsent
    }
}

#[derive(Default)]
struct Counts {
    buckets: HashMap<String, Count>,
    /// Buckets with `unsent` > 0, in the order they first counted.
    dirty: Vec<String>,
    redis_failing: bool,
}

/// What one sync sends for one bucket.
struct Batch {
    bucket: String,
    window: u64,
    count: u64,
}

pub struct RateLimiter {
    counts: Arc<Mutex<Counts>>,
    redis: Option<ConnectionManager>,
    names: KeyedDigest,
    /// `true`: every request waits for Redis; `false`: a background task syncs.
    synchronous: bool,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The shared counter of a bucket's window. The bucket's name holds a person's or an API
/// key's id or a client's IP address, which Redis need not hold in the clear (an erasure
/// leaves no key naming the person; the counter itself expires a window later). The hash is
/// keyed: an unkeyed one would let a dump confirm a guessed name by hashing it.
pub fn redis_key(names: &KeyedDigest, bucket: &str, window: u64) -> String {
    format!("hub:rl:{}:{window}", names.hex(bucket.as_bytes(), 16))
}

impl RateLimiter {
    /// `sync_every`: how often counts go to Redis; zero means on every request. `names`
    /// names the buckets in Redis; replicas sharing a budget must share it. The sync task
    /// holds the counts weakly and ends when the limiter is dropped.
    pub fn new(redis: Option<ConnectionManager>, sync_every: Duration, names: KeyedDigest) -> Self {
        let limiter = Self {
            counts: Arc::new(Mutex::new(Counts::default())),
            synchronous: sync_every.is_zero(),
            redis,
            names,
        };
        if let (Some(redis), false) = (&limiter.redis, limiter.synchronous) {
            spawn_sync(
                Arc::downgrade(&limiter.counts),
                redis.clone(),
                sync_every,
                limiter.names.clone(),
            );
        }
        limiter
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
        let mut count = self.count_here(bucket, window);
        if self.synchronous
            && let Some(redis) = &self.redis
        {
            let batch = take_unsent(&self.counts, Some(bucket));
            send(&self.counts, redis.clone(), batch, &self.names).await;
            count = self.total(bucket, window).unwrap_or(count);
        }
        if count > limit {
            Decision::Deny {
                retry_after_secs: retry_after_secs.max(1),
            }
        } else {
            Decision::Allow
        }
    }

    fn count_here(&self, bucket: &str, window: u64) -> u64 {
        let Ok(mut counts) = self.counts.lock() else {
            return 0;
        };
        if counts.buckets.len() >= SWEEP_AT {
            counts.buckets.retain(|_, c| c.window >= window);
            let Counts { buckets, dirty, .. } = &mut *counts;
            dirty.retain(|b| buckets.contains_key(b));
        }
        let counts = &mut *counts;
        // The bucket's name is copied only when it is new, not on every request.
        if !counts.buckets.contains_key(bucket) {
            counts.buckets.insert(bucket.to_string(), Count::default());
        }
        let Some(entry) = counts.buckets.get_mut(bucket) else {
            return 0;
        };
        if entry.window != window {
            *entry = Count {
                window,
                ..Count::default()
            };
        }
        if entry.unsent == 0 {
            counts.dirty.push(bucket.to_string());
        }
        entry.unsent += 1;
        entry.total()
    }

    fn total(&self, bucket: &str, window: u64) -> Option<u64> {
        let counts = self.counts.lock().ok()?;
        counts
            .buckets
            .get(bucket)
            .filter(|c| c.window == window)
            .map(Count::total)
    }

    /// `Ok` when Redis answers (or is not configured), for readiness.
    pub async fn ping(&self) -> Result<(), String> {
        let Some(redis) = &self.redis else {
            return Ok(());
        };
        let mut redis = redis.clone();
        let pong: redis::RedisResult<String> =
            tokio::time::timeout(REDIS_TIMEOUT, redis::cmd("PING").query_async(&mut redis))
                .await
                .unwrap_or_else(|_| {
                    Err(redis::RedisError::from((redis::ErrorKind::Io, "timed out")))
                });
        pong.map(|_| ()).map_err(|e| e.to_string())
    }
}

fn spawn_sync(
    counts: Weak<Mutex<Counts>>,
    redis: ConnectionManager,
    every: Duration,
    names: KeyedDigest,
) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(counts) = counts.upgrade() else {
                return;
            };
            let batch = take_unsent(&counts, None);
            if !batch.is_empty() {
                send(&counts, redis.clone(), batch, &names).await;
            }
        }
    });
}

/// Moves the unsent counts of `only` (or of every dirty bucket) in flight.
fn take_unsent(counts: &Mutex<Counts>, only: Option<&str>) -> Vec<Batch> {
    let Ok(mut counts) = counts.lock() else {
        return Vec::new();
    };
    let Counts { buckets, dirty, .. } = &mut *counts;
    let names: Vec<String> = match only {
        Some(bucket) => {
            dirty.retain(|b| b != bucket);
            vec![bucket.to_string()]
        }
        None => std::mem::take(dirty),
    };
    names
        .into_iter()
        .filter_map(|bucket| {
            let entry = buckets.get_mut(&bucket)?;
            if entry.unsent == 0 {
                return None;
            }
            let count = std::mem::take(&mut entry.unsent);
            entry.in_flight += count;
            Some(Batch {
                bucket,
                window: entry.window,
                count,
            })
        })
        .collect()
}

/// One pipeline for the whole batch; the replies are the shared totals. On failure the counts
/// go back to unsent, to be sent with the next sync.
async fn send(
    counts: &Mutex<Counts>,
    mut redis: ConnectionManager,
    batch: Vec<Batch>,
    names: &KeyedDigest,
) {
    let mut pipe = redis::pipe();
    for item in &batch {
        let key = redis_key(names, &item.bucket, item.window);
        pipe.cmd("INCRBY").arg(&key).arg(item.count);
        pipe.cmd("EXPIRE").arg(&key).arg(WINDOW_SECS + 1).ignore();
    }
    let reply: redis::RedisResult<Vec<u64>> =
        match tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut redis)).await {
            Ok(reply) => reply,
            Err(_) => Err(redis::RedisError::from((redis::ErrorKind::Io, "timed out"))),
        };
    let Ok(mut counts) = counts.lock() else {
        return;
    };
    // Logged when Redis starts or stops failing, not on every sync.
    match (&reply, counts.redis_failing) {
        (Err(error), false) => {
            tracing::warn!(%error, "rate limiter: Redis unavailable, counting in process");
        }
        (Ok(_), true) => tracing::info!("rate limiter: Redis is back, sharing counts again"),
        _ => {}
    }
    counts.redis_failing = reply.is_err();
    let Counts { buckets, dirty, .. } = &mut *counts;
    for (i, item) in batch.into_iter().enumerate() {
        let Some(entry) = buckets.get_mut(&item.bucket) else {
            continue;
        };
        if entry.window != item.window {
            continue; // the window ended meanwhile; its counts no longer matter
        }
        entry.in_flight = entry.in_flight.saturating_sub(item.count);
        match reply.as_ref().map(|totals| totals.get(i)) {
            Ok(Some(&total)) => entry.shared = entry.shared.max(total),
            _ => {
                if entry.unsent == 0 {
                    dirty.push(item.bucket.clone());
                }
                entry.unsent += item.count;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bucket names under a key of this test's own.
    fn names() -> KeyedDigest {
        KeyedDigest::derive(&hub_kernel::crypto::KeyMaterial::generate(), "test").unwrap()
    }

    #[tokio::test]
    async fn local_limiter_denies_past_the_limit() {
        let limiter = RateLimiter::new(None, Duration::from_millis(100), names());
        for _ in 0..3 {
            assert_eq!(limiter.check("key:a", 3).await, Decision::Allow);
        }
        assert!(matches!(
            limiter.check("key:a", 3).await,
            Decision::Deny { .. }
        ));
        assert_eq!(limiter.check("key:b", 3).await, Decision::Allow);
    }

    /// The test Redis, or `None` when a test outside CI may skip (see `hub_kernel::testing`).
    async fn redis() -> Option<ConnectionManager> {
        let url = hub_kernel::testing::required_service("HUB_TEST_REDIS_URL", "Redis")?;
        let client = redis::Client::open(url).expect("HUB_TEST_REDIS_URL is a Redis URL");
        Some(
            client
                .get_connection_manager()
                .await
                .expect("Redis answers"),
        )
    }

    /// Two replicas share one budget through Redis: what one counted reaches the other within
    /// a sync interval, and neither may then exceed the shared limit.
    #[tokio::test]
    async fn replicas_share_one_budget_through_redis() {
        let Some(redis) = redis().await else {
            return;
        };
        let bucket = format!("key:test-{}", uuid::Uuid::new_v4());
        let every = Duration::from_millis(20);
        let names = names();
        let (a, b) = (
            RateLimiter::new(Some(redis.clone()), every, names.clone()),
            RateLimiter::new(Some(redis), every, names),
        );
        for _ in 0..5 {
            assert_eq!(a.check(&bucket, 10).await, Decision::Allow);
            assert_eq!(b.check(&bucket, 10).await, Decision::Allow);
        }
        // Each replica alone has counted 5 of 10. A replica learns the shared total when it
        // sends its own counts, so after the budget is spent elsewhere it may allow one more
        // request per sync interval before it refuses.
        tokio::time::sleep(every * 3).await;
        for (name, replica) in [("a", &a), ("b", &b)] {
            let mut extra_allowed = 0;
            loop {
                match replica.check(&bucket, 10).await {
                    Decision::Allow if extra_allowed < 5 => extra_allowed += 1,
                    _ => break,
                }
                tokio::time::sleep(every * 3).await;
            }
            assert!(
                extra_allowed <= 1,
                "replica {name} learns the other's counts; it allowed {extra_allowed} past the shared budget"
            );
        }
    }

    /// With `sync` zero every request waits for Redis, so the budget is exact across replicas.
    #[tokio::test]
    async fn synchronous_mode_is_exact_across_replicas() {
        let Some(redis) = redis().await else {
            return;
        };
        let bucket = format!("ip:test-{}", uuid::Uuid::new_v4());
        let names = names();
        let (a, b) = (
            RateLimiter::new(Some(redis.clone()), Duration::ZERO, names.clone()),
            RateLimiter::new(Some(redis), Duration::ZERO, names),
        );
        assert_eq!(a.check(&bucket, 3).await, Decision::Allow);
        assert_eq!(b.check(&bucket, 3).await, Decision::Allow);
        assert_eq!(a.check(&bucket, 3).await, Decision::Allow);
        assert!(matches!(b.check(&bucket, 3).await, Decision::Deny { .. }));
    }

    /// Redis unreachable: requests are still counted (in process) and the limit still holds.
    #[tokio::test]
    async fn unreachable_redis_keeps_counting_in_process() {
        let client = redis::Client::open("redis://127.0.0.1:1").expect("a Redis URL");
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(Duration::from_millis(200)));
        let redis = ConnectionManager::new_lazy_with_config(client, config)
            .expect("a lazy manager connects on first use");
        for every in [Duration::ZERO, Duration::from_millis(10)] {
            let limiter = RateLimiter::new(Some(redis.clone()), every, names());
            for _ in 0..3 {
                assert_eq!(limiter.check("key:down", 3).await, Decision::Allow);
            }
            assert!(matches!(
                limiter.check("key:down", 3).await,
                Decision::Deny { .. }
            ));
        }
    }
}
