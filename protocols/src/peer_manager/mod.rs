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
pub mod keepalive;
pub mod metadata;
pub mod store;

use std::rc::Rc;

use rand::seq::SliceRandom;
use sim_core::{DialError, NodeId, SimDuration, SimTime};

pub use config::{Limits, PeerManagerConfig, RestartStore};
pub use keepalive::PingMsg;
pub use store::{PeerEntry, PeerStore};

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

macro_rules! pm_counters {
    ($($(#[$doc:meta])* $name:ident = $s:literal,)*) => {
        /// Peer manager events counted per run.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum PmCounter { $($(#[$doc])* $name,)* }
        impl PmCounter {
            /// Every counter, in index order.
            pub const ALL: &'static [PmCounter] = &[$(PmCounter::$name,)*];
            /// A stable snake_case name.
            pub fn name(self) -> &'static str {
                match self { $(PmCounter::$name => $s,)* }
            }
        }
    };
}

pm_counters! {
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
    pub fn shards_of(&self, n: NodeId) -> Rc<[u16]> {
        self.shards
            .get(n.index())
            .cloned()
            .unwrap_or_else(|| Rc::from(&[][..]))
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
        for f in found {
            if f.id == self.me {
                continue;
            }
            if !self.store.add(
                f.id,
                f.origin,
                self.sh.shards_of(f.id),
                self.sh.is_relay(f.id),
            ) {
                ctx.report(PmCounter::StoreFull);
            }
        }
    }

    /// The node's subscriptions changed: what it announces in metadata from now on.
    pub fn set_shards(&mut self, shards: Rc<[u16]>) {
        self.shards = shards;
    }

    /// Whether to accept a connection dialled by `peer`: refused at max connections (dials in
    /// progress hold a slot, as libp2p's connection semaphore does).
    pub fn accept_inbound(&self, peer: NodeId, ctx: &mut impl Io<PeerManager>) -> bool {
        let _ = peer;
        let used = self.conns.len() + self.dialing.len();
        if used >= self.sh.limits.max_connections as usize {
            ctx.report(PmCounter::InboundRefused);
            return false;
        }
        true
    }

    fn conn_pos(&self, peer: NodeId) -> Result<usize, usize> {
        self.conns.binary_search_by_key(&peer, |c| c.peer)
    }

    /// Removes `peer` from the dials in progress; returns whether it was one.
    fn end_dial(&mut self, peer: NodeId) -> bool {
        match self.dialing.binary_search_by_key(&peer, |d| d.0) {
            Ok(i) => {
                let (_, batch) = self.dialing.remove(i);
                if batch == self.batch
                    && let Phase::Dialing { pending, .. } = &mut self.phase
                {
                    *pending = pending.saturating_sub(1);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// A connection opened.
    pub fn on_connection_up(
        &mut self,
        peer: NodeId,
        outbound: bool,
        ctx: &mut impl Io<PeerManager>,
    ) {
        let was_dialing = self.end_dial(peer);
        if outbound {
            if let Ok(i) = self.cancelled.binary_search(&peer) {
                // nwaku cancelled this dial at its timeout.
                self.cancelled.remove(i);
                ctx.disconnect(peer);
                self.after_dial_outcome(ctx);
                return;
            }
            self.store.dial_succeeded(peer);
        }
        if let Err(i) = self.conn_pos(peer) {
            self.conns.insert(
                i,
                ConnInfo {
                    peer,
                    outbound,
                    relay: self.sh.is_relay(peer),
                    joined: false,
                    seq: 0,
                },
            );
        }
        if !self.store.contains(peer)
            && !self.store.add(
                peer,
                PeerOrigin::Inbound,
                self.sh.shards_of(peer),
                self.sh.is_relay(peer),
            )
        {
            ctx.report(PmCounter::StoreFull);
        }
        // nwaku onPeerMetadata: ask the peer for its cluster and shards.
        let req = MetadataMsg::new(
            MetadataKind::Request,
            Some(self.sh.cluster_of(self.me)),
            self.shards.clone(),
        );
        ctx.send(peer, PmMsg::Metadata(Box::new(req)));
        if was_dialing {
            self.after_dial_outcome(ctx);
        }
    }

    /// A connection closed.
    pub fn on_connection_down(&mut self, peer: NodeId, ctx: &mut impl Io<PeerManager>) {
        let _ = ctx;
        if let Ok(i) = self.conn_pos(peer) {
            self.conns.remove(i);
        }
    }

    /// A dial failed.
    pub fn on_dial_failed(
        &mut self,
        peer: NodeId,
        reason: DialError,
        ctx: &mut impl Io<PeerManager>,
    ) {
        if let Ok(i) = self.cancelled.binary_search(&peer) {
            self.cancelled.remove(i);
            return; // already counted as failed at the timeout
        }
        let was_dialing = self.end_dial(peer);
        if reason != DialError::AlreadyConnected {
            ctx.report(PmCounter::DialFailures);
            self.store.dial_failed(peer, ctx.now());
        }
        if was_dialing {
            self.after_dial_outcome(ctx);
        }
    }

    /// A message of the peer manager's protocols arrived.
    pub fn on_message(&mut self, from: NodeId, msg: PmMsg, ctx: &mut impl Io<PeerManager>) {
        match msg {
            PmMsg::Ping(PingMsg::Request) => {
                ctx.send(from, PmMsg::Ping(PingMsg::Response));
            }
            PmMsg::Ping(PingMsg::Response) => {}
            PmMsg::Metadata(m) => match m.kind {
                MetadataKind::Request => {
                    // The handler reads with the 1,024-byte limit. When it cannot read the
                    // request it does not answer and closes the stream; the requester's read
                    // fails and it drops the connection (counted here, the same outcome).
                    if !m.readable() {
                        self.drop_after_metadata(from, Verdict::TooLarge, ctx);
                        return;
                    }
                    // A response the requester cannot read is still sent (and counted).
                    let resp = MetadataMsg::new(
                        MetadataKind::Response,
                        Some(self.sh.cluster_of(self.me)),
                        self.shards.clone(),
                    );
                    ctx.send(from, PmMsg::Metadata(Box::new(resp)));
                }
                MetadataKind::Response => self.on_metadata_response(from, &m, ctx),
            },
        }
    }

    fn drop_after_metadata(&mut self, peer: NodeId, v: Verdict, ctx: &mut impl Io<PeerManager>) {
        let c = match v {
            Verdict::Keep => return,
            Verdict::EmptyCluster => PmCounter::EmptyCluster,
            Verdict::ClusterMismatch { .. } => PmCounter::ClusterMismatch,
            Verdict::NoCommonShard => PmCounter::NoCommonShard,
            Verdict::TooLarge => PmCounter::MetadataFailed,
        };
        if self.conn_pos(peer).is_err() {
            return;
        }
        ctx.report(c);
        ctx.disconnect(peer);
        self.store.remove(peer);
    }

    /// nwaku `onPeerEvent(Joined)` once the metadata response is in.
    fn on_metadata_response(
        &mut self,
        from: NodeId,
        m: &MetadataMsg,
        ctx: &mut impl Io<PeerManager>,
    ) {
        let Ok(i) = self.conn_pos(from) else {
            return;
        };
        if self.conns[i].joined {
            return;
        }
        let relay = self.conns[i].relay;
        let v = judge(
            self.sh.cluster_of(self.me),
            &self.shards,
            m,
            relay,
            self.sh.cfg.require_common_shard,
        );
        if v != Verdict::Keep {
            self.drop_after_metadata(from, v, ctx);
            return;
        }
        self.store.set_shards(from, m.shards.clone());
        self.join_seq += 1;
        self.conns[i].joined = true;
        self.conns[i].seq = self.join_seq;
        // Too many inbound relay peers: the joining relay peer goes.
        if relay && self.counts().in_relay > self.sh.limits.in_target {
            ctx.report(PmCounter::InRelayExcess);
            ctx.disconnect(from);
            return;
        }
        // IP colocation: beyond the limit, the oldest peers behind the address go.
        let limit = self.sh.cfg.colocation_limit as usize;
        if limit > 0 {
            let ip = self.sh.ip_of(from);
            let mut behind: Vec<(u64, NodeId)> = self
                .conns
                .iter()
                .filter(|c| c.joined && self.sh.ip_of(c.peer) == ip)
                .map(|c| (c.seq, c.peer))
                .collect();
            if behind.len() > limit {
                behind.sort();
                let excess = behind.len() - limit;
                for &(_, p) in &behind[..excess] {
                    ctx.report(PmCounter::ColocationDisconnect);
                    ctx.disconnect(p);
                    self.store.remove(p);
                }
            }
        }
    }

    // ----- timers -----------------------------------------------------------------------

    /// A timer fired. `mesh` lists the relay's mesh peers (all topics, ascending); only the
    /// keepalive reads it.
    pub fn handle_timer(&mut self, t: PmTimer, mesh: &[NodeId], ctx: &mut impl Io<PeerManager>) {
        match t {
            PmTimer::Loop => self.run_loop(ctx),
            PmTimer::BatchPause => self.after_pause(ctx),
            PmTimer::DialTimeout(b) => self.dial_timeout(b, ctx),
            PmTimer::Prune => {
                let connected: Vec<NodeId> = self.conns.iter().map(|c| c.peer).collect();
                let n = self
                    .store
                    .prune(&connected, self.sh.cfg.max_failed_attempts, ctx.rng());
                for _ in 0..n {
                    ctx.report(PmCounter::StorePruned);
                }
                ctx.set_timer(
                    SimDuration::from_secs(self.sh.cfg.peer_store_prune_s),
                    PmTimer::Prune,
                );
            }
            PmTimer::Keepalive => self.keepalive(mesh, ctx),
        }
    }

    /// Whether the store entry can be dialled now (nwaku `canBeConnected`).
    pub fn can_be_connected(&self, e: &PeerEntry, now: SimTime) -> bool {
        let cfg = &self.sh.cfg;
        if e.failures == 0 {
            return true;
        }
        if e.failures >= cfg.max_failed_attempts {
            return false;
        }
        now >= e.last_failed + cfg.backoff(e.failures)
    }

    fn is_connected(&self, p: NodeId) -> bool {
        self.conn_pos(p).is_ok()
    }

    /// Store peers that may be dialled now, ascending: not connected, not being dialled,
    /// outside their backoff, running relay.
    fn connectable(&self, now: SimTime, shard: Option<u16>) -> Vec<NodeId> {
        self.store
            .iter()
            .filter(|e| {
                e.relay
                    && !self.is_connected(e.id)
                    && !self.is_dialing(e.id)
                    && self.can_be_connected(e, now)
                    && shard.is_none_or(|s| e.shards.binary_search(&s).is_ok())
            })
            .map(|e| e.id)
            .collect()
    }

    fn prune_in_relay(&mut self, amount: u32, ctx: &mut impl Io<PeerManager>) {
        if amount == 0 {
            return;
        }
        let mut inbound: Vec<NodeId> = self
            .conns
            .iter()
            .filter(|c| !c.outbound && c.relay)
            .map(|c| c.peer)
            .collect();
        // nwaku takes the first of a hash table: an arbitrary choice, random here.
        inbound.shuffle(ctx.rng());
        for &p in inbound.iter().take(amount as usize) {
            ctx.report(PmCounter::InRelayPruned);
            ctx.disconnect(p);
        }
    }

    fn run_loop(&mut self, ctx: &mut impl Io<PeerManager>) {
        if self.phase != Phase::Sleeping {
            return;
        }
        ctx.report(PmCounter::LoopRuns);
        if self.sh.cfg.sharded_peer_management {
            self.manage_relay_peers(ctx);
        } else {
            self.connect_to_relay_peers(ctx);
        }
    }

    /// nwaku `connectToRelayPeers`.
    fn connect_to_relay_peers(&mut self, ctx: &mut impl Io<PeerManager>) {
        let l = self.sh.limits;
        let c = self.counts();
        if c.in_relay > l.in_target {
            self.prune_in_relay(c.in_relay - l.in_target, ctx);
        }
        if c.out_relay >= l.out_target {
            return self.sleep(ctx);
        }
        let mut cands = self.connectable(ctx.now(), None);
        cands.shuffle(ctx.rng());
        cands.truncate((l.out_target - c.out_relay) as usize);
        self.dial_batches(cands, true, ctx);
    }

    /// nwaku `manageRelayPeers` (the shard manager).
    fn manage_relay_peers(&mut self, ctx: &mut impl Io<PeerManager>) {
        if self.shards.is_empty() {
            return self.sleep(ctx);
        }
        let l = self.sh.limits;
        let n = self.shards.len() as u32;
        let (in_t, out_t) = (l.in_target / n, l.out_target / n);
        let mut to_disconnect = 0u32;
        let mut to_connect: Vec<NodeId> = Vec::new();
        let now = ctx.now();
        let shards = self.shards.clone();
        for &s in shards.iter() {
            let on_shard = |p: NodeId| {
                self.store
                    .get(p)
                    .is_some_and(|e| e.shards.binary_search(&s).is_ok())
            };
            let (mut ins, mut outs) = (0u32, 0u32);
            for k in self.conns.iter().filter(|k| k.relay && on_shard(k.peer)) {
                if k.outbound {
                    outs += 1;
                } else {
                    ins += 1;
                }
            }
            to_disconnect += ins.saturating_sub(in_t);
            if outs >= out_t {
                continue;
            }
            let mut cands = self.connectable(now, Some(s));
            cands.shuffle(ctx.rng());
            to_connect.extend(cands.into_iter().take((out_t - outs) as usize));
        }
        self.prune_in_relay(to_disconnect, ctx);
        to_connect.sort();
        to_connect.dedup();
        // nwaku dials a hash set: an arbitrary order, random here.
        to_connect.shuffle(ctx.rng());
        self.dial_batches(to_connect, false, ctx);
    }

    fn dial_batches(&mut self, queue: Vec<NodeId>, bounded: bool, ctx: &mut impl Io<PeerManager>) {
        if queue.is_empty() {
            return self.sleep(ctx);
        }
        self.phase = Phase::Dialing {
            queue,
            next: 0,
            pending: 0,
            bounded,
        };
        self.next_batch(ctx);
    }

    fn next_batch(&mut self, ctx: &mut impl Io<PeerManager>) {
        let Phase::Dialing {
            queue,
            next,
            pending,
            bounded,
        } = &mut self.phase
        else {
            return;
        };
        if *bounded
            && self.conns.iter().filter(|c| c.outbound && c.relay).count()
                >= self.sh.limits.out_target as usize
        {
            return self.sleep(ctx);
        }
        self.batch = self.batch.wrapping_add(1);
        let batch = self.batch;
        let max = self.sh.cfg.max_parallel_dials as usize;
        let mut started = 0;
        while *next < queue.len() && started < max {
            let p = queue[*next];
            *next += 1;
            started += 1;
            // nwaku dials anyway (libp2p returns the existing connection): nothing to do.
            if self.conns.binary_search_by_key(&p, |c| c.peer).is_ok()
                || self.dialing.binary_search_by_key(&p, |d| d.0).is_ok()
            {
                continue;
            }
            let i = self.dialing.binary_search_by_key(&p, |d| d.0).unwrap_err();
            self.dialing.insert(i, (p, batch));
            *pending += 1;
            ctx.report(PmCounter::Dials);
            ctx.dial(p);
        }
        if *pending == 0 {
            self.batch_done(ctx);
        } else {
            ctx.set_timer(
                SimDuration::from_secs(self.sh.cfg.dial_timeout_s),
                PmTimer::DialTimeout(batch),
            );
        }
    }

    fn after_dial_outcome(&mut self, ctx: &mut impl Io<PeerManager>) {
        if let Phase::Dialing { pending: 0, .. } = self.phase {
            self.batch_done(ctx);
        }
    }

    /// Every dial of the batch ended: pause (nwaku `connectToNodes` sleeps 5 s).
    fn batch_done(&mut self, ctx: &mut impl Io<PeerManager>) {
        let phase = std::mem::replace(&mut self.phase, Phase::Sleeping);
        let Phase::Dialing {
            queue,
            next,
            bounded,
            ..
        } = phase
        else {
            self.phase = phase;
            return;
        };
        self.phase = Phase::Pausing {
            queue,
            next,
            bounded,
        };
        ctx.set_timer(
            SimDuration::from_secs(self.sh.cfg.dial_batch_pause_s),
            PmTimer::BatchPause,
        );
    }

    fn after_pause(&mut self, ctx: &mut impl Io<PeerManager>) {
        let phase = std::mem::replace(&mut self.phase, Phase::Sleeping);
        match phase {
            Phase::Pausing {
                queue,
                next,
                bounded,
            } if next < queue.len() => {
                self.phase = Phase::Dialing {
                    queue,
                    next,
                    pending: 0,
                    bounded,
                };
                self.next_batch(ctx);
            }
            Phase::Pausing { .. } => self.sleep(ctx),
            other => self.phase = other,
        }
    }

    fn dial_timeout(&mut self, b: u32, ctx: &mut impl Io<PeerManager>) {
        if b != self.batch || !matches!(self.phase, Phase::Dialing { .. }) {
            return;
        }
        let now = ctx.now();
        let late: Vec<NodeId> = self
            .dialing
            .iter()
            .filter(|d| d.1 == b)
            .map(|d| d.0)
            .collect();
        for p in late {
            self.end_dial(p);
            ctx.report(PmCounter::DialTimeouts);
            ctx.report(PmCounter::DialFailures);
            self.store.dial_failed(p, now);
            if let Err(i) = self.cancelled.binary_search(&p) {
                self.cancelled.insert(i, p);
            }
        }
        self.after_dial_outcome(ctx);
    }

    /// The end of a loop run: sleep 30 s scaled by how far the node is from its targets.
    fn sleep(&mut self, ctx: &mut impl Io<PeerManager>) {
        self.phase = Phase::Sleeping;
        ctx.set_timer(self.loop_sleep(), PmTimer::Loop);
    }

    /// nwaku `relayConnectivityLoop`'s dynamic interval: `int(30 x min(outFactor, inFactor))`
    /// seconds, at least the minimum; outFactor = min(out / out_target, 1), inFactor = 1 -
    /// min(excess_in / in_target, 1). Computed in integers: floor(30 x a / b).
    pub fn loop_sleep(&self) -> SimDuration {
        let cfg = &self.sh.cfg;
        let l = self.sh.limits;
        let c = self.counts();
        let full = cfg.connectivity_loop_s;
        let out = full * c.out_relay.min(l.out_target) as u64 / l.out_target.max(1) as u64;
        let excess = c.in_relay.saturating_sub(l.in_target).min(l.in_target) as u64;
        let inn = if l.in_target == 0 {
            full
        } else {
            full * (l.in_target as u64 - excess) / l.in_target as u64
        };
        SimDuration::from_secs(out.min(inn).max(cfg.min_connectivity_loop_s))
    }

    fn keepalive(&mut self, mesh: &[NodeId], ctx: &mut impl Io<PeerManager>) {
        let cfg = &self.sh.cfg;
        let outbound: Vec<NodeId> = self
            .conns
            .iter()
            .filter(|c| c.outbound)
            .map(|c| c.peer)
            .collect();
        let targets = if self.keepalive_countdown > 0 {
            self.keepalive_countdown -= 1;
            let mesh: Vec<NodeId> = mesh
                .iter()
                .copied()
                .filter(|&p| self.is_connected(p))
                .collect();
            keepalive::select(&mesh, &outbound, cfg.keepalive_peers as usize, ctx.rng())
        } else {
            self.keepalive_countdown = self.keepalive_ratio().saturating_sub(1);
            outbound
        };
        for p in targets {
            ctx.report(PmCounter::Pings);
            ctx.send(p, PmMsg::Ping(PingMsg::Request));
        }
        ctx.set_timer(
            SimDuration::from_secs(cfg.keepalive_interval_s),
            PmTimer::Keepalive,
        );
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
        Some(PeerManager::new(
            sh.clone(),
            node,
            topics.iter().copied().collect(),
        ))
    }
}
