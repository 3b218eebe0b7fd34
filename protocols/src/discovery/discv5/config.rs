//! `[discovery.discv5]`: discv5's configuration, its defaults (nim-eth's and nwaku's) and its
//! validation.

use serde::{Deserialize, Serialize};

use super::packet::{self, ShardField};
use crate::relay::config::ConfigError;

/// `[discovery.discv5]`: discv5 and nwaku's discovery loop. Defaults are nim-eth's and
/// nwaku's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Discv5Config {
    /// Nodes every discv5 node knows at start (nwaku `--discv5-bootstrap-node`). Default
    /// `[0, 1, 2]`.
    pub bootstrap_nodes: Vec<u32>,
    /// Names of the node groups that run discv5 (empty, the default: every node).
    pub groups: Vec<String>,
    /// Nodes per bucket, k. Default 16.
    pub bucket_size: u32,
    /// Nodes per replacement cache. Default 8.
    pub replacement_cache: u32,
    /// FINDNODE requests in flight per lookup. Default 3.
    pub alpha: u32,
    /// Log-distances per FINDNODE, 1 to 3. Default 3.
    pub findnode_distances: u32,
    /// Most ENRs in a NODES answer (`findNodeResultLimit`). Default 16.
    pub results_limit: u32,
    /// ENRs per NODES packet, 1 to 3. Default 3.
    pub nodes_per_packet: u32,
    /// Wait for an answer, in ms (nim-eth 4,000; the spec 500). Default 4000.
    pub request_timeout_ms: u64,
    /// Wait for the handshake after a WHOAREYOU, in ms (nim-eth 2,000; the spec 1,000).
    /// Default 2000.
    pub handshake_timeout_ms: u64,
    /// Revalidation pings come every uniform 0 to this many ms. Default 10000.
    pub revalidate_max_ms: u64,
    /// A node added after an inbound handshake is pinged within this many ms. Default 5000.
    pub ping_back_max_ms: u64,
    /// A random lookup runs when none ran for this many seconds. Default 300.
    pub refresh_interval_s: u64,
    /// Sessions a node keeps. Default 256.
    pub session_cache: u32,
    /// WHOAREYOUs awaiting their handshake a node keeps; when full, expired ones go first,
    /// then the oldest (whose handshake is then dropped). 0, the default: no limit, as in
    /// nim-eth, which keeps each for `handshake_timeout_ms` (`transport.nim`
    /// `sendWhoareyou`).
    pub max_challenges: u32,
    /// Nodes of one IP group per bucket. Default 2.
    pub bucket_ip_limit: u32,
    /// Nodes of one IP group per table. Default 10.
    pub table_ip_limit: u32,
    /// nwaku's loop sleeps this many ms between random lookups. Default 5000.
    pub search_interval_ms: u64,
    /// Requests in flight per node. Default 64.
    pub max_pending_requests: u32,
    /// Lookups at once per node. Default 4.
    pub max_lookups: u32,
    /// Bytes every ENR carries beyond the fields of [`packet::enr_bytes`] (e.g. a
    /// `multiaddrs` field). Default 0.
    pub enr_extra_bytes: u32,
    /// Keep only ENRs sharing a shard with the node (nwaku's predicate). Default true.
    pub shard_filter: bool,
}

impl Default for Discv5Config {
    fn default() -> Self {
        Discv5Config {
            bootstrap_nodes: vec![0, 1, 2],
            groups: Vec::new(),
            bucket_size: 16,
            replacement_cache: 8,
            alpha: 3,
            findnode_distances: 3,
            results_limit: 16,
            nodes_per_packet: 3,
            request_timeout_ms: 4000,
            handshake_timeout_ms: 2000,
            revalidate_max_ms: 10_000,
            ping_back_max_ms: 5000,
            refresh_interval_s: 300,
            session_cache: 256,
            max_challenges: 0,
            bucket_ip_limit: 2,
            table_ip_limit: 10,
            search_interval_ms: 5000,
            max_pending_requests: 64,
            max_lookups: 4,
            enr_extra_bytes: 0,
            shard_filter: true,
        }
    }
}

fn err(field: &str, problem: impl Into<String>, fix: impl Into<String>) -> ConfigError {
    ConfigError {
        field: format!("discovery.discv5.{field}"),
        problem: problem.into(),
        fix: fix.into(),
    }
}

impl Discv5Config {
    /// Checks the configuration for a run of `nodes` nodes.
    pub fn validate(&self, nodes: usize) -> Result<(), ConfigError> {
        if let Some(n) = self.bootstrap_nodes.iter().find(|&&n| n as usize >= nodes) {
            return Err(err(
                "bootstrap_nodes",
                format!("node {n} does not exist (the run has {nodes})"),
                format!("use node ids below {nodes}"),
            ));
        }
        if self.bootstrap_nodes.is_empty() {
            return Err(err(
                "bootstrap_nodes",
                "empty: no node could find another",
                "name at least one node",
            ));
        }
        for (f, v) in [
            ("bucket_size", self.bucket_size as u64),
            ("alpha", self.alpha as u64),
            ("results_limit", self.results_limit as u64),
            ("request_timeout_ms", self.request_timeout_ms),
            ("handshake_timeout_ms", self.handshake_timeout_ms),
            ("revalidate_max_ms", self.revalidate_max_ms),
            ("ping_back_max_ms", self.ping_back_max_ms),
            ("refresh_interval_s", self.refresh_interval_s),
            ("session_cache", self.session_cache as u64),
            ("search_interval_ms", self.search_interval_ms),
            ("max_lookups", self.max_lookups as u64),
        ] {
            if v == 0 {
                return Err(err(f, "must be positive", "give a positive value"));
            }
        }
        if self.bucket_size > 64 || self.results_limit > 64 {
            return Err(err(
                "bucket_size",
                "bucket_size and results_limit are at most 64",
                "use 16 (nim-eth)",
            ));
        }
        if !(1..=3).contains(&self.findnode_distances) {
            return Err(err(
                "findnode_distances",
                format!("{} is not 1 to 3", self.findnode_distances),
                "use 3 (nim-eth)",
            ));
        }
        if !(1..=3).contains(&self.nodes_per_packet) {
            return Err(err(
                "nodes_per_packet",
                format!(
                    "{} ENRs do not fit a 1,280-byte packet",
                    self.nodes_per_packet
                ),
                "use 1 to 3 (nim-eth 3)",
            ));
        }
        let biggest = packet::enr_bytes(ShardField::Vector, self.enr_extra_bytes);
        if packet::nodes_bytes(self.nodes_per_packet * biggest) > packet::MAX_PACKET_BYTES
            && self.nodes_per_packet > 1
        {
            return Err(err(
                "enr_extra_bytes",
                format!(
                    "{} ENRs of {biggest} bytes do not fit a 1,280-byte packet",
                    self.nodes_per_packet
                ),
                "lower enr_extra_bytes or nodes_per_packet",
            ));
        }
        if self.max_pending_requests < self.alpha {
            return Err(err(
                "max_pending_requests",
                format!(
                    "{} is below alpha ({})",
                    self.max_pending_requests, self.alpha
                ),
                "allow at least alpha requests in flight",
            ));
        }
        Ok(())
    }
}
