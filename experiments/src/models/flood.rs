//! `model = "flood"`: plain flooding on the sim-core engine, the test model of the tool.
//!
//! N nodes are wired as a ring (each node to its two ring neighbours) plus `chords` random
//! extra links per node drawn from the seed, or as a full mesh. Every link has the same one-way
//! latency and every node the same symmetric link capacity. A few publishers (evenly spread
//! over the ring) each publish a message of `message_size_bytes` every `publish_interval_ms`,
//! staggered. A node that receives a message for the first time forwards it once to every
//! neighbour except the one it came from; later copies are duplicates and are dropped.
//!
//! Measured: messages published from `run.warmup_s` until `flood.drain_s` before the end (so
//! that every measured message has time to arrive), their delivery to the other N - 1 nodes,
//! publish-to-first-receipt latency, duplicates, and bytes per node per category after the
//! warm-up, from the engine's accounting.
//!
//! The protocol (node, message, observer, overlays) is [`protocols::flood`]; this file holds
//! the scenario sections, maps them onto the protocol's inputs, runs the engine and reports.

use std::collections::BTreeMap;

use protocols::flood::{FloodConfig, FloodNode, FloodObserver, overlay};
use serde::{Deserialize, Serialize};
use sim_core::metrics::Stats;
use sim_core::{
    Category, CategoryTable, ConstantLatency, Counters, Direction, Engine, EngineConfig, Jitter,
    LinkCapacity, NetworkConfig, NodeId, SimDuration, SimTime,
};

use crate::model::{
    BandwidthRow, EngineStats, ExtraTable, FieldError, Model, ModelError, Progress, RunResult,
    Scenario, Summary, TimePoint,
};
use crate::output::fmt_f64;

/// The flood model.
pub struct Flood;

/// The flood model's sections of a scenario: `[network]` and `[flood]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloodParams {
    /// Links between nodes.
    #[serde(default)]
    pub network: NetworkSection,
    /// Nodes, topology and workload.
    #[serde(default)]
    pub flood: FloodSection,
}

/// `[network]`: the same latency and capacity everywhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// One-way latency between every pair of nodes, in milliseconds. Default 50.
    #[serde(default = "NetworkSection::default_latency_ms")]
    pub latency_ms: f64,
    /// Upper bound of a uniform random extra delay per message, in milliseconds. Default 0.
    #[serde(default)]
    pub jitter_ms: f64,
    /// Upload and download capacity of every node, in megabits (10^6 bits) per second.
    /// Default 100.
    #[serde(default = "NetworkSection::default_bandwidth_mbps")]
    pub bandwidth_mbps: f64,
    /// Transport overhead per message in bytes, counted under `transport/framing`. Default 16.
    #[serde(default = "NetworkSection::default_framing_bytes")]
    pub framing_bytes: u32,
}

impl NetworkSection {
    fn default_latency_ms() -> f64 {
        50.0
    }
    fn default_bandwidth_mbps() -> f64 {
        100.0
    }
    fn default_framing_bytes() -> u32 {
        16
    }
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            latency_ms: Self::default_latency_ms(),
            jitter_ms: 0.0,
            bandwidth_mbps: Self::default_bandwidth_mbps(),
            framing_bytes: Self::default_framing_bytes(),
        }
    }
}

/// How the nodes are wired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// A ring plus `chords` random links per node.
    RingChords,
    /// Every node linked to every other.
    Full,
}

/// `[flood]`: nodes, topology, publishers and messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloodSection {
    /// Number of nodes, 3 to [`FloodSection::MAX_NODES`]. Default 20.
    #[serde(default = "FloodSection::default_nodes")]
    pub nodes: u32,
    /// `"ring-chords"` (default) or `"full"`.
    #[serde(default = "FloodSection::default_topology")]
    pub topology: Topology,
    /// Random extra links each node opens on a ring (`ring-chords` only). Default 2.
    #[serde(default = "FloodSection::default_chords")]
    pub chords: u32,
    /// Number of publishing nodes, spread evenly over the ring. Default 2.
    #[serde(default = "FloodSection::default_publishers")]
    pub publishers: u32,
    /// Time between two messages of one publisher, in milliseconds. Default 1000.
    #[serde(default = "FloodSection::default_publish_interval_ms")]
    pub publish_interval_ms: f64,
    /// Size of a message in bytes (framing excluded). Default 1024.
    #[serde(default = "FloodSection::default_message_size_bytes")]
    pub message_size_bytes: u32,
    /// Seconds at the end of the run with no publishing, so measured messages can arrive.
    /// Default 2.
    #[serde(default = "FloodSection::default_drain_s")]
    pub drain_s: f64,
}

impl FloodSection {
    /// Most nodes a flood run may have.
    pub const MAX_NODES: u32 = 1_000_000;
    /// Most (message, node) pairs a run may track (memory bound).
    pub const MAX_DELIVERIES: f64 = 2e8;

    fn default_nodes() -> u32 {
        20
    }
    fn default_topology() -> Topology {
        Topology::RingChords
    }
    fn default_chords() -> u32 {
        2
    }
    fn default_publishers() -> u32 {
        2
    }
    fn default_publish_interval_ms() -> f64 {
        1000.0
    }
    fn default_message_size_bytes() -> u32 {
        1024
    }
    fn default_drain_s() -> f64 {
        2.0
    }
}

impl Default for FloodSection {
    fn default() -> Self {
        FloodSection {
            nodes: Self::default_nodes(),
            topology: Self::default_topology(),
            chords: Self::default_chords(),
            publishers: Self::default_publishers(),
            publish_interval_ms: Self::default_publish_interval_ms(),
            message_size_bytes: Self::default_message_size_bytes(),
            drain_s: Self::default_drain_s(),
        }
    }
}

/// The links of the run, each once as (lower id, higher id), sorted.
fn edges(f: &FloodSection, seed: u64) -> Vec<(u32, u32)> {
    match f.topology {
        Topology::Full => overlay::full_mesh(f.nodes),
        Topology::RingChords => overlay::ring_chords(f.nodes, f.chords, seed),
    }
}

fn field(path: &str, message: String) -> FieldError {
    FieldError::new(path, message)
}

impl Model for Flood {
    const NAME: &'static str = "flood";
    const DESCRIPTION: &'static str =
        "plain flooding over a ring with random chords or a full mesh (the test model)";
    type Params = FloodParams;

    fn timeseries_metrics(_s: &Scenario<FloodParams>) -> Option<Vec<String>> {
        Some(
            ["delivery_rate", "bytes_in_per_sec", "bytes_out_per_sec"]
                .map(str::to_owned)
                .to_vec(),
        )
    }

    /// Nodes x simulated seconds.
    fn cost_estimate(s: &Scenario<FloodParams>) -> f64 {
        f64::from(s.params.flood.nodes) * s.common.run.duration_s
    }

    fn validate(s: &Scenario<FloodParams>) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        let (net, f, run) = (&s.params.network, &s.params.flood, &s.common.run);
        if !(net.latency_ms.is_finite() && net.latency_ms >= 0.0 && net.latency_ms <= 60_000.0) {
            e.push(field(
                "network.latency_ms",
                format!(
                    "must be between 0 and 60000 milliseconds, got {}",
                    net.latency_ms
                ),
            ));
        }
        if !(net.jitter_ms.is_finite() && net.jitter_ms >= 0.0 && net.jitter_ms <= 60_000.0) {
            e.push(field(
                "network.jitter_ms",
                format!(
                    "must be between 0 and 60000 milliseconds, got {}",
                    net.jitter_ms
                ),
            ));
        }
        if !(net.bandwidth_mbps.is_finite()
            && net.bandwidth_mbps >= 0.001
            && net.bandwidth_mbps <= 1e6)
        {
            e.push(field(
                "network.bandwidth_mbps",
                format!(
                    "must be between 0.001 and 1000000 megabits per second, got {}",
                    net.bandwidth_mbps
                ),
            ));
        }
        if f.nodes < 3 || f.nodes > FloodSection::MAX_NODES {
            e.push(field(
                "flood.nodes",
                format!(
                    "must be between 3 and {}, got {}",
                    FloodSection::MAX_NODES,
                    f.nodes
                ),
            ));
        }
        if f.publishers == 0 || f.publishers > f.nodes {
            e.push(field(
                "flood.publishers",
                format!(
                    "must be between 1 and the number of nodes ({}), got {}",
                    f.nodes, f.publishers
                ),
            ));
        }
        if f.topology == Topology::RingChords && f.chords >= f.nodes {
            e.push(field(
                "flood.chords",
                format!(
                    "must be below the number of nodes ({}), got {}",
                    f.nodes, f.chords
                ),
            ));
        }
        if f.topology == Topology::Full && f.nodes > 2000 {
            e.push(field(
                "flood.topology",
                format!(
                    "a full mesh of {} nodes has too many links: use \"ring-chords\" or at most \
                     2000 nodes",
                    f.nodes
                ),
            ));
        }
        if !(f.publish_interval_ms.is_finite() && f.publish_interval_ms >= 1.0) {
            e.push(field(
                "flood.publish_interval_ms",
                format!(
                    "must be at least 1 millisecond, got {}",
                    f.publish_interval_ms
                ),
            ));
        }
        if f.message_size_bytes == 0 || f.message_size_bytes > 16 << 20 {
            e.push(field(
                "flood.message_size_bytes",
                format!(
                    "must be between 1 and {} bytes, got {}",
                    16 << 20,
                    f.message_size_bytes
                ),
            ));
        }
        if !(f.drain_s.is_finite() && f.drain_s >= 0.0) {
            e.push(field(
                "flood.drain_s",
                format!(
                    "must be a non-negative number of seconds, got {}",
                    f.drain_s
                ),
            ));
        } else if run.duration_s - f.drain_s <= run.warmup_s {
            e.push(field(
                "flood.drain_s",
                format!(
                    "no message would be measured: publishing stops at run.duration_s - drain_s \
                     = {} s, before the warm-up ends (run.warmup_s = {} s); lower drain_s or \
                     warmup_s, or raise duration_s",
                    run.duration_s - f.drain_s,
                    run.warmup_s
                ),
            ));
        }
        if e.is_empty() {
            let messages = f.publishers as f64 * run.duration_s * 1000.0 / f.publish_interval_ms;
            if messages * f.nodes as f64 > FloodSection::MAX_DELIVERIES {
                e.push(field(
                    "flood.publish_interval_ms",
                    format!(
                        "about {messages:.0} messages to {} nodes is more than {} deliveries to \
                         track: publish less often, or use fewer publishers or nodes",
                        f.nodes,
                        FloodSection::MAX_DELIVERIES
                    ),
                ));
            }
        }
        if e.is_empty() { Ok(()) } else { Err(e) }
    }

    fn run(
        s: &Scenario<FloodParams>,
        seed: u64,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<RunResult, ModelError> {
        let (net, f, run) = (&s.params.network, &s.params.flood, &s.common.run);
        let bad = |path: &str, e: sim_core::time::BadDuration| {
            ModelError::Field(FieldError::new(path, e.to_string()))
        };
        let duration = SimDuration::try_from_secs_f64("run.duration_s", run.duration_s)
            .map_err(|e| bad("run.duration_s", e))?;
        let warmup = SimDuration::try_from_secs_f64("run.warmup_s", run.warmup_s)
            .map_err(|e| bad("run.warmup_s", e))?;
        let drain = SimDuration::try_from_secs_f64("flood.drain_s", f.drain_s)
            .map_err(|e| bad("flood.drain_s", e))?;
        let interval =
            SimDuration::try_from_millis_f64("flood.publish_interval_ms", f.publish_interval_ms)
                .map_err(|e| bad("flood.publish_interval_ms", e))?;
        let latency = SimDuration::try_from_millis_f64("network.latency_ms", net.latency_ms)
            .map_err(|e| bad("network.latency_ms", e))?;
        let series = SimDuration::try_from_secs_f64("run.series_interval_s", run.series_interval_s)
            .map_err(|e| bad("run.series_interval_s", e))?;
        let end = SimTime::ZERO + duration;
        let warmup_end = SimTime::ZERO + warmup;
        let publish_end = SimTime::from_nanos(end.as_nanos().saturating_sub(drain.as_nanos()));

        let mut categories = CategoryTable::new();
        let message_cat = categories.register("flood", "message");
        let framing_cat = categories.register("transport", "framing");
        let n = f.nodes as usize;
        let p = f.publishers as usize;
        // Publisher k is node floor(k * n / p); it first publishes at k / p of an interval.
        let node_config = FloodConfig {
            interval,
            publish_end,
            category: message_cat,
            size: f.message_size_bytes,
            framing: net.framing_bytes,
        };
        let mut nodes: Vec<FloodNode> = (0..n).map(|_| FloodNode::new(node_config)).collect();
        for k in 0..p {
            nodes[k * n / p].set_first_publish(SimDuration::from_nanos(
                interval.as_nanos() / p as u64 * k as u64,
            ));
        }
        let is_publisher: Vec<bool> = nodes.iter().map(FloodNode::is_publisher).collect();
        let bps = (net.bandwidth_mbps * 1e6).round() as u64;
        let config = EngineConfig {
            seed,
            categories: categories.len(),
            framing_category: Some(framing_cat),
            series_interval: series,
            network: NetworkConfig {
                jitter: if net.jitter_ms > 0.0 {
                    Jitter::Uniform {
                        max_ms: net.jitter_ms,
                    }
                } else {
                    Jitter::None
                },
                ..NetworkConfig::default()
            },
            ..EngineConfig::default()
        };
        let observer = FloodObserver::new(n, warmup_end);
        let mut engine = Engine::new(
            config,
            Box::new(ConstantLatency(latency)),
            vec![
                LinkCapacity {
                    upload_bps: bps,
                    download_bps: bps
                };
                n
            ],
            nodes,
            observer,
        )?;
        for (a, b) in edges(f, seed) {
            engine.connect_now(NodeId(a), NodeId(b))?;
        }

        // Run in slices so progress can be reported; the slicing does not change the result.
        let slice = SimDuration::from_nanos((duration.as_nanos() / 100).max(1_000_000_000));
        let mut before: Option<Vec<Counters>> = None;
        let mut t = SimTime::ZERO;
        loop {
            // Stop exactly at the warm-up's end once, to take the accounting snapshot.
            let next = if before.is_none() && warmup_end > t {
                (t + slice).min(warmup_end)
            } else {
                (t + slice).min(end)
            };
            engine.run_until(next);
            t = next;
            if before.is_none() && t >= warmup_end {
                before = Some(engine.accounting().snapshot());
            }
            progress(Progress {
                sim_time_s: t.as_secs_f64(),
                events: engine.events_processed(),
            });
            if t >= end {
                break;
            }
        }
        let before = before.unwrap_or_else(|| engine.accounting().snapshot());
        Ok(report(&engine, &before, &is_publisher, s, &categories))
    }
}

/// Turns the finished engine into a [`RunResult`].
fn report(
    engine: &Engine<FloodNode>,
    before: &[Counters],
    is_publisher: &[bool],
    s: &Scenario<FloodParams>,
    categories: &CategoryTable,
) -> RunResult {
    let run = &s.common.run;
    let obs = engine.observer();
    let n = is_publisher.len();
    let acc = engine.accounting();
    let cats = categories.len();
    let window_s = run.duration_s - run.warmup_s;

    // Per node, per category: counters over the measured window.
    let window: Vec<Counters> = (0..n)
        .flat_map(|i| {
            acc.node(NodeId(i as u32))
                .iter()
                .enumerate()
                .map(move |(c, now)| now.since(&before[i * cats + c]))
        })
        .collect();
    let node_total = |i: usize| -> Counters {
        window[i * cats..(i + 1) * cats]
            .iter()
            .fold(Counters::default(), |a, c| Counters {
                bytes_in: a.bytes_in + c.bytes_in,
                bytes_out: a.bytes_out + c.bytes_out,
                msgs_in: a.msgs_in + c.msgs_in,
                msgs_out: a.msgs_out + c.msgs_out,
            })
    };

    // bandwidth.csv: groups x (categories + total) x directions.
    let groups: [(&str, Vec<usize>); 3] = [
        ("all", (0..n).collect()),
        ("publishers", (0..n).filter(|&i| is_publisher[i]).collect()),
        ("relays", (0..n).filter(|&i| !is_publisher[i]).collect()),
    ];
    let mut bandwidth = Vec::new();
    let mut all_in = Stats::default();
    let mut all_out = Stats::default();
    for (group, members) in &groups {
        if members.is_empty() {
            continue;
        }
        let mut cat_names: Vec<(Option<Category>, String)> = categories
            .iter()
            .map(|(c, p, k)| (Some(c), format!("{p}/{k}")))
            .collect();
        cat_names.push((None, "total".to_owned()));
        for (cat, name) in &cat_names {
            for dir in [Direction::In, Direction::Out] {
                let counters: Vec<Counters> = members
                    .iter()
                    .map(|&i| match cat {
                        Some(c) => window[i * cats + c.0 as usize],
                        None => node_total(i),
                    })
                    .collect();
                let rates: Vec<f64> = counters
                    .iter()
                    .map(|c| c.bytes(dir) as f64 / window_s)
                    .collect();
                let st = Stats::of(&rates);
                if *group == "all" && cat.is_none() {
                    match dir {
                        Direction::In => all_in = st,
                        Direction::Out => all_out = st,
                    }
                }
                bandwidth.push(BandwidthRow {
                    node_group: (*group).to_owned(),
                    category: name.clone(),
                    direction: match dir {
                        Direction::In => "in",
                        Direction::Out => "out",
                    }
                    .to_owned(),
                    bytes_per_sec_mean: st.mean,
                    bytes_per_sec_p50: st.p50,
                    bytes_per_sec_p95: st.p95,
                    bytes_per_sec_max: st.max,
                    messages: counters.iter().map(|c| c.msgs(dir)).sum(),
                });
            }
        }
    }

    // Delivery per measured message; delivery_rate per series interval of publishing.
    let receivers_wanted = (n - 1) as f64;
    let interval_ns = SimDuration::try_from_secs_f64("", run.series_interval_s)
        .map(|d| d.as_nanos().max(1))
        .unwrap_or(1_000_000_000);
    let mut rates = Vec::new();
    let mut by_interval: BTreeMap<u64, (f64, u64)> = BTreeMap::new();
    for m in obs.messages().values() {
        if m.at < obs.warmup() {
            continue;
        }
        let r = m.receivers as f64 / receivers_wanted;
        rates.push(r);
        let e = by_interval
            .entry(m.at.as_nanos() / interval_ns)
            .or_insert((0.0, 0));
        e.0 += r;
        e.1 += 1;
    }
    let published = rates.len() as u64;
    let mut timeseries: Vec<TimePoint> = by_interval
        .iter()
        .map(|(i, (sum, count))| TimePoint {
            time_s: (i + 1) as f64 * run.series_interval_s,
            metric: "delivery_rate".to_owned(),
            value: sum / *count as f64,
        })
        .collect();
    // Network-wide bytes per second per interval, from the accounting series.
    let intervals = acc
        .series_len()
        .min((run.duration_s / run.series_interval_s).ceil() as usize);
    for (metric, dir) in [
        ("bytes_in_per_sec", Direction::In),
        ("bytes_out_per_sec", Direction::Out),
    ] {
        for i in 0..intervals {
            let bytes: u64 = categories
                .iter()
                .map(|(c, _, _)| acc.series_bytes(i, c, dir))
                .sum();
            timeseries.push(TimePoint {
                time_s: (i + 1) as f64 * run.series_interval_s,
                metric: metric.to_owned(),
                value: bytes as f64 / run.series_interval_s,
            });
        }
    }

    let latency = crate::model::latency_rows(obs.latency());

    let degrees: Vec<f64> = (0..n)
        .map(|i| engine.node(NodeId(i as u32)).neighbours().len() as f64)
        .collect();
    let nodes_table = ExtraTable {
        file_name: "nodes.csv".to_owned(),
        header: [
            "node",
            "publisher",
            "degree",
            "bytes_in",
            "bytes_out",
            "duplicates",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: (0..n)
            .map(|i| {
                let t = node_total(i);
                vec![
                    i.to_string(),
                    is_publisher[i].to_string(),
                    fmt_f64(degrees[i]),
                    t.bytes_in.to_string(),
                    t.bytes_out.to_string(),
                    obs.node_duplicates()[i].to_string(),
                ]
            })
            .collect(),
    };

    // Without a message in the measured window, delivery, latency and duplicates are
    // undefined: NaN, written as empty cells.
    let none = published == 0;
    let defined = |x: f64| if none { f64::NAN } else { x };
    let summary = Summary {
        nodes: n as u64,
        sim_seconds: run.duration_s,
        messages_published: published,
        delivery_rate_mean: if none {
            f64::NAN
        } else {
            crate::model::mean(&rates)
        },
        delivery_rate_min: defined(rates.iter().copied().fold(1.0, f64::min)),
        messages_not_fully_delivered: rates.iter().filter(|r| **r < 1.0).count() as u64,
        latency_p50_ms: defined(obs.latency().quantile_ms(0.50)),
        latency_p95_ms: defined(obs.latency().quantile_ms(0.95)),
        latency_p99_ms: defined(obs.latency().quantile_ms(0.99)),
        latency_max_ms: defined(obs.latency().max_ms()),
        duplicates_mean: defined(if obs.receipts() == 0 {
            0.0
        } else {
            obs.duplicates() as f64 / obs.receipts() as f64
        }),
        bandwidth_in_mean_bytes_per_sec: all_in.mean,
        bandwidth_out_mean_bytes_per_sec: all_out.mean,
        bandwidth_in_p95_bytes_per_sec: all_in.p95,
        bandwidth_out_p95_bytes_per_sec: all_out.p95,
        extra: vec![
            ("degree_mean".to_owned(), crate::model::mean(&degrees)),
            (
                "latency_mean_ms".to_owned(),
                defined(obs.latency().mean_ms()),
            ),
        ],
    };
    RunResult {
        summary,
        bandwidth,
        timeseries,
        latency,
        tables: vec![nodes_table],
        engine: EngineStats {
            events: engine.events_processed(),
            event_hash: engine.event_hash(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CommonSections;

    fn scenario(nodes: u32, topology: Topology) -> Scenario<FloodParams> {
        let mut params = FloodParams::default();
        params.flood.nodes = nodes;
        params.flood.topology = topology;
        params.flood.publishers = 1;
        params.network.latency_ms = 10.0;
        Scenario {
            model: "flood".into(),
            common: CommonSections {
                name: "t".into(),
                description: String::new(),
                run: crate::model::RunSection {
                    duration_s: 5.0,
                    ..Default::default()
                },
                outputs: Default::default(),
            },
            params,
        }
    }

    #[test]
    fn a_full_mesh_delivers_everything_in_one_hop() {
        let s = scenario(5, Topology::Full);
        Flood::validate(&s).unwrap();
        let r = Flood::run(&s, 1, &|_| {}).unwrap();
        // Publishing from t = 0 every second until 5 - 2 = 3 s: at 0, 1 and 2 s.
        assert_eq!(r.summary.messages_published, 3);
        assert_eq!(r.summary.delivery_rate_mean, 1.0);
        assert_eq!(r.summary.messages_not_fully_delivered, 0);
        // One hop: (1024 + 16) bytes take 83.2 us at 100 Mbit/s, and the publisher's upload
        // queue sends its 4 copies one after the other, so receiver k (1..=4) has the message
        // at 10 ms + k x 83.2 us: p50 (the 2nd of 4) = 10.1664 ms, max = 10.3328 ms, recorded
        // in microseconds with 3 significant digits.
        assert!(
            (r.summary.latency_p50_ms - 10.1664).abs() < 0.02,
            "{}",
            r.summary.latency_p50_ms
        );
        assert!(
            (r.summary.latency_max_ms - 10.3328).abs() < 0.02,
            "{}",
            r.summary.latency_max_ms
        );
        // Each of the 4 receivers forwards to its 3 other neighbours; each of those copies
        // reaches a node that already has the message: 4 x 3 = 12 duplicates over 4 receipts
        // per message, i.e. 3 per receipt.
        assert_eq!(r.summary.duplicates_mean, 3.0);
        assert_eq!(r.summary.nodes, 5);
    }

    #[test]
    fn the_same_seed_gives_the_same_result_and_another_seed_another_topology() {
        let s = scenario(30, Topology::RingChords);
        let a = Flood::run(&s, 7, &|_| {}).unwrap();
        let b = Flood::run(&s, 7, &|_| {}).unwrap();
        assert_eq!(a, b);
        assert_ne!(edges(&s.params.flood, 7), edges(&s.params.flood, 8));
        assert_eq!(a.summary.delivery_rate_mean, 1.0);
    }

    #[test]
    fn a_drain_past_the_warmup_is_refused() {
        let mut s = scenario(5, Topology::Full);
        s.common.run.warmup_s = 3.5;
        let e = Flood::validate(&s).unwrap_err();
        assert_eq!(e[0].path, "flood.drain_s");
        assert!(e[0].message.contains("no message would be measured"));
    }
}
