//! Links to wire at time 0 for a flood run. Nothing here is specific to flooding: these are
//! plain undirected graphs, each link once as (lower id, higher id), sorted.

use std::collections::BTreeSet;

use rand::Rng;
use sim_core::rng;

/// Name of the random stream [`ring_chords`] draws from (with the run's seed and
/// [`rng::GLOBAL_SCOPE`]).
pub const RING_CHORDS_STREAM: &str = "flood-topology";

/// Every pair of the `n` nodes linked.
pub fn full_mesh(n: u32) -> Vec<(u32, u32)> {
    let mut set = BTreeSet::new();
    for a in 0..n {
        for b in a + 1..n {
            set.insert((a, b));
        }
    }
    set.into_iter().collect()
}

/// A ring of `n` nodes (node i linked to i + 1 mod n) plus `chords` random links per node,
/// drawn from `seed`. Each node draws its chords from the one stream, in node order; a draw
/// that hits the node itself or an existing link is skipped (so a node may get fewer than
/// `chords` extra links).
pub fn ring_chords(n: u32, chords: u32, seed: u64) -> Vec<(u32, u32)> {
    let mut set = BTreeSet::new();
    for a in 0..n {
        let b = (a + 1) % n;
        set.insert((a.min(b), a.max(b)));
    }
    let mut r = rng::stream(seed, rng::GLOBAL_SCOPE, RING_CHORDS_STREAM);
    for a in 0..n {
        for _ in 0..chords {
            let b = r.random_range(0..n);
            if b != a {
                set.insert((a.min(b), a.max(b)));
            }
        }
    }
    set.into_iter().collect()
}
