//! End-to-end tests of what `wakusim validate` and `wakusim run` check before a run starts,
//! and of how paths inside scenarios are resolved.

use std::fs;
use std::path::Path;
use std::process::Output;

mod common;
use common::{ok, stderr, stdout, wakusim};

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

/// Asserts exit status 1 without a panic; returns stderr.
#[track_caller]
fn fails(o: Output) -> String {
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{err}",
        stdout(&o)
    );
    assert!(!err.contains("panicked"), "{err}");
    err
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

/// Writes the file-topology scenario and its graph into `d`, with `extra` appended.
fn scenario_in(d: &Path, extra: &str) -> String {
    fs::write(d.join("ring.csv"), RING).unwrap();
    fs::write(d.join("s.toml"), format!("{FILE_TOPOLOGY}{extra}")).unwrap();
    "s.toml".to_owned()
}

#[test]
fn validate_and_run_refuse_what_cannot_work_before_anything_runs() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let sc = scenario_in(d, "");
    // (overrides, the field named, words of the message)
    let cases: &[(&[&str], &str, &str)] = &[
        // The topology file is read: an id beyond network.nodes (ids 0..5 with nodes = 5).
        (
            &["network.nodes=5"],
            "network.topology.path",
            "csv line 5: edge names node 5, but the graph has 5 nodes",
        ),
        // A single node cannot dial 6 peers.
        (
            &[
                "network.nodes=1",
                "network.topology={kind=\"dial\",outbound=6}",
            ],
            "network.topology.outbound",
            "must be less than network.nodes (1)",
        ),
        // The default peer manager wants 10 outbound peers (50 x 60 % = 30 relay slots, a
        // third of them outbound); 6 nodes leave each node 5.
        (
            &["overlay.mode=\"emergent\""],
            "network.topology.path",
            "6 nodes (the topology file's) leave each node 5 peers, but the peer manager wants 10",
        ),
        // 5 s run, 1 s warm-up, 4 s grace: nothing published in [1, 1] s is measured.
        (
            &["metrics.delivery_grace_s=4"],
            "metrics.delivery_grace_s",
            "run.duration_s - delivery_grace_s = 5 - 4 = 1 s), which leaves no time",
        ),
        // A stream that stops before the warm-up ends.
        (
            &["workload.streams=[{publishers={count=2},stop_s=0.5}]"],
            "workload.streams[0].stop_s",
            "no message of it falls in the measured window",
        ),
        // 7 publishers on 6 nodes (today clamped to 6 without a word).
        (
            &["workload.streams=[{publishers={count=7}}]"],
            "workload.streams[0].publishers.count",
            "7 publishers, but the network has 6 nodes",
        ),
        // A 153,600-byte payload encodes to 153,640 bytes: the payload with its tag and a
        // 3-byte length (153,604), the default content topic "/wakusim/1/default/proto" (24
        // bytes, with tag and length 26) and the timestamp (10); the limit is 153,600.
        (
            &["workload.streams=[{publishers={count=2},payload={fixed_bytes=153600}}]"],
            "workload.streams[0].payload",
            "a 153600-byte payload makes a 153640-byte WakuMessage, above \
             relay.max_message_bytes = 153600: nwaku refuses to publish it",
        ),
        // A segment must carry payload: the MSS must exceed the TCP options it holds.
        (
            &["network.tcp.mss_bytes=12"],
            "network.tcp.mss_bytes",
            "tcp.mss_bytes = 12: must exceed option_bytes (12)",
        ),
        (
            &["network.tcp.initial_window_segments=0"],
            "network.tcp.initial_window_segments",
            "must be in 1..=10000, got 0",
        ),
        (
            &["outputs.timeseries_plots=[\"delivery_rate\",\"latency\"]"],
            "outputs.timeseries_plots[1]",
            "a run of this scenario writes no time series \"latency\"",
        ),
    ];
    for (sets, field, words) in cases {
        for cmd in ["validate", "run"] {
            let mut args = vec![cmd, sc.as_str()];
            for s in *sets {
                args.extend(["--set", s]);
            }
            let err = fails(wakusim(d, &args));
            assert!(err.contains(&format!("field `{field}`")), "{sets:?}: {err}");
            assert!(err.contains(words), "{sets:?}: {err}");
            assert!(!d.join("results").exists(), "{sets:?}: {cmd} started a run");
        }
    }
    // The scenario itself is fine.
    ok(wakusim(d, &["validate", &sc]));
}

#[test]
fn topology_files_are_checked_by_validate() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let sc = scenario_in(d, "");
    for (csv, words) in [
        (
            "0,1\n1,x\n",
            "csv line 2: node id \"x\" is not a non-negative integer",
        ),
        (
            "0,1\n1,2\n0,1\n",
            "csv line 3: the edge 0 -> 1 is listed again (first on line 1)",
        ),
        ("0,1\n1,2,3,true,9\n", "csv line 2: 5 columns"),
    ] {
        fs::write(d.join("ring.csv"), csv).unwrap();
        let err = fails(wakusim(d, &["validate", &sc]));
        assert!(err.contains("field `network.topology.path`"), "{err}");
        assert!(err.contains(words), "{err}");
    }
    fs::write(d.join("g.graphml"), "<graphml><graph><node id=\"a\"/>").unwrap();
    let err = fails(wakusim(
        d,
        &["validate", &sc, "--set", "network.topology.path=g.graphml"],
    ));
    assert!(
        err.contains("g.graphml: graphml line 1: the document ends inside <graph>"),
        "{err}"
    );
}

#[test]
fn the_memory_estimate_is_printed_and_a_run_too_large_for_the_machine_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    // relay-10k: the budget's counted 14,765 bytes per node with the seen cache's 1,024 bytes
    // (30 s of messages) grown to its 120 s time to live, 3,072 more: 17,837, x the peak's
    // slope 1.13805 = 20,299.4, + the fixed 56,066,667 bytes over 10,000 nodes = 5,606.7:
    // 25,906 bytes x 10,000 nodes = 259 MB (experiments::scale::PEAK_FIXED).
    let o = ok(wakusim(d, &["validate", "relay-10k"]));
    assert!(
        stderr(&o).contains(
            "estimated peak memory: about 259 MB (10000 nodes x 25.9 KB: the memory budget per \
             node measured on relay-10k (bench memory), scaled to about 20 connections per node \
             and 1 msg/s on the busiest shard"
        ),
        "{}",
        stderr(&o)
    );
    // Without TCP, no TCP flows: 419 counted bytes less, x 1.13805 = 477; 25,429 bytes x
    // 10,000 = 254 MB.
    let o = ok(wakusim(
        d,
        &[
            "validate",
            "relay-10k",
            "--set",
            "network.tcp.enabled=false",
        ],
    ));
    assert!(
        stderr(&o).contains("estimated peak memory: about 254 MB (10000 nodes x 25.4 KB"),
        "{}",
        stderr(&o)
    );
    // `run` prints it too. Ten times the messages (every 1 s per publisher): the message
    // rows grow tenfold and the seen cache fortyfold: 7,217 (per node and per connection,
    // TCP flows included) + 5,799 x 10 + 725 x 10 + 1,024 x 40 = 113,417 counted bytes,
    // x 1.13805 = 129,074 + 56 fixed = 129,130 per node, 129.1 GB at a million nodes, above
    // this machine's memory: refused, naming the estimate and the flag.
    let many = [
        "relay-10k",
        "--set",
        "network.nodes=1000000",
        "--set",
        "workload.streams=[{ publishers = { count = 10 }, interval_ms = 1000 }]",
    ];
    let mut args = vec!["run"];
    args.extend(many);
    let err = fails(wakusim(d, &args));
    assert!(
        err.contains("estimated peak memory: about 129.1 GB (1000000 nodes x 129.1 KB"),
        "{err}"
    );
    assert!(
        err.contains("and 10 msg/s on the busiest shard") && err.contains("--force"),
        "{err}"
    );
    // 100 million nodes: 17,837 x 1.13805 + 0.6 = 20,300 bytes per node, 2,030 GB, more
    // than any test machine has.
    let big = ["relay-10k", "--set", "network.nodes=100000000"];
    for cmd in ["validate", "run"] {
        let mut args = vec![cmd];
        args.extend(big);
        let err = fails(wakusim(d, &args));
        assert!(
            err.contains("the estimated peak memory, about 2030.0 GB, is above this machine's"),
            "{err}"
        );
        assert!(err.contains("--force"), "{err}");
    }
    // A sweep is refused before it writes anything; its validation too.
    fs::write(
        d.join("big.toml"),
        "name = \"big\"\nscenario = \"relay-10k\"\n[set]\n\"network.nodes\" = 100000000\n",
    )
    .unwrap();
    for cmd in ["validate", "sweep"] {
        let err = fails(wakusim(
            d,
            &[cmd, "big.toml", "--jobs", "1"][..if cmd == "sweep" { 4 } else { 2 }],
        ));
        assert!(err.contains("about 2030.0 GB, is above"), "{err}");
    }
    assert!(!d.join("results").exists());
    let mut args = vec!["validate"];
    args.extend(big);
    args.push("--force");
    let o = ok(wakusim(d, &args));
    assert!(stdout(&o).contains("nodes = 100000000"));
}

/// The bundled million-node scenario is relay-10k's network at 1,000,000 nodes, 60 s after a
/// 10-s warm-up; its memory estimate stays within 10 % of its measured peak, 17.46 GB
/// (docs/architecture.md, "A million nodes"), and so within the 24 GiB (25.77 GB) of the
/// machine it is meant for. `--force` so the check does not depend on this host's memory.
#[test]
fn relay_1m_is_a_million_nodes_and_its_estimate_is_near_its_peak() {
    let d = tempfile::tempdir().unwrap();
    let o = ok(wakusim(d.path(), &["validate", "relay-1m", "--force"]));
    let out = stdout(&o);
    for line in ["nodes = 1000000", "duration_s = 70.0", "warmup_s = 10.0"] {
        assert!(out.lines().any(|l| l.trim() == line), "{line}: {out}");
    }
    let err = stderr(&o);
    let gb: f64 = err
        .split("estimated peak memory: about ")
        .nth(1)
        .and_then(|r| r.split_once(" GB"))
        .and_then(|(n, _)| n.parse().ok())
        .expect("an estimate in GB");
    assert!((gb - 17.46).abs() < 1.75, "{gb} GB: {err}");
}
