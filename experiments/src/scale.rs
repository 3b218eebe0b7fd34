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

/// How a row of the memory budget grows away from relay-10k's settings
/// ([`estimate_bytes_per_node`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grows {
    /// The same per node whatever the settings (records, streams, counters).
    PerNode,
    /// In proportion to the connections per node (peer records, scores, engine connections).
    PerConnection,
    /// In proportion to the messages a node handles per second (message cache, messages in
    /// flight).
    PerMessage,
    /// With both (ids advertised to or received from each peer within a few heartbeats).
    PerConnectionMessage,
    /// With the messages seen within the seen cache's time to live.
    SeenMessages,
    /// In proportion to the connections per node, and only with TCP modelled (the TCP flows:
    /// none with `network.tcp.enabled = false`).
    TcpConnection,
}

/// The memory budget per node at relay-10k's settings, as `wakusim bench memory --nodes 10000`
/// prints it and docs/architecture.md shows it ("Memory per node"; the memory_budget test
/// holds the two equal): (row, bytes per node, how it grows).
pub const BUDGET: &[(&str, f64, Grows)] = &[
    ("node records", 768.0, Grows::PerNode),
    ("engine: link records", 192.0, Grows::PerNode),
    ("engine: connections", 800.0, Grows::PerConnection),
    ("engine: connection table", 13.0, Grows::PerConnection),
    ("engine: TCP flows", 419.0, Grows::TcpConnection),
    (
        "engine: deferred messages",
        538.0,
        Grows::PerConnectionMessage,
    ),
    ("engine: random streams", 336.0, Grows::PerNode),
    ("engine: event queue", 521.0, Grows::PerConnectionMessage),
    ("engine: timers", 577.0, Grows::PerNode),
    (
        "engine: in-flight messages",
        2202.0,
        Grows::PerConnectionMessage,
    ),
    (
        "accounting: counters per node and category",
        360.0,
        Grows::PerNode,
    ),
    (
        "accounting: drops per node and reason",
        28.0,
        Grows::PerNode,
    ),
    ("accounting: time series", 2.0, Grows::PerNode),
    (
        "node: boxed protocol slots and streams",
        320.0,
        Grows::PerNode,
    ),
    ("node: workload stream and topics", 2.0, Grows::PerNode),
    ("relay: peer records", 1280.0, Grows::PerConnection),
    ("relay: peer scores", 1280.0, Grows::PerConnection),
    ("relay: peer index", 120.0, Grows::PerConnection),
    (
        "relay: topics, mesh, fanout, backoff",
        310.0,
        Grows::PerConnection,
    ),
    ("relay: seen cache", 1024.0, Grows::SeenMessages),
    ("relay: message cache", 725.0, Grows::PerMessage),
    ("relay: IDONTWANT list", 1312.0, Grows::PerConnectionMessage),
    (
        "relay: IHAVE sent list",
        1226.0,
        Grows::PerConnectionMessage,
    ),
    ("relay: send queues", 0.0, Grows::PerConnectionMessage),
    (
        "relay: validation, scratch and gossip buffers",
        380.0,
        Grows::PerConnection,
    ),
    ("harness: subscriptions and groups", 30.0, Grows::PerNode),
];
/// The measured peak resident memory per node of the run that gave [`BUDGET`], in bytes
/// (docs/architecture.md: "measured peak RSS"). Peak over counted is what the allocator and
/// the run's earlier peaks add to the structures.
pub const BUDGET_PEAK_RSS_PER_NODE: f64 = 22_410.0;
/// The measured peak resident memory per node of the same settings at 100,000 nodes, in bytes
/// (docs/architecture.md, "Memory per node"): lower than at 10,000, as the process's fixed
/// part (the binary, the allocator's arena) is spread over more nodes.
pub const BUDGET_PEAK_RSS_PER_NODE_100K: f64 = 17_364.0;
/// The peak as a line in the counted bytes, through the two measured points (the counted sum
/// of [`BUDGET`], `C`, at both): `peak per node = C x PEAK_SLOPE + PEAK_FIXED / nodes`, so
/// `PEAK_FIXED = (22,410 - 17,364) / (1 / 10,000 - 1 / 100,000)` = 56.07 MB and `PEAK_SLOPE =
/// (22,410 - PEAK_FIXED / 10,000) / C` = 1.138. (relay-1m, 1,000,000 nodes, measured 17.46 GB,
/// is then estimated at 18.0 GB; with the 10,000-node ratio alone it was 24.0 GB.)
pub const PEAK_FIXED: f64 =
    (BUDGET_PEAK_RSS_PER_NODE - BUDGET_PEAK_RSS_PER_NODE_100K) / (1.0 / 10_000.0 - 1.0 / 100_000.0);
/// See [`PEAK_FIXED`].
pub fn peak_slope() -> f64 {
    let counted: f64 = BUDGET.iter().map(|r| r.1).sum();
    (BUDGET_PEAK_RSS_PER_NODE - PEAK_FIXED / 10_000.0) / counted
}
/// The mean connections per node of the run that gave [`BUDGET`] (relay-10k dials 10 peers
/// per node, so each node has about 20 connections).
pub const BUDGET_MEAN_DEGREE: f64 = 20.0;
/// The messages per second (on the busiest shard) of the run that gave [`BUDGET`]: 10
/// publishers x 1 message per 10 s.
pub const BUDGET_MESSAGES_PER_S: f64 = 1.0;
/// The seconds of publishing of the run that gave [`BUDGET`] (60 s, 30 of them warm-up): the
/// seen cache held 30 s of messages.
pub const BUDGET_PUBLISHING_S: f64 = 30.0;

/// What a run's memory depends on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EstimateInputs {
    /// Nodes.
    pub nodes: f64,
    /// Mean connections per node.
    pub mean_degree: f64,
    /// Messages per second on the busiest shard (a node of it handles each).
    pub messages_per_s: f64,
    /// Seconds the seen cache holds a message for: its time to live, or the seconds of
    /// publishing when shorter.
    pub seen_window_s: f64,
    /// Whether connections are modelled as TCP (`network.tcp.enabled`): without it the TCP
    /// flows' row counts nothing.
    pub tcp: bool,
}

/// The peak memory per node in bytes, from [`BUDGET`]: each row scaled by how it grows
/// ([`Grows`]) from relay-10k's settings to `x` (never below its measured figure: a lighter
/// run keeps the allocator's and the engine's fixed costs; the TCP flows' row is left out
/// without TCP), their sum times [`peak_slope`], plus the process's fixed part
/// ([`PEAK_FIXED`]) over the nodes.
pub fn estimate_bytes_per_node(x: EstimateInputs) -> f64 {
    let conn = (x.mean_degree / BUDGET_MEAN_DEGREE).max(1.0);
    let msg = (x.messages_per_s / BUDGET_MESSAGES_PER_S).max(1.0);
    let seen = (x.messages_per_s * x.seen_window_s / (BUDGET_MESSAGES_PER_S * BUDGET_PUBLISHING_S))
        .max(1.0);
    let scaled: f64 = BUDGET
        .iter()
        .map(|&(_, bytes, grows)| {
            bytes
                * match grows {
                    Grows::PerNode => 1.0,
                    Grows::PerConnection => conn,
                    Grows::PerMessage => msg,
                    Grows::PerConnectionMessage => conn * msg,
                    Grows::SeenMessages => seen,
                    Grows::TcpConnection if x.tcp => conn,
                    Grows::TcpConnection => 0.0,
                }
        })
        .sum();
    scaled * peak_slope() + PEAK_FIXED / x.nodes.max(1.0)
}

/// One point of `wakusim bench scale`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScalePoint {
    /// Nodes.
    pub nodes: u64,
    /// Wall-clock seconds of the run (setup included, result files not written).
    pub wall_s: f64,
    /// Events processed.
    pub events: u64,
    /// Events per wall-clock second.
    pub events_per_sec: f64,
    /// Peak resident memory of the point's process.
    pub peak_rss_bytes: u64,
    /// `peak_rss_bytes` over the node count.
    pub bytes_per_node: f64,
    /// The memory budget's sum per node ([`memory`]).
    pub counted_bytes_per_node: f64,
}

impl From<&MemoryReport> for ScalePoint {
    fn from(r: &MemoryReport) -> Self {
        ScalePoint {
            nodes: r.nodes,
            wall_s: r.wall_s,
            events: r.events,
            events_per_sec: if r.wall_s > 0.0 {
                r.events as f64 / r.wall_s
            } else {
                0.0
            },
            peak_rss_bytes: r.peak_rss_bytes,
            bytes_per_node: r.peak_rss_bytes_per_node,
            counted_bytes_per_node: r.counted_bytes_per_node,
        }
    }
}

/// `wakusim bench scale --json`: the points and how each figure grows with the node count.
/// The `*_growth` figures are ratios of the largest point to the smallest (per node for wall
/// time and memory), which CI compares with a committed baseline; the `fit_*` figures are
/// least-squares slopes of log(figure) on log(nodes) (1: grows in proportion to the nodes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScaleReport {
    /// The node counts, comma-separated (must match between compared reports).
    pub nodes: String,
    /// Simulated seconds of each point.
    pub sim_seconds: u64,
    /// The points, in the order run.
    pub points: Vec<ScalePoint>,
    /// Slope of log(wall s) on log(nodes).
    pub fit_wall_s: f64,
    /// Slope of log(events/s) on log(nodes) (0: the same speed at any size).
    pub fit_events_per_sec: f64,
    /// Slope of log(peak RSS) on log(nodes).
    pub fit_peak_rss: f64,
    /// Events/s of the largest point over that of the smallest.
    pub events_per_sec_growth: f64,
    /// Peak RSS per node of the largest point over that of the smallest.
    pub bytes_per_node_growth: f64,
    /// Wall seconds per node of the largest point over that of the smallest.
    pub wall_s_per_node_growth: f64,
}

/// The least-squares slope of log(y) on log(x) (0 with fewer than two distinct x).
pub fn log_log_slope(xy: &[(f64, f64)]) -> f64 {
    let pts: Vec<(f64, f64)> = xy
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return 0.0;
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

impl ScaleReport {
    /// The report of `points` (ascending node counts) run for `sim_s` simulated seconds.
    pub fn new(points: Vec<ScalePoint>, sim_s: u32) -> Self {
        let fit = |f: &dyn Fn(&ScalePoint) -> f64| {
            log_log_slope(
                &points
                    .iter()
                    .map(|p| (p.nodes as f64, f(p)))
                    .collect::<Vec<_>>(),
            )
        };
        let ratio = |f: &dyn Fn(&ScalePoint) -> f64| match (points.first(), points.last()) {
            (Some(a), Some(b)) if f(a) > 0.0 => f(b) / f(a),
            _ => 0.0,
        };
        ScaleReport {
            nodes: points
                .iter()
                .map(|p| p.nodes.to_string())
                .collect::<Vec<_>>()
                .join(","),
            sim_seconds: u64::from(sim_s),
            fit_wall_s: fit(&|p| p.wall_s),
            fit_events_per_sec: fit(&|p| p.events_per_sec),
            fit_peak_rss: fit(&|p| p.peak_rss_bytes as f64),
            events_per_sec_growth: ratio(&|p| p.events_per_sec),
            bytes_per_node_growth: ratio(&|p| p.bytes_per_node),
            wall_s_per_node_growth: ratio(&|p| p.wall_s / p.nodes as f64),
            points,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_scales_the_budget_rows() {
        let counted: f64 = BUDGET.iter().map(|r| r.1).sum();
        // The sum of the documented rows (docs/architecture.md; its "**counted**" 14,766 is
        // the sum before each row was rounded).
        assert_eq!(counted, 14_765.0);
        // The line through the two measured peaks: (22,410 - 17,364) / (1/10,000 -
        // 1/100,000) = 5,046 / 0.00009 = 56,066,667 bytes fixed, and (22,410 - 5,606.67) /
        // 14,765 = 1.13805 per counted byte.
        assert!((PEAK_FIXED - 56_066_666.67).abs() < 1.0, "{PEAK_FIXED}");
        let slope = peak_slope();
        assert!((slope - 1.138_05).abs() < 1e-5, "{slope}");
        let at = |nodes, mean_degree, messages_per_s, seen_window_s, tcp| {
            estimate_bytes_per_node(EstimateInputs {
                nodes,
                mean_degree,
                messages_per_s,
                seen_window_s,
                tcp,
            })
        };
        // relay-10k's own settings over 60 s: the measured peaks at 10,000 and 100,000 nodes.
        assert!((at(1e4, 20.0, 1.0, 30.0, true) - BUDGET_PEAK_RSS_PER_NODE).abs() < 1e-6);
        assert!((at(1e5, 20.0, 1.0, 30.0, true) - BUDGET_PEAK_RSS_PER_NODE_100K).abs() < 1e-6);
        // At a million nodes the fixed part is 56 bytes per node: 14,765 x 1.13805 = 16,803.3
        // (22,410 less the fixed part at 10,000 nodes), + 56.1.
        let m = at(1e6, 20.0, 1.0, 30.0, true);
        assert!((m - 16_859.4).abs() < 0.1, "{m}");
        // Fewer connections and messages: never below the measured rows.
        assert!((at(1e4, 4.0, 0.1, 5.0, true) - BUDGET_PEAK_RSS_PER_NODE).abs() < 1e-6);
        // Without TCP: the TCP flows' 419 counted bytes less, x 1.13805 = 476.8.
        let no_tcp = BUDGET_PEAK_RSS_PER_NODE - at(1e4, 20.0, 1.0, 30.0, false);
        assert!((no_tcp - 419.0 * slope).abs() < 1e-6, "{no_tcp}");
        // The seen cache over its 120 s time to live: its 1,024 bytes x 4, so 3,072 counted
        // bytes more, x 1.13805 = 3,496.1.
        let seen = at(1e4, 20.0, 1.0, 120.0, true) - BUDGET_PEAK_RSS_PER_NODE;
        assert!((seen - 3072.0 * slope).abs() < 1e-6, "{seen}");
        // Twice the connections: the per-connection rows (connections 800, connection table
        // 13, TCP flows 419, peer records 1,280, scores 1,280, index 120, topics 310,
        // validation 380: 4,602 bytes) double and the per-connection-and-message rows
        // (deferred 538, event queue 521, in flight 2,202, IDONTWANT 1,312, IHAVE 1,226, send
        // queues 0: 5,799 bytes) double: 10,401 counted bytes more.
        let two = at(1e4, 40.0, 1.0, 30.0, true) - BUDGET_PEAK_RSS_PER_NODE;
        assert!((two - 10_401.0 * slope).abs() < 1e-6, "{two}");
    }

    #[test]
    fn slopes_and_ratios() {
        // y = x^2 at x = 10, 100: slope 2; y constant: slope 0.
        assert!((log_log_slope(&[(10.0, 100.0), (100.0, 10_000.0)]) - 2.0).abs() < 1e-12);
        assert_eq!(log_log_slope(&[(10.0, 5.0), (100.0, 5.0)]), 0.0);
        assert_eq!(log_log_slope(&[(10.0, 5.0)]), 0.0);
        let p = |nodes: u64, wall_s: f64, peak: u64| ScalePoint {
            nodes,
            wall_s,
            events: 1000 * nodes,
            events_per_sec: 1000.0 * nodes as f64 / wall_s,
            peak_rss_bytes: peak,
            bytes_per_node: peak as f64 / nodes as f64,
            counted_bytes_per_node: 0.0,
        };
        // 10x the nodes: 20x the wall time (events/s halves), 10x the memory.
        let r = ScaleReport::new(
            vec![p(1000, 1.0, 1_000_000), p(10_000, 20.0, 10_000_000)],
            60,
        );
        assert_eq!(r.nodes, "1000,10000");
        assert!((r.events_per_sec_growth - 0.5).abs() < 1e-12);
        assert!((r.bytes_per_node_growth - 1.0).abs() < 1e-12);
        assert!((r.wall_s_per_node_growth - 2.0).abs() < 1e-12);
        assert!((r.fit_peak_rss - 1.0).abs() < 1e-12);
    }
}
