//! Short-lived shared state: sessions (and each person's set of them), sign-in flows in
//! progress, and the memory of consumed SAML assertions and flows. Redis in production, so
//! every gateway replica sees the same sessions and a revocation takes effect everywhere at
//! once; an in-process map for the embedded single-process default.
//!
//! Unlike the rate limiter, this does not fall back to process memory when Redis fails: a
//! session store that silently splits per replica would let a revoked session live on. A
//! Redis outage answers 503 `session_store_unavailable` instead.

use crate::error::IdentityError;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const LOCAL_SWEEP_AT: usize = 50_000;

pub struct Ephemeral {
    redis: Option<ConnectionManager>,
    local: Mutex<Local>,
}

#[derive(Default)]
struct Local {
    values: HashMap<String, (Instant, String)>,
    sets: HashMap<String, (Instant, HashSet<String>)>,
}

impl Local {
    fn sweep(&mut self) {
        if self.values.len() + self.sets.len() < LOCAL_SWEEP_AT {
            return;
        }
        let now = Instant::now();
        self.values.retain(|_, (until, _)| *until > now);
        self.sets.retain(|_, (until, _)| *until > now);
    }
}

fn ttl_secs(ttl: Duration) -> u64 {
    ttl.as_secs().max(1)
}

impl Ephemeral {
    pub fn new(redis: Option<ConnectionManager>) -> Self {
        Self {
            redis,
            local: Mutex::new(Local::default()),
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, Local> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters (each operation is one insert or remove), so a poisoned lock is reused.
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), IdentityError> {
        match &self.redis {
            Some(redis) => {
                let mut redis = redis.clone();
                let () = redis.set_ex(key, value, ttl_secs(ttl)).await?;
            }
            None => {
                let mut local = self.local();
                local.sweep();
                local
                    .values
                    .insert(key.to_string(), (Instant::now() + ttl, value.to_string()));
            }
        }
        Ok(())
    }

    /// Stores `value` only if `key` is not there yet; `false` if it was (replay detection).
    pub async fn put_once(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, IdentityError> {
        match &self.redis {
            Some(redis) => {
                let mut redis = redis.clone();
                let set: Option<String> = redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl_secs(ttl))
                    .query_async(&mut redis)
                    .await?;
                Ok(set.is_some())
            }
            None => {
                let mut local = self.local();
                let now = Instant::now();
                if matches!(local.values.get(key), Some((until, _)) if *until > now) {
                    return Ok(false);
                }
                local
                    .values
                    .insert(key.to_string(), (now + ttl, value.to_string()));
                Ok(true)
            }
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, IdentityError> {
        match &self.redis {
            Some(redis) => Ok(redis.clone().get(key).await?),
            None => {
                let local = self.local();
                Ok(local
                    .values
                    .get(key)
                    .filter(|(until, _)| *until > Instant::now())
                    .map(|(_, v)| v.clone()))
            }
        }
    }

    /// Replaces the value of a key that still exists, keeping its expiry; returns whether it
    /// did. One step (`SET … XX KEEPTTL`), so a key deleted meanwhile (a revoked session) is
    /// not brought back.
    pub async fn replace(&self, key: &str, value: &str) -> Result<bool, IdentityError> {
        match &self.redis {
            Some(redis) => {
                let done: Option<String> = redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("XX")
                    .arg("KEEPTTL")
                    .query_async(&mut redis.clone())
                    .await?;
                Ok(done.is_some())
            }
            None => {
                let mut local = self.local();
                match local.values.get_mut(key) {
                    Some((until, stored)) if *until > Instant::now() => {
                        *stored = value.to_string();
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            }
        }
    }

    /// Reads and deletes in one step, so a value can be consumed only once.
    pub async fn take(&self, key: &str) -> Result<Option<String>, IdentityError> {
        match &self.redis {
            Some(redis) => Ok(redis.clone().get_del(key).await?),
            None => {
                let mut local = self.local();
                Ok(local
                    .values
                    .remove(key)
                    .filter(|(until, _)| *until > Instant::now())
                    .map(|(_, v)| v))
            }
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), IdentityError> {
        match &self.redis {
            Some(redis) => {
                let () = redis.clone().del(key).await?;
            }
            None => {
                self.local().values.remove(key);
            }
        }
        Ok(())
    }

    pub async fn add_member(
        &self,
        set: &str,
        member: &str,
        ttl: Duration,
    ) -> Result<(), IdentityError> {
        match &self.redis {
            Some(redis) => {
                let mut redis = redis.clone();
                let () = redis::pipe()
                    .sadd(set, member)
                    .ignore()
                    .expire(set, ttl_secs(ttl) as i64)
                    .ignore()
                    .query_async(&mut redis)
                    .await?;
            }
            None => {
                let mut local = self.local();
                let entry = local
                    .sets
                    .entry(set.to_string())
                    .or_insert_with(|| (Instant::now(), HashSet::new()));
                entry.0 = Instant::now() + ttl;
                entry.1.insert(member.to_string());
            }
        }
        Ok(())
    }

    pub async fn remove_member(&self, set: &str, member: &str) -> Result<(), IdentityError> {
        match &self.redis {
            Some(redis) => {
                let () = redis.clone().srem(set, member).await?;
            }
            None => {
                if let Some((_, members)) = self.local().sets.get_mut(set) {
                    members.remove(member);
                }
            }
        }
        Ok(())
    }

    pub async fn members(&self, set: &str) -> Result<Vec<String>, IdentityError> {
        match &self.redis {
            Some(redis) => Ok(redis.clone().smembers(set).await?),
            None => {
                let local = self.local();
                Ok(local
                    .sets
                    .get(set)
                    .filter(|(until, _)| *until > Instant::now())
                    .map(|(_, m)| m.iter().cloned().collect())
                    .unwrap_or_default())
            }
        }
    }

    /// Every live key starting with `prefix` (a fixed prefix: no glob characters). Walks the
    /// keyspace (`SCAN`), so it is for rare operations such as an offboarding, never a request.
    pub async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, IdentityError> {
        match &self.redis {
            Some(redis) => {
                let mut redis = redis.clone();
                // Large batches: one round trip per thousand keys, not per ten.
                let options = redis::ScanOptions::default()
                    .with_pattern(format!("{prefix}*"))
                    .with_count(1_000);
                let mut found = redis.scan_options::<String>(options).await?;
                let mut keys = Vec::new();
                while let Some(key) = found.next_item().await {
                    keys.push(key?);
                }
                Ok(keys)
            }
            None => {
                let local = self.local();
                let now = Instant::now();
                Ok(local
                    .values
                    .iter()
                    .map(|(k, (until, _))| (k, until))
                    .chain(local.sets.iter().map(|(k, (until, _))| (k, until)))
                    .filter(|(k, until)| k.starts_with(prefix) && **until > now)
                    .map(|(k, _)| k.clone())
                    .collect())
            }
        }
    }

    /// Deletes a set made by [`Self::add_member`].
    pub async fn delete_set(&self, set: &str) -> Result<(), IdentityError> {
        match &self.redis {
            Some(redis) => {
                let () = redis.clone().del(set).await?;
            }
            None => {
                self.local().sets.remove(set);
            }
        }
        Ok(())
    }
}
