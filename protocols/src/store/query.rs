//! Store v3 queries (13/WAKU2-STORE, `/vac/waku/store-query/3.0.0`): requests, responses,
//! their wire sizes, pagination over an [`Archive`] and request rate limits.
//!
//! A request filters by pubsub topic + content topics + time range `[start, end)`, or names
//! message hashes; it asks for hashes only or full messages; pages go forward (ascending
//! (timestamp, hash)) or backward (descending), from a cursor (the key of the last entry of
//! the previous page) with a page size (default 20, at most 100: larger is clamped, as nwaku
//! does). A page holds its entries in traversal order; the response carries a cursor when
//! more entries remain. Status codes: 200 OK, 400 bad request (too many content topics or
//! hashes), 429 too many requests (rate limit), 503 (not a store node).
//!
//! A hash query names each message by its 32-byte hash; the simulator's request carries the
//! message's full key (hash and timestamp) to find it, and counts only the hash on the wire.

use crate::relay::message::varint_len;
use crate::store::archive::{Archive, Row};
use crate::store::hash::MsgKey;

/// 200: OK.
pub const STATUS_OK: u16 = 200;
/// 400: bad request.
pub const STATUS_BAD_REQUEST: u16 = 400;
/// 429: too many requests (rate limited).
pub const STATUS_TOO_MANY_REQUESTS: u16 = 429;
/// 503: service unavailable.
pub const STATUS_UNAVAILABLE: u16 = 503;

/// Bytes that open a stream for `/vac/waku/store-query/3.0.0`: multistream-select's header
/// line (20) and the protocol line (28 + 1 prefix).
pub const QUERY_STREAM_OPEN_BYTES: u32 = 49;
/// Bytes of a request id (a 36-character UUID) field: tag, length, 36.
const REQUEST_ID_FIELD: u32 = 38;
/// Bytes of a Unix-nanosecond timestamp field (tag + 9-byte varint).
const TIMESTAMP_FIELD: u32 = 10;
/// Bytes of a 32-byte hash field (tag, length, 32).
pub const HASH_FIELD: u32 = 34;

/// What a query selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Messages of a pubsub topic (all topics when `None`) and content topics (any when
    /// empty) with `start <= timestamp < end` (Unix ns; open when `None`).
    Content {
        /// Pubsub topic index.
        topic: Option<u16>,
        /// Content topic indices.
        contents: Vec<u16>,
        /// Start of the time range.
        start_ns: Option<u64>,
        /// End of the time range (exclusive).
        end_ns: Option<u64>,
    },
    /// The messages with these hashes (presence / lookup).
    Hashes(Vec<MsgKey>),
}

/// A store query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryRequest {
    /// The client's request number.
    pub id: u32,
    /// Full messages (true) or hashes only (false, the default of the spec).
    pub include_data: bool,
    /// What it selects.
    pub filter: Filter,
    /// Continue after (forward) or before (backward) this key.
    pub cursor: Option<MsgKey>,
    /// Ascending (true) or descending.
    pub forward: bool,
    /// Page size (0: the server's default).
    pub limit: u32,
}

/// One entry of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The message's key.
    pub key: MsgKey,
    /// The message, when the request included data.
    pub row: Option<Row>,
}

/// A store query's response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryResponse {
    /// The request number it answers.
    pub id: u32,
    /// Status code.
    pub status: u16,
    /// The page.
    pub entries: Vec<Entry>,
    /// The key to continue from, when more entries remain.
    pub cursor: Option<MsgKey>,
}

fn ld(len: u32) -> u32 {
    1 + varint_len(len as u64) + len
}

impl QueryRequest {
    /// Bytes on the wire: the stream's opening, the varint length and the protobuf
    /// (request id, include_data, pubsub topic, content topics, time range, hashes, cursor,
    /// direction, limit). `topic_len(t)` and `content_len(c)` give name lengths.
    pub fn wire_bytes(
        &self,
        topic_len: impl Fn(u16) -> u32,
        content_len: impl Fn(u16) -> u32,
    ) -> u32 {
        let mut n = REQUEST_ID_FIELD + 2; // include_data
        match &self.filter {
            Filter::Content {
                topic,
                contents,
                start_ns,
                end_ns,
            } => {
                if let Some(t) = topic {
                    n += ld(topic_len(*t));
                }
                n += contents.iter().map(|&c| ld(content_len(c))).sum::<u32>();
                n += TIMESTAMP_FIELD * (start_ns.is_some() as u32 + end_ns.is_some() as u32);
            }
            Filter::Hashes(h) => n += HASH_FIELD * h.len() as u32,
        }
        if self.cursor.is_some() {
            n += HASH_FIELD;
        }
        n += 2; // forward
        if self.limit > 0 {
            n += 1 + varint_len(self.limit as u64);
        }
        QUERY_STREAM_OPEN_BYTES + varint_len(n as u64) + n
    }
}

impl QueryResponse {
    /// Bytes on the wire: the varint length and the protobuf (request id, status code and
    /// description, entries, cursor). A hash-only entry is 2 + 34 = 36 bytes; a full one adds
    /// the message and its pubsub topic.
    pub fn wire_bytes(&self, topic_len: impl Fn(u16) -> u32) -> u32 {
        let desc = if self.status == STATUS_OK { 2 } else { 17 };
        let mut n = REQUEST_ID_FIELD + 1 + varint_len(self.status as u64) + ld(desc);
        for e in &self.entries {
            let mut inner = HASH_FIELD;
            if let Some(r) = &e.row {
                inner += ld(r.data_bytes) + ld(topic_len(r.topic));
            }
            n += ld(inner);
        }
        if self.cursor.is_some() {
            n += HASH_FIELD;
        }
        varint_len(n as u64) + n
    }
}

/// Page-size limits of a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLimits {
    /// Used when a request gives no limit. nwaku 20.
    pub default: u32,
    /// Larger limits are clamped to this. nwaku 100.
    pub max: u32,
    /// At most this many content topics per request (more: 400). 10.
    pub max_content_topics: u32,
    /// At most this many hashes per request (more: 400). 100.
    pub max_hashes: u32,
}

impl Default for PageLimits {
    fn default() -> Self {
        PageLimits {
            default: 20,
            max: 100,
            max_content_topics: 10,
            max_hashes: 100,
        }
    }
}

fn matches(f: &Filter, k: &MsgKey, r: &Row) -> bool {
    match f {
        Filter::Content {
            topic,
            contents,
            start_ns,
            end_ns,
        } => {
            topic.is_none_or(|t| t == r.topic)
                && (contents.is_empty() || contents.contains(&r.content))
                && start_ns.is_none_or(|s| k.ts >= s)
                && end_ns.is_none_or(|e| k.ts < e)
        }
        Filter::Hashes(_) => true,
    }
}

/// Answers `req` from `archive` (status 200 or 400).
pub fn execute(archive: &Archive, req: &QueryRequest, lim: PageLimits) -> QueryResponse {
    let mut resp = QueryResponse {
        id: req.id,
        status: STATUS_OK,
        entries: Vec::new(),
        cursor: None,
    };
    let limit = match req.limit {
        0 => lim.default,
        l => l.min(lim.max),
    } as usize;
    let entry = |k: &MsgKey, r: &Row| Entry {
        key: *k,
        row: req.include_data.then_some(*r),
    };
    match &req.filter {
        Filter::Content { contents, .. } if contents.len() > lim.max_content_topics as usize => {
            resp.status = STATUS_BAD_REQUEST;
        }
        Filter::Hashes(h) if h.len() > lim.max_hashes as usize => {
            resp.status = STATUS_BAD_REQUEST;
        }
        Filter::Hashes(h) => {
            // Lookups, in the order of the request; hashes past the cursor's position are
            // not paged (at most `max_hashes` fit one page of `max`).
            for k in h {
                if let Some(r) = archive.get(k) {
                    resp.entries.push(entry(k, r));
                }
            }
        }
        Filter::Content {
            start_ns, end_ns, ..
        } => {
            let lo = MsgKey::at(start_ns.unwrap_or(0));
            let hi = MsgKey::at(end_ns.unwrap_or(u64::MAX));
            let mut it: Box<dyn Iterator<Item = (&MsgKey, &Row)>> = if req.forward {
                let lo = match req.cursor {
                    Some(c) => lo.max(c),
                    None => lo,
                };
                Box::new(
                    archive
                        .range(lo, hi)
                        .filter(move |(k, _)| Some(**k) != req.cursor),
                )
            } else {
                let hi = match req.cursor {
                    Some(c) => hi.min(c),
                    None => hi,
                };
                Box::new(archive.range(lo, hi).rev())
            };
            let f = &req.filter;
            let mut it = it.by_ref().filter(|(k, r)| matches(f, k, r));
            for (k, r) in it.by_ref().take(limit) {
                resp.entries.push(entry(k, r));
            }
            if resp.entries.len() == limit && it.next().is_some() {
                resp.cursor = resp.entries.last().map(|e| e.key);
            }
        }
    }
    resp
}

/// A token bucket of `capacity` tokens refilled to full every `period_ns` (nwaku's
/// `TokenBucket` as the request limiter uses it, `proto:N/period`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    capacity: u32,
    period_ns: u64,
    tokens: u32,
    refilled_ns: u64,
}

impl TokenBucket {
    /// A full bucket at time `now_ns`.
    pub fn new(capacity: u32, period_ns: u64, now_ns: u64) -> Self {
        TokenBucket {
            capacity,
            period_ns: period_ns.max(1),
            tokens: capacity,
            refilled_ns: now_ns,
        }
    }
    /// Takes a token at `now_ns`; false when none is left (the request gets 429).
    pub fn try_take(&mut self, now_ns: u64) -> bool {
        if now_ns.saturating_sub(self.refilled_ns) >= self.period_ns {
            let periods = (now_ns - self.refilled_ns) / self.period_ns;
            self.refilled_ns += periods * self.period_ns;
            self.tokens = self.capacity;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(n: u64) -> Archive {
        let mut a = Archive::new(1000);
        for t in 0..n {
            // Two messages share each even timestamp: the hash decides their order.
            let key = MsgKey {
                ts: 10 + t / 2 * 2,
                hash: [t as u8; 32],
            };
            a.insert(
                key,
                Row {
                    seq: t as u32,
                    data_bytes: 100,
                    topic: (t % 2) as u16,
                    content: 0,
                    relay_id: t,
                },
            );
        }
        a
    }

    fn all_pages(a: &Archive, forward: bool, limit: u32, topic: Option<u16>) -> Vec<Vec<u32>> {
        let mut req = QueryRequest {
            id: 1,
            include_data: true,
            filter: Filter::Content {
                topic,
                contents: vec![],
                start_ns: None,
                end_ns: None,
            },
            cursor: None,
            forward,
            limit,
        };
        let mut pages = Vec::new();
        loop {
            let r = execute(a, &req, PageLimits::default());
            assert_eq!(r.status, STATUS_OK);
            pages.push(r.entries.iter().map(|e| e.row.unwrap().seq).collect());
            match r.cursor {
                Some(c) => req.cursor = Some(c),
                None => return pages,
            }
        }
    }

    #[test]
    fn pages_return_each_message_once_in_order() {
        // 7 messages (seq 0..7 in key order), pages of 3: forward 0 1 2 | 3 4 5 | 6.
        let a = archive(7);
        assert_eq!(
            all_pages(&a, true, 3, None),
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]
        );
        // Backward: 6 5 4 | 3 2 1 | 0.
        assert_eq!(
            all_pages(&a, false, 3, None),
            vec![vec![6, 5, 4], vec![3, 2, 1], vec![0]]
        );
        // 6 messages in pages of 3: exactly two pages, the second without a cursor.
        assert_eq!(all_pages(&archive(6), true, 3, None).len(), 2);
        // Topic 1 only (odd seqs), pages of 2: 1 3 | 5; backward 5 3 | 1.
        assert_eq!(all_pages(&a, true, 2, Some(1)), vec![vec![1, 3], vec![5]]);
        assert_eq!(all_pages(&a, false, 2, Some(1)), vec![vec![5, 3], vec![1]]);
    }

    #[test]
    fn limits_and_time_ranges() {
        let a = archive(7);
        // A limit above 100 is clamped; no limit: 20. Keys' timestamps: 10 10 12 12 14 14 16.
        let mut req = QueryRequest {
            id: 2,
            include_data: false,
            filter: Filter::Content {
                topic: None,
                contents: vec![],
                start_ns: Some(12),
                end_ns: Some(16),
            },
            cursor: None,
            forward: true,
            limit: 500,
        };
        let r = execute(&a, &req, PageLimits::default());
        // [12, 16): seqs 2 3 4 5, hashes only.
        assert_eq!(r.entries.len(), 4);
        assert!(r.entries.iter().all(|e| e.row.is_none()));
        assert_eq!(r.cursor, None);
        req.filter = Filter::Content {
            topic: None,
            contents: (0..11).collect(),
            start_ns: None,
            end_ns: None,
        };
        assert_eq!(execute(&a, &req, PageLimits::default()).status, 400);
        // Hash lookups: present ones only.
        let k = *a.keys().nth(3).unwrap();
        req.filter = Filter::Hashes(vec![k, MsgKey::at(99)]);
        let r = execute(&a, &req, PageLimits::default());
        assert_eq!(r.entries.len(), 1);
        assert_eq!(r.entries[0].key, k);
    }

    #[test]
    fn wire_sizes_by_hand() {
        // A hash-only response of 2 entries and a cursor, status 200 "OK": request id 38,
        // status 1 + 2, description 1 + 1 + 2, entries 2 x (2 + 34), cursor 34 = 151; with
        // its 2-byte length prefix 153.
        let e = Entry {
            key: MsgKey::at(1),
            row: None,
        };
        let r = QueryResponse {
            id: 1,
            status: STATUS_OK,
            entries: vec![e, e],
            cursor: Some(MsgKey::at(1)),
        };
        assert_eq!(r.wire_bytes(|_| 20), 153);
        // A request by pubsub topic (20 bytes) and time range, forward, limit 100: id 38,
        // include 2, topic 22, two timestamps 20, forward 2, limit 2 = 86; 1-byte prefix and
        // the 49-byte stream opening: 136.
        let q = QueryRequest {
            id: 1,
            include_data: false,
            filter: Filter::Content {
                topic: Some(0),
                contents: vec![],
                start_ns: Some(1),
                end_ns: Some(2),
            },
            cursor: None,
            forward: true,
            limit: 100,
        };
        assert_eq!(q.wire_bytes(|_| 20, |_| 0), 136);
    }

    #[test]
    fn token_bucket_refills_each_period() {
        let mut b = TokenBucket::new(2, 100, 0);
        assert!(b.try_take(0) && b.try_take(10));
        assert!(!b.try_take(99), "empty until the period ends");
        assert!(b.try_take(100) && b.try_take(150) && !b.try_take(199));
        assert!(b.try_take(250), "refilled at 200");
    }
}
