//! The graph statistics of `stats.rs` computed with petgraph's algorithms instead, to check
//! they agree and to measure both at a million nodes (the reason `stats.rs` keeps its own
//! loops; the figures are in its module docs). The timing test is ignored by default:
//!
//! ```sh
//! cargo test --release -p topologies --test stats_petgraph -- --ignored --nocapture
//! ```

use std::time::Instant;

use petgraph::graph::{NodeIndex, UnGraph};
use petgraph::visit::Bfs;
use topologies::graph::EdgeAttr;
use topologies::{Graph, StatsOptions, generate, graph_stats};

/// Components (count, largest) with petgraph's strongly connected components (on an
/// undirected graph, the connected components).
fn components(p: &UnGraph<(), EdgeAttr, u32>) -> (u64, u64) {
    let sccs = petgraph::algo::kosaraju_scc(p);
    let largest = sccs.iter().map(Vec::len).max().unwrap_or(0);
    (sccs.len() as u64, largest as u64)
}

/// Eccentricity of `s` with petgraph's BFS (distances kept beside it: petgraph's `Bfs` visits
/// in order but does not report depths).
fn eccentricity(p: &UnGraph<(), EdgeAttr, u32>, s: u32, dist: &mut [u32]) -> u32 {
    dist.fill(u32::MAX);
    dist[s as usize] = 0;
    let mut far = 0;
    let mut bfs = Bfs::new(p, NodeIndex::new(s as usize));
    while let Some(v) = bfs.next(p) {
        let dv = dist[v.index()];
        far = far.max(dv);
        for w in p.neighbors(v) {
            if dist[w.index()] == u32::MAX {
                dist[w.index()] = dv + 1;
            }
        }
    }
    far
}

fn exact_diameter(p: &UnGraph<(), EdgeAttr, u32>) -> u64 {
    let mut dist = vec![u32::MAX; p.node_count()];
    (0..p.node_count() as u32)
        .map(|s| eccentricity(p, s, &mut dist))
        .max()
        .unwrap_or(0)
        .into()
}

#[test]
fn petgraph_gives_the_same_components_and_diameter() {
    for g in [
        generate::ring(50).unwrap(),
        generate::dial(300, 4, 10, 3).unwrap(),
        generate::erdos_renyi(400, 0.004, 7).unwrap(),
        Graph::empty(5).unwrap(),
    ] {
        let s = graph_stats(&g, &StatsOptions::default());
        let p = g.to_petgraph();
        assert_eq!(components(&p), (s.components, s.largest_component));
        assert_eq!(exact_diameter(&p), s.diameter);
    }
}

/// Resident memory of the process in MB (`VmRSS`; 0 off Linux).
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().strip_suffix("kB"))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[test]
#[ignore = "a timing measurement at a million nodes (run in release, about a minute)"]
fn petgraph_and_the_own_loops_at_a_million_nodes() {
    let n = 1_000_000;
    let g = generate::dial(n, 10, 40, 1).unwrap();
    let t = Instant::now();
    let s = graph_stats(&g, &StatsOptions::default());
    let own = t.elapsed().as_secs_f64();
    println!("own loops: components, 32 BFS, 10,000 sampled clustering nodes: {own:.2} s ({s:?})");

    let before = rss_mb();
    let t = Instant::now();
    let p = g.to_petgraph();
    let convert = t.elapsed().as_secs_f64();
    let grown = rss_mb() - before;
    let t = Instant::now();
    let (components_n, largest) = components(&p);
    let comps = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut dist = vec![u32::MAX; n as usize];
    let mut best = 0;
    // The same double sweeps as stats.rs (16 starts, a second BFS from each farthest node).
    for i in 0..16u32 {
        let start = i.wrapping_mul(2_654_435_761) % n;
        let e = eccentricity(&p, start, &mut dist);
        let far = (0..n)
            .rev()
            .find(|&v| dist[v as usize] == e)
            .unwrap_or(start);
        best = best.max(e).max(eccentricity(&p, far, &mut dist));
    }
    let bfs = t.elapsed().as_secs_f64();
    println!(
        "petgraph: conversion {convert:.2} s and {grown:.0} MB, components {comps:.2} s ({components_n}, \
         {largest}), 32 BFS {bfs:.2} s (diameter >= {best})"
    );
    assert_eq!((components_n, largest), (s.components, s.largest_component));
}
