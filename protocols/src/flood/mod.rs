//! Plain flooding: the simplest gossip protocol, wakusim's test model.
//!
//! A [`FloodNode`] that receives a message for the first time forwards it once to every
//! neighbour except the one it came from; later copies are duplicates and are dropped. A
//! publisher publishes a message of a fixed size every interval from its first publish time
//! until a publish end, and sends it to every neighbour. Neighbours are the node's open
//! connections, learnt from the engine's `ConnectionUp` / `ConnectionDown`, whoever opened them.
//!
//! | item | what |
//! |---|---|
//! | [`MsgId`], [`FloodMsg`] | a message's id (origin, sequence number) and what travels on a link |
//! | [`FloodNode`], [`FloodConfig`], [`Publish`] | the node's state machine, its parameters, its one timer |
//! | [`FloodObserver`], [`Published`] | the run's measurement sink: receivers, latency, duplicates |
//! | [`overlay`] | links to wire at time 0: a ring with random chords, or a full mesh |
//!
//! Like every protocol of the crate the node is deterministic: it keeps its seen set and its
//! neighbours in ordered collections and forwards in ascending neighbour order. It draws no
//! randomness; only [`overlay::ring_chords`] does, from its own stream
//! (seed, global scope, [`overlay::RING_CHORDS_STREAM`]).
//!
//! The observer measures messages published from its warm-up on: for each, the number of
//! nodes that received it (the origin excluded), the publish-to-first-receipt latency at each,
//! and the duplicates, run-wide and per node. Bytes are counted by the engine's accounting
//! under the message's category and the framing category.

mod message;
mod node;
mod observer;
pub mod overlay;

#[cfg(test)]
mod tests;

pub use message::{FloodMsg, MsgId};
pub use node::{FloodConfig, FloodNode, Publish};
pub use observer::{FloodObserver, Published};
