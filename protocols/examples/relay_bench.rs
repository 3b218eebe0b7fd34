//! Whole-scenario relay benchmarks: the bundled relay-1k and relay-10k configurations run
//! through the harness, with wall time, events, events/s, wall seconds per simulated second
//! and peak memory.
//!
//! ```text
//! cargo run --release -p protocols --example relay_bench            # both
//! cargo run --release -p protocols --example relay_bench -- 10k     # one
//! cargo run --release -p protocols --example relay_bench -- 1k 3    # seed 3
//! cargo run --release -p protocols --example relay_bench -- 10k 1 60 # 60 s after warm-up
//! ```
//!
//! The networks: N nodes, each dialling 10 distinct random peers that accept at most 40
//! inbound connections (seeded), 100 ms latency between every pair, 100 Mbit/s links, one
//! topic, nwaku's relay configuration, 2,000-byte payloads. relay-1k: 10 publishers at one
//! message per second each, 30 s warm-up + 5 min. relay-10k: 10 publishers at one message
//! every 10 s each, 30 s warm-up + 10 min.

use std::time::Instant;

use protocols::harness::{SimInput, run};
use protocols::workload::{Arrival, PayloadSize, Publishers, StreamConfig, WorkloadConfig};
use rand::{Rng, SeedableRng};
use sim_core::{ConstantLatency, SimDuration};

/// Each node dials `out` distinct random peers whose inbound count is below `max_in`.
fn random_overlay(n: usize, out: usize, max_in: usize, seed: u64) -> Vec<(u32, u32)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut inbound = vec![0usize; n];
    let mut adj: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut edges = Vec::with_capacity(n * out);
    for a in 0..n {
        let mut tries = 0;
        let mut made = 0;
        while made < out && tries < 100 * out {
            tries += 1;
            let b = rng.random_range(0..n);
            if b == a || inbound[b] >= max_in || adj[a].contains(&(b as u32)) {
                continue;
            }
            adj[a].push(b as u32);
            adj[b].push(a as u32);
            inbound[b] += 1;
            edges.push((a as u32, b as u32));
            made += 1;
        }
    }
    edges
}

struct Bench {
    name: &'static str,
    nodes: usize,
    interval_ms: f64,
    measured_s: u64,
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn run_bench(b: &Bench, seed: u64) {
    let warmup = 30;
    let edges = random_overlay(b.nodes, 10, 40, seed);
    let mut input = SimInput::new(
        b.nodes,
        edges,
        Box::new(ConstantLatency(SimDuration::from_millis(100))),
    );
    input.app.workload = WorkloadConfig {
        streams: vec![StreamConfig {
            publishers: Publishers::Count(10),
            interval_ms: b.interval_ms,
            arrival: Arrival::Fixed,
            payload: PayloadSize::FixedBytes(2000),
            ..StreamConfig::default()
        }],
    };
    input.run.duration = SimDuration::from_secs(warmup + b.measured_s);
    input.run.warmup = SimDuration::from_secs(warmup);
    input.run.seed = seed;
    let sim_s = (warmup + b.measured_s) as f64;
    let start = Instant::now();
    let out = run(input, &|_, _| {}).expect("valid benchmark input");
    let wall = start.elapsed().as_secs_f64();
    let window = out.bandwidth.window_s;
    let n = out.bandwidth.per_node.len() as f64;
    let total_out: f64 = out
        .bandwidth
        .per_node
        .iter()
        .map(|t| t.bytes_out.iter().sum::<u64>() as f64)
        .sum();
    println!(
        "{}: {} nodes, {} s simulated (seed {seed})\n  wall {:.2} s, events {}, events/s {:.0}, \
         wall s per sim s {:.4}, peak RSS {:.0} MiB\n  delivery mean {:.4} worst {:.4} \
         ({} msgs), latency p50 {:.1} ms p95 {:.1} ms max {:.1} ms, duplicates mean {:.2} \
         p95 {}\n  upload per node {:.1} KB/s, events hash {:016x}",
        b.name,
        b.nodes,
        sim_s,
        wall,
        out.events,
        out.events as f64 / wall,
        wall / sim_s,
        peak_rss_mib(),
        out.relay.delivery.mean,
        out.relay.delivery.worst,
        out.relay.delivery.messages,
        out.relay.latency.p50_ms,
        out.relay.latency.p95_ms,
        out.relay.latency.max_ms,
        out.relay.duplicates.mean,
        out.relay.duplicates.p95,
        total_out / n / window / 1000.0,
        out.event_hash,
    );
    let mut per_cat: Vec<(String, f64)> = out
        .categories
        .iter()
        .enumerate()
        .map(|(c, (p, k))| {
            let b: u64 = out.bandwidth.per_node.iter().map(|t| t.bytes_out[c]).sum();
            (format!("{p}/{k}"), b as f64 / n / window / 1000.0)
        })
        .collect();
    per_cat.retain(|x| x.1 > 0.0);
    let cats: Vec<String> = per_cat.iter().map(|(k, v)| format!("{k} {v:.2}")).collect();
    println!("  upload KB/s per node by category: {}", cats.join(", "));
    // Where the engine's events go: messages sent per category over the measured window.
    let total_msgs: u64 = out
        .bandwidth
        .per_node
        .iter()
        .map(|t| t.msgs_out.iter().sum::<u64>())
        .sum();
    let shares: Vec<String> = out
        .categories
        .iter()
        .enumerate()
        .filter_map(|(c, (_, k))| {
            let m: u64 = out.bandwidth.per_node.iter().map(|t| t.msgs_out[c]).sum();
            (m > 0).then(|| format!("{k} {:.1} %", 100.0 * m as f64 / total_msgs as f64))
        })
        .collect();
    println!(
        "  messages sent in the window: {total_msgs} ({:.0}/s): {}",
        total_msgs as f64 / window,
        shares.join(", ")
    );
}

fn main() {
    keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("all");
    let seed = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let measured: Option<u64> = args.get(2).and_then(|s| s.parse().ok());
    let mut benches = [
        Bench {
            name: "relay-1k",
            nodes: 1_000,
            interval_ms: 1_000.0,
            measured_s: 300,
        },
        Bench {
            name: "relay-10k",
            nodes: 10_000,
            interval_ms: 10_000.0,
            measured_s: 600,
        },
    ];
    if let Some(m) = measured {
        for b in &mut benches {
            b.measured_s = m;
        }
    }
    for b in &benches {
        if which == "all" || b.name.ends_with(which) {
            run_bench(b, seed);
        }
    }
}

/// The allocator of the `wakusim` binary, so the figures are those of a real run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the 16th entry of `mi_option_t` in its `mimalloc.h`; the
/// Rust bindings name no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory mapped for the rest of the run. By default mimalloc returns pages that
/// stayed free for a second to the OS, and the kernel zeroes them again when they are reused:
/// in relay-10k about 13,000 page faults and 4 % of the run. A run's memory stays near its
/// peak anyway, so the peak does not grow by much (about 5 %).
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: `mi_option_set` stores a value in mimalloc's option table; -1 ("never purge")
    // is a documented value of this option, read at each purge decision.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}
