//! Peer scoring as the relay uses it (nim-libp2p `updateScores`): the scoring heartbeat and
//! the score lookups and thresholds ([`crate::relay::peer_score`] holds the counters).

use sim_core::{NodeId, SimTime};

use crate::proto::Io;
use crate::relay::peer_score::colocation_factor;
use crate::relay::{Relay, RelayCounter, RelayEvent, RelayTimer};

impl Relay {
    /// Whether `peer` is refused for a retained score below the graylist threshold.
    pub fn is_graylisted(&self, peer: NodeId) -> bool {
        let sc = &self.sh.cfg.scoring;
        sc.disconnect_bad_peers
            && self
                .retained
                .get(&peer)
                .is_some_and(|s| s.score < sc.graylist_threshold)
    }

    #[inline]
    pub(super) fn score_of(&self, peer: NodeId) -> f64 {
        self.peer_pos(peer)
            .map(|i| self.peers[i].score)
            .unwrap_or(0.0)
    }

    /// Whether `peer`'s score is at least `threshold` (a threshold <= 0: fast while no
    /// peer has a negative score).
    #[inline]
    pub(super) fn score_at_least(&self, peer: NodeId, threshold: f64) -> bool {
        debug_assert!(threshold <= 0.0);
        self.negative.is_empty() || self.score_of(peer) >= threshold
    }

    pub(super) fn note_score(&mut self, peer: NodeId, score: f64) {
        match (self.negative.binary_search(&peer), score < 0.0) {
            (Ok(i), false) => {
                self.negative.remove(i);
            }
            (Err(i), true) => self.negative.insert(i, peer),
            _ => {}
        }
    }

    /// The scoring heartbeat (nim-libp2p `updateScores`): recompute, decay, disconnect
    /// graylisted peers, forget expired retained scores.
    pub(super) fn score_tick(&mut self, ctx: &mut impl Io<Relay>) {
        let now = ctx.now();
        let bad = self.refresh_scores(now, true);
        self.retained.retain(|_, s| now <= s.expire);
        for p in bad {
            if let Some(rln) = &self.sh.rln {
                rln.graylisted(self.me, p, now);
            }
            ctx.report(RelayEvent::Count(RelayCounter::GraylistDisconnect));
            self.drop_peer(p, ctx);
            ctx.disconnect(p);
        }
        ctx.set_timer(self.sh.decay_interval, RelayTimer::ScoreTick);
    }

    /// Recomputes every peer's score (decaying the counters when `decay`); returns the peers
    /// to disconnect for a score below the graylist threshold (when `disconnect_bad_peers`).
    pub(super) fn refresh_scores(&mut self, now: SimTime, decay: bool) -> Vec<NodeId> {
        let sc = &self.sh.cfg.scoring;
        let ips: Vec<u32> = self.peer_ids.iter().map(|&p| self.sh.ip_of(p)).collect();
        let mut bad: Vec<NodeId> = Vec::new();
        let mut negative: Vec<NodeId> = Vec::new();
        for (k, p) in self.peers.iter_mut().enumerate() {
            let same = ips.iter().filter(|&&ip| ip == ips[k]).count();
            let coloc = colocation_factor(same, sc.ip_colocation_factor_threshold);
            let s = p.stats.update(now, sc, &self.scored, coloc, decay);
            p.score = s;
            if s < 0.0 {
                negative.push(p.id);
            }
            if sc.disconnect_bad_peers && s < sc.graylist_threshold {
                bad.push(p.id);
            }
        }
        self.negative = negative; // built in peer order, which is ascending
        bad
    }
}
