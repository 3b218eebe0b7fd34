//! Flood nodes on the engine, with timings derived by hand from the engine's network model
//! (`sim_core::network`: a message leaves its sender's uplink FIFO, travels the latency, passes
//! the receiver's downlink FIFO; with idle queues it costs latency + size / bandwidth).

use sim_core::{
    CategoryTable, ConstantLatency, Engine, EngineConfig, LinkCapacity, NodeId, SimDuration,
    SimTime,
};

use super::overlay::{full_mesh, ring_chords};
use super::{FloodConfig, FloodNode, FloodObserver, MsgId, Published};

/// `n` flood nodes wired along `edges`, 10 ms apart, 8 Mbit/s each way; messages are 984 bytes
/// plus 16 of framing = 1000 bytes = 8000 bits, so 1 ms on any link. Node 0 publishes every
/// second from t = 0 until `publish_end`; the observer measures from `warmup`.
fn engine(
    n: usize,
    edges: &[(u32, u32)],
    publish_end: SimTime,
    warmup: SimTime,
) -> Engine<FloodNode> {
    let mut categories = CategoryTable::new();
    let message = categories.register("flood", "message");
    let framing = categories.register("transport", "framing");
    let config = FloodConfig {
        interval: SimDuration::from_secs(1),
        publish_end,
        category: message,
        size: 984,
        framing: 16,
    };
    let mut nodes: Vec<FloodNode> = (0..n).map(|_| FloodNode::new(config)).collect();
    nodes[0].set_first_publish(SimDuration::ZERO);
    let mut engine = Engine::new(
        EngineConfig {
            seed: 1,
            categories: categories.len(),
            framing_category: Some(framing),
            ..EngineConfig::default()
        },
        Box::new(ConstantLatency(SimDuration::from_millis(10))),
        vec![
            LinkCapacity {
                upload_bps: 8_000_000,
                download_bps: 8_000_000,
            };
            n
        ],
        nodes,
        FloodObserver::new(n, warmup),
    )
    .unwrap();
    for &(a, b) in edges {
        engine.connect_now(NodeId(a), NodeId(b)).unwrap();
    }
    engine
}

#[test]
fn a_ring_of_four_reaches_the_opposite_node_in_two_hops() {
    // Ring 0-1-2-3-0; one message, published by node 0 at t = 0 (publishing ends at 0.5 s).
    let mut e = engine(
        4,
        &ring_chords(4, 0, 9),
        SimTime::from_millis(500),
        SimTime::ZERO,
    );
    e.run_until(SimTime::from_secs(3));
    // Node 0 sends to its neighbours in ascending order, through its one uplink:
    // - to 1: leaves 0..1 ms, arrives (+10 ms) and is delivered at 11 ms;
    // - to 3: waits for the first copy, leaves 1..2 ms, delivered at 12 ms.
    // Node 1 forwards (to 2 only, not back to 0) at 11 ms: leaves 11..12, delivered at 22 ms:
    // node 2's first copy, 2 hops = 2 x 10 ms latency + 2 x 1 ms transmission.
    // Node 3 forwards to 2 at 12 ms: leaves 12..13, arrives 22..23 behind the first copy on
    // node 2's downlink, delivered at 23 ms: a duplicate at node 2 (not forwarded).
    // Node 2 forwards its first copy to 3 at 22 ms (not back to 1): delivered at 33 ms, a
    // duplicate at node 3. Nothing else moves: 3 receipts, 2 duplicates.
    let obs = e.observer();
    assert_eq!(
        obs.messages().iter().collect::<Vec<_>>(),
        vec![(
            &MsgId { origin: 0, seq: 0 },
            &Published {
                at: SimTime::ZERO,
                receivers: 3
            }
        )]
    );
    assert_eq!(obs.receipts(), 3);
    assert_eq!(obs.duplicates(), 2);
    assert_eq!(obs.node_duplicates(), &[0, 0, 1, 1]);
    // Latencies 11, 12 and 22 ms (the histogram keeps 3 significant digits).
    assert_eq!(obs.latency().len(), 3);
    let near = |got: f64, want: f64| assert!((got - want).abs() < 0.02, "{got} vs {want}");
    near(obs.latency().quantile_ms(0.0), 11.0);
    near(obs.latency().quantile_ms(0.5), 12.0);
    near(obs.latency().max_ms(), 22.0);
    assert_eq!(e.node(NodeId(0)).published(), 1);
    assert!(e.node(NodeId(0)).is_publisher() && !e.node(NodeId(2)).is_publisher());
    assert_eq!(e.node(NodeId(2)).neighbours(), &[NodeId(1), NodeId(3)]);
}

#[test]
fn messages_before_the_warmup_are_published_but_not_measured() {
    // Node 0 publishes at 0, 1 and 2 s (publishing ends at 2.5 s); measuring starts at 0.5 s.
    // On a full mesh of 5 every message reaches the 4 others directly (first receipts), and
    // each of them forwards to its 3 other neighbours (not back to node 0), all of whom have
    // it by then: 12 duplicates, 3 at each receiver, none at the origin.
    let mut e = engine(
        5,
        &full_mesh(5),
        SimTime::from_millis(2500),
        SimTime::from_millis(500),
    );
    e.run_until(SimTime::from_secs(4));
    let obs = e.observer();
    assert_eq!(obs.messages().len(), 3);
    // The message of t = 0 is tracked but never counted.
    assert_eq!(obs.messages()[&MsgId { origin: 0, seq: 0 }].receivers, 0);
    assert_eq!(obs.messages()[&MsgId { origin: 0, seq: 2 }].receivers, 4);
    assert_eq!(obs.receipts(), 2 * 4);
    assert_eq!(obs.duplicates(), 2 * 12);
    assert_eq!(obs.node_duplicates(), &[0, 2 * 3, 2 * 3, 2 * 3, 2 * 3]);
}

#[test]
fn overlays_are_sorted_simple_graphs() {
    assert_eq!(
        full_mesh(4),
        vec![(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    );
    let r = ring_chords(30, 2, 7);
    assert!(r.windows(2).all(|w| w[0] < w[1]) && r.iter().all(|&(a, b)| a < b && b < 30));
    for a in 0..30 {
        let b = (a + 1) % 30;
        assert!(r.contains(&(a.min(b), a.max(b))));
    }
    assert!(r.len() > 30);
    assert_eq!(r, ring_chords(30, 2, 7));
    assert_ne!(r, ring_chords(30, 2, 8));
}
