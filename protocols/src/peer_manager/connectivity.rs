//! The connectivity loop (nwaku's `connectivityLoop` / `manageRelayPeers`): its timers, the
//! dial batches with their pause and timeout, pruning inbound relay peers above the target,
//! the store's pruning, and how long the loop sleeps.

use sim_core::{NodeId, SimDuration, SimTime};

use super::*;

impl PeerManager {
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

    pub(super) fn is_connected(&self, p: NodeId) -> bool {
        self.conn_pos(p).is_ok()
    }

    /// Store peers that may be dialled now, ascending: not connected, not being dialled,
    /// outside their backoff, running relay.
    pub(super) fn connectable(&self, now: SimTime, shard: Option<u16>) -> Vec<NodeId> {
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

    pub(super) fn prune_in_relay(&mut self, amount: u32, ctx: &mut impl Io<PeerManager>) {
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

    pub(super) fn run_loop(&mut self, ctx: &mut impl Io<PeerManager>) {
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
    pub(super) fn connect_to_relay_peers(&mut self, ctx: &mut impl Io<PeerManager>) {
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
    pub(super) fn manage_relay_peers(&mut self, ctx: &mut impl Io<PeerManager>) {
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

    pub(super) fn dial_batches(
        &mut self,
        queue: Vec<NodeId>,
        bounded: bool,
        ctx: &mut impl Io<PeerManager>,
    ) {
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

    pub(super) fn next_batch(&mut self, ctx: &mut impl Io<PeerManager>) {
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

    pub(super) fn after_dial_outcome(&mut self, ctx: &mut impl Io<PeerManager>) {
        if let Phase::Dialing { pending: 0, .. } = self.phase {
            self.batch_done(ctx);
        }
    }

    /// Every dial of the batch ended: pause (nwaku `connectToNodes` sleeps 5 s).
    pub(super) fn batch_done(&mut self, ctx: &mut impl Io<PeerManager>) {
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

    pub(super) fn after_pause(&mut self, ctx: &mut impl Io<PeerManager>) {
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

    pub(super) fn dial_timeout(&mut self, b: u32, ctx: &mut impl Io<PeerManager>) {
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
    pub(super) fn sleep(&mut self, ctx: &mut impl Io<PeerManager>) {
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
}
