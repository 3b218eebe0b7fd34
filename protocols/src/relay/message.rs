//! Waku messages as the simulator carries them: ids, topics, sizes.
//!
//! A message in flight carries no payload bytes, only what the protocol and the metrics need
//! ([`WireMsg`], 24 bytes). Sizes on the wire are computed from the protobuf encoding of the
//! WakuMessage ([`WakuMessageShape::encoded_len`]) and of the gossipsub RPC around it
//! ([`crate::relay::rpc`]).
//!
//! Message ids are derived as Waku derives them: sha256 over the serialized WakuMessage
//! (nwaku `defaultMessageIdProvider`). The simulator has no payload bytes, so it hashes a
//! stand-in serialization that is unique per message (publisher, per-publisher counter,
//! timestamp, sizes, content topic) once per published message and carries the first 8 bytes
//! of the digest as a `u64` ([`MsgId`]). Wire sizes still count the full 32-byte id.

use sha2::{Digest, Sha256};

/// A message id: the first 8 bytes (big-endian) of the 32-byte sha256 message id.
pub type MsgId = u64;

/// Bytes of a gossipsub message id on the wire (sha256).
pub const MSG_ID_BYTES: u32 = 32;

/// Index of a pubsub topic (shard) in the run's topic table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TopicIdx(pub u16);

/// The pubsub topic name of a static shard: `/waku/2/rs/<cluster>/<shard>`.
pub fn shard_topic(cluster: u16, shard: u16) -> String {
    format!("/waku/2/rs/{cluster}/{shard}")
}

/// The names of a run's pubsub topics; [`TopicIdx`] indexes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topics {
    names: Vec<String>,
    lens: Vec<u8>,
}

impl Topics {
    /// A table of the given names (each at most 255 bytes; at most 65,535 topics).
    pub fn new(names: Vec<String>) -> Result<Self, String> {
        if names.is_empty() {
            return Err("at least one topic is needed".into());
        }
        if names.len() > u16::MAX as usize {
            return Err(format!("at most 65535 topics, got {}", names.len()));
        }
        let mut lens = Vec::with_capacity(names.len());
        for n in &names {
            if n.is_empty() || n.len() > 255 {
                return Err(format!(
                    "topic names must be 1 to 255 bytes long, got {n:?}"
                ));
            }
            lens.push(n.len() as u8);
        }
        Ok(Topics { names, lens })
    }
    /// `shards` static shards of `cluster`: `/waku/2/rs/<cluster>/0` and up.
    pub fn shards(cluster: u16, shards: u16) -> Self {
        Topics::new((0..shards).map(|s| shard_topic(cluster, s)).collect())
            .expect("shard names are valid")
    }
    /// Number of topics.
    pub fn len(&self) -> usize {
        self.names.len()
    }
    /// Never true (a table has at least one topic).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    /// A topic's name.
    pub fn name(&self, t: TopicIdx) -> &str {
        &self.names[t.0 as usize]
    }
    /// A topic name's length in bytes.
    #[inline]
    pub fn name_len(&self, t: TopicIdx) -> u8 {
        self.lens[t.0 as usize]
    }
    /// All names, by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// A gossipsub message in flight, as small as possible (24 bytes): no payload, only sizes,
/// the id, the topic and what the metrics need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireMsg {
    /// The message id (first 8 bytes of sha256 of the serialized WakuMessage).
    pub id: MsgId,
    /// Index of the message in the run's message registry (metrics only: publish time,
    /// publisher). Protocol logic never reads it.
    pub seq: u32,
    /// Bytes of the serialized WakuMessage (the gossipsub `data` field).
    pub data_bytes: u32,
    /// The pubsub topic.
    pub topic: TopicIdx,
    /// Links travelled so far (0 at the publisher; saturating).
    pub hops: u8,
    /// Length of the topic name in bytes (for wire sizes).
    pub topic_len: u8,
    /// Validation flags ([`WireMsg::INVALID`], [`WireMsg::IGNORE`], [`WireMsg::SIGNED`]).
    pub flags: u8,
}

impl WireMsg {
    /// The message fails validation (Reject: the sender is penalised, P4).
    pub const INVALID: u8 = 1;
    /// The message is ignored by validation (not forwarded, no penalty).
    pub const IGNORE: u8 = 2;
    /// The message carries a valid signature of its shard's key (protected shards,
    /// [`crate::relay::protected`]).
    pub const SIGNED: u8 = 4;
    /// A publisher sent it again after store did not confirm it (p2p reliability,
    /// [`crate::store`]): relay handles it as any message, but its acceptance is not a relay
    /// delivery (the store's metrics count recoveries).
    pub const REPUBLISHED: u8 = 8;

    /// The copy a node sends on: one more hop.
    #[inline]
    pub fn next_hop(mut self) -> Self {
        self.hops = self.hops.saturating_add(1);
        self
    }
}

/// The fields of a WakuMessage that decide its serialized size (14/WAKU2-MESSAGE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WakuMessageShape {
    /// Payload bytes.
    pub payload_bytes: u32,
    /// Bytes of the content topic string.
    pub content_topic_bytes: u32,
    /// Bytes of `meta` (at most 64).
    pub meta_bytes: u32,
    /// Whether an RLN proof is attached (335 B encoded, 339 B with its field header).
    pub rln_proof: bool,
    /// Whether `ephemeral` is set.
    pub ephemeral: bool,
}

/// Bytes of an encoded RLN rate-limit proof (128 B Groth16 proof plus six 32 B fields,
/// with their field headers).
pub const RLN_PROOF_BYTES: u32 = 335;

/// Bytes of a protobuf varint encoding `v`.
#[inline]
pub const fn varint_len(v: u64) -> u32 {
    let bits = 64 - (v | 1).leading_zeros();
    bits.div_ceil(7)
}

impl WakuMessageShape {
    /// The serialized size, as nwaku's `encode` writes it (proto3: empty fields omitted):
    /// payload (1), content_topic (2), version (3, omitted as 0), timestamp (10, zigzag
    /// varint of a nanosecond Unix time: 9 bytes until 2262), meta (11), rate_limit_proof
    /// (21, two-byte tag), ephemeral (31, two-byte tag, only when true).
    pub const fn encoded_len(&self) -> u32 {
        let mut n = 0u32;
        if self.payload_bytes > 0 {
            n += 1 + varint_len(self.payload_bytes as u64) + self.payload_bytes;
        }
        if self.content_topic_bytes > 0 {
            n += 1 + varint_len(self.content_topic_bytes as u64) + self.content_topic_bytes;
        }
        n += 1 + 9; // timestamp
        if self.meta_bytes > 0 {
            n += 1 + varint_len(self.meta_bytes as u64) + self.meta_bytes;
        }
        if self.rln_proof {
            n += 2 + varint_len(RLN_PROOF_BYTES as u64) + RLN_PROOF_BYTES;
        }
        if self.ephemeral {
            n += 2 + 1;
        }
        n
    }
}

/// The message id of a published message: sha256 over a stand-in serialization that is
/// unique per message, first 8 bytes big-endian. Computed once per published message.
pub fn derive_msg_id(
    publisher: u32,
    counter: u64,
    timestamp_ns: u64,
    shape: &WakuMessageShape,
    content_topic: &str,
) -> MsgId {
    let mut h = Sha256::new();
    h.update(b"wakusim/waku-message/1");
    h.update(publisher.to_be_bytes());
    h.update(counter.to_be_bytes());
    h.update(timestamp_ns.to_be_bytes());
    h.update(shape.payload_bytes.to_be_bytes());
    h.update(shape.meta_bytes.to_be_bytes());
    h.update([shape.rln_proof as u8, shape.ephemeral as u8]);
    h.update(content_topic.as_bytes());
    let d = h.finalize();
    u64::from_be_bytes(d[..8].try_into().expect("32-byte digest"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(16_383), 2);
        assert_eq!(varint_len(16_384), 3);
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn waku_message_sizes_by_hand() {
        // 2000 B payload: 1 + 2 + 2000; content topic "/toy-chat/2/huilong/proto" (25 B):
        // 1 + 1 + 25; timestamp 10 => 2040.
        let s = WakuMessageShape {
            payload_bytes: 2000,
            content_topic_bytes: 25,
            meta_bytes: 0,
            rln_proof: false,
            ephemeral: false,
        };
        assert_eq!(s.encoded_len(), 2040);
        // With an RLN proof: + 2 + 2 + 335 = 339.
        let p = WakuMessageShape {
            rln_proof: true,
            ..s
        };
        assert_eq!(p.encoded_len(), 2040 + 339);
    }

    #[test]
    fn ids_differ_and_are_stable() {
        let s = WakuMessageShape {
            payload_bytes: 10,
            content_topic_bytes: 3,
            meta_bytes: 0,
            rln_proof: false,
            ephemeral: false,
        };
        let a = derive_msg_id(1, 0, 5, &s, "/a/");
        assert_eq!(a, derive_msg_id(1, 0, 5, &s, "/a/"));
        assert_ne!(a, derive_msg_id(1, 1, 5, &s, "/a/"));
        assert_ne!(a, derive_msg_id(2, 0, 5, &s, "/a/"));
        assert_eq!(std::mem::size_of::<WireMsg>(), 24);
    }

    #[test]
    fn shard_names() {
        assert_eq!(shard_topic(1, 0), "/waku/2/rs/1/0");
        let t = Topics::shards(1, 8);
        assert_eq!(t.len(), 8);
        assert_eq!(t.name_len(TopicIdx(7)), 14);
    }
}
