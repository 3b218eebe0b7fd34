//! Regression checks: every metric of a current result next to its baseline, with the change,
//! and a verdict from the metric's "better" direction and tolerance.
//!
//! Inputs are `summary.csv` or `sweep.csv` files, run or sweep directories (their
//! `sweep.csv`, else `summary.csv`), or the JSON reports of `wakusim bench`. Rows are matched by
//! `run_id` (a bench report is one row).
//!
//! The rules (see [`default_rule`]; `--tolerance metric=pct` overrides the tolerance):
//!
//! | metrics | better | default tolerance |
//! |---|---|---|
//! | `latency_*`, `*_ms` | lower | 5 % |
//! | `bandwidth_*`, `*bytes*` | lower | 5 % |
//! | `duplicates_*` | lower | 5 % |
//! | `messages_not_fully_delivered` | lower | 5 % |
//! | `delivery_rate_*`, `*delivery*`, `*_reached_fraction` | higher | 1 % |
//! | `events_per_sec*`, `messages_per_sec`, `ratio` (bench) | higher | 10 % |
//! | `peak_rss_bytes` (bench) | lower | 20 % |
//! | `nodes`, `sim_seconds`, `messages_published`, `seed`, `point`, swept parameters, `messages`, `event_hash`, `queue` | must match | exact |
//! | `events` and anything else | informational (shown, never fails) | - |
//!
//! A change is `change% = (current - baseline) / |baseline| x 100`; when the baseline is 0 any
//! change is infinitely large. A "lower is better" metric regresses when `change% > tolerance`,
//! a "higher is better" one when `change% < -tolerance`, a "must match" one when it differs
//! (by more than its tolerance, if one is given).
//!
//! Results of different scenarios are not compared at all (an error): different models (by
//! their manifests, or model columns of which neither set holds the other), or a run with a
//! different `nodes` or `sim_seconds`. A `--tolerance` must name a metric of the inputs.
//!
//! An undefined value (an empty cell or `NaN`, e.g. the latency of a run without messages) in
//! either input is not comparable: marked `n/a`, neither better nor worse, and counted apart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, bail};

use crate::output::fmt_f64;
use crate::results::{self, read_csv};

/// Which way a metric should move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Lower is better (latency, bandwidth, duplicates).
    Lower,
    /// Higher is better (delivery, speed).
    Higher,
    /// Must not change (counts, configuration).
    Match,
    /// Shown but never judged.
    Info,
}

impl Better {
    fn label(self) -> &'static str {
        match self {
            Better::Lower => "lower",
            Better::Higher => "higher",
            Better::Match => "match",
            Better::Info => "info",
        }
    }
}

/// A metric's direction and tolerance in percent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    /// Which way is better.
    pub better: Better,
    /// Largest change in the bad direction that passes, in percent of the baseline.
    pub tolerance_pct: f64,
}

/// The built-in rule for a metric (see the module docs).
pub fn default_rule(metric: &str) -> Rule {
    let r = |better, tolerance_pct| Rule {
        better,
        tolerance_pct,
    };
    let m = metric;
    match m {
        "run_id" | "point" | "seed" | "nodes" | "sim_seconds" | "messages_published"
        | "messages" | "event_hash" | "queue" => r(Better::Match, 0.0),
        "events" | "baseline_heap_events_per_sec" => r(Better::Info, 0.0),
        "peak_rss_bytes" => r(Better::Lower, 20.0),
        "ratio" => r(Better::Higher, 10.0),
        "messages_not_fully_delivered" => r(Better::Lower, 5.0),
        _ if m.starts_with("events_per_sec") || m == "messages_per_sec" => r(Better::Higher, 10.0),
        _ if m.contains("delivery") || m.ends_with("_reached_fraction") => r(Better::Higher, 1.0),
        _ if m.starts_with("latency") || m.ends_with("_ms") => r(Better::Lower, 5.0),
        _ if m.starts_with("bandwidth") || m.contains("bytes") => r(Better::Lower, 5.0),
        _ if m.starts_with("duplicates") => r(Better::Lower, 5.0),
        _ => r(Better::Info, 0.0),
    }
}

/// `--tolerance` overrides: exact metric names win over patterns with `*`; among patterns the
/// last given wins.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tolerances(Vec<(String, f64)>);

impl Tolerances {
    /// Parses `metric=pct` items (`latency_p95_ms=10`, `latency_*=10%`, `*=2`).
    pub fn parse(items: &[String]) -> Result<Tolerances, String> {
        let mut out = Vec::new();
        for it in items {
            let (k, v) = it.split_once('=').ok_or_else(|| {
                format!(
                    "`{it}` is not a tolerance: expected metric=percent, e.g. latency_p95_ms=10"
                )
            })?;
            let v = v.trim().trim_end_matches('%');
            let pct: f64 = v
                .parse()
                .ok()
                .filter(|p: &f64| *p >= 0.0 && !p.is_nan())
                .ok_or_else(|| {
                    format!("`{it}`: the tolerance must be a percentage >= 0 (or inf)")
                })?;
            out.push((k.trim().to_owned(), pct));
        }
        Ok(Tolerances(out))
    }

    /// Checks that every name given matches a metric of the inputs (`known`): an exact name
    /// must be one of them, a pattern must match at least one.
    pub fn check_known(&self, known: &[String]) -> Result<(), String> {
        for (k, _) in &self.0 {
            let found = if k.contains('*') {
                known.iter().any(|m| glob(k, m))
            } else {
                known.iter().any(|m| m == k)
            };
            if !found {
                let what = if k.contains('*') {
                    format!("the pattern `{k}` in --tolerance matches no metric")
                } else {
                    format!("unknown metric `{k}` in --tolerance")
                };
                return Err(format!(
                    "{what}; the metrics of these results are: {}",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    fn get(&self, metric: &str) -> Option<f64> {
        if let Some((_, p)) = self.0.iter().rev().find(|(k, _)| k == metric) {
            return Some(*p);
        }
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.contains('*') && glob(k, metric))
            .map(|(_, p)| *p)
    }

    /// The rule for `metric`: the built-in direction with any override's tolerance. An
    /// informational metric given a tolerance is judged both ways.
    pub fn rule(&self, metric: &str) -> Rule {
        let mut r = default_rule(metric);
        if let Some(p) = self.get(metric) {
            r.tolerance_pct = p;
            if r.better == Better::Info {
                r.better = Better::Match;
            }
        }
        r
    }
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = name;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            let Some(pos) = rest.find(p) else {
                return false;
            };
            rest = &rest[pos + p.len()..];
        }
    }
    rest.is_empty()
}

/// A set of results to compare: rows by key, each a list of (column, value).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// Where it came from.
    pub source: String,
    /// Whether it is a bench report.
    pub bench: bool,
    /// Rows in file order: (key, cells).
    pub rows: Vec<(String, Vec<(String, String)>)>,
    /// Columns that identify a row rather than measure it (swept parameters).
    pub identity: Vec<String>,
    /// The model that made the results, when a manifest next to them says.
    pub model: Option<String>,
}

impl Dataset {
    /// The metric names of the dataset, in order of first appearance (`run_id` left out).
    pub fn metrics(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, cells) in &self.rows {
            for (k, _) in cells {
                if k != "run_id" && !out.contains(k) {
                    out.push(k.clone());
                }
            }
        }
        out
    }

    /// The model's own summary columns: those after `events` in the first row.
    fn model_columns(&self) -> Vec<&str> {
        let Some((_, cells)) = self.rows.first() else {
            return Vec::new();
        };
        match cells.iter().position(|(k, _)| k == "events") {
            Some(i) => cells[i + 1..].iter().map(|(k, _)| k.as_str()).collect(),
            None => Vec::new(),
        }
    }
}

/// The model of the results in `dir`: from its manifest, else from the first run directory
/// under it that has one.
fn model_near(dir: &Path) -> Option<String> {
    if let Some(m) = results::read_manifest(dir) {
        return Some(m.model);
    }
    let mut subdirs: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    subdirs
        .iter()
        .filter(|d| {
            !d.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .find_map(|d| results::read_manifest(d).map(|m| m.model))
}

/// Loads a CSV file, a run or sweep directory, or a bench JSON report.
pub fn load(path: &Path) -> anyhow::Result<Dataset> {
    if path.is_dir() {
        for f in [results::SWEEP_FILE, results::SUMMARY_FILE] {
            if path.join(f).is_file() {
                return load(&path.join(f));
            }
        }
        bail!(
            "{} has neither {} nor {}: give a run or sweep directory, a CSV file or a bench JSON file",
            path.display(),
            results::SWEEP_FILE,
            results::SUMMARY_FILE
        );
    }
    let source = path.display().to_string();
    if path.extension().is_some_and(|e| e == "json") {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {source}"))?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{source} is not valid JSON"))?;
        let serde_json::Value::Object(_) = v else {
            bail!("{source}: expected a JSON object (a `wakusim bench --json` report)");
        };
        let mut cells = Vec::new();
        flatten_json("", &v, &mut cells);
        return Ok(Dataset {
            source,
            bench: true,
            rows: vec![("bench".to_owned(), cells)],
            identity: Vec::new(),
            model: None,
        });
    }
    let t = read_csv(path)?;
    let Some(key) = t.column("run_id") else {
        bail!("{source} has no run_id column: is it a summary.csv or sweep.csv?");
    };
    // In a sweep.csv the swept parameters sit between `point` and `seed`.
    let identity = match (t.column("point"), t.column("seed")) {
        (Some(p), Some(s)) if p < s => t.header[p + 1..s].to_vec(),
        _ => Vec::new(),
    };
    let rows = t
        .rows
        .iter()
        .map(|r| {
            let cells = t.header.iter().cloned().zip(r.iter().cloned()).collect();
            (r.get(key).cloned().unwrap_or_default(), cells)
        })
        .collect();
    let model = path
        .parent()
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .and_then(model_near);
    Ok(Dataset {
        source,
        bench: false,
        rows,
        identity,
        model,
    })
}

fn flatten_json(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_json(&name, v, out);
            }
        }
        serde_json::Value::Number(n) => out.push((prefix.to_owned(), n.to_string())),
        serde_json::Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        serde_json::Value::Bool(b) => out.push((prefix.to_owned(), b.to_string())),
        _ => {}
    }
}

/// A verdict on one metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Identical.
    Same,
    /// Changed in the good direction, or within tolerance.
    Ok,
    /// Changed for the better beyond the tolerance.
    Better,
    /// Changed for the worse beyond the tolerance.
    Worse,
    /// A must-match value differs.
    Mismatch,
    /// In one input only.
    Missing,
    /// Undefined (an empty cell or NaN, e.g. the latency of a run without messages) in one
    /// input or both: not comparable, neither better nor worse.
    Undefined,
    /// Informational.
    Info,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Same => "same",
            Status::Ok => "ok",
            Status::Better => "better",
            Status::Worse => "WORSE",
            Status::Mismatch => "MISMATCH",
            Status::Missing => "MISSING",
            Status::Undefined => "n/a",
            Status::Info => "info",
        }
    }
    /// Whether this verdict fails the comparison.
    pub fn fails(self) -> bool {
        matches!(self, Status::Worse | Status::Mismatch | Status::Missing)
    }
}

/// One line of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// Row key (`run_id`).
    pub key: String,
    /// Metric (column).
    pub metric: String,
    /// Baseline value as written ("" when absent).
    pub baseline: String,
    /// Current value as written ("" when absent).
    pub current: String,
    /// `current - baseline`, when both are numbers.
    pub change: Option<f64>,
    /// The change in percent of the baseline.
    pub change_pct: Option<f64>,
    /// The rule applied.
    pub rule: Rule,
    /// The verdict.
    pub status: Status,
}

/// Compares `current` against `baseline`.
pub fn compare(
    baseline: &Dataset,
    current: &Dataset,
    tol: &Tolerances,
) -> anyhow::Result<Vec<Line>> {
    if baseline.bench != current.bench {
        bail!(
            "cannot compare a bench report with a summary: {} and {}",
            baseline.source,
            current.source
        );
    }
    check_same_scenario(baseline, current)?;
    let cur: BTreeMap<&str, &Vec<(String, String)>> =
        current.rows.iter().map(|(k, c)| (k.as_str(), c)).collect();
    let base_keys: Vec<&str> = baseline.rows.iter().map(|(k, _)| k.as_str()).collect();
    let mut lines = Vec::new();
    for (key, bcells) in &baseline.rows {
        let Some(ccells) = cur.get(key.as_str()) else {
            lines.push(missing(key, "(row)", "present", "", Status::Missing));
            continue;
        };
        let cmap: BTreeMap<&str, &str> = ccells
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for (metric, b) in bcells {
            if metric == "run_id" {
                continue;
            }
            let mut rule = tol.rule(metric);
            if baseline.identity.contains(metric) {
                rule = Rule {
                    better: Better::Match,
                    tolerance_pct: 0.0,
                };
            }
            let Some(c) = cmap.get(metric.as_str()) else {
                let status = if rule.better == Better::Info {
                    Status::Info
                } else {
                    Status::Missing
                };
                lines.push(missing(key, metric, b, "", status));
                continue;
            };
            lines.push(judge(key, metric, b, c, rule));
        }
        let bnames: Vec<&str> = bcells.iter().map(|(k, _)| k.as_str()).collect();
        for (metric, c) in ccells.iter() {
            if !bnames.contains(&metric.as_str()) {
                lines.push(missing(key, metric, "", c, Status::Info));
            }
        }
    }
    for (key, _) in &current.rows {
        if !base_keys.contains(&key.as_str()) {
            lines.push(missing(key, "(row)", "", "present", Status::Missing));
        }
    }
    Ok(lines)
}

/// Columns that, when they differ, make two results runs of different scenarios.
const SCENARIO_COLUMNS: [&str; 2] = ["nodes", "sim_seconds"];

/// Fails when the two inputs are results of different scenarios: different models (from their
/// manifests, or model columns with no name in common), or a matched row with a different
/// node count or simulated duration. Such results are not comparable, so no verdict is given.
fn check_same_scenario(baseline: &Dataset, current: &Dataset) -> anyhow::Result<()> {
    if baseline.bench {
        return Ok(());
    }
    let different = |what: String| -> anyhow::Result<()> {
        bail!(
            "{} and {} are results of different scenarios ({what}): compare runs of the same \
             scenario",
            baseline.source,
            current.source
        )
    };
    if let (Some(a), Some(b)) = (&baseline.model, &current.model) {
        if a != b {
            return different(format!("model {a} and model {b}"));
        }
    }
    // A model may add columns between versions, but neither set holding the other means
    // two different models.
    let (bm, cm) = (baseline.model_columns(), current.model_columns());
    let within = |a: &[&str], b: &[&str]| a.iter().all(|c| b.contains(c));
    if !bm.is_empty() && !cm.is_empty() && !within(&bm, &cm) && !within(&cm, &bm) {
        return different(format!(
            "model columns {} and {}: different models",
            bm.join(", "),
            cm.join(", ")
        ));
    }
    let cur: BTreeMap<&str, &Vec<(String, String)>> =
        current.rows.iter().map(|(k, c)| (k.as_str(), c)).collect();
    for (key, bcells) in &baseline.rows {
        let Some(ccells) = cur.get(key.as_str()) else {
            continue;
        };
        for col in SCENARIO_COLUMNS {
            let get = |cells: &[(String, String)]| {
                cells.iter().find(|(k, _)| k == col).map(|(_, v)| v.clone())
            };
            if let (Some(b), Some(c)) = (get(bcells), get(ccells)) {
                if b != c {
                    return different(format!("run {key}: {col} {b} and {c}"));
                }
            }
        }
    }
    Ok(())
}

fn missing(key: &str, metric: &str, b: &str, c: &str, status: Status) -> Line {
    let mut rule = default_rule(metric);
    if status == Status::Missing {
        rule = Rule {
            better: Better::Match,
            tolerance_pct: 0.0,
        };
    }
    Line {
        key: key.to_owned(),
        metric: metric.to_owned(),
        baseline: b.to_owned(),
        current: c.to_owned(),
        change: None,
        change_pct: None,
        rule,
        status,
    }
}

fn judge(key: &str, metric: &str, b: &str, c: &str, rule: Rule) -> Line {
    let mut line = Line {
        key: key.to_owned(),
        metric: metric.to_owned(),
        baseline: b.to_owned(),
        current: c.to_owned(),
        change: None,
        change_pct: None,
        rule,
        status: Status::Same,
    };
    let undefined = |v: &str| v.is_empty() || v.parse::<f64>().is_ok_and(f64::is_nan);
    if undefined(b) || undefined(c) {
        line.status = Status::Undefined;
        return line;
    }
    let (Ok(bv), Ok(cv)) = (b.parse::<f64>(), c.parse::<f64>()) else {
        line.status = match (b == c, rule.better) {
            (true, _) => Status::Same,
            (false, Better::Info) => Status::Info,
            (false, _) => Status::Mismatch,
        };
        return line;
    };
    // Large integers (hashes, byte counts) are compared exactly, not as floats.
    if let (Ok(bi), Ok(ci)) = (b.parse::<i128>(), c.parse::<i128>()) {
        if bi != ci && bv == cv {
            line.status = if rule.better == Better::Info {
                Status::Info
            } else {
                Status::Mismatch
            };
            return line;
        }
    }
    if bv == cv || (bv.is_nan() && cv.is_nan()) {
        line.change = Some(0.0);
        line.change_pct = Some(0.0);
        line.status = Status::Same;
        return line;
    }
    let change = cv - bv;
    let pct = if bv == 0.0 {
        if change > 0.0 {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        }
    } else {
        change / bv.abs() * 100.0
    };
    line.change = Some(change);
    line.change_pct = Some(pct);
    let t = rule.tolerance_pct;
    line.status = match rule.better {
        Better::Info => Status::Info,
        Better::Match => {
            if pct.abs() > t || pct.is_nan() {
                Status::Mismatch
            } else {
                Status::Ok
            }
        }
        Better::Lower | Better::Higher => {
            let worse = if rule.better == Better::Lower {
                pct
            } else {
                -pct
            };
            if worse.is_nan() || worse > t {
                Status::Worse
            } else if -worse > t {
                Status::Better
            } else {
                Status::Ok
            }
        }
    };
    line
}

fn fmt_pct(p: Option<f64>) -> String {
    match p {
        None => String::new(),
        Some(p) if p.is_infinite() => if p > 0.0 { "+inf%" } else { "-inf%" }.to_owned(),
        Some(p) => format!("{p:+.2}%"),
    }
}

/// A change for people to read: whole numbers as they are, others to 6 significant digits.
fn fmt_change(c: Option<f64>) -> String {
    let Some(c) = c else { return String::new() };
    let s = if !c.is_finite() || (c == c.trunc() && c.abs() < 1e15) {
        fmt_f64(c)
    } else {
        let magnitude = c.abs().log10().floor() as i32 + 1;
        let decimals = (6 - magnitude).clamp(0, 12) as usize;
        let t = format!("{c:.decimals$}");
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            t
        }
    };
    if c > 0.0 { format!("+{s}") } else { s }
}

/// The comparison as an aligned text table, then a verdict line. With `only_changed`, lines
/// whose value did not change are left out.
pub fn render(lines: &[Line], only_changed: bool) -> String {
    let header = [
        "run", "metric", "baseline", "current", "change", "change%", "rule", "status",
    ];
    let mut table: Vec<[String; 8]> = vec![header.map(str::to_owned)];
    for l in lines {
        if only_changed && l.status == Status::Same {
            continue;
        }
        let rule = match l.rule.better {
            Better::Info => "info".to_owned(),
            Better::Match if l.rule.tolerance_pct == 0.0 => "match".to_owned(),
            b => format!("{} {}%", b.label(), fmt_f64(l.rule.tolerance_pct)),
        };
        table.push([
            l.key.clone(),
            l.metric.clone(),
            l.baseline.clone(),
            l.current.clone(),
            fmt_change(l.change),
            fmt_pct(l.change_pct),
            rule,
            l.status.label().to_owned(),
        ]);
    }
    let mut widths = [0usize; 8];
    for row in &table {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in &table {
        let mut line = String::new();
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            // Text columns left-aligned, numbers right-aligned.
            if (2..=5).contains(&i) {
                let _ = write!(line, "{c:>w$}  ");
            } else {
                let _ = write!(line, "{c:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let failing: Vec<&Line> = lines.iter().filter(|l| l.status.fails()).collect();
    let compared = lines
        .iter()
        .filter(|l| !matches!(l.status, Status::Info | Status::Undefined))
        .count();
    let undefined = lines
        .iter()
        .filter(|l| l.status == Status::Undefined)
        .count();
    if undefined > 0 {
        let _ = writeln!(
            out,
            "\n{undefined} values not comparable (n/a): undefined (an empty cell) in the baseline \
             or the current results, e.g. the latency of a run without messages; neither better \
             nor worse"
        );
    }
    if failing.is_empty() {
        let _ = writeln!(
            out,
            "\nOK: {compared} values compared, none regressed past its tolerance"
        );
    } else {
        let _ = writeln!(
            out,
            "\nFAILED: {} of {compared} values regressed or differ:",
            failing.len()
        );
        for l in failing {
            let _ = writeln!(
                out,
                "  {} {}: {} -> {} ({})",
                l.key,
                l.metric,
                if l.baseline.is_empty() {
                    "-"
                } else {
                    &l.baseline
                },
                if l.current.is_empty() {
                    "-"
                } else {
                    &l.current
                },
                match l.status {
                    Status::Worse => format!(
                        "{} is better, tolerance {}%",
                        l.rule.better.label(),
                        fmt_f64(l.rule.tolerance_pct)
                    ),
                    Status::Mismatch => "must match".to_owned(),
                    _ => "missing".to_owned(),
                }
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(rows: &[(&str, &[(&str, &str)])]) -> Dataset {
        Dataset {
            source: "t".into(),
            bench: false,
            rows: rows
                .iter()
                .map(|(k, cells)| {
                    (
                        (*k).to_owned(),
                        cells
                            .iter()
                            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                            .collect(),
                    )
                })
                .collect(),
            identity: Vec::new(),
            model: None,
        }
    }

    #[test]
    fn directions_and_tolerances() {
        let base = ds(&[(
            "s1",
            &[
                ("latency_p95_ms", "100"),
                ("delivery_rate_mean", "1"),
                ("nodes", "20"),
                ("events", "5"),
            ],
        )]);
        // Latency +4 % (within 5 %), delivery -0.5 % (within 1 %), events changed (info).
        let cur = ds(&[(
            "s1",
            &[
                ("latency_p95_ms", "104"),
                ("delivery_rate_mean", "0.995"),
                ("nodes", "20"),
                ("events", "9"),
            ],
        )]);
        let lines = compare(&base, &cur, &Tolerances::default()).unwrap();
        assert!(lines.iter().all(|l| !l.status.fails()), "{lines:?}");
        // Latency +6 % fails; with a 10 % tolerance it passes.
        let cur = ds(&[(
            "s1",
            &[
                ("latency_p95_ms", "106"),
                ("delivery_rate_mean", "1"),
                ("nodes", "20"),
                ("events", "5"),
            ],
        )]);
        let lines = compare(&base, &cur, &Tolerances::default()).unwrap();
        let l = lines.iter().find(|l| l.metric == "latency_p95_ms").unwrap();
        assert_eq!(l.status, Status::Worse);
        assert_eq!(l.change_pct, Some(6.0));
        let t = Tolerances::parse(&["latency_*=10".to_owned()]).unwrap();
        assert!(
            compare(&base, &cur, &t)
                .unwrap()
                .iter()
                .all(|l| !l.status.fails())
        );
        // Lower latency is better, not a failure.
        let cur = ds(&[(
            "s1",
            &[
                ("latency_p95_ms", "50"),
                ("delivery_rate_mean", "1"),
                ("nodes", "20"),
                ("events", "5"),
            ],
        )]);
        let lines = compare(&base, &cur, &Tolerances::default()).unwrap();
        assert_eq!(lines[0].status, Status::Better);
        // A different node count is a different scenario: an error, not a verdict.
        let cur = ds(&[(
            "s1",
            &[
                ("latency_p95_ms", "100"),
                ("delivery_rate_mean", "1"),
                ("nodes", "21"),
                ("events", "5"),
            ],
        )]);
        let err = compare(&base, &cur, &Tolerances::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t and t are results of different scenarios (run s1: nodes 20 and 21): compare \
             runs of the same scenario"
        );
        // A missing row fails.
        let lines = compare(&base, &ds(&[]), &Tolerances::default()).unwrap();
        assert!(lines.iter().any(|l| l.status == Status::Missing));
    }

    #[test]
    fn different_models_do_not_compare() {
        // flood's and waku's model columns, without manifests to name the models.
        let base = ds(&[(
            "s1",
            &[
                ("nodes", "20"),
                ("events", "5"),
                ("degree_mean", "4"),
                ("latency_mean_ms", "9"),
            ],
        )]);
        let cur = ds(&[(
            "s1",
            &[
                ("nodes", "20"),
                ("events", "5"),
                ("latency_mean_ms", "9"),
                ("hops_mean", "2"),
            ],
        )]);
        let err = compare(&base, &cur, &Tolerances::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t and t are results of different scenarios (model columns degree_mean, \
             latency_mean_ms and latency_mean_ms, hops_mean: different models): compare runs of \
             the same scenario"
        );
        // A model column added by a newer version compares.
        let mut newer = base.clone();
        newer.rows[0].1.push(("hops_mean".into(), "2".into()));
        assert!(compare(&base, &newer, &Tolerances::default()).is_ok());
        assert!(compare(&newer, &base, &Tolerances::default()).is_ok());
        let mut cur = base.clone();
        let mut b = base.clone();
        b.model = Some("flood".into());
        cur.model = Some("waku".into());
        let err = compare(&b, &cur, &Tolerances::default()).unwrap_err();
        assert!(
            err.to_string().contains("(model flood and model waku)"),
            "{err}"
        );
        // The same model compares.
        cur.model = Some("flood".into());
        assert!(compare(&b, &cur, &Tolerances::default()).is_ok());
    }

    #[test]
    fn tolerances_must_name_known_metrics() {
        let known = vec!["latency_p95_ms".to_owned(), "nodes".to_owned()];
        let t = Tolerances::parse(&["latency_*=3".into(), "nodes=1".into()]).unwrap();
        assert_eq!(t.check_known(&known), Ok(()));
        let t = Tolerances::parse(&["latncy_p95_ms=3".into()]).unwrap();
        assert_eq!(
            t.check_known(&known).unwrap_err(),
            "unknown metric `latncy_p95_ms` in --tolerance; the metrics of these results are: \
             latency_p95_ms, nodes"
        );
        let t = Tolerances::parse(&["bw_*=3".into()]).unwrap();
        assert!(
            t.check_known(&known)
                .unwrap_err()
                .starts_with("the pattern `bw_*` in --tolerance matches no metric;")
        );
    }

    #[test]
    fn undefined_values_are_not_comparable() {
        let base = ds(&[(
            "s1",
            &[
                ("latency_p50_ms", ""),
                ("delivery_rate_mean", ""),
                ("duplicates_mean", "NaN"),
            ],
        )]);
        let cur = ds(&[(
            "s1",
            &[
                ("latency_p50_ms", "0"),
                ("delivery_rate_mean", ""),
                ("duplicates_mean", "2"),
            ],
        )]);
        for (b, c) in [(&base, &cur), (&cur, &base)] {
            let lines = compare(b, c, &Tolerances::default()).unwrap();
            assert!(
                lines.iter().all(|l| l.status == Status::Undefined),
                "{lines:?}"
            );
            assert!(lines.iter().all(|l| l.change.is_none()));
            let text = render(&lines, false);
            assert!(text.contains(
                "\n3 values not comparable (n/a): undefined (an empty cell) in the baseline or the \
                 current results, e.g. the latency of a run without messages; neither better nor \
                 worse\n\nOK: 0 values compared, none regressed past its tolerance\n"
            ), "{text}");
        }
    }

    #[test]
    fn a_zero_baseline_makes_any_worsening_infinite() {
        let base = ds(&[("s1", &[("messages_not_fully_delivered", "0")])]);
        let cur = ds(&[("s1", &[("messages_not_fully_delivered", "1")])]);
        let lines = compare(&base, &cur, &Tolerances::default()).unwrap();
        assert_eq!(lines[0].status, Status::Worse);
        assert_eq!(lines[0].change_pct, Some(f64::INFINITY));
        let t = Tolerances::parse(&["messages_not_fully_delivered=inf".to_owned()]).unwrap();
        assert_eq!(compare(&base, &cur, &t).unwrap()[0].status, Status::Ok);
    }

    #[test]
    fn globs_and_precedence() {
        assert!(glob("latency_*", "latency_p95_ms"));
        assert!(glob("*_ms", "latency_p95_ms"));
        assert!(glob("*", "x"));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("latency_*", "bandwidth"));
        let t = Tolerances::parse(&["latency_p95_ms=1".into(), "latency_*=9".into()]).unwrap();
        assert_eq!(
            t.rule("latency_p95_ms").tolerance_pct,
            1.0,
            "exact beats pattern"
        );
        assert_eq!(t.rule("latency_p50_ms").tolerance_pct, 9.0);
        assert!(Tolerances::parse(&["x".into()]).is_err());
        assert!(Tolerances::parse(&["x=-1".into()]).is_err());
    }

    #[test]
    fn large_integers_compare_exactly() {
        // Both round to the same f64 but differ.
        let base = ds(&[("bench", &[("event_hash", "15979687622244106256")])]);
        let cur = ds(&[("bench", &[("event_hash", "15979687622244106257")])]);
        let lines = compare(&base, &cur, &Tolerances::default()).unwrap();
        assert_eq!(lines[0].status, Status::Mismatch);
    }

    #[test]
    fn changes_read_well() {
        assert_eq!(fmt_change(Some(-1260.469630652573)), "-1260.47");
        assert_eq!(fmt_change(Some(3.0)), "+3");
        assert_eq!(fmt_change(Some(0.004680279255364739)), "+0.00468028");
        assert_eq!(fmt_change(None), "");
    }

    #[test]
    fn default_directions() {
        assert_eq!(default_rule("latency_p50_ms").better, Better::Lower);
        assert_eq!(
            default_rule("bandwidth_out_mean_bytes_per_sec").better,
            Better::Lower
        );
        assert_eq!(default_rule("duplicates_mean").better, Better::Lower);
        assert_eq!(default_rule("delivery_rate_min").better, Better::Higher);
        assert_eq!(
            default_rule("dissemination_max_reached_fraction").better,
            Better::Higher
        );
        assert_eq!(
            default_rule("dissemination_p95_mean_ms").better,
            Better::Lower
        );
        assert_eq!(default_rule("events_per_sec").better, Better::Higher);
        assert_eq!(default_rule("ratio").better, Better::Higher);
        assert_eq!(default_rule("messages_published").better, Better::Match);
        assert_eq!(default_rule("events").better, Better::Info);
    }
}
