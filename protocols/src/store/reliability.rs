//! p2p reliability for relay nodes (WAKU-P2P-RELIABILITY; nwaku
//! `waku/node/delivery_monitor/send_monitor.nim` and `recv_monitor.nim`):
//!
//! - a **publisher** remembers each message it publishes; every `publisher_check_interval_ms`
//!   (3 s) it asks a store node, by hash (at most `publisher_hashes_per_query`, 100), about the
//!   messages at least `publisher_archive_delay_ms` (3 s) old; the ones store has are
//!   confirmed, the others republished on relay; a message unconfirmed after
//!   `publisher_max_age_s` (60 s) is given up;
//! - a **receiver** remembers the messages it received for `receiver_max_age_s` (7 min);
//!   every `receiver_check_interval_s` (5 min) it asks a store node for the hashes of each of
//!   its shards over `[previous check - receiver_overlap_s, now)` and fetches the messages it
//!   lacks by hash. A check after a long absence reaches back at most
//!   `receiver_max_window_s`.

use std::collections::{BTreeSet, VecDeque};

use sim_core::{NodeId, SimDuration, SimTime};

use crate::proto::Io;
use crate::relay::message::WireMsg;
use crate::store::config::ReliabilityConfig;
use crate::store::hash::MsgKey;
use crate::store::query::{Filter, QueryRequest, QueryResponse};
use crate::store::{MsgInfo, Purpose, Store, StoreCounter, StoreEvent, unix_ns};

/// A client's reliability bookkeeping.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClientState {
    /// The node's shards (receiver checks query each).
    shards: Vec<u16>,
    /// Messages received (or published), ascending; the oldest are forgotten first.
    received: BTreeSet<MsgKey>,
    /// Messages published and not yet confirmed, in publish order.
    tracked: VecDeque<(MsgKey, WireMsg)>,
    /// When the previous receiver check ran.
    pub(crate) last_check: SimTime,
}

impl ClientState {
    pub(crate) fn new(shards: &[u16]) -> Self {
        ClientState {
            shards: shards.to_vec(),
            ..ClientState::default()
        }
    }

    /// Remembers a received message (bounded: the oldest go first).
    pub(crate) fn received(&mut self, key: MsgKey, cfg: &ReliabilityConfig) {
        self.received.insert(key);
        while self.received.len() > cfg.receiver_max_tracked as usize {
            self.received.pop_first();
        }
    }

    /// Whether `key` was received.
    pub(crate) fn has(&self, key: &MsgKey) -> bool {
        self.received.contains(key)
    }
}

impl Store {
    /// This node published `msg` (its own messages count as received).
    pub fn on_published(&mut self, msg: &WireMsg, info: MsgInfo, ctx: &mut impl Io<Self>) {
        self.last_active = ctx.now();
        let rel = &self.sh.cfg.reliability;
        if rel.receiver && self.archive.is_none() {
            self.rel.received(info.key, rel);
        }
        if rel.publisher && self.archive.is_none() {
            self.rel.tracked.push_back((info.key, *msg));
            if self.rel.tracked.len() > rel.publisher_max_tracked as usize {
                self.rel.tracked.pop_front();
                ctx.report(StoreEvent::Add(StoreCounter::PublisherGivenUp, 1));
            }
        }
    }

    /// Messages published and not yet confirmed.
    pub fn tracked(&self) -> usize {
        self.rel.tracked.len()
    }

    /// Every `publisher_check_interval_ms`.
    pub(crate) fn publisher_check(&mut self, ctx: &mut impl Io<Self>) {
        let rel = self.sh.cfg.reliability.clone();
        let now_ns = unix_ns(ctx.now());
        let too_old = now_ns.saturating_sub(rel.publisher_max_age_s * 1_000_000_000);
        let before = self.rel.tracked.len();
        self.rel.tracked.retain(|(k, _)| k.ts >= too_old);
        let gone = before - self.rel.tracked.len();
        if gone > 0 {
            ctx.report(StoreEvent::Add(StoreCounter::PublisherGivenUp, gone as u64));
        }
        if self.pending_purpose(&Purpose::PublisherCheck) {
            return; // the previous check is still out (nwaku checks one at a time)
        }
        let ripe = now_ns.saturating_sub(rel.publisher_archive_delay_ms * 1_000_000);
        let keys: Vec<MsgKey> = self
            .rel
            .tracked
            .iter()
            .filter(|(k, _)| k.ts < ripe)
            .take(rel.publisher_hashes_per_query as usize)
            .map(|(k, _)| *k)
            .collect();
        if keys.is_empty() {
            return;
        }
        let Some(peer) = self.pick_store_peer(ctx) else {
            return;
        };
        ctx.report(StoreEvent::Add(StoreCounter::PublisherChecks, 1));
        let req = QueryRequest {
            id: 0,
            include_data: false,
            filter: Filter::Hashes(keys),
            cursor: None,
            forward: true,
            limit: 0,
        };
        self.query(peer, req, Purpose::PublisherCheck, ctx);
    }

    /// A publisher check came back: confirm what store has, republish the rest.
    pub(crate) fn publisher_answer(
        &mut self,
        req: &QueryRequest,
        resp: &QueryResponse,
        ctx: &mut impl Io<Self>,
    ) {
        let Filter::Hashes(asked) = &req.filter else {
            return;
        };
        let found: BTreeSet<MsgKey> = resp.entries.iter().map(|e| e.key).collect();
        let mut confirmed = 0;
        for k in asked {
            let Some(i) = self.rel.tracked.iter().position(|(t, _)| t == k) else {
                continue;
            };
            if found.contains(k) {
                self.rel.tracked.remove(i);
                confirmed += 1;
            } else {
                let mut m = self.rel.tracked[i].1;
                m.flags |= WireMsg::REPUBLISHED;
                m.hops = 0;
                self.republish.push(m);
            }
        }
        if confirmed > 0 {
            ctx.report(StoreEvent::Add(StoreCounter::PublisherConfirmed, confirmed));
        }
    }

    fn pending_purpose(&self, p: &Purpose) -> bool {
        self.pending_iter().any(|x| x == p)
    }

    /// Every `receiver_check_interval_s`: a hash query per shard.
    pub(crate) fn receiver_check(&mut self, ctx: &mut impl Io<Self>) {
        let rel = self.sh.cfg.reliability.clone();
        let now = ctx.now();
        let now_ns = unix_ns(now);
        // Forget what is too old to be asked about again.
        let cutoff = now_ns.saturating_sub(rel.receiver_max_age_s * 1_000_000_000);
        while self.rel.received.first().is_some_and(|k| k.ts < cutoff) {
            self.rel.received.pop_first();
        }
        let start = unix_ns(self.rel.last_check)
            .saturating_sub(rel.receiver_overlap_s * 1_000_000_000)
            .max(now_ns.saturating_sub(rel.receiver_max_window_s * 1_000_000_000));
        self.rel.last_check = now;
        let Some(peer) = self.pick_store_peer(ctx) else {
            return;
        };
        for t in self.rel.shards.clone() {
            ctx.report(StoreEvent::Add(StoreCounter::ReceiverChecks, 1));
            let req = QueryRequest {
                id: 0,
                include_data: false,
                filter: Filter::Content {
                    topic: Some(t),
                    contents: Vec::new(),
                    start_ns: Some(start),
                    end_ns: Some(now_ns),
                },
                cursor: None,
                forward: true,
                limit: self.sh.cfg.page_size_max,
            };
            self.query(peer, req, Purpose::ReceiverHashes, ctx);
        }
    }

    /// A page of hashes came back: fetch what this node lacks, then the next page.
    pub(crate) fn receiver_hashes(
        &mut self,
        peer: NodeId,
        mut req: QueryRequest,
        resp: &QueryResponse,
        ctx: &mut impl Io<Self>,
    ) {
        let missing: Vec<MsgKey> = resp
            .entries
            .iter()
            .map(|e| e.key)
            .filter(|k| !self.rel.has(k))
            .collect();
        for chunk in missing.chunks(self.sh.cfg.max_hashes as usize) {
            let fetch = QueryRequest {
                id: 0,
                include_data: true,
                filter: Filter::Hashes(chunk.to_vec()),
                cursor: None,
                forward: true,
                limit: 0,
            };
            self.query(peer, fetch, Purpose::ReceiverFetch, ctx);
        }
        if let Some(c) = resp.cursor {
            req.cursor = Some(c);
            self.query(peer, req, Purpose::ReceiverHashes, ctx);
        }
    }

    /// Missed messages came back.
    pub(crate) fn receiver_fetched(&mut self, resp: &QueryResponse, ctx: &mut impl Io<Self>) {
        let now_ns = unix_ns(ctx.now());
        let rel = self.sh.cfg.reliability.clone();
        for e in &resp.entries {
            if e.row.is_none() || self.rel.has(&e.key) {
                continue;
            }
            self.rel.received(e.key, &rel);
            let delay = SimDuration::from_nanos(now_ns.saturating_sub(e.key.ts));
            ctx.report(StoreEvent::Recovered(delay));
            ctx.report(StoreEvent::Add(StoreCounter::ReceiverRecovered, 1));
        }
    }
}
