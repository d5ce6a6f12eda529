//! Committing: turning the files of a write into manifests, a manifest list pair and a new snapshot,
//! published by conditional create with a rebase-and-retry loop, conflict checks and idempotence.
//!
//! Invariants: a snapshot is published only by `PutMode::Create`, so two writers never both win id N;
//! a commit found already published by (commitUser, commitIdentifier, commitKind) is not published again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::binary_row::{deserialize_row, serialize_row};
use crate::datum::Datum;
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::manifest::{DataFileMeta, FileKind, ManifestEntry, ManifestFileMeta, ManifestStore, SimpleStats};
use crate::options::CoreOptions;
use crate::predicate::Predicate;
use crate::scan::{data_manifests, live_entries, merge_entries};
use crate::schema::TableSchema;
use crate::seams::Seams;
use crate::snapshot::{CommitKind, Snapshot, SnapshotManager};
use crate::stats::{to_simple_stats, ColStats};
use crate::write::CommitMessage;

/// What an overwrite replaces.
#[derive(Debug, Clone)]
pub enum OverwriteScope {
    /// Every live file of the table.
    Table,
    /// Live files of the partitions matching this (partition-column only) predicate.
    Partitions(Predicate),
    /// Live files of exactly these partitions (serialized BinaryRow bytes): dropping partitions.
    PartitionRows(HashSet<Vec<u8>>),
}

/// Commits files of one writer (one `commit_user`) to one table.
pub struct TableCommit {
    io: FileIO,
    schema: Arc<TableSchema>,
    options: CoreOptions,
    commit_user: String,
    snapshots: SnapshotManager,
    manifests: ManifestStore,
    uuid: String,
    counter: AtomicU64,
    seams: Seams,
}

impl TableCommit {
    pub fn new(table_io: FileIO, schema: Arc<TableSchema>, commit_user: String) -> Result<Self> {
        Ok(TableCommit {
            options: schema.options()?,
            schema,
            commit_user,
            snapshots: SnapshotManager::new(table_io.clone()),
            manifests: ManifestStore::new(table_io.clone()),
            uuid: table_io.seams().new_id(),
            seams: table_io.seams().clone(),
            counter: AtomicU64::new(0),
            io: table_io,
        })
    }

    pub fn commit_user(&self) -> &str {
        &self.commit_user
    }

    fn next_name(&self, prefix: &str) -> String {
        format!("{prefix}-{}-{}", self.uuid, self.counter.fetch_add(1, Ordering::Relaxed))
    }

    fn entries(&self, msg: &CommitMessage, kind: FileKind, files: &[DataFileMeta]) -> Result<Vec<ManifestEntry>> {
        let partition = serialize_row(&msg.partition, &self.schema.partition_types())?;
        Ok(files
            .iter()
            .map(|f| ManifestEntry {
                kind,
                partition: partition.clone(),
                bucket: msg.bucket,
                total_buckets: msg.total_buckets,
                file: f.clone(),
            })
            .collect())
    }

    /// Commits an `APPEND` snapshot of the new files, then a `COMPACT` snapshot of compaction changes if
    /// any. Returns the ids of the snapshots made (empty when there was nothing to commit).
    pub async fn commit(&self, messages: &[CommitMessage], identifier: i64) -> Result<Vec<i64>> {
        self.commit_with_log_offsets(messages, identifier, None).await
    }

    /// As [`commit`](Self::commit), recording `log_offsets` (bucket -> the embedded log's end covered by
    /// these files) in the `APPEND` snapshot. Snapshots without new offsets carry the latest snapshot's.
    /// An `APPEND` snapshot is made even without files when the offsets moved.
    pub async fn commit_with_log_offsets(
        &self,
        messages: &[CommitMessage],
        identifier: i64,
        log_offsets: Option<BTreeMap<i32, i64>>,
    ) -> Result<Vec<i64>> {
        let mut append = Vec::new();
        let mut compact = Vec::new();
        let mut append_changelog = Vec::new();
        let mut compact_changelog = Vec::new();
        for m in messages {
            append.extend(self.entries(m, FileKind::Add, &m.new_files)?);
            compact.extend(self.entries(m, FileKind::Delete, &m.compact_before)?);
            compact.extend(self.entries(m, FileKind::Add, &m.compact_after)?);
            append_changelog.extend(self.entries(m, FileKind::Add, &m.new_changelog)?);
            compact_changelog.extend(self.entries(m, FileKind::Add, &m.compact_changelog)?);
        }
        let mut ids = Vec::new();
        // Only an otherwise empty APPEND needs the check (and its read of the latest snapshot).
        let offsets_moved = match &log_offsets {
            Some(offsets) if append.is_empty() => {
                let latest = self.snapshots.latest().await?;
                latest.and_then(|s| s.log_offsets).unwrap_or_default() != *offsets
            }
            _ => false,
        };
        if !append.is_empty() || !append_changelog.is_empty() || offsets_moved {
            let id = self
                .commit_with_retry(append, append_changelog, None, CommitKind::Append, identifier, log_offsets.as_ref())
                .await?;
            ids.push(id);
        }
        if !compact.is_empty() || !compact_changelog.is_empty() {
            ids.push(
                self.commit_with_retry(compact, compact_changelog, None, CommitKind::Compact, identifier, None).await?,
            );
        }
        Ok(ids)
    }

    /// Commits an `OVERWRITE` snapshot: deletes every live file in `scope` and adds the new files.
    pub async fn overwrite(&self, messages: &[CommitMessage], scope: OverwriteScope, identifier: i64) -> Result<i64> {
        let mut adds = Vec::new();
        for m in messages {
            adds.extend(self.entries(m, FileKind::Add, &m.new_files)?);
        }
        self.commit_with_retry(adds, Vec::new(), Some(scope), CommitKind::Overwrite, identifier, None).await
    }

    /// Whether this commit user already published `identifier` (of `kind`), e.g. before a crash.
    pub async fn find_committed(&self, identifier: i64, kind: CommitKind, after_id: i64) -> Result<Option<i64>> {
        let Some(latest) = self.snapshots.latest_id().await? else { return Ok(None) };
        let earliest = self.snapshots.earliest_id().await?.unwrap_or(1);
        let mut id = latest;
        while id > after_id && id >= earliest {
            let s = self.snapshots.snapshot(id).await?;
            if s.commit_user == self.commit_user && s.commit_identifier == identifier && s.commit_kind == kind {
                return Ok(Some(id));
            }
            id -= 1;
        }
        Ok(None)
    }

    async fn commit_with_retry(
        &self,
        entries: Vec<ManifestEntry>,
        changelog: Vec<ManifestEntry>,
        overwrite: Option<OverwriteScope>,
        kind: CommitKind,
        identifier: i64,
        log_offsets: Option<&BTreeMap<i32, i64>>,
    ) -> Result<i64> {
        let start_latest = self.snapshots.latest_id().await?.unwrap_or(0);
        let mut last_err = None;
        for _attempt in 0..=self.options.commit_max_retries {
            // After an ambiguous failure the snapshot may exist already: find it instead of committing twice.
            if let Some(id) = self.find_committed(identifier, kind, start_latest).await? {
                return Ok(id);
            }
            let latest = self.snapshots.latest().await?;
            match self
                .try_commit_once(
                    &entries,
                    &changelog,
                    overwrite.as_ref(),
                    kind,
                    identifier,
                    latest.as_ref(),
                    log_offsets,
                )
                .await
            {
                Ok(Some(id)) => return Ok(id),
                Ok(None) => continue, // lost the race for this id; rebase on the new latest
                Err(e) if matches!(e, Error::Conflict(_)) => return Err(e),
                Err(e @ Error::Io { .. }) => {
                    last_err = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(id) = self.find_committed(identifier, kind, start_latest).await? {
            return Ok(id);
        }
        Err(last_err.unwrap_or_else(|| {
            Error::Conflict(format!(
                "gave up committing after {} retries: other writers kept winning",
                self.options.commit_max_retries
            ))
        }))
    }

    /// One attempt; `Ok(None)` when another writer published the snapshot id first.
    #[allow(clippy::too_many_arguments)]
    async fn try_commit_once(
        &self,
        entries: &[ManifestEntry],
        changelog: &[ManifestEntry],
        overwrite: Option<&OverwriteScope>,
        kind: CommitKind,
        identifier: i64,
        latest: Option<&Snapshot>,
        log_offsets: Option<&BTreeMap<i32, i64>>,
    ) -> Result<Option<i64>> {
        let mut delta: Vec<ManifestEntry> = Vec::new();
        let needs_live = overwrite.is_some() || entries.iter().any(|e| e.kind == FileKind::Delete || e.file.level > 0);
        let live = match (latest, needs_live) {
            (Some(s), true) => live_entries(&self.manifests, s).await?,
            _ => Vec::new(),
        };
        if let Some(scope) = overwrite {
            let partition_types = self.schema.partition_types();
            for e in &live {
                let matches = match scope {
                    OverwriteScope::Table => true,
                    OverwriteScope::PartitionRows(rows) => rows.contains(&e.partition),
                    OverwriteScope::Partitions(p) => {
                        let values = deserialize_row(&e.partition, &partition_types)?;
                        let lookup = |c: &str| {
                            self.schema.partition_keys.iter().position(|k| k == c).map(|i| ColStats {
                                min: values[i].clone(),
                                max: values[i].clone(),
                                null_count: Some(values[i].is_null() as i64),
                            })
                        };
                        p.might_match(&lookup, 1)
                    }
                };
                if matches {
                    delta.push(ManifestEntry { kind: FileKind::Delete, ..e.clone() });
                }
            }
        }
        delta.extend(entries.iter().cloned());
        self.check_conflicts(&live, entries)?;

        let (base_metas, prev_total) = match latest {
            Some(s) => (data_manifests(&self.manifests, s).await?, s.total_record_count.unwrap_or(0)),
            None => (Vec::new(), 0),
        };
        let reused: HashSet<String> = base_metas.iter().map(|m| m.file_name.clone()).collect();
        let base_metas = self.maybe_merge(base_metas).await?;
        // What this attempt writes: deleted again when another writer takes the snapshot id.
        let mut written: Vec<String> =
            base_metas.iter().filter(|m| !reused.contains(&m.file_name)).map(|m| m.file_name.clone()).collect();
        let delta_meta = self
            .manifests
            .write_manifest(&self.next_name("manifest"), &delta, self.schema.id, self.partition_stats(&delta)?)
            .await?;
        written.push(delta_meta.file_name.clone());
        let base_list = self.next_name("manifest-list");
        let base_size = self.manifests.write_list(&base_list, &base_metas).await?;
        let delta_list = self.next_name("manifest-list");
        let delta_size = self.manifests.write_list(&delta_list, &[delta_meta]).await?;
        written.extend([base_list.clone(), delta_list.clone()]);
        // Changelog files get their own manifest and list (`changelogManifestList`); they are never live data.
        let (changelog_list, changelog_list_size, changelog_rows) = if changelog.is_empty() {
            (None, None, 0)
        } else {
            let meta = self
                .manifests
                .write_manifest(
                    &self.next_name("manifest"),
                    changelog,
                    self.schema.id,
                    self.partition_stats(changelog)?,
                )
                .await?;
            let name = self.next_name("manifest-list");
            written.push(meta.file_name.clone());
            let size = self.manifests.write_list(&name, &[meta]).await?;
            written.push(name.clone());
            (Some(name), Some(size), changelog.iter().map(|e| e.file.row_count).sum())
        };
        let added: i64 = delta.iter().filter(|e| e.kind == FileKind::Add).map(|e| e.file.row_count).sum();
        let deleted: i64 = delta.iter().filter(|e| e.kind == FileKind::Delete).map(|e| e.file.row_count).sum();
        let id = latest.map(|s| s.id + 1).unwrap_or(1);
        // As Java's `FileStoreCommitImpl`: a snapshot records the table's latest schema, which may be newer than
        // the committing writer's after an ALTER (its files keep their own schema id).
        let schema_id = crate::schema::SchemaManager::new(self.io.clone())
            .list_ids()
            .await?
            .last()
            .map_or(self.schema.id, |latest| (*latest).max(self.schema.id));
        let snapshot = Snapshot {
            version: 3,
            id,
            schema_id,
            base_manifest_list: base_list,
            base_manifest_list_size: Some(base_size),
            delta_manifest_list: delta_list,
            delta_manifest_list_size: Some(delta_size),
            changelog_manifest_list: changelog_list,
            changelog_manifest_list_size: changelog_list_size,
            index_manifest: latest.and_then(|s| s.index_manifest.clone()),
            commit_user: self.commit_user.clone(),
            commit_identifier: identifier,
            commit_kind: kind,
            time_millis: self.seams.now_millis(),
            log_offsets: Some(
                log_offsets.cloned().or_else(|| latest.and_then(|s| s.log_offsets.clone())).unwrap_or_default(),
            ),
            total_record_count: Some(prev_total + added - deleted),
            delta_record_count: Some(added - deleted),
            changelog_record_count: Some(changelog_rows),
            watermark: latest.and_then(|s| s.watermark),
            statistics: None,
        };
        if self.snapshots.try_publish(&snapshot).await? {
            Ok(Some(id))
        } else {
            // Lost the race for the id (definite: the create found the file), so no snapshot names what this
            // attempt wrote; the retry writes its own. Best effort: a failure leaves orphans for
            // `remove_orphan_files`, and must not fail a commit that the retry may still make. (An I/O error of
            // the publish is ambiguous, the snapshot may exist, so nothing is deleted then.)
            for name in written {
                let _ = self.io.delete(&format!("manifest/{name}")).await;
            }
            Ok(None)
        }
    }

    /// Real conflicts: deleting a file that is no longer live, or files of one level >= 1 whose key ranges overlap.
    fn check_conflicts(&self, live: &[ManifestEntry], entries: &[ManifestEntry]) -> Result<()> {
        let live_ids: HashSet<_> = live.iter().map(|e| e.identifier()).collect();
        for e in entries.iter().filter(|e| e.kind == FileKind::Delete) {
            if !live_ids.contains(&e.identifier()) {
                return Err(Error::Conflict(format!(
                    "file deletion conflicts detected: `{}` (bucket {}, level {}) is no longer live; give up committing",
                    e.file.file_name, e.bucket, e.file.level
                )));
            }
        }
        if !entries.iter().any(|e| e.kind == FileKind::Add && e.file.level > 0) {
            return Ok(());
        }
        let after = merge_entries(live.iter().cloned().chain(entries.iter().cloned()));
        let key_types: Vec<_> = self.schema.key_fields().iter().map(|f| f.data_type.clone()).collect();
        let touched: HashSet<(Vec<u8>, i32, i32)> = entries
            .iter()
            .filter(|e| e.kind == FileKind::Add && e.file.level > 0)
            .map(|e| (e.partition.clone(), e.bucket, e.file.level))
            .collect();
        // (partition, bucket, level) -> the (min key, max key, file name) of its files.
        type KeyRange = (Vec<Datum>, Vec<Datum>, String);
        let mut groups: HashMap<(Vec<u8>, i32, i32), Vec<KeyRange>> = HashMap::new();
        for e in after.iter().filter(|e| touched.contains(&(e.partition.clone(), e.bucket, e.file.level))) {
            let min = deserialize_row(&e.file.min_key, &key_types)?;
            let max = deserialize_row(&e.file.max_key, &key_types)?;
            groups.entry((e.partition.clone(), e.bucket, e.file.level)).or_default().push((
                min,
                max,
                e.file.file_name.clone(),
            ));
        }
        for ((_, bucket, level), mut files) in groups {
            files.sort_by(|a, b| cmp_rows(&a.0, &b.0));
            for w in files.windows(2) {
                if cmp_rows(&w[1].0, &w[0].1) != std::cmp::Ordering::Greater {
                    return Err(Error::Conflict(format!(
                        "LSM conflicts detected: files `{}` and `{}` overlap in level {level} of bucket {bucket}",
                        w[0].2, w[1].2
                    )));
                }
            }
        }
        Ok(())
    }

    /// Merges base manifests when there are many, cancelling ADD/DELETE pairs (as `manifest.merge-min-count`).
    async fn maybe_merge(&self, metas: Vec<ManifestFileMeta>) -> Result<Vec<ManifestFileMeta>> {
        if metas.len() < self.options.manifest_merge_min_count {
            return Ok(metas);
        }
        let mut all = Vec::new();
        for m in &metas {
            all.extend(self.manifests.read_manifest(&m.file_name).await?);
        }
        // `manifest.target-file-size`: entries per output manifest from the encoded bytes per entry of the
        // inputs (entries of one table encode to similar sizes), at most 50,000.
        let (bytes, count) =
            metas.iter().fold((0i64, 0i64), |(b, n), m| (b + m.file_size, n + m.num_added_files + m.num_deleted_files));
        let per_entry = u64::try_from(bytes / count.max(1)).unwrap_or(1).max(1);
        let chunk_len = usize::try_from(self.options.manifest_target_file_size / per_entry).unwrap_or(usize::MAX);
        let live = merge_entries(all);
        let mut out = Vec::new();
        for chunk in live.chunks(chunk_len.clamp(1, 50_000)) {
            out.push(
                self.manifests
                    .write_manifest(&self.next_name("manifest"), chunk, self.schema.id, self.partition_stats(chunk)?)
                    .await?,
            );
        }
        Ok(out)
    }

    fn partition_stats(&self, entries: &[ManifestEntry]) -> Result<SimpleStats> {
        let types = self.schema.partition_types();
        let mut acc: Vec<Option<ColStats>> = vec![None; types.len()];
        let mut seen: HashSet<&[u8]> = HashSet::new();
        for e in entries {
            if !seen.insert(&e.partition) {
                // Null counts count entries, so repeated partitions still add.
                let values = deserialize_row(&e.partition, &types)?;
                for (i, v) in values.iter().enumerate() {
                    if let Some(a) = acc[i].as_mut() {
                        a.null_count = a.null_count.map(|n| n + v.is_null() as i64);
                    }
                }
                continue;
            }
            let values = deserialize_row(&e.partition, &types)?;
            for (i, v) in values.into_iter().enumerate() {
                let s = ColStats { min: v.clone(), max: v.clone(), null_count: Some(v.is_null() as i64) };
                acc[i] = Some(match &acc[i] {
                    Some(a) => a.merge(&s),
                    None => s,
                });
            }
        }
        let stats: Vec<ColStats> = acc
            .into_iter()
            .map(|s| s.unwrap_or(ColStats { min: Datum::Null, max: Datum::Null, null_count: Some(0) }))
            .collect();
        to_simple_stats(&stats, &types, crate::options::StatsMode::Full)
    }
}

fn cmp_rows(a: &[Datum], b: &[Datum]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = x.partial_cmp_value(y).unwrap_or(std::cmp::Ordering::Equal);
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::expire::tests::{actual_files, create, rt, upsert, Rows};
    use crate::seams::ManualClock;

    /// An attempt that loses the snapshot id to another writer deletes the manifests and lists it wrote.
    #[test]
    fn a_lost_race_deletes_its_manifests() {
        rt().block_on(async {
            let t = create(Arc::new(ManualClock::new(1_000_000, 1)), &[("manifest.merge-min-count", "2")]).await;
            let mut w = t.writer().await.unwrap();
            let (mut model, mut history) = (Rows::new(), BTreeMap::new());
            for round in 0..3 {
                upsert(&mut w, &mut model, &mut history, &[round], round).await;
            }
            let mut write = t.new_write().await.unwrap();
            let batch = arrow::array::RecordBatch::try_from_iter([
                ("id", Arc::new(arrow::array::Int64Array::from(vec![9])) as arrow::array::ArrayRef),
                ("v", Arc::new(arrow::array::StringArray::from(vec!["x"])) as arrow::array::ArrayRef),
            ])
            .unwrap();
            write.write(&batch).await.unwrap();
            let messages = write.prepare_commit().await.unwrap();
            let commit = t.new_commit("late-writer").unwrap();
            let entries = commit.entries(&messages[0], FileKind::Add, &messages[0].new_files).unwrap();
            let before = actual_files(&t).await;
            // Based on snapshot 2 while 3 exists: the create of snapshot 3 fails, as when another writer wins.
            let stale = t.snapshot_manager().snapshot(2).await.unwrap();
            let attempt = commit.try_commit_once(&entries, &entries, None, CommitKind::Append, 1, Some(&stale), None);
            assert_eq!(attempt.await.unwrap(), None);
            assert_eq!(actual_files(&t).await, before, "the lost attempt left files");
            // The retry on the real latest publishes.
            let ids = commit.commit(&messages, 1).await.unwrap();
            assert_eq!(ids, vec![4]);
        });
    }
}
