//! Store v3 (13/WAKU2-STORE) as nwaku runs it, with store sync ([`crate::store_sync`]) and p2p
//! reliability for relay nodes (`reliability.rs`): one protocol entry of the node's list,
//! because all three read and write the same archive.
//!
//! - **Store nodes** (role `store`) archive the relay traffic of their shards
//!   ([`archive::Archive`]: the timestamp window, the ephemeral rule, retention by time,
//!   capacity or size) and answer queries ([`query`]: hashes or full messages, by topic +
//!   content topics + time range or by hashes, cursors and pages, status codes, rate limits).
//!   With `[store.sync]` they reconcile their archive with a peer every interval and transfer
//!   the missing messages; with `resume` a node back online queries another store node for
//!   the time it was offline.
//! - **Relay nodes with p2p reliability** are store clients: publishers check that store has
//!   their recent messages and republish the missing ones; receivers periodically ask store
//!   for the hashes of a window and fetch the messages they missed.
//!
//! A message's store key is (timestamp, deterministic hash) ([`hash`]). The simulator carries
//! no message bodies: the app computes each message's hash once when it publishes and keeps it
//! with its content topic and ephemeral flag in the run's table ([`StoreMetrics::msgs`],
//! indexed by the relay registry index), which stands in for the fields a real node reads
//! from the message it received.
//!
//! Loss: relay runs over streams that retransmit, so network loss alone never makes a store
//! node miss a message. The loss a store study means is modelled at the application level:
//! [`StoreConfig::reception_loss`] (a store node's archive misses a relayed message: a brief
//! disconnection or a dropped insert) and [`StoreConfig::receiver_loss`] (a receiver's
//! application misses it); offline windows (`network.faults`) make both miss everything
//! while they last.
//!
//! Bounds: archive rows (`max_rows`, the oldest goes first), pending queries per node
//! (`max_pending_queries`, more are dropped and counted), per-peer rate-limit buckets
//! (`max_rate_limited_peers`), sync sessions answered at once (`sync.max_sessions`, more are
//! refused), messages a publisher tracks and a receiver remembers (oldest first), the run's
//! per-sync records ([`MAX_SYNC_RECORDS`]).

pub mod archive;
pub mod config;
pub mod hash;
pub mod query;
mod reliability;

use std::collections::BTreeMap;
use std::rc::Rc;

use rand::Rng;
use sim_core::metrics::DurationHistogram;
use sim_core::{DialError, NodeId, SimDuration, SimTime};

use crate::node::TIMESTAMP_EPOCH_NS;
use crate::node::registry::Build;
use crate::proto::{Io, Protocol, Wire};
use crate::relay::message::{Topics, WireMsg};
use crate::store_sync::rbsr::RbsrConfig;
use crate::store_sync::{SyncMsg, SyncRecord, SyncState};
use archive::{Archive, Row};
use hash::MsgKey;
use query::{PageLimits, QueryRequest, QueryResponse, TokenBucket};

pub use config::{RateLimit, ReliabilityConfig, StoreConfig, SyncConfig};

/// Per-sync records a run keeps at most (later syncs are counted, not recorded).
pub const MAX_SYNC_RECORDS: usize = 100_000;

/// What the run knows of a published message besides what relay carries (see the module
/// docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgInfo {
    /// Its store key.
    pub key: MsgKey,
    /// Its content topic's index in [`StoreShared::content_topics`].
    pub content: u16,
    /// Whether `ephemeral` is set (store nodes do not archive it).
    pub ephemeral: bool,
    /// Whether the entry is filled.
    pub known: bool,
}

/// Run-wide store data.
#[derive(Debug)]
pub struct StoreShared {
    /// The configuration (validated).
    pub cfg: StoreConfig,
    /// Store nodes, ascending.
    pub store_nodes: Vec<NodeId>,
    /// Nodes that publish (publisher checks run there), by node index.
    pub publishers: Vec<bool>,
    /// Content topic names, indexed by [`MsgInfo::content`].
    pub content_topics: Vec<String>,
    /// Page limits of the servers.
    pub limits: PageLimits,
    /// Reconciliation parameters.
    pub rbsr: RbsrConfig,
    topic_lens: Vec<u32>,
}

impl StoreShared {
    /// The shared data of a run.
    pub fn new(
        cfg: StoreConfig,
        mut store_nodes: Vec<NodeId>,
        publishers: Vec<bool>,
        topics: &Topics,
        content_topics: Vec<String>,
    ) -> Self {
        store_nodes.sort();
        store_nodes.dedup();
        let limits = PageLimits {
            default: cfg.page_size_default,
            max: cfg.page_size_max,
            max_content_topics: cfg.max_content_topics,
            max_hashes: cfg.max_hashes,
        };
        let rbsr = RbsrConfig {
            partitions: cfg.sync.partitions,
            threshold: cfg.sync.item_set_threshold,
        };
        StoreShared {
            topic_lens: topics.names().iter().map(|n| n.len() as u32).collect(),
            cfg,
            store_nodes,
            publishers,
            content_topics,
            limits,
            rbsr,
        }
    }
    /// Whether `n` is a store node.
    pub fn is_store(&self, n: NodeId) -> bool {
        self.store_nodes.binary_search(&n).is_ok()
    }
    /// The index of a content topic (0 when unknown).
    pub fn content_index(&self, name: &str) -> u16 {
        self.content_topics
            .iter()
            .position(|c| c == name)
            .unwrap_or(0) as u16
    }
    pub(crate) fn topic_len(&self, t: u16) -> u32 {
        self.topic_lens.get(t as usize).copied().unwrap_or(20)
    }
    pub(crate) fn content_len(&self, c: u16) -> u32 {
        self.content_topics
            .get(c as usize)
            .map_or(24, |s| s.len() as u32)
    }
}

/// A store message.
#[derive(Clone, Debug, PartialEq)]
pub enum StoreMsg {
    /// A query, with its wire bytes.
    Request(Box<(QueryRequest, u32)>),
    /// A response, with its wire bytes.
    Response(Box<(QueryResponse, u32)>),
    /// Store sync.
    Sync(SyncMsg),
}

/// (protocol, kind) of the store's accounting categories, indexed by [`Wire::kind`].
pub const STORE_CATEGORIES: &[(&str, &str)] = &[
    ("store", "query_request"),
    ("store", "query_response"),
    ("store_sync", "reconciliation"),
    ("store_sync", "transfer"),
];

impl Wire for StoreMsg {
    fn kind(&self) -> u16 {
        match self {
            StoreMsg::Request(_) => 0,
            StoreMsg::Response(_) => 1,
            StoreMsg::Sync(SyncMsg::Recon(_)) => 2,
            StoreMsg::Sync(SyncMsg::Transfer(_)) => 3,
        }
    }
    fn wire_bytes(&self) -> u32 {
        match self {
            StoreMsg::Request(b) => b.1,
            StoreMsg::Response(b) => b.1,
            StoreMsg::Sync(SyncMsg::Recon(r)) => r.wire,
            StoreMsg::Sync(SyncMsg::Transfer(t)) => t.wire,
        }
    }
}

/// The store's timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreTimer {
    /// Apply the retention policy.
    Retention,
    /// Start a sync with a peer.
    SyncTick,
    /// A publisher checks its recent messages.
    PublisherCheck,
    /// A receiver checks what it missed.
    ReceiverCheck,
    /// A query's response is overdue.
    QueryTimeout(u32),
}

crate::protocol_counters! {
    /// Store events counted per run.
    pub enum StoreCounter {
        /// A relayed message was archived.
        Archived = "archived",
        /// A relayed message was already archived.
        Duplicate = "duplicate",
        /// An ephemeral message was not archived.
        EphemeralSkipped = "ephemeral_skipped",
        /// A message's timestamp was outside the archive's window.
        TimestampOutOfWindow = "timestamp_out_of_window",
        /// A store node missed a relayed message (`reception_loss`).
        ReceptionLost = "reception_lost",
        /// Rows deleted by the retention policy.
        RetentionDeleted = "retention_deleted",
        /// Rows deleted because the archive was at `max_rows`.
        EvictedFull = "evicted_full",
        /// Queries answered with 200.
        QueriesServed = "queries_served",
        /// Queries answered with 400.
        QueriesBadRequest = "queries_bad_request",
        /// Queries answered with 429.
        QueriesRateLimited = "queries_rate_limited",
        /// Queries answered with 503 (not a store node).
        QueriesUnavailable = "queries_unavailable",
        /// Queries without a response in time.
        QueriesTimedOut = "queries_timed_out",
        /// Queries not sent: too many outstanding.
        QueriesDroppedFull = "queries_dropped_full",
        /// Queries lost with their connection or dial.
        QueriesFailed = "queries_failed",
        /// Resume queries sent (pages).
        ResumeQueries = "resume_queries",
        /// Messages a resume added to the archive.
        ResumeInserted = "resume_inserted",
        /// Syncs started.
        SyncStarted = "sync_started",
        /// Syncs finished (initiator side).
        SyncCompleted = "sync_completed",
        /// Sync sessions refused (too many at once).
        SyncRefused = "sync_refused",
        /// Sync sessions abandoned (timeout, connection lost).
        SyncAbandoned = "sync_abandoned",
        /// Syncs not started: no peer reachable.
        SyncNoPeer = "sync_no_peer",
        /// Messages sync transferred into an archive.
        SyncInserted = "sync_inserted",
        /// Publisher checks sent.
        PublisherChecks = "publisher_checks",
        /// Published messages confirmed in store.
        PublisherConfirmed = "publisher_confirmed",
        /// Messages republished (sent again on relay).
        Republished = "republished",
        /// Republishes relay dropped as already seen.
        RepublishDroppedSeen = "republish_dropped_seen",
        /// Messages given up unconfirmed.
        PublisherGivenUp = "publisher_given_up",
        /// Receiver checks (hash queries) sent.
        ReceiverChecks = "receiver_checks",
        /// Relayed messages a receiver missed (`receiver_loss`).
        ReceiverMissed = "receiver_missed",
        /// Messages receivers recovered from store.
        ReceiverRecovered = "receiver_recovered",
    }
}

/// What the store reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StoreEvent {
    /// Add to a counter.
    Add(StoreCounter, u64),
    /// This node's query was answered after this long.
    Answered(SimDuration),
    /// This node served a query.
    Served,
    /// This receiver recovered a message this long after it was published.
    Recovered(SimDuration),
    /// A sync this node started finished.
    Synced(SyncRecord),
}

/// The store's run-wide sink.
#[derive(Clone, Debug, Default)]
pub struct StoreMetrics {
    /// Per relay registry index, the message's store fields (see the module docs).
    pub msgs: Vec<MsgInfo>,
    /// Counters, by [`StoreCounter`] index.
    pub counters: Vec<u64>,
    /// Query latency at clients (request sent to response received).
    pub query_latency: DurationHistogram,
    /// Receivers' recovered messages: publish to recovery.
    pub recovery_delay: DurationHistogram,
    /// Recovered messages per node.
    pub recovered_per_node: Vec<u64>,
    /// Queries served per node.
    pub served_per_node: Vec<u64>,
    /// Finished syncs (at most [`MAX_SYNC_RECORDS`]).
    pub syncs: Vec<SyncRecord>,
    /// Syncs beyond the bound.
    pub syncs_unrecorded: u64,
}

impl StoreMetrics {
    /// Notes the store fields of registry entry `seq`.
    pub fn note(&mut self, seq: u32, info: MsgInfo) {
        let i = seq as usize;
        if self.msgs.len() <= i {
            self.msgs.resize(i + 1, MsgInfo::default());
        }
        self.msgs[i] = MsgInfo {
            known: true,
            ..info
        };
    }
    /// The store fields of registry entry `seq`.
    pub fn info(&self, seq: u32) -> Option<MsgInfo> {
        self.msgs.get(seq as usize).copied().filter(|m| m.known)
    }
    /// A counter by name's variant.
    pub fn counter(&self, c: StoreCounter) -> u64 {
        self.counters.get(c as usize).copied().unwrap_or(0)
    }
    fn per_node(v: &mut Vec<u64>, node: NodeId) -> &mut u64 {
        if v.len() <= node.index() {
            v.resize(node.index() + 1, 0);
        }
        &mut v[node.index()]
    }
}

/// Why this node sent a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A resume page.
    Resume,
    /// A publisher check.
    PublisherCheck,
    /// A receiver's hash query.
    ReceiverHashes,
    /// A receiver fetching missed messages.
    ReceiverFetch,
}

#[derive(Clone, Debug)]
pub(crate) struct Pending {
    peer: NodeId,
    sent: SimTime,
    purpose: Purpose,
    req: QueryRequest,
}

/// One node's store: a store node's archive and service, and the client side every node of
/// the protocol has.
#[derive(Debug)]
pub struct Store {
    pub(crate) sh: Rc<StoreShared>,
    pub(crate) me: NodeId,
    /// The archive (store nodes only).
    pub(crate) archive: Option<Archive>,
    /// Connected peers, ascending.
    pub(crate) conns: Vec<NodeId>,
    pending: BTreeMap<u32, Pending>,
    /// Queries waiting for a dial: (peer, request, purpose).
    waiting: Vec<(NodeId, QueryRequest, Purpose)>,
    next_id: u32,
    bucket: Option<TokenBucket>,
    peer_buckets: BTreeMap<NodeId, (u64, TokenBucket)>,
    /// The last time this node handled anything (a restart resumes from it).
    pub(crate) last_active: SimTime,
    pub(crate) sync: SyncState,
    pub(crate) rel: reliability::ClientState,
    /// Messages to republish on relay (the node hands them over).
    pub(crate) republish: Vec<WireMsg>,
}

fn secs(s: u64) -> SimDuration {
    SimDuration::from_secs(s)
}

/// Unix nanoseconds of simulated time `t`.
pub fn unix_ns(t: SimTime) -> u64 {
    TIMESTAMP_EPOCH_NS + t.as_nanos()
}

impl Store {
    /// The store of node `me`.
    pub fn new(sh: Rc<StoreShared>, me: NodeId, shards: &[u16]) -> Self {
        let is_store = sh.is_store(me);
        Store {
            archive: is_store.then(|| Archive::new(sh.cfg.max_rows as usize)),
            conns: Vec::new(),
            pending: BTreeMap::new(),
            waiting: Vec::new(),
            next_id: 0,
            bucket: None,
            peer_buckets: BTreeMap::new(),
            last_active: SimTime::ZERO,
            sync: SyncState::default(),
            rel: reliability::ClientState::new(shards),
            republish: Vec::new(),
            sh,
            me,
        }
    }

    /// The archive (store nodes only).
    pub fn archive(&self) -> Option<&Archive> {
        self.archive.as_ref()
    }
    /// Whether this node is a store node.
    pub fn is_store_node(&self) -> bool {
        self.archive.is_some()
    }
    /// Queries outstanding or waiting for a dial.
    pub fn pending_queries(&self) -> usize {
        self.pending.len() + self.waiting.len()
    }

    pub(crate) fn pending_iter(&self) -> impl Iterator<Item = &Purpose> {
        self.pending
            .values()
            .map(|p| &p.purpose)
            .chain(self.waiting.iter().map(|w| &w.2))
    }

    fn touch(&mut self, ctx: &impl Io<Self>) {
        self.last_active = ctx.now();
    }

    /// A message relay accepted at this node (first copy, valid).
    pub fn on_relay_message(&mut self, msg: &WireMsg, info: MsgInfo, ctx: &mut impl Io<Self>) {
        self.touch(ctx);
        let now_ns = unix_ns(ctx.now());
        if self.archive.is_some() {
            let cfg = &self.sh.cfg;
            let drift = cfg.max_time_drift_s.saturating_mul(1_000_000_000);
            let c = if info.ephemeral {
                StoreCounter::EphemeralSkipped
            } else if info.key.ts.abs_diff(now_ns) > drift {
                StoreCounter::TimestampOutOfWindow
            } else if cfg.reception_loss > 0.0 && ctx.rng().random_bool(cfg.reception_loss) {
                StoreCounter::ReceptionLost
            } else {
                let row = Row {
                    seq: msg.seq,
                    data_bytes: msg.data_bytes,
                    topic: msg.topic.0,
                    content: info.content,
                    relay_id: msg.id,
                };
                self.insert(info.key, row, StoreCounter::Archived, ctx)
            };
            if c != StoreCounter::Archived {
                ctx.report(StoreEvent::Add(c, 1));
            }
        } else if self.sh.cfg.reliability.receiver {
            let loss = self.sh.cfg.receiver_loss;
            if loss > 0.0 && ctx.rng().random_bool(loss) {
                ctx.report(StoreEvent::Add(StoreCounter::ReceiverMissed, 1));
            } else {
                self.rel.received(info.key, &self.sh.cfg.reliability);
            }
        }
    }

    /// Inserts into the archive, counting `ok` or a duplicate; returns the counter used.
    pub(crate) fn insert(
        &mut self,
        key: MsgKey,
        row: Row,
        ok: StoreCounter,
        ctx: &mut impl Io<Self>,
    ) -> StoreCounter {
        let Some(a) = self.archive.as_mut() else {
            return StoreCounter::Duplicate;
        };
        let before = a.evicted_full;
        let c = if a.insert(key, row) {
            ok
        } else {
            StoreCounter::Duplicate
        };
        let evicted = a.evicted_full - before;
        if evicted > 0 {
            ctx.report(StoreEvent::Add(StoreCounter::EvictedFull, evicted));
        }
        ctx.report(StoreEvent::Add(c, 1));
        c
    }

    /// A random store node other than this one, preferring connected ones.
    pub(crate) fn pick_store_peer(&self, ctx: &mut impl Io<Self>) -> Option<NodeId> {
        let connected: Vec<NodeId> = self
            .sh
            .store_nodes
            .iter()
            .copied()
            .filter(|&p| p != self.me && self.conns.binary_search(&p).is_ok())
            .collect();
        if !connected.is_empty() {
            let i = ctx.rng().random_range(0..connected.len());
            return Some(connected[i]);
        }
        let others: Vec<NodeId> = self
            .sh
            .store_nodes
            .iter()
            .copied()
            .filter(|&p| p != self.me)
            .collect();
        if others.is_empty() {
            return None;
        }
        let i = ctx.rng().random_range(0..others.len());
        Some(others[i])
    }

    /// A store peer to sync with: uniformly random among the other store nodes, connected or
    /// not (nwaku `selectPeer` for a protocol without a service slot shuffles every peer of
    /// the peer store that supports it; waku_node/peer_manager/peer_manager.nim, nwaku
    /// v0.36). Preferring connected peers instead would keep two nodes that a partition left
    /// connected only to each other syncing with each other after it heals.
    pub(crate) fn pick_sync_peer(&self, ctx: &mut impl Io<Self>) -> Option<NodeId> {
        let others = self.sh.store_nodes.len() - usize::from(self.sh.is_store(self.me));
        if others == 0 {
            return None;
        }
        let i = ctx.rng().random_range(0..others);
        self.sh
            .store_nodes
            .iter()
            .copied()
            .filter(|&p| p != self.me)
            .nth(i)
    }

    /// Sends `req` to `peer` (dialling first when not connected).
    pub(crate) fn query(
        &mut self,
        peer: NodeId,
        mut req: QueryRequest,
        purpose: Purpose,
        ctx: &mut impl Io<Self>,
    ) {
        if self.pending_queries() >= self.sh.cfg.max_pending_queries as usize {
            ctx.report(StoreEvent::Add(StoreCounter::QueriesDroppedFull, 1));
            return;
        }
        self.next_id = self.next_id.wrapping_add(1);
        req.id = self.next_id;
        if self.conns.binary_search(&peer).is_ok() {
            self.send_query(peer, req, purpose, ctx);
        } else {
            let dialling = self.waiting.iter().any(|w| w.0 == peer);
            self.waiting.push((peer, req, purpose));
            if !dialling {
                ctx.dial(peer);
            }
        }
    }

    fn send_query(
        &mut self,
        peer: NodeId,
        req: QueryRequest,
        purpose: Purpose,
        ctx: &mut impl Io<Self>,
    ) {
        let sh = &self.sh;
        let wire = req.wire_bytes(|t| sh.topic_len(t), |c| sh.content_len(c));
        let id = req.id;
        self.pending.insert(
            id,
            Pending {
                peer,
                sent: ctx.now(),
                purpose,
                req: req.clone(),
            },
        );
        ctx.send(peer, StoreMsg::Request(Box::new((req, wire))));
        ctx.set_timer(
            secs(self.sh.cfg.query_timeout_s),
            StoreTimer::QueryTimeout(id),
        );
    }

    /// Serves a query (store nodes; others answer 503).
    fn serve(&mut self, from: NodeId, req: QueryRequest, ctx: &mut impl Io<Self>) {
        let now_ns = ctx.now().as_nanos();
        let mut limited = false;
        if let Some(r) = self.sh.cfg.rate_limit {
            let b = self
                .bucket
                .get_or_insert_with(|| TokenBucket::new(r.requests, period_ns(r), now_ns));
            limited = !b.try_take(now_ns);
        }
        if !limited && let Some(r) = self.sh.cfg.per_peer_rate_limit {
            if !self.peer_buckets.contains_key(&from)
                && self.peer_buckets.len() >= self.sh.cfg.max_rate_limited_peers as usize
            {
                // Full: forget the least recently used peer.
                let lru = self
                    .peer_buckets
                    .iter()
                    .min_by_key(|(p, (t, _))| (*t, **p))
                    .map(|(p, _)| *p);
                if let Some(p) = lru {
                    self.peer_buckets.remove(&p);
                }
            }
            let e = self
                .peer_buckets
                .entry(from)
                .or_insert_with(|| (now_ns, TokenBucket::new(r.requests, period_ns(r), now_ns)));
            e.0 = now_ns;
            limited = !e.1.try_take(now_ns);
        }
        let resp = match &self.archive {
            _ if limited => QueryResponse {
                id: req.id,
                status: query::STATUS_TOO_MANY_REQUESTS,
                entries: Vec::new(),
                cursor: None,
            },
            None => QueryResponse {
                id: req.id,
                status: query::STATUS_UNAVAILABLE,
                entries: Vec::new(),
                cursor: None,
            },
            Some(a) => query::execute(a, &req, self.sh.limits),
        };
        let c = match resp.status {
            query::STATUS_OK => StoreCounter::QueriesServed,
            query::STATUS_BAD_REQUEST => StoreCounter::QueriesBadRequest,
            query::STATUS_TOO_MANY_REQUESTS => StoreCounter::QueriesRateLimited,
            _ => StoreCounter::QueriesUnavailable,
        };
        ctx.report(StoreEvent::Add(c, 1));
        ctx.report(StoreEvent::Served);
        let sh = &self.sh;
        let wire = resp.wire_bytes(|t| sh.topic_len(t));
        ctx.send(from, StoreMsg::Response(Box::new((resp, wire))));
    }

    fn on_response(&mut self, resp: QueryResponse, ctx: &mut impl Io<Self>) {
        let Some(p) = self.pending.remove(&resp.id) else {
            return; // timed out already
        };
        ctx.report(StoreEvent::Answered(ctx.now().saturating_since(p.sent)));
        if resp.status != query::STATUS_OK {
            return;
        }
        match p.purpose {
            Purpose::Resume => {
                let mut n = 0;
                for e in &resp.entries {
                    if let Some(row) = e.row
                        && self.insert(e.key, row, StoreCounter::ResumeInserted, ctx)
                            == StoreCounter::ResumeInserted
                    {
                        n += 1;
                    }
                }
                let _ = n;
                if let Some(c) = resp.cursor {
                    let mut req = p.req;
                    req.cursor = Some(c);
                    ctx.report(StoreEvent::Add(StoreCounter::ResumeQueries, 1));
                    self.query(p.peer, req, Purpose::Resume, ctx);
                }
            }
            Purpose::PublisherCheck => self.publisher_answer(&p.req, &resp, ctx),
            Purpose::ReceiverHashes => self.receiver_hashes(p.peer, p.req, &resp, ctx),
            Purpose::ReceiverFetch => self.receiver_fetched(&resp, ctx),
        }
    }

    /// A store node back online asks another store node for what it missed.
    fn resume(&mut self, ctx: &mut impl Io<Self>) {
        let now = ctx.now();
        let window = secs(self.sh.cfg.resume_window_s);
        let from = self.last_active.max(SimTime::from_nanos(
            now.as_nanos().saturating_sub(window.as_nanos()),
        ));
        let Some(peer) = self.pick_store_peer(ctx) else {
            return;
        };
        let req = QueryRequest {
            id: 0,
            include_data: true,
            filter: query::Filter::Content {
                topic: None,
                contents: Vec::new(),
                start_ns: Some(unix_ns(from)),
                end_ns: Some(unix_ns(now)),
            },
            cursor: None,
            forward: true,
            limit: self.sh.cfg.page_size_max,
        };
        ctx.report(StoreEvent::Add(StoreCounter::ResumeQueries, 1));
        self.query(peer, req, Purpose::Resume, ctx);
    }

    fn start_timers(&mut self, ctx: &mut impl Io<Self>) {
        let cfg = &self.sh.cfg;
        if self.archive.is_some() {
            let ri = secs(cfg.retention_interval_s);
            let phase = ctx.rng().random_range(0..ri.as_nanos());
            ctx.set_timer(SimDuration::from_nanos(phase), StoreTimer::Retention);
            if cfg.sync.enabled {
                let si = secs(cfg.sync.interval_s);
                let phase = ctx.rng().random_range(0..si.as_nanos());
                ctx.set_timer(SimDuration::from_nanos(phase), StoreTimer::SyncTick);
            }
        } else {
            let rel = &cfg.reliability;
            if rel.publisher
                && self
                    .sh
                    .publishers
                    .get(self.me.index())
                    .copied()
                    .unwrap_or(false)
            {
                let pi = SimDuration::from_millis(rel.publisher_check_interval_ms);
                let phase = ctx.rng().random_range(0..pi.as_nanos());
                ctx.set_timer(SimDuration::from_nanos(phase), StoreTimer::PublisherCheck);
            }
            if rel.receiver {
                let ri = secs(rel.receiver_check_interval_s);
                let phase = ctx.rng().random_range(0..ri.as_nanos());
                ctx.set_timer(SimDuration::from_nanos(phase), StoreTimer::ReceiverCheck);
            }
        }
    }
}

fn period_ns(r: RateLimit) -> u64 {
    (r.period_s * 1e9).round().max(1.0) as u64
}

impl Protocol for Store {
    type Msg = StoreMsg;
    type Timer = StoreTimer;
    type Event = StoreEvent;
    type Metrics = StoreMetrics;
    const CATEGORIES: &'static [(&'static str, &'static str)] = STORE_CATEGORIES;

    fn on_start(&mut self, restart: bool, ctx: &mut impl Io<Self>) {
        if restart {
            // Connections, timers and sessions are gone; the archive (a database on disk)
            // and the application's bookkeeping stay.
            self.conns.clear();
            self.pending.clear();
            self.waiting.clear();
            self.sync = SyncState::default();
        } else {
            self.rel.last_check = ctx.now();
        }
        self.start_timers(ctx);
        if restart && self.archive.is_some() && self.sh.cfg.resume {
            self.resume(ctx);
        }
        self.touch(ctx);
    }

    fn on_message(&mut self, from: NodeId, msg: StoreMsg, ctx: &mut impl Io<Self>) {
        self.touch(ctx);
        match msg {
            StoreMsg::Request(b) => self.serve(from, b.0, ctx),
            StoreMsg::Response(b) => self.on_response(b.0, ctx),
            StoreMsg::Sync(m) => self.on_sync(from, m, ctx),
        }
    }

    fn on_timer(&mut self, timer: StoreTimer, ctx: &mut impl Io<Self>) {
        self.touch(ctx);
        match timer {
            StoreTimer::Retention => {
                let policy = self.sh.cfg.retention;
                let now_ns = unix_ns(ctx.now());
                if let Some(a) = self.archive.as_mut() {
                    let n = a.apply_retention(policy, now_ns);
                    if n > 0 {
                        ctx.report(StoreEvent::Add(StoreCounter::RetentionDeleted, n));
                    }
                }
                ctx.set_timer(
                    secs(self.sh.cfg.retention_interval_s),
                    StoreTimer::Retention,
                );
            }
            StoreTimer::SyncTick => {
                self.sync_tick(ctx);
                ctx.set_timer(secs(self.sh.cfg.sync.interval_s), StoreTimer::SyncTick);
            }
            StoreTimer::PublisherCheck => {
                self.publisher_check(ctx);
                let pi = self.sh.cfg.reliability.publisher_check_interval_ms;
                ctx.set_timer(SimDuration::from_millis(pi), StoreTimer::PublisherCheck);
            }
            StoreTimer::ReceiverCheck => {
                self.receiver_check(ctx);
                let ri = self.sh.cfg.reliability.receiver_check_interval_s;
                ctx.set_timer(secs(ri), StoreTimer::ReceiverCheck);
            }
            StoreTimer::QueryTimeout(id) => {
                if self.pending.remove(&id).is_some() {
                    ctx.report(StoreEvent::Add(StoreCounter::QueriesTimedOut, 1));
                }
            }
        }
    }

    fn on_connection_up(&mut self, peer: NodeId, _outbound: bool, ctx: &mut impl Io<Self>) {
        if let Err(i) = self.conns.binary_search(&peer) {
            self.conns.insert(i, peer);
        }
        let (go, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| w.0 == peer);
        self.waiting = keep;
        for (p, req, purpose) in go {
            self.send_query(p, req, purpose, ctx);
        }
        self.sync_connected(peer, ctx);
    }

    fn on_connection_down(&mut self, peer: NodeId, ctx: &mut impl Io<Self>) {
        if let Ok(i) = self.conns.binary_search(&peer) {
            self.conns.remove(i);
        }
        let lost: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.peer == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in &lost {
            self.pending.remove(id);
        }
        if !lost.is_empty() {
            ctx.report(StoreEvent::Add(
                StoreCounter::QueriesFailed,
                lost.len() as u64,
            ));
        }
        self.sync_lost(peer, ctx);
    }

    fn on_dial_failed(&mut self, peer: NodeId, _reason: DialError, ctx: &mut impl Io<Self>) {
        let before = self.waiting.len();
        self.waiting.retain(|w| w.0 != peer);
        let n = before - self.waiting.len();
        if n > 0 {
            ctx.report(StoreEvent::Add(StoreCounter::QueriesFailed, n as u64));
        }
        self.sync_lost(peer, ctx);
    }

    fn record(m: &mut StoreMetrics, node: NodeId, _now: SimTime, e: StoreEvent) {
        if m.counters.is_empty() {
            m.counters = vec![0; StoreCounter::ALL.len()];
        }
        match e {
            StoreEvent::Add(c, n) => {
                m.counters[c as usize] += n;
                if c == StoreCounter::ReceiverRecovered {
                    *StoreMetrics::per_node(&mut m.recovered_per_node, node) += n;
                }
            }
            StoreEvent::Answered(d) => m.query_latency.record(d),
            StoreEvent::Served => *StoreMetrics::per_node(&mut m.served_per_node, node) += 1,
            StoreEvent::Recovered(d) => m.recovery_delay.record(d),
            StoreEvent::Synced(r) => {
                if m.syncs.len() < MAX_SYNC_RECORDS {
                    m.syncs.push(r);
                } else {
                    m.syncs_unrecorded += 1;
                }
            }
        }
    }
}

impl Build for Store {
    type Shared = StoreShared;
    /// Store nodes, and (with p2p reliability) publishers and receivers.
    fn build(sh: &Rc<StoreShared>, node: NodeId, topics: &[u16]) -> Option<Self> {
        let rel = &sh.cfg.reliability;
        let publisher = rel.publisher && sh.publishers.get(node.index()).copied().unwrap_or(false);
        (sh.is_store(node) || rel.receiver || publisher)
            .then(|| Store::new(sh.clone(), node, topics))
    }
}

#[cfg(test)]
mod tests;
