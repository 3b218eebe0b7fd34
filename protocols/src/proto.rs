//! The protocol interface: what every Waku protocol implements ([`Protocol`]) and what it may
//! do ([`Io`]).
//!
//! A protocol is a sans-IO state machine of one node. The node ([`crate::node`]) owns one
//! instance per protocol it runs and hands each input to the protocol it belongs to, with an
//! [`Io`] that reaches the engine: the time, the protocol's own random stream, sending its own
//! messages, its own timers, CPU time, dialling and disconnecting, and its own measurement
//! sink. A protocol never sees another protocol's messages or timers; what protocols tell each
//! other goes through the node (`node/glue.rs`), as rust-libp2p's composed behaviours do
//! through their parent.
//!
//! Each protocol declares:
//! - its message type ([`Protocol::Msg`], which tells its wire size and accounting kind through
//!   [`Wire`]), its timer type and the events it reports;
//! - its accounting categories ([`Protocol::CATEGORIES`]): (protocol, kind) names, one per
//!   message kind. The node's list gives each protocol a contiguous range of the run's
//!   category table; a message's category is that range's start plus its [`Wire::kind`];
//! - its measurement sink ([`Protocol::Metrics`]) and how an event lands in it
//!   ([`Protocol::record`]).
//!
//! Performance hints are an optional extension of the same interface
//! ([`Protocol::prefetch_message`], [`Protocol::prefetch_passive`], [`Protocol::prefetch_timer`]),
//! implemented in the protocol's own `prefetch.rs`, never between the lines of its logic.
//!
//! Handlers take `ctx: &mut impl Io<Self>`: the engine's adapter in a run
//! ([`crate::node`]), the [`crate::testing::Recorder`] in unit tests.

use sim_core::{DialError, Links, NodeId, SimDuration, SimRng, SimTime, TimerId};

/// What a protocol's message tells the accounting.
pub trait Wire {
    /// Its index in the protocol's [`Protocol::CATEGORIES`].
    fn kind(&self) -> u16;
    /// Bytes of the message on the wire (its encoding with length prefixes; transport framing
    /// is added by the node, [`crate::wire::framing_bytes`]).
    fn wire_bytes(&self) -> u32;
    /// Whether the receiver's handler only updates the receiver's own state (see
    /// `sim_core::Payload::passive`). Default false.
    #[inline]
    fn passive(&self) -> bool {
        false
    }
    /// Transport framing bytes of the message, whose wire size is `wire`: the stream
    /// transport's ([`crate::wire::framing_bytes`]) by default; 0 for a protocol that sends
    /// datagrams (their UDP/IP headers are not counted, as TCP/IP headers are not).
    #[inline(always)]
    fn framing_bytes(&self, wire: u32) -> u32 {
        crate::wire::framing_bytes(wire)
    }
}

/// A Waku protocol: one node's state machine for it.
pub trait Protocol: Sized {
    /// The messages it exchanges with its peers.
    type Msg: Wire;
    /// The values its timers carry.
    type Timer;
    /// What it reports to its measurement sink.
    type Event;
    /// Its run-wide measurement sink (one per run; nodes only write to it).
    type Metrics;
    /// (protocol, kind) names of its accounting categories, indexed by [`Wire::kind`].
    const CATEGORIES: &'static [(&'static str, &'static str)];

    /// The node starts (`restart`: it ran before and comes back from churn; its connections
    /// and timers are gone).
    fn on_start(&mut self, restart: bool, ctx: &mut impl Io<Self>);
    /// A message of this protocol arrived from `from`.
    fn on_message(&mut self, from: NodeId, msg: Self::Msg, ctx: &mut impl Io<Self>);
    /// A timer of this protocol fired (or a compute job finished).
    fn on_timer(&mut self, timer: Self::Timer, ctx: &mut impl Io<Self>);
    /// A connection opened (`outbound`: this node dialled), whoever opened it.
    fn on_connection_up(&mut self, peer: NodeId, outbound: bool, ctx: &mut impl Io<Self>) {
        let _ = (peer, outbound, ctx);
    }
    /// A connection closed.
    fn on_connection_down(&mut self, peer: NodeId, ctx: &mut impl Io<Self>) {
        let _ = (peer, ctx);
    }
    /// A dial this node made failed.
    fn on_dial_failed(&mut self, peer: NodeId, reason: DialError, ctx: &mut impl Io<Self>) {
        let _ = (peer, reason, ctx);
    }
    /// Records `event` of node `node` at `now` in the run's sink.
    fn record(metrics: &mut Self::Metrics, node: NodeId, now: SimTime, event: Self::Event);
    /// Hot-path hint, optional (see `sim_core::Node::prefetch`): a message of this protocol
    /// from `from` reaches this node in a few events (stage 1 to 3, the last one event before).
    /// May prefetch (`sim_core::prefetch`) what handling it will read; must not change state or
    /// results. Keep the implementation in the protocol's own `prefetch.rs`. Default: nothing.
    #[inline(always)]
    fn prefetch_message(&self, stage: u8, from: NodeId, msg: &Self::Msg, links: &Links<'_>) {
        let _ = (stage, from, msg, links);
    }
    /// Hot-path hint, optional: a deferred passive message of kind `kind` from `from` will be
    /// handed over before the next input (stage 2 only). Default: nothing.
    #[inline(always)]
    fn prefetch_passive(&self, from: NodeId, kind: u16) {
        let _ = (from, kind);
    }
    /// Hot-path hint, optional: a timer of this protocol fires in a few events; `rng` is the
    /// protocol's random stream. Default: nothing.
    #[inline(always)]
    fn prefetch_timer(&self, stage: u8, timer: &Self::Timer, rng: &SimRng) {
        let _ = (stage, timer, rng);
    }
    /// Counts, in the sink, a message this node sends (after the node's own accounting, which
    /// the engine does per category). Default: nothing.
    #[inline]
    fn on_send(metrics: &mut Self::Metrics, now: SimTime, msg: &Self::Msg, wire: u32) {
        let _ = (metrics, now, msg, wire);
    }
}

/// What a protocol's handler can see and do. One implementation serves every protocol in a run
/// (the node's adapter), one every protocol's unit tests ([`crate::testing::Recorder`]).
pub trait Io<P: Protocol> {
    /// The current time.
    fn now(&self) -> SimTime;
    /// This node's id.
    fn id(&self) -> NodeId;
    /// The protocol's own random stream: (seed, node id, the protocol's stream name).
    fn rng(&mut self) -> &mut SimRng;
    /// Writes `msg` to `to` over their connection now. Returns when the write counts as
    /// finished for the sender (all but a socket buffer's worth of it has left the upload
    /// link), or `None` when the upload link refused it (the backlog bound).
    #[inline]
    fn send(&mut self, to: NodeId, msg: P::Msg) -> Option<SimTime> {
        let wire = msg.wire_bytes();
        self.send_sized(to, msg, wire)
    }
    /// [`Io::send`] for a caller that has computed `wire` = `msg.wire_bytes()`.
    fn send_sized(&mut self, to: NodeId, msg: P::Msg, wire: u32) -> Option<SimTime>;
    /// Sends `msg` to `to` as a datagram: no connection needed, may be lost in the network
    /// (`network.datagram_loss`), not ordered. False when the upload link refused it (the
    /// backlog bound).
    fn send_datagram(&mut self, to: NodeId, msg: P::Msg) -> bool;
    /// Writes `msg`'s bytes to `to` as part of their connection's set-up: they take this
    /// node's upload link and are counted under `msg`'s category on both sides, but `to`
    /// never receives `msg` (see `sim_core::Ctx::send_setup`). For exchanges the connection's
    /// handshake time already covers, such as identify's.
    fn send_setup(&mut self, to: NodeId, msg: P::Msg);
    /// Fires `timer` after `delay`.
    fn set_timer(&mut self, delay: SimDuration, timer: P::Timer) -> TimerId;
    /// Cancels a timer; false when it already fired or was cancelled.
    fn cancel_timer(&mut self, id: TimerId) -> bool;
    /// Queues `cost` of CPU time on the node's compute queue and fires `timer` when it is done.
    fn compute(&mut self, cost: SimDuration, timer: P::Timer);
    /// Dials `peer` (the outcome comes as a connection up or a dial failure).
    fn dial(&mut self, peer: NodeId);
    /// Closes the connection to `peer`.
    fn disconnect(&mut self, peer: NodeId);
    /// The node's open connections.
    fn connection_count(&self) -> usize;
    /// Reports a measurement to the protocol's sink.
    fn report(&mut self, event: P::Event);
    /// Hint: sends to `to` follow soon (the engine may fetch what they read). No effect on
    /// results; the default does nothing.
    #[inline]
    fn prefetch_send(&self, _to: NodeId) {}
    /// Hint: a passive message to `to` follows soon. The default does nothing.
    #[inline]
    fn prefetch_passive_send(&self, _to: NodeId) {}
}

/// Declares a protocol's counter enum: variants with a stable snake_case name each, `ALL` in
/// index order and `name()`; a sink keeps one count per variant (`counters[c as usize]`).
///
/// ```ignore
/// protocol_counters! {
///     /// Relay events counted per run.
///     pub enum RelayCounter {
///         /// A message failed validation.
///         Rejected = "rejected",
///     }
/// }
/// ```
#[macro_export]
macro_rules! protocol_counters {
    ($(#[$m:meta])* pub enum $Name:ident { $($(#[$doc:meta])* $var:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $Name { $($(#[$doc])* $var,)* }
        impl $Name {
            /// Every counter, in index order.
            pub const ALL: &'static [$Name] = &[$($Name::$var,)*];
            /// A stable snake_case name.
            pub fn name(self) -> &'static str {
                match self { $($Name::$var => $s,)* }
            }
        }
    };
}
