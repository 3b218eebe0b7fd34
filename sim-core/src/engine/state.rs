//! The [`Core`]: the engine's state apart from the nodes and the observer, and its small
//! shared helpers.

use rand_distr::Exp;

use super::conns::Dial;
use super::events::{Ev, Notice, PackedEv};
use super::inflight::InFlights;
use super::links::{Links, NodeNet, flow_index};
use super::timers::{Slab, TimerSlot};
use crate::NodeId;
use crate::accounting::{Accounting, Category};
use crate::error::SimError;
use crate::network::{Degradation, Fault, LatencyModel, NetworkConfig};
use crate::node::Payload;
use crate::queue::EventQueue;
use crate::rng::{self, SimRng};
use crate::tcp::{TcpFlow, TcpParams};
use crate::time::{Rate, SimDuration, SimTime};

/// Everything of the engine except the nodes and the observer, so that a handler can borrow
/// its node mutably while the context borrows the core.
pub(crate) struct Core<M, T> {
    pub(crate) now: SimTime,
    pub(super) seed: u64,
    pub(super) seq: u64,
    pub(super) queue: EventQueue<PackedEv>,
    pub(super) notices: Slab<Notice>,
    pub(crate) nodes: Vec<NodeNet>,
    pub(super) rngs: Vec<Option<SimRng>>,
    pub(super) net_rng: SimRng,
    pub(super) latency: Box<dyn LatencyModel>,
    pub(super) net: NetworkConfig,
    pub(super) jitter_exp: Option<Exp<f64>>,
    pub(super) timers: Vec<TimerSlot<T>>,
    pub(super) free_timers: Vec<u32>,
    pub(super) msgs: InFlights<M>,
    pub(super) dials: Slab<Dial>,
    pub(super) faults: Vec<Option<Fault>>,
    pub(super) partitions: Vec<(u32, Vec<u32>)>,
    pub(super) link_degradations: Vec<((NodeId, NodeId), Degradation)>,
    pub(super) next_conn: u64,
    /// `conn_alive[id]`: whether connection `id` is open. Connection ids are never reused, so
    /// an in-flight message's connection is checked in O(1) instead of searching the
    /// receiver's connection list (both sides of a connection close at the same instant).
    pub(super) conn_alive: Vec<bool>,
    /// Scratch list for [`Core::downlink_position`]'s rare walk (kept to reuse its memory).
    pub(super) down_scratch: Vec<u32>,
    /// Nodes currently degraded; when none, sends skip the degradation fields of both ends.
    pub(super) degraded_nodes: usize,
    /// Whether a later message on a connection can get an earlier arrival than an earlier one:
    /// only with jitter, or once a degradation (extra latency, loss and its retransmissions)
    /// has been applied. Until then a connection's arrivals are monotone by construction (its
    /// sender's upload FIFO is, and the base latency of a pair is fixed), so sends skip the
    /// per-connection clamp and its record. Once set it stays set: arrivals computed after
    /// are never earlier than those before (extra delays are non-negative), so the records
    /// skipped until then never matter.
    pub(super) may_reorder: bool,
    pub(super) accounting: Accounting,
    pub(super) framing_category: Option<Category>,
    /// Where TCP/IP header bytes are counted: [`EngineConfig::tcp_header_category`], else the
    /// framing category; `None`: with the message.
    ///
    /// [`EngineConfig::tcp_header_category`]: super::EngineConfig::tcp_header_category
    pub(super) header_category: Option<Category>,
    /// The TCP model's settings ([`NetworkConfig::tcp`]); `None`: off.
    pub(super) tcp: Option<TcpParams>,
    /// The TCP flows, two per connection id (`2 id + direction`, direction 0 from the lower
    /// node id to the higher), in a dense array like `conn_alive`: ids are never reused, so
    /// it grows by 32 bytes (two 16-byte flows) per connection ever opened (empty with TCP off).
    pub(super) flows: Vec<TcpFlow>,
    pub(super) hash: u64,
    pub(super) events: u64,
    /// The sequence number of the event being processed (with `now`, its place in the event
    /// order: deferred messages before it are due to its node first).
    pub(super) cur_seq: u64,
    /// [`EngineConfig::defer_passive`].
    ///
    /// [`EngineConfig::defer_passive`]: super::EngineConfig::defer_passive
    pub(super) defer_passive: bool,
    /// Nodes whose `pending` list may be non-empty (each once: `pending_listed`).
    pub(super) pending_nodes: Vec<u32>,
    /// Deferred messages in all `pending` lists.
    pub(super) pending_total: usize,
    /// Set while a passive message's handler runs: it may not act (see [`Payload::passive`]).
    pub(super) passive_call: bool,
    /// Per node, the multiplier on the CPU time of its compute jobs
    /// ([`Engine::set_cpu_slowdown`]); empty while every node has 1.
    ///
    /// [`Engine::set_cpu_slowdown`]: super::Engine::set_cpu_slowdown
    pub(super) cpu_slowdown: Vec<f64>,
}

#[inline]
pub(super) fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(23) ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

pub(super) fn check_probability(field: &'static str, p: f64) -> Result<(), SimError> {
    if p.is_finite() && (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(SimError::BadConfig {
            field,
            reason: format!("must be a probability in [0, 1], got {p}"),
        })
    }
}

impl<M: Payload, T> Core<M, T> {
    #[inline]
    pub(super) fn schedule(&mut self, at: SimTime, ev: Ev) {
        debug_assert!(at >= self.now);
        self.seq += 1;
        self.queue.push(at, self.seq, ev.pack());
    }

    pub(super) fn check_node(&self, what: &'static str, n: NodeId) -> Result<(), SimError> {
        if n.index() < self.nodes.len() {
            Ok(())
        } else {
            Err(SimError::UnknownNode {
                what,
                node: n,
                nodes: self.nodes.len(),
            })
        }
    }

    pub(crate) fn node_rng(&mut self, n: NodeId) -> &mut SimRng {
        let seed = self.seed;
        self.rngs[n.index()].get_or_insert_with(|| rng::stream(seed, n.0 as u64, "node"))
    }

    /// Prefetch access to the link records and TCP flows ([`Links`]).
    #[inline]
    pub(crate) fn links(&self) -> Links<'_> {
        Links {
            nodes: &self.nodes,
            flows: &self.flows,
        }
    }

    pub(crate) fn conn_index(&self, node: NodeId, peer: NodeId) -> Option<usize> {
        self.nodes[node.index()].conn_pos(peer)
    }

    /// The TCP flow from `from` to `to` on `from`'s connection at position `i`.
    #[inline]
    pub(super) fn flow_mut(&mut self, from: NodeId, to: NodeId, i: usize) -> &mut TcpFlow {
        let id = self.nodes[from.index()].conn_id(i);
        &mut self.flows[flow_index(id, from, to)]
    }

    pub(crate) fn base_latency(&self, a: NodeId, b: NodeId) -> SimDuration {
        self.latency.latency(a, b)
    }

    /// `n`'s current upload rate (degradations applied): [`crate::Ctx::upload_rate`].
    #[inline]
    pub(crate) fn upload_rate(&self, n: NodeId) -> Rate {
        self.nodes[n.index()].up_rate
    }

    /// Panics when a passive message's handler tries to act (see [`Payload::passive`]): its
    /// action would happen at a time already past.
    #[inline]
    pub(super) fn check_active(&self, what: &'static str) {
        assert!(
            !self.passive_call,
            "{what} from the handler of a passive message: Payload::passive must be false for \
             messages whose handler acts"
        );
    }
}
