//! End-to-end tests of the `wakusim` binary, each in its own temporary directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{BIN, ok, stderr, stdout, wakusim};

/// A 12-node flood scenario of 4 simulated seconds, without plots: a few milliseconds a run.
const TINY: &str = r#"
model = "flood"
name = "tiny"
description = "a tiny flood"

[run]
duration_s = 4
warmup_s = 1

[outputs]
plots = false

[network]
latency_ms = 20

[flood]
nodes = 12
chords = 1
publishers = 2
publish_interval_ms = 500
drain_s = 1
"#;

/// 3 x 2 points x 2 seeds = 12 runs.
const SWEEP: &str = r#"
name = "grid"
scenario = "tiny.toml"
seeds = 2

[set]
"network.latency_ms" = 30

[grid]
"flood.chords" = [0, 1, 3]
"flood.message_size_bytes" = { linear = [200, 800], steps = 2 }
"#;

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Asserts a failure with exit status `code`, no panic and no backtrace; returns stderr.
#[track_caller]
fn fails(o: Output, code: i32) -> String {
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{err}",
        stdout(&o)
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    err
}

fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("tiny.toml"), TINY).unwrap();
    fs::write(d.path().join("grid.toml"), SWEEP).unwrap();
    d
}

/// Every file under `root` by relative path, with the machine measurements taken out: no
/// `timing.csv` / `sweep-timing.csv`, and manifests without their `machine` section.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name == "timing.csv" || name == "sweep-timing.csv" {
                continue;
            }
            let mut bytes = fs::read(&p).unwrap();
            if name == "manifest.json" {
                let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                assert!(v.as_object_mut().unwrap().remove("machine").is_some());
                bytes = serde_json::to_vec_pretty(&v).unwrap();
            }
            out.insert(p.strip_prefix(root).unwrap().to_owned(), bytes);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[track_caller]
fn assert_same_tree(a: &Path, b: &Path) {
    let (ta, tb) = (tree(a), tree(b));
    assert_eq!(
        ta.keys().collect::<Vec<_>>(),
        tb.keys().collect::<Vec<_>>(),
        "different files in {} and {}",
        a.display(),
        b.display()
    );
    for (k, v) in &ta {
        assert!(
            v == &tb[k],
            "{} differs between {} and {}",
            k.display(),
            a.display(),
            b.display()
        );
    }
}

#[test]
fn run_writes_the_documented_layout_and_reproduces_from_its_scenario() {
    let d = setup();
    let o = ok(wakusim(d.path(), &["run", "tiny.toml", "--seed", "7"]));
    assert!(stdout(&o).contains("tiny s7: 12 nodes"), "{}", stdout(&o));
    let run = d.path().join("results/tiny/s7");
    for f in [
        "scenario.toml",
        "summary.csv",
        "bandwidth.csv",
        "timeseries.csv",
        "latency.csv",
        "nodes.csv",
        "timing.csv",
        "manifest.json",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    assert!(!run.join("bandwidth.png").exists(), "outputs.plots = false");
    let summary = fs::read_to_string(run.join("summary.csv")).unwrap();
    let header = summary.lines().next().unwrap();
    assert!(header.starts_with(
        "run_id,seed,nodes,sim_seconds,messages_published,delivery_rate_mean,delivery_rate_min,\
         messages_not_fully_delivered,latency_p50_ms,latency_p95_ms,latency_p99_ms,latency_max_ms,\
         duplicates_mean,bandwidth_in_mean_bytes_per_sec,bandwidth_out_mean_bytes_per_sec,\
         bandwidth_in_p95_bytes_per_sec,bandwidth_out_p95_bytes_per_sec,events,"
    ));
    assert!(
        summary.lines().nth(1).unwrap().starts_with("s7,7,12,4,"),
        "{summary}"
    );
    assert!(
        !header.contains("wall"),
        "machine figures stay out of summary.csv"
    );
    let bw = fs::read_to_string(run.join("bandwidth.csv")).unwrap();
    assert!(bw.starts_with(
        "node_group,category,direction,bytes_per_sec_mean,bytes_per_sec_p50,bytes_per_sec_p95,bytes_per_sec_max,messages\n"
    ));
    assert!(
        fs::read_to_string(run.join("timeseries.csv"))
            .unwrap()
            .contains(",delivery_rate,")
    );

    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["seed"], 7);
    assert_eq!(m["run_id"], "s7");
    assert_eq!(m["scenario"]["run"]["seed"], 7);
    assert_eq!(
        m["scenario"]["run"]["series_interval_s"], 1.0,
        "defaults are filled in"
    );
    assert_eq!(m["scenario_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(m["event_hash"].as_str().unwrap().len(), 16);
    assert!(m["events"].as_u64().unwrap() > 0);
    assert!(m["git_commit"].is_string() && m["wakusim_version"].is_string());
    assert!(m["machine"]["wall_s"].is_number() && m["machine"]["peak_rss_bytes"].is_number());
    assert_eq!(m["files"][0], "scenario.toml");

    // The run's scenario.toml reproduces it exactly.
    let again = d.path().join("again");
    fs::create_dir(&again).unwrap();
    ok(wakusim(
        &again,
        &["run", run.join("scenario.toml").to_str().unwrap()],
    ));
    assert_same_tree(&run, &again.join("results/tiny/s7"));
}

#[test]
fn runs_are_deterministic_and_seeds_matter() {
    let d = setup();
    ok(wakusim(
        d.path(),
        &[
            "run",
            "tiny.toml",
            "--out",
            "a",
            "--set",
            "run.seeds=[1, 2]",
        ],
    ));
    ok(wakusim(
        d.path(),
        &[
            "run",
            "tiny.toml",
            "--out",
            "b",
            "--set",
            "run.seeds=[1, 2]",
        ],
    ));
    assert_same_tree(&d.path().join("a"), &d.path().join("b"));
    let s1 = fs::read_to_string(d.path().join("a/tiny/s1/summary.csv")).unwrap();
    let s2 = fs::read_to_string(d.path().join("a/tiny/s2/summary.csv")).unwrap();
    assert_ne!(
        s1.lines().nth(1).unwrap()[3..],
        s2.lines().nth(1).unwrap()[3..]
    );
    // The scenario directory's summary.csv has one row per seed.
    let all = fs::read_to_string(d.path().join("a/tiny/summary.csv")).unwrap();
    assert_eq!(all.lines().count(), 3);
}

#[test]
fn sweeps_are_byte_identical_across_jobs_shards_and_merge() {
    let d = setup();
    let p = d.path();
    let o = ok(wakusim(
        p,
        &["sweep", "grid.toml", "--jobs", "1", "--out", "j1"],
    ));
    assert!(
        stderr(&o).contains("6 points x 2 seeds = 12 runs"),
        "{}",
        stderr(&o)
    );
    ok(wakusim(
        p,
        &["sweep", "grid.toml", "--jobs", "2", "--out", "j2"],
    ));
    let o = ok(wakusim(
        p,
        &["sweep", "grid.toml", "--shard", "1/2", "--out", "s1"],
    ));
    assert!(stdout(&o).contains("wakusim merge"), "{}", stdout(&o));
    let o = Command::new(BIN)
        .args([
            "sweep",
            "grid.toml",
            "--shard",
            "env/2",
            "--out",
            "s2",
            "--jobs",
            "3",
        ])
        .current_dir(p)
        .env("CI", "1")
        .env("JOB_COMPLETION_INDEX", "1")
        .output()
        .unwrap();
    ok(o);
    assert!(
        !p.join("s1/grid/sweep.csv").exists(),
        "a shard writes no sweep.csv"
    );

    // The two shards hold every run exactly once.
    let runs = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(p.join(dir).join("grid"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let (a, b) = (runs("s1"), runs("s2"));
    assert_eq!(a.len() + b.len(), 12);
    assert!(a.iter().all(|r| !b.contains(r)));
    assert_eq!(a[0], "p000-s1", "shard 1/2 has the even run indices");
    assert_eq!(
        b[0], "p000-s2",
        "shard 2/2 (index 1 from JOB_COMPLETION_INDEX) the odd ones"
    );

    let o = ok(wakusim(
        p,
        &["merge", "s1/grid", "s2/grid", "--out", "merged"],
    ));
    assert!(stdout(&o).contains("merged 12 runs"), "{}", stdout(&o));

    let sweep = fs::read_to_string(p.join("j1/grid/sweep.csv")).unwrap();
    let mut lines = sweep.lines();
    assert!(
        lines.next().unwrap().starts_with(
            "run_id,point,flood.chords,flood.message_size_bytes,seed,nodes,sim_seconds,"
        )
    );
    let ids: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids.len(), 12);
    assert_eq!(&ids[..4], ["p000-s1", "p000-s2", "p001-s1", "p001-s2"]);
    assert!(sweep.contains("\np005-s2,5,3,800,2,12,"), "{sweep}");

    assert_same_tree(&p.join("j1/grid"), &p.join("j2/grid"));
    assert_same_tree(&p.join("j1/grid"), &p.join("merged/grid"));
    // sweep-timing.csv has the same rows, different measurements.
    let t = fs::read_to_string(p.join("merged/grid/sweep-timing.csv")).unwrap();
    assert_eq!(t.lines().count(), 13);
}

#[test]
fn merge_in_place_on_a_shared_directory_and_incomplete_merges() {
    let d = setup();
    let p = d.path();
    ok(wakusim(p, &["sweep", "grid.toml", "--shard", "2/2"]));
    let err = fails(wakusim(p, &["merge", "results/grid"]), 1);
    assert!(err.contains("6 of 12 runs are not complete"), "{err}");
    ok(wakusim(p, &["merge", "results/grid", "--allow-incomplete"]));
    assert_eq!(
        fs::read_to_string(p.join("results/grid/sweep.csv"))
            .unwrap()
            .lines()
            .count(),
        7
    );
    // The other shard into the same directory, then an in-place merge.
    ok(wakusim(p, &["sweep", "grid.toml", "--shard", "1/2"]));
    let o = ok(wakusim(p, &["merge", "results/grid"]));
    assert!(
        stdout(&o).contains("merged 12 runs (0 copied)"),
        "{}",
        stdout(&o)
    );
    ok(wakusim(p, &["sweep", "grid.toml", "--out", "single"]));
    assert_same_tree(&p.join("single/grid"), &p.join("results/grid"));
    // Shards of different sweeps do not merge.
    fs::write(p.join("other.toml"), SWEEP.replace("[0, 1, 3]", "[0, 2]")).unwrap();
    ok(wakusim(p, &["sweep", "other.toml", "--out", "other"]));
    let err = fails(
        wakusim(p, &["merge", "results/grid", "other/grid", "--out", "m"]),
        1,
    );
    assert!(err.contains("holds a different sweep"), "{err}");
}

#[test]
fn resume_skips_exactly_the_finished_runs() {
    let d = setup();
    let p = d.path();
    ok(wakusim(p, &["sweep", "grid.toml", "--jobs", "2"]));
    let before = fs::read(p.join("results/grid/sweep.csv")).unwrap();
    // Mark every run, then make one look interrupted: no manifest, the done marker.
    let root = p.join("results/grid");
    for e in fs::read_dir(&root).unwrap() {
        let e = e.unwrap().path();
        if e.is_dir() {
            fs::write(e.join("untouched"), "").unwrap();
        }
    }
    fs::remove_file(root.join("p002-s1/manifest.json")).unwrap();
    fs::remove_file(root.join("sweep.csv")).unwrap();
    let o = ok(wakusim(p, &["sweep", "grid.toml", "--resume"]));
    assert!(
        stderr(&o).contains("1 to run (11 already complete)"),
        "{}",
        stderr(&o)
    );
    for e in fs::read_dir(&root).unwrap() {
        let e = e.unwrap().path();
        if e.is_dir() {
            let rerun = e.ends_with("p002-s1");
            assert_eq!(!e.join("untouched").exists(), rerun, "{}", e.display());
            assert!(e.join("manifest.json").is_file());
        }
    }
    assert_eq!(fs::read(root.join("sweep.csv")).unwrap(), before);
    // A run whose manifest is there but whose files are not all complete is run again: a
    // file missing, one cut short, one changed in place (same size), timing.csv cut.
    let files_before = raw_tree(&root);
    fs::remove_file(root.join("p000-s1/latency.csv")).unwrap();
    let cut = root.join("p001-s2/bandwidth.csv");
    let bytes = fs::read(&cut).unwrap();
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let changed = root.join("p003-s1/summary.csv");
    let mut bytes = fs::read(&changed).unwrap();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'1' { b'2' } else { b'1' };
    fs::write(&changed, &bytes).unwrap();
    let timing = root.join("p004-s2/timing.csv");
    let bytes = fs::read(&timing).unwrap();
    fs::write(&timing, &bytes[..bytes.len() - 1]).unwrap();
    let o = ok(wakusim(p, &["sweep", "grid.toml", "--resume"]));
    assert!(
        stderr(&o).contains("4 to run (8 already complete)"),
        "{}",
        stderr(&o)
    );
    for rerun in ["p000-s1", "p001-s2", "p003-s1", "p004-s2"] {
        assert!(!root.join(rerun).join("untouched").exists(), "{rerun}");
    }
    assert!(root.join("p005-s1/untouched").exists());
    let files_after = raw_tree(&root);
    for (k, v) in &files_before {
        let name = k.file_name().unwrap().to_string_lossy();
        if ![
            "timing.csv",
            "manifest.json",
            "sweep-timing.csv",
            "untouched",
        ]
        .contains(&name.as_ref())
        {
            assert!(files_after.get(k) == Some(v), "{} differs", k.display());
        }
    }
    // The manifest records every file's size and SHA-256; timing.csv's under `machine`.
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("p000-s1/manifest.json")).unwrap()).unwrap();
    let summary = fs::read(root.join("p000-s1/summary.csv")).unwrap();
    assert_eq!(
        m["checksums"]["summary.csv"],
        serde_json::json!({
            "bytes": summary.len(),
            "sha256": sha256_hex(&summary),
        })
    );
    let names: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .filter(|f| *f != "timing.csv")
        .collect();
    let checked: Vec<&str> = m["checksums"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(checked, sorted);
    let timing = fs::read(root.join("p000-s1/timing.csv")).unwrap();
    assert_eq!(m["machine"]["timing_csv"]["bytes"], timing.len());
    assert_eq!(m["machine"]["timing_csv"]["sha256"], sha256_hex(&timing));
    // A changed sweep definition re-runs what changed, even with --resume.
    fs::write(p.join("grid.toml"), SWEEP.replace("= 30", "= 31")).unwrap();
    let o = ok(wakusim(p, &["sweep", "grid.toml", "--resume"]));
    assert!(
        stderr(&o).contains("12 to run (0 already complete)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn compare_exits_non_zero_past_tolerance_and_zero_within() {
    let d = setup();
    let p = d.path();
    ok(wakusim(p, &["run", "tiny.toml", "--out", "base"]));
    let o = ok(wakusim(p, &["compare", "base/tiny", "base/tiny/s1"]));
    assert!(stdout(&o).contains("OK:"), "{}", stdout(&o));
    // A copy with latency_p95_ms 10 % higher.
    let path = p.join("base/tiny/s1/summary.csv");
    let text = fs::read_to_string(&path).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let mut row: Vec<String> = text
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let i = header.iter().position(|h| *h == "latency_p95_ms").unwrap();
    let v: f64 = row[i].parse().unwrap();
    row[i] = (v * 1.1).to_string();
    fs::write(
        p.join("worse.csv"),
        format!("{}\n{}\n", header.join(","), row.join(",")),
    )
    .unwrap();
    let o = wakusim(p, &["compare", "base/tiny/s1/summary.csv", "worse.csv"]);
    let out = stdout(&o);
    fails(o, 3);
    assert!(
        out.contains("latency_p95_ms") && out.contains("WORSE") && out.contains("+10.00%"),
        "{out}"
    );
    ok(wakusim(
        p,
        &[
            "compare",
            "base/tiny/s1/summary.csv",
            "worse.csv",
            "--tolerance",
            "latency_p95_ms=15",
        ],
    ));
    // Lower latency is an improvement, not a failure.
    ok(wakusim(
        p,
        &["compare", "worse.csv", "base/tiny/s1/summary.csv"],
    ));
    // A different node count must match.
    ok(wakusim(
        p,
        &[
            "run",
            "tiny.toml",
            "--out",
            "more",
            "--set",
            "flood.nodes=13",
        ],
    ));
    let err = fails(wakusim(p, &["compare", "base/tiny", "more/tiny"]), 1);
    assert!(
        err.contains(
            "base/tiny/summary.csv and more/tiny/summary.csv are results of different scenarios \
             (run s1: nodes 12 and 13)"
        ),
        "{err}"
    );
    // A run of another model is another scenario.
    fs::write(
        p.join("w.toml"),
        "model = \"waku\"\nname = \"tiny\"\n[run]\nduration_s = 4\nwarmup_s = 1\n\
         [outputs]\nplots = false\n[network]\nnodes = 12\n[metrics]\ndelivery_grace_s = 1\n",
    )
    .unwrap();
    ok(wakusim(p, &["run", "w.toml", "--out", "waku"]));
    let err = fails(wakusim(p, &["compare", "base/tiny", "waku/tiny"]), 1);
    assert!(
        err.contains("different scenarios (model flood and model waku)"),
        "{err}"
    );
    // An unknown metric in --tolerance is an error naming it and the known ones.
    let err = fails(
        wakusim(
            p,
            &[
                "compare",
                "base/tiny",
                "base/tiny",
                "--tolerance",
                "latency_p96_ms=5",
            ],
        ),
        1,
    );
    assert!(
        err.contains("unknown metric `latency_p96_ms` in --tolerance; the metrics of these results are: seed, nodes,"),
        "{err}"
    );
    assert!(err.contains("latency_p95_ms"), "{err}");
    let err = fails(wakusim(p, &["compare", "base/tiny", "nope.csv"]), 1);
    assert!(err.contains("nope.csv"), "{err}");
}

#[test]
fn scenario_errors_name_file_line_and_field() {
    let d = setup();
    let p = d.path();
    let write = |name: &str, text: &str| fs::write(p.join(name), text).unwrap();
    // Wrong type and unknown field, both reported.
    write(
        "a.toml",
        "model = \"flood\"\n[run]\nduration_s = \"ten\"\n[flood]\nnodse = 3\n",
    );
    let err = fails(wakusim(p, &["run", "a.toml"]), 1);
    assert!(
        err.contains(
            "a.toml:3:1: field `run.duration_s`: invalid type: string \"ten\", expected a number"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "a.toml:5:1: field `flood.nodse`: unknown field `nodse`, expected one of `nodes`"
        ),
        "{err}"
    );
    assert!(!p.join("results").exists(), "nothing ran");
    // Out of range, set in a base file: the base file's line is named.
    write(
        "base.toml",
        "model = \"flood\"\n\n[flood]\nnodes = 20\npublishers = 40\n",
    );
    write(
        "child.toml",
        "extends = \"base.toml\"\n[flood]\nnodes = 30\n",
    );
    let err = fails(wakusim(p, &["validate", "child.toml"]), 1);
    assert!(err.contains("base.toml:5:1: field `flood.publishers`: must be between 1 and the number of nodes (30), got 40"), "{err}");
    // A contradiction between two sections.
    write(
        "c.toml",
        "model = \"flood\"\n[run]\nduration_s = 5\nwarmup_s = 4\n",
    );
    let err = fails(wakusim(p, &["validate", "c.toml"]), 1);
    assert!(
        err.contains("field `flood.drain_s`: no message would be measured"),
        "{err}"
    );
    // A --set value of the wrong type.
    let err = fails(
        wakusim(p, &["validate", "tiny.toml", "--set", "flood.nodes=many"]),
        1,
    );
    assert!(
        err.contains("--set flood.nodes=many: field `flood.nodes`: invalid type: string \"many\""),
        "{err}"
    );
    // Missing files, directly and through extends.
    let err = fails(wakusim(p, &["run", "missing.toml"]), 1);
    assert!(err.contains("missing.toml: no such scenario file"), "{err}");
    write("d.toml", "# base is gone\nextends = \"gone.toml\"\n");
    let err = fails(wakusim(p, &["run", "d.toml"]), 1);
    assert!(
        err.contains("d.toml:2:1: field `extends`: the base scenario")
            && err.contains("gone.toml does not exist"),
        "{err}"
    );
    // Syntax errors.
    write("e.toml", "model = \"flood\"\n[run\n");
    let err = fails(wakusim(p, &["run", "e.toml"]), 1);
    assert!(
        err.contains("e.toml:2:") && err.contains("invalid TOML"),
        "{err}"
    );
    // A cycle.
    write("x.toml", "extends = \"y.toml\"\n");
    write("y.toml", "extends = \"x.toml\"\n");
    let err = fails(wakusim(p, &["run", "x.toml"]), 1);
    assert!(err.contains("`extends` cycle"), "{err}");
    // Command-line mistakes are usage errors.
    fails(
        wakusim(p, &["run", "tiny.toml", "--set", "no-equals-sign"]),
        2,
    );
    let err = fails(wakusim(p, &["sweep", "grid.toml", "--shard", "3/2"]), 2);
    assert!(err.contains("`3/2` is not a shard"), "{err}");
    fails(wakusim(p, &["sweep", "grid.toml", "--shard", "0/2"]), 2);
    fails(wakusim(p, &["frobnicate"]), 2);
}

#[test]
fn validate_prints_the_resolved_scenario_with_every_default() {
    let d = setup();
    let p = d.path();
    fs::write(p.join("min.toml"), "model = \"flood\"\n").unwrap();
    let out = stdout(&ok(wakusim(p, &["validate", "min.toml"])));
    for line in [
        "model = \"flood\"",
        "name = \"min\"",
        "[run]",
        "duration_s = 60.0",
        "warmup_s = 0.0",
        "seed = 1",
        "series_interval_s = 1.0",
        "[outputs]",
        "formats = [\"png\", \"svg\"]",
        "timeseries_plots = [\"delivery_rate\"]",
        "[network]",
        "latency_ms = 50.0",
        "[flood]",
        "nodes = 20",
        "topology = \"ring-chords\"",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "{line:?} missing from:\n{out}"
        );
    }
    // The resolved scenario is a fixed point.
    fs::write(p.join("resolved.toml"), &out).unwrap();
    let again = stdout(&ok(wakusim(p, &["validate", "resolved.toml"])));
    assert_eq!(
        again.replace("name = \"min\"", ""),
        out.replace("name = \"min\"", "")
    );
    // A sweep file validates to its plan.
    let out = stdout(&ok(wakusim(p, &["validate", "grid.toml"])));
    assert!(out.contains("6 points x 2 seeds = 12 runs"), "{out}");
    assert!(
        out.contains("flood.message_size_bytes = [200, 800]"),
        "{out}"
    );
}

#[test]
fn bundled_scenarios_help_and_completions() {
    let d = setup();
    let p = d.path();
    let out = stdout(&ok(wakusim(p, &["list"])));
    assert!(out.lines().any(|l| l.starts_with("flood-small ")), "{out}");
    // Bundled sweeps are listed too, marked as such.
    assert!(
        out.lines()
            .any(|l| l.starts_with("communities-shards ") && l.contains("(sweep)")),
        "{out}"
    );
    ok(wakusim(p, &["validate", "flood-small"]));
    for cmd in [
        "run",
        "sweep",
        "merge",
        "plot",
        "compare",
        "validate",
        "list",
        "bench",
        "completions",
    ] {
        let out = stdout(&ok(wakusim(p, &[cmd, "--help"])));
        assert!(out.contains("Usage: wakusim"), "{cmd}: {out}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = stdout(&ok(wakusim(p, &["completions", shell])));
        assert!(out.contains("wakusim") && out.contains("sweep"), "{shell}");
    }
}

#[test]
fn plot_redraws_pngs_and_svgs_from_the_csv_files() {
    let d = setup();
    let p = d.path();
    ok(wakusim(p, &["run", "tiny.toml"]));
    let run = p.join("results/tiny/s1");
    let out = stdout(&ok(wakusim(p, &["plot", "results/tiny/s1"])));
    for f in [
        "bandwidth.png",
        "bandwidth.svg",
        "latency-cdf.png",
        "latency-cdf.svg",
        "timeseries-delivery_rate.png",
    ] {
        assert!(out.contains(f), "{f} not reported: {out}");
        assert!(
            fs::metadata(run.join(f)).unwrap().len() > 1000,
            "{f} is empty"
        );
    }
    let png = fs::read(run.join("bandwidth.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = fs::read_to_string(run.join("latency-cdf.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("Latency CDF"));
    // No temporary files are left.
    assert!(
        fs::read_dir(&run).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with('.'))
    );
    let err = fails(wakusim(p, &["plot", "nowhere"]), 1);
    assert!(err.contains("nowhere is not a directory"), "{err}");
}

#[test]
fn bench_reports_json_with_peak_memory() {
    let d = setup();
    let out = stdout(&ok(wakusim(
        d.path(),
        &[
            "bench", "engine", "--nodes", "10", "--events", "2000", "--json",
        ],
    )));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for k in [
        "nodes",
        "events",
        "events_per_sec",
        "baseline_heap_events_per_sec",
        "ratio",
        "peak_rss_bytes",
    ] {
        assert!(v.get(k).is_some(), "{k} missing: {out}");
    }
    fs::write(d.path().join("b.json"), &out).unwrap();
    ok(wakusim(d.path(), &["compare", "b.json", "b.json"]));
    fails(wakusim(d.path(), &["bench", "network", "--nodes", "3"]), 1);
}

/// Runs wakusim with its standard output into a pipe whose reading end is closed at once.
fn into_closed_pipe(dir: &Path, args: &[&str]) -> Output {
    use std::process::Stdio;
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("CI", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let d = setup();
    for args in [
        &["completions", "bash"][..],
        &[
            "topology",
            "--kind",
            "random_regular",
            "--nodes",
            "100",
            "--degree",
            "4",
            "--json",
        ][..],
        &["validate", "tiny.toml"][..],
    ] {
        let o = into_closed_pipe(d.path(), args);
        let err = stderr(&o);
        assert!(err.is_empty(), "{args:?}: {err}");
        assert!(
            o.status.success() || o.status.signal() == Some(13),
            "{args:?}: {:?}",
            o.status
        );
    }
}

#[test]
fn quiet_silences_the_sweep_plan() {
    let d = setup();
    let o = ok(wakusim(
        d.path(),
        &["-q", "sweep", "grid.toml", "--jobs", "2"],
    ));
    assert_eq!(stderr(&o), "");
    assert!(stdout(&o).contains("sweep grid: 12 runs"), "{}", stdout(&o));
}

#[test]
fn a_run_without_messages_has_empty_cells_that_compare_as_not_comparable() {
    let d = setup();
    let p = d.path();
    fs::write(
        p.join("quiet.toml"),
        // No stream publishes: the run measures the idle overlay, with no message.
        "model = \"waku\"\nname = \"quiet\"\n[run]\nduration_s = 4\nwarmup_s = 1\n\
         [outputs]\nplots = false\n[network]\nnodes = 12\n[workload]\nstreams = []\n",
    )
    .unwrap();
    let o = ok(wakusim(p, &["run", "quiet.toml"]));
    assert!(
        stdout(&o).contains("0 messages, delivery -, latency p50 - ms p99 - ms"),
        "{}",
        stdout(&o)
    );
    let summary = fs::read_to_string(p.join("results/quiet/s1/summary.csv")).unwrap();
    let header: Vec<&str> = summary.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = summary.lines().nth(1).unwrap().split(',').collect();
    let cell = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(cell("messages_published"), "0");
    for undefined in [
        "delivery_rate_mean",
        "delivery_rate_min",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "latency_max_ms",
        "duplicates_mean",
        "latency_mean_ms",
        "duplicates_p95",
        "hops_mean",
        "dissemination_p95_mean_ms",
        "dissemination_max_max_ms",
        "dissemination_max_reached_fraction",
    ] {
        assert_eq!(cell(undefined), "", "{undefined}: {summary}");
    }
    // The same in shards.csv: a shard without messages has no delivery rate.
    let shards = fs::read_to_string(p.join("results/quiet/s1/shards.csv")).unwrap();
    let sh: Vec<&str> = shards.lines().next().unwrap().split(',').collect();
    let sr: Vec<&str> = shards.lines().nth(1).unwrap().split(',').collect();
    let scell = |name: &str| sr[sh.iter().position(|h| *h == name).unwrap()];
    assert_eq!(scell("messages"), "0");
    assert_eq!(scell("delivery_rate_mean"), "", "{shards}");
    assert_eq!(scell("delivery_rate_min"), "", "{shards}");
    assert_eq!(cell("messages_not_fully_delivered"), "0");
    assert_ne!(cell("bandwidth_out_mean_bytes_per_sec"), "");
    // Undefined values are neither better nor worse.
    let o = ok(wakusim(
        p,
        &["compare", "results/quiet", "results/quiet/s1"],
    ));
    let out = stdout(&o);
    assert!(
        out.lines()
            .any(|l| l.starts_with("s1   latency_p95_ms") && l.ends_with("n/a")),
        "{out}"
    );
    assert!(
        // 10 relay figures, and 21 of dissemination (5 levels x 4 statistics, and the
        // reached fraction).
        out.contains("\n31 values not comparable (n/a): undefined (an empty cell)"),
        "{out}"
    );
}

/// Every file under `root` by relative path, bytes as they are.
fn raw_tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_owned(),
                    fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn a_failed_run_leaves_the_earlier_results_as_they_were() {
    let d = setup();
    let p = d.path();
    let ring: String = (0..12)
        .map(|i| format!("{i},{}\n{i},{}\n", (i + 1) % 12, (i + 3) % 12))
        .collect();
    fs::write(p.join("g.csv"), format!("source,target\n{ring}")).unwrap();
    fs::write(
        p.join("filed.toml"),
        "model = \"waku\"\nname = \"filed\"\n[run]\nduration_s = 4\nwarmup_s = 1\nseeds = [1, 2]\n\
         [outputs]\nplots = false\n[metrics]\ndelivery_grace_s = 1\n[network]\nnodes = 12\n\
         [network.topology]\nkind = \"file\"\npath = \"g.csv\"\n",
    )
    .unwrap();
    ok(wakusim(p, &["run", "filed.toml"]));
    let root = p.join("results/filed");
    let before = raw_tree(&root);
    assert!(before.contains_key(Path::new("s2/manifest.json")));
    // The graph file breaks. `run` checks it before anything runs (so no run starts, and
    // nothing of the earlier results is touched, not even a `s1.failed/`).
    fs::write(p.join("g.csv"), "garbage\n").unwrap();
    let err = fails(wakusim(p, &["run", "filed.toml"]), 1);
    assert!(
        err.contains("invalid scenario `filed.toml`") && err.contains("network.topology.path"),
        "{err}"
    );
    let after = raw_tree(&root);
    assert!(
        before == after,
        "the earlier runs and summary.csv are untouched"
    );
    // What a killed run leaves behind (a hidden temporary directory) is not read as a run.
    let leftover = root.join(".s1.99-0.tmp");
    fs::create_dir(&leftover).unwrap();
    for f in [
        "scenario.toml",
        "summary.csv",
        "bandwidth.csv",
        "manifest.json",
    ] {
        fs::copy(root.join("s1").join(f), leftover.join(f)).unwrap();
    }
    let out = stdout(&ok(wakusim(p, &["plot", "results/filed"])));
    assert!(
        out.contains("results/filed/s1/") && !out.contains(".s1."),
        "{out}"
    );
    fs::remove_dir_all(&leftover).unwrap();
    // A successful run replaces the earlier one and removes the failed run's directory.
    fs::write(p.join("g.csv"), format!("source,target\n{ring}")).unwrap();
    ok(wakusim(p, &["run", "filed.toml", "--seed", "1"]));
    let names: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["s1", "s2", "summary.csv", "timing.csv"]);
    let summary = fs::read_to_string(root.join("summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 2, "the run just made: {summary}");
    assert!(summary.lines().nth(1).unwrap().starts_with("s1,1,12,"));
}

#[test]
fn bundled_sweeps_by_name_and_extends_of_a_bundled_scenario() {
    let d = setup();
    let p = d.path();
    let out = stdout(&ok(wakusim(p, &["validate", "communities-shards"])));
    assert!(
        out.starts_with("sweep communities-shards: 4 points x 1 seeds = 4 runs"),
        "{out}"
    );
    // `sweep NAME` runs the bundled sweep exactly as its file does.
    let small = [
        "--shard",
        "1/4",
        "--set",
        "network.nodes=200",
        "--set",
        "run.duration_s=2",
        "--set",
        "run.warmup_s=0",
        "--set",
        "metrics.delivery_grace_s=1",
        "--set",
        "outputs.plots=false",
    ];
    let by_name = [&["sweep", "communities-shards", "--out", "a"][..], &small].concat();
    ok(wakusim(p, &by_name));
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sweeps/communities-shards.toml");
    let by_file = [&["sweep", file.to_str().unwrap(), "--out", "b"][..], &small].concat();
    ok(wakusim(p, &by_file));
    assert!(
        p.join("a/communities-shards/p000-s1/manifest.json")
            .is_file()
    );
    assert_same_tree(
        &p.join("a/communities-shards"),
        &p.join("b/communities-shards"),
    );
    let err = fails(wakusim(p, &["sweep", "no-such-sweep"]), 1);
    assert!(
        err.contains("no-such-sweep: no such sweep file, and no bundled sweep of that name (the bundled ones: communities-shards")
            ,
        "{err}"
    );
    // `extends` may name a bundled scenario.
    fs::write(
        p.join("child.toml"),
        "extends = \"flood-small\"\nname = \"child\"\n[run]\nduration_s = 7\n",
    )
    .unwrap();
    let child = stdout(&ok(wakusim(p, &["validate", "child.toml"])));
    let base = stdout(&ok(wakusim(
        p,
        &["validate", "flood-small", "--set", "run.duration_s=7"],
    )));
    assert_eq!(
        child.replace("name = \"child\"", "name = \"flood-small\""),
        base
    );
}

#[test]
fn tcp_off_reproduces_the_model_before_tcp() {
    // TCP is on by default; switched off, the network model is the one before TCP, whose
    // results must not move: relay-small's summary.csv byte for byte as committed in
    // results/baselines/relay-small-tcp-off (written by the binary before TCP became the
    // default; CI checks it too, in .ci/regression).
    let d = setup();
    let p = d.path();
    let args = [
        "run",
        "relay-small",
        "--out",
        "off",
        "--quiet",
        "--set",
        "network.tcp.enabled=false",
        "--set",
        "outputs.plots=false",
    ];
    ok(wakusim(p, &args));
    let baseline = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../results/baselines/relay-small-tcp-off/summary.csv");
    let want = fs::read_to_string(baseline).unwrap();
    let got = fs::read_to_string(p.join("off/relay-small/summary.csv")).unwrap();
    assert_eq!(got, want);
    // And on (the default) it differs: TCP/IP headers alone change the bandwidth.
    ok(wakusim(
        p,
        &[
            "run",
            "relay-small",
            "--out",
            "on",
            "--quiet",
            "--set",
            "outputs.plots=false",
        ],
    ));
    let on = fs::read_to_string(p.join("on/relay-small/summary.csv")).unwrap();
    assert_ne!(on, want);
}
