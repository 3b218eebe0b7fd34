//! Churn and fault schedules: when nodes go offline and come back, when regions are cut off
//! from each other, when links degrade.
//!
//! A schedule is a sorted `Vec<(SimTime, Fault)>` that the engine executes; this module only
//! computes it, deterministically from (specs, node attributes, horizon, seed).
//!
//! ```toml
//! # Heavy-tailed sessions for 30 % of the relays (measurement studies of P2P networks find
//! # Weibull / log-normal / Pareto sessions rather than exponential ones).
//! [[faults]]
//! kind = "churn"
//! select = { roles = ["relay"], fraction = 0.3 }
//! session = { kind = "weibull", shape = 0.5, scale_s = 1800 }
//! offline = { kind = "exponential", mean_s = 600 }
//!
//! # "10 % of relay nodes offline from minute 10 to 40"
//! [[faults]]
//! kind = "offline"
//! select = { roles = ["relay"], fraction = 0.1 }
//! start_s = 600
//! end_s = 2400
//!
//! # Phones that sleep 20 minutes every hour, each with its own phase.
//! [[faults]]
//! kind = "sleep"
//! select = { roles = ["light_client"] }
//! period_s = 3600
//! sleep_s = 1200
//!
//! # Asia and Oceania cut off from everyone else for five minutes.
//! [[faults]]
//! kind = "partition"
//! groups = [["asia-east", "asia-southeast", "oceania"]]
//! start_s = 1200
//! end_s = 1500
//!
//! # Nodes 0 to 9 cut off from everyone else for ten minutes.
//! [[faults]]
//! kind = "partition"
//! select = { nodes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }
//! start_s = 600
//! end_s = 1200
//! ```
//!
//! # Semantics
//!
//! - Offline periods from all `churn`, `offline` and `sleep` entries are merged per node (a
//!   union of intervals), so every node's events strictly alternate `NodeOffline`,
//!   `NodeOnline`, `NodeOffline`, … whatever overlaps the scenario describes. Every node starts
//!   online.
//! - `churn`: from `start_s`, each selected node is online for a session drawn from `session`,
//!   then offline for a period drawn from `offline`, and so on until `end_s` (default: the
//!   horizon); a node offline at `end_s` comes back then.
//! - `sleep`: each selected node gets a phase uniform in `[0, period_s)`; it is offline during
//!   `[phase + j * period_s, phase + j * period_s + sleep_s)` for every whole j, clipped to
//!   `[start_s, end_s)`.
//! - `partition`: each listed set of regions (`groups`) becomes one side; the regions not
//!   listed form another (group 0). Or, with `select` instead of `groups`, the selected nodes
//!   are one side and every other node the other (`select = { roles = ["store"], count = 2 }`:
//!   two store nodes cut off with whatever else is selected). [`Fault::PartitionStart`] carries
//!   the group of every node; the engine then drops every send, datagram and dial across it,
//!   and (by default) closes the connections that cross it.
//! - `degrade`: [`Fault::DegradeNode`] at `start_s` and [`Fault::RestoreNode`] at `end_s` for
//!   each selected node. Overlapping degradations of one node are not merged: a restore ends
//!   them all.
//! - Events at or after the horizon are left out. Events at the same instant are ordered by
//!   kind (partition ends, partition starts, onlines, offlines, restores, degradations), then
//!   by node or partition id.
//!
//! # Randomness
//!
//! Entry `i` selects its nodes from the stream `topology/faults/{i}/select` and draws each
//! node's times from that node's own stream (scope = node id, label `topology/faults/{i}`), so
//! adding a node or an entry at the end changes nobody else's schedule. Distributions are
//! sampled by inversion with the fixed primitives of this crate.

use serde::{Deserialize, Serialize};
use sim_core::rng;
use sim_core::{Degradation, Fault, NodeId, SimDuration, SimTime};

use crate::attrs::{NodeAttrs, Role};
use crate::error::{Result, TopologyError};
use crate::regions::RegionMatrix;
use crate::sample::{choose_sorted, global_stream, standard_normal, unit, unit_open0};

/// A schedule of faults for the engine, sorted by time.
pub type FaultSchedule = Vec<(SimTime, Fault)>;

/// Longest single drawn duration, in seconds (about 31,700 years): heavy tails are clipped
/// here so that a draw always converts to a [`SimDuration`].
pub const MAX_DRAW_S: f64 = 1e12;

/// Largest number of events a schedule may hold (a limit, so that sessions of a nanosecond
/// cannot fill memory): about 1 GB of schedule.
pub const MAX_SCHEDULE_EVENTS: usize = 20_000_000;

fn too_many(field: &str) -> TopologyError {
    TopologyError::invalid(
        field,
        format!("more than {MAX_SCHEDULE_EVENTS} events"),
        "the schedule is too large; use longer sessions or periods, fewer nodes, or a shorter run",
    )
}

/// A distribution of durations, in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Dist {
    /// Always `value_s`.
    Constant {
        /// The duration in seconds, positive.
        value_s: f64,
    },
    /// Exponential with mean `mean_s` (memoryless; the classic but optimistic churn model).
    Exponential {
        /// Mean in seconds, positive.
        mean_s: f64,
    },
    /// Weibull with shape k and scale λ: `P(X > x) = exp(-(x/λ)^k)`. Shape below 1 is the
    /// heavy-ish tail P2P session measurements report (Stutzbach and Rejaie, IMC 2006).
    Weibull {
        /// Shape k, positive.
        shape: f64,
        /// Scale λ in seconds, positive. Mean = λ Γ(1 + 1/k).
        scale_s: f64,
    },
    /// Pareto (type I) with shape α and minimum x_m: `P(X > x) = (x_m/x)^α` for x ≥ x_m.
    Pareto {
        /// Shape α, positive. The mean is finite only for α > 1: α x_m / (α - 1).
        shape: f64,
        /// Minimum x_m in seconds, positive.
        scale_s: f64,
    },
    /// Log-normal: `exp(N(ln median, sigma^2))`.
    LogNormal {
        /// Median in seconds, positive.
        median_s: f64,
        /// Standard deviation of the logarithm, positive.
        sigma: f64,
    },
}

impl Dist {
    /// Checks the parameters; errors name `field`.
    pub fn validate(&self, field: &str) -> Result<()> {
        let pos = |name: &str, v: f64| -> Result<()> {
            if v.is_finite() && v > 0.0 && v <= MAX_DRAW_S {
                Ok(())
            } else {
                Err(TopologyError::invalid(
                    format!("{field}.{name}"),
                    v,
                    format!("must be a positive finite number (at most {MAX_DRAW_S})"),
                ))
            }
        };
        match *self {
            Dist::Constant { value_s } => pos("value_s", value_s),
            Dist::Exponential { mean_s } => pos("mean_s", mean_s),
            Dist::Weibull { shape, scale_s } => {
                pos("shape", shape)?;
                pos("scale_s", scale_s)
            }
            Dist::Pareto { shape, scale_s } => {
                pos("shape", shape)?;
                pos("scale_s", scale_s)
            }
            Dist::LogNormal { median_s, sigma } => {
                pos("median_s", median_s)?;
                pos("sigma", sigma)
            }
        }
    }

    /// One draw in seconds, by inversion of the CDF (clipped to [`MAX_DRAW_S`]).
    pub fn sample_s(&self, rng: &mut impl rand::RngCore) -> f64 {
        let x = match *self {
            Dist::Constant { value_s } => value_s,
            Dist::Exponential { mean_s } => -mean_s * unit_open0(rng).ln(),
            Dist::Weibull { shape, scale_s } => scale_s * (-unit_open0(rng).ln()).powf(1.0 / shape),
            Dist::Pareto { shape, scale_s } => scale_s * unit_open0(rng).powf(-1.0 / shape),
            Dist::LogNormal { median_s, sigma } => median_s * (sigma * standard_normal(rng)).exp(),
        };
        x.clamp(0.0, MAX_DRAW_S)
    }

    /// One draw as a duration, at least one nanosecond (so that time always advances).
    pub fn sample(&self, rng: &mut impl rand::RngCore) -> SimDuration {
        SimDuration::from_nanos(((self.sample_s(rng) * 1e9).round() as u64).max(1))
    }

    /// The mean in seconds, where it is finite (`None` for Pareto with shape <= 1).
    pub fn mean_s(&self) -> Option<f64> {
        match *self {
            Dist::Constant { value_s } => Some(value_s),
            Dist::Exponential { mean_s } => Some(mean_s),
            Dist::Weibull { shape, scale_s } => Some(scale_s * gamma(1.0 + 1.0 / shape)),
            Dist::Pareto { shape, scale_s } => {
                (shape > 1.0).then(|| shape * scale_s / (shape - 1.0))
            }
            Dist::LogNormal { median_s, sigma } => Some(median_s * (sigma * sigma / 2.0).exp()),
        }
    }
}

/// The gamma function for x >= 1 (Lanczos approximation, g = 7, 9 terms; relative error
/// below 1e-13), for the Weibull mean.
fn gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * a
}

/// Which nodes an entry applies to: the nodes matching every given filter, then a seeded
/// sample of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSelector {
    /// Only nodes with one of these roles. Default: any role.
    pub roles: Vec<Role>,
    /// Only nodes in one of these regions. Default: any region.
    pub regions: Vec<String>,
    /// Only these node ids. Default: any node.
    pub nodes: Vec<u32>,
    /// The share of the matching nodes to pick, in [0, 1], rounded to the nearest whole node.
    /// Default 1 (all of them).
    pub fraction: f64,
    /// Or exactly this many of the matching nodes (instead of `fraction`). Default: none.
    pub count: Option<u32>,
}

impl Default for NodeSelector {
    fn default() -> Self {
        NodeSelector {
            roles: Vec::new(),
            regions: Vec::new(),
            nodes: Vec::new(),
            fraction: 1.0,
            count: None,
        }
    }
}

impl NodeSelector {
    /// Checks the values (regions against `regions`); errors name `field`.
    pub fn validate(&self, field: &str, regions: &RegionMatrix) -> Result<()> {
        if !(0.0..=1.0).contains(&self.fraction) {
            return Err(TopologyError::invalid(
                format!("{field}.fraction"),
                self.fraction,
                "must be between 0 and 1",
            ));
        }
        if self.count.is_some() && self.fraction != 1.0 {
            return Err(TopologyError::invalid(
                format!("{field}.count"),
                "both count and fraction",
                "give either count or fraction, not both",
            ));
        }
        for (i, r) in self.regions.iter().enumerate() {
            regions.lookup(&format!("{field}.regions[{i}]"), r)?;
        }
        Ok(())
    }

    /// The selected node ids, sorted. Errors if `count` exceeds the number of matching nodes
    /// or a listed node does not exist.
    pub fn select(
        &self,
        field: &str,
        attrs: &[NodeAttrs],
        regions: &RegionMatrix,
        rng: &mut impl rand::RngCore,
    ) -> Result<Vec<u32>> {
        let mut region_ids = Vec::new();
        for (i, r) in self.regions.iter().enumerate() {
            region_ids.push(regions.lookup(&format!("{field}.regions[{i}]"), r)?);
        }
        for (i, &v) in self.nodes.iter().enumerate() {
            if v as usize >= attrs.len() {
                return Err(TopologyError::invalid(
                    format!("{field}.nodes[{i}]"),
                    v,
                    format!(
                        "the network has {} nodes (ids 0..{})",
                        attrs.len(),
                        attrs.len()
                    ),
                ));
            }
        }
        let mut listed = self.nodes.clone();
        listed.sort_unstable();
        listed.dedup();
        let matches = |v: u32| {
            let a = &attrs[v as usize];
            (self.roles.is_empty() || self.roles.contains(&a.role))
                && (region_ids.is_empty() || region_ids.contains(&a.region))
        };
        let matching: Vec<u32> = if self.nodes.is_empty() {
            (0..attrs.len() as u32).filter(|&v| matches(v)).collect()
        } else {
            listed.into_iter().filter(|&v| matches(v)).collect()
        };
        let k = match self.count {
            Some(c) => {
                if c as usize > matching.len() {
                    return Err(TopologyError::invalid(
                        format!("{field}.count"),
                        c,
                        format!("only {} nodes match the other filters", matching.len()),
                    ));
                }
                c as usize
            }
            None => (self.fraction * matching.len() as f64).round() as usize,
        };
        if k == matching.len() {
            return Ok(matching);
        }
        Ok(choose_sorted(rng, matching.len(), k)
            .into_iter()
            .map(|i| matching[i])
            .collect())
    }
}

fn default_bandwidth_factor() -> f64 {
    1.0
}

/// One entry of a fault schedule (see the [module docs](self)). Times are seconds from the
/// start of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultSpec {
    /// Nodes alternate online sessions and offline periods drawn from distributions.
    Churn {
        /// The nodes. Default: all.
        #[serde(default)]
        select: NodeSelector,
        /// Length of an online session.
        session: Dist,
        /// Length of an offline period.
        offline: Dist,
        /// When churn begins, in seconds. Default 0.
        #[serde(default)]
        start_s: f64,
        /// When churn ends (nodes offline then come back), in seconds. Default: the horizon.
        #[serde(default)]
        end_s: Option<f64>,
    },
    /// The nodes are offline from `start_s` to `end_s`.
    Offline {
        /// The nodes. Default: all.
        #[serde(default)]
        select: NodeSelector,
        /// When they go offline, in seconds.
        start_s: f64,
        /// When they come back, in seconds; after `start_s`.
        end_s: f64,
    },
    /// Mobile-style sleep: offline `sleep_s` out of every `period_s`, with a seeded phase.
    Sleep {
        /// The nodes. Default: all.
        #[serde(default)]
        select: NodeSelector,
        /// Cycle length in seconds, positive.
        period_s: f64,
        /// Offline time per cycle in seconds, positive and less than `period_s`.
        sleep_s: f64,
        /// When cycling begins, in seconds. Default 0.
        #[serde(default)]
        start_s: f64,
        /// When it ends, in seconds. Default: the horizon.
        #[serde(default)]
        end_s: Option<f64>,
    },
    /// Sets of regions, or one group of selected nodes, that cannot reach each other (or the
    /// rest) for an interval: neither connections, stream messages, datagrams nor dials cross
    /// it. Give `groups` or `select`, not both.
    Partition {
        /// Each inner list of regions is one side; the regions not listed form one more side.
        /// Default: none (then `select` says who is cut off).
        #[serde(default)]
        groups: Vec<Vec<String>>,
        /// Or: the selected nodes form one side, every other node the other. Default: none.
        #[serde(default)]
        select: Option<NodeSelector>,
        /// Start, in seconds.
        start_s: f64,
        /// End, in seconds; after `start_s`.
        end_s: f64,
    },
    /// The nodes' links are degraded for an interval.
    Degrade {
        /// The nodes. Default: all.
        #[serde(default)]
        select: NodeSelector,
        /// Start, in seconds.
        start_s: f64,
        /// End, in seconds; after `start_s`.
        end_s: f64,
        /// Added one-way latency, in milliseconds. Default 0.
        #[serde(default)]
        extra_latency_ms: f64,
        /// Capacity multiplier in (0, 1]. Default 1.
        #[serde(default = "default_bandwidth_factor")]
        bandwidth_factor: f64,
        /// Loss probability in [0, 1]. Default 0.
        #[serde(default)]
        loss: f64,
    },
}

fn secs(field: &str, s: f64) -> Result<SimTime> {
    SimDuration::try_from_secs_f64("time", s)
        .map(|d| SimTime::ZERO + d)
        .map_err(|_| TopologyError::invalid(field, s, "must be a finite number of seconds >= 0"))
}

fn window(field: &str, start_s: f64, end_s: f64) -> Result<(SimTime, SimTime)> {
    let start = secs(&format!("{field}.start_s"), start_s)?;
    let end = secs(&format!("{field}.end_s"), end_s)?;
    if end <= start {
        return Err(TopologyError::invalid(
            format!("{field}.end_s"),
            end_s,
            format!("must be after start_s ({start_s})"),
        ));
    }
    Ok((start, end))
}

impl FaultSpec {
    /// Checks every parameter; errors name `field` (e.g. `faults[2]`).
    pub fn validate(&self, field: &str, regions: &RegionMatrix) -> Result<()> {
        match self {
            FaultSpec::Churn {
                select,
                session,
                offline,
                start_s,
                end_s,
            } => {
                select.validate(&format!("{field}.select"), regions)?;
                session.validate(&format!("{field}.session"))?;
                offline.validate(&format!("{field}.offline"))?;
                secs(&format!("{field}.start_s"), *start_s)?;
                if let Some(e) = end_s {
                    window(field, *start_s, *e)?;
                }
            }
            FaultSpec::Offline {
                select,
                start_s,
                end_s,
            } => {
                select.validate(&format!("{field}.select"), regions)?;
                window(field, *start_s, *end_s)?;
            }
            FaultSpec::Sleep {
                select,
                period_s,
                sleep_s,
                start_s,
                end_s,
            } => {
                select.validate(&format!("{field}.select"), regions)?;
                secs(&format!("{field}.start_s"), *start_s)?;
                if let Some(e) = end_s {
                    window(field, *start_s, *e)?;
                }
                if !(period_s.is_finite() && *period_s > 0.0 && *period_s <= MAX_DRAW_S) {
                    return Err(TopologyError::invalid(
                        format!("{field}.period_s"),
                        period_s,
                        "must be a positive finite number of seconds",
                    ));
                }
                if !(sleep_s.is_finite() && *sleep_s > 0.0 && sleep_s < period_s) {
                    return Err(TopologyError::invalid(
                        format!("{field}.sleep_s"),
                        sleep_s,
                        format!("must be positive and less than period_s ({period_s})"),
                    ));
                }
            }
            FaultSpec::Partition {
                groups,
                select,
                start_s,
                end_s,
            } => {
                window(field, *start_s, *end_s)?;
                match select {
                    Some(_) if !groups.is_empty() => {
                        return Err(TopologyError::invalid(
                            format!("{field}.select"),
                            "both groups and select",
                            "give either groups (lists of regions) or select (the nodes cut off \
                             from the rest), not both",
                        ));
                    }
                    Some(sel) => sel.validate(&format!("{field}.select"), regions)?,
                    None => {
                        partition_groups(field, groups, regions)?;
                    }
                }
            }
            FaultSpec::Degrade {
                select,
                start_s,
                end_s,
                extra_latency_ms,
                bandwidth_factor,
                loss,
            } => {
                select.validate(&format!("{field}.select"), regions)?;
                window(field, *start_s, *end_s)?;
                degradation(field, *extra_latency_ms, *bandwidth_factor, *loss)?;
            }
        }
        Ok(())
    }
}

fn degradation(
    field: &str,
    extra_latency_ms: f64,
    bandwidth_factor: f64,
    loss: f64,
) -> Result<Degradation> {
    let extra_latency = SimDuration::try_from_millis_f64("extra_latency_ms", extra_latency_ms)
        .map_err(|_| {
            TopologyError::invalid(
                format!("{field}.extra_latency_ms"),
                extra_latency_ms,
                "must be a finite number of milliseconds >= 0",
            )
        })?;
    if !(bandwidth_factor > 0.0 && bandwidth_factor <= 1.0) {
        return Err(TopologyError::invalid(
            format!("{field}.bandwidth_factor"),
            bandwidth_factor,
            "must be in (0, 1]: a multiplier of the node's capacity",
        ));
    }
    if !(0.0..=1.0).contains(&loss) {
        return Err(TopologyError::invalid(
            format!("{field}.loss"),
            loss,
            "must be a probability between 0 and 1",
        ));
    }
    Ok(Degradation {
        extra_latency,
        bandwidth_factor,
        loss,
    })
}

/// Group of each region for a partition: listed set k gets k + 1, the rest 0.
fn partition_groups(
    field: &str,
    groups: &[Vec<String>],
    regions: &RegionMatrix,
) -> Result<Vec<u32>> {
    if groups.is_empty() || groups.iter().all(Vec::is_empty) {
        return Err(TopologyError::invalid(
            format!("{field}.groups"),
            "[]",
            "list at least one set of regions to cut off",
        ));
    }
    let mut of_region = vec![0u32; regions.len()];
    let mut seen = vec![false; regions.len()];
    for (k, set) in groups.iter().enumerate() {
        for (j, name) in set.iter().enumerate() {
            let f = format!("{field}.groups[{k}][{j}]");
            let id = regions.lookup(&f, name)?;
            if seen[id.index()] {
                return Err(TopologyError::invalid(
                    f,
                    name,
                    "a region can be on only one side of a partition",
                ));
            }
            seen[id.index()] = true;
            of_region[id.index()] = k as u32 + 1;
        }
    }
    Ok(of_region)
}

/// Ordering rank of a fault kind among events at the same instant.
fn rank(f: &Fault) -> (u8, u32) {
    match f {
        Fault::PartitionEnd { id } => (0, *id),
        Fault::PartitionStart { id, .. } => (1, *id),
        Fault::NodeOnline(n) => (2, n.0),
        Fault::NodeOffline(n) => (3, n.0),
        Fault::RestoreNode(n) => (4, n.0),
        Fault::DegradeNode(n, _) => (5, n.0),
        Fault::RestoreLink(a, _) => (6, a.0),
        Fault::DegradeLink(a, _, _) => (7, a.0),
    }
}

/// The fault schedule of `specs` for nodes with attributes `attrs`, up to (not including)
/// `horizon`. See the [module docs](self) for the semantics and the randomness.
pub fn fault_schedule(
    specs: &[FaultSpec],
    attrs: &[NodeAttrs],
    regions: &RegionMatrix,
    horizon: SimTime,
    seed: u64,
) -> Result<FaultSchedule> {
    // Offline intervals (node, start ns, end ns), merged per node at the end.
    let mut offline: Vec<(u32, u64, u64)> = Vec::new();
    let mut events: Vec<(SimTime, Fault)> = Vec::new();
    let h = horizon.as_nanos();
    for (i, spec) in specs.iter().enumerate() {
        let field = format!("faults[{i}]");
        spec.validate(&field, regions)?;
        let label = format!("topology/faults/{i}");
        let mut select_rng = global_stream(seed, &format!("{label}/select"));
        let node_rng = |v: u32| rng::stream(seed, u64::from(v), &label);
        match spec {
            FaultSpec::Churn {
                select,
                session,
                offline: off,
                start_s,
                end_s,
            } => {
                let start = secs(&field, *start_s)?.as_nanos();
                let end = match end_s {
                    Some(e) => secs(&field, *e)?.as_nanos().min(h),
                    None => h,
                };
                let chosen =
                    select.select(&format!("{field}.select"), attrs, regions, &mut select_rng)?;
                // Refuse a schedule that would be too large before drawing it: expected events
                // per node = 2 x span / (mean session + mean offline), where both are finite.
                if let (Some(ms), Some(mo)) = (session.mean_s(), off.mean_s()) {
                    let span_s = end.saturating_sub(start) as f64 / 1e9;
                    let expected = 2.0 * span_s / (ms + mo) * chosen.len() as f64;
                    if expected > 2.0 * MAX_SCHEDULE_EVENTS as f64 {
                        return Err(too_many(&field));
                    }
                }
                for v in chosen {
                    let mut r = node_rng(v);
                    let mut t = start;
                    while t < end {
                        let down = t.saturating_add(session.sample(&mut r).as_nanos());
                        if down >= end {
                            break;
                        }
                        let up = down.saturating_add(off.sample(&mut r).as_nanos());
                        offline.push((v, down, up.min(end)));
                        if offline.len() + events.len() > MAX_SCHEDULE_EVENTS {
                            return Err(too_many(&field));
                        }
                        t = up;
                    }
                }
            }
            FaultSpec::Offline {
                select,
                start_s,
                end_s,
            } => {
                let (s, e) = window(&field, *start_s, *end_s)?;
                for v in
                    select.select(&format!("{field}.select"), attrs, regions, &mut select_rng)?
                {
                    offline.push((v, s.as_nanos(), e.as_nanos()));
                }
            }
            FaultSpec::Sleep {
                select,
                period_s,
                sleep_s,
                start_s,
                end_s,
            } => {
                let start = secs(&field, *start_s)?.as_nanos();
                let end = match end_s {
                    Some(e) => secs(&field, *e)?.as_nanos().min(h),
                    None => h,
                };
                let period = ((period_s * 1e9).round() as u64).max(1);
                let sleep = (sleep_s * 1e9).round() as u64;
                let chosen =
                    select.select(&format!("{field}.select"), attrs, regions, &mut select_rng)?;
                // Two events per cycle, one more cycle for the phase: known before drawing.
                let cycles = end.saturating_sub(start) / period + 2;
                if (cycles as f64) * 2.0 * chosen.len() as f64 > MAX_SCHEDULE_EVENTS as f64 {
                    return Err(too_many(&field));
                }
                for v in chosen {
                    let mut r = node_rng(v);
                    let phase = (unit(&mut r) * period as f64) as u64;
                    // The cycle that began before `start` (at phase - period) may still be
                    // asleep at `start`.
                    let mut cycle = start.saturating_add(phase) as i128 - period as i128;
                    while cycle < end as i128 {
                        let s = cycle.max(start as i128);
                        let e = (cycle + sleep as i128).min(end as i128);
                        if s < e {
                            offline.push((v, s as u64, e as u64));
                            if offline.len() + events.len() > MAX_SCHEDULE_EVENTS {
                                return Err(too_many(&field));
                            }
                        }
                        cycle += period as i128;
                    }
                }
            }
            FaultSpec::Partition {
                groups,
                select,
                start_s,
                end_s,
            } => {
                let (s, e) = window(&field, *start_s, *end_s)?;
                let node_groups = match select {
                    // The selected nodes are side 1, everyone else side 0.
                    Some(sel) => {
                        let mut g = vec![0u32; attrs.len()];
                        for v in
                            sel.select(&format!("{field}.select"), attrs, regions, &mut select_rng)?
                        {
                            g[v as usize] = 1;
                        }
                        g
                    }
                    None => {
                        let of_region = partition_groups(&field, groups, regions)?;
                        attrs.iter().map(|a| of_region[a.region.index()]).collect()
                    }
                };
                let id = i as u32;
                events.push((
                    s,
                    Fault::PartitionStart {
                        id,
                        groups: node_groups,
                    },
                ));
                events.push((e, Fault::PartitionEnd { id }));
            }
            FaultSpec::Degrade {
                select,
                start_s,
                end_s,
                extra_latency_ms,
                bandwidth_factor,
                loss,
            } => {
                let (s, e) = window(&field, *start_s, *end_s)?;
                let d = degradation(&field, *extra_latency_ms, *bandwidth_factor, *loss)?;
                for v in
                    select.select(&format!("{field}.select"), attrs, regions, &mut select_rng)?
                {
                    events.push((s, Fault::DegradeNode(NodeId(v), d)));
                    events.push((e, Fault::RestoreNode(NodeId(v))));
                }
            }
        }
    }
    // Union of offline intervals per node.
    offline.retain(|&(_, s, e)| s < e);
    offline.sort_unstable();
    let mut k = 0;
    while k < offline.len() {
        let (v, s, mut e) = offline[k];
        k += 1;
        while k < offline.len() && offline[k].0 == v && offline[k].1 <= e {
            e = e.max(offline[k].2);
            k += 1;
        }
        events.push((SimTime::from_nanos(s), Fault::NodeOffline(NodeId(v))));
        events.push((SimTime::from_nanos(e), Fault::NodeOnline(NodeId(v))));
    }
    events.retain(|(t, _)| *t < horizon);
    events.sort_by(|(ta, fa), (tb, fb)| ta.cmp(tb).then_with(|| rank(fa).cmp(&rank(fb))));
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_draws_have_the_configured_mean() {
        // 20,000 draws of Exp(mean 10): standard error 10 / sqrt(20000) = 0.071; a 0.5
        // tolerance is seven standard errors.
        let d = Dist::Exponential { mean_s: 10.0 };
        let mut r = global_stream(3, "test");
        let m: f64 = (0..20_000).map(|_| d.sample_s(&mut r)).sum::<f64>() / 20_000.0;
        assert!((m - 10.0).abs() < 0.5, "{m}");
    }

    #[test]
    fn pareto_draws_respect_the_minimum_and_median() {
        // Pareto(alpha = 2, x_m = 5): median = x_m 2^(1/alpha) = 7.07.
        let d = Dist::Pareto {
            shape: 2.0,
            scale_s: 5.0,
        };
        let mut r = global_stream(4, "test");
        let mut xs: Vec<f64> = (0..10_001).map(|_| d.sample_s(&mut r)).collect();
        assert!(xs.iter().all(|&x| x >= 5.0));
        xs.sort_by(f64::total_cmp);
        let median = xs[5000];
        assert!((median - 7.07).abs() < 0.3, "{median}");
    }

    #[test]
    fn weibull_median_matches() {
        // Weibull(k = 0.5, lambda = 100): median = lambda (ln 2)^(1/k) = 100 * 0.4805 = 48.05.
        let d = Dist::Weibull {
            shape: 0.5,
            scale_s: 100.0,
        };
        let mut r = global_stream(5, "test");
        let mut xs: Vec<f64> = (0..10_001).map(|_| d.sample_s(&mut r)).collect();
        xs.sort_by(f64::total_cmp);
        // The sample median's sd here is about 1.9 (density at the median ~ 0.0072).
        assert!((xs[5000] - 48.05).abs() < 8.0, "{}", xs[5000]);
    }

    #[test]
    fn weibull_mean_uses_the_gamma_function() {
        // Gamma(1 + 1/1) = 1 (exponential); Gamma(1 + 1/0.5) = Gamma(3) = 2! = 2;
        // Gamma(1.5) = sqrt(pi)/2 = 0.886227.
        let mean = |shape| {
            Dist::Weibull {
                shape,
                scale_s: 10.0,
            }
            .mean_s()
            .unwrap()
        };
        assert!((mean(1.0) - 10.0).abs() < 1e-9);
        assert!((mean(0.5) - 20.0).abs() < 1e-9);
        assert!((mean(2.0) - 10.0 * 0.886_226_925_452_758).abs() < 1e-9);
    }

    #[test]
    fn bad_parameters_name_their_field() {
        let d = Dist::Weibull {
            shape: 0.0,
            scale_s: 1.0,
        };
        assert!(
            matches!(d.validate("session"), Err(TopologyError::InvalidParameter { ref field, .. }) if field == "session.shape")
        );
        assert!(Dist::Exponential { mean_s: -1.0 }.validate("x").is_err());
        assert!(
            Dist::Pareto {
                shape: 1.0,
                scale_s: f64::NAN
            }
            .validate("x")
            .is_err()
        );
    }
}
