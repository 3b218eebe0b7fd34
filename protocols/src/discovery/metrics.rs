//! Discovery's measure of success: for every (node, shard) a node joins, the time from the
//! node joining (coming online) until its relay mesh on that shard first holds D_low and
//! then D peers ([`JoinTracker`]), summarised per shard and over all ([`JoinStats`]).
//!
//! The harness samples meshes once per simulated second, so times have a 1-second
//! resolution: a node that comes online between two samples is taken to join at the earlier
//! one, and a threshold reached between two samples counts at the later one. A node going
//! offline closes its episodes (a threshold not reached by then counts as never); when it
//! comes back it starts new ones. Episodes still open at the end of the run close there.

use sim_core::metrics::Stats;

/// One (node, shard) join: when it started and how long the thresholds took.
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    /// The node.
    pub node: u32,
    /// The shard.
    pub shard: u16,
    /// When the node joined, in simulated seconds.
    pub join_s: f64,
    /// Seconds until its mesh on the shard held D_low peers (`None`: never).
    pub dlow_s: Option<f64>,
    /// Seconds until it held D peers (`None`: never).
    pub d_s: Option<f64>,
}

#[derive(Clone, Debug, Default)]
struct NodeState {
    online: bool,
    join_ns: u64,
    /// (shard, ns to D_low, ns to D) of the current episode.
    shards: Vec<(u16, Option<u64>, Option<u64>)>,
}

/// Follows every node's meshes from its join (see the module docs). Memory: one entry per
/// (node, subscribed shard) plus the finished episodes.
#[derive(Clone, Debug)]
pub struct JoinTracker {
    d_low: usize,
    d: usize,
    last_ns: u64,
    nodes: Vec<NodeState>,
    done: Vec<Episode>,
}

impl JoinTracker {
    /// A tracker of `n` nodes with relay's D_low and D.
    pub fn new(n: usize, d_low: u32, d: u32) -> Self {
        JoinTracker {
            d_low: d_low as usize,
            d: d as usize,
            last_ns: 0,
            nodes: vec![NodeState::default(); n],
            done: Vec::new(),
        }
    }

    fn close(&mut self, node: usize) {
        let st = &mut self.nodes[node];
        let s = |v: Option<u64>| v.map(|x| x as f64 / 1e9);
        for &(shard, a, b) in &st.shards {
            self.done.push(Episode {
                node: node as u32,
                shard,
                join_s: st.join_ns as f64 / 1e9,
                dlow_s: s(a),
                d_s: s(b),
            });
        }
        st.shards.clear();
    }

    /// Node `node` at time `t_ns` (a sample): whether it is online, and its mesh size on
    /// each subscribed shard.
    pub fn sample(
        &mut self,
        t_ns: u64,
        node: usize,
        online: bool,
        meshes: impl Iterator<Item = (u16, usize)>,
    ) {
        if !online {
            if self.nodes[node].online {
                self.close(node);
                self.nodes[node].online = false;
            }
            return;
        }
        let last = self.last_ns;
        let (d_low, d) = (self.d_low, self.d);
        let st = &mut self.nodes[node];
        if !st.online {
            st.online = true;
            st.join_ns = last;
        }
        let since = t_ns - st.join_ns;
        for (shard, m) in meshes {
            let i = match st.shards.iter().position(|e| e.0 == shard) {
                Some(i) => i,
                None => {
                    st.shards.push((shard, None, None));
                    st.shards.len() - 1
                }
            };
            let e = &mut st.shards[i];
            if e.1.is_none() && m >= d_low {
                e.1 = Some(since);
            }
            if e.2.is_none() && m >= d {
                e.2 = Some(since);
            }
        }
    }

    /// Every node was sampled at `t_ns`.
    pub fn end_sample(&mut self, t_ns: u64) {
        self.last_ns = t_ns;
    }

    /// The episodes, the open ones closed now, by (node, join, shard).
    pub fn finish(mut self) -> Vec<Episode> {
        for i in 0..self.nodes.len() {
            self.close(i);
        }
        let mut v = self.done;
        v.sort_by(|a, b| {
            (a.node, a.shard)
                .cmp(&(b.node, b.shard))
                .then(a.join_s.total_cmp(&b.join_s))
        });
        v
    }
}

/// Summary of a set of episodes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JoinStats {
    /// Episodes.
    pub pairs: usize,
    /// Seconds to D_low of those that got there.
    pub dlow: Stats,
    /// Fraction that never got D_low.
    pub never_dlow: f64,
    /// Seconds to D of those that got there.
    pub d: Stats,
    /// Fraction that never got D.
    pub never_d: f64,
}

impl JoinStats {
    /// The statistics of `episodes`.
    pub fn of<'a>(episodes: impl Iterator<Item = &'a Episode>) -> Self {
        let (mut a, mut b, mut n) = (Vec::new(), Vec::new(), 0usize);
        for e in episodes {
            n += 1;
            a.extend(e.dlow_s);
            b.extend(e.d_s);
        }
        let frac = |k: usize| {
            if n == 0 {
                f64::NAN
            } else {
                (n - k) as f64 / n as f64
            }
        };
        JoinStats {
            pairs: n,
            never_dlow: frac(a.len()),
            never_d: frac(b.len()),
            dlow: Stats::of(&a),
            d: Stats::of(&b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episodes_time_thresholds_from_the_join_and_restart_on_churn() {
        // D_low 4, D 6. Node 0 on shards 1 and 2 from 0 s: shard 1 reaches 4 at 2 s and 6 at
        // 3 s; shard 2 reaches 4 at 3 s, never 6. Node 1 is offline at 1 s, back by 2 s
        // (joins at the 1 s sample), reaches 6 at once at 3 s (2 s after joining), then
        // goes offline at 4 s without a second episode.
        let mut t = JoinTracker::new(2, 4, 6);
        let s = 1_000_000_000u64;
        type Sample = (u64, [(bool, [usize; 2]); 2]);
        let samples: [Sample; 4] = [
            (s, [(true, [1, 0]), (false, [0, 0])]),
            (2 * s, [(true, [4, 2]), (true, [0, 0])]),
            (3 * s, [(true, [7, 4]), (true, [6, 0])]),
            (4 * s, [(true, [7, 5]), (false, [0, 0])]),
        ];
        for (at, nodes) in samples {
            for (i, (online, m)) in nodes.into_iter().enumerate() {
                let shards: &[u16] = if i == 0 { &[1, 2] } else { &[1] };
                t.sample(at, i, online, shards.iter().zip(m).map(|(&sh, m)| (sh, m)));
            }
            t.end_sample(at);
        }
        let e = t.finish();
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[0].node, e[0].shard, e[0].dlow_s, e[0].d_s),
            (0, 1, Some(2.0), Some(3.0))
        );
        assert_eq!((e[1].shard, e[1].dlow_s, e[1].d_s), (2, Some(3.0), None));
        assert_eq!((e[2].node, e[2].join_s, e[2].d_s), (1, 1.0, Some(2.0)));
        let st = JoinStats::of(e.iter());
        assert_eq!(st.pairs, 3);
        assert_eq!(st.never_d, 1.0 / 3.0);
        assert_eq!(st.never_dlow, 0.0);
        assert_eq!(st.dlow.max, 3.0);
    }
}
