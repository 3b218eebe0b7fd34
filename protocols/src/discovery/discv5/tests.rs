//! discv5 driven without the engine: a few hundred nodes, each with its [`Recorder`], and a
//! small event loop delivering their datagrams after a fixed latency (no loss) and firing
//! their timers in time order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;

use rand::Rng;
use sim_core::{NodeId, SimDuration, SimTime, rng};

use super::table::{Added, Id, Limits, Table, View, cmp_distance, log_distance};
use super::*;
use crate::testing::Recorder;

enum Ev {
    Msg(NodeId, NodeId, Discv5Msg),
    Timer(NodeId, Discv5Timer),
}

struct Net {
    sh: Rc<Discv5Shared>,
    nodes: Vec<Discv5>,
    recs: Vec<Recorder<Discv5>>,
    queue: BinaryHeap<Reverse<(SimTime, u64, usize)>>,
    evs: Vec<Option<Ev>>,
    seq: u64,
    now: SimTime,
    sent: u64,
}

impl Net {
    /// `n` nodes, every one on shard `shard_of(i)`, with `cfg`.
    fn new(n: usize, cfg: Discv5Config, shard_of: impl Fn(usize) -> u16) -> Self {
        let shards = (0..n).map(|i| Rc::from(&[shard_of(i)][..])).collect();
        let sh = Rc::new(Discv5Shared::new(
            cfg,
            7,
            shards,
            1,
            Vec::new(),
            Vec::new(),
            Vec::new(),
        ));
        let nodes = (0..n)
            .map(|i| Discv5::new(sh.clone(), NodeId(i as u32)))
            .collect();
        let recs = (0..n)
            .map(|i| Recorder::new(NodeId(i as u32), SimTime::ZERO, "discv5"))
            .collect();
        Net {
            sh,
            nodes,
            recs,
            queue: BinaryHeap::new(),
            evs: Vec::new(),
            seq: 0,
            now: SimTime::ZERO,
            sent: 0,
        }
    }

    fn push(&mut self, at: SimTime, ev: Ev) {
        self.evs.push(Some(ev));
        self.queue.push(Reverse((at, self.seq, self.evs.len() - 1)));
        self.seq += 1;
    }

    /// Moves what node `i` sent and set into the queue.
    fn flush(&mut self, i: usize) {
        let sent = std::mem::take(&mut self.recs[i].sent);
        let timers = std::mem::take(&mut self.recs[i].timers);
        let me = NodeId(i as u32);
        for (to, m) in sent {
            self.sent += 1;
            let at = self.now + SimDuration::from_millis(10);
            self.push(at, Ev::Msg(me, to, m));
        }
        for (at, t) in timers {
            self.push(at, Ev::Timer(me, t));
        }
    }

    fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.recs[i].now = self.now;
            self.nodes[i].on_start(false, &mut self.recs[i]);
            self.flush(i);
        }
    }

    /// Runs until `until`.
    fn run(&mut self, until: SimTime) {
        while let Some(Reverse((at, _, k))) = self.queue.peek().copied() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.now = at;
            let ev = self.evs[k].take().expect("each event once");
            let i = match ev {
                Ev::Msg(from, to, m) => {
                    let i = to.index();
                    self.recs[i].now = at;
                    self.nodes[i].on_message(from, m, &mut self.recs[i]);
                    i
                }
                Ev::Timer(n, t) => {
                    let i = n.index();
                    self.recs[i].now = at;
                    self.nodes[i].on_timer(t, &mut self.recs[i]);
                    i
                }
            };
            self.flush(i);
        }
        self.now = until;
    }

    /// Drops every pending timer (the loops stop; the tables stay as they are): lookups after
    /// it run on a static network.
    fn freeze(&mut self) {
        for e in self.evs.iter_mut() {
            if matches!(e, Some(Ev::Timer(..))) {
                *e = None;
            }
        }
        let evs = &self.evs;
        self.queue.retain(|Reverse((_, _, k))| evs[*k].is_some());
    }

    /// Runs a Kademlia lookup from node `i` for `target` to its end; its result.
    fn find(&mut self, i: usize, target: Id) -> Vec<NodeId> {
        self.recs[i].now = self.now;
        self.nodes[i].find(target, &mut self.recs[i]);
        self.flush(i);
        let mut t = self.now;
        while self.nodes[i]
            .lookups
            .iter()
            .any(|l| l.purpose == Purpose::Find)
        {
            t += SimDuration::from_millis(100);
            self.run(t);
        }
        self.nodes[i].last_lookup_result().to_vec()
    }
}

/// A warm network's config: one bootstrap node, nwaku's search loop (a lookup every 5 s
/// marks the nodes that answer as seen, so FINDNODE answers carry them).
fn warm() -> Discv5Config {
    Discv5Config {
        bootstrap_nodes: vec![0],
        ..Discv5Config::default()
    }
}

/// A test config: one bootstrap node, no search loop in the way (an hour between lookups).
fn quiet() -> Discv5Config {
    Discv5Config {
        bootstrap_nodes: vec![0],
        search_interval_ms: 3_600_000,
        ..Discv5Config::default()
    }
}

fn ids(n: usize) -> Vec<Id> {
    let mut r = rng::stream(3, 0, "ids");
    (0..n)
        .map(|_| [r.random(), r.random(), r.random(), r.random()])
        .collect()
}

#[test]
fn log_distance_counts_from_the_highest_differing_bit() {
    let a = [0u64; 4];
    assert_eq!(log_distance(&a, &a), 0);
    assert_eq!(log_distance(&a, &[0, 0, 0, 1]), 1);
    assert_eq!(log_distance(&a, &[0, 0, 0, 0x80]), 8);
    assert_eq!(log_distance(&a, &[0, 0, 1, 0]), 65);
    assert_eq!(log_distance(&a, &[1 << 63, 0, 0, 0]), 256);
    // nim-eth lookupDistances: td, td + 1, td - 1 (never above 256 or below 1).
    assert_eq!(
        table::lookup_distances(&a, &[0, 0, 0, 0x80], 3),
        ([8, 9, 7], 3)
    );
    assert_eq!(
        table::lookup_distances(&a, &[1 << 63, 0, 0, 0], 3),
        ([256, 255, 254], 3)
    );
    assert_eq!(
        table::lookup_distances(&a, &[0, 0, 0, 1], 3),
        ([1, 2, 3], 3)
    );
}

#[test]
fn buckets_place_by_distance_hold_k_and_promote_replacements() {
    let ids = ids(2000);
    let v = View { ids: &ids, ip: &[] };
    let lim = Limits {
        k: 16,
        replacements: 8,
        bucket_ip: 2,
        table_ip: 10,
    };
    let me = NodeId(0);
    let mut t = Table::new(me);
    let mut per_dist = vec![0usize; 257];
    for i in 1..2000 {
        let d = log_distance(&ids[0], &ids[i]) as usize;
        let r = t.add(NodeId(i as u32), v, &lim);
        per_dist[d] += 1;
        // The first 16 of a distance go to its bucket, the rest to its replacements.
        if per_dist[d] <= 16 {
            assert_eq!(r, Added::Added);
        } else {
            assert_eq!(r, Added::Replacement);
        }
    }
    assert_eq!(t.add(me, v, &lim), Added::Local);
    assert_eq!(t.add(NodeId(1), v, &lim), Added::Existing);
    for d in 1..=256u16 {
        let b = t.bucket(d);
        assert_eq!(b.len(), per_dist[d as usize].min(16), "distance {d}");
        assert!(t.replacements(d).len() <= 8);
        for e in b {
            assert_eq!(log_distance(&ids[0], &ids[e.node.index()]), d);
        }
    }
    // 1,999 random ids: half at distance 256 (999.5 expected), a quarter at 255: both full.
    assert_eq!(t.bucket(256).len(), 16);
    assert_eq!(t.replacements(256).len(), 8);
    // The newest replacement (the tail) takes the place of a failed node, at the tail.
    let newest = *t.replacements(256).last().unwrap();
    let failed = t.bucket(256)[3].node;
    t.replace(failed, v);
    assert_eq!(t.bucket(256).len(), 16);
    assert_eq!(t.bucket(256).last().unwrap().node, newest);
    assert!(!t.bucket(256).iter().any(|e| e.node == failed));
    assert_eq!(t.replacements(256).len(), 7);
    // A node that answers moves to the head, seen.
    let x = t.bucket(256)[5].node;
    assert!(t.set_seen(x, v));
    assert_eq!(
        t.bucket(256)[0],
        table::Entry {
            node: x,
            seen: true
        }
    );
    // FINDNODE answers only seen nodes.
    let mut out = Vec::new();
    t.at_distances(&[256, 255], 16, &mut out);
    assert_eq!(out, vec![x]);
}

#[test]
fn ip_limits_bound_a_bucket_and_the_table() {
    // Every node in IP group 0: the bucket takes 2 of one group, the table 10.
    let ids = ids(500);
    let ip = vec![0u32; 500];
    let v = View { ids: &ids, ip: &ip };
    let lim = Limits {
        k: 16,
        replacements: 8,
        bucket_ip: 2,
        table_ip: 10,
    };
    let mut t = Table::new(NodeId(0));
    for i in 1..500 {
        t.add(NodeId(i), v, &lim);
    }
    let in_buckets = t.len();
    let repl: usize = (1..=256).map(|d| t.replacements(d).len()).sum();
    assert!(in_buckets + repl <= 10, "{in_buckets} + {repl}");
    for d in 1..=256 {
        assert!(t.bucket(d).len() + t.replacements(d).len() <= 2);
    }
}

#[test]
fn lookups_converge_to_the_true_k_closest() {
    // 300 nodes, one bootstrap node, no loss: after 3 minutes (own-id and populate lookups,
    // nwaku's loop every 5 s, revalidation) every table is warm; a Kademlia lookup for a
    // random id from any node must return exactly the 16 closest of all 300 ids (a
    // brute-force sort).
    let mut net = Net::new(300, warm(), |_| 0);
    net.start_all();
    net.run(SimTime::from_secs(180));
    net.freeze();
    let mut r = rng::stream(5, 0, "targets");
    let mut exact = 0;
    for trial in 0..20 {
        let target: Id = [r.random(), r.random(), r.random(), r.random()];
        let from = (trial * 37) % 300;
        let got = net.find(from, target);
        let mut all: Vec<NodeId> = (0..300)
            .filter(|&i| i != from)
            .map(|i| NodeId(i as u32))
            .collect();
        all.sort_by(|a, b| cmp_distance(&target, &net.sh.ids[a.index()], &net.sh.ids[b.index()]));
        all.truncate(16);
        exact += (got == all) as u32;
    }
    assert_eq!(exact, 20, "every lookup finds the true 16 closest");
}

/// P(a set of k distinct nodes drawn from n misses all h holders) = C(n - h, k) / C(n, k).
fn miss(n: usize, h: usize, k: usize) -> f64 {
    (0..k)
        .map(|i| (n - h - i) as f64 / (n - i) as f64)
        .product()
}

#[test]
fn random_lookups_to_find_a_shard_match_the_geometric_mean() {
    // Derivation: a Kademlia lookup for a random id returns the k = 16 closest nodes to it.
    // Shard membership is drawn independently of the ids, so for a shard held by h = p x n
    // nodes those 16 are a uniform 16-subset as far as the shard is concerned: a lookup
    // misses the shard with probability q = C(n - h, 16) / C(n, 16), and the number of
    // lookups until one finds a holder is geometric with mean 1 / (1 - q). (For n large,
    // q ~ (1 - p)^16.) n = 300 (299 besides the looker): p = 2 % (6 holders) gives q =
    // 0.7169 and a mean of 3.53 lookups; p = 10 % (30 holders) gives q = 0.1758, mean 1.21.
    // Each trial redraws the holders (so the average is over shard placements, as the
    // derivation assumes); 300 trials give a standard error of sqrt(q) / (1 - q) /
    // sqrt(300) = 0.17 and 0.03 lookups: a tolerance of 12 % is over 2.4 standard errors.
    let mut net = Net::new(300, warm(), |_| 0);
    net.start_all();
    net.run(SimTime::from_secs(180));
    net.freeze();
    let mut r = rng::stream(9, 0, "holders");
    for (h, expect) in [(6usize, 3.532f64), (30, 1.213)] {
        let q = miss(299, h, 16);
        let mean = 1.0 / (1.0 - q);
        assert!((mean - expect).abs() < 0.01, "{mean}");
        let trials = 300;
        let mut total = 0u64;
        for trial in 0..trials {
            let from = (trial * 53 + 11) % 300;
            let others: Vec<usize> = (0..300).filter(|&i| i != from).collect();
            let holders: Vec<NodeId> = rand::seq::index::sample(&mut r, 299, h)
                .into_iter()
                .map(|j| NodeId(others[j] as u32))
                .collect();
            let mut lookups = 0;
            loop {
                lookups += 1;
                let target: Id = [r.random(), r.random(), r.random(), r.random()];
                let got = net.find(from, target);
                if got.iter().any(|n| holders.contains(n)) || lookups >= 100 {
                    break;
                }
            }
            total += lookups;
        }
        let sim = total as f64 / trials as f64;
        assert!(
            (sim - mean).abs() <= 0.12 * mean,
            "h = {h}: simulated {sim:.3} lookups, derived {mean:.3}"
        );
    }
}

#[test]
fn first_contact_costs_a_whoareyou_and_a_handshake() {
    // Two nodes; node 1 pings node 0 (its bootstrap node) with no session: 0 answers
    // WHOAREYOU, 1 resends the PING in a handshake packet, 0 answers PONG.
    let cfg = Discv5Config {
        bootstrap_nodes: vec![0],
        ..quiet()
    };
    let mut net = Net::new(2, cfg, |_| 0);
    let sh = net.sh.clone();
    net.recs[1].now = SimTime::ZERO;
    let mut n1 = Discv5::new(sh.clone(), NodeId(1));
    n1.table.add(NodeId(0), sh.view(), &sh.limits);
    assert!(n1.request(
        NodeId(0),
        PacketKind::Ping,
        ([0; 3], 0),
        NO_LOOKUP,
        &mut net.recs[1]
    ));
    net.nodes[1] = n1;
    net.flush(1);
    net.run(SimTime::from_secs(1));
    let kinds: Vec<u16> = net
        .recs
        .iter()
        .flat_map(|r| r.events.iter())
        .filter(|e| e.0 == Discv5Counter::Handshakes)
        .map(|e| e.1 as u16)
        .collect();
    assert_eq!(kinds, vec![1]);
    assert_eq!(net.nodes[1].pending_requests(), 0);
    assert!(
        net.nodes[1]
            .table
            .bucket(log_distance(&sh.ids[0], &sh.ids[1]))[0]
            .seen
    );
    assert_eq!(net.nodes[0].sessions(), 1);
    // 0 added 1 after the handshake and pings it back within 5 s: over its session.
    net.run(SimTime::from_secs(10));
    assert!(
        net.nodes[0]
            .table()
            .nodes()
            .any(|e| e.node == NodeId(1) && e.seen)
    );
    // PING 99 + WHOAREYOU 63 + handshake (186 + ENR 157 + PING message 12) + PONG 107,
    // then the ping back: PING 99 + PONG 107 (sessions both ways: no handshake).
    assert_eq!(net.sent, 6);
}

#[test]
fn a_bootstrap_node_is_never_removed() {
    let cfg = quiet();
    let mut net = Net::new(3, cfg, |_| 0);
    let sh = net.sh.clone();
    let mut n2 = Discv5::new(sh.clone(), NodeId(2));
    n2.table.add(NodeId(0), sh.view(), &sh.limits);
    n2.table.add(NodeId(1), sh.view(), &sh.limits);
    // Two pings that nobody answers (the messages are dropped): both time out.
    let r = &mut net.recs[2];
    n2.request(NodeId(0), PacketKind::Ping, ([0; 3], 0), NO_LOOKUP, r);
    n2.request(NodeId(1), PacketKind::Ping, ([0; 3], 0), NO_LOOKUP, r);
    r.sent.clear();
    r.now = SimTime::from_secs(4);
    n2.on_timer(Discv5Timer::Timeout(0), r);
    n2.on_timer(Discv5Timer::Timeout(1), r);
    let v = sh.view();
    assert!(n2.table.contains(NodeId(0), v), "bootstrap node kept");
    assert!(!n2.table.contains(NodeId(1), v), "other node removed");
}

#[test]
fn the_session_cache_evicts_the_least_recently_used() {
    let cfg = Discv5Config {
        session_cache: 2,
        ..quiet()
    };
    let net = Net::new(5, cfg, |_| 0);
    let mut d = Discv5::new(net.sh.clone(), NodeId(0));
    let mut r: Recorder<Discv5> = Recorder::new(NodeId(0), SimTime::ZERO, "d");
    d.touch_session(NodeId(1), &mut r);
    d.touch_session(NodeId(2), &mut r);
    d.touch_session(NodeId(1), &mut r);
    d.touch_session(NodeId(3), &mut r);
    assert!(d.has_session(NodeId(1)) && d.has_session(NodeId(3)));
    assert!(!d.has_session(NodeId(2)));
    assert_eq!(
        r.events,
        vec![Discv5Event(Discv5Counter::SessionsEvicted, 1)]
    );
}

#[test]
fn the_search_loop_keeps_peers_that_share_a_shard() {
    // 200 nodes on 4 shards (i % 4); after a minute of nwaku's loop every node has handed
    // only bootstrap nodes and nodes of its own shard to the peer manager.
    let cfg = Discv5Config {
        bootstrap_nodes: vec![0],
        ..Discv5Config::default()
    };
    let mut net = Net::new(200, cfg, |i| (i % 4) as u16);
    net.start_all();
    net.run(SimTime::from_secs(60));
    let mut total = 0;
    for i in 0..200 {
        let mut f = Vec::new();
        net.nodes[i].take_found(&mut f);
        total += f.len();
        for p in &f {
            assert!(p.id.index() % 4 == i % 4 || p.id == NodeId(0));
            assert_eq!(p.origin, PeerOrigin::Discv5);
        }
    }
    // Each lookup returns tens of nodes, a quarter of them on the node's shard.
    assert!(total > 200 * 10, "{total}");
}

#[test]
fn bad_configurations_name_their_field() {
    let e = Discv5Config {
        bootstrap_nodes: vec![10],
        ..Discv5Config::default()
    }
    .validate(5)
    .unwrap_err();
    assert_eq!(e.field, "discovery.discv5.bootstrap_nodes");
    let e = Discv5Config {
        nodes_per_packet: 4,
        ..Discv5Config::default()
    }
    .validate(5)
    .unwrap_err();
    assert_eq!(e.field, "discovery.discv5.nodes_per_packet");
    let e = Discv5Config {
        enr_extra_bytes: 200,
        ..Discv5Config::default()
    }
    .validate(5)
    .unwrap_err();
    assert_eq!(e.field, "discovery.discv5.enr_extra_bytes");
    let e = Discv5Config {
        alpha: 0,
        ..Discv5Config::default()
    }
    .validate(5)
    .unwrap_err();
    assert_eq!(e.field, "discovery.discv5.alpha");
    Discv5Config::default().validate(5).unwrap();
}

/// Node 0 is asked by nodes 1 to 5, none with a session: it challenges each (five
/// WHOAREYOUs), and their handshakes come 100 ms later. With room for `cap` challenges the
/// five - cap oldest were dropped to make room, so their handshakes find none: five - cap
/// drops and cap answers. Without a limit (nim-eth) every handshake is answered, and a
/// handshake after `handshake_timeout_ms` (2 s) finds its challenge expired.
#[test]
fn challenges_beyond_the_limit_drop_the_oldest_handshakes() {
    let findnode = |handshake: bool| Discv5Msg {
        kind: PacketKind::FindNode,
        handshake,
        n: 1,
        total: 0,
        bytes: 106,
        req: 9,
        args: [256, 0, 0],
    };
    let run = |cap: u32, late_ms: u64| {
        let cfg = Discv5Config {
            max_challenges: cap,
            ..quiet()
        };
        let net = Net::new(6, cfg, |_| 0);
        let mut d = Discv5::new(net.sh.clone(), NodeId(0));
        let mut r: Recorder<Discv5> = Recorder::new(NodeId(0), SimTime::ZERO, "d");
        for i in 1..=5 {
            d.on_message(NodeId(i), findnode(false), &mut r);
        }
        let challenged = r.sent.len();
        r.sent.clear();
        r.now = SimTime::from_millis(late_ms);
        for i in 1..=5 {
            d.on_message(NodeId(i), findnode(true), &mut r);
        }
        let dropped = r
            .events
            .iter()
            .filter(|e| e.0 == Discv5Counter::HandshakesDropped)
            .count();
        let answered: Vec<u32> = r.sent.iter().map(|(to, _)| to.0).collect();
        (challenged, dropped, answered)
    };
    assert_eq!(run(3, 100), (5, 2, vec![3, 4, 5]));
    assert_eq!(run(0, 100), (5, 0, vec![1, 2, 3, 4, 5]));
    assert_eq!(run(0, 2001), (5, 5, vec![]));
}
