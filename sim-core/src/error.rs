//! Typed errors for bad input to the engine.

use crate::NodeId;

/// An error caused by bad input (configuration or a request naming something that does not
/// exist). Invariants that only a bug can break panic instead.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SimError {
    /// A node id at or beyond the number of nodes.
    #[error("{what}: {node} does not exist (the run has {nodes} nodes, ids 0..{nodes})")]
    UnknownNode {
        /// What named the node.
        what: &'static str,
        /// The offending id.
        node: NodeId,
        /// Number of nodes in the run.
        nodes: usize,
    },
    /// A link capacity of zero.
    #[error("{field} of {node} must be positive (bits per second), got {value}")]
    BadCapacity {
        /// `upload_bps` or `download_bps`.
        field: &'static str,
        /// The node.
        node: NodeId,
        /// The value given.
        value: u64,
    },
    /// A configuration value outside its domain.
    #[error("{field}: {reason}")]
    BadConfig {
        /// The field, as a path.
        field: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// The two lists that describe the nodes have different lengths.
    #[error("{nodes} nodes but {capacities} link capacities: give one capacity per node")]
    CapacityCount {
        /// Number of nodes.
        nodes: usize,
        /// Number of capacities.
        capacities: usize,
    },
    /// A node tried to send to, dial or post to itself.
    #[error("{node} cannot {what} itself")]
    SelfTarget {
        /// The node.
        node: NodeId,
        /// What it tried.
        what: &'static str,
    },
}
