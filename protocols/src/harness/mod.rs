//! The run harness: builds an engine of [`WakuNode`]s from a described network
//! ([`SimInput`]), runs it, and returns raw, deterministic results ([`SimOutput`]) that the
//! experiments crate turns into files.
//!
//! The run is stepped at every simulated second and at every series boundary; at a series
//! boundary the mesh degrees are sampled, and the engine's byte counters are snapshotted when
//! the warm-up ends, so per-node bandwidth covers exactly the measured window. Every
//! `overlay_sample_interval` the overlay is sampled too: mesh health per shard
//! ([`crate::sharding::health`]) and connection counts per node.
//!
//! The overlay comes about in one of two ways, or both: `edges` wired at time 0 (a graph from
//! the topologies crate, for controlled studies), and, with `peer_manager` set, every node's
//! nwaku peer manager dialling peers from its `bootstrap` list (as the real network forms).

use std::rc::Rc;

use sim_core::metrics::DurationHistogram;
use sim_core::{
    Category, Counters, Direction, DropReason, Engine, EngineConfig, Fault, LatencyModel,
    LinkCapacity, NetworkConfig, NodeId, QueueKind, SimDuration, SimError, SimTime,
};

use crate::discovery::{Bootstrap, PeerSource};
use crate::identify::{IdentifyConfig, IdentifyShared};
use crate::node::registry::Member;
use crate::node::{NodeCommand, NodeShared, ProtocolShared, WakuNode, WakuTimer};
use crate::node::{WakuObserver, category_names, category_ranges};
use crate::peer_manager::{PeerManagerConfig, PmCounter, PmShared};
use crate::relay::Relay;
use crate::relay::config::{ConfigError, RelayConfig};
use crate::relay::message::{TopicIdx, Topics, shard_topic};
use crate::relay::metrics::{Eligibility, RelayMetrics};
use crate::relay::protected::ProtectedTopics;
use crate::relay::rpc::kind;
use crate::relay::{PublishOutcome, RelayCounter, RelayShared};
use crate::sharding::health::{ConnSample, HealthSampler, NodeConns, ShardHealth, classify};
use crate::wire::Transport;
use crate::workload::WorkloadConfig;

/// Node count from which the harness asks the engine for its radix-heap event queue (both
/// queues give identical runs; only speed differs). Measured on the relay-10k scenario: the
/// radix heap is about 25 % faster at 10,000 nodes, where the engine's own `Auto` choice
/// would still pick the binary heap; at 1,000 nodes they are even.
pub const RADIX_QUEUE_MIN_NODES: usize = 5_000;

/// Everything that describes one run.
pub struct SimInput {
    /// Number of nodes (ids `0..nodes`).
    pub nodes: usize,
    /// Connections, opened at time 0; the first node of each pair dials (outbound side).
    pub edges: Vec<(u32, u32)>,
    /// Per-node link capacity (one entry per node).
    pub capacities: Vec<LinkCapacity>,
    /// One-way latency between nodes.
    pub latency: Box<dyn LatencyModel>,
    /// Network model settings (jitter, loss, dial costs, backlog bound).
    pub network: NetworkConfig,
    /// Per-node group label index, echoed in the per-node bandwidth (empty: all 0).
    pub groups: Vec<u32>,
    /// Per-node IP group for P6 (nodes in one group share an IP; empty: all distinct).
    pub ip_groups: Vec<u32>,
    /// Pubsub topic names, indexed by topic (empty: the single shard `/waku/2/rs/1/0`).
    pub topics: Vec<String>,
    /// Per-node subscribed topic indices (empty: every node on topic 0).
    pub subscriptions: Vec<Vec<u16>>,
    /// The relay configuration.
    pub relay: RelayConfig,
    /// The workload.
    pub workload: WorkloadConfig,
    /// Faults and churn, at their times.
    pub faults: Vec<(SimTime, Fault)>,
    /// Scripted node commands, at their times.
    pub commands: Vec<(SimTime, NodeId, NodeCommand)>,
    /// Simulated time to run.
    pub duration: SimDuration,
    /// Initial period that metrics ignore (messages published before it do not count;
    /// bandwidth is measured after it).
    pub warmup: SimDuration,
    /// Width of a time-series interval.
    pub series_interval: SimDuration,
    /// Messages published less than this before the end do not count for delivery and
    /// latency (they had no time to arrive). Default 5 s.
    pub delivery_grace: SimDuration,
    /// The master seed.
    pub seed: u64,
    /// The cluster id nodes announce in metadata. Default 1.
    pub cluster: u16,
    /// Each node's cluster (empty: every node in `cluster`). Peer managers drop connections
    /// across clusters.
    pub clusters: Vec<u16>,
    /// Protected topics: their messages must carry a valid signature. Default none.
    pub protected_topics: Vec<u16>,
    /// Shards content topics are spread over by autosharding (workload streams with
    /// `autoshard`); 0 = the number of topics. Default 0.
    pub autosharding_shards: u32,
    /// Every node runs nwaku's peer manager with this configuration; `None` (the default):
    /// no peer manager, the overlay is `edges` alone.
    pub peer_manager: Option<PeerManagerConfig>,
    /// Each node's bootstrap list, its peer manager's peer source (empty: no source).
    pub bootstrap: Vec<Vec<NodeId>>,
    /// Whether each node runs relay (empty: all do); connections to other nodes count as
    /// service connections.
    pub relay_capable: Vec<bool>,
    /// Interval between two overlay samples (mesh health per shard, connections per node).
    /// Default 10 s.
    pub overlay_sample_interval: SimDuration,
    /// The engine's event queue; `None` (default): the binary heap below
    /// [`RADIX_QUEUE_MIN_NODES`] nodes, the radix heap (with look-ahead and prefetching)
    /// from there. All choices give identical runs.
    pub queue: Option<QueueKind>,
    /// Whether IDONTWANTs (the relay's passive messages) reach their receivers late, just
    /// before the receiver's next input ([`sim_core::EngineConfig::defer_passive`]; default
    /// true). Results are identical either way; deferring spares an event per IDONTWANT.
    pub defer_passive: bool,
    /// libp2p identify on every connection (`None`: off, the default).
    pub identify: Option<IdentifyConfig>,
}

impl SimInput {
    /// A run of `nodes` nodes wired by `edges` with the given latency model, and defaults for
    /// everything else: 100 Mbit/s links, the default network model, one topic everyone
    /// subscribes to, nwaku's relay configuration, the default workload, no faults, 60 s with
    /// a 10 s warm-up, 1 s series, 5 s delivery grace, seed 1.
    pub fn new(nodes: usize, edges: Vec<(u32, u32)>, latency: Box<dyn LatencyModel>) -> Self {
        SimInput {
            nodes,
            edges,
            capacities: vec![LinkCapacity::symmetric_mbps(100); nodes],
            latency,
            network: NetworkConfig::default(),
            groups: Vec::new(),
            ip_groups: Vec::new(),
            topics: Vec::new(),
            subscriptions: Vec::new(),
            relay: RelayConfig::default(),
            workload: WorkloadConfig::default(),
            faults: Vec::new(),
            commands: Vec::new(),
            duration: SimDuration::from_secs(60),
            warmup: SimDuration::from_secs(10),
            series_interval: SimDuration::from_secs(1),
            delivery_grace: SimDuration::from_secs(5),
            seed: 1,
            cluster: 1,
            clusters: Vec::new(),
            protected_topics: Vec::new(),
            autosharding_shards: 0,
            peer_manager: None,
            bootstrap: Vec::new(),
            relay_capable: Vec::new(),
            overlay_sample_interval: SimDuration::from_secs(10),
            queue: None,
            defer_passive: true,
            identify: None,
        }
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimInputError {
    /// The relay configuration is invalid.
    #[error("{0}")]
    Relay(ConfigError),
    /// The workload is invalid.
    #[error("{0}")]
    Workload(ConfigError),
    /// The peer manager configuration is invalid.
    #[error("{0}")]
    PeerManager(ConfigError),
    /// The engine refused the network.
    #[error("engine: {0}")]
    Engine(#[from] SimError),
    /// Some other input is inconsistent.
    #[error("{field}: {problem}")]
    Input {
        /// The input field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

fn bad(field: &'static str, problem: impl Into<String>) -> SimInputError {
    SimInputError::Input {
        field,
        problem: problem.into(),
    }
}

/// Delivery of the counted messages.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delivery {
    /// Counted messages (with at least one node that should receive them).
    pub messages: u64,
    /// Mean over messages of the fraction delivered.
    pub mean: f64,
    /// The smallest fraction of any message.
    pub worst: f64,
    /// Messages some eligible node did not get.
    pub not_fully_delivered: u64,
    /// Per message.
    pub per_message: Vec<MessageDelivery>,
}

/// Delivery of one message.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageDelivery {
    /// Publish time in simulated seconds.
    pub publish_s: f64,
    /// Publisher.
    pub publisher: u32,
    /// Topic index.
    pub topic: u16,
    /// Serialized WakuMessage bytes.
    pub data_bytes: u32,
    /// Whether publishing found no peer.
    pub no_peers: bool,
    /// Nodes that should have received it.
    pub eligible: u32,
    /// Of those, nodes that did.
    pub delivered: u32,
}

/// Publish-to-acceptance latency of counted messages at the nodes that should get them.
#[derive(Clone, Debug)]
pub struct Latency {
    /// Median in milliseconds.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// The distribution.
    pub histogram: DurationHistogram,
    /// First copies by hop count (index = hops).
    pub hops: Vec<u64>,
}

impl PartialEq for Latency {
    fn eq(&self, o: &Self) -> bool {
        self.p50_ms == o.p50_ms
            && self.p95_ms == o.p95_ms
            && self.p99_ms == o.p99_ms
            && self.max_ms == o.max_ms
            && self.mean_ms == o.mean_ms
            && self.hops == o.hops
            && self.histogram.distribution_ms() == o.histogram.distribution_ms()
    }
}

/// Copies received beyond the first, per node per counted message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Duplicates {
    /// (node, message) pairs measured.
    pub samples: u64,
    /// Mean copies beyond the first.
    pub mean: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
    /// Largest (capped at [`crate::relay::metrics::MAX_COPIES_BUCKET`]).
    pub max: u64,
    /// Pairs by number of extra copies (index = copies).
    pub histogram: Vec<u64>,
}

/// One node's traffic over the measured window, per category (index = category).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeTraffic {
    /// The node's group label index.
    pub group: u32,
    /// Bytes received.
    pub bytes_in: Vec<u64>,
    /// Bytes sent.
    pub bytes_out: Vec<u64>,
    /// Messages received (framing has none).
    pub msgs_in: Vec<u64>,
    /// Messages sent.
    pub msgs_out: Vec<u64>,
}

/// Run-wide bytes in one series interval, per category.
#[derive(Clone, Debug, PartialEq)]
pub struct TrafficPoint {
    /// End of the interval in simulated seconds.
    pub t_s: f64,
    /// Bytes received, summed over nodes.
    pub bytes_in: Vec<u64>,
    /// Bytes sent, summed over nodes.
    pub bytes_out: Vec<u64>,
}

/// Bandwidth results.
#[derive(Clone, Debug, PartialEq)]
pub struct Bandwidth {
    /// Length of the measured window (after warm-up) in seconds: divide by it for bytes/s.
    pub window_s: f64,
    /// Per node, over the window.
    pub per_node: Vec<NodeTraffic>,
    /// Per series interval, over the whole run.
    pub series: Vec<TrafficPoint>,
}

/// Mesh degrees of one topic at one time, over online subscribed nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct MeshSample {
    /// Simulated seconds.
    pub t_s: f64,
    /// Topic index.
    pub topic: u16,
    /// Nodes sampled.
    pub nodes: u32,
    /// Smallest mesh.
    pub min: u32,
    /// Mean size.
    pub mean: f64,
    /// Median (nearest rank).
    pub p50: u32,
    /// 95th percentile (nearest rank).
    pub p95: u32,
    /// Largest.
    pub max: u32,
}

/// Delivery of the messages published in one series interval.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryPoint {
    /// End of the interval in simulated seconds.
    pub t_s: f64,
    /// Counted messages published in it.
    pub messages: u32,
    /// Sum of their eligible nodes.
    pub eligible: u64,
    /// Sum of their deliveries.
    pub delivered: u64,
    /// delivered / eligible (1 when nothing was eligible).
    pub fraction: f64,
}

/// What happened to publish calls.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PublishStats {
    /// Publish calls.
    pub attempted: u64,
    /// Sent to at least one peer.
    pub published: u64,
    /// Refused: above the message size limit.
    pub too_large: u64,
    /// No peer to send to.
    pub no_peers: u64,
    /// Already seen.
    pub duplicate: u64,
    /// Invalid (spam) messages among the published.
    pub invalid: u64,
}

/// The results of one run; all deterministic functions of the input.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOutput {
    /// (protocol, kind) of each accounting category, by index.
    pub categories: Vec<(String, String)>,
    /// Index of the transport framing category.
    pub framing_category: usize,
    /// Delivery.
    pub delivery: Delivery,
    /// Latency.
    pub latency: Latency,
    /// Duplicates.
    pub duplicates: Duplicates,
    /// Bandwidth.
    pub bandwidth: Bandwidth,
    /// Mesh degrees over time, per topic.
    pub mesh: Vec<MeshSample>,
    /// Delivery over time.
    pub delivery_series: Vec<DeliveryPoint>,
    /// Publish outcomes.
    pub publishing: PublishStats,
    /// Relay counters (name, value).
    pub counters: Vec<(String, u64)>,
    /// Engine drops by reason (name, value).
    pub drops: Vec<(String, u64)>,
    /// Handler calls.
    pub events: u64,
    /// The engine's event-stream hash.
    pub event_hash: u64,
    /// Simulated seconds run.
    pub sim_seconds: f64,
    /// The topic names, by index.
    pub topics: Vec<String>,
    /// Mesh health per shard over time (every `overlay_sample_interval`).
    pub shard_health: Vec<ShardHealth>,
    /// Connections per node over time (every `overlay_sample_interval`).
    pub connections: Vec<ConnSample>,
    /// Each node at the end of the run.
    pub nodes: Vec<NodeSummary>,
    /// Relay bytes sent per topic over the measured window (messages, IHAVE entries, GRAFT,
    /// PRUNE; without framing), by topic index.
    pub topic_bytes_out: Vec<u64>,
    /// Peer manager counters (name, value).
    pub pm_counters: Vec<(String, u64)>,
}

/// One node at the end of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSummary {
    /// Shards it was subscribed to at the start.
    pub shards: u32,
    /// Whether it is online at the end.
    pub online: bool,
    /// Its connections at the end.
    pub conns: NodeConns,
    /// Peers in its peer store (0 without a peer manager).
    pub peer_store: u32,
    /// Its subscriptions at the end by mesh health: (unhealthy, minimally healthy, healthy)
    /// (all 0 when offline).
    pub health: [u32; 3],
}

impl SimOutput {
    /// A relay counter by name (0 when unknown).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }
    /// A peer manager counter by name (0 when unknown).
    pub fn pm_counter(&self, name: &str) -> u64 {
        self.pm_counters
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }
}

/// The engine and the data a run needs besides it; [`build`] makes one, [`run`] drives it.
pub struct Prepared {
    /// The engine.
    pub engine: Engine<WakuNode>,
    topics: Topics,
    groups: Vec<u32>,
    subs: Vec<Vec<TopicIdx>>,
    duration: SimDuration,
    warmup: SimDuration,
    series_interval: SimDuration,
    overlay_interval: SimDuration,
    d_low: u32,
    out_target: u32,
    relay_capable: Vec<bool>,
}

/// Validates the input and builds the engine (nodes, connections, faults, commands) without
/// running it.
pub fn build(input: SimInput) -> Result<Prepared, SimInputError> {
    let n = input.nodes;
    if n == 0 {
        return Err(bad("nodes", "a run needs at least one node"));
    }
    if n > u32::MAX as usize {
        return Err(bad("nodes", "too many nodes"));
    }
    input.relay.validate().map_err(SimInputError::Relay)?;
    if input.duration == SimDuration::ZERO {
        return Err(bad("duration", "must be positive"));
    }
    if input.warmup >= input.duration {
        return Err(bad("warmup", "the warm-up must end before the run does"));
    }
    if input.series_interval == SimDuration::ZERO {
        return Err(bad("series_interval", "must be positive"));
    }
    if input.overlay_sample_interval == SimDuration::ZERO {
        return Err(bad("overlay_sample_interval", "must be positive"));
    }
    if let Some(pm) = &input.peer_manager {
        pm.validate(input.relay.d_high)
            .map_err(SimInputError::PeerManager)?;
    }
    let topics = if input.topics.is_empty() {
        Topics::new(vec![shard_topic(input.cluster, 0)]).expect("valid name")
    } else {
        Topics::new(input.topics.clone()).map_err(|e| bad("topics", e))?
    };
    let autoshards = match input.autosharding_shards {
        0 => topics.len() as u32,
        k => k,
    };
    let workload = input
        .workload
        .resolve(&topics, input.cluster, autoshards)
        .map_err(SimInputError::Workload)?;
    workload
        .validate(n, topics.len())
        .map_err(SimInputError::Workload)?;
    for (field, v) in [("groups", &input.groups), ("ip_groups", &input.ip_groups)] {
        if !v.is_empty() && v.len() != n {
            return Err(bad(field, format!("{} entries for {n} nodes", v.len())));
        }
    }
    if !input.clusters.is_empty() && input.clusters.len() != n {
        return Err(bad(
            "clusters",
            format!("{} entries for {n} nodes", input.clusters.len()),
        ));
    }
    if !input.relay_capable.is_empty() && input.relay_capable.len() != n {
        return Err(bad(
            "relay_capable",
            format!("{} entries for {n} nodes", input.relay_capable.len()),
        ));
    }
    if !input.bootstrap.is_empty() {
        if input.bootstrap.len() != n {
            return Err(bad(
                "bootstrap",
                format!("{} lists for {n} nodes", input.bootstrap.len()),
            ));
        }
        if let Some(p) = input.bootstrap.iter().flatten().find(|p| p.index() >= n) {
            return Err(bad("bootstrap", format!("{p} does not exist ({n} nodes)")));
        }
    }
    if let Some(t) = input
        .protected_topics
        .iter()
        .find(|&&t| t as usize >= topics.len())
    {
        return Err(bad(
            "protected_topics",
            format!("topic {t} does not exist ({} topics)", topics.len()),
        ));
    }
    let subs: Vec<Vec<TopicIdx>> = if input.subscriptions.is_empty() {
        vec![vec![TopicIdx(0)]; n]
    } else {
        if input.subscriptions.len() != n {
            return Err(bad(
                "subscriptions",
                format!("{} entries for {n} nodes", input.subscriptions.len()),
            ));
        }
        let mut out = Vec::with_capacity(n);
        for s in &input.subscriptions {
            let mut v: Vec<TopicIdx> = s.iter().map(|&t| TopicIdx(t)).collect();
            v.sort();
            v.dedup();
            if let Some(t) = v.iter().find(|t| t.0 as usize >= topics.len()) {
                return Err(bad(
                    "subscriptions",
                    format!("topic {} does not exist ({} topics)", t.0, topics.len()),
                ));
            }
            out.push(v);
        }
        out
    };
    for &(a, b) in &input.edges {
        if a as usize >= n || b as usize >= n || a == b {
            return Err(bad("edges", format!("bad edge ({a}, {b}) for {n} nodes")));
        }
    }
    let end = SimTime::ZERO + input.duration;
    let warm = SimTime::ZERO + input.warmup;
    let mut subscribers: Vec<Vec<NodeId>> = vec![Vec::new(); topics.len()];
    for (i, s) in subs.iter().enumerate() {
        for t in s {
            subscribers[t.0 as usize].push(NodeId(i as u32));
        }
    }
    let plan = workload.plan(input.seed, n, &subscribers, warm, end);

    // Who is offline when, for delivery eligibility.
    let mut churn: Vec<Vec<(SimTime, bool)>> = vec![Vec::new(); n];
    for (t, f) in &input.faults {
        match f {
            Fault::NodeOffline(x) if x.index() < n => churn[x.index()].push((*t, false)),
            Fault::NodeOnline(x) if x.index() < n => churn[x.index()].push((*t, true)),
            _ => {}
        }
    }
    let churn = churn
        .into_iter()
        .map(|mut v| {
            if v.is_empty() {
                None
            } else {
                v.sort_by_key(|e| e.0);
                Some(v.into_boxed_slice())
            }
        })
        .collect();
    let eligibility = Eligibility::new(&subs, topics.len(), churn);
    let until = SimTime::from_nanos(
        end.as_nanos()
            .saturating_sub(input.delivery_grace.as_nanos()),
    );
    let mut observer = WakuObserver {
        relay: RelayMetrics::new(eligibility, warm, until),
        ..WakuObserver::default()
    };
    observer.relay.per_topic_bytes = topics.len() > 1;

    let mut relay = RelayShared::new(input.relay.clone(), topics.clone(), input.ip_groups.clone());
    relay.protected = ProtectedTopics::new(input.protected_topics.iter().map(|&t| TopicIdx(t)));
    let pm = input.peer_manager.clone().map(|cfg| {
        let shards = subs
            .iter()
            .map(|v| v.iter().map(|t| t.0).collect::<Rc<[u16]>>())
            .collect();
        let mut sh = PmShared::new(cfg, input.cluster, shards);
        sh.clusters = input.clusters.clone();
        sh.ip_groups = input.ip_groups.clone();
        sh.relay_capable = input.relay_capable.clone();
        Rc::new(sh)
    });
    let out_target = pm.as_ref().map_or(0, |p| p.limits.out_target);
    let shared = Rc::new(NodeShared {
        send_buffer_bytes: relay.cfg.send_buffer_bytes,
        protocols: ProtocolShared {
            relay: Some(Rc::new(relay)),
            transport: None,
            peer_manager: pm,
            identify: input
                .identify
                .clone()
                .map(|c| Rc::new(IdentifyShared::new(c))),
        },
        workload: plan,
        seed: input.seed,
    });
    if input.capacities.len() != n {
        return Err(bad(
            "capacities",
            format!("{} capacities for {n} nodes", input.capacities.len()),
        ));
    }
    let nodes: Vec<WakuNode> = (0..n)
        .map(|i| {
            let node = WakuNode::new(NodeId(i as u32), shared.clone(), subs[i].clone());
            match input.bootstrap.get(i) {
                Some(list) => {
                    let mut peers = list.clone();
                    peers.sort();
                    peers.dedup();
                    node.with_source(PeerSource::Bootstrap(Bootstrap {
                        peers: peers.into(),
                    }))
                }
                None => node,
            }
        })
        .collect();
    let cfg = EngineConfig {
        seed: input.seed,
        categories: run_categories(&shared.protocols),
        framing_category: Some(Category(<Transport as Member>::OFFSET)),
        series_interval: input.series_interval,
        network: input.network.clone(),
        queue: match input.queue {
            Some(q) => q,
            None if n >= RADIX_QUEUE_MIN_NODES => QueueKind::Radix,
            None => QueueKind::Auto,
        },
        defer_passive: input.defer_passive,
    };
    let caps = input.capacities.clone();
    let mut engine = Engine::new(cfg, input.latency, caps.clone(), nodes, observer)?;
    for &(a, b) in &input.edges {
        engine.connect_now(NodeId(a), NodeId(b))?;
    }
    for (t, f) in input.faults {
        engine.schedule_fault(t, f)?;
    }
    for (t, node, c) in input.commands {
        engine.set_timer(node, t, WakuTimer::Command(c))?;
    }
    let groups = if input.groups.is_empty() {
        vec![0; n]
    } else {
        input.groups
    };
    Ok(Prepared {
        engine,
        topics,
        groups,
        subs,
        duration: input.duration,
        warmup: input.warmup,
        series_interval: input.series_interval,
        overlay_interval: input.overlay_sample_interval,
        d_low: input.relay.d_low,
        out_target,
        relay_capable: input.relay_capable,
    })
}

/// Builds and runs a simulation; `progress` is called with the simulated seconds reached
/// (about once per simulated second).
pub fn run(input: SimInput, progress: &dyn Fn(f64)) -> Result<SimOutput, SimInputError> {
    let p = build(input)?;
    Ok(run_prepared(p, progress))
}

/// Runs a prepared simulation to its end and collects the results.
pub fn run_prepared(mut p: Prepared, progress: &dyn Fn(f64)) -> SimOutput {
    let end = SimTime::ZERO + p.duration;
    let warm = SimTime::ZERO + p.warmup;
    let interval = p.series_interval.as_nanos();
    let overlay = p.overlay_interval.as_nanos();
    let second = 1_000_000_000u64;
    let n = p.engine.nodes().len();
    let ntopics = p.topics.len();

    let mut mesh = Vec::new();
    let mut health = HealthSampler::new(ntopics, p.d_low);
    let mut shard_health = Vec::new();
    let mut conns = Vec::new();
    let mut warm_snapshot: Option<Vec<Counters>> = if p.warmup == SimDuration::ZERO {
        Some(p.engine.accounting().snapshot())
    } else {
        None
    };
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
        }
        progress(t as f64 / 1e9);
        if t >= end.as_nanos() {
            break;
        }
    }

    // Flush the duplicate counts still in the seen caches.
    for i in 0..n {
        let mut entries = Vec::new();
        if let Some(relay) = p.engine.node_mut(NodeId(i as u32)).relay_mut() {
            relay.drain_seen(|e| entries.push(e));
        }
        let obs = &mut p.engine.observer_mut().relay;
        for e in entries {
            obs.seen_entry(e);
        }
    }
    let mut out = collect(p, warm_snapshot.expect("taken at the warm-up"), mesh);
    out.shard_health = shard_health;
    out.connections = conns;
    out
}

/// A node's connections now, from the engine (whoever opened them).
fn node_conns(p: &Prepared, node: NodeId) -> NodeConns {
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

fn collect(p: Prepared, warm: Vec<Counters>, mesh: Vec<MeshSample>) -> SimOutput {
    let e = &p.engine;
    let obs = &e.observer().relay;
    let acc = e.accounting();
    let ncat = acc.categories();
    let n = e.nodes().len();
    let end = SimTime::ZERO + p.duration;

    // Eligible nodes per counted message: subscribers of its topic online to the end.
    let mut subscribers: Vec<Vec<NodeId>> = vec![Vec::new(); p.topics.len()];
    for (i, s) in p.subs.iter().enumerate() {
        for t in s {
            subscribers[t.0 as usize].push(NodeId(i as u32));
        }
    }
    let churned: Vec<Vec<NodeId>> = subscribers
        .iter()
        .map(|v| {
            v.iter()
                .copied()
                .filter(|x| obs.eligibility.churn[x.index()].is_some())
                .collect()
        })
        .collect();
    let mut per_message = Vec::new();
    let mut pubs = PublishStats::default();
    let interval = p.series_interval.as_nanos();
    let npoints = end.as_nanos().div_ceil(interval) as usize;
    let mut dpoints: Vec<(u32, u64, u64)> = vec![(0, 0, 0); npoints];
    for r in &obs.msgs {
        pubs.attempted += 1;
        match r.outcome {
            Some(PublishOutcome::Published { .. }) => {
                pubs.published += 1;
                if r.invalid {
                    pubs.invalid += 1;
                }
            }
            Some(PublishOutcome::TooLarge) => pubs.too_large += 1,
            Some(PublishOutcome::NoPeers) => pubs.no_peers += 1,
            Some(PublishOutcome::Duplicate) => pubs.duplicate += 1,
            None => {}
        }
        if !obs.counts(r) {
            continue;
        }
        let t = r.topic.0 as usize;
        let stable = subscribers[t].len() - churned[t].len();
        let mut eligible = stable as u32;
        let pub_subscribed = p.subs[r.publisher.index()].binary_search(&r.topic).is_ok();
        if pub_subscribed && obs.eligibility.churn[r.publisher.index()].is_none() {
            eligible -= 1; // the publisher itself
        }
        eligible += churned[t]
            .iter()
            .filter(|&&x| {
                obs.eligibility
                    .should_receive(x, r.publisher, r.topic, r.publish_time)
            })
            .count() as u32;
        if eligible == 0 {
            continue;
        }
        let k = ((r.publish_time.as_nanos() / interval) as usize).min(npoints - 1);
        dpoints[k].0 += 1;
        dpoints[k].1 += eligible as u64;
        dpoints[k].2 += r.delivered as u64;
        per_message.push(MessageDelivery {
            publish_s: r.publish_time.as_secs_f64(),
            publisher: r.publisher.0,
            topic: r.topic.0,
            data_bytes: r.data_bytes,
            no_peers: r.outcome == Some(PublishOutcome::NoPeers),
            eligible,
            delivered: r.delivered,
        });
    }
    let fractions: Vec<f64> = per_message
        .iter()
        .map(|m| m.delivered as f64 / m.eligible as f64)
        .collect();
    let delivery = Delivery {
        messages: per_message.len() as u64,
        mean: if fractions.is_empty() {
            0.0
        } else {
            fractions.iter().sum::<f64>() / fractions.len() as f64
        },
        worst: fractions
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .min(1.0),
        not_fully_delivered: per_message
            .iter()
            .filter(|m| m.delivered < m.eligible)
            .count() as u64,
        per_message,
    };
    let delivery = if delivery.messages == 0 {
        Delivery {
            worst: 0.0,
            ..delivery
        }
    } else {
        delivery
    };
    let delivery_series = dpoints
        .iter()
        .enumerate()
        .map(|(k, &(m, el, de))| DeliveryPoint {
            t_s: ((k as u64 + 1) * interval).min(end.as_nanos()) as f64 / 1e9,
            messages: m,
            eligible: el,
            delivered: de,
            fraction: if el == 0 { 1.0 } else { de as f64 / el as f64 },
        })
        .collect();

    let h = &obs.latency;
    let latency = Latency {
        p50_ms: h.quantile_ms(0.5),
        p95_ms: h.quantile_ms(0.95),
        p99_ms: h.quantile_ms(0.99),
        max_ms: h.max_ms(),
        mean_ms: h.mean_ms(),
        histogram: h.clone(),
        hops: obs.hops.clone(),
    };

    let samples: u64 = obs.copies.iter().sum();
    let total: u64 = obs
        .copies
        .iter()
        .enumerate()
        .map(|(c, &k)| c as u64 * k)
        .sum();
    let p95 = {
        let rank = ((0.95 * samples as f64).ceil() as u64).max(1);
        let mut acc = 0u64;
        let mut v = 0;
        for (c, &k) in obs.copies.iter().enumerate() {
            acc += k;
            if acc >= rank {
                v = c;
                break;
            }
        }
        v as f64
    };
    let duplicates = Duplicates {
        samples,
        mean: if samples == 0 {
            0.0
        } else {
            total as f64 / samples as f64
        },
        p95: if samples == 0 { 0.0 } else { p95 },
        max: obs.copies.iter().rposition(|&k| k > 0).unwrap_or(0) as u64,
        histogram: obs.copies.clone(),
    };

    let now = acc.snapshot();
    let per_node = (0..n)
        .map(|i| {
            let mut t = NodeTraffic {
                group: p.groups[i],
                bytes_in: vec![0; ncat],
                bytes_out: vec![0; ncat],
                msgs_in: vec![0; ncat],
                msgs_out: vec![0; ncat],
            };
            for c in 0..ncat {
                let d = now[i * ncat + c].since(&warm[i * ncat + c]);
                t.bytes_in[c] = d.bytes_in;
                t.bytes_out[c] = d.bytes_out;
                t.msgs_in[c] = d.msgs_in as u64;
                t.msgs_out[c] = d.msgs_out as u64;
            }
            t
        })
        .collect();
    let series = (0..acc.series_len().min(npoints))
        .map(|k| TrafficPoint {
            t_s: ((k as u64 + 1) * interval).min(end.as_nanos()) as f64 / 1e9,
            bytes_in: (0..ncat)
                .map(|c| acc.series_bytes(k, Category(c as u16), Direction::In))
                .collect(),
            bytes_out: (0..ncat)
                .map(|c| acc.series_bytes(k, Category(c as u16), Direction::Out))
                .collect(),
        })
        .collect();
    let bandwidth = Bandwidth {
        window_s: (p.duration.as_nanos() - p.warmup.as_nanos()) as f64 / 1e9,
        per_node,
        series,
    };
    let categories = category_names()[..ncat]
        .iter()
        .map(|&(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    SimOutput {
        categories,
        framing_category: <Transport as Member>::OFFSET as usize,
        delivery,
        latency,
        duplicates,
        bandwidth,
        mesh,
        delivery_series,
        publishing: pubs,
        counters: RelayCounter::ALL
            .iter()
            .map(|&c| (c.name().to_owned(), obs.counters[c as usize]))
            .collect(),
        drops: DropReason::ALL
            .iter()
            .map(|&r| (r.name().to_owned(), acc.drops_total(r)))
            .collect(),
        events: e.events_processed(),
        event_hash: e.event_hash(),
        sim_seconds: e.now().as_secs_f64(),
        topics: p.topics.names().to_vec(),
        shard_health: Vec::new(),
        connections: Vec::new(),
        nodes: (0..n)
            .map(|i| {
                let id = NodeId(i as u32);
                NodeSummary {
                    shards: p.subs[i].len() as u32,
                    online: e.is_online(id),
                    conns: if e.is_online(id) {
                        node_conns(&p, id)
                    } else {
                        NodeConns::default()
                    },
                    peer_store: e
                        .node(id)
                        .peer_manager()
                        .map_or(0, |pm| pm.store().len() as u32),
                    health: if e.is_online(id) {
                        let mut h = [0u32; 3];
                        if let Some(relay) = e.node(id).relay() {
                            for t in relay.subscriptions() {
                                h[classify(relay.mesh(t).len(), p.d_low) as usize] += 1;
                            }
                        }
                        h
                    } else {
                        [0; 3]
                    },
                }
            })
            .collect(),
        topic_bytes_out: if obs.per_topic_bytes {
            let mut v = obs.topic_bytes_out.clone();
            v.resize(p.topics.len(), 0);
            v
        } else {
            // One topic: every message, IHAVE, GRAFT and PRUNE byte is its own.
            let cats = [
                kind::PUBLISH,
                kind::FORWARD,
                kind::IWANT_REPLY,
                kind::IHAVE,
                kind::GRAFT,
                kind::PRUNE,
            ]
            .map(|k| Category(<Relay as Member>::OFFSET + k));
            vec![
                (0..n)
                    .flat_map(|i| cats.iter().map(move |c| i * ncat + c.0 as usize))
                    .map(|k| now[k].since(&warm[k]).bytes_out)
                    .sum(),
            ]
        },
        pm_counters: PmCounter::ALL
            .iter()
            .map(|&c| {
                (
                    c.name().to_owned(),
                    e.observer().peer_manager.counters[c as usize],
                )
            })
            .collect(),
    }
}

/// The run's category table: the node's list up to the last protocol the run has, and at
/// least up to the peer manager's (relay, transport, metadata and ping rows are in every
/// result file). A protocol after that which no node runs adds no rows.
fn run_categories(sh: &ProtocolShared) -> usize {
    let present = sh.present();
    let ranges = category_ranges();
    let end = |f: &str| {
        ranges
            .iter()
            .find(|(g, _)| *g == f)
            .map_or(0, |(_, r)| r.end)
    };
    let last = present.iter().map(|f| end(f)).max().unwrap_or(0);
    last.max(end("peer_manager")) as usize
}
