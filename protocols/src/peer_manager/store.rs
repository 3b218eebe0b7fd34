//! The peer store: the peers a node knows, where it learnt of them, their shards (as their ENR
//! or metadata tells) and their dial failures (nwaku's `NumberFailedConnBook` and
//! `LastFailedConnBook`).
//!
//! Entries are kept sorted by node id (lookups by binary search, iteration in a fixed order).
//! The store is bounded: pruning ([`PeerStore::prune`], every 10 minutes) brings it back to its
//! capacity, and between prunings it refuses new peers beyond four times the capacity.

use std::rc::Rc;

use rand::seq::SliceRandom;
use sim_core::{NodeId, SimRng, SimTime};

use crate::discovery::PeerOrigin;

/// What the store knows of one peer.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerEntry {
    /// The peer.
    pub id: NodeId,
    /// Where the node learnt of it.
    pub origin: PeerOrigin,
    /// Its shards, ascending (from its ENR, then from metadata).
    pub shards: Rc<[u16]>,
    /// Whether it runs relay.
    pub relay: bool,
    /// Consecutive failed dials (reset by a successful one).
    pub failures: u32,
    /// When the last dial failed.
    pub last_failed: SimTime,
}

/// What [`PeerStore::add`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// A new peer: added.
    New,
    /// A known peer: its shards refreshed.
    Known,
    /// A new peer, refused: the store is at its hard limit.
    Full,
}

/// Multiple of the capacity beyond which new peers are refused between prunings.
pub const HARD_LIMIT_FACTOR: usize = 4;

/// A node's peer store.
#[derive(Clone, Debug, Default)]
pub struct PeerStore {
    entries: Vec<PeerEntry>,
    /// The entries' ids, in the same order: what a lookup searches (a tenth of the lines of
    /// the entries themselves, so fewer cache misses in a cold store).
    ids: Vec<NodeId>,
    capacity: usize,
}

impl PeerStore {
    /// Bytes the store reserved on the heap (its entries; their shard lists are shared
    /// `Rc`s, not counted) and the peers it knows.
    pub fn heap_bytes(&self) -> (u64, u64) {
        (
            sim_core::memory::vec_bytes(&self.entries) + sim_core::memory::vec_bytes(&self.ids),
            self.entries.len() as u64,
        )
    }

    /// An empty store pruned back to `capacity` peers.
    pub fn new(capacity: usize) -> Self {
        PeerStore {
            entries: Vec::new(),
            ids: Vec::new(),
            capacity,
        }
    }
    /// Peers known.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// True when no peer is known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The capacity pruning restores.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Every entry, by id.
    pub fn iter(&self) -> impl Iterator<Item = &PeerEntry> {
        self.entries.iter()
    }
    fn pos(&self, id: NodeId) -> Result<usize, usize> {
        self.ids.binary_search(&id)
    }
    /// The entry of `id`.
    pub fn get(&self, id: NodeId) -> Option<&PeerEntry> {
        self.pos(id).ok().map(|i| &self.entries[i])
    }
    /// Whether `id` is known.
    pub fn contains(&self, id: NodeId) -> bool {
        self.pos(id).is_ok()
    }

    /// Adds a peer, or refreshes its shards when known; a new peer is refused when the store
    /// is at its hard limit.
    pub fn add(
        &mut self,
        id: NodeId,
        origin: PeerOrigin,
        shards: &Rc<[u16]>,
        relay: bool,
    ) -> Stored {
        match self.pos(id) {
            Ok(i) => {
                // The same list (what discovery finds again and again) is left as it is:
                // no write to the list's shared count.
                let e = &mut self.entries[i];
                if !Rc::ptr_eq(&e.shards, shards) {
                    e.shards = shards.clone();
                }
                Stored::Known
            }
            Err(i) => {
                if self.entries.len() >= self.capacity.saturating_mul(HARD_LIMIT_FACTOR) {
                    return Stored::Full;
                }
                self.ids.insert(i, id);
                self.entries.insert(
                    i,
                    PeerEntry {
                        id,
                        origin,
                        shards: shards.clone(),
                        relay,
                        failures: 0,
                        last_failed: SimTime::ZERO,
                    },
                );
                Stored::New
            }
        }
    }

    /// Forgets a peer. Returns whether it was known.
    pub fn remove(&mut self, id: NodeId) -> bool {
        match self.pos(id) {
            Ok(i) => {
                self.entries.remove(i);
                self.ids.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Replaces a peer's shards (after a metadata exchange).
    pub fn set_shards(&mut self, id: NodeId, shards: Rc<[u16]>) {
        if let Ok(i) = self.pos(id) {
            self.entries[i].shards = shards;
        }
    }

    /// Records a failed dial at `now`.
    pub fn dial_failed(&mut self, id: NodeId, now: SimTime) {
        if let Ok(i) = self.pos(id) {
            let e = &mut self.entries[i];
            e.failures = e.failures.saturating_add(1);
            e.last_failed = now;
        }
    }

    /// Records a successful connection (nwaku resets the failure count).
    pub fn dial_succeeded(&mut self, id: NodeId) {
        if let Ok(i) = self.pos(id) {
            self.entries[i].failures = 0;
        }
    }

    /// Forgets every failure (a restart with a persisted store).
    pub fn reset_failures(&mut self) {
        for e in &mut self.entries {
            e.failures = 0;
        }
    }

    /// Forgets every peer.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.ids.clear();
    }

    /// Rebuilds the id list after entries left in bulk.
    fn sync_ids(&mut self) {
        self.ids.clear();
        self.ids.extend(self.entries.iter().map(|e| e.id));
    }

    /// Prunes the store (nwaku `prunePeerStore`), then returns how many peers were removed.
    ///
    /// 1. Peers with `max_failed` failures or more are always removed (they are never dialled
    ///    again; nwaku removes them first, and only when over capacity).
    /// 2. Over capacity, the excess is taken, in order, from the peers not connected that have
    ///    no known shard, then from each shard (ascending) a number of its not-connected
    ///    peers above the average (nwaku caps the average at 1, so nearly all of a shard's
    ///    peers are candidates), in a random order, until the store is back at capacity.
    ///
    /// `connected` lists the connected peers, ascending.
    pub fn prune(&mut self, connected: &[NodeId], max_failed: u32, rng: &mut SimRng) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|e| e.failures < max_failed || connected.binary_search(&e.id).is_ok());
        self.sync_ids();
        if self.entries.len() <= self.capacity {
            return before - self.entries.len();
        }
        let mut excess = self.entries.len() - self.capacity;
        let mut not_connected: Vec<usize> = (0..self.entries.len())
            .filter(|&i| connected.binary_search(&self.entries[i].id).is_err())
            .collect();
        not_connected.shuffle(rng);
        let mut doomed = vec![false; self.entries.len()];
        for &i in &not_connected {
            if excess == 0 {
                break;
            }
            if self.entries[i].shards.is_empty() {
                doomed[i] = true;
                excess -= 1;
            }
        }
        if excess > 0 {
            // Peers by shard, in the shuffled order.
            let mut by_shard: std::collections::BTreeMap<u16, Vec<usize>> = Default::default();
            for &i in &not_connected {
                if doomed[i] {
                    continue;
                }
                for &s in self.entries[i].shards.iter() {
                    by_shard.entry(s).or_default().push(i);
                }
            }
            let total: usize = by_shard.values().map(Vec::len).sum();
            let avg = (total / by_shard.len().max(1)).min(1);
            'outer: for peers in by_shard.values() {
                let count = peers.len().saturating_sub(avg);
                for &i in peers.iter().take(count + 1) {
                    if excess == 0 {
                        break 'outer;
                    }
                    if !doomed[i] {
                        doomed[i] = true;
                        excess -= 1;
                    }
                }
            }
        }
        let mut k = 0;
        self.entries.retain(|_| {
            let keep = !doomed[k];
            k += 1;
            keep
        });
        self.sync_ids();
        before - self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::rng;

    fn shards(v: &[u16]) -> Rc<[u16]> {
        v.into()
    }

    #[test]
    fn add_remove_and_hard_limit() {
        let mut s = PeerStore::new(2);
        for i in 0..8 {
            let r = s.add(NodeId(i), PeerOrigin::Bootstrap, &shards(&[0]), true);
            assert_eq!(r, Stored::New);
        }
        // Hard limit 4 x 2 = 8: the ninth new peer is refused, a known one is refreshed.
        let r = s.add(NodeId(100), PeerOrigin::Bootstrap, &shards(&[0]), true);
        assert_eq!(r, Stored::Full);
        let r = s.add(NodeId(3), PeerOrigin::Bootstrap, &shards(&[1]), true);
        assert_eq!(r, Stored::Known);
        assert_eq!(&*s.get(NodeId(3)).unwrap().shards, &[1]);
        assert!(s.remove(NodeId(3)) && !s.remove(NodeId(3)));
        assert_eq!(s.len(), 7);
        let ids: Vec<u32> = s.iter().map(|e| e.id.0).collect();
        assert_eq!(ids, vec![0, 1, 2, 4, 5, 6, 7], "kept sorted by id");
    }

    #[test]
    fn pruning_removes_failed_peers_then_the_excess_but_never_connected_ones() {
        let mut r = rng::stream(1, 0, "test");
        let mut s = PeerStore::new(4);
        for i in 0..10 {
            let sh: &[u16] = if i < 2 { &[] } else { &[(i % 3) as u16] };
            s.add(NodeId(i), PeerOrigin::Bootstrap, &shards(sh), true);
        }
        for _ in 0..5 {
            s.dial_failed(NodeId(9), SimTime::from_secs(1));
        }
        // Connected: 0 (shardless) and 5. Failed-out: 9. Start 10; 9 goes (5 failures) -> 9;
        // capacity 4 -> 5 to prune: shardless not-connected first (1), then 4 by shard.
        let removed = s.prune(&[NodeId(0), NodeId(5)], 5, &mut r);
        assert_eq!(removed, 6);
        assert_eq!(s.len(), 4);
        assert!(s.contains(NodeId(0)) && s.contains(NodeId(5)));
        assert!(!s.contains(NodeId(9)) && !s.contains(NodeId(1)));
        // Under capacity, only failed-out peers go.
        s.dial_failed(NodeId(0), SimTime::ZERO);
        assert_eq!(s.prune(&[], 5, &mut r), 0);
    }
}
