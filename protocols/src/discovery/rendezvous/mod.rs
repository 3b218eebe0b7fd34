//! Rendezvous discovery (libp2p rendezvous `/rendezvous/1.0.0`, as nwaku v0.37 and go-waku
//! run it): nodes REGISTER their signed peer record under the namespace `rs/<cluster>/<shard>`
//! of each shard they relay at a few rendezvous points, and DISCOVER the peers registered
//! under their shards' namespaces there; what they find goes to their peer manager's store
//! (origin [`PeerOrigin::Rendezvous`]) through the node (`node/glue.rs`), and the peer manager
//! dials as it does for any source.
//!
//! Every node of a run with `[discovery.rendezvous]` runs the client ([`client`]); the
//! configured points also run the server ([`server::Registry`]). Requests ride connections: a
//! client dials a point it is not connected to and sends once the connection is up; the
//! connection then stays, as in nwaku, for the peer manager to keep or prune. A request whose
//! connection fails, closes or that gets no answer within `request_timeout_s` is an error.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the protocol: messages' categories, shared data, events, sink, dispatch |
//! | `config.rs` | `[discovery.rendezvous]` ([`RendezvousConfig`]) |
//! | `wire.rs` | messages and their protobuf sizes ([`RdvMsg`]) |
//! | `server.rs` | a point's registrations, TTLs, caps, cookies ([`server::Registry`]) |
//! | `client.rs` | the nwaku and go-waku client loops |
//!
//! Simplified: the points are known to every client from the start (go-waku's configured
//! rendezvous points; nwaku learns them through identify and picks, per shard, a peer of its
//! store that supports the codec and is on the shard, which the nwaku client here does among
//! the configured points); a point answers at once (no CPU cost); records come back in log
//! order (nim-libp2p shuffles them; the peer manager draws at random anyway); go-waku's
//! server (go-libp2p-rendezvous with a database) is modelled by the same registry.

pub mod client;
pub mod config;
pub mod server;
pub mod wire;

use std::collections::BTreeMap;
use std::rc::Rc;

use sim_core::{DialError, NodeId, SimDuration, SimTime};

pub use config::{ClientKind, RendezvousConfig};
pub use wire::{Cookie, DiscoverResponse, Ns, RdvMsg, Record, Status};

use crate::discovery::{FoundPeer, PeerOrigin};
use crate::node::registry::Build;
use crate::proto::{Io, Protocol, Wire};
use client::ClientState;
use server::Registry;

/// (protocol, kind) of rendezvous' accounting categories, indexed by [`Wire::kind`].
pub const RDV_CATEGORIES: &[(&str, &str)] = &[
    ("rendezvous", "register"),
    ("rendezvous", "register_response"),
    ("rendezvous", "unregister"),
    ("rendezvous", "discover"),
    ("rendezvous", "discover_response"),
];

impl Wire for RdvMsg {
    fn kind(&self) -> u16 {
        match self {
            RdvMsg::Register { .. } => 0,
            RdvMsg::RegisterResponse { .. } => 1,
            RdvMsg::Unregister { .. } => 2,
            RdvMsg::Discover { .. } => 3,
            RdvMsg::DiscoverResponse(_) => 4,
        }
    }
    fn wire_bytes(&self) -> u32 {
        self.bytes()
    }
}

/// Timers of the rendezvous protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RdvTimer {
    /// nwaku: a registration round.
    Register,
    /// nwaku: a discovery round.
    Discover,
    /// go-waku: register `shard` with `point`.
    GoRegister {
        /// The shard.
        shard: u16,
        /// The point.
        point: NodeId,
    },
    /// go-waku: discover `shard`.
    GoDiscover {
        /// The shard.
        shard: u16,
    },
    /// Request `0` times out.
    Timeout(u32),
    /// A point flushes expired registrations.
    Gc,
}

/// The request kinds a point serves (index into [`PointLoad::requests`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReqKind {
    /// REGISTER.
    Register = 0,
    /// DISCOVER.
    Discover = 1,
    /// UNREGISTER.
    Unregister = 2,
}

crate::protocol_counters! {
    /// Rendezvous client events counted per run.
    pub enum RdvCounter {
        /// REGISTER requests made.
        RegistersSent = "registers_sent",
        /// REGISTER answered OK.
        RegisterOk = "register_ok",
        /// REGISTER answered with an error code.
        RegisterRejected = "register_rejected",
        /// DISCOVER requests made.
        DiscoversSent = "discovers_sent",
        /// DISCOVER answered OK.
        DiscoverOk = "discover_ok",
        /// DISCOVER answered with an error code.
        DiscoverRejected = "discover_rejected",
        /// UNREGISTER messages sent (on leaving a shard).
        UnregistersSent = "unregisters_sent",
        /// Records received (peers found, self excluded).
        RecordsReceived = "records_received",
        /// Of the peers found, those new to the peer manager's store.
        NewPeers = "new_peers",
        /// Requests lost: the dial failed, the connection closed or no answer in time.
        RequestsFailed = "requests_failed",
        /// Of those, requests that timed out.
        RequestsTimedOut = "requests_timed_out",
        /// A round found no point for a shard (none on it, or only the node itself).
        NoPoint = "no_point",
        /// A request not made: the same one to the same point was still pending.
        Busy = "busy",
    }
}

/// What rendezvous reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RdvEvent {
    /// A client event.
    Count(RdvCounter),
    /// Records received (self excluded).
    Records(u32),
    /// Found peers new to the peer manager's store (reported by the node).
    NewPeers(u32),
    /// This node, a point, served a request.
    Served {
        /// What it served.
        kind: ReqKind,
        /// Its answer (OK for UNREGISTER).
        status: Status,
    },
}

/// One point's load over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PointLoad {
    /// Requests served, by [`ReqKind`].
    pub requests: [u64; 3],
    /// Of those, answered with an error code.
    pub errors: u64,
}

/// Rendezvous' run-wide sink.
#[derive(Clone, Debug)]
pub struct RdvMetrics {
    /// Client counts, indexed by [`RdvCounter`].
    pub counters: Vec<u64>,
    /// Answers by status, indexed as [`Status::ALL`].
    pub statuses: [u64; 6],
    /// Each point's load (only points that served something).
    pub points: BTreeMap<NodeId, PointLoad>,
}

impl Default for RdvMetrics {
    fn default() -> Self {
        RdvMetrics {
            counters: vec![0; RdvCounter::ALL.len()],
            statuses: [0; 6],
            points: BTreeMap::new(),
        }
    }
}

/// Run-wide rendezvous data.
#[derive(Debug)]
pub struct RendezvousShared {
    /// The configuration (validated).
    pub cfg: RendezvousConfig,
    /// The points, ascending.
    pub points: Vec<NodeId>,
    /// Points on each shard, ascending (index = shard).
    pub points_on: Vec<Vec<NodeId>>,
    /// Each node's cluster (empty: every node in `cluster`).
    pub clusters: Vec<u16>,
    /// The run's cluster.
    pub cluster: u16,
    /// Bytes of a signed peer record.
    pub spr_bytes: u32,
}

impl RendezvousShared {
    /// The shared data of `cfg` with points `points`, `shards[n]` being node n's shards.
    pub fn new(
        cfg: RendezvousConfig,
        mut points: Vec<NodeId>,
        shards: &[Vec<u16>],
        cluster: u16,
        clusters: Vec<u16>,
    ) -> Self {
        points.sort();
        points.dedup();
        let nshards = shards
            .iter()
            .flatten()
            .map(|&s| s as usize + 1)
            .max()
            .unwrap_or(0);
        let mut points_on = vec![Vec::new(); nshards];
        for &p in &points {
            for &s in shards.get(p.index()).map(Vec::as_slice).unwrap_or(&[]) {
                points_on[s as usize].push(p);
            }
        }
        for v in &mut points_on {
            v.sort();
            v.dedup();
        }
        let spr_bytes = wire::signed_peer_record_bytes(cfg.peer_record_addrs);
        RendezvousShared {
            cfg,
            points,
            points_on,
            clusters,
            cluster,
            spr_bytes,
        }
    }

    /// A node's cluster.
    pub fn cluster_of(&self, n: NodeId) -> u16 {
        self.clusters
            .get(n.index())
            .copied()
            .unwrap_or(self.cluster)
    }
}

/// One node's rendezvous: the client, and the server on points.
#[derive(Debug)]
pub struct Rendezvous {
    sh: Rc<RendezvousShared>,
    me: NodeId,
    /// The shards the node relays (what it registers and discovers).
    shards: Rc<[u16]>,
    /// The registrations it holds, when it is a point.
    server: Option<Box<Registry>>,
    client: ClientState,
    /// Peers found since the node last took them ([`Rendezvous::take_found`]).
    found: Vec<FoundPeer>,
}

impl Rendezvous {
    /// Node `me` on `shards`.
    pub fn new(sh: Rc<RendezvousShared>, me: NodeId, shards: Rc<[u16]>) -> Self {
        let server = sh
            .points
            .binary_search(&me)
            .is_ok()
            .then(|| Box::new(Registry::default()));
        let client = ClientState::new(&sh.cfg);
        Rendezvous {
            sh,
            me,
            shards,
            server,
            client,
            found: Vec::new(),
        }
    }

    /// The peers found since the last call (the node hands them to its peer manager).
    pub fn take_found(&mut self) -> Vec<FoundPeer> {
        std::mem::take(&mut self.found)
    }

    /// Whether peers wait to be taken.
    pub fn has_found(&self) -> bool {
        !self.found.is_empty()
    }

    /// The point's registrations (`None`: not a point).
    pub fn registry(&self) -> Option<&Registry> {
        self.server.as_deref()
    }

    fn ns(&self, shard: u16) -> Ns {
        Ns {
            cluster: self.sh.cluster_of(self.me),
            shard,
        }
    }

    /// A point serves `msg` from `from`.
    fn serve(&mut self, from: NodeId, msg: RdvMsg, ctx: &mut impl Io<Self>) {
        let Some(reg) = self.server.as_deref_mut() else {
            // Not a point: the stream would not negotiate; the client times out.
            return;
        };
        let cfg = &self.sh.cfg;
        let now = ctx.now();
        match msg {
            RdvMsg::Register { ns, ttl_s, .. } => {
                let (status, ttl) = match reg.register(cfg, from, ns, ttl_s as u64, now) {
                    Ok(t) => (Status::Ok, t as u32),
                    Err(s) => (s, 0),
                };
                ctx.report(RdvEvent::Served {
                    kind: ReqKind::Register,
                    status,
                });
                ctx.send(
                    from,
                    RdvMsg::RegisterResponse {
                        ns,
                        status,
                        ttl_s: ttl,
                    },
                );
            }
            RdvMsg::Unregister { ns } => {
                reg.expire(from, ns);
                ctx.report(RdvEvent::Served {
                    kind: ReqKind::Unregister,
                    status: Status::Ok,
                });
            }
            RdvMsg::Discover { ns, limit, cookie } => {
                let resp = match reg.discover(cfg, ns, limit, cookie.map(|c| *c), now) {
                    Ok((records, c)) => {
                        DiscoverResponse::new(ns, Status::Ok, records, Some(c), self.sh.spr_bytes)
                    }
                    Err(s) => DiscoverResponse::new(ns, s, Vec::new(), None, self.sh.spr_bytes),
                };
                ctx.report(RdvEvent::Served {
                    kind: ReqKind::Discover,
                    status: resp.status,
                });
                ctx.send(from, RdvMsg::DiscoverResponse(Box::new(resp)));
            }
            RdvMsg::RegisterResponse { .. } | RdvMsg::DiscoverResponse(_) => {
                unreachable!("answers go to the client")
            }
        }
    }
}

impl Protocol for Rendezvous {
    type Msg = RdvMsg;
    type Timer = RdvTimer;
    type Event = RdvEvent;
    type Metrics = RdvMetrics;
    const CATEGORIES: &'static [(&'static str, &'static str)] = RDV_CATEGORIES;

    fn on_start(&mut self, restart: bool, ctx: &mut impl Io<Self>) {
        if let Some(reg) = self.server.as_deref_mut() {
            if restart {
                reg.clear();
            }
            ctx.set_timer(
                SimDuration::from_secs(self.sh.cfg.gc_interval_s),
                RdvTimer::Gc,
            );
        }
        self.found.clear();
        self.start_client(ctx);
    }

    fn on_message(&mut self, from: NodeId, msg: RdvMsg, ctx: &mut impl Io<Self>) {
        match msg {
            RdvMsg::RegisterResponse { ns, status, ttl_s } => {
                self.on_register_response(from, ns, status, ttl_s, ctx)
            }
            RdvMsg::DiscoverResponse(r) => self.on_discover_response(from, *r, ctx),
            m => self.serve(from, m, ctx),
        }
    }

    fn on_timer(&mut self, timer: RdvTimer, ctx: &mut impl Io<Self>) {
        match timer {
            RdvTimer::Gc => {
                if let Some(reg) = self.server.as_deref_mut() {
                    reg.gc(ctx.now());
                    ctx.set_timer(
                        SimDuration::from_secs(self.sh.cfg.gc_interval_s),
                        RdvTimer::Gc,
                    );
                }
            }
            t => self.client_timer(t, ctx),
        }
    }

    fn on_connection_up(&mut self, peer: NodeId, _outbound: bool, ctx: &mut impl Io<Self>) {
        self.client_connection_up(peer, ctx);
    }

    fn on_connection_down(&mut self, peer: NodeId, ctx: &mut impl Io<Self>) {
        self.client_connection_down(peer, ctx);
    }

    fn on_dial_failed(&mut self, peer: NodeId, _reason: DialError, ctx: &mut impl Io<Self>) {
        self.client_dial_failed(peer, ctx);
    }

    fn record(m: &mut RdvMetrics, node: NodeId, _now: SimTime, e: RdvEvent) {
        match e {
            RdvEvent::Count(c) => m.counters[c as usize] += 1,
            RdvEvent::Records(n) => m.counters[RdvCounter::RecordsReceived as usize] += n as u64,
            RdvEvent::NewPeers(n) => m.counters[RdvCounter::NewPeers as usize] += n as u64,
            RdvEvent::Served { kind, status } => {
                let i = Status::ALL.iter().position(|&s| s == status).unwrap_or(0);
                m.statuses[i] += 1;
                let p = m.points.entry(node).or_default();
                p.requests[kind as usize] += 1;
                p.errors += (status != Status::Ok) as u64;
            }
        }
    }
}

impl Build for Rendezvous {
    type Shared = RendezvousShared;
    /// Every node of a run with rendezvous runs it (the client; points the server too).
    fn build(sh: &Rc<RendezvousShared>, node: NodeId, topics: &[u16]) -> Option<Self> {
        Some(Rendezvous::new(
            sh.clone(),
            node,
            topics.iter().copied().collect(),
        ))
    }
}

impl Rendezvous {
    /// Records found in an answer go to `found` (self excluded).
    fn take_records(&mut self, records: &[Record], ctx: &mut impl Io<Self>) {
        let me = self.me;
        let before = self.found.len();
        self.found
            .extend(records.iter().filter(|r| r.peer != me).map(|r| FoundPeer {
                id: r.peer,
                origin: PeerOrigin::Rendezvous,
            }));
        let n = (self.found.len() - before) as u32;
        if n > 0 {
            ctx.report(RdvEvent::Records(n));
        }
    }
}

#[cfg(test)]
mod tests;
