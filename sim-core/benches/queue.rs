//! Criterion benchmarks of the hot paths: queue hold operations at two sizes for both queue
//! kinds, and accounting updates. Run with `cargo bench -p sim-core`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::Rng;
use sim_core::accounting::{Accounting, Category};
use sim_core::queue::{EventQueue, QueueKind};
use sim_core::{NodeId, SimDuration, SimTime, rng};

fn holds(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue_hold");
    for &n in &[10_000usize, 1_000_000] {
        for kind in [QueueKind::BinaryHeap, QueueKind::Radix] {
            g.bench_with_input(BenchmarkId::new(format!("{kind:?}"), n), &n, |b, &n| {
                let mut r = rng::stream(1, 0, "bench");
                let mut q = EventQueue::new(kind);
                let mut seq = 0u64;
                for _ in 0..n {
                    seq += 1;
                    q.push(SimTime::from_nanos(r.random_range(0..2_000_000)), seq, 0u64);
                }
                b.iter(|| {
                    let (t, _, v) = q.pop().expect("queue stays full");
                    seq += 1;
                    q.push(
                        t + SimDuration::from_nanos(r.random_range(0..2_000_000)),
                        seq,
                        v,
                    );
                });
            });
        }
    }
    g.finish();
}

fn accounting(c: &mut Criterion) {
    let mut acc = Accounting::new(100_000, 12, SimDuration::from_secs(1));
    let mut r = rng::stream(1, 0, "bench");
    let mut t = 0u64;
    c.bench_function("accounting_count_out", |b| {
        b.iter(|| {
            t += 1000;
            let node = NodeId(r.random_range(0..100_000));
            acc.count_out(SimTime::from_nanos(t), node, Category(3), 1200);
        })
    });
}

criterion_group!(benches, holds, accounting);
criterion_main!(benches);
