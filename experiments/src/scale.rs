//! Scale measurements of the Waku model at relay-10k's settings: the memory budget per node
//! (`wakusim bench memory`) and how wall time, events per second and memory grow with the
//! node count (`wakusim bench scale`). See docs/architecture.md, "Memory per node" and
//! "Scaling".
//!
//! Every point runs the bundled `relay-10k` scenario with `network.nodes` and
//! `run.duration_s` overridden (30 s warm-up, 10 publishers x 1 message per 10 s: 1 msg/s in
//! all, whatever the node count).

use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::machine::peak_rss_bytes;
use crate::model::{Model, Scenario};
use crate::models::waku::{self, Waku, WakuParams};
use crate::scenario::{Override, load};

/// The bundled scenario whose settings every point uses.
pub const SCENARIO: &str = "relay-10k";
/// Simulated seconds of a point by default (30 s warm-up included).
pub const DEFAULT_SIM_S: u32 = 60;

/// relay-10k with `nodes` nodes, run for `sim_s` simulated seconds (at least 36: the warm-up
/// is 30 s and the delivery grace 5 s).
pub fn scenario(nodes: u32, sim_s: u32) -> anyhow::Result<Scenario<WakuParams>> {
    let mut raw = load(SCENARIO)?;
    for (path, value) in [
        ("network.nodes", i64::from(nodes)),
        ("run.duration_s", i64::from(sim_s)),
    ] {
        let o = Override::new(
            path,
            toml::Value::Integer(value),
            format!("{path}={value}"),
            None,
        )
        .map_err(anyhow::Error::msg)?;
        raw.apply(&o)?;
    }
    let s = raw.resolve::<Waku>()?;
    Waku::validate(&s).map_err(|errs| {
        anyhow::anyhow!(
            "{SCENARIO} at {nodes} nodes and {sim_s} s: {}",
            errs.iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    Ok(s)
}

/// One structure's share of the memory, per node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetRow {
    /// The structure (`relay: peer records`).
    pub name: String,
    /// Bytes per node: the structure's bytes over the whole network divided by the node
    /// count (run-wide structures such as the event queue included).
    pub bytes_per_node: f64,
    /// Items per node (vector elements, table entries; 0 when not counted).
    pub items_per_node: f64,
}

/// `wakusim bench memory`: the budget of one run, per node, next to its measured peak.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// Nodes.
    pub nodes: u64,
    /// Simulated seconds.
    pub sim_seconds: u64,
    /// Every structure, in the budget's order.
    pub rows: Vec<BudgetRow>,
    /// The sum of the rows, per node.
    pub counted_bytes_per_node: f64,
    /// The process's peak resident memory divided by the node count (0 when unknown).
    pub peak_rss_bytes_per_node: f64,
    /// The process's peak resident memory.
    pub peak_rss_bytes: u64,
    /// Wall-clock seconds of the run.
    pub wall_s: f64,
    /// Events processed.
    pub events: u64,
}

/// Runs relay-10k's settings at `nodes` nodes for `sim_s` simulated seconds and returns the
/// budget taken at the run's end (caches full) with the process's peak memory.
pub fn memory(nodes: u32, sim_s: u32, seed: u64) -> anyhow::Result<MemoryReport> {
    let s = scenario(nodes, sim_s)?;
    let mut m = sim_core::memory::Memory::new();
    let start = Instant::now();
    let r = waku::run_with(&s, seed, &|_| {}, Some(&mut m))
        .with_context(|| format!("{SCENARIO} at {nodes} nodes"))?;
    let wall_s = start.elapsed().as_secs_f64();
    let n = f64::from(nodes);
    let rows: Vec<BudgetRow> = m
        .rows()
        .iter()
        .map(|r| BudgetRow {
            name: r.name.to_owned(),
            bytes_per_node: r.bytes as f64 / n,
            items_per_node: r.items as f64 / n,
        })
        .collect();
    let peak = peak_rss_bytes();
    Ok(MemoryReport {
        nodes: u64::from(nodes),
        sim_seconds: u64::from(sim_s),
        counted_bytes_per_node: m.total() as f64 / n,
        rows,
        peak_rss_bytes_per_node: peak as f64 / n,
        peak_rss_bytes: peak,
        wall_s,
        events: r.engine.events,
    })
}

impl MemoryReport {
    /// The report as a Markdown table (the one in docs/architecture.md).
    pub fn markdown(&self) -> String {
        let mut s =
            String::from("| structure | bytes per node | items per node |\n|---|---|---|\n");
        for r in &self.rows {
            let items = if r.items_per_node > 0.0 {
                format!("{:.1}", r.items_per_node)
            } else {
                String::new()
            };
            s += &format!("| {} | {:.0} | {items} |\n", r.name, r.bytes_per_node);
        }
        s += &format!(
            "| **counted** | **{:.0}** | |\n| measured peak RSS | {:.0} | |\n",
            self.counted_bytes_per_node, self.peak_rss_bytes_per_node
        );
        s
    }
}

/// Rows of structures shared by the whole run (the event queue, the in-flight records, the
/// timer slab, the connection table, the time series, the harness's inputs), whose share per
/// node depends on the node count and on the run's peaks: reported, but not held to the
/// documented figure by the drift test.
pub const RUN_WIDE_ROWS: &[&str] = &[
    "engine: event queue",
    "engine: in-flight messages",
    "engine: timers",
    "engine: connection table",
    "accounting: time series",
    "harness: subscriptions and groups",
];
