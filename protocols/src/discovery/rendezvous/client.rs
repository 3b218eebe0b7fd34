//! The client loops, as nwaku v0.37.0-rc.4 (`waku/waku_rendezvous/protocol.nim`) and go-waku
//! (`waku/v2/rendezvous/rendezvous.go`, 00c423c) run them ([`ClientKind`]).
//!
//! nwaku:
//! - **Registration** (`periodicRegistration`): every `register_interval_s` (10 s; the first
//!   round one interval after start), for each shard, REGISTER with TTL `ttl_s` (60 s) at one
//!   point on that shard, drawn at random (`selectPeer(RendezVousCodec, shard)`). A round
//!   with no point at all is an error; nwaku then doubles the interval and resets it to 10 s
//!   on the next line, so its backoff never applies: `register_backoff = true` applies it
//!   (doubling after a round that followed an error, up to `max_register_interval_s`).
//! - **Discovery** (`periodicRequests`): a round at start, then after 1, 2, 4, ... minutes;
//!   once the interval reaches a day the loop ends. Each round, for each shard, DISCOVER with
//!   limit 12 at one random point on the shard, with the cookie that point last gave for the
//!   namespace (nim-libp2p `cookiesSaved`, kept when under 1000 bytes).
//!
//! go-waku:
//! - **Registration** (`Register`): for each shard and every point, REGISTER with TTL 2 h, and
//!   again when the granted TTL has passed; after an error wait 200 ms x 2^n (n = errors so
//!   far, never reset) and give up after 7 errors.
//! - **Discovery** (`Discover`): for each shard in a loop, DISCOVER at a random point with its
//!   cookie; an answer with records saves the cookie and asks again at once, an empty answer
//!   or an error waits 5 s.
//!
//! Connections: a client dials a point it is not connected to. With `close_idle` (default)
//! it closes a connection it opened once no request to the point is pending.
//!
//! Both: the loops start at a random phase within `register_interval_s` of the node's start
//! (nodes of a real network start at different times; nwaku's first discovery round is at its
//! start). A request is made at most once at a time per (point, namespace, kind); one that
//! waits for a dial, a closed connection or `request_timeout_s` without an answer is an error.
//! Bounds: pending requests at most shards x points x 2; cookies at most points x shards.

use std::collections::BTreeMap;

use rand::Rng;
use sim_core::{NodeId, SimDuration, TimerId};

use super::config::{
    ClientKind, GO_WAKU_EMPTY_SLEEP, GO_WAKU_REGISTER_BACKOFF, GO_WAKU_REGISTER_RETRIES,
    RendezvousConfig,
};
use super::wire::{Cookie, DiscoverResponse, Ns, RdvMsg, Status};
use super::{RdvCounter, RdvEvent, RdvTimer, Rendezvous, ReqKind};
use crate::proto::Io;

/// Cookies at or above this size are not kept (nim-libp2p `requestPeer`).
const MAX_COOKIE_BYTES: u32 = 1000;

#[derive(Clone, Copy, Debug)]
struct Pending {
    id: u32,
    point: NodeId,
    ns: Ns,
    kind: ReqKind,
    timer: TimerId,
    /// Sent (else waiting for the connection).
    sent: bool,
}

/// A client's state.
#[derive(Debug)]
pub struct ClientState {
    /// Connected peers, ascending.
    connected: Vec<NodeId>,
    /// Points being dialled, ascending.
    dialing: Vec<NodeId>,
    /// Points it dialled itself and is connected to, ascending (closed when idle with
    /// `close_idle`).
    opened: Vec<NodeId>,
    /// Requests made and not answered; those not sent wait for their connection.
    pending: Vec<Pending>,
    /// Messages waiting for a connection, by request id.
    waiting: Vec<(u32, RdvMsg)>,
    next_id: u32,
    cookies: BTreeMap<(NodeId, Ns), Cookie>,
    /// (namespace, point) it holds a registration at (for UNREGISTER), ascending.
    registered: Vec<(Ns, NodeId)>,
    /// nwaku: the current registration interval.
    reg_interval: SimDuration,
    /// nwaku: an error since the last registration round.
    error_since_round: bool,
    /// nwaku: the sleep after the next discovery round (`None`: the loop has ended).
    disc_interval: Option<SimDuration>,
    /// go-waku: errors per (shard, point).
    go_errors: BTreeMap<(u16, NodeId), u32>,
}

impl ClientState {
    /// A fresh client.
    pub fn new(cfg: &RendezvousConfig) -> Self {
        ClientState {
            connected: Vec::new(),
            dialing: Vec::new(),
            opened: Vec::new(),
            pending: Vec::new(),
            waiting: Vec::new(),
            next_id: 0,
            cookies: BTreeMap::new(),
            registered: Vec::new(),
            reg_interval: SimDuration::from_secs(cfg.register_interval_s),
            error_since_round: false,
            disc_interval: Some(SimDuration::from_secs(cfg.discover_interval_s)),
            go_errors: BTreeMap::new(),
        }
    }
}

fn insert(v: &mut Vec<NodeId>, p: NodeId) {
    if let Err(i) = v.binary_search(&p) {
        v.insert(i, p);
    }
}

fn remove(v: &mut Vec<NodeId>, p: NodeId) {
    if let Ok(i) = v.binary_search(&p) {
        v.remove(i);
    }
}

impl Rendezvous {
    /// The client starts (or restarts: everything but the configuration is forgotten).
    pub(super) fn start_client(&mut self, ctx: &mut impl Io<Self>) {
        self.client = ClientState::new(&self.sh.cfg);
        let cfg = &self.sh.cfg;
        let span = SimDuration::from_secs(cfg.register_interval_s).as_nanos();
        let phase = SimDuration::from_nanos(ctx.rng().random_range(0..span));
        match cfg.client {
            ClientKind::Nwaku => {
                ctx.set_timer(phase + self.client.reg_interval, RdvTimer::Register);
                ctx.set_timer(phase, RdvTimer::Discover);
            }
            ClientKind::GoWaku => {
                let me = self.me;
                for &shard in self.shards.iter() {
                    for &point in &self.sh.points {
                        if point != me {
                            ctx.set_timer(phase, RdvTimer::GoRegister { shard, point });
                        }
                    }
                    ctx.set_timer(phase, RdvTimer::GoDiscover { shard });
                }
            }
        }
    }

    pub(super) fn client_timer(&mut self, t: RdvTimer, ctx: &mut impl Io<Self>) {
        match t {
            RdvTimer::Register => self.register_round(ctx),
            RdvTimer::Discover => self.discover_round(ctx),
            RdvTimer::GoRegister { shard, point } => {
                if self.shards.contains(&shard) {
                    self.register(point, shard, ctx);
                }
            }
            RdvTimer::GoDiscover { shard } => self.go_discover(shard, ctx),
            RdvTimer::Timeout(id) => {
                if let Some(i) = self.client.pending.iter().position(|p| p.id == id) {
                    ctx.report(RdvEvent::Count(RdvCounter::RequestsTimedOut));
                    let p = self.client.pending.remove(i);
                    self.client.waiting.retain(|w| w.0 != id);
                    self.close_if_idle(p.point, ctx);
                    self.failed(p, ctx);
                }
            }
            RdvTimer::Gc => unreachable!("the server's"),
        }
    }

    /// A random point on `shard` other than this node (nwaku's `selectPeer`).
    fn point_on(&self, shard: u16, ctx: &mut impl Io<Self>) -> Option<NodeId> {
        let me = self.me;
        let on = self.sh.points_on.get(shard as usize)?;
        let n = on.iter().filter(|&&p| p != me).count();
        if n == 0 {
            return None;
        }
        let k = ctx.rng().random_range(0..n);
        on.iter().copied().filter(|&p| p != me).nth(k)
    }

    /// A random point other than this node (go-waku's `getRandomServer`).
    fn any_point(&self, ctx: &mut impl Io<Self>) -> Option<NodeId> {
        let me = self.me;
        let n = self.sh.points.iter().filter(|&&p| p != me).count();
        if n == 0 {
            return None;
        }
        let k = ctx.rng().random_range(0..n);
        self.sh.points.iter().copied().filter(|&p| p != me).nth(k)
    }

    fn register_round(&mut self, ctx: &mut impl Io<Self>) {
        let mut any = false;
        let shards = self.shards.clone();
        for &shard in shards.iter() {
            match self.point_on(shard, ctx) {
                Some(p) => {
                    any = true;
                    self.register(p, shard, ctx);
                }
                None => ctx.report(RdvEvent::Count(RdvCounter::NoPoint)),
            }
        }
        let cfg = &self.sh.cfg;
        let c = &mut self.client;
        if !any && !shards.is_empty() {
            c.error_since_round = true;
        }
        c.reg_interval = if cfg.register_backoff && c.error_since_round {
            c.reg_interval
                .saturating_mul(2)
                .min(SimDuration::from_secs(cfg.max_register_interval_s))
        } else {
            SimDuration::from_secs(cfg.register_interval_s)
        };
        c.error_since_round = false;
        ctx.set_timer(c.reg_interval, RdvTimer::Register);
    }

    fn discover_round(&mut self, ctx: &mut impl Io<Self>) {
        let Some(sleep) = self.client.disc_interval else {
            return;
        };
        let shards = self.shards.clone();
        for &shard in shards.iter() {
            match self.point_on(shard, ctx) {
                Some(p) => self.discover(p, shard, ctx),
                None => ctx.report(RdvEvent::Count(RdvCounter::NoPoint)),
            }
        }
        let cfg = &self.sh.cfg;
        let next = sleep.saturating_mul(cfg.discover_backoff_factor);
        if next >= SimDuration::from_secs(cfg.max_discover_interval_s) {
            // nwaku sleeps, doubles, and leaves the loop: no round after this sleep.
            self.client.disc_interval = None;
        } else {
            self.client.disc_interval = Some(next);
            ctx.set_timer(sleep, RdvTimer::Discover);
        }
    }

    fn go_discover(&mut self, shard: u16, ctx: &mut impl Io<Self>) {
        if !self.shards.contains(&shard) {
            return;
        }
        match self.any_point(ctx) {
            Some(p) => self.discover(p, shard, ctx),
            None => ctx.report(RdvEvent::Count(RdvCounter::NoPoint)),
        }
    }

    fn register(&mut self, point: NodeId, shard: u16, ctx: &mut impl Io<Self>) {
        let ns = self.ns(shard);
        let msg = RdvMsg::Register {
            ns,
            ttl_s: self.sh.cfg.ttl().min(u32::MAX as u64) as u32,
            spr: self.sh.spr_bytes.min(u16::MAX as u32) as u16,
        };
        if self.request(point, ns, ReqKind::Register, msg, ctx) {
            ctx.report(RdvEvent::Count(RdvCounter::RegistersSent));
        }
    }

    fn discover(&mut self, point: NodeId, shard: u16, ctx: &mut impl Io<Self>) {
        let ns = self.ns(shard);
        let cookie = self.client.cookies.get(&(point, ns)).map(|c| Box::new(*c));
        let msg = RdvMsg::Discover {
            ns,
            limit: self.sh.cfg.discover_limit,
            cookie,
        };
        if self.request(point, ns, ReqKind::Discover, msg, ctx) {
            ctx.report(RdvEvent::Count(RdvCounter::DiscoversSent));
        }
    }

    /// Makes a request (false: the same one is pending).
    fn request(
        &mut self,
        point: NodeId,
        ns: Ns,
        kind: ReqKind,
        msg: RdvMsg,
        ctx: &mut impl Io<Self>,
    ) -> bool {
        let c = &mut self.client;
        if c.pending
            .iter()
            .any(|p| p.point == point && p.ns == ns && p.kind == kind)
        {
            ctx.report(RdvEvent::Count(RdvCounter::Busy));
            return false;
        }
        let id = c.next_id;
        c.next_id = c.next_id.wrapping_add(1);
        let timer = ctx.set_timer(
            SimDuration::from_secs(self.sh.cfg.request_timeout_s),
            RdvTimer::Timeout(id),
        );
        let connected = c.connected.binary_search(&point).is_ok();
        c.pending.push(Pending {
            id,
            point,
            ns,
            kind,
            timer,
            sent: connected,
        });
        if connected {
            ctx.send(point, msg);
        } else {
            c.waiting.push((id, msg));
            if c.dialing.binary_search(&point).is_err() {
                insert(&mut c.dialing, point);
                ctx.dial(point);
            }
        }
        true
    }

    /// The pending request `kind` for `ns` to `from` (the oldest sent one).
    fn answered(&mut self, from: NodeId, ns: Ns, kind: ReqKind, ctx: &mut impl Io<Self>) -> bool {
        let c = &mut self.client;
        let Some(i) = c
            .pending
            .iter()
            .position(|p| p.sent && p.point == from && p.ns == ns && p.kind == kind)
        else {
            // Answered after its timeout: dropped.
            return false;
        };
        let p = c.pending.remove(i);
        ctx.cancel_timer(p.timer);
        self.close_if_idle(from, ctx);
        true
    }

    /// With `close_idle`, closes a connection it opened once nothing is pending on it.
    fn close_if_idle(&mut self, point: NodeId, ctx: &mut impl Io<Self>) {
        let c = &mut self.client;
        if self.sh.cfg.close_idle
            && c.opened.binary_search(&point).is_ok()
            && !c.pending.iter().any(|p| p.point == point)
        {
            remove(&mut c.opened, point);
            ctx.disconnect(point);
        }
    }

    pub(super) fn on_register_response(
        &mut self,
        from: NodeId,
        ns: Ns,
        status: Status,
        ttl_s: u32,
        ctx: &mut impl Io<Self>,
    ) {
        if !self.answered(from, ns, ReqKind::Register, ctx) {
            return;
        }
        if status == Status::Ok {
            ctx.report(RdvEvent::Count(RdvCounter::RegisterOk));
            let r = &mut self.client.registered;
            if let Err(i) = r.binary_search(&(ns, from)) {
                r.insert(i, (ns, from));
            }
            if self.sh.cfg.client == ClientKind::GoWaku {
                ctx.set_timer(
                    SimDuration::from_secs(ttl_s as u64),
                    RdvTimer::GoRegister {
                        shard: ns.shard,
                        point: from,
                    },
                );
            }
        } else {
            ctx.report(RdvEvent::Count(RdvCounter::RegisterRejected));
            self.register_error(from, ns, ctx);
        }
    }

    pub(super) fn on_discover_response(
        &mut self,
        from: NodeId,
        r: DiscoverResponse,
        ctx: &mut impl Io<Self>,
    ) {
        if !self.answered(from, r.ns, ReqKind::Discover, ctx) {
            return;
        }
        let go = self.sh.cfg.client == ClientKind::GoWaku;
        if r.status != Status::Ok {
            ctx.report(RdvEvent::Count(RdvCounter::DiscoverRejected));
            self.discover_error(r.ns, ctx);
            return;
        }
        ctx.report(RdvEvent::Count(RdvCounter::DiscoverOk));
        let save = !go || !r.records.is_empty();
        if let Some(c) = r.cookie
            && save
            && c.bytes() < MAX_COOKIE_BYTES
        {
            self.client.cookies.insert((from, r.ns), c);
        }
        self.take_records(&r.records, ctx);
        if go {
            if r.records.is_empty() {
                ctx.set_timer(
                    GO_WAKU_EMPTY_SLEEP,
                    RdvTimer::GoDiscover { shard: r.ns.shard },
                );
            } else {
                self.go_discover(r.ns.shard, ctx);
            }
        }
    }

    fn register_error(&mut self, point: NodeId, ns: Ns, ctx: &mut impl Io<Self>) {
        match self.sh.cfg.client {
            ClientKind::Nwaku => self.client.error_since_round = true,
            ClientKind::GoWaku => {
                let n = self.client.go_errors.entry((ns.shard, point)).or_insert(0);
                let wait = GO_WAKU_REGISTER_BACKOFF.saturating_mul(1 << (*n).min(30));
                *n += 1;
                if *n < GO_WAKU_REGISTER_RETRIES {
                    ctx.set_timer(
                        wait,
                        RdvTimer::GoRegister {
                            shard: ns.shard,
                            point,
                        },
                    );
                }
            }
        }
    }

    fn discover_error(&mut self, ns: Ns, ctx: &mut impl Io<Self>) {
        match self.sh.cfg.client {
            ClientKind::Nwaku => {}
            ClientKind::GoWaku => {
                ctx.set_timer(
                    GO_WAKU_EMPTY_SLEEP,
                    RdvTimer::GoDiscover { shard: ns.shard },
                );
            }
        }
    }

    /// A request got no answer (dial failed, connection closed, timeout).
    fn failed(&mut self, p: Pending, ctx: &mut impl Io<Self>) {
        ctx.report(RdvEvent::Count(RdvCounter::RequestsFailed));
        match p.kind {
            ReqKind::Register => self.register_error(p.point, p.ns, ctx),
            ReqKind::Discover => self.discover_error(p.ns, ctx),
            ReqKind::Unregister => {}
        }
    }

    /// Fails every pending request to `peer` (`sent`: only those already sent).
    fn fail_all(&mut self, peer: NodeId, sent_only: bool, ctx: &mut impl Io<Self>) {
        let mut lost = Vec::new();
        self.client.pending.retain(|p| {
            let hit = p.point == peer && (p.sent || !sent_only);
            if hit {
                lost.push(*p);
            }
            !hit
        });
        for p in lost {
            ctx.cancel_timer(p.timer);
            self.client.waiting.retain(|w| w.0 != p.id);
            self.failed(p, ctx);
        }
    }

    pub(super) fn client_connection_up(&mut self, peer: NodeId, ctx: &mut impl Io<Self>) {
        let c = &mut self.client;
        insert(&mut c.connected, peer);
        if c.dialing.binary_search(&peer).is_ok() {
            remove(&mut c.dialing, peer);
            insert(&mut c.opened, peer);
        }
        if c.waiting.is_empty() {
            return;
        }
        let mut send = Vec::new();
        for p in c.pending.iter_mut().filter(|p| p.point == peer && !p.sent) {
            p.sent = true;
            if let Some(i) = c.waiting.iter().position(|w| w.0 == p.id) {
                send.push(c.waiting.remove(i).1);
            }
        }
        for m in send {
            ctx.send(peer, m);
        }
    }

    pub(super) fn client_connection_down(&mut self, peer: NodeId, ctx: &mut impl Io<Self>) {
        remove(&mut self.client.connected, peer);
        remove(&mut self.client.opened, peer);
        self.fail_all(peer, true, ctx);
    }

    pub(super) fn client_dial_failed(&mut self, peer: NodeId, ctx: &mut impl Io<Self>) {
        remove(&mut self.client.dialing, peer);
        self.fail_all(peer, false, ctx);
    }

    /// The node's shards changed: UNREGISTER the namespaces of the shards it left at the
    /// points it is connected to, and (go-waku) start the loops of the shards it joined.
    pub fn set_shards(&mut self, shards: std::rc::Rc<[u16]>, ctx: &mut impl Io<Self>) {
        let old = std::mem::replace(&mut self.shards, shards);
        let cluster = self.sh.cluster_of(self.me);
        let left: Vec<u16> = old
            .iter()
            .copied()
            .filter(|s| !self.shards.contains(s))
            .collect();
        let mut keep = Vec::new();
        for (ns, point) in std::mem::take(&mut self.client.registered) {
            if ns.cluster == cluster && left.contains(&ns.shard) {
                if self.client.connected.binary_search(&point).is_ok() {
                    ctx.send(point, RdvMsg::Unregister { ns });
                    ctx.report(RdvEvent::Count(RdvCounter::UnregistersSent));
                }
            } else {
                keep.push((ns, point));
            }
        }
        self.client.registered = keep;
        if self.sh.cfg.client == ClientKind::GoWaku {
            let me = self.me;
            let joined: Vec<u16> = self
                .shards
                .iter()
                .copied()
                .filter(|s| !old.contains(s))
                .collect();
            for shard in joined {
                for &point in &self.sh.points {
                    if point != me {
                        ctx.set_timer(SimDuration::ZERO, RdvTimer::GoRegister { shard, point });
                    }
                }
                ctx.set_timer(SimDuration::ZERO, RdvTimer::GoDiscover { shard });
            }
        }
    }
}
