//! Per-topic backoff table (nim-libp2p `BackoffTable`): peers a node must not graft, and whose
//! GRAFTs it answers with PRUNE, until a time.

use sim_core::{NodeId, SimTime};

/// Backoffs of one topic: (peer, until), sorted by peer. Usually a few entries; a node with
/// thousands of peers (a rendezvous point, a fleet node) holds thousands after churn, and a
/// heartbeat asks for each of a topic's peers whether it is backing off: a binary search, not
/// a scan of the table per peer (which had made such nodes 87 % of a 10,000-node run).
#[derive(Clone, Debug, Default)]
pub struct Backoffs {
    entries: Vec<(NodeId, SimTime)>,
}

impl Backoffs {
    /// Bytes reserved on the heap and entries.
    pub fn heap_bytes(&self) -> (u64, u64) {
        (
            sim_core::memory::vec_bytes(&self.entries),
            self.entries.len() as u64,
        )
    }

    /// Prefetches the entries (a hint only).
    #[inline]
    pub fn prefetch(&self) {
        sim_core::prefetch::prefetch(self.entries.as_ptr());
    }
    /// The backoff end for `peer`, if any (expired entries stay until [`Self::expire`]).
    #[inline]
    pub fn get(&self, peer: NodeId) -> Option<SimTime> {
        self.find(peer).ok().map(|i| self.entries[i].1)
    }
    /// Whether `peer` has an entry (nim-libp2p checks presence, not expiry, when grafting).
    #[inline]
    pub fn contains(&self, peer: NodeId) -> bool {
        self.find(peer).is_ok()
    }
    #[inline]
    fn find(&self, peer: NodeId) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&peer, |e| e.0)
    }
    /// Sets the backoff of `peer` to `until` (overwriting).
    pub fn set(&mut self, peer: NodeId, until: SimTime) {
        match self.find(peer) {
            Ok(i) => self.entries[i].1 = until,
            Err(i) => self.entries.insert(i, (peer, until)),
        }
    }
    /// Raises the backoff of `peer` to `until` if that is later.
    pub fn raise(&mut self, peer: NodeId, until: SimTime) {
        match self.find(peer) {
            Ok(i) => self.entries[i].1 = self.entries[i].1.max(until),
            Err(i) => self.entries.insert(i, (peer, until)),
        }
    }
    /// Removes entries that ended at or before `now` (nim-libp2p `handleBackingOff`).
    pub fn expire(&mut self, now: SimTime) {
        self.entries.retain(|e| now < e.1);
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_raise_expire() {
        let mut b = Backoffs::default();
        b.set(NodeId(1), SimTime::from_secs(10));
        b.raise(NodeId(1), SimTime::from_secs(5));
        assert_eq!(b.get(NodeId(1)), Some(SimTime::from_secs(10)));
        b.set(NodeId(1), SimTime::from_secs(5));
        assert_eq!(b.get(NodeId(1)), Some(SimTime::from_secs(5)));
        b.expire(SimTime::from_secs(4));
        assert!(b.contains(NodeId(1)));
        b.expire(SimTime::from_secs(5));
        assert!(!b.contains(NodeId(1)));
    }

    #[test]
    fn a_large_table_answers_every_peer() {
        // 1000 peers set in a scrambled order (7 k mod 1009 for k = 0..1000: distinct, as 1009
        // is prime), each until 10 s + its id; then every id up to 1010 asked: present exactly
        // for those set, with its own end; raising half of them keeps the later end; expiry
        // at 10 s + 500 leaves ids 500..1009 set.
        let mut b = Backoffs::default();
        let ids: Vec<u32> = (0..1000).map(|k| 7 * k % 1009).collect();
        let end = |id: u32| SimTime::from_secs(10 + id as u64);
        for &id in &ids {
            b.set(NodeId(id), end(id));
        }
        assert_eq!(b.len(), 1000);
        for id in 0..1010 {
            let want = ids.contains(&id).then(|| end(id));
            assert_eq!(b.get(NodeId(id)), want, "id {id}");
            assert_eq!(b.contains(NodeId(id)), want.is_some(), "id {id}");
        }
        for &id in ids.iter().step_by(2) {
            b.raise(NodeId(id), SimTime::from_secs(5));
            assert_eq!(b.get(NodeId(id)), Some(end(id)));
        }
        b.expire(end(500));
        let left: Vec<u32> = (0..1010).filter(|&id| b.contains(NodeId(id))).collect();
        let want: Vec<u32> = (501..1009).filter(|id| ids.contains(id)).collect();
        assert_eq!(left, want);
    }
}
