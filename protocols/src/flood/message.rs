//! What a flood node sends: a message id, an accounting category and sizes.

use sim_core::{Category, Payload};

/// A message: who published it and its sequence number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId {
    /// Index of the publishing node.
    pub origin: u32,
    /// The message's number among its publisher's messages, from 0.
    pub seq: u32,
}

/// A flooded message as it travels on a link (no payload bytes, only sizes).
#[derive(Clone, Copy, Debug)]
pub struct FloodMsg {
    /// The message.
    pub id: MsgId,
    /// Accounting category of the message's own bytes.
    pub category: Category,
    /// The message's own bytes on the wire (framing excluded).
    pub size: u32,
    /// Transport overhead in bytes, counted under the engine's framing category.
    pub framing: u32,
}

impl Payload for FloodMsg {
    fn category(&self) -> Category {
        self.category
    }
    fn wire_bytes(&self) -> u32 {
        self.size
    }
    fn framing_bytes(&self) -> u32 {
        self.framing
    }
}
