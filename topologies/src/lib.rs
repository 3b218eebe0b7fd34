//! # topologies: the network a wakusim study runs on
//!
//! A study is only as good as the network it runs on: real Waku nodes sit in datacenters and on
//! home and mobile links around the world, and they come and go. This crate describes that
//! network. It runs nothing itself: it builds graphs and node attributes, latency models,
//! link capacities and fault schedules that `sim-core`'s engine then executes.
//!
//! ## What is here
//!
//! | module | contents |
//! |--------|----------|
//! | [`graph`] | [`Graph`]: compact CSR undirected simple graph; edges remember who dialled |
//! | [`generate`] | seeded generators: random regular, Erdős–Rényi, Barabási–Albert, Watts–Strogatz, dial-k-accept-m, complete, ring, line |
//! | [`io`] | GraphML and CSV edge-list import/export (with per-edge latency and dial direction) |
//! | [`attrs`] | node [`Role`]s, [`NodeAttrs`], scenario [`GroupSpec`]s and [`expand_groups`] |
//! | [`regions`] | region round-trip matrix from public measurements, default weights, [`RegionLatency`] |
//! | [`latency`] | [`LatencySpec`], constant / region models, measured per-edge latency over either |
//! | [`bandwidth`] | named bandwidth classes (datacenter, home-fibre, home, mobile) → [`sim_core::LinkCapacity`] |
//! | [`churn`] | churn (exponential / Weibull / Pareto / log-normal sessions), offline windows, sleep cycles, partitions, degradations → `Vec<(SimTime, Fault)>` |
//! | [`stats`] | [`GraphStats`]: degrees, components, diameter, clustering (exact or labelled estimates) |
//! | [`tcp`] | [`TcpSpec`]: `[network.tcp]`, the TCP model of every connection → [`sim_core::TcpConfig`] |
//! | [`spec`] | [`TopologySpec`], [`NetworkSpec`] and [`NetworkSpec::build`] → [`Network`] |
//!
//! ## Turning a scenario's network section into a run
//!
//! ```
//! use topologies::{NetworkSpec, TopologySpec};
//! use sim_core::{LatencyModel, NodeId, SimTime};
//!
//! let spec = NetworkSpec {
//!     nodes: Some(100),
//!     topology: TopologySpec::Dial { outbound: 10, max_inbound: 40 },
//!     ..NetworkSpec::default()
//! };
//! let net = spec.build(42, SimTime::from_secs(3600)).unwrap();
//! assert_eq!(net.node_count(), 100);
//! // Per node: attributes, capacity; per pair: latency; per edge: who dialled.
//! let _role = net.attrs[0].role;
//! let _cap = net.capacities[0];
//! let _lat = net.latency.latency(NodeId(0), NodeId(1));
//! for e in net.graph.edges() {
//!     assert_eq!(e.dialer(), Some(e.a));
//! }
//! assert!(net.faults.is_empty());
//! ```
//!
//! ## Determinism
//!
//! Everything is a pure function of (parameters, seed). Each construction draws from its own
//! stream `sim_core::rng::stream(seed, scope, "topology/<name>")` through a few fixed sampling
//! algorithms (Lemire bounded integers, Fisher–Yates, inversion), not through `rand`'s
//! higher-level helpers, so results do not change when a dependency is upgraded. Nothing that
//! affects output iterates a hash map.
//!
//! ## Units
//!
//! Times are [`sim_core::SimTime`] / [`sim_core::SimDuration`] (integer nanoseconds) inside,
//! and floats with the unit in the field name at the edges: `latency_ms`, `intra_region_rtt_ms`,
//! `start_s`, `mean_s`, `upload_mbps` (10^6 bit/s). Latencies given to the engine are one-way;
//! the region matrix holds round trips and is halved. Probabilities are in [0, 1].
//!
//! ## Where the data comes from
//!
//! - Region round-trip times (`data/regions.csv`): cloudping.co's AWS inter-region
//!   measurements as embedded in jvm-libp2p's gossip simulator (2023); the file cites the
//!   exact source and how the eight regions were mapped.
//! - Default region weights (`data/region_weights.csv`): derived from the location of Ethereum
//!   nodes (ethernodes.org, March 2021), for lack of a census of Waku nodes.
//! - Bandwidth classes: medians from Ookla's Speedtest Global Index and market reports, see
//!   [`bandwidth`]. The default bandwidth mix is an assumption and says so.
//!
//! ## Errors
//!
//! Bad input returns a [`TopologyError`] naming the field path or file line and what would be
//! accepted; it never panics. Panics are reserved for bugs (a generator producing an invalid
//! graph).

#![warn(missing_docs)]

pub mod attrs;
pub mod bandwidth;
pub mod churn;
mod error;
pub mod generate;
pub mod graph;
pub mod io;
pub mod latency;
pub mod regions;
mod sample;
pub mod spec;
pub mod stats;
pub mod tcp;

pub use attrs::{GroupSpec, Mix, NodeAttrs, Role, expand_groups};
pub use bandwidth::{BandwidthClass, BandwidthClasses, BandwidthSpec, ClassId};
pub use churn::{Dist, FaultSchedule, FaultSpec, NodeSelector, fault_schedule};
pub use error::{Result, TopologyError};
pub use graph::{Edge, EdgeAttr, Graph};
pub use io::FileFormat;
pub use latency::{BaseLatency, EdgeLatency, LatencyModelKind, LatencySpec, NetworkLatency};
pub use regions::{RegionId, RegionLatency, RegionMatrix, RegionsSpec};
pub use spec::{Network, NetworkSpec, TopologySpec};
pub use stats::{GraphStats, StatsOptions, graph_stats};
pub use tcp::TcpSpec;
