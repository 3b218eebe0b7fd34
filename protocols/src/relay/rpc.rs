//! Gossipsub RPCs as the simulator carries them, and their exact sizes on the wire.
//!
//! Sizes follow the protobuf encoding nim-libp2p writes (`rpc/protobuf.nim`), with real
//! varint length arithmetic, plus the varint length prefix of `writeLp`. With the 14-byte
//! topic `/waku/2/rs/1/0` and 32-byte ids they give the table of waku-protocols.md for small
//! counts (IHAVE with n ids = 21 + 34n while the lengths fit one-byte varints, IWANT /
//! IDONTWANT = 5 + 34n, GRAFT 21, PRUNE 23, SUBSCRIBE 21, publish framing +21 / +24 / +27)
//! and stay exact beyond. Field tags below 16 take one byte.
//!
//! Transport framing is the node's, not relay's ([`crate::wire::framing_bytes`]).
//!
//! One simulated RPC carries one kind of content, as nim-libp2p sends them: a forwarded or
//! published message per RPC, one IDONTWANT id per RPC, GRAFTs and PRUNEs per topic, one IHAVE
//! RPC per peer per heartbeat with an entry per topic, IWANT replies with all requested
//! messages in one RPC. (nim-libp2p puts a control response's IWANT and PRUNE in one RPC; the
//! simulator sends them as two, a few bytes of RPC header apart.)

use std::rc::Rc;

use sim_core::NodeId;

use crate::relay::message::{MSG_ID_BYTES, MsgId, TopicIdx, WireMsg, varint_len};

/// Relay's accounting kinds: indices into [`RELAY_CATEGORIES`] ([`crate::proto::Wire::kind`]).
pub mod kind {
    /// Own published messages (the publisher's sends).
    pub const PUBLISH: u16 = 0;
    /// Messages forwarded through the mesh.
    pub const FORWARD: u16 = 1;
    /// Messages sent in reply to IWANT.
    pub const IWANT_REPLY: u16 = 2;
    /// IHAVE control messages.
    pub const IHAVE: u16 = 3;
    /// IWANT control messages.
    pub const IWANT: u16 = 4;
    /// IDONTWANT control messages.
    pub const IDONTWANT: u16 = 5;
    /// GRAFT control messages.
    pub const GRAFT: u16 = 6;
    /// PRUNE control messages.
    pub const PRUNE: u16 = 7;
    /// SUBSCRIBE / unsubscribe announcements.
    pub const SUBSCRIBE: u16 = 8;
}

/// (protocol, kind) names of relay's accounting categories, indexed by [`kind`].
pub const RELAY_CATEGORIES: &[(&str, &str)] = &[
    ("relay", "publish"),
    ("relay", "forward"),
    ("relay", "iwant_reply"),
    ("relay", "ihave"),
    ("relay", "iwant"),
    ("relay", "idontwant"),
    ("relay", "graft"),
    ("relay", "prune"),
    ("relay", "subscribe"),
];

/// A gossipsub RPC in flight (32 bytes).
#[derive(Clone, Debug, PartialEq)]
pub enum Rpc {
    /// An own (published) message.
    Publish(WireMsg),
    /// A forwarded message.
    Forward(WireMsg),
    /// The messages an IWANT asked for, in one RPC.
    IwantReply(Box<[WireMsg]>),
    /// IHAVE entries for one or more topics.
    Ihave(Ihave),
    /// Message ids requested.
    Iwant(Box<[MsgId]>),
    /// "Do not send me this message" (gossipsub v1.2), one id per RPC.
    Idontwant(MsgId),
    /// Join the sender's mesh for a topic.
    Graft {
        /// The topic.
        topic: TopicIdx,
        /// Its name's length in bytes.
        topic_len: u8,
    },
    /// Leave the mesh of a topic, with a backoff and optional peer exchange.
    Prune(Box<Prune>),
    /// Subscription changes.
    Subscribe(Rc<Subscriptions>),
}

/// An IHAVE RPC: the entries of `batch` whose bit is set in `mask` (entry i <-> bit i). The
/// batch is shared by every peer that gets gossip in one heartbeat.
#[derive(Clone, Debug, PartialEq)]
pub struct Ihave {
    /// The heartbeat's entries.
    pub batch: IhaveBatch,
    /// Which entries this peer gets.
    pub mask: u32,
    /// Encoded size of the RPC.
    pub wire: u32,
}

/// The IHAVE entries (one per topic, at most 32) a node built in one heartbeat, packed in one
/// shared allocation (receivers read it once per IHAVE: one allocation is one cache miss):
/// word 0 holds the number of entries, then one descriptor word per entry (topic in bits
/// 0-15, name length in bits 16-23, id count in bits 32-63), then every entry's ids in order.
#[derive(Clone, Debug, PartialEq)]
pub struct IhaveBatch(Rc<[u64]>);

/// The ids advertised for one topic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IhaveEntry<'a> {
    /// The topic.
    pub topic: TopicIdx,
    /// Its name's length.
    pub topic_len: u8,
    /// Advertised ids.
    pub ids: &'a [MsgId],
}

impl IhaveBatch {
    /// Most entries in one batch (one bit each in [`Ihave::mask`]); a node gossiping on more
    /// topics in one heartbeat sends a peer several IHAVE RPCs.
    pub const MAX_ENTRIES: usize = 32;

    /// Packs (topic, name length, ids) entries; at most [`IhaveBatch::MAX_ENTRIES`].
    pub fn new<'a>(entries: impl IntoIterator<Item = IhaveEntry<'a>>) -> Self {
        let entries: Vec<IhaveEntry<'a>> = entries.into_iter().collect();
        assert!(
            entries.len() <= Self::MAX_ENTRIES,
            "at most 32 IHAVE entries per batch"
        );
        let ids: usize = entries.iter().map(|e| e.ids.len()).sum();
        let mut w = Vec::with_capacity(1 + entries.len() + ids);
        w.push(entries.len() as u64);
        for e in &entries {
            w.push(e.topic.0 as u64 | (e.topic_len as u64) << 16 | (e.ids.len() as u64) << 32);
        }
        for e in &entries {
            w.extend_from_slice(e.ids);
        }
        IhaveBatch(w.into())
    }

    /// The entries, in order.
    pub fn entries(&self) -> impl Iterator<Item = IhaveEntry<'_>> + '_ {
        let n = self.0[0] as usize;
        let mut at = 1 + n;
        self.0[1..=n].iter().map(move |&d| {
            let count = (d >> 32) as usize;
            let ids = &self.0[at..at + count];
            at += count;
            IhaveEntry {
                topic: TopicIdx(d as u16),
                topic_len: (d >> 16) as u8,
                ids,
            }
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0[0] as usize
    }

    /// Prefetches the first two lines of the batch (the count, the descriptors and the first
    /// ids of a heartbeat's usual one or two entries). A hint only.
    #[inline]
    pub fn prefetch(&self) {
        let p = self.0.as_ptr();
        sim_core::prefetch::prefetch(p);
        sim_core::prefetch::prefetch(p.wrapping_add(8));
    }

    /// True without entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A PRUNE for one topic.
#[derive(Clone, Debug, PartialEq)]
pub struct Prune {
    /// The topic.
    pub topic: TopicIdx,
    /// Its name's length.
    pub topic_len: u8,
    /// Backoff in seconds.
    pub backoff_s: u32,
    /// Peer exchange: peers the receiver may connect to.
    pub px: Option<Rc<[NodeId]>>,
    /// Encoded size.
    pub wire: u32,
}

/// A SUBSCRIBE RPC: (un)subscription to each topic listed.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscriptions {
    /// The topics.
    pub topics: Vec<TopicIdx>,
    /// Subscribe (true) or unsubscribe.
    pub subscribe: bool,
    /// Encoded size.
    pub wire: u32,
}

impl Rpc {
    /// The accounting kind (an index into [`RELAY_CATEGORIES`]).
    #[inline]
    pub fn kind(&self) -> u16 {
        match self {
            Rpc::Publish(_) => kind::PUBLISH,
            Rpc::Forward(_) => kind::FORWARD,
            Rpc::IwantReply(_) => kind::IWANT_REPLY,
            Rpc::Ihave(_) => kind::IHAVE,
            Rpc::Iwant(_) => kind::IWANT,
            Rpc::Idontwant(_) => kind::IDONTWANT,
            Rpc::Graft { .. } => kind::GRAFT,
            Rpc::Prune(_) => kind::PRUNE,
            Rpc::Subscribe(_) => kind::SUBSCRIBE,
        }
    }

    /// Encoded size, length prefix included.
    #[inline]
    pub fn wire_bytes(&self) -> u32 {
        match self {
            Rpc::Publish(msg) | Rpc::Forward(msg) => {
                publish_rpc_bytes(msg.data_bytes, msg.topic_len)
            }
            Rpc::IwantReply(msgs) => {
                messages_rpc_bytes(msgs.iter().map(|m| (m.data_bytes, m.topic_len)))
            }
            Rpc::Ihave(i) => i.wire,
            Rpc::Iwant(ids) => iwant_rpc_bytes(ids.len() as u32),
            Rpc::Idontwant(_) => idontwant_rpc_bytes(1),
            Rpc::Graft { topic_len, .. } => graft_rpc_bytes(*topic_len),
            Rpc::Prune(p) => p.wire,
            Rpc::Subscribe(s) => s.wire,
        }
    }
}

/// A length-delimited field with a one-byte tag: tag + varint(len) + len.
#[inline]
const fn ld(len: u64) -> u64 {
    1 + varint_len(len) as u64 + len
}

/// The `writeLp` frame of an RPC body: varint length prefix + body.
#[inline]
const fn lp(body: u64) -> u32 {
    let n = varint_len(body) as u64 + body;
    if n > u32::MAX as u64 {
        u32::MAX
    } else {
        n as u32
    }
}

/// An RPC with one message: `RPC { publish: [Message { data, topic }] }` (StrictNoSign: no
/// from, seqno, signature or key).
#[inline]
pub const fn publish_rpc_bytes(data_bytes: u32, topic_len: u8) -> u32 {
    let msg = ld(data_bytes as u64) + ld(topic_len as u64);
    lp(ld(msg))
}

/// An RPC carrying several messages, given (data bytes, topic length) of each.
pub fn messages_rpc_bytes(msgs: impl Iterator<Item = (u32, u8)>) -> u32 {
    let body: u64 = msgs
        .map(|(d, t)| ld(ld(d as u64) + ld(t as u64)))
        .sum::<u64>();
    lp(body)
}

/// An RPC with one control message of the given encoded body.
#[inline]
const fn control_rpc(control_body: u64) -> u32 {
    lp(ld(control_body))
}

/// An IHAVE RPC given (topic name length, number of ids) per entry.
pub fn ihave_rpc_bytes(entries: impl Iterator<Item = (u8, u32)>) -> u32 {
    let body: u64 = entries
        .map(|(tl, n)| ld(ld(tl as u64) + n as u64 * ld(MSG_ID_BYTES as u64)))
        .sum();
    control_rpc(body)
}

/// An IWANT RPC with `n` ids.
#[inline]
pub const fn iwant_rpc_bytes(n: u32) -> u32 {
    control_rpc(ld(n as u64 * ld(MSG_ID_BYTES as u64)))
}

/// An IDONTWANT RPC with `n` ids (same layout as IWANT, field 5).
#[inline]
pub const fn idontwant_rpc_bytes(n: u32) -> u32 {
    iwant_rpc_bytes(n)
}

/// A GRAFT RPC.
#[inline]
pub const fn graft_rpc_bytes(topic_len: u8) -> u32 {
    control_rpc(ld(ld(topic_len as u64)))
}

/// Bytes of a libp2p peer id (secp256k1 key, identity multihash).
pub const PEER_ID_BYTES: u32 = 39;

/// A PRUNE RPC with a backoff and `px` peer-exchange entries, each with a signed peer record
/// of `record_bytes` (nim-libp2p always writes both PeerInfo fields, the record possibly
/// empty, and always writes the backoff).
pub const fn prune_rpc_bytes(topic_len: u8, backoff_s: u32, px: u32, record_bytes: u32) -> u32 {
    let peer_info = ld(PEER_ID_BYTES as u64) + ld(record_bytes as u64);
    let prune =
        ld(topic_len as u64) + px as u64 * ld(peer_info) + 1 + varint_len(backoff_s as u64) as u64;
    control_rpc(ld(prune))
}

/// A SUBSCRIBE RPC with one SubOpts { subscribe, topic } per topic name length given.
pub fn subscribe_rpc_bytes(topic_lens: impl Iterator<Item = u8>) -> u32 {
    let body: u64 = topic_lens.map(|tl| ld(2 + ld(tl as u64))).sum();
    lp(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TL: u8 = 14; // "/waku/2/rs/1/0"

    #[test]
    fn table_of_waku_protocols_md() {
        // IHAVE with n ids = 21 + 34n while every length fits one varint byte (n <= 3).
        for n in 1..=3u32 {
            assert_eq!(ihave_rpc_bytes([(TL, n)].into_iter()), 21 + 34 * n);
        }
        // n = 4: entry 16 + 136 = 152 (2-byte length), control 155, RPC 158, prefix 2 -> 160.
        assert_eq!(ihave_rpc_bytes([(TL, 4)].into_iter()), 160);
        // 5000 ids: entry 170,016 (3-byte len) -> control 170,020 -> RPC 170,024 -> 170,027.
        assert_eq!(ihave_rpc_bytes([(TL, 5000)].into_iter()), 170_027);
        for n in 1..=3u32 {
            assert_eq!(iwant_rpc_bytes(n), 5 + 34 * n);
            assert_eq!(idontwant_rpc_bytes(n), 5 + 34 * n);
        }
        assert_eq!(graft_rpc_bytes(TL), 21);
        assert_eq!(prune_rpc_bytes(TL, 60, 0, 0), 23);
        assert_eq!(subscribe_rpc_bytes([TL].into_iter()), 21);
        assert_eq!(subscribe_rpc_bytes([TL, TL].into_iter()), 41);
        assert_eq!(publish_rpc_bytes(100, TL), 100 + 21);
        assert_eq!(publish_rpc_bytes(1000, TL), 1000 + 24);
        assert_eq!(publish_rpc_bytes(4000, TL), 4000 + 24);
        assert_eq!(publish_rpc_bytes(153_600, TL), 153_600 + 27);
        // Two messages in one RPC: each 2 + (1 + 2 + 2000) + 16 = 2021... see formula.
        let one = publish_rpc_bytes(2000, TL) - 2; // body of a one-message RPC
        assert_eq!(
            messages_rpc_bytes([(2000, TL), (2000, TL)].into_iter()),
            2 * one + 2
        );
        // PX: two entries of a 39-byte peer id and an empty record: each PeerInfo
        // 41 + 2 = 43, entry 45; prune body 16 + 90 + 2 = 108; control 110; RPC 112; 113.
        assert_eq!(prune_rpc_bytes(TL, 60, 2, 0), 113);
    }

    #[test]
    fn rpc_is_small_and_kinds_name_their_categories() {
        assert!(
            std::mem::size_of::<Rpc>() <= 32,
            "{}",
            std::mem::size_of::<Rpc>()
        );
        assert_eq!(RELAY_CATEGORIES.len(), 9);
        assert_eq!(
            RELAY_CATEGORIES[kind::IDONTWANT as usize],
            ("relay", "idontwant")
        );
        assert_eq!(Rpc::Idontwant(7).kind(), kind::IDONTWANT);
    }
}
