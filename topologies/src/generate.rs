//! Seeded graph generators.
//!
//! Every generator is a pure function of (parameters, seed): it draws from its own named
//! stream `sim_core::rng::stream(seed, GLOBAL_SCOPE, "topology/<name>")` through the crate's
//! fixed sampling algorithms (see the crate docs, "Determinism"), and iterates only over
//! vectors. Impossible parameters return [`TopologyError::InvalidParameter`] naming the
//! parameter; nothing here panics on user input.

use crate::error::{Result, TopologyError};
use crate::graph::{Edge, Graph, MAX_EDGES, check_size};
use crate::sample::{below, chance, global_stream, index, shuffle, unit_open0};

/// Maximum number of fresh pairings [`random_regular`] tries before giving up. A pairing only
/// fails when the edge-switch repair gets stuck, which for the degrees this generator accepts
/// (at most half the nodes, see below) is rare; 64 failures in a row do not happen in practice.
const RANDOM_REGULAR_RESTARTS: u32 = 64;

/// Random switches tried to repair one bad pair (self-loop or multi-edge) before the pairing
/// is abandoned and redrawn.
const SWITCH_TRIES: u32 = 10_000;

fn check_nodes(n: u32) -> Result<()> {
    if n == 0 {
        return Err(TopologyError::invalid(
            "nodes",
            n,
            "a network needs at least one node",
        ));
    }
    check_size(n, 0)
}

fn check_probability(field: &str, p: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(TopologyError::invalid(
            field,
            p,
            "must be a probability between 0 and 1 inclusive",
        ));
    }
    Ok(())
}

/// A uniformly random `d`-regular graph on `n` nodes (every node has exactly `d` neighbours),
/// by the configuration model with edge-switch repair.
///
/// Algorithm: lay out `d` stubs per node, shuffle them (Fisher–Yates) and pair neighbours in
/// the shuffled order. The pairing has about `(d-1)/2` self-loops and `(d-1)^2/4` repeated
/// pairs in expectation whatever `n` is (Bollobás), so for d = 8 only a dozen pairs are bad.
/// Each bad pair `(u, v)` is repaired by a random switch with a good edge `(x, y)`: both are
/// replaced by `(u, x)` and `(v, y)`, which keeps every degree, provided neither new pair is a
/// self-loop or already present. When `d > (n-1)/2` the graph is dense and switches rarely
/// succeed, so the generator builds the complement of a random `(n-1-d)`-regular graph
/// instead (a bijection, so it stays uniform in the same sense). The result is close to, but
/// not exactly, uniform over d-regular graphs; for simulations of gossip over random overlays
/// the difference is immaterial.
///
/// Cost: O(n d) time and about 12 n d bytes of working memory; one million nodes with d = 8
/// take well under a second in a release build.
///
/// Errors: `n == 0`, `d >= n`, `n * d` odd (a graph's degrees add up to twice its edge
/// count), or more than [`MAX_EDGES`] edges.
pub fn random_regular(n: u32, d: u32, seed: u64) -> Result<Graph> {
    check_nodes(n)?;
    if d >= n {
        return Err(TopologyError::invalid(
            "degree",
            d,
            format!(
                "must be less than the number of nodes ({n}): a node has at most {} possible neighbours",
                n - 1
            ),
        ));
    }
    if (u64::from(n) * u64::from(d)) % 2 == 1 {
        return Err(TopologyError::invalid(
            "degree",
            d,
            format!(
                "nodes x degree = {n} x {d} is odd, but every edge has two ends so the degrees \
                 of a graph add up to an even number; change the degree or the node count by one"
            ),
        ));
    }
    let m = u64::from(n) * u64::from(d) / 2;
    check_size(n, m)?;
    let mut rng = global_stream(seed, "topology/random-regular");
    if d == 0 {
        return Graph::empty(n);
    }
    let dense = u64::from(d) * 2 > u64::from(n - 1);
    let d_eff = if dense { n - 1 - d } else { d };
    let pairs = if d_eff == 0 {
        Vec::new()
    } else {
        let mut found = None;
        for _ in 0..RANDOM_REGULAR_RESTARTS {
            if let Some(p) = try_pairing(n, d_eff, &mut rng) {
                found = Some(p);
                break;
            }
        }
        match found {
            Some(p) => p,
            None => {
                return Err(TopologyError::GenerationFailed {
                    what: "random_regular".into(),
                    reason: format!(
                        "no simple {d_eff}-regular pairing found on {n} nodes after \
                         {RANDOM_REGULAR_RESTARTS} attempts; try another seed"
                    ),
                });
            }
        }
    };
    let edges: Vec<Edge> = if dense {
        complement(n, &pairs)
    } else {
        pairs
            .into_iter()
            .map(|(u, v)| Edge::undirected(u, v))
            .collect()
    };
    Ok(Graph::from_generator(n, edges))
}

/// Fixed-width adjacency used while pairing: `d` slots per node.
struct Slots {
    d: usize,
    slots: Vec<u32>,
    len: Vec<u32>,
}

impl Slots {
    fn new(n: u32, d: u32) -> Self {
        Slots {
            d: d as usize,
            slots: vec![0; n as usize * d as usize],
            len: vec![0; n as usize],
        }
    }
    fn of(&self, u: u32) -> &[u32] {
        let s = u as usize * self.d;
        &self.slots[s..s + self.len[u as usize] as usize]
    }
    fn adjacent(&self, u: u32, v: u32) -> bool {
        let (a, b) = if self.len[u as usize] <= self.len[v as usize] {
            (u, v)
        } else {
            (v, u)
        };
        self.of(a).contains(&b)
    }
    fn push(&mut self, u: u32, v: u32) {
        let l = &mut self.len[u as usize];
        self.slots[u as usize * self.d + *l as usize] = v;
        *l += 1;
    }
    fn insert(&mut self, u: u32, v: u32) {
        self.push(u, v);
        self.push(v, u);
    }
    fn remove_one(&mut self, u: u32, v: u32) {
        let s = u as usize * self.d;
        let l = self.len[u as usize] as usize;
        let i = self.slots[s..s + l]
            .iter()
            .position(|&w| w == v)
            .expect("edge present in the slots");
        self.slots[s + i] = self.slots[s + l - 1];
        self.len[u as usize] -= 1;
    }
    fn remove(&mut self, u: u32, v: u32) {
        self.remove_one(u, v);
        self.remove_one(v, u);
    }
}

/// One configuration-model pairing with switch repair; `None` if a bad pair could not be
/// repaired within [`SWITCH_TRIES`] switches.
fn try_pairing(n: u32, d: u32, rng: &mut impl rand::RngCore) -> Option<Vec<(u32, u32)>> {
    let mut stubs: Vec<u32> = Vec::with_capacity(n as usize * d as usize);
    for v in 0..n {
        stubs.extend(std::iter::repeat_n(v, d as usize));
    }
    shuffle(rng, &mut stubs);
    let m = stubs.len() / 2;
    let mut slots = Slots::new(n, d);
    let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(m);
    let mut bad: Vec<usize> = Vec::new();
    let mut is_bad = vec![false; m];
    for k in 0..m {
        let (u, v) = (stubs[2 * k], stubs[2 * k + 1]);
        pairs.push((u, v));
        if u == v || slots.adjacent(u, v) {
            bad.push(k);
            is_bad[k] = true;
        } else {
            slots.insert(u, v);
        }
    }
    drop(stubs);
    for k in bad {
        let (u, v) = pairs[k];
        let mut repaired = false;
        for _ in 0..SWITCH_TRIES {
            let j = index(rng, m);
            if is_bad[j] {
                continue;
            }
            let (mut x, mut y) = pairs[j];
            if below(rng, 2) == 1 {
                std::mem::swap(&mut x, &mut y);
            }
            // New pairs (u, x) and (v, y).
            if u == x || v == y || (u == y && v == x) {
                continue;
            }
            if slots.adjacent(u, x) || slots.adjacent(v, y) {
                continue;
            }
            slots.remove(x, y);
            slots.insert(u, x);
            slots.insert(v, y);
            pairs[j] = (u, x);
            pairs[k] = (v, y);
            is_bad[k] = false;
            repaired = true;
            break;
        }
        if !repaired {
            return None;
        }
    }
    Some(pairs)
}

/// The edges of the complement of the graph given by `pairs` on `n` nodes (small dense
/// graphs only: the complement of a sparse graph is dense).
fn complement(n: u32, pairs: &[(u32, u32)]) -> Vec<Edge> {
    let mut adj = vec![Vec::new(); n as usize];
    for &(u, v) in pairs {
        adj[u as usize].push(v);
        adj[v as usize].push(u);
    }
    for a in &mut adj {
        a.sort_unstable();
    }
    let mut edges = Vec::new();
    for u in 0..n {
        for v in u + 1..n {
            if adj[u as usize].binary_search(&v).is_err() {
                edges.push(Edge::undirected(u, v));
            }
        }
    }
    edges
}

/// The Erdős–Rényi graph G(n, p): each of the n(n-1)/2 pairs is an edge independently with
/// probability `p`.
///
/// Uses geometric skipping (Batagelj and Brandes, "Efficient generation of large random
/// networks", Phys. Rev. E 71, 2005): instead of one coin per pair, it jumps over
/// `floor(ln(1 - r) / ln(1 - p))` non-edges at a time, so the cost is O(n + m) rather than
/// O(n^2). One million nodes with mean degree 8 take a fraction of a second.
///
/// Errors: `n == 0`, `p` outside [0, 1] (or NaN), or an expected edge count
/// `p n (n-1) / 2` above [`MAX_EDGES`].
pub fn erdos_renyi(n: u32, p: f64, seed: u64) -> Result<Graph> {
    check_nodes(n)?;
    check_probability("p", p)?;
    let pairs = u64::from(n) * u64::from(n - 1) / 2;
    let expected = p * pairs as f64;
    if expected > MAX_EDGES as f64 {
        return Err(TopologyError::invalid(
            "p",
            p,
            format!(
                "expects {expected:.0} edges on {n} nodes, more than the limit of {MAX_EDGES}; \
                 use a smaller p"
            ),
        ));
    }
    let mut rng = global_stream(seed, "topology/erdos-renyi");
    if p == 0.0 || n < 2 {
        return Graph::empty(n);
    }
    if p == 1.0 {
        return complete(n);
    }
    let lp = (1.0 - p).ln();
    let mut edges = Vec::with_capacity((expected * 1.01) as usize + 16);
    // Pairs (v, w) with w < v, enumerated row by row; w = -1 before the first.
    let mut v: u64 = 1;
    let mut w: i64 = -1;
    let n64 = u64::from(n);
    while v < n64 {
        let skip = (unit_open0(&mut rng).ln() / lp).floor();
        // A skip beyond all remaining pairs ends the graph (also guards the i64 cast).
        if skip >= pairs as f64 {
            break;
        }
        w += 1 + skip as i64;
        while v < n64 && w >= v as i64 {
            w -= v as i64;
            v += 1;
        }
        if v < n64 {
            edges.push(Edge::undirected(w as u32, v as u32));
            if edges.len() as u64 > MAX_EDGES {
                return Err(TopologyError::invalid(
                    "p",
                    p,
                    format!("drew more than {MAX_EDGES} edges; use a smaller p"),
                ));
            }
        }
    }
    Ok(Graph::from_generator(n, edges))
}

/// A Barabási–Albert preferential-attachment graph: start from a complete graph on `m + 1`
/// nodes, then add the other nodes one at a time, each joining `m` distinct existing nodes
/// chosen with probability proportional to their degree.
///
/// The degree distribution has a power-law tail `P(k) ~ k^-3`; precisely, for large n,
/// `P(degree = k) = 2 m (m+1) / (k (k+1) (k+2))` for `k >= m` (Bollobás, Riordan, Spencer and
/// Tusnády, 2001). Degree-proportional choice uses the list of edge ends: a node appears in it
/// once per unit of degree, so a uniform pick from it is a degree-proportional pick.
///
/// Errors: `n == 0`, `m == 0`, `m >= n`, or too many edges.
pub fn barabasi_albert(n: u32, m: u32, seed: u64) -> Result<Graph> {
    check_nodes(n)?;
    if m == 0 || m >= n {
        return Err(TopologyError::invalid(
            "m",
            m,
            format!(
                "edges per new node must be at least 1 and less than the number of nodes ({n})"
            ),
        ));
    }
    let m64 = u64::from(m);
    let total = m64 * (m64 + 1) / 2 + (u64::from(n) - m64 - 1) * m64;
    check_size(n, total)?;
    let mut rng = global_stream(seed, "topology/barabasi-albert");
    let mut edges = Vec::with_capacity(total as usize);
    let mut ends: Vec<u32> = Vec::with_capacity(2 * total as usize);
    for u in 0..=m {
        for v in u + 1..=m {
            edges.push(Edge::undirected(u, v));
            ends.push(u);
            ends.push(v);
        }
    }
    let mut targets: Vec<u32> = Vec::with_capacity(m as usize);
    for v in m + 1..n {
        targets.clear();
        while targets.len() < m as usize {
            let t = ends[index(&mut rng, ends.len())];
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
        for &t in &targets {
            edges.push(Edge::undirected(t, v));
            ends.push(t);
            ends.push(v);
        }
    }
    Ok(Graph::from_generator(n, edges))
}

/// A Watts–Strogatz small-world graph: a ring where each node joins its `k` nearest
/// neighbours (`k/2` on each side), then each edge `(u, u+j)` is rewired with probability
/// `beta` to `(u, w)` for a uniformly random `w` that is not `u` and not already a neighbour
/// (the variant of networkx's `watts_strogatz_graph`: edges are visited by distance `j`, then by
/// node). `beta = 0` keeps the ring lattice; `beta = 1` gives a random graph with the same
/// edge count.
///
/// Errors: `n == 0`, `k` odd, `k >= n`, or `beta` outside [0, 1].
pub fn watts_strogatz(n: u32, k: u32, beta: f64, seed: u64) -> Result<Graph> {
    check_nodes(n)?;
    if k % 2 == 1 {
        return Err(TopologyError::invalid(
            "k",
            k,
            "must be even: each node joins k/2 neighbours on each side of the ring",
        ));
    }
    if k >= n {
        return Err(TopologyError::invalid(
            "k",
            k,
            format!("must be less than the number of nodes ({n})"),
        ));
    }
    check_probability("beta", beta)?;
    check_size(n, u64::from(n) * u64::from(k) / 2)?;
    let mut rng = global_stream(seed, "topology/watts-strogatz");
    let nn = n as usize;
    let mut adj: Vec<Vec<u32>> = vec![Vec::with_capacity(k as usize); nn];
    for u in 0..n {
        for j in 1..=k / 2 {
            let v = (u + j) % n;
            adj[u as usize].push(v);
            adj[v as usize].push(u);
        }
    }
    for j in 1..=k / 2 {
        for u in 0..n {
            let v = (u + j) % n;
            if !chance(&mut rng, beta) {
                continue;
            }
            // The edge may have been rewired away already (by u's earlier choices it cannot,
            // but keep the check cheap and explicit).
            if !adj[u as usize].contains(&v) {
                continue;
            }
            if adj[u as usize].len() >= nn - 1 {
                continue;
            }
            let w = pick_non_neighbor(&mut rng, &adj[u as usize], u, n);
            remove_value(&mut adj[u as usize], v);
            remove_value(&mut adj[v as usize], u);
            adj[u as usize].push(w);
            adj[w as usize].push(u);
        }
    }
    let mut edges = Vec::with_capacity(nn * k as usize / 2);
    for (u, list) in adj.iter_mut().enumerate() {
        list.sort_unstable();
        for &v in list.iter() {
            if (u as u32) < v {
                edges.push(Edge::undirected(u as u32, v));
            }
        }
    }
    Ok(Graph::from_generator(n, edges))
}

fn remove_value(list: &mut Vec<u32>, v: u32) {
    if let Some(i) = list.iter().position(|&x| x == v) {
        list.swap_remove(i);
    }
}

/// A uniform node that is neither `u` nor in `nbrs` (there must be one). Rejection sampling
/// while that is cheap, then an explicit list.
fn pick_non_neighbor(rng: &mut impl rand::RngCore, nbrs: &[u32], u: u32, n: u32) -> u32 {
    for _ in 0..64 {
        let w = below(rng, u64::from(n)) as u32;
        if w != u && !nbrs.contains(&w) {
            return w;
        }
    }
    let mut sorted = nbrs.to_vec();
    sorted.sort_unstable();
    let candidates: Vec<u32> = (0..n)
        .filter(|&w| w != u && sorted.binary_search(&w).is_err())
        .collect();
    candidates[index(rng, candidates.len())]
}

/// "Each node dials `outbound` random peers, accepting at most `max_inbound` inbound": the way
/// real Waku nodes (and Shadow studies with a CONNECTTO setting) build their overlay.
///
/// The nodes dial one after another in a seeded random order (as if they started at random
/// times). Each picks its peers uniformly among the nodes that are not itself, not already
/// connected to it, and still below `max_inbound` inbound connections; a node whose peer is
/// full simply picks another, as a real node retries after a refused dial. Edges record the
/// dialler ([`Edge::dialed`]), so every node has exactly `outbound` outbound connections
/// unless too few eligible peers were left (possible when `max_inbound < outbound`, or in tiny
/// networks), and no node ever exceeds `max_inbound` inbound. A node's degree is its
/// `outbound` plus however many dialled it.
///
/// Errors: `n == 0`, `outbound >= n` (a node cannot dial `n` distinct peers),
/// `max_inbound == 0` while `outbound > 0` (nobody could accept a connection).
pub fn dial(n: u32, outbound: u32, max_inbound: u32, seed: u64) -> Result<Graph> {
    check_nodes(n)?;
    if outbound >= n {
        return Err(TopologyError::invalid(
            "outbound",
            outbound,
            format!(
                "must be less than the number of nodes ({n}): a node can dial at most {} distinct peers",
                n - 1
            ),
        ));
    }
    if max_inbound == 0 && outbound > 0 {
        return Err(TopologyError::invalid(
            "max_inbound",
            max_inbound,
            "must be at least 1 when nodes dial out, or no dial could be accepted",
        ));
    }
    check_size(n, u64::from(n) * u64::from(outbound))?;
    let mut rng = global_stream(seed, "topology/dial");
    let nn = n as usize;
    let mut order: Vec<u32> = (0..n).collect();
    shuffle(&mut rng, &mut order);
    // Nodes that can still accept, with each node's position in it (u32::MAX if full).
    const FULL: u32 = u32::MAX;
    let mut available: Vec<u32> = (0..n).collect();
    let mut pos: Vec<u32> = (0..n).collect();
    let mut inbound = vec![0u32; nn];
    let mut adj: Vec<Vec<u32>> = vec![Vec::new(); nn];
    let mut edges = Vec::with_capacity(nn * outbound as usize);
    let mut candidates: Vec<u32> = Vec::new();
    for &u in &order {
        for _ in 0..outbound {
            // At most deg(u) + 1 of the available nodes are ineligible (u itself and its
            // neighbours). While that is at most a quarter of them, rejection sampling ends
            // after fewer than 4/3 draws on average; otherwise list the eligible ones.
            let ineligible_bound = adj[u as usize].len() + 1;
            let v = if available.len() > 4 * ineligible_bound {
                loop {
                    let w = available[index(&mut rng, available.len())];
                    if w != u && !adj[u as usize].contains(&w) {
                        break w;
                    }
                }
            } else {
                candidates.clear();
                candidates.extend(
                    available
                        .iter()
                        .copied()
                        .filter(|&w| w != u && !adj[u as usize].contains(&w)),
                );
                if candidates.is_empty() {
                    break;
                }
                candidates[index(&mut rng, candidates.len())]
            };
            adj[u as usize].push(v);
            adj[v as usize].push(u);
            edges.push(Edge::dialed(u, v));
            inbound[v as usize] += 1;
            if inbound[v as usize] >= max_inbound {
                let p = pos[v as usize] as usize;
                let last = *available.last().expect("v is available");
                available.swap_remove(p);
                if last != v {
                    pos[last as usize] = p as u32;
                }
                pos[v as usize] = FULL;
            }
        }
    }
    Ok(Graph::from_generator(n, edges))
}

/// The complete graph on `n` nodes: every pair is an edge. Errors: `n == 0`, too many edges.
pub fn complete(n: u32) -> Result<Graph> {
    check_nodes(n)?;
    check_size(n, u64::from(n) * u64::from(n - 1) / 2)?;
    let mut edges = Vec::with_capacity(n as usize * (n as usize - 1) / 2);
    for u in 0..n {
        for v in u + 1..n {
            edges.push(Edge::undirected(u, v));
        }
    }
    Ok(Graph::from_generator(n, edges))
}

/// A cycle `0 - 1 - ... - (n-1) - 0`. Errors: fewer than 3 nodes (a ring of two would need
/// the same edge twice).
pub fn ring(n: u32) -> Result<Graph> {
    check_nodes(n)?;
    if n < 3 {
        return Err(TopologyError::invalid(
            "nodes",
            n,
            "a ring needs at least 3 nodes; use a line for fewer",
        ));
    }
    let mut edges: Vec<Edge> = (0..n - 1).map(|u| Edge::undirected(u, u + 1)).collect();
    edges.push(Edge::undirected(n - 1, 0));
    Ok(Graph::from_generator(n, edges))
}

/// A path `0 - 1 - ... - (n-1)`. Errors: `n == 0`.
pub fn line(n: u32) -> Result<Graph> {
    check_nodes(n)?;
    let edges = (0..n - 1).map(|u| Edge::undirected(u, u + 1)).collect();
    Ok(Graph::from_generator(n, edges))
}
