//! Property tests: no input makes the scenario loader panic. Random bytes, random mutations of
//! a valid scenario, and random `--set` overrides all end in `Ok` or a located `Err`.

use experiments::models::flood::Flood;
use experiments::runner;
use experiments::scenario::{self, Override};
use experiments::sweep;
use proptest::prelude::*;

const VALID: &str = include_str!("../scenarios/flood-small.toml");

/// Fragments that stress the TOML parser and the deserializer.
const FRAGMENTS: &[&str] = &[
    "=",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    ",",
    ".",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "\n",
    "#",
    " ",
    "-1",
    "0",
    "1e999",
    "-0.0",
    "nan",
    "inf",
    "-inf",
    "0x10",
    "1_000",
    "99999999999999999999",
    "true",
    "1979-05-27T07:32:00Z",
    "[run]",
    "[flood]",
    "[[flood]]",
    "[outputs]",
    "run.seed",
    "extends = \"other.toml\"",
    "extends = \"flood-small.toml\"",
    "model = \"flood\"",
    "seeds = 3",
    "seeds = [1, 1]",
    "seeds = -1",
    "nodes = 0",
    "formats = []",
    "\u{feff}",
    "\u{0}",
    "é",
    "\\u0000",
    "a.b.c = 1",
];

/// Loads `text` and, when it loads, resolves it for the flood model; returns whether it
/// resolved. Errors must carry a message.
fn load(text: &str, dir: &std::path::Path) -> bool {
    match scenario::load_str("fuzz.toml", text, dir) {
        Err(e) => {
            assert!(!e.diagnostics.is_empty() && !e.to_string().is_empty());
            false
        }
        Ok(raw) => match raw.model_kind() {
            Err(e) => {
                assert!(!e.to_string().is_empty());
                false
            }
            Ok(_) => match raw.resolve::<Flood>() {
                Ok(s) => {
                    // What resolves prints as TOML that loads again to the same scenario.
                    let printed = runner::scenario_toml(&s).unwrap();
                    let again = scenario::load_str("again.toml", &printed, dir)
                        .unwrap()
                        .resolve::<Flood>()
                        .unwrap();
                    assert_eq!(runner::scenario_sha256(&s), runner::scenario_sha256(&again));
                    true
                }
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    false
                }
            },
        },
    }
}

#[derive(Clone, Debug)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, usize),
    Replace(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), 0..FRAGMENTS.len()).prop_map(|(a, f)| Edit::Insert(a, f)),
        (any::<usize>(), 0usize..12, 0..FRAGMENTS.len())
            .prop_map(|(a, n, f)| Edit::Replace(a, n, f)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let len = chars.len();
        match *e {
            Edit::Delete(at, n) => {
                let at = at % (len + 1);
                let end = (at + n).min(len);
                chars.drain(at..end);
            }
            Edit::Insert(at, f) => {
                let at = at % (len + 1);
                chars.splice(at..at, FRAGMENTS[f].chars());
            }
            Edit::Replace(at, n, f) => {
                let at = at % (len + 1);
                let end = (at + n).min(len);
                chars.splice(at..end, FRAGMENTS[f].chars());
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        load(&String::from_utf8_lossy(&bytes), dir.path());
    }

    #[test]
    fn mutated_scenarios_never_panic(edits in proptest::collection::vec(edit(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("other.toml"), "[run]\nseed = 4\nextends = \"fuzz.toml\"\n").unwrap();
        load(&apply(VALID, &edits), dir.path());
    }

    #[test]
    fn random_overrides_never_panic(
        path in "[a-z_]{1,12}(\\.[a-z_]{1,12}){0,3}",
        value in "[ -~]{0,20}",
        pick in 0usize..8,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let known = ["run.seed", "run.seeds", "flood.nodes", "flood", "outputs.formats", "model", "network.latency_ms", "run.duration_s"];
        let path = if pick < known.len() { known[pick].to_owned() } else { path };
        let mut raw = scenario::load_str("fuzz.toml", VALID, dir.path()).unwrap();
        if let Ok(o) = format!("{path}={value}").parse::<Override>() {
            match raw.apply(&o) {
                Ok(()) => {
                    if raw.model_kind().is_ok() {
                        let _ = raw.resolve::<Flood>();
                    }
                }
                Err(e) => prop_assert!(e.to_string().contains("--set")),
            }
        }
    }

    #[test]
    fn random_sweep_files_never_panic(edits in proptest::collection::vec(edit(), 0..6)) {
        let dir = tempfile::tempdir().unwrap();
        let text = "scenario = \"flood-small\"\nseeds = 2\n[grid]\n\"flood.chords\" = [0, 2]\n\"network.latency_ms\" = { log = [1, 100], steps = 3 }\n";
        let _ = sweep::parse_sweep("s.toml", &apply(text, &edits), dir.path(), None);
    }
}

#[test]
fn the_valid_scenario_resolves() {
    let dir = tempfile::tempdir().unwrap();
    assert!(load(VALID, dir.path()));
}
