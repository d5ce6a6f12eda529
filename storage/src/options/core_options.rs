//! `CoreOptions`: the table options the engine reads (Paimon's `CoreOptions`), typed.

use std::collections::BTreeMap;
use std::time::Duration;

use super::log::LOG_OPTION_KEYS;
use super::parse::{is_true, opt_err, parse_bool, parse_duration, parse_memory_size};
use super::partition::PartitionExpireOptions;
use crate::error::Result;

pub const BUCKET: &str = "bucket";
pub const BUCKET_KEY: &str = "bucket-key";
pub const WRITE_BUFFER_SIZE: &str = "write-buffer-size";
pub const TARGET_FILE_SIZE: &str = "target-file-size";
pub const MERGE_ENGINE: &str = "merge-engine";
pub const SEQUENCE_FIELD: &str = "sequence.field";
pub const ROWKIND_FIELD: &str = "rowkind.field";
pub const STATS_MODE: &str = "metadata.stats-mode";
pub const FILE_FORMAT: &str = "file.format";
pub const FILE_COMPRESSION: &str = "file.compression";
pub const ZSTD_LEVEL: &str = "file.compression.zstd-level";
pub const PARTITION_DEFAULT_NAME: &str = "partition.default-name";
pub const CHANGELOG_PRODUCER: &str = "changelog-producer";
pub const CHANGELOG_ROW_DEDUPLICATE: &str = "changelog-producer.row-deduplicate";
pub const FULL_COMPACTION_DELTA_COMMITS: &str = "full-compaction.delta-commits";
pub const COMMIT_MAX_RETRIES: &str = "commit.max-retries";
pub const MANIFEST_MERGE_MIN_COUNT: &str = "manifest.merge-min-count";
pub const DELETION_VECTORS: &str = "deletion-vectors.enabled";
pub const WRITE_ONLY: &str = "write-only";
pub const COMMIT_FORCE_COMPACT: &str = "commit.force-compact";
pub const IGNORE_DELETE: &str = "ignore-delete";
/// dyntable's own option: rows per Parquet row group (smaller groups prune finer; default 1M rows).
pub const ROW_GROUP_ROWS: &str = "dyntable.parquet.row-group-rows";
/// Paimon's bound on what point lookups keep decoded in memory (default 256 mb).
pub const LOOKUP_CACHE_MAX_MEMORY_SIZE: &str = "lookup.cache-max-memory-size";
/// Paimon's local disk tier of the lookup cache: dyntable has none and refuses the option.
pub const LOOKUP_CACHE_MAX_DISK_SIZE: &str = "lookup.cache-max-disk-size";
/// dyntable's own option: write a Parquet split-block bloom filter on each `_KEY_*` column of primary-key data
/// files (point lookups skip row groups with it). Paimon's `file-index.bloom-filter.columns` is a different
/// mechanism (Paimon's own file index), which dyntable does not write.
pub const KEY_BLOOM_FILTER: &str = "dyntable.parquet.key-bloom-filter";
/// Where point lookups keep their disk tier (a private directory per cache is made under it; default: the
/// system's temporary directory).
pub const LOOKUP_CACHE_DIR: &str = "dyntable.lookup.cache-dir";
/// Snapshot expiration (see [`crate::expire`]): the newest snapshots always kept (default 10).
pub const SNAPSHOT_NUM_RETAINED_MIN: &str = "snapshot.num-retained.min";
/// At most this many snapshots are kept (default Integer.MAX: unlimited).
pub const SNAPSHOT_NUM_RETAINED_MAX: &str = "snapshot.num-retained.max";
/// Snapshots older than this (by `timeMillis`) expire, beyond the minimum kept (default 1 h).
pub const SNAPSHOT_TIME_RETAINED: &str = "snapshot.time-retained";
/// At most this many snapshots expire per run (default 10).
pub const SNAPSHOT_EXPIRE_LIMIT: &str = "snapshot.expire.limit";
/// `sync` only: dyntable expires in the committing writer and refuses Paimon's `async`.
pub const SNAPSHOT_EXPIRE_EXECUTION_MODE: &str = "snapshot.expire.execution-mode";
/// Changelog expiration (see [`crate::expire::ExpireSnapshots::expire_changelogs`]): the newest changelogs always kept (default:
/// `snapshot.num-retained.min`). Larger retention than the snapshots' keeps the changelog of expired snapshots
/// as `changelog/changelog-N` (Paimon's long-lived changelog).
pub const CHANGELOG_NUM_RETAINED_MIN: &str = "changelog.num-retained.min";
/// At most this many changelogs are kept (default: `snapshot.num-retained.max`).
pub const CHANGELOG_NUM_RETAINED_MAX: &str = "changelog.num-retained.max";
/// Changelogs older than this expire, beyond the minimum kept (default: `snapshot.time-retained`).
pub const CHANGELOG_TIME_RETAINED: &str = "changelog.time-retained";
/// A consumer file not updated for this long is deleted and protects nothing (default: consumers never expire).
pub const CONSUMER_EXPIRATION_TIME: &str = "consumer.expiration-time";
pub const DEFAULT_PARTITION_NAME: &str = "__DEFAULT_PARTITION__";
/// Parquet data page size in bytes (a page is closed once it holds about this much; unset: parquet-rs's 1 MiB).
pub const PAGE_SIZE: &str = "page-size";
/// Rows per batch a table read yields (unset: 8192, or the SQL session's batch size).
pub const READ_BATCH_SIZE: &str = "read.batch-size";
/// Manifests written when base manifests are merged hold about this many bytes each (default 8 mb).
pub const MANIFEST_TARGET_FILE_SIZE: &str = "manifest.target-file-size";
/// `avro` only: what dyntable writes.
pub const MANIFEST_FORMAT: &str = "manifest.format";
/// `zstd` only: what dyntable writes.
pub const MANIFEST_COMPRESSION: &str = "manifest.compression";
/// `false` only: dyntable's write buffer flushes level-0 files when full, it never spills to local disk.
pub const WRITE_BUFFER_SPILLABLE: &str = "write-buffer-spillable";
/// Paimon's time-based full compaction: refused (the compaction policy reads no clock).
pub const COMPACTION_OPTIMIZATION_INTERVAL: &str = "compaction.optimization-interval";
/// Paimon's older spellings of `ignore-delete` (its fallback keys).
pub const IGNORE_DELETE_ALIASES: [&str; 3] =
    ["partial-update.ignore-delete", "first-row.ignore-delete", "deduplicate.ignore-delete"];
/// `fields.<field>.<suffix>` options the merge engines read (`fields.default-aggregate-function` too).
const FIELD_OPTION_SUFFIXES: [&str; 6] =
    ["aggregate-function", "ignore-retract", "sequence-group", "list-agg-delimiter", "distinct", "default-value"];

/// Keys accepted at creation besides the ones parsed here (validated by the modules and crates that use them:
/// the compaction crate, `merge.rs`, `partition.rs`, `log.rs`). `owner` is Paimon's informational table owner,
/// kept in the schema.
const OTHER_KNOWN_KEYS: &[&str] = &[
    "num-sorted-run.compaction-trigger",
    "num-sorted-run.stop-trigger",
    "num-levels",
    "compaction.max-size-amplification-percent",
    "compaction.size-ratio",
    "partial-update.remove-record-on-delete",
    "fields.default-aggregate-function",
    super::partition::PARTITION_EXPIRATION_TIME,
    super::partition::PARTITION_EXPIRATION_CHECK_INTERVAL,
    super::partition::PARTITION_TIMESTAMP_FORMATTER,
    super::partition::PARTITION_TIMESTAMP_PATTERN,
    super::partition::PARTITION_EXPIRATION_STRATEGY,
    "owner",
];

/// Keys Paimon knows that dyntable refuses at creation, and why (a table another engine wrote with them still
/// opens).
const UNSUPPORTED_KEYS: &[(&str, &str)] = &[
    (
        COMPACTION_OPTIMIZATION_INTERVAL,
        "dyntable does not support time-based full compaction: its compaction policy reads no clock (use `full-compaction.delta-commits` or `FileStoreTable::compact`)",
    ),
    (
        "path",
        "dyntable does not support choosing a table's location: a table lives at `<warehouse>/<database>.db/<table>`",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsMode {
    None,
    Counts,
    Truncate(usize),
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeEngine {
    Deduplicate,
    FirstRow,
    PartialUpdate,
    Aggregation,
}

/// `changelog-producer`: how a primary-key table produces changelog files (Paimon's four modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangelogProducer {
    /// No changelog files (readers see merged deltas).
    None,
    /// The writer's input rows, written again as changelog files at flush.
    Input,
    /// The exact changes of the merged rows (-U old, +U new, -D with the old row), computed at write time.
    Lookup,
    /// The difference between two full compactions, committed with the `COMPACT` snapshot.
    FullCompaction,
}

impl ChangelogProducer {
    pub fn name(self) -> &'static str {
        match self {
            ChangelogProducer::None => "none",
            ChangelogProducer::Input => "input",
            ChangelogProducer::Lookup => "lookup",
            ChangelogProducer::FullCompaction => "full-compaction",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compression {
    Zstd(i32),
    Snappy,
    Lz4,
    Gzip,
    None,
}

/// The parsed options of a table.
#[derive(Debug, Clone)]
pub struct CoreOptions {
    pub raw: BTreeMap<String, String>,
    pub bucket: i32,
    pub bucket_key: Vec<String>,
    pub write_buffer_size: u64,
    /// `None` when not set; the default depends on whether the table has a primary key.
    pub target_file_size: Option<u64>,
    pub merge_engine: MergeEngine,
    pub sequence_field: Option<String>,
    pub rowkind_field: Option<String>,
    pub stats_mode: StatsMode,
    pub compression: Compression,
    pub partition_default_name: String,
    pub commit_max_retries: u32,
    pub manifest_merge_min_count: usize,
    pub deletion_vectors: bool,
    pub changelog_producer: ChangelogProducer,
    /// `changelog-producer.row-deduplicate`: no -U/+U pair when the old and new rows are equal.
    pub changelog_row_deduplicate: bool,
    /// `full-compaction.delta-commits`: force a full compaction every this many commits (full-compaction producer).
    pub full_compaction_delta_commits: Option<u32>,
    /// `write-only`: writers never compact nor expire snapshots and partitions (a dedicated job does).
    pub write_only: bool,
    /// `commit.force-compact`: every commit waits for compaction. Not validated: `true` (any case) turns it on,
    /// any other value leaves it off.
    pub force_compact: bool,
    /// `ignore-delete`: writers drop -U/-D rows.
    pub ignore_delete: bool,
    /// [`ROW_GROUP_ROWS`]; `None` (parquet's default) when unset, or not a positive number.
    pub row_group_rows: Option<usize>,
    /// [`LOOKUP_CACHE_MAX_MEMORY_SIZE`] in bytes.
    pub lookup_cache_max_memory_size: u64,
    /// `lookup.cache-max-disk-size`: the lookup cache's disk tier bound (`None`: unlimited, Paimon's default;
    /// `Some(0)`: no disk tier).
    pub lookup_cache_max_disk_size: Option<u64>,
    /// `dyntable.lookup.cache-dir`.
    pub lookup_cache_dir: Option<String>,
    /// [`KEY_BLOOM_FILTER`].
    pub key_bloom_filter: bool,
    /// [`SNAPSHOT_NUM_RETAINED_MIN`]: at least 1, at most `snapshot_num_retained_max`.
    pub snapshot_num_retained_min: usize,
    /// [`SNAPSHOT_NUM_RETAINED_MAX`]; `i32::MAX` (Java's Integer.MAX) when unset.
    pub snapshot_num_retained_max: usize,
    /// [`SNAPSHOT_TIME_RETAINED`].
    pub snapshot_time_retained: Duration,
    /// [`SNAPSHOT_EXPIRE_LIMIT`]: at least 1.
    pub snapshot_expire_limit: usize,
    /// [`CHANGELOG_NUM_RETAINED_MIN`], the snapshots' when unset.
    pub changelog_num_retained_min: usize,
    /// [`CHANGELOG_NUM_RETAINED_MAX`], the snapshots' when unset.
    pub changelog_num_retained_max: usize,
    /// [`CHANGELOG_TIME_RETAINED`], the snapshots' when unset.
    pub changelog_time_retained: Duration,
    /// [`CONSUMER_EXPIRATION_TIME`]; `None`: consumers never expire.
    pub consumer_expiration_time: Option<Duration>,
    /// [`PAGE_SIZE`] in bytes; `None`: parquet-rs's default.
    pub page_size: Option<u64>,
    /// [`READ_BATCH_SIZE`]; `None`: the reader's default.
    pub read_batch_size: Option<usize>,
    /// [`MANIFEST_TARGET_FILE_SIZE`] in bytes.
    pub manifest_target_file_size: u64,
    /// The `partition.*` expiration options.
    pub partition: PartitionExpireOptions,
}

impl CoreOptions {
    /// Whether changelogs outlive snapshots (Paimon's "changelog lifecycle decoupled"): a changelog retention
    /// above the snapshots' keeps each expiring snapshot's changes as `changelog/changelog-N`.
    pub fn changelog_decoupled(&self) -> bool {
        self.changelog_num_retained_max > self.snapshot_num_retained_max
            || self.changelog_num_retained_min > self.snapshot_num_retained_min
            || self.changelog_time_retained > self.snapshot_time_retained
    }

    /// Parses options; fails on malformed values whatever their origin.
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Self> {
        let get = |k: &str| raw.get(k).map(|s| s.trim().to_string());
        let bucket = match get(BUCKET) {
            Some(v) => v
                .parse::<i32>()
                .ok()
                .filter(|b| *b == -1 || *b > 0)
                .ok_or_else(|| opt_err(BUCKET, &v, "expected -1 (dynamic) or a positive number of buckets"))?,
            None => -1,
        };
        let bucket_key = get(BUCKET_KEY)
            .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let write_buffer_size = match get(WRITE_BUFFER_SIZE) {
            Some(v) => parse_memory_size(&v)
                .filter(|s| *s > 0)
                .ok_or_else(|| opt_err(WRITE_BUFFER_SIZE, &v, "expected a positive memory size such as `256 mb`"))?,
            None => 256 << 20,
        };
        let target_file_size =
            match get(TARGET_FILE_SIZE) {
                Some(v) => Some(parse_memory_size(&v).filter(|s| *s > 0).ok_or_else(|| {
                    opt_err(TARGET_FILE_SIZE, &v, "expected a positive memory size such as `128 mb`")
                })?),
                None => None,
            };
        let merge_engine = match get(MERGE_ENGINE).as_deref() {
            None | Some("deduplicate") => MergeEngine::Deduplicate,
            Some("first-row") => MergeEngine::FirstRow,
            Some("partial-update") => MergeEngine::PartialUpdate,
            Some("aggregation") => MergeEngine::Aggregation,
            Some(v) => {
                return Err(opt_err(MERGE_ENGINE, v, "allowed: deduplicate, partial-update, aggregation, first-row"))
            }
        };
        let stats_mode = match get(STATS_MODE) {
            None => StatsMode::Truncate(16),
            Some(v) => parse_stats_mode(&v)
                .ok_or_else(|| opt_err(STATS_MODE, &v, "allowed: none, counts, full, truncate(N)"))?,
        };
        let zstd_level = match get(ZSTD_LEVEL) {
            Some(v) => v
                .parse::<i32>()
                .ok()
                .filter(|l| (1..=22).contains(l))
                .ok_or_else(|| opt_err(ZSTD_LEVEL, &v, "expected 1..22"))?,
            None => 1,
        };
        let compression = match get(FILE_COMPRESSION).map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("zstd") => Compression::Zstd(zstd_level),
            Some("snappy") => Compression::Snappy,
            Some("lz4") => Compression::Lz4,
            Some("gzip") => Compression::Gzip,
            Some("none") | Some("uncompressed") => Compression::None,
            Some(v) => return Err(opt_err(FILE_COMPRESSION, v, "allowed: zstd, snappy, lz4, gzip, none")),
        };
        if let Some(v) = get(FILE_FORMAT) {
            if !v.eq_ignore_ascii_case("parquet") {
                return Err(opt_err(FILE_FORMAT, &v, "dyntable reads and writes parquet only"));
            }
        }
        let commit_max_retries = match get(COMMIT_MAX_RETRIES) {
            Some(v) => v.parse().map_err(|_| opt_err(COMMIT_MAX_RETRIES, &v, "expected a non-negative integer"))?,
            None => 10,
        };
        let manifest_merge_min_count = match get(MANIFEST_MERGE_MIN_COUNT) {
            Some(v) => v
                .parse()
                .ok()
                .filter(|n: &usize| *n > 0)
                .ok_or_else(|| opt_err(MANIFEST_MERGE_MIN_COUNT, &v, "expected a positive integer"))?,
            None => 30,
        };
        let flag = |key: &str| -> Result<bool> {
            match get(key) {
                Some(v) => parse_bool(&v).ok_or_else(|| opt_err(key, &v, "expected true or false")),
                None => Ok(false),
            }
        };
        let changelog_producer = match get(CHANGELOG_PRODUCER).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("none") => ChangelogProducer::None,
            Some("input") => ChangelogProducer::Input,
            Some("lookup") => ChangelogProducer::Lookup,
            Some("full-compaction") => ChangelogProducer::FullCompaction,
            Some(v) => return Err(opt_err(CHANGELOG_PRODUCER, v, "allowed: none, input, lookup, full-compaction")),
        };
        let full_compaction_delta_commits = match get(FULL_COMPACTION_DELTA_COMMITS) {
            Some(v) => Some(
                v.parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| opt_err(FULL_COMPACTION_DELTA_COMMITS, &v, "expected a positive integer"))?,
            ),
            None => None,
        };
        let deletion_vectors = flag(DELETION_VECTORS)?;
        let write_only = flag(WRITE_ONLY)?;
        // Paimon reads its older spellings as `ignore-delete` (unvalidated here; checked at creation).
        let ignore_delete = flag(IGNORE_DELETE)? || IGNORE_DELETE_ALIASES.iter().any(|k| is_true(raw, k));
        let key_bloom_filter = flag(KEY_BLOOM_FILTER)?;
        let lookup_cache_max_memory_size = match get(LOOKUP_CACHE_MAX_MEMORY_SIZE) {
            Some(v) => parse_memory_size(&v)
                .ok_or_else(|| opt_err(LOOKUP_CACHE_MAX_MEMORY_SIZE, &v, "expected a memory size such as `256 mb`"))?,
            None => 256 << 20,
        };
        let lookup_cache_max_disk_size = match get(LOOKUP_CACHE_MAX_DISK_SIZE) {
            Some(v) if v.trim().eq_ignore_ascii_case("unlimited") => None,
            Some(v) => Some(parse_memory_size(&v).ok_or_else(|| {
                opt_err(LOOKUP_CACHE_MAX_DISK_SIZE, &v, "expected a size such as `10 gb` (or `unlimited`)")
            })?),
            None => None,
        };
        let lookup_cache_dir = get(LOOKUP_CACHE_DIR).map(|v| v.to_string());
        let positive = |key: &str, default: usize| -> Result<usize> {
            match get(key) {
                Some(v) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| opt_err(key, &v, "expected a positive integer")),
                None => Ok(default),
            }
        };
        let snapshot_num_retained_min = positive(SNAPSHOT_NUM_RETAINED_MIN, 10)?;
        let snapshot_num_retained_max = positive(SNAPSHOT_NUM_RETAINED_MAX, i32::MAX as usize)?;
        if snapshot_num_retained_min > snapshot_num_retained_max {
            return Err(opt_err(
                SNAPSHOT_NUM_RETAINED_MIN,
                &snapshot_num_retained_min.to_string(),
                &format!("must not exceed `{SNAPSHOT_NUM_RETAINED_MAX}` = {snapshot_num_retained_max}"),
            ));
        }
        let duration = |key: &str| -> Result<Option<Duration>> {
            match get(key) {
                Some(v) => Ok(Some(
                    parse_duration(&v)
                        .ok_or_else(|| opt_err(key, &v, "expected a duration such as `1 h` or `30 min`"))?,
                )),
                None => Ok(None),
            }
        };
        let snapshot_time_retained = duration(SNAPSHOT_TIME_RETAINED)?.unwrap_or(Duration::from_secs(3600));
        let consumer_expiration_time = duration(CONSUMER_EXPIRATION_TIME)?;
        let changelog_num_retained_min = positive(CHANGELOG_NUM_RETAINED_MIN, snapshot_num_retained_min)?;
        let changelog_num_retained_max = positive(CHANGELOG_NUM_RETAINED_MAX, snapshot_num_retained_max)?;
        if changelog_num_retained_min > changelog_num_retained_max {
            return Err(opt_err(
                CHANGELOG_NUM_RETAINED_MIN,
                &changelog_num_retained_min.to_string(),
                &format!("must not exceed `{CHANGELOG_NUM_RETAINED_MAX}` = {changelog_num_retained_max}"),
            ));
        }
        let changelog_time_retained = duration(CHANGELOG_TIME_RETAINED)?.unwrap_or(snapshot_time_retained);
        let snapshot_expire_limit = positive(SNAPSHOT_EXPIRE_LIMIT, 10)?;
        // `async` is refused when a table is created or altered (`check_known_keys`); a table another engine
        // wrote with it still opens, and dyntable expires its snapshots synchronously.
        match get(SNAPSHOT_EXPIRE_EXECUTION_MODE).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("sync") | Some("async") => {}
            Some(v) => return Err(opt_err(SNAPSHOT_EXPIRE_EXECUTION_MODE, v, "allowed: sync")),
        }
        let size = |key: &str| -> Result<Option<u64>> {
            get(key)
                .map(|v| {
                    parse_memory_size(&v)
                        .filter(|s| *s > 0)
                        .ok_or_else(|| opt_err(key, &v, "expected a positive memory size such as `64 kb`"))
                })
                .transpose()
        };
        let page_size = size(PAGE_SIZE)?;
        let manifest_target_file_size = size(MANIFEST_TARGET_FILE_SIZE)?.unwrap_or(8 << 20);
        let read_batch_size = get(READ_BATCH_SIZE).map(|_| positive(READ_BATCH_SIZE, 0)).transpose()?;
        Ok(CoreOptions {
            partition: PartitionExpireOptions::parse(raw)?,
            page_size,
            read_batch_size,
            manifest_target_file_size,
            raw: raw.clone(),
            bucket,
            bucket_key,
            write_buffer_size,
            target_file_size,
            merge_engine,
            sequence_field: get(SEQUENCE_FIELD).filter(|s| !s.is_empty()),
            rowkind_field: get(ROWKIND_FIELD).filter(|s| !s.is_empty()),
            stats_mode,
            compression,
            partition_default_name: get(PARTITION_DEFAULT_NAME).unwrap_or_else(|| DEFAULT_PARTITION_NAME.to_string()),
            commit_max_retries,
            manifest_merge_min_count,
            deletion_vectors,
            changelog_producer,
            changelog_row_deduplicate: flag(CHANGELOG_ROW_DEDUPLICATE)?,
            full_compaction_delta_commits,
            write_only,
            force_compact: is_true(raw, COMMIT_FORCE_COMPACT),
            ignore_delete,
            row_group_rows: get(ROW_GROUP_ROWS).and_then(|v| v.parse::<usize>().ok()).filter(|r| *r > 0),
            lookup_cache_max_memory_size,
            lookup_cache_max_disk_size,
            lookup_cache_dir,
            key_bloom_filter,
            snapshot_num_retained_min,
            snapshot_num_retained_max,
            snapshot_time_retained,
            snapshot_expire_limit,
            changelog_num_retained_min,
            changelog_num_retained_max,
            changelog_time_retained,
            consumer_expiration_time,
        })
    }

    /// Rejects keys dyntable does not know, and keys or values it knows but does not honour, naming the option
    /// and saying dyntable does not support it (for tables dyntable creates or alters; `parse` accepts them, so a
    /// table another engine wrote with them opens).
    pub fn check_known_keys(raw: &BTreeMap<String, String>) -> Result<()> {
        let parsed = [
            BUCKET,
            BUCKET_KEY,
            WRITE_BUFFER_SIZE,
            TARGET_FILE_SIZE,
            MERGE_ENGINE,
            SEQUENCE_FIELD,
            ROWKIND_FIELD,
            STATS_MODE,
            FILE_FORMAT,
            FILE_COMPRESSION,
            ZSTD_LEVEL,
            PARTITION_DEFAULT_NAME,
            CHANGELOG_PRODUCER,
            CHANGELOG_ROW_DEDUPLICATE,
            FULL_COMPACTION_DELTA_COMMITS,
            COMMIT_MAX_RETRIES,
            MANIFEST_MERGE_MIN_COUNT,
            DELETION_VECTORS,
            WRITE_ONLY,
            COMMIT_FORCE_COMPACT,
            IGNORE_DELETE,
            ROW_GROUP_ROWS,
            LOOKUP_CACHE_MAX_MEMORY_SIZE,
            LOOKUP_CACHE_MAX_DISK_SIZE,
            LOOKUP_CACHE_DIR,
            KEY_BLOOM_FILTER,
            SNAPSHOT_NUM_RETAINED_MIN,
            SNAPSHOT_NUM_RETAINED_MAX,
            SNAPSHOT_TIME_RETAINED,
            SNAPSHOT_EXPIRE_LIMIT,
            SNAPSHOT_EXPIRE_EXECUTION_MODE,
            CHANGELOG_NUM_RETAINED_MIN,
            CHANGELOG_NUM_RETAINED_MAX,
            CHANGELOG_TIME_RETAINED,
            CONSUMER_EXPIRATION_TIME,
            PAGE_SIZE,
            READ_BATCH_SIZE,
            MANIFEST_TARGET_FILE_SIZE,
            MANIFEST_FORMAT,
            MANIFEST_COMPRESSION,
            WRITE_BUFFER_SPILLABLE,
        ];
        for (k, v) in raw {
            let value = v.trim();
            if let Some((_, why)) = UNSUPPORTED_KEYS.iter().find(|(key, _)| key == k) {
                return Err(opt_err(k, v, why));
            }
            let refuse = |allowed: bool, why: &str| if allowed { Ok(()) } else { Err(opt_err(k, v, why)) };
            match k.as_str() {
                DELETION_VECTORS => refuse(
                    parse_bool(value) != Some(true),
                    "dyntable does not support deletion vectors: it neither writes nor reads them",
                )?,
                WRITE_BUFFER_SPILLABLE => refuse(
                    parse_bool(value) == Some(false),
                    "dyntable does not support spilling the write buffer to disk: a full buffer is flushed as level-0 files (only `false` is accepted)",
                )?,
                MANIFEST_FORMAT => refuse(
                    value.eq_ignore_ascii_case("avro"),
                    "dyntable does not support this manifest format: it writes manifests in `avro` only",
                )?,
                MANIFEST_COMPRESSION => refuse(
                    value.eq_ignore_ascii_case("zstd"),
                    "dyntable does not support this manifest compression: it writes manifests with `zstd` only",
                )?,
                COMMIT_FORCE_COMPACT | CHANGELOG_ROW_DEDUPLICATE | "partial-update.remove-record-on-delete" => {
                    refuse(parse_bool(value).is_some(), "expected true or false")?
                }
                ROW_GROUP_ROWS => refuse(value.parse::<usize>().is_ok_and(|n| n > 0), "expected a positive integer")?,
                _ if IGNORE_DELETE_ALIASES.contains(&k.as_str()) => {
                    refuse(parse_bool(value).is_some(), "expected true or false")?
                }
                _ => {}
            }
            if let Some(rest) = k.strip_prefix("log.") {
                refuse(
                    LOG_OPTION_KEYS.contains(&k.as_str()),
                    &format!("dyntable does not support `log.{rest}`: its embedded log reads {LOG_OPTION_KEYS:?}"),
                )?;
                continue;
            }
            if let Some(rest) = k.strip_prefix("fields.") {
                if k != "fields.default-aggregate-function" {
                    refuse(
                        FIELD_OPTION_SUFFIXES.iter().any(|s| rest.strip_suffix(s).is_some_and(|f| f.ends_with('.'))),
                        &format!("dyntable does not support this field option: it reads `fields.<field>.` + one of {FIELD_OPTION_SUFFIXES:?}"),
                    )?;
                    continue;
                }
            }
            if k == SNAPSHOT_EXPIRE_EXECUTION_MODE && v.eq_ignore_ascii_case("async") {
                return Err(opt_err(
                    k,
                    v,
                    "dyntable does not support asynchronous expiration: it expires snapshots synchronously after each commit (use `sync`)",
                ));
            }
            let known = parsed.contains(&k.as_str())
                || OTHER_KNOWN_KEYS.contains(&k.as_str())
                || IGNORE_DELETE_ALIASES.contains(&k.as_str());
            if !known {
                return Err(opt_err(k, v, "unknown option"));
            }
        }
        Ok(())
    }

    /// The checks of a table dyntable creates or alters that need its keys (a table another engine wrote with
    /// these settings still opens): a primary-key table needs fixed buckets, and partition expiration needs
    /// partitions and a table without the embedded log (dropping partitions writes no -D records to it).
    pub fn check_create(
        raw: &BTreeMap<String, String>,
        primary_key: bool,
        partition_keys: &[String],
        log_embedded: bool,
    ) -> Result<()> {
        if let Some(v) = raw.get(BUCKET) {
            if primary_key && v.trim() == "-1" {
                return Err(opt_err(
                    BUCKET,
                    v,
                    "dyntable does not support dynamic buckets for primary-key tables: set a positive number of buckets",
                ));
            }
        }
        PartitionExpireOptions::check_create(raw, partition_keys)?;
        // Aggregate functions only mean something to the engines that fold (Java ignores them elsewhere).
        let engine = raw.get("merge-engine").map(|e| e.trim().to_ascii_lowercase());
        if !matches!(engine.as_deref(), Some("aggregation") | Some("partial-update")) {
            let folding = |k: &&String| {
                k.as_str() == "fields.default-aggregate-function"
                    || k.starts_with("fields.")
                        && [".aggregate-function", ".ignore-retract", ".distinct", ".list-agg-delimiter"]
                            .iter()
                            .any(|suffix| k.ends_with(suffix))
            };
            if let Some(k) = raw.keys().find(folding) {
                return Err(opt_err(
                    k,
                    &raw[k],
                    &format!(
                        "applies to merge-engine 'aggregation' or 'partial-update', not '{}'",
                        engine.as_deref().unwrap_or("deduplicate")
                    ),
                ));
            }
        }
        if let (true, Some(v)) = (log_embedded, raw.get(super::partition::PARTITION_EXPIRATION_TIME)) {
            return Err(opt_err(
                super::partition::PARTITION_EXPIRATION_TIME,
                v,
                "dyntable does not support partition expiration with `log.system` = 'embedded': dropping partitions writes no -D records to the log",
            ));
        }
        Ok(())
    }

    /// Checks the options that depend on whether the table has a primary key: `lookup` and `full-compaction`
    /// need one (an append table's files are its changelog).
    pub fn check_for_table(&self, primary_key: bool) -> Result<()> {
        if !primary_key
            && matches!(self.changelog_producer, ChangelogProducer::Lookup | ChangelogProducer::FullCompaction)
        {
            return Err(opt_err(
                CHANGELOG_PRODUCER,
                self.changelog_producer.name(),
                "needs a primary key: an append table (no primary key) has no merged rows to look up or compact",
            ));
        }
        Ok(())
    }

    pub fn target_file_size(&self, primary_key: bool) -> u64 {
        self.target_file_size.unwrap_or(if primary_key { 128 << 20 } else { 256 << 20 })
    }
}

fn parse_stats_mode(v: &str) -> Option<StatsMode> {
    let l = v.trim().to_ascii_lowercase();
    match l.as_str() {
        "none" => Some(StatsMode::None),
        "counts" => Some(StatsMode::Counts),
        "full" => Some(StatsMode::Full),
        _ => {
            let n = l.strip_prefix("truncate(")?.strip_suffix(')')?.trim().parse::<usize>().ok()?;
            (n > 0).then_some(StatsMode::Truncate(n))
        }
    }
}

#[cfg(test)]
#[path = "core_options_tests.rs"]
mod tests;
