//! Range-based set reconciliation (RBSR) over store keys, as nwaku's store sync runs it
//! (`/vac/waku/reconciliation/1.0.0`, negentropy style): both sides hold sorted sets of
//! SyncIDs ((timestamp, hash), [`MsgKey`]) within a window; a payload covers the window with
//! contiguous ranges, each `Skip` (agreed), `Fingerprint` (XOR of the hashes in the range) or
//! `ItemSet` (the sender's items in the range). A side answers a fingerprint that differs from
//! its own by splitting its items in the range into `partitions` parts of equal count, each
//! sent as an item set when it holds at most `threshold` items and as a fingerprint otherwise;
//! it answers an item set with the differences (and, when the set was not yet reconciled, with
//! its own items marked reconciled so that the other side learns them too). A payload of only
//! skips ends the session.
//!
//! Pure functions over sorted slices: the protocol (`store_sync/mod.rs`) feeds them each
//! node's real archive, so bytes and round trips come from the data.

use crate::relay::message::varint_len;
use crate::store::hash::{Hash32, MsgKey};

/// Reconciliation parameters (nwaku's defaults: 8 partitions, item sets up to 100).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RbsrConfig {
    /// Parts a differing range is split into (at least 2).
    pub partitions: u32,
    /// Ranges of at most this many items are sent as item sets.
    pub threshold: u32,
}

impl Default for RbsrConfig {
    fn default() -> Self {
        RbsrConfig {
            partitions: 8,
            threshold: 100,
        }
    }
}

/// What a range says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeKind {
    /// Both sides agree on it.
    Skip,
    /// XOR of the sender's hashes in it.
    Fingerprint(Hash32),
    /// The sender's items in it; `reconciled`: an answer to an item set (no answer needed).
    ItemSet {
        /// The items, ascending.
        items: Vec<MsgKey>,
        /// Whether it answers an item set.
        reconciled: bool,
    },
}

/// A range `[previous upper (or the payload's lower), upper)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// Exclusive upper bound.
    pub upper: MsgKey,
    /// What it says.
    pub kind: RangeKind,
}

/// A reconciliation payload: contiguous ranges from `lower`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// Inclusive lower bound of the first range.
    pub lower: MsgKey,
    /// The ranges.
    pub ranges: Vec<Range>,
}

/// What a side learns from a payload, and its answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// The answer (`None`: the payload was all skips, the session is over).
    pub reply: Option<Payload>,
    /// Items this side has and the other lacks (to transfer).
    pub they_need: Vec<MsgKey>,
    /// Items the other side has and this side lacks.
    pub i_need: Vec<MsgKey>,
}

/// XOR of the hashes of `items` (all zeros for none).
pub fn fingerprint(items: &[MsgKey]) -> Hash32 {
    let mut f = [0u8; 32];
    for k in items {
        for (a, b) in f.iter_mut().zip(k.hash.iter()) {
            *a ^= b;
        }
    }
    f
}

/// The items of sorted `set` in `[lo, hi)`.
pub fn slice(set: &[MsgKey], lo: MsgKey, hi: MsgKey) -> &[MsgKey] {
    let a = set.partition_point(|k| *k < lo);
    let b = set.partition_point(|k| *k < hi).max(a);
    &set[a..b]
}

/// The first payload of a session over the window `[lo, hi)`: one fingerprint of the
/// initiator's items in it (`set` sorted).
pub fn initiate(set: &[MsgKey], lo: MsgKey, hi: MsgKey) -> Payload {
    Payload {
        lower: lo,
        ranges: vec![Range {
            upper: hi,
            kind: RangeKind::Fingerprint(fingerprint(slice(set, lo, hi))),
        }],
    }
}

fn push_skip(out: &mut Vec<Range>, upper: MsgKey) {
    if let Some(Range {
        kind: RangeKind::Skip,
        upper: u,
    }) = out.last_mut()
    {
        *u = upper;
    } else {
        out.push(Range {
            upper,
            kind: RangeKind::Skip,
        });
    }
}

/// Splits differing `[.., upper)` holding `mine` into parts.
fn split(mine: &[MsgKey], upper: MsgKey, cfg: RbsrConfig, out: &mut Vec<Range>) {
    if mine.len() <= cfg.threshold as usize {
        out.push(Range {
            upper,
            kind: RangeKind::ItemSet {
                items: mine.to_vec(),
                reconciled: false,
            },
        });
        return;
    }
    let k = cfg.partitions.max(2) as usize;
    let chunk = mine.len().div_ceil(k);
    let parts: Vec<&[MsgKey]> = mine.chunks(chunk).collect();
    for (i, part) in parts.iter().enumerate() {
        let bound = match parts.get(i + 1) {
            None => upper,
            Some(next) => {
                let (last, first) = (part[part.len() - 1], next[0]);
                if first.ts > last.ts {
                    MsgKey::at(first.ts)
                } else {
                    first
                }
            }
        };
        let kind = if part.len() <= cfg.threshold as usize {
            RangeKind::ItemSet {
                items: part.to_vec(),
                reconciled: false,
            }
        } else {
            RangeKind::Fingerprint(fingerprint(part))
        };
        out.push(Range { upper: bound, kind });
    }
}

/// Items of sorted `a` not in sorted `b`.
fn minus(a: &[MsgKey], b: &[MsgKey], out: &mut Vec<MsgKey>) {
    let mut j = 0;
    for x in a {
        while j < b.len() && b[j] < *x {
            j += 1;
        }
        if j >= b.len() || b[j] != *x {
            out.push(*x);
        }
    }
}

/// Handles `incoming` against this side's sorted `set`.
pub fn respond(set: &[MsgKey], incoming: &Payload, cfg: RbsrConfig) -> Step {
    let mut step = Step::default();
    if incoming.ranges.iter().all(|r| r.kind == RangeKind::Skip) {
        return step;
    }
    let mut out = Vec::new();
    let mut lower = incoming.lower;
    for r in &incoming.ranges {
        let mine = slice(set, lower, r.upper);
        match &r.kind {
            RangeKind::Skip => push_skip(&mut out, r.upper),
            RangeKind::Fingerprint(fp) => {
                if fingerprint(mine) == *fp {
                    push_skip(&mut out, r.upper);
                } else {
                    split(mine, r.upper, cfg, &mut out);
                }
            }
            RangeKind::ItemSet { items, reconciled } => {
                let (t0, i0) = (step.they_need.len(), step.i_need.len());
                minus(mine, items, &mut step.they_need);
                minus(items, mine, &mut step.i_need);
                // Equal sets need no answer; otherwise the other side learns this side's
                // items (to send what this side lacks).
                let equal = step.they_need.len() == t0 && step.i_need.len() == i0;
                if *reconciled || equal {
                    push_skip(&mut out, r.upper);
                } else {
                    out.push(Range {
                        upper: r.upper,
                        kind: RangeKind::ItemSet {
                            items: mine.to_vec(),
                            reconciled: true,
                        },
                    });
                }
            }
        }
        lower = r.upper;
    }
    step.reply = Some(Payload {
        lower: incoming.lower,
        ranges: out,
    });
    step
}

/// Bytes of a bound after one at `prev_ts`: the timestamp delta (varint), the hash-prefix
/// length (1) and the prefix (none for a bound at a whole timestamp, else the 32-byte hash).
fn bound_bytes(b: &MsgKey, prev_ts: u64) -> u32 {
    let prefix = if b.hash == [0; 32] { 0 } else { 32 };
    varint_len(b.ts.saturating_sub(prev_ts)) + 1 + prefix
}

/// Bytes of an item set's body: the count, each item as its timestamp delta and hash, the
/// reconciled flag.
fn items_bytes(items: &[MsgKey], mut prev_ts: u64) -> u32 {
    let mut n = varint_len(items.len() as u64) + 1;
    for k in items {
        n += varint_len(k.ts.saturating_sub(prev_ts)) + 32;
        prev_ts = k.ts;
    }
    n
}

/// Bytes of a payload on the wire: a varint length; the cluster id and shard list (4 bytes
/// for one shard); the lower bound; per range its bound, a type byte and its fingerprint (32)
/// or items.
pub fn payload_bytes(p: &Payload) -> u32 {
    let mut n = 4 + bound_bytes(&p.lower, 0);
    let mut prev = p.lower.ts;
    for r in &p.ranges {
        n += bound_bytes(&r.upper, prev) + 1;
        n += match &r.kind {
            RangeKind::Skip => 0,
            RangeKind::Fingerprint(_) => 32,
            RangeKind::ItemSet { items, .. } => items_bytes(items, prev),
        };
        prev = r.upper.ts;
    }
    varint_len(n as u64) + n
}

/// Bytes a naive exchange would take: one side's whole window as one item set (what each
/// side would send to compare all hashes in the window).
pub fn naive_bytes(items: &[MsgKey], lo: MsgKey, hi: MsgKey) -> u32 {
    payload_bytes(&Payload {
        lower: lo,
        ranges: vec![Range {
            upper: hi,
            kind: RangeKind::ItemSet {
                items: items.to_vec(),
                reconciled: false,
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rand::Rng;

    use super::*;

    fn key(ts: u64, h: u64) -> MsgKey {
        let mut hash = [0u8; 32];
        // A spread-out stand-in hash (a multiplicative mix of the id).
        let x = h.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5_A5A5;
        hash[..8].copy_from_slice(&x.to_be_bytes());
        hash[8..16].copy_from_slice(&h.to_be_bytes());
        MsgKey { ts, hash }
    }

    /// Runs a whole session between `a` (initiator) and `b` over `[lo, hi)`; returns what
    /// each side transferred (a -> b, b -> a) and the number of payloads.
    fn session(
        a: &[MsgKey],
        b: &[MsgKey],
        lo: MsgKey,
        hi: MsgKey,
        cfg: RbsrConfig,
    ) -> (Vec<MsgKey>, Vec<MsgKey>, usize) {
        let (wa, wb) = (slice(a, lo, hi), slice(b, lo, hi));
        let mut msg = initiate(wa, lo, hi);
        let (mut to_b, mut to_a) = (Vec::new(), Vec::new());
        let mut at_b = true;
        let mut payloads = 1;
        loop {
            let step = respond(if at_b { wb } else { wa }, &msg, cfg);
            if at_b {
                to_a.extend(step.they_need);
            } else {
                to_b.extend(step.they_need);
            }
            match step.reply {
                Some(r) => msg = r,
                None => break,
            }
            payloads += 1;
            at_b = !at_b;
            assert!(payloads < 200, "the session terminates");
        }
        (to_b, to_a, payloads)
    }

    fn check(a: &[MsgKey], b: &[MsgKey], lo: MsgKey, hi: MsgKey, cfg: RbsrConfig) -> usize {
        let (to_b, to_a, payloads) = session(a, b, lo, hi, cfg);
        let sa: BTreeSet<MsgKey> = slice(a, lo, hi).iter().copied().collect();
        let sb: BTreeSet<MsgKey> = slice(b, lo, hi).iter().copied().collect();
        let want_b: Vec<MsgKey> = sa.difference(&sb).copied().collect();
        let want_a: Vec<MsgKey> = sb.difference(&sa).copied().collect();
        let mut got_b = to_b.clone();
        got_b.sort();
        let mut got_a = to_a.clone();
        got_a.sort();
        assert_eq!(got_b, want_b, "a -> b is exactly a \\ b, each once");
        assert_eq!(got_a, want_a, "b -> a is exactly b \\ a, each once");
        payloads
    }

    #[test]
    fn empty_equal_and_disjoint_sets() {
        let cfg = RbsrConfig {
            partitions: 4,
            threshold: 3,
        };
        let (lo, hi) = (MsgKey::at(0), MsgKey::at(1000));
        let some: Vec<MsgKey> = (0..50).map(|i| key(i * 10, i)).collect();
        // Empty vs empty: the fingerprints (zeros) agree: initiation + all-skip answer.
        assert_eq!(check(&[], &[], lo, hi, cfg), 2);
        // Equal: the same.
        assert_eq!(check(&some, &some, lo, hi, cfg), 2);
        // One side empty: the responder's 50 items split into 4 fingerprints of 13, 13, 13,
        // 11 items (> 3); the initiator, with nothing, answers each with an empty item set;
        // then item sets come back reconciled and the last answer is all skips.
        check(&some, &[], lo, hi, cfg);
        check(&[], &some, lo, hi, cfg);
        // Disjoint.
        let other: Vec<MsgKey> = (0..50).map(|i| key(i * 10 + 5, 1000 + i)).collect();
        check(&some, &other, lo, hi, cfg);
    }

    #[test]
    fn one_missing_item_costs_few_round_trips() {
        // 1,000 items, b lacks one: a's whole-window fingerprint (1) differs at b, which
        // splits its 999 items into 8 parts of 125 (> 100: 8 fingerprints) (2); a skips the 7
        // that agree and splits its 126 items of the other into 8 item sets of at most 16
        // (3); b answers the 7 equal ones with skips and the one that differs with its items,
        // reconciled (4); a sends the missing item and answers all skips (5); b ends it.
        let a: Vec<MsgKey> = (0..1000).map(|i| key(i, i)).collect();
        let mut b = a.clone();
        b.remove(500);
        let n = check(
            &a,
            &b,
            MsgKey::at(0),
            MsgKey::at(1000),
            RbsrConfig::default(),
        );
        assert_eq!(n, 5);
    }

    #[test]
    fn reconciliation_finds_exactly_the_symmetric_difference() {
        // Random sets with shared, own and window-straddling items (keys below `lo` and at or
        // above `hi` must not be reconciled), against a direct set comparison.
        let mut rng = sim_core::rng::stream(7, 0, "rbsr-property");
        for case in 0..300u64 {
            let n: u64 = rng.random_range(0..400);
            let (lo_t, hi_t) = (100u64, 100 + rng.random_range(1..2000u64));
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for i in 0..n {
                let ts = rng.random_range(0..2200u64);
                // Several items may share a timestamp: the hash orders them.
                let k = key(ts / 3 * 3, case * 10_000 + i);
                match rng.random_range(0..10u32) {
                    0..=5 => {
                        a.push(k);
                        b.push(k);
                    }
                    6 | 7 => a.push(k),
                    _ => b.push(k),
                }
            }
            a.sort();
            b.sort();
            let cfg = RbsrConfig {
                partitions: rng.random_range(2..10),
                threshold: rng.random_range(1..40),
            };
            check(&a, &b, MsgKey::at(lo_t), MsgKey::at(hi_t), cfg);
        }
    }

    #[test]
    fn payload_sizes_by_hand() {
        // The initial payload of window [1000, 4600) s in ns from 0: header 4; lower bound
        // varint(1e12) = 6 bytes + 1 = 7; one range: bound delta 3.6e12 (6 bytes) + 1, type 1,
        // fingerprint 32 = 40. Body 51, prefix 1: 52.
        let p = initiate(
            &[],
            MsgKey::at(1_000_000_000_000),
            MsgKey::at(4_600_000_000_000),
        );
        assert_eq!(payload_bytes(&p), 52);
        // The naive exchange of 2 items 1 ns apart from the lower bound: header 4, lower 7,
        // bound 7 + type 1, count 1 + flag 1, items (1 + 32) x 2 = 66: 87 + 1 prefix = 88.
        let lo = MsgKey::at(1_000_000_000_000);
        let items = [key(lo.ts + 1, 1), key(lo.ts + 2, 2)];
        assert_eq!(naive_bytes(&items, lo, MsgKey::at(4_600_000_000_000)), 88);
    }
}
