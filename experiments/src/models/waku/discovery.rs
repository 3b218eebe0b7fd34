//! `[discovery]`: discovery protocols feeding the peer managers — `[discovery.discv5]`
//! ([`protocols::discovery::discv5::Discv5Config`]) and `[discovery.rendezvous]`
//! ([`protocols::discovery::rendezvous::RendezvousConfig`], in `rendezvous.rs`) — checked and
//! mapped to the harness's input.

use serde::{Deserialize, Serialize};

use protocols::discovery::discv5::Discv5Config;
use protocols::discovery::peer_exchange::PxConfig;
use protocols::discovery::rendezvous::RendezvousConfig;
use protocols::harness::{Discv5Input, PxInput};

use super::{WakuParams, config_error};
use crate::model::FieldError;

/// `[discovery] mechanism`: which of the configured discovery sections run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// `[discovery.discv5]` (and `[discovery.peer_exchange]`, which answers from discv5's
    /// view); `[discovery.rendezvous]` is off.
    Discv5,
    /// `[discovery.rendezvous]`; `[discovery.discv5]` and `[discovery.peer_exchange]` are off.
    Rendezvous,
    /// Both `[discovery.discv5]` and `[discovery.rendezvous]` (and peer exchange if configured).
    Both,
}

impl Mechanism {
    /// Whether discv5 (and peer exchange with it) runs.
    fn discv5(self) -> bool {
        matches!(self, Mechanism::Discv5 | Mechanism::Both)
    }

    /// Whether rendezvous runs.
    fn rendezvous(self) -> bool {
        matches!(self, Mechanism::Rendezvous | Mechanism::Both)
    }
}

/// `[discovery]`: each discovery protocol's section (absent: off).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoverySpec {
    /// `mechanism`: `"discv5"`, `"rendezvous"` or `"both"` switches off the configured
    /// sections it does not name, so one scenario configuring both sections can be swept over
    /// the mechanism (`discovery.mechanism` in a sweep grid). Default (absent): every
    /// configured section runs. The sections it names must be configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<Mechanism>,
    /// `[discovery.discv5]`: discv5 and nwaku's discovery loop on the nodes of its `groups`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discv5: Option<Discv5Config>,
    /// `[discovery.peer_exchange]`: service nodes answer clients (by default the nodes that
    /// do not run discv5) with peers discv5 found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_exchange: Option<PxConfig>,
    /// `[discovery.rendezvous]`: rendezvous points and nwaku's or go-waku's client loops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendezvous: Option<RendezvousConfig>,
}

impl DiscoverySpec {
    /// Whether any discovery protocol runs.
    pub fn any(&self) -> bool {
        self.discv5().is_some() || self.peer_exchange().is_some() || self.rendezvous().is_some()
    }

    /// Whether the section is empty (it is then left out of a written scenario).
    pub fn is_off(&self) -> bool {
        self.mechanism.is_none()
            && self.discv5.is_none()
            && self.peer_exchange.is_none()
            && self.rendezvous.is_none()
    }

    /// `[discovery.discv5]` when it runs (configured, and not switched off by `mechanism`).
    pub fn discv5(&self) -> Option<&Discv5Config> {
        self.discv5
            .as_ref()
            .filter(|_| self.mechanism.is_none_or(Mechanism::discv5))
    }

    /// `[discovery.peer_exchange]` when it runs: it answers from discv5's view, so it runs
    /// with discv5.
    pub fn peer_exchange(&self) -> Option<&PxConfig> {
        self.peer_exchange
            .as_ref()
            .filter(|_| self.mechanism.is_none_or(Mechanism::discv5))
    }

    /// `[discovery.rendezvous]` when it runs.
    pub fn rendezvous(&self) -> Option<&RendezvousConfig> {
        self.rendezvous
            .as_ref()
            .filter(|_| self.mechanism.is_none_or(Mechanism::rendezvous))
    }
}

/// Checks `[discovery]` for a run of `nodes` nodes (`u32::MAX` when unknown) with node
/// groups `groups`.
pub(super) fn validate(
    p: &WakuParams,
    nodes: usize,
    groups: &[String],
    errors: &mut Vec<FieldError>,
) {
    // Every configured section is checked, on or off: a sweep over `mechanism` runs them all.
    if let Some(m) = p.discovery.mechanism {
        let name = |m: Mechanism| match m {
            Mechanism::Discv5 => "discv5",
            Mechanism::Rendezvous => "rendezvous",
            Mechanism::Both => "both",
        };
        if m.discv5() && p.discovery.discv5.is_none() {
            errors.push(FieldError::new(
                "discovery.mechanism",
                format!(
                    "mechanism = \"{}\" runs discv5, but there is no [discovery.discv5] \
                     section: add one (e.g. bootstrap_nodes = [0, 1, 2]) or set mechanism = \
                     \"rendezvous\"",
                    name(m)
                ),
            ));
        }
        if m.rendezvous() && p.discovery.rendezvous.is_none() {
            errors.push(FieldError::new(
                "discovery.mechanism",
                format!(
                    "mechanism = \"{}\" runs rendezvous, but there is no \
                     [discovery.rendezvous] section: add one (e.g. points = [0, 1, 2]) or set \
                     mechanism = \"discv5\"",
                    name(m)
                ),
            ));
        }
    }
    if let Some(x) = &p.discovery.peer_exchange {
        if let Err(e) = x.validate(nodes) {
            errors.push(config_error(e));
        }
        if let Some(g) = x.groups.iter().find(|g| !groups.contains(g)) {
            errors.push(FieldError::new(
                "discovery.peer_exchange.groups",
                format!("no node group is named {g:?} (groups: {groups:?})"),
            ));
        }
        if p.discovery.discv5.is_none() {
            errors.push(FieldError::new(
                "discovery.peer_exchange",
                "service nodes answer from the peers discv5 found: add [discovery.discv5] \
                 (with groups naming the nodes that run it)",
            ));
        }
    }
    if let Some(r) = &p.discovery.rendezvous {
        super::rendezvous::validate(r, &p.network, nodes, groups, errors);
    }
    let Some(d) = &p.discovery.discv5 else {
        return;
    };
    if let Err(e) = d.validate(nodes) {
        errors.push(config_error(e));
    }
    if let Some(g) = d.groups.iter().find(|g| !groups.contains(g)) {
        errors.push(FieldError::new(
            "discovery.discv5.groups",
            format!("no node group is named {g:?} (groups: {groups:?})"),
        ));
    }
    if !p.overlay.runs_peer_manager() {
        errors.push(FieldError::new(
            "discovery.discv5",
            "discv5 hands the peers it finds to the peer manager, which this overlay does not \
             run: set overlay.mode = \"emergent\" (or overlay.peer_manager = true)",
        ));
    }
}

/// The harness's discv5 section: which nodes run it (`groups` is each node's group index,
/// `names` the group names).
pub(super) fn discv5_input(
    p: &WakuParams,
    groups: &[u32],
    names: &[String],
) -> Option<Discv5Input> {
    let cfg = p.discovery.discv5()?.clone();
    let runs = group_mask(&cfg.groups, groups, names);
    Some(Discv5Input { config: cfg, runs })
}

/// Per node, whether its group is one of `wanted` (empty when `wanted` is: the harness's
/// default then applies). `groups` is each node's group index, `names` the group names.
fn group_mask(wanted: &[String], groups: &[u32], names: &[String]) -> Vec<bool> {
    if wanted.is_empty() {
        return Vec::new();
    }
    groups
        .iter()
        .map(|&g| {
            names
                .get(g as usize)
                .is_some_and(|name| wanted.contains(name))
        })
        .collect()
}

/// The harness's peer exchange section: clients are the nodes of its `groups` (empty: the
/// harness's default, every node without discv5).
pub(super) fn px_input(p: &WakuParams, groups: &[u32], names: &[String]) -> Option<PxInput> {
    let cfg = p.discovery.peer_exchange()?.clone();
    let clients = group_mask(&cfg.groups, groups, names);
    Some(PxInput {
        config: cfg,
        clients,
    })
}

/// Discovery's part of the report (empty without discovery): summary values and
/// `discovery.csv` (one row per shard and one for all: pairs, time to D_low and D mesh
/// peers p50 / p95 / max, the fractions that never got there).
pub(super) fn report(
    out: &protocols::harness::SimOutput,
    topics: &[String],
) -> (Vec<(String, f64)>, Option<crate::model::ExtraTable>) {
    use protocols::discovery::metrics::JoinStats;
    let Some(d) = &out.discovery else {
        return (Vec::new(), None);
    };
    let mut summary = Vec::new();
    let all = JoinStats::of(d.episodes.iter());
    let opt = |st: &JoinStats, x: f64| if st.dlow.count == 0 { f64::NAN } else { x };
    let optd = |st: &JoinStats, x: f64| if st.d.count == 0 { f64::NAN } else { x };
    summary.push((
        "discovery_to_dlow_p50_s".to_owned(),
        opt(&all, all.dlow.p50),
    ));
    summary.push((
        "discovery_to_dlow_p95_s".to_owned(),
        opt(&all, all.dlow.p95),
    ));
    summary.push((
        "discovery_to_dlow_max_s".to_owned(),
        opt(&all, all.dlow.max),
    ));
    summary.push(("discovery_never_dlow_fraction".to_owned(), all.never_dlow));
    summary.push(("discovery_to_d_p50_s".to_owned(), optd(&all, all.d.p50)));
    summary.push(("discovery_to_d_p95_s".to_owned(), optd(&all, all.d.p95)));
    summary.push(("discovery_to_d_max_s".to_owned(), optd(&all, all.d.max)));
    summary.push(("discovery_never_d_fraction".to_owned(), all.never_d));
    let lookups = d.discv5_counter("search_lookups") as f64;
    let new = d.discv5_counter("new_peers") as f64;
    summary.push((
        "discovery_lookups_per_new_peer".to_owned(),
        if new > 0.0 { lookups / new } else { f64::NAN },
    ));
    // Discovery bytes sent per node per second over the whole run, by packet kind.
    let n = out.bandwidth.per_node.len().max(1) as f64;
    let secs = out.sim_seconds.max(f64::MIN_POSITIVE);
    let mut total = 0.0;
    for (ci, (proto, kind)) in out.categories.iter().enumerate() {
        if proto != "discv5" && proto != "rendezvous" {
            continue;
        }
        let bytes: u64 = out.bandwidth.series.iter().map(|p| p.bytes_out[ci]).sum();
        let rate = bytes as f64 / n / secs;
        total += rate;
        summary.push((format!("discovery_bytes_per_sec_{proto}_{kind}"), rate));
    }
    summary.push(("discovery_bytes_per_sec".to_owned(), total));

    let f = crate::output::fmt_f64;
    let row = |name: String, st: &JoinStats| {
        let q = |count: usize, x: f64| if count == 0 { String::new() } else { f(x) };
        vec![
            name,
            st.pairs.to_string(),
            q(st.dlow.count, st.dlow.p50),
            q(st.dlow.count, st.dlow.p95),
            q(st.dlow.count, st.dlow.max),
            f(st.never_dlow),
            q(st.d.count, st.d.p50),
            q(st.d.count, st.d.p95),
            q(st.d.count, st.d.max),
            f(st.never_d),
        ]
    };
    let mut rows = vec![row("all".to_owned(), &all)];
    for (i, _) in topics.iter().enumerate() {
        let st = JoinStats::of(d.episodes.iter().filter(|e| e.shard as usize == i));
        if st.pairs > 0 {
            rows.push(row(i.to_string(), &st));
        }
    }
    let table = crate::model::ExtraTable {
        file_name: "discovery.csv".to_owned(),
        header: [
            "shard",
            "pairs",
            "to_dlow_p50_s",
            "to_dlow_p95_s",
            "to_dlow_max_s",
            "never_dlow_fraction",
            "to_d_p50_s",
            "to_d_p95_s",
            "to_d_max_s",
            "never_d_fraction",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    };
    (summary, Some(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mechanism: Option<Mechanism>) -> DiscoverySpec {
        DiscoverySpec {
            mechanism,
            discv5: Some(Discv5Config::default()),
            peer_exchange: Some(PxConfig::default()),
            rendezvous: Some(RendezvousConfig::default()),
        }
    }

    #[test]
    fn the_mechanism_picks_the_sections_that_run() {
        // (mechanism, discv5 runs, peer exchange runs, rendezvous runs)
        let cases = [
            (None, true, true, true),
            (Some(Mechanism::Discv5), true, true, false),
            (Some(Mechanism::Rendezvous), false, false, true),
            (Some(Mechanism::Both), true, true, true),
        ];
        for (m, d, x, r) in cases {
            let s = spec(m);
            assert_eq!(s.discv5().is_some(), d, "{m:?}");
            assert_eq!(s.peer_exchange().is_some(), x, "{m:?}");
            assert_eq!(s.rendezvous().is_some(), r, "{m:?}");
            assert!(s.any() && !s.is_off());
        }
        // A mechanism alone keeps the section in a written scenario (validation rejects it).
        let alone = DiscoverySpec {
            mechanism: Some(Mechanism::Both),
            ..DiscoverySpec::default()
        };
        assert!(!alone.any() && !alone.is_off());
        assert!(DiscoverySpec::default().is_off());
    }
}
