//! Gossip emission at the heartbeat (nim-libp2p `makeGossipControlMessages`): choosing the
//! peers and sending them IHAVE batches.

use crate::proto::Io;
use crate::relay::Relay;
use crate::relay::message::{MsgId, TopicIdx};
use crate::relay::rpc::{Ihave, IhaveBatch, IhaveEntry, Rpc, ihave_rpc_bytes};
use rand::seq::SliceRandom;

impl Relay {
    /// IHAVE emission (nim-libp2p `makeGossipControlMessages`): for every topic with a mesh
    /// or fanout, the ids of the gossip window go to max(D_lazy, gossip_factor x eligible)
    /// non-mesh peers; one IHAVE RPC per peer.
    pub(super) fn emit_gossip(&mut self, ctx: &mut impl Io<Relay>) {
        if self.mcache.window_is_empty() || self.peers.is_empty() {
            return;
        }
        let sh = self.sh.clone();
        let cfg = &sh.cfg;
        let hb = self.hb;
        let mut g = std::mem::take(&mut self.gossip);
        g.masks.clear();
        g.masks.resize(self.peers.len(), 0);
        g.entries.clear();
        g.ids.clear();
        for k in 0..self.topics.len() {
            let t = &self.topics[k];
            if !(t.subscribed || t.fanout_until.is_some()) || t.peers.is_empty() {
                continue;
            }
            let mut start = g.ids.len();
            self.mcache.window(t.topic, &mut g.ids);
            if g.ids.len() == start {
                continue;
            }
            let max = cfg.max_ihave_ids as usize;
            if g.ids.len() - start > max {
                g.ids[start..].shuffle(ctx.rng());
                g.ids.truncate(start + max);
            }
            g.chosen.clear();
            g.chosen.extend(t.peers.iter().copied().filter(|p| {
                !t.mesh.contains(p)
                    && !t.fanout.contains(p)
                    && self.score_at_least(*p, cfg.scoring.gossip_threshold)
            }));
            let factor = (cfg.gossip_factor * g.chosen.len() as f64) as usize;
            let target = (cfg.d_lazy as usize).max(factor);
            if target < g.chosen.len() {
                g.chosen.shuffle(ctx.rng());
                g.chosen.truncate(target);
            }
            if g.chosen.is_empty() {
                g.ids.truncate(start);
                continue;
            }
            if g.entries.len() == IhaveBatch::MAX_ENTRIES {
                self.send_ihaves(&g.entries, &g.ids, &mut g.masks, ctx);
                g.entries.clear();
                g.ids.drain(..start);
                start = 0;
            }
            let e = g.entries.len();
            for &p in &g.chosen {
                let i = self.peer_pos(p).expect("topic peers are connected");
                g.masks[i] |= 1u32 << e;
            }
            self.sent_ihaves.advertise(hb, &g.ids[start..], &g.chosen);
            let topic = self.topics[k].topic;
            g.entries
                .push((topic, self.topic_len(topic), start, g.ids.len()));
        }
        if !g.entries.is_empty() {
            self.send_ihaves(&g.entries, &g.ids, &mut g.masks, ctx);
        }
        self.gossip = g;
    }

    /// Sends one IHAVE RPC to every peer with a bit in `masks` (clearing them): the entries
    /// (topic, name length, range of `ids`) whose bits it has.
    pub(super) fn send_ihaves(
        &mut self,
        entries: &[(TopicIdx, u8, usize, usize)],
        ids: &[MsgId],
        masks: &mut [u32],
        ctx: &mut impl Io<Relay>,
    ) {
        let batch = IhaveBatch::new(entries.iter().map(|&(topic, topic_len, a, b)| IhaveEntry {
            topic,
            topic_len,
            ids: &ids[a..b],
        }));
        // The targets' link records, all at once (each send reads its target's); their ids
        // from the index, not the (cold) peer records.
        for (i, &m) in masks.iter().enumerate() {
            if m != 0 {
                ctx.prefetch_send(self.peer_ids[i]);
            }
        }
        for (i, m) in masks.iter_mut().enumerate() {
            let mask = std::mem::take(m);
            if mask == 0 {
                continue;
            }
            let wire = ihave_rpc_bytes(
                entries
                    .iter()
                    .enumerate()
                    .filter(|(e, _)| mask & (1u32 << e) != 0)
                    .map(|(_, en)| (en.1, (en.3 - en.2) as u32)),
            );
            let to = self.peers[i].id;
            let rpc = Rpc::Ihave(Ihave {
                batch: batch.clone(),
                mask,
                wire,
            });
            self.send(to, rpc, true, ctx);
        }
    }
}
