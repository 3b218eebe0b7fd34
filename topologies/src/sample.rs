//! Random sampling primitives with a fixed, documented algorithm.
//!
//! Everything random in this crate goes through these few functions, built directly on
//! [`rand::RngCore::next_u64`] of a [`sim_core::rng::stream`]. They do not use `rand`'s
//! higher-level helpers (`shuffle`, `random_range`, distributions), whose algorithms may change
//! between `rand` releases: a published result must be reproducible from (seed, parameters)
//! whatever version of `rand` is in the lock file.

use rand::RngCore;
use sim_core::rng::{self, SimRng};

/// The random stream for a run-wide construction named `label`.
pub(crate) fn global_stream(seed: u64, label: &str) -> SimRng {
    rng::stream(seed, rng::GLOBAL_SCOPE, label)
}

/// A uniform integer in `0..n` (Lemire's multiply-and-reject method: exact, no modulo bias).
/// `n` must be positive.
#[inline]
pub(crate) fn below(rng: &mut impl RngCore, n: u64) -> u64 {
    debug_assert!(n > 0, "below(0)");
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    if (m as u64) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
        }
    }
    (m >> 64) as u64
}

/// A uniform index in `0..n` (`n > 0`).
#[inline]
pub(crate) fn index(rng: &mut impl RngCore, n: usize) -> usize {
    below(rng, n as u64) as usize
}

/// A uniform float in `[0, 1)` with 53 random bits.
#[inline]
pub(crate) fn unit(rng: &mut impl RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform float in `(0, 1]`: safe to take the logarithm of.
#[inline]
pub(crate) fn unit_open0(rng: &mut impl RngCore) -> f64 {
    1.0 - unit(rng)
}

/// True with probability `p`.
#[inline]
pub(crate) fn chance(rng: &mut impl RngCore, p: f64) -> bool {
    unit(rng) < p
}

/// Fisher–Yates shuffle (Durstenfeld's variant, from the end).
pub(crate) fn shuffle<T>(rng: &mut impl RngCore, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = index(rng, i + 1);
        items.swap(i, j);
    }
}

/// A standard normal variate (Box–Muller, one of the pair).
pub(crate) fn standard_normal(rng: &mut impl RngCore) -> f64 {
    let u1 = unit_open0(rng);
    let u2 = unit(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `k` distinct indices out of `0..n`, chosen uniformly, returned sorted (`k <= n`). Uses a
/// partial Fisher–Yates shuffle, so it costs O(n) memory; callers use it on selections of
/// nodes.
pub(crate) fn choose_sorted(rng: &mut impl RngCore, n: usize, k: usize) -> Vec<usize> {
    debug_assert!(k <= n);
    let mut all: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = i + index(rng, n - i);
        all.swap(i, j);
    }
    all.truncate(k);
    all.sort_unstable();
    all
}

/// Counts per weight that add up to exactly `total`, by the largest-remainder (Hamilton)
/// method: each weight first gets the whole part of its exact quota `total * w / sum(w)`, and
/// the units left over go to the largest fractional parts, ties to the earlier weight.
///
/// Weights must be finite and non-negative with a positive sum (checked by the callers, which
/// know the field names).
pub(crate) fn largest_remainder(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    debug_assert!(sum > 0.0 && sum.is_finite());
    let quotas: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut counts: Vec<u64> = quotas.iter().map(|q| q.floor() as u64).collect();
    let assigned: u64 = counts.iter().sum();
    // Rounding in the quotas can make the floors add up to one more than `total` in extreme
    // cases; take it back from the smallest remainders first.
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = quotas[a] - quotas[a].floor();
        let rb = quotas[b] - quotas[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    if assigned <= total {
        let mut left = total - assigned;
        // Only weights with a positive quota may receive a unit.
        for &i in order.iter().cycle().take(order.len() * 2) {
            if left == 0 {
                break;
            }
            if weights[i] > 0.0 {
                counts[i] += 1;
                left -= 1;
            }
        }
        // Cannot happen for the sizes used here (at most one unit per weight is missing),
        // but keep the sum exact whatever the floats did.
        if left > 0 {
            let first = weights.iter().position(|&w| w > 0.0).unwrap_or(0);
            counts[first] += left;
        }
    } else {
        let mut extra = assigned - total;
        for &i in order.iter().rev() {
            if extra == 0 {
                break;
            }
            if counts[i] > 0 {
                counts[i] -= 1;
                extra -= 1;
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut r = global_stream(1, "test");
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            let x = below(&mut r, 7);
            seen[x as usize] += 1;
        }
        // 1000 expected per value, sd ~ 30: every value between 850 and 1150.
        assert!(seen.iter().all(|&c| (850..1150).contains(&c)), "{seen:?}");
    }

    #[test]
    fn largest_remainder_sums_exactly() {
        // 10 x (1/3, 1/3, 1/3) = 3.33 each: floors 3+3+3 = 9, one unit to the first (tie).
        assert_eq!(largest_remainder(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
        // 7 x (0.5, 0.3, 0.2) = 3.5, 2.1, 1.4: floors 3+2+1 = 6, the unit goes to 0.5.
        assert_eq!(largest_remainder(7, &[0.5, 0.3, 0.2]), vec![4, 2, 1]);
        // A zero weight never gets a unit.
        assert_eq!(largest_remainder(3, &[0.0, 1.0, 1.0]), vec![0, 2, 1]);
        assert_eq!(largest_remainder(0, &[1.0, 2.0]), vec![0, 0]);
    }

    #[test]
    fn choose_sorted_is_distinct_and_sorted() {
        let mut r = global_stream(2, "test");
        let c = choose_sorted(&mut r, 100, 30);
        assert_eq!(c.len(), 30);
        assert!(c.windows(2).all(|w| w[0] < w[1]));
        assert!(c.iter().all(|&x| x < 100));
    }
}
