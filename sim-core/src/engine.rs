//! The event loop and the network model's mechanics.

use rand::Rng;
use rand_distr::{Distribution, Exp};

use crate::NodeId;
use crate::accounting::{Accounting, Category, Direction, DropReason};
use crate::error::SimError;
use crate::network::{Degradation, Fault, Jitter, LatencyModel, LinkCapacity, NetworkConfig};
use crate::node::{CloseReason, Ctx, DialError, Hint, Input, Node, Payload, TimerId};
use crate::queue::{EventQueue, QueueKind};
use crate::rng::{self, SimRng};
use crate::time::{Rate, SimDuration, SimTime};

/// Run-wide engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The master seed every random stream is derived from.
    pub seed: u64,
    /// The event queue implementation (default [`QueueKind::Auto`]).
    pub queue: QueueKind,
    /// Number of accounting categories (from the layer's [`crate::CategoryTable`]).
    pub categories: usize,
    /// Category under which framing bytes are counted; `None` counts them with the message.
    pub framing_category: Option<Category>,
    /// Length of one accounting time-series interval (default 1 s).
    pub series_interval: SimDuration,
    /// The network model's settings.
    pub network: NetworkConfig,
    /// Whether messages whose [`Payload::passive`] is true reach their receiver late, just
    /// before its next input (default true). Results are the same either way (the engine
    /// tests check it); only the event hash and the speed differ: a deferred message costs no
    /// event-queue entry of its own. See [`Payload::passive`].
    pub defer_passive: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            seed: 1,
            queue: QueueKind::Auto,
            categories: 1,
            framing_category: None,
            series_interval: SimDuration::from_secs(1),
            network: NetworkConfig::default(),
            defer_passive: true,
        }
    }
}

/// Why a run call returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The end time was reached (events after it remain queued).
    ReachedTime,
    /// No events remain.
    QueueEmpty,
    /// The stop condition held.
    ConditionMet,
}

/// An event, as stored in the queue. Kept to 8 bytes (see [`Ev::pack`]) so that a queue entry
/// (time, seq, event) is 24 bytes: the binary heap's sift cost is dominated by moving entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    Start {
        node: u32,
    },
    Timer {
        slot: u32,
        generation: u32,
    },
    Deliver {
        msg: u32,
    },
    Post {
        msg: u32,
    },
    DialReach {
        dial: u32,
    },
    DialDone {
        dial: u32,
    },
    /// Index into the connection-down notices.
    ConnDown {
        notice: u32,
    },
    Fault {
        idx: u32,
    },
}

/// How many events ahead the engine prefetches, by stage: in-flight records and timer slots;
/// the receiver's link record, counters and node record ([`Node::prefetch`] stage 0); its
/// connection index and the node's hint stage 1; hint stages 2 and 3. Each stage reads only
/// what an earlier one fetched, one or two events (half a microsecond or more, several memory
/// latencies) before.
/// The queue keeps at least this many events visible when it can (`queue::TOP_UP`).
const PREFETCH: [usize; 5] = [7, 5, 4, 2, 1];

/// Deferred messages of a node whose list entries, records and counters the look-ahead
/// prefetches before its next input.
const PENDING_AHEAD: usize = 12;

/// Timer generations are kept to 28 bits so a timer event packs into 64 bits.
const GENERATION_MASK: u32 = (1 << 28) - 1;

/// The packed form of [`Ev`]: tag in the top 4 bits, payload below.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PackedEv(u64);

impl Ev {
    #[inline]
    fn pack(self) -> PackedEv {
        let (tag, payload) = match self {
            Ev::Start { node } => (0u64, node as u64),
            Ev::Timer { slot, generation } => (
                1,
                slot as u64 | ((generation & GENERATION_MASK) as u64) << 32,
            ),
            Ev::Deliver { msg } => (2, msg as u64),
            Ev::Post { msg } => (3, msg as u64),
            Ev::DialReach { dial } => (4, dial as u64),
            Ev::DialDone { dial } => (5, dial as u64),
            Ev::ConnDown { notice } => (6, notice as u64),
            Ev::Fault { idx } => (7, idx as u64),
        };
        PackedEv(tag << 60 | payload)
    }
}

impl PackedEv {
    #[inline]
    fn unpack(self) -> Ev {
        let low = self.0 as u32;
        match self.0 >> 60 {
            0 => Ev::Start { node: low },
            1 => Ev::Timer {
                slot: low,
                generation: (self.0 >> 32) as u32 & GENERATION_MASK,
            },
            2 => Ev::Deliver { msg: low },
            3 => Ev::Post { msg: low },
            4 => Ev::DialReach { dial: low },
            5 => Ev::DialDone { dial: low },
            6 => Ev::ConnDown { notice: low },
            7 => Ev::Fault { idx: low },
            t => unreachable!("bad event tag {t}"),
        }
    }
}

/// A connection change to tell a node about.
struct Notice {
    node: NodeId,
    peer: NodeId,
    /// `None`: the connection came up (statically wired, this side `outbound`); else it closed.
    reason: Option<CloseReason>,
    outbound: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Conn {
    peer: NodeId,
    id: u64,
    outbound: bool,
    /// Whether this side has been told the connection is up.
    announced: bool,
    /// Latest first-bit / last-bit arrival at the peer of a message sent on this connection
    /// (keeps stream messages in order under jitter).
    last_first: SimTime,
    last_last: SimTime,
}

/// A node's link and connections. Laid out by use, one cache line each: line 0 what a send
/// reads of its receiver (the downlink and its deferred messages), line 1 what it reads of
/// its sender (the connection index and the uplink: the sender is the node handling an
/// input, whose lines 0 and 1 are prefetched), line 2 the rest.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
pub(crate) struct NodeNet {
    /// The current capacity as rates (serialisation times without a division for the usual
    /// capacities).
    down_rate: Rate,
    /// When the downlink finishes the last message of its schedule (`down_tail`).
    down_free: SimTime,
    /// The first-bit arrival of `down_tail`.
    down_tail_first: SimTime,
    /// The in-flight message last in the downlink's schedule ([`NO_MSG`]: none since the
    /// node last went offline). Messages are scheduled on the downlink when sent, in
    /// first-bit arrival order; see the comment above [`Core::downlink_position`].
    down_tail: u32,
    online: bool,
    started: bool,
    degraded: bool,
    /// Whether this node is in `Core::pending_nodes`.
    pending_listed: bool,
    /// Passive messages sent to this node and not yet handed to it, in the order sent (see
    /// [`Payload::passive`]; sorted by (delivery time, seq) when handed over).
    pending: Vec<Pending>,
    // Line 1.
    /// `peer << 32 | connection id` of each of `conns`, in the same (ascending) order: a
    /// send finds its connection and id in these two or three lines without reading `conns`.
    conn_keys: Vec<u64>,
    up_rate: Rate,
    up_free: SimTime,
    cpu_free: SimTime,
    incarnation: u32,
    // Line 2.
    pub(crate) conns: Vec<Conn>,
    /// The configured capacity (degradations scale it).
    base_cap: LinkCapacity,
    extra_latency: SimDuration,
    loss: f64,
}

/// A deferred passive message: its delivery time and send sequence number (its place among
/// events), its in-flight record and its connection; its sender and category, for the
/// look-ahead's hints (32 bytes).
#[derive(Clone, Copy, Debug)]
struct Pending {
    at: SimTime,
    seq: u64,
    idx: u32,
    conn: u32,
    from: NodeId,
    cat: Category,
    /// Its connection closed before it was due: it is dropped when due.
    dropped: bool,
}

impl Pending {
    #[inline]
    fn key(&self) -> (SimTime, u64) {
        (self.at, self.seq)
    }
}

/// Prefetch access to the nodes' link records, for [`Node::prefetch`]: a node that knows
/// whom it will send to can have their records fetched before the sends read them.
pub struct Links<'a>(pub(crate) &'a [NodeNet]);

impl Links<'_> {
    /// Prefetches the link record a send to `peer` reads. A hint only.
    #[inline]
    pub fn prefetch(&self, peer: NodeId) {
        crate::prefetch::prefetch(self.0.as_ptr().wrapping_add(peer.index()));
    }
}

impl NodeNet {
    /// Prefetches where the next deferred message is written (a hint).
    #[inline]
    pub(crate) fn prefetch_pending_end(&self) {
        crate::prefetch::prefetch(self.pending.as_ptr().wrapping_add(self.pending.len()));
    }
    fn set_cap(&mut self, cap: LinkCapacity) {
        self.up_rate = Rate::new(cap.upload_bps);
        self.down_rate = Rate::new(cap.download_bps);
    }
}

/// No in-flight message (the end of a downlink schedule).
const NO_MSG: u32 = u32::MAX;

struct InFlight<M> {
    from: NodeId,
    to: NodeId,
    /// Connection id for stream messages, 0 for datagrams and posts.
    conn: u32,
    bytes: u32,
    framing: u32,
    /// The message before this one in the receiver's downlink schedule ([`NO_MSG`]: none),
    /// with that message's first-bit arrival and the time the downlink finishes it, copied
    /// here because the message itself may be delivered (and its slot reused) before this
    /// one: a schedule is only ever walked back from its tail through messages whose first
    /// bit has not arrived yet, which are all still in flight.
    prev: u32,
    cat: Category,
    prev_first: SimTime,
    prev_end: SimTime,
    last_arrival: SimTime,
    /// The sequence number of the send: deliveries due at the same instant are made in the
    /// order their messages were sent, even if one of them was rescheduled.
    seq: u64,
    /// Deferred (in the receiver's `pending` list, with no event of its own).
    passive: bool,
    /// The message; `None` in a free slot or a tombstone ([`InFlights`]).
    msg: Option<M>,
}

impl<M> InFlight<M> {
    /// A record of no message (a new slot before its first use).
    fn vacant() -> Self {
        InFlight {
            from: NodeId(0),
            to: NodeId(0),
            conn: 0,
            bytes: 0,
            framing: 0,
            prev: NO_MSG,
            cat: Category(0),
            prev_first: SimTime::ZERO,
            prev_end: SimTime::ZERO,
            last_arrival: SimTime::ZERO,
            seq: 0,
            passive: false,
            msg: None,
        }
    }
    /// This record's fields with `msg`.
    #[inline]
    fn with_msg(&self, msg: Option<M>) -> Self {
        InFlight { msg, ..*self }
    }
}

/// The in-flight records, by index. A freed slot keeps its old fields and no message, so a
/// send fills a slot field by field: built whole on the stack and then copied, the record
/// would be read back with wide loads right after being stored field by field, and such a
/// load waits until every earlier store (the send's others, to cold lines) has reached the
/// cache.
struct InFlights<M> {
    items: Vec<InFlight<M>>,
    free: Vec<u32>,
}

impl<M> InFlights<M> {
    fn new() -> Self {
        InFlights {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
    /// A free slot to fill (its fields are stale and it holds no message), and its index.
    #[inline(always)]
    fn slot(&mut self) -> (u32, &mut InFlight<M>) {
        let i = match self.free.pop() {
            Some(i) => {
                // The slot the next send fills (sends come in bursts).
                if let Some(&n) = self.free.last() {
                    crate::prefetch::prefetch_obj(self.items.as_ptr().wrapping_add(n as usize));
                }
                i
            }
            None => {
                self.items.push(InFlight::vacant());
                (self.items.len() - 1) as u32
            }
        };
        (i, &mut self.items[i as usize])
    }
    /// Stores `v` in a free slot.
    fn insert(&mut self, v: InFlight<M>) -> u32 {
        let (i, s) = self.slot();
        *s = v;
        i
    }
    /// Takes the record of slot `i` (which must hold a message) and frees the slot.
    /// (Always inlined, as is `take_or_free`: the caller reads the fields it needs; a record
    /// returned through memory would be copied with wide loads right after being stored.)
    #[inline(always)]
    fn take(&mut self, i: u32) -> InFlight<M> {
        self.take_or_free(i).expect("in-flight slot is live")
    }
    /// Empties slot `i` without freeing it: the slot stays a tombstone until
    /// [`InFlights::take_or_free`] meets it (a delivery event that was rescheduled).
    fn evict(&mut self, i: u32) -> InFlight<M> {
        let s = &mut self.items[i as usize];
        let msg = s.msg.take();
        assert!(msg.is_some(), "in-flight slot is live");
        s.with_msg(msg)
    }
    /// Takes the record of slot `i` and frees the slot; `None` for a tombstone left by
    /// [`InFlights::evict`] (which this frees).
    #[inline(always)]
    fn take_or_free(&mut self, i: u32) -> Option<InFlight<M>> {
        let s = &mut self.items[i as usize];
        let record = s.msg.take().map(|m| s.with_msg(Some(m)));
        self.free.push(i);
        record
    }
    #[inline]
    fn get(&self, i: u32) -> &InFlight<M> {
        let s = &self.items[i as usize];
        debug_assert!(s.msg.is_some(), "in-flight slot is live");
        s
    }
    #[inline]
    fn get_mut(&mut self, i: u32) -> &mut InFlight<M> {
        let s = &mut self.items[i as usize];
        debug_assert!(s.msg.is_some(), "in-flight slot is live");
        s
    }
}

struct TimerSlot<T> {
    generation: u32,
    node: NodeId,
    incarnation: u32,
    value: Option<T>,
}

struct Dial {
    from: NodeId,
    to: NodeId,
    from_incarnation: u32,
    /// When the dial was made: a timeout is counted from here.
    started: SimTime,
    conn: u64,
    result: Option<DialError>,
}

/// A vector of optional slots with a free list: stable u32 handles, reuse of freed slots.
struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    fn new() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
    #[inline]
    fn insert(&mut self, v: T) -> u32 {
        if let Some(i) = self.free.pop() {
            // A free slot holds `None`: replacing without dropping spares a read of a line
            // that is usually cold (the write does not wait for it).
            let old = self.items[i as usize].replace(v);
            debug_assert!(old.is_none(), "free slab slot is empty");
            std::mem::forget(old);
            i
        } else {
            self.items.push(Some(v));
            (self.items.len() - 1) as u32
        }
    }
    #[inline]
    fn take(&mut self, i: u32) -> T {
        let v = self.items[i as usize].take().expect("slab slot is live");
        self.free.push(i);
        v
    }
    #[inline]
    fn get(&self, i: u32) -> &T {
        self.items[i as usize].as_ref().expect("slab slot is live")
    }
    #[inline]
    fn get_mut(&mut self, i: u32) -> &mut T {
        self.items[i as usize].as_mut().expect("slab slot is live")
    }
}

/// Everything of the engine except the nodes and the observer, so that a handler can borrow
/// its node mutably while the context borrows the core.
pub(crate) struct Core<M, T> {
    pub(crate) now: SimTime,
    seed: u64,
    seq: u64,
    queue: EventQueue<PackedEv>,
    notices: Slab<Notice>,
    pub(crate) nodes: Vec<NodeNet>,
    rngs: Vec<Option<SimRng>>,
    net_rng: SimRng,
    latency: Box<dyn LatencyModel>,
    net: NetworkConfig,
    jitter_exp: Option<Exp<f64>>,
    timers: Vec<TimerSlot<T>>,
    free_timers: Vec<u32>,
    msgs: InFlights<M>,
    dials: Slab<Dial>,
    faults: Vec<Option<Fault>>,
    partitions: Vec<(u32, Vec<u32>)>,
    link_degradations: Vec<((NodeId, NodeId), Degradation)>,
    next_conn: u64,
    /// `conn_alive[id]`: whether connection `id` is open. Connection ids are never reused, so
    /// an in-flight message's connection is checked in O(1) instead of searching the
    /// receiver's connection list (both sides of a connection close at the same instant).
    conn_alive: Vec<bool>,
    /// Scratch list for [`Core::downlink_position`]'s rare walk (kept to reuse its memory).
    down_scratch: Vec<u32>,
    /// Nodes currently degraded; when none, sends skip the degradation fields of both ends.
    degraded_nodes: usize,
    /// Whether a later message on a connection can get an earlier arrival than an earlier one:
    /// only with jitter, or once a degradation (extra latency, loss and its retransmissions)
    /// has been applied. Until then a connection's arrivals are monotone by construction (its
    /// sender's upload FIFO is, and the base latency of a pair is fixed), so sends skip the
    /// per-connection clamp and its record. Once set it stays set: arrivals computed after
    /// are never earlier than those before (extra delays are non-negative), so the records
    /// skipped until then never matter.
    may_reorder: bool,
    accounting: Accounting,
    framing_category: Option<Category>,
    hash: u64,
    events: u64,
    /// The sequence number of the event being processed (with `now`, its place in the event
    /// order: deferred messages before it are due to its node first).
    cur_seq: u64,
    /// [`EngineConfig::defer_passive`].
    defer_passive: bool,
    /// Nodes whose `pending` list may be non-empty (each once: `pending_listed`).
    pending_nodes: Vec<u32>,
    /// Deferred messages in all `pending` lists.
    pending_total: usize,
    /// Set while a passive message's handler runs: it may not act (see [`Payload::passive`]).
    passive_call: bool,
}

#[inline]
fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(23) ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn check_probability(field: &'static str, p: f64) -> Result<(), SimError> {
    if p.is_finite() && (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(SimError::BadConfig {
            field,
            reason: format!("must be a probability in [0, 1], got {p}"),
        })
    }
}

impl<M: Payload, T> Core<M, T> {
    #[inline]
    fn schedule(&mut self, at: SimTime, ev: Ev) {
        debug_assert!(at >= self.now);
        self.seq += 1;
        self.queue.push(at, self.seq, ev.pack());
    }

    fn check_node(&self, what: &'static str, n: NodeId) -> Result<(), SimError> {
        if n.index() < self.nodes.len() {
            Ok(())
        } else {
            Err(SimError::UnknownNode {
                what,
                node: n,
                nodes: self.nodes.len(),
            })
        }
    }

    pub(crate) fn node_rng(&mut self, n: NodeId) -> &mut SimRng {
        let seed = self.seed;
        self.rngs[n.index()].get_or_insert_with(|| rng::stream(seed, n.0 as u64, "node"))
    }

    pub(crate) fn conn_index(&self, node: NodeId, peer: NodeId) -> Option<usize> {
        self.nodes[node.index()]
            .conn_keys
            .binary_search_by_key(&peer.0, |k| (k >> 32) as u32)
            .ok()
    }

    pub(crate) fn base_latency(&self, a: NodeId, b: NodeId) -> SimDuration {
        self.latency.latency(a, b)
    }

    fn link_degradation(&self, a: NodeId, b: NodeId) -> Option<&Degradation> {
        if self.link_degradations.is_empty() {
            return None;
        }
        let key = (a.min(b), a.max(b));
        self.link_degradations
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, d)| d)
    }

    fn reachable(&self, a: NodeId, b: NodeId) -> bool {
        self.partitions.iter().all(|(_, groups)| {
            let ga = groups.get(a.index()).copied().unwrap_or(0);
            let gb = groups.get(b.index()).copied().unwrap_or(0);
            ga == gb
        })
    }

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

    pub(crate) fn send(
        &mut self,
        from: NodeId,
        to: NodeId,
        msg: M,
        stream: bool,
        (cat, wire, framing): (Category, u32, u32),
    ) -> Result<(), SimError> {
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
                    return Ok(());
                }
            }
        } else {
            None
        };
        if !self.partitions.is_empty() && !self.reachable(from, to) {
            self.accounting.count_drop(to, DropReason::Partition);
            return Ok(());
        }
        let now = self.now;
        let size = wire as u64 + framing as u64;
        let sender = &mut self.nodes[from.index()];
        let u0 = now.max(sender.up_free);
        if u0.saturating_since(now) > self.net.max_upload_backlog {
            self.accounting.count_drop(to, DropReason::UploadQueueFull);
            return Ok(());
        }
        let u1 = u0 + sender.up_rate.transmit(size);
        sender.up_free = u1;
        self.account_out(from, cat, wire, framing);

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
                return Ok(());
            }
        }
        let mut first = u0 + lat;
        let mut last = u1 + lat;
        let mut conn_id = 0;
        if let Some(i) = conn_idx {
            let n = &mut self.nodes[from.index()];
            conn_id = n.conn_keys[i] as u32;
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
        s.framing = framing;
        s.prev = prev;
        s.cat = cat;
        s.prev_first = prev_first;
        s.prev_end = prev_end;
        s.last_arrival = last;
        s.seq = seq;
        s.passive = passive;
        // A free slot holds no message: nothing to drop, so no read of the (often cold) line.
        std::mem::forget(s.msg.replace(msg));
        let at = end.max(last);
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
        Ok(())
    }

    /// Panics when a passive message's handler tries to act (see [`Payload::passive`]): its
    /// action would happen at a time already past.
    #[inline]
    fn check_active(&self, what: &'static str) {
        assert!(
            !self.passive_call,
            "{what} from the handler of a passive message: Payload::passive must be false for \
             messages whose handler acts"
        );
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
    fn drop_pending(&mut self, node: NodeId, conn: u32) {
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
    /// transfer time is its end minus its start. One whose delivery time changes moves to a
    /// new slot with a new event; its old event finds a tombstone ([`InFlights::evict`]).
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
            let old_at = old_end.max(e.last_arrival);
            let new_at = new_end.max(e.last_arrival);
            let mut j_now = j;
            if new_at != old_at && e.passive {
                // No event to move: the pending entry takes the new time.
                let pending = &mut self.nodes[to.index()].pending;
                let k = pending
                    .iter()
                    .position(|p| p.idx == j)
                    .expect("a deferred message is pending");
                pending[k].at = new_at;
            } else if new_at != old_at {
                let v = self.msgs.evict(j);
                let seq = v.seq;
                j_now = self.msgs.insert(v);
                self.queue
                    .push(new_at, seq, Ev::Deliver { msg: j_now }.pack());
            }
            (p_idx, p_first, p_end) = (j_now, own_first, new_end);
        }
        let r = &mut self.nodes[to.index()];
        r.down_tail = p_idx;
        r.down_free = p_end;
        self.down_scratch = after;
    }

    #[inline]
    fn account_out(&mut self, node: NodeId, cat: Category, wire: u32, framing: u32) {
        let now = self.now;
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
    fn account_in(&mut self, node: NodeId, cat: Category, wire: u32, framing: u32) {
        let now = self.now;
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
            framing: 0,
            prev: NO_MSG,
            cat: Category(0),
            prev_first: SimTime::ZERO,
            prev_end: SimTime::ZERO,
            last_arrival: at,
            seq: 0,
            passive: false,
            msg: Some(msg),
        });
        self.schedule(at, Ev::Post { msg: idx });
        Ok(())
    }

    pub(crate) fn set_timer(&mut self, node: NodeId, at: SimTime, value: T) -> TimerId {
        self.check_active("set_timer");
        let incarnation = self.nodes[node.index()].incarnation;
        let slot = match self.free_timers.pop() {
            Some(s) => {
                let t = &mut self.timers[s as usize];
                t.node = node;
                t.incarnation = incarnation;
                t.value = Some(value);
                s
            }
            None => {
                self.timers.push(TimerSlot {
                    generation: 0,
                    node,
                    incarnation,
                    value: Some(value),
                });
                (self.timers.len() - 1) as u32
            }
        };
        let generation = self.timers[slot as usize].generation;
        self.schedule(at, Ev::Timer { slot, generation });
        TimerId { slot, generation }
    }

    fn free_timer(&mut self, slot: u32) {
        let t = &mut self.timers[slot as usize];
        t.value = None;
        t.generation = t.generation.wrapping_add(1);
        self.free_timers.push(slot);
    }

    pub(crate) fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.check_active("cancel_timer");
        match self.timers.get(id.slot as usize) {
            Some(t) if t.generation == id.generation && t.value.is_some() => {
                self.free_timer(id.slot);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn reserve_cpu(&mut self, node: NodeId, cost: SimDuration) -> SimTime {
        self.check_active("compute");
        let n = &mut self.nodes[node.index()];
        let done = self.now.max(n.cpu_free) + cost;
        n.cpu_free = done;
        done
    }

    pub(crate) fn dial(&mut self, from: NodeId, to: NodeId) -> Result<(), SimError> {
        self.check_active("dial");
        self.check_node("dial target", to)?;
        if from == to {
            return Err(SimError::SelfTarget {
                node: from,
                what: "dial",
            });
        }
        let one_way = self.latency.latency(from, to);
        let from_incarnation = self.nodes[from.index()].incarnation;
        let already = self.conn_index(from, to).is_some();
        let dial = self.dials.insert(Dial {
            from,
            to,
            from_incarnation,
            started: self.now,
            conn: 0,
            result: already.then_some(DialError::AlreadyConnected),
        });
        if already {
            self.schedule(self.now, Ev::DialDone { dial });
            return Ok(());
        }
        let rtts = self.net.dial_round_trips.max(1) as u64;
        let handshake = one_way.saturating_mul(2 * rtts);
        let reach = self.now + handshake.saturating_sub(one_way);
        self.schedule(reach, Ev::DialReach { dial });
        Ok(())
    }

    fn insert_conn(&mut self, node: NodeId, conn: Conn) {
        let n = &mut self.nodes[node.index()];
        let pos = n
            .conn_keys
            .binary_search_by_key(&conn.peer.0, |k| (k >> 32) as u32)
            .expect_err("no duplicate connection to one peer");
        let id = u32::try_from(conn.id).expect("fewer than 2^32 connections in a run");
        n.conn_keys
            .insert(pos, (conn.peer.0 as u64) << 32 | id as u64);
        n.conns.insert(pos, conn);
    }

    fn remove_conn(&mut self, node: NodeId, peer: NodeId) -> Option<Conn> {
        let i = self.conn_index(node, peer)?;
        let n = &mut self.nodes[node.index()];
        n.conn_keys.remove(i);
        let c = n.conns.remove(i);
        self.conn_alive[c.id as usize] = false;
        if !n.pending.is_empty() {
            self.drop_pending(node, c.id as u32);
        }
        Some(c)
    }

    /// A fresh connection id, marked open.
    fn new_conn_id(&mut self) -> u64 {
        let id = self.next_conn;
        self.next_conn += 1;
        debug_assert_eq!(self.conn_alive.len() as u64, id);
        self.conn_alive.push(true);
        id
    }

    /// Closes the connection between `node` and `peer`; `reason` is as seen by `node`.
    pub(crate) fn close(&mut self, node: NodeId, peer: NodeId, reason: CloseReason) -> bool {
        self.check_active("disconnect");
        let Some(mine) = self.remove_conn(node, peer) else {
            return false;
        };
        let theirs = self.remove_conn(peer, node);
        let their_reason = match reason {
            CloseReason::Local => CloseReason::Remote,
            r => r,
        };
        if mine.announced {
            self.notify_down(node, peer, reason);
        }
        if theirs.is_some_and(|c| c.announced) {
            self.notify_down(peer, node, their_reason);
        }
        true
    }

    fn notify_down(&mut self, node: NodeId, peer: NodeId, reason: CloseReason) {
        let notice = self.notices.insert(Notice {
            node,
            peer,
            reason: Some(reason),
            outbound: false,
        });
        self.schedule(self.now, Ev::ConnDown { notice });
    }

    fn take_offline(&mut self, node: NodeId) {
        let n = &mut self.nodes[node.index()];
        if !n.online {
            return;
        }
        n.online = false;
        n.incarnation = n.incarnation.wrapping_add(1);
        let peers: Vec<NodeId> = n.conns.iter().map(|c| c.peer).collect();
        for p in peers {
            // The offline node is not told; its peers see the peer go away.
            let _ = self.remove_conn(node, p);
            if let Some(c) = self.remove_conn(p, node)
                && c.announced
            {
                self.notify_down(p, node, CloseReason::PeerOffline);
            }
        }
        let n = &mut self.nodes[node.index()];
        n.up_free = self.now;
        // Messages still in its downlink schedule are dropped when they are due (their
        // connections are closed); whatever comes after starts a new schedule.
        n.down_free = self.now;
        n.down_tail = NO_MSG;
        n.down_tail_first = SimTime::ZERO;
        n.cpu_free = self.now;
    }
}

/// The simulation engine: nodes of one type `N`, the network between them, and the clock.
pub struct Engine<N: Node> {
    nodes: Vec<N>,
    core: Core<N::Msg, N::Timer>,
    observer: N::Observer,
}

impl<N: Node> Engine<N> {
    /// An engine over `nodes`, with one link capacity per node and the given latency model.
    /// Every node is scheduled to start at time zero (see [`Engine::start_offline`]).
    pub fn new(
        config: EngineConfig,
        latency: Box<dyn LatencyModel>,
        capacities: Vec<LinkCapacity>,
        nodes: Vec<N>,
        observer: N::Observer,
    ) -> Result<Self, SimError> {
        if capacities.len() != nodes.len() {
            return Err(SimError::CapacityCount {
                nodes: nodes.len(),
                capacities: capacities.len(),
            });
        }
        if nodes.len() > u32::MAX as usize {
            return Err(SimError::BadConfig {
                field: "nodes",
                reason: format!("at most {} nodes, got {}", u32::MAX, nodes.len()),
            });
        }
        for (i, c) in capacities.iter().enumerate() {
            for (field, value) in [
                ("upload_bps", c.upload_bps),
                ("download_bps", c.download_bps),
            ] {
                if value == 0 {
                    return Err(SimError::BadCapacity {
                        field,
                        node: NodeId(i as u32),
                        value,
                    });
                }
            }
        }
        if config.series_interval == SimDuration::ZERO {
            return Err(SimError::BadConfig {
                field: "series_interval",
                reason: "must be positive".into(),
            });
        }
        if config.categories == 0 || config.categories > u16::MAX as usize {
            return Err(SimError::BadConfig {
                field: "categories",
                reason: format!("must be in 1..=65535, got {}", config.categories),
            });
        }
        if let Some(fc) = config.framing_category
            && fc.0 as usize >= config.categories
        {
            return Err(SimError::BadConfig {
                field: "framing_category",
                reason: format!(
                    "category {} is not below categories = {}",
                    fc.0, config.categories
                ),
            });
        }
        check_probability("network.datagram_loss", config.network.datagram_loss)?;
        let may_reorder = !matches!(config.network.jitter, Jitter::None);
        let jitter_exp = match config.network.jitter {
            Jitter::None => None,
            Jitter::Uniform { max_ms } => {
                if !(max_ms.is_finite() && max_ms >= 0.0) {
                    return Err(SimError::BadConfig {
                        field: "network.jitter.max_ms",
                        reason: format!("must be a finite number >= 0, got {max_ms}"),
                    });
                }
                None
            }
            Jitter::Exponential { mean_ms } => {
                if !(mean_ms.is_finite() && mean_ms > 0.0) {
                    return Err(SimError::BadConfig {
                        field: "network.jitter.mean_ms",
                        reason: format!("must be a finite number > 0, got {mean_ms}"),
                    });
                }
                Some(Exp::new(1.0 / mean_ms).expect("positive rate"))
            }
        };
        let n = nodes.len();
        let net_nodes = capacities
            .into_iter()
            .map(|cap| NodeNet {
                base_cap: cap,
                up_rate: Rate::new(cap.upload_bps),
                down_rate: Rate::new(cap.download_bps),
                up_free: SimTime::ZERO,
                down_free: SimTime::ZERO,
                down_tail: NO_MSG,
                down_tail_first: SimTime::ZERO,
                cpu_free: SimTime::ZERO,
                online: true,
                started: false,
                incarnation: 0,
                extra_latency: SimDuration::ZERO,
                loss: 0.0,
                degraded: false,
                conns: Vec::new(),
                conn_keys: Vec::new(),
                pending: Vec::new(),
                pending_listed: false,
            })
            .collect();
        let mut core = Core {
            now: SimTime::ZERO,
            seed: config.seed,
            seq: 0,
            queue: EventQueue::new(config.queue.resolve(n)),
            nodes: net_nodes,
            rngs: (0..n).map(|_| None).collect(),
            net_rng: rng::stream(config.seed, rng::GLOBAL_SCOPE, "network"),
            latency,
            net: config.network,
            jitter_exp,
            timers: Vec::new(),
            free_timers: Vec::new(),
            msgs: InFlights::new(),
            notices: Slab::new(),
            dials: Slab::new(),
            faults: Vec::new(),
            partitions: Vec::new(),
            link_degradations: Vec::new(),
            next_conn: 1,
            conn_alive: vec![false],
            down_scratch: Vec::new(),
            degraded_nodes: 0,
            may_reorder,
            accounting: Accounting::new(n, config.categories, config.series_interval),
            framing_category: config.framing_category,
            hash: 0xCBF2_9CE4_8422_2325,
            events: 0,
            cur_seq: 0,
            defer_passive: config.defer_passive,
            pending_nodes: Vec::new(),
            pending_total: 0,
            passive_call: false,
        };
        for i in 0..n {
            core.schedule(SimTime::ZERO, Ev::Start { node: i as u32 });
        }
        Ok(Engine {
            nodes,
            core,
            observer,
        })
    }

    /// Marks `node` offline from the start: it does not start at time zero and starts when a
    /// [`Fault::NodeOnline`] brings it up. Call before running.
    pub fn start_offline(&mut self, node: NodeId) -> Result<(), SimError> {
        self.core.check_node("start_offline", node)?;
        let n = &mut self.core.nodes[node.index()];
        n.online = false;
        n.incarnation = n.incarnation.wrapping_add(1);
        Ok(())
    }

    /// Schedules a fault (or lifecycle change) at `at` (not before now).
    pub fn schedule_fault(&mut self, at: SimTime, fault: Fault) -> Result<(), SimError> {
        self.validate_fault(&fault)?;
        let idx = self.core.faults.len() as u32;
        self.core.faults.push(Some(fault));
        let at = at.max(self.core.now);
        self.core.schedule(at, Ev::Fault { idx });
        Ok(())
    }

    fn validate_fault(&self, f: &Fault) -> Result<(), SimError> {
        let check_deg = |d: &Degradation| -> Result<(), SimError> {
            check_probability("degradation.loss", d.loss)?;
            if !(d.bandwidth_factor.is_finite()
                && d.bandwidth_factor > 0.0
                && d.bandwidth_factor <= 1.0)
            {
                return Err(SimError::BadConfig {
                    field: "degradation.bandwidth_factor",
                    reason: format!("must be in (0, 1], got {}", d.bandwidth_factor),
                });
            }
            Ok(())
        };
        match f {
            Fault::NodeOffline(n) | Fault::NodeOnline(n) | Fault::RestoreNode(n) => {
                self.core.check_node("fault", *n)
            }
            Fault::DegradeNode(n, d) => {
                self.core.check_node("fault", *n)?;
                check_deg(d)
            }
            Fault::DegradeLink(a, b, d) => {
                self.core.check_node("fault", *a)?;
                self.core.check_node("fault", *b)?;
                check_deg(d)
            }
            Fault::RestoreLink(a, b) => {
                self.core.check_node("fault", *a)?;
                self.core.check_node("fault", *b)
            }
            Fault::PartitionStart { .. } | Fault::PartitionEnd { .. } => Ok(()),
        }
    }

    /// Sets a timer on `node` from outside (for harnesses: workload, measurements).
    pub fn set_timer(
        &mut self,
        node: NodeId,
        at: SimTime,
        value: N::Timer,
    ) -> Result<TimerId, SimError> {
        self.core.check_node("set_timer", node)?;
        let at = at.max(self.core.now);
        Ok(self.core.set_timer(node, at, value))
    }

    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.core.now
    }
    /// The nodes, by id.
    pub fn nodes(&self) -> &[N] {
        &self.nodes
    }
    /// One node.
    pub fn node(&self, id: NodeId) -> &N {
        &self.nodes[id.index()]
    }
    /// One node, mutably (for harnesses between run calls).
    pub fn node_mut(&mut self, id: NodeId) -> &mut N {
        &mut self.nodes[id.index()]
    }
    /// The measurement sink.
    pub fn observer(&self) -> &N::Observer {
        &self.observer
    }
    /// The measurement sink, mutably.
    pub fn observer_mut(&mut self) -> &mut N::Observer {
        &mut self.observer
    }
    /// Byte and message counters.
    pub fn accounting(&self) -> &Accounting {
        &self.core.accounting
    }
    /// Whether `node` is online now.
    pub fn is_online(&self, node: NodeId) -> bool {
        self.core.nodes[node.index()].online
    }
    /// The peers `node` has open connections to, ascending.
    pub fn connections(&self, node: NodeId) -> impl Iterator<Item = (NodeId, bool)> + '_ {
        self.core.nodes[node.index()]
            .conns
            .iter()
            .map(|c| (c.peer, c.outbound))
    }
    /// Handler calls so far.
    pub fn events_processed(&self) -> u64 {
        self.core.events
    }
    /// Events waiting in the queue (including cancelled timers not yet popped) and deferred
    /// passive messages not yet handed to their nodes.
    pub fn pending_events(&self) -> usize {
        self.core.queue.len() + self.core.pending_total
    }
    /// The running hash of (time, node, event kind) over every handler call so far.
    pub fn event_hash(&self) -> u64 {
        self.core.hash
    }

    /// Opens a connection between `a` and `b` at once, without a dial (for statically wired
    /// overlays built before the run). Both sides get [`Input::ConnectionUp`] as events at the
    /// current time (after any start events already queued); `a` is the outbound side.
    pub fn connect_now(&mut self, a: NodeId, b: NodeId) -> Result<(), SimError> {
        self.core.check_node("connect_now", a)?;
        self.core.check_node("connect_now", b)?;
        if a == b {
            return Err(SimError::SelfTarget {
                node: a,
                what: "connect to",
            });
        }
        if self.core.conn_index(a, b).is_some() {
            return Ok(());
        }
        let id = self.core.new_conn_id();
        let conn = |peer, outbound| Conn {
            peer,
            id,
            outbound,
            announced: true,
            last_first: SimTime::ZERO,
            last_last: SimTime::ZERO,
        };
        self.core.insert_conn(a, conn(b, true));
        self.core.insert_conn(b, conn(a, false));
        for (node, peer, outbound) in [(a, b, true), (b, a, false)] {
            let notice = self.core.notices.insert(Notice {
                node,
                peer,
                reason: None,
                outbound,
            });
            let now = self.core.now;
            self.core.schedule(now, Ev::ConnDown { notice });
        }
        Ok(())
    }

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
                self.core.msgs.get_mut(p.idx).passive = false;
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
    fn catch_up(&mut self, node: NodeId) {
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
            debug_assert!(m.passive && m.to == node);
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

    /// Counts an arriving message and hands it to its receiver (now: its delivery time).
    #[inline]
    fn deliver(&mut self, m: InFlight<N::Msg>) {
        self.core.account_in(m.to, m.cat, m.bytes, m.framing);
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

    /// Calls `node`'s handler, after handing it the deferred messages due before.
    #[inline]
    fn call(&mut self, node: NodeId, kind: u64, input: Input<N::Msg, N::Timer>) {
        self.catch_up(node);
        self.handle(node, kind, input);
    }

    #[inline]
    fn handle(&mut self, node: NodeId, kind: u64, input: Input<N::Msg, N::Timer>) {
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
                let Some(m) = self.core.msgs.take_or_free(msg) else {
                    return; // rescheduled (see `Core::downlink_push_back`)
                };
                if let Some(reason) = self.undeliverable(&m) {
                    self.core.accounting.count_drop(m.to, reason);
                    return;
                }
                self.catch_up(m.to);
                self.deliver(m);
            }
            Ev::Post { msg } => {
                let m = self.core.msgs.take(msg);
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
                && m.bytes + m.framing > 0
            {
                core.accounting.prefetch(to, m.cat);
                if let Some(fc) = core.framing_category {
                    core.accounting.prefetch(to, fc);
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
                        n.prefetch(k as u8, hint, &Links(&core.nodes));
                    }
                }
            }
            if let Some(n) = self.nodes.get(to.index()) {
                n.prefetch(k as u8, hint, &Links(&core.nodes));
            }
        }
    }

    fn undeliverable(&self, m: &InFlight<N::Msg>) -> Option<DropReason> {
        if m.conn != 0 && !self.core.conn_alive[m.conn as usize] {
            return Some(DropReason::ConnectionClosed);
        }
        let r = &self.core.nodes[m.to.index()];
        if !r.online {
            return Some(DropReason::ReceiverOffline);
        }
        None
    }

    fn dial_reach(&mut self, idx: u32) {
        let d = self.core.dials.get(idx);
        let (from, to) = (d.from, d.to);
        let one_way = self.core.latency.latency(to, from);
        let dialer = &self.core.nodes[from.index()];
        let dialer_gone = !dialer.online || dialer.incarnation != d.from_incarnation;
        if dialer_gone {
            self.core.dials.take(idx);
            return;
        }
        let target_online = self.core.nodes[to.index()].online;
        if !target_online || !self.core.reachable(from, to) {
            self.core.dials.get_mut(idx).result = Some(DialError::Timeout);
            // The dialer waits out its timeout, counted from when it dialled.
            let started = self.core.dials.get(idx).started;
            let at = (started + self.core.net.dial_timeout).max(self.core.now);
            self.core.schedule(at, Ev::DialDone { dial: idx });
            return;
        }
        if self.core.conn_index(to, from).is_some() {
            self.core.dials.get_mut(idx).result = Some(DialError::AlreadyConnected);
            self.core
                .schedule(self.core.now + one_way, Ev::DialDone { dial: idx });
            return;
        }
        self.catch_up(to);
        let accepted = {
            let core = &mut self.core;
            core.events += 1;
            core.hash = mix(mix(mix(core.hash, core.now.as_nanos()), to.0 as u64), 5);
            let mut ctx = Ctx {
                core,
                node: to,
                observer: &mut self.observer,
            };
            self.nodes[to.index()].accept_inbound(from, &mut ctx)
        };
        // The handler may have closed or opened connections; re-check.
        if !accepted
            || self.core.conn_index(to, from).is_some()
            || !self.core.nodes[to.index()].online
        {
            self.core.dials.get_mut(idx).result = Some(if accepted {
                DialError::AlreadyConnected
            } else {
                DialError::Refused
            });
            self.core
                .schedule(self.core.now + one_way, Ev::DialDone { dial: idx });
            return;
        }
        let id = self.core.new_conn_id();
        self.core.dials.get_mut(idx).conn = id;
        let conn = |peer, outbound, announced| Conn {
            peer,
            id,
            outbound,
            announced,
            last_first: SimTime::ZERO,
            last_last: SimTime::ZERO,
        };
        self.core.insert_conn(from, conn(to, true, false));
        self.core.insert_conn(to, conn(from, false, true));
        self.core
            .schedule(self.core.now + one_way, Ev::DialDone { dial: idx });
        self.call(
            to,
            6,
            Input::ConnectionUp {
                peer: from,
                outbound: false,
            },
        );
    }

    fn dial_done(&mut self, idx: u32) {
        let d = self.core.dials.take(idx);
        let dialer = &self.core.nodes[d.from.index()];
        if !dialer.online || dialer.incarnation != d.from_incarnation {
            return;
        }
        if let Some(reason) = d.result {
            self.call(d.from, 8, Input::DialFailed { peer: d.to, reason });
            return;
        }
        match self.core.conn_index(d.from, d.to) {
            Some(i) if self.core.nodes[d.from.index()].conns[i].id == d.conn => {
                self.core.nodes[d.from.index()].conns[i].announced = true;
                self.call(
                    d.from,
                    6,
                    Input::ConnectionUp {
                        peer: d.to,
                        outbound: true,
                    },
                );
            }
            _ => self.call(
                d.from,
                8,
                Input::DialFailed {
                    peer: d.to,
                    reason: DialError::ClosedDuringHandshake,
                },
            ),
        }
    }

    fn apply_fault(&mut self, f: Fault) {
        match f {
            Fault::NodeOffline(n) => {
                // What was due before reaches it; its connections closing drops the rest.
                self.catch_up(n);
                self.core.take_offline(n);
            }
            Fault::NodeOnline(n) => {
                let node = &mut self.core.nodes[n.index()];
                if !node.online {
                    node.online = true;
                    self.core.schedule(self.core.now, Ev::Start { node: n.0 });
                }
            }
            Fault::PartitionStart { id, groups } => {
                self.core.partitions.retain(|(pid, _)| *pid != id);
                self.core.partitions.push((id, groups));
                if self.core.net.partition_closes_connections {
                    let mut cut = Vec::new();
                    for (i, n) in self.core.nodes.iter().enumerate() {
                        for c in &n.conns {
                            if (i as u32) < c.peer.0
                                && !self.core.reachable(NodeId(i as u32), c.peer)
                            {
                                cut.push((NodeId(i as u32), c.peer));
                            }
                        }
                    }
                    for (a, b) in cut {
                        self.core.close(a, b, CloseReason::Partition);
                    }
                }
            }
            Fault::PartitionEnd { id } => self.core.partitions.retain(|(pid, _)| *pid != id),
            Fault::DegradeNode(n, d) => {
                self.core.may_reorder = true;
                let node = &mut self.core.nodes[n.index()];
                if !node.degraded {
                    node.degraded = true;
                    self.core.degraded_nodes += 1;
                }
                node.extra_latency = d.extra_latency;
                node.loss = d.loss;
                let scale = |bps: u64| ((bps as f64 * d.bandwidth_factor) as u64).max(1);
                node.set_cap(LinkCapacity {
                    upload_bps: scale(node.base_cap.upload_bps),
                    download_bps: scale(node.base_cap.download_bps),
                });
            }
            Fault::RestoreNode(n) => {
                let node = &mut self.core.nodes[n.index()];
                if node.degraded {
                    node.degraded = false;
                    self.core.degraded_nodes -= 1;
                }
                node.extra_latency = SimDuration::ZERO;
                node.loss = 0.0;
                node.set_cap(node.base_cap);
            }
            Fault::DegradeLink(a, b, d) => {
                self.core.may_reorder = true;
                let key = (a.min(b), a.max(b));
                self.core.link_degradations.retain(|(k, _)| *k != key);
                self.core.link_degradations.push((key, d));
            }
            Fault::RestoreLink(a, b) => {
                let key = (a.min(b), a.max(b));
                self.core.link_degradations.retain(|(k, _)| *k != key);
            }
        }
    }
}
