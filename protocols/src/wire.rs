//! What every protocol's messages share on the wire: the transport framing of a write.
//!
//! Every message is written to a yamux stream over a noise session: yamux adds a 12-byte header
//! per frame (frames of at most 256,000 bytes, the initial window), noise adds 2 + 16 bytes per
//! chunk of at most 65,487 plaintext bytes, and each yamux frame is one noise write. The node
//! counts framing under its own category, `transport/framing` ([`TRANSPORT_CATEGORIES`]).
//! With the TCP model on (`[network.tcp]`), the engine adds the TCP/IP headers of every
//! segment and counts them under `transport/tcp_headers`. Yamux window updates and TCP
//! acknowledgements are not counted.

use std::rc::Rc;

use sim_core::{NodeId, SimTime};

use crate::node::registry::Build;
use crate::proto::{Io, Protocol, Wire};

/// (protocol, kind) of the transport's accounting category.
pub const TRANSPORT_CATEGORIES: &[(&str, &str)] =
    &[("transport", "framing"), ("transport", "tcp_headers")];

/// Largest yamux frame payload (the initial stream window), in bytes.
pub const YAMUX_MAX_FRAME: u32 = 256_000;
/// Yamux frame header bytes.
pub const YAMUX_HEADER: u32 = 12;
/// Largest plaintext of one noise transport message, in bytes.
pub const NOISE_MAX_PLAINTEXT: u32 = 65_487;
/// Noise bytes added per transport message: 2-byte length + 16-byte ChaChaPoly tag.
pub const NOISE_OVERHEAD: u32 = 18;

/// Transport framing of a write of `rpc_bytes`: yamux frames of at most 256,000 bytes, each
/// written to noise as one write split into chunks of at most 65,487 bytes.
#[inline]
pub const fn framing_bytes(rpc_bytes: u32) -> u32 {
    // The usual case, one frame in one noise chunk (the same value as below).
    if rpc_bytes <= NOISE_MAX_PLAINTEXT - YAMUX_HEADER {
        return YAMUX_HEADER + NOISE_OVERHEAD;
    }
    let full = rpc_bytes / YAMUX_MAX_FRAME;
    let rest = rpc_bytes % YAMUX_MAX_FRAME;
    let per_full = YAMUX_HEADER
        + NOISE_OVERHEAD * (YAMUX_MAX_FRAME + YAMUX_HEADER).div_ceil(NOISE_MAX_PLAINTEXT);
    let mut n = full * per_full;
    if rest > 0 || full == 0 {
        n += YAMUX_HEADER + NOISE_OVERHEAD * (rest + YAMUX_HEADER).div_ceil(NOISE_MAX_PLAINTEXT);
    }
    n
}

/// The transport layer as an entry of the node's list: it sends no messages of its own and
/// keeps no state; it only declares the framing category, which every message's framing is
/// counted under, and the TCP/IP header category (the engine counts headers there).
#[derive(Debug)]
pub struct Transport;

/// The transport's messages: none.
#[derive(Clone, Debug, PartialEq)]
pub enum NoMsg {}

impl Wire for NoMsg {
    fn kind(&self) -> u16 {
        match *self {}
    }
    fn wire_bytes(&self) -> u32 {
        match *self {}
    }
}

impl Protocol for Transport {
    type Msg = NoMsg;
    type Timer = NoMsg;
    type Event = NoMsg;
    type Metrics = ();
    const CATEGORIES: &'static [(&'static str, &'static str)] = TRANSPORT_CATEGORIES;
    fn on_start(&mut self, _: bool, _: &mut impl Io<Self>) {}
    fn on_message(&mut self, _: NodeId, msg: NoMsg, _: &mut impl Io<Self>) {
        match msg {}
    }
    fn on_timer(&mut self, t: NoMsg, _: &mut impl Io<Self>) {
        match t {}
    }
    fn record(_: &mut (), _: NodeId, _: SimTime, e: NoMsg) {
        match e {}
    }
}

impl Build for Transport {
    type Shared = ();
    fn build(_: &Rc<()>, _: NodeId, _: &[u16]) -> Option<Self> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_by_hand() {
        // Small RPC: one yamux frame (12) + one noise chunk (18).
        assert_eq!(framing_bytes(55), 30);
        // 150 KiB publish (153,627 B): one frame; 153,639 B to noise = 3 chunks -> 12 + 54.
        assert_eq!(framing_bytes(153_627), 66);
        // 300,000 B: frame 1 of 256,000 (+12 -> 256,012 = 4 chunks: 12 + 72 = 84) and frame 2
        // of 44,000 (+12 = 1 chunk: 30) -> 114.
        assert_eq!(framing_bytes(300_000), 114);
        assert_eq!(framing_bytes(0), 30);
        // Either side of the one-chunk fast path: 65,475 + 12 = 65,487 fits one noise chunk
        // (30); one byte more needs two (12 + 36 = 48).
        assert_eq!(framing_bytes(65_475), 30);
        assert_eq!(framing_bytes(65_476), 48);
    }
}
