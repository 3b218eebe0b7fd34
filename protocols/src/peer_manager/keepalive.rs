//! Keepalive: libp2p ping (`/ipfs/ping/1.0.0`) over a new stream, as nwaku's health monitor
//! runs it (`keepAliveLoop`): every 10 s it pings the relay mesh peers plus random outbound
//! peers, up to 10 peers in all (every mesh peer is pinged, even beyond 10), and every 2 minutes
//! (every 12th round) it pings every outbound peer instead.
//!
//! A ping opens a stream (multistream-select: `/multistream/1.0.0` and `/ipfs/ping/1.0.0`, both
//! echoed by the listener), sends 32 random bytes and reads them back: 70 bytes each way
//! ([`PING_WIRE_BYTES`]); transport framing is added by the node. nwaku's reaction to failed
//! pings (closing every connection after three rounds in which all pings failed) is not
//! modelled: connections in the simulator do not die silently.

use rand::seq::SliceRandom;
use sim_core::{NodeId, SimDuration, SimRng};

use super::{PeerManager, PmCounter, PmMsg, PmTimer};
use crate::proto::Io;

use crate::peer_manager::metadata::{MULTISTREAM_HEADER_BYTES, protocol_line_bytes};

/// The ping protocol id.
pub const PING_CODEC: &str = "/ipfs/ping/1.0.0";
/// Random bytes a ping carries (and its reply echoes).
pub const PING_PAYLOAD_BYTES: u32 = 32;
/// Bytes of a ping or its reply: stream negotiation (20 + 18) plus 32 bytes.
pub const PING_WIRE_BYTES: u32 =
    MULTISTREAM_HEADER_BYTES + protocol_line_bytes(PING_CODEC) + PING_PAYLOAD_BYTES;

/// A ping or its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingMsg {
    /// The 32 bytes sent.
    Request,
    /// The 32 bytes echoed.
    Response,
}

impl PingMsg {
    /// Bytes on the wire.
    pub const fn wire(self) -> u32 {
        PING_WIRE_BYTES
    }
}

/// The peers a regular round pings (nwaku `selectRandomPeersForKeepalive`): every mesh peer,
/// then outbound peers not in the mesh in a random order until `max` peers in all.
/// `mesh` and `outbound` are ascending.
pub fn select(mesh: &[NodeId], outbound: &[NodeId], max: usize, rng: &mut SimRng) -> Vec<NodeId> {
    let mut picked: Vec<NodeId> = mesh.to_vec();
    let mut others: Vec<NodeId> = outbound
        .iter()
        .copied()
        .filter(|p| mesh.binary_search(p).is_err())
        .collect();
    others.shuffle(rng);
    let room = max.saturating_sub(picked.len());
    picked.extend(others.into_iter().take(room));
    picked
}

impl PeerManager {
    /// A keepalive round: the mesh peers (a sample, `keepalive_peers` of them) on most rounds,
    /// every outbound peer every `keepalive_all_s`.
    pub(super) fn keepalive(&mut self, mesh: &[NodeId], ctx: &mut impl Io<PeerManager>) {
        let cfg = &self.sh.cfg;
        let outbound: Vec<NodeId> = self
            .conns
            .iter()
            .filter(|c| c.outbound)
            .map(|c| c.peer)
            .collect();
        let targets = if self.keepalive_countdown > 0 {
            self.keepalive_countdown -= 1;
            let mesh: Vec<NodeId> = mesh
                .iter()
                .copied()
                .filter(|&p| self.is_connected(p))
                .collect();
            select(&mesh, &outbound, cfg.keepalive_peers as usize, ctx.rng())
        } else {
            self.keepalive_countdown = self.keepalive_ratio().saturating_sub(1);
            outbound
        };
        for p in targets {
            ctx.report(PmCounter::Pings);
            ctx.send(p, PmMsg::Ping(PingMsg::Request));
        }
        ctx.set_timer(
            SimDuration::from_secs(cfg.keepalive_interval_s),
            PmTimer::Keepalive,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::rng;

    #[test]
    fn ping_size_by_hand() {
        // "/multistream/1.0.0\n" 19 + 1 = 20; "/ipfs/ping/1.0.0\n" 17 + 1 = 18; + 32 = 70.
        assert_eq!(PING_WIRE_BYTES, 70);
    }

    #[test]
    fn mesh_first_then_random_outbound_up_to_the_limit() {
        let mut r = rng::stream(1, 0, "test");
        let mesh: Vec<NodeId> = [2, 4, 6].map(NodeId).to_vec();
        let out: Vec<NodeId> = (1..=20).map(NodeId).collect();
        let s = select(&mesh, &out, 10, &mut r);
        assert_eq!(s.len(), 10);
        assert_eq!(&s[..3], &mesh[..]);
        let mut rest = s[3..].to_vec();
        rest.sort();
        rest.dedup();
        assert_eq!(rest.len(), 7, "no repeats");
        assert!(rest.iter().all(|p| !mesh.contains(p)));
        // More mesh peers than the limit: all of them, nothing else.
        let big: Vec<NodeId> = (1..=12).map(NodeId).collect();
        assert_eq!(select(&big, &out, 10, &mut r), big);
    }
}
