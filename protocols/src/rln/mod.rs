//! RLN rate limiting (17/WAKU2-RLN-RELAY, RLNv2) as nwaku runs it: memberships with a message
//! limit per epoch, proofs on every relayed message, their validation with its CPU cost, and
//! spammers.
//!
//! Off unless a scenario has `[rln]` ([`config::RlnConfig`]); without it no file and no result
//! changes. With it:
//!
//! - **Memberships** ([`membership`]): registered before the run or during it (after a
//!   registration delay and the next root poll), each with its limit; every registration
//!   changes the Merkle root, and validators accept a window of recent roots.
//! - **Publishing** ([`Rln`], this node's publisher side, one line in the node's list): a
//!   member's message gets message id `used` in `[0, limit)` of the current epoch and a proof
//!   that costs `proof_gen_us` x the node's CPU factor on the node's compute queue before the
//!   message goes to relay (nwaku `appendRLNProof` in the publish path). Over the limit the
//!   message is dropped (nwaku's nonce manager refuses it) or held for the next epoch
//!   (`over_limit`), both counted. The proof is 339 bytes of the WakuMessage
//!   ([`crate::relay::message::RLN_PROOF_BYTES`]).
//! - **Validation** ([`validator::RlnCheck`], plugged into relay's validation): nwaku's order
//!   (`rln_relay.nim` `validateMessage`): the timestamp within `max_clock_gap_s`, the proof's
//!   epoch equal to the timestamp's, the root in the accepted window, then the proof
//!   verification (`proof_verify_us` x CPU factor on the compute queue; only messages that
//!   pass the first three cost it), then the nullifier log: a second message with the same
//!   (epoch, nullifier) is spam. Every failure is a gossipsub Reject, so the sender's P4
//!   grows and scoring graylists and disconnects it at the next score update (nim-libp2p
//!   recomputes scores only in its scoring heartbeat, every `decay_interval`: 12 s in nwaku).
//! - **Spammers** ([`SpamKind`], `spam` on a workload stream): double signalling beyond the
//!   limit, invalid proofs, replays of old timestamps, stale epochs, non-members.
//! - **Capacity** ([`capacity`]): the bound on messages/s and bytes/s per shard that members
//!   and limits allow, beside the measured traffic.
//!
//! The simulator carries no payload: a message's proof fields (member, epoch, message id,
//! root, timestamp, whether the zk proof verifies) are what the 339 bytes would say; they sit
//! in the run's message book ([`RlnShared::book`]) under the message's registry index, as
//! the message carries them.

pub mod capacity;
pub mod config;
pub mod membership;
pub mod validator;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use sim_core::{NodeId, SimDuration, SimTime};

use crate::node::TIMESTAMP_EPOCH_NS;
use crate::node::registry::Build;
use crate::proto::{Io, Protocol, Wire};
use crate::relay::message::TopicIdx;
use config::{OverLimit, RlnConfig};
use membership::{Membership, NO_MEMBER, NO_ROOT};

/// Bytes a proof adds to a WakuMessage: field 21's two-byte tag, its length (2 bytes) and
/// the 335-byte proof (2 + 2 + 335).
pub const PROOF_FIELD_BYTES: u32 = 339;

/// What a spamming publisher does (`spam` on a workload stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpamKind {
    /// A member that ignores its limit: beyond `limit` messages per epoch it reuses message
    /// ids (same epoch and nullifier, different message: a double signal).
    DoubleSignal,
    /// A member whose proofs do not verify.
    InvalidProof,
    /// Old messages sent again: timestamps `replay_age_s` in the past.
    Replay,
    /// Proofs for the previous epoch on current timestamps.
    StaleEpoch,
    /// No membership: proofs against a root nobody has.
    NonMember,
}

impl SpamKind {
    /// Every kind, in order.
    pub const ALL: [SpamKind; 5] = [
        SpamKind::DoubleSignal,
        SpamKind::InvalidProof,
        SpamKind::Replay,
        SpamKind::StaleEpoch,
        SpamKind::NonMember,
    ];
    /// A stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            SpamKind::DoubleSignal => "double_signal",
            SpamKind::InvalidProof => "invalid_proof",
            SpamKind::Replay => "replay",
            SpamKind::StaleEpoch => "stale_epoch",
            SpamKind::NonMember => "non_member",
        }
    }
}

/// The proof fields of one message (what its 339 proof bytes say).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proof {
    /// The member ([`NO_MEMBER`]: none).
    pub member: u32,
    /// The proof's epoch.
    pub epoch: u64,
    /// The RLNv2 message id.
    pub message_id: u32,
    /// The Merkle root it was made against ([`NO_ROOT`]: fabricated).
    pub root: u32,
    /// The WakuMessage timestamp, nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// Whether the zk proof verifies.
    pub valid: bool,
}

impl Proof {
    /// The nullifier (one per member, epoch and message id), without the epoch (the log is
    /// per epoch).
    pub fn nullifier(&self) -> u64 {
        ((self.member as u64) << 32) | self.message_id as u64
    }
}

/// One message of the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookEntry {
    /// Its proof.
    pub proof: Proof,
    /// Its publisher.
    pub publisher: NodeId,
    /// Its shard.
    pub topic: TopicIdx,
    /// The spam kind of its stream (`None`: honest).
    pub spam: Option<SpamKind>,
    /// Spam beyond what a member may send (every spam message but a double signaller's first
    /// `limit` of an epoch).
    pub excess: bool,
    /// Honest nodes (not its publisher) that accepted it.
    pub accepted_by: u32,
}

crate::protocol_counters! {
    /// RLN counts of a run.
    pub enum RlnCounter {
        /// Proofs generated (messages that went to relay with a proof).
        ProofsGenerated = "proofs_generated",
        /// Proofs verified (validations that reached the verification step).
        ProofsVerified = "proofs_verified",
        /// Messages held for the next epoch (over the limit, `over_limit = "queue"`).
        HeldBack = "held_back",
        /// Messages dropped over the limit (`over_limit = "drop"`, or the queue full).
        DroppedOverLimit = "dropped_over_limit",
        /// Messages dropped because their publisher has no visible membership.
        DroppedNoMembership = "dropped_no_membership",
        /// Validations accepted.
        Accepted = "accepted",
        /// Rejected: no proof.
        RejectedNoProof = "rejected_no_proof",
        /// Rejected: timestamp out of the clock-gap window.
        RejectedTimestamp = "rejected_timestamp",
        /// Rejected: proof epoch differs from the timestamp's.
        RejectedEpoch = "rejected_epoch",
        /// Rejected: root not in the accepted window.
        RejectedRoot = "rejected_root",
        /// Rejected: the proof does not verify.
        RejectedProof = "rejected_proof",
        /// Rejected: (epoch, nullifier) already in the log (a double signal).
        RejectedSpam = "rejected_spam",
        /// Excess spam messages published.
        SpamPublished = "spam_published",
        /// Excess spam accepted by an honest node.
        SpamAccepted = "spam_accepted",
        /// Excess spam rejected by an honest node.
        SpamRejected = "spam_rejected",
        /// Excess spam rejected by an honest node that got it from its publisher.
        SpamRejectedFirstHop = "spam_rejected_first_hop",
        /// Excess spam accepted by an honest node that got it from its publisher.
        SpamAcceptedFirstHop = "spam_accepted_first_hop",
    }
}

/// What a run's RLN nodes write to (one per run; single-threaded, so interior mutability
/// is deterministic).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Counts by [`RlnCounter`].
    pub counters: Vec<u64>,
    /// CPU time charged for proof generation, per node.
    pub proof_cpu: Vec<SimDuration>,
    /// CPU time charged for proof verification, per node.
    pub verify_cpu: Vec<SimDuration>,
    /// When each spammer sent its first excess spam, by node.
    pub first_spam: Vec<Option<SimTime>>,
    /// (spammer, peer, when) each time an honest peer disconnected a spammer for its score.
    /// Bound: one entry per graylist disconnect.
    pub disconnects: Vec<(NodeId, NodeId, SimTime)>,
}

impl Tally {
    /// Adds one to `c`.
    #[inline]
    pub fn count(&mut self, c: RlnCounter) {
        self.counters[c as usize] += 1;
    }
    /// A count.
    pub fn get(&self, c: RlnCounter) -> u64 {
        self.counters[c as usize]
    }
}

/// Run-wide RLN data every node shares.
#[derive(Debug)]
pub struct RlnShared {
    /// The settings (validated).
    pub cfg: RlnConfig,
    /// The limit per epoch of members without their own.
    pub limit: u32,
    /// The epoch in nanoseconds.
    pub epoch_ns: u64,
    /// The memberships and roots.
    pub membership: Membership,
    /// Each node's CPU factor (proof and verification times scale with it).
    pub cpu_factor: Vec<f64>,
    /// Spammer nodes.
    pub spammers: Vec<bool>,
    /// The message book: each published message's proof fields, by registry index. Bound: one
    /// entry per message published with a proof.
    pub book: RefCell<Vec<Option<BookEntry>>>,
    /// The run's counts.
    pub tally: RefCell<Tally>,
    /// Every verdict as (validator, message registry index, accepted), when on (tests: one
    /// entry per validation, unbounded). Default off.
    pub trace: Option<RefCell<Vec<(NodeId, u32, bool)>>>,
}

impl RlnShared {
    /// Shared data for a run of `nodes` nodes.
    pub fn new(
        cfg: RlnConfig,
        membership: Membership,
        cpu_factor: Vec<f64>,
        spammers: Vec<bool>,
    ) -> Self {
        let nodes = cpu_factor.len();
        RlnShared {
            limit: cfg.limit(),
            epoch_ns: cfg.epoch() * 1_000_000_000,
            cfg,
            membership,
            cpu_factor,
            spammers,
            book: RefCell::new(Vec::new()),
            tally: RefCell::new(Tally {
                counters: vec![0; RlnCounter::ALL.len()],
                proof_cpu: vec![SimDuration::ZERO; nodes],
                verify_cpu: vec![SimDuration::ZERO; nodes],
                first_spam: vec![None; nodes],
                disconnects: Vec::new(),
            }),
            trace: None,
        }
    }

    /// The epoch of a Unix timestamp in nanoseconds (nwaku `calcEpoch`).
    #[inline]
    pub fn epoch_of(&self, timestamp_ns: u64) -> u64 {
        timestamp_ns / self.epoch_ns
    }

    /// The Unix timestamp of simulated time `t`.
    #[inline]
    pub fn unix_ns(t: SimTime) -> u64 {
        TIMESTAMP_EPOCH_NS + t.as_nanos()
    }

    /// `base` scaled by node `n`'s CPU factor.
    pub fn cpu(&self, n: NodeId, base_us: u64) -> SimDuration {
        let f = self.cpu_factor.get(n.index()).copied().unwrap_or(1.0);
        SimDuration::from_nanos((base_us as f64 * 1000.0 * f).round() as u64)
    }

    /// The book entry of message `seq`.
    pub fn entry(&self, seq: u32) -> Option<BookEntry> {
        self.book.borrow().get(seq as usize).copied().flatten()
    }

    /// Files message `seq`'s entry.
    pub fn file(&self, seq: u32, e: BookEntry) {
        let mut b = self.book.borrow_mut();
        let i = seq as usize;
        if b.len() <= i {
            b.resize(i + 1, None);
        }
        b[i] = Some(e);
    }

    /// An honest node disconnected `peer` for its score at `now`.
    pub fn graylisted(&self, by: NodeId, peer: NodeId, now: SimTime) {
        if self.spammers.get(peer.index()).copied().unwrap_or(false)
            && !self.spammers.get(by.index()).copied().unwrap_or(false)
        {
            self.tally.borrow_mut().disconnects.push((peer, by, now));
        }
    }
}

/// A message the application asked to publish (before its proof).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Request {
    /// When the application asked.
    pub created: SimTime,
    /// The shard.
    pub topic: TopicIdx,
    /// Bytes of the serialized WakuMessage (with its proof).
    pub data_bytes: u32,
    /// The message id.
    pub id: u64,
    /// The stream's spam kind (`None`: honest).
    pub spam: Option<SpamKind>,
    /// The workload stream that asked (the application's bookkeeping, e.g. for the store's
    /// fields of the message; RLN does not read it).
    pub stream: u16,
    /// Bytes of the message's `meta` field (the application's bookkeeping, like `stream`).
    pub meta_bytes: u32,
}

/// A message with its proof, ready for relay once the proof's CPU time is over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ready {
    /// The request.
    pub req: Request,
    /// Its proof.
    pub proof: Proof,
    /// Spam beyond the limit (see [`BookEntry::excess`]).
    pub excess: bool,
}

/// Timers of the publisher side.
#[derive(Clone, Debug, PartialEq)]
pub enum RlnTimer {
    /// A proof is generated: the node hands the message to relay (`node/glue.rs`).
    ProofDone(Box<Ready>),
    /// A new epoch opens: held messages may go.
    EpochOpen,
}

/// RLN sends no messages of its own (proofs ride in relay's messages).
#[derive(Clone, Debug, PartialEq)]
pub enum RlnMsg {}

impl Wire for RlnMsg {
    fn kind(&self) -> u16 {
        match *self {}
    }
    fn wire_bytes(&self) -> u32 {
        match *self {}
    }
}

/// RLN reports nothing through the event sink (its counts are in [`RlnShared::tally`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RlnEvent {}

/// One node's publisher side: its use of the limit in the current epoch and the messages it
/// holds for the next.
#[derive(Debug)]
pub struct Rln {
    sh: Rc<RlnShared>,
    me: NodeId,
    /// The epoch `used` counts in.
    epoch: u64,
    /// Message ids used in `epoch`.
    used: u32,
    /// Messages held for the next epoch (bound: `queue_max_messages`; beyond it, dropped).
    held: VecDeque<Request>,
    /// Whether an [`RlnTimer::EpochOpen`] is pending.
    waiting: bool,
}

impl Rln {
    /// Node `me`'s publisher side.
    pub fn new(sh: Rc<RlnShared>, me: NodeId) -> Self {
        Rln {
            sh,
            me,
            epoch: 0,
            used: 0,
            held: VecDeque::new(),
            waiting: false,
        }
    }

    /// Messages held for the next epoch.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// The application asks to publish `req`: prove it now (the proof's CPU time, then
    /// [`RlnTimer::ProofDone`]), hold it, or drop it.
    pub fn request(&mut self, req: Request, ctx: &mut impl Io<Rln>) {
        let sh = self.sh.clone();
        let now = ctx.now();
        let ts = RlnShared::unix_ns(now);
        let epoch = sh.epoch_of(ts);
        let member = sh
            .membership
            .of(self.me)
            .filter(|(_, m)| m.visible_at <= now);
        let root = sh.membership.latest_root(now);
        let mut proof = Proof {
            member: NO_MEMBER,
            epoch,
            message_id: 0,
            root,
            timestamp_ns: ts,
            valid: true,
        };
        let mut excess = true;
        let mut cost = SimDuration::ZERO;
        if let (Some(kind), false) = (req.spam, req.spam == Some(SpamKind::DoubleSignal)) {
            // Fabricated or recycled proofs: no CPU spent.
            match member {
                Some((i, _)) if kind != SpamKind::NonMember => proof.member = i,
                _ => proof.root = NO_ROOT,
            }
            match kind {
                SpamKind::InvalidProof => proof.valid = false,
                SpamKind::Replay => {
                    proof.timestamp_ns = ts.saturating_sub(sh.cfg.replay_age_s * 1_000_000_000);
                    proof.epoch = sh.epoch_of(proof.timestamp_ns);
                }
                SpamKind::StaleEpoch => proof.epoch = epoch.saturating_sub(1),
                SpamKind::NonMember | SpamKind::DoubleSignal => {}
            }
        } else {
            let Some((i, m)) = member else {
                sh.tally.borrow_mut().count(RlnCounter::DroppedNoMembership);
                return;
            };
            let limit = m.limit;
            if epoch != self.epoch {
                self.epoch = epoch;
                self.used = 0;
            }
            if req.spam.is_some() {
                // A double signaller reuses ids beyond its limit.
                excess = self.used >= limit;
                proof.message_id = self.used % limit;
                self.used = self.used.saturating_add(1);
            } else if self.used < limit {
                proof.message_id = self.used;
                self.used += 1;
                excess = false;
            } else {
                self.over_limit(req, ctx);
                return;
            }
            proof.member = i;
            cost = sh.cpu(self.me, sh.cfg.proof_gen_us);
        }
        let mut t = sh.tally.borrow_mut();
        t.count(RlnCounter::ProofsGenerated);
        t.proof_cpu[self.me.index()] += cost;
        drop(t);
        ctx.compute(
            cost,
            RlnTimer::ProofDone(Box::new(Ready { req, proof, excess })),
        );
    }

    fn over_limit(&mut self, req: Request, ctx: &mut impl Io<Rln>) {
        let sh = self.sh.clone();
        let mut t = sh.tally.borrow_mut();
        if sh.cfg.over_limit == OverLimit::Queue
            && self.held.len() < sh.cfg.queue_max_messages as usize
        {
            t.count(RlnCounter::HeldBack);
            self.held.push_back(req);
            if !self.waiting {
                self.waiting = true;
                let now = RlnShared::unix_ns(ctx.now());
                let next = (now / sh.epoch_ns + 1) * sh.epoch_ns;
                ctx.set_timer(SimDuration::from_nanos(next - now), RlnTimer::EpochOpen);
            }
        } else {
            t.count(RlnCounter::DroppedOverLimit);
        }
    }

    /// A new epoch: held messages go, up to the limit (the rest wait again).
    fn epoch_open(&mut self, ctx: &mut impl Io<Rln>) {
        self.waiting = false;
        let held = std::mem::take(&mut self.held);
        for r in held {
            self.request(r, ctx);
        }
    }
}

impl Protocol for Rln {
    type Msg = RlnMsg;
    type Timer = RlnTimer;
    type Event = RlnEvent;
    type Metrics = ();
    const CATEGORIES: &'static [(&'static str, &'static str)] = &[];

    fn on_start(&mut self, restart: bool, _ctx: &mut impl Io<Self>) {
        if restart {
            *self = Rln::new(self.sh.clone(), self.me);
        }
    }
    fn on_message(&mut self, _from: NodeId, msg: RlnMsg, _ctx: &mut impl Io<Self>) {
        match msg {}
    }
    fn on_timer(&mut self, timer: RlnTimer, ctx: &mut impl Io<Self>) {
        match timer {
            RlnTimer::EpochOpen => self.epoch_open(ctx),
            // Taken by the node before it reaches here (node/glue.rs).
            RlnTimer::ProofDone(_) => {}
        }
    }
    fn record(_: &mut (), _: NodeId, _: SimTime, event: RlnEvent) {
        match event {}
    }
}

impl Build for Rln {
    type Shared = RlnShared;
    /// Every node (its publisher side is idle unless it publishes).
    fn build(sh: &Rc<RlnShared>, node: NodeId, _topics: &[u16]) -> Option<Self> {
        Some(Rln::new(sh.clone(), node))
    }
}
