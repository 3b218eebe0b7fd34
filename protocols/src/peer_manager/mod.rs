//! The peer manager, as nwaku runs it (`waku/node/peer_manager/peer_manager.nim`): whom a node
//! connects to, how many, and whom it drops.
//!
//! [`PeerManager`] is a sans-IO state machine driven by the node composition through
//! [`crate::proto::Io`]. What it does, in nwaku's terms:
//!
//! - **Limits.** At most `max_connections` (50) connections of any kind, dials in progress
//!   included: an inbound connection beyond it is refused ([`PeerManager::accept_inbound`]).
//!   Relay gets 60 % of the slots (30), services 40 % (20); the relay slots split into an
//!   outbound target of relay / 3 (10) and an inbound target of the rest (20).
//! - **Joining peers** ([`PeerManager::on_connection_up`]): both sides run the metadata
//!   protocol ([`crate::peer_manager::metadata`]) and drop the connection on a cluster mismatch, an empty
//!   cluster, no shard in common or a failed exchange (deleting the peer from the store); then
//!   a relay peer that joins while the node has more inbound relay peers than its target is
//!   disconnected (nwaku checks this for every joining relay peer, outbound ones included);
//!   then the IP colocation limit: beyond 5 connected peers behind one IP address, the oldest
//!   are disconnected and forgotten.
//! - **The connectivity loop** ([`PmTimer::Loop`]): prunes inbound relay peers above the
//!   target, then, while the node has fewer outbound relay peers than its target, dials
//!   random connectable peers of its store in batches of 10, waiting for each batch (every dial
//!   ends or times out after 10 s) and 5 s after it. Then it sleeps 30 s scaled down by how
//!   far the node is from its targets (`30 s x min(out / out_target, 1 - excess_in /
//!   in_target)`, whole seconds, at least 1 s). With `sharded_peer_management` it runs
//!   nwaku's `manageRelayPeers` instead: per-shard targets of in_target / #shards and
//!   out_target / #shards over the peers known to be on each shard.
//! - **Dial backoff**: after the n-th consecutive failure a peer waits 120 s x 4^(n-1)
//!   (120, 480, 1920, 7680 s); after 5 failures it is never dialled again and the next
//!   pruning removes it.
//! - **The peer store** ([`store`]): capacity 5 x max connections, pruned every 10 minutes.
//! - **Keepalive** ([`keepalive`]): pings every 10 s, all outbound peers every 2 minutes.
//!
//! Peers come from a [`crate::discovery::PeerSource`] (and from peers that connect).
//!
//! Simplifications: every connection is one libp2p connection (no parallel connections to one
//! peer); a peer's relay capability is known when it connects (nwaku learns it from identify a
//! moment later); nwaku's online check (a DNS lookup when no peer is connected) always
//! succeeds; the relay : service split only matters for peers that do not run relay (light
//! clients), of which the relay model has none yet, so `service` connections are 0 today.

pub mod config;
mod connections;
mod connectivity;
pub mod keepalive;
pub mod memory;
pub mod metadata;
pub mod store;

use std::rc::Rc;

use rand::seq::SliceRandom;
use sim_core::{DialError, NodeId, SimDuration, SimTime};

pub use config::{Limits, PeerManagerConfig, RestartStore};
pub use keepalive::PingMsg;
pub use store::{PeerEntry, PeerStore, Stored};

use crate::discovery::{FoundPeer, PeerOrigin, PeerSource};
use crate::peer_manager::metadata::{MetadataKind, MetadataMsg, Verdict, judge};
use crate::proto::{Io, Protocol, Wire};

/// A message of the peer manager's protocols.
#[derive(Clone, Debug, PartialEq)]
pub enum PmMsg {
    /// The metadata protocol.
    Metadata(Box<MetadataMsg>),
    /// Keepalive pings.
    Ping(PingMsg),
}

/// The peer manager's accounting categories, indexed by [`Wire::kind`]: the metadata
/// protocol (`/vac/waku/metadata/1.0.0`, one request per connection side) and keepalive pings
/// (`/ipfs/ping/1.0.0`).
pub const PM_CATEGORIES: &[(&str, &str)] = &[
    ("metadata", "request"),
    ("metadata", "response"),
    ("ping", "request"),
    ("ping", "response"),
];

impl Wire for PmMsg {
    #[inline]
    fn kind(&self) -> u16 {
        match self {
            PmMsg::Metadata(m) => match m.kind {
                MetadataKind::Request => 0,
                MetadataKind::Response => 1,
            },
            PmMsg::Ping(PingMsg::Request) => 2,
            PmMsg::Ping(PingMsg::Response) => 3,
        }
    }
    /// Bytes on the wire (without transport framing).
    #[inline]
    fn wire_bytes(&self) -> u32 {
        match self {
            PmMsg::Metadata(m) => m.wire(),
            PmMsg::Ping(p) => p.wire(),
        }
    }
}

/// Timers the peer manager sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmTimer {
    /// Run the connectivity loop.
    Loop,
    /// The pause after a batch of dials is over.
    BatchPause,
    /// The dials of batch `0` time out.
    DialTimeout(u32),
    /// Prune the peer store.
    Prune,
    /// A keepalive round.
    Keepalive,
}

crate::protocol_counters! {
    /// Peer manager events counted per run.
    pub enum PmCounter {
        /// A dial started.
        Dials = "dials",
        /// A dial failed (refused, timed out, closed during the handshake).
        DialFailures = "dial_failures",
        /// A dial was abandoned at the peer manager's dial timeout.
        DialTimeouts = "dial_timeouts",
        /// An inbound connection was refused: the node was at max connections.
        InboundRefused = "inbound_refused",
        /// Disconnected after metadata: another cluster.
        ClusterMismatch = "metadata_cluster_mismatch",
        /// Disconnected after metadata: the peer reported no cluster.
        EmptyCluster = "metadata_empty_cluster",
        /// Disconnected after metadata: no shard in common.
        NoCommonShard = "metadata_no_common_shard",
        /// Disconnected: the metadata exchange failed (a shard list above the read limit).
        MetadataFailed = "metadata_failed",
        /// A joining relay peer was disconnected: too many inbound relay peers.
        InRelayExcess = "in_relay_excess_disconnect",
        /// The connectivity loop pruned an inbound relay peer above the target.
        InRelayPruned = "in_relay_pruned",
        /// A peer was disconnected by the IP colocation limit.
        ColocationDisconnect = "colocation_disconnect",
        /// Peers removed from the peer store by pruning.
        StorePruned = "store_pruned",
        /// Found peers dropped: the peer store was at its hard limit.
        StoreFull = "store_full",
        /// Connectivity loop runs.
        LoopRuns = "loop_runs",
        /// Keepalive pings sent.
        Pings = "pings",
    }
}

/// Run-wide read-only data every peer manager shares: the configuration and what a node can
/// learn of any peer (its cluster, shards, IP address, relay capability).
#[derive(Clone, Debug)]
pub struct PmShared {
    /// The configuration (validated).
    pub cfg: PeerManagerConfig,
    /// The derived slot counts.
    pub limits: Limits,
    /// The run's cluster.
    pub cluster: u16,
    /// Each node's cluster (empty: every node in `cluster`).
    pub clusters: Vec<u16>,
    /// Each node's shards, ascending (what its ENR says).
    pub shards: Vec<Rc<[u16]>>,
    /// Each node's IP group (nodes in one group share an address; empty: all distinct).
    pub ip_groups: Vec<u32>,
    /// Whether each node runs relay (empty: all do).
    pub relay_capable: Vec<bool>,
    /// Nodes (ascending) that run with other settings, and those settings (rendezvous points
    /// with their own `max_connections`). Default none.
    pub overrides: Option<(Vec<NodeId>, Rc<PmShared>)>,
    /// The empty list, for a node without shards in `shards`.
    no_shards: Rc<[u16]>,
}

impl PmShared {
    /// Shared data for a run (`cfg` must be validated).
    pub fn new(cfg: PeerManagerConfig, cluster: u16, shards: Vec<Rc<[u16]>>) -> Self {
        PmShared {
            limits: cfg.limits(),
            cfg,
            cluster,
            clusters: Vec::new(),
            shards,
            ip_groups: Vec::new(),
            relay_capable: Vec::new(),
            overrides: None,
            no_shards: Rc::from(&[][..]),
        }
    }
    /// A node's cluster.
    pub fn cluster_of(&self, n: NodeId) -> u16 {
        self.clusters
            .get(n.index())
            .copied()
            .unwrap_or(self.cluster)
    }
    /// A node's shards (empty when unknown).
    pub fn shards_of(&self, n: NodeId) -> &Rc<[u16]> {
        self.shards.get(n.index()).unwrap_or(&self.no_shards)
    }
    /// A node's IP address (its group; distinct by default).
    pub fn ip_of(&self, n: NodeId) -> u32 {
        self.ip_groups
            .get(n.index())
            .copied()
            .unwrap_or(u32::MAX - n.0)
    }
    /// Whether a node runs relay.
    pub fn is_relay(&self, n: NodeId) -> bool {
        self.relay_capable.get(n.index()).copied().unwrap_or(true)
    }
}

/// One connection as the peer manager sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// The peer.
    pub peer: NodeId,
    /// Whether this node dialled.
    pub outbound: bool,
    /// Whether the peer runs relay (else it is a service connection).
    pub relay: bool,
    /// Whether the metadata exchange passed (the join checks ran).
    pub joined: bool,
    /// Join order (for the colocation limit: oldest first).
    seq: u64,
}

/// Connection counts of a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnCounts {
    /// Inbound connections.
    pub inbound: u32,
    /// Outbound connections.
    pub outbound: u32,
    /// Inbound relay connections.
    pub in_relay: u32,
    /// Outbound relay connections.
    pub out_relay: u32,
    /// Connections to peers that do not run relay.
    pub service: u32,
    /// Dials in progress.
    pub dialing: u32,
}

/// Where the connectivity loop is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Not started (or offline).
    Stopped,
    /// Sleeping until the next [`PmTimer::Loop`].
    Sleeping,
    /// A batch of dials is in progress.
    Dialing {
        queue: Vec<NodeId>,
        next: usize,
        pending: u32,
        /// Stop dialling once the outbound target is met (the non-sharded loop).
        bounded: bool,
    },
    /// Waiting the pause after a batch.
    Pausing {
        queue: Vec<NodeId>,
        next: usize,
        bounded: bool,
    },
}

/// The peer manager of one node.
#[derive(Debug)]
pub struct PeerManager {
    sh: Rc<PmShared>,
    me: NodeId,
    shards: Rc<[u16]>,
    store: PeerStore,
    /// Connections, by peer.
    conns: Vec<ConnInfo>,
    /// Dials in progress: (peer, batch), by peer.
    dialing: Vec<(NodeId, u32)>,
    /// Dials abandoned at the timeout whose connection is closed if it still opens.
    cancelled: Vec<NodeId>,
    phase: Phase,
    batch: u32,
    join_seq: u64,
    keepalive_countdown: u32,
    /// Where it finds peers (bootstrap lists; discovery next).
    source: PeerSource,
    /// The relay's mesh peers, handed over by the node before a keepalive round
    /// (`node/glue.rs`).
    mesh_peers: Vec<NodeId>,
}

impl PeerManager {
    /// The peer manager of node `me`, subscribed to `shards` (ascending).
    pub fn new(sh: Rc<PmShared>, me: NodeId, shards: Rc<[u16]>) -> Self {
        let cap = sh.limits.store_capacity as usize;
        PeerManager {
            sh,
            me,
            shards,
            store: PeerStore::new(cap),
            conns: Vec::new(),
            dialing: Vec::new(),
            cancelled: Vec::new(),
            phase: Phase::Stopped,
            batch: 0,
            join_seq: 0,
            keepalive_countdown: 0,
            source: PeerSource::None,
            mesh_peers: Vec::new(),
        }
    }

    /// Sets the node's peer source.
    pub fn set_source(&mut self, source: PeerSource) {
        self.source = source;
    }

    /// The relay's mesh peers (all topics, ascending) for the next keepalive round.
    pub fn set_mesh_peers(&mut self, mesh: Vec<NodeId>) {
        self.mesh_peers = mesh;
    }

    // ----- inspection -------------------------------------------------------------------

    /// The peer store.
    pub fn store(&self) -> &PeerStore {
        &self.store
    }
    /// The connections, by peer.
    pub fn connections(&self) -> &[ConnInfo] {
        &self.conns
    }
    /// Whether a dial to `peer` is in progress.
    pub fn is_dialing(&self, peer: NodeId) -> bool {
        self.dialing.binary_search_by_key(&peer, |d| d.0).is_ok()
    }
    /// The node's shards as it announces them.
    pub fn shards(&self) -> &Rc<[u16]> {
        &self.shards
    }
    /// Whether `n` is of this node's cluster.
    pub fn same_cluster(&self, n: NodeId) -> bool {
        self.sh.cluster_of(n) == self.sh.cluster_of(self.me)
    }
    /// The configuration's derived limits.
    pub fn limits(&self) -> Limits {
        self.sh.limits
    }
    /// Connection counts.
    pub fn counts(&self) -> ConnCounts {
        let mut c = ConnCounts {
            dialing: self.dialing.len() as u32,
            ..ConnCounts::default()
        };
        for k in &self.conns {
            if k.outbound {
                c.outbound += 1;
                c.out_relay += k.relay as u32;
            } else {
                c.inbound += 1;
                c.in_relay += k.relay as u32;
            }
            c.service += !k.relay as u32;
        }
        c
    }

    // ----- lifecycle --------------------------------------------------------------------

    /// The node starts (`restart`: it comes back online; its connections are gone).
    /// `found` are the peers its source knows at once.
    pub fn start(&mut self, restart: bool, found: &[FoundPeer], ctx: &mut impl Io<PeerManager>) {
        if restart {
            self.conns.clear();
            self.dialing.clear();
            self.cancelled.clear();
            match self.sh.cfg.restart_store {
                RestartStore::Empty => self.store.clear(),
                RestartStore::Keep => self.store.reset_failures(),
            }
        }
        self.add_peers(found, ctx);
        self.phase = Phase::Sleeping;
        let cfg = &self.sh.cfg;
        // nwaku runs the loop at once; nodes of a real network start at different times, so
        // each starts at a random phase within the shortest loop period.
        let min = SimDuration::from_secs(cfg.min_connectivity_loop_s).as_nanos();
        let phase = rand::Rng::random_range(ctx.rng(), 0..min);
        ctx.set_timer(SimDuration::from_nanos(phase), PmTimer::Loop);
        ctx.set_timer(
            SimDuration::from_secs(cfg.peer_store_prune_s),
            PmTimer::Prune,
        );
        if cfg.keepalive {
            let ki = SimDuration::from_secs(cfg.keepalive_interval_s);
            let phase = rand::Rng::random_range(ctx.rng(), 0..ki.as_nanos());
            self.keepalive_countdown = self.keepalive_ratio().saturating_sub(1);
            ctx.set_timer(ki + SimDuration::from_nanos(phase), PmTimer::Keepalive);
        }
    }

    fn keepalive_ratio(&self) -> u32 {
        let c = &self.sh.cfg;
        (c.keepalive_all_s / c.keepalive_interval_s.max(1)) as u32
    }

    /// Adds peers a source found to the store.
    pub fn add_peers(&mut self, found: &[FoundPeer], ctx: &mut impl Io<PeerManager>) {
        self.add_peers_then(found, ctx, |_| ());
    }

    /// [`PeerManager::add_peers`], calling `unknown` with the place in `found` of each peer
    /// the store did not know (added, or refused when full).
    pub fn add_peers_then(
        &mut self,
        found: &[FoundPeer],
        ctx: &mut impl Io<PeerManager>,
        mut unknown: impl FnMut(usize),
    ) {
        for (i, f) in found.iter().enumerate() {
            if f.id == self.me {
                continue;
            }
            let sh = &self.sh;
            match self
                .store
                .add(f.id, f.origin, sh.shards_of(f.id), sh.is_relay(f.id))
            {
                Stored::Known => {}
                Stored::New => unknown(i),
                Stored::Full => {
                    ctx.report(PmCounter::StoreFull);
                    unknown(i);
                }
            }
        }
    }

    /// The node's subscriptions changed: what it announces in metadata from now on.
    pub fn set_shards(&mut self, shards: Rc<[u16]>) {
        self.shards = shards;
    }
}

/// The peer manager's run-wide sink: a count per [`PmCounter`].
#[derive(Clone, Debug)]
pub struct PmMetrics {
    /// Counts, indexed by [`PmCounter`].
    pub counters: Vec<u64>,
}

impl Default for PmMetrics {
    fn default() -> Self {
        PmMetrics {
            counters: vec![0; PmCounter::ALL.len()],
        }
    }
}

impl Protocol for PeerManager {
    type Msg = PmMsg;
    type Timer = PmTimer;
    type Event = PmCounter;
    type Metrics = PmMetrics;
    const CATEGORIES: &'static [(&'static str, &'static str)] = PM_CATEGORIES;

    fn on_start(&mut self, restart: bool, ctx: &mut impl Io<Self>) {
        let mut found = Vec::new();
        self.source.start(restart, &mut found);
        self.start(restart, &found, ctx);
    }
    fn on_message(&mut self, from: NodeId, msg: PmMsg, ctx: &mut impl Io<Self>) {
        PeerManager::on_message(self, from, msg, ctx);
    }
    fn on_timer(&mut self, timer: PmTimer, ctx: &mut impl Io<Self>) {
        let mesh = std::mem::take(&mut self.mesh_peers);
        self.handle_timer(timer, &mesh, ctx);
    }
    fn on_connection_up(&mut self, peer: NodeId, outbound: bool, ctx: &mut impl Io<Self>) {
        PeerManager::on_connection_up(self, peer, outbound, ctx);
    }
    fn on_connection_down(&mut self, peer: NodeId, ctx: &mut impl Io<Self>) {
        PeerManager::on_connection_down(self, peer, ctx);
    }
    fn on_dial_failed(&mut self, peer: NodeId, reason: DialError, ctx: &mut impl Io<Self>) {
        PeerManager::on_dial_failed(self, peer, reason, ctx);
    }
    #[inline]
    fn record(metrics: &mut PmMetrics, _node: NodeId, _now: SimTime, event: PmCounter) {
        metrics.counters[event as usize] += 1;
    }
}

#[cfg(test)]
mod tests;

impl crate::node::registry::Build for PeerManager {
    type Shared = PmShared;
    /// Every node of a run with peer managers runs one.
    fn build(sh: &Rc<PmShared>, node: NodeId, topics: &[u16]) -> Option<Self> {
        let sh = match &sh.overrides {
            Some((nodes, alt)) if nodes.binary_search(&node).is_ok() => alt,
            _ => sh,
        };
        Some(PeerManager::new(
            sh.clone(),
            node,
            topics.iter().copied().collect(),
        ))
    }
}
