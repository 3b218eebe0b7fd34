//! The send and delivery path: a send reserves the sender's uplink, draws latency and loss,
//! places the message in the receiver's downlink schedule and queues (or defers) its
//! delivery; a delivery counts the message and hands it to its receiver.

use rand::Rng;
use rand_distr::Distribution;

use super::Engine;
use super::events::{Ev, Pending};
use super::inflight::{FRAMING_ELSEWHERE, InFlight, InFlights, NO_MSG, PASSIVE};
use super::state::Core;
use crate::NodeId;
use crate::accounting::{Category, Direction, DropReason};
use crate::error::SimError;
use crate::network::Jitter;
use crate::node::{Input, Node, Payload, Sent};
use crate::time::{SimDuration, SimTime};

impl<M: Payload, T> Core<M, T> {
    fn jitter(&mut self) -> SimDuration {
        match self.net.jitter {
            Jitter::None => SimDuration::ZERO,
            Jitter::Uniform { max_ms } => {
                let ms = self.net_rng.random::<f64>() * max_ms;
                SimDuration::from_nanos((ms * 1e6) as u64)
            }
            Jitter::Exponential { .. } => {
                let exp = self.jitter_exp.expect("validated at construction");
                let ms = exp.sample(&mut self.net_rng);
                SimDuration::from_nanos((ms * 1e6).min(1e15) as u64)
            }
        }
    }

    /// Sends `msg` from `from` to `to` (over their connection when `stream`). Returns when its
    /// last byte leaves `from`'s uplink (the new `up_free`) or why it was not put on it: see
    /// [`Sent`].
    pub(crate) fn send(
        &mut self,
        from: NodeId,
        to: NodeId,
        msg: M,
        stream: bool,
        (cat, wire, framing): (Category, u32, u32),
    ) -> Result<Sent, SimError> {
        self.check_active("send");
        self.check_node("send target", to)?;
        if from == to {
            return Err(SimError::SelfTarget {
                node: from,
                what: "send to",
            });
        }
        let conn_idx = if stream {
            match self.conn_index(from, to) {
                Some(i) => Some(i),
                None => {
                    self.accounting.count_drop(to, DropReason::NoConnection);
                    return Ok(Sent::Dropped(DropReason::NoConnection));
                }
            }
        } else {
            None
        };
        if !self.partitions.is_empty() && !self.reachable(from, to) {
            self.accounting.count_drop(to, DropReason::Partition);
            return Ok(Sent::Dropped(DropReason::Partition));
        }
        let now = self.now;
        let mut size = wire as u64 + framing as u64;
        let mut headers = 0;
        if let (Some(p), Some(_)) = (&self.tcp, conn_idx) {
            headers = p.header_bytes(size) as u32;
            size += headers as u64;
        }
        let sender = &mut self.nodes[from.index()];
        let u0 = now.max(sender.up_free);
        if u0.saturating_since(now) > self.net.max_upload_backlog {
            self.accounting.count_drop(to, DropReason::UploadQueueFull);
            return Ok(Sent::Dropped(DropReason::UploadQueueFull));
        }
        let up_rate = sender.up_rate;
        let u1 = u0 + up_rate.transmit(size);
        sender.up_free = u1;
        self.account_out(from, cat, wire, framing, headers);

        let mut lat = self.latency.latency(from, to);
        let mut loss = 0.0;
        if self.degraded_nodes > 0 {
            let (sender, receiver) = (&self.nodes[from.index()], &self.nodes[to.index()]);
            lat += sender.extra_latency + receiver.extra_latency;
            loss = 1.0 - (1.0 - sender.loss) * (1.0 - receiver.loss);
        }
        if let Some(d) = self.link_degradation(from, to) {
            lat += d.extra_latency;
            loss = 1.0 - (1.0 - loss) * (1.0 - d.loss);
        }
        // When the write's first and last bytes leave: the uplink FIFO's times, or the TCP
        // flow's rounds on top of them (the round trip without jitter).
        let (mut d0, mut d1) = (u0, u1);
        if let (Some(p), Some(i)) = (self.tcp, conn_idx) {
            let rtt = lat.saturating_mul(2);
            let rto = rtt + self.net.min_rto;
            let flow = self.flow_mut(from, to, i);
            let s = flow.send(&p, size - headers as u64, (u0, u1), rtt, rto, up_rate);
            (d0, d1) = (s.first, s.last);
        }
        lat += self.jitter();
        if stream {
            if loss > 0.0 {
                // Each lost attempt costs a retransmission timeout; at most 8 retries.
                let rtt = lat.saturating_mul(2);
                let rto = rtt.max(self.net.min_rto);
                let mut tries = 0;
                while tries < 8 && self.net_rng.random::<f64>() < loss {
                    lat += rto;
                    tries += 1;
                }
            }
        } else {
            let loss = 1.0 - (1.0 - loss) * (1.0 - self.net.datagram_loss);
            if loss > 0.0 && self.net_rng.random::<f64>() < loss {
                self.accounting.count_drop(to, DropReason::Loss);
                // The uplink carried it: lost in the network, not on the sender's side.
                return Ok(Sent::Queued { leaves_at: u1 });
            }
        }
        let mut first = d0 + lat;
        let mut last = d1 + lat;
        let mut conn_id = 0;
        if let Some(i) = conn_idx {
            let n = &mut self.nodes[from.index()];
            conn_id = n.conn_id(i) as u32;
            if self.may_reorder {
                let c = &mut n.conns[i];
                first = first.max(c.last_first);
                last = last.max(c.last_last);
                c.last_first = first;
                c.last_last = last;
            }
        }
        // The receiver's downlink schedule (see `downlink_position`).
        self.seq += 1;
        let seq = self.seq;
        let r = &self.nodes[to.index()];
        let ser = r.down_rate.transmit(size);
        let in_order = first >= r.down_tail_first;
        let (prev, prev_first, prev_end) = if in_order {
            (r.down_tail, r.down_tail_first, r.down_free)
        } else {
            self.downlink_position(to, first)
        };
        let end = first.max(prev_end) + ser;
        let passive = stream && self.defer_passive && msg.passive();
        let (idx, s) = self.msgs.slot();
        s.from = from;
        s.to = to;
        s.conn = conn_id;
        s.bytes = wire;
        s.prev = prev;
        s.cat = cat;
        s.prev_first = prev_first;
        s.prev_end = prev_end;
        let at = end.max(last);
        s.at = at;
        s.framing_passive =
            InFlights::<M>::framing_word(framing) | if passive { PASSIVE } else { 0 };
        // A free slot holds no message: nothing to drop, so no read of the (often cold) line.
        std::mem::forget(s.msg.replace(msg));
        if framing >= FRAMING_ELSEWHERE as u32 {
            self.msgs.keep_framing(idx, framing);
        }
        if passive {
            self.defer(
                to,
                Pending {
                    at,
                    seq,
                    idx,
                    conn: conn_id,
                    from,
                    cat,
                    dropped: false,
                },
            );
        } else {
            self.queue.push(at, seq, Ev::Deliver { msg: idx }.pack());
        }
        if in_order {
            let r = &mut self.nodes[to.index()];
            r.down_tail = idx;
            r.down_tail_first = first;
            r.down_free = end;
        } else {
            self.downlink_push_back(to, idx, first, end);
        }
        Ok(Sent::Queued { leaves_at: u1 })
    }

    /// Writes `wire` + `framing` bytes of category `cat` from `from` to `to` on their
    /// connection as part of its set-up ([`crate::Ctx::send_setup`]): they take `from`'s
    /// uplink (FIFO, with TCP/IP headers and the flow's bookkeeping when TCP is modelled) and
    /// are counted out of `from` and into `to` at once; nothing is delivered, so the write
    /// holds no in-flight record and no event.
    pub(crate) fn send_setup(
        &mut self,
        from: NodeId,
        to: NodeId,
        (cat, wire, framing): (Category, u32, u32),
    ) -> Result<Sent, SimError> {
        self.check_active("send_setup");
        self.check_node("send_setup target", to)?;
        if from == to {
            return Err(SimError::SelfTarget {
                node: from,
                what: "send set-up bytes to",
            });
        }
        let Some(i) = self.conn_index(from, to) else {
            self.accounting.count_drop(to, DropReason::NoConnection);
            return Ok(Sent::Dropped(DropReason::NoConnection));
        };
        let now = self.now;
        let mut size = wire as u64 + framing as u64;
        let headers = self.tcp.map_or(0, |p| p.header_bytes(size) as u32);
        size += headers as u64;
        let sender = &mut self.nodes[from.index()];
        let u0 = now.max(sender.up_free);
        if u0.saturating_since(now) > self.net.max_upload_backlog {
            self.accounting.count_drop(to, DropReason::UploadQueueFull);
            return Ok(Sent::Dropped(DropReason::UploadQueueFull));
        }
        let up_rate = sender.up_rate;
        let u1 = u0 + up_rate.transmit(size);
        sender.up_free = u1;
        if let Some(p) = self.tcp {
            // The flow sees the write (its last send moves; a set-up write is a few segments,
            // within the initial window, so it stalls nothing).
            let rtt = self.latency.latency(from, to).saturating_mul(2);
            let rto = rtt + self.net.min_rto;
            self.flow_mut(from, to, i)
                .send(&p, size - headers as u64, (u0, u1), rtt, rto, up_rate);
        }
        self.account_out(from, cat, wire, framing, headers);
        self.account_in(to, cat, wire, framing, headers);
        Ok(Sent::Queued { leaves_at: u1 })
    }

    /// Puts a passive message in `to`'s pending list (at the end: a write that does not
    /// wait for the list's memory; the list is sorted when handed over).
    #[inline]
    fn defer(&mut self, to: NodeId, p: Pending) {
        let r = &mut self.nodes[to.index()];
        r.pending.push(p);
        if !r.pending_listed {
            r.pending_listed = true;
            self.pending_nodes.push(to.0);
        }
        self.pending_total += 1;
    }

    /// Connection `conn` to `node` closed at the event being processed: the passive messages
    /// on it that were due after that event are dropped (those due before it reach the node).
    /// They stay in the list, marked, until they are due, as their events would stay in the
    /// queue (their records may still be in the downlink's schedule).
    pub(super) fn drop_pending(&mut self, node: NodeId, conn: u32) {
        let cut = (self.now, self.cur_seq);
        for p in &mut self.nodes[node.index()].pending {
            if p.conn == conn && p.key() > cut {
                p.dropped = true;
            }
        }
    }

    // The receiver's downlink takes messages one at a time in order of first-bit arrival (ties
    // in the order sent): a message starts when its first bit arrives or when the downlink
    // finishes the one before, whichever is later, and is delivered when the downlink has
    // taken all of it and its last bit has arrived. The engine schedules this when a message
    // is sent, not when its first bit arrives, which costs one event per message instead of
    // two. It is exact because a message sent now never arrives before now: it can only go
    // before messages whose first bit has not arrived yet, and those (usually none: a later
    // send usually arrives later) are rescheduled. The schedule is a list linked backwards
    // through the in-flight records from the link record's `down_tail`, so the usual append
    // reads only the receiver's link record.

    /// Where a message whose first bit arrives at `first`, earlier than the tail's, goes in
    /// `to`'s downlink schedule: the predecessor it gets (index, first-bit arrival, end). The
    /// messages it goes before are left in `down_scratch`, from the tail back: their first
    /// bits arrive after `first` (so after now), so none has been delivered yet.
    #[cold]
    fn downlink_position(&mut self, to: NodeId, first: SimTime) -> (u32, SimTime, SimTime) {
        let mut after = std::mem::take(&mut self.down_scratch);
        after.clear();
        let mut cur = self.nodes[to.index()].down_tail;
        let e = loop {
            debug_assert_ne!(cur, NO_MSG, "a schedule with a later arrival has a tail");
            after.push(cur);
            let e = self.msgs.get(cur);
            if e.prev == NO_MSG || e.prev_first <= first {
                break e;
            }
            cur = e.prev;
        };
        let pos = (e.prev, e.prev_first, e.prev_end);
        self.down_scratch = after;
        pos
    }

    /// Links message `idx` (first bit at `first`, downlink done at `end`) before the messages
    /// [`Core::downlink_position`] left in `down_scratch` and pushes those back, earliest
    /// first. Each one's own first-bit arrival and end are what its successor (or the link
    /// record, for the tail) holds as its `prev_*`, still unchanged when it is reached; its
    /// transfer time is its end minus its start. One whose delivery time changes keeps its
    /// slot and its event, which is early now: it only records the new time ([`InFlight::at`]),
    /// and its event, finding that time later than its own, is queued again for it (with the
    /// message's sequence number, so at its place among the deliveries of that instant; see
    /// `Engine::step`). A burst of sends to one receiver whose first bits arrive out of the
    /// order sent (many nodes contacting one bootstrap node at once) thus costs one record
    /// update per message passed and at most one more event per message, not a new slot and
    /// event each time a message is passed (which grew with the square of the burst).
    ///
    /// [`InFlight::at`]: super::inflight::InFlight::at
    #[cold]
    fn downlink_push_back(&mut self, to: NodeId, idx: u32, first: SimTime, end: SimTime) {
        let after = std::mem::take(&mut self.down_scratch);
        let (mut p_idx, mut p_first, mut p_end) = (idx, first, end);
        for k in (0..after.len()).rev() {
            let j = after[k];
            let (own_first, old_end) = match k {
                0 => {
                    let r = &self.nodes[to.index()];
                    (r.down_tail_first, r.down_free)
                }
                _ => {
                    let s = self.msgs.get(after[k - 1]);
                    (s.prev_first, s.prev_end)
                }
            };
            let e = self.msgs.get_mut(j);
            let xfer = old_end.saturating_since(own_first.max(e.prev_end));
            let new_end = own_first.max(p_end) + xfer;
            e.prev = p_idx;
            e.prev_first = p_first;
            e.prev_end = p_end;
            // Pushed back, never forward: `new_end >= old_end`, so the later of the new end
            // and the last bit's arrival is the later of the new end and the old time.
            debug_assert!(
                new_end >= old_end,
                "a message put ahead only delays the others"
            );
            let old_at = e.at;
            let new_at = new_end.max(old_at);
            e.at = new_at;
            if new_at != old_at && e.passive() {
                // No event to move: the pending entry takes the new time.
                let pending = &mut self.nodes[to.index()].pending;
                let k = pending
                    .iter()
                    .position(|p| p.idx == j)
                    .expect("a deferred message is pending");
                pending[k].at = new_at;
            }
            (p_idx, p_first, p_end) = (j, own_first, new_end);
        }
        let r = &mut self.nodes[to.index()];
        r.down_tail = p_idx;
        r.down_free = p_end;
        self.down_scratch = after;
    }

    #[inline]
    fn account_out(&mut self, node: NodeId, cat: Category, wire: u32, framing: u32, hdr: u32) {
        let now = self.now;
        if hdr > 0 {
            let hc = self.header_category.unwrap_or(cat);
            self.accounting
                .count_bytes(now, node, hc, Direction::Out, hdr as u64);
        }
        match self.framing_category {
            Some(fc) => {
                self.accounting.count_out(now, node, cat, wire as u64);
                if framing > 0 {
                    self.accounting
                        .count_bytes(now, node, fc, Direction::Out, framing as u64);
                }
            }
            None => self
                .accounting
                .count_out(now, node, cat, wire as u64 + framing as u64),
        }
    }

    #[inline]
    fn account_in(&mut self, node: NodeId, cat: Category, wire: u32, framing: u32, hdr: u32) {
        let now = self.now;
        if hdr > 0 {
            let hc = self.header_category.unwrap_or(cat);
            self.accounting
                .count_bytes(now, node, hc, Direction::In, hdr as u64);
        }
        match self.framing_category {
            Some(fc) => {
                self.accounting.count_in(now, node, cat, wire as u64);
                if framing > 0 {
                    self.accounting
                        .count_bytes(now, node, fc, Direction::In, framing as u64);
                }
            }
            None => self
                .accounting
                .count_in(now, node, cat, wire as u64 + framing as u64),
        }
    }

    pub(crate) fn post(&mut self, to: NodeId, at: SimTime, msg: M) -> Result<(), SimError> {
        self.check_active("post");
        self.check_node("post target", to)?;
        let idx = self.msgs.insert(InFlight {
            from: to,
            to,
            conn: 0,
            bytes: 0,
            prev: NO_MSG,
            cat: Category(0),
            framing_passive: 0,
            prev_first: SimTime::ZERO,
            prev_end: SimTime::ZERO,
            at,
            msg: Some(msg),
        });
        self.schedule(at, Ev::Post { msg: idx });
        Ok(())
    }
}

impl<N: Node> Engine<N> {
    /// Counts an arriving message (its record and framing bytes, as [`InFlights::take`]
    /// returns them) and hands it to its receiver (now: its delivery time).
    #[inline]
    pub(super) fn deliver(&mut self, (m, framing): (InFlight<N::Msg>, u32)) {
        // A stream message (on a connection) carries TCP/IP headers when TCP is modelled.
        let hdr = match &self.core.tcp {
            Some(p) if m.conn != 0 => p.header_bytes(m.bytes as u64 + framing as u64) as u32,
            _ => 0,
        };
        self.core.account_in(m.to, m.cat, m.bytes, framing, hdr);
        let kind = 3 | (m.cat.0 as u64) << 8;
        self.handle(
            m.to,
            kind,
            Input::Message {
                from: m.from,
                msg: m.msg.expect("a live record"),
            },
        );
    }

    pub(super) fn undeliverable(&self, m: &InFlight<N::Msg>) -> Option<DropReason> {
        if m.conn != 0 && !self.core.conn_alive[m.conn as usize] {
            return Some(DropReason::ConnectionClosed);
        }
        let r = &self.core.nodes[m.to.index()];
        if !r.online {
            return Some(DropReason::ReceiverOffline);
        }
        None
    }
}
