//! The message cache (nim-libp2p `mcache.nim`): the messages of the last `mcache_len`
//! heartbeats, served to IWANT; the ids of the last `mcache_gossip` heartbeats are advertised
//! in IHAVE.
//!
//! Kept as a ring of per-heartbeat vectors without an index: it holds `mcache_len` heartbeats
//! of messages (a few dozen at realistic rates), an IWANT lookup is a short linear scan, and
//! the node's memory stays compact (per-node hash maps cost more in cache misses than they
//! save).

use crate::relay::message::{MsgId, TopicIdx, WireMsg};

/// A ring of per-heartbeat slots.
#[derive(Clone, Debug)]
pub struct MessageCache {
    slots: Vec<Vec<WireMsg>>,
    pos: usize,
    gossip: usize,
}

impl MessageCache {
    /// Bytes the cache reserved on the heap (its heartbeat slots and their messages) and the
    /// messages it holds.
    pub fn heap_bytes(&self) -> (u64, u64) {
        use sim_core::memory::vec_bytes;
        let msgs = self.slots.iter().map(|s| s.len() as u64).sum();
        (
            vec_bytes(&self.slots) + self.slots.iter().map(vec_bytes).sum::<u64>(),
            msgs,
        )
    }

    /// A cache of `history` heartbeats advertising the last `gossip`.
    pub fn new(history: usize, gossip: usize) -> Self {
        assert!(history >= 1 && gossip <= history, "validated configuration");
        MessageCache {
            slots: vec![Vec::new(); history],
            pos: 0,
            gossip,
        }
    }

    /// Adds a message to the current slot. Each id is put at most once per seen-cache
    /// lifetime (own publishes and first receipts only), so no duplicate check is needed.
    #[inline]
    pub fn put(&mut self, msg: WireMsg) {
        self.slots[self.pos].push(msg);
    }

    /// Prefetches the slot table (a hint only; before [`MessageCache::prefetch_window`]).
    #[inline]
    pub fn prefetch_slots(&self) {
        sim_core::prefetch::prefetch(self.slots.as_ptr());
    }

    /// Prefetches the first entries of the slots the gossip window reads (a hint only).
    #[inline]
    pub fn prefetch_window(&self) {
        for slot in self.window_slots() {
            sim_core::prefetch::prefetch(slot.as_ptr());
        }
    }

    /// The slots of the gossip window, newest first.
    #[inline]
    fn window_slots(&self) -> impl Iterator<Item = &Vec<WireMsg>> {
        let n = self.slots.len();
        (0..self.gossip.min(n)).map(move |i| &self.slots[(self.pos + n - i) % n])
    }

    /// Prefetches the header of the slot the next [`MessageCache::put`] writes to, for
    /// [`MessageCache::prefetch_put`] to read a little later (a hint only).
    #[inline]
    pub fn prefetch_put_slot(&self) {
        sim_core::prefetch::prefetch(self.slots.as_ptr().wrapping_add(self.pos));
    }

    /// Prefetches where the next [`MessageCache::put`] writes (a hint only). Reads the slot's
    /// header ([`MessageCache::prefetch_put_slot`] brings it in).
    #[inline]
    pub fn prefetch_put(&self) {
        if let Some(v) = self.slots.get(self.pos) {
            sim_core::prefetch::prefetch(v.as_ptr().wrapping_add(v.len()));
        }
    }

    /// The cached message with this id.
    pub fn get(&self, id: MsgId) -> Option<&WireMsg> {
        self.slots.iter().flatten().find(|m| m.id == id)
    }

    /// Appends the ids of `topic` in the gossip window (newest slot first) to `out`.
    pub fn window(&self, topic: TopicIdx, out: &mut Vec<MsgId>) {
        for slot in self.window_slots() {
            out.extend(slot.iter().filter(|m| m.topic == topic).map(|m| m.id));
        }
    }

    /// Whether the gossip window is empty (a fast check before building IHAVE).
    pub fn window_is_empty(&self) -> bool {
        self.window_slots().all(Vec::is_empty)
    }

    /// Moves to a new slot, forgetting the oldest one (called at the end of each heartbeat).
    pub fn shift(&mut self) {
        self.pos = (self.pos + 1) % self.slots.len();
        self.slots[self.pos].clear();
    }

    /// Messages cached.
    pub fn len(&self) -> usize {
        self.slots.iter().map(Vec::len).sum()
    }
    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Vec::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: u64, topic: u16) -> WireMsg {
        WireMsg {
            id,
            seq: 0,
            data_bytes: 10,
            topic: TopicIdx(topic),
            hops: 0,
            topic_len: 14,
            flags: 0,
        }
    }

    #[test]
    fn window_and_history() {
        // History 3, gossip 2: a message is advertised for 2 heartbeats, served for 3.
        let mut c = MessageCache::new(3, 2);
        c.put(m(1, 0));
        c.put(m(2, 1));
        let mut w = Vec::new();
        c.window(TopicIdx(0), &mut w);
        assert_eq!(w, vec![1]);
        c.shift();
        c.put(m(3, 0));
        w.clear();
        c.window(TopicIdx(0), &mut w);
        assert_eq!(w, vec![3, 1], "newest first");
        c.shift();
        w.clear();
        c.window(TopicIdx(0), &mut w);
        assert_eq!(w, vec![3], "1 left the gossip window");
        assert!(c.get(1).is_some(), "but is still served");
        c.shift();
        assert!(c.get(1).is_none(), "and now forgotten");
        assert!(c.get(3).is_some());
        assert_eq!(c.len(), 1);
    }
}
