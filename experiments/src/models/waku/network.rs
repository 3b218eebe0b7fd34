//! `[network]` and `[transport]`: the nodes, their links and the network model, mapped to the
//! harness's [`NetworkInput`].

use serde::{Deserialize, Serialize};
use sim_core::{Jitter, NetworkConfig, TcpConfig};

use protocols::harness::NetworkInput;
use topologies::{Network, NetworkSpec};

use super::{duration, seconds, topology_error};
use crate::model::{FieldError, ModelError};

/// `[transport]`: the engine's network-model settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransportSpec {
    /// Round trips a dial costs before both sides see the connection. Default 3 (TCP, noise,
    /// yamux/identify).
    pub dial_round_trips: u32,
    /// Seconds a dial to an offline or unreachable peer waits before failing. Default 10
    /// (nwaku's dial timeout).
    pub dial_timeout_s: f64,
    /// Probability in [0, 1] that a datagram (discv5) is lost. Default 0.
    pub datagram_loss: f64,
    /// Longest a message may wait in a node's upload queue before it is dropped, in seconds.
    /// Default 30.
    pub max_upload_backlog_s: f64,
    /// Minimum retransmission timeout for stream messages on lossy paths, in milliseconds.
    /// Default 200 (Linux's minimum RTO).
    pub min_rto_ms: f64,
    /// Whether a partition closes the connections across it. Default true.
    pub partition_closes_connections: bool,
}

impl Default for TransportSpec {
    fn default() -> Self {
        TransportSpec {
            dial_round_trips: 3,
            dial_timeout_s: 10.0,
            datagram_loss: 0.0,
            max_upload_backlog_s: 30.0,
            min_rto_ms: 200.0,
            partition_closes_connections: true,
        }
    }
}

/// Checks `[network]` and `[transport]`.
pub(super) fn validate(network: &NetworkSpec, t: &TransportSpec, errors: &mut Vec<FieldError>) {
    if let Err(e) = network.validate() {
        errors.push(topology_error(&e));
    }
    if t.dial_round_trips == 0 || t.dial_round_trips > 20 {
        errors.push(FieldError::new(
            "transport.dial_round_trips",
            format!("must be in 1..=20, got {}", t.dial_round_trips),
        ));
    }
    seconds("transport.dial_timeout_s", t.dial_timeout_s, true, errors);
    seconds(
        "transport.max_upload_backlog_s",
        t.max_upload_backlog_s,
        true,
        errors,
    );
    seconds("transport.min_rto_ms", t.min_rto_ms, true, errors);
    if !(t.datagram_loss.is_finite() && (0.0..=1.0).contains(&t.datagram_loss)) {
        errors.push(FieldError::new(
            "transport.datagram_loss",
            format!("must be a probability in [0, 1], got {}", t.datagram_loss),
        ));
    }
}

/// The engine's network-model settings: `[transport]`, and the built network's jitter and TCP
/// model (`[network.tcp]`).
pub(super) fn config(
    t: &TransportSpec,
    jitter: Jitter,
    tcp: Option<TcpConfig>,
) -> Result<NetworkConfig, ModelError> {
    Ok(NetworkConfig {
        jitter,
        datagram_loss: t.datagram_loss,
        dial_round_trips: t.dial_round_trips,
        dial_timeout: duration("transport.dial_timeout_s", t.dial_timeout_s)?,
        max_upload_backlog: duration("transport.max_upload_backlog_s", t.max_upload_backlog_s)?,
        min_rto: duration("transport.min_rto_ms", t.min_rto_ms / 1000.0)?,
        partition_closes_connections: t.partition_closes_connections,
        tcp,
    })
}

/// The harness's network section: the built network, the connections wired at time 0, the
/// network-model settings and each node's group index.
pub(super) fn input(
    net: Network,
    edges: Vec<(u32, u32)>,
    config: NetworkConfig,
    groups: Vec<u32>,
) -> NetworkInput {
    let cpu_slowdown = if net
        .attrs
        .iter()
        .all(|a| net.classes.get(a.bandwidth).cpu_slowdown == 1.0)
    {
        Vec::new()
    } else {
        net.attrs
            .iter()
            .map(|a| net.classes.get(a.bandwidth).cpu_slowdown)
            .collect()
    };
    NetworkInput {
        nodes: net.node_count() as usize,
        edges,
        capacities: net.capacities,
        latency: Box::new(net.latency),
        config,
        groups,
        ip_groups: Vec::new(),
        faults: net.faults,
        cpu_slowdown,
    }
}
