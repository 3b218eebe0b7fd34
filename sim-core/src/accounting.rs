//! Byte and message accounting per node, per category, per direction; drops by reason; and
//! run-wide per-interval totals for time series.
//!
//! Categories are small integers ([`Category`]) handed out by a [`CategoryTable`] that the layer
//! above fills with (protocol, kind) names before the run. Counters live in one dense array
//! indexed by `node * categories + category`, so the layout scales to a million nodes without a
//! map lookup on the hot path: with 20 categories a node costs 20 x 24 B = 480 B.

use serde::Serialize;

use crate::NodeId;
use crate::time::{SimDuration, SimTime};

/// A (protocol, message kind) bucket for accounting, e.g. ("relay", "ihave").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Category(pub u16);

/// The names of the categories of a run, in registration order.
#[derive(Clone, Debug, Default)]
pub struct CategoryTable {
    names: Vec<(String, String)>,
}

impl CategoryTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }
    /// Registers (protocol, kind) and returns its category; registering the same pair again
    /// returns the category it already has.
    pub fn register(&mut self, protocol: &str, kind: &str) -> Category {
        if let Some(i) = self
            .names
            .iter()
            .position(|(p, k)| p == protocol && k == kind)
        {
            return Category(i as u16);
        }
        assert!(self.names.len() < u16::MAX as usize, "too many categories");
        self.names.push((protocol.to_owned(), kind.to_owned()));
        Category((self.names.len() - 1) as u16)
    }
    /// Number of categories.
    pub fn len(&self) -> usize {
        self.names.len()
    }
    /// True when no category is registered.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    /// The (protocol, kind) of a category.
    pub fn name(&self, c: Category) -> (&str, &str) {
        let (p, k) = &self.names[c.0 as usize];
        (p, k)
    }
    /// All categories with their names, in order.
    pub fn iter(&self) -> impl Iterator<Item = (Category, &str, &str)> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, (p, k))| (Category(i as u16), p.as_str(), k.as_str()))
    }
}

/// Traffic direction, from the point of view of the node being counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Received by the node.
    In,
    /// Sent by the node.
    Out,
}

/// Why the network dropped a message. Drops are counted against the intended receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The receiver was offline when the message arrived.
    ReceiverOffline,
    /// The sender was offline when it tried to send.
    SenderOffline,
    /// A partition separated sender and receiver.
    Partition,
    /// Random datagram loss (configured or from a degradation).
    Loss,
    /// A stream message was sent to a peer without an open connection.
    NoConnection,
    /// The connection closed while the message was in flight.
    ConnectionClosed,
    /// The sender's upload queue already held more than its configured bound.
    UploadQueueFull,
}

impl DropReason {
    /// Every reason, in a fixed order (the order of the counters).
    pub const ALL: [DropReason; 7] = [
        DropReason::ReceiverOffline,
        DropReason::SenderOffline,
        DropReason::Partition,
        DropReason::Loss,
        DropReason::NoConnection,
        DropReason::ConnectionClosed,
        DropReason::UploadQueueFull,
    ];
    /// A stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::ReceiverOffline => "receiver_offline",
            DropReason::SenderOffline => "sender_offline",
            DropReason::Partition => "partition",
            DropReason::Loss => "loss",
            DropReason::NoConnection => "no_connection",
            DropReason::ConnectionClosed => "connection_closed",
            DropReason::UploadQueueFull => "upload_queue_full",
        }
    }
}

/// Counters for one (node, category).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Messages received.
    pub msgs_in: u32,
    /// Messages sent.
    pub msgs_out: u32,
}

impl Counters {
    /// Bytes in the given direction.
    pub fn bytes(&self, d: Direction) -> u64 {
        match d {
            Direction::In => self.bytes_in,
            Direction::Out => self.bytes_out,
        }
    }
    /// Messages in the given direction.
    pub fn msgs(&self, d: Direction) -> u64 {
        match d {
            Direction::In => self.msgs_in as u64,
            Direction::Out => self.msgs_out as u64,
        }
    }
    /// Counter-wise difference `self - earlier` (for a measured window).
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            bytes_in: self.bytes_in - earlier.bytes_in,
            bytes_out: self.bytes_out - earlier.bytes_out,
            msgs_in: self.msgs_in - earlier.msgs_in,
            msgs_out: self.msgs_out - earlier.msgs_out,
        }
    }
}

/// Upper bound on the number of time-series intervals kept; traffic after the last interval is
/// added to the last one (documented bound, so a long run with a short interval cannot grow
/// without limit).
pub const MAX_SERIES_INTERVALS: usize = 1 << 20;

/// All counters of a run.
#[derive(Clone, Debug)]
pub struct Accounting {
    nodes: usize,
    cats: usize,
    per_node: Vec<Counters>,
    drops: Vec<u32>,
    drops_total: [u64; DropReason::ALL.len()],
    interval: SimDuration,
    /// `series[i * cats * 2 + c * 2 + dir]` = bytes in interval i (dir 0 = in, 1 = out).
    series: Vec<u64>,
    /// The interval last counted into: [start, end) in ns and its offset in `series` (saves
    /// a division per count; recomputed when time leaves it).
    cur: (u64, u64, usize),
}

impl Accounting {
    /// The bytes the counters hold: (per node and category, drops per node and reason, the
    /// time series), each `capacity x item size`.
    pub fn heap_bytes(&self) -> (u64, u64, u64) {
        use crate::memory::vec_bytes;
        (
            vec_bytes(&self.per_node),
            vec_bytes(&self.drops),
            vec_bytes(&self.series),
        )
    }

    /// Counters for `nodes` nodes and `cats` categories, with time-series intervals of
    /// `interval` (must be positive).
    pub fn new(nodes: usize, cats: usize, interval: SimDuration) -> Self {
        assert!(
            interval > SimDuration::ZERO,
            "series interval must be positive"
        );
        Accounting {
            nodes,
            cats,
            per_node: vec![Counters::default(); nodes * cats],
            drops: vec![0; nodes * DropReason::ALL.len()],
            drops_total: [0; DropReason::ALL.len()],
            interval,
            series: Vec::new(),
            cur: (0, 0, 0),
        }
    }

    #[inline]
    fn series_slot(&mut self, now: SimTime, cat: Category, dir: usize) -> &mut u64 {
        let t = now.as_nanos();
        if t < self.cur.0 || t >= self.cur.1 {
            self.enter_interval(t);
        }
        &mut self.series[self.cur.2 + cat.0 as usize * 2 + dir]
    }

    /// Makes the interval holding `t` the current one, growing the series to it.
    #[cold]
    fn enter_interval(&mut self, t: u64) {
        let len = self.interval.as_nanos();
        let idx = ((t / len) as usize).min(MAX_SERIES_INTERVALS - 1);
        let stride = self.cats * 2;
        let need = (idx + 1) * stride;
        if self.series.len() < need {
            self.series.resize(need, 0);
        }
        let (start, end) = if idx == MAX_SERIES_INTERVALS - 1 {
            (idx as u64 * len, u64::MAX)
        } else {
            (idx as u64 * len, (idx as u64 + 1) * len)
        };
        self.cur = (start, end, idx * stride);
    }

    /// Prefetches the counters `count_in` will touch for `node` and `cat` (a hint only).
    #[inline]
    pub fn prefetch(&self, node: NodeId, cat: Category) {
        let i = node.index() * self.cats + cat.0 as usize;
        crate::prefetch::prefetch_obj(self.per_node.as_ptr().wrapping_add(i));
    }

    /// Counts `bytes` sent by `node` under `cat` at `now`.
    #[inline]
    pub fn count_out(&mut self, now: SimTime, node: NodeId, cat: Category, bytes: u64) {
        let c = &mut self.per_node[node.index() * self.cats + cat.0 as usize];
        c.bytes_out += bytes;
        c.msgs_out += 1;
        *self.series_slot(now, cat, 1) += bytes;
    }

    /// Counts `bytes` received by `node` under `cat` at `now`.
    #[inline]
    pub fn count_in(&mut self, now: SimTime, node: NodeId, cat: Category, bytes: u64) {
        let c = &mut self.per_node[node.index() * self.cats + cat.0 as usize];
        c.bytes_in += bytes;
        c.msgs_in += 1;
        *self.series_slot(now, cat, 0) += bytes;
    }

    /// Counts bytes that belong to a message already counted (framing overhead): bytes only,
    /// no message.
    #[inline]
    pub fn count_bytes(
        &mut self,
        now: SimTime,
        node: NodeId,
        cat: Category,
        dir: Direction,
        bytes: u64,
    ) {
        let c = &mut self.per_node[node.index() * self.cats + cat.0 as usize];
        match dir {
            Direction::In => c.bytes_in += bytes,
            Direction::Out => c.bytes_out += bytes,
        }
        *self.series_slot(now, cat, if dir == Direction::In { 0 } else { 1 }) += bytes;
    }

    /// Counts a drop of a message meant for `node`.
    #[inline]
    pub fn count_drop(&mut self, node: NodeId, reason: DropReason) {
        let r = reason as usize;
        self.drops[node.index() * DropReason::ALL.len() + r] += 1;
        self.drops_total[r] += 1;
    }

    /// Number of nodes counted.
    pub fn nodes(&self) -> usize {
        self.nodes
    }
    /// Number of categories counted.
    pub fn categories(&self) -> usize {
        self.cats
    }
    /// The counters of one node and category.
    pub fn get(&self, node: NodeId, cat: Category) -> &Counters {
        &self.per_node[node.index() * self.cats + cat.0 as usize]
    }
    /// All categories of one node.
    pub fn node(&self, node: NodeId) -> &[Counters] {
        let s = node.index() * self.cats;
        &self.per_node[s..s + self.cats]
    }
    /// Drops of messages meant for `node`, by reason.
    pub fn drops(&self, node: NodeId, reason: DropReason) -> u32 {
        self.drops[node.index() * DropReason::ALL.len() + reason as usize]
    }
    /// Drops over all nodes, by reason.
    pub fn drops_total(&self, reason: DropReason) -> u64 {
        self.drops_total[reason as usize]
    }
    /// Length of one time-series interval.
    pub fn interval(&self) -> SimDuration {
        self.interval
    }
    /// Number of time-series intervals recorded so far.
    pub fn series_len(&self) -> usize {
        if self.cats == 0 {
            0
        } else {
            self.series.len() / (self.cats * 2)
        }
    }
    /// Bytes under `cat` in direction `dir` summed over all nodes, in interval `i`.
    pub fn series_bytes(&self, i: usize, cat: Category, dir: Direction) -> u64 {
        let stride = self.cats * 2;
        let d = if dir == Direction::In { 0 } else { 1 };
        self.series
            .get(i * stride + cat.0 as usize * 2 + d)
            .copied()
            .unwrap_or(0)
    }
    /// A copy of the per-node counters, to subtract later for a measured window
    /// (see [`Counters::since`]).
    pub fn snapshot(&self) -> Vec<Counters> {
        self.per_node.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_node_category_and_interval() {
        let mut t = CategoryTable::new();
        let a = t.register("relay", "publish");
        let b = t.register("relay", "ihave");
        assert_eq!(t.register("relay", "publish"), a);
        let mut acc = Accounting::new(3, t.len(), SimDuration::from_secs(1));
        acc.count_out(SimTime::from_millis(500), NodeId(1), a, 100);
        acc.count_in(SimTime::from_millis(1500), NodeId(2), a, 100);
        acc.count_out(SimTime::from_millis(1500), NodeId(1), b, 7);
        assert_eq!(acc.get(NodeId(1), a).bytes_out, 100);
        assert_eq!(acc.get(NodeId(2), a).bytes_in, 100);
        assert_eq!(acc.get(NodeId(0), a), &Counters::default());
        assert_eq!(acc.series_bytes(0, a, Direction::Out), 100);
        assert_eq!(acc.series_bytes(1, a, Direction::In), 100);
        assert_eq!(acc.series_bytes(1, b, Direction::Out), 7);
        assert_eq!(acc.series_len(), 2);
        acc.count_drop(NodeId(2), DropReason::Loss);
        assert_eq!(acc.drops(NodeId(2), DropReason::Loss), 1);
        assert_eq!(acc.drops_total(DropReason::Loss), 1);
    }
}
