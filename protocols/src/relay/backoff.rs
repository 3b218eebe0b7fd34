//! Per-topic backoff table (nim-libp2p `BackoffTable`): peers a node must not graft, and whose
//! GRAFTs it answers with PRUNE, until a time.

use sim_core::{NodeId, SimTime};

/// Backoffs of one topic: (peer, until), unordered, small.
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
        self.entries.iter().find(|e| e.0 == peer).map(|e| e.1)
    }
    /// Whether `peer` has an entry (nim-libp2p checks presence, not expiry, when grafting).
    #[inline]
    pub fn contains(&self, peer: NodeId) -> bool {
        self.entries.iter().any(|e| e.0 == peer)
    }
    /// Sets the backoff of `peer` to `until` (overwriting).
    pub fn set(&mut self, peer: NodeId, until: SimTime) {
        match self.entries.iter_mut().find(|e| e.0 == peer) {
            Some(e) => e.1 = until,
            None => self.entries.push((peer, until)),
        }
    }
    /// Raises the backoff of `peer` to `until` if that is later.
    pub fn raise(&mut self, peer: NodeId, until: SimTime) {
        match self.entries.iter_mut().find(|e| e.0 == peer) {
            Some(e) => e.1 = e.1.max(until),
            None => self.entries.push((peer, until)),
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
}
