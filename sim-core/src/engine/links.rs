//! A node's link and connections ([`NodeNet`], [`Conn`]) and prefetch access to them
//! ([`Links`]).

use super::events::Pending;
use crate::NodeId;
use crate::network::LinkCapacity;
use crate::tcp::TcpFlow;
use crate::time::{Rate, SimDuration, SimTime};

#[derive(Clone, Debug)]
pub(crate) struct Conn {
    pub(super) peer: NodeId,
    /// The connection id (ids are below 2^32, [`Conn`] is 32 bytes).
    pub(super) id: u32,
    pub(super) outbound: bool,
    /// Whether this side has been told the connection is up.
    pub(super) announced: bool,
    /// Latest first-bit / last-bit arrival at the peer of a message sent on this connection
    /// (keeps stream messages in order under jitter).
    pub(super) last_first: SimTime,
    pub(super) last_last: SimTime,
}

/// A node's link and connections. Laid out by use, one cache line each: line 0 what a send
/// reads of its receiver (the downlink and its deferred messages), line 1 what it reads of
/// its sender (the connection index and the uplink: the sender is the node handling an
/// input, whose lines 0 and 1 are prefetched), line 2 the rest.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
pub(crate) struct NodeNet {
    /// The current capacity as rates (serialisation times without a division for the usual
    /// capacities).
    pub(super) down_rate: Rate,
    /// When the downlink finishes the last message of its schedule (`down_tail`).
    pub(super) down_free: SimTime,
    /// The first-bit arrival of `down_tail`.
    pub(super) down_tail_first: SimTime,
    /// The in-flight message last in the downlink's schedule ([`NO_MSG`]: none since the
    /// node last went offline). Messages are scheduled on the downlink when sent, in
    /// first-bit arrival order; see the comment above [`Core::downlink_position`].
    ///
    /// [`NO_MSG`]: super::inflight::NO_MSG
    /// [`Core::downlink_position`]: super::Core::downlink_position
    pub(super) down_tail: u32,
    pub(super) online: bool,
    pub(super) started: bool,
    pub(super) degraded: bool,
    /// Whether this node is in `Core::pending_nodes`.
    pub(super) pending_listed: bool,
    /// Passive messages sent to this node and not yet handed to it, in the order sent (see
    /// [`Payload::passive`]; sorted by (delivery time, seq) when handed over).
    ///
    /// [`Payload::passive`]: crate::Payload::passive
    pub(super) pending: Vec<Pending>,
    // Line 1.
    /// `peer << 32 | connection id` of each of `conns`, in the same (ascending) order: a
    /// send finds its connection and id in these two or three lines without reading `conns`.
    pub(super) conn_keys: Vec<u64>,
    pub(super) up_rate: Rate,
    pub(super) up_free: SimTime,
    pub(super) cpu_free: SimTime,
    pub(super) incarnation: u32,
    // Line 2.
    pub(crate) conns: Vec<Conn>,
    /// The configured capacity (degradations scale it).
    pub(super) base_cap: LinkCapacity,
    pub(super) extra_latency: SimDuration,
    pub(super) loss: f64,
}

/// Prefetch access to the nodes' link records, for [`Node::prefetch`]: a node that knows
/// whom it will send to can have their records fetched before the sends read them.
///
/// [`Node::prefetch`]: crate::Node::prefetch
pub struct Links<'a> {
    pub(crate) nodes: &'a [NodeNet],
    /// The TCP flows (`Core::flows`; empty with TCP off).
    pub(crate) flows: &'a [TcpFlow],
}

impl Links<'_> {
    /// Prefetches the link record a send to `peer` reads. A hint only.
    #[inline]
    pub fn prefetch(&self, peer: NodeId) {
        crate::prefetch::prefetch(self.nodes.as_ptr().wrapping_add(peer.index()));
    }

    /// Prefetches the TCP flow a send from `from` to `peer` on their connection reads and
    /// writes (one line, at a place no other structure predicts: the flows are indexed by
    /// connection id). Finds the connection in `from`'s index, so call it when that is in
    /// cache (the node handling an input has it prefetched). Nothing with TCP off or without
    /// a connection. A hint only.
    #[inline]
    pub fn prefetch_flow(&self, from: NodeId, peer: NodeId) {
        if self.flows.is_empty() {
            return;
        }
        let Some(n) = self.nodes.get(from.index()) else {
            return;
        };
        if let Some(i) = n.conn_pos(peer) {
            let f = self
                .flows
                .as_ptr()
                .wrapping_add(flow_index(n.conn_id(i), from, peer));
            crate::prefetch::prefetch(f);
        }
    }
}

/// Where the flow from `from` to `to` on connection `id` is in `Core::flows`: two per
/// connection, direction 0 from the lower node id.
#[inline(always)]
pub(crate) fn flow_index(id: usize, from: NodeId, to: NodeId) -> usize {
    2 * id + (from.0 > to.0) as usize
}

impl NodeNet {
    /// The position of the connection to `peer` in `conns` and `conn_keys`, if open.
    #[inline]
    pub(super) fn conn_pos(&self, peer: NodeId) -> Option<usize> {
        self.conn_keys
            .binary_search_by_key(&peer.0, |k| (k >> 32) as u32)
            .ok()
    }
    /// The id of the connection at position `i` (from its key, without reading `conns`).
    #[inline]
    pub(super) fn conn_id(&self, i: usize) -> usize {
        self.conn_keys[i] as u32 as usize
    }
    /// Prefetches where the next deferred message is written (a hint).
    #[inline]
    pub(crate) fn prefetch_pending_end(&self) {
        crate::prefetch::prefetch(self.pending.as_ptr().wrapping_add(self.pending.len()));
    }
    pub(super) fn set_cap(&mut self, cap: LinkCapacity) {
        self.up_rate = Rate::new(cap.upload_bps);
        self.down_rate = Rate::new(cap.download_bps);
    }
}
