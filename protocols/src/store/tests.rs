//! Store protocol tests: one node (or two exchanging messages by hand) driven through the
//! Recorder, with no engine.

use std::rc::Rc;

use sim_core::{NodeId, SimDuration, SimTime};

use super::*;
use crate::relay::message::{TopicIdx, Topics};
use crate::store::query::Filter;
use crate::testing::Recorder;

fn shared(cfg: StoreConfig) -> Rc<StoreShared> {
    Rc::new(StoreShared::new(
        cfg,
        vec![NodeId(0), NodeId(1)],
        vec![false, false, true],
        &Topics::shards(1, 1),
        vec!["/wakusim/1/default/proto".into()],
    ))
}

fn rec(n: u32, t_s: u64) -> Recorder<Store> {
    Recorder::new(NodeId(n), SimTime::from_secs(t_s), "store")
}

fn key(t_s: u64, h: u8) -> MsgKey {
    MsgKey {
        ts: unix_ns(SimTime::from_secs(t_s)),
        hash: [h; 32],
    }
}

fn row(seq: u32) -> Row {
    Row {
        seq,
        data_bytes: 100,
        topic: 0,
        content: 0,
        relay_id: seq as u64,
    }
}

fn wire(seq: u32) -> WireMsg {
    WireMsg {
        id: seq as u64,
        seq,
        data_bytes: 100,
        topic: TopicIdx(0),
        hops: 1,
        topic_len: 14,
        flags: 0,
    }
}

fn info(k: MsgKey) -> MsgInfo {
    MsgInfo {
        key: k,
        content: 0,
        ephemeral: false,
        known: true,
    }
}

#[test]
fn store_nodes_archive_within_the_window_and_skip_ephemeral() {
    let sh = shared(StoreConfig::default());
    let mut s = Store::build(&sh, NodeId(0), &[0]).unwrap();
    let mut ctx = rec(0, 100);
    // At 100 s: a message stamped 90 s is archived; one stamped 79 s (21 s old, beyond the
    // 20 s drift) is not; an ephemeral one is not; a second copy is a duplicate.
    s.on_relay_message(&wire(1), info(key(90, 1)), &mut ctx);
    s.on_relay_message(&wire(2), info(key(79, 2)), &mut ctx);
    let mut eph = info(key(95, 3));
    eph.ephemeral = true;
    s.on_relay_message(&wire(3), eph, &mut ctx);
    assert_eq!(s.archive().unwrap().len(), 1);
    assert!(
        s.insert(key(90, 1), row(1), StoreCounter::Archived, &mut ctx) == StoreCounter::Duplicate
    );
    let counted: Vec<StoreCounter> = ctx
        .events
        .iter()
        .filter_map(|e| match e {
            StoreEvent::Add(c, 1) => Some(*c),
            _ => None,
        })
        .collect();
    assert_eq!(
        counted,
        vec![
            StoreCounter::Archived,
            StoreCounter::TimestampOutOfWindow,
            StoreCounter::EphemeralSkipped,
            StoreCounter::Duplicate
        ]
    );
    // A relay node without reliability builds no store at all.
    assert!(Store::build(&sh, NodeId(5), &[0]).is_none());
}

fn request(id: u32) -> StoreMsg {
    let req = QueryRequest {
        id,
        include_data: true,
        filter: Filter::Content {
            topic: Some(0),
            contents: vec![],
            start_ns: None,
            end_ns: None,
        },
        cursor: None,
        forward: true,
        limit: 0,
    };
    StoreMsg::Request(Box::new((req, 100)))
}

#[test]
fn queries_are_served_and_rate_limited() {
    let cfg = StoreConfig {
        rate_limit: Some(RateLimit {
            requests: 2,
            period_s: 10.0,
        }),
        ..StoreConfig::default()
    };
    let sh = shared(cfg);
    let mut s = Store::build(&sh, NodeId(0), &[0]).unwrap();
    let mut ctx = rec(0, 100);
    for i in 0..3 {
        s.insert(key(90, i), row(i as u32), StoreCounter::Archived, &mut ctx);
    }
    // Two requests within the period are served (3 messages each); the third gets 429.
    for id in 1..=3 {
        s.on_message(NodeId(7), request(id), &mut ctx);
    }
    let statuses: Vec<(u16, usize)> = ctx
        .sent
        .iter()
        .map(|(_, m)| match m {
            StoreMsg::Response(b) => (b.0.status, b.0.entries.len()),
            _ => panic!("a response"),
        })
        .collect();
    assert_eq!(statuses, vec![(200, 3), (200, 3), (429, 0)]);
    // The next period refills the bucket.
    ctx.now = SimTime::from_secs(110);
    s.on_message(NodeId(7), request(4), &mut ctx);
    assert!(matches!(&ctx.sent[3].1, StoreMsg::Response(b) if b.0.status == 200));
}

#[test]
fn a_restarted_store_node_resumes_from_its_last_activity() {
    let cfg = StoreConfig {
        resume: true,
        ..StoreConfig::default()
    };
    let sh = shared(cfg);
    let mut s = Store::build(&sh, NodeId(0), &[0]).unwrap();
    let mut ctx = rec(0, 10);
    s.on_start(false, &mut ctx);
    // Active until 40 s (a relayed message), back at 100 s with node 1 connected.
    ctx.now = SimTime::from_secs(40);
    s.on_relay_message(&wire(1), info(key(40, 1)), &mut ctx);
    ctx.now = SimTime::from_secs(100);
    s.on_connection_up(NodeId(1), true, &mut ctx);
    ctx.sent.clear();
    s.on_start(true, &mut ctx);
    // The restart's connections are gone: it dials node 1 and waits.
    assert_eq!(ctx.dials, vec![NodeId(1)]);
    s.on_connection_up(NodeId(1), true, &mut ctx);
    let (to, m) = &ctx.sent[0];
    let StoreMsg::Request(b) = m else {
        panic!("a query")
    };
    assert_eq!(*to, NodeId(1));
    assert!(b.0.include_data && b.0.limit == 100);
    assert_eq!(
        b.0.filter,
        Filter::Content {
            topic: None,
            contents: vec![],
            start_ns: Some(unix_ns(SimTime::from_secs(40))),
            end_ns: Some(unix_ns(SimTime::from_secs(100))),
        }
    );
    // The answer fills the archive; its cursor asks for the next page.
    let resp = QueryResponse {
        id: b.0.id,
        status: 200,
        entries: vec![query::Entry {
            key: key(50, 9),
            row: Some(row(9)),
        }],
        cursor: Some(key(50, 9)),
    };
    s.on_message(
        NodeId(1),
        StoreMsg::Response(Box::new((resp, 10))),
        &mut ctx,
    );
    assert!(s.archive().unwrap().contains(&key(50, 9)));
    assert!(matches!(&ctx.sent[1].1, StoreMsg::Request(b) if b.0.cursor == Some(key(50, 9))));
}

#[test]
fn outstanding_queries_are_bounded() {
    let mut cfg = StoreConfig {
        max_pending_queries: 2,
        ..StoreConfig::default()
    };
    cfg.reliability.receiver = true;
    let sh = shared(cfg);
    let mut s = Store::build(&sh, NodeId(5), &[0]).unwrap();
    let mut ctx = rec(5, 10);
    for _ in 0..3 {
        s.receiver_check(&mut ctx);
    }
    // Two wait for their dial; the third is dropped and counted.
    assert_eq!(s.pending_queries(), 2);
    assert!(
        ctx.events
            .contains(&StoreEvent::Add(StoreCounter::QueriesDroppedFull, 1))
    );
    // Failed dials drop what waited for them.
    for d in ctx.dials.clone() {
        s.on_dial_failed(d, sim_core::DialError::Refused, &mut ctx);
    }
    assert_eq!(s.pending_queries(), 0);
    let _ = SimDuration::ZERO;
}

/// Delivers everything `from` sent to `to` (both store nodes), returns how many.
fn deliver(
    from: (&mut Store, &mut Recorder<Store>),
    to: (&mut Store, &mut Recorder<Store>),
) -> usize {
    let msgs: Vec<(NodeId, StoreMsg)> = std::mem::take(&mut from.1.sent);
    let n = msgs.len();
    for (_, m) in msgs {
        to.0.on_message(from.1.me, m, to.1);
    }
    n
}

#[test]
fn two_store_nodes_sync_to_the_union() {
    let mut cfg = StoreConfig::default();
    cfg.sync.enabled = true;
    cfg.sync.item_set_threshold = 4;
    cfg.sync.partitions = 3;
    let sh = shared(cfg);
    let (mut a, mut b) = (
        Store::build(&sh, NodeId(0), &[0]).unwrap(),
        Store::build(&sh, NodeId(1), &[0]).unwrap(),
    );
    let (mut ca, mut cb) = (rec(0, 1000), rec(1, 1000));
    // 40 messages from 100 s to 139 s; a lacks every 7th, b every 5th (and a has one from
    // 970 s, inside the 20 s lag: not reconciled).
    for i in 0..40u32 {
        let k = key(100 + i as u64, i as u8);
        if i % 7 != 0 {
            a.insert(k, row(i), StoreCounter::Archived, &mut ca);
        }
        if i % 5 != 0 {
            b.insert(k, row(i), StoreCounter::Archived, &mut cb);
        }
    }
    a.insert(key(990, 200), row(200), StoreCounter::Archived, &mut ca);
    a.on_connection_up(NodeId(1), true, &mut ca);
    b.on_connection_up(NodeId(0), false, &mut cb);
    a.sync_tick(&mut ca);
    let mut rounds = 0;
    while deliver((&mut a, &mut ca), (&mut b, &mut cb))
        + deliver((&mut b, &mut cb), (&mut a, &mut ca))
        > 0
    {
        rounds += 1;
        assert!(rounds < 20);
    }
    // Both hold the union: the 40 but 0 and 35, which neither had (a also its recent one);
    // the initiator recorded the sync.
    let keys = |s: &Store| {
        s.archive()
            .unwrap()
            .keys()
            .filter(|k| k.ts < key(900, 0).ts)
            .count()
    };
    assert_eq!((keys(&a), keys(&b)), (38, 38));
    assert!(!b.archive().unwrap().contains(&key(990, 200)));
    let rec = ca
        .events
        .iter()
        .find_map(|e| match e {
            StoreEvent::Synced(r) => Some(*r),
            _ => None,
        })
        .expect("a finished sync");
    // a lacked 0, 7, 14, 21, 28, 35; b lacked 0, 5, 10, ..., 35. Of what b lacks a has 5,
    // 10, 15, 20, 25, 30: it sends 6; of what a lacks b has 7, 14, 21, 28: it receives 4.
    assert_eq!((rec.sent, rec.received), (6, 4));
    assert!(rec.payloads >= 3 && rec.recon_bytes > 0 && rec.naive_bytes > 0);
}
