//! Running one seed of a scenario and writing its run directory.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, anyhow};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::machine::Machine;
use crate::model::{Model, OutputSection, Progress, RunResult, Scenario, Summary};
use crate::output::{csv_bytes, write_atomic};
use crate::plot;
use crate::results::{self, Manifest, SweepRef};

/// The wakusim version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from, or "unknown".
pub const GIT_COMMIT: &str = env!("WAKUSIM_GIT_COMMIT");

/// The canonical serialization of a resolved scenario: JSON with sorted keys and no spaces.
pub fn canonical_json<P: Serialize>(s: &Scenario<P>) -> serde_json::Value {
    // Through `Value`, whose maps are sorted by key.
    serde_json::to_value(s).expect("a scenario always serializes")
}

/// SHA-256 (hex) of the canonical serialization of a resolved scenario.
pub fn scenario_sha256<P: Serialize>(s: &Scenario<P>) -> String {
    let bytes = serde_json::to_vec(&canonical_json(s)).expect("JSON values serialize");
    hex(&Sha256::digest(&bytes))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The resolved scenario as TOML text (what `wakusim validate` prints and `scenario.toml`
/// holds).
pub fn scenario_toml<P: Serialize>(s: &Scenario<P>) -> anyhow::Result<String> {
    let mut text = toml::to_string(s).context("cannot write the resolved scenario as TOML")?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// The scenario of the single run with `seed`: `run.seed = seed`, no `run.seeds`.
pub fn for_seed<P: Clone>(s: &Scenario<P>, seed: u64) -> Scenario<P> {
    let mut s = s.clone();
    s.common.run.seed = seed;
    s.common.run.seeds = None;
    s
}

/// One run to do.
#[derive(Clone, Debug)]
pub struct RunSpec<P> {
    /// `s1`, `p003-s2`.
    pub run_id: String,
    /// The master seed.
    pub seed: u64,
    /// The resolved scenario of this run (see [`for_seed`]).
    pub scenario: Scenario<P>,
    /// The run directory.
    pub dir: PathBuf,
    /// The sweep point, for a sweep's run.
    pub sweep: Option<SweepRef>,
    /// Runs executing concurrently in this process (for the manifest's machine section).
    pub jobs: usize,
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct RunDone {
    /// The run's id.
    pub run_id: String,
    /// The seed.
    pub seed: u64,
    /// The summary the model computed.
    pub summary: Summary,
    /// Events processed.
    pub events: u64,
    /// What it cost.
    pub machine: Machine,
    /// Where its files are.
    pub dir: PathBuf,
}

/// The message of a panic payload.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// The suffix of the directory that keeps a failed run's `scenario.toml` (`s1.failed/`) next
/// to its run directory.
pub const FAILED_SUFFIX: &str = ".failed";

static DIR_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A hidden name next to `dir`, unique among processes and threads: `.<name>.<pid>-<n>.<what>`.
fn sibling(dir: &Path, what: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!(
        ".{name}.{}-{}.{what}",
        std::process::id(),
        DIR_COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// `dir` with [`FAILED_SUFFIX`] appended to its name.
pub fn failed_dir(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(FAILED_SUFFIX);
    dir.with_file_name(name)
}

/// Moves the finished run in `tmp` to `dir`, replacing what was there.
fn install(tmp: &Path, dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        let old = sibling(dir, "old");
        fs::rename(dir, &old)?;
        fs::rename(tmp, dir)?;
        let _ = fs::remove_dir_all(&old);
    } else {
        fs::rename(tmp, dir)?;
    }
    if let Some(parent) = dir.parent() {
        if let Ok(d) = fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Runs `spec` with model `M` and writes its directory: `scenario.toml` first, the results,
/// the plots, `manifest.json` last, all into a temporary directory next to the run directory
/// (`.<run id>.<pid>-<n>.tmp`), which replaces the run directory only when the run succeeded.
/// A failed run leaves an earlier run directory as it was; its `scenario.toml` is kept in
/// `<run id>.failed/` to reproduce the failure. A successful run removes that directory.
pub fn execute<M: Model>(
    spec: &RunSpec<M::Params>,
    progress: &(dyn Fn(Progress) + Sync),
) -> anyhow::Result<RunDone> {
    let dir = &spec.dir;
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let tmp = sibling(dir, "tmp");
    fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let failed = failed_dir(dir);
    match execute_in::<M>(spec, &tmp, &failed, progress) {
        Ok(done) => {
            install(&tmp, dir)
                .with_context(|| format!("cannot move {} to {}", tmp.display(), dir.display()))?;
            if failed.exists() {
                let _ = fs::remove_dir_all(&failed);
            }
            Ok(done)
        }
        Err(e) => {
            // Keep the scenario of the failed run (and nothing else) for the reproduce line.
            let _ = fs::remove_dir_all(&failed);
            let kept = fs::create_dir_all(&failed).and_then(|()| {
                fs::copy(
                    tmp.join(results::SCENARIO_FILE),
                    failed.join(results::SCENARIO_FILE),
                )
            });
            if kept.is_err() {
                let _ = fs::remove_dir_all(&failed);
            }
            let _ = fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

/// Runs `spec` writing its files into `tmp`.
fn execute_in<M: Model>(
    spec: &RunSpec<M::Params>,
    tmp: &Path,
    failed: &Path,
    progress: &(dyn Fn(Progress) + Sync),
) -> anyhow::Result<RunDone> {
    let scenario_text = scenario_toml(&spec.scenario)?;
    write_file(tmp, results::SCENARIO_FILE, scenario_text.as_bytes())?;
    let reproduce = format!(
        "reproduce with: wakusim run {}",
        failed.join(results::SCENARIO_FILE).display()
    );

    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        M::run(&spec.scenario, spec.seed, progress)
    }));
    let wall_s = start.elapsed().as_secs_f64();
    let result: RunResult = match outcome {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return Err(anyhow!(e)).context(format!(
                "run {} (seed {}) failed; {reproduce}",
                spec.run_id, spec.seed
            ));
        }
        Err(p) => {
            return Err(anyhow!(
                "run {} (seed {}) panicked: {}; this is a bug in the model; {reproduce}",
                spec.run_id,
                spec.seed,
                panic_message(p.as_ref())
            ));
        }
    };
    results::check_result(&result).with_context(|| {
        format!(
            "the model returned malformed results for run {}",
            spec.run_id
        )
    })?;
    let sim_s = spec.scenario.common.run.duration_s;
    let machine = Machine::measure(
        wall_s,
        result.engine.events,
        sim_s,
        result.summary.nodes,
        spec.jobs,
    );

    let files = write_results(
        tmp,
        &spec.run_id,
        spec.seed,
        &result,
        &machine,
        &spec.scenario.common.outputs,
    )?;

    let mut all_files = vec![results::SCENARIO_FILE.to_owned()];
    all_files.extend(files);
    if spec.scenario.common.outputs.plots {
        match plot::plot_run(tmp, &spec.scenario.common.outputs) {
            Ok(mut written) => all_files.append(&mut written),
            Err(e) => log::warn!("run {}: plots not drawn: {e:#}", spec.run_id),
        }
    }

    // The check of every file, read back as written.
    let mut machine = machine;
    let mut checksums = std::collections::BTreeMap::new();
    for name in &all_files {
        let path = tmp.join(name);
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let check = results::FileCheck::of(&bytes);
        if name == results::TIMING_FILE {
            machine.timing_csv = Some(check);
        } else {
            checksums.insert(name.clone(), check);
        }
    }
    let manifest = Manifest {
        format_version: results::FORMAT_VERSION,
        run_id: spec.run_id.clone(),
        scenario_name: spec.scenario.common.name.clone(),
        model: spec.scenario.model.clone(),
        seed: spec.seed,
        wakusim_version: VERSION.to_owned(),
        git_commit: GIT_COMMIT.to_owned(),
        scenario_sha256: scenario_sha256(&spec.scenario),
        events: result.engine.events,
        event_hash: format!("{:016x}", result.engine.event_hash),
        reproduce: format!("wakusim run {}", results::SCENARIO_FILE),
        sweep: spec.sweep.clone(),
        files: all_files,
        checksums,
        scenario: canonical_json(&spec.scenario),
        machine: machine.clone(),
    };
    write_file(tmp, results::MANIFEST_FILE, &manifest.to_bytes())?;
    Ok(RunDone {
        run_id: spec.run_id.clone(),
        seed: spec.seed,
        summary: result.summary,
        events: result.engine.events,
        machine,
        dir: spec.dir.clone(),
    })
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    write_atomic(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes the CSV files of a run; returns their names in the order written.
fn write_results(
    dir: &Path,
    run_id: &str,
    seed: u64,
    r: &RunResult,
    machine: &Machine,
    outputs: &OutputSection,
) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    let mut put = |name: &str, bytes: Vec<u8>| -> anyhow::Result<()> {
        write_file(dir, name, &bytes)?;
        files.push(name.to_owned());
        Ok(())
    };
    let (header, row) = results::summary_table(run_id, seed, r);
    put(results::SUMMARY_FILE, csv_bytes(&header, &[row]))?;
    if outputs.bandwidth_csv {
        put(
            results::BANDWIDTH_FILE,
            csv_bytes(&results::BANDWIDTH_COLUMNS, &results::bandwidth_rows(r)),
        )?;
    }
    if outputs.timeseries_csv {
        put(
            results::TIMESERIES_FILE,
            csv_bytes(&["time_s", "metric", "value"], &results::timeseries_rows(r)),
        )?;
    }
    if outputs.latency_csv {
        put(
            results::LATENCY_FILE,
            csv_bytes(
                &["latency_ms", "count", "cumulative_fraction"],
                &results::latency_rows(r),
            ),
        )?;
    }
    if outputs.model_tables {
        for t in &r.tables {
            put(&t.file_name, csv_bytes(&t.header, &t.rows))?;
        }
    }
    put(
        results::TIMING_FILE,
        csv_bytes(
            &results::TIMING_COLUMNS,
            &[results::timing_row(run_id, seed, r.engine.events, machine)],
        ),
    )?;
    Ok(files)
}
