//! Relay's run-wide measurement sink ([`RelayMetrics`]): the registry of published messages,
//! who got them and when, duplicates, and counters. Nodes only write to it; nothing in it
//! changes their behaviour.
//!
//! A message counts for delivery and latency when it is valid, was published inside the
//! measured window (after the warm-up, and at least the delivery grace before the end), and
//! was not refused as too large. The nodes that *should* receive it are those subscribed to its
//! topic (in the initial subscriptions), other than the publisher, and online from its publish
//! time to the end of the run. Latency runs from the publish call to the moment the node
//! accepted the first copy (received it and validated it). Per message, the time until 5 %,
//! ..., 100 % of those nodes have it is kept too ([`super::dissemination`]).

use sim_core::metrics::DurationHistogram;
use sim_core::{NodeId, SimTime};

use crate::relay::dissemination::{self, Dissemination, Progress};
use crate::relay::message::TopicIdx;
use crate::relay::rpc::{Rpc, ihave_rpc_bytes, publish_rpc_bytes};
use crate::relay::seen::SeenEntry;
use crate::relay::{PublishOutcome, RelayCounter, RelayEvent};

/// Largest duplicate count kept apart in the histogram; larger counts share the last bucket.
pub const MAX_COPIES_BUCKET: usize = 1024;

/// One published message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MsgRecord {
    /// When `publish` was called.
    pub publish_time: SimTime,
    /// Who published it.
    pub publisher: NodeId,
    /// Its topic.
    pub topic: TopicIdx,
    /// Serialized WakuMessage bytes.
    pub data_bytes: u32,
    /// Whether it was an invalid (spam) message.
    pub invalid: bool,
    /// What `publish` returned (None while in progress).
    pub outcome: Option<PublishOutcome>,
    /// Eligible nodes that accepted it.
    pub delivered: u32,
    /// Intended receivers (fixed at publish; 0 for a message that does not count) and the
    /// next dissemination level.
    pub progress: Progress,
}

impl MsgRecord {
    /// Nodes that should receive it, fixed at publish (0 for a message outside the counted
    /// window or invalid).
    pub fn eligible(&self) -> u32 {
        self.progress.eligible
    }
}

/// One node's online / offline changes: (time, online after), ascending.
pub type Churn = Box<[(SimTime, bool)]>;

/// Which nodes should receive which messages.
#[derive(Clone, Debug, Default)]
pub struct Eligibility {
    /// Subscription bits: node `n` is subscribed to topic `t` when bit `t % 64` of
    /// `subs[n * words + t / 64]` is set.
    subs: Vec<u64>,
    words: usize,
    /// Each node's online/offline changes (time, online after), ascending; `None` for nodes
    /// that stay online.
    pub churn: Vec<Option<Churn>>,
    /// Per topic: subscribers that stay online the whole run.
    stable: Vec<u32>,
    /// Per topic: subscribers with churn, ascending.
    churned: Vec<Vec<NodeId>>,
}

impl Eligibility {
    /// Eligibility from each node's subscribed topics and churn.
    pub fn new(topics: &[Vec<TopicIdx>], ntopics: usize, churn: Vec<Option<Churn>>) -> Self {
        let words = ntopics.div_ceil(64).max(1);
        let mut subs = vec![0u64; topics.len() * words];
        let mut stable = vec![0u32; ntopics];
        let mut churned = vec![Vec::new(); ntopics];
        for (n, ts) in topics.iter().enumerate() {
            let churns = churn.get(n).is_some_and(Option::is_some);
            for t in ts {
                let t = t.0 as usize;
                subs[n * words + t / 64] |= 1u64 << (t % 64);
                if churns {
                    churned[t].push(NodeId(n as u32));
                } else {
                    stable[t] += 1;
                }
            }
        }
        Eligibility {
            subs,
            words,
            churn,
            stable,
            churned,
        }
    }

    /// How many nodes should receive a message of `topic` published by `publisher` at `t`
    /// (those for which [`Eligibility::should_receive`] holds): the topic's stable
    /// subscribers other than the publisher, and its churned subscribers online from `t` to
    /// the end.
    pub fn intended(&self, publisher: NodeId, topic: TopicIdx, t: SimTime) -> u32 {
        let ti = topic.0 as usize;
        let mut n = self.stable.get(ti).copied().unwrap_or(0);
        let publisher_stable = self
            .churn
            .get(publisher.index())
            .is_none_or(Option::is_none);
        if publisher_stable && self.subscribed(publisher, topic) {
            n -= 1;
        }
        if let Some(c) = self.churned.get(ti) {
            n += c
                .iter()
                .filter(|&&x| self.should_receive(x, publisher, topic, t))
                .count() as u32;
        }
        n
    }

    /// Whether `node` is subscribed to `topic` (in the initial subscriptions).
    #[inline]
    pub fn subscribed(&self, node: NodeId, topic: TopicIdx) -> bool {
        let t = topic.0 as usize;
        self.subs
            .get(node.index() * self.words + t / 64)
            .is_some_and(|w| w & (1u64 << (t % 64)) != 0)
    }

    /// Whether `node` was online at `t` and stayed online to the end of the run.
    pub fn online_from(&self, node: NodeId, t: SimTime) -> bool {
        match self.churn.get(node.index()).and_then(|c| c.as_deref()) {
            None => true,
            Some(ev) => {
                let online_at_t = ev
                    .iter()
                    .rev()
                    .find(|e| e.0 <= t)
                    .map(|e| e.1)
                    .unwrap_or(true);
                online_at_t && !ev.iter().any(|e| e.0 > t && !e.1)
            }
        }
    }

    /// Whether `node` should receive a message of `topic` published by `publisher` at `t`.
    pub fn should_receive(
        &self,
        node: NodeId,
        publisher: NodeId,
        topic: TopicIdx,
        t: SimTime,
    ) -> bool {
        node != publisher && self.subscribed(node, topic) && self.online_from(node, t)
    }
}

/// The measurement sink of a run (the engine's `Observer`).
#[derive(Clone, Debug)]
pub struct RelayMetrics {
    /// Every published message, by registry index.
    pub msgs: Vec<MsgRecord>,
    /// Publish-to-acceptance latency of counted messages at eligible nodes.
    pub latency: DurationHistogram,
    /// Hops of those first copies (index = hops).
    pub hops: Vec<u64>,
    /// Copies beyond the first per node per counted message (index = copies).
    pub copies: Vec<u64>,
    /// Dissemination level times of every registered message.
    pub dissemination: Dissemination,
    /// Relay counters, by [`RelayCounter`] index.
    pub counters: Vec<u64>,
    /// Relay bytes sent per topic (messages, IHAVE entries, GRAFT, PRUNE; without framing)
    /// from `count_from` on, by topic index (shorter when the last topics saw nothing).
    /// Counted only when `per_topic_bytes` is set (runs with several topics; with one topic
    /// the harness takes the same figure from the accounting categories).
    pub topic_bytes_out: Vec<u64>,
    /// Whether nodes attribute their relay bytes to topics (see `topic_bytes_out`).
    pub per_topic_bytes: bool,
    /// Who should receive what.
    pub eligibility: Eligibility,
    /// Messages published from this time count.
    pub count_from: SimTime,
    /// Messages published after this time do not count.
    pub count_until: SimTime,
    /// Each node's implementation group (empty without `[[relay.implementations]]`: then
    /// `per_impl` stays empty and costs nothing).
    pub impl_of: Vec<u8>,
    /// Per implementation group: receptions, latency and duplicates of its nodes.
    pub per_impl: Vec<ImplMetrics>,
}

/// What one implementation group's nodes received (counted messages only, as the totals).
#[derive(Clone, Debug, Default)]
pub struct ImplMetrics {
    /// Latency of first copies at its nodes.
    pub latency: DurationHistogram,
    /// Copies received after the first, summed over (node, message) pairs.
    pub copies_sum: u64,
    /// (node, message) pairs counted in `copies_sum`.
    pub copies_pairs: u64,
}

impl Default for RelayMetrics {
    /// An empty sink counting nothing (the harness replaces it with [`RelayMetrics::new`]).
    fn default() -> Self {
        RelayMetrics::new(Eligibility::default(), SimTime::MAX, SimTime::ZERO)
    }
}

impl RelayMetrics {
    /// An empty sink counting messages published in `[count_from, count_until]`.
    pub fn new(eligibility: Eligibility, count_from: SimTime, count_until: SimTime) -> Self {
        RelayMetrics {
            msgs: Vec::new(),
            latency: DurationHistogram::new(),
            hops: Vec::new(),
            copies: Vec::new(),
            dissemination: Dissemination::default(),
            counters: vec![0; RelayCounter::ALL.len()],
            topic_bytes_out: Vec::new(),
            per_topic_bytes: false,
            eligibility,
            count_from,
            count_until,
            impl_of: Vec::new(),
            per_impl: Vec::new(),
        }
    }

    /// Registers a message about to be published; returns its registry index.
    pub fn register(
        &mut self,
        publisher: NodeId,
        now: SimTime,
        topic: TopicIdx,
        data_bytes: u32,
        invalid: bool,
    ) -> u32 {
        // Intended receivers are fixed now, for messages that can count (a message refused as
        // too large is known only later; it keeps its count but is not counted).
        let eligible = if !invalid && now >= self.count_from && now <= self.count_until {
            self.eligibility.intended(publisher, topic, now)
        } else {
            0
        };
        self.msgs.push(MsgRecord {
            publish_time: now,
            publisher,
            topic,
            data_bytes,
            invalid,
            outcome: None,
            delivered: 0,
            progress: Progress::new(eligible),
        });
        self.dissemination.push();
        (self.msgs.len() - 1) as u32
    }

    /// Records what publishing message `seq` returned.
    pub fn published(&mut self, seq: u32, outcome: PublishOutcome) {
        self.msgs[seq as usize].outcome = Some(outcome);
    }

    /// Whether message `rec` counts for delivery, latency and duplicates.
    pub fn counts(&self, rec: &MsgRecord) -> bool {
        !rec.invalid
            && rec.publish_time >= self.count_from
            && rec.publish_time <= self.count_until
            && rec.outcome != Some(PublishOutcome::TooLarge)
    }

    /// Handles a relay event of `node` at `now`.
    #[inline]
    pub fn relay_event(&mut self, node: NodeId, now: SimTime, e: RelayEvent) {
        match e {
            RelayEvent::Accepted { seq, hops } => {
                let rec = self.msgs[seq as usize];
                if self.counts(&rec)
                    && self.eligibility.should_receive(
                        node,
                        rec.publisher,
                        rec.topic,
                        rec.publish_time,
                    )
                {
                    let m = &mut self.msgs[seq as usize];
                    m.delivered += 1;
                    if m.delivered == m.progress.next_rank {
                        let since = dissemination::since(now, rec.publish_time);
                        self.dissemination
                            .reached(seq, &mut m.progress, m.delivered, since);
                    }
                    let lat = now.saturating_since(rec.publish_time);
                    self.latency.record(lat);
                    if let Some(&g) = self.impl_of.get(node.index()) {
                        self.per_impl[g as usize].latency.record(lat);
                    }
                    let h = hops as usize;
                    if self.hops.len() <= h {
                        self.hops.resize(h + 1, 0);
                    }
                    self.hops[h] += 1;
                }
            }
            RelayEvent::SeenExpired { seq, copies } => self.copies_of(node, seq, copies),
            RelayEvent::Count(c) => self.counters[c as usize] += 1,
        }
    }

    /// Adds relay bytes sent on `topic`.
    #[inline]
    pub fn topic_bytes(&mut self, topic: TopicIdx, bytes: u64) {
        let t = topic.0 as usize;
        if self.topic_bytes_out.len() <= t {
            self.topic_bytes_out.resize(t + 1, 0);
        }
        self.topic_bytes_out[t] += bytes;
    }

    /// Records the duplicates of one (node, message).
    pub fn copies_of(&mut self, node: NodeId, seq: u32, copies: u32) {
        let rec = self.msgs[seq as usize];
        if !self.counts(&rec) {
            return;
        }
        if let Some(&g) = self.impl_of.get(node.index()) {
            let m = &mut self.per_impl[g as usize];
            m.copies_sum += copies as u64;
            m.copies_pairs += 1;
        }
        let c = (copies as usize).min(MAX_COPIES_BUCKET);
        if self.copies.len() <= c {
            self.copies.resize(c + 1, 0);
        }
        self.copies[c] += 1;
    }

    /// Records a seen entry flushed at the end of the run.
    pub fn seen_entry(&mut self, node: NodeId, e: SeenEntry) {
        self.copies_of(node, e.seq, e.copies);
    }

    /// Counts the bytes of a relay RPC under the topics it concerns (per-shard bandwidth):
    /// messages under their topic, IHAVE entries under theirs, GRAFT and PRUNE under theirs.
    /// IWANT, IDONTWANT (ids only) and SUBSCRIBE are not attributed.
    #[inline]
    pub fn attribute_to_topics(&mut self, rpc: &Rpc, wire: u32) {
        let obs = self;
        match rpc {
            Rpc::Publish(m) | Rpc::Forward(m) => obs.topic_bytes(m.topic, wire as u64),
            Rpc::IwantReply(ms) => {
                for m in ms.iter() {
                    obs.topic_bytes(m.topic, publish_rpc_bytes(m.data_bytes, m.topic_len) as u64);
                }
            }
            Rpc::Ihave(ih) => {
                for (i, e) in ih.batch.entries().enumerate() {
                    if ih.mask & (1u32 << i) != 0 {
                        let b = ihave_rpc_bytes([(e.topic_len, e.ids.len() as u32)].into_iter());
                        obs.topic_bytes(e.topic, b as u64);
                    }
                }
            }
            Rpc::Graft { topic, .. } => obs.topic_bytes(*topic, wire as u64),
            Rpc::Prune(p) => obs.topic_bytes(p.topic, wire as u64),
            Rpc::Iwant(_) | Rpc::Idontwant(_) | Rpc::Subscribe(_) => {}
        }
    }
}
