//! The run harness: builds an engine of [`WakuNode`](crate::node::WakuNode)s from a described
//! network ([`SimInput`]), runs it, and returns raw, deterministic results ([`SimOutput`])
//! that the experiments crate turns into files.
//!
//! The run is stepped at every simulated second and at every series boundary; at a series
//! boundary the mesh degrees are sampled, and the engine's byte counters are snapshotted when
//! the warm-up ends, so per-node bandwidth covers exactly the measured window. Every
//! `overlay_sample_interval` the overlay is sampled too: mesh health per shard
//! ([`crate::sharding::health`]) and connection counts per node.
//!
//! The overlay comes about in one of two ways, or both: `network.edges` wired at time 0 (a
//! graph from the topologies crate, for controlled studies), and, with `peer_manager` set,
//! every node's nwaku peer manager dialling peers from its `bootstrap` list (as the real
//! network forms).
//!
//! | file | what |
//! |---|---|
//! | `input.rs` | [`SimInput`] and its sections, [`SimInputError`] |
//! | `build.rs` | [`build`]: validation, the engine ([`Prepared`]) |
//! | `run.rs` | [`run`], [`run_prepared`]: the run loop and its samples |
//! | `collect.rs` | the results from the finished engine |
//! | `memory.rs` | [`memory`]: the memory budget of a network, structure by structure |
//! | `output.rs` | [`SimOutput`] and its sections |

mod build;
mod collect;
mod input;
mod memory;
mod output;
mod rln;
mod run;
mod store;

pub use build::{Prepared, build};
pub use input::{
    AppInput, Discv5Input, NetworkInput, PeerManagerInput, PxInput, RelayInput, RendezvousInput,
    RlnInput, RunInput, ShardingInput, SimInput, SimInputError, StoreInput,
};
pub use memory::{HARNESS_ROW, memory};
pub use output::{
    Bandwidth, Delivery, DeliveryPoint, DiscoveryOutput, Duplicates, ImplOutput, Latency,
    MeshSample, MessageDelivery, NodeSummary, NodeTraffic, OverlayOutput, PeerManagerOutput,
    PointSample, PublishStats, RelayOutput, RendezvousOutput, RlnOutput, SimOutput,
    StoreConvergence, StoreOutput, StoreSample, TraceEntry, TrafficPoint,
};
pub use rln::publishing as rln_publishing;
pub use run::{rln_capacity, run, run_measured, run_prepared};

/// Node count from which the harness asks the engine for its radix-heap event queue (both
/// queues give identical runs; only speed differs). Measured on the relay-10k scenario: the
/// radix heap is about 25 % faster at 10,000 nodes, where the engine's own `Auto` choice
/// would still pick the binary heap; at 1,000 nodes they are even.
pub const RADIX_QUEUE_MIN_NODES: usize = 5_000;
