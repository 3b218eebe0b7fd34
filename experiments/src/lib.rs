//! # experiments: the machinery behind the `wakusim` command-line tool
//!
//! This crate is the only part of wakusim that touches files, threads and terminals. It reads
//! scenario files, runs a [`model::Model`] on the sim-core engine for one or many seeds, runs
//! parameter sweeps in parallel (across runs, never inside one), writes results in a stable
//! layout (see [`results`]), draws plots, merges sweep shards and compares results against
//! baselines.
//!
//! | module | what |
//! |---|---|
//! | [`model`] | the [`model::Model`] trait, the common scenario sections, [`model::RunResult`] |
//! | [`models`] | the registered models and the one dispatch point, [`models::with_model`] |
//! | [`scenario`] | scenario files: TOML, `extends`, `--set`, errors with file, line and field |
//! | [`sweep`] | sweep files, grid expansion, run ids, shards |
//! | [`runner`] | one run: execute, measure, write the run directory |
//! | [`results`] | file names, columns, the manifest |
//! | [`output`] | number formatting, CSV encoding, atomic writes |
//! | [`plot`] | plots from CSV files |
//! | [`merge`] | joining sweep shards into one `sweep.csv` |
//! | [`compare`] | regression checks between two result sets |
//! | [`machine`] | wall time and peak memory |
//! | [`cli`] | the subcommands' arguments and implementations |
//!
//! ## Determinism
//!
//! Same scenario + same seed = byte-identical result files, whatever `--jobs`, `--shard` or
//! machine: a run is single-threaded and seeded; numbers are formatted by [`output::fmt_f64`];
//! rows are ordered by run index; machine measurements (wall time, memory, events/s) are kept
//! out of every file but `timing.csv`, `sweep-timing.csv` and the manifest's `machine` section.

#![warn(missing_docs)]

pub mod cli;
pub mod compare;
pub mod machine;
pub mod merge;
pub mod model;
pub mod models;
pub mod output;
pub mod plot;
pub mod progress;
pub mod results;
pub mod runner;
pub mod scale;
pub mod scenario;
pub mod sweep;
