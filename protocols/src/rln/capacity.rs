//! Capacity planning: what memberships and limits allow on each shard.
//!
//! A member may publish `limit` messages per epoch, on any shard. So:
//! - the **network bound**: the sum of all members' limits / epoch messages/s, which any one
//!   shard could receive if every member sent there;
//! - the **planned bound** of a shard: the sum of the limits of the members that publish on it
//!   (their workload streams) / epoch, and in bytes/s each of them at its largest message
//!   (a member on several shards counts fully on each).
//!
//! The run's outputs put them beside the measured traffic (`rln.csv`).

use crate::relay::message::Topics;
use crate::rln::membership::Membership;

/// The bounds of one shard.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardCapacity {
    /// The shard (topic index).
    pub topic: u16,
    /// Members that publish on it.
    pub members: u32,
    /// Messages/s its members may send in total.
    pub planned_msgs_per_s: f64,
    /// Bytes/s of those messages (each member at its largest serialized WakuMessage).
    pub planned_bytes_per_s: f64,
    /// Messages/s every member together may send (the same for every shard).
    pub network_msgs_per_s: f64,
}

/// The bounds of every shard of `topics`. `publishing[t]` lists (node, largest message
/// bytes) of the nodes publishing on topic `t`.
pub fn capacity(
    m: &Membership,
    epoch_s: u64,
    topics: &Topics,
    publishing: &[Vec<(u32, u32)>],
) -> Vec<ShardCapacity> {
    let e = epoch_s as f64;
    let network = m.total_limit() as f64 / e;
    (0..topics.len())
        .map(|t| {
            let mut members = 0;
            let (mut msgs, mut bytes) = (0u64, 0u64);
            for &(node, size) in publishing.get(t).map(Vec::as_slice).unwrap_or(&[]) {
                if let Some((_, mem)) = m.of(sim_core::NodeId(node)) {
                    members += 1;
                    msgs += mem.limit as u64;
                    bytes += mem.limit as u64 * size as u64;
                }
            }
            ShardCapacity {
                topic: t as u16,
                members,
                planned_msgs_per_s: msgs as f64 / e,
                planned_bytes_per_s: bytes as f64 / e,
                network_msgs_per_s: network,
            }
        })
        .collect()
}
