//! A table handle over the format pieces: open/create, write + commit, plan + read, tags, and the maintenance
//! operations (expiration, rollback, orphan cleanup).
//!
//! Layering: [`crate::stream`] (the change reader) sits above this module; this module sits above
//! [`crate::consumer`] (consumer files and recorded log offsets, for log recovery and retention) and
//! [`crate::compact`] (the compaction job and the scheduler a [`TableWriter`] owns). It imports neither
//! `stream` nor anything that imports it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::TryStreamExt;

use crate::changelog::{bucket_log_dir, decode_changes, log_buckets, ChangeConformer, TableLog, LOG_DIR};
use crate::commit::{OverwriteScope, TableCommit};
use crate::compact::{compact_latest, BucketCompactor, CompactionMetrics, CompactionScheduler};
use crate::consumer::{recorded_log_offsets, ConsumerStore};
use crate::error::{Error, Result};
use crate::expire::{ExpireConfig, ExpireSnapshots};
use crate::incremental::{self, ChangeScanMode};
use crate::io::FileIO;
use crate::manifest::{ManifestCache, ManifestEntry, ManifestStore};
use crate::options::LogConfig;
use crate::orphan::{OrphanFilesClean, OrphanReport};
use crate::partition_expire::{partition_rows, PartitionDrop, PartitionExpireReport, PartitionSpec};
use crate::predicate::Predicate;
use crate::read::{BatchStream, TableRead};
use crate::rollback::{Rollback, RollbackReport, RollbackTarget};
use crate::scan::{live_entries, max_sequence_numbers, plan, resolve_snapshot, ScanFrom, ScanPlan};
use crate::schema::{SchemaManager, TableSchema};
use crate::schema_change::SchemaChange;
use crate::snapshot::{Snapshot, SnapshotManager};
use crate::write::FileStoreWrite;

#[derive(Clone, Debug)]
pub struct FileStoreTable {
    io: FileIO,
    name: String,
    schema: Arc<TableSchema>,
    /// Local directory of the embedded logs (`log.system = 'embedded'`), when the table has a place for them.
    log_dir: Option<PathBuf>,
    /// The logs live outside the table directory (an object-store warehouse): writers upload sealed segments
    /// to the table's `log/` so readers elsewhere can read them.
    log_upload: bool,
    /// Decoded manifests kept between scans (opt-in; the SQL layer sets one).
    manifest_cache: Option<Arc<ManifestCache>>,
}

impl FileStoreTable {
    /// Opens the table rooted at `io` with its latest schema.
    pub async fn open(io: FileIO, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let schema = SchemaManager::new(io.clone())
            .latest()
            .await?
            .ok_or_else(|| Error::NotFound(format!("table `{name}` (no schema under `{}`)", io.root)))?;
        schema.validate().map_err(|e| Error::corrupt(io.path(&format!("schema/schema-{}", schema.id)), e))?;
        Ok(FileStoreTable {
            io,
            name,
            schema: Arc::new(schema),
            log_dir: None,
            log_upload: false,
            manifest_cache: None,
        })
    }

    /// Creates the table by publishing `schema/schema-0`; fails if it exists.
    pub async fn create(io: FileIO, name: impl Into<String>, schema: TableSchema) -> Result<Self> {
        let name = name.into();
        schema.validate()?;
        let schema = SchemaManager::new(io.clone()).commit(&schema).await.map_err(|e| match e {
            Error::AlreadyExists(_) => Error::AlreadyExists(format!("table `{name}`")),
            other => other,
        })?;
        Ok(FileStoreTable {
            io,
            name,
            schema: Arc::new(schema),
            log_dir: None,
            log_upload: false,
            manifest_cache: None,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets where the table's embedded logs live (a local directory; see [`crate::changelog`]).
    pub fn with_log_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.log_dir = dir;
        self
    }

    /// Makes writers upload sealed log segments to the table's `log/` in its object store (for logs kept in a
    /// local directory outside an object-store warehouse).
    pub fn with_log_upload(mut self, upload: bool) -> Self {
        self.log_upload = upload;
        self
    }

    pub fn log_dir(&self) -> Option<&Path> {
        self.log_dir.as_deref()
    }

    /// The table's log options.
    pub fn log_config(&self) -> Result<LogConfig> {
        LogConfig::from_options(&self.schema.options)
    }

    /// Fails for a table whose changelog cannot express an overwrite (the replaced rows would have no -D
    /// records); call it before writing the rows of an overwrite.
    pub fn check_overwrite(&self) -> Result<()> {
        let producer = self.schema.options()?.changelog_producer;
        if !self.schema.primary_keys.is_empty() && producer == crate::options::ChangelogProducer::Lookup {
            return Err(Error::invalid(format!(
                "table `{}` has `changelog-producer` = 'lookup', whose changelog cannot express an overwrite: the replaced rows would have no -D records; delete and insert instead",
                self.name
            )));
        }
        if self.log_config()?.embedded {
            return Err(Error::invalid(format!(
                "table `{}` keeps an embedded changelog (`log.system` = 'embedded'), which cannot express an overwrite: the replaced rows would have no -D records; delete and insert instead",
                self.name
            )));
        }
        Ok(())
    }

    /// The log directory of a table with `log.system = 'embedded'`, or an error saying why there is none.
    pub fn require_log_dir(&self) -> Result<&Path> {
        if !self.log_config()?.embedded {
            return Err(Error::invalid(format!(
                "table `{}` keeps no changelog: set `log.system` = 'embedded' to tail it",
                self.name
            )));
        }
        self.log_dir.as_deref().ok_or_else(|| {
            Error::invalid(format!(
                "table `{}` has `log.system` = 'embedded' but no local log directory: open it from a local warehouse, or give the catalog one (`--log-dir`, Catalog::with_log_dir)",
                self.name
            ))
        })
    }

    /// Creates the (empty) logs of a table with `log.system = 'embedded'`, so readers can tail it before the
    /// first write. Does nothing for other tables or when there is no log directory.
    pub fn create_logs(&self) -> Result<()> {
        let config = self.log_config()?;
        if let (true, Some(dir)) = (config.embedded, &self.log_dir) {
            TableLog::open(dir, &config, &log_buckets(&self.schema)?)?;
        }
        Ok(())
    }
    pub fn schema(&self) -> &Arc<TableSchema> {
        &self.schema
    }

    /// Alters the table's columns: applies `changes` to the latest schema and publishes `schema/schema-N+1`
    /// atomically (see [`crate::schema_change`]); returns the new schema. This handle keeps its schema, as do
    /// writers already open (their files and log records carry their schema id and stay readable): open the
    /// table again to read and write with the new one, as Paimon's writers pick it up when restarted.
    pub async fn alter_columns(&self, changes: &[SchemaChange]) -> Result<TableSchema> {
        SchemaManager::new(self.io.clone()).commit_changes(changes).await
    }

    /// This table as of `from` with the schema that snapshot was committed with, as Java Paimon's time travel
    /// reads (`scan.snapshot-id`, `scan.tag-name`, ...): columns added since are absent, renamed ones carry
    /// their old names. A plain [`Self::scan`] of an old snapshot reads it in this handle's (latest) schema.
    pub async fn travel_to(&self, from: &ScanFrom) -> Result<FileStoreTable> {
        let Some(snapshot) = self.resolve(from).await? else { return Ok(self.clone()) };
        if snapshot.schema_id == self.schema.id {
            return Ok(self.clone());
        }
        let schema = SchemaManager::new(self.io.clone()).schema(snapshot.schema_id).await?;
        Ok(FileStoreTable { schema: Arc::new(schema), ..self.clone() })
    }
    pub fn io(&self) -> &FileIO {
        &self.io
    }
    pub fn snapshot_manager(&self) -> SnapshotManager {
        SnapshotManager::new(self.io.clone())
    }
    /// The table's long-lived changelogs (`changelog/changelog-N`, [`crate::long_lived`]).
    pub fn changelog_manager(&self) -> crate::long_lived::ChangelogManager {
        crate::long_lived::ChangelogManager::new(self.io.clone())
    }
    pub fn manifest_store(&self) -> ManifestStore {
        ManifestStore::new(self.io.clone()).with_cache(self.manifest_cache.clone())
    }
    /// The table's consumers (`consumer/consumer-<id>`).
    pub fn consumers(&self) -> ConsumerStore {
        ConsumerStore::new(self.io.clone())
    }

    /// Keeps decoded manifests in `cache` between scans of this handle (manifest files never change).
    pub fn with_manifest_cache(mut self, cache: Arc<ManifestCache>) -> Self {
        self.manifest_cache = Some(cache);
        self
    }

    /// A writer continuing the sequence numbers of the latest snapshot.
    pub async fn new_write(&self) -> Result<FileStoreWrite> {
        let entries = match self.snapshot_manager().latest().await? {
            Some(s) => live_entries(&self.manifest_store(), &s).await?,
            None => Vec::new(),
        };
        FileStoreWrite::new(self.io.clone(), self.schema.clone(), max_sequence_numbers(&entries))
    }

    pub fn new_commit(&self, commit_user: impl Into<String>) -> Result<TableCommit> {
        TableCommit::new(self.io.clone(), self.schema.clone(), commit_user.into())
    }

    /// A writer and committer pair with its own commit user, numbering its commits 1, 2, 3...
    pub async fn writer(&self) -> Result<TableWriter> {
        let compaction = CompactionScheduler::for_table(
            self.io.clone(),
            self.schema.clone(),
            self.snapshot_manager(),
            self.manifest_store(),
        )?;
        let (log, mut recovery) = self.open_log_for_write().await?;
        let mut write = self.new_write().await?.with_log(log.clone());
        if let Some(log) = &log {
            recovery.report.replayed_records = self.replay_log(log, &recovery, &mut write).await?;
        }
        Ok(TableWriter {
            table: self.clone(),
            log,
            recovery: recovery.report,
            write,
            commit: self.new_commit(self.io.seams().new_id())?,
            next_identifier: 1,
            compaction,
            expire: if self.schema.options()?.write_only { None } else { Some(self.expiration()?) },
            partition_expire: self.writer_partition_expire()?,
            metrics: WriteMetrics::default(),
        })
    }

    /// Opens the embedded logs for a writer and finds, per bucket, the records after the latest snapshot's
    /// offsets: acknowledged but not committed before a crash.
    async fn open_log_for_write(&self) -> Result<(Option<Arc<TableLog>>, LogRecoveryPlan)> {
        let config = self.log_config()?;
        if !config.embedded {
            return Ok((None, LogRecoveryPlan::default()));
        }
        let dir = self.require_log_dir()?;
        let (mut log, warnings) = TableLog::open(dir, &config, &log_buckets(&self.schema)?)?;
        if self.log_upload {
            log = log.with_upload(self.io.store.clone(), self.io.path(LOG_DIR));
        }
        let snapshots = self.snapshot_manager();
        let latest = snapshots.latest().await?;
        let committed = match &latest {
            Some(s) => recorded_log_offsets(&snapshots, s).await?,
            None => BTreeMap::new(),
        };
        let mut from = BTreeMap::new();
        for (bucket, end) in log.next_offsets() {
            let start = committed.get(&bucket).copied().unwrap_or(0);
            if start > end {
                return Err(Error::corrupt(
                    bucket_log_dir(dir, bucket).display(),
                    format!(
                        "the log of bucket {bucket} ends at offset {end} but snapshot {} recorded offset {start}: acknowledged records are missing from the log",
                        latest.as_ref().map_or(0, |s| s.id)
                    ),
                ));
            }
            from.insert(bucket, (start, end));
        }
        let report = LogRecovery {
            warnings,
            replayed_records: 0,
            replayed_from: from.iter().map(|(b, (start, _))| (*b, *start)).collect(),
        };
        Ok((Some(Arc::new(log)), LogRecoveryPlan { from, report }))
    }

    /// Buffers the uncommitted tail of every bucket's log into `write` (without appending it again).
    async fn replay_log(&self, log: &TableLog, plan: &LogRecoveryPlan, write: &mut FileStoreWrite) -> Result<u64> {
        let mut conformer = ChangeConformer::new(self.schema.clone(), SchemaManager::new(self.io.clone()));
        let mut replayed = 0;
        for (bucket, (start, end)) in &plan.from {
            if start == end {
                continue;
            }
            let reader = log
                .log(*bucket)?
                .read_from(*start as u64)
                .map_err(|e| Error::log(format!("replay the log of bucket {bucket}"), e))?;
            for batch in reader {
                let batch = batch.map_err(|e| Error::log(format!("replay the log of bucket {bucket}"), e))?;
                if batch.base_offset < *start as u64 {
                    // The first batch read may start before the committed offset only if offsets were
                    // recorded mid-batch, which a writer never does.
                    return Err(Error::corrupt(
                        bucket_log_dir(log.dir(), *bucket).display(),
                        format!("committed offset {start} falls inside the batch at offset {}", batch.base_offset),
                    ));
                }
                let decoded = decode_changes(&batch.payload).map_err(|e| {
                    Error::corrupt(
                        bucket_log_dir(log.dir(), *bucket).display(),
                        format!("log batch at offset {}: {e}", batch.base_offset),
                    )
                })?;
                let values = conformer.conform(&decoded).await?;
                let input = match &decoded.input {
                    Some(input) => Some(conformer.conform_values(decoded.schema_id, &input.values).await?),
                    None => None,
                };
                write.replay(&decoded, &values, input.as_ref()).await?;
                replayed += batch.record_count as u64;
            }
        }
        Ok(replayed)
    }

    pub fn new_read(&self, projection: Option<&[String]>, filter: Option<Predicate>) -> Result<TableRead> {
        TableRead::new(self.io.clone(), self.schema.clone(), projection, filter)
    }

    pub async fn resolve(&self, from: &ScanFrom) -> Result<Option<Snapshot>> {
        resolve_snapshot(&self.snapshot_manager(), from).await
    }

    pub async fn plan(&self, from: &ScanFrom, filter: Option<&Predicate>) -> Result<ScanPlan> {
        if let Some(f) = filter {
            f.validate(&self.schema)?;
        }
        let snapshot = self.resolve(from).await?;
        // A filter on a column with a default value cannot prune by statistics (its nulls read as the default).
        let defaults = self.schema.default_values()?;
        let prunable = filter.and_then(|f| f.without_columns(&defaults.columns()));
        plan(&self.manifest_store(), &self.schema, snapshot, prunable.as_ref()).await
    }

    /// Live manifest entries of a snapshot (all files, unpruned).
    pub async fn files(&self, from: &ScanFrom) -> Result<Vec<ManifestEntry>> {
        match self.resolve(from).await? {
            Some(s) => live_entries(&self.manifest_store(), &s).await,
            None => Ok(Vec::new()),
        }
    }

    /// Plans and streams a scan.
    pub async fn scan(
        &self,
        from: &ScanFrom,
        projection: Option<&[String]>,
        filter: Option<Predicate>,
    ) -> Result<(SchemaRef, BatchStream)> {
        let read = self.new_read(projection, filter.clone())?;
        let plan = self.plan(from, filter.as_ref()).await?;
        Ok((read.output_schema(), read.read_splits(plan.splits)))
    }

    /// The changes of snapshots `start + 1 ..= end` (Paimon's `incremental-between`), from delta or changelog
    /// files as `mode` says: batches of `rowkind` (`+I`, `-U`, `+U`, `-D`) and the table's columns. See
    /// [`crate::incremental`] for the semantics and errors.
    pub async fn incremental_between(
        &self,
        start: i64,
        end: i64,
        mode: ChangeScanMode,
    ) -> Result<(SchemaRef, BatchStream)> {
        let read = self.new_read(None, None)?;
        incremental::between(&self.snapshot_manager(), &self.manifest_store(), &read, &self.name, start, end, mode)
            .await
    }

    /// `incremental-between` = 'TAG1,TAG2': the difference between the two tagged snapshots, as Java Paimon
    /// reads it (see [`incremental::between_tags`]).
    pub async fn incremental_between_tags(&self, start: &str, end: &str) -> Result<(SchemaRef, BatchStream)> {
        let read = self.new_read(None, None)?;
        incremental::between_tags(&self.snapshot_manager(), &self.manifest_store(), &read, &self.name, start, end).await
    }

    /// `incremental-between-timestamp`: the changes of the snapshots committed after `start` up to `end`
    /// (milliseconds; see [`incremental::snapshots_between_timestamps`]), as [`Self::incremental_between`].
    pub async fn incremental_between_timestamps(
        &self,
        start: i64,
        end: i64,
        mode: ChangeScanMode,
    ) -> Result<(SchemaRef, BatchStream)> {
        let (from, to) = incremental::snapshots_between_timestamps(&self.snapshot_manager(), start, end).await?;
        if from == to {
            // Nothing committed in the range: no changes.
            let read = self.new_read(None, None)?;
            return Ok((incremental::change_schema(read.schema()), Box::pin(futures::stream::empty())));
        }
        self.incremental_between(from, to, mode).await
    }

    /// Scans into memory.
    pub async fn scan_collect(
        &self,
        from: &ScanFrom,
        projection: Option<&[String]>,
        filter: Option<Predicate>,
    ) -> Result<Vec<RecordBatch>> {
        let (_, s) = self.scan(from, projection, filter).await?;
        s.try_collect().await
    }

    pub async fn create_tag(&self, name: &str, snapshot_id: Option<i64>) -> Result<()> {
        let sm = self.snapshot_manager();
        let s = match snapshot_id {
            Some(id) => {
                resolve_snapshot(&sm, &ScanFrom::Snapshot(id)).await?.expect("snapshot by id resolves or errors")
            }
            None => sm
                .latest()
                .await?
                .ok_or_else(|| Error::invalid(format!("table `{}` has no snapshot to tag", self.name)))?,
        };
        sm.create_tag(name, &s).await
    }

    /// Compacts the table now (a minor compaction where the policy picks one, or a full one) and commits a
    /// `COMPACT` snapshot; returns its id (`None` when there was nothing to do) and what was written.
    pub async fn compact(&self, full: bool, partition: Option<&Predicate>) -> Result<(Option<i64>, CompactionMetrics)> {
        if self.schema.primary_keys.is_empty() {
            return Err(Error::invalid(format!(
                "table `{}` is an append table; dyntable compacts primary-key tables only",
                self.name
            )));
        }
        let compactor = BucketCompactor::new(self.io.clone(), self.schema.clone())?;
        let (messages, metrics) =
            compact_latest(&self.snapshot_manager(), &self.manifest_store(), &compactor, full, partition).await?;
        if messages.is_empty() {
            return Ok((None, metrics));
        }
        let commit = self.new_commit(self.io.seams().new_id())?;
        let ids = commit.commit(&messages, crate::snapshot::BATCH_COMMIT_IDENTIFIER).await?;
        self.expiration()?.expire().await?;
        Ok((ids.last().copied(), metrics))
    }

    pub async fn delete_tag(&self, name: &str) -> Result<()> {
        self.snapshot_manager().delete_tag(name).await
    }

    /// The table's snapshot expiration (see [`crate::expire`]), with its options.
    pub fn expiration(&self) -> Result<ExpireSnapshots> {
        ExpireSnapshots::new(self.io.clone(), self.schema.clone())
    }

    /// Expires snapshots now, as the table's options say except where `config` overrides them (Paimon's
    /// `expire_snapshots` procedure); returns how many snapshots expired. At most `snapshot.expire.limit` (or
    /// `config.max_deletes`) expire per call; the latest snapshot never does. With `log.system = 'embedded'`
    /// the log segments only expired snapshots needed are freed afterwards (by the table's next writer
    /// commit).
    pub async fn expire_snapshots(&self, config: &ExpireConfig) -> Result<usize> {
        Ok(self.expire_snapshots_report(config).await?.expired_snapshots)
    }

    /// Rolls the table back to `target` (Paimon's `rollback_to`): afterwards it reads as it did at the target and
    /// the next commit makes snapshot `target + 1`. Deletes the newer snapshots, the tags on them and the files
    /// only they used; consumers past the new latest are reset to `target + 1` (named in the report). An
    /// administrative operation: stop every writer of the table first. Refused for a table with the embedded
    /// log. See [`crate::rollback`].
    pub async fn rollback_to(&self, target: RollbackTarget) -> Result<RollbackReport> {
        Rollback::new(self.io.clone(), self.name.clone(), self.schema.clone())?.rollback_to(&target).await
    }

    /// Deletes the files under the table directory that no snapshot, tag or long-lived changelog references
    /// and that were last modified before `older_than_millis` (default: one day before now on the table's
    /// clock); with `dry_run` only reports them. See [`crate::orphan`].
    pub async fn remove_orphan_files(&self, older_than_millis: Option<i64>, dry_run: bool) -> Result<OrphanReport> {
        OrphanFilesClean::new(self.io.clone(), self.schema.clone())?.clean(older_than_millis, dry_run).await
    }

    fn partition_drop(&self) -> Result<PartitionDrop> {
        PartitionDrop::new(self.io.clone(), &self.name, self.schema.clone(), self.manifest_store())
    }

    /// A writer's partition expiration: `None` unless the table sets `partition.expiration-time`; the last
    /// check is the writer's opening.
    /// An unpartitioned table has nothing to expire (as in Java); a formatter or pattern dyntable cannot use
    /// fails here rather than after a commit.
    fn writer_partition_expire(&self) -> Result<Option<(PartitionDrop, i64)>> {
        let all = self.schema.options()?;
        let options = all.partition;
        // `write-only` writers leave partition expiration to the dedicated job too (as Java).
        if options.expiration_time.is_none() || self.schema.partition_keys.is_empty() || all.write_only {
            return Ok(None);
        }
        options.time_extractor(&self.schema.partition_keys)?;
        Ok(Some((self.partition_drop()?, self.io.seams().now_millis())))
    }

    /// Drops the partitions older than `partition.expiration-time` now (Paimon's `expire_partitions`), at
    /// `now_override` (ms since the epoch) or the table's clock, in one `OVERWRITE` snapshot; partitions whose
    /// values make no time are skipped and reported. Refused for tables with the embedded log or without the
    /// option. See [`crate::partition_expire`].
    pub async fn expire_partitions(&self, now_override: Option<i64>) -> Result<PartitionExpireReport> {
        self.expire_partitions_with(&BTreeMap::new(), now_override, None).await
    }

    /// [`Self::expire_partitions`] with some `partition.*` options overridden for this run (Paimon's
    /// `expire_partitions` procedure arguments); the overrides are validated as the options are.
    pub async fn expire_partitions_with(
        &self,
        overrides: &BTreeMap<String, String>,
        now_override: Option<i64>,
        max_expires: Option<usize>,
    ) -> Result<PartitionExpireReport> {
        let drop = if overrides.is_empty() {
            self.partition_drop()?
        } else {
            let mut schema = self.schema.as_ref().clone();
            schema.options.extend(overrides.clone());
            crate::options::CoreOptions::check_known_keys(&schema.options)?;
            schema.validate()?;
            PartitionDrop::new(self.io.clone(), &self.name, Arc::new(schema), self.manifest_store())?
        };
        let now = now_override.unwrap_or_else(|| self.io.seams().now_millis());
        let (mut expired, skipped) = drop.expired(now).await?;
        if let Some(max) = max_expires {
            // Paimon's `max_expires`: the oldest partitions first.
            expired.sort_by(|a, b| a.1.cmp(&b.1));
            expired.truncate(max);
        }
        let mut report = PartitionExpireReport { skipped, ..Default::default() };
        if !expired.is_empty() {
            let commit = self.new_commit(self.io.seams().new_id())?;
            let scope = OverwriteScope::PartitionRows(partition_rows(&expired));
            report.snapshot_id = Some(commit.overwrite(&[], scope, crate::snapshot::BATCH_COMMIT_IDENTIFIER).await?);
            report.expired = expired.into_iter().map(|(_, spec)| spec).collect();
        }
        Ok(report)
    }

    /// Drops the partitions matching any of `specs` (`ALTER TABLE t DROP PARTITION (dt = 'x')`: partition key
    /// -> value as the partition directories spell it) in one `OVERWRITE` snapshot; returns the partitions
    /// dropped (none, and no snapshot, when nothing matched). Refused for tables with the embedded log.
    pub async fn drop_partitions(&self, specs: &[BTreeMap<String, String>]) -> Result<Vec<PartitionSpec>> {
        let found = self.partition_drop()?.matching(specs).await?;
        if !found.is_empty() {
            let commit = self.new_commit(self.io.seams().new_id())?;
            let scope = OverwriteScope::PartitionRows(partition_rows(&found));
            commit.overwrite(&[], scope, crate::snapshot::BATCH_COMMIT_IDENTIFIER).await?;
        }
        Ok(found.into_iter().map(|(_, spec)| spec).collect())
    }

    /// [`Self::expire_snapshots`] with what the run deleted.
    pub async fn expire_snapshots_report(&self, config: &ExpireConfig) -> Result<crate::expire::ExpireReport> {
        self.expiration()?.expire_with(config).await
    }
}

/// What opening a writer found in the embedded log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogRecovery {
    /// Repairs the log store made (a truncated torn tail, rebuilt indexes), for the caller to show.
    pub warnings: Vec<String>,
    /// Records after the latest snapshot's offsets (acknowledged, not committed before a crash) now buffered
    /// again; the next commit commits them.
    pub replayed_records: u64,
    /// Per bucket, the offset the replay started at (the latest snapshot's offset).
    pub replayed_from: BTreeMap<i32, i64>,
}

#[derive(Debug, Default)]
pub(super) struct LogRecoveryPlan {
    from: BTreeMap<i32, (i64, i64)>,
    report: LogRecovery,
}

mod writer;
pub use writer::{TableWriter, WriteMetrics};
