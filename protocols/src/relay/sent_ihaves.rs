//! The ids a node advertised in IHAVE, kept for the IWANT check (nim-libp2p `sentIHaves`):
//! compact storage behind [`SentIhaves`], whose operations are the list's.
//!
//! The rule it keeps: every (id, peer) pair advertised counts once, in heartbeat order; an
//! IWANT for an id may take the oldest pair of that id and peer still open; pairs leave the
//! list `mcache_len` heartbeats after they were advertised, or when the peer disconnects.
//!
//! Storage: a heartbeat advertises the same ids of a topic to every chosen peer (about 4 ids
//! to 6 peers at relay-10k's settings), so the ids are stored once per topic and heartbeat
//! and each peer gets a [`Grant`]: the position of those ids and a bit per id still open
//! (12 bytes for up to 32 ids, against 16 bytes per id and peer as (id, peer, heartbeat)).
//! A grant keeps its peer's ids in the order advertised, and grants are in heartbeat order,
//! so the first open bit of the first grant of a peer holding the id is the oldest pair.

use std::collections::VecDeque;

use sim_core::NodeId;

use crate::relay::message::MsgId;

/// One peer's share of one topic's ids in one heartbeat (at most 32 of them).
#[derive(Clone, Copy, Debug)]
struct Grant {
    peer: NodeId,
    /// Position of the first id in the run of ids ever stored ([`SentIhaves::base`]).
    start: u32,
    /// Bit i: the id at `start + i` is still open to this peer.
    open: u32,
}

/// The ids one heartbeat stored: its number and how many grants and ids it added.
#[derive(Clone, Copy, Debug)]
struct Beat {
    hb: u32,
    grants: u32,
    ids: u32,
}

/// The ids advertised in IHAVE and to whom, for the IWANT check (see the module docs). One
/// pointer in the relay record (which every input reads); the lists behind it are allocated
/// at the node's first IHAVE.
#[derive(Clone, Debug, Default)]
pub(crate) struct SentIhaves(Option<Box<Lists>>);

#[derive(Clone, Debug, Default)]
struct Lists {
    beats: VecDeque<Beat>,
    grants: VecDeque<Grant>,
    ids: VecDeque<MsgId>,
    /// Position of `ids[0]` in the run of every id ever stored (wrapping).
    base: u32,
}

impl SentIhaves {
    /// `ids` advertised to each of `peers` at heartbeat `hb` (heartbeats come in order).
    pub(crate) fn advertise(&mut self, hb: u32, ids: &[MsgId], peers: &[NodeId]) {
        if !ids.is_empty() && !peers.is_empty() {
            self.0.get_or_insert_default().advertise(hb, ids, peers);
        }
    }

    /// Takes the oldest open advertisement of `id` to `peer`; false if there is none.
    pub(crate) fn take(&mut self, peer: NodeId, id: MsgId) -> bool {
        self.0.as_mut().is_some_and(|s| s.take(peer, id))
    }

    /// Closes every advertisement to `peer` (it disconnected).
    pub(crate) fn forget(&mut self, peer: NodeId) {
        if let Some(s) = &mut self.0 {
            s.forget(peer);
        }
    }

    /// Drops the advertisements of heartbeats `hl` or more before `hb`.
    pub(crate) fn expire(&mut self, hb: u32, hl: u32) {
        if let Some(s) = &mut self.0 {
            s.expire(hb, hl);
        }
    }

    /// The oldest grant's address, for a prefetch hint (the heartbeat reads it).
    pub(crate) fn front_ptr(&self) -> Option<*const u8> {
        let g = self.0.as_deref()?.grants.front()?;
        Some(g as *const Grant as *const u8)
    }

    /// Bytes held (the box and the lists' capacities) and the (id, peer) pairs still open.
    pub(crate) fn heap_bytes(&self) -> (u64, u64) {
        use sim_core::memory::deque_bytes;
        let Some(s) = self.0.as_deref() else {
            return (0, 0);
        };
        let open = s.grants.iter().map(|g| g.open.count_ones() as u64).sum();
        (
            std::mem::size_of::<Lists>() as u64
                + deque_bytes(&s.beats)
                + deque_bytes(&s.grants)
                + deque_bytes(&s.ids),
            open,
        )
    }
}

impl Lists {
    /// `ids` advertised to each of `peers` at heartbeat `hb` (heartbeats come in order).
    fn advertise(&mut self, hb: u32, ids: &[MsgId], peers: &[NodeId]) {
        if self.beats.back().is_none_or(|b| b.hb != hb) {
            self.beats.push_back(Beat {
                hb,
                grants: 0,
                ids: 0,
            });
        }
        let first = self.base.wrapping_add(self.ids.len() as u32);
        self.ids.extend(ids.iter().copied());
        let mut grants = 0;
        for &peer in peers {
            for (c, chunk) in ids.chunks(32).enumerate() {
                self.grants.push_back(Grant {
                    peer,
                    start: first.wrapping_add(32 * c as u32),
                    open: u32::MAX >> (32 - chunk.len()),
                });
                grants += 1;
            }
        }
        let b = self.beats.back_mut().expect("pushed above");
        b.grants += grants;
        b.ids += ids.len() as u32;
    }

    /// Takes the oldest open advertisement of `id` to `peer`; false if there is none.
    fn take(&mut self, peer: NodeId, id: MsgId) -> bool {
        let (ids, base) = (&self.ids, self.base);
        for g in self.grants.iter_mut().filter(|g| g.peer == peer) {
            let mut open = g.open;
            while open != 0 {
                let bit = open.trailing_zeros();
                open &= open - 1;
                let pos = g.start.wrapping_add(bit).wrapping_sub(base) as usize;
                if ids[pos] == id {
                    g.open &= !(1 << bit);
                    return true;
                }
            }
        }
        false
    }

    /// Closes every advertisement to `peer` (it disconnected).
    fn forget(&mut self, peer: NodeId) {
        for g in self.grants.iter_mut().filter(|g| g.peer == peer) {
            g.open = 0;
        }
    }

    /// Drops the advertisements of heartbeats `hl` or more before `hb`.
    fn expire(&mut self, hb: u32, hl: u32) {
        while let Some(b) = self.beats.front().copied() {
            if hb.wrapping_sub(b.hb) < hl {
                break;
            }
            self.beats.pop_front();
            self.grants.drain(..b.grants as usize);
            self.ids.drain(..b.ids as usize);
            self.base = self.base.wrapping_add(b.ids);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_iwant_takes_each_advertised_pair_once_until_it_expires() {
        let (a, b) = (NodeId(1), NodeId(2));
        let mut s = SentIhaves::default();
        // Heartbeat 1: ids 10 and 11 to both peers; heartbeat 2: id 10 again, to a only.
        s.advertise(1, &[10, 11], &[a, b]);
        s.advertise(2, &[10], &[a]);
        assert_eq!(s.heap_bytes().1, 5);
        // Never advertised to b, or not at all.
        assert!(!s.take(b, 12));
        assert!(s.take(b, 11));
        assert!(!s.take(b, 11), "each pair once");
        // a holds id 10 twice (heartbeats 1 and 2): the first take closes heartbeat 1's.
        assert!(s.take(a, 10));
        assert_eq!(s.heap_bytes().1, 3);
        // With a history of 2, heartbeat 3 drops heartbeat 1: a's id 10 of heartbeat 2 stays.
        s.expire(3, 2);
        assert_eq!(s.heap_bytes().1, 1);
        assert!(!s.take(a, 11), "expired");
        assert!(s.take(a, 10), "heartbeat 2's pair");
        assert!(!s.take(a, 10));
    }

    #[test]
    fn more_than_32_ids_and_a_disconnect() {
        let (a, b) = (NodeId(1), NodeId(2));
        let mut s = SentIhaves::default();
        let ids: Vec<MsgId> = (0..70).collect();
        s.advertise(1, &ids, &[a, b]);
        // 70 ids in grants of 32, 32 and 6, per peer.
        assert_eq!(s.0.as_ref().unwrap().grants.len(), 6);
        assert_eq!(s.heap_bytes().1, 140);
        assert!(s.take(a, 69) && s.take(a, 0) && s.take(a, 33));
        s.forget(a);
        assert!(!s.take(a, 5));
        assert!(s.take(b, 5));
        assert_eq!(s.heap_bytes().1, 69);
        s.expire(5, 3);
        assert_eq!(s.heap_bytes().1, 0);
        let l = s.0.as_ref().unwrap();
        assert!(l.ids.is_empty() && l.grants.is_empty() && l.beats.is_empty());
        // Positions go on from where the dropped ids ended.
        s.advertise(6, &[7], &[b]);
        assert!(s.take(b, 7));
    }
}
