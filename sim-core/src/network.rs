//! The network model's configuration: per-node link capacities, latency models, jitter, loss,
//! connection set-up cost, and the faults the engine can execute.
//!
//! # How a message travels
//!
//! A message of `S` bytes (its own bytes plus framing) sent by A to B at time `t`:
//!
//! 1. waits in A's upload queue (FIFO): it starts leaving at `u0 = max(t, A.upload_free)` and its
//!    last bit leaves at `u1 = u0 + S / A.upload_bps`;
//! 2. travels for the one-way latency `L` (base latency of the pair + seeded jitter + any
//!    degradation, + retransmission delays for a stream on a lossy path);
//! 3. passes B's download queue (FIFO, by first-bit arrival): it starts at
//!    `d0 = max(u0 + L, B.download_free)`, occupies the downlink for `S / B.download_bps`, and is
//!    delivered at `max(d0 + S / B.download_bps, u1 + L)`: a message cannot be delivered before
//!    its last bit arrived, nor faster than the downlink can take it.
//!
//! This is cut-through at message granularity: with idle queues a message costs
//! `L + S / min(upload, download)`, not the sum of both serialisations. Under load both queues
//! build up, which is what latency-under-load studies measure. Stream messages on one
//! connection are delivered in the order they were sent (arrivals are clamped to be monotone per
//! connection); datagrams are not ordered.
//!
//! The engine computes step 3 when the message is sent (one event per message, its delivery),
//! moving the delivery of messages that a later send overtakes on B's downlink; the times are
//! exactly those of the FIFO above. Deliveries due at the same instant are made in send order.
//!
//! With [`NetworkConfig::tcp`] a stream message's bytes leave in congestion-window rounds
//! instead (step 1 then ends when its last segment leaves, `u1` or later) and carry TCP/IP
//! header bytes: see [`crate::tcp`].
//!
//! Every queue is bounded: a send that would wait more than [`NetworkConfig::max_upload_backlog`]
//! in the upload queue is dropped and counted as [`crate::DropReason::UploadQueueFull`].

use serde::{Deserialize, Serialize};

use crate::NodeId;
use crate::tcp::TcpConfig;
use crate::time::SimDuration;

/// Link capacities of one node, in bits per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCapacity {
    /// Upload capacity in bits/s; must be positive.
    pub upload_bps: u64,
    /// Download capacity in bits/s; must be positive.
    pub download_bps: u64,
}

impl LinkCapacity {
    /// Symmetric capacity of `mbps` megabits (10^6 bits) per second.
    pub const fn symmetric_mbps(mbps: u64) -> Self {
        LinkCapacity {
            upload_bps: mbps * 1_000_000,
            download_bps: mbps * 1_000_000,
        }
    }
}

/// The one-way base latency between two nodes. Implementations must be pure functions of
/// their inputs (jitter is added by the engine from its own seeded stream).
pub trait LatencyModel: Send + Sync {
    /// One-way latency from `from` to `to`, before jitter and degradation.
    fn latency(&self, from: NodeId, to: NodeId) -> SimDuration;
}

/// The same one-way latency between every pair ("100 ms between every pair").
#[derive(Clone, Copy, Debug)]
pub struct ConstantLatency(pub SimDuration);

impl LatencyModel for ConstantLatency {
    fn latency(&self, _from: NodeId, _to: NodeId) -> SimDuration {
        self.0
    }
}

/// A latency given by a function of the pair (for example a region matrix lookup).
pub struct FnLatency<F>(pub F);

impl<F> LatencyModel for FnLatency<F>
where
    F: Fn(NodeId, NodeId) -> SimDuration + Send + Sync,
{
    fn latency(&self, from: NodeId, to: NodeId) -> SimDuration {
        (self.0)(from, to)
    }
}

/// Random extra one-way delay added to every message, drawn from the engine's seeded
/// `"network"` stream. Always non-negative, so a message is never faster than the base latency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Jitter {
    /// No jitter.
    #[default]
    None,
    /// Uniform in `[0, max_ms]` milliseconds.
    Uniform {
        /// Upper bound in milliseconds.
        max_ms: f64,
    },
    /// Exponential with the given mean in milliseconds (a heavy-ish queueing tail).
    Exponential {
        /// Mean in milliseconds.
        mean_ms: f64,
    },
}

/// Network-wide settings of the model.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Jitter added to every message.
    pub jitter: Jitter,
    /// Probability in [0, 1] that a datagram is lost (default 0). Stream messages are never
    /// lost; on a lossy path they are delayed by retransmissions instead.
    pub datagram_loss: f64,
    /// Round trips a dial costs before both sides see the connection (default 3: TCP handshake,
    /// multistream/noise, yamux+identify; roughly what libp2p over TCP takes).
    pub dial_round_trips: u32,
    /// How long a dial to an unreachable or offline peer waits before failing (default 10 s,
    /// nwaku's dial timeout).
    pub dial_timeout: SimDuration,
    /// Longest a message may wait in a node's upload queue before it is dropped instead
    /// (default 30 s).
    pub max_upload_backlog: SimDuration,
    /// Retransmission timeout for stream messages on a lossy path: each lost attempt adds
    /// `max(min_rto, 2 x RTT)` (default 200 ms, Linux's minimum RTO). At most 8 retries.
    pub min_rto: SimDuration,
    /// Whether a partition closes the connections that cross it when it starts (default true).
    /// When false they stay open and every message across them is dropped.
    pub partition_closes_connections: bool,
    /// The TCP model of stream connections (congestion window, headers, stream window; see
    /// [`crate::tcp`]); `None` (the default): a message leaves at the link rate as soon as
    /// the uplink is free and carries no TCP/IP header bytes.
    pub tcp: Option<TcpConfig>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            jitter: Jitter::None,
            datagram_loss: 0.0,
            dial_round_trips: 3,
            dial_timeout: SimDuration::from_secs(10),
            max_upload_backlog: SimDuration::from_secs(30),
            min_rto: SimDuration::from_millis(200),
            partition_closes_connections: true,
            tcp: None,
        }
    }
}

/// A temporary worsening of a node's links or of one link.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Degradation {
    /// Added one-way latency.
    pub extra_latency: SimDuration,
    /// Capacity multiplier in (0, 1] (nodes only; ignored for links).
    pub bandwidth_factor: f64,
    /// Loss probability in [0, 1]: datagrams are dropped, stream messages retransmitted.
    pub loss: f64,
}

/// A fault or lifecycle change the engine executes at a scheduled time.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// The node goes offline: its connections close, its timers are cancelled, messages to it
    /// are dropped until it comes back.
    NodeOffline(NodeId),
    /// The node comes back online and is started again (`Input::Start { restart: true }`).
    NodeOnline(NodeId),
    /// Nodes in different groups cannot reach each other until the partition with this id ends.
    /// `groups[i]` is node i's group; nodes beyond the vector's end are in group 0.
    PartitionStart {
        /// Identifies the partition for its end.
        id: u32,
        /// Group per node.
        groups: Vec<u32>,
    },
    /// Ends the partition with this id.
    PartitionEnd {
        /// The partition's id.
        id: u32,
    },
    /// Degrades all links of a node.
    DegradeNode(NodeId, Degradation),
    /// Restores a node's links.
    RestoreNode(NodeId),
    /// Degrades the link between two nodes (both directions).
    DegradeLink(NodeId, NodeId, Degradation),
    /// Restores the link between two nodes.
    RestoreLink(NodeId, NodeId),
}
