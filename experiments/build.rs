//! Build script: records the git commit the binary was built from, and bundles every scenario
//! file under `scenarios/` into the binary.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    git_commit(&manifest_dir);
    bundle_scenarios(&manifest_dir);
}

/// Sets `WAKUSIM_GIT_COMMIT` to `git rev-parse HEAD`, or "unknown" when git or the repository
/// is unavailable (a build from a source archive).
fn git_commit(manifest_dir: &Path) {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(manifest_dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let commit = run(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=WAKUSIM_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves: HEAD itself (branch switches) and the file holding the
    // branch's commit.
    if let Some(git_dir) = run(&["rev-parse", "--absolute-git-dir"]) {
        let git_dir = PathBuf::from(git_dir);
        println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
        // A loose branch ref moves with every commit; only when there is none (after
        // `git gc`) does the commit live in packed-refs. Watching a file that does not
        // exist would make cargo rebuild this crate on every build.
        // `--git-path` resolves both correctly in a linked worktree too.
        let git_path =
            |name: &str| run(&["rev-parse", "--git-path", name]).map(|p| manifest_dir.join(p));
        let loose = run(&["symbolic-ref", "-q", "HEAD"])
            .and_then(|head_ref| git_path(&head_ref))
            .filter(|p| p.exists());
        if let Some(watched) = loose.or_else(|| git_path("packed-refs")) {
            println!("cargo:rerun-if-changed={}", watched.display());
        }
    }
}

/// Writes `$OUT_DIR/bundled_scenarios.rs`: a sorted list of (file name, contents) for every
/// `scenarios/*.toml`, so `wakusim run <name>` works from any directory.
fn bundle_scenarios(manifest_dir: &Path) {
    let dir = manifest_dir.join("scenarios");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut out = String::new();
    embed_tomls(
        &mut out,
        &dir,
        "BUNDLED",
        "Bundled scenario files: (file name, contents), sorted by name.",
    );
    // The sweeps under `scenarios/sweeps/`, for `wakusim sweep <name>`.
    let sweeps_dir = dir.join("sweeps");
    println!("cargo:rerun-if-changed={}", sweeps_dir.display());
    embed_tomls(
        &mut out,
        &sweeps_dir,
        "BUNDLED_SWEEPS",
        "Bundled sweep files (`scenarios/sweeps/`): (file name, contents), sorted by name.",
    );
    let dest =
        PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("bundled_scenarios.rs");
    fs::write(dest, out).expect("write bundled_scenarios.rs");
}

/// Appends `pub static NAME: &[(&str, &str)]` to `out`: every `.toml` file of `dir` as (file
/// name, contents), sorted by name, each watched for changes.
fn embed_tomls(out: &mut String, dir: &std::path::Path, name: &str, doc: &str) {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    writeln!(out, "/// {doc}").expect("write to a string");
    writeln!(out, "pub static {name}: &[(&str, &str)] = &[").expect("write to a string");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let file = f.file_name().expect("a file").to_string_lossy();
        writeln!(
            out,
            "    ({file:?}, include_str!({:?})),",
            f.display().to_string()
        )
        .expect("write to a string");
    }
    out.push_str("];\n");
}
