//! Run-wide settings ([`EngineConfig`]) and why a run call returned ([`RunOutcome`]).

use crate::accounting::Category;
use crate::network::NetworkConfig;
use crate::queue::QueueKind;
use crate::time::SimDuration;

/// Run-wide engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The master seed every random stream is derived from.
    pub seed: u64,
    /// The event queue implementation (default [`QueueKind::Auto`]).
    pub queue: QueueKind,
    /// Number of accounting categories (from the layer's [`crate::CategoryTable`]).
    pub categories: usize,
    /// Category under which framing bytes are counted; `None` counts them with the message.
    pub framing_category: Option<Category>,
    /// Category under which TCP/IP header bytes are counted (with [`NetworkConfig::tcp`]);
    /// `None` counts them with the message's framing (or the message, without a framing
    /// category).
    pub tcp_header_category: Option<Category>,
    /// Length of one accounting time-series interval (default 1 s).
    pub series_interval: SimDuration,
    /// The network model's settings.
    pub network: NetworkConfig,
    /// Whether messages whose [`Payload::passive`] is true reach their receiver late, just
    /// before its next input (default true). Results are the same either way (the engine
    /// tests check it); only the event hash and the speed differ: a deferred message costs no
    /// event-queue entry of its own. See [`Payload::passive`].
    ///
    /// [`Payload::passive`]: crate::Payload::passive
    pub defer_passive: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            seed: 1,
            queue: QueueKind::Auto,
            categories: 1,
            framing_category: None,
            tcp_header_category: None,
            series_interval: SimDuration::from_secs(1),
            network: NetworkConfig::default(),
            defer_passive: true,
        }
    }
}

/// Why a run call returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The end time was reached (events after it remain queued).
    ReachedTime,
    /// No events remain.
    QueueEmpty,
    /// The stop condition held.
    ConditionMet,
}
