//! Per-shard and per-node overlay measurements: mesh health per shard (nwaku's topic health),
//! and connection counts per node, sampled over time by the harness ([`crate::harness`]).
//!
//! Health of one (node, shard) subscription, as nwaku's `topic_health` defines it:
//! 0 mesh peers = **unhealthy**, fewer than D_low = **minimally healthy**, else **healthy**.

use sim_core::metrics::nearest_rank;

/// The health of one subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    /// No mesh peer.
    Unhealthy,
    /// Fewer mesh peers than D_low.
    MinimallyHealthy,
    /// At least D_low mesh peers.
    Healthy,
}

/// The health of a mesh of `mesh` peers.
#[inline]
pub fn classify(mesh: usize, d_low: u32) -> Health {
    if mesh == 0 {
        Health::Unhealthy
    } else if mesh < d_low as usize {
        Health::MinimallyHealthy
    } else {
        Health::Healthy
    }
}

/// Mesh health of one shard at one time, over its online subscribers.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardHealth {
    /// Simulated seconds.
    pub t_s: f64,
    /// Topic (shard) index.
    pub topic: u16,
    /// Online subscribers.
    pub subscribers: u32,
    /// Of those, with 0 mesh peers.
    pub unhealthy: u32,
    /// With 1 to D_low - 1 mesh peers.
    pub minimally_healthy: u32,
    /// With at least D_low.
    pub healthy: u32,
    /// Mean mesh size.
    pub mesh_mean: f64,
}

/// Accumulates one health sample over every (node, shard) subscription.
#[derive(Clone, Debug)]
pub struct HealthSampler {
    d_low: u32,
    /// Per topic: (unhealthy, minimal, healthy, mesh sum).
    acc: Vec<[u64; 4]>,
}

impl HealthSampler {
    /// A sampler for `topics` topics with the relay's D_low.
    pub fn new(topics: usize, d_low: u32) -> Self {
        HealthSampler {
            d_low,
            acc: vec![[0; 4]; topics],
        }
    }
    /// Adds one subscription of `topic` with a mesh of `mesh` peers.
    #[inline]
    pub fn add(&mut self, topic: u16, mesh: usize) {
        let a = &mut self.acc[topic as usize];
        a[classify(mesh, self.d_low) as usize] += 1;
        a[3] += mesh as u64;
    }
    /// The sample at `t_s`, one entry per topic with subscribers; resets the sampler.
    pub fn finish(&mut self, t_s: f64, out: &mut Vec<ShardHealth>) {
        for (t, a) in self.acc.iter_mut().enumerate() {
            let n = a[0] + a[1] + a[2];
            if n > 0 {
                out.push(ShardHealth {
                    t_s,
                    topic: t as u16,
                    subscribers: n as u32,
                    unhealthy: a[0] as u32,
                    minimally_healthy: a[1] as u32,
                    healthy: a[2] as u32,
                    mesh_mean: a[3] as f64 / n as f64,
                });
            }
            *a = [0; 4];
        }
    }
}

/// One node's connections at one time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeConns {
    /// Inbound connections.
    pub inbound: u32,
    /// Outbound connections.
    pub outbound: u32,
    /// Connections to peers that run relay.
    pub relay: u32,
    /// Connections to peers that do not (service connections).
    pub service: u32,
    /// Outbound connections to relay peers.
    pub out_relay: u32,
}

impl NodeConns {
    /// All connections.
    pub fn total(&self) -> u32 {
        self.inbound + self.outbound
    }
}

/// Connection counts over the online nodes at one time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnSample {
    /// Simulated seconds.
    pub t_s: f64,
    /// Online nodes sampled.
    pub nodes: u32,
    /// Mean connections per node.
    pub mean: f64,
    /// Median (nearest rank).
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Fewest.
    pub min: u32,
    /// Most.
    pub max: u32,
    /// Mean inbound.
    pub inbound_mean: f64,
    /// Mean outbound.
    pub outbound_mean: f64,
    /// Mean relay connections.
    pub relay_mean: f64,
    /// Mean service connections.
    pub service_mean: f64,
    /// Nodes with fewer outbound relay connections than the target (0 without a peer
    /// manager).
    pub below_out_target: u32,
}

impl ConnSample {
    /// Statistics of `conns` at `t_s`; `out_target` counts the nodes below it (0: none).
    pub fn of(t_s: f64, conns: &[NodeConns], out_target: u32) -> ConnSample {
        if conns.is_empty() {
            return ConnSample {
                t_s,
                ..ConnSample::default()
            };
        }
        let n = conns.len() as f64;
        let mut totals: Vec<f64> = conns.iter().map(|c| c.total() as f64).collect();
        totals.sort_by(f64::total_cmp);
        let mean =
            |f: fn(&NodeConns) -> u32| conns.iter().map(|c| f(c) as u64).sum::<u64>() as f64 / n;
        ConnSample {
            t_s,
            nodes: conns.len() as u32,
            mean: totals.iter().sum::<f64>() / n,
            p50: nearest_rank(&totals, 0.5),
            p95: nearest_rank(&totals, 0.95),
            min: totals[0] as u32,
            max: totals[totals.len() - 1] as u32,
            inbound_mean: mean(|c| c.inbound),
            outbound_mean: mean(|c| c.outbound),
            relay_mean: mean(|c| c.relay),
            service_mean: mean(|c| c.service),
            below_out_target: conns.iter().filter(|c| c.out_relay < out_target).count() as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_classes_and_samples() {
        assert_eq!(classify(0, 4), Health::Unhealthy);
        assert_eq!(classify(3, 4), Health::MinimallyHealthy);
        assert_eq!(classify(4, 4), Health::Healthy);
        let mut s = HealthSampler::new(3, 4);
        for m in [0, 2, 5, 6] {
            s.add(0, m);
        }
        s.add(2, 4);
        let mut out = Vec::new();
        s.finish(10.0, &mut out);
        // Topic 0: 1 unhealthy, 1 minimal, 2 healthy, mean (0 + 2 + 5 + 6) / 4 = 3.25; topic 1
        // has no subscriber and is left out.
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].unhealthy, out[0].minimally_healthy, out[0].healthy),
            (1, 1, 2)
        );
        assert_eq!(out[0].mesh_mean, 3.25);
        assert_eq!((out[1].topic, out[1].healthy), (2, 1));
        s.finish(20.0, &mut out);
        assert_eq!(out.len(), 2, "the sampler was reset");
    }

    #[test]
    fn connection_statistics() {
        let c = |i, o| NodeConns {
            inbound: i,
            outbound: o,
            relay: i + o,
            service: 0,
            out_relay: o,
        };
        let s = ConnSample::of(5.0, &[c(10, 10), c(20, 10), c(0, 4)], 10);
        // Totals 20, 30, 4: mean 18, p50 20, max 30; one node below 10 outbound.
        assert_eq!((s.mean, s.p50, s.min, s.max), (18.0, 20.0, 4, 30));
        assert_eq!(s.below_out_target, 1);
        assert_eq!(s.inbound_mean, 10.0);
    }
}
