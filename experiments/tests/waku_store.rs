//! Store through the `wakusim` binary: a small network built on the bundled `store-sync`
//! scenario (offline store nodes, a partition of selected nodes that heals, reception loss,
//! sync) runs the same twice, byte for byte, and writes the store's files.

mod common;

use std::fs;

use common::{ok, stderr, wakusim};

/// `store-sync` shrunk: 60 nodes (store nodes 0-7), 10 minutes, 2 publishers, store node 0
/// offline from 100 s to 250 s, store nodes 6 and 7 with relays 8-15 cut off from 300 s to
/// 400 s, a sync every 60 s.
const SMALL: &str = r#"
extends = "store-sync"
name = "store-small"

[run]
duration_s = 600
warmup_s = 20

[network]
nodes = 60

[[network.faults]]
kind = "offline"
select = { nodes = [0] }
start_s = 100
end_s = 250

[[network.faults]]
kind = "partition"
select = { nodes = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15] }
start_s = 300
end_s = 400

[store]
sync = { enabled = true, interval_s = 60 }

[outputs]
plots = false

[[workload.streams]]
publishers = { nodes = [40, 50] }
interval_ms = 2000
payload = { fixed_bytes = 2000 }
"#;

#[test]
fn a_store_sync_run_is_deterministic_and_writes_the_store_files() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    fs::write(p.join("s.toml"), SMALL).unwrap();
    ok(wakusim(p, &["run", "s.toml", "--out", "a", "--quiet"]));
    ok(wakusim(p, &["run", "s.toml", "--out", "b", "--quiet"]));
    for f in [
        "summary.csv",
        "store.csv",
        "store_syncs.csv",
        "store_convergence.csv",
        "counters.csv",
    ] {
        let a = fs::read(p.join("a/store-small/s1").join(f)).unwrap();
        let b = fs::read(p.join("b/store-small/s1").join(f)).unwrap();
        assert!(a == b, "{f} differs between two runs of the same seed");
    }
    let run = p.join("a/store-small/s1");
    // One rejoin (node 0) and one heal with a row for each of the 8 store nodes.
    let conv = fs::read_to_string(run.join("store_convergence.csv")).unwrap();
    let mut lines = conv.lines();
    assert_eq!(
        lines.next(),
        Some("node,event,at_s,converged_after_s,lacking_at_end")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 9, "{conv}");
    assert!(
        rows.iter().any(|r| r.starts_with("0,rejoin,250,")),
        "{conv}"
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.contains(",partition_heal,400,"))
            .count(),
        8
    );
    // Cut off from the publishers, store nodes 6 and 7 lacked the messages of the partition
    // (one message a second in all: about 40 between 300 s and the 340 s the 20 s lag lets
    // count at the 360 s sample, samples every 60 s); sync ran and moved messages.
    let store = fs::read_to_string(run.join("store.csv")).unwrap();
    for node in ["6", "7"] {
        let missing: u64 = store
            .lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|c| c[0] == "360" && c[1] == node)
            .unwrap_or_else(|| panic!("{store}"))[5]
            .parse()
            .unwrap();
        assert!(missing >= 25, "node {node}: {missing}");
    }
    let summary = fs::read_to_string(run.join("summary.csv")).unwrap();
    let mut l = summary.lines();
    let (h, v) = (l.next().unwrap(), l.next().unwrap());
    let get = |k: &str| -> f64 {
        let i = h
            .split(',')
            .position(|c| c == k)
            .unwrap_or_else(|| panic!("{k}"));
        v.split(',').nth(i).unwrap().parse().unwrap()
    };
    assert!(get("store_syncs") > 0.0);
    assert_eq!(get("store_nodes"), 8.0);
    // The summary's sync columns are means per sync of store_syncs.csv's rows, the naive
    // exchange of every hash of the window beside reconciliation and transfer bytes.
    let syncs = fs::read_to_string(run.join("store_syncs.csv")).unwrap();
    let mut sl = syncs.lines();
    let header: Vec<&str> = sl.next().unwrap().split(',').collect();
    let rows: Vec<Vec<f64>> = sl
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len() as f64, get("store_syncs"));
    for (col, summary_col) in [
        ("round_trips", "store_sync_round_trips_mean"),
        ("recon_bytes", "store_sync_recon_bytes_mean"),
        ("transfer_bytes", "store_sync_transfer_bytes_mean"),
        ("naive_bytes", "store_sync_naive_bytes_mean"),
    ] {
        let i = header.iter().position(|h| *h == col).unwrap();
        let mean = rows.iter().map(|r| r[i]).sum::<f64>() / rows.len() as f64;
        let got = get(summary_col);
        assert!(
            (got - mean).abs() <= 1e-9 * mean.max(1.0),
            "{summary_col}: {got} vs {mean}"
        );
    }
    // Each side sends its window's hashes whole in the naive exchange: with syncs every 60 s
    // over the whole history, more than reconciliation, which sends fingerprints and only the
    // differing ranges' items.
    assert!(get("store_sync_naive_bytes_mean") > get("store_sync_recon_bytes_mean"));
    let counters = fs::read_to_string(run.join("counters.csv")).unwrap();
    assert!(counters.contains("store/sync_inserted,"), "{counters}");
}

/// A sweep can vary one element of an array: here the end of store node 0's offline window
/// (`network.faults[0].end_s`, 150 s or 250 s), the same under --jobs 1 and 2; the runs rejoin
/// at the swept times. An index past the array's end, or into a value that is not an array, is
/// a clear error, from `--set` and from a grid alike.
#[test]
fn a_sweep_varies_an_element_of_the_faults_array() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    fs::write(p.join("s.toml"), SMALL).unwrap();
    fs::write(
        p.join("grid.toml"),
        "name = \"offline-end\"\nscenario = \"s.toml\"\nseeds = 1\n\
         [grid]\n\"network.faults[0].end_s\" = [150, 250]\n",
    )
    .unwrap();
    ok(wakusim(
        p,
        &[
            "sweep",
            "grid.toml",
            "--jobs",
            "1",
            "--out",
            "j1",
            "--quiet",
        ],
    ));
    ok(wakusim(
        p,
        &[
            "sweep",
            "grid.toml",
            "--jobs",
            "2",
            "--out",
            "j2",
            "--quiet",
        ],
    ));
    let csv = fs::read(p.join("j1/offline-end/sweep.csv")).unwrap();
    assert!(csv == fs::read(p.join("j2/offline-end/sweep.csv")).unwrap());
    let csv = String::from_utf8(csv).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains("network.faults[0].end_s"),
        "{csv}"
    );
    for (point, end) in [("p000-s1", 150), ("p001-s1", 250)] {
        let run = p.join("j1/offline-end").join(point);
        let conv = fs::read_to_string(run.join("store_convergence.csv")).unwrap();
        assert!(
            conv.lines()
                .any(|r| r.starts_with(&format!("0,rejoin,{end},"))),
            "{point}: {conv}"
        );
        // The other fault (the partition, element 1) is as the scenario wrote it.
        assert!(conv.contains(",partition_heal,400,"), "{point}: {conv}");
    }

    let fails = |args: &[&str], want: &str| {
        let o = wakusim(p, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    };
    fails(
        &["validate", "s.toml", "--set", "network.faults[2].end_s=300"],
        "`network.faults` has 2 elements (indices 0 to 1), so index [2] is out of range",
    );
    fails(
        &["validate", "s.toml", "--set", "network.nodes[0]=3"],
        "`network.nodes` is an integer, not an array, so it has no element [0]",
    );
    fs::write(
        p.join("bad.toml"),
        "scenario = \"s.toml\"\n[grid]\n\"network.faults[5].end_s\" = [150]\n",
    )
    .unwrap();
    fails(
        &["sweep", "bad.toml", "--out", "bad"],
        "bad.toml:3:1 (grid `network.faults[5].end_s` = 150)",
    );
}

/// The bundled sweep `store-sync-offline-loss` with small settings: its `[set]` as written
/// (one offline window for store nodes 0 and 1, its end swept), 30 nodes, 700 s, a sync every
/// 60 s, two points (sync on and off at 20 % loss) and two seeds. Byte-identical under
/// --jobs 1 and 2, and it draws the store's sweep plots.
#[test]
fn the_store_sync_sweep_is_the_same_under_jobs_1_and_2() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let text = include_str!("../scenarios/sweeps/store-sync-offline-loss.toml");
    let (head, grid) = text.split_once("[grid]").expect("the sweep has a grid");
    assert!(grid.contains("\"network.faults[0].end_s\""), "{grid}");
    let head = head.replace(
        "scenario = \"../store-sync.toml\"",
        "scenario = \"store-sync\"",
    );
    assert!(head.contains("scenario = \"store-sync\""), "{head}");
    fs::write(
        p.join("small.toml"),
        format!(
            "{head}[grid]\n\"network.faults[0].end_s\" = [400]\n\
             \"store.reception_loss\" = [0.2]\n\"store.sync.enabled\" = [true, false]\n"
        ),
    )
    .unwrap();
    let sweep = |jobs: &str, out: &str| {
        ok(wakusim(
            p,
            &[
                "sweep",
                "small.toml",
                "--jobs",
                jobs,
                "--out",
                out,
                "--quiet",
                "--set",
                "network.nodes=30",
                "--set",
                "run.duration_s=700",
                "--set",
                "run.warmup_s=20",
                "--set",
                "network.faults[0].start_s=200",
                "--set",
                "workload.streams[0].publishers={ nodes = [20, 28] }",
                "--set",
                "store.sync.interval_s=60",
            ],
        ))
    };
    sweep("1", "j1");
    sweep("2", "j2");
    let dir = |out: &str| p.join(out).join("store-sync-offline-loss");
    let a = fs::read(dir("j1").join("sweep.csv")).unwrap();
    assert!(a == fs::read(dir("j2").join("sweep.csv")).unwrap());
    for run in ["p000-s1", "p000-s2", "p001-s1", "p001-s2"] {
        for f in [
            "summary.csv",
            "store.csv",
            "store_syncs.csv",
            "store_convergence.csv",
        ] {
            let a = fs::read(dir("j1").join(run).join(f)).unwrap();
            assert!(
                a == fs::read(dir("j2").join(run).join(f)).unwrap(),
                "{run}/{f}"
            );
        }
    }
    let csv = String::from_utf8(a).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    // With sync the nodes back at 400 s caught up; without, they never did.
    let conv =
        |run: &str| fs::read_to_string(dir("j1").join(run).join("store_convergence.csv")).unwrap();
    let rejoin: Vec<String> = conv("p000-s1")
        .lines()
        .filter(|l| l.contains(",rejoin,400,"))
        .map(String::from)
        .collect();
    assert_eq!(rejoin.len(), 2, "nodes 0 and 1: {rejoin:?}");
    assert!(
        rejoin
            .iter()
            .all(|l| !l.ends_with(",,0") && l.ends_with(",0")),
        "{rejoin:?}"
    );
    assert!(
        conv("p001-s1")
            .lines()
            .filter(|l| l.contains(",rejoin,400,"))
            .all(|l| l.contains(",400,,"))
    );
    for f in [
        "sweep-store_sync_enabled.png",
        "sweep-network_faults_0_end_s.png",
    ] {
        assert!(dir("j1").join(f).exists(), "{f}");
    }
}
