//! The metadata protocol (`/vac/waku/metadata/1.0.0`): on every new connection each side asks
//! the other for its cluster id and shards, and drops the connection when they do not fit.
//!
//! nwaku's peer manager runs it on every `Joined` peer event (both sides, so a connection
//! carries two requests and two responses): it opens a stream, writes a
//! `WakuMetadataRequest { cluster_id, shards }` and reads the `WakuMetadataResponse` (same
//! fields). It disconnects the peer, and deletes it from the peer store, when
//!
//! - the response has no cluster id ([`Verdict::EmptyCluster`]),
//! - the cluster ids differ ([`Verdict::ClusterMismatch`]),
//! - the peer runs relay and shares no shard with the node ([`Verdict::NoCommonShard`]),
//! - the exchange fails: both sides read with a 1,024-byte limit (`RpcResponseMaxBytes`), so a
//!   shard list whose encoding exceeds it breaks the exchange ([`Verdict::TooLarge`]). Shard
//!   indices from 128 on take two bytes, so a node on about 550 shards or more cannot complete
//!   it with anybody; 100 shards take 100 to 200 bytes.
//!
//! Sizes on the wire ([`MetadataMsg::wire`]) count multistream-select on the new stream (both
//! lines echoed by the listener) and the length-prefixed protobuf body; transport framing is
//! added by the node like for every message.

use std::rc::Rc;

use crate::relay::message::varint_len;

/// The protocol id.
pub const METADATA_CODEC: &str = "/vac/waku/metadata/1.0.0";

/// Largest body either side reads (nwaku `RpcResponseMaxBytes`).
pub const RPC_MAX_BYTES: u32 = 1024;

/// Bytes of the multistream-select header line on a new stream: `/multistream/1.0.0\n` (19)
/// with its one-byte length prefix.
pub const MULTISTREAM_HEADER_BYTES: u32 = 20;

/// Bytes of a length-prefixed multistream protocol line for `codec` (`codec\n` plus prefix).
pub const fn protocol_line_bytes(codec: &str) -> u32 {
    let n = codec.len() as u64 + 1;
    (varint_len(n) as u64 + n) as u32
}

/// Stream opening overhead of the metadata protocol, per direction: the header line and the
/// protocol line (26 bytes for `/vac/waku/metadata/1.0.0`).
pub const METADATA_NEGOTIATION_BYTES: u32 =
    MULTISTREAM_HEADER_BYTES + protocol_line_bytes(METADATA_CODEC);

/// Request or response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataKind {
    /// `WakuMetadataRequest`, sent by the node that saw the connection join.
    Request,
    /// `WakuMetadataResponse`.
    Response,
}

/// A metadata message: the sender's cluster id and shards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataMsg {
    /// Request or response.
    pub kind: MetadataKind,
    /// The sender's cluster id (`None`: field absent, as from a node without a cluster).
    pub cluster: Option<u16>,
    /// The sender's shards, ascending.
    pub shards: Rc<[u16]>,
}

/// Bytes of the protobuf body: field 1 (cluster id, varint, written when present) and field 2
/// (shards, packed varints, written when not empty).
pub fn body_bytes(cluster: Option<u16>, shards: &[u16]) -> u32 {
    let mut n = 0u32;
    if let Some(c) = cluster {
        n += 1 + varint_len(c as u64);
    }
    if !shards.is_empty() {
        let packed: u32 = shards.iter().map(|&s| varint_len(s as u64)).sum();
        n += 1 + varint_len(packed as u64) + packed;
    }
    n
}

impl MetadataMsg {
    /// A message of `kind` with the sender's cluster and shards.
    pub fn new(kind: MetadataKind, cluster: Option<u16>, shards: Rc<[u16]>) -> Self {
        MetadataMsg {
            kind,
            cluster,
            shards,
        }
    }

    /// Bytes of the protobuf body alone.
    pub fn body(&self) -> u32 {
        body_bytes(self.cluster, &self.shards)
    }

    /// Bytes on the wire: stream negotiation, then the length-prefixed body.
    pub fn wire(&self) -> u32 {
        let b = self.body();
        METADATA_NEGOTIATION_BYTES + varint_len(b as u64) + b
    }

    /// Whether the receiver can read it (the body fits the 1,024-byte read limit).
    pub fn readable(&self) -> bool {
        self.body() <= RPC_MAX_BYTES
    }
}

/// The outcome of a metadata exchange, as the requesting node judges the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep the connection.
    Keep,
    /// The response has no cluster id.
    EmptyCluster,
    /// Another cluster.
    ClusterMismatch {
        /// This node's cluster.
        mine: u16,
        /// The peer's.
        theirs: u16,
    },
    /// A relay peer with no shard in common.
    NoCommonShard,
    /// The exchange failed: a body above the read limit.
    TooLarge,
}

impl Verdict {
    /// A stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Keep => "keep",
            Verdict::EmptyCluster => "empty_cluster",
            Verdict::ClusterMismatch { .. } => "cluster_mismatch",
            Verdict::NoCommonShard => "no_common_shard",
            Verdict::TooLarge => "too_large",
        }
    }
}

/// Whether two ascending shard lists share a shard.
pub fn share_a_shard(a: &[u16], b: &[u16]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// nwaku `onPeerMetadata`: judges a response. `peer_relay` is whether the peer runs relay;
/// `require_common_shard` applies the no-common-shard rule (nwaku always does).
pub fn judge(
    my_cluster: u16,
    my_shards: &[u16],
    response: &MetadataMsg,
    peer_relay: bool,
    require_common_shard: bool,
) -> Verdict {
    if !response.readable() {
        return Verdict::TooLarge;
    }
    let Some(theirs) = response.cluster else {
        return Verdict::EmptyCluster;
    };
    if theirs != my_cluster {
        return Verdict::ClusterMismatch {
            mine: my_cluster,
            theirs,
        };
    }
    if require_common_shard && peer_relay && !share_a_shard(my_shards, &response.shards) {
        return Verdict::NoCommonShard;
    }
    Verdict::Keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(cluster: Option<u16>, shards: &[u16]) -> MetadataMsg {
        MetadataMsg::new(MetadataKind::Response, cluster, shards.into())
    }

    #[test]
    fn sizes_by_hand() {
        // "/vac/waku/metadata/1.0.0" is 24 characters; with "\n" 25, with its prefix 26.
        assert_eq!(protocol_line_bytes(METADATA_CODEC), 26);
        assert_eq!(METADATA_NEGOTIATION_BYTES, 46);
        // Cluster 1, shard 0: field 1 = 1 + 1; field 2 = 1 + 1 (len) + 1 => 5; prefix 1 => 6.
        assert_eq!(body_bytes(Some(1), &[0]), 5);
        assert_eq!(msg(Some(1), &[0]).wire(), 46 + 1 + 5);
        // 8 shards of cluster 1: 2 + (1 + 1 + 8) = 12.
        assert_eq!(body_bytes(Some(1), &[0, 1, 2, 3, 4, 5, 6, 7]), 12);
        // Cluster 300 takes a 2-byte varint; no shards: 1 + 2 = 3.
        assert_eq!(body_bytes(Some(300), &[]), 3);
        assert_eq!(body_bytes(None, &[]), 0);
        // 100 shards 0..99: 2 + 1 + 1 + 100 = 104.
        let hundred: Vec<u16> = (0..100).collect();
        assert_eq!(body_bytes(Some(1), &hundred), 104);
        // All 1024 shards: 128 one-byte + 896 two-byte varints = 1920 packed bytes (2-byte
        // length) => 2 + 1 + 2 + 1920 = 1925 > 1024: unreadable.
        let all: Vec<u16> = (0..1024).collect();
        assert_eq!(body_bytes(Some(1), &all), 1925);
        assert!(!msg(Some(1), &all).readable());
        assert!(msg(Some(1), &hundred).readable());
    }

    #[test]
    fn verdicts() {
        let mine = [0u16, 5, 9];
        assert_eq!(
            judge(1, &mine, &msg(Some(1), &[5]), true, true),
            Verdict::Keep
        );
        assert_eq!(
            judge(1, &mine, &msg(Some(2), &[5]), true, true),
            Verdict::ClusterMismatch { mine: 1, theirs: 2 }
        );
        assert_eq!(
            judge(1, &mine, &msg(None, &[5]), true, true),
            Verdict::EmptyCluster
        );
        assert_eq!(
            judge(1, &mine, &msg(Some(1), &[1, 2]), true, true),
            Verdict::NoCommonShard
        );
        // A non-relay peer (a light client) needs no shard in common; nor when the rule is off.
        assert_eq!(
            judge(1, &mine, &msg(Some(1), &[1]), false, true),
            Verdict::Keep
        );
        assert_eq!(
            judge(1, &mine, &msg(Some(1), &[1]), true, false),
            Verdict::Keep
        );
        let all: Vec<u16> = (0..1024).collect();
        assert_eq!(
            judge(1, &mine, &msg(Some(1), &all), true, true),
            Verdict::TooLarge
        );
        assert!(share_a_shard(&[1, 3, 7], &[2, 7]));
        assert!(!share_a_shard(&[1, 3], &[2, 4]));
        assert!(!share_a_shard(&[], &[2, 4]));
    }
}
