//! Import and export of graphs: GraphML and plain CSV edge lists.
//!
//! So that a user can bring a measured topology (a crawl of the real network), simulate on it,
//! and get a generated topology back out for other tools.
//!
//! # CSV edge list
//!
//! ```text
//! # comment lines start with '#'
//! source,target,latency_ms,outbound
//! 0,1,12.5,true
//! 1,2,,false
//! ```
//!
//! - Node ids are integers `0..n`. The node count is the largest id plus one, or the count the
//!   caller gives (then an id at or beyond it is an error naming the line).
//! - The header row is optional. With a header, columns are found by name (`source`, `target`
//!   required; `latency_ms` and `outbound` optional; other named columns are ignored, so a
//!   crawl's extra fields do not get in the way), and a row with more fields than the header
//!   has columns is an error. Without one, the columns are positional:
//!   `source,target[,latency_ms[,outbound]]`, and a fifth column is an error.
//! - `latency_ms` is the measured **one-way** latency of the link in milliseconds (empty when
//!   unknown). `outbound` is `true` when `source` dialled `target`.
//!
//! # GraphML
//!
//! Standard GraphML (`<graphml><key/>…<graph><node id/>…<edge source target/>…</graph>`). Nodes
//! are numbered in document order, whatever their ids (peer ids from a crawl are fine); edges
//! may come before or after the nodes they name. Two edge keys are understood, found by their
//! `attr.name`: `latency_ms` (one-way latency in milliseconds) and `outbound` (boolean, true
//! when the source dialled the target). Other keys and data are ignored, and so are `<default>`
//! values of keys (give the value on each edge). Hyperedges, ports and nested graphs are
//! refused. Written files use node ids `n0`, `n1`, … and declare the two
//! keys only when the graph has such data; they open in networkx, Gephi and yEd.
//!
//! # In both formats
//!
//! The graph is undirected: an edge listed in both directions (`a,b` and `b,a`, as a directed
//! crawl often lists it) is one connection, and the first listing's attributes win. The same
//! edge listed twice in the same direction is an error (naming both lines), and so is a
//! self-loop. Errors name the line.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use quick_xml::events::Event;
use serde::{Deserialize, Serialize};
use sim_core::SimDuration;

use crate::error::{Result, TopologyError};
use crate::graph::{Edge, Graph, MAX_NODES, check_size};

/// A graph file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Plain CSV edge list.
    Csv,
    /// GraphML (XML).
    Graphml,
}

impl FileFormat {
    /// The format a path's extension names (`.csv`, `.graphml`; case-insensitive), if any.
    pub fn from_path(path: &Path) -> Option<FileFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(FileFormat::Csv),
            "graphml" => Some(FileFormat::Graphml),
            _ => None,
        }
    }

    fn resolve(path: &Path, format: Option<FileFormat>) -> Result<FileFormat> {
        format.or_else(|| Self::from_path(path)).ok_or_else(|| {
            TopologyError::invalid(
                "format",
                path.display(),
                "cannot tell the format from the extension; name the file .csv or .graphml, \
                 or give the format (csv, graphml)",
            )
        })
    }
}

/// An edge as read from a file, before duplicates are merged.
struct RawEdge {
    a: u32,
    b: u32,
    /// The line of the file that lists it.
    line: usize,
    dialed: bool,
    latency: Option<SimDuration>,
}

/// Builds a graph from edges read in file order: merges a pair listed in both directions
/// (first wins), refuses a pair listed twice in the same direction (a copy-paste or
/// concatenation error rather than a directed crawl). `what` names the format in locations
/// (`csv`, `graphml`).
fn assemble(n: u32, raw: Vec<RawEdge>, what: &str) -> Result<Graph> {
    check_size(n, raw.len() as u64)?;
    let mut directed: Vec<usize> = (0..raw.len()).collect();
    directed.sort_unstable_by_key(|&i| (raw[i].a, raw[i].b, i));
    if let Some(w) = directed
        .windows(2)
        .find(|w| (raw[w[0]].a, raw[w[0]].b) == (raw[w[1]].a, raw[w[1]].b))
    {
        let (first, again) = (&raw[w[0]], &raw[w[1]]);
        return Err(TopologyError::Malformed {
            location: format!("{what} line {}", again.line),
            reason: format!(
                "the edge {} -> {} is listed again (first on line {}): remove the repeated line \
                 (an edge listed once in each direction is one connection, and is fine)",
                again.a, again.b, first.line
            ),
        });
    }
    let key = |e: &RawEdge| (e.a.min(e.b), e.a.max(e.b));
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_unstable_by_key(|&i| (key(&raw[i]), i));
    let mut keep = vec![false; raw.len()];
    for (k, &i) in order.iter().enumerate() {
        keep[i] = k == 0 || key(&raw[order[k - 1]]) != key(&raw[i]);
    }
    let any_latency = raw.iter().any(|e| e.latency.is_some());
    let mut edges = Vec::with_capacity(raw.len());
    let mut latency = Vec::with_capacity(if any_latency { raw.len() } else { 0 });
    for (e, keep) in raw.into_iter().zip(keep) {
        if !keep {
            continue;
        }
        edges.push(if e.dialed {
            Edge::dialed(e.a, e.b)
        } else {
            Edge::undirected(e.a, e.b)
        });
        if any_latency {
            latency.push(e.latency);
        }
    }
    Graph::with_latency(n, edges, any_latency.then_some(latency))
}

/// Formats a duration as milliseconds with up to six decimals (exact to the nanosecond).
pub(crate) fn format_ms(d: SimDuration) -> String {
    let ns = d.as_nanos();
    let whole = ns / 1_000_000;
    let frac = ns % 1_000_000;
    if frac == 0 {
        whole.to_string()
    } else {
        let s = format!("{whole}.{frac:06}");
        s.trim_end_matches('0').to_owned()
    }
}

fn parse_latency(location: &str, s: &str) -> Result<Option<SimDuration>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let ms: f64 = s.parse().map_err(|_| TopologyError::Malformed {
        location: location.to_owned(),
        reason: format!("latency_ms {s:?} is not a number of milliseconds"),
    })?;
    SimDuration::try_from_millis_f64("latency_ms", ms)
        .map(Some)
        .map_err(|e| TopologyError::Malformed {
            location: location.to_owned(),
            reason: e.to_string(),
        })
}

fn parse_bool(location: &str, what: &str, s: &str) -> Result<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "no" => Ok(false),
        "true" | "1" | "yes" => Ok(true),
        other => Err(TopologyError::Malformed {
            location: location.to_owned(),
            reason: format!("{what} {other:?} is not a boolean (true or false)"),
        }),
    }
}

/// Reads a CSV edge list (see the [module docs](self)). With `nodes`, the graph has exactly
/// that many nodes and every id must be below it; without, the largest id plus one.
pub fn read_csv(text: &str, nodes: Option<u32>) -> Result<Graph> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .comment(Some(b'#'))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    // Column indices: source, target, latency, outbound.
    let mut cols: Option<(usize, usize, Option<usize>, Option<usize>)> = None;
    // Fields a row may have: the header's (`Some`), or 4 without a header.
    let mut header_width: Option<usize> = None;
    let mut raw = Vec::new();
    let mut max_id: Option<u32> = None;
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| TopologyError::Malformed {
                location: match e.position() {
                    Some(p) => format!("csv line {}", p.line()),
                    None => "csv".to_owned(),
                },
                reason: e.to_string(),
            })?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        let location = format!("csv line {line}");
        if record.iter().all(str::is_empty) {
            continue;
        }
        let (s, t, l, o) = match cols {
            Some(c) => c,
            None => {
                let first = record.get(0).unwrap_or("");
                let c = if first.parse::<u64>().is_ok() {
                    (0, 1, Some(2), Some(3))
                } else {
                    let find =
                        |name: &str| record.iter().position(|h| h.eq_ignore_ascii_case(name));
                    let (Some(s), Some(t)) = (find("source"), find("target")) else {
                        return Err(TopologyError::Malformed {
                            location,
                            reason: "the header must name the columns `source` and `target` \
                                     (optional: `latency_ms`, `outbound`)"
                                .into(),
                        });
                    };
                    cols = Some((s, t, find("latency_ms"), find("outbound")));
                    header_width = Some(record.len());
                    continue;
                };
                cols = Some(c);
                c
            }
        };
        if record.len() > header_width.unwrap_or(4) {
            return Err(TopologyError::Malformed {
                location,
                reason: match header_width {
                    None => format!(
                        "{} columns, but without a header the columns are \
                         source,target[,latency_ms[,outbound]]: remove the extra columns, or add \
                         a header row naming them (named columns other than these are ignored)",
                        record.len()
                    ),
                    Some(width) => format!(
                        "{} fields, more than the {width} columns the header names: remove the \
                         extra fields or name them in the header",
                        record.len()
                    ),
                },
            });
        }
        let id = |col: usize| -> Result<u32> {
            let v = record.get(col).unwrap_or("");
            if v.is_empty() {
                return Err(TopologyError::Malformed {
                    location: location.clone(),
                    reason: format!(
                        "column {} is missing; an edge needs a source and a target",
                        col + 1
                    ),
                });
            }
            match v.parse::<u64>() {
                Ok(x) if x < u64::from(MAX_NODES) => Ok(x as u32),
                Ok(_) => Err(TopologyError::MissingNode {
                    location: location.clone(),
                    node: v.to_owned(),
                    nodes: u64::from(nodes.unwrap_or(MAX_NODES)),
                }),
                Err(_) => Err(TopologyError::Malformed {
                    location: location.clone(),
                    reason: format!("node id {v:?} is not a non-negative integer"),
                }),
            }
        };
        let (a, b) = (id(s)?, id(t)?);
        if a == b {
            return Err(TopologyError::SelfLoop {
                location,
                node: a.to_string(),
            });
        }
        if let Some(n) = nodes {
            for x in [a, b] {
                if x >= n {
                    return Err(TopologyError::MissingNode {
                        location,
                        node: x.to_string(),
                        nodes: u64::from(n),
                    });
                }
            }
        }
        let latency = match l.and_then(|c| record.get(c)) {
            Some(v) => parse_latency(&location, v)?,
            None => None,
        };
        let dialed = match o.and_then(|c| record.get(c)) {
            Some(v) => parse_bool(&location, "outbound", v)?,
            None => false,
        };
        max_id = Some(max_id.map_or(a.max(b), |m| m.max(a).max(b)));
        raw.push(RawEdge {
            a,
            b,
            line: line as usize,
            dialed,
            latency,
        });
    }
    let n = match nodes {
        Some(n) => n,
        None => max_id.map_or(0, |m| m + 1),
    };
    if n == 0 {
        return Err(TopologyError::Malformed {
            location: "csv".into(),
            reason: "no edges and no node count: the file describes no network".into(),
        });
    }
    assemble(n, raw, "csv")
}

/// Writes `g` as a CSV edge list with a header; the `latency_ms` and `outbound` columns are
/// written only if the graph has such data.
pub fn write_csv(g: &Graph, mut w: impl Write) -> std::io::Result<()> {
    let lat = g.has_latencies();
    let dialed = g.is_dialed();
    write!(w, "source,target")?;
    if lat {
        write!(w, ",latency_ms")?;
    }
    if dialed {
        write!(w, ",outbound")?;
    }
    writeln!(w)?;
    for (i, e) in g.edges().iter().enumerate() {
        write!(w, "{},{}", e.a.0, e.b.0)?;
        if lat {
            match g.edge_latency(i) {
                Some(d) => write!(w, ",{}", format_ms(d))?,
                None => write!(w, ",")?,
            }
        }
        if dialed {
            write!(w, ",{}", e.dialed)?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// The 1-based line of byte offset `pos` in `text`.
fn line_of(text: &str, pos: u64) -> usize {
    let end = (pos as usize).min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&c| c == b'\n')
        .count()
        + 1
}

/// An edge whose ends are resolved after the whole file is read.
struct PendingEdge {
    source: String,
    target: String,
    pos: u64,
    dialed: bool,
    latency: Option<SimDuration>,
}

/// Reads a GraphML document (see the [module docs](self)). With `nodes`, the document must
/// declare exactly that many nodes.
pub fn read_graphml(text: &str, nodes: Option<u32>) -> Result<Graph> {
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let malformed = |pos: u64, reason: String| TopologyError::Malformed {
        location: format!("graphml line {}", line_of(text, pos)),
        reason,
    };
    // key id -> attr.name, for edge keys.
    let mut keys: HashMap<String, String> = HashMap::new();
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut node_count: u32 = 0;
    let mut graphs = 0u32;
    let mut depth_graph = false;
    let mut seen_root = false;
    let mut edges: Vec<PendingEdge> = Vec::new();
    let mut current: Option<PendingEdge> = None;
    // The key of the <data> element being read inside an edge, and its text so far.
    let mut data_key: Option<(String, String)> = None;
    loop {
        // Where the next event starts: past the whitespace that trimming skips.
        let pos = {
            let b = text.as_bytes();
            let mut p = reader.buffer_position() as usize;
            while p < b.len() && b[p].is_ascii_whitespace() {
                p += 1;
            }
            p as u64
        };
        let ev = reader
            .read_event()
            .map_err(|e| malformed(reader.error_position(), format!("not well-formed XML: {e}")))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                let name = e.local_name();
                let attr = |wanted: &str| -> Result<Option<String>> {
                    for a in e.attributes() {
                        let a = a.map_err(|err| malformed(pos, format!("bad attribute: {err}")))?;
                        if a.key.local_name().as_ref() == wanted.as_bytes() {
                            let v = a.unescape_value().map_err(|err| {
                                malformed(pos, format!("bad attribute value: {err}"))
                            })?;
                            return Ok(Some(v.into_owned()));
                        }
                    }
                    Ok(None)
                };
                match name.as_ref() {
                    b"graphml" => seen_root = true,
                    b"key" => {
                        let id = attr("id")?
                            .ok_or_else(|| malformed(pos, "<key> without an id".into()))?;
                        let for_ = attr("for")?.unwrap_or_else(|| "all".into());
                        if let Some(an) = attr("attr.name")? {
                            if for_ == "edge" || for_ == "all" {
                                keys.insert(id, an);
                            }
                        }
                    }
                    b"graph" => {
                        if depth_graph {
                            return Err(malformed(pos, "nested graphs are not supported".into()));
                        }
                        graphs += 1;
                        if graphs > 1 {
                            return Err(malformed(
                                pos,
                                "more than one <graph>; give one graph per file".into(),
                            ));
                        }
                        depth_graph = !empty;
                    }
                    b"node" => {
                        if !depth_graph {
                            return Err(malformed(pos, "<node> outside a <graph>".into()));
                        }
                        let id = attr("id")?
                            .ok_or_else(|| malformed(pos, "<node> without an id".into()))?;
                        if ids.contains_key(&id) {
                            return Err(malformed(pos, format!("node id {id:?} declared twice")));
                        }
                        if node_count >= MAX_NODES {
                            return Err(malformed(pos, format!("more than {MAX_NODES} nodes")));
                        }
                        ids.insert(id, node_count);
                        node_count += 1;
                    }
                    b"edge" => {
                        if !depth_graph {
                            return Err(malformed(pos, "<edge> outside a <graph>".into()));
                        }
                        let source = attr("source")?
                            .ok_or_else(|| malformed(pos, "<edge> without a source".into()))?;
                        let target = attr("target")?
                            .ok_or_else(|| malformed(pos, "<edge> without a target".into()))?;
                        let edge = PendingEdge {
                            source,
                            target,
                            pos,
                            dialed: false,
                            latency: None,
                        };
                        if empty {
                            edges.push(edge);
                        } else {
                            current = Some(edge);
                        }
                    }
                    b"data" if current.is_some() => {
                        let key = attr("key")?
                            .ok_or_else(|| malformed(pos, "<data> without a key".into()))?;
                        data_key = if empty {
                            None
                        } else {
                            Some((key, String::new()))
                        };
                    }
                    b"hyperedge" | b"port" | b"endpoint" => {
                        return Err(malformed(
                            pos,
                            format!(
                                "<{}> is not supported: a network is a simple undirected graph",
                                String::from_utf8_lossy(name.as_ref())
                            ),
                        ));
                    }
                    _ => {}
                }
            }
            Event::Text(t) => {
                if let Some((_, buf)) = &mut data_key {
                    let s = t
                        .xml_content()
                        .map_err(|e| malformed(pos, format!("bad text: {e}")))?;
                    buf.push_str(&s);
                }
            }
            Event::CData(t) => {
                if let Some((_, buf)) = &mut data_key {
                    buf.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, buf)) = &mut data_key {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        buf.push(c);
                    } else {
                        let name = r
                            .decode()
                            .map_err(|e| malformed(pos, format!("bad text: {e}")))?;
                        let s = quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| malformed(pos, format!("unknown entity &{name};")))?;
                        buf.push_str(s);
                    }
                }
            }
            Event::End(ref e) => match e.local_name().as_ref() {
                b"graph" => depth_graph = false,
                b"edge" => {
                    if let Some(edge) = current.take() {
                        edges.push(edge);
                    }
                }
                b"data" => {
                    if let (Some((key, value)), Some(edge)) = (data_key.take(), current.as_mut()) {
                        let location = format!("graphml line {}", line_of(text, pos));
                        match keys.get(&key).map(String::as_str) {
                            Some("latency_ms") => edge.latency = parse_latency(&location, &value)?,
                            Some("outbound") => {
                                edge.dialed = parse_bool(&location, "outbound", &value)?
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if depth_graph {
        return Err(TopologyError::Malformed {
            location: format!("graphml line {}", line_of(text, text.len() as u64)),
            reason: "the document ends inside <graph>: the file is cut short (a </graph> and \
                     </graphml> are missing)"
                .into(),
        });
    }
    if !seen_root {
        return Err(TopologyError::Malformed {
            location: "graphml line 1".into(),
            reason: "no <graphml> element: this is not a GraphML document".into(),
        });
    }
    if graphs == 0 {
        return Err(TopologyError::Malformed {
            location: "graphml".into(),
            reason: "no <graph> element".into(),
        });
    }
    if let Some(n) = nodes {
        if n != node_count {
            return Err(TopologyError::invalid(
                "nodes",
                n,
                format!("the GraphML file declares {node_count} nodes; give that count or none"),
            ));
        }
    }
    let mut raw = Vec::with_capacity(edges.len());
    for e in edges {
        let lookup = |id: &str| {
            ids.get(id)
                .copied()
                .ok_or_else(|| TopologyError::MissingNode {
                    location: format!("graphml line {}", line_of(text, e.pos)),
                    node: format!("{id:?}"),
                    nodes: u64::from(node_count),
                })
        };
        let (a, b) = (lookup(&e.source)?, lookup(&e.target)?);
        if a == b {
            return Err(TopologyError::SelfLoop {
                location: format!("graphml line {}", line_of(text, e.pos)),
                node: format!("{:?}", e.source),
            });
        }
        raw.push(RawEdge {
            a,
            b,
            line: line_of(text, e.pos),
            dialed: e.dialed,
            latency: e.latency,
        });
    }
    if node_count == 0 {
        return Err(TopologyError::Malformed {
            location: "graphml".into(),
            reason: "the graph has no nodes".into(),
        });
    }
    assemble(node_count, raw, "graphml")
}

/// Writes `g` as GraphML (see the [module docs](self)).
pub fn write_graphml(g: &Graph, mut w: impl Write) -> std::io::Result<()> {
    let lat = g.has_latencies();
    let dialed = g.is_dialed();
    writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        w,
        r#"<graphml xmlns="http://graphml.graphdrawing.org/xmlns" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">"#
    )?;
    if dialed {
        writeln!(
            w,
            r#"  <key id="outbound" for="edge" attr.name="outbound" attr.type="boolean"/>"#
        )?;
    }
    if lat {
        writeln!(
            w,
            r#"  <key id="latency_ms" for="edge" attr.name="latency_ms" attr.type="double"/>"#
        )?;
    }
    writeln!(w, r#"  <graph id="G" edgedefault="undirected">"#)?;
    for v in g.nodes() {
        writeln!(w, r#"    <node id="n{}"/>"#, v.0)?;
    }
    for (i, e) in g.edges().iter().enumerate() {
        let l = if lat { g.edge_latency(i) } else { None };
        if !e.dialed && l.is_none() {
            writeln!(w, r#"    <edge source="n{}" target="n{}"/>"#, e.a.0, e.b.0)?;
            continue;
        }
        write!(w, r#"    <edge source="n{}" target="n{}">"#, e.a.0, e.b.0)?;
        if e.dialed {
            write!(w, r#"<data key="outbound">true</data>"#)?;
        }
        if let Some(d) = l {
            write!(w, r#"<data key="latency_ms">{}</data>"#, format_ms(d))?;
        }
        writeln!(w, "</edge>")?;
    }
    writeln!(w, "  </graph>")?;
    writeln!(w, "</graphml>")?;
    Ok(())
}

/// Reads a graph file; the format comes from `format` or else the extension. `nodes` as for
/// [`read_csv`] and [`read_graphml`].
pub fn load_graph(path: &Path, format: Option<FileFormat>, nodes: Option<u32>) -> Result<Graph> {
    let format = FileFormat::resolve(path, format)?;
    let text = std::fs::read_to_string(path).map_err(|e| TopologyError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let prefix = path.display().to_string();
    let with_path = |e: TopologyError| match e {
        TopologyError::Malformed { location, reason } => TopologyError::Malformed {
            location: format!("{prefix}: {location}"),
            reason,
        },
        TopologyError::MissingNode {
            location,
            node,
            nodes,
        } => TopologyError::MissingNode {
            location: format!("{prefix}: {location}"),
            node,
            nodes,
        },
        TopologyError::SelfLoop { location, node } => TopologyError::SelfLoop {
            location: format!("{prefix}: {location}"),
            node,
        },
        other => other,
    };
    match format {
        FileFormat::Csv => read_csv(&text, nodes),
        FileFormat::Graphml => read_graphml(&text, nodes),
    }
    .map_err(with_path)
}

/// Writes a graph file; the format comes from `format` or else the extension.
pub fn save_graph(g: &Graph, path: &Path, format: Option<FileFormat>) -> Result<()> {
    let format = FileFormat::resolve(path, format)?;
    let io_err = |e: std::io::Error| TopologyError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let file = std::fs::File::create(path).map_err(io_err)?;
    let mut w = std::io::BufWriter::new(file);
    match format {
        FileFormat::Csv => write_csv(g, &mut w),
        FileFormat::Graphml => write_graphml(g, &mut w),
    }
    .and_then(|()| w.flush())
    .map_err(io_err)
}

/// Convenience: the graph as a CSV string.
pub fn to_csv_string(g: &Graph) -> String {
    let mut buf = Vec::new();
    write_csv(g, &mut buf).expect("writing to memory cannot fail");
    String::from_utf8(buf).expect("CSV output is ASCII")
}

/// Convenience: the graph as a GraphML string.
pub fn to_graphml_string(g: &Graph) -> String {
    let mut buf = Vec::new();
    write_graphml(g, &mut buf).expect("writing to memory cannot fail");
    String::from_utf8(buf).expect("GraphML output is ASCII")
}

/// Whether two graphs have the same nodes and the same connections with the same attributes
/// (edge order aside). Used by round-trip tests and by callers comparing an import with the
/// original.
pub fn same_connections(x: &Graph, y: &Graph) -> bool {
    if x.node_count() != y.node_count() || x.edge_count() != y.edge_count() {
        return false;
    }
    x.edges().iter().enumerate().all(|(i, e)| {
        y.edge_between(e.a, e.b).is_some_and(|j| {
            let f = y.edges()[j];
            f.dialed == e.dialed
                && (!e.dialed || f.a == e.a)
                && x.edge_latency(i) == y.edge_latency(j)
        })
    })
}
