//! The IDONTWANTs a node received (gossipsub v1.2; nim-libp2p keeps them per peer, as
//! `peer.iDontWants`): compact storage behind [`Idontwants`], whose operations are the
//! list's.
//!
//! The rule it keeps: every (id, peer) pair received counts until `mcache_len` heartbeats after
//! its heartbeat, or until the peer disconnects; a message is not forwarded to a peer that
//! sent an IDONTWANT for it.
//!
//! Storage: the IDONTWANTs for one message come in a burst (one from each peer that got it
//! first), so an id is stored once per run of IDONTWANTs for it within a heartbeat and each
//! IDONTWANT is an 8-byte (peer, position of its id) entry, against 16 bytes as (id, peer,
//! heartbeat). One pointer in the relay record; the lists behind it are allocated at the
//! first IDONTWANT.

use std::collections::VecDeque;

use sim_core::NodeId;

use crate::relay::message::MsgId;

/// A peer whose entries were dropped (it disconnected); never a node of a run.
const GONE: NodeId = NodeId(u32::MAX);

/// The IDONTWANTs received and not yet expired (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct Idontwants(Option<Box<Lists>>);

#[derive(Clone, Debug, Default)]
struct Lists {
    /// Each heartbeat's share of `entries` and `ids`, in heartbeat order.
    beats: VecDeque<Beat>,
    /// (sender, position of the id in the run of every id ever stored), in arrival order.
    entries: VecDeque<(NodeId, u32)>,
    ids: VecDeque<MsgId>,
    /// Position of `ids[0]` (wrapping).
    base: u32,
}

/// A heartbeat's number and how many entries and ids it added.
#[derive(Clone, Copy, Debug)]
struct Beat {
    hb: u32,
    entries: u32,
    ids: u32,
}

impl Idontwants {
    /// Whether no IDONTWANT is kept.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|l| l.entries.is_empty())
    }

    /// An IDONTWANT for `id` from `peer` at heartbeat `hb` (heartbeats come in order).
    pub(crate) fn push(&mut self, id: MsgId, peer: NodeId, hb: u32) {
        debug_assert!(peer != GONE);
        let l = &mut **self.0.get_or_insert_default();
        if l.beats.back().is_none_or(|b| b.hb != hb) {
            l.beats.push_back(Beat {
                hb,
                entries: 0,
                ids: 0,
            });
        }
        let b = l.beats.back_mut().expect("pushed above");
        // The id is shared with the entry before it when that one is of this heartbeat (so
        // that a heartbeat's ids expire with it).
        if b.ids == 0 || l.ids.back() != Some(&id) {
            l.ids.push_back(id);
            b.ids += 1;
        }
        b.entries += 1;
        let pos = l.base.wrapping_add(l.ids.len() as u32 - 1);
        l.entries.push_back((peer, pos));
    }

    /// The peers that sent an IDONTWANT for `id`, in arrival order (a peer once per
    /// IDONTWANT).
    pub(crate) fn senders(&self, id: MsgId) -> impl Iterator<Item = NodeId> + '_ {
        self.0.iter().flat_map(move |l| {
            l.entries.iter().filter_map(move |&(peer, pos)| {
                (peer != GONE && l.ids[pos.wrapping_sub(l.base) as usize] == id).then_some(peer)
            })
        })
    }

    /// Whether `peer` sent an IDONTWANT for `id`.
    pub(crate) fn contains(&self, id: MsgId, peer: NodeId) -> bool {
        self.senders(id).any(|p| p == peer)
    }

    /// Drops every IDONTWANT from `peer` (it disconnected).
    pub(crate) fn forget(&mut self, peer: NodeId) {
        if let Some(l) = &mut self.0 {
            for e in l.entries.iter_mut().filter(|e| e.0 == peer) {
                e.0 = GONE;
            }
        }
    }

    /// Drops the IDONTWANTs of heartbeats `hl` or more before `hb`.
    pub(crate) fn expire(&mut self, hb: u32, hl: u32) {
        let Some(l) = &mut self.0 else {
            return;
        };
        while let Some(b) = l.beats.front().copied() {
            if hb.wrapping_sub(b.hb) < hl {
                break;
            }
            l.beats.pop_front();
            l.entries.drain(..b.entries as usize);
            l.ids.drain(..b.ids as usize);
            l.base = l.base.wrapping_add(b.ids);
        }
    }

    /// Where the next IDONTWANT is written (a prefetch hint).
    pub(crate) fn tail_ptr(&self) -> *const u8 {
        let Some(l) = self.0.as_deref() else {
            return std::ptr::null();
        };
        let (a, b) = l.entries.as_slices();
        let tail = if b.is_empty() { a } else { b };
        tail.as_ptr().wrapping_add(tail.len()) as *const u8
    }

    /// The oldest entry's address (a prefetch hint: the heartbeat's expiry reads it).
    pub(crate) fn front_ptr(&self) -> Option<*const u8> {
        let e = self.0.as_deref()?.entries.front()?;
        Some(e as *const (NodeId, u32) as *const u8)
    }

    /// Bytes held (the box and the lists' capacities) and the IDONTWANTs kept.
    pub(crate) fn heap_bytes(&self) -> (u64, u64) {
        use sim_core::memory::deque_bytes;
        let Some(l) = self.0.as_deref() else {
            return (0, 0);
        };
        let kept = l.entries.iter().filter(|e| e.0 != GONE).count() as u64;
        (
            std::mem::size_of::<Lists>() as u64
                + deque_bytes(&l.beats)
                + deque_bytes(&l.entries)
                + deque_bytes(&l.ids),
            kept,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idontwants_are_kept_per_id_and_peer_until_they_expire() {
        let (a, b, c) = (NodeId(1), NodeId(2), NodeId(3));
        let mut l = Idontwants::default();
        assert!(l.is_empty());
        // Heartbeat 1: id 10 from a and b, id 11 from a, id 10 from c; heartbeat 2: id 10
        // from b again.
        l.push(10, a, 1);
        l.push(10, b, 1);
        l.push(11, a, 1);
        l.push(10, c, 1);
        l.push(10, b, 2);
        // Ids stored per run within a heartbeat: 10, 11, 10 | 10.
        assert_eq!(l.0.as_ref().unwrap().ids.len(), 4);
        assert_eq!(l.senders(10).collect::<Vec<_>>(), [a, b, c, b]);
        assert_eq!(l.senders(11).collect::<Vec<_>>(), [a]);
        assert!(l.contains(11, a) && !l.contains(11, b) && !l.contains(12, a));
        assert_eq!(l.heap_bytes().1, 5);
        l.forget(a);
        assert_eq!(l.senders(10).collect::<Vec<_>>(), [b, c, b]);
        assert!(!l.contains(11, a));
        assert_eq!(l.heap_bytes().1, 3);
        // A history of 2: heartbeat 3 drops heartbeat 1's; b's of heartbeat 2 stays.
        l.expire(3, 2);
        assert_eq!(l.senders(10).collect::<Vec<_>>(), [b]);
        l.expire(4, 2);
        assert!(l.is_empty());
        // Positions go on from where the dropped ids ended.
        l.push(12, c, 5);
        assert_eq!(l.senders(12).collect::<Vec<_>>(), [c]);
    }
}
