//! `[network.tcp]`: the TCP model of every connection (congestion window, TCP/IP headers,
//! receiver and yamux stream windows), mapped to [`sim_core::TcpConfig`]. The equations are in
//! [`sim_core::tcp`] and docs/architecture.md.

use serde::{Deserialize, Serialize};
use sim_core::TcpConfig;

use crate::error::{Result, TopologyError};

/// `[network.tcp]`. Every field has a default; the defaults are Linux's and nim-libp2p's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TcpSpec {
    /// Whether connections are modelled as TCP. Default true (as real nodes run); false: a
    /// message leaves at the link rate as soon as the uplink is free and carries no TCP/IP
    /// header bytes (the model before TCP, byte-identical to its results).
    pub enabled: bool,
    /// Initial (and restart) congestion window, in segments. Default 10 (Linux
    /// `TCP_INIT_CWND`, RFC 6928).
    pub initial_window_segments: u32,
    /// Maximum segment size, in bytes. Default 1460 (MTU 1500 - 40 bytes of IPv4 and TCP
    /// headers).
    pub mss_bytes: u32,
    /// IP + TCP header bytes per segment without options. Default 40 (IPv4 20 + TCP 20).
    pub header_bytes: u32,
    /// TCP option bytes per segment, taken from the MSS. Default 12 (timestamps, Linux
    /// `net.ipv4.tcp_timestamps = 1`): 1448 payload bytes and 52 header bytes per segment.
    pub option_bytes: u32,
    /// Initial slow-start threshold, in segments; 0: unlimited (Linux's default). Default 0.
    pub initial_ssthresh_segments: u32,
    /// Whether a connection idle for longer than its retransmission timeout (RTT +
    /// `transport.min_rto_ms`) restarts slow start. Default true (Linux
    /// `net.ipv4.tcp_slow_start_after_idle = 1`).
    pub slow_start_after_idle: bool,
    /// Cap on the bytes in flight from the receiver's window, in bytes; 0: none. Default 0.
    pub receive_window_bytes: u32,
    /// yamux's per-stream window, in bytes: at most this much is sent per round trip on a
    /// stream; 0: no stream window. Default 256,000 (nim-libp2p's `YamuxDefaultWindowSize`).
    pub yamux_window_bytes: u32,
}

impl Default for TcpSpec {
    fn default() -> Self {
        let c = TcpConfig::default();
        TcpSpec {
            enabled: true,
            initial_window_segments: c.initial_window_segments,
            mss_bytes: c.mss_bytes,
            header_bytes: c.header_bytes,
            option_bytes: c.option_bytes,
            initial_ssthresh_segments: c.initial_ssthresh_segments,
            slow_start_after_idle: c.slow_start_after_idle,
            receive_window_bytes: c.receive_window_bytes,
            yamux_window_bytes: 256_000,
        }
    }
}

impl TcpSpec {
    /// The engine's settings: `None` when disabled.
    pub fn config(&self) -> Option<TcpConfig> {
        self.enabled.then_some(self.settings())
    }

    /// The settings, whether enabled or not.
    fn settings(&self) -> TcpConfig {
        TcpConfig {
            initial_window_segments: self.initial_window_segments,
            mss_bytes: self.mss_bytes,
            header_bytes: self.header_bytes,
            option_bytes: self.option_bytes,
            initial_ssthresh_segments: self.initial_ssthresh_segments,
            slow_start_after_idle: self.slow_start_after_idle,
            receive_window_bytes: self.receive_window_bytes,
            stream_window_bytes: self.yamux_window_bytes,
        }
    }

    /// Checks the fields (also when disabled, so that a scenario that turns TCP on later does
    /// not discover a bad value then).
    pub fn validate(&self) -> Result<()> {
        let c = self.settings();
        c.check().map_err(|(field, reason)| {
            let value = match field {
                "initial_window_segments" => self.initial_window_segments,
                "mss_bytes" => self.mss_bytes,
                "header_bytes" => self.header_bytes,
                _ => self.option_bytes,
            };
            TopologyError::invalid(field, value, reason)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_map_to_linux_and_nim_libp2p() {
        let s = TcpSpec::default();
        assert!(s.enabled);
        assert!(
            TcpSpec {
                enabled: false,
                ..s.clone()
            }
            .config()
            .is_none()
        );
        let c = s.config().unwrap();
        assert_eq!(c.initial_window_segments, 10);
        assert_eq!(c.mss_bytes - c.option_bytes, 1448);
        assert_eq!(c.header_bytes + c.option_bytes, 52);
        assert_eq!(c.stream_window_bytes, 256_000);
    }

    #[test]
    fn bad_values_name_their_field() {
        let e = TcpSpec {
            mss_bytes: 10,
            ..TcpSpec::default()
        }
        .validate()
        .unwrap_err()
        .prefixed("tcp");
        let s = e.to_string();
        assert!(s.contains("tcp.mss_bytes") && s.contains("10"), "{s}");
    }
}
