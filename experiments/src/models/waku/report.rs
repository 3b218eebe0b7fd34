//! The result rows: the harness's [`SimOutput`] turned into the tool's summary, bandwidth rows,
//! time series and tables (relay's, and the overlay's per shard and per node).

use std::collections::BTreeSet;

use sim_core::metrics::Stats;

use protocols::harness::SimOutput;
use protocols::relay::dissemination::{self, LEVELS_PERMILLE, NOT_REACHED};

use super::{MAX_PER_SHARD_SERIES, WakuParams};
use crate::model::{
    BandwidthRow, EngineStats, ExtraTable, RunResult, Scenario, Summary, TimePoint,
};
use crate::plot::DISSEMINATION_FILE;

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
pub(super) fn report(
    s: &Scenario<WakuParams>,
    out: &SimOutput,
    groups: &[String],
    topics: &[String],
    subs: &[Vec<u16>],
) -> RunResult {
    let run = &s.common.run;
    let bw = &out.bandwidth;
    let window = bw.window_s.max(f64::MIN_POSITIVE);
    let cats: Vec<String> = out
        .categories
        .iter()
        .map(|(p, k)| format!("{p}/{k}"))
        .collect();
    // The categories reported: all but the TCP/IP headers' when the TCP model is off (it
    // counts nothing then, and result files without it keep their rows).
    let shown: Vec<(usize, &String)> = cats
        .iter()
        .enumerate()
        .filter(|(_, c)| s.params.network.tcp.enabled || c.as_str() != "transport/tcp_headers")
        .collect();
    let n = bw.per_node.len();
    let publishers: BTreeSet<u32> = out
        .relay
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
    // Each implementation group (`impl_<label>`), when there are groups.
    for (gi, m) in out.relay.implementations.iter().enumerate() {
        let members: Vec<usize> = (0..n)
            .filter(|&i| out.relay.impl_of.get(i).is_some_and(|&g| g as usize == gi))
            .collect();
        if !members.is_empty() {
            sets.push((format!("impl_{}", m.name), members));
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
            let get = |t: &protocols::harness::NodeTraffic, c: usize| {
                if di == 0 {
                    (t.bytes_in[c], t.msgs_in[c])
                } else {
                    (t.bytes_out[c], t.msgs_out[c])
                }
            };
            for &(c, cname) in &shown {
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
    for d in &out.relay.delivery_series {
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
            for &(c, cname) in &shown {
                timeseries.push(TimePoint {
                    time_s: pt.t_s,
                    metric: format!("bytes_{dir}_per_sec_per_node:{cname}"),
                    value: v[c] as f64 / interval / n.max(1) as f64,
                });
            }
        }
    }
    let one_topic = topics.len() == 1;
    if topics.len() > MAX_PER_SHARD_SERIES {
        // Too many shards for a series each: the mean and minimum over every subscription.
        let mut k = 0;
        while k < out.relay.mesh.len() {
            let t = out.relay.mesh[k].t_s;
            let (mut nodes, mut sum, mut min) = (0u64, 0.0, u32::MAX);
            while k < out.relay.mesh.len() && out.relay.mesh[k].t_s == t {
                let m = &out.relay.mesh[k];
                nodes += m.nodes as u64;
                sum += m.mean * m.nodes as f64;
                min = min.min(m.min);
                k += 1;
            }
            for (name, value) in [
                ("mesh_degree_mean", sum / nodes.max(1) as f64),
                ("mesh_degree_min", min as f64),
            ] {
                timeseries.push(TimePoint {
                    time_s: t,
                    metric: name.to_owned(),
                    value,
                });
            }
        }
    }
    for m in out
        .relay
        .mesh
        .iter()
        .filter(|_| topics.len() <= MAX_PER_SHARD_SERIES)
    {
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

    let overlay = overlay_report(s, out, groups, topics, subs, window);
    timeseries.extend(overlay.series);

    let latency = crate::model::latency_rows(&out.relay.latency.histogram);

    let hops_total: u64 = out.relay.latency.hops.iter().sum();
    let hops_mean = if hops_total == 0 {
        0.0
    } else {
        out.relay
            .latency
            .hops
            .iter()
            .enumerate()
            .map(|(h, c)| h as f64 * *c as f64)
            .sum::<f64>()
            / hops_total as f64
    };
    let mut extra = vec![
        ("latency_mean_ms".to_owned(), out.relay.latency.mean_ms),
        ("duplicates_p95".to_owned(), out.relay.duplicates.p95),
        ("hops_mean".to_owned(), hops_mean),
        (
            "publish_no_peers".to_owned(),
            out.relay.publishing.no_peers as f64,
        ),
        (
            "publish_too_large".to_owned(),
            out.relay.publishing.too_large as f64,
        ),
    ];
    for (name, v) in &out.drops {
        extra.push((format!("drops_{name}"), *v as f64));
    }
    // With implementation groups: the mean mesh size over every group, weighted by nodes.
    let imps = &out.relay.implementations;
    if !imps.is_empty() {
        let (sum, w) = imps
            .iter()
            .filter(|m| m.mesh_mean.is_finite())
            .fold((0.0, 0.0), |a, m| {
                (a.0 + m.mesh_mean * m.nodes as f64, a.1 + m.nodes as f64)
            });
        extra.push((
            "mesh_size_mean".to_owned(),
            if w > 0.0 { sum / w } else { f64::NAN },
        ));
    }
    // Per implementation group: impl_<label>_* (the label with `-` as `_`).
    for (gi, m) in out.relay.implementations.iter().enumerate() {
        let key = m.name.replace('-', "_");
        let members: Vec<usize> = (0..n)
            .filter(|&i| out.relay.impl_of.get(i).is_some_and(|&g| g as usize == gi))
            .collect();
        let rate = |dir: usize| -> f64 {
            if members.is_empty() {
                return f64::NAN;
            }
            members
                .iter()
                .map(|&i| {
                    let t = &bw.per_node[i];
                    let v = if dir == 0 { &t.bytes_in } else { &t.bytes_out };
                    v.iter().sum::<u64>() as f64 / window
                })
                .sum::<f64>()
                / members.len() as f64
        };
        for (col, v) in [
            ("nodes", m.nodes as f64),
            ("mesh_size_mean", m.mesh_mean),
            ("latency_mean_ms", m.latency_mean_ms),
            ("latency_p95_ms", m.latency_p95_ms),
            ("duplicates_mean", m.duplicates_mean),
            ("bytes_in_per_sec_mean", rate(0)),
            ("bytes_out_per_sec_mean", rate(1)),
        ] {
            extra.push((format!("impl_{key}_{col}"), v));
        }
    }
    extra.extend(overlay.summary);
    let dissemination = dissemination_report(out);
    extra.extend(dissemination.summary);
    let rln_tables = super::rln::report(out, &mut extra);
    let (disc_summary, disc_table) = super::discovery::report(out, topics);
    extra.extend(disc_summary);
    let rdv = super::rendezvous::report(out, window);
    extra.extend(rdv.summary);
    let store = super::store::report(out);
    if let Some(st) = &store {
        extra.extend(st.summary.iter().cloned());
        timeseries.extend(st.series.iter().cloned());
    }

    // Without a message in the measured window, delivery, latency and duplicates are
    // undefined: NaN, written as empty cells.
    let none = out.relay.delivery.messages == 0;
    let defined = |x: f64| if none { f64::NAN } else { x };
    for (name, v) in &mut extra {
        if ["latency_mean_ms", "duplicates_p95", "hops_mean"].contains(&name.as_str()) {
            *v = defined(*v);
        }
    }
    let summary = Summary {
        nodes: n as u64,
        sim_seconds: out.sim_seconds,
        messages_published: out.relay.delivery.messages,
        delivery_rate_mean: defined(out.relay.delivery.mean),
        delivery_rate_min: defined(out.relay.delivery.worst),
        messages_not_fully_delivered: out.relay.delivery.not_fully_delivered,
        latency_p50_ms: defined(out.relay.latency.p50_ms),
        latency_p95_ms: defined(out.relay.latency.p95_ms),
        latency_p99_ms: defined(out.relay.latency.p99_ms),
        latency_max_ms: defined(out.relay.latency.max_ms),
        duplicates_mean: defined(out.relay.duplicates.mean),
        bandwidth_in_mean_bytes_per_sec: totals[0].mean,
        bandwidth_out_mean_bytes_per_sec: totals[1].mean,
        bandwidth_in_p95_bytes_per_sec: totals[0].p95,
        bandwidth_out_p95_bytes_per_sec: totals[1].p95,
        extra,
    };

    let tables =
        vec![
            ExtraTable {
                file_name: "hops.csv".to_owned(),
                header: vec!["hops".into(), "first_copies".into()],
                rows: out
                    .relay
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
                    .relay
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
                    "dissemination_p50_ms",
                    "dissemination_p90_ms",
                    "dissemination_p95_ms",
                    "dissemination_p99_ms",
                    "dissemination_max_ms",
                ]
                .map(String::from)
                .to_vec(),
                rows: out
                    .relay
                    .delivery
                    .per_message
                    .iter()
                    .map(|m| {
                        let mut row = vec![
                            crate::output::fmt_f64(m.publish_s),
                            m.publisher.to_string(),
                            m.topic.to_string(),
                            m.data_bytes.to_string(),
                            m.eligible.to_string(),
                            m.delivered.to_string(),
                            m.no_peers.to_string(),
                        ];
                        // A level never reached is an empty cell.
                        row.extend(SUMMARY_LEVELS.iter().map(|&(_, l)| {
                            level_ms(m.dissemination_ns[l]).map_or(String::new(), fmt)
                        }));
                        row
                    })
                    .collect(),
            },
            ExtraTable {
                file_name: "counters.csv".to_owned(),
                header: vec!["counter".into(), "value".into()],
                rows: out
                    .relay
                    .counters
                    .iter()
                    .map(|(k, v)| vec![format!("relay/{k}"), v.to_string()])
                    .chain(
                        out.peer_manager
                            .counters
                            .iter()
                            .map(|(k, v)| vec![format!("peer_manager/{k}"), v.to_string()]),
                    )
                    .chain(
                        out.drops
                            .iter()
                            .map(|(k, v)| vec![format!("drop/{k}"), v.to_string()]),
                    )
                    .chain(
                        out.rln
                            .iter()
                            .flat_map(|r| r.counters.iter())
                            .map(|(k, v)| vec![format!("rln/{k}"), v.to_string()]),
                    )
                    .chain(
                        out.discovery
                            .iter()
                            .flat_map(|d| d.discv5.iter())
                            .map(|(k, v)| vec![format!("discv5/{k}"), v.to_string()]),
                    )
                    .chain(
                        out.discovery
                            .iter()
                            .flat_map(|d| d.peer_exchange.iter())
                            .map(|(k, v)| vec![format!("peer_exchange/{k}"), v.to_string()]),
                    )
                    .chain(rdv.counters)
                    .chain(store.iter().flat_map(|st| st.counters.iter().cloned()))
                    .collect(),
            },
        ];
    let mut tables = tables;
    tables.push(dissemination.table);
    tables.extend(overlay.tables);
    tables.extend(rln_tables.into_iter().flatten());
    tables.extend(disc_table);
    tables.extend(rdv.tables);
    if let Some(st) = store {
        tables.extend(st.tables);
    }

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

/// The dissemination levels in `summary.csv` and `messages.csv`: (column name part, index in
/// [`LEVELS_PERMILLE`]).
const SUMMARY_LEVELS: [(&str, usize); 5] = [
    ("p50", dissemination::P50),
    ("p90", dissemination::P90),
    ("p95", dissemination::P95),
    ("p99", dissemination::P99),
    ("max", dissemination::MAX),
];

/// A level time in milliseconds, `None` when not reached.
fn level_ms(ns: u64) -> Option<f64> {
    (ns != NOT_REACHED).then(|| ns as f64 / 1e6)
}

/// Per-message dissemination across messages: summary values and `dissemination.csv`.
struct DisseminationReport {
    summary: Vec<(String, f64)>,
    table: ExtraTable,
}

/// Statistics across counted messages of the time each dissemination level was reached.
/// A message that never reached a level is left out of that level's statistics (its time is
/// unbounded); `dissemination_max_reached_fraction` (and `messages_reached` in the table) say
/// how many did. A level no message reached has undefined statistics: NaN (empty cells).
fn dissemination_report(out: &SimOutput) -> DisseminationReport {
    let msgs = &out.relay.delivery.per_message;
    let per_level: Vec<Vec<f64>> = (0..dissemination::LEVELS)
        .map(|l| {
            msgs.iter()
                .filter_map(|m| level_ms(m.dissemination_ns[l]))
                .collect()
        })
        .collect();
    let stats = |l: usize| {
        let v = &per_level[l];
        let st = Stats::of(v);
        if v.is_empty() {
            [f64::NAN; 4]
        } else {
            [st.mean, st.p50, st.p95, st.max]
        }
    };
    let mut summary = Vec::new();
    for (name, l) in SUMMARY_LEVELS {
        for (stat, v) in ["mean", "p50", "p95", "max"].iter().zip(stats(l)) {
            summary.push((format!("dissemination_{name}_{stat}_ms"), v));
        }
    }
    summary.push((
        "dissemination_max_reached_fraction".to_owned(),
        if msgs.is_empty() {
            f64::NAN
        } else {
            per_level[dissemination::MAX].len() as f64 / msgs.len() as f64
        },
    ));
    let cell = |v: f64| if v.is_nan() { String::new() } else { fmt(v) };
    let table = ExtraTable {
        file_name: DISSEMINATION_FILE.to_owned(),
        header: [
            "level",
            "messages_reached",
            "mean_ms",
            "p50_ms",
            "p95_ms",
            "max_ms",
        ]
        .map(String::from)
        .to_vec(),
        rows: (0..dissemination::LEVELS)
            .map(|l| {
                let mut row = vec![
                    fmt(LEVELS_PERMILLE[l] as f64 / 1000.0),
                    per_level[l].len().to_string(),
                ];
                row.extend(stats(l).map(cell));
                row
            })
            .collect(),
    };
    DisseminationReport { summary, table }
}

/// The overlay's part of the report: per-shard and per-node tables, series, summary values.
struct OverlayReport {
    series: Vec<TimePoint>,
    summary: Vec<(String, f64)>,
    tables: Vec<ExtraTable>,
}

fn fmt(x: f64) -> String {
    crate::output::fmt_f64(x)
}

fn overlay_report(
    s: &Scenario<WakuParams>,
    out: &SimOutput,
    groups: &[String],
    topics: &[String],
    subs: &[Vec<u16>],
    window: f64,
) -> OverlayReport {
    let warm = s.common.run.warmup_s;
    let mut series = Vec::new();
    let mut summary = Vec::new();

    // Mesh health over every (node, shard) subscription, per sample.
    let mut k = 0;
    let h = &out.overlay.shard_health;
    let (mut measured, mut unhealthy_sum, mut healthy_sum) = (0u32, 0.0, 0.0);
    while k < h.len() {
        let t = h[k].t_s;
        let (mut n, mut un, mut mi, mut he, mut bad_shards) = (0u64, 0u64, 0u64, 0u64, 0u32);
        while k < h.len() && h[k].t_s == t {
            n += h[k].subscribers as u64;
            un += h[k].unhealthy as u64;
            mi += h[k].minimally_healthy as u64;
            he += h[k].healthy as u64;
            bad_shards += (h[k].unhealthy > 0) as u32;
            k += 1;
        }
        let n = n.max(1) as f64;
        for (name, value) in [
            ("mesh_unhealthy_fraction", un as f64 / n),
            ("mesh_minimally_healthy_fraction", mi as f64 / n),
            ("mesh_healthy_fraction", he as f64 / n),
            ("shards_with_unhealthy_nodes", bad_shards as f64),
        ] {
            series.push(TimePoint {
                time_s: t,
                metric: name.to_owned(),
                value,
            });
        }
        if t > warm {
            measured += 1;
            unhealthy_sum += un as f64 / n;
            healthy_sum += he as f64 / n;
        }
    }
    let m = measured.max(1) as f64;
    summary.push(("mesh_unhealthy_fraction".to_owned(), unhealthy_sum / m));
    summary.push(("mesh_healthy_fraction".to_owned(), healthy_sum / m));

    // Connections per node, per sample.
    for c in &out.overlay.connections {
        for (name, value) in [
            ("connections_mean", c.mean),
            ("connections_p95", c.p95),
            ("connections_min", c.min as f64),
            ("connections_max", c.max as f64),
            ("connections_inbound_mean", c.inbound_mean),
            ("connections_outbound_mean", c.outbound_mean),
            ("nodes_below_out_target", c.below_out_target as f64),
        ] {
            series.push(TimePoint {
                time_s: c.t_s,
                metric: name.to_owned(),
                value,
            });
        }
    }
    if let Some(last) = out.overlay.connections.last() {
        summary.push(("connections_mean".to_owned(), last.mean));
        summary.push((
            "connections_max".to_owned(),
            out.overlay
                .connections
                .iter()
                .map(|c| c.max)
                .max()
                .unwrap_or(0) as f64,
        ));
        summary.push((
            "nodes_below_out_target".to_owned(),
            last.below_out_target as f64,
        ));
    }

    // Per node: connections, shards, bandwidth.
    let bw = &out.bandwidth;
    let totals: Vec<(f64, f64)> = bw
        .per_node
        .iter()
        .map(|t| {
            (
                t.bytes_in.iter().sum::<u64>() as f64 / window,
                t.bytes_out.iter().sum::<u64>() as f64 / window,
            )
        })
        .collect();
    let mut connections = ExtraTable {
        file_name: "connections.csv".to_owned(),
        header: [
            "node",
            "group",
            "shards",
            "online",
            "connections",
            "inbound",
            "outbound",
            "relay",
            "service",
            "out_relay",
            "peer_store",
            "shards_unhealthy",
            "shards_minimally_healthy",
            "shards_healthy",
            "bytes_in_per_sec",
            "bytes_out_per_sec",
        ]
        .map(String::from)
        .to_vec(),
        rows: out
            .overlay
            .nodes
            .iter()
            .enumerate()
            .map(|(i, nd)| {
                let g = bw.per_node[i].group as usize;
                vec![
                    i.to_string(),
                    groups.get(g).cloned().unwrap_or_default(),
                    nd.shards.to_string(),
                    nd.online.to_string(),
                    nd.conns.total().to_string(),
                    nd.conns.inbound.to_string(),
                    nd.conns.outbound.to_string(),
                    nd.conns.relay.to_string(),
                    nd.conns.service.to_string(),
                    nd.conns.out_relay.to_string(),
                    nd.peer_store.to_string(),
                    nd.health[0].to_string(),
                    nd.health[1].to_string(),
                    nd.health[2].to_string(),
                    fmt(totals[i].0),
                    fmt(totals[i].1),
                ]
            })
            .collect(),
    };
    // With implementation groups: each node's group label.
    let imps = &out.relay.implementations;
    if !imps.is_empty() {
        connections.header.push("implementation".to_owned());
        for (i, row) in connections.rows.iter_mut().enumerate() {
            let g = out.relay.impl_of.get(i).copied().unwrap_or(0) as usize;
            row.push(imps.get(g).map(|m| m.name.clone()).unwrap_or_default());
        }
    }

    // Bandwidth by number of shards subscribed.
    let mut by_count: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for (i, nd) in out.overlay.nodes.iter().enumerate() {
        by_count.entry(nd.shards).or_default().push(i);
    }
    let shard_counts = ExtraTable {
        file_name: "shard_counts.csv".to_owned(),
        header: [
            "shards",
            "nodes",
            "bytes_in_per_sec_mean",
            "bytes_in_per_sec_p50",
            "bytes_in_per_sec_p95",
            "bytes_out_per_sec_mean",
            "bytes_out_per_sec_p50",
            "bytes_out_per_sec_p95",
            "connections_mean",
        ]
        .map(String::from)
        .to_vec(),
        rows: by_count
            .iter()
            .map(|(count, members)| {
                let ins: Vec<f64> = members.iter().map(|&i| totals[i].0).collect();
                let outs: Vec<f64> = members.iter().map(|&i| totals[i].1).collect();
                let (a, b) = (Stats::of(&ins), Stats::of(&outs));
                let conns = members
                    .iter()
                    .map(|&i| out.overlay.nodes[i].conns.total() as f64)
                    .sum::<f64>()
                    / members.len() as f64;
                vec![
                    count.to_string(),
                    members.len().to_string(),
                    fmt(a.mean),
                    fmt(a.p50),
                    fmt(a.p95),
                    fmt(b.mean),
                    fmt(b.p50),
                    fmt(b.p95),
                    fmt(conns),
                ]
            })
            .collect(),
    };

    // Per shard: subscribers, publishers, delivery, traffic, health.
    let nt = topics.len();
    let mut subscribers = vec![0u32; nt];
    for v in subs {
        for &t in v {
            subscribers[t as usize] += 1;
        }
    }
    let mut msgs = vec![(0u64, 0.0f64, 1.0f64); nt];
    let mut publishers: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); nt];
    for m in &out.relay.delivery.per_message {
        let t = m.topic as usize;
        let f = m.delivered as f64 / m.eligible as f64;
        msgs[t].0 += 1;
        msgs[t].1 += f;
        msgs[t].2 = msgs[t].2.min(f);
        publishers[t].insert(m.publisher);
    }
    // Time-averaged health after the warm-up, and the last sample.
    let mut avg = vec![(0u64, 0u64, 0u64, 0u64); nt];
    let mut last: Vec<Option<&protocols::sharding::health::ShardHealth>> = vec![None; nt];
    for x in h {
        let t = x.topic as usize;
        if x.t_s > warm {
            avg[t].0 += x.subscribers as u64;
            avg[t].1 += x.unhealthy as u64;
            avg[t].2 += x.minimally_healthy as u64;
            avg[t].3 += x.healthy as u64;
        }
        last[t] = Some(x);
    }
    let frac = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let shards = ExtraTable {
        file_name: "shards.csv".to_owned(),
        header: [
            "shard",
            "pubsub_topic",
            "subscribers",
            "publishers",
            "messages",
            "delivery_rate_mean",
            "delivery_rate_min",
            "relay_bytes_out_per_sec",
            "relay_bytes_out_per_sec_per_subscriber",
            "unhealthy_fraction",
            "minimally_healthy_fraction",
            "healthy_fraction",
            "unhealthy_final",
            "minimally_healthy_final",
            "healthy_final",
            "mesh_mean_final",
        ]
        .map(String::from)
        .to_vec(),
        rows: (0..nt)
            .map(|t| {
                let (n, sum, worst) = msgs[t];
                let bytes = out.relay.topic_bytes_out.get(t).copied().unwrap_or(0) as f64 / window;
                let l = last[t];
                vec![
                    t.to_string(),
                    topics[t].clone(),
                    subscribers[t].to_string(),
                    publishers[t].len().to_string(),
                    n.to_string(),
                    // A shard without messages has no delivery rate: an empty cell.
                    if n == 0 {
                        String::new()
                    } else {
                        fmt(sum / n as f64)
                    },
                    if n == 0 { String::new() } else { fmt(worst) },
                    fmt(bytes),
                    fmt(bytes / subscribers[t].max(1) as f64),
                    fmt(frac(avg[t].1, avg[t].0)),
                    fmt(frac(avg[t].2, avg[t].0)),
                    fmt(frac(avg[t].3, avg[t].0)),
                    l.map_or(0, |x| x.unhealthy).to_string(),
                    l.map_or(0, |x| x.minimally_healthy).to_string(),
                    l.map_or(0, |x| x.healthy).to_string(),
                    fmt(l.map_or(0.0, |x| x.mesh_mean)),
                ]
            })
            .collect(),
    };
    let shard_health = ExtraTable {
        file_name: "shard_health.csv".to_owned(),
        header: [
            "time_s",
            "shard",
            "subscribers",
            "unhealthy",
            "minimally_healthy",
            "healthy",
            "mesh_mean",
        ]
        .map(String::from)
        .to_vec(),
        rows: h
            .iter()
            .map(|x| {
                vec![
                    fmt(x.t_s),
                    x.topic.to_string(),
                    x.subscribers.to_string(),
                    x.unhealthy.to_string(),
                    x.minimally_healthy.to_string(),
                    x.healthy.to_string(),
                    fmt(x.mesh_mean),
                ]
            })
            .collect(),
    };
    OverlayReport {
        series,
        summary,
        tables: vec![shards, shard_health, connections, shard_counts],
    }
}
