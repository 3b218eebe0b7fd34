//! Unit tests of RLN's parts: memberships and roots, the validation order and the nullifier
//! log, the publisher's limit, capacity and bad input (whole runs are in tests/rln.rs).

use std::rc::Rc;

use sim_core::{NodeId, SimDuration, SimTime};

use super::capacity::capacity;
use super::config::{MemberSpec, OverLimit, Preset, RlnConfig, parse_membership};
use super::membership::{Membership, NO_ROOT};
use super::validator::RlnCheck;
use super::*;
use crate::relay::Validation;
use crate::relay::message::{Topics, WireMsg};
use crate::testing::Recorder;

const S: u64 = 1_000_000_000;

fn member(node: u32, limit: Option<u32>, at_s: f64) -> MemberSpec {
    MemberSpec { node, limit, at_s }
}

fn shared(cfg: RlnConfig, members: &[MemberSpec], nodes: usize) -> Rc<RlnShared> {
    let m = Membership::new(&cfg, members, nodes).unwrap();
    Rc::new(RlnShared::new(cfg, m, vec![1.0; nodes], vec![false; nodes]))
}

fn msg(seq: u32) -> WireMsg {
    WireMsg {
        id: seq as u64,
        seq,
        data_bytes: 100,
        topic: TopicIdx(0),
        hops: 1,
        topic_len: 14,
        flags: 0,
    }
}

/// Files message `seq` from member `m` of node `pubr` with message id `mid`, made at `t`.
fn file(sh: &RlnShared, seq: u32, m: u32, mid: u32, t: SimTime) -> Proof {
    let ts = RlnShared::unix_ns(t);
    let p = Proof {
        member: m,
        epoch: sh.epoch_of(ts),
        message_id: mid,
        root: sh.membership.latest_root(t),
        timestamp_ns: ts,
        valid: true,
    };
    sh.file(
        seq,
        BookEntry {
            proof: p,
            publisher: NodeId(m),
            topic: TopicIdx(0),
            spam: None,
            excess: false,
            accepted_by: 0,
        },
    );
    p
}

fn validate(c: &mut RlnCheck, seq: u32, t: SimTime) -> Validation {
    match c.precheck(&msg(seq), t) {
        None => Validation::Reject,
        Some(_) => c.finish(&msg(seq), t),
    }
}

#[test]
fn presets_and_nwaku_derived_values() {
    let c = RlnConfig::default();
    assert_eq!((c.limit(), c.epoch()), (1, 1));
    // max(floor(20 / 1), 1) = 20 epochs of gap; the log keeps 19 behind.
    assert_eq!((c.max_epoch_gap(), c.log_epochs_behind()), (20, 19));
    let w = RlnConfig {
        preset: Preset::WakuNetwork,
        ..RlnConfig::default()
    };
    assert_eq!((w.limit(), w.epoch()), (100, 600));
    // floor(20 / 600) = 0, max(0, 1) = 1: only the current epoch is kept.
    assert_eq!((w.max_epoch_gap(), w.log_epochs_behind()), (1, 0));
}

#[test]
fn roots_change_with_registrations_and_a_window_is_accepted() {
    // Delay 12 s, poll 5 s: a registration at 3 s lands at 15 s, seen at the poll at 15 s;
    // one at 4 s lands at 16 s, seen at 20 s.
    let cfg = RlnConfig {
        accepted_roots: 1,
        ..RlnConfig::default()
    };
    let m = Membership::new(
        &cfg,
        &[
            member(0, None, 0.0),
            member(1, Some(5), 3.0),
            member(2, None, 4.0),
        ],
        3,
    )
    .unwrap();
    assert_eq!(m.roots(), 3);
    let (_, m1) = m.of(NodeId(1)).unwrap();
    assert_eq!(
        (m1.root, m1.visible_at, m1.limit),
        (1, SimTime::from_secs(15), 5)
    );
    assert_eq!(
        m.of(NodeId(2)).unwrap().1.visible_at,
        SimTime::from_secs(20)
    );
    assert_eq!(m.latest_root(SimTime::from_secs(14)), 0);
    assert_eq!(m.latest_root(SimTime::from_secs(15)), 1);
    assert_eq!(m.latest_root(SimTime::from_secs(20)), 2);
    // Window of 1 beyond the newest: at 20 s roots 1 and 2 pass, root 0 no longer.
    assert!(m.root_ok(2, SimTime::from_secs(20)) && m.root_ok(1, SimTime::from_secs(20)));
    assert!(!m.root_ok(0, SimTime::from_secs(20)));
    assert!(!m.root_ok(2, SimTime::from_secs(19)), "not visible yet");
    assert!(!m.root_ok(NO_ROOT, SimTime::from_secs(20)));
    assert_eq!(m.total_limit(), 1 + 5 + 1);
}

#[test]
fn validation_follows_nwakus_order() {
    let sh = shared(RlnConfig::default(), &[member(0, None, 0.0)], 2);
    let mut c = RlnCheck::new(sh.clone(), NodeId(1));
    let t = SimTime::from_secs(100);
    // No proof at all.
    assert_eq!(validate(&mut c, 9, t), Validation::Reject);
    // A fresh valid proof: accepted, and its verification costs 12 ms.
    file(&sh, 0, 0, 0, t);
    assert_eq!(c.precheck(&msg(0), t), Some(SimDuration::from_millis(12)));
    assert_eq!(c.finish(&msg(0), t), Validation::Accept);
    // 21 s old: |diff| truncated to 21 > 20: rejected before verification; 20.9 s passes.
    file(&sh, 1, 0, 0, SimTime::from_secs(79));
    assert!(c.precheck(&msg(1), t).is_none());
    file(&sh, 2, 0, 0, SimTime::from_millis(79_100));
    assert!(c.precheck(&msg(2), t).is_some());
    // Epoch not the timestamp's.
    let mut p = file(&sh, 3, 0, 0, t);
    p.epoch -= 1;
    sh.book.borrow_mut()[3].as_mut().unwrap().proof = p;
    assert!(c.precheck(&msg(3), t).is_none());
    // A root nobody has.
    p = file(&sh, 4, 0, 0, t);
    p.root = NO_ROOT;
    sh.book.borrow_mut()[4].as_mut().unwrap().proof = p;
    assert!(c.precheck(&msg(4), t).is_none());
    // A proof that does not verify costs the verification, then is rejected.
    p = file(&sh, 5, 0, 0, SimTime::from_secs(101));
    p.valid = false;
    sh.book.borrow_mut()[5].as_mut().unwrap().proof = p;
    assert!(c.precheck(&msg(5), SimTime::from_secs(101)).is_some());
    assert_eq!(
        c.finish(&msg(5), SimTime::from_secs(101)),
        Validation::Reject
    );
    let tally = sh.tally.borrow();
    for (k, n) in [
        (RlnCounter::RejectedNoProof, 1),
        (RlnCounter::RejectedTimestamp, 1),
        (RlnCounter::RejectedEpoch, 1),
        (RlnCounter::RejectedRoot, 1),
        (RlnCounter::RejectedProof, 1),
        (RlnCounter::ProofsVerified, 3),
    ] {
        assert_eq!(tally.get(k), n, "{}", k.name());
    }
    // Three verifications of 12 ms charged to node 1.
    assert_eq!(tally.verify_cpu[1], SimDuration::from_millis(36));
}

#[test]
fn a_double_signal_is_spam() {
    let cfg = RlnConfig {
        user_message_limit: Some(2),
        epoch_s: Some(10),
        ..RlnConfig::default()
    };
    let sh = shared(cfg, &[member(0, None, 0.0)], 2);
    let mut c = RlnCheck::new(sh.clone(), NodeId(1));
    let t = SimTime::from_secs(100);
    file(&sh, 0, 0, 0, t);
    file(&sh, 1, 0, 1, t);
    file(&sh, 2, 0, 0, t + SimDuration::from_millis(10)); // message id 0 again
    assert_eq!(validate(&mut c, 0, t), Validation::Accept);
    assert_eq!(validate(&mut c, 1, t), Validation::Accept);
    assert_eq!(validate(&mut c, 2, t), Validation::Reject);
    assert_eq!(sh.tally.borrow().get(RlnCounter::RejectedSpam), 1);
    // Bounded log: epochs of 10 s, gap max(20 / 10, 1) = 2: one epoch kept behind.
    assert_eq!(c.log_epochs(), 1);
}

#[test]
fn nwakus_log_misses_a_double_signal_across_an_epoch_boundary() {
    // Epoch 600 s: nwaku keeps only the current epoch. A message of the previous epoch,
    // 5 s old at validation (within 20 s), with a nullifier already used, is accepted again.
    let twn = RlnConfig {
        preset: Preset::WakuNetwork,
        ..RlnConfig::default()
    };
    let fixed = RlnConfig {
        nullifier_log_epochs_behind: Some(1),
        ..twn.clone()
    };
    for (cfg, second) in [(twn, Validation::Accept), (fixed, Validation::Reject)] {
        let sh = shared(cfg, &[member(0, Some(100), 0.0)], 2);
        let e = sh.epoch_ns;
        // The last 10 s of an epoch (in simulated time: the Unix time offset shifts it).
        let boundary = (RlnShared::unix_ns(SimTime::ZERO) / e + 2) * e;
        let before = SimTime::from_nanos(boundary - RlnShared::unix_ns(SimTime::ZERO) - 10 * S);
        let mut c = RlnCheck::new(sh.clone(), NodeId(1));
        file(&sh, 0, 0, 7, before);
        file(&sh, 1, 0, 7, before + SimDuration::from_secs(2));
        assert_eq!(validate(&mut c, 0, before), Validation::Accept);
        // Validated 9 s after it was made: the next epoch began 1 s ago.
        let after = before + SimDuration::from_secs(11);
        assert_eq!(validate(&mut c, 1, after), second);
    }
}

#[test]
fn the_publisher_keeps_to_its_limit() {
    for (mode, held, dropped) in [(OverLimit::Drop, 0, 2), (OverLimit::Queue, 2, 0)] {
        let cfg = RlnConfig {
            user_message_limit: Some(3),
            epoch_s: Some(10),
            over_limit: mode,
            ..RlnConfig::default()
        };
        let sh = shared(cfg, &[member(0, None, 0.0)], 1);
        let mut r = Rln::new(sh.clone(), NodeId(0));
        // An epoch boundary: unix 1.7e9 s is a multiple of 10 s, so sim time 0 starts one.
        let mut ctx = Recorder::<Rln>::new(NodeId(0), SimTime::from_secs(1), "rln");
        for i in 0..5 {
            let req = Request {
                created: ctx.now,
                topic: TopicIdx(0),
                data_bytes: 500,
                id: i,
                spam: None,
                stream: 0,
                meta_bytes: 0,
            };
            r.request(req, &mut ctx);
        }
        // 3 proofs of 150 ms each; message ids 0, 1, 2.
        let ids: Vec<u32> = ctx
            .timers
            .iter()
            .filter_map(|(_, t)| match t {
                RlnTimer::ProofDone(r) => Some(r.proof.message_id),
                _ => None,
            })
            .collect();
        assert_eq!(ids, [0, 1, 2]);
        let t = sh.tally.borrow();
        assert_eq!(t.proof_cpu[0], SimDuration::from_millis(450));
        assert_eq!(t.get(RlnCounter::HeldBack), held);
        assert_eq!(t.get(RlnCounter::DroppedOverLimit), dropped);
        drop(t);
        assert_eq!(r.held(), held as usize);
        if mode == OverLimit::Queue {
            // The next epoch opens at 10 s (9 s from now): the two held messages get ids 0, 1.
            let (at, timer) = ctx
                .take_timer(|t| matches!(t, RlnTimer::EpochOpen))
                .unwrap();
            assert_eq!(at, SimTime::from_secs(10));
            ctx.now = at;
            ctx.timers.clear();
            r.on_timer(timer, &mut ctx);
            assert_eq!(r.held(), 0);
            assert_eq!(ctx.timers.len(), 2);
        }
    }
}

#[test]
fn capacity_by_hand() {
    // Members 0 (limit 100), 1 (limit 100), 2 (limit 50); epoch 600 s. Shard 0: nodes 0 and
    // 1 at 2,000 B messages; shard 1: node 2 at 10,000 B and node 3 (not a member).
    // Shard 0: (100 + 100) / 600 = 0.3333 msg/s; 200 x 2,000 / 600 = 666.67 B/s.
    // Shard 1: 50 / 600 = 0.08333 msg/s; 50 x 10,000 / 600 = 833.33 B/s.
    // Network: 250 / 600 = 0.41667 msg/s on any shard.
    let cfg = RlnConfig {
        preset: Preset::WakuNetwork,
        ..RlnConfig::default()
    };
    let m = Membership::new(
        &cfg,
        &[
            member(0, None, 0.0),
            member(1, None, 0.0),
            member(2, Some(50), 0.0),
        ],
        4,
    )
    .unwrap();
    let caps = capacity(
        &m,
        600,
        &Topics::shards(1, 2),
        &[vec![(0, 2000), (1, 2000)], vec![(2, 10_000), (3, 10_000)]],
    );
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert_eq!((caps[0].members, caps[1].members), (2, 1));
    assert!(close(caps[0].planned_msgs_per_s, 200.0 / 600.0));
    assert!(close(caps[0].planned_bytes_per_s, 400_000.0 / 600.0));
    assert!(close(caps[1].planned_msgs_per_s, 50.0 / 600.0));
    assert!(close(caps[1].planned_bytes_per_s, 500_000.0 / 600.0));
    assert!(close(caps[1].network_msgs_per_s, 250.0 / 600.0));
}

#[test]
fn bad_input_is_refused_with_the_field() {
    let zero_limit = RlnConfig {
        user_message_limit: Some(0),
        ..RlnConfig::default()
    };
    assert_eq!(
        zero_limit.validate(10).unwrap_err().field,
        "rln.user_message_limit"
    );
    let zero_epoch = RlnConfig {
        epoch_s: Some(0),
        ..RlnConfig::default()
    };
    assert_eq!(zero_epoch.validate(10).unwrap_err().field, "rln.epoch_s");
    let outside = RlnConfig {
        members: vec![member(10, None, 0.0)],
        ..RlnConfig::default()
    };
    assert_eq!(
        outside.validate(10).unwrap_err().field,
        "rln.members[0].node"
    );
    let twice = [member(1, None, 0.0), member(1, None, 5.0)];
    let e = Membership::new(&RlnConfig::default(), &twice, 3).unwrap_err();
    assert!(e.problem.contains("registers twice"), "{e}");
    // Membership files.
    let ok = parse_membership("node,limit,at_s\n# members\n3,5,\n4\n7,,12.5\n", "m.csv").unwrap();
    assert_eq!(
        ok,
        [
            member(3, Some(5), 0.0),
            member(4, None, 0.0),
            member(7, None, 12.5)
        ]
    );
    for bad in ["x,1\n", "1,y\n", "1,2,z\n", "1,2,3,4\n"] {
        let e = parse_membership(bad, "m.csv").unwrap_err();
        assert_eq!(e.field, "rln.membership_file");
        assert!(e.problem.contains("m.csv line 1"), "{e}");
    }
}

#[test]
fn spammers_make_the_proofs_of_their_kind() {
    // Limit 2 per 10 s epoch; node 0 a member, node 1 not.
    let cfg = RlnConfig {
        user_message_limit: Some(2),
        epoch_s: Some(10),
        ..RlnConfig::default()
    };
    let sh = shared(cfg, &[member(0, None, 0.0)], 2);
    let now = SimTime::from_secs(100);
    let ready = |node: u32, kind: SpamKind, n: usize| -> Vec<Ready> {
        let mut r = Rln::new(sh.clone(), NodeId(node));
        let mut ctx = Recorder::<Rln>::new(NodeId(node), now, "rln");
        for i in 0..n {
            let req = Request {
                created: now,
                topic: TopicIdx(0),
                data_bytes: 500,
                id: i as u64,
                spam: Some(kind),
                stream: 0,
                meta_bytes: 0,
            };
            r.request(req, &mut ctx);
        }
        ctx.timers
            .into_iter()
            .filter_map(|(_, t)| match t {
                RlnTimer::ProofDone(r) => Some(*r),
                _ => None,
            })
            .collect()
    };
    let ts = RlnShared::unix_ns(now);
    // A double signaller: ids 0, 1 (within the limit), then 0, 1 again (excess), each with a
    // real proof (150 ms of CPU each).
    let d = ready(0, SpamKind::DoubleSignal, 4);
    let ids: Vec<(u32, bool)> = d.iter().map(|r| (r.proof.message_id, r.excess)).collect();
    assert_eq!(ids, [(0, false), (1, false), (0, true), (1, true)]);
    assert_eq!(d[2].proof.nullifier(), d[0].proof.nullifier());
    assert_eq!(
        sh.tally.borrow().proof_cpu[0],
        SimDuration::from_millis(600)
    );
    let i = ready(0, SpamKind::InvalidProof, 1)[0];
    assert!(!i.proof.valid && i.excess && i.proof.root == 0);
    let r = ready(0, SpamKind::Replay, 1)[0];
    assert_eq!(r.proof.timestamp_ns, ts - 30 * S);
    assert_eq!(r.proof.epoch, sh.epoch_of(ts - 30 * S));
    let s = ready(0, SpamKind::StaleEpoch, 1)[0];
    assert_eq!(
        (s.proof.timestamp_ns, s.proof.epoch),
        (ts, sh.epoch_of(ts) - 1)
    );
    // A non-member (and a member told to act as one) names a root nobody has.
    for node in [1, 0] {
        let n = ready(node, SpamKind::NonMember, 1)[0];
        assert_eq!(n.proof.root, NO_ROOT);
    }
    // Fabricated proofs cost nothing: still 600 ms on node 0, nothing on node 1.
    let t = sh.tally.borrow();
    assert_eq!(t.proof_cpu[0], SimDuration::from_millis(600));
    assert_eq!(t.proof_cpu[1], SimDuration::ZERO);
}
