//! Peer manager settings: every limit, target and timer a named serde field with nwaku's
//! default, and one [`PeerManagerConfig::validate`] step that names the offending field.
//!
//! In a scenario this is the `[peer_manager]` table:
//!
//! ```toml
//! [peer_manager]
//! max_connections = 50        # nwaku --max-connections
//! relay_percent = 60          # relay : service = 60 : 40
//! service_percent = 40
//! sharded_peer_management = false
//! keepalive = true
//! ```
//!
//! Sources: nwaku `waku/node/peer_manager/peer_manager.nim` (constants `DefaultDialTimeout`,
//! `MaxFailedAttempts`, `InitialBackoffInSec`, `BackoffFactor`, `MaxParallelDials`,
//! `ConnectivityLoopInterval`, `PrunePeerStoreInterval`, `DefaultColocationLimit`; the
//! relay/service split in `PeerManager.new`), `waku/node/health_monitor` (keepalive:
//! `randomPeersKeepalive` 10 s, `allPeersKeepalive` 2 min, `numRandomPeers` 10) and the
//! command-line defaults (`--max-connections` 50, `--relay-service-ratio` 60:40).

use serde::{Deserialize, Serialize};
use sim_core::SimDuration;

use crate::relay::config::ConfigError;

/// What a restarted node's peer store holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartStore {
    /// Empty, refilled from the node's peer source: nwaku's default (`--peer-persistence`
    /// false keeps peers in memory only).
    #[default]
    Empty,
    /// The peers it knew before going offline, their failure counts reset: nwaku with
    /// `--peer-persistence` true (the failure books are not persisted).
    Keep,
}

/// The nwaku peer manager's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeerManagerConfig {
    /// Most connections (inbound + outbound + dials in progress, every protocol); an inbound
    /// connection beyond it is refused. nwaku command line 50 (the library's default is 300).
    pub max_connections: u32,
    /// Share of `max_connections` for relay peers, in percent (rounded up). nwaku 60.
    pub relay_percent: u32,
    /// Share for service peers (store, filter, light push clients), in percent (rounded
    /// down). nwaku 40. `relay_percent + service_percent` must be 100.
    pub service_percent: u32,
    /// Seconds between two runs of the connectivity loop when the node has all the peers it
    /// wants. nwaku 30 (`ConnectivityLoopInterval`). The wait is shortened in proportion to
    /// the missing outbound relay peers (or excess inbound ones), down to
    /// `min_connectivity_loop_s`.
    pub connectivity_loop_s: u64,
    /// Shortest wait between two runs of the connectivity loop, in seconds. nwaku 1.
    pub min_connectivity_loop_s: u64,
    /// Seconds a dial may take before it counts as failed. nwaku 10 (`DefaultDialTimeout`).
    pub dial_timeout_s: u64,
    /// Dials made at once; the next batch starts when the last one is done. nwaku 10
    /// (`MaxParallelDials`).
    pub max_parallel_dials: u32,
    /// Seconds the loop waits after each batch of dials. nwaku 5 (`connectToNodes` sleeps 5 s
    /// so that new connections settle).
    pub dial_batch_pause_s: u64,
    /// Backoff after the first failed dial, in seconds; the n-th consecutive failure waits
    /// `initial_backoff_s x backoff_factor^(n-1)`: 120, 480, 1920, 7680 s. nwaku 120.
    pub initial_backoff_s: u64,
    /// Growth of the dial backoff per failure. nwaku 4.
    pub backoff_factor: u32,
    /// Failures after which a peer is never dialled again and is removed from the peer store
    /// at its next pruning. nwaku 5 (`MaxFailedAttempts`).
    pub max_failed_attempts: u32,
    /// Most connected peers behind one IP address: when more connect, the oldest are
    /// disconnected and forgotten. nwaku 5 (`DefaultColocationLimit`); 0 disables the limit.
    pub colocation_limit: u32,
    /// Peers the peer store holds before pruning removes some; default (absent) 5 x
    /// `max_connections` = 250. Between prunings it may hold up to 4 times this; peers found
    /// beyond that are dropped (and counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_store_capacity: Option<u32>,
    /// Seconds between two prunings of the peer store. nwaku 600 (`PrunePeerStoreInterval`).
    pub peer_store_prune_s: u64,
    /// nwaku's shard manager (`shardedPeerManagement` in `PeerManager.new`, `manageRelayPeers`):
    /// per shard, an inbound target of in_target / #shards and an outbound target of
    /// out_target / #shards (integer divisions: with more shards than the target, a shard's
    /// target is 0). nwaku false.
    pub sharded_peer_management: bool,
    /// Disconnect a relay peer that shares no shard with the node (after the metadata
    /// exchange). nwaku always does; false keeps such peers (for comparison).
    pub require_common_shard: bool,
    /// Keepalive pings (libp2p ping over a new stream). nwaku true.
    pub keepalive: bool,
    /// Seconds between two keepalive rounds: every round pings the mesh peers plus random
    /// outbound peers, up to `keepalive_peers` in all. nwaku 10.
    pub keepalive_interval_s: u64,
    /// Peers a regular keepalive round pings at most (mesh peers first; all mesh peers are
    /// pinged even beyond it, as nwaku does). nwaku 10.
    pub keepalive_peers: u32,
    /// Seconds between two rounds that ping every outbound peer. nwaku 120.
    pub keepalive_all_s: u64,
    /// What a node's peer store holds when it comes back online. Default `"empty"` (nwaku's
    /// default, no peer persistence).
    pub restart_store: RestartStore,
}

impl Default for PeerManagerConfig {
    fn default() -> Self {
        PeerManagerConfig {
            max_connections: 50,
            relay_percent: 60,
            service_percent: 40,
            connectivity_loop_s: 30,
            min_connectivity_loop_s: 1,
            dial_timeout_s: 10,
            max_parallel_dials: 10,
            dial_batch_pause_s: 5,
            initial_backoff_s: 120,
            backoff_factor: 4,
            max_failed_attempts: 5,
            colocation_limit: 5,
            peer_store_capacity: None,
            peer_store_prune_s: 600,
            sharded_peer_management: false,
            require_common_shard: true,
            keepalive: true,
            keepalive_interval_s: 10,
            keepalive_peers: 10,
            keepalive_all_s: 120,
            restart_store: RestartStore::Empty,
        }
    }
}

/// The slot counts derived from the settings (nwaku `PeerManager.new`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most connections of any kind.
    pub max_connections: u32,
    /// Relay slots: ceil(max x relay%) = 30 by default.
    pub relay: u32,
    /// Service slots: floor(max x service%) = 20 by default.
    pub service: u32,
    /// Outbound relay target: relay / 3 = 10.
    pub out_target: u32,
    /// Inbound relay target: relay - out = 20.
    pub in_target: u32,
    /// Peer store capacity (250).
    pub store_capacity: u32,
}

impl PeerManagerConfig {
    /// The derived slot counts (call after [`Self::validate`]).
    pub fn limits(&self) -> Limits {
        // In u64: a hostile max_connections times a percentage overflows u32. With the
        // percentages at most 100 (as `validate` requires) the results fit again.
        let max = u64::from(self.max_connections);
        let relay = (max * u64::from(self.relay_percent))
            .div_ceil(100)
            .min(u64::from(u32::MAX)) as u32;
        let service = (max * u64::from(self.service_percent) / 100).min(u64::from(u32::MAX)) as u32;
        let out_target = relay / 3;
        Limits {
            max_connections: self.max_connections,
            relay,
            service,
            out_target,
            in_target: relay - out_target,
            store_capacity: self
                .peer_store_capacity
                .unwrap_or(self.max_connections.saturating_mul(5)),
        }
    }

    /// The dial backoff after `failures` consecutive failures (0 for none):
    /// `initial_backoff_s x backoff_factor^(failures - 1)`, saturating.
    pub fn backoff(&self, failures: u32) -> SimDuration {
        if failures == 0 {
            return SimDuration::ZERO;
        }
        let mut s = self.initial_backoff_s;
        for _ in 1..failures {
            s = s.saturating_mul(self.backoff_factor as u64);
        }
        SimDuration::from_secs(s.min(u64::MAX / 1_000_000_000))
    }

    /// Checks every invariant; `d_high` is the relay's D_high (nwaku refuses fewer relay
    /// slots than D_high). The first violation is returned, naming the field under
    /// `peer_manager.`.
    pub fn validate(&self, d_high: u32) -> Result<(), ConfigError> {
        let f = |name: &str| format!("peer_manager.{name}");
        let err = |name: &str, problem: String, fix: &str| {
            Err(ConfigError {
                field: f(name),
                problem,
                fix: fix.to_owned(),
            })
        };
        if self.max_connections == 0 {
            return err(
                "max_connections",
                "must be at least 1".into(),
                "set max_connections to 50 (nwaku)",
            );
        }
        if self.relay_percent.checked_add(self.service_percent) != Some(100) {
            return err(
                "service_percent",
                format!(
                    "relay_percent + service_percent = {} + {} must be 100",
                    self.relay_percent, self.service_percent
                ),
                "split 100 between them (nwaku 60 : 40)",
            );
        }
        let l = self.limits();
        if l.relay < d_high {
            return err(
                "relay_percent",
                format!(
                    "{} relay slots ({}% of {} connections) are fewer than relay.d_high = {d_high}",
                    l.relay, self.relay_percent, self.max_connections
                ),
                "raise max_connections or relay_percent (nwaku refuses this configuration)",
            );
        }
        if l.out_target == 0 {
            return err(
                "max_connections",
                format!(
                    "{} relay slots leave no outbound target (relay / 3 = 0)",
                    l.relay
                ),
                "raise max_connections",
            );
        }
        for (name, v, fix) in [
            (
                "connectivity_loop_s",
                self.connectivity_loop_s,
                "set it to 30 (nwaku)",
            ),
            (
                "min_connectivity_loop_s",
                self.min_connectivity_loop_s,
                "set it to 1 (nwaku)",
            ),
            (
                "dial_timeout_s",
                self.dial_timeout_s,
                "set it to 10 (nwaku)",
            ),
            (
                "peer_store_prune_s",
                self.peer_store_prune_s,
                "set it to 600 (nwaku)",
            ),
            (
                "keepalive_interval_s",
                self.keepalive_interval_s,
                "set it to 10 (nwaku)",
            ),
        ] {
            if v == 0 {
                return err(name, "must be positive".into(), fix);
            }
        }
        if self.min_connectivity_loop_s > self.connectivity_loop_s {
            return err(
                "min_connectivity_loop_s",
                format!(
                    "{} s is above connectivity_loop_s = {} s",
                    self.min_connectivity_loop_s, self.connectivity_loop_s
                ),
                "lower min_connectivity_loop_s",
            );
        }
        if self.max_parallel_dials == 0 {
            return err(
                "max_parallel_dials",
                "must be at least 1".into(),
                "set it to 10 (nwaku)",
            );
        }
        if self.max_failed_attempts == 0 {
            return err(
                "max_failed_attempts",
                "must be at least 1".into(),
                "set it to 5 (nwaku)",
            );
        }
        if self.backoff_factor == 0 {
            return err(
                "backoff_factor",
                "must be at least 1".into(),
                "set it to 4 (nwaku)",
            );
        }
        // nwaku refuses a largest backoff above one week.
        let week = 7 * 24 * 3600;
        let longest = self.backoff(self.max_failed_attempts).as_nanos() / 1_000_000_000;
        if longest > week {
            return err(
                "initial_backoff_s",
                format!(
                    "the backoff after {} failures is {longest} s, above one week",
                    self.max_failed_attempts
                ),
                "lower initial_backoff_s, backoff_factor or max_failed_attempts",
            );
        }
        if l.store_capacity < self.max_connections {
            return err(
                "peer_store_capacity",
                format!(
                    "{} is below max_connections = {}",
                    l.store_capacity, self.max_connections
                ),
                "leave it out (5 x max_connections) or raise it (nwaku refuses this)",
            );
        }
        if self.keepalive && self.keepalive_all_s < self.keepalive_interval_s {
            return err(
                "keepalive_all_s",
                format!(
                    "{} s is below keepalive_interval_s = {} s",
                    self.keepalive_all_s, self.keepalive_interval_s
                ),
                "raise keepalive_all_s (nwaku 120)",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nwaku_defaults_and_derived_slots() {
        let c = PeerManagerConfig::default();
        c.validate(8).unwrap();
        // 50 connections, 60:40: relay ceil(30) = 30, service floor(20) = 20; out 30 / 3 = 10,
        // in 30 - 10 = 20; peer store 5 x 50 = 250.
        assert_eq!(
            c.limits(),
            Limits {
                max_connections: 50,
                relay: 30,
                service: 20,
                out_target: 10,
                in_target: 20,
                store_capacity: 250,
            }
        );
        // 45 connections: relay ceil(27) = 27, service floor(18) = 18, out 9, in 18.
        let c45 = PeerManagerConfig {
            max_connections: 45,
            ..c.clone()
        };
        let l = c45.limits();
        assert_eq!(
            (l.relay, l.service, l.out_target, l.in_target),
            (27, 18, 9, 18)
        );
        // 51: relay ceil(30.6) = 31, service floor(20.4) = 20.
        let c51 = PeerManagerConfig {
            max_connections: 51,
            ..c
        };
        assert_eq!((c51.limits().relay, c51.limits().service), (31, 20));
    }

    #[test]
    fn hostile_sizes_are_refused_or_computed_without_overflow() {
        // 4e9 connections x 60 % overflowed u32 (a panic in debug builds): now 2.4e9 relay
        // slots (ceil(4e9 x 0.6)), 1.6e9 service slots, out 2.4e9 / 3 = 8e8, and a peer store
        // of 5 x 4e9 saturated at u32::MAX.
        let c = PeerManagerConfig {
            max_connections: 4_000_000_000,
            ..PeerManagerConfig::default()
        };
        c.validate(8).unwrap();
        let l = c.limits();
        assert_eq!(
            (l.relay, l.service, l.out_target, l.store_capacity),
            (2_400_000_000, 1_600_000_000, 800_000_000, u32::MAX)
        );
        // Percentages whose sum overflows u32 are an error, not a panic.
        let c = PeerManagerConfig {
            relay_percent: u32::MAX,
            service_percent: 1,
            ..PeerManagerConfig::default()
        };
        assert_eq!(
            c.validate(8).unwrap_err().field,
            "peer_manager.service_percent"
        );
    }

    #[test]
    fn backoff_grows_by_the_factor() {
        let c = PeerManagerConfig::default();
        let s = |n| c.backoff(n).as_nanos() / 1_000_000_000;
        // 120 x 4^(n-1): 120, 480, 1920, 7680, 30720 s.
        assert_eq!(
            (s(0), s(1), s(2), s(3), s(4), s(5)),
            (0, 120, 480, 1920, 7680, 30720)
        );
    }

    #[test]
    fn toml_shape_and_errors_name_the_field() {
        let c: PeerManagerConfig =
            toml::from_str("max_connections = 100\nrestart_store = \"keep\"\n").unwrap();
        assert_eq!(c.max_connections, 100);
        assert_eq!(c.restart_store, RestartStore::Keep);
        assert_eq!(c.limits().store_capacity, 500);
        assert!(toml::from_str::<PeerManagerConfig>("max_conections = 1").is_err());
        let text = toml::to_string(&PeerManagerConfig::default()).unwrap();
        assert_eq!(
            toml::from_str::<PeerManagerConfig>(&text).unwrap(),
            PeerManagerConfig::default()
        );
        let cases: Vec<(PeerManagerConfig, &str)> = vec![
            (
                PeerManagerConfig {
                    max_connections: 10,
                    ..Default::default()
                },
                // 10 x 60 % = 6 relay slots < D_high 8.
                "peer_manager.relay_percent",
            ),
            (
                PeerManagerConfig {
                    relay_percent: 70,
                    ..Default::default()
                },
                "peer_manager.service_percent",
            ),
            (
                PeerManagerConfig {
                    peer_store_capacity: Some(10),
                    ..Default::default()
                },
                "peer_manager.peer_store_capacity",
            ),
            (
                PeerManagerConfig {
                    initial_backoff_s: 100_000,
                    ..Default::default()
                },
                // 100,000 x 4^4 s is far above a week.
                "peer_manager.initial_backoff_s",
            ),
            (
                PeerManagerConfig {
                    dial_timeout_s: 0,
                    ..Default::default()
                },
                "peer_manager.dial_timeout_s",
            ),
            (
                PeerManagerConfig {
                    min_connectivity_loop_s: 31,
                    ..Default::default()
                },
                "peer_manager.min_connectivity_loop_s",
            ),
        ];
        for (c, field) in cases {
            let e = c.validate(8).unwrap_err();
            assert_eq!(e.field, field, "{e}");
        }
    }
}
