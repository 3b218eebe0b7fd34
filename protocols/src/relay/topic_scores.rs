//! A peer's per-topic scoring counters ([`TopicScores`]): compact storage for
//! [`PeerScore`](crate::relay::peer_score::PeerScore), which reads them as a list.

use std::ops::Index;

use crate::relay::peer_score::TopicScore;

/// A peer's counters per topic, in the order they were created (never removed). A node
/// scores the topics it relays, most often one, so the first is kept inline and the others
/// behind one pointer: the scoring record is one 64-byte allocation instead of a 48-byte
/// record and a list of its own.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TopicScores {
    first: Option<TopicScore>,
    /// Boxed: one pointer in the record rather than a list header (24 bytes) that most peers
    /// never use.
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<TopicScore>>>,
}

impl TopicScores {
    /// The counters, in order.
    pub fn iter(&self) -> impl Iterator<Item = &TopicScore> {
        self.first
            .iter()
            .chain(self.more.iter().flat_map(|v| v.iter()))
    }

    /// The counters, in order, to update.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut TopicScore> {
        self.first
            .iter_mut()
            .chain(self.more.iter_mut().flat_map(|v| v.iter_mut()))
    }

    /// Adds `s` last and returns it.
    pub fn push(&mut self, s: TopicScore) -> &mut TopicScore {
        if self.first.is_none() {
            return self.first.insert(s);
        }
        let v = self.more.get_or_insert_default();
        sim_core::memory::push_tight(v, s);
        v.last_mut().expect("just pushed")
    }

    /// How many topics have counters.
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.as_ref().map_or(0, |v| v.len())
    }

    /// Whether no topic has counters.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Bytes held on the heap (the counters beyond the first).
    pub fn heap_bytes(&self) -> u64 {
        self.more.as_ref().map_or(0, |v| {
            std::mem::size_of::<Vec<TopicScore>>() as u64 + sim_core::memory::vec_bytes(v)
        })
    }
}

impl Index<usize> for TopicScores {
    type Output = TopicScore;
    fn index(&self, i: usize) -> &TopicScore {
        match (i, &self.first) {
            (0, Some(s)) => s,
            _ => &self.more.as_ref().expect("index in bounds")[i - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::message::TopicIdx;

    #[test]
    fn counters_keep_their_order_and_the_first_is_inline() {
        let ts = |t: u16, x: f64| TopicScore {
            topic: TopicIdx(t),
            in_mesh: false,
            graft_time: sim_core::SimTime::ZERO,
            first_deliveries: x,
            invalid_deliveries: 0.0,
        };
        let mut s = TopicScores::default();
        assert!(s.is_empty() && s.heap_bytes() == 0);
        s.push(ts(3, 1.0));
        assert_eq!(s.heap_bytes(), 0, "one topic: inline");
        s.push(ts(1, 2.0)).first_deliveries += 1.0;
        s.push(ts(2, 4.0));
        assert_eq!(s.len(), 3);
        let order: Vec<(u16, f64)> = s.iter().map(|t| (t.topic.0, t.first_deliveries)).collect();
        assert_eq!(order, [(3, 1.0), (1, 3.0), (2, 4.0)]);
        for t in s.iter_mut() {
            t.first_deliveries = 0.0;
        }
        assert_eq!(s[0].topic, TopicIdx(3));
        assert_eq!(s[2].topic, TopicIdx(2));
        assert!(s.iter().all(|t| t.first_deliveries == 0.0));
        // Two more, grown one slot at a time: a 24-byte list header and 2 x 32 bytes.
        assert_eq!(s.heap_bytes(), 24 + 2 * 32);
        assert_eq!(std::mem::size_of::<TopicScores>(), 40);
    }
}
