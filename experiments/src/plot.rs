//! Plots, drawn from a run's or a sweep's CSV files (so `wakusim plot` can redraw them).
//!
//! Text is drawn with DejaVu Sans, bundled in the binary (`assets/DejaVuSans.ttf`, Bitstream
//! Vera licence), so plots render the same on a machine without any system font.
//!
//! | file | from | shows |
//! |---|---|---|
//! | `bandwidth.{png,svg}` | `bandwidth.csv` | mean bytes/s per node by category, in and out |
//! | `latency-cdf.{png,svg}` | `latency.csv` | the latency distribution as a CDF |
//! | `timeseries-<metric>.{png,svg}` | `timeseries.csv` | one metric over simulated time |
//! | `mesh-health.{png,svg}` | `shard_health.csv` (Waku) | subscriptions unhealthy / minimally healthy / healthy over time, and per shard at the end; not drawn for one shard that stayed healthy |
//! | `dissemination.{png,svg}` | `dissemination.csv` (Waku) | the per-message completion curve: the time from publish until each fraction of the intended receivers had a message, mean / median / p95 / max across messages; not drawn when no message reached any level |
//! | `bandwidth-by-shards.{png,svg}` | `shard_counts.csv` (Waku) | bytes/s per node against the number of shards it subscribes to; not drawn with fewer than two shard counts |
//! | `sweep-<parameter>.{png,svg}` | `sweep.csv` | key metrics against a swept parameter (for runs with store nodes, the store's: missing messages, catch-up, sync bytes and round trips per sync; for runs with discovery, time to D_low, pairs never reaching D_low / D, delivery, healthy meshes, discovery bytes per node, the busiest rendezvous point's bytes out), one line per combination of the other swept parameters, mean over seeds with ± 1 standard deviation |

use std::fs::{self, File};
use std::path::Path;
use std::sync::Once;

use anyhow::{Context, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::model::{OutputSection, PlotFormat};
use crate::output::write_atomic;
use crate::results::{self, CsvTable, read_csv};

/// The bundled font.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// The font family plots use.
const FAMILY: &str = "sans-serif";
/// The Waku model's mesh health per shard over time (drawn as `mesh-health`).
pub const SHARD_HEALTH_FILE: &str = "shard_health.csv";
/// The Waku model's bandwidth by number of subscribed shards (drawn as
/// `bandwidth-by-shards`).
pub const SHARD_COUNTS_FILE: &str = "shard_counts.csv";

/// The Waku model's per-message dissemination levels across messages (drawn as
/// `dissemination`).
pub const DISSEMINATION_FILE: &str = "dissemination.csv";

/// Size of every figure in pixels (PNG) or user units (SVG).
const SIZE: (u32, u32) = (1000, 600);

fn ensure_font() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            if plotters::style::register_font(FAMILY, style, FONT).is_err() {
                log::warn!("the bundled font did not load; plot text may be missing");
            }
        }
    });
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("plotting failed: {e}")
}

/// A figure that can be drawn on any backend.
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>;
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32) {
        SIZE
    }
}

/// Draws `fig` to `<dir>/<stem>.<ext>` for every format; returns the file names written.
fn render(
    fig: &impl Figure,
    dir: &Path,
    stem: &str,
    formats: &[PlotFormat],
) -> anyhow::Result<Vec<String>> {
    ensure_font();
    let mut written = Vec::new();
    for f in formats {
        let name = format!("{stem}.{}", f.extension());
        let path = dir.join(&name);
        match f {
            PlotFormat::Svg => {
                let mut svg = String::new();
                {
                    let root = SVGBackend::with_string(&mut svg, fig.size()).into_drawing_area();
                    root.fill(&WHITE).map_err(err)?;
                    fig.draw(&root)?;
                    root.present().map_err(err)?;
                }
                write_atomic(&path, svg.as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            PlotFormat::Png => {
                // The bitmap backend picks the encoder from the extension, so the temporary
                // name keeps `.png`; it is renamed over the final name once complete.
                let tmp = dir.join(format!(".{stem}.{}.tmp.png", std::process::id()));
                let drawn = (|| {
                    let root = BitMapBackend::new(&tmp, fig.size()).into_drawing_area();
                    root.fill(&WHITE).map_err(err)?;
                    fig.draw(&root)?;
                    root.present().map_err(err)?;
                    drop(root);
                    File::open(&tmp)?.sync_all()?;
                    fs::rename(&tmp, &path)?;
                    anyhow::Ok(())
                })();
                if drawn.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                drawn.with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        written.push(name);
    }
    Ok(written)
}

/// Removes `<stem>.png` and `<stem>.svg` left by an earlier drawing of a plot that is now
/// skipped (`wakusim plot` on a run whose plot says nothing).
fn remove_stale(dir: &Path, stem: &str) {
    for f in [PlotFormat::Png, PlotFormat::Svg] {
        let _ = fs::remove_file(dir.join(format!("{stem}.{}", f.extension())));
    }
}

/// Short SI form of a number for axis labels: `950`, `1.2k`, `3.4M`.
fn si(v: f64) -> String {
    let a = v.abs();
    let (d, unit) = if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if unit.is_empty() && x.fract() != 0.0 {
        format!("{x:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    } else {
        format!("{x:.1}{unit}").replace(".0", "")
    }
}

/// Upper end of an axis holding values up to `max`.
fn top(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.08
    } else {
        1.0
    }
}

fn text(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().into()
}

/// A number with thousands separators for labels: `1,234,567`, `950`, `0.25`.
fn grouped(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v.abs() < 1000.0 {
        let s = if v.abs() >= 100.0 {
            format!("{v:.0}")
        } else if v.abs() >= 1.0 {
            format!("{v:.2}")
        } else {
            format!("{v:.4}")
        };
        return if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        };
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

/// Mean bytes/s of one category.
struct CategoryRate {
    name: String,
    bytes_in: f64,
    bytes_out: f64,
}

/// Bars on a logarithmic axis, so that control traffic (bytes/s) shows beside message traffic
/// (hundreds of kB/s); each bar carries its value.
struct BandwidthFigure {
    rows: Vec<CategoryRate>,
    group: String,
}

impl Figure for BandwidthFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let root = root
            .titled(
                &format!(
                    "Bandwidth per node by category (mean over {} nodes; log scale)",
                    self.group
                ),
                text(22),
            )
            .map_err(err)?;
        let halves = root.split_evenly((1, 2));
        let n = self.rows.len();
        let longest = self
            .rows
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(4);
        let values = self.rows.iter().flat_map(|r| [r.bytes_in, r.bytes_out]);
        let min = values
            .clone()
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        let max = values.fold(0.0, f64::max);
        let (lo, hi) = if min.is_finite() && max > 0.0 {
            (
                10f64.powf(min.log10().floor()),
                10f64.powf(max.log10().ceil() + 1.0),
            )
        } else {
            (0.1, 10.0)
        };
        for (k, area) in halves.iter().enumerate() {
            let title = if k == 0 {
                "received (in)"
            } else {
                "sent (out)"
            };
            let pick = |r: &CategoryRate| if k == 0 { r.bytes_in } else { r.bytes_out };
            let mut chart = ChartBuilder::on(area)
                .caption(title, text(18))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size((longest as u32 * 9 + 14).min(280))
                .build_cartesian_2d(
                    (lo..hi).log_scale(),
                    (0..n.saturating_sub(1)).into_segmented(),
                )
                .map_err(err)?;
            let names: Vec<String> = self.rows.iter().map(|r| r.name.clone()).collect();
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(n.max(1))
                .y_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .x_label_formatter(&|v| si(*v))
                .x_desc("bytes/s per node (log scale)")
                .label_style(text(15))
                .axis_desc_style(text(15))
                .draw()
                .map_err(err)?;
            let color = if k == 0 { BLUE } else { RED };
            chart
                .draw_series(
                    self.rows
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| pick(r) > 0.0)
                        .map(|(i, r)| {
                            let mut bar = Rectangle::new(
                                [
                                    (lo, SegmentValue::Exact(i)),
                                    (pick(r), SegmentValue::Exact(i + 1)),
                                ],
                                color.mix(0.6).filled(),
                            );
                            bar.set_margin(3, 3, 0, 0);
                            bar
                        }),
                )
                .map_err(err)?;
            chart
                .draw_series(self.rows.iter().enumerate().map(|(i, r)| {
                    let v = pick(r);
                    Text::new(
                        format!(" {}", grouped(v)),
                        (v.max(lo), SegmentValue::CenterOf(i)),
                        text(14).pos(Pos::new(HPos::Left, VPos::Center)),
                    )
                }))
                .map_err(err)?;
        }
        Ok(())
    }
}

struct LatencyFigure {
    /// (latency ms, cumulative fraction)
    points: Vec<(f64, f64)>,
    count: u64,
}

impl Figure for LatencyFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let max = self.points.iter().map(|p| p.0).fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Latency CDF ({} message deliveries)", self.count),
                text(22),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..top(max), 0.0..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("latency (ms)")
            .y_desc("fraction of deliveries")
            .label_style(text(14))
            .axis_desc_style(text(15))
            .draw()
            .map_err(err)?;
        // A step function: each bucket raises the fraction at its latency.
        let mut steps = Vec::with_capacity(self.points.len() * 2 + 1);
        let mut prev = 0.0;
        if let Some(first) = self.points.first() {
            steps.push((first.0, 0.0));
        }
        for &(x, y) in &self.points {
            steps.push((x, prev));
            steps.push((x, y));
            prev = y;
        }
        chart
            .draw_series(LineSeries::new(steps, BLUE.stroke_width(2)))
            .map_err(err)?;
        Ok(())
    }
}

struct SeriesFigure {
    metric: String,
    points: Vec<(f64, f64)>,
}

impl Figure for SeriesFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let xmax = self.points.iter().map(|p| p.0).fold(0.0, f64::max);
        let ymax = self.points.iter().map(|p| p.1).fold(0.0, f64::max);
        let ymin = self.points.iter().map(|p| p.1).fold(0.0, f64::min);
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{} over time", self.metric), text(22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..top(xmax), ymin..top(ymax))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("simulated time (s)")
            .y_desc(self.metric.as_str())
            .y_label_formatter(&|v| si(*v))
            .label_style(text(14))
            .axis_desc_style(text(15))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                self.points.iter().copied(),
                BLUE.stroke_width(2),
            ))
            .map_err(err)?;
        chart
            .draw_series(
                self.points
                    .iter()
                    .map(|&p| Circle::new(p, 3, BLUE.filled())),
            )
            .map_err(err)?;
        Ok(())
    }
}

/// Splits points sorted by x into runs without gaps: a new run starts where x jumps by more
/// than `gap` (so that no line is drawn across missing samples).
fn runs_without_gaps<T: Copy>(points: &[T], x: impl Fn(&T) -> f64, gap: f64) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    for p in points {
        match out.last_mut() {
            Some(run) if run.last().is_some_and(|q| x(p) - x(q) <= gap) => run.push(*p),
            _ => out.push(vec![*p]),
        }
    }
    out
}

/// Mesh health over time (fractions of all (node, shard) subscriptions, stacked) and, with
/// more than one shard, per shard at the last sample (fraction healthy against the shard's
/// subscribers).
struct MeshHealthFigure {
    /// (time, unhealthy, minimally healthy, healthy) as fractions of subscriptions.
    series: Vec<(f64, f64, f64, f64)>,
    /// Per shard at the last sample: (subscribers, fraction healthy).
    last: Vec<(f64, f64)>,
    shards: usize,
}

impl MeshHealthFigure {
    fn draw_time<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let xmin = self.series.first().map_or(0.0, |p| p.0);
        let xmax = self.series.last().map_or(1.0, |p| p.0);
        let mut chart = ChartBuilder::on(area)
            .caption("subscriptions by health over time (stacked)", text(16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(xmin..xmax.max(xmin + 1.0), 0.0..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("simulated time (s)")
            .y_desc("fraction of (node, shard) subscriptions")
            .x_label_formatter(&|v| grouped(*v))
            .label_style(text(13))
            .axis_desc_style(text(14))
            .draw()
            .map_err(err)?;
        // The smallest sampling step: a larger step is a gap (no subscriber online).
        let step = self
            .series
            .windows(2)
            .map(|w| w[1].0 - w[0].0)
            .fold(f64::INFINITY, f64::min);
        let gap = if step.is_finite() { step * 1.5 } else { 0.0 };
        // (label, colour, lower and upper edge of the band)
        type Edge = fn(&(f64, f64, f64, f64)) -> (f64, f64);
        let bands: [(&str, RGBColor, Edge); 3] = [
            ("unhealthy (0 mesh peers)", RGBColor(198, 40, 40), |p| {
                (0.0, p.1)
            }),
            ("minimally healthy (< D_low)", RGBColor(239, 108, 0), |p| {
                (p.1, p.1 + p.2)
            }),
            (
                "healthy (>= D_low mesh peers)",
                RGBColor(46, 125, 50),
                |p| (p.1 + p.2, p.1 + p.2 + p.3),
            ),
        ];
        for (label, color, edge) in bands {
            let runs = runs_without_gaps(&self.series, |p| p.0, gap);
            chart
                .draw_series(runs.into_iter().map(|run| {
                    let mut poly: Vec<(f64, f64)> = run.iter().map(|p| (p.0, edge(p).1)).collect();
                    if run.len() == 1 {
                        // One sample: a thin band so that it shows.
                        let p = run[0];
                        poly = vec![(p.0 - gap / 4.0, edge(&p).1), (p.0 + gap / 4.0, edge(&p).1)];
                        poly.push((p.0 + gap / 4.0, edge(&p).0));
                        poly.push((p.0 - gap / 4.0, edge(&p).0));
                    } else {
                        poly.extend(run.iter().rev().map(|p| (p.0, edge(p).0)));
                    }
                    Polygon::new(poly, color.mix(0.75).filled())
                }))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 18, y + 5)], color.mix(0.75).filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(text(13))
            .draw()
            .map_err(err)?;
        Ok(())
    }

    fn draw_shards<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let smax = self.last.iter().map(|p| p.0).fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption("per shard, at the last sample", text(16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0u64..(top(smax).ceil() as u64).max(1), 0.0..1.05)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("subscribers of the shard (nodes)")
            .y_desc("fraction of its subscribers healthy")
            .x_label_formatter(&|v| grouped(*v as f64))
            .label_style(text(13))
            .axis_desc_style(text(14))
            .draw()
            .map_err(err)?;
        // Hollow circles: shards of the same size stay visible on top of each other.
        chart
            .draw_series(self.last.iter().map(|&(x, y)| {
                Circle::new((x.round() as u64, y), 4, BLUE.mix(0.7).stroke_width(1))
            }))
            .map_err(err)?;
        Ok(())
    }
}

impl Figure for MeshHealthFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let shards = if self.shards == 1 {
            "1 shard".to_owned()
        } else {
            format!("{} shards", grouped(self.shards as f64))
        };
        let root = root
            .titled(&format!("Mesh health ({shards})"), text(22))
            .map_err(err)?;
        if self.shards > 1 {
            let halves = root.split_evenly((1, 2));
            self.draw_time(&halves[0])?;
            self.draw_shards(&halves[1])
        } else {
            self.draw_time(&root)
        }
    }
}

/// The mesh-health figure, or `None` where it would say nothing: no samples, or one shard
/// whose subscriptions were all healthy at every sample (the per-shard panel needs two
/// shards or more; with one shard only the panel over time is drawn).
fn mesh_health_figure(t: &CsvTable) -> Option<MeshHealthFigure> {
    let col = |n: &str| t.column(n);
    let (ti, si_, sub, un, mi, he) = (
        col("time_s")?,
        col("shard")?,
        col("subscribers")?,
        col("unhealthy")?,
        col("minimally_healthy")?,
        col("healthy")?,
    );
    let num = |r: &Vec<String>, i: usize| -> Option<f64> { r.get(i)?.parse().ok() };
    // Sum over shards per time (rows are in time order).
    let mut series: Vec<(f64, f64, f64, f64, f64)> = Vec::new();
    let mut shards = std::collections::BTreeSet::new();
    for r in &t.rows {
        let time = num(r, ti)?;
        shards.insert(r.get(si_)?.clone());
        let v = (num(r, sub)?, num(r, un)?, num(r, mi)?, num(r, he)?);
        match series.last_mut() {
            Some(last) if last.0 == time => {
                last.1 += v.0;
                last.2 += v.1;
                last.3 += v.2;
                last.4 += v.3;
            }
            _ => series.push((time, v.0, v.1, v.2, v.3)),
        }
    }
    let last_t = series.last()?.0;
    let last = t
        .rows
        .iter()
        .filter(|r| num(r, ti) == Some(last_t))
        .filter_map(|r| {
            let s = num(r, sub)?;
            Some((s, if s > 0.0 { num(r, he)? / s } else { 0.0 }))
        })
        .collect();
    let series: Vec<(f64, f64, f64, f64)> = series
        .into_iter()
        .filter(|p| p.1 > 0.0)
        .map(|(t, n, u, m, h)| (t, u / n, m / n, h / n))
        .collect();
    if series.is_empty() {
        return None;
    }
    let all_healthy = series.iter().all(|p| p.3 == 1.0);
    if shards.len() < 2 && (series.len() < 2 || all_healthy) {
        return None;
    }
    Some(MeshHealthFigure {
        series,
        last,
        shards: shards.len(),
    })
}

/// Bandwidth per node against the number of shards it subscribes to.
struct ShardCountFigure {
    /// (shards, nodes, in mean, out mean) in bytes/s.
    rows: Vec<(u64, f64, f64, f64)>,
}

impl Figure for ShardCountFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let xmin = self.rows.iter().map(|r| r.0).min().unwrap_or(0);
        let xmax = self.rows.iter().map(|r| r.0).max().unwrap_or(1);
        let ymax = self.rows.iter().map(|r| r.2.max(r.3)).fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Bandwidth per node by number of shards subscribed (mean)",
                text(22),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(95)
            .build_cartesian_2d(xmin.saturating_sub(1)..xmax + 1, 0.0..top(ymax))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("shards subscribed (count)")
            .x_label_formatter(&|v| grouped(*v as f64))
            .y_desc("bytes/s per node")
            .y_label_formatter(&|v| grouped(*v))
            .label_style(text(14))
            .axis_desc_style(text(15))
            .draw()
            .map_err(err)?;
        // In: a solid line with filled dots; out: a dashed line with larger hollow squares, so
        // that both show where they coincide. Lines join consecutive shard counts only.
        for (label, color, out) in [("received (in)", BLUE, false), ("sent (out)", RED, true)] {
            let pts: Vec<(u64, f64)> = self
                .rows
                .iter()
                .map(|r| (r.0, if out { r.3 } else { r.2 }))
                .collect();
            let runs = runs_without_gaps(&pts, |p| p.0 as f64, 1.0);
            let mut first = true;
            for run in runs {
                let annotated = if out {
                    chart.draw_series(DashedLineSeries::new(run, 8, 5, color.stroke_width(2)))
                } else {
                    chart.draw_series(LineSeries::new(run, color.stroke_width(2)))
                }
                .map_err(err)?;
                if std::mem::take(&mut first) {
                    annotated.label(label).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                }
            }
            if out {
                chart
                    .draw_series(pts.iter().map(|&p| {
                        EmptyElement::at(p)
                            + Rectangle::new([(-5, -5), (5, 5)], color.stroke_width(2))
                    }))
                    .map_err(err)?;
            } else {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(err)?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .label_font(text(13))
            .draw()
            .map_err(err)?;
        Ok(())
    }
}

/// The bandwidth-by-shards figure, or `None` with fewer than two shard counts (one point says
/// nothing a line could).
fn shard_count_figure(t: &CsvTable) -> Option<ShardCountFigure> {
    let (s, n, i, o) = (
        t.column("shards")?,
        t.column("nodes")?,
        t.column("bytes_in_per_sec_mean")?,
        t.column("bytes_out_per_sec_mean")?,
    );
    let mut rows: Vec<(u64, f64, f64, f64)> = t
        .rows
        .iter()
        .filter_map(|r| {
            Some((
                r.get(s)?.parse().ok()?,
                r.get(n)?.parse().ok()?,
                r.get(i)?.parse().ok()?,
                r.get(o)?.parse().ok()?,
            ))
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    if rows.len() < 2 {
        return None;
    }
    Some(ShardCountFigure { rows })
}

/// The per-message completion curve: for each statistic across messages, (time from publish
/// in ms, fraction of intended receivers).
struct DisseminationFigure {
    /// (label, points) for mean, median, p95 and max.
    lines: Vec<(&'static str, Vec<(f64, f64)>)>,
    /// Messages that reached the first level.
    messages: u64,
}

impl Figure for DisseminationFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let xmax = self
            .lines
            .iter()
            .flat_map(|l| l.1.iter().map(|p| p.0))
            .fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "Per-message dissemination ({} messages; a level's statistics over the messages that reached it)",
                    grouped(self.messages as f64)
                ),
                text(20),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..top(xmax), 0.0..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("time from publish (ms)")
            .x_label_formatter(&|v| grouped(*v))
            .y_desc("fraction of intended receivers that have it")
            .label_style(text(14))
            .axis_desc_style(text(15))
            .draw()
            .map_err(err)?;
        let colors = [BLUE, RGBColor(0, 140, 0), MAGENTA, RED];
        for ((label, pts), color) in self.lines.iter().zip(colors) {
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(err)?
                .label(*label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .label_font(text(13))
            .draw()
            .map_err(err)?;
        Ok(())
    }
}

/// The dissemination figure from `dissemination.csv`, or `None` when no message reached any
/// level (nothing to draw). Levels no message reached (empty cells) are left out of the lines.
fn dissemination_figure(t: &CsvTable) -> Option<DisseminationFigure> {
    let level = t.column("level")?;
    let reached = t.column("messages_reached")?;
    let mut lines = Vec::new();
    for (label, col) in [
        ("mean", "mean_ms"),
        ("median (p50)", "p50_ms"),
        ("p95", "p95_ms"),
        ("max", "max_ms"),
    ] {
        let c = t.column(col)?;
        let pts: Vec<(f64, f64)> = t
            .rows
            .iter()
            .filter_map(|r| Some((r.get(c)?.parse().ok()?, r.get(level)?.parse().ok()?)))
            .filter(|p: &(f64, f64)| p.0.is_finite())
            .collect();
        lines.push((label, pts));
    }
    if lines.iter().all(|l| l.1.is_empty()) {
        return None;
    }
    let messages = t
        .rows
        .first()
        .and_then(|r| r.get(reached)?.parse().ok())
        .unwrap_or(0);
    Some(DisseminationFigure { lines, messages })
}

/// Metrics of `sweep.csv` drawn against each swept parameter.
/// Metrics a run does not have (the flood model has no mesh health) are left out.
pub const SWEEP_METRICS: [&str; 7] = [
    "latency_p95_ms",
    "delivery_rate_mean",
    "bandwidth_out_mean_bytes_per_sec",
    "mesh_healthy_fraction",
    "duplicates_mean",
    "dissemination_p95_mean_ms",
    "mesh_size_mean",
];

/// Metrics drawn instead of [`SWEEP_METRICS`] when the sweep's runs have discovery
/// (`discovery_to_dlow_p50_s` in `sweep.csv`): time from joining to D_low mesh peers (p50,
/// p95), the (node, shard) pairs that never reach D_low or D, delivery and healthy meshes,
/// discovery bytes sent per node, and the busiest rendezvous point's bytes out (runs without
/// rendezvous have no value there).
pub const SWEEP_DISCOVERY_METRICS: [&str; 8] = [
    "discovery_to_dlow_p50_s",
    "discovery_to_dlow_p95_s",
    "discovery_never_dlow_fraction",
    "discovery_never_d_fraction",
    "delivery_rate_mean",
    "mesh_healthy_fraction",
    "discovery_bytes_per_sec",
    "rdv_point_bytes_out_per_s_max",
];

/// Metrics drawn besides [`SWEEP_METRICS`] when the sweep's runs have RLN (`rln_limit` in
/// `sweep.csv`): median latency (proofs add to it), messages held or dropped by the limit, and
/// the busiest shard's measured traffic against the memberships' bound.
pub const SWEEP_RLN_METRICS: [&str; 5] = [
    "latency_p50_ms",
    "rln_dropped_over_limit",
    "rln_measured_msgs_per_s",
    "rln_planned_msgs_per_s",
    "rln_verify_cpu_mean_s",
];

/// Metrics drawn instead of [`SWEEP_METRICS`] when the sweep's runs have store nodes
/// (`store_nodes` in `sweep.csv`): messages missing against the union of all stores at the end
/// (mean and worst store node), the slowest catch-up after a rejoin or heal and what was still
/// lacking at the end, and per sync: round trips, reconciliation and transfer bytes, and the
/// naive exchange of every hash of the window.
pub const SWEEP_STORE_METRICS: [&str; 8] = [
    "store_missing_mean_final",
    "store_missing_max_final",
    "store_convergence_s_max",
    "store_lacking_at_end",
    "store_sync_round_trips_mean",
    "store_sync_recon_bytes_mean",
    "store_sync_transfer_bytes_mean",
    "store_sync_naive_bytes_mean",
];

/// The unit of a `sweep.csv` metric, from its name.
fn metric_unit(metric: &str) -> &'static str {
    if metric.starts_with("rdv_point_bytes") {
        "bytes/s (busiest point)"
    } else if metric.starts_with("store_sync_") && metric.ends_with("bytes_mean") {
        "bytes per sync"
    } else if metric == "store_sync_round_trips_mean" {
        "round trips per sync"
    } else if metric == "store_convergence_s_max" {
        "s"
    } else if metric.starts_with("store_missing") || metric == "store_lacking_at_end" {
        "messages"
    } else if metric.ends_with("_ms") {
        "ms"
    } else if metric.contains("bytes_per_sec") {
        "bytes/s per node"
    } else if metric.ends_with("msgs_per_s") {
        "messages/s per shard"
    } else if metric.ends_with("_s") {
        "s"
    } else if metric.contains("fraction") || metric.contains("rate") {
        "fraction"
    } else {
        "count"
    }
}

/// One line of a sweep panel: the runs of one combination of the other swept parameters.
struct SweepLine {
    /// `other=value, ...`, or "" when only one parameter is swept.
    label: String,
    /// (index of the x value, mean over seeds, mean - sd, mean + sd).
    points: Vec<(usize, f64, f64, f64)>,
}

/// One metric against a parameter.
struct Panel {
    metric: String,
    lines: Vec<SweepLine>,
    /// Every run's (index of the x value, value).
    runs: Vec<(usize, f64)>,
}

struct SweepFigure {
    param: String,
    /// The swept values, in ascending order, as labels.
    xs: Vec<String>,
    panels: Vec<Panel>,
    seeds: usize,
}

const LINE_COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

impl Figure for SweepFigure {
    /// Two panels a row, 240 pixels each (at least the standard size).
    fn size(&self) -> (u32, u32) {
        let rows = self.panels.len().div_ceil(2) as u32;
        (SIZE.0, SIZE.1.max(120 + 240 * rows))
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let band = if self.seeds > 1 {
            format!(
                "mean over {} seeds, bars: ± 1 standard deviation",
                self.seeds
            )
        } else {
            "one seed".to_owned()
        };
        let root = root
            .titled(&format!("Sweep over {} ({band})", self.param), text(20))
            .map_err(err)?;
        let labels: Vec<&str> = self
            .panels
            .first()
            .map(|p| p.lines.iter().map(|l| l.label.as_str()).collect())
            .unwrap_or_default();
        let legend = labels.len() > 1 || labels.first().is_some_and(|l| !l.is_empty());
        let per_row = 3usize;
        let legend_h = if legend {
            (labels.len().div_ceil(per_row) as u32) * 20 + 6
        } else {
            0
        };
        let (legend_area, body) = root.split_vertically(legend_h);
        if legend {
            let (w, _) = legend_area.dim_in_pixel();
            let col_w = (w as i32 - 40) / per_row as i32;
            for (i, label) in labels.iter().enumerate() {
                let c = LINE_COLORS[i % LINE_COLORS.len()];
                let x = 20 + (i % per_row) as i32 * col_w;
                let y = 12 + (i / per_row) as i32 * 20;
                legend_area
                    .draw(&PathElement::new(
                        vec![(x, y), (x + 22, y)],
                        c.stroke_width(3),
                    ))
                    .map_err(err)?;
                legend_area
                    .draw(&Text::new(
                        label.to_string(),
                        (x + 28, y),
                        text(14).pos(Pos::new(HPos::Left, VPos::Center)),
                    ))
                    .map_err(err)?;
            }
        }
        let n = self.panels.len().max(1);
        let grid = if n <= 2 { (1, n) } else { (n.div_ceil(2), 2) };
        let areas = body.split_evenly(grid);
        let k = self.xs.len();
        for (area, panel) in areas.iter().zip(&self.panels) {
            let ymax = panel
                .runs
                .iter()
                .map(|p| p.1)
                .chain(
                    panel
                        .lines
                        .iter()
                        .flat_map(|l| l.points.iter().map(|p| p.3)),
                )
                .fold(0.0, f64::max);
            let mut chart = ChartBuilder::on(area)
                .caption(panel.metric.as_str(), text(15))
                .margin(8)
                .x_label_area_size(38)
                .y_label_area_size(80)
                .build_cartesian_2d((0..k.saturating_sub(1)).into_segmented(), 0.0..top(ymax))
                .map_err(err)?;
            let xs = &self.xs;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(k.clamp(1, 12))
                .x_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) => xs.get(*i).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .x_desc(self.param.as_str())
                .y_desc(metric_unit(&panel.metric))
                .y_label_formatter(&|v| grouped(*v))
                .label_style(text(13))
                .axis_desc_style(text(14))
                .draw()
                .map_err(err)?;
            // Every run, faint; then each line with its error bars.
            chart
                .draw_series(panel.runs.iter().map(|&(i, y)| {
                    Circle::new((SegmentValue::CenterOf(i), y), 2, BLACK.mix(0.25).filled())
                }))
                .map_err(err)?;
            for (li, line) in panel.lines.iter().enumerate() {
                let c = LINE_COLORS[li % LINE_COLORS.len()];
                let pts = || {
                    line.points
                        .iter()
                        .map(|p| (SegmentValue::CenterOf(p.0), p.1))
                };
                chart
                    .draw_series(LineSeries::new(pts(), c.stroke_width(2)))
                    .map_err(err)?;
                chart
                    .draw_series(pts().map(|p| Circle::new(p, 4, c.filled())))
                    .map_err(err)?;
                if self.seeds > 1 {
                    chart
                        .draw_series(line.points.iter().map(|&(i, _, _, hi)| {
                            let x = SegmentValue::CenterOf(i);
                            EmptyElement::at((x, hi))
                                + PathElement::new(vec![(-5, 0), (5, 0)], c.stroke_width(2))
                        }))
                        .map_err(err)?;
                    chart
                        .draw_series(line.points.iter().map(|&(i, _, lo, _)| {
                            EmptyElement::at((SegmentValue::CenterOf(i), lo))
                                + PathElement::new(vec![(-5, 0), (5, 0)], c.stroke_width(2))
                        }))
                        .map_err(err)?;
                    chart
                        .draw_series(line.points.iter().map(|&(i, _, lo, hi)| {
                            let x = SegmentValue::CenterOf(i);
                            PathElement::new(vec![(x.clone(), lo), (x, hi)], c.stroke_width(2))
                        }))
                        .map_err(err)?;
                }
            }
        }
        Ok(())
    }
}

/// Draws the plots of the run directory `dir` from its CSV files, in the formats and with the
/// time-series metrics of `outputs`. Returns the files written; a plot whose CSV file is
/// missing or empty is skipped.
pub fn plot_run(dir: &Path, outputs: &OutputSection) -> anyhow::Result<Vec<String>> {
    let formats = &outputs.formats;
    let mut written = Vec::new();
    let bw_path = dir.join(results::BANDWIDTH_FILE);
    if bw_path.exists() {
        let t = read_csv(&bw_path)?;
        if let Some(fig) = bandwidth_figure(&t) {
            written.extend(render(&fig, dir, "bandwidth", formats)?);
        }
    }
    let lat_path = dir.join(results::LATENCY_FILE);
    if lat_path.exists() {
        let t = read_csv(&lat_path)?;
        let xs = t.numbers("latency_ms");
        let ys = t.numbers("cumulative_fraction");
        let count: u64 = t.numbers("count").iter().map(|c| *c as u64).sum();
        if !xs.is_empty() && xs.len() == ys.len() {
            let fig = LatencyFigure {
                points: xs.into_iter().zip(ys).collect(),
                count,
            };
            written.extend(render(&fig, dir, "latency-cdf", formats)?);
        }
    }
    let health_path = dir.join(SHARD_HEALTH_FILE);
    if health_path.exists() {
        let t = read_csv(&health_path)?;
        match mesh_health_figure(&t) {
            Some(fig) => written.extend(render(&fig, dir, "mesh-health", formats)?),
            None => remove_stale(dir, "mesh-health"),
        }
    }
    let diss_path = dir.join(DISSEMINATION_FILE);
    if diss_path.exists() {
        let t = read_csv(&diss_path)?;
        match dissemination_figure(&t) {
            Some(fig) => written.extend(render(&fig, dir, "dissemination", formats)?),
            None => remove_stale(dir, "dissemination"),
        }
    }
    let counts_path = dir.join(SHARD_COUNTS_FILE);
    if counts_path.exists() {
        let t = read_csv(&counts_path)?;
        match shard_count_figure(&t) {
            Some(fig) => written.extend(render(&fig, dir, "bandwidth-by-shards", formats)?),
            None => remove_stale(dir, "bandwidth-by-shards"),
        }
    }
    let ts_path = dir.join(results::TIMESERIES_FILE);
    if ts_path.exists() && !outputs.timeseries_plots.is_empty() {
        let t = read_csv(&ts_path)?;
        let (ti, mi, vi) = (t.column("time_s"), t.column("metric"), t.column("value"));
        if let (Some(ti), Some(mi), Some(vi)) = (ti, mi, vi) {
            for metric in &outputs.timeseries_plots {
                let points: Vec<(f64, f64)> = t
                    .rows
                    .iter()
                    .filter(|r| r.get(mi) == Some(metric))
                    .filter_map(|r| Some((r.get(ti)?.parse().ok()?, r.get(vi)?.parse().ok()?)))
                    .collect();
                if points.is_empty() {
                    continue;
                }
                let fig = SeriesFigure {
                    metric: metric.clone(),
                    points,
                };
                written.extend(render(&fig, dir, &format!("timeseries-{metric}"), formats)?);
            }
        }
    }
    Ok(written)
}

fn bandwidth_figure(t: &CsvTable) -> Option<BandwidthFigure> {
    let (g, c, d, m) = (
        t.column("node_group")?,
        t.column("category")?,
        t.column("direction")?,
        t.column("bytes_per_sec_mean")?,
    );
    let groups: Vec<&str> = t
        .rows
        .iter()
        .filter_map(|r| r.get(g).map(String::as_str))
        .collect();
    let group = if groups.contains(&"all") {
        "all"
    } else {
        groups.first()?
    };
    let mut rows: Vec<CategoryRate> = Vec::new();
    for r in t
        .rows
        .iter()
        .filter(|r| r.get(g).map(String::as_str) == Some(group))
    {
        let cat = r.get(c)?;
        if cat == "total" {
            continue;
        }
        let v: f64 = r.get(m)?.parse().ok()?;
        let i = match rows.iter().position(|x| &x.name == cat) {
            Some(i) => i,
            None => {
                rows.push(CategoryRate {
                    name: cat.clone(),
                    bytes_in: 0.0,
                    bytes_out: 0.0,
                });
                rows.len() - 1
            }
        };
        match r.get(d)?.as_str() {
            "in" => rows[i].bytes_in = v,
            "out" => rows[i].bytes_out = v,
            _ => {}
        }
    }
    // Categories with no traffic say nothing; the largest is drawn at the top (the last row).
    rows.retain(|r| r.bytes_in > 0.0 || r.bytes_out > 0.0);
    rows.sort_by(|a, b| {
        a.bytes_in
            .max(a.bytes_out)
            .total_cmp(&b.bytes_in.max(b.bytes_out))
    });
    if rows.is_empty() {
        return None;
    }
    Some(BandwidthFigure {
        rows,
        group: group.to_owned(),
    })
}

/// Mean and sample standard deviation (0 for fewer than two values).
fn mean_sd(ys: &[f64]) -> (f64, f64) {
    let m = crate::model::mean(ys);
    if ys.len() < 2 {
        return (m, 0.0);
    }
    let var = ys.iter().map(|y| (y - m) * (y - m)).sum::<f64>() / (ys.len() - 1) as f64;
    (m, var.sqrt())
}

/// The figure of `param` from `sweep.csv`: for each metric of [`SWEEP_METRICS`], one line per
/// combination of the other swept parameters, the mean over seeds with ± 1 standard deviation.
fn sweep_figure(t: &CsvTable, param: &str, params: &[String]) -> Option<SweepFigure> {
    let pi = t.column(param)?;
    let others: Vec<(&str, usize)> = params
        .iter()
        .filter(|p| p.as_str() != param)
        .filter_map(|p| Some((p.as_str(), t.column(p)?)))
        .collect();
    // The swept values, numerically sorted; values that are not all numbers (profile names,
    // booleans) are categories, in the order of the rows.
    let numeric = t
        .rows
        .iter()
        .filter_map(|r| r.get(pi))
        .all(|v| v.parse::<f64>().is_ok());
    let mut categories: Vec<String> = Vec::new();
    if !numeric {
        for r in &t.rows {
            if let Some(v) = r.get(pi).filter(|v| !categories.contains(v)) {
                categories.push(v.clone());
            }
        }
    }
    let position = |v: &String| -> Option<f64> {
        if numeric {
            v.parse().ok()
        } else {
            categories.iter().position(|c| c == v).map(|i| i as f64)
        }
    };
    let mut values: Vec<(f64, String)> = t
        .rows
        .iter()
        .filter_map(|r| {
            let v = r.get(pi)?;
            Some((position(v)?, v.clone()))
        })
        .collect();
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    values.dedup_by(|a, b| a.0 == b.0);
    let index = |r: &Vec<String>| -> Option<usize> {
        let v = position(r.get(pi)?)?;
        values.iter().position(|x| x.0 == v)
    };
    // Lines: combinations of the other parameters, in the order of the rows.
    let key = |r: &Vec<String>| -> String {
        others
            .iter()
            .map(|(name, i)| format!("{name}={}", r.get(*i).map_or("", String::as_str)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut keys: Vec<String> = Vec::new();
    for r in &t.rows {
        let k = key(r);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let seeds = t.column("seed").map_or(1, |si| {
        let mut s: Vec<&String> = t.rows.iter().filter_map(|r| r.get(si)).collect();
        s.sort();
        s.dedup();
        s.len()
    });
    let mut panels = Vec::new();
    let rln: &[&str] = if t.column("rln_limit").is_some() {
        &SWEEP_RLN_METRICS
    } else {
        &[]
    };
    let general: &[&str] = if t.column("store_nodes").is_some() {
        &SWEEP_STORE_METRICS
    } else if t.column("discovery_to_dlow_p50_s").is_some() {
        &SWEEP_DISCOVERY_METRICS
    } else {
        &SWEEP_METRICS
    };
    for &metric in general.iter().chain(rln) {
        let Some(mi) = t.column(metric) else { continue };
        let val = |r: &Vec<String>| -> Option<f64> {
            r.get(mi)?.parse().ok().filter(|v: &f64| v.is_finite())
        };
        let runs: Vec<(usize, f64)> = t
            .rows
            .iter()
            .filter_map(|r| Some((index(r)?, val(r)?)))
            .collect();
        if runs.is_empty() {
            continue;
        }
        let lines = keys
            .iter()
            .map(|k| SweepLine {
                label: k.clone(),
                points: (0..values.len())
                    .filter_map(|xi| {
                        let ys: Vec<f64> = t
                            .rows
                            .iter()
                            .filter(|r| &key(r) == k && index(r) == Some(xi))
                            .filter_map(val)
                            .collect();
                        if ys.is_empty() {
                            return None;
                        }
                        let (m, sd) = mean_sd(&ys);
                        Some((xi, m, m - sd, m + sd))
                    })
                    .collect(),
            })
            .collect();
        panels.push(Panel {
            metric: metric.to_owned(),
            lines,
            runs,
        });
    }
    if panels.is_empty() {
        return None;
    }
    Some(SweepFigure {
        param: param.to_owned(),
        xs: values.into_iter().map(|v| v.1).collect(),
        panels,
        seeds,
    })
}

/// A parameter path as a file name: `.`, `/`, `\\`, `[` and `]` become one `_` each run of
/// them (`network.faults[0].end_s` -> `network_faults_0_end_s`), none at the end.
fn file_stem_of(param: &str) -> String {
    let mut out = String::with_capacity(param.len());
    for c in param.chars() {
        if matches!(c, '.' | '/' | '\\' | '[' | ']') {
            if !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.push(c);
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// Draws a sweep's plots from `sweep.csv`: for each swept parameter (numbers in order, other
/// values as categories in the order of the runs), the metrics of
/// [`SWEEP_METRICS`] (or [`SWEEP_STORE_METRICS`] for runs with store nodes,
/// [`SWEEP_DISCOVERY_METRICS`] for runs with discovery) against it, one line per combination
/// of the other swept parameters
/// (mean over seeds, error bars ± 1 standard deviation, every run as a faint dot).
pub fn plot_sweep(
    dir: &Path,
    params: &[String],
    formats: &[PlotFormat],
) -> anyhow::Result<Vec<String>> {
    let t = read_csv(&dir.join(results::SWEEP_FILE))?;
    let mut written = Vec::new();
    for param in params {
        let Some(fig) = sweep_figure(&t, param, params) else {
            continue;
        };
        let stem = format!("sweep-{}", file_stem_of(param));
        written.extend(render(&fig, dir, &stem, formats)?);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si_labels() {
        assert_eq!(si(950.0), "950");
        assert_eq!(si(1200.0), "1.2k");
        assert_eq!(si(3_000_000.0), "3M");
        assert_eq!(si(0.25), "0.25");
    }

    fn table(csv: &str) -> CsvTable {
        let mut lines = csv
            .lines()
            .map(|l| l.split(',').map(str::to_owned).collect());
        CsvTable {
            header: lines.next().unwrap(),
            rows: lines.collect(),
        }
    }

    #[test]
    fn grouped_labels() {
        assert_eq!(grouped(950.0), "950");
        assert_eq!(grouped(1234567.4), "1,234,567");
        assert_eq!(grouped(-12345.0), "-12,345");
        assert_eq!(grouped(17.654), "17.65");
        assert_eq!(grouped(0.0325), "0.0325");
        assert_eq!(grouped(0.0), "0");
    }

    #[test]
    fn one_shard_plots_are_skipped() {
        let h = "time_s,shard,subscribers,unhealthy,minimally_healthy,healthy,mesh_mean";
        let healthy = format!("{h}\n10,0,200,0,0,200,6.7\n20,0,200,0,0,200,6.7");
        assert!(mesh_health_figure(&table(&healthy)).is_none());
        // One shard whose health changes over time: the panel over time only.
        let varies = format!("{h}\n10,0,200,0,50,150,4\n20,0,200,0,0,200,6.7");
        let fig = mesh_health_figure(&table(&varies)).unwrap();
        assert_eq!((fig.shards, fig.series.len()), (1, 2));
        let two = format!("{h}\n10,0,200,0,0,200,6.7\n10,1,20,0,0,20,6.7");
        assert_eq!(mesh_health_figure(&table(&two)).unwrap().last.len(), 2);

        let c = "shards,nodes,bytes_in_per_sec_mean,bytes_out_per_sec_mean";
        assert!(shard_count_figure(&table(&format!("{c}\n1,200,5,6"))).is_none());
        let fig = shard_count_figure(&table(&format!("{c}\n3,10,5,6\n1,200,5,6"))).unwrap();
        assert_eq!(fig.rows.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn dissemination_curve() {
        let h = "level,messages_reached,mean_ms,p50_ms,p95_ms,max_ms";
        // No message reached any level: nothing to draw.
        assert!(dissemination_figure(&table(&format!("{h}\n0.05,0,,,,\n1,0,,,,"))).is_none());
        // 5 % reached by 4 messages, 100 % by none: each line has the one point it can have.
        let t = table(&format!("{h}\n0.05,4,10,9,12,13\n1,0,,,,"));
        let fig = dissemination_figure(&t).unwrap();
        assert_eq!(fig.messages, 4);
        let labels: Vec<&str> = fig.lines.iter().map(|l| l.0).collect();
        assert_eq!(labels, ["mean", "median (p50)", "p95", "max"]);
        assert_eq!(fig.lines[0].1, [(10.0, 0.05)]);
        assert_eq!(fig.lines[3].1, [(13.0, 0.05)]);
        // Both formats render.
        let dir = std::env::temp_dir().join(format!("wakusim-diss-plot-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let files = render(
            &fig,
            &dir,
            "dissemination",
            &[PlotFormat::Png, PlotFormat::Svg],
        )
        .unwrap();
        assert_eq!(files, ["dissemination.png", "dissemination.svg"]);
        assert!(fs::metadata(dir.join("dissemination.png")).unwrap().len() > 0);
        let svg = fs::read_to_string(dir.join("dissemination.svg")).unwrap();
        assert!(svg.contains("time from publish"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sweep_lines_per_other_parameter() {
        let t = table(
            "run_id,point,a,b,seed,latency_p95_ms\n\
             p0-s1,0,1,10,1,100\np0-s2,0,1,10,2,120\np1-s1,1,1,20,1,200\np1-s2,1,1,20,2,200\n\
             p2-s1,2,3,10,1,50\np2-s2,2,3,10,2,70\np3-s1,3,3,20,1,80\np3-s2,3,3,20,2,80",
        );
        let params = ["a".to_owned(), "b".to_owned()];
        let fig = sweep_figure(&t, "a", &params).unwrap();
        assert_eq!(
            (fig.xs.clone(), fig.seeds),
            (vec!["1".into(), "3".into()], 2)
        );
        let lines = &fig.panels[0].lines;
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].label, "b=10");
        let sd = 200f64.sqrt();
        assert_eq!(lines[0].points[0], (0, 110.0, 110.0 - sd, 110.0 + sd));
        assert_eq!(lines[1].points[1], (1, 80.0, 80.0, 80.0));
        assert_eq!(fig.panels[0].runs.len(), 8);
    }

    #[test]
    fn categorical_sweep_values_keep_the_order_of_the_runs() {
        // Profile names and booleans are not numbers: categories in row order.
        let t = table(
            "run_id,point,p,i,seed,duplicates_mean\n\
             p0-s1,0,nim,false,1,6\np1-s1,1,nim,true,1,5\n\
             p2-s1,2,go,false,1,4\np3-s1,3,go,true,1,3",
        );
        let params = ["p".to_owned(), "i".to_owned()];
        let fig = sweep_figure(&t, "p", &params).unwrap();
        assert_eq!(fig.xs, vec!["nim".to_owned(), "go".to_owned()]);
        let lines = &fig.panels[0].lines;
        assert_eq!(lines[0].label, "i=false");
        // nim (x 0) then go (x 1) on the IDONTWANT-off line: 6, then 4.
        assert_eq!(lines[0].points[0].1, 6.0);
        assert_eq!(lines[0].points[1], (1, 4.0, 4.0, 4.0));
        let fig = sweep_figure(&t, "i", &params).unwrap();
        assert_eq!(fig.xs, vec!["false".to_owned(), "true".to_owned()]);
    }

    #[test]
    fn sweep_file_stems() {
        assert_eq!(file_stem_of("shards.count"), "shards_count");
        assert_eq!(
            file_stem_of("rln.cpu_factor.datacenter"),
            "rln_cpu_factor_datacenter"
        );
        assert_eq!(
            file_stem_of("network.faults[0].end_s"),
            "network_faults_0_end_s"
        );
        assert_eq!(file_stem_of("a.b[1][2]"), "a_b_1_2");
    }

    #[test]
    fn discovery_sweeps_draw_one_line_per_mechanism() {
        // Two mechanisms x two shard counts x two seeds. The discv5 runs have no rendezvous
        // point, so their rdv cell is empty and that line has no points.
        let t = table(
            "run_id,point,discovery.mechanism,shards.count,seed,delivery_rate_mean,\
             discovery_to_dlow_p50_s,rdv_point_bytes_out_per_s_max\n\
             p0-s1,0,discv5,8,1,0.9,8,\np0-s2,0,discv5,8,2,0.9,10,\n\
             p1-s1,1,discv5,64,1,0.5,12,\np1-s2,1,discv5,64,2,0.5,12,\n\
             p2-s1,2,rendezvous,8,1,1,60,500\np2-s2,2,rendezvous,8,2,1,62,700\n\
             p3-s1,3,rendezvous,64,1,1,61,900\np3-s2,3,rendezvous,64,2,1,61,900",
        );
        let params = ["discovery.mechanism".to_owned(), "shards.count".to_owned()];
        let fig = sweep_figure(&t, "shards.count", &params).unwrap();
        let metrics: Vec<&str> = fig.panels.iter().map(|p| p.metric.as_str()).collect();
        assert_eq!(
            metrics,
            [
                "discovery_to_dlow_p50_s",
                "delivery_rate_mean",
                "rdv_point_bytes_out_per_s_max"
            ],
            "the discovery metrics replace the general ones"
        );
        assert_eq!(fig.xs, ["8", "64"]);
        assert_eq!(fig.seeds, 2);
        let dlow = &fig.panels[0];
        let labels: Vec<&str> = dlow.lines.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "discovery.mechanism=discv5",
                "discovery.mechanism=rendezvous"
            ]
        );
        // discv5 at 8 shards: seeds 8 and 10, mean 9, sample sd sqrt(2) (= |10 - 8| / sqrt 2).
        let (i, m, lo, hi) = dlow.lines[0].points[0];
        assert_eq!((i, m), (0, 9.0));
        assert!((hi - m - 2f64.sqrt()).abs() < 1e-12 && (m - lo - 2f64.sqrt()).abs() < 1e-12);
        let rdv = &fig.panels[2];
        assert!(rdv.lines[0].points.is_empty());
        assert_eq!(rdv.lines[1].points[0].1, 600.0);
        assert_eq!(
            metric_unit("rdv_point_bytes_out_per_s_max"),
            "bytes/s (busiest point)"
        );
    }

    #[test]
    fn store_sweeps_draw_the_store_metrics() {
        // Sync off: no syncs, so the per-sync columns are empty and those runs are left out.
        let t = table(
            "run_id,point,sync,seed,latency_p95_ms,store_nodes,store_missing_max_final,\
             store_sync_recon_bytes_mean\n\
             p0-s1,0,true,1,90,8,0,1200\np1-s1,1,false,1,95,8,300,",
        );
        let params = ["sync".to_owned()];
        let fig = sweep_figure(&t, "sync", &params).unwrap();
        let metrics: Vec<&str> = fig.panels.iter().map(|p| p.metric.as_str()).collect();
        assert_eq!(
            metrics,
            ["store_missing_max_final", "store_sync_recon_bytes_mean"]
        );
        assert_eq!(fig.panels[0].runs, vec![(0, 0.0), (1, 300.0)]);
        assert_eq!(fig.panels[1].runs, vec![(0, 1200.0)]);
        assert_eq!(metric_unit("store_sync_recon_bytes_mean"), "bytes per sync");
        assert_eq!(metric_unit("store_convergence_s_max"), "s");
    }

    #[test]
    fn gaps_split_lines() {
        let runs = runs_without_gaps(&[1.0, 2.0, 3.0, 5.0, 6.0, 9.0], |x| *x, 1.0);
        assert_eq!(runs, vec![vec![1.0, 2.0, 3.0], vec![5.0, 6.0], vec![9.0]]);
    }

    #[test]
    fn zero_categories_are_left_out() {
        let t = table(
            "node_group,category,direction,bytes_per_sec_mean\n\
             all,relay/forward,in,100\nall,relay/forward,out,90\n\
             all,metadata/response,in,0\nall,metadata/response,out,0\n\
             all,relay/graft,in,0.5\nall,relay/graft,out,0\nall,total,in,100.5",
        );
        let fig = bandwidth_figure(&t).unwrap();
        let names: Vec<&str> = fig.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["relay/graft", "relay/forward"]);
    }
}
