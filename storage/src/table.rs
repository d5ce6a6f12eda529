//! A table handle over the format pieces: open/create, write + commit, plan + read, tags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::TryStreamExt;

use crate::changelog::{bucket_log_dir, decode_changes, log_buckets, ChangeConformer, LogConfig, TableLog, LOG_DIR};
use crate::commit::{OverwriteScope, TableCommit};
use crate::compact::{sorted_run_count, BucketCompactor, CompactionMetrics};
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::manifest::{ManifestCache, ManifestEntry, ManifestStore};
use crate::predicate::Predicate;
use crate::read::{BatchStream, TableRead};
use crate::scan::{live_entries, max_sequence_numbers, plan, resolve_snapshot, ScanFrom, ScanPlan};
use crate::schema::{SchemaManager, TableSchema};
use crate::snapshot::{Snapshot, SnapshotManager};
use crate::write::{CommitMessage, TableWrite};

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
    pub fn io(&self) -> &FileIO {
        &self.io
    }
    pub fn snapshot_manager(&self) -> SnapshotManager {
        SnapshotManager::new(self.io.clone())
    }
    pub fn manifest_store(&self) -> ManifestStore {
        ManifestStore::new(self.io.clone()).with_cache(self.manifest_cache.clone())
    }

    /// Keeps decoded manifests in `cache` between scans of this handle (manifest files never change).
    pub fn with_manifest_cache(mut self, cache: Arc<ManifestCache>) -> Self {
        self.manifest_cache = Some(cache);
        self
    }

    /// A writer continuing the sequence numbers of the latest snapshot.
    pub async fn new_write(&self) -> Result<TableWrite> {
        let entries = match self.snapshot_manager().latest().await? {
            Some(s) => live_entries(&self.manifest_store(), &s).await?,
            None => Vec::new(),
        };
        TableWrite::new(self.io.clone(), self.schema.clone(), max_sequence_numbers(&entries))
    }

    pub fn new_commit(&self, commit_user: impl Into<String>) -> Result<TableCommit> {
        TableCommit::new(self.io.clone(), self.schema.clone(), commit_user.into())
    }

    /// A writer and committer pair with its own commit user, numbering its commits 1, 2, 3...
    pub async fn writer(&self) -> Result<TableWriter> {
        let options = self.schema.options()?;
        let write_only = options.write_only;
        let compactor = if self.schema.primary_keys.is_empty() || write_only {
            None
        } else {
            Some(Arc::new(BucketCompactor::new(self.io.clone(), self.schema.clone())?))
        };
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
            compactor,
            running: None,
            metrics: WriteMetrics::default(),
            wait_compaction: options.force_compact,
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
        let latest = self.snapshot_manager().latest().await?;
        let committed = match &latest {
            Some(s) => crate::stream::recorded_log_offsets(self, s).await?,
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
    async fn replay_log(&self, log: &TableLog, plan: &LogRecoveryPlan, write: &mut TableWrite) -> Result<u64> {
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
                write.replay(&values, &decoded.kinds).await?;
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
        plan(&self.manifest_store(), &self.schema, snapshot, filter).await
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
        let (messages, metrics) = compact_table(self, &compactor, full, partition).await?;
        if messages.is_empty() {
            return Ok((None, metrics));
        }
        let commit = self.new_commit(self.io.seams().new_id())?;
        let ids = commit.commit(&messages, crate::snapshot::BATCH_COMMIT_IDENTIFIER).await?;
        Ok((ids.last().copied(), metrics))
    }

    pub async fn delete_tag(&self, name: &str) -> Result<()> {
        self.snapshot_manager().delete_tag(name).await
    }
}

/// What a writer did, for write-amplification accounting.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WriteMetrics {
    /// Arrow bytes of the rows handed to `write` (the logical input).
    pub logical_bytes: u64,
    pub rows: u64,
    /// Bytes of level-0 files flushed from the write buffer.
    pub flushed_bytes: u64,
    pub flushed_files: u64,
    pub compaction: CompactionMetrics,
    /// Compactions discarded because another writer changed the same files first.
    pub compaction_conflicts: u64,
    /// Commits that waited for compaction because a bucket had more sorted runs than the stop trigger.
    pub stalls: u64,
}

impl WriteMetrics {
    /// (flushed + compaction-written bytes) / flushed bytes.
    pub fn write_amplification(&self) -> f64 {
        if self.flushed_bytes == 0 {
            return 0.0;
        }
        (self.flushed_bytes + self.compaction.bytes_written()) as f64 / self.flushed_bytes as f64
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
struct LogRecoveryPlan {
    from: BTreeMap<i32, (i64, i64)>,
    report: LogRecovery,
}

type CompactionTask = tokio::task::JoinHandle<Result<(Vec<CommitMessage>, CompactionMetrics)>>;

/// Writes and commits with one commit user; each `commit` publishes an `APPEND` snapshot, then a `COMPACT`
/// snapshot when a background compaction has finished. Compaction runs in the background while writes go on;
/// a commit waits for it (a write stall) when a bucket has more sorted runs than `num-sorted-run.stop-trigger`.
/// Tables with `write-only = true` never compact here.
pub struct TableWriter {
    table: FileStoreTable,
    log: Option<Arc<TableLog>>,
    recovery: LogRecovery,
    write: TableWrite,
    commit: TableCommit,
    next_identifier: i64,
    compactor: Option<Arc<BucketCompactor>>,
    running: Option<CompactionTask>,
    metrics: WriteMetrics,
    wait_compaction: bool,
}

impl TableWriter {
    pub fn with_row_kind_column(mut self, column: Option<String>) -> Self {
        self.write = self.write.with_row_kind_column(column);
        self
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write.write(batch).await?;
        self.metrics.rows += batch.num_rows() as u64;
        self.metrics.logical_bytes += batch.columns().iter().map(|c| c.get_array_memory_size() as u64).sum::<u64>();
        Ok(())
    }

    pub fn buffered_bytes(&self) -> usize {
        self.write.buffered_bytes()
    }

    pub fn metrics(&self) -> &WriteMetrics {
        &self.metrics
    }

    /// What opening this writer recovered from the embedded log (empty without one).
    pub fn log_recovery(&self) -> &LogRecovery {
        &self.recovery
    }

    /// The embedded logs this writer appends to (`None` unless `log.system = 'embedded'`).
    pub fn table_log(&self) -> Option<&Arc<TableLog>> {
        self.log.as_ref()
    }

    /// Commits everything written since the last commit; returns the id of the last snapshot made (`None`
    /// when there was nothing to commit).
    pub async fn commit(&mut self) -> Result<Option<i64>> {
        let messages = self.write.prepare_commit().await?;
        for m in &messages {
            self.metrics.flushed_files += m.new_files.len() as u64;
            self.metrics.flushed_bytes += m.new_files.iter().map(|f| f.file_size as u64).sum::<u64>();
        }
        let identifier = self.next_identifier;
        self.next_identifier += 1;
        let log_offsets = self.log.as_ref().map(|log| log.next_offsets());
        let committed = self.commit.commit_with_log_offsets(&messages, identifier, log_offsets).await;
        if let Err(e) = &committed {
            // The files of this commit are not in a snapshot, but their changes are in the log: a later commit
            // must not record offsets past them. Reopening replays them.
            self.write.stop_after_failure(format!("commit failed: {e}"));
        }
        let mut last = committed?.last().copied();
        if let Some(log) = &self.log {
            log.upload_sealed().await?;
            apply_log_retention(&self.table, log).await?;
        }
        if self.compactor.is_none() {
            return Ok(last);
        }
        if self.wait_compaction {
            // `commit.force-compact`: every commit waits for compaction, as Paimon's batch writers do.
            if let Some(id) = self.commit_running().await? {
                last = Some(id);
            }
            self.start_compaction(false)?;
            if let Some(id) = self.commit_running().await? {
                last = Some(id);
            }
            return Ok(last);
        }
        // Stall: a bucket over the stop trigger waits for the running compaction, then compacts now.
        let stop = self.compactor.as_ref().expect("checked").options().num_sorted_run_stop_trigger as usize;
        let mut over = self.buckets_over(stop, &messages).await?;
        let finished = self.running.as_ref().is_some_and(|t| t.is_finished());
        if finished || (!over.is_empty() && self.running.is_some()) {
            if !over.is_empty() && !finished {
                self.metrics.stalls += 1;
            }
            if let Some(id) = self.commit_running().await? {
                last = Some(id);
                // Only a committed compaction changes the runs: plan again just then.
                over = self.buckets_over(stop, &messages).await?;
            }
        }
        if !over.is_empty() {
            self.metrics.stalls += 1;
            self.start_compaction(false)?;
            if let Some(id) = self.commit_running().await? {
                last = Some(id);
            }
        }
        if self.running.is_none() {
            self.start_compaction(false)?;
        }
        Ok(last)
    }

    /// Buckets touched by `messages` whose live sorted runs exceed `stop`.
    async fn buckets_over(
        &self,
        stop: usize,
        messages: &[CommitMessage],
    ) -> Result<Vec<(Vec<crate::datum::Datum>, i32)>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let plan = self.table.plan(&ScanFrom::Latest, None).await?;
        Ok(plan
            .splits
            .iter()
            .filter(|s| messages.iter().any(|m| m.bucket == s.bucket && m.partition == s.partition))
            .filter(|s| sorted_run_count(&s.files) > stop)
            .map(|s| (s.partition.clone(), s.bucket))
            .collect())
    }

    /// Waits for the running compaction and commits it as a `COMPACT` snapshot; a conflict with another
    /// writer's compaction of the same files discards it (the files it wrote become orphans).
    async fn commit_running(&mut self) -> Result<Option<i64>> {
        let Some(task) = self.running.take() else { return Ok(None) };
        // Each COMPACT commit gets its own identifier, so idempotence checks never confuse two of them.
        let identifier = self.next_identifier;
        self.next_identifier += 1;
        let (messages, metrics) = task.await.map_err(|e| Error::Internal(format!("compaction task failed: {e}")))??;
        if messages.is_empty() {
            return Ok(None);
        }
        match self.commit.commit(&messages, identifier).await {
            Ok(ids) => {
                self.metrics.compaction.add(&metrics);
                Ok(ids.last().copied())
            }
            Err(Error::Conflict(_)) => {
                self.metrics.compaction_conflicts += 1;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Starts compacting, in the background, every bucket of the latest snapshot the policy picks.
    fn start_compaction(&mut self, full: bool) -> Result<()> {
        let Some(compactor) = self.compactor.clone() else { return Ok(()) };
        let table = self.table.clone();
        self.running = Some(tokio::spawn(async move { compact_table(&table, &compactor, full, None).await }));
        Ok(())
    }

    /// Waits for a running compaction and commits it (for a clean shutdown).
    pub async fn finish(&mut self) -> Result<Option<i64>> {
        self.commit_running().await
    }

    /// Makes every commit wait for compaction (as `commit.force-compact = true` does).
    pub fn with_wait_compaction(mut self, wait: bool) -> Self {
        self.wait_compaction = wait;
        self
    }

    /// Replaces the rows in `scope` with what was written since the last commit.
    pub async fn overwrite(&mut self, scope: OverwriteScope) -> Result<i64> {
        if self.log.is_some() {
            // The rows are in the log already, so they stay buffered: the next commit commits them, keeping
            // the log and the snapshots in agreement. Callers check `FileStoreTable::check_overwrite` first.
            self.table.check_overwrite()?;
        }
        let messages = self.write.prepare_commit().await?;
        let identifier = self.next_identifier;
        self.next_identifier += 1;
        self.commit.overwrite(&messages, scope, identifier).await
    }

    pub fn commit_user(&self) -> &str {
        self.commit.commit_user()
    }
}

/// Deletes sealed log segments no reader can need: below, per bucket, the offsets of the earliest retained
/// snapshot (nothing while snapshot 1 is retained) and of every registered consumer.
pub async fn apply_log_retention(table: &FileStoreTable, log: &TableLog) -> Result<usize> {
    if !log.has_sealed_segments() {
        return Ok(0);
    }
    let snapshots = table.snapshot_manager();
    let Some(earliest_id) = snapshots.earliest_id().await? else { return Ok(0) };
    // With snapshot 1 retained every change can still be read (`from-snapshot 1`), so nothing may go (and the
    // consumers need not be read); once snapshots expired, the earliest start point is the earliest snapshot's
    // rows plus the changes after its offsets.
    if earliest_id <= 1 {
        return Ok(0);
    }
    let earliest = crate::stream::recorded_log_offsets(table, &snapshots.snapshot(earliest_id).await?).await?;
    let mut keep: BTreeMap<i32, i64> =
        log.next_offsets().keys().map(|b| (*b, earliest.get(b).copied().unwrap_or(0))).collect();
    for (_, consumer) in crate::stream::list_consumers(table).await? {
        let needed = crate::stream::consumer_needed_offsets(table, &consumer).await?;
        for (bucket, offset) in keep.iter_mut() {
            *offset = (*offset).min(needed.get(bucket).copied().unwrap_or(0));
        }
    }
    log.truncate_before(&keep).await
}

/// Compacts the buckets of the latest snapshot (those matching `partition`, if given) and returns the commit
/// messages and what was written; nothing is committed.
pub async fn compact_table(
    table: &FileStoreTable,
    compactor: &BucketCompactor,
    full: bool,
    partition: Option<&Predicate>,
) -> Result<(Vec<CommitMessage>, CompactionMetrics)> {
    let plan = table.plan(&ScanFrom::Latest, partition).await?;
    let mut messages = Vec::new();
    let mut metrics = CompactionMetrics::default();
    for split in &plan.splits {
        if let Some((m, x)) = compactor.compact(split, full).await? {
            messages.push(m);
            metrics.add(&x);
        }
    }
    Ok((messages, metrics))
}
