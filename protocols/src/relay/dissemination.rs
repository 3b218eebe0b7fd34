//! Per-message dissemination: for each counted message, the time from its publish call until
//! 5 %, 10 %, ..., 95 %, 99 % and 100 % of its intended receivers have accepted it (the
//! quantity the GossipSub v1.2 / IDONTWANT evaluations report per message and then average).
//!
//! **Intended receivers** are fixed when the message is published, from the run's known churn
//! schedule: the nodes subscribed to its topic (initial subscriptions), other than the
//! publisher, that are online at the publish time and stay online to the end of the run
//! ([`super::metrics::Eligibility::should_receive`]). So a node that never churns (a *stable*
//! node) is always intended; a *churned* node is intended only for the messages published while
//! it is online and after its last departure. This is the same set as the denominator of
//! `delivery_rate`, so `100 %` is reached exactly when a message is fully delivered.
//!
//! **The order statistic.** With `E` intended receivers, level `L` (in thousandths) is
//! reached at the `k`-th first acceptance by an intended receiver, `k = max(1, ceil(L * E /
//! 1000))` ([`rank`]): the level's time is the `k`-th smallest acceptance time. Acceptances
//! arrive in time order, so the sink keeps per message only the acceptance counter (the
//! existing `delivered`) and the rank of the next level ([`Progress`]); the hot path is one
//! compare per first reception, and the times are written, when a level is reached, into one
//! flat `Vec<u64>` per run ([`Dissemination`]: [`LEVELS`] entries per message, nanoseconds
//! since publish, [`NOT_REACHED`] until reached).

use sim_core::SimTime;

/// The levels, in thousandths of the intended receivers: 5 %, 10 %, ..., 95 %, 99 %, 100 %.
pub const LEVELS_PERMILLE: [u16; LEVELS] = [
    50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 550, 600, 650, 700, 750, 800, 850, 900, 950,
    990, 1000,
];

/// Number of levels.
pub const LEVELS: usize = 21;

/// A level's time while it is not reached (and forever, for a level never reached).
pub const NOT_REACHED: u64 = u64::MAX;

/// Index in [`LEVELS_PERMILLE`] of 50 %.
pub const P50: usize = 9;
/// Index of 90 %.
pub const P90: usize = 17;
/// Index of 95 %.
pub const P95: usize = 18;
/// Index of 99 %.
pub const P99: usize = 19;
/// Index of 100 %.
pub const MAX: usize = 20;

/// The acceptance count at which `level_permille` of `eligible` receivers is reached:
/// `max(1, ceil(level * eligible / 1000))` (for `eligible >= 1`).
#[inline]
pub fn rank(level_permille: u16, eligible: u32) -> u32 {
    ((level_permille as u64 * eligible as u64).div_ceil(1000) as u32).max(1)
}

/// A message's progress through the levels (kept in its registry record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Intended receivers, fixed at publish (0 for a message that does not count).
    pub eligible: u32,
    /// Acceptance count at which the next level is reached (`u32::MAX` when all are, or when
    /// nothing is intended).
    pub next_rank: u32,
    /// Index of the next level in [`LEVELS_PERMILLE`].
    pub next_level: u8,
}

impl Progress {
    /// Progress of a message with `eligible` intended receivers, no level reached yet.
    pub fn new(eligible: u32) -> Progress {
        Progress {
            eligible,
            next_rank: if eligible == 0 {
                u32::MAX
            } else {
                rank(LEVELS_PERMILLE[0], eligible)
            },
            next_level: 0,
        }
    }
}

/// The level times of every registered message: [`LEVELS`] entries per message, in
/// nanoseconds since publish, [`NOT_REACHED`] until reached. Bound: grows by `LEVELS * 8`
/// bytes per published message (the registry itself grows per message too).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dissemination {
    times_ns: Vec<u64>,
}

impl Dissemination {
    /// Adds a message (all levels not reached); messages are added in registry order.
    pub fn push(&mut self) {
        self.times_ns.extend([NOT_REACHED; LEVELS]);
    }

    /// The `delivered`-th acceptance of message `seq` reached its next level at `since`
    /// after publish (called when `delivered == p.next_rank`): records that level and every
    /// further level with the same rank, and advances `p`.
    #[cold]
    pub fn reached(&mut self, seq: u32, p: &mut Progress, delivered: u32, since_ns: u64) {
        let base = seq as usize * LEVELS;
        let mut l = p.next_level as usize;
        while l < LEVELS && rank(LEVELS_PERMILLE[l], p.eligible) <= delivered {
            self.times_ns[base + l] = since_ns;
            l += 1;
        }
        p.next_level = l as u8;
        p.next_rank = if l < LEVELS {
            rank(LEVELS_PERMILLE[l], p.eligible)
        } else {
            u32::MAX
        };
    }

    /// The level times of message `seq` (nanoseconds since publish or [`NOT_REACHED`]).
    pub fn of(&self, seq: u32) -> [u64; LEVELS] {
        let base = seq as usize * LEVELS;
        self.times_ns[base..base + LEVELS]
            .try_into()
            .expect("a registered message")
    }
}

/// Nanoseconds from `publish` to `now`.
#[inline]
pub fn since(now: SimTime, publish: SimTime) -> u64 {
    now.saturating_since(publish).as_nanos()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds acceptances at `times_ms` (in order) for a message with `eligible` receivers.
    fn run(eligible: u32, times_ms: &[u64]) -> [u64; LEVELS] {
        let mut d = Dissemination::default();
        d.push();
        let mut p = Progress::new(eligible);
        for (i, &t) in times_ms.iter().enumerate() {
            let delivered = i as u32 + 1;
            if delivered == p.next_rank {
                d.reached(0, &mut p, delivered, t * 1_000_000);
            }
        }
        d.of(0)
    }

    #[test]
    fn levels_are_the_documented_ones() {
        assert_eq!(LEVELS_PERMILLE[P50], 500);
        assert_eq!(LEVELS_PERMILLE[P90], 900);
        assert_eq!(LEVELS_PERMILLE[P95], 950);
        assert_eq!(LEVELS_PERMILLE[P99], 990);
        assert_eq!(LEVELS_PERMILLE[MAX], 1000);
        assert!(LEVELS_PERMILLE.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn ranks_by_hand() {
        // 10 receivers: 5 % -> ceil(0.5) = 1; 50 % -> 5; 90 % -> 9; 95 % -> ceil(9.5) = 10;
        // 99 % -> ceil(9.9) = 10; 100 % -> 10.
        assert_eq!(rank(50, 10), 1);
        assert_eq!(rank(500, 10), 5);
        assert_eq!(rank(900, 10), 9);
        assert_eq!(rank(950, 10), 10);
        assert_eq!(rank(990, 10), 10);
        assert_eq!(rank(1000, 10), 10);
        // 1 receiver: every level at the first acceptance; 1000 receivers: 99 % at 990.
        assert_eq!(rank(50, 1), 1);
        assert_eq!(rank(990, 1000), 990);
        assert_eq!(rank(990, 1001), 991); // ceil(990.99)
    }

    #[test]
    fn ten_receivers_at_known_times() {
        // Acceptances at 10, 20, ..., 100 ms. p50 = 5th = 50 ms; p90 = 9th = 90 ms;
        // p95, p99, max = 10th = 100 ms; 5 % = 1st = 10 ms; 15 % = ceil(1.5) = 2nd = 20 ms.
        let t = run(10, &[10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        let ms = |i: usize| t[i] / 1_000_000;
        assert_eq!(ms(0), 10);
        assert_eq!(ms(2), 20);
        assert_eq!(ms(P50), 50);
        assert_eq!(ms(P90), 90);
        assert_eq!(ms(P95), 100);
        assert_eq!(ms(P99), 100);
        assert_eq!(ms(MAX), 100);
    }

    #[test]
    fn levels_not_reached_stay_not_reached() {
        // 8 of 10 receivers: 80 % (rank 8) at 80 ms is the last level reached; 85 % (rank
        // ceil(8.5) = 9) and above never are.
        let t = run(10, &[10, 20, 30, 40, 50, 60, 70, 80]);
        assert_eq!(t[15], 80_000_000); // 80 %
        assert_eq!(t[16], NOT_REACHED); // 85 %
        assert_eq!(t[P90], NOT_REACHED);
        assert_eq!(t[MAX], NOT_REACHED);
        // Nothing intended: nothing is ever reached.
        assert_eq!(Progress::new(0).next_rank, u32::MAX);
    }

    #[test]
    fn one_acceptance_reaches_several_levels() {
        // 3 receivers: ranks 1 (5-30 %), 2 (35-65 %), 3 (70-100 %).
        let t = run(3, &[7, 8, 9]);
        assert_eq!(t[5], 7_000_000); // 30 %: ceil(0.9) = 1
        assert_eq!(t[6], 8_000_000); // 35 %: ceil(1.05) = 2
        assert_eq!(t[12], 8_000_000); // 65 %: ceil(1.95) = 2
        assert_eq!(t[13], 9_000_000); // 70 %: ceil(2.1) = 3
        assert_eq!(t[MAX], 9_000_000);
    }
}
