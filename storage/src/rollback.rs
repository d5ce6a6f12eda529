//! Rollback (Java Paimon's `rollback_to` procedure and `RollbackHelper`): afterwards the table reads as it did
//! at a target snapshot or tag, and the next commit makes snapshot `target + 1` again.
//!
//! **What goes.** The snapshots newer than the target (newest first, so a crash midway leaves a table whose
//! latest snapshot is whole), the tags on them (as Java: their ids will be reused by different data), Java's
//! long-lived changelog files newer than the target, then every manifest list that no retained snapshot (the
//! target and the older ones), no remaining tag and no remaining long-lived changelog names, with the manifests
//! and files only those lists name: data files first, then manifests, then the lists. Nothing a retained
//! snapshot or a remaining tag references is deleted ([`crate::references`]).
//!
//! **A tag whose snapshot expired** (or a snapshot id that only a tag still holds): the snapshot file is
//! recreated from the tag first (as Java does, but before the deletions, so a crash never leaves a table with
//! no snapshot), its changelog list dropped when expiration already deleted it, and `EARLIEST` moves to it.
//!
//! **Consumers** whose `nextSnapshot` lies beyond `target + 1` are reset to `target + 1` and named in the
//! report. Java leaves them, so such a reader would wait for a snapshot id that is then reused by different
//! data and skip what was committed under the ids below it; after a reset the reader continues with the
//! first snapshot committed after the rollback, and its owner, told by the report, decides what to do about
//! the rolled-back changes it already delivered.
//!
//! **The embedded log is refused.** A table with `log.system = 'embedded'` keeps every change in its log, and
//! readers may already have read the changes beyond the target; the log cannot be cut back without
//! invalidating their offsets, and a writer reopening the table would replay the log tail past the target's
//! offsets into the table again. So [`Rollback::rollback_to`] fails on such a table, naming it.
//!
//! **Crash safety.** Every step is repeatable: a re-run with the same target finds the target as the latest
//! snapshot and finishes the rest (tags, consumers, hints, and the files through the manifest lists the removed
//! snapshots left unreferenced; missing files are not errors).
//!
//! **An administrative operation.** As in Paimon, nothing may write to the table while it rolls back: a commit
//! racing it could publish a snapshot on top of the removed ones, or name files it deletes. Stop the writers
//! (and compactions) first. Readers of the removed snapshots get `NotFound` errors.
//!
//! Layering: below [`crate::table`]; needs the table's [`FileIO`], schema, and the snapshot, consumer and
//! reference readers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::consumer::{ConsumerStore, StreamPosition};
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::long_lived::ChangelogManager;
use crate::manifest::ManifestEntry;
use crate::options::LogConfig;
use crate::references::{ReferenceReader, References};
use crate::schema::TableSchema;
use crate::snapshot::{Snapshot, SnapshotManager};

/// Where to roll back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTarget {
    /// A snapshot id (a snapshot that expired can still be the target while a tag holds it).
    Snapshot(i64),
    /// A tag's snapshot (recreated when it expired).
    Tag(String),
}

impl fmt::Display for RollbackTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RollbackTarget::Snapshot(id) => write!(f, "snapshot {id}"),
            RollbackTarget::Tag(name) => write!(f, "tag `{name}`"),
        }
    }
}

/// A consumer moved back by a rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerReset {
    pub consumer: String,
    /// Its `nextSnapshot` before: beyond the new latest.
    pub from_snapshot: i64,
    /// Its `nextSnapshot` now: the target + 1, the next snapshot to be committed.
    pub to_snapshot: i64,
}

/// What a rollback did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackReport {
    /// The table's latest snapshot afterwards (the target's id).
    pub snapshot: i64,
    /// The tag the target snapshot file was recreated from (it had expired), if it was.
    pub recreated_from_tag: Option<String>,
    /// Snapshot files deleted, newest first.
    pub removed_snapshots: Vec<i64>,
    /// Tags deleted (those on removed snapshots).
    pub removed_tags: Vec<String>,
    /// Java's long-lived changelog files (`changelog/changelog-N`) deleted.
    pub removed_changelogs: Vec<i64>,
    /// Consumers whose next snapshot was beyond the new latest.
    pub reset_consumers: Vec<ConsumerReset>,
    /// Data files (and their extra files) deleted.
    pub deleted_data_files: usize,
    /// Changelog files deleted.
    pub deleted_changelog_files: usize,
    /// Manifests and manifest lists deleted.
    pub deleted_manifests: usize,
}

/// Rolls back one table; see the module docs.
#[derive(Clone, Debug)]
pub struct Rollback {
    io: FileIO,
    table_name: String,
    schema: Arc<TableSchema>,
    snapshots: SnapshotManager,
    consumers: ConsumerStore,
    refs: ReferenceReader,
    /// Stop after deleting the snapshot files (tests simulate a crash with it).
    #[cfg(test)]
    pub(crate) stop_after_snapshots: bool,
}

impl Rollback {
    /// The rollback of table `table_name` rooted at `table_io` with `schema`.
    pub fn new(table_io: FileIO, table_name: impl Into<String>, schema: Arc<TableSchema>) -> Result<Self> {
        Ok(Rollback {
            refs: ReferenceReader::new(table_io.clone(), schema.clone())?,
            snapshots: SnapshotManager::new(table_io.clone()),
            consumers: ConsumerStore::new(table_io.clone()),
            io: table_io,
            table_name: table_name.into(),
            schema,
            #[cfg(test)]
            stop_after_snapshots: false,
        })
    }

    /// Rolls the table back to `target`. Errors: the table keeps an embedded log (`Invalid`); the target does
    /// not exist (`NotFound`, naming it and the snapshots there are); a tag whose snapshot id is beyond the
    /// latest or whose id another snapshot now holds (`Invalid`).
    pub async fn rollback_to(&self, target: &RollbackTarget) -> Result<RollbackReport> {
        if LogConfig::from_options(&self.schema.options)?.embedded {
            return Err(Error::invalid(format!(
                "cannot roll table `{}` back to {target}: it keeps an embedded changelog (`log.system` = 'embedded') \
                 whose readers may already have read the changes after the target, and the log cannot be cut back \
                 under them",
                self.table_name
            )));
        }
        let latest = self.snapshots.latest_id().await?;
        let (snapshot, tag) = self.resolve(target, latest).await?;
        // A target a crashed expiration half-deleted would leave a table that cannot be read.
        if let Some(file) = self.refs.add(&mut References::default(), &snapshot, false).await? {
            return Err(Error::NotFound(format!(
                "snapshot {} of table `{}` to roll back to ({target}) is incomplete: `{file}` is gone (a snapshot \
                 expiration was interrupted); nothing was changed",
                snapshot.id, self.table_name
            )));
        }
        let mut report = RollbackReport { snapshot: snapshot.id, ..Default::default() };
        if let Some(name) = tag {
            if self.recreate(&snapshot).await? {
                report.recreated_from_tag = Some(name);
            }
        }
        // 1. The newer snapshot files, newest first: at every step the latest snapshot is whole.
        if let Some(latest) = latest {
            for id in (snapshot.id + 1..=latest).rev() {
                let path = SnapshotManager::snapshot_path(id);
                if self.io.exists(&path).await? {
                    self.io.delete(&path).await?;
                    report.removed_snapshots.push(id);
                }
            }
        }
        self.io.write("snapshot/LATEST", Bytes::from(snapshot.id.to_string())).await?;
        #[cfg(test)]
        if self.stop_after_snapshots {
            return Ok(report);
        }
        // 2. Tags and long-lived changelogs on removed snapshots, then the consumers past the new latest.
        for (name, s) in self.snapshots.tags().await? {
            if s.id > snapshot.id {
                self.snapshots.delete_tag(&name).await?;
                report.removed_tags.push(name);
            }
        }
        let changelogs = ChangelogManager::new(self.io.clone());
        for changelog in changelogs.all().await? {
            if changelog.id > snapshot.id {
                changelogs.delete(changelog.id).await?;
                report.removed_changelogs.push(changelog.id);
            }
        }
        report.reset_consumers = self.reset_consumers(snapshot.id + 1).await?;
        // 3. Files only the removed snapshots (and tags) referenced.
        self.delete_unreferenced(&mut report).await?;
        // The hint may name a removed snapshot (a recreated one is older than it, or a crashed run left it).
        if let Some(earliest) = self.snapshots.earliest_id().await? {
            self.io.write("snapshot/EARLIEST", Bytes::from(earliest.to_string())).await?;
        }
        Ok(report)
    }

    /// The target snapshot, and the tag to recreate it from when its snapshot file is gone.
    async fn resolve(&self, target: &RollbackTarget, latest: Option<i64>) -> Result<(Snapshot, Option<String>)> {
        let range = match (self.snapshots.earliest_id().await?, latest) {
            (Some(e), Some(l)) => format!("{e}..={l}"),
            _ => "none".to_string(),
        };
        let (tag_name, tagged) = match target {
            RollbackTarget::Snapshot(id) => match self.snapshots.snapshot(*id).await {
                Ok(s) => return Ok((s, None)),
                Err(Error::NotFound(_)) => {
                    let tags = self.snapshots.tags().await?;
                    let Some((name, s)) = tags.into_iter().find(|(_, s)| s.id == *id) else {
                        return Err(Error::NotFound(format!(
                            "snapshot {id} of table `{}` to roll back to: it expired or never existed (the table has \
                             snapshots {range}) and no tag holds it",
                            self.table_name
                        )));
                    };
                    (name, s)
                }
                Err(e) => return Err(e),
            },
            RollbackTarget::Tag(name) => match self.snapshots.tag(name).await {
                Ok(s) => (name.clone(), s),
                Err(Error::NotFound(_)) => {
                    let tags: Vec<String> = self.snapshots.tags().await?.into_iter().map(|(n, _)| n).collect();
                    return Err(Error::NotFound(format!(
                        "tag `{name}` of table `{}` to roll back to (its tags: {})",
                        self.table_name,
                        if tags.is_empty() { "none".to_string() } else { tags.join(", ") }
                    )));
                }
                Err(e) => return Err(e),
            },
        };
        match self.snapshots.snapshot(tagged.id).await {
            Ok(s) if s.base_manifest_list == tagged.base_manifest_list => Ok((s, None)),
            Ok(_) => Err(Error::invalid(format!(
                "tag `{tag_name}` of table `{}` holds snapshot {}, but snapshot {} is now a different snapshot (its id \
                 was reused after an interrupted rollback); delete the tag",
                self.table_name, tagged.id, tagged.id
            ))),
            Err(Error::NotFound(_)) if latest.is_some_and(|l| tagged.id > l) => Err(Error::invalid(format!(
                "tag `{tag_name}` of table `{}` holds snapshot {}, beyond the latest snapshot {} (a tag an interrupted \
                 rollback left); delete the tag",
                self.table_name,
                tagged.id,
                latest.unwrap_or(0)
            ))),
            Err(Error::NotFound(_)) => Ok((self.without_lost_changelog(tagged).await?, Some(tag_name))),
            Err(e) => Err(e),
        }
    }

    /// A tag's snapshot without its changelog list when expiration deleted it (tags keep their data only).
    async fn without_lost_changelog(&self, mut s: Snapshot) -> Result<Snapshot> {
        let Some(list) = s.changelog_manifest_list.clone() else { return Ok(s) };
        let mut whole = false;
        if let Some(metas) = self.refs.list_opt(&list).await? {
            whole = true;
            for meta in metas {
                whole &= self.io.exists(&format!("manifest/{}", meta.file_name)).await?;
            }
        }
        if !whole {
            s.changelog_manifest_list = None;
            s.changelog_manifest_list_size = None;
            s.changelog_record_count = None;
        }
        Ok(s)
    }

    /// Publishes the snapshot file of an expired tagged snapshot (by conditional create, as every snapshot
    /// file). Returns false when it exists already (a concurrent or earlier rollback made it).
    async fn recreate(&self, snapshot: &Snapshot) -> Result<bool> {
        self.io.create(&SnapshotManager::snapshot_path(snapshot.id), snapshot.to_json_bytes()?).await
    }

    async fn reset_consumers(&self, next: i64) -> Result<Vec<ConsumerReset>> {
        let mut out = Vec::new();
        for (id, position) in self.consumers.list().await? {
            if position.next_snapshot > next {
                // The log offsets of a position belong to the embedded log, which a rolled-back table has not.
                self.consumers.save(&id, &StreamPosition { next_snapshot: next, log_offsets: BTreeMap::new() }).await?;
                out.push(ConsumerReset { consumer: id, from_snapshot: position.next_snapshot, to_snapshot: next });
            }
        }
        Ok(out)
    }

    /// Deletes the manifest lists no retained snapshot, tag or long-lived changelog names, with the manifests
    /// and files only they name: files, then manifests, then lists, so a re-run finds what a crash left.
    async fn delete_unreferenced(&self, report: &mut RollbackReport) -> Result<()> {
        let mut kept = References::default();
        self.refs.add_snapshots(&mut kept, &self.snapshots.all().await?).await?;
        self.refs.add_tags(&mut kept, &self.snapshots.tags().await?).await?;
        for changelog in ChangelogManager::new(self.io.clone()).all().await? {
            // Java expires these on its own schedule; what remains of them is kept.
            self.refs.add(&mut kept, &changelog, true).await?;
        }
        let lists: Vec<String> = self
            .io
            .list_names("manifest")
            .await?
            .into_iter()
            .filter(|n| n.starts_with("manifest-list-") && !kept.manifests.contains(n))
            .collect();
        let mut manifests = BTreeSet::new();
        let mut entries: Vec<ManifestEntry> = Vec::new();
        for list in &lists {
            for meta in self.refs.list_opt(list).await?.unwrap_or_default() {
                if !kept.manifests.contains(&meta.file_name) && manifests.insert(meta.file_name.clone()) {
                    entries.extend(self.refs.manifest_opt(&meta.file_name).await?.unwrap_or_default());
                }
            }
        }
        let mut deleted = BTreeSet::new();
        for e in &entries {
            let paths = self.refs.entry_paths(e)?;
            if kept.files.contains(&paths[0]) || !deleted.insert(paths[0].clone()) {
                continue;
            }
            for path in &paths {
                self.io.delete(path).await?;
            }
            if e.file.file_name.starts_with("changelog-") {
                report.deleted_changelog_files += 1;
            } else {
                report.deleted_data_files += 1;
            }
        }
        for name in manifests.iter().chain(&lists) {
            self.io.delete(&format!("manifest/{name}")).await?;
            report.deleted_manifests += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "rollback_tests.rs"]
mod tests;
