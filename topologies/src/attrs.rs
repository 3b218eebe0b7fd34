//! Node attributes (role, region, bandwidth class) and the groups a scenario describes them
//! with.
//!
//! A scenario lists groups of nodes: a count or a fraction, a role, a region mix and a
//! bandwidth class (or mix). [`expand_groups`] turns them into one [`NodeAttrs`] per node,
//! deterministically: groups take consecutive node ids in the order they are listed, counts
//! are exact (largest-remainder rounding), and within a group regions and classes are spread
//! over the nodes by a seeded shuffle, so neither correlates with the node id.
//!
//! ```toml
//! [[groups]]
//! count = 5
//! role = "bootstrap"
//! region = "europe-west"
//! bandwidth = "datacenter"
//!
//! [[groups]]
//! fraction = 0.8          # of the nodes not placed by counts
//! role = "relay"          # region: the default weights; bandwidth: the default mix
//!
//! [[groups]]
//! fraction = 0.2
//! role = "light_client"
//! bandwidth = { mobile = 0.7, home = 0.3 }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bandwidth::{BandwidthClasses, ClassId};
use crate::error::{Result, TopologyError};
use crate::regions::{RegionId, RegionMatrix};
use crate::sample::{global_stream, largest_remainder, shuffle};

/// What a node does in the network. More roles will come; match with a wildcard arm.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// A full relay node (gossipsub).
    #[default]
    Relay,
    /// A bootstrap node that new nodes dial first.
    Bootstrap,
    /// A store node serving message history.
    Store,
    /// A light client (filter / light push), usually on a mobile or browser link.
    #[serde(alias = "light-client")]
    LightClient,
    /// A rendezvous point for peer discovery.
    Rendezvous,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 5] = [
        Role::Relay,
        Role::Bootstrap,
        Role::Store,
        Role::LightClient,
        Role::Rendezvous,
    ];

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Role::Relay => "relay",
            Role::Bootstrap => "bootstrap",
            Role::Store => "store",
            Role::LightClient => "light_client",
            Role::Rendezvous => "rendezvous",
        }
    }
}

/// The attributes of one node. 8 bytes; a million nodes take 8 MB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeAttrs {
    /// What the node does.
    pub role: Role,
    /// Where it is (an index into the [`RegionMatrix`]).
    pub region: RegionId,
    /// Its link (an index into the [`BandwidthClasses`]).
    pub bandwidth: ClassId,
    /// The index of the group that produced it.
    pub group: u16,
}

/// One name, or weights over names: `"europe-west"` or `{ europe-west = 0.6, us-east = 0.4 }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Mix {
    /// Every node gets this one.
    One(String),
    /// Nodes are split by these weights (normalised; they need not add up to 1).
    Weighted(BTreeMap<String, f64>),
}

impl Mix {
    /// The weights aligned with `names` (0 for names not mentioned). Errors name `field` for
    /// an unknown name, a negative or non-finite weight, or weights adding up to zero.
    pub fn dense(&self, field: &str, names: &[String], what: &'static str) -> Result<Vec<f64>> {
        let unknown = |name: &str| TopologyError::UnknownName {
            field: field.to_owned(),
            what,
            name: name.to_owned(),
            known: names.join(", "),
        };
        let mut dense = vec![0.0; names.len()];
        match self {
            Mix::One(name) => {
                let i = names
                    .iter()
                    .position(|n| n == name)
                    .ok_or_else(|| unknown(name))?;
                dense[i] = 1.0;
            }
            Mix::Weighted(map) => {
                for (name, &w) in map {
                    let i = names
                        .iter()
                        .position(|n| n == name)
                        .ok_or_else(|| unknown(name))?;
                    if !(w.is_finite() && w >= 0.0) {
                        return Err(TopologyError::invalid(
                            format!("{field}.{name}"),
                            w,
                            "a weight must be a finite number >= 0",
                        ));
                    }
                    dense[i] = w;
                }
                if dense.iter().sum::<f64>() <= 0.0 {
                    return Err(TopologyError::invalid(
                        field,
                        format!("{map:?}"),
                        "the weights add up to zero; give at least one positive weight",
                    ));
                }
            }
        }
        Ok(dense)
    }
}

/// A group of nodes with the same role and the same region and bandwidth mixes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// An optional label for reports. Default: none.
    #[serde(default)]
    pub name: Option<String>,
    /// Exactly this many nodes. Give `count` or `fraction`, not both.
    #[serde(default)]
    pub count: Option<u32>,
    /// This share, in [0, 1], of the nodes not placed by `count` groups. The fractions of all
    /// fraction groups must add up to 1; counts are rounded by largest remainder so that they
    /// add up exactly.
    #[serde(default)]
    pub fraction: Option<f64>,
    /// The nodes' role. Default: relay.
    #[serde(default)]
    pub role: Role,
    /// Region name or weights. Default: the network's default region weights
    /// (`regions.weights`).
    #[serde(default)]
    pub region: Option<Mix>,
    /// Bandwidth class name or weights. Default: the network's default mix
    /// (`bandwidth.default_mix`).
    #[serde(default)]
    pub bandwidth: Option<Mix>,
}

/// The node counts of `groups` for a network of `n` nodes, exactly adding up to `n`.
///
/// `count` groups take their counts; `fraction` groups share the rest by largest remainder.
/// Errors: a group with both or neither of `count` and `fraction`, a fraction outside [0, 1],
/// counts adding up to more than `n`, fractions not adding up to 1 (within 1e-9), or counts not
/// adding up to `n` when there is no fraction group.
/// No groups at all means one group of all `n` nodes.
pub fn group_counts(groups: &[GroupSpec], n: u32) -> Result<Vec<u32>> {
    if groups.is_empty() {
        return Ok(vec![n]);
    }
    let mut fixed: u64 = 0;
    let mut fractions = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let field = |f: &str| format!("groups[{i}].{f}");
        match (g.count, g.fraction) {
            (Some(_), Some(_)) => {
                return Err(TopologyError::invalid(
                    field("count"),
                    "both count and fraction",
                    "give either count or fraction, not both",
                ));
            }
            (None, None) => {
                return Err(TopologyError::invalid(
                    format!("groups[{i}]"),
                    "neither count nor fraction",
                    "give count (a number of nodes) or fraction (a share of the nodes)",
                ));
            }
            (Some(c), None) => fixed += u64::from(c),
            (None, Some(f)) => {
                if !(0.0..=1.0).contains(&f) {
                    return Err(TopologyError::invalid(
                        field("fraction"),
                        f,
                        "must be between 0 and 1",
                    ));
                }
                fractions.push(f);
            }
        }
    }
    if fixed > u64::from(n) {
        return Err(TopologyError::invalid(
            "groups",
            format!("counts adding up to {fixed}"),
            format!("the network has {n} nodes; lower the counts or raise `nodes`"),
        ));
    }
    let rest = u64::from(n) - fixed;
    let sum: f64 = fractions.iter().sum();
    if fractions.is_empty() {
        if rest != 0 {
            return Err(TopologyError::invalid(
                "groups",
                format!("counts adding up to {fixed}"),
                format!(
                    "the network has {n} nodes; make the counts add up to {n} or add a group \
                     with a fraction for the other {rest}"
                ),
            ));
        }
    } else if (sum - 1.0).abs() > 1e-9 {
        return Err(TopologyError::invalid(
            "groups",
            format!("fractions adding up to {sum}"),
            "the fractions share the nodes not placed by counts and must add up to 1",
        ));
    }
    let shares = if fractions.is_empty() {
        Vec::new()
    } else {
        largest_remainder(rest, &fractions)
    };
    let mut shares = shares.into_iter();
    Ok(groups
        .iter()
        .map(|g| match g.count {
            Some(c) => c,
            None => shares.next().expect("one share per fraction group") as u32,
        })
        .collect())
}

/// Expands groups into one attribute set per node (see the [module docs](self)).
///
/// `default_regions` and `default_bandwidth` are weights aligned with the region and class ids,
/// used for groups that give no mix. With no groups at all, every node is a relay with the
/// default mixes. Randomness: the stream `topology/groups`, consumed group by group, so adding
/// a group at the end does not change the earlier groups' nodes.
pub fn expand_groups(
    groups: &[GroupSpec],
    n: u32,
    regions: &RegionMatrix,
    default_regions: &[f64],
    classes: &BandwidthClasses,
    default_bandwidth: &[f64],
    seed: u64,
) -> Result<Vec<NodeAttrs>> {
    let implicit = [GroupSpec {
        fraction: Some(1.0),
        ..GroupSpec::default()
    }];
    let groups = if groups.is_empty() {
        &implicit[..]
    } else {
        groups
    };
    if groups.len() > usize::from(u16::MAX) {
        return Err(TopologyError::invalid(
            "groups",
            groups.len(),
            format!("at most {} groups", u16::MAX),
        ));
    }
    let counts = group_counts(groups, n)?;
    let class_names = classes.names();
    for (field, weights, len) in [
        ("regions.weights", default_regions, regions.len()),
        (
            "bandwidth.default_mix",
            default_bandwidth,
            class_names.len(),
        ),
    ] {
        if weights.len() != len {
            return Err(TopologyError::invalid(
                field,
                format!("{} weights", weights.len()),
                format!("give one weight per entry ({len})"),
            ));
        }
        let sum: f64 = weights.iter().sum();
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || !(sum > 0.0 && sum.is_finite())
        {
            return Err(TopologyError::invalid(
                field,
                format!("{weights:?}"),
                "weights must be finite, >= 0, and not all zero",
            ));
        }
    }
    let mut rng = global_stream(seed, "topology/groups");
    let mut out = Vec::with_capacity(n as usize);
    for (gi, (g, &count)) in groups.iter().zip(&counts).enumerate() {
        let rw = match &g.region {
            Some(m) => m.dense(&format!("groups[{gi}].region"), regions.names(), "region")?,
            None => default_regions.to_vec(),
        };
        let bw = match &g.bandwidth {
            Some(m) => m.dense(
                &format!("groups[{gi}].bandwidth"),
                &class_names,
                "bandwidth class",
            )?,
            None => default_bandwidth.to_vec(),
        };
        let mut region_of: Vec<RegionId> = Vec::with_capacity(count as usize);
        for (r, c) in largest_remainder(u64::from(count), &rw)
            .into_iter()
            .enumerate()
        {
            region_of.extend(std::iter::repeat_n(RegionId(r as u16), c as usize));
        }
        let mut class_of: Vec<ClassId> = Vec::with_capacity(count as usize);
        for (k, c) in largest_remainder(u64::from(count), &bw)
            .into_iter()
            .enumerate()
        {
            class_of.extend(std::iter::repeat_n(ClassId(k as u16), c as usize));
        }
        shuffle(&mut rng, &mut region_of);
        shuffle(&mut rng, &mut class_of);
        out.extend(
            region_of
                .into_iter()
                .zip(class_of)
                .map(|(region, bandwidth)| NodeAttrs {
                    role: g.role,
                    region,
                    bandwidth,
                    group: gi as u16,
                }),
        );
    }
    debug_assert_eq!(out.len(), n as usize);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frac(f: f64, role: Role) -> GroupSpec {
        GroupSpec {
            fraction: Some(f),
            role,
            ..GroupSpec::default()
        }
    }

    #[test]
    fn counts_and_fractions_add_up_exactly() {
        let groups = vec![
            GroupSpec {
                count: Some(5),
                role: Role::Bootstrap,
                ..GroupSpec::default()
            },
            frac(1.0 / 3.0, Role::Relay),
            frac(1.0 / 3.0, Role::Store),
            frac(1.0 / 3.0, Role::LightClient),
        ];
        // 100 - 5 = 95 shared in thirds: 31.67 each -> 31+31+31 = 93, the 2 left over go to
        // the first two (equal remainders, earlier first): 32, 32, 31.
        assert_eq!(group_counts(&groups, 100).unwrap(), vec![5, 32, 32, 31]);
    }

    #[test]
    fn impossible_groups_are_refused() {
        let too_many = vec![GroupSpec {
            count: Some(11),
            ..GroupSpec::default()
        }];
        assert!(group_counts(&too_many, 10).is_err());
        let short = vec![GroupSpec {
            count: Some(9),
            ..GroupSpec::default()
        }];
        assert!(group_counts(&short, 10).is_err());
        let bad_sum = vec![frac(0.5, Role::Relay), frac(0.4, Role::Store)];
        let e = group_counts(&bad_sum, 10).unwrap_err();
        assert!(e.to_string().contains("add up to 1"), "{e}");
        let out_of_range = vec![frac(1.5, Role::Relay)];
        assert!(matches!(
            group_counts(&out_of_range, 10),
            Err(TopologyError::InvalidParameter { ref field, .. }) if field == "groups[0].fraction"
        ));
        let both = vec![GroupSpec {
            count: Some(1),
            fraction: Some(1.0),
            ..GroupSpec::default()
        }];
        assert!(group_counts(&both, 10).is_err());
        assert!(group_counts(&[GroupSpec::default()], 10).is_err());
    }
}
