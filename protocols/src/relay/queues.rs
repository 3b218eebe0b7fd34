//! Per-peer send queues as nim-libp2p v1.14.3 keeps them (`pubsubpeer.nim`).
//!
//! A send is *high priority* (control messages, own publishes, IDONTWANT) or not (forwarded
//! messages and IWANT replies). nim-libp2p writes a message at once when it is high priority
//! **or** when the peer has no unfinished write and nothing queued; otherwise it appends it to
//! the peer's non-priority queue (at most 1024 entries; one more disconnects the peer). A task
//! per peer sends the queued messages one at a time, each after every unfinished
//! high-priority write and after its own previous write.
//!
//! The simulator keeps these queues in the node and hands a message to the engine when it is
//! written. When is a write *finished*? The engine models the node's upload link as one FIFO,
//! and tells the sender when each write leaves it (`sim_core::Sent`); the node's socket send
//! buffer (`node/io.rs`, `SendBuffer`) makes a write finished once at most
//! `send_buffer_bytes` of it still wait in the upload link, i.e. when the kernel's socket
//! buffer would have taken it. Under light load every write finishes at once and nothing is
//! queued; under load the non-priority messages wait behind the high-priority ones, which is
//! what the queues are for.

use std::collections::VecDeque;

use sim_core::SimTime;

use crate::relay::rpc::Rpc;

/// One peer's send state (16 bytes; the non-priority part is allocated on first use).
#[derive(Clone, Debug, Default)]
pub struct SendQueue {
    /// When the latest direct write finishes (nim-libp2p `sendPriorityQueue` drains).
    pub prio_until: SimTime,
    /// The non-priority queue and its task.
    pub low: Option<Box<LowQueue>>,
}

/// A peer's non-priority queue and the state of the task that drains it.
#[derive(Clone, Debug, Default)]
pub struct LowQueue {
    /// Waiting messages.
    pub items: VecDeque<Rpc>,
    /// When the write of the message the task sent last finishes.
    pub task_until: SimTime,
    /// Whether a drain timer is pending.
    pub drain_pending: bool,
}

impl SendQueue {
    /// Bytes the non-priority queue holds on the heap (its record when allocated and its
    /// messages' slots; what a waiting RPC owns itself is not counted).
    pub fn heap_bytes(&self) -> u64 {
        self.low.as_ref().map_or(0, |l| {
            std::mem::size_of::<LowQueue>() as u64 + sim_core::memory::deque_bytes(&l.items)
        })
    }

    /// Whether a non-priority message can be written now (both queues empty).
    #[inline]
    pub fn idle(&self, now: SimTime) -> bool {
        self.prio_until <= now && self.low.as_ref().is_none_or(|l| l.items.is_empty())
    }

    /// Records a direct write that finishes at `done`.
    #[inline]
    pub fn wrote(&mut self, done: SimTime) {
        self.prio_until = self.prio_until.max(done);
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.low.as_ref().map_or(0, |l| l.items.len())
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
