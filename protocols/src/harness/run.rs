//! The run loop: steps the engine to its end, sampling mesh degrees at every series boundary
//! and the overlay (mesh health per shard, connections per node) every overlay interval.

use sim_core::{Counters, NodeId, SimDuration, SimTime};

use crate::discovery::metrics::JoinTracker;
use crate::sharding::health::{ConnSample, HealthSampler, NodeConns};

use super::build::{Prepared, build};
use super::collect::collect;
use super::input::{SimInput, SimInputError};
use super::output::{MeshSample, PointSample, SimOutput};

/// Builds and runs a simulation; `progress` is called with the simulated seconds reached and
/// the events the engine has processed so far (about once per simulated second).
pub fn run(input: SimInput, progress: &dyn Fn(f64, u64)) -> Result<SimOutput, SimInputError> {
    let p = build(input)?;
    Ok(run_prepared(p, progress))
}

/// RLN's capacity bounds per shard for `input` (empty without RLN), from the memberships
/// and the workload's publishers, without running it.
pub fn rln_capacity(
    input: SimInput,
) -> Result<Vec<crate::rln::capacity::ShardCapacity>, SimInputError> {
    let p = build(input)?;
    Ok(match &p.rln {
        Some((sh, publishing)) => {
            crate::rln::capacity::capacity(&sh.membership, sh.cfg.epoch(), &p.topics, publishing)
        }
        None => Vec::new(),
    })
}

/// Runs a prepared simulation to its end and collects the results.
pub fn run_prepared(p: Prepared, progress: &dyn Fn(f64, u64)) -> SimOutput {
    run_inner(p, progress, None)
}

/// Builds and runs a simulation as [`run`] does, and also returns its memory budget
/// ([`super::memory`]) taken at the end of the run, before the results are collected (the
/// caches are full then).
pub fn run_measured(
    input: SimInput,
    progress: &dyn Fn(f64, u64),
) -> Result<(SimOutput, sim_core::memory::Memory), SimInputError> {
    let p = build(input)?;
    let mut m = sim_core::memory::Memory::new();
    let out = run_inner(p, progress, Some(&mut m));
    Ok((out, m))
}

fn run_inner(
    mut p: Prepared,
    progress: &dyn Fn(f64, u64),
    memory: Option<&mut sim_core::memory::Memory>,
) -> SimOutput {
    let end = SimTime::ZERO + p.duration;
    let warm = SimTime::ZERO + p.warmup;
    let interval = p.series_interval.as_nanos();
    let overlay = p.overlay_interval.as_nanos();
    let second = 1_000_000_000u64;
    let n = p.engine.nodes().len();
    let ntopics = p.topics.len();

    let mut mesh = Vec::new();
    // Per implementation group: (sum of mesh sizes, subscriptions sampled), from the warm-up.
    let mut impl_mesh: Vec<(u64, u64)> = vec![(0, 0); p.impl_names.len()];
    let mut health = HealthSampler::new(ntopics, p.d_low);
    let mut shard_health = Vec::new();
    let mut conns = Vec::new();
    let mut rdv_samples = Vec::new();
    let mut warm_snapshot: Option<Vec<Counters>> = if p.warmup == SimDuration::ZERO {
        Some(p.engine.accounting().snapshot())
    } else {
        None
    };
    let mut joins = p.discovery.then(|| JoinTracker::new(n, p.d_low, p.d));
    let mut t = 0u64;
    loop {
        // Next stop: the next whole second, series boundary, the warm-up end, or the end.
        let mut next = (t / second + 1) * second;
        next = next.min((t / interval + 1) * interval);
        next = next.min((t / overlay + 1) * overlay);
        if t < warm.as_nanos() {
            next = next.min(warm.as_nanos());
        }
        next = next.min(end.as_nanos());
        p.engine.run_until(SimTime::from_nanos(next));
        t = next;
        if t == warm.as_nanos() && warm_snapshot.is_none() {
            warm_snapshot = Some(p.engine.accounting().snapshot());
        }
        let at_overlay = t % overlay == 0 || t == end.as_nanos();
        if t % interval == 0 || t == end.as_nanos() {
            let h = if at_overlay { Some(&mut health) } else { None };
            sample_mesh(&p, t, ntopics, &mut mesh, h);
            if !impl_mesh.is_empty() && t >= warm.as_nanos() {
                sample_impl_mesh(&p, &mut impl_mesh);
            }
        } else if at_overlay {
            sample_mesh(&p, t, ntopics, &mut Vec::new(), Some(&mut health));
        }
        if at_overlay {
            health.finish(t as f64 / 1e9, &mut shard_health);
            let now: Vec<NodeConns> = (0..n)
                .filter(|&i| p.engine.is_online(NodeId(i as u32)))
                .map(|i| node_conns(&p, NodeId(i as u32)))
                .collect();
            conns.push(ConnSample::of(t as f64 / 1e9, &now, p.out_target));
            sample_points(&p, t, &mut rdv_samples);
            if let Some(sp) = p.store.as_mut() {
                sp.sample(&p.engine, t);
            }
        }
        if let Some(j) = joins.as_mut()
            && t % second == 0
        {
            sample_joins(&p, t, j);
        }
        progress(t as f64 / 1e9, p.engine.events_processed());
        if t >= end.as_nanos() {
            break;
        }
    }

    if let Some(m) = memory {
        *m = super::memory(&p);
    }
    // Flush the duplicate counts still in the seen caches.
    for i in 0..n {
        let mut entries = Vec::new();
        if let Some(relay) = p.engine.node_mut(NodeId(i as u32)).relay_mut() {
            relay.drain_seen(|e| entries.push(e));
        }
        let obs = &mut p.engine.observer_mut().relay;
        for e in entries {
            obs.seen_entry(NodeId(i as u32), e);
        }
    }
    let mut out = collect(
        p,
        warm_snapshot.expect("taken at the warm-up"),
        mesh,
        impl_mesh,
    );
    if let (Some(d), Some(j)) = (out.discovery.as_mut(), joins) {
        d.episodes = j.finish();
    }
    out.overlay.shard_health = shard_health;
    out.overlay.connections = conns;
    if let Some(r) = out.rendezvous.as_mut() {
        r.samples = rdv_samples;
    }
    out
}

/// Adds every online node's mesh sizes to its implementation group's (sum, count).
fn sample_impl_mesh(p: &Prepared, acc: &mut [(u64, u64)]) {
    for (i, node) in p.engine.nodes().iter().enumerate() {
        if !p.engine.is_online(NodeId(i as u32)) {
            continue;
        }
        let Some(relay) = node.relay() else {
            continue;
        };
        let g = &mut acc[p.impl_of[i] as usize];
        for ti in relay.subscriptions() {
            g.0 += relay.mesh(ti).len() as u64;
            g.1 += 1;
        }
    }
}

/// Every node's mesh sizes per subscribed shard, for the time-to-mesh-peers measure.
fn sample_joins(p: &Prepared, t: u64, j: &mut JoinTracker) {
    for (i, node) in p.engine.nodes().iter().enumerate() {
        let online = p.engine.is_online(NodeId(i as u32));
        match node.relay() {
            Some(r) => j.sample(
                t,
                i,
                online,
                r.subscriptions().map(|ti| (ti.0, r.mesh(ti).len())),
            ),
            None => j.sample(t, i, online, std::iter::empty()),
        }
    }
    j.end_sample(t);
}

/// Samples every rendezvous point: registrations held, log entries, requests served so far.
fn sample_points(p: &Prepared, t: u64, out: &mut Vec<PointSample>) {
    let now = SimTime::from_nanos(t);
    for &point in &p.rdv_points {
        let online = p.engine.is_online(point);
        let reg = p
            .engine
            .node(point)
            .protocols()
            .get::<crate::discovery::rendezvous::Rendezvous>()
            .and_then(|r| r.registry());
        let load = p
            .engine
            .observer()
            .rendezvous
            .points
            .get(&point)
            .copied()
            .unwrap_or_default();
        out.push(PointSample {
            t_s: t as f64 / 1e9,
            point: point.0,
            online,
            registrations: reg.map_or(0, |r| r.live(now)),
            entries: reg.map_or(0, |r| r.entries()),
            requests: load.requests,
            errors: load.errors,
        });
    }
}

/// A node's connections now, from the engine (whoever opened them).
pub(super) fn node_conns(p: &Prepared, node: NodeId) -> NodeConns {
    let mut c = NodeConns::default();
    for (peer, outbound) in p.engine.connections(node) {
        let relay = p.relay_capable.get(peer.index()).copied().unwrap_or(true);
        if outbound {
            c.outbound += 1;
            c.out_relay += relay as u32;
        } else {
            c.inbound += 1;
        }
        if relay {
            c.relay += 1;
        } else {
            c.service += 1;
        }
    }
    c
}

/// Samples mesh degrees per topic (into `out`) and, when given, mesh health per topic, in one
/// pass over the online nodes and their subscriptions.
fn sample_mesh(
    p: &Prepared,
    t: u64,
    ntopics: usize,
    out: &mut Vec<MeshSample>,
    mut health: Option<&mut HealthSampler>,
) {
    // Mesh sizes are small integers: count them per topic, then read exact quantiles.
    let mut per_topic: Vec<Vec<u32>> = vec![Vec::new(); ntopics];
    for (i, node) in p.engine.nodes().iter().enumerate() {
        if !p.engine.is_online(NodeId(i as u32)) {
            continue;
        }
        let Some(relay) = node.relay() else {
            continue;
        };
        for ti in relay.subscriptions() {
            let m = relay.mesh(ti).len();
            let counts = &mut per_topic[ti.0 as usize];
            if counts.len() <= m {
                counts.resize(m + 1, 0);
            }
            counts[m] += 1;
            if let Some(h) = health.as_deref_mut() {
                h.add(ti.0, m);
            }
        }
    }
    for (topic, counts) in per_topic.iter().enumerate() {
        let nodes: u32 = counts.iter().sum();
        if nodes == 0 {
            continue;
        }
        let sum: u64 = counts
            .iter()
            .enumerate()
            .map(|(m, &c)| m as u64 * c as u64)
            .sum();
        let q = |frac: f64| -> u32 {
            let rank = ((frac * nodes as f64).ceil() as u64).clamp(1, nodes as u64);
            let mut acc = 0u64;
            for (m, &c) in counts.iter().enumerate() {
                acc += c as u64;
                if acc >= rank {
                    return m as u32;
                }
            }
            (counts.len() - 1) as u32
        };
        out.push(MeshSample {
            t_s: t as f64 / 1e9,
            topic: topic as u16,
            nodes,
            min: counts.iter().position(|&c| c > 0).unwrap_or(0) as u32,
            mean: sum as f64 / nodes as f64,
            p50: q(0.5),
            p95: q(0.95),
            max: (counts.len() - 1) as u32,
        });
    }
}
