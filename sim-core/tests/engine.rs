//! Engine and network-model tests. A scripted node records every input it sees; actions are
//! injected as timers set from outside at chosen times. Expected times are derived by hand in
//! the comments.

use sim_core::*;

#[derive(Clone, Copy, Debug, PartialEq)]
struct M {
    size: u32,
    seq: u32,
    framing: u32,
}

impl Payload for M {
    fn category(&self) -> Category {
        Category(0)
    }
    fn wire_bytes(&self) -> u32 {
        self.size
    }
    fn framing_bytes(&self) -> u32 {
        self.framing
    }
}

#[derive(Clone, Debug)]
enum Act {
    Send(u32, u32, u32),
    Datagram(u32, u32, u32),
    Setup(u32, u32, u32),
    Dial(u32),
    Close(u32),
    Compute(u64, u32),
    Tag(u32),
    SetAndCancel,
}

#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Start(bool),
    Msg { from: u32, seq: u32 },
    Tag(u32),
    Up { peer: u32, outbound: bool },
    Down { peer: u32, reason: CloseReason },
    DialFailed { peer: u32, reason: DialError },
    Setup(Sent),
}

#[derive(Default)]
struct Log(Vec<(SimTime, u32, Seen)>);

struct T {
    refuse: bool,
}

impl Node for T {
    type Msg = M;
    type Timer = Act;
    type Observer = Log;

    fn handle(&mut self, input: Input<M, Act>, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        let me = ctx.id().0;
        let seen = match input {
            Input::Start { restart } => Seen::Start(restart),
            Input::Message { from, msg } => Seen::Msg {
                from: from.0,
                seq: msg.seq,
            },
            Input::ConnectionUp { peer, outbound } => Seen::Up {
                peer: peer.0,
                outbound,
            },
            Input::ConnectionDown { peer, reason } => Seen::Down {
                peer: peer.0,
                reason,
            },
            Input::DialFailed { peer, reason } => Seen::DialFailed {
                peer: peer.0,
                reason,
            },
            Input::Timer(act) => {
                match act {
                    Act::Send(to, size, seq) => {
                        ctx.send(
                            NodeId(to),
                            M {
                                size,
                                seq,
                                framing: 0,
                            },
                        )
                        .unwrap();
                    }
                    Act::Datagram(to, size, seq) => {
                        ctx.send_datagram(
                            NodeId(to),
                            M {
                                size,
                                seq,
                                framing: 0,
                            },
                        )
                        .unwrap();
                    }
                    Act::Setup(to, size, seq) => {
                        let sent = ctx
                            .send_setup(
                                NodeId(to),
                                M {
                                    size,
                                    seq,
                                    framing: 0,
                                },
                            )
                            .unwrap();
                        ctx.observer().0.push((now, me, Seen::Setup(sent)));
                    }
                    Act::Dial(to) => ctx.dial(NodeId(to)).unwrap(),
                    Act::Close(to) => {
                        ctx.disconnect(NodeId(to));
                    }
                    Act::Compute(ms, tag) => {
                        ctx.compute(SimDuration::from_millis(ms), Act::Tag(tag));
                    }
                    Act::Tag(t) => {
                        ctx.observer().0.push((now, me, Seen::Tag(t)));
                    }
                    Act::SetAndCancel => {
                        let id = ctx.set_timer(SimDuration::from_millis(5), Act::Tag(999));
                        assert!(ctx.cancel_timer(id));
                        assert!(!ctx.cancel_timer(id), "second cancel finds nothing");
                    }
                }
                return;
            }
        };
        ctx.observer().0.push((now, me, seen));
    }

    fn accept_inbound(&mut self, _peer: NodeId, _ctx: &mut Ctx<'_, Self>) -> bool {
        !self.refuse
    }
}

fn engine(n: usize, cap: LinkCapacity, latency_ms: u64, cfg: EngineConfig) -> Engine<T> {
    Engine::new(
        cfg,
        Box::new(ConstantLatency(SimDuration::from_millis(latency_ms))),
        vec![cap; n],
        (0..n).map(|_| T { refuse: false }).collect(),
        Log::default(),
    )
    .unwrap()
}

/// Scripted nodes with one capacity each, a constant latency, default settings.
fn engine_with_caps(caps: Vec<LinkCapacity>, latency: SimDuration) -> Engine<T> {
    let n = caps.len();
    Engine::new(
        EngineConfig::default(),
        Box::new(ConstantLatency(latency)),
        caps,
        (0..n).map(|_| T { refuse: false }).collect(),
        Log::default(),
    )
    .unwrap()
}

fn msgs_at(e: &Engine<T>, node: u32) -> Vec<(SimTime, u32)> {
    e.observer()
        .0
        .iter()
        .filter_map(|(t, n, s)| match s {
            Seen::Msg { seq, .. } if *n == node => Some((*t, *seq)),
            _ => None,
        })
        .collect()
}

fn ms(x: u64) -> SimTime {
    SimTime::from_millis(x)
}

#[test]
fn ties_run_in_fifo_order_and_cancelled_timers_never_fire() {
    let mut e = engine(
        1,
        LinkCapacity::symmetric_mbps(1),
        0,
        EngineConfig::default(),
    );
    for tag in [3, 1, 2] {
        e.set_timer(NodeId(0), ms(10), Act::Tag(tag)).unwrap();
    }
    e.set_timer(NodeId(0), ms(1), Act::SetAndCancel).unwrap();
    e.run_to_empty();
    let tags: Vec<(SimTime, u32)> = e
        .observer()
        .0
        .iter()
        .filter_map(|(t, _, s)| match s {
            Seen::Tag(x) => Some((*t, *x)),
            _ => None,
        })
        .collect();
    // Same time: in the order they were set. The cancelled timer (tag 999) never shows.
    assert_eq!(tags, vec![(ms(10), 3), (ms(10), 1), (ms(10), 2)]);
    // Handler calls: 1 start + 3 tags + 1 SetAndCancel = 5; the cancelled timer costs none.
    assert_eq!(e.events_processed(), 5);
}

#[test]
fn uplink_queueing_two_megabytes_on_8_mbit() {
    // Node 0 uploads at 8 Mbit/s; node 1 downloads at 1 Gbit/s; latency 50 ms.
    // Message 1 (1 MB): leaves 0.000..1.000 s, last bit arrives 1.050 s -> delivered 1.050 s.
    // Message 2 (1 MB), queued behind it: leaves 1.000..2.000 s -> delivered 2.050 s.
    // One second apart, plus latency.
    let caps = vec![
        LinkCapacity::symmetric_mbps(8),
        LinkCapacity::symmetric_mbps(1000),
    ];
    let mut e = engine_with_caps(caps, SimDuration::from_millis(50));
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Send(1, 1_000_000, 1))
        .unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Send(1, 1_000_000, 2))
        .unwrap();
    e.run_to_empty();
    assert_eq!(msgs_at(&e, 1), vec![(ms(1050), 1), (ms(2050), 2)]);
    assert_eq!(
        e.accounting().get(NodeId(0), Category(0)).bytes_out,
        2_000_000
    );
    assert_eq!(
        e.accounting().get(NodeId(1), Category(0)).bytes_in,
        2_000_000
    );
    assert_eq!(e.accounting().get(NodeId(1), Category(0)).msgs_in, 2);
}

#[test]
fn downlink_queueing_from_two_senders() {
    // Nodes 0 and 1 upload at 1 Gbit/s; node 2 downloads at 8 Mbit/s; latency 50 ms.
    // Both send 1 MB at t=0. First bits arrive at 50 ms. The first (node 0, scheduled first)
    // occupies the downlink 0.050..1.050 s; the second waits and takes 1.050..2.050 s.
    let fast = LinkCapacity::symmetric_mbps(1000);
    let slow = LinkCapacity::symmetric_mbps(8);
    let mut e = engine_with_caps(vec![fast, fast, slow], SimDuration::from_millis(50));
    e.connect_now(NodeId(0), NodeId(2)).unwrap();
    e.connect_now(NodeId(1), NodeId(2)).unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Send(2, 1_000_000, 1))
        .unwrap();
    e.set_timer(NodeId(1), ms(0), Act::Send(2, 1_000_000, 2))
        .unwrap();
    e.run_to_empty();
    assert_eq!(msgs_at(&e, 2), vec![(ms(1050), 1), (ms(2050), 2)]);
}

#[test]
fn a_later_send_that_arrives_first_goes_first_on_the_downlink() {
    // Node 0 uploads at 8 Mbit/s, nodes 1 and 2 at 1 Gbit/s; node 3 downloads at 8 Mbit/s
    // (1 ms per 1,000 B); latency 50 ms. The downlink takes messages in first-bit order.
    // t = 0: node 0 sends 1 MB to node 1 (its uplink busy 0..1.000 s), then A (10 kB) to
    //   node 3: it leaves 1.000..1.010 s, first bit at node 3 at 1.050 s.
    // t = 10 ms: node 2 sends B (1 MB) to node 3: leaves 0.010..0.018 s, first bit 0.060 s.
    //   It goes before A: the downlink takes B 0.060..1.060 s -> delivered 1.060 s.
    // t = 20 ms: node 1 sends C (10 kB): first bit 0.070 s, after B and before A: it waits
    //   for B and takes 1.060..1.070 s -> delivered 1.070 s.
    // A waits for C: 1.070..1.080 s -> delivered 1.080 s (it was first due at 1.060 s, then
    //   at 1.070 s: two reschedules, and it is delivered once).
    let fast = LinkCapacity::symmetric_mbps(1000);
    let slow = LinkCapacity::symmetric_mbps(8);
    let mut e = engine_with_caps(vec![slow, fast, fast, slow], SimDuration::from_millis(50));
    for (a, b) in [(0, 1), (0, 3), (1, 3), (2, 3)] {
        e.connect_now(NodeId(a), NodeId(b)).unwrap();
    }
    e.set_timer(NodeId(0), ms(0), Act::Send(1, 1_000_000, 9))
        .unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Send(3, 10_000, 1))
        .unwrap();
    e.set_timer(NodeId(2), ms(10), Act::Send(3, 1_000_000, 2))
        .unwrap();
    e.set_timer(NodeId(1), ms(20), Act::Send(3, 10_000, 3))
        .unwrap();
    e.run_to_empty();
    assert_eq!(
        msgs_at(&e, 3),
        vec![(ms(1060), 2), (ms(1070), 3), (ms(1080), 1)]
    );
    assert_eq!(msgs_at(&e, 1), vec![(ms(1050), 9)]);
    assert_eq!(e.pending_events(), 0);
}

#[test]
fn a_burst_arriving_in_reverse_order_keeps_one_event_per_message() {
    // N = 40 senders (nodes 1..=40, uplinks 8 Mbit/s: 1 ms per 1,000 B) each send at t = 0,
    // in node order, first a backlog of (41 - i) x 1,000 B to a sink (node 41, 1 Gbit/s),
    // then a 1,000-B datagram to node 0 (downlink 1 Mbit/s: 8 ms per 1,000 B); latency 50 ms.
    // Sender i's datagram leaves at (41 - i) ms, first bit at node 0 at 50 + 41 - i ms: each
    // datagram arrives before every one sent before it, so each goes to the front of node
    // 0's downlink schedule, passing all the others (40 x 39 / 2 = 780 passes). Node 0 takes
    // them in arrival order: sender 40 (first bit 51 ms) 51..59 ms, then each 8 ms more;
    // sender i is the (40 - i)-th, delivered at 59 + 8 x (40 - i) ms (its last bit, 1 ms after
    // its first, is long there). A message passed keeps its one event: after the sends, 80
    // events wait (40 to the sink, 40 to node 0), not one more per pass.
    const N: u32 = 40;
    let mut caps = vec![LinkCapacity {
        upload_bps: 8_000_000,
        download_bps: 1_000_000,
    }];
    caps.extend((0..N).map(|_| LinkCapacity::symmetric_mbps(8)));
    caps.push(LinkCapacity::symmetric_mbps(1000));
    let mut e = engine_with_caps(caps, SimDuration::from_millis(50));
    for i in 1..=N {
        e.set_timer(
            NodeId(i),
            ms(0),
            Act::Datagram(N + 1, (N + 1 - i) * 1000, 1000 + i),
        )
        .unwrap();
        e.set_timer(NodeId(i), ms(0), Act::Datagram(0, 1000, i))
            .unwrap();
    }
    e.run_until(SimTime::from_nanos(1));
    assert_eq!(e.pending_events(), 2 * N as usize);
    e.run_to_empty();
    let want: Vec<(SimTime, u32)> = (1..=N)
        .rev()
        .map(|i| (ms(59 + 8 * (N - i) as u64), i))
        .collect();
    assert_eq!(msgs_at(&e, 0), want);
    assert_eq!(e.pending_events(), 0);
}

/// The downlink schedule the engine builds at send time, checked against a direct model of
/// the two FIFOs: each sender's uplink in send order, then each receiver's downlink in order
/// of first-bit arrival (ties: send order), a message delivered when the downlink has taken
/// it and its last bit has arrived. Random senders, sizes, times and link speeds make later
/// sends overtake earlier ones often (slow uplinks with backlogs, fast ones without).
fn downlink_matches_reference(sends: &[(u64, u8, u8, u32)], speeds: &[u8]) {
    let n = speeds.len();
    let caps: Vec<LinkCapacity> = speeds
        .iter()
        .map(|&s| {
            let mbps = [1u64, 8, 100, 1000][s as usize % 4];
            LinkCapacity {
                upload_bps: mbps * 1_000_000,
                download_bps: [8u64, 100, 3][s as usize / 4 % 3] * 1_000_000,
            }
        })
        .collect();
    let latency = SimDuration::from_millis(20);
    let mut e = engine_with_caps(caps.clone(), latency);
    for a in 0..n as u32 {
        for b in a + 1..n as u32 {
            e.connect_now(NodeId(a), NodeId(b)).unwrap();
        }
    }
    // Sends in time order (timers at one instant fire in the order set).
    let mut sends: Vec<(u64, u32, u32, u32, u32)> = sends
        .iter()
        .enumerate()
        .filter(|(_, s)| s.1 as usize % n != s.2 as usize % n)
        .map(|(i, &(t, a, b, size))| (t, a as u32 % n as u32, b as u32 % n as u32, size, i as u32))
        .collect();
    sends.sort_by_key(|s| (s.0, s.4));
    // Reference: uplinks in send order.
    let mut up_free = vec![SimTime::ZERO; n];
    // Per receiver: (first-bit arrival, send order, last-bit arrival, size, id).
    type Arrival = (SimTime, usize, SimTime, u32, u32);
    let mut arrivals: Vec<Vec<Arrival>> = vec![Vec::new(); n];
    for (order, &(t, from, to, size, id)) in sends.iter().enumerate() {
        // Connection-up notices come first at time 0; a send at t = 0 still leaves at 0.
        let now = SimTime::from_nanos(t * 1_000);
        let u0 = now.max(up_free[from as usize]);
        let u1 = u0 + SimDuration::transmit(size as u64, caps[from as usize].upload_bps);
        up_free[from as usize] = u1;
        arrivals[to as usize].push((u0 + latency, order, u1 + latency, size, id));
        e.set_timer(NodeId(from), now, Act::Send(to, size, id))
            .unwrap();
    }
    e.run_to_empty();
    for (r, list) in arrivals.iter_mut().enumerate() {
        // Downlink in first-bit order, ties by send order.
        list.sort_by_key(|a| (a.0, a.1));
        let mut free = SimTime::ZERO;
        let mut want: Vec<(SimTime, u32)> = list
            .iter()
            .map(|&(first, _, last, size, id)| {
                let end =
                    first.max(free) + SimDuration::transmit(size as u64, caps[r].download_bps);
                free = end;
                (end.max(last), id)
            })
            .collect();
        let mut got = msgs_at(&e, r as u32);
        // Compared as sets of (time, id): the order within one instant is not checked here.
        want.sort();
        got.sort();
        assert_eq!(got, want, "node {r}");
    }
    assert_eq!(e.pending_events(), 0);
}

proptest::proptest! {
    #[test]
    fn downlink_schedule_matches_a_direct_model(
        sends in proptest::collection::vec((0u64..200_000, 0u8..5, 0u8..5, 1u32..200_000), 1..60),
        speeds in proptest::collection::vec(0u8..12, 2..6),
    ) {
        downlink_matches_reference(&sends, &speeds);
    }
}

#[test]
fn idle_links_cost_latency_plus_one_serialisation() {
    // 100 Mbit/s both ends, 1,250,000 B = 10 Mbit -> 100 ms on the wire, latency 20 ms:
    // delivered at 120 ms (cut-through: not 220 ms).
    let mut e = engine(
        2,
        LinkCapacity::symmetric_mbps(100),
        20,
        EngineConfig::default(),
    );
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Send(1, 1_250_000, 7))
        .unwrap();
    e.run_to_empty();
    assert_eq!(msgs_at(&e, 1), vec![(ms(120), 7)]);
}

/// Node 0 sends its messages to node 1 when its timer fires (at 0); each node records the
/// arrival time and sequence number of what it receives.
struct Sender(Vec<M>);

impl Node for Sender {
    type Msg = M;
    type Timer = ();
    type Observer = Vec<(SimTime, u32)>;
    fn handle(&mut self, input: Input<M, ()>, ctx: &mut Ctx<'_, Self>) {
        match input {
            Input::Timer(()) => {
                for m in std::mem::take(&mut self.0) {
                    ctx.send(NodeId(1), m).unwrap();
                }
            }
            Input::Message { msg, .. } => {
                let now = ctx.now();
                ctx.observer().push((now, msg.seq))
            }
            _ => {}
        }
    }
}

/// Two connected nodes on 8 Mbit/s links with `latency`, framing bytes counted under category
/// 1, node 0 sending `sends` at 0.
fn framing_engine(latency: SimDuration, sends: Vec<M>) -> Engine<Sender> {
    let cfg = EngineConfig {
        categories: 2,
        framing_category: Some(Category(1)),
        ..EngineConfig::default()
    };
    let cap = LinkCapacity::symmetric_mbps(8);
    let mut e = Engine::new(
        cfg,
        Box::new(ConstantLatency(latency)),
        vec![cap; 2],
        vec![Sender(sends), Sender(Vec::new())],
        Vec::new(),
    )
    .unwrap();
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    e.set_timer(NodeId(0), ms(0), ()).unwrap();
    e
}

#[test]
fn framing_bytes_have_their_own_category_and_take_link_time() {
    // 1000 B at 8 Mbit/s = 1 ms, zero latency.
    let m = M {
        size: 900,
        seq: 0,
        framing: 100,
    };
    let mut e = framing_engine(SimDuration::ZERO, vec![m]);
    e.run_to_empty();
    assert_eq!(e.observer(), &vec![(ms(1), 0)]);
    let acc = e.accounting();
    assert_eq!(acc.get(NodeId(0), Category(0)).bytes_out, 900);
    assert_eq!(acc.get(NodeId(0), Category(1)).bytes_out, 100);
    assert_eq!(acc.get(NodeId(1), Category(1)).bytes_in, 100);
    // Framing adds bytes, not messages.
    assert_eq!(acc.get(NodeId(1), Category(1)).msgs_in, 0);
}

#[test]
fn large_framing_is_counted_whole() {
    // An in-flight record holds framing bytes below 32,767 itself and keeps larger ones
    // aside: three messages in flight at once, one on each side of that limit and one far
    // above it, are counted in full at the receiver, each under the framing category.
    let sends = [32_766, 32_767, 1_000_000]
        .into_iter()
        .enumerate()
        .map(|(seq, framing)| M {
            size: 10,
            seq: seq as u32,
            framing,
        })
        .collect();
    let mut e = framing_engine(SimDuration::from_millis(10), sends);
    e.run_to_empty();
    let seqs: Vec<u32> = e.observer().iter().map(|r| r.1).collect();
    assert_eq!(seqs, vec![0, 1, 2]);
    let acc = e.accounting();
    // 32,766 + 32,767 + 1,000,000 framing bytes, 3 x 10 message bytes.
    assert_eq!(acc.get(NodeId(1), Category(1)).bytes_in, 1_065_533);
    assert_eq!(acc.get(NodeId(0), Category(1)).bytes_out, 1_065_533);
    assert_eq!(acc.get(NodeId(1), Category(0)).bytes_in, 30);
}

#[test]
fn dial_takes_round_trips_and_both_sides_are_told() {
    // Latency 10 ms one way, RTT 20 ms, 3 round trips = 60 ms for the dialer; the target
    // accepts half a round trip earlier, at 50 ms.
    let mut e = engine(
        2,
        LinkCapacity::symmetric_mbps(100),
        10,
        EngineConfig::default(),
    );
    e.set_timer(NodeId(0), ms(0), Act::Dial(1)).unwrap();
    e.run_to_empty();
    let log = &e.observer().0;
    assert!(log.contains(&(
        ms(50),
        1,
        Seen::Up {
            peer: 0,
            outbound: false
        }
    )));
    assert!(log.contains(&(
        ms(60),
        0,
        Seen::Up {
            peer: 1,
            outbound: true
        }
    )));
    // Closing: both sides told at once.
    e.set_timer(NodeId(1), ms(100), Act::Close(0)).unwrap();
    e.run_to_empty();
    let log = &e.observer().0;
    assert!(log.contains(&(
        ms(100),
        1,
        Seen::Down {
            peer: 0,
            reason: CloseReason::Local
        }
    )));
    assert!(log.contains(&(
        ms(100),
        0,
        Seen::Down {
            peer: 1,
            reason: CloseReason::Remote
        }
    )));
}

#[test]
fn static_wiring_tells_both_sides_after_start() {
    let mut e = engine(
        2,
        LinkCapacity::symmetric_mbps(1),
        5,
        EngineConfig::default(),
    );
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    e.run_to_empty();
    let log: Vec<_> = e
        .observer()
        .0
        .iter()
        .map(|(t, n, s)| (*t, *n, s.clone()))
        .collect();
    assert_eq!(
        log,
        vec![
            (ms(0), 0, Seen::Start(false)),
            (ms(0), 1, Seen::Start(false)),
            (
                ms(0),
                0,
                Seen::Up {
                    peer: 1,
                    outbound: true
                }
            ),
            (
                ms(0),
                1,
                Seen::Up {
                    peer: 0,
                    outbound: false
                }
            ),
        ]
    );
}

#[test]
fn refused_and_timed_out_dials() {
    let mut e = Engine::new(
        EngineConfig::default(),
        Box::new(ConstantLatency(SimDuration::from_millis(10))),
        vec![LinkCapacity::symmetric_mbps(10); 3],
        vec![T { refuse: false }, T { refuse: true }, T { refuse: false }],
        Log::default(),
    )
    .unwrap();
    e.schedule_fault(ms(0), Fault::NodeOffline(NodeId(2)))
        .unwrap();
    e.set_timer(NodeId(0), ms(1), Act::Dial(1)).unwrap();
    e.set_timer(NodeId(0), ms(1), Act::Dial(2)).unwrap();
    e.run_to_empty();
    let log = &e.observer().0;
    // Refused: the target decides at 1 + 50 ms and the answer is back 10 ms later.
    assert!(log.contains(&(
        ms(61),
        0,
        Seen::DialFailed {
            peer: 1,
            reason: DialError::Refused
        }
    )));
    // Offline target: the dial times out 10 s after it started.
    assert!(log.contains(&(
        ms(10_001),
        0,
        Seen::DialFailed {
            peer: 2,
            reason: DialError::Timeout
        }
    )));
}

#[test]
fn offline_drops_are_counted_and_restart_is_reported() {
    // 0 and 1 connected, latency 1 s. A stream message and a datagram sent at 0 are in flight
    // when 1 goes offline at 0.5 s: the stream message dies with its connection, the datagram
    // finds the receiver offline. Node 1 comes back at 2 s and is restarted.
    let mut e = engine(
        2,
        LinkCapacity::symmetric_mbps(100),
        1000,
        EngineConfig::default(),
    );
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Send(1, 100, 1)).unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Datagram(1, 100, 2))
        .unwrap();
    e.set_timer(NodeId(1), ms(1500), Act::Tag(5)).unwrap(); // must not fire: set before offline
    e.schedule_fault(ms(500), Fault::NodeOffline(NodeId(1)))
        .unwrap();
    e.schedule_fault(ms(2000), Fault::NodeOnline(NodeId(1)))
        .unwrap();
    e.run_to_empty();
    assert!(msgs_at(&e, 1).is_empty());
    let acc = e.accounting();
    assert_eq!(acc.drops(NodeId(1), DropReason::ConnectionClosed), 1);
    assert_eq!(acc.drops(NodeId(1), DropReason::ReceiverOffline), 1);
    let log = &e.observer().0;
    assert!(log.contains(&(
        ms(500),
        0,
        Seen::Down {
            peer: 1,
            reason: CloseReason::PeerOffline
        }
    )));
    assert!(log.contains(&(ms(2000), 1, Seen::Start(true))));
    assert!(!log.iter().any(|(_, _, s)| *s == Seen::Tag(5)));
}

#[test]
fn partitions_cut_connections_and_drop_traffic() {
    let mut e = engine(
        3,
        LinkCapacity::symmetric_mbps(100),
        10,
        EngineConfig::default(),
    );
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    e.connect_now(NodeId(0), NodeId(2)).unwrap();
    e.schedule_fault(
        ms(100),
        Fault::PartitionStart {
            id: 1,
            groups: vec![0, 0, 1],
        },
    )
    .unwrap();
    e.set_timer(NodeId(0), ms(200), Act::Datagram(2, 10, 1))
        .unwrap();
    e.set_timer(NodeId(0), ms(200), Act::Send(1, 10, 2))
        .unwrap();
    e.schedule_fault(ms(300), Fault::PartitionEnd { id: 1 })
        .unwrap();
    e.set_timer(NodeId(0), ms(400), Act::Datagram(2, 10, 3))
        .unwrap();
    e.run_to_empty();
    assert!(e.observer().0.contains(&(
        ms(100),
        2,
        Seen::Down {
            peer: 0,
            reason: CloseReason::Partition
        }
    )));
    assert_eq!(e.accounting().drops(NodeId(2), DropReason::Partition), 1);
    // 10 B at 100 Mbit/s = 800 ns on the wire, + 10 ms latency.
    let wire = SimDuration::from_nanos(800);
    assert_eq!(msgs_at(&e, 1), vec![(ms(210) + wire, 2)]);
    assert_eq!(msgs_at(&e, 2), vec![(ms(410) + wire, 3)]);
}

#[test]
fn compute_jobs_queue_on_the_cpu() {
    // Two 12 ms verifications started at the same instant finish at 12 and 24 ms; a 150 ms
    // proof generation requested at 5 ms waits behind them: 24 + 150 = 174 ms.
    let mut e = engine(
        1,
        LinkCapacity::symmetric_mbps(1),
        0,
        EngineConfig::default(),
    );
    e.set_timer(NodeId(0), ms(0), Act::Compute(12, 1)).unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Compute(12, 2)).unwrap();
    e.set_timer(NodeId(0), ms(5), Act::Compute(150, 3)).unwrap();
    e.run_to_empty();
    let tags: Vec<_> = e
        .observer()
        .0
        .iter()
        .filter_map(|(t, _, s)| match s {
            Seen::Tag(x) => Some((*t, *x)),
            _ => None,
        })
        .collect();
    assert_eq!(tags, vec![(ms(12), 1), (ms(24), 2), (ms(174), 3)]);
}

#[test]
fn cpu_slowdown_scales_every_compute_job_of_its_node_only() {
    // Node 0 runs at slowdown 2.5, node 1 at the default 1. Node 0: two 12 ms jobs at 0 take
    // 30 ms each -> end at 30 and 60 ms; a 150 ms job at 5 ms takes 375 ms behind them ->
    // 435 ms. Node 1: the same 12 ms job ends at 12 ms. A slowdown of 1 again gives the cost
    // as given (checked on node 2, set back to 1 after 3).
    let mut e = engine(
        3,
        LinkCapacity::symmetric_mbps(1),
        0,
        EngineConfig::default(),
    );
    e.set_cpu_slowdown(NodeId(0), 2.5).unwrap();
    e.set_cpu_slowdown(NodeId(2), 3.0).unwrap();
    e.set_cpu_slowdown(NodeId(2), 1.0).unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Compute(12, 1)).unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Compute(12, 2)).unwrap();
    e.set_timer(NodeId(0), ms(5), Act::Compute(150, 3)).unwrap();
    e.set_timer(NodeId(1), ms(0), Act::Compute(12, 4)).unwrap();
    e.set_timer(NodeId(2), ms(0), Act::Compute(7, 5)).unwrap();
    e.run_to_empty();
    let mut tags: Vec<_> = e
        .observer()
        .0
        .iter()
        .filter_map(|(t, _, s)| match s {
            Seen::Tag(x) => Some((*t, *x)),
            _ => None,
        })
        .collect();
    tags.sort_by_key(|t| t.1);
    assert_eq!(
        tags,
        vec![
            (ms(30), 1),
            (ms(60), 2),
            (ms(435), 3),
            (ms(12), 4),
            (ms(7), 5)
        ]
    );
    // Bad factors are refused with the field named; unknown nodes too.
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_CPU_SLOWDOWN * 2.0] {
        let err = e.set_cpu_slowdown(NodeId(0), bad).unwrap_err();
        assert!(err.to_string().starts_with("cpu_slowdown: "), "{err}");
    }
    assert!(matches!(
        e.set_cpu_slowdown(NodeId(3), 2.0),
        Err(SimError::UnknownNode { .. })
    ));
}

#[test]
fn stream_order_survives_jitter_and_datagrams_are_lost() {
    let cfg = EngineConfig {
        network: NetworkConfig {
            jitter: Jitter::Exponential { mean_ms: 30.0 },
            datagram_loss: 0.5,
            ..NetworkConfig::default()
        },
        ..EngineConfig::default()
    };
    let mut e = engine(2, LinkCapacity::symmetric_mbps(100), 10, cfg);
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    for i in 0..200u32 {
        e.set_timer(
            NodeId(0),
            SimTime::from_micros_for_test(i as u64 * 100),
            Act::Send(1, 100, i),
        )
        .unwrap();
    }
    for i in 0..1000u32 {
        e.set_timer(NodeId(0), ms(100), Act::Datagram(1, 100, 10_000 + i))
            .unwrap();
    }
    e.run_to_empty();
    let got = msgs_at(&e, 1);
    let stream: Vec<u32> = got.iter().map(|x| x.1).filter(|s| *s < 10_000).collect();
    assert_eq!(
        stream,
        (0..200).collect::<Vec<_>>(),
        "stream messages in order"
    );
    // 1000 datagrams at 50 % loss: binomial, sd = sqrt(1000 * .25) = 15.8; 5 sd = 79.
    let lost = e.accounting().drops(NodeId(1), DropReason::Loss) as i64;
    assert!((lost - 500).abs() < 80, "lost {lost}");
    assert_eq!(got.len() as i64, 200 + 1000 - lost);
}

trait FromMicros {
    fn from_micros_for_test(us: u64) -> SimTime;
}
impl FromMicros for SimTime {
    fn from_micros_for_test(us: u64) -> SimTime {
        SimTime::from_nanos(us * 1000)
    }
}

#[test]
fn degraded_node_halves_bandwidth_then_recovers() {
    // 8 Mbit/s uplink at factor 0.5 -> 1 MB takes 2 s instead of 1 s.
    let cap = LinkCapacity {
        upload_bps: 8_000_000,
        download_bps: 1_000_000_000,
    };
    let mut e = engine(2, cap, 0, EngineConfig::default());
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    let deg = Degradation {
        extra_latency: SimDuration::from_millis(100),
        bandwidth_factor: 0.5,
        loss: 0.0,
    };
    e.schedule_fault(ms(0), Fault::DegradeNode(NodeId(0), deg))
        .unwrap();
    e.set_timer(NodeId(0), ms(1), Act::Send(1, 1_000_000, 1))
        .unwrap();
    e.schedule_fault(ms(5000), Fault::RestoreNode(NodeId(0)))
        .unwrap();
    e.set_timer(NodeId(0), ms(5000), Act::Send(1, 1_000_000, 2))
        .unwrap();
    e.run_to_empty();
    // 1 ms + 2 s + 100 ms extra latency; then 5 s + 1 s.
    assert_eq!(msgs_at(&e, 1), vec![(ms(2101), 1), (ms(6000), 2)]);
}

#[test]
fn stream_order_holds_when_a_link_degradation_ends() {
    // No jitter: until the degradation the engine skips the per-connection clamp. 100 ms
    // base latency, 1 Gbit/s (100 bytes take 0.8 us). The link gets 500 ms extra at 0 ms
    // and is restored at 20 ms. Message 1, sent at 10 ms, arrives at 10 + 100 + 500 = 610 ms
    // (+0.8 us). Message 2, sent at 30 ms, would arrive at 130 ms on its own; the connection
    // keeps send order, so it is clamped to message 1's last-bit arrival and delivered right
    // after it. Message 0, sent at 5 ms before anything else, is not delayed by either.
    let mut e = engine(
        2,
        LinkCapacity::symmetric_mbps(1000),
        100,
        EngineConfig::default(),
    );
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    e.set_timer(NodeId(0), ms(5), Act::Send(1, 100, 0)).unwrap();
    let deg = Degradation {
        extra_latency: SimDuration::from_millis(500),
        bandwidth_factor: 1.0,
        loss: 0.0,
    };
    e.schedule_fault(ms(8), Fault::DegradeLink(NodeId(0), NodeId(1), deg))
        .unwrap();
    e.set_timer(NodeId(0), ms(10), Act::Send(1, 100, 1))
        .unwrap();
    e.schedule_fault(ms(20), Fault::RestoreLink(NodeId(0), NodeId(1)))
        .unwrap();
    e.set_timer(NodeId(0), ms(30), Act::Send(1, 100, 2))
        .unwrap();
    e.run_to_empty();
    let got = msgs_at(&e, 1);
    let order: Vec<u32> = got.iter().map(|m| m.1).collect();
    assert_eq!(order, vec![0, 1, 2], "send order kept: {got:?}");
    let ns = |m: usize| got[m].0.as_nanos();
    assert_eq!(ns(0), 105_000_800, "5 ms + 100 ms + 800 ns serialisation");
    assert_eq!(ns(1), 610_000_800, "10 ms + 600 ms + 800 ns");
    assert!(
        ns(2) >= ns(1) && ns(2) < 611_000_000,
        "clamped behind message 1: {got:?}"
    );
}

/// A small random workload: every node forwards each message to a random connected peer a
/// few times, so the run consumes node and network randomness.
fn random_workload(seed: u64) -> (u64, Vec<Counters>, u64) {
    struct R;
    impl Node for R {
        type Msg = M;
        type Timer = u32;
        type Observer = u64;
        fn handle(&mut self, input: Input<M, u32>, ctx: &mut Ctx<'_, Self>) {
            use rand::Rng;
            let n = ctx.node_count() as u32;
            match input {
                Input::Start { .. } => {
                    let d = ctx.rng().random_range(0..1000);
                    ctx.set_timer(SimDuration::from_micros(d), 5);
                }
                Input::Timer(ttl)
                | Input::Message {
                    msg: M { seq: ttl, .. },
                    ..
                } if ttl > 0 => {
                    let me = ctx.id().0;
                    let to = (me + 1 + ctx.rng().random_range(0..n - 1)) % n;
                    let size = ctx.rng().random_range(100..5000);
                    ctx.send_datagram(
                        NodeId(to),
                        M {
                            size,
                            seq: ttl - 1,
                            framing: 0,
                        },
                    )
                    .unwrap();
                    *ctx.observer() += 1;
                }
                _ => {}
            }
        }
    }
    let cfg = EngineConfig {
        seed,
        network: NetworkConfig {
            jitter: Jitter::Uniform { max_ms: 5.0 },
            datagram_loss: 0.01,
            ..NetworkConfig::default()
        },
        ..EngineConfig::default()
    };
    let mut e = Engine::new(
        cfg,
        Box::new(ConstantLatency(SimDuration::from_millis(20))),
        vec![LinkCapacity::symmetric_mbps(10); 50],
        (0..50).map(|_| R).collect(),
        0u64,
    )
    .unwrap();
    e.run_to_empty();
    (e.event_hash(), e.accounting().snapshot(), *e.observer())
}

#[test]
fn same_seed_same_run_different_seed_different_run() {
    let a = random_workload(42);
    let b = random_workload(42);
    let c = random_workload(43);
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert_eq!(a.2, b.2);
    assert_ne!(a.0, c.0);
    assert!(a.2 > 200, "the workload did something: {} sends", a.2);
}

#[test]
fn both_queues_give_the_same_run() {
    // Queue choice is a speed knob only: the event-stream hash must not depend on it.
    let run = |queue| {
        let cfg = EngineConfig {
            queue,
            ..EngineConfig::default()
        };
        let mut e = engine(20, LinkCapacity::symmetric_mbps(10), 7, cfg);
        for i in 0..20u32 {
            e.connect_now(NodeId(i), NodeId((i + 1) % 20)).unwrap();
            for k in 0..5 {
                e.set_timer(
                    NodeId(i),
                    ms(k * 3 % 7),
                    Act::Send((i + 1) % 20, 1000 + k as u32, k as u32),
                )
                .unwrap();
            }
        }
        e.run_to_empty();
        (e.event_hash(), msgs_at(&e, 3))
    };
    assert_eq!(run(QueueKind::BinaryHeap), run(QueueKind::Radix));
}

#[test]
fn bad_input_is_a_typed_error() {
    let zero = LinkCapacity {
        upload_bps: 0,
        download_bps: 1,
    };
    let err = Engine::<T>::new(
        EngineConfig::default(),
        Box::new(ConstantLatency(SimDuration::ZERO)),
        vec![zero],
        vec![T { refuse: false }],
        Log::default(),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .contains("upload_bps of node 0 must be positive"),
        "{err}"
    );

    let cfg = EngineConfig {
        network: NetworkConfig {
            datagram_loss: f64::NAN,
            ..NetworkConfig::default()
        },
        ..EngineConfig::default()
    };
    let err = Engine::<T>::new(
        cfg,
        Box::new(ConstantLatency(SimDuration::ZERO)),
        vec![LinkCapacity::symmetric_mbps(1)],
        vec![T { refuse: false }],
        Log::default(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("network.datagram_loss"), "{err}");

    let mut e = engine(
        2,
        LinkCapacity::symmetric_mbps(1),
        0,
        EngineConfig::default(),
    );
    let err = e.connect_now(NodeId(0), NodeId(7)).unwrap_err();
    assert_eq!(
        err,
        SimError::UnknownNode {
            what: "connect_now",
            node: NodeId(7),
            nodes: 2
        }
    );
    assert!(
        e.schedule_fault(ms(1), Fault::NodeOffline(NodeId(9)))
            .is_err()
    );
    let bad = Degradation {
        extra_latency: SimDuration::ZERO,
        bandwidth_factor: 0.0,
        loss: 0.0,
    };
    assert!(
        e.schedule_fault(ms(1), Fault::DegradeNode(NodeId(0), bad))
            .is_err()
    );
}

#[test]
fn send_without_connection_is_dropped_and_counted() {
    let mut e = engine(
        2,
        LinkCapacity::symmetric_mbps(1),
        0,
        EngineConfig::default(),
    );
    e.set_timer(NodeId(0), ms(0), Act::Send(1, 10, 1)).unwrap();
    e.run_to_empty();
    assert_eq!(e.accounting().drops(NodeId(1), DropReason::NoConnection), 1);
    assert_eq!(e.accounting().get(NodeId(0), Category(0)).bytes_out, 0);
}

#[test]
fn upload_backlog_is_bounded() {
    // 1 Mbit/s uplink, 30 s backlog bound: each 1 MB message takes 8 s, so the 5th message
    // (which would start after 32 s of queue) is dropped; messages 1-4 get through.
    let mut e = engine(
        2,
        LinkCapacity::symmetric_mbps(1),
        0,
        EngineConfig::default(),
    );
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    for i in 0..5 {
        e.set_timer(NodeId(0), ms(0), Act::Send(1, 1_000_000, i))
            .unwrap();
    }
    e.run_to_empty();
    assert_eq!(msgs_at(&e, 1).len(), 4);
    assert_eq!(
        e.accounting().drops(NodeId(1), DropReason::UploadQueueFull),
        1
    );
}

#[test]
fn run_until_stops_at_the_time_and_run_while_on_a_condition() {
    let mut e = engine(
        1,
        LinkCapacity::symmetric_mbps(1),
        0,
        EngineConfig::default(),
    );
    for i in 1..=10 {
        e.set_timer(NodeId(0), ms(i * 100), Act::Tag(i as u32))
            .unwrap();
    }
    assert_eq!(e.run_until(ms(450)), RunOutcome::ReachedTime);
    assert_eq!(e.now(), ms(450));
    assert_eq!(e.observer().0.len(), 1 + 4);
    let out = e.run_while(SimTime::MAX, |e| e.observer().0.len() < 1 + 7);
    assert_eq!(out, RunOutcome::ConditionMet);
    assert_eq!(e.now(), ms(700));
    assert_eq!(e.run_until(SimTime::MAX), RunOutcome::QueueEmpty);
}

/// An engine with the TCP model (Linux defaults, no stream window), headers counted under
/// category 1.
fn tcp_engine(n: usize, latency_ms: u64, tcp: TcpConfig) -> Engine<T> {
    let cfg = EngineConfig {
        categories: 2,
        tcp_header_category: Some(Category(1)),
        network: NetworkConfig {
            tcp: Some(tcp),
            ..NetworkConfig::default()
        },
        ..EngineConfig::default()
    };
    engine(n, LinkCapacity::symmetric_mbps(100), latency_ms, cfg)
}

#[test]
fn tcp_slow_start_delays_a_large_message_on_a_fresh_connection() {
    // 500,000 B at 100 Mbit/s, one-way 50 ms (RTT 100 ms), a connection opened at 0.
    // Without TCP: 50 ms + 500,000 x 80 ns = 90 ms.
    let mut e = engine(
        2,
        LinkCapacity::symmetric_mbps(100),
        50,
        EngineConfig::default(),
    );
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Send(1, 500_000, 1))
        .unwrap();
    e.run_to_empty();
    assert_eq!(msgs_at(&e, 1), vec![(ms(90), 1)]);
    // With TCP: 346 segments in slow-start rounds of 10, 20, 40, 80, 160, 36; the last byte
    // leaves at 504,839,360 ns (derived in sim_core::tcp's tests) and arrives 50 ms later.
    let mut e = tcp_engine(2, 50, TcpConfig::default());
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Send(1, 500_000, 1))
        .unwrap();
    e.run_to_empty();
    let got = msgs_at(&e, 1);
    assert_eq!(got, vec![(SimTime::from_nanos(554_839_360), 1)]);
    // 346 segments x 52 header bytes, counted apart on both sides (as bytes, not messages).
    let acc = e.accounting();
    assert_eq!(acc.get(NodeId(0), Category(1)).bytes_out, 17_992);
    assert_eq!(acc.get(NodeId(1), Category(1)).bytes_in, 17_992);
    assert_eq!(acc.get(NodeId(1), Category(1)).msgs_in, 0);
    assert_eq!(acc.get(NodeId(1), Category(0)).bytes_in, 500_000);
}

#[test]
fn tcp_small_messages_and_datagrams_cost_only_their_headers() {
    // 1000 B: one segment (52 header bytes), within the initial window: 50 ms + 1052 x 80 ns.
    // A datagram carries no TCP header and is not delayed: 50 ms + 1000 x 80 ns.
    let mut e = tcp_engine(2, 50, TcpConfig::default());
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Send(1, 1_000, 1))
        .unwrap();
    e.set_timer(NodeId(0), ms(10), Act::Datagram(1, 1_000, 2))
        .unwrap();
    e.run_to_empty();
    assert_eq!(
        msgs_at(&e, 1),
        vec![
            (SimTime::from_nanos(50_000_000 + 1_052 * 80), 1),
            (SimTime::from_nanos(60_000_000 + 1_000 * 80), 2)
        ]
    );
    assert_eq!(e.accounting().get(NodeId(1), Category(1)).bytes_in, 52);
}

#[test]
fn tcp_flows_are_per_direction_and_restart_after_idle() {
    // Both directions send 500 KB at 0: each has its own fresh window (same arrival). Then
    // node 0 sends again at 2 s: idle 2 s - 0.504839 s = 1.495 s, RTO 100 + 200 = 300 ms:
    // halvings = ceil(1495.16 / 300) - 1 = 4: 320 -> 20; rounds of 20, 40, 80, 160, 46:
    // stalls (100.12 - 2.4) + (100.12 - 4.8) + (100.12 - 9.6) + (100.12 - 19.2) =
    // 97.72 + 95.32 + 90.52 + 80.92 = 364.48 ms; + 41.43936 ms on the wire + 50 ms latency.
    let mut e = tcp_engine(2, 50, TcpConfig::default());
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Send(1, 500_000, 1))
        .unwrap();
    e.set_timer(NodeId(1), ms(0), Act::Send(0, 500_000, 2))
        .unwrap();
    e.set_timer(NodeId(0), ms(2000), Act::Send(1, 500_000, 3))
        .unwrap();
    e.run_to_empty();
    assert_eq!(
        msgs_at(&e, 1),
        vec![
            (SimTime::from_nanos(554_839_360), 1),
            (
                SimTime::from_nanos(2_000_000_000 + 364_480_000 + 41_439_360 + 50_000_000),
                3
            )
        ]
    );
    assert_eq!(msgs_at(&e, 0), vec![(SimTime::from_nanos(554_839_360), 2)]);
}

#[test]
fn setup_bytes_take_the_uplink_and_are_counted_but_never_delivered() {
    // Node 0 writes 1000 set-up bytes to node 1 at 0, then a 1000-byte message. Each is one
    // segment with 52 header bytes: 1052 B = 84,160 ns at 100 Mbit/s. The set-up write leaves
    // at 84,160 ns and is counted on both sides at once; the message queues behind it on the
    // uplink, leaves at 168,320 ns and arrives 50 ms later. Node 1 sees only the message.
    let mut e = tcp_engine(3, 50, TcpConfig::default());
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Setup(1, 1_000, 1))
        .unwrap();
    e.set_timer(NodeId(0), ms(0), Act::Send(1, 1_000, 2))
        .unwrap();
    // Without a connection nothing is written.
    e.set_timer(NodeId(2), ms(0), Act::Setup(1, 1_000, 3))
        .unwrap();
    e.run_until(SimTime::from_nanos(1));
    let acc = e.accounting();
    assert_eq!(acc.get(NodeId(1), Category(0)).bytes_in, 1_000);
    assert_eq!(acc.get(NodeId(1), Category(0)).msgs_in, 1);
    assert_eq!(acc.get(NodeId(1), Category(1)).bytes_in, 52);
    e.run_to_empty();
    assert_eq!(
        msgs_at(&e, 1),
        vec![(SimTime::from_nanos(50_000_000 + 2 * 1_052 * 80), 2)]
    );
    let setups: Vec<_> = e
        .observer()
        .0
        .iter()
        .filter_map(|(_, n, s)| match s {
            Seen::Setup(sent) => Some((*n, *sent)),
            _ => None,
        })
        .collect();
    assert_eq!(
        setups,
        vec![
            (
                0,
                Sent::Queued {
                    leaves_at: SimTime::from_nanos(1_052 * 80)
                }
            ),
            (2, Sent::Dropped(DropReason::NoConnection)),
        ]
    );
    let acc = e.accounting();
    assert_eq!(acc.get(NodeId(0), Category(0)).bytes_out, 2_000);
    assert_eq!(acc.get(NodeId(0), Category(0)).msgs_out, 2);
    assert_eq!(acc.get(NodeId(1), Category(0)).bytes_in, 2_000);
    assert_eq!(acc.get(NodeId(1), Category(1)).bytes_in, 104);
}

#[test]
fn tcp_runs_are_deterministic() {
    // Eight nodes, all connected, jitter on: many sends of mixed sizes; two runs give the
    // same arrivals and the same event hash.
    let run = || {
        let cfg = EngineConfig {
            seed: 7,
            categories: 2,
            tcp_header_category: Some(Category(1)),
            network: NetworkConfig {
                tcp: Some(TcpConfig {
                    stream_window_bytes: 256_000,
                    ..TcpConfig::default()
                }),
                jitter: Jitter::Uniform { max_ms: 5.0 },
                ..NetworkConfig::default()
            },
            ..EngineConfig::default()
        };
        let mut e = engine(8, LinkCapacity::symmetric_mbps(25), 30, cfg);
        for a in 0..8 {
            for b in a + 1..8 {
                e.connect_now(NodeId(a), NodeId(b)).unwrap();
            }
        }
        for i in 0..200u32 {
            let (from, to) = (i % 8, (i * 5 + 3) % 8);
            if from == to {
                continue;
            }
            let size = [300, 5_000, 150_000, 700_000][(i % 4) as usize];
            e.set_timer(NodeId(from), ms(i as u64 * 37), Act::Send(to, size, i))
                .unwrap();
        }
        e.run_to_empty();
        (e.observer().0.clone(), e.event_hash())
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert!(a.0.len() > 100);
}

#[test]
fn tcp_bad_settings_are_config_errors() {
    let cfg = EngineConfig {
        network: NetworkConfig {
            tcp: Some(TcpConfig {
                initial_window_segments: 0,
                ..TcpConfig::default()
            }),
            ..NetworkConfig::default()
        },
        ..EngineConfig::default()
    };
    let err = Engine::new(
        cfg,
        Box::new(ConstantLatency(SimDuration::ZERO)),
        vec![LinkCapacity::symmetric_mbps(1)],
        vec![T { refuse: false }],
        Log::default(),
    )
    .err()
    .expect("rejected");
    assert!(err.to_string().contains("initial_window_segments"), "{err}");
}
