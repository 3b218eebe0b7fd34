//! The Waku model: a network of nwaku-like relay nodes (gossipsub as nwaku configures it) on a
//! network described by the `topologies` crate, driven by the `protocols` harness.
//!
//! Scenario sections (see docs/scenario-format.md for every field):
//!
//! - `[network]`: nodes, topology, groups, regions, latency, bandwidth classes, faults
//!   ([`topologies::NetworkSpec`]);
//! - `[transport]`: the engine's network-model settings ([`TransportSpec`]);
//! - `[shards]`: cluster and shards ([`ShardSpec`]);
//! - `[relay]`: gossipsub parameters, nwaku's defaults ([`protocols::config::RelayConfig`]);
//! - `[workload]`: message streams ([`protocols::workload::WorkloadConfig`]);
//! - `[metrics]`: measurement settings ([`MetricsSpec`]).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sim_core::metrics::Stats;
use sim_core::{NetworkConfig, SimDuration, SimTime};

use protocols::config::RelayConfig;
use protocols::sim::{self, SimInput, SimOutput};
use protocols::workload::WorkloadConfig;
use topologies::{NetworkSpec, TopologyError};

use crate::model::{
    BandwidthRow, EngineStats, ExtraTable, FieldError, LatencyRow, Model, ModelError, Progress,
    RunResult, Scenario, Summary, TimePoint,
};

/// The Waku relay model.
pub struct Waku;

/// The model's sections of a scenario.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WakuParams {
    /// `[network]`: the nodes and their links.
    #[serde(default)]
    pub network: NetworkSpec,
    /// `[transport]`: connection and queue settings of the network model.
    #[serde(default)]
    pub transport: TransportSpec,
    /// `[shards]`: the cluster and its shards.
    #[serde(default)]
    pub shards: ShardSpec,
    /// `[relay]`: gossipsub parameters (nwaku's defaults).
    #[serde(default)]
    pub relay: RelayConfig,
    /// `[workload]`: who publishes what, when.
    #[serde(default)]
    pub workload: WorkloadConfig,
    /// `[metrics]`: measurement settings.
    #[serde(default)]
    pub metrics: MetricsSpec,
}

/// `[transport]`: the engine's network-model settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransportSpec {
    /// Round trips a dial costs before both sides see the connection. Default 3 (TCP, noise,
    /// yamux/identify).
    pub dial_round_trips: u32,
    /// Seconds a dial to an offline or unreachable peer waits before failing. Default 10
    /// (nwaku's dial timeout).
    pub dial_timeout_s: f64,
    /// Probability in [0, 1] that a datagram (discv5) is lost. Default 0.
    pub datagram_loss: f64,
    /// Longest a message may wait in a node's upload queue before it is dropped, in seconds.
    /// Default 30.
    pub max_upload_backlog_s: f64,
    /// Minimum retransmission timeout for stream messages on lossy paths, in milliseconds.
    /// Default 200 (Linux's minimum RTO).
    pub min_rto_ms: f64,
    /// Whether a partition closes the connections across it. Default true.
    pub partition_closes_connections: bool,
}

impl Default for TransportSpec {
    fn default() -> Self {
        TransportSpec {
            dial_round_trips: 3,
            dial_timeout_s: 10.0,
            datagram_loss: 0.0,
            max_upload_backlog_s: 30.0,
            min_rto_ms: 200.0,
            partition_closes_connections: true,
        }
    }
}

/// `[shards]`: static sharding of one cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShardSpec {
    /// Cluster id. Default 1 (The Waku Network).
    pub cluster_id: u16,
    /// Number of shards `/waku/2/rs/<cluster_id>/0 .. count-1`; every relay node subscribes to
    /// all of them. Default 1. At most 1024 (static sharding's limit).
    pub count: u16,
}

impl Default for ShardSpec {
    fn default() -> Self {
        ShardSpec {
            cluster_id: 1,
            count: 1,
        }
    }
}

/// `[metrics]`: measurement settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSpec {
    /// Messages published less than this many seconds before the end do not count for
    /// delivery and latency (they had no time to arrive). Default 5.
    pub delivery_grace_s: f64,
}

impl Default for MetricsSpec {
    fn default() -> Self {
        MetricsSpec {
            delivery_grace_s: 5.0,
        }
    }
}

fn topology_error(e: &TopologyError) -> FieldError {
    let path = match e {
        TopologyError::InvalidParameter { field, .. }
        | TopologyError::UnknownName { field, .. } => {
            format!("network.{field}")
        }
        _ => "network".to_owned(),
    };
    FieldError::new(path, e.to_string())
}

fn seconds(path: &str, v: f64, positive: bool, errors: &mut Vec<FieldError>) {
    let ok = v.is_finite() && if positive { v > 0.0 } else { v >= 0.0 };
    if !ok {
        let what = if positive { "positive" } else { "non-negative" };
        errors.push(FieldError::new(
            path,
            format!("must be a finite, {what} number, got {v}"),
        ));
    }
}

fn duration(path: &str, secs: f64) -> Result<SimDuration, ModelError> {
    SimDuration::try_from_secs_f64("duration", secs)
        .map_err(|e| ModelError::Field(FieldError::new(path, e.to_string())))
}

impl Model for Waku {
    const NAME: &'static str = "waku";
    const DESCRIPTION: &'static str =
        "Waku relay (gossipsub as nwaku runs it) over a generated or imported network";
    type Params = WakuParams;

    fn validate(s: &Scenario<WakuParams>) -> Result<(), Vec<FieldError>> {
        let p = &s.params;
        let mut errors = Vec::new();
        if let Err(e) = p.network.validate() {
            errors.push(topology_error(&e));
        }
        let t = &p.transport;
        if t.dial_round_trips == 0 || t.dial_round_trips > 20 {
            errors.push(FieldError::new(
                "transport.dial_round_trips",
                format!("must be in 1..=20, got {}", t.dial_round_trips),
            ));
        }
        seconds(
            "transport.dial_timeout_s",
            t.dial_timeout_s,
            true,
            &mut errors,
        );
        seconds(
            "transport.max_upload_backlog_s",
            t.max_upload_backlog_s,
            true,
            &mut errors,
        );
        seconds("transport.min_rto_ms", t.min_rto_ms, true, &mut errors);
        if !(t.datagram_loss.is_finite() && (0.0..=1.0).contains(&t.datagram_loss)) {
            errors.push(FieldError::new(
                "transport.datagram_loss",
                format!("must be a probability in [0, 1], got {}", t.datagram_loss),
            ));
        }
        if p.shards.count == 0 || p.shards.count > 1024 {
            errors.push(FieldError::new(
                "shards.count",
                format!(
                    "must be in 1..=1024 (static sharding has 1024 shards per cluster), got {}",
                    p.shards.count
                ),
            ));
        }
        if let Err(e) = p.relay.validate() {
            errors.push(FieldError::new(
                e.field.clone(),
                format!("{}; {}", e.problem, e.fix),
            ));
        }
        let nodes = p.network.nodes.unwrap_or(u32::MAX) as usize;
        if let Err(e) = p.workload.validate(nodes, p.shards.count.max(1) as usize) {
            errors.push(FieldError::new(
                e.field.clone(),
                format!("{}; {}", e.problem, e.fix),
            ));
        }
        seconds(
            "metrics.delivery_grace_s",
            p.metrics.delivery_grace_s,
            false,
            &mut errors,
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn run(
        s: &Scenario<WakuParams>,
        seed: u64,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<RunResult, ModelError> {
        let p = &s.params;
        let run = &s.common.run;
        let duration_t = duration("run.duration_s", run.duration_s)?;
        let horizon = SimTime::ZERO + duration_t;
        let net = p
            .network
            .build(seed, horizon)
            .map_err(|e| ModelError::Field(topology_error(&e)))?;
        let n = net.node_count() as usize;
        let edges: Vec<(u32, u32)> = net
            .graph
            .edges()
            .iter()
            // `a` is the dialler when the edge has a direction.
            .map(|e| (e.a.0, e.b.0))
            .collect();
        let t = &p.transport;
        let network = NetworkConfig {
            jitter: net.jitter,
            datagram_loss: t.datagram_loss,
            dial_round_trips: t.dial_round_trips,
            dial_timeout: duration("transport.dial_timeout_s", t.dial_timeout_s)?,
            max_upload_backlog: duration("transport.max_upload_backlog_s", t.max_upload_backlog_s)?,
            min_rto: duration("transport.min_rto_ms", t.min_rto_ms / 1000.0)?,
            partition_closes_connections: t.partition_closes_connections,
        };
        let topics: Vec<String> = (0..p.shards.count)
            .map(|i| format!("/waku/2/rs/{}/{i}", p.shards.cluster_id))
            .collect();
        let all: Vec<u16> = (0..p.shards.count).collect();
        let groups: Vec<u32> = net.attrs.iter().map(|a| a.group as u32).collect();
        let faults = net.faults.clone();
        let input = SimInput {
            nodes: n,
            edges,
            capacities: net.capacities.clone(),
            latency: Box::new(net.latency),
            network,
            groups,
            ip_groups: Vec::new(),
            topics: topics.clone(),
            subscriptions: vec![all; n],
            relay: p.relay.clone(),
            workload: p.workload.clone(),
            faults,
            commands: Vec::new(),
            duration: duration_t,
            warmup: duration("run.warmup_s", run.warmup_s)?,
            series_interval: duration("run.series_interval_s", run.series_interval_s)?,
            delivery_grace: duration("metrics.delivery_grace_s", p.metrics.delivery_grace_s)?,
            seed,
        };
        let out = sim::run(input, &|sim_time_s| {
            progress(Progress {
                sim_time_s,
                events: 0,
            })
        })
        .map_err(|e| ModelError::Other(e.to_string()))?;
        Ok(report(s, &out, &group_names(&p.network), &topics))
    }
}

/// Report names of the scenario's node groups, by group index.
fn group_names(spec: &NetworkSpec) -> Vec<String> {
    if spec.groups.is_empty() {
        return vec!["relay".to_owned()];
    }
    spec.groups
        .iter()
        .enumerate()
        .map(|(i, g)| match &g.name {
            Some(name) => name.clone(),
            None => format!("group{i}"),
        })
        .collect()
}

fn row(
    group: &str,
    category: &str,
    dir: &str,
    rates: &[f64],
    messages: u64,
) -> (BandwidthRow, Stats) {
    let st = Stats::of(rates);
    (
        BandwidthRow {
            node_group: group.to_owned(),
            category: category.to_owned(),
            direction: dir.to_owned(),
            bytes_per_sec_mean: st.mean,
            bytes_per_sec_p50: st.p50,
            bytes_per_sec_p95: st.p95,
            bytes_per_sec_max: st.max,
            messages,
        },
        st,
    )
}

/// Turns the harness output into the tool's result rows.
fn report(
    s: &Scenario<WakuParams>,
    out: &SimOutput,
    groups: &[String],
    topics: &[String],
) -> RunResult {
    let run = &s.common.run;
    let bw = &out.bandwidth;
    let window = bw.window_s.max(f64::MIN_POSITIVE);
    let cats: Vec<String> = out
        .categories
        .iter()
        .map(|(p, k)| format!("{p}/{k}"))
        .collect();
    let n = bw.per_node.len();
    let publishers: BTreeSet<u32> = out
        .delivery
        .per_message
        .iter()
        .map(|m| m.publisher)
        .collect();

    // Node sets for bandwidth.csv: all, each scenario group (when there are several),
    // publishers and the other nodes.
    let mut sets: Vec<(String, Vec<usize>)> = vec![("all".to_owned(), (0..n).collect())];
    if groups.len() > 1 {
        for (gi, name) in groups.iter().enumerate() {
            let members: Vec<usize> = (0..n)
                .filter(|&i| bw.per_node[i].group as usize == gi)
                .collect();
            if !members.is_empty() {
                sets.push((name.clone(), members));
            }
        }
    }
    let (pubs, others): (Vec<usize>, Vec<usize>) =
        (0..n).partition(|&i| publishers.contains(&(i as u32)));
    if !pubs.is_empty() {
        sets.push(("publishers".to_owned(), pubs));
    }
    if !others.is_empty() {
        sets.push(("non_publishers".to_owned(), others));
    }

    let mut bandwidth = Vec::new();
    let mut totals = [Stats::default(); 2];
    for (name, members) in &sets {
        for (di, dir) in ["in", "out"].iter().enumerate() {
            // (bytes, messages) of one node and category in this direction.
            let get = |t: &protocols::sim::NodeTraffic, c: usize| {
                if di == 0 {
                    (t.bytes_in[c], t.msgs_in[c])
                } else {
                    (t.bytes_out[c], t.msgs_out[c])
                }
            };
            for (c, cname) in cats.iter().enumerate() {
                let vals: Vec<(u64, u64)> =
                    members.iter().map(|&i| get(&bw.per_node[i], c)).collect();
                let rates: Vec<f64> = vals.iter().map(|v| v.0 as f64 / window).collect();
                let (r, _) = row(name, cname, dir, &rates, vals.iter().map(|v| v.1).sum());
                bandwidth.push(r);
            }
            let node_totals: Vec<(u64, u64)> = members
                .iter()
                .map(|&i| {
                    (0..cats.len()).fold((0, 0), |a, c| {
                        let v = get(&bw.per_node[i], c);
                        (a.0 + v.0, a.1 + v.1)
                    })
                })
                .collect();
            let rates: Vec<f64> = node_totals.iter().map(|v| v.0 as f64 / window).collect();
            let (r, st) = row(
                name,
                "total",
                dir,
                &rates,
                node_totals.iter().map(|v| v.1).sum(),
            );
            if name == "all" {
                totals[di] = st;
            }
            bandwidth.push(r);
        }
    }

    // Time series: delivery, traffic per category, mesh degrees.
    let mut timeseries = Vec::new();
    for d in &out.delivery_series {
        if d.messages > 0 {
            timeseries.push(TimePoint {
                time_s: d.t_s,
                metric: "delivery_rate".to_owned(),
                value: d.fraction,
            });
        }
    }
    let interval = run.series_interval_s;
    for pt in &bw.series {
        for (dir, v) in [("in", &pt.bytes_in), ("out", &pt.bytes_out)] {
            let total: u64 = v.iter().sum();
            timeseries.push(TimePoint {
                time_s: pt.t_s,
                metric: format!("bytes_{dir}_per_sec_per_node"),
                value: total as f64 / interval / n.max(1) as f64,
            });
            for (c, cname) in cats.iter().enumerate() {
                timeseries.push(TimePoint {
                    time_s: pt.t_s,
                    metric: format!("bytes_{dir}_per_sec_per_node:{cname}"),
                    value: v[c] as f64 / interval / n.max(1) as f64,
                });
            }
        }
    }
    let one_topic = topics.len() == 1;
    for m in &out.mesh {
        let suffix = if one_topic {
            String::new()
        } else {
            format!(":shard{}", m.topic)
        };
        for (name, value) in [
            ("min", m.min as f64),
            ("mean", m.mean),
            ("p50", m.p50 as f64),
            ("p95", m.p95 as f64),
            ("max", m.max as f64),
        ] {
            timeseries.push(TimePoint {
                time_s: m.t_s,
                metric: format!("mesh_degree_{name}{suffix}"),
                value,
            });
        }
    }

    let latency: Vec<LatencyRow> = out
        .latency
        .histogram
        .distribution_ms()
        .into_iter()
        .map(|(latency_ms, count, cumulative_fraction)| LatencyRow {
            latency_ms,
            count,
            cumulative_fraction,
        })
        .collect();

    let hops_total: u64 = out.latency.hops.iter().sum();
    let hops_mean = if hops_total == 0 {
        0.0
    } else {
        out.latency
            .hops
            .iter()
            .enumerate()
            .map(|(h, c)| h as f64 * *c as f64)
            .sum::<f64>()
            / hops_total as f64
    };
    let mut extra = vec![
        ("latency_mean_ms".to_owned(), out.latency.mean_ms),
        ("duplicates_p95".to_owned(), out.duplicates.p95),
        ("hops_mean".to_owned(), hops_mean),
        (
            "publish_no_peers".to_owned(),
            out.publishing.no_peers as f64,
        ),
        (
            "publish_too_large".to_owned(),
            out.publishing.too_large as f64,
        ),
    ];
    for (name, v) in &out.drops {
        extra.push((format!("drops_{name}"), *v as f64));
    }

    let summary = Summary {
        nodes: n as u64,
        sim_seconds: out.sim_seconds,
        messages_published: out.delivery.messages,
        delivery_rate_mean: out.delivery.mean,
        delivery_rate_min: out.delivery.worst,
        messages_not_fully_delivered: out.delivery.not_fully_delivered,
        latency_p50_ms: out.latency.p50_ms,
        latency_p95_ms: out.latency.p95_ms,
        latency_p99_ms: out.latency.p99_ms,
        latency_max_ms: out.latency.max_ms,
        duplicates_mean: out.duplicates.mean,
        bandwidth_in_mean_bytes_per_sec: totals[0].mean,
        bandwidth_out_mean_bytes_per_sec: totals[1].mean,
        bandwidth_in_p95_bytes_per_sec: totals[0].p95,
        bandwidth_out_p95_bytes_per_sec: totals[1].p95,
        extra,
    };

    let tables = vec![
        ExtraTable {
            file_name: "hops.csv".to_owned(),
            header: vec!["hops".into(), "first_copies".into()],
            rows: out
                .latency
                .hops
                .iter()
                .enumerate()
                .map(|(h, c)| vec![h.to_string(), c.to_string()])
                .collect(),
        },
        ExtraTable {
            file_name: "duplicates.csv".to_owned(),
            header: vec!["extra_copies".into(), "node_message_pairs".into()],
            rows: out
                .duplicates
                .histogram
                .iter()
                .enumerate()
                .map(|(k, c)| vec![k.to_string(), c.to_string()])
                .collect(),
        },
        ExtraTable {
            file_name: "messages.csv".to_owned(),
            header: [
                "publish_s",
                "publisher",
                "shard",
                "data_bytes",
                "eligible",
                "delivered",
                "no_peers",
            ]
            .map(String::from)
            .to_vec(),
            rows: out
                .delivery
                .per_message
                .iter()
                .map(|m| {
                    vec![
                        crate::output::fmt_f64(m.publish_s),
                        m.publisher.to_string(),
                        m.topic.to_string(),
                        m.data_bytes.to_string(),
                        m.eligible.to_string(),
                        m.delivered.to_string(),
                        m.no_peers.to_string(),
                    ]
                })
                .collect(),
        },
        ExtraTable {
            file_name: "counters.csv".to_owned(),
            header: vec!["counter".into(), "value".into()],
            rows: out
                .counters
                .iter()
                .map(|(k, v)| vec![format!("relay/{k}"), v.to_string()])
                .chain(
                    out.drops
                        .iter()
                        .map(|(k, v)| vec![format!("drop/{k}"), v.to_string()]),
                )
                .collect(),
        },
    ];

    RunResult {
        summary,
        bandwidth,
        timeseries,
        latency,
        tables,
        engine: EngineStats {
            events: out.events,
            event_hash: out.event_hash,
        },
    }
}
