//! Messages in flight: their records ([`InFlight`]) and the slots that hold them
//! ([`InFlights`]).

use crate::NodeId;
use crate::accounting::Category;
use crate::time::SimTime;

/// No in-flight message (the end of a downlink schedule).
pub(super) const NO_MSG: u32 = u32::MAX;

/// The record of a message in flight, 80 bytes with a 32-byte message (five to a 400-byte
/// run of lines; it was 96 with the send's sequence number, which is its delivery event's,
/// and a `u32` of framing bytes).
pub(super) struct InFlight<M> {
    pub(super) from: NodeId,
    pub(super) to: NodeId,
    /// Connection id for stream messages, 0 for datagrams and posts.
    pub(super) conn: u32,
    pub(super) bytes: u32,
    /// The message before this one in the receiver's downlink schedule ([`NO_MSG`]: none),
    /// with that message's first-bit arrival and the time the downlink finishes it, copied
    /// here because the message itself may be delivered (and its slot reused) before this
    /// one: a schedule is only ever walked back from its tail through messages whose first
    /// bit has not arrived yet, which are all still in flight.
    pub(super) prev: u32,
    pub(super) cat: Category,
    /// The framing bytes in the low 15 bits ([`FRAMING_ELSEWHERE`]: in
    /// [`InFlights::framing`], for writes of about 120 MB and more) and, in the top bit
    /// ([`PASSIVE`]), whether the message is deferred (in the receiver's `pending` list,
    /// with no event of its own). Read them with [`InFlight::passive`] and
    /// [`InFlights::take`].
    pub(super) framing_passive: u16,
    pub(super) prev_first: SimTime,
    pub(super) prev_end: SimTime,
    /// When the message is delivered as scheduled now: its downlink end or its last bit's
    /// arrival, whichever is later. A message put ahead of it in the downlink schedule moves
    /// this later without moving its event, which then finds it later than itself and is
    /// queued again for this time, with its own sequence number (see
    /// `Core::downlink_push_back`).
    pub(super) at: SimTime,
    /// The message; `None` in a free slot.
    pub(super) msg: Option<M>,
}

/// [`InFlight::framing_passive`]'s bit for a deferred message.
pub(super) const PASSIVE: u16 = 1 << 15;
/// [`InFlight::framing_passive`]'s framing value for framing bytes kept in
/// [`InFlights::framing`] (this value and above).
pub(super) const FRAMING_ELSEWHERE: u16 = PASSIVE - 1;

impl<M> InFlight<M> {
    /// A record of no message (a new slot before its first use).
    fn vacant() -> Self {
        InFlight {
            from: NodeId(0),
            to: NodeId(0),
            conn: 0,
            bytes: 0,
            prev: NO_MSG,
            cat: Category(0),
            framing_passive: 0,
            prev_first: SimTime::ZERO,
            prev_end: SimTime::ZERO,
            at: SimTime::ZERO,
            msg: None,
        }
    }
    /// This record's fields with `msg`.
    #[inline]
    fn with_msg(&self, msg: Option<M>) -> Self {
        InFlight { msg, ..*self }
    }
    /// Deferred (in the receiver's `pending` list, with no event of its own).
    #[inline]
    pub(super) fn passive(&self) -> bool {
        self.framing_passive & PASSIVE != 0
    }
    /// Whether the message has bytes to count (wire or framing).
    #[inline]
    pub(super) fn has_bytes(&self) -> bool {
        self.bytes > 0 || self.framing_passive & !PASSIVE != 0
    }
}

/// The in-flight records, by index. A freed slot keeps its old fields and no message, so a
/// send fills a slot field by field: built whole on the stack and then copied, the record
/// would be read back with wide loads right after being stored field by field, and such a
/// load waits until every earlier store (the send's others, to cold lines) has reached the
/// cache.
pub(super) struct InFlights<M> {
    pub(super) items: Vec<InFlight<M>>,
    pub(super) free: Vec<u32>,
    /// (slot, framing bytes) of the live records whose framing does not fit theirs
    /// ([`FRAMING_ELSEWHERE`]; nearly always empty).
    pub(super) framing: Vec<(u32, u32)>,
}

impl<M> InFlights<M> {
    pub(super) fn new() -> Self {
        InFlights {
            items: Vec::new(),
            free: Vec::new(),
            framing: Vec::new(),
        }
    }
    /// A free slot to fill (its fields are stale and it holds no message), and its index.
    #[inline(always)]
    pub(super) fn slot(&mut self) -> (u32, &mut InFlight<M>) {
        let i = match self.free.pop() {
            Some(i) => {
                // The slot the next send fills (sends come in bursts).
                if let Some(&n) = self.free.last() {
                    crate::prefetch::prefetch_obj(self.items.as_ptr().wrapping_add(n as usize));
                }
                i
            }
            None => {
                self.items.push(InFlight::vacant());
                (self.items.len() - 1) as u32
            }
        };
        (i, &mut self.items[i as usize])
    }
    /// Stores `v` in a free slot.
    pub(super) fn insert(&mut self, v: InFlight<M>) -> u32 {
        let (i, s) = self.slot();
        *s = v;
        i
    }
    /// The [`InFlight::framing_passive`] of a record with `framing` bytes, not deferred;
    /// call [`InFlights::keep_framing`] for the record's slot when it is
    /// [`FRAMING_ELSEWHERE`].
    #[inline]
    pub(super) fn framing_word(framing: u32) -> u16 {
        framing.min(FRAMING_ELSEWHERE as u32) as u16
    }
    /// Keeps the framing bytes of slot `i` that its record cannot hold.
    #[cold]
    pub(super) fn keep_framing(&mut self, i: u32, framing: u32) {
        self.framing.push((i, framing));
    }
    /// Takes the record of slot `i` (which must hold a message) and frees the slot; returns
    /// it with its framing bytes. (Always inlined: the caller reads the fields it needs; a
    /// record returned through memory would be copied with wide loads right after being
    /// stored.)
    #[inline(always)]
    pub(super) fn take(&mut self, i: u32) -> (InFlight<M>, u32) {
        let s = &mut self.items[i as usize];
        let m = s.msg.take().expect("in-flight slot is live");
        let record = s.with_msg(Some(m));
        self.free.push(i);
        let f = record.framing_passive & !PASSIVE;
        let framing = if f < FRAMING_ELSEWHERE {
            f as u32
        } else {
            self.take_framing(i)
        };
        (record, framing)
    }
    #[cold]
    fn take_framing(&mut self, i: u32) -> u32 {
        let k = self
            .framing
            .iter()
            .position(|&(j, _)| j == i)
            .expect("framing kept for the slot");
        self.framing.swap_remove(k).1
    }
    #[inline]
    pub(super) fn get(&self, i: u32) -> &InFlight<M> {
        let s = &self.items[i as usize];
        debug_assert!(s.msg.is_some(), "in-flight slot is live");
        s
    }
    #[inline]
    pub(super) fn get_mut(&mut self, i: u32) -> &mut InFlight<M> {
        let s = &mut self.items[i as usize];
        debug_assert!(s.msg.is_some(), "in-flight slot is live");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_80_bytes_with_a_32_byte_message() {
        // A 32-byte message whose `Option` needs no tag (as relay-10k's `WakuMsg`): 32 + 24
        // (three times) + 20 (five u32) + 2 (category) + 2 (framing and the passive bit).
        type Msg = (u64, u64, u64, std::num::NonZeroU64);
        assert_eq!(std::mem::size_of::<Option<Msg>>(), 32);
        assert_eq!(std::mem::size_of::<InFlight<Msg>>(), 80);
    }
}
