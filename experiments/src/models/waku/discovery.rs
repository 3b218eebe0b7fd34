//! `[discovery]`: discovery protocols feeding the peer managers — `[discovery.discv5]`
//! ([`protocols::discovery::discv5::Discv5Config`]) — checked and mapped to the harness's
//! input.

use serde::{Deserialize, Serialize};

use protocols::discovery::discv5::Discv5Config;
use protocols::harness::Discv5Input;

use super::{WakuParams, config_error};
use crate::model::FieldError;

/// `[discovery]`: each discovery protocol's section (absent: off).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoverySpec {
    /// `[discovery.discv5]`: discv5 and nwaku's discovery loop on the nodes of its `groups`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discv5: Option<Discv5Config>,
}

impl DiscoverySpec {
    /// Whether any discovery protocol runs.
    pub fn any(&self) -> bool {
        self.discv5.is_some()
    }

    /// Whether none runs (the section is then left out of a written scenario).
    pub fn is_off(&self) -> bool {
        !self.any()
    }
}

/// Checks `[discovery]` for a run of `nodes` nodes (`u32::MAX` when unknown) with node
/// groups `groups`.
pub(super) fn validate(
    p: &WakuParams,
    nodes: usize,
    groups: &[String],
    errors: &mut Vec<FieldError>,
) {
    let Some(d) = &p.discovery.discv5 else {
        return;
    };
    if let Err(e) = d.validate(nodes) {
        errors.push(config_error(e));
    }
    if let Some(g) = d.groups.iter().find(|g| !groups.contains(g)) {
        errors.push(FieldError::new(
            "discovery.discv5.groups",
            format!("no node group is named {g:?} (groups: {groups:?})"),
        ));
    }
    if !p.overlay.runs_peer_manager() {
        errors.push(FieldError::new(
            "discovery.discv5",
            "discv5 hands the peers it finds to the peer manager, which this overlay does not \
             run: set overlay.mode = \"emergent\" (or overlay.peer_manager = true)",
        ));
    }
}

/// The harness's discv5 section: which nodes run it (`groups` is each node's group index,
/// `names` the group names).
pub(super) fn discv5_input(
    p: &WakuParams,
    groups: &[u32],
    names: &[String],
) -> Option<Discv5Input> {
    let cfg = p.discovery.discv5.clone()?;
    let runs = if cfg.groups.is_empty() {
        Vec::new()
    } else {
        groups
            .iter()
            .map(|&g| {
                names
                    .get(g as usize)
                    .is_some_and(|name| cfg.groups.contains(name))
            })
            .collect()
    };
    Some(Discv5Input { config: cfg, runs })
}
