//! discv5 (Node Discovery Protocol v5, 33/WAKU2-DISCV5) as nwaku runs it through nim-eth, over
//! the engine's datagrams, and nwaku's discovery loop feeding the peer manager.
//!
//! - **Ids and table** ([`table`]): 256-bit ids drawn from the run's seed, XOR log-distance,
//!   buckets of k = 16 with replacement caches of 8, IP limits 2 per bucket and 10 per table.
//! - **Requests**: PING / PONG and FINDNODE (3 log-distances per request) / NODES (at most 16
//!   ENRs, 3 per packet). Each request waits `request_timeout_ms` (nim-eth 4 s; the spec's
//!   500 ms is selectable); a node that does not answer is replaced in its bucket by the
//!   newest replacement, except a bootstrap node, which nim-eth never removes
//!   (`protocol.nim` `replaceNode`).
//! - **Sessions**: a request to a node without a session is answered by WHOAREYOU; the
//!   requester resends it in a handshake packet carrying its ENR, and both keep a session (a
//!   cache of `session_cache` = 256 per node, least recently used evicted; a node whose
//!   session was evicted on the other side is challenged again). A challenge waits
//!   `handshake_timeout_ms` (2 s) for its handshake. A node that completes an inbound
//!   handshake is added to the table and pinged back within `ping_back_max_ms` (5 s).
//!   While a handshake is in progress, further requests to that node wait for it (at most 8
//!   per node, nim-eth `maxQueuedRequestsPerPeer`), and the challenged node sends no second
//!   WHOAREYOU.
//! - **Liveness**: every 0 to `revalidate_max_ms` (10 s), the least recently seen node of a
//!   random bucket is pinged; FINDNODE answers only nodes that have answered (seen).
//! - **Lookups** (nim-eth `query`): the k nodes closest to the target in the table are asked
//!   for it, `alpha` = 3 at a time, the nodes they return appended to the list and asked in
//!   turn while among its first k; the lookup returns every node it heard of, all of which
//!   also go to the table. At start: the bootstrap nodes are added, a lookup for the node's
//!   own id, then one for a random id; a random lookup every `refresh_interval_s` (5 min)
//!   without another lookup.
//! - **nwaku's loop** (`waku_discv5.nim` `searchLoop`): a random lookup, keep the ENRs that
//!   share a shard of the node's cluster with it (or are bootstrap nodes), hand them to the
//!   peer manager ([`Discv5::take_found`], through `node/glue.rs`), sleep
//!   `search_interval_ms` (5 s), repeat.
//!
//! Every packet kind is its own accounting category ([`DISCV5_CATEGORIES`]); sizes come from
//! [`packet`] (real encodings, ENRs with the `rs` / `rsv` shard field).
//!
//! Bounds, and what happens when full: table 256 x (16 + 8 replacements); sessions 256 (the
//! least recently used is evicted); requests in flight `max_pending_requests` (a request
//! beyond it is not sent and counts as `requests_refused`; a lookup treats it as failed);
//! lookups at once `max_lookups` (a lookup beyond it is skipped, `lookups_refused`; the
//! search loop tries again after its sleep); challenges awaiting a handshake: those of the
//! last `handshake_timeout_ms`, as in nim-eth, or at most `max_challenges` (expired ones
//! dropped first, then the oldest); requests held per node during a handshake 8 (a
//! request beyond it is refused); a lookup's list k + k x results_limit.
//!
//! Not modelled: ENR updates (sequence numbers, PONG's enr-seq), IP voting, talk requests,
//! topic advertisement, bans, nim-eth's bucket splitting (see [`table`]), and a NODES answer
//! cut short (the first packets count, the request then times out).

mod config;
pub mod packet;
pub mod sessions;
pub mod table;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::rc::Rc;

use rand::Rng;
use sim_core::{NodeId, SimDuration, SimTime, TimerId, rng};

use crate::discovery::{FoundPeer, PeerOrigin};
use crate::proto::{Io, Protocol, Wire};
pub use config::Discv5Config;
use packet::ShardField;
use sessions::Sessions;
use table::{Added, Id, Limits, Table, View};

/// (protocol, kind) of discv5's accounting categories, indexed by [`Wire::kind`].
pub const DISCV5_CATEGORIES: &[(&str, &str)] = &[
    ("discv5", "ping"),
    ("discv5", "pong"),
    ("discv5", "findnode"),
    ("discv5", "nodes"),
    ("discv5", "whoareyou"),
    ("discv5", "handshake"),
];

/// Run-wide discv5 data: the configuration and every node's id, ENR size, shards and IP
/// group.
#[derive(Debug)]
pub struct Discv5Shared {
    /// The configuration.
    pub cfg: Discv5Config,
    /// Every node's 256-bit id (drawn from (seed, node, `"discv5-id"`)).
    pub ids: Vec<Id>,
    /// Every node's ENR size in bytes.
    pub enr: Vec<u16>,
    /// Every node's shards, ascending.
    pub shards: Vec<Rc<[u16]>>,
    /// Every node's cluster (empty: all in `cluster`).
    pub clusters: Vec<u16>,
    /// The run's cluster.
    pub cluster: u16,
    /// Every node's IP group (empty: each its own).
    pub ip: Vec<u32>,
    /// Whether each node runs discv5 (empty: all).
    pub runs: Vec<bool>,
    /// The bootstrap nodes, ascending.
    pub bootstrap: Vec<NodeId>,
    limits: Limits,
}

impl Discv5Shared {
    /// The shared data of a run of `shards.len()` nodes.
    pub fn new(
        cfg: Discv5Config,
        seed: u64,
        shards: Vec<Rc<[u16]>>,
        cluster: u16,
        clusters: Vec<u16>,
        ip: Vec<u32>,
        runs: Vec<bool>,
    ) -> Self {
        let n = shards.len();
        let ids = (0..n)
            .map(|i| {
                let mut r = rng::stream(seed, i as u64, "discv5-id");
                [r.random(), r.random(), r.random(), r.random()]
            })
            .collect();
        let enr = shards
            .iter()
            .map(|s| packet::enr_bytes(ShardField::for_shards(s.len()), cfg.enr_extra_bytes) as u16)
            .collect();
        let mut bootstrap: Vec<NodeId> = cfg.bootstrap_nodes.iter().map(|&b| NodeId(b)).collect();
        bootstrap.sort();
        bootstrap.dedup();
        let limits = Limits {
            k: cfg.bucket_size as usize,
            replacements: cfg.replacement_cache as usize,
            bucket_ip: cfg.bucket_ip_limit,
            table_ip: cfg.table_ip_limit,
        };
        Discv5Shared {
            cfg,
            ids,
            enr,
            shards,
            clusters,
            cluster,
            ip,
            runs,
            bootstrap,
            limits,
        }
    }

    fn view(&self) -> View<'_> {
        View {
            ids: &self.ids,
            ip: &self.ip,
        }
    }

    fn cluster_of(&self, n: NodeId) -> u16 {
        self.clusters
            .get(n.index())
            .copied()
            .unwrap_or(self.cluster)
    }

    /// Whether `n` is a bootstrap node.
    pub fn is_bootstrap(&self, n: NodeId) -> bool {
        self.bootstrap.binary_search(&n).is_ok()
    }

    /// Whether nwaku's predicate keeps `peer` for node `me`: a bootstrap node, or a node of
    /// its cluster sharing a shard with it.
    pub fn keeps(&self, me: NodeId, peer: NodeId) -> bool {
        if !self.cfg.shard_filter || self.is_bootstrap(peer) {
            return true;
        }
        if self.cluster_of(me) != self.cluster_of(peer) {
            return false;
        }
        let (a, b) = (&self.shards[me.index()], &self.shards[peer.index()]);
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }
}

/// A discv5 packet's message kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketKind {
    /// PING.
    Ping = 0,
    /// PONG.
    Pong = 1,
    /// FINDNODE.
    FindNode = 2,
    /// NODES.
    Nodes = 3,
    /// WHOAREYOU.
    Whoareyou = 4,
}

/// A discv5 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Discv5Msg {
    /// The message kind (of the message a handshake packet carries, for a handshake).
    pub kind: PacketKind,
    /// A handshake packet (carrying a PING or FINDNODE).
    pub handshake: bool,
    /// NODES: ENRs in this packet; FINDNODE: distances.
    pub n: u8,
    /// NODES: packets of the answer.
    pub total: u8,
    /// Bytes on the wire.
    pub bytes: u16,
    /// The request id (a WHOAREYOU answers the request's).
    pub req: u32,
    /// FINDNODE: the distances; NODES: the ENRs' nodes.
    pub args: [u32; 3],
}

impl Wire for Discv5Msg {
    #[inline]
    fn kind(&self) -> u16 {
        if self.handshake { 5 } else { self.kind as u16 }
    }
    #[inline]
    fn wire_bytes(&self) -> u32 {
        self.bytes as u32
    }
    #[inline(always)]
    fn framing_bytes(&self, _wire: u32) -> u32 {
        0
    }
}

/// discv5's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discv5Timer {
    /// Request `0` waited long enough.
    Timeout(u32),
    /// Time to revalidate a node.
    Revalidate,
    /// Time to check whether the table needs a refresh lookup.
    Refresh,
    /// nwaku's loop: time for a random lookup.
    Search,
    /// Ping a node added after an inbound handshake.
    PingBack(NodeId),
}

crate::protocol_counters! {
    /// discv5 events counted per run.
    pub enum Discv5Counter {
        /// Lookups of nwaku's loop finished.
        SearchLookups = "search_lookups",
        /// Other lookups (own id, populate, refresh) finished.
        OtherLookups = "other_lookups",
        /// Nodes returned by nwaku's lookups.
        LookupNodes = "lookup_nodes",
        /// Of them, kept by nwaku's shard predicate and handed to the peer manager.
        KeptNodes = "kept_nodes",
        /// Of them, new to the peer store.
        NewPeers = "new_peers",
        /// Requests that timed out.
        RequestTimeouts = "request_timeouts",
        /// Handshakes sent.
        Handshakes = "handshakes",
        /// Handshakes that came without a live challenge (dropped).
        HandshakesDropped = "handshakes_dropped",
        /// Sessions evicted from a full cache.
        SessionsEvicted = "sessions_evicted",
        /// Requests not sent: too many in flight.
        RequestsRefused = "requests_refused",
        /// Lookups not started: too many at once.
        LookupsRefused = "lookups_refused",
        /// Nodes removed from a bucket after a failed request.
        NodesReplaced = "nodes_replaced",
    }
}

/// What discv5 reports: `count` more of a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Discv5Event(pub Discv5Counter, pub u32);

/// discv5's run-wide sink.
#[derive(Clone, Debug)]
pub struct Discv5Metrics {
    /// Counts, indexed by [`Discv5Counter`].
    pub counters: Vec<u64>,
}

impl Default for Discv5Metrics {
    fn default() -> Self {
        Discv5Metrics {
            counters: vec![0; Discv5Counter::ALL.len()],
        }
    }
}

const NO_LOOKUP: u16 = u16::MAX;

/// Requests held per peer while a handshake with it is in progress (nim-eth
/// `maxQueuedRequestsPerPeer`); beyond it a request is refused.
const MAX_QUEUED_PER_PEER: usize = 8;

#[derive(Clone, Copy, Debug)]
struct Pending {
    req: u32,
    peer: NodeId,
    kind: PacketKind,
    nd: u8,
    handshake: bool,
    /// Sent without a session: the answer may be a WHOAREYOU.
    first_contact: bool,
    /// Held until the handshake in progress with its peer completes.
    queued: bool,
    got: u8,
    lookup: u16,
    dists: [u16; 3],
    timer: TimerId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// At start: the node's own id, then [`Purpose::Populate`].
    OwnId,
    /// At start: one random id.
    Populate,
    /// nwaku's loop.
    Search,
    /// The table's refresh.
    Refresh,
    /// A Kademlia lookup (nim-eth `lookup`): the list kept sorted by distance to the target
    /// and cut to k; its result is kept ([`Discv5::last_lookup_result`]).
    Find,
}

#[derive(Clone, Debug)]
struct Lookup {
    id: u16,
    purpose: Purpose,
    target: Id,
    /// (node, asked), in the order heard of; the first k are the table's closest.
    list: Vec<(NodeId, bool)>,
    /// The nodes of `list`, ascending (nim-eth's `seen` set), except for
    /// [`Purpose::Find`], whose list is cut and searched instead.
    seen: Vec<NodeId>,
    in_flight: u8,
}

/// One node's discv5.
#[derive(Debug)]
pub struct Discv5 {
    sh: Rc<Discv5Shared>,
    me: NodeId,
    table: Table,
    /// Sessions ([`sessions`]).
    sessions: Sessions,
    /// WHOAREYOUs sent and awaiting a handshake: (peer, when), oldest first.
    /// Only live ones are kept: expired ones leave before each use ([`Discv5::expire`]),
    /// which changes nothing the node does (an expired challenge only ever made room when
    /// full, and a handshake for it is dropped as for none).
    challenges: VecDeque<(NodeId, SimTime)>,
    pending: Vec<Pending>,
    lookups: Vec<Lookup>,
    next_req: u32,
    next_lookup: u16,
    last_lookup: SimTime,
    /// Peers for the peer manager (drained by the node).
    found: Vec<FoundPeer>,
    scratch: Vec<NodeId>,
    /// The result of the last [`Discv5::find`] lookup.
    found_closest: Vec<NodeId>,
}

impl Discv5 {
    /// Node `me`'s discv5.
    pub fn new(sh: Rc<Discv5Shared>, me: NodeId) -> Self {
        Discv5 {
            sh,
            me,
            table: Table::new(me),
            sessions: Sessions::default(),
            challenges: VecDeque::new(),
            pending: Vec::new(),
            lookups: Vec::new(),
            next_req: 0,
            next_lookup: 0,
            last_lookup: SimTime::ZERO,
            found: Vec::new(),
            scratch: Vec::new(),
            found_closest: Vec::new(),
        }
    }

    /// Starts a Kademlia lookup for `target` (nim-eth `lookup`: the k closest nodes); its
    /// result is [`Discv5::last_lookup_result`] once no lookup is running.
    pub fn find(&mut self, target: Id, ctx: &mut impl Io<Self>) {
        self.start_lookup(Purpose::Find, target, ctx);
    }

    /// The k closest nodes the last [`Discv5::find`] found, closest first.
    pub fn last_lookup_result(&self) -> &[NodeId] {
        &self.found_closest
    }

    /// Lookups running.
    pub fn lookups_running(&self) -> usize {
        self.lookups.len()
    }

    /// The routing table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Sessions held.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Requests in flight.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// The peers found since the last call, for the peer manager.
    pub fn take_found(&mut self, out: &mut Vec<FoundPeer>) {
        out.append(&mut self.found);
    }

    /// Whether peers wait for the peer manager.
    pub fn has_found(&self) -> bool {
        !self.found.is_empty()
    }

    /// `n` ENRs sampled from the table (seen nodes first), for peer exchange: nodes of the
    /// node's cluster, drawn with `rng`, into `out`.
    pub fn sample(&self, n: usize, rng: &mut sim_core::SimRng, out: &mut Vec<NodeId>) {
        let mine = self.sh.cluster_of(self.me);
        let pool: Vec<NodeId> = self
            .table
            .nodes()
            .filter(|e| self.sh.cluster_of(e.node) == mine)
            .map(|e| e.node)
            .collect();
        let k = n.min(pool.len());
        out.extend(
            rand::seq::index::sample(rng, pool.len(), k)
                .into_iter()
                .map(|i| pool[i]),
        );
    }

    fn ms(v: u64) -> SimDuration {
        SimDuration::from_millis(v)
    }

    // ----- sessions ------------------------------------------------------------------

    fn has_session(&self, n: NodeId) -> bool {
        self.sessions.contains(n)
    }

    /// Uses (or opens) the session with `n`: it becomes the most recently used.
    fn touch_session(&mut self, n: NodeId, ctx: &mut impl Io<Self>) {
        if self.sessions.touch(n, self.sh.cfg.session_cache as usize) {
            ctx.report(Discv5Event(Discv5Counter::SessionsEvicted, 1));
        }
    }

    // ----- sending -------------------------------------------------------------------

    fn send(&mut self, to: NodeId, msg: Discv5Msg, ctx: &mut impl Io<Self>) {
        ctx.send_datagram(to, msg);
    }

    fn request_msg(&self, p: &Pending) -> Discv5Msg {
        let dists = &p.dists[..p.nd as usize];
        let (bytes, n, args) = match p.kind {
            PacketKind::Ping => (packet::PING_BYTES, 0, [0; 3]),
            _ => (
                packet::findnode_bytes(dists),
                p.nd,
                [p.dists[0] as u32, p.dists[1] as u32, p.dists[2] as u32],
            ),
        };
        let mut m = Discv5Msg {
            kind: p.kind,
            handshake: false,
            n,
            total: 0,
            bytes: bytes as u16,
            req: p.req,
            args,
        };
        if p.handshake {
            let message = bytes - packet::HEADER_BYTES - packet::TAG_BYTES;
            let enr = self.sh.enr[self.me.index()] as u32;
            m.handshake = true;
            m.bytes = packet::handshake_bytes(enr, message) as u16;
        }
        m
    }

    /// Sends a request to `peer`; false when too many are in flight.
    fn request(
        &mut self,
        peer: NodeId,
        kind: PacketKind,
        dists: ([u16; 3], u8),
        lookup: u16,
        ctx: &mut impl Io<Self>,
    ) -> bool {
        if self.pending.len() >= self.sh.cfg.max_pending_requests as usize {
            ctx.report(Discv5Event(Discv5Counter::RequestsRefused, 1));
            return false;
        }
        let session = self.has_session(peer);
        // While a handshake with the peer is in progress, requests wait for it (nim-eth
        // queues at most 8 per peer).
        let held = !session
            && self
                .pending
                .iter()
                .any(|p| p.peer == peer && p.first_contact && !p.queued);
        if held
            && self
                .pending
                .iter()
                .filter(|p| p.peer == peer && p.queued)
                .count()
                >= MAX_QUEUED_PER_PEER
        {
            ctx.report(Discv5Event(Discv5Counter::RequestsRefused, 1));
            return false;
        }
        let req = self.next_req;
        self.next_req = self.next_req.wrapping_add(1);
        if session {
            self.touch_session(peer, ctx);
        }
        let timer = ctx.set_timer(
            Self::ms(self.sh.cfg.request_timeout_ms),
            Discv5Timer::Timeout(req),
        );
        let p = Pending {
            req,
            peer,
            kind,
            nd: dists.1,
            handshake: false,
            first_contact: !session && !held,
            queued: held,
            got: 0,
            lookup,
            dists: dists.0,
            timer,
        };
        // Without a session the packet goes out all the same (nim-eth encrypts it with a
        // random key); the peer answers with WHOAREYOU.
        let m = self.request_msg(&p);
        self.pending.push(p);
        if !held {
            self.send(peer, m, ctx);
        }
        true
    }

    fn pending_pos(&self, from: NodeId, req: u32) -> Option<usize> {
        self.pending
            .iter()
            .position(|p| p.req == req && p.peer == from)
    }

    // ----- lookups -------------------------------------------------------------------

    fn random_id(ctx: &mut impl Io<Self>) -> Id {
        let r = ctx.rng();
        [r.random(), r.random(), r.random(), r.random()]
    }

    fn start_lookup(&mut self, purpose: Purpose, target: Id, ctx: &mut impl Io<Self>) {
        if self.lookups.len() >= self.sh.cfg.max_lookups as usize {
            ctx.report(Discv5Event(Discv5Counter::LookupsRefused, 1));
            if purpose == Purpose::Search {
                self.schedule_search(ctx);
            }
            return;
        }
        let k = self.sh.cfg.bucket_size as usize;
        let mut near = std::mem::take(&mut self.scratch);
        self.table
            .closest(&target, k, false, self.sh.view(), &mut near);
        let id = self.next_lookup;
        self.next_lookup = self.next_lookup.wrapping_add(1) % NO_LOOKUP;
        let mut seen = Vec::new();
        if purpose != Purpose::Find {
            seen.extend_from_slice(&near);
            seen.sort_unstable();
        }
        self.lookups.push(Lookup {
            id,
            purpose,
            target,
            list: near.iter().map(|&n| (n, false)).collect(),
            seen,
            in_flight: 0,
        });
        self.scratch = near;
        self.last_lookup = ctx.now();
        self.advance(id, ctx);
    }

    fn lookup_pos(&self, id: u16) -> Option<usize> {
        self.lookups.iter().position(|l| l.id == id)
    }

    /// Asks the next nodes of lookup `id`, or finishes it.
    fn advance(&mut self, id: u16, ctx: &mut impl Io<Self>) {
        let Some(li) = self.lookup_pos(id) else {
            return;
        };
        let k = self.sh.cfg.bucket_size as usize;
        let alpha = self.sh.cfg.alpha as u8;
        let nd = self.sh.cfg.findnode_distances as usize;
        let mut i = 0;
        loop {
            let l = &self.lookups[li];
            if i >= l.list.len().min(k) || l.in_flight >= alpha {
                break;
            }
            let (node, asked) = l.list[i];
            i += 1;
            if asked {
                continue;
            }
            self.lookups[li].list[i - 1].1 = true;
            let target = self.lookups[li].target;
            let dists = table::lookup_distances(&target, &self.sh.ids[node.index()], nd);
            if self.request(node, PacketKind::FindNode, dists, id, ctx) {
                self.lookups[li].in_flight += 1;
            }
        }
        if self.lookups[li].in_flight == 0 {
            let l = self.lookups.remove(li);
            self.finish(l, ctx);
        }
    }

    fn finish(&mut self, l: Lookup, ctx: &mut impl Io<Self>) {
        match l.purpose {
            Purpose::OwnId => {
                ctx.report(Discv5Event(Discv5Counter::OtherLookups, 1));
                let t = Self::random_id(ctx);
                self.start_lookup(Purpose::Populate, t, ctx);
            }
            Purpose::Populate | Purpose::Refresh => {
                ctx.report(Discv5Event(Discv5Counter::OtherLookups, 1));
            }
            Purpose::Find => {
                self.found_closest.clear();
                self.found_closest.extend(l.list.iter().map(|e| e.0));
            }
            Purpose::Search => {
                ctx.report(Discv5Event(Discv5Counter::SearchLookups, 1));
                ctx.report(Discv5Event(Discv5Counter::LookupNodes, l.list.len() as u32));
                let before = self.found.len();
                for &(n, _) in &l.list {
                    if self.sh.keeps(self.me, n) {
                        self.found.push(FoundPeer {
                            id: n,
                            origin: PeerOrigin::Discv5,
                        });
                    }
                }
                let kept = (self.found.len() - before) as u32;
                ctx.report(Discv5Event(Discv5Counter::KeptNodes, kept));
                self.schedule_search(ctx);
            }
        }
    }

    fn schedule_search(&mut self, ctx: &mut impl Io<Self>) {
        ctx.set_timer(
            Self::ms(self.sh.cfg.search_interval_ms),
            Discv5Timer::Search,
        );
    }

    // ----- answers -------------------------------------------------------------------

    /// A request `p` ended (`ok`: answered in full).
    fn complete(&mut self, pi: usize, ok: bool, ctx: &mut impl Io<Self>) {
        let p = self.pending.swap_remove(pi);
        if ok {
            ctx.cancel_timer(p.timer);
            self.table.set_seen(p.peer, self.sh.view());
        }
        if p.lookup != NO_LOOKUP
            && let Some(li) = self.lookup_pos(p.lookup)
        {
            self.lookups[li].in_flight -= 1;
            self.advance(p.lookup, ctx);
        }
    }

    fn on_nodes(&mut self, from: NodeId, m: &Discv5Msg, ctx: &mut impl Io<Self>) {
        let Some(pi) = self.pending_pos(from, m.req) else {
            return;
        };
        let view = self.sh.view();
        let lim = self.sh.limits;
        let li = match self.pending[pi].lookup {
            NO_LOOKUP => None,
            id => self.lookup_pos(id),
        };
        let k = self.sh.cfg.bucket_size as usize;
        let cap = k + k * self.sh.cfg.results_limit as usize;
        for &a in &m.args[..m.n as usize] {
            let n = NodeId(a);
            if n == self.me {
                continue;
            }
            self.table.add(n, view, &lim);
            if let Some(li) = li {
                let l = &mut self.lookups[li];
                if l.purpose == Purpose::Find {
                    if l.list.iter().any(|e| e.0 == n) {
                        continue;
                    }
                    // Sorted by distance to the target, cut to k.
                    let ids = &self.sh.ids;
                    let at = l.list.partition_point(|e| {
                        table::cmp_distance(&l.target, &ids[e.0.index()], &ids[n.index()]).is_lt()
                    });
                    if at < k {
                        l.list.insert(at, (n, false));
                        l.list.truncate(k);
                    }
                } else if let Err(at) = l.seen.binary_search(&n)
                    && l.list.len() < cap
                {
                    l.seen.insert(at, n);
                    l.list.push((n, false));
                }
            }
        }
        let p = &mut self.pending[pi];
        p.got += 1;
        if p.got >= m.total.max(1) {
            self.complete(pi, true, ctx);
        }
    }

    /// Answers request `m` from `from` (over a session).
    fn answer(&mut self, from: NodeId, m: &Discv5Msg, ctx: &mut impl Io<Self>) {
        match m.kind {
            PacketKind::Ping => {
                let pong = Discv5Msg {
                    kind: PacketKind::Pong,
                    handshake: false,
                    n: 0,
                    total: 0,
                    bytes: packet::PONG_BYTES as u16,
                    req: m.req,
                    args: [0; 3],
                };
                self.send(from, pong, ctx);
            }
            PacketKind::FindNode => {
                let dists = [m.args[0] as u16, m.args[1] as u16, m.args[2] as u16];
                let mut out = std::mem::take(&mut self.scratch);
                self.table.at_distances(
                    &dists[..m.n as usize],
                    self.sh.cfg.results_limit as usize,
                    &mut out,
                );
                let per = self.sh.cfg.nodes_per_packet as usize;
                let total = out.len().div_ceil(per).max(1);
                for c in 0..total {
                    let chunk = &out[(c * per).min(out.len())..((c + 1) * per).min(out.len())];
                    let mut args = [0u32; 3];
                    let mut enrs = 0;
                    for (j, n) in chunk.iter().enumerate() {
                        args[j.min(2)] = n.0;
                        enrs += self.sh.enr[n.index()] as u32;
                    }
                    let msg = Discv5Msg {
                        kind: PacketKind::Nodes,
                        handshake: false,
                        n: chunk.len().min(3) as u8,
                        total: total as u8,
                        bytes: packet::nodes_bytes(enrs) as u16,
                        req: m.req,
                        args,
                    };
                    self.send(from, msg, ctx);
                }
                self.scratch = out;
            }
            _ => {}
        }
    }

    /// Drops the challenges whose handshake can no longer come (older than
    /// `handshake_timeout_ms`): the oldest first, as they were sent in time order.
    fn expire(&mut self, now: SimTime) {
        let hs = Self::ms(self.sh.cfg.handshake_timeout_ms);
        while let Some(&(_, at)) = self.challenges.front() {
            if now <= at + hs {
                break;
            }
            self.challenges.pop_front();
        }
    }

    fn reset(&mut self) {
        self.table.clear();
        self.sessions.clear();
        self.challenges.clear();
        self.pending.clear();
        self.lookups.clear();
        self.found.clear();
    }
}

impl Protocol for Discv5 {
    type Msg = Discv5Msg;
    type Timer = Discv5Timer;
    type Event = Discv5Event;
    type Metrics = Discv5Metrics;
    const CATEGORIES: &'static [(&'static str, &'static str)] = DISCV5_CATEGORIES;

    fn on_start(&mut self, _restart: bool, ctx: &mut impl Io<Self>) {
        // A restarted node comes back with nothing (nim-eth keeps no table on disk).
        self.reset();
        let sh = self.sh.clone();
        for &b in &sh.bootstrap {
            if b != self.me {
                self.table.add(b, sh.view(), &sh.limits);
            }
        }
        let cfg = &sh.cfg;
        let r = ctx.rng().random_range(0..=cfg.revalidate_max_ms);
        ctx.set_timer(Self::ms(r), Discv5Timer::Revalidate);
        ctx.set_timer(
            SimDuration::from_secs(cfg.refresh_interval_s),
            Discv5Timer::Refresh,
        );
        self.last_lookup = ctx.now();
        let own = sh.ids[self.me.index()];
        self.start_lookup(Purpose::OwnId, own, ctx);
        let t = Self::random_id(ctx);
        self.start_lookup(Purpose::Search, t, ctx);
    }

    fn on_message(&mut self, from: NodeId, m: Discv5Msg, ctx: &mut impl Io<Self>) {
        if m.handshake {
            self.expire(ctx.now());
            match self.challenges.iter().position(|c| c.0 == from) {
                Some(i) => {
                    self.challenges.remove(i);
                }
                None => {
                    ctx.report(Discv5Event(Discv5Counter::HandshakesDropped, 1));
                    return;
                }
            }
            self.touch_session(from, ctx);
            let sh = self.sh.clone();
            if self.table.add(from, sh.view(), &sh.limits) == Added::Added {
                let d = ctx.rng().random_range(0..=sh.cfg.ping_back_max_ms);
                ctx.set_timer(Self::ms(d), Discv5Timer::PingBack(from));
            }
            self.answer(from, &m, ctx);
            return;
        }
        match m.kind {
            PacketKind::Ping | PacketKind::FindNode => {
                if self.has_session(from) {
                    self.touch_session(from, ctx);
                    self.answer(from, &m, ctx);
                } else {
                    // nim-eth sends no second WHOAREYOU while one is awaiting its handshake.
                    self.expire(ctx.now());
                    if self.challenges.iter().any(|c| c.0 == from) {
                        return;
                    }
                    let cap = self.sh.cfg.max_challenges as usize;
                    if cap > 0 && self.challenges.len() >= cap {
                        // All live: the oldest goes.
                        self.challenges.pop_front();
                    }
                    self.challenges.push_back((from, ctx.now()));
                    let who = Discv5Msg {
                        kind: PacketKind::Whoareyou,
                        handshake: false,
                        n: 0,
                        total: 0,
                        bytes: packet::WHOAREYOU_BYTES as u16,
                        req: m.req,
                        args: [0; 3],
                    };
                    self.send(from, who, ctx);
                }
            }
            PacketKind::Whoareyou => {
                let Some(pi) = self.pending_pos(from, m.req) else {
                    return;
                };
                if self.pending[pi].handshake {
                    return;
                }
                self.pending[pi].handshake = true;
                self.touch_session(from, ctx);
                ctx.report(Discv5Event(Discv5Counter::Handshakes, 1));
                let msg = self.request_msg(&self.pending[pi]);
                self.send(from, msg, ctx);
                // The requests held for this handshake go out over the new session.
                for i in 0..self.pending.len() {
                    if self.pending[i].peer == from && self.pending[i].queued {
                        self.pending[i].queued = false;
                        let m = self.request_msg(&self.pending[i]);
                        self.send(from, m, ctx);
                    }
                }
            }
            PacketKind::Pong => {
                // Without a session (evicted meanwhile) the answer cannot be read.
                if !self.has_session(from) {
                    return;
                }
                if let Some(pi) = self.pending_pos(from, m.req) {
                    self.touch_session(from, ctx);
                    self.complete(pi, true, ctx);
                }
            }
            PacketKind::Nodes => {
                if !self.has_session(from) {
                    return;
                }
                self.touch_session(from, ctx);
                self.on_nodes(from, &m, ctx);
            }
        }
    }

    fn on_timer(&mut self, t: Discv5Timer, ctx: &mut impl Io<Self>) {
        match t {
            Discv5Timer::Timeout(req) => {
                let Some(pi) = self.pending.iter().position(|p| p.req == req) else {
                    return;
                };
                let p = self.pending[pi];
                ctx.report(Discv5Event(Discv5Counter::RequestTimeouts, 1));
                if p.got == 0 && !self.sh.is_bootstrap(p.peer) {
                    let view = self.sh.view();
                    if self.table.contains(p.peer, view) {
                        ctx.report(Discv5Event(Discv5Counter::NodesReplaced, 1));
                    }
                    self.table.replace(p.peer, view);
                }
                self.complete(pi, false, ctx);
            }
            Discv5Timer::Revalidate => {
                let n = {
                    let r = ctx.rng();
                    self.table.to_revalidate(|k| r.random_range(0..k))
                };
                if let Some(n) = n {
                    self.request(n, PacketKind::Ping, ([0; 3], 0), NO_LOOKUP, ctx);
                }
                let r = ctx.rng().random_range(0..=self.sh.cfg.revalidate_max_ms);
                ctx.set_timer(Self::ms(r), Discv5Timer::Revalidate);
            }
            Discv5Timer::Refresh => {
                let every = SimDuration::from_secs(self.sh.cfg.refresh_interval_s);
                if ctx.now() >= self.last_lookup + every {
                    let t = Self::random_id(ctx);
                    self.start_lookup(Purpose::Refresh, t, ctx);
                }
                ctx.set_timer(every, Discv5Timer::Refresh);
            }
            Discv5Timer::Search => {
                let t = Self::random_id(ctx);
                self.start_lookup(Purpose::Search, t, ctx);
            }
            Discv5Timer::PingBack(n) => {
                if self.table.contains(n, self.sh.view()) {
                    self.request(n, PacketKind::Ping, ([0; 3], 0), NO_LOOKUP, ctx);
                }
            }
        }
    }

    #[inline]
    fn record(metrics: &mut Discv5Metrics, _node: NodeId, _now: SimTime, e: Discv5Event) {
        metrics.counters[e.0 as usize] += e.1 as u64;
    }
}

impl crate::node::registry::Build for Discv5 {
    type Shared = Discv5Shared;
    /// The nodes `runs` marks (every node when empty).
    fn build(sh: &Rc<Discv5Shared>, node: NodeId, _topics: &[u16]) -> Option<Self> {
        let runs = sh.runs.get(node.index()).copied().unwrap_or(true);
        runs.then(|| Discv5::new(sh.clone(), node))
    }
}
