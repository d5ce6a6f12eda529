//! The user-facing writer of a table ([`TableWriter`]): the write path with the embedded log, commits,
//! expiration after commits, partition expiration, background compaction and log retention.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;

use super::{FileStoreTable, LogRecovery};
use crate::changelog::TableLog;
use crate::commit::{OverwriteScope, TableCommit};
use crate::compact::{CompactionMetrics, CompactionScheduler, SchedulerMetrics};
use crate::consumer::{consumer_needed_offsets, recorded_log_offsets};
use crate::error::Result;
use crate::expire::ExpireSnapshots;
use crate::partition_expire::{partition_rows, PartitionDrop};
use crate::write::FileStoreWrite;

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
    /// Snapshots expired after this writer's commits.
    #[serde(default)]
    pub expired_snapshots: u64,
    /// Partitions dropped by `partition.expiration-time` after this writer's commits.
    #[serde(default)]
    pub expired_partitions: u64,
}

impl WriteMetrics {
    /// Takes the compaction counters of the writer's scheduler (the only thing that changes them).
    fn record_compaction(&mut self, scheduler: &SchedulerMetrics) {
        self.compaction = scheduler.compaction.clone();
        self.compaction_conflicts = scheduler.conflicts;
        self.stalls = scheduler.stalls;
    }

    /// (flushed + compaction-written bytes) / flushed bytes.
    pub fn write_amplification(&self) -> f64 {
        if self.flushed_bytes == 0 {
            return 0.0;
        }
        (self.flushed_bytes + self.compaction.bytes_written()) as f64 / self.flushed_bytes as f64
    }
}

/// Writes and commits with one commit user; each `commit` publishes an `APPEND` snapshot, then a `COMPACT`
/// snapshot when a background compaction has finished. Compaction runs in the background while writes go on;
/// a commit waits for it (a write stall) when a bucket has more sorted runs than `num-sorted-run.stop-trigger`
/// (the writer's [`CompactionScheduler`] decides). Tables with `write-only = true` never compact here.
pub struct TableWriter {
    pub(super) table: FileStoreTable,
    pub(super) log: Option<Arc<TableLog>>,
    pub(super) recovery: LogRecovery,
    pub(super) write: FileStoreWrite,
    pub(super) commit: TableCommit,
    /// Numbers every commit of this writer, `APPEND` and `COMPACT` alike.
    pub(super) next_identifier: i64,
    /// `None` when this writer does not compact (append tables, `write-only = true`).
    pub(super) compaction: Option<CompactionScheduler>,
    /// Runs after every successful commit (Java's committer expires after committing); `None` for `write-only`
    /// tables, whose snapshots the dedicated compaction job expires (as Java).
    pub(super) expire: Option<ExpireSnapshots>,
    /// With `partition.expiration-time`: the partitions to drop and when they were last checked.
    pub(super) partition_expire: Option<(PartitionDrop, i64)>,
    pub(super) metrics: WriteMetrics,
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
    /// when there was nothing to commit). Expires snapshots after a commit (as the table's `snapshot.*`
    /// options say), before log retention, so the log segments only expired snapshots needed are freed, then,
    /// once per `partition.expiration-check-interval`, drops expired partitions (an `OVERWRITE` snapshot, whose
    /// id is returned). An error after the commit (expiration, log upload or retention) leaves the snapshot
    /// published: the next commit retries the expiration.
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
        if last.is_some() {
            self.expire_after_commit().await?;
            last = self.expire_partitions_after_commit().await?.or(last);
        }
        if let Some(log) = &self.log {
            log.upload_sealed().await?;
            apply_log_retention(&self.table, log).await?;
        }
        let Some(compaction) = &mut self.compaction else { return Ok(last) };
        let compacted = compaction.after_commit(&self.commit, &mut self.next_identifier, &messages).await;
        self.metrics.record_compaction(compaction.metrics());
        Ok(compacted?.or(last))
    }

    /// Waits for a running compaction and commits it (for a clean shutdown).
    pub async fn finish(&mut self) -> Result<Option<i64>> {
        let Some(compaction) = &mut self.compaction else { return Ok(None) };
        let compacted = compaction.finish(&self.commit, &mut self.next_identifier).await;
        self.metrics.record_compaction(compaction.metrics());
        if compacted.as_ref().is_ok_and(Option::is_some) {
            self.expire_after_commit().await?;
        }
        compacted
    }

    /// Drops expired partitions when a check interval has passed since the last check (every commit for an
    /// interval of 0); returns the `OVERWRITE` snapshot made, if any.
    async fn expire_partitions_after_commit(&mut self) -> Result<Option<i64>> {
        let Some((drop, last_check)) = &mut self.partition_expire else { return Ok(None) };
        let now = self.table.io.seams().now_millis();
        let interval = i64::try_from(drop.check_interval().as_millis()).unwrap_or(i64::MAX);
        if interval > 0 && now <= last_check.saturating_add(interval) {
            return Ok(None);
        }
        *last_check = now;
        let (expired, _skipped) = drop.expired(now).await?;
        if expired.is_empty() {
            return Ok(None);
        }
        let rows = partition_rows(&expired);
        let identifier = self.next_identifier;
        self.next_identifier += 1;
        let id = self.commit.overwrite(&[], OverwriteScope::PartitionRows(rows.clone()), identifier).await?;
        // The `lookup` producer's key states of the dropped partitions describe rows that are gone.
        self.write.forget_partitions(&rows);
        self.metrics.expired_partitions += expired.len() as u64;
        Ok(Some(id))
    }

    async fn expire_after_commit(&mut self) -> Result<()> {
        let Some(expire) = &self.expire else { return Ok(()) };
        self.metrics.expired_snapshots += expire.expire().await?.expired_snapshots as u64;
        Ok(())
    }

    /// Makes every commit wait for compaction (as `commit.force-compact = true` does).
    pub fn with_wait_compaction(mut self, wait: bool) -> Self {
        if let Some(compaction) = &mut self.compaction {
            compaction.set_wait(wait);
        }
        self
    }

    /// Replaces the rows in `scope` with what was written since the last commit.
    pub async fn overwrite(&mut self, scope: OverwriteScope) -> Result<i64> {
        if self.log.is_some()
            || self.table.schema.options()?.changelog_producer == crate::options::ChangelogProducer::Lookup
        {
            // The rows are in the log already, so they stay buffered: the next commit commits them, keeping
            // the log and the snapshots in agreement. Callers check `FileStoreTable::check_overwrite` first.
            self.table.check_overwrite()?;
        }
        let messages = self.write.prepare_commit().await?;
        let identifier = self.next_identifier;
        self.next_identifier += 1;
        let id = self.commit.overwrite(&messages, scope, identifier).await?;
        self.expire_after_commit().await?;
        Ok(id)
    }

    pub fn commit_user(&self) -> &str {
        self.commit.commit_user()
    }
}

/// Deletes sealed log segments no reader can need: below, per bucket, the offsets of the earliest retained
/// snapshot (nothing while snapshot 1 is retained) and of every registered consumer.
async fn apply_log_retention(table: &FileStoreTable, log: &TableLog) -> Result<usize> {
    if !log.has_sealed_segments() {
        return Ok(0);
    }
    let snapshots = table.snapshot_manager();
    let Some(earliest_id) = snapshots.earliest_id().await? else { return Ok(0) };
    // With snapshot 1 retained every change can still be read (`from-snapshot 1`), so nothing may go (and the
    // consumers need not be read); once snapshots expired, the earliest start point is the earliest snapshot's
    // rows plus the changes after its offsets.
    // Long-lived changelogs keep their changes readable from the log too (from the one after the earliest).
    let changelogs = crate::long_lived::ChangelogManager::of(&snapshots);
    let first_changelog = changelogs.earliest_id().await?.filter(|c| *c < earliest_id);
    if first_changelog.unwrap_or(earliest_id) <= 1 {
        return Ok(0);
    }
    let earliest_meta = match first_changelog {
        Some(c) => changelogs.changelog(c).await?,
        None => snapshots.snapshot(earliest_id).await?,
    };
    let earliest = recorded_log_offsets(&snapshots, &earliest_meta).await?;
    let mut keep: BTreeMap<i32, i64> =
        log.next_offsets().keys().map(|b| (*b, earliest.get(b).copied().unwrap_or(0))).collect();
    for (_, consumer) in table.consumers().list().await? {
        let needed = consumer_needed_offsets(&snapshots, table.name(), &consumer).await?;
        for (bucket, offset) in keep.iter_mut() {
            *offset = (*offset).min(needed.get(bucket).copied().unwrap_or(0));
        }
    }
    log.truncate_before(&keep).await
}
