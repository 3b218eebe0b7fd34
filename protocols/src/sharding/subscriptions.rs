//! Which shards each node subscribes to: rules per node group, in TOML
//! (`[[shards.subscriptions]]`), resolved from the seed.
//!
//! ```toml
//! [shards]
//! count = 64
//! default_shard = 0                 # a shard (almost) everyone joins
//!
//! [[shards.subscriptions]]          # users: 1 to 10 communities, plus the default shard
//! group = "users"
//! communities = { min = 1, max = 10 }
//! popularity = "harmonic"           # community i drawn with weight 1 / (i + 1)
//!
//! [[shards.subscriptions]]          # service nodes on 100 shards
//! group = "heavy"
//! shards = { first = 100 }         # shards 0..99 (all of them when there are fewer)
//!
//! [[shards.subscriptions]]          # everybody else (no `group`): every shard
//! shards = "all"
//! ```
//!
//! A node takes the first rule that names its group, else the rule without a group. Without
//! any rule every node subscribes to every shard. Communities are drawn without repetition
//! from `community_range` (default: every shard but the default shard), uniformly or with
//! harmonic (Zipf, exponent 1) popularity; the draws of node n use the stream (seed, n,
//! `"subscriptions"`), so adding a node does not change the others'.

use rand::Rng;
use serde::{Deserialize, Serialize};
use sim_core::rng;

use crate::relay::config::ConfigError;

/// How many communities a node joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum CountSpec {
    /// Exactly this many.
    Fixed(u32),
    /// Uniformly from `min` to `max` (inclusive).
    Range {
        /// Fewest.
        min: u32,
        /// Most.
        max: u32,
    },
}

/// A set of shards given by hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ShardSet {
    /// `"all"`: every shard of the run.
    Named(AllShards),
    /// A list of shard indices.
    List(Vec<u16>),
    /// `{ range = [a, b] }`: shards a to b inclusive.
    Range {
        /// First and last shard.
        range: [u16; 2],
    },
    /// `{ first = n }`: shards 0 to n - 1 (every shard when the run has fewer).
    First {
        /// How many.
        first: u16,
    },
}

/// The word `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllShards {
    /// Every shard.
    All,
}

/// How popular communities are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Popularity {
    /// Every community equally likely.
    #[default]
    Uniform,
    /// The i-th community of the range (from 0) with weight 1 / (i + 1): a few large
    /// communities and a long tail (Zipf with exponent 1).
    Harmonic,
}

/// One subscription rule (`[[shards.subscriptions]]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubscriptionRule {
    /// The node group (`[[network.groups]]` `name`) it applies to; absent: every node of a
    /// group no other rule names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Shards given by hand: `"all"`, a list, `{ range = [a, b] }` or `{ first = n }`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<ShardSet>,
    /// Communities drawn per node: a number or `{ min, max }`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub communities: Option<CountSpec>,
    /// Shards communities are drawn from, inclusive. Default: every shard but the default
    /// shard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_range: Option<[u16; 2]>,
    /// How communities are drawn. Default uniform.
    pub popularity: Popularity,
    /// Also join `shards.default_shard` (when the run has one). Default true.
    #[serde(default = "yes")]
    pub default_shard: bool,
}

fn yes() -> bool {
    true
}

fn err(field: String, problem: impl Into<String>, fix: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        problem: problem.into(),
        fix: fix.into(),
    }
}

impl SubscriptionRule {
    fn range(&self, shards: u16, default_shard: Option<u16>) -> Vec<u16> {
        match self.community_range {
            Some([a, b]) => (a..=b.min(shards.saturating_sub(1))).collect(),
            None => (0..shards).filter(|&s| Some(s) != default_shard).collect(),
        }
    }
}

/// Checks the rules for a run of `shards` shards with the given group names.
pub fn validate(
    rules: &[SubscriptionRule],
    shards: u16,
    default_shard: Option<u16>,
    group_names: &[String],
) -> Result<(), ConfigError> {
    if let Some(d) = default_shard
        && d >= shards
    {
        return Err(err(
            "shards.default_shard".into(),
            format!("shard {d} does not exist (the run has {shards} shards)"),
            format!("use a shard below {shards}"),
        ));
    }
    let mut catch_all = 0;
    for (i, r) in rules.iter().enumerate() {
        let f = |name: &str| format!("shards.subscriptions[{i}].{name}");
        match &r.group {
            Some(g) if !group_names.contains(g) => {
                return Err(err(
                    f("group"),
                    format!("no node group is named {g:?}"),
                    format!("use one of {group_names:?} (the `name` of [[network.groups]])"),
                ));
            }
            Some(_) => {}
            None => catch_all += 1,
        }
        if r.shards.is_none()
            && r.communities.is_none()
            && !(r.default_shard && default_shard.is_some())
        {
            return Err(err(
                format!("shards.subscriptions[{i}]"),
                "subscribes to nothing",
                "give `shards`, `communities`, or a `shards.default_shard`",
            ));
        }
        match &r.shards {
            Some(ShardSet::List(v)) => {
                if let Some(s) = v.iter().find(|&&s| s >= shards) {
                    return Err(err(
                        f("shards"),
                        format!("shard {s} does not exist (the run has {shards} shards)"),
                        format!("use shards below {shards}"),
                    ));
                }
            }
            Some(ShardSet::First { first: 0 }) => {
                return Err(err(f("shards"), "first = 0 is no shard", "give at least 1"));
            }
            Some(ShardSet::Range { range: [a, b] }) if a > b || *b >= shards => {
                return Err(err(
                    f("shards"),
                    format!("range [{a}, {b}] is not within 0..{shards}"),
                    format!("give a <= b < {shards}"),
                ));
            }
            _ => {}
        }
        if let Some(CountSpec::Range { min, max }) = r.communities
            && min > max
        {
            return Err(err(
                f("communities"),
                format!("min = {min} is above max = {max}"),
                "give min <= max",
            ));
        }
        if let Some([a, b]) = r.community_range
            && (a > b || b >= shards)
        {
            return Err(err(
                f("community_range"),
                format!("range [{a}, {b}] is not within 0..{shards}"),
                format!("give a <= b < {shards}"),
            ));
        }
        if r.communities.is_some() && r.range(shards, default_shard).is_empty() {
            return Err(err(
                f("community_range"),
                "no shard to draw communities from",
                "add shards or widen community_range",
            ));
        }
    }
    if catch_all > 1 {
        return Err(err(
            "shards.subscriptions".into(),
            "more than one rule without a `group`",
            "keep one catch-all rule",
        ));
    }
    if !rules.is_empty() && catch_all == 0 {
        if let Some(g) = group_names
            .iter()
            .find(|g| !rules.iter().any(|r| r.group.as_ref() == Some(*g)))
        {
            return Err(err(
                "shards.subscriptions".into(),
                format!("no rule for the nodes of group {g:?}"),
                "add a rule for it, or one without `group` for everybody else",
            ));
        }
    }
    Ok(())
}

/// Each node's shards, ascending. `node_groups[n]` indexes `group_names`. The rules must be
/// valid ([`validate`]).
pub fn resolve(
    rules: &[SubscriptionRule],
    shards: u16,
    default_shard: Option<u16>,
    node_groups: &[u32],
    group_names: &[String],
    seed: u64,
) -> Vec<Vec<u16>> {
    if rules.is_empty() {
        return vec![(0..shards).collect(); node_groups.len()];
    }
    node_groups
        .iter()
        .enumerate()
        .map(|(n, &g)| {
            let name = group_names.get(g as usize);
            let rule = rules
                .iter()
                .find(|r| r.group.is_some() && r.group.as_ref() == name)
                .or_else(|| rules.iter().find(|r| r.group.is_none()));
            let Some(r) = rule else {
                return Vec::new();
            };
            let mut out: Vec<u16> = Vec::new();
            if r.default_shard
                && let Some(d) = default_shard
            {
                out.push(d);
            }
            match &r.shards {
                Some(ShardSet::Named(AllShards::All)) => out.extend(0..shards),
                Some(ShardSet::List(v)) => out.extend(v.iter().copied()),
                Some(ShardSet::Range { range: [a, b] }) => out.extend(*a..=*b),
                Some(ShardSet::First { first }) => out.extend(0..(*first).min(shards)),
                None => {}
            }
            if let Some(c) = r.communities {
                let mut rng = rng::stream(seed, n as u64, "subscriptions");
                let k = match c {
                    CountSpec::Fixed(k) => k,
                    CountSpec::Range { min, max } => rng.random_range(min..=max),
                };
                let pool = r.range(shards, default_shard);
                out.extend(draw(&pool, k as usize, r.popularity, &mut rng));
            }
            out.sort();
            out.dedup();
            out
        })
        .collect()
}

/// Draws `k` distinct shards of `pool` (all of them when k >= its length).
fn draw(pool: &[u16], k: usize, pop: Popularity, rng: &mut impl Rng) -> Vec<u16> {
    if k >= pool.len() {
        return pool.to_vec();
    }
    match pop {
        Popularity::Uniform => rand::seq::index::sample(rng, pool.len(), k)
            .into_iter()
            .map(|i| pool[i])
            .collect(),
        Popularity::Harmonic => {
            // Cumulative weights 1 / (i + 1); divisions and additions only, so every
            // platform gets the same bits.
            let mut cum = Vec::with_capacity(pool.len());
            let mut total = 0.0f64;
            for i in 0..pool.len() {
                total += 1.0 / (i as f64 + 1.0);
                cum.push(total);
            }
            let mut chosen: Vec<usize> = Vec::with_capacity(k);
            while chosen.len() < k {
                let x = rng.random::<f64>() * total;
                let i = cum.partition_point(|&c| c <= x).min(pool.len() - 1);
                if !chosen.contains(&i) {
                    chosen.push(i);
                }
            }
            chosen.into_iter().map(|i| pool[i]).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["users".into(), "heavy".into(), "relays".into()]
    }

    fn rules() -> Vec<SubscriptionRule> {
        toml::from_str::<toml::Table>(
            r#"
            [[r]]
            group = "users"
            communities = { min = 1, max = 10 }
            popularity = "harmonic"
            [[r]]
            group = "heavy"
            shards = { first = 100 }
            default_shard = false
            [[r]]
            shards = "all"
            "#,
        )
        .unwrap()["r"]
            .clone()
            .try_into()
            .unwrap()
    }

    #[test]
    fn toml_rules_resolve_per_group() {
        let rules = rules();
        validate(&rules, 128, Some(0), &names()).unwrap();
        // Nodes 0..99 users, 100..101 heavy, 102..103 relays.
        let groups: Vec<u32> = (0..104)
            .map(|n| match n {
                0..100 => 0,
                100..102 => 1,
                _ => 2,
            })
            .collect();
        let subs = resolve(&rules, 128, Some(0), &groups, &names(), 9);
        assert_eq!(subs, resolve(&rules, 128, Some(0), &groups, &names(), 9));
        assert_ne!(subs, resolve(&rules, 128, Some(0), &groups, &names(), 10));
        for s in &subs[..100] {
            // The default shard plus 1 to 10 communities from 1..127.
            assert_eq!(s[0], 0);
            assert!((2..=11).contains(&s.len()), "{s:?}");
            assert!(s.windows(2).all(|w| w[0] < w[1]));
        }
        assert_eq!(subs[100], (0..100).collect::<Vec<u16>>());
        // With 64 shards, `first = 100` means all 64.
        let small = resolve(&rules, 64, Some(0), &groups, &names(), 9);
        assert_eq!(small[101], (0..64).collect::<Vec<u16>>());
        assert_eq!(subs[103], (0..128).collect::<Vec<u16>>());
        // Harmonic popularity: community 1 (weight 1) is joined far more often than
        // community 100 (weight 1/100). With 100 users and 5.5 communities each on average,
        // shard 1 gets about 100 x 5.5 / H(127) ~ 100 joins capped at 100 (in practice > 50),
        // shard 100 about 1.
        let count = |sh: u16| subs[..100].iter().filter(|s| s.contains(&sh)).count();
        assert!(
            count(1) > 50 && count(1) > 5 * count(100),
            "{} {}",
            count(1),
            count(100)
        );
    }

    #[test]
    fn no_rules_means_every_shard_and_errors_name_the_field() {
        assert_eq!(
            resolve(&[], 3, None, &[0, 0], &names(), 1),
            vec![vec![0, 1, 2]; 2]
        );
        let mut bad = rules();
        bad[0].group = Some("nobody".into());
        assert_eq!(
            validate(&bad, 128, Some(0), &names()).unwrap_err().field,
            "shards.subscriptions[0].group"
        );
        let mut bad = rules();
        bad[1].shards = Some(ShardSet::Range { range: [0, 200] });
        assert_eq!(
            validate(&bad, 128, Some(0), &names()).unwrap_err().field,
            "shards.subscriptions[1].shards"
        );
        let mut bad = rules();
        bad.pop();
        // No catch-all and group "relays" has no rule.
        assert_eq!(
            validate(&bad, 128, Some(0), &names()).unwrap_err().field,
            "shards.subscriptions"
        );
        assert_eq!(
            validate(&rules(), 128, Some(128), &names())
                .unwrap_err()
                .field,
            "shards.default_shard"
        );
        let mut bad = rules();
        bad[0].communities = Some(CountSpec::Range { min: 5, max: 2 });
        assert_eq!(
            validate(&bad, 128, Some(0), &names()).unwrap_err().field,
            "shards.subscriptions[0].communities"
        );
    }

    #[test]
    fn uniform_draws_cover_the_range_without_repeats() {
        let mut r = rng::stream(1, 0, "t");
        let pool: Vec<u16> = (1..=8).collect();
        let mut seen = [0u32; 9];
        for _ in 0..800 {
            let d = draw(&pool, 3, Popularity::Uniform, &mut r);
            let mut s = d.clone();
            s.sort();
            s.dedup();
            assert_eq!(s.len(), 3);
            for x in d {
                seen[x as usize] += 1;
            }
        }
        // 800 x 3 / 8 = 300 each on average; every shard well within 200..400.
        assert!(
            seen[1..].iter().all(|&c| (200..400).contains(&c)),
            "{seen:?}"
        );
        assert_eq!(draw(&pool, 20, Popularity::Harmonic, &mut r), pool);
    }
}
