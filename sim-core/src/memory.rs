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
}
