//! `[shards]`: the cluster, its shards and who subscribes to what, mapped to the harness's
//! [`ShardingInput`] (protected shards go to relay, [`super::relay`]).

use serde::{Deserialize, Serialize};

use protocols::harness::ShardingInput;
use protocols::sharding::subscriptions::{self, SubscriptionRule};

use super::config_error;
use crate::model::FieldError;

/// `[shards]`: static sharding of one cluster, and who subscribes to what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShardSpec {
    /// Cluster id. Default 1 (The Waku Network); 16 to 65535 are for applications.
    pub cluster_id: u16,
    /// Number of shards `/waku/2/rs/<cluster_id>/0 .. count-1`. Default 1. At most 1024
    /// (static sharding's limit).
    pub count: u16,
    /// A shard the subscription rules add to every node (unless a rule says
    /// `default_shard = false`). Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_shard: Option<u16>,
    /// Shards content topics are spread over by autosharding (streams with `autoshard`).
    /// Default: `count` (The Waku Network: 8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autosharding_shards: Option<u32>,
    /// Protected shards: messages must be signed with the shard's key (64 bytes of `meta`);
    /// others are rejected. Default none.
    pub protected: Vec<u16>,
    /// `[[shards.subscriptions]]`: rules per node group. Default: every node on every shard.
    pub subscriptions: Vec<SubscriptionRule>,
}

impl Default for ShardSpec {
    fn default() -> Self {
        ShardSpec {
            cluster_id: 1,
            count: 1,
            default_shard: None,
            autosharding_shards: None,
            protected: Vec::new(),
            subscriptions: Vec::new(),
        }
    }
}

/// Checks the number of shards.
pub(super) fn validate_count(sh: &ShardSpec, errors: &mut Vec<FieldError>) {
    if sh.count == 0 || sh.count > 1024 {
        errors.push(FieldError::new(
            "shards.count",
            format!(
                "must be in 1..=1024 (static sharding has 1024 shards per cluster), got {}",
                sh.count
            ),
        ));
    }
}

/// Checks the subscription rules (against the node `groups`), autosharding and the protected
/// shards; `count` is the number of shards (clamped to 1..=1024).
pub(super) fn validate(
    sh: &ShardSpec,
    count: u16,
    groups: &[String],
    errors: &mut Vec<FieldError>,
) {
    if let Err(e) = subscriptions::validate(&sh.subscriptions, count, sh.default_shard, groups) {
        errors.push(config_error(e));
    }
    if let Some(k) = sh.autosharding_shards
        && !(1..=1024).contains(&k)
    {
        errors.push(FieldError::new(
            "shards.autosharding_shards",
            format!("must be in 1..=1024, got {k}"),
        ));
    }
    if let Some(t) = sh.protected.iter().find(|&&t| t >= count) {
        errors.push(FieldError::new(
            "shards.protected",
            format!("shard {t} does not exist (the run has {count} shards)"),
        ));
    }
}

/// The pubsub topic of each shard, by shard index.
pub(super) fn topics(sh: &ShardSpec) -> Vec<String> {
    (0..sh.count)
        .map(|i| format!("/waku/2/rs/{}/{i}", sh.cluster_id))
        .collect()
}

/// Each node's shards, from the subscription rules (`groups`: each node's group index,
/// `names`: the group names).
pub(super) fn subscriptions(
    sh: &ShardSpec,
    groups: &[u32],
    names: &[String],
    seed: u64,
) -> Vec<Vec<u16>> {
    subscriptions::resolve(
        &sh.subscriptions,
        sh.count,
        sh.default_shard,
        groups,
        names,
        seed,
    )
}

/// The harness's sharding section.
pub(super) fn input(sh: &ShardSpec, topics: Vec<String>, subs: Vec<Vec<u16>>) -> ShardingInput {
    ShardingInput {
        topics,
        subscriptions: subs,
        cluster: sh.cluster_id,
        clusters: Vec::new(),
        autosharding_shards: sh.autosharding_shards.unwrap_or(0),
    }
}
