//! The Waku model: a network of nwaku-like relay nodes (gossipsub as nwaku configures it) on a
//! network described by the `topologies` crate, driven by the `protocols` harness.
//!
//! Scenario sections (see docs/scenario-format.md for every field):
//!
//! - `[network]`: nodes, topology, groups, regions, latency, bandwidth classes, faults
//!   ([`topologies::NetworkSpec`]);
//! - `[transport]`: the engine's network-model settings ([`TransportSpec`]);
//! - `[shards]`: cluster, shards, which node subscribes to which, protected shards
//!   ([`ShardSpec`]);
//! - `[overlay]`: wired from the topology, or built by each node's peer manager
//!   ([`OverlaySpec`]);
//! - `[peer_manager]`: nwaku's peer manager ([`protocols::peer_manager::PeerManagerConfig`]);
//! - `[relay]`: gossipsub parameters, nwaku's defaults ([`protocols::relay::config::RelayConfig`]);
//! - `[workload]`: message streams ([`protocols::workload::WorkloadConfig`]);
//! - `[metrics]`: measurement settings ([`MetricsSpec`]);
//! - `[identify]`: libp2p identify (off when absent);
//! - `[discovery]`: discovery protocols, `[discovery.discv5]` and `[discovery.rendezvous]`
//!   ([`DiscoverySpec`]; each off when absent);
//! - `[store]`: store v3, store sync and p2p reliability (off when absent).
//!
//! Besides the common files a run writes `shards.csv` (per shard: subscribers, delivery,
//! traffic, mesh health), `shard_health.csv` (mesh health per shard over time),
//! `connections.csv` (per node: connections, shards, bandwidth), `shard_counts.csv`
//! (bandwidth by number of shards subscribed), and the relay tables (`hops.csv`,
//! `duplicates.csv`, `messages.csv` (with each message's dissemination times),
//! `dissemination.csv` (per level across messages), `counters.csv`).

//!
//! Files: `network.rs` (`[network]`, `[transport]`), `sharding.rs` (`[shards]`), `relay.rs`
//! (`[relay]`), `peer_manager.rs` (`[overlay]`, `[peer_manager]`), each checking its sections
//! and mapping them to its part of the harness's [`SimInput`]; `report.rs` (the result rows).

mod checks;
mod discovery;
mod network;
mod peer_manager;
mod relay;
mod rendezvous;
mod report;
mod rln;
mod sharding;
mod store;

use serde::{Deserialize, Serialize};
use sim_core::{SimDuration, SimTime};

use protocols::harness::{self, AppInput, RunInput, SimInput};
use protocols::identify::IdentifyConfig;
use protocols::peer_manager::PeerManagerConfig;
use protocols::relay::config::RelayConfig;
use protocols::relay::message::Topics;
use protocols::rln::config::RlnConfig;
use protocols::store::StoreConfig;
use protocols::workload::WorkloadConfig;
use topologies::{NetworkSpec, TopologyError};

use crate::model::{FieldError, MemoryEstimate, Model, ModelError, Progress, RunResult, Scenario};

pub use discovery::{DiscoverySpec, Mechanism};
pub use network::TransportSpec;
pub use peer_manager::{OverlayMode, OverlaySpec, SourceSpec};
pub use sharding::ShardSpec;

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
    /// `[overlay]`: how the connections come about.
    #[serde(default)]
    pub overlay: OverlaySpec,
    /// `[peer_manager]`: nwaku's peer manager (when the overlay runs one).
    #[serde(default)]
    pub peer_manager: PeerManagerConfig,
    /// `[relay]`: gossipsub parameters (nwaku's defaults).
    #[serde(default)]
    pub relay: RelayConfig,
    /// `[workload]`: who publishes what, when.
    #[serde(default)]
    pub workload: WorkloadConfig,
    /// `[metrics]`: measurement settings.
    #[serde(default)]
    pub metrics: MetricsSpec,
    /// `[identify]`: libp2p identify on every connection (absent: off). Its bytes show in
    /// `bandwidth.csv` as `identify/request` and `identify/response`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identify: Option<IdentifyConfig>,
    /// `[rln]`: RLN rate limiting (absent: off). Writes `rln.csv`, `rln_spam.csv`, `rln/*`
    /// counters and `rln_*` summary columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rln: Option<RlnConfig>,
    /// `[discovery]`: discovery protocols feeding the peer managers (absent: none).
    #[serde(default, skip_serializing_if = "DiscoverySpec::is_off")]
    pub discovery: DiscoverySpec,
    /// `[store]`: store v3 on the nodes with role `store`, store sync and p2p reliability
    /// (absent: off). Writes `store.csv`, `store_syncs.csv`, `store_convergence.csv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreConfig>,
}

/// `[metrics]`: measurement settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSpec {
    /// Messages published less than this many seconds before the end do not count for
    /// delivery and latency (they had no time to arrive). Default 5.
    pub delivery_grace_s: f64,
    /// Seconds between two overlay samples: mesh health per shard (`shard_health.csv`) and
    /// connections per node. Default 10.
    pub overlay_sample_interval_s: f64,
}

impl Default for MetricsSpec {
    fn default() -> Self {
        MetricsSpec {
            delivery_grace_s: 5.0,
            overlay_sample_interval_s: 10.0,
        }
    }
}

/// Shards whose mesh degrees get their own time series (`mesh_degree_*:shard<k>`); beyond
/// this many shards only `shard_health.csv` has per-shard figures.
pub const MAX_PER_SHARD_SERIES: usize = 8;

fn config_error(e: protocols::relay::config::ConfigError) -> FieldError {
    FieldError::new(e.field.clone(), format!("{}; {}", e.problem, e.fix))
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
        network::validate(&p.network, &p.transport, &mut errors);
        sharding::validate_count(&p.shards, &mut errors);
        relay::validate(&p.relay, &mut errors);
        // The node count, read from the topology file when `network.nodes` is not given.
        let shape = if errors.is_empty() {
            checks::shape(p, &mut errors)
        } else {
            None
        };
        let nodes = shape.map_or(p.network.nodes.unwrap_or(u32::MAX) as usize, |s| s.nodes);
        let count = p.shards.count.clamp(1, 1024);
        if let Err(e) = p.workload.validate(nodes, count as usize) {
            errors.push(config_error(e));
        } else {
            let topics = Topics::shards(p.shards.cluster_id, count);
            let k = p.shards.autosharding_shards.unwrap_or(count as u32);
            if let Err(e) = p.workload.resolve(&topics, p.shards.cluster_id, k) {
                errors.push(config_error(e));
            }
        }
        let groups = group_names(&p.network);
        if let Some(r) = p.rln.as_ref().filter(|r| r.enabled) {
            let classes = p
                .network
                .bandwidth
                .classes()
                .map(|c| c.names())
                .unwrap_or_default();
            rln::validate(r, nodes, &classes, &mut errors);
        } else if let Some(i) = p.workload.streams.iter().position(|s| s.spam.is_some()) {
            errors.push(FieldError::new(
                format!("workload.streams[{i}].spam"),
                "RLN spammers need RLN: add an [rln] section or remove `spam`",
            ));
        }
        sharding::validate(&p.shards, count, &groups, &mut errors);
        peer_manager::validate(p, nodes, &groups, &mut errors);
        discovery::validate(p, nodes, &groups, &mut errors);
        store::validate(p, &mut errors);
        seconds(
            "metrics.delivery_grace_s",
            p.metrics.delivery_grace_s,
            false,
            &mut errors,
        );
        seconds(
            "metrics.overlay_sample_interval_s",
            p.metrics.overlay_sample_interval_s,
            true,
            &mut errors,
        );
        if let Some(shape) = shape
            && errors.is_empty()
        {
            checks::validate(s, shape, &mut errors);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn timeseries_metrics(s: &Scenario<WakuParams>) -> Option<Vec<String>> {
        Some(checks::timeseries_metrics(&s.params))
    }

    fn memory_estimate(s: &Scenario<WakuParams>) -> Option<MemoryEstimate> {
        let shape = checks::shape(&s.params, &mut Vec::new())?;
        Some(checks::memory(&s.params, &s.common.run, shape))
    }

    /// Nodes x simulated seconds (the nodes of a topology file without `network.nodes`
    /// counted from the file).
    fn cost_estimate(s: &Scenario<WakuParams>) -> f64 {
        let nodes = match s.params.network.nodes {
            Some(n) => Some(n as usize),
            None => checks::shape(&s.params, &mut Vec::new()).map(|sh| sh.nodes),
        };
        nodes.unwrap_or(1).max(1) as f64 * s.common.run.duration_s
    }

    fn notes(s: &Scenario<WakuParams>) -> Result<String, ModelError> {
        if !s.params.rln.as_ref().is_some_and(|r| r.enabled) {
            return Ok(String::new());
        }
        let (input, _, _, _) = input(s, s.common.run.seed)?;
        let caps = harness::rln_capacity(input).map_err(|e| ModelError::Other(e.to_string()))?;
        Ok(rln::capacity_lines(&caps))
    }

    fn run(
        s: &Scenario<WakuParams>,
        seed: u64,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<RunResult, ModelError> {
        run_with(s, seed, progress, None)
    }
}

/// [`Waku::run`], and when `memory` is given, the run's memory budget taken at its end
/// ([`harness::run_measured`]; `wakusim bench memory`).
pub fn run_with(
    s: &Scenario<WakuParams>,
    seed: u64,
    progress: &(dyn Fn(Progress) + Sync),
    memory: Option<&mut sim_core::memory::Memory>,
) -> Result<RunResult, ModelError> {
    let (input, names, topics, subs) = input(s, seed)?;
    let progress = |sim_time_s, events| progress(Progress { sim_time_s, events });
    let out = match memory {
        Some(m) => {
            let (out, budget) = harness::run_measured(input, &progress)
                .map_err(|e| ModelError::Other(e.to_string()))?;
            *m = budget;
            out
        }
        None => harness::run(input, &progress).map_err(|e| ModelError::Other(e.to_string()))?,
    };
    Ok(report::report(s, &out, &names, &topics, &subs))
}

/// The harness input of one run of `s` with `seed`, with the group names, topic names and
/// subscriptions the report needs.
#[allow(clippy::type_complexity)]
fn input(
    s: &Scenario<WakuParams>,
    seed: u64,
) -> Result<(SimInput, Vec<String>, Vec<String>, Vec<Vec<u16>>), ModelError> {
    {
        let p = &s.params;
        let run = &s.common.run;
        let duration_t = duration("run.duration_s", run.duration_s)?;
        let horizon = SimTime::ZERO + duration_t;
        let net = p
            .network
            .build(seed, horizon)
            .map_err(|e| ModelError::Field(topology_error(&e)))?;
        let n = net.node_count() as usize;
        let store_in = store::input(&p.store, &net);
        let edges = peer_manager::edges(&p.overlay, &net);
        let network = network::config(&p.transport, net.jitter, net.tcp.clone())?;
        let topics = sharding::topics(&p.shards);
        let groups: Vec<u32> = net.attrs.iter().map(|a| a.group as u32).collect();
        let net_groups = groups.clone();
        let names = group_names(&p.network);
        let subs = sharding::subscriptions(&p.shards, &groups, &names, seed);
        let pm = peer_manager::input(p, seed, n, &groups, &names, topics.len(), &subs);
        let rln = match p.rln.as_ref().filter(|r| r.enabled) {
            Some(r) => Some(rln::input(r, &net).map_err(ModelError::Field)?),
            None => None,
        };
        let roles: Vec<topologies::Role> = net.attrs.iter().map(|a| a.role).collect();
        let rdv = rendezvous::input(p.discovery.rendezvous(), &net_groups, &names, &roles);
        let input = SimInput {
            run: RunInput {
                seed,
                duration: duration_t,
                warmup: duration("run.warmup_s", run.warmup_s)?,
                series_interval: duration("run.series_interval_s", run.series_interval_s)?,
                delivery_grace: duration("metrics.delivery_grace_s", p.metrics.delivery_grace_s)?,
                overlay_sample_interval: duration(
                    "metrics.overlay_sample_interval_s",
                    p.metrics.overlay_sample_interval_s,
                )?,
                queue: None,
                defer_passive: true,
            },
            network: network::input(net, edges, network, groups),
            relay: relay::input(&p.relay, &p.shards),
            sharding: sharding::input(&p.shards, topics.clone(), subs.clone()),
            peer_manager: pm,
            identify: p.identify.clone(),
            rln,
            discv5: discovery::discv5_input(p, &net_groups, &names),
            peer_exchange: discovery::px_input(p, &net_groups, &names),
            rendezvous: rdv,
            store: store_in,
            app: AppInput {
                workload: p.workload.clone(),
                commands: Vec::new(),
            },
        };
        Ok((input, names, topics, subs))
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Mutex;

    use super::*;
    use crate::scenario::load_str;

    #[test]
    fn progress_reports_the_engines_event_count() {
        let text = "model = \"waku\"\n[run]\nduration_s = 3\n[network]\nnodes = 12\n\
                    [metrics]\ndelivery_grace_s = 1\n[[workload.streams]]\ntopic = 0\npublishers = { count = 2 }\ninterval_ms = 500\n";
        let s = load_str("t.toml", text, Path::new("."))
            .unwrap()
            .resolve::<Waku>()
            .unwrap();
        let seen = Mutex::new(Vec::new());
        let r = Waku::run(&s, 1, &|p| seen.lock().unwrap().push(p)).unwrap();
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 3, "once per simulated second");
        assert!(seen.windows(2).all(|w| w[0].events <= w[1].events));
        let last = seen.last().unwrap();
        assert_eq!(last.sim_time_s, 3.0);
        assert!(last.events > 0);
        assert_eq!(last.events, r.engine.events);
    }
}
