//! The one adapter between every protocol and the engine: [`NodeIo`] implements
//! [`Io`] for any protocol of the node's list over the engine's `Ctx`.

use std::marker::PhantomData;

use sim_core::{Category, Ctx, NodeId, Rate, SimDuration, SimRng, SimTime, TimerId};

use crate::node::WakuNode;
use crate::node::registry::Member;
use crate::proto::{Io, Protocol, Wire};
use crate::wire::framing_bytes;

/// A protocol's view of the engine during one input: the engine's context, the protocol's
/// random stream and the node's upload link.
pub struct NodeIo<'a, 'c, P> {
    ctx: &'a mut Ctx<'c, WakuNode>,
    rng: &'a mut SimRng,
    uplink: &'a mut Uplink,
    _p: PhantomData<fn(P)>,
}

impl<'a, 'c, P> NodeIo<'a, 'c, P> {
    /// The view of protocol `P`, drawing from `rng`.
    #[inline(always)]
    pub(crate) fn new(
        ctx: &'a mut Ctx<'c, WakuNode>,
        rng: &'a mut SimRng,
        uplink: &'a mut Uplink,
    ) -> Self {
        NodeIo {
            ctx,
            rng,
            uplink,
            _p: PhantomData,
        }
    }
}

impl<P: Member> Io<P> for NodeIo<'_, '_, P> {
    #[inline(always)]
    fn now(&self) -> SimTime {
        self.ctx.now()
    }
    #[inline(always)]
    fn id(&self) -> NodeId {
        self.ctx.id()
    }
    #[inline(always)]
    fn rng(&mut self) -> &mut SimRng {
        self.rng
    }
    #[inline]
    fn send_sized(&mut self, to: NodeId, msg: P::Msg, wire: u32) -> Option<SimTime> {
        debug_assert_eq!(wire, msg.wire_bytes());
        let framing = framing_bytes(wire);
        let sizes = (Category(P::OFFSET + msg.kind()), wire, framing);
        let now = self.ctx.now();
        let done = self.uplink.write(now, wire as u64 + framing as u64);
        P::on_send(P::metrics(self.ctx.observer()), now, &msg, wire);
        self.ctx
            .send_sized(to, P::wrap_msg(msg), sizes)
            .expect("protocols send only to existing peers other than themselves");
        done
    }
    #[inline]
    fn set_timer(&mut self, delay: SimDuration, timer: P::Timer) -> TimerId {
        self.ctx.set_timer(delay, P::wrap_timer(timer))
    }
    fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.ctx.cancel_timer(id)
    }
    fn compute(&mut self, cost: SimDuration, timer: P::Timer) {
        self.ctx.compute(cost, P::wrap_timer(timer));
    }
    fn dial(&mut self, peer: NodeId) {
        // Errors only for a node that does not exist or for this node itself.
        let _ = self.ctx.dial(peer);
    }
    fn disconnect(&mut self, peer: NodeId) {
        self.ctx.disconnect(peer);
    }
    fn connection_count(&self) -> usize {
        self.ctx.connection_count()
    }
    #[inline]
    fn report(&mut self, event: P::Event) {
        let (me, now) = (self.ctx.id(), self.ctx.now());
        <P as Protocol>::record(P::metrics(self.ctx.observer()), me, now, event);
    }
    #[inline]
    fn prefetch_send(&self, to: NodeId) {
        self.ctx.prefetch_send(to);
    }
    #[inline]
    fn prefetch_passive_send(&self, to: NodeId) {
        self.ctx.prefetch_passive_send(to);
    }
}

/// The node's mirror of its upload FIFO (the engine's `up_free`), to tell when a write has
/// left: the same arithmetic as the engine's `send`.
#[derive(Clone, Copy, Debug)]
pub struct Uplink {
    free_at: SimTime,
    rate: Rate,
    max_backlog: SimDuration,
    buffer: u32,
    /// The time the socket buffer takes to drain at `rate`.
    buffered: SimDuration,
}

impl Uplink {
    /// A link of `bps` bits per second with the engine's backlog bound and a socket send
    /// buffer of `buffer` bytes.
    pub fn new(bps: u64, max_backlog: SimDuration, buffer: u32) -> Self {
        let rate = Rate::new(bps);
        Uplink {
            free_at: SimTime::ZERO,
            rate,
            max_backlog,
            buffer,
            buffered: rate.transmit(buffer as u64),
        }
    }

    /// The link's capacity changed (a degradation fault) to `bps` bits per second.
    pub fn set_bps(&mut self, bps: u64) {
        self.rate = Rate::new(bps.max(1));
        self.buffered = self.rate.transmit(self.buffer as u64);
    }

    /// Reserves `bytes` at `now`; returns when the write counts as finished (its bytes left
    /// the link, but for a socket buffer's worth), or `None` when the engine will drop it.
    #[inline]
    pub fn write(&mut self, now: SimTime, bytes: u64) -> Option<SimTime> {
        let u0 = now.max(self.free_at);
        if u0.saturating_since(now) > self.max_backlog {
            return None;
        }
        self.free_at = u0 + self.rate.transmit(bytes);
        let done = SimTime::from_nanos(
            self.free_at
                .as_nanos()
                .saturating_sub(self.buffered.as_nanos()),
        );
        Some(done.max(now))
    }

    /// The link after a restart (the engine empties the queue of an offline node).
    pub fn reset(&mut self, now: SimTime) {
        self.free_at = now;
    }
}
