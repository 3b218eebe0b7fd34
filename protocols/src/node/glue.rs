//! What protocols tell each other, through the node (as rust-libp2p's composed behaviours do
//! through their parent): a protocol only sees its own messages and timers, so every
//! cross-protocol rule of nwaku is written here, in one place.
//!
//! - Keepalive (the peer manager) pings relay's mesh peers: before a keepalive round the
//!   node hands the peer manager relay's current mesh (`before_timer`).
//! - Metadata (the peer manager) announces the shards relay is subscribed to, updated on
//!   every subscription change (`WakuNode::announce_shards`).
//! - Discovery (discv5, rendezvous) hands the peers it finds to the peer manager's store
//!   after each of its inputs (`after_discovery`), as nwaku's discovery loop calls `addPeer`;
//!   rendezvous registers the shards relay is subscribed to, updated on every subscription
//!   change.
//! - Store and p2p reliability hear of every message relay accepts, and a publisher's
//!   republishes go out through relay (`after_input`; only on nodes that run the store).
//! - An inbound connection is refused when relay graylists the peer or the peer manager's
//!   limits are reached; without a peer manager relay's own connection cap decides
//!   (`accept_inbound`).

use std::rc::Rc;

use sim_core::{Ctx, NodeId};

use crate::discovery::PeerOrigin;
use crate::discovery::discv5::{Discv5, Discv5Counter, Discv5Event};
use crate::discovery::peer_exchange::{PeerExchange, PxTimer};
use crate::discovery::rendezvous::{RdvEvent, Rendezvous};
use crate::node::{Protocols, WakuMsg, WakuNode, WakuTimer};
use crate::peer_manager::{PeerManager, PmTimer};
use crate::proto::Protocol;
use crate::relay::{PublishOutcome, Relay, RelayCounter, RelayEvent};
use crate::store::{Store, StoreCounter, StoreEvent};

/// Which of the rules above apply to a node, decided once when it is built from the
/// protocols it runs: the node keeps it next to its id, so a node that runs none of the
/// protocols concerned (relay alone) pays one test of a byte it reads anyway per input, and
/// never looks at the other protocols' slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rules(u8);

impl Rules {
    /// Runs a discovery protocol (discv5, peer exchange or rendezvous): `after_discovery`.
    const DISCOVERY: u8 = 1;
    /// Runs the store: `after_input`.
    const STORE: u8 = 2;
    /// Runs a peer manager: `before_timer` (keepalive's mesh, the PX cache).
    const PEER_MANAGER: u8 = 4;

    /// The rules for a node running `p`.
    pub(crate) fn of(p: &Protocols) -> Rules {
        let mut r = 0;
        if p.get::<Discv5>().is_some()
            || p.get::<PeerExchange>().is_some()
            || p.get::<Rendezvous>().is_some()
        {
            r |= Self::DISCOVERY;
        }
        if p.get::<Store>().is_some() {
            r |= Self::STORE;
        }
        if p.get::<PeerManager>().is_some() {
            r |= Self::PEER_MANAGER;
        }
        Rules(r)
    }

    /// Whether discovery may have found peers after this message.
    #[inline(always)]
    pub(crate) fn discovery_msg(self, m: &WakuMsg) -> bool {
        self.0 & Self::DISCOVERY != 0 && is_discovery_msg(m)
    }

    /// Whether discovery may have found peers after this timer.
    #[inline(always)]
    pub(crate) fn discovery_timer(self, t: &WakuTimer) -> bool {
        self.0 & Self::DISCOVERY != 0 && is_discovery_timer(t)
    }

    /// Whether `after_input` runs (the node runs the store).
    #[inline(always)]
    pub(crate) fn store(self) -> bool {
        self.0 & Self::STORE != 0
    }

    /// Whether `before_timer` runs (without a peer manager it has nothing to do: the mesh for
    /// keepalive and the PX cache both go to, or come from, the peer manager).
    #[inline(always)]
    pub(crate) fn peer_manager(self) -> bool {
        self.0 & Self::PEER_MANAGER != 0
    }
}

/// Called before every timer reaches its protocol (only on nodes with a peer manager).
#[inline(always)]
pub(crate) fn before_timer(p: &mut Protocols, t: &WakuTimer) {
    if let WakuTimer::PeerExchange(PxTimer::Refresh) = t {
        // nwaku's PX cache: reachable peers of the store that discv5 found, same cluster.
        if let Some(pm) = p.get::<PeerManager>() {
            let c: Vec<NodeId> = pm
                .store()
                .iter()
                .filter(|e| e.origin == PeerOrigin::Discv5 && e.failures == 0)
                .filter(|e| pm.same_cluster(e.id))
                .map(|e| e.id)
                .collect();
            if let Some(px) = p.get_mut::<PeerExchange>() {
                px.set_candidates(c);
            }
        }
    }
    if let WakuTimer::PeerManager(PmTimer::Keepalive) = t {
        let mesh = mesh_peers(p.get::<Relay>());
        if let Some(pm) = p.get_mut::<PeerManager>() {
            pm.set_mesh_peers(mesh);
        }
    }
}

/// Every mesh peer of every subscribed topic, ascending (for keepalive).
fn mesh_peers(relay: Option<&Relay>) -> Vec<NodeId> {
    let Some(relay) = relay else {
        return Vec::new();
    };
    let mut v: Vec<NodeId> = relay
        .subscriptions()
        .flat_map(|t| relay.mesh(t).iter().copied())
        .collect();
    v.sort();
    v.dedup();
    v
}

impl WakuNode {
    /// The node's current shards, for metadata and rendezvous.
    pub(crate) fn announce_shards(&mut self, ctx: &mut Ctx<'_, WakuNode>) {
        let Some(relay) = self.relay() else {
            return;
        };
        let shards: Rc<[u16]> = relay.subscriptions().map(|t| t.0).collect();
        if let Some(pm) = self.protocols.get_mut::<PeerManager>() {
            pm.set_shards(shards.clone());
        }
        self.with_rdv(ctx, |r, io| r.set_shards(shards, io));
    }
}

/// Whether the node accepts a connection dialled by `peer`.
pub(crate) fn accept_inbound(
    node: &mut WakuNode,
    peer: NodeId,
    ctx: &mut Ctx<'_, WakuNode>,
) -> bool {
    let graylisted = node.relay().is_some_and(|r| r.is_graylisted(peer));
    let ok = if node.peer_manager().is_some() {
        // The peer manager's limits (dials in progress hold slots), and relay's graylist.
        !graylisted
            && node
                .with_pm(ctx, |pm, io| pm.accept_inbound(peer, io))
                .unwrap_or(true)
    } else {
        node.relay()
            .is_none_or(|r| r.accept_inbound(peer, ctx.connection_count()))
    };
    if graylisted {
        let (me, now) = (ctx.id(), ctx.now());
        Relay::record(
            &mut ctx.observer().relay,
            me,
            now,
            RelayEvent::Count(RelayCounter::GraylistRefused),
        );
    }
    ok
}

/// RLN's publisher side hands a message to relay once its proof is generated: the message
/// enters the run's registry (published when the application asked, so that its latency
/// counts the proof's CPU time and any wait for the next epoch), its proof fields go to the
/// message book, and relay publishes it.
pub(crate) fn proof_done(node: &mut WakuNode, r: crate::rln::Ready, ctx: &mut Ctx<'_, WakuNode>) {
    use crate::relay::PublishOutcome;
    use crate::relay::message::WireMsg;
    use crate::rln::{BookEntry, RlnCounter};
    let sh = node.sh.clone();
    let Some(rln) = sh.protocols.rln.as_ref() else {
        return;
    };
    let req = r.req;
    // A spammer's messages never count as honest ones (its peers cut it off).
    let spam = req.spam.is_some() || rln.spammers[node.id.index()];
    let seq = ctx
        .observer()
        .relay
        .register(node.id, req.created, req.topic, req.data_bytes, spam);
    rln.file(
        seq,
        BookEntry {
            proof: r.proof,
            publisher: node.id,
            topic: req.topic,
            spam: req.spam,
            excess: r.excess,
            accepted_by: 0,
        },
    );
    if r.excess {
        let now = ctx.now();
        let mut t = rln.tally.borrow_mut();
        t.count(RlnCounter::SpamPublished);
        let f = &mut t.first_spam[node.id.index()];
        if f.is_none() {
            *f = Some(now);
        }
    }
    let msg = WireMsg {
        id: req.id,
        seq,
        data_bytes: req.data_bytes,
        topic: req.topic,
        hops: 0,
        topic_len: sh.relay().topics.name_len(req.topic),
        flags: 0,
    };
    let outcome = node
        .with_relay(ctx, |r, io| r.publish(msg, io))
        .unwrap_or(PublishOutcome::NoPeers);
    ctx.observer().relay.published(seq, outcome);
    // Store nodes archive it like any other relay message (its timestamp is the time the
    // application asked, as in the message id).
    if let Some(st) = sh.workload.streams.get(req.stream as usize) {
        let c = &st.config;
        let ts = crate::node::TIMESTAMP_EPOCH_NS + req.created.as_nanos();
        node.note_store_fields(&msg, ts, &c.content_topic, req.meta_bytes, c.ephemeral, ctx);
    }
}

impl WakuNode {
    /// Hands an application's message to RLN's publisher side (the run has RLN).
    pub(crate) fn rln_request(&mut self, req: crate::rln::Request, ctx: &mut Ctx<'_, Self>) {
        if let Some((p, rng)) = self.protocols.parts::<crate::rln::Rln>() {
            p.request(
                req,
                &mut crate::node::io::NodeIo::new(ctx, rng, &mut self.buffer),
            );
        }
    }
}

/// Whether a message belongs to a discovery protocol (its handler may find peers).
#[inline(always)]
fn is_discovery_msg(m: &WakuMsg) -> bool {
    matches!(
        m,
        WakuMsg::Discv5(_) | WakuMsg::PeerExchange(_) | WakuMsg::Rendezvous(_)
    )
}

/// Whether a timer belongs to a discovery protocol.
#[inline(always)]
fn is_discovery_timer(t: &WakuTimer) -> bool {
    matches!(t, WakuTimer::Discv5(_) | WakuTimer::PeerExchange(_))
}

/// Hands the peers discovery found to the peer manager's store, counting those new to it
/// under the protocol that found them.
pub(crate) fn after_discovery(node: &mut WakuNode, ctx: &mut Ctx<'_, WakuNode>) {
    let mut found = Vec::new();
    if let Some(d) = node.protocols.get_mut::<Discv5>()
        && d.has_found()
    {
        d.take_found(&mut found);
    }
    let from_discv5 = found.len();
    if let Some(px) = node.protocols.get_mut::<PeerExchange>() {
        px.take_found(&mut found);
    }
    let from_px = found.len();
    if let Some(r) = node.protocols.get_mut::<Rendezvous>()
        && r.has_found()
    {
        found.extend(r.take_found());
    }
    if found.is_empty() {
        return;
    }
    let me = ctx.id();
    let (new_d, new_r) = node
        .with_pm(ctx, |pm, io| {
            // A peer found twice in one batch counts once, under the first source: each
            // peer's first place in the batch (sorted by (peer, place), the first of each
            // peer kept).
            let mut firsts: Vec<(NodeId, usize)> =
                found.iter().enumerate().map(|(i, f)| (f.id, i)).collect();
            firsts.sort_unstable();
            let mut first = vec![false; found.len()];
            let mut last = None;
            for &(id, i) in &firsts {
                first[i] = last != Some(id);
                last = Some(id);
            }
            // The store is asked once per peer: a peer's first place finds it unknown
            // exactly when the store did not know it before the batch.
            let (mut d, mut r) = (0u32, 0u32);
            pm.add_peers_then(&found, io, |i| {
                if first[i] && i < from_discv5 {
                    d += 1
                } else if first[i] && i >= from_px {
                    r += 1
                }
            });
            (d, r)
        })
        .unwrap_or((0, 0));
    let now = ctx.now();
    if from_discv5 > 0 {
        Discv5::record(
            &mut ctx.observer().discv5,
            me,
            now,
            Discv5Event(Discv5Counter::NewPeers, new_d),
        );
    }
    if from_px < found.len() {
        Rendezvous::record(
            &mut ctx.observer().rendezvous,
            me,
            now,
            RdvEvent::NewPeers(new_r),
        );
    }
}
/// After an input of a node that runs the store: the messages relay accepted go to the store
/// (with their store fields from the run's table), and the store's republishes to relay.
pub(crate) fn after_input(node: &mut WakuNode, ctx: &mut Ctx<'_, WakuNode>) {
    if let Some(msgs) = node.relay_mut().and_then(|r| r.take_delivered()) {
        for m in msgs {
            let Some(info) = ctx.observer().store.info(m.seq) else {
                continue;
            };
            node.with_store(ctx, |s, io| s.on_relay_message(&m, info, io));
        }
    }
    let republish = match node.protocols.get_mut::<Store>() {
        Some(s) if !s.republish.is_empty() => std::mem::take(&mut s.republish),
        _ => return,
    };
    let ignore_seen = node
        .store()
        .is_some_and(|s| s.sh.cfg.reliability.republish_ignores_seen);
    for m in republish {
        let out = node.with_relay(ctx, |r, io| {
            if ignore_seen {
                r.republish(m, io)
            } else {
                r.publish(m, io)
            }
        });
        let c = match out {
            Some(PublishOutcome::Published { .. }) => StoreCounter::Republished,
            Some(PublishOutcome::Duplicate) => StoreCounter::RepublishDroppedSeen,
            _ => continue,
        };
        let (me, now) = (ctx.id(), ctx.now());
        Store::record(&mut ctx.observer().store, me, now, StoreEvent::Add(c, 1));
    }
}
