//! The Kademlia routing table of one node: 256-bit ids, XOR log-distance, one bucket of at
//! most `k` nodes per log-distance 1..=256 with a replacement cache each, and the bucket and
//! table IP limits (nim-eth `routing_table.nim`).
//!
//! Nodes are run-wide [`NodeId`] indices; their 256-bit ids live once in the run's shared
//! table ([`Id`] per node), so an entry is 5 bytes. Buckets exist only for distances that
//! hold a node (in a network of n nodes a node's table spans about log2(n) distances), kept
//! sorted by distance.
//!
//! Rules (nim-eth): a new node goes to the tail of its bucket (least recently seen) while the
//! bucket has fewer than `k`; a full bucket puts it at the tail of the replacement cache (at
//! most `replacements`, the oldest dropped when full; a node already there moves to the
//! tail). A node that answers moves to the head ([`Table::set_seen`]). A node that fails is
//! removed and the newest replacement takes its place ([`Table::replace`]). IP limits: at most
//! `bucket_ip_limit` nodes of one IP group per bucket (its replacements included) and
//! `table_ip_limit` in the table; a node beyond them is not added anywhere.
//!
//! Not modelled: nim-eth's bucket splitting (a tree of buckets with `bitsPerHop`); the 256
//! fixed buckets of the discv5 specification are used instead. Both keep the k closest
//! nodes of each distance range near the node itself, which is what lookups rely on.

use std::cmp::Ordering;

use sim_core::NodeId;

/// A 256-bit node id, most significant word first.
pub type Id = [u64; 4];

/// The log-distance of two ids: 0 when equal, else 256 minus the number of leading zero
/// bits of their XOR (1..=256).
#[inline]
pub fn log_distance(a: &Id, b: &Id) -> u16 {
    for i in 0..4 {
        let x = a[i] ^ b[i];
        if x != 0 {
            return 256 - (i as u16 * 64 + x.leading_zeros() as u16);
        }
    }
    0
}

/// Compares the XOR distances of `a` and `b` to `target`.
#[inline]
pub fn cmp_distance(target: &Id, a: &Id, b: &Id) -> Ordering {
    for i in 0..4 {
        let (x, y) = (a[i] ^ target[i], b[i] ^ target[i]);
        if x != y {
            return x.cmp(&y);
        }
    }
    Ordering::Equal
}

/// The table's limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Nodes per bucket (k).
    pub k: usize,
    /// Nodes per replacement cache.
    pub replacements: usize,
    /// Nodes of one IP group per bucket (entries and replacements).
    pub bucket_ip: u32,
    /// Nodes of one IP group in the table.
    pub table_ip: u32,
}

/// A node of a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The node.
    pub node: NodeId,
    /// Whether it has answered a request of this node.
    pub seen: bool,
}

#[derive(Clone, Debug)]
struct Bucket {
    /// Head: most recently seen.
    nodes: Vec<Entry>,
    /// Tail: newest.
    repl: Vec<NodeId>,
}

/// What [`Table::add`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// Put in its bucket.
    Added,
    /// Already in its bucket.
    Existing,
    /// Its bucket is full: put in the replacement cache.
    Replacement,
    /// An IP limit is reached: not added.
    IpLimit,
    /// The node itself.
    Local,
}

/// The run-wide facts a table reads: every node's id and IP group.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// Every node's 256-bit id, by node index.
    pub ids: &'a [Id],
    /// Every node's IP group (empty: every node its own).
    pub ip: &'a [u32],
}

impl View<'_> {
    #[inline]
    fn id(&self, n: NodeId) -> &Id {
        &self.ids[n.index()]
    }
    #[inline]
    fn ip(&self, n: NodeId) -> Option<u32> {
        self.ip.get(n.index()).copied()
    }
}

/// One node's routing table.
#[derive(Clone, Debug)]
pub struct Table {
    me: NodeId,
    /// Buckets holding nodes or replacements, by ascending distance.
    buckets: Vec<Bucket>,
    /// The buckets' distances, in the same order: what [`Table::bucket_pos`] searches (one
    /// cache line instead of one per bucket or two).
    dists: Vec<u16>,
    /// (IP group, nodes of it in the table), by group; only with IP groups.
    ip_counts: Vec<(u32, u32)>,
    len: usize,
}

impl Table {
    /// The empty table of node `me`.
    pub fn new(me: NodeId) -> Self {
        Table {
            me,
            buckets: Vec::new(),
            dists: Vec::new(),
            ip_counts: Vec::new(),
            len: 0,
        }
    }

    /// Nodes in buckets (replacements not included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no bucket holds a node.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the table.
    pub fn clear(&mut self) {
        self.buckets.clear();
        self.dists.clear();
        self.ip_counts.clear();
        self.len = 0;
    }

    fn bucket_pos(&self, dist: u16) -> Result<usize, usize> {
        self.dists.binary_search(&dist)
    }

    /// The nodes of the bucket at `dist`, head (most recently seen) first.
    pub fn bucket(&self, dist: u16) -> &[Entry] {
        match self.bucket_pos(dist) {
            Ok(i) => &self.buckets[i].nodes,
            Err(_) => &[],
        }
    }

    /// The replacement cache of the bucket at `dist`, oldest first.
    pub fn replacements(&self, dist: u16) -> &[NodeId] {
        match self.bucket_pos(dist) {
            Ok(i) => &self.buckets[i].repl,
            Err(_) => &[],
        }
    }

    /// Whether `n` is in a bucket.
    pub fn contains(&self, n: NodeId, v: View<'_>) -> bool {
        let d = log_distance(v.id(self.me), v.id(n));
        self.bucket(d).iter().any(|e| e.node == n)
    }

    fn table_ip_ok(&self, g: u32, lim: &Limits) -> bool {
        match self.ip_counts.binary_search_by_key(&g, |c| c.0) {
            Ok(i) => self.ip_counts[i].1 < lim.table_ip,
            Err(_) => lim.table_ip > 0,
        }
    }

    fn ip_inc(&mut self, g: Option<u32>) {
        if let Some(g) = g {
            match self.ip_counts.binary_search_by_key(&g, |c| c.0) {
                Ok(i) => self.ip_counts[i].1 += 1,
                Err(i) => self.ip_counts.insert(i, (g, 1)),
            }
        }
    }

    fn ip_dec(&mut self, g: Option<u32>) {
        if let Some(g) = g
            && let Ok(i) = self.ip_counts.binary_search_by_key(&g, |c| c.0)
        {
            self.ip_counts[i].1 -= 1;
            if self.ip_counts[i].1 == 0 {
                self.ip_counts.remove(i);
            }
        }
    }

    /// Whether one more node of `n`'s IP group fits bucket `bi` and the table.
    fn ip_ok(&self, bi: usize, n: NodeId, v: View<'_>, lim: &Limits) -> bool {
        let Some(g) = v.ip(n) else { return true };
        let b = &self.buckets[bi];
        let in_bucket = b
            .nodes
            .iter()
            .map(|e| e.node)
            .chain(b.repl.iter().copied())
            .filter(|&m| v.ip(m) == Some(g))
            .count() as u32;
        in_bucket < lim.bucket_ip && self.table_ip_ok(g, lim)
    }

    /// Adds `n` (learnt from a lookup, a handshake or a bootstrap list).
    pub fn add(&mut self, n: NodeId, v: View<'_>, lim: &Limits) -> Added {
        if n == self.me {
            return Added::Local;
        }
        let d = log_distance(v.id(self.me), v.id(n));
        let bi = match self.bucket_pos(d) {
            Ok(i) => i,
            Err(i) => {
                self.dists.insert(i, d);
                self.buckets.insert(
                    i,
                    Bucket {
                        nodes: Vec::new(),
                        repl: Vec::new(),
                    },
                );
                i
            }
        };
        if self.buckets[bi].nodes.iter().any(|e| e.node == n) {
            return Added::Existing;
        }
        if self.buckets[bi].nodes.len() < lim.k {
            if !self.ip_ok(bi, n, v, lim) {
                return Added::IpLimit;
            }
            // A replacement promoted by a direct add leaves the cache.
            let b = &mut self.buckets[bi];
            let was_repl = b.repl.iter().position(|&m| m == n);
            if let Some(i) = was_repl {
                b.repl.remove(i);
            }
            b.nodes.push(Entry {
                node: n,
                seen: false,
            });
            self.len += 1;
            if was_repl.is_none() {
                self.ip_inc(v.ip(n));
            }
            return Added::Added;
        }
        if let Some(i) = self.buckets[bi].repl.iter().position(|&m| m == n) {
            let b = &mut self.buckets[bi];
            b.repl.remove(i);
            b.repl.push(n);
            return Added::Replacement;
        }
        if !self.ip_ok(bi, n, v, lim) {
            return Added::IpLimit;
        }
        if lim.replacements == 0 {
            return Added::Replacement;
        }
        if self.buckets[bi].repl.len() >= lim.replacements {
            let old = self.buckets[bi].repl.remove(0);
            self.ip_dec(v.ip(old));
        }
        self.buckets[bi].repl.push(n);
        self.ip_inc(v.ip(n));
        Added::Replacement
    }

    /// `n` answered: it moves to the head of its bucket, marked seen. False when it is not
    /// in a bucket.
    pub fn set_seen(&mut self, n: NodeId, v: View<'_>) -> bool {
        let d = log_distance(v.id(self.me), v.id(n));
        let Ok(bi) = self.bucket_pos(d) else {
            return false;
        };
        let b = &mut self.buckets[bi];
        match b.nodes.iter().position(|e| e.node == n) {
            Some(i) => {
                b.nodes[..=i].rotate_right(1);
                b.nodes[0].seen = true;
                true
            }
            None => false,
        }
    }

    /// `n` failed to answer: it leaves its bucket and the newest replacement takes its place
    /// (at the tail, not seen). A node only in the replacement cache stays there (nim-eth).
    pub fn replace(&mut self, n: NodeId, v: View<'_>) {
        let d = log_distance(v.id(self.me), v.id(n));
        let Ok(bi) = self.bucket_pos(d) else {
            return;
        };
        let b = &mut self.buckets[bi];
        let Some(i) = b.nodes.iter().position(|e| e.node == n) else {
            return;
        };
        b.nodes.remove(i);
        self.len -= 1;
        if let Some(r) = b.repl.pop() {
            // Replacements already count in the IP limits.
            b.nodes.push(Entry {
                node: r,
                seen: false,
            });
            self.len += 1;
        }
        let empty = b.nodes.is_empty() && b.repl.is_empty();
        self.ip_dec(v.ip(n));
        if empty {
            self.buckets.remove(bi);
            self.dists.remove(bi);
        }
    }

    /// The node to revalidate: the least recently seen node (tail) of a bucket chosen by
    /// `pick(number of non-empty buckets)`.
    pub fn to_revalidate(&self, pick: impl FnOnce(usize) -> usize) -> Option<NodeId> {
        let n = self.buckets.iter().filter(|b| !b.nodes.is_empty()).count();
        if n == 0 {
            return None;
        }
        let i = pick(n);
        self.buckets
            .iter()
            .filter(|b| !b.nodes.is_empty())
            .nth(i)
            .and_then(|b| b.nodes.last())
            .map(|e| e.node)
    }

    /// The `k` nodes closest to `target` (seen ones only with `seen_only`), closest first,
    /// into `out` (cleared).
    pub fn closest(
        &self,
        target: &Id,
        k: usize,
        seen_only: bool,
        v: View<'_>,
        out: &mut Vec<NodeId>,
    ) {
        out.clear();
        out.extend(
            self.buckets
                .iter()
                .flat_map(|b| b.nodes.iter())
                .filter(|e| e.seen || !seen_only)
                .map(|e| e.node),
        );
        out.sort_unstable_by(|a, b| cmp_distance(target, v.id(*a), v.id(*b)).then(a.cmp(b)));
        out.truncate(k);
    }

    /// FINDNODE's answer: the seen nodes at each of `dists` in turn (distance 0: this node
    /// itself), head first, at most `k`, into `out` (cleared).
    pub fn at_distances(&self, dists: &[u16], k: usize, out: &mut Vec<NodeId>) {
        out.clear();
        for &d in dists {
            if out.len() >= k {
                break;
            }
            if d == 0 {
                out.push(self.me);
                continue;
            }
            let room = k - out.len();
            out.extend(
                self.bucket(d)
                    .iter()
                    .filter(|e| e.seen)
                    .map(|e| e.node)
                    .take(room),
            );
        }
    }

    /// Every node in a bucket, by distance then bucket order.
    pub fn nodes(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }
}

/// The distances a FINDNODE of a lookup for `target` asks `dest` for (nim-eth
/// `lookupDistances`): the log-distance of target and dest, then alternately one above and
/// one below it, `n` in all (fewer only at the ends of 1..=256).
pub fn lookup_distances(target: &Id, dest: &Id, n: usize) -> ([u16; 3], u8) {
    let td = log_distance(target, dest);
    let mut out = [0u16; 3];
    let n = n.min(3);
    out[0] = td;
    let mut len = 1;
    let mut i = 1u16;
    while len < n && i <= 256 {
        if td + i <= 256 {
            out[len] = td + i;
            len += 1;
        }
        if len < n && td > i {
            out[len] = td - i;
            len += 1;
        }
        i += 1;
    }
    (out, len as u8)
}
