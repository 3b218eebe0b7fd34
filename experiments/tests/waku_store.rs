//! Store through the `wakusim` binary: a small network built on the bundled `store-sync`
//! scenario (offline store nodes, a partition of selected nodes that heals, reception loss,
//! sync) runs the same twice, byte for byte, and writes the store's files.

mod common;

use std::fs;

use common::{ok, wakusim};

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
    let counters = fs::read_to_string(run.join("counters.csv")).unwrap();
    assert!(counters.contains("store/sync_inserted,"), "{counters}");
}
