//! The results layout: file names, CSV columns, the manifest, and reading them back.
//!
//! A run directory (`<out>/<scenario name>/<run id>/`) holds:
//!
//! | file | contents |
//! |---|---|
//! | `scenario.toml` | the fully resolved scenario of this run (its seed included) |
//! | `summary.csv` | one row: [`SUMMARY_COLUMNS`], then the model's extra columns |
//! | `bandwidth.csv` | [`BANDWIDTH_COLUMNS`], long form |
//! | `timeseries.csv` | `time_s, metric, value`, long form |
//! | `latency.csv` | `latency_ms, count, cumulative_fraction` |
//! | model tables | e.g. `connections.csv` |
//! | `timing.csv` | [`TIMING_COLUMNS`]: machine measurements, differ between machines |
//! | plots | `bandwidth.png`, `latency-cdf.png`, `timeseries-<metric>.png` (and `.svg`) |
//! | `manifest.json` | [`Manifest`]; written last: a run is complete iff it exists |
//!
//! The files are written into a temporary directory next to the run directory, which replaces
//! it only when the run succeeded (see [`crate::runner::execute`]).
//!
//! Every file except `timing.csv` and the manifest's `machine` section is a deterministic
//! function of the resolved scenario and the seed: byte-identical on every machine.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::machine::Machine;
use crate::model::{RunResult, Summary};
use crate::output::fmt_f64;

/// The resolved scenario of the run.
pub const SCENARIO_FILE: &str = "scenario.toml";
/// One row of summary metrics.
pub const SUMMARY_FILE: &str = "summary.csv";
/// Bandwidth per node group, category and direction.
pub const BANDWIDTH_FILE: &str = "bandwidth.csv";
/// Time series, long form.
pub const TIMESERIES_FILE: &str = "timeseries.csv";
/// The latency distribution.
pub const LATENCY_FILE: &str = "latency.csv";
/// Machine measurements of the run.
pub const TIMING_FILE: &str = "timing.csv";
/// The manifest; its presence marks a complete run.
pub const MANIFEST_FILE: &str = "manifest.json";
/// A sweep's plan (runs, parameters, hashes).
pub const SWEEP_PLAN_FILE: &str = "sweep.json";
/// A sweep's summary: one row per run.
pub const SWEEP_FILE: &str = "sweep.csv";
/// A sweep's machine measurements: one row per run.
pub const SWEEP_TIMING_FILE: &str = "sweep-timing.csv";

/// Version of the results layout; bumped when a file's meaning changes.
pub const FORMAT_VERSION: u32 = 1;

/// Names a model's own tables cannot take.
pub const RESERVED_FILES: [&str; 7] = [
    SUMMARY_FILE,
    BANDWIDTH_FILE,
    TIMESERIES_FILE,
    LATENCY_FILE,
    TIMING_FILE,
    SWEEP_FILE,
    SWEEP_TIMING_FILE,
];

/// The fixed columns of `summary.csv`, in order; the model's extra columns follow.
pub const SUMMARY_COLUMNS: [&str; 18] = [
    "run_id",
    "seed",
    "nodes",
    "sim_seconds",
    "messages_published",
    "delivery_rate_mean",
    "delivery_rate_min",
    "messages_not_fully_delivered",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "duplicates_mean",
    "bandwidth_in_mean_bytes_per_sec",
    "bandwidth_out_mean_bytes_per_sec",
    "bandwidth_in_p95_bytes_per_sec",
    "bandwidth_out_p95_bytes_per_sec",
    "events",
];

/// The columns of `bandwidth.csv`.
pub const BANDWIDTH_COLUMNS: [&str; 8] = [
    "node_group",
    "category",
    "direction",
    "bytes_per_sec_mean",
    "bytes_per_sec_p50",
    "bytes_per_sec_p95",
    "bytes_per_sec_max",
    "messages",
];

/// The columns of `timing.csv`.
pub const TIMING_COLUMNS: [&str; 9] = [
    "run_id",
    "seed",
    "wall_s",
    "events",
    "events_per_sec",
    "wall_s_per_sim_s",
    "peak_rss_bytes",
    "peak_rss_bytes_per_node",
    "jobs",
];

/// A `summary.csv` cell: an undefined figure (NaN, e.g. the delivery rate of a run that
/// published no message) is an empty cell, which pandas reads as NaN.
pub fn summary_cell(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else {
        fmt_f64(x)
    }
}

/// The header and the row of `summary.csv` for a run.
pub fn summary_table(run_id: &str, seed: u64, r: &RunResult) -> (Vec<String>, Vec<String>) {
    let s: &Summary = &r.summary;
    let mut header: Vec<String> = SUMMARY_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    let mut row = vec![
        run_id.to_owned(),
        seed.to_string(),
        s.nodes.to_string(),
        summary_cell(s.sim_seconds),
        s.messages_published.to_string(),
        summary_cell(s.delivery_rate_mean),
        summary_cell(s.delivery_rate_min),
        s.messages_not_fully_delivered.to_string(),
        summary_cell(s.latency_p50_ms),
        summary_cell(s.latency_p95_ms),
        summary_cell(s.latency_p99_ms),
        summary_cell(s.latency_max_ms),
        summary_cell(s.duplicates_mean),
        summary_cell(s.bandwidth_in_mean_bytes_per_sec),
        summary_cell(s.bandwidth_out_mean_bytes_per_sec),
        summary_cell(s.bandwidth_in_p95_bytes_per_sec),
        summary_cell(s.bandwidth_out_p95_bytes_per_sec),
        r.engine.events.to_string(),
    ];
    for (name, value) in &s.extra {
        header.push(name.clone());
        row.push(summary_cell(*value));
    }
    (header, row)
}

/// Checks what a model returned against the layout's rules (a failure is a bug in the model).
pub fn check_result(r: &RunResult) -> anyhow::Result<()> {
    let mut names: Vec<&str> = SUMMARY_COLUMNS.to_vec();
    for (name, _) in &r.summary.extra {
        if !is_column_name(name) {
            bail!("summary column {name:?} is not snake_case (letters, digits, '_')");
        }
        if names.contains(&name.as_str()) {
            bail!("summary column `{name}` appears twice");
        }
        names.push(name);
    }
    let mut files: Vec<&str> = Vec::new();
    for t in &r.tables {
        let stem = t.file_name.strip_suffix(".csv").unwrap_or("");
        if stem.is_empty()
            || !stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            bail!(
                "table file name {:?} must be letters, digits, '-', '_' ending in .csv",
                t.file_name
            );
        }
        if RESERVED_FILES.contains(&t.file_name.as_str()) || files.contains(&t.file_name.as_str()) {
            bail!("table file name `{}` is taken", t.file_name);
        }
        files.push(&t.file_name);
        if let Some(row) = t.rows.iter().find(|r| r.len() != t.header.len()) {
            bail!(
                "a row of {} has {} fields but the header has {}",
                t.file_name,
                row.len(),
                t.header.len()
            );
        }
    }
    Ok(())
}

fn is_column_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The rows of `bandwidth.csv`.
pub fn bandwidth_rows(r: &RunResult) -> Vec<Vec<String>> {
    r.bandwidth
        .iter()
        .map(|b| {
            vec![
                b.node_group.clone(),
                b.category.clone(),
                b.direction.clone(),
                fmt_f64(b.bytes_per_sec_mean),
                fmt_f64(b.bytes_per_sec_p50),
                fmt_f64(b.bytes_per_sec_p95),
                fmt_f64(b.bytes_per_sec_max),
                b.messages.to_string(),
            ]
        })
        .collect()
}

/// The rows of `timeseries.csv`.
pub fn timeseries_rows(r: &RunResult) -> Vec<Vec<String>> {
    r.timeseries
        .iter()
        .map(|p| vec![fmt_f64(p.time_s), p.metric.clone(), fmt_f64(p.value)])
        .collect()
}

/// The rows of `latency.csv`.
pub fn latency_rows(r: &RunResult) -> Vec<Vec<String>> {
    r.latency
        .iter()
        .map(|l| {
            vec![
                fmt_f64(l.latency_ms),
                l.count.to_string(),
                fmt_f64(l.cumulative_fraction),
            ]
        })
        .collect()
}

/// The row of `timing.csv`.
pub fn timing_row(run_id: &str, seed: u64, events: u64, m: &Machine) -> Vec<String> {
    vec![
        run_id.to_owned(),
        seed.to_string(),
        fmt_f64(m.wall_s),
        events.to_string(),
        fmt_f64(m.events_per_sec),
        fmt_f64(m.wall_s_per_sim_s),
        m.peak_rss_bytes.to_string(),
        fmt_f64(m.peak_rss_bytes_per_node),
        m.jobs.to_string(),
    ]
}

/// Which sweep point a run belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepRef {
    /// The sweep's name.
    pub name: String,
    /// Index of the grid point.
    pub point: usize,
    /// The swept parameters' values at this point, by path.
    pub params: BTreeMap<String, toml::Value>,
}

/// The size and SHA-256 of a result file, to tell a complete file from a missing, cut or
/// changed one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheck {
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the contents, lower-case hex.
    pub sha256: String,
}

impl FileCheck {
    /// The check of `bytes`.
    pub fn of(bytes: &[u8]) -> FileCheck {
        FileCheck {
            bytes: bytes.len() as u64,
            sha256: crate::runner::hex(&sha2::Sha256::digest(bytes)),
        }
    }

    /// Whether the file at `path` is exactly the one checked: the size first (cheap), then
    /// the hash.
    pub fn matches(&self, path: &Path) -> bool {
        match fs::metadata(path) {
            Ok(m) if m.is_file() && m.len() == self.bytes => {}
            _ => return false,
        }
        fs::read(path).is_ok_and(|b| FileCheck::of(&b) == *self)
    }
}

/// `manifest.json`: what was run, with what, by which build, and what it cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The run's id (`s1`, `p003-s2`).
    pub run_id: String,
    /// The scenario's `name`.
    pub scenario_name: String,
    /// The model.
    pub model: String,
    /// The master seed.
    pub seed: u64,
    /// Version of the wakusim binary.
    pub wakusim_version: String,
    /// Git commit the binary was built from, or "unknown".
    pub git_commit: String,
    /// SHA-256 (hex) of the resolved scenario's canonical serialization (JSON, keys sorted,
    /// no spaces).
    pub scenario_sha256: String,
    /// Events the engine processed.
    pub events: u64,
    /// The engine's event-stream hash, 16 hex digits.
    pub event_hash: String,
    /// How to run it again: from this directory, `wakusim run scenario.toml`.
    pub reproduce: String,
    /// The sweep point, for a run of a sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepRef>,
    /// The result files of the run, in the order written (the manifest excluded).
    pub files: Vec<String>,
    /// Size and SHA-256 of each of `files` but `timing.csv` (whose check is in `machine`),
    /// by name: `--resume` reruns a run whose files do not match.
    #[serde(default)]
    pub checksums: BTreeMap<String, FileCheck>,
    /// The fully resolved scenario, every default filled in.
    pub scenario: serde_json::Value,
    /// Measurements of the machine; the only part that differs between machines.
    pub machine: Machine,
}

impl Manifest {
    /// The manifest as written: pretty JSON with a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec_pretty(self).expect("a manifest always serializes");
        b.push(b'\n');
        b
    }
}

impl Manifest {
    /// Whether every file of the run in `dir` is there, whole and unchanged: each of `files`
    /// has a check (in `checksums`, or `machine.timing_csv` for `timing.csv`) and matches it.
    /// A manifest without checks (written by an older wakusim) cannot tell, so it is not.
    pub fn files_intact(&self, dir: &Path) -> bool {
        self.files.iter().all(|name| {
            let check = if name == TIMING_FILE {
                self.machine.timing_csv.as_ref()
            } else {
                self.checksums.get(name)
            };
            check.is_some_and(|c| c.matches(&dir.join(name)))
        })
    }
}

/// The manifest of a complete run in `dir`, or `None` when the run is incomplete (no
/// manifest) or the manifest does not parse.
pub fn read_manifest(dir: &Path) -> Option<Manifest> {
    let bytes = fs::read(dir.join(MANIFEST_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A CSV file: header and rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CsvTable {
    /// Column names.
    pub header: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<String>>,
}

impl CsvTable {
    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
    /// The numeric values of column `name` (unparseable cells are skipped).
    pub fn numbers(&self, name: &str) -> Vec<f64> {
        match self.column(name) {
            Some(i) => self
                .rows
                .iter()
                .filter_map(|r| r.get(i)?.parse().ok())
                .collect(),
            None => Vec::new(),
        }
    }
}

/// Reads a CSV file with a header.
pub fn read_csv(path: &Path) -> anyhow::Result<CsvTable> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let header = r
        .headers()
        .with_context(|| format!("cannot read the header of {}", path.display()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.with_context(|| format!("malformed CSV in {}", path.display()))?;
        rows.push(rec.iter().map(str::to_owned).collect());
    }
    Ok(CsvTable { header, rows })
}

/// Joins tables row-wise: columns are the union of all headers in order of first appearance
/// (`prefix` columns first); a cell a table does not have is left empty.
pub fn union_tables(prefix: &[String], parts: &[(Vec<String>, CsvTable)]) -> CsvTable {
    let mut header: Vec<String> = prefix.to_vec();
    for (_, t) in parts {
        for h in &t.header {
            if !header.contains(h) {
                header.push(h.clone());
            }
        }
    }
    let rows = parts
        .iter()
        .flat_map(|(pre, t)| {
            let header = &header;
            t.rows.iter().map(move |r| {
                let mut row = vec![String::new(); header.len()];
                row[..pre.len()].clone_from_slice(pre);
                for (h, v) in t.header.iter().zip(r) {
                    let i = header.iter().position(|x| x == h).expect("in the union");
                    row[i] = v.clone();
                }
                row
            })
        })
        .collect();
    CsvTable { header, rows }
}
