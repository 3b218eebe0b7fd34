//! Validation: the step a relay runs on the first copy of a message before it delivers and
//! forwards it (nim-libp2p `validate`, nwaku's topic validators).
//!
//! A [`Validator`] looks at a message and returns a [`Validation`]; [`Validators`] is the
//! ordered chain a run's relays share ([`crate::relay::RelayShared::validators`]): the first
//! verdict other than Accept wins, and an empty chain accepts. The chain a relay runs is
//! - the basic check ([`validate`]: messages the workload flagged invalid or ignored),
//! - the protected-shard signature check ([`crate::relay::protected`]) when any shard is
//!   protected,
//! - then any further validators, in the order they were added;
//! - then, when the run has RLN ([`crate::relay::RelayShared::rln`]), the node's RLN check
//!   ([`crate::rln::validator::RlnCheck`]). It is not a [`Validator`]: it keeps per-node state
//!   (the nullifier log) and takes CPU time, so relay calls it in two parts: the checks before
//!   the proof verification on a message's first copy (a failure rejects at once; a pass adds
//!   the verification's CPU time to the compute job), the proof and the nullifier log when
//!   the job is done.
//!
//! The built-in steps are called directly; only further validators go through dynamic
//! dispatch (there are none today).

use std::fmt::Debug;
use std::rc::Rc;

use crate::relay::message::WireMsg;

/// The outcome of validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    /// Deliver and forward.
    Accept,
    /// Drop silently.
    Ignore,
    /// Drop and penalise the sender (P4).
    Reject,
}

/// A validation step: what the relay asks before delivering and forwarding a message. Reject
/// drops it and penalises the sender (P4); Ignore drops it silently.
pub trait Validator: Debug {
    /// The verdict on `msg`.
    fn validate(&self, msg: &WireMsg) -> Validation;
}

/// The basic check: messages flagged invalid by the workload are rejected, messages flagged
/// to be ignored are ignored.
pub fn validate(msg: &WireMsg) -> Validation {
    if msg.flags & WireMsg::INVALID != 0 {
        Validation::Reject
    } else if msg.flags & WireMsg::IGNORE != 0 {
        Validation::Ignore
    } else {
        Validation::Accept
    }
}

/// The basic check ([`validate`]) as a [`Validator`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BasicCheck;

impl Validator for BasicCheck {
    #[inline]
    fn validate(&self, msg: &WireMsg) -> Validation {
        validate(msg)
    }
}

/// An ordered chain of validators: the first verdict other than Accept wins; an empty chain
/// accepts.
///
/// The chain is the basic check (when on), then a slot its owner fills at each call (the
/// relay: the protected shards, [`crate::relay::RelayShared::protected`], which a run may set
/// after building the shared data), then the further validators in the order added.
#[derive(Clone, Debug, Default)]
pub struct Validators {
    basic: bool,
    extra: Vec<Rc<dyn Validator>>,
}

impl Validators {
    /// An empty chain (accepts every message).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The basic check only (the relay's default).
    pub fn basic() -> Self {
        Validators {
            basic: true,
            extra: Vec::new(),
        }
    }

    /// Appends `v` to the chain (after every step already there).
    pub fn push(&mut self, v: Rc<dyn Validator>) -> &mut Self {
        self.extra.push(v);
        self
    }

    /// Whether the chain has no step (beyond the slot filled at each call).
    pub fn is_empty(&self) -> bool {
        !self.basic && self.extra.is_empty()
    }

    /// Runs the chain on `msg` with `slot` after the basic check: the first verdict other
    /// than Accept, else Accept.
    #[inline]
    pub fn run<S: Validator>(&self, msg: &WireMsg, slot: Option<&S>) -> Validation {
        if self.basic {
            let v = validate(msg);
            if v != Validation::Accept {
                return v;
            }
        }
        if let Some(s) = slot {
            let v = s.validate(msg);
            if v != Validation::Accept {
                return v;
            }
        }
        for x in &self.extra {
            let v = x.validate(msg);
            if v != Validation::Accept {
                return v;
            }
        }
        Validation::Accept
    }
}

impl Validator for Validators {
    fn validate(&self, msg: &WireMsg) -> Validation {
        self.run::<BasicCheck>(msg, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::message::TopicIdx;
    use crate::relay::protected::ProtectedTopics;

    /// Returns `verdict` for messages on `topic`, Accept otherwise.
    #[derive(Debug)]
    struct OnTopic(TopicIdx, Validation);

    impl Validator for OnTopic {
        fn validate(&self, msg: &WireMsg) -> Validation {
            if msg.topic == self.0 {
                self.1
            } else {
                Validation::Accept
            }
        }
    }

    fn msg(topic: u16, flags: u8) -> WireMsg {
        WireMsg {
            id: 1,
            seq: 0,
            data_bytes: 100,
            topic: TopicIdx(topic),
            hops: 1,
            topic_len: 14,
            flags,
        }
    }

    const NONE: Option<&ProtectedTopics> = None;

    #[test]
    fn empty_chain_accepts_and_basic_is_the_workload_flags() {
        let e = Validators::empty();
        assert!(e.is_empty());
        assert_eq!(e.run(&msg(0, WireMsg::INVALID), NONE), Validation::Accept);
        let b = Validators::basic();
        assert_eq!(b.run(&msg(0, 0), NONE), Validation::Accept);
        assert_eq!(b.run(&msg(0, WireMsg::INVALID), NONE), Validation::Reject);
        assert_eq!(b.run(&msg(0, WireMsg::IGNORE), NONE), Validation::Ignore);
        assert_eq!(b.validate(&msg(0, WireMsg::IGNORE)), Validation::Ignore);
    }

    #[test]
    fn the_first_verdict_other_than_accept_wins() {
        let ignore = Rc::new(OnTopic(TopicIdx(2), Validation::Ignore));
        let reject = Rc::new(OnTopic(TopicIdx(2), Validation::Reject));
        let mut a = Validators::basic();
        a.push(ignore.clone()).push(reject.clone());
        let mut b = Validators::basic();
        b.push(reject).push(ignore);
        assert_eq!(a.run(&msg(2, 0), NONE), Validation::Ignore);
        assert_eq!(b.run(&msg(2, 0), NONE), Validation::Reject);
        assert_eq!(a.run(&msg(3, 0), NONE), Validation::Accept);
        // The basic check comes first: an invalid message is rejected, not ignored.
        assert_eq!(a.run(&msg(2, WireMsg::INVALID), NONE), Validation::Reject);
        // The slot (protected shards) comes before the further validators.
        let p = ProtectedTopics::new([TopicIdx(2)]);
        assert_eq!(a.run(&msg(2, 0), Some(&p)), Validation::Reject);
        assert_eq!(
            a.run(&msg(2, WireMsg::SIGNED), Some(&p)),
            Validation::Ignore
        );
        assert_eq!(
            b.run(&msg(2, WireMsg::IGNORE), Some(&p)),
            Validation::Ignore
        );
    }
}
