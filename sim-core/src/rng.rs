//! Seeded random streams.
//!
//! A run has one master seed. Every random stream is derived from the master seed and a
//! *stable name*: a scope (usually a node id) plus a label such as `"gossipsub"`. The derivation
//! is a fixed hash (SplitMix64 over the name's bytes) that feeds a ChaCha8 key, so:
//!
//! - the same (seed, scope, label) gives the same stream on every machine and every run;
//! - adding a node, or a protocol with its own label, never shifts another stream, because no
//!   stream is drawn from another;
//! - streams for different names are independent for every practical purpose (ChaCha8 keyed by
//!   a 256-bit value derived from a 64-bit mix).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The random generator type every stream uses.
pub type SimRng = ChaCha8Rng;

/// The scope used for streams that belong to the run as a whole rather than to a node.
pub const GLOBAL_SCOPE: u64 = u64::MAX;

/// One round of SplitMix64: a fast, well-mixed bijection on `u64`.
pub const fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit digest of (master seed, scope, label), stable across platforms and versions.
pub fn derive_seed(master: u64, scope: u64, label: &str) -> u64 {
    let mut h = splitmix64(master ^ 0x5741_4B55_5349_4D00); // "WAKUSIM\0"
    h = splitmix64(h ^ scope);
    for chunk in label.as_bytes().chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = splitmix64(h ^ u64::from_le_bytes(word));
    }
    splitmix64(h ^ label.len() as u64)
}

/// The stream named (scope, label) under `master`. Use the node id as the scope for a node's
/// streams and [`GLOBAL_SCOPE`] for run-wide ones.
pub fn stream(master: u64, scope: u64, label: &str) -> SimRng {
    let s = derive_seed(master, scope, label);
    let mut key = [0u8; 32];
    let mut z = s;
    for part in key.chunks_mut(8) {
        z = splitmix64(z);
        part.copy_from_slice(&z.to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn same_name_same_stream_and_names_are_independent() {
        let a: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(7, 3, "gossipsub"), |r, _| Some(r.random()))
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(7, 3, "gossipsub"), |r, _| Some(r.random()))
            .collect();
        assert_eq!(a, b);
        let mut c = stream(7, 4, "gossipsub");
        let mut d = stream(7, 3, "discv5");
        let mut e = stream(8, 3, "gossipsub");
        assert_ne!(a[0], c.random::<u64>());
        assert_ne!(a[0], d.random::<u64>());
        assert_ne!(a[0], e.random::<u64>());
    }

    #[test]
    fn derivation_is_pinned() {
        // Pinned so that a change to the derivation (which would silently change every result
        // ever published with wakusim) fails loudly. Values computed once from this
        // implementation; change them only with a deliberate, documented break.
        assert_eq!(derive_seed(1, 0, "node"), 7_698_139_736_870_558_255);
        assert_eq!(
            stream(1, 0, "node").random::<u64>(),
            16_576_459_127_287_546_879
        );
        assert_ne!(derive_seed(1, 0, "node"), derive_seed(1, 0, "node\0"));
        assert_ne!(derive_seed(1, 0, "ab"), derive_seed(1, 0, "ba"));
    }
}
