//! The rendezvous state machine driven through the recorder, with no engine.

use std::rc::Rc;

use sim_core::{NodeId, SimDuration, SimTime};

use super::*;
use crate::testing::Recorder;

/// 6 nodes: 0 and 1 are points on shards 0 and 1; 2, 3 on shard 0; 4, 5 on shard 1.
fn shared(cfg: RendezvousConfig) -> Rc<RendezvousShared> {
    let shards = vec![vec![0, 1], vec![0, 1], vec![0], vec![0], vec![1], vec![1]];
    Rc::new(RendezvousShared::new(
        cfg,
        vec![NodeId(1), NodeId(0)],
        &shards,
        1,
        Vec::new(),
    ))
}

fn node(sh: &Rc<RendezvousShared>, id: u32, shards: &[u16]) -> Rendezvous {
    Rendezvous::build(sh, NodeId(id), shards).unwrap()
}

const NS0: Ns = Ns {
    cluster: 1,
    shard: 0,
};

#[test]
fn nwaku_client_dials_registers_and_discovers() {
    let sh = shared(RendezvousConfig::default());
    assert_eq!(sh.points, vec![NodeId(0), NodeId(1)]);
    assert_eq!(sh.points_on[1], vec![NodeId(0), NodeId(1)]);
    let mut c = node(&sh, 2, &[0]);
    assert!(c.registry().is_none());
    let mut ctx: Recorder<Rendezvous> = Recorder::new(NodeId(2), SimTime::ZERO, "rendezvous");
    c.on_start(false, &mut ctx);
    // A discovery round at a random phase within 10 s, registration 10 s after it.
    let (td, _) = ctx
        .take_timer(|t| *t == RdvTimer::Discover)
        .expect("discovery");
    let (tr, _) = ctx
        .take_timer(|t| *t == RdvTimer::Register)
        .expect("registration");
    assert!(td < SimTime::ZERO + SimDuration::from_secs(10));
    assert_eq!(tr, td + SimDuration::from_secs(10));
    ctx.now = td;
    c.on_timer(RdvTimer::Discover, &mut ctx);
    // Not connected: it dials one point and waits.
    assert_eq!(ctx.dials.len(), 1);
    let point = ctx.dials[0];
    assert!(ctx.sent.is_empty());
    // The next round is 1 min later.
    let (t2, _) = ctx.take_timer(|t| *t == RdvTimer::Discover).unwrap();
    assert_eq!(t2, td + SimDuration::from_secs(60));
    c.on_connection_up(point, true, &mut ctx);
    assert_eq!(
        ctx.sent,
        vec![(
            point,
            RdvMsg::Discover {
                ns: NS0,
                limit: 12,
                cookie: None
            }
        )]
    );
    // The answer: nodes 3 and 2 (itself, dropped); the cookie is kept for the next round.
    let cookie = Cookie {
        offset: 5,
        ns: Some(NS0),
    };
    let recs = vec![
        Record {
            peer: NodeId(3),
            ttl_s: 40,
        },
        Record {
            peer: NodeId(2),
            ttl_s: 40,
        },
    ];
    let resp = DiscoverResponse::new(NS0, Status::Ok, recs, Some(cookie), 177);
    c.on_message(point, RdvMsg::DiscoverResponse(Box::new(resp)), &mut ctx);
    assert_eq!(
        c.take_found(),
        vec![FoundPeer {
            id: NodeId(3),
            origin: PeerOrigin::Rendezvous
        }]
    );
    assert!(ctx.events.contains(&RdvEvent::Records(1)));
    // Registration round: REGISTER rs/1/0 with TTL 60 at a point (connected or dialled).
    ctx.now = tr;
    ctx.sent.clear();
    c.on_timer(RdvTimer::Register, &mut ctx);
    let registered_at = if ctx.sent.is_empty() {
        *ctx.dials.last().unwrap()
    } else {
        ctx.sent[0].0
    };
    if ctx.sent.is_empty() {
        c.on_connection_up(registered_at, true, &mut ctx);
    }
    assert_eq!(
        ctx.sent.last().unwrap().1,
        RdvMsg::Register {
            ns: NS0,
            ttl_s: 60,
            spr: 177
        }
    );
    let (t3, _) = ctx.take_timer(|t| *t == RdvTimer::Register).unwrap();
    assert_eq!(t3, tr + SimDuration::from_secs(10));
    // The second discovery round to the same point carries the cookie.
    ctx.now = t2;
    ctx.sent.clear();
    for _ in 0..20 {
        // Draw until the round picks the point that gave the cookie (2 points on shard 0).
        c.on_timer(RdvTimer::Discover, &mut ctx);
        if let Some((to, RdvMsg::Discover { cookie: ck, .. })) = ctx.sent.last().cloned()
            && to == point
        {
            assert_eq!(ck.as_deref(), Some(&cookie));
            return;
        }
        // Clear the pending request so that the next round is not "busy".
        let other = NodeId(1 - point.0);
        c.on_connection_down(other, &mut ctx);
        c.on_connection_down(point, &mut ctx);
        c.on_connection_up(point, true, &mut ctx);
        c.on_connection_up(other, true, &mut ctx);
        ctx.sent.clear();
    }
    panic!("never asked the point with the cookie");
}

#[test]
fn nwaku_discovery_doubles_and_stops_after_a_day() {
    // Rounds at 0, 1, 3, 7, ..., 1023 minutes: 11 in all (config docs).
    let sh = shared(RendezvousConfig::default());
    let mut c = node(&sh, 2, &[0]);
    let mut ctx: Recorder<Rendezvous> = Recorder::new(NodeId(2), SimTime::ZERO, "rendezvous");
    c.on_start(false, &mut ctx);
    let mut rounds = Vec::new();
    let start = ctx.take_timer(|t| *t == RdvTimer::Discover).unwrap().0;
    let mut next = Some(start);
    while let Some(t) = next {
        ctx.now = t;
        rounds.push((t.as_nanos() - start.as_nanos()) / 60_000_000_000);
        c.on_timer(RdvTimer::Discover, &mut ctx);
        // Let requests time out so that none is busy.
        while let Some((_, tm)) = ctx.take_timer(|t| matches!(t, RdvTimer::Timeout(_))) {
            c.on_timer(tm, &mut ctx);
        }
        next = ctx.take_timer(|t| *t == RdvTimer::Discover).map(|x| x.0);
    }
    assert_eq!(rounds, vec![0, 1, 3, 7, 15, 31, 63, 127, 255, 511, 1023]);
}

#[test]
fn point_serves_and_counts() {
    let sh = shared(RendezvousConfig::default());
    let mut p = node(&sh, 0, &[0, 1]);
    let mut ctx: Recorder<Rendezvous> = Recorder::new(NodeId(0), SimTime::ZERO, "rendezvous");
    p.on_start(false, &mut ctx);
    assert!(ctx.take_timer(|t| *t == RdvTimer::Gc).is_some());
    ctx.now = SimTime::from_secs(5);
    p.on_message(
        NodeId(3),
        RdvMsg::Register {
            ns: NS0,
            ttl_s: 60,
            spr: 177,
        },
        &mut ctx,
    );
    p.on_message(
        NodeId(4),
        RdvMsg::Register {
            ns: NS0,
            ttl_s: 30,
            spr: 177,
        },
        &mut ctx,
    );
    assert_eq!(
        ctx.sent[0],
        (
            NodeId(3),
            RdvMsg::RegisterResponse {
                ns: NS0,
                status: Status::Ok,
                ttl_s: 60
            }
        )
    );
    assert_eq!(
        ctx.sent[1].1,
        RdvMsg::RegisterResponse {
            ns: NS0,
            status: Status::InvalidTtl,
            ttl_s: 0
        }
    );
    p.on_message(
        NodeId(2),
        RdvMsg::Discover {
            ns: NS0,
            limit: 12,
            cookie: None,
        },
        &mut ctx,
    );
    let RdvMsg::DiscoverResponse(r) = &ctx.sent[2].1 else {
        panic!("{:?}", ctx.sent[2]);
    };
    assert_eq!(r.records.len(), 1);
    assert_eq!(r.records[0].peer, NodeId(3));
    let mut m = RdvMetrics::default();
    for e in ctx.events.drain(..) {
        Rendezvous::record(&mut m, NodeId(0), ctx.now, e);
    }
    assert_eq!(
        m.points[&NodeId(0)],
        PointLoad {
            requests: [2, 1, 0],
            errors: 1
        }
    );
    // A restart forgets every registration.
    p.on_start(true, &mut ctx);
    assert_eq!(p.registry().unwrap().entries(), 0);
}

#[test]
fn go_waku_registers_everywhere_and_backs_off() {
    let cfg = RendezvousConfig {
        client: ClientKind::GoWaku,
        ..RendezvousConfig::default()
    };
    let sh = shared(cfg);
    let mut c = node(&sh, 2, &[0]);
    let mut ctx: Recorder<Rendezvous> = Recorder::new(NodeId(2), SimTime::ZERO, "rendezvous");
    c.on_start(false, &mut ctx);
    // One registration loop per point, one discovery loop per shard.
    let regs: Vec<RdvTimer> = ctx
        .timers
        .iter()
        .map(|t| t.1)
        .filter(|t| matches!(t, RdvTimer::GoRegister { .. }))
        .collect();
    assert_eq!(
        regs,
        vec![
            RdvTimer::GoRegister {
                shard: 0,
                point: NodeId(0)
            },
            RdvTimer::GoRegister {
                shard: 0,
                point: NodeId(1)
            }
        ]
    );
    ctx.timers.clear();
    c.on_connection_up(NodeId(0), true, &mut ctx);
    c.on_timer(
        RdvTimer::GoRegister {
            shard: 0,
            point: NodeId(0),
        },
        &mut ctx,
    );
    assert_eq!(
        ctx.sent[0].1,
        RdvMsg::Register {
            ns: NS0,
            ttl_s: 7200,
            spr: 177
        }
    );
    // E_INVALID_TTL (a spec point with a 2 h minimum would not say so; this one is told
    // to): the retry waits 200 ms, then 400 ms, ...; after 7 errors it gives up.
    let mut waits = Vec::new();
    for _ in 0..8 {
        ctx.timers.clear();
        c.on_message(
            NodeId(0),
            RdvMsg::RegisterResponse {
                ns: NS0,
                status: Status::InvalidTtl,
                ttl_s: 0,
            },
            &mut ctx,
        );
        match ctx.take_timer(|t| matches!(t, RdvTimer::GoRegister { .. })) {
            Some((t, tm)) => {
                waits.push((t.as_nanos() - ctx.now.as_nanos()) / 1_000_000);
                c.on_timer(tm, &mut ctx);
            }
            None => break,
        }
    }
    assert_eq!(waits, vec![200, 400, 800, 1600, 3200, 6400]);
    // An OK answer re-registers after the granted TTL.
    let mut c = node(&sh, 3, &[0]);
    let mut ctx: Recorder<Rendezvous> = Recorder::new(NodeId(3), SimTime::ZERO, "rendezvous");
    c.on_connection_up(NodeId(1), true, &mut ctx);
    c.on_timer(
        RdvTimer::GoRegister {
            shard: 0,
            point: NodeId(1),
        },
        &mut ctx,
    );
    ctx.timers.clear();
    c.on_message(
        NodeId(1),
        RdvMsg::RegisterResponse {
            ns: NS0,
            status: Status::Ok,
            ttl_s: 7200,
        },
        &mut ctx,
    );
    let (t, _) = ctx
        .take_timer(|t| matches!(t, RdvTimer::GoRegister { .. }))
        .unwrap();
    assert_eq!(t, SimTime::from_secs(7200));
    // An empty DISCOVER answer waits 5 s; one with records asks again at once.
    c.on_connection_up(NodeId(0), true, &mut ctx);
    c.on_timer(RdvTimer::GoDiscover { shard: 0 }, &mut ctx);
    let (to, m) = ctx.sent.last().cloned().unwrap();
    assert!(matches!(m, RdvMsg::Discover { .. }));
    ctx.timers.clear();
    let before = ctx.sent.len();
    let resp = DiscoverResponse::new(NS0, Status::Ok, Vec::new(), None, 177);
    c.on_message(to, RdvMsg::DiscoverResponse(Box::new(resp)), &mut ctx);
    let (t, _) = ctx
        .take_timer(|t| matches!(t, RdvTimer::GoDiscover { .. }))
        .unwrap();
    assert_eq!(t, SimTime::from_secs(5));
    assert_eq!(ctx.sent.len(), before);
}

#[test]
fn failures_are_errors_and_requests_are_not_repeated_while_pending() {
    let sh = shared(RendezvousConfig::default());
    let mut c = node(&sh, 4, &[1]);
    let mut ctx: Recorder<Rendezvous> = Recorder::new(NodeId(4), SimTime::ZERO, "rendezvous");
    c.on_timer(RdvTimer::Discover, &mut ctx);
    let p = ctx.dials[0];
    // The same round again while the first waits: busy, no second dial.
    c.on_timer(RdvTimer::Discover, &mut ctx);
    assert_eq!(ctx.dials.len(), 1);
    assert!(ctx.events.contains(&RdvEvent::Count(RdvCounter::Busy)));
    c.on_dial_failed(p, sim_core::DialError::Refused, &mut ctx);
    assert!(
        ctx.events
            .contains(&RdvEvent::Count(RdvCounter::RequestsFailed))
    );
    // A timeout is an error too.
    ctx.events.clear();
    c.on_connection_up(NodeId(0), true, &mut ctx);
    c.on_connection_up(NodeId(1), true, &mut ctx);
    c.on_timer(RdvTimer::Register, &mut ctx);
    let (_, tm) = ctx
        .take_timer(|t| matches!(t, RdvTimer::Timeout(_)))
        .unwrap();
    // (the earlier timeouts of the first requests fire harmlessly)
    c.on_timer(tm, &mut ctx);
    while let Some((_, tm)) = ctx.take_timer(|t| matches!(t, RdvTimer::Timeout(_))) {
        c.on_timer(tm, &mut ctx);
    }
    assert!(
        ctx.events
            .contains(&RdvEvent::Count(RdvCounter::RequestsTimedOut))
    );
    // A late answer is dropped.
    c.on_message(
        NodeId(0),
        RdvMsg::RegisterResponse {
            ns: Ns {
                cluster: 1,
                shard: 1,
            },
            status: Status::Ok,
            ttl_s: 60,
        },
        &mut ctx,
    );
    assert!(
        !ctx.events
            .contains(&RdvEvent::Count(RdvCounter::RegisterOk))
    );
}

#[test]
fn config_validation_names_the_field() {
    let e = RendezvousConfig {
        min_ttl_s: 100,
        max_ttl_s: 50,
        ..RendezvousConfig::default()
    }
    .validate()
    .unwrap_err();
    assert_eq!(e.field, "discovery.rendezvous.min_ttl_s");
    let e = RendezvousConfig {
        discover_limit: 0,
        ..RendezvousConfig::default()
    }
    .validate()
    .unwrap_err();
    assert_eq!(e.field, "discovery.rendezvous.discover_limit");
    let e = RendezvousConfig {
        ttl_s: Some(0),
        ..RendezvousConfig::default()
    }
    .validate()
    .unwrap_err();
    assert_eq!(e.field, "discovery.rendezvous.ttl_s");
    RendezvousConfig::default().validate().unwrap();
}
