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
//! | nim-libp2p | here |
//! |---|---|
//! | `rpcHandler`, `validateAndRelay` | [`Relay::on_rpc`], `on_message`, `validated` |
//! | `handleGraft`, `handlePrune`, `handleIHave`, `handleIWant`, `handleIDontWant` | `handle_*` |
//! | `onHeartbeat`, `rebalanceMesh`, `makeGossipControlMessages` | `heartbeat`, `rebalance`, `emit_gossip` |
//! | `updateScores` | `score_tick` |
//! | `makePeersForPublishDefault`, `publish` | [`Relay::publish`] |
//! | `onTopicSubscription` | [`Relay::subscribe`], [`Relay::unsubscribe`] |
//! | `PubSubPeer.sendEncoded`, `sendNonPriorityTask` | `send`, `drain` ([`crate::relay::queues`]) |
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
pub mod mcache;
pub mod message;
pub mod metrics;
pub mod peer_score;
pub mod protected;
pub mod queues;
pub mod rpc;
pub mod seen;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use rand::Rng;
use rand::seq::SliceRandom;
use sim_core::{NodeId, SimDuration, SimRng, SimTime};

use crate::proto::{Io, Protocol, Wire};
use crate::relay::backoff::Backoffs;
use crate::relay::config::RelayConfig;
use crate::relay::mcache::MessageCache;
use crate::relay::message::{MsgId, TopicIdx, Topics, WireMsg};
use crate::relay::metrics::RelayMetrics;
use crate::relay::peer_score::{PeerScore, colocation_factor};
use crate::relay::protected::ProtectedTopics;
use crate::relay::queues::SendQueue;
use crate::relay::rpc::{
    Ihave, IhaveBatch, IhaveEntry, Prune, Rpc, Subscriptions, ihave_rpc_bytes, prune_rpc_bytes,
    subscribe_rpc_bytes,
};
use crate::relay::seen::SeenCache;

/// Timers the relay sets.
#[derive(Clone, Debug, PartialEq)]
pub enum RelayTimer {
    /// The gossipsub heartbeat.
    Heartbeat,
    /// The scoring heartbeat (score update and decay).
    ScoreTick,
    /// The non-priority send task of a peer may send.
    Drain(NodeId),
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

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident = $s:literal,)*) => {
        /// Relay events counted per run.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RelayCounter { $($(#[$doc])* $name,)* }
        impl RelayCounter {
            /// Every counter, in index order.
            pub const ALL: &'static [RelayCounter] = &[$(RelayCounter::$name,)*];
            /// A stable snake_case name.
            pub fn name(self) -> &'static str {
                match self { $(RelayCounter::$name => $s,)* }
            }
        }
    };
}

counters! {
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

/// The outcome of validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    /// Deliver and forward.
    Accept,
    /// Drop silently.
    Ignore,
    /// Drop and penalise the sender (P4).
    Reject,
}

/// Validates a message. Messages flagged invalid by the workload are rejected; on protected
/// shards the relay then checks the signature ([`RelayShared::protected`]); RLN proof checks
/// plug in here later.
pub fn validate(msg: &WireMsg) -> Validation {
    if msg.flags & WireMsg::INVALID != 0 {
        Validation::Reject
    } else if msg.flags & WireMsg::IGNORE != 0 {
        Validation::Ignore
    } else {
        Validation::Accept
    }
}

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
    heartbeat: SimDuration,
    seen_ttl: SimDuration,
    prune_backoff: SimDuration,
    unsubscribe_backoff: SimDuration,
    slack: SimDuration,
    fanout_ttl: SimDuration,
    decay_interval: SimDuration,
    validation_delay: SimDuration,
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
            cfg,
            topics,
            ip_groups,
            protected: ProtectedTopics::none(),
        }
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
    /// Ids advertised in IHAVE (nim-libp2p `sentIHaves`, per peer there): (id, peer,
    /// heartbeat number), in heartbeat order.
    sent_ihaves: VecDeque<(MsgId, NodeId, u32)>,
    retained: BTreeMap<NodeId, PeerScore>,
    subs_rpc: Option<Rc<Subscriptions>>,
    /// Buffers of the gossip emission, kept between heartbeats for their memory.
    gossip: GossipScratch,
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
            sent_ihaves: VecDeque::new(),
            retained: BTreeMap::new(),
            validating: Vec::new(),
            subs_rpc: None,
            hb: 0,
            scratch: Vec::new(),
            gossip: GossipScratch::default(),
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

    /// Whether `peer` is refused for a retained score below the graylist threshold.
    pub fn is_graylisted(&self, peer: NodeId) -> bool {
        let sc = &self.sh.cfg.scoring;
        sc.disconnect_bad_peers
            && self
                .retained
                .get(&peer)
                .is_some_and(|s| s.score < sc.graylist_threshold)
    }

    // ----- lookups ----------------------------------------------------------------------

    /// Bytes at the start of the record that every RPC reads (see the type's docs).
    pub const HOT_BYTES: usize = std::mem::offset_of!(Relay, mcache);
    /// Bytes at the start of the record that a first copy or a heartbeat reads.
    pub const WARM_BYTES: usize = std::mem::offset_of!(Relay, scored);

    /// Prefetch hints for an RPC from `from` a few events ahead ([`sim_core::Node::prefetch`]
    /// stages 1 to 3, the node prefetching the record itself at stage 0). Stage 1: the peer
    /// index, the topics, the IDONTWANT tail, the seen-cache line of a message, the rest of
    /// the record for a first copy. Stage 2, reading the index: the sender's record and, for a
    /// message, the mesh and the message cache's slot header. Stage 3, for a first copy:
    /// where the message cache writes, the records of the mesh peers it goes to (and their
    /// link records, which the sends read) and the sender's score counters. Hints only: no
    /// state changes.
    pub fn prefetch(&self, stage: u8, from: NodeId, rpc: &Rpc, links: &sim_core::Links<'_>) {
        use sim_core::prefetch::{prefetch, prefetch_range};
        let first_copy = |m: &WireMsg| !self.seen.recently_seen(m.id);
        match stage {
            1 => {
                prefetch(self.peer_ids.as_ptr());
                prefetch(self.peer_ids.as_ptr().wrapping_add(16));
                prefetch(self.topics.as_ptr());
                match rpc {
                    Rpc::Idontwant(_) => {
                        let (a, b) = self.idontwants.as_slices();
                        let tail = if b.is_empty() { a } else { b };
                        prefetch(tail.as_ptr().wrapping_add(tail.len()));
                    }
                    Rpc::Forward(m) | Rpc::Publish(m) => {
                        self.seen.prefetch(m.id);
                        if first_copy(m) {
                            prefetch_range(self, Self::HOT_BYTES, Self::WARM_BYTES);
                        }
                    }
                    // The sender's batch, built at its heartbeat (cold by now).
                    Rpc::Ihave(ih) => ih.batch.prefetch(),
                    _ => {}
                }
            }
            2 => {
                if let Some(i) = self.peer_pos(from) {
                    prefetch(self.peers.as_ptr().wrapping_add(i));
                }
                if let Rpc::Ihave(ih) = rpc {
                    // Where the seen cache looks the advertised ids up.
                    for e in ih.batch.entries().take(2) {
                        for &id in e.ids.iter().take(4) {
                            self.seen.prefetch(id);
                        }
                    }
                }
                if let Rpc::Forward(m) | Rpc::Publish(m) = rpc
                    && first_copy(m)
                {
                    if let Some(t) = self.topics.first() {
                        prefetch(t.mesh.as_ptr());
                    }
                    self.mcache.prefetch_put_slot();
                }
            }
            3 => {
                let (Rpc::Forward(m) | Rpc::Publish(m)) = rpc else {
                    return;
                };
                if !first_copy(m) {
                    return;
                }
                self.mcache.prefetch_put();
                if let Some(k) = self.topic_pos(m.topic) {
                    for &p in &self.topics[k].mesh {
                        if let Some(i) = self.peer_pos(p) {
                            prefetch(self.peers.as_ptr().wrapping_add(i));
                        }
                        links.prefetch(p);
                    }
                }
                if let Some(i) = self.peer_pos(from) {
                    prefetch(&*self.peers[i].stats as *const PeerScore);
                }
            }
            _ => {}
        }
    }

    /// Prefetch hints for an IDONTWANT from `from` that the engine deferred and will hand
    /// over before the next input: the sender's record and the IDONTWANT list's tail.
    pub fn prefetch_idontwant(&self, from: NodeId) {
        use sim_core::prefetch::prefetch;
        if let Some(i) = self.peer_pos(from) {
            prefetch(self.peers.as_ptr().wrapping_add(i));
        }
        let (a, b) = self.idontwants.as_slices();
        let tail = if b.is_empty() { a } else { b };
        prefetch(tail.as_ptr().wrapping_add(tail.len()));
    }

    /// Prefetch hints for a timer a few events ahead (see [`Relay::prefetch`]). A heartbeat:
    /// at stage 1 the rest of the record, the peer records and index, the topics, the
    /// message cache's slot table and the IDONTWANT list's head; at stage 2 the sent-IHAVE
    /// list's head, each topic's backoffs, mesh and peers, and the gossip window's slots. A
    /// score update: the peer records, then every peer's score counters. Hints only.
    pub fn prefetch_timer(&self, stage: u8, timer: &RelayTimer) {
        use sim_core::prefetch::{prefetch, prefetch_range};
        match (stage, timer) {
            (1, RelayTimer::Heartbeat) => {
                prefetch_range(self, Self::HOT_BYTES, std::mem::size_of::<Self>());
                for i in 0..self.peers.len() {
                    prefetch(self.peers.as_ptr().wrapping_add(i));
                }
                prefetch(self.topics.as_ptr());
                prefetch(self.peer_ids.as_ptr());
                prefetch(self.peer_ids.as_ptr().wrapping_add(16));
                self.mcache.prefetch_slots();
                if let Some(e) = self.idontwants.front() {
                    prefetch(e as *const _);
                }
            }
            (2, RelayTimer::Heartbeat) => {
                if let Some(e) = self.sent_ihaves.front() {
                    prefetch(e as *const _);
                }
                for t in &self.topics {
                    t.backoff.prefetch();
                    prefetch(t.mesh.as_ptr());
                    prefetch(t.peers.as_ptr());
                }
                self.mcache.prefetch_window();
            }
            (1, RelayTimer::ScoreTick) => {
                for i in 0..self.peers.len() {
                    prefetch(self.peers.as_ptr().wrapping_add(i));
                }
            }
            (2, RelayTimer::ScoreTick) => {
                for p in &self.peers {
                    sim_core::prefetch::prefetch_obj(&*p.stats as *const PeerScore);
                }
            }
            _ => {}
        }
    }

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
                self.topics.insert(k, TopicState::new(t));
                k
            }
        }
    }
    #[inline]
    fn score_of(&self, peer: NodeId) -> f64 {
        self.peer_pos(peer)
            .map(|i| self.peers[i].score)
            .unwrap_or(0.0)
    }
    #[inline]
    fn is_outbound(&self, peer: NodeId) -> bool {
        self.outbound_ids.binary_search(&peer).is_ok()
    }
    /// Whether `peer`'s score is at least `threshold` (a threshold <= 0: fast while no
    /// peer has a negative score).
    #[inline]
    fn score_at_least(&self, peer: NodeId, threshold: f64) -> bool {
        debug_assert!(threshold <= 0.0);
        self.negative.is_empty() || self.score_of(peer) >= threshold
    }
    fn note_score(&mut self, peer: NodeId, score: f64) {
        match (self.negative.binary_search(&peer), score < 0.0) {
            (Ok(i), false) => {
                self.negative.remove(i);
            }
            (Err(i), true) => self.negative.insert(i, peer),
            _ => {}
        }
    }
    fn topic_len(&self, t: TopicIdx) -> u8 {
        self.sh.topics.name_len(t)
    }

    fn rebuild_subs(&mut self) {
        let topics: Vec<TopicIdx> = self.subscriptions().collect();
        self.subs_rpc = if topics.is_empty() {
            None
        } else {
            let wire = subscribe_rpc_bytes(topics.iter().map(|&t| self.topic_len(t)));
            Some(Rc::new(Subscriptions {
                topics,
                subscribe: true,
                wire,
            }))
        };
    }

    // ----- sending ----------------------------------------------------------------------

    /// Sends `rpc` to `to` through its queues: at once when `high` or when the peer's queues
    /// are idle, else through the non-priority queue.
    fn send(&mut self, to: NodeId, rpc: Rpc, high: bool, ctx: &mut impl Io<Relay>) {
        let wire = rpc.wire_bytes();
        if wire > self.sh.cfg.max_rpc_bytes {
            ctx.report(RelayEvent::Count(RelayCounter::RpcTooLarge));
            return;
        }
        let Some(i) = self.peer_pos(to) else {
            return;
        };
        let now = ctx.now();
        let limit = self.sh.cfg.non_priority_queue_len as usize;
        let q = &mut self.peers[i].queue;
        if high || q.idle(now) {
            match ctx.send_sized(to, rpc, wire) {
                Some(done) => q.wrote(done),
                None => ctx.report(RelayEvent::Count(RelayCounter::UplinkFull)),
            }
            return;
        }
        let prio_until = q.prio_until;
        let low = q.low.get_or_insert_with(Default::default);
        if low.items.len() >= limit {
            ctx.report(RelayEvent::Count(RelayCounter::QueueOverflowDisconnect));
            self.drop_peer(to, ctx);
            ctx.disconnect(to);
            return;
        }
        low.items.push_back(rpc);
        ctx.report(RelayEvent::Count(RelayCounter::NonPriorityQueued));
        if !low.drain_pending {
            low.drain_pending = true;
            let at = prio_until.max(low.task_until).max(now);
            ctx.set_timer(at.saturating_since(now), RelayTimer::Drain(to));
        }
    }

    /// The non-priority task of `peer`: sends queued messages one by one, each after all
    /// unfinished writes.
    fn drain(&mut self, peer: NodeId, ctx: &mut impl Io<Relay>) {
        let Some(i) = self.peer_pos(peer) else {
            return;
        };
        let now = ctx.now();
        let q = &mut self.peers[i].queue;
        let prio_until = q.prio_until;
        let Some(low) = q.low.as_mut() else {
            return;
        };
        low.drain_pending = false;
        while !low.items.is_empty() {
            let ready = prio_until.max(low.task_until);
            if ready > now {
                low.drain_pending = true;
                ctx.set_timer(ready.saturating_since(now), RelayTimer::Drain(peer));
                return;
            }
            let rpc = low.items.pop_front().expect("not empty");
            let wire = rpc.wire_bytes();
            match ctx.send_sized(peer, rpc, wire) {
                Some(done) => low.task_until = done,
                None => ctx.report(RelayEvent::Count(RelayCounter::UplinkFull)),
            }
        }
    }

    fn prune_rpc(&self, topic: TopicIdx, backoff: SimDuration, px: Option<Rc<[NodeId]>>) -> Rpc {
        let tl = self.topic_len(topic);
        let backoff_s = (backoff.as_nanos() / 1_000_000_000) as u32;
        let n = px.as_ref().map_or(0, |p| p.len() as u32);
        Rpc::Prune(Box::new(Prune {
            topic,
            topic_len: tl,
            backoff_s,
            wire: prune_rpc_bytes(tl, backoff_s, n, self.sh.cfg.px_record_bytes),
            px,
        }))
    }

    /// nim-libp2p `peerExchangeList`: up to 2 x D_high topic peers with score >= 0.
    fn px_list(&self, k: usize) -> Option<Rc<[NodeId]>> {
        if !self.sh.cfg.peer_exchange {
            return None;
        }
        let max = 2 * self.sh.cfg.d_high as usize;
        let list: Vec<NodeId> = self.topics[k]
            .peers
            .iter()
            .copied()
            .filter(|&p| self.score_at_least(p, 0.0))
            .take(max)
            .collect();
        Some(list.into())
    }

    // ----- connections ------------------------------------------------------------------

    /// Whether to accept an inbound connection: refused while the peer's retained score is
    /// below the graylist threshold, or when the node is full.
    pub fn accept_inbound(&self, peer: NodeId, connections: usize) -> bool {
        !self.is_graylisted(peer) && connections < self.sh.cfg.max_connections as usize
    }

    /// A connection opened: the peer is added, its retained score restored, our
    /// subscriptions sent.
    pub fn on_connection_up(&mut self, peer: NodeId, outbound: bool, ctx: &mut impl Io<Relay>) {
        if self.peer_pos(peer).is_some() || peer == self.me {
            return;
        }
        let now = ctx.now();
        let score = self
            .retained
            .remove(&peer)
            .unwrap_or_else(|| PeerScore::new(now, &self.sh.cfg.scoring));
        let bad = self.sh.cfg.scoring.disconnect_bad_peers
            && score.score < self.sh.cfg.scoring.graylist_threshold;
        let p = Peer {
            id: peer,
            outbound,
            ihave_budget: 0,
            idontwant_count: 0,
            counters_hb: self.hb.wrapping_sub(1),
            score: score.score,
            queue: SendQueue::default(),
            stats: Box::new(score),
        };
        let pos = self.peer_ids.binary_search(&peer).unwrap_err();
        let initial = p.score;
        self.peer_ids.insert(pos, peer);
        self.peers.insert(pos, p);
        if outbound {
            let k = self.outbound_ids.binary_search(&peer).unwrap_err();
            self.outbound_ids.insert(k, peer);
        }
        self.note_score(peer, initial);
        if bad {
            ctx.report(RelayEvent::Count(RelayCounter::GraylistRefused));
            self.drop_peer(peer, ctx);
            ctx.disconnect(peer);
            return;
        }
        if let Some(s) = self.subs_rpc.clone() {
            self.send(peer, Rpc::Subscribe(s), true, ctx);
        }
    }

    /// A connection closed.
    pub fn on_connection_down(&mut self, peer: NodeId, ctx: &mut impl Io<Relay>) {
        self.drop_peer(peer, ctx);
    }

    /// Forgets a peer (nim-libp2p `unsubscribePeer`): it leaves every mesh with a backoff, its
    /// score is retained, its queues are dropped.
    fn drop_peer(&mut self, peer: NodeId, ctx: &mut impl Io<Relay>) {
        let Some(i) = self.peer_pos(peer) else {
            return;
        };
        let now = ctx.now();
        self.peer_ids.remove(i);
        let mut p = self.peers.remove(i);
        if let Ok(k) = self.outbound_ids.binary_search(&peer) {
            self.outbound_ids.remove(k);
        }
        if let Ok(k) = self.negative.binary_search(&peer) {
            self.negative.remove(k);
        }
        if !self.idontwants.is_empty() {
            self.idontwants.retain(|e| e.1 != peer);
        }
        let until = now + self.sh.prune_backoff;
        for t in &mut self.topics {
            if t.subscribed {
                // nim-libp2p calls `pruned` for every mesh topic, setting a backoff.
                t.backoff.set(peer, until);
                remove_id(&mut t.mesh, peer);
            }
            remove_id(&mut t.peers, peer);
            remove_id(&mut t.fanout, peer);
        }
        p.stats.disconnected();
        self.retained.insert(peer, *p.stats);
        if !self.sent_ihaves.is_empty() {
            self.sent_ihaves.retain(|e| e.1 != peer);
        }
    }

    // ----- RPCs -------------------------------------------------------------------------

    /// Handles an RPC from `from`.
    pub fn on_rpc(&mut self, from: NodeId, rpc: Rpc, ctx: &mut impl Io<Relay>) {
        let Some(i) = self.peer_pos(from) else {
            return; // in flight when we dropped the peer
        };
        match rpc {
            Rpc::Publish(msg) | Rpc::Forward(msg) => self.on_message(from, msg, ctx),
            Rpc::IwantReply(msgs) => {
                for m in msgs.iter() {
                    self.on_message(from, *m, ctx);
                }
            }
            Rpc::Ihave(ih) => self.handle_ihave(from, i, &ih, ctx),
            Rpc::Iwant(ids) => self.handle_iwant(from, &ids, ctx),
            Rpc::Idontwant(id) => self.handle_idontwant(from, i, id),
            Rpc::Graft { topic, .. } => self.handle_graft(from, topic, ctx),
            Rpc::Prune(p) => self.handle_prune(from, &p, ctx),
            Rpc::Subscribe(s) => self.handle_subscribe(from, &s, ctx),
        }
    }

    /// A message arrived (nim-libp2p `rpcHandler` for one message).
    fn on_message(&mut self, from: NodeId, msg: WireMsg, ctx: &mut impl Io<Relay>) {
        if self.peer_pos(from).is_none() {
            return;
        }
        let now = ctx.now();
        self.seen.expire(now, |e| {
            ctx.report(RelayEvent::SeenExpired {
                seq: e.seq,
                copies: e.copies,
            })
        });
        if self.seen.receive(msg.id, msg.seq, now) {
            if let Some(v) = self.validating.iter_mut().find(|v| v.0 == msg.id)
                && !v.1.contains(&from)
            {
                v.1.push(from);
            }
            return;
        }
        let Some(k) = self
            .topic_pos(msg.topic)
            .filter(|&k| self.topics[k].subscribed)
        else {
            return; // a topic we are not subscribed to
        };
        if self.sh.cfg.idontwant && msg.data_bytes > self.sh.cfg.idontwant_threshold_bytes {
            // Sent before validation, high priority, to the mesh except the sender.
            let mut targets = std::mem::take(&mut self.scratch);
            targets.clear();
            targets.extend(self.topics[k].mesh.iter().copied().filter(|&p| p != from));
            // Where each lands (the look-ahead fetched their link records).
            for &p in &targets {
                ctx.prefetch_passive_send(p);
            }
            for &p in &targets {
                self.send(p, Rpc::Idontwant(msg.id), true, ctx);
            }
            self.scratch = targets;
        }
        if self.sh.validation_delay == SimDuration::ZERO {
            self.validated(from, msg, &[], ctx);
        } else {
            self.validating.push((msg.id, Vec::new()));
            ctx.compute(
                self.sh.validation_delay,
                RelayTimer::Validated { from, msg },
            );
        }
    }

    /// Validation finished (nim-libp2p `validateAndRelay` after `validate`).
    fn validated(
        &mut self,
        from: NodeId,
        msg: WireMsg,
        seen_during: &[NodeId],
        ctx: &mut impl Io<Relay>,
    ) {
        let t = msg.topic;
        let mut verdict = validate(&msg);
        if verdict == Validation::Accept && self.sh.protected.any() {
            verdict = self.sh.protected.check(t, msg.flags & WireMsg::SIGNED != 0);
        }
        match verdict {
            Validation::Reject => {
                ctx.report(RelayEvent::Count(RelayCounter::Rejected));
                if self.is_subscribed(t)
                    && let Some(i) = self.peer_pos(from)
                {
                    self.peers[i].stats.invalid_delivery(t);
                }
                return;
            }
            Validation::Ignore => {
                ctx.report(RelayEvent::Count(RelayCounter::Ignored));
                return;
            }
            Validation::Accept => {}
        }
        let Some(k) = self.topic_pos(t).filter(|&k| self.topics[k].subscribed) else {
            return; // unsubscribed while validating
        };
        self.mcache.put(msg);
        if let Some(i) = self.peer_pos(from) {
            self.peers[i].stats.first_delivery(t, &self.sh.cfg.scoring);
        }
        ctx.report(RelayEvent::Accepted {
            seq: msg.seq,
            hops: msg.hops,
        });
        let mut targets = std::mem::take(&mut self.scratch);
        targets.clear();
        targets.extend(
            self.topics[k]
                .mesh
                .iter()
                .copied()
                .filter(|&p| p != from && !seen_during.contains(&p)),
        );
        if !self.idontwants.is_empty() {
            let before = targets.len();
            // The peers that sent IDONTWANT for this id, in one pass over the list (a pass
            // per target when more than fit here).
            let mut senders = [NodeId(0); 16];
            let mut n = 0;
            let mut overflow = false;
            for e in self.idontwants.iter().filter(|e| e.0 == msg.id) {
                if n == senders.len() {
                    overflow = true;
                    break;
                }
                senders[n] = e.1;
                n += 1;
            }
            if overflow {
                let dont = &self.idontwants;
                targets.retain(|&p| !dont.iter().any(|e| e.0 == msg.id && e.1 == p));
            } else {
                targets.retain(|p| !senders[..n].contains(p));
            }
            for _ in targets.len()..before {
                ctx.report(RelayEvent::Count(RelayCounter::IdontwantSavedSends));
            }
        }
        let out = msg.next_hop();
        for &p in &targets {
            self.send(p, Rpc::Forward(out), false, ctx);
        }
        self.scratch = targets;
    }

    /// An IHAVE from `from`, at `i` in the peer list.
    fn handle_ihave(&mut self, from: NodeId, i: usize, ih: &Ihave, ctx: &mut impl Io<Relay>) {
        let (hb, budget) = (self.hb, self.sh.cfg.max_iwant_ids_per_heartbeat);
        let p = &mut self.peers[i];
        p.counters(hb, budget);
        if p.score < self.sh.cfg.scoring.gossip_threshold || p.ihave_budget == 0 {
            ctx.report(RelayEvent::Count(RelayCounter::IhaveIgnored));
            return;
        }
        let mut want: Vec<MsgId> = Vec::new();
        let mut budget = p.ihave_budget as u32;
        for (e, entry) in ih.batch.entries().enumerate() {
            if ih.mask & (1u32 << e) == 0 || !self.is_subscribed(entry.topic) {
                continue;
            }
            for &id in entry.ids {
                if self.seen.contains(id) {
                    continue;
                }
                if budget == 0 {
                    break;
                }
                if !want.contains(&id) {
                    want.push(id);
                    budget -= 1;
                }
            }
        }
        self.peers[i].ihave_budget = budget as u16;
        if want.is_empty() {
            return;
        }
        want.shuffle(ctx.rng());
        ctx.report(RelayEvent::Count(RelayCounter::IwantIdsSent));
        self.send(from, Rpc::Iwant(want.into_boxed_slice()), true, ctx);
    }

    fn handle_iwant(&mut self, from: NodeId, ids: &[MsgId], ctx: &mut impl Io<Relay>) {
        let i = self.peer_pos(from).expect("checked by on_rpc");
        if self.peers[i].score < self.sh.cfg.scoring.gossip_threshold {
            return;
        }
        let mut msgs = Vec::new();
        let mut invalid = 0;
        for &id in ids {
            // nim-libp2p `canAskIWant`: only ids advertised to this peer, each once.
            let sent = &mut self.sent_ihaves;
            match sent.iter().position(|e| e.0 == id && e.1 == from) {
                Some(pos) => {
                    sent.remove(pos);
                }
                None => {
                    ctx.report(RelayEvent::Count(RelayCounter::IwantIdsRefused));
                    invalid += 1;
                    if invalid > self.sh.cfg.max_iwant_invalid_requests {
                        break;
                    }
                    continue;
                }
            }
            if let Some(m) = self.mcache.get(id) {
                msgs.push(m.next_hop());
            }
        }
        if msgs.is_empty() {
            return;
        }
        for _ in 0..msgs.len() {
            ctx.report(RelayEvent::Count(RelayCounter::IwantMsgsServed));
        }
        // nim-libp2p splits an RPC above 90 % of the size limit into several.
        let max = (self.sh.cfg.max_rpc_bytes as u64 * 90 / 100) as u32;
        let mut batch: Vec<WireMsg> = Vec::new();
        let mut size = 0u32;
        for m in msgs {
            let b = crate::relay::rpc::publish_rpc_bytes(m.data_bytes, m.topic_len);
            if !batch.is_empty() && size + b > max {
                let full = std::mem::take(&mut batch);
                self.send(from, Rpc::IwantReply(full.into_boxed_slice()), false, ctx);
                size = 0;
            }
            size += b;
            batch.push(m);
        }
        self.send(from, Rpc::IwantReply(batch.into_boxed_slice()), false, ctx);
    }

    /// An IDONTWANT from `from`, at `i` in the peer list.
    fn handle_idontwant(&mut self, from: NodeId, i: usize, id: MsgId) {
        let max = self.sh.cfg.max_idontwant_per_heartbeat;
        let hb = self.hb;
        let budget = self.sh.cfg.max_iwant_ids_per_heartbeat;
        let p = &mut self.peers[i];
        p.counters(hb, budget);
        if p.idontwant_count as u32 >= max {
            return;
        }
        p.idontwant_count += 1;
        self.idontwants.push_back((id, from, hb));
    }

    fn handle_graft(&mut self, from: NodeId, topic: TopicIdx, ctx: &mut impl Io<Relay>) {
        let now = ctx.now();
        let k = self.topic_entry(topic);
        if self.topics[k].mesh.contains(&from) {
            return;
        }
        let i = self.peer_pos(from).expect("checked by on_rpc");
        let slack2 = self.sh.slack.saturating_mul(2);
        if let Some(until) = self.topics[k].backoff.get(from)
            && until > now + slack2
        {
            // A GRAFT during backoff: PRUNE, a fresh backoff, and a behaviour penalty.
            ctx.report(RelayEvent::Count(RelayCounter::GraftDuringBackoff));
            self.peers[i].stats.behaviour_penalty += self.sh.cfg.scoring.graft_backoff_penalty;
            self.topics[k]
                .backoff
                .set(from, now + self.sh.prune_backoff);
            let rpc = self.prune_rpc(topic, self.sh.prune_backoff, None);
            self.send(from, rpc, true, ctx);
            return;
        }
        let p = &self.peers[i];
        if p.score < self.sh.cfg.scoring.publish_threshold {
            return;
        }
        if !self.topics[k].subscribed {
            return;
        }
        let cfg = &self.sh.cfg;
        let t = &self.topics[k];
        let mesh_out = t.mesh.iter().filter(|&&m| self.is_outbound(m)).count();
        if t.mesh.len() < cfg.d_high as usize || (p.outbound && mesh_out < cfg.d_out as usize) {
            self.topics[k].mesh.push(from);
            self.peers[i].stats.grafted(topic, now);
            remove_id(&mut self.topics[k].fanout, from);
        } else {
            let px = self.px_list(k);
            let rpc = self.prune_rpc(topic, self.sh.prune_backoff, px);
            self.topics[k]
                .backoff
                .set(from, now + self.sh.prune_backoff);
            self.send(from, rpc, true, ctx);
        }
    }

    fn handle_prune(&mut self, from: NodeId, p: &Prune, ctx: &mut impl Io<Relay>) {
        let now = ctx.now();
        let k = self.topic_entry(p.topic);
        if p.backoff_s > 0 {
            let secs = (p.backoff_s as u64 + self.sh.cfg.backoff_slack_s).min(86_400);
            self.topics[k]
                .backoff
                .raise(from, now + SimDuration::from_secs(secs));
        }
        let i = self.peer_pos(from).expect("checked by on_rpc");
        self.peers[i].stats.pruned(p.topic);
        remove_id(&mut self.topics[k].mesh, from);
        if let Some(px) = &p.px
            && !px.is_empty()
            && self.peers[i].score > self.sh.cfg.scoring.gossip_threshold
        {
            let mut room =
                (self.sh.cfg.max_connections as usize).saturating_sub(ctx.connection_count());
            for &q in px.iter() {
                if room == 0 {
                    break;
                }
                if q == self.me || self.peer_pos(q).is_some() {
                    continue;
                }
                ctx.report(RelayEvent::Count(RelayCounter::PxDials));
                ctx.dial(q);
                room -= 1;
            }
        }
    }

    fn handle_subscribe(&mut self, from: NodeId, s: &Subscriptions, ctx: &mut impl Io<Relay>) {
        let now = ctx.now();
        for &t in &s.topics {
            let k = self.topic_entry(t);
            let i = self.peer_pos(from).expect("checked by on_rpc");
            if s.subscribe {
                if !self.topics[k].peers.contains(&from) {
                    self.topics[k].peers.push(from);
                }
            } else {
                if remove_id(&mut self.topics[k].mesh, from) {
                    self.peers[i].stats.pruned(t);
                    self.topics[k]
                        .backoff
                        .set(from, now + self.sh.prune_backoff);
                }
                remove_id(&mut self.topics[k].peers, from);
                remove_id(&mut self.topics[k].fanout, from);
            }
        }
        for &t in &s.topics {
            if let Some(k) = self.topic_pos(t)
                && self.topics[k].subscribed
                && self.topics[k].mesh.len() < self.sh.cfg.d_low as usize
            {
                self.rebalance(k, ctx);
            }
        }
    }

    // ----- timers -----------------------------------------------------------------------

    /// A relay timer fired.
    pub fn on_timer(&mut self, timer: RelayTimer, ctx: &mut impl Io<Relay>) {
        match timer {
            RelayTimer::Heartbeat => self.heartbeat(ctx),
            RelayTimer::ScoreTick => self.score_tick(ctx),
            RelayTimer::Drain(peer) => self.drain(peer, ctx),
            RelayTimer::Validated { from, msg } => {
                let seen = match self.validating.iter().position(|v| v.0 == msg.id) {
                    Some(i) => self.validating.swap_remove(i).1,
                    None => Vec::new(),
                };
                self.validated(from, msg, &seen, ctx);
            }
        }
    }

    /// The gossipsub heartbeat (nim-libp2p `onHeartbeat`).
    fn heartbeat(&mut self, ctx: &mut impl Io<Relay>) {
        let now = ctx.now();
        self.hb = self.hb.wrapping_add(1);
        let hb = self.hb;
        let hl = self.sh.cfg.mcache_len;
        // Per-peer IWANT budgets and IDONTWANT counts reset lazily (`Peer::counters`).
        // Both lists are in heartbeat order: the expired entries are a prefix.
        while self
            .sent_ihaves
            .front()
            .is_some_and(|e| hb.wrapping_sub(e.2) >= hl)
        {
            self.sent_ihaves.pop_front();
        }
        while self
            .idontwants
            .front()
            .is_some_and(|e| hb.wrapping_sub(e.2) >= hl)
        {
            self.idontwants.pop_front();
        }
        for k in 0..self.topics.len() {
            if !self.topics[k].subscribed {
                continue;
            }
            if !self.topics[k].backoff.is_empty() {
                self.topics[k].backoff.expire(now);
            }
            // Prune every negative-score mesh peer before rebalancing.
            let mut neg = std::mem::take(&mut self.scratch);
            neg.clear();
            if !self.negative.is_empty() {
                neg.extend(
                    self.topics[k]
                        .mesh
                        .iter()
                        .copied()
                        .filter(|&p| self.score_of(p) < 0.0),
                );
            }
            if !neg.is_empty() {
                let topic = self.topics[k].topic;
                for &p in &neg {
                    remove_id(&mut self.topics[k].mesh, p);
                    self.pruned(k, p, Some(self.sh.prune_backoff), now);
                }
                let px = self.px_list(k);
                let rpc = self.prune_rpc(topic, self.sh.prune_backoff, px);
                for &p in &neg {
                    self.send(p, rpc.clone(), true, ctx);
                }
            }
            self.scratch = neg;
            self.rebalance(k, ctx);
        }
        for k in 0..self.topics.len() {
            if let Some(until) = self.topics[k].fanout_until
                && now > until
            {
                self.topics[k].fanout.clear();
                self.topics[k].fanout_until = None;
            }
        }
        for k in 0..self.topics.len() {
            if self.topics[k].fanout_until.is_some() {
                self.replenish_fanout(k);
            }
        }
        self.emit_gossip(ctx);
        self.mcache.shift();
        ctx.set_timer(self.sh.heartbeat, RelayTimer::Heartbeat);
    }

    /// nim-libp2p `pruned`: the peer's mesh flag is cleared and, with `backoff`, a backoff set.
    fn pruned(&mut self, k: usize, peer: NodeId, backoff: Option<SimDuration>, now: SimTime) {
        let topic = self.topics[k].topic;
        if let Some(b) = backoff {
            self.topics[k].backoff.set(peer, now + b);
        }
        if let Some(i) = self.peer_pos(peer) {
            self.peers[i].stats.pruned(topic);
        }
    }

    /// Candidates for grafting, shuffled then sorted by score, best first.
    fn graft_candidates(
        &self,
        k: usize,
        outbound_only: bool,
        rng: &mut SimRng,
        out: &mut Vec<NodeId>,
    ) {
        let t = &self.topics[k];
        let mut c: Vec<(f64, NodeId)> = t
            .peers
            .iter()
            .copied()
            .filter(|p| !t.mesh.contains(p) && !t.backoff.contains(*p))
            .filter_map(|p| {
                let i = self.peer_pos(p)?;
                let peer = &self.peers[i];
                (peer.score >= 0.0 && (!outbound_only || peer.outbound)).then_some((peer.score, p))
            })
            .collect();
        c.shuffle(rng);
        c.sort_by(|a, b| b.0.partial_cmp(&a.0).expect("scores are finite"));
        out.clear();
        out.extend(c.into_iter().map(|x| x.1));
    }

    /// nim-libp2p `rebalanceMesh` for the topic at `k`.
    fn rebalance(&mut self, k: usize, ctx: &mut impl Io<Relay>) {
        let now = ctx.now();
        let cfg = &self.sh.cfg;
        let (d, d_low, d_high, d_score, d_out) = (
            cfg.d as usize,
            cfg.d_low as usize,
            cfg.d_high as usize,
            cfg.d_score as usize,
            cfg.d_out as usize,
        );
        let topic = self.topics[k].topic;
        let mut grafts: Vec<NodeId> = Vec::new();
        let npeers = self.topics[k].mesh.len();
        let nout = self.topics[k]
            .mesh
            .iter()
            .filter(|&&p| self.is_outbound(p))
            .count();
        if npeers < d_low {
            let mut c = Vec::new();
            self.graft_candidates(k, false, ctx.rng(), &mut c);
            c.truncate(d - npeers);
            grafts = c;
        } else if nout < d_out {
            let mut c = Vec::new();
            self.graft_candidates(k, true, ctx.rng(), &mut c);
            c.truncate(d_out - nout);
            grafts = c;
        }
        for &p in &grafts {
            self.topics[k].mesh.push(p);
            if let Some(i) = self.peer_pos(p) {
                self.peers[i].stats.grafted(topic, now);
            }
            remove_id(&mut self.topics[k].fanout, p);
        }

        let mut prunes: Vec<NodeId> = Vec::new();
        if self.topics[k].mesh.len() > d_high {
            let mut c: Vec<(f64, NodeId)> = self.topics[k]
                .mesh
                .iter()
                .copied()
                .filter(|p| !grafts.contains(p))
                .map(|p| (self.score_of(p), p))
                .collect();
            c.shuffle(ctx.rng());
            c.sort_by(|a, b| a.0.partial_cmp(&b.0).expect("scores are finite"));
            prunes = c.into_iter().map(|x| x.1).collect();
            if prunes.len() > d_score {
                // Keep the D_score best: prune candidates are the rest, lowest first.
                prunes.truncate(prunes.len() - d_score);
                let (mut outbound, inbound): (Vec<NodeId>, Vec<NodeId>) =
                    prunes.iter().partition(|&&p| self.is_outbound(p));
                let max_out = outbound.len() as i64 - d_out as i64;
                outbound.truncate(max_out.max(0) as usize);
                prunes = inbound;
                prunes.extend(outbound);
                if prunes.len() > d {
                    let n = prunes.len() - d;
                    prunes.shuffle(ctx.rng());
                    prunes.truncate(n);
                }
                for &p in &prunes {
                    self.pruned(k, p, Some(self.sh.prune_backoff), now);
                    remove_id(&mut self.topics[k].mesh, p);
                }
            }
            // else: nothing leaves the mesh, yet `prunes` still gets a PRUNE below
            // (nim-libp2p v1.14.3 reuses the list).
        }

        // Opportunistic grafting.
        let opportunistic = self.sh.cfg.scoring.opportunistic_graft_threshold;
        // With no negative score the median is >= 0: nothing to do at threshold 0.
        let may_be_low = !self.negative.is_empty() || opportunistic > 0.0;
        if may_be_low && self.topics[k].mesh.len() > 1 {
            let mut scores: Vec<f64> = self.topics[k]
                .mesh
                .iter()
                .map(|&p| self.score_of(p))
                .collect();
            scores.sort_by(|a, b| b.partial_cmp(a).expect("scores are finite"));
            let median = scores[scores.len() / 2];
            if median < opportunistic {
                let max = self.sh.cfg.opportunistic_graft_peers as usize;
                let t = &self.topics[k];
                let avail: Vec<NodeId> = t
                    .peers
                    .iter()
                    .copied()
                    .filter(|&p| {
                        self.score_of(p) >= median && !t.mesh.contains(&p) && !t.backoff.contains(p)
                    })
                    .take(max)
                    .collect();
                for p in avail {
                    self.topics[k].mesh.push(p);
                    if let Some(i) = self.peer_pos(p) {
                        self.peers[i].stats.grafted(topic, now);
                    }
                    grafts.push(p);
                }
            }
        }

        if !grafts.is_empty() {
            let rpc = Rpc::Graft {
                topic,
                topic_len: self.topic_len(topic),
            };
            for &p in &grafts {
                self.send(p, rpc.clone(), true, ctx);
            }
        }
        if !prunes.is_empty() {
            let px = self.px_list(k);
            let rpc = self.prune_rpc(topic, self.sh.prune_backoff, px);
            for &p in &prunes {
                self.send(p, rpc.clone(), true, ctx);
            }
        }
    }

    /// nim-libp2p `replenishFanout`.
    fn replenish_fanout(&mut self, k: usize) {
        let d_low = self.sh.cfg.d_low as usize;
        let d = self.sh.cfg.d as usize;
        let t = &mut self.topics[k];
        if t.fanout.len() >= d_low {
            return;
        }
        for &p in &t.peers {
            if t.mesh.contains(&p) || t.fanout.contains(&p) {
                continue;
            }
            t.fanout.push(p);
            if t.fanout.len() == d {
                break;
            }
        }
    }

    /// IHAVE emission (nim-libp2p `makeGossipControlMessages`): for every topic with a mesh
    /// or fanout, the ids of the gossip window go to max(D_lazy, gossip_factor x eligible)
    /// non-mesh peers; one IHAVE RPC per peer.
    fn emit_gossip(&mut self, ctx: &mut impl Io<Relay>) {
        if self.mcache.window_is_empty() || self.peers.is_empty() {
            return;
        }
        let sh = self.sh.clone();
        let cfg = &sh.cfg;
        let hb = self.hb;
        let mut g = std::mem::take(&mut self.gossip);
        g.masks.clear();
        g.masks.resize(self.peers.len(), 0);
        g.entries.clear();
        g.ids.clear();
        for k in 0..self.topics.len() {
            let t = &self.topics[k];
            if !(t.subscribed || t.fanout_until.is_some()) || t.peers.is_empty() {
                continue;
            }
            let mut start = g.ids.len();
            self.mcache.window(t.topic, &mut g.ids);
            if g.ids.len() == start {
                continue;
            }
            let max = cfg.max_ihave_ids as usize;
            if g.ids.len() - start > max {
                g.ids[start..].shuffle(ctx.rng());
                g.ids.truncate(start + max);
            }
            g.chosen.clear();
            g.chosen.extend(t.peers.iter().copied().filter(|p| {
                !t.mesh.contains(p)
                    && !t.fanout.contains(p)
                    && self.score_at_least(*p, cfg.scoring.gossip_threshold)
            }));
            let factor = (cfg.gossip_factor * g.chosen.len() as f64) as usize;
            let target = (cfg.d_lazy as usize).max(factor);
            if target < g.chosen.len() {
                g.chosen.shuffle(ctx.rng());
                g.chosen.truncate(target);
            }
            if g.chosen.is_empty() {
                g.ids.truncate(start);
                continue;
            }
            if g.entries.len() == IhaveBatch::MAX_ENTRIES {
                self.send_ihaves(&g.entries, &g.ids, &mut g.masks, ctx);
                g.entries.clear();
                g.ids.drain(..start);
                start = 0;
            }
            let e = g.entries.len();
            for &p in &g.chosen {
                let i = self.peer_pos(p).expect("topic peers are connected");
                g.masks[i] |= 1u32 << e;
                self.sent_ihaves
                    .extend(g.ids[start..].iter().map(|&id| (id, p, hb)));
            }
            let topic = self.topics[k].topic;
            g.entries
                .push((topic, self.topic_len(topic), start, g.ids.len()));
        }
        if !g.entries.is_empty() {
            self.send_ihaves(&g.entries, &g.ids, &mut g.masks, ctx);
        }
        self.gossip = g;
    }

    /// Sends one IHAVE RPC to every peer with a bit in `masks` (clearing them): the entries
    /// (topic, name length, range of `ids`) whose bits it has.
    fn send_ihaves(
        &mut self,
        entries: &[(TopicIdx, u8, usize, usize)],
        ids: &[MsgId],
        masks: &mut [u32],
        ctx: &mut impl Io<Relay>,
    ) {
        let batch = IhaveBatch::new(entries.iter().map(|&(topic, topic_len, a, b)| IhaveEntry {
            topic,
            topic_len,
            ids: &ids[a..b],
        }));
        // The targets' link records, all at once (each send reads its target's); their ids
        // from the index, not the (cold) peer records.
        for (i, &m) in masks.iter().enumerate() {
            if m != 0 {
                ctx.prefetch_send(self.peer_ids[i]);
            }
        }
        for (i, m) in masks.iter_mut().enumerate() {
            let mask = std::mem::take(m);
            if mask == 0 {
                continue;
            }
            let wire = ihave_rpc_bytes(
                entries
                    .iter()
                    .enumerate()
                    .filter(|(e, _)| mask & (1u32 << e) != 0)
                    .map(|(_, en)| (en.1, (en.3 - en.2) as u32)),
            );
            let to = self.peers[i].id;
            let rpc = Rpc::Ihave(Ihave {
                batch: batch.clone(),
                mask,
                wire,
            });
            self.send(to, rpc, true, ctx);
        }
    }

    /// The scoring heartbeat (nim-libp2p `updateScores`): recompute, decay, disconnect
    /// graylisted peers, forget expired retained scores.
    fn score_tick(&mut self, ctx: &mut impl Io<Relay>) {
        let now = ctx.now();
        let sc = &self.sh.cfg.scoring;
        let ips: Vec<u32> = self.peer_ids.iter().map(|&p| self.sh.ip_of(p)).collect();
        let mut bad: Vec<NodeId> = Vec::new();
        let mut negative: Vec<NodeId> = Vec::new();
        for (k, p) in self.peers.iter_mut().enumerate() {
            let same = ips.iter().filter(|&&ip| ip == ips[k]).count();
            let coloc = colocation_factor(same, sc.ip_colocation_factor_threshold);
            let s = p.stats.update(now, sc, &self.scored, coloc);
            p.score = s;
            if s < 0.0 {
                negative.push(p.id);
            }
            if sc.disconnect_bad_peers && s < sc.graylist_threshold {
                bad.push(p.id);
            }
        }
        self.negative = negative; // built in peer order, which is ascending
        self.retained.retain(|_, s| now <= s.expire);
        for p in bad {
            ctx.report(RelayEvent::Count(RelayCounter::GraylistDisconnect));
            self.drop_peer(p, ctx);
            ctx.disconnect(p);
        }
        ctx.set_timer(self.sh.decay_interval, RelayTimer::ScoreTick);
    }

    // ----- publishing and subscriptions -------------------------------------------------

    /// The flood-publish cap for a message of `data_bytes` (nim-libp2p
    /// `makePeersForPublishDefault`): `max(heartbeat_ms / max(len / (bps / 8 / 1000), 1),
    /// D_low)`, integer divisions; unlimited when the bandwidth estimate is 0.
    pub fn flood_cap(cfg: &RelayConfig, data_bytes: u32) -> usize {
        if cfg.flood_publish_bandwidth_bps == 0 {
            return usize::MAX;
        }
        let per_ms = (cfg.flood_publish_bandwidth_bps / 8 / 1000).max(1);
        let ms = (data_bytes as u64 / per_ms).max(1);
        ((cfg.heartbeat_ms / ms) as usize).max(cfg.d_low as usize)
    }

    /// Publishes an own message (nim-libp2p `GossipSub.publish`).
    pub fn publish(&mut self, msg: WireMsg, ctx: &mut impl Io<Relay>) -> PublishOutcome {
        let sh = self.sh.clone();
        let cfg = &sh.cfg;
        if msg.data_bytes > cfg.max_message_bytes {
            return PublishOutcome::TooLarge;
        }
        let now = ctx.now();
        let k = self.topic_entry(msg.topic);
        let mut peers: Vec<NodeId> = Vec::new();
        if self.topics[k].subscribed {
            peers.extend_from_slice(&self.topics[k].mesh);
        }
        if cfg.flood_publish {
            let cap = Self::flood_cap(cfg, msg.data_bytes);
            for &p in &self.topics[k].peers {
                if peers.len() >= cap {
                    break;
                }
                if self.score_at_least(p, cfg.scoring.publish_threshold) && !peers.contains(&p) {
                    peers.push(p);
                }
            }
        } else if peers.len() < cfg.d_low as usize {
            self.replenish_fanout(k);
            let mut fan = self.topics[k].fanout.clone();
            fan.shuffle(ctx.rng());
            for p in fan {
                if !peers.contains(&p) {
                    peers.push(p);
                }
                if peers.len() > self.sh.cfg.d as usize {
                    break;
                }
            }
            self.topics[k].fanout_until = Some(now + self.sh.fanout_ttl);
        }
        if peers.is_empty() {
            return PublishOutcome::NoPeers;
        }
        self.seen.expire(now, |e| {
            ctx.report(RelayEvent::SeenExpired {
                seq: e.seq,
                copies: e.copies,
            })
        });
        if self.seen.receive(msg.id, msg.seq, now) {
            return PublishOutcome::Duplicate;
        }
        self.mcache.put(msg);
        if self.sh.cfg.idontwant
            && self.sh.cfg.idontwant_on_publish
            && msg.data_bytes > self.sh.cfg.idontwant_threshold_bytes
        {
            for &p in &peers {
                self.send(p, Rpc::Idontwant(msg.id), true, ctx);
            }
        }
        let out = msg.next_hop();
        for &p in &peers {
            self.send(p, Rpc::Publish(out), true, ctx);
        }
        PublishOutcome::Published {
            peers: peers.len() as u32,
        }
    }

    /// Subscribes to `topic` (nim-libp2p `onTopicSubscription(true)`): announces it to every
    /// peer, drops a fanout for it, builds a mesh.
    pub fn subscribe(&mut self, topic: TopicIdx, ctx: &mut impl Io<Relay>) {
        let k = self.topic_entry(topic);
        if self.topics[k].subscribed {
            return;
        }
        self.topics[k].subscribed = true;
        if let Err(pos) = self.scored.binary_search(&topic) {
            self.scored.insert(pos, topic);
        }
        self.rebuild_subs();
        self.announce(topic, true, ctx);
        self.topics[k].fanout.clear();
        self.topics[k].fanout_until = None;
        self.rebalance(k, ctx);
    }

    /// Unsubscribes from `topic` (nim-libp2p `onTopicSubscription(false)`): PRUNE to the mesh
    /// with the unsubscribe backoff, then the announcement to every peer.
    pub fn unsubscribe(&mut self, topic: TopicIdx, ctx: &mut impl Io<Relay>) {
        let Some(k) = self.topic_pos(topic).filter(|&k| self.topics[k].subscribed) else {
            return;
        };
        let now = ctx.now();
        let mesh = std::mem::take(&mut self.topics[k].mesh);
        let px = self.px_list(k);
        let rpc = self.prune_rpc(topic, self.sh.unsubscribe_backoff, px);
        for &p in &mesh {
            self.send(p, rpc.clone(), true, ctx);
        }
        for &p in &mesh {
            self.pruned(k, p, Some(self.sh.unsubscribe_backoff), now);
        }
        self.topics[k].subscribed = false;
        self.rebuild_subs();
        self.announce(topic, false, ctx);
    }

    fn announce(&mut self, topic: TopicIdx, subscribe: bool, ctx: &mut impl Io<Relay>) {
        let rpc = Rpc::Subscribe(Rc::new(Subscriptions {
            topics: vec![topic],
            subscribe,
            wire: subscribe_rpc_bytes([self.topic_len(topic)].into_iter()),
        }));
        let all: Vec<NodeId> = self.peer_ids.clone();
        for p in all {
            self.send(p, rpc.clone(), true, ctx);
        }
    }

    /// Fault injection (not a protocol action): PRUNE every peer of every subscribed topic
    /// with a backoff of `backoff`, and back off from all of them. Neither side grafts the
    /// other until the backoff ends, so the node stays connected but outside every mesh and
    /// receives only through gossip (IHAVE / IWANT).
    pub fn prune_all(&mut self, backoff: SimDuration, ctx: &mut impl Io<Relay>) {
        let now = ctx.now();
        for k in 0..self.topics.len() {
            if !self.topics[k].subscribed {
                continue;
            }
            let topic = self.topics[k].topic;
            let peers = self.topics[k].peers.clone();
            self.topics[k].mesh.clear();
            for &p in &peers {
                self.pruned(k, p, Some(backoff), now);
            }
            let rpc = self.prune_rpc(topic, backoff, None);
            for &p in &peers {
                self.send(p, rpc.clone(), true, ctx);
            }
        }
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
        Some(Relay::new(sh.clone(), node, &topics))
    }
}
