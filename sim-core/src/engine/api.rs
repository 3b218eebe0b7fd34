//! The [`Engine`]: construction and the public accessors.

use rand_distr::Exp;

use super::config::EngineConfig;
use super::events::Ev;
use super::inflight::{InFlights, NO_MSG};
use super::links::NodeNet;
use super::state::{Core, check_probability};
use super::timers::Slab;
use crate::NodeId;
use crate::accounting::Accounting;
use crate::error::SimError;
use crate::network::{Jitter, LatencyModel, LinkCapacity};
use crate::node::{Node, TimerId};
use crate::queue::EventQueue;
use crate::rng;
use crate::tcp::TcpParams;
use crate::time::{Rate, SimDuration, SimTime};

/// Largest CPU slowdown a node may have ([`Engine::set_cpu_slowdown`]): a typo guard.
pub const MAX_CPU_SLOWDOWN: f64 = 1000.0;

/// The simulation engine: nodes of one type `N`, the network between them, and the clock.
pub struct Engine<N: Node> {
    pub(super) nodes: Vec<N>,
    pub(super) core: Core<N::Msg, N::Timer>,
    pub(super) observer: N::Observer,
}

impl<N: Node> Engine<N> {
    /// An engine over `nodes`, with one link capacity per node and the given latency model.
    /// Every node is scheduled to start at time zero (see [`Engine::start_offline`]).
    pub fn new(
        config: EngineConfig,
        latency: Box<dyn LatencyModel>,
        capacities: Vec<LinkCapacity>,
        nodes: Vec<N>,
        observer: N::Observer,
    ) -> Result<Self, SimError> {
        if capacities.len() != nodes.len() {
            return Err(SimError::CapacityCount {
                nodes: nodes.len(),
                capacities: capacities.len(),
            });
        }
        if nodes.len() > u32::MAX as usize {
            return Err(SimError::BadConfig {
                field: "nodes",
                reason: format!("at most {} nodes, got {}", u32::MAX, nodes.len()),
            });
        }
        for (i, c) in capacities.iter().enumerate() {
            for (field, value) in [
                ("upload_bps", c.upload_bps),
                ("download_bps", c.download_bps),
            ] {
                if value == 0 {
                    return Err(SimError::BadCapacity {
                        field,
                        node: NodeId(i as u32),
                        value,
                    });
                }
            }
        }
        if config.series_interval == SimDuration::ZERO {
            return Err(SimError::BadConfig {
                field: "series_interval",
                reason: "must be positive".into(),
            });
        }
        if config.categories == 0 || config.categories > u16::MAX as usize {
            return Err(SimError::BadConfig {
                field: "categories",
                reason: format!("must be in 1..=65535, got {}", config.categories),
            });
        }
        if let Some(fc) = config.framing_category
            && fc.0 as usize >= config.categories
        {
            return Err(SimError::BadConfig {
                field: "framing_category",
                reason: format!(
                    "category {} is not below categories = {}",
                    fc.0, config.categories
                ),
            });
        }
        if let Some(hc) = config.tcp_header_category
            && hc.0 as usize >= config.categories
        {
            return Err(SimError::BadConfig {
                field: "tcp_header_category",
                reason: format!(
                    "category {} is not below categories = {}",
                    hc.0, config.categories
                ),
            });
        }
        if let Some(tcp) = &config.network.tcp
            && let Err((field, reason)) = tcp.check()
        {
            return Err(SimError::BadConfig {
                field: "network.tcp",
                reason: format!("{field} {reason}"),
            });
        }
        let tcp = config.network.tcp.as_ref().map(TcpParams::new);
        check_probability("network.datagram_loss", config.network.datagram_loss)?;
        let may_reorder = !matches!(config.network.jitter, Jitter::None);
        let jitter_exp = match config.network.jitter {
            Jitter::None => None,
            Jitter::Uniform { max_ms } => {
                if !(max_ms.is_finite() && max_ms >= 0.0) {
                    return Err(SimError::BadConfig {
                        field: "network.jitter.max_ms",
                        reason: format!("must be a finite number >= 0, got {max_ms}"),
                    });
                }
                None
            }
            Jitter::Exponential { mean_ms } => {
                if !(mean_ms.is_finite() && mean_ms > 0.0) {
                    return Err(SimError::BadConfig {
                        field: "network.jitter.mean_ms",
                        reason: format!("must be a finite number > 0, got {mean_ms}"),
                    });
                }
                Some(Exp::new(1.0 / mean_ms).expect("positive rate"))
            }
        };
        let n = nodes.len();
        let net_nodes = capacities
            .into_iter()
            .map(|cap| NodeNet {
                base_cap: cap,
                up_rate: Rate::new(cap.upload_bps),
                down_rate: Rate::new(cap.download_bps),
                up_free: SimTime::ZERO,
                down_free: SimTime::ZERO,
                down_tail: NO_MSG,
                down_tail_first: SimTime::ZERO,
                cpu_free: SimTime::ZERO,
                online: true,
                started: false,
                incarnation: 0,
                extra_latency: SimDuration::ZERO,
                loss: 0.0,
                degraded: false,
                conns: Vec::new(),
                conn_keys: Vec::new(),
                pending: Vec::new(),
                pending_listed: false,
            })
            .collect();
        let mut core = Core {
            now: SimTime::ZERO,
            seed: config.seed,
            seq: 0,
            queue: EventQueue::new(config.queue.resolve(n)),
            nodes: net_nodes,
            rngs: (0..n).map(|_| None).collect(),
            net_rng: rng::stream(config.seed, rng::GLOBAL_SCOPE, "network"),
            latency,
            net: config.network,
            jitter_exp,
            timers: Vec::new(),
            free_timers: Vec::new(),
            msgs: InFlights::new(),
            notices: Slab::new(),
            dials: Slab::new(),
            faults: Vec::new(),
            partitions: Vec::new(),
            link_degradations: Vec::new(),
            next_conn: 1,
            conn_alive: vec![false],
            down_scratch: Vec::new(),
            degraded_nodes: 0,
            may_reorder,
            accounting: Accounting::new(n, config.categories, config.series_interval),
            framing_category: config.framing_category,
            header_category: config.tcp_header_category.or(config.framing_category),
            // Connection id 0 is never used (datagrams): its two flows are placeholders.
            flows: tcp
                .map(|p| vec![p.flow(SimTime::ZERO); 2])
                .unwrap_or_default(),
            tcp,
            hash: 0xCBF2_9CE4_8422_2325,
            events: 0,
            cur_seq: 0,
            defer_passive: config.defer_passive,
            pending_nodes: Vec::new(),
            pending_total: 0,
            passive_call: false,
            cpu_slowdown: Vec::new(),
        };
        for i in 0..n {
            core.schedule(SimTime::ZERO, Ev::Start { node: i as u32 });
        }
        Ok(Engine {
            nodes,
            core,
            observer,
        })
    }

    /// Sets a timer on `node` from outside (for harnesses: workload, measurements).
    pub fn set_timer(
        &mut self,
        node: NodeId,
        at: SimTime,
        value: N::Timer,
    ) -> Result<TimerId, SimError> {
        self.core.check_node("set_timer", node)?;
        let at = at.max(self.core.now);
        Ok(self.core.set_timer(node, at, value))
    }

    /// Makes every compute job of `node` ([`crate::Ctx::compute`]) take `factor` times
    /// its CPU time (a slower or busier machine): a job of cost `c` occupies the node's CPU
    /// for `round(c x factor)` nanoseconds. Default 1 (the cost as given). `factor` must be
    /// finite and in (0, 1000]. Call before running (jobs already queued keep their time).
    pub fn set_cpu_slowdown(&mut self, node: NodeId, factor: f64) -> Result<(), SimError> {
        self.core.check_node("set_cpu_slowdown", node)?;
        if !(factor.is_finite() && factor > 0.0 && factor <= MAX_CPU_SLOWDOWN) {
            return Err(SimError::BadConfig {
                field: "cpu_slowdown",
                reason: format!(
                    "must be a finite multiplier in (0, {MAX_CPU_SLOWDOWN}], got {factor}"
                ),
            });
        }
        let n = self.core.nodes.len();
        let v = &mut self.core.cpu_slowdown;
        if factor != 1.0 && v.is_empty() {
            v.resize(n, 1.0);
        }
        if let Some(f) = v.get_mut(node.index()) {
            *f = factor;
        }
        Ok(())
    }

    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.core.now
    }
    /// The nodes, by id.
    pub fn nodes(&self) -> &[N] {
        &self.nodes
    }
    /// One node.
    pub fn node(&self, id: NodeId) -> &N {
        &self.nodes[id.index()]
    }
    /// One node, mutably (for harnesses between run calls).
    pub fn node_mut(&mut self, id: NodeId) -> &mut N {
        &mut self.nodes[id.index()]
    }
    /// The measurement sink.
    pub fn observer(&self) -> &N::Observer {
        &self.observer
    }
    /// The measurement sink, mutably.
    pub fn observer_mut(&mut self) -> &mut N::Observer {
        &mut self.observer
    }
    /// Byte and message counters.
    pub fn accounting(&self) -> &Accounting {
        &self.core.accounting
    }
    /// Whether `node` is online now.
    pub fn is_online(&self, node: NodeId) -> bool {
        self.core.nodes[node.index()].online
    }
    /// The peers `node` has open connections to, ascending.
    pub fn connections(&self, node: NodeId) -> impl Iterator<Item = (NodeId, bool)> + '_ {
        self.core.nodes[node.index()]
            .conns
            .iter()
            .map(|c| (c.peer, c.outbound))
    }
    /// Handler calls so far.
    pub fn events_processed(&self) -> u64 {
        self.core.events
    }
    /// Events waiting in the queue (including cancelled timers not yet popped) and deferred
    /// passive messages not yet handed to their nodes.
    pub fn pending_events(&self) -> usize {
        self.core.queue.len() + self.core.pending_total
    }
    /// The running hash of (time, node, event kind) over every handler call so far.
    pub fn event_hash(&self) -> u64 {
        self.core.hash
    }
}
