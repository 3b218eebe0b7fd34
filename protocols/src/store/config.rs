//! The `[store]` section: the archive, queries, store sync and p2p reliability, with nwaku's
//! defaults (../shared facts in docs/studies/store-sync.md cite the sources).

use serde::{Deserialize, Serialize};

use crate::relay::config::ConfigError;
use crate::store::archive::Retention;

/// A request rate limit: `requests` per `period_s` (nwaku `proto:N/period`, a token bucket
/// refilled every period).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests allowed per period.
    pub requests: u32,
    /// The period, in seconds.
    pub period_s: f64,
}

/// Store sync (`/vac/waku/reconciliation/1.0.0` and `/vac/waku/transfer/1.0.0`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// Store nodes reconcile with a peer. Default false.
    pub enabled: bool,
    /// Seconds between two syncs a node starts (each node from a random phase). nwaku 300.
    pub interval_s: u64,
    /// Seconds of history reconciled: the window `[now - lag - window, now - lag)`. nwaku
    /// 3600.
    pub window_s: u64,
    /// Seconds the window ends before now (messages still in flight on relay). nwaku 20.
    pub lag_s: u64,
    /// Parts a differing range is split into. nwaku 8.
    pub partitions: u32,
    /// Ranges of at most this many items are sent as item sets. nwaku 100.
    pub item_set_threshold: u32,
    /// Sessions a node answers at once (more are refused). Default 8.
    pub max_sessions: u32,
    /// Seconds after which an unfinished session is abandoned. Default 60.
    pub session_timeout_s: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            enabled: false,
            interval_s: 300,
            window_s: 3600,
            lag_s: 20,
            partitions: 8,
            item_set_threshold: 100,
            max_sessions: 8,
            session_timeout_s: 60,
        }
    }
}

/// p2p reliability for relay nodes (the WAKU-P2P-RELIABILITY spec; nwaku
/// `delivery_monitor/send_monitor.nim` and `recv_monitor.nim`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReliabilityConfig {
    /// Publishers check store for their recent messages and republish the missing ones.
    /// Default false.
    pub publisher: bool,
    /// Milliseconds between two publisher checks. nwaku 3000 (`SendCheckInterval`).
    pub publisher_check_interval_ms: u64,
    /// A message is checked once it is this many milliseconds old. nwaku 3000
    /// (`ArchiveTime`).
    pub publisher_archive_delay_ms: u64,
    /// Seconds after which an unconfirmed message is given up. nwaku 60 (`MaxTimeInCache`).
    pub publisher_max_age_s: u64,
    /// Hashes per publisher check query. nwaku 100 (`MaxMessagesToCheckAtOnce`).
    pub publisher_hashes_per_query: u32,
    /// The republish goes out even though the publisher's relay has the message in its seen
    /// cache. Default false: nwaku republishes through `WakuRelay.publish`, which nim-libp2p
    /// drops as already seen while the seen entry lives (`seen_ttl_s`, 120 s, longer than
    /// `publisher_max_age_s`).
    pub republish_ignores_seen: bool,
    /// Messages a publisher tracks at most (older ones are given up first). Default 1000.
    pub publisher_max_tracked: u32,
    /// Relay nodes that are not store nodes check store for what they missed. Default false.
    pub receiver: bool,
    /// Seconds between two receiver checks. nwaku 300 (`StoreCheckPeriod`).
    pub receiver_check_interval_s: u64,
    /// Seconds each check reaches back before the previous one. nwaku 5 (`DelayExtra`).
    pub receiver_overlap_s: u64,
    /// Seconds a received message is remembered. nwaku 420 (`MaxMessageLife`).
    pub receiver_max_age_s: u64,
    /// Received messages remembered at most (the oldest are forgotten first). Default
    /// 100,000.
    pub receiver_max_tracked: u32,
    /// Seconds a receiver check reaches back at most (after a long offline period). The
    /// spec's store-resume window: 21,600 (6 h).
    pub receiver_max_window_s: u64,
}

impl Default for ReliabilityConfig {
    fn default() -> Self {
        ReliabilityConfig {
            publisher: false,
            publisher_check_interval_ms: 3000,
            publisher_archive_delay_ms: 3000,
            publisher_max_age_s: 60,
            publisher_hashes_per_query: 100,
            republish_ignores_seen: false,
            publisher_max_tracked: 1000,
            receiver: false,
            receiver_check_interval_s: 300,
            receiver_overlap_s: 5,
            receiver_max_age_s: 420,
            receiver_max_tracked: 100_000,
            receiver_max_window_s: 21_600,
        }
    }
}

/// The `[store]` section. Store nodes are the nodes with role `store`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The retention policy. nwaku's default `{ kind = "time", seconds = 172800 }` (2 days).
    pub retention: Retention,
    /// Seconds between two retention checks. nwaku 1800 (30 min).
    pub retention_interval_s: u64,
    /// A relayed message is archived only when its timestamp is within this many seconds of
    /// now. nwaku 20 (`MaxMessageTimestampVariance`).
    pub max_time_drift_s: u64,
    /// Rows an archive holds at most whatever the policy (memory bound; the oldest goes
    /// first). Default 1,000,000.
    pub max_rows: u64,
    /// Page size when a query gives none. nwaku 20.
    pub page_size_default: u32,
    /// Largest page size (larger requests are clamped). nwaku 100.
    pub page_size_max: u32,
    /// Content topics per query at most (more: status 400). 10.
    pub max_content_topics: u32,
    /// Hashes per query at most (more: status 400). 100.
    pub max_hashes: u32,
    /// Queries a store node serves per period, all clients together; `None` (nwaku's
    /// default): unlimited. Over the limit: status 429.
    pub rate_limit: Option<RateLimit>,
    /// Queries a store node serves per period and client; `None` (default): unlimited.
    pub per_peer_rate_limit: Option<RateLimit>,
    /// Clients a store node keeps a per-peer bucket for (the least recently used goes when
    /// full). Default 1024.
    pub max_rate_limited_peers: u32,
    /// Seconds a client waits for a response. Default 10.
    pub query_timeout_s: u64,
    /// Queries a node has outstanding at most (more are dropped and counted). Default 64.
    pub max_pending_queries: u32,
    /// Probability that a store node misses a relayed message at the application level (its
    /// archive never sees it: a brief disconnection or a dropped insert). Relay streams
    /// retransmit lost packets, so network loss alone never makes a store miss a message;
    /// this is the loss a store sync study means. Default 0.
    pub reception_loss: f64,
    /// Probability that a receiver (p2p reliability) misses a relayed message at the
    /// application level. Default 0.
    pub receiver_loss: f64,
    /// A store node back online queries another store node for the time it was offline.
    /// Default false (nwaku `--store-resume`).
    pub resume: bool,
    /// Seconds a resume reaches back at most. The spec's 21,600 (6 h).
    pub resume_window_s: u64,
    /// `[store.sync]`: store sync.
    pub sync: SyncConfig,
    /// `[store.reliability]`: p2p reliability for relay nodes.
    pub reliability: ReliabilityConfig,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retention: Retention::default(),
            retention_interval_s: 1800,
            max_time_drift_s: 20,
            max_rows: 1_000_000,
            page_size_default: 20,
            page_size_max: 100,
            max_content_topics: 10,
            max_hashes: 100,
            rate_limit: None,
            per_peer_rate_limit: None,
            max_rate_limited_peers: 1024,
            query_timeout_s: 10,
            max_pending_queries: 64,
            reception_loss: 0.0,
            receiver_loss: 0.0,
            resume: false,
            resume_window_s: 21_600,
            sync: SyncConfig::default(),
            reliability: ReliabilityConfig::default(),
        }
    }
}

fn err(field: &str, problem: String, fix: &str) -> ConfigError {
    ConfigError {
        field: format!("store.{field}"),
        problem,
        fix: fix.to_owned(),
    }
}

impl StoreConfig {
    /// Checks every field and their relations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (f, v) in [
            ("retention_interval_s", self.retention_interval_s),
            ("max_rows", self.max_rows),
            ("page_size_default", self.page_size_default as u64),
            ("page_size_max", self.page_size_max as u64),
            ("max_hashes", self.max_hashes as u64),
            ("query_timeout_s", self.query_timeout_s),
            ("max_pending_queries", self.max_pending_queries as u64),
            ("max_rate_limited_peers", self.max_rate_limited_peers as u64),
            ("sync.interval_s", self.sync.interval_s),
            ("sync.window_s", self.sync.window_s),
            (
                "sync.item_set_threshold",
                self.sync.item_set_threshold as u64,
            ),
            ("sync.max_sessions", self.sync.max_sessions as u64),
            ("sync.session_timeout_s", self.sync.session_timeout_s),
            (
                "reliability.publisher_check_interval_ms",
                self.reliability.publisher_check_interval_ms,
            ),
            (
                "reliability.publisher_hashes_per_query",
                self.reliability.publisher_hashes_per_query as u64,
            ),
            (
                "reliability.publisher_max_tracked",
                self.reliability.publisher_max_tracked as u64,
            ),
            (
                "reliability.receiver_check_interval_s",
                self.reliability.receiver_check_interval_s,
            ),
            (
                "reliability.receiver_max_tracked",
                self.reliability.receiver_max_tracked as u64,
            ),
        ] {
            if v == 0 {
                return Err(err(
                    f,
                    "must be positive, got 0".into(),
                    "use a positive value",
                ));
            }
        }
        if self.sync.partitions < 2 {
            return Err(err(
                "sync.partitions",
                format!("must be at least 2, got {}", self.sync.partitions),
                "set partitions to 8 (nwaku)",
            ));
        }
        if self.page_size_default > self.page_size_max {
            return Err(err(
                "page_size_default",
                format!(
                    "{} is above page_size_max {}",
                    self.page_size_default, self.page_size_max
                ),
                "keep page_size_default <= page_size_max (nwaku 20 <= 100)",
            ));
        }
        if self.reliability.publisher_hashes_per_query > self.max_hashes {
            return Err(err(
                "reliability.publisher_hashes_per_query",
                format!(
                    "{} is above store.max_hashes {}: every check would get status 400",
                    self.reliability.publisher_hashes_per_query, self.max_hashes
                ),
                "keep publisher_hashes_per_query <= max_hashes (100)",
            ));
        }
        for (f, p) in [
            ("reception_loss", self.reception_loss),
            ("receiver_loss", self.receiver_loss),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(err(
                    f,
                    format!("must be a probability in [0, 1], got {p}"),
                    "use a value between 0 and 1 (0.2 = 20 % of messages missed)",
                ));
            }
        }
        for (f, r) in [
            ("rate_limit", self.rate_limit),
            ("per_peer_rate_limit", self.per_peer_rate_limit),
        ] {
            if let Some(r) = r
                && (r.requests == 0 || !(r.period_s.is_finite() && r.period_s > 0.0))
            {
                return Err(err(
                    f,
                    format!(
                        "needs requests > 0 and a positive period, got {} per {} s",
                        r.requests, r.period_s
                    ),
                    "e.g. { requests = 100, period_s = 1 }, or leave it out (unlimited)",
                ));
            }
        }
        match self.retention {
            Retention::Time { seconds: 0 }
            | Retention::Capacity { messages: 0 }
            | Retention::Size { bytes: 0 } => {
                return Err(err(
                    "retention",
                    "a retention limit of 0 keeps nothing".into(),
                    "use a positive limit, e.g. { kind = \"time\", seconds = 172800 }",
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_field() {
        assert!(StoreConfig::default().validate().is_ok());
        let c = StoreConfig {
            reception_loss: 1.5,
            ..StoreConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "store.reception_loss");
        let mut c = StoreConfig::default();
        c.sync.partitions = 1;
        assert_eq!(c.validate().unwrap_err().field, "store.sync.partitions");
        let c = StoreConfig {
            page_size_default: 200,
            ..StoreConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "store.page_size_default");
        let c = StoreConfig {
            retention: Retention::Capacity { messages: 0 },
            ..StoreConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "store.retention");
    }
}
