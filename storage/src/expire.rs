//! Snapshot expiration (Java Paimon's `ExpireSnapshotsImpl`): deletes old snapshots and the files only they
//! use, as `snapshot.num-retained.min`/`.max`, `snapshot.time-retained`, `snapshot.expire.limit` and
//! `consumer.expiration-time` say.
//!
//! **Which snapshots.** With `latest` and `earliest` the newest and oldest snapshot ids, a run expires the range
//! `[earliest, end)` where `end` is the smallest of: `latest - min + 1` (the newest `min` snapshots stay, so the
//! latest never expires), the smallest `nextSnapshot` of the consumers (a consumer still needs every snapshot
//! from there on), `earliest + limit`, and the first snapshot from `latest - max + 1` on committed at or after
//! `now - time-retained` (snapshots beyond `max` expire whatever their age). Consumer files older than
//! `consumer.expiration-time` are deleted first and pin nothing.
//!
//! **Which files.** The first retained snapshot (`end`) and every tag on an expiring snapshot are the *kept*
//! snapshots: nothing their base and delta manifests name (manifest lists, manifests, data files) is deleted.
//! A data file that no kept snapshot names and that a delta of `(earliest, end]` DELETEd was used only by
//! expiring snapshots: file names are unique, so a file gone from one snapshot never comes back, and a file
//! a later snapshot still uses is live in `end`. Changelog files of expiring snapshots are theirs alone.
//!
//! **Long-lived changelog.** When changelogs outlive snapshots
//! ([`crate::options::CoreOptions::changelog_decoupled`]), each expiring snapshot's metadata is kept as
//! `changelog/changelog-N` ([`crate::long_lived`]) before its snapshot file goes, and what its changes are read
//! from stays: its changelog list and files, or, without a changelog producer (changes are read from the delta
//! files), its base and delta lists and the `APPEND` data files a delta DELETEd (files without a `_FILE_SOURCE`
//! count as `APPEND`, as Java). [`ExpireSnapshots::expire_changelogs`] deletes them when the changelog expires; every run
//! ends with a changelog expiration.
//!
//! **Crash safety.** Deletions go in an order where every prefix leaves a readable table: data files, then
//! changelog files, then manifests and manifest lists, then the snapshot files oldest first, then the
//! `EARLIEST` hint. Until its snapshot file goes, an expiring snapshot may be unreadable, but no retained
//! snapshot or tag loses a file. A re-run starts from the oldest snapshot file still present and treats
//! missing files as deleted before. Index manifests and index files (deletion vectors, which dyntable does
//! not write) are left in place.
//!
//! Layering: below [`crate::table`] (which runs it after each commit and on demand); needs only the table's
//! [`FileIO`], its schema, and the snapshot, manifest and consumer stores.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::binary_row::deserialize_row;
use crate::consumer::ConsumerStore;
use crate::datafile::bucket_dir;
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::long_lived::ChangelogManager;
use crate::manifest::{FileKind, ManifestEntry, ManifestStore};
use crate::options::{
    ChangelogProducer, CoreOptions, SNAPSHOT_EXPIRE_LIMIT, SNAPSHOT_NUM_RETAINED_MAX, SNAPSHOT_NUM_RETAINED_MIN,
};
use crate::scan::{data_manifests, live_entries};
use crate::schema::TableSchema;
use crate::snapshot::{Snapshot, SnapshotManager};
use crate::types::DataType;

/// Overrides of the table's expiration options for one on-demand run (Paimon's `expire_snapshots` procedure
/// arguments). `None` takes the table option.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpireConfig {
    /// Keep at most this many snapshots (`snapshot.num-retained.max`).
    pub retain_max: Option<usize>,
    /// Keep at least this many snapshots (`snapshot.num-retained.min`); at least 1.
    pub retain_min: Option<usize>,
    /// Expire snapshots committed before this time (ms since the epoch) instead of those older than
    /// `snapshot.time-retained`.
    pub older_than_millis: Option<i64>,
    /// Expire at most this many snapshots in this run (`snapshot.expire.limit`).
    pub max_deletes: Option<usize>,
}

/// What one expiration run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpireReport {
    /// Snapshot files deleted.
    pub expired_snapshots: usize,
    /// The earliest snapshot after the run (`None` for a table without snapshots).
    pub earliest: Option<i64>,
    /// Data files (and their extra files) deleted.
    pub deleted_data_files: usize,
    /// Changelog files deleted (of expired snapshots, and of expired long-lived changelogs: for these also the
    /// data files only they kept).
    pub deleted_changelog_files: usize,
    /// Manifest files and manifest lists deleted.
    pub deleted_manifests: usize,
    /// Consumers deleted for `consumer.expiration-time`.
    pub expired_consumers: Vec<String>,
    /// Long-lived changelogs written for expired snapshots (`changelog/changelog-N`).
    pub kept_changelogs: usize,
    /// Long-lived changelogs deleted by the changelog expiration that ends the run.
    pub expired_changelogs: usize,
}

/// The step an expiration run stops after (tests simulate a crash with it).
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopAfter {
    DataFiles,
    Manifests,
}

/// Expires the snapshots of one table.
#[derive(Clone, Debug)]
pub struct ExpireSnapshots {
    io: FileIO,
    schema: Arc<TableSchema>,
    partition_types: Vec<DataType>,
    options: CoreOptions,
    snapshots: SnapshotManager,
    manifests: ManifestStore,
    consumers: ConsumerStore,
    changelogs: ChangelogManager,
    #[cfg(test)]
    pub(crate) stop_after: Option<StopAfter>,
}

/// A run's limits with the overrides applied.
#[derive(Debug, Clone, Copy)]
struct Policy {
    retain_min: i64,
    retain_max: i64,
    older_than_millis: i64,
    limit: i64,
}

impl ExpireSnapshots {
    /// Expiration of the table rooted at `table_io` with `schema` (its options and partition layout).
    pub fn new(table_io: FileIO, schema: Arc<TableSchema>) -> Result<Self> {
        Ok(ExpireSnapshots {
            options: schema.options()?,
            partition_types: schema.partition_types(),
            schema,
            snapshots: SnapshotManager::new(table_io.clone()),
            manifests: ManifestStore::new(table_io.clone()),
            consumers: ConsumerStore::new(table_io.clone()),
            changelogs: ChangelogManager::new(table_io.clone()),
            io: table_io,
            #[cfg(test)]
            stop_after: None,
        })
    }

    /// One run with the table's options.
    pub async fn expire(&self) -> Result<ExpireReport> {
        self.expire_with(&ExpireConfig::default()).await
    }

    /// One run with `config` overriding the table's options. Fails, naming the option, when the overrides
    /// contradict each other or the table (`retain_min` 0 or above `retain_max`, `max_deletes` 0).
    pub async fn expire_with(&self, config: &ExpireConfig) -> Result<ExpireReport> {
        let now = self.io.seams().now_millis();
        let policy = self.policy(config, now)?;
        let mut report = ExpireReport::default();
        if let Some(ttl) = self.options.consumer_expiration_time {
            let before = now.saturating_sub(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
            report.expired_consumers = self.consumers.expire_written_before(before).await?;
        }
        let (Some(latest), Some(earliest)) = (self.snapshots.latest_id().await?, self.snapshots.earliest_id().await?)
        else {
            return Ok(report);
        };
        report.earliest = Some(earliest);
        // Snapshots before `beyond_max` expire whatever their age; those from it up to `max_exclusive` only
        // when older than the time limit.
        let beyond_max = (latest.saturating_sub(policy.retain_max) + 1).max(earliest);
        let mut max_exclusive = latest - policy.retain_min + 1;
        if let Some(next) = self.consumers.min_next_snapshot().await? {
            max_exclusive = max_exclusive.min(next);
        }
        max_exclusive = max_exclusive.min(earliest.saturating_add(policy.limit));
        let mut end = max_exclusive;
        for id in beyond_max..max_exclusive {
            match self.snapshots.snapshot(id).await {
                Ok(s) if s.time_millis >= policy.older_than_millis => {
                    end = id;
                    break;
                }
                Ok(_) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.expire_until(earliest, end, &mut report).await?;
        self.expire_changelogs(now, &mut report).await?;
        Ok(report)
    }

    fn policy(&self, config: &ExpireConfig, now: i64) -> Result<Policy> {
        let retain_min = config.retain_min.unwrap_or(self.options.snapshot_num_retained_min);
        let retain_max = config.retain_max.unwrap_or(self.options.snapshot_num_retained_max);
        let limit = config.max_deletes.unwrap_or(self.options.snapshot_expire_limit);
        let invalid = |key: &str, value: usize, reason: String| Error::InvalidOption {
            key: key.to_string(),
            value: value.to_string(),
            reason,
        };
        if retain_min < 1 {
            return Err(invalid(
                SNAPSHOT_NUM_RETAINED_MIN,
                retain_min,
                "must be at least 1: the latest snapshot never expires".into(),
            ));
        }
        if retain_min > retain_max {
            return Err(invalid(
                SNAPSHOT_NUM_RETAINED_MIN,
                retain_min,
                format!("must not exceed `{SNAPSHOT_NUM_RETAINED_MAX}` = {retain_max}"),
            ));
        }
        if limit < 1 {
            return Err(invalid(SNAPSHOT_EXPIRE_LIMIT, limit, "must be at least 1".into()));
        }
        let retained_ms = i64::try_from(self.options.snapshot_time_retained.as_millis()).unwrap_or(i64::MAX);
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(Policy {
            retain_min: count(retain_min),
            retain_max: count(retain_max),
            older_than_millis: config.older_than_millis.unwrap_or(now.saturating_sub(retained_ms)),
            limit: count(limit),
        })
    }

    /// Expires the snapshots in `[earliest, end)` (those still present) and the files only they use.
    async fn expire_until(&self, earliest: i64, end: i64, report: &mut ExpireReport) -> Result<()> {
        if end <= earliest {
            return Ok(());
        }
        // An earlier run may have deleted the oldest snapshot files already (oldest first): start after the
        // newest missing one.
        let mut begin = earliest;
        for id in (earliest..end).rev() {
            if !self.io.exists(&SnapshotManager::snapshot_path(id)).await? {
                begin = id + 1;
                break;
            }
        }
        if begin >= end {
            // A gap below `end` (the snapshot before it is missing while an older one exists): not a state
            // expiration leaves, so leave it alone.
            return Ok(());
        }
        let retained = match self.snapshots.snapshot(end).await {
            Ok(s) => s,
            // Another writer's run expired past `end` meanwhile: it did this work.
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut expiring: BTreeMap<i64, Snapshot> = BTreeMap::new();
        for id in begin..end {
            match self.snapshots.snapshot(id).await {
                Ok(s) => {
                    expiring.insert(id, s);
                }
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let tags: Vec<Snapshot> =
            self.snapshots.tags().await?.into_iter().map(|(_, s)| s).filter(|s| s.id < end).collect();
        let kept = self.kept_files(std::iter::once(&retained).chain(&tags)).await?;
        let decoupled = self.options.changelog_decoupled();
        let produces = self.options.changelog_producer != ChangelogProducer::None;

        // 1. Data files DELETEd by the deltas of (begin, end]: used by expiring snapshots only.
        for id in begin + 1..=end {
            let Some(snapshot) = expiring.get(&id).or((id == end).then_some(&retained)) else { continue };
            for (path, e) in self.deleted_by_delta(&snapshot.delta_manifest_list).await? {
                // Without a producer a long-lived changelog reads the files its delta ADDed: those stay until
                // the changelog that DELETEd them expires.
                let read_by_changelog = decoupled && !produces && e.file.file_source.unwrap_or(0) == 0;
                if !kept.data.contains(&path) && !read_by_changelog {
                    self.delete_with_extras(&path, &e, &mut report.deleted_data_files).await?;
                }
            }
        }
        // 2. Changelog files of the expiring snapshots (kept for long-lived changelogs).
        for snapshot in expiring.values().filter(|_| !decoupled) {
            let Some(list) = &snapshot.changelog_manifest_list else { continue };
            for e in self.entries_if_present(list).await? {
                let path = self.data_path(&e)?;
                if e.kind == FileKind::Add && !kept.data.contains(&path) {
                    self.delete_with_extras(&path, &e, &mut report.deleted_changelog_files).await?;
                }
            }
        }
        #[cfg(test)]
        if self.stop_after == Some(StopAfter::DataFiles) {
            return Ok(());
        }
        // 3. Manifests and manifest lists no kept snapshot names.
        for snapshot in expiring.values() {
            // Owned names: an iterator of borrowed options held across the awaits below makes the future not
            // `Send` (a higher-ranked lifetime rustc cannot prove).
            let mut lists = Vec::new();
            if !decoupled || produces {
                lists.extend([snapshot.base_manifest_list.clone(), snapshot.delta_manifest_list.clone()]);
            }
            if !decoupled {
                lists.extend(snapshot.changelog_manifest_list.clone());
            }
            for list in &lists {
                if kept.manifests.contains(list) {
                    continue;
                }
                for meta in self.list_if_present(list).await? {
                    if !kept.manifests.contains(&meta.file_name) {
                        self.io.delete(&format!("manifest/{}", meta.file_name)).await?;
                        report.deleted_manifests += 1;
                    }
                }
                self.io.delete(&format!("manifest/{list}")).await?;
                report.deleted_manifests += 1;
            }
        }
        #[cfg(test)]
        if self.stop_after == Some(StopAfter::Manifests) {
            return Ok(());
        }
        // 4. The snapshot files, oldest first, so the earliest present snapshot is always whole; each one's
        // long-lived changelog first.
        for id in begin..end {
            if let Some(snapshot) = expiring.get(&id).filter(|_| decoupled) {
                self.changelogs.commit(snapshot).await?;
                report.kept_changelogs += 1;
            }
            self.io.delete(&SnapshotManager::snapshot_path(id)).await?;
            report.expired_snapshots += 1;
        }
        self.write_earliest_hint(end, report).await
    }

    async fn write_earliest_hint(&self, earliest: i64, report: &mut ExpireReport) -> Result<()> {
        self.io.write("snapshot/EARLIEST", bytes::Bytes::from(earliest.to_string())).await?;
        report.earliest = Some(earliest);
        Ok(())
    }

    /// What the kept snapshots use: their manifest lists and the manifests these name, and their live data
    /// files (ADDed and not DELETEd by their base and delta manifests; as Java, a tag keeps its data, not its
    /// changelog). A missing file here is an error: an incomplete set could delete what a kept snapshot reads.
    async fn kept_files(&self, kept: impl Iterator<Item = &Snapshot>) -> Result<KeptFiles> {
        let mut out = KeptFiles::default();
        for snapshot in kept {
            out.manifests.insert(snapshot.base_manifest_list.clone());
            out.manifests.insert(snapshot.delta_manifest_list.clone());
            for meta in data_manifests(&self.manifests, snapshot).await? {
                out.manifests.insert(meta.file_name);
            }
            for e in live_entries(&self.manifests, snapshot).await? {
                out.data.insert(self.data_path(&e)?);
            }
        }
        Ok(out)
    }

    /// The data files a delta manifest list DELETEd (not ADDed again in it: moved to another level in the same
    /// commit, an upgrade, a file stays live), by path.
    async fn deleted_by_delta(&self, delta_list: &str) -> Result<BTreeMap<String, ManifestEntry>> {
        let mut removed: BTreeMap<String, ManifestEntry> = BTreeMap::new();
        for e in self.entries_if_present(delta_list).await? {
            let path = self.data_path(&e)?;
            match e.kind {
                FileKind::Add => removed.remove(&path),
                FileKind::Delete => removed.insert(path, e),
            };
        }
        Ok(removed)
    }

    /// The entries of the manifests a list names; files already deleted (by a crashed earlier run) read as
    /// none.
    async fn entries_if_present(&self, list: &str) -> Result<Vec<ManifestEntry>> {
        let mut out = Vec::new();
        for meta in self.list_if_present(list).await? {
            match self.manifests.read_manifest(&meta.file_name).await {
                Ok(entries) => out.extend(entries),
                Err(e) if is_missing(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn list_if_present(&self, list: &str) -> Result<Vec<crate::manifest::ManifestFileMeta>> {
        match self.manifests.read_list(list).await {
            Ok(metas) => Ok(metas),
            Err(e) if is_missing(&e) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The table-relative path of an entry's file (as the reader opens it).
    fn data_path(&self, e: &ManifestEntry) -> Result<String> {
        if let Some(p) = &e.file.external_path {
            return Ok(p.clone());
        }
        let partition = deserialize_row(&e.partition, &self.partition_types)?;
        let dir = bucket_dir(&self.schema, &partition, e.bucket, &self.options.partition_default_name);
        Ok(format!("{dir}/{}", e.file.file_name))
    }

    async fn delete_with_extras(&self, path: &str, e: &ManifestEntry, count: &mut usize) -> Result<()> {
        self.io.delete(path).await?;
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        for extra in &e.file.extra_files {
            self.io.delete(&format!("{dir}/{extra}")).await?;
        }
        *count += 1;
        Ok(())
    }
}

#[derive(Default)]
struct KeptFiles {
    manifests: HashSet<String>,
    data: HashSet<String>,
}

/// Whether `e` says a file does not exist.
fn is_missing(e: &Error) -> bool {
    matches!(e, Error::Io { source: object_store::Error::NotFound { .. }, .. })
}

mod changelog;

#[cfg(test)]
#[path = "expire_tests.rs"]
pub(crate) mod tests;
