//! The application on top of the protocols: the workload's publishers and the scripted
//! commands of a scenario. It publishes through relay like a Waku app calling
//! `relay.publish`; nothing here is a protocol.

use sim_core::Ctx;

use crate::node::{NodeCommand, TIMESTAMP_EPOCH_NS, WakuNode, WakuTimer};
use crate::relay::PublishOutcome;
use crate::relay::message::{TopicIdx, WakuMessageShape, WireMsg, derive_msg_id};
use crate::relay::protected::Signing;
use crate::store::MsgInfo;
use crate::store::hash::{MsgKey, message_hash};

impl WakuNode {
    /// Sets the first publish timer of each of the node's workload streams.
    pub(crate) fn start_workload(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        let sh = self.sh.clone();
        if let (Some(r), Some(streams)) = (
            &mut self.workload_rng,
            sh.workload.by_node.get(self.id.index()),
        ) {
            for &s in streams {
                let st = &sh.workload.streams[s as usize];
                let t0 = st.start.max(now);
                let at = t0 + st.first_delay(r);
                if at <= st.stop {
                    ctx.set_timer_at(at, WakuTimer::Publish(s));
                }
            }
        }
    }

    pub(crate) fn publish_stream(&mut self, s: u16, ctx: &mut Ctx<'_, Self>) {
        let sh = self.sh.clone();
        let st = &sh.workload.streams[s as usize];
        let now = ctx.now();
        if now > st.stop {
            return;
        }
        let r = self
            .workload_rng
            .as_mut()
            .expect("publishers have a stream");
        let payload = st.payload_bytes(r);
        let gap = st.next_gap(r);
        let c = &st.config;
        let topic = TopicIdx(c.topic);
        // On a protected shard the signature fills `meta` (64 bytes).
        let (sig_bytes, signed) = c.signing.apply(sh.relay().protected.contains(topic));
        if sh.protocols.rln.is_some() {
            // With RLN every message carries a proof, made by RLN's publisher side first.
            let shape = WakuMessageShape {
                payload_bytes: payload,
                content_topic_bytes: c.content_topic.len() as u32,
                meta_bytes: if sig_bytes > 0 {
                    sig_bytes
                } else {
                    c.meta_bytes
                },
                rln_proof: true,
                ephemeral: c.ephemeral,
            };
            let ts = TIMESTAMP_EPOCH_NS + now.as_nanos();
            let id = derive_msg_id(self.id.0, self.published, ts, &shape, &c.content_topic);
            self.published += 1;
            let req = crate::rln::Request {
                created: now,
                topic,
                data_bytes: shape.encoded_len(),
                id,
                spam: c.spam,
                stream: s,
                meta_bytes: shape.meta_bytes,
            };
            self.rln_request(req, ctx);
            if now + gap <= st.stop {
                ctx.set_timer(gap, WakuTimer::Publish(s));
            }
            return;
        }
        self.publish_one(
            topic,
            WakuMessageShape {
                payload_bytes: payload,
                content_topic_bytes: c.content_topic.len() as u32,
                meta_bytes: if sig_bytes > 0 {
                    sig_bytes
                } else {
                    c.meta_bytes
                },
                rln_proof: c.rln_proof,
                ephemeral: c.ephemeral,
            },
            &c.content_topic,
            c.invalid,
            signed,
            ctx,
        );
        if now + gap <= st.stop {
            ctx.set_timer(gap, WakuTimer::Publish(s));
        }
    }

    /// Builds, registers and publishes one message.
    fn publish_one(
        &mut self,
        topic: TopicIdx,
        shape: WakuMessageShape,
        content_topic: &str,
        invalid: bool,
        signed: bool,
        ctx: &mut Ctx<'_, Self>,
    ) -> PublishOutcome {
        let now = ctx.now();
        let data = shape.encoded_len();
        let ts = TIMESTAMP_EPOCH_NS + now.as_nanos();
        let id = derive_msg_id(self.id.0, self.published, ts, &shape, content_topic);
        self.published += 1;
        let seq = ctx
            .observer()
            .relay
            .register(self.id, now, topic, data, invalid);
        let msg = WireMsg {
            id,
            seq,
            data_bytes: data,
            topic,
            hops: 0,
            topic_len: self.sh.relay().topics.name_len(topic),
            flags: if invalid { WireMsg::INVALID } else { 0 }
                | if signed { WireMsg::SIGNED } else { 0 },
        };
        let outcome = self.with_relay(ctx, |r, io| r.publish(msg, io));
        let outcome = outcome.unwrap_or(PublishOutcome::NoPeers);
        ctx.observer().relay.published(seq, outcome);
        self.note_store_fields(
            &msg,
            ts,
            content_topic,
            shape.meta_bytes,
            shape.ephemeral,
            ctx,
        );
        outcome
    }

    /// With a store in the run: the store fields of a message this node published (once per
    /// message, see `crate::store`), so that store nodes archive it when relay delivers it,
    /// and this node's publisher checks track it. Both publish paths (plain and through RLN)
    /// call it.
    pub(crate) fn note_store_fields(
        &mut self,
        msg: &WireMsg,
        ts: u64,
        content_topic: &str,
        meta_bytes: u32,
        ephemeral: bool,
        ctx: &mut Ctx<'_, Self>,
    ) {
        let Some(store) = self.sh.protocols.store.clone() else {
            return;
        };
        let topic_name = self.sh.relay().topics.name(msg.topic);
        let meta = vec![0u8; meta_bytes as usize];
        let hash = message_hash(topic_name, &msg.id.to_be_bytes(), content_topic, &meta, ts);
        let info = MsgInfo {
            key: MsgKey { ts, hash },
            content: store.content_index(content_topic),
            ephemeral,
            known: true,
        };
        ctx.observer().store.note(msg.seq, info);
        self.with_store(ctx, |s, io| s.on_published(msg, info, io));
    }

    pub(crate) fn command(&mut self, c: NodeCommand, ctx: &mut Ctx<'_, Self>) {
        match c {
            NodeCommand::Subscribe(t) => {
                self.with_relay(ctx, |r, io| r.subscribe(t, io));
                self.announce_shards(ctx);
            }
            NodeCommand::Unsubscribe(t) => {
                self.with_relay(ctx, |r, io| r.unsubscribe(t, io));
                self.announce_shards(ctx);
            }
            NodeCommand::PruneAll(b) => {
                self.with_relay(ctx, |r, io| r.prune_all(b, io));
            }
            NodeCommand::Publish {
                topic,
                payload_bytes,
                invalid,
            } => {
                let ct = "/wakusim/1/default/proto";
                let (sig_bytes, signed) =
                    Signing::Auto.apply(self.sh.relay().protected.contains(topic));
                let shape = WakuMessageShape {
                    payload_bytes,
                    content_topic_bytes: ct.len() as u32,
                    meta_bytes: sig_bytes,
                    rln_proof: false,
                    ephemeral: false,
                };
                self.publish_one(topic, shape, ct, invalid, signed, ctx);
            }
        }
    }
}
