//! The worked example of the protocol interface, in a whole run: identify on every
//! connection, its bytes in the run's accounting, and no rows for it in runs without it.

use protocols::harness::{SimInput, SimOutput, run};
use protocols::identify::IdentifyConfig;
use sim_core::{ConstantLatency, SimDuration};

/// A ring of 10 nodes: 10 connections, all opened at time 0.
fn ring(identify: bool) -> SimInput {
    let n = 10;
    let edges = (0..n as u32).map(|a| (a, (a + 1) % n as u32)).collect();
    let mut i = SimInput::new(
        n,
        edges,
        Box::new(ConstantLatency(SimDuration::from_millis(20))),
    );
    i.sharding.topics = vec!["/waku/2/rs/1/0".to_owned()];
    i.sharding.subscriptions = vec![vec![0]; n];
    i.run.warmup = SimDuration::ZERO;
    i.run.duration = SimDuration::from_secs(5);
    i.run.delivery_grace = SimDuration::from_secs(1);
    i.identify = identify.then(IdentifyConfig::default);
    i
}

/// (messages, bytes) sent under a category.
fn out(o: &SimOutput, protocol: &str, kind: &str) -> (u64, u64) {
    let c = o
        .categories
        .iter()
        .position(|(p, k)| p == protocol && k == kind)
        .unwrap_or_else(|| panic!("no {protocol}/{kind} category"));
    o.bandwidth
        .per_node
        .iter()
        .fold((0, 0), |(m, b), t| (m + t.msgs_out[c], b + t.bytes_out[c]))
}

#[test]
fn each_connection_identifies_both_ways() {
    let o = run(ring(true), &|_, _| {}).unwrap();
    // 10 connections, each side asks once (36 bytes) and answers once (36 + 211 bytes, see
    // identify::tests::record_size_by_hand): 20 requests and 20 responses.
    assert_eq!(out(&o, "identify", "request"), (20, 20 * 36));
    assert_eq!(out(&o, "identify", "response"), (20, 20 * 247));
    // The exchange rides the connections' set-up: what one side writes the other receives
    // (each node of the ring has 2 connections: 2 x (36 + 247) = 566 bytes in and out).
    let c = o
        .categories
        .iter()
        .position(|(p, k)| p == "identify" && k == "response")
        .unwrap();
    let r = o
        .categories
        .iter()
        .position(|(p, k)| p == "identify" && k == "request")
        .unwrap();
    for t in &o.bandwidth.per_node {
        assert_eq!(t.bytes_in[c] + t.bytes_in[r], 566);
        assert_eq!(t.bytes_out[c] + t.bytes_out[r], 566);
    }
}

#[test]
fn identify_switched_off_is_absent() {
    let mut i = ring(false);
    i.identify = Some(IdentifyConfig {
        enabled: false,
        ..IdentifyConfig::default()
    });
    let o = run(i, &|_, _| {}).unwrap();
    assert!(o.categories.iter().all(|(p, _)| p != "identify"));
}

#[test]
fn runs_without_identify_have_no_identify_rows() {
    let o = run(ring(false), &|_, _| {}).unwrap();
    assert!(o.categories.iter().all(|(p, _)| p != "identify"));
    // Relay, transport (framing, TCP/IP headers), metadata and ping rows stay in every run.
    assert_eq!(o.categories.len(), 15);
    assert_eq!(
        o.categories[9],
        ("transport".to_owned(), "framing".to_owned())
    );
}
