//! The event loop and the network model's mechanics.
//!
//! By concern: [`config`] the run-wide settings; [`events`] what the event queue holds;
//! [`inflight`] the messages in flight; [`timers`] timer slots and the slab; [`links`] a node's
//! link and connections; [`state`] the engine's core state; [`send`] the send and delivery
//! path; [`conns`] connections and dials; [`faults`] faults, degradations, partitions and
//! churn; [`run`] the run loop and look-ahead; [`api`] the [`Engine`] and its accessors.

mod api;
mod config;
mod conns;
mod events;
mod faults;
mod inflight;
mod links;
mod memory;
mod run;
mod send;
mod state;
mod timers;

pub use api::{Engine, MAX_CPU_SLOWDOWN};
pub use config::{EngineConfig, RunOutcome};
pub use links::Links;
pub(crate) use state::Core;
