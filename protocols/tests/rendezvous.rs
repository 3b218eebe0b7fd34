//! Rendezvous in whole runs: nodes that know nobody find the peers of their shard through
//! rendezvous points alone; a point going offline; determinism.

use protocols::discovery::rendezvous::RendezvousConfig;
use protocols::harness::{PeerManagerInput, RendezvousInput, SimInput, SimOutput, run};
use sim_core::{ConstantLatency, Fault, NodeId, SimDuration, SimTime};

/// `n` nodes with no wiring and no bootstrap list; nodes 0..3 are rendezvous points on all 4
/// shards, node i >= 3 is on shard i % 4. Every node runs the peer manager and nwaku's
/// rendezvous client.
fn network(n: usize, seed: u64, cfg: RendezvousConfig) -> SimInput {
    let mut i = SimInput::new(
        n,
        Vec::new(),
        Box::new(ConstantLatency(SimDuration::from_millis(40))),
    );
    i.sharding.topics = (0..4).map(|s| format!("/waku/2/rs/1/{s}")).collect();
    i.sharding.subscriptions = (0..n)
        .map(|a| {
            if a < 3 {
                vec![0, 1, 2, 3]
            } else {
                vec![(a % 4) as u16]
            }
        })
        .collect();
    i.peer_manager = Some(PeerManagerInput::default());
    i.rendezvous = Some(RendezvousInput {
        config: cfg,
        points: vec![NodeId(0), NodeId(1), NodeId(2)],
    });
    i.run.duration = SimDuration::from_secs(150);
    i.run.warmup = SimDuration::from_secs(10);
    i.run.seed = seed;
    i
}

fn bytes_out(o: &SimOutput, kind: &str) -> u64 {
    let c = o
        .categories
        .iter()
        .position(|(p, k)| p == "rendezvous" && k == kind)
        .unwrap_or_else(|| panic!("no rendezvous/{kind} row"));
    o.bandwidth.per_node.iter().map(|t| t.bytes_out[c]).sum()
}

#[test]
fn every_node_finds_peers_of_its_shard_through_rendezvous_alone() {
    // Points with room for every client (nwaku's 50 connections would drop joining clients
    // right after the metadata exchange, with their answers in flight).
    let cfg = RendezvousConfig {
        point_max_connections: Some(200),
        ..RendezvousConfig::default()
    };
    let o = run(network(60, 1, cfg), &|_, _| {}).unwrap();
    let r = o.rendezvous.as_ref().expect("rendezvous output");
    assert_eq!(r.counter("requests_failed"), 0);
    // Every node registers its one shard every 10 s; the first discovery round (within 10 s
    // of the start) comes before any registration and is refused (E_INVALID_NAMESPACE at
    // every point), the second, 60 s later, finds up to 12 peers per shard.
    assert!(r.counter("register_ok") > 0);
    assert!(r.counter("discover_ok") > 0);
    assert!(r.counter("records_received") > 0);
    for (i, n) in o.overlay.nodes.iter().enumerate().skip(3) {
        // Its one shard has a mesh of at least D_low = 4 (healthy or minimally healthy).
        assert_eq!(n.health[0], 0, "node {i} has an unhealthy shard: {n:?}");
        assert!(n.peer_store >= 4, "node {i}: {n:?}");
    }
    // Bytes under each kind: requests and answers.
    for k in [
        "register",
        "register_response",
        "discover",
        "discover_response",
    ] {
        assert!(bytes_out(&o, k) > 0, "{k}");
    }
    // Points: samples every 10 s and at the end, for 3 points. With a 60 s TTL and a round
    // every 10 s, a client holds at most one live registration per (point, shard) (a
    // re-registration expires the earlier one) and at least one somewhere: the 57 clients
    // (one shard each) hold 57 to 3 x 57 = 171; the 3 points register their 4 shards at the
    // 2 others: 12 to 3 x 4 x 2 = 24 more. So 69 <= held <= 195.
    let last: Vec<_> = r.samples.iter().filter(|s| s.t_s == 150.0).collect();
    assert_eq!(last.len(), 3);
    let held: u32 = last.iter().map(|s| s.registrations).sum();
    assert!((69..=195).contains(&held), "{held}");
    assert!(last.iter().all(|s| s.requests[0] > 0 && s.requests[1] > 0));
}

#[test]
fn a_point_going_offline_costs_failed_requests_and_empties_its_registry() {
    let mut i = network(40, 2, RendezvousConfig::default());
    i.network
        .faults
        .push((SimTime::from_secs(40), Fault::NodeOffline(NodeId(0))));
    i.network
        .faults
        .push((SimTime::from_secs(100), Fault::NodeOnline(NodeId(0))));
    let o = run(i, &|_, _| {}).unwrap();
    let r = o.rendezvous.unwrap();
    // Clients keep drawing point 0 while it is offline: their dials fail.
    assert!(r.counter("requests_failed") > 0);
    let at = |t: f64| {
        r.samples
            .iter()
            .find(|s| s.point == 0 && s.t_s == t)
            .unwrap()
            .clone()
    };
    assert!(at(30.0).registrations > 0);
    assert!(!at(50.0).online);
    // Back at 100 s with an empty registry (kept in memory), refilled by re-registrations.
    assert!(at(110.0).online);
    assert!(at(150.0).registrations > 0);
    assert!(at(110.0).requests[0] > at(30.0).requests[0]);
}

#[test]
fn same_seed_same_bytes_other_seed_other_run() {
    let a = run(network(30, 5, RendezvousConfig::default()), &|_, _| {}).unwrap();
    let b = run(network(30, 5, RendezvousConfig::default()), &|_, _| {}).unwrap();
    let c = run(network(30, 6, RendezvousConfig::default()), &|_, _| {}).unwrap();
    assert_eq!(a.event_hash, b.event_hash);
    assert_eq!(a, b);
    assert_ne!(a.event_hash, c.event_hash);
}

#[test]
fn bad_input_is_refused_with_the_field() {
    let mut i = network(10, 1, RendezvousConfig::default());
    i.rendezvous.as_mut().unwrap().points = vec![NodeId(50)];
    let e = run(i, &|_, _| {}).err().unwrap().to_string();
    assert!(e.contains("discovery.rendezvous.points"), "{e}");
    let mut i = network(10, 1, RendezvousConfig::default());
    i.rendezvous.as_mut().unwrap().points = Vec::new();
    let e = run(i, &|_, _| {}).err().unwrap().to_string();
    assert!(e.contains("discovery.rendezvous.points"), "{e}");
    let cfg = RendezvousConfig {
        min_ttl_s: 10,
        max_ttl_s: 5,
        ..RendezvousConfig::default()
    };
    let e = run(network(10, 1, cfg), &|_, _| {})
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("discovery.rendezvous.min_ttl_s"), "{e}");
}
