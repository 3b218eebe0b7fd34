//! The graph type: a compact, immutable, undirected simple graph in compressed sparse row
//! (CSR) form, whose edges remember which side dialled.
//!
//! # Memory
//!
//! An edge costs 12 bytes in the edge list and 16 bytes in the two adjacency arrays (one
//! neighbour id and one edge index per end), and a node 8 bytes of offsets: a 1,000,000-node
//! 8-regular graph (4,000,000 edges) takes about 120 MB. A per-edge latency column is allocated
//! only for graphs imported with one.
//!
//! # Invariants
//!
//! Node ids are `0..node_count()`. There are no self-loops and no two edges join the same pair.
//! Each node's neighbours are sorted by id, so [`Graph::edge_between`] is a binary search.
//! Iteration order is fully determined by the construction, never by hashing.

use petgraph::graph::UnGraph;
use sim_core::{NodeId, SimDuration};

use crate::error::{Result, TopologyError};

/// The largest number of nodes a graph may have (a limit, so that a typo cannot ask for
/// 10^12 nodes and exhaust memory).
pub const MAX_NODES: u32 = 100_000_000;

/// The largest number of edges a graph may have: about 3 GB of graph.
pub const MAX_EDGES: u64 = 100_000_000;

/// One connection between two nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Edge {
    /// One end. For a dialled connection, the node that dialled (the connection is outbound
    /// for `a` and inbound for `b`); otherwise the smaller id.
    pub a: NodeId,
    /// The other end.
    pub b: NodeId,
    /// Whether `a` dialled `b`. False for graphs where the question has no answer (a ring, a
    /// random regular graph, an imported file without an `outbound` column).
    pub dialed: bool,
}

impl Edge {
    /// An undirected edge, stored with the smaller id first.
    pub fn undirected(x: u32, y: u32) -> Self {
        let (a, b) = if x <= y { (x, y) } else { (y, x) };
        Edge {
            a: NodeId(a),
            b: NodeId(b),
            dialed: false,
        }
    }

    /// A connection that `dialer` opened to `acceptor`.
    pub fn dialed(dialer: u32, acceptor: u32) -> Self {
        Edge {
            a: NodeId(dialer),
            b: NodeId(acceptor),
            dialed: true,
        }
    }

    /// The node that dialled, if known.
    pub fn dialer(&self) -> Option<NodeId> {
        self.dialed.then_some(self.a)
    }

    /// The end that is not `node` (`node` must be an end).
    pub fn other(&self, node: NodeId) -> NodeId {
        if self.a == node { self.b } else { self.a }
    }
}

/// The weight of an edge in [`Graph::to_petgraph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdgeAttr {
    /// The node that dialled, if known.
    pub dialer: Option<NodeId>,
    /// The measured one-way latency of the link, if the graph was imported with one.
    pub latency: Option<SimDuration>,
}

/// An undirected simple graph with optional per-edge dial direction and latency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Graph {
    n: u32,
    edges: Vec<Edge>,
    latency: Option<Vec<Option<SimDuration>>>,
    /// `offsets[i]..offsets[i + 1]` is node i's range in `adj` and `adj_edge`.
    offsets: Vec<usize>,
    adj: Vec<NodeId>,
    adj_edge: Vec<u32>,
}

impl Graph {
    /// A graph of `n` nodes with the given edges. Refuses an edge naming a node `>= n`, a
    /// self-loop, a pair listed twice, and sizes beyond [`MAX_NODES`] / [`MAX_EDGES`]; the
    /// error's location is `edge <index>`.
    pub fn new(n: u32, edges: Vec<Edge>) -> Result<Self> {
        Self::with_latency(n, edges, None)
    }

    /// Like [`Graph::new`], with a one-way latency per edge (`None` where unknown);
    /// `latency` must have one entry per edge.
    pub fn with_latency(
        n: u32,
        edges: Vec<Edge>,
        latency: Option<Vec<Option<SimDuration>>>,
    ) -> Result<Self> {
        check_size(n, edges.len() as u64)?;
        if let Some(l) = &latency {
            if l.len() != edges.len() {
                return Err(TopologyError::invalid(
                    "latency",
                    format!("{} entries", l.len()),
                    format!("give one latency entry per edge ({} edges)", edges.len()),
                ));
            }
        }
        for (i, e) in edges.iter().enumerate() {
            for end in [e.a, e.b] {
                if end.0 >= n {
                    return Err(TopologyError::MissingNode {
                        location: format!("edge {i}"),
                        node: end.0.to_string(),
                        nodes: u64::from(n),
                    });
                }
            }
            if e.a == e.b {
                return Err(TopologyError::SelfLoop {
                    location: format!("edge {i}"),
                    node: e.a.0.to_string(),
                });
            }
        }
        let latency = latency.filter(|l| l.iter().any(Option::is_some));
        let (offsets, adj, adj_edge) = build_csr(n, &edges);
        let g = Graph {
            n,
            edges,
            latency,
            offsets,
            adj,
            adj_edge,
        };
        // Sorted neighbour lists make duplicates adjacent.
        for v in 0..n {
            let r = g.range(NodeId(v));
            if let Some(w) = g.adj[r.clone()].windows(2).position(|w| w[0] == w[1]) {
                let dup = g.adj_edge[r.start + w + 1].max(g.adj_edge[r.start + w]);
                let e = g.edges[dup as usize];
                return Err(TopologyError::DuplicateEdge {
                    location: format!("edge {dup}"),
                    a: e.a.0,
                    b: e.b.0,
                });
            }
        }
        Ok(g)
    }

    /// A graph from edges that a generator in this crate built and knows to be simple.
    /// A violation is a bug in the generator and panics.
    pub(crate) fn from_generator(n: u32, edges: Vec<Edge>) -> Self {
        match Self::new(n, edges) {
            Ok(g) => g,
            Err(e) => panic!("generator produced an invalid graph: {e}"),
        }
    }

    /// A graph with `n` nodes and no edges.
    pub fn empty(n: u32) -> Result<Self> {
        Self::new(n, Vec::new())
    }

    /// Number of nodes.
    pub fn node_count(&self) -> u32 {
        self.n
    }

    /// Number of edges (connections).
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// All node ids, in order.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = NodeId> + use<> {
        (0..self.n).map(NodeId)
    }

    /// All edges, in construction order; [`Graph::edge_latency`] and the edge indices of
    /// [`Graph::incident`] index this slice.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    #[inline]
    fn range(&self, v: NodeId) -> std::ops::Range<usize> {
        self.offsets[v.index()]..self.offsets[v.index() + 1]
    }

    /// The neighbours of `v`, sorted by id. Panics if `v` is not a node of the graph.
    #[inline]
    pub fn neighbors(&self, v: NodeId) -> &[NodeId] {
        &self.adj[self.range(v)]
    }

    /// The neighbours of `v` with the index of the edge that joins them, sorted by neighbour.
    pub fn incident(&self, v: NodeId) -> impl ExactSizeIterator<Item = (NodeId, usize)> + '_ {
        let r = self.range(v);
        self.adj[r.clone()]
            .iter()
            .copied()
            .zip(self.adj_edge[r].iter().map(|&e| e as usize))
    }

    /// Number of neighbours of `v`.
    #[inline]
    pub fn degree(&self, v: NodeId) -> usize {
        self.offsets[v.index() + 1] - self.offsets[v.index()]
    }

    /// The index of the edge between `x` and `y`, if there is one (binary search).
    pub fn edge_between(&self, x: NodeId, y: NodeId) -> Option<usize> {
        let r = self.range(x);
        self.adj[r.clone()]
            .binary_search(&y)
            .ok()
            .map(|i| self.adj_edge[r.start + i] as usize)
    }

    /// Whether `x` and `y` are connected.
    pub fn has_edge(&self, x: NodeId, y: NodeId) -> bool {
        self.edge_between(x, y).is_some()
    }

    /// Whether any edge records which side dialled.
    pub fn is_dialed(&self) -> bool {
        self.edges.iter().any(|e| e.dialed)
    }

    /// Whether `from` dialled `to`: `Some(true)` if so, `Some(false)` if `to` dialled `from`,
    /// `None` if there is no such edge or its direction is unknown.
    pub fn dialed(&self, from: NodeId, to: NodeId) -> Option<bool> {
        let e = self.edges[self.edge_between(from, to)?];
        e.dialed.then_some(e.a == from)
    }

    /// The peers `v` dialled (its outbound connections), sorted by id.
    pub fn outbound(&self, v: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.incident(v).filter_map(move |(w, e)| {
            let e = self.edges[e];
            (e.dialed && e.a == v).then_some(w)
        })
    }

    /// The peers that dialled `v` (its inbound connections), sorted by id.
    pub fn inbound(&self, v: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.incident(v).filter_map(move |(w, e)| {
            let e = self.edges[e];
            (e.dialed && e.b == v).then_some(w)
        })
    }

    /// Number of connections `v` dialled.
    pub fn out_degree(&self, v: NodeId) -> usize {
        self.outbound(v).count()
    }

    /// Number of connections other nodes dialled to `v`.
    pub fn in_degree(&self, v: NodeId) -> usize {
        self.inbound(v).count()
    }

    /// The one-way latency recorded for edge `e` (from an imported file), if any.
    pub fn edge_latency(&self, e: usize) -> Option<SimDuration> {
        self.latency.as_ref().and_then(|l| l[e])
    }

    /// Whether any edge has a recorded latency.
    pub fn has_latencies(&self) -> bool {
        self.latency.is_some()
    }

    /// The same graph as a petgraph [`UnGraph`] (node `i` is `NodeIndex::new(i)`, edge `e` is
    /// `EdgeIndex::new(e)`), for petgraph's algorithms. Costs about twice the memory of
    /// `self`; meant for small and medium graphs.
    pub fn to_petgraph(&self) -> UnGraph<(), EdgeAttr, u32> {
        let mut g = UnGraph::with_capacity(self.n as usize, self.edges.len());
        for _ in 0..self.n {
            g.add_node(());
        }
        for (i, e) in self.edges.iter().enumerate() {
            g.add_edge(
                petgraph::graph::NodeIndex::new(e.a.index()),
                petgraph::graph::NodeIndex::new(e.b.index()),
                EdgeAttr {
                    dialer: e.dialer(),
                    latency: self.edge_latency(i),
                },
            );
        }
        g
    }
}

/// Refuses sizes beyond the crate's limits.
pub(crate) fn check_size(n: u32, edges: u64) -> Result<()> {
    if n > MAX_NODES {
        return Err(TopologyError::invalid(
            "nodes",
            n,
            format!("at most {MAX_NODES} nodes are supported"),
        ));
    }
    if edges > MAX_EDGES {
        return Err(TopologyError::invalid(
            "edges",
            edges,
            format!("at most {MAX_EDGES} edges are supported; use fewer nodes or a sparser graph"),
        ));
    }
    Ok(())
}

/// Builds sorted CSR adjacency: counting sort by node, then sort each node's slice.
fn build_csr(n: u32, edges: &[Edge]) -> (Vec<usize>, Vec<NodeId>, Vec<u32>) {
    let mut offsets = vec![0usize; n as usize + 1];
    for e in edges {
        offsets[e.a.index() + 1] += 1;
        offsets[e.b.index() + 1] += 1;
    }
    for i in 0..n as usize {
        offsets[i + 1] += offsets[i];
    }
    let total = offsets[n as usize];
    let mut pairs: Vec<(NodeId, u32)> = vec![(NodeId(0), 0); total];
    let mut cursor = offsets.clone();
    for (i, e) in edges.iter().enumerate() {
        pairs[cursor[e.a.index()]] = (e.b, i as u32);
        cursor[e.a.index()] += 1;
        pairs[cursor[e.b.index()]] = (e.a, i as u32);
        cursor[e.b.index()] += 1;
    }
    drop(cursor);
    for v in 0..n as usize {
        pairs[offsets[v]..offsets[v + 1]].sort_unstable();
    }
    let (adj, adj_edge) = pairs.into_iter().unzip();
    (offsets, adj, adj_edge)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triangle_plus_tail() -> Graph {
        // 0-1, 1-2, 2-0 (a triangle), 3 dialled 2.
        Graph::new(
            4,
            vec![
                Edge::undirected(0, 1),
                Edge::undirected(2, 1),
                Edge::undirected(2, 0),
                Edge::dialed(3, 2),
            ],
        )
        .unwrap()
    }

    #[test]
    fn adjacency_is_sorted_and_symmetric() {
        let g = triangle_plus_tail();
        assert_eq!(g.neighbors(NodeId(2)), &[NodeId(0), NodeId(1), NodeId(3)]);
        assert_eq!(g.degree(NodeId(3)), 1);
        for e in g.edges() {
            assert!(g.neighbors(e.a).contains(&e.b));
            assert!(g.neighbors(e.b).contains(&e.a));
        }
        assert_eq!(g.edge_between(NodeId(1), NodeId(2)), Some(1));
        assert_eq!(g.edge_between(NodeId(3), NodeId(0)), None);
    }

    #[test]
    fn dial_direction_is_kept() {
        let g = triangle_plus_tail();
        assert_eq!(g.dialed(NodeId(3), NodeId(2)), Some(true));
        assert_eq!(g.dialed(NodeId(2), NodeId(3)), Some(false));
        assert_eq!(g.dialed(NodeId(0), NodeId(1)), None);
        assert_eq!(g.outbound(NodeId(3)).collect::<Vec<_>>(), vec![NodeId(2)]);
        assert_eq!(g.in_degree(NodeId(2)), 1);
        assert_eq!(g.out_degree(NodeId(2)), 0);
    }

    #[test]
    fn bad_edges_are_refused_with_their_index() {
        let e = Graph::new(3, vec![Edge::undirected(0, 1), Edge::undirected(1, 3)]).unwrap_err();
        assert!(
            matches!(e, TopologyError::MissingNode { ref location, nodes: 3, .. } if location == "edge 1"),
            "{e}"
        );
        let e = Graph::new(3, vec![Edge::undirected(2, 2)]).unwrap_err();
        assert!(matches!(e, TopologyError::SelfLoop { .. }), "{e}");
        let e = Graph::new(3, vec![Edge::undirected(0, 1), Edge::dialed(1, 0)]).unwrap_err();
        assert!(
            matches!(e, TopologyError::DuplicateEdge { a: 1, b: 0, .. }),
            "{e}"
        );
    }

    #[test]
    fn petgraph_view_matches() {
        let g = triangle_plus_tail();
        let p = g.to_petgraph();
        assert_eq!(p.node_count(), 4);
        assert_eq!(p.edge_count(), 4);
        assert_eq!(petgraph::algo::connected_components(&p), 1);
        let w = p.edge_weight(petgraph::graph::EdgeIndex::new(3)).unwrap();
        assert_eq!(w.dialer, Some(NodeId(3)));
    }
}
