//! Sharding: which replica audits which target. Each target goes to exactly
//! one shard, chosen by rendezvous (highest random weight) hashing of its
//! name, so adding a replica moves only about 1/N of the targets.
//!
//! The unit is the target (an account and region), never the API: AWS's
//! quota is per account and region, so two replicas auditing one account
//! would each spend the whole budget without finishing sooner.

use std::fmt;
use std::hash::Hasher;
use std::str::FromStr;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use routewarden_core::diag::LoadError;

use crate::source::{Item, Observer, Source};

/// This replica's shard: `index` of `count`, 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    /// Unsharded: one replica audits everything.
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parses `INDEX/COUNT`; `auto/COUNT` takes the index from the hostname.
impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Shard::parse(text, hostname)
    }
}

impl Shard {
    /// Parses with the hostname given (tests).
    pub fn parse(text: &str, hostname: impl FnOnce() -> Option<String>) -> Result<Shard, String> {
        let usage = || format!("invalid shard `{text}`: expected INDEX/COUNT, e.g. 0/3 or auto/3");
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let count: u32 = count.trim().parse().map_err(|_| usage())?;
        if count == 0 {
            return Err(format!("invalid shard `{text}`: COUNT must be at least 1"));
        }
        let index: u32 = if index.trim() == "auto" {
            let host =
                hostname().ok_or_else(|| format!("shard `{text}`: the hostname cannot be read"))?;
            ordinal(&host).ok_or_else(|| {
                format!("shard `{text}`: hostname `{host}` does not end in -<number>, as a StatefulSet pod's does")
            })?
        } else {
            index.trim().parse().map_err(|_| usage())?
        };
        if index >= count {
            return Err(format!("invalid shard `{text}`: INDEX must be below COUNT"));
        }
        Ok(Shard { index, count })
    }

    /// Whether this shard audits the target.
    pub fn owns(&self, target_name: &str) -> bool {
        owner(target_name, self.count) == self.index
    }
}

/// A source cut to one shard: only the APIs (and errors) of the targets it
/// owns. AWS targets are cut before their clients are built; fleet files,
/// which name their targets inside, are cut as they are read.
pub struct Sharded<S> {
    inner: S,
    shard: Shard,
}

impl<S> Sharded<S> {
    pub fn new(inner: S, shard: Shard) -> Sharded<S> {
        Sharded { inner, shard }
    }
}

impl<S: Source> Source for Sharded<S> {
    fn read<'a>(&'a self, observer: &'a dyn Observer) -> BoxStream<'a, Result<Item, LoadError>> {
        let mine = move |item: &Result<Item, LoadError>| {
            let target = match item {
                Ok(Item::Api(api)) => api.target_name.as_deref(),
                Ok(Item::Failed(error)) => error.target_name.as_deref(),
                Ok(Item::Roster(_)) | Err(_) => return true,
            };
            self.shard.owns(target.unwrap_or(""))
        };
        self.inner
            .read(observer)
            .filter(move |item| std::future::ready(mine(item)))
            .boxed()
    }
}

/// The shard that owns a target: the one with the highest hash of (name, shard).
pub fn owner(target_name: &str, count: u32) -> u32 {
    (0..count.max(1))
        .max_by_key(|&shard| weight(target_name, shard))
        .unwrap_or(0)
}

/// A stable hash (FNV-1a, the same on every platform and release).
fn weight(target_name: &str, shard: u32) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(target_name.as_bytes());
    hasher.write(&[0xff]);
    hasher.write(&shard.to_le_bytes());
    // FNV's low bits mix poorly for short inputs; finish with a multiply-xorshift.
    let mut x = hasher.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

/// The number after the last `-` of a StatefulSet pod's name (`routewarden-2`).
fn ordinal(hostname: &str) -> Option<u32> {
    hostname.rsplit_once('-')?.1.parse().ok()
}

fn hostname() -> Option<String> {
    if let Ok(name) = std::env::var("HOSTNAME")
        && !name.is_empty()
    {
        return Some(name);
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("account-{i:04}-eu-west-1"))
            .collect()
    }

    #[test]
    fn parses_index_count_and_auto() {
        assert_eq!(
            Shard::parse("1/3", || None).unwrap(),
            Shard { index: 1, count: 3 }
        );
        assert_eq!(
            Shard::parse("auto/3", || Some("routewarden-2".into())).unwrap(),
            Shard { index: 2, count: 3 }
        );
        assert!(
            Shard::parse("auto/3", || Some("routewarden-7".into()))
                .unwrap_err()
                .contains("below COUNT")
        );
        assert!(
            Shard::parse("auto/3", || Some("laptop".into()))
                .unwrap_err()
                .contains("does not end in")
        );
        assert!(Shard::parse("3/3", || None).is_err());
        assert!(Shard::parse("0/0", || None).is_err());
        assert!(Shard::parse("x", || None).is_err());
        assert_eq!(Shard::default().to_string(), "0/1");
    }

    #[test]
    fn shards_partition_the_targets() {
        let names = targets(1000);
        for count in 1..=5u32 {
            let shards: Vec<Shard> = (0..count).map(|index| Shard { index, count }).collect();
            let mut sizes = vec![0usize; count as usize];
            for name in &names {
                let owners: Vec<&Shard> = shards.iter().filter(|s| s.owns(name)).collect();
                assert_eq!(owners.len(), 1, "{name} has exactly one shard");
                sizes[owners[0].index as usize] += 1;
            }
            let fair = 1000 / count as usize;
            for size in sizes {
                assert!(
                    size.abs_diff(fair) < fair / 4 + 10,
                    "balanced: {size} vs {fair}"
                );
            }
        }
    }

    #[test]
    fn adding_a_replica_moves_about_one_nth_of_the_targets() {
        let names = targets(2000);
        for count in 1..8u32 {
            let moved = names
                .iter()
                .filter(|n| owner(n, count) != owner(n, count + 1))
                .count();
            let expected = names.len() / (count as usize + 1);
            // Only targets that move to the new shard move at all.
            assert!(names.iter().all(|n| owner(n, count) == owner(n, count + 1) || owner(n, count + 1) == count));
            assert!(
                moved.abs_diff(expected) < expected / 4 + 10,
                "{count}->{}: moved {moved}, ~{expected}",
                count + 1
            );
        }
    }
}
