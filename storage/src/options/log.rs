//! The options of the table's embedded changelog (`log.*`, see [`crate::changelog`]).

use std::collections::BTreeMap;
use std::time::Duration;

use dyntable_log_store::{LogOptions, SyncPolicy};

use super::parse::{opt_err, parse_duration, parse_memory_size};
use crate::error::Result;

pub const LOG_SYSTEM: &str = "log.system";
pub const LOG_CONSISTENCY: &str = "log.consistency";
pub const LOG_FSYNC: &str = "log.fsync";
pub const LOG_GROUP_COMMIT_MAX_DELAY: &str = "log.group-commit.max-delay";
pub const LOG_SEGMENT_SIZE: &str = "log.segment.size";
pub const LOG_COMPRESSION: &str = "log.compression";

/// The options of the embedded log this crate reads (other `log.*` keys are Paimon's Kafka-era options).
pub const LOG_OPTION_KEYS: &[&str] =
    &[LOG_SYSTEM, LOG_CONSISTENCY, LOG_FSYNC, LOG_GROUP_COMMIT_MAX_DELAY, LOG_SEGMENT_SIZE, LOG_COMPRESSION];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogConsistency {
    Transactional,
    Eventual,
}

/// The table's log options, parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `log.system = 'embedded'`; `none` (the default) keeps no log.
    pub embedded: bool,
    pub consistency: LogConsistency,
    pub sync: SyncPolicy,
    pub segment_bytes: u64,
    pub compression: bool,
}

impl LogConfig {
    /// Parses the `log.*` options dyntable uses; a malformed value is an error naming key and value.
    pub fn from_options(raw: &BTreeMap<String, String>) -> Result<LogConfig> {
        let get = |k: &str| raw.get(k).map(|v| v.trim().to_ascii_lowercase());
        let embedded = match get(LOG_SYSTEM).as_deref() {
            None | Some("none") => false,
            Some("embedded") => true,
            Some(v) => {
                return Err(opt_err(LOG_SYSTEM, v, "allowed: none, embedded (dyntable has no Kafka log system)"))
            }
        };
        let consistency = match get(LOG_CONSISTENCY).as_deref() {
            None | Some("transactional") => LogConsistency::Transactional,
            Some("eventual") => LogConsistency::Eventual,
            Some(v) => return Err(opt_err(LOG_CONSISTENCY, v, "allowed: transactional, eventual")),
        };
        let max_delay = match get(LOG_GROUP_COMMIT_MAX_DELAY) {
            Some(v) => parse_duration(&v)
                .ok_or_else(|| opt_err(LOG_GROUP_COMMIT_MAX_DELAY, &v, "expected a duration such as `2 ms`"))?,
            None => Duration::from_millis(1),
        };
        let sync = match get(LOG_FSYNC).as_deref() {
            None | Some("batch") => SyncPolicy::EveryBatch,
            Some("group") => SyncPolicy::GroupCommit { max_delay, max_bytes: 4 << 20 },
            Some(v) => {
                return Err(opt_err(
                    LOG_FSYNC,
                    v,
                    "allowed: batch (an fsync per write), group (concurrent writes share one fsync)",
                ))
            }
        };
        let segment_bytes = match get(LOG_SEGMENT_SIZE) {
            Some(v) => parse_memory_size(&v)
                .filter(|s| (4096..=u64::from(u32::MAX)).contains(s))
                .ok_or_else(|| opt_err(LOG_SEGMENT_SIZE, &v, "expected a memory size between 4 kb and 4 gb"))?,
            None => 64 << 20,
        };
        let compression = match get(LOG_COMPRESSION).as_deref() {
            None | Some("zstd") => true,
            Some("none") => false,
            Some(v) => return Err(opt_err(LOG_COMPRESSION, v, "allowed: zstd, none")),
        };
        Ok(LogConfig { embedded, consistency, sync, segment_bytes, compression })
    }

    pub fn log_options(&self) -> LogOptions {
        LogOptions {
            segment_bytes_max: self.segment_bytes,
            compression: self.compression,
            sync: self.sync,
            ..LogOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Options parse to the documented defaults and reject malformed values naming key and value.
    #[test]
    fn parses_log_options() {
        let c = LogConfig::from_options(&options(&[])).unwrap();
        assert!(!c.embedded);
        assert_eq!(c.consistency, LogConsistency::Transactional);
        let c = LogConfig::from_options(&options(&[
            ("log.system", "embedded"),
            ("log.consistency", "eventual"),
            ("log.fsync", "group"),
        ]))
        .unwrap();
        assert!(c.embedded);
        assert_eq!(c.consistency, LogConsistency::Eventual);
        assert!(matches!(c.sync, SyncPolicy::GroupCommit { max_delay, .. } if max_delay == Duration::from_millis(1)));
        for (k, v) in [
            ("log.system", "kafka"),
            ("log.consistency", "strong"),
            ("log.fsync", "never"),
            ("log.segment.size", "1 b"),
            ("log.group-commit.max-delay", "soon"),
        ] {
            let e = LogConfig::from_options(&options(&[(k, v)])).unwrap_err().to_string();
            assert!(e.contains(k) && e.contains(v), "{e}");
        }
        assert_eq!(parse_duration("2 s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("15"), Some(Duration::from_millis(15)));
        assert_eq!(parse_duration("1 h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse_duration("1 week"), None);
    }
}
