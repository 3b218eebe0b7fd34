//! What the event queue holds: events ([`Ev`]) packed to 8 bytes ([`PackedEv`]), the
//! connection notices they point to, and deferred passive messages ([`Pending`]), which have
//! no event of their own.

use crate::NodeId;
use crate::accounting::Category;
use crate::node::CloseReason;
use crate::time::SimTime;

/// An event, as stored in the queue. Kept to 8 bytes (see [`Ev::pack`]) so that a queue entry
/// (time, seq, event) is 24 bytes: the binary heap's sift cost is dominated by moving entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    Start {
        node: u32,
    },
    Timer {
        slot: u32,
        generation: u32,
    },
    Deliver {
        msg: u32,
    },
    Post {
        msg: u32,
    },
    DialReach {
        dial: u32,
    },
    DialDone {
        dial: u32,
    },
    /// Index into the connection-down notices.
    ConnDown {
        notice: u32,
    },
    Fault {
        idx: u32,
    },
}

/// Timer generations are kept to 28 bits so a timer event packs into 64 bits.
pub(super) const GENERATION_MASK: u32 = (1 << 28) - 1;

/// The packed form of [`Ev`]: tag in the top 4 bits, payload below.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PackedEv(u64);

impl Ev {
    #[inline]
    pub(super) fn pack(self) -> PackedEv {
        let (tag, payload) = match self {
            Ev::Start { node } => (0u64, node as u64),
            Ev::Timer { slot, generation } => (
                1,
                slot as u64 | ((generation & GENERATION_MASK) as u64) << 32,
            ),
            Ev::Deliver { msg } => (2, msg as u64),
            Ev::Post { msg } => (3, msg as u64),
            Ev::DialReach { dial } => (4, dial as u64),
            Ev::DialDone { dial } => (5, dial as u64),
            Ev::ConnDown { notice } => (6, notice as u64),
            Ev::Fault { idx } => (7, idx as u64),
        };
        PackedEv(tag << 60 | payload)
    }
}

impl PackedEv {
    #[inline]
    pub(super) fn unpack(self) -> Ev {
        let low = self.0 as u32;
        match self.0 >> 60 {
            0 => Ev::Start { node: low },
            1 => Ev::Timer {
                slot: low,
                generation: (self.0 >> 32) as u32 & GENERATION_MASK,
            },
            2 => Ev::Deliver { msg: low },
            3 => Ev::Post { msg: low },
            4 => Ev::DialReach { dial: low },
            5 => Ev::DialDone { dial: low },
            6 => Ev::ConnDown { notice: low },
            7 => Ev::Fault { idx: low },
            t => unreachable!("bad event tag {t}"),
        }
    }
}

/// A connection change to tell a node about.
pub(super) struct Notice {
    pub(super) node: NodeId,
    pub(super) peer: NodeId,
    /// `None`: the connection came up (statically wired, this side `outbound`); else it closed.
    pub(super) reason: Option<CloseReason>,
    pub(super) outbound: bool,
}

/// A deferred passive message: its delivery time and send sequence number (its place among
/// events), its in-flight record and its connection; its sender and category, for the
/// look-ahead's hints (32 bytes).
#[derive(Clone, Copy, Debug)]
pub(super) struct Pending {
    pub(super) at: SimTime,
    pub(super) seq: u64,
    pub(super) idx: u32,
    pub(super) conn: u32,
    pub(super) from: NodeId,
    pub(super) cat: Category,
    /// Its connection closed before it was due: it is dropped when due.
    pub(super) dropped: bool,
}

impl Pending {
    #[inline]
    pub(super) fn key(&self) -> (SimTime, u64) {
        (self.at, self.seq)
    }
}
