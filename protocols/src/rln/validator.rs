//! One node's RLN validation (nwaku `rln_relay.nim`: `validateMessage`,
//! `validateMessageAndUpdateLog`, `clearNullifierLog`), the step relay runs after its basic
//! checks ([`crate::relay::validation`]).
//!
//! In two parts, because the proof verification takes CPU time:
//! - [`RlnCheck::precheck`] on the first copy: a proof at all, the timestamp within the clock
//!   gap, the epoch equal to the timestamp's, the root in the accepted window. A failure is a
//!   Reject at once (no CPU); a pass costs `proof_verify_us` x the node's CPU factor on the
//!   compute queue.
//! - [`RlnCheck::finish`] when the verification is done: the proof verifies, then the
//!   nullifier log (a second (epoch, nullifier) is spam, Reject; else it is logged, Accept).
//!
//! The nullifier log keeps the current epoch, `log_epochs_behind` before it and the epochs up
//! to the max epoch gap ahead (nwaku removes `e <= current - gap` and `e >= current + gap`
//! before each validation). Bound: those epochs x the members' limits (only valid proofs of
//! members enter it, one per (member, message id)).

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use sim_core::{NodeId, SimDuration, SimTime};

use crate::relay::Validation;
use crate::relay::message::WireMsg;
use crate::rln::{RlnCounter, RlnShared};

/// One node's validation state.
#[derive(Debug)]
pub struct RlnCheck {
    sh: Rc<RlnShared>,
    me: NodeId,
    verify: SimDuration,
    honest: bool,
    /// Nullifiers seen per epoch.
    log: BTreeMap<u64, BTreeSet<u64>>,
}

impl RlnCheck {
    /// Node `me`'s check.
    pub fn new(sh: Rc<RlnShared>, me: NodeId) -> Self {
        RlnCheck {
            verify: sh.cpu(me, sh.cfg.proof_verify_us),
            honest: !sh.spammers.get(me.index()).copied().unwrap_or(false),
            sh,
            me,
            log: BTreeMap::new(),
        }
    }

    /// Epochs in the nullifier log.
    pub fn log_epochs(&self) -> usize {
        self.log.len()
    }

    /// The checks before the proof verification: `None` is a Reject now; `Some(cost)` the
    /// verification's CPU time.
    pub fn precheck(&mut self, msg: &WireMsg, now: SimTime) -> Option<SimDuration> {
        let sh = self.sh.clone();
        let reason = match sh.entry(msg.seq) {
            None => Some(RlnCounter::RejectedNoProof),
            Some(e) => {
                let p = e.proof;
                let now_ns = RlnShared::unix_ns(now);
                // nwaku: uint64(abs(now - timestamp)) in whole seconds > gap.
                let diff_s = now_ns.abs_diff(p.timestamp_ns) / 1_000_000_000;
                if diff_s > sh.cfg.max_clock_gap_s {
                    Some(RlnCounter::RejectedTimestamp)
                } else if p.epoch != sh.epoch_of(p.timestamp_ns) {
                    Some(RlnCounter::RejectedEpoch)
                } else if !sh.membership.root_ok(p.root, now) {
                    Some(RlnCounter::RejectedRoot)
                } else {
                    None
                }
            }
        };
        match reason {
            Some(r) => {
                self.tally(msg, r, Validation::Reject);
                None
            }
            None => {
                let mut t = sh.tally.borrow_mut();
                t.count(RlnCounter::ProofsVerified);
                t.verify_cpu[self.me.index()] += self.verify;
                Some(self.verify)
            }
        }
    }

    /// The verdict once the verification is done (the log updated on Accept).
    pub fn finish(&mut self, msg: &WireMsg, now: SimTime) -> Validation {
        let Some(e) = self.sh.entry(msg.seq) else {
            self.tally(msg, RlnCounter::RejectedNoProof, Validation::Reject);
            return Validation::Reject;
        };
        self.clear(now);
        let p = e.proof;
        if !p.valid {
            self.tally(msg, RlnCounter::RejectedProof, Validation::Reject);
            return Validation::Reject;
        }
        if !self.log.entry(p.epoch).or_default().insert(p.nullifier()) {
            self.tally(msg, RlnCounter::RejectedSpam, Validation::Reject);
            return Validation::Reject;
        }
        self.tally(msg, RlnCounter::Accepted, Validation::Accept);
        Validation::Accept
    }

    /// nwaku `clearNullifierLog`.
    fn clear(&mut self, now: SimTime) {
        let cur = self.sh.epoch_of(RlnShared::unix_ns(now));
        let behind = self.sh.cfg.log_epochs_behind();
        let ahead = self.sh.cfg.max_epoch_gap();
        self.log
            .retain(|&e, _| e.saturating_add(behind) >= cur && e < cur.saturating_add(ahead));
    }

    fn tally(&self, msg: &WireMsg, c: RlnCounter, v: Validation) {
        if let Some(tr) = &self.sh.trace {
            tr.borrow_mut()
                .push((self.me, msg.seq, v == Validation::Accept));
        }
        let mut t = self.sh.tally.borrow_mut();
        t.count(c);
        if !self.honest {
            return;
        }
        let Some(e) = self.sh.entry(msg.seq) else {
            return;
        };
        if !e.excess || e.publisher == self.me {
            if v == Validation::Accept && e.publisher != self.me {
                self.bump(msg.seq);
            }
            return;
        }
        // Relay counts a link on publish: the publisher's peers see hops = 1.
        let first_hop = msg.hops == 1;
        match v {
            Validation::Accept => {
                t.count(RlnCounter::SpamAccepted);
                if first_hop {
                    t.count(RlnCounter::SpamAcceptedFirstHop);
                }
                drop(t);
                self.bump(msg.seq);
            }
            _ => {
                t.count(RlnCounter::SpamRejected);
                if first_hop {
                    t.count(RlnCounter::SpamRejectedFirstHop);
                }
            }
        }
    }

    fn bump(&self, seq: u32) {
        if let Some(Some(e)) = self.sh.book.borrow_mut().get_mut(seq as usize) {
            e.accepted_by += 1;
        }
    }
}
