//! The serde configuration types a scenario embeds, and the one call that turns them into a
//! network: [`NetworkSpec::build`].
//!
//! ```toml
//! nodes = 1000
//!
//! [topology]
//! kind = "dial"
//! outbound = 10
//! max_inbound = 40
//!
//! [[groups]]
//! count = 5
//! role = "bootstrap"
//! bandwidth = "datacenter"
//!
//! [[groups]]
//! fraction = 1.0
//! role = "relay"
//!
//! [latency]
//! model = "regions"
//! jitter = { kind = "exponential", mean_ms = 2 }
//!
//! [[faults]]
//! kind = "offline"
//! select = { roles = ["relay"], fraction = 0.1 }
//! start_s = 600
//! end_s = 2400
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sim_core::{Jitter, LinkCapacity, SimTime, TcpConfig};

use crate::attrs::{GroupSpec, NodeAttrs, expand_groups, group_counts};
use crate::bandwidth::{BandwidthClasses, BandwidthSpec};
use crate::churn::{FaultSchedule, FaultSpec, fault_schedule};
use crate::error::{Result, TopologyError};
use crate::generate;
use crate::graph::Graph;
use crate::io::{FileFormat, load_graph};
use crate::latency::{BaseLatency, EdgeLatency, LatencyModelKind, LatencySpec, NetworkLatency};
use crate::regions::{RegionLatency, RegionMatrix, RegionsSpec};
use crate::tcp::TcpSpec;

fn default_outbound() -> u32 {
    10
}
fn default_max_inbound() -> u32 {
    40
}

/// Which graph to build, with its parameters. In TOML, `kind = "…"` plus the parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TopologySpec {
    /// Every node has exactly `degree` neighbours ([`generate::random_regular`]).
    RandomRegular {
        /// The degree of every node; `nodes x degree` must be even and `degree < nodes`.
        degree: u32,
    },
    /// Each pair is an edge with probability `p` ([`generate::erdos_renyi`]).
    ErdosRenyi {
        /// Edge probability in [0, 1]. Mean degree = p (nodes - 1).
        p: f64,
    },
    /// Preferential attachment ([`generate::barabasi_albert`]).
    BarabasiAlbert {
        /// Edges each new node brings, at least 1 and below `nodes`.
        m: u32,
    },
    /// Small world ([`generate::watts_strogatz`]).
    WattsStrogatz {
        /// Ring neighbours per node, even and below `nodes`.
        k: u32,
        /// Rewiring probability in [0, 1].
        beta: f64,
    },
    /// Each node dials `outbound` random peers, each accepting at most `max_inbound`
    /// ([`generate::dial`]).
    Dial {
        /// Peers each node dials. Default 10 (the relay scenarios' setting).
        #[serde(default = "default_outbound")]
        outbound: u32,
        /// Most inbound connections a node accepts. Default 40.
        #[serde(default = "default_max_inbound")]
        max_inbound: u32,
    },
    /// Every pair connected.
    Complete,
    /// A cycle through the nodes in id order.
    Ring,
    /// A path through the nodes in id order.
    Line,
    /// A graph file (a crawl of the real network, or an earlier export).
    File {
        /// The file. A relative path is relative to the working directory unless the caller
        /// resolves it first ([`TopologySpec::with_base_dir`]; `wakusim` makes it absolute,
        /// relative to the scenario file that names it).
        path: PathBuf,
        /// `csv` or `graphml`. Default: from the extension.
        #[serde(default)]
        format: Option<FileFormat>,
    },
}

impl Default for TopologySpec {
    /// Dial 10, accept 40: the relay scenarios' overlay.
    fn default() -> Self {
        TopologySpec::Dial {
            outbound: default_outbound(),
            max_inbound: default_max_inbound(),
        }
    }
}

impl TopologySpec {
    /// The `kind` name, as in TOML.
    pub fn kind(&self) -> &'static str {
        match self {
            TopologySpec::RandomRegular { .. } => "random_regular",
            TopologySpec::ErdosRenyi { .. } => "erdos_renyi",
            TopologySpec::BarabasiAlbert { .. } => "barabasi_albert",
            TopologySpec::WattsStrogatz { .. } => "watts_strogatz",
            TopologySpec::Dial { .. } => "dial",
            TopologySpec::Complete => "complete",
            TopologySpec::Ring => "ring",
            TopologySpec::Line => "line",
            TopologySpec::File { .. } => "file",
        }
    }

    /// The same spec with a relative file path made relative to `dir` (e.g. the directory of
    /// the scenario file).
    pub fn with_base_dir(&self, dir: &Path) -> TopologySpec {
        match self {
            TopologySpec::File { path, format } if path.is_relative() => TopologySpec::File {
                path: dir.join(path),
                format: *format,
            },
            other => other.clone(),
        }
    }

    /// Checks the parameters that do not depend on the node count (which [`Self::build`]
    /// checks).
    pub fn validate(&self) -> Result<()> {
        let prob = |field: &str, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(TopologyError::invalid(
                    field,
                    p,
                    "must be a probability between 0 and 1 inclusive",
                ))
            }
        };
        match self {
            TopologySpec::ErdosRenyi { p } => prob("p", *p),
            TopologySpec::WattsStrogatz { k, beta } => {
                if k % 2 == 1 {
                    return Err(TopologyError::invalid(
                        "k",
                        k,
                        "must be even: each node joins k/2 neighbours on each side of the ring",
                    ));
                }
                prob("beta", *beta)
            }
            TopologySpec::BarabasiAlbert { m } if *m == 0 => Err(TopologyError::invalid(
                "m",
                m,
                "edges per new node must be at least 1",
            )),
            TopologySpec::Dial {
                outbound,
                max_inbound,
            } if *max_inbound == 0 && *outbound > 0 => Err(TopologyError::invalid(
                "max_inbound",
                max_inbound,
                "must be at least 1 when nodes dial out, or no dial could be accepted",
            )),
            _ => Ok(()),
        }
    }

    /// Builds the graph for `n` nodes from `seed`. For a file, `n` must match the file (a CSV
    /// edge list may leave trailing nodes isolated, so there `n` may exceed its largest id).
    /// Errors name the parameter (`degree`, `p`, …) without a prefix; [`NetworkSpec`] adds
    /// `topology.`.
    pub fn build(&self, n: u32, seed: u64) -> Result<Graph> {
        match self {
            TopologySpec::RandomRegular { degree } => generate::random_regular(n, *degree, seed),
            TopologySpec::ErdosRenyi { p } => generate::erdos_renyi(n, *p, seed),
            TopologySpec::BarabasiAlbert { m } => generate::barabasi_albert(n, *m, seed),
            TopologySpec::WattsStrogatz { k, beta } => generate::watts_strogatz(n, *k, *beta, seed),
            TopologySpec::Dial {
                outbound,
                max_inbound,
            } => generate::dial(n, *outbound, *max_inbound, seed),
            TopologySpec::Complete => generate::complete(n),
            TopologySpec::Ring => generate::ring(n),
            TopologySpec::Line => generate::line(n),
            TopologySpec::File { path, format } => load_graph(path, *format, Some(n)),
        }
    }

    /// Loads a `file` topology with the node count the file implies (`None` for the other
    /// kinds, which need a node count).
    pub fn load_file(&self) -> Option<Result<Graph>> {
        match self {
            TopologySpec::File { path, format } => Some(load_graph(path, *format, None)),
            _ => None,
        }
    }
}

/// A scenario's whole network section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSpec {
    /// Number of nodes. Required, except with a `file` topology, where it defaults to the
    /// file's node count.
    pub nodes: Option<u32>,
    /// The graph. Default: `dial` with outbound 10, max_inbound 40.
    pub topology: TopologySpec,
    /// Groups of nodes (role, region, bandwidth). Default: every node a relay, with the
    /// default region weights and bandwidth mix.
    pub groups: Vec<GroupSpec>,
    /// Intra-region round trip and default region weights.
    pub regions: RegionsSpec,
    /// Latency model and jitter.
    pub latency: LatencySpec,
    /// Bandwidth classes and the default mix.
    pub bandwidth: BandwidthSpec,
    /// Churn, offline windows, sleep cycles, partitions and degradations. Default: none.
    pub faults: Vec<FaultSpec>,
    /// The TCP model of every connection (`[network.tcp]`). Default: on (`enabled = false`
    /// switches it off).
    pub tcp: TcpSpec,
}

/// A built network: everything the engine needs to know about the nodes and their links.
#[derive(Debug)]
pub struct Network {
    /// The overlay: who is connected to whom, and who dialled.
    pub graph: Graph,
    /// Role, region and bandwidth class of each node (index = node id).
    pub attrs: Vec<NodeAttrs>,
    /// The region matrix the attributes index.
    pub regions: RegionMatrix,
    /// The bandwidth classes the attributes index.
    pub classes: BandwidthClasses,
    /// One-way base latency between any two nodes.
    pub latency: NetworkLatency,
    /// Upload/download capacity of each node (index = node id).
    pub capacities: Vec<LinkCapacity>,
    /// Jitter for the engine's `NetworkConfig::jitter`.
    pub jitter: Jitter,
    /// The TCP model for the engine's `NetworkConfig::tcp` (`None`: off).
    pub tcp: Option<TcpConfig>,
    /// Faults for the engine, sorted by time.
    pub faults: FaultSchedule,
}

impl Network {
    /// Number of nodes.
    pub fn node_count(&self) -> u32 {
        self.graph.node_count()
    }
}

impl NetworkSpec {
    /// Checks everything that can be checked without building (and without reading a file):
    /// every error names its field path (`topology.p`, `groups[1].fraction`,
    /// `faults[0].session.shape`) and says what would be accepted.
    pub fn validate(&self) -> Result<()> {
        let regions = RegionMatrix::builtin();
        match (&self.nodes, &self.topology) {
            (None, TopologySpec::File { .. }) => {}
            (None, _) => {
                return Err(TopologyError::invalid(
                    "nodes",
                    "missing",
                    "give the number of nodes (only a `file` topology can imply it)",
                ));
            }
            (Some(0), _) => {
                return Err(TopologyError::invalid(
                    "nodes",
                    0,
                    "a network needs at least one node",
                ));
            }
            _ => {}
        }
        self.topology
            .validate()
            .map_err(|e| e.prefixed("topology"))?;
        if let Some(n) = self.nodes {
            group_counts(&self.groups, n)?;
        }
        self.regions.validate().map_err(|e| e.prefixed("regions"))?;
        self.latency.validate().map_err(|e| e.prefixed("latency"))?;
        self.bandwidth
            .validate()
            .map_err(|e| e.prefixed("bandwidth"))?;
        let classes = self
            .bandwidth
            .classes()
            .map_err(|e| e.prefixed("bandwidth"))?;
        for (i, g) in self.groups.iter().enumerate() {
            if let Some(m) = &g.region {
                m.dense(&format!("groups[{i}].region"), regions.names(), "region")?;
            }
            if let Some(m) = &g.bandwidth {
                m.dense(
                    &format!("groups[{i}].bandwidth"),
                    &classes.names(),
                    "bandwidth class",
                )?;
            }
        }
        for (i, f) in self.faults.iter().enumerate() {
            f.validate(&format!("faults[{i}]"), &regions)?;
        }
        self.tcp.validate().map_err(|e| e.prefixed("tcp"))?;
        Ok(())
    }

    /// Builds the network for a run of length `horizon` (fault events at or after it are left
    /// out) from the run's master `seed`. Each part draws from its own named stream, so
    /// changing, say, the fault list does not change the graph.
    pub fn build(&self, seed: u64, horizon: SimTime) -> Result<Network> {
        self.validate()?;
        let graph = match (self.nodes, self.topology.load_file()) {
            (None, Some(loaded)) => loaded.map_err(|e| e.prefixed("topology"))?,
            (Some(n), _) => self
                .topology
                .build(n, seed)
                .map_err(|e| e.prefixed("topology"))?,
            (None, None) => unreachable!("validate() requires nodes for generated topologies"),
        };
        let n = graph.node_count();
        let regions = RegionMatrix::builtin();
        let region_weights = self
            .regions
            .default_weights(&regions)
            .map_err(|e| e.prefixed("regions"))?;
        let classes = self
            .bandwidth
            .classes()
            .map_err(|e| e.prefixed("bandwidth"))?;
        let class_weights = self
            .bandwidth
            .default_weights(&classes)
            .map_err(|e| e.prefixed("bandwidth"))?;
        let attrs = expand_groups(
            &self.groups,
            n,
            &regions,
            &region_weights,
            &classes,
            &class_weights,
            seed,
        )?;
        let capacities = attrs
            .iter()
            .map(|a| classes.capacity(a.bandwidth))
            .collect();
        let base = match self.latency.model {
            LatencyModelKind::Constant => BaseLatency::Constant(
                self.latency
                    .constant_latency()
                    .map_err(|e| e.prefixed("latency"))?,
            ),
            LatencyModelKind::Regions => BaseLatency::Regions(RegionLatency::new(
                &regions,
                attrs.iter().map(|a| a.region).collect(),
                self.regions
                    .intra_region_rtt()
                    .map_err(|e| e.prefixed("regions"))?,
            )),
        };
        let latency = if self.latency.use_edge_latency {
            EdgeLatency::new(&graph, base)
        } else {
            EdgeLatency::without_edges(base)
        };
        let faults = fault_schedule(&self.faults, &attrs, &regions, horizon, seed)?;
        Ok(Network {
            graph,
            attrs,
            regions,
            classes,
            latency,
            capacities,
            jitter: self.latency.jitter,
            tcp: self.tcp.config(),
            faults,
        })
    }
}
