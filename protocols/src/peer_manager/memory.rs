//! The peer manager's part of a memory budget ([`PeerManager::memory`]). No behaviour.

use sim_core::memory::{Memory, vec_bytes};

use super::PeerManager;

/// Row names (docs/architecture.md, "Memory per node").
pub mod rows {
    /// The peer store's entries.
    pub const STORE: &str = "peer manager: peer store";
    /// Connections, dials in progress, cancelled dials, the mesh list for keepalive.
    pub const CONNS: &str = "peer manager: connections and dials";
}

impl PeerManager {
    /// Adds the peer manager's heap structures to `m` (its record is in its protocol slot,
    /// counted by the node; its peer source's list is shared or the source's to count).
    pub fn memory(&self, m: &mut Memory) {
        let (store, known) = self.store.heap_bytes();
        m.add(rows::STORE, store, known);
        m.add(
            rows::CONNS,
            vec_bytes(&self.conns)
                + vec_bytes(&self.dialing)
                + vec_bytes(&self.cancelled)
                + vec_bytes(&self.mesh_peers),
            self.conns.len() as u64,
        );
    }
}
