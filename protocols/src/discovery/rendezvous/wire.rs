//! Rendezvous messages and their sizes on the wire: the libp2p rendezvous protobuf
//! (`rendezvous.proto`, as nim-libp2p aa8ce46 `protocols/rendezvous/protobuf.nim` encodes
//! it) carrying a signed peer record (a libp2p `Envelope` around a `PeerRecord`).
//!
//! Every request opens a stream: multistream-select's header and `/rendezvous/1.0.0` as
//! varint-prefixed lines (20 + 19 = 39 bytes, [`STREAM_OPEN_BYTES`]), which the point echoes
//! before its answer. The message itself is written with a varint length prefix.
//!
//! The signed peer record, derived field by field ([`signed_peer_record_bytes`]):
//! - `PeerRecord`: peer_id (field 1: an identity multihash of a secp256k1 key's protobuf,
//!   2 + 37 = 39 bytes, so 1 + 1 + 39 = 41), seq (field 2: a Unix time in seconds, a 5-byte
//!   varint: 6), each address (field 3: `AddressInfo { multiaddr }` of an 8-byte
//!   `/ip4/../tcp/..`: 1 + 1 + (1 + 1 + 8) = 12): 59 bytes with one address;
//! - `Envelope`: public_key (field 1: `PublicKey { Type = 2, Data = 33 bytes }` = 37, so 39),
//!   payload_type (field 2: multicodec 0x0301 as a 2-byte varint: 4), payload (field 3:
//!   1 + 1 + 59 = 61), signature (field 5: a 71-byte DER secp256k1 signature: 73): 177 bytes.

use crate::relay::message::varint_len;

/// Bytes that open a rendezvous stream: `/multistream/1.0.0\n` (19 + 1) and
/// `/rendezvous/1.0.0\n` (18 + 1).
pub const STREAM_OPEN_BYTES: u32 = 39;

/// Bytes of a length-delimited field of `len` bytes with a one-byte tag.
pub fn ld(len: u32) -> u32 {
    1 + varint_len(len as u64) + len
}

/// Bytes of a varint field with a one-byte tag.
pub fn vf(v: u64) -> u32 {
    1 + varint_len(v)
}

/// Bytes of a signed peer record with `addrs` addresses (see the module docs: 177 for one).
pub fn signed_peer_record_bytes(addrs: u32) -> u32 {
    let record = ld(39) + vf(1_700_000_000) + addrs * ld(ld(8));
    ld(37) + ld(2) + ld(record) + ld(71)
}

/// A namespace `rs/<cluster>/<shard>` (go-waku `ShardToNamespace`, nwaku `computeNamespace`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ns {
    /// The cluster.
    pub cluster: u16,
    /// The shard.
    pub shard: u16,
}

fn digits(v: u16) -> u32 {
    match v {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1000..=9999 => 4,
        _ => 5,
    }
}

impl Ns {
    /// Bytes of its string, `rs/` + cluster + `/` + shard.
    pub fn len(self) -> u32 {
        3 + digits(self.cluster) + 1 + digits(self.shard)
    }
    /// Never empty (kept for clippy's `len_without_is_empty`).
    pub fn is_empty(self) -> bool {
        false
    }
}

/// A response status (nim-libp2p `ResponseStatus`, the spec's error codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// OK (0).
    Ok,
    /// E_INVALID_NAMESPACE (100): a DISCOVER for a namespace the point never saw (nim-libp2p
    /// answers so rather than with an empty list).
    InvalidNamespace,
    /// E_INVALID_TTL (102): outside [min_ttl_s, max_ttl_s].
    InvalidTtl,
    /// E_INVALID_COOKIE (103).
    InvalidCookie,
    /// E_NOT_AUTHORIZED (200): the peer's registration cap is reached.
    NotAuthorized,
    /// E_UNAVAILABLE (400): the point's total cap is reached.
    Unavailable,
}

impl Status {
    /// Every status, in code order.
    pub const ALL: [Status; 6] = [
        Status::Ok,
        Status::InvalidNamespace,
        Status::InvalidTtl,
        Status::InvalidCookie,
        Status::NotAuthorized,
        Status::Unavailable,
    ];
    /// The numeric code.
    pub fn code(self) -> u32 {
        match self {
            Status::Ok => 0,
            Status::InvalidNamespace => 100,
            Status::InvalidTtl => 102,
            Status::InvalidCookie => 103,
            Status::NotAuthorized => 200,
            Status::Unavailable => 400,
        }
    }
    /// A stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::InvalidNamespace => "invalid_namespace",
            Status::InvalidTtl => "invalid_ttl",
            Status::InvalidCookie => "invalid_cookie",
            Status::NotAuthorized => "not_authorized",
            Status::Unavailable => "unavailable",
        }
    }
    /// Bytes of the status field and of the text nim-libp2p sends with an error (an empty
    /// string, or "Registration limit reached" for E_NOT_AUTHORIZED).
    fn bytes(self) -> u32 {
        match self {
            Status::Ok => vf(0),
            Status::NotAuthorized => vf(200) + ld(26),
            s => vf(s.code() as u64) + ld(0),
        }
    }
}

/// A DISCOVER cookie: the point's registration log offset to continue from, and the
/// namespace it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookie {
    /// The next log index.
    pub offset: u64,
    /// Its namespace (`None`: a cookie for "any namespace").
    pub ns: Option<Ns>,
}

impl Cookie {
    /// Bytes of the encoded cookie (offset field 1, namespace field 2).
    pub fn bytes(&self) -> u32 {
        vf(self.offset) + self.ns.map_or(0, |n| ld(n.len()))
    }
}

/// A registration returned by DISCOVER: the peer and the seconds its registration has left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// The registered peer.
    pub peer: sim_core::NodeId,
    /// Remaining TTL, seconds.
    pub ttl_s: u32,
}

/// A DISCOVER answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoverResponse {
    /// The namespace asked for.
    pub ns: Ns,
    /// The status.
    pub status: Status,
    /// The registrations (empty on error).
    pub records: Vec<Record>,
    /// The cookie to continue with (`None` on error).
    pub cookie: Option<Cookie>,
    /// Bytes on the wire (computed once by [`DiscoverResponse::new`]).
    pub bytes: u32,
}

/// A rendezvous message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RdvMsg {
    /// REGISTER: the sender's signed peer record under `ns` for `ttl_s` seconds.
    Register {
        /// Namespace.
        ns: Ns,
        /// Requested TTL, seconds.
        ttl_s: u32,
        /// Bytes of the sender's signed peer record.
        spr: u16,
    },
    /// REGISTER_RESPONSE.
    RegisterResponse {
        /// Namespace registered (for the client's bookkeeping; not on the wire).
        ns: Ns,
        /// The status.
        status: Status,
        /// TTL granted, seconds (on OK).
        ttl_s: u32,
    },
    /// UNREGISTER (no answer).
    Unregister {
        /// Namespace.
        ns: Ns,
    },
    /// DISCOVER.
    Discover {
        /// Namespace.
        ns: Ns,
        /// At most this many records.
        limit: u32,
        /// Where to continue (`None`: from the start).
        cookie: Option<Box<Cookie>>,
    },
    /// DISCOVER_RESPONSE.
    DiscoverResponse(Box<DiscoverResponse>),
}

/// A length-prefixed `Message { type = t, <sub-message field> = body }` of `body` bytes.
fn message(t: u64, body: u32) -> u32 {
    let m = vf(t) + ld(body);
    varint_len(m as u64) + m
}

/// Bytes of a `Register` of namespace `ns` with a signed record of `spr` bytes and `ttl_s`.
pub fn register_body(ns: Ns, spr: u32, ttl_s: u64) -> u32 {
    ld(ns.len()) + ld(spr) + vf(ttl_s)
}

impl DiscoverResponse {
    /// An answer with its wire size; every record carries a signed record of `spr` bytes.
    pub fn new(
        ns: Ns,
        status: Status,
        records: Vec<Record>,
        cookie: Option<Cookie>,
        spr: u32,
    ) -> Self {
        let mut body = status.bytes();
        for r in &records {
            body += ld(register_body(ns, spr, r.ttl_s as u64));
        }
        if let Some(c) = &cookie {
            body += ld(c.bytes());
        }
        let bytes = STREAM_OPEN_BYTES + message(4, body);
        DiscoverResponse {
            ns,
            status,
            records,
            cookie,
            bytes,
        }
    }
}

impl RdvMsg {
    /// Bytes on the wire (stream opening and the length-prefixed message).
    pub fn bytes(&self) -> u32 {
        match self {
            RdvMsg::Register { ns, ttl_s, spr } => {
                STREAM_OPEN_BYTES + message(0, register_body(*ns, *spr as u32, *ttl_s as u64))
            }
            RdvMsg::RegisterResponse { status, ttl_s, .. } => {
                let body = status.bytes()
                    + if *status == Status::Ok {
                        vf(*ttl_s as u64)
                    } else {
                        0
                    };
                STREAM_OPEN_BYTES + message(1, body)
            }
            RdvMsg::Unregister { ns } => STREAM_OPEN_BYTES + message(2, ld(ns.len())),
            RdvMsg::Discover { ns, limit, cookie } => {
                let body =
                    ld(ns.len()) + vf(*limit as u64) + cookie.as_ref().map_or(0, |c| ld(c.bytes()));
                STREAM_OPEN_BYTES + message(3, body)
            }
            RdvMsg::DiscoverResponse(r) => r.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::NodeId;

    #[test]
    fn sizes_by_hand() {
        // The signed peer record with one address: 177 (module docs).
        assert_eq!(signed_peer_record_bytes(1), 177);
        // Two addresses: the record grows by 12 to 71, the payload field by 12: 189.
        assert_eq!(signed_peer_record_bytes(2), 189);
        let ns = Ns {
            cluster: 1,
            shard: 0,
        };
        assert_eq!(ns.len(), 6); // "rs/1/0"
        assert_eq!(
            Ns {
                cluster: 16,
                shard: 1023
            }
            .len(),
            10
        ); // "rs/16/1023"
        // REGISTER rs/1/0, TTL 60: Register = ns 2 + 6, record 1 + 2 + 177, ttl 1 + 1 = 190;
        // Message = type 2 + 1 + 2 + 190 = 195; prefix 2; stream 39: 236.
        let r = RdvMsg::Register {
            ns,
            ttl_s: 60,
            spr: 177,
        };
        assert_eq!(r.bytes(), 236);
        // REGISTER_RESPONSE OK, TTL 60: status 2 + ttl 2 = 4; Message 2 + 1 + 1 + 4 = 8;
        // prefix 1; stream 39: 48.
        let ok = RdvMsg::RegisterResponse {
            ns,
            status: Status::Ok,
            ttl_s: 60,
        };
        assert_eq!(ok.bytes(), 48);
        // E_INVALID_TTL: status 1 + 1, empty text 2 = 4: also 48.
        let bad = RdvMsg::RegisterResponse {
            ns,
            status: Status::InvalidTtl,
            ttl_s: 0,
        };
        assert_eq!(bad.bytes(), 48);
        // DISCOVER rs/1/0 limit 12 without a cookie: 8 + 2 = 10; Message 2 + 2 + 10 = 14;
        // prefix 1; stream 39: 54. With the cookie {offset 300, rs/1/0}: cookie 3 + 8 = 11,
        // field 13: body 23, Message 27, 1 + 27 + 39 = 67.
        let d = RdvMsg::Discover {
            ns,
            limit: 12,
            cookie: None,
        };
        assert_eq!(d.bytes(), 54);
        let d = RdvMsg::Discover {
            ns,
            limit: 12,
            cookie: Some(Box::new(Cookie {
                offset: 300,
                ns: Some(ns),
            })),
        };
        assert_eq!(d.bytes(), 67);
        // DISCOVER_RESPONSE with 2 records (TTL 50 s left: 190 each, field 1 + 2 + 190 =
        // 193), a cookie {offset 7, rs/1/0} (2 + 8 = 10, field 12), status OK 2: body 400;
        // Message 2 + 1 + 2 + 400 = 405; prefix 2; stream 39: 446.
        let recs = vec![
            Record {
                peer: NodeId(1),
                ttl_s: 50,
            },
            Record {
                peer: NodeId(2),
                ttl_s: 50,
            },
        ];
        let c = Cookie {
            offset: 7,
            ns: Some(ns),
        };
        let resp = DiscoverResponse::new(ns, Status::Ok, recs, Some(c), 177);
        assert_eq!(resp.bytes, 446);
        // UNREGISTER rs/1/0: 8; Message 2 + 2 + 8 = 12; prefix 1; stream 39: 52.
        assert_eq!(RdvMsg::Unregister { ns }.bytes(), 52);
    }
}
