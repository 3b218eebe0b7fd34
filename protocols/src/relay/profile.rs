//! Gossipsub implementation profiles: the behaviours and defaults in which nim-libp2p (nwaku),
//! go-libp2p-pubsub (go-waku, Status) and rust-libp2p differ, so that a network can mix them.
//!
//! A profile is two things:
//! - a set of rules the state machine follows ([`Implementation`], read by the handlers and
//!   the heartbeat: GRAFT at D_high, GRAFT from a negative-score peer, the backoff check of a
//!   GRAFT, pruning above D_high, when scores are recomputed);
//! - the parameter values of that implementation as Waku deploys it
//!   ([`Implementation::preset`]: D values, history, IDONTWANT, flood publish, IHAVE / IWANT
//!   limits, opportunistic grafting cadence, backoffs).
//!
//! `[relay]` is the nim-libp2p (nwaku) configuration and holds the deployment settings every
//! node shares (message and RPC size limits, validation cost, peer exchange, connection limit,
//! send buffer, peer scoring); a profile replaces only its implementation fields, listed in
//! [`Implementation::preset`], and `overrides` in a `[[relay.implementations]]` entry replace
//! any field after that. docs/gossipsub-profiles.md lists every rule with its source.
//!
//! Sources (checked against the code):
//! - nim-libp2p v1.14.3 (e82080f7), `libp2p/protocols/pubsub/gossipsub/behavior.nim`
//!   (`handleGraft`, `rebalanceMesh`), `gossipsub.nim`, `gossipsub/scoring.nim`; nwaku
//!   `waku/waku_relay/protocol.nim` for the values;
//! - go-libp2p-pubsub `gossipsub.go` (`handleGraft`, `heartbeat`, defaults; the rules are the
//!   same in v0.13.1-gowaku, which go-waku pins, and in v0.16), go-waku
//!   `waku/v2/protocol/relay/config.go` (84a4b1be) for the values;
//! - rust-libp2p libp2p-gossipsub v0.49.2 (94dfea06), `protocols/gossipsub/src/behaviour.rs`
//!   (`handle_graft`, `heartbeat`) and `config.rs` for the values.

use serde::{Deserialize, Serialize};

use crate::relay::config::RelayConfig;

/// A gossipsub implementation whose rules a node follows.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Implementation {
    /// nim-libp2p v1.14.3 as nwaku runs it (the model's default; today's results).
    #[default]
    #[serde(rename = "nim-libp2p")]
    Nim,
    /// go-libp2p-pubsub as go-waku (Status Desktop / Mobile) configures it.
    #[serde(rename = "go-libp2p")]
    Go,
    /// rust-libp2p gossipsub 0.49 with its library defaults (the reference evaluations'
    /// implementation; no Waku client uses it).
    #[serde(rename = "rust-libp2p")]
    Rust,
}

impl Implementation {
    /// Every profile, in the order of their names.
    pub const ALL: [Implementation; 3] = [
        Implementation::Go,
        Implementation::Nim,
        Implementation::Rust,
    ];

    /// The profile's name in a scenario (`profile = "go-libp2p"`).
    pub fn name(self) -> &'static str {
        match self {
            Implementation::Nim => "nim-libp2p",
            Implementation::Go => "go-libp2p",
            Implementation::Rust => "rust-libp2p",
        }
    }

    /// The profile named `s`.
    pub fn from_name(s: &str) -> Option<Self> {
        Implementation::ALL.into_iter().find(|i| i.name() == s)
    }

    /// A GRAFT arriving while the mesh has at least D_high peers is accepted only from an
    /// outbound peer: nim-libp2p also requires fewer than D_out outbound peers in the mesh
    /// (`handleGraft`); go (`handleGraft`: `len(peers) >= Dhi && !outbound`) and rust
    /// (`handle_graft`: `peers.len() >= mesh_n_high && !is_outbound`) only that the peer is
    /// outbound.
    #[inline]
    pub fn accepts_graft_at_d_high(self, outbound: bool, mesh_outbound: usize, d_out: u32) -> bool {
        match self {
            Implementation::Nim => outbound && mesh_outbound < d_out as usize,
            Implementation::Go | Implementation::Rust => outbound,
        }
    }

    /// Whether the heartbeat recomputes every peer's score (without decaying it): go and rust
    /// compute a score on every lookup, nim-libp2p only at its scoring heartbeat
    /// (`scoringHeartbeat`, every `decayInterval`). The model approximates "every lookup" by
    /// "every heartbeat", where mesh maintenance reads the scores.
    #[inline]
    pub fn scores_every_heartbeat(self) -> bool {
        self != Implementation::Nim
    }

    /// The configuration of this implementation as Waku deploys it, from `base` (`[relay]`,
    /// the nim-libp2p / nwaku configuration): every implementation field is replaced, the
    /// deployment settings are kept. The nim-libp2p profile is `base` unchanged.
    pub fn preset(self, base: &RelayConfig) -> RelayConfig {
        let mut c = base.clone();
        match self {
            Implementation::Nim => {}
            Implementation::Go => {
                // go-waku config.go: D = GossipSubDMin = 4, Dlo 4, Dhi 8, Dout 3,
                // Dlazy = 4, HistoryLength 6, HistoryGossip 3, PruneBackoff 1 min,
                // UnsubscribeBackoff 5 s, GossipFactor 0.25, FanoutTTL 1 min, heartbeat 1 s,
                // seen TTL 2 min, flood publish on. Library: Dscore 4.
                c.d = 4;
                c.d_low = 4;
                c.d_high = 8;
                c.d_lazy = 4;
                c.d_score = 4;
                c.d_out = 3;
                c.heartbeat_ms = 1000;
                c.fanout_ttl_s = 60;
                c.mcache_len = 6;
                c.mcache_gossip = 3;
                c.seen_ttl_s = 120;
                c.gossip_factor = 0.25;
                c.prune_backoff_s = 60;
                c.unsubscribe_backoff_s = 5;
                // A backoff entry is cleared 2 heartbeats after it expires (clearBackoff).
                c.backoff_slack_s = 2;
                // WithFloodPublish(true): every topic peer, no bandwidth cap.
                c.flood_publish = true;
                c.flood_publish_bandwidth_bps = 0;
                // GossipSubMaxIHaveLength 5000 ids per IHAVE and asked per peer per heartbeat.
                c.max_ihave_ids = 5000;
                c.max_iwant_ids_per_heartbeat = 5000;
                // go-waku's feature test never allows IDONTWANT on its protocols: it never
                // sends one (received ones are honoured). Library threshold 1024 B.
                c.idontwant = false;
                c.idontwant_threshold_bytes = 1024;
                c.idontwant_on_publish = false;
                // GossipSubMaxIDontWantMessages 1000 per peer per heartbeat.
                c.max_idontwant_per_heartbeat = 1000;
                // GossipSubOpportunisticGraftPeers 2 every GossipSubOpportunisticGraftTicks 60.
                c.opportunistic_graft_peers = 2;
                c.opportunistic_graft_ticks = 60;
                // handleGraft: AddPenalty(p, 1) for a GRAFT during backoff.
                c.scoring.graft_backoff_penalty = 1.0;
            }
            Implementation::Rust => {
                // config.rs defaults: mesh_n 6, mesh_n_low 5, mesh_n_high 12, gossip_lazy 6,
                // retain_scores 4, mesh_outbound_min 2, history_length 5, history_gossip 3,
                // duplicate_cache_time 60 s, gossip_factor 0.25, prune_backoff 60 s,
                // unsubscribe_backoff 10 s, fanout_ttl 60 s, heartbeat 1 s.
                c.d = 6;
                c.d_low = 5;
                c.d_high = 12;
                c.d_lazy = 6;
                c.d_score = 4;
                c.d_out = 2;
                c.heartbeat_ms = 1000;
                c.fanout_ttl_s = 60;
                c.mcache_len = 5;
                c.mcache_gossip = 3;
                c.seen_ttl_s = 60;
                c.gossip_factor = 0.25;
                c.prune_backoff_s = 60;
                c.unsubscribe_backoff_s = 10;
                // backoff.rs: one heartbeat of slack after a backoff ends.
                c.backoff_slack_s = 1;
                // flood_publish true: every topic peer, no bandwidth cap.
                c.flood_publish = true;
                c.flood_publish_bandwidth_bps = 0;
                // max_ihave_length 5000.
                c.max_ihave_ids = 5000;
                c.max_iwant_ids_per_heartbeat = 5000;
                // IDONTWANT to v1.2 peers for messages whose protobuf is above 1000 B
                // (idontwant_message_size_threshold), not on publish.
                c.idontwant = true;
                c.idontwant_threshold_bytes = 1000;
                c.idontwant_on_publish = false;
                // At most 10,000 IDONTWANT ids kept per peer.
                c.max_idontwant_per_heartbeat = 10_000;
                // opportunistic_graft_peers 2 every opportunistic_graft_ticks 60.
                c.opportunistic_graft_peers = 2;
                c.opportunistic_graft_ticks = 60;
                c.scoring.graft_backoff_penalty = 1.0;
            }
        }
        c
    }
}

/// Assigns `n` nodes to groups with these shares: `floor(fraction x n)` each, the nodes
/// left over to the largest remainders (ties: the earlier entry), then the labels shuffled
/// with `rng` (the run's stream `relay.implementations`). Returns each node's group index.
pub fn assign_groups(fractions: &[f64], n: usize, rng: &mut sim_core::SimRng) -> Vec<u8> {
    use rand::seq::SliceRandom;
    let mut counts: Vec<usize> = fractions
        .iter()
        .map(|f| (f * n as f64).floor() as usize)
        .collect();
    let mut left = n.saturating_sub(counts.iter().sum());
    let mut order: Vec<usize> = (0..fractions.len()).collect();
    // Largest remainder first; the sort is stable, so ties keep entry order.
    order.sort_by(|&a, &b| {
        let ra = fractions[a] * n as f64 - counts[a] as f64;
        let rb = fractions[b] * n as f64 - counts[b] as f64;
        rb.partial_cmp(&ra).expect("fractions are finite")
    });
    for &g in order.iter().cycle() {
        if left == 0 {
            break;
        }
        counts[g] += 1;
        left -= 1;
    }
    let mut out: Vec<u8> = counts
        .iter()
        .enumerate()
        .flat_map(|(g, &c)| std::iter::repeat_n(g as u8, c))
        .collect();
    out.truncate(n);
    out.shuffle(rng);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_get_their_share_by_largest_remainder_and_the_seed_shuffles() {
        let mut rng = sim_core::rng::stream(1, sim_core::rng::GLOBAL_SCOPE, "t");
        // 10 nodes at 0.3 / 0.7: 3 and 7 exactly.
        let a = assign_groups(&[0.3, 0.7], 10, &mut rng);
        assert_eq!(a.iter().filter(|&&g| g == 0).count(), 3);
        assert_eq!(a.len(), 10);
        // 10 nodes in thirds: 3.33 each -> 3, 3, 3 and one left over for the first entry
        // (equal remainders keep entry order): 4, 3, 3.
        let third = 1.0 / 3.0;
        let b = assign_groups(&[third, third, third], 10, &mut rng);
        let counts: Vec<usize> = (0..3)
            .map(|g| b.iter().filter(|&&x| x == g).count())
            .collect();
        assert_eq!(counts, vec![4, 3, 3]);
        // The same stream gives the same assignment; another seed another order.
        let same = |seed| {
            let mut r = sim_core::rng::stream(seed, sim_core::rng::GLOBAL_SCOPE, "t");
            assign_groups(&[0.5, 0.5], 100, &mut r)
        };
        assert_eq!(same(7), same(7));
        assert_ne!(same(7), same(8));
    }

    #[test]
    fn names_round_trip_and_nim_is_the_base() {
        for i in Implementation::ALL {
            assert_eq!(Implementation::from_name(i.name()), Some(i));
        }
        let base = RelayConfig::default();
        assert_eq!(Implementation::Nim.preset(&base), base);
        // Deployment settings survive a preset.
        let mut custom = base.clone();
        custom.validation_delay_us = 12_000;
        assert_eq!(
            Implementation::Rust.preset(&custom).validation_delay_us,
            12_000
        );
    }
}
