//! The run loop: `run_*` calls, [`Engine::step`], the hand-over of deferred passive
//! messages, handler calls and the look-ahead prefetch.

use super::Engine;
use super::config::RunOutcome;
use super::events::{Ev, GENERATION_MASK, Notice, Pending};
use super::inflight::{InFlight, PASSIVE};
use super::state::mix;
use super::timers::TimerSlot;
use crate::NodeId;
use crate::accounting::DropReason;
use crate::node::{Ctx, Hint, Input, Node};
use crate::time::SimTime;

/// How many events ahead the engine prefetches, by stage: in-flight records and timer slots;
/// the receiver's link record, counters and node record ([`Node::prefetch`] stage 0); its
/// connection index and the node's hint stage 1; hint stages 2 and 3. Each stage reads only
/// what an earlier one fetched, one or two events (half a microsecond or more, several memory
/// latencies) before.
/// The queue keeps at least this many events visible when it can (`queue::TOP_UP`).
pub(super) const PREFETCH: [usize; 5] = [7, 5, 4, 2, 1];

/// Deferred messages of a node whose list entries, records and counters the look-ahead
/// prefetches before its next input.
pub(super) const PENDING_AHEAD: usize = 12;

impl<N: Node> Engine<N> {
    /// Processes events up to and including time `end`, then sets the clock to `end`.
    /// Deferred passive messages due up to `end` have reached their nodes when it returns.
    pub fn run_until(&mut self, end: SimTime) -> RunOutcome {
        loop {
            match self.core.queue.peek_time() {
                None => {
                    self.catch_up_all((end, u64::MAX));
                    if self.core.pending_total > 0 {
                        // Deferred messages due later remain: as events would.
                        self.core.now = end;
                        return RunOutcome::ReachedTime;
                    }
                    self.core.now = self.core.now.max(end);
                    return RunOutcome::QueueEmpty;
                }
                Some(t) if t > end => {
                    self.catch_up_all((end, u64::MAX));
                    self.core.now = end;
                    return RunOutcome::ReachedTime;
                }
                Some(_) => self.step(),
            }
        }
    }

    /// Processes events until the queue is empty (deferred passive messages included).
    pub fn run_to_empty(&mut self) -> RunOutcome {
        loop {
            while !self.core.queue.is_empty() {
                self.step();
            }
            if self.core.pending_total == 0 {
                return RunOutcome::QueueEmpty;
            }
            let last = self.catch_up_all((SimTime::MAX, u64::MAX));
            self.core.now = self.core.now.max(last);
        }
    }

    /// Processes events up to `end` while `keep_going` holds; it is checked after every event.
    /// Passive messages are not deferred meanwhile (those deferred before are handed over if
    /// due, else become events), so that the condition sees every node as it is.
    pub fn run_while(
        &mut self,
        end: SimTime,
        mut keep_going: impl FnMut(&Self) -> bool,
    ) -> RunOutcome {
        let defer = std::mem::replace(&mut self.core.defer_passive, false);
        self.undefer_all();
        let outcome = loop {
            if !keep_going(self) {
                break RunOutcome::ConditionMet;
            }
            match self.core.queue.peek_time() {
                None => break RunOutcome::QueueEmpty,
                Some(t) if t > end => {
                    self.core.now = end;
                    break RunOutcome::ReachedTime;
                }
                Some(_) => self.step(),
            }
        };
        self.core.defer_passive = defer;
        outcome
    }

    /// Hands over the deferred passive messages due before the last event processed and
    /// turns the others into delivery events (a closed connection then drops them when due,
    /// as it drops any message).
    fn undefer_all(&mut self) {
        self.catch_up_all((self.core.now, self.core.cur_seq));
        for n in std::mem::take(&mut self.core.pending_nodes) {
            let pending = std::mem::take(&mut self.core.nodes[n as usize].pending);
            self.core.nodes[n as usize].pending_listed = false;
            for p in pending {
                self.core.msgs.get_mut(p.idx).framing_passive &= !PASSIVE;
                self.core
                    .queue
                    .push(p.at, p.seq, Ev::Deliver { msg: p.idx }.pack());
            }
        }
        self.core.pending_total = 0;
    }

    /// Hands every deferred passive message due before `cut` (time, seq) to its node; returns
    /// the latest delivery time handed.
    fn catch_up_all(&mut self, cut: (SimTime, u64)) -> SimTime {
        let mut last = SimTime::ZERO;
        if self.core.pending_total == 0 {
            return last;
        }
        let mut nodes = std::mem::take(&mut self.core.pending_nodes);
        nodes.retain(|&n| {
            last = last.max(self.catch_up_to(NodeId(n), cut));
            let listed = !self.core.nodes[n as usize].pending.is_empty();
            self.core.nodes[n as usize].pending_listed = listed;
            listed
        });
        self.core.pending_nodes = nodes;
        last
    }

    /// Hands `node` the deferred passive messages due before the event being processed.
    #[inline]
    pub(super) fn catch_up(&mut self, node: NodeId) {
        if !self.core.nodes[node.index()].pending.is_empty() {
            self.catch_up_to(node, (self.core.now, self.core.cur_seq));
        }
    }

    /// Hands `node` its deferred passive messages due before `cut`, each at its own delivery
    /// time and in order, as events would have; returns the latest delivery time handed.
    #[inline(never)]
    fn catch_up_to(&mut self, node: NodeId, cut: (SimTime, u64)) -> SimTime {
        let mut pending = std::mem::take(&mut self.core.nodes[node.index()].pending);
        if !pending.is_sorted_by_key(Pending::key) {
            pending.sort_unstable_by_key(Pending::key);
        }
        let n = pending.partition_point(|p| p.key() < cut);
        let now = self.core.now;
        let mut last = SimTime::ZERO;
        self.core.passive_call = true;
        for p in &pending[..n] {
            let m = self.core.msgs.take(p.idx);
            debug_assert!(m.0.passive() && m.0.to == node);
            last = p.at;
            if p.dropped {
                self.core
                    .accounting
                    .count_drop(node, DropReason::ConnectionClosed);
                continue;
            }
            self.core.now = p.at;
            self.deliver(m);
        }
        self.core.passive_call = false;
        self.core.now = now;
        self.core.pending_total -= n;
        pending.drain(..n);
        // Nothing was deferred to this node meanwhile: passive handlers do not send.
        debug_assert!(self.core.nodes[node.index()].pending.is_empty());
        self.core.nodes[node.index()].pending = pending;
        last
    }

    /// Calls `node`'s handler, after handing it the deferred messages due before.
    #[inline]
    pub(super) fn call(&mut self, node: NodeId, kind: u64, input: Input<N::Msg, N::Timer>) {
        self.catch_up(node);
        self.handle(node, kind, input);
    }

    #[inline]
    pub(super) fn handle(&mut self, node: NodeId, kind: u64, input: Input<N::Msg, N::Timer>) {
        let core = &mut self.core;
        core.events += 1;
        core.hash = mix(
            mix(core.hash, core.now.as_nanos()),
            (node.0 as u64) << 32 | kind,
        );
        let mut ctx = Ctx {
            core,
            node,
            observer: &mut self.observer,
        };
        self.nodes[node.index()].handle(input, &mut ctx);
    }

    /// Processes the next event, if any.
    pub fn step(&mut self) {
        let Some((t, seq, ev)) = self.core.queue.pop() else {
            return;
        };
        self.core.cur_seq = seq;
        self.prefetch_ahead();
        let ev = ev.unpack();
        assert!(
            t >= self.core.now,
            "event queue went back in time: {t} after {}",
            self.core.now
        );
        self.core.now = t;
        match ev {
            Ev::Start { node } => {
                let n = &mut self.core.nodes[node as usize];
                if n.online {
                    let restart = n.started;
                    n.started = true;
                    self.call(NodeId(node), 1, Input::Start { restart });
                }
            }
            Ev::Timer { slot, generation } => {
                let ts = &mut self.core.timers[slot as usize];
                if ts.generation & GENERATION_MASK != generation || ts.value.is_none() {
                    return; // cancelled
                }
                let node = ts.node;
                let inc = ts.incarnation;
                let value = ts.value.take().expect("checked above");
                self.core.free_timer(slot);
                let n = &self.core.nodes[node.index()];
                if n.online && n.incarnation == inc {
                    self.call(node, 2, Input::Timer(value));
                }
            }
            Ev::Deliver { msg } => {
                let s = self.core.msgs.get(msg);
                if s.at > t {
                    // Pushed back in its downlink since this event was queued (see
                    // `Core::downlink_push_back`): queued again for its time, with its own
                    // sequence number (this event's: the send's), so deliveries keep their
                    // order.
                    let at = s.at;
                    self.core.queue.push(at, seq, Ev::Deliver { msg }.pack());
                    return;
                }
                let m = self.core.msgs.take(msg);
                if let Some(reason) = self.undeliverable(&m.0) {
                    self.core.accounting.count_drop(m.0.to, reason);
                    return;
                }
                self.catch_up(m.0.to);
                self.deliver(m);
            }
            Ev::Post { msg } => {
                let (m, _) = self.core.msgs.take(msg);
                if !self.core.nodes[m.to.index()].online {
                    self.core
                        .accounting
                        .count_drop(m.to, DropReason::ReceiverOffline);
                    return;
                }
                self.call(
                    m.to,
                    4,
                    Input::Message {
                        from: m.from,
                        msg: m.msg.expect("a live record"),
                    },
                );
            }
            Ev::DialReach { dial } => self.dial_reach(dial),
            Ev::DialDone { dial } => self.dial_done(dial),
            Ev::ConnDown { notice } => {
                let Notice {
                    node,
                    peer,
                    reason,
                    outbound,
                } = self.core.notices.take(notice);
                if !self.core.nodes[node.index()].online {
                    return;
                }
                match reason {
                    Some(reason) => self.call(node, 7, Input::ConnectionDown { peer, reason }),
                    None => {
                        // Only if this very connection is still open.
                        if self.core.conn_index(node, peer).is_some() {
                            self.call(node, 6, Input::ConnectionUp { peer, outbound });
                        }
                    }
                }
            }
            Ev::Fault { idx } => {
                let f = self.core.faults[idx as usize]
                    .take()
                    .expect("fault runs once");
                self.core.hash = mix(self.core.hash, 0xFA17 ^ idx as u64);
                self.apply_fault(f);
            }
        }
    }

    /// Prefetches what the events a few places ahead will touch, in stages (`PREFETCH`): the
    /// in-flight record or timer slot; then, reading it, the receiver's link record, its
    /// counters and the node's own hints ([`Node::prefetch`] stage 0, which by default
    /// prefetches the node record); its connection index and hint stage 1; hint stages 2 and
    /// 3. Only hints: results are the same without them.
    #[inline]
    fn prefetch_ahead(&self) {
        use crate::prefetch::{prefetch, prefetch_obj, prefetch_range};
        let core = &self.core;
        if let Some(ev) = core.queue.peek_nth(PREFETCH[0]) {
            match ev.unpack() {
                Ev::Deliver { msg } | Ev::Post { msg } => {
                    prefetch_obj(core.msgs.items.as_ptr().wrapping_add(msg as usize));
                }
                Ev::Timer { slot, .. } => {
                    prefetch_obj(core.timers.as_ptr().wrapping_add(slot as usize));
                }
                _ => {}
            }
        }
        for (k, &d) in PREFETCH[1..].iter().enumerate() {
            let Some(ev) = core.queue.peek_nth(d) else {
                continue;
            };
            let (msg, timer) = match ev.unpack() {
                Ev::Deliver { msg } | Ev::Post { msg } => (msg, None),
                Ev::Timer { slot, .. } => (0, Some(slot)),
                _ => continue,
            };
            let (to, m, hint) = match timer {
                Some(slot) => match core.timers.get(slot as usize) {
                    Some(TimerSlot {
                        node,
                        value: Some(v),
                        ..
                    }) => (*node, None, Hint::Timer(v)),
                    _ => continue,
                },
                None => match core.msgs.items.get(msg as usize) {
                    Some(m @ InFlight { msg: Some(msg), .. }) => {
                        (m.to, Some(m), Hint::Message { from: m.from, msg })
                    }
                    _ => continue,
                },
            };
            let Some(nn) = core.nodes.get(to.index()) else {
                continue;
            };
            if N::PREFETCH_RNG {
                // The node's stream: the line with its state tag first, the rest once the tag
                // tells it exists.
                match k {
                    0 => prefetch(core.rngs.as_ptr().wrapping_add(to.index())),
                    1 => {
                        if let Some(Some(r)) = core.rngs.get(to.index()) {
                            crate::prefetch::prefetch_all(r);
                        }
                    }
                    _ => {}
                }
            }
            if k == 0 {
                // Lines 0 and 1: the link and the connection index's header.
                prefetch_range(nn, 0, 128);
                if let Some(m) = m
                    && m.conn != 0
                {
                    prefetch(core.conn_alive.as_ptr().wrapping_add(m.conn as usize));
                }
            }
            if k == 0
                && let Some(m) = m
                && m.has_bytes()
            {
                core.accounting.prefetch(to, m.cat);
                if let Some(fc) = core.framing_category {
                    core.accounting.prefetch(to, fc);
                }
                // Its TCP/IP headers' row (bytes in now, out when the node sends).
                if core.tcp.is_some()
                    && m.conn != 0
                    && let Some(hc) = core.header_category
                    && core.framing_category != Some(hc)
                {
                    core.accounting.prefetch(to, hc);
                }
            }
            if k == 1 {
                // The node may send: its connection index. Its deferred messages: their list.
                for i in (0..nn.conn_keys.len().min(24)).step_by(8) {
                    prefetch(nn.conn_keys.as_ptr().wrapping_add(i));
                }
                for i in 0..nn.pending.len().min(PENDING_AHEAD) {
                    prefetch(nn.pending.as_ptr().wrapping_add(i));
                }
            }
            if k == 2 {
                // The first deferred messages' records, counters and the node's hints (the
                // list's head came in at stage 1).
                let mut last_cat = None;
                for p in nn.pending.iter().take(PENDING_AHEAD) {
                    prefetch_obj(core.msgs.items.as_ptr().wrapping_add(p.idx as usize));
                    if last_cat != Some(p.cat) {
                        last_cat = Some(p.cat);
                        core.accounting.prefetch(to, p.cat);
                        if let Some(fc) = core.framing_category {
                            core.accounting.prefetch(to, fc);
                        }
                    }
                    if let Some(n) = self.nodes.get(to.index()) {
                        let hint = Hint::Deferred {
                            from: p.from,
                            category: p.cat,
                        };
                        n.prefetch(k as u8, hint, &core.links());
                    }
                }
            }
            if let Some(n) = self.nodes.get(to.index()) {
                n.prefetch(k as u8, hint, &core.links());
            }
        }
    }
}
