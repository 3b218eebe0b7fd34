//! The store's part of a run: samples of every store node's archive against the union of all
//! archives (messages held, missing), convergence after rejoins and partition heals (the first
//! sample at which the node holds every message of the union older than the event: with loss
//! going on, a node never holds the whole union at once, but it can catch up on the past), and
//! the store sink turned into [`StoreOutput`].

use std::collections::BTreeSet;

use sim_core::{Engine, Fault, NodeId, SimTime};

use crate::node::WakuNode;
use crate::store::hash::MsgKey;
use crate::store::{StoreCounter, StoreMetrics, unix_ns};

use super::output::{StoreConvergence, StoreOutput, StoreSample};

/// What the run loop samples of the store nodes.
#[derive(Debug)]
pub(crate) struct StoreProbe {
    nodes: Vec<NodeId>,
    lag_ns: u64,
    /// (time, store node) of rejoins; (time, None) of partition heals.
    events: Vec<(SimTime, Option<NodeId>)>,
    /// Per (event, store node) it concerns, in event order: the node, the first sample time
    /// at which it held every message of the union older than the event, and what it lacked
    /// of them at the latest sample.
    catch_up: Vec<CatchUp>,
    samples: Vec<StoreSample>,
}

#[derive(Debug)]
struct CatchUp {
    event: usize,
    node: NodeId,
    done_s: Option<f64>,
    lacking: u64,
}

impl StoreProbe {
    pub(crate) fn new(nodes: &[NodeId], lag_s: u64, faults: &[(SimTime, Fault)]) -> Self {
        let mut nodes = nodes.to_vec();
        nodes.sort();
        let mut events: Vec<(SimTime, Option<NodeId>)> = faults
            .iter()
            .filter_map(|(t, f)| match f {
                Fault::NodeOnline(x) if nodes.binary_search(x).is_ok() => Some((*t, Some(*x))),
                Fault::PartitionEnd { .. } => Some((*t, None)),
                _ => None,
            })
            .collect();
        events.sort();
        let mut catch_up = Vec::new();
        for (k, (_, who)) in events.iter().enumerate() {
            let of: Vec<NodeId> = match who {
                Some(x) => vec![*x],
                None => nodes.clone(),
            };
            for node in of {
                catch_up.push(CatchUp {
                    event: k,
                    node,
                    done_s: None,
                    lacking: 0,
                });
            }
        }
        StoreProbe {
            nodes,
            lag_ns: lag_s * 1_000_000_000,
            events,
            catch_up,
            samples: Vec::new(),
        }
    }

    /// Samples every store node at simulated nanosecond `t`.
    pub(crate) fn sample(&mut self, e: &Engine<WakuNode>, t: u64) {
        let cutoff = MsgKey::at(unix_ns(SimTime::from_nanos(t)).saturating_sub(self.lag_ns));
        let mut union: BTreeSet<MsgKey> = BTreeSet::new();
        for &n in &self.nodes {
            if let Some(a) = e.node(n).store().and_then(|s| s.archive()) {
                union.extend(a.keys().take_while(|k| **k < cutoff).copied());
            }
        }
        for &n in &self.nodes {
            let Some(a) = e.node(n).store().and_then(|s| s.archive()) else {
                continue;
            };
            let held = a.keys().take_while(|k| **k < cutoff).count() as u64;
            self.samples.push(StoreSample {
                t_s: t as f64 / 1e9,
                node: n.0,
                online: e.is_online(n),
                rows: a.len() as u64,
                bytes: a.bytes(),
                missing: union.len() as u64 - held,
            });
        }
        // Catching up after a rejoin or a heal: of the union's messages older than the event,
        // how many the node lacks (only until it first lacks none).
        for c in &mut self.catch_up {
            let at = self.events[c.event].0;
            if at.as_nanos() > t || c.done_s.is_some() {
                continue;
            }
            let Some(a) = e.node(c.node).store().and_then(|s| s.archive()) else {
                continue;
            };
            let before = MsgKey::at(unix_ns(at));
            c.lacking = union
                .iter()
                .take_while(|k| **k < before)
                .filter(|k| !a.contains(k))
                .count() as u64;
            if c.lacking == 0 && e.is_online(c.node) {
                c.done_s = Some(t as f64 / 1e9);
            }
        }
    }

    /// The store's results.
    pub(crate) fn finish(self, m: &StoreMetrics) -> StoreOutput {
        let convergence = self
            .catch_up
            .iter()
            .map(|c| {
                let (at, who) = self.events[c.event];
                let at_s = at.as_nanos() as f64 / 1e9;
                StoreConvergence {
                    node: c.node.0,
                    event: if who.is_some() {
                        "rejoin"
                    } else {
                        "partition_heal"
                    },
                    at_s,
                    converged_after_s: c.done_s.map(|d| d - at_s),
                    lacking_at_end: c.lacking,
                }
            })
            .collect();
        let h = |x: &sim_core::metrics::DurationHistogram| {
            if x.is_empty() {
                (0, 0.0, 0.0, 0.0)
            } else {
                (
                    x.len(),
                    x.quantile_ms(0.5),
                    x.quantile_ms(0.95),
                    x.mean_ms(),
                )
            }
        };
        StoreOutput {
            nodes: self.nodes.iter().map(|n| n.0).collect(),
            samples: self.samples,
            convergence,
            counters: StoreCounter::ALL
                .iter()
                .map(|&c| (c.name().to_owned(), m.counter(c)))
                .collect(),
            query_latency: h(&m.query_latency),
            served_per_node: m.served_per_node.clone(),
            recovered_per_node: m.recovered_per_node.clone(),
            recovery_delay: h(&m.recovery_delay),
            syncs: m.syncs.clone(),
        }
    }
}
