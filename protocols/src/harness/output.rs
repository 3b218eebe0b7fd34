//! The results of one run ([`SimOutput`]): engine-wide figures at the top, then a section per
//! protocol (relay, peer manager) and the overlay.

use sim_core::metrics::DurationHistogram;

use crate::sharding::health::{ConnSample, NodeConns, ShardHealth};

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
    /// Time from publish until each dissemination level
    /// ([`crate::relay::dissemination::LEVELS_PERMILLE`]) of the eligible nodes had it, in
    /// nanoseconds ([`crate::relay::dissemination::NOT_REACHED`] for a level never reached).
    pub dissemination_ns: [u64; crate::relay::dissemination::LEVELS],
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
    /// Bandwidth.
    pub bandwidth: Bandwidth,
    /// Engine drops by reason (name, value).
    pub drops: Vec<(String, u64)>,
    /// Handler calls.
    pub events: u64,
    /// The engine's event-stream hash.
    pub event_hash: u64,
    /// Simulated seconds run.
    pub sim_seconds: f64,
    /// Relay: delivery, latency, duplicates, meshes, publishing, counters.
    pub relay: RelayOutput,
    /// The overlay: shards, mesh health, connections, nodes at the end.
    pub overlay: OverlayOutput,
    /// The peer manager.
    pub peer_manager: PeerManagerOutput,
    /// RLN (`None`: the run has no RLN).
    pub rln: Option<RlnOutput>,
    /// Discovery (`None`: no discovery protocol ran).
    pub discovery: Option<DiscoveryOutput>,
    /// Rendezvous (`None`: off).
    pub rendezvous: Option<RendezvousOutput>,
    /// Store, store sync and p2p reliability (empty without `[store]`).
    pub store: StoreOutput,
}

/// RLN's results.
#[derive(Clone, Debug, PartialEq)]
pub struct RlnOutput {
    /// The default message limit per epoch.
    pub limit: u32,
    /// The epoch, in seconds.
    pub epoch_s: u64,
    /// Memberships.
    pub members: u32,
    /// Merkle roots over the run (the initial one included).
    pub roots: u32,
    /// RLN counters (name, value), [`crate::rln::RlnCounter`].
    pub counters: Vec<(String, u64)>,
    /// Per spam kind that was sent: (name, excess spam messages published, of them accepted
    /// by at least one honest node).
    pub spam_by_kind: Vec<(String, u64, u64)>,
    /// Seconds from a spammer's first excess spam to each disconnection of it by an honest
    /// peer for its score, ascending.
    pub disconnect_delays_s: Vec<f64>,
    /// Connections between a spammer and an honest node still open at the end.
    pub spammer_links_left: u64,
    /// CPU seconds charged for proof generation, per node.
    pub proof_cpu_s: Vec<f64>,
    /// CPU seconds charged for proof verification, per node.
    pub verify_cpu_s: Vec<f64>,
    /// Capacity bounds per shard.
    pub capacity: Vec<crate::rln::capacity::ShardCapacity>,
    /// Measured traffic per shard over the measured window: (messages/s, bytes/s of the
    /// serialized WakuMessages published).
    pub measured: Vec<(f64, f64)>,
    /// Every verdict, when [`super::RlnInput::trace`] is on (else empty).
    pub trace: Vec<TraceEntry>,
}

/// One RLN verdict of a traced run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceEntry {
    /// The validator.
    pub node: u32,
    /// The message's registry index.
    pub seq: u32,
    /// Accepted (else rejected).
    pub accepted: bool,
    /// The proof's member (`u32::MAX`: none).
    pub member: u32,
    /// The proof's epoch.
    pub epoch: u64,
    /// The proof's nullifier (member and message id).
    pub nullifier: u64,
}

impl RlnOutput {
    /// An RLN counter by name (0 when unknown).
    pub fn counter(&self, name: &str) -> u64 {
        counter(&self.counters, name)
    }
}

/// Discovery's results.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DiscoveryOutput {
    /// discv5 counters (name, value; empty without discv5).
    pub discv5: Vec<(String, u64)>,
    /// Nodes that ran discv5.
    pub discv5_nodes: u32,
    /// Peer exchange counters (name, value; empty without peer exchange).
    pub peer_exchange: Vec<(String, u64)>,
    /// Every (node, shard) join and how long it took to D_low and D mesh peers
    /// ([`crate::discovery::metrics`]).
    pub episodes: Vec<crate::discovery::metrics::Episode>,
}

impl DiscoveryOutput {
    /// A discv5 counter by name (0 when unknown).
    pub fn discv5_counter(&self, name: &str) -> u64 {
        counter(&self.discv5, name)
    }
}

/// Rendezvous' results.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RendezvousOutput {
    /// The points, ascending.
    pub points: Vec<u32>,
    /// Client counters (name, value), over the whole run.
    pub counters: Vec<(String, u64)>,
    /// Points' answers by status (name, value), over the whole run.
    pub statuses: Vec<(String, u64)>,
    /// Each point every overlay sample interval, and at the end.
    pub samples: Vec<PointSample>,
}

/// One rendezvous point at one time.
#[derive(Clone, Debug, PartialEq)]
pub struct PointSample {
    /// Simulated seconds.
    pub t_s: f64,
    /// The point.
    pub point: u32,
    /// Whether it is online.
    pub online: bool,
    /// Registrations it holds that have not expired.
    pub registrations: u32,
    /// Entries in its log (expired ones included until flushed).
    pub entries: u32,
    /// Requests served since the start: REGISTER, DISCOVER, UNREGISTER.
    pub requests: [u64; 3],
    /// Of those, answered with an error code.
    pub errors: u64,
}

impl RendezvousOutput {
    /// A client counter by name (0 when unknown).
    pub fn counter(&self, name: &str) -> u64 {
        counter(&self.counters, name)
    }
}

/// One store node at one sample time.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreSample {
    /// Simulated seconds.
    pub t_s: f64,
    /// The store node.
    pub node: u32,
    /// Whether it is online.
    pub online: bool,
    /// Messages it holds.
    pub rows: u64,
    /// Bytes they take ([`crate::store::archive::Archive::row_bytes`]).
    pub bytes: u64,
    /// Messages of the union of all store nodes' archives that it lacks (messages younger
    /// than the sync lag are left out: they may still be in flight).
    pub missing: u64,
}

/// How long a store node took, after it came back online or a partition healed, to hold
/// every message of the union of all store nodes' archives that is older than that event.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreConvergence {
    /// The store node.
    pub node: u32,
    /// `rejoin` or `partition_heal`.
    pub event: &'static str,
    /// When it happened, simulated seconds.
    pub at_s: f64,
    /// Seconds to the first sample (online) at which it lacked none of the union's messages
    /// older than the event (`None`: not by the end).
    pub converged_after_s: Option<f64>,
    /// Of those messages, how many it lacked at the last sample before it converged (0 when
    /// it converged): what sync never brought back by the end (e.g. older than its window).
    pub lacking_at_end: u64,
}

/// Store results.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreOutput {
    /// Store nodes.
    pub nodes: Vec<u32>,
    /// Per store node, every overlay sample interval.
    pub samples: Vec<StoreSample>,
    /// Convergence after rejoins and partition heals.
    pub convergence: Vec<StoreConvergence>,
    /// Store counters (name, value).
    pub counters: Vec<(String, u64)>,
    /// Queries answered (client side) and their latency: (count, p50 ms, p95 ms, mean ms; 0 without any).
    pub query_latency: (u64, f64, f64, f64),
    /// Queries served, per node index.
    pub served_per_node: Vec<u64>,
    /// Messages recovered from store, per node index.
    pub recovered_per_node: Vec<u64>,
    /// Recovered messages' publish-to-recovery delay: (count, p50 ms, p95 ms, mean ms; 0 without any).
    pub recovery_delay: (u64, f64, f64, f64),
    /// Finished syncs.
    pub syncs: Vec<crate::store_sync::SyncRecord>,
}

impl StoreOutput {
    /// A store counter by name (0 when unknown).
    pub fn counter(&self, name: &str) -> u64 {
        counter(&self.counters, name)
    }
}

/// Relay's results.
#[derive(Clone, Debug, PartialEq)]
pub struct RelayOutput {
    /// Delivery.
    pub delivery: Delivery,
    /// Delivery over time.
    pub delivery_series: Vec<DeliveryPoint>,
    /// Latency.
    pub latency: Latency,
    /// Duplicates.
    pub duplicates: Duplicates,
    /// Mesh degrees over time, per topic.
    pub mesh: Vec<MeshSample>,
    /// Publish outcomes.
    pub publishing: PublishStats,
    /// Relay counters (name, value).
    pub counters: Vec<(String, u64)>,
    /// Relay bytes sent per topic over the measured window (messages, IHAVE entries, GRAFT,
    /// PRUNE; without framing), by topic index.
    pub topic_bytes_out: Vec<u64>,
    /// Per implementation group, in `[[relay.implementations]]` order (empty without).
    pub implementations: Vec<ImplOutput>,
    /// Each node's index in `implementations` (empty without groups).
    pub impl_of: Vec<u8>,
}

/// One implementation group's relay figures (measured window; counted messages only).
#[derive(Clone, Debug, PartialEq)]
pub struct ImplOutput {
    /// Its label.
    pub name: String,
    /// Its profile (`nim-libp2p`, `go-libp2p`, `rust-libp2p`).
    pub profile: String,
    /// Nodes in the group.
    pub nodes: u32,
    /// Mean mesh size over its online nodes' subscriptions, averaged over the mesh samples
    /// (every series interval) from the warm-up on.
    pub mesh_mean: f64,
    /// Mean latency of first copies at its nodes, in milliseconds (NaN without any).
    pub latency_mean_ms: f64,
    /// 95th percentile of that latency, in milliseconds.
    pub latency_p95_ms: f64,
    /// Mean copies received after the first per (node, message).
    pub duplicates_mean: f64,
}

/// The overlay's results: shards, mesh health, connections.
#[derive(Clone, Debug, PartialEq)]
pub struct OverlayOutput {
    /// The topic (shard) names, by index.
    pub topics: Vec<String>,
    /// Mesh health per shard over time (every `overlay_sample_interval`).
    pub shard_health: Vec<ShardHealth>,
    /// Connections per node over time (every `overlay_sample_interval`).
    pub connections: Vec<ConnSample>,
    /// Each node at the end of the run.
    pub nodes: Vec<NodeSummary>,
}

/// The peer manager's results (all 0 without one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeerManagerOutput {
    /// Peer manager counters (name, value).
    pub counters: Vec<(String, u64)>,
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

fn counter(counters: &[(String, u64)], name: &str) -> u64 {
    counters
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0, |(_, v)| *v)
}

impl RelayOutput {
    /// A relay counter by name (0 when unknown).
    pub fn counter(&self, name: &str) -> u64 {
        counter(&self.counters, name)
    }
}

impl PeerManagerOutput {
    /// A peer manager counter by name (0 when unknown).
    pub fn counter(&self, name: &str) -> u64 {
        counter(&self.counters, name)
    }
}
