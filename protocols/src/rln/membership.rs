//! The run's membership registry: who holds a membership with which limit, when each
//! registration becomes visible, and the Merkle roots it produces.
//!
//! Root 0 is the tree of every membership registered before the run. Each registration during
//! the run (in order of time, then node) adds the next root. It lands on chain
//! `registration_delay_ms` after it is sent and nodes see it at their next root poll (nwaku
//! `trackRootChanges`, every `root_poll_ms`; all nodes poll on one grid here). A validator
//! accepts the newest visible root and the `accepted_roots` before it (nwaku
//! `validRoots`, `AcceptableRootWindowSize`).
//!
//! Bound: one entry per registration and one root per registration during the run.

use sim_core::{NodeId, SimDuration, SimTime};

use crate::rln::config::{ConfigError, MemberSpec, RlnConfig};

/// The root a non-member's fabricated proof names: never valid.
pub const NO_ROOT: u32 = u32::MAX;
/// The member index of a message without a membership.
pub const NO_MEMBER: u32 = u32::MAX;

/// One membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its holder.
    pub node: NodeId,
    /// Messages per epoch.
    pub limit: u32,
    /// From when nodes know it (its root is visible).
    pub visible_at: SimTime,
    /// The first root that contains it.
    pub root: u32,
}

/// The run's memberships and roots.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Membership {
    /// Every membership, by index.
    pub members: Vec<Member>,
    /// Each node's membership (index into `members`).
    by_node: Vec<Option<u32>>,
    /// When each root becomes visible, by root index (nondecreasing).
    root_visible: Vec<SimTime>,
    accepted_roots: u32,
}

impl Membership {
    /// The registry of `specs` (checked against `nodes`); a node registers once.
    pub fn new(cfg: &RlnConfig, specs: &[MemberSpec], nodes: usize) -> Result<Self, ConfigError> {
        let mut by_node = vec![None; nodes];
        let mut order: Vec<(u64, u32, u32)> = Vec::with_capacity(specs.len());
        for (i, s) in specs.iter().enumerate() {
            crate::rln::config::check_member(s, nodes, &format!("rln.members[{i}]"))?;
            if by_node[s.node as usize].is_some() {
                return Err(ConfigError::new(
                    format!("rln.members[{i}].node"),
                    format!("node {} registers twice", s.node),
                    "give each node at most one membership",
                ));
            }
            by_node[s.node as usize] = Some(0);
            let at = SimDuration::try_from_secs_f64("at_s", s.at_s).map_err(|e| {
                ConfigError::new(
                    format!("rln.members[{i}].at_s"),
                    e.to_string(),
                    "give seconds",
                )
            })?;
            order.push((at.as_nanos(), s.node, s.limit.unwrap_or(cfg.limit())));
        }
        order.sort();
        let delay = cfg.registration_delay_ms * 1_000_000;
        let poll = cfg.root_poll_ms * 1_000_000;
        let mut members = Vec::with_capacity(order.len());
        let mut root_visible = vec![SimTime::ZERO];
        for (at, node, limit) in order {
            let (visible_at, root) = if at == 0 {
                (SimTime::ZERO, 0)
            } else {
                let landed = at + delay;
                let seen = landed.div_ceil(poll) * poll;
                root_visible.push(SimTime::from_nanos(seen));
                (SimTime::from_nanos(seen), (root_visible.len() - 1) as u32)
            };
            by_node[node as usize] = Some(members.len() as u32);
            members.push(Member {
                node: NodeId(node),
                limit,
                visible_at,
                root,
            });
        }
        Ok(Membership {
            members,
            by_node,
            root_visible,
            accepted_roots: cfg.accepted_roots,
        })
    }

    /// The membership of `node`, whether or not visible yet.
    pub fn of(&self, node: NodeId) -> Option<(u32, &Member)> {
        let i = (*self.by_node.get(node.index())?)?;
        Some((i, &self.members[i as usize]))
    }

    /// The newest root visible at `now`.
    pub fn latest_root(&self, now: SimTime) -> u32 {
        (self.root_visible.partition_point(|&t| t <= now) - 1) as u32
    }

    /// Whether a proof naming `root` is accepted at `now` (nwaku `validateRoot`).
    pub fn root_ok(&self, root: u32, now: SimTime) -> bool {
        let latest = self.latest_root(now);
        root != NO_ROOT && root <= latest && latest - root <= self.accepted_roots
    }

    /// Roots produced over the run (the initial one included).
    pub fn roots(&self) -> usize {
        self.root_visible.len()
    }

    /// Sum of every member's limit.
    pub fn total_limit(&self) -> u64 {
        self.members.iter().map(|m| m.limit as u64).sum()
    }
}
