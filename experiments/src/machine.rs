//! Measurements of the machine rather than the simulation: wall time, peak memory. These go to
//! the manifest's `machine` section and to `timing.csv`, never to `summary.csv`.

use serde::{Deserialize, Serialize};

/// The process's peak resident memory in bytes (`VmHWM` in `/proc/self/status`), or 0 where
/// that file does not exist (not Linux). With `--jobs` above 1 this is the peak of the whole
/// process, all concurrent runs together, not of one run.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().strip_suffix("kB"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The machine's memory in bytes (`MemTotal` in `/proc/meminfo`), or `None` where that file
/// does not exist (not Linux).
pub fn total_memory_bytes() -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// What a run cost on the machine that ran it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Wall-clock seconds the model's run took (without writing files).
    pub wall_s: f64,
    /// Events processed per wall-clock second.
    pub events_per_sec: f64,
    /// Wall-clock seconds per simulated second (below 1: faster than real time).
    pub wall_s_per_sim_s: f64,
    /// Peak resident memory of the process in bytes when the run ended (`VmHWM`; 0 when
    /// unknown). Under `--jobs` above 1, the peak of all runs of the process so far.
    pub peak_rss_bytes: u64,
    /// `peak_rss_bytes` divided by the run's node count (whole-process memory, so it
    /// includes the fixed costs of the tool; 0 when unknown).
    #[serde(default)]
    pub peak_rss_bytes_per_node: f64,
    /// Worker threads of the process running runs concurrently (`--jobs`).
    pub jobs: usize,
    /// Size and hash of the run's `timing.csv` (kept here, with the other machine figures,
    /// because its bytes differ between machines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing_csv: Option<crate::results::FileCheck>,
}

impl Machine {
    /// Figures for a run of `events` events over `sim_s` simulated seconds and `nodes` nodes
    /// that took `wall_s`.
    pub fn measure(wall_s: f64, events: u64, sim_s: f64, nodes: u64, jobs: usize) -> Self {
        let peak = peak_rss_bytes();
        Machine {
            wall_s,
            events_per_sec: if wall_s > 0.0 {
                events as f64 / wall_s
            } else {
                0.0
            },
            wall_s_per_sim_s: if sim_s > 0.0 { wall_s / sim_s } else { 0.0 },
            peak_rss_bytes: peak,
            peak_rss_bytes_per_node: if nodes > 0 {
                peak as f64 / nodes as f64
            } else {
                0.0
            },
            jobs,
            timing_csv: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_memory_is_read_on_linux() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(peak_rss_bytes() > 0);
        }
        if std::path::Path::new("/proc/meminfo").exists() {
            assert!(total_memory_bytes().unwrap() > peak_rss_bytes());
        }
    }
}
