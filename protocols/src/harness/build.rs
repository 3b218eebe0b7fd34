//! Building a run: validates a [`SimInput`] and makes the engine with its nodes, connections,
//! faults and commands ([`Prepared`]).

use std::rc::Rc;

use sim_core::{Category, Engine, EngineConfig, Fault, NodeId, QueueKind, SimDuration, SimTime};

use crate::discovery::discv5::Discv5Shared;
use crate::discovery::peer_exchange::{PxRole, PxShared};
use crate::discovery::rendezvous::RendezvousShared;
use crate::discovery::{Bootstrap, PeerSource};
use crate::identify::IdentifyShared;
use crate::node::registry::Member;
use crate::node::{NodeShared, ProtocolShared, WakuNode, WakuObserver, WakuTimer, category_ranges};
use crate::peer_manager::PmShared;
use crate::relay::RelayShared;
use crate::relay::message::{TopicIdx, Topics, shard_topic};
use crate::relay::metrics::{Eligibility, RelayMetrics};
use crate::relay::protected::ProtectedTopics;
use crate::store::StoreShared;
use crate::wire::Transport;

use super::RADIX_QUEUE_MIN_NODES;
use super::input::{PeerManagerInput, SimInput, SimInputError, bad};
use super::store::StoreProbe;

/// The engine and the data a run needs besides it; [`build`] makes one, [`run_prepared`](super::run_prepared) drives it.
pub struct Prepared {
    /// The engine.
    pub engine: Engine<WakuNode>,
    pub(super) topics: Topics,
    pub(super) groups: Vec<u32>,
    pub(super) subs: Vec<Vec<TopicIdx>>,
    pub(super) duration: SimDuration,
    pub(super) warmup: SimDuration,
    pub(super) series_interval: SimDuration,
    pub(super) overlay_interval: SimDuration,
    pub(super) d_low: u32,
    pub(super) d: u32,
    pub(super) discovery: bool,
    pub(super) out_target: u32,
    pub(super) relay_capable: Vec<bool>,
    /// Implementation groups: (label, profile name), and each node's group (both empty
    /// without `[[relay.implementations]]`).
    pub(super) impl_names: Vec<(String, String)>,
    pub(super) impl_of: Vec<u8>,
    /// RLN's shared data and (node, largest message bytes) of each topic's publishers.
    pub(super) rln: Option<(Rc<crate::rln::RlnShared>, super::rln::Publishing)>,
    /// The rendezvous points (empty: rendezvous is off).
    pub(super) rdv_points: Vec<NodeId>,
    pub(super) store: Option<StoreProbe>,
}

/// Validates the input and builds the engine (nodes, connections, faults, commands) without
/// running it.
pub fn build(input: SimInput) -> Result<Prepared, SimInputError> {
    let SimInput {
        run: run_in,
        network: net,
        relay: relay_in,
        sharding,
        peer_manager,
        app,
        identify,
        rln: rln_in,
        discv5,
        peer_exchange,
        rendezvous: rdv_in,
        store,
    } = input;
    let (pm_cfg, bootstrap, relay_capable) = match peer_manager {
        Some(PeerManagerInput {
            config,
            bootstrap,
            relay_capable,
        }) => (Some(config), bootstrap, relay_capable),
        None => (None, Vec::new(), Vec::new()),
    };
    let n = net.nodes;
    if n == 0 {
        return Err(bad("nodes", "a run needs at least one node"));
    }
    if n > u32::MAX as usize {
        return Err(bad("nodes", "too many nodes"));
    }
    relay_in.config.validate().map_err(SimInputError::Relay)?;
    if run_in.duration == SimDuration::ZERO {
        return Err(bad("duration", "must be positive"));
    }
    if run_in.warmup >= run_in.duration {
        return Err(bad("warmup", "the warm-up must end before the run does"));
    }
    if run_in.series_interval == SimDuration::ZERO {
        return Err(bad("series_interval", "must be positive"));
    }
    if run_in.overlay_sample_interval == SimDuration::ZERO {
        return Err(bad("overlay_sample_interval", "must be positive"));
    }
    if let Some(pm) = &pm_cfg {
        pm.validate(relay_in.config.d_high)
            .map_err(SimInputError::PeerManager)?;
    }
    let topics = if sharding.topics.is_empty() {
        Topics::new(vec![shard_topic(sharding.cluster, 0)]).expect("valid name")
    } else {
        Topics::new(sharding.topics.clone()).map_err(|e| bad("topics", e))?
    };
    let autoshards = match sharding.autosharding_shards {
        0 => topics.len() as u32,
        k => k,
    };
    let workload = app
        .workload
        .resolve(&topics, sharding.cluster, autoshards)
        .map_err(SimInputError::Workload)?;
    workload
        .validate(n, topics.len())
        .map_err(SimInputError::Workload)?;
    for (field, v) in [("groups", &net.groups), ("ip_groups", &net.ip_groups)] {
        if !v.is_empty() && v.len() != n {
            return Err(bad(field, format!("{} entries for {n} nodes", v.len())));
        }
    }
    if !sharding.clusters.is_empty() && sharding.clusters.len() != n {
        return Err(bad(
            "clusters",
            format!("{} entries for {n} nodes", sharding.clusters.len()),
        ));
    }
    if !relay_capable.is_empty() && relay_capable.len() != n {
        return Err(bad(
            "relay_capable",
            format!("{} entries for {n} nodes", relay_capable.len()),
        ));
    }
    if !bootstrap.is_empty() {
        if bootstrap.len() != n {
            return Err(bad(
                "bootstrap",
                format!("{} lists for {n} nodes", bootstrap.len()),
            ));
        }
        if let Some(p) = bootstrap.iter().flatten().find(|p| p.index() >= n) {
            return Err(bad("bootstrap", format!("{p} does not exist ({n} nodes)")));
        }
    }
    if let Some(t) = relay_in
        .protected_topics
        .iter()
        .find(|&&t| t as usize >= topics.len())
    {
        return Err(bad(
            "protected_topics",
            format!("topic {t} does not exist ({} topics)", topics.len()),
        ));
    }
    let subs: Vec<Vec<TopicIdx>> = if sharding.subscriptions.is_empty() {
        vec![vec![TopicIdx(0)]; n]
    } else {
        if sharding.subscriptions.len() != n {
            return Err(bad(
                "subscriptions",
                format!("{} entries for {n} nodes", sharding.subscriptions.len()),
            ));
        }
        let mut out = Vec::with_capacity(n);
        for s in &sharding.subscriptions {
            let mut v: Vec<TopicIdx> = s.iter().map(|&t| TopicIdx(t)).collect();
            v.sort();
            v.dedup();
            if let Some(t) = v.iter().find(|t| t.0 as usize >= topics.len()) {
                return Err(bad(
                    "subscriptions",
                    format!("topic {} does not exist ({} topics)", t.0, topics.len()),
                ));
            }
            out.push(v);
        }
        out
    };
    for &(a, b) in &net.edges {
        if a as usize >= n || b as usize >= n || a == b {
            return Err(bad("edges", format!("bad edge ({a}, {b}) for {n} nodes")));
        }
    }
    let end = SimTime::ZERO + run_in.duration;
    let warm = SimTime::ZERO + run_in.warmup;
    let mut subscribers: Vec<Vec<NodeId>> = vec![Vec::new(); topics.len()];
    for (i, s) in subs.iter().enumerate() {
        for t in s {
            subscribers[t.0 as usize].push(NodeId(i as u32));
        }
    }
    let plan = workload.plan(run_in.seed, n, &subscribers, warm, end);
    let rln = match rln_in {
        Some(r) => Some(Rc::new(super::rln::shared(r, &plan, n)?)),
        None => {
            if let Some(i) = workload.streams.iter().position(|s| s.spam.is_some()) {
                return Err(SimInputError::Workload(
                    crate::relay::config::ConfigError::new(
                        format!("workload.streams[{i}].spam"),
                        "RLN spammers need RLN",
                        "add an [rln] section or remove `spam`",
                    ),
                ));
            }
            None
        }
    };

    // Who is offline when, for delivery eligibility.
    let mut churn: Vec<Vec<(SimTime, bool)>> = vec![Vec::new(); n];
    for (t, f) in &net.faults {
        match f {
            Fault::NodeOffline(x) if x.index() < n => churn[x.index()].push((*t, false)),
            Fault::NodeOnline(x) if x.index() < n => churn[x.index()].push((*t, true)),
            _ => {}
        }
    }
    let churn = churn
        .into_iter()
        .map(|mut v| {
            if v.is_empty() {
                None
            } else {
                v.sort_by_key(|e| e.0);
                Some(v.into_boxed_slice())
            }
        })
        .collect();
    // Who should receive honest messages: subscribers, but not RLN spammers (their honest
    // peers cut them off).
    let receivers: Vec<Vec<TopicIdx>> = match &rln {
        Some(r) => subs
            .iter()
            .enumerate()
            .map(|(i, s)| if r.spammers[i] { Vec::new() } else { s.clone() })
            .collect(),
        None => Vec::new(),
    };
    let eligibility = Eligibility::new(
        if rln.is_some() { &receivers } else { &subs },
        topics.len(),
        churn,
    );
    let until = SimTime::from_nanos(
        end.as_nanos()
            .saturating_sub(run_in.delivery_grace.as_nanos()),
    );
    let mut observer = WakuObserver {
        relay: RelayMetrics::new(eligibility, warm, until),
        ..WakuObserver::default()
    };
    observer.relay.per_topic_bytes = topics.len() > 1;

    let store_probe = match &store {
        Some(st) => {
            st.config.validate().map_err(SimInputError::Store)?;
            if st.nodes.is_empty() {
                return Err(bad(
                    "store",
                    "no store node: give some nodes the role \"store\" ([[network.groups]] \
                     with role = \"store\")",
                ));
            }
            if let Some(x) = st.nodes.iter().find(|x| x.index() >= n) {
                return Err(bad(
                    "store",
                    format!("store node {x} does not exist ({n} nodes)"),
                ));
            }
            Some(StoreProbe::new(
                &st.nodes,
                st.config.sync.lag_s,
                &net.faults,
            ))
        }
        None => None,
    };
    let mut relay = RelayShared::new(
        relay_in.config.clone(),
        topics.clone(),
        net.ip_groups.clone(),
    );
    relay.protected = ProtectedTopics::new(relay_in.protected_topics.iter().map(|&t| TopicIdx(t)));
    // Store nodes and reliability clients hear of accepted messages.
    relay.app_delivery = store.is_some();
    let store_shared = store.map(|st| {
        let publishers = (0..n)
            .map(|i| plan.by_node.get(i).is_some_and(|v| !v.is_empty()))
            .collect();
        let mut contents: Vec<String> = vec!["/wakusim/1/default/proto".to_owned()];
        for s in &plan.streams {
            if !contents.contains(&s.config.content_topic) {
                contents.push(s.config.content_topic.clone());
            }
        }
        Rc::new(StoreShared::new(
            st.config, st.nodes, publishers, &topics, contents,
        ))
    });
    relay.rln = rln.clone();
    let rln_publishing = if rln.is_some() {
        super::rln::publishing(&plan, topics.len())
    } else {
        Vec::new()
    };
    // Implementation groups: one shared record each, nodes assigned by the run's seed.
    let impl_groups = relay_in
        .config
        .implementation_groups()
        .map_err(SimInputError::Relay)?;
    let mut impl_of: Vec<u8> = Vec::new();
    let impl_names: Vec<(String, String)> = impl_groups
        .iter()
        .map(|g| (g.name.clone(), g.implementation.name().to_owned()))
        .collect();
    if !impl_groups.is_empty() {
        let fractions: Vec<f64> = impl_groups.iter().map(|g| g.fraction).collect();
        let mut rng = sim_core::rng::stream(
            run_in.seed,
            sim_core::rng::GLOBAL_SCOPE,
            "relay.implementations",
        );
        relay.group_of = crate::relay::profile::assign_groups(&fractions, n, &mut rng);
        relay.groups = impl_groups
            .iter()
            .enumerate()
            .map(|(gi, g)| {
                let mut sh =
                    RelayShared::new(g.config.clone(), topics.clone(), net.ip_groups.clone());
                sh.protected = relay.protected.clone();
                sh.validators = relay.validators.clone();
                sh.rln = relay.rln.clone();
                sh.app_delivery = relay.app_delivery;
                sh.rules = g.implementation;
                sh.group = gi as u8;
                Rc::new(sh)
            })
            .collect();
        observer.relay.impl_of = relay.group_of.clone();
        impl_of = relay.group_of.clone();
        observer.relay.per_impl = vec![Default::default(); impl_groups.len()];
    }
    let pm = pm_cfg.clone().map(|cfg| {
        let shards = subs
            .iter()
            .map(|v| v.iter().map(|t| t.0).collect::<Rc<[u16]>>())
            .collect();
        let mut sh = PmShared::new(cfg, sharding.cluster, shards);
        sh.clusters = sharding.clusters.clone();
        sh.ip_groups = net.ip_groups.clone();
        sh.relay_capable = relay_capable.clone();
        // Rendezvous points may run with their own connection limit.
        let point_max = rdv_in
            .as_ref()
            .and_then(|r| r.config.point_max_connections.map(|m| (m, &r.points)));
        if let Some((max, points)) = point_max {
            let mut pcfg = sh.cfg.clone();
            pcfg.max_connections = max;
            let mut alt = sh.clone();
            alt.limits = pcfg.limits();
            alt.cfg = pcfg;
            let mut nodes = points.clone();
            nodes.sort();
            nodes.dedup();
            sh.overrides = Some((nodes, Rc::new(alt)));
        }
        Rc::new(sh)
    });
    let out_target = pm.as_ref().map_or(0, |p| p.limits.out_target);
    let discv5 = match discv5 {
        None => None,
        Some(d) => {
            d.config.validate(n).map_err(SimInputError::Discovery)?;
            if pm.is_none() {
                return Err(bad(
                    "discv5",
                    "discv5 hands the peers it finds to the peer manager, which this run does \
                     not have (use overlay.mode = \"emergent\" or overlay.peer_manager = true)",
                ));
            }
            if !d.runs.is_empty() && d.runs.len() != n {
                return Err(bad(
                    "discv5.runs",
                    format!("{} entries for {n} nodes", d.runs.len()),
                ));
            }
            if let Some(b) = d
                .config
                .bootstrap_nodes
                .iter()
                .find(|&&b| d.runs.get(b as usize) == Some(&false))
            {
                return Err(bad(
                    "discv5.bootstrap_nodes",
                    format!("bootstrap node {b} does not run discv5 (not in its groups)"),
                ));
            }
            let shards = subs
                .iter()
                .map(|v| v.iter().map(|t| t.0).collect::<Rc<[u16]>>())
                .collect();
            Some(Rc::new(Discv5Shared::new(
                d.config,
                run_in.seed,
                shards,
                sharding.cluster,
                sharding.clusters.clone(),
                net.ip_groups.clone(),
                d.runs,
            )))
        }
    };
    let peer_exchange = match peer_exchange {
        None => None,
        Some(x) => {
            x.config.validate(n).map_err(SimInputError::Discovery)?;
            let Some(d) = discv5.as_ref() else {
                return Err(bad(
                    "peer_exchange",
                    "service nodes answer from the peers discv5 found: turn discv5 on",
                ));
            };
            if pm.is_none() {
                return Err(bad(
                    "peer_exchange",
                    "peer exchange hands peers to the peer manager, which this run does not have",
                ));
            }
            if !x.clients.is_empty() && x.clients.len() != n {
                return Err(bad(
                    "peer_exchange.clients",
                    format!("{} entries for {n} nodes", x.clients.len()),
                ));
            }
            let runs_d = |i: usize| d.runs.get(i).copied().unwrap_or(true);
            if let Some(s) = x.config.servers.iter().find(|&&s| !runs_d(s as usize)) {
                return Err(bad(
                    "peer_exchange.servers",
                    format!("service node {s} does not run discv5"),
                ));
            }
            let mut servers: Vec<NodeId> = x.config.servers.iter().map(|&s| NodeId(s)).collect();
            servers.sort();
            servers.dedup();
            let roles = (0..n)
                .map(|i| {
                    if servers.binary_search(&NodeId(i as u32)).is_ok() {
                        PxRole::Server
                    } else if x.clients.get(i).copied().unwrap_or(!runs_d(i)) {
                        PxRole::Client
                    } else {
                        PxRole::None
                    }
                })
                .collect();
            Some(Rc::new(PxShared {
                roles,
                servers,
                enr: d.enr.clone(),
                cfg: x.config,
            }))
        }
    };
    let mut rdv_points = Vec::new();
    let rendezvous = match rdv_in {
        Some(r) => {
            r.config.validate().map_err(SimInputError::Discovery)?;
            if let (Some(max), Some(pm)) = (r.config.point_max_connections, &pm_cfg) {
                let mut c = pm.clone();
                c.max_connections = max;
                c.validate(relay_in.config.d_high).map_err(|mut e| {
                    e.field = "discovery.rendezvous.point_max_connections".into();
                    SimInputError::Discovery(e)
                })?;
            }
            if r.points.is_empty() {
                return Err(bad(
                    "discovery.rendezvous.points",
                    "rendezvous needs at least one point: give points, point_groups or a \
                     group of role \"rendezvous\"",
                ));
            }
            if let Some(p) = r.points.iter().find(|p| p.index() >= n) {
                return Err(bad(
                    "discovery.rendezvous.points",
                    format!("{p} does not exist ({n} nodes)"),
                ));
            }
            let shards: Vec<Vec<u16>> = subs
                .iter()
                .map(|v| v.iter().map(|t| t.0).collect())
                .collect();
            let sh = RendezvousShared::new(
                r.config,
                r.points,
                &shards,
                sharding.cluster,
                sharding.clusters.clone(),
            );
            rdv_points = sh.points.clone();
            Some(Rc::new(sh))
        }
        None => None,
    };
    let discovery = discv5.is_some() || rendezvous.is_some();
    let shared = Rc::new(NodeShared {
        send_buffer_bytes: relay.cfg.send_buffer_bytes,
        protocols: ProtocolShared {
            relay: Some(Rc::new(relay)),
            transport: None,
            peer_manager: pm,
            identify: identify
                .filter(|c| c.enabled)
                .map(|c| Rc::new(IdentifyShared::new(c))),
            rln: rln.clone(),
            discv5,
            peer_exchange,
            rendezvous,
            store: store_shared,
        },
        workload: plan,
        seed: run_in.seed,
    });
    if net.capacities.len() != n {
        return Err(bad(
            "capacities",
            format!("{} capacities for {n} nodes", net.capacities.len()),
        ));
    }
    if !net.cpu_slowdown.is_empty() && net.cpu_slowdown.len() != n {
        return Err(bad(
            "cpu_slowdown",
            format!(
                "{} CPU slowdowns for {n} nodes: give one per node, or none",
                net.cpu_slowdown.len()
            ),
        ));
    }
    let nodes: Vec<WakuNode> = (0..n)
        .map(|i| {
            let node = WakuNode::new(NodeId(i as u32), shared.clone(), subs[i].clone());
            match bootstrap.get(i) {
                Some(list) => {
                    let mut peers = list.clone();
                    peers.sort();
                    peers.dedup();
                    node.with_source(PeerSource::Bootstrap(Bootstrap {
                        peers: peers.into(),
                    }))
                }
                None => node,
            }
        })
        .collect();
    let cfg = EngineConfig {
        seed: run_in.seed,
        categories: run_categories(&shared.protocols),
        framing_category: Some(Category(<Transport as Member>::OFFSET)),
        tcp_header_category: Some(Category(<Transport as Member>::OFFSET + 1)),
        series_interval: run_in.series_interval,
        network: net.config.clone(),
        queue: match run_in.queue {
            Some(q) => q,
            None if n >= RADIX_QUEUE_MIN_NODES => QueueKind::Radix,
            None => QueueKind::Auto,
        },
        defer_passive: run_in.defer_passive,
    };
    let caps = net.capacities.clone();
    let mut engine = Engine::new(cfg, net.latency, caps.clone(), nodes, observer)?;
    for (i, &f) in net.cpu_slowdown.iter().enumerate() {
        if f != 1.0 {
            engine.set_cpu_slowdown(NodeId(i as u32), f)?;
        }
    }
    for &(a, b) in &net.edges {
        engine.connect_now(NodeId(a), NodeId(b))?;
    }
    for (t, f) in net.faults {
        engine.schedule_fault(t, f)?;
    }
    for (t, node, c) in app.commands {
        engine.set_timer(node, t, WakuTimer::Command(c))?;
    }
    let groups = if net.groups.is_empty() {
        vec![0; n]
    } else {
        net.groups
    };
    Ok(Prepared {
        engine,
        topics,
        groups,
        subs,
        duration: run_in.duration,
        warmup: run_in.warmup,
        series_interval: run_in.series_interval,
        overlay_interval: run_in.overlay_sample_interval,
        d_low: relay_in.config.d_low,
        d: relay_in.config.d,
        discovery,
        out_target,
        relay_capable,
        impl_names,
        impl_of,
        rln: rln.map(|r| (r, rln_publishing)),
        rdv_points,
        store: store_probe,
    })
}

/// The run's category table: the node's list up to the last protocol the run has, and at
/// least up to the peer manager's (relay, transport, metadata and ping rows are in every
/// result file). A protocol after that which no node runs adds no rows.
fn run_categories(sh: &ProtocolShared) -> usize {
    let present = sh.present();
    let ranges = category_ranges();
    let end = |f: &str| {
        ranges
            .iter()
            .find(|(g, _)| *g == f)
            .map_or(0, |(_, r)| r.end)
    };
    // A protocol without categories (RLN) adds no rows.
    let last = present
        .iter()
        .filter(|f| ranges.iter().any(|(g, r)| g == *f && !r.is_empty()))
        .map(|f| end(f))
        .max()
        .unwrap_or(0);
    last.max(end("peer_manager")) as usize
}
