//! RLN in whole runs: the limit holds at every honest node, double signals are rejected,
//! spammers are cut off while honest messages still reach everyone, runs are reproducible,
//! and runs without RLN have no RLN results.

use std::collections::BTreeMap;

use proptest::prelude::*;
use protocols::harness::{RlnInput, SimInput, SimOutput, run};
use protocols::rln::SpamKind;
use protocols::rln::config::RlnConfig;
use protocols::workload::{Arrival, PayloadSize, Publishers, StreamConfig, WorkloadConfig};
use sim_core::{ConstantLatency, SimDuration};

/// `n` nodes, each connected to the next `k` (degree 2k), 30 ms links.
fn circulant(n: usize, k: u32) -> SimInput {
    let n32 = n as u32;
    let edges = (0..n32)
        .flat_map(|a| (1..=k).map(move |d| (a, (a + d) % n32)))
        .collect();
    let mut i = SimInput::new(
        n,
        edges,
        Box::new(ConstantLatency(SimDuration::from_millis(30))),
    );
    i.run.duration = SimDuration::from_secs(50);
    i.run.warmup = SimDuration::from_secs(5);
    i.run.delivery_grace = SimDuration::from_secs(3);
    i
}

fn stream(count: u32, interval_ms: f64, spam: Option<SpamKind>) -> StreamConfig {
    StreamConfig {
        publishers: Publishers::Count(count),
        interval_ms,
        arrival: Arrival::Poisson,
        payload: PayloadSize::FixedBytes(500),
        spam,
        ..StreamConfig::default()
    }
}

fn with_rln(mut i: SimInput, cfg: RlnConfig, streams: Vec<StreamConfig>) -> SimInput {
    i.app.workload = WorkloadConfig { streams };
    i.rln = Some(RlnInput {
        config: cfg,
        trace: true,
        ..RlnInput::default()
    });
    i
}

fn rln_cfg(limit: u32, epoch_s: u64) -> RlnConfig {
    RlnConfig {
        user_message_limit: Some(limit),
        epoch_s: Some(epoch_s),
        ..RlnConfig::default()
    }
}

/// Accepted messages per (validator, member, epoch), and per (validator, epoch, nullifier)
/// (accepted, verdicts).
#[allow(clippy::type_complexity)]
fn tallies(
    o: &SimOutput,
) -> (
    BTreeMap<(u32, u32, u64), u32>,
    BTreeMap<(u32, u64, u64), (u32, u32)>,
) {
    let mut per_member = BTreeMap::new();
    let mut per_nullifier = BTreeMap::new();
    for t in &o.rln.as_ref().unwrap().trace {
        let e = per_nullifier
            .entry((t.node, t.epoch, t.nullifier))
            .or_insert((0, 0));
        e.1 += 1;
        if t.accepted {
            e.0 += 1;
            *per_member.entry((t.node, t.member, t.epoch)).or_insert(0) += 1;
        }
    }
    (per_member, per_nullifier)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// No member ever gets more than its limit accepted per epoch by any honest node, whatever
    /// the limit, the epoch and the double signallers' rates.
    #[test]
    fn no_member_exceeds_its_limit_anywhere(
        seed in 1u64..1000,
        limit in 1u32..4,
        epoch_s in 1u64..6,
        spam_ms in 50.0f64..400.0,
    ) {
        let mut i = circulant(30, 3);
        i.run.seed = seed;
        i.run.duration = SimDuration::from_secs(25);
        let i = with_rln(
            i,
            rln_cfg(limit, epoch_s),
            vec![stream(4, 700.0, None), stream(2, spam_ms, Some(SpamKind::DoubleSignal))],
        );
        let o = run(i, &|_, _| {}).unwrap();
        let (per_member, _) = tallies(&o);
        prop_assert!(!per_member.is_empty());
        for ((node, member, epoch), n) in per_member {
            prop_assert!(n <= limit, "node {node} accepted {n} of member {member} in epoch {epoch}");
        }
    }
}

#[test]
fn a_double_signal_is_rejected_by_every_honest_node_that_gets_both() {
    // Limit 1 per 2 s epoch, the spammer sends every 300 ms: about 6 messages share each
    // nullifier. Every honest node accepts the first it validates and rejects the others.
    let i = with_rln(
        circulant(30, 3),
        rln_cfg(1, 2),
        vec![
            stream(3, 1000.0, None),
            stream(1, 300.0, Some(SpamKind::DoubleSignal)),
        ],
    );
    let o = run(i, &|_, _| {}).unwrap();
    let (_, per_nullifier) = tallies(&o);
    let mut pairs = 0;
    for ((node, epoch, nf), (accepted, verdicts)) in per_nullifier {
        assert_eq!(accepted, 1, "node {node} epoch {epoch} nullifier {nf}");
        if verdicts >= 2 {
            pairs += 1;
        }
    }
    // Its 6 peers reject double signals until it is cut off (P4: about 11 rejects, then the
    // next score update): each of them sees several.
    assert!(
        pairs >= 6,
        "{pairs} (node, nullifier) pairs saw a double signal"
    );
    let r = o.rln.as_ref().unwrap();
    assert!(r.counter("rejected_spam") > 0);
}

#[test]
fn spammers_are_cut_off_and_honest_delivery_stays_whole() {
    // One spammer of invalid proofs at 4 messages/s among 30 nodes of degree 6. Each invalid
    // message adds 1 to P4 at the peer (weight -100, squared): 11 invalid messages put it
    // below the graylist threshold -10000, and the next score update (every 12 s, nwaku's
    // decay interval) disconnects it. Honest messages still reach all 29 honest nodes.
    for kind in [
        SpamKind::InvalidProof,
        SpamKind::NonMember,
        SpamKind::Replay,
    ] {
        let i = with_rln(
            circulant(30, 3),
            rln_cfg(5, 1),
            vec![stream(3, 1000.0, None), stream(1, 250.0, Some(kind))],
        );
        let o = run(i, &|_, _| {}).unwrap();
        let r = o.rln.as_ref().unwrap();
        assert_eq!(r.spammer_links_left, 0, "{kind:?}");
        // All 6 of its peers disconnected it, within 11 invalid messages (about 3 s) and
        // two score updates (24 s).
        assert_eq!(r.disconnect_delays_s.len(), 6, "{kind:?}");
        assert!(
            r.disconnect_delays_s.iter().all(|&d| d <= 27.0),
            "{kind:?} {:?}",
            r.disconnect_delays_s
        );
        assert_eq!(r.counter("spam_accepted"), 0, "{kind:?}");
        assert_eq!(o.relay.delivery.mean, 1.0, "{kind:?}");
        // 3 publishers x 1/s x 42 s, less those of a publisher that is also the spammer
        // (its messages are not honest ones).
        assert!(
            o.relay.delivery.messages > 60,
            "{}",
            o.relay.delivery.messages
        );
    }
}

#[test]
fn proof_cpu_delays_publishing_and_is_charged() {
    // 3 publishers, limit 10 per 1 s epoch, 1 message/s: every message gets a proof of
    // 150 ms, so the median latency is at least 150 ms + one 30 ms link.
    let i = with_rln(
        circulant(20, 2),
        rln_cfg(10, 1),
        vec![stream(3, 1000.0, None)],
    );
    let o = run(i, &|_, _| {}).unwrap();
    let r = o.rln.as_ref().unwrap();
    let proofs = r.counter("proofs_generated");
    let cpu: f64 = r.proof_cpu_s.iter().sum();
    assert!(
        (cpu - proofs as f64 * 0.15).abs() < 1e-9,
        "{cpu} s for {proofs} proofs"
    );
    // Each of 19 receivers verifies each message once: 12 ms each.
    let verified = r.counter("proofs_verified");
    let vcpu: f64 = r.verify_cpu_s.iter().sum();
    assert!((vcpu - verified as f64 * 0.012).abs() < 1e-9);
    assert!(
        o.relay.latency.p50_ms >= 180.0,
        "{}",
        o.relay.latency.p50_ms
    );
    assert_eq!(o.relay.delivery.mean, 1.0);
}

#[test]
fn rln_runs_are_reproducible_and_runs_without_it_have_no_rln_results() {
    let mk = || {
        with_rln(
            circulant(30, 3),
            rln_cfg(2, 3),
            vec![
                stream(3, 800.0, None),
                stream(1, 200.0, Some(SpamKind::DoubleSignal)),
                stream(1, 500.0, Some(SpamKind::StaleEpoch)),
            ],
        )
    };
    let a = run(mk(), &|_, _| {}).unwrap();
    let b = run(mk(), &|_, _| {}).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.event_hash, b.event_hash);
    let plain = run(circulant(30, 3), &|_, _| {}).unwrap();
    assert!(plain.rln.is_none());
    // RLN adds no accounting category.
    assert_eq!(plain.categories, a.categories);
}

#[test]
fn spammers_need_rln() {
    let mut i = circulant(10, 1);
    i.app.workload = WorkloadConfig {
        streams: vec![stream(1, 100.0, Some(SpamKind::Replay))],
    };
    let e = run(i, &|_, _| {}).err().unwrap().to_string();
    assert!(e.contains("workload.streams[0].spam"), "{e}");
    let mut j = circulant(10, 1);
    j.app.workload = WorkloadConfig {
        streams: vec![stream(11, 100.0, Some(SpamKind::Replay))],
    };
    j.rln = Some(RlnInput::default());
    let e = run(j, &|_, _| {}).err().unwrap().to_string();
    assert!(e.contains("11 spammers for a run of 10 nodes"), "{e}");
}
