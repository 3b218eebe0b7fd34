//! The seen cache (nim-libp2p `TimedCache` with the seen TTL): message ids a node has
//! received or published, each remembered for `ttl` after its first receipt. Expiry runs
//! before each insertion, as in nim-libp2p.
//!
//! nim-libp2p refreshes an entry's expiry on every duplicate. The simulator does not: a copy
//! arriving more than `seen_ttl` after the first receipt is impossible while the TTL exceeds
//! how long peers keep and forward a message (the message-cache window plus queueing; 2 min
//! against 6 s with nwaku's settings), and dropping the refresh keeps expiry a plain FIFO.
//!
//! Each entry also counts the copies received after the first, which the node reports when the
//! entry expires (the duplicate metric).
//!
//! Layout: the entries in a ring in insertion order (so expiry pops its front), 24 bytes each,
//! and an open-addressing index (linear probing, load at most 1/2) of 4-byte slots, keyed by
//! the id's low bits (ids are sha256 prefixes, already uniform), each holding an entry's ring
//! position and more of the id's low bits, so that a lookup reads an entry only when those
//! bits match. No per-entry allocation. At 30 entries: 32 x 24 + 64 x 4 = 1,024 bytes (it
//! was 1,536 with 16-byte (id, registry index, copies) table slots and a FIFO of 16-byte
//! (expiry, id) pairs).

use sim_core::{SimDuration, SimTime};

use crate::relay::message::MsgId;

/// One remembered message, as reported when it expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeenEntry {
    /// The message's registry index (metrics).
    pub seq: u32,
    /// Copies received after the first (or, for an own message, after publishing);
    /// saturates at 65,535.
    pub copies: u32,
}

/// A remembered id, in the ring.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    key: u64,
    expires: SimTime,
    seq: u32,
    copies: u16,
}

/// Entries of the most recent insertions kept inline (see [`SeenCache`]).
const RECENT: usize = 8;

#[derive(Clone, Copy, Debug, Default)]
struct Recent {
    key: u64,
    /// Copies counted here, not yet added to the entry.
    copies: u16,
    live: bool,
}

/// Ids with a time to live.
///
/// The last `RECENT` insertions are mirrored in a small inline ring that answers lookups
/// and counts duplicates without touching the index: the ids a node is asked about (copies of
/// messages it just received, IHAVE of the last heartbeats) are nearly always recent, and the
/// index's line for an id is otherwise a cache miss per lookup. A recent entry's duplicate
/// count is added to its entry when it leaves the inline ring.
///
/// An index slot is 0 when empty, else `tag << (bits + 1) | (position + 1)`, with `bits` the
/// log2 of the ring's capacity and `tag` the id's low `31 - bits` bits: while `bits` is at
/// most 15 (rings of up to 32,768 entries) the tag holds the index's home bits, so a slot's
/// home is known without reading its entry.
///
/// `repr(C)`, the fields every receipt reads first (expiry check, ring).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct SeenCache {
    /// Expiry of the oldest entry (`SimTime::MAX` when empty): most calls to `expire` stop
    /// here without touching the ring.
    next: SimTime,
    recent_pos: usize,
    recent: [Recent; RECENT],
    ttl: SimDuration,
    /// The entries, oldest at `head`, `len` of them (capacity a power of two, or 0).
    ring: Vec<Entry>,
    head: usize,
    len: usize,
    /// log2 of the ring's capacity.
    bits: u32,
    /// Twice the ring's capacity of slots.
    index: Vec<u32>,
}

impl SeenCache {
    /// Bytes the cache reserved on the heap (the ring and the index) and its entries.
    pub fn heap_bytes(&self) -> (u64, u64) {
        (
            sim_core::memory::vec_bytes(&self.ring) + sim_core::memory::vec_bytes(&self.index),
            self.len as u64,
        )
    }

    /// An empty cache with the given time to live.
    pub fn new(ttl: SimDuration) -> Self {
        SeenCache {
            recent: [Recent::default(); RECENT],
            recent_pos: 0,
            ttl,
            ring: Vec::new(),
            head: 0,
            len: 0,
            bits: 0,
            index: Vec::new(),
            next: SimTime::MAX,
        }
    }

    #[inline]
    fn index_mask(&self) -> usize {
        self.index.len() - 1
    }

    /// The tag of `key`: its low `31 - bits` bits.
    #[inline]
    fn tag(&self, key: u64) -> u32 {
        (key as u32) & (u32::MAX >> (self.bits + 1))
    }

    /// The ring position in a (non-empty) index slot.
    #[inline]
    fn position(&self, slot: u32) -> usize {
        (slot & ((2 << self.bits) - 1)) as usize - 1
    }

    /// The ring position of `key`'s entry, if it is remembered.
    #[inline]
    fn find(&self, key: u64) -> Option<usize> {
        if self.index.is_empty() {
            return None;
        }
        let m = self.index_mask();
        let tag = self.tag(key);
        let mut i = key as usize & m;
        loop {
            let sl = self.index[i];
            if sl == 0 {
                return None;
            }
            if sl >> (self.bits + 1) == tag && self.ring[self.position(sl)].key == key {
                return Some(self.position(sl));
            }
            i = (i + 1) & m;
        }
    }

    /// Prefetches the index line a lookup of `id` starts at (a hint only).
    #[inline]
    pub fn prefetch(&self, id: MsgId) {
        if !self.index.is_empty() {
            let i = id as usize & self.index_mask();
            sim_core::prefetch::prefetch(self.index.as_ptr().wrapping_add(i));
        }
    }

    /// Whether `id` is among the recent insertions (no index access).
    #[inline]
    pub fn recently_seen(&self, id: MsgId) -> bool {
        self.recent.iter().any(|r| r.live && r.key == id)
    }

    /// Whether `id` is remembered.
    #[inline]
    pub fn contains(&self, id: MsgId) -> bool {
        self.recently_seen(id) || self.find(id).is_some()
    }

    /// Removes `key` from the inline ring, returning the copies it counted there.
    fn take_recent(&mut self, key: u64) -> u32 {
        match self.recent.iter_mut().find(|r| r.live && r.key == key) {
            Some(r) => {
                r.live = false;
                r.copies as u32
            }
            None => 0,
        }
    }

    /// Counts `n` more copies on the entry at ring position `pos`.
    fn add_copies(&mut self, pos: usize, n: u16) {
        let e = &mut self.ring[pos];
        e.copies = e.copies.saturating_add(n);
    }

    /// Puts the entry at ring position `pos` in the index.
    fn index_insert(&mut self, pos: usize) {
        let key = self.ring[pos].key;
        let m = self.index_mask();
        let mut i = key as usize & m;
        while self.index[i] != 0 {
            i = (i + 1) & m;
        }
        self.index[i] = self.tag(key) << (self.bits + 1) | (pos as u32 + 1);
    }

    /// Doubles the ring (the entries move to its start, oldest first) and rebuilds the index.
    #[cold]
    fn grow(&mut self) {
        let cap = (self.ring.len() * 2).max(16);
        let mut ring = vec![Entry::default(); cap];
        let old = self.ring.len();
        for (k, e) in ring.iter_mut().take(self.len).enumerate() {
            *e = self.ring[(self.head + k) & (old - 1)];
        }
        self.ring = ring;
        self.head = 0;
        self.bits = cap.trailing_zeros();
        self.index = vec![0; 2 * cap];
        for pos in 0..self.len {
            self.index_insert(pos);
        }
    }

    /// Records a receipt of `id` at `now`. Returns true when it was already seen (the copy is
    /// a duplicate and is counted).
    #[inline]
    pub fn receive(&mut self, id: MsgId, seq: u32, now: SimTime) -> bool {
        let key = id;
        if let Some(r) = self.recent.iter_mut().find(|r| r.live && r.key == key) {
            r.copies = r.copies.saturating_add(1);
            return true;
        }
        if let Some(p) = self.find(key) {
            self.add_copies(p, 1);
            return true;
        }
        if self.len == self.ring.len() {
            self.grow();
        }
        let pos = (self.head + self.len) & (self.ring.len() - 1);
        let expires = now + self.ttl;
        self.ring[pos] = Entry {
            key,
            expires,
            seq,
            copies: 0,
        };
        if self.len == 0 {
            self.next = expires;
        }
        self.len += 1;
        self.index_insert(pos);
        let old = std::mem::replace(
            &mut self.recent[self.recent_pos],
            Recent {
                key,
                copies: 0,
                live: true,
            },
        );
        self.recent_pos = (self.recent_pos + 1) % RECENT;
        if old.live
            && old.copies > 0
            && let Some(p) = self.find(old.key)
        {
            self.add_copies(p, old.copies);
        }
        false
    }

    /// The home slot of the entry a (non-empty) index slot points to.
    #[inline]
    fn home(&self, slot: u32) -> usize {
        let m = self.index_mask();
        if self.bits <= 15 {
            // The tag holds the id's low 31 - bits >= bits + 1 bits, the mask's.
            (slot >> (self.bits + 1)) as usize & m
        } else {
            self.ring[self.position(slot)].key as usize & m
        }
    }

    /// Removes the oldest entry (backward-shift deletion of its index slot keeps probe chains
    /// intact) and reports it.
    fn pop_front(&mut self) -> SeenEntry {
        let pos = self.head;
        let e = self.ring[pos];
        let m = self.index_mask();
        let mut i = e.key as usize & m;
        while self.position(self.index[i]) != pos {
            i = (i + 1) & m;
        }
        let mut j = i;
        loop {
            j = (j + 1) & m;
            let sl = self.index[j];
            if sl == 0 {
                break;
            }
            let home = self.home(sl);
            // Move j back to i when its home is not cyclically in (i, j].
            let in_range = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !in_range {
                self.index[i] = sl;
                i = j;
            }
        }
        self.index[i] = 0;
        self.head = (self.head + 1) & (self.ring.len() - 1);
        self.len -= 1;
        let extra = self.take_recent(e.key);
        SeenEntry {
            seq: e.seq,
            copies: (e.copies as u32 + extra).min(u16::MAX as u32),
        }
    }

    /// Removes entries that expired before `now`, calling `gone` for each.
    #[inline]
    pub fn expire(&mut self, now: SimTime, mut gone: impl FnMut(SeenEntry)) {
        if self.next >= now {
            return;
        }
        while self.len > 0 {
            let t = self.ring[self.head].expires;
            if t >= now {
                self.next = t;
                return;
            }
            gone(self.pop_front());
        }
        self.next = SimTime::MAX;
    }

    /// Removes every entry, calling `gone` for each, in insertion order.
    pub fn drain(&mut self, mut gone: impl FnMut(SeenEntry)) {
        self.next = SimTime::MAX;
        while self.len > 0 {
            gone(self.pop_front());
        }
    }

    /// Number of ids remembered.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_counts_from_the_first_receipt() {
        let s = |x| SimTime::from_secs(x);
        let mut c = SeenCache::new(SimDuration::from_secs(120));
        assert!(!c.receive(7, 0, s(0)));
        assert!(c.receive(7, 0, s(10)), "duplicate");
        let mut gone = Vec::new();
        c.expire(s(120), |e| gone.push(e));
        assert!(gone.is_empty(), "expires after 120 s");
        c.expire(s(121), |e| gone.push(e));
        assert_eq!(gone, vec![SeenEntry { seq: 0, copies: 1 }]);
        assert!(!c.contains(7));
        assert!(c.is_empty());
    }

    #[test]
    fn a_ring_beyond_32768_entries_finds_homes_through_its_entries() {
        // 40,000 ids (a ring of 65,536 entries, 16 bits of position: the index slots' tags
        // no longer hold the home bits), inserted one per second with a 100,000 s TTL; ids
        // spread by a multiplier so that their low bits collide in runs. Then each second's
        // expiry removes exactly the id inserted 100,001 s earlier, oldest first, and every
        // later id stays findable (checked after every 1,000 removals).
        let s = |x| SimTime::from_secs(x);
        let id = |k: u64| k.wrapping_mul(0x9E37_79B9_7F4A_7C15) & !0xFF;
        let mut c = SeenCache::new(SimDuration::from_secs(100_000));
        for k in 0..40_000 {
            assert!(!c.receive(id(k), k as u32, s(k)));
        }
        assert!(c.receive(id(7), 7, s(40_000)), "a duplicate");
        for k in 0..40_000u64 {
            let mut gone = Vec::new();
            c.expire(s(k + 100_001), |e| gone.push(e));
            let copies = u32::from(k == 7);
            assert_eq!(
                gone,
                vec![SeenEntry {
                    seq: k as u32,
                    copies
                }]
            );
            if k % 1_000 == 0 {
                assert!(!c.contains(id(k)));
                assert!((k + 1..40_000).step_by(97).all(|j| c.contains(id(j))));
            }
        }
        assert!(c.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((0u64..64, 0u64..3), 1..400)) {
            // Ids collide on purpose (small range, same low bits), times advance; compare with
            // a reference of (id -> first receipt time, duplicates), including the duplicate
            // counts reported at expiry and at the final drain.
            let ttl = SimDuration::from_secs(5);
            let mut c = SeenCache::new(ttl);
            let mut reference: std::collections::BTreeMap<u64, (u64, u32)> = Default::default();
            let mut now = 0u64;
            for (id, dt) in ops {
                now += dt;
                let t = SimTime::from_secs(now);
                let mut gone = Vec::new();
                c.expire(t, |e| gone.push((e.seq, e.copies)));
                gone.sort();
                let mut expected: Vec<(u32, u32)> = reference
                    .iter()
                    .filter(|(_, (first, _))| *first + 5 < now)
                    .map(|(k, (_, d))| ((*k >> 8) as u32, *d))
                    .collect();
                expected.sort();
                proptest::prop_assert_eq!(gone, expected);
                reference.retain(|_, (first, _)| *first + 5 >= now);
                let seq = id as u32;
                let id = id << 8;
                let dup = c.receive(id, seq, t);
                proptest::prop_assert_eq!(dup, reference.contains_key(&id));
                reference.entry(id).or_insert((now, 0)).1 += dup as u32;
                proptest::prop_assert_eq!(c.len(), reference.len());
                for k in reference.keys() {
                    proptest::prop_assert!(c.contains(*k));
                }
            }
            let mut rest = Vec::new();
            c.drain(|e| rest.push((e.seq, e.copies)));
            rest.sort();
            let mut expected: Vec<(u32, u32)> =
                reference.iter().map(|(k, (_, d))| ((*k >> 8) as u32, *d)).collect();
            expected.sort();
            proptest::prop_assert_eq!(rest, expected);
        }
    }
}
