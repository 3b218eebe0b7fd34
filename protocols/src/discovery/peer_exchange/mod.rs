//! Peer exchange (34/WAKU2-PEER-EXCHANGE, `/vac/waku/peer-exchange/2.0.0-alpha1`) as nwaku
//! runs it (`waku_peer_exchange/protocol.nim`, `client.nim`): nodes without discv5 ask a
//! service node for peers over a libp2p stream.
//!
//! - **Service nodes** keep a cache of at most `cache_size` (60) ENRs: the reachable peers of
//!   their peer store that discv5 found, of their own cluster (`populateEnrCache`; the node
//!   hands the store over, `node/glue.rs`). At start they refill it every 5 s, at most 10
//!   times, until it is full; then every `cache_refresh_s` (10 min). A request for n peers
//!   is answered with min(n, cache) ENRs drawn at random from the cache.
//! - **Clients** ask a service node (`servers`, the first one connected or, if none, one
//!   dialled) for `first_request_peers` (8, relay's D, as nwaku's start-up request) and then
//!   every `interval_s` (60 s) for `request_peers` (5, `DefaultPXNumPeersReq`); the ENRs go
//!   to the peer manager's store with origin `PeerExchange`.
//!
//! Sizes: a request is the stream's opening (multistream header 20 + protocol line 38 = 58
//! bytes) and the length-prefixed protobuf `{request {numPeers}}` (5 bytes): 63 bytes. A
//! response is the opening echoed (58) and `{response {peerInfos [{enr}] ...}}`
//! ([`response_bytes`]).
//!
//! Bounds: the cache (`cache_size`); a client has at most one request out (a new one waits
//! for the next interval). Not modelled: the service's rate limiter (TOO_MANY_REQUESTS).

use std::rc::Rc;

use rand::Rng;
use serde::{Deserialize, Serialize};
use sim_core::{NodeId, SimDuration, SimTime};

use crate::discovery::{FoundPeer, PeerOrigin};
use crate::proto::{Io, Protocol, Wire};
use crate::relay::config::ConfigError;
use crate::relay::message::varint_len;

/// (protocol, kind) of peer exchange's accounting categories.
pub const PX_CATEGORIES: &[(&str, &str)] =
    &[("peer_exchange", "request"), ("peer_exchange", "response")];

/// Bytes that open a stream for the protocol: multistream-select's header line (20) and the
/// protocol line `/vac/waku/peer-exchange/2.0.0-alpha1\n` (37 + its 1-byte prefix).
pub const STREAM_OPEN_BYTES: u32 = 20 + 38;

/// A request: the stream's opening and the length-prefixed `{request (1) {numPeers (1)}}`.
pub const REQUEST_BYTES: u32 = STREAM_OPEN_BYTES + 1 + 4;

/// A response carrying ENRs of `enrs` sizes: the opening echoed and the length-prefixed
/// `{response (2) {peerInfos (1) [{enr (1)}], status_code (10)}}`.
pub fn response_bytes(enrs: impl Iterator<Item = u32>) -> u32 {
    let ld = |len: u32| 1 + varint_len(len as u64) + len;
    let infos: u32 = enrs.map(|e| ld(ld(e))).sum();
    let resp = ld(infos + 2);
    STREAM_OPEN_BYTES + varint_len(resp as u64) + resp
}

/// `[discovery.peer_exchange]`: nwaku's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PxConfig {
    /// Service nodes (they must run discv5). Default `[0]`.
    pub servers: Vec<u32>,
    /// Node groups whose nodes are clients (empty, the default: every node that does not run
    /// discv5).
    pub groups: Vec<String>,
    /// Peers asked for at start (nwaku: relay's D). Default 8.
    pub first_request_peers: u32,
    /// Peers asked for by the loop (`DefaultPXNumPeersReq`). Default 5.
    pub request_peers: u32,
    /// Seconds between the loop's requests. Default 60.
    pub interval_s: u64,
    /// ENRs a service node caches (`MaxPeersCacheSize`). Default 60.
    pub cache_size: u32,
    /// Seconds between cache refreshes once full (`CacheRefreshInterval`). Default 600.
    pub cache_refresh_s: u64,
}

impl Default for PxConfig {
    fn default() -> Self {
        PxConfig {
            servers: vec![0],
            groups: Vec::new(),
            first_request_peers: 8,
            request_peers: 5,
            interval_s: 60,
            cache_size: 60,
            cache_refresh_s: 600,
        }
    }
}

impl PxConfig {
    /// Checks the configuration for a run of `nodes` nodes.
    pub fn validate(&self, nodes: usize) -> Result<(), ConfigError> {
        let err = |f: &str, p: String, fix: &str| ConfigError {
            field: format!("discovery.peer_exchange.{f}"),
            problem: p,
            fix: fix.into(),
        };
        if self.servers.is_empty() {
            return Err(err("servers", "empty".into(), "name at least one node"));
        }
        if let Some(s) = self.servers.iter().find(|&&s| s as usize >= nodes) {
            return Err(err(
                "servers",
                format!("node {s} does not exist (the run has {nodes})"),
                "use existing node ids",
            ));
        }
        for (f, v) in [
            ("interval_s", self.interval_s),
            ("cache_refresh_s", self.cache_refresh_s),
            ("cache_size", self.cache_size as u64),
            ("request_peers", self.request_peers as u64),
        ] {
            if v == 0 {
                return Err(err(f, "must be positive".into(), "give a positive value"));
            }
        }
        if self.cache_size > 1000 || self.first_request_peers > 1000 || self.request_peers > 1000 {
            return Err(err(
                "cache_size",
                "cache_size and request sizes are at most 1,000".into(),
                "use nwaku's 60, 8 and 5",
            ));
        }
        Ok(())
    }
}

/// Run-wide peer exchange data.
#[derive(Debug)]
pub struct PxShared {
    /// The configuration.
    pub cfg: PxConfig,
    /// Every node's role.
    pub roles: Vec<PxRole>,
    /// The service nodes, ascending.
    pub servers: Vec<NodeId>,
    /// Every node's ENR size in bytes.
    pub enr: Vec<u16>,
}

/// What a node does in peer exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PxRole {
    /// Nothing.
    None,
    /// Serves requests.
    Server,
    /// Asks.
    Client,
}

/// A peer exchange message.
#[derive(Clone, Debug, PartialEq)]
pub enum PxMsg {
    /// Asks for this many peers.
    Request(u32),
    /// The peers, and the response's bytes.
    Response(Rc<[NodeId]>, u32),
}

impl Wire for PxMsg {
    fn kind(&self) -> u16 {
        match self {
            PxMsg::Request(_) => 0,
            PxMsg::Response(..) => 1,
        }
    }
    fn wire_bytes(&self) -> u32 {
        match self {
            PxMsg::Request(_) => REQUEST_BYTES,
            PxMsg::Response(_, b) => *b,
        }
    }
}

/// Peer exchange's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PxTimer {
    /// Client: time to ask.
    Ask,
    /// Server: time to refill the cache (the node hands over the peer store first).
    Refresh,
}

crate::protocol_counters! {
    /// Peer exchange events counted per run.
    pub enum PxCounter {
        /// Requests sent.
        Requests = "requests",
        /// ENRs received by clients.
        PeersReceived = "peers_received",
        /// Requests answered with no ENR (empty cache).
        EmptyResponses = "empty_responses",
        /// Requests that found no service node connected and dialled one.
        Dials = "dials",
    }
}

/// Peer exchange's run-wide sink.
#[derive(Clone, Debug)]
pub struct PxMetrics {
    /// Counts, indexed by [`PxCounter`].
    pub counters: Vec<u64>,
}

impl Default for PxMetrics {
    fn default() -> Self {
        PxMetrics {
            counters: vec![0; PxCounter::ALL.len()],
        }
    }
}

/// One node's peer exchange.
#[derive(Debug)]
pub struct PeerExchange {
    sh: Rc<PxShared>,
    role: PxRole,
    /// Server: the cached ENRs.
    cache: Vec<NodeId>,
    fill_attempts: u32,
    /// Server: candidates the node handed over before a refresh.
    candidates: Vec<NodeId>,
    /// Client: a request waits for the connection to this server.
    waiting: Option<(NodeId, u32)>,
    asked: bool,
    connected: Vec<NodeId>,
    found: Vec<FoundPeer>,
}

impl PeerExchange {
    /// A node's peer exchange in `role`.
    pub fn new(sh: Rc<PxShared>, role: PxRole) -> Self {
        PeerExchange {
            sh,
            role,
            cache: Vec::new(),
            fill_attempts: 0,
            candidates: Vec::new(),
            waiting: None,
            asked: false,
            connected: Vec::new(),
            found: Vec::new(),
        }
    }

    /// The node's role.
    pub fn role(&self) -> PxRole {
        self.role
    }

    /// Server: the cache.
    pub fn cache(&self) -> &[NodeId] {
        &self.cache
    }

    /// Server: the peers the next refresh may cache (reachable, found by discv5, of the
    /// node's cluster), in store order.
    pub fn set_candidates(&mut self, c: Vec<NodeId>) {
        self.candidates = c;
    }

    /// Peers received since the last call, for the peer manager.
    pub fn take_found(&mut self, out: &mut Vec<FoundPeer>) {
        out.append(&mut self.found);
    }

    fn ask(&mut self, ctx: &mut impl Io<Self>) {
        let n = if self.asked {
            self.sh.cfg.request_peers
        } else {
            self.sh.cfg.first_request_peers
        };
        self.asked = true;
        let server = self
            .sh
            .servers
            .iter()
            .copied()
            .find(|s| self.connected.binary_search(s).is_ok());
        match server {
            Some(s) => {
                ctx.report(PxCounter::Requests);
                ctx.send(s, PxMsg::Request(n));
            }
            None => {
                let i = ctx.rng().random_range(0..self.sh.servers.len());
                let s = self.sh.servers[i];
                if s != ctx.id() {
                    self.waiting = Some((s, n));
                    ctx.report(PxCounter::Dials);
                    ctx.dial(s);
                }
            }
        }
        ctx.set_timer(SimDuration::from_secs(self.sh.cfg.interval_s), PxTimer::Ask);
    }
}

impl Protocol for PeerExchange {
    type Msg = PxMsg;
    type Timer = PxTimer;
    type Event = PxCounter;
    type Metrics = PxMetrics;
    const CATEGORIES: &'static [(&'static str, &'static str)] = PX_CATEGORIES;

    fn on_start(&mut self, _restart: bool, ctx: &mut impl Io<Self>) {
        self.cache.clear();
        self.connected.clear();
        self.waiting = None;
        self.asked = false;
        self.fill_attempts = 0;
        match self.role {
            PxRole::None => {}
            PxRole::Server => {
                ctx.set_timer(SimDuration::from_secs(5), PxTimer::Refresh);
            }
            PxRole::Client => {
                // nwaku asks once the node has started; nodes start at different times.
                let d = ctx.rng().random_range(0..1_000_000_000u64);
                ctx.set_timer(SimDuration::from_nanos(d), PxTimer::Ask);
            }
        }
    }

    fn on_message(&mut self, from: NodeId, msg: PxMsg, ctx: &mut impl Io<Self>) {
        match msg {
            PxMsg::Request(n) => {
                if self.role != PxRole::Server {
                    return;
                }
                let k = (n as usize).min(self.cache.len());
                let picked: Rc<[NodeId]> = rand::seq::index::sample(ctx.rng(), self.cache.len(), k)
                    .into_iter()
                    .map(|i| self.cache[i])
                    .filter(|&p| p != from)
                    .collect();
                if picked.is_empty() {
                    ctx.report(PxCounter::EmptyResponses);
                }
                let bytes = response_bytes(picked.iter().map(|p| self.sh.enr[p.index()] as u32));
                ctx.send(from, PxMsg::Response(picked, bytes));
            }
            PxMsg::Response(peers, _) => {
                for _ in 0..peers.len() {
                    ctx.report(PxCounter::PeersReceived);
                }
                self.found.extend(peers.iter().map(|&id| FoundPeer {
                    id,
                    origin: PeerOrigin::PeerExchange,
                }));
            }
        }
    }

    fn on_timer(&mut self, t: PxTimer, ctx: &mut impl Io<Self>) {
        match t {
            PxTimer::Ask => self.ask(ctx),
            PxTimer::Refresh => {
                let cap = self.sh.cfg.cache_size as usize;
                self.cache.clear();
                self.cache.extend(self.candidates.iter().copied().take(cap));
                self.fill_attempts += 1;
                let next = if self.cache.len() < cap && self.fill_attempts < 10 {
                    SimDuration::from_secs(5)
                } else {
                    SimDuration::from_secs(self.sh.cfg.cache_refresh_s)
                };
                ctx.set_timer(next, PxTimer::Refresh);
            }
        }
    }

    fn on_connection_up(&mut self, peer: NodeId, _outbound: bool, ctx: &mut impl Io<Self>) {
        if let Err(i) = self.connected.binary_search(&peer) {
            self.connected.insert(i, peer);
        }
        if let Some((s, n)) = self.waiting
            && s == peer
        {
            self.waiting = None;
            ctx.report(PxCounter::Requests);
            ctx.send(s, PxMsg::Request(n));
        }
    }

    fn on_connection_down(&mut self, peer: NodeId, _ctx: &mut impl Io<Self>) {
        if let Ok(i) = self.connected.binary_search(&peer) {
            self.connected.remove(i);
        }
    }

    fn on_dial_failed(
        &mut self,
        peer: NodeId,
        _reason: sim_core::DialError,
        _ctx: &mut impl Io<Self>,
    ) {
        if self.waiting.is_some_and(|w| w.0 == peer) {
            self.waiting = None;
        }
    }

    #[inline]
    fn record(metrics: &mut PxMetrics, _node: NodeId, _now: SimTime, e: PxCounter) {
        metrics.counters[e as usize] += 1;
    }
}

impl crate::node::registry::Build for PeerExchange {
    type Shared = PxShared;
    fn build(sh: &Rc<PxShared>, node: NodeId, _topics: &[u16]) -> Option<Self> {
        match sh.roles.get(node.index()).copied().unwrap_or(PxRole::None) {
            PxRole::None => None,
            r => Some(PeerExchange::new(sh.clone(), r)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Recorder;

    #[test]
    fn sizes_match_hand_encodings() {
        assert_eq!(REQUEST_BYTES, 63);
        // No ENR: response {status_code (2 bytes)} = 1 + 1 + 2 = 4, prefix 1: 58 + 5 = 63.
        assert_eq!(response_bytes(std::iter::empty()), 63);
        // Five 157-byte ENRs: each {enr} = 1 + 2 + 157 = 160, as peerInfo 1 + 2 + 160 = 163;
        // 815 + 2 = 817, response 1 + 2 + 817 = 820, prefix 2: 58 + 822 = 880.
        assert_eq!(response_bytes([157u32; 5].into_iter()), 880);
    }

    fn shared() -> Rc<PxShared> {
        Rc::new(PxShared {
            cfg: PxConfig::default(),
            roles: vec![PxRole::Server, PxRole::Client],
            servers: vec![NodeId(0)],
            enr: vec![157; 100],
        })
    }

    #[test]
    fn the_server_caches_at_most_60_and_answers_at_most_n() {
        let sh = shared();
        let mut s = PeerExchange::new(sh, PxRole::Server);
        let mut r: Recorder<PeerExchange> = Recorder::new(NodeId(0), SimTime::ZERO, "px");
        s.on_start(false, &mut r);
        // 80 candidates: the cache keeps the first 60; full, the next refresh is in 600 s.
        s.set_candidates((2..82).map(NodeId).collect());
        s.on_timer(PxTimer::Refresh, &mut r);
        assert_eq!(s.cache().len(), 60);
        assert_eq!(r.timers.last().unwrap().0, SimTime::from_secs(600));
        s.on_message(NodeId(1), PxMsg::Request(8), &mut r);
        let Some((to, PxMsg::Response(p, b))) = r.sent.pop() else {
            panic!("a response")
        };
        assert_eq!(to, NodeId(1));
        assert_eq!(p.len(), 8);
        assert!(p.iter().all(|x| s.cache().contains(x)));
        assert_eq!(b, response_bytes([157u32; 8].into_iter()));
    }

    #[test]
    fn the_client_dials_a_server_then_asks_every_minute() {
        let sh = shared();
        let mut c = PeerExchange::new(sh, PxRole::Client);
        let mut r: Recorder<PeerExchange> = Recorder::new(NodeId(1), SimTime::ZERO, "px");
        c.on_start(false, &mut r);
        c.on_timer(PxTimer::Ask, &mut r);
        assert_eq!(r.dials, vec![NodeId(0)]);
        assert!(r.sent.is_empty());
        c.on_connection_up(NodeId(0), true, &mut r);
        assert_eq!(r.sent, vec![(NodeId(0), PxMsg::Request(8))]);
        assert_eq!(r.timers.last().unwrap().0, SimTime::from_secs(60));
        // Connected now: the next request goes at once, for 5.
        c.on_timer(PxTimer::Ask, &mut r);
        assert_eq!(r.sent[1], (NodeId(0), PxMsg::Request(5)));
        c.on_message(
            NodeId(0),
            PxMsg::Response(Rc::from(&[NodeId(7)][..]), 100),
            &mut r,
        );
        let mut f = Vec::new();
        c.take_found(&mut f);
        assert_eq!(f[0].origin, PeerOrigin::PeerExchange);
    }
}
