//! One node's relay driven directly, without the engine, through a small builder (in the
//! spirit of rust-libp2p gossipsub's `BehaviourTestBuilder`). Expected values are derived in
//! the comments from nim-libp2p v1.14.3's rules and nwaku's parameters.

use std::rc::Rc;

use sim_core::{NodeId, SimDuration, SimTime};

use crate::relay::config::RelayConfig;
use crate::relay::message::{TopicIdx, Topics, WireMsg};
use crate::relay::profile::Implementation;
use crate::relay::rpc::{Prune, Rpc, Subscriptions, ihave_rpc_bytes, subscribe_rpc_bytes};
use crate::relay::validation::{Validation, Validator};
use crate::relay::{PublishOutcome, Relay, RelayCounter, RelayEvent, RelayShared, RelayTimer};
use crate::testing::Recorder;

const T0: TopicIdx = TopicIdx(0);

/// The one recorder of every protocol's tests.
type TestCtx = Recorder<Relay>;

/// Builds node 0 with `peers` connected peers (ids 1..=peers), all subscribed to topic 0.
struct Builder {
    cfg: RelayConfig,
    peers: u32,
    outbound: Vec<u32>,
    subscribe: bool,
    validators: Vec<Rc<dyn Validator>>,
    rules: Implementation,
}

impl Builder {
    fn new(peers: u32) -> Self {
        Builder {
            cfg: RelayConfig::default(),
            peers,
            outbound: Vec::new(),
            subscribe: true,
            validators: Vec::new(),
            rules: Implementation::Nim,
        }
    }
    /// The implementation `imp` with its preset (applied to the configuration so far).
    fn profile(mut self, imp: Implementation) -> Self {
        self.cfg = imp.preset(&self.cfg);
        self.rules = imp;
        self
    }
    fn validator(mut self, v: Rc<dyn Validator>) -> Self {
        self.validators.push(v);
        self
    }
    fn cfg(mut self, f: impl FnOnce(&mut RelayConfig)) -> Self {
        f(&mut self.cfg);
        self
    }
    fn outbound(mut self, ids: &[u32]) -> Self {
        self.outbound = ids.to_vec();
        self
    }
    fn unsubscribed(mut self) -> Self {
        self.subscribe = false;
        self
    }
    fn build(self) -> (Relay, TestCtx) {
        self.cfg.validate_as(self.rules, "relay").unwrap();
        let mut sh = RelayShared::new(self.cfg, Topics::shards(1, 2), Vec::new());
        sh.rules = self.rules;
        for v in self.validators {
            sh.validators.push(v);
        }
        let sh = Rc::new(sh);
        let topics: &[TopicIdx] = if self.subscribe { &[T0] } else { &[] };
        let mut r = Relay::new(sh, NodeId(0), topics);
        let mut ctx = TestCtx::new(NodeId(0), SimTime::from_secs(100), "test");
        ctx.connections = self.peers as usize;
        let subs = Rc::new(Subscriptions {
            topics: vec![T0],
            subscribe: true,
            wire: subscribe_rpc_bytes([14u8].into_iter()),
        });
        for p in 1..=self.peers {
            r.on_connection_up(NodeId(p), self.outbound.contains(&p), &mut ctx);
            r.on_rpc(NodeId(p), Rpc::Subscribe(subs.clone()), &mut ctx);
        }
        ctx.sent.clear();
        ctx.events.clear();
        (r, ctx)
    }
}

fn msg(id: u64, bytes: u32) -> WireMsg {
    WireMsg {
        id,
        seq: 0,
        data_bytes: bytes,
        topic: T0,
        hops: 1,
        topic_len: 14,
        flags: 0,
    }
}

fn sent_to(ctx: &TestCtx, p: u32) -> Vec<&Rpc> {
    ctx.sent
        .iter()
        .filter(|(to, _)| *to == NodeId(p))
        .map(|(_, r)| r)
        .collect()
}

fn graft() -> Rpc {
    Rpc::Graft {
        topic: T0,
        topic_len: 14,
    }
}

fn prune(backoff_s: u32) -> Rpc {
    Rpc::Prune(Box::new(Prune {
        topic: T0,
        topic_len: 14,
        backoff_s,
        px: None,
        wire: 23,
    }))
}

fn n(x: u32) -> NodeId {
    NodeId(x)
}

#[test]
fn subscriptions_build_a_mesh_up_to_d_low_then_grafts_fill_to_d_high() {
    // Each SUBSCRIBE finds the mesh below D_low (4) and grafts every candidate: peers 1-4.
    let (mut r, mut ctx) = Builder::new(12).build();
    assert_eq!(r.mesh(T0).len(), 4);
    // Inbound GRAFTs are accepted while the mesh is below D_high (8): four more.
    for p in 5..=8 {
        r.on_rpc(n(p), graft(), &mut ctx);
    }
    assert_eq!(r.mesh(T0).len(), 8);
    assert!(ctx.sent.is_empty(), "no PRUNE while there is room");
    // A GRAFT into a full mesh (>= D_high) is answered with PRUNE (backoff 60 s).
    r.on_rpc(n(9), graft(), &mut ctx);
    assert_eq!(r.mesh(T0).len(), 8);
    let s = sent_to(&ctx, 9);
    assert!(
        matches!(s[..], [Rpc::Prune(p)] if p.backoff_s == 60),
        "{s:?}"
    );
    assert_eq!(
        r.backoff(T0, n(9)),
        Some(ctx.now + SimDuration::from_secs(60))
    );
}

#[test]
fn outbound_peers_may_graft_into_a_full_mesh_until_d_out() {
    let (mut r, mut ctx) = Builder::new(12).outbound(&[10, 11, 12]).build();
    // Peers 10-12 are outbound but subscribed last: the mesh (1-4) has none.
    for p in 5..=8 {
        r.on_rpc(n(p), graft(), &mut ctx);
    }
    assert_eq!(r.mesh(T0).len(), 8);
    // Full, but fewer than D_out = 3 outbound peers: outbound GRAFTs are accepted.
    for p in 10..=12 {
        r.on_rpc(n(p), graft(), &mut ctx);
    }
    assert_eq!(r.mesh(T0).len(), 11);
    assert!(ctx.sent.is_empty());
    // The heartbeat prunes above D_high: the 11 candidates (all score 0) are shuffled; the
    // D_score = 6 best are kept, so 5 are prune candidates; outbound ones among them are
    // protected (3 - D_out = 0 may go), and since 5 < D = 6 all remaining candidates go.
    ctx.now += SimDuration::from_secs(1);
    r.on_timer(RelayTimer::Heartbeat, &mut ctx);
    let mesh = r.mesh(T0).to_vec();
    for p in 10..=12 {
        assert!(mesh.contains(&n(p)), "outbound peer {p} kept: {mesh:?}");
    }
    // 5 candidates, at most 3 of them outbound: 2 to 5 inbound peers pruned.
    assert!((6..=9).contains(&mesh.len()), "{mesh:?}");
    let pruned: Vec<u32> = (1..=8).filter(|&p| !mesh.contains(&n(p))).collect();
    for p in &pruned {
        assert!(
            sent_to(&ctx, *p)
                .iter()
                .any(|r| matches!(r, Rpc::Prune(p) if p.backoff_s == 60)),
            "PRUNE to {p}"
        );
        assert!(r.backoff(T0, n(*p)).is_some());
    }
}

#[test]
fn heartbeat_grafts_up_to_d_when_below_d_low() {
    let (mut r, mut ctx) = Builder::new(12).build();
    // PRUNE two mesh peers (1, 2): mesh 2 < D_low.
    r.on_rpc(n(1), prune(60), &mut ctx);
    r.on_rpc(n(2), prune(60), &mut ctx);
    assert_eq!(r.mesh(T0).len(), 2);
    r.on_timer(RelayTimer::Heartbeat, &mut ctx);
    // Grafted up to D = 6 from peers not backing off (not 1 or 2).
    let mesh = r.mesh(T0);
    assert_eq!(mesh.len(), 6);
    assert!(!mesh.contains(&n(1)) && !mesh.contains(&n(2)));
    let grafts = ctx
        .sent
        .iter()
        .filter(|(_, r)| matches!(r, Rpc::Graft { .. }))
        .count();
    assert_eq!(grafts, 4);
}

#[test]
fn prune_sets_backoff_with_slack_and_a_graft_during_it_is_penalised() {
    let (mut r, mut ctx) = Builder::new(6).build();
    assert!(r.mesh(T0).contains(&n(1)));
    let t = ctx.now;
    r.on_rpc(n(1), prune(60), &mut ctx);
    assert!(!r.mesh(T0).contains(&n(1)));
    // Backoff = PRUNE's 60 s + 2 s slack.
    assert_eq!(r.backoff(T0, n(1)), Some(t + SimDuration::from_secs(62)));
    // A GRAFT 10 s later: 62 - 2 x 2 = 58 s > 10 s of backoff used, so it is a violation:
    // answered with PRUNE, a fresh 60 s backoff, behaviour penalty +0.1.
    ctx.now = t + SimDuration::from_secs(10);
    r.on_rpc(n(1), graft(), &mut ctx);
    assert!(!r.mesh(T0).contains(&n(1)));
    assert!(matches!(
        sent_to(&ctx, 1)[..],
        [Rpc::Prune(p)] if p.backoff_s == 60
    ));
    assert_eq!(r.behaviour_penalty(n(1)), Some(0.1));
    assert_eq!(
        r.backoff(T0, n(1)),
        Some(ctx.now + SimDuration::from_secs(60))
    );
    // The penalty shows at the next score update: P7 = 0.1^2 x -10 = -0.1.
    r.on_timer(RelayTimer::ScoreTick, &mut ctx);
    let s = r.score(n(1)).unwrap();
    assert!((s + 0.1).abs() < 1e-12, "{s}");
    // A GRAFT within 2 x slack of the backoff's end is tolerated: backoff ends at 70 s,
    // the GRAFT comes at 67 s (70 - 4 = 66 < 67). Negative score peers are still not
    // refused by GRAFT handling (only those below the publish threshold).
    ctx.sent.clear();
    ctx.now = t + SimDuration::from_secs(67);
    r.on_rpc(n(1), graft(), &mut ctx);
    assert!(r.mesh(T0).contains(&n(1)));
    assert!(ctx.sent.is_empty());
}

#[test]
fn backoff_keeps_a_pruned_peer_out_of_the_mesh() {
    let (mut r, mut ctx) = Builder::new(4).build();
    // Mesh = all four peers; peer 1 prunes us: mesh 3 < D_low.
    r.on_rpc(n(1), prune(60), &mut ctx);
    r.on_timer(RelayTimer::Heartbeat, &mut ctx);
    assert!(!r.mesh(T0).contains(&n(1)), "backing off");
    // After the backoff (62 s) the heartbeat grafts it again.
    ctx.now += SimDuration::from_secs(63);
    r.on_timer(RelayTimer::Heartbeat, &mut ctx);
    assert!(r.mesh(T0).contains(&n(1)));
}

#[test]
fn iwant_is_served_only_for_advertised_ids_and_once() {
    // 12 peers: mesh = 1-4, gossip goes to max(D_lazy = 6, 0.25 x 8) = 6 of the 8 others.
    let (mut r, mut ctx) = Builder::new(12).build();
    r.on_rpc(n(1), Rpc::Forward(msg(42, 300)), &mut ctx);
    ctx.sent.clear();
    r.on_timer(RelayTimer::Heartbeat, &mut ctx);
    let got_ihave: Vec<u32> = (5..=12)
        .filter(|&p| sent_to(&ctx, p).iter().any(|r| matches!(r, Rpc::Ihave(_))))
        .collect();
    assert_eq!(got_ihave.len(), 6, "{got_ihave:?}");
    for p in 1..=4 {
        assert!(sent_to(&ctx, p).is_empty(), "no IHAVE to mesh peers");
    }
    // The IHAVE's size: one entry, one id: 21 + 34 = 55 bytes.
    let (_, ih) = ctx
        .sent
        .iter()
        .find(|(_, r)| matches!(r, Rpc::Ihave(_)))
        .unwrap();
    assert_eq!(ih.wire_bytes(), 55);
    assert_eq!(ih.wire_bytes(), ihave_rpc_bytes([(14u8, 1u32)].into_iter()));
    let asker = got_ihave[0];
    let stranger = (5..=12).find(|p| !got_ihave.contains(p)).unwrap();
    ctx.sent.clear();
    r.on_rpc(n(asker), Rpc::Iwant(vec![42].into()), &mut ctx);
    assert!(matches!(
        sent_to(&ctx, asker)[..],
        [Rpc::IwantReply(m)] if m.len() == 1 && m[0].id == 42
    ));
    // The same id again: refused (each id once per peer).
    ctx.sent.clear();
    r.on_rpc(n(asker), Rpc::Iwant(vec![42].into()), &mut ctx);
    assert!(sent_to(&ctx, asker).is_empty());
    // A peer the id was never advertised to: refused.
    r.on_rpc(n(stranger), Rpc::Iwant(vec![42].into()), &mut ctx);
    assert!(sent_to(&ctx, stranger).is_empty());
}

#[test]
fn ihave_asks_for_at_most_ten_unseen_ids_per_heartbeat() {
    let (mut r, mut ctx) = Builder::new(12).build();
    r.on_rpc(n(1), Rpc::Forward(msg(1, 300)), &mut ctx);
    ctx.sent.clear();
    let ids: Vec<u64> = (1..=15).collect();
    let batch = crate::relay::rpc::IhaveBatch::new([crate::relay::rpc::IhaveEntry {
        topic: T0,
        topic_len: 14,
        ids: &ids,
    }]);
    let ih = |b: &crate::relay::rpc::IhaveBatch| {
        Rpc::Ihave(crate::relay::rpc::Ihave {
            batch: b.clone(),
            mask: 1,
            wire: 0,
        })
    };
    r.on_rpc(n(9), ih(&batch), &mut ctx);
    // Id 1 is seen; 14 unseen, the budget is 10.
    let s = sent_to(&ctx, 9);
    match s[..] {
        [Rpc::Iwant(ids)] => {
            assert_eq!(ids.len(), 10);
            assert!(!ids.contains(&1));
        }
        _ => panic!("{s:?}"),
    }
    // Budget spent: another IHAVE in the same heartbeat is ignored.
    ctx.sent.clear();
    r.on_rpc(n(9), ih(&batch), &mut ctx);
    assert!(sent_to(&ctx, 9).is_empty());
    // The heartbeat restores the budget.
    r.on_timer(RelayTimer::Heartbeat, &mut ctx);
    ctx.sent.clear();
    r.on_rpc(n(9), ih(&batch), &mut ctx);
    assert_eq!(sent_to(&ctx, 9).len(), 1);
}

#[test]
fn idontwant_is_sent_before_validation_and_stops_a_forward() {
    // Mesh = peers 1-4 (each SUBSCRIBE grafted).
    let (mut r, mut ctx) = Builder::new(4).build();
    // Peer 2 says it does not want message 7.
    r.on_rpc(n(2), Rpc::Idontwant(7), &mut ctx);
    // Peer 1 delivers message 7 (2,040 B > 512 B): IDONTWANT to the mesh except the sender
    // (2, 3, 4), then the forward to the mesh except the sender and peer 2: 3 and 4.
    r.on_rpc(n(1), Rpc::Forward(msg(7, 2040)), &mut ctx);
    for p in [2, 3, 4] {
        assert!(matches!(sent_to(&ctx, p)[0], Rpc::Idontwant(7)), "to {p}");
    }
    assert!(sent_to(&ctx, 1).is_empty());
    let forwarded: Vec<u32> = (1..=4)
        .filter(|&p| {
            sent_to(&ctx, p)
                .iter()
                .any(|r| matches!(r, Rpc::Forward(_)))
        })
        .collect();
    assert_eq!(forwarded, vec![3, 4]);
    // A small message (<= 512 B) gets no IDONTWANT.
    ctx.sent.clear();
    r.on_rpc(n(1), Rpc::Forward(msg(8, 512)), &mut ctx);
    assert!(!ctx.sent.iter().any(|(_, r)| matches!(r, Rpc::Idontwant(_))));
}

#[test]
fn idontwant_off_is_gossipsub_v1_1() {
    let (mut r, mut ctx) = Builder::new(4).cfg(|c| c.idontwant = false).build();
    r.on_rpc(n(2), Rpc::Idontwant(7), &mut ctx);
    r.on_rpc(n(1), Rpc::Forward(msg(7, 2040)), &mut ctx);
    assert!(!ctx.sent.iter().any(|(_, r)| matches!(r, Rpc::Idontwant(_))));
    // Received IDONTWANTs are still honoured (the peer speaks v1.2).
    assert_eq!(sent_to(&ctx, 2).len(), 0);
    assert_eq!(sent_to(&ctx, 3).len(), 1);
}

#[test]
fn ihave_from_a_peer_below_the_gossip_threshold_is_ignored() {
    let (mut r, mut ctx) = Builder::new(6).build();
    // Peer 5 (not in the mesh) sends two invalid messages: P4 = 2^2 x -100 = -400 after the
    // next score update, below the gossip threshold (-100).
    for id in [100, 101] {
        let mut m = msg(id, 300);
        m.flags = WireMsg::INVALID;
        r.on_rpc(n(5), Rpc::Forward(m), &mut ctx);
    }
    r.on_timer(RelayTimer::ScoreTick, &mut ctx);
    assert_eq!(r.score(n(5)), Some(-400.0));
    let batch = crate::relay::rpc::IhaveBatch::new([crate::relay::rpc::IhaveEntry {
        topic: T0,
        topic_len: 14,
        ids: &[555],
    }]);
    let ih = Rpc::Ihave(crate::relay::rpc::Ihave {
        batch,
        mask: 1,
        wire: 55,
    });
    ctx.sent.clear();
    r.on_rpc(n(5), ih.clone(), &mut ctx);
    assert!(sent_to(&ctx, 5).is_empty(), "ignored");
    // The same IHAVE from a peer with score 0 gets an IWANT.
    r.on_rpc(n(6), ih, &mut ctx);
    assert!(matches!(sent_to(&ctx, 6)[..], [Rpc::Iwant(_)]));
}

#[test]
fn invalid_messages_lead_to_graylisting_and_refusal() {
    let (mut r, mut ctx) = Builder::new(6).build();
    // 11 invalid messages: 11^2 x -100 = -12,100 < -10,000 (graylist) at the next update.
    for id in 0..11 {
        let mut m = msg(1000 + id, 300);
        m.flags = WireMsg::INVALID;
        r.on_rpc(n(3), Rpc::Forward(m), &mut ctx);
    }
    assert_eq!(
        ctx.events
            .iter()
            .filter(|e| **e == RelayEvent::Count(crate::RelayCounter::Rejected))
            .count(),
        11
    );
    assert!(
        ctx.sent
            .iter()
            .all(|(_, r)| !matches!(r, Rpc::Publish(_) | Rpc::Forward(_))),
        "invalid messages are not forwarded"
    );
    r.on_timer(RelayTimer::ScoreTick, &mut ctx);
    assert_eq!(ctx.disconnects, vec![n(3)]);
    assert!(r.peers().all(|p| p != n(3)));
    // Decayed after the update (counter 5.5): the retained score is the one computed.
    assert_eq!(r.retained_score(n(3)), Some(-12_100.0));
    assert!(!r.accept_inbound(n(3), 5), "refused while graylisted");
    assert!(r.accept_inbound(n(4), 5));
    // Retained for 10 minutes, then forgotten.
    ctx.now += SimDuration::from_secs(601);
    r.on_timer(RelayTimer::ScoreTick, &mut ctx);
    assert!(r.accept_inbound(n(3), 5));
}

#[test]
fn flood_publish_cap() {
    let c = RelayConfig::default();
    // 12,500 B per ms at 100 Mbit/s. 150,000 B -> 12 ms -> 1000 / 12 = 83 peers.
    assert_eq!(Relay::flood_cap(&c, 150_000), 83);
    assert_eq!(Relay::flood_cap(&c, 153_600), 83);
    // Under 25,000 B (two ms): 1000 / 1 = 1000 peers; D_low is the floor.
    assert_eq!(Relay::flood_cap(&c, 2_040), 1000);
    assert_eq!(Relay::flood_cap(&c, 24_999), 1000);
    assert_eq!(Relay::flood_cap(&c, 25_000), 500);
    assert_eq!(Relay::flood_cap(&c, 10_000_000), 4, "D_low floor");

    let (mut r, mut ctx) = Builder::new(120).build();
    let out = r.publish(msg(1, 150_000), &mut ctx);
    assert_eq!(out, PublishOutcome::Published { peers: 83 });
    assert_eq!(ctx.sent.len(), 83);
    assert!(ctx.sent.iter().all(|(_, r)| matches!(r, Rpc::Publish(_))));
    ctx.sent.clear();
    let out = r.publish(msg(2, 2_040), &mut ctx);
    assert_eq!(out, PublishOutcome::Published { peers: 120 });
    // Own publishes carry no IDONTWANT (idontwant_on_publish = false).
    assert!(!ctx.sent.iter().any(|(_, r)| matches!(r, Rpc::Idontwant(_))));
    // Above the 150 KiB message limit: refused.
    assert_eq!(
        r.publish(msg(3, 153_601), &mut ctx),
        PublishOutcome::TooLarge
    );
}

#[test]
fn publishing_without_peers_or_twice_fails() {
    let (mut r, mut ctx) = Builder::new(0).build();
    assert_eq!(r.publish(msg(1, 100), &mut ctx), PublishOutcome::NoPeers);
    let (mut r, mut ctx) = Builder::new(3).build();
    assert!(matches!(
        r.publish(msg(1, 100), &mut ctx),
        PublishOutcome::Published { peers: 3 }
    ));
    assert_eq!(r.publish(msg(1, 100), &mut ctx), PublishOutcome::Duplicate);
}

#[test]
fn fanout_when_flood_publishing_is_off() {
    // Not subscribed: without flood publishing the message goes to a fanout of D + 1 at
    // most (nim-libp2p stops once more than D peers are chosen), which lives 60 s.
    let (mut r, mut ctx) = Builder::new(10)
        .cfg(|c| c.flood_publish = false)
        .unsubscribed()
        .build();
    let out = r.publish(msg(1, 100), &mut ctx);
    // replenishFanout fills to D = 6; all six are used (6 <= D).
    assert_eq!(out, PublishOutcome::Published { peers: 6 });
    assert_eq!(r.fanout(T0).len(), 6);
    ctx.now += SimDuration::from_secs(61);
    r.on_timer(RelayTimer::Heartbeat, &mut ctx);
    assert!(r.fanout(T0).is_empty(), "fanout TTL expired");
}

#[test]
fn unsubscribe_prunes_with_the_unsubscribe_backoff() {
    let (mut r, mut ctx) = Builder::new(6).build();
    let mesh = r.mesh(T0).to_vec();
    r.unsubscribe(T0, &mut ctx);
    for p in &mesh {
        assert!(
            sent_to(&ctx, p.0)
                .iter()
                .any(|r| matches!(r, Rpc::Prune(p) if p.backoff_s == 5))
        );
        assert_eq!(r.backoff(T0, *p), Some(ctx.now + SimDuration::from_secs(5)));
    }
    // Every peer hears the unsubscription.
    for p in 1..=6 {
        assert!(
            sent_to(&ctx, p)
                .iter()
                .any(|r| matches!(r, Rpc::Subscribe(s) if !s.subscribe))
        );
    }
    assert!(!r.is_subscribed(T0));
    assert!(r.mesh(T0).is_empty());
}

#[test]
fn the_non_priority_queue_holds_1024_and_its_overflow_disconnects() {
    // Writes take 1 s to finish, so every forward after the first waits in the queue.
    let (mut r, mut ctx) = Builder::new(2).build();
    ctx.write_time = SimDuration::from_secs(1);
    // Small messages (no IDONTWANT) from peer 1, each forwarded to peer 2.
    for id in 0..1026u64 {
        r.on_rpc(n(1), Rpc::Forward(msg(id, 100)), &mut ctx);
        if ctx.disconnects.is_empty() {
            assert_eq!(r.queued(n(2)), id as usize);
        }
    }
    // The first forward was written at once; 1024 queued; the 1026th overflowed.
    assert_eq!(ctx.disconnects, vec![n(2)]);
    assert_eq!(sent_to(&ctx, 2).len(), 1);
    assert!(r.peers().all(|p| p != n(2)));
}

#[test]
fn queued_messages_drain_after_priority_writes() {
    let (mut r, mut ctx) = Builder::new(2).build();
    ctx.write_time = SimDuration::from_millis(10);
    for id in 0..3u64 {
        r.on_rpc(n(1), Rpc::Forward(msg(id, 100)), &mut ctx);
    }
    assert_eq!(sent_to(&ctx, 2).len(), 1);
    assert_eq!(r.queued(n(2)), 2);
    // A drain timer was set for when the first write finishes (10 ms).
    let (at, t) = ctx
        .timers
        .iter()
        .find(|(_, t)| matches!(t, RelayTimer::Drain(_)))
        .cloned()
        .unwrap();
    let delay = at.saturating_since(ctx.now);
    assert_eq!(delay, SimDuration::from_millis(10));
    ctx.now += delay;
    r.on_timer(t, &mut ctx);
    // One more sent; the next waits for that write.
    assert_eq!(sent_to(&ctx, 2).len(), 2);
    assert_eq!(r.queued(n(2)), 1);
}

#[test]
fn validation_delay_uses_compute_and_skips_peers_that_sent_meanwhile() {
    let (mut r, mut ctx) = Builder::new(4)
        .cfg(|c| c.validation_delay_us = 12_000)
        .build();
    ctx.timers.clear();
    r.on_rpc(n(1), Rpc::Forward(msg(9, 100)), &mut ctx);
    let (at, t) = ctx.timers.pop().unwrap();
    let cost = at.saturating_since(ctx.now);
    assert_eq!(cost, SimDuration::from_millis(12));
    // Peer 3 delivers the same message while it is being validated.
    r.on_rpc(n(3), Rpc::Forward(msg(9, 100)), &mut ctx);
    assert!(ctx.sent.is_empty(), "nothing forwarded before validation");
    ctx.now += cost;
    r.on_timer(t, &mut ctx);
    let forwarded: Vec<u32> = ctx.sent.iter().map(|(p, _)| p.0).collect();
    assert_eq!(forwarded, vec![2, 4], "not to the sender nor to peer 3");
}

#[test]
fn every_copy_pays_its_handling_cost_before_it_is_looked_at() {
    // 300 us + 2 us per 1,000 bytes; a 5,000-byte message costs 300 + 2 x 5 = 310 us.
    let (mut r, mut ctx) = Builder::new(4)
        .cfg(|c| {
            c.message_handling_us = 300.0;
            c.message_handling_us_per_kb = 2.0;
        })
        .build();
    ctx.timers.clear();
    r.on_rpc(n(1), Rpc::Forward(msg(9, 5_000)), &mut ctx);
    r.on_rpc(n(3), Rpc::Forward(msg(9, 5_000)), &mut ctx);
    // Both copies queue a handling job; nothing is looked at yet: no IDONTWANT (5,000 bytes
    // is above the 512-byte threshold), no delivery, no forward.
    assert_eq!(ctx.timers.len(), 2);
    for (at, t) in &ctx.timers {
        assert_eq!(at.saturating_since(ctx.now), SimDuration::from_micros(310));
        assert!(matches!(t, RelayTimer::Handled { .. }));
    }
    assert!(ctx.sent.is_empty() && ctx.events.is_empty());
    let mut jobs = std::mem::take(&mut ctx.timers);
    ctx.now += SimDuration::from_micros(310);
    // The first copy handled: IDONTWANT to the mesh but the sender, accepted, forwarded.
    let (_, first) = jobs.remove(0);
    r.on_timer(first, &mut ctx);
    assert!(
        ctx.events
            .iter()
            .any(|e| matches!(e, RelayEvent::Accepted { .. }))
    );
    let forwards = |ctx: &TestCtx| {
        ctx.sent
            .iter()
            .filter(|(_, m)| matches!(m, Rpc::Forward(_)))
            .map(|(p, _)| p.0)
            .collect::<Vec<u32>>()
    };
    assert_eq!(forwards(&ctx), vec![2, 3, 4]);
    // The second copy is a duplicate once handled: nothing more is forwarded.
    let (_, second) = jobs.remove(0);
    ctx.now += SimDuration::from_micros(310);
    r.on_timer(second, &mut ctx);
    assert_eq!(forwards(&ctx), vec![2, 3, 4]);
    // The cost itself: fixed part plus the per-1,000-byte part, truncated to nanoseconds.
    let c = crate::relay::config::RelayConfig {
        message_handling_us: 1.5,
        message_handling_us_per_kb: 0.25,
        ..Default::default()
    };
    assert_eq!(c.handling_ns(0), 1_500);
    assert_eq!(c.handling_ns(153_600), 1_500 + 250 * 153_600 / 1000); // 39,900 ns
    assert_eq!(
        crate::relay::config::RelayConfig::default().handling_ns(1_000_000),
        0
    );
}

#[test]
fn handling_cost_must_be_a_sane_number_of_microseconds() {
    for (bad, field) in [
        (-1.0, "relay.message_handling_us"),
        (f64::NAN, "relay.message_handling_us"),
        (1e12, "relay.message_handling_us"),
    ] {
        let c = crate::relay::config::RelayConfig {
            message_handling_us: bad,
            ..Default::default()
        };
        let e = c.validate().unwrap_err();
        assert!(e.to_string().contains(field), "{e}");
    }
    let c = crate::relay::config::RelayConfig {
        message_handling_us_per_kb: -0.5,
        ..Default::default()
    };
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("relay.message_handling_us_per_kb"), "{e}");
}

#[test]
fn peer_exchange_lists_peers_and_the_pruned_node_dials_them() {
    let (mut r, mut ctx) = Builder::new(12)
        .cfg(|c| {
            c.peer_exchange = true;
            c.px_record_bytes = 100;
        })
        .build();
    for p in 5..=8 {
        r.on_rpc(n(p), graft(), &mut ctx);
    }
    r.on_rpc(n(9), graft(), &mut ctx);
    let s = sent_to(&ctx, 9);
    let Rpc::Prune(p) = s[0] else { panic!() };
    // Up to 2 x D_high = 16 topic peers with score >= 0: all 12.
    assert_eq!(p.px.as_ref().unwrap().len(), 12);
    assert_eq!(
        p.wire,
        crate::relay::rpc::prune_rpc_bytes(14, 60, 12, 100),
        "PX entries are counted"
    );
    // Receiving a PRUNE with PX: dial offered peers we are not connected to, while there is
    // room (max_connections 50, 12 connected).
    let offer = Rpc::Prune(Box::new(Prune {
        px: Some(vec![n(0), n(3), n(40), n(41)].into()),
        ..(**p).clone()
    }));
    r.on_rpc(n(2), offer, &mut ctx);
    assert_eq!(
        ctx.dials,
        vec![n(40), n(41)],
        "not itself, not a connected peer"
    );
}

#[test]
fn a_peer_disconnecting_leaves_the_mesh_with_a_backoff_and_its_score_is_kept() {
    let (mut r, mut ctx) = Builder::new(4).build();
    r.on_connection_down(n(2), &mut ctx);
    assert!(!r.mesh(T0).contains(&n(2)));
    assert_eq!(
        r.backoff(T0, n(2)),
        Some(ctx.now + SimDuration::from_secs(60))
    );
    assert_eq!(r.retained_score(n(2)), Some(0.0));
    // Reconnecting restores it and resends our subscriptions.
    r.on_connection_up(n(2), false, &mut ctx);
    assert!(matches!(sent_to(&ctx, 2)[..], [Rpc::Subscribe(_)]));
    assert_eq!(r.retained_score(n(2)), None);
}

#[test]
fn seen_messages_are_not_delivered_twice_and_duplicates_are_counted() {
    let (mut r, mut ctx) = Builder::new(4).build();
    for p in 1..=3 {
        r.on_rpc(n(p), Rpc::Forward(msg(5, 100)), &mut ctx);
    }
    let accepted = ctx
        .events
        .iter()
        .filter(|e| matches!(e, RelayEvent::Accepted { .. }))
        .count();
    assert_eq!(accepted, 1);
    let mut copies = Vec::new();
    r.drain_seen(|e| copies.push(e.copies));
    assert_eq!(copies, vec![2]);
}

/// Returns `verdict` for messages on `topic`, Accept otherwise.
#[derive(Debug)]
struct OnTopic(TopicIdx, Validation);

impl Validator for OnTopic {
    fn validate(&self, msg: &WireMsg) -> Validation {
        if msg.topic == self.0 {
            self.1
        } else {
            Validation::Accept
        }
    }
}

fn count(ctx: &TestCtx, c: RelayCounter) -> usize {
    ctx.events
        .iter()
        .filter(|e| **e == RelayEvent::Count(c))
        .count()
}

fn forwarded(ctx: &TestCtx) -> usize {
    ctx.sent
        .iter()
        .filter(|(_, r)| matches!(r, Rpc::Forward(_)))
        .count()
}

#[test]
fn a_validator_that_rejects_a_topic_stops_forwarding_and_penalises_the_sender() {
    // Without it the message is delivered and forwarded to the mesh.
    let (mut r, mut ctx) = Builder::new(6).build();
    r.on_rpc(n(3), Rpc::Forward(msg(7, 300)), &mut ctx);
    assert!(forwarded(&ctx) > 0);
    assert_eq!(count(&ctx, RelayCounter::Rejected), 0);

    let reject: Rc<dyn Validator> = Rc::new(OnTopic(T0, Validation::Reject));
    let (mut r, mut ctx) = Builder::new(6).validator(reject).build();
    r.on_rpc(n(3), Rpc::Forward(msg(7, 300)), &mut ctx);
    assert_eq!(forwarded(&ctx), 0, "rejected messages are not forwarded");
    assert_eq!(count(&ctx, RelayCounter::Rejected), 1);
    assert!(
        !ctx.events
            .iter()
            .any(|e| matches!(e, RelayEvent::Accepted { .. }))
    );
    r.on_timer(RelayTimer::ScoreTick, &mut ctx);
    assert!(r.score(n(3)).unwrap() < 0.0, "P4 for the sender");
    assert_eq!(r.score(n(4)), Some(0.0));
}

#[test]
fn the_validation_chain_runs_in_order() {
    let ignore: Rc<dyn Validator> = Rc::new(OnTopic(T0, Validation::Ignore));
    let reject: Rc<dyn Validator> = Rc::new(OnTopic(T0, Validation::Reject));
    // Ignore first: dropped silently, no penalty.
    let (mut r, mut ctx) = Builder::new(6)
        .validator(ignore.clone())
        .validator(reject.clone())
        .build();
    r.on_rpc(n(3), Rpc::Forward(msg(7, 300)), &mut ctx);
    assert_eq!(forwarded(&ctx), 0);
    assert_eq!(count(&ctx, RelayCounter::Ignored), 1);
    assert_eq!(count(&ctx, RelayCounter::Rejected), 0);
    r.on_timer(RelayTimer::ScoreTick, &mut ctx);
    assert_eq!(r.score(n(3)), Some(0.0));
    // Reject first: rejected.
    let (mut r, mut ctx) = Builder::new(6).validator(reject).validator(ignore).build();
    r.on_rpc(n(3), Rpc::Forward(msg(7, 300)), &mut ctx);
    assert_eq!(count(&ctx, RelayCounter::Ignored), 0);
    assert_eq!(count(&ctx, RelayCounter::Rejected), 1);
}

// ----- implementation profiles (crate::relay::profile) --------------------------------------

/// Puts peers `ids` straight into the mesh of topic 0 (a state GRAFT handling would not
/// reach), as grafted now.
fn fill_mesh(r: &mut Relay, ids: impl IntoIterator<Item = u32>) {
    let k = r.topic_pos(T0).unwrap();
    for p in ids {
        if !r.topics[k].mesh.contains(&n(p)) {
            r.topics[k].mesh.push(n(p));
        }
    }
}

fn heartbeat(r: &mut Relay, ctx: &mut TestCtx) {
    ctx.now += SimDuration::from_secs(1);
    r.on_timer(RelayTimer::Heartbeat, ctx);
}

fn pruned(ctx: &TestCtx) -> usize {
    ctx.sent
        .iter()
        .filter(|(_, r)| matches!(r, Rpc::Prune(_)))
        .count()
}

#[test]
fn graft_at_d_high_nim_wants_room_for_outbound_go_takes_any_outbound() {
    // nim (nwaku: D_high 8, D_out 3) and go (go-waku: D_high 8, D_out 3) alike: mesh 1-4
    // from the subscriptions, inbound GRAFTs 5-8 fill it to D_high; peers 10-13 are outbound.
    for imp in [Implementation::Nim, Implementation::Go] {
        let (mut r, mut ctx) = Builder::new(13)
            .outbound(&[10, 11, 12, 13])
            .profile(imp)
            .build();
        for p in 5..=8 {
            r.on_rpc(n(p), graft(), &mut ctx);
        }
        assert_eq!(r.mesh(T0).len(), 8, "{imp:?}");
        // An inbound GRAFT at D_high: PRUNE (both).
        r.on_rpc(n(9), graft(), &mut ctx);
        assert!(!r.mesh(T0).contains(&n(9)), "{imp:?}");
        assert_eq!(sent_to(&ctx, 9).len(), 1, "{imp:?}");
        // Outbound GRAFTs 10-13: nim accepts while the mesh has fewer than D_out = 3
        // outbound peers (10, 11, 12 -> 11 peers) and refuses 13; go accepts all four (12).
        for p in 10..=13 {
            r.on_rpc(n(p), graft(), &mut ctx);
        }
        let expected = if imp == Implementation::Nim { 11 } else { 12 };
        assert_eq!(r.mesh(T0).len(), expected, "{imp:?}");
        assert_eq!(
            r.mesh(T0).contains(&n(13)),
            imp == Implementation::Go,
            "{imp:?}"
        );
    }
}

#[test]
fn rust_graft_at_d_high_accepts_outbound_then_prunes_back_to_d() {
    // rust defaults: D 6, D_lo 5, D_hi 12, retain_scores 4, mesh_outbound_min 2.
    let (mut r, mut ctx) = Builder::new(15)
        .outbound(&[14, 15])
        .profile(Implementation::Rust)
        .build();
    // Subscriptions graft while below D_lo (5): 1-5; inbound GRAFTs 6-12 fill to 12.
    assert_eq!(r.mesh(T0).len(), 5);
    for p in 6..=12 {
        r.on_rpc(n(p), graft(), &mut ctx);
    }
    assert_eq!(r.mesh(T0).len(), 12);
    r.on_rpc(n(13), graft(), &mut ctx);
    assert!(!r.mesh(T0).contains(&n(13)), "inbound refused at D_hi");
    r.on_rpc(n(14), graft(), &mut ctx);
    r.on_rpc(n(15), graft(), &mut ctx);
    assert_eq!(r.mesh(T0).len(), 14, "outbound accepted at D_hi");
    // Heartbeat: 14 > D_hi, remove 14 - D = 8; the two outbound peers are spared
    // (outbound 2 <= mesh_outbound_min 2), so the mesh is 6 with both of them.
    ctx.sent.clear();
    heartbeat(&mut r, &mut ctx);
    let mesh = r.mesh(T0);
    assert_eq!(mesh.len(), 6, "{mesh:?}");
    assert!(mesh.contains(&n(14)) && mesh.contains(&n(15)), "{mesh:?}");
    assert_eq!(pruned(&ctx), 8);
}

#[test]
fn nim_prunes_9_to_12_peers_down_to_d_and_13_or_more_to_d_plus_d_score() {
    // nwaku: D 6, D_hi 8, D_score 6; all peers inbound with score 0. Above D_hi the D_score
    // best are kept and c = n - 6 are candidates; with c <= D every candidate is pruned
    // (nim-libp2p v1.14.3 prunes the whole list when `prunes.len - d` is not positive),
    // else c - D of them: n = 9 -> 6, 12 -> 6, 13 -> 12 (7 candidates, 1 pruned),
    // 20 -> 12 (14 candidates, 8 pruned). At D_hi (8) nothing happens.
    for (size, after) in [(8, 8), (9, 6), (12, 6), (13, 12), (20, 12)] {
        let (mut r, mut ctx) = Builder::new(20).build();
        fill_mesh(&mut r, 1..=size);
        assert_eq!(r.mesh(T0).len(), size as usize);
        heartbeat(&mut r, &mut ctx);
        assert_eq!(r.mesh(T0).len(), after, "mesh of {size}");
    }
}

#[test]
fn go_prunes_at_d_high_to_d_keeping_d_out_outbound() {
    // go-waku: D 4, D_hi 8, D_score 4, D_out 3. At n >= D_hi the mesh goes to D; below it
    // nothing is pruned.
    for (size, after) in [(7, 7), (8, 4), (12, 4)] {
        let (mut r, mut ctx) = Builder::new(12).profile(Implementation::Go).build();
        fill_mesh(&mut r, 1..=size);
        heartbeat(&mut r, &mut ctx);
        assert_eq!(r.mesh(T0).len(), after, "mesh of {size}");
    }
    // With outbound peers 9 and 10 in a mesh of 10: the D = 4 kept include both (fewer
    // than D_out = 3 outbound exist, so every outbound peer is bubbled into the selection).
    for seed in 0..8 {
        let (mut r, mut ctx) = Builder::new(10)
            .outbound(&[9, 10])
            .profile(Implementation::Go)
            .build();
        ctx.now += SimDuration::from_millis(seed);
        fill_mesh(&mut r, 1..=10);
        heartbeat(&mut r, &mut ctx);
        let mesh = r.mesh(T0);
        assert_eq!(mesh.len(), 4);
        assert!(mesh.contains(&n(9)) && mesh.contains(&n(10)), "{mesh:?}");
    }
}

#[test]
fn rust_prunes_above_d_high_only() {
    // rust: D 6, D_hi 12. 12 stays; 13 -> 6; 20 -> 6.
    for (size, after) in [(12, 12), (13, 6), (20, 6)] {
        let (mut r, mut ctx) = Builder::new(20).profile(Implementation::Rust).build();
        fill_mesh(&mut r, 1..=size);
        heartbeat(&mut r, &mut ctx);
        assert_eq!(r.mesh(T0).len(), after, "mesh of {size}");
    }
}

#[test]
fn go_scores_at_each_heartbeat_and_prunes_a_negative_grafter_nim_waits_for_its_tick() {
    // A GRAFT inside the backoff costs behaviour penalty: go +1 (the flood cut-off adds
    // another +1 in go; not modelled), nim +0.1. P7 = penalty^2 x -10 (nwaku / go-waku
    // weight): go -10, nim -0.1.
    for imp in [Implementation::Nim, Implementation::Go] {
        let (mut r, mut ctx) = Builder::new(6).profile(imp).build();
        r.on_rpc(n(1), prune(60), &mut ctx);
        ctx.now += SimDuration::from_secs(10);
        r.on_rpc(n(1), graft(), &mut ctx);
        let penalty = if imp == Implementation::Go { 1.0 } else { 0.1 };
        assert_eq!(r.behaviour_penalty(n(1)), Some(penalty), "{imp:?}");
        // The next heartbeat (no scoring tick yet): go has recomputed the score, nim still
        // holds the last computed one (0).
        heartbeat(&mut r, &mut ctx);
        let s = r.score(n(1)).unwrap();
        if imp == Implementation::Go {
            assert!((s + 10.0).abs() < 1e-9, "{s}");
        } else {
            assert_eq!(s, 0.0);
        }
        // After the backoff: a GRAFT from the peer. go PRUNEs a negative-score grafter and
        // backs off from it; nim accepts it (-0.1 is above the publish threshold, -1000)
        // once its score is computed.
        r.on_timer(RelayTimer::ScoreTick, &mut ctx);
        ctx.now += SimDuration::from_secs(70);
        ctx.sent.clear();
        r.on_rpc(n(1), graft(), &mut ctx);
        if imp == Implementation::Go {
            assert!(!r.mesh(T0).contains(&n(1)));
            assert!(matches!(sent_to(&ctx, 1)[..], [Rpc::Prune(_)]));
            assert_eq!(
                r.backoff(T0, n(1)),
                Some(ctx.now + SimDuration::from_secs(60))
            );
        } else {
            assert!(r.score(n(1)).unwrap() < 0.0);
            assert!(r.mesh(T0).contains(&n(1)));
            assert!(sent_to(&ctx, 1).is_empty());
        }
    }
}

#[test]
fn idontwant_thresholds_per_profile() {
    // A 900-byte message: above nim's 512 B, below rust's 1000 B; go-waku never sends one.
    for (imp, sends) in [
        (Implementation::Nim, true),
        (Implementation::Rust, false),
        (Implementation::Go, false),
    ] {
        let (mut r, mut ctx) = Builder::new(4).profile(imp).build();
        r.on_rpc(n(1), Rpc::Forward(msg(7, 900)), &mut ctx);
        let any = ctx.sent.iter().any(|(_, r)| matches!(r, Rpc::Idontwant(_)));
        assert_eq!(any, sends, "{imp:?}");
    }
    // 2,000 bytes: nim and rust send IDONTWANT, go-waku still not.
    for (imp, sends) in [
        (Implementation::Nim, true),
        (Implementation::Rust, true),
        (Implementation::Go, false),
    ] {
        let (mut r, mut ctx) = Builder::new(4).profile(imp).build();
        r.on_rpc(n(1), Rpc::Forward(msg(7, 2000)), &mut ctx);
        let any = ctx.sent.iter().any(|(_, r)| matches!(r, Rpc::Idontwant(_)));
        assert_eq!(any, sends, "{imp:?}");
    }
}

#[test]
fn go_and_rust_flood_publish_without_a_cap() {
    // A 150 KiB own message: nim's 100 Mbit/s estimate caps flood publishing at
    // 1000 / (153,600 / 12,500) = 1000 / 12 = 83 peers; go and rust send to every topic
    // peer (here 100).
    for (imp, peers) in [
        (Implementation::Nim, 83),
        (Implementation::Go, 100),
        (Implementation::Rust, 100),
    ] {
        let (mut r, mut ctx) = Builder::new(100).profile(imp).build();
        let out = r.publish(msg(9, 150_000), &mut ctx);
        assert_eq!(out, PublishOutcome::Published { peers }, "{imp:?}");
    }
}

#[test]
fn go_keeps_its_own_backoff_for_the_slack_so_its_regraft_is_no_violation() {
    // Node 0 (go) prunes peer 1 at t (heartbeat, mesh >= D_hi): backoff(1) = t + 60 s. Go
    // clears entries 2 s (two heartbeats) after they end, so node 0 grafts 1 again at the
    // first heartbeat after t + 62 s, not at t + 60 s. Peer 1, also go, took the PRUNE's 60 s
    // as is at t + latency, so a GRAFT arriving after t + 62 s is outside its backoff (go
    // checks the backoff without slack).
    let (mut r, mut ctx) = Builder::new(8).profile(Implementation::Go).build();
    fill_mesh(&mut r, 1..=8);
    heartbeat(&mut r, &mut ctx); // 8 >= D_hi: down to D = 4
    let pruned: Vec<u32> = (1..=8).filter(|&p| !r.mesh(T0).contains(&n(p))).collect();
    assert_eq!(pruned.len(), 4);
    let t = ctx.now;
    let p = pruned[0];
    assert_eq!(r.backoff(T0, n(p)), Some(t + SimDuration::from_secs(60)));
    // A received PRUNE: the backoff as asked, no slack added (nim adds 2 s).
    r.on_rpc(n(pruned[1]), prune(60), &mut ctx);
    assert_eq!(
        r.backoff(T0, n(pruned[1])),
        Some(t + SimDuration::from_secs(60))
    );
    // At t + 61 s the entry has ended but is kept for the 2 s slack.
    ctx.now = t + SimDuration::from_secs(60);
    heartbeat(&mut r, &mut ctx);
    assert!(r.backoff(T0, n(p)).is_some(), "kept within the slack");
    ctx.now = t + SimDuration::from_secs(62);
    heartbeat(&mut r, &mut ctx); // t + 63 s: cleared
    assert!(r.backoff(T0, n(p)).is_none());
}
