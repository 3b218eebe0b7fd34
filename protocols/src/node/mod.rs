//! The Waku node: the protocols a node runs, composed behind one dispatch point.
//!
//! [`WakuNode`] implements [`sim_core::Node`] with one message enum ([`WakuMsg`]) and one timer
//! enum ([`WakuTimer`]), each with a variant per protocol. Adding a protocol (store, filter,
//! light push, peer manager, ...) means a variant in each enum, a field in [`WakuNode`], and a
//! match arm in [`WakuNode::handle`]; the engine and the harness stay as they are.
//!
//! A node runs relay always and, when the run has one, the peer manager
//! ([`crate::peer_manager`]) with its metadata and ping protocols, fed by a
//! [`crate::discovery::PeerSource`]. Relay learns of connections from the engine's
//! `ConnectionUp` / `ConnectionDown` whoever opened them, so an overlay wired before the run
//! and one the peer managers dial look the same to it.
//!
//! The node also mirrors its own upload link ([`Uplink`]): the engine models it as one FIFO
//! but does not expose its state to nodes, and the per-peer send queues of the relay
//! ([`crate::relay::queues`]) need to know when a write has left.

use std::rc::Rc;

use sim_core::rng::{self, SimRng};
use sim_core::{
    Category, Ctx, Hint, Input, Links, Node, NodeId, Payload, Rate, SimDuration, SimTime,
};

use crate::discovery::PeerSource;
use crate::metrics::WakuObserver;
use crate::peer_manager::metadata::{MetadataKind, MetadataMsg};
use crate::peer_manager::{PeerManager, PingMsg, PmCounter, PmCtx, PmMsg, PmShared, PmTimer};
use crate::relay::message::{TopicIdx, WakuMessageShape, WireMsg, derive_msg_id};
use crate::relay::protected::Signing;
use crate::relay::rpc::{Rpc, category, framing_bytes, ihave_rpc_bytes, publish_rpc_bytes};
use crate::relay::{PublishOutcome, Relay, RelayCtx, RelayEvent, RelayShared, RelayTimer};
use crate::workload::WorkloadPlan;

/// Nanoseconds added to simulated time for WakuMessage timestamps (a Unix time in 2023, so
/// that timestamps have their real encoded size).
pub const TIMESTAMP_EPOCH_NS: u64 = 1_700_000_000_000_000_000;

/// A message between Waku nodes: one variant per protocol.
#[derive(Clone, Debug, PartialEq)]
pub enum WakuMsg {
    /// Relay (gossipsub).
    Relay(Rpc),
    /// The metadata protocol (boxed: rare, and it keeps the message small).
    Metadata(Box<MetadataMsg>),
    /// Keepalive pings.
    Ping(PingMsg),
}

impl Payload for WakuMsg {
    #[inline]
    fn category(&self) -> Category {
        match self {
            WakuMsg::Relay(r) => r.category(),
            WakuMsg::Metadata(m) => match m.kind {
                MetadataKind::Request => category::METADATA_REQUEST,
                MetadataKind::Response => category::METADATA_RESPONSE,
            },
            WakuMsg::Ping(PingMsg::Request) => category::PING,
            WakuMsg::Ping(PingMsg::Response) => category::PONG,
        }
    }
    #[inline]
    fn wire_bytes(&self) -> u32 {
        match self {
            WakuMsg::Relay(r) => r.wire_bytes(),
            WakuMsg::Metadata(m) => m.wire(),
            WakuMsg::Ping(p) => p.wire(),
        }
    }
    #[inline]
    fn framing_bytes(&self) -> u32 {
        framing_bytes(self.wire_bytes())
    }
    #[inline]
    fn sizes(&self) -> (Category, u32, u32) {
        sizes(self.category(), self.wire_bytes())
    }
    /// IDONTWANT only: its handler stores the id for the peer and does nothing else
    /// (`Relay::handle_idontwant`).
    #[inline]
    fn passive(&self) -> bool {
        matches!(self, WakuMsg::Relay(Rpc::Idontwant(_)))
    }
}

/// (category, wire, framing) bytes of a message of `wire` bytes ([`Payload::sizes`]).
#[inline]
fn sizes(cat: Category, wire: u32) -> (Category, u32, u32) {
    (cat, wire, framing_bytes(wire))
}

/// A timer of a Waku node: one variant per protocol, plus the workload and scripted commands.
#[derive(Clone, Debug, PartialEq)]
pub enum WakuTimer {
    /// A relay timer.
    Relay(RelayTimer),
    /// Time to publish on workload stream `0`.
    Publish(u16),
    /// A scripted command (set from outside by the harness).
    Command(NodeCommand),
    /// The node's upload capacity changed (a degradation fault), in bits per second.
    SetUplink(u64),
    /// A peer manager timer.
    Pm(PmTimer),
}

/// Actions a scenario can script on a node at a time.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeCommand {
    /// Subscribe to a topic.
    Subscribe(TopicIdx),
    /// Unsubscribe from a topic.
    Unsubscribe(TopicIdx),
    /// PRUNE every peer with this backoff and back off from them (fault injection: the node
    /// stays connected but leaves every mesh).
    PruneAll(SimDuration),
    /// Publish one message now.
    Publish {
        /// The topic.
        topic: TopicIdx,
        /// Payload bytes.
        payload_bytes: u32,
        /// Whether it fails validation.
        invalid: bool,
    },
}

/// Run-wide data every node shares.
#[derive(Debug)]
pub struct NodeShared {
    /// The relay's shared data.
    pub relay: Rc<RelayShared>,
    /// The resolved workload.
    pub workload: WorkloadPlan,
    /// The master seed.
    pub seed: u64,
    /// The engine's upload backlog bound (mirrored).
    pub max_upload_backlog: SimDuration,
    /// The peer managers' shared data, when nodes run one.
    pub pm: Option<Rc<PmShared>>,
}

/// The node's mirror of its upload FIFO (the engine's `up_free`), to tell when a write has
/// left: the same arithmetic as the engine's `send`.
#[derive(Clone, Copy, Debug)]
pub struct Uplink {
    free_at: SimTime,
    rate: Rate,
    max_backlog: SimDuration,
    buffer: u32,
    /// The time the socket buffer takes to drain at `rate`.
    buffered: SimDuration,
}

impl Uplink {
    /// A link of `bps` bits per second with the engine's backlog bound and a socket send
    /// buffer of `buffer` bytes.
    pub fn new(bps: u64, max_backlog: SimDuration, buffer: u32) -> Self {
        let rate = Rate::new(bps);
        Uplink {
            free_at: SimTime::ZERO,
            rate,
            max_backlog,
            buffer,
            buffered: rate.transmit(buffer as u64),
        }
    }

    /// The link's capacity changed (a degradation fault) to `bps` bits per second.
    pub fn set_bps(&mut self, bps: u64) {
        self.rate = Rate::new(bps.max(1));
        self.buffered = self.rate.transmit(self.buffer as u64);
    }

    /// Reserves `bytes` at `now`; returns when the write counts as finished (its bytes left
    /// the link, but for a socket buffer's worth), or `None` when the engine will drop it.
    #[inline]
    pub fn write(&mut self, now: SimTime, bytes: u64) -> Option<SimTime> {
        let u0 = now.max(self.free_at);
        if u0.saturating_since(now) > self.max_backlog {
            return None;
        }
        self.free_at = u0 + self.rate.transmit(bytes);
        let done = SimTime::from_nanos(
            self.free_at
                .as_nanos()
                .saturating_sub(self.buffered.as_nanos()),
        );
        Some(done.max(now))
    }

    /// The link after a restart (the engine empties the queue of an offline node).
    pub fn reset(&mut self, now: SimTime) {
        self.free_at = now;
    }
}

/// A simulated Waku node.
///
/// `repr(C)`: the uplink mirror (every send), the random stream's pointer (read by every
/// relay input) and the relay record's hot part come first, so that prefetching a few lines
/// covers what an input touches ([`Node::prefetch`]).
#[derive(Debug)]
#[repr(C)]
pub struct WakuNode {
    uplink: Uplink,
    id: NodeId,
    rng: Box<SimRng>,
    relay: Relay,
    sh: Rc<NodeShared>,
    workload_rng: Option<Box<SimRng>>,
    base_upload_bps: u64,
    topics: Vec<TopicIdx>,
    published: u64,
    /// The peer manager with its random stream and peer source, boxed: one pointer in the
    /// node when there is none (relay runs are memory-bound; node records stay small).
    pm: Option<Box<PmParts>>,
}

/// What a node with a peer manager carries besides relay.
#[derive(Debug)]
struct PmParts {
    pm: PeerManager,
    rng: SimRng,
    source: PeerSource,
}

/// The relay's view of the engine context.
struct RelayIo<'a, 'c> {
    ctx: &'a mut Ctx<'c, WakuNode>,
    rng: &'a mut SimRng,
    uplink: &'a mut Uplink,
}

impl RelayCtx for RelayIo<'_, '_> {
    #[inline]
    fn now(&self) -> SimTime {
        self.ctx.now()
    }
    #[inline]
    fn rng(&mut self) -> &mut SimRng {
        self.rng
    }
    #[inline]
    fn send(&mut self, to: NodeId, rpc: Rpc, wire: u32) -> Option<SimTime> {
        debug_assert_eq!(wire, rpc.wire_bytes());
        let sizes = sizes(rpc.category(), wire);
        let total = wire as u64 + sizes.2 as u64;
        let now = self.ctx.now();
        let done = self.uplink.write(now, total);
        let obs = self.ctx.observer();
        if obs.per_topic_bytes && now >= obs.count_from {
            attribute_to_topics(&rpc, wire, obs);
        }
        self.ctx
            .send_sized(to, WakuMsg::Relay(rpc), sizes)
            .expect("relay sends only to existing peers other than itself");
        done
    }
    #[inline]
    fn prefetch_send(&self, to: NodeId) {
        self.ctx.prefetch_send(to);
    }
    #[inline]
    fn prefetch_passive_send(&self, to: NodeId) {
        self.ctx.prefetch_passive_send(to);
    }
    #[inline]
    fn set_timer(&mut self, delay: SimDuration, timer: RelayTimer) {
        self.ctx.set_timer(delay, WakuTimer::Relay(timer));
    }
    fn compute(&mut self, cost: SimDuration, timer: RelayTimer) {
        self.ctx.compute(cost, WakuTimer::Relay(timer));
    }
    fn disconnect(&mut self, peer: NodeId) {
        self.ctx.disconnect(peer);
    }
    fn dial(&mut self, peer: NodeId) {
        let _ = self.ctx.dial(peer);
    }
    fn connection_count(&self) -> usize {
        self.ctx.connection_count()
    }
    #[inline]
    fn report(&mut self, event: RelayEvent) {
        let (me, now) = (self.ctx.id(), self.ctx.now());
        self.ctx.observer().relay_event(me, now, event);
    }
}

/// Counts the bytes of a relay RPC under the topics it concerns (per-shard bandwidth):
/// messages under their topic, IHAVE entries under theirs, GRAFT and PRUNE under theirs.
/// IWANT, IDONTWANT (ids only) and SUBSCRIBE are not attributed.
#[inline]
fn attribute_to_topics(rpc: &Rpc, wire: u32, obs: &mut WakuObserver) {
    match rpc {
        Rpc::Publish(m) | Rpc::Forward(m) => obs.topic_bytes(m.topic, wire as u64),
        Rpc::IwantReply(ms) => {
            for m in ms.iter() {
                obs.topic_bytes(m.topic, publish_rpc_bytes(m.data_bytes, m.topic_len) as u64);
            }
        }
        Rpc::Ihave(ih) => {
            for (i, e) in ih.batch.entries().enumerate() {
                if ih.mask & (1u32 << i) != 0 {
                    let b = ihave_rpc_bytes([(e.topic_len, e.ids.len() as u32)].into_iter());
                    obs.topic_bytes(e.topic, b as u64);
                }
            }
        }
        Rpc::Graft { topic, .. } => obs.topic_bytes(*topic, wire as u64),
        Rpc::Prune(p) => obs.topic_bytes(p.topic, wire as u64),
        Rpc::Iwant(_) | Rpc::Idontwant(_) | Rpc::Subscribe(_) => {}
    }
}

/// The peer manager's view of the engine context.
struct PmIo<'a, 'c> {
    ctx: &'a mut Ctx<'c, WakuNode>,
    rng: &'a mut SimRng,
    uplink: &'a mut Uplink,
}

impl PmCtx for PmIo<'_, '_> {
    fn now(&self) -> SimTime {
        self.ctx.now()
    }
    fn rng(&mut self) -> &mut SimRng {
        self.rng
    }
    fn dial(&mut self, peer: NodeId) {
        self.ctx
            .dial(peer)
            .expect("the peer manager dials existing peers other than itself");
    }
    fn disconnect(&mut self, peer: NodeId) {
        self.ctx.disconnect(peer);
    }
    fn send(&mut self, to: NodeId, msg: PmMsg) {
        let msg = match msg {
            PmMsg::Metadata(m) => WakuMsg::Metadata(Box::new(m)),
            PmMsg::Ping(p) => WakuMsg::Ping(p),
        };
        let wire = msg.wire_bytes();
        let _ = self
            .uplink
            .write(self.ctx.now(), wire as u64 + framing_bytes(wire) as u64);
        self.ctx
            .send(to, msg)
            .expect("the peer manager sends to existing peers other than itself");
    }
    fn set_timer(&mut self, delay: SimDuration, timer: PmTimer) {
        self.ctx.set_timer(delay, WakuTimer::Pm(timer));
    }
    fn report(&mut self, counter: PmCounter) {
        self.ctx.observer().pm_counters[counter as usize] += 1;
    }
}

impl WakuNode {
    /// Node `id` subscribed to `topics`, with an upload link of `upload_bps`. When the run
    /// has peer managers (`sh.pm`), the node runs one, fed by [`Self::with_source`].
    pub fn new(id: NodeId, sh: Rc<NodeShared>, topics: Vec<TopicIdx>, upload_bps: u64) -> Self {
        let relay = Relay::new(sh.relay.clone(), id, &topics);
        let rng = Box::new(rng::stream(sh.seed, id.0 as u64, "gossipsub"));
        let publishes = sh
            .workload
            .by_node
            .get(id.index())
            .is_some_and(|v| !v.is_empty());
        let workload_rng =
            publishes.then(|| Box::new(rng::stream(sh.seed, id.0 as u64, "workload")));
        let uplink = Uplink::new(
            upload_bps,
            sh.max_upload_backlog,
            sh.relay.cfg.send_buffer_bytes,
        );
        let pm = sh.pm.as_ref().map(|p| {
            let shards: Rc<[u16]> = topics.iter().map(|t| t.0).collect();
            Box::new(PmParts {
                pm: PeerManager::new(p.clone(), id, shards),
                rng: rng::stream(sh.seed, id.0 as u64, "peer_manager"),
                source: PeerSource::None,
            })
        });
        WakuNode {
            id,
            sh,
            relay,
            rng,
            workload_rng,
            uplink,
            base_upload_bps: upload_bps,
            topics,
            published: 0,
            pm,
        }
    }

    /// The node with a peer source for its peer manager (ignored without one).
    pub fn with_source(mut self, source: PeerSource) -> Self {
        if let Some(p) = self.pm.as_deref_mut() {
            p.source = source;
        }
        self
    }

    /// The peer manager, when the node runs one.
    pub fn peer_manager(&self) -> Option<&PeerManager> {
        self.pm.as_deref().map(|p| &p.pm)
    }

    /// Runs `f` on the peer manager (when there is one) with its context.
    fn with_pm(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        f: impl FnOnce(&mut PeerManager, &mut PmIo<'_, '_>),
    ) {
        if let Some(p) = self.pm.as_deref_mut() {
            let mut io = PmIo {
                ctx,
                rng: &mut p.rng,
                uplink: &mut self.uplink,
            };
            f(&mut p.pm, &mut io);
        }
    }

    /// Every mesh peer of every subscribed topic, ascending (for keepalive).
    fn mesh_peers(&self) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .relay
            .subscriptions()
            .flat_map(|t| self.relay.mesh(t).iter().copied())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The node's current shards, for metadata.
    fn announce_shards(&mut self) {
        let shards: Rc<[u16]> = self.relay.subscriptions().map(|t| t.0).collect();
        if let Some(p) = self.pm.as_deref_mut() {
            p.pm.set_shards(shards);
        }
    }

    /// The relay state.
    pub fn relay(&self) -> &Relay {
        &self.relay
    }
    /// The relay state, mutably (for harnesses between run calls).
    pub fn relay_mut(&mut self) -> &mut Relay {
        &mut self.relay
    }

    fn io<'a, 'c>(
        rng: &'a mut SimRng,
        uplink: &'a mut Uplink,
        ctx: &'a mut Ctx<'c, WakuNode>,
    ) -> RelayIo<'a, 'c> {
        RelayIo { ctx, rng, uplink }
    }

    fn start(&mut self, restart: bool, ctx: &mut Ctx<'_, Self>) {
        if restart {
            // A restarted node has lost its state (its connections and timers are gone).
            let mut io = Self::io(&mut self.rng, &mut self.uplink, ctx);
            self.relay.flush(&mut io);
            let subs: Vec<TopicIdx> = self.relay.subscriptions().collect();
            self.relay = Relay::new(self.sh.relay.clone(), self.id, &subs);
            self.uplink = Uplink::new(
                self.base_upload_bps,
                self.sh.max_upload_backlog,
                self.sh.relay.cfg.send_buffer_bytes,
            );
            self.uplink.reset(ctx.now());
        }
        let mut io = Self::io(&mut self.rng, &mut self.uplink, ctx);
        self.relay.start(&mut io);
        if let Some(p) = self.pm.as_deref_mut() {
            let mut found = Vec::new();
            p.source.start(restart, &mut found);
            self.with_pm(ctx, |pm, io| pm.start(restart, &found, io));
        }
        let now = ctx.now();
        let sh = self.sh.clone();
        if let (Some(r), Some(streams)) = (
            &mut self.workload_rng,
            sh.workload.by_node.get(self.id.index()),
        ) {
            for &s in streams {
                let st = &sh.workload.streams[s as usize];
                let t0 = st.start.max(now);
                let at = t0 + st.first_delay(r);
                if at <= st.stop {
                    ctx.set_timer_at(at, WakuTimer::Publish(s));
                }
            }
        }
    }

    fn publish_stream(&mut self, s: u16, ctx: &mut Ctx<'_, Self>) {
        let sh = self.sh.clone();
        let st = &sh.workload.streams[s as usize];
        let now = ctx.now();
        if now > st.stop {
            return;
        }
        let r = self
            .workload_rng
            .as_mut()
            .expect("publishers have a stream");
        let payload = st.payload_bytes(r);
        let gap = st.next_gap(r);
        let c = &st.config;
        let topic = TopicIdx(c.topic);
        // On a protected shard the signature fills `meta` (64 bytes).
        let (sig_bytes, signed) = c.signing.apply(sh.relay.protected.contains(topic));
        self.publish_one(
            topic,
            WakuMessageShape {
                payload_bytes: payload,
                content_topic_bytes: c.content_topic.len() as u32,
                meta_bytes: if sig_bytes > 0 {
                    sig_bytes
                } else {
                    c.meta_bytes
                },
                rln_proof: c.rln_proof,
                ephemeral: c.ephemeral,
            },
            &c.content_topic,
            c.invalid,
            signed,
            ctx,
        );
        if now + gap <= st.stop {
            ctx.set_timer(gap, WakuTimer::Publish(s));
        }
    }

    /// Builds, registers and publishes one message.
    fn publish_one(
        &mut self,
        topic: TopicIdx,
        shape: WakuMessageShape,
        content_topic: &str,
        invalid: bool,
        signed: bool,
        ctx: &mut Ctx<'_, Self>,
    ) -> PublishOutcome {
        let now = ctx.now();
        let data = shape.encoded_len();
        let ts = TIMESTAMP_EPOCH_NS + now.as_nanos();
        let id = derive_msg_id(self.id.0, self.published, ts, &shape, content_topic);
        self.published += 1;
        let seq = ctx.observer().register(self.id, now, topic, data, invalid);
        let msg = WireMsg {
            id,
            seq,
            data_bytes: data,
            topic,
            hops: 0,
            topic_len: self.sh.relay.topics.name_len(topic),
            flags: if invalid { WireMsg::INVALID } else { 0 }
                | if signed { WireMsg::SIGNED } else { 0 },
        };
        let mut io = Self::io(&mut self.rng, &mut self.uplink, ctx);
        let outcome = self.relay.publish(msg, &mut io);
        ctx.observer().published(seq, outcome);
        outcome
    }

    fn command(&mut self, c: NodeCommand, ctx: &mut Ctx<'_, Self>) {
        match c {
            NodeCommand::Subscribe(t) => {
                let mut io = Self::io(&mut self.rng, &mut self.uplink, ctx);
                self.relay.subscribe(t, &mut io);
                self.announce_shards();
            }
            NodeCommand::Unsubscribe(t) => {
                let mut io = Self::io(&mut self.rng, &mut self.uplink, ctx);
                self.relay.unsubscribe(t, &mut io);
                self.announce_shards();
            }
            NodeCommand::PruneAll(b) => {
                let mut io = Self::io(&mut self.rng, &mut self.uplink, ctx);
                self.relay.prune_all(b, &mut io);
            }
            NodeCommand::Publish {
                topic,
                payload_bytes,
                invalid,
            } => {
                let ct = "/wakusim/1/default/proto";
                let (sig_bytes, signed) =
                    Signing::Auto.apply(self.sh.relay.protected.contains(topic));
                let shape = WakuMessageShape {
                    payload_bytes,
                    content_topic_bytes: ct.len() as u32,
                    meta_bytes: sig_bytes,
                    rln_proof: false,
                    ephemeral: false,
                };
                self.publish_one(topic, shape, ct, invalid, signed, ctx);
            }
        }
    }

    /// The topics the node was created with.
    pub fn initial_topics(&self) -> &[TopicIdx] {
        &self.topics
    }
}

impl Node for WakuNode {
    type Msg = WakuMsg;
    type Timer = WakuTimer;
    type Observer = WakuObserver;

    #[inline]
    fn prefetch(&self, stage: u8, input: Hint<'_, WakuMsg, WakuTimer>, links: &Links<'_>) {
        if stage == 0 {
            // This record up to the end of the relay's hot part.
            let hot = std::mem::offset_of!(WakuNode, relay) + Relay::HOT_BYTES;
            sim_core::prefetch::prefetch_range(self, 0, hot);
            return;
        }
        match input {
            Hint::Message {
                from,
                msg: WakuMsg::Relay(rpc),
            } => self.relay.prefetch(stage, from, rpc, links),
            Hint::Message { .. } => {}
            Hint::Deferred { from, category } if category == category::IDONTWANT => {
                self.relay.prefetch_idontwant(from);
            }
            Hint::Deferred { .. } => {}
            Hint::Timer(WakuTimer::Relay(t)) => {
                if stage == 1 && matches!(t, RelayTimer::Heartbeat) {
                    // The heartbeat shuffles: the random stream's buffer and state.
                    sim_core::prefetch::prefetch_all(&*self.rng);
                }
                self.relay.prefetch_timer(stage, t);
            }
            Hint::Timer(_) => {}
        }
    }

    #[inline]
    fn handle(&mut self, input: Input<WakuMsg, WakuTimer>, ctx: &mut Ctx<'_, Self>) {
        match input {
            Input::Message {
                from,
                msg: WakuMsg::Relay(rpc),
            } => {
                let mut io = Self::io(&mut self.rng, &mut self.uplink, ctx);
                self.relay.on_rpc(from, rpc, &mut io);
            }
            Input::Timer(WakuTimer::Relay(t)) => {
                let mut io = Self::io(&mut self.rng, &mut self.uplink, ctx);
                self.relay.on_timer(t, &mut io);
            }
            Input::Timer(WakuTimer::Publish(s)) => self.publish_stream(s, ctx),
            Input::Timer(WakuTimer::Command(c)) => self.command(c, ctx),
            Input::Timer(WakuTimer::SetUplink(bps)) => self.uplink.set_bps(bps),
            Input::Timer(WakuTimer::Pm(t)) => {
                let mesh = if t == PmTimer::Keepalive {
                    self.mesh_peers()
                } else {
                    Vec::new()
                };
                self.with_pm(ctx, |pm, io| pm.on_timer(t, &mesh, io));
            }
            Input::Message {
                from,
                msg: WakuMsg::Metadata(m),
            } => self.with_pm(ctx, |pm, io| pm.on_message(from, PmMsg::Metadata(*m), io)),
            Input::Message {
                from,
                msg: WakuMsg::Ping(p),
            } => self.with_pm(ctx, |pm, io| pm.on_message(from, PmMsg::Ping(p), io)),
            Input::Start { restart } => self.start(restart, ctx),
            Input::ConnectionUp { peer, outbound } => {
                let mut io = Self::io(&mut self.rng, &mut self.uplink, ctx);
                self.relay.on_connection_up(peer, outbound, &mut io);
                self.with_pm(ctx, |pm, io| pm.on_connection_up(peer, outbound, io));
            }
            Input::ConnectionDown { peer, .. } => {
                let mut io = Self::io(&mut self.rng, &mut self.uplink, ctx);
                self.relay.on_connection_down(peer, &mut io);
                self.with_pm(ctx, |pm, io| pm.on_connection_down(peer, io));
            }
            Input::DialFailed { peer, reason } => {
                self.with_pm(ctx, |pm, io| pm.on_dial_failed(peer, reason, io));
            }
        }
    }

    fn accept_inbound(&mut self, peer: NodeId, ctx: &mut Ctx<'_, Self>) -> bool {
        let graylisted = self.relay.is_graylisted(peer);
        let ok = if self.pm.is_some() {
            // The peer manager's limits (dials in progress hold slots), and relay's graylist.
            let mut ok = !graylisted;
            if ok {
                self.with_pm(ctx, |pm, io| ok = pm.accept_inbound(peer, io));
            }
            ok
        } else {
            self.relay.accept_inbound(peer, ctx.connection_count())
        };
        if graylisted {
            let (me, now) = (ctx.id(), ctx.now());
            ctx.observer().relay_event(
                me,
                now,
                RelayEvent::Count(crate::relay::RelayCounter::GraylistRefused),
            );
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_stay_small() {
        // The engine moves every message in flight: the peer manager's variants must not
        // make relay's messages bigger (metadata is boxed).
        assert!(
            std::mem::size_of::<WakuMsg>() <= std::mem::size_of::<Rpc>().max(32),
            "{}",
            std::mem::size_of::<WakuMsg>()
        );
        let m = WakuMsg::Ping(PingMsg::Request);
        assert_eq!((m.category(), m.wire_bytes()), (category::PING, 70));
        let md = WakuMsg::Metadata(Box::new(MetadataMsg::new(
            MetadataKind::Response,
            Some(1),
            Rc::from(&[0u16][..]),
        )));
        assert_eq!(md.category(), category::METADATA_RESPONSE);
        assert_eq!(md.wire_bytes(), 46 + 1 + 5);
    }
}
