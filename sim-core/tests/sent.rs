//! What a send returns ([`Sent`]): when the message's last byte leaves the sender's uplink, or
//! why it was not put on it; and [`Ctx::upload_rate`]. Expected times are derived by hand in
//! the comments.

use sim_core::*;

#[derive(Clone, Copy, Debug, PartialEq)]
struct M {
    size: u32,
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
enum Cmd {
    /// Stream messages to a peer, each of (wire, framing) bytes, back to back.
    Send(u32, Vec<(u32, u32)>),
    /// One datagram of this many bytes to a peer.
    Datagram(u32, u32),
    /// Record the upload rate.
    Rate,
}

#[derive(Default)]
struct Obs {
    /// (node, time of the send, result).
    sent: Vec<(u32, SimTime, Sent)>,
    /// (time, upload rate in bit/s).
    rates: Vec<(SimTime, u64)>,
}

/// Sends what its timers say. With `on_restart`, it sends a 1,000-byte datagram to that peer
/// when it starts again after being offline.
struct S {
    on_restart: Option<u32>,
}

impl Node for S {
    type Msg = M;
    type Timer = Cmd;
    type Observer = Obs;

    fn handle(&mut self, input: Input<M, Cmd>, ctx: &mut Ctx<'_, Self>) {
        let (me, now) = (ctx.id().0, ctx.now());
        match input {
            Input::Timer(Cmd::Send(to, msgs)) => {
                for (size, framing) in msgs {
                    let r = ctx.send(NodeId(to), M { size, framing }).unwrap();
                    ctx.observer().sent.push((me, now, r));
                }
            }
            Input::Timer(Cmd::Datagram(to, size)) => {
                let r = ctx
                    .send_datagram(NodeId(to), M { size, framing: 0 })
                    .unwrap();
                ctx.observer().sent.push((me, now, r));
            }
            Input::Timer(Cmd::Rate) => {
                let bps = ctx.upload_rate().bps();
                ctx.observer().rates.push((now, bps));
            }
            Input::Start { restart: true } => {
                if let Some(to) = self.on_restart {
                    let r = ctx
                        .send_datagram(
                            NodeId(to),
                            M {
                                size: 1_000,
                                framing: 0,
                            },
                        )
                        .unwrap();
                    ctx.observer().sent.push((me, now, r));
                }
            }
            _ => {}
        }
    }
}

/// Two nodes, node 0 uploading at 8 Mbit/s (1,000 ns a byte: 1,000 bytes take 1 ms), 10 ms
/// one-way latency.
fn engine(network: NetworkConfig, on_restart: Option<u32>) -> Engine<S> {
    let caps = vec![
        LinkCapacity {
            upload_bps: 8_000_000,
            download_bps: 100_000_000,
        },
        LinkCapacity::symmetric_mbps(100),
    ];
    Engine::new(
        EngineConfig {
            network,
            ..EngineConfig::default()
        },
        Box::new(ConstantLatency(SimDuration::from_millis(10))),
        caps,
        vec![S { on_restart }, S { on_restart: None }],
        Obs::default(),
    )
    .unwrap()
}

fn at(ms: u64) -> SimTime {
    SimTime::from_millis(ms)
}

fn queued(ms_after: u64, now: SimTime) -> Sent {
    Sent::Queued {
        leaves_at: now + SimDuration::from_millis(ms_after),
    }
}

#[test]
fn back_to_back_sends_leave_one_after_the_other() {
    let mut e = engine(NetworkConfig::default(), None);
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    // At t = 100 ms, two 1,000-byte messages (the second 900 wire + 100 framing bytes: framing
    // takes link time too). At 8 Mbit/s each takes 1,000 x 8 / 8e6 s = 1 ms: the first leaves
    // at 101 ms, the second waits for it and leaves at 102 ms.
    e.set_timer(
        NodeId(0),
        at(100),
        Cmd::Send(1, vec![(1_000, 0), (900, 100)]),
    )
    .unwrap();
    // At t = 101.5 ms the first has left and the second has 0.5 ms to go: a 2,000-byte
    // message (2 ms) starts at 102 ms and leaves at 104 ms.
    e.set_timer(
        NodeId(0),
        at(100) + SimDuration::from_micros(1_500),
        Cmd::Send(1, vec![(2_000, 0)]),
    )
    .unwrap();
    // At t = 200 ms the uplink is idle: the message leaves 1 ms later, not after a backlog.
    e.set_timer(NodeId(0), at(200), Cmd::Datagram(1, 1_000))
        .unwrap();
    e.run_to_empty();
    let sent = &e.observer().sent;
    assert_eq!(
        sent,
        &[
            (0, at(100), queued(1, at(100))),
            (0, at(100), queued(2, at(100))),
            (
                0,
                at(100) + SimDuration::from_micros(1_500),
                queued(4, at(100))
            ),
            (0, at(200), queued(1, at(200))),
        ]
    );
}

#[test]
fn a_send_beyond_the_backlog_bound_is_dropped_and_leaves_the_uplink_alone() {
    let mut e = engine(
        NetworkConfig {
            max_upload_backlog: SimDuration::from_millis(2),
            ..NetworkConfig::default()
        },
        None,
    );
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    // Five 1,000-byte messages (1 ms each) at t = 100 ms. The k-th (from 0) would wait k ms
    // before it starts: 0, 1 and 2 ms are within the 2 ms bound (leaving at 101, 102 and
    // 103 ms); 3 ms is beyond it, so the fourth is dropped, and so is the fifth (the dropped
    // one reserved nothing: it would also wait 3 ms).
    e.set_timer(NodeId(0), at(100), Cmd::Send(1, vec![(1_000, 0); 5]))
        .unwrap();
    // At t = 101 ms the wait is 2 ms again (the uplink is busy until 103 ms): queued, leaving
    // at 104 ms.
    e.set_timer(NodeId(0), at(101), Cmd::Datagram(1, 1_000))
        .unwrap();
    e.run_to_empty();
    let full = Sent::Dropped(DropReason::UploadQueueFull);
    assert_eq!(
        e.observer().sent,
        vec![
            (0, at(100), queued(1, at(100))),
            (0, at(100), queued(2, at(100))),
            (0, at(100), queued(3, at(100))),
            (0, at(100), full),
            (0, at(100), full),
            (0, at(101), queued(3, at(101))),
        ]
    );
    assert_eq!(
        e.accounting().drops(NodeId(1), DropReason::UploadQueueFull),
        2
    );
}

#[test]
fn a_stream_send_without_a_connection_is_dropped_a_datagram_needs_none() {
    let mut e = engine(NetworkConfig::default(), None);
    // No connection between 0 and 1.
    e.set_timer(NodeId(0), at(100), Cmd::Send(1, vec![(1_000, 0)]))
        .unwrap();
    // The dropped send reserved nothing: the datagram leaves 1 ms after it is sent.
    e.set_timer(NodeId(0), at(100), Cmd::Datagram(1, 1_000))
        .unwrap();
    e.run_to_empty();
    assert_eq!(
        e.observer().sent,
        vec![
            (0, at(100), Sent::Dropped(DropReason::NoConnection)),
            (0, at(100), queued(1, at(100))),
        ]
    );
    assert_eq!(e.accounting().drops(NodeId(1), DropReason::NoConnection), 1);
}

#[test]
fn a_send_across_a_partition_is_dropped() {
    let mut e = engine(NetworkConfig::default(), None);
    e.schedule_fault(
        at(50),
        Fault::PartitionStart {
            id: 1,
            groups: vec![0, 1],
        },
    )
    .unwrap();
    e.set_timer(NodeId(0), at(100), Cmd::Datagram(1, 1_000))
        .unwrap();
    e.run_to_empty();
    assert_eq!(
        e.observer().sent,
        vec![(0, at(100), Sent::Dropped(DropReason::Partition))]
    );
}

#[test]
fn a_lost_datagram_has_left_the_uplink() {
    let mut e = engine(
        NetworkConfig {
            datagram_loss: 1.0,
            ..NetworkConfig::default()
        },
        None,
    );
    e.set_timer(NodeId(0), at(100), Cmd::Datagram(1, 1_000))
        .unwrap();
    e.set_timer(NodeId(0), at(100), Cmd::Datagram(1, 1_000))
        .unwrap();
    e.run_to_empty();
    // Both are lost in the network, but both took the uplink: 1 ms each.
    assert_eq!(
        e.observer().sent,
        vec![
            (0, at(100), queued(1, at(100))),
            (0, at(100), queued(2, at(100))),
        ]
    );
    assert_eq!(e.accounting().drops(NodeId(1), DropReason::Loss), 2);
}

#[test]
fn upload_rate_follows_degradation_and_restore() {
    let mut e = engine(NetworkConfig::default(), None);
    e.schedule_fault(
        at(1_000),
        Fault::DegradeNode(
            NodeId(0),
            Degradation {
                extra_latency: SimDuration::ZERO,
                bandwidth_factor: 0.5,
                loss: 0.0,
            },
        ),
    )
    .unwrap();
    e.schedule_fault(at(3_000), Fault::RestoreNode(NodeId(0)))
        .unwrap();
    for t in [500, 2_000, 4_000] {
        e.set_timer(NodeId(0), at(t), Cmd::Rate).unwrap();
    }
    // Degraded to 4 Mbit/s, 1,000 bytes take 1,000 x 8 / 4e6 s = 2 ms.
    e.set_timer(NodeId(0), at(2_000), Cmd::Datagram(1, 1_000))
        .unwrap();
    // Restored to 8 Mbit/s: 1 ms again.
    e.set_timer(NodeId(0), at(4_000), Cmd::Datagram(1, 1_000))
        .unwrap();
    e.run_to_empty();
    let o = e.observer();
    assert_eq!(
        o.rates,
        vec![
            (at(500), 8_000_000),
            (at(2_000), 4_000_000),
            (at(4_000), 8_000_000)
        ]
    );
    assert_eq!(
        o.sent,
        vec![
            (0, at(2_000), queued(2, at(2_000))),
            (0, at(4_000), queued(1, at(4_000))),
        ]
    );
}

#[test]
fn a_restarted_node_starts_with_an_idle_uplink() {
    let mut e = engine(NetworkConfig::default(), Some(1));
    e.connect_now(NodeId(0), NodeId(1)).unwrap();
    // At t = 100 ms, ten 1,000,000-byte messages: 1 s each, the uplink is busy until 10.1 s.
    e.set_timer(NodeId(0), at(100), Cmd::Send(1, vec![(1_000_000, 0); 10]))
        .unwrap();
    // Offline at 0.6 s, back at 2 s: the upload FIFO was emptied when it went offline, so
    // the datagram sent on restart leaves 1 ms later (not after 10.1 s).
    e.schedule_fault(at(600), Fault::NodeOffline(NodeId(0)))
        .unwrap();
    e.schedule_fault(at(2_000), Fault::NodeOnline(NodeId(0)))
        .unwrap();
    e.run_to_empty();
    let sent = &e.observer().sent;
    assert_eq!(sent.len(), 11);
    assert_eq!(sent[9], (0, at(100), queued(10_000, at(100))));
    assert_eq!(sent[10], (0, at(2_000), queued(1, at(2_000))));
}
