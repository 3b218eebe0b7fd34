//! `[store]`: store v3, store sync and p2p reliability
//! ([`protocols::store::StoreConfig`]); store nodes are the nodes with role `store`. Maps the
//! section to the harness's [`StoreInput`] and writes the store's result rows: `store.csv`
//! (per store node over time), `store_syncs.csv` (per sync), `store_convergence.csv`, the
//! store counters in `counters.csv`, summary columns and time series.

use protocols::harness::{SimOutput, StoreInput};
use protocols::store::StoreConfig;
use sim_core::NodeId;
use topologies::{Network, Role};

use super::{WakuParams, config_error};
use crate::model::{ExtraTable, FieldError, TimePoint};
use crate::output::fmt_f64;

/// Checks `[store]`: its fields, and that some group has role `store`.
pub(super) fn validate(p: &WakuParams, errors: &mut Vec<FieldError>) {
    let Some(st) = &p.store else {
        return;
    };
    if let Err(e) = st.validate() {
        errors.push(config_error(e));
    }
    if !p.network.groups.iter().any(|g| g.role == Role::Store) {
        errors.push(FieldError::new(
            "store",
            "no node has role \"store\": add a [[network.groups]] with role = \"store\" \
             (e.g. count = 4), or remove [store]",
        ));
    }
}

/// The harness input: the section and the nodes with role `store`.
pub(super) fn input(cfg: &Option<StoreConfig>, net: &Network) -> Option<StoreInput> {
    cfg.clone().map(|config| StoreInput {
        config,
        nodes: net
            .attrs
            .iter()
            .enumerate()
            .filter(|(_, a)| a.role == Role::Store)
            .map(|(i, _)| NodeId(i as u32))
            .collect(),
    })
}

/// The store's time series (per sample time, over store nodes).
pub(super) const SERIES: [&str; 4] = [
    "store_missing_mean",
    "store_missing_max",
    "store_rows_mean",
    "store_bytes_mean",
];

/// The store's rows: series, summary columns, tables, counters.
pub(super) struct StoreReport {
    pub(super) series: Vec<TimePoint>,
    pub(super) summary: Vec<(String, f64)>,
    pub(super) tables: Vec<ExtraTable>,
    pub(super) counters: Vec<Vec<String>>,
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

pub(super) fn report(out: &SimOutput) -> Option<StoreReport> {
    let st = &out.store;
    if st.nodes.is_empty() {
        return None;
    }
    let mut series = Vec::new();
    let mut k = 0;
    while k < st.samples.len() {
        let t = st.samples[k].t_s;
        let mut j = k;
        while j < st.samples.len() && st.samples[j].t_s == t {
            j += 1;
        }
        let g = &st.samples[k..j];
        for (name, v) in [
            (
                "store_missing_mean",
                mean(g.iter().map(|s| s.missing as f64)),
            ),
            (
                "store_missing_max",
                g.iter().map(|s| s.missing).max().unwrap_or(0) as f64,
            ),
            ("store_rows_mean", mean(g.iter().map(|s| s.rows as f64))),
            ("store_bytes_mean", mean(g.iter().map(|s| s.bytes as f64))),
        ] {
            series.push(TimePoint {
                time_s: t,
                metric: name.to_owned(),
                value: v,
            });
        }
        k = j;
    }
    let last_t = st.samples.last().map(|s| s.t_s);
    let last: Vec<_> = st
        .samples
        .iter()
        .filter(|s| Some(s.t_s) == last_t)
        .collect();
    let syncs = &st.syncs;
    let sm = |f: &dyn Fn(&protocols::store_sync::SyncRecord) -> f64| mean(syncs.iter().map(f));
    let converge: Vec<f64> = st
        .convergence
        .iter()
        .map(|c| c.converged_after_s.unwrap_or(f64::NAN))
        .collect();
    let nan0 = |n: u64, v: f64| if n == 0 { f64::NAN } else { v };
    let summary = vec![
        ("store_nodes".to_owned(), st.nodes.len() as f64),
        (
            "store_missing_mean_final".to_owned(),
            mean(last.iter().map(|s| s.missing as f64)),
        ),
        (
            "store_missing_max_final".to_owned(),
            last.iter().map(|s| s.missing).max().unwrap_or(0) as f64,
        ),
        (
            "store_rows_mean_final".to_owned(),
            mean(last.iter().map(|s| s.rows as f64)),
        ),
        (
            "store_bytes_mean_final".to_owned(),
            mean(last.iter().map(|s| s.bytes as f64)),
        ),
        ("store_syncs".to_owned(), syncs.len() as f64),
        (
            "store_sync_round_trips_mean".to_owned(),
            sm(&|s| s.round_trips() as f64),
        ),
        (
            "store_sync_recon_bytes_mean".to_owned(),
            sm(&|s| s.recon_bytes as f64),
        ),
        (
            "store_sync_transfer_bytes_mean".to_owned(),
            sm(&|s| s.transfer_bytes as f64),
        ),
        (
            "store_sync_naive_bytes_mean".to_owned(),
            sm(&|s| s.naive_bytes as f64),
        ),
        (
            "store_convergence_s_max".to_owned(),
            // Over the rows that converged (`store_unconverged` counts the others).
            converge
                .iter()
                .filter(|x| !x.is_nan())
                .cloned()
                .fold(f64::NAN, f64::max),
        ),
        (
            "store_unconverged".to_owned(),
            st.convergence
                .iter()
                .filter(|c| c.converged_after_s.is_none())
                .count() as f64,
        ),
        (
            "store_lacking_at_end".to_owned(),
            st.convergence.iter().map(|c| c.lacking_at_end as f64).sum(),
        ),
        (
            "store_queries_served".to_owned(),
            st.counter("queries_served") as f64,
        ),
        (
            "store_query_latency_p50_ms".to_owned(),
            nan0(st.query_latency.0, st.query_latency.1),
        ),
        (
            "store_query_latency_p95_ms".to_owned(),
            nan0(st.query_latency.0, st.query_latency.2),
        ),
        (
            "store_recovered".to_owned(),
            st.counter("receiver_recovered") as f64,
        ),
        (
            "store_recovery_delay_p50_ms".to_owned(),
            nan0(st.recovery_delay.0, st.recovery_delay.1),
        ),
        (
            "store_recovery_delay_p95_ms".to_owned(),
            nan0(st.recovery_delay.0, st.recovery_delay.2),
        ),
    ];
    let s = |x: &dyn ToString| x.to_string();
    let tables = vec![
        ExtraTable {
            file_name: "store.csv".to_owned(),
            header: [
                "t_s",
                "node",
                "online",
                "rows",
                "bytes",
                "missing",
                "queries_served",
                "recovered",
            ]
            .map(String::from)
            .to_vec(),
            rows: st
                .samples
                .iter()
                .map(|x| {
                    vec![
                        fmt_f64(x.t_s),
                        s(&x.node),
                        s(&x.online),
                        s(&x.rows),
                        s(&x.bytes),
                        s(&x.missing),
                        s(&st
                            .served_per_node
                            .get(x.node as usize)
                            .copied()
                            .unwrap_or(0)),
                        s(&st
                            .recovered_per_node
                            .get(x.node as usize)
                            .copied()
                            .unwrap_or(0)),
                    ]
                })
                .collect(),
        },
        ExtraTable {
            file_name: "store_syncs.csv".to_owned(),
            header: [
                "at_s",
                "node",
                "peer",
                "duration_ms",
                "payloads",
                "round_trips",
                "recon_bytes",
                "transfer_bytes",
                "naive_bytes",
                "sent",
                "received",
                "window_items",
            ]
            .map(String::from)
            .to_vec(),
            rows: syncs
                .iter()
                .map(|r| {
                    vec![
                        fmt_f64(r.at.as_secs_f64()),
                        s(&r.node.0),
                        s(&r.peer.0),
                        fmt_f64(r.duration.as_nanos() as f64 / 1e6),
                        s(&r.payloads),
                        s(&r.round_trips()),
                        s(&r.recon_bytes),
                        s(&r.transfer_bytes),
                        s(&r.naive_bytes),
                        s(&r.sent),
                        s(&r.received),
                        s(&r.window_items),
                    ]
                })
                .collect(),
        },
        ExtraTable {
            file_name: "store_convergence.csv".to_owned(),
            header: [
                "node",
                "event",
                "at_s",
                "converged_after_s",
                "lacking_at_end",
            ]
            .map(String::from)
            .to_vec(),
            rows: st
                .convergence
                .iter()
                .map(|c| {
                    vec![
                        s(&c.node),
                        c.event.to_owned(),
                        fmt_f64(c.at_s),
                        c.converged_after_s.map(fmt_f64).unwrap_or_default(),
                        s(&c.lacking_at_end),
                    ]
                })
                .collect(),
        },
    ];
    let counters = st
        .counters
        .iter()
        .map(|(k, v)| vec![format!("store/{k}"), v.to_string()])
        .collect();
    Some(StoreReport {
        series,
        summary,
        tables,
        counters,
    })
}
