//! Relay on the engine: small networks run through the harness. Expected numbers are derived
//! by hand in the comments.

use protocols::harness::{SimInput, SimOutput, run};
use protocols::node::NodeCommand;
use protocols::relay::config::RelayConfig;
use protocols::relay::message::TopicIdx;
use protocols::workload::{Arrival, PayloadSize, Publishers, StreamConfig, WorkloadConfig};
use rand::{Rng, SeedableRng};
use sim_core::{ConstantLatency, FnLatency, NodeId, SimDuration, SimTime};

/// The run's category of (protocol, kind), from the node's list.
fn cat(protocol: &str, kind: &str) -> sim_core::Category {
    let i = protocols::node::category_names()
        .iter()
        .position(|&c| c == (protocol, kind))
        .expect("a category of the list");
    sim_core::Category(i as u16)
}

/// Each node dials `out` distinct random peers (seeded).
fn overlay(n: usize, out: usize, seed: u64) -> Vec<(u32, u32)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut adj = vec![Vec::new(); n];
    let mut edges = Vec::new();
    for a in 0..n {
        let mut made = 0;
        while made < out {
            let b = rng.random_range(0..n);
            if b == a || adj[a].contains(&b) {
                continue;
            }
            adj[a].push(b);
            adj[b].push(a);
            edges.push((a as u32, b as u32));
            made += 1;
        }
    }
    edges
}

fn stream(publishers: Publishers, interval_ms: f64, payload: u32) -> StreamConfig {
    StreamConfig {
        publishers,
        interval_ms,
        arrival: Arrival::Fixed,
        payload: PayloadSize::FixedBytes(payload),
        ..StreamConfig::default()
    }
}

fn small_run(seed: u64) -> SimInput {
    let n = 60;
    let mut i = SimInput::new(
        n,
        overlay(n, 5, 7),
        Box::new(ConstantLatency(SimDuration::from_millis(50))),
    );
    i.app.workload = WorkloadConfig {
        streams: vec![stream(Publishers::Count(5), 1000.0, 2000)],
    };
    i.run.duration = SimDuration::from_secs(40);
    i.run.warmup = SimDuration::from_secs(10);
    i.run.seed = seed;
    i
}

fn bytes_out(o: &SimOutput, cat: sim_core::Category) -> u64 {
    o.bandwidth
        .per_node
        .iter()
        .map(|t| t.bytes_out[cat.0 as usize])
        .sum()
}

fn msgs_out(o: &SimOutput, cat: sim_core::Category) -> u64 {
    o.bandwidth
        .per_node
        .iter()
        .map(|t| t.msgs_out[cat.0 as usize])
        .sum()
}

#[test]
fn full_delivery_and_settled_meshes_without_faults() {
    let o = run(small_run(1), &|_, _| {}).unwrap();
    // 5 publishers x 1/s from 10 s to 35 s (the last 5 s are the delivery grace): 125.
    assert!(
        (120..=130).contains(&o.relay.delivery.messages),
        "{}",
        o.relay.delivery.messages
    );
    assert_eq!(o.relay.delivery.mean, 1.0);
    assert_eq!(o.relay.delivery.worst, 1.0);
    assert_eq!(o.relay.delivery.not_fully_delivered, 0);
    // Latency: at least one hop of 50 ms plus transmission; a 60-node mesh of degree ~6 is
    // at most a handful of hops deep.
    assert!(
        o.relay.latency.p50_ms > 50.0 && o.relay.latency.max_ms < 600.0,
        "{:?}",
        o.relay.latency
    );
    assert_eq!(
        o.relay.latency.hops[0], 0,
        "a message's first receipt is at least one hop"
    );
    assert_eq!(o.relay.publishing.no_peers, 0);
    // Meshes settle within [D_low, D_high] (sampled every second after the warm-up).
    // nim-libp2p can keep D_high + D_out when the lowest-score candidates are outbound.
    for m in o.relay.mesh.iter().filter(|m| m.t_s >= 10.0) {
        assert_eq!(m.nodes, 60);
        assert!(m.min >= 4, "{m:?}");
        assert!(m.max <= 8 + 3, "{m:?}");
        assert!((4..=8).contains(&m.p50), "{m:?}");
    }
    // Every category shows up where it should.
    assert!(bytes_out(&o, cat("relay", "publish")) > 0);
    assert!(bytes_out(&o, cat("relay", "forward")) > 0);
    assert!(bytes_out(&o, cat("relay", "ihave")) > 0);
    assert!(bytes_out(&o, cat("relay", "idontwant")) > 0);
    assert!(bytes_out(&o, cat("transport", "framing")) > 0);
    // What was sent was received (no faults, no drops).
    let total_in: u64 = o
        .bandwidth
        .per_node
        .iter()
        .map(|t| t.bytes_in.iter().sum::<u64>())
        .sum();
    let total_out: u64 = o
        .bandwidth
        .per_node
        .iter()
        .map(|t| t.bytes_out.iter().sum::<u64>())
        .sum();
    let in_flight_slack = total_out / 50;
    assert!(total_out.abs_diff(total_in) <= in_flight_slack);
    assert!(o.drops.iter().all(|(_, v)| *v == 0), "{:?}", o.drops);
}

#[test]
fn same_seed_same_run_different_seed_different_run() {
    let a = run(small_run(3), &|_, _| {}).unwrap();
    let b = run(small_run(3), &|_, _| {}).unwrap();
    let c = run(small_run(4), &|_, _| {}).unwrap();
    assert_eq!(a.event_hash, b.event_hash);
    assert_eq!(a, b, "identical outputs");
    assert_ne!(a.event_hash, c.event_hash);
}

/// The radix heap (which looks ahead and has the engine and the relay prefetch) and the
/// binary heap (no look-ahead) give the same run, event for event: prefetching is a hint
/// only. Run in debug builds too, this also checks the prefetch paths' arithmetic.
#[test]
fn prefetching_queue_gives_the_identical_run() {
    let mut a = small_run(5);
    a.run.queue = Some(sim_core::QueueKind::Radix);
    let mut b = small_run(5);
    b.run.queue = Some(sim_core::QueueKind::BinaryHeap);
    let (a, b) = (run(a, &|_, _| {}).unwrap(), run(b, &|_, _| {}).unwrap());
    assert!(
        a.relay.delivery.messages > 0 && a.events > 10_000,
        "a real run: {} events",
        a.events
    );
    assert_eq!(a.event_hash, b.event_hash);
    assert_eq!(a, b, "identical outputs");
}

/// IDONTWANTs deferred to their receivers' next inputs (the default) and IDONTWANTs
/// delivered as events give the same results, under churn, a partition and a degraded node
/// (which reorders and reschedules messages): only the order of handler calls across nodes,
/// hence the event hash, differs.
#[test]
fn deferred_idontwants_give_the_same_results() {
    let faulty = |defer: bool| {
        let mut i = small_run(6);
        i.run.defer_passive = defer;
        let s = SimTime::from_secs;
        i.network.faults = vec![
            (s(12), sim_core::Fault::NodeOffline(NodeId(4))),
            (s(18), sim_core::Fault::NodeOnline(NodeId(4))),
            (
                s(14),
                sim_core::Fault::DegradeNode(
                    NodeId(9),
                    sim_core::Degradation {
                        extra_latency: SimDuration::from_millis(80),
                        loss: 0.1,
                        bandwidth_factor: 0.2,
                    },
                ),
            ),
            (s(25), sim_core::Fault::RestoreNode(NodeId(9))),
            (
                s(20),
                sim_core::Fault::PartitionStart {
                    id: 1,
                    groups: (0..60).map(|n| (n % 3 == 0) as u32).collect(),
                },
            ),
            (s(23), sim_core::Fault::PartitionEnd { id: 1 }),
        ];
        run(i, &|_, _| {}).unwrap()
    };
    let (mut a, b) = (faulty(true), faulty(false));
    let idontwants = msgs_out(&a, cat("relay", "idontwant"));
    assert!(idontwants > 1_000, "{idontwants} IDONTWANTs sent");
    assert_ne!(a.event_hash, b.event_hash, "IDONTWANTs were deferred");
    a.event_hash = b.event_hash;
    assert_eq!(a, b, "identical results");
}

/// A complete or ring graph with D settings that force the mesh to equal the graph, gossip
/// off (D_lazy = 0, gossip factor 0), messages small enough for no IDONTWANT. One message
/// published by node 0 at 5 s.
fn copies_run(n: usize, edges: Vec<(u32, u32)>, d: u32, d_out: u32) -> SimOutput {
    let mut i = SimInput::new(
        n,
        edges,
        Box::new(ConstantLatency(SimDuration::from_millis(20))),
    );
    i.relay.config = RelayConfig {
        d,
        d_low: d,
        d_high: d,
        d_score: d,
        d_out,
        d_lazy: 0,
        gossip_factor: 0.0,
        ..RelayConfig::default()
    };
    i.app.workload = WorkloadConfig { streams: vec![] };
    i.app.commands = vec![(
        SimTime::from_secs(5),
        NodeId(0),
        NodeCommand::Publish {
            topic: TopicIdx(0),
            payload_bytes: 300,
            invalid: false,
        },
    )];
    i.run.duration = SimDuration::from_secs(10);
    i.run.warmup = SimDuration::from_secs(2);
    run(i, &|_, _| {}).unwrap()
}

#[test]
fn payload_copies_in_a_static_mesh_equal_the_hand_count() {
    // K5, D = 4: every node's mesh is its 4 neighbours. The publisher sends 4 copies; each
    // of the 4 others forwards once to its mesh except the sender: 4 x 3 = 12.
    // Copies = sum over non-publishers of (deg - 1) + publisher's deg = 12 + 4 = 16.
    let mut k5 = Vec::new();
    for a in 0..5u32 {
        for b in a + 1..5 {
            k5.push((a, b));
        }
    }
    let o = copies_run(5, k5, 4, 2);
    assert_eq!(msgs_out(&o, cat("relay", "publish")), 4);
    assert_eq!(msgs_out(&o, cat("relay", "forward")), 12);
    assert_eq!(o.relay.delivery.mean, 1.0);
    // Receipts: 16 copies, 4 first receipts, so 12 duplicates (3 at each receiver, none back
    // at the publisher).
    let dups: u64 = o
        .relay
        .duplicates
        .histogram
        .iter()
        .enumerate()
        .map(|(c, k)| c as u64 * k)
        .sum();
    assert_eq!(dups, 12);
    assert_eq!(o.relay.duplicates.histogram.get(3), Some(&4));
    // Bytes: a 300-byte payload makes a 339-byte WakuMessage (payload 1 + 2 + 300, content
    // topic "/wakusim/1/default/proto" 1 + 1 + 24, timestamp 10), sent in a 363-byte RPC
    // (message: 1 + 2 + 339 data, 1 + 1 + 14 topic = 358; RPC field 1 + 2 + 358 = 361;
    // length prefix 2). 16 copies x 363 = 5,808 bytes, plus 30 bytes of framing each.
    assert_eq!(
        bytes_out(&o, cat("relay", "publish")) + bytes_out(&o, cat("relay", "forward")),
        16 * 363
    );
    assert!(bytes_out(&o, cat("relay", "ihave")) == 0, "gossip off");

    // A ring of 10, D = 2: publisher 2 copies, every other node forwards once: 2 + 9 = 11.
    let ring: Vec<(u32, u32)> = (0..10u32).map(|a| (a, (a + 1) % 10)).collect();
    let o = copies_run(10, ring, 2, 1);
    assert_eq!(msgs_out(&o, cat("relay", "publish")), 2);
    assert_eq!(msgs_out(&o, cat("relay", "forward")), 9);
    assert_eq!(o.relay.delivery.mean, 1.0);
    // The two waves meet at node 5 (5 hops both ways): 11 receipts, 9 first, 2 duplicates.
    assert_eq!(
        o.relay.duplicates.samples, 10,
        "9 receivers and the publisher"
    );
    let dups: u64 = o
        .relay
        .duplicates
        .histogram
        .iter()
        .enumerate()
        .map(|(c, k)| c as u64 * k)
        .sum();
    assert_eq!(dups, 2);
    // First receipts by hop: nodes 1 and 9 at one hop, 2 and 8 at two, ..., node 5 at five.
    assert_eq!(o.relay.latency.hops, vec![0, 2, 2, 2, 2, 1]);
}

#[test]
fn a_node_outside_every_mesh_still_receives_through_gossip() {
    // Node 7 PRUNEs everyone at 8 s with a one-day backoff: it stays connected but no mesh
    // includes it, so it gets messages only through IHAVE / IWANT. The warm-up ends at 10 s,
    // so its measured traffic is all after the isolation.
    let mut i = small_run(5);
    i.app.commands = vec![(
        SimTime::from_secs(8),
        NodeId(7),
        NodeCommand::PruneAll(SimDuration::from_secs(86_400)),
    )];
    let o = run(i, &|_, _| {}).unwrap();
    let t = &o.bandwidth.per_node[7];
    let c = |c: sim_core::Category| c.0 as usize;
    assert_eq!(
        t.bytes_in[c(cat("relay", "forward"))],
        0,
        "no mesh forwards"
    );
    assert!(
        t.bytes_out[c(cat("relay", "iwant"))] > 0,
        "asks through IWANT"
    );
    assert!(
        t.bytes_in[c(cat("relay", "iwant_reply"))] > 0,
        "and gets replies"
    );
    assert!(t.bytes_in[c(cat("relay", "ihave"))] > 0);
    // It still receives everything (it is subscribed and online): delivery stays complete.
    assert_eq!(
        o.relay.delivery.mean, 1.0,
        "{:?}",
        o.relay.delivery.not_fully_delivered
    );
    // Gossip is slower than the mesh: some first receipts took an IHAVE round (heartbeat)
    // plus an IWANT round trip, over 50 ms x 3 more than the mesh path.
    assert!(o.relay.latency.max_ms > 200.0);
}

#[test]
fn idontwant_cuts_duplicate_payload_bytes_for_large_messages() {
    // 40 nodes with latencies spread over 10-150 ms, 20 KB payloads on 20 Mbit/s links, and
    // a 30 ms validation (an RLN proof check on a busy node): a node sends IDONTWANT as soon
    // as a message arrives but forwards it only after validation, so its mesh peers often
    // learn in time not to send it a copy. Gossipsub v1.1 (off) sends every copy.
    let make = |idontwant: bool| {
        let n = 40;
        let mut i = SimInput::new(
            n,
            overlay(n, 5, 11),
            Box::new(FnLatency(|a: NodeId, b: NodeId| {
                let x = (a.0 * 7919 + b.0 * 7919) % 141;
                SimDuration::from_millis(10 + x as u64)
            })),
        );
        i.network.capacities = vec![sim_core::LinkCapacity::symmetric_mbps(20); n];
        i.app.workload = WorkloadConfig {
            streams: vec![stream(Publishers::Count(4), 2000.0, 20_000)],
        };
        i.relay.config.idontwant = idontwant;
        i.relay.config.validation_delay_us = 30_000;
        i.run.duration = SimDuration::from_secs(30);
        i.run.warmup = SimDuration::from_secs(10);
        run(i, &|_, _| {}).unwrap()
    };
    let on = make(true);
    let off = make(false);
    assert_eq!(on.relay.delivery.mean, 1.0);
    assert_eq!(off.relay.delivery.mean, 1.0);
    let fwd_on = bytes_out(&on, cat("relay", "forward"));
    let fwd_off = bytes_out(&off, cat("relay", "forward"));
    assert_eq!(bytes_out(&off, cat("relay", "idontwant")), 0);
    assert!(bytes_out(&on, cat("relay", "idontwant")) > 0);
    // A clear reduction of forwarded payload bytes and of duplicates.
    assert!(
        (fwd_on as f64) < 0.85 * fwd_off as f64,
        "forwarded bytes with IDONTWANT {fwd_on} vs without {fwd_off}"
    );
    assert!(on.relay.duplicates.mean < off.relay.duplicates.mean);
    assert!(on.relay.counter("idontwant_saved_sends") > 0);
}

#[test]
fn a_spammer_is_graylisted_and_disconnected() {
    // Node 3 publishes an invalid message every 500 ms from 1 s on. Each costs it P4 at the
    // peers that receive it (flood publishing reaches every neighbour): 12 s of spam = 24
    // messages, so at a neighbour's first score update after ~6 of them it is below
    // -100 x 6^2 = -3,600, and after 11 (5.5 s) below -12,100 < -10,000: graylisted and
    // disconnected. Within 40 s every neighbour has dropped it.
    let mut i = small_run(9);
    let mut spam = stream(Publishers::Nodes(vec![3]), 500.0, 200);
    spam.invalid = true;
    spam.start_s = Some(1.0);
    i.app.workload.streams.push(spam);
    let edges = i.network.edges.clone();
    let degree = edges.iter().filter(|(a, b)| *a == 3 || *b == 3).count() as u64;
    let o = run(i, &|_, _| {}).unwrap();
    assert!(o.relay.counter("rejected") > 0);
    assert!(
        o.relay.counter("graylist_disconnect") >= degree,
        "{} of {degree}",
        o.relay.counter("graylist_disconnect")
    );
    // Invalid messages are not forwarded: only the spammer sends them. Honest messages still
    // reach everyone but the (disconnected) spammer itself.
    assert!(o.relay.publishing.invalid > 0);
    for m in o
        .relay
        .delivery
        .per_message
        .iter()
        .filter(|m| m.publisher != 3)
    {
        assert!(m.delivered + 1 >= m.eligible, "{m:?}");
    }
    // Its attempts after the disconnects find no peer.
    assert!(o.relay.publishing.no_peers > 0);
}

#[test]
fn churned_nodes_count_only_for_messages_published_while_they_stay_online() {
    // Node 10 goes offline at 15 s and back at 20 s: messages published while it was away
    // or before (it is not online from then to the end) do not count it.
    let mut i = small_run(2);
    i.network.faults = vec![
        (
            SimTime::from_secs(15),
            sim_core::Fault::NodeOffline(NodeId(10)),
        ),
        (
            SimTime::from_secs(20),
            sim_core::Fault::NodeOnline(NodeId(10)),
        ),
    ];
    // The overlay is static (no peer manager yet), so nobody dials node 10 again: it comes
    // back isolated, and counts (undelivered) for messages published after 20 s.
    let o = run(i, &|_, _| {}).unwrap();
    // Messages published after 20 s count node 10 but it has no connection any more.
    let late: Vec<_> = o
        .relay
        .delivery
        .per_message
        .iter()
        .filter(|m| m.publish_s > 20.5)
        .collect();
    assert!(!late.is_empty());
    for m in &late {
        assert_eq!(
            m.eligible, 59,
            "everyone but the publisher, node 10 included"
        );
        if m.publisher == 10 {
            assert_eq!(
                m.delivered, 0,
                "an isolated publisher reaches nobody: {m:?}"
            );
            assert!(m.no_peers);
        } else {
            assert_eq!(m.delivered, 58, "node 10 is isolated: {m:?}");
        }
    }
    // Messages published between 15 and 20 s do not count it.
    for m in o
        .relay
        .delivery
        .per_message
        .iter()
        .filter(|m| m.publish_s > 15.0 && m.publish_s < 20.0)
    {
        assert_eq!(m.eligible, 58);
        assert_eq!(m.delivered, 58);
    }
}

/// A chain 0 - 1 - 2 - 3 - 4 with 50 ms links; node 0 publishes 200-byte messages every
/// second; node 4 goes offline at 15 s and comes back (isolated: the overlay is static) at
/// 20 s.
fn chain_run() -> SimInput {
    let n = 5;
    let mut i = SimInput::new(
        n,
        vec![(0, 1), (1, 2), (2, 3), (3, 4)],
        Box::new(ConstantLatency(SimDuration::from_millis(50))),
    );
    i.app.workload = WorkloadConfig {
        streams: vec![stream(Publishers::Nodes(vec![0]), 1000.0, 200)],
    };
    i.run.duration = SimDuration::from_secs(30);
    i.run.warmup = SimDuration::from_secs(10);
    i.network.faults = vec![
        (
            SimTime::from_secs(15),
            sim_core::Fault::NodeOffline(NodeId(4)),
        ),
        (
            SimTime::from_secs(20),
            sim_core::Fault::NodeOnline(NodeId(4)),
        ),
    ];
    i
}

#[test]
fn dissemination_levels_on_a_chain_and_churned_nodes_excluded() {
    use protocols::relay::dissemination::{MAX, NOT_REACHED, P50, P90, P95, P99};
    let o = run(chain_run(), &|_, _| {}).unwrap();
    let msgs = &o.relay.delivery.per_message;
    // Published 10 s to 25 s (the last 5 s are the delivery grace): about 15 messages.
    assert!((14..=16).contains(&msgs.len()), "{}", msgs.len());
    // Every hop costs the same d (an idle 50 ms link and the same small message), so node k
    // accepts at k * d. Before 15 s node 4 leaves later: intended are 1, 2, 3 (E = 3), node
    // 4's acceptance at 4d is not counted. Ranks for E = 3: 50 % -> ceil(1.5) = 2 (node 2,
    // 2d); 90 %, 95 %, 99 %, 100 % -> 3 (node 3, 3d). So max = 3d = the last counted
    // delivery, and p50 = 2/3 max.
    let early: Vec<_> = msgs.iter().filter(|m| m.publish_s < 15.0).collect();
    assert!(early.len() >= 4);
    let d = early[0].dissemination_ns[0]; // 5 % -> rank 1: node 1, one hop
    assert!(d > 50_000_000 && d < 60_000_000, "one hop: {d} ns");
    for m in &early {
        assert_eq!((m.eligible, m.delivered), (3, 3), "{m:?}");
        let t = m.dissemination_ns;
        assert_eq!(t[0], d, "{m:?}");
        assert_eq!(t[P50], 2 * d, "{m:?}");
        for l in [P90, P95, P99, MAX] {
            assert_eq!(t[l], 3 * d, "{m:?}");
        }
    }
    // From 20 s node 4 is intended again (E = 4) but isolated: 3 of 4 delivered. Ranks for
    // E = 4: 75 % -> 3 (3d), 80 % -> ceil(3.2) = 4: never reached, nor is anything above.
    let late: Vec<_> = msgs.iter().filter(|m| m.publish_s > 20.0).collect();
    assert!(late.len() >= 4);
    for m in &late {
        assert_eq!((m.eligible, m.delivered), (4, 3), "{m:?}");
        let t = m.dissemination_ns;
        assert_eq!(t[P50], 2 * d); // 50 % -> rank 2
        assert_eq!(t[14], 3 * d); // 75 %
        assert_eq!(t[15], NOT_REACHED); // 80 %
        assert_eq!(t[MAX], NOT_REACHED);
    }
    // The largest 100 % time is the latest counted delivery: the latency maximum (kept at
    // 1 us resolution, 3 significant digits: within 0.1 %).
    let last = msgs
        .iter()
        .map(|m| m.dissemination_ns[MAX])
        .filter(|&t| t != NOT_REACHED)
        .max()
        .unwrap() as f64
        / 1e6;
    assert!(
        (last - o.relay.latency.max_ms).abs() <= 0.001 * last,
        "{last} vs {}",
        o.relay.latency.max_ms
    );
}

#[test]
fn dissemination_is_deterministic() {
    let a = run(chain_run(), &|_, _| {}).unwrap();
    let b = run(chain_run(), &|_, _| {}).unwrap();
    let times = |o: &SimOutput| {
        o.relay
            .delivery
            .per_message
            .iter()
            .map(|m| m.dissemination_ns)
            .collect::<Vec<_>>()
    };
    assert_eq!(times(&a), times(&b));
    assert_eq!(a, b);
}

/// 150 nodes dialling 10 peers each (about 20 connections a node), 2 KB and 100 KB messages,
/// with the given `[[relay.implementations]]` entries.
fn mixed_run(seed: u64, entries: &[(&str, f64)]) -> SimOutput {
    let n = 150;
    let mut i = SimInput::new(
        n,
        overlay(n, 10, 11),
        Box::new(ConstantLatency(SimDuration::from_millis(50))),
    );
    i.app.workload = WorkloadConfig {
        streams: vec![
            stream(Publishers::Count(5), 1000.0, 2000),
            stream(Publishers::Count(2), 3000.0, 100_000),
        ],
    };
    i.run.duration = SimDuration::from_secs(40);
    i.run.warmup = SimDuration::from_secs(10);
    i.run.seed = seed;
    i.relay.config.implementations = entries
        .iter()
        .map(|&(p, f)| protocols::relay::config::ImplementationSpec {
            profile: p.to_owned(),
            fraction: f,
            group: None,
            overrides: Default::default(),
        })
        .collect();
    run(i, &|_, _| {}).expect("valid input")
}

#[test]
fn a_mixed_network_keeps_each_profiles_mesh_in_its_bounds_deterministically() {
    let entries = [
        ("nim-libp2p", 0.4),
        ("go-libp2p", 0.3),
        ("rust-libp2p", 0.3),
    ];
    let o = mixed_run(3, &entries);
    assert_eq!(o.relay.delivery.mean, 1.0);
    let imps = &o.relay.implementations;
    // 150 x 0.4 = 60, 150 x 0.3 = 45 twice.
    let nodes: Vec<u32> = imps.iter().map(|m| m.nodes).collect();
    assert_eq!(nodes, vec![60, 45, 45]);
    let mesh = |name: &str| imps.iter().find(|m| m.profile == name).unwrap().mesh_mean;
    // Bounds from each profile's rules and values, with about 20 topic peers per node:
    // - nim (nwaku D 6 / D_lo 4 / D_hi 8, D_out 3): the heartbeat keeps the mesh >= D_lo,
    //   GRAFTs stop at D_hi except up to D_out outbound ones: [4, 11];
    // - go (go-waku D 4 / D_lo 4 / D_hi 8): pruned to D at >= D_hi, GRAFTs refused at D_hi
    //   except outbound ones: [4, 8];
    // - rust (D 6 / D_lo 5 / D_hi 12): [5, 12].
    let (nim, go, rust) = (mesh("nim-libp2p"), mesh("go-libp2p"), mesh("rust-libp2p"));
    assert!((4.0..=11.0).contains(&nim), "nim {nim}");
    assert!((4.0..=8.0).contains(&go), "go {go}");
    assert!((5.0..=12.0).contains(&rust), "rust {rust}");
    // go-waku's D = 4 (pruned to 4, grafted up to 4) against nwaku's D = 6: smaller meshes.
    assert!(go < nim, "go {go} nim {nim}");
    // Determinism: the same seed gives the same run, to the last event.
    let again = mixed_run(3, &entries);
    assert_eq!(o.event_hash, again.event_hash);
    assert_eq!(o.relay.implementations, again.relay.implementations);
    assert_eq!(o.relay.impl_of, again.relay.impl_of);
    // Another seed assigns the nodes differently.
    assert_ne!(mixed_run(4, &entries).relay.impl_of, o.relay.impl_of);
}

#[test]
fn one_nim_libp2p_group_is_the_default_run() {
    let plain = mixed_run(5, &[]);
    let nim = mixed_run(5, &[("nim-libp2p", 1.0)]);
    assert_eq!(plain.event_hash, nim.event_hash);
    assert_eq!(plain.relay.latency, nim.relay.latency);
    assert_eq!(nim.relay.implementations.len(), 1);
    assert!(plain.relay.implementations.is_empty());
}

#[test]
fn handling_cost_adds_to_every_hop_and_cpu_slowdown_scales_it() {
    use protocols::relay::dissemination::{MAX, P50};
    // The chain without a handling cost: node k accepts at k * d.
    let base = run(chain_run(), &|_, _| {}).unwrap();
    let d = base.relay.delivery.per_message[0].dissemination_ns[0];
    // 2,000 us + 1,000 us per 1,000 bytes: a message of B bytes costs c = 2 ms + B us at
    // every receiver before it is validated and forwarded, so node k accepts at k * (d + c).
    let mut i = chain_run();
    i.relay.config.message_handling_us = 2000.0;
    i.relay.config.message_handling_us_per_kb = 1000.0;
    let o = run(i, &|_, _| {}).unwrap();
    let m = &o.relay.delivery.per_message[0];
    let c = 2_000_000 + m.data_bytes as u64 * 1000;
    let t = m.dissemination_ns;
    assert_eq!(t[0], d + c, "node 1, one hop");
    assert_eq!(t[P50], 2 * (d + c), "node 2");
    assert_eq!(t[MAX], 3 * (d + c), "node 3");
    // Node 1 at slowdown 2.5 takes 2.5 c: node 1 at d + 2.5c, node 2 at 2d + 3.5c, node 3 at
    // 3d + 4.5c.
    let mut i = chain_run();
    i.relay.config.message_handling_us = 2000.0;
    i.relay.config.message_handling_us_per_kb = 1000.0;
    i.network.cpu_slowdown = vec![1.0, 2.5, 1.0, 1.0, 1.0];
    let o = run(i, &|_, _| {}).unwrap();
    let t = o.relay.delivery.per_message[0].dissemination_ns;
    let slow = c * 5 / 2;
    assert_eq!(t[0], d + slow);
    assert_eq!(t[P50], 2 * d + slow + c);
    assert_eq!(t[MAX], 3 * d + slow + 2 * c);
    // One slowdown per node, or none.
    let mut i = chain_run();
    i.network.cpu_slowdown = vec![2.0];
    let e = run(i, &|_, _| {}).unwrap_err().to_string();
    assert!(e.contains("cpu_slowdown"), "{e}");
}
