//! Store v3, store sync and p2p reliability in whole runs: archives, resume after a restart,
//! sync after losses, receivers and publishers recovering through store, determinism.

use protocols::harness::{SimInput, SimOutput, StoreInput, run};
use protocols::store::StoreConfig;
use protocols::workload::{Publishers, StreamConfig, WorkloadConfig};
use sim_core::{ConstantLatency, Fault, NodeId, SimDuration, SimTime};

const N: usize = 24;

/// 24 nodes on a ring with chords to the node 5 ahead (degree 4), 20 ms links; store nodes
/// 0, 1, 2; nodes 10, 11, 12 publish a 500-byte message every second from 5 s to `stop_s`.
fn net(store: StoreConfig, duration_s: u64, stop_s: f64) -> SimInput {
    let mut edges = Vec::new();
    for a in 0..N as u32 {
        edges.push((a, (a + 1) % N as u32));
        edges.push((a, (a + 5) % N as u32));
    }
    let mut i = SimInput::new(
        N,
        edges,
        Box::new(ConstantLatency(SimDuration::from_millis(20))),
    );
    i.run.warmup = SimDuration::ZERO;
    i.run.duration = SimDuration::from_secs(duration_s);
    i.run.overlay_sample_interval = SimDuration::from_secs(10);
    i.app.workload = WorkloadConfig {
        streams: vec![StreamConfig {
            publishers: Publishers::Nodes(vec![10, 11, 12]),
            interval_ms: 1000.0,
            payload: protocols::workload::PayloadSize::FixedBytes(500),
            start_s: Some(5.0),
            stop_s: Some(stop_s),
            ..StreamConfig::default()
        }],
    };
    i.store = Some(StoreInput {
        config: store,
        nodes: vec![NodeId(0), NodeId(1), NodeId(2)],
    });
    i
}

fn offline(i: &mut SimInput, node: u32, from_s: u64, to_s: u64) {
    i.network
        .faults
        .push((SimTime::from_secs(from_s), Fault::NodeOffline(NodeId(node))));
    i.network
        .faults
        .push((SimTime::from_secs(to_s), Fault::NodeOnline(NodeId(node))));
}

/// The last sample of each store node: (rows, missing).
fn last(o: &SimOutput) -> Vec<(u64, u64)> {
    o.store
        .nodes
        .iter()
        .map(|&n| {
            let s = o.store.samples.iter().rev().find(|s| s.node == n).unwrap();
            (s.rows, s.missing)
        })
        .collect()
}

fn published(o: &SimOutput) -> u64 {
    o.relay.publishing.published
}

#[test]
fn store_nodes_archive_every_relayed_message() {
    let o = run(net(StoreConfig::default(), 60, 50.0), &|_, _| {}).unwrap();
    // 3 publishers, one message a second from a random phase in [5, 6) s to 50 s: 45 or 46
    // each; every message reaches every store node on this lossless network.
    let p = published(&o);
    assert!((135..=138).contains(&p), "{p}");
    assert_eq!(last(&o), vec![(p, 0); 3]);
    assert_eq!(o.store.counter("archived"), 3 * p);
    // Store categories appear; nothing was queried or synced.
    assert!(
        o.categories
            .iter()
            .any(|(a, b)| a == "store_sync" && b == "transfer")
    );
    assert_eq!(o.store.counter("queries_served"), 0);
}

#[test]
fn messages_published_through_rln_are_archived_like_any_other() {
    // The same network with RLN (default limit 100 per 10 s epoch, well above the 1 msg/s
    // publishers): every message waits 150 ms for its proof, then goes to relay; store
    // nodes must archive each one as they do without RLN.
    let mut i = net(StoreConfig::default(), 60, 50.0);
    i.rln = Some(protocols::harness::RlnInput::default());
    let o = run(i, &|_, _| {}).unwrap();
    let p = published(&o);
    assert!((135..=138).contains(&p), "{p}");
    assert_eq!(last(&o), vec![(p, 0); 3]);
    assert_eq!(o.store.counter("archived"), 3 * p);
}

#[test]
fn a_store_node_back_online_resumes_what_it_missed() {
    // Store node 2 is offline from 40 s to 100 s. Back online it has no connection (the
    // overlay is wired once, without a peer manager), so without resume it misses every
    // message from 40 s on: at the last sample (130 s, messages older than the 20 s lag)
    // that is (110 - 40) s x 3 messages a second = about 210.
    let mut cfg = StoreConfig::default();
    let mut without = net(cfg.clone(), 130, 120.0);
    offline(&mut without, 2, 40, 100);
    let o = run(without, &|_, _| {}).unwrap();
    let missing = last(&o)[2].1;
    assert!((205..=215).contains(&missing), "{missing}");
    // With resume it dials another store node and asks for [last active, now): pages of 100
    // full messages, at least 2 pages for the 180 messages of its absence; the connection
    // it opened carries relay from then on, and it holds everything again.
    cfg.resume = true;
    let mut with = net(cfg, 130, 120.0);
    offline(&mut with, 2, 40, 100);
    let o = run(with, &|_, _| {}).unwrap();
    assert_eq!(last(&o)[2].1, 0);
    assert!(o.store.counter("resume_inserted") >= 175);
    assert!(o.store.counter("resume_queries") >= 2);
    let c = o.store.convergence.iter().find(|c| c.node == 2).unwrap();
    assert_eq!(c.event, "rejoin");
    assert!(c.converged_after_s.is_some_and(|s| s <= 10.0), "{c:?}");
}

fn lossy(sync: bool) -> SimInput {
    let mut cfg = StoreConfig {
        reception_loss: 0.2,
        ..StoreConfig::default()
    };
    cfg.sync.enabled = sync;
    cfg.sync.interval_s = 30;
    net(cfg, 260, 150.0)
}

#[test]
fn sync_repairs_what_reception_loss_took() {
    // 20 % reception loss: each store node misses about a fifth of the ~435 messages, and
    // without sync the union has almost all of them (a message is lost by all three with
    // probability 0.008).
    let o = run(lossy(false), &|_, _| {}).unwrap();
    assert!(last(&o).iter().all(|&(_, m)| m > 40), "{:?}", last(&o));
    assert!(o.store.counter("reception_lost") > 200);
    // With a sync every 30 s over the last hour, publishing stopped at 150 s: by the end
    // (at least 3 syncs per node after the last message is older than the 20 s lag) every
    // node holds the union.
    let o = run(lossy(true), &|_, _| {}).unwrap();
    assert_eq!(
        last(&o).iter().map(|x| x.1).sum::<u64>(),
        0,
        "{:?}",
        last(&o)
    );
    let syncs = &o.store.syncs;
    assert!(syncs.len() >= 20, "3 nodes x 8 ticks, {}", syncs.len());
    let transferred: u64 = syncs.iter().map(|s| (s.sent + s.received) as u64).sum();
    assert_eq!(
        transferred,
        o.store.counter("sync_inserted") + o.store.counter("duplicate")
    );
    assert!(syncs.iter().all(|s| s.payloads >= 2 && s.recon_bytes > 0));
    // Once converged a sync is one fingerprint and its all-skip answer: 2 payloads, far
    // below the naive exchange of every hash of both windows.
    let l = syncs.last().unwrap();
    assert_eq!((l.payloads, l.sent + l.received), (2, 0));
    assert!(l.recon_bytes * 10 < l.naive_bytes, "{l:?}");
}

/// Store node 2 cut off from every other node from 30 s to 90 s (a partition: its
/// connections close, nothing crosses), sync every 30 s or none.
fn partitioned(sync: bool) -> SimInput {
    let mut cfg = StoreConfig::default();
    cfg.sync.enabled = sync;
    cfg.sync.interval_s = 30;
    let mut i = net(cfg, 260, 150.0);
    let mut groups = vec![0u32; N];
    groups[2] = 1;
    i.network.faults.push((
        SimTime::from_secs(30),
        Fault::PartitionStart { id: 0, groups },
    ));
    i.network
        .faults
        .push((SimTime::from_secs(90), Fault::PartitionEnd { id: 0 }));
    i
}

#[test]
fn sync_heals_a_partitioned_store_node() {
    // Without sync: node 2's connections closed at 30 s and nothing redials them (no peer
    // manager here), so it misses every message from 30 s to the last at 150 s: 120 s x 3
    // messages a second = about 360; the others hold everything.
    let o = run(partitioned(false), &|_, _| {}).unwrap();
    let l = last(&o);
    assert!((350..=366).contains(&l[2].1), "{l:?}");
    assert_eq!((l[0].1, l[1].1), (0, 0));
    // One heal, one convergence row per store node; node 2 never converges.
    let heal: Vec<_> = o
        .store
        .convergence
        .iter()
        .filter(|c| c.event == "partition_heal")
        .collect();
    assert_eq!(heal.len(), 3);
    assert!(heal.iter().all(|c| c.at_s == 90.0));
    assert_eq!(heal[2].converged_after_s, None);
    // With sync every 30 s: node 2 dials a store peer at its next tick after the heal,
    // reconciles and gets what it missed; that connection carries relay from then on. Every
    // node holds the union at the end, and node 2 converged within a few sync intervals.
    let o = run(partitioned(true), &|_, _| {}).unwrap();
    assert_eq!(last(&o), vec![(last(&o)[0].0, 0); 3]);
    let c = o
        .store
        .convergence
        .iter()
        .find(|c| c.node == 2 && c.event == "partition_heal")
        .unwrap();
    assert!(c.converged_after_s.is_some_and(|s| s <= 100.0), "{c:?}");
    assert!(o.store.counter("sync_inserted") >= 150);
}

#[test]
fn syncs_are_deterministic() {
    let a = run(lossy(true), &|_, _| {}).unwrap();
    let b = run(lossy(true), &|_, _| {}).unwrap();
    assert_eq!(a.event_hash, b.event_hash);
    assert_eq!(a, b);
}

#[test]
fn an_offline_receiver_recovers_messages_from_store() {
    // Receivers check store every 60 s; node 20 is offline from 40 s to 100 s (about 180
    // messages published meanwhile). Its first check after coming back reaches back to its
    // last check before going offline and fetches what it missed.
    let mut cfg = StoreConfig::default();
    cfg.reliability.receiver = true;
    cfg.reliability.receiver_check_interval_s = 60;
    let mut i = net(cfg, 200, 180.0);
    offline(&mut i, 20, 40, 100);
    let o = run(i, &|_, _| {}).unwrap();
    let got = o.store.recovered_per_node.get(20).copied().unwrap_or(0);
    assert!(got >= 170, "node 20 recovered {got}");
    // Nodes that stayed online on a lossless network recover nothing.
    let others: u64 = o
        .store
        .recovered_per_node
        .iter()
        .enumerate()
        .filter(|&(n, _)| n != 20)
        .map(|(_, v)| v)
        .sum();
    assert_eq!(others, 0);
    assert!(o.store.recovery_delay.0 >= 170 && o.store.recovery_delay.1 > 1000.0);
}

#[test]
fn receivers_recover_what_reception_loss_took() {
    // 10 % receiver loss over ~100 messages x 18 receivers (not store nodes, not publishers
    // of those messages): about 180 missed; all are recovered by the checks every 30 s
    // (publishing stops at 100 s, the last check is after 130 s).
    let mut cfg = StoreConfig {
        receiver_loss: 0.1,
        ..StoreConfig::default()
    };
    cfg.reliability.receiver = true;
    cfg.reliability.receiver_check_interval_s = 30;
    let o = run(net(cfg, 160, 40.0), &|_, _| {}).unwrap();
    let missed = o.store.counter("receiver_missed");
    assert!(missed > 50, "{missed}");
    assert_eq!(o.store.counter("receiver_recovered"), missed);
}

#[test]
fn republishing_a_message_relay_has_seen_goes_nowhere() {
    // Store nodes miss half of what relay brings (application-level loss). A publisher checks
    // every 3 s; a message the store node it asks lacks is republished through relay, which
    // drops it as already seen (nim-libp2p: seen TTL 120 s > the 60 s a message is tracked).
    let mut cfg = StoreConfig {
        reception_loss: 0.5,
        ..StoreConfig::default()
    };
    cfg.reliability.publisher = true;
    let o = run(net(cfg.clone(), 100, 60.0), &|_, _| {}).unwrap();
    assert!(o.store.counter("publisher_checks") > 20);
    assert!(o.store.counter("republish_dropped_seen") > 0);
    assert_eq!(o.store.counter("republished"), 0);
    // A check asks one store node, which has about half of the messages.
    let (p, c) = (published(&o), o.store.counter("publisher_confirmed"));
    assert!(c > p / 3 && c < p, "{c} of {p}");
    // Bypassing the seen cache does not help either: every relay node that saw the message
    // drops the copy, store nodes included (their relay saw it; their archive lost it).
    cfg.reliability.republish_ignores_seen = true;
    let o = run(net(cfg, 100, 60.0), &|_, _| {}).unwrap();
    assert!(o.store.counter("republished") > 0);
    assert!(o.store.counter("publisher_confirmed") < p);
}

/// Node 10 alone on its side of a partition from 30 s to 50 s.
fn isolate_publisher(i: &mut SimInput) {
    let mut groups = vec![0; 11];
    groups[10] = 1;
    i.network.faults.push((
        SimTime::from_secs(30),
        Fault::PartitionStart { id: 1, groups },
    ));
    i.network
        .faults
        .push((SimTime::from_secs(50), Fault::PartitionEnd { id: 1 }));
}

#[test]
fn a_cut_off_publisher_republishes_what_never_left() {
    // Node 10 is cut off from 30 s to 50 s: its connections close, its ~20 publishes find no
    // peer and never enter its seen cache. Without reliability they are lost: the store nodes
    // end with about 20 fewer messages than were published.
    let o = run(
        {
            let mut i = net(StoreConfig::default(), 100, 80.0);
            isolate_publisher(&mut i);
            i
        },
        &|_, _| {},
    )
    .unwrap();
    let p = published(&o) + o.relay.publishing.no_peers;
    let held = last(&o)[0].0;
    assert!(p - held >= 18, "{held} of {p}");
    // With publisher checks, once the partition heals node 10 dials a store node, finds the
    // messages missing and republishes them (relay never saw them). Store nodes archive the
    // republished messages whose timestamp is within 20 s of now: the first check after the
    // heal runs at about 53 to 56 s, so the 3 to 6 messages published before 33 to 36 s are
    // refused as too old (counted per store node) and the rest are archived.
    let mut cfg = StoreConfig::default();
    cfg.reliability.publisher = true;
    let mut i = net(cfg, 100, 80.0);
    isolate_publisher(&mut i);
    let o = run(i, &|_, _| {}).unwrap();
    assert!(
        o.store.counter("republished") >= 18,
        "{:?}",
        o.store.counters
    );
    let held2 = last(&o)[0].0;
    assert!(held2 + 8 >= p && held2 > held + 10, "{held2} of {p}");
    assert!(o.store.counter("timestamp_out_of_window") >= 3 * 3);
}

#[test]
fn bad_store_input_names_the_field() {
    let mut i = net(StoreConfig::default(), 10, 8.0);
    i.store.as_mut().unwrap().nodes.clear();
    let e = run(i, &|_, _| {}).err().unwrap().to_string();
    assert!(e.starts_with("store: no store node"), "{e}");
    let cfg = StoreConfig {
        reception_loss: -0.1,
        ..StoreConfig::default()
    };
    let e = run(net(cfg, 10, 8.0), &|_, _| {})
        .err()
        .unwrap()
        .to_string();
    assert!(e.starts_with("store.reception_loss"), "{e}");
}
