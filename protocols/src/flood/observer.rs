//! [`FloodObserver`]: the run-wide measurement sink the flood nodes report to.

use std::collections::BTreeMap;

use sim_core::metrics::DurationHistogram;
use sim_core::{NodeId, SimTime};

use super::message::MsgId;

/// A published message: when, and how many nodes have received it so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    /// Publish time.
    pub at: SimTime,
    /// Nodes that received the message (first receipts; the origin excluded).
    pub receivers: u32,
}

/// Run-wide measurements. Receipts, latency and duplicates count only messages published at
/// or after the warm-up's end.
#[derive(Debug)]
pub struct FloodObserver {
    warmup: SimTime,
    /// Every published message, by id.
    messages: BTreeMap<MsgId, Published>,
    latency: DurationHistogram,
    /// First receipts and duplicates of measured messages, run-wide and per node.
    receipts: u64,
    duplicates: u64,
    node_duplicates: Vec<u64>,
}

impl FloodObserver {
    /// An observer for `nodes` nodes that measures messages published from `warmup` on.
    pub fn new(nodes: usize, warmup: SimTime) -> Self {
        FloodObserver {
            warmup,
            messages: BTreeMap::new(),
            latency: DurationHistogram::new(),
            receipts: 0,
            duplicates: 0,
            node_duplicates: vec![0; nodes],
        }
    }

    pub(crate) fn published(&mut self, id: MsgId, now: SimTime) {
        self.messages.insert(
            id,
            Published {
                at: now,
                receivers: 0,
            },
        );
    }

    pub(crate) fn received(&mut self, id: MsgId, node: NodeId, now: SimTime, first: bool) {
        let Some(m) = self.messages.get_mut(&id) else {
            return;
        };
        if m.at < self.warmup {
            return;
        }
        if first {
            m.receivers += 1;
            self.receipts += 1;
            self.latency.record(now.saturating_since(m.at));
        } else {
            self.duplicates += 1;
            self.node_duplicates[node.index()] += 1;
        }
    }

    /// The end of the warm-up: messages published earlier are not measured.
    pub fn warmup(&self) -> SimTime {
        self.warmup
    }

    /// Every published message (measured or not), in id order.
    pub fn messages(&self) -> &BTreeMap<MsgId, Published> {
        &self.messages
    }

    /// Publish-to-first-receipt latency of measured messages, over all their receivers.
    pub fn latency(&self) -> &DurationHistogram {
        &self.latency
    }

    /// First receipts of measured messages, over all nodes.
    pub fn receipts(&self) -> u64 {
        self.receipts
    }

    /// Duplicate receipts of measured messages, over all nodes.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Duplicate receipts of measured messages, per node (indexed by node id).
    pub fn node_duplicates(&self) -> &[u64] {
        &self.node_duplicates
    }
}
