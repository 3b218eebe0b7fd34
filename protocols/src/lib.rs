//! # protocols: Waku node models for wakusim
//!
//! The first and central model is **Waku Relay**: gossipsub v1.1 and v1.2 exactly as nwaku
//! runs it (nim-libp2p v1.14.3, the version nwaku pins, with nwaku's parameters), with delivery,
//! latency, duplicates and bandwidth per message kind. On it ride **sharding** (static shards,
//! content topics, autosharding, protected shards, subscriptions per node) and **nwaku's peer
//! manager** (limits, targets, connectivity loop, dial backoff, peer store, metadata protocol,
//! keepalive), fed by a peer source; later protocols (discovery, RLN, store, filter, light
//! push) ride on the same composition.
//!
//! ## Layout
//!
//! One interface for every protocol ([`proto::Protocol`], acting through [`proto::Io`]), one
//! folder each, one list of the protocols a node can run ([`node`]):
//!
//! | module | what |
//! |---|---|
//! | [`proto`] | the protocol interface: messages, timers, events, sinks, categories; the context |
//! | [`wire`] | transport framing shared by every message; the transport's category |
//! | [`testing`] | [`testing::Recorder`]: the context stand-in of every protocol's unit tests |
//! | [`node`] | [`WakuNode`] and the list of protocols; the one adapter; glue; the application; prefetch hints |
//! | [`relay`] | [`Relay`]: gossipsub as nwaku runs it (config, RPCs and wire sizes, mcache, seen, backoff, scoring, send queues, protected shards, metrics) |
//! | [`sharding`] | clusters, static shards, content topics, autosharding; subscriptions; mesh health |
//! | [`peer_manager`] | nwaku's peer manager with the metadata and ping (keepalive) protocols |
//! | [`discovery`] | where peer managers find peers (bootstrap lists; rendezvous; discv5 and peer exchange next) |
//! | [`identify`] | libp2p identify: the worked example of adding a protocol |
//! | [`workload`] | publishers, rates (fixed or Poisson), sizes, spam streams, content topics |
//! | [`harness`] | [`SimInput`] -> [`run`] -> [`SimOutput`] |
//! | [`flood`] | plain flooding ([`flood::FloodNode`]), the test model's protocol (its own `sim_core::Node`, outside the Waku node's list), and its overlays |
//!
//! Places for the protocols to come: `rln/`, `store/`, `store_sync/`, `filter/`,
//! `lightpush/`, `sds/`. docs/architecture.md, "Adding a protocol", walks through the files a
//! new protocol needs.
//!
//! Every protocol part is a sans-IO state machine: it gets time and randomness from its
//! context ([`proto::Io`]), never from a clock or an ambient
//! generator, and iterates only over ordered collections. Each node's relay draws from its own
//! stream (seed, node id, `"gossipsub"`), its workload from (seed, node id, `"workload"`), its
//! peer manager from (seed, node id, `"peer_manager"`), its subscriptions and bootstrap list
//! from (seed, node id, `"subscriptions"` / `"bootstrap"`), so adding a node or a protocol
//! shifts no other stream.
//!
//! ## The overlay
//!
//! A run's connections come from `edges` wired at time 0 (a topologies graph: controlled
//! studies) and/or from every node's peer manager dialling peers of its peer source (the
//! network forming as it really does). Relay learns of every connection from the engine's
//! `ConnectionUp` / `ConnectionDown`, whoever opened it. With a peer manager, every new
//! connection runs the metadata protocol and is dropped on a cluster mismatch; the node keeps
//! nwaku's limits (50 connections, 10 outbound and 20 inbound relay peers), redials with
//! backoff, and pings peers. A node back from churn starts with an empty peer store refilled
//! from its source (nwaku without peer persistence) or its old store
//! ([`peer_manager::RestartStore`]).
//!
//! ## Units
//!
//! Time is `sim_core::SimTime` / `SimDuration` (integer nanoseconds) inside; configuration
//! carries its unit in each name (`heartbeat_ms`, `seen_ttl_s`, `validation_delay_us`,
//! `payload_bytes`, `flood_publish_bandwidth_bps`). Sizes are bytes; bandwidth results are
//! bytes per node per category over the measured window (divide by `window_s` for bytes/s).
//!
//! ## Defaults and their sources
//!
//! Defaults are nwaku's (`waku/waku_relay/protocol.nim`): D 6 / D_low 4 / D_high 8, D_lazy 6,
//! D_score 6, D_out 3, heartbeat 1 s, history 6 / gossip 3, seen TTL 2 min, prune backoff 60 s,
//! unsubscribe backoff 5 s, flood publishing, and its peer-scoring parameters (topic weight 1,
//! P1 0.01 / 1 s / cap 10, P2 1 / decay 0.5 / cap 10, P4 -100 / decay 0.5, P6 -50 above 5 IPs,
//! P7 -10 / decay 0.986, thresholds -100 / -1000 / -10000, decay every 12 s, retain 10 min,
//! bad peers disconnected). Limits come from nim-libp2p v1.14.3: 5000 ids per IHAVE, 10 IWANT
//! ids per peer per heartbeat, IDONTWANT above 512 B and at most 1000 ids per heartbeat slot,
//! non-priority queue of 1024, flood-publish cap from a 100 Mbit/s estimate, 2 s backoff slack,
//! +0.1 behaviour penalty for a GRAFT during backoff. Each field's documentation names the
//! spec / nim-libp2p value where it differs; [`RelayConfig::nim_libp2p_defaults`] gives those.
//!
//! ## What is simplified, and why
//!
//! - **No payload bytes.** Messages carry sizes, a 64-bit id (the first 8 bytes of the sha256
//!   id, computed once per published message over a stand-in serialization) and metric fields;
//!   wire sizes count the real 32-byte ids and protobuf encodings.
//! - **One RPC per kind.** nim-libp2p sometimes puts a control response's IWANT and PRUNE in
//!   one RPC; the simulator sends them separately (a few bytes of RPC header apart), so every
//!   message has one accounting category.
//! - **Send queues and the socket buffer.** The engine models a node's upload as one FIFO and
//!   tells the sender when each write leaves it; the node counts a write as finished once at
//!   most `send_buffer_bytes` of it wait in the uplink; that decides when nim-libp2p's per-peer non-priority queueing kicks in
//!   ([`relay::queues`]). With TCP modelled (`[network.tcp]`, on by default in scenarios) the
//!   yamux stream window caps the bytes in flight per round trip (`sim_core::tcp`: 256,000 B,
//!   nim-libp2p's `YamuxDefaultWindowSize`); the receiver is taken to read at once, so a slow
//!   reader's back-pressure and nim-libp2p's reset of a stream whose send queue exceeds
//!   `MaxSendQueueSize` while the window is empty are not modelled.
//! - **P3 / P3b / P5** have weight 0 in nwaku and are not modelled; nor are direct peers,
//!   libp2p message signing (StrictNoSign; protected shards sign in the WakuMessage's `meta`,
//!   [`relay::protected`]), the overhead rate limit, or gossipsub 1.4 extensions.
//! - **Heartbeat phases.** Each node's gossipsub and scoring heartbeats start at a random phase
//!   (real nodes start at different times; lockstep heartbeats would synchronise the network).
//! - **Peer exchange** (off by default) dials offered peers while the node has fewer than
//!   `max_connections` connections, outside the peer manager's loop.
//! - **The peer manager** keeps nwaku's rules and timing; see [`peer_manager`] for what is
//!   simplified (one connection per peer, relay capability known at once, no online check).
//! - **Seen TTL from the first receipt.** nim-libp2p refreshes a seen entry on every duplicate;
//!   the simulator counts the TTL (2 min) from the first receipt, which differs only for a copy
//!   arriving more than 2 min after the first, impossible while peers keep a message for 6
//!   heartbeats ([`relay::seen`]).
//! - **Per-node lists instead of per-peer sets.** IDONTWANTs received and IHAVE ids advertised
//!   are kept in one list per node with the peer in each entry (the same information as
//!   nim-libp2p's per-peer sets, in fewer cache lines); per-heartbeat budgets reset lazily.
//!
//! ## Performance
//!
//! A relay run is memory-bound: every event touches one of thousands of nodes, so node state
//! is laid out for few cache misses (peer ids in a compact sorted array, 48-byte peer records
//! with boxed scoring counters, an open-addressing seen table, no per-node hash maps, fast
//! paths while no peer has a negative score). `examples/relay_bench.rs` runs the bundled
//! relay-1k and relay-10k configurations; `examples/engine_floor.rs` measures what the engine
//! alone costs for relay-10k's message volume (about 184,000 messages per simulated second,
//! a third each forwards, IDONTWANTs and IHAVEs).
//!
//! Behaviour kept on purpose although it looks odd, because nwaku runs it: a PRUNE sets a
//! backoff even from a peer outside the mesh; pruning above D_high that leaves at most D_score
//! candidates removes nobody but still sends them PRUNE; an RPC above the 150 KiB RPC limit is
//! not sent, so a WakuMessage within 27 bytes of the message limit cannot be relayed.

#![warn(missing_docs)]

pub mod discovery;
pub mod flood;
pub mod harness;
pub mod identify;
pub mod node;
pub mod peer_manager;
pub mod proto;
pub mod relay;
pub mod rln;
pub mod sharding;
pub mod store;
pub mod store_sync;
pub mod testing;
pub mod wire;
pub mod workload;

pub use harness::{SimInput, SimInputError, SimOutput, run};
pub use node::WakuObserver;
pub use node::{NodeCommand, WakuMsg, WakuNode, WakuTimer};
pub use peer_manager::{PeerManager, PeerManagerConfig};
pub use proto::{Io, Protocol, Wire};
pub use relay::config::{ConfigError, RelayConfig, ScoreConfig};
pub use relay::message::{MsgId, TopicIdx, Topics, WireMsg};
pub use relay::rpc::Rpc;
pub use relay::{PublishOutcome, Relay, RelayCounter, RelayEvent, RelayShared, RelayTimer};
pub use sharding::{ContentTopic, RelayShard};
pub use workload::{StreamConfig, WorkloadConfig};
