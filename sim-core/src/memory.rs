//! Memory budgets: what a run's structures hold, in bytes, counted from their sizes and
//! lengths or capacities (`size_of::<T>() x capacity` for a vector), so that the memory per
//! node can be broken down by structure and compared with the measured peak.
//!
//! The figures count what the structures reserved, not what the allocator added on top
//! (size classes, page granularity) nor memory the allocator keeps after it was freed; the
//! difference to a measured peak is reported apart by those who measure it.

use std::collections::VecDeque;
use std::mem::size_of;

/// One row of a budget: a named structure, its bytes and how many items it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryRow {
    /// What the structure is (`"relay: peer records"`); rows are merged by name.
    pub name: &'static str,
    /// Bytes reserved.
    pub bytes: u64,
    /// Items counted (elements of the vectors, entries of the tables); 0 when not counted.
    pub items: u64,
}

/// A memory budget: rows in the order they were first added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    rows: Vec<MemoryRow>,
}

impl Memory {
    /// An empty budget.
    pub fn new() -> Self {
        Memory::default()
    }
    /// Adds `bytes` and `items` to the row `name` (made when new, at the end).
    pub fn add(&mut self, name: &'static str, bytes: u64, items: u64) {
        match self.rows.iter_mut().find(|r| r.name == name) {
            Some(r) => {
                r.bytes += bytes;
                r.items += items;
            }
            None => self.rows.push(MemoryRow { name, bytes, items }),
        }
    }
    /// Adds a vector's reserved bytes (`capacity x size_of::<T>()`, its length as items).
    pub fn add_vec<T>(&mut self, name: &'static str, v: &Vec<T>) {
        self.add(name, vec_bytes(v), v.len() as u64);
    }
    /// The rows.
    pub fn rows(&self) -> &[MemoryRow] {
        &self.rows
    }
    /// The sum of every row's bytes.
    pub fn total(&self) -> u64 {
        self.rows.iter().map(|r| r.bytes).sum()
    }
    /// The bytes of row `name` (0 when absent).
    pub fn bytes(&self, name: &str) -> u64 {
        self.rows
            .iter()
            .find(|r| r.name == name)
            .map_or(0, |r| r.bytes)
    }
}

/// The bytes a vector reserved on the heap: `capacity x size_of::<T>()`.
#[inline]
pub fn vec_bytes<T>(v: &Vec<T>) -> u64 {
    (v.capacity() * size_of::<T>()) as u64
}

/// The bytes a double-ended queue reserved on the heap: `capacity x size_of::<T>()`.
#[inline]
pub fn deque_bytes<T>(v: &VecDeque<T>) -> u64 {
    (v.capacity() * size_of::<T>()) as u64
}

/// Inserts `x` at `i`, growing `v` by exactly one slot when it is full: for the small
/// per-node lists that grow one item at a time and stay near their largest length (a
/// node's 10-50 peers and connections, a mesh, a peer's topics), so that their capacity is
/// the largest length they reached rather than the next power of two (a vector that doubles
/// keeps up to twice what it holds, and 4 items at least). Each growth moves the list
/// (mimalloc grows in place within a size class): only for lists changed by rare events
/// (connections, grafts), never per message.
#[inline]
pub fn insert_tight<T>(v: &mut Vec<T>, i: usize, x: T) {
    if v.len() == v.capacity() {
        v.reserve_exact(1);
    }
    v.insert(i, x);
}

/// Appends `x` to `v`, growing it by exactly one slot when it is full (see [`insert_tight`]).
#[inline]
pub fn push_tight<T>(v: &mut Vec<T>, x: T) {
    if v.len() == v.capacity() {
        v.reserve_exact(1);
    }
    v.push(x);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_merge_by_name_in_first_order() {
        let mut m = Memory::new();
        let v: Vec<u64> = Vec::with_capacity(4);
        m.add_vec("b", &v);
        m.add("a", 10, 1);
        m.add("b", 8, 2);
        // "b": 4 x 8 = 32 bytes of capacity, 0 items, then 8 bytes and 2 items more.
        assert_eq!(
            m.rows()[0],
            MemoryRow {
                name: "b",
                bytes: 40,
                items: 2
            }
        );
        assert_eq!(m.rows()[1].name, "a");
        assert_eq!(m.total(), 50);
        assert_eq!(m.bytes("a"), 10);
        assert_eq!(m.bytes("c"), 0);
        let d: VecDeque<u32> = VecDeque::with_capacity(3);
        assert!(deque_bytes(&d) >= 12);
    }

    #[test]
    fn tight_growth_keeps_capacity_at_the_largest_length() {
        // 20 pushes and inserts: a doubling vector would hold 32 slots (4, 8, 16, 32); grown
        // one slot at a time it holds 20 (std's `reserve_exact` reserves what is asked).
        let mut v: Vec<u32> = Vec::new();
        for x in 0..10 {
            push_tight(&mut v, x);
        }
        for x in 10..20 {
            insert_tight(&mut v, 0, x);
        }
        assert_eq!(v.len(), 20);
        assert_eq!(v.capacity(), 20);
        assert_eq!(v[0], 19);
        assert_eq!(v[19], 9);
        // A removal keeps the slot: the next insert does not grow.
        v.pop();
        insert_tight(&mut v, 3, 99);
        assert_eq!(v.capacity(), 20);
    }
}
