//! Peer scoring (gossipsub v1.1) as nim-libp2p v1.14.3 computes it (`scoring.nim`) with
//! nwaku's parameters ([`ScoreConfig`]).
//!
//! A peer's score is recomputed only every `decay_interval_s` ([`PeerScore::update`]), then
//! its counters decay; between updates every decision uses the last computed value, exactly
//! like nim-libp2p's `peer.score`. Components:
//!
//! - P1 time in mesh: `min(mesh time / quantum, cap) x weight`;
//! - P2 first message deliveries: a capped counter, +1 for each message first received from
//!   the peer and accepted, `x weight`;
//! - P4 invalid messages: `counter^2 x weight` (weight -100: one invalid message costs 100);
//! - P6 IP colocation: `(peers on the same IP - threshold)^2 x weight` above the threshold;
//! - P7 behaviour penalty: `penalty^2 x weight` (+0.1 per GRAFT during backoff).
//!
//! P3 / P3b (mesh message deliveries) and P5 (application) have weight 0 in nwaku and are not
//! modelled. One nim-libp2p detail is kept: a topic's counters exist only once the peer was
//! grafted, punished or scored in that topic; a first delivery from a peer without them only
//! creates them (nim-libp2p `rewardDelivered`).

use sim_core::{SimDuration, SimTime};

use crate::relay::config::ScoreConfig;
use crate::relay::message::TopicIdx;
pub use crate::relay::topic_scores::TopicScores;

/// A peer's counters in one topic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TopicScore {
    /// The topic.
    pub topic: TopicIdx,
    /// Whether the peer is in our mesh for the topic.
    pub in_mesh: bool,
    /// When it was grafted.
    pub graft_time: SimTime,
    /// P2 counter.
    pub first_deliveries: f64,
    /// P4 counter.
    pub invalid_deliveries: f64,
}

impl TopicScore {
    fn new(topic: TopicIdx) -> Self {
        TopicScore {
            topic,
            in_mesh: false,
            graft_time: SimTime::ZERO,
            first_deliveries: 0.0,
            invalid_deliveries: 0.0,
        }
    }
}

/// Everything scored about one peer; kept for `retain_score_s` after it disconnects.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerScore {
    /// The last computed score.
    pub score: f64,
    /// P7 counter.
    pub behaviour_penalty: f64,
    /// Per-topic counters.
    pub topics: TopicScores,
    /// When the retained score may be forgotten (refreshed by every update).
    pub expire: SimTime,
}

impl PeerScore {
    /// Bytes the record holds on the heap (its topic counters beyond the first).
    pub fn heap_bytes(&self) -> u64 {
        self.topics.heap_bytes()
    }

    /// A fresh peer (score 0) first seen at `now`.
    pub fn new(now: SimTime, cfg: &ScoreConfig) -> Self {
        PeerScore {
            score: 0.0,
            behaviour_penalty: 0.0,
            topics: TopicScores::default(),
            expire: now + SimDuration::from_secs(cfg.retain_score_s),
        }
    }

    fn topic_mut(&mut self, t: TopicIdx) -> Option<&mut TopicScore> {
        self.topics.iter_mut().find(|s| s.topic == t)
    }

    fn topic_or_insert(&mut self, t: TopicIdx) -> &mut TopicScore {
        if self.topics.iter().any(|s| s.topic == t) {
            return self.topic_mut(t).expect("found above");
        }
        self.topics.push(TopicScore::new(t))
    }

    /// The peer joined our mesh (nim-libp2p `grafted`).
    pub fn grafted(&mut self, t: TopicIdx, now: SimTime) {
        let s = self.topic_or_insert(t);
        s.graft_time = now;
        s.in_mesh = true;
    }

    /// The peer left our mesh (nim-libp2p `pruned`; P3b is not modelled).
    pub fn pruned(&mut self, t: TopicIdx) {
        if let Some(s) = self.topic_mut(t) {
            s.in_mesh = false;
        }
    }

    /// The peer delivered a message first, and it was accepted (P2).
    pub fn first_delivery(&mut self, t: TopicIdx, cfg: &ScoreConfig) {
        match self.topic_mut(t) {
            Some(s) => {
                let cap = cfg.first_message_deliveries_cap;
                s.first_deliveries += (1.0f64).min(cap - s.first_deliveries);
            }
            None => {
                self.topic_or_insert(t);
            }
        }
    }

    /// The peer delivered an invalid message (P4).
    pub fn invalid_delivery(&mut self, t: TopicIdx) {
        self.topic_or_insert(t).invalid_deliveries += 1.0;
    }

    /// The peer disconnected: P2 is reset (nim-libp2p `unsubscribePeer`), mesh flags cleared.
    pub fn disconnected(&mut self) {
        for s in self.topics.iter_mut() {
            s.first_deliveries = 0.0;
            s.in_mesh = false;
        }
    }

    /// Recomputes the score over the node's scored `topics` with the given IP colocation
    /// factor, then, when `decay`, decays the counters (nim-libp2p `updateScores` for one
    /// peer). Returns the new score.
    pub fn update(
        &mut self,
        now: SimTime,
        cfg: &ScoreConfig,
        topics: &[TopicIdx],
        colocation: f64,
        decay: bool,
    ) -> f64 {
        let mut acc = 0.0;
        let quantum = cfg.time_in_mesh_quantum_ms as f64 * 1e6;
        let zero = cfg.decay_to_zero;
        for &t in topics {
            let s = self.topic_or_insert(t);
            if cfg.topic_weight != 0.0 {
                let mut ts = 0.0;
                if s.in_mesh {
                    let mesh_time = now.saturating_since(s.graft_time).as_nanos() as f64;
                    let p1 = (mesh_time / quantum).min(cfg.time_in_mesh_cap);
                    ts += p1 * cfg.time_in_mesh_weight;
                }
                ts += s.first_deliveries * cfg.first_message_deliveries_weight;
                ts += s.invalid_deliveries
                    * s.invalid_deliveries
                    * cfg.invalid_message_deliveries_weight;
                acc += ts * cfg.topic_weight;
            }
            if !decay {
                continue;
            }
            s.first_deliveries *= cfg.first_message_deliveries_decay;
            if s.first_deliveries < zero {
                s.first_deliveries = 0.0;
            }
            s.invalid_deliveries *= cfg.invalid_message_deliveries_decay;
            if s.invalid_deliveries < zero {
                s.invalid_deliveries = 0.0;
            }
        }
        acc += self.behaviour_penalty * self.behaviour_penalty * cfg.behaviour_penalty_weight;
        acc += colocation * cfg.ip_colocation_factor_weight;
        if decay {
            self.behaviour_penalty *= cfg.behaviour_penalty_decay;
            if self.behaviour_penalty < zero {
                self.behaviour_penalty = 0.0;
            }
        }
        self.score = acc;
        self.expire = now + SimDuration::from_secs(cfg.retain_score_s);
        acc
    }
}

/// The P6 factor for a peer sharing its IP with `peers_on_ip` connected peers (itself
/// included): the squared surplus over the threshold.
pub fn colocation_factor(peers_on_ip: usize, threshold: f64) -> f64 {
    let n = peers_on_ip as f64;
    if n > threshold {
        let over = n - threshold;
        over * over
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_invalid_message_costs_100_and_eleven_reach_the_graylist() {
        let cfg = ScoreConfig::default();
        let t = [TopicIdx(0)];
        let mut p = PeerScore::new(SimTime::ZERO, &cfg);
        p.invalid_delivery(TopicIdx(0));
        // P4 = 1^2 x -100 = -100 (the gossip threshold); the counter then halves.
        assert_eq!(
            p.update(SimTime::from_secs(12), &cfg, &t, 0.0, true),
            -100.0
        );
        // 0.5 left; 10 more -> 10.5^2 x -100 = -11,025 < -10,000 (graylist).
        for _ in 0..10 {
            p.invalid_delivery(TopicIdx(0));
        }
        let s = p.update(SimTime::from_secs(24), &cfg, &t, 0.0, true);
        assert_eq!(s, -11_025.0);
        assert!(s < cfg.graylist_threshold);
    }

    #[test]
    fn time_in_mesh_first_deliveries_behaviour_and_colocation() {
        let cfg = ScoreConfig::default();
        let t = [TopicIdx(0)];
        let mut p = PeerScore::new(SimTime::ZERO, &cfg);
        p.grafted(TopicIdx(0), SimTime::ZERO);
        for _ in 0..12 {
            p.first_delivery(TopicIdx(0), &cfg);
        }
        p.behaviour_penalty = 1.0;
        // P1: 5 s in mesh x 0.01 = 0.05; P2: capped at 10 x 1 = 10; P7: 1 x -10;
        // P6: 7 peers on one IP, threshold 5 -> 2^2 = 4 x -50 = -200.
        let s = p.update(
            SimTime::from_secs(5),
            &cfg,
            &t,
            colocation_factor(7, 5.0),
            true,
        );
        assert!((s - (0.05 + 10.0 - 10.0 - 200.0)).abs() < 1e-9, "{s}");
        assert_eq!(p.topics[0].first_deliveries, 5.0, "decayed by 0.5");
        assert!((p.behaviour_penalty - 0.986).abs() < 1e-12);
        assert_eq!(colocation_factor(5, 5.0), 0.0);
    }

    #[test]
    fn first_delivery_without_counters_only_creates_them() {
        let cfg = ScoreConfig::default();
        let mut p = PeerScore::new(SimTime::ZERO, &cfg);
        p.first_delivery(TopicIdx(3), &cfg);
        assert_eq!(p.topics[0].first_deliveries, 0.0);
        p.first_delivery(TopicIdx(3), &cfg);
        assert_eq!(p.topics[0].first_deliveries, 1.0);
    }
}
