//! Churn and fault schedules.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sim_core::{Fault, NodeId, SimTime};
use topologies::attrs::{GroupSpec, Mix, Role};
use topologies::churn::{Dist, FaultSpec, NodeSelector, fault_schedule};
use topologies::{
    BandwidthSpec, NodeAttrs, RegionMatrix, RegionsSpec, TopologyError, expand_groups,
};

/// `n` nodes: 80 % relays, 20 % light clients, default regions and bandwidth.
fn nodes(n: u32, seed: u64) -> (Vec<NodeAttrs>, RegionMatrix) {
    let regions = RegionMatrix::builtin();
    let rw = RegionsSpec::default().default_weights(&regions).unwrap();
    let bw_spec = BandwidthSpec::default();
    let classes = bw_spec.classes().unwrap();
    let bw = bw_spec.default_weights(&classes).unwrap();
    let groups = vec![
        GroupSpec {
            fraction: Some(0.8),
            role: Role::Relay,
            ..GroupSpec::default()
        },
        GroupSpec {
            fraction: Some(0.2),
            role: Role::LightClient,
            bandwidth: Some(Mix::One("mobile".into())),
            ..GroupSpec::default()
        },
    ];
    let attrs = expand_groups(&groups, n, &regions, &rw, &classes, &bw, seed).unwrap();
    (attrs, regions)
}

fn churn(mean_session_s: f64, mean_offline_s: f64) -> FaultSpec {
    FaultSpec::Churn {
        select: NodeSelector::default(),
        session: Dist::Exponential {
            mean_s: mean_session_s,
        },
        offline: Dist::Exponential {
            mean_s: mean_offline_s,
        },
        start_s: 0.0,
        end_s: None,
    }
}

/// Per node, its offline/online events in order.
fn per_node(schedule: &[(SimTime, Fault)]) -> BTreeMap<u32, Vec<(SimTime, bool)>> {
    let mut m: BTreeMap<u32, Vec<(SimTime, bool)>> = BTreeMap::new();
    for (t, f) in schedule {
        match f {
            Fault::NodeOffline(v) => m.entry(v.0).or_default().push((*t, false)),
            Fault::NodeOnline(v) => m.entry(v.0).or_default().push((*t, true)),
            _ => {}
        }
    }
    m
}

fn assert_sorted_and_alternating(schedule: &[(SimTime, Fault)]) {
    assert!(
        schedule.windows(2).all(|w| w[0].0 <= w[1].0),
        "not sorted by time"
    );
    for (v, evs) in per_node(schedule) {
        // Every node starts online, so its first event is going offline; then they alternate
        // and times strictly increase (touching offline periods are merged).
        for (i, (t, online)) in evs.iter().enumerate() {
            assert_eq!(*online, i % 2 == 1, "node {v}: event {i} out of turn");
            if i > 0 {
                assert!(
                    *t > evs[i - 1].0,
                    "node {v}: event {i} not after the previous one"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn schedules_are_sorted_alternating_and_seeded(seed in any::<u64>(), session in 10.0f64..500.0, off in 1.0f64..200.0) {
        let (attrs, regions) = nodes(200, seed);
        let specs = vec![
            churn(session, off),
            // Overlaps the churn on purpose: the union must still alternate.
            FaultSpec::Offline {
                select: NodeSelector { fraction: 0.1, ..NodeSelector::default() },
                start_s: 100.0,
                end_s: 400.0,
            },
            FaultSpec::Sleep {
                select: NodeSelector { roles: vec![Role::LightClient], ..NodeSelector::default() },
                period_s: 300.0,
                sleep_s: 100.0,
                start_s: 0.0,
                end_s: None,
            },
        ];
        let horizon = SimTime::from_secs(3600);
        let a = fault_schedule(&specs, &attrs, &regions, horizon, seed).unwrap();
        assert_sorted_and_alternating(&a);
        prop_assert!(a.iter().all(|(t, _)| *t < horizon));
        let b = fault_schedule(&specs, &attrs, &regions, horizon, seed).unwrap();
        prop_assert_eq!(&a, &b);
        let c = fault_schedule(&specs, &attrs, &regions, horizon, seed ^ 1).unwrap();
        prop_assert_ne!(&a, &c);
    }
}

#[test]
fn exponential_sessions_have_the_configured_mean() {
    // 1,000 nodes, sessions Exp(mean 60 s), offline Exp(mean 30 s), for 3,000 s: about
    // 3000 / 90 = 33 cycles per node, ~33,000 complete sessions. Standard error of their mean:
    // 60 / sqrt(33000) = 0.33 s. Leaving out each node's last, unfinished session biases the
    // mean down by at most ~1 % (one session in 33); a 3 s (5 %) tolerance covers both.
    let (attrs, regions) = nodes(1000, 5);
    let s = fault_schedule(
        &[churn(60.0, 30.0)],
        &attrs,
        &regions,
        SimTime::from_secs(3000),
        5,
    )
    .unwrap();
    assert_sorted_and_alternating(&s);
    let mut sessions = Vec::new();
    let mut offs = Vec::new();
    for evs in per_node(&s).values() {
        let mut up_since = SimTime::ZERO;
        for &(t, online) in evs {
            if online {
                offs.push((t - up_since).as_secs_f64());
                up_since = t;
            } else {
                sessions.push((t - up_since).as_secs_f64());
                up_since = t;
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(sessions.len() > 25_000, "{}", sessions.len());
    let (ms, mo) = (mean(&sessions), mean(&offs));
    assert!((ms - 60.0).abs() < 3.0, "mean session {ms}");
    // Offline periods: ~33,000 of mean 30, se 0.17; same reasoning, 1.5 s tolerance.
    assert!((mo - 30.0).abs() < 1.5, "mean offline {mo}");
}

#[test]
fn an_offline_window_takes_the_right_nodes_down_and_up() {
    // "10 % of relay nodes offline from minute 10 to 40": 1,000 nodes, 800 relays -> 80.
    let (attrs, regions) = nodes(1000, 9);
    let spec = FaultSpec::Offline {
        select: NodeSelector {
            roles: vec![Role::Relay],
            fraction: 0.1,
            ..NodeSelector::default()
        },
        start_s: 600.0,
        end_s: 2400.0,
    };
    let s = fault_schedule(&[spec], &attrs, &regions, SimTime::from_secs(3600), 9).unwrap();
    assert_eq!(s.len(), 160);
    let down: Vec<&NodeId> = s
        .iter()
        .filter_map(|(t, f)| match f {
            Fault::NodeOffline(v) => {
                assert_eq!(*t, SimTime::from_secs(600));
                Some(v)
            }
            Fault::NodeOnline(_) => {
                assert_eq!(*t, SimTime::from_secs(2400));
                None
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(down.len(), 80);
    assert!(down.iter().all(|v| attrs[v.index()].role == Role::Relay));
    // A horizon inside the window leaves the nodes offline to the end.
    let s = fault_schedule(
        &[FaultSpec::Offline {
            select: NodeSelector::default(),
            start_s: 10.0,
            end_s: 100.0,
        }],
        &attrs,
        &regions,
        SimTime::from_secs(50),
        9,
    )
    .unwrap();
    assert!(s.iter().all(|(_, f)| matches!(f, Fault::NodeOffline(_))));
    assert_eq!(s.len(), 1000);
}

#[test]
fn sleep_cycles_are_periodic_with_a_phase_per_node() {
    let (attrs, regions) = nodes(100, 2);
    let spec = FaultSpec::Sleep {
        select: NodeSelector::default(),
        period_s: 600.0,
        sleep_s: 120.0,
        start_s: 0.0,
        end_s: None,
    };
    // Horizon = 10 periods.
    let s = fault_schedule(&[spec], &attrs, &regions, SimTime::from_secs(6000), 2).unwrap();
    assert_sorted_and_alternating(&s);
    let mut phases = Vec::new();
    for (v, evs) in per_node(&s) {
        // Whole sleeps are exactly 120 s and start 600 s apart.
        let downs: Vec<SimTime> = evs.iter().filter(|e| !e.1).map(|e| e.0).collect();
        for w in downs.windows(2).skip(1) {
            assert_eq!(
                w[1] - w[0],
                sim_core::SimDuration::from_secs(600),
                "node {v}"
            );
        }
        phases.push(downs[downs.len() - 1].as_nanos() % 600_000_000_000);
        // Offline share: 120 / 600 = 20 % of 6,000 s = 1,200 s, give or take the clipped
        // cycles at both ends (at most one sleep, 120 s).
        let mut off = 0.0;
        let mut since = None;
        for &(t, online) in &evs {
            match (online, since) {
                (false, _) => since = Some(t),
                (true, Some(s0)) => {
                    off += (t - s0).as_secs_f64();
                    since = None;
                }
                _ => {}
            }
        }
        if let Some(s0) = since {
            off += 6000.0 - s0.as_secs_f64();
        }
        assert!(
            (off - 1200.0).abs() <= 120.0 + 1e-6,
            "node {v}: {off} s offline"
        );
    }
    phases.sort_unstable();
    phases.dedup();
    assert!(
        phases.len() > 90,
        "phases are not spread: {} distinct",
        phases.len()
    );
}

#[test]
fn partitions_group_nodes_by_region() {
    let (attrs, regions) = nodes(500, 4);
    let asia = ["asia-east", "asia-southeast", "oceania"];
    let spec = FaultSpec::Partition {
        groups: vec![asia.iter().map(|s| s.to_string()).collect()],
        select: None,
        start_s: 60.0,
        end_s: 120.0,
    };
    let s = fault_schedule(&[spec], &attrs, &regions, SimTime::from_secs(600), 4).unwrap();
    assert_eq!(s.len(), 2);
    match &s[0] {
        (t, Fault::PartitionStart { id: 0, groups }) => {
            assert_eq!(*t, SimTime::from_secs(60));
            assert_eq!(groups.len(), 500);
            for (a, g) in attrs.iter().zip(groups) {
                let in_asia = asia.contains(&regions.name(a.region));
                assert_eq!(*g, u32::from(in_asia), "{}", regions.name(a.region));
            }
            assert!(groups.contains(&0) && groups.contains(&1));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        s[1],
        (SimTime::from_secs(120), Fault::PartitionEnd { id: 0 })
    );
}

#[test]
fn a_partition_can_cut_off_selected_nodes() {
    // Nodes 3, 7 and 9 on one side, the other 17 on the other, from 60 s to 120 s.
    let (attrs, regions) = nodes(20, 4);
    let spec = FaultSpec::Partition {
        groups: Vec::new(),
        select: Some(NodeSelector {
            nodes: vec![3, 7, 9],
            ..NodeSelector::default()
        }),
        start_s: 60.0,
        end_s: 120.0,
    };
    let s = fault_schedule(&[spec], &attrs, &regions, SimTime::from_secs(600), 4).unwrap();
    let mut want = vec![0u32; 20];
    for v in [3, 7, 9] {
        want[v] = 1;
    }
    assert_eq!(
        s,
        vec![
            (
                SimTime::from_secs(60),
                Fault::PartitionStart {
                    id: 0,
                    groups: want
                }
            ),
            (SimTime::from_secs(120), Fault::PartitionEnd { id: 0 }),
        ]
    );
}

#[test]
fn degradations_start_and_end() {
    let (attrs, regions) = nodes(50, 1);
    let spec = FaultSpec::Degrade {
        select: NodeSelector {
            count: Some(5),
            ..NodeSelector::default()
        },
        start_s: 10.0,
        end_s: 20.0,
        extra_latency_ms: 50.0,
        bandwidth_factor: 0.5,
        loss: 0.01,
    };
    let s = fault_schedule(&[spec], &attrs, &regions, SimTime::from_secs(60), 1).unwrap();
    assert_eq!(s.len(), 10);
    let degraded: Vec<_> = s
        .iter()
        .filter_map(|(_, f)| match f {
            Fault::DegradeNode(v, d) => {
                assert_eq!(d.extra_latency, sim_core::SimDuration::from_millis(50));
                Some(*v)
            }
            _ => None,
        })
        .collect();
    assert_eq!(degraded.len(), 5);
}

fn field(e: TopologyError) -> String {
    match e {
        TopologyError::InvalidParameter { field, .. }
        | TopologyError::UnknownName { field, .. } => field,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn every_bad_parameter_is_named() {
    let (attrs, regions) = nodes(20, 1);
    let h = SimTime::from_secs(100);
    let run = |spec: FaultSpec| field(fault_schedule(&[spec], &attrs, &regions, h, 1).unwrap_err());
    let weibull = |shape: f64| FaultSpec::Churn {
        select: NodeSelector::default(),
        session: Dist::Weibull {
            shape,
            scale_s: 10.0,
        },
        offline: Dist::Exponential { mean_s: 1.0 },
        start_s: 0.0,
        end_s: None,
    };
    assert_eq!(run(weibull(0.0)), "faults[0].session.shape");
    assert_eq!(run(weibull(-1.0)), "faults[0].session.shape");
    assert_eq!(run(churn(60.0, 0.0)), "faults[0].offline.mean_s");
    assert_eq!(run(churn(f64::NAN, 1.0)), "faults[0].session.mean_s");
    let window = |start_s: f64, end_s: f64, fraction: f64| FaultSpec::Offline {
        select: NodeSelector {
            fraction,
            ..NodeSelector::default()
        },
        start_s,
        end_s,
    };
    assert_eq!(run(window(40.0, 10.0, 1.0)), "faults[0].end_s");
    assert_eq!(run(window(10.0, 10.0, 1.0)), "faults[0].end_s");
    assert_eq!(run(window(-5.0, 10.0, 1.0)), "faults[0].start_s");
    assert_eq!(run(window(0.0, 10.0, 1.5)), "faults[0].select.fraction");
    let too_many = FaultSpec::Offline {
        select: NodeSelector {
            count: Some(21),
            ..NodeSelector::default()
        },
        start_s: 0.0,
        end_s: 1.0,
    };
    assert_eq!(run(too_many), "faults[0].select.count");
    let sleep = FaultSpec::Sleep {
        select: NodeSelector::default(),
        period_s: 10.0,
        sleep_s: 10.0,
        start_s: 0.0,
        end_s: None,
    };
    assert_eq!(run(sleep), "faults[0].sleep_s");
    let partition = FaultSpec::Partition {
        groups: vec![vec!["atlantis".into()]],
        select: None,
        start_s: 0.0,
        end_s: 1.0,
    };
    assert_eq!(run(partition), "faults[0].groups[0][0]");
    let twice = FaultSpec::Partition {
        groups: vec![vec!["us-east".into()], vec!["us-east".into()]],
        select: None,
        start_s: 0.0,
        end_s: 1.0,
    };
    assert_eq!(run(twice), "faults[0].groups[1][0]");
    let both = FaultSpec::Partition {
        groups: vec![vec!["us-east".into()]],
        select: Some(NodeSelector::default()),
        start_s: 0.0,
        end_s: 1.0,
    };
    assert_eq!(run(both), "faults[0].select");
    let neither = FaultSpec::Partition {
        groups: Vec::new(),
        select: None,
        start_s: 0.0,
        end_s: 1.0,
    };
    assert_eq!(run(neither), "faults[0].groups");
    let degrade = FaultSpec::Degrade {
        select: NodeSelector::default(),
        start_s: 0.0,
        end_s: 1.0,
        extra_latency_ms: 0.0,
        bandwidth_factor: 0.0,
        loss: 0.0,
    };
    assert_eq!(run(degrade), "faults[0].bandwidth_factor");
    // Nanosecond sessions on a long run would need billions of events: refused, not hung.
    let e = fault_schedule(
        &[churn(1e-9, 1e-9)],
        &attrs,
        &regions,
        SimTime::from_secs(3600),
        1,
    )
    .unwrap_err();
    assert!(e.to_string().contains("too large"), "{e}");
}
