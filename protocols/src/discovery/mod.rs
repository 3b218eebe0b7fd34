//! Peer sources: where a node's peer manager learns of peers to dial.
//!
//! A source hands peers to the peer manager as [`FoundPeer`]s; the peer manager puts them in
//! its peer store and dials from there. [`PeerSource`] is an enum of state machines, one
//! variant per source, driven by the node composition (`crate::node`): it calls
//! [`PeerSource::start`] when the node starts or restarts and [`PeerSource::want_peers`] when
//! the peer manager runs out of peers to dial.
//!
//! A discovery protocol with messages and timers of its own is a protocol of the node's list
//! (`crate::node`) in a folder here: [`rendezvous`] today (discv5 and peer exchange next). It
//! keeps what it finds as [`FoundPeer`]s, and the node moves them into the peer manager's
//! store after each of its messages (`node/glue.rs`, `hand_found_peers`), so the peer manager
//! does not change. Such a protocol runs beside the node's [`PeerSource`] (a bootstrap list or
//! none), not inside it.
//!
//! Today's source is a **bootstrap list** ([`Bootstrap`]): the peers a node knows when it
//! starts. The harness resolves it from a [`BootstrapSpec`]: some well-known nodes every node
//! knows, plus random peers of the network, plus, for each shard the node subscribes to,
//! random peers on that shard. The last two stand in for what discovery would have found
//! (nwaku's discv5 loop keeps the peers that share a shard with the node).

pub mod discv5;
pub mod metrics;
pub mod peer_exchange;
pub mod rendezvous;

use std::rc::Rc;

use rand::seq::index::sample;
use serde::{Deserialize, Serialize};
use sim_core::NodeId;
use sim_core::rng;

use crate::relay::config::ConfigError;

/// Where a node learnt of a peer (nwaku's `SourceBook`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerOrigin {
    /// A bootstrap list (static or configured nodes).
    Bootstrap,
    /// The peer connected to this node.
    Inbound,
    /// discv5 ([`discv5`]).
    Discv5,
    /// Rendezvous ([`rendezvous`]).
    Rendezvous,
    /// Peer exchange ([`peer_exchange`]).
    PeerExchange,
}

/// A peer a source found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoundPeer {
    /// The peer.
    pub id: NodeId,
    /// The source.
    pub origin: PeerOrigin,
}

/// A node's peer source.
#[derive(Clone, Debug, Default)]
pub enum PeerSource {
    /// No source: the node only learns of peers that connect to it.
    #[default]
    None,
    /// A list known from the start.
    Bootstrap(Bootstrap),
}

/// A bootstrap list.
#[derive(Clone, Debug, Default)]
pub struct Bootstrap {
    /// The peers, ascending.
    pub peers: Rc<[NodeId]>,
}

impl PeerSource {
    /// The node starts (`restart`: it comes back online): peers known at once go to `found`.
    pub fn start(&mut self, restart: bool, found: &mut Vec<FoundPeer>) {
        let _ = restart;
        match self {
            PeerSource::None => {}
            PeerSource::Bootstrap(b) => found.extend(b.peers.iter().map(|&id| FoundPeer {
                id,
                origin: PeerOrigin::Bootstrap,
            })),
        }
    }

    /// The peer manager has no peer left to dial. A static list has nothing more to give;
    /// discovery sources start a lookup here.
    pub fn want_peers(&mut self, found: &mut Vec<FoundPeer>) {
        let _ = found;
        match self {
            PeerSource::None | PeerSource::Bootstrap(_) => {}
        }
    }

    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            PeerSource::None => "none",
            PeerSource::Bootstrap(_) => "bootstrap",
        }
    }
}

/// How the harness builds every node's bootstrap list (`[overlay.source]` with
/// `kind = "bootstrap"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootstrapSpec {
    /// Nodes every node knows (nwaku `--staticnode` / bootstrap nodes). Default none.
    pub nodes: Vec<u32>,
    /// Names of node groups (`[[network.groups]]`) whose nodes every node knows. Default none.
    pub groups: Vec<String>,
    /// Random nodes of the network each node knows (drawn from the seed). Default 0.
    pub random_peers: u32,
    /// For each shard a node subscribes to, this many random nodes subscribed to it (drawn
    /// from the seed): what discovery filtered by shard would find. Default 20.
    pub shard_peers: u32,
}

impl Default for BootstrapSpec {
    fn default() -> Self {
        BootstrapSpec {
            nodes: Vec::new(),
            groups: Vec::new(),
            random_peers: 0,
            shard_peers: 20,
        }
    }
}

impl BootstrapSpec {
    /// Checks the spec against a run of `nodes` nodes (group names are resolved by the
    /// caller into `extra_nodes` of [`Self::resolve`]).
    pub fn validate(&self, nodes: usize) -> Result<(), ConfigError> {
        if let Some(n) = self.nodes.iter().find(|&&n| n as usize >= nodes) {
            return Err(ConfigError {
                field: "overlay.source.nodes".into(),
                problem: format!("node {n} does not exist (the run has {nodes})"),
                fix: format!("use node ids below {nodes}"),
            });
        }
        if self.nodes.is_empty()
            && self.groups.is_empty()
            && self.random_peers == 0
            && self.shard_peers == 0
        {
            return Err(ConfigError {
                field: "overlay.source".into(),
                problem: "every node's bootstrap list is empty: no node could dial anybody".into(),
                fix: "give nodes, groups, random_peers or shard_peers".into(),
            });
        }
        Ok(())
    }

    /// Every node's list, ascending, without itself: the spec's nodes plus `extra_nodes`,
    /// `random_peers` random nodes, and `shard_peers` random subscribers of each of its
    /// shards. `subscribers[t]` lists topic t's subscribers, ascending; `subs[n]` node n's
    /// topics. Drawn from (seed, node, `"bootstrap"`), so a node's list does not depend on
    /// another node's draws.
    pub fn resolve(
        &self,
        seed: u64,
        nodes: usize,
        extra_nodes: &[u32],
        subs: &[Vec<u16>],
        subscribers: &[Vec<NodeId>],
    ) -> Vec<Rc<[NodeId]>> {
        let mut fixed: Vec<NodeId> = self
            .nodes
            .iter()
            .chain(extra_nodes)
            .map(|&n| NodeId(n))
            .collect();
        fixed.sort();
        fixed.dedup();
        (0..nodes)
            .map(|i| {
                let me = NodeId(i as u32);
                let mut r = rng::stream(seed, i as u64, "bootstrap");
                let mut list: Vec<NodeId> = fixed.clone();
                let k = (self.random_peers as usize).min(nodes);
                list.extend(
                    sample(&mut r, nodes, k)
                        .into_iter()
                        .map(|j| NodeId(j as u32)),
                );
                if self.shard_peers > 0 {
                    for &t in subs.get(i).map(Vec::as_slice).unwrap_or(&[]) {
                        let pool = match subscribers.get(t as usize) {
                            Some(p) => p,
                            None => continue,
                        };
                        let k = (self.shard_peers as usize).min(pool.len());
                        list.extend(sample(&mut r, pool.len(), k).into_iter().map(|j| pool[j]));
                    }
                }
                list.sort();
                list.dedup();
                list.retain(|&p| p != me);
                list.into()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_lists_are_seeded_per_node_and_cover_each_shard() {
        // 40 nodes: 0..19 on shard 0, 20..39 on shard 1, node 5 on both.
        let mut subs: Vec<Vec<u16>> = (0..40).map(|i| vec![(i / 20) as u16]).collect();
        subs[5] = vec![0, 1];
        let mut subscribers: Vec<Vec<NodeId>> = vec![Vec::new(), Vec::new()];
        for (i, s) in subs.iter().enumerate() {
            for &t in s {
                subscribers[t as usize].push(NodeId(i as u32));
            }
        }
        let spec = BootstrapSpec {
            nodes: vec![0],
            groups: vec![],
            random_peers: 0,
            shard_peers: 3,
        };
        spec.validate(40).unwrap();
        let a = spec.resolve(7, 40, &[1], &subs, &subscribers);
        let b = spec.resolve(7, 40, &[1], &subs, &subscribers);
        let c = spec.resolve(8, 40, &[1], &subs, &subscribers);
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Node 30 (shard 1): knows 0 and 1, and 3 subscribers of shard 1 (at most, as its own
        // draw may be itself and is removed).
        let l = &a[30];
        assert!(l.contains(&NodeId(0)) && l.contains(&NodeId(1)));
        let on1 = l.iter().filter(|p| p.0 >= 20 || p.0 == 5).count();
        assert!((2..=3).contains(&on1), "{l:?}");
        assert!(!l.contains(&NodeId(30)));
        assert!(l.windows(2).all(|w| w[0] < w[1]));
        // Node 5 draws on both shards: 2 + 3 + 3 at most; its shard-0 draws may repeat 0, 1
        // or itself, but its shard-1 draws add at least 2 new nodes: at least 4.
        assert!((4..=8).contains(&a[5].len()), "{:?}", a[5]);
        // Node 0 does not know itself.
        assert!(!a[0].contains(&NodeId(0)));
        let mut found = Vec::new();
        PeerSource::Bootstrap(Bootstrap {
            peers: a[30].clone(),
        })
        .start(false, &mut found);
        assert_eq!(found.len(), a[30].len());
        assert!(found.iter().all(|f| f.origin == PeerOrigin::Bootstrap));
    }

    #[test]
    fn validation_names_the_field() {
        let e = BootstrapSpec {
            nodes: vec![50],
            ..Default::default()
        }
        .validate(10)
        .unwrap_err();
        assert_eq!(e.field, "overlay.source.nodes");
        let e = BootstrapSpec {
            shard_peers: 0,
            ..Default::default()
        }
        .validate(10)
        .unwrap_err();
        assert_eq!(e.field, "overlay.source");
    }
}
