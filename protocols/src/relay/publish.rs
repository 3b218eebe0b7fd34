//! Publishing an own message (nim-libp2p `GossipSub.publish`, `makePeersForPublishDefault`).

use rand::seq::SliceRandom;
use sim_core::NodeId;

use crate::proto::Io;
use crate::relay::config::RelayConfig;
use crate::relay::message::WireMsg;
use crate::relay::rpc::Rpc;
use crate::relay::{PublishOutcome, Relay, RelayEvent};

impl Relay {
    /// The flood-publish cap for a message of `data_bytes` (nim-libp2p
    /// `makePeersForPublishDefault`): `max(heartbeat_ms / max(len / (bps / 8 / 1000), 1),
    /// D_low)`, integer divisions; unlimited when the bandwidth estimate is 0.
    pub fn flood_cap(cfg: &RelayConfig, data_bytes: u32) -> usize {
        if cfg.flood_publish_bandwidth_bps == 0 {
            return usize::MAX;
        }
        let per_ms = (cfg.flood_publish_bandwidth_bps / 8 / 1000).max(1);
        let ms = (data_bytes as u64 / per_ms).max(1);
        ((cfg.heartbeat_ms / ms) as usize).max(cfg.d_low as usize)
    }

    /// Publishes an own message (nim-libp2p `GossipSub.publish`).
    pub fn publish(&mut self, msg: WireMsg, ctx: &mut impl Io<Relay>) -> PublishOutcome {
        self.publish_checked(msg, true, ctx)
    }

    /// Publishes an own message again although the seen cache has it (p2p reliability's
    /// republish when `republish_ignores_seen`; nim-libp2p's `publish` would drop it).
    pub fn republish(&mut self, msg: WireMsg, ctx: &mut impl Io<Relay>) -> PublishOutcome {
        self.publish_checked(msg, false, ctx)
    }

    fn publish_checked(
        &mut self,
        msg: WireMsg,
        check_seen: bool,
        ctx: &mut impl Io<Relay>,
    ) -> PublishOutcome {
        let sh = self.sh.clone();
        let cfg = &sh.cfg;
        if msg.data_bytes > cfg.max_message_bytes {
            return PublishOutcome::TooLarge;
        }
        let now = ctx.now();
        let k = self.topic_entry(msg.topic);
        let mut peers: Vec<NodeId> = Vec::new();
        if self.topics[k].subscribed {
            peers.extend_from_slice(&self.topics[k].mesh);
        }
        if cfg.flood_publish {
            let cap = Self::flood_cap(cfg, msg.data_bytes);
            for &p in &self.topics[k].peers {
                if peers.len() >= cap {
                    break;
                }
                if self.score_at_least(p, cfg.scoring.publish_threshold) && !peers.contains(&p) {
                    peers.push(p);
                }
            }
        } else if peers.len() < cfg.d_low as usize {
            self.replenish_fanout(k);
            let mut fan = self.topics[k].fanout.clone();
            fan.shuffle(ctx.rng());
            for p in fan {
                if !peers.contains(&p) {
                    peers.push(p);
                }
                if peers.len() > self.sh.cfg.d as usize {
                    break;
                }
            }
            self.topics[k].fanout_until = Some(now + self.sh.fanout_ttl);
        }
        if peers.is_empty() {
            return PublishOutcome::NoPeers;
        }
        self.seen.expire(now, |e| {
            ctx.report(RelayEvent::SeenExpired {
                seq: e.seq,
                copies: e.copies,
            })
        });
        if self.seen.receive(msg.id, msg.seq, now) && check_seen {
            return PublishOutcome::Duplicate;
        }
        self.mcache.put(msg);
        if self.sh.cfg.idontwant
            && self.sh.cfg.idontwant_on_publish
            && msg.data_bytes > self.sh.cfg.idontwant_threshold_bytes
        {
            for &p in &peers {
                self.send(p, Rpc::Idontwant(msg.id), true, ctx);
            }
        }
        let out = msg.next_hop();
        for &p in &peers {
            self.send(p, Rpc::Publish(out), true, ctx);
        }
        PublishOutcome::Published {
            peers: peers.len() as u32,
        }
    }
}
