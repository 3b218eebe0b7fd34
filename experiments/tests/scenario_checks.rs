//! End-to-end tests of what `wakusim validate` and `wakusim run` check before a run starts,
//! and of how paths inside scenarios are resolved.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_wakusim");

/// A six-node ring with one chord, as a CSV edge list.
const RING: &str = "0,1\n1,2\n2,3\n3,4\n4,5\n5,0\n0,3\n";

/// A 5-second Waku run on a file topology named relative to this file.
const FILE_TOPOLOGY: &str = r#"
model = "waku"
name = "filetopo"

[run]
duration_s = 5
warmup_s = 1

[outputs]
plots = false

[network]
topology = { kind = "file", path = "ring.csv" }

[[workload.streams]]
publishers = { count = 2 }
interval_ms = 500
payload = { fixed_bytes = 200 }

[metrics]
delivery_grace_s = 1
"#;

fn wakusim(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("CI", "1")
        .env_remove("WAKUSIM_OUT")
        .env_remove("WAKUSIM_LOG")
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    o
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn topology_paths_are_relative_to_the_file_that_names_them_and_runs_reproduce() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    // The base scenario and its graph in one directory, the scenario extending it in another,
    // and the command run from a third that holds neither.
    fs::create_dir_all(d.join("scenarios/base")).unwrap();
    fs::create_dir_all(d.join("elsewhere")).unwrap();
    fs::create_dir_all(d.join("again")).unwrap();
    fs::write(d.join("scenarios/base/base.toml"), FILE_TOPOLOGY).unwrap();
    fs::write(d.join("scenarios/base/ring.csv"), RING).unwrap();
    fs::write(
        d.join("scenarios/top.toml"),
        "extends = \"base/base.toml\"\nname = \"top\"\n",
    )
    .unwrap();
    let top = d.join("scenarios/top.toml");
    let o = ok(wakusim(&d.join("elsewhere"), &["validate", s(&top)]));
    let graph = std::path::absolute(d.join("scenarios/base/ring.csv")).unwrap();
    assert!(
        stdout(&o).contains(&format!("path = {:?}", s(&graph))),
        "the resolved scenario names the file absolutely: {}",
        stdout(&o)
    );
    let out = d.join("out");
    let o = ok(wakusim(
        &d.join("elsewhere"),
        &["run", s(&top), "--out", s(&out)],
    ));
    assert!(stdout(&o).contains("top s1: 6 nodes"), "{}", stdout(&o));
    // The run's scenario.toml reproduces it, read from anywhere.
    let run = out.join("top/s1");
    let again = d.join("again/out");
    ok(wakusim(
        &d.join("again"),
        &["run", s(&run.join("scenario.toml")), "--out", s(&again)],
    ));
    for f in ["summary.csv", "scenario.toml", "latency.csv"] {
        assert_eq!(
            fs::read(run.join(f)).unwrap(),
            fs::read(again.join("top/s1").join(f)).unwrap(),
            "{f}"
        );
    }
    // --set paths are relative to the working directory.
    let o = ok(wakusim(
        &d.join("scenarios/base"),
        &[
            "validate",
            s(&top),
            "--set",
            "network.topology.path=ring.csv",
        ],
    ));
    assert!(stdout(&o).contains(&format!("path = {:?}", s(&graph))));
}
