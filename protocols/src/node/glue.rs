//! What protocols tell each other, through the node (as rust-libp2p's composed behaviours do
//! through their parent): a protocol only sees its own messages and timers, so every
//! cross-protocol rule of nwaku is written here, in one place.
//!
//! - Keepalive (the peer manager) pings relay's mesh peers: before a keepalive round the
//!   node hands the peer manager relay's current mesh (`before_timer`).
//! - Metadata (the peer manager) announces the shards relay is subscribed to, updated on
//!   every subscription change (`WakuNode::announce_shards`).
//! - An inbound connection is refused when relay graylists the peer or the peer manager's
//!   limits are reached; without a peer manager relay's own connection cap decides
//!   (`accept_inbound`).

use std::rc::Rc;

use sim_core::{Ctx, NodeId};

use crate::node::registry::Slot;
use crate::node::{Protocols, WakuNode, WakuTimer};
use crate::peer_manager::PmTimer;
use crate::proto::Protocol;
use crate::relay::{Relay, RelayCounter, RelayEvent};

/// Called before every timer reaches its protocol.
#[inline(always)]
pub(crate) fn before_timer(p: &mut Protocols, t: &WakuTimer) {
    if let WakuTimer::PeerManager(PmTimer::Keepalive) = t {
        let mesh = mesh_peers(p.relay.get());
        if let Some(pm) = p.peer_manager.get_mut() {
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
    /// The node's current shards, for metadata.
    pub(crate) fn announce_shards(&mut self) {
        let Some(relay) = self.relay() else {
            return;
        };
        let shards: Rc<[u16]> = relay.subscriptions().map(|t| t.0).collect();
        if let Some(pm) = self.protocols.peer_manager.get_mut() {
            pm.set_shards(shards);
        }
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
