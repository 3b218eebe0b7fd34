//! Virtual time: integer nanoseconds, never floating point.
//!
//! [`SimTime`] is an instant since the start of a run; [`SimDuration`] is a span between two
//! instants. Both wrap a `u64` count of nanoseconds, which covers about 584 years of simulated
//! time. Arithmetic saturates at `u64::MAX` instead of wrapping, so that "never" can be written
//! as [`SimTime::MAX`] and adding to it stays "never".
//!
//! Floating-point values appear only at the edges (a scenario's `latency_ms = 12.5`, a
//! statistics output in milliseconds) and are converted once, through the checked constructors
//! here, which refuse NaN, infinities and negative values.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

use serde::{Deserialize, Serialize};

/// An instant of virtual time: nanoseconds since the start of the run.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SimTime(u64);

/// A span of virtual time in nanoseconds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SimDuration(u64);

/// A floating-point value that cannot be turned into a [`SimDuration`].
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("{what} must be a finite, non-negative number of {unit}, got {value}")]
pub struct BadDuration {
    /// What the value was meant to be (for the message).
    pub what: &'static str,
    /// The unit the value was given in.
    pub unit: &'static str,
    /// The offending value.
    pub value: f64,
}

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// "Never": later than any reachable instant.
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// An instant `ns` nanoseconds after the start.
    pub const fn from_nanos(ns: u64) -> Self {
        SimTime(ns)
    }
    /// An instant `ms` milliseconds after the start.
    pub const fn from_millis(ms: u64) -> Self {
        SimTime(ms.saturating_mul(1_000_000))
    }
    /// An instant `s` seconds after the start.
    pub const fn from_secs(s: u64) -> Self {
        SimTime(s.saturating_mul(1_000_000_000))
    }
    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Whole milliseconds since the start (rounded down).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }
    /// Seconds since the start, as a float, for reports only.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// The span from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    /// No time at all.
    pub const ZERO: SimDuration = SimDuration(0);
    /// The longest representable span.
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    /// A span of `ns` nanoseconds.
    pub const fn from_nanos(ns: u64) -> Self {
        SimDuration(ns)
    }
    /// A span of `us` microseconds.
    pub const fn from_micros(us: u64) -> Self {
        SimDuration(us.saturating_mul(1_000))
    }
    /// A span of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms.saturating_mul(1_000_000))
    }
    /// A span of `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s.saturating_mul(1_000_000_000))
    }
    /// A span of `ms` milliseconds given as a float (from a scenario file), rounded to the
    /// nearest nanosecond. Refuses NaN, infinities and negative values.
    pub fn try_from_millis_f64(what: &'static str, ms: f64) -> Result<Self, BadDuration> {
        Self::try_from_f64(what, "milliseconds", ms, 1e6)
    }
    /// A span of `s` seconds given as a float, rounded to the nearest nanosecond.
    pub fn try_from_secs_f64(what: &'static str, s: f64) -> Result<Self, BadDuration> {
        Self::try_from_f64(what, "seconds", s, 1e9)
    }
    fn try_from_f64(
        what: &'static str,
        unit: &'static str,
        value: f64,
        scale: f64,
    ) -> Result<Self, BadDuration> {
        let ns = value * scale;
        if !value.is_finite() || value < 0.0 || ns >= u64::MAX as f64 {
            return Err(BadDuration { what, unit, value });
        }
        Ok(SimDuration(ns.round() as u64))
    }
    /// Nanoseconds in the span.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Whole milliseconds in the span (rounded down).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }
    /// Milliseconds as a float, for reports only.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    /// Seconds as a float, for reports only.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// `self * k`, saturating.
    pub const fn saturating_mul(self, k: u64) -> SimDuration {
        SimDuration(self.0.saturating_mul(k))
    }
    /// `self + other`, saturating.
    pub const fn saturating_add(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(other.0))
    }
    /// `self - other`, or zero.
    pub const fn saturating_sub(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_sub(other.0))
    }
    /// The time to push `bytes` through a link of `bits_per_sec`, rounded up to a whole
    /// nanosecond so that a non-empty message always takes time. `bits_per_sec` must be
    /// positive (checked where capacities are configured).
    pub const fn transmit(bytes: u64, bits_per_sec: u64) -> SimDuration {
        // Fast path: below 2^30 bytes the numerator (at most 2^30 x 8e9 < 2^63) fits in u64,
        // and a u64 division is several times cheaper than a u128 one. Same result.
        if bytes < (1 << 30) {
            return SimDuration((bytes * 8 * 1_000_000_000).div_ceil(bits_per_sec));
        }
        let num = (bytes as u128) * 8 * 1_000_000_000;
        let bps = bits_per_sec as u128;
        let ns = num.div_ceil(bps);
        SimDuration(if ns > u64::MAX as u128 {
            u64::MAX
        } else {
            ns as u64
        })
    }
}

/// A link rate in bits per second, with its serialisation time per byte precomputed when that
/// is a whole number of nanoseconds (8e9 divisible by the rate: 1, 8, 10, 25, 100 Mbit/s,
/// 1 Gbit/s, ...). [`Rate::transmit`] is then a multiplication instead of a division, with
/// exactly [`SimDuration::transmit`]'s result (`ceil(bytes x 8e9 / bps)` is `bytes x
/// 8e9 / bps` when the rate divides 8e9). Sends and arrivals compute it on every message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    bps: u64,
    /// 8e9 / bps when exact, else 0.
    ns_per_byte: u64,
}

impl Rate {
    /// A rate of `bits_per_sec` (positive: checked where capacities are configured).
    pub const fn new(bits_per_sec: u64) -> Rate {
        let ns_per_byte = if bits_per_sec > 0 && 8_000_000_000 % bits_per_sec == 0 {
            8_000_000_000 / bits_per_sec
        } else {
            0
        };
        Rate {
            bps: bits_per_sec,
            ns_per_byte,
        }
    }
    /// Bits per second.
    pub const fn bps(&self) -> u64 {
        self.bps
    }
    /// [`SimDuration::transmit`] of `bytes` at this rate.
    #[inline]
    pub const fn transmit(&self, bytes: u64) -> SimDuration {
        // Below 2^30 bytes, bytes x 8e9 fits in u64 (see `SimDuration::transmit`).
        if self.ns_per_byte != 0 && bytes < (1 << 30) {
            SimDuration(bytes * self.ns_per_byte)
        } else {
            SimDuration::transmit(bytes, self.bps)
        }
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}
impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}
impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, d: SimDuration) -> SimDuration {
        self.saturating_add(d)
    }
}
impl AddAssign for SimDuration {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}
impl Sub for SimTime {
    type Output = SimDuration;
    /// The span between two instants; panics if `other` is later, which only a bug can cause.
    fn sub(self, other: SimTime) -> SimDuration {
        SimDuration(
            self.0
                .checked_sub(other.0)
                .expect("SimTime subtraction went negative"),
        )
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}
impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 1_000_000_000 {
            write!(f, "{}s", self.as_secs_f64())
        } else {
            write!(f, "{}ms", self.as_millis_f64())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The precomputed rate gives exactly the division's result, for rates that divide
        /// 8e9 (the multiplication path) and rates that do not.
        #[test]
        fn rate_transmit_matches_the_division(
            bytes in 0u64..(1 << 31),
            bps in proptest::prop_oneof![
                1u64..20_000_000_000,
                proptest::sample::select(vec![1u64, 8, 1_000_000, 10_000_000, 25_000_000,
                    100_000_000, 1_000_000_000, 8_000_000_000, 3, 7_000_000]),
            ],
        ) {
            proptest::prop_assert_eq!(Rate::new(bps).transmit(bytes), SimDuration::transmit(bytes, bps));
        }
    }

    #[test]
    fn transmit_rounds_up() {
        // 1 MB at 8 Mbit/s = 8,000,000 bits / 8,000,000 bit/s = exactly 1 s.
        assert_eq!(
            SimDuration::transmit(1_000_000, 8_000_000),
            SimDuration::from_secs(1)
        );
        // 2^30 bytes (the slow path) at 8 Gbit/s = 2^33 bits / 8e9 = 1.073741824 s.
        assert_eq!(
            SimDuration::transmit(1 << 30, 8_000_000_000).as_nanos(),
            1_073_741_824
        );
        // 1 byte at 3 bit/s = 8/3 s = 2.666... s, rounded up to the next nanosecond.
        assert_eq!(SimDuration::transmit(1, 3).as_nanos(), 2_666_666_667);
    }

    #[test]
    fn float_conversion_refuses_bad_values() {
        assert!(SimDuration::try_from_millis_f64("x", f64::NAN).is_err());
        assert!(SimDuration::try_from_millis_f64("x", -1.0).is_err());
        assert!(SimDuration::try_from_millis_f64("x", f64::INFINITY).is_err());
        assert_eq!(
            SimDuration::try_from_millis_f64("x", 12.5).unwrap(),
            SimDuration::from_micros(12_500)
        );
    }

    #[test]
    fn saturating_add_to_never_stays_never() {
        assert_eq!(SimTime::MAX + SimDuration::from_secs(1), SimTime::MAX);
    }
}
