//! Inputs from the network: RPCs from peers (nim-libp2p `rpcHandler`, `validateAndRelay`,
//! `handleGraft` / `handlePrune` / `handleIHave` / `handleIWant` / `handleIDontWant`,
//! subscriptions), connections opening and closing, and the timer dispatch.

use rand::seq::SliceRandom;
use sim_core::memory::{insert_tight, push_tight};
use sim_core::{NodeId, SimDuration};

use crate::proto::Io;
use crate::relay::message::{MsgId, TopicIdx, WireMsg};
use crate::relay::peer_score::PeerScore;
use crate::relay::profile::Implementation;
use crate::relay::queues::SendQueue;
use crate::relay::rpc::{Ihave, Prune, Rpc, Subscriptions};
use crate::relay::{Peer, Relay, RelayCounter, RelayEvent, RelayTimer, Validation, remove_id};

impl Relay {
    /// Whether to accept an inbound connection: refused while the peer's retained score is
    /// below the graylist threshold, or when the node is full.
    pub fn accept_inbound(&self, peer: NodeId, connections: usize) -> bool {
        !self.is_graylisted(peer) && connections < self.sh.cfg.max_connections as usize
    }

    /// A connection opened: the peer is added, its retained score restored, our
    /// subscriptions sent.
    pub fn on_connection_up(&mut self, peer: NodeId, outbound: bool, ctx: &mut impl Io<Relay>) {
        if self.peer_pos(peer).is_some() || peer == self.me {
            return;
        }
        let now = ctx.now();
        let score = self
            .retained
            .remove(&peer)
            .unwrap_or_else(|| PeerScore::new(now, &self.sh.cfg.scoring));
        let bad = self.sh.cfg.scoring.disconnect_bad_peers
            && score.score < self.sh.cfg.scoring.graylist_threshold;
        let p = Peer {
            id: peer,
            outbound,
            ihave_budget: 0,
            idontwant_count: 0,
            counters_hb: self.hb.wrapping_sub(1),
            score: score.score,
            queue: SendQueue::default(),
            stats: Box::new(score),
        };
        let pos = self.peer_ids.binary_search(&peer).unwrap_err();
        let initial = p.score;
        insert_tight(&mut self.peer_ids, pos, peer);
        insert_tight(&mut self.peers, pos, p);
        if outbound {
            let k = self.outbound_ids.binary_search(&peer).unwrap_err();
            insert_tight(&mut self.outbound_ids, k, peer);
        }
        self.note_score(peer, initial);
        if bad {
            ctx.report(RelayEvent::Count(RelayCounter::GraylistRefused));
            self.drop_peer(peer, ctx);
            ctx.disconnect(peer);
            return;
        }
        if let Some(s) = self.subs_rpc.clone() {
            self.send(peer, Rpc::Subscribe(s), true, ctx);
        }
    }

    /// A connection closed.
    pub fn on_connection_down(&mut self, peer: NodeId, ctx: &mut impl Io<Relay>) {
        self.drop_peer(peer, ctx);
    }

    /// Forgets a peer (nim-libp2p `unsubscribePeer`): it leaves every mesh with a backoff, its
    /// score is retained, its queues are dropped.
    pub(super) fn drop_peer(&mut self, peer: NodeId, ctx: &mut impl Io<Relay>) {
        let Some(i) = self.peer_pos(peer) else {
            return;
        };
        let now = ctx.now();
        self.peer_ids.remove(i);
        let mut p = self.peers.remove(i);
        if let Ok(k) = self.outbound_ids.binary_search(&peer) {
            self.outbound_ids.remove(k);
        }
        if let Ok(k) = self.negative.binary_search(&peer) {
            self.negative.remove(k);
        }
        if !self.idontwants.is_empty() {
            self.idontwants.retain(|e| e.1 != peer);
        }
        let until = now + self.sh.prune_backoff;
        for t in &mut self.topics {
            if t.subscribed {
                // nim-libp2p calls `pruned` for every mesh topic, setting a backoff.
                t.backoff.set(peer, until);
                remove_id(&mut t.mesh, peer);
            }
            remove_id(&mut t.peers, peer);
            remove_id(&mut t.fanout, peer);
        }
        p.stats.disconnected();
        self.retained.insert(peer, *p.stats);
        self.sent_ihaves.forget(peer);
    }

    /// Handles an RPC from `from`.
    pub fn on_rpc(&mut self, from: NodeId, rpc: Rpc, ctx: &mut impl Io<Relay>) {
        let Some(i) = self.peer_pos(from) else {
            return; // in flight when we dropped the peer
        };
        match rpc {
            Rpc::Publish(msg) | Rpc::Forward(msg) => self.on_message(from, msg, ctx),
            Rpc::IwantReply(msgs) => {
                for m in msgs.iter() {
                    self.on_message(from, *m, ctx);
                }
            }
            Rpc::Ihave(ih) => self.handle_ihave(from, i, &ih, ctx),
            Rpc::Iwant(ids) => self.handle_iwant(from, &ids, ctx),
            Rpc::Idontwant(id) => self.handle_idontwant(from, i, id),
            Rpc::Graft { topic, .. } => self.handle_graft(from, topic, ctx),
            Rpc::Prune(p) => self.handle_prune(from, &p, ctx),
            Rpc::Subscribe(s) => self.handle_subscribe(from, &s, ctx),
        }
    }

    /// A message arrived (nim-libp2p `rpcHandler` for one message): with a handling cost
    /// ([`crate::relay::config::RelayConfig::message_handling_us`]) it first waits for its
    /// decoding on the node's CPU, then is handled.
    pub(super) fn on_message(&mut self, from: NodeId, msg: WireMsg, ctx: &mut impl Io<Relay>) {
        if self.peer_pos(from).is_none() {
            return;
        }
        match self.sh.handling(msg.data_bytes) {
            None => self.handle_message(from, msg, ctx),
            Some(cost) => ctx.compute(cost, RelayTimer::Handled { from, msg }),
        }
    }

    /// A received message, decoded: the seen check, IDONTWANT, then validation. The sender
    /// may have disconnected meanwhile (with a handling cost): the message is handled all
    /// the same, as a real node handles what it has read.
    pub(super) fn handle_message(&mut self, from: NodeId, msg: WireMsg, ctx: &mut impl Io<Relay>) {
        let now = ctx.now();
        self.seen.expire(now, |e| {
            ctx.report(RelayEvent::SeenExpired {
                seq: e.seq,
                copies: e.copies,
            })
        });
        if self.seen.receive(msg.id, msg.seq, now) {
            if let Some(v) = self.validating.iter_mut().find(|v| v.0 == msg.id)
                && !v.1.contains(&from)
            {
                v.1.push(from);
            }
            return;
        }
        let Some(k) = self
            .topic_pos(msg.topic)
            .filter(|&k| self.topics[k].subscribed)
        else {
            return; // a topic we are not subscribed to
        };
        if self.sh.cfg.idontwant && msg.data_bytes > self.sh.cfg.idontwant_threshold_bytes {
            // Sent before validation, high priority, to the mesh except the sender.
            let mut targets = std::mem::take(&mut self.scratch);
            targets.clear();
            targets.extend(self.topics[k].mesh.iter().copied().filter(|&p| p != from));
            // Where each lands (the look-ahead fetched their link records).
            for &p in &targets {
                ctx.prefetch_passive_send(p);
            }
            for &p in &targets {
                self.send(p, Rpc::Idontwant(msg.id), true, ctx);
            }
            self.scratch = targets;
        }
        let mut delay = self.sh.validation_delay;
        if self.sh.rln.is_some()
            && let Some(rln) = self.rln.as_mut()
        {
            // RLN's checks before the proof verification; the verification is CPU time.
            match rln.precheck(&msg, ctx.now()) {
                Some(cost) => delay += cost,
                None => {
                    self.rejected(from, msg.topic, ctx);
                    return;
                }
            }
        }
        if delay == SimDuration::ZERO {
            self.validated(from, msg, &[], ctx);
        } else {
            self.validating.push((msg.id, Vec::new()));
            ctx.compute(delay, RelayTimer::Validated { from, msg });
        }
    }

    /// A message from `from` on `t` failed validation: Reject (P4 for the sender).
    fn rejected(&mut self, from: NodeId, t: TopicIdx, ctx: &mut impl Io<Relay>) {
        ctx.report(RelayEvent::Count(RelayCounter::Rejected));
        if self.is_subscribed(t)
            && let Some(i) = self.peer_pos(from)
        {
            self.peers[i].stats.invalid_delivery(t);
        }
    }

    /// Validation finished (nim-libp2p `validateAndRelay` after `validate`).
    pub(super) fn validated(
        &mut self,
        from: NodeId,
        msg: WireMsg,
        seen_during: &[NodeId],
        ctx: &mut impl Io<Relay>,
    ) {
        let t = msg.topic;
        let mut verdict = self.sh.validate(&msg);
        if verdict == Validation::Accept
            && self.sh.rln.is_some()
            && let Some(rln) = self.rln.as_mut()
        {
            verdict = rln.finish(&msg, ctx.now());
        }
        match verdict {
            Validation::Reject => {
                self.rejected(from, t, ctx);
                return;
            }
            Validation::Ignore => {
                ctx.report(RelayEvent::Count(RelayCounter::Ignored));
                return;
            }
            Validation::Accept => {}
        }
        let Some(k) = self.topic_pos(t).filter(|&k| self.topics[k].subscribed) else {
            return; // unsubscribed while validating
        };
        self.mcache.put(msg);
        if let Some(i) = self.peer_pos(from) {
            self.peers[i].stats.first_delivery(t, &self.sh.cfg.scoring);
        }
        if msg.flags & WireMsg::REPUBLISHED == 0 {
            ctx.report(RelayEvent::Accepted {
                seq: msg.seq,
                hops: msg.hops,
            });
        }
        if let Some(d) = self.delivered.as_deref_mut() {
            d.push(msg);
        }
        let mut targets = std::mem::take(&mut self.scratch);
        targets.clear();
        targets.extend(
            self.topics[k]
                .mesh
                .iter()
                .copied()
                .filter(|&p| p != from && !seen_during.contains(&p)),
        );
        if !self.idontwants.is_empty() {
            let before = targets.len();
            // The peers that sent IDONTWANT for this id, in one pass over the list (a pass
            // per target when more than fit here).
            let mut senders = [NodeId(0); 16];
            let mut n = 0;
            let mut overflow = false;
            for e in self.idontwants.iter().filter(|e| e.0 == msg.id) {
                if n == senders.len() {
                    overflow = true;
                    break;
                }
                senders[n] = e.1;
                n += 1;
            }
            if overflow {
                let dont = &self.idontwants;
                targets.retain(|&p| !dont.iter().any(|e| e.0 == msg.id && e.1 == p));
            } else {
                targets.retain(|p| !senders[..n].contains(p));
            }
            for _ in targets.len()..before {
                ctx.report(RelayEvent::Count(RelayCounter::IdontwantSavedSends));
            }
        }
        let out = msg.next_hop();
        for &p in &targets {
            self.send(p, Rpc::Forward(out), false, ctx);
        }
        self.scratch = targets;
    }

    /// An IHAVE from `from`, at `i` in the peer list.
    pub(super) fn handle_ihave(
        &mut self,
        from: NodeId,
        i: usize,
        ih: &Ihave,
        ctx: &mut impl Io<Relay>,
    ) {
        let (hb, budget) = (self.hb, self.sh.cfg.max_iwant_ids_per_heartbeat);
        let p = &mut self.peers[i];
        p.counters(hb, budget);
        if p.score < self.sh.cfg.scoring.gossip_threshold || p.ihave_budget == 0 {
            ctx.report(RelayEvent::Count(RelayCounter::IhaveIgnored));
            return;
        }
        let mut want: Vec<MsgId> = Vec::new();
        let mut budget = p.ihave_budget as u32;
        for (e, entry) in ih.batch.entries().enumerate() {
            if ih.mask & (1u32 << e) == 0 || !self.is_subscribed(entry.topic) {
                continue;
            }
            for &id in entry.ids {
                if self.seen.contains(id) {
                    continue;
                }
                if budget == 0 {
                    break;
                }
                if !want.contains(&id) {
                    want.push(id);
                    budget -= 1;
                }
            }
        }
        self.peers[i].ihave_budget = budget as u16;
        if want.is_empty() {
            return;
        }
        want.shuffle(ctx.rng());
        ctx.report(RelayEvent::Count(RelayCounter::IwantIdsSent));
        self.send(from, Rpc::Iwant(want.into_boxed_slice()), true, ctx);
    }

    pub(super) fn handle_iwant(&mut self, from: NodeId, ids: &[MsgId], ctx: &mut impl Io<Relay>) {
        let i = self.peer_pos(from).expect("checked by on_rpc");
        if self.peers[i].score < self.sh.cfg.scoring.gossip_threshold {
            return;
        }
        let mut msgs = Vec::new();
        let mut invalid = 0;
        for &id in ids {
            // nim-libp2p `canAskIWant`: only ids advertised to this peer, each once.
            if !self.sent_ihaves.take(from, id) {
                ctx.report(RelayEvent::Count(RelayCounter::IwantIdsRefused));
                invalid += 1;
                if invalid > self.sh.cfg.max_iwant_invalid_requests {
                    break;
                }
                continue;
            }
            if let Some(m) = self.mcache.get(id) {
                msgs.push(m.next_hop());
            }
        }
        if msgs.is_empty() {
            return;
        }
        for _ in 0..msgs.len() {
            ctx.report(RelayEvent::Count(RelayCounter::IwantMsgsServed));
        }
        // nim-libp2p splits an RPC above 90 % of the size limit into several.
        let max = (self.sh.cfg.max_rpc_bytes as u64 * 90 / 100) as u32;
        let mut batch: Vec<WireMsg> = Vec::new();
        let mut size = 0u32;
        for m in msgs {
            let b = crate::relay::rpc::publish_rpc_bytes(m.data_bytes, m.topic_len);
            if !batch.is_empty() && size + b > max {
                let full = std::mem::take(&mut batch);
                self.send(from, Rpc::IwantReply(full.into_boxed_slice()), false, ctx);
                size = 0;
            }
            size += b;
            batch.push(m);
        }
        self.send(from, Rpc::IwantReply(batch.into_boxed_slice()), false, ctx);
    }

    /// An IDONTWANT from `from`, at `i` in the peer list.
    pub(super) fn handle_idontwant(&mut self, from: NodeId, i: usize, id: MsgId) {
        let max = self.sh.cfg.max_idontwant_per_heartbeat;
        let hb = self.hb;
        let budget = self.sh.cfg.max_iwant_ids_per_heartbeat;
        let p = &mut self.peers[i];
        p.counters(hb, budget);
        if p.idontwant_count as u32 >= max {
            return;
        }
        p.idontwant_count += 1;
        self.idontwants.push_back((id, from, hb));
    }

    pub(super) fn handle_graft(&mut self, from: NodeId, topic: TopicIdx, ctx: &mut impl Io<Relay>) {
        let now = ctx.now();
        let k = self.topic_entry(topic);
        if self.topics[k].mesh.contains(&from) {
            return;
        }
        let i = self.peer_pos(from).expect("checked by on_rpc");
        // nim-libp2p ignores its backoff slack here, twice (`handleGraft`); go
        // (`now.Before(expire)`) and rust refuse a GRAFT until the backoff ends.
        let slack2 = match self.sh.rules {
            Implementation::Nim => self.sh.slack.saturating_mul(2),
            Implementation::Go | Implementation::Rust => SimDuration::ZERO,
        };
        if let Some(until) = self.topics[k].backoff.get(from)
            && until > now + slack2
        {
            // A GRAFT during backoff: PRUNE, a fresh backoff, and a behaviour penalty.
            ctx.report(RelayEvent::Count(RelayCounter::GraftDuringBackoff));
            self.peers[i].stats.behaviour_penalty += self.sh.cfg.scoring.graft_backoff_penalty;
            self.topics[k]
                .backoff
                .set(from, now + self.sh.prune_backoff);
            let rpc = self.prune_rpc(topic, self.sh.prune_backoff, None);
            self.send(from, rpc, true, ctx);
            return;
        }
        let (score, outbound) = (self.peers[i].score, self.peers[i].outbound);
        match self.sh.rules {
            // nim-libp2p: a GRAFT from a peer below the publish threshold is ignored.
            Implementation::Nim => {
                if score < self.sh.cfg.scoring.publish_threshold {
                    return;
                }
            }
            // go and rust answer a GRAFT from a negative-score peer with PRUNE (go also
            // backs off from it), on subscribed topics only (unknown topics are ignored).
            Implementation::Go | Implementation::Rust => {
                if score < 0.0 {
                    if !self.topics[k].subscribed {
                        return;
                    }
                    if self.sh.rules == Implementation::Go {
                        self.topics[k]
                            .backoff
                            .set(from, now + self.sh.prune_backoff);
                    }
                    let rpc = self.prune_rpc(topic, self.sh.prune_backoff, None);
                    self.send(from, rpc, true, ctx);
                    return;
                }
            }
        }
        if !self.topics[k].subscribed {
            return;
        }
        let cfg = &self.sh.cfg;
        let t = &self.topics[k];
        let mesh_out = t.mesh.iter().filter(|&&m| self.is_outbound(m)).count();
        if t.mesh.len() < cfg.d_high as usize
            || self
                .sh
                .rules
                .accepts_graft_at_d_high(outbound, mesh_out, cfg.d_out)
        {
            push_tight(&mut self.topics[k].mesh, from);
            self.peers[i].stats.grafted(topic, now);
            remove_id(&mut self.topics[k].fanout, from);
        } else {
            let px = self.px_list(k);
            let rpc = self.prune_rpc(topic, self.sh.prune_backoff, px);
            self.topics[k]
                .backoff
                .set(from, now + self.sh.prune_backoff);
            self.send(from, rpc, true, ctx);
        }
    }

    pub(super) fn handle_prune(&mut self, from: NodeId, p: &Prune, ctx: &mut impl Io<Relay>) {
        let now = ctx.now();
        let k = self.topic_entry(p.topic);
        if p.backoff_s > 0 {
            // nim-libp2p adds its slack to a received PRUNE's backoff; go and rust keep the
            // backoff as asked and apply the slack to every entry when it expires (heartbeat).
            let slack = match self.sh.rules {
                Implementation::Nim => self.sh.cfg.backoff_slack_s,
                Implementation::Go | Implementation::Rust => 0,
            };
            let secs = (p.backoff_s as u64 + slack).min(86_400);
            self.topics[k]
                .backoff
                .raise(from, now + SimDuration::from_secs(secs));
        }
        let i = self.peer_pos(from).expect("checked by on_rpc");
        self.peers[i].stats.pruned(p.topic);
        remove_id(&mut self.topics[k].mesh, from);
        if let Some(px) = &p.px
            && !px.is_empty()
            && self.peers[i].score > self.sh.cfg.scoring.gossip_threshold
        {
            let mut room =
                (self.sh.cfg.max_connections as usize).saturating_sub(ctx.connection_count());
            for &q in px.iter() {
                if room == 0 {
                    break;
                }
                if q == self.me || self.peer_pos(q).is_some() {
                    continue;
                }
                ctx.report(RelayEvent::Count(RelayCounter::PxDials));
                ctx.dial(q);
                room -= 1;
            }
        }
    }

    pub(super) fn handle_subscribe(
        &mut self,
        from: NodeId,
        s: &Subscriptions,
        ctx: &mut impl Io<Relay>,
    ) {
        let now = ctx.now();
        for &t in &s.topics {
            let k = self.topic_entry(t);
            let i = self.peer_pos(from).expect("checked by on_rpc");
            if s.subscribe {
                if !self.topics[k].peers.contains(&from) {
                    push_tight(&mut self.topics[k].peers, from);
                }
            } else {
                if remove_id(&mut self.topics[k].mesh, from) {
                    self.peers[i].stats.pruned(t);
                    self.topics[k]
                        .backoff
                        .set(from, now + self.sh.prune_backoff);
                }
                remove_id(&mut self.topics[k].peers, from);
                remove_id(&mut self.topics[k].fanout, from);
            }
        }
        for &t in &s.topics {
            if let Some(k) = self.topic_pos(t)
                && self.topics[k].subscribed
                && self.topics[k].mesh.len() < self.sh.cfg.d_low as usize
            {
                self.rebalance(k, ctx);
            }
        }
    }

    /// A relay timer fired.
    pub fn on_timer(&mut self, timer: RelayTimer, ctx: &mut impl Io<Relay>) {
        match timer {
            RelayTimer::Heartbeat => self.heartbeat(ctx),
            RelayTimer::ScoreTick => self.score_tick(ctx),
            RelayTimer::Drain(peer) => self.drain(peer, ctx),
            RelayTimer::Handled { from, msg } => self.handle_message(from, msg, ctx),
            RelayTimer::Validated { from, msg } => {
                let seen = match self.validating.iter().position(|v| v.0 == msg.id) {
                    Some(i) => self.validating.swap_remove(i).1,
                    None => Vec::new(),
                };
                self.validated(from, msg, &seen, ctx);
            }
        }
    }
}
