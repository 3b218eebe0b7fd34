//! The message workload: who publishes what, when, on which topic.
//!
//! A workload is a list of *streams* (`[[workload.streams]]` in a scenario). Each stream picks
//! its publishers (a count, a fraction, or explicit nodes; chosen deterministically from the
//! seed among the nodes subscribed to its topic), and every publisher publishes on the stream's
//! topic at a fixed interval (with a random phase) or as a Poisson process, with a fixed
//! payload size or a weighted mix of sizes. A stream can be flagged `invalid`: its messages
//! fail validation (spam), which is how misbehaving publishers are modelled.
//!
//! ```toml
//! [[workload.streams]]
//! topic = 0                          # index into the run's topics
//! publishers = { count = 10 }        # or { fraction = 0.01 } or { nodes = [3, 7] }
//! interval_ms = 1000.0               # per publisher
//! arrival = "poisson"                # or "fixed" (default)
//! payload = { fixed_bytes = 2000 }   # or { mix = [{ bytes = 100, weight = 3.0 }, ...] }
//! start_s = 30.0                     # default: when the warm-up ends
//! ```
//!
//! A stream can also name its shard by content topic (`autoshard = true`: the shard is derived
//! from `content_topic` by autosharding, [`crate::sharding`]) and can be replicated on every
//! topic of a range (`every_topic = { from = 1 }`: one stream per community shard). On a
//! protected shard publishers sign their messages (`signing`, [`crate::relay::protected`]).
//!
//! Sizes are payload bytes; the WakuMessage around them (content topic, timestamp, optional
//! meta and RLN proof) is added by [`crate::relay::message::WakuMessageShape`].

use rand::Rng;
use serde::{Deserialize, Serialize};
use sim_core::rng::{self, SimRng};
use sim_core::{NodeId, SimDuration, SimTime};

use crate::relay::config::ConfigError;
use crate::relay::message::Topics;
use crate::relay::protected::Signing;
use crate::sharding::{ContentTopic, content_topic_shard};

/// The workload of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkloadConfig {
    /// The message streams. Default: one stream of 10 publishers, one 2,000-byte message per
    /// second each, on topic 0.
    pub streams: Vec<StreamConfig>,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            streams: vec![StreamConfig::default()],
        }
    }
}

/// One stream of messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Index of the pubsub topic (shard) in the run's topic list. Default 0.
    pub topic: u16,
    /// Who publishes. Default `{ count = 10 }`.
    pub publishers: Publishers,
    /// Mean time between two messages of one publisher, in milliseconds. Default 1000.
    pub interval_ms: f64,
    /// Fixed intervals (each publisher with a random phase) or a Poisson process. Default
    /// fixed.
    pub arrival: Arrival,
    /// Payload size. Default `{ fixed_bytes = 2000 }`.
    pub payload: PayloadSize,
    /// Simulated second at which publishing starts. Default: the end of the warm-up.
    pub start_s: Option<f64>,
    /// Simulated second after which nothing is published. Default: the end of the run.
    pub stop_s: Option<f64>,
    /// The messages fail validation (a spammer stream): receivers reject them and penalise
    /// the sender (P4). Default false.
    pub invalid: bool,
    /// The content topic (only its length matters: message size). Default
    /// `/wakusim/1/default/proto`.
    pub content_topic: String,
    /// Bytes of the WakuMessage `meta` field (at most 64). Default 0.
    pub meta_bytes: u32,
    /// Attach an RLN proof (339 bytes on the wire). Default false.
    pub rln_proof: bool,
    /// Set the `ephemeral` flag. Default false.
    pub ephemeral: bool,
    /// Derive the shard from `content_topic` by autosharding over the run's autosharding
    /// shards (`topic` is then not used). Default false.
    pub autoshard: bool,
    /// Replicate the stream on every topic from `from` to `to` (inclusive; default the first
    /// and the last topic): each topic gets its own publishers (`topic` is then not used).
    /// Default: off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every_topic: Option<TopicRange>,
    /// How publishers sign on protected shards: `"auto"` (they hold the key), `"none"`,
    /// `"bad"` (a wrong key). Default `"auto"`.
    pub signing: Signing,
    /// The publishers are RLN spammers of this kind ([`crate::rln::SpamKind`]:
    /// `"double_signal"`, `"invalid_proof"`, `"replay"`, `"stale_epoch"`, `"non_member"`);
    /// needs `[rln]`. Default: none (honest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spam: Option<crate::rln::SpamKind>,
}

/// A range of topics, both ends included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicRange {
    /// First topic. Default 0.
    pub from: u16,
    /// Last topic. Default: the run's last topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<u16>,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            topic: 0,
            publishers: Publishers::Count(10),
            interval_ms: 1000.0,
            arrival: Arrival::Fixed,
            payload: PayloadSize::FixedBytes(2000),
            start_s: None,
            stop_s: None,
            invalid: false,
            content_topic: "/wakusim/1/default/proto".into(),
            meta_bytes: 0,
            rln_proof: false,
            ephemeral: false,
            autoshard: false,
            every_topic: None,
            signing: Signing::Auto,
            spam: None,
        }
    }
}

/// Who publishes on a stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Publishers {
    /// This many nodes, chosen from the seed among the topic's subscribers.
    Count(u32),
    /// This fraction of the topic's subscribers (rounded, at least one).
    Fraction(f64),
    /// These nodes.
    Nodes(Vec<u32>),
}

/// How publish times are spaced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    /// Every `interval_ms`, starting at a uniformly random phase.
    #[default]
    Fixed,
    /// Exponentially distributed gaps with mean `interval_ms`.
    Poisson,
}

/// Payload sizes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PayloadSize {
    /// Always this many bytes.
    FixedBytes(u32),
    /// A weighted mix.
    Mix(Vec<WeightedSize>),
}

/// One size of a mix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedSize {
    /// Payload bytes.
    pub bytes: u32,
    /// Relative weight (positive).
    pub weight: f64,
}

impl WorkloadConfig {
    /// Checks every stream against a run of `nodes` nodes and `topics` topics.
    pub fn validate(&self, nodes: usize, topics: usize) -> Result<(), ConfigError> {
        for (i, s) in self.streams.iter().enumerate() {
            let f = |name: &str| format!("workload.streams[{i}].{name}");
            if s.autoshard && s.every_topic.is_some() {
                return Err(ConfigError::new(
                    f("autoshard"),
                    "autoshard and every_topic both choose the topic",
                    "use one of them",
                ));
            }
            if s.autoshard
                && let Err(e) = ContentTopic::parse(&s.content_topic)
            {
                return Err(ConfigError::new(
                    f("content_topic"),
                    e.to_string(),
                    "give /{app}/{version}/{name}/{encoding} to autoshard",
                ));
            }
            if let Some(r) = s.every_topic {
                let to = r.to.unwrap_or(topics.saturating_sub(1) as u16);
                if r.from > to || to as usize >= topics {
                    return Err(ConfigError::new(
                        f("every_topic"),
                        format!(
                            "topics {} to {to} are not within the run's {topics}",
                            r.from
                        ),
                        format!("give from <= to < {topics}"),
                    ));
                }
            } else if !s.autoshard && s.topic as usize >= topics {
                return Err(ConfigError::new(
                    f("topic"),
                    format!("topic {} does not exist (the run has {topics})", s.topic),
                    format!("use a topic index below {topics}"),
                ));
            }
            match &s.publishers {
                Publishers::Count(0) => {
                    return Err(ConfigError::new(
                        f("publishers.count"),
                        "must be at least 1",
                        "give a positive count or remove the stream",
                    ));
                }
                Publishers::Count(c) if s.spam.is_some() && *c as usize > nodes => {
                    return Err(ConfigError::new(
                        f("publishers.count"),
                        format!("{c} spammers for a run of {nodes} nodes"),
                        format!("give at most {nodes} spammers"),
                    ));
                }
                Publishers::Count(_) => {}
                Publishers::Fraction(x) if !(x.is_finite() && *x > 0.0 && *x <= 1.0) => {
                    return Err(ConfigError::new(
                        f("publishers.fraction"),
                        format!("must be in (0, 1], got {x}"),
                        "give a fraction such as 0.01",
                    ));
                }
                Publishers::Fraction(_) => {}
                Publishers::Nodes(v) => {
                    if v.is_empty() {
                        return Err(ConfigError::new(
                            f("publishers.nodes"),
                            "is empty",
                            "list at least one node",
                        ));
                    }
                    if let Some(n) = v.iter().find(|&&n| n as usize >= nodes) {
                        return Err(ConfigError::new(
                            f("publishers.nodes"),
                            format!("node {n} does not exist (the run has {nodes})"),
                            format!("use node ids below {nodes}"),
                        ));
                    }
                }
            }
            if !(s.interval_ms.is_finite() && s.interval_ms > 0.0) {
                return Err(ConfigError::new(
                    f("interval_ms"),
                    format!("must be a positive number, got {}", s.interval_ms),
                    "give the mean milliseconds between a publisher's messages",
                ));
            }
            if let PayloadSize::Mix(m) = &s.payload {
                if m.is_empty() {
                    return Err(ConfigError::new(
                        f("payload.mix"),
                        "is empty",
                        "list at least one { bytes, weight }",
                    ));
                }
                if let Some(w) = m.iter().find(|w| !(w.weight.is_finite() && w.weight > 0.0)) {
                    return Err(ConfigError::new(
                        f("payload.mix"),
                        format!("weight {} is not positive", w.weight),
                        "give every size a positive weight",
                    ));
                }
            }
            for (name, v) in [("start_s", s.start_s), ("stop_s", s.stop_s)] {
                if let Some(v) = v
                    && !(v.is_finite() && v >= 0.0)
                {
                    return Err(ConfigError::new(
                        f(name),
                        format!("must be a non-negative number of seconds, got {v}"),
                        "give simulated seconds",
                    ));
                }
            }
            if let (Some(a), Some(b)) = (s.start_s, s.stop_s)
                && a >= b
            {
                return Err(ConfigError::new(
                    f("stop_s"),
                    format!("stop_s = {b} is not after start_s = {a}"),
                    "raise stop_s or lower start_s",
                ));
            }
            if s.meta_bytes > 64 {
                return Err(ConfigError::new(
                    f("meta_bytes"),
                    format!("{} bytes; Waku allows at most 64", s.meta_bytes),
                    "use at most 64",
                ));
            }
            if s.content_topic.is_empty() {
                return Err(ConfigError::new(
                    f("content_topic"),
                    "is empty",
                    "give a content topic such as /app/1/chat/proto",
                ));
            }
        }
        Ok(())
    }

    /// The streams with every topic chosen: `every_topic` streams replicated on each topic of
    /// their range, `autoshard` streams put on the shard of their content topic (its
    /// `/waku/2/rs/<cluster>/<shard>` must be one of `topics`). Call before [`Self::validate`]
    /// and [`Self::plan`] for a run.
    pub fn resolve(
        &self,
        topics: &Topics,
        cluster: u16,
        autosharding_shards: u32,
    ) -> Result<WorkloadConfig, ConfigError> {
        let mut out = Vec::with_capacity(self.streams.len());
        for (i, s) in self.streams.iter().enumerate() {
            let f = |name: &str| format!("workload.streams[{i}].{name}");
            if let Some(r) = s.every_topic {
                let last = topics.len().saturating_sub(1) as u16;
                let to = r.to.unwrap_or(last).min(last);
                for t in r.from..=to {
                    out.push(StreamConfig {
                        topic: t,
                        every_topic: None,
                        ..s.clone()
                    });
                }
            } else if s.autoshard {
                let shard = content_topic_shard(&s.content_topic, cluster, autosharding_shards)
                    .map_err(|e| {
                        ConfigError::new(f("content_topic"), e.to_string(), "fix the content topic")
                    })?;
                let name = shard.pubsub_topic();
                let Some(t) = topics.names().iter().position(|n| *n == name) else {
                    return Err(ConfigError::new(
                        f("content_topic"),
                        format!(
                            "{:?} maps to {name} by autosharding over {autosharding_shards} shards, \
                             which the run does not have",
                            s.content_topic
                        ),
                        "add the shard or change the content topic",
                    ));
                };
                out.push(StreamConfig {
                    topic: t as u16,
                    autoshard: false,
                    ..s.clone()
                });
            } else {
                out.push(s.clone());
            }
        }
        if out.len() > u16::MAX as usize {
            return Err(ConfigError::new(
                "workload.streams",
                format!("{} streams after every_topic; at most 65535", out.len()),
                "narrow the every_topic ranges",
            ));
        }
        Ok(WorkloadConfig { streams: out })
    }

    /// Resolves the streams for a run: publishers chosen from `seed`, times made absolute.
    /// `subscribers[t]` lists the nodes subscribed to topic `t`, ascending.
    pub fn plan(
        &self,
        seed: u64,
        nodes: usize,
        subscribers: &[Vec<NodeId>],
        warmup: SimTime,
        end: SimTime,
    ) -> WorkloadPlan {
        let mut pick = rng::stream(seed, rng::GLOBAL_SCOPE, "workload/publishers");
        let mut streams = Vec::with_capacity(self.streams.len());
        let mut by_node: Vec<Vec<u16>> = vec![Vec::new(); nodes];
        for (i, s) in self.streams.iter().enumerate() {
            let pool: Vec<NodeId> = match subscribers.get(s.topic as usize) {
                Some(v) if !v.is_empty() => v.clone(),
                _ => (0..nodes as u32).map(NodeId).collect(),
            };
            let mut chosen: Vec<NodeId> = match &s.publishers {
                Publishers::Nodes(v) => v.iter().map(|&n| NodeId(n)).collect(),
                Publishers::Count(c) => {
                    let k = (*c as usize).min(pool.len());
                    rand::seq::index::sample(&mut pick, pool.len(), k)
                        .into_iter()
                        .map(|j| pool[j])
                        .collect()
                }
                Publishers::Fraction(x) => {
                    let k = ((pool.len() as f64 * x).round() as usize).clamp(1, pool.len());
                    rand::seq::index::sample(&mut pick, pool.len(), k)
                        .into_iter()
                        .map(|j| pool[j])
                        .collect()
                }
            };
            chosen.sort();
            chosen.dedup();
            for &n in &chosen {
                by_node[n.index()].push(i as u16);
            }
            let start = match s.start_s {
                Some(x) => SimTime::ZERO + secs(x),
                None => warmup,
            };
            let stop = match s.stop_s {
                Some(x) => (SimTime::ZERO + secs(x)).min(end),
                None => end,
            };
            let payload = match &s.payload {
                PayloadSize::FixedBytes(b) => vec![(*b, 1.0)],
                PayloadSize::Mix(m) => m.iter().map(|w| (w.bytes, w.weight)).collect(),
            };
            streams.push(StreamPlan {
                config: s.clone(),
                publishers: chosen,
                interval: SimDuration::from_nanos((s.interval_ms * 1e6).round().max(1.0) as u64),
                start,
                stop,
                payload,
            });
        }
        WorkloadPlan { streams, by_node }
    }
}

fn secs(x: f64) -> SimDuration {
    SimDuration::from_nanos((x * 1e9).round() as u64)
}

/// A stream resolved for a run.
#[derive(Clone, Debug)]
pub struct StreamPlan {
    /// The stream's configuration.
    pub config: StreamConfig,
    /// Its publishers, ascending.
    pub publishers: Vec<NodeId>,
    /// Mean interval per publisher.
    pub interval: SimDuration,
    /// First possible publish time.
    pub start: SimTime,
    /// Last possible publish time.
    pub stop: SimTime,
    /// (payload bytes, weight).
    pub payload: Vec<(u32, f64)>,
}

impl StreamPlan {
    /// The delay until a publisher's first message after `t0` (the phase).
    pub fn first_delay(&self, rng: &mut SimRng) -> SimDuration {
        match self.config.arrival {
            Arrival::Fixed => {
                SimDuration::from_nanos(rng.random_range(0..self.interval.as_nanos().max(1)))
            }
            Arrival::Poisson => self.exp_gap(rng),
        }
    }

    /// The gap to a publisher's next message.
    pub fn next_gap(&self, rng: &mut SimRng) -> SimDuration {
        match self.config.arrival {
            Arrival::Fixed => self.interval,
            Arrival::Poisson => self.exp_gap(rng),
        }
    }

    fn exp_gap(&self, rng: &mut SimRng) -> SimDuration {
        let u: f64 = rng.random(); // [0, 1)
        let x = -ln(1.0 - u); // Exp(1)
        SimDuration::from_nanos((x * self.interval.as_nanos() as f64).round().max(1.0) as u64)
    }

    /// A payload size drawn from the stream's sizes.
    pub fn payload_bytes(&self, rng: &mut SimRng) -> u32 {
        if self.payload.len() == 1 {
            return self.payload[0].0;
        }
        let total: f64 = self.payload.iter().map(|p| p.1).sum();
        let mut x = rng.random::<f64>() * total;
        for &(b, w) in &self.payload {
            if x < w {
                return b;
            }
            x -= w;
        }
        self.payload[self.payload.len() - 1].0
    }
}

/// The workload resolved for a run.
#[derive(Clone, Debug, Default)]
pub struct WorkloadPlan {
    /// The streams, by index.
    pub streams: Vec<StreamPlan>,
    /// The streams each node publishes on.
    pub by_node: Vec<Vec<u16>>,
}

/// The natural logarithm with only additions, multiplications and divisions, so that every
/// platform gets the same bits (libm `ln` may differ in the last bit between C libraries).
/// Accurate to about 1e-15 relative for positive finite `x`.
pub fn ln(x: f64) -> f64 {
    assert!(x > 0.0 && x.is_finite(), "ln of {x}");
    // x = m * 2^e with m in [1, 2).
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if e == -1023 {
        // Subnormal: normalise by scaling.
        let y = x * (1u64 << 54) as f64;
        return ln(y) - 54.0 * LN_2;
    }
    // Centre m around 1 for faster convergence: m in [sqrt(1/2), sqrt(2)).
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        e += 1;
    }
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    let mut k = 1.0;
    for _ in 0..30 {
        sum += term / k;
        term *= s2;
        k += 2.0;
    }
    2.0 * sum + e as f64 * LN_2
}

const LN_2: f64 = std::f64::consts::LN_2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_ln_is_accurate() {
        for &x in &[
            1e-300, 1e-9, 0.001, 0.5, 0.9999, 1.0, 1.5, 2.0, 10.0, 12345.678, 1e300,
        ] {
            let a = ln(x);
            let b = x.ln();
            assert!((a - b).abs() <= 1e-14 * b.abs().max(1.0), "{x}: {a} vs {b}");
        }
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn toml_shape() {
        let w: WorkloadConfig = toml::from_str(
            r#"
            [[streams]]
            topic = 0
            publishers = { fraction = 0.01 }
            interval_ms = 500.0
            arrival = "poisson"
            payload = { mix = [{ bytes = 100, weight = 3.0 }, { bytes = 4000, weight = 1.0 }] }
            "#,
        )
        .unwrap();
        assert_eq!(w.streams[0].publishers, Publishers::Fraction(0.01));
        assert_eq!(w.streams[0].arrival, Arrival::Poisson);
        w.validate(100, 1).unwrap();
        let bad: WorkloadConfig = toml::from_str("[[streams]]\ninterval_ms = 0.0\n").unwrap();
        let e = bad.validate(10, 1).unwrap_err();
        assert_eq!(e.field, "workload.streams[0].interval_ms");
        assert!(toml::from_str::<WorkloadConfig>("[[streams]]\nrate = 1\n").is_err());
    }

    #[test]
    fn every_topic_replicates_and_autoshard_maps_content_topics() {
        let topics = Topics::shards(1, 8);
        let w: WorkloadConfig = toml::from_str(
            r#"
            [[streams]]
            every_topic = { from = 5 }
            publishers = { count = 2 }
            [[streams]]
            autoshard = true
            content_topic = "/toychat/2/huilong/proto"
            "#,
        )
        .unwrap();
        w.validate(100, 8).unwrap();
        let r = w.resolve(&topics, 1, 8).unwrap();
        // Topics 5, 6, 7, then the autosharded stream on shard 3 ("toychat" + "2" mod 8 = 3).
        let t: Vec<u16> = r.streams.iter().map(|s| s.topic).collect();
        assert_eq!(t, vec![5, 6, 7, 3]);
        assert!(
            r.streams
                .iter()
                .all(|s| s.every_topic.is_none() && !s.autoshard)
        );
        // Over 64 shards the same app and version land on shard 51, which 8 topics lack.
        let e = w.resolve(&topics, 1, 64).unwrap_err();
        assert_eq!(e.field, "workload.streams[1].content_topic");
        let bad: WorkloadConfig =
            toml::from_str("[[streams]]\nautoshard = true\ncontent_topic = \"/a/b\"\n").unwrap();
        assert_eq!(
            bad.validate(10, 8).unwrap_err().field,
            "workload.streams[0].content_topic"
        );
        let bad: WorkloadConfig =
            toml::from_str("[[streams]]\nevery_topic = { from = 9 }\n").unwrap();
        assert_eq!(
            bad.validate(10, 8).unwrap_err().field,
            "workload.streams[0].every_topic"
        );
    }

    #[test]
    fn publishers_are_chosen_from_the_seed_among_subscribers() {
        let w = WorkloadConfig::default();
        let subs = vec![(0..50).map(NodeId).collect::<Vec<_>>()];
        let a = w.plan(1, 100, &subs, SimTime::ZERO, SimTime::from_secs(10));
        let b = w.plan(1, 100, &subs, SimTime::ZERO, SimTime::from_secs(10));
        let c = w.plan(2, 100, &subs, SimTime::ZERO, SimTime::from_secs(10));
        assert_eq!(a.streams[0].publishers, b.streams[0].publishers);
        assert_ne!(a.streams[0].publishers, c.streams[0].publishers);
        assert_eq!(a.streams[0].publishers.len(), 10);
        assert!(a.streams[0].publishers.iter().all(|n| n.0 < 50));
    }

    #[test]
    fn poisson_gaps_have_the_mean() {
        let s = StreamConfig {
            arrival: Arrival::Poisson,
            interval_ms: 100.0,
            ..StreamConfig::default()
        };
        let w = WorkloadConfig { streams: vec![s] };
        let plan = w.plan(3, 10, &[], SimTime::ZERO, SimTime::from_secs(1));
        let mut r = rng::stream(3, 0, "workload");
        let n = 20_000;
        let mean_ms: f64 = (0..n)
            .map(|_| plan.streams[0].next_gap(&mut r).as_millis_f64())
            .sum::<f64>()
            / n as f64;
        // Standard error 100 / sqrt(20000) = 0.7 ms; 5 sigma = 3.5 ms.
        assert!((mean_ms - 100.0).abs() < 3.5, "{mean_ms}");
    }
}
