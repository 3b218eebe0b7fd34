//! Timers (their slots and the Core's timer and CPU-queue calls) and [`Slab`], the slot
//! store of dials and notices.

use super::events::Ev;
use super::state::Core;
use crate::NodeId;
use crate::node::{Payload, TimerId};
use crate::time::{SimDuration, SimTime};

pub(super) struct TimerSlot<T> {
    pub(super) generation: u32,
    pub(super) node: NodeId,
    pub(super) incarnation: u32,
    pub(super) value: Option<T>,
}

/// A vector of optional slots with a free list: stable u32 handles, reuse of freed slots.
pub(super) struct Slab<T> {
    pub(super) items: Vec<Option<T>>,
    pub(super) free: Vec<u32>,
}

impl<T> Slab<T> {
    pub(super) fn new() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
    #[inline]
    pub(super) fn insert(&mut self, v: T) -> u32 {
        if let Some(i) = self.free.pop() {
            // A free slot holds `None`: replacing without dropping spares a read of a line
            // that is usually cold (the write does not wait for it).
            let old = self.items[i as usize].replace(v);
            debug_assert!(old.is_none(), "free slab slot is empty");
            std::mem::forget(old);
            i
        } else {
            self.items.push(Some(v));
            (self.items.len() - 1) as u32
        }
    }
    #[inline]
    pub(super) fn take(&mut self, i: u32) -> T {
        let v = self.items[i as usize].take().expect("slab slot is live");
        self.free.push(i);
        v
    }
    #[inline]
    pub(super) fn get(&self, i: u32) -> &T {
        self.items[i as usize].as_ref().expect("slab slot is live")
    }
    #[inline]
    pub(super) fn get_mut(&mut self, i: u32) -> &mut T {
        self.items[i as usize].as_mut().expect("slab slot is live")
    }
}

impl<M: Payload, T> Core<M, T> {
    pub(crate) fn set_timer(&mut self, node: NodeId, at: SimTime, value: T) -> TimerId {
        self.check_active("set_timer");
        let incarnation = self.nodes[node.index()].incarnation;
        let slot = match self.free_timers.pop() {
            Some(s) => {
                let t = &mut self.timers[s as usize];
                t.node = node;
                t.incarnation = incarnation;
                t.value = Some(value);
                s
            }
            None => {
                self.timers.push(TimerSlot {
                    generation: 0,
                    node,
                    incarnation,
                    value: Some(value),
                });
                (self.timers.len() - 1) as u32
            }
        };
        let generation = self.timers[slot as usize].generation;
        self.schedule(at, Ev::Timer { slot, generation });
        TimerId { slot, generation }
    }

    pub(super) fn free_timer(&mut self, slot: u32) {
        let t = &mut self.timers[slot as usize];
        t.value = None;
        t.generation = t.generation.wrapping_add(1);
        self.free_timers.push(slot);
    }

    pub(crate) fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.check_active("cancel_timer");
        match self.timers.get(id.slot as usize) {
            Some(t) if t.generation == id.generation && t.value.is_some() => {
                self.free_timer(id.slot);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn reserve_cpu(&mut self, node: NodeId, cost: SimDuration) -> SimTime {
        self.check_active("compute");
        let cost = match self.cpu_slowdown.get(node.index()) {
            Some(&f) if f != 1.0 => {
                SimDuration::from_nanos((cost.as_nanos() as f64 * f).round() as u64)
            }
            _ => cost,
        };
        let n = &mut self.nodes[node.index()];
        let done = self.now.max(n.cpu_free) + cost;
        n.cpu_free = done;
        done
    }
}
