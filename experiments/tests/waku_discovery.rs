//! `[discovery] mechanism` through the `wakusim` binary: absent it changes nothing, it switches
//! off the sections it does not name, a bad value or a missing section is an error naming the
//! field and the fix, and a sweep over it is byte-identical under --jobs 1 and 2.

mod common;

use std::fs;
use std::path::Path;

use common::{ok, stderr, wakusim};

/// The bundled `discovery` scenario shrunk: 60 nodes (fleet 0-5, as bundled: discv5 bootstrap
/// nodes and rendezvous points), 8 shards, 70 s, so that nwaku's second rendezvous discovery
/// round (at 60 s) runs. `MECHANISM` is replaced by each test.
const SMALL: &str = r#"
extends = "discovery"
name = "disc-small"

[run]
duration_s = 70
warmup_s = 10

[network]
nodes = 60

[discovery]
mechanism = MECHANISM

[outputs]
plots = false
"#;

fn small(mechanism: &str) -> String {
    SMALL.replace("MECHANISM", &format!("{mechanism:?}"))
}

/// Runs `text` (written to `name.toml`) with its seed into `out`; returns the run directory.
fn run(dir: &Path, name: &str, text: &str, out: &str) -> std::path::PathBuf {
    fs::write(dir.join(format!("{name}.toml")), text).unwrap();
    ok(wakusim(
        dir,
        &["run", &format!("{name}.toml"), "--out", out, "--quiet"],
    ));
    let scenario = text
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .map(|n| n.trim_end_matches('"'))
        .unwrap();
    dir.join(out).join(scenario).join("s1")
}

fn event_hash(run: &Path) -> String {
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join("manifest.json")).unwrap()).unwrap();
    m["event_hash"].as_str().unwrap().to_owned()
}

/// The `bandwidth.csv` categories with any bytes, of protocol `proto`.
fn categories(run: &Path, proto: &str) -> Vec<String> {
    let bw = fs::read_to_string(run.join("bandwidth.csv")).unwrap();
    let mut v: Vec<String> = bw
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let bytes: f64 = f[3].parse().unwrap();
            (f[1].starts_with(&format!("{proto}/")) && bytes > 0.0).then(|| f[1].to_owned())
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The results a run's scenario does not name (its own `scenario.toml` and the manifest's copy
/// of it differ with the text).
const SAME_FILES: [&str; 4] = [
    "summary.csv",
    "counters.csv",
    "bandwidth.csv",
    "timeseries.csv",
];

#[test]
fn without_mechanism_a_run_is_as_before() {
    // discv5-small has [discovery.discv5] alone, rendezvous-small [discovery.rendezvous] alone:
    // adding the mechanism that names their section changes no event and no result.
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    for (base, mechanism) in [
        ("discv5-small", "discv5"),
        ("rendezvous-small", "rendezvous"),
    ] {
        let plain = format!(
            "extends = \"{base}\"\nname = \"plain\"\n[run]\nduration_s = 40\n\
             [outputs]\nplots = false\n"
        );
        let named = plain.replace(
            "[run]",
            &format!("[discovery]\nmechanism = \"{mechanism}\"\n[run]"),
        );
        let a = run(p, "plain", &plain, &format!("{base}-a"));
        let b = run(p, "named", &named, &format!("{base}-b"));
        assert_eq!(event_hash(&a), event_hash(&b), "{base}");
        for f in SAME_FILES {
            assert!(
                fs::read(a.join(f)).unwrap() == fs::read(b.join(f)).unwrap(),
                "{base}: {f} differs with mechanism = {mechanism:?}"
            );
        }
    }
}

#[test]
fn the_mechanism_switches_off_the_sections_it_does_not_name() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let discv5 = run(p, "d", &small("discv5"), "d");
    let rdv = run(p, "r", &small("rendezvous"), "r");
    let both = run(p, "b", &small("both"), "b");
    // The six discv5 packet kinds (no PING/PONG needed: liveness checks may or may not come in
    // 70 s, so only the lookup's packets are asserted) and rendezvous' five message kinds.
    for k in [
        "discv5/findnode",
        "discv5/nodes",
        "discv5/whoareyou",
        "discv5/handshake",
    ] {
        assert!(categories(&discv5, "discv5").iter().any(|c| c == k), "{k}");
        assert!(categories(&both, "discv5").iter().any(|c| c == k), "{k}");
    }
    for k in [
        "rendezvous/register",
        "rendezvous/register_response",
        "rendezvous/discover",
        "rendezvous/discover_response",
    ] {
        assert!(categories(&rdv, "rendezvous").iter().any(|c| c == k), "{k}");
        assert!(
            categories(&both, "rendezvous").iter().any(|c| c == k),
            "{k}"
        );
    }
    assert_eq!(categories(&rdv, "discv5"), Vec::<String>::new());
    assert_eq!(categories(&discv5, "rendezvous"), Vec::<String>::new());
    // Rendezvous' files only where it runs; discovery.csv in all three.
    assert!(!discv5.join("rendezvous_points.csv").exists());
    assert!(rdv.join("rendezvous_points.csv").exists());
    assert!(both.join("rendezvous_points.csv").exists());
    for r in [&discv5, &rdv, &both] {
        assert!(r.join("discovery.csv").exists());
    }
    let counters = |r: &Path| fs::read_to_string(r.join("counters.csv")).unwrap();
    assert!(!counters(&rdv).contains("discv5/"));
    assert!(counters(&both).contains("discv5/") && counters(&both).contains("rendezvous/"));
    // The points: nodes 0-5 of the bundled scenario, one row each.
    let points = fs::read_to_string(rdv.join("rendezvous_points.csv")).unwrap();
    let ids: Vec<&str> = points
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids, ["0", "1", "2", "3", "4", "5"]);
}

#[test]
fn a_mechanism_without_its_section_or_an_unknown_one_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let cases = [
        (
            "[discovery]\nmechanism = \"rendezvous\"\n[discovery.discv5]\nbootstrap_nodes = [0]\n",
            "no [discovery.rendezvous] section",
        ),
        (
            "[discovery]\nmechanism = \"both\"\n[discovery.rendezvous]\npoints = [0]\n",
            "no [discovery.discv5] section",
        ),
        (
            "[discovery]\nmechanism = \"gossip\"\n[discovery.discv5]\nbootstrap_nodes = [0]\n",
            "discv5",
        ),
    ];
    for (i, (section, says)) in cases.iter().enumerate() {
        let text = format!(
            "model = \"waku\"\nname = \"bad\"\n[run]\nduration_s = 5\n[network]\nnodes = 10\n\
             [overlay]\nmode = \"emergent\"\n{section}"
        );
        let f = format!("bad{i}.toml");
        fs::write(p.join(&f), text).unwrap();
        let o = wakusim(p, &["validate", &f]);
        assert_eq!(o.status.code(), Some(1), "case {i}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("discovery.mechanism"), "case {i}: {err}");
        assert!(err.contains(says), "case {i}: {err}");
        assert!(!err.contains("panicked"), "case {i}: {err}");
    }
}

#[test]
fn a_sweep_over_the_mechanism_is_byte_identical_across_jobs() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    fs::write(p.join("s.toml"), small("discv5").replace("70", "30")).unwrap();
    fs::write(
        p.join("grid.toml"),
        "name = \"mech\"\nscenario = \"s.toml\"\n\
         [grid]\n\"discovery.mechanism\" = [\"discv5\", \"rendezvous\", \"both\"]\n",
    )
    .unwrap();
    for (jobs, out) in [("1", "j1"), ("2", "j2")] {
        ok(wakusim(
            p,
            &[
                "sweep",
                "grid.toml",
                "--jobs",
                jobs,
                "--out",
                out,
                "--quiet",
            ],
        ));
    }
    let sweep = fs::read_to_string(p.join("j1/mech/sweep.csv")).unwrap();
    assert!(
        sweep.starts_with("run_id,point,discovery.mechanism,seed,"),
        "{sweep}"
    );
    assert_eq!(sweep.lines().count(), 4, "{sweep}");
    for r in ["p000-s1", "p001-s1", "p002-s1"] {
        for f in SAME_FILES.iter().chain(&["discovery.csv"]) {
            let a = fs::read(p.join("j1/mech").join(r).join(f)).unwrap();
            let b = fs::read(p.join("j2/mech").join(r).join(f)).unwrap();
            assert!(a == b, "{r}/{f} differs between --jobs 1 and 2");
        }
        assert_eq!(
            event_hash(&p.join("j1/mech").join(r)),
            event_hash(&p.join("j2/mech").join(r))
        );
    }
    assert!(
        fs::read(p.join("j1/mech/sweep.csv")).unwrap()
            == fs::read(p.join("j2/mech/sweep.csv")).unwrap()
    );
}
