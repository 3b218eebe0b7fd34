//! Deferred passive messages ([`Payload::passive`], [`EngineConfig::defer_passive`]): a run
//! that defers them and one that delivers them as events must give every node the same
//! inputs at the same times in the same order, and the same counters, under everything that
//! can drop or move a message (connections closed by either side, nodes going offline and
//! back, partitions, degradations that reorder and reschedule, jitter).

use rand::Rng;
use sim_core::*;

/// A note (passive) or a token (active, passed on while its ttl lasts).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Msg {
    Note { id: u32, size: u32 },
    Token { ttl: u32, size: u32 },
}

impl Payload for Msg {
    fn category(&self) -> Category {
        match self {
            Msg::Note { .. } => Category(1),
            Msg::Token { .. } => Category(0),
        }
    }
    fn wire_bytes(&self) -> u32 {
        match *self {
            Msg::Note { size, .. } | Msg::Token { size, .. } => size,
        }
    }
    fn framing_bytes(&self) -> u32 {
        12
    }
    fn passive(&self) -> bool {
        matches!(self, Msg::Note { .. })
    }
}

/// Every input a node saw, in order, with its time: notes included (a passive handler may
/// change the node's own state, here its log and its note count).
struct P {
    log: Vec<(SimTime, String)>,
    notes: u32,
}

impl Node for P {
    type Msg = Msg;
    type Timer = u32;
    type Observer = ();

    fn handle(&mut self, input: Input<Msg, u32>, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        let entry = format!("{input:?}");
        self.log.push((now, entry));
        let n = ctx.node_count() as u32;
        match input {
            Input::Message {
                msg: Msg::Note { .. },
                ..
            } => self.notes += 1,
            Input::Start { restart } => {
                if restart {
                    // A restarted node has lost its state.
                    self.notes = 0;
                }
                let d = ctx.rng().random_range(0..50);
                ctx.set_timer(SimDuration::from_millis(d), 0);
            }
            Input::Timer(round) => {
                if round < 40 {
                    let d = ctx.rng().random_range(20..80);
                    ctx.set_timer(SimDuration::from_millis(d), round + 1);
                }
                self.act(4, ctx);
                // Now and then drop a connection and dial someone.
                if ctx.rng().random_bool(0.1) {
                    let peers = self.peers(ctx);
                    if let Some(&p) = peers.first() {
                        ctx.disconnect(p);
                    }
                    let to = ctx.rng().random_range(0..n);
                    if to != ctx.id().0 {
                        ctx.dial(NodeId(to)).unwrap();
                    }
                }
            }
            Input::Message {
                msg: Msg::Token { ttl, .. },
                ..
            } if ttl > 0 => self.act(ttl - 1, ctx),
            _ => {}
        }
    }
}

impl P {
    fn peers(&self, ctx: &Ctx<'_, Self>) -> Vec<NodeId> {
        let n = ctx.node_count() as u32;
        (0..n)
            .map(NodeId)
            .filter(|&p| p != ctx.id() && ctx.is_connected(p))
            .collect()
    }

    /// Sends notes to two random peers and a token to a third. The sizes depend on the notes
    /// received so far, so a note handed over late, early or not at all changes what follows.
    fn act(&mut self, ttl: u32, ctx: &mut Ctx<'_, Self>) {
        let peers = self.peers(ctx);
        if peers.is_empty() {
            return;
        }
        for k in 0..2 {
            let p = peers[ctx.rng().random_range(0..peers.len())];
            let size = 40 + (self.notes % 7) * 30;
            ctx.send(
                p,
                Msg::Note {
                    id: self.notes * 2 + k,
                    size,
                },
            )
            .unwrap();
        }
        let p = peers[ctx.rng().random_range(0..peers.len())];
        let size = 500 + (self.notes % 11) * 400;
        ctx.send(p, Msg::Token { ttl, size }).unwrap();
    }
}

struct Outcome {
    logs: Vec<Vec<(SimTime, String)>>,
    counters: Vec<Counters>,
    drops: Vec<(DropReason, u64)>,
    events: u64,
    hash: u64,
}

fn run(defer: bool) -> Outcome {
    let n = 24u32;
    let cfg = EngineConfig {
        seed: 7,
        categories: 3,
        framing_category: Some(Category(2)),
        network: NetworkConfig {
            jitter: Jitter::Uniform { max_ms: 8.0 },
            partition_closes_connections: true,
            ..NetworkConfig::default()
        },
        defer_passive: defer,
        ..EngineConfig::default()
    };
    let caps = (0..n)
        .map(|i| LinkCapacity::symmetric_mbps(if i % 3 == 0 { 2 } else { 20 }))
        .collect();
    let mut e = Engine::new(
        cfg,
        Box::new(ConstantLatency(SimDuration::from_millis(15))),
        caps,
        (0..n)
            .map(|_| P {
                log: Vec::new(),
                notes: 0,
            })
            .collect(),
        (),
    )
    .unwrap();
    for i in 0..n {
        for k in [1, 5] {
            e.connect_now(NodeId(i), NodeId((i + k) % n)).unwrap();
        }
    }
    let s = SimTime::from_millis;
    let faults = [
        (s(300), Fault::NodeOffline(NodeId(3))),
        (s(900), Fault::NodeOnline(NodeId(3))),
        (
            s(500),
            Fault::DegradeNode(
                NodeId(5),
                Degradation {
                    extra_latency: SimDuration::from_millis(40),
                    loss: 0.2,
                    bandwidth_factor: 0.3,
                },
            ),
        ),
        (s(1200), Fault::RestoreNode(NodeId(5))),
        (
            s(700),
            Fault::PartitionStart {
                id: 1,
                groups: (0..n).map(|i| i % 2).collect(),
            },
        ),
        (s(1000), Fault::PartitionEnd { id: 1 }),
        (s(1500), Fault::NodeOffline(NodeId(8))),
    ];
    for (t, f) in faults {
        e.schedule_fault(t, f).unwrap();
    }
    // In steps, as the harnesses run, then to the end.
    for k in 1..=20 {
        e.run_until(SimTime::from_millis(k * 137));
    }
    e.run_to_empty();
    let acc = e.accounting();
    Outcome {
        logs: e.nodes().iter().map(|p| p.log.clone()).collect(),
        counters: acc.snapshot(),
        drops: DropReason::ALL
            .iter()
            .map(|&r| (r, (0..n).map(|i| acc.drops(NodeId(i), r) as u64).sum()))
            .collect(),
        events: e.events_processed(),
        hash: e.event_hash(),
    }
}

#[test]
fn deferred_passive_messages_give_every_node_the_same_inputs() {
    let (a, b) = (run(true), run(false));
    // The deferral took effect: handler calls came in another order overall.
    assert_ne!(a.hash, b.hash, "passive messages were deferred");
    assert_eq!(a.events, b.events);
    for (i, (la, lb)) in a.logs.iter().zip(&b.logs).enumerate() {
        assert_eq!(la.len(), lb.len(), "node {i}: number of inputs");
        for (x, y) in la.iter().zip(lb) {
            assert_eq!(x, y, "node {i}: first different input");
        }
    }
    assert_eq!(a.counters, b.counters);
    assert_eq!(a.drops, b.drops);
    // The run went through what drops and moves messages.
    let notes: usize = a
        .logs
        .iter()
        .flatten()
        .filter(|(_, s)| s.contains("Note"))
        .count();
    assert!(notes > 1_000, "{notes} notes handed over");
    let closed = a
        .drops
        .iter()
        .find(|(r, _)| *r == DropReason::ConnectionClosed)
        .unwrap()
        .1;
    assert!(
        closed > 0,
        "some messages were in flight on closed connections"
    );
}

#[test]
#[should_panic(expected = "from the handler of a passive message")]
fn a_passive_handler_that_sends_is_refused() {
    struct Bad;
    impl Node for Bad {
        type Msg = Msg;
        type Timer = ();
        type Observer = ();
        fn handle(&mut self, input: Input<Msg, ()>, ctx: &mut Ctx<'_, Self>) {
            match input {
                Input::Start { .. } if ctx.id() == NodeId(0) => {
                    ctx.send(NodeId(1), Msg::Note { id: 0, size: 10 }).unwrap();
                    ctx.set_timer(SimDuration::from_secs(1), ());
                }
                // Breaks the contract: a note's handler sends.
                Input::Message {
                    msg: Msg::Note { .. },
                    from,
                } => {
                    ctx.send(from, Msg::Token { ttl: 0, size: 10 }).unwrap();
                }
                _ => {}
            }
        }
    }
    let mut e = Engine::new(
        EngineConfig {
            categories: 2,
            ..EngineConfig::default()
        },
        Box::new(ConstantLatency(SimDuration::from_millis(10))),
        vec![LinkCapacity::symmetric_mbps(10); 2],
        vec![Bad, Bad],
        (),
    )
    .unwrap();
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    e.run_to_empty();
}

#[test]
fn run_while_sees_passive_messages_on_time() {
    // Node 0 sends a note to node 1 every 10 ms from 0 (latency 10 ms, tiny messages on
    // 100 Mbit/s: each arrives 10 ms and some microseconds after it is sent). Run to 25 ms
    // (two notes in, the one sent at 20 ms in flight), then while node 1 has fewer than 3
    // notes: the third arrives a little after 30 ms, and the run stops there whether or not
    // notes were deferred (deferred, the note in flight would otherwise wait for node 1's next
    // input, at 40 ms).
    struct S {
        notes: u32,
    }
    impl Node for S {
        type Msg = Msg;
        type Timer = u32;
        type Observer = ();
        fn handle(&mut self, input: Input<Msg, u32>, ctx: &mut Ctx<'_, Self>) {
            match input {
                Input::Start { .. } if ctx.id() == NodeId(0) => {
                    ctx.set_timer(SimDuration::ZERO, 0);
                }
                Input::Timer(k) => {
                    ctx.send(NodeId(1), Msg::Note { id: k, size: 10 }).unwrap();
                    if k < 20 {
                        ctx.set_timer(SimDuration::from_millis(10), k + 1);
                    }
                }
                Input::Message { .. } => self.notes += 1,
                _ => {}
            }
        }
    }
    let stop = |defer: bool| {
        let mut e = Engine::new(
            EngineConfig {
                categories: 2,
                defer_passive: defer,
                ..EngineConfig::default()
            },
            Box::new(ConstantLatency(SimDuration::from_millis(10))),
            vec![LinkCapacity::symmetric_mbps(100); 2],
            vec![S { notes: 0 }, S { notes: 0 }],
            (),
        )
        .unwrap();
        e.connect_now(NodeId(0), NodeId(1)).unwrap();
        e.run_until(SimTime::from_millis(25));
        assert_eq!(e.node(NodeId(1)).notes, 2);
        let out = e.run_while(SimTime::from_secs(1), |e| e.node(NodeId(1)).notes < 3);
        assert_eq!(out, RunOutcome::ConditionMet);
        (e.now(), e.node(NodeId(1)).notes)
    };
    let (t, notes) = stop(true);
    assert_eq!(notes, 3);
    assert!(
        t > SimTime::from_millis(30) && t < SimTime::from_millis(31),
        "{t}"
    );
    assert_eq!(stop(false), (t, notes));
}
