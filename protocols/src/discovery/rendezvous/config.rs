//! `[discovery.rendezvous]`: who the rendezvous points are, how clients run their loops and
//! what a point accepts. Defaults are nwaku v0.37.0-rc.4's (`waku/waku_rendezvous/common.nim`,
//! `protocol.nim`, commit 9a341a6) over the nim-libp2p it pins (aa8ce46,
//! `libp2p/protocols/rendezvous/rendezvous.nim`); each field names the spec or go-waku value
//! where it differs.

use serde::{Deserialize, Serialize};
use sim_core::SimDuration;

use crate::relay::config::ConfigError;

/// Whose client loops the nodes run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// nwaku v0.37: every `register_interval_s`, for each of its shards, REGISTER with one
    /// random point on that shard; DISCOVER at start and after 1, 2, 4, ... minutes (doubling,
    /// stopping once the interval reaches a day), for each shard from one random point on it.
    #[default]
    Nwaku,
    /// go-waku (`waku/v2/rendezvous/rendezvous.go`, 00c423c): REGISTER for each shard with
    /// every point, again after the TTL the point granted, after 200 ms x 2^n on the n-th
    /// error (giving up after 7); per shard, DISCOVER from a random point with its cookie,
    /// again at once after an answer with records, after 5 s after an empty one or an error.
    GoWaku,
}

/// The rendezvous protocol's configuration (`[discovery.rendezvous]` of a scenario).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RendezvousConfig {
    /// Node ids of the rendezvous points. Default none (then `point_groups` must name some).
    pub points: Vec<u32>,
    /// Names of node groups (`[[network.groups]]`) whose nodes are rendezvous points. Default
    /// none; with neither `points` nor `point_groups`, every node of role `rendezvous`.
    pub point_groups: Vec<String>,
    /// Whose client loops nodes run: `"nwaku"` (default) or `"go_waku"`.
    pub client: ClientKind,
    /// TTL a client asks for, in seconds. Default: nwaku 60 (`DefaultRegistrationTTL`);
    /// go-waku 7200 (go-libp2p-rendezvous `DefaultTTL`).
    pub ttl_s: Option<u64>,
    /// nwaku: seconds between two registration rounds. Default 10
    /// (`DefaultRegistrationInterval`).
    pub register_interval_s: u64,
    /// nwaku: double the registration interval after a round with an error, up to
    /// `max_register_interval_s`. Default false: in nwaku v0.37 the doubling is dead code (the
    /// loop resets the interval to 10 s right after doubling it).
    pub register_backoff: bool,
    /// nwaku: the cap of that doubling, seconds. Default 300 (`MaxRegistrationInterval`).
    pub max_register_interval_s: u64,
    /// nwaku: seconds slept after the first discovery round. Default 60
    /// (`DefaultRequestsInterval`).
    pub discover_interval_s: u64,
    /// nwaku: the discovery interval is multiplied by this after each round. Default 2.
    pub discover_backoff_factor: u64,
    /// nwaku: discovery stops once its interval reaches this many seconds. Default 86400
    /// (one day): rounds at 0, 1, 3, 7, ..., 1023 minutes after start, 11 in all.
    pub max_discover_interval_s: u64,
    /// Records a client asks for per DISCOVER. Default 12 (nwaku `PeersRequestedCount`).
    pub discover_limit: u32,
    /// Seconds a request may wait for its answer (dial included) before it counts as an
    /// error. Default 10 (a model bound; nim-libp2p has no rendezvous timeout of its own).
    pub request_timeout_s: u64,
    /// Point: smallest TTL accepted, seconds (E_INVALID_TTL below). Default 60: nwaku mounts
    /// rendezvous with `minDuration = DefaultRegistrationTTL`; the spec and nim-libp2p's
    /// default say 7200.
    pub min_ttl_s: u64,
    /// Point: largest TTL accepted, seconds (E_INVALID_TTL above). Default 259200 (72 h).
    pub max_ttl_s: u64,
    /// Point: registrations one peer may hold (E_NOT_AUTHORIZED beyond). Default 1000
    /// (nim-libp2p `RegistrationLimitPerPeer`; it counts expired entries not yet flushed).
    pub max_registrations_per_peer: u32,
    /// Point: registrations it holds in all (E_UNAVAILABLE beyond). Default 100000 (a model
    /// bound: nim-libp2p has none).
    pub max_registrations: u32,
    /// Point: the largest DISCOVER limit honoured. Default 1000 (nim-libp2p `DiscoverLimit`).
    pub max_discover_limit: u32,
    /// Point: seconds between two flushes of expired registrations. Default 60 (nim-libp2p
    /// `deletesRegister`).
    pub gc_interval_s: u64,
    /// The points' peer manager `max_connections` (their relay targets follow from it);
    /// default: `[peer_manager]`'s (nwaku 50). A point whose inbound relay peers exceed its
    /// target drops each newly joining peer right after the metadata exchange; the engine
    /// drops what is in flight on a closed connection (where TCP would deliver what the point
    /// wrote before closing), so a client's answer is lost: with nwaku's 50, 3 points serving
    /// the 117 clients of rendezvous-small answered 2,084 requests OK of which clients got
    /// 525. Real points are fleet nodes with larger limits; give one that holds the clients
    /// (rendezvous-small: 400).
    pub point_max_connections: Option<u32>,
    /// Close a connection the client opened to a point once no request to it is pending.
    /// Default true. nwaku leaves such a connection to its peer manager, which keeps it as a
    /// relay peer or prunes it; with false the model does the same, and a point whose
    /// inbound relay peers exceed nwaku's target (20) drops each new client right after the
    /// metadata exchange, before its answer arrives (the engine drops what is in flight on a
    /// closed connection, where TCP would deliver what was written before the close): most
    /// requests then fail at saturated points (see `point_max_connections`).
    pub close_idle: bool,
    /// Addresses in a node's signed peer record (each a 8-byte `/ip4/../tcp/..`). Default 1.
    pub peer_record_addrs: u32,
}

impl Default for RendezvousConfig {
    fn default() -> Self {
        RendezvousConfig {
            points: Vec::new(),
            point_groups: Vec::new(),
            client: ClientKind::Nwaku,
            ttl_s: None,
            register_interval_s: 10,
            register_backoff: false,
            max_register_interval_s: 300,
            discover_interval_s: 60,
            discover_backoff_factor: 2,
            max_discover_interval_s: 86_400,
            discover_limit: 12,
            request_timeout_s: 10,
            min_ttl_s: 60,
            max_ttl_s: 259_200,
            max_registrations_per_peer: 1000,
            max_registrations: 100_000,
            max_discover_limit: 1000,
            gc_interval_s: 60,
            point_max_connections: None,
            close_idle: true,
            peer_record_addrs: 1,
        }
    }
}

/// go-waku's first registration backoff (`registerBackoff`), doubled per error.
pub const GO_WAKU_REGISTER_BACKOFF: SimDuration = SimDuration::from_millis(200);
/// go-waku gives up registering a shard with a point after this many errors
/// (`registerMaxRetries`; its counter never resets).
pub const GO_WAKU_REGISTER_RETRIES: u32 = 7;
/// go-waku's pause after an empty or failed DISCOVER.
pub const GO_WAKU_EMPTY_SLEEP: SimDuration = SimDuration::from_secs(5);

impl RendezvousConfig {
    /// The TTL clients ask for, seconds.
    pub fn ttl(&self) -> u64 {
        self.ttl_s.unwrap_or(match self.client {
            ClientKind::Nwaku => 60,
            ClientKind::GoWaku => 7200,
        })
    }

    /// Checks the configuration's own fields (the points are checked by the harness).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let f = |n: &str| format!("discovery.rendezvous.{n}");
        let positive = [
            ("register_interval_s", self.register_interval_s),
            ("max_register_interval_s", self.max_register_interval_s),
            ("discover_interval_s", self.discover_interval_s),
            ("max_discover_interval_s", self.max_discover_interval_s),
            ("request_timeout_s", self.request_timeout_s),
            ("gc_interval_s", self.gc_interval_s),
            ("max_ttl_s", self.max_ttl_s),
            ("discover_limit", self.discover_limit as u64),
            ("max_discover_limit", self.max_discover_limit as u64),
            ("max_registrations", self.max_registrations as u64),
            (
                "max_registrations_per_peer",
                self.max_registrations_per_peer as u64,
            ),
            ("ttl_s", self.ttl()),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(ConfigError::new(
                    f(name),
                    "must be positive",
                    "give a value above 0",
                ));
            }
        }
        // Every duration fits a SimDuration with room to spare (100 years).
        const MAX_S: u64 = 100 * 365 * 86_400;
        for (name, v) in [
            ("register_interval_s", self.register_interval_s),
            ("max_register_interval_s", self.max_register_interval_s),
            ("discover_interval_s", self.discover_interval_s),
            ("max_discover_interval_s", self.max_discover_interval_s),
            ("request_timeout_s", self.request_timeout_s),
            ("gc_interval_s", self.gc_interval_s),
            ("max_ttl_s", self.max_ttl_s),
            ("ttl_s", self.ttl()),
        ] {
            if v > MAX_S {
                return Err(ConfigError::new(
                    f(name),
                    format!("{v} s is more than 100 years"),
                    "give a realistic duration",
                ));
            }
        }
        if self.discover_backoff_factor == 0 {
            return Err(ConfigError::new(
                f("discover_backoff_factor"),
                "must be at least 1",
                "use 1 for a fixed interval or 2 for nwaku's doubling",
            ));
        }
        if self.min_ttl_s > self.max_ttl_s {
            return Err(ConfigError::new(
                f("min_ttl_s"),
                format!(
                    "min_ttl_s {} is above max_ttl_s {}",
                    self.min_ttl_s, self.max_ttl_s
                ),
                "make min_ttl_s <= max_ttl_s",
            ));
        }
        if self.peer_record_addrs == 0 || self.peer_record_addrs > 16 {
            return Err(ConfigError::new(
                f("peer_record_addrs"),
                format!("{} addresses", self.peer_record_addrs),
                "give 1 to 16",
            ));
        }
        Ok(())
    }
}
