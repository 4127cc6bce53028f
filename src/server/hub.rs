//! The server's Hugging Face Hub edge (`kvplan serve --allow-hub`, off by
//! default): `hf:org/name[@revision]` models for the page, through the same
//! loader as the CLI (`spec::hub`, which keeps the standard HF cache on
//! disk), behind limits a public server needs: a bounded in-memory cache of
//! answers (the page asks for the same model on every input change), at
//! most a set number of Hub lookups a minute, and one lookup at a time.

use super::ApiError;
use crate::error::Error;
use crate::spec::hub::{load_with, HubConfig, HubId};
use crate::spec::model::ModelSpec;
use axum::http::StatusCode;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a loaded model is answered from memory before the Hub is asked again.
const FRESH_OK: Duration = Duration::from_secs(600);
/// How long a failed lookup is answered from memory (a typo is not retried per keystroke).
const FRESH_ERR: Duration = Duration::from_secs(30);
/// The window of the lookup rate limit.
const WINDOW: Duration = Duration::from_secs(60);
/// Longest `org/name@revision` accepted (Hub ids are at most 96 + 40 + 1).
const MAX_ID_CHARS: usize = 200;

/// The limits of the Hub edge; `kvplan serve` sets them from its flags.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Hub lookups (cache misses) allowed per minute, all clients together.
    pub lookups_per_minute: usize,
    /// Models kept in memory (the oldest is dropped beyond this).
    pub max_cached: usize,
    /// Where the Hub is and where its files are cached (HF_* environment).
    pub config: HubConfig,
}

impl HubOptions {
    /// The defaults with the HF_* environment (HF_HOME, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE).
    pub fn from_env(lookups_per_minute: usize) -> crate::Result<Self> {
        Ok(HubOptions {
            lookups_per_minute,
            max_cached: 64,
            config: HubConfig::from_env()?,
        })
    }
}

/// One remembered answer.
#[derive(Debug, Clone)]
struct Answer {
    at: Instant,
    spec: Result<ModelSpec, Error>,
}

/// The edge's state: cached answers and the times of recent lookups.
#[derive(Debug, Default)]
struct EdgeState {
    answers: HashMap<String, Answer>,
    lookups: VecDeque<Instant>,
}

/// The Hub edge shared by all requests of a server.
#[derive(Debug)]
pub(crate) struct HubEdge {
    opts: HubOptions,
    state: Mutex<EdgeState>,
    /// Held during a lookup: one download at a time.
    fetching: Mutex<()>,
}

/// What the rate limit says about a new lookup at `now`.
fn admit(lookups: &mut VecDeque<Instant>, now: Instant, per_minute: usize) -> Result<(), Duration> {
    while lookups
        .front()
        .is_some_and(|t| now.duration_since(*t) >= WINDOW)
    {
        lookups.pop_front();
    }
    if lookups.len() >= per_minute {
        let oldest = lookups.front().copied().unwrap_or(now);
        return Err(WINDOW.saturating_sub(now.duration_since(oldest)));
    }
    lookups.push_back(now);
    Ok(())
}

/// A remembered answer still fresh at `now`.
fn fresh(a: &Answer, now: Instant) -> bool {
    let ttl = if a.spec.is_ok() { FRESH_OK } else { FRESH_ERR };
    now.duration_since(a.at) < ttl
}

impl HubEdge {
    /// An edge with these limits.
    pub(crate) fn new(opts: HubOptions) -> Self {
        HubEdge {
            opts,
            state: Mutex::new(EdgeState::default()),
            fetching: Mutex::new(()),
        }
    }

    fn remembered(&self, key: &str, now: Instant) -> Option<Result<ModelSpec, Error>> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.answers
            .get(key)
            .filter(|a| fresh(a, now))
            .map(|a| a.spec.clone())
    }

    /// The model `hf:` + `id` (what follows `hf:`), from memory, or from
    /// the Hub (or its disk cache) within the rate limit. Blocking: call it
    /// on a blocking thread.
    pub(crate) fn load(&self, id: &str) -> Result<ModelSpec, ApiError> {
        if id.chars().count() > MAX_ID_CHARS {
            return Err(ApiError::bad(
                "model",
                format!("a Hugging Face id is at most {MAX_ID_CHARS} characters"),
            ));
        }
        let hub_id = HubId::parse(id)?;
        let key = format!("{}@{}", hub_id.repo, hub_id.revision);
        if let Some(r) = self.remembered(&key, Instant::now()) {
            return r.map_err(ApiError::from);
        }
        let _one = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        // Another request may have loaded it while this one waited.
        let now = Instant::now();
        if let Some(r) = self.remembered(&key, now) {
            return r.map_err(ApiError::from);
        }
        {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(wait) = admit(&mut st.lookups, now, self.opts.lookups_per_minute) {
                return Err(ApiError {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    error: format!(
                        "model: this server allows {} Hugging Face lookups a minute; retry in {} s, or paste the model's config.json",
                        self.opts.lookups_per_minute,
                        wait.as_secs().max(1)
                    ),
                    field: Some("model".into()),
                });
            }
        }
        let spec = load_with(&self.opts.config, &hub_id).map_err(|e| match e {
            // The Hub being unreachable is about this model field on the page.
            Error::Environment(m) => Error::input("model", m),
            e => e,
        });
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.answers.len() >= self.opts.max_cached && !st.answers.contains_key(&key) {
            if let Some(oldest) = st
                .answers
                .iter()
                .min_by_key(|(_, a)| a.at)
                .map(|(k, _)| k.clone())
            {
                st.answers.remove(&oldest);
            }
        }
        st.answers.insert(
            key,
            Answer {
                at: Instant::now(),
                spec: spec.clone(),
            },
        );
        spec.map_err(ApiError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_admits_n_per_minute_then_says_when_to_retry() {
        let t0 = Instant::now();
        let mut q = VecDeque::new();
        for i in 0..3 {
            assert!(admit(&mut q, t0 + Duration::from_secs(i), 3).is_ok());
        }
        // The fourth within the minute waits until the first leaves the window.
        let wait = admit(&mut q, t0 + Duration::from_secs(10), 3).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // A minute after the first, one slot is free again.
        assert!(admit(&mut q, t0 + Duration::from_secs(60), 3).is_ok());
        assert!(admit(&mut q, t0 + Duration::from_secs(60), 3).is_err());
    }

    #[test]
    fn failures_are_remembered_for_less_time_than_models() {
        let t0 = Instant::now();
        let err = Answer {
            at: t0,
            spec: Err(Error::input("model", "no such repository")),
        };
        assert!(fresh(&err, t0 + Duration::from_secs(29)));
        assert!(!fresh(&err, t0 + Duration::from_secs(31)));
    }
}
