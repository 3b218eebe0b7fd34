//! Relay sharding: clusters, static shards, content topics and autosharding
//! (51/WAKU2-RELAY-SHARDING, 64/WAKU2-NETWORK).
//!
//! - A **static shard** is a (cluster id, shard index) pair; its pubsub topic is
//!   `/waku/2/rs/<cluster>/<shard>` ([`RelayShard`]). A cluster has at most
//!   [`MAX_SHARDS_PER_CLUSTER`] shards; clusters 0 to 15 are reserved, 16 to 65535 are for
//!   applications; cluster 1 is The Waku Network (8 shards, autosharding).
//! - A **content topic** is `/{app}/{version}/{name}/{encoding}`, optionally with a generation
//!   prefix `/{generation}/{app}/...`; only generation 0 exists ([`ContentTopic::parse`],
//!   typed [`ContentTopicError`]s).
//! - **Autosharding** maps a content topic to a shard of the cluster: the big-endian `u64` of
//!   bytes 24..31 of `sha256(app ++ version)`, modulo the number of shards ([`autoshard`]).
//!   Topics of one application version always land on the same shard.

pub mod health;
pub mod subscriptions;

use sha2::{Digest, Sha256};

/// Shards a cluster can have under static sharding.
pub const MAX_SHARDS_PER_CLUSTER: u32 = 1024;
/// The Waku Network's cluster id.
pub const TWN_CLUSTER: u16 = 1;
/// Shards of The Waku Network (autosharding over them).
pub const TWN_SHARDS: u32 = 8;

/// A static shard: a cluster and a shard index in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelayShard {
    /// The cluster id.
    pub cluster: u16,
    /// The shard index, below [`MAX_SHARDS_PER_CLUSTER`].
    pub shard: u16,
}

impl RelayShard {
    /// The shard's pubsub topic, `/waku/2/rs/<cluster>/<shard>`.
    pub fn pubsub_topic(self) -> String {
        format!("/waku/2/rs/{}/{}", self.cluster, self.shard)
    }

    /// Parses a static-sharding pubsub topic `/waku/2/rs/<cluster>/<shard>`.
    pub fn parse(topic: &str) -> Result<RelayShard, ShardError> {
        let rest = topic
            .strip_prefix("/waku/2/rs/")
            .ok_or_else(|| ShardError::NotStaticSharding(topic.to_owned()))?;
        let (c, s) = rest
            .split_once('/')
            .ok_or_else(|| ShardError::NotStaticSharding(topic.to_owned()))?;
        let cluster: u16 = c
            .parse()
            .map_err(|_| ShardError::BadNumber("cluster", c.to_owned()))?;
        let shard: u32 = s
            .parse()
            .map_err(|_| ShardError::BadNumber("shard", s.to_owned()))?;
        if shard >= MAX_SHARDS_PER_CLUSTER {
            return Err(ShardError::ShardOutOfRange(shard));
        }
        Ok(RelayShard {
            cluster,
            shard: shard as u16,
        })
    }
}

impl std::fmt::Display for RelayShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/waku/2/rs/{}/{}", self.cluster, self.shard)
    }
}

/// Why a pubsub topic is not a static shard.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// The topic does not have the form `/waku/2/rs/<cluster>/<shard>`.
    #[error("`{0}` is not a static-sharding pubsub topic (/waku/2/rs/<cluster>/<shard>)")]
    NotStaticSharding(String),
    /// A part is not a number in range.
    #[error("the {0} `{1}` is not a number in range")]
    BadNumber(&'static str, String),
    /// The shard index is too large.
    #[error("shard {0} is out of range (a cluster has at most 1024 shards)")]
    ShardOutOfRange(u32),
    /// Autosharding over zero shards (or more than a cluster has).
    #[error("autosharding needs 1 to 1024 shards, got {0}")]
    BadShardCount(u32),
}

/// A parsed content topic: `/{app}/{version}/{name}/{encoding}` or, with a generation prefix,
/// `/{generation}/{app}/{version}/{name}/{encoding}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentTopic {
    /// The generation (only 0 is defined); `None` when the topic has no prefix.
    pub generation: Option<u32>,
    /// The application.
    pub app: String,
    /// The application's version.
    pub version: String,
    /// The topic name.
    pub name: String,
    /// The encoding (e.g. `proto`).
    pub encoding: String,
}

/// Why a string is not a content topic. Each variant names what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContentTopicError {
    /// The topic does not start with `/`.
    #[error("a content topic starts with `/`: {0:?}")]
    MissingLeadingSlash(String),
    /// Not 4 parts (or 5 with a generation).
    #[error(
        "a content topic has 4 parts /app/version/name/encoding (5 with a generation), got {parts} in {topic:?}"
    )]
    WrongPartCount {
        /// The parts found.
        parts: usize,
        /// The topic.
        topic: String,
    },
    /// A part is empty.
    #[error("the {part} of content topic {topic:?} is empty")]
    EmptyPart {
        /// Which part: `application`, `version`, `name` or `encoding`.
        part: &'static str,
        /// The topic.
        topic: String,
    },
    /// The generation is not a number.
    #[error("the generation {0:?} is not a number")]
    InvalidGeneration(String),
    /// A generation other than 0.
    #[error("generation {0} is not supported (only generation 0 exists)")]
    UnsupportedGeneration(u32),
}

impl ContentTopic {
    /// Parses a content topic (see the type's documentation).
    pub fn parse(s: &str) -> Result<ContentTopic, ContentTopicError> {
        let rest = s
            .strip_prefix('/')
            .ok_or_else(|| ContentTopicError::MissingLeadingSlash(s.to_owned()))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let (generation, fields) = match parts.len() {
            4 => (None, &parts[..]),
            5 => {
                let g: u32 = parts[0]
                    .parse()
                    .map_err(|_| ContentTopicError::InvalidGeneration(parts[0].to_owned()))?;
                if g != 0 {
                    return Err(ContentTopicError::UnsupportedGeneration(g));
                }
                (Some(g), &parts[1..])
            }
            n => {
                return Err(ContentTopicError::WrongPartCount {
                    parts: n,
                    topic: s.to_owned(),
                });
            }
        };
        for (part, v) in ["application", "version", "name", "encoding"]
            .iter()
            .zip(fields)
        {
            if v.is_empty() {
                return Err(ContentTopicError::EmptyPart {
                    part,
                    topic: s.to_owned(),
                });
            }
        }
        Ok(ContentTopic {
            generation,
            app: fields[0].to_owned(),
            version: fields[1].to_owned(),
            name: fields[2].to_owned(),
            encoding: fields[3].to_owned(),
        })
    }

    /// The shard this topic maps to by autosharding over `shards` shards of `cluster`.
    pub fn shard(&self, cluster: u16, shards: u32) -> Result<RelayShard, ShardError> {
        Ok(RelayShard {
            cluster,
            shard: autoshard(&self.app, &self.version, shards)?,
        })
    }
}

impl std::fmt::Display for ContentTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(g) = self.generation {
            write!(f, "/{g}")?;
        }
        write!(
            f,
            "/{}/{}/{}/{}",
            self.app, self.version, self.name, self.encoding
        )
    }
}

/// The autosharding hash: the big-endian `u64` of bytes 24..31 of `sha256(app ++ version)`.
pub fn autoshard_hash(app: &str, version: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(app.as_bytes());
    h.update(version.as_bytes());
    let d = h.finalize();
    u64::from_be_bytes(d[24..32].try_into().expect("32-byte digest"))
}

/// The shard index of an application version among `shards` shards.
pub fn autoshard(app: &str, version: &str, shards: u32) -> Result<u16, ShardError> {
    if shards == 0 || shards > MAX_SHARDS_PER_CLUSTER {
        return Err(ShardError::BadShardCount(shards));
    }
    Ok((autoshard_hash(app, version) % shards as u64) as u16)
}

/// The shard of a content topic string by autosharding over `shards` shards of `cluster`.
pub fn content_topic_shard(
    content_topic: &str,
    cluster: u16,
    shards: u32,
) -> Result<RelayShard, AutoshardError> {
    let t = ContentTopic::parse(content_topic)?;
    Ok(t.shard(cluster, shards)?)
}

/// Why a content topic could not be mapped to a shard.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AutoshardError {
    /// The content topic does not parse.
    #[error(transparent)]
    Topic(#[from] ContentTopicError),
    /// The shard count is invalid.
    #[error(transparent)]
    Shard(#[from] ShardError),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test vectors computed with Python's hashlib (by the project lead, and checked again):
    /// `int.from_bytes(sha256((app + version).encode()).digest()[24:32], "big")`.
    ///
    /// - "toychat" + "2": sha256 = 05f470e4bf9fcfe47831f2564603620481c756bd3fae5d4dcfbf980a0f51e3f3,
    ///   bytes 24..31 = cfbf980a0f51e3f3 = 14969850855376937971; mod 8 = 3 (nwaku's own test
    ///   maps "/toychat/2/huilong/proto" to "/waku/2/rs/1/3" with 8 shards), mod 64 = 51,
    ///   mod 1024 = 1011.
    /// - "waku" + "1": bytes 24..31 = 1f2b9dac75b1393c -> mod 8 = 4, mod 64 = 60.
    /// - "status" + "1": 82714da77d6e8e3d -> mod 8 = 5, mod 64 = 61.
    /// - "myapp" + "1": e53139fb802d4928 -> mod 8 = 0, mod 64 = 40.
    #[test]
    fn autosharding_test_vectors() {
        assert_eq!(autoshard_hash("toychat", "2"), 0xcfbf_980a_0f51_e3f3);
        assert_eq!(autoshard_hash("toychat", "2"), 14_969_850_855_376_937_971);
        assert_eq!(autoshard("toychat", "2", 8), Ok(3));
        assert_eq!(autoshard("toychat", "2", 64), Ok(51));
        assert_eq!(autoshard("toychat", "2", 1024), Ok(1011));
        assert_eq!(autoshard_hash("waku", "1"), 0x1f2b_9dac_75b1_393c);
        assert_eq!(autoshard("waku", "1", 8), Ok(4));
        assert_eq!(autoshard("waku", "1", 64), Ok(60));
        assert_eq!(autoshard_hash("status", "1"), 0x8271_4da7_7d6e_8e3d);
        assert_eq!(autoshard("status", "1", 8), Ok(5));
        assert_eq!(autoshard("status", "1", 64), Ok(61));
        assert_eq!(autoshard_hash("myapp", "1"), 0xe531_39fb_802d_4928);
        assert_eq!(autoshard("myapp", "1", 8), Ok(0));
        assert_eq!(autoshard("myapp", "1", 64), Ok(40));
        // nwaku's test case, end to end.
        let s = content_topic_shard("/toychat/2/huilong/proto", TWN_CLUSTER, TWN_SHARDS).unwrap();
        assert_eq!(s.pubsub_topic(), "/waku/2/rs/1/3");
        // Only app and version matter: another name and encoding land on the same shard.
        let t = content_topic_shard("/0/toychat/2/other/rlp", 1, 8).unwrap();
        assert_eq!(t, s);
        assert_eq!(autoshard("x", "1", 0), Err(ShardError::BadShardCount(0)));
        assert_eq!(
            autoshard("x", "1", 1025),
            Err(ShardError::BadShardCount(1025))
        );
    }

    #[test]
    fn content_topics_parse_and_errors_are_typed() {
        let t = ContentTopic::parse("/toychat/2/huilong/proto").unwrap();
        assert_eq!(
            (t.generation, t.app.as_str(), t.version.as_str()),
            (None, "toychat", "2")
        );
        assert_eq!((t.name.as_str(), t.encoding.as_str()), ("huilong", "proto"));
        assert_eq!(t.to_string(), "/toychat/2/huilong/proto");
        let g = ContentTopic::parse("/0/toychat/2/huilong/proto").unwrap();
        assert_eq!(g.generation, Some(0));
        assert_eq!(g.to_string(), "/0/toychat/2/huilong/proto");
        assert!(matches!(
            ContentTopic::parse("toychat/2/huilong/proto"),
            Err(ContentTopicError::MissingLeadingSlash(_))
        ));
        assert!(matches!(
            ContentTopic::parse("/toychat/2/proto"),
            Err(ContentTopicError::WrongPartCount { parts: 3, .. })
        ));
        assert!(matches!(
            ContentTopic::parse("/1/toychat/2/huilong/proto"),
            Err(ContentTopicError::UnsupportedGeneration(1))
        ));
        assert!(matches!(
            ContentTopic::parse("/x/toychat/2/huilong/proto"),
            Err(ContentTopicError::InvalidGeneration(_))
        ));
        assert!(matches!(
            ContentTopic::parse("/toychat//huilong/proto"),
            Err(ContentTopicError::EmptyPart {
                part: "version",
                ..
            })
        ));
        assert!(matches!(
            ContentTopic::parse("/toychat/2/huilong/"),
            Err(ContentTopicError::EmptyPart {
                part: "encoding",
                ..
            })
        ));
        assert!(matches!(
            content_topic_shard("/a/b", 1, 8),
            Err(AutoshardError::Topic(_))
        ));
    }

    #[test]
    fn static_shards_round_trip() {
        let s = RelayShard {
            cluster: 16,
            shard: 1023,
        };
        assert_eq!(s.pubsub_topic(), "/waku/2/rs/16/1023");
        assert_eq!(RelayShard::parse("/waku/2/rs/16/1023"), Ok(s));
        assert_eq!(s.to_string(), s.pubsub_topic());
        assert_eq!(
            RelayShard::parse("/waku/2/rs/1/1024"),
            Err(ShardError::ShardOutOfRange(1024))
        );
        assert!(matches!(
            RelayShard::parse("/waku/2/default-waku/proto"),
            Err(ShardError::NotStaticSharding(_))
        ));
        assert!(matches!(
            RelayShard::parse("/waku/2/rs/x/1"),
            Err(ShardError::BadNumber("cluster", _))
        ));
    }
}
