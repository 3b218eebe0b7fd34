//! The relay state machine: gossipsub v1.1 / v1.2 as nim-libp2p v1.14.3 runs it for nwaku.
//!
//! [`Relay`] is sans-IO: every input comes through a method (`on_rpc`, `on_timer`,
//! `on_connection_up`, `publish`, ...) together with a [`crate::proto::Io`] that gives it the time,
//! randomness, and the means to send, set timers and report measurements. It never reads a
//! clock or an ambient random generator, and it iterates only over vectors (peer lists kept
//! sorted by id, mesh lists in graft order), so a run is a pure function of its seed.
//!
//! The structure follows nim-libp2p (`gossipsub.nim`, `gossipsub/behavior.nim`,
//! `gossipsub/scoring.nim`, `pubsubpeer.nim`), function by function:
//!
//! | nim-libp2p | here | file |
//! |---|---|---|
//! | `rpcHandler`, `validateAndRelay` | [`Relay::on_rpc`], `on_message`, `validated` | `handlers.rs` |
//! | `validate` (topic validators) | [`RelayShared::validate`], [`validation::Validator`] | `validation.rs` |
//! | `handleGraft`, `handlePrune`, `handleIHave`, `handleIWant`, `handleIDontWant` | `handle_*` | `handlers.rs` |
//! | `onHeartbeat`, `rebalanceMesh` | `heartbeat`, `rebalance` | `mesh.rs` |
//! | `makeGossipControlMessages` | `emit_gossip` | `gossip.rs` |
//! | `updateScores` | `score_tick` | `scoring.rs` |
//! | `makePeersForPublishDefault`, `publish` | [`Relay::publish`] | `publish.rs` |
//! | `onTopicSubscription` | [`Relay::subscribe`], [`Relay::unsubscribe`] | `mesh.rs` |
//! | `PubSubPeer.sendEncoded`, `sendNonPriorityTask` | `send`, `drain` ([`crate::relay::queues`]) | `send.rs` |
//!
//! Prefetch hints (hot-path tuning, no behaviour) are in `prefetch.rs`.
//!
//! Implementation profiles (`profile.rs`, docs/gossipsub-profiles.md): a node follows the rules
//! of nim-libp2p (the default, described here), go-libp2p or rust-libp2p, chosen per node group
//! through [`RelayShared::rules`]; the rules that differ branch on it in `handle_graft` and the
//! heartbeat.
//!
//! Deliberate details kept from nim-libp2p, because they change results:
//! - a PRUNE from any peer sets a backoff, even from outside the mesh (v1.14.3);
//! - when pruning above D_high leaves at most D_score candidates, nothing is removed from the
//!   mesh but the PRUNE is still sent to every candidate (the `prunes` list is reused);
//! - opportunistic grafting is checked every heartbeat;
//! - no IWANT promise tracking: the same id may be requested from several peers;
//! - forwarded messages are not high priority (only own publishes and control messages are).

pub mod backoff;
pub mod config;
pub mod dissemination;
pub mod mcache;
pub mod message;
pub mod metrics;
pub mod peer_score;
pub mod profile;
pub mod protected;
pub mod queues;
pub mod rpc;
pub mod seen;
pub mod validation;

mod gossip;
mod handlers;
pub mod memory;
mod mesh;
mod prefetch;
mod publish;
mod scoring;
mod send;
mod sent_ihaves;
mod topic_scores;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use rand::Rng;
use sim_core::memory::insert_tight;
use sim_core::{NodeId, SimDuration, SimTime};

use crate::proto::{Io, Protocol, Wire};
use crate::relay::backoff::Backoffs;
use crate::relay::config::RelayConfig;
use crate::relay::mcache::MessageCache;
use crate::relay::message::{MsgId, TopicIdx, Topics, WireMsg};
use crate::relay::metrics::RelayMetrics;
use crate::relay::peer_score::PeerScore;
use crate::relay::profile::Implementation;
use crate::relay::protected::ProtectedTopics;
use crate::relay::queues::SendQueue;
use crate::relay::rpc::{Rpc, Subscriptions};
use crate::relay::seen::SeenCache;
use crate::relay::validation::Validators;

/// Timers the relay sets.
#[derive(Clone, Debug, PartialEq)]
pub enum RelayTimer {
    /// The gossipsub heartbeat.
    Heartbeat,
    /// The scoring heartbeat (score update and decay).
    ScoreTick,
    /// The non-priority send task of a peer may send.
    Drain(NodeId),
    /// Decoding and handling a received message (from `from`) finished
    /// ([`RelayConfig::message_handling_us`]).
    Handled {
        /// The peer it came from.
        from: NodeId,
        /// The message.
        msg: WireMsg,
    },
    /// Validation of a message (received from `from`) finished.
    Validated {
        /// The peer it came from first.
        from: NodeId,
        /// The message.
        msg: WireMsg,
    },
}

/// Measurements the relay reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    /// The first copy of a message passed validation and was delivered to the application.
    Accepted {
        /// Registry index.
        seq: u32,
        /// Links it travelled.
        hops: u8,
    },
    /// A message left the seen cache; `copies` counts copies received after the first.
    SeenExpired {
        /// Registry index.
        seq: u32,
        /// Duplicates.
        copies: u32,
    },
    /// Something to count.
    Count(RelayCounter),
}

crate::protocol_counters! {
    /// Relay events counted per run.
    pub enum RelayCounter {
        /// A message failed validation (Reject; P4 for the sender).
        Rejected = "rejected",
        /// A message was ignored by validation.
        Ignored = "ignored",
        /// A peer was disconnected for a score below the graylist threshold.
        GraylistDisconnect = "graylist_disconnect",
        /// A graylisted peer's connection was refused or closed on reconnect.
        GraylistRefused = "graylist_refused",
        /// A peer was disconnected because its non-priority queue overflowed.
        QueueOverflowDisconnect = "queue_overflow_disconnect",
        /// An RPC above `max_rpc_bytes` was not sent.
        RpcTooLarge = "rpc_too_large",
        /// The upload link refused a write (backlog bound).
        UplinkFull = "uplink_full",
        /// An IHAVE ignored (sender below the gossip threshold or out of IWANT budget).
        IhaveIgnored = "ihave_ignored",
        /// Message ids requested with IWANT.
        IwantIdsSent = "iwant_ids_sent",
        /// Messages sent in reply to IWANT.
        IwantMsgsServed = "iwant_msgs_served",
        /// IWANT ids refused (not advertised to that peer, or already served).
        IwantIdsRefused = "iwant_ids_refused",
        /// Forwards skipped because the peer sent IDONTWANT.
        IdontwantSavedSends = "idontwant_saved_sends",
        /// A GRAFT arrived during backoff (answered with PRUNE, behaviour penalty).
        GraftDuringBackoff = "graft_during_backoff",
        /// A non-priority message had to wait in a peer's queue.
        NonPriorityQueued = "non_priority_queued",
        /// Peer-exchange dials.
        PxDials = "px_dials",
    }
}

/// Why a publish did not go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Sent to this many peers.
    Published {
        /// Peers it went to.
        peers: u32,
    },
    /// The serialized WakuMessage is above `max_message_bytes` (nwaku refuses it).
    TooLarge,
    /// No peer to send it to (nim-libp2p returns 0; nwaku reports `NoPeersToPublish`).
    NoPeers,
    /// The id is already in the seen cache.
    Duplicate,
}

pub use crate::relay::validation::{Validation, validate};

/// Run-wide read-only data every relay shares.
#[derive(Clone, Debug)]
pub struct RelayShared {
    /// The configuration (validated).
    pub cfg: RelayConfig,
    /// The run's topics.
    pub topics: Topics,
    /// Each node's IP group (P6); nodes in one group share an IP address.
    pub ip_groups: Vec<u32>,
    /// Protected shards: their messages must carry a valid signature
    /// ([`crate::relay::protected`]). Default none.
    pub protected: ProtectedTopics,
    /// The validation chain ([`crate::relay::validation`]): the basic check, then (run
    /// between the two by [`RelayShared::validate`]) the protected shards, then further
    /// validators in order. Default: the basic check only.
    pub validators: Validators,
    /// The rules this group's nodes follow (nim-libp2p unless implementation groups are
    /// configured).
    pub rules: Implementation,
    /// This group's index in [`RelayShared::groups`] (0 without groups).
    pub group: u8,
    /// With `[[relay.implementations]]`: one shared record per implementation group (each
    /// with its own configuration and rules), and each node's group. Empty: every node uses
    /// this record.
    pub groups: Vec<Rc<RelayShared>>,
    /// Each node's index in `groups` (empty without groups).
    pub group_of: Vec<u8>,
    /// RLN ([`crate::rln`]): when set, every relay runs its proof checks after the chain
    /// (their CPU time on the compute queue). Default none.
    pub rln: Option<Rc<crate::rln::RlnShared>>,
    /// Accepted messages are handed to the node's application protocols (store, p2p
    /// reliability) through [`Relay::take_delivered`]. Default false: nothing is kept.
    pub app_delivery: bool,
    heartbeat: SimDuration,
    seen_ttl: SimDuration,
    prune_backoff: SimDuration,
    unsubscribe_backoff: SimDuration,
    slack: SimDuration,
    fanout_ttl: SimDuration,
    decay_interval: SimDuration,
    validation_delay: SimDuration,
    /// [`RelayConfig::message_handling_us`] in nanoseconds.
    handling_fixed_ns: u64,
    /// [`RelayConfig::message_handling_us_per_kb`] in nanoseconds per 1,000 bytes.
    handling_per_kb_ns: u64,
}

impl RelayShared {
    /// Shared data for a run (`cfg` must be validated).
    pub fn new(cfg: RelayConfig, topics: Topics, ip_groups: Vec<u32>) -> Self {
        RelayShared {
            heartbeat: SimDuration::from_millis(cfg.heartbeat_ms),
            seen_ttl: SimDuration::from_secs(cfg.seen_ttl_s),
            prune_backoff: SimDuration::from_secs(cfg.prune_backoff_s),
            unsubscribe_backoff: SimDuration::from_secs(cfg.unsubscribe_backoff_s),
            slack: SimDuration::from_secs(cfg.backoff_slack_s),
            fanout_ttl: SimDuration::from_secs(cfg.fanout_ttl_s),
            decay_interval: SimDuration::from_secs(cfg.scoring.decay_interval_s),
            validation_delay: SimDuration::from_micros(cfg.validation_delay_us),
            handling_fixed_ns: cfg.handling_ns(0),
            handling_per_kb_ns: cfg.handling_ns(1000) - cfg.handling_ns(0),
            cfg,
            topics,
            ip_groups,
            protected: ProtectedTopics::none(),
            validators: Validators::basic(),
            rules: Implementation::Nim,
            group: 0,
            groups: Vec::new(),
            group_of: Vec::new(),
            rln: None,
            app_delivery: false,
        }
    }

    /// The shared record of node `n`'s implementation group (this one without groups).
    pub fn for_node(self: &Rc<Self>, n: NodeId) -> Rc<RelayShared> {
        match self.group_of.get(n.index()) {
            Some(&g) => self.groups[g as usize].clone(),
            None => self.clone(),
        }
    }

    /// Node `n`'s implementation group index (0 without groups).
    pub fn group_of(&self, n: NodeId) -> u8 {
        self.group_of.get(n.index()).copied().unwrap_or(0)
    }
    /// Validates `msg`: the chain [`RelayShared::validators`] with the protected-shard
    /// signature check after the basic check when any shard is protected. The first verdict
    /// other than Accept wins.
    #[inline]
    pub fn validate(&self, msg: &WireMsg) -> Validation {
        let protected = Some(&self.protected).filter(|p| p.any());
        self.validators.run(msg, protected)
    }
    /// CPU time to decode and handle a received message of `data_bytes`
    /// ([`RelayConfig::handling_ns`]); `None` when handling is free (the default).
    #[inline]
    fn handling(&self, data_bytes: u32) -> Option<SimDuration> {
        if self.handling_fixed_ns == 0 && self.handling_per_kb_ns == 0 {
            return None;
        }
        Some(SimDuration::from_nanos(
            self.handling_fixed_ns + self.handling_per_kb_ns * data_bytes as u64 / 1000,
        ))
    }
    fn ip_of(&self, n: NodeId) -> u32 {
        // Default: every node its own IP.
        self.ip_groups
            .get(n.index())
            .copied()
            .unwrap_or(u32::MAX - n.0)
    }
}

/// What a node knows about one topic. `repr(C)`: what messages read (the topic, whether
/// subscribed, the mesh) in the first cache line, which the look-ahead prefetches.
#[derive(Clone, Debug)]
#[repr(C)]
struct TopicState {
    topic: TopicIdx,
    subscribed: bool,
    /// The mesh (only while subscribed).
    mesh: Vec<NodeId>,
    /// Connected peers subscribed to the topic (nim-libp2p `gossipsub[topic]`).
    peers: Vec<NodeId>,
    /// Fanout peers (publishing without subscribing, when flood publishing is off).
    fanout: Vec<NodeId>,
    /// When the fanout expires (nim-libp2p `lastFanoutPubSub`); `None` = no fanout.
    fanout_until: Option<SimTime>,
    backoff: Backoffs,
}

impl TopicState {
    fn new(topic: TopicIdx) -> Self {
        TopicState {
            topic,
            subscribed: false,
            peers: Vec::new(),
            mesh: Vec::new(),
            fanout: Vec::new(),
            fanout_until: None,
            backoff: Backoffs::default(),
        }
    }
}

/// One connected peer (its id is in `Relay::peer_ids` at the same position). Kept to one
/// cache line, and aligned to one: what every message touches is here, the scoring counters
/// are boxed.
#[derive(Clone, Debug)]
#[repr(align(64))]
struct Peer {
    id: NodeId,
    outbound: bool,
    /// IWANT ids still allowed this heartbeat (valid when `counters_hb` is the current one).
    ihave_budget: u16,
    /// IDONTWANT ids stored from this peer this heartbeat (same validity).
    idontwant_count: u16,
    /// The heartbeat the two counters above belong to (reset lazily).
    counters_hb: u32,
    /// The last computed score (nim-libp2p `peer.score`).
    score: f64,
    queue: SendQueue,
    stats: Box<PeerScore>,
}

impl Peer {
    /// Resets the per-heartbeat counters when a new heartbeat started.
    #[inline]
    fn counters(&mut self, hb: u32, budget: u32) {
        if self.counters_hb != hb {
            self.counters_hb = hb;
            self.ihave_budget = budget.min(u16::MAX as u32) as u16;
            self.idontwant_count = 0;
        }
    }
}

/// The gossipsub state of one node.
///
/// `repr(C)` with what every RPC touches first (up to `mcache`, [`Relay::HOT_BYTES`]): the
/// engine prefetches that part of the record a few events before an input reaches the node.
#[derive(Debug)]
#[repr(C)]
pub struct Relay {
    sh: Rc<RelayShared>,
    /// Connected peers' ids, ascending (a compact index for lookups).
    peer_ids: Vec<NodeId>,
    /// Connected peers, in the order of `peer_ids`.
    peers: Vec<Peer>,
    topics: Vec<TopicState>,
    /// Peers whose last computed score is negative, ascending: while it is empty every
    /// threshold check (all thresholds are <= 0) passes without reading a score.
    negative: Vec<NodeId>,
    /// IDONTWANTs received (nim-libp2p keeps them per peer; one list per node is the same
    /// information in fewer cache lines): (id, peer, heartbeat number), in arrival order.
    idontwants: VecDeque<(MsgId, NodeId, u32)>,
    /// Messages in validation, with the peers that sent them meanwhile (every copy reads it:
    /// a duplicate looks its sender up here).
    validating: Vec<(MsgId, Vec<NodeId>)>,
    hb: u32,
    me: NodeId,
    seen: SeenCache,
    // ----- touched by first copies and heartbeats
    mcache: MessageCache,
    scratch: Vec<NodeId>,
    // ----- rarely touched
    /// Topics with scoring parameters (every topic ever subscribed, as nwaku never removes
    /// them).
    scored: Vec<TopicIdx>,
    /// Peers we dialled, ascending (D_out accounting without touching `peers`).
    outbound_ids: Vec<NodeId>,
    /// Ids advertised in IHAVE and to whom (nim-libp2p `sentIHaves`, per peer there), for
    /// the IWANT check.
    sent_ihaves: sent_ihaves::SentIhaves,
    retained: BTreeMap<NodeId, PeerScore>,
    subs_rpc: Option<Rc<Subscriptions>>,
    /// Buffers of the gossip emission, kept between heartbeats for their memory.
    gossip: GossipScratch,
    /// RLN's validation state (when the run has RLN, [`RelayShared::rln`]).
    rln: Option<Box<crate::rln::validator::RlnCheck>>,
    /// Messages accepted since the node last took them (only with
    /// [`RelayShared::app_delivery`], else `None`; the node empties it after every input).
    /// Boxed: the record stays small for the runs without it.
    #[allow(clippy::box_collection)]
    delivered: Option<Box<Vec<WireMsg>>>,
}

/// Per-heartbeat buffers of [`Relay::emit_gossip`].
#[derive(Clone, Debug, Default)]
struct GossipScratch {
    /// IHAVE entry bits per peer (by peer index).
    masks: Vec<u32>,
    /// The batch's entries: topic, name length, and their ids as a range of `ids`.
    entries: Vec<(TopicIdx, u8, usize, usize)>,
    ids: Vec<MsgId>,
    chosen: Vec<NodeId>,
}

fn remove_id(v: &mut Vec<NodeId>, x: NodeId) -> bool {
    match v.iter().position(|&y| y == x) {
        Some(i) => {
            v.remove(i);
            true
        }
        None => false,
    }
}

impl Relay {
    /// A relay for node `me`, subscribed to `topics`.
    pub fn new(sh: Rc<RelayShared>, me: NodeId, topics: &[TopicIdx]) -> Self {
        let cfg = &sh.cfg;
        let rln = sh
            .rln
            .as_ref()
            .map(|r| Box::new(crate::rln::validator::RlnCheck::new(r.clone(), me)));
        let delivered = sh.app_delivery.then(Box::default);
        let mut r = Relay {
            seen: SeenCache::new(sh.seen_ttl),
            mcache: MessageCache::new(cfg.mcache_len as usize, cfg.mcache_gossip as usize),
            sh,
            me,
            topics: Vec::new(),
            scored: Vec::new(),
            peer_ids: Vec::new(),
            peers: Vec::new(),
            outbound_ids: Vec::new(),
            negative: Vec::new(),
            idontwants: VecDeque::new(),
            sent_ihaves: Default::default(),
            retained: BTreeMap::new(),
            validating: Vec::new(),
            subs_rpc: None,
            hb: 0,
            scratch: Vec::new(),
            gossip: GossipScratch::default(),
            rln,
            delivered,
        };
        for &t in topics {
            let k = r.topic_entry(t);
            if !r.topics[k].subscribed {
                r.topics[k].subscribed = true;
                r.scored.push(t);
            }
        }
        r.scored.sort();
        r.rebuild_subs();
        r
    }

    /// Starts (or, after churn, restarts: a restarted node has lost its state, and its
    /// connections and timers are gone) the heartbeats, each at a random phase within its interval (real nodes start
    /// at different times; lockstep heartbeats would synchronise the whole network).
    pub fn start(&mut self, restart: bool, ctx: &mut impl Io<Relay>) {
        if restart {
            self.flush(ctx);
            let subs: Vec<TopicIdx> = self.subscriptions().collect();
            *self = Relay::new(self.sh.clone(), self.me, &subs);
        }
        let hb = self.sh.heartbeat.as_nanos();
        let phase = ctx.rng().random_range(0..hb);
        ctx.set_timer(SimDuration::from_nanos(phase), RelayTimer::Heartbeat);
        let di = self.sh.decay_interval.as_nanos();
        let phase = ctx.rng().random_range(0..di);
        ctx.set_timer(SimDuration::from_nanos(phase), RelayTimer::ScoreTick);
    }

    // ----- inspection -------------------------------------------------------------------

    /// This node.
    pub fn id(&self) -> NodeId {
        self.me
    }
    /// The mesh of `topic` (empty when not subscribed).
    pub fn mesh(&self, topic: TopicIdx) -> &[NodeId] {
        self.topic_pos(topic)
            .map(|k| self.topics[k].mesh.as_slice())
            .unwrap_or(&[])
    }
    /// Connected peers subscribed to `topic`.
    pub fn topic_peers(&self, topic: TopicIdx) -> &[NodeId] {
        self.topic_pos(topic)
            .map(|k| self.topics[k].peers.as_slice())
            .unwrap_or(&[])
    }
    /// Fanout peers of `topic`.
    pub fn fanout(&self, topic: TopicIdx) -> &[NodeId] {
        self.topic_pos(topic)
            .map(|k| self.topics[k].fanout.as_slice())
            .unwrap_or(&[])
    }
    /// Whether the node is subscribed to `topic`.
    pub fn is_subscribed(&self, topic: TopicIdx) -> bool {
        self.topic_pos(topic)
            .is_some_and(|k| self.topics[k].subscribed)
    }
    /// Subscribed topics, ascending.
    pub fn subscriptions(&self) -> impl Iterator<Item = TopicIdx> + '_ {
        self.topics.iter().filter(|t| t.subscribed).map(|t| t.topic)
    }
    /// Connected peers, ascending.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.peer_ids.iter().copied()
    }
    /// A connected peer's last computed score.
    pub fn score(&self, peer: NodeId) -> Option<f64> {
        self.peer_pos(peer).map(|i| self.peers[i].score)
    }
    /// A connected peer's behaviour penalty (P7 counter).
    pub fn behaviour_penalty(&self, peer: NodeId) -> Option<f64> {
        self.peer_pos(peer)
            .map(|i| self.peers[i].stats.behaviour_penalty)
    }
    /// The score kept for a disconnected peer.
    pub fn retained_score(&self, peer: NodeId) -> Option<f64> {
        self.retained.get(&peer).map(|s| s.score)
    }
    /// The backoff end of `peer` in `topic`.
    pub fn backoff(&self, topic: TopicIdx, peer: NodeId) -> Option<SimTime> {
        self.topic_pos(topic)
            .and_then(|k| self.topics[k].backoff.get(peer))
    }
    /// Messages waiting in a peer's non-priority queue.
    pub fn queued(&self, peer: NodeId) -> usize {
        self.peer_pos(peer)
            .map(|i| self.peers[i].queue.len())
            .unwrap_or(0)
    }
    /// Ids in the seen cache.
    pub fn seen_len(&self) -> usize {
        self.seen.len()
    }
    /// Whether `id` is in the seen cache.
    pub fn has_seen(&self, id: MsgId) -> bool {
        self.seen.contains(id)
    }

    /// Takes the messages accepted since the last call (see [`RelayShared::app_delivery`]).
    #[inline]
    pub fn take_delivered(&mut self) -> Option<Vec<WireMsg>> {
        match self.delivered.as_deref_mut() {
            Some(d) if !d.is_empty() => Some(std::mem::take(d)),
            _ => None,
        }
    }
    /// Messages in the message cache.
    pub fn mcache_len(&self) -> usize {
        self.mcache.len()
    }

    /// Reports every seen entry's duplicate count and forgets them (restart).
    pub fn flush(&mut self, ctx: &mut impl Io<Relay>) {
        self.seen.drain(|e| {
            ctx.report(RelayEvent::SeenExpired {
                seq: e.seq,
                copies: e.copies,
            })
        });
    }

    /// Hands every seen entry to `f` and forgets them (end of run, outside the engine).
    pub fn drain_seen(&mut self, f: impl FnMut(crate::relay::seen::SeenEntry)) {
        self.seen.drain(f);
    }

    // ----- lookups ----------------------------------------------------------------------

    fn peer_pos(&self, peer: NodeId) -> Option<usize> {
        self.peer_ids.binary_search(&peer).ok()
    }
    #[inline]
    fn topic_pos(&self, t: TopicIdx) -> Option<usize> {
        self.topics.binary_search_by_key(&t, |s| s.topic).ok()
    }
    fn topic_entry(&mut self, t: TopicIdx) -> usize {
        match self.topics.binary_search_by_key(&t, |s| s.topic) {
            Ok(k) => k,
            Err(k) => {
                insert_tight(&mut self.topics, k, TopicState::new(t));
                k
            }
        }
    }
    #[inline]
    fn is_outbound(&self, peer: NodeId) -> bool {
        self.outbound_ids.binary_search(&peer).is_ok()
    }
    fn topic_len(&self, t: TopicIdx) -> u8 {
        self.sh.topics.name_len(t)
    }
}

impl Wire for Rpc {
    #[inline]
    fn kind(&self) -> u16 {
        Rpc::kind(self)
    }
    #[inline]
    fn wire_bytes(&self) -> u32 {
        Rpc::wire_bytes(self)
    }
    /// IDONTWANT only: its handler stores the id for the peer and does nothing else
    /// (`Relay::handle_idontwant`).
    #[inline]
    fn passive(&self) -> bool {
        matches!(self, Rpc::Idontwant(_))
    }
}

impl Protocol for Relay {
    type Msg = Rpc;
    type Timer = RelayTimer;
    type Event = RelayEvent;
    type Metrics = RelayMetrics;
    const CATEGORIES: &'static [(&'static str, &'static str)] = crate::relay::rpc::RELAY_CATEGORIES;

    fn on_start(&mut self, restart: bool, ctx: &mut impl Io<Self>) {
        self.start(restart, ctx);
    }
    #[inline]
    fn on_message(&mut self, from: NodeId, msg: Rpc, ctx: &mut impl Io<Self>) {
        self.on_rpc(from, msg, ctx);
    }
    #[inline]
    fn on_timer(&mut self, timer: RelayTimer, ctx: &mut impl Io<Self>) {
        Relay::on_timer(self, timer, ctx);
    }
    fn on_connection_up(&mut self, peer: NodeId, outbound: bool, ctx: &mut impl Io<Self>) {
        Relay::on_connection_up(self, peer, outbound, ctx);
    }
    fn on_connection_down(&mut self, peer: NodeId, ctx: &mut impl Io<Self>) {
        Relay::on_connection_down(self, peer, ctx);
    }
    #[inline(always)]
    fn prefetch_message(&self, stage: u8, from: NodeId, msg: &Rpc, links: &sim_core::Links<'_>) {
        self.prefetch(stage, from, msg, links);
    }
    #[inline(always)]
    fn prefetch_passive(&self, from: NodeId, kind: u16) {
        if kind == crate::relay::rpc::kind::IDONTWANT {
            self.prefetch_idontwant(from);
        }
    }
    #[inline(always)]
    fn prefetch_timer(&self, stage: u8, timer: &RelayTimer, rng: &sim_core::SimRng) {
        if stage == 1 && matches!(timer, RelayTimer::Heartbeat) {
            // The heartbeat shuffles: the random stream's buffer and state.
            sim_core::prefetch::prefetch_all(rng);
        }
        self.prefetch_timer(stage, timer);
    }
    #[inline]
    fn record(metrics: &mut RelayMetrics, node: NodeId, now: SimTime, event: RelayEvent) {
        metrics.relay_event(node, now, event);
    }
    #[inline]
    fn on_send(metrics: &mut RelayMetrics, now: SimTime, msg: &Rpc, wire: u32) {
        if metrics.per_topic_bytes && now >= metrics.count_from {
            metrics.attribute_to_topics(msg, wire);
        }
    }
}

impl crate::node::registry::Build for Relay {
    type Shared = RelayShared;
    /// Every node relays (light clients, which do not, come with filter and light push).
    fn build(sh: &Rc<RelayShared>, node: NodeId, topics: &[u16]) -> Option<Self> {
        let topics: Vec<TopicIdx> = topics.iter().map(|&t| TopicIdx(t)).collect();
        Some(Relay::new(sh.for_node(node), node, &topics))
    }
}
