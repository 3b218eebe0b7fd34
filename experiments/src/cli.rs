//! The subcommands of `wakusim`: their arguments (clap) and what they do. The binary
//! (`src/main.rs`) only parses the command line, sets up logging and reports errors.
//!
//! Exit status: [`EXIT_OK`] on success, [`EXIT_ERROR`] for any error (a bad scenario, a file
//! that cannot be read or written, a failed run), [`EXIT_USAGE`] for a malformed command line,
//! [`EXIT_REGRESSION`] when `wakusim compare` finds a regression.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::compare;
use crate::machine::{peak_rss_bytes, total_memory_bytes};
use crate::merge;
use crate::model::{Model, OutputSection, PlotFormat, Scenario};
use crate::models::{ModelKind, ModelTask, with_model};
use crate::output::{csv_bytes, write_atomic};
use crate::plot;
use crate::progress;
use crate::results::{self, read_csv, read_manifest, union_tables};
use crate::runner::{self, RunSpec};
use crate::scenario::{self, Override, RawScenario};
use crate::sweep::{self, Shard};

/// Success.
pub const EXIT_OK: u8 = 0;
/// An error: bad input, a file problem, a failed run.
pub const EXIT_ERROR: u8 = 1;
/// A malformed command line.
pub const EXIT_USAGE: u8 = 2;
/// `wakusim compare` found a metric past its tolerance, a mismatch or a missing row.
pub const EXIT_REGRESSION: u8 = 3;

/// A malformed command line found after parsing (e.g. `--shard 3/2`): `wakusim` exits with
/// [`EXIT_USAGE`] for it.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The exit status for an error: [`EXIT_USAGE`] for a [`UsageError`], else [`EXIT_ERROR`].
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<UsageError>().is_some() {
        EXIT_USAGE
    } else {
        EXIT_ERROR
    }
}

/// Options every subcommand takes.
#[derive(Args, Clone, Debug, Default)]
pub struct GlobalArgs {
    /// Log level: off, error, warn, info, debug or trace [default: warn]. Logs go to stderr.
    #[arg(long, global = true, value_name = "LEVEL", env = "WAKUSIM_LOG")]
    pub log_level: Option<log::LevelFilter>,
    /// More logs: -v info, -vv debug, -vvv trace.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress bars, no sweep plan, and only errors in the logs.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

impl GlobalArgs {
    /// The log level these options ask for.
    pub fn level(&self) -> log::LevelFilter {
        if let Some(l) = self.log_level {
            return l;
        }
        if self.quiet {
            return log::LevelFilter::Error;
        }
        match self.verbose {
            0 => log::LevelFilter::Warn,
            1 => log::LevelFilter::Info,
            2 => log::LevelFilter::Debug,
            _ => log::LevelFilter::Trace,
        }
    }
    fn progress(&self) -> bool {
        progress::enabled(self.quiet)
    }
}

fn parse_override(s: &str) -> Result<Override, String> {
    s.parse()
}

/// `wakusim run`.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// A scenario file, or the name of a bundled scenario (`wakusim list`).
    pub scenario: String,
    /// Run this seed only (overrides run.seed and run.seeds).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Results root: runs go to OUT/SCENARIO_NAME/sSEED/.
    #[arg(long, default_value = "results", env = "WAKUSIM_OUT")]
    pub out: PathBuf,
    /// Override a field: path.to.field=value (the value read as TOML, else as a string).
    /// Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE", value_parser = parse_override)]
    pub set: Vec<Override>,
    /// Run even when the estimated peak memory is above the machine's memory.
    #[arg(long)]
    pub force: bool,
}

/// `wakusim sweep`.
#[derive(Args, Clone, Debug)]
pub struct SweepArgs {
    /// A sweep file (TOML; see docs/scenario-format.md), or the name of a bundled sweep
    /// (experiments/scenarios/sweeps/NAME.toml, e.g. communities-shards).
    pub sweep: String,
    /// Runs at the same time [default: the number of CPUs].
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Run one shard of the sweep: I/N takes the runs whose index modulo N is I-1 (I counted
    /// from 1). env/N reads the index, counted from 0, from WAKUSIM_SHARD_INDEX, else
    /// SLURM_ARRAY_TASK_ID minus SLURM_ARRAY_TASK_MIN, else JOB_COMPLETION_INDEX. A sharded
    /// sweep writes its runs and sweep.json but no sweep.csv: join the shards with `wakusim
    /// merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Skip the runs whose directory is complete: a manifest.json for the same scenario, and
    /// every file it lists there with the size and SHA-256 it records.
    #[arg(long)]
    pub resume: bool,
    /// Results root: the sweep goes to OUT/SWEEP_NAME/.
    #[arg(long, default_value = "results", env = "WAKUSIM_OUT")]
    pub out: PathBuf,
    /// Override a field of every run (after the sweep's `set` table, before its grid). Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE", value_parser = parse_override)]
    pub set: Vec<Override>,
    /// Run even when the estimated peak memory of the runs at once is above the machine's
    /// memory.
    #[arg(long)]
    pub force: bool,
}

/// `wakusim merge`.
#[derive(Args, Clone, Debug)]
pub struct MergeArgs {
    /// Sweep directories (OUT/SWEEP_NAME/) of the shards of one sweep.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Results root: the merged sweep goes to OUT/SWEEP_NAME/ (a shard directory already
    /// there is merged in place).
    #[arg(long, default_value = "results", env = "WAKUSIM_OUT")]
    pub out: PathBuf,
    /// Write sweep.csv even when runs are missing (their rows are left out).
    #[arg(long)]
    pub allow_incomplete: bool,
}

/// `wakusim plot`.
#[derive(Args, Clone, Debug)]
pub struct PlotArgs {
    /// A run directory, a scenario directory holding runs, or a sweep directory.
    pub dir: PathBuf,
    /// Image formats [default: those of the run's scenario].
    #[arg(long = "format", value_enum)]
    pub formats: Vec<PlotFormatArg>,
    /// Time-series metrics to plot [default: those of the run's scenario].
    #[arg(long = "metric")]
    pub metrics: Vec<String>,
    /// For a sweep, also redraw every run's plots.
    #[arg(long)]
    pub runs: bool,
}

/// An image format on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotFormatArg {
    /// PNG.
    Png,
    /// SVG.
    Svg,
}

impl From<PlotFormatArg> for PlotFormat {
    fn from(f: PlotFormatArg) -> Self {
        match f {
            PlotFormatArg::Png => PlotFormat::Png,
            PlotFormatArg::Svg => PlotFormat::Svg,
        }
    }
}

/// `wakusim compare`.
#[derive(Args, Clone, Debug)]
pub struct CompareArgs {
    /// Baseline: a summary.csv or sweep.csv, a run or sweep directory, or a bench JSON file.
    pub baseline: PathBuf,
    /// Current results, of the same kind.
    pub current: PathBuf,
    /// Tolerance of a metric in percent: metric=pct (`*` matches any characters, `inf` turns
    /// a check off). Repeatable; an exact name wins over a pattern, a later pattern over an
    /// earlier one.
    #[arg(long = "tolerance", value_name = "METRIC=PCT")]
    pub tolerance: Vec<String>,
    /// Leave out the values that did not change.
    #[arg(long)]
    pub only_changed: bool,
}

/// `wakusim validate`.
#[derive(Args, Clone, Debug)]
pub struct ValidateArgs {
    /// A scenario file or bundled scenario name, or a sweep file or bundled sweep name.
    pub scenario: String,
    /// Override a field: path.to.field=value. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE", value_parser = parse_override)]
    pub set: Vec<Override>,
    /// Accept a scenario whose estimated peak memory is above the machine's memory.
    #[arg(long)]
    pub force: bool,
}

/// `wakusim list`.
#[derive(Args, Clone, Debug)]
pub struct ListArgs {
    /// List the models instead of the bundled scenarios.
    #[arg(long)]
    pub models: bool,
}

/// `wakusim bench`.
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Which benchmark.
    #[command(subcommand)]
    pub which: BenchCommand,
}

/// The benchmarks.
#[derive(Subcommand, Clone, Debug)]
pub enum BenchCommand {
    /// Engine speed on a PHOLD hold workload, against a bare binary heap in the same process.
    Engine {
        /// Nodes (at least 1).
        #[arg(long, default_value_t = 10_000)]
        nodes: usize,
        /// Events to process (at least 1).
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
        /// Master seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print the report as JSON (for `wakusim compare`).
        #[arg(long)]
        json: bool,
    },
    /// The memory budget per node: runs relay-10k's settings and prints every per-node
    /// structure's bytes (counted from sizes and lengths) next to the measured peak.
    Memory {
        /// Nodes (at least 100).
        #[arg(long, default_value_t = 10_000)]
        nodes: u32,
        /// Simulated seconds, 30 s warm-up included (at least 36).
        #[arg(long, default_value_t = crate::scale::DEFAULT_SIM_S)]
        sim_s: u32,
        /// Master seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Growth with the node count: relay-10k's settings at each size (each in a process of
    /// its own, so that each peak memory is its own), with wall time, events/s, peak memory,
    /// bytes per node and log-log slopes.
    Scale {
        /// Node counts, comma-separated (each at least 100).
        #[arg(long, value_delimiter = ',', default_values_t = [10_000u32, 30_000, 100_000])]
        nodes: Vec<u32>,
        /// Simulated seconds of each point, 30 s warm-up included (at least 36).
        #[arg(long, default_value_t = crate::scale::DEFAULT_SIM_S)]
        sim_s: u32,
        /// Master seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print the report as JSON (for `wakusim compare`).
        #[arg(long)]
        json: bool,
        /// Run the first size in this process and print its point as JSON (what each child
        /// process of the benchmark does).
        #[arg(long, hide = true)]
        point: bool,
    },
    /// Network model speed: messages through the bandwidth model on a ring lattice.
    Network {
        /// Nodes (at least 9).
        #[arg(long, default_value_t = 1_000)]
        nodes: usize,
        /// Messages to deliver (at least 1).
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
        /// Master seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print the report as JSON (for `wakusim compare`).
        #[arg(long)]
        json: bool,
    },
}

/// Loads a scenario and applies overrides, with context for errors.
pub fn load_scenario(spec: &str, set: &[Override]) -> anyhow::Result<RawScenario> {
    let mut raw = scenario::load(spec).with_context(|| format!("invalid scenario `{spec}`"))?;
    for o in set {
        raw.apply(o)
            .with_context(|| format!("invalid scenario `{spec}`"))?;
    }
    Ok(raw)
}

/// `1.2 GB`, `340 MB`.
fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else {
        format!("{:.0} MB", b / 1e6)
    }
}

/// Tells the estimated peak memory of `runs` runs at once of the largest of `scenarios` (on
/// stderr when `print`, as `validate` does; else in the info log, shown with `-v`) and refuses
/// it above the machine's memory unless `force`.
fn check_memory<M: Model>(
    scenarios: &[&Scenario<M::Params>],
    runs: usize,
    force: bool,
    print: bool,
) -> anyhow::Result<()> {
    let Some(est) = scenarios
        .iter()
        .filter_map(|s| M::memory_estimate(s))
        .max_by_key(|e| e.bytes)
    else {
        return Ok(());
    };
    let runs = runs.max(1);
    let bytes = est.bytes.saturating_mul(runs as u64);
    let at_once = if runs > 1 {
        format!(" x {runs} runs at once")
    } else {
        String::new()
    };
    let total = total_memory_bytes();
    let line = format!(
        "estimated peak memory: about {} ({}{at_once}){}",
        fmt_bytes(bytes),
        est.basis,
        total.map_or(String::new(), |t| format!(
            "; this machine has {}",
            fmt_bytes(t)
        ))
    );
    if print {
        eprintln!("{line}");
    } else {
        log::info!("{line}");
    }
    if let Some(total) = total
        && bytes > total
        && !force
    {
        bail!(
            "the estimated peak memory, about {}, is above this machine's {}: lower network.nodes{}, \
             or give --force to try anyway",
            fmt_bytes(bytes),
            fmt_bytes(total),
            if runs > 1 { " or --jobs" } else { "" }
        );
    }
    Ok(())
}

fn model_of(raw: &RawScenario, spec: &str) -> anyhow::Result<ModelKind> {
    raw.model_kind()
        .with_context(|| format!("invalid scenario `{spec}`"))
}

// ---------------------------------------------------------------------------------------
// run

/// `wakusim run`: runs a scenario's seeds one after the other.
pub fn run(args: &RunArgs, g: &GlobalArgs) -> anyhow::Result<u8> {
    let raw = load_scenario(&args.scenario, &args.set)?;
    let kind = model_of(&raw, &args.scenario)?;
    with_model(kind, RunTask { raw: &raw, args, g })
}

struct RunTask<'a> {
    raw: &'a RawScenario,
    args: &'a RunArgs,
    g: &'a GlobalArgs,
}

impl ModelTask for RunTask<'_> {
    type Output = anyhow::Result<u8>;
    fn call<M: Model>(self) -> anyhow::Result<u8> {
        let args = self.args;
        let s = self
            .raw
            .resolve::<M>()
            .with_context(|| format!("invalid scenario `{}`", args.scenario))?;
        check_memory::<M>(&[&s], 1, args.force, !self.g.quiet)?;
        let seeds = match args.seed {
            Some(seed) => vec![seed],
            None => s.common.run.seed_list(),
        };
        let dir = args.out.join(&s.common.name);
        let duration = s.common.run.duration_s;
        let mut parts = Vec::new();
        let mut timings = Vec::new();
        let mut failure = None;
        for seed in seeds {
            let run_id = format!("s{seed}");
            let spec = RunSpec {
                run_id: run_id.clone(),
                seed,
                scenario: runner::for_seed(&s, seed),
                dir: dir.join(&run_id),
                sweep: None,
                jobs: 1,
            };
            let bar = progress::run_bar(
                self.g.progress(),
                &format!("{} {run_id}", s.common.name),
                duration,
            );
            let done =
                runner::execute::<M>(&spec, &|p| progress::update_run_bar(&bar, p, duration));
            bar.finish_and_clear();
            let done = match done {
                Ok(d) => d,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            let sm = &done.summary;
            println!(
                "{} {run_id}: {} nodes, {} messages, delivery {}, latency p50 {} ms p99 {} ms, \
                 {} events in {:.2} s -> {}",
                s.common.name,
                sm.nodes,
                sm.messages_published,
                shown(sm.delivery_rate_mean),
                shown(sm.latency_p50_ms),
                shown(sm.latency_p99_ms),
                done.events,
                done.machine.wall_s,
                done.dir.display()
            );
            parts.push((Vec::new(), read_csv(&done.dir.join(results::SUMMARY_FILE))?));
            timings.push((Vec::new(), read_csv(&done.dir.join(results::TIMING_FILE))?));
        }
        // The scenario directory's summary.csv and timing.csv: one row per seed just run and
        // complete. When no run completed, the earlier files stay: their runs are untouched.
        if !parts.is_empty() {
            for (name, parts) in [
                (results::SUMMARY_FILE, &parts),
                (results::TIMING_FILE, &timings),
            ] {
                let t = union_tables(&[], parts);
                let path = dir.join(name);
                write_atomic(&path, &csv_bytes(&t.header, &t.rows))
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(EXIT_OK),
        }
    }
}

/// A figure for people to read: `-` when undefined (NaN).
fn shown(x: f64) -> String {
    if x.is_nan() {
        "-".to_owned()
    } else {
        crate::output::fmt_f64(x)
    }
}

// ---------------------------------------------------------------------------------------
// sweep

/// `wakusim sweep`: plans a sweep, then runs (its shard of) the plan in parallel.
pub fn sweep(args: &SweepArgs, g: &GlobalArgs) -> anyhow::Result<u8> {
    let ctx = || format!("invalid sweep `{}`", args.sweep);
    let mut file = sweep::load_sweep_spec(&args.sweep).with_context(ctx)?;
    file.set.extend(args.set.iter().cloned());
    let base = scenario::load(&file.scenario_spec).with_context(|| {
        format!(
            "invalid base scenario `{}` of sweep `{}`",
            file.scenario, args.sweep
        )
    })?;
    let kind = model_of(&base, &file.scenario_spec)?;
    let shard = match &args.shard {
        Some(s) => Some(
            Shard::parse(s, &|k| std::env::var(k).ok())
                .map_err(|e| anyhow::Error::new(UsageError(e)))?,
        ),
        None => None,
    };
    with_model(
        kind,
        SweepTask {
            file: &file,
            base: &base,
            args,
            g,
            shard,
        },
    )
}

struct SweepTask<'a> {
    file: &'a sweep::SweepFile,
    base: &'a RawScenario,
    args: &'a SweepArgs,
    g: &'a GlobalArgs,
    shard: Option<Shard>,
}

impl ModelTask for SweepTask<'_> {
    type Output = anyhow::Result<u8>;
    fn call<M: Model>(self) -> anyhow::Result<u8> {
        let args = self.args;
        let sweep::Planned { plan, scenarios } = sweep::plan::<M>(self.file, self.base)
            .with_context(|| format!("invalid sweep `{}`", args.sweep))?;
        let dir = args.out.join(&plan.name);
        // Before anything is written: the runs of this shard, as many at once as --jobs.
        let mine_scenarios: Vec<_> = (0..plan.runs.len())
            .filter(|&i| self.shard.is_none_or(|s| s.contains(i)))
            .map(|i| &scenarios[i])
            .collect();
        let at_once = args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, mine_scenarios.len().max(1));
        check_memory::<M>(&mine_scenarios, at_once, args.force, false)?;
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        write_atomic(&dir.join(results::SWEEP_PLAN_FILE), &plan.to_bytes()).with_context(|| {
            format!(
                "cannot write {}",
                dir.join(results::SWEEP_PLAN_FILE).display()
            )
        })?;
        let mine: Vec<usize> = (0..plan.runs.len())
            .filter(|&i| self.shard.is_none_or(|s| s.contains(i)))
            .collect();
        let todo: Vec<usize> = mine
            .iter()
            .copied()
            .filter(|&i| {
                let r = &plan.runs[i];
                !(args.resume && merge::is_complete(&dir.join(&r.run_id), r))
            })
            .collect();
        let jobs = args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, todo.len().max(1));
        if !self.g.quiet {
            eprintln!(
                "sweep {}: {} points x {} seeds = {} runs{}; {} to run{} with {jobs} jobs -> {}",
                plan.name,
                plan.points,
                plan.seeds.len(),
                plan.runs.len(),
                self.shard
                    .map(|s| format!(", shard {s}: {} runs", mine.len()))
                    .unwrap_or_default(),
                todo.len(),
                if args.resume {
                    format!(" ({} already complete)", mine.len() - todo.len())
                } else {
                    String::new()
                },
                dir.display()
            );
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .build()
            .context("cannot start the worker threads")?;
        let bar = progress::sweep_bar(self.g.progress(), &plan.name, todo.len());
        let run_one = |i: usize| {
            let r = &plan.runs[i];
            let spec = RunSpec {
                run_id: r.run_id.clone(),
                seed: r.seed,
                scenario: scenarios[i].clone(),
                dir: dir.join(&r.run_id),
                sweep: Some(results::SweepRef {
                    name: plan.name.clone(),
                    point: r.point,
                    params: r.params.clone(),
                }),
                jobs,
            };
            let out = runner::execute::<M>(&spec, &|_| {});
            match &out {
                Ok(d) => log::info!("{}: done in {:.2} s", d.run_id, d.machine.wall_s),
                Err(e) => bar.suspend(|| log::error!("{e:#}")),
            }
            bar.inc(1);
            (i, out)
        };
        // A work queue, longest run first (sweep::run_order); each worker takes the next run
        // when it finishes one. Outcomes are put back in plan order below.
        let queue = sweep::run_order(
            &todo
                .iter()
                .map(|&i| (i, M::cost_estimate(&scenarios[i])))
                .collect::<Vec<_>>(),
        );
        let next = AtomicUsize::new(0);
        let done = Mutex::new(Vec::with_capacity(queue.len()));
        pool.scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|_| {
                    while let Some(&i) = queue.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let out = run_one(i);
                        done.lock().unwrap_or_else(|e| e.into_inner()).push(out);
                    }
                });
            }
        });
        let mut outcomes: Vec<(usize, anyhow::Result<runner::RunDone>)> =
            done.into_inner().unwrap_or_else(|e| e.into_inner());
        outcomes.sort_by_key(|(i, _)| *i);
        bar.finish_and_clear();
        let failed: Vec<String> = outcomes
            .iter()
            .filter_map(|(i, o)| {
                o.as_ref()
                    .err()
                    .map(|e| format!("{}: {e:#}", plan.runs[*i].run_id))
            })
            .collect();
        if !failed.is_empty() {
            bail!(
                "{} of {} runs failed (the others are saved; fix the cause and rerun with --resume):\n{}",
                failed.len(),
                todo.len(),
                failed.join("\n")
            );
        }
        if let Some(s) = self.shard {
            println!(
                "shard {s} of sweep {}: {} runs complete in {}; when every shard is done, join them \
                 with: wakusim merge <the shards' sweep directories>",
                plan.name,
                mine.len(),
                dir.display()
            );
            return Ok(EXIT_OK);
        }
        let tables = merge::write_sweep_tables(&dir, &plan, false)?;
        draw_sweep_plots(&dir, &plan);
        println!(
            "sweep {}: {} runs -> {}",
            plan.name,
            tables.complete,
            dir.join(results::SWEEP_FILE).display()
        );
        Ok(EXIT_OK)
    }
}

/// The `[outputs]` of a sweep's first complete run, from its manifest.
fn sweep_outputs(dir: &Path, plan: &sweep::SweepPlan) -> Option<OutputSection> {
    plan.runs.iter().find_map(|r| {
        let m = read_manifest(&dir.join(&r.run_id))?;
        serde_json::from_value(m.scenario.get("outputs")?.clone()).ok()
    })
}

fn draw_sweep_plots(dir: &Path, plan: &sweep::SweepPlan) {
    let Some(outputs) = sweep_outputs(dir, plan) else {
        return;
    };
    if !outputs.plots {
        return;
    }
    if let Err(e) = plot::plot_sweep(dir, &plan.parameters, &outputs.formats) {
        log::warn!("sweep plots not drawn: {e:#}");
    }
}

// ---------------------------------------------------------------------------------------
// merge, plot, compare

/// `wakusim merge`.
pub fn merge(args: &MergeArgs, _g: &GlobalArgs) -> anyhow::Result<u8> {
    let report = merge::merge(&args.dirs, &args.out, args.allow_incomplete)?;
    let plan = merge::read_plan(&report.dir)?;
    if report.tables.missing.is_empty() {
        draw_sweep_plots(&report.dir, &plan);
    }
    println!(
        "merged {} runs ({} copied) of sweep {} -> {}{}",
        report.tables.complete,
        report.copied,
        plan.name,
        report.dir.join(results::SWEEP_FILE).display(),
        if report.tables.missing.is_empty() {
            String::new()
        } else {
            format!(" ({} runs missing)", report.tables.missing.len())
        }
    );
    Ok(EXIT_OK)
}

/// `wakusim plot`.
pub fn plot(args: &PlotArgs, _g: &GlobalArgs) -> anyhow::Result<u8> {
    let dir = &args.dir;
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let settings = |from: Option<OutputSection>| -> OutputSection {
        let mut o = from.unwrap_or_default();
        if !args.formats.is_empty() {
            o.formats = args.formats.iter().map(|f| (*f).into()).collect();
        }
        if !args.metrics.is_empty() {
            o.timeseries_plots = args.metrics.clone();
        }
        o
    };
    let run_outputs = |d: &Path| -> Option<OutputSection> {
        serde_json::from_value(read_manifest(d)?.scenario.get("outputs")?.clone()).ok()
    };
    let mut written = Vec::new();
    if dir.join(results::SWEEP_FILE).is_file() {
        let plan = merge::read_plan(dir)?;
        let o = settings(sweep_outputs(dir, &plan));
        written.extend(plot::plot_sweep(dir, &plan.parameters, &o.formats)?);
        if args.runs {
            for r in &plan.runs {
                let rd = dir.join(&r.run_id);
                if rd.is_dir() {
                    let files = plot::plot_run(&rd, &settings(run_outputs(&rd)))?;
                    written.extend(files.into_iter().map(|f| format!("{}/{f}", r.run_id)));
                }
            }
        }
    } else if dir.join(results::MANIFEST_FILE).is_file()
        || dir.join(results::BANDWIDTH_FILE).is_file()
    {
        written.extend(plot::plot_run(dir, &settings(run_outputs(dir)))?);
    } else {
        // A scenario directory: plot each run under it.
        let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .filter(|p| p.join(results::MANIFEST_FILE).is_file())
            .collect();
        subdirs.sort();
        if subdirs.is_empty() {
            bail!(
                "{} holds no results: give a run directory (with manifest.json), a scenario \
                 directory holding runs, or a sweep directory (with sweep.csv)",
                dir.display()
            );
        }
        for d in subdirs {
            let files = plot::plot_run(&d, &settings(run_outputs(&d)))?;
            let name = d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            written.extend(files.into_iter().map(|f| format!("{name}/{f}")));
        }
    }
    for f in &written {
        println!("{}", dir.join(f).display());
    }
    if written.is_empty() {
        log::warn!("nothing to plot in {}", dir.display());
    }
    Ok(EXIT_OK)
}

/// `wakusim compare`.
pub fn compare(args: &CompareArgs, _g: &GlobalArgs) -> anyhow::Result<u8> {
    let tol = compare::Tolerances::parse(&args.tolerance).map_err(anyhow::Error::msg)?;
    let base = compare::load(&args.baseline)?;
    let cur = compare::load(&args.current)?;
    let mut known = base.metrics();
    for m in cur.metrics() {
        if !known.contains(&m) {
            known.push(m);
        }
    }
    tol.check_known(&known).map_err(anyhow::Error::msg)?;
    let lines = compare::compare(&base, &cur, &tol)?;
    println!("baseline: {}\ncurrent:  {}\n", base.source, cur.source);
    print!("{}", compare::render(&lines, args.only_changed));
    Ok(if lines.iter().any(|l| l.status.fails()) {
        EXIT_REGRESSION
    } else {
        EXIT_OK
    })
}

// ---------------------------------------------------------------------------------------
// validate, list

/// Whether a TOML file looks like a sweep file (a `scenario` key and no `model` key).
fn is_sweep_file(spec: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(spec) else {
        return false;
    };
    match toml::from_str::<toml::Table>(&text) {
        Ok(t) => {
            t.contains_key("scenario") && !t.contains_key("model") && !t.contains_key("extends")
        }
        Err(_) => false,
    }
}

/// `wakusim validate`: prints the resolved scenario (or a sweep's plan).
pub fn validate(args: &ValidateArgs, _g: &GlobalArgs) -> anyhow::Result<u8> {
    let sweep_file = if Path::new(&args.scenario).exists() {
        is_sweep_file(&args.scenario)
    } else {
        scenario::bundled::get(&args.scenario).is_none()
            && scenario::bundled::get_sweep(&args.scenario).is_some()
    };
    if sweep_file {
        let ctx = || format!("invalid sweep `{}`", args.scenario);
        let mut file = sweep::load_sweep_spec(&args.scenario).with_context(ctx)?;
        file.set.extend(args.set.iter().cloned());
        let base = scenario::load(&file.scenario_spec).with_context(ctx)?;
        let kind = model_of(&base, &file.scenario_spec)?;
        return with_model(
            kind,
            ValidateSweepTask {
                file: &file,
                base: &base,
                spec: &args.scenario,
                force: args.force,
            },
        );
    }
    let raw = load_scenario(&args.scenario, &args.set)?;
    let kind = model_of(&raw, &args.scenario)?;
    with_model(
        kind,
        ValidateTask {
            raw: &raw,
            spec: &args.scenario,
            force: args.force,
        },
    )
}

struct ValidateTask<'a> {
    raw: &'a RawScenario,
    spec: &'a str,
    force: bool,
}

impl ModelTask for ValidateTask<'_> {
    type Output = anyhow::Result<u8>;
    fn call<M: Model>(self) -> anyhow::Result<u8> {
        let s = self
            .raw
            .resolve::<M>()
            .with_context(|| format!("invalid scenario `{}`", self.spec))?;
        check_memory::<M>(&[&s], 1, self.force, true)?;
        print!("{}", runner::scenario_toml(&s)?);
        print!(
            "{}",
            M::notes(&s).with_context(|| format!("scenario `{}`", self.spec))?
        );
        Ok(EXIT_OK)
    }
}

struct ValidateSweepTask<'a> {
    file: &'a sweep::SweepFile,
    base: &'a RawScenario,
    spec: &'a str,
    force: bool,
}

impl ModelTask for ValidateSweepTask<'_> {
    type Output = anyhow::Result<u8>;
    fn call<M: Model>(self) -> anyhow::Result<u8> {
        let sweep::Planned { plan, scenarios } = sweep::plan::<M>(self.file, self.base)
            .with_context(|| format!("invalid sweep `{}`", self.spec))?;
        // One run at a time (`wakusim sweep --jobs` multiplies it).
        check_memory::<M>(&scenarios.iter().collect::<Vec<_>>(), 1, self.force, true)?;
        println!(
            "sweep {}: {} points x {} seeds = {} runs (plan {})",
            plan.name,
            plan.points,
            plan.seeds.len(),
            plan.runs.len(),
            &plan.plan_sha256[..12]
        );
        for g in &self.file.grid {
            let values: Vec<String> = g.values.iter().map(merge::param_cell).collect();
            println!("  {} = [{}]", g.path, values.join(", "));
        }
        println!("  seeds = {:?}", plan.seeds);
        Ok(EXIT_OK)
    }
}

/// `wakusim list`.
pub fn list(args: &ListArgs, _g: &GlobalArgs) -> anyhow::Result<u8> {
    if args.models {
        for k in ModelKind::ALL {
            println!("{:<20} {}", k.name(), k.description());
        }
        return Ok(EXIT_OK);
    }
    for (file, _) in scenario::bundled::BUNDLED {
        let name = file.strip_suffix(".toml").unwrap_or(file);
        let description = scenario::load(name)
            .ok()
            .and_then(|raw| raw.table().get("description")?.as_str().map(str::to_owned))
            .unwrap_or_default();
        println!("{name:<24} {description}");
    }
    for (file, text) in scenario::bundled::BUNDLED_SWEEPS {
        let name = file.strip_suffix(".toml").unwrap_or(file);
        // A sweep file's `description`, when it has one.
        let description = text
            .parse::<toml::Table>()
            .ok()
            .and_then(|t| t.get("description")?.as_str().map(str::to_owned))
            .unwrap_or_default();
        println!("{name:<24} (sweep) {description}");
    }
    Ok(EXIT_OK)
}

// ---------------------------------------------------------------------------------------
// bench

/// `wakusim bench`: runs a sim-core benchmark and prints its report, with the process's peak
/// memory added as `peak_rss_bytes`.
pub fn bench(args: &BenchArgs, _g: &GlobalArgs) -> anyhow::Result<u8> {
    let (mut report, json) = match &args.which {
        BenchCommand::Memory {
            nodes,
            sim_s,
            seed,
            json,
        } => {
            if *nodes < 100 || *sim_s < 36 {
                bail!("--nodes must be at least 100 and --sim-s at least 36");
            }
            let r = crate::scale::memory(*nodes, *sim_s, *seed)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "{} at {nodes} nodes, {sim_s} simulated s: {:.1} s wall, {} events\n",
                    crate::scale::SCENARIO,
                    r.wall_s,
                    r.events
                );
                print!("{}", r.markdown());
            }
            return Ok(EXIT_OK);
        }
        BenchCommand::Scale {
            nodes,
            sim_s,
            seed,
            json,
            point,
        } => {
            if nodes.is_empty() || nodes.iter().any(|&n| n < 100) || *sim_s < 36 {
                bail!("--nodes must list sizes of at least 100 and --sim-s be at least 36");
            }
            if *point {
                let r = crate::scale::memory(nodes[0], *sim_s, *seed)?;
                println!(
                    "{}",
                    serde_json::to_string(&crate::scale::ScalePoint::from(&r))?
                );
                return Ok(EXIT_OK);
            }
            let exe = std::env::current_exe().context("cannot find the wakusim binary")?;
            let mut sizes = nodes.clone();
            sizes.sort_unstable();
            let mut points = Vec::new();
            for n in sizes {
                let out = std::process::Command::new(&exe)
                    .args(["bench", "scale", "--point", "--nodes"])
                    .arg(n.to_string())
                    .arg("--sim-s")
                    .arg(sim_s.to_string())
                    .arg("--seed")
                    .arg(seed.to_string())
                    .output()
                    .context("cannot start a point of the benchmark")?;
                if !out.status.success() {
                    bail!(
                        "the point at {n} nodes failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                let p: crate::scale::ScalePoint = serde_json::from_slice(&out.stdout)
                    .context("a point of the benchmark printed no report")?;
                if !*json {
                    eprintln!(
                        "{n} nodes: {:.1} s wall, {:.2} M events/s, peak {}, {:.0} bytes per node",
                        p.wall_s,
                        p.events_per_sec / 1e6,
                        fmt_bytes(p.peak_rss_bytes),
                        p.bytes_per_node
                    );
                }
                points.push(p);
            }
            let r = crate::scale::ScaleReport::new(points, *sim_s);
            if *json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "log-log slopes: wall {:.2}, events/s {:.2}, peak memory {:.2}\n\
                     largest / smallest: events/s x{:.2}, bytes per node x{:.2}, wall s per \
                     node x{:.2}",
                    r.fit_wall_s,
                    r.fit_events_per_sec,
                    r.fit_peak_rss,
                    r.events_per_sec_growth,
                    r.bytes_per_node_growth,
                    r.wall_s_per_node_growth
                );
            }
            return Ok(EXIT_OK);
        }
        BenchCommand::Engine {
            nodes,
            events,
            seed,
            json,
        } => {
            if *nodes == 0 || *events == 0 {
                bail!("--nodes and --events must be at least 1");
            }
            (
                serde_json::to_value(sim_core::bench::engine(*nodes, *events, *seed))?,
                *json,
            )
        }
        BenchCommand::Network {
            nodes,
            messages,
            seed,
            json,
        } => {
            if *nodes < 9 || *messages == 0 {
                bail!("--nodes must be at least 9 and --messages at least 1");
            }
            (
                serde_json::to_value(sim_core::bench::network(*nodes, *messages, *seed))?,
                *json,
            )
        }
    };
    if let serde_json::Value::Object(m) = &mut report {
        m.insert("peak_rss_bytes".to_owned(), peak_rss_bytes().into());
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if let serde_json::Value::Object(m) = &report {
        let width = m.keys().map(String::len).max().unwrap_or(0);
        for (k, v) in m {
            let v = match v {
                serde_json::Value::Number(n) => match n.as_f64() {
                    Some(f) if n.is_f64() => format!("{f:.3}"),
                    _ => n.to_string(),
                },
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("{k:<width$}  {v:>20}");
        }
    }
    Ok(EXIT_OK)
}
