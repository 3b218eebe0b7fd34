//! Latency models: by region, constant, and per-edge measured latency over either.
//!
//! All latencies here are **one-way** and before jitter: the engine adds jitter from its own
//! seeded stream ([`sim_core::Jitter`], passed through unchanged from [`LatencySpec::jitter`]).

use serde::{Deserialize, Serialize};
use sim_core::{ConstantLatency, Jitter, LatencyModel, NodeId, SimDuration};

use crate::error::{Result, TopologyError};
use crate::graph::Graph;
use crate::regions::RegionLatency;

/// Which base model gives the latency between two nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyModelKind {
    /// Half the round trip between the two nodes' regions (see [`crate::regions`]).
    #[default]
    Regions,
    /// `constant_latency_ms` between every pair.
    Constant,
}

/// Default one-way latency of the constant model, in milliseconds.
pub const DEFAULT_CONSTANT_LATENCY_MS: f64 = 100.0;

/// How latency is modelled.
///
/// ```toml
/// [latency]
/// model = "constant"
/// constant_latency_ms = 100
/// jitter = { kind = "uniform", max_ms = 5 }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencySpec {
    /// `regions` or `constant`. Default: `regions`.
    pub model: LatencyModelKind,
    /// One-way latency between every pair for the `constant` model, in milliseconds. Default
    /// 100.
    pub constant_latency_ms: f64,
    /// Whether an edge's measured latency (from an imported file's `latency_ms`) replaces the
    /// model's for that pair. Default true.
    pub use_edge_latency: bool,
    /// Random extra delay per message, applied by the engine. Default: none.
    pub jitter: Jitter,
}

impl Default for LatencySpec {
    fn default() -> Self {
        LatencySpec {
            model: LatencyModelKind::Regions,
            constant_latency_ms: DEFAULT_CONSTANT_LATENCY_MS,
            use_edge_latency: true,
            jitter: Jitter::None,
        }
    }
}

impl LatencySpec {
    /// The constant model's latency as a duration.
    pub fn constant_latency(&self) -> Result<SimDuration> {
        SimDuration::try_from_millis_f64("constant_latency_ms", self.constant_latency_ms).map_err(
            |e| {
                TopologyError::invalid(
                    "constant_latency_ms",
                    self.constant_latency_ms,
                    format!("{e}; give a one-way latency in milliseconds such as 100"),
                )
            },
        )
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<()> {
        self.constant_latency()?;
        match self.jitter {
            Jitter::None => {}
            Jitter::Uniform { max_ms } => check_ms("jitter.max_ms", max_ms)?,
            Jitter::Exponential { mean_ms } => check_ms("jitter.mean_ms", mean_ms)?,
        }
        Ok(())
    }
}

fn check_ms(field: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(TopologyError::invalid(
            field,
            v,
            "must be a finite number of milliseconds >= 0",
        ));
    }
    Ok(())
}

/// A base latency model: region matrix or constant.
#[derive(Clone, Debug)]
pub enum BaseLatency {
    /// The same latency between every pair.
    Constant(SimDuration),
    /// By region.
    Regions(RegionLatency),
}

impl LatencyModel for BaseLatency {
    fn latency(&self, from: NodeId, to: NodeId) -> SimDuration {
        match self {
            BaseLatency::Constant(d) => ConstantLatency(*d).latency(from, to),
            BaseLatency::Regions(r) => r.latency(from, to),
        }
    }
}

/// Measured per-edge latency where a graph has it, `fallback` for every other pair (the
/// engine asks for pairs that are not edges too, e.g. discovery traffic).
#[derive(Clone, Debug)]
pub struct EdgeLatency<M> {
    /// Sorted by key `(min id << 32) | max id`; only edges with a latency.
    table: Vec<(u64, SimDuration)>,
    fallback: M,
}

fn pair_key(x: NodeId, y: NodeId) -> u64 {
    let (a, b) = if x.0 <= y.0 { (x.0, y.0) } else { (y.0, x.0) };
    (u64::from(a) << 32) | u64::from(b)
}

impl<M: LatencyModel> EdgeLatency<M> {
    /// The edge latencies of `graph` (none if it has none) over `fallback`.
    pub fn new(graph: &Graph, fallback: M) -> Self {
        let mut table: Vec<(u64, SimDuration)> = graph
            .edges()
            .iter()
            .enumerate()
            .filter_map(|(i, e)| graph.edge_latency(i).map(|d| (pair_key(e.a, e.b), d)))
            .collect();
        table.sort_unstable();
        EdgeLatency { table, fallback }
    }

    /// No edge latencies: just `fallback`.
    pub fn without_edges(fallback: M) -> Self {
        EdgeLatency {
            table: Vec::new(),
            fallback,
        }
    }

    /// Number of pairs with a measured latency.
    pub fn measured_pairs(&self) -> usize {
        self.table.len()
    }

    /// The fallback model.
    pub fn fallback(&self) -> &M {
        &self.fallback
    }
}

impl<M: LatencyModel> LatencyModel for EdgeLatency<M> {
    fn latency(&self, from: NodeId, to: NodeId) -> SimDuration {
        if !self.table.is_empty() {
            let k = pair_key(from, to);
            if let Ok(i) = self.table.binary_search_by_key(&k, |&(key, _)| key) {
                return self.table[i].1;
            }
        }
        self.fallback.latency(from, to)
    }
}

/// The latency model of a built network.
pub type NetworkLatency = EdgeLatency<BaseLatency>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Edge;

    #[test]
    fn edge_latency_wins_where_present_and_is_symmetric() {
        let g = Graph::with_latency(
            3,
            vec![Edge::undirected(0, 1), Edge::undirected(1, 2)],
            Some(vec![Some(SimDuration::from_millis(7)), None]),
        )
        .unwrap();
        let m = EdgeLatency::new(&g, BaseLatency::Constant(SimDuration::from_millis(100)));
        assert_eq!(m.measured_pairs(), 1);
        assert_eq!(m.latency(NodeId(0), NodeId(1)), SimDuration::from_millis(7));
        assert_eq!(m.latency(NodeId(1), NodeId(0)), SimDuration::from_millis(7));
        // Edge without a latency and a non-edge: the fallback.
        assert_eq!(
            m.latency(NodeId(1), NodeId(2)),
            SimDuration::from_millis(100)
        );
        assert_eq!(
            m.latency(NodeId(0), NodeId(2)),
            SimDuration::from_millis(100)
        );
    }

    #[test]
    fn bad_values_are_refused() {
        let s = LatencySpec {
            constant_latency_ms: -1.0,
            ..LatencySpec::default()
        };
        assert!(
            matches!(s.validate(), Err(TopologyError::InvalidParameter { ref field, .. }) if field == "constant_latency_ms")
        );
        let s = LatencySpec {
            jitter: Jitter::Uniform { max_ms: f64::NAN },
            ..LatencySpec::default()
        };
        assert!(s.validate().is_err());
    }
}
