//! A node's session cache, least recently used evicted (hot-path tuning: every packet in or
//! out reads it).
//!
//! Sessions are kept sorted by node (found by binary search), each with the stamp of its last
//! use from a per-cache counter; the least recently used session is the one with the smallest
//! stamp. This orders sessions exactly as a list moved to its end on every use would, without
//! moving entries on every use: only opening a session inserts, and only evicting scans.

use sim_core::NodeId;

/// The sessions of one node.
#[derive(Clone, Debug, Default)]
pub struct Sessions {
    /// (peer, stamp of its last use), by peer.
    entries: Vec<(NodeId, u32)>,
    /// The next stamp.
    clock: u32,
}

impl Sessions {
    /// Sessions held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets every session.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.clock = 0;
    }

    /// Whether a session with `n` is held.
    #[inline]
    pub fn contains(&self, n: NodeId) -> bool {
        self.entries.binary_search_by_key(&n, |e| e.0).is_ok()
    }

    fn stamp(&mut self) -> u32 {
        if self.clock == u32::MAX {
            // Renumber by age (4 billion uses of one cache: never in practice).
            let mut order: Vec<usize> = (0..self.entries.len()).collect();
            order.sort_unstable_by_key(|&i| self.entries[i].1);
            for (rank, i) in order.into_iter().enumerate() {
                self.entries[i].1 = rank as u32;
            }
            self.clock = self.entries.len() as u32;
        }
        let s = self.clock;
        self.clock += 1;
        s
    }

    /// Uses (or opens) the session with `n`: it becomes the most recently used. Opening one
    /// in a cache of `cap` sessions evicts the least recently used first; returns whether
    /// one was evicted.
    #[inline]
    pub fn touch(&mut self, n: NodeId, cap: usize) -> bool {
        let s = self.stamp();
        match self.entries.binary_search_by_key(&n, |e| e.0) {
            Ok(i) => {
                self.entries[i].1 = s;
                false
            }
            Err(mut i) => {
                let evict = self.entries.len() >= cap;
                if evict {
                    let oldest = self
                        .entries
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, e)| e.1)
                        .map(|(j, _)| j)
                        .expect("a full cache holds a session");
                    self.entries.remove(oldest);
                    if oldest < i {
                        i -= 1;
                    }
                }
                self.entries.insert(i, (n, s));
                evict
            }
        }
    }

    /// The peers, least recently used first (for tests).
    pub fn by_age(&self) -> Vec<NodeId> {
        let mut v = self.entries.clone();
        v.sort_unstable_by_key(|e| e.1);
        v.into_iter().map(|e| e.0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache against the list it replaces: a Vec moved to its end on every use, its
    /// first entry evicted when full.
    #[test]
    fn orders_and_evicts_as_a_move_to_end_list() {
        let mut s = Sessions::default();
        let mut list: Vec<NodeId> = Vec::new();
        let cap = 5;
        let mut x: u64 = 7;
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = NodeId((x >> 33) as u32 % 9);
            let evicted_list = match list.iter().position(|&m| m == n) {
                Some(i) => {
                    list[i..].rotate_left(1);
                    false
                }
                None => {
                    let full = list.len() >= cap;
                    if full {
                        list.remove(0);
                    }
                    list.push(n);
                    full
                }
            };
            assert_eq!(s.touch(n, cap), evicted_list);
            assert_eq!(s.by_age(), list);
            for m in 0..9 {
                assert_eq!(s.contains(NodeId(m)), list.contains(&NodeId(m)));
            }
        }
    }

    #[test]
    fn renumbering_keeps_the_order() {
        let mut s = Sessions::default();
        for n in [3, 1, 2] {
            s.touch(NodeId(n), 3);
        }
        s.clock = u32::MAX;
        s.touch(NodeId(3), 3);
        // Ages were 1 < 2 < 3 (oldest first); 3 used again: 1, 2, 3.
        assert_eq!(s.by_age(), vec![NodeId(1), NodeId(2), NodeId(3)]);
        s.touch(NodeId(4), 3);
        assert_eq!(s.by_age(), vec![NodeId(2), NodeId(3), NodeId(4)]);
    }
}
