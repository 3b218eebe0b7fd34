//! # sim-core: wakusim's deterministic discrete-event engine and network model
//!
//! This crate knows nothing of Waku, gossip or graphs. It owns virtual time, the event queue,
//! seeded randomness, the network model (latency, per-node upload/download bandwidth with FIFO
//! queueing, loss, connections, partitions, churn, CPU cost), byte accounting and metric
//! primitives. Protocols are written against the sans-IO [`Node`] trait.
//!
//! ## The engine contract
//!
//! 1. **Time is an integer.** [`SimTime`] and [`SimDuration`] are `u64` nanoseconds. No
//!    floating-point time exists inside the engine; floats are converted once at the edges.
//! 2. **Total order.** Events are ordered by (time, insertion sequence). Events at the same time
//!    run in the order they were scheduled (FIFO). Every pop asserts that time never goes
//!    backwards; a violation is a bug and panics.
//! 3. **One master seed.** Every random stream is derived from (master seed, scope, label) by
//!    [`rng::stream`]; a node's default stream is (seed, node id, `"node"`), the network's is
//!    (seed, [`rng::GLOBAL_SCOPE`], `"network"`). Adding a node or a protocol never shifts
//!    another stream.
//! 4. **Ordered iteration.** The engine iterates only over ordered collections (vectors, sorted
//!    vectors, BTreeMaps); nothing that affects behaviour depends on hash order.
//! 5. **Same scenario + same seed = same bytes.** A run is single-threaded; parallelism is across
//!    runs. [`Engine::event_hash`] is a running hash of (time, node, event kind) over every
//!    handler call, so two runs can be compared cheaply.
//! 6. **Everything bounded.** Upload queues ([`NetworkConfig::max_upload_backlog`]), the
//!    time-series buffer ([`accounting::MAX_SERIES_INTERVALS`]); a full bound has a documented
//!    behaviour (drop and count).
//! 7. **Every byte counted.** Each message has a [`Category`] and a wire size; the engine counts
//!    bytes and messages in and out per node and category, framing bytes under their own
//!    category, and drops per node and [`DropReason`].
//! 8. **Passive messages may arrive late, never differently.** A message whose
//!    [`Payload::passive`] is true has no event of its own: its receiver gets it just before
//!    its next input (or when a `run_*` call returns), at its own delivery time and in event
//!    order, so every node sees the same inputs as without deferral
//!    ([`EngineConfig::defer_passive`]); only the event hash differs.
//!
//! ## Upload link and `Sent`
//!
//! Each node's upload link is a FIFO at its upload rate: a message leaves after those sent
//! before it, in `(wire + framing bytes) x 8 / rate` (see [`network`]). The engine reserves
//! that time when the message is sent, so [`Ctx::send`], [`Ctx::send_sized`] and
//! [`Ctx::send_datagram`] return [`Sent::Queued`] with `leaves_at`, the time its last byte
//! leaves the sender, or [`Sent::Dropped`] with the reason it was not put on the uplink (no
//! connection, a partition, the upload backlog bound); a protocol needs no mirror of the
//! FIFO to know when a write has left. [`Ctx::upload_rate`] is the current rate (after a
//! degradation), e.g. to compute how long a socket buffer takes to drain.
//!
//! A `leaves_at` is fixed when the message is sent (a later rate change affects later sends
//! only), and does not survive churn: a node going offline has its upload FIFO emptied
//! (whatever had not left never leaves; its connections close), and when it comes back
//! ([`Input::Start`] with `restart: true`) its uplink is idle, so the first send leaves at
//! now plus its own transfer time.
//!
//! ## CPU
//!
//! Each node has one CPU, a FIFO of compute jobs: [`Ctx::compute`] queues a job of a given
//! cost behind the node's earlier jobs and fires a timer when it ends (at
//! `max(now, previous job's end) + cost`). [`Engine::set_cpu_slowdown`] makes a node's jobs
//! take `factor` times their cost (a slower machine; default 1, where the cost is used as
//! given, bit for bit). Churn empties the queue: a node coming back starts with an idle CPU.
//!
//! ## Units
//!
//! Time in nanoseconds ([`SimTime`], [`SimDuration`]); capacities in bits per second
//! ([`LinkCapacity`]); sizes in bytes; probabilities in [0, 1].
//!
//! ## Event queue
//!
//! See [`queue`] for the two implementations (binary heap, radix heap), the measurements that
//! chose between them, and [`QueueKind::Auto`].

#![warn(missing_docs)]

pub mod accounting;
pub mod bench;
mod engine;
mod error;
pub mod memory;
pub mod metrics;
pub mod network;
mod node;
pub mod prefetch;
pub mod queue;
pub mod rng;
pub mod tcp;
pub mod time;

pub use accounting::{Accounting, Category, CategoryTable, Counters, Direction, DropReason};
pub use engine::{Engine, EngineConfig, Links, MAX_CPU_SLOWDOWN, RunOutcome};
pub use error::SimError;
pub use network::{
    ConstantLatency, Degradation, Fault, FnLatency, Jitter, LatencyModel, LinkCapacity,
    NetworkConfig,
};
pub use node::{CloseReason, Ctx, DialError, Hint, Input, Node, Payload, Sent, TimerId};
pub use queue::QueueKind;
pub use rng::SimRng;
pub use tcp::TcpConfig;
pub use time::{Rate, SimDuration, SimTime};

/// A node's index in the run, from 0 to the number of nodes minus one.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The id as a `usize` index.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node {}", self.0)
    }
}
