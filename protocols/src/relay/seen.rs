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
//! Layout: an open-addressing table (linear probing, load at most 1/2) of 16-byte entries,
//! keyed by the id's low bits (ids are sha256 prefixes, already uniform), and a FIFO of
//! (expiry, id). No per-entry allocation; a lookup touches one or two cache lines.

use std::collections::VecDeque;

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

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    key: u64,
    seq: u32,
    copies: u16,
    used: bool,
}

/// Entries of the most recent insertions kept inline (see [`SeenCache`]).
const RECENT: usize = 8;

#[derive(Clone, Copy, Debug, Default)]
struct Recent {
    key: u64,
    /// Copies counted here, not yet added to the table slot.
    copies: u16,
    live: bool,
}

/// Ids with a time to live.
///
/// The last `RECENT` insertions are mirrored in a small inline ring that answers lookups
/// and counts duplicates without touching the table: the ids a node is asked about (copies of
/// messages it just received, IHAVE of the last heartbeats) are nearly always recent, and the
/// table's line for an id is otherwise a cache miss per lookup. A ring entry's duplicate
/// count is added to its slot when the entry leaves the ring.
///
/// `repr(C)`, the fields every receipt reads first (expiry check, ring).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct SeenCache {
    /// Expiry of the oldest entry (`SimTime::MAX` when empty): most calls to `expire` stop
    /// here without touching the FIFO.
    next: SimTime,
    recent_pos: usize,
    recent: [Recent; RECENT],
    ttl: SimDuration,
    slots: Vec<Slot>,
    len: usize,
    fifo: VecDeque<(SimTime, u64)>,
}

impl SeenCache {
    /// Bytes the cache reserved on the heap (the table and the expiry FIFO) and its entries.
    pub fn heap_bytes(&self) -> (u64, u64) {
        (
            sim_core::memory::vec_bytes(&self.slots) + sim_core::memory::deque_bytes(&self.fifo),
            self.len as u64,
        )
    }

    /// An empty cache with the given time to live.
    pub fn new(ttl: SimDuration) -> Self {
        SeenCache {
            recent: [Recent::default(); RECENT],
            recent_pos: 0,
            ttl,
            slots: Vec::new(),
            len: 0,
            fifo: VecDeque::new(),
            next: SimTime::MAX,
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    #[inline]
    fn find(&self, key: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let m = self.mask();
        let mut i = key as usize & m;
        loop {
            let sl = &self.slots[i];
            if !sl.used {
                return None;
            }
            if sl.key == key {
                return Some(i);
            }
            i = (i + 1) & m;
        }
    }

    /// Prefetches the table line a lookup of `id` starts at (a hint only).
    #[inline]
    pub fn prefetch(&self, id: MsgId) {
        if !self.slots.is_empty() {
            let i = id as usize & self.mask();
            sim_core::prefetch::prefetch(self.slots.as_ptr().wrapping_add(i));
        }
    }

    /// Whether `id` is among the recent insertions (no table access).
    #[inline]
    pub fn recently_seen(&self, id: MsgId) -> bool {
        self.recent.iter().any(|r| r.live && r.key == id)
    }

    /// Whether `id` is remembered.
    #[inline]
    pub fn contains(&self, id: MsgId) -> bool {
        self.recently_seen(id) || self.find(id).is_some()
    }

    /// Removes `key` from the ring, returning the copies it counted there.
    fn take_recent(&mut self, key: u64) -> u32 {
        match self.recent.iter_mut().find(|r| r.live && r.key == key) {
            Some(r) => {
                r.live = false;
                r.copies as u32
            }
            None => 0,
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); cap]);
        let m = cap - 1;
        for s in old.into_iter().filter(|s| s.used) {
            let mut i = s.key as usize & m;
            while self.slots[i].used {
                i = (i + 1) & m;
            }
            self.slots[i] = s;
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
        if let Some(i) = self.find(key) {
            self.slots[i].copies = self.slots[i].copies.saturating_add(1);
            return true;
        }
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let m = self.mask();
        let mut i = key as usize & m;
        while self.slots[i].used {
            i = (i + 1) & m;
        }
        self.slots[i] = Slot {
            key,
            seq,
            copies: 0,
            used: true,
        };
        self.len += 1;
        let expires = now + self.ttl;
        if self.fifo.is_empty() {
            self.next = expires;
        }
        self.fifo.push_back((expires, key));
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
            && let Some(j) = self.find(old.key)
        {
            self.slots[j].copies = self.slots[j].copies.saturating_add(old.copies);
        }
        false
    }

    /// Removes the entry at `i` (backward-shift deletion keeps probe chains intact).
    fn remove_at(&mut self, mut i: usize) -> Slot {
        let m = self.mask();
        let gone = self.slots[i];
        self.len -= 1;
        let mut j = i;
        loop {
            j = (j + 1) & m;
            if !self.slots[j].used {
                break;
            }
            let home = self.slots[j].key as usize & m;
            // Move j back to i when its home is not cyclically in (i, j].
            let in_range = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !in_range {
                self.slots[i] = self.slots[j];
                i = j;
            }
        }
        self.slots[i] = Slot::default();
        gone
    }

    /// Removes entries that expired before `now`, calling `gone` for each.
    #[inline]
    pub fn expire(&mut self, now: SimTime, mut gone: impl FnMut(SeenEntry)) {
        if self.next >= now {
            return;
        }
        while let Some(&(t, key)) = self.fifo.front() {
            if t >= now {
                self.next = t;
                return;
            }
            self.fifo.pop_front();
            if let Some(i) = self.find(key) {
                let s = self.remove_at(i);
                let extra = self.take_recent(key);
                gone(SeenEntry {
                    seq: s.seq,
                    copies: (s.copies as u32 + extra).min(u16::MAX as u32),
                });
            }
        }
        self.next = SimTime::MAX;
    }

    /// Removes every entry, calling `gone` for each, in insertion order.
    pub fn drain(&mut self, mut gone: impl FnMut(SeenEntry)) {
        self.next = SimTime::MAX;
        while let Some((_, key)) = self.fifo.pop_front() {
            if let Some(i) = self.find(key) {
                let s = self.remove_at(i);
                let extra = self.take_recent(key);
                gone(SeenEntry {
                    seq: s.seq,
                    copies: (s.copies as u32 + extra).min(u16::MAX as u32),
                });
            }
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
