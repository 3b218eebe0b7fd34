//! The peer manager driven directly, without the engine, through a small builder. Expected
//! numbers are derived in the comments from nwaku's rules and defaults (50 connections, 30
//! relay slots, outbound target 10, inbound target 20).

use std::rc::Rc;

use sim_core::{DialError, NodeId, SimDuration, SimTime};

use super::*;
use crate::discovery::{FoundPeer, PeerOrigin};
use crate::peer_manager::metadata::{MetadataKind, MetadataMsg};
use crate::testing::Recorder;

/// The one recorder of every protocol's tests.
type TestCtx = Recorder<PeerManager>;

/// Counts of reported events of one kind.
fn count(ctx: &TestCtx, c: PmCounter) -> usize {
    ctx.events.iter().filter(|&&x| x == c).count()
}

/// Node 0 with a peer store of `known` peers (ids 1..=known), all relay, all on shard 0.
struct Builder {
    cfg: PeerManagerConfig,
    known: u32,
    nodes: u32,
    my_shards: Vec<u16>,
    peer_shards: Vec<u16>,
    clusters: Vec<u16>,
    ip_groups: Vec<u32>,
}

impl Builder {
    fn new(known: u32) -> Self {
        Builder {
            cfg: PeerManagerConfig::default(),
            known,
            nodes: 200,
            my_shards: vec![0],
            peer_shards: vec![0],
            clusters: Vec::new(),
            ip_groups: Vec::new(),
        }
    }
    fn cfg(mut self, f: impl FnOnce(&mut PeerManagerConfig)) -> Self {
        f(&mut self.cfg);
        self
    }
    fn shards(mut self, mine: &[u16], peers: &[u16]) -> Self {
        self.my_shards = mine.to_vec();
        self.peer_shards = peers.to_vec();
        self
    }
    fn build(self) -> (PeerManager, TestCtx) {
        self.cfg.validate(8).unwrap();
        let mut shards: Vec<Rc<[u16]>> = vec![self.peer_shards.clone().into(); self.nodes as usize];
        shards[0] = self.my_shards.clone().into();
        let mut sh = PmShared::new(self.cfg, 1, shards);
        sh.clusters = self.clusters;
        sh.ip_groups = self.ip_groups;
        let sh = Rc::new(sh);
        let mut pm = PeerManager::new(sh.clone(), NodeId(0), sh.shards[0].clone());
        let mut ctx = TestCtx::new(NodeId(0), SimTime::from_secs(100), "test");
        let found: Vec<FoundPeer> = (1..=self.known)
            .map(|i| FoundPeer {
                id: NodeId(i),
                origin: PeerOrigin::Bootstrap,
            })
            .collect();
        pm.start(false, &found, &mut ctx);
        (pm, ctx)
    }
}

fn response(cluster: Option<u16>, shards: &[u16]) -> PmMsg {
    PmMsg::Metadata(Box::new(MetadataMsg::new(
        MetadataKind::Response,
        cluster,
        shards.into(),
    )))
}

/// Runs the pending Loop timer (advancing the clock to it).
fn run_loop(pm: &mut PeerManager, ctx: &mut TestCtx) {
    let (at, t) = ctx
        .take_timer(|t| *t == PmTimer::Loop)
        .expect("a loop timer is pending");
    ctx.now = ctx.now.max(at);
    pm.handle_timer(t, &[], ctx);
}

/// Connects every pending dial (outbound) and answers their metadata with `shards`.
fn connect_dials(pm: &mut PeerManager, ctx: &mut TestCtx, shards: &[u16]) {
    for p in std::mem::take(&mut ctx.dials) {
        pm.on_connection_up(p, true, ctx);
        pm.on_message(p, response(Some(1), shards), ctx);
    }
}

/// An inbound peer connects and passes metadata.
fn inbound(pm: &mut PeerManager, ctx: &mut TestCtx, p: u32) {
    assert!(pm.accept_inbound(NodeId(p), ctx));
    pm.on_connection_up(NodeId(p), false, ctx);
    pm.on_message(NodeId(p), response(Some(1), &[0]), ctx);
}

#[test]
fn reaches_the_outbound_target_in_one_loop_run_and_never_more() {
    let (mut pm, mut ctx) = Builder::new(40).build();
    run_loop(&mut pm, &mut ctx);
    // 40 connectable peers, target 10: one batch of min(10, 10) = 10 dials.
    assert_eq!(ctx.dials.len(), 10);
    assert_eq!(pm.counts().dialing, 10);
    connect_dials(&mut pm, &mut ctx, &[0]);
    assert_eq!(pm.counts().out_relay, 10);
    // The batch is done: a 5 s pause, then the loop sleeps the full 30 s (10 / 10 out).
    let (at, t) = ctx.take_timer(|t| *t == PmTimer::BatchPause).unwrap();
    assert_eq!(at, ctx.now + SimDuration::from_secs(5));
    ctx.now = at;
    pm.handle_timer(t, &[], &mut ctx);
    let (at, _) = ctx.timers.iter().find(|t| t.1 == PmTimer::Loop).unwrap();
    assert_eq!(*at, ctx.now + SimDuration::from_secs(30));
    run_loop(&mut pm, &mut ctx);
    assert!(ctx.dials.is_empty(), "target met: no more dials");
    assert_eq!(pm.counts().out_relay, 10);
}

#[test]
fn failed_dials_are_retried_in_later_batches_until_the_target() {
    let (mut pm, mut ctx) = Builder::new(40).build();
    run_loop(&mut pm, &mut ctx);
    // Half the batch fails: 5 connections. The pause ends, the queue (10 long) is used up,
    // so the loop sleeps 30 x 5 / 10 = 15 s, then dials 5 more.
    let dials = std::mem::take(&mut ctx.dials);
    for (k, p) in dials.into_iter().enumerate() {
        if k % 2 == 0 {
            pm.on_dial_failed(p, DialError::Refused, &mut ctx);
        } else {
            pm.on_connection_up(p, true, &mut ctx);
            pm.on_message(p, response(Some(1), &[0]), &mut ctx);
        }
    }
    assert_eq!(pm.counts().out_relay, 5);
    let (at, t) = ctx.take_timer(|t| *t == PmTimer::BatchPause).unwrap();
    ctx.now = at;
    pm.handle_timer(t, &[], &mut ctx);
    let (at, _) = *ctx.timers.iter().find(|t| t.1 == PmTimer::Loop).unwrap();
    assert_eq!(at, ctx.now + SimDuration::from_secs(15));
    run_loop(&mut pm, &mut ctx);
    assert_eq!(ctx.dials.len(), 5);
    // The failed peers are in backoff and not among them.
    for p in &ctx.dials {
        assert_eq!(pm.store().get(*p).unwrap().failures, 0);
    }
    connect_dials(&mut pm, &mut ctx, &[0]);
    assert_eq!(pm.counts().out_relay, 10);
}

#[test]
fn never_exceeds_max_connections_and_refuses_inbound_beyond() {
    let (mut pm, mut ctx) = Builder::new(40).build();
    run_loop(&mut pm, &mut ctx);
    // 10 dials in progress hold 10 slots: 40 inbound fit, the 41st is refused.
    for p in 100..140 {
        assert!(pm.accept_inbound(NodeId(p), &mut ctx), "{p}");
        pm.on_connection_up(NodeId(p), false, &mut ctx);
    }
    assert!(!pm.accept_inbound(NodeId(140), &mut ctx));
    assert_eq!(count(&ctx, PmCounter::InboundRefused), 1);
    let c = pm.counts();
    assert_eq!(c.inbound + c.outbound + c.dialing, 50);
}

#[test]
fn inbound_relay_peers_beyond_the_target_are_disconnected_on_join() {
    let (mut pm, mut ctx) = Builder::new(0).build();
    // 20 inbound relay peers fit the inbound target; the 21st is disconnected once its
    // metadata is in.
    for p in 1..=20 {
        inbound(&mut pm, &mut ctx, p);
    }
    assert!(ctx.disconnects.is_empty());
    inbound(&mut pm, &mut ctx, 21);
    assert_eq!(ctx.disconnects, vec![NodeId(21)]);
    assert_eq!(count(&ctx, PmCounter::InRelayExcess), 1);
}

#[test]
fn the_loop_prunes_inbound_excess_and_sleeps_shorter() {
    let (mut pm, mut ctx) = Builder::new(0).build();
    // 25 inbound peers connect without finishing metadata (so no join check ran).
    for p in 1..=25 {
        pm.on_connection_up(NodeId(p), false, &mut ctx);
    }
    // Before pruning: out 0 -> outFactor 0 -> 1 s (the minimum).
    assert_eq!(pm.loop_sleep(), SimDuration::from_secs(1));
    run_loop(&mut pm, &mut ctx);
    // 25 - 20 = 5 pruned.
    assert_eq!(ctx.disconnects.len(), 5);
    assert_eq!(count(&ctx, PmCounter::InRelayPruned), 5);
}

#[test]
fn loop_sleep_scales_with_the_missing_peers() {
    let (mut pm, mut ctx) = Builder::new(0).build();
    for p in 1..=7 {
        pm.on_connection_up(NodeId(p), true, &mut ctx);
    }
    // out 7 / 10: floor(30 x 7 / 10) = 21 s.
    assert_eq!(pm.loop_sleep(), SimDuration::from_secs(21));
    for p in 8..=10 {
        pm.on_connection_up(NodeId(p), true, &mut ctx);
    }
    for p in 11..=36 {
        pm.on_connection_up(NodeId(p), false, &mut ctx);
    }
    // out 10/10 -> 30; in 26, excess 6 of 20: floor(30 x 14 / 20) = 21 s.
    assert_eq!(pm.loop_sleep(), SimDuration::from_secs(21));
}

#[test]
fn a_cluster_mismatch_or_an_empty_cluster_disconnects_and_forgets() {
    let (mut pm, mut ctx) = Builder::new(5).build();
    pm.on_connection_up(NodeId(1), false, &mut ctx);
    // Our request names our cluster (1) and shards.
    let (to, req) = ctx.sent.last().unwrap();
    assert_eq!(*to, NodeId(1));
    match req {
        PmMsg::Metadata(m) => {
            assert_eq!((m.kind, m.cluster), (MetadataKind::Request, Some(1)));
            assert_eq!(&*m.shards, &[0]);
        }
        other => panic!("{other:?}"),
    }
    pm.on_message(NodeId(1), response(Some(2), &[0]), &mut ctx);
    assert_eq!(ctx.disconnects, vec![NodeId(1)]);
    assert!(!pm.store().contains(NodeId(1)));
    assert_eq!(count(&ctx, PmCounter::ClusterMismatch), 1);
    pm.on_connection_down(NodeId(1), &mut ctx);

    pm.on_connection_up(NodeId(2), true, &mut ctx);
    pm.on_message(NodeId(2), response(None, &[0]), &mut ctx);
    assert_eq!(ctx.disconnects, vec![NodeId(1), NodeId(2)]);
    assert_eq!(count(&ctx, PmCounter::EmptyCluster), 1);

    // Same cluster, no common shard: also dropped (nwaku); a common shard keeps it.
    pm.on_connection_up(NodeId(3), true, &mut ctx);
    pm.on_message(NodeId(3), response(Some(1), &[7]), &mut ctx);
    assert_eq!(count(&ctx, PmCounter::NoCommonShard), 1);
    pm.on_connection_up(NodeId(4), true, &mut ctx);
    pm.on_message(NodeId(4), response(Some(1), &[0, 7]), &mut ctx);
    assert_eq!(ctx.disconnects.len(), 3);
    assert!(
        pm.connections()
            .iter()
            .any(|c| c.peer == NodeId(4) && c.joined)
    );
}

#[test]
fn answers_metadata_requests_and_pings() {
    let (mut pm, mut ctx) = Builder::new(0).shards(&[3, 9], &[3]).build();
    pm.on_connection_up(NodeId(1), false, &mut ctx);
    ctx.sent.clear();
    let req = MetadataMsg::new(MetadataKind::Request, Some(1), Rc::from(&[3u16][..]));
    pm.on_message(NodeId(1), PmMsg::Metadata(Box::new(req)), &mut ctx);
    match &ctx.sent[0] {
        (p, PmMsg::Metadata(m)) => {
            assert_eq!(*p, NodeId(1));
            assert_eq!((m.kind, m.cluster), (MetadataKind::Response, Some(1)));
            assert_eq!(&*m.shards, &[3, 9]);
        }
        other => panic!("{other:?}"),
    }
    pm.on_message(NodeId(1), PmMsg::Ping(PingMsg::Request), &mut ctx);
    assert_eq!(ctx.sent[1], (NodeId(1), PmMsg::Ping(PingMsg::Response)));
}

#[test]
fn dial_backoff_grows_120_480_1920_s_and_the_peer_is_pruned_after_5_failures() {
    let (mut pm, mut ctx) = Builder::new(1).build();
    let p = NodeId(1);
    let t0 = ctx.now;
    // Backoffs after failures 1..4: 120, 480, 1920, 7680 s.
    let mut t = t0;
    for (n, wait) in [(1u32, 120u64), (2, 480), (3, 1920), (4, 7680)] {
        ctx.now = t;
        pm.store.dial_failed(p, t);
        let e = pm.store().get(p).unwrap().clone();
        assert_eq!(e.failures, n);
        let just_before = t + SimDuration::from_nanos(wait * 1_000_000_000 - 1);
        assert!(!pm.can_be_connected(&e, just_before), "failure {n}");
        assert!(
            pm.can_be_connected(&e, t + SimDuration::from_secs(wait)),
            "failure {n}"
        );
        t += SimDuration::from_secs(wait);
    }
    // The fifth failure: never again, whatever the wait.
    pm.store.dial_failed(p, t);
    let e = pm.store().get(p).unwrap().clone();
    assert!(!pm.can_be_connected(&e, t + SimDuration::from_secs(1_000_000)));
    // The next pruning removes it.
    let (at, timer) = ctx.take_timer(|t| *t == PmTimer::Prune).unwrap();
    assert_eq!(at, t0 + SimDuration::from_secs(600));
    pm.handle_timer(timer, &[], &mut ctx);
    assert!(!pm.store().contains(p));
    assert_eq!(count(&ctx, PmCounter::StorePruned), 1);
}

#[test]
fn a_failed_dial_in_the_loop_sets_the_backoff() {
    let (mut pm, mut ctx) = Builder::new(1).build();
    run_loop(&mut pm, &mut ctx);
    assert_eq!(ctx.dials, vec![NodeId(1)]);
    ctx.dials.clear();
    pm.on_dial_failed(NodeId(1), DialError::Timeout, &mut ctx);
    let (at, t) = ctx.take_timer(|t| *t == PmTimer::BatchPause).unwrap();
    ctx.now = at;
    pm.handle_timer(t, &[], &mut ctx);
    // No peer left: the loop runs every second (out 0 -> the 1 s minimum) but the peer is
    // in its 120 s backoff; it is dialled again at the first run after the backoff.
    let failed_at = pm.store().get(NodeId(1)).unwrap().last_failed;
    let mut runs = 0;
    while ctx.dials.is_empty() {
        run_loop(&mut pm, &mut ctx);
        runs += 1;
    }
    // From failed_at + 5 s (pause) to failed_at + 120 s: about 115 runs of 1 s.
    assert!((114..=116).contains(&runs), "{runs}");
    assert!(ctx.now >= failed_at + SimDuration::from_secs(120));
    assert!(ctx.now < failed_at + SimDuration::from_secs(122));
}

#[test]
fn dials_that_outlast_the_timeout_fail_and_late_connections_are_closed() {
    let (mut pm, mut ctx) = Builder::new(3).build();
    run_loop(&mut pm, &mut ctx);
    assert_eq!(ctx.dials.len(), 3);
    let (at, t) = ctx
        .take_timer(|t| matches!(t, PmTimer::DialTimeout(_)))
        .unwrap();
    assert_eq!(at, ctx.now + SimDuration::from_secs(10));
    ctx.now = at;
    pm.handle_timer(t, &[], &mut ctx);
    assert_eq!(count(&ctx, PmCounter::DialTimeouts), 3);
    assert_eq!(pm.counts().dialing, 0);
    pm.on_connection_up(NodeId(1), true, &mut ctx);
    assert_eq!(ctx.disconnects, vec![NodeId(1)]);
    assert!(ctx.take_timer(|t| *t == PmTimer::BatchPause).is_some());
}

#[test]
fn colocation_limit_drops_the_oldest_peers_behind_one_address() {
    let mut b = Builder::new(0);
    // Nodes 1..=7 share address 42.
    b.ip_groups = (0..200)
        .map(|i| if (1..=7).contains(&i) { 42 } else { i })
        .collect();
    let (mut pm, mut ctx) = b.build();
    for p in 1..=5 {
        inbound(&mut pm, &mut ctx, p);
    }
    assert!(ctx.disconnects.is_empty());
    // The sixth behind the address pushes out the oldest (1); the seventh, the next (2).
    inbound(&mut pm, &mut ctx, 6);
    assert_eq!(ctx.disconnects, vec![NodeId(1)]);
    pm.on_connection_down(NodeId(1), &mut ctx);
    inbound(&mut pm, &mut ctx, 7);
    assert_eq!(ctx.disconnects, vec![NodeId(1), NodeId(2)]);
    assert!(!pm.store().contains(NodeId(1)));
    assert_eq!(count(&ctx, PmCounter::ColocationDisconnect), 2);
}

#[test]
fn shard_manager_targets_split_by_shard() {
    // Node 0 on shards 0 and 1; peers 1..=20 on shard 0, 21..=40 on shard 1.
    let (mut pm, mut ctx) = Builder::new(40)
        .cfg(|c| c.sharded_peer_management = true)
        .shards(&[0, 1], &[0])
        .build();
    for p in 21..=40 {
        pm.store.set_shards(NodeId(p), Rc::from(&[1u16][..]));
    }
    run_loop(&mut pm, &mut ctx);
    // Out target 10 / 2 shards = 5 per shard: 5 dials on each, 10 in all (one batch).
    let on0 = ctx.dials.iter().filter(|p| p.0 <= 20).count();
    assert_eq!((ctx.dials.len(), on0), (10, 5));
    // Three shards: 10 / 3 = 3 per shard (integer division).
    let (mut pm3, mut ctx3) = Builder::new(30)
        .cfg(|c| c.sharded_peer_management = true)
        .shards(&[0, 1, 2], &[0])
        .build();
    for p in 1..=30 {
        pm3.store
            .set_shards(NodeId(p), Rc::from(&[((p - 1) / 10) as u16][..]));
    }
    run_loop(&mut pm3, &mut ctx3);
    assert_eq!(ctx3.dials.len(), 9);
}

#[test]
fn keepalive_pings_mesh_first_and_every_outbound_peer_every_12th_round() {
    let (mut pm, mut ctx) = Builder::new(0).build();
    for p in 1..=15 {
        pm.on_connection_up(NodeId(p), true, &mut ctx);
    }
    for p in 16..=20 {
        pm.on_connection_up(NodeId(p), false, &mut ctx);
    }
    ctx.sent.clear();
    let mesh = [NodeId(3), NodeId(16)];
    // Rounds 1..=11 ping 10 peers (the 2 mesh peers, 8 random outbound ones); round 12 pings
    // all 15 outbound peers (120 s / 10 s = 12).
    for round in 1..=12 {
        let (at, t) = ctx.take_timer(|t| *t == PmTimer::Keepalive).unwrap();
        ctx.now = at;
        pm.handle_timer(t, &mesh, &mut ctx);
        let pinged: Vec<NodeId> = ctx.sent.drain(..).map(|(p, _)| p).collect();
        if round < 12 {
            assert_eq!(pinged.len(), 10, "round {round}");
            assert!(pinged.contains(&NodeId(3)) && pinged.contains(&NodeId(16)));
        } else {
            assert_eq!(pinged, (1..=15).map(NodeId).collect::<Vec<_>>());
        }
    }
    assert_eq!(count(&ctx, PmCounter::Pings), 11 * 10 + 15);
}

#[test]
fn restart_empties_or_keeps_the_store() {
    let (mut pm, mut ctx) = Builder::new(5).build();
    pm.store.dial_failed(NodeId(1), ctx.now);
    pm.on_connection_up(NodeId(9), false, &mut ctx);
    pm.start(true, &[], &mut ctx);
    assert!(pm.store().is_empty() && pm.connections().is_empty());
    let (mut pm, mut ctx) = Builder::new(5)
        .cfg(|c| c.restart_store = RestartStore::Keep)
        .build();
    pm.store.dial_failed(NodeId(1), ctx.now);
    pm.start(true, &[], &mut ctx);
    assert_eq!(pm.store().len(), 5);
    assert_eq!(pm.store().get(NodeId(1)).unwrap().failures, 0);
}
