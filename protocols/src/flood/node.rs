//! [`FloodNode`]: the flooding state machine, implementing `sim_core::Node`.

use std::collections::BTreeSet;

use sim_core::{Category, Ctx, Input, Node, NodeId, SimDuration, SimTime};

use super::message::{FloodMsg, MsgId};
use super::observer::FloodObserver;

/// The one timer: publish the next message.
#[derive(Debug)]
pub struct Publish;

/// What every flood node of a run shares: the publishing schedule and the message's sizes.
#[derive(Clone, Copy, Debug)]
pub struct FloodConfig {
    /// Time between two messages of one publisher.
    pub interval: SimDuration,
    /// A publisher publishes nothing at or after this time.
    pub publish_end: SimTime,
    /// Accounting category of the messages.
    pub category: Category,
    /// Size of a message in bytes, framing excluded.
    pub size: u32,
    /// Transport overhead per message in bytes.
    pub framing: u32,
}

/// A flooding node: forwards every message it sees for the first time to all its neighbours
/// but the sender, and, if it is a publisher, publishes a message every interval.
#[derive(Debug)]
pub struct FloodNode {
    neighbours: Vec<NodeId>,
    seen: BTreeSet<MsgId>,
    /// Publishers: when the first message goes out, relative to the start.
    first_publish: Option<SimDuration>,
    next_seq: u32,
    interval: SimDuration,
    publish_end: SimTime,
    category: Category,
    size: u32,
    framing: u32,
}

impl FloodNode {
    /// A node that only forwards.
    pub fn new(config: FloodConfig) -> Self {
        FloodNode {
            neighbours: Vec::new(),
            seen: BTreeSet::new(),
            first_publish: None,
            next_seq: 0,
            interval: config.interval,
            publish_end: config.publish_end,
            category: config.category,
            size: config.size,
            framing: config.framing,
        }
    }

    /// Makes the node a publisher whose first message goes out `first` after the start (and
    /// then every `interval`, while before `publish_end`).
    pub fn set_first_publish(&mut self, first: SimDuration) {
        self.first_publish = Some(first);
    }

    /// Whether the node publishes.
    pub fn is_publisher(&self) -> bool {
        self.first_publish.is_some()
    }

    /// The node's current neighbours (its open connections), ascending.
    pub fn neighbours(&self) -> &[NodeId] {
        &self.neighbours
    }

    /// How many messages the node has published.
    pub fn published(&self) -> u32 {
        self.next_seq
    }

    fn forward(&mut self, msg: FloodMsg, except: Option<NodeId>, ctx: &mut Ctx<'_, Self>) {
        for &peer in &self.neighbours {
            if Some(peer) != except {
                // Cannot fail: peers are existing nodes other than this one.
                let _ = ctx.send(peer, msg);
            }
        }
    }
}

impl Node for FloodNode {
    type Msg = FloodMsg;
    type Timer = Publish;
    type Observer = FloodObserver;

    fn handle(&mut self, input: Input<FloodMsg, Publish>, ctx: &mut Ctx<'_, Self>) {
        match input {
            Input::Start { restart: false } => {
                if let Some(at) = self.first_publish {
                    ctx.set_timer(at, Publish);
                }
            }
            Input::Start { restart: true } => {}
            Input::Timer(Publish) => {
                let now = ctx.now();
                if now >= self.publish_end {
                    return;
                }
                let id = MsgId {
                    origin: ctx.id().0,
                    seq: self.next_seq,
                };
                self.next_seq += 1;
                self.seen.insert(id);
                ctx.observer().published(id, now);
                let msg = FloodMsg {
                    id,
                    category: self.category,
                    size: self.size,
                    framing: self.framing,
                };
                self.forward(msg, None, ctx);
                ctx.set_timer(self.interval, Publish);
            }
            Input::Message { from, msg } => {
                let first = self.seen.insert(msg.id);
                let (id, node, now) = (msg.id, ctx.id(), ctx.now());
                ctx.observer().received(id, node, now, first);
                if first {
                    self.forward(msg, Some(from), ctx);
                }
            }
            Input::ConnectionUp { peer, .. } => {
                if let Err(i) = self.neighbours.binary_search(&peer) {
                    self.neighbours.insert(i, peer);
                }
            }
            Input::ConnectionDown { peer, .. } => {
                if let Ok(i) = self.neighbours.binary_search(&peer) {
                    self.neighbours.remove(i);
                }
            }
            Input::DialFailed { .. } => {}
        }
    }
}
