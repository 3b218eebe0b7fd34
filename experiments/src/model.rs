//! The interface between the command-line tool and a simulation model, and the sections every
//! scenario has.
//!
//! A model (the flood test model now, the Waku model later) implements [`Model`]: it names the
//! TOML sections of its own ([`Model::Params`]), checks them ([`Model::validate`]) and runs one
//! seed ([`Model::run`]), returning a [`RunResult`]. Everything else (reading scenario files,
//! `extends` and `--set`, sweeps, result files, plots, comparisons) is generic and lives in the
//! rest of this crate. Models are registered in [`crate::models`].
//!
//! A scenario document is the common sections ([`CommonSections`]: `name`, `description`,
//! `[run]`, `[outputs]`) plus the top-level `model = "..."` key, plus the model's own sections,
//! all in one TOML table. The loader splits the table: common keys go to [`CommonSections`],
//! the rest to [`Model::Params`]. (It does not use `#[serde(flatten)]`, which loses field paths
//! in errors and does not work with `deny_unknown_fields`.)

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A simulation model the command-line tool can run.
pub trait Model: Sync {
    /// The value of the top-level `model` key that selects this model (e.g. `"flood"`).
    const NAME: &'static str;
    /// One line for `wakusim list --models` and the docs.
    const DESCRIPTION: &'static str;
    /// The model's own sections of a scenario document: every top-level key other than
    /// `model`, `extends`, `name`, `description`, `run` and `outputs`. A struct with one field
    /// per section (it is serialized flattened into the resolved scenario), deserialized with
    /// serde: use `#[serde(deny_unknown_fields)]` on every struct (the loader relies on it to
    /// refuse misspelt keys) and `#[serde(default)]` with a documented default (unit in the
    /// field name) on every optional field.
    type Params: DeserializeOwned + Serialize + Clone + Send + Sync;
    /// Cross-field validation after deserialization (the common sections are already checked).
    /// Each error names the field path (`flood.publishers`) and says what is expected and how
    /// to fix it; the loader adds the file and line that set the field.
    fn validate(s: &Scenario<Self::Params>) -> Result<(), Vec<FieldError>>;
    /// Runs one seed. `s.common.run.seed` is the seed (equal to `seed`). `progress` should be
    /// called now and then (say every simulated second, or every 100k events) with the
    /// simulated time reached; it is cheap and never blocks.
    ///
    /// Everything returned must be a deterministic function of (`s`, `seed`): no wall-clock
    /// time, no hash-map iteration order, no transcendental float functions (`powf`, `exp`,
    /// `ln`: their last bit differs between C libraries) in reported values.
    fn run(
        s: &Scenario<Self::Params>,
        seed: u64,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<RunResult, ModelError>;
    /// The time-series metrics a run of `s` writes that `outputs.timeseries_plots` may name;
    /// `None` (the default) when the model does not say, and then any name is accepted.
    fn timeseries_metrics(_s: &Scenario<Self::Params>) -> Option<Vec<String>> {
        None
    }
    /// An estimate of the peak memory of one run of `s` (called on a valid scenario); `None`
    /// (the default) when the model has none. `wakusim run` refuses a run whose estimate is
    /// above the machine's memory unless given `--force`.
    fn memory_estimate(_s: &Scenario<Self::Params>) -> Option<MemoryEstimate> {
        None
    }
    /// The relative cost of one run of `s` (called on a valid scenario), for ordering a sweep's
    /// work queue longest first: only ratios between runs of one sweep matter. The default is
    /// the simulated seconds (`run.duration_s`); a model whose cost grows with its node count
    /// multiplies by it.
    fn cost_estimate(s: &Scenario<Self::Params>) -> f64 {
        s.common.run.duration_s
    }
    /// Figures derived from a valid scenario that `wakusim validate` prints after it, as TOML
    /// comment lines (e.g. RLN's capacity bounds); empty (the default) when none.
    fn notes(_s: &Scenario<Self::Params>) -> Result<String, ModelError> {
        Ok(String::new())
    }
}

/// An estimate of a run's peak memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Bytes.
    pub bytes: u64,
    /// How the figure was derived, for messages (`10000 nodes x 40 KB per relay node ...`).
    pub basis: String,
}

/// A fully loaded scenario: the common sections and the model's own sections.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario<P> {
    /// The model's name (the `model` key).
    pub model: String,
    /// `name`, `description`, `[run]`, `[outputs]`.
    pub common: CommonSections,
    /// The model's own sections.
    pub params: P,
}

impl<P: Serialize> Serialize for Scenario<P> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// The document layout: `model`, the common sections, then the model's sections.
        #[derive(Serialize)]
        struct Doc<'a, P> {
            model: &'a str,
            name: &'a str,
            description: &'a str,
            run: &'a RunSection,
            outputs: &'a OutputSection,
            #[serde(flatten)]
            params: &'a P,
        }
        Doc {
            model: &self.model,
            name: &self.common.name,
            description: &self.common.description,
            run: &self.common.run,
            outputs: &self.common.outputs,
            params: &self.params,
        }
        .serialize(serializer)
    }
}

/// The keys of a scenario document that are not the model's: handled by the loader.
pub const COMMON_KEYS: [&str; 6] = ["model", "extends", "name", "description", "run", "outputs"];

/// The sections every scenario has.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommonSections {
    /// The scenario's name: the results directory is `<out>/<name>/`. Letters, digits, `-`,
    /// `_` and `.` only. Default: the scenario file's name without `.toml`.
    pub name: String,
    /// One line shown by `wakusim list`. Default: empty.
    #[serde(default)]
    pub description: String,
    /// How long to run and with which seeds.
    #[serde(default)]
    pub run: RunSection,
    /// Which result files and plots to write.
    #[serde(default)]
    pub outputs: OutputSection,
}

/// `[run]`: simulated duration, warm-up, seeds, time-series resolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Simulated time to run, in seconds. Default 60. Must be positive.
    #[serde(default = "RunSection::default_duration_s")]
    pub duration_s: f64,
    /// Simulated seconds at the start that metrics ignore (messages published before it are
    /// not counted, bandwidth is measured after it). Default 0. Must be below `duration_s`.
    #[serde(default)]
    pub warmup_s: f64,
    /// The master seed of a single run. Default 1. `wakusim run --seed N` overrides it.
    #[serde(default = "RunSection::default_seed")]
    pub seed: u64,
    /// Several seeds: a count N (seeds `seed`, `seed + 1`, ..., `seed + N - 1`) or an explicit
    /// list. Default: absent, i.e. the single seed `seed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<SeedSpec>,
    /// Width of one time-series interval, in simulated seconds. Default 1. At most
    /// [`RunSection::MAX_SERIES_POINTS`] intervals per run.
    #[serde(default = "RunSection::default_series_interval_s")]
    pub series_interval_s: f64,
}

impl RunSection {
    /// Upper bound on `duration_s / series_interval_s`.
    pub const MAX_SERIES_POINTS: f64 = 100_000.0;
    /// Upper bound on the number of seeds of one scenario or sweep.
    pub const MAX_SEEDS: usize = 100_000;

    fn default_duration_s() -> f64 {
        60.0
    }
    fn default_seed() -> u64 {
        1
    }
    fn default_series_interval_s() -> f64 {
        1.0
    }

    /// The seeds to run, in order.
    pub fn seed_list(&self) -> Vec<u64> {
        match &self.seeds {
            None => vec![self.seed],
            Some(spec) => spec.resolve(self.seed),
        }
    }

    /// Checks ranges and contradictions.
    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        let d = self.duration_s;
        if !(d.is_finite() && d > 0.0) {
            errors.push(FieldError::new(
                "run.duration_s",
                format!("must be a positive number of seconds, got {d}"),
            ));
        }
        let w = self.warmup_s;
        if !(w.is_finite() && w >= 0.0) {
            errors.push(FieldError::new(
                "run.warmup_s",
                format!("must be a non-negative number of seconds, got {w}"),
            ));
        } else if d.is_finite() && w >= d {
            errors.push(FieldError::new(
                "run.warmup_s",
                format!(
                    "the warm-up ({w} s) must end before the run does (run.duration_s = {d} s): \
                     lower warmup_s or raise duration_s"
                ),
            ));
        }
        let i = self.series_interval_s;
        if !(i.is_finite() && i > 0.0) {
            errors.push(FieldError::new(
                "run.series_interval_s",
                format!("must be a positive number of seconds, got {i}"),
            ));
        } else if d.is_finite() && d / i > Self::MAX_SERIES_POINTS {
            errors.push(FieldError::new(
                "run.series_interval_s",
                format!(
                    "{d} s in intervals of {i} s makes more than {} points: raise \
                     series_interval_s to at least {}",
                    Self::MAX_SERIES_POINTS,
                    d / Self::MAX_SERIES_POINTS
                ),
            ));
        }
        if let Some(spec) = &self.seeds {
            spec.validate("run.seeds", self.seed, errors);
        }
    }
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection {
            duration_s: Self::default_duration_s(),
            warmup_s: 0.0,
            seed: Self::default_seed(),
            seeds: None,
            series_interval_s: Self::default_series_interval_s(),
        }
    }
}

/// A number of seeds, or an explicit list of seeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedSpec {
    /// N seeds counted up from a first seed.
    Count(u64),
    /// These seeds, in this order.
    List(Vec<u64>),
}

impl SeedSpec {
    /// The seeds, counting up from `first` for a count.
    pub fn resolve(&self, first: u64) -> Vec<u64> {
        match self {
            SeedSpec::Count(n) => (0..*n).map(|i| first.wrapping_add(i)).collect(),
            SeedSpec::List(v) => v.clone(),
        }
    }

    /// Checks the count or list (`path` names the field in messages).
    pub fn validate(&self, path: &str, first: u64, errors: &mut Vec<FieldError>) {
        match self {
            SeedSpec::Count(n) => {
                if *n == 0 || *n as usize > RunSection::MAX_SEEDS {
                    errors.push(FieldError::new(
                        path,
                        format!(
                            "a seed count must be between 1 and {}, got {n}",
                            RunSection::MAX_SEEDS
                        ),
                    ));
                } else if first.checked_add(*n - 1).is_none() {
                    errors.push(FieldError::new(
                        path,
                        format!("{n} seeds counted up from {first} overflow a u64"),
                    ));
                }
            }
            SeedSpec::List(v) => {
                if v.is_empty() || v.len() > RunSection::MAX_SEEDS {
                    errors.push(FieldError::new(
                        path,
                        format!(
                            "a seed list must hold between 1 and {} seeds, got {}",
                            RunSection::MAX_SEEDS,
                            v.len()
                        ),
                    ));
                }
                let mut sorted = v.clone();
                sorted.sort_unstable();
                if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                    errors.push(FieldError::new(
                        path,
                        format!("seed {} appears twice: each seed must be listed once", w[0]),
                    ));
                }
            }
        }
    }
}

impl Serialize for SeedSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SeedSpec::Count(n) => serializer.serialize_u64(*n),
            SeedSpec::List(v) => v.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for SeedSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SeedSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a seed count (a positive integer) or a list of seeds (integers)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SeedSpec, E> {
                Ok(SeedSpec::Count(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SeedSpec, E> {
                u64::try_from(v)
                    .map(SeedSpec::Count)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SeedSpec, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<u64>()? {
                    v.push(s);
                }
                Ok(SeedSpec::List(v))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// `[outputs]`: which result files and plots a run writes. `summary.csv`, `timing.csv`,
/// `scenario.toml` and `manifest.json` are always written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    /// Draw plots after the run (from its CSV files). Default true.
    #[serde(default = "yes")]
    pub plots: bool,
    /// Image formats of the plots. Default `["png", "svg"]`.
    #[serde(default = "OutputSection::default_formats")]
    pub formats: Vec<PlotFormat>,
    /// Write `bandwidth.csv`. Default true.
    #[serde(default = "yes")]
    pub bandwidth_csv: bool,
    /// Write `latency.csv` (the latency distribution). Default true.
    #[serde(default = "yes")]
    pub latency_csv: bool,
    /// Write `timeseries.csv`. Default true.
    #[serde(default = "yes")]
    pub timeseries_csv: bool,
    /// Write the model's own tables (e.g. `connections.csv`). Default true.
    #[serde(default = "yes")]
    pub model_tables: bool,
    /// Time-series metrics to plot, one figure each (`timeseries-<metric>.png`). Default
    /// `["delivery_rate"]`; a metric the run did not produce is skipped.
    #[serde(default = "OutputSection::default_timeseries_plots")]
    pub timeseries_plots: Vec<String>,
}

fn yes() -> bool {
    true
}

impl OutputSection {
    fn default_formats() -> Vec<PlotFormat> {
        vec![PlotFormat::Png, PlotFormat::Svg]
    }
    fn default_timeseries_plots() -> Vec<String> {
        vec!["delivery_rate".to_owned()]
    }

    /// Checks contradictions.
    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        if self.plots && self.formats.is_empty() {
            errors.push(FieldError::new(
                "outputs.formats",
                "plots = true but no image format is listed: add \"png\" or \"svg\", or set \
                 outputs.plots = false",
            ));
        }
        if self.plots && !self.timeseries_plots.is_empty() && !self.timeseries_csv {
            errors.push(FieldError::new(
                "outputs.timeseries_plots",
                "time-series plots are drawn from timeseries.csv, which timeseries_csv = false \
                 turns off: set timeseries_csv = true or timeseries_plots = []",
            ));
        }
        let mut formats = self.formats.clone();
        formats.sort();
        if formats.windows(2).any(|w| w[0] == w[1]) {
            errors.push(FieldError::new(
                "outputs.formats",
                "a format is listed twice: list each once",
            ));
        }
        for (i, m) in self.timeseries_plots.iter().enumerate() {
            if m.is_empty()
                || !m
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            {
                errors.push(FieldError::new(
                    format!("outputs.timeseries_plots[{i}]"),
                    format!(
                        "metric names are made of letters, digits, '_', '-' and '.', got {m:?}"
                    ),
                ));
            }
        }
    }
}

impl Default for OutputSection {
    fn default() -> Self {
        OutputSection {
            plots: true,
            formats: Self::default_formats(),
            bandwidth_csv: true,
            latency_csv: true,
            timeseries_csv: true,
            model_tables: true,
            timeseries_plots: Self::default_timeseries_plots(),
        }
    }
}

/// An image format for plots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlotFormat {
    /// Raster image, 1000 x 600 pixels.
    Png,
    /// Vector image.
    Svg,
}

impl PlotFormat {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            PlotFormat::Png => "png",
            PlotFormat::Svg => "svg",
        }
    }
}

/// A problem with one field of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path, dotted, with `[i]` for array elements: `flood.publishers[0]`.
    pub path: String,
    /// What is wrong, what was expected and how to fix it.
    pub message: String,
}

impl FieldError {
    /// An error about the field at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`: {}", self.path, self.message)
    }
}

/// Why a model could not run a scenario.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// A scenario value that validation let through but the model cannot use.
    #[error("{0}")]
    Field(FieldError),
    /// The engine refused the set-up.
    #[error("engine: {0}")]
    Engine(#[from] sim_core::SimError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// How far a run has got, for progress bars.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    /// Simulated seconds reached.
    pub sim_time_s: f64,
    /// Events processed so far.
    pub events: u64,
}

/// What one run of a model produces. Every field is a deterministic function of the scenario
/// and the seed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunResult {
    /// The row of `summary.csv`.
    pub summary: Summary,
    /// `bandwidth.csv`, in long form.
    pub bandwidth: Vec<BandwidthRow>,
    /// `timeseries.csv`, in long form. A metric named `delivery_rate` is plotted by default.
    pub timeseries: Vec<TimePoint>,
    /// `latency.csv`: the latency distribution (see [`latency_rows`]).
    pub latency: Vec<LatencyRow>,
    /// The model's own CSV files.
    pub tables: Vec<ExtraTable>,
    /// Event count and event-stream hash of the engine.
    pub engine: EngineStats,
}

/// The fixed columns of `summary.csv` that a model computes. The tool adds `run_id`, `seed`
/// (first) and `events` (after these), then [`Summary::extra`]. See `results/README.md` for
/// the exact definitions. A figure that is undefined (delivery, latency and duplicates when no
/// message was published) is NaN, written as an empty cell.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Number of nodes.
    pub nodes: u64,
    /// Simulated seconds covered by the run (`run.duration_s`).
    pub sim_seconds: f64,
    /// Messages published after the warm-up.
    pub messages_published: u64,
    /// Mean over those messages of the fraction of intended receivers that got it.
    pub delivery_rate_mean: f64,
    /// The smallest such fraction (NaN when nothing was published).
    pub delivery_rate_min: f64,
    /// Messages that missed at least one intended receiver.
    pub messages_not_fully_delivered: u64,
    /// Median publish-to-first-receipt latency over (message, receiver) pairs, ms.
    pub latency_p50_ms: f64,
    /// 95th percentile of that latency, ms.
    pub latency_p95_ms: f64,
    /// 99th percentile of that latency, ms.
    pub latency_p99_ms: f64,
    /// Largest such latency, ms.
    pub latency_max_ms: f64,
    /// Mean number of duplicate copies a node received per message it received.
    pub duplicates_mean: f64,
    /// Mean over nodes of bytes received per second after the warm-up.
    pub bandwidth_in_mean_bytes_per_sec: f64,
    /// Mean over nodes of bytes sent per second after the warm-up.
    pub bandwidth_out_mean_bytes_per_sec: f64,
    /// 95th percentile over nodes of bytes received per second.
    pub bandwidth_in_p95_bytes_per_sec: f64,
    /// 95th percentile over nodes of bytes sent per second.
    pub bandwidth_out_p95_bytes_per_sec: f64,
    /// Model-specific columns, appended in this order. Names are snake_case with their unit
    /// last (`connections_mean`, `rln_proofs_per_sec`).
    pub extra: Vec<(String, f64)>,
}

/// One row of `bandwidth.csv`: a (node group, category, direction) over the measured window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BandwidthRow {
    /// Which nodes (`all`, `publishers`, `relays`, ...).
    pub node_group: String,
    /// The accounting category, `protocol/kind` (e.g. `flood/message`), or `total`.
    pub category: String,
    /// `in` or `out`.
    pub direction: String,
    /// Mean over the group's nodes of bytes per second.
    pub bytes_per_sec_mean: f64,
    /// Median over the group's nodes.
    pub bytes_per_sec_p50: f64,
    /// 95th percentile over the group's nodes.
    pub bytes_per_sec_p95: f64,
    /// Largest over the group's nodes.
    pub bytes_per_sec_max: f64,
    /// Messages counted, summed over the group.
    pub messages: u64,
}

/// One point of `timeseries.csv`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimePoint {
    /// End of the interval the value covers, in simulated seconds.
    pub time_s: f64,
    /// Metric name, snake_case with unit last (`delivery_rate`, `bytes_out_per_sec`).
    pub metric: String,
    /// The value.
    pub value: f64,
}

/// One row of `latency.csv`: a recorded latency value and how often it occurred.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    /// Latency in milliseconds (the upper end of a histogram bucket).
    pub latency_ms: f64,
    /// (message, receiver) pairs in the bucket.
    pub count: u64,
    /// Fraction of all pairs with a latency at or below `latency_ms`.
    pub cumulative_fraction: f64,
}

/// A model-specific CSV file in the run directory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExtraTable {
    /// File name, e.g. `connections.csv`: letters, digits, `-`, `_`, ending in `.csv`.
    pub file_name: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows, each as long as the header.
    pub rows: Vec<Vec<String>>,
}

/// What the engine reports about a run; deterministic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Events processed.
    pub events: u64,
    /// The engine's running hash of the event stream.
    pub event_hash: u64,
}

/// The rows of `latency.csv` from a latency histogram: one row per distinct recorded bucket,
/// ascending, at the bucket's upper end in milliseconds.
pub fn latency_rows(h: &sim_core::metrics::DurationHistogram) -> Vec<LatencyRow> {
    h.distribution_ms()
        .into_iter()
        .map(|(latency_ms, count, cumulative_fraction)| LatencyRow {
            latency_ms,
            count,
            cumulative_fraction,
        })
        .collect()
}

/// The nearest-rank `q`-quantile (0 <= q <= 1) of values sorted ascending; 0 for none.
/// Deterministic: no interpolation, no float functions beyond a multiply and a ceiling.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The mean of `values`, summed in order; 0 for none.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_counts_count_up_from_the_seed() {
        let run = RunSection {
            seed: 5,
            seeds: Some(SeedSpec::Count(3)),
            ..RunSection::default()
        };
        assert_eq!(run.seed_list(), vec![5, 6, 7]);
        let run = RunSection {
            seeds: Some(SeedSpec::List(vec![9, 2])),
            ..RunSection::default()
        };
        assert_eq!(run.seed_list(), vec![9, 2]);
        assert_eq!(RunSection::default().seed_list(), vec![1]);
    }

    #[test]
    fn run_section_refuses_a_warmup_past_the_end() {
        let run = RunSection {
            duration_s: 10.0,
            warmup_s: 10.0,
            ..RunSection::default()
        };
        let mut errors = Vec::new();
        run.validate(&mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "run.warmup_s");
        assert!(errors[0].message.contains("must end before the run does"));
    }

    #[test]
    fn duplicate_seeds_are_refused() {
        let mut errors = Vec::new();
        SeedSpec::List(vec![1, 2, 1]).validate("run.seeds", 1, &mut errors);
        assert!(errors[0].message.contains("seed 1 appears twice"));
    }

    #[test]
    fn latency_rows_are_a_cdf_of_the_recorded_values() {
        // 1 ms twice, 3 ms once, 5 ms once (recorded in microseconds); 4 values in all.
        let mut h = sim_core::metrics::DurationHistogram::new();
        for ms in [1, 1, 3, 5] {
            h.record(sim_core::SimDuration::from_millis(ms));
        }
        let rows = latency_rows(&h);
        let got: Vec<(f64, u64, f64)> = rows
            .iter()
            .map(|r| (r.latency_ms, r.count, r.cumulative_fraction))
            .collect();
        // Values below 2048 are exact at 3 significant digits; 3000 and 5000 fall in buckets
        // of width 2 and 4, reported at their upper ends 3001 and 5003 us.
        assert_eq!(got, vec![(1.0, 2, 0.5), (3.001, 1, 0.75), (5.003, 1, 1.0)]);
        assert!(latency_rows(&sim_core::metrics::DurationHistogram::new()).is_empty());
    }

    #[test]
    fn nearest_rank_quantiles() {
        // 10 values 1..=10: p50 is the 5th (rank ceil(5) = 5), p95 the 10th (ceil(9.5) = 10).
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile_sorted(&v, 0.5), 5.0);
        assert_eq!(quantile_sorted(&v, 0.95), 10.0);
        assert_eq!(quantile_sorted(&v, 0.0), 1.0);
        assert_eq!(quantile_sorted(&[], 0.5), 0.0);
    }
}
