//! The node's hot-path hints ([`sim_core::Node::prefetch`]): which memory an input to come
//! will touch, so the engine's look-ahead can fetch it. Hints only: nothing here changes
//! results. Protocol logic stays in the protocols; what relay's inputs read is listed by
//! relay's own hint file (`relay/prefetch.rs`).

use sim_core::{Hint, Links};

use crate::node::registry::{Member, Slot, inline_state_offset};
use crate::node::{Protocols, WakuMsg, WakuNode, WakuTimer};
use crate::relay::rpc::kind;
use crate::relay::{Relay, RelayTimer};

/// [`sim_core::Node::prefetch`] of a Waku node.
#[inline(always)]
pub(crate) fn hints(
    node: &WakuNode,
    stage: u8,
    input: Hint<'_, WakuMsg, WakuTimer>,
    links: &Links<'_>,
) {
    if stage == 0 {
        // This record up to the end of the relay's hot part (read nothing: it is not in cache
        // yet, so the offset is computed from the layout alone).
        let hot = std::mem::offset_of!(WakuNode, protocols)
            + std::mem::offset_of!(Protocols, relay)
            + inline_state_offset::<Relay>()
            + Relay::HOT_BYTES;
        sim_core::prefetch::prefetch_range(node, 0, hot);
        return;
    }
    let Some(relay) = node.protocols.relay.get() else {
        return;
    };
    match input {
        Hint::Message {
            from,
            msg: WakuMsg::Relay(rpc),
        } => relay.prefetch(stage, from, rpc, links),
        Hint::Message { .. } => {}
        Hint::Deferred { from, category }
            if category.0 == <Relay as Member>::OFFSET + kind::IDONTWANT =>
        {
            relay.prefetch_idontwant(from);
        }
        Hint::Deferred { .. } => {}
        Hint::Timer(WakuTimer::Relay(t)) => {
            if stage == 1 && matches!(t, RelayTimer::Heartbeat) {
                // The heartbeat shuffles: the random stream's buffer and state.
                if let Some(rng) = node.protocols.relay.rng() {
                    sim_core::prefetch::prefetch_all(rng);
                }
            }
            relay.prefetch_timer(stage, t);
        }
        Hint::Timer(_) => {}
    }
}
