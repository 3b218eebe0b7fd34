//! The one error type of this crate.

/// Why a network description could not be built: a parameter outside its domain, a name that
/// is not defined, or a file that does not describe a graph.
///
/// Every variant names what is wrong (a field path such as `topology.degree`, or a place in a
/// file such as `csv line 12`) and says what would be accepted. Bad input never panics.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// A configuration value outside its domain.
    #[error("{field} = {value}: {reason}")]
    InvalidParameter {
        /// The field, as a path (`topology.degree`, `groups[2].fraction`).
        field: String,
        /// The offending value, as written.
        value: String,
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// A name (region, bandwidth class) that is not defined.
    #[error("{field}: unknown {what} {name:?}; known: {known}")]
    UnknownName {
        /// The field, as a path.
        field: String,
        /// What kind of name (`region`, `bandwidth class`).
        what: &'static str,
        /// The name given.
        name: String,
        /// The names that are defined, comma-separated.
        known: String,
    },
    /// An edge names a node the graph does not have.
    #[error("{location}: edge names node {node}, but the graph has {nodes} nodes (ids 0..{nodes})")]
    MissingNode {
        /// Where the edge was found (`csv line 12`, `graphml edge 3`, `edge 7`).
        location: String,
        /// The node as written.
        node: String,
        /// Number of nodes in the graph.
        nodes: u64,
    },
    /// An edge from a node to itself.
    #[error("{location}: edge from node {node} to itself; a node cannot connect to itself")]
    SelfLoop {
        /// Where the edge was found.
        location: String,
        /// The node as written.
        node: String,
    },
    /// The same connection listed twice (only where duplicates cannot be merged).
    #[error("{location}: duplicate edge between nodes {a} and {b}")]
    DuplicateEdge {
        /// Where the second copy was found.
        location: String,
        /// One end.
        a: u32,
        /// The other end.
        b: u32,
    },
    /// A file that does not parse as the format it claims to be.
    #[error("{location}: {reason}")]
    Malformed {
        /// Where (`graphml line 3`, `csv line 12`).
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// A file that could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The path as given.
        path: String,
        /// The operating system's message.
        reason: String,
    },
    /// A randomised construction that did not succeed within its bounded number of attempts.
    #[error("{what}: {reason}")]
    GenerationFailed {
        /// The generator.
        what: String,
        /// What happened and what to try.
        reason: String,
    },
}

impl TopologyError {
    /// An [`TopologyError::InvalidParameter`].
    pub fn invalid(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        TopologyError::InvalidParameter {
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// The same error with its field path (or file location) prefixed by `prefix` and a dot,
    /// so that an embedding format can report `network.topology.degree`.
    pub fn prefixed(self, prefix: &str) -> Self {
        let join = |s: String| {
            if prefix.is_empty() {
                s
            } else if s.is_empty() {
                prefix.to_owned()
            } else if s.starts_with('[') {
                format!("{prefix}{s}")
            } else {
                format!("{prefix}.{s}")
            }
        };
        match self {
            TopologyError::InvalidParameter {
                field,
                value,
                reason,
            } => TopologyError::InvalidParameter {
                field: join(field),
                value,
                reason,
            },
            TopologyError::UnknownName {
                field,
                what,
                name,
                known,
            } => TopologyError::UnknownName {
                field: join(field),
                what,
                name,
                known,
            },
            other => other,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, TopologyError>;
