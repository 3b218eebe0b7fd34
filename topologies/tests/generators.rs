//! Generator properties, with the seed as a property-test input.

use proptest::prelude::*;
use sim_core::NodeId;
use topologies::generate;
use topologies::stats::{StatsOptions, graph_stats};
use topologies::{Graph, TopologyError};

/// Edges as sorted (min, max) pairs: equal for equal graphs whatever the edge order.
fn edge_set(g: &Graph) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = g
        .edges()
        .iter()
        .map(|e| (e.a.0.min(e.b.0), e.a.0.max(e.b.0)))
        .collect();
    v.sort_unstable();
    v
}

/// Symmetric adjacency, no self-loops, no repeated neighbours, degrees add up to 2m.
fn assert_simple(g: &Graph) {
    let mut degree_sum = 0;
    for v in g.nodes() {
        let nb = g.neighbors(v);
        degree_sum += nb.len();
        assert!(!nb.contains(&v), "self-loop at {v}");
        assert!(
            nb.windows(2).all(|w| w[0] < w[1]),
            "neighbours of {v} not strictly sorted"
        );
        for &w in nb {
            assert!(g.neighbors(w).contains(&v), "{v} -> {w} not symmetric");
        }
    }
    assert_eq!(degree_sum, 2 * g.edge_count());
}

fn components(g: &Graph) -> usize {
    petgraph::algo::connected_components(&g.to_petgraph())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_regular_has_exact_degrees(n in 2u32..160, d_raw in 0u32..160, seed in any::<u64>()) {
        let d = d_raw % n;
        prop_assume!((n * d) % 2 == 0);
        let g = generate::random_regular(n, d, seed).unwrap();
        assert_simple(&g);
        prop_assert!(g.nodes().all(|v| g.degree(v) == d as usize));
        prop_assert_eq!(g.edge_count(), (n * d / 2) as usize);
        // Same seed, same graph (edge for edge, in the same order).
        let again = generate::random_regular(n, d, seed).unwrap();
        prop_assert_eq!(g.edges(), again.edges());
    }

    #[test]
    fn random_regular_depends_on_the_seed(n in 20u32..120, d_raw in 1u32..120, seed in any::<u64>()) {
        // With 20+ nodes and 1 <= d <= n-2 there are at least 19!! = 6.5e8 labelled graphs
        // (perfect matchings, the smallest case), so two seeds agreeing is a bug, not luck.
        let d = 1 + d_raw % (n - 2);
        prop_assume!((n * d) % 2 == 0);
        let a = generate::random_regular(n, d, seed).unwrap();
        let b = generate::random_regular(n, d, seed.wrapping_add(1)).unwrap();
        prop_assert_ne!(edge_set(&a), edge_set(&b));
    }

    #[test]
    fn erdos_renyi_is_simple_and_seeded(n in 1u32..300, p in 0.0f64..=1.0, seed in any::<u64>()) {
        let g = generate::erdos_renyi(n, p, seed).unwrap();
        assert_simple(&g);
        prop_assert!(g.edge_count() as u64 <= u64::from(n) * u64::from(n - 1) / 2);
        prop_assert_eq!(edge_set(&g), edge_set(&generate::erdos_renyi(n, p, seed).unwrap()));
    }

    #[test]
    fn barabasi_albert_is_simple_with_minimum_degree_m(n in 2u32..300, m_raw in 1u32..10, seed in any::<u64>()) {
        let m = 1 + (m_raw - 1) % (n - 1);
        let g = generate::barabasi_albert(n, m, seed).unwrap();
        assert_simple(&g);
        // m(m+1)/2 edges in the starting clique, then m per added node.
        let m64 = u64::from(m);
        prop_assert_eq!(g.edge_count() as u64, m64 * (m64 + 1) / 2 + (u64::from(n) - m64 - 1) * m64);
        prop_assert!(g.nodes().all(|v| g.degree(v) >= m as usize));
        prop_assert_eq!(components(&g), 1);
        let again = generate::barabasi_albert(n, m, seed).unwrap();
        prop_assert_eq!(g.edges(), again.edges());
    }

    #[test]
    fn watts_strogatz_keeps_the_edge_count(n in 3u32..200, k_raw in 0u32..20, beta in 0.0f64..=1.0, seed in any::<u64>()) {
        let k = (k_raw * 2) % n;
        let k = if k % 2 == 1 { k - 1 } else { k };
        let g = generate::watts_strogatz(n, k, beta, seed).unwrap();
        assert_simple(&g);
        // Rewiring moves edges, never adds or drops one.
        prop_assert_eq!(g.edge_count(), (n * k / 2) as usize);
        let again = generate::watts_strogatz(n, k, beta, seed).unwrap();
        prop_assert_eq!(g.edges(), again.edges());
    }

    #[test]
    fn dial_respects_outbound_and_inbound_limits(n in 2u32..300, k_raw in 0u32..12, m in 1u32..50, seed in any::<u64>()) {
        let k = k_raw % n;
        let g = generate::dial(n, k, m, seed).unwrap();
        assert_simple(&g);
        prop_assert!(g.edges().iter().all(|e| e.dialed));
        for v in g.nodes() {
            prop_assert!(g.in_degree(v) <= m as usize, "{v} has {} inbound > {m}", g.in_degree(v));
            prop_assert!(g.out_degree(v) <= k as usize);
        }
        // When enough peers are guaranteed to be left, every node gets all k. A node dialling
        // sees at most n*k/m full nodes and at most k + m neighbours, so at least
        // n - 1 - n*k/m - (k + m) eligible peers remain.
        let guaranteed = i64::from(n) - 1 - i64::from(n) * i64::from(k) / i64::from(m) - i64::from(k + m);
        if guaranteed > 0 {
            prop_assert!(g.nodes().all(|v| g.out_degree(v) == k as usize));
        }
        let again = generate::dial(n, k, m, seed).unwrap();
        prop_assert_eq!(g.edges(), again.edges());
    }

    #[test]
    fn ring_line_complete_are_connected(n in 3u32..120) {
        let ring = generate::ring(n).unwrap();
        let line = generate::line(n).unwrap();
        let complete = generate::complete(n).unwrap();
        for g in [&ring, &line, &complete] {
            assert_simple(g);
            prop_assert_eq!(components(g), 1);
        }
        prop_assert_eq!(ring.edge_count(), n as usize);
        prop_assert_eq!(line.edge_count(), n as usize - 1);
        prop_assert_eq!(complete.edge_count(), (n * (n - 1) / 2) as usize);
        prop_assert!(ring.nodes().all(|v| ring.degree(v) == 2));
        prop_assert!(complete.nodes().all(|v| complete.degree(v) == n as usize - 1));
    }
}

#[test]
fn the_relay_overlay_gives_every_node_ten_outbound() {
    // The relay scenarios: 1,000 nodes each dialling 10, accepting up to 40. Guaranteed by the
    // bound above: 1000 - 1 - 1000*10/40 - 50 = 699 > 0.
    let g = generate::dial(1000, 10, 40, 7).unwrap();
    assert!(g.nodes().all(|v| g.out_degree(v) == 10));
    assert!(g.nodes().all(|v| g.in_degree(v) <= 40));
    assert_eq!(g.edge_count(), 10_000);
    // Mean degree is 2 x 10 = 20.
    let s = graph_stats(&g, &StatsOptions::default());
    assert_eq!(s.mean_degree, 20.0);
    assert_eq!(s.components, 1);
}

#[test]
fn dial_with_tight_inbound_still_never_exceeds_it() {
    // 100 nodes x 10 dials = 1000 dials but only 100 x 5 = 500 inbound slots: at most 500
    // connections can form, and nobody exceeds 5 inbound.
    let g = generate::dial(100, 10, 5, 3).unwrap();
    assert!(g.edge_count() <= 500);
    assert!(g.nodes().all(|v| g.in_degree(v) <= 5));
}

/// Fraction of nodes with degree >= k.
fn ccdf(g: &Graph, k: usize) -> f64 {
    g.nodes().filter(|&v| g.degree(v) >= k).count() as f64 / f64::from(g.node_count())
}

#[test]
fn barabasi_albert_has_a_power_law_tail_with_exponent_3() {
    // For BA with m edges per node, P(degree = k) = 2m(m+1) / (k(k+1)(k+2)) (Bollobás et al.
    // 2001), so the complementary CDF is P(degree >= k) = m(m+1) / (k(k+1)) ~ k^-2, i.e. a
    // density exponent gamma = 3. Fitting between k = 10 and k = 40:
    //   gamma - 1 = ln(F(10) / F(40)) / ln 4, with F(10)/F(40) = (40*41)/(10*11) = 14.91,
    //   so gamma = 1 + ln(14.91)/ln(4) = 1 + 2.702/1.386 = 2.95.
    // With n = 50,000 and m = 3: F(10) = 12/110 = 0.109 (5,454 nodes), F(40) = 12/1640 =
    // 0.0073 (366 nodes). Counting noise: 1/sqrt(366) = 5.2 % and 1.4 %, so the fitted gamma
    // has sd ~ sqrt(0.052^2 + 0.014^2)/1.386 = 0.04; the tolerance 0.3 is over 7 sd.
    for seed in [1, 2, 3] {
        let g = generate::barabasi_albert(50_000, 3, seed).unwrap();
        let (f10, f40) = (ccdf(&g, 10), ccdf(&g, 40));
        let gamma = 1.0 + (f10 / f40).ln() / 4f64.ln();
        assert!(
            (gamma - 2.95).abs() < 0.3,
            "seed {seed}: fitted gamma {gamma}"
        );
        assert!(
            (f10 - 12.0 / 110.0).abs() < 0.15 * 12.0 / 110.0,
            "seed {seed}: F(10) = {f10}"
        );
        // Hubs: the largest degree grows like m sqrt(n) = 3 x 224 = 670 for BA; a G(n, p) of
        // the same mean degree 6 has a largest degree near 20. 150 separates them safely.
        let max = g.nodes().map(|v| g.degree(v)).max().unwrap();
        assert!(max > 150, "seed {seed}: max degree {max}");
    }
}

#[test]
fn erdos_renyi_edge_count_matches_p() {
    // n = 2000, p = 0.005: E[m] = p n(n-1)/2 = 0.005 x 1,999,000 = 9,995, sd = sqrt(9995 x
    // 0.995) = 99.7; five sd = 500.
    let g = generate::erdos_renyi(2000, 0.005, 11).unwrap();
    let m = g.edge_count() as f64;
    assert!((m - 9995.0).abs() < 500.0, "{m}");
    // And a large sparse one is fast (geometric skipping): 100,000 nodes, mean degree 8,
    // E[m] = 400,000, sd ~ 632.
    let g = generate::erdos_renyi(100_000, 8.0 / 99_999.0, 12).unwrap();
    let m = g.edge_count() as f64;
    assert!((m - 400_000.0).abs() < 3_200.0, "{m}");
    // p = 1 is the complete graph.
    assert_eq!(generate::erdos_renyi(30, 1.0, 0).unwrap().edge_count(), 435);
    assert_eq!(generate::erdos_renyi(30, 0.0, 0).unwrap().edge_count(), 0);
}

#[test]
fn watts_strogatz_without_rewiring_is_the_ring_lattice() {
    let g = generate::watts_strogatz(100, 4, 0.0, 5).unwrap();
    for v in 0..100u32 {
        let expect: Vec<NodeId> = {
            let mut e: Vec<u32> = [98, 99, 1, 2].iter().map(|d| (v + d) % 100).collect();
            e.sort_unstable();
            e.into_iter().map(NodeId).collect()
        };
        assert_eq!(g.neighbors(NodeId(v)), &expect[..]);
    }
    // The ring lattice's clustering is 3(k-2)/(4(k-1)) = 3 x 2 / (4 x 3) = 0.5 exactly.
    let s = graph_stats(&g, &StatsOptions::default());
    assert!((s.clustering - 0.5).abs() < 1e-12);
    // Full rewiring destroys most triangles: a random graph of mean degree 4 on 100 nodes
    // has clustering around 4/100.
    let r = generate::watts_strogatz(100, 4, 1.0, 5).unwrap();
    assert!(graph_stats(&r, &StatsOptions::default()).clustering < 0.2);
}

#[test]
fn dense_random_regular_uses_the_complement() {
    // 10 nodes, degree 7 > (10-1)/2: built as the complement of a 2-regular graph.
    let g = generate::random_regular(10, 7, 4).unwrap();
    assert!(g.nodes().all(|v| g.degree(v) == 7));
    // n - 1 is the complete graph.
    assert_eq!(generate::random_regular(9, 8, 4).unwrap().edge_count(), 36);
}

fn field_of(e: &TopologyError) -> String {
    match e {
        TopologyError::InvalidParameter { field, .. } => field.clone(),
        other => panic!("expected an invalid parameter, got {other:?}"),
    }
}

#[test]
fn impossible_requests_name_the_parameter() {
    // n x d odd.
    let e = generate::random_regular(5, 3, 0).unwrap_err();
    assert_eq!(field_of(&e), "degree");
    assert!(e.to_string().contains("odd"), "{e}");
    // d >= n.
    let e = generate::random_regular(8, 8, 0).unwrap_err();
    assert_eq!(field_of(&e), "degree");
    assert!(
        e.to_string().contains("less than the number of nodes"),
        "{e}"
    );
    // No nodes at all, for every generator.
    assert_eq!(
        field_of(&generate::random_regular(0, 0, 0).unwrap_err()),
        "nodes"
    );
    assert_eq!(
        field_of(&generate::erdos_renyi(0, 0.1, 0).unwrap_err()),
        "nodes"
    );
    assert_eq!(field_of(&generate::complete(0).unwrap_err()), "nodes");
    assert_eq!(field_of(&generate::line(0).unwrap_err()), "nodes");
    // p outside [0, 1], NaN included.
    for p in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
        assert_eq!(field_of(&generate::erdos_renyi(10, p, 0).unwrap_err()), "p");
    }
    // p so large the graph would not fit.
    assert_eq!(
        field_of(&generate::erdos_renyi(1_000_000, 0.5, 0).unwrap_err()),
        "p"
    );
    // BA: m = 0 and m >= n.
    assert_eq!(
        field_of(&generate::barabasi_albert(10, 0, 0).unwrap_err()),
        "m"
    );
    assert_eq!(
        field_of(&generate::barabasi_albert(10, 10, 0).unwrap_err()),
        "m"
    );
    // WS: odd k, k >= n, beta outside [0, 1].
    assert_eq!(
        field_of(&generate::watts_strogatz(10, 3, 0.1, 0).unwrap_err()),
        "k"
    );
    assert_eq!(
        field_of(&generate::watts_strogatz(10, 10, 0.1, 0).unwrap_err()),
        "k"
    );
    assert_eq!(
        field_of(&generate::watts_strogatz(10, 4, 1.1, 0).unwrap_err()),
        "beta"
    );
    // Dial: more peers than exist, nobody accepting.
    assert_eq!(
        field_of(&generate::dial(10, 10, 40, 0).unwrap_err()),
        "outbound"
    );
    assert_eq!(
        field_of(&generate::dial(10, 3, 0, 0).unwrap_err()),
        "max_inbound"
    );
    // Ring of two.
    assert_eq!(field_of(&generate::ring(2).unwrap_err()), "nodes");
    // Beyond the node limit.
    assert_eq!(field_of(&generate::line(u32::MAX).unwrap_err()), "nodes");
}

#[test]
fn every_seeded_generator_depends_on_its_seed() {
    type Gen = fn(u64) -> Graph;
    let gens: [(&str, Gen); 4] = [
        ("erdos_renyi", |s| {
            generate::erdos_renyi(200, 0.05, s).unwrap()
        }),
        ("barabasi_albert", |s| {
            generate::barabasi_albert(200, 3, s).unwrap()
        }),
        ("watts_strogatz", |s| {
            generate::watts_strogatz(200, 6, 0.3, s).unwrap()
        }),
        ("dial", |s| generate::dial(200, 6, 20, s).unwrap()),
    ];
    for (name, g) in gens {
        assert_eq!(g(1), g(1), "{name}: same seed, different graph");
        assert_ne!(
            edge_set(&g(1)),
            edge_set(&g(2)),
            "{name}: the seed changes nothing"
        );
    }
}

/// FNV-1a over the edge list, in order.
fn digest(g: &Graph) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for e in g.edges() {
        for x in [e.a.0, e.b.0, u32::from(e.dialed)] {
            for b in x.to_le_bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    h
}

#[test]
fn generated_graphs_are_pinned() {
    // Published results must be reproducible from (seed, parameters), so a change to any
    // generator (or to sim-core's stream derivation) must be deliberate. If you changed one on
    // purpose, update these digests and say so in the changelog: results before and after the
    // change are not comparable.
    let pins = [
        (
            "random_regular",
            digest(&generate::random_regular(100, 4, 1).unwrap()),
        ),
        (
            "erdos_renyi",
            digest(&generate::erdos_renyi(100, 0.05, 1).unwrap()),
        ),
        (
            "barabasi_albert",
            digest(&generate::barabasi_albert(100, 2, 1).unwrap()),
        ),
        (
            "watts_strogatz",
            digest(&generate::watts_strogatz(100, 4, 0.2, 1).unwrap()),
        ),
        ("dial", digest(&generate::dial(100, 4, 10, 1).unwrap())),
    ];
    let expected: [u64; 5] = [
        0x739c_19c5_f196_5c95,
        0x4aeb_087e_56e2_dbf0,
        0xe1ac_a969_a92c_2949,
        0xb49e_3249_53e8_c31d,
        0x59c6_e514_482e_fb52,
    ];
    for ((name, d), e) in pins.iter().zip(expected) {
        assert_eq!(*d, e, "{name} changed: digest {d:#018x}");
    }
}
