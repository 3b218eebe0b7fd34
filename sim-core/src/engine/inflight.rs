//! Messages in flight: their records ([`InFlight`]) and the slots that hold them
//! ([`InFlights`]).

use crate::NodeId;
use crate::accounting::Category;
use crate::time::SimTime;

/// No in-flight message (the end of a downlink schedule).
pub(super) const NO_MSG: u32 = u32::MAX;

pub(super) struct InFlight<M> {
    pub(super) from: NodeId,
    pub(super) to: NodeId,
    /// Connection id for stream messages, 0 for datagrams and posts.
    pub(super) conn: u32,
    pub(super) bytes: u32,
    pub(super) framing: u32,
    /// The message before this one in the receiver's downlink schedule ([`NO_MSG`]: none),
    /// with that message's first-bit arrival and the time the downlink finishes it, copied
    /// here because the message itself may be delivered (and its slot reused) before this
    /// one: a schedule is only ever walked back from its tail through messages whose first
    /// bit has not arrived yet, which are all still in flight.
    pub(super) prev: u32,
    pub(super) cat: Category,
    pub(super) prev_first: SimTime,
    pub(super) prev_end: SimTime,
    /// When the message is delivered as scheduled now: its downlink end or its last bit's
    /// arrival, whichever is later. A message put ahead of it in the downlink schedule moves
    /// this later without moving its event, which then finds it later than itself and is
    /// queued again for this time (see `Core::downlink_push_back`).
    pub(super) at: SimTime,
    /// The sequence number of the send: deliveries due at the same instant are made in the
    /// order their messages were sent, even if one of them was rescheduled.
    pub(super) seq: u64,
    /// Deferred (in the receiver's `pending` list, with no event of its own).
    pub(super) passive: bool,
    /// The message; `None` in a free slot.
    pub(super) msg: Option<M>,
}

impl<M> InFlight<M> {
    /// A record of no message (a new slot before its first use).
    fn vacant() -> Self {
        InFlight {
            from: NodeId(0),
            to: NodeId(0),
            conn: 0,
            bytes: 0,
            framing: 0,
            prev: NO_MSG,
            cat: Category(0),
            prev_first: SimTime::ZERO,
            prev_end: SimTime::ZERO,
            at: SimTime::ZERO,
            seq: 0,
            passive: false,
            msg: None,
        }
    }
    /// This record's fields with `msg`.
    #[inline]
    fn with_msg(&self, msg: Option<M>) -> Self {
        InFlight { msg, ..*self }
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
}

impl<M> InFlights<M> {
    pub(super) fn new() -> Self {
        InFlights {
            items: Vec::new(),
            free: Vec::new(),
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
    /// Takes the record of slot `i` (which must hold a message) and frees the slot.
    /// (Always inlined: the caller reads the fields it needs; a record returned through
    /// memory would be copied with wide loads right after being stored.)
    #[inline(always)]
    pub(super) fn take(&mut self, i: u32) -> InFlight<M> {
        let s = &mut self.items[i as usize];
        let m = s.msg.take().expect("in-flight slot is live");
        let record = s.with_msg(Some(m));
        self.free.push(i);
        record
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
