//! Store sync (Waku Sync) as nwaku runs it: every `interval_s` a store node picks a random
//! store peer (any other store node, connected or not: [`Store::pick_sync_peer`]) and reconciles the SyncIDs ((timestamp, hash)) of its archive in the window
//! `[now - lag - window, now - lag)` with the peer's by range-based set reconciliation
//! ([`rbsr`], `/vac/waku/reconciliation/1.0.0`), then each side sends the messages the other
//! lacks (`/vac/waku/transfer/1.0.0`, one message and its pubsub topic per transfer).
//!
//! Both sides run [`rbsr::respond`] over their real archives, so bytes and round trips come
//! from the data. The initiator records each finished sync ([`SyncRecord`]): payloads, the
//! reconciliation bytes both ways, the transfer bytes both ways, and what a naive exchange of
//! every hash in the window would have cost (each side's window as one item set).
//!
//! Sessions: a node runs at most one sync it started and answers at most `max_sessions` at
//! once (more are refused and counted); a session idle past `session_timeout_s` is abandoned.
//! Messages are stream messages of one connection, delivered in order, so a side's transfers
//! reach the other side before its next reconciliation payload.

pub mod rbsr;

use sim_core::{NodeId, SimDuration, SimTime};

use crate::proto::Io;
use crate::relay::message::varint_len;
use crate::store::archive::Row;
use crate::store::hash::MsgKey;
use crate::store::{Store, StoreCounter, StoreEvent, StoreMsg, unix_ns};
use rbsr::{Payload, RangeKind};

/// Bytes that open a stream for `/vac/waku/reconciliation/1.0.0`: multistream-select's header
/// line (20) and the protocol line (31 + 1). Each side's first payload carries it.
pub const RECON_STREAM_OPEN_BYTES: u32 = 52;
/// Bytes that open a stream for `/vac/waku/transfer/1.0.0` (20 + 25 + 1).
pub const TRANSFER_STREAM_OPEN_BYTES: u32 = 46;

/// A store sync message.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncMsg {
    /// A reconciliation payload.
    Recon(Box<ReconMsg>),
    /// One transferred message.
    Transfer(Box<TransferMsg>),
}

/// A reconciliation payload of a session.
#[derive(Clone, Debug, PartialEq)]
pub struct ReconMsg {
    /// The session (numbered by its initiator).
    pub session: u32,
    /// The session's initiator.
    pub initiator: NodeId,
    /// The payload.
    pub payload: Payload,
    /// Bytes on the wire.
    pub wire: u32,
    /// What the sender's naive exchange of its window would cost (bookkeeping for the
    /// comparison; not on the wire).
    pub naive_bytes: u32,
}

/// One message sent to a peer that lacks it.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferMsg {
    /// Its key.
    pub key: MsgKey,
    /// The message.
    pub row: Row,
    /// Bytes on the wire.
    pub wire: u32,
}

/// A finished sync, as its initiator saw it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SyncRecord {
    /// When it finished.
    pub at: SimTime,
    /// The initiator.
    pub node: NodeId,
    /// The peer.
    pub peer: NodeId,
    /// How long it took.
    pub duration: SimDuration,
    /// Reconciliation payloads, both ways.
    pub payloads: u32,
    /// Reconciliation bytes, both ways.
    pub recon_bytes: u64,
    /// Transfer bytes, both ways.
    pub transfer_bytes: u64,
    /// What exchanging every hash of both windows would have cost.
    pub naive_bytes: u64,
    /// Messages the initiator sent.
    pub sent: u32,
    /// Messages the initiator received.
    pub received: u32,
    /// Items in the initiator's window.
    pub window_items: u32,
}

impl SyncRecord {
    /// Round trips: payloads / 2, rounded up.
    pub fn round_trips(&self) -> u32 {
        self.payloads.div_ceil(2)
    }
}

#[derive(Clone, Debug)]
struct Session {
    peer: NodeId,
    id: u32,
    started: SimTime,
    last: SimTime,
    lo: MsgKey,
    hi: MsgKey,
    first_sent: bool,
    rec: SyncRecord,
}

/// A node's sync sessions.
#[derive(Clone, Debug, Default)]
pub struct SyncState {
    active: Option<Session>,
    answering: Vec<Session>,
    next: u32,
    waiting_peer: Option<NodeId>,
}

fn transfer_bytes(row: &Row, topic_len: u32) -> u32 {
    let ld = |n: u32| 1 + varint_len(n as u64) + n;
    let body = ld(row.data_bytes) + ld(topic_len);
    TRANSFER_STREAM_OPEN_BYTES + varint_len(body as u64) + body
}

impl Store {
    /// Sync sessions this node is answering.
    pub fn sync_sessions(&self) -> usize {
        self.sync.answering.len() + self.sync.active.is_some() as usize
    }

    fn window_keys(&self, lo: MsgKey, hi: MsgKey) -> Vec<MsgKey> {
        self.archive
            .as_ref()
            .map(|a| a.range(lo, hi).map(|(k, _)| *k).collect())
            .unwrap_or_default()
    }

    /// Time to start a sync.
    pub(crate) fn sync_tick(&mut self, ctx: &mut impl Io<Self>) {
        let timeout = SimDuration::from_secs(self.sh.cfg.sync.session_timeout_s);
        if let Some(s) = &self.sync.active {
            if ctx.now().saturating_since(s.last) < timeout {
                return;
            }
            self.sync.active = None;
            ctx.report(StoreEvent::Add(StoreCounter::SyncAbandoned, 1));
        }
        let Some(peer) = self.pick_sync_peer(ctx) else {
            ctx.report(StoreEvent::Add(StoreCounter::SyncNoPeer, 1));
            return;
        };
        if self.conns.binary_search(&peer).is_ok() {
            self.begin_sync(peer, ctx);
        } else {
            self.sync.waiting_peer = Some(peer);
            ctx.dial(peer);
        }
    }

    /// A connection opened: a sync waiting for it starts.
    pub(crate) fn sync_connected(&mut self, peer: NodeId, ctx: &mut impl Io<Self>) {
        if self.sync.waiting_peer == Some(peer) {
            self.sync.waiting_peer = None;
            self.begin_sync(peer, ctx);
        }
    }

    /// A connection closed or a dial failed: its sessions end.
    pub(crate) fn sync_lost(&mut self, peer: NodeId, ctx: &mut impl Io<Self>) {
        let mut n = 0;
        if self.sync.waiting_peer == Some(peer) {
            self.sync.waiting_peer = None;
            ctx.report(StoreEvent::Add(StoreCounter::SyncNoPeer, 1));
        }
        if self.sync.active.as_ref().is_some_and(|s| s.peer == peer) {
            self.sync.active = None;
            n += 1;
        }
        let before = self.sync.answering.len();
        self.sync.answering.retain(|s| s.peer != peer);
        n += before - self.sync.answering.len();
        if n > 0 {
            ctx.report(StoreEvent::Add(StoreCounter::SyncAbandoned, n as u64));
        }
    }

    fn begin_sync(&mut self, peer: NodeId, ctx: &mut impl Io<Self>) {
        let c = &self.sh.cfg.sync;
        let now = ctx.now();
        let hi = MsgKey::at(unix_ns(now).saturating_sub(c.lag_s * 1_000_000_000));
        let lo = MsgKey::at(hi.ts.saturating_sub(c.window_s * 1_000_000_000));
        let keys = self.window_keys(lo, hi);
        let payload = rbsr::initiate(&keys, lo, hi);
        let naive = rbsr::naive_bytes(&keys, lo, hi);
        self.sync.next = self.sync.next.wrapping_add(1);
        let mut s = Session {
            peer,
            id: self.sync.next,
            started: now,
            last: now,
            lo,
            hi,
            first_sent: false,
            rec: SyncRecord {
                at: now,
                node: self.me,
                peer,
                duration: SimDuration::ZERO,
                payloads: 0,
                recon_bytes: 0,
                transfer_bytes: 0,
                naive_bytes: naive as u64,
                sent: 0,
                received: 0,
                window_items: keys.len() as u32,
            },
        };
        send_payload(&mut s, self.me, payload, naive, ctx);
        self.sync.active = Some(s);
        ctx.report(StoreEvent::Add(StoreCounter::SyncStarted, 1));
    }

    /// A store sync message arrived.
    pub(crate) fn on_sync(&mut self, from: NodeId, msg: SyncMsg, ctx: &mut impl Io<Self>) {
        match msg {
            SyncMsg::Transfer(t) => {
                if let Some(s) = self.sync.active.as_mut().filter(|s| s.peer == from) {
                    s.rec.received += 1;
                    s.rec.transfer_bytes += t.wire as u64;
                }
                self.insert(t.key, t.row, StoreCounter::SyncInserted, ctx);
            }
            SyncMsg::Recon(r) => {
                if self.archive.is_none() {
                    return;
                }
                if r.initiator == self.me {
                    let Some(mut s) = self
                        .sync
                        .active
                        .take()
                        .filter(|s| s.peer == from && s.id == r.session)
                    else {
                        return; // a session abandoned meanwhile
                    };
                    if self.step(&mut s, &r, ctx) {
                        s.rec.at = ctx.now();
                        s.rec.duration = ctx.now().saturating_since(s.started);
                        ctx.report(StoreEvent::Synced(s.rec));
                        ctx.report(StoreEvent::Add(StoreCounter::SyncCompleted, 1));
                    } else {
                        self.sync.active = Some(s);
                    }
                } else {
                    let now = ctx.now();
                    let timeout = SimDuration::from_secs(self.sh.cfg.sync.session_timeout_s);
                    self.sync
                        .answering
                        .retain(|s| now.saturating_since(s.last) < timeout);
                    let pos = self
                        .sync
                        .answering
                        .iter()
                        .position(|s| s.peer == from && s.id == r.session);
                    let mut s = match pos {
                        Some(i) => self.sync.answering.remove(i),
                        None => {
                            if self.sync.answering.len() >= self.sh.cfg.sync.max_sessions as usize {
                                ctx.report(StoreEvent::Add(StoreCounter::SyncRefused, 1));
                                return;
                            }
                            let hi = r.payload.ranges.last().map_or(r.payload.lower, |x| x.upper);
                            Session {
                                peer: from,
                                id: r.session,
                                started: now,
                                last: now,
                                lo: r.payload.lower,
                                hi,
                                first_sent: false,
                                rec: SyncRecord {
                                    at: now,
                                    node: self.me,
                                    peer: from,
                                    duration: SimDuration::ZERO,
                                    payloads: 0,
                                    recon_bytes: 0,
                                    transfer_bytes: 0,
                                    naive_bytes: 0,
                                    sent: 0,
                                    received: 0,
                                    window_items: 0,
                                },
                            }
                        }
                    };
                    if !self.step(&mut s, &r, ctx) {
                        self.sync.answering.push(s);
                    }
                }
            }
        }
    }

    /// Handles a payload of session `s`; returns true when the session is over.
    fn step(&mut self, s: &mut Session, r: &ReconMsg, ctx: &mut impl Io<Self>) -> bool {
        s.last = ctx.now();
        s.rec.payloads += 1;
        s.rec.recon_bytes += r.wire as u64;
        s.rec.naive_bytes += r.naive_bytes as u64;
        let keys = self.window_keys(s.lo, s.hi);
        let step = rbsr::respond(&keys, &r.payload, self.sh.rbsr);
        for k in &step.they_need {
            let Some(row) = self.archive.as_ref().and_then(|a| a.get(k)).copied() else {
                continue;
            };
            let wire = transfer_bytes(&row, self.sh.topic_len(row.topic));
            s.rec.sent += 1;
            s.rec.transfer_bytes += wire as u64;
            ctx.send(
                s.peer,
                StoreMsg::Sync(SyncMsg::Transfer(Box::new(TransferMsg {
                    key: *k,
                    row,
                    wire,
                }))),
            );
        }
        let Some(reply) = step.reply else {
            return true;
        };
        let done = reply.ranges.iter().all(|x| x.kind == RangeKind::Skip);
        let naive = if s.first_sent {
            0
        } else {
            rbsr::naive_bytes(&keys, s.lo, s.hi)
        };
        let initiator = if r.initiator == self.me {
            self.me
        } else {
            r.initiator
        };
        send_payload(s, initiator, reply, naive, ctx);
        done
    }
}

/// Sends a payload of session `s` (the stream's opening with the first).
fn send_payload(
    s: &mut Session,
    initiator: NodeId,
    payload: Payload,
    naive: u32,
    ctx: &mut impl Io<Store>,
) {
    let mut wire = rbsr::payload_bytes(&payload);
    if !s.first_sent {
        wire += RECON_STREAM_OPEN_BYTES;
        s.first_sent = true;
    }
    s.rec.payloads += 1;
    s.rec.recon_bytes += wire as u64;
    ctx.send(
        s.peer,
        StoreMsg::Sync(SyncMsg::Recon(Box::new(ReconMsg {
            session: s.id,
            initiator,
            payload,
            wire,
            naive_bytes: naive,
        }))),
    );
}
