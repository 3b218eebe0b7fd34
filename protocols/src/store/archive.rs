//! A store node's archive (nwaku `waku_archive`): the messages it keeps, ordered by
//! (timestamp, hash), with nwaku's retention policies.
//!
//! Retention, as nwaku runs it (`waku/waku_archive/retention_policy/`, nwaku commits cited in
//! docs/studies/store-sync.md), checked every [`crate::store::StoreConfig::retention_interval_s`]:
//! - `time` (`retention_policy_time.nim`): when the oldest message is more than 10 % past the
//!   limit (older than `now - limit - limit / 10`), every message older than `now - limit` is
//!   deleted;
//! - `capacity` (`retention_policy_capacity.nim`): when the archive holds at least
//!   `capacity * 1.3` rows, the oldest are deleted down to `capacity + capacity * 0.3 / 2`
//!   (15 % of the capacity above it);
//! - `size` (`retention_policy_size.nim`): when the archive is above the size limit, the oldest
//!   are deleted until 80 % of the rows remain. Newer nwaku delegates this to the database
//!   driver; the simulator keeps the 80 % rule. A row's size is its serialized message plus
//!   [`ROW_OVERHEAD_BYTES`].
//!
//! Bound: at most `max_rows` rows whatever the policy (memory); an insert into a full archive
//! first deletes the oldest row and counts it ([`Archive::evicted_full`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::hash::MsgKey;

/// Bytes a row takes in the database besides the serialized message: the 32-byte hash, the
/// pubsub and content topics, timestamps and the index entries (an estimate for disk use).
pub const ROW_OVERHEAD_BYTES: u64 = 128;

/// One archived message: what a query or a transfer needs of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// The relay message's registry index (to report its delivery; protocol logic reads only
    /// the fields below).
    pub seq: u32,
    /// Bytes of the serialized WakuMessage.
    pub data_bytes: u32,
    /// The pubsub topic (shard) index.
    pub topic: u16,
    /// The content topic index in the run's content-topic table.
    pub content: u16,
    /// The relay message id (the first 8 bytes of the gossipsub id: republishing needs it).
    pub relay_id: u64,
}

/// A retention policy (nwaku `--store-message-retention-policy`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Retention {
    /// `time:<seconds>`: keep messages younger than this many seconds.
    Time {
        /// Seconds a message is kept.
        seconds: u64,
    },
    /// `capacity:<count>`: keep about this many messages.
    Capacity {
        /// Messages kept.
        messages: u64,
    },
    /// `size:<bytes>`: keep the archive below this many bytes.
    Size {
        /// Bytes the archive may take.
        bytes: u64,
    },
}

impl Default for Retention {
    /// nwaku's default `time:172800` (2 days).
    fn default() -> Self {
        Retention::Time { seconds: 172_800 }
    }
}

/// A store node's archive.
#[derive(Clone, Debug)]
pub struct Archive {
    rows: BTreeMap<MsgKey, Row>,
    bytes: u64,
    max_rows: usize,
    /// Rows deleted because the archive was at `max_rows`.
    pub evicted_full: u64,
}

impl Archive {
    /// An empty archive of at most `max_rows` rows (at least 1).
    pub fn new(max_rows: usize) -> Self {
        Archive {
            rows: BTreeMap::new(),
            bytes: 0,
            max_rows: max_rows.max(1),
            evicted_full: 0,
        }
    }

    /// Bytes a row takes.
    pub fn row_bytes(r: &Row) -> u64 {
        r.data_bytes as u64 + ROW_OVERHEAD_BYTES
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    /// Bytes held (rows' [`Archive::row_bytes`]).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
    /// Whether it holds `key`.
    pub fn contains(&self, key: &MsgKey) -> bool {
        self.rows.contains_key(key)
    }
    /// The row of `key`.
    pub fn get(&self, key: &MsgKey) -> Option<&Row> {
        self.rows.get(key)
    }
    /// Rows with `lo <= key < hi`, ascending.
    pub fn range(
        &self,
        lo: MsgKey,
        hi: MsgKey,
    ) -> impl DoubleEndedIterator<Item = (&MsgKey, &Row)> {
        let hi = hi.max(lo);
        self.rows.range(lo..hi)
    }
    /// Every key, ascending.
    pub fn keys(&self) -> impl Iterator<Item = &MsgKey> {
        self.rows.keys()
    }
    /// The oldest key.
    pub fn oldest(&self) -> Option<MsgKey> {
        self.rows.keys().next().copied()
    }

    /// Inserts a row; false when the key is already there (a duplicate). A full archive first
    /// deletes its oldest row.
    pub fn insert(&mut self, key: MsgKey, row: Row) -> bool {
        if self.rows.contains_key(&key) {
            return false;
        }
        if self.rows.len() >= self.max_rows {
            self.pop_oldest();
            self.evicted_full += 1;
        }
        self.bytes += Self::row_bytes(&row);
        self.rows.insert(key, row);
        true
    }

    fn pop_oldest(&mut self) {
        if let Some((_, r)) = self.rows.pop_first() {
            self.bytes -= Self::row_bytes(&r);
        }
    }

    /// Deletes the oldest rows until `keep` remain; returns how many were deleted.
    fn keep_newest(&mut self, keep: usize) -> u64 {
        let mut n = 0;
        while self.rows.len() > keep {
            self.pop_oldest();
            n += 1;
        }
        n
    }

    /// Applies `policy` at Unix time `now_ns`; returns the rows deleted.
    pub fn apply_retention(&mut self, policy: Retention, now_ns: u64) -> u64 {
        match policy {
            Retention::Time { seconds } => {
                let limit = seconds.saturating_mul(1_000_000_000);
                let retention_ts = now_ns.saturating_sub(limit);
                let threshold = retention_ts.saturating_sub(limit / 10);
                match self.oldest() {
                    Some(o) if o.ts < threshold => {
                        let mut n = 0;
                        while self.oldest().is_some_and(|k| k.ts < retention_ts) {
                            self.pop_oldest();
                            n += 1;
                        }
                        n
                    }
                    _ => 0,
                }
            }
            Retention::Capacity { messages } => {
                let c = messages as usize;
                // nwaku: totalCapacity = int(c * 1.3), deleteWindow = int(c * 0.3) div 2.
                let total = c * 13 / 10;
                let delete_window = (c * 3 / 10) / 2;
                if self.rows.len() < total {
                    return 0;
                }
                self.keep_newest(c + delete_window)
            }
            Retention::Size { bytes } => {
                if self.bytes <= bytes {
                    return 0;
                }
                let keep = self.rows.len() * 8 / 10;
                self.keep_newest(keep)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(d: u32) -> Row {
        Row {
            seq: 0,
            data_bytes: d,
            topic: 0,
            content: 0,
            relay_id: 0,
        }
    }
    fn key(ts: u64, h: u8) -> MsgKey {
        MsgKey { ts, hash: [h; 32] }
    }
    const S: u64 = 1_000_000_000;

    #[test]
    fn time_retention_waits_for_ten_percent_then_deletes_past_the_limit() {
        // Limit 100 s; messages at 0, 50, 100, 150 s.
        let mut a = Archive::new(100);
        for t in [0, 50, 100, 150] {
            assert!(a.insert(key(t * S, 1), row(10)));
        }
        let p = Retention::Time { seconds: 100 };
        // At 110 s the oldest (0 s) is 10 s past the limit: threshold 110 - 100 - 10 = 0 s,
        // and 0 < 0 is false: nothing deleted.
        assert_eq!(a.apply_retention(p, 110 * S), 0);
        // At 111 s the threshold is 1 s > 0 s: delete everything older than 11 s: one row.
        assert_eq!(a.apply_retention(p, 111 * S), 1);
        // At 200 s: retention ts 100 s, threshold 90 s, oldest 50 s < 90 s: delete < 100 s
        // (the row at 50 s); 100 s stays.
        assert_eq!(a.apply_retention(p, 200 * S), 1);
        assert_eq!(a.oldest(), Some(key(100 * S, 1)));
    }

    #[test]
    fn capacity_retention_deletes_fifteen_percent_above_capacity() {
        // Capacity 100: total 130, delete window 30 / 2 = 15: at 130 rows keep the newest 115.
        let mut a = Archive::new(1000);
        for t in 0..129 {
            a.insert(key(t, 0), row(1));
        }
        let p = Retention::Capacity { messages: 100 };
        assert_eq!(a.apply_retention(p, 0), 0, "129 < 130");
        a.insert(key(129, 0), row(1));
        assert_eq!(a.apply_retention(p, 0), 15);
        assert_eq!(a.len(), 115);
        assert_eq!(a.oldest(), Some(key(15, 0)), "the oldest 15 went");
    }

    #[test]
    fn size_retention_keeps_eighty_percent_of_rows() {
        // 10 rows of 72 + 128 = 200 bytes: 2,000 bytes. Limit 2,000: not above, nothing.
        let mut a = Archive::new(1000);
        for t in 0..10 {
            a.insert(key(t, 0), row(72));
        }
        assert_eq!(a.bytes(), 2000);
        assert_eq!(a.apply_retention(Retention::Size { bytes: 2000 }, 0), 0);
        // Limit 1,999: keep 10 * 8 / 10 = 8 rows, the newest.
        assert_eq!(a.apply_retention(Retention::Size { bytes: 1999 }, 0), 2);
        assert_eq!((a.len(), a.bytes(), a.oldest()), (8, 1600, Some(key(2, 0))));
    }

    #[test]
    fn a_full_archive_drops_its_oldest_and_refuses_duplicates() {
        let mut a = Archive::new(3);
        for t in 0..3 {
            assert!(a.insert(key(t, 0), row(1)));
        }
        assert!(!a.insert(key(1, 0), row(1)), "duplicate");
        assert!(a.insert(key(5, 0), row(1)));
        assert_eq!(
            (a.len(), a.evicted_full, a.oldest()),
            (3, 1, Some(key(1, 0)))
        );
    }
}
