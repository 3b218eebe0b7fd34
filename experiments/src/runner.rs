//! Running one seed of a scenario and writing its run directory.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
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

/// Runs `spec` with model `M` and writes its directory: `scenario.toml` first, the results,
/// the plots, `manifest.json` last. An existing directory of the same run is removed first.
pub fn execute<M: Model>(
    spec: &RunSpec<M::Params>,
    progress: &(dyn Fn(Progress) + Sync),
) -> anyhow::Result<RunDone> {
    let dir = &spec.dir;
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let scenario_text = scenario_toml(&spec.scenario)?;
    write_file(dir, results::SCENARIO_FILE, scenario_text.as_bytes())?;
    let reproduce = format!(
        "reproduce with: wakusim run {}",
        dir.join(results::SCENARIO_FILE).display()
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
        dir,
        &spec.run_id,
        spec.seed,
        &result,
        &machine,
        &spec.scenario.common.outputs,
    )?;

    let mut all_files = vec![results::SCENARIO_FILE.to_owned()];
    all_files.extend(files);
    if spec.scenario.common.outputs.plots {
        match plot::plot_run(dir, &spec.scenario.common.outputs) {
            Ok(mut written) => all_files.append(&mut written),
            Err(e) => log::warn!("run {}: plots not drawn: {e:#}", spec.run_id),
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
        scenario: canonical_json(&spec.scenario),
        machine: machine.clone(),
    };
    write_file(dir, results::MANIFEST_FILE, &manifest.to_bytes())?;
    Ok(RunDone {
        run_id: spec.run_id.clone(),
        seed: spec.seed,
        summary: result.summary,
        events: result.engine.events,
        machine,
        dir: dir.clone(),
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
