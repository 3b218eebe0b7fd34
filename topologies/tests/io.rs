//! GraphML and CSV import/export: round trips and every kind of bad file.

use proptest::prelude::*;
use sim_core::{NodeId, SimDuration};
use topologies::io::{
    load_graph, read_csv, read_graphml, same_connections, save_graph, to_csv_string,
    to_graphml_string,
};
use topologies::{Edge, FileFormat, Graph, TopologyError, generate};

/// A small graph with every attribute: dialled and undirected edges, latencies on some.
fn attributed() -> Graph {
    Graph::with_latency(
        5,
        vec![
            Edge::dialed(3, 0),
            Edge::undirected(0, 1),
            Edge::dialed(1, 4),
            Edge::undirected(2, 4),
        ],
        Some(vec![
            Some(SimDuration::from_micros(12_500)),
            None,
            Some(SimDuration::from_nanos(1)),
            Some(SimDuration::from_millis(250)),
        ]),
    )
    .unwrap()
}

#[test]
fn attributes_survive_both_formats() {
    let g = attributed();
    let csv = to_csv_string(&g);
    assert!(
        csv.starts_with("source,target,latency_ms,outbound\n"),
        "{csv}"
    );
    // 12.5 ms; 1 ns = 0.000001 ms exactly.
    assert!(csv.contains("3,0,12.5,true\n"), "{csv}");
    assert!(csv.contains("1,4,0.000001,true\n"), "{csv}");
    assert!(csv.contains("0,1,,false\n"), "{csv}");
    let back = read_csv(&csv, None).unwrap();
    assert!(same_connections(&g, &back));
    assert_eq!(back.dialed(NodeId(3), NodeId(0)), Some(true));
    assert_eq!(
        back.edge_latency(back.edge_between(NodeId(2), NodeId(4)).unwrap()),
        Some(SimDuration::from_millis(250))
    );

    let xml = to_graphml_string(&g);
    let back = read_graphml(&xml, None).unwrap();
    assert!(same_connections(&g, &back));
    assert_eq!(back.dialed(NodeId(4), NodeId(1)), Some(false));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn generated_graphs_round_trip(n in 12u32..200, seed in any::<u64>()) {
        let dialed = generate::dial(n, 4, 12, seed).unwrap();
        let regular = generate::random_regular(n, 4, seed).unwrap();
        for g in [&dialed, &regular] {
            let from_csv = read_csv(&to_csv_string(g), Some(n)).unwrap();
            prop_assert!(same_connections(g, &from_csv));
            let from_xml = read_graphml(&to_graphml_string(g), Some(n)).unwrap();
            prop_assert!(same_connections(g, &from_xml));
            // Writing is deterministic: exporting the re-import gives the same text.
            prop_assert_eq!(to_csv_string(g), to_csv_string(&from_csv));
        }
    }
}

#[test]
fn csv_without_header_with_comments_and_duplicates() {
    let text = "# a crawl\n0,1\n1,0\n\n2,1,7.5\n# trailing comment\n";
    let g = read_csv(text, None).unwrap();
    // 0-1 listed twice (both directions): one connection.
    assert_eq!((g.node_count(), g.edge_count()), (3, 2));
    assert_eq!(
        g.edge_latency(g.edge_between(NodeId(1), NodeId(2)).unwrap()),
        Some(SimDuration::from_micros(7_500))
    );
    // An explicit node count leaves trailing nodes isolated.
    assert_eq!(read_csv(text, Some(10)).unwrap().node_count(), 10);
}

#[test]
fn csv_header_finds_columns_by_name_and_ignores_extras() {
    let text = "peer_agent,target,source,latency_ms\nnwaku,1,0,3\ngo-waku,2,1,\n";
    let g = read_csv(text, None).unwrap();
    assert_eq!(g.edge_count(), 2);
    assert_eq!(
        g.edge_latency(g.edge_between(NodeId(0), NodeId(1)).unwrap()),
        Some(SimDuration::from_millis(3))
    );
    assert!(!g.is_dialed());
}

fn location(e: &TopologyError) -> String {
    match e {
        TopologyError::Malformed { location, .. }
        | TopologyError::MissingNode { location, .. }
        | TopologyError::SelfLoop { location, .. } => location.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn bad_csv_files_name_the_line() {
    // An edge naming node 7 when the network has 5 nodes (line 3).
    let e = read_csv("0,1\n1,2\n2,7\n", Some(5)).unwrap_err();
    assert!(
        matches!(e, TopologyError::MissingNode { nodes: 5, ref node, .. } if node == "7"),
        "{e}"
    );
    assert_eq!(location(&e), "csv line 3");
    // Self-loop.
    let e = read_csv("0,1\n2,2\n", None).unwrap_err();
    assert!(matches!(e, TopologyError::SelfLoop { .. }));
    assert_eq!(location(&e), "csv line 2");
    // Not an id.
    let e = read_csv("0,1\n1,x\n", None).unwrap_err();
    assert_eq!(location(&e), "csv line 2");
    assert!(e.to_string().contains("\"x\""), "{e}");
    // Negative latency, non-numeric latency, bad boolean.
    assert_eq!(
        location(&read_csv("0,1,-3\n", None).unwrap_err()),
        "csv line 1"
    );
    assert_eq!(
        location(&read_csv("0,1,fast\n", None).unwrap_err()),
        "csv line 1"
    );
    assert_eq!(
        location(&read_csv("0,1,2,maybe\n", None).unwrap_err()),
        "csv line 1"
    );
    // A header without the required columns.
    let e = read_csv("from,to\n0,1\n", None).unwrap_err();
    assert!(e.to_string().contains("source"), "{e}");
    // A missing target.
    assert!(read_csv("0\n", None).is_err());
    // Nothing at all.
    assert!(read_csv("# empty\n", None).is_err());
}

#[test]
fn graphml_from_other_tools() {
    // Like networkx's output: keys named d0/d1, string ids, an edge before its nodes, extra
    // node data, and a directed crawl listing both directions.
    let text = r#"<?xml version="1.0" encoding="utf-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key id="d0" for="node" attr.name="agent" attr.type="string"/>
  <key id="d1" for="edge" attr.name="latency_ms" attr.type="double"/>
  <key id="d2" for="edge" attr.name="outbound" attr.type="boolean"/>
  <graph edgedefault="directed">
    <edge source="16Uiu2A" target="16Uiu2B"><data key="d1">42.25</data><data key="d2">true</data></edge>
    <node id="16Uiu2A"><data key="d0">nwaku &amp; friends</data></node>
    <node id="16Uiu2B"/>
    <node id="16Uiu2C"/>
    <edge source="16Uiu2B" target="16Uiu2A"/>
    <edge source="16Uiu2C" target="16Uiu2B"><data key="d1"><![CDATA[8]]></data></edge>
  </graph>
</graphml>"#;
    let g = read_graphml(text, None).unwrap();
    assert_eq!((g.node_count(), g.edge_count()), (3, 2));
    // Document order: A = 0, B = 1, C = 2. The first listing of A-B wins.
    let ab = g.edge_between(NodeId(0), NodeId(1)).unwrap();
    assert_eq!(g.edge_latency(ab), Some(SimDuration::from_micros(42_250)));
    assert_eq!(g.dialed(NodeId(0), NodeId(1)), Some(true));
    let bc = g.edge_between(NodeId(1), NodeId(2)).unwrap();
    assert_eq!(g.edge_latency(bc), Some(SimDuration::from_millis(8)));
}

#[test]
fn bad_graphml_files_are_refused_with_a_line() {
    let wrap = |body: &str| {
        format!("<graphml>\n<graph edgedefault=\"undirected\">\n{body}\n</graph>\n</graphml>\n")
    };
    // Edge naming an undeclared node, on line 4.
    let e = read_graphml(
        &wrap("<node id=\"a\"/>\n<edge source=\"a\" target=\"zz\"/>"),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(e, TopologyError::MissingNode { nodes: 1, .. }),
        "{e}"
    );
    assert_eq!(location(&e), "graphml line 4");
    assert!(e.to_string().contains("zz"), "{e}");
    // Self-loop.
    let e = read_graphml(
        &wrap("<node id=\"a\"/>\n<edge source=\"a\" target=\"a\"/>"),
        None,
    )
    .unwrap_err();
    assert!(matches!(e, TopologyError::SelfLoop { .. }));
    // Node declared twice.
    assert!(read_graphml(&wrap("<node id=\"a\"/>\n<node id=\"a\"/>"), None).is_err());
    // Hyperedge, nested graph, two graphs.
    assert!(read_graphml(&wrap("<node id=\"a\"/><hyperedge/>"), None).is_err());
    assert!(read_graphml(&wrap("<node id=\"a\"><graph/></node>"), None).is_err());
    let two = "<graphml><graph><node id=\"a\"/></graph><graph/></graphml>";
    assert!(read_graphml(two, None).is_err());
    // Not XML at all / not GraphML / mismatched tags.
    assert!(read_graphml("0,1\n1,2\n", None).is_err());
    assert!(read_graphml("<svg></svg>", None).is_err());
    let e = read_graphml(
        "<graphml>\n<graph>\n<node id=\"a\">\n</graph>\n</graphml>",
        None,
    )
    .unwrap_err();
    assert!(matches!(e, TopologyError::Malformed { .. }), "{e}");
    // A bad latency value.
    let e = read_graphml(
        "<graphml><key id=\"l\" for=\"edge\" attr.name=\"latency_ms\"/><graph>\
         <node id=\"a\"/><node id=\"b\"/><edge source=\"a\" target=\"b\"><data key=\"l\">soon</data></edge>\
         </graph></graphml>",
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("soon"), "{e}");
    // Node count mismatch with the caller's.
    let e = read_graphml(&wrap("<node id=\"a\"/>"), Some(2)).unwrap_err();
    assert!(matches!(e, TopologyError::InvalidParameter { ref field, .. } if field == "nodes"));
}

#[test]
fn files_round_trip_by_extension() {
    let dir = std::env::temp_dir().join(format!("topologies-io-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let g = attributed();
    for name in ["g.csv", "g.graphml", "G.GRAPHML"] {
        let p = dir.join(name);
        save_graph(&g, &p, None).unwrap();
        let back = load_graph(&p, None, None).unwrap();
        assert!(same_connections(&g, &back), "{name}");
    }
    // Unknown extension without a format; explicit format works.
    let p = dir.join("g.txt");
    assert!(save_graph(&g, &p, None).is_err());
    save_graph(&g, &p, Some(FileFormat::Csv)).unwrap();
    assert!(same_connections(
        &g,
        &load_graph(&p, Some(FileFormat::Csv), None).unwrap()
    ));
    // A missing file is an I/O error naming the path; a bad file names path and line.
    let e = load_graph(&dir.join("nope.csv"), None, None).unwrap_err();
    assert!(
        matches!(e, TopologyError::Io { .. }) && e.to_string().contains("nope.csv"),
        "{e}"
    );
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "0,1\n1,1\n").unwrap();
    let e = load_graph(&bad, None, None).unwrap_err();
    assert!(e.to_string().contains("bad.csv: csv line 2"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn repeated_edges_and_extra_columns_are_refused_with_their_lines() {
    let err = |text: &str| read_csv(text, None).unwrap_err().to_string();
    // 0,1 on line 2 and again on line 4 (line 3 lists it the other way round, which is fine).
    let e = err("source,target\n0,1\n1,0\n0,1\n");
    assert!(e.starts_with("csv line 4: "), "{e}");
    assert!(
        e.contains("0 -> 1 is listed again (first on line 2)"),
        "{e}"
    );
    // Without a header, at most four columns.
    let e = err("0,1\n1,2,3.5,true,extra\n");
    assert!(e.starts_with("csv line 2: 5 columns"), "{e}");
    assert!(e.contains("add a header row"), "{e}");
    // With a header, no more fields than it names.
    let e = err("source,target,latency_ms\n0,1,2\n1,2,3,4\n");
    assert!(
        e.starts_with("csv line 3: 4 fields, more than the 3 columns"),
        "{e}"
    );
    // GraphML: the second <edge> with the same source and target, on line 6.
    let g = "<graphml>\n<graph>\n<node id=\"a\"/><node id=\"b\"/>\n<edge source=\"a\" \
             target=\"b\"/>\n<edge source=\"b\" target=\"a\"/>\n<edge source=\"a\" \
             target=\"b\"/>\n</graph>\n</graphml>\n";
    let e = read_graphml(g, None).unwrap_err().to_string();
    assert!(e.starts_with("graphml line 6: "), "{e}");
    assert!(e.contains("listed again (first on line 4)"), "{e}");
    // A document cut short inside its graph (quick-xml accepts the missing end tags).
    let e = read_graphml("<graphml>\n<graph>\n<node id=\"a\"/>", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("graphml line 3: the document ends inside <graph>"),
        "{e}"
    );
}
