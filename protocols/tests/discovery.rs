//! Discovery on the engine: nodes that know only discv5's bootstrap nodes find peers of their
//! shards through nwaku's discovery loop, and their peer managers connect to them.

use protocols::harness::{Discv5Input, PeerManagerInput, SimInput, run};
use protocols::workload::{Arrival, PayloadSize, Publishers, StreamConfig, WorkloadConfig};
use sim_core::{ConstantLatency, SimDuration};

/// `n` nodes on `shards` shards (node i on shard i % shards), no bootstrap lists: only
/// discv5 (bootstrap nodes 0 and 1) brings peers.
fn discv5_run(n: usize, shards: u16, seed: u64) -> SimInput {
    let mut i = SimInput::new(
        n,
        Vec::new(),
        Box::new(ConstantLatency(SimDuration::from_millis(30))),
    );
    i.sharding.topics = (0..shards).map(|s| format!("/waku/2/rs/1/{s}")).collect();
    i.sharding.subscriptions = (0..n).map(|k| vec![(k % shards as usize) as u16]).collect();
    i.peer_manager = Some(PeerManagerInput::default());
    i.discv5 = Some(Discv5Input {
        config: protocols::discovery::discv5::Discv5Config {
            bootstrap_nodes: vec![0, 1],
            ..Default::default()
        },
        runs: Vec::new(),
    });
    i.app.workload = WorkloadConfig {
        streams: vec![StreamConfig {
            publishers: Publishers::Count(2),
            interval_ms: 1000.0,
            arrival: Arrival::Fixed,
            payload: PayloadSize::FixedBytes(200),
            ..StreamConfig::default()
        }],
    };
    i.run.duration = SimDuration::from_secs(90);
    i.run.warmup = SimDuration::from_secs(60);
    i.run.seed = seed;
    i
}

#[test]
fn nodes_find_peers_through_discv5_and_connect() {
    let o = run(discv5_run(120, 2, 1), &|_, _| {}).unwrap();
    let d = o.discovery.as_ref().expect("discovery ran");
    assert_eq!(d.discv5_nodes, 120);
    // nwaku's loop runs every 5 s after a lookup: about 90 / 5 = 18 per node at most.
    let lookups = d.discv5_counter("search_lookups");
    assert!(lookups > 120 * 5 && lookups <= 120 * 19, "{lookups}");
    assert!(d.discv5_counter("new_peers") > 120 * 5);
    // Kept nodes share the node's shard: about half of what lookups return (2 shards).
    let kept = d.discv5_counter("kept_nodes") as f64;
    let all = d.discv5_counter("lookup_nodes") as f64;
    assert!(kept / all > 0.4 && kept / all < 0.65, "{kept} / {all}");
    // Nearly every node reached its outbound target of 10 from discovered peers within 90 s
    // (at most 5 %, 6 of 120, still dialling).
    let last = o.overlay.connections.last().unwrap();
    assert!(last.below_out_target <= 6, "{}", last.below_out_target);
    assert!(last.outbound_mean > 9.0, "{}", last.outbound_mean);
    assert!(o.relay.delivery.mean > 0.99, "{}", o.relay.delivery.mean);
    // Every packet kind was sent and counted under its own category.
    for kind in [
        "ping",
        "pong",
        "findnode",
        "nodes",
        "whoareyou",
        "handshake",
    ] {
        let c = o
            .categories
            .iter()
            .position(|c| *c == ("discv5".to_owned(), kind.to_owned()))
            .unwrap_or_else(|| panic!("category discv5/{kind}"));
        let sent: u64 = o.bandwidth.series.iter().map(|p| p.bytes_out[c]).sum();
        assert!(sent > 0, "discv5/{kind}");
    }
}

#[test]
fn same_seed_same_discovery_run() {
    let a = run(discv5_run(60, 3, 4), &|_, _| {}).unwrap();
    let b = run(discv5_run(60, 3, 4), &|_, _| {}).unwrap();
    let c = run(discv5_run(60, 3, 5), &|_, _| {}).unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_ne!(a.event_hash, c.event_hash);
}

#[test]
fn nodes_without_discv5_get_peers_by_peer_exchange() {
    // 120 nodes on one shard (a service node on another shard than its client would be
    // dropped by the metadata check with the answer in flight); nodes 0-79 run discv5,
    // 80-119 do not: they ask service node 0 or 1 for peers by peer exchange at start (8)
    // and every minute (5).
    let mut i = discv5_run(120, 1, 3);
    i.discv5.as_mut().unwrap().runs = (0..120).map(|k| k < 80).collect();
    // Service nodes with room for every client: with nwaku's 50 connections a bootstrap
    // node above its inbound target drops a joining client about one round trip later, and
    // the answer in flight with it.
    i.peer_manager.as_mut().unwrap().config.max_connections = 300;
    i.peer_exchange = Some(protocols::harness::PxInput {
        config: protocols::discovery::peer_exchange::PxConfig {
            servers: vec![0, 1],
            ..Default::default()
        },
        clients: Vec::new(),
    });
    let o = run(i, &|_, _| {}).unwrap();
    let d = o.discovery.as_ref().unwrap();
    assert_eq!(d.discv5_nodes, 80);
    let px = |n: &str| d.peer_exchange.iter().find(|c| c.0 == n).unwrap().1;
    // 40 clients, each asking within the first second and at about 61 s: 80 requests, fewer
    // only for a client whose dial was refused (the server's connection limits).
    assert!(
        px("requests") >= 60 && px("requests") <= 80,
        "{}",
        px("requests")
    );
    // The first answers are empty (a service node fills its cache from 5 s on, as nwaku's);
    // later ones carry ENRs (measured: 40 of the 200 a full second round would give; answers
    // in flight die with a connection the server's peer manager closes).
    assert!(px("empty_responses") >= 30, "{}", px("empty_responses"));
    assert!(px("peers_received") >= 20, "{}", px("peers_received"));
    for kind in ["request", "response"] {
        let c = o
            .categories
            .iter()
            .position(|c| *c == ("peer_exchange".to_owned(), kind.to_owned()))
            .unwrap();
        let sent: u64 = o.bandwidth.series.iter().map(|p| p.bytes_out[c]).sum();
        assert!(sent > 0, "peer_exchange/{kind}");
    }
}
