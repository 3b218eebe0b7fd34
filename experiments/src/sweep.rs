//! Sweep files: a base scenario, fixed overrides, a grid of parameter values and seeds; the
//! plan of runs they expand to; and shards of that plan.
//!
//! ```toml
//! name = "flood-fanout"            # default: the sweep file's name without .toml
//! description = "delivery vs chords"
//! scenario = "flood-small"         # a path relative to this file, or a bundled scenario
//! seeds = 3                        # a count (counting up from run.seed) or a list [1, 5, 9]
//!
//! [set]                            # overrides applied to every run
//! "run.duration_s" = 20
//!
//! [grid]                           # every combination of these values is a grid point
//! "flood.chords" = [0, 1, 2, 4]
//! "flood.message_size_bytes" = { linear = [100, 1000], steps = 4 }
//! "network.latency_ms" = { log = [1, 100], steps = 3 }
//! ```
//!
//! Grid parameters are ordered by path (alphabetically); points enumerate the combinations with
//! the first parameter varying slowest. Run `index = point * seeds + seed position`; its id is
//! `p<point>-s<seed>` with the point zero-padded to at least 3 digits (`p003-s2`). Runs and
//! result rows are ordered by index.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml::{Table, Value};

use crate::model::{FieldError, Model, Scenario, SeedSpec};
use crate::runner;
use crate::scenario::{
    self, Diagnostic, Location, Override, RawScenario, ScenarioError, Seg, find_span, format_path,
    line_col,
};

/// Most grid points a sweep may have.
pub const MAX_POINTS: usize = 100_000;
/// Most runs a sweep may have.
pub const MAX_RUNS: usize = 1_000_000;

/// One swept parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct GridParam {
    /// The field path (`flood.nodes`).
    pub path: String,
    /// Its values, in order.
    pub values: Vec<Value>,
    /// Where the sweep file names it.
    pub at: Location,
}

/// A parsed sweep file.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepFile {
    /// The sweep's name: its results go to `<out>/<name>/`.
    pub name: String,
    /// One line of description.
    pub description: String,
    /// The base scenario as the sweep file names it.
    pub scenario: String,
    /// The base scenario to load: a path (relative to the current directory) or a bundled name.
    pub scenario_spec: String,
    /// Seeds, when the sweep file gives them.
    pub seeds: Option<SeedSpec>,
    /// Overrides applied to every run.
    pub set: Vec<Override>,
    /// The grid, ordered by path.
    pub grid: Vec<GridParam>,
}

struct SweepText<'a> {
    display: String,
    text: &'a str,
}

impl SweepText<'_> {
    fn at(&self, path: &[Seg]) -> Location {
        let (line, column) = find_span(self.text, path)
            .map(|s| line_col(self.text, s.start))
            .unwrap_or((1, 1));
        Location {
            file: self.display.clone(),
            line,
            column,
        }
    }
    fn err(&self, path: &[Seg], message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            location: self.at(path).to_string(),
            path: format_path(path),
            message: message.into(),
        }
    }
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

/// Rounds to 12 significant digits, so that computed grid values print as written
/// (0.2, not 0.19999999999999998) and do not depend on the last bit of the C library's `pow`.
fn round12(x: f64) -> f64 {
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// Expands `{ linear = [a, b], steps = n }` or `{ log = [a, b], steps = n }`.
///
/// Linear: `a + (b - a) * i / (n - 1)`; log: `a * (b / a)^(i / (n - 1))`, for i in 0..n; the
/// ends are exactly a and b. Values are rounded to 12 significant digits, or to the nearest
/// integer when a and b are both integers (then values must not repeat).
pub fn expand_range(spec: &Table) -> Result<Vec<Value>, String> {
    let allowed = ["linear", "log", "steps"];
    if let Some(k) = spec.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "unknown key `{k}` in a range: expected `linear` or `log`, and `steps`"
        ));
    }
    let (kind, ends) = match (spec.get("linear"), spec.get("log")) {
        (Some(e), None) => ("linear", e),
        (None, Some(e)) => ("log", e),
        _ => return Err("a range has exactly one of `linear = [a, b]` or `log = [a, b]`".into()),
    };
    let Some(Value::Array(ends)) = Some(ends) else {
        return Err(format!("`{kind}` must be a list of two numbers [a, b]"));
    };
    let num = |v: &Value| match v {
        Value::Integer(i) => Some((*i as f64, true)),
        Value::Float(f) if f.is_finite() => Some((*f, false)),
        _ => None,
    };
    let (Some((a, ai)), Some((b, bi)), 2) = (
        ends.first().and_then(num),
        ends.get(1).and_then(num),
        ends.len(),
    ) else {
        return Err(format!(
            "`{kind}` must be a list of two finite numbers [a, b]"
        ));
    };
    let steps = match spec.get("steps") {
        Some(Value::Integer(n)) if (1..=MAX_POINTS as i64).contains(n) => *n as usize,
        Some(_) => return Err(format!("`steps` must be an integer from 1 to {MAX_POINTS}")),
        None => {
            return Err("a range needs `steps = n` (the number of values, ends included)".into());
        }
    };
    if kind == "log" && !(a > 0.0 && b > 0.0) {
        return Err(format!("a log range needs positive ends, got [{a}, {b}]"));
    }
    let integers = ai && bi;
    let mut out = Vec::with_capacity(steps);
    for i in 0..steps {
        let x = if i == 0 {
            a
        } else if i == steps - 1 {
            b
        } else {
            let t = i as f64 / (steps - 1) as f64;
            match kind {
                "linear" => a + (b - a) * t,
                _ => a * (b / a).powf(t),
            }
        };
        let v = if integers {
            Value::Integer(x.round() as i64)
        } else {
            Value::Float(round12(x))
        };
        if out.contains(&v) {
            return Err(format!(
                "the range repeats the value {v} (integer ends round every value to an integer): \
                 use fewer steps or float ends"
            ));
        }
        out.push(v);
    }
    Ok(out)
}

/// Flattens a `[grid]` or `[set]` table into (path, value) leaves: keys with dots and nested
/// tables both make paths; for `[grid]`, a table with `linear` or `log` is a leaf.
fn leaves(t: &Table, prefix: &mut Vec<String>, ranges: bool, out: &mut Vec<(Vec<String>, Value)>) {
    for (k, v) in t {
        let n = prefix.len();
        prefix.extend(k.split('.').map(str::to_owned));
        match v {
            Value::Table(inner)
                if !(ranges && (inner.contains_key("linear") || inner.contains_key("log"))) =>
            {
                leaves(inner, prefix, ranges, out)
            }
            _ => out.push((prefix.clone(), v.clone())),
        }
        prefix.truncate(n);
    }
}

/// The span path of a leaf in the sweep file: each original key, quoted or nested.
fn leaf_segs(section: &str, t: &Table, path: &[String]) -> Vec<Seg> {
    // Find the original key sequence: at each level try the longest dotted prefix present.
    let mut segs = vec![key(section)];
    let mut table = Some(t);
    let mut i = 0;
    while i < path.len() {
        let Some(tt) = table else { break };
        let found = (i + 1..=path.len())
            .rev()
            .find(|&j| tt.contains_key(&path[i..j].join(".")));
        let Some(j) = found else { break };
        let k = path[i..j].join(".");
        table = match tt.get(&k) {
            Some(Value::Table(inner)) => Some(inner),
            _ => None,
        };
        segs.push(Seg::Key(k));
        i = j;
    }
    segs
}

/// Reads and checks a sweep file.
pub fn load_sweep(path: &Path) -> Result<SweepFile, ScenarioError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        diagnostics: vec![Diagnostic {
            location: display.clone(),
            path: String::new(),
            message: format!("cannot read the sweep file: {e}"),
        }],
    })?;
    let dir = path.parent().map(Path::to_owned).unwrap_or_default();
    parse_sweep(
        &display,
        &text,
        &dir,
        path.file_stem().map(|s| s.to_string_lossy().into_owned()),
    )
}

/// Loads a sweep named on the command line: a path to a sweep file, or else the name of a
/// bundled sweep (`communities-shards`, from `experiments/scenarios/sweeps/`). A bundled
/// sweep's base scenario is the bundled scenario its `scenario` names (`../communities.toml`
/// or `communities`).
pub fn load_sweep_spec(spec: &str) -> Result<SweepFile, ScenarioError> {
    let path = Path::new(spec);
    if path.exists() {
        return load_sweep(path);
    }
    let Some((file, text)) = scenario::bundled::get_sweep(spec) else {
        return Err(ScenarioError::one(
            spec,
            "",
            format!(
                "no such sweep file, and no bundled sweep of that name (the bundled ones: {})",
                scenario::bundled::BUNDLED_SWEEPS
                    .iter()
                    .map(|(n, _)| n.strip_suffix(".toml").unwrap_or(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    let display = format!("bundled:sweeps/{file}");
    let stem = file.strip_suffix(".toml").map(str::to_owned);
    let mut sweep = parse_sweep(&display, text, Path::new(""), stem)?;
    let base = sweep
        .scenario
        .trim_start_matches("./")
        .trim_start_matches("../");
    match scenario::bundled::get(base) {
        Some((name, _)) => {
            sweep.scenario_spec = name.strip_suffix(".toml").unwrap_or(name).to_owned();
            Ok(sweep)
        }
        None => Err(ScenarioError::one(
            display,
            "scenario",
            format!(
                "the bundled sweep's base scenario `{}` is not a bundled scenario",
                sweep.scenario
            ),
        )),
    }
}

/// Parses a sweep file's text; `dir` is the directory its scenario path is relative to.
pub fn parse_sweep(
    display: &str,
    text: &str,
    dir: &Path,
    stem: Option<String>,
) -> Result<SweepFile, ScenarioError> {
    let st = SweepText {
        display: display.to_owned(),
        text,
    };
    let doc: Table = toml::from_str(text).map_err(|e| {
        let location = match e.span() {
            Some(s) => {
                let (line, column) = line_col(text, s.start);
                Location {
                    file: display.to_owned(),
                    line,
                    column,
                }
                .to_string()
            }
            None => display.to_owned(),
        };
        ScenarioError {
            diagnostics: vec![Diagnostic {
                location,
                path: String::new(),
                message: format!("invalid TOML: {}", e.message()),
            }],
        }
    })?;
    let mut diags = Vec::new();
    for k in doc.keys() {
        if !["name", "description", "scenario", "seeds", "set", "grid"].contains(&k.as_str()) {
            diags.push(st.err(
                &[key(k)],
                format!(
                    "unknown field `{k}` in a sweep file, expected one of `name`, `description`, \
                     `scenario`, `seeds`, `set`, `grid`"
                ),
            ));
        }
    }
    let string = |k: &str, diags: &mut Vec<Diagnostic>| match doc.get(k) {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            diags.push(st.err(&[key(k)], "expected a string"));
            None
        }
    };
    let name = string("name", &mut diags)
        .or(stem)
        .unwrap_or_else(|| "sweep".to_owned());
    if name.is_empty()
        || name == "."
        || name == ".."
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        diags.push(st.err(
            &[key("name")],
            format!("{name:?} cannot name a results directory: use letters, digits, '-', '_', '.'"),
        ));
    }
    let description = string("description", &mut diags).unwrap_or_default();
    let scenario = string("scenario", &mut diags);
    if scenario.is_none() && !doc.contains_key("scenario") {
        diags.push(Diagnostic {
            location: display.to_owned(),
            path: String::new(),
            message: "missing field `scenario`: name the base scenario (a path relative to the \
                      sweep file, or a bundled scenario such as \"flood-small\")"
                .to_owned(),
        });
    }
    let scenario_spec = scenario.as_ref().map(|s| {
        let p = dir.join(s);
        if p.exists() || scenario::bundled::get(s).is_none() {
            p.display().to_string()
        } else {
            s.clone()
        }
    });
    let seeds = match doc.get("seeds") {
        None => None,
        Some(v) => match SeedSpec::deserialize(v.clone()) {
            Ok(s) => {
                let mut errs: Vec<FieldError> = Vec::new();
                s.validate("seeds", 1, &mut errs);
                for e in errs {
                    diags.push(st.err(&[key("seeds")], e.message));
                }
                Some(s)
            }
            Err(e) => {
                diags.push(st.err(&[key("seeds")], e.message().to_owned()));
                None
            }
        },
    };
    let mut set = Vec::new();
    match doc.get("set") {
        None => {}
        Some(Value::Table(t)) => {
            let mut out = Vec::new();
            leaves(t, &mut Vec::new(), false, &mut out);
            for (path, value) in out {
                let segs = leaf_segs("set", t, &path);
                let at = st.at(&segs);
                let dotted = path.join(".");
                match Override::new(
                    &dotted,
                    value.clone(),
                    format!("set `{dotted}` = {value}"),
                    Some(at),
                ) {
                    Ok(o) => set.push(o),
                    Err(e) => diags.push(st.err(&segs, e)),
                }
            }
        }
        Some(_) => diags.push(st.err(&[key("set")], "expected a table of field paths and values")),
    }
    let mut grid = Vec::new();
    match doc.get("grid") {
        None => {}
        Some(Value::Table(t)) => {
            let mut out = Vec::new();
            leaves(t, &mut Vec::new(), true, &mut out);
            for (path, value) in out {
                let segs = leaf_segs("grid", t, &path);
                let dotted = path.join(".");
                if matches!(dotted.as_str(), "run.seed" | "run.seeds") {
                    diags.push(st.err(
                        &segs,
                        "seeds are not a grid parameter: use the sweep file's `seeds`",
                    ));
                    continue;
                }
                if dotted == "extends" || dotted.is_empty() {
                    diags.push(st.err(&segs, format!("`{dotted}` cannot be swept")));
                    continue;
                }
                if let Err(e) = scenario::parse_override_path(&dotted) {
                    diags.push(st.err(&segs, e));
                    continue;
                }
                let values = match &value {
                    Value::Array(v) if !v.is_empty() => Ok(v.clone()),
                    Value::Array(_) => Err("an empty list of values".to_owned()),
                    Value::Table(r) => expand_range(r),
                    other => Err(format!(
                        "expected a list of values, or {{ linear = [a, b], steps = n }}, or \
                         {{ log = [a, b], steps = n }}, found {}",
                        other.type_str()
                    )),
                };
                match values {
                    Ok(values) => grid.push(GridParam {
                        path: dotted,
                        values,
                        at: st.at(&segs),
                    }),
                    Err(e) => diags.push(st.err(&segs, e)),
                }
            }
        }
        Some(_) => diags.push(st.err(&[key("grid")], "expected a table of field paths and values")),
    }
    grid.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(w) = grid.windows(2).find(|w| w[0].path == w[1].path) {
        diags.push(Diagnostic {
            location: w[1].at.to_string(),
            path: format!("grid.{}", w[1].path),
            message: "this parameter is swept twice".to_owned(),
        });
    }
    let points = grid
        .iter()
        .try_fold(1usize, |acc, g| acc.checked_mul(g.values.len()))
        .filter(|p| *p <= MAX_POINTS);
    if points.is_none() {
        diags.push(Diagnostic {
            location: display.to_owned(),
            path: "grid".to_owned(),
            message: format!("the grid has more than {MAX_POINTS} points"),
        });
    }
    if !diags.is_empty() {
        return Err(ScenarioError { diagnostics: diags });
    }
    Ok(SweepFile {
        name,
        description,
        scenario: scenario.unwrap_or_default(),
        scenario_spec: scenario_spec.unwrap_or_default(),
        seeds,
        set,
        grid,
    })
}

impl SweepFile {
    /// Number of grid points (1 for an empty grid).
    pub fn points(&self) -> usize {
        self.grid.iter().map(|g| g.values.len()).product()
    }

    /// The parameter values of grid point `p`: the first parameter varies slowest.
    pub fn point(&self, mut p: usize) -> Vec<(&str, &Value)> {
        let mut out = Vec::with_capacity(self.grid.len());
        for g in self.grid.iter().rev() {
            out.push((g.path.as_str(), &g.values[p % g.values.len()]));
            p /= g.values.len();
        }
        out.reverse();
        out
    }

    /// The swept parameters' paths, in column order.
    pub fn parameters(&self) -> Vec<String> {
        self.grid.iter().map(|g| g.path.clone()).collect()
    }
}

/// The id of the run of grid point `point` with `seed`, for a sweep of `points` points.
pub fn run_id(point: usize, seed: u64, points: usize) -> String {
    let width = points.saturating_sub(1).to_string().len().max(3);
    format!("p{point:0width$}-s{seed}")
}

/// The order in which a sweep starts its runs: `runs` (plan indices, each with its
/// [`Model::cost_estimate`]) longest first, equal costs by index. Workers take the next run
/// from this queue as they finish one, so the long runs start first and the short ones fill in
/// at the end: the jobs finish close together (the longest-processing-time-first rule).
/// Only the order runs start in changes: each run's results, and the sweep's tables (ordered
/// by index), are the same whatever the order.
pub fn run_order(runs: &[(usize, f64)]) -> Vec<usize> {
    let mut v = runs.to_vec();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(i, _)| i).collect()
}

/// One run of a sweep's plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanRun {
    /// Position in the plan (`point * seeds + seed position`).
    pub index: usize,
    /// `p003-s2`.
    pub run_id: String,
    /// Grid point.
    pub point: usize,
    /// Seed.
    pub seed: u64,
    /// The swept parameters' values.
    pub params: BTreeMap<String, Value>,
    /// Hash of the run's resolved scenario (as in its manifest).
    pub scenario_sha256: String,
}

/// `sweep.json`: every run of a sweep. Identical for every shard of the same sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPlan {
    /// Layout version ([`crate::results::FORMAT_VERSION`]).
    pub format_version: u32,
    /// The sweep's name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// The base scenario as the sweep file names it.
    pub scenario: String,
    /// The swept parameters, in column order.
    pub parameters: Vec<String>,
    /// The seeds of every point.
    pub seeds: Vec<u64>,
    /// Number of grid points.
    pub points: usize,
    /// SHA-256 of the runs' ids and scenario hashes: equal plans run the same runs.
    pub plan_sha256: String,
    /// The runs, by index.
    pub runs: Vec<PlanRun>,
}

impl SweepPlan {
    /// The plan as written to `sweep.json`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec_pretty(self).expect("a plan serializes");
        b.push(b'\n');
        b
    }
}

/// A sweep's plan with every run's resolved scenario.
#[derive(Clone, Debug)]
pub struct Planned<P> {
    /// The plan (`sweep.json`).
    pub plan: SweepPlan,
    /// The resolved scenario of each run, by index.
    pub scenarios: Vec<Scenario<P>>,
}

/// Expands a sweep for model `M` over the base scenario `base` (already loaded, `set` not yet
/// applied): resolves and validates every grid point before anything runs.
pub fn plan<M: Model>(
    sweep: &SweepFile,
    base: &RawScenario,
) -> Result<Planned<M::Params>, ScenarioError> {
    let mut base = base.clone();
    for o in &sweep.set {
        base.apply(o)?;
    }
    let points = sweep.points();
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut scenarios = Vec::with_capacity(points);
    for p in 0..points {
        let mut raw = base.clone();
        let values = sweep.point(p);
        for (g, (path, value)) in sweep.grid.iter().zip(&values) {
            let o = Override::new(
                path,
                (*value).clone(),
                format!("grid `{path}` = {value}"),
                Some(g.at.clone()),
            )
            .map_err(|e| ScenarioError {
                diagnostics: vec![Diagnostic {
                    location: g.at.to_string(),
                    path: (*path).to_owned(),
                    message: e,
                }],
            })?;
            raw.apply(&o)?;
        }
        match raw.resolve::<M>() {
            Ok(s) => scenarios.push(s),
            Err(e) => {
                let at: Vec<String> = values.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                for mut d in e.diagnostics {
                    if !at.is_empty() {
                        d.message = format!("{} (grid point {p}: {})", d.message, at.join(", "));
                    }
                    if !diags.contains(&d) {
                        diags.push(d);
                    }
                }
            }
        }
    }
    if !diags.is_empty() {
        return Err(ScenarioError { diagnostics: diags });
    }
    let first = &scenarios[0].common.run;
    let seeds = match &sweep.seeds {
        Some(s) => s.resolve(first.seed),
        None => first.seed_list(),
    };
    if points.saturating_mul(seeds.len()) > MAX_RUNS {
        return Err(ScenarioError {
            diagnostics: vec![Diagnostic {
                location: String::new(),
                path: String::new(),
                message: format!(
                    "{points} points x {} seeds is more than {MAX_RUNS} runs",
                    seeds.len()
                ),
            }],
        });
    }
    let mut runs = Vec::with_capacity(points * seeds.len());
    let mut run_scenarios = Vec::with_capacity(points * seeds.len());
    for (p, s) in scenarios.iter().enumerate() {
        let params: BTreeMap<String, Value> = sweep
            .point(p)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect();
        for &seed in &seeds {
            let rs = runner::for_seed(s, seed);
            runs.push(PlanRun {
                index: runs.len(),
                run_id: run_id(p, seed, points),
                point: p,
                seed,
                params: params.clone(),
                scenario_sha256: runner::scenario_sha256(&rs),
            });
            run_scenarios.push(rs);
        }
    }
    let mut h = Sha256::new();
    for r in &runs {
        h.update(r.run_id.as_bytes());
        h.update(b"\0");
        h.update(r.scenario_sha256.as_bytes());
        h.update(b"\n");
    }
    let plan = SweepPlan {
        format_version: crate::results::FORMAT_VERSION,
        name: sweep.name.clone(),
        description: sweep.description.clone(),
        scenario: sweep.scenario.clone(),
        parameters: sweep.parameters(),
        seeds,
        points,
        plan_sha256: runner::hex(&h.finalize()),
        runs,
    };
    Ok(Planned {
        plan,
        scenarios: run_scenarios,
    })
}

/// A slice of a sweep's runs: those whose index modulo `count` is `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 0-based shard index, below `count`.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

/// Environment variables `--shard env/N` reads the shard index from, first found wins.
pub const SHARD_ENV: [&str; 3] = [
    "WAKUSIM_SHARD_INDEX",
    "SLURM_ARRAY_TASK_ID",
    "JOB_COMPLETION_INDEX",
];

impl Shard {
    /// Whether the run with plan index `i` belongs to this shard.
    pub fn contains(&self, i: usize) -> bool {
        i % self.count == self.index
    }

    /// Parses `I/N` (1-based I) or `env/N`, reading the index from the environment through
    /// `var`: `WAKUSIM_SHARD_INDEX` (0-based), else `SLURM_ARRAY_TASK_ID` minus
    /// `SLURM_ARRAY_TASK_MIN` (0 when unset, so `--array=0-(N-1)` and `--array=1-N` both work),
    /// else `JOB_COMPLETION_INDEX` (0-based, Kubernetes Indexed Jobs).
    pub fn parse(s: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let usage =
            || format!("`{s}` is not a shard: expected I/N with 1 <= I <= N (e.g. 2/8), or env/N");
        let (i, n) = s.split_once('/').ok_or_else(usage)?;
        let count: usize = n.trim().parse().map_err(|_| usage())?;
        if count == 0 {
            return Err(usage());
        }
        let index = if i.trim() == "env" {
            let (name, value) = SHARD_ENV
                .iter()
                .find_map(|k| var(k).map(|v| (*k, v)))
                .ok_or_else(|| {
                    format!(
                        "--shard env/{count}: none of {} is set",
                        SHARD_ENV.join(", ")
                    )
                })?;
            let parse = |v: &str, what: &str| {
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("{what} = {v:?} is not a non-negative integer"))
            };
            let mut idx = parse(&value, name)?;
            if name == "SLURM_ARRAY_TASK_ID" {
                if let Some(min) = var("SLURM_ARRAY_TASK_MIN") {
                    let min = parse(&min, "SLURM_ARRAY_TASK_MIN")?;
                    idx = idx.checked_sub(min).ok_or_else(|| {
                        "SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN".to_owned()
                    })?;
                }
            }
            if idx >= count {
                return Err(format!(
                    "the shard index from {name} ({idx}, counted from 0) is not below the shard \
                     count {count}: run {count} tasks (Slurm: --array=0-{} or --array=1-{count}; \
                     Kubernetes: completions: {count})",
                    count - 1
                ));
            }
            idx
        } else {
            let i: usize = i.trim().parse().map_err(|_| usage())?;
            if i == 0 || i > count {
                return Err(usage());
            }
            i - 1
        };
        Ok(Shard { index, count })
    }
}

/// The run directory of a sweep's run.
pub fn run_dir(sweep_dir: &Path, run_id: &str) -> PathBuf {
    sweep_dir.join(run_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[i64]) -> Vec<Value> {
        v.iter().map(|i| Value::Integer(*i)).collect()
    }
    fn floats(v: &[f64]) -> Vec<Value> {
        v.iter().map(|f| Value::Float(*f)).collect()
    }
    fn range(s: &str) -> Result<Vec<Value>, String> {
        expand_range(&toml::from_str::<Table>(s).unwrap())
    }

    #[test]
    fn linear_and_log_ranges_by_hand() {
        // 100 + 900 * i / 3 for i = 0..4: 100, 400, 700, 1000.
        assert_eq!(
            range("linear = [100, 1000]\nsteps = 4").unwrap(),
            ints(&[100, 400, 700, 1000])
        );
        // 0.1 + 0.2 * i / 2: 0.1, 0.2 (0.19999999999999998 before rounding), 0.3.
        assert_eq!(
            range("linear = [0.1, 0.3]\nsteps = 3").unwrap(),
            floats(&[0.1, 0.2, 0.3])
        );
        // 1 * 1000^(i/3): 1, 10 (9.999999999999998 from powf), 100, 1000.
        assert_eq!(
            range("log = [1, 1000]\nsteps = 4").unwrap(),
            ints(&[1, 10, 100, 1000])
        );
        // 1.0 * 100^(i/4): 1, 3.16227766017, 10, 31.6227766017, 100.
        assert_eq!(
            range("log = [1.0, 100.0]\nsteps = 5").unwrap(),
            floats(&[1.0, 3.16227766017, 10.0, 31.6227766017, 100.0])
        );
        // Integer ends, 2 + 1 * i / 3 rounds to 2, 2, 3, 3: repeats are refused.
        assert!(
            range("linear = [2, 3]\nsteps = 4")
                .unwrap_err()
                .contains("repeats")
        );
        assert_eq!(range("linear = [5, 9]\nsteps = 1").unwrap(), ints(&[5]));
        assert!(
            range("log = [0, 10]\nsteps = 3")
                .unwrap_err()
                .contains("positive")
        );
        assert!(range("linear = [1]\nsteps = 3").is_err());
        assert!(range("linear = [1, 2]").unwrap_err().contains("steps"));
        assert!(
            range("linear = [1, 2]\nsteps = 2\nstep = 1")
                .unwrap_err()
                .contains("unknown key")
        );
    }

    #[test]
    fn grid_points_enumerate_with_the_first_parameter_slowest() {
        let dir = tempfile::tempdir().unwrap();
        let text = "scenario = \"base.toml\"\n[grid]\n\"b.y\" = [\"u\", \"v\"]\na.x = [1, 2, 3]\n";
        let s = parse_sweep("s.toml", text, dir.path(), Some("s".into())).unwrap();
        assert_eq!(s.parameters(), vec!["a.x", "b.y"], "ordered by path");
        assert_eq!(s.points(), 6);
        let show = |p| {
            s.point(p)
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(show(0), "a.x=1,b.y=\"u\"");
        assert_eq!(show(1), "a.x=1,b.y=\"v\"");
        assert_eq!(show(2), "a.x=2,b.y=\"u\"");
        assert_eq!(show(5), "a.x=3,b.y=\"v\"");
        assert_eq!(s.grid[0].at.line, 4, "a nested dotted key is located");
        assert_eq!(s.grid[1].at.line, 3, "a quoted dotted key is located");
        assert_eq!(s.name, "s");
    }

    #[test]
    fn sweep_file_errors_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let err = parse_sweep(
            "s.toml",
            "scenario = \"x\"\nsedes = 3\n[grid]\n\"run.seed\" = [1, 2]\n\"a.b\" = 3\n\
             \"a.c[x].d\" = [1]\n",
            dir.path(),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("s.toml:2:1: field `sedes`: unknown field"),
            "{err}"
        );
        assert!(
            err.contains("s.toml:4:1: field `grid.run.seed`: seeds are not a grid parameter"),
            "{err}"
        );
        assert!(
            err.contains("s.toml:5:1: field `grid.a.b`: expected a list of values"),
            "{err}"
        );
        assert!(
            err.contains("s.toml:6:1: field `grid.a.c[x].d`: `a.c[x].d` is not a field path"),
            "{err}"
        );
        // An index is a valid step of a grid path.
        let s = parse_sweep(
            "s.toml",
            "scenario = \"x\"\n[grid]\n\"network.faults[0].end_s\" = [10, 20]\n",
            dir.path(),
            None,
        )
        .unwrap();
        assert_eq!(s.parameters(), vec!["network.faults[0].end_s"]);
    }

    #[test]
    fn run_ids_pad_the_point() {
        assert_eq!(run_id(3, 2, 10), "p003-s2");
        assert_eq!(run_id(3, 2, 1001), "p0003-s2");
        assert_eq!(run_id(0, 17, 1), "p000-s17");
    }

    #[test]
    fn runs_start_longest_first() {
        // Costs 1, 4, 2, 4, 3 at indices 0..5: the two 4s first (by index), then 3, 2, 1.
        let runs = [(0, 1.0), (1, 4.0), (2, 2.0), (3, 4.0), (4, 3.0)];
        assert_eq!(run_order(&runs), vec![1, 3, 4, 2, 0]);
        // Equal costs keep the plan's order.
        assert_eq!(run_order(&[(5, 2.0), (7, 2.0), (9, 2.0)]), vec![5, 7, 9]);
        assert_eq!(run_order(&[]), Vec::<usize>::new());
    }

    #[test]
    fn shards_partition_the_runs_exactly() {
        for n in 1..=7 {
            let shards: Vec<Shard> = (1..=n)
                .map(|i| Shard::parse(&format!("{i}/{n}"), &|_| None).unwrap())
                .collect();
            for run in 0..50 {
                let owners = shards.iter().filter(|s| s.contains(run)).count();
                assert_eq!(owners, 1, "run {run} with {n} shards");
            }
        }
        assert!(Shard::parse("0/3", &|_| None).is_err());
        assert!(Shard::parse("4/3", &|_| None).is_err());
        assert!(Shard::parse("1/0", &|_| None).is_err());
        assert!(Shard::parse("x", &|_| None).is_err());
    }

    #[test]
    fn shard_index_from_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        // Kubernetes: 0-based.
        let s = Shard::parse("env/4", &env(&[("JOB_COMPLETION_INDEX", "3")])).unwrap();
        assert_eq!((s.index, s.count), (3, 4));
        // Slurm --array=1-4: task 1 is the first shard.
        let s = Shard::parse(
            "env/4",
            &env(&[("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_MIN", "1")]),
        )
        .unwrap();
        assert_eq!(s.index, 0);
        // Slurm --array=0-3.
        let s = Shard::parse(
            "env/4",
            &env(&[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "0")]),
        )
        .unwrap();
        assert_eq!(s.index, 3);
        let e = Shard::parse("env/4", &env(&[("SLURM_ARRAY_TASK_ID", "4")])).unwrap_err();
        assert!(e.contains("not below the shard count 4"), "{e}");
        assert!(
            Shard::parse("env/4", &env(&[]))
                .unwrap_err()
                .contains("none of")
        );
        let s = Shard::parse(
            "env/2",
            &env(&[("WAKUSIM_SHARD_INDEX", "1"), ("JOB_COMPLETION_INDEX", "0")]),
        )
        .unwrap();
        assert_eq!(s.index, 1, "WAKUSIM_SHARD_INDEX wins");
    }
}
