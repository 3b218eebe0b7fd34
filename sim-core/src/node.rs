//! The sans-IO node interface: what a node receives ([`Input`]) and what it can do
//! ([`Ctx`]).

use crate::NodeId;
use crate::accounting::{Category, DropReason};
use crate::engine::{Core, Links};
use crate::error::SimError;
use crate::rng::SimRng;
use crate::time::{Rate, SimDuration, SimTime};

/// What every message type must tell the engine: its accounting category and its size.
pub trait Payload {
    /// The (protocol, kind) bucket the message is counted under.
    fn category(&self) -> Category;
    /// Bytes of the message itself on the wire (its encoding, length prefixes included).
    fn wire_bytes(&self) -> u32;
    /// Transport overhead (for example yamux headers and noise tags) in bytes. Counted under
    /// the engine's framing category when one is configured, else under [`Self::category`].
    /// Both parts take time on the links. Default 0.
    fn framing_bytes(&self) -> u32 {
        0
    }
    /// Whether the receiver's handler for this message only updates the receiver's own state:
    /// it sends nothing, sets or cancels no timer, computes, dials and disconnects nothing
    /// (the engine panics if it tries), and whatever it reports to the observer does not
    /// depend on the order of other nodes' reports. Default false.
    ///
    /// The engine may then hand the message over late ([`crate::EngineConfig::defer_passive`]):
    /// just before the receiver's next input, or when a `run_*` call returns, with
    /// [`Ctx::now`] its delivery time and in the order events would have had. Nothing reads
    /// a node's state but its own handler, so the results are those of a delivery on time;
    /// the message costs no event-queue entry, and no look-ahead or dispatch of its own. Only
    /// messages sent over a connection ([`Ctx::send`]) are deferred. Between `run_*` calls
    /// (after [`crate::Engine::step`], say) a node's state may not show the passive messages
    /// due since its last input.
    #[inline]
    fn passive(&self) -> bool {
        false
    }
    /// (category, wire bytes, framing bytes) at once: the engine asks for all three on every
    /// send, and an implementation can compute the encoding once. Must agree with the three
    /// methods above.
    #[inline]
    fn sizes(&self) -> (Category, u32, u32) {
        (self.category(), self.wire_bytes(), self.framing_bytes())
    }
}

/// Why a connection closed, as told to each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CloseReason {
    /// This node closed it.
    Local,
    /// The peer closed it.
    Remote,
    /// The peer went offline.
    PeerOffline,
    /// A partition separated the two nodes.
    Partition,
}

/// Why a dial failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DialError {
    /// The peer refused the connection (its limits).
    Refused,
    /// The peer did not answer within the dial timeout (offline or unreachable).
    Timeout,
    /// The two nodes already have a connection.
    AlreadyConnected,
    /// The connection was closed before the dialer saw it open.
    ClosedDuringHandshake,
}

/// What became of a message handed to the engine ([`Ctx::send`], [`Ctx::send_sized`],
/// [`Ctx::send_datagram`]), as far as the sender's upload link is concerned.
///
/// A node's upload link is a FIFO: a message starts leaving when the messages sent before it
/// have left, and takes `(wire + framing bytes) x 8 / upload rate` to leave. The engine
/// reserves that time when the message is sent, so it knows at once when its last byte
/// leaves the sender; a node that models, say, a socket send buffer or writes that complete
/// when their bytes are out can use [`Sent::Queued::leaves_at`] instead of mirroring the FIFO.
/// See the crate docs, "Upload link and `Sent`".
///
/// - `leaves_at` is fixed when the message is sent: a later change of the upload rate (a
///   [`crate::Fault::DegradeNode`] or [`crate::Fault::RestoreNode`]) only affects messages
///   sent after it ([`Ctx::upload_rate`] gives the current rate).
/// - It says nothing of delivery: the message still takes its latency, the receiver's
///   downlink, and may be lost (datagrams), dropped when its connection closes, or find its
///   receiver offline.
/// - **Restarts.** When a node goes offline ([`crate::Fault::NodeOffline`]) the engine empties
///   its upload FIFO: whatever had not left by then never leaves (its connections close, so
///   stream messages still in flight are dropped as [`DropReason::ConnectionClosed`];
///   datagrams already handed to the network are still delivered). When the node comes back
///   ([`Input::Start`] with `restart: true`) its uplink is idle: the first send gets
///   `leaves_at = now + transfer time`. A `leaves_at` obtained before going offline is void;
///   forget it on restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Reserved on the sender's upload FIFO: its last byte leaves the sender at `leaves_at`
    /// (not before now; `leaves_at - now` is the upload backlog, this message included).
    /// A datagram lost in the network after leaving the uplink is still `Queued`.
    Queued {
        /// When the message's last byte leaves the sender.
        leaves_at: SimTime,
    },
    /// Not put on the uplink (which is left as it was): no connection
    /// ([`DropReason::NoConnection`], stream sends only), a partition
    /// ([`DropReason::Partition`]), or the upload backlog bound
    /// ([`DropReason::UploadQueueFull`], see [`crate::NetworkConfig::max_upload_backlog`]).
    /// Counted as a drop against the receiver with this reason.
    Dropped(DropReason),
}

/// An input to a node's handler.
#[derive(Debug)]
pub enum Input<M, T> {
    /// The node starts: at time zero, or when it comes back online (`restart` = true when it
    /// has run before). Its connections are gone and its old timers will not fire.
    Start {
        /// Whether the node ran before.
        restart: bool,
    },
    /// A message arrived (over a connection, as a datagram, or posted).
    Message {
        /// The sender.
        from: NodeId,
        /// The message.
        msg: M,
    },
    /// A timer set by this node fired (or a compute job finished).
    Timer(T),
    /// A connection opened; `outbound` when this node dialled.
    ConnectionUp {
        /// The other side.
        peer: NodeId,
        /// Whether this node dialled.
        outbound: bool,
    },
    /// A connection closed. Both sides are told at the same instant (no half-open state).
    ConnectionDown {
        /// The other side.
        peer: NodeId,
        /// Why.
        reason: CloseReason,
    },
    /// A dial this node made failed.
    DialFailed {
        /// The peer dialled.
        peer: NodeId,
        /// Why.
        reason: DialError,
    },
}

/// A handle to a timer, for cancelling it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

impl TimerId {
    /// A handle that names no engine timer, for context stand-ins in protocol unit tests
    /// (handing it to the engine cancels nothing).
    pub fn detached(n: u32) -> TimerId {
        TimerId {
            slot: u32::MAX,
            generation: n,
        }
    }
}

/// What an input to come is, for [`Node::prefetch`].
#[derive(Debug)]
pub enum Hint<'a, M, T> {
    /// A message from `from`.
    Message {
        /// The sender.
        from: NodeId,
        /// The message.
        msg: &'a M,
    },
    /// A timer with this value.
    Timer(&'a T),
    /// A deferred passive message ([`Payload::passive`]) from `from` under `category`, which
    /// the node will be handed before that input. Given at stage 2 only.
    Deferred {
        /// The sender.
        from: NodeId,
        /// Its [`Payload::category`].
        category: Category,
    },
}

/// A simulated node: a sans-IO state machine driven by the engine.
///
/// The engine calls [`Node::handle`] for every input and [`Node::accept_inbound`] when a peer
/// dials. A handler must not keep references across calls; everything it does goes through the
/// [`Ctx`].
pub trait Node: Sized {
    /// The messages nodes exchange.
    type Msg: Payload;
    /// The values timers carry back to the node.
    type Timer;
    /// Run-wide measurement sink nodes write to (for example first-receipt times). Nodes must
    /// not read from it anything that changes their behaviour.
    type Observer;

    /// Whether the handler draws from its engine stream ([`Ctx::rng`]) on almost every input
    /// (default false). The engine then prefetches the stream (a ChaCha8 generator with its
    /// block buffer, 336 bytes) with the input's other lines, as it does the node record: a
    /// stream per node is a random access into 336 bytes times the node count. A hint only: no
    /// effect on results. Protocol nodes that keep their own streams prefetch them themselves
    /// ([`Node::prefetch`]).
    const PREFETCH_RNG: bool = false;

    /// Handles one input.
    fn handle(&mut self, input: Input<Self::Msg, Self::Timer>, ctx: &mut Ctx<'_, Self>);

    /// A hint that an input for this node comes a few events from now, in stages 0 to 3
    /// (stage k one or two events after stage k - 1, the last one event before the input). A node
    /// may prefetch ([`crate::prefetch`]) the memory the input will touch: stage 0 only its
    /// own record (read nothing: it is not in cache yet), later stages reading only what an
    /// earlier stage prefetched. `input` is the message (and sender) or timer to come.
    /// `links` prefetches the link records of nodes it will send to. It must not change
    /// state or results. The default prefetches the node record (its first 16 lines) at
    /// stage 0.
    #[inline]
    fn prefetch(&self, stage: u8, input: Hint<'_, Self::Msg, Self::Timer>, links: &Links<'_>) {
        let _ = (input, links);
        if stage == 0 {
            crate::prefetch::prefetch_all(self);
        }
    }

    /// Decides whether to accept a connection dialled by `peer`; the default accepts all.
    fn accept_inbound(&mut self, peer: NodeId, ctx: &mut Ctx<'_, Self>) -> bool {
        let _ = (peer, ctx);
        true
    }
}

/// What a handler can see and do: time, its random stream, sending, timers, connections.
pub struct Ctx<'a, N: Node> {
    pub(crate) core: &'a mut Core<N::Msg, N::Timer>,
    pub(crate) node: NodeId,
    pub(crate) observer: &'a mut N::Observer,
}

impl<N: Node> Ctx<'_, N> {
    /// The current virtual time.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.core.now
    }
    /// This node's id.
    #[inline]
    pub fn id(&self) -> NodeId {
        self.node
    }
    /// Number of nodes in the run.
    pub fn node_count(&self) -> usize {
        self.core.nodes.len()
    }
    /// This node's default random stream: (master seed, node id, `"node"`). Protocols that
    /// want streams of their own derive them with [`crate::rng::stream`] at construction.
    #[inline]
    pub fn rng(&mut self) -> &mut SimRng {
        self.core.node_rng(self.node)
    }
    /// The run's measurement sink.
    #[inline]
    pub fn observer(&mut self) -> &mut N::Observer {
        self.observer
    }

    /// Sends `msg` to `to` over their connection (reliable, ordered). Without an open
    /// connection the message is dropped and counted as [`crate::DropReason::NoConnection`].
    /// Returns when its last byte leaves this node's uplink ([`Sent::Queued`]) or why it was
    /// not put on it ([`Sent::Dropped`]). Errors only for a node id that does not exist or for
    /// sending to itself.
    #[inline]
    pub fn send(&mut self, to: NodeId, msg: N::Msg) -> Result<Sent, SimError> {
        let sizes = msg.sizes();
        self.core.send(self.node, to, msg, true, sizes)
    }
    /// [`Ctx::send`] for a sender that already knows `msg.sizes()` (category, wire and
    /// framing bytes) and passes them, sparing their recomputation. They must be exactly
    /// `msg.sizes()` (checked in debug builds).
    #[inline]
    pub fn send_sized(
        &mut self,
        to: NodeId,
        msg: N::Msg,
        sizes: (Category, u32, u32),
    ) -> Result<Sent, SimError> {
        debug_assert_eq!(sizes, msg.sizes(), "send_sized with wrong sizes");
        self.core.send(self.node, to, msg, true, sizes)
    }
    /// Writes `msg`'s bytes to `to` over their connection as part of the connection's
    /// set-up (for example libp2p identify, exchanged right after the handshake that
    /// [`crate::NetworkConfig::dial_round_trips`] already times): they take this node's
    /// uplink like any write (with TCP/IP headers when TCP is modelled) and are counted out
    /// of this node and into `to` now, under `msg`'s category, but nothing is delivered: the
    /// receiver's handler never sees `msg`, its downlink is not occupied, and the write holds
    /// no event. Without an open connection nothing is sent
    /// ([`crate::DropReason::NoConnection`]). Returns as [`Ctx::send`] does.
    pub fn send_setup(&mut self, to: NodeId, msg: N::Msg) -> Result<Sent, SimError> {
        let sizes = msg.sizes();
        self.core.send_setup(self.node, to, sizes)
    }
    /// Sends `msg` to `to` as a datagram: no connection needed, may be lost, not ordered.
    /// Returns as [`Ctx::send`] does; a datagram lost in the network has left the uplink and
    /// is [`Sent::Queued`].
    pub fn send_datagram(&mut self, to: NodeId, msg: N::Msg) -> Result<Sent, SimError> {
        let sizes = msg.sizes();
        self.core.send(self.node, to, msg, false, sizes)
    }
    /// Delivers `msg` to `to` after `delay`, outside the network model: no bandwidth, no
    /// accounting, no loss. For harnesses and benchmarks, never for protocol traffic.
    pub fn post(&mut self, to: NodeId, delay: SimDuration, msg: N::Msg) -> Result<(), SimError> {
        self.core.post(to, self.core.now + delay, msg)
    }
    /// Sets a timer that fires after `delay` with `value`.
    #[inline]
    pub fn set_timer(&mut self, delay: SimDuration, value: N::Timer) -> TimerId {
        let at = self.core.now + delay;
        self.core.set_timer(self.node, at, value)
    }
    /// Sets a timer that fires at `at` (not before now).
    pub fn set_timer_at(&mut self, at: SimTime, value: N::Timer) -> TimerId {
        let at = at.max(self.core.now);
        self.core.set_timer(self.node, at, value)
    }
    /// Cancels a timer; returns false when it already fired or was cancelled. A cancelled
    /// timer never reaches the handler.
    #[inline]
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.core.cancel_timer(id)
    }
    /// Charges `cost` of CPU time on this node's processing queue (FIFO, one job at a time)
    /// and fires a timer with `done` when the job finishes. Use it to model, for example, RLN
    /// proof verification (12 ms) or generation (150 ms): jobs queue behind each other, so a
    /// busy node's latency grows.
    pub fn compute(&mut self, cost: SimDuration, done: N::Timer) -> TimerId {
        let at = self.core.reserve_cpu(self.node, cost);
        self.core.set_timer(self.node, at, done)
    }
    /// Dials `peer`. The outcome arrives later as [`Input::ConnectionUp`] or
    /// [`Input::DialFailed`].
    pub fn dial(&mut self, peer: NodeId) -> Result<(), SimError> {
        self.core.dial(self.node, peer)
    }
    /// Closes the connection to `peer`; both sides are told. Returns false when there was none.
    pub fn disconnect(&mut self, peer: NodeId) -> bool {
        self.core
            .close(self.node, peer, crate::node::CloseReason::Local)
    }
    /// Whether an open connection to `peer` exists (on this side).
    pub fn is_connected(&self, peer: NodeId) -> bool {
        self.core.conn_index(self.node, peer).is_some()
    }
    /// Number of open connections.
    pub fn connection_count(&self) -> usize {
        self.core.nodes[self.node.index()].conns.len()
    }
    /// Prefetches what a send to `peer` reads first (its link record and, with TCP, the
    /// connection's flow): a node about to send
    /// to several peers can have all their records fetched at once instead of one per send.
    /// A hint only: no effect on results.
    #[inline]
    pub fn prefetch_send(&self, peer: NodeId) {
        let links = self.core.links();
        links.prefetch(peer);
        links.prefetch_flow(self.node, peer);
    }
    /// Prefetches where a passive message ([`crate::Payload::passive`]) sent to `peer` is
    /// written (the end of its deferred list). It reads `peer`'s link record: call it after
    /// [`Ctx::prefetch_send`] had time to bring that in. A hint only: no effect on results.
    #[inline]
    pub fn prefetch_passive_send(&self, peer: NodeId) {
        if let Some(n) = self.core.nodes.get(peer.index()) {
            n.prefetch_pending_end();
        }
    }
    /// This node's current upload rate: its configured [`crate::LinkCapacity::upload_bps`],
    /// scaled by the `bandwidth_factor` of a [`crate::Fault::DegradeNode`] while one applies
    /// to it (link degradations do not change it). The rate later sends leave at: a socket
    /// buffer of `b` bytes drains in `ctx.upload_rate().transmit(b)`.
    #[inline]
    pub fn upload_rate(&self) -> Rate {
        self.core.upload_rate(self.node)
    }
    /// One-way base latency to `peer` (without jitter), e.g. for RTT estimates.
    pub fn base_latency(&self, peer: NodeId) -> SimDuration {
        self.core.base_latency(self.node, peer)
    }
}
