//! Regions: a round-trip-time matrix from public measurements, default region weights, and the
//! region latency model.
//!
//! The built-in matrix (`data/regions.csv`, embedded with `include_str!` so it works from any
//! directory) holds eight regions and the round-trip time between each pair, from cloudping.co's
//! AWS inter-region measurements as embedded in jvm-libp2p's gossip simulator (the file's
//! header comment has the details). The built-in weights (`data/region_weights.csv`) say where
//! nodes run when a scenario does not: mostly Europe and North America, some Asia, derived from
//! Ethereum node crawls because no census of Waku nodes exists.
//!
//! One-way latency between regions is half the round-trip time. Inside a region it is half of
//! `intra_region_rtt_ms` (default 10 ms, so 5 ms one-way).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sim_core::{LatencyModel, NodeId, SimDuration};

use crate::error::{Result, TopologyError};

/// The built-in region round-trip-time matrix (CSV with a commented header citing its source).
pub const BUILTIN_MATRIX_CSV: &str = include_str!("../data/regions.csv");

/// The built-in default region weights (CSV with a commented header citing its source).
pub const BUILTIN_WEIGHTS_CSV: &str = include_str!("../data/region_weights.csv");

/// Default round trip between two nodes of the same region, in milliseconds.
pub const DEFAULT_INTRA_REGION_RTT_MS: f64 = 10.0;

/// A region's index in a [`RegionMatrix`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RegionId(pub u16);

impl RegionId {
    /// The id as an index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Named regions and the round-trip time between each pair of distinct regions.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionMatrix {
    names: Vec<String>,
    /// Row-major `len x len`; the diagonal is unused (NaN).
    rtt_ms: Vec<f64>,
}

impl RegionMatrix {
    /// The built-in matrix of [`BUILTIN_MATRIX_CSV`].
    pub fn builtin() -> Self {
        match Self::from_csv(BUILTIN_MATRIX_CSV) {
            Ok(m) => m,
            Err(e) => panic!("the built-in region matrix is invalid: {e}"),
        }
    }

    /// Parses a square matrix: lines starting with `#` are comments; the first row is
    /// `region,<name>,<name>,…`; each following row is `<name>,<rtt>,…` in the same order,
    /// with `-` on the diagonal. Round-trip times are in milliseconds, finite and positive, and
    /// the matrix must be symmetric.
    pub fn from_csv(text: &str) -> Result<Self> {
        let mut rows = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        let bad = |line: usize, reason: String| TopologyError::Malformed {
            location: format!("region matrix line {line}"),
            reason,
        };
        let (hline, header) = rows
            .next()
            .ok_or_else(|| bad(1, "empty: no header row".into()))?;
        let names: Vec<String> = header
            .split(',')
            .skip(1)
            .map(|s| s.trim().to_owned())
            .collect();
        if names.is_empty() {
            return Err(bad(hline, "the header names no regions".into()));
        }
        if names.len() > usize::from(u16::MAX) {
            return Err(bad(hline, "too many regions".into()));
        }
        for (i, n) in names.iter().enumerate() {
            if n.is_empty() {
                return Err(bad(hline, format!("region {} has an empty name", i + 1)));
            }
            if names[..i].contains(n) {
                return Err(bad(hline, format!("region {n:?} named twice")));
            }
        }
        let r = names.len();
        let mut rtt = vec![f64::NAN; r * r];
        let mut seen = 0;
        for (line, row) in rows {
            let cells: Vec<&str> = row.split(',').map(str::trim).collect();
            if seen >= r {
                return Err(bad(
                    line,
                    format!("more rows than the {r} regions of the header"),
                ));
            }
            if cells[0] != names[seen] {
                return Err(bad(
                    line,
                    format!(
                        "row {:?} where {:?} was expected (rows follow the header's order)",
                        cells[0], names[seen]
                    ),
                ));
            }
            if cells.len() != r + 1 {
                return Err(bad(
                    line,
                    format!("{} values where {r} were expected", cells.len() - 1),
                ));
            }
            for (j, c) in cells[1..].iter().enumerate() {
                if j == seen {
                    if *c != "-" && !c.is_empty() {
                        return Err(bad(
                            line,
                            format!(
                                "the diagonal must be '-' (intra-region RTT is a setting), got {c:?}"
                            ),
                        ));
                    }
                    continue;
                }
                let v: f64 = c
                    .parse()
                    .map_err(|_| bad(line, format!("{c:?} is not a number of milliseconds")))?;
                if !(v.is_finite() && v > 0.0) {
                    return Err(bad(
                        line,
                        format!("round-trip time {v} must be positive and finite"),
                    ));
                }
                rtt[seen * r + j] = v;
            }
            seen += 1;
        }
        if seen < r {
            return Err(bad(
                hline,
                format!("{seen} rows for {r} regions; give one row per region"),
            ));
        }
        for i in 0..r {
            for j in i + 1..r {
                if rtt[i * r + j] != rtt[j * r + i] {
                    return Err(TopologyError::Malformed {
                        location: "region matrix".into(),
                        reason: format!(
                            "not symmetric: {} -> {} is {} ms but {} -> {} is {} ms",
                            names[i],
                            names[j],
                            rtt[i * r + j],
                            names[j],
                            names[i],
                            rtt[j * r + i]
                        ),
                    });
                }
            }
        }
        Ok(RegionMatrix { names, rtt_ms: rtt })
    }

    /// Number of regions.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when there are no regions (never for a parsed matrix).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Region names, in id order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The name of a region.
    pub fn name(&self, id: RegionId) -> &str {
        &self.names[id.index()]
    }

    /// The id of a region name, if defined.
    pub fn id(&self, name: &str) -> Option<RegionId> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| RegionId(i as u16))
    }

    /// The id of a region name, or an [`TopologyError::UnknownName`] naming `field`.
    pub fn lookup(&self, field: &str, name: &str) -> Result<RegionId> {
        self.id(name).ok_or_else(|| TopologyError::UnknownName {
            field: field.to_owned(),
            what: "region",
            name: name.to_owned(),
            known: self.names.join(", "),
        })
    }

    /// The measured round-trip time between two distinct regions, in milliseconds (`None`
    /// for a region with itself).
    pub fn rtt_ms(&self, a: RegionId, b: RegionId) -> Option<f64> {
        (a != b).then(|| self.rtt_ms[a.index() * self.len() + b.index()])
    }

    /// One-way latency between two regions: half the round-trip time, or half of
    /// `intra_region_rtt` within a region.
    pub fn one_way(&self, a: RegionId, b: RegionId, intra_region_rtt: SimDuration) -> SimDuration {
        match self.rtt_ms(a, b) {
            Some(ms) => SimDuration::from_nanos((ms * 1e6 / 2.0).round() as u64),
            None => SimDuration::from_nanos(intra_region_rtt.as_nanos() / 2),
        }
    }
}

/// The built-in default region weights of [`BUILTIN_WEIGHTS_CSV`], as (name, weight).
pub fn builtin_weights() -> Vec<(String, f64)> {
    BUILTIN_WEIGHTS_CSV
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("region,"))
        .map(|l| {
            let (name, w) = l.split_once(',').expect("built-in weights: name,weight");
            (
                name.trim().to_owned(),
                w.trim().parse().expect("built-in weights: a number"),
            )
        })
        .collect()
}

/// Where the nodes are and how far apart regions are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegionsSpec {
    /// Round-trip time between two nodes of the same region, in milliseconds. Default 10
    /// (one-way 5 ms): a wakusim region spans many cities (in the source data London-Paris is
    /// 9-10 ms, London-Ireland 13 ms, N. Virginia-Ohio 12-13 ms), so the source's
    /// within-one-AWS-region figure of 1-4 ms would be too optimistic.
    pub intra_region_rtt_ms: f64,
    /// Share of nodes per region, for groups that give no region mix: a table of region name
    /// to weight (weights are normalised, so they need not add up to 1). Default: the built-in
    /// weights of `data/region_weights.csv` (europe-west 0.15, europe-central 0.24, us-east
    /// 0.29, us-west 0.16, south-america 0.025, asia-east 0.06, asia-southeast 0.05, oceania
    /// 0.025; derived from Ethereum node crawls, see the file).
    pub weights: Option<BTreeMap<String, f64>>,
}

impl Default for RegionsSpec {
    fn default() -> Self {
        RegionsSpec {
            intra_region_rtt_ms: DEFAULT_INTRA_REGION_RTT_MS,
            weights: None,
        }
    }
}

impl RegionsSpec {
    /// Checks the values against the built-in matrix.
    pub fn validate(&self) -> Result<()> {
        self.intra_region_rtt()?;
        self.default_weights(&RegionMatrix::builtin())?;
        Ok(())
    }

    /// The intra-region round trip as a duration.
    pub fn intra_region_rtt(&self) -> Result<SimDuration> {
        SimDuration::try_from_millis_f64("intra_region_rtt_ms", self.intra_region_rtt_ms).map_err(
            |e| {
                TopologyError::invalid(
                    "intra_region_rtt_ms",
                    self.intra_region_rtt_ms,
                    format!("{e}; give a round trip in milliseconds such as 10"),
                )
            },
        )
    }

    /// The default weights, one per region of `matrix` in id order.
    pub fn default_weights(&self, matrix: &RegionMatrix) -> Result<Vec<f64>> {
        match &self.weights {
            Some(w) => {
                crate::attrs::Mix::Weighted(w.clone()).dense("weights", matrix.names(), "region")
            }
            None => {
                let mut dense = vec![0.0; matrix.len()];
                for (name, w) in builtin_weights() {
                    let id = matrix.lookup("weights", &name)?;
                    dense[id.index()] = w;
                }
                Ok(dense)
            }
        }
    }
}

/// The region latency model: one-way latency between two nodes is the one-way latency between
/// their regions. Implements [`sim_core::LatencyModel`].
#[derive(Clone, Debug)]
pub struct RegionLatency {
    node_region: Vec<RegionId>,
    regions: usize,
    /// Row-major `regions x regions` one-way latencies, diagonal included.
    one_way: Vec<SimDuration>,
}

impl RegionLatency {
    /// The model for nodes in `node_region` (node i is in region `node_region[i]`).
    pub fn new(
        matrix: &RegionMatrix,
        node_region: Vec<RegionId>,
        intra_region_rtt: SimDuration,
    ) -> Self {
        let r = matrix.len();
        let mut one_way = Vec::with_capacity(r * r);
        for a in 0..r {
            for b in 0..r {
                one_way.push(matrix.one_way(
                    RegionId(a as u16),
                    RegionId(b as u16),
                    intra_region_rtt,
                ));
            }
        }
        RegionLatency {
            node_region,
            regions: r,
            one_way,
        }
    }

    /// The region of a node.
    pub fn region(&self, node: NodeId) -> RegionId {
        self.node_region[node.index()]
    }
}

impl LatencyModel for RegionLatency {
    fn latency(&self, from: NodeId, to: NodeId) -> SimDuration {
        let a = self.node_region[from.index()].index();
        let b = self.node_region[to.index()].index();
        self.one_way[a * self.regions + b]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_matrix_is_full_and_symmetric() {
        let m = RegionMatrix::builtin();
        assert_eq!(m.len(), 8);
        for a in 0..8u16 {
            for b in 0..8u16 {
                let (a, b) = (RegionId(a), RegionId(b));
                if a == b {
                    assert_eq!(m.rtt_ms(a, b), None);
                } else {
                    let x = m.rtt_ms(a, b).unwrap();
                    assert!(x > 0.0 && x.is_finite());
                    assert_eq!(Some(x), m.rtt_ms(b, a));
                }
            }
        }
        // Spot checks against data/regions.csv: London-Frankfurt 17 ms, Virginia-Sao Paulo
        // 114 ms, Hong Kong-Singapore 38 ms.
        let id = |n: &str| m.id(n).unwrap();
        assert_eq!(
            m.rtt_ms(id("europe-west"), id("europe-central")),
            Some(17.0)
        );
        assert_eq!(m.rtt_ms(id("us-east"), id("south-america")), Some(114.0));
        assert_eq!(m.rtt_ms(id("asia-east"), id("asia-southeast")), Some(38.0));
    }

    #[test]
    fn one_way_is_half_the_round_trip() {
        let m = RegionMatrix::builtin();
        let (eu, us) = (m.id("europe-west").unwrap(), m.id("us-east").unwrap());
        // RTT 76 ms -> one-way 38 ms; RTT 17 ms -> 8.5 ms = 8,500 us.
        assert_eq!(
            m.one_way(eu, us, SimDuration::from_millis(10)),
            SimDuration::from_millis(38)
        );
        let de = m.id("europe-central").unwrap();
        assert_eq!(
            m.one_way(eu, de, SimDuration::ZERO),
            SimDuration::from_micros(8_500)
        );
        // Intra-region: half of the configured 10 ms.
        assert_eq!(
            m.one_way(eu, eu, SimDuration::from_millis(10)),
            SimDuration::from_millis(5)
        );
        let model = RegionLatency::new(&m, vec![eu, us, eu], SimDuration::from_millis(10));
        assert_eq!(
            model.latency(NodeId(0), NodeId(1)),
            SimDuration::from_millis(38)
        );
        assert_eq!(
            model.latency(NodeId(1), NodeId(0)),
            SimDuration::from_millis(38)
        );
        assert_eq!(
            model.latency(NodeId(0), NodeId(2)),
            SimDuration::from_millis(5)
        );
    }

    #[test]
    fn builtin_weights_cover_every_region_and_sum_to_one() {
        let m = RegionMatrix::builtin();
        let w = RegionsSpec::default().default_weights(&m).unwrap();
        assert_eq!(w.len(), 8);
        assert!(w.iter().all(|&x| x > 0.0));
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn malformed_matrices_are_refused() {
        let asym = "region,a,b\na,-,10\nb,11,-\n";
        assert!(matches!(
            RegionMatrix::from_csv(asym),
            Err(TopologyError::Malformed { .. })
        ));
        let short = "region,a,b\na,-,10\n";
        assert!(RegionMatrix::from_csv(short).is_err());
        let negative = "region,a,b\na,-,-3\nb,-3,-\n";
        assert!(RegionMatrix::from_csv(negative).is_err());
        let ok = "# c\nregion,a,b\na,-,10\nb,10,-\n";
        assert_eq!(RegionMatrix::from_csv(ok).unwrap().len(), 2);
    }
}
