//! The checks of a Waku scenario that look past its fields one at a time: the topology file
//! (read and checked), whether the peer managers can reach their targets, message sizes against
//! the relay's limit, the measured window, publisher counts, the time series a run produces,
//! and the memory a run needs. `wakusim validate` and `wakusim run` (before anything starts)
//! both run them.

use protocols::relay::message::WakuMessageShape;
use protocols::workload::{PayloadSize, Publishers};
use topologies::TopologySpec;

use super::{MAX_PER_SHARD_SERIES, OverlayMode, WakuParams, topology_error};
use crate::model::{FieldError, MemoryEstimate, RunSection, Scenario};
use crate::scale::{EstimateInputs, estimate_bytes_per_node};

/// What the checks learn about the network: its node count (from `network.nodes`, or read
/// from the topology file) and its mean number of connections per node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Shape {
    pub nodes: usize,
    pub mean_degree: f64,
}

/// The network's node count and mean degree; a topology file is read (and every problem in it
/// reported against `network.topology.path`). `None` when it cannot be known (an error was
/// pushed).
pub(super) fn shape(p: &WakuParams, errors: &mut Vec<FieldError>) -> Option<Shape> {
    let net = &p.network;
    let (nodes, graph_degree) = match &net.topology {
        TopologySpec::File { path, .. } => {
            let loaded = match net.nodes {
                Some(n) => net.topology.build(n, 0),
                None => net.topology.load_file().expect("a file topology"),
            };
            match loaded {
                Ok(g) => {
                    let n = g.node_count() as usize;
                    (n, 2.0 * g.edge_count() as f64 / n.max(1) as f64)
                }
                Err(e) => {
                    errors.push(FieldError::new(
                        "network.topology.path",
                        format!(
                            "cannot use the topology file {}: {e}; fix the file (the format is \
                             in docs/scenario-format.md)",
                            path.display()
                        ),
                    ));
                    return None;
                }
            }
        }
        other => {
            let n = net.nodes? as usize;
            let nf = n as f64;
            let degree = match *other {
                TopologySpec::Dial { outbound, .. } => {
                    if n > 0 && outbound as usize >= n {
                        errors.push(topology_error(&topologies::TopologyError::invalid(
                            "topology.outbound",
                            outbound,
                            format!(
                                "must be less than network.nodes ({n}): a node can dial at most \
                                 {} distinct peers; lower outbound or raise nodes",
                                n - 1
                            ),
                        )));
                        return None;
                    }
                    2.0 * f64::from(outbound)
                }
                TopologySpec::RandomRegular { degree } => f64::from(degree),
                TopologySpec::ErdosRenyi { p } => p * (nf - 1.0),
                TopologySpec::BarabasiAlbert { m } => 2.0 * f64::from(m),
                TopologySpec::WattsStrogatz { k, .. } => f64::from(k),
                TopologySpec::Complete => nf - 1.0,
                TopologySpec::Ring | TopologySpec::Line => 2.0,
                TopologySpec::File { .. } => unreachable!("matched above"),
            };
            (n, degree)
        }
    };
    let mean_degree = if p.overlay.runs_peer_manager() && p.overlay.mode == OverlayMode::Emergent {
        // An emergent overlay: the peer managers fill their relay slots (computed as
        // `PeerManagerConfig::limits` does, without overflow: `[peer_manager]` is not checked
        // yet).
        let pm = &p.peer_manager;
        let relay = (u64::from(pm.max_connections) * u64::from(pm.relay_percent)).div_ceil(100);
        (relay as f64).min(nodes.saturating_sub(1) as f64)
    } else {
        graph_degree
    };
    Some(Shape { nodes, mean_degree })
}

/// The checks that need the network's shape.
pub(super) fn validate(s: &Scenario<WakuParams>, shape: Shape, errors: &mut Vec<FieldError>) {
    let p = &s.params;
    let n = shape.nodes;
    // A peer manager that can never reach its outbound target dials forever.
    if p.overlay.runs_peer_manager() {
        let target = p.peer_manager.limits().out_target as usize;
        if n.saturating_sub(1) < target {
            let (field, from_file) = match p.network.nodes {
                Some(_) => ("network.nodes", ""),
                None => ("network.topology.path", " (the topology file's)"),
            };
            errors.push(FieldError::new(
                field,
                format!(
                    "{n} nodes{from_file} leave each node {} peers, but the peer manager wants {target} \
                     outbound relay peers (a third of peer_manager.max_connections x \
                     relay_percent / 100), so it can never reach its target: raise \
                     network.nodes to at least {}, lower peer_manager.max_connections, or set \
                     overlay.peer_manager = false",
                    n.saturating_sub(1),
                    target + 1
                ),
            ));
        }
    }
    let run = &s.common.run;
    let grace = p.metrics.delivery_grace_s;
    let until = run.duration_s - grace;
    // Only a run that publishes has messages to measure (one without streams measures the
    // idle overlay: bandwidth, connections, mesh health).
    if until <= run.warmup_s && !p.workload.streams.is_empty() {
        errors.push(FieldError::new(
            "metrics.delivery_grace_s",
            format!(
                "messages are measured when published between the warm-up's end \
                 (run.warmup_s = {} s) and the grace period's start (run.duration_s - \
                 delivery_grace_s = {} - {grace} = {until} s), which leaves no time: lower \
                 delivery_grace_s or run.warmup_s, or raise run.duration_s",
                run.warmup_s, run.duration_s
            ),
        ));
    }
    let limit = p.relay.max_message_bytes;
    for (i, st) in p.workload.streams.iter().enumerate() {
        let f = |name: &str| format!("workload.streams[{i}].{name}");
        // The window this stream publishes in, within the measured one.
        let from = st.start_s.unwrap_or(run.warmup_s).max(run.warmup_s);
        let to = st.stop_s.unwrap_or(run.duration_s).min(until);
        if until > run.warmup_s && from >= to {
            errors.push(FieldError::new(
                f(if st.start_s.is_some() {
                    "start_s"
                } else {
                    "stop_s"
                }),
                format!(
                    "the stream publishes from {} s to {} s, and no message of it falls in the \
                     measured window ({} s to {until} s: run.warmup_s to run.duration_s - \
                     metrics.delivery_grace_s): move start_s / stop_s into it",
                    st.start_s.unwrap_or(run.warmup_s),
                    st.stop_s.unwrap_or(run.duration_s),
                    run.warmup_s
                ),
            ));
        }
        if let Publishers::Count(c) = st.publishers
            && c as usize > n
        {
            errors.push(FieldError::new(
                f("publishers.count"),
                format!(
                    "{c} publishers, but the network has {n} nodes: give at most {n} (or a \
                     fraction)"
                ),
            ));
        }
        let sizes: Vec<u32> = match &st.payload {
            PayloadSize::FixedBytes(b) => vec![*b],
            PayloadSize::Mix(m) => m.iter().map(|w| w.bytes).collect(),
        };
        for bytes in sizes {
            // The smallest encoding of the message (no signature in `meta` beyond the stream's
            // own): above the limit, every such message is refused at publication.
            let encoded = WakuMessageShape {
                payload_bytes: bytes,
                content_topic_bytes: st.content_topic.len() as u32,
                meta_bytes: st.meta_bytes,
                rln_proof: st.rln_proof,
                ephemeral: st.ephemeral,
            }
            .encoded_len();
            if encoded > limit {
                errors.push(FieldError::new(
                    f("payload"),
                    format!(
                        "a {bytes}-byte payload makes a {encoded}-byte WakuMessage, above \
                         relay.max_message_bytes = {limit}: nwaku refuses to publish it, so no \
                         such message would be sent; lower the payload or raise \
                         max_message_bytes"
                    ),
                ));
                break;
            }
        }
    }
}

/// The time-series metrics a run of `p` writes under a plain name (the names
/// `outputs.timeseries_plots` can give; names with a `:` suffix are per category or shard).
pub(super) fn timeseries_metrics(p: &WakuParams) -> Vec<String> {
    let topics = p.shards.count.clamp(1, 1024) as usize;
    let mut names = vec![
        "delivery_rate",
        "bytes_in_per_sec_per_node",
        "bytes_out_per_sec_per_node",
    ];
    if topics == 1 {
        names.extend([
            "mesh_degree_min",
            "mesh_degree_mean",
            "mesh_degree_p50",
            "mesh_degree_p95",
            "mesh_degree_max",
        ]);
    } else if topics > MAX_PER_SHARD_SERIES {
        names.extend(["mesh_degree_mean", "mesh_degree_min"]);
    }
    names.extend([
        "mesh_unhealthy_fraction",
        "mesh_minimally_healthy_fraction",
        "mesh_healthy_fraction",
        "shards_with_unhealthy_nodes",
        "connections_mean",
        "connections_p95",
        "connections_min",
        "connections_max",
        "connections_inbound_mean",
        "connections_outbound_mean",
        "nodes_below_out_target",
    ]);
    if p.store.is_some() {
        names.extend(super::store::SERIES);
    }
    names.into_iter().map(str::to_owned).collect()
}

/// The peak memory of a run: the memory budget per node measured at relay-10k's settings
/// ([`crate::scale::BUDGET`]), each row scaled with the run's connections per node and its
/// busiest shard's message rate, the TCP flows only with TCP on
/// ([`crate::scale::estimate_bytes_per_node`]: the rows' sum times the peak's slope, plus the
/// process's fixed part over the nodes), times the nodes.
pub(super) fn memory(p: &WakuParams, run: &RunSection, shape: Shape) -> MemoryEstimate {
    let rate = busiest_shard_messages_per_s(p, shape.nodes);
    let publishing_s = (run.duration_s - run.warmup_s).max(0.0);
    let x = EstimateInputs {
        nodes: shape.nodes as f64,
        mean_degree: shape.mean_degree,
        messages_per_s: rate,
        seen_window_s: (p.relay.seen_ttl_s as f64).min(publishing_s),
        tcp: p.network.tcp.enabled,
    };
    let per_node = estimate_bytes_per_node(x);
    MemoryEstimate {
        bytes: (shape.nodes as f64 * per_node) as u64,
        basis: format!(
            "{} nodes x {:.1} KB: the memory budget per node measured on relay-10k (bench \
             memory), scaled to about {:.0} connections per node and {} msg/s on the \
             busiest shard",
            shape.nodes,
            per_node / 1000.0,
            shape.mean_degree,
            crate::output::fmt_f64((rate * 100.0).round() / 100.0),
        ),
    }
}

/// Messages per second published on the busiest shard: each stream's publishers (a fraction of
/// the nodes counted as of all of them) over its interval; a stream on every topic counts on
/// each.
fn busiest_shard_messages_per_s(p: &WakuParams, nodes: usize) -> f64 {
    let mut every = 0.0;
    let mut per_topic: Vec<(u16, f64)> = Vec::new();
    for st in &p.workload.streams {
        let publishers = match &st.publishers {
            Publishers::Count(n) => f64::from(*n),
            Publishers::Fraction(f) => (f * nodes as f64).round().max(1.0),
            Publishers::Nodes(v) => v.len() as f64,
        };
        if st.interval_ms.is_nan() || st.interval_ms <= 0.0 {
            continue;
        }
        let rate = publishers * 1000.0 / st.interval_ms;
        if st.every_topic.is_some() {
            every += rate;
        } else {
            match per_topic.iter_mut().find(|(t, _)| *t == st.topic) {
                Some(e) => e.1 += rate,
                None => per_topic.push((st.topic, rate)),
            }
        }
    }
    every + per_topic.iter().map(|e| e.1).fold(0.0, f64::max)
}
