//! Collecting a finished run's results ([`SimOutput`]) from the engine and its observers.

use sim_core::{Category, Counters, Direction, DropReason, NodeId, SimTime};

use crate::discovery::discv5::Discv5Counter;
use crate::discovery::peer_exchange::PxCounter;
use crate::discovery::rendezvous::{RdvCounter, Status};
use crate::node::category_names;
use crate::node::registry::Member;
use crate::peer_manager::PmCounter;
use crate::relay::rpc::kind;
use crate::relay::{PublishOutcome, Relay, RelayCounter};
use crate::sharding::health::{NodeConns, classify};
use crate::wire::Transport;

use super::build::Prepared;
use super::output::{
    Bandwidth, Delivery, DeliveryPoint, DiscoveryOutput, Duplicates, ImplOutput, Latency,
    MeshSample, MessageDelivery, NodeSummary, NodeTraffic, OverlayOutput, PeerManagerOutput,
    PublishStats, RelayOutput, RendezvousOutput, SimOutput, TrafficPoint,
};
use super::run::node_conns;

pub(super) fn collect(
    mut p: Prepared,
    warm: Vec<Counters>,
    mesh: Vec<MeshSample>,
    impl_mesh: Vec<(u64, u64)>,
) -> SimOutput {
    let store = p
        .store
        .take()
        .map(|sp| sp.finish(&p.engine.observer().store))
        .unwrap_or_default();
    let e = &p.engine;
    let obs = &e.observer().relay;
    let acc = e.accounting();
    let ncat = acc.categories();
    let n = e.nodes().len();
    let end = SimTime::ZERO + p.duration;

    let mut per_message = Vec::new();
    let mut pubs = PublishStats::default();
    let interval = p.series_interval.as_nanos();
    let npoints = end.as_nanos().div_ceil(interval) as usize;
    let mut dpoints: Vec<(u32, u64, u64)> = vec![(0, 0, 0); npoints];
    for (seq, r) in obs.msgs.iter().enumerate() {
        pubs.attempted += 1;
        match r.outcome {
            Some(PublishOutcome::Published { .. }) => {
                pubs.published += 1;
                if r.invalid {
                    pubs.invalid += 1;
                }
            }
            Some(PublishOutcome::TooLarge) => pubs.too_large += 1,
            Some(PublishOutcome::NoPeers) => pubs.no_peers += 1,
            Some(PublishOutcome::Duplicate) => pubs.duplicate += 1,
            None => {}
        }
        if !obs.counts(r) {
            continue;
        }
        // Eligible nodes, fixed at publish: subscribers of its topic online to the end.
        let eligible = r.eligible();
        if eligible == 0 {
            continue;
        }
        let k = ((r.publish_time.as_nanos() / interval) as usize).min(npoints - 1);
        dpoints[k].0 += 1;
        dpoints[k].1 += eligible as u64;
        dpoints[k].2 += r.delivered as u64;
        per_message.push(MessageDelivery {
            publish_s: r.publish_time.as_secs_f64(),
            publisher: r.publisher.0,
            topic: r.topic.0,
            data_bytes: r.data_bytes,
            no_peers: r.outcome == Some(PublishOutcome::NoPeers),
            eligible,
            delivered: r.delivered,
            dissemination_ns: obs.dissemination.of(seq as u32),
        });
    }
    let fractions: Vec<f64> = per_message
        .iter()
        .map(|m| m.delivered as f64 / m.eligible as f64)
        .collect();
    let delivery = Delivery {
        messages: per_message.len() as u64,
        mean: if fractions.is_empty() {
            0.0
        } else {
            fractions.iter().sum::<f64>() / fractions.len() as f64
        },
        worst: fractions
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .min(1.0),
        not_fully_delivered: per_message
            .iter()
            .filter(|m| m.delivered < m.eligible)
            .count() as u64,
        per_message,
    };
    let delivery = if delivery.messages == 0 {
        Delivery {
            worst: 0.0,
            ..delivery
        }
    } else {
        delivery
    };
    let delivery_series = dpoints
        .iter()
        .enumerate()
        .map(|(k, &(m, el, de))| DeliveryPoint {
            t_s: ((k as u64 + 1) * interval).min(end.as_nanos()) as f64 / 1e9,
            messages: m,
            eligible: el,
            delivered: de,
            fraction: if el == 0 { 1.0 } else { de as f64 / el as f64 },
        })
        .collect();

    let h = &obs.latency;
    let latency = Latency {
        p50_ms: h.quantile_ms(0.5),
        p95_ms: h.quantile_ms(0.95),
        p99_ms: h.quantile_ms(0.99),
        max_ms: h.max_ms(),
        mean_ms: h.mean_ms(),
        histogram: h.clone(),
        hops: obs.hops.clone(),
    };

    let samples: u64 = obs.copies.iter().sum();
    let total: u64 = obs
        .copies
        .iter()
        .enumerate()
        .map(|(c, &k)| c as u64 * k)
        .sum();
    let p95 = {
        let rank = ((0.95 * samples as f64).ceil() as u64).max(1);
        let mut acc = 0u64;
        let mut v = 0;
        for (c, &k) in obs.copies.iter().enumerate() {
            acc += k;
            if acc >= rank {
                v = c;
                break;
            }
        }
        v as f64
    };
    let duplicates = Duplicates {
        samples,
        mean: if samples == 0 {
            0.0
        } else {
            total as f64 / samples as f64
        },
        p95: if samples == 0 { 0.0 } else { p95 },
        max: obs.copies.iter().rposition(|&k| k > 0).unwrap_or(0) as u64,
        histogram: obs.copies.clone(),
    };

    let now = acc.snapshot();
    let per_node = (0..n)
        .map(|i| {
            let mut t = NodeTraffic {
                group: p.groups[i],
                bytes_in: vec![0; ncat],
                bytes_out: vec![0; ncat],
                msgs_in: vec![0; ncat],
                msgs_out: vec![0; ncat],
            };
            for c in 0..ncat {
                let d = now[i * ncat + c].since(&warm[i * ncat + c]);
                t.bytes_in[c] = d.bytes_in;
                t.bytes_out[c] = d.bytes_out;
                t.msgs_in[c] = d.msgs_in as u64;
                t.msgs_out[c] = d.msgs_out as u64;
            }
            t
        })
        .collect();
    let series = (0..acc.series_len().min(npoints))
        .map(|k| TrafficPoint {
            t_s: ((k as u64 + 1) * interval).min(end.as_nanos()) as f64 / 1e9,
            bytes_in: (0..ncat)
                .map(|c| acc.series_bytes(k, Category(c as u16), Direction::In))
                .collect(),
            bytes_out: (0..ncat)
                .map(|c| acc.series_bytes(k, Category(c as u16), Direction::Out))
                .collect(),
        })
        .collect();
    let bandwidth = Bandwidth {
        window_s: (p.duration.as_nanos() - p.warmup.as_nanos()) as f64 / 1e9,
        per_node,
        series,
    };
    let categories = category_names()[..ncat]
        .iter()
        .map(|&(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    let counters = RelayCounter::ALL
        .iter()
        .map(|&c| (c.name().to_owned(), obs.counters[c as usize]))
        .collect();
    let nodes = (0..n)
        .map(|i| {
            let id = NodeId(i as u32);
            NodeSummary {
                shards: p.subs[i].len() as u32,
                online: e.is_online(id),
                conns: if e.is_online(id) {
                    node_conns(&p, id)
                } else {
                    NodeConns::default()
                },
                peer_store: e
                    .node(id)
                    .peer_manager()
                    .map_or(0, |pm| pm.store().len() as u32),
                health: if e.is_online(id) {
                    let mut h = [0u32; 3];
                    if let Some(relay) = e.node(id).relay() {
                        for t in relay.subscriptions() {
                            h[classify(relay.mesh(t).len(), p.d_low) as usize] += 1;
                        }
                    }
                    h
                } else {
                    [0; 3]
                },
            }
        })
        .collect();
    let topic_bytes_out = if obs.per_topic_bytes {
        let mut v = obs.topic_bytes_out.clone();
        v.resize(p.topics.len(), 0);
        v
    } else {
        // One topic: every message, IHAVE, GRAFT and PRUNE byte is its own.
        let cats = [
            kind::PUBLISH,
            kind::FORWARD,
            kind::IWANT_REPLY,
            kind::IHAVE,
            kind::GRAFT,
            kind::PRUNE,
        ]
        .map(|k| Category(<Relay as Member>::OFFSET + k));
        vec![
            (0..n)
                .flat_map(|i| cats.iter().map(move |c| i * ncat + c.0 as usize))
                .map(|k| now[k].since(&warm[k]).bytes_out)
                .sum(),
        ]
    };
    let implementations = p
        .impl_names
        .iter()
        .enumerate()
        .map(|(g, (name, profile))| {
            let m = &obs.per_impl[g];
            let (sum, count) = impl_mesh[g];
            ImplOutput {
                name: name.clone(),
                profile: profile.clone(),
                nodes: p.impl_of.iter().filter(|&&x| x as usize == g).count() as u32,
                mesh_mean: if count == 0 {
                    f64::NAN
                } else {
                    sum as f64 / count as f64
                },
                latency_mean_ms: if m.latency.is_empty() {
                    f64::NAN
                } else {
                    m.latency.mean_ms()
                },
                latency_p95_ms: if m.latency.is_empty() {
                    f64::NAN
                } else {
                    m.latency.quantile_ms(0.95)
                },
                duplicates_mean: if m.copies_pairs == 0 {
                    f64::NAN
                } else {
                    m.copies_sum as f64 / m.copies_pairs as f64
                },
            }
        })
        .collect();
    let pm_counters = PmCounter::ALL
        .iter()
        .map(|&c| {
            (
                c.name().to_owned(),
                e.observer().peer_manager.counters[c as usize],
            )
        })
        .collect();
    let rln = p.rln.as_ref().map(|(sh, publishing)| {
        // Spammer-honest connections still open at the end.
        let left = (0..n)
            .filter(|&i| super::rln::is_spammer(sh, NodeId(i as u32)))
            .filter_map(|i| e.nodes()[i].relay())
            .map(|r| {
                r.peers()
                    .filter(|&q| !super::rln::is_spammer(sh, q))
                    .count() as u64
            })
            .sum();
        super::rln::output(
            sh,
            publishing,
            &p.topics,
            obs,
            SimTime::ZERO + p.warmup,
            end,
            left,
        )
    });
    let has_discv5 = e.nodes()[0].protocols_shared().discv5.is_some();
    let discovery = p.discovery.then(|| {
        let discv5_nodes = e
            .nodes()
            .iter()
            .filter(|n| {
                n.protocols()
                    .get::<crate::discovery::discv5::Discv5>()
                    .is_some()
            })
            .count() as u32;
        DiscoveryOutput {
            discv5: Discv5Counter::ALL
                .iter()
                .filter(|_| has_discv5)
                .map(|&c| {
                    (
                        c.name().to_owned(),
                        e.observer().discv5.counters[c as usize],
                    )
                })
                .collect(),
            discv5_nodes,
            peer_exchange: if e.nodes()[0].protocols_shared().peer_exchange.is_some() {
                PxCounter::ALL
                    .iter()
                    .map(|&c| {
                        (
                            c.name().to_owned(),
                            e.observer().peer_exchange.counters[c as usize],
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            },
            episodes: Vec::new(),
        }
    });
    SimOutput {
        discovery,
        categories,
        framing_category: <Transport as Member>::OFFSET as usize,
        bandwidth,
        drops: DropReason::ALL
            .iter()
            .map(|&r| (r.name().to_owned(), acc.drops_total(r)))
            .collect(),
        events: e.events_processed(),
        event_hash: e.event_hash(),
        sim_seconds: e.now().as_secs_f64(),
        relay: RelayOutput {
            delivery,
            delivery_series,
            latency,
            duplicates,
            mesh,
            publishing: pubs,
            counters,
            topic_bytes_out,
            implementations,
            impl_of: p.impl_of.clone(),
        },
        overlay: OverlayOutput {
            topics: p.topics.names().to_vec(),
            shard_health: Vec::new(),
            connections: Vec::new(),
            nodes,
        },
        peer_manager: PeerManagerOutput {
            counters: pm_counters,
        },
        rln,
        rendezvous: (!p.rdv_points.is_empty()).then(|| {
            let m = &e.observer().rendezvous;
            RendezvousOutput {
                points: p.rdv_points.iter().map(|x| x.0).collect(),
                counters: RdvCounter::ALL
                    .iter()
                    .map(|&c| (c.name().to_owned(), m.counters[c as usize]))
                    .collect(),
                statuses: Status::ALL
                    .iter()
                    .zip(m.statuses)
                    .map(|(s, v)| (s.name().to_owned(), v))
                    .collect(),
                samples: Vec::new(),
            }
        }),
        store,
    }
}
