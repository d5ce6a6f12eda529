//! Orphan file cleanup (Java Paimon's `remove_orphan_files` procedure): deletes the files under a table's
//! directory that nothing references and that are older than a safety margin.
//!
//! **What is an orphan.** A file under `manifest/` or under a partition or bucket directory (data files,
//! changelog files, extra files, stray temporary files a crashed writer left) that no snapshot (every
//! existing one, not only the latest), no tag and no long-lived changelog (`changelog/changelog-N`, Java's)
//! references ([`crate::references`]), last modified before the margin: by default one day before now on the
//! table's clock (Paimon's default), or `older_than_millis`. Consumers pin snapshots, which expiration keeps,
//! so what they need is referenced by those snapshots. Orphans come from commits that failed or lost a race
//! after writing files, compactions discarded after a conflict, crashed expirations and rollbacks.
//!
//! **Never touched**: `schema/`, `snapshot/`, `tag/`, `consumer/`, `changelog/` (metadata), `log/` (the embedded
//! log has its own retention), `index/`, `statistics/` and `index-manifest-*` files (deletion vectors and
//! statistics, referenced through index manifests, which dyntable does not read), `branch/`, files directly in
//! the table directory, and every file younger than the margin: an in-flight commit's files are written before
//! its snapshot names them. The margin is the only protection of those, as in Paimon: a writer that holds
//! uncommitted files longer than the margin loses them.
//!
//! The local object store stages its writes in hidden files the object-store listing does not show, so a
//! temporary file left by a crash of the store itself is not seen here.
//!
//! Layering: below [`crate::table`]; needs the table's [`FileIO`], schema, snapshots and the reference reader.

use std::sync::Arc;

use crate::error::Result;
use crate::io::{FileIO, ListedFile};
use crate::long_lived::ChangelogManager;
use crate::references::{ReferenceReader, References};
use crate::schema::TableSchema;
use crate::snapshot::SnapshotManager;

/// The default safety margin: files younger than this are never orphans (Paimon's one day).
pub const ORPHAN_DEFAULT_MARGIN_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// Top-level directories of a table that orphan cleanup never lists.
const PROTECTED_DIRS: &[&str] =
    &["schema", "snapshot", "tag", "consumer", "changelog", "log", "index", "statistics", "branch"];

/// What an orphan cleanup found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrphanReport {
    /// The orphans found (paths relative to the table directory, sorted), deleted unless `dry_run`.
    pub orphans: Vec<ListedFile>,
    /// Their total size.
    pub bytes: u64,
    /// Orphans deleted (0 in a dry run).
    pub deleted: usize,
    /// Files nothing references that were kept because they are younger than the margin.
    pub kept_young: usize,
    /// The cutoff used: files modified before it could be orphans (ms since the epoch).
    pub older_than_millis: i64,
    pub dry_run: bool,
    /// Snapshots whose manifests a crashed expiration already deleted (they reference only what remains).
    pub half_expired_snapshots: Vec<i64>,
}

/// Finds and deletes the orphan files of one table; see the module docs.
#[derive(Clone, Debug)]
pub struct OrphanFilesClean {
    io: FileIO,
    snapshots: SnapshotManager,
    refs: ReferenceReader,
}

impl OrphanFilesClean {
    /// Orphan cleanup of the table rooted at `table_io` with `schema`.
    pub fn new(table_io: FileIO, schema: Arc<TableSchema>) -> Result<Self> {
        Ok(OrphanFilesClean {
            refs: ReferenceReader::new(table_io.clone(), schema)?,
            snapshots: SnapshotManager::new(table_io.clone()),
            io: table_io,
        })
    }

    /// Finds the orphans older than `older_than_millis` (default: now - [`ORPHAN_DEFAULT_MARGIN_MILLIS`]) and,
    /// unless `dry_run`, deletes them. Fails, deleting nothing, when a snapshot newer than a whole one or a tag
    /// names a manifest that is missing (damage a cleanup would make worse).
    pub async fn clean(&self, older_than_millis: Option<i64>, dry_run: bool) -> Result<OrphanReport> {
        let cutoff = older_than_millis
            .unwrap_or_else(|| self.io.seams().now_millis().saturating_sub(ORPHAN_DEFAULT_MARGIN_MILLIS));
        // Listed before the references are read: a file committed in between is then referenced (or young).
        let listed = self.candidates().await?;
        let mut refs = References::default();
        let half_expired = self.refs.add_snapshots(&mut refs, &self.snapshots.all().await?).await?;
        self.refs.add_tags(&mut refs, &self.snapshots.tags().await?).await?;
        for changelog in ChangelogManager::new(self.io.clone()).all().await? {
            self.refs.add(&mut refs, &changelog, true).await?;
        }
        let mut report = OrphanReport {
            older_than_millis: cutoff,
            dry_run,
            half_expired_snapshots: half_expired,
            ..Default::default()
        };
        for file in listed {
            let referenced = match file.path.strip_prefix("manifest/") {
                Some(name) => refs.manifests.contains(name),
                None => refs.files.contains(&file.path),
            };
            if referenced {
                continue;
            }
            if file.last_modified_millis >= cutoff {
                report.kept_young += 1;
                continue;
            }
            report.bytes += file.size;
            report.orphans.push(file);
        }
        report.orphans.sort_by(|a, b| a.path.cmp(&b.path));
        if !dry_run {
            // Data files before manifests before lists: a crash leaves no manifest naming a deleted file that a
            // later run would not see as an orphan anyway, and keeps the order expiration uses.
            let rank = |p: &str| match p.strip_prefix("manifest/") {
                None => 0,
                Some(n) if n.starts_with("manifest-list-") => 2,
                Some(_) => 1,
            };
            let mut order: Vec<&ListedFile> = report.orphans.iter().collect();
            order.sort_by_key(|f| rank(&f.path));
            for file in order {
                self.io.delete(&file.path).await?;
                report.deleted += 1;
            }
        }
        Ok(report)
    }

    /// The files cleanup may delete: under `manifest/` (but index manifests) and under partition and bucket
    /// directories.
    async fn candidates(&self) -> Result<Vec<ListedFile>> {
        let listed = self.io.list_recursive("").await?;
        Ok(listed
            .into_iter()
            .filter(|f| match f.path.split_once('/') {
                None => false,
                Some(("manifest", name)) => !name.starts_with("index-manifest-"),
                Some((top, _)) => !PROTECTED_DIRS.contains(&top),
            })
            .collect())
    }
}

#[cfg(test)]
#[path = "orphan_tests.rs"]
mod tests;
