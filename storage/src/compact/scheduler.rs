//! Compaction inside a writer: after each `APPEND` commit, a finished background compaction is committed as a
//! `COMPACT` snapshot and the next one starts, so compaction runs while writes go on. A commit waits for it (a
//! write stall) when a bucket it wrote has more sorted runs than `num-sorted-run.stop-trigger`; with
//! `commit.force-compact = true` every commit waits. Tables with `write-only = true` (and append tables) get no
//! scheduler.
//!
//! Layering: below `table` (whose `TableWriter` owns a [`CompactionScheduler`]), above the
//! [job](super::job); it plans from the snapshot and manifest stores and commits with the writer's
//! [`TableCommit`].

use std::sync::Arc;

use crate::bucket::BucketKey;
use crate::commit::TableCommit;
use crate::compact::job::{sorted_run_count, BucketCompactor, CompactionMetrics};
use crate::datafile::bucket_dir;
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::manifest::ManifestStore;
use crate::predicate::Predicate;
use crate::scan::{plan, ScanPlan};
use crate::schema::TableSchema;
use crate::snapshot::SnapshotManager;
use crate::write::CommitMessage;

type CompactionTask = tokio::task::JoinHandle<Result<(Vec<CommitMessage>, CompactionMetrics)>>;

/// Plans the latest snapshot (the buckets matching `partition`, if given), as a scan of it would.
async fn plan_latest(
    snapshots: &SnapshotManager,
    manifests: &ManifestStore,
    schema: &TableSchema,
    partition: Option<&Predicate>,
) -> Result<ScanPlan> {
    if let Some(f) = partition {
        f.validate(schema)?;
    }
    let snapshot = snapshots.latest().await?;
    plan(manifests, schema, snapshot, partition).await
}

/// Compacts the buckets of the latest snapshot (those matching `partition`, if given) and returns the commit
/// messages and what was written; nothing is committed.
pub async fn compact_latest(
    snapshots: &SnapshotManager,
    manifests: &ManifestStore,
    compactor: &BucketCompactor,
    full: bool,
    partition: Option<&Predicate>,
) -> Result<(Vec<CommitMessage>, CompactionMetrics)> {
    let plan = plan_latest(snapshots, manifests, compactor.schema(), partition).await?;
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

/// What a scheduler did over its life.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulerMetrics {
    /// What the committed compactions wrote.
    pub compaction: CompactionMetrics,
    /// Compactions discarded because another writer changed the same files first.
    pub conflicts: u64,
    /// Commits that waited for compaction because a bucket had more sorted runs than the stop trigger.
    pub stalls: u64,
}

/// A writer's compaction: at most one background compaction of the latest snapshot at a time; see the module
/// docs.
pub struct CompactionScheduler {
    compactor: Arc<BucketCompactor>,
    /// Where discarded compaction outputs are deleted, with the partition directory name of null values.
    io: FileIO,
    default_partition: String,
    snapshots: SnapshotManager,
    manifests: ManifestStore,
    running: Option<CompactionTask>,
    /// Every commit waits for compaction (`commit.force-compact`).
    wait: bool,
    /// `full-compaction.delta-commits`: a full compaction is forced (and waited for) every this many commits.
    full_every: Option<u32>,
    /// Commits with new files since the last forced full compaction.
    commits_since_full: u32,
    metrics: SchedulerMetrics,
}

impl CompactionScheduler {
    /// The scheduler of a writer of the table rooted at `io`, or `None` when its writers do not compact (an
    /// append table, or `write-only = true`).
    pub fn for_table(
        io: FileIO,
        schema: Arc<TableSchema>,
        snapshots: SnapshotManager,
        manifests: ManifestStore,
    ) -> Result<Option<Self>> {
        let options = schema.options()?;
        if schema.primary_keys.is_empty() || options.write_only {
            return Ok(None);
        }
        let wait = options.force_compact;
        let full_every = options.full_compaction_delta_commits;
        let compactor = Arc::new(BucketCompactor::new(io.clone(), schema)?);
        Ok(Some(CompactionScheduler {
            compactor,
            io,
            default_partition: options.partition_default_name,
            snapshots,
            manifests,
            running: None,
            wait,
            full_every,
            commits_since_full: 0,
            metrics: SchedulerMetrics::default(),
        }))
    }

    /// Makes every commit wait for compaction (as `commit.force-compact = true` does).
    pub fn set_wait(&mut self, wait: bool) {
        self.wait = wait;
    }

    pub fn metrics(&self) -> &SchedulerMetrics {
        &self.metrics
    }

    /// Runs after the writer committed `messages` as an `APPEND` snapshot: commits a finished compaction, stalls
    /// when a bucket of `messages` is over the stop trigger, and starts the next compaction. `next_identifier` is
    /// the writer's commit identifier counter (each `COMPACT` commit takes one). Returns the id of the last
    /// `COMPACT` snapshot made, if any.
    pub async fn after_commit(
        &mut self,
        commit: &TableCommit,
        next_identifier: &mut i64,
        messages: &[CommitMessage],
    ) -> Result<Option<i64>> {
        let mut last = None;
        if !messages.is_empty() {
            self.commits_since_full += 1;
        }
        if self.full_every.is_some_and(|n| self.commits_since_full >= n) {
            // `full-compaction.delta-commits`: commit what runs, then compact every bucket fully, now.
            self.commits_since_full = 0;
            if let Some(id) = self.commit_running(commit, next_identifier).await? {
                last = Some(id);
            }
            self.start(true);
            if let Some(id) = self.commit_running(commit, next_identifier).await? {
                last = Some(id);
            }
            return Ok(last);
        }
        if self.wait {
            // `commit.force-compact`: every commit waits for compaction, as Paimon's batch writers do.
            if let Some(id) = self.commit_running(commit, next_identifier).await? {
                last = Some(id);
            }
            self.start(false);
            if let Some(id) = self.commit_running(commit, next_identifier).await? {
                last = Some(id);
            }
            return Ok(last);
        }
        // Stall: a bucket over the stop trigger waits for the running compaction, then compacts now.
        let stop = self.compactor.options().num_sorted_run_stop_trigger as usize;
        let mut over = self.buckets_over(stop, messages).await?;
        let finished = self.running.as_ref().is_some_and(|t| t.is_finished());
        if finished || (!over.is_empty() && self.running.is_some()) {
            if !over.is_empty() && !finished {
                self.metrics.stalls += 1;
            }
            if let Some(id) = self.commit_running(commit, next_identifier).await? {
                last = Some(id);
                // Only a committed compaction changes the runs: plan again just then.
                over = self.buckets_over(stop, messages).await?;
            }
        }
        if !over.is_empty() {
            self.metrics.stalls += 1;
            self.start(false);
            if let Some(id) = self.commit_running(commit, next_identifier).await? {
                last = Some(id);
            }
        }
        if self.running.is_none() {
            self.start(false);
        }
        Ok(last)
    }

    /// Waits for a running compaction and commits it (for a clean shutdown).
    pub async fn finish(&mut self, commit: &TableCommit, next_identifier: &mut i64) -> Result<Option<i64>> {
        self.commit_running(commit, next_identifier).await
    }

    /// Buckets touched by `messages` whose live sorted runs exceed `stop`.
    async fn buckets_over(&self, stop: usize, messages: &[CommitMessage]) -> Result<Vec<BucketKey>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let plan = plan_latest(&self.snapshots, &self.manifests, self.compactor.schema(), None).await?;
        Ok(plan
            .splits
            .iter()
            .filter(|s| messages.iter().any(|m| m.bucket == s.bucket && m.partition == s.partition))
            .filter(|s| sorted_run_count(&s.files) > stop)
            .map(|s| s.bucket_key())
            .collect())
    }

    /// Waits for the running compaction and commits it as a `COMPACT` snapshot; a conflict with another
    /// writer's compaction of the same files discards it and deletes the files it wrote.
    async fn commit_running(&mut self, commit: &TableCommit, next_identifier: &mut i64) -> Result<Option<i64>> {
        let Some(task) = self.running.take() else { return Ok(None) };
        // Each COMPACT commit gets its own identifier, so idempotence checks never confuse two of them.
        let identifier = *next_identifier;
        *next_identifier += 1;
        let (messages, metrics) = task.await.map_err(|e| Error::Internal(format!("compaction task failed: {e}")))??;
        if messages.is_empty() {
            return Ok(None);
        }
        match commit.commit(&messages, identifier).await {
            Ok(ids) => {
                self.metrics.compaction.add(&metrics);
                Ok(ids.last().copied())
            }
            Err(Error::Conflict(_)) => {
                self.metrics.conflicts += 1;
                self.delete_discarded(&messages).await;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes the files a discarded compaction wrote (its after-files other than upgraded before-files, which
    /// are live, and its changelog files). A conflict is definite (no snapshot names them, and none will: the
    /// messages are dropped), so they are orphans. Best effort: a failure leaves them to `remove_orphan_files`,
    /// and must not turn the writer's successful commit into an error.
    async fn delete_discarded(&self, messages: &[CommitMessage]) {
        let default_name = &self.default_partition;
        for m in messages {
            let dir = bucket_dir(self.compactor.schema(), &m.partition, m.bucket, default_name);
            let written = m
                .compact_after
                .iter()
                .filter(|f| !m.compact_before.iter().any(|b| b.file_name == f.file_name))
                .chain(&m.compact_changelog);
            for f in written {
                for name in std::iter::once(&f.file_name).chain(&f.extra_files) {
                    // Ignored: see above.
                    let _ = self.io.delete(&format!("{dir}/{name}")).await;
                }
            }
        }
    }

    /// Starts compacting, in the background, every bucket of the latest snapshot the policy picks.
    fn start(&mut self, full: bool) {
        let compactor = self.compactor.clone();
        let snapshots = self.snapshots.clone();
        let manifests = self.manifests.clone();
        self.running =
            Some(tokio::spawn(async move { compact_latest(&snapshots, &manifests, &compactor, full, None).await }));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::expire::tests::{actual_files, create, expected_files, rows, rt, upsert, Rows};
    use crate::scan::ScanFrom;
    use crate::seams::ManualClock;

    /// A background compaction that loses to another compaction of the same files is discarded, and the files
    /// it wrote are deleted: nothing leaks, and the table reads the same.
    #[test]
    fn a_discarded_compaction_deletes_its_files() {
        rt().block_on(async {
            let t = create(Arc::new(ManualClock::new(1_000_000, 1)), &[]).await;
            let mut w = t.writer().await.unwrap();
            let (mut model, mut history) = (Rows::new(), BTreeMap::new());
            for round in 0..4 {
                upsert(&mut w, &mut model, &mut history, &[1, 2, round + 10], round).await;
            }
            // The table is `write-only`, so its writers have no scheduler: make one as a compacting writer would.
            let mut schema = (**t.schema()).clone();
            schema.options.remove("write-only");
            let mut scheduler = CompactionScheduler::for_table(
                t.io().clone(),
                Arc::new(schema),
                t.snapshot_manager(),
                t.manifest_store(),
            )
            .unwrap()
            .expect("a primary-key table without write-only compacts");
            scheduler.start(true);
            let (messages, metrics) = scheduler.running.take().unwrap().await.unwrap().unwrap();
            let written: Vec<String> = messages
                .iter()
                .flat_map(|m| {
                    m.compact_after.iter().filter(|f| !m.compact_before.iter().any(|b| b.file_name == f.file_name))
                })
                .map(|f| format!("bucket-0/{}", f.file_name))
                .collect();
            assert!(!written.is_empty());
            for path in &written {
                assert!(t.io().exists(path).await.unwrap(), "{path}");
            }
            scheduler.running = Some(tokio::spawn(async move { Ok((messages, metrics)) }));

            // Another writer compacts the same files first.
            t.compact(true, None).await.unwrap();
            let commit = t.new_commit("compacting-writer").unwrap();
            let mut next_identifier = 1;
            assert_eq!(scheduler.finish(&commit, &mut next_identifier).await.unwrap(), None);
            assert_eq!(scheduler.metrics().conflicts, 1);
            for path in &written {
                assert!(!t.io().exists(path).await.unwrap(), "{path} of the discarded compaction is still there");
            }
            assert_eq!(rows(&t, &ScanFrom::Latest).await.unwrap(), model);
            assert_eq!(actual_files(&t).await, expected_files(&t).await);
        });
    }
}
