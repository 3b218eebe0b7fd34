//! The relay's part of a memory budget ([`Relay::memory`]): each structure's bytes from
//! `size_of` and the lengths or capacities of what the node holds. No behaviour.

use std::mem::size_of;

use sim_core::memory::{Memory, deque_bytes, vec_bytes};

use super::{Peer, PeerScore, Relay};

/// Row names of the relay's structures (docs/architecture.md, "Memory per node").
pub mod rows {
    /// One 64-byte record per connected peer.
    pub const PEERS: &str = "relay: peer records";
    /// The boxed scoring counters of each peer (and of peers retained after disconnection).
    pub const SCORES: &str = "relay: peer scores";
    /// Sorted id lists: peers, outbound peers, negative scores.
    pub const INDEX: &str = "relay: peer index";
    /// Topics: mesh, subscribed peers, fanout, backoffs.
    pub const TOPICS: &str = "relay: topics, mesh, fanout, backoff";
    /// The seen cache (table and expiry FIFO).
    pub const SEEN: &str = "relay: seen cache";
    /// The message cache (heartbeat slots of messages).
    pub const MCACHE: &str = "relay: message cache";
    /// IDONTWANTs received.
    pub const IDONTWANT: &str = "relay: IDONTWANT list";
    /// IHAVE ids advertised.
    pub const IHAVE: &str = "relay: IHAVE sent list";
    /// Per-peer non-priority send queues.
    pub const QUEUES: &str = "relay: send queues";
    /// Messages in validation, scratch and gossip buffers.
    pub const SCRATCH: &str = "relay: validation, scratch and gossip buffers";
}

impl Relay {
    /// Adds this relay's heap structures to `m` (its record is inline in the node record,
    /// counted with the node records).
    pub fn memory(&self, m: &mut Memory) {
        m.add_vec(rows::PEERS, &self.peers);
        debug_assert_eq!(size_of::<Peer>(), 64);
        let mut scores = 0;
        let mut queues = 0;
        for p in &self.peers {
            scores += size_of::<PeerScore>() as u64 + p.stats.heap_bytes();
            queues += p.queue.heap_bytes();
        }
        // A BTreeMap's nodes hold up to 11 entries; counted as the entries alone.
        for s in self.retained.values() {
            scores += (size_of::<(sim_core::NodeId, PeerScore)>()) as u64 + s.heap_bytes();
        }
        m.add(
            rows::SCORES,
            scores,
            (self.peers.len() + self.retained.len()) as u64,
        );
        m.add(
            rows::INDEX,
            vec_bytes(&self.peer_ids) + vec_bytes(&self.outbound_ids) + vec_bytes(&self.negative),
            self.peer_ids.len() as u64,
        );
        let mut topics = vec_bytes(&self.topics) + vec_bytes(&self.scored);
        let mut mesh = 0;
        for t in &self.topics {
            topics += vec_bytes(&t.mesh) + vec_bytes(&t.peers) + vec_bytes(&t.fanout);
            topics += t.backoff.heap_bytes().0;
            mesh += t.mesh.len() as u64;
        }
        m.add(rows::TOPICS, topics, mesh);
        let (seen, seen_n) = self.seen.heap_bytes();
        m.add(rows::SEEN, seen, seen_n);
        let (mc, mc_n) = self.mcache.heap_bytes();
        m.add(rows::MCACHE, mc, mc_n);
        m.add(
            rows::IDONTWANT,
            deque_bytes(&self.idontwants),
            self.idontwants.len() as u64,
        );
        let (ihave, ihave_n) = self.sent_ihaves.heap_bytes();
        m.add(rows::IHAVE, ihave, ihave_n);
        m.add(rows::QUEUES, queues, 0);
        let g = &self.gossip;
        let validating: u64 = self.validating.iter().map(|(_, v)| vec_bytes(v)).sum();
        let subs = self.subs_rpc.as_ref().map_or(0, |s| {
            vec_bytes(&s.topics) + size_of::<super::Subscriptions>() as u64
        });
        m.add(
            rows::SCRATCH,
            vec_bytes(&self.validating)
                + validating
                + vec_bytes(&self.scratch)
                + vec_bytes(&g.masks)
                + vec_bytes(&g.entries)
                + vec_bytes(&g.ids)
                + vec_bytes(&g.chosen)
                + subs,
            self.validating.len() as u64,
        );
    }
}
