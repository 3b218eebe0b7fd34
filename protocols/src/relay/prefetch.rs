//! Prefetch hints (hot-path tuning only, no state changes): what the engine asks a relay to
//! prefetch a few events before an RPC or a timer reaches it, and the record's hot / warm
//! byte ranges.

use sim_core::NodeId;

use crate::relay::message::WireMsg;
use crate::relay::peer_score::PeerScore;
use crate::relay::rpc::Rpc;
use crate::relay::{Relay, RelayTimer};

impl Relay {
    /// Bytes at the start of the record that every RPC reads (see the type's docs).
    pub const HOT_BYTES: usize = std::mem::offset_of!(Relay, mcache);

    /// Bytes at the start of the record that a first copy or a heartbeat reads.
    pub const WARM_BYTES: usize = std::mem::offset_of!(Relay, scored);

    /// Prefetch hints for an RPC from `from` a few events ahead ([`sim_core::Node::prefetch`]
    /// stages 1 to 3, the node prefetching the record itself at stage 0). Stage 1: the peer
    /// index, the topics, the IDONTWANT tail, the seen-cache line of a message, the rest of
    /// the record for a first copy. Stage 2, reading the index: the sender's record and, for a
    /// message, the mesh and the message cache's slot header. Stage 3, for a first copy:
    /// where the message cache writes, the records of the mesh peers it goes to (and their
    /// link records and connections' TCP flows, which the sends read) and the sender's score
    /// counters. Hints only: no state changes.
    pub fn prefetch(&self, stage: u8, from: NodeId, rpc: &Rpc, links: &sim_core::Links<'_>) {
        use sim_core::prefetch::{prefetch, prefetch_range};
        let first_copy = |m: &WireMsg| !self.seen.recently_seen(m.id);
        match stage {
            1 => {
                prefetch(self.peer_ids.as_ptr());
                prefetch(self.peer_ids.as_ptr().wrapping_add(16));
                prefetch(self.topics.as_ptr());
                match rpc {
                    Rpc::Idontwant(_) => {
                        let (a, b) = self.idontwants.as_slices();
                        let tail = if b.is_empty() { a } else { b };
                        prefetch(tail.as_ptr().wrapping_add(tail.len()));
                    }
                    Rpc::Forward(m) | Rpc::Publish(m) => {
                        self.seen.prefetch(m.id);
                        if first_copy(m) {
                            prefetch_range(self, Self::HOT_BYTES, Self::WARM_BYTES);
                        }
                    }
                    // The sender's batch, built at its heartbeat (cold by now).
                    Rpc::Ihave(ih) => ih.batch.prefetch(),
                    _ => {}
                }
            }
            2 => {
                if let Some(i) = self.peer_pos(from) {
                    prefetch(self.peers.as_ptr().wrapping_add(i));
                }
                if let Rpc::Ihave(ih) = rpc {
                    // Where the seen cache looks the advertised ids up.
                    for e in ih.batch.entries().take(2) {
                        for &id in e.ids.iter().take(4) {
                            self.seen.prefetch(id);
                        }
                    }
                }
                if let Rpc::Forward(m) | Rpc::Publish(m) = rpc
                    && first_copy(m)
                {
                    if let Some(t) = self.topics.first() {
                        prefetch(t.mesh.as_ptr());
                    }
                    self.mcache.prefetch_put_slot();
                }
            }
            3 => {
                let (Rpc::Forward(m) | Rpc::Publish(m)) = rpc else {
                    return;
                };
                if !first_copy(m) {
                    return;
                }
                self.mcache.prefetch_put();
                if let Some(k) = self.topic_pos(m.topic) {
                    for &p in &self.topics[k].mesh {
                        if let Some(i) = self.peer_pos(p) {
                            prefetch(self.peers.as_ptr().wrapping_add(i));
                        }
                        links.prefetch(p);
                        links.prefetch_flow(self.me, p);
                    }
                }
                if let Some(i) = self.peer_pos(from) {
                    prefetch(&*self.peers[i].stats as *const PeerScore);
                }
            }
            _ => {}
        }
    }

    /// Prefetch hints for an IDONTWANT from `from` that the engine deferred and will hand
    /// over before the next input: the sender's record and the IDONTWANT list's tail.
    pub fn prefetch_idontwant(&self, from: NodeId) {
        use sim_core::prefetch::prefetch;
        if let Some(i) = self.peer_pos(from) {
            prefetch(self.peers.as_ptr().wrapping_add(i));
        }
        let (a, b) = self.idontwants.as_slices();
        let tail = if b.is_empty() { a } else { b };
        prefetch(tail.as_ptr().wrapping_add(tail.len()));
    }

    /// Prefetch hints for a timer a few events ahead (see [`Relay::prefetch`]). A heartbeat:
    /// at stage 1 the rest of the record, the peer records and index, the topics, the
    /// message cache's slot table and the IDONTWANT list's head; at stage 2 the sent-IHAVE
    /// list's head, each topic's backoffs, mesh and peers, and the gossip window's slots. A
    /// score update: the peer records, then every peer's score counters. Hints only.
    pub fn prefetch_timer(&self, stage: u8, timer: &RelayTimer) {
        use sim_core::prefetch::{prefetch, prefetch_range};
        match (stage, timer) {
            (1, RelayTimer::Heartbeat) => {
                prefetch_range(self, Self::HOT_BYTES, std::mem::size_of::<Self>());
                for i in 0..self.peers.len() {
                    prefetch(self.peers.as_ptr().wrapping_add(i));
                }
                prefetch(self.topics.as_ptr());
                prefetch(self.peer_ids.as_ptr());
                prefetch(self.peer_ids.as_ptr().wrapping_add(16));
                self.mcache.prefetch_slots();
                if let Some(e) = self.idontwants.front() {
                    prefetch(e as *const _);
                }
            }
            (2, RelayTimer::Heartbeat) => {
                if let Some(e) = self.sent_ihaves.front_ptr() {
                    prefetch(e);
                }
                for t in &self.topics {
                    t.backoff.prefetch();
                    prefetch(t.mesh.as_ptr());
                    prefetch(t.peers.as_ptr());
                }
                self.mcache.prefetch_window();
            }
            (1, RelayTimer::ScoreTick) => {
                for i in 0..self.peers.len() {
                    prefetch(self.peers.as_ptr().wrapping_add(i));
                }
            }
            (2, RelayTimer::ScoreTick) => {
                for p in &self.peers {
                    sim_core::prefetch::prefetch_obj(&*p.stats as *const PeerScore);
                }
            }
            _ => {}
        }
    }
}
