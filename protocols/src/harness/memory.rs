//! The memory budget of a built or running network ([`memory`]): every structure of the
//! engine and of each node, in bytes, from `size_of` and the counted lengths or capacities
//! (docs/architecture.md, "Memory per node").

use sim_core::memory::{Memory, vec_bytes};

use super::build::Prepared;

/// Row name of the harness's own per-node data (subscriptions, groups, relay capability).
pub const HARNESS_ROW: &str = "harness: subscriptions and groups";

/// The budget of `p` now: the engine's structures ([`sim_core::Engine::memory`]), every
/// node's ([`crate::node::WakuNode::memory`]) and the harness's per-node inputs. Walks every
/// node once; reads only.
pub fn memory(p: &Prepared) -> Memory {
    let mut m = Memory::new();
    p.engine.memory(&mut m);
    for node in p.engine.nodes() {
        node.memory(&mut m);
    }
    m.add(
        HARNESS_ROW,
        vec_bytes(&p.groups)
            + vec_bytes(&p.subs)
            + p.subs.iter().map(vec_bytes).sum::<u64>()
            + vec_bytes(&p.relay_capable),
        0,
    );
    m
}
