//! `wakusim topology`: build a graph with one of the `topologies` generators (or read one from
//! a file) and inspect it: statistics as text or JSON, the graph written back out as GraphML or
//! CSV, and the degree distribution drawn as a PNG.
//!
//! ```text
//! wakusim topology --kind random_regular --nodes 10000 --degree 8 --seed 3 --json
//! wakusim topology --kind dial --nodes 1000 --k 10 --m 40 --out overlay.graphml --plot degrees.png
//! wakusim topology --kind file --file crawl.csv --json
//! ```
//!
//! The statistics are computed by [`topologies::stats::graph_stats`]; this file only parses the
//! arguments, calls it, prints and writes. Same arguments, same output, byte for byte.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::prelude::*;
use topologies::io::{FileFormat, load_graph, save_graph};
use topologies::stats::{GraphStats, StatsOptions, degree_histogram, graph_stats};
use topologies::{Graph, TopologySpec};

/// Node count when `--nodes` is not given (generated kinds only).
const DEFAULT_NODES: u32 = 1000;

/// The generators `--kind` accepts (the `kind` names of scenario files).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindArg {
    /// Every node has exactly `--degree` neighbours.
    #[value(name = "random_regular", alias = "random-regular")]
    RandomRegular,
    /// G(n, p): each pair is an edge with probability `--p`.
    #[value(name = "erdos_renyi", alias = "erdos-renyi")]
    ErdosRenyi,
    /// Preferential attachment, `--m` edges per new node.
    #[value(name = "barabasi_albert", alias = "barabasi-albert")]
    BarabasiAlbert,
    /// Small world: ring of `--k` neighbours, rewired with probability `--beta`.
    #[value(name = "watts_strogatz", alias = "watts-strogatz")]
    WattsStrogatz,
    /// Each node dials `--k` random peers (default 10), accepting at most `--m` (default 40).
    #[value(name = "dial")]
    Dial,
    /// Every pair connected.
    #[value(name = "complete")]
    Complete,
    /// A cycle.
    #[value(name = "ring")]
    Ring,
    /// A path.
    #[value(name = "line")]
    Line,
    /// Read `--file` (.csv edge list or .graphml).
    #[value(name = "file")]
    File,
}

/// Graph file formats for `--format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    /// CSV edge list: `source,target[,latency_ms][,outbound]`.
    Csv,
    /// GraphML.
    Graphml,
}

impl From<FormatArg> for FileFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Csv => FileFormat::Csv,
            FormatArg::Graphml => FileFormat::Graphml,
        }
    }
}

/// `wakusim topology`: build or read a graph and print its statistics.
#[derive(clap::Args, Clone, Debug)]
pub struct TopologyArgs {
    /// The generator, or `file` to read `--file`.
    #[arg(long, value_enum)]
    pub kind: KindArg,
    /// Number of nodes [default: 1000; with --kind file, the file's own count].
    #[arg(long, short = 'n')]
    pub nodes: Option<u32>,
    /// Degree of every node (random_regular).
    #[arg(long)]
    pub degree: Option<u32>,
    /// Edge probability in [0, 1] (erdos_renyi).
    #[arg(long)]
    pub p: Option<f64>,
    /// Edges per new node (barabasi_albert); most inbound connections per node (dial, default
    /// 40).
    #[arg(long)]
    pub m: Option<u32>,
    /// Ring neighbours per node, even (watts_strogatz); peers each node dials (dial, default
    /// 10).
    #[arg(long)]
    pub k: Option<u32>,
    /// Rewiring probability in [0, 1] (watts_strogatz).
    #[arg(long)]
    pub beta: Option<f64>,
    /// Master seed of the generator and of the statistics' samples.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The graph file to read with --kind file.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Format of --file and --out when their extension (.csv, .graphml) does not say.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Print the statistics as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write the graph to this file (.graphml or .csv).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Draw the degree distribution to this PNG file.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
}

/// A command-line mistake, reported as `--flag: what is wrong`.
fn usage(msg: String) -> Box<dyn Error> {
    msg.into()
}

/// The topology the arguments describe. Refuses a parameter the kind does not use and a
/// missing required one, naming the flag.
fn spec_of(args: &TopologyArgs) -> Result<TopologySpec, Box<dyn Error>> {
    let kind = args.kind;
    let name = kind_name(kind);
    let given: [(&str, bool); 6] = [
        ("--degree", args.degree.is_some()),
        ("--p", args.p.is_some()),
        ("--m", args.m.is_some()),
        ("--k", args.k.is_some()),
        ("--beta", args.beta.is_some()),
        ("--file", args.file.is_some()),
    ];
    let used: &[&str] = match kind {
        KindArg::RandomRegular => &["--degree"],
        KindArg::ErdosRenyi => &["--p"],
        KindArg::BarabasiAlbert => &["--m"],
        KindArg::WattsStrogatz => &["--k", "--beta"],
        KindArg::Dial => &["--k", "--m"],
        KindArg::Complete | KindArg::Ring | KindArg::Line => &[],
        KindArg::File => &["--file"],
    };
    for (flag, present) in given {
        if present && !used.contains(&flag) {
            return Err(usage(format!("{flag} is not a parameter of --kind {name}")));
        }
    }
    let need = |flag: &str| usage(format!("--kind {name} needs {flag}"));
    Ok(match kind {
        KindArg::RandomRegular => TopologySpec::RandomRegular {
            degree: args.degree.ok_or_else(|| need("--degree"))?,
        },
        KindArg::ErdosRenyi => TopologySpec::ErdosRenyi {
            p: args.p.ok_or_else(|| need("--p"))?,
        },
        KindArg::BarabasiAlbert => TopologySpec::BarabasiAlbert {
            m: args.m.ok_or_else(|| need("--m"))?,
        },
        KindArg::WattsStrogatz => TopologySpec::WattsStrogatz {
            k: args.k.ok_or_else(|| need("--k"))?,
            beta: args.beta.ok_or_else(|| need("--beta"))?,
        },
        KindArg::Dial => TopologySpec::Dial {
            outbound: args.k.unwrap_or(10),
            max_inbound: args.m.unwrap_or(40),
        },
        KindArg::Complete => TopologySpec::Complete,
        KindArg::Ring => TopologySpec::Ring,
        KindArg::Line => TopologySpec::Line,
        KindArg::File => TopologySpec::File {
            path: args.file.clone().ok_or_else(|| need("--file"))?,
            format: args.format.map(FileFormat::from),
        },
    })
}

fn kind_name(kind: KindArg) -> &'static str {
    match kind {
        KindArg::RandomRegular => "random_regular",
        KindArg::ErdosRenyi => "erdos_renyi",
        KindArg::BarabasiAlbert => "barabasi_albert",
        KindArg::WattsStrogatz => "watts_strogatz",
        KindArg::Dial => "dial",
        KindArg::Complete => "complete",
        KindArg::Ring => "ring",
        KindArg::Line => "line",
        KindArg::File => "file",
    }
}

/// Builds (or reads) the graph the arguments describe.
fn build_graph(args: &TopologyArgs) -> Result<Graph, Box<dyn Error>> {
    let spec = spec_of(args)?;
    spec.validate().map_err(|e| usage(format!("{e}")))?;
    let graph = match (&spec, args.nodes) {
        (TopologySpec::File { path, format }, nodes) => load_graph(path, *format, nodes)?,
        (_, nodes) => spec.build(nodes.unwrap_or(DEFAULT_NODES), args.seed)?,
    };
    Ok(graph)
}

/// The statistics of the graph the arguments describe.
fn stats_of(args: &TopologyArgs, graph: &Graph) -> GraphStats {
    let opts = StatsOptions {
        seed: args.seed,
        ..StatsOptions::default()
    };
    graph_stats(graph, &opts)
}

/// The statistics as pretty JSON (what `--json` prints).
fn stats_json(stats: &GraphStats) -> Result<String, Box<dyn Error>> {
    Ok(serde_json::to_string_pretty(stats)?)
}

/// The statistics as an aligned table.
fn stats_table(args: &TopologyArgs, s: &GraphStats) -> String {
    let mut rows: Vec<(String, String)> = vec![
        ("kind".into(), kind_name(args.kind).into()),
        ("seed".into(), args.seed.to_string()),
        ("nodes".into(), s.nodes.to_string()),
        ("edges".into(), s.edges.to_string()),
        (
            "degree".into(),
            format!(
                "min {}, mean {:.3}, max {}",
                s.min_degree, s.mean_degree, s.max_degree
            ),
        ),
        (
            "components".into(),
            format!("{} (largest {} nodes)", s.components, s.largest_component),
        ),
        (
            "diameter".into(),
            format!("{} ({})", s.diameter, s.diameter_method),
        ),
        (
            "clustering".into(),
            format!("{:.4} ({})", s.clustering, s.clustering_method),
        ),
    ];
    if let Some(d) = &s.dial {
        rows.push((
            "outbound".into(),
            format!(
                "min {}, mean {:.3}, max {}",
                d.min_outbound, d.mean_outbound, d.max_outbound
            ),
        ));
        rows.push(("max inbound".into(), d.max_inbound.to_string()));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

/// Runs `wakusim topology`.
pub fn run(args: &TopologyArgs) -> Result<(), Box<dyn Error>> {
    let graph = build_graph(args)?;
    let stats = stats_of(args, &graph);
    if args.json {
        println!("{}", stats_json(&stats)?);
    } else {
        print!("{}", stats_table(args, &stats));
    }
    if let Some(out) = &args.out {
        save_graph(&graph, out, args.format.map(FileFormat::from))?;
    }
    if let Some(png) = &args.plot {
        plot_degrees(&graph, args, png)?;
    }
    Ok(())
}

/// The bundled font (the same file the plots of `wakusim plot` use), registered once: plotters
/// is built with `ab_glyph`, so text needs a registered font and no system font is used.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER_FONT: Once = Once::new();
const FAMILY: &str = "sans-serif";

fn plot_err<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> Box<dyn Error> + '_ {
    move |e| format!("{}: drawing the degree plot failed: {e}", path.display()).into()
}

/// Draws the degree distribution: bars of node counts per degree, or, when the degrees span a
/// wide range (a heavy tail), points on log-log axes.
fn plot_degrees(graph: &Graph, args: &TopologyArgs, path: &Path) -> Result<(), Box<dyn Error>> {
    REGISTER_FONT.call_once(|| {
        // A font that fails to load only costs the labels; the bars are still drawn.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
    let hist = degree_histogram(graph);
    let max_degree = hist.len().saturating_sub(1);
    let max_count = hist.iter().copied().max().unwrap_or(0).max(1);
    let nonzero = hist.iter().filter(|&&c| c > 0).count();
    let mean = if graph.node_count() == 0 {
        0.0
    } else {
        2.0 * graph.edge_count() as f64 / f64::from(graph.node_count())
    };
    let heavy_tail = nonzero > 60 && max_degree as f64 > 10.0 * mean.max(1.0);
    let err = plot_err(path);

    let root = BitMapBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let title = format!(
        "degree distribution: {}, {} nodes, seed {}",
        kind_name(args.kind),
        graph.node_count(),
        args.seed
    );
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, (FAMILY, 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70);
    if heavy_tail {
        let points: Vec<(f64, f64)> = hist
            .iter()
            .enumerate()
            .filter(|&(d, &c)| d > 0 && c > 0)
            .map(|(d, &c)| (d as f64, c as f64))
            .collect();
        let mut chart = builder
            .build_cartesian_2d(
                (1f64..(max_degree as f64 * 1.5)).log_scale(),
                (0.8f64..(max_count as f64 * 1.5)).log_scale(),
            )
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_desc("degree (log)")
            .y_desc("nodes (log)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style((FAMILY, 14))
            .draw()
            .map_err(&err)?;
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, BLUE.filled())))
            .map_err(&err)?;
    } else {
        let x_max = max_degree as f64 + 1.0;
        let mut chart = builder
            .build_cartesian_2d(-1f64..x_max, 0f64..(max_count as f64 * 1.08))
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_desc("degree")
            .y_desc("nodes")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style((FAMILY, 14))
            .draw()
            .map_err(&err)?;
        chart
            .draw_series(
                hist.iter()
                    .enumerate()
                    .filter(|&(_, &c)| c > 0)
                    .map(|(d, &c)| {
                        let d = d as f64;
                        Rectangle::new([(d - 0.4, 0.0), (d + 0.4, c as f64)], BLUE.filled())
                    }),
            )
            .map_err(&err)?;
    }
    root.present().map_err(&err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TopologyArgs,
    }

    fn parse(line: &str) -> TopologyArgs {
        let argv = std::iter::once("topology").chain(line.split_whitespace());
        Cli::try_parse_from(argv).expect("valid arguments").args
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wakusim-topology-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join(name)
    }

    #[test]
    fn json_has_the_documented_fields() {
        let args = parse("--kind random_regular --nodes 100 --degree 4 --seed 3 --json");
        let g = build_graph(&args).expect("graph");
        let json = stats_json(&stats_of(&args, &g)).expect("json");
        let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        for key in [
            "nodes",
            "edges",
            "min_degree",
            "max_degree",
            "mean_degree",
            "components",
            "diameter",
            "diameter_method",
            "clustering",
            "clustering_method",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {json}");
        }
        // 100 nodes x degree 4 / 2 = 200 edges.
        assert_eq!(v["edges"], 200);
        assert_eq!(v["min_degree"], 4);
        assert_eq!(v["diameter_method"], "exact");
        // Deterministic: the same arguments print the same bytes.
        let again =
            stats_json(&stats_of(&args, &build_graph(&args).expect("graph"))).expect("json");
        assert_eq!(json, again);
    }

    #[test]
    fn wrong_or_missing_parameters_name_the_flag() {
        let e = build_graph(&parse("--kind random_regular --nodes 10")).unwrap_err();
        assert!(e.to_string().contains("--degree"), "{e}");
        let e = build_graph(&parse("--kind ring --degree 3")).unwrap_err();
        assert!(e.to_string().contains("--degree is not a parameter"), "{e}");
        let e = build_graph(&parse("--kind random_regular --nodes 9 --degree 3")).unwrap_err();
        assert!(e.to_string().contains("odd"), "{e}");
        let e = build_graph(&parse("--kind erdos_renyi --p 1.5")).unwrap_err();
        assert!(e.to_string().contains("p = 1.5"), "{e}");
    }

    #[test]
    fn writes_a_png_and_a_graph_file_that_reads_back() {
        let png = temp("degrees.png");
        let out = temp("overlay.graphml");
        let line = format!(
            "--kind dial --nodes 300 --k 6 --m 20 --plot {} --out {}",
            png.display(),
            out.display()
        );
        run(&parse(&line)).expect("run");
        let bytes = std::fs::read(&png).expect("png written");
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        assert!(
            bytes.len() > 2_000,
            "suspiciously small PNG: {} bytes",
            bytes.len()
        );
        let back = load_graph(&out, None, None).expect("graph reads back");
        assert_eq!(back.node_count(), 300);
        assert!(back.nodes().all(|v| back.out_degree(v) == 6));
        // A heavy-tailed graph takes the log-log branch.
        let png2 = temp("ba.png");
        let line = format!(
            "--kind barabasi_albert --nodes 3000 --m 2 --plot {}",
            png2.display()
        );
        run(&parse(&line)).expect("run");
        assert!(std::fs::read(&png2).expect("png").starts_with(b"\x89PNG"));
        // And a file topology reads the export.
        let line = format!("--kind file --file {} --json", out.display());
        let g = build_graph(&parse(&line)).expect("file graph");
        assert_eq!(g.edge_count(), 1800);
        let _ = std::fs::remove_dir_all(png.parent().expect("dir"));
    }
}
