//! The Waku node: the protocols a node can run, in ONE list, composed behind one dispatch
//! point.
//!
//! The list below ([`crate::waku_protocols!`]) is the only place that names every protocol.
//! From it come the node's message and timer enums ([`WakuMsg`], [`WakuTimer`]), the run's
//! observer with one sink per protocol ([`WakuObserver`]), the per-node set of protocols
//! ([`Protocols`], each in its slot: a node runs any subset), the dispatch of every engine
//! input to the protocols, each protocol's category range and random stream. Adding a
//! protocol is its folder, one line here, and its section of the harness input (see
//! docs/architecture.md, "Adding a protocol").
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the list, [`WakuNode`], its dispatch ([`sim_core::Node`]) |
//! | `registry.rs` | the list's machinery: [`registry::Member`], [`registry::Build`], slots |
//! | `io.rs` | [`io::NodeIo`]: the one adapter from [`crate::proto::Io`] to the engine |
//! | `glue.rs` | what protocols tell each other through the node (relay's mesh to keepalive, shards to metadata, the inbound decision) |
//! | `app.rs` | the application: workload publishers and scripted commands |
//! | `prefetch.rs` | the hot-path hints ([`sim_core::Node::prefetch`]) |
//!
//! Relay learns of connections from the engine's `ConnectionUp` / `ConnectionDown` whoever
//! opened them, so an overlay wired before the run and one the peer managers dial look the
//! same to it. Every protocol hears of connections in list order.
//!
//! The engine tells a sender when each write leaves its upload link (`sim_core::Sent`); the
//! node's socket send buffer ([`io::SendBuffer`]) turns that into when the write counts as
//! finished, which relay's per-peer send queues ([`crate::relay::queues`]) need.

pub mod app;
pub mod glue;
pub mod io;
pub mod memory;
pub mod prefetch;
pub mod registry;

use std::rc::Rc;

use sim_core::rng::{self, SimRng};
use sim_core::{Category, Ctx, DialError, Hint, Input, Links, Node, NodeId, Payload, SimDuration};

use crate::discovery::discv5::Discv5;
use crate::discovery::peer_exchange::PeerExchange;
use crate::discovery::rendezvous::Rendezvous;
use crate::identify::Identify;
use crate::peer_manager::PeerManager;
use crate::proto::Wire;
use crate::relay::message::TopicIdx;
use crate::relay::{Relay, RelayShared};
use crate::rln::{Rln, RlnTimer};
use crate::store::Store;
use crate::wire::Transport;
use crate::workload::WorkloadPlan;
use io::{NodeIo, SendBuffer};
use registry::{Member, Slot};

crate::waku_protocols! {
    relay: Relay => Relay in Inline, stream "gossipsub", "Relay (gossipsub v1.1 / v1.2 as nwaku runs it).";
    transport: Transport => Transport in Absent, stream "transport", "The transport: only its framing and TCP/IP header categories.";
    peer_manager: PeerManager => PeerManager in Boxed, stream "peer_manager", "nwaku's peer manager with the metadata and ping protocols.";
    identify: Identify => Identify in Boxed, stream "identify", "libp2p identify.";
    rln: Rln => Rln in Boxed, stream "rln", "RLN rate limiting: the publisher side (the limit, proofs).";
    discv5: Discv5 => Discv5 in Boxed, stream "discv5", "discv5 (nim-eth) and nwaku's discovery loop.";
    peer_exchange: PeerExchange => PeerExchange in Boxed, stream "peer_exchange", "Peer exchange: service nodes share discovered peers with clients.";
    rendezvous: Rendezvous => Rendezvous in Boxed, stream "rendezvous", "Rendezvous discovery (libp2p rendezvous as nwaku and go-waku run it).";
    store: Store => Store in Boxed, stream "store", "Store v3, store sync and p2p reliability.";
}

/// Nanoseconds added to simulated time for WakuMessage timestamps (a Unix time in 2023, so
/// that timestamps have their real encoded size).
pub const TIMESTAMP_EPOCH_NS: u64 = 1_700_000_000_000_000_000;

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
    /// Each protocol's shared data (`None`: no node runs it).
    pub protocols: ProtocolShared,
    /// The resolved workload.
    pub workload: WorkloadPlan,
    /// The master seed.
    pub seed: u64,
    /// The socket send buffer, in bytes (see [`io::SendBuffer`]).
    pub send_buffer_bytes: u32,
}

impl NodeShared {
    /// Relay's shared data (relay is part of every run today: the workload publishes on it).
    pub fn relay(&self) -> &RelayShared {
        self.protocols
            .relay
            .as_deref()
            .expect("runs have relay's shared data")
    }
}

/// A simulated Waku node.
///
/// `repr(C)`: the send buffer (every send), then the protocols with relay's slot first (its
/// random stream's pointer, read by every relay input, and the relay record's hot part), so
/// that prefetching a few lines covers what an input touches ([`Node::prefetch`]). Aligned to
/// a cache line, so relay's hot part covers the same lines in every node, and kept to 12
/// lines (768 bytes): the protocols a node rarely runs sit behind one pointer
/// ([`RareProtocols`]), so the record does not grow with the list.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct WakuNode {
    buffer: SendBuffer,
    id: NodeId,
    /// The cross-protocol rules that apply to this node ([`glue::Rules`]), read by every
    /// input; fixed when the node is built (no protocol joins a node later).
    rules: glue::Rules,
    protocols: Protocols,
    sh: Rc<NodeShared>,
    workload_rng: Option<Box<SimRng>>,
    /// The topics the node was created with (a boxed slice: the record stays small).
    topics: Box<[TopicIdx]>,
    published: u64,
}

impl WakuNode {
    /// Node `id` subscribed to `topics`, running each
    /// protocol of the run that [`registry::Build`] gives it.
    pub fn new(id: NodeId, sh: Rc<NodeShared>, topics: Vec<TopicIdx>) -> Self {
        let shards: Vec<u16> = topics.iter().map(|t| t.0).collect();
        let protocols = Protocols::build(&sh.protocols, sh.seed, id, &shards);
        let publishes = sh
            .workload
            .by_node
            .get(id.index())
            .is_some_and(|v| !v.is_empty());
        let workload_rng =
            publishes.then(|| Box::new(rng::stream(sh.seed, id.0 as u64, "workload")));
        WakuNode {
            buffer: SendBuffer::new(sh.send_buffer_bytes),
            id,
            rules: glue::Rules::of(&protocols),
            protocols,
            sh,
            workload_rng,
            topics: topics.into_boxed_slice(),
            published: 0,
        }
    }

    /// The node with a peer source for its peer manager (ignored without one).
    pub fn with_source(mut self, source: crate::discovery::PeerSource) -> Self {
        if let Some(pm) = self.protocols.get_mut::<PeerManager>() {
            pm.set_source(source);
        }
        self
    }

    /// The run-wide data of the node's protocols.
    pub fn protocols_shared(&self) -> &ProtocolShared {
        &self.sh.protocols
    }

    /// The protocols the node runs.
    pub fn protocols(&self) -> &Protocols {
        &self.protocols
    }
    /// The peer manager, when the node runs one.
    pub fn peer_manager(&self) -> Option<&PeerManager> {
        self.protocols.get::<PeerManager>()
    }
    /// The relay state, when the node relays.
    pub fn relay(&self) -> Option<&Relay> {
        self.protocols.get::<Relay>()
    }
    /// The relay state, mutably (for harnesses between run calls).
    pub fn relay_mut(&mut self) -> Option<&mut Relay> {
        self.protocols.get_mut::<Relay>()
    }
    /// The topics the node was created with.
    pub fn initial_topics(&self) -> &[TopicIdx] {
        &self.topics
    }

    /// Runs `f` on relay (when the node relays) with its context.
    pub(crate) fn with_relay<R>(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        f: impl FnOnce(&mut Relay, &mut NodeIo<'_, '_, Relay>) -> R,
    ) -> Option<R> {
        let (r, rng) = self.protocols.parts::<Relay>()?;
        Some(f(r, &mut NodeIo::new(ctx, rng, &mut self.buffer)))
    }

    /// Runs `f` on rendezvous (when the node runs it) with its context.
    pub(crate) fn with_rdv<R>(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        f: impl FnOnce(&mut Rendezvous, &mut NodeIo<'_, '_, Rendezvous>) -> R,
    ) -> Option<R> {
        let (p, rng) = self.protocols.parts::<Rendezvous>()?;
        Some(f(p, &mut NodeIo::new(ctx, rng, &mut self.buffer)))
    }

    /// The store, when the node runs it.
    pub fn store(&self) -> Option<&Store> {
        self.protocols.get::<Store>()
    }

    /// Runs `f` on the store (when the node runs it) with its context.
    pub(crate) fn with_store<R>(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        f: impl FnOnce(&mut Store, &mut NodeIo<'_, '_, Store>) -> R,
    ) -> Option<R> {
        let (s, rng) = self.protocols.parts::<Store>()?;
        Some(f(s, &mut NodeIo::new(ctx, rng, &mut self.buffer)))
    }

    /// Runs `f` on the peer manager (when the node runs one) with its context.
    pub(crate) fn with_pm<R>(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        f: impl FnOnce(&mut PeerManager, &mut NodeIo<'_, '_, PeerManager>) -> R,
    ) -> Option<R> {
        let (p, rng) = self.protocols.parts::<PeerManager>()?;
        Some(f(p, &mut NodeIo::new(ctx, rng, &mut self.buffer)))
    }

    fn start(&mut self, restart: bool, ctx: &mut Ctx<'_, Self>) {
        self.protocols.start(restart, ctx, &mut self.buffer);
        glue::after_discovery(self, ctx);
        self.start_workload(ctx);
    }

    /// A timer of the node itself (not of a protocol).
    fn app_timer(&mut self, t: WakuTimer, ctx: &mut Ctx<'_, Self>) {
        match t {
            WakuTimer::Publish(s) => self.publish_stream(s, ctx),
            WakuTimer::Command(c) => self.command(c, ctx),
            _ => unreachable!("protocol timers go to their protocol"),
        }
    }
}

impl Node for WakuNode {
    type Msg = WakuMsg;
    type Timer = WakuTimer;
    type Observer = WakuObserver;

    #[inline]
    fn prefetch(&self, stage: u8, input: Hint<'_, WakuMsg, WakuTimer>, links: &Links<'_>) {
        prefetch::hints(self, stage, input, links);
    }

    #[inline]
    fn handle(&mut self, input: Input<WakuMsg, WakuTimer>, ctx: &mut Ctx<'_, Self>) {
        match input {
            Input::Message { from, msg } => {
                let rules = self.rules;
                let discovery = rules.discovery_msg(&msg);
                self.protocols.message(from, msg, ctx, &mut self.buffer);
                if discovery {
                    glue::after_discovery(self, ctx);
                }
                if rules.store() {
                    glue::after_input(self, ctx);
                }
            }
            Input::Timer(WakuTimer::Rln(RlnTimer::ProofDone(r))) => glue::proof_done(self, *r, ctx),
            Input::Timer(t) => {
                let rules = self.rules;
                if rules.peer_manager() {
                    glue::before_timer(&mut self.protocols, &t);
                }
                let discovery = rules.discovery_timer(&t);
                if let Some(t) = self.protocols.timer(t, ctx, &mut self.buffer) {
                    self.app_timer(t, ctx);
                }
                if discovery {
                    glue::after_discovery(self, ctx);
                }
                if rules.store() {
                    glue::after_input(self, ctx);
                }
            }
            Input::Start { restart } => self.start(restart, ctx),
            Input::ConnectionUp { peer, outbound } => {
                self.protocols
                    .connection_up(peer, outbound, ctx, &mut self.buffer);
            }
            Input::ConnectionDown { peer, .. } => {
                self.protocols.connection_down(peer, ctx, &mut self.buffer);
            }
            Input::DialFailed { peer, reason } => {
                self.protocols
                    .dial_failed(peer, reason, ctx, &mut self.buffer);
            }
        }
    }

    fn accept_inbound(&mut self, peer: NodeId, ctx: &mut Ctx<'_, Self>) -> bool {
        glue::accept_inbound(self, peer, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer_manager::metadata::{MetadataKind, MetadataMsg};
    use crate::peer_manager::{PingMsg, PmMsg};
    use crate::relay::rpc::Rpc;

    #[test]
    fn messages_stay_small() {
        // The engine moves every message in flight: the peer manager's variants must not
        // make relay's messages bigger (metadata is boxed).
        assert!(
            std::mem::size_of::<WakuMsg>() <= std::mem::size_of::<Rpc>().max(32),
            "{}",
            std::mem::size_of::<WakuMsg>()
        );
    }

    #[test]
    fn node_record_stays_small() {
        // Every input reads the record: the send buffer (32), the id and the glue rules (8),
        // relay's slot (its stream's pointer, 8, and the relay record, 672 today), the pointer
        // to the rarely used protocols (8) and the node's own fields (shared data, workload
        // stream, topics, published count: 40) = 768 must stay within 12 cache lines, the
        // size before RLN, discovery and the store joined the list.
        let size = std::mem::size_of::<WakuNode>();
        assert_eq!(size % 64, 0, "{size}");
        assert!(size <= 768, "the node record grew to {size} bytes");
        // Another protocol in the list costs one pointer in `RareProtocols`, not in the record.
        assert_eq!(
            std::mem::size_of::<Protocols>(),
            8 + std::mem::size_of::<Relay>() + 8
        );
    }

    #[test]
    fn categories_follow_the_list() {
        // relay's 9 kinds (0-8), the transport's framing (9) and TCP/IP headers (10), the peer
        // manager's 4 (11-14): the order result files have always had; then identify's 2
        // (15-16), RLN's none, discv5's 6 (17-22), peer exchange's 2 (23-24), rendezvous' 5
        // (25-29), the store's 4 (30-33: query request and response, sync reconciliation and
        // transfer).
        let names = category_names();
        assert_eq!(names.len(), 34);
        assert_eq!(names[24], ("peer_exchange", "response"));
        assert_eq!(names[25], ("rendezvous", "register"));
        assert_eq!(names[29], ("rendezvous", "discover_response"));
        assert_eq!(names[17], ("discv5", "ping"));
        assert_eq!(names[22], ("discv5", "handshake"));
        assert_eq!(names[30], ("store", "query_request"));
        assert_eq!(names[33], ("store_sync", "transfer"));
        assert_eq!(names[15], ("identify", "request"));
        assert_eq!(names[9], ("transport", "framing"));
        assert_eq!(names[10], ("transport", "tcp_headers"));
        let m = WakuMsg::PeerManager(PmMsg::Ping(PingMsg::Request));
        assert_eq!((m.category(), m.wire_bytes()), (Category(13), 70));
        assert_eq!(names[13], ("ping", "request"));
        let md = WakuMsg::PeerManager(PmMsg::Metadata(Box::new(MetadataMsg::new(
            MetadataKind::Response,
            Some(1),
            Rc::from(&[0u16][..]),
        ))));
        assert_eq!(md.category(), Category(12));
        assert_eq!(names[12], ("metadata", "response"));
        assert_eq!(md.wire_bytes(), 46 + 1 + 5);
        let idw = WakuMsg::Relay(Rpc::Idontwant(1));
        assert!(idw.passive() && !md.passive());
        assert_eq!(names[idw.category().0 as usize], ("relay", "idontwant"));
        assert_eq!(<PeerManager as Member>::OFFSET, 11);
        let _ = DialError::Refused;
        let _: Option<&dyn Fn(&PmMsg) -> u16> = Some(&|m: &PmMsg| m.kind());
    }
}
