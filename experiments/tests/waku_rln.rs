//! RLN through the `wakusim` binary: bad `[rln]` input is refused before any run with the
//! field named, `validate` prints the capacity bound, and a run writes RLN's files, with
//! registrations during the run from a membership file.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_wakusim");

/// 60 nodes, 4 honest members at 1 msg/s (limit 5 per 5 s epoch), one double signaller, 30 s.
const SMALL: &str = r#"
model = "waku"
name = "rln"

[run]
duration_s = 30
warmup_s = 5

[outputs]
plots = false

[network]
nodes = 60
latency = { model = "constant", constant_latency_ms = 30 }

[rln]
user_message_limit = 5
epoch_s = 5

[[workload.streams]]
publishers = { nodes = [1, 2, 3, 4] }
interval_ms = 1000

[[workload.streams]]
publishers = { nodes = [9] }
interval_ms = 200
spam = "double_signal"
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

#[test]
fn bad_rln_input_is_refused_before_any_run() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    fs::write(p.join("members.csv"), "node,limit,at_s\n1,5,0\nseven,5,0\n").unwrap();
    let cases = [
        (
            SMALL.replace("user_message_limit = 5", "user_message_limit = 0"),
            "rln.user_message_limit",
        ),
        (SMALL.replace("epoch_s = 5", "epoch_s = 0"), "rln.epoch_s"),
        (
            SMALL.replace(
                "publishers = { nodes = [9] }",
                "publishers = { count = 61 }",
            ),
            "61 spammers for a run of 60 nodes",
        ),
        (
            SMALL.replace(
                "epoch_s = 5",
                "epoch_s = 5\nmembership_file = \"members.csv\"",
            ),
            "members.csv line 3",
        ),
        (
            SMALL.replace("epoch_s = 5", "epoch_s = 5\nmembership_file = \"none.csv\""),
            "rln.membership_file",
        ),
        (
            SMALL.replace("epoch_s = 5", "epoch_s = 5\ncpu_factor = { phone = 10.0 }"),
            "rln.cpu_factor.phone",
        ),
        (
            SMALL.replace("[rln]\nuser_message_limit = 5\nepoch_s = 5\n", ""),
            "workload.streams[1].spam",
        ),
    ];
    for (text, want) in cases {
        fs::write(p.join("bad.toml"), text).unwrap();
        for cmd in ["validate", "run"] {
            let args: &[&str] = if cmd == "run" {
                &["run", "bad.toml", "--out", "out"]
            } else {
                &["validate", "bad.toml"]
            };
            let o = wakusim(p, args);
            assert_eq!(o.status.code(), Some(1), "{cmd} {want}");
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains(want), "{cmd} {want}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
        assert!(!p.join("out").exists(), "{want}: nothing ran");
    }
}

#[test]
fn validate_prints_the_capacity_and_a_run_writes_rlns_files() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    // Members 1-4 and 9 before the run; node 5 registers at 10 s (on chain at 22 s, seen at
    // the poll at 25 s: a second root).
    fs::write(p.join("members.csv"), "1\n2\n3\n4\n9\n5,5,10\n").unwrap();
    let text = SMALL.replace(
        "epoch_s = 5",
        "epoch_s = 5\nmembership_file = \"members.csv\"",
    );
    fs::write(p.join("rln.toml"), &text).unwrap();
    let o = wakusim(p, &["validate", "rln.toml"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    // Publishers 1-4 and 9 are members with limit 5 per 5 s: 5 x 5 / 5 = 5 msg/s planned;
    // all 6 members: 30 / 5 = 6 msg/s anywhere.
    assert!(
        out.contains("# shard 0: 5 members, planned 5 msg/s")
            && out.contains("network bound 6 msg/s"),
        "{out}"
    );
    let o = wakusim(p, &["run", "rln.toml", "--out", "out", "--quiet"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let run = p.join("out/rln/s1");
    let rln = fs::read_to_string(run.join("rln.csv")).unwrap();
    assert!(rln.starts_with("shard,members,planned_msgs_per_s"), "{rln}");
    let spam = fs::read_to_string(run.join("rln_spam.csv")).unwrap();
    assert!(spam.contains("double_signal,"), "{spam}");
    let counters = fs::read_to_string(run.join("counters.csv")).unwrap();
    assert!(counters.contains("rln/rejected_spam,"), "{counters}");
    let summary = fs::read_to_string(run.join("summary.csv")).unwrap();
    let mut lines = summary.lines();
    let (h, v) = (lines.next().unwrap(), lines.next().unwrap());
    let get = |k: &str| {
        let i = h.split(',').position(|c| c == k).unwrap();
        v.split(',').nth(i).unwrap().to_owned()
    };
    assert_eq!(get("rln_members"), "6");
    assert_eq!(get("rln_roots"), "2");
    assert_eq!(get("rln_bound_msgs_per_s"), "6");
    assert_eq!(get("delivery_rate_mean"), "1");
}
