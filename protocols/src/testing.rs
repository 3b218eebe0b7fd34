//! One recorder for every protocol's unit tests: an [`Io`] that records what a protocol does
//! instead of doing it, so that a test drives one state machine with no engine (in the spirit
//! of rust-libp2p gossipsub's `BehaviourTestBuilder`).

use sim_core::rng::{self, SimRng};
use sim_core::{NodeId, SimDuration, SimTime, TimerId};

use crate::proto::{Io, Protocol, Wire};

/// Records everything a protocol asks of its context.
pub struct Recorder<P: Protocol> {
    /// The time the protocol sees; tests move it.
    pub now: SimTime,
    /// This node's id.
    pub me: NodeId,
    /// The protocol's random stream.
    pub rng: SimRng,
    /// How long a write takes to finish (returned by [`Io::send`]); zero: at once.
    pub write_time: SimDuration,
    /// Messages sent, in order.
    pub sent: Vec<(NodeId, P::Msg)>,
    /// Set-up writes ([`Io::send_setup`]), in order.
    pub setup: Vec<(NodeId, P::Msg)>,
    /// Timers and compute jobs set, as (fire time, value), in order.
    pub timers: Vec<(SimTime, P::Timer)>,
    /// Timers cancelled.
    pub cancelled: Vec<TimerId>,
    /// Peers dialled.
    pub dials: Vec<NodeId>,
    /// Peers disconnected.
    pub disconnects: Vec<NodeId>,
    /// Reported events.
    pub events: Vec<P::Event>,
    /// What [`Io::connection_count`] answers.
    pub connections: usize,
    next_timer: u32,
}

impl<P: Protocol> Recorder<P> {
    /// A recorder for node `me` at time `now`, with a random stream from seed 1 and `name`.
    pub fn new(me: NodeId, now: SimTime, name: &str) -> Self {
        Recorder {
            now,
            me,
            rng: rng::stream(1, me.0 as u64, name),
            write_time: SimDuration::ZERO,
            sent: Vec::new(),
            setup: Vec::new(),
            timers: Vec::new(),
            cancelled: Vec::new(),
            dials: Vec::new(),
            disconnects: Vec::new(),
            events: Vec::new(),
            connections: 0,
            next_timer: 0,
        }
    }

    /// Removes and returns the earliest pending timer whose value matches `pred`.
    pub fn take_timer(&mut self, pred: impl Fn(&P::Timer) -> bool) -> Option<(SimTime, P::Timer)> {
        let i = (0..self.timers.len())
            .filter(|&i| pred(&self.timers[i].1))
            .min_by_key(|&i| self.timers[i].0)?;
        Some(self.timers.remove(i))
    }
}

impl<P: Protocol> Io<P> for Recorder<P> {
    fn now(&self) -> SimTime {
        self.now
    }
    fn id(&self) -> NodeId {
        self.me
    }
    fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }
    fn send_sized(&mut self, to: NodeId, msg: P::Msg, wire: u32) -> Option<SimTime> {
        assert_eq!(
            wire,
            msg.wire_bytes(),
            "the protocol passes the message's own size"
        );
        self.sent.push((to, msg));
        Some(self.now + self.write_time)
    }
    fn send_datagram(&mut self, to: NodeId, msg: P::Msg) -> bool {
        self.sent.push((to, msg));
        true
    }
    fn send_setup(&mut self, to: NodeId, msg: P::Msg) {
        self.setup.push((to, msg));
    }
    fn set_timer(&mut self, delay: SimDuration, timer: P::Timer) -> TimerId {
        self.timers.push((self.now + delay, timer));
        self.next_timer += 1;
        TimerId::detached(self.next_timer)
    }
    fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.cancelled.push(id);
        true
    }
    fn compute(&mut self, cost: SimDuration, timer: P::Timer) {
        self.timers.push((self.now + cost, timer));
    }
    fn dial(&mut self, peer: NodeId) {
        self.dials.push(peer);
    }
    fn disconnect(&mut self, peer: NodeId) {
        self.disconnects.push(peer);
    }
    fn connection_count(&self) -> usize {
        self.connections
    }
    fn report(&mut self, event: P::Event) {
        self.events.push(event);
    }
}
