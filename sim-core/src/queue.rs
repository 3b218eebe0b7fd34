//! The event queue: a priority queue over (time, sequence) with FIFO ties.
//!
//! Two implementations share one interface:
//!
//! - [`QueueKind::BinaryHeap`]: `std::collections::BinaryHeap` over (time, seq). `O(log n)` per
//!   operation, cache-friendly while the queue fits in cache.
//! - [`QueueKind::Radix`]: a monotone radix heap keyed on time. Because the engine only ever
//!   schedules at or after the current time, the keys popped are monotone, so items can be kept
//!   in buckets by the highest base-256 digit in which their time differs from the last minimum
//!   (and that digit's value): 2,048 buckets, each item moving at most 8 times and, for the
//!   usual events (a few hundred ms ahead, microseconds apart), once or twice. Buckets are plain
//!   vectors scanned sequentially: with a million pending events this avoids the cache misses a
//!   binary heap's sift operations incur on every level. The smallest items form a sorted run
//!   at the front (by time, then sequence), so ties are FIFO exactly as in the binary heap and
//!   the next events can be seen before they are popped ([`EventQueue::peek_nth`], which the
//!   engine uses to prefetch their data).
//!
//! [`QueueKind::Auto`] picks the binary heap for runs with fewer than
//! [`AUTO_RADIX_MIN_NODES`] nodes and the radix heap above. Measurements that set the threshold
//! (PHOLD hold workload, one pending event per node, `wakusim bench engine`, release build, on
//! the project's 2-core CI machine type) are recorded in the crate README section of
//! `docs/architecture.md` ("Choosing the queue").
//!
//! Both queues have exactly the same pop order: by time, then by sequence number. Property
//! tests check this, and the radix heap's look-ahead, against a sorted reference.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use crate::time::SimTime;

/// Which priority queue the engine uses. All give the same order; only speed differs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueKind {
    /// Binary heap below [`AUTO_RADIX_MIN_NODES`] nodes, radix heap from there on (default).
    #[default]
    Auto,
    /// Always the binary heap.
    BinaryHeap,
    /// Always the radix heap.
    Radix,
}

/// Node count from which [`QueueKind::Auto`] uses the radix heap.
pub const AUTO_RADIX_MIN_NODES: usize = 5_000;

impl QueueKind {
    /// The concrete kind for a run of `nodes` nodes.
    pub fn resolve(self, nodes: usize) -> QueueKind {
        match self {
            QueueKind::Auto if nodes >= AUTO_RADIX_MIN_NODES => QueueKind::Radix,
            QueueKind::Auto => QueueKind::BinaryHeap,
            k => k,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry<E> {
    time: u64,
    seq: u64,
    ev: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, o: &Self) -> bool {
        self.time == o.time && self.seq == o.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest (time, seq) first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.time, o.seq).cmp(&(self.time, self.seq))
    }
}

/// A monotone radix heap over (time, seq) with FIFO ties, with its smallest items kept as a
/// sorted run at the front.
///
/// The run holds every item not greater than its last item, sorted by (time, seq); the
/// buckets hold the rest, each strictly later than the run's last item. A refill sorts the
/// lowest buckets into the run whole while they are small (up to [`RUN_MAX`] items, until
/// the run has [`RUN_MIN`]), and splits a larger bucket the classic way first. The run is
/// what lets the engine see the next events before it processes them (to prefetch their
/// data: [`EventQueue::peek_nth`]).
#[derive(Debug)]
struct RadixHeap<E> {
    /// The time the buckets are relative to: at most the run's first time.
    last: u64,
    len: usize,
    /// The smallest items, sorted by (time, seq).
    run: Run<E>,
    /// `buckets[level * DIGITS + d]` holds items whose time differs from `last` first in
    /// base-256 digit `level` (bits 8 level .. 8 level + 7), that digit being `d`. In index
    /// order the buckets hold ever later items.
    buckets: Vec<Vec<Entry<E>>>,
    /// Bit b set (word b / 64) when `buckets[b]` is not empty.
    nonempty: [u64; NONEMPTY_WORDS],
    /// Bit w set when `nonempty[w]` is not 0 (finds the lowest bucket in two steps).
    summary: u32,
    /// Scratch for splitting a bucket.
    scratch: Vec<Entry<E>>,
    /// Large allocations of emptied buckets (more than [`KEEP_CAPACITY`] items), at most
    /// [`SPARES`] of them: a bucket that outgrows [`KEEP_CAPACITY`] moves into the largest
    /// instead of doubling through the allocator (the buckets of the next few hundred
    /// milliseconds fill to thousands of items, one after another, all run long).
    spares: Vec<Vec<Entry<E>>>,
}

/// The radix heap's run: a vector read from `head`, so that looking ahead is a plain index
/// (a ring buffer's wrap-around cost a few instructions on each of the engine's look-aheads).
/// The consumed front is dropped when an append would otherwise grow the vector.
#[derive(Debug)]
struct Run<E> {
    items: Vec<Entry<E>>,
    head: usize,
}

impl<E> Default for Run<E> {
    fn default() -> Self {
        Run {
            items: Vec::new(),
            head: 0,
        }
    }
}

impl<E: Copy> Run<E> {
    #[inline]
    fn len(&self) -> usize {
        self.items.len() - self.head
    }
    #[inline]
    fn is_empty(&self) -> bool {
        self.head == self.items.len()
    }
    #[inline]
    fn get(&self, k: usize) -> Option<&Entry<E>> {
        self.items.get(self.head + k)
    }
    #[inline]
    fn front(&self) -> Option<&Entry<E>> {
        self.get(0)
    }
    #[inline]
    fn back(&self) -> Option<&Entry<E>> {
        self.items[self.head..].last()
    }
    #[inline]
    fn pop_front(&mut self) -> Option<Entry<E>> {
        let e = *self.items.get(self.head)?;
        self.head += 1;
        if self.head == self.items.len() {
            self.items.clear();
            self.head = 0;
        }
        Some(e)
    }
    /// Makes room for `n` more items without growing when the consumed front can go instead.
    #[inline]
    fn reserve(&mut self, n: usize) {
        if self.items.len() + n > self.items.capacity() && self.head > 0 {
            self.items.drain(..self.head);
            self.head = 0;
        }
    }
    #[inline]
    fn push_back(&mut self, e: Entry<E>) {
        self.reserve(1);
        self.items.push(e);
    }
    fn extend_from_slice(&mut self, es: &[Entry<E>]) {
        self.reserve(es.len());
        self.items.extend_from_slice(es);
    }
    /// Inserts `e` at its place in (time, seq) order.
    fn insert_sorted(&mut self, e: Entry<E>) {
        self.reserve(1);
        let pos = self.items[self.head..].partition_point(|x| (x.time, x.seq) < (e.time, e.seq));
        self.items.insert(self.head + pos, e);
    }
}

/// A pop tops the run up from the buckets when fewer than this many items remain (the
/// engine looks this far ahead).
const TOP_UP: usize = 8;
/// A refill stops adding buckets to the run once it has this many items.
const RUN_MIN: usize = 16;
/// A bucket larger than this is split before it joins the run; the run does not grow past it
/// by refills.
const RUN_MAX: usize = 64;
/// Largest allocation (in items) an emptied bucket keeps.
const KEEP_CAPACITY: usize = 4 * RUN_MAX;
/// Most large allocations kept for buckets that outgrow [`KEEP_CAPACITY`]. On relay-10k the
/// next second's level-3 buckets (16.8 ms each, about 60) fill to a few thousand items each
/// and are emptied one by one; 64 spares of 4,096 items are 6 MB (callgrind, relay-10k: the
/// regrowth's copying cost 33 instructions per event with 8 spares, 22 with 64).
const SPARES: usize = 64;
/// Largest allocation (in items) kept as a spare: the buckets of a steady run hold a few
/// thousand items (relay-10k: 187,000 events/s, about 3,000 in a 16.8 ms level-3 bucket); the
/// start of a run, every node starting at once, fills a few with hundreds of thousands, which
/// are let go (keeping them cost 37 MB on relay-10k).
const SPARE_MAX_CAPACITY: usize = 16 * 1024;

/// Bits per radix digit: each split resolves one digit, so an item moves at most 8 times and,
/// for events a few hundred ms ahead among events microseconds apart, once or twice (base 16
/// moved them about 4 times, base 2 about 16; on relay-10k base 256 costs a quarter fewer
/// instructions in refills than base 16, and leaves buckets of a few dozen items to sort).
const DIGIT_BITS: u32 = 8;
const DIGITS: usize = 1 << DIGIT_BITS;
const BUCKETS: usize = 64 / DIGIT_BITS as usize * DIGITS;
const NONEMPTY_WORDS: usize = BUCKETS / 64;
const _: () = assert!(
    NONEMPTY_WORDS <= 32,
    "the summary word has a bit per nonempty word"
);

/// The bucket of `time` relative to `last` (`time >= last`); `None` when they are equal.
#[inline]
fn bucket_of(last: u64, time: u64) -> Option<usize> {
    let x = last ^ time;
    if x == 0 {
        return None;
    }
    let level = (63 - x.leading_zeros()) / DIGIT_BITS;
    let digit = (time >> (level * DIGIT_BITS)) as usize & (DIGITS - 1);
    Some(level as usize * DIGITS + digit)
}

impl<E: Copy> RadixHeap<E> {
    fn new() -> Self {
        RadixHeap {
            last: 0,
            len: 0,
            run: Run::default(),
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            nonempty: [0; NONEMPTY_WORDS],
            summary: 0,
            scratch: Vec::new(),
            spares: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, e: Entry<E>) {
        // The engine never pushes before the last popped time. `last` (the buckets' base)
        // can be ahead of it while the run is not empty (a top-up after the run's last pop
        // sets it to the new run's first time); such a push lands in the run.
        debug_assert!(
            e.time >= self.last || self.run.back().is_some_and(|b| e.time <= b.time),
            "radix heap key below the last popped key"
        );
        self.len += 1;
        match self.run.back() {
            // Usually the seq is larger than any queued (a fresh one): an item goes after all
            // run items of its time. A delivery the engine reschedules keeps its seq.
            Some(b) if e.time > b.time || (e.time == b.time && e.seq > b.seq) => {
                if e.time == b.time {
                    self.run.push_back(e);
                } else {
                    self.bucket_push(e);
                }
            }
            Some(_) => self.run.insert_sorted(e),
            None => {
                if e.time == self.last {
                    self.run.push_back(e);
                } else {
                    self.bucket_push(e);
                }
            }
        }
    }

    #[inline]
    fn bucket_push(&mut self, e: Entry<E>) {
        let b = bucket_of(self.last, e.time).expect("later than the run");
        self.push_to(b, e);
    }

    /// Appends `e` to bucket `b` and marks it non-empty.
    #[inline]
    fn push_to(&mut self, b: usize, e: Entry<E>) {
        let v = &self.buckets[b];
        if v.len() == v.capacity() && v.capacity() >= KEEP_CAPACITY {
            self.grow_from_spare(b);
        }
        self.buckets[b].push(e);
        self.nonempty[b / 64] |= 1 << (b % 64);
        self.summary |= 1 << (b / 64);
    }

    /// The lowest non-empty bucket.
    #[inline]
    fn lowest(&self) -> Option<usize> {
        if self.summary == 0 {
            return None;
        }
        let w = self.summary.trailing_zeros() as usize;
        Some(w * 64 + self.nonempty[w].trailing_zeros() as usize)
    }

    #[inline]
    fn mark_empty(&mut self, b: usize) {
        self.nonempty[b / 64] &= !(1 << (b % 64));
        if self.nonempty[b / 64] == 0 {
            self.summary &= !(1 << (b / 64));
        }
    }

    #[inline]
    fn pop(&mut self) -> Option<Entry<E>> {
        if self.run.is_empty() {
            if self.len == 0 {
                return None;
            }
            self.refill();
        }
        self.len -= 1;
        let e = self.run.pop_front();
        if self.run.len() < TOP_UP {
            self.top_up();
        }
        e
    }

    /// Appends the lowest buckets to a short run while they are small, so that the next
    /// [`TOP_UP`] events stay visible. The lowest bucket's items are all later than the run
    /// and earlier than every other bucket. `last` stays as it is unless the run was empty
    /// (it then becomes the new run's first time, possibly after the last popped time).
    #[cold]
    fn top_up(&mut self) {
        while self.run.len() < RUN_MIN
            && let Some(b) = self.lowest()
        {
            if self.run.len() + self.buckets[b].len() > RUN_MAX {
                return;
            }
            self.take_bucket(b);
        }
    }

    /// Moves bucket `b` (the lowest non-empty one) to the back of the run, sorted.
    fn take_bucket(&mut self, b: usize) {
        let mut items = std::mem::take(&mut self.buckets[b]);
        self.mark_empty(b);
        items.sort_unstable_by_key(|e| (e.time, e.seq));
        if self.run.is_empty() {
            self.last = items[0].time;
        }
        self.run.extend_from_slice(&items);
        self.give_back(b, items);
    }

    /// Gives emptied bucket `b` its allocation back for reuse, unless it is large: 2,048
    /// buckets each keeping the most it ever held came to a quarter of the memory of a
    /// 10,000-node run. A large allocation becomes a spare (replacing the smallest spare when
    /// there are [`SPARES`]) unless it is larger than [`SPARE_MAX_CAPACITY`].
    fn give_back(&mut self, b: usize, mut items: Vec<Entry<E>>) {
        items.clear();
        if items.capacity() <= KEEP_CAPACITY {
            self.buckets[b] = items;
        } else {
            self.keep_spare(items);
        }
    }

    /// Keeps `items` (empty) as a spare unless it is too large, dropping the smallest spare when
    /// there are too many.
    fn keep_spare(&mut self, items: Vec<Entry<E>>) {
        if items.capacity() > SPARE_MAX_CAPACITY {
            return;
        }
        self.spares.push(items);
        if self.spares.len() > SPARES {
            let smallest = (0..self.spares.len())
                .min_by_key(|&i| self.spares[i].capacity())
                .expect("spares is not empty");
            self.spares.swap_remove(smallest);
        }
    }

    /// Bucket `b` is full at [`KEEP_CAPACITY`] items or more: moves it into the largest spare
    /// if that one is larger (its old allocation becoming a spare in turn).
    #[cold]
    fn grow_from_spare(&mut self, b: usize) {
        let Some(largest) = (0..self.spares.len()).max_by_key(|&i| self.spares[i].capacity())
        else {
            return;
        };
        if self.spares[largest].capacity() <= self.buckets[b].len() {
            return;
        }
        let mut spare = self.spares.swap_remove(largest);
        spare.extend_from_slice(&self.buckets[b]);
        let mut old = std::mem::replace(&mut self.buckets[b], spare);
        old.clear();
        self.keep_spare(old);
    }

    #[cold]
    fn refill(&mut self) {
        debug_assert!(self.run.is_empty());
        if self.run.items.capacity() > 16 * KEEP_CAPACITY {
            // A burst of equal times (every start at time zero) grew it; let it go.
            self.run = Run::default();
        }
        // Split the lowest bucket until one is small enough to become the run whole: its
        // items are the smallest, and the buckets above stay valid relative to its minimum
        // (they differ from it in the same highest digit, with the same value, as from
        // `last`). Then top the run up like a pop does.
        while self.run.is_empty() {
            let b = self.lowest().expect("radix heap length says items remain");
            if self.buckets[b].len() > RUN_MAX {
                self.split(b);
            } else {
                self.take_bucket(b);
            }
        }
        self.top_up();
    }

    /// Redistributes bucket `b` relative to its minimum: the items at the minimum become the
    /// run (by seq), the rest go to lower buckets.
    fn split(&mut self, b: usize) {
        let items = std::mem::take(&mut self.buckets[b]);
        self.mark_empty(b);
        let min = items
            .iter()
            .map(|e| e.time)
            .min()
            .expect("bucket is non-empty");
        self.last = min;
        let mut zero = std::mem::take(&mut self.scratch);
        for e in &items {
            // Items of one bucket share every digit from its level up: relative to their
            // minimum they differ in a lower digit, so they land in lower buckets.
            match bucket_of(min, e.time) {
                None => zero.push(*e),
                Some(nb) => {
                    debug_assert!(nb < b);
                    self.push_to(nb, *e);
                }
            }
        }
        zero.sort_unstable_by_key(|e| e.seq);
        self.run.extend_from_slice(&zero);
        zero.clear();
        self.scratch = zero;
        self.give_back(b, items);
    }

    #[inline]
    fn peek_nth(&self, k: usize) -> Option<E> {
        self.run.get(k).map(|e| e.ev)
    }

    fn peek_time(&mut self) -> Option<u64> {
        if self.run.is_empty() {
            if self.len == 0 {
                return None;
            }
            self.refill();
        }
        self.run.front().map(|e| e.time)
    }
}

/// The engine's event queue.
#[derive(Debug)]
pub struct EventQueue<E> {
    inner: Inner<E>,
}

#[derive(Debug)]
enum Inner<E> {
    Heap(BinaryHeap<Entry<E>>),
    Radix(Box<RadixHeap<E>>),
}

impl<E> EventQueue<E> {
    /// The bytes the queue reserved on the heap: its entries' capacity (the binary heap's
    /// vector; the radix heap's buckets, run, scratch and spare allocations) and the radix
    /// heap's record.
    pub fn heap_bytes(&self) -> u64 {
        use crate::memory::vec_bytes;
        match &self.inner {
            Inner::Heap(h) => (h.capacity() * std::mem::size_of::<Entry<E>>()) as u64,
            Inner::Radix(r) => {
                std::mem::size_of::<RadixHeap<E>>() as u64
                    + vec_bytes(&r.buckets)
                    + r.buckets.iter().map(vec_bytes).sum::<u64>()
                    + vec_bytes(&r.run.items)
                    + vec_bytes(&r.scratch)
                    + vec_bytes(&r.spares)
                    + r.spares.iter().map(vec_bytes).sum::<u64>()
            }
        }
    }
}

impl<E: Copy> EventQueue<E> {
    /// An empty queue of the given kind ([`QueueKind::Auto`] must be resolved first; it is
    /// treated as the binary heap here).
    pub fn new(kind: QueueKind) -> Self {
        let inner = match kind {
            QueueKind::Radix => Inner::Radix(Box::new(RadixHeap::new())),
            QueueKind::BinaryHeap | QueueKind::Auto => Inner::Heap(BinaryHeap::new()),
        };
        EventQueue { inner }
    }

    /// Adds an event. `time` must not be earlier than the last popped time.
    #[inline]
    pub fn push(&mut self, time: SimTime, seq: u64, ev: E) {
        let e = Entry {
            time: time.as_nanos(),
            seq,
            ev,
        };
        match &mut self.inner {
            Inner::Heap(h) => h.push(e),
            Inner::Radix(r) => r.push(e),
        }
    }

    /// Removes and returns the earliest event: (time, seq, event).
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, u64, E)> {
        let e = match &mut self.inner {
            Inner::Heap(h) => h.pop(),
            Inner::Radix(r) => r.pop(),
        }?;
        Some((SimTime::from_nanos(e.time), e.seq, e.ev))
    }

    /// The event `k` places behind the next one, when the queue can tell cheaply (the radix
    /// heap's current bucket); `None` otherwise. For prefetching only.
    #[inline]
    pub fn peek_nth(&self, k: usize) -> Option<E> {
        match &self.inner {
            Inner::Heap(_) => None,
            Inner::Radix(r) => r.peek_nth(k),
        }
    }

    /// The time of the earliest event, if any.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        match &mut self.inner {
            Inner::Heap(h) => h.peek().map(|e| e.time),
            Inner::Radix(r) => r.peek_time(),
        }
        .map(SimTime::from_nanos)
    }

    /// Number of queued events.
    pub fn len(&self) -> usize {
        match &self.inner {
            Inner::Heap(h) => h.len(),
            Inner::Radix(r) => r.len,
        }
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain(q: &mut EventQueue<u32>) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        while let Some((t, s, _)) = q.pop() {
            out.push((t.as_nanos(), s));
        }
        out
    }

    #[test]
    fn ties_pop_in_insertion_order() {
        for kind in [QueueKind::BinaryHeap, QueueKind::Radix] {
            let mut q = EventQueue::new(kind);
            for s in 0..10u64 {
                q.push(SimTime::from_nanos(5), s, s as u32);
            }
            q.push(SimTime::from_nanos(1), 10, 10);
            let order: Vec<u64> = drain(&mut q).into_iter().map(|(_, s)| s).collect();
            assert_eq!(order, vec![10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "{kind:?}");
        }
    }

    /// A bucket that outgrows [`KEEP_CAPACITY`] moves into a spare left by an emptied large
    /// bucket instead of growing through the allocator, and the order stays exact. Times:
    /// 3,000 items at 1 ms + i ns share the level-1..2 digits above bit 16 (1 ms = 0xF4240, so
    /// 1,000,000..1,002,999 all lie in one 65,536-ns level-2 bucket relative to time 0); the
    /// second wave, 10 ms later, lands in one bucket of its own the same way.
    #[test]
    fn a_large_bucket_reuses_a_spare_allocation() {
        let mut q: EventQueue<u64> = EventQueue::new(QueueKind::Radix);
        let mut seq = 0;
        let mut wave = |q: &mut EventQueue<u64>, base: u64| {
            for i in (0..3_000u64).rev() {
                q.push(SimTime::from_nanos(base + i), seq, base + i);
                seq += 1;
            }
        };
        q.push(SimTime::ZERO, u64::MAX, 0);
        wave(&mut q, 1_000_000);
        assert_eq!(q.pop().map(|(t, _, _)| t), Some(SimTime::ZERO));
        let Inner::Radix(r) = &q.inner else {
            unreachable!()
        };
        let big = r.lowest().expect("the wave is queued");
        assert_eq!(r.buckets[big].len(), 3_000, "one bucket holds the wave");
        for i in 0..1_000u64 {
            assert_eq!(q.pop().map(|(_, _, ev)| ev), Some(1_000_000 + i));
        }
        let Inner::Radix(r) = &q.inner else {
            unreachable!()
        };
        let spare = r.spares.iter().map(|v| v.as_ptr()).collect::<Vec<_>>();
        assert!(!spare.is_empty(), "the split bucket's allocation is kept");
        wave(&mut q, 11_000_000);
        let Inner::Radix(r) = &q.inner else {
            unreachable!()
        };
        let b = bucket_of(r.last, 11_000_000).expect("later than the run");
        assert_eq!(r.buckets[b].len(), 3_000);
        assert!(
            spare.contains(&r.buckets[b].as_ptr()),
            "the second wave's bucket lives in a spare"
        );
        for base in [1_000_000u64, 11_000_000] {
            let from = if base == 1_000_000 { 1_000 } else { 0 };
            for i in from..3_000u64 {
                assert_eq!(q.pop().map(|(_, _, ev)| ev), Some(base + i));
            }
        }
        assert!(q.pop().is_none());
    }

    /// Drives both queues through bursts far larger than the radix heap's run bounds (splits,
    /// top-ups, pushes landing inside the run, long equal-time stretches) and checks each pop
    /// and the look-ahead against a sorted reference: `peek_nth(k)` must be the k-th next event
    /// whenever the queue reports one.
    fn bursts_match_reference(ops: &[(u8, u32, u16)]) -> Result<(), TestCaseError> {
        let mut q: EventQueue<u64> = EventQueue::new(QueueKind::Radix);
        let mut reference = std::collections::BTreeSet::new();
        let (mut now, mut seq) = (0u64, 0u64);
        for &(kind, delta, count) in ops {
            match kind % 4 {
                // A burst of pushes at spread-out times (splits, many buckets).
                0 | 1 => {
                    for i in 0..(count % 300) as u64 {
                        let t = now + (delta as u64 * (i + 1)) % 5_000_000;
                        q.push(SimTime::from_nanos(t), seq, seq);
                        reference.insert((t, seq));
                        seq += 1;
                    }
                }
                // Pushes at a few close times (inside the run, equal times); every other
                // burst reuses earlier sequence numbers, as the engine does when it moves a
                // delivery (such an item must still pop in (time, seq) order).
                2 => {
                    let reuse = kind / 4 % 2 == 1;
                    for i in 0..(count % 40) as u64 {
                        let t = now + (delta as u64 % 7) * (i % 3);
                        let s = if reuse {
                            seq.saturating_sub(1 + (delta as u64 + i) % 50)
                        } else {
                            seq += 1;
                            seq - 1
                        };
                        if reference.insert((t, s)) {
                            q.push(SimTime::from_nanos(t), s, s);
                        }
                    }
                }
                // Pops, checking the look-ahead first.
                _ => {
                    for _ in 0..(count % 200) {
                        let ahead: Vec<(u64, u64)> = reference.iter().take(12).copied().collect();
                        for (k, want) in ahead.iter().enumerate() {
                            if let Some(ev) = q.peek_nth(k) {
                                prop_assert_eq!(ev, want.1, "peek_nth({})", k);
                            }
                        }
                        let Some(want) = reference.pop_first() else {
                            break;
                        };
                        let (t, s, ev) = q.pop().expect("reference has items");
                        prop_assert_eq!((t.as_nanos(), s, ev), (want.0, want.1, want.1));
                        now = t.as_nanos();
                    }
                }
            }
        }
        while let Some(want) = reference.pop_first() {
            let (t, s, _) = q.pop().expect("reference has items");
            prop_assert_eq!((t.as_nanos(), s), want);
        }
        prop_assert!(q.pop().is_none());
        Ok(())
    }

    proptest! {
        #[test]
        fn radix_bursts_and_lookahead_match_a_sorted_reference(
            ops in prop::collection::vec((any::<u8>(), 1u32..2_000_000, any::<u16>()), 1..60)
        ) {
            bursts_match_reference(&ops)?;
        }

        /// Interleaved pushes (never before the last popped time, as the engine guarantees) and
        /// pops give exactly the order of a sorted reference, for both kinds.
        #[test]
        fn both_queues_match_a_sorted_reference(ops in prop::collection::vec((0u64..1000, any::<bool>()), 1..400)) {
            for kind in [QueueKind::BinaryHeap, QueueKind::Radix] {
                let mut q = EventQueue::new(kind);
                let mut reference: Vec<(u64, u64)> = Vec::new();
                let mut now = 0u64;
                let mut seq = 0u64;
                let mut popped = Vec::new();
                let mut expected = Vec::new();
                for &(delta, pop) in &ops {
                    if pop && !reference.is_empty() {
                        reference.sort();
                        let want = reference.remove(0);
                        let (t, s, _) = q.pop().unwrap();
                        now = t.as_nanos();
                        popped.push((t.as_nanos(), s));
                        expected.push(want);
                    } else {
                        let t = now + delta % 3 * delta; // many ties at `now`
                        q.push(SimTime::from_nanos(t), seq, 0);
                        reference.push((t, seq));
                        seq += 1;
                    }
                }
                reference.sort();
                expected.extend(reference);
                popped.extend(drain(&mut q));
                prop_assert_eq!(popped, expected);
            }
        }
    }
}
