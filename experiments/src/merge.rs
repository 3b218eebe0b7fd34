//! Building a sweep's `sweep.csv` from its run directories, and merging the outputs of sweep
//! shards into one directory.
//!
//! `sweep.csv` is always built the same way, by an unsharded sweep and by `wakusim merge`
//! alike: one row per complete run of the plan (`sweep.json`), in plan order, made of
//! `run_id, point`, the swept parameters, then the run's `summary.csv` columns from `seed` on.
//! So the merged file is byte-identical to the one a single unsharded sweep writes.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use toml::Value;

use crate::output::{csv_bytes, fmt_f64, write_atomic};
use crate::results::{self, CsvTable, read_csv, read_manifest, union_tables};
use crate::sweep::{PlanRun, SweepPlan};

/// How a swept parameter's value is written in `sweep.csv`.
pub fn param_cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => fmt_f64(*f),
        Value::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// Reads `sweep.json` from a sweep directory.
pub fn read_plan(dir: &Path) -> anyhow::Result<SweepPlan> {
    let path = dir.join(results::SWEEP_PLAN_FILE);
    let bytes = fs::read(&path).with_context(|| {
        format!(
            "{} has no {}: is it a sweep's directory (<out>/<sweep name>)?",
            dir.display(),
            results::SWEEP_PLAN_FILE
        )
    })?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is malformed", path.display()))
}

/// Whether `dir` holds a complete run of `run`: its manifest, written last, is for this run,
/// and every file it lists is there with the size and hash it records.
pub fn is_complete(dir: &Path, run: &PlanRun) -> bool {
    read_manifest(dir).is_some_and(|m| {
        m.run_id == run.run_id && m.scenario_sha256 == run.scenario_sha256 && m.files_intact(dir)
    })
}

/// What [`write_sweep_tables`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepTables {
    /// Runs with a row.
    pub complete: usize,
    /// Ids of the runs of the plan without a complete directory.
    pub missing: Vec<String>,
}

/// Writes `sweep.csv` and `sweep-timing.csv` in `dir` from the complete run directories under
/// it. Fails when a run is missing, unless `allow_incomplete` (then the rows of the complete
/// runs are written).
pub fn write_sweep_tables(
    dir: &Path,
    plan: &SweepPlan,
    allow_incomplete: bool,
) -> anyhow::Result<SweepTables> {
    let mut summaries = Vec::new();
    let mut timings = Vec::new();
    let mut missing = Vec::new();
    for run in &plan.runs {
        let rd = dir.join(&run.run_id);
        if !is_complete(&rd, run) {
            missing.push(run.run_id.clone());
            continue;
        }
        let mut pre = vec![run.run_id.clone(), run.point.to_string()];
        for p in &plan.parameters {
            pre.push(run.params.get(p).map(param_cell).unwrap_or_default());
        }
        let summary = read_csv(&rd.join(results::SUMMARY_FILE))?;
        if summary.rows.len() != 1 {
            bail!(
                "{} must have exactly one row",
                rd.join(results::SUMMARY_FILE).display()
            );
        }
        summaries.push((pre.clone(), summary));
        let timing = read_csv(&rd.join(results::TIMING_FILE)).unwrap_or_default();
        timings.push((pre[..2].to_vec(), timing));
    }
    if !missing.is_empty() && !allow_incomplete {
        let shown: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
        bail!(
            "{} of {} runs are not complete ({}{}); run the missing shards or `wakusim sweep \
             --resume`, or pass --allow-incomplete",
            missing.len(),
            plan.runs.len(),
            shown.join(", "),
            if missing.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        );
    }
    let mut prefix = vec!["run_id".to_owned(), "point".to_owned()];
    prefix.extend(plan.parameters.iter().cloned());
    let sweep = union_tables(&prefix, &summaries);
    write_table(&dir.join(results::SWEEP_FILE), &sweep)?;
    let timing = union_tables(&prefix[..2], &timings);
    write_table(&dir.join(results::SWEEP_TIMING_FILE), &timing)?;
    Ok(SweepTables {
        complete: summaries.len(),
        missing,
    })
}

fn write_table(path: &Path, t: &CsvTable) -> anyhow::Result<()> {
    write_atomic(path, &csv_bytes(&t.header, &t.rows))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Copies a run directory: every file but the manifest, then the manifest, each atomically.
fn copy_run(from: &Path, to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        fs::remove_dir_all(to).with_context(|| format!("cannot clear {}", to.display()))?;
    }
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let mut names: Vec<String> = fs::read_dir(from)
        .with_context(|| format!("cannot list {}", from.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && n != results::MANIFEST_FILE)
        .collect();
    names.sort();
    names.push(results::MANIFEST_FILE.to_owned());
    for n in names {
        let bytes = fs::read(from.join(&n))
            .with_context(|| format!("cannot read {}", from.join(&n).display()))?;
        write_atomic(&to.join(&n), &bytes)
            .with_context(|| format!("cannot write {}", to.join(&n).display()))?;
    }
    Ok(())
}

/// What a merge did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeReport {
    /// The merged sweep directory.
    pub dir: PathBuf,
    /// Runs copied from another directory.
    pub copied: usize,
    /// Rows in `sweep.csv`, and runs missing.
    pub tables: SweepTables,
}

/// Merges the sweep directories `dirs` (shards of one sweep) into `<out>/<sweep name>/`.
pub fn merge(dirs: &[PathBuf], out: &Path, allow_incomplete: bool) -> anyhow::Result<MergeReport> {
    let mut plan: Option<SweepPlan> = None;
    for d in dirs {
        let p = read_plan(d)?;
        match &plan {
            None => plan = Some(p),
            Some(first) if first.plan_sha256 != p.plan_sha256 => bail!(
                "{} holds a different sweep (plan {}) than {} (plan {}): merge only shards of \
                 the same sweep file, run by the same scenario files",
                d.display(),
                &p.plan_sha256[..12],
                dirs[0].display(),
                &first.plan_sha256[..12]
            ),
            Some(_) => {}
        }
    }
    let Some(plan) = plan else {
        bail!("no directory to merge")
    };
    let dest = out.join(&plan.name);
    fs::create_dir_all(&dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let dest_canon = fs::canonicalize(&dest)?;
    let mut copied = 0;
    let mut commits: Vec<String> = Vec::new();
    for run in &plan.runs {
        let target = dest.join(&run.run_id);
        let Some(src) = dirs
            .iter()
            .map(|d| d.join(&run.run_id))
            .find(|rd| is_complete(rd, run))
        else {
            continue;
        };
        if let Some(m) = read_manifest(&src) {
            if !commits.contains(&m.git_commit) {
                commits.push(m.git_commit);
            }
        }
        let same = fs::canonicalize(&src).is_ok_and(|s| s == dest_canon.join(&run.run_id));
        if !same {
            copy_run(&src, &target)?;
            copied += 1;
        }
    }
    if commits.len() > 1 {
        log::warn!(
            "the runs were made by different builds (git commits {}): results may not be comparable",
            commits.join(", ")
        );
    }
    write_atomic(&dest.join(results::SWEEP_PLAN_FILE), &plan.to_bytes())?;
    let tables = write_sweep_tables(&dest, &plan, allow_incomplete)?;
    Ok(MergeReport {
        dir: dest,
        copied,
        tables,
    })
}
