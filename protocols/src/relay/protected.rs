//! Protected shards: shards whose messages must be signed with the shard's key (nwaku
//! `--protected-shard=<shard>:<public key>`, `waku_relay/validator_signed.nim`).
//!
//! The publisher signs `sha256(pubsub topic ++ payload ++ content topic ++ timestamp (8 bytes,
//! little-endian) ++ ephemeral)` with the shard's secp256k1 private key and puts the 64-byte
//! compact signature in the WakuMessage's `meta` field ([`SIGNATURE_BYTES`]). Relays of the
//! shard verify it against the configured public key; a message without a valid signature, or
//! with a timestamp more than 5 minutes away, is **rejected** (relay's reject path: not
//! forwarded, the sender penalised through P4). Messages on other shards are not checked.
//!
//! The simulator carries no payload: a signed message has `meta_bytes = 64` (its size) and a
//! validity flag ([`crate::relay::message::WireMsg::SIGNED`]) that stands for "the signature
//! verifies". Timestamps are always current in the simulator, so the time window never fails.
//! Signature verification takes no modelled CPU time (about 0.1 ms with secp256k1, far below
//! RLN's 12 ms).

use crate::relay::message::{TopicIdx, WireMsg};
use crate::relay::validation::{Validation, Validator};

/// Bytes of the signature a publisher puts in `meta` (secp256k1 compact, r ++ s).
pub const SIGNATURE_BYTES: u32 = 64;

/// How a publisher signs its messages on a protected shard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signing {
    /// Sign with the shard's key when the shard is protected (a holder of the key); no
    /// signature on other shards. The default.
    #[default]
    Auto,
    /// Never sign (a publisher without the key): rejected on protected shards.
    None,
    /// Sign with a wrong key: 64 bytes of `meta` that do not verify; rejected on protected
    /// shards.
    Bad,
}

/// Which topics of a run are protected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProtectedTopics {
    /// Bit `t % 64` of word `t / 64` is set when topic `t` is protected.
    bits: Vec<u64>,
}

impl ProtectedTopics {
    /// No protected topic.
    pub fn none() -> Self {
        Self::default()
    }

    /// The given topics are protected.
    pub fn new(topics: impl IntoIterator<Item = TopicIdx>) -> Self {
        let mut p = ProtectedTopics::default();
        for t in topics {
            let i = t.0 as usize;
            if p.bits.len() <= i / 64 {
                p.bits.resize(i / 64 + 1, 0);
            }
            p.bits[i / 64] |= 1 << (i % 64);
        }
        p
    }

    /// Whether any topic is protected.
    pub fn any(&self) -> bool {
        self.bits.iter().any(|&w| w != 0)
    }

    /// Whether `t` is protected.
    #[inline]
    pub fn contains(&self, t: TopicIdx) -> bool {
        let i = t.0 as usize;
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// The signature check: Accept on unprotected topics; on a protected topic Accept only a
    /// message with a valid signature, else Reject.
    #[inline]
    pub fn check(&self, t: TopicIdx, validly_signed: bool) -> Validation {
        if !self.contains(t) || validly_signed {
            Validation::Accept
        } else {
            Validation::Reject
        }
    }
}

/// The protected-shard step of the validation chain ([`crate::relay::validation`]).
impl Validator for ProtectedTopics {
    #[inline]
    fn validate(&self, msg: &WireMsg) -> Validation {
        self.check(msg.topic, msg.flags & WireMsg::SIGNED != 0)
    }
}

impl Signing {
    /// (meta bytes the signature takes, whether it verifies) for a message on a topic that is
    /// `protected` or not.
    pub fn apply(self, protected: bool) -> (u32, bool) {
        match (self, protected) {
            (Signing::Auto, true) => (SIGNATURE_BYTES, true),
            (Signing::Auto, false) | (Signing::None, _) => (0, false),
            (Signing::Bad, _) => (SIGNATURE_BYTES, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_protected_topics_are_checked() {
        let p = ProtectedTopics::new([TopicIdx(3), TopicIdx(70)]);
        assert!(p.any() && p.contains(TopicIdx(3)) && p.contains(TopicIdx(70)));
        assert!(!p.contains(TopicIdx(4)) && !p.contains(TopicIdx(1000)));
        assert_eq!(p.check(TopicIdx(3), true), Validation::Accept);
        assert_eq!(p.check(TopicIdx(3), false), Validation::Reject);
        assert_eq!(p.check(TopicIdx(4), false), Validation::Accept);
        assert!(!ProtectedTopics::none().any());
    }

    #[test]
    fn signing_modes() {
        // A key holder signs only on protected shards; the signature fills meta (64 B).
        assert_eq!(Signing::Auto.apply(true), (64, true));
        assert_eq!(Signing::Auto.apply(false), (0, false));
        assert_eq!(Signing::None.apply(true), (0, false));
        assert_eq!(Signing::Bad.apply(true), (64, false));
        let p = ProtectedTopics::new([TopicIdx(0)]);
        for (s, ok) in [
            (Signing::Auto, true),
            (Signing::None, false),
            (Signing::Bad, false),
        ] {
            let (_, valid) = s.apply(true);
            let want = if ok {
                Validation::Accept
            } else {
                Validation::Reject
            };
            assert_eq!(p.check(TopicIdx(0), valid), want, "{s:?}");
        }
    }
}
