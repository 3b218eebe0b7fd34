//! The overlay as real nodes build it: shards, the metadata protocol and the nwaku peer
//! manager on the engine. Expected numbers are derived in the comments from nwaku's defaults
//! (50 connections; 30 relay slots: an outbound target of 10 and an inbound target of 20).

use protocols::harness::{self, PeerManagerInput, SimInput, SimOutput, run};
use protocols::relay::message::TopicIdx;
use protocols::relay::protected::Signing;
use protocols::workload::{Arrival, PayloadSize, Publishers, StreamConfig, WorkloadConfig};
use sim_core::{ConstantLatency, Fault, NodeId, SimDuration, SimTime};

/// `n` nodes with no wiring: every node runs the peer manager and knows `known` random
/// peers (the same on every seed: lists drawn here from node ids).
fn emergent(n: usize, known: usize, seed: u64) -> SimInput {
    let mut i = SimInput::new(
        n,
        Vec::new(),
        Box::new(ConstantLatency(SimDuration::from_millis(40))),
    );
    i.peer_manager = Some(PeerManagerInput {
        bootstrap: (0..n)
            .map(|a| {
                (1..=known)
                    .map(|k| NodeId(((a + k * 7919) % n) as u32))
                    .filter(|&p| p.index() != a)
                    .collect()
            })
            .collect(),
        ..PeerManagerInput::default()
    });
    i.app.workload = WorkloadConfig {
        streams: vec![StreamConfig {
            publishers: Publishers::Count(3),
            interval_ms: 1000.0,
            arrival: Arrival::Fixed,
            payload: PayloadSize::FixedBytes(500),
            ..StreamConfig::default()
        }],
    };
    i.run.duration = SimDuration::from_secs(120);
    i.run.warmup = SimDuration::from_secs(60);
    i.run.seed = seed;
    i
}

fn counter(o: &SimOutput, name: &str) -> u64 {
    o.peer_manager.counter(name)
}

#[test]
fn emergent_overlay_respects_limits_reaches_out_targets_and_delivers() {
    // 200 nodes knowing 40 peers each: 10 outbound each = 2,000 connections, 10 inbound per
    // node on average, well under the inbound target of 20: every node can reach its target.
    let o = run(emergent(200, 40, 1), &|_, _| {}).unwrap();
    assert!(!o.overlay.connections.is_empty());
    for s in &o.overlay.connections {
        assert!(s.max <= 50, "{} connections at {} s", s.max, s.t_s);
    }
    // The loop runs at once (within 1 s), dials a batch of 10 (a dial takes 3 RTT = 240 ms),
    // pauses 5 s: targets are met within about 7 s, surely within three 30 s periods.
    let late: Vec<_> = o
        .overlay
        .connections
        .iter()
        .filter(|s| s.t_s >= 90.0)
        .collect();
    assert!(!late.is_empty());
    for s in late {
        assert_eq!(s.below_out_target, 0, "at {} s", s.t_s);
        assert!(s.outbound_mean >= 10.0 && s.outbound_mean <= 10.0 + 1e-9);
    }
    assert!(o.relay.delivery.messages > 100);
    assert_eq!(o.relay.delivery.mean, 1.0);
    // Every connection ran metadata both ways: at least 200 x 10 connections, each with two
    // requests of 46 + 1 + 5 = 52 bytes (cluster 1, shard 0) over the whole run.
    let cats = &o.categories;
    let req = cats
        .iter()
        .position(|c| c.0 == "metadata" && c.1 == "request")
        .unwrap();
    let sent: u64 = o.bandwidth.series.iter().map(|p| p.bytes_out[req]).sum();
    assert!(sent >= 52 * 2 * 2000, "{sent}");
    assert_eq!(sent % 52, 0);
    assert!(counter(&o, "pings") > 0);
    // One topic: its relay bytes are the message and control categories' bytes: at least
    // each published message (500 B payload) sent to D = 6 peers by its publisher.
    assert_eq!(o.relay.topic_bytes_out.len(), 1);
    assert!(o.relay.topic_bytes_out[0] > o.relay.delivery.messages * 500 * 6);
}

#[test]
fn same_seed_same_emergent_run_different_seed_different_run() {
    let a = run(emergent(60, 20, 3), &|_, _| {}).unwrap();
    let b = run(emergent(60, 20, 3), &|_, _| {}).unwrap();
    let c = run(emergent(60, 20, 4), &|_, _| {}).unwrap();
    assert_eq!(a.event_hash, b.event_hash);
    assert_eq!(a, b);
    assert_ne!(a.event_hash, c.event_hash);
}

#[test]
fn nodes_of_another_cluster_are_disconnected() {
    // Nodes 0..39 in cluster 1, 40..79 in cluster 2, everyone knowing peers of both.
    let mut i = emergent(80, 30, 1);
    i.sharding.clusters = (0..80).map(|n| if n < 40 { 1 } else { 2 }).collect();
    i.run.duration = SimDuration::from_secs(40);
    i.run.warmup = SimDuration::from_secs(20);
    let mut p = harness::build(i).unwrap();
    p.engine.run_until(SimTime::from_secs(40));
    for a in 0..80u32 {
        for (b, _) in p.engine.connections(NodeId(a)) {
            assert_eq!(a < 40, b.0 < 40, "{a} - {b} across clusters at the end");
        }
    }
    let o = harness::run_prepared(p, &|_, _| {});
    assert!(counter(&o, "metadata_cluster_mismatch") > 0);
}

#[test]
fn a_node_on_many_shards_keeps_a_healthy_mesh_on_each() {
    // Group A (nodes 0..59) on shards 0..7, group B (60..119) on shards 8..15; node 0 on all
    // 16. Every peer of node 0 shares 8 of its shards, so its 30 relay connections (10 out, up
    // to 20 in) give each shard about 15 candidates: at least D_low = 4 each.
    let n = 120;
    let mut i = emergent(n, 0, 1);
    i.sharding.topics = (0..16).map(|s| format!("/waku/2/rs/1/{s}")).collect();
    i.sharding.subscriptions = (0..n)
        .map(|a| match a {
            0 => (0..16).collect(),
            1..60 => (0..8).collect(),
            _ => (8..16).collect(),
        })
        .collect();
    // Each node knows 30 random nodes of its own group, plus node 0 for everybody; node 0
    // knows 40 of each group.
    i.peer_manager.as_mut().expect("set by emergent").bootstrap = (0..n)
        .map(|a| {
            if a == 0 {
                (1..n).step_by(3).map(|p| NodeId(p as u32)).collect()
            } else {
                let base = if a < 60 { 0 } else { 60 };
                let mut v: Vec<NodeId> = (0..30)
                    .map(|k| NodeId((base + (a + 1 + k * 7) % 60) as u32))
                    .filter(|&p| p.index() != a)
                    .collect();
                v.push(NodeId(0));
                v
            }
        })
        .collect();
    i.app.workload = WorkloadConfig::default();
    i.app.workload.streams[0].publishers = Publishers::Count(2);
    let mut p = harness::build(i).unwrap();
    p.engine.run_until(SimTime::from_secs(60));
    let relay = p.engine.node(NodeId(0)).relay().expect("node 0 relays");
    for s in 0..16u16 {
        let m = relay.mesh(TopicIdx(s)).len();
        assert!(m >= 4, "shard {s}: mesh of {m}");
    }
}

#[test]
fn restarted_nodes_reconnect_from_their_source() {
    let mut i = emergent(100, 30, 2);
    for a in 0..10u32 {
        i.network
            .faults
            .push((SimTime::from_secs(30), Fault::NodeOffline(NodeId(a))));
        i.network
            .faults
            .push((SimTime::from_secs(40), Fault::NodeOnline(NodeId(a))));
    }
    let o = run(i, &|_, _| {}).unwrap();
    // Back at 40 s with an empty store refilled from the list: targets met again well before
    // 90 s.
    for s in o.overlay.connections.iter().filter(|s| s.t_s >= 90.0) {
        assert_eq!(s.below_out_target, 0, "at {} s", s.t_s);
    }
}

#[test]
fn protected_shard_rejects_unsigned_messages() {
    let mut ok = emergent(60, 20, 1);
    ok.relay.protected_topics = vec![0];
    let o = run(ok, &|_, _| {}).unwrap();
    assert_eq!(o.relay.delivery.mean, 1.0);
    let mut bad = emergent(60, 20, 1);
    bad.relay.protected_topics = vec![0];
    bad.app.workload.streams[0].signing = Signing::None;
    let o = run(bad, &|_, _| {}).unwrap();
    // Nobody accepts: every receiver rejects (P4); the messages reach only direct peers.
    assert_eq!(o.relay.delivery.mean, 0.0);
    assert!(o.relay.counter("rejected") > 0);
}

#[test]
fn autosharding_puts_a_content_topic_on_its_shard() {
    // "/toychat/2/huilong/proto" -> shard 3 of 8 (nwaku's own test vector).
    let mut i = emergent(60, 20, 1);
    i.sharding.topics = (0..8).map(|s| format!("/waku/2/rs/1/{s}")).collect();
    i.sharding.subscriptions = vec![(0..8).collect(); 60];
    i.app.workload.streams[0].content_topic = "/toychat/2/huilong/proto".into();
    i.app.workload.streams[0].autoshard = true;
    let o = run(i, &|_, _| {}).unwrap();
    assert!(!o.relay.delivery.per_message.is_empty());
    assert!(o.relay.delivery.per_message.iter().all(|m| m.topic == 3));
    // Traffic is attributed to shard 3 (messages and gossip) and to no shard without
    // publishers but for mesh maintenance (GRAFT / PRUNE), far less.
    assert!(o.relay.topic_bytes_out[3] > 10 * o.relay.topic_bytes_out[0]);
}
