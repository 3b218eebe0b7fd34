//! The peer manager's connections: the inbound decision, connection up / down, failed dials,
//! and the metadata exchange on every new connection (nwaku's `onPeerEvent` and
//! `waku_metadata`), dropping peers of another cluster or without shards.

use sim_core::{DialError, NodeId};

use super::*;

impl PeerManager {
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

    pub(super) fn conn_pos(&self, peer: NodeId) -> Result<usize, usize> {
        self.conns.binary_search_by_key(&peer, |c| c.peer)
    }

    /// Removes `peer` from the dials in progress; returns whether it was one.
    pub(super) fn end_dial(&mut self, peer: NodeId) -> bool {
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
            && self.store.add(
                peer,
                PeerOrigin::Inbound,
                self.sh.shards_of(peer),
                self.sh.is_relay(peer),
            ) == Stored::Full
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

    pub(super) fn drop_after_metadata(
        &mut self,
        peer: NodeId,
        v: Verdict,
        ctx: &mut impl Io<PeerManager>,
    ) {
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
    pub(super) fn on_metadata_response(
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
}
