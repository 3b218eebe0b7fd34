//! The engine's part of a memory budget ([`Engine::memory`]).

use std::mem::size_of;

use super::Engine;
use crate::memory::{Memory, vec_bytes};
use crate::node::Node;

impl<N: Node> Engine<N> {
    /// Adds the engine's structures to `m`: the node records (`size_of::<N>()` each; what
    /// they own is the caller's to count), the link records, connections, TCP flows (empty
    /// without TCP), deferred messages, random streams, event queue, timers, in-flight
    /// messages and the byte accounting. The messages in flight are counted by their records
    /// (what a message owns on the heap, e.g. a boxed IWANT list, is not).
    pub fn memory(&self, m: &mut Memory) {
        let c = &self.core;
        m.add_vec("node records", &self.nodes);
        m.add_vec("engine: link records", &c.nodes);
        let (mut conns, mut nconns, mut pending, mut npending) = (0, 0, 0, 0);
        for n in &c.nodes {
            conns += vec_bytes(&n.conns) + vec_bytes(&n.conn_keys);
            nconns += n.conns.len() as u64;
            pending += vec_bytes(&n.pending);
            npending += n.pending.len() as u64;
        }
        m.add("engine: connections", conns, nconns);
        m.add(
            "engine: connection table",
            vec_bytes(&c.conn_alive),
            c.conn_alive.len() as u64,
        );
        // Empty (0 bytes) without TCP.
        m.add(
            "engine: TCP flows",
            vec_bytes(&c.flows),
            c.flows.len() as u64,
        );
        m.add(
            "engine: deferred messages",
            pending + vec_bytes(&c.pending_nodes),
            npending,
        );
        let streams = c.rngs.iter().flatten().count() as u64;
        m.add("engine: random streams", vec_bytes(&c.rngs), streams);
        m.add(
            "engine: event queue",
            c.queue.heap_bytes(),
            c.queue.len() as u64,
        );
        m.add(
            "engine: timers",
            vec_bytes(&c.timers)
                + vec_bytes(&c.free_timers)
                + vec_bytes(&c.notices.items)
                + vec_bytes(&c.notices.free)
                + vec_bytes(&c.dials.items)
                + vec_bytes(&c.dials.free),
            (c.timers.len() - c.free_timers.len()) as u64,
        );
        m.add(
            "engine: in-flight messages",
            vec_bytes(&c.msgs.items)
                + vec_bytes(&c.msgs.free)
                + vec_bytes(&c.msgs.framing)
                + vec_bytes(&c.down_scratch),
            (c.msgs.items.len() - c.msgs.free.len()) as u64,
        );
        let (counters, drops, series) = c.accounting.heap_bytes();
        m.add(
            "accounting: counters per node and category",
            counters,
            counters / size_of::<crate::Counters>() as u64,
        );
        m.add("accounting: drops per node and reason", drops, 0);
        m.add("accounting: time series", series, 0);
    }
}
