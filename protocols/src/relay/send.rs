//! Sending through the per-peer queues (nim-libp2p `PubSubPeer.sendEncoded`,
//! `sendNonPriorityTask`; [`crate::relay::queues`]), and the PRUNE / peer-exchange RPCs.

use std::rc::Rc;

use sim_core::{NodeId, SimDuration};

use crate::proto::Io;
use crate::relay::message::TopicIdx;
use crate::relay::rpc::{Prune, Rpc, prune_rpc_bytes};
use crate::relay::{Relay, RelayCounter, RelayEvent, RelayTimer};

impl Relay {
    /// Sends `rpc` to `to` through its queues: at once when `high` or when the peer's queues
    /// are idle, else through the non-priority queue.
    pub(super) fn send(&mut self, to: NodeId, rpc: Rpc, high: bool, ctx: &mut impl Io<Relay>) {
        let wire = rpc.wire_bytes();
        if wire > self.sh.cfg.max_rpc_bytes {
            ctx.report(RelayEvent::Count(RelayCounter::RpcTooLarge));
            return;
        }
        let Some(i) = self.peer_pos(to) else {
            return;
        };
        let now = ctx.now();
        let limit = self.sh.cfg.non_priority_queue_len as usize;
        let q = &mut self.peers[i].queue;
        if high || q.idle(now) {
            match ctx.send_sized(to, rpc, wire) {
                Some(done) => q.wrote(done),
                None => ctx.report(RelayEvent::Count(RelayCounter::UplinkFull)),
            }
            return;
        }
        let prio_until = q.prio_until;
        let low = q.low.get_or_insert_with(Default::default);
        if low.items.len() >= limit {
            ctx.report(RelayEvent::Count(RelayCounter::QueueOverflowDisconnect));
            self.drop_peer(to, ctx);
            ctx.disconnect(to);
            return;
        }
        low.items.push_back(rpc);
        ctx.report(RelayEvent::Count(RelayCounter::NonPriorityQueued));
        if !low.drain_pending {
            low.drain_pending = true;
            let at = prio_until.max(low.task_until).max(now);
            ctx.set_timer(at.saturating_since(now), RelayTimer::Drain(to));
        }
    }

    /// The non-priority task of `peer`: sends queued messages one by one, each after all
    /// unfinished writes.
    pub(super) fn drain(&mut self, peer: NodeId, ctx: &mut impl Io<Relay>) {
        let Some(i) = self.peer_pos(peer) else {
            return;
        };
        let now = ctx.now();
        let q = &mut self.peers[i].queue;
        let prio_until = q.prio_until;
        let Some(low) = q.low.as_mut() else {
            return;
        };
        low.drain_pending = false;
        while !low.items.is_empty() {
            let ready = prio_until.max(low.task_until);
            if ready > now {
                low.drain_pending = true;
                ctx.set_timer(ready.saturating_since(now), RelayTimer::Drain(peer));
                return;
            }
            let rpc = low.items.pop_front().expect("not empty");
            let wire = rpc.wire_bytes();
            match ctx.send_sized(peer, rpc, wire) {
                Some(done) => low.task_until = done,
                None => ctx.report(RelayEvent::Count(RelayCounter::UplinkFull)),
            }
        }
    }

    pub(super) fn prune_rpc(
        &self,
        topic: TopicIdx,
        backoff: SimDuration,
        px: Option<Rc<[NodeId]>>,
    ) -> Rpc {
        let tl = self.topic_len(topic);
        let backoff_s = (backoff.as_nanos() / 1_000_000_000) as u32;
        let n = px.as_ref().map_or(0, |p| p.len() as u32);
        Rpc::Prune(Box::new(Prune {
            topic,
            topic_len: tl,
            backoff_s,
            wire: prune_rpc_bytes(tl, backoff_s, n, self.sh.cfg.px_record_bytes),
            px,
        }))
    }

    /// nim-libp2p `peerExchangeList`: up to 2 x D_high topic peers with score >= 0.
    pub(super) fn px_list(&self, k: usize) -> Option<Rc<[NodeId]>> {
        if !self.sh.cfg.peer_exchange {
            return None;
        }
        let max = 2 * self.sh.cfg.d_high as usize;
        let list: Vec<NodeId> = self.topics[k]
            .peers
            .iter()
            .copied()
            .filter(|&p| self.score_at_least(p, 0.0))
            .take(max)
            .collect();
        Some(list.into())
    }
}
