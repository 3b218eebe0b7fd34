//! The models the tool can run, selected by a scenario's top-level `model = "..."` key.
//!
//! Registering a model takes three lines, all in this file: a variant of [`ModelKind`], its
//! entry in [`ModelKind::ALL`], and a match arm in [`with_model`]. Everything else (loading,
//! validation, run, sweep, plots, compare) is generic over [`Model`].

pub mod flood;
pub mod waku;

use crate::model::Model;

/// The model of a scenario without a `model` key; `None` makes the key required.
pub const DEFAULT_MODEL: Option<ModelKind> = None;

/// Every model the tool knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModelKind {
    /// [`flood::Flood`]: plain flooding over a ring with chords; the test model.
    Flood,
    /// [`waku::Waku`]: Waku relay nodes (gossipsub as nwaku runs it).
    Waku,
}

impl ModelKind {
    /// All models, in the order `wakusim list --models` shows them.
    pub const ALL: &'static [ModelKind] = &[ModelKind::Waku, ModelKind::Flood];

    /// The value of `model = "..."` that selects this model.
    pub fn name(self) -> &'static str {
        with_model(self, Name)
    }

    /// A one-line description.
    pub fn description(self) -> &'static str {
        with_model(self, Description)
    }

    /// The model called `name`, if any.
    pub fn from_name(name: &str) -> Option<ModelKind> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The known names, for error messages: `"flood"` or `"flood", "waku"`.
    pub fn known_names() -> String {
        Self::ALL
            .iter()
            .map(|k| format!("\"{}\"", k.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Something to do with a model type, chosen at run time by [`with_model`].
pub trait ModelTask {
    /// What the task returns.
    type Output;
    /// Does the task with model `M`.
    fn call<M: Model>(self) -> Self::Output;
}

/// Runs `task` with the model type that `kind` names. The one place models are dispatched.
pub fn with_model<T: ModelTask>(kind: ModelKind, task: T) -> T::Output {
    match kind {
        ModelKind::Flood => task.call::<flood::Flood>(),
        ModelKind::Waku => task.call::<waku::Waku>(),
    }
}

struct Name;
impl ModelTask for Name {
    type Output = &'static str;
    fn call<M: Model>(self) -> &'static str {
        M::NAME
    }
}

struct Description;
impl ModelTask for Description {
    type Output = &'static str;
    fn call<M: Model>(self) -> &'static str {
        M::DESCRIPTION
    }
}
