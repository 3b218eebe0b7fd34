//! `[rln]`: RLN rate limiting (17/WAKU2-RLN-RELAY as nwaku runs it). Every default is nwaku's
//! (`waku/waku_rln_relay/constants.nim`, `rln_relay.nim`, nwaku v0.36.0-114-g7d1c6abaa);
//! `preset = "waku_network"` takes the Waku Network's 100 messages per 600 s epoch.
//!
//! ```toml
//! [rln]
//! preset = "waku_network"      # or set user_message_limit / epoch_s yourself
//! over_limit = "queue"         # or "drop" (nwaku: the publish call fails)
//! [rln.cpu_factor]
//! mobile = 10.0                # proofs and verifications take 10x as long on this class
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::relay::config::ConfigError;

/// Where the message limit and the epoch come from when not given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// nwaku's command-line defaults: 1 message per 1 s epoch.
    #[default]
    Nwaku,
    /// The Waku Network (64/WAKU2-NETWORK): 100 messages per 600 s epoch.
    WakuNetwork,
}

/// What a publisher does with a message once it has used its limit in the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverLimit {
    /// Drop it (nwaku: the nonce manager refuses, the publish call fails). Counted.
    #[default]
    Drop,
    /// Hold it until the next epoch opens (at most `queue_max_messages`; a full queue drops).
    Queue,
}

/// One registration of a membership.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// The node that holds the membership.
    pub node: u32,
    /// Its message limit per epoch. Default: `user_message_limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// When it registers, in simulated seconds (0: before the run). Default 0.
    #[serde(default)]
    pub at_s: f64,
}

/// RLN's settings (`[rln]`; absent: RLN off).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RlnConfig {
    /// Whether RLN runs (`false`: as if the section were absent; lets a sweep or `--set`
    /// compare a run with and without RLN). Default true.
    pub enabled: bool,
    /// Where `user_message_limit` and `epoch_s` come from when not given. Default `"nwaku"`.
    pub preset: Preset,
    /// Messages a member may publish per epoch (RLNv2 message ids `0..limit`). Default: the
    /// preset's (nwaku 1, Waku Network 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_message_limit: Option<u32>,
    /// The epoch, in seconds. Default: the preset's (nwaku 1, Waku Network 600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch_s: Option<u64>,
    /// Largest clock difference accepted between a message's timestamp and the validator's
    /// clock, in seconds (nwaku `MaxClockGapSeconds` = 20; nwaku truncates the difference to
    /// whole seconds, so a message is refused from 21 s on). Default 20.
    pub max_clock_gap_s: u64,
    /// Merkle roots accepted besides the newest (nwaku `AcceptableRootWindowSize` = 50; its
    /// `updateRoots` pops the oldest only when it holds more than 50, so 51 roots are
    /// accepted). Default 50.
    pub accepted_roots: u32,
    /// How often nodes poll the chain for a new root, in milliseconds (nwaku
    /// `trackRootChanges`: 5 s). A registration becomes visible at the first poll after it
    /// lands on chain. Default 5000.
    pub root_poll_ms: u64,
    /// Time from a registration during the run until it is on chain, in milliseconds (a
    /// transaction's inclusion; scenario-chosen, not an nwaku value). Default 12000.
    pub registration_delay_ms: u64,
    /// Past epochs a validator's nullifier log keeps besides the current one. Default: what
    /// nwaku's `clearNullifierLog` keeps, `max(floor(max_clock_gap_s / epoch_s), 1) - 1`
    /// (0 for epochs of 20 s and more: a double signal across an epoch boundary goes
    /// unnoticed, see docs/studies/rln.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nullifier_log_epochs_behind: Option<u64>,
    /// CPU time to generate a proof on a node of factor 1, in microseconds (earlier
    /// measurements: about 0.15 s). Default 150000.
    pub proof_gen_us: u64,
    /// CPU time to verify a proof on a node of factor 1, in microseconds (about 12 ms).
    /// Default 12000.
    pub proof_verify_us: u64,
    /// CPU slowdown per bandwidth class name (e.g. `mobile = 10.0`): proof and verification
    /// times are multiplied by it on that class's nodes. Default: none (factor 1 everywhere).
    pub cpu_factor: BTreeMap<String, f64>,
    /// A publisher over its limit drops or queues. Default `"drop"`.
    pub over_limit: OverLimit,
    /// Messages a publisher holds for the next epoch (`over_limit = "queue"`); a message
    /// beyond it is dropped (counted). Default 100.
    pub queue_max_messages: u32,
    /// Memberships: explicit registrations (with `membership_file`). Default: none given,
    /// every workload publisher (but non-member spammers) registers before the run.
    pub members: Vec<MemberSpec>,
    /// A CSV file of memberships, one `node,limit,at_s` line each (`limit` and `at_s` may be
    /// empty; `#` starts a comment), relative to the scenario. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub membership_file: Option<String>,
    /// Age of the timestamp a replaying spammer sends, in seconds. Default 30.
    pub replay_age_s: u64,
}

impl Default for RlnConfig {
    fn default() -> Self {
        RlnConfig {
            enabled: true,
            preset: Preset::Nwaku,
            user_message_limit: None,
            epoch_s: None,
            max_clock_gap_s: 20,
            accepted_roots: 50,
            root_poll_ms: 5000,
            registration_delay_ms: 12_000,
            nullifier_log_epochs_behind: None,
            proof_gen_us: 150_000,
            proof_verify_us: 12_000,
            cpu_factor: BTreeMap::new(),
            over_limit: OverLimit::Drop,
            queue_max_messages: 100,
            members: Vec::new(),
            membership_file: None,
            replay_age_s: 30,
        }
    }
}

/// Largest epoch accepted, in seconds (a week): a typo guard.
pub const MAX_EPOCH_S: u64 = 7 * 24 * 3600;

impl RlnConfig {
    /// The message limit per epoch.
    pub fn limit(&self) -> u32 {
        self.user_message_limit.unwrap_or(match self.preset {
            Preset::Nwaku => 1,
            Preset::WakuNetwork => 100,
        })
    }
    /// The epoch, in seconds.
    pub fn epoch(&self) -> u64 {
        self.epoch_s.unwrap_or(match self.preset {
            Preset::Nwaku => 1,
            Preset::WakuNetwork => 600,
        })
    }
    /// nwaku's `rlnMaxEpochGap`: `max(floor(max_clock_gap_s / epoch_s), 1)`.
    pub fn max_epoch_gap(&self) -> u64 {
        (self.max_clock_gap_s / self.epoch().max(1)).max(1)
    }
    /// Past epochs the nullifier log keeps besides the current one.
    pub fn log_epochs_behind(&self) -> u64 {
        self.nullifier_log_epochs_behind
            .unwrap_or(self.max_epoch_gap() - 1)
    }

    /// Checks the settings on their own (`nodes`: the run's node count).
    pub fn validate(&self, nodes: usize) -> Result<(), ConfigError> {
        if self.limit() == 0 {
            return Err(ConfigError::new(
                "rln.user_message_limit",
                "is 0: no member could publish",
                "give at least 1 (nwaku 1, the Waku Network 100)",
            ));
        }
        if self.epoch() == 0 || self.epoch() > MAX_EPOCH_S {
            return Err(ConfigError::new(
                "rln.epoch_s",
                format!("is {}", self.epoch()),
                format!("give 1 to {MAX_EPOCH_S} seconds (nwaku 1, the Waku Network 600)"),
            ));
        }
        if self.root_poll_ms == 0 {
            return Err(ConfigError::new(
                "rln.root_poll_ms",
                "is 0",
                "give a positive interval (nwaku polls every 5000 ms)",
            ));
        }
        if self.accepted_roots == 0 {
            return Err(ConfigError::new(
                "rln.accepted_roots",
                "is 0",
                "give at least 1 (nwaku 50)",
            ));
        }
        for (name, f) in &self.cpu_factor {
            if !(f.is_finite() && *f > 0.0 && *f <= 1000.0) {
                return Err(ConfigError::new(
                    format!("rln.cpu_factor.{name}"),
                    format!("is {f}"),
                    "give a factor in (0, 1000]",
                ));
            }
        }
        for (i, m) in self.members.iter().enumerate() {
            check_member(m, nodes, &format!("rln.members[{i}]"))?;
        }
        Ok(())
    }
}

/// Checks one registration (`what`: where it comes from, for the message).
pub fn check_member(m: &MemberSpec, nodes: usize, what: &str) -> Result<(), ConfigError> {
    if m.node as usize >= nodes {
        return Err(ConfigError::new(
            format!("{what}.node"),
            format!("node {} does not exist ({nodes} nodes)", m.node),
            "name a node below the node count",
        ));
    }
    if m.limit == Some(0) {
        return Err(ConfigError::new(
            format!("{what}.limit"),
            "is 0",
            "give at least 1 or leave it out (user_message_limit)",
        ));
    }
    if !(m.at_s.is_finite() && m.at_s >= 0.0) {
        return Err(ConfigError::new(
            format!("{what}.at_s"),
            format!("is {}", m.at_s),
            "give a non-negative number of seconds",
        ));
    }
    Ok(())
}

/// Parses a membership file: one `node,limit,at_s` line per registration (`limit` and `at_s`
/// may be empty or missing; blank lines and `#` comments are skipped; a first line starting
/// with `node` is a header).
pub fn parse_membership(text: &str, path: &str) -> Result<Vec<MemberSpec>, ConfigError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() || (i == 0 && line.starts_with("node")) {
            continue;
        }
        let bad = |what: &str| {
            ConfigError::new(
                "rln.membership_file",
                format!("{path} line {}: {what} in {raw:?}", i + 1),
                "write one `node,limit,at_s` line per member (limit and at_s optional)",
            )
        };
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if cols.len() > 3 {
            return Err(bad("more than 3 columns"));
        }
        let node = cols[0]
            .parse::<u32>()
            .map_err(|_| bad("the node is not a number"))?;
        let limit = match cols.get(1) {
            Some(s) if !s.is_empty() => Some(
                s.parse::<u32>()
                    .map_err(|_| bad("the limit is not a number"))?,
            ),
            _ => None,
        };
        let at_s = match cols.get(2) {
            Some(s) if !s.is_empty() => {
                s.parse::<f64>().map_err(|_| bad("at_s is not a number"))?
            }
            _ => 0.0,
        };
        out.push(MemberSpec { node, limit, at_s });
    }
    Ok(out)
}
