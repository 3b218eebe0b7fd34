//! Encoded sizes of Waku ENRs and of discv5 packets (discv5 wire specification v5.1,
//! EIP-778 ENRs, 31/WAKU2-ENR and the `rs` / `rsv` fields of relay sharding).
//!
//! Every packet is masking-iv (16) + static header (protocol id 6, version 2, flag 1, nonce
//! 12, authdata size 2: 23) + authdata, then the AES-GCM encrypted message (message type 1 +
//! its RLP) and its 16-byte tag. Ordinary packets carry the 32-byte source id as authdata
//! ([`HEADER_BYTES`] = 71). Request ids are 8 bytes (nim-eth).
//!
//! Sizes (derived in the tests): PING 99 B, PONG 107 B (IPv4), FINDNODE with three distances
//! near 256 106 B, NODES with three one-shard ENRs 575 B, WHOAREYOU 63 B, a handshake packet
//! 170 B + the initiator's ENR + the message it carries.

/// masking-iv + static header + the source id of an ordinary packet, in bytes.
pub const HEADER_BYTES: u32 = 16 + 23 + 32;
/// The AES-GCM tag, in bytes.
pub const TAG_BYTES: u32 = 16;
/// A WHOAREYOU packet: masking-iv, static header, id-nonce (16) and enr-seq (8).
pub const WHOAREYOU_BYTES: u32 = 16 + 23 + 16 + 8;
/// A handshake packet before its ENR and message: masking-iv, static header, src-id (32),
/// sig-size (1), eph-key-size (1), id-signature (64), ephemeral key (33), and the tag.
pub const HANDSHAKE_BASE_BYTES: u32 = 16 + 23 + 32 + 1 + 1 + 64 + 33 + TAG_BYTES;
/// The largest discv5 packet, in bytes.
pub const MAX_PACKET_BYTES: u32 = 1280;

/// Bytes of the RLP length prefix of a string or list of `len` bytes.
#[inline]
pub const fn rlp_len_prefix(len: u32) -> u32 {
    if len <= 55 {
        1
    } else if len < 256 {
        2
    } else if len < 65_536 {
        3
    } else {
        4
    }
}

/// RLP bytes of a byte string of `len` bytes whose first byte is `first` (a single byte
/// below 0x80 encodes as itself).
#[inline]
pub const fn rlp_str(len: u32, first: u8) -> u32 {
    if len == 1 && first < 0x80 {
        1
    } else {
        rlp_len_prefix(len) + len
    }
}

/// RLP bytes of a list whose items take `payload` bytes.
#[inline]
pub const fn rlp_list(payload: u32) -> u32 {
    rlp_len_prefix(payload) + payload
}

/// How a node's ENR tells its shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardField {
    /// No shard field.
    None,
    /// `rs`: cluster (2) | count (1) | each shard index (2).
    List(u32),
    /// `rsv`: cluster (2) | a 1024-bit vector (128).
    Vector,
}

impl ShardField {
    /// nwaku's choice for a node on `shards` shards: the index list below 64 shards, the
    /// bit vector from 64 (`updateENRShards`, `ShardingIndicesListMaxLength` = 64).
    pub fn for_shards(shards: usize) -> Self {
        match shards {
            0 => ShardField::None,
            n if n < 64 => ShardField::List(n as u32),
            _ => ShardField::Vector,
        }
    }
}

/// Bytes of a Waku ENR: the RLP list [signature (64), seq, "id" "v4", "ip" (4), shard
/// field, "secp256k1" (33, compressed), "tcp" (2), "udp" (2), "waku2" (1)] plus
/// `extra_bytes` (e.g. a `multiaddrs` field, counted as given). seq is taken below 128 (one
/// byte); ports are two bytes and the capability byte below 0x80.
pub fn enr_bytes(shards: ShardField, extra_bytes: u32) -> u32 {
    let kv = |k: u32, v: u32| rlp_str(k, b'a') + v;
    let mut p = rlp_str(64, 0xff) + 1; // signature, seq
    p += kv(2, rlp_str(2, b'v')); // id = "v4"
    p += kv(2, rlp_str(4, 0xff)); // ip
    p += match shards {
        ShardField::None => 0,
        ShardField::List(n) => kv(2, rlp_str(3 + 2 * n, 0)),
        ShardField::Vector => kv(3, rlp_str(130, 0)),
    };
    p += kv(9, rlp_str(33, 0x02)); // secp256k1
    p += kv(3, rlp_str(2, 0xea)); // tcp
    p += kv(3, rlp_str(2, 0xea)); // udp
    p += kv(5, 1); // waku2 bits
    rlp_list(p + extra_bytes)
}

/// RLP bytes of an 8-byte request id.
const REQ_ID: u32 = 9;

/// An ordinary packet around a message whose RLP list payload is `items` bytes.
const fn packet(items: u32) -> u32 {
    HEADER_BYTES + 1 + rlp_list(items) + TAG_BYTES
}

/// PING: [request-id, enr-seq].
pub const PING_BYTES: u32 = packet(REQ_ID + 1);
/// PONG: [request-id, enr-seq, recipient-ip (4), recipient-port (2)].
pub const PONG_BYTES: u32 = packet(REQ_ID + 1 + 5 + 3);

/// The message of a FINDNODE: [request-id, [distances]], with its type byte.
pub fn findnode_message(dists: &[u16]) -> u32 {
    let d: u32 = dists
        .iter()
        .map(|&d| match d {
            0 => 1,
            1..=127 => 1,
            128..=255 => 2,
            _ => 3,
        })
        .sum();
    1 + rlp_list(REQ_ID + rlp_list(d))
}

/// A FINDNODE packet.
pub fn findnode_bytes(dists: &[u16]) -> u32 {
    HEADER_BYTES + findnode_message(dists) + TAG_BYTES
}

/// The message of a NODES with ENRs of `enrs` total bytes: [request-id, total, [ENRs]].
pub fn nodes_message(enrs: u32) -> u32 {
    1 + rlp_list(REQ_ID + 1 + rlp_list(enrs))
}

/// A NODES packet.
pub fn nodes_bytes(enrs: u32) -> u32 {
    HEADER_BYTES + nodes_message(enrs) + TAG_BYTES
}

/// A handshake packet carrying the initiator's ENR of `enr` bytes and a message of
/// `message` bytes (type byte and RLP).
pub fn handshake_bytes(enr: u32, message: u32) -> u32 {
    HANDSHAKE_BASE_BYTES + enr + message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enr_sizes_match_hand_encodings() {
        // One shard (`rs`, 5 bytes): signature 2 + 64 = 66; seq 1; "id" 3 + "v4" 3 = 6;
        // "ip" 3 + 5 = 8; "rs" 3 + (1 + 5) = 9; "secp256k1" 10 + 34 = 44; "tcp" 4 + 3 = 7;
        // "udp" 7; "waku2" 6 + 1 = 7. Items 155 > 55: the list prefix is 2 bytes: 157.
        assert_eq!(enr_bytes(ShardField::List(1), 0), 157);
        // 8 shards: rs is 3 + 16 = 19 bytes (1 + 19 = 20 encoded, 14 more): 171.
        assert_eq!(enr_bytes(ShardField::List(8), 0), 171);
        // Without the shard field the items take 146 bytes. 26 shards: rs is 55 bytes, still
        // a 1-byte prefix: 146 + 3 + 56 = 205 items, 207 bytes.
        assert_eq!(enr_bytes(ShardField::List(26), 0), 207);
        // 27 shards: rs is 57 bytes, a 2-byte prefix: 146 + 3 + 59 = 208 items, 210 bytes.
        assert_eq!(enr_bytes(ShardField::List(27), 0), 210);
        // `rsv`: key 4, value 130 bytes with a 2-byte prefix = 132: 155 - 9 + 136 = 282,
        // list prefix 3 bytes (payload 282 >= 256): 285.
        assert_eq!(enr_bytes(ShardField::Vector, 0), 285);
        // No shard field: 146 items, 148 bytes.
        assert_eq!(enr_bytes(ShardField::None, 0), 148);
        assert_eq!(ShardField::for_shards(63), ShardField::List(63));
        assert_eq!(ShardField::for_shards(64), ShardField::Vector);
    }

    #[test]
    fn packet_sizes_match_hand_encodings() {
        // Header 71, tag 16. PING: req-id 9 + enr-seq 1 = 10, list 11, type 1: 71 + 12 + 16.
        assert_eq!(PING_BYTES, 99);
        // PONG: 9 + 1 + ip 5 + port 3 = 18, list 19, type 1: 71 + 20 + 16.
        assert_eq!(PONG_BYTES, 107);
        // FINDNODE [256, 255, 254]: distances 3 + 2 + 2 = 7, list 8; 9 + 8 = 17, list 18,
        // type 1 = 19: 71 + 19 + 16 = 106.
        assert_eq!(findnode_bytes(&[256, 255, 254]), 106);
        // Three one-shard ENRs: 471 bytes, list prefix 3 (>= 256) = 474; 9 + 1 + 474 = 484,
        // prefix 3 = 487, type 1 = 488: 71 + 488 + 16 = 575.
        assert_eq!(nodes_bytes(3 * 157), 575);
        // An empty NODES: [] is 1 byte; 9 + 1 + 1 = 11, list 12, type 13: 100.
        assert_eq!(nodes_bytes(0), 100);
        // Three `rsv` ENRs (855 bytes) still fit a packet: 71 + 1 + 3 + 10 + 858 + 16 = 959.
        assert_eq!(nodes_bytes(3 * 285), 959);
        assert!(nodes_bytes(3 * 300) <= MAX_PACKET_BYTES);
        // WHOAREYOU 16 + 23 + 24.
        assert_eq!(WHOAREYOU_BYTES, 63);
        // Handshake: 16 + 23 + 32 + 1 + 1 + 64 + 33 = 170 before the ENR, message and tag.
        assert_eq!(HANDSHAKE_BASE_BYTES, 170 + 16);
        assert_eq!(
            handshake_bytes(157, findnode_message(&[256, 255, 254])),
            186 + 157 + 19
        );
    }
}
