//! A TCP-like transport per connection: congestion window, slow start, congestion avoidance,
//! restart after idle, a receiver-window cap and a stream (multiplexer) window, and TCP/IP
//! header bytes per segment.
//!
//! # The model
//!
//! Each direction of a connection is a flow with a congestion window `cwnd` (segments), a
//! slow-start threshold `ssthresh` and the time its last segment left the sender. A write of
//! `S` bytes (message + framing) is cut into `n = ceil(S / P)` segments of at most
//! `P = mss - option_bytes` payload bytes (1448 with Linux's defaults: MSS 1460 with the
//! 12-byte timestamp option), each carrying `H = header_bytes + option_bytes` header bytes
//! (52). The wire size is `S + n H`; it occupies the sender's uplink (FIFO) and the receiver's
//! downlink as any message does (see [`crate::network`]).
//!
//! The segments leave in rounds. Round `k` sends `m_k = min(cwnd, cap, segments left)`
//! segments, where `cap = max(1, min(receive_window, stream_window) / P)` (each 0: no cap).
//! If segments remain, the next round starts when the first segment's acknowledgement is back:
//! `T_seg + RTT` after the round started (`T_seg` the serialisation of one full segment at the
//! sender's rate), or when the round's segments have left if that is later (the window covers
//! the path: no stall). So the last byte leaves at
//!
//! ```text
//! d1 = d0 + (S + n H) / rate + sum over rounds but the last of max(0, RTT + T_seg - m_k T_seg)
//! ```
//!
//! (the textbook slow-start latency of Kurose & Ross, "Computer Networking", 3.7), where `d0`
//! is when the write may start: when the uplink starts it and not before the connection's
//! previous write finished (writes on one stream are in order). The message's last bit
//! arrives `latency` after `d1`, but never before the uplink FIFO alone would have it there.
//!
//! After each round the window grows as in Linux (`net/ipv4/tcp_cong.c`, v6.x), but only when
//! the round used the window (`tcp_is_cwnd_limited`: in slow start `cwnd < 2 m_k`, in
//! congestion avoidance `m_k >= cwnd`), so small messages never grow it:
//! - slow start (`cwnd < ssthresh`): `cwnd = min(cwnd + m_k, ssthresh)`; the acknowledged
//!   segments beyond `ssthresh` count towards congestion avoidance (`tcp_slow_start`);
//! - congestion avoidance: Reno's additive increase, one segment per `cwnd` acknowledged
//!   (`tcp_cong_avoid_ai`).
//!
//! Restart after idle (Linux `net.ipv4.tcp_slow_start_after_idle = 1`, RFC 2861): a write
//! that starts more than one RTO after the flow's last segment left first applies
//! `tcp_cwnd_restart` (`net/ipv4/tcp_output.c`, v6.x): `ssthresh = max(ssthresh, 3/4 cwnd)`
//! (`tcp_current_ssthresh`), then `cwnd` is halved once per RTO elapsed beyond the first
//! (`while ((delta -= rto) > 0 && cwnd > restart) cwnd >>= 1`), and not below the restart
//! window `min(initial window, cwnd)`. The RTO is `RTT + min_rto` ([`NetworkConfig::min_rto`],
//! default 200 ms): Linux's `srtt + rttvar` with the variance term floored at `tcp_rto_min`
//! (`tcp_rtt_estimator`, `tcp_set_rto` in `net/ipv4/tcp_input.c`) and a steady RTT.
//!
//! The RTT is twice the one-way latency of the message (base + degradation, without jitter).
//! A new connection's flows start with the initial window, `ssthresh` = the configured
//! initial threshold (unlimited by default, as Linux), and their last send at the moment the
//! connection opened.
//!
//! # Not modelled
//!
//! Loss and its recovery (the engine's streams are reliable: a lossy path delays a message by
//! retransmission timeouts, see [`NetworkConfig::min_rto`], without touching the window; and
//! CUBIC's window curve, Linux's default, which differs from Reno only after a loss),
//! HyStart, pacing, delayed acknowledgements and the acknowledgements' bytes, the overlap of
//! a write with the unacknowledged segments of the previous one (a write that follows another
//! on the same flow starts with the window that one ended with, as if it had been
//! acknowledged), the receiver-window autotuning (the cap is fixed), and the sharing of the
//! uplink between flows during a stall (the uplink is reserved for the write's bytes at the
//! FIFO position, as without TCP; the stalls delay only the write itself).
//!
//! [`NetworkConfig::min_rto`]: crate::NetworkConfig::min_rto

use crate::time::{Rate, SimDuration, SimTime};

/// The TCP model's settings ([`crate::NetworkConfig::tcp`]). The defaults are Linux's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// Initial congestion window, in segments (default 10: Linux's `TCP_INIT_CWND`, RFC 6928).
    pub initial_window_segments: u32,
    /// Maximum segment size negotiated, in bytes (default 1460: an Ethernet MTU of 1500 minus
    /// 40 bytes of IPv4 and TCP headers). The payload per segment is `mss_bytes -
    /// option_bytes`.
    pub mss_bytes: u32,
    /// IP and TCP header bytes per segment without options (default 40: IPv4 20 + TCP 20).
    pub header_bytes: u32,
    /// TCP option bytes per segment (default 12: the timestamp option with its padding, on by
    /// default in Linux, `net.ipv4.tcp_timestamps = 1`).
    pub option_bytes: u32,
    /// Initial slow-start threshold, in segments (default 0: unlimited, as Linux's
    /// `TCP_INFINITE_SSTHRESH`).
    pub initial_ssthresh_segments: u32,
    /// Whether a flow idle for longer than its RTO restarts from the restart window (default
    /// true: Linux's `net.ipv4.tcp_slow_start_after_idle = 1`).
    pub slow_start_after_idle: bool,
    /// Receiver window cap, in bytes (default 0: no cap).
    pub receive_window_bytes: u32,
    /// Stream window of the multiplexer above TCP (yamux), in bytes: at most this much per
    /// round trip (default 0: no stream window).
    pub stream_window_bytes: u32,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            initial_window_segments: 10,
            mss_bytes: 1460,
            header_bytes: 40,
            option_bytes: 12,
            initial_ssthresh_segments: 0,
            slow_start_after_idle: true,
            receive_window_bytes: 0,
            stream_window_bytes: 0,
        }
    }
}

impl TcpConfig {
    /// Checks the settings: `Err((field, reason))` names the first bad one.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(1..=10_000).contains(&self.initial_window_segments) {
            return Err((
                "initial_window_segments",
                format!("must be in 1..=10000, got {}", self.initial_window_segments),
            ));
        }
        if self.option_bytes > 40 {
            return Err((
                "option_bytes",
                format!(
                    "TCP options take at most 40 bytes, got {}",
                    self.option_bytes
                ),
            ));
        }
        if self.header_bytes > 1000 {
            return Err((
                "header_bytes",
                format!("must be at most 1000, got {}", self.header_bytes),
            ));
        }
        if self.mss_bytes <= self.option_bytes || self.mss_bytes > 1 << 20 {
            return Err((
                "mss_bytes",
                format!(
                    "must exceed option_bytes ({}) and be at most 1 MiB, got {}",
                    self.option_bytes, self.mss_bytes
                ),
            ));
        }
        Ok(())
    }
}

/// The settings as the engine uses them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpParams {
    /// Payload bytes per segment.
    pub(crate) seg_payload: u32,
    /// Header bytes per segment.
    pub(crate) seg_header: u32,
    pub(crate) init_cwnd: u32,
    pub(crate) init_ssthresh: u32,
    /// Segments a round may carry at most (receive and stream windows).
    pub(crate) cap: u32,
    pub(crate) idle_restart: bool,
    /// `ceil(2^64 / seg_payload)` for [`TcpParams::segments`]' division by multiplication (0
    /// when `seg_payload` is 1, whose quotient needs no division).
    seg_recip: u64,
}

impl TcpParams {
    pub(crate) fn new(c: &TcpConfig) -> Self {
        let seg_payload = c.mss_bytes - c.option_bytes;
        let segs = |bytes: u32| match bytes {
            0 => u32::MAX,
            b => (b / seg_payload).max(1),
        };
        TcpParams {
            seg_payload,
            seg_header: c.header_bytes + c.option_bytes,
            init_cwnd: c.initial_window_segments,
            init_ssthresh: match c.initial_ssthresh_segments {
                0 => u32::MAX,
                s => s,
            },
            cap: segs(c.receive_window_bytes).min(segs(c.stream_window_bytes)),
            idle_restart: c.slow_start_after_idle,
            seg_recip: match seg_payload {
                1 => 0,
                d => u64::MAX / d as u64 + 1,
            },
        }
    }

    /// Segments of a write of `bytes`: `ceil(bytes / seg_payload)`, at least 1.
    ///
    /// Every send and delivery on a connection asks this, so below 2^32 bytes the quotient is
    /// a multiplication by the precomputed reciprocal instead of a division: with
    /// `c = ceil(2^64 / d)`, `floor(n / d) = (c n) >> 64` exactly for every `n < 2^32` and
    /// `2 <= d < 2^32` (Lemire, Kaser and Kurz, "Faster remainder by direct computation",
    /// 2019, theorem 1 with N = 32, F = 64). The test `segments_match_division` holds it to
    /// the division.
    #[inline]
    pub(crate) fn segments(&self, bytes: u64) -> u64 {
        let d = self.seg_payload as u64;
        if bytes >> 32 != 0 || self.seg_recip == 0 {
            return bytes.div_ceil(d).max(1);
        }
        let q = ((self.seg_recip as u128 * bytes as u128) >> 64) as u64;
        (q + (q * d != bytes) as u64).max(1)
    }

    /// Header bytes of a write of `bytes`.
    #[inline]
    pub(crate) fn header_bytes(&self, bytes: u64) -> u64 {
        self.segments(bytes) * self.seg_header as u64
    }

    /// A new flow, opened at `now`.
    pub(crate) fn flow(&self, now: SimTime) -> TcpFlow {
        TcpFlow {
            cwnd: window(self.init_cwnd),
            acked: 0,
            ssthresh: self.init_ssthresh,
            last_send: now,
        }
    }
}

/// One direction of a connection: 16 bytes, touched only by a send on it. The window and its
/// congestion-avoidance count are `u16` (at most 65,535 segments, 95 MB in flight: the window
/// saturates there, far above what a message of a few MB or the yamux window lets it reach),
/// so that the flows of relay-10k's 100,000 connections take 3.2 MB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TcpFlow {
    /// Congestion window, in segments.
    pub(crate) cwnd: u16,
    /// Segments acknowledged towards the next congestion-avoidance increase (below `cwnd`).
    pub(crate) acked: u16,
    /// Slow-start threshold, in segments (`u32::MAX`: unlimited).
    pub(crate) ssthresh: u32,
    /// When the flow's last segment left the sender.
    pub(crate) last_send: SimTime,
}

const _: () = assert!(std::mem::size_of::<TcpFlow>() == 16);

/// A window in segments as stored (saturating at `u16::MAX`).
#[inline]
fn window(segments: u32) -> u16 {
    segments.min(u16::MAX as u32) as u16
}

/// Where a write goes on the wire: when its first and last bytes leave the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Schedule {
    pub(crate) first: SimTime,
    pub(crate) last: SimTime,
}

impl TcpFlow {
    /// Sends a write of `bytes` (message + framing, without TCP headers) whose bytes the
    /// uplink FIFO carries from `u0` to `u1`, on a path of round trip `rtt` and retransmission
    /// timeout `rto`, at the sender's `rate`; updates the flow. See the module doc.
    #[inline]
    pub(crate) fn send(
        &mut self,
        p: &TcpParams,
        bytes: u64,
        (u0, u1): (SimTime, SimTime),
        rtt: SimDuration,
        rto: SimDuration,
        rate: Rate,
    ) -> Schedule {
        let d0 = u0.max(self.last_send);
        if p.idle_restart {
            let idle = d0.saturating_since(self.last_send);
            if idle > rto {
                self.restart(p.init_cwnd, idle, rto);
            }
        }
        let n = p.segments(bytes);
        let first_round = (self.cwnd as u32).min(p.cap) as u64;
        let stall = if n <= first_round {
            self.grow(n as u32);
            SimDuration::ZERO
        } else {
            self.rounds(p, n, rtt, rate)
        };
        let d1 = u1.max(d0 + (u1 - u0)) + stall;
        self.last_send = d1;
        Schedule {
            first: d0,
            last: d1,
        }
    }

    /// `tcp_cwnd_restart` after `idle` (more than one `rto`).
    #[cold]
    fn restart(&mut self, init_cwnd: u32, idle: SimDuration, rto: SimDuration) {
        let cwnd = self.cwnd as u32;
        self.ssthresh = self.ssthresh.max((cwnd >> 1) + (cwnd >> 2));
        let restart = init_cwnd.min(cwnd);
        // Halvings: the k >= 1 with idle - k rto > 0.
        let halvings = (idle.as_nanos() - 1) / rto.as_nanos().max(1);
        self.cwnd = window((cwnd.checked_shr(halvings.min(32) as u32).unwrap_or(0)).max(restart));
    }

    /// Sends `n` segments in rounds; returns the stalls' total.
    #[cold]
    fn rounds(&mut self, p: &TcpParams, n: u64, rtt: SimDuration, rate: Rate) -> SimDuration {
        let seg_wire = (p.seg_payload + p.seg_header) as u64;
        let ack = rtt + rate.transmit(seg_wire);
        let mut left = n;
        let mut stall = SimDuration::ZERO;
        loop {
            let m = ((self.cwnd as u32).min(p.cap) as u64).min(left);
            left -= m;
            self.grow(m as u32);
            if left == 0 {
                return stall;
            }
            stall += ack.saturating_sub(rate.transmit(m * seg_wire));
        }
    }

    /// The window after `m` segments sent in one round are acknowledged.
    #[inline]
    fn grow(&mut self, m: u32) {
        let cwnd = self.cwnd as u32;
        if cwnd < self.ssthresh {
            // Slow start, when cwnd-limited (`tcp_is_cwnd_limited`: cwnd < 2 x packets out).
            if cwnd >= m.saturating_mul(2) {
                return;
            }
            let grown = cwnd.saturating_add(m).min(self.ssthresh);
            self.cwnd = window(grown);
            let rest = m - (grown - cwnd).min(m);
            if rest == 0 {
                return;
            }
            self.avoid(rest);
        } else if m >= cwnd {
            self.avoid(m);
        }
    }

    /// Congestion avoidance: `tcp_cong_avoid_ai(cwnd, acked)`.
    #[inline]
    fn avoid(&mut self, acked: u32) {
        let mut cwnd = self.cwnd as u32;
        let mut count = self.acked as u32;
        let w = cwnd.max(1);
        if count >= w {
            count = 0;
            cwnd = cwnd.saturating_add(1);
        }
        count = count.saturating_add(acked);
        if count >= w {
            let delta = count / w;
            count -= delta * w;
            cwnd = cwnd.saturating_add(delta);
        }
        self.cwnd = window(cwnd);
        // Below `w` <= u16::MAX.
        self.acked = window(count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn params(c: TcpConfig) -> TcpParams {
        c.check().unwrap();
        TcpParams::new(&c)
    }

    /// Sends `bytes` at `at` on an idle 100 Mbit/s uplink (80 ns per byte), RTT 100 ms,
    /// RTO 300 ms; returns the transfer time (last byte leaves - `at`) in ns.
    fn xfer(f: &mut TcpFlow, p: &TcpParams, at: u64, bytes: u64) -> u64 {
        let rate = Rate::new(100_000_000);
        let wire = bytes + p.header_bytes(bytes);
        let u0 = SimTime::from_nanos(at);
        let u1 = u0 + rate.transmit(wire);
        let s = f.send(
            p,
            bytes,
            (u0, u1),
            SimDuration::from_millis(100),
            SimDuration::from_millis(300),
            rate,
        );
        assert_eq!(s.first, u0);
        s.last.as_nanos() - at
    }

    #[test]
    fn fresh_connection_500_kb() {
        // 500,000 B in segments of 1448 payload bytes: ceil(500,000 / 1448) = 346 segments
        // (345 x 1448 = 499,560), 346 x 52 = 17,992 header bytes: 517,992 B on the wire, 80 ns
        // each = 41,439,360 ns. A full segment (1500 B) takes T_seg = 120 us.
        // Slow start from 10: rounds of 10, 20, 40, 80, 160 (310 sent), then 36 of 320.
        // Each of the first five rounds stalls RTT + T_seg - m T_seg:
        // 100.12 - 1.2 = 98.92, - 2.4 = 97.72, - 4.8 = 95.32, - 9.6 = 90.52, - 19.2 = 80.92 ms,
        // 463.4 ms in all. Total 463,400,000 + 41,439,360 = 504,839,360 ns: five round trips
        // more than the 41 ms the link alone would take.
        let p = params(TcpConfig::default());
        let mut f = p.flow(SimTime::ZERO);
        assert_eq!(xfer(&mut f, &p, 0, 500_000), 504_839_360);
        // The last round (36 of 320) was not cwnd-limited (320 >= 2 x 36): no growth.
        assert_eq!(f.cwnd, 320);
        assert_eq!(f.ssthresh, u32::MAX);
        assert_eq!(f.last_send, SimTime::from_nanos(504_839_360));
    }

    #[test]
    fn idle_restart_halves_per_rto() {
        let p = params(TcpConfig::default());
        let mut f = p.flow(SimTime::ZERO);
        xfer(&mut f, &p, 0, 500_000);
        let end = f.last_send.as_nanos();
        // Idle 250 ms < RTO 300 ms: no restart. cwnd 320 < 346 segments: rounds of 320, 26:
        // one stall of 100.12 - 320 x 0.12 = 61.72 ms; + 41,439,360 ns on the wire.
        let mut g = f;
        assert_eq!(xfer(&mut g, &p, end + 250 * MS, 500_000), 103_159_360);
        // Idle 1 s: halvings = the k >= 1 with 1000 - 300 k > 0 = 3 (ceil(1000/300) - 1):
        // 320 -> 40; ssthresh = max(inf, 240) stays unlimited. Rounds of 40, 80, 160, then
        // 66 of 320: stalls 95.32 + 90.52 + 80.92 = 266.76 ms; + 41.43936 ms.
        let mut g = f;
        assert_eq!(xfer(&mut g, &p, end + 1000 * MS, 500_000), 308_199_360);
        // Exactly two RTOs idle: 600 - 300 > 0 once, 600 - 600 = 0 stops: one halving.
        let mut g = f;
        g.restart(
            10,
            SimDuration::from_millis(600),
            SimDuration::from_millis(300),
        );
        assert_eq!((g.cwnd, g.ssthresh), (160, u32::MAX));
        // A long idle goes back to the initial window, not below; a finite ssthresh is raised
        // to 3/4 of the window before the restart: 320 / 2 + 320 / 4 = 240.
        let mut g = f;
        g.ssthresh = 100;
        g.restart(
            10,
            SimDuration::from_secs(60),
            SimDuration::from_millis(300),
        );
        assert_eq!((g.cwnd, g.ssthresh), (10, 240));
        // Off: no restart at all.
        let q = params(TcpConfig {
            slow_start_after_idle: false,
            ..TcpConfig::default()
        });
        let mut g = f;
        assert_eq!(xfer(&mut g, &q, end + 1000 * MS, 500_000), 103_159_360);
    }

    #[test]
    fn congestion_avoidance_grows_one_segment_per_round() {
        // ssthresh 20: slow start 10 -> 20 after round 1, then +1 per full round: rounds of
        // 10, 20, 21, 22 = 73 segments = 105,704 B of payload (73 x 1448), 109,500 B on the
        // wire = 8.76 ms. Stalls: 98.92 + 97.72 + (100.12 - 21 x 0.12 = 97.6) = 294.24 ms.
        let p = params(TcpConfig {
            initial_ssthresh_segments: 20,
            ..TcpConfig::default()
        });
        let mut f = p.flow(SimTime::ZERO);
        assert_eq!(xfer(&mut f, &p, 0, 105_704), 294_240_000 + 8_760_000);
        // The last round (22 = cwnd) was cwnd-limited: 23.
        assert_eq!(f.cwnd, 23);
    }

    #[test]
    fn receive_window_caps_each_round() {
        // rwnd 14,480 B = 10 segments: 100 segments (144,800 B) take 10 rounds, 9 stalls of
        // 98.92 ms = 890.28 ms, + 150,000 B on the wire = 12 ms.
        let p = params(TcpConfig {
            receive_window_bytes: 14_480,
            ..TcpConfig::default()
        });
        let mut f = p.flow(SimTime::ZERO);
        assert_eq!(xfer(&mut f, &p, 0, 144_800), 890_280_000 + 12_000_000);
    }

    #[test]
    fn stream_window_waits_a_round_trip_per_window() {
        // yamux's 256,000 B window = 176 segments (256,000 / 1448, rounded down). With a
        // large congestion window, 1,000,000 B (691 segments: 690 x 1448 = 999,120) go in
        // rounds of 176, 176, 176, 163: three window updates, each a stall of
        // 100.12 - 176 x 0.12 = 79 ms = 237 ms; 1,000,000 + 691 x 52 = 1,035,932 B on the
        // wire = 82,874,560 ns.
        let p = params(TcpConfig {
            stream_window_bytes: 256_000,
            ..TcpConfig::default()
        });
        let mut f = p.flow(SimTime::ZERO);
        f.cwnd = 10_000;
        assert_eq!(xfer(&mut f, &p, 0, 1_000_000), 237_000_000 + 82_874_560);
        // 500,000 B (346 segments) at full cwnd: rounds of 176 and 170, so two round trips
        // however large the congestion window: one stall of 100.12 - 176 x 0.12 = 79 ms, and
        // 517,992 B on the wire = 41,439,360 ns (as in `fresh_connection_500_kb`).
        let mut f = p.flow(SimTime::ZERO);
        f.cwnd = 10_000;
        assert_eq!(xfer(&mut f, &p, 0, 500_000), 79_000_000 + 41_439_360);
        // Without the stream window the same write goes in one round: no stall.
        let q = params(TcpConfig::default());
        let mut f = q.flow(SimTime::ZERO);
        f.cwnd = 10_000;
        assert_eq!(xfer(&mut f, &q, 0, 500_000), 41_439_360);
        // A message within the window (and the congestion window) has no stall.
        let mut f = p.flow(SimTime::ZERO);
        assert_eq!(xfer(&mut f, &p, 0, 10_000), (10_000 + 7 * 52) * 80);
    }

    #[test]
    fn small_messages_do_not_grow_the_window() {
        // One segment on a window of 10: 10 >= 2 x 1, not cwnd-limited.
        let p = params(TcpConfig::default());
        let mut f = p.flow(SimTime::ZERO);
        for i in 0..100 {
            xfer(&mut f, &p, i * MS, 1_000);
        }
        assert_eq!(f.cwnd, 10);
        // Six segments on 10: limited (10 < 12), grows to 16.
        xfer(&mut f, &p, 200 * MS, 6 * 1448);
        assert_eq!(f.cwnd, 16);
    }

    #[test]
    fn the_window_saturates_at_u16_max() {
        // A window of 60,000 segments, cwnd-limited by a write of 60,000 segments in slow
        // start: 60,000 + 60,000 = 120,000 is stored as 65,535; then in congestion avoidance
        // (ssthresh 65,535) a full round of 65,535 segments adds one, still 65,535.
        let p = params(TcpConfig::default());
        let mut f = p.flow(SimTime::ZERO);
        f.cwnd = 60_000;
        f.grow(60_000);
        assert_eq!(f.cwnd, u16::MAX);
        f.ssthresh = u16::MAX as u32;
        f.grow(u16::MAX as u32);
        assert_eq!((f.cwnd, f.acked), (u16::MAX, 0));
    }

    #[test]
    fn writes_on_one_flow_stay_in_order() {
        // A write that the uplink starts while the previous one is still stalled starts when
        // that one's last segment left, and keeps its own duration.
        let p = params(TcpConfig::default());
        let mut f = p.flow(SimTime::ZERO);
        let big = xfer(&mut f, &p, 0, 500_000);
        let rate = Rate::new(100_000_000);
        let u0 = SimTime::from_nanos(41_439_360);
        let u1 = u0 + rate.transmit(1_052);
        let s = f.send(
            &p,
            1_000,
            (u0, u1),
            SimDuration::from_millis(100),
            SimDuration::from_millis(300),
            rate,
        );
        assert_eq!(s.first, SimTime::from_nanos(big));
        assert_eq!(s.last, SimTime::from_nanos(big + 1_052 * 80));
    }

    #[test]
    fn segments_match_division() {
        use proptest::prelude::*;
        // Payload sizes: the default 1448, the extremes (1 and the largest MSS, 2^20, less 12) and every
        // size in between that proptest draws; writes of any size, the 2^32 boundary around
        // which the method changes included.
        let check = |payload: u32, bytes: u64| {
            let p = params(TcpConfig {
                mss_bytes: payload + 12,
                ..TcpConfig::default()
            });
            assert_eq!(p.seg_payload, payload);
            let want = bytes.div_ceil(payload as u64).max(1);
            assert_eq!(
                p.segments(bytes),
                want,
                "{bytes} B in segments of {payload}"
            );
        };
        for payload in [1, 2, 3, 1448, (1 << 20) - 12] {
            for bytes in [0, 1, 1447, 1448, 1449, 500_000, u32::MAX as u64 - 1]
                .into_iter()
                .chain([u32::MAX as u64, 1 << 32, (1 << 32) + 1, u64::MAX >> 1])
            {
                check(payload, bytes);
            }
        }
        proptest!(|(payload in 1u32..=(1 << 20) - 12, bytes in 0u64..=u32::MAX as u64)| {
            check(payload, bytes);
        });
    }

    #[test]
    fn bad_settings_name_their_field() {
        let bad = |c: TcpConfig| c.check().unwrap_err().0;
        let d = TcpConfig::default;
        assert_eq!(
            bad(TcpConfig {
                initial_window_segments: 0,
                ..d()
            }),
            "initial_window_segments"
        );
        assert_eq!(
            bad(TcpConfig {
                mss_bytes: 12,
                ..d()
            }),
            "mss_bytes"
        );
        assert_eq!(
            bad(TcpConfig {
                option_bytes: 41,
                ..d()
            }),
            "option_bytes"
        );
    }
}
