//! Partition expiration and dropping (Java Paimon's `PartitionExpire` with the `values-time` strategy, and
//! `FileStoreCommit.dropPartitions`).
//!
//! **Which partitions.** With `partition.expiration-time` = T, a partition of the latest snapshot expires when
//! its time (from its values, see [`crate::options::partition`]) is before `now - T`. A partition whose values
//! do not make a time (they do not match the formatter, or a value is null) is skipped and reported, as Java
//! skips it with a log line. [`PartitionDrop::matching`] finds the partitions of given specs instead (`ALTER
//! TABLE t DROP PARTITION (dt = 'x')`): a spec names some partition keys with their values as the partition
//! directories spell them (`partition.default-name` for null).
//!
//! **How.** The partitions go in one `OVERWRITE` snapshot whose delta DELETEs every live file of them and adds
//! nothing ([`crate::commit::OverwriteScope::PartitionRows`]); older snapshots still read them, and snapshot
//! expiration deletes the files later. Nothing is dropped, and no snapshot is made, when no partition matches.
//!
//! **When.** A [`crate::TableWriter`] checks after a commit, at most once per
//! `partition.expiration-check-interval` (the first check one interval after the writer opened, as Java; an
//! interval of 0 checks after every commit), on the table's clock; `FileStoreTable::expire_partitions` and
//! `drop_partitions` run on demand.
//!
//! **Refused** for tables with the embedded log (`log.system` = 'embedded'): the log would keep the dropped
//! rows without -D records. With `changelog-producer` = 'lookup', dropped rows get no -D changelog rows either
//! (as in Java); the writer that drops forgets its key states of the dropped partitions, but another running
//! writer of the table keeps its own: an administrative operation, as in Paimon.
//!
//! Layering: below [`crate::table`]; needs the table's [`FileIO`], schema, snapshots and manifests.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::binary_row::deserialize_row;
use crate::datafile::escape_path_name;
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::manifest::ManifestStore;
use crate::options::partition::PARTITION_EXPIRATION_TIME;
use crate::options::{LogConfig, PartitionExpireOptions, PartitionTimeExtractor};
use crate::scan::live_entries;
use crate::schema::TableSchema;
use crate::snapshot::SnapshotManager;

/// A partition's values: (partition key, value) in partition-key order, values spelled as in the partition's
/// directory name (unescaped), null as `partition.default-name`.
pub type PartitionSpec = Vec<(String, String)>;

/// What one partition expiration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionExpireReport {
    /// The partitions dropped.
    pub expired: Vec<PartitionSpec>,
    /// Partitions whose values make no time, with the reason; left in place.
    pub skipped: Vec<(PartitionSpec, String)>,
    /// The `OVERWRITE` snapshot that dropped them (`None` when nothing expired).
    pub snapshot_id: Option<i64>,
}

/// Finds the partitions of a table to drop: expired ones, or those matching specs.
#[derive(Debug, Clone)]
pub struct PartitionDrop {
    name: String,
    schema: Arc<TableSchema>,
    options: PartitionExpireOptions,
    default_name: String,
    snapshots: SnapshotManager,
    manifests: ManifestStore,
}

/// A partition found to drop: its serialized row (what the overwrite matches) and its spec.
pub type FoundPartition = (Vec<u8>, PartitionSpec);

impl PartitionDrop {
    /// For the table `name` rooted at `table_io`. Fails for a table with the embedded log or without
    /// partition keys, saying why.
    pub fn new(table_io: FileIO, name: &str, schema: Arc<TableSchema>, manifests: ManifestStore) -> Result<Self> {
        if LogConfig::from_options(&schema.options)?.embedded {
            return Err(Error::invalid(format!(
                "table `{name}` keeps an embedded changelog (`log.system` = 'embedded'): dyntable does not drop or expire its partitions, since the log would keep the dropped rows without -D records"
            )));
        }
        if schema.partition_keys.is_empty() {
            return Err(Error::invalid(format!("table `{name}` has no partition keys: there is no partition to drop")));
        }
        let options = schema.options()?;
        Ok(PartitionDrop {
            name: name.to_string(),
            options: options.partition.clone(),
            default_name: options.partition_default_name.clone(),
            schema,
            snapshots: SnapshotManager::new(table_io),
            manifests,
        })
    }

    /// `partition.expiration-time`, if set.
    pub fn expiration_time(&self) -> Option<Duration> {
        self.options.expiration_time
    }

    /// `partition.expiration-check-interval`.
    pub fn check_interval(&self) -> Duration {
        self.options.check_interval
    }

    /// The partitions of the latest snapshot, each once, ordered by their serialized rows.
    async fn partitions(&self) -> Result<Vec<FoundPartition>> {
        let Some(latest) = self.snapshots.latest().await? else { return Ok(Vec::new()) };
        let types = self.schema.partition_types();
        let mut rows: BTreeMap<Vec<u8>, ()> = BTreeMap::new();
        for e in live_entries(&self.manifests, &latest).await? {
            rows.insert(e.partition, ());
        }
        rows.into_keys()
            .map(|row| {
                let values = deserialize_row(&row, &types)?;
                let spec = self
                    .schema
                    .partition_keys
                    .iter()
                    .zip(values)
                    .map(|(k, v)| {
                        let text = if v.is_null() { self.default_name.clone() } else { v.to_partition_string() };
                        (k.clone(), text)
                    })
                    .collect();
                Ok((row, spec))
            })
            .collect()
    }

    /// The partitions whose time is before `now_millis - partition.expiration-time`, and those skipped
    /// because their values make no time. Fails when the table sets no expiration time or its formatter or
    /// pattern is one dyntable cannot use.
    pub async fn expired(&self, now_millis: i64) -> Result<(Vec<FoundPartition>, Vec<(PartitionSpec, String)>)> {
        let ttl = self.options.expiration_time.ok_or_else(|| Error::InvalidOption {
            key: PARTITION_EXPIRATION_TIME.into(),
            value: String::new(),
            reason: format!("table `{}` sets no partition expiration time: set it to expire partitions", self.name),
        })?;
        let extractor: PartitionTimeExtractor = self.options.time_extractor(&self.schema.partition_keys)?;
        let before = now_millis.saturating_sub(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let keys = &self.schema.partition_keys;
        let types = self.schema.partition_types();
        let (mut expired, mut skipped) = (Vec::new(), Vec::new());
        for (row, spec) in self.partitions().await? {
            if deserialize_row(&row, &types)?.iter().any(|v| v.is_null()) {
                skipped.push((spec, "a partition value is null".to_string()));
                continue;
            }
            let values: Vec<String> = spec.iter().map(|(_, v)| v.clone()).collect();
            match extractor.extract(keys, &values) {
                Ok(time) if time.and_utc().timestamp_millis() < before => expired.push((row, spec)),
                Ok(_) => {}
                Err(reason) => skipped.push((spec, reason)),
            }
        }
        Ok((expired, skipped))
    }

    /// The partitions matching any of `specs` (partition key -> value, as the partition directories spell
    /// values; a spec may name a prefix or any subset of the keys). Fails on an empty spec or one naming a
    /// column that is not a partition key.
    pub async fn matching(&self, specs: &[BTreeMap<String, String>]) -> Result<Vec<FoundPartition>> {
        for spec in specs {
            if spec.is_empty() {
                return Err(Error::invalid(format!(
                    "an empty partition spec would drop every partition of table `{}`; name the partition values",
                    self.name
                )));
            }
            if let Some(k) = spec.keys().find(|k| !self.schema.partition_keys.contains(k)) {
                return Err(Error::invalid(format!(
                    "`{k}` is not a partition key of table `{}` (partition keys: {:?})",
                    self.name, self.schema.partition_keys
                )));
            }
        }
        let found = self.partitions().await?;
        Ok(found
            .into_iter()
            .filter(|(_, values)| {
                specs.iter().any(|spec| {
                    spec.iter().all(|(k, v)| {
                        values.iter().any(|(key, value)| key == k && (value == v || escape_path_name(value) == *v))
                    })
                })
            })
            .collect())
    }
}

/// The serialized rows of `found`, the scope of the overwrite that drops them.
pub fn partition_rows(found: &[FoundPartition]) -> HashSet<Vec<u8>> {
    found.iter().map(|(row, _)| row.clone()).collect()
}

#[cfg(test)]
#[path = "partition_expire_tests.rs"]
mod tests;
