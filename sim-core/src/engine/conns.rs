//! Connections and dials: opening, closing and the dial handshake.

use super::Engine;
use super::events::{Ev, Notice};
use super::links::Conn;
use super::state::{Core, mix};
use crate::NodeId;
use crate::error::SimError;
use crate::memory::insert_tight;
use crate::node::{CloseReason, Ctx, DialError, Input, Node, Payload};
use crate::time::SimTime;

pub(super) struct Dial {
    pub(super) from: NodeId,
    pub(super) to: NodeId,
    pub(super) from_incarnation: u32,
    /// When the dial was made: a timeout is counted from here.
    pub(super) started: SimTime,
    pub(super) conn: u64,
    pub(super) result: Option<DialError>,
}

impl<M: Payload, T> Core<M, T> {
    pub(crate) fn dial(&mut self, from: NodeId, to: NodeId) -> Result<(), SimError> {
        self.check_active("dial");
        self.check_node("dial target", to)?;
        if from == to {
            return Err(SimError::SelfTarget {
                node: from,
                what: "dial",
            });
        }
        let one_way = self.latency.latency(from, to);
        let from_incarnation = self.nodes[from.index()].incarnation;
        let already = self.conn_index(from, to).is_some();
        let dial = self.dials.insert(Dial {
            from,
            to,
            from_incarnation,
            started: self.now,
            conn: 0,
            result: already.then_some(DialError::AlreadyConnected),
        });
        if already {
            self.schedule(self.now, Ev::DialDone { dial });
            return Ok(());
        }
        let rtts = self.net.dial_round_trips.max(1) as u64;
        let handshake = one_way.saturating_mul(2 * rtts);
        let reach = self.now + handshake.saturating_sub(one_way);
        self.schedule(reach, Ev::DialReach { dial });
        Ok(())
    }

    fn insert_conn(&mut self, node: NodeId, conn: Conn) {
        let n = &mut self.nodes[node.index()];
        let pos = n
            .conn_keys
            .binary_search_by_key(&conn.peer.0, |k| (k >> 32) as u32)
            .expect_err("no duplicate connection to one peer");
        insert_tight(
            &mut n.conn_keys,
            pos,
            (conn.peer.0 as u64) << 32 | conn.id as u64,
        );
        insert_tight(&mut n.conns, pos, conn);
    }

    pub(super) fn remove_conn(&mut self, node: NodeId, peer: NodeId) -> Option<Conn> {
        let i = self.conn_index(node, peer)?;
        let n = &mut self.nodes[node.index()];
        n.conn_keys.remove(i);
        let c = n.conns.remove(i);
        self.conn_alive[c.id as usize] = false;
        if !n.pending.is_empty() {
            self.drop_pending(node, c.id);
        }
        Some(c)
    }

    /// A fresh connection id, marked open.
    fn new_conn_id(&mut self) -> u64 {
        let id = self.next_conn;
        self.next_conn += 1;
        debug_assert_eq!(self.conn_alive.len() as u64, id);
        self.conn_alive.push(true);
        if let Some(p) = &self.tcp {
            let f = p.flow(self.now);
            self.flows.extend([f, f]);
        }
        id
    }

    /// Closes the connection between `node` and `peer`; `reason` is as seen by `node`.
    pub(crate) fn close(&mut self, node: NodeId, peer: NodeId, reason: CloseReason) -> bool {
        self.check_active("disconnect");
        let Some(mine) = self.remove_conn(node, peer) else {
            return false;
        };
        let theirs = self.remove_conn(peer, node);
        let their_reason = match reason {
            CloseReason::Local => CloseReason::Remote,
            r => r,
        };
        if mine.announced {
            self.notify_down(node, peer, reason);
        }
        if theirs.is_some_and(|c| c.announced) {
            self.notify_down(peer, node, their_reason);
        }
        true
    }

    pub(super) fn notify_down(&mut self, node: NodeId, peer: NodeId, reason: CloseReason) {
        let notice = self.notices.insert(Notice {
            node,
            peer,
            reason: Some(reason),
            outbound: false,
        });
        self.schedule(self.now, Ev::ConnDown { notice });
    }
}

impl<N: Node> Engine<N> {
    /// Opens a connection between `a` and `b` at once, without a dial (for statically wired
    /// overlays built before the run). Both sides get [`Input::ConnectionUp`] as events at the
    /// current time (after any start events already queued); `a` is the outbound side.
    pub fn connect_now(&mut self, a: NodeId, b: NodeId) -> Result<(), SimError> {
        self.core.check_node("connect_now", a)?;
        self.core.check_node("connect_now", b)?;
        if a == b {
            return Err(SimError::SelfTarget {
                node: a,
                what: "connect to",
            });
        }
        if self.core.conn_index(a, b).is_some() {
            return Ok(());
        }
        let id = self.core.new_conn_id();
        let conn = |peer, outbound| Conn {
            peer,
            id: u32::try_from(id).expect("fewer than 2^32 connections in a run"),
            outbound,
            announced: true,
            last_first: SimTime::ZERO,
            last_last: SimTime::ZERO,
        };
        self.core.insert_conn(a, conn(b, true));
        self.core.insert_conn(b, conn(a, false));
        for (node, peer, outbound) in [(a, b, true), (b, a, false)] {
            let notice = self.core.notices.insert(Notice {
                node,
                peer,
                reason: None,
                outbound,
            });
            let now = self.core.now;
            self.core.schedule(now, Ev::ConnDown { notice });
        }
        Ok(())
    }

    pub(super) fn dial_reach(&mut self, idx: u32) {
        let d = self.core.dials.get(idx);
        let (from, to) = (d.from, d.to);
        let one_way = self.core.latency.latency(to, from);
        let dialer = &self.core.nodes[from.index()];
        let dialer_gone = !dialer.online || dialer.incarnation != d.from_incarnation;
        if dialer_gone {
            self.core.dials.take(idx);
            return;
        }
        let target_online = self.core.nodes[to.index()].online;
        if !target_online || !self.core.reachable(from, to) {
            self.core.dials.get_mut(idx).result = Some(DialError::Timeout);
            // The dialer waits out its timeout, counted from when it dialled.
            let started = self.core.dials.get(idx).started;
            let at = (started + self.core.net.dial_timeout).max(self.core.now);
            self.core.schedule(at, Ev::DialDone { dial: idx });
            return;
        }
        if self.core.conn_index(to, from).is_some() {
            self.core.dials.get_mut(idx).result = Some(DialError::AlreadyConnected);
            self.core
                .schedule(self.core.now + one_way, Ev::DialDone { dial: idx });
            return;
        }
        self.catch_up(to);
        let accepted = {
            let core = &mut self.core;
            core.events += 1;
            core.hash = mix(mix(mix(core.hash, core.now.as_nanos()), to.0 as u64), 5);
            let mut ctx = Ctx {
                core,
                node: to,
                observer: &mut self.observer,
            };
            self.nodes[to.index()].accept_inbound(from, &mut ctx)
        };
        // The handler may have closed or opened connections; re-check.
        if !accepted
            || self.core.conn_index(to, from).is_some()
            || !self.core.nodes[to.index()].online
        {
            self.core.dials.get_mut(idx).result = Some(if accepted {
                DialError::AlreadyConnected
            } else {
                DialError::Refused
            });
            self.core
                .schedule(self.core.now + one_way, Ev::DialDone { dial: idx });
            return;
        }
        let id = self.core.new_conn_id();
        self.core.dials.get_mut(idx).conn = id;
        let conn = |peer, outbound, announced| Conn {
            peer,
            id: u32::try_from(id).expect("fewer than 2^32 connections in a run"),
            outbound,
            announced,
            last_first: SimTime::ZERO,
            last_last: SimTime::ZERO,
        };
        self.core.insert_conn(from, conn(to, true, false));
        self.core.insert_conn(to, conn(from, false, true));
        self.core
            .schedule(self.core.now + one_way, Ev::DialDone { dial: idx });
        self.call(
            to,
            6,
            Input::ConnectionUp {
                peer: from,
                outbound: false,
            },
        );
    }

    pub(super) fn dial_done(&mut self, idx: u32) {
        let d = self.core.dials.take(idx);
        let dialer = &self.core.nodes[d.from.index()];
        if !dialer.online || dialer.incarnation != d.from_incarnation {
            return;
        }
        if let Some(reason) = d.result {
            self.call(d.from, 8, Input::DialFailed { peer: d.to, reason });
            return;
        }
        match self.core.conn_index(d.from, d.to) {
            Some(i) if self.core.nodes[d.from.index()].conns[i].id as u64 == d.conn => {
                self.core.nodes[d.from.index()].conns[i].announced = true;
                self.call(
                    d.from,
                    6,
                    Input::ConnectionUp {
                        peer: d.to,
                        outbound: true,
                    },
                );
            }
            _ => self.call(
                d.from,
                8,
                Input::DialFailed {
                    peer: d.to,
                    reason: DialError::ClosedDuringHandshake,
                },
            ),
        }
    }
}
