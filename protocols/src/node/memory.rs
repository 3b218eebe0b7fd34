//! A node's part of a memory budget ([`WakuNode::memory`]): what the node and each protocol
//! it runs hold on the heap. No behaviour.

use std::mem::size_of;

use sim_core::SimRng;
use sim_core::memory::Memory;

use super::WakuNode;

/// Row names (docs/architecture.md, "Memory per node").
pub mod rows {
    /// Boxed protocol slots (state and stream), boxed streams, and the box of rarely used
    /// protocols that holds the boxed slots' pointers.
    pub const SLOTS: &str = "node: boxed protocol slots and streams";
    /// The node's own heap: workload stream, topic list.
    pub const OWN: &str = "node: workload stream and topics";
}

impl WakuNode {
    /// Adds what this node holds on the heap to `m`: its protocol slots' allocations, each
    /// protocol's structures (relay and the peer manager; others are in their slots' row), and
    /// its own (its record, `size_of::<WakuNode>()`, is counted with the engine's node
    /// records).
    pub fn memory(&self, m: &mut Memory) {
        let slots = self.protocols.slot_heap_bytes();
        let used = slots.iter().filter(|(_, b)| *b > 0).count() as u64;
        m.add(
            rows::SLOTS,
            slots.iter().map(|(_, b)| *b as u64).sum::<u64>()
                + self.protocols.rare_heap_bytes() as u64,
            used,
        );
        m.add(
            rows::OWN,
            self.workload_rng
                .as_ref()
                .map_or(0, |_| size_of::<SimRng>() as u64)
                + std::mem::size_of_val::<[_]>(&self.topics) as u64,
            0,
        );
        if let Some(r) = self.relay() {
            r.memory(m);
        }
        if let Some(p) = self.peer_manager() {
            p.memory(m);
        }
    }
}
