//! A rendezvous point's registrations, as nim-libp2p keeps them (aa8ce46,
//! `protocols/rendezvous/rendezvous.nim`): an append-only log of registrations with a moving
//! start (`OffsettedSeq`), the log indices of each namespace, and cookies that are log
//! offsets.
//!
//! - REGISTER checks the TTL (E_INVALID_TTL), the peer's cap (E_NOT_AUTHORIZED; it counts the
//!   peer's entries still in the log, expired ones included until flushed) and the point's
//!   total cap (E_UNAVAILABLE; a model bound), marks the peer's earlier registrations in the
//!   namespace expired and appends a new entry (a re-registration gets a new index, so a
//!   client's cookie returns it again).
//! - UNREGISTER marks the peer's registrations in the namespace expired.
//! - DISCOVER returns, in log order from the cookie's offset (the log start without one, or
//!   when the cookie is for another namespace), up to `min(limit, max_discover_limit)`
//!   unexpired registrations, and the cookie `{last index + 1, namespace}`. A namespace never
//!   registered is E_INVALID_NAMESPACE; one whose entries were all flushed answers an empty
//!   list with an empty cookie. Each registration is returned once per cookie chain.
//! - Every `gc_interval_s` the expired prefix of the log is flushed.
//!
//! Bounds: the log holds at most `max_registrations` entries; the namespace table one key per
//! namespace ever registered (clusters x shards).

use std::collections::{BTreeMap, VecDeque};

use sim_core::{NodeId, SimDuration, SimTime};

use super::config::RendezvousConfig;
use super::wire::{Cookie, Ns, Record, Status};

#[derive(Clone, Copy, Debug)]
struct Entry {
    peer: NodeId,
    expires: SimTime,
}

/// The registrations of one point.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    /// Log index of `log[0]`.
    low: u64,
    log: VecDeque<Entry>,
    namespaces: BTreeMap<Ns, Vec<u64>>,
    per_peer: BTreeMap<NodeId, u32>,
}

/// An entry marked expired (nim-libp2p's `expiredDT`, a time in the past).
const EXPIRED: SimTime = SimTime::ZERO;

impl Registry {
    /// Registers `peer` under `ns` for `ttl_s` seconds at `now`: the granted TTL or the error.
    pub fn register(
        &mut self,
        cfg: &RendezvousConfig,
        peer: NodeId,
        ns: Ns,
        ttl_s: u64,
        now: SimTime,
    ) -> Result<u64, Status> {
        if ttl_s < cfg.min_ttl_s || ttl_s > cfg.max_ttl_s {
            return Err(Status::InvalidTtl);
        }
        if self.per_peer.get(&peer).copied().unwrap_or(0) >= cfg.max_registrations_per_peer {
            return Err(Status::NotAuthorized);
        }
        if self.log.len() >= cfg.max_registrations as usize {
            return Err(Status::Unavailable);
        }
        self.expire(peer, ns);
        let index = self.low + self.log.len() as u64;
        self.log.push_back(Entry {
            peer,
            expires: now + SimDuration::from_secs(ttl_s),
        });
        self.namespaces.entry(ns).or_default().push(index);
        *self.per_peer.entry(peer).or_insert(0) += 1;
        Ok(ttl_s)
    }

    /// Marks `peer`'s registrations under `ns` expired (UNREGISTER, and before a
    /// re-registration).
    pub fn expire(&mut self, peer: NodeId, ns: Ns) {
        if let Some(list) = self.namespaces.get(&ns) {
            for &i in list {
                let e = &mut self.log[(i - self.low) as usize];
                if e.peer == peer {
                    e.expires = EXPIRED;
                }
            }
        }
    }

    /// DISCOVER `ns` from `cookie` for up to `limit` records at `now`.
    pub fn discover(
        &self,
        cfg: &RendezvousConfig,
        ns: Ns,
        limit: u32,
        cookie: Option<Cookie>,
        now: SimTime,
    ) -> Result<(Vec<Record>, Cookie), Status> {
        let Some(list) = self.namespaces.get(&ns) else {
            return Err(Status::InvalidNamespace);
        };
        let mut limit = limit.min(cfg.max_discover_limit);
        let high1 = self.low + self.log.len() as u64;
        let mut offset = match cookie {
            None => self.low,
            Some(c) if c.ns.is_some_and(|n| n != ns) => self.low,
            Some(c) => c.offset.clamp(self.low, high1),
        };
        if list.is_empty() {
            return Ok((
                Vec::new(),
                Cookie {
                    offset: 0,
                    ns: None,
                },
            ));
        }
        let mut out = Vec::new();
        let mut next = offset;
        for &i in list {
            if limit == 0 {
                break;
            }
            let e = self.log[(i - self.low) as usize];
            if e.expires <= now || i < offset {
                continue;
            }
            limit -= 1;
            next = i + 1;
            out.push(Record {
                peer: e.peer,
                ttl_s: (e.expires.saturating_since(now).as_nanos() / 1_000_000_000) as u32,
            });
        }
        offset = next;
        Ok((
            out,
            Cookie {
                offset,
                ns: Some(ns),
            },
        ))
    }

    /// Flushes the expired prefix of the log (nim-libp2p `flushIfIt(it.expiration < now)`).
    pub fn gc(&mut self, now: SimTime) {
        let mut flushed = false;
        while let Some(e) = self.log.front() {
            if e.expires >= now {
                break;
            }
            let peer = e.peer;
            self.log.pop_front();
            self.low += 1;
            flushed = true;
            if let Some(c) = self.per_peer.get_mut(&peer) {
                *c -= 1;
                if *c == 0 {
                    self.per_peer.remove(&peer);
                }
            }
        }
        if flushed {
            let low = self.low;
            for list in self.namespaces.values_mut() {
                let cut = list.partition_point(|&i| i < low);
                list.drain(..cut);
            }
        }
    }

    /// Registrations not expired at `now`.
    pub fn live(&self, now: SimTime) -> u32 {
        self.log.iter().filter(|e| e.expires > now).count() as u32
    }

    /// Entries in the log (expired ones included until flushed).
    pub fn entries(&self) -> u32 {
        self.log.len() as u32
    }

    /// Everything is forgotten (the point restarts: nim-libp2p keeps registrations in memory).
    pub fn clear(&mut self) {
        self.low += self.log.len() as u64;
        self.log.clear();
        self.namespaces.clear();
        self.per_peer.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: Ns = Ns {
        cluster: 1,
        shard: 3,
    };

    fn at(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }

    #[test]
    fn ttl_bounds_and_expiry() {
        let cfg = RendezvousConfig::default(); // TTL 60 s ..= 72 h
        let mut r = Registry::default();
        assert_eq!(
            r.register(&cfg, NodeId(1), NS, 59, at(1)),
            Err(Status::InvalidTtl)
        );
        assert_eq!(
            r.register(&cfg, NodeId(1), NS, 259_201, at(1)),
            Err(Status::InvalidTtl)
        );
        assert_eq!(r.register(&cfg, NodeId(1), NS, 60, at(1)), Ok(60));
        assert_eq!(r.register(&cfg, NodeId(2), NS, 120, at(1)), Ok(120));
        // At 30 s both are live, with 31 and 91 s left.
        let (recs, _) = r.discover(&cfg, NS, 10, None, at(30)).unwrap();
        assert_eq!(
            recs,
            vec![
                Record {
                    peer: NodeId(1),
                    ttl_s: 31
                },
                Record {
                    peer: NodeId(2),
                    ttl_s: 91
                }
            ]
        );
        // Node 1's expires at 61 s: at 61 only node 2 is returned.
        let (recs, _) = r.discover(&cfg, NS, 10, None, at(61)).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].peer, NodeId(2));
        assert_eq!(r.live(at(61)), 1);
        // A flush at 62 s removes node 1's entry (the expired prefix); node 2's stays.
        r.gc(at(62));
        assert_eq!(r.entries(), 1);
        // At 121 nothing is live, and after a flush the namespace answers an empty list.
        r.gc(at(122));
        assert_eq!(r.entries(), 0);
        let (recs, c) = r.discover(&cfg, NS, 10, None, at(122)).unwrap();
        assert!(recs.is_empty());
        assert_eq!(c.ns, None);
        // A namespace never registered is an error.
        let other = Ns {
            cluster: 1,
            shard: 4,
        };
        assert_eq!(
            r.discover(&cfg, other, 10, None, at(122)),
            Err(Status::InvalidNamespace)
        );
    }

    #[test]
    fn per_peer_and_total_caps() {
        let cfg = RendezvousConfig {
            max_registrations_per_peer: 3,
            max_registrations: 5,
            ..RendezvousConfig::default()
        };
        let mut r = Registry::default();
        // Node 1 registers 3 namespaces: the 4th is refused.
        for s in 0..3 {
            let ns = Ns {
                cluster: 1,
                shard: s,
            };
            assert_eq!(r.register(&cfg, NodeId(1), ns, 60, at(0)), Ok(60));
        }
        let ns4 = Ns {
            cluster: 1,
            shard: 9,
        };
        assert_eq!(
            r.register(&cfg, NodeId(1), ns4, 60, at(0)),
            Err(Status::NotAuthorized)
        );
        // Re-registering shard 0 is refused too: the cap counts entries in the log, expired
        // ones included, as nim-libp2p's `countRegister` does.
        assert_eq!(
            r.register(&cfg, NodeId(1), NS, 60, at(0)),
            Err(Status::NotAuthorized)
        );
        // Node 2 fills the log to 5: node 3 gets E_UNAVAILABLE.
        assert_eq!(r.register(&cfg, NodeId(2), NS, 60, at(0)), Ok(60));
        assert_eq!(r.register(&cfg, NodeId(2), ns4, 60, at(0)), Ok(60));
        assert_eq!(
            r.register(&cfg, NodeId(3), NS, 60, at(0)),
            Err(Status::Unavailable)
        );
        // After expiry and a flush node 1 may register again.
        r.gc(at(61));
        assert_eq!(r.entries(), 0);
        assert_eq!(r.register(&cfg, NodeId(1), ns4, 60, at(61)), Ok(60));
    }

    #[test]
    fn cookie_pagination_returns_each_registration_once() {
        let cfg = RendezvousConfig::default();
        let mut r = Registry::default();
        // 10 peers register; pages of 3 with the cookie: 3 + 3 + 3 + 1, then nothing.
        for p in 0..10 {
            r.register(&cfg, NodeId(p), NS, 600, at(0)).unwrap();
        }
        let mut seen = Vec::new();
        let mut cookie = None;
        let mut pages = Vec::new();
        loop {
            let (recs, c) = r.discover(&cfg, NS, 3, cookie, at(1)).unwrap();
            pages.push(recs.len());
            if recs.is_empty() {
                break;
            }
            seen.extend(recs.iter().map(|x| x.peer.0));
            cookie = Some(c);
        }
        assert_eq!(pages, vec![3, 3, 3, 1, 0]);
        assert_eq!(seen, (0..10).collect::<Vec<u32>>());
        // Peer 4 re-registers: its old entry expires, the new one is after the cookie, so
        // the next page holds it (once), then nothing again.
        r.register(&cfg, NodeId(4), NS, 600, at(2)).unwrap();
        let (recs, c) = r.discover(&cfg, NS, 3, cookie, at(2)).unwrap();
        assert_eq!(recs.iter().map(|x| x.peer.0).collect::<Vec<_>>(), vec![4]);
        let (recs, _) = r.discover(&cfg, NS, 3, Some(c), at(2)).unwrap();
        assert!(recs.is_empty());
        // Without a cookie, all 10 once (peer 4 at its new place).
        let (recs, _) = r.discover(&cfg, NS, 100, None, at(2)).unwrap();
        assert_eq!(recs.len(), 10);
        // A cookie for another namespace starts from the beginning.
        let other = Cookie {
            offset: 7,
            ns: Some(Ns {
                cluster: 1,
                shard: 0,
            }),
        };
        let (recs, _) = r.discover(&cfg, NS, 100, Some(other), at(2)).unwrap();
        assert_eq!(recs.len(), 10);
        // UNREGISTER hides a peer.
        r.expire(NodeId(4), NS);
        let (recs, _) = r.discover(&cfg, NS, 100, None, at(2)).unwrap();
        assert_eq!(recs.len(), 9);
        // The limit is capped at max_discover_limit.
        let small = RendezvousConfig {
            max_discover_limit: 2,
            ..RendezvousConfig::default()
        };
        let (recs, _) = r.discover(&small, NS, 100, None, at(2)).unwrap();
        assert_eq!(recs.len(), 2);
    }
}
