//! Benchmark workloads, measured in-process so that the engine and a bare baseline run on the
//! same machine in the same process (ratios are what we compare; absolute rates are noisy).
//!
//! - [`engine`]: PHOLD-style hold workload. N nodes, one pending event per node; each event
//!   makes its node post one new event to a uniformly random node after an exponential delay
//!   (mean 1 ms). Measured through the full engine (handler dispatch, node random streams,
//!   event hash) and, in the same call, through a bare loop over
//!   `std::collections::BinaryHeap` doing the same holds with one random stream.
//! - [`network`]: messages through the bandwidth model. N nodes on a ring lattice of degree 8,
//!   each with 100 Mbit/s links and 50 ms latency, each sending 1 KB messages to random
//!   neighbours (one every 10 ms per node) until M messages were delivered.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use rand::Rng;
use rand_distr::{Distribution, Exp};
use serde::Serialize;

use crate::NodeId;
use crate::accounting::Category;
use crate::engine::{Engine, EngineConfig};
use crate::network::{ConstantLatency, LinkCapacity};
use crate::node::{Ctx, Input, Node, Payload};
use crate::queue::QueueKind;
use crate::rng;
use crate::time::SimDuration;

/// Mean of the exponential hold delay in nanoseconds (1 ms).
const HOLD_MEAN_NS: f64 = 1_000_000.0;

/// Results of [`engine`].
#[derive(Clone, Debug, Serialize)]
pub struct EngineBenchReport {
    /// Nodes in the workload.
    pub nodes: usize,
    /// Events processed by each measured loop.
    pub events: u64,
    /// Queue used by the default ([`QueueKind::Auto`]) engine at this size.
    pub queue: QueueKind,
    /// Engine events per second with the default queue.
    pub events_per_sec: f64,
    /// Engine events per second forced to the binary heap.
    pub events_per_sec_binary_heap: f64,
    /// Engine events per second forced to the radix heap.
    pub events_per_sec_radix: f64,
    /// Bare `BinaryHeap` holds per second.
    pub baseline_heap_events_per_sec: f64,
    /// `events_per_sec / baseline_heap_events_per_sec`.
    pub ratio: f64,
    /// Event-stream hash of the default run (identical on every machine for the same inputs).
    pub event_hash: u64,
}

/// Results of [`network`].
#[derive(Clone, Debug, Serialize)]
pub struct NetworkBenchReport {
    /// Nodes in the workload.
    pub nodes: usize,
    /// Messages delivered.
    pub messages: u64,
    /// Engine events processed (deliveries, timers).
    pub events: u64,
    /// Delivered messages per wall second.
    pub messages_per_sec: f64,
    /// Engine events per wall second.
    pub events_per_sec: f64,
    /// Simulated seconds covered.
    pub sim_seconds: f64,
    /// Event-stream hash.
    pub event_hash: u64,
}

struct Hold;

impl Payload for Hold {
    fn category(&self) -> Category {
        Category(0)
    }
    fn wire_bytes(&self) -> u32 {
        0
    }
}

struct HoldNode {
    nodes: u32,
    exp: Exp<f64>,
}

impl Node for HoldNode {
    type Msg = Hold;
    type Timer = ();
    type Observer = ();

    /// Every hold draws its target and delay from the node's stream.
    const PREFETCH_RNG: bool = true;

    #[inline]
    fn handle(&mut self, input: Input<Hold, ()>, ctx: &mut Ctx<'_, Self>) {
        if let Input::Message { .. } | Input::Start { .. } = input {
            let rng = ctx.rng();
            let to = NodeId(rng.random_range(0..self.nodes));
            let delay = SimDuration::from_nanos(self.exp.sample(rng) as u64);
            ctx.post(to, delay, Hold).expect("target is in range");
        }
    }
}

fn run_engine(nodes: usize, events: u64, seed: u64, queue: QueueKind) -> (f64, u64) {
    let exp = Exp::new(1.0 / HOLD_MEAN_NS).expect("positive rate");
    let ns: Vec<HoldNode> = (0..nodes)
        .map(|_| HoldNode {
            nodes: nodes as u32,
            exp,
        })
        .collect();
    let cfg = EngineConfig {
        seed,
        queue,
        ..EngineConfig::default()
    };
    let caps = vec![LinkCapacity::symmetric_mbps(1); nodes];
    let mut e = Engine::new(
        cfg,
        Box::new(ConstantLatency(SimDuration::ZERO)),
        caps,
        ns,
        (),
    )
    .expect("valid bench configuration");
    // Warm up: every node's start event (and its first hold) before timing.
    for _ in 0..nodes {
        e.step();
    }
    let start = Instant::now();
    for _ in 0..events {
        e.step();
    }
    let secs = start.elapsed().as_secs_f64();
    (events as f64 / secs, e.event_hash())
}

fn run_baseline(nodes: usize, events: u64, seed: u64) -> f64 {
    let exp = Exp::new(1.0 / HOLD_MEAN_NS).expect("positive rate");
    let mut rng = rng::stream(seed, rng::GLOBAL_SCOPE, "bench-baseline");
    let mut heap: BinaryHeap<Reverse<(u64, u64, u32)>> = BinaryHeap::with_capacity(nodes);
    let mut seq = 0u64;
    for i in 0..nodes {
        let d = exp.sample(&mut rng) as u64;
        seq += 1;
        heap.push(Reverse((d, seq, i as u32)));
    }
    let start = Instant::now();
    let mut sink = 0u64;
    for _ in 0..events {
        let Reverse((t, _, node)) = heap.pop().expect("holds keep the heap full");
        sink = sink.wrapping_add(node as u64);
        let to = rng.random_range(0..nodes as u32);
        let d = exp.sample(&mut rng) as u64;
        seq += 1;
        heap.push(Reverse((t + d, seq, to)));
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    events as f64 / secs
}

/// Runs the PHOLD engine benchmark (see the module docs). `nodes` must be positive.
pub fn engine(nodes: usize, events: u64, seed: u64) -> EngineBenchReport {
    assert!(nodes > 0 && events > 0, "bench needs nodes and events");
    let baseline = run_baseline(nodes, events, seed);
    let (bin, _) = run_engine(nodes, events, seed, QueueKind::BinaryHeap);
    let (radix, _) = run_engine(nodes, events, seed, QueueKind::Radix);
    let (auto, hash) = run_engine(nodes, events, seed, QueueKind::Auto);
    EngineBenchReport {
        nodes,
        events,
        queue: QueueKind::Auto.resolve(nodes),
        events_per_sec: auto,
        events_per_sec_binary_heap: bin,
        events_per_sec_radix: radix,
        baseline_heap_events_per_sec: baseline,
        ratio: auto / baseline,
        event_hash: hash,
    }
}

#[derive(Clone, Copy)]
struct Kb;

impl Payload for Kb {
    fn category(&self) -> Category {
        Category(0)
    }
    fn wire_bytes(&self) -> u32 {
        1000
    }
}

struct Sender {
    neighbours: [NodeId; 8],
}

/// Counts deliveries.
#[derive(Default)]
struct Delivered(u64);

impl Node for Sender {
    type Msg = Kb;
    type Timer = ();
    type Observer = Delivered;

    fn handle(&mut self, input: Input<Kb, ()>, ctx: &mut Ctx<'_, Self>) {
        match input {
            Input::Start { .. } => {
                let phase = ctx.rng().random_range(0..10_000_000u64);
                ctx.set_timer(SimDuration::from_nanos(phase), ());
            }
            Input::Timer(()) => {
                let to = self.neighbours[ctx.rng().random_range(0..8)];
                ctx.send(to, Kb).expect("neighbour exists");
                ctx.set_timer(SimDuration::from_millis(10), ());
            }
            Input::Message { .. } => ctx.observer().0 += 1,
            _ => {}
        }
    }
}

/// Runs the network benchmark (see the module docs) until `messages` were delivered.
/// `nodes` must be at least 9.
pub fn network(nodes: usize, messages: u64, seed: u64) -> NetworkBenchReport {
    assert!(nodes >= 9 && messages > 0, "network bench needs >= 9 nodes");
    let n = nodes as u32;
    let offsets = [1u32, 2, 3, 4, n - 1, n - 2, n - 3, n - 4];
    let ns: Vec<Sender> = (0..n)
        .map(|i| Sender {
            neighbours: offsets.map(|o| NodeId((i + o) % n)),
        })
        .collect();
    let cfg = EngineConfig {
        seed,
        ..EngineConfig::default()
    };
    let caps = vec![LinkCapacity::symmetric_mbps(100); nodes];
    let mut e = Engine::new(
        cfg,
        Box::new(ConstantLatency(SimDuration::from_millis(50))),
        caps,
        ns,
        Delivered::default(),
    )
    .expect("valid bench configuration");
    for i in 0..n {
        for o in 1..=4 {
            e.connect_now(NodeId(i), NodeId((i + o) % n))
                .expect("ids in range");
        }
    }
    let start = Instant::now();
    while e.observer().0 < messages {
        e.step();
    }
    let secs = start.elapsed().as_secs_f64();
    NetworkBenchReport {
        nodes,
        messages,
        events: e.events_processed(),
        messages_per_sec: messages as f64 / secs,
        events_per_sec: e.events_processed() as f64 / secs,
        sim_seconds: e.now().as_secs_f64(),
        event_hash: e.event_hash(),
    }
}
