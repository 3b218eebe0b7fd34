//! Scenario-level configuration: TOML in, a built network out.

use proptest::prelude::*;
use sim_core::{Fault, Jitter, LatencyModel, NodeId, SimDuration, SimTime};
use topologies::attrs::{GroupSpec, Mix, Role, group_counts};
use topologies::{
    BandwidthClasses, BandwidthSpec, NetworkSpec, RegionMatrix, RegionsSpec, TopologyError,
    TopologySpec, expand_groups,
};

const SCENARIO: &str = r#"
nodes = 1000

[topology]
kind = "dial"
outbound = 10
max_inbound = 40

[[groups]]
name = "bootstraps"
count = 5
role = "bootstrap"
region = "europe-west"
bandwidth = "datacenter"

[[groups]]
fraction = 0.9
role = "relay"

[[groups]]
fraction = 0.1
role = "light_client"
region = { us-east = 1, asia-east = 1 }
bandwidth = { mobile = 3, home = 1 }

[regions]
intra_region_rtt_ms = 8

[latency]
model = "regions"
jitter = { kind = "exponential", mean_ms = 2 }

[bandwidth]
classes = [{ name = "home", upload_mbps = 20, download_mbps = 100 }]

[[faults]]
kind = "offline"
select = { roles = ["relay"], fraction = 0.1 }
start_s = 600
end_s = 2400

[[faults]]
kind = "churn"
select = { roles = ["light_client"] }
session = { kind = "weibull", shape = 0.5, scale_s = 1800 }
offline = { kind = "pareto", shape = 1.5, scale_s = 60 }

[[faults]]
kind = "partition"
groups = [["asia-east", "asia-southeast", "oceania"]]
start_s = 1200
end_s = 1500
"#;

fn parse(text: &str) -> Result<NetworkSpec, toml::de::Error> {
    toml::from_str(text)
}

#[test]
fn a_full_scenario_parses_and_builds() {
    let spec = parse(SCENARIO).unwrap();
    spec.validate().unwrap();
    let net = spec.build(7, SimTime::from_secs(3600)).unwrap();
    assert_eq!(net.node_count(), 1000);
    assert_eq!(net.attrs.len(), 1000);
    assert_eq!(net.capacities.len(), 1000);
    // Groups: 5 bootstraps first, then 995 shared 0.9 / 0.1 = 895.5 / 99.5 -> by largest
    // remainder (equal remainders, earlier first) 896 relays and 99 light clients.
    let count = |r: Role| net.attrs.iter().filter(|a| a.role == r).count();
    assert_eq!(
        (
            count(Role::Bootstrap),
            count(Role::Relay),
            count(Role::LightClient)
        ),
        (5, 896, 99)
    );
    assert!(net.attrs[..5].iter().all(|a| a.role == Role::Bootstrap));
    assert!(
        net.attrs[..5]
            .iter()
            .all(|a| net.regions.name(a.region) == "europe-west")
    );
    // Light clients: 99 split 1:1 between two regions -> 50 / 49; classes 3:1 -> 74.25 / 24.75
    // -> 74 / 25 (the larger remainder, 0.75, gets the unit).
    let lc: Vec<_> = net
        .attrs
        .iter()
        .filter(|a| a.role == Role::LightClient)
        .collect();
    let in_region = |name: &str| {
        lc.iter()
            .filter(|a| net.regions.name(a.region) == name)
            .count()
    };
    assert_eq!((in_region("us-east"), in_region("asia-east")), (50, 49));
    let mobile = net.classes.id("mobile").unwrap();
    assert_eq!(lc.iter().filter(|a| a.bandwidth == mobile).count(), 74);
    // The redefined home class reaches the capacities.
    let home = net.classes.id("home").unwrap();
    let i = net.attrs.iter().position(|a| a.bandwidth == home).unwrap();
    assert_eq!(net.capacities[i].upload_bps, 20_000_000);
    // Dial graph: every node dialled 10.
    assert!(net.graph.nodes().all(|v| net.graph.out_degree(v) == 10));
    // Latency: symmetric; within a region half of the 8 ms round trip.
    let (a, b) = (NodeId(0), NodeId(1));
    assert_eq!(net.latency.latency(a, b), SimDuration::from_millis(4));
    for (x, y) in [(3, 500), (10, 999), (42, 7)] {
        let (x, y) = (NodeId(x), NodeId(y));
        assert_eq!(net.latency.latency(x, y), net.latency.latency(y, x));
    }
    assert_eq!(net.jitter, Jitter::Exponential { mean_ms: 2.0 });
    // Faults: sorted, with the window, the partition and churn.
    assert!(net.faults.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(
        net.faults
            .iter()
            .any(|(t, f)| *t == SimTime::from_secs(1200)
                && matches!(f, Fault::PartitionStart { .. }))
    );
    let offline_at_600 = net
        .faults
        .iter()
        .filter(|(t, f)| *t == SimTime::from_secs(600) && matches!(f, Fault::NodeOffline(_)))
        .count();
    // 10 % of 896 relays = 89.6 -> 90 (light clients churn too, but hardly at exactly 600 s).
    assert!((90..=91).contains(&offline_at_600), "{offline_at_600}");
    // Same seed, same network.
    let again = spec.build(7, SimTime::from_secs(3600)).unwrap();
    assert_eq!(net.graph, again.graph);
    assert_eq!(net.attrs, again.attrs);
    assert_eq!(net.faults, again.faults);
}

#[test]
fn defaults_make_a_minimal_section_work() {
    let spec = parse("nodes = 50").unwrap();
    assert_eq!(
        spec.topology,
        TopologySpec::Dial {
            outbound: 10,
            max_inbound: 40
        }
    );
    let net = spec.build(1, SimTime::from_secs(60)).unwrap();
    assert!(net.attrs.iter().all(|a| a.role == Role::Relay));
    assert!(net.faults.is_empty());
    // Constant latency: "100 ms between every pair".
    let spec = parse("nodes = 10\n[topology]\nkind = \"ring\"\n[latency]\nmodel = \"constant\"\n")
        .unwrap();
    let net = spec.build(1, SimTime::from_secs(60)).unwrap();
    assert_eq!(
        net.latency.latency(NodeId(0), NodeId(5)),
        SimDuration::from_millis(100)
    );
}

#[test]
fn every_topology_kind_parses() {
    for (toml_kind, expect) in [
        ("kind = \"random_regular\"\ndegree = 4", "random_regular"),
        ("kind = \"erdos_renyi\"\np = 0.1", "erdos_renyi"),
        ("kind = \"barabasi_albert\"\nm = 2", "barabasi_albert"),
        (
            "kind = \"watts_strogatz\"\nk = 4\nbeta = 0.1",
            "watts_strogatz",
        ),
        ("kind = \"dial\"", "dial"),
        ("kind = \"complete\"", "complete"),
        ("kind = \"ring\"", "ring"),
        ("kind = \"line\"", "line"),
    ] {
        let spec = parse(&format!("nodes = 30\n[topology]\n{toml_kind}\n")).unwrap();
        assert_eq!(spec.topology.kind(), expect);
        let net = spec.build(3, SimTime::from_secs(1)).unwrap();
        assert_eq!(net.node_count(), 30);
    }
}

#[test]
fn typos_and_missing_fields_are_refused_by_the_parser() {
    // Unknown field at every level.
    assert!(parse("nodes = 5\nnode_count = 5").is_err());
    assert!(parse("nodes = 5\n[topology]\nkind = \"dial\"\noutbund = 3\n").is_err());
    assert!(parse("nodes = 5\n[latency]\nconstant_ms = 3\n").is_err());
    assert!(
        parse("nodes = 5\n[[groups]]\nfraction = 1\nrole = \"relay\"\nregoin = \"us-east\"\n")
            .is_err()
    );
    assert!(
        parse("nodes = 5\n[[faults]]\nkind = \"offline\"\nstart_s = 1\nend_s = 2\nstart_min = 3\n")
            .is_err()
    );
    // Unknown kind / role; missing required parameter.
    assert!(parse("nodes = 5\n[topology]\nkind = \"torus\"\n").is_err());
    assert!(parse("nodes = 5\n[[groups]]\nfraction = 1\nrole = \"miner\"\n").is_err());
    assert!(parse("nodes = 5\n[topology]\nkind = \"random_regular\"\n").is_err());
}

fn field(e: TopologyError) -> String {
    match e {
        TopologyError::InvalidParameter { field, .. }
        | TopologyError::UnknownName { field, .. } => field,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn validation_names_the_field_path() {
    let build = |text: &str| {
        field(
            parse(text)
                .unwrap()
                .build(1, SimTime::from_secs(10))
                .unwrap_err(),
        )
    };
    assert_eq!(
        build("nodes = 9\n[topology]\nkind = \"random_regular\"\ndegree = 3\n"),
        "topology.degree"
    );
    assert_eq!(
        build("nodes = 9\n[topology]\nkind = \"erdos_renyi\"\np = 2.0\n"),
        "topology.p"
    );
    assert_eq!(build("[topology]\nkind = \"ring\"\n"), "nodes");
    assert_eq!(build("nodes = 0"), "nodes");
    assert_eq!(build("nodes = 9\n[[groups]]\nfraction = 0.5\n"), "groups");
    assert_eq!(
        build("nodes = 9\n[[groups]]\nfraction = 1\nregion = \"mars\"\n"),
        "groups[0].region"
    );
    assert_eq!(
        build("nodes = 9\n[regions]\nintra_region_rtt_ms = -1\n"),
        "regions.intra_region_rtt_ms"
    );
    assert_eq!(
        build("nodes = 9\n[regions.weights]\nmars = 1\n"),
        "regions.weights"
    );
    assert_eq!(
        build("nodes = 9\n[latency]\nconstant_latency_ms = nan\n"),
        "latency.constant_latency_ms"
    );
    assert_eq!(
        build("nodes = 9\n[bandwidth]\ndefault_mix = \"fibre\"\n"),
        "bandwidth.default_mix"
    );
    assert_eq!(
        build(
            "nodes = 9\n[[bandwidth.classes]]\nname = \"x\"\nupload_mbps = 0\ndownload_mbps = 1\n"
        ),
        "bandwidth.classes[0].upload_mbps"
    );
    assert_eq!(
        build("nodes = 9\n[[faults]]\nkind = \"sleep\"\nperiod_s = 0\nsleep_s = 1\n"),
        "faults[0].period_s"
    );
}

#[test]
fn file_topologies_take_their_node_count_from_the_file() {
    let dir = std::env::temp_dir().join(format!("topologies-spec-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("crawl.csv"),
        "source,target,latency_ms\n0,1,3\n1,2,\n2,3,40\n",
    )
    .unwrap();
    let spec = parse("[topology]\nkind = \"file\"\npath = \"crawl.csv\"\n").unwrap();
    let spec = NetworkSpec {
        topology: spec.topology.with_base_dir(&dir),
        ..spec
    };
    let net = spec.build(1, SimTime::from_secs(10)).unwrap();
    assert_eq!(net.node_count(), 4);
    // Measured latency on 0-1 (3 ms), the region model elsewhere.
    assert_eq!(
        net.latency.latency(NodeId(1), NodeId(0)),
        SimDuration::from_millis(3)
    );
    assert_eq!(
        net.latency.latency(NodeId(2), NodeId(3)),
        SimDuration::from_millis(40)
    );
    assert_eq!(net.latency.measured_pairs(), 2);
    // With use_edge_latency = false the measurements are ignored.
    let mut no_edges = spec.clone();
    no_edges.latency.use_edge_latency = false;
    let net2 = no_edges.build(1, SimTime::from_secs(10)).unwrap();
    assert_eq!(net2.latency.measured_pairs(), 0);
    // An explicit count too small for the file is an error naming the line.
    let small = NetworkSpec {
        nodes: Some(3),
        ..spec.clone()
    };
    let e = small.build(1, SimTime::from_secs(10)).unwrap_err();
    assert!(matches!(e, TopologyError::MissingNode { .. }), "{e}");
    assert!(e.to_string().contains("csv line 4"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn groups_expand_to_exactly_n_nodes(
        n in 1u32..5000,
        fixed in proptest::collection::vec(0u32..50, 0..4),
        weights in proptest::collection::vec(0.01f64..1.0, 1..5),
        seed in any::<u64>(),
    ) {
        let fixed_sum: u32 = fixed.iter().sum();
        prop_assume!(fixed_sum <= n);
        let total: f64 = weights.iter().sum();
        let mut groups: Vec<GroupSpec> = fixed
            .iter()
            .map(|&c| GroupSpec { count: Some(c), role: Role::Bootstrap, ..GroupSpec::default() })
            .collect();
        groups.extend(weights.iter().map(|w| GroupSpec {
            fraction: Some(w / total),
            region: Some(Mix::Weighted([("us-east".to_string(), *w), ("oceania".to_string(), 1.0)].into())),
            ..GroupSpec::default()
        }));
        // Fractions normalised in floating point may add up to 1 +- 1e-16: accepted.
        let counts = group_counts(&groups, n).unwrap();
        prop_assert_eq!(counts.iter().map(|&c| u64::from(c)).sum::<u64>(), u64::from(n));
        for (c, f) in counts.iter().zip(&fixed) {
            prop_assert_eq!(c, f);
        }
        // Each fraction group is within one node of its exact share.
        let rest = f64::from(n - fixed_sum);
        for (c, w) in counts[fixed.len()..].iter().zip(&weights) {
            prop_assert!((f64::from(*c) - rest * w / total).abs() < 1.0 + 1e-9);
        }
        let regions = RegionMatrix::builtin();
        let rw = RegionsSpec::default().default_weights(&regions).unwrap();
        let classes = BandwidthClasses::builtin();
        let bw = BandwidthSpec::default().default_weights(&classes).unwrap();
        let attrs = expand_groups(&groups, n, &regions, &rw, &classes, &bw, seed).unwrap();
        prop_assert_eq!(attrs.len(), n as usize);
        let again = expand_groups(&groups, n, &regions, &rw, &classes, &bw, seed).unwrap();
        prop_assert_eq!(&attrs, &again);
        // Group g's nodes are consecutive and carry its index.
        let mut start = 0usize;
        for (g, &c) in counts.iter().enumerate() {
            prop_assert!(attrs[start..start + c as usize].iter().all(|a| usize::from(a.group) == g));
            start += c as usize;
        }
    }
}
