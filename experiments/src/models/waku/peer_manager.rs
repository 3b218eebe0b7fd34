//! `[overlay]` and `[peer_manager]`: how the connections come about (wired from the topology,
//! or built by each node's peer manager from its peer source), mapped to the harness's
//! network edges and [`PeerManagerInput`].

use serde::{Deserialize, Serialize};
use sim_core::NodeId;

use protocols::discovery::BootstrapSpec;
use protocols::harness::PeerManagerInput;
use topologies::Network;

use super::{WakuParams, config_error};
use crate::model::FieldError;

/// How the overlay comes about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlayMode {
    /// The `[network.topology]` graph, wired at time 0 (controlled studies).
    #[default]
    Static,
    /// No wiring: each node's peer manager dials peers from its peer source, as the real
    /// network forms.
    Emergent,
}

/// `[overlay]`: how the connections come about.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OverlaySpec {
    /// `"static"` (default) or `"emergent"`.
    pub mode: OverlayMode,
    /// Run nwaku's peer manager on every node. Default: true when emergent, false when
    /// static (with true, it maintains the wired overlay: prunes excess, dials more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_manager: Option<bool>,
    /// Where peer managers find peers. Default `{ kind = "bootstrap" }`.
    pub source: SourceSpec,
}

impl OverlaySpec {
    /// Whether nodes run the peer manager.
    pub fn runs_peer_manager(&self) -> bool {
        self.peer_manager
            .unwrap_or(self.mode == OverlayMode::Emergent)
    }
}

fn twenty() -> u32 {
    20
}

/// `[overlay.source]`: the peer managers' peer source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceSpec {
    /// A bootstrap list per node ([`BootstrapSpec`]).
    Bootstrap {
        /// Node ids every node knows.
        #[serde(default)]
        nodes: Vec<u32>,
        /// Names of node groups whose nodes every node knows.
        #[serde(default)]
        groups: Vec<String>,
        /// Random nodes each node knows. Default 0.
        #[serde(default)]
        random_peers: u32,
        /// For each subscribed shard, this many random nodes on it. Default 20.
        #[serde(default = "twenty")]
        shard_peers: u32,
    },
    /// No source: nodes only learn of peers that connect to them.
    None,
}

impl Default for SourceSpec {
    fn default() -> Self {
        SourceSpec::Bootstrap {
            nodes: Vec::new(),
            groups: Vec::new(),
            random_peers: 0,
            shard_peers: 20,
        }
    }
}

impl SourceSpec {
    /// The bootstrap spec (None for `kind = "none"`).
    pub fn bootstrap(&self) -> Option<BootstrapSpec> {
        match self {
            SourceSpec::Bootstrap {
                nodes,
                groups,
                random_peers,
                shard_peers,
            } => Some(BootstrapSpec {
                nodes: nodes.clone(),
                groups: groups.clone(),
                random_peers: *random_peers,
                shard_peers: *shard_peers,
            }),
            SourceSpec::None => None,
        }
    }
}

/// Checks `[peer_manager]` (when nodes run one) and `[overlay]`; `nodes` is the node count
/// (`u32::MAX` when unknown), `groups` the node group names.
pub(super) fn validate(
    p: &WakuParams,
    nodes: usize,
    groups: &[String],
    errors: &mut Vec<FieldError>,
) {
    if p.overlay.runs_peer_manager()
        && let Err(e) = p.peer_manager.validate(p.relay.d_high)
    {
        errors.push(config_error(e));
    }
    if let Some(b) = p.overlay.source.bootstrap() {
        if let Some(g) = b.groups.iter().find(|g| !groups.contains(g)) {
            errors.push(FieldError::new(
                "overlay.source.groups",
                format!("no node group is named {g:?} (groups: {groups:?})"),
            ));
        }
        if p.overlay.runs_peer_manager()
            && let Err(e) = b.validate(nodes)
        {
            errors.push(config_error(e));
        }
    }
    if p.overlay.mode == OverlayMode::Emergent && !p.overlay.runs_peer_manager() {
        errors.push(FieldError::new(
            "overlay.peer_manager",
            "an emergent overlay is built by the peer managers: set peer_manager = true \
             or mode = \"static\"",
        ));
    }
}

/// The connections wired at time 0: the topology's edges when static, none when emergent.
pub(super) fn edges(overlay: &OverlaySpec, net: &Network) -> Vec<(u32, u32)> {
    match overlay.mode {
        OverlayMode::Static => net
            .graph
            .edges()
            .iter()
            // `a` is the dialler when the edge has a direction.
            .map(|e| (e.a.0, e.b.0))
            .collect(),
        OverlayMode::Emergent => Vec::new(),
    }
}

/// The harness's peer manager section (`None` when nodes run none): `[peer_manager]` and each
/// node's bootstrap list. `groups` is each node's group index, `names` the group names,
/// `subs` each node's shards.
pub(super) fn input(
    p: &WakuParams,
    seed: u64,
    n: usize,
    groups: &[u32],
    names: &[String],
    ntopics: usize,
    subs: &[Vec<u16>],
) -> Option<PeerManagerInput> {
    if !p.overlay.runs_peer_manager() {
        return None;
    }
    let bootstrap: Vec<Vec<NodeId>> = match p.overlay.source.bootstrap() {
        Some(b) => {
            let extra: Vec<u32> = (0..n as u32)
                .filter(|&i| {
                    names
                        .get(groups[i as usize] as usize)
                        .is_some_and(|g| b.groups.contains(g))
                })
                .collect();
            let mut subscribers: Vec<Vec<NodeId>> = vec![Vec::new(); ntopics];
            for (i, v) in subs.iter().enumerate() {
                for &t in v {
                    subscribers[t as usize].push(NodeId(i as u32));
                }
            }
            b.resolve(seed, n, &extra, subs, &subscribers)
                .into_iter()
                .map(|l| l.to_vec())
                .collect()
        }
        None => Vec::new(),
    };
    Some(PeerManagerInput {
        config: p.peer_manager.clone(),
        bootstrap,
        relay_capable: Vec::new(),
    })
}
