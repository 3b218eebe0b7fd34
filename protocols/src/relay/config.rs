//! Relay (gossipsub) configuration: every parameter a named, documented serde setting with
//! nwaku's default, and one [`RelayConfig::validate`] step for cross-field invariants.
//!
//! In a scenario file this is the `[relay]` table, with peer scoring in `[relay.scoring]`:
//!
//! ```toml
//! [relay]
//! d = 6
//! d_low = 4
//! d_high = 8
//! idontwant = false        # compare gossipsub v1.1 with v1.2
//!
//! [relay.scoring]
//! graylist_threshold = -10000.0
//! ```
//!
//! Every field is optional; a missing field takes the nwaku default. Unknown fields are an
//! error (a typo must not silently fall back to a default).
//!
//! Sources: nwaku `waku/waku_relay/protocol.nim` (`GossipsubParameters`, `TopicParameters`),
//! nim-libp2p v1.14.3 (the version nwaku pins) `protocols/pubsub/gossipsub*.nim`, and the
//! libp2p gossipsub v1.1 / v1.2 specifications. Each field names the nwaku value and, where it
//! differs, the spec / nim-libp2p default ([`RelayConfig::nim_libp2p_defaults`] gives those).

use serde::{Deserialize, Serialize};

use crate::relay::profile::Implementation;

/// A configuration value that breaks an invariant. Names the field (as a path under the
/// `[relay]` table), what is wrong and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}; {fix}")]
pub struct ConfigError {
    /// The offending field, e.g. `relay.d_low` or `relay.scoring.gossip_threshold`.
    pub field: String,
    /// What is wrong, with the values involved.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl ConfigError {
    pub(crate) fn new(
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        ConfigError {
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// Gossipsub as nwaku runs it (11/WAKU2-RELAY over nim-libp2p v1.14.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Target mesh degree D. nwaku 6; spec / nim-libp2p 6.
    pub d: u32,
    /// Lower bound of the mesh degree: below it the heartbeat grafts up to D. nwaku 4; spec 4.
    pub d_low: u32,
    /// Upper bound of the mesh degree: above it the heartbeat prunes. Also the limit for
    /// accepting a GRAFT. nwaku 8; spec / nim-libp2p 12.
    pub d_high: u32,
    /// Minimum number of peers an IHAVE goes to per topic per heartbeat. nwaku 6; spec D.
    pub d_lazy: u32,
    /// Mesh peers kept by score when pruning above D_high. nwaku 6; spec 4-5 (nim-libp2p
    /// D_low = 4).
    pub d_score: u32,
    /// Outbound peers the mesh keeps (must be below D_low and at most D/2). nwaku 3;
    /// spec 2 (nim-libp2p D_low - 1 = 3).
    pub d_out: u32,
    /// Heartbeat interval in milliseconds. nwaku 1000; spec 1000.
    pub heartbeat_ms: u64,
    /// Seconds a fanout topic is kept after the last publish to it. nwaku 60; spec 60.
    /// (With `flood_publish` nim-libp2p never uses fanout.)
    pub fanout_ttl_s: u64,
    /// Message cache history length, in heartbeats: how long a message can be served to
    /// IWANT, and how long IHAVE advertisements and IDONTWANTs are remembered per peer.
    /// nwaku 6; spec / nim-libp2p 5.
    pub mcache_len: u32,
    /// Heartbeats of history advertised in IHAVE. nwaku 3; spec 3.
    pub mcache_gossip: u32,
    /// Seconds a message id stays in the seen cache (refreshed by every duplicate, as
    /// nim-libp2p's `TimedCache.put` does). nwaku 120; spec 120.
    pub seen_ttl_s: u64,
    /// Fraction of eligible non-mesh peers that get IHAVE (at least `d_lazy`). nwaku 0.25;
    /// spec 0.25.
    pub gossip_factor: f64,
    /// Backoff in seconds carried by a PRUNE and applied to a pruned peer. nwaku 60; spec 60.
    pub prune_backoff_s: u64,
    /// Backoff in seconds after unsubscribing from a topic. nwaku 5; spec 10
    /// (nim-libp2p 5).
    pub unsubscribe_backoff_s: u64,
    /// Seconds added to the backoff a received PRUNE asks for; a GRAFT is treated as a
    /// violation only while more than twice this remains of its backoff. nim-libp2p
    /// `BackoffSlackTime` = 2 (not in the spec).
    pub backoff_slack_s: u64,
    /// Own messages go to every topic peer (up to the flood cap), not only to the mesh.
    /// nwaku true; spec true.
    pub flood_publish: bool,
    /// The bandwidth estimate of the flood-publish cap, in bits per second: an own message
    /// of `len` bytes goes to at most `max(heartbeat_ms / max(len / (bps / 8000), 1), d_low)`
    /// peers (integer divisions). 0 = no cap. nim-libp2p `bandwidthEstimatebps`
    /// 100,000,000 (nwaku keeps it): a 150 KiB message reaches 83 peers.
    pub flood_publish_bandwidth_bps: u64,
    /// Most message ids in one IHAVE per topic (a random subset when more are in the
    /// window). nim-libp2p `IHaveMaxLength` = 5000.
    pub max_ihave_ids: u32,
    /// Most message ids requested with IWANT from one peer per heartbeat (its IHAVE
    /// budget). nim-libp2p `IHavePeerBudget` = 10.
    pub max_iwant_ids_per_heartbeat: u32,
    /// IWANT requests for ids never advertised to the peer tolerated in one IWANT before
    /// the rest is ignored. nim-libp2p 20.
    pub max_iwant_invalid_requests: u32,
    /// Gossipsub v1.2 IDONTWANT: sent on the first receipt of a large message, honoured
    /// when forwarding. nwaku true (nim-libp2p >= 1.2 speaks /meshsub/1.2.0). Set false to
    /// model v1.1.
    pub idontwant: bool,
    /// IDONTWANT is sent for messages whose serialized WakuMessage is larger than this many
    /// bytes (nim-libp2p: `max(512, 10 x id length)` = 512 for 32-byte ids).
    pub idontwant_threshold_bytes: u32,
    /// Also send IDONTWANT to the peers an own message is published to. nim-libp2p
    /// `sendIDontWantOnPublish` = false (nwaku keeps it).
    pub idontwant_on_publish: bool,
    /// Most IDONTWANT ids stored per peer per heartbeat slot. nim-libp2p
    /// `IDontWantMaxCount` = 1000.
    pub max_idontwant_per_heartbeat: u32,
    /// Peers grafted by opportunistic grafting per heartbeat. nim-libp2p
    /// `MaxOpportunisticGraftPeers` = 2 (nim-libp2p runs it every heartbeat, the spec every
    /// 60).
    pub opportunistic_graft_peers: u32,
    /// Heartbeats between two opportunistic-grafting checks. nim-libp2p 1 (every
    /// heartbeat); go-libp2p and rust-libp2p 60 (`OpportunisticGraftTicks`).
    pub opportunistic_graft_ticks: u32,
    /// Capacity of a peer's non-priority send queue (IWANT replies and forwarded messages
    /// that find the peer's connection busy); overflowing it disconnects the peer.
    /// nim-libp2p `DefaultMaxNumElementsInNonPriorityQueue` = 1024.
    pub non_priority_queue_len: u32,
    /// Bytes of a peer's TCP send buffer: a write counts as finished (for the per-peer
    /// queues) once at most this many of its bytes still wait in the node's upload link.
    /// Linux starts a socket's send buffer at 16 KiB (`tcp_wmem`). Not a gossipsub
    /// parameter; it only decides when per-peer queueing kicks in.
    pub send_buffer_bytes: u32,
    /// Largest serialized WakuMessage a node publishes or accepts, in bytes. nwaku 150 KiB
    /// = 153,600 (64/WAKU2-NETWORK).
    pub max_message_bytes: u32,
    /// Largest RPC (length prefix included) a node sends or reads. nwaku passes its message
    /// limit to nim-libp2p: 153,600. An RPC above it is not sent (nim-libp2p
    /// `sendEncoded`), so a WakuMessage within 27 B of the limit cannot be relayed.
    pub max_rpc_bytes: u32,
    /// CPU time to validate one message, in microseconds (queued on the node's CPU). 0 =
    /// synchronous. RLN proof verification plugs in here (about 12,000).
    pub validation_delay_us: u64,
    /// CPU time to decode and handle each relay message received (every copy, duplicates
    /// included: the RPC is decoded and the message id computed before the seen check), in
    /// microseconds, queued on the node's CPU before the message is looked at (seen check,
    /// IDONTWANT, validation, forwarding). Default 0 (no cost; no published nwaku figure:
    /// nwaku's RLN benchmarks report proof verification, 12 ms, not decoding). Scaled per
    /// node by its bandwidth class's `cpu_slowdown`.
    pub message_handling_us: f64,
    /// Further CPU time per 1,000 bytes of the message (serialized WakuMessage), in
    /// microseconds, added to `message_handling_us`. Default 0.
    pub message_handling_us_per_kb: f64,
    /// Peer exchange on PRUNE: a PRUNE lists up to 2 x D_high topic peers with score >= 0,
    /// and the pruned node dials those it has room for. nwaku false; spec optional.
    pub peer_exchange: bool,
    /// Bytes of the signed peer record in a PRUNE's peer-exchange entry (0 = peer id only,
    /// as when no signed record is known).
    pub px_record_bytes: u32,
    /// Connections a node accepts or dials to (for peer-exchange dials and inbound
    /// acceptance). nwaku `max-connections` 50.
    pub max_connections: u32,
    /// Peer scoring (`[relay.scoring]`).
    pub scoring: ScoreConfig,
    /// Gossipsub implementation groups (`[[relay.implementations]]`): which share of the
    /// nodes runs which implementation profile ([`crate::relay::profile`]). Empty (the
    /// default): every node runs nim-libp2p with this configuration.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub implementations: Vec<ImplementationSpec>,
    /// Shorthand for `implementations` (for sweeps): profiles and fractions joined by `+`,
    /// e.g. `"go-libp2p"` (every node) or `"nim-libp2p:0.3+go-libp2p:0.7"`; each entry is
    /// labelled by its profile. Empty (the default): not used. Not together with
    /// `implementations`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mix: String,
    /// `[relay]` fields applied to every implementation group after its profile's preset
    /// and before the entry's own `overrides` (e.g. `{ d = 8, d_low = 6, d_high = 12 }` to give
    /// every profile the same mesh degree). Default empty.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub profile_overrides: toml::Table,
}

/// One `[[relay.implementations]]` entry: a share of the nodes running one implementation
/// profile, with optional parameter overrides.
///
/// ```toml
/// [[relay.implementations]]
/// profile = "nim-libp2p"       # nwaku service nodes
/// fraction = 0.3
///
/// [[relay.implementations]]
/// profile = "go-libp2p"        # go-waku desktop nodes
/// fraction = 0.7
/// group = "desktop"
/// overrides = { d = 6, d_low = 4, d_high = 12 }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImplementationSpec {
    /// The profile: `nim-libp2p`, `go-libp2p` or `rust-libp2p`.
    pub profile: String,
    /// Share of the nodes (in (0, 1]; the entries' fractions sum to 1). Nodes are assigned
    /// by the run's seed: `round(fraction x nodes)` each (largest remainders), shuffled.
    pub fraction: f64,
    /// Label in the results (`impl_<group>_*` summary columns, the `implementation` column
    /// of connections.csv). Default: the profile name. Unique across entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Any `[relay]` field (and `scoring.*`), applied after the profile's preset.
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub overrides: toml::Table,
}

/// Most `[[relay.implementations]]` entries (a node's group is a byte).
pub const MAX_IMPLEMENTATION_GROUPS: usize = 16;

/// A resolved implementation group: its label, rules, configuration and share of the nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct ImplementationGroup {
    /// Label (the entry's `group`, or the profile name).
    pub name: String,
    /// The rules its nodes follow.
    pub implementation: Implementation,
    /// Its configuration (validated).
    pub config: RelayConfig,
    /// Share of the nodes.
    pub fraction: f64,
}

/// Largest `message_handling_us` and `message_handling_us_per_kb` (10 s): a typo guard.
pub const MAX_HANDLING_US: f64 = 10_000_000.0;

impl RelayConfig {
    /// CPU time to decode and handle one received message of `data_bytes` (before the node's
    /// CPU slowdown), in nanoseconds: `message_handling_us + message_handling_us_per_kb x
    /// data_bytes / 1000`, rounded to whole nanoseconds per term.
    pub fn handling_ns(&self, data_bytes: u32) -> u64 {
        let fixed = (self.message_handling_us * 1000.0).round() as u64;
        let per_kb = (self.message_handling_us_per_kb * 1000.0).round() as u64;
        fixed + per_kb * data_bytes as u64 / 1000
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            d: 6,
            d_low: 4,
            d_high: 8,
            d_lazy: 6,
            d_score: 6,
            d_out: 3,
            heartbeat_ms: 1000,
            fanout_ttl_s: 60,
            mcache_len: 6,
            mcache_gossip: 3,
            seen_ttl_s: 120,
            gossip_factor: 0.25,
            prune_backoff_s: 60,
            unsubscribe_backoff_s: 5,
            backoff_slack_s: 2,
            flood_publish: true,
            flood_publish_bandwidth_bps: 100_000_000,
            max_ihave_ids: 5000,
            max_iwant_ids_per_heartbeat: 10,
            max_iwant_invalid_requests: 20,
            idontwant: true,
            idontwant_threshold_bytes: 512,
            idontwant_on_publish: false,
            max_idontwant_per_heartbeat: 1000,
            opportunistic_graft_peers: 2,
            opportunistic_graft_ticks: 1,
            non_priority_queue_len: 1024,
            send_buffer_bytes: 16_384,
            max_message_bytes: 153_600,
            max_rpc_bytes: 153_600,
            validation_delay_us: 0,
            message_handling_us: 0.0,
            message_handling_us_per_kb: 0.0,
            peer_exchange: false,
            px_record_bytes: 0,
            max_connections: 50,
            scoring: ScoreConfig::default(),
            implementations: Vec::new(),
            mix: String::new(),
            profile_overrides: toml::Table::new(),
        }
    }
}

/// Peer scoring as nwaku configures it (the same parameters for every shard).
///
/// Score = topic_weight x (P1 + P2 + P4 per topic) + P6 + P7, recomputed every
/// `decay_interval_s`; then the counters decay. P3 / P3b (mesh message deliveries) and P5
/// (application score) have weight 0 in nwaku and are not modelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreConfig {
    /// Weight of each topic's score. nwaku 1 (nim-libp2p 0: scoring off).
    pub topic_weight: f64,
    /// P1 weight (time in mesh). nwaku 0.01.
    pub time_in_mesh_weight: f64,
    /// P1 quantum in milliseconds. nwaku 1000.
    pub time_in_mesh_quantum_ms: u64,
    /// P1 cap, in quanta. nwaku 10.
    pub time_in_mesh_cap: f64,
    /// P2 weight (first message deliveries). nwaku 1.
    pub first_message_deliveries_weight: f64,
    /// P2 decay per decay interval. nwaku 0.5.
    pub first_message_deliveries_decay: f64,
    /// P2 cap. nwaku 10.
    pub first_message_deliveries_cap: f64,
    /// P4 weight (invalid messages; the counter is squared). nwaku -100.
    pub invalid_message_deliveries_weight: f64,
    /// P4 decay per decay interval. nwaku 0.5.
    pub invalid_message_deliveries_decay: f64,
    /// P6 weight (IP colocation; the surplus over the threshold is squared). nwaku -50
    /// (nim-libp2p 0).
    pub ip_colocation_factor_weight: f64,
    /// P6 threshold: peers sharing one IP without penalty. nwaku 5 (nim-libp2p 1).
    pub ip_colocation_factor_threshold: f64,
    /// P7 weight (behaviour penalty; squared). nwaku -10 (nim-libp2p -1).
    pub behaviour_penalty_weight: f64,
    /// P7 decay per decay interval. nwaku 0.986 (nim-libp2p 0.999).
    pub behaviour_penalty_decay: f64,
    /// Behaviour penalty added for a GRAFT during backoff. nim-libp2p 0.1.
    pub graft_backoff_penalty: f64,
    /// Below this score IHAVE / IWANT from a peer are ignored and it gets no gossip.
    /// nwaku -100.
    pub gossip_threshold: f64,
    /// Below this score a peer gets no flood-published own messages and its GRAFTs are
    /// ignored. nwaku -1000.
    pub publish_threshold: f64,
    /// Below this score a peer is disconnected (when `disconnect_bad_peers`) and refused
    /// while its score is retained. nwaku -10000.
    pub graylist_threshold: f64,
    /// Opportunistic grafting starts when the mesh's median score is below this. nwaku 0.
    pub opportunistic_graft_threshold: f64,
    /// Seconds between score updates (and decays). nwaku 12 (nim-libp2p 1).
    pub decay_interval_s: u64,
    /// A decayed counter below this becomes 0. nwaku 0.01.
    pub decay_to_zero: f64,
    /// Seconds a disconnected peer's score is kept. nwaku 600 (nim-libp2p 120).
    pub retain_score_s: u64,
    /// Disconnect peers whose score falls below the graylist threshold. nwaku true
    /// (nim-libp2p false).
    pub disconnect_bad_peers: bool,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig {
            topic_weight: 1.0,
            time_in_mesh_weight: 0.01,
            time_in_mesh_quantum_ms: 1000,
            time_in_mesh_cap: 10.0,
            first_message_deliveries_weight: 1.0,
            first_message_deliveries_decay: 0.5,
            first_message_deliveries_cap: 10.0,
            invalid_message_deliveries_weight: -100.0,
            invalid_message_deliveries_decay: 0.5,
            ip_colocation_factor_weight: -50.0,
            ip_colocation_factor_threshold: 5.0,
            behaviour_penalty_weight: -10.0,
            behaviour_penalty_decay: 0.986,
            graft_backoff_penalty: 0.1,
            gossip_threshold: -100.0,
            publish_threshold: -1000.0,
            graylist_threshold: -10_000.0,
            opportunistic_graft_threshold: 0.0,
            decay_interval_s: 12,
            decay_to_zero: 0.01,
            retain_score_s: 600,
            disconnect_bad_peers: true,
        }
    }
}

impl RelayConfig {
    /// The spec / nim-libp2p v1.14.3 defaults (`GossipSubParams.init()` with scoring as a
    /// Waku node would still configure it per topic), for studies that compare them with
    /// nwaku's choices: D_high 12, D_score 4, history length 5, unsubscribe backoff 5 s.
    pub fn nim_libp2p_defaults() -> Self {
        RelayConfig {
            d_high: 12,
            d_score: 4,
            mcache_len: 5,
            ..RelayConfig::default()
        }
    }

    /// Checks every invariant, and resolves every `[[relay.implementations]]` entry; the
    /// first violation is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_as(Implementation::Nim, "relay")?;
        self.implementation_groups().map(|_| ())
    }

    /// The implementation groups, resolved and validated: empty when no
    /// `[[relay.implementations]]` is listed.
    pub fn implementation_groups(&self) -> Result<Vec<ImplementationGroup>, ConfigError> {
        let mut out: Vec<ImplementationGroup> = Vec::new();
        let mut sum = 0.0;
        let entries = self.mix_entries()?;
        let entries = entries.as_deref().unwrap_or(&self.implementations);
        if entries.len() > MAX_IMPLEMENTATION_GROUPS {
            return Err(ConfigError::new(
                "relay.implementations",
                format!(
                    "{} entries; at most {MAX_IMPLEMENTATION_GROUPS}",
                    entries.len()
                ),
                "merge entries with the same profile and settings",
            ));
        }
        for (i, e) in entries.iter().enumerate() {
            let at = format!("relay.implementations[{i}]");
            let Some(imp) = Implementation::from_name(&e.profile) else {
                return Err(ConfigError::new(
                    format!("{at}.profile"),
                    format!("unknown profile `{}`", e.profile),
                    "use one of `nim-libp2p`, `go-libp2p`, `rust-libp2p`",
                ));
            };
            if !(e.fraction.is_finite() && e.fraction > 0.0 && e.fraction <= 1.0) {
                return Err(ConfigError::new(
                    format!("{at}.fraction"),
                    format!("must be in (0, 1], got {}", e.fraction),
                    "give each entry's share of the nodes, the shares summing to 1",
                ));
            }
            sum += e.fraction;
            let name = e.group.clone().unwrap_or_else(|| imp.name().to_owned());
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(ConfigError::new(
                    format!("{at}.group"),
                    format!("`{name}` is not a usable label"),
                    "use letters, digits, `-` and `_` only",
                ));
            }
            if out
                .iter()
                .any(|g| g.name.replace('-', "_") == name.replace('-', "_"))
            {
                return Err(ConfigError::new(
                    format!("{at}.group"),
                    format!("the label `{name}` is used by an earlier entry"),
                    "give entries with the same profile distinct `group` labels",
                ));
            }
            let config = self.resolve(imp, &e.overrides, &at)?;
            out.push(ImplementationGroup {
                name,
                implementation: imp,
                config,
                fraction: e.fraction,
            });
        }
        if !out.is_empty() && (sum - 1.0).abs() > 1e-9 {
            return Err(ConfigError::new(
                "relay.implementations.fraction",
                format!("the fractions sum to {sum}, not 1"),
                "make the entries' `fraction` values add up to 1",
            ));
        }
        Ok(out)
    }

    /// The entries `mix` stands for (`None` when it is empty).
    fn mix_entries(&self) -> Result<Option<Vec<ImplementationSpec>>, ConfigError> {
        if self.mix.is_empty() {
            return Ok(None);
        }
        if !self.implementations.is_empty() {
            return Err(ConfigError::new(
                "relay.mix",
                "given together with [[relay.implementations]]",
                "use one of the two",
            ));
        }
        let mut out = Vec::new();
        for part in self.mix.split('+') {
            let (profile, fraction) = match part.split_once(':') {
                None => (part.trim(), Ok(1.0)),
                Some((p, f)) => (p.trim(), f.trim().parse::<f64>()),
            };
            let Ok(fraction) = fraction else {
                return Err(ConfigError::new(
                    "relay.mix",
                    format!("`{part}`: the fraction is not a number"),
                    "write profile:fraction entries joined by `+`, e.g. \
                     \"nim-libp2p:0.3+go-libp2p:0.7\"",
                ));
            };
            out.push(ImplementationSpec {
                profile: profile.to_owned(),
                fraction,
                group: None,
                overrides: toml::Table::new(),
            });
        }
        Ok(Some(out))
    }

    /// This configuration as `imp` runs it, with `overrides` applied and validated.
    fn resolve(
        &self,
        imp: Implementation,
        overrides: &toml::Table,
        at: &str,
    ) -> Result<RelayConfig, ConfigError> {
        let base = RelayConfig {
            implementations: Vec::new(),
            mix: String::new(),
            profile_overrides: toml::Table::new(),
            ..self.clone()
        };
        let preset = imp.preset(&base);
        let cfg = if overrides.is_empty() && self.profile_overrides.is_empty() {
            preset
        } else {
            for (o, name) in [
                (&self.profile_overrides, "relay.profile_overrides"),
                (overrides, &format!("{at}.overrides")),
            ] {
                for k in ["implementations", "mix", "profile_overrides"] {
                    if o.contains_key(k) {
                        return Err(ConfigError::new(
                            format!("{name}.{k}"),
                            "implementation settings cannot be overridden",
                            "remove it from the overrides",
                        ));
                    }
                }
            }
            let mut table = toml::Table::try_from(&preset).expect("a configuration serializes");
            merge(&mut table, &self.profile_overrides);
            merge(&mut table, overrides);
            RelayConfig::deserialize(table).map_err(|e| {
                ConfigError::new(
                    format!("{at}.overrides"),
                    e.message().to_owned(),
                    "override only [relay] fields, with values of their type",
                )
            })?
        };
        cfg.validate_as(imp, &format!("{at}.overrides"))?;
        Ok(cfg)
    }

    /// Checks every invariant of this configuration as `imp` runs it; `prefix` is the field
    /// path errors name (`relay`, or an implementation entry's overrides).
    pub fn validate_as(&self, imp: Implementation, prefix: &str) -> Result<(), ConfigError> {
        let f = |name: &str| format!("{prefix}.{name}");
        if self.d_low == 0 {
            return Err(ConfigError::new(
                f("d_low"),
                "must be at least 1",
                "set d_low to 1 or more (nwaku uses 4)",
            ));
        }
        if self.d_low > self.d {
            return Err(ConfigError::new(
                f("d_low"),
                format!("d_low = {} is above d = {}", self.d_low, self.d),
                "lower d_low or raise d (D_low <= D <= D_high)",
            ));
        }
        if self.d > self.d_high {
            return Err(ConfigError::new(
                f("d"),
                format!("d = {} is above d_high = {}", self.d, self.d_high),
                "lower d or raise d_high (D_low <= D <= D_high)",
            ));
        }
        // go-libp2p-pubsub v0.13 does not check D_out against D (go-waku runs D_out 3 with
        // D 4); nim-libp2p and rust-libp2p refuse D_out > D / 2.
        let half = if imp == Implementation::Go {
            u32::MAX
        } else {
            self.d / 2
        };
        if self.d_out >= self.d_low || self.d_out > half {
            return Err(ConfigError::new(
                f("d_out"),
                format!(
                    "d_out = {} must be below d_low = {} and at most d / 2 = {}",
                    self.d_out,
                    self.d_low,
                    self.d / 2
                ),
                "lower d_out (nwaku uses 3 with d = 6, d_low = 4)",
            ));
        }
        if self.d_score > self.d {
            return Err(ConfigError::new(
                f("d_score"),
                format!("d_score = {} is above d = {}", self.d_score, self.d),
                "lower d_score to at most d",
            ));
        }
        if self.heartbeat_ms == 0 {
            return Err(ConfigError::new(
                f("heartbeat_ms"),
                "must be positive",
                "set heartbeat_ms to 1000 (nwaku)",
            ));
        }
        if self.mcache_len == 0 {
            return Err(ConfigError::new(
                f("mcache_len"),
                "must be at least 1",
                "set mcache_len to 6 (nwaku)",
            ));
        }
        if self.mcache_gossip > self.mcache_len {
            return Err(ConfigError::new(
                f("mcache_gossip"),
                format!(
                    "mcache_gossip = {} is above mcache_len = {}",
                    self.mcache_gossip, self.mcache_len
                ),
                "lower mcache_gossip or raise mcache_len (history gossip <= history length)",
            ));
        }
        if self.seen_ttl_s == 0 {
            return Err(ConfigError::new(
                f("seen_ttl_s"),
                "must be positive",
                "set seen_ttl_s to 120 (nwaku)",
            ));
        }
        if self.seen_ttl_s * 1000 < self.mcache_len as u64 * self.heartbeat_ms {
            return Err(ConfigError::new(
                f("seen_ttl_s"),
                format!(
                    "the seen cache ({} s) forgets messages the message cache still serves \
                     ({} heartbeats of {} ms)",
                    self.seen_ttl_s, self.mcache_len, self.heartbeat_ms
                ),
                "raise seen_ttl_s or lower mcache_len",
            ));
        }
        if !(self.gossip_factor.is_finite() && (0.0..=1.0).contains(&self.gossip_factor)) {
            return Err(ConfigError::new(
                f("gossip_factor"),
                format!("must be in [0, 1], got {}", self.gossip_factor),
                "set gossip_factor to 0.25 (nwaku)",
            ));
        }
        if self.unsubscribe_backoff_s == 0 {
            return Err(ConfigError::new(
                f("unsubscribe_backoff_s"),
                "must be positive (nim-libp2p refuses 0)",
                "set unsubscribe_backoff_s to 5 (nwaku)",
            ));
        }
        if self.max_ihave_ids == 0 {
            return Err(ConfigError::new(
                f("max_ihave_ids"),
                "must be at least 1",
                "set max_ihave_ids to 5000 (nim-libp2p)",
            ));
        }
        if self.non_priority_queue_len == 0 {
            return Err(ConfigError::new(
                f("non_priority_queue_len"),
                "must be at least 1 (nim-libp2p refuses 0)",
                "set non_priority_queue_len to 1024 (nim-libp2p)",
            ));
        }
        if self.max_message_bytes == 0 {
            return Err(ConfigError::new(
                f("max_message_bytes"),
                "must be positive",
                "set max_message_bytes to 153600 (150 KiB, nwaku)",
            ));
        }
        if self.max_rpc_bytes < 64 {
            return Err(ConfigError::new(
                f("max_rpc_bytes"),
                format!("{} bytes cannot hold a control RPC", self.max_rpc_bytes),
                "set max_rpc_bytes to 153600 (nwaku)",
            ));
        }
        if self.opportunistic_graft_ticks == 0 {
            return Err(ConfigError::new(
                f("opportunistic_graft_ticks"),
                "must be at least 1",
                "set opportunistic_graft_ticks to 1 (nim-libp2p) or 60 (go, rust)",
            ));
        }
        for (name, v) in [
            ("message_handling_us", self.message_handling_us),
            (
                "message_handling_us_per_kb",
                self.message_handling_us_per_kb,
            ),
        ] {
            if !(v.is_finite() && (0.0..=MAX_HANDLING_US).contains(&v)) {
                return Err(ConfigError::new(
                    f(name),
                    format!("must be a number of microseconds in [0, {MAX_HANDLING_US}], got {v}"),
                    format!("set {name} to 0 (no handling cost) or a measured CPU time"),
                ));
            }
        }
        if self.max_connections == 0 {
            return Err(ConfigError::new(
                f("max_connections"),
                "must be at least 1",
                "set max_connections to 50 (nwaku)",
            ));
        }
        self.scoring.validate_at(&format!("{prefix}.scoring"))
    }
}

/// Merges `over` into `base`: tables recursively, other values replaced.
fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

impl ScoreConfig {
    /// Checks the scoring invariants (nim-libp2p `validateParameters` plus finiteness).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_at("relay.scoring")
    }

    /// [`ScoreConfig::validate`], errors naming fields under `prefix`.
    pub fn validate_at(&self, prefix: &str) -> Result<(), ConfigError> {
        let f = |name: &str| format!("{prefix}.{name}");
        let finite = [
            ("topic_weight", self.topic_weight),
            ("time_in_mesh_weight", self.time_in_mesh_weight),
            ("time_in_mesh_cap", self.time_in_mesh_cap),
            (
                "first_message_deliveries_weight",
                self.first_message_deliveries_weight,
            ),
            (
                "first_message_deliveries_cap",
                self.first_message_deliveries_cap,
            ),
            (
                "invalid_message_deliveries_weight",
                self.invalid_message_deliveries_weight,
            ),
            (
                "ip_colocation_factor_weight",
                self.ip_colocation_factor_weight,
            ),
            (
                "ip_colocation_factor_threshold",
                self.ip_colocation_factor_threshold,
            ),
            ("behaviour_penalty_weight", self.behaviour_penalty_weight),
            ("graft_backoff_penalty", self.graft_backoff_penalty),
            ("gossip_threshold", self.gossip_threshold),
            ("publish_threshold", self.publish_threshold),
            ("graylist_threshold", self.graylist_threshold),
            (
                "opportunistic_graft_threshold",
                self.opportunistic_graft_threshold,
            ),
        ];
        for (name, v) in finite {
            if !v.is_finite() {
                return Err(ConfigError::new(
                    f(name),
                    format!("must be a finite number, got {v}"),
                    "give a finite value",
                ));
            }
        }
        for (name, v) in [
            (
                "first_message_deliveries_decay",
                self.first_message_deliveries_decay,
            ),
            (
                "invalid_message_deliveries_decay",
                self.invalid_message_deliveries_decay,
            ),
            ("behaviour_penalty_decay", self.behaviour_penalty_decay),
        ] {
            if !(v.is_finite() && (0.0..1.0).contains(&v)) {
                return Err(ConfigError::new(
                    f(name),
                    format!("a decay factor must be in [0, 1), got {v}"),
                    "use a factor such as 0.5",
                ));
            }
        }
        if self.time_in_mesh_quantum_ms == 0 {
            return Err(ConfigError::new(
                f("time_in_mesh_quantum_ms"),
                "must be positive",
                "set time_in_mesh_quantum_ms to 1000 (nwaku)",
            ));
        }
        if self.gossip_threshold >= 0.0 {
            return Err(ConfigError::new(
                f("gossip_threshold"),
                format!("must be negative, got {}", self.gossip_threshold),
                "set gossip_threshold to -100 (nwaku)",
            ));
        }
        if self.publish_threshold >= self.gossip_threshold {
            return Err(ConfigError::new(
                f("publish_threshold"),
                format!(
                    "must be below gossip_threshold = {}, got {}",
                    self.gossip_threshold, self.publish_threshold
                ),
                "order the thresholds graylist < publish < gossip < 0",
            ));
        }
        if self.graylist_threshold >= self.publish_threshold {
            return Err(ConfigError::new(
                f("graylist_threshold"),
                format!(
                    "must be below publish_threshold = {}, got {}",
                    self.publish_threshold, self.graylist_threshold
                ),
                "order the thresholds graylist < publish < gossip < 0",
            ));
        }
        if self.opportunistic_graft_threshold < 0.0 {
            return Err(ConfigError::new(
                f("opportunistic_graft_threshold"),
                format!("must be >= 0, got {}", self.opportunistic_graft_threshold),
                "set it to 0 (nwaku)",
            ));
        }
        if self.decay_interval_s == 0 {
            return Err(ConfigError::new(
                f("decay_interval_s"),
                "must be positive",
                "set decay_interval_s to 12 (nwaku)",
            ));
        }
        if !(self.decay_to_zero > 0.0 && self.decay_to_zero <= 0.5) {
            return Err(ConfigError::new(
                f("decay_to_zero"),
                format!("must be in (0, 0.5], got {}", self.decay_to_zero),
                "set decay_to_zero to 0.01 (nwaku)",
            ));
        }
        if self.ip_colocation_factor_weight > 0.0 {
            return Err(ConfigError::new(
                f("ip_colocation_factor_weight"),
                format!("must be <= 0, got {}", self.ip_colocation_factor_weight),
                "use a negative weight such as -50 (nwaku)",
            ));
        }
        if self.ip_colocation_factor_threshold < 1.0 {
            return Err(ConfigError::new(
                f("ip_colocation_factor_threshold"),
                format!("must be >= 1, got {}", self.ip_colocation_factor_threshold),
                "set it to 5 (nwaku)",
            ));
        }
        if self.behaviour_penalty_weight >= 0.0 {
            return Err(ConfigError::new(
                f("behaviour_penalty_weight"),
                format!("must be negative, got {}", self.behaviour_penalty_weight),
                "set it to -10 (nwaku)",
            ));
        }
        if self.invalid_message_deliveries_weight > 0.0 {
            return Err(ConfigError::new(
                f("invalid_message_deliveries_weight"),
                format!(
                    "must be <= 0, got {}",
                    self.invalid_message_deliveries_weight
                ),
                "set it to -100 (nwaku)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_nwaku() {
        let c = RelayConfig::default();
        c.validate().unwrap();
        assert_eq!((c.d, c.d_low, c.d_high, c.d_out), (6, 4, 8, 3));
        RelayConfig::nim_libp2p_defaults().validate().unwrap();
    }

    #[test]
    fn toml_round_trip_defaults_and_unknown_fields() {
        let c: RelayConfig =
            toml::from_str("d_high = 12\n[scoring]\ndecay_interval_s = 1\n").expect("valid TOML");
        assert_eq!(c.d_high, 12);
        assert_eq!(c.d, 6, "missing fields take the default");
        assert_eq!(c.scoring.decay_interval_s, 1);
        assert_eq!(c.scoring.retain_score_s, 600);
        let text = toml::to_string(&RelayConfig::default()).unwrap();
        let back: RelayConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, RelayConfig::default());
        let err = toml::from_str::<RelayConfig>("dhigh = 12").unwrap_err();
        assert!(err.to_string().contains("dhigh"), "{err}");
    }

    #[test]
    fn invalid_combinations_name_the_field() {
        let cases: Vec<(RelayConfig, &str)> = vec![
            (
                RelayConfig {
                    d_low: 7,
                    ..RelayConfig::default()
                },
                "relay.d_low",
            ),
            (
                RelayConfig {
                    d: 9,
                    ..RelayConfig::default()
                },
                "relay.d",
            ),
            (
                RelayConfig {
                    d_out: 4,
                    ..RelayConfig::default()
                },
                "relay.d_out",
            ),
            (
                RelayConfig {
                    mcache_gossip: 7,
                    ..RelayConfig::default()
                },
                "relay.mcache_gossip",
            ),
            (
                RelayConfig {
                    heartbeat_ms: 0,
                    ..RelayConfig::default()
                },
                "relay.heartbeat_ms",
            ),
            (
                RelayConfig {
                    scoring: ScoreConfig {
                        publish_threshold: -50.0,
                        ..ScoreConfig::default()
                    },
                    ..RelayConfig::default()
                },
                "relay.scoring.publish_threshold",
            ),
        ];
        for (c, field) in cases {
            let e = c.validate().unwrap_err();
            assert_eq!(e.field, field, "{e}");
            assert!(!e.fix.is_empty());
        }
    }

    fn with_entries(text: &str) -> RelayConfig {
        toml::from_str(text).expect("valid TOML")
    }

    #[test]
    fn implementation_entries_resolve_with_presets_and_overrides() {
        let c = with_entries(
            "[[implementations]]\nprofile = \"nim-libp2p\"\nfraction = 0.3\n\
             [[implementations]]\nprofile = \"go-libp2p\"\nfraction = 0.7\ngroup = \"desktop\"\n\
             overrides = { d = 6, d_high = 12, scoring = { graft_backoff_penalty = 2.0 } }\n",
        );
        let g = c.implementation_groups().unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].name, "nim-libp2p");
        assert_eq!(
            g[0].config,
            RelayConfig::default(),
            "nim = [relay] unchanged"
        );
        assert_eq!(g[1].name, "desktop");
        assert_eq!(g[1].implementation, Implementation::Go);
        // go-waku preset (D_lo 4, D_out 3, no IDONTWANT) with D and D_high overridden.
        let go = &g[1].config;
        assert_eq!((go.d, go.d_low, go.d_high, go.d_out), (6, 4, 12, 3));
        assert!(!go.idontwant);
        assert_eq!(go.scoring.graft_backoff_penalty, 2.0);
        assert_eq!(go.scoring.decay_interval_s, 12, "deployment scoring kept");
        c.validate().unwrap();
    }

    #[test]
    fn bad_implementation_entries_name_the_field() {
        let cases = [
            (
                "[[implementations]]\nprofile = \"js-libp2p\"\nfraction = 1.0\n",
                "relay.implementations[0].profile",
            ),
            (
                "[[implementations]]\nprofile = \"go-libp2p\"\nfraction = 0.5\n",
                "relay.implementations.fraction",
            ),
            (
                "[[implementations]]\nprofile = \"go-libp2p\"\nfraction = 0.0\n",
                "relay.implementations[0].fraction",
            ),
            (
                "[[implementations]]\nprofile = \"go-libp2p\"\nfraction = 0.5\n\
                 [[implementations]]\nprofile = \"go-libp2p\"\nfraction = 0.5\n",
                "relay.implementations[1].group",
            ),
            (
                "[[implementations]]\nprofile = \"go-libp2p\"\nfraction = 1.0\n\
                 overrides = { dhigh = 3 }\n",
                "relay.implementations[0].overrides",
            ),
            (
                "[[implementations]]\nprofile = \"rust-libp2p\"\nfraction = 1.0\n\
                 overrides = { d = 13 }\n",
                "relay.implementations[0].overrides.d",
            ),
        ];
        for (text, field) in cases {
            let e = with_entries(text).validate().unwrap_err();
            assert_eq!(e.field, field, "{e}");
            assert!(!e.fix.is_empty());
        }
    }

    #[test]
    fn mix_shorthand_and_profile_overrides() {
        let c = with_entries(
            "mix = \"nim-libp2p:0.3+go-libp2p:0.7\"\n\
             profile_overrides = { d = 8, d_low = 6, d_high = 12, d_lazy = 8 }\n",
        );
        let g = c.implementation_groups().unwrap();
        let names: Vec<&str> = g.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["nim-libp2p", "go-libp2p"]);
        assert_eq!(g[1].fraction, 0.7);
        for x in &g {
            assert_eq!((x.config.d, x.config.d_low, x.config.d_high), (8, 6, 12));
        }
        // The preset's other values stay: go-waku's D_out 3, no IDONTWANT.
        assert_eq!(g[1].config.d_out, 3);
        assert!(!g[1].config.idontwant);
        let one = with_entries("mix = \"rust-libp2p\"\n");
        assert_eq!(one.implementation_groups().unwrap()[0].fraction, 1.0);
        let bad = with_entries("mix = \"go-libp2p:x\"\n")
            .validate()
            .unwrap_err();
        assert_eq!(bad.field, "relay.mix");
        let bad = with_entries("mix = \"go-libp2p:0.5\"\n")
            .validate()
            .unwrap_err();
        assert_eq!(bad.field, "relay.implementations.fraction");
    }

    #[test]
    fn go_accepts_d_out_above_half_of_d_the_others_do_not() {
        // go-waku runs D_out 3 with D 4 (go-libp2p-pubsub v0.13 does not check it).
        let go = Implementation::Go.preset(&RelayConfig::default());
        assert_eq!((go.d, go.d_out), (4, 3));
        go.validate_as(Implementation::Go, "relay").unwrap();
        let e = go.validate_as(Implementation::Nim, "relay").unwrap_err();
        assert_eq!(e.field, "relay.d_out");
    }
}
