//! The node's hot-path hints ([`sim_core::Node::prefetch`]): which memory an input to come
//! will touch, so the engine's look-ahead can fetch it. Hints only: nothing here changes
//! results. Stage 0 fetches the node record up to the end of relay's hot part (a layout
//! fact, so it lives here); later stages go to the protocols' optional prefetch methods
//! (`crate::proto::Protocol::prefetch_message` and siblings), each in its protocol's own
//! `prefetch.rs` (relay: `relay/prefetch.rs`).

use sim_core::{Hint, Links};

use crate::node::registry::inline_state_offset;
use crate::node::{Protocols, WakuMsg, WakuNode, WakuTimer};
use crate::relay::Relay;

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
    node.protocols.prefetch(stage, input, links);
}
