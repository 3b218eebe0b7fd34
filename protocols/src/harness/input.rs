//! What describes one run: [`SimInput`], in a section per concern (the run, the network, one
//! per protocol, the application), and why an input is refused ([`SimInputError`]).

use sim_core::{
    Fault, LatencyModel, LinkCapacity, NetworkConfig, NodeId, QueueKind, SimDuration, SimError,
    SimTime,
};

use crate::discovery::discv5::Discv5Config;
use crate::discovery::rendezvous::RendezvousConfig;
use crate::identify::IdentifyConfig;
use crate::node::NodeCommand;
use crate::peer_manager::PeerManagerConfig;
use crate::relay::config::{ConfigError, RelayConfig};
use crate::store::StoreConfig;
use crate::workload::WorkloadConfig;

/// Everything that describes one run.
pub struct SimInput {
    /// The run: seed, duration, measurement settings, engine choices.
    pub run: RunInput,
    /// The nodes, their links and what happens to them.
    pub network: NetworkInput,
    /// Relay (gossipsub).
    pub relay: RelayInput,
    /// The cluster, its shards (pubsub topics) and who subscribes to what.
    pub sharding: ShardingInput,
    /// Every node runs nwaku's peer manager with these settings; `None` (the default): no
    /// peer manager, the overlay is [`NetworkInput::edges`] alone.
    pub peer_manager: Option<PeerManagerInput>,
    /// The application: what nodes publish, and scripted commands.
    pub app: AppInput,
    /// libp2p identify on every connection ([`crate::identify`]) when `Some` and enabled;
    /// `None` (the default here; scenarios turn it on): off.
    pub identify: Option<IdentifyConfig>,
    /// RLN rate limiting ([`crate::rln`]); `None` (the default): off.
    pub rln: Option<RlnInput>,
    /// discv5 and nwaku's discovery loop feeding the peer managers
    /// ([`crate::discovery::discv5`]); `None` (the default): off.
    pub discv5: Option<Discv5Input>,
    /// Peer exchange ([`crate::discovery::peer_exchange`]); `None` (the default): off.
    pub peer_exchange: Option<PxInput>,
    /// Rendezvous ([`crate::discovery::rendezvous`]); `None` (the default): off.
    pub rendezvous: Option<RendezvousInput>,
    /// Store v3, store sync and p2p reliability ([`crate::store`]); `None` (the default): off.
    pub store: Option<StoreInput>,
}

/// RLN rate limiting: its settings, memberships and each node's CPU factor.
#[derive(Clone, Debug, Default)]
pub struct RlnInput {
    /// The settings (`[rln]`).
    pub config: crate::rln::config::RlnConfig,
    /// Memberships besides `config.members` (e.g. read from `membership_file`). When both
    /// are empty, every workload publisher but non-member spammers registers before the run.
    pub members: Vec<crate::rln::config::MemberSpec>,
    /// Each node's CPU factor (empty, the default: 1 everywhere).
    pub cpu_factor: Vec<f64>,
    /// Record every verdict ([`super::RlnOutput::trace`]; for tests: one entry per
    /// validation). Default false.
    pub trace: bool,
}

/// Peer exchange: its settings and which nodes ask.
#[derive(Clone, Debug, Default)]
pub struct PxInput {
    /// The settings (`[discovery.peer_exchange]`).
    pub config: crate::discovery::peer_exchange::PxConfig,
    /// Whether each node is a client (empty, the default: every node that does not run
    /// discv5 and is not a server).
    pub clients: Vec<bool>,
}

/// discv5 on the nodes that run it.
#[derive(Clone, Debug, Default)]
pub struct Discv5Input {
    /// The configuration. Default nim-eth's and nwaku's ([`Discv5Config::default`]).
    pub config: Discv5Config,
    /// Whether each node runs discv5 (empty, the default: all do).
    pub runs: Vec<bool>,
}

/// Rendezvous: its configuration and its points.
#[derive(Clone, Debug, Default)]
pub struct RendezvousInput {
    /// The configuration (its `points` and `point_groups` are resolved by the caller into
    /// `points`).
    pub config: RendezvousConfig,
    /// The rendezvous points (at least one).
    pub points: Vec<NodeId>,
}

/// Store nodes and the `[store]` settings.
#[derive(Clone, Debug, Default)]
pub struct StoreInput {
    /// The configuration ([`StoreConfig::default`]: nwaku's).
    pub config: StoreConfig,
    /// The store nodes (at least one).
    pub nodes: Vec<NodeId>,
}

/// The run: seed, duration, measurement settings, engine choices.
pub struct RunInput {
    /// The master seed. Default 1.
    pub seed: u64,
    /// Simulated time to run. Default 60 s.
    pub duration: SimDuration,
    /// Initial period that metrics ignore (messages published before it do not count;
    /// bandwidth is measured after it). Default 10 s.
    pub warmup: SimDuration,
    /// Messages published less than this before the end do not count for delivery and
    /// latency (they had no time to arrive). Default 5 s.
    pub delivery_grace: SimDuration,
    /// Width of a time-series interval. Default 1 s.
    pub series_interval: SimDuration,
    /// Interval between two overlay samples (mesh health per shard, connections per node).
    /// Default 10 s.
    pub overlay_sample_interval: SimDuration,
    /// The engine's event queue; `None` (default): the binary heap below
    /// [`RADIX_QUEUE_MIN_NODES`](super::RADIX_QUEUE_MIN_NODES) nodes, the radix heap (with look-ahead and prefetching)
    /// from there. All choices give identical runs.
    pub queue: Option<QueueKind>,
    /// Whether IDONTWANTs (the relay's passive messages) reach their receivers late, just
    /// before the receiver's next input ([`sim_core::EngineConfig::defer_passive`]; default
    /// true). Results are identical either way; deferring spares an event per IDONTWANT.
    pub defer_passive: bool,
}

impl Default for RunInput {
    /// Seed 1, 60 s with a 10 s warm-up, 5 s delivery grace, 1 s series, 10 s overlay
    /// samples, the queue chosen by size, deferred IDONTWANTs.
    fn default() -> Self {
        RunInput {
            seed: 1,
            duration: SimDuration::from_secs(60),
            warmup: SimDuration::from_secs(10),
            delivery_grace: SimDuration::from_secs(5),
            series_interval: SimDuration::from_secs(1),
            overlay_sample_interval: SimDuration::from_secs(10),
            queue: None,
            defer_passive: true,
        }
    }
}

/// The nodes, their links and what happens to them.
pub struct NetworkInput {
    /// Number of nodes (ids `0..nodes`).
    pub nodes: usize,
    /// Connections, opened at time 0; the first node of each pair dials (outbound side).
    pub edges: Vec<(u32, u32)>,
    /// Per-node link capacity (one entry per node). Default 100 Mbit/s both ways.
    pub capacities: Vec<LinkCapacity>,
    /// One-way latency between nodes.
    pub latency: Box<dyn LatencyModel>,
    /// Network model settings (jitter, loss, dial costs, backlog bound). Default
    /// [`NetworkConfig::default`].
    pub config: NetworkConfig,
    /// Per-node group label index, echoed in the per-node bandwidth (empty, the default: all
    /// 0).
    pub groups: Vec<u32>,
    /// Per-node IP group for P6 (nodes in one group share an IP; empty, the default: all
    /// distinct).
    pub ip_groups: Vec<u32>,
    /// Faults and churn, at their times. Default none.
    pub faults: Vec<(SimTime, Fault)>,
    /// Per-node multiplier on the CPU time of every compute job (message handling,
    /// validation; [`sim_core::Engine::set_cpu_slowdown`]): one entry per node, or empty (the
    /// default) for 1 everywhere.
    pub cpu_slowdown: Vec<f64>,
}

/// Relay (gossipsub).
#[derive(Clone, Debug, Default)]
pub struct RelayInput {
    /// The relay configuration. Default nwaku's ([`RelayConfig::default`]).
    pub config: RelayConfig,
    /// Protected topics (indices): their messages must carry a valid signature. Default none.
    pub protected_topics: Vec<u16>,
}

/// The cluster, its shards (pubsub topics) and who subscribes to what.
#[derive(Clone, Debug)]
pub struct ShardingInput {
    /// Pubsub topic names, indexed by topic (empty, the default: the single shard
    /// `/waku/2/rs/<cluster>/0`).
    pub topics: Vec<String>,
    /// Per-node subscribed topic indices (empty, the default: every node on topic 0).
    pub subscriptions: Vec<Vec<u16>>,
    /// The cluster id nodes announce in metadata. Default 1.
    pub cluster: u16,
    /// Each node's cluster (empty, the default: every node in `cluster`). Peer managers drop
    /// connections across clusters.
    pub clusters: Vec<u16>,
    /// Shards content topics are spread over by autosharding (workload streams with
    /// `autoshard`); 0 = the number of topics. Default 0.
    pub autosharding_shards: u32,
}

impl Default for ShardingInput {
    /// One shard of cluster 1 everyone subscribes to.
    fn default() -> Self {
        ShardingInput {
            topics: Vec::new(),
            subscriptions: Vec::new(),
            cluster: 1,
            clusters: Vec::new(),
            autosharding_shards: 0,
        }
    }
}

/// nwaku's peer manager, run by every node.
#[derive(Clone, Debug, Default)]
pub struct PeerManagerInput {
    /// The peer manager configuration. Default nwaku's ([`PeerManagerConfig::default`]).
    pub config: PeerManagerConfig,
    /// Each node's bootstrap list, its peer manager's peer source (empty, the default: no
    /// source).
    pub bootstrap: Vec<Vec<NodeId>>,
    /// Whether each node runs relay (empty, the default: all do); connections to other
    /// nodes count as service connections.
    pub relay_capable: Vec<bool>,
}

/// The application: what nodes publish, and scripted commands.
#[derive(Default)]
pub struct AppInput {
    /// The workload. Default [`WorkloadConfig::default`].
    pub workload: WorkloadConfig,
    /// Scripted node commands, at their times. Default none.
    pub commands: Vec<(SimTime, NodeId, NodeCommand)>,
}

impl SimInput {
    /// A run of `nodes` nodes wired by `edges` with the given latency model, and defaults for
    /// everything else: 100 Mbit/s links, the default network model, one topic everyone
    /// subscribes to, nwaku's relay configuration, no peer manager, the default workload, no
    /// faults, 60 s with a 10 s warm-up, 1 s series, 5 s delivery grace, seed 1.
    pub fn new(nodes: usize, edges: Vec<(u32, u32)>, latency: Box<dyn LatencyModel>) -> Self {
        SimInput {
            run: RunInput::default(),
            network: NetworkInput {
                nodes,
                edges,
                capacities: vec![LinkCapacity::symmetric_mbps(100); nodes],
                latency,
                config: NetworkConfig::default(),
                groups: Vec::new(),
                ip_groups: Vec::new(),
                faults: Vec::new(),
                cpu_slowdown: Vec::new(),
            },
            relay: RelayInput::default(),
            sharding: ShardingInput::default(),
            peer_manager: None,
            app: AppInput::default(),
            identify: None,
            rln: None,
            discv5: None,
            peer_exchange: None,
            rendezvous: None,
            store: None,
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
    /// The RLN configuration is invalid.
    #[error("{0}")]
    Rln(ConfigError),
    /// A discovery configuration is invalid.
    #[error("{0}")]
    Discovery(ConfigError),
    /// The store configuration is invalid.
    #[error("{0}")]
    Store(ConfigError),
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

pub(super) fn bad(field: &'static str, problem: impl Into<String>) -> SimInputError {
    SimInputError::Input {
        field,
        problem: problem.into(),
    }
}
