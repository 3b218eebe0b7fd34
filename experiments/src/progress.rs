//! Progress bars on a terminal, and silence everywhere else.
//!
//! Bars are drawn on standard error only when it is a terminal, the `CI` environment variable
//! is not set, and `--quiet` was not given; otherwise every bar is hidden and costs nothing.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::model::Progress;

/// Whether progress bars should be drawn.
pub fn enabled(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

/// A bar for one run over `duration_s` simulated seconds: simulated time, events/s, ETA.
pub fn run_bar(enabled: bool, label: &str, duration_s: f64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new((duration_s * 1000.0).max(1.0) as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:.bold} [{bar:30.cyan/blue}] {msg} (ETA {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Updates a run bar from a model's progress report.
pub fn update_run_bar(bar: &ProgressBar, p: Progress, duration_s: f64) {
    if bar.is_hidden() {
        return;
    }
    bar.set_position((p.sim_time_s * 1000.0) as u64);
    let elapsed = bar.elapsed().as_secs_f64();
    let rate = if elapsed > 0.0 {
        p.events as f64 / elapsed
    } else {
        0.0
    };
    bar.set_message(format!(
        "{:.1}/{duration_s} s simulated, {} events/s",
        p.sim_time_s,
        human(rate)
    ));
}

/// A bar for a sweep: runs done of `total`, ETA.
pub fn sweep_bar(enabled: bool, label: &str, total: usize) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} runs, {per_sec} (ETA {eta})",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_owned());
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// `1.2M`-style numbers for progress messages.
fn human(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.1}G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}
