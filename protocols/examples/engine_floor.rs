//! The engine's own cost for the message pattern of relay-10k, with a protocol that does
//! nothing: 10,000 nodes on the same overlay (each dials 10 random peers, at most 40 inbound),
//! 100 ms latency, 100 Mbit/s, and every node sending 19 messages per second over its
//! connections (6 IHAVE-sized of 123 B, 7 IDONTWANT-sized of 39 B, 6 forward-sized of 2,064 B:
//! what a relay node sends per second in relay-10k). It bounds from below what any relay
//! model costs on this engine.
//!
//! ```text
//! cargo run --release -p protocols --example engine_floor            # 60 simulated s
//! cargo run --release -p protocols --example engine_floor -- 60 radix
//! ```

use std::time::Instant;

use rand::{Rng, SeedableRng};
use sim_core::{
    Category, ConstantLatency, Ctx, Engine, EngineConfig, Input, LinkCapacity, Node, NodeId,
    Payload, QueueKind, SimDuration, SimTime,
};

#[derive(Clone, Copy)]
struct M(u32);

impl Payload for M {
    fn category(&self) -> Category {
        Category((self.0 % 9) as u16)
    }
    fn wire_bytes(&self) -> u32 {
        self.0
    }
    fn framing_bytes(&self) -> u32 {
        30
    }
}

const SIZES: [u32; 19] = [
    123, 39, 2064, 123, 39, 2064, 123, 39, 2064, 123, 39, 2064, 123, 39, 2064, 123, 39, 2064, 39,
];

struct Sender {
    peers: Vec<NodeId>,
    k: usize,
}

impl Node for Sender {
    type Msg = M;
    type Timer = ();
    type Observer = u64;

    fn handle(&mut self, input: Input<M, ()>, ctx: &mut Ctx<'_, Self>) {
        match input {
            Input::Start { .. } => {
                let phase = ctx.rng().random_range(0..1_000_000_000u64);
                ctx.set_timer(SimDuration::from_nanos(phase), ());
            }
            Input::ConnectionUp { peer, .. } => self.peers.push(peer),
            Input::Timer(()) => {
                for &size in &SIZES {
                    self.k += 1;
                    let to = self.peers[self.k % self.peers.len()];
                    ctx.send(to, M(size)).expect("a connected peer");
                }
                ctx.set_timer(SimDuration::from_secs(1), ());
            }
            Input::Message { .. } => *ctx.observer() += 1,
            _ => {}
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(60);
    let radix = args.iter().any(|a| a == "radix");
    let n = 10_000usize;
    let cfg = EngineConfig {
        categories: 10,
        framing_category: Some(Category(9)),
        queue: if radix {
            QueueKind::Radix
        } else {
            QueueKind::BinaryHeap
        },
        ..EngineConfig::default()
    };
    let nodes = (0..n)
        .map(|_| Sender {
            peers: Vec::new(),
            k: 0,
        })
        .collect();
    let mut e = Engine::new(
        cfg,
        Box::new(ConstantLatency(SimDuration::from_millis(100))),
        vec![LinkCapacity::symmetric_mbps(100); n],
        nodes,
        0u64,
    )
    .expect("valid configuration");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut inbound = vec![0; n];
    for a in 0..n {
        let mut made = 0;
        while made < 10 {
            let b = rng.random_range(0..n);
            if b == a
                || inbound[b] >= 40
                || e.connections(NodeId(a as u32)).any(|c| c.0.index() == b)
            {
                continue;
            }
            e.connect_now(NodeId(a as u32), NodeId(b as u32))
                .expect("ids in range");
            inbound[b] += 1;
            made += 1;
        }
    }
    let start = Instant::now();
    e.run_until(SimTime::from_secs(secs));
    let wall = start.elapsed().as_secs_f64();
    println!(
        "engine floor ({} queue): {secs} simulated s, {} messages, {} events in {wall:.2} s = {:.0} \
         events/s",
        if radix { "radix" } else { "binary heap" },
        e.observer(),
        e.events_processed(),
        e.events_processed() as f64 / wall
    );
}
