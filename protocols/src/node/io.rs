//! The one adapter between every protocol and the engine: [`NodeIo`] implements
//! [`Io`] for any protocol of the node's list over the engine's `Ctx`, and the socket send
//! buffer ([`SendBuffer`]) that decides when a write counts as finished.

use std::marker::PhantomData;

use sim_core::{
    Category, Ctx, DropReason, NodeId, Rate, Sent, SimDuration, SimRng, SimTime, TimerId,
};

use crate::node::WakuNode;
use crate::node::registry::Member;
use crate::proto::{Io, Protocol, Wire};

/// A protocol's view of the engine during one input: the engine's context, the protocol's
/// random stream and the node's upload link.
pub struct NodeIo<'a, 'c, P> {
    ctx: &'a mut Ctx<'c, WakuNode>,
    rng: &'a mut SimRng,
    buffer: &'a mut SendBuffer,
    _p: PhantomData<fn(P)>,
}

impl<'a, 'c, P> NodeIo<'a, 'c, P> {
    /// The view of protocol `P`, drawing from `rng`.
    #[inline(always)]
    pub(crate) fn new(
        ctx: &'a mut Ctx<'c, WakuNode>,
        rng: &'a mut SimRng,
        buffer: &'a mut SendBuffer,
    ) -> Self {
        NodeIo {
            ctx,
            rng,
            buffer,
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
        let framing = Wire::framing_bytes(&msg, wire);
        let sizes = (Category(P::OFFSET + msg.kind()), wire, framing);
        let now = self.ctx.now();
        P::on_send(P::metrics(self.ctx.observer()), now, &msg, wire);
        let sent = self
            .ctx
            .send_sized(to, P::wrap_msg(msg), sizes)
            .expect("protocols send only to existing peers other than themselves");
        match sent {
            Sent::Queued { leaves_at } => {
                let rate = self.ctx.upload_rate();
                Some(self.buffer.finished(now, leaves_at, rate))
            }
            Sent::Dropped(DropReason::UploadQueueFull) => None,
            // No connection or a partition: nothing of it waits on the uplink.
            Sent::Dropped(_) => Some(now),
        }
    }
    fn send_datagram(&mut self, to: NodeId, msg: P::Msg) -> bool {
        let wire = msg.wire_bytes();
        let now = self.ctx.now();
        P::on_send(P::metrics(self.ctx.observer()), now, &msg, wire);
        let sent = self
            .ctx
            .send_datagram(to, P::wrap_msg(msg))
            .expect("protocols send only to existing peers other than themselves");
        !matches!(sent, Sent::Dropped(DropReason::UploadQueueFull))
    }
    fn send_setup(&mut self, to: NodeId, msg: P::Msg) {
        let wire = msg.wire_bytes();
        let now = self.ctx.now();
        P::on_send(P::metrics(self.ctx.observer()), now, &msg, wire);
        self.ctx
            .send_setup(to, P::wrap_msg(msg))
            .expect("protocols send only to existing peers other than themselves");
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

/// The socket send buffer of a node: a write counts as finished for the sender once all but
/// `bytes` of it have left the upload link (the engine tells when its last byte leaves,
/// `sim_core::Sent`). Relay's per-peer send queues ([`crate::relay::queues`]) start queueing
/// when a write has not finished.
#[derive(Clone, Copy, Debug)]
pub struct SendBuffer {
    bytes: u32,
    /// The rate `drain` was computed for.
    rate: Rate,
    /// The time `bytes` take to leave at `rate`.
    drain: SimDuration,
}

impl SendBuffer {
    /// A buffer of `bytes` bytes.
    pub fn new(bytes: u32) -> Self {
        let rate = Rate::new(1);
        SendBuffer {
            bytes,
            rate,
            drain: rate.transmit(bytes as u64),
        }
    }

    /// When a write whose last byte leaves at `leaves_at` finishes, at upload rate `rate`.
    #[inline]
    fn finished(&mut self, now: SimTime, leaves_at: SimTime, rate: Rate) -> SimTime {
        if rate != self.rate {
            // A degradation fault changed the link (or this is the first write).
            self.rate = rate;
            self.drain = rate.transmit(self.bytes as u64);
        }
        SimTime::from_nanos(leaves_at.as_nanos().saturating_sub(self.drain.as_nanos())).max(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_finishes_when_all_but_the_buffer_has_left() {
        // 1,000 bytes at 8 Mbit/s drain in 1 ms (8,000 bits / 8e6 bit/s).
        let mut b = SendBuffer::new(1_000);
        let now = SimTime::from_secs(10);
        let rate = Rate::new(8_000_000);
        let ms = SimDuration::from_millis;
        // Its last byte leaves 5 ms from now: it finishes 1 ms earlier.
        assert_eq!(b.finished(now, now + ms(5), rate), now + ms(4));
        // A write that fits the buffer finishes at once.
        assert_eq!(
            b.finished(now, now + SimDuration::from_micros(500), rate),
            now
        );
        // At half the rate (a degradation) the buffer drains in 2 ms.
        assert_eq!(
            b.finished(now, now + ms(5), Rate::new(4_000_000)),
            now + ms(3)
        );
    }
}
