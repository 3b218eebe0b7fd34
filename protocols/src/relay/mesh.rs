//! Mesh maintenance: the gossipsub heartbeat (nim-libp2p `onHeartbeat`, `rebalanceMesh`),
//! grafting and pruning, fanout upkeep, and our own subscriptions (`onTopicSubscription`).

use rand::seq::SliceRandom;
use std::rc::Rc;

use sim_core::memory::push_tight;
use sim_core::{NodeId, SimDuration, SimRng, SimTime};

use crate::proto::Io;
use crate::relay::message::TopicIdx;
use crate::relay::profile::Implementation;
use crate::relay::rpc::{Rpc, Subscriptions, subscribe_rpc_bytes};
use crate::relay::{Relay, RelayTimer, remove_id};

impl Relay {
    pub(super) fn rebuild_subs(&mut self) {
        let topics: Vec<TopicIdx> = self.subscriptions().collect();
        self.subs_rpc = if topics.is_empty() {
            None
        } else {
            let wire = subscribe_rpc_bytes(topics.iter().map(|&t| self.topic_len(t)));
            Some(Rc::new(Subscriptions {
                topics,
                subscribe: true,
                wire,
            }))
        };
    }

    /// The gossipsub heartbeat (nim-libp2p `onHeartbeat`).
    pub(super) fn heartbeat(&mut self, ctx: &mut impl Io<Relay>) {
        let now = ctx.now();
        self.hb = self.hb.wrapping_add(1);
        let hb = self.hb;
        let hl = self.sh.cfg.mcache_len;
        if self.sh.rules.scores_every_heartbeat() {
            // go and rust compute a score on every lookup: fresh for this heartbeat's mesh
            // maintenance, decayed only at the scoring heartbeat.
            self.refresh_scores(now, false);
        }
        // Per-peer IWANT budgets and IDONTWANT counts reset lazily (`Peer::counters`).
        // Both lists are in heartbeat order: the expired entries are a prefix.
        self.sent_ihaves.expire(hb, hl);
        while self
            .idontwants
            .front()
            .is_some_and(|e| hb.wrapping_sub(e.2) >= hl)
        {
            self.idontwants.pop_front();
        }
        for k in 0..self.topics.len() {
            if !self.topics[k].subscribed {
                continue;
            }
            if !self.topics[k].backoff.is_empty() {
                // go (`clearBackoff`: expiry + 2 heartbeats) and rust (one heartbeat of slack)
                // keep every backoff entry, our own prunes' too, for the slack after it ends.
                let until = match self.sh.rules {
                    Implementation::Nim => now,
                    Implementation::Go | Implementation::Rust => {
                        SimTime::from_nanos(now.as_nanos().saturating_sub(self.sh.slack.as_nanos()))
                    }
                };
                self.topics[k].backoff.expire(until);
            }
            // Prune every negative-score mesh peer before rebalancing.
            let mut neg = std::mem::take(&mut self.scratch);
            neg.clear();
            if !self.negative.is_empty() {
                neg.extend(
                    self.topics[k]
                        .mesh
                        .iter()
                        .copied()
                        .filter(|&p| self.score_of(p) < 0.0),
                );
            }
            if !neg.is_empty() {
                let topic = self.topics[k].topic;
                for &p in &neg {
                    remove_id(&mut self.topics[k].mesh, p);
                    self.pruned(k, p, Some(self.sh.prune_backoff), now);
                }
                let px = self.px_list(k);
                let rpc = self.prune_rpc(topic, self.sh.prune_backoff, px);
                for &p in &neg {
                    self.send(p, rpc.clone(), true, ctx);
                }
            }
            self.scratch = neg;
            self.rebalance(k, ctx);
        }
        for k in 0..self.topics.len() {
            if let Some(until) = self.topics[k].fanout_until
                && now > until
            {
                self.topics[k].fanout.clear();
                self.topics[k].fanout_until = None;
            }
        }
        for k in 0..self.topics.len() {
            if self.topics[k].fanout_until.is_some() {
                self.replenish_fanout(k);
            }
        }
        self.emit_gossip(ctx);
        self.mcache.shift();
        ctx.set_timer(self.sh.heartbeat, RelayTimer::Heartbeat);
    }

    /// nim-libp2p `pruned`: the peer's mesh flag is cleared and, with `backoff`, a backoff set.
    pub(super) fn pruned(
        &mut self,
        k: usize,
        peer: NodeId,
        backoff: Option<SimDuration>,
        now: SimTime,
    ) {
        let topic = self.topics[k].topic;
        if let Some(b) = backoff {
            self.topics[k].backoff.set(peer, now + b);
        }
        if let Some(i) = self.peer_pos(peer) {
            self.peers[i].stats.pruned(topic);
        }
    }

    /// Candidates for grafting, shuffled then sorted by score, best first.
    pub(super) fn graft_candidates(
        &self,
        k: usize,
        outbound_only: bool,
        rng: &mut SimRng,
        out: &mut Vec<NodeId>,
    ) {
        let t = &self.topics[k];
        let mut c: Vec<(f64, NodeId)> = t
            .peers
            .iter()
            .copied()
            .filter(|p| !t.mesh.contains(p) && !t.backoff.contains(*p))
            .filter_map(|p| {
                let i = self.peer_pos(p)?;
                let peer = &self.peers[i];
                (peer.score >= 0.0 && (!outbound_only || peer.outbound)).then_some((peer.score, p))
            })
            .collect();
        c.shuffle(rng);
        c.sort_by(|a, b| b.0.partial_cmp(&a.0).expect("scores are finite"));
        out.clear();
        out.extend(c.into_iter().map(|x| x.1));
    }

    /// nim-libp2p `rebalanceMesh` for the topic at `k`.
    pub(super) fn rebalance(&mut self, k: usize, ctx: &mut impl Io<Relay>) {
        let now = ctx.now();
        let cfg = &self.sh.cfg;
        let (d, d_low, d_high, d_score, d_out) = (
            cfg.d as usize,
            cfg.d_low as usize,
            cfg.d_high as usize,
            cfg.d_score as usize,
            cfg.d_out as usize,
        );
        let topic = self.topics[k].topic;
        let mut grafts: Vec<NodeId> = Vec::new();
        let npeers = self.topics[k].mesh.len();
        let nout = self.topics[k]
            .mesh
            .iter()
            .filter(|&&p| self.is_outbound(p))
            .count();
        if npeers < d_low {
            let mut c = Vec::new();
            self.graft_candidates(k, false, ctx.rng(), &mut c);
            c.truncate(d - npeers);
            grafts = c;
        } else if nout < d_out {
            let mut c = Vec::new();
            self.graft_candidates(k, true, ctx.rng(), &mut c);
            c.truncate(d_out - nout);
            grafts = c;
        }
        for &p in &grafts {
            push_tight(&mut self.topics[k].mesh, p);
            if let Some(i) = self.peer_pos(p) {
                self.peers[i].stats.grafted(topic, now);
            }
            remove_id(&mut self.topics[k].fanout, p);
        }

        let mut prunes: Vec<NodeId> = Vec::new();
        let n = self.topics[k].mesh.len();
        let over = match self.sh.rules {
            Implementation::Nim | Implementation::Rust => n > d_high,
            // go prunes at D_high already (since v0.13.0).
            Implementation::Go => n >= d_high,
        };
        if over && self.sh.rules == Implementation::Go {
            prunes = self.prune_excess_go(k, ctx.rng());
            for &p in &prunes {
                self.pruned(k, p, Some(self.sh.prune_backoff), now);
                remove_id(&mut self.topics[k].mesh, p);
            }
        } else if over && self.sh.rules == Implementation::Rust {
            prunes = self.prune_excess_rust(k, ctx.rng());
            for &p in &prunes {
                self.pruned(k, p, Some(self.sh.prune_backoff), now);
                remove_id(&mut self.topics[k].mesh, p);
            }
        } else if over {
            // nim-libp2p: keep the D_score best, protect D_out outbound, then prune
            // (candidates - D) of the rest at random, or every candidate when there are at
            // most D of them (so 9-12 peers go down to about D, 13 and more to about
            // D + D_score with nwaku's values).
            let mut c: Vec<(f64, NodeId)> = self.topics[k]
                .mesh
                .iter()
                .copied()
                .filter(|p| !grafts.contains(p))
                .map(|p| (self.score_of(p), p))
                .collect();
            c.shuffle(ctx.rng());
            c.sort_by(|a, b| a.0.partial_cmp(&b.0).expect("scores are finite"));
            prunes = c.into_iter().map(|x| x.1).collect();
            if prunes.len() > d_score {
                // Keep the D_score best: prune candidates are the rest, lowest first.
                prunes.truncate(prunes.len() - d_score);
                let (mut outbound, inbound): (Vec<NodeId>, Vec<NodeId>) =
                    prunes.iter().partition(|&&p| self.is_outbound(p));
                let max_out = outbound.len() as i64 - d_out as i64;
                outbound.truncate(max_out.max(0) as usize);
                prunes = inbound;
                prunes.extend(outbound);
                if prunes.len() > d {
                    let n = prunes.len() - d;
                    prunes.shuffle(ctx.rng());
                    prunes.truncate(n);
                }
                for &p in &prunes {
                    self.pruned(k, p, Some(self.sh.prune_backoff), now);
                    remove_id(&mut self.topics[k].mesh, p);
                }
            }
            // else: nothing leaves the mesh, yet `prunes` still gets a PRUNE below
            // (nim-libp2p v1.14.3 reuses the list).
        }

        // Opportunistic grafting.
        let opportunistic = self.sh.cfg.scoring.opportunistic_graft_threshold;
        // With no negative score the median is >= 0: nothing to do at threshold 0.
        let may_be_low = !self.negative.is_empty() || opportunistic > 0.0;
        let ticks = self.sh.cfg.opportunistic_graft_ticks;
        let due = ticks == 1 || self.hb % ticks == 0;
        if may_be_low && due && self.topics[k].mesh.len() > 1 {
            let mut scores: Vec<f64> = self.topics[k]
                .mesh
                .iter()
                .map(|&p| self.score_of(p))
                .collect();
            scores.sort_by(|a, b| b.partial_cmp(a).expect("scores are finite"));
            let median = scores[scores.len() / 2];
            if median < opportunistic {
                let max = self.sh.cfg.opportunistic_graft_peers as usize;
                let t = &self.topics[k];
                let avail: Vec<NodeId> = t
                    .peers
                    .iter()
                    .copied()
                    .filter(|&p| {
                        // nim-libp2p: score >= median; go and rust: score > median.
                        let better = match self.sh.rules {
                            Implementation::Nim => self.score_of(p) >= median,
                            Implementation::Go | Implementation::Rust => self.score_of(p) > median,
                        };
                        better && !t.mesh.contains(&p) && !t.backoff.contains(p)
                    })
                    .take(max)
                    .collect();
                for p in avail {
                    push_tight(&mut self.topics[k].mesh, p);
                    if let Some(i) = self.peer_pos(p) {
                        self.peers[i].stats.grafted(topic, now);
                    }
                    grafts.push(p);
                }
            }
        }

        if !grafts.is_empty() {
            let rpc = Rpc::Graft {
                topic,
                topic_len: self.topic_len(topic),
            };
            for &p in &grafts {
                self.send(p, rpc.clone(), true, ctx);
            }
        }
        if !prunes.is_empty() {
            let px = self.px_list(k);
            let rpc = self.prune_rpc(topic, self.sh.prune_backoff, px);
            for &p in &prunes {
                self.send(p, rpc.clone(), true, ctx);
            }
        }
    }

    /// go-libp2p-pubsub `heartbeat` with D_high or more mesh peers: keep the D_score best,
    /// then random peers up to D, at least D_out of the kept ones outbound when there are
    /// that many; the rest is returned (to prune). The mesh goes down to D.
    pub(super) fn prune_excess_go(&self, k: usize, rng: &mut SimRng) -> Vec<NodeId> {
        let cfg = &self.sh.cfg;
        let (d, d_score, d_out) = (cfg.d as usize, cfg.d_score as usize, cfg.d_out as usize);
        let mut c: Vec<(f64, NodeId)> = self.topics[k]
            .mesh
            .iter()
            .map(|&p| (self.score_of(p), p))
            .collect();
        c.shuffle(rng);
        c.sort_by(|a, b| b.0.partial_cmp(&a.0).expect("scores are finite"));
        let mut plst: Vec<NodeId> = c.into_iter().map(|x| x.1).collect();
        let ds = d_score.min(plst.len());
        plst[ds..].shuffle(rng);
        let d = d.min(plst.len());
        let outbound = plst[..d].iter().filter(|&&p| self.is_outbound(p)).count();
        if outbound < d_out {
            // Move the i-th peer to the front.
            let rotate = |plst: &mut Vec<NodeId>, i: usize| {
                let p = plst.remove(i);
                plst.insert(0, p);
            };
            let mut have = outbound;
            let mut i = 1;
            while i < d && have > 0 {
                if self.is_outbound(plst[i]) {
                    rotate(&mut plst, i);
                    have -= 1;
                }
                i += 1;
            }
            let mut need = d_out - outbound;
            let mut i = d;
            while i < plst.len() && need > 0 {
                if self.is_outbound(plst[i]) {
                    rotate(&mut plst, i);
                    need -= 1;
                }
                i += 1;
            }
        }
        plst.split_off(d)
    }

    /// rust-libp2p `heartbeat` with more than D_high mesh peers: remove (n - D) peers,
    /// worst score first among all but the `retain_scores` (D_score) best, which are
    /// shuffled, never taking the outbound peers below `mesh_outbound_min` (D_out). Returns
    /// the peers to prune.
    pub(super) fn prune_excess_rust(&self, k: usize, rng: &mut SimRng) -> Vec<NodeId> {
        let cfg = &self.sh.cfg;
        let (d, d_score, d_out) = (cfg.d as usize, cfg.d_score as usize, cfg.d_out as usize);
        let n = self.topics[k].mesh.len();
        let excess = n.saturating_sub(d);
        let mut c: Vec<(f64, NodeId)> = self.topics[k]
            .mesh
            .iter()
            .map(|&p| (self.score_of(p), p))
            .collect();
        c.shuffle(rng);
        c.sort_by(|a, b| a.0.partial_cmp(&b.0).expect("scores are finite"));
        let keep = n.saturating_sub(d_score);
        c[..keep].shuffle(rng);
        let mut outbound = c.iter().filter(|x| self.is_outbound(x.1)).count();
        let mut out = Vec::with_capacity(excess);
        for (_, p) in c {
            if out.len() == excess {
                break;
            }
            if self.is_outbound(p) {
                if outbound <= d_out {
                    continue;
                }
                outbound -= 1;
            }
            out.push(p);
        }
        out
    }

    /// nim-libp2p `replenishFanout`.
    pub(super) fn replenish_fanout(&mut self, k: usize) {
        let d_low = self.sh.cfg.d_low as usize;
        let d = self.sh.cfg.d as usize;
        let t = &mut self.topics[k];
        if t.fanout.len() >= d_low {
            return;
        }
        for &p in &t.peers {
            if t.mesh.contains(&p) || t.fanout.contains(&p) {
                continue;
            }
            t.fanout.push(p);
            if t.fanout.len() == d {
                break;
            }
        }
    }

    /// Subscribes to `topic` (nim-libp2p `onTopicSubscription(true)`): announces it to every
    /// peer, drops a fanout for it, builds a mesh.
    pub fn subscribe(&mut self, topic: TopicIdx, ctx: &mut impl Io<Relay>) {
        let k = self.topic_entry(topic);
        if self.topics[k].subscribed {
            return;
        }
        self.topics[k].subscribed = true;
        if let Err(pos) = self.scored.binary_search(&topic) {
            self.scored.insert(pos, topic);
        }
        self.rebuild_subs();
        self.announce(topic, true, ctx);
        self.topics[k].fanout.clear();
        self.topics[k].fanout_until = None;
        self.rebalance(k, ctx);
    }

    /// Unsubscribes from `topic` (nim-libp2p `onTopicSubscription(false)`): PRUNE to the mesh
    /// with the unsubscribe backoff, then the announcement to every peer.
    pub fn unsubscribe(&mut self, topic: TopicIdx, ctx: &mut impl Io<Relay>) {
        let Some(k) = self.topic_pos(topic).filter(|&k| self.topics[k].subscribed) else {
            return;
        };
        let now = ctx.now();
        let mesh = std::mem::take(&mut self.topics[k].mesh);
        let px = self.px_list(k);
        let rpc = self.prune_rpc(topic, self.sh.unsubscribe_backoff, px);
        for &p in &mesh {
            self.send(p, rpc.clone(), true, ctx);
        }
        for &p in &mesh {
            self.pruned(k, p, Some(self.sh.unsubscribe_backoff), now);
        }
        self.topics[k].subscribed = false;
        self.rebuild_subs();
        self.announce(topic, false, ctx);
    }

    pub(super) fn announce(&mut self, topic: TopicIdx, subscribe: bool, ctx: &mut impl Io<Relay>) {
        let rpc = Rpc::Subscribe(Rc::new(Subscriptions {
            topics: vec![topic],
            subscribe,
            wire: subscribe_rpc_bytes([self.topic_len(topic)].into_iter()),
        }));
        let all: Vec<NodeId> = self.peer_ids.clone();
        for p in all {
            self.send(p, rpc.clone(), true, ctx);
        }
    }

    /// Fault injection (not a protocol action): PRUNE every peer of every subscribed topic
    /// with a backoff of `backoff`, and back off from all of them. Neither side grafts the
    /// other until the backoff ends, so the node stays connected but outside every mesh and
    /// receives only through gossip (IHAVE / IWANT).
    pub fn prune_all(&mut self, backoff: SimDuration, ctx: &mut impl Io<Relay>) {
        let now = ctx.now();
        for k in 0..self.topics.len() {
            if !self.topics[k].subscribed {
                continue;
            }
            let topic = self.topics[k].topic;
            let peers = self.topics[k].peers.clone();
            self.topics[k].mesh.clear();
            for &p in &peers {
                self.pruned(k, p, Some(backoff), now);
            }
            let rpc = self.prune_rpc(topic, backoff, None);
            for &p in &peers {
                self.send(p, rpc.clone(), true, ctx);
            }
        }
    }
}
