//! RLN's part of a run: its shared data from the input and the workload, and its results.

use std::rc::Rc;

use sim_core::{NodeId, SimTime};

use crate::relay::message::{Topics, WakuMessageShape};
use crate::relay::metrics::RelayMetrics;
use crate::rln::capacity::{ShardCapacity, capacity};
use crate::rln::config::MemberSpec;
use crate::rln::membership::Membership;
use crate::rln::{RlnCounter, RlnShared, SpamKind};
use crate::workload::WorkloadPlan;

use super::input::{RlnInput, SimInputError};
use super::output::{RlnOutput, TraceEntry};

/// The run's RLN data: memberships (the given ones, or every publisher but non-member
/// spammers), spammers, CPU factors.
pub(super) fn shared(
    r: RlnInput,
    plan: &WorkloadPlan,
    n: usize,
) -> Result<RlnShared, SimInputError> {
    r.config.validate(n).map_err(SimInputError::Rln)?;
    if !r.cpu_factor.is_empty() && r.cpu_factor.len() != n {
        return Err(super::input::bad(
            "rln.cpu_factor",
            format!("{} factors for {n} nodes", r.cpu_factor.len()),
        ));
    }
    let mut spammers = vec![false; n];
    let mut honest = vec![false; n];
    let mut non_member = vec![false; n];
    for s in &plan.streams {
        for p in &s.publishers {
            match s.config.spam {
                Some(SpamKind::NonMember) => non_member[p.index()] = true,
                Some(_) => spammers[p.index()] = true,
                None => honest[p.index()] = true,
            }
        }
    }
    for i in 0..n {
        spammers[i] |= non_member[i];
    }
    let mut specs: Vec<MemberSpec> = r.config.members.clone();
    specs.extend(r.members.iter().cloned());
    if specs.is_empty() {
        specs = (0..n)
            .filter(|&i| honest[i] || (spammers[i] && !non_member[i]))
            .map(|i| MemberSpec {
                node: i as u32,
                limit: None,
                at_s: 0.0,
            })
            .collect();
    }
    let membership = Membership::new(&r.config, &specs, n).map_err(SimInputError::Rln)?;
    let factors = if r.cpu_factor.is_empty() {
        vec![1.0; n]
    } else {
        r.cpu_factor
    };
    let mut sh = RlnShared::new(r.config, membership, factors, spammers);
    if r.trace {
        sh.trace = Some(Default::default());
    }
    Ok(sh)
}

/// (node, largest serialized message bytes) of the publishers of each topic, by topic.
pub(super) type Publishing = Vec<Vec<(u32, u32)>>;

/// (node, largest serialized message bytes) of the publishers of each topic.
pub fn publishing(plan: &WorkloadPlan, ntopics: usize) -> Publishing {
    let mut out: Vec<Vec<(u32, u32)>> = vec![Vec::new(); ntopics];
    for s in &plan.streams {
        let c = &s.config;
        let payload = s.payload.iter().map(|p| p.0).max().unwrap_or(0);
        let bytes = WakuMessageShape {
            payload_bytes: payload,
            content_topic_bytes: c.content_topic.len() as u32,
            meta_bytes: c.meta_bytes,
            rln_proof: true,
            ephemeral: c.ephemeral,
        }
        .encoded_len();
        let Some(v) = out.get_mut(c.topic as usize) else {
            continue;
        };
        for p in &s.publishers {
            match v.iter_mut().find(|e| e.0 == p.0) {
                Some(e) => e.1 = e.1.max(bytes),
                None => v.push((p.0, bytes)),
            }
        }
    }
    for v in &mut out {
        v.sort();
    }
    out
}

/// RLN's results at the end of a run.
pub(super) fn output(
    sh: &Rc<RlnShared>,
    publishing: &[Vec<(u32, u32)>],
    topics: &Topics,
    obs: &RelayMetrics,
    warm: SimTime,
    end: SimTime,
    still_connected: u64,
) -> RlnOutput {
    let t = sh.tally.borrow();
    let book = sh.book.borrow();
    let mut spam_by_kind = Vec::new();
    for k in SpamKind::ALL {
        let (mut published, mut delivered) = (0u64, 0u64);
        for e in book.iter().flatten() {
            if e.spam == Some(k) && e.excess {
                published += 1;
                if e.accepted_by > 0 {
                    delivered += 1;
                }
            }
        }
        if published > 0 {
            spam_by_kind.push((k.name().to_owned(), published, delivered));
        }
    }
    let mut delays: Vec<f64> = t
        .disconnects
        .iter()
        .filter_map(|&(s, _, at)| {
            t.first_spam[s.index()].map(|f| at.saturating_since(f).as_secs_f64())
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    let window = end
        .saturating_since(warm)
        .as_secs_f64()
        .max(f64::MIN_POSITIVE);
    let mut measured = vec![(0u64, 0u64); topics.len()];
    for m in &obs.msgs {
        if m.publish_time >= warm && m.publish_time <= end {
            let e = &mut measured[m.topic.0 as usize];
            e.0 += 1;
            e.1 += m.data_bytes as u64;
        }
    }
    let cap: Vec<ShardCapacity> = capacity(&sh.membership, sh.cfg.epoch(), topics, publishing);
    RlnOutput {
        limit: sh.limit,
        epoch_s: sh.cfg.epoch(),
        members: sh.membership.members.len() as u32,
        roots: sh.membership.roots() as u32,
        counters: RlnCounter::ALL
            .iter()
            .map(|&c| (c.name().to_owned(), t.get(c)))
            .collect(),
        spam_by_kind,
        disconnect_delays_s: delays,
        spammer_links_left: still_connected,
        proof_cpu_s: t.proof_cpu.iter().map(|d| d.as_secs_f64()).collect(),
        verify_cpu_s: t.verify_cpu.iter().map(|d| d.as_secs_f64()).collect(),
        capacity: cap,
        trace: sh
            .trace
            .as_ref()
            .map(|t| {
                let book = sh.book.borrow();
                t.borrow()
                    .iter()
                    .map(|&(n, seq, ok)| {
                        let e = book.get(seq as usize).copied().flatten();
                        TraceEntry {
                            node: n.0,
                            seq,
                            accepted: ok,
                            member: e.map_or(u32::MAX, |e| e.proof.member),
                            epoch: e.map_or(0, |e| e.proof.epoch),
                            nullifier: e.map_or(0, |e| e.proof.nullifier()),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default(),
        measured: measured
            .iter()
            .map(|&(m, b)| (m as f64 / window, b as f64 / window))
            .collect(),
    }
}

/// Whether node `n` is a spammer of the run.
pub(super) fn is_spammer(sh: &RlnShared, n: NodeId) -> bool {
    sh.spammers.get(n.index()).copied().unwrap_or(false)
}
