//! Generates a 1,000,000-node random 8-regular graph and prints the wall time and the peak
//! resident memory (VmHWM from /proc/self/status, Linux only).
//!
//! ```text
//! cargo run --release -p topologies --example gen_1m [-- NODES DEGREE SEED]
//! ```

use std::time::Instant;

use sim_core::NodeId;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| -> u64 {
        args.get(i)
            .map(|s| {
                s.parse()
                    .unwrap_or_else(|_| panic!("argument {s:?} is not a number"))
            })
            .unwrap_or(default)
    };
    let n = arg(0, 1_000_000) as u32;
    let d = arg(1, 8) as u32;
    let seed = arg(2, 1);

    let start = Instant::now();
    let g = match topologies::generate::random_regular(n, d, seed) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let gen_s = start.elapsed().as_secs_f64();

    // Verify: every degree exactly d, no self-loops (the graph type refuses multi-edges).
    let check = Instant::now();
    let exact = g.nodes().all(|v| g.degree(v) == d as usize);
    let no_loops = g.edges().iter().all(|e| e.a != e.b);
    let check_s = check.elapsed().as_secs_f64();
    let _ = g.neighbors(NodeId(0));

    println!("nodes          {}", g.node_count());
    println!("edges          {}", g.edge_count());
    println!("degree         {d} (all exact: {exact}, no self-loops: {no_loops})");
    println!("generate       {gen_s:.3} s wall");
    println!("verify         {check_s:.3} s wall");
    match peak_rss_kib() {
        Some(kib) => println!("peak RSS       {:.1} MiB (VmHWM)", kib as f64 / 1024.0),
        None => println!("peak RSS       unavailable (no /proc/self/status)"),
    }
    if !(exact && no_loops) {
        std::process::exit(1);
    }
}
