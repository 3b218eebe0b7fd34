//! libp2p identify (`/ipfs/id/1.0.0`): on every new connection each side asks the other who
//! it is, and the other answers with its Identify record (public key, listen and observed
//! addresses, protocol and agent versions, the protocols it runs). nim-libp2p runs it on each
//! upgraded connection, both ways.
//!
//! The exchange is part of the connection's set-up: nim-libp2p's upgrade runs identify right
//! after the secure channel and the muxer are negotiated, before the connection is handed to
//! the protocols, and the dial's handshake time (`network.dial_round_trips`, 3 round trips:
//! TCP, multistream/noise, yamux + identify) already covers it. So when a connection comes up
//! each side writes, as set-up bytes (`Io::send_setup`: on its uplink and counted on both
//! sides, with no message delivered), its own request and its answer to the peer's request,
//! and reports the peer's record as received. Each direction of a connection thus carries one
//! request and one response, as in the real exchange, without an event or an in-flight
//! record per message: a network whose connections all open at once (a statically wired
//! overlay at t = 0) would otherwise hold four messages per connection in flight at the same
//! instant. What this leaves out: the few microseconds the records take on the receivers'
//! downlinks.
//!
//! The worked example of the protocol interface (docs/architecture.md, "Adding a protocol"):
//! this folder, one line in the node's list (`node/mod.rs`) and its harness section
//! (`SimInput::identify`). Off by default, so that runs without it keep their result files.
//!
//! Sizes: a request is the stream's opening, multistream-select's header and the protocol id
//! as varint-prefixed lines (`/multistream/1.0.0\n`, 19 + 1 bytes; `/ipfs/id/1.0.0\n`,
//! 15 + 1 bytes: 36 bytes). A response is the responder's echo of both (36 bytes) and the
//! varint-prefixed Identify protobuf ([`IdentifyConfig::record_bytes`]).
//!
//! Not modelled: identify push (`/ipfs/id/push/1.0.0`, sent when a node's protocols or
//! addresses change), and the peer store learning addresses from it.

use std::rc::Rc;

use serde::{Deserialize, Serialize};
use sim_core::{NodeId, SimTime};

use crate::node::registry::Build;
use crate::proto::{Io, Protocol, Wire};
use crate::relay::message::varint_len;

/// Bytes that open a stream for `/ipfs/id/1.0.0`: multistream-select's header line and the
/// protocol line, each with its varint length prefix (20 + 16).
pub const STREAM_OPEN_BYTES: u32 = 36;

/// The identify protocol's configuration (`[identify]` of a scenario).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentifyConfig {
    /// Whether nodes run identify. Default true (every libp2p node does).
    pub enabled: bool,
    /// The protocol ids a node announces. Default: what an nwaku relay node with the peer
    /// manager mounts (relay and its gossipsub versions, metadata, ping, identify).
    pub protocols: Vec<String>,
    /// The agent version string. Default `"nwaku"`.
    pub agent_version: String,
    /// Listen addresses announced, each an 8-byte binary `/ip4/…/tcp/…`. Default 1.
    pub listen_addrs: u32,
    /// Bytes of the signed peer record (0: none sent). Default 0.
    pub signed_peer_record_bytes: u32,
}

impl Default for IdentifyConfig {
    fn default() -> Self {
        IdentifyConfig {
            enabled: true,
            protocols: [
                "/vac/waku/relay/2.0.0",
                "/meshsub/1.2.0",
                "/meshsub/1.1.0",
                "/meshsub/1.0.0",
                "/vac/waku/metadata/1.0.0",
                "/ipfs/ping/1.0.0",
                "/ipfs/id/1.0.0",
            ]
            .map(String::from)
            .to_vec(),
            agent_version: "nwaku".to_owned(),
            listen_addrs: 1,
            signed_peer_record_bytes: 0,
        }
    }
}

/// Bytes of a length-delimited protobuf field of `len` bytes with a one-byte tag.
fn ld(len: u32) -> u32 {
    1 + varint_len(len as u64) + len
}

impl IdentifyConfig {
    /// Bytes of the Identify protobuf, with its varint length prefix: protocolVersion
    /// `ipfs/0.1.0` (field 5), agentVersion (6), publicKey (1: a secp256k1 key as libp2p's
    /// PublicKey message, type 2 + 33 bytes = 37), each listen address (2) and the observed
    /// address (4), 8 bytes each, each protocol id (3), and the signed peer record (8).
    pub fn record_bytes(&self) -> u32 {
        let mut n = ld(10) + ld(self.agent_version.len() as u32) + ld(37);
        n += (self.listen_addrs + 1) * ld(8);
        n += self
            .protocols
            .iter()
            .map(|p| ld(p.len() as u32))
            .sum::<u32>();
        if self.signed_peer_record_bytes > 0 {
            n += ld(self.signed_peer_record_bytes);
        }
        varint_len(n as u64) + n
    }
}

/// Run-wide identify data.
#[derive(Debug)]
pub struct IdentifyShared {
    /// The configuration.
    pub cfg: IdentifyConfig,
    /// Bytes of a response ([`STREAM_OPEN_BYTES`] + [`IdentifyConfig::record_bytes`]).
    pub response_bytes: u32,
}

impl IdentifyShared {
    /// The shared data of `cfg`.
    pub fn new(cfg: IdentifyConfig) -> Self {
        let response_bytes = STREAM_OPEN_BYTES + cfg.record_bytes();
        IdentifyShared {
            cfg,
            response_bytes,
        }
    }
}

/// An identify message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifyMsg {
    /// "Who are you?": the stream's opening.
    Request,
    /// The Identify record, of this many bytes on the wire.
    Response(u32),
}

/// (protocol, kind) of identify's accounting categories, indexed by [`Wire::kind`].
pub const IDENTIFY_CATEGORIES: &[(&str, &str)] =
    &[("identify", "request"), ("identify", "response")];

impl Wire for IdentifyMsg {
    fn kind(&self) -> u16 {
        match self {
            IdentifyMsg::Request => 0,
            IdentifyMsg::Response(_) => 1,
        }
    }
    fn wire_bytes(&self) -> u32 {
        match self {
            IdentifyMsg::Request => STREAM_OPEN_BYTES,
            IdentifyMsg::Response(b) => *b,
        }
    }
}

/// What identify counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifyEvent {
    /// A peer's record arrived.
    Identified,
}

/// Identify's run-wide sink.
#[derive(Clone, Debug, Default)]
pub struct IdentifyMetrics {
    /// Records received.
    pub identified: u64,
}

/// One node's identify: it keeps no state but the run's shared data.
#[derive(Debug)]
pub struct Identify {
    sh: Rc<IdentifyShared>,
}

impl Protocol for Identify {
    type Msg = IdentifyMsg;
    type Timer = ();
    type Event = IdentifyEvent;
    type Metrics = IdentifyMetrics;
    const CATEGORIES: &'static [(&'static str, &'static str)] = IDENTIFY_CATEGORIES;

    fn on_start(&mut self, _restart: bool, _ctx: &mut impl Io<Self>) {}
    /// Both sides ask and both answer, in the connection's set-up: this side's request and its
    /// answer to the peer's request go out now, and the peer's record (sent by the peer's own
    /// set-up) counts as received.
    fn on_connection_up(&mut self, peer: NodeId, _outbound: bool, ctx: &mut impl Io<Self>) {
        ctx.send_setup(peer, IdentifyMsg::Request);
        ctx.send_setup(peer, IdentifyMsg::Response(self.sh.response_bytes));
        ctx.report(IdentifyEvent::Identified);
    }
    /// Set-up writes are never delivered; a message that arrives anyway is answered as the
    /// exchange would answer it.
    fn on_message(&mut self, from: NodeId, msg: IdentifyMsg, ctx: &mut impl Io<Self>) {
        match msg {
            IdentifyMsg::Request => {
                ctx.send(from, IdentifyMsg::Response(self.sh.response_bytes));
            }
            IdentifyMsg::Response(_) => ctx.report(IdentifyEvent::Identified),
        }
    }
    fn on_timer(&mut self, _timer: (), _ctx: &mut impl Io<Self>) {}
    fn record(m: &mut IdentifyMetrics, _node: NodeId, _now: SimTime, e: IdentifyEvent) {
        match e {
            IdentifyEvent::Identified => m.identified += 1,
        }
    }
}

impl Build for Identify {
    type Shared = IdentifyShared;
    /// Every node of a run with identify runs it.
    fn build(sh: &Rc<IdentifyShared>, _node: NodeId, _topics: &[u16]) -> Option<Self> {
        Some(Identify { sh: sh.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Recorder;

    #[test]
    fn record_size_by_hand() {
        // protocolVersion 2 + 10 = 12; agentVersion "nwaku" 2 + 5 = 7; publicKey 2 + 37 = 39;
        // one listen and the observed address 2 x (2 + 8) = 20; protocols 2 + len each:
        // 21, 14, 14, 14, 24, 16, 14 -> 117 + 14 = 131. Body 12 + 7 + 39 + 20 + 131 = 209,
        // which takes a 2-byte varint prefix: 211.
        assert_eq!(IdentifyConfig::default().record_bytes(), 211);
        // A 100-byte signed record adds 2 + 100 = 102: body 311, prefix 2 -> 313.
        let c = IdentifyConfig {
            signed_peer_record_bytes: 100,
            ..IdentifyConfig::default()
        };
        assert_eq!(c.record_bytes(), 313);
    }

    #[test]
    fn each_side_asks_and_answers() {
        let sh = Rc::new(IdentifyShared::new(IdentifyConfig::default()));
        let mut p = Identify::build(&sh, NodeId(0), &[]).unwrap();
        let mut ctx: Recorder<Identify> = Recorder::new(NodeId(0), SimTime::ZERO, "identify");
        p.on_connection_up(NodeId(3), true, &mut ctx);
        // The set-up carries this side's request and its answer to the peer's request; no
        // message is sent for delivery.
        assert_eq!(
            ctx.setup,
            vec![
                (NodeId(3), IdentifyMsg::Request),
                (NodeId(3), IdentifyMsg::Response(36 + 211)),
            ]
        );
        assert!(ctx.sent.is_empty());
        assert_eq!(ctx.events, vec![IdentifyEvent::Identified]);
        assert_eq!(ctx.setup[1].1.wire_bytes(), 247);
    }
}
