//! Loading scenario files: TOML, `extends` chains, `--set` overrides, and errors that name the
//! file, the line and the field.
//!
//! Loading happens in two steps:
//!
//! 1. [`load`] reads the file (or a bundled scenario), follows its `extends` chain (each path
//!    relative to the file that names it; cycles are refused), deep-merges the tables (tables
//!    merge key by key, every other value, arrays included, is replaced by the extending file's)
//!    and returns a [`RawScenario`]: the merged TOML table plus a record of which file (or
//!    which `--set`) set every key. [`RawScenario::apply`] then applies `--set` overrides.
//! 2. [`RawScenario::resolve`] splits the table into the common sections and the model's own,
//!    deserializes both (`deny_unknown_fields` everywhere), and validates them. Every error is
//!    reported as `file:line:column: field `path`: message`, where the file is the one that set
//!    the value (with `extends`, that may be the base file) and the line is found from the
//!    key's span in that file.
//!
//! Nothing in this module panics on bad input: every problem is a [`ScenarioError`].

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use crate::model::{COMMON_KEYS, CommonSections, FieldError, Model, Scenario};
use crate::models::ModelKind;

/// The scenarios bundled into the binary from `experiments/scenarios/`.
pub mod bundled {
    include!(concat!(env!("OUT_DIR"), "/bundled_scenarios.rs"));

    /// The contents of the bundled scenario `name` (`flood-small` or `flood-small.toml`).
    pub fn get(name: &str) -> Option<(&'static str, &'static str)> {
        let name = name.strip_prefix("./").unwrap_or(name);
        BUNDLED
            .iter()
            .find(|(file, _)| *file == name || file.strip_suffix(".toml") == Some(name))
            .copied()
    }

    /// The contents of the bundled sweep `name` (`communities-shards` or
    /// `communities-shards.toml`, from `scenarios/sweeps/`).
    pub fn get_sweep(name: &str) -> Option<(&'static str, &'static str)> {
        let name = name.strip_prefix("./").unwrap_or(name);
        BUNDLED_SWEEPS
            .iter()
            .find(|(file, _)| *file == name || file.strip_suffix(".toml") == Some(name))
            .copied()
    }
}

/// Largest scenario file accepted, in bytes (a guard against reading something that is not a
/// scenario).
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// Longest `extends` chain accepted.
pub const MAX_EXTENDS_DEPTH: usize = 32;

/// The fields of a scenario that name files, as dotted paths. A relative path in one of them is
/// relative to the file that sets it (a base file reached through `extends`, a sweep file for a
/// sweep's `set` and `grid` values, the working directory for `--set`); the loader makes it
/// absolute, so that the resolved scenario (what `wakusim validate` prints and a run's
/// `scenario.toml` holds) names the same file wherever it is read from. A path in a bundled
/// scenario stays as written (relative to the working directory).
pub const PATH_FIELDS: &[&str] = &["network.topology.path", "rln.membership_file"];

/// Makes every relative path of [`PATH_FIELDS`] in `table` absolute, taken from `base`.
fn resolve_paths(table: &mut Table, base: &Path) {
    for field in PATH_FIELDS {
        let keys: Vec<&str> = field.split('.').collect();
        if let Some(p) = string_at(table, &keys) {
            let path = Path::new(p.as_str());
            if path.is_relative() && !p.is_empty() {
                let joined = base.join(path);
                let abs = std::path::absolute(&joined).unwrap_or(joined);
                *p = abs.display().to_string();
            }
        }
    }
}

/// The string at `keys` in `table`, if there is one.
fn string_at<'a>(table: &'a mut Table, keys: &[&str]) -> Option<&'a mut String> {
    let (k, rest) = keys.split_first()?;
    match (table.get_mut(*k)?, rest.is_empty()) {
        (Value::String(s), true) => Some(s),
        (Value::Table(t), false) => string_at(t, rest),
        _ => None,
    }
}

/// One problem found in a scenario, with where it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// `file:line:column`, `file`, or `--set path=value`; empty when unknown.
    pub location: String,
    /// The field path, dotted; empty for the document as a whole.
    pub path: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.location.is_empty() {
            write!(f, "{}: ", self.location)?;
        }
        if !self.path.is_empty() {
            write!(f, "field `{}`: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// A scenario that cannot be loaded: one diagnostic per problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// The problems, in the order found.
    pub diagnostics: Vec<Diagnostic>,
}

impl ScenarioError {
    pub(crate) fn one(
        location: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ScenarioError {
            diagnostics: vec![Diagnostic {
                location: location.into(),
                path: path.into(),
                message: message.into(),
            }],
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Parses `a.b[2].c` into segments.
pub fn parse_path(s: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in s.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key.to_owned()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else { break };
            if let Ok(i) = r[..end].parse() {
                out.push(Seg::Index(i));
            }
            rest = &r[end + 1..];
        }
    }
    out
}

/// Parses an override's path strictly: dot-separated keys, each optionally followed by one or
/// more array indices (`network.faults[0].end_s`, `a.b[1][2]`). A path does not start with an
/// index, and every key is non-empty.
pub fn parse_override_path(path: &str) -> Result<Vec<Seg>, String> {
    let bad = |why: &str| {
        format!(
            "`{path}` is not a field path ({why}): use dotted keys like run.duration_s, with \
             [i] after a key to pick element i of an array, like network.faults[0].end_s"
        )
    };
    let mut out = Vec::new();
    for part in path.split('.') {
        let part = part.trim();
        let (key, mut rest) = match part.find('[') {
            Some(i) => (part[..i].trim(), &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() {
            return Err(bad("an empty key"));
        }
        if key.contains(']') {
            return Err(bad("a `]` without its `[`"));
        }
        out.push(Seg::Key(key.to_owned()));
        while !rest.is_empty() {
            let Some(r) = rest.strip_prefix('[') else {
                return Err(bad("text after `]`"));
            };
            let Some(end) = r.find(']') else {
                return Err(bad("a `[` without its `]`"));
            };
            let Ok(i) = r[..end].trim().parse::<usize>() else {
                return Err(bad("an index that is not a whole number 0 or more"));
            };
            out.push(Seg::Index(i));
            rest = &r[end + 1..];
        }
    }
    Ok(out)
}

/// Formats segments as `a.b[2].c`.
pub fn format_path(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A place in a file: display name, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file as shown to the user.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// 1-based (line, column) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line, col)
}

/// The span of the deepest part of `path` found in the TOML `text`: the key of a table entry,
/// or the value of an array element. `None` when the text does not parse or the first segment
/// is absent.
pub fn find_span(text: &str, path: &[Seg]) -> Option<std::ops::Range<usize>> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut best = None;
    let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
    let mut array: Option<&[toml::Spanned<DeValue<'_>>]> = None;
    for seg in path {
        let value = match (seg, table, array) {
            (Seg::Key(k), Some(t), _) => {
                let Some((key, value)) = t.iter().find(|(key, _)| key.get_ref().as_ref() == k)
                else {
                    break;
                };
                best = Some(key.span());
                value
            }
            (Seg::Index(i), _, Some(a)) => {
                let Some(value) = a.get(*i) else { break };
                best = Some(value.span());
                value
            }
            _ => break,
        };
        table = None;
        array = None;
        match value.get_ref() {
            DeValue::Table(t) => table = Some(t),
            DeValue::Array(a) => array = Some(a),
            _ => {}
        }
    }
    best
}

/// Where a piece of a scenario came from.
#[derive(Clone, Debug)]
enum Source {
    /// A file on disk or a bundled file.
    File { display: String, text: String },
    /// An override (`--set`, a sweep's `set` or grid value).
    Set { label: String, at: Option<Location> },
}

/// A parsed `path.to.field=value` override.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// The field path: table keys, and array indices for `[i]` (`network.faults[0].end_s`).
    pub path: Vec<Seg>,
    /// The value.
    pub value: Value,
    /// How to name the override in messages (`--set run.seed=3`).
    pub label: String,
    /// Where the override was written, when it comes from a file (a sweep file).
    pub at: Option<Location>,
}

impl Override {
    /// An override of `path` (dotted keys, each optionally followed by array indices:
    /// `run.duration_s`, `network.faults[0].end_s`) with `value`, labelled `label` in messages.
    pub fn new(
        path: &str,
        value: Value,
        label: impl Into<String>,
        at: Option<Location>,
    ) -> Result<Self, String> {
        let segs = parse_override_path(path)?;
        if segs[0] == Seg::Key("extends".to_owned()) {
            return Err("`extends` cannot be overridden: edit the scenario file".to_owned());
        }
        Ok(Override {
            path: segs,
            value,
            label: label.into(),
            at,
        })
    }

    /// The path, dotted (`network.faults[0].end_s`).
    pub fn dotted(&self) -> String {
        format_path(&self.path)
    }

    /// The value of `text` read as a TOML value (`3`, `2.5`, `true`, `[1, 2]`,
    /// `{ a = 1 }`, `"quoted"`), or else as a plain string.
    pub fn parse_value(text: &str) -> Value {
        let text = text.trim();
        match toml::from_str::<Table>(&format!("v = {text}")) {
            Ok(mut t) if t.len() == 1 => t
                .remove("v")
                .unwrap_or_else(|| Value::String(text.to_owned())),
            _ => Value::String(text.to_owned()),
        }
    }
}

impl FromStr for Override {
    type Err = String;
    /// Parses `path.to.field=value`.
    fn from_str(s: &str) -> Result<Self, String> {
        let Some((path, value)) = s.split_once('=') else {
            return Err(format!(
                "`{s}` is not an override: expected path.to.field=value, e.g. run.duration_s=30"
            ));
        };
        Override::new(
            path.trim(),
            Override::parse_value(value),
            format!("--set {s}"),
            None,
        )
    }
}

/// The value of an override with its paths resolved ([`PATH_FIELDS`]): relative to the file
/// that wrote the override (a sweep file), else to the working directory.
fn override_value(ov: &Override) -> Value {
    // No path field lies inside an array, so a value set through an index has none to resolve.
    let Some(keys) = ov
        .path
        .iter()
        .map(|s| match s {
            Seg::Key(k) => Some(k.clone()),
            Seg::Index(_) => None,
        })
        .collect::<Option<Vec<String>>>()
    else {
        return ov.value.clone();
    };
    let base = match &ov.at {
        Some(at) => Path::new(&at.file)
            .parent()
            .map(Path::to_owned)
            .unwrap_or_default(),
        None => PathBuf::new(),
    };
    // The value nested under its path, so that `resolve_paths` finds the fields whatever level
    // the override sets (`network.topology.path`, or the whole `network.topology`).
    let mut root = Table::new();
    let (last, parents) = keys.split_last().expect("an override path is never empty");
    let mut t = &mut root;
    for k in parents {
        t = match t
            .entry(k.clone())
            .or_insert_with(|| Value::Table(Table::new()))
        {
            Value::Table(inner) => inner,
            _ => unreachable!("just inserted a table"),
        };
    }
    t.insert(last.clone(), ov.value.clone());
    resolve_paths(&mut root, &base);
    let mut v = Value::Table(root);
    for k in &keys {
        v = match v {
            Value::Table(mut t) => t.remove(k).expect("inserted above"),
            _ => unreachable!("built as tables"),
        };
    }
    v
}

/// A scenario document after `extends` and overrides, before deserialization.
#[derive(Clone, Debug)]
pub struct RawScenario {
    table: Table,
    sources: Vec<Source>,
    /// For every key path, the source that set it last.
    prov: BTreeMap<Vec<Seg>, usize>,
    /// The scenario file itself (not a base it extends).
    main: usize,
}

/// The name a value's TOML type is called in messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// Records `src` as the setter of `path` and of every key below it.
fn record(prov: &mut BTreeMap<Vec<Seg>, usize>, path: &mut Vec<Seg>, value: &Value, src: usize) {
    prov.insert(path.clone(), src);
    if let Value::Table(t) = value {
        for (k, v) in t {
            path.push(Seg::Key(k.clone()));
            record(prov, path, v, src);
            path.pop();
        }
    }
}

/// Forgets who set `path` and everything below it.
fn forget(prov: &mut BTreeMap<Vec<Seg>, usize>, path: &[Seg]) {
    let below: Vec<Vec<Seg>> = prov
        .range(path.to_vec()..)
        .take_while(|(k, _)| k.starts_with(path))
        .map(|(k, _)| k.clone())
        .collect();
    for k in below {
        prov.remove(&k);
    }
}

/// Deep-merges `overlay` into `base`: tables merge key by key, anything else is replaced.
fn merge(
    base: &mut Table,
    overlay: Table,
    path: &mut Vec<Seg>,
    src: usize,
    prov: &mut BTreeMap<Vec<Seg>, usize>,
) {
    for (k, v) in overlay {
        path.push(Seg::Key(k.clone()));
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => {
                prov.insert(path.clone(), src);
                merge(b, o, path, src, prov);
            }
            (_, v) => {
                forget(prov, path);
                record(prov, path, &v, src);
                base.insert(k, v);
            }
        }
        path.pop();
    }
}

/// Sets `value` at `path[i..]` inside `v` (the value reached by `path[..i]`): a key creates a
/// missing table on the way, an index must name an existing element. `created` gets the paths
/// of the tables created. The error says what blocks the path and how to fix it.
fn set_at(
    v: &mut Value,
    path: &[Seg],
    i: usize,
    value: Value,
    created: &mut Vec<Vec<Seg>>,
) -> Result<(), String> {
    let last = i + 1 == path.len();
    let here = format_path(&path[..i]);
    match (&path[i], v) {
        (Seg::Key(k), Value::Table(t)) => {
            if last {
                t.insert(k.clone(), value);
                return Ok(());
            }
            if !t.contains_key(k) {
                if let Seg::Index(j) = path[i + 1] {
                    let arr = format_path(&path[..=i]);
                    return Err(format!(
                        "`{arr}` is not set, so it has no element [{j}] to change: set the whole \
                         array instead (e.g. {arr} = [...] in the scenario file)"
                    ));
                }
                t.insert(k.clone(), Value::Table(Table::new()));
                created.push(path[..=i].to_vec());
            }
            let next = t.get_mut(k).expect("present or just inserted");
            set_at(next, path, i + 1, value, created)
        }
        (Seg::Index(j), Value::Array(a)) => {
            let n = a.len();
            let Some(el) = a.get_mut(*j) else {
                let has = match n {
                    0 => "no elements".to_owned(),
                    1 => "1 element (index 0)".to_owned(),
                    n => format!("{n} elements (indices 0 to {})", n - 1),
                };
                return Err(format!(
                    "`{here}` has {has}, so index [{j}] is out of range: use an index below {n}, \
                     or add the element to the scenario file"
                ));
            };
            if last {
                *el = value;
                return Ok(());
            }
            set_at(el, path, i + 1, value, created)
        }
        (Seg::Key(_), other) => Err(format!(
            "`{here}` is {}, not a table, so there is no field `{}` inside it",
            type_name(other),
            format_path(path)
        )),
        (Seg::Index(j), other) => Err(format!(
            "`{here}` is {}, not an array, so it has no element [{j}]",
            type_name(other)
        )),
    }
}

/// Reads a scenario file, refusing what is not a regular file or is too large.
fn read_file(path: &Path) -> Result<String, String> {
    let meta = fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{} is {} bytes, more than the {MAX_FILE_BYTES} a scenario file may have",
            path.display(),
            meta.len()
        ));
    }
    fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// How a scenario is named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Origin {
    File(PathBuf),
    Bundled(String),
}

impl Origin {
    /// A key identifying the file, for cycle detection.
    fn identity(&self) -> String {
        match self {
            Origin::File(p) => fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string(),
            Origin::Bundled(n) => format!("bundled:{n}"),
        }
    }
    fn display(&self) -> String {
        match self {
            Origin::File(p) => p.display().to_string(),
            Origin::Bundled(n) => format!("bundled:{n}"),
        }
    }
    fn stem(&self) -> String {
        match self {
            Origin::File(p) => p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Origin::Bundled(n) => n.strip_suffix(".toml").unwrap_or(n).to_owned(),
        }
    }
}

/// Loads a scenario named on the command line: a path to a TOML file, or else the name of a
/// bundled scenario (`flood-small`).
pub fn load(spec: &str) -> Result<RawScenario, ScenarioError> {
    let path = Path::new(spec);
    if path.exists() {
        return load_origin(Origin::File(path.to_owned()));
    }
    if let Some((name, _)) = bundled::get(spec) {
        return load_origin(Origin::Bundled(name.to_owned()));
    }
    Err(ScenarioError::one(
        spec,
        "",
        format!(
            "no such scenario file, and no bundled scenario of that name (`wakusim list` shows \
             the bundled ones: {})",
            bundled::BUNDLED
                .iter()
                .map(|(n, _)| n.strip_suffix(".toml").unwrap_or(n))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// Loads the scenario file at `path`.
pub fn load_file(path: &Path) -> Result<RawScenario, ScenarioError> {
    load_origin(Origin::File(path.to_owned()))
}

/// Loads a scenario from text (for tests and fuzzing): `display` names it in messages, and
/// `extends` paths are relative to `dir`.
pub fn load_str(display: &str, text: &str, dir: &Path) -> Result<RawScenario, ScenarioError> {
    let mut raw = RawScenario {
        table: Table::new(),
        sources: Vec::new(),
        prov: BTreeMap::new(),
        main: 0,
    };
    let stem = Path::new(display)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut stack = vec![format!("text:{display}")];
    let table = raw.load_text(
        display.to_owned(),
        text.to_owned(),
        Some(dir.to_owned()),
        &mut stack,
    )?;
    raw.finish(table, stem);
    Ok(raw)
}

fn load_origin(origin: Origin) -> Result<RawScenario, ScenarioError> {
    let mut raw = RawScenario {
        table: Table::new(),
        sources: Vec::new(),
        prov: BTreeMap::new(),
        main: 0,
    };
    let stem = origin.stem();
    let mut stack = Vec::new();
    let table = raw.load_chain(&origin, &mut stack)?;
    raw.finish(table, stem);
    Ok(raw)
}

impl RawScenario {
    fn finish(&mut self, table: Table, stem: String) {
        self.table = table;
        if !self.table.contains_key("name") {
            // The default name: the scenario file's name without `.toml`. No file sets it, so
            // an error about it says it is the default.
            self.table.insert("name".to_owned(), Value::String(stem));
        }
    }

    /// Reads `origin` and everything it extends; returns the merged table.
    fn load_chain(
        &mut self,
        origin: &Origin,
        stack: &mut Vec<String>,
    ) -> Result<Table, ScenarioError> {
        let (text, dir) = match origin {
            Origin::File(p) => {
                let text =
                    read_file(p).map_err(|e| ScenarioError::one(p.display().to_string(), "", e))?;
                let dir = p.parent().map(Path::to_owned).unwrap_or_default();
                (text, Some(dir))
            }
            Origin::Bundled(n) => {
                let (_, text) = bundled::get(n).ok_or_else(|| {
                    ScenarioError::one(origin.display(), "", "no bundled scenario of that name")
                })?;
                (text.to_owned(), None)
            }
        };
        stack.push(origin.identity());
        let t = self.load_text(origin.display(), text, dir, stack);
        stack.pop();
        t
    }

    /// Parses one file's text, follows its `extends`, merges, and records provenance.
    fn load_text(
        &mut self,
        display: String,
        text: String,
        dir: Option<PathBuf>,
        stack: &mut Vec<String>,
    ) -> Result<Table, ScenarioError> {
        let mut table: Table = match toml::from_str(&text) {
            Ok(t) => t,
            Err(e) => {
                let location = match e.span() {
                    Some(span) => {
                        let (line, column) = line_col(&text, span.start);
                        Location {
                            file: display.clone(),
                            line,
                            column,
                        }
                        .to_string()
                    }
                    None => display.clone(),
                };
                return Err(ScenarioError::one(
                    location,
                    "",
                    format!("invalid TOML: {}", e.message()),
                ));
            }
        };
        if let Some(d) = &dir {
            resolve_paths(&mut table, d);
        }
        let src = self.sources.len();
        self.sources.push(Source::File {
            display: display.clone(),
            text,
        });
        self.main = src;
        let extends = table.remove("extends");
        let Some(extends) = extends else {
            let mut path = Vec::new();
            for (k, v) in &table {
                path.push(Seg::Key(k.clone()));
                record(&mut self.prov, &mut path, v, src);
                path.pop();
            }
            return Ok(table);
        };
        let here = || self.locate_in(src, &[Seg::Key("extends".to_owned())]);
        let Value::String(base_name) = extends else {
            return Err(ScenarioError::one(
                here(),
                "extends",
                format!(
                    "expected a string (the path of the base scenario, relative to this file), \
                     found {}",
                    type_name(&extends)
                ),
            ));
        };
        let base = match &dir {
            // A file that does not exist next to the extending one may name a bundled scenario.
            Some(d) if !d.join(&base_name).exists() && bundled::get(&base_name).is_some() => {
                let (n, _) = bundled::get(&base_name).expect("checked");
                Origin::Bundled(n.to_owned())
            }
            Some(d) => Origin::File(d.join(&base_name)),
            None => {
                let name = base_name.strip_prefix("./").unwrap_or(&base_name);
                if name.contains('/') || name.contains('\\') {
                    return Err(ScenarioError::one(
                        here(),
                        "extends",
                        format!(
                            "a bundled scenario can only extend another bundled scenario by file \
                             name, not `{base_name}`"
                        ),
                    ));
                }
                match bundled::get(name) {
                    Some((n, _)) => Origin::Bundled(n.to_owned()),
                    None => {
                        return Err(ScenarioError::one(
                            here(),
                            "extends",
                            format!("no bundled scenario named `{base_name}`"),
                        ));
                    }
                }
            }
        };
        let id = base.identity();
        if let Some(pos) = stack.iter().position(|s| *s == id) {
            let mut chain: Vec<&str> = stack[pos..].iter().map(String::as_str).collect();
            chain.push(&id);
            return Err(ScenarioError::one(
                here(),
                "extends",
                format!("`extends` cycle: {}", chain.join(" -> ")),
            ));
        }
        if stack.len() >= MAX_EXTENDS_DEPTH {
            return Err(ScenarioError::one(
                here(),
                "extends",
                format!("`extends` chain longer than {MAX_EXTENDS_DEPTH} files"),
            ));
        }
        if let Origin::File(p) = &base {
            if !p.is_file() {
                return Err(ScenarioError::one(
                    here(),
                    "extends",
                    format!(
                        "the base scenario {} does not exist (paths are relative to the extending file; \
                         a bundled scenario is named by its name, e.g. \"relay-small\")",
                        p.display()
                    ),
                ));
            }
        }
        let mut merged = self.load_chain(&base, stack)?;
        let mut path = Vec::new();
        merge(&mut merged, table, &mut path, src, &mut self.prov);
        self.main = src;
        Ok(merged)
    }

    /// `file:line:column` of the deepest part of `path` in source `src`, or just the file.
    fn locate_in(&self, src: usize, path: &[Seg]) -> String {
        match &self.sources[src] {
            Source::File { display, text, .. } => match find_span(text, path) {
                Some(span) => {
                    let (line, column) = line_col(text, span.start);
                    Location {
                        file: display.clone(),
                        line,
                        column,
                    }
                    .to_string()
                }
                None => display.clone(),
            },
            Source::Set { label, at } => match at {
                Some(at) => format!("{at} ({label})"),
                None => label.clone(),
            },
        }
    }

    /// Where the value at `path` was set: `file:line:column`, or the `--set` that set it.
    pub fn locate(&self, path: &[Seg]) -> String {
        let src = (1..=path.len())
            .rev()
            .find_map(|n| self.prov.get(&path[..n]).copied())
            .unwrap_or(self.main);
        self.locate_in(src, path)
    }

    fn diag(&self, path: &[Seg], message: String) -> Diagnostic {
        Diagnostic {
            location: self.locate(path),
            path: format_path(path),
            message,
        }
    }

    /// A diagnostic from validation: like [`Self::diag`], noting when the field was not set
    /// anywhere (its value is the default).
    fn validation_diag(&self, path: &[Seg], message: String) -> Diagnostic {
        let mut d = self.diag(path, message);
        if matches!(path.last(), Some(Seg::Key(_))) && !self.is_set(path) {
            d.message
                .push_str(" (the field is not set, so this is its default value)");
        }
        d
    }

    /// Whether a file or an override sets the value at `path`. Provenance is recorded per
    /// table key, not inside arrays, so a field of an array of tables (`workload.streams[0]
    /// .interval_ms`) is set when it is present in the merged document and some file or
    /// override set a part of its path (the default `name` is present but set by none).
    fn is_set(&self, path: &[Seg]) -> bool {
        if self.prov.contains_key(path) {
            return true;
        }
        let mut value: Option<&Value> = None;
        for (i, seg) in path.iter().enumerate() {
            value = match (seg, value) {
                (Seg::Key(k), None) if i == 0 => self.table.get(k),
                (Seg::Key(k), Some(Value::Table(t))) => t.get(k),
                (Seg::Index(j), Some(Value::Array(a))) => a.get(*j),
                _ => None,
            };
            if value.is_none() {
                return false;
            }
        }
        (1..path.len()).any(|n| self.prov.contains_key(&path[..n]))
    }

    /// The merged document.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Applies an override: sets the field at `ov.path`, creating tables on the way, or
    /// replaces element `i` of an array for a `[i]` step. Fails when the path crosses a value
    /// that is not a table (or, for `[i]`, not an array), or when `i` is past the array's end.
    pub fn apply(&mut self, ov: &Override) -> Result<(), ScenarioError> {
        let src = self.sources.len();
        self.sources.push(Source::Set {
            label: ov.label.clone(),
            at: ov.at.clone(),
        });
        let location = self.locate_in(src, &[]);
        let value = override_value(ov);
        let mut created = Vec::new();
        let mut root = Value::Table(std::mem::take(&mut self.table));
        let set = set_at(&mut root, &ov.path, 0, value.clone(), &mut created);
        let Value::Table(table) = root else {
            unreachable!("the root stays a table")
        };
        self.table = table;
        set.map_err(|message| ScenarioError::one(location, ov.dotted(), message))?;
        for path in created {
            self.prov.insert(path, src);
        }
        let mut segs = ov.path.clone();
        forget(&mut self.prov, &segs);
        record(&mut self.prov, &mut segs, &value, src);
        Ok(())
    }

    /// The model the scenario is for (its `model` key).
    pub fn model_kind(&self) -> Result<ModelKind, ScenarioError> {
        let path = [Seg::Key("model".to_owned())];
        match self.table.get("model") {
            None if crate::models::DEFAULT_MODEL.is_some() => {
                Ok(crate::models::DEFAULT_MODEL.expect("checked"))
            }
            None => Err(ScenarioError {
                diagnostics: vec![Diagnostic {
                    location: self.locate(&[]),
                    path: String::new(),
                    message: format!(
                        "missing field `model`: say which model the scenario is for, e.g. \
                         model = \"flood\" (known models: {})",
                        ModelKind::known_names()
                    ),
                }],
            }),
            Some(Value::String(name)) => ModelKind::from_name(name).ok_or_else(|| ScenarioError {
                diagnostics: vec![self.diag(
                    &path,
                    format!(
                        "unknown model `{name}`, expected one of {}",
                        ModelKind::known_names()
                    ),
                )],
            }),
            Some(other) => Err(ScenarioError {
                diagnostics: vec![self.diag(
                    &path,
                    format!(
                        "expected a string naming the model ({}), found {}",
                        ModelKind::known_names(),
                        type_name(other)
                    ),
                )],
            }),
        }
    }

    /// Deserializes and validates the scenario for model `M`.
    pub fn resolve<M: Model>(&self) -> Result<Scenario<M::Params>, ScenarioError> {
        let mut common_t = Table::new();
        let mut params_t = Table::new();
        for (k, v) in &self.table {
            if k == "model" || k == "extends" {
                continue;
            }
            if COMMON_KEYS.contains(&k.as_str()) {
                common_t.insert(k.clone(), v.clone());
            } else {
                params_t.insert(k.clone(), v.clone());
            }
        }
        let mut diags = Vec::new();
        let common = self.deserialize::<CommonSections>(common_t, &mut diags);
        let params = self.deserialize::<M::Params>(params_t, &mut diags);
        let (Some(common), Some(params)) = (common, params) else {
            return Err(ScenarioError { diagnostics: diags });
        };
        let scenario = Scenario {
            model: M::NAME.to_owned(),
            common,
            params,
        };
        let mut errors = Vec::new();
        let name = &scenario.common.name;
        if name.is_empty()
            || name == "."
            || name == ".."
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            errors.push(FieldError::new(
                "name",
                format!(
                    "{name:?} cannot name a results directory: use letters, digits, '-', '_' \
                     and '.' only"
                ),
            ));
        }
        scenario.common.run.validate(&mut errors);
        scenario.common.outputs.validate(&mut errors);
        if errors.is_empty() {
            if let Err(e) = M::validate(&scenario) {
                errors.extend(e);
            }
        }
        if errors.is_empty()
            && let Some(known) = M::timeseries_metrics(&scenario)
        {
            for (i, m) in scenario.common.outputs.timeseries_plots.iter().enumerate() {
                if !known.contains(m) {
                    errors.push(FieldError::new(
                        format!("outputs.timeseries_plots[{i}]"),
                        format!(
                            "a run of this scenario writes no time series {m:?}; it writes {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(scenario)
        } else {
            Err(ScenarioError {
                diagnostics: errors
                    .into_iter()
                    .map(|e| self.validation_diag(&parse_path(&e.path), e.message))
                    .collect(),
            })
        }
    }

    fn deserialize<T: DeserializeOwned>(&self, t: Table, diags: &mut Vec<Diagnostic>) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(t) {
            Ok(v) => Some(v),
            Err(e) => {
                let segs: Vec<Seg> = e
                    .path()
                    .iter()
                    .filter_map(|s| match s {
                        serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                        serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                        _ => None,
                    })
                    .collect();
                let mut message = humanize(e.inner().message());
                if segs.len() == 1 && message.starts_with("unknown field") {
                    message.push_str(&format!(
                        ", or a common field: {}",
                        COMMON_KEYS.map(|k| format!("`{k}`")).join(", ")
                    ));
                }
                diags.push(self.diag(&segs, message));
                None
            }
        }
    }
}

/// Makes serde's type names readable: `expected f64` becomes `expected a number`.
fn humanize(msg: &str) -> String {
    let mut m = msg.to_owned();
    for (from, to) in [
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected u64", "expected a non-negative integer"),
        ("expected usize", "expected a non-negative integer"),
        ("expected u32", "expected a non-negative integer below 2^32"),
        (
            "expected u16",
            "expected a non-negative integer below 65536",
        ),
        ("expected u8", "expected a non-negative integer below 256"),
        ("expected i64", "expected an integer"),
        ("expected i32", "expected an integer"),
        ("expected a boolean", "expected true or false"),
    ] {
        if let Some(rest) = m.strip_suffix(from) {
            m = format!("{rest}{to}");
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        let p = parse_path("flood.publishers[2].size");
        assert_eq!(
            p,
            vec![
                Seg::Key("flood".into()),
                Seg::Key("publishers".into()),
                Seg::Index(2),
                Seg::Key("size".into())
            ]
        );
        assert_eq!(format_path(&p), "flood.publishers[2].size");
    }

    #[test]
    fn line_and_column_of_offsets() {
        let t = "a = 1\nbb = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 9), (2, 4));
    }

    #[test]
    fn spans_find_nested_keys_and_array_elements() {
        let t =
            "name = \"x\"\n[run]\nduration_s = 3\n\n[[flood.list]]\nx = 1\n[[flood.list]]\ny = 2\n";
        let span = find_span(t, &parse_path("run.duration_s")).unwrap();
        assert_eq!(line_col(t, span.start), (3, 1));
        let span = find_span(t, &parse_path("flood.list[1].y")).unwrap();
        assert_eq!(line_col(t, span.start), (8, 1));
        // A missing leaf: the deepest part found.
        let span = find_span(t, &parse_path("run.nope")).unwrap();
        assert_eq!(line_col(t, span.start), (2, 2));
    }

    #[test]
    fn override_values_parse_as_toml_or_fall_back_to_strings() {
        let o: Override = "run.duration_s=30".parse().unwrap();
        assert_eq!(o.path, parse_path("run.duration_s"));
        assert_eq!(o.value, Value::Integer(30));
        assert_eq!(Override::parse_value("2.5"), Value::Float(2.5));
        assert_eq!(Override::parse_value("true"), Value::Boolean(true));
        assert_eq!(
            Override::parse_value("hello"),
            Value::String("hello".into())
        );
        assert_eq!(
            Override::parse_value("\"quoted\""),
            Value::String("quoted".into())
        );
        assert_eq!(
            Override::parse_value("1.2.3"),
            Value::String("1.2.3".into())
        );
        assert_eq!(
            Override::parse_value("3\nw = 4"),
            Value::String("3\nw = 4".into()),
            "a value cannot smuggle in a second key"
        );
        assert_eq!(
            Override::parse_value("[1, 2]"),
            Value::Array(vec![Value::Integer(1), Value::Integer(2)])
        );
        assert!("run.duration_s".parse::<Override>().is_err());
        assert!("run..x=1".parse::<Override>().is_err());
        assert!("extends=a.toml".parse::<Override>().is_err());
    }

    #[test]
    fn overrides_create_tables_and_refuse_to_cross_values() {
        let dir = tempfile::tempdir().unwrap();
        let mut raw =
            load_str("s.toml", "model = \"flood\"\n[run]\nseed = 4\n", dir.path()).unwrap();
        raw.apply(&"a.b.c=1".parse().unwrap()).unwrap();
        raw.apply(&"run.seed=9".parse().unwrap()).unwrap();
        assert_eq!(raw.table()["a"]["b"]["c"], Value::Integer(1));
        assert_eq!(raw.table()["run"]["seed"], Value::Integer(9));
        assert_eq!(raw.locate(&parse_path("run.seed")), "--set run.seed=9");
        assert_eq!(raw.locate(&parse_path("run")), "s.toml:2:2");
        let err = raw.apply(&"run.seed.x=1".parse().unwrap()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("--set run.seed.x=1"), "{msg}");
        assert!(
            msg.contains("`run.seed` is an integer, not a table"),
            "{msg}"
        );
    }

    #[test]
    fn overrides_index_arrays_and_say_why_an_index_does_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let text = "model = \"flood\"\n[run]\nseed = 4\n\n\
                    [[a.list]]\nx = 1\ny = 2\n[[a.list]]\nx = 3\n";
        let mut raw = load_str("s.toml", text, dir.path()).unwrap();
        let o: Override = "a.list[1].x=5".parse().unwrap();
        assert_eq!(o.path, parse_path("a.list[1].x"));
        assert_eq!(o.dotted(), "a.list[1].x");
        raw.apply(&o).unwrap();
        // Element 1 changed; element 0 and element 1's other fields as the file wrote them.
        assert_eq!(raw.table()["a"]["list"][1]["x"], Value::Integer(5));
        assert_eq!(raw.table()["a"]["list"][0]["x"], Value::Integer(1));
        assert_eq!(raw.table()["a"]["list"][0]["y"], Value::Integer(2));
        assert_eq!(
            raw.locate(&parse_path("a.list[1].x")),
            "--set a.list[1].x=5"
        );
        assert_eq!(raw.locate(&parse_path("a.list[0].x")), "s.toml:6:1");
        // A whole element, and an element of a nested array.
        raw.apply(&"a.list[0]={ z = [1, 2] }".parse().unwrap())
            .unwrap();
        raw.apply(&"a.list[0].z[1]=7".parse().unwrap()).unwrap();
        assert_eq!(raw.table()["a"]["list"][0]["z"][1], Value::Integer(7));
        assert!(raw.table()["a"]["list"][0].get("x").is_none());

        let msg = |set: &str| {
            let mut r = raw.clone();
            r.apply(&set.parse().unwrap()).unwrap_err().to_string()
        };
        let m = msg("a.list[2].x=1");
        assert!(m.contains("--set a.list[2].x=1"), "{m}");
        assert!(m.contains("field `a.list[2].x`"), "{m}");
        assert!(
            m.contains("`a.list` has 2 elements (indices 0 to 1), so index [2] is out of range"),
            "{m}"
        );
        let m = msg("run.seed[0]=1");
        assert!(
            m.contains("`run.seed` is an integer, not an array, so it has no element [0]"),
            "{m}"
        );
        let m = msg("run[0]=1");
        assert!(m.contains("`run` is a table, not an array"), "{m}");
        let m = msg("a.nope[0].x=1");
        assert!(
            m.contains("`a.nope` is not set, so it has no element [0]"),
            "{m}"
        );
        let m = msg("a.list[0].z[1].w=1");
        assert!(
            m.contains("`a.list[0].z[1]` is an integer, not a table"),
            "{m}"
        );
        // A refused override leaves the document as it was.
        let mut r = raw.clone();
        assert!(r.apply(&"a.list[9]=1".parse().unwrap()).is_err());
        assert_eq!(r.table(), raw.table());

        for bad in [
            "a.list[x].y=1",
            "a.list[1.y=1",
            "a.list]1[.y=1",
            "a.list[1]x=1",
            "[0].a=1",
            "a.[0]=1",
            "a.list[-1]=1",
        ] {
            let e = bad.parse::<Override>().unwrap_err();
            assert!(e.contains("is not a field path"), "{bad}: {e}");
            assert!(e.contains("network.faults[0].end_s"), "{bad}: {e}");
        }
    }

    #[test]
    fn extends_merges_tables_replaces_arrays_and_tracks_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(
            d.join("base.toml"),
            "model = \"flood\"\ndescription = \"base\"\n[run]\nduration_s = 10\nseed = 3\n[x]\nlist = [1, 2, 3]\nkeep = true\n",
        )
        .unwrap();
        fs::create_dir(d.join("sub")).unwrap();
        fs::write(
            d.join("sub/mid.toml"),
            "extends = \"../base.toml\"\n[run]\nseed = 5\n[x]\nlist = [9]\n",
        )
        .unwrap();
        fs::write(
            d.join("sub/top.toml"),
            "extends = \"mid.toml\"\nname = \"top\"\n[run]\nwarmup_s = 1\n",
        )
        .unwrap();
        let raw = load_file(&d.join("sub/top.toml")).unwrap();
        let t = raw.table();
        assert_eq!(t["run"]["duration_s"], Value::Integer(10), "kept from base");
        assert_eq!(t["run"]["seed"], Value::Integer(5), "overridden by mid");
        assert_eq!(t["run"]["warmup_s"], Value::Integer(1), "added by top");
        assert_eq!(
            t["x"]["list"],
            Value::Array(vec![Value::Integer(9)]),
            "arrays are replaced"
        );
        assert_eq!(t["x"]["keep"], Value::Boolean(true));
        assert!(!t.contains_key("extends"));
        // Provenance: the file that set each value, with its line.
        let base = d.join("sub/../base.toml").display().to_string();
        assert_eq!(
            raw.locate(&parse_path("run.duration_s")),
            format!("{base}:4:1")
        );
        let mid = d.join("sub/mid.toml").display().to_string();
        assert_eq!(raw.locate(&parse_path("run.seed")), format!("{mid}:3:1"));
        assert_eq!(raw.locate(&parse_path("x.list[0]")), format!("{mid}:5:9"));
    }

    #[test]
    fn extends_cycles_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("a.toml"), "extends = \"b.toml\"\n").unwrap();
        fs::write(d.join("b.toml"), "# b\nextends = \"a.toml\"\n").unwrap();
        let err = load_file(&d.join("a.toml")).unwrap_err().to_string();
        assert!(err.contains("`extends` cycle"), "{err}");
        assert!(
            err.contains("b.toml:2:1"),
            "located at b's extends key: {err}"
        );
        fs::write(d.join("self.toml"), "extends = \"self.toml\"\n").unwrap();
        let err = load_file(&d.join("self.toml")).unwrap_err().to_string();
        assert!(err.contains("`extends` cycle"), "{err}");
    }

    #[test]
    fn missing_files_are_reported_with_the_extending_line() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(
            d.join("a.toml"),
            "model = \"flood\"\n\nextends = \"nope.toml\"\n",
        )
        .unwrap();
        let err = load_file(&d.join("a.toml")).unwrap_err().to_string();
        assert!(err.contains("a.toml:3:1"), "{err}");
        assert!(err.contains("nope.toml does not exist"), "{err}");
        let err = load(&d.join("missing.toml").display().to_string())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing.toml") && err.contains("no such scenario file"),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_str(
            "bad.toml",
            "model = \"flood\"\n[run]\nseed = = 3\n",
            dir.path(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("bad.toml:3:"), "{err}");
        assert!(err.contains("invalid TOML"), "{err}");
    }

    #[test]
    fn the_default_name_is_the_file_stem() {
        let dir = tempfile::tempdir().unwrap();
        let raw = load_str("dir/my-scenario.toml", "model = \"flood\"\n", dir.path()).unwrap();
        assert_eq!(raw.table()["name"], Value::String("my-scenario".into()));
    }

    #[test]
    fn model_key_errors() {
        let dir = tempfile::tempdir().unwrap();
        let raw = load_str("s.toml", "name = \"x\"\n", dir.path()).unwrap();
        assert!(
            raw.model_kind()
                .unwrap_err()
                .to_string()
                .contains("missing field `model`")
        );
        let raw = load_str("s.toml", "name = \"x\"\nmodel = \"gossip\"\n", dir.path()).unwrap();
        let e = raw.model_kind().unwrap_err().to_string();
        assert!(
            e.contains("s.toml:2:1: field `model`: unknown model `gossip`"),
            "{e}"
        );
    }

    #[test]
    fn errors_inside_arrays_of_tables_point_at_the_value_in_the_file() {
        use crate::models::waku::Waku;
        let dir = tempfile::tempdir().unwrap();
        let check = |text: &str, field: &str, at: &str| {
            let raw = load_str("s.toml", text, dir.path()).unwrap();
            let e = raw.resolve::<Waku>().unwrap_err().to_string();
            assert!(e.contains(&format!("s.toml:{at}: field `{field}`")), "{e}");
            assert!(!e.contains("not set"), "the file sets {field}: {e}");
        };
        let head = "model = \"waku\"\n[network]\nnodes = 20\n";
        // Line 6 column 1: the key `interval_ms` on the stream's third line.
        check(
            &format!("{head}[[workload.streams]]\ntopic = 0\ninterval_ms = 0\n"),
            "workload.streams[0].interval_ms",
            "6:1",
        );
        // One shard (topics 0..1), so topic 7 does not exist.
        check(
            &format!("{head}[[workload.streams]]\ntopic = 7\n"),
            "workload.streams[0].topic",
            "5:1",
        );
        check(
            &format!(
                "{head}[[network.bandwidth.classes]]\nname = \"x\"\nupload_mbps = nan\n\
                 download_mbps = 10\n"
            ),
            "network.bandwidth.classes[0].upload_mbps",
            "6:1",
        );
        check(
            &format!(
                "{head}[[network.bandwidth.classes]]\nname = \"x\"\nupload_mbps = 10\n\
                 download_mbps = 10\ncpu_slowdown = 0\n"
            ),
            "network.bandwidth.classes[0].cpu_slowdown",
            "8:1",
        );
        check(
            &format!("{head}[relay]\nmessage_handling_us = -3\n"),
            "relay.message_handling_us",
            "5:1",
        );
        // A field of an array element that the file leaves out is not set (its default
        // applies, and an error about it says so); the default name is not set either.
        let raw = load_str(
            "s.toml",
            &format!("{head}[[workload.streams]]\ntopic = 0\n"),
            dir.path(),
        )
        .unwrap();
        assert!(raw.is_set(&parse_path("workload.streams[0].topic")));
        assert!(!raw.is_set(&parse_path("workload.streams[0].interval_ms")));
        assert!(!raw.is_set(&parse_path("workload.streams[1].topic")));
        assert!(!raw.is_set(&parse_path("name")));
    }

    #[test]
    fn file_paths_are_made_absolute_from_the_file_or_override_that_sets_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = std::path::absolute(dir.path()).unwrap();
        fs::create_dir(d.join("base")).unwrap();
        fs::write(
            d.join("base/b.toml"),
            "model = \"waku\"\n[network]\ntopology = { kind = \"file\", path = \"g.csv\" }\n",
        )
        .unwrap();
        fs::write(d.join("top.toml"), "extends = \"base/b.toml\"\n").unwrap();
        let path_of = |raw: &RawScenario| raw.table()["network"]["topology"]["path"].clone();
        let mut raw = load_file(&d.join("top.toml")).unwrap();
        assert_eq!(
            path_of(&raw),
            Value::String(d.join("base/g.csv").display().to_string()),
            "relative to the base file that names it"
        );
        // An override written in a sweep file: relative to that file.
        let at = Location {
            file: d.join("sweeps/s.toml").display().to_string(),
            line: 3,
            column: 1,
        };
        raw.apply(
            &Override::new(
                "network.topology",
                Override::parse_value("{ kind = \"file\", path = \"h.graphml\" }"),
                "set",
                Some(at),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            path_of(&raw),
            Value::String(d.join("sweeps/h.graphml").display().to_string())
        );
        // An absolute path is kept as it is.
        raw.apply(&"network.topology.path=/x/g.csv".parse().unwrap())
            .unwrap();
        assert_eq!(path_of(&raw), Value::String("/x/g.csv".into()));
    }

    #[test]
    fn humanized_types() {
        assert_eq!(
            humanize("invalid type: string \"x\", expected f64"),
            "invalid type: string \"x\", expected a number"
        );
    }
}
