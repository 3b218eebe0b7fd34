//! `wakusim`: run scenarios and sweeps of the Waku network simulator, plot and compare results.
//!
//! The subcommands live in the `experiments` library (`experiments::cli`); this file parses the
//! command line, sets up logging, and turns errors into a message and an exit status, never a
//! panic or a backtrace.

use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use experiments::cli::{self, GlobalArgs};

pub mod topology_cmd;

/// mimalloc: the relay allocates and frees many small RPC buffers, and mimalloc serves them faster
/// than the system allocator (relay-10k runs about 5 % faster), at about 21 MB more memory (its
/// arena is committed eagerly; docs/architecture.md). Results do not depend on it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the 16th entry of `mi_option_t` in its `mimalloc.h`; the
/// Rust bindings name no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory mapped for the rest of the run. By default mimalloc returns pages that
/// stayed free for a second to the OS, and the kernel zeroes them again when they are reused:
/// in relay-10k about 13,000 page faults and 4 % of the run. A run's memory stays near its
/// peak anyway, so the peak does not grow by much (about 5 %).
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: `mi_option_set` stores a value in mimalloc's option table; -1 ("never purge")
    // is a documented value of this option, read at each purge decision.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

/// A deterministic discrete-event simulator of the Waku peer-to-peer network.
///
/// Same scenario + same seed = byte-identical results, on every machine and with any number of
/// jobs. Results go to results/NAME/, NAME being the scenario or sweep name (see
/// results/README.md).
#[derive(Parser, Debug)]
#[command(name = "wakusim", version = version(), propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Options of every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario (each of its seeds) and write its results.
    Run(cli::RunArgs),
    /// Run a parameter sweep (or one shard of it) in parallel.
    Sweep(cli::SweepArgs),
    /// Join the outputs of sweep shards into one directory with a complete sweep.csv.
    Merge(cli::MergeArgs),
    /// (Re)draw the plots of a run or a sweep from its CSV files.
    Plot(cli::PlotArgs),
    /// Compare results with a baseline; exit status 3 when a metric regressed.
    Compare(cli::CompareArgs),
    /// Check a scenario (or a sweep file) and print it fully resolved.
    Validate(cli::ValidateArgs),
    /// List the bundled scenarios (or, with --models, the models).
    List(cli::ListArgs),
    /// Measure the engine's speed.
    Bench(cli::BenchArgs),
    /// Build (or read) a network graph and print its statistics, write it, plot its degrees.
    Topology(topology_cmd::TopologyArgs),
    /// Print a shell completion script, e.g. `source <(wakusim completions bash)`
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `0.1.0 (commit abcdef123456)`.
fn version() -> &'static str {
    let commit = experiments::runner::GIT_COMMIT;
    let short = &commit[..commit.len().min(12)];
    Box::leak(format!("{} (commit {short})", experiments::runner::VERSION).into_boxed_str())
}

/// Restores the default action of SIGPIPE (the Rust runtime ignores it): when the reader of
/// our output goes away (`wakusim completions bash | head -1`), the process ends quietly, like
/// other Unix tools, instead of panicking in `println!` on the broken pipe.
#[cfg(unix)]
#[allow(unsafe_code)]
fn default_sigpipe() {
    // SAFETY: `signal` with SIG_DFL installs no handler of ours; called first thing in `main`,
    // before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn default_sigpipe() {}

fn main() -> ExitCode {
    default_sigpipe();
    keep_freed_memory();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                cli::EXIT_USAGE
            } else {
                cli::EXIT_OK
            });
        }
    };
    env_logger::Builder::new()
        .filter_level(cli.global.level())
        .parse_env("RUST_LOG")
        .format_timestamp(None)
        .format_target(false)
        .init();
    let g = &cli.global;
    let result = match &cli.command {
        Command::Run(a) => cli::run(a, g),
        Command::Sweep(a) => cli::sweep(a, g),
        Command::Merge(a) => cli::merge(a, g),
        Command::Plot(a) => cli::plot(a, g),
        Command::Compare(a) => cli::compare(a, g),
        Command::Validate(a) => cli::validate(a, g),
        Command::List(a) => cli::list(a, g),
        Command::Bench(a) => cli::bench(a, g),
        Command::Topology(a) => topology_cmd::run(a)
            .map(|()| cli::EXIT_OK)
            .map_err(|e| anyhow::anyhow!("{e}")),
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "wakusim",
                &mut std::io::stdout(),
            );
            Ok(cli::EXIT_OK)
        }
    };
    let _ = std::io::stdout().flush();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&e);
            ExitCode::from(cli::exit_code(&e))
        }
    }
}

/// Prints an error and its causes, each cause's lines indented under it.
fn report(e: &anyhow::Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {e}");
    for cause in e.chain().skip(1) {
        for line in cause.to_string().lines() {
            let _ = writeln!(err, "  {line}");
        }
    }
}
