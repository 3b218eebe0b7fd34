//! `[rln]`: RLN rate limiting ([`protocols::rln::config::RlnConfig`]), mapped to the
//! harness's [`RlnInput`]: the membership file read here, each node's CPU factor from its
//! bandwidth class; and RLN's part of the report (`rln.csv`, summary columns).

use std::path::Path;

use protocols::harness::{RlnInput, SimOutput};
use protocols::rln::config::{RlnConfig, parse_membership};
use topologies::Network;

use super::config_error;
use crate::model::{ExtraTable, FieldError};
use crate::output::fmt_f64;

/// Largest membership file accepted, in bytes.
pub(super) const MAX_MEMBERSHIP_FILE_BYTES: u64 = 64 << 20;

/// Checks `[rln]` (`nodes`: the run's node count; `classes`: the bandwidth class names).
pub(super) fn validate(
    rln: &RlnConfig,
    nodes: usize,
    classes: &[String],
    errors: &mut Vec<FieldError>,
) {
    if let Err(e) = rln.validate(nodes) {
        errors.push(config_error(e));
        return;
    }
    for name in rln.cpu_factor.keys() {
        if !classes.contains(name) {
            errors.push(FieldError::new(
                format!("rln.cpu_factor.{name}"),
                format!(
                    "no bandwidth class is called {name:?}; name one of {}",
                    classes.join(", ")
                ),
            ));
        }
    }
    match members(rln) {
        Ok(v) => {
            for (i, m) in v.iter().enumerate() {
                if let Err(e) = protocols::rln::config::check_member(
                    m,
                    nodes,
                    &format!("rln.membership_file[{i}]"),
                ) {
                    errors.push(config_error(e));
                    return;
                }
            }
        }
        Err(e) => errors.push(e),
    }
}

/// The memberships of `membership_file` (none without one).
fn members(rln: &RlnConfig) -> Result<Vec<protocols::rln::config::MemberSpec>, FieldError> {
    let Some(path) = &rln.membership_file else {
        return Ok(Vec::new());
    };
    let err = |m: String| FieldError::new("rln.membership_file", m);
    let meta = std::fs::metadata(Path::new(path)).map_err(|e| err(format!("{path}: {e}")))?;
    if meta.len() > MAX_MEMBERSHIP_FILE_BYTES {
        return Err(err(format!(
            "{path} is {} bytes; at most {MAX_MEMBERSHIP_FILE_BYTES}",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("{path}: {e}")))?;
    parse_membership(&text, path).map_err(config_error)
}

/// The harness's RLN section.
pub(super) fn input(rln: &RlnConfig, net: &Network) -> Result<RlnInput, FieldError> {
    let names = net.classes.names();
    let cpu_factor = if rln.cpu_factor.is_empty() {
        Vec::new()
    } else {
        net.attrs
            .iter()
            .map(|a| {
                rln.cpu_factor
                    .get(&names[a.bandwidth.0 as usize])
                    .copied()
                    .unwrap_or(1.0)
            })
            .collect()
    };
    Ok(RlnInput {
        config: rln.clone(),
        members: members(rln)?,
        cpu_factor,
        trace: false,
    })
}

/// Nearest-rank percentile of ascending `v` (NaN when empty).
fn pct(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let k = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[k - 1]
}

/// RLN's summary columns, `rln.csv` and `rln_spam.csv` (none without RLN).
pub(super) fn report(out: &SimOutput, extra: &mut Vec<(String, f64)>) -> Option<Vec<ExtraTable>> {
    let r = out.rln.as_ref()?;
    let n = r.proof_cpu_s.len().max(1) as f64;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / n;
    let maxf = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    // Proof bytes each node sent: every relayed message (publish, forward, IWANT reply)
    // carries 339 B of proof; an IWANT reply RPC with several messages counts once.
    let cats: Vec<usize> = out
        .categories
        .iter()
        .enumerate()
        .filter(|(_, (p, k))| {
            p == "relay" && ["publish", "forward", "iwant_reply"].contains(&k.as_str())
        })
        .map(|(i, _)| i)
        .collect();
    let bw = &out.bandwidth;
    let window = bw.window_s.max(f64::MIN_POSITIVE);
    let proof_bytes: Vec<f64> = bw
        .per_node
        .iter()
        .map(|t| {
            cats.iter().map(|&c| t.msgs_out[c]).sum::<u64>() as f64
                * f64::from(protocols::rln::PROOF_FIELD_BYTES)
                / window
        })
        .collect();
    let delays = &r.disconnect_delays_s;
    for (k, v) in [
        ("rln_limit", f64::from(r.limit)),
        ("rln_epoch_s", r.epoch_s as f64),
        ("rln_members", f64::from(r.members)),
        ("rln_roots", f64::from(r.roots)),
        ("rln_spam_published", r.counter("spam_published") as f64),
        ("rln_spam_accepted", r.counter("spam_accepted") as f64),
        ("rln_spam_rejected", r.counter("spam_rejected") as f64),
        (
            "rln_spam_rejected_first_hop",
            r.counter("spam_rejected_first_hop") as f64,
        ),
        (
            "rln_spam_delivered_anywhere",
            r.spam_by_kind.iter().map(|s| s.2).sum::<u64>() as f64,
        ),
        ("rln_spammer_disconnects", delays.len() as f64),
        ("rln_spammer_disconnect_p50_s", pct(delays, 0.5)),
        ("rln_spammer_disconnect_max_s", pct(delays, 1.0)),
        ("rln_spammer_links_left", r.spammer_links_left as f64),
        ("rln_held_back", r.counter("held_back") as f64),
        (
            "rln_dropped_over_limit",
            r.counter("dropped_over_limit") as f64,
        ),
        ("rln_proof_cpu_mean_s", mean(&r.proof_cpu_s)),
        ("rln_proof_cpu_max_s", maxf(&r.proof_cpu_s)),
        ("rln_verify_cpu_mean_s", mean(&r.verify_cpu_s)),
        ("rln_verify_cpu_max_s", maxf(&r.verify_cpu_s)),
        (
            "rln_bound_msgs_per_s",
            r.capacity.first().map_or(0.0, |c| c.network_msgs_per_s),
        ),
        (
            "rln_planned_msgs_per_s",
            r.capacity
                .iter()
                .map(|c| c.planned_msgs_per_s)
                .fold(0.0, f64::max),
        ),
        (
            "rln_planned_bytes_per_s",
            r.capacity
                .iter()
                .map(|c| c.planned_bytes_per_s)
                .fold(0.0, f64::max),
        ),
        (
            "rln_measured_msgs_per_s",
            r.measured.iter().map(|m| m.0).fold(0.0, f64::max),
        ),
        (
            "rln_measured_bytes_per_s",
            r.measured.iter().map(|m| m.1).fold(0.0, f64::max),
        ),
        (
            "rln_proof_bytes_out_mean_per_s",
            proof_bytes.iter().sum::<f64>() / proof_bytes.len().max(1) as f64,
        ),
    ] {
        extra.push((k.to_owned(), v));
    }
    let shards = ExtraTable {
        file_name: "rln.csv".to_owned(),
        header: [
            "shard",
            "members",
            "planned_msgs_per_s",
            "planned_bytes_per_s",
            "network_msgs_per_s",
            "measured_msgs_per_s",
            "measured_bytes_per_s",
        ]
        .map(String::from)
        .to_vec(),
        rows: r
            .capacity
            .iter()
            .zip(&r.measured)
            .map(|(c, m)| {
                vec![
                    c.topic.to_string(),
                    c.members.to_string(),
                    fmt_f64(c.planned_msgs_per_s),
                    fmt_f64(c.planned_bytes_per_s),
                    fmt_f64(c.network_msgs_per_s),
                    fmt_f64(m.0),
                    fmt_f64(m.1),
                ]
            })
            .collect(),
    };
    let spam = ExtraTable {
        file_name: "rln_spam.csv".to_owned(),
        header: ["kind", "published", "delivered_anywhere"]
            .map(String::from)
            .to_vec(),
        rows: r
            .spam_by_kind
            .iter()
            .map(|(k, p, d)| vec![k.clone(), p.to_string(), d.to_string()])
            .collect(),
    };
    Some(vec![shards, spam])
}

/// The capacity lines `wakusim validate` prints (TOML comments).
pub(super) fn capacity_lines(caps: &[protocols::rln::capacity::ShardCapacity]) -> String {
    let mut s = String::from(
        "# RLN capacity (per shard: members publishing there, their bound; any member may send anywhere: network bound)\n",
    );
    for c in caps {
        s.push_str(&format!(
            "# shard {}: {} members, planned {} msg/s, {} B/s; network bound {} msg/s\n",
            c.topic,
            c.members,
            fmt_f64(c.planned_msgs_per_s),
            fmt_f64(c.planned_bytes_per_s),
            fmt_f64(c.network_msgs_per_s)
        ));
    }
    s
}
