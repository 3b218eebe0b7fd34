//! Faults and lifecycle changes: nodes going offline and online, degradations of nodes and
//! links, partitions.

use super::Engine;
use super::events::Ev;
use super::inflight::NO_MSG;
use super::state::{Core, check_probability};
use crate::NodeId;
use crate::error::SimError;
use crate::network::{Degradation, Fault, LinkCapacity};
use crate::node::{CloseReason, Node, Payload};
use crate::time::{SimDuration, SimTime};

impl<M: Payload, T> Core<M, T> {
    pub(super) fn link_degradation(&self, a: NodeId, b: NodeId) -> Option<&Degradation> {
        if self.link_degradations.is_empty() {
            return None;
        }
        let key = (a.min(b), a.max(b));
        self.link_degradations
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, d)| d)
    }

    pub(super) fn reachable(&self, a: NodeId, b: NodeId) -> bool {
        self.partitions.iter().all(|(_, groups)| {
            let ga = groups.get(a.index()).copied().unwrap_or(0);
            let gb = groups.get(b.index()).copied().unwrap_or(0);
            ga == gb
        })
    }

    fn take_offline(&mut self, node: NodeId) {
        let n = &mut self.nodes[node.index()];
        if !n.online {
            return;
        }
        n.online = false;
        n.incarnation = n.incarnation.wrapping_add(1);
        let peers: Vec<NodeId> = n.conns.iter().map(|c| c.peer).collect();
        for p in peers {
            // The offline node is not told; its peers see the peer go away.
            let _ = self.remove_conn(node, p);
            if let Some(c) = self.remove_conn(p, node)
                && c.announced
            {
                self.notify_down(p, node, CloseReason::PeerOffline);
            }
        }
        let n = &mut self.nodes[node.index()];
        n.up_free = self.now;
        // Messages still in its downlink schedule are dropped when they are due (their
        // connections are closed); whatever comes after starts a new schedule.
        n.down_free = self.now;
        n.down_tail = NO_MSG;
        n.down_tail_first = SimTime::ZERO;
        n.cpu_free = self.now;
    }
}

impl<N: Node> Engine<N> {
    /// Marks `node` offline from the start: it does not start at time zero and starts when a
    /// [`Fault::NodeOnline`] brings it up. Call before running.
    pub fn start_offline(&mut self, node: NodeId) -> Result<(), SimError> {
        self.core.check_node("start_offline", node)?;
        let n = &mut self.core.nodes[node.index()];
        n.online = false;
        n.incarnation = n.incarnation.wrapping_add(1);
        Ok(())
    }

    /// Schedules a fault (or lifecycle change) at `at` (not before now).
    pub fn schedule_fault(&mut self, at: SimTime, fault: Fault) -> Result<(), SimError> {
        self.validate_fault(&fault)?;
        let idx = self.core.faults.len() as u32;
        self.core.faults.push(Some(fault));
        let at = at.max(self.core.now);
        self.core.schedule(at, Ev::Fault { idx });
        Ok(())
    }

    fn validate_fault(&self, f: &Fault) -> Result<(), SimError> {
        let check_deg = |d: &Degradation| -> Result<(), SimError> {
            check_probability("degradation.loss", d.loss)?;
            if !(d.bandwidth_factor.is_finite()
                && d.bandwidth_factor > 0.0
                && d.bandwidth_factor <= 1.0)
            {
                return Err(SimError::BadConfig {
                    field: "degradation.bandwidth_factor",
                    reason: format!("must be in (0, 1], got {}", d.bandwidth_factor),
                });
            }
            Ok(())
        };
        match f {
            Fault::NodeOffline(n) | Fault::NodeOnline(n) | Fault::RestoreNode(n) => {
                self.core.check_node("fault", *n)
            }
            Fault::DegradeNode(n, d) => {
                self.core.check_node("fault", *n)?;
                check_deg(d)
            }
            Fault::DegradeLink(a, b, d) => {
                self.core.check_node("fault", *a)?;
                self.core.check_node("fault", *b)?;
                check_deg(d)
            }
            Fault::RestoreLink(a, b) => {
                self.core.check_node("fault", *a)?;
                self.core.check_node("fault", *b)
            }
            Fault::PartitionStart { .. } | Fault::PartitionEnd { .. } => Ok(()),
        }
    }

    pub(super) fn apply_fault(&mut self, f: Fault) {
        match f {
            Fault::NodeOffline(n) => {
                // What was due before reaches it; its connections closing drops the rest.
                self.catch_up(n);
                self.core.take_offline(n);
            }
            Fault::NodeOnline(n) => {
                let node = &mut self.core.nodes[n.index()];
                if !node.online {
                    node.online = true;
                    self.core.schedule(self.core.now, Ev::Start { node: n.0 });
                }
            }
            Fault::PartitionStart { id, groups } => {
                self.core.partitions.retain(|(pid, _)| *pid != id);
                self.core.partitions.push((id, groups));
                if self.core.net.partition_closes_connections {
                    let mut cut = Vec::new();
                    for (i, n) in self.core.nodes.iter().enumerate() {
                        for c in &n.conns {
                            if (i as u32) < c.peer.0
                                && !self.core.reachable(NodeId(i as u32), c.peer)
                            {
                                cut.push((NodeId(i as u32), c.peer));
                            }
                        }
                    }
                    for (a, b) in cut {
                        self.core.close(a, b, CloseReason::Partition);
                    }
                }
            }
            Fault::PartitionEnd { id } => self.core.partitions.retain(|(pid, _)| *pid != id),
            Fault::DegradeNode(n, d) => {
                self.core.may_reorder = true;
                let node = &mut self.core.nodes[n.index()];
                if !node.degraded {
                    node.degraded = true;
                    self.core.degraded_nodes += 1;
                }
                node.extra_latency = d.extra_latency;
                node.loss = d.loss;
                let scale = |bps: u64| ((bps as f64 * d.bandwidth_factor) as u64).max(1);
                node.set_cap(LinkCapacity {
                    upload_bps: scale(node.base_cap.upload_bps),
                    download_bps: scale(node.base_cap.download_bps),
                });
            }
            Fault::RestoreNode(n) => {
                let node = &mut self.core.nodes[n.index()];
                if node.degraded {
                    node.degraded = false;
                    self.core.degraded_nodes -= 1;
                }
                node.extra_latency = SimDuration::ZERO;
                node.loss = 0.0;
                node.set_cap(node.base_cap);
            }
            Fault::DegradeLink(a, b, d) => {
                self.core.may_reorder = true;
                let key = (a.min(b), a.max(b));
                self.core.link_degradations.retain(|(k, _)| *k != key);
                self.core.link_degradations.push((key, d));
            }
            Fault::RestoreLink(a, b) => {
                let key = (a.min(b), a.max(b));
                self.core.link_degradations.retain(|(k, _)| *k != key);
            }
        }
    }
}
