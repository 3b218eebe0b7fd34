//! `[discovery.rendezvous]` ([`RendezvousConfig`]): checks it, resolves the rendezvous points
//! (node ids, named groups, or every node of role `rendezvous`), and writes its results
//! (`rendezvous.csv`, `rendezvous_points.csv`, summary columns `rdv_*`).

use sim_core::NodeId;

use protocols::discovery::rendezvous::RendezvousConfig;
use protocols::harness::{RendezvousInput, SimOutput};
use topologies::{NetworkSpec, Role};

use super::config_error;
use crate::model::{ExtraTable, FieldError};

/// Checks `[discovery.rendezvous]`; `nodes` is the node count (`u32::MAX` when unknown),
/// `groups` the group names.
pub(super) fn validate(
    r: &RendezvousConfig,
    net: &NetworkSpec,
    nodes: usize,
    groups: &[String],
    errors: &mut Vec<FieldError>,
) {
    if let Err(e) = r.validate() {
        errors.push(config_error(e));
    }
    if let Some(p) = r.points.iter().find(|&&p| p as usize >= nodes) {
        errors.push(FieldError::new(
            "discovery.rendezvous.points",
            format!("node {p} does not exist (the run has {nodes}); use node ids below {nodes}"),
        ));
    }
    if let Some(g) = r.point_groups.iter().find(|g| !groups.contains(g)) {
        errors.push(FieldError::new(
            "discovery.rendezvous.point_groups",
            format!("no node group is named {g:?} (groups: {groups:?})"),
        ));
    }
    let by_role = net.groups.iter().any(|g| g.role == Role::Rendezvous);
    if r.points.is_empty() && r.point_groups.is_empty() && !by_role {
        errors.push(FieldError::new(
            "discovery.rendezvous.points",
            "no rendezvous point: give points (node ids), point_groups (group names), or a \
             [[network.groups]] entry with role = \"rendezvous\"",
        ));
    }
}

/// The harness's rendezvous section; `groups[i]` is node i's group index, `names` the group
/// names, `roles[i]` node i's role.
pub(super) fn input(
    r: Option<&RendezvousConfig>,
    groups: &[u32],
    names: &[String],
    roles: &[Role],
) -> Option<RendezvousInput> {
    r.map(|r| {
        let mut points: Vec<NodeId> = r.points.iter().map(|&p| NodeId(p)).collect();
        for (i, &g) in groups.iter().enumerate() {
            if names
                .get(g as usize)
                .is_some_and(|n| r.point_groups.contains(n))
            {
                points.push(NodeId(i as u32));
            }
        }
        if r.points.is_empty() && r.point_groups.is_empty() {
            points.extend(
                roles
                    .iter()
                    .enumerate()
                    .filter(|(_, role)| **role == Role::Rendezvous)
                    .map(|(i, _)| NodeId(i as u32)),
            );
        }
        points.sort();
        points.dedup();
        RendezvousInput {
            config: r.clone(),
            points,
        }
    })
}

fn fmt(x: f64) -> String {
    crate::output::fmt_f64(x)
}

/// Rendezvous' tables, summary columns and counter rows (nothing when it is off).
pub(super) struct DiscoveryReport {
    pub(super) tables: Vec<ExtraTable>,
    pub(super) summary: Vec<(String, f64)>,
    pub(super) counters: Vec<Vec<String>>,
}

/// The report of a run's discovery protocols; `window` is the measured window in seconds.
pub(super) fn report(out: &SimOutput, window: f64) -> DiscoveryReport {
    let mut rep = DiscoveryReport {
        tables: Vec::new(),
        summary: Vec::new(),
        counters: Vec::new(),
    };
    let Some(r) = &out.rendezvous else {
        return rep;
    };
    // rendezvous.csv: every point at every sample, with its request rates since the previous
    // sample.
    let mut rows = Vec::new();
    let mut prev: std::collections::BTreeMap<u32, (f64, [u64; 3], u64)> = Default::default();
    let mut reg_max = 0u32;
    for s in &r.samples {
        let (t0, req0, err0) = prev.get(&s.point).copied().unwrap_or((0.0, [0; 3], 0));
        let dt = (s.t_s - t0).max(f64::MIN_POSITIVE);
        let rate = |k: usize| (s.requests[k] - req0[k]) as f64 / dt;
        rows.push(vec![
            fmt(s.t_s),
            s.point.to_string(),
            s.online.to_string(),
            s.registrations.to_string(),
            s.entries.to_string(),
            fmt(rate(0)),
            fmt(rate(1)),
            fmt(rate(2)),
            fmt((s.errors - err0) as f64 / dt),
        ]);
        reg_max = reg_max.max(s.registrations);
        prev.insert(s.point, (s.t_s, s.requests, s.errors));
    }
    rep.tables.push(ExtraTable {
        file_name: "rendezvous.csv".to_owned(),
        header: [
            "t_s",
            "point",
            "online",
            "registrations",
            "log_entries",
            "register_per_s",
            "discover_per_s",
            "unregister_per_s",
            "errors_per_s",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    });
    // rendezvous_points.csv: each point over the run, and its rendezvous bytes over the
    // measured window.
    let cats: Vec<usize> = out
        .categories
        .iter()
        .enumerate()
        .filter(|(_, (p, _))| p == "rendezvous")
        .map(|(c, _)| c)
        .collect();
    let sim = out.sim_seconds.max(f64::MIN_POSITIVE);
    let mut rows = Vec::new();
    let (mut reg_rate_max, mut disc_rate_max, mut in_max, mut out_max) =
        (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for &pt in &r.points {
        let last = r.samples.iter().rev().find(|s| s.point == pt);
        let (req, err) = last.map_or(([0; 3], 0), |s| (s.requests, s.errors));
        let held_max = r
            .samples
            .iter()
            .filter(|s| s.point == pt)
            .map(|s| s.registrations)
            .max()
            .unwrap_or(0);
        let t = &out.bandwidth.per_node[pt as usize];
        let bin: u64 = cats.iter().map(|&c| t.bytes_in[c]).sum();
        let bout: u64 = cats.iter().map(|&c| t.bytes_out[c]).sum();
        let (bin, bout) = (bin as f64 / window, bout as f64 / window);
        reg_rate_max = reg_rate_max.max(req[0] as f64 / sim);
        disc_rate_max = disc_rate_max.max(req[1] as f64 / sim);
        in_max = in_max.max(bin);
        out_max = out_max.max(bout);
        rows.push(vec![
            pt.to_string(),
            req[0].to_string(),
            req[1].to_string(),
            req[2].to_string(),
            err.to_string(),
            fmt(req[0] as f64 / sim),
            fmt(req[1] as f64 / sim),
            held_max.to_string(),
            fmt(bin),
            fmt(bout),
        ]);
    }
    rep.tables.push(ExtraTable {
        file_name: "rendezvous_points.csv".to_owned(),
        header: [
            "point",
            "registers",
            "discovers",
            "unregisters",
            "errors",
            "register_per_s",
            "discover_per_s",
            "registrations_max",
            "bytes_in_per_s",
            "bytes_out_per_s",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    });
    rep.summary = vec![
        ("rdv_points".to_owned(), r.points.len() as f64),
        ("rdv_register_per_s_max".to_owned(), reg_rate_max),
        ("rdv_discover_per_s_max".to_owned(), disc_rate_max),
        ("rdv_registrations_max".to_owned(), reg_max as f64),
        ("rdv_point_bytes_in_per_s_max".to_owned(), in_max),
        ("rdv_point_bytes_out_per_s_max".to_owned(), out_max),
        (
            "rdv_records_received".to_owned(),
            r.counter("records_received") as f64,
        ),
        (
            "rdv_requests_failed".to_owned(),
            r.counter("requests_failed") as f64,
        ),
        (
            "rdv_rejected".to_owned(),
            (r.counter("register_rejected") + r.counter("discover_rejected")) as f64,
        ),
        ("rdv_new_peers".to_owned(), r.counter("new_peers") as f64),
        (
            "rdv_requests_per_new_peer".to_owned(),
            match r.counter("new_peers") {
                0 => f64::NAN,
                k => (r.counter("registers_sent") + r.counter("discovers_sent")) as f64 / k as f64,
            },
        ),
    ];
    rep.counters = r
        .counters
        .iter()
        .map(|(k, v)| vec![format!("rendezvous/{k}"), v.to_string()])
        .chain(
            r.statuses
                .iter()
                .map(|(k, v)| vec![format!("rendezvous/answers_{k}"), v.to_string()]),
        )
        .collect();
    rep
}
