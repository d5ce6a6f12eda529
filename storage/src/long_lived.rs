//! Paimon's long-lived changelog: when changelogs outlive snapshots (`changelog.num-retained.*` or
//! `changelog.time-retained` above the snapshots' retention, [`crate::options::CoreOptions::changelog_decoupled`]),
//! snapshot expiration keeps what each expiring snapshot's changes are read from and writes its metadata (the
//! snapshot's JSON, unchanged) as `changelog/changelog-N`, with `LATEST` and `EARLIEST` hints as in `snapshot/`.
//! Readers that follow snapshots (streaming reads without the embedded log, `incremental-between`) continue
//! into these ids below the earliest snapshot ([`snapshot_or_changelog`]); changelog expiration
//! ([`crate::expire::ExpireSnapshots::expire_changelogs`]) deletes them.
//!
//! Layering: beside [`crate::snapshot`]; needs only the table's [`FileIO`].

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::snapshot::{NumberedFiles, Snapshot, SnapshotManager};

const CHANGELOGS: NumberedFiles = NumberedFiles { dir: "changelog", kind: "changelog" };

/// Reads and writes the long-lived changelogs of one table.
#[derive(Clone, Debug)]
pub struct ChangelogManager {
    io: FileIO,
}

impl ChangelogManager {
    pub fn new(table_io: FileIO) -> Self {
        ChangelogManager { io: table_io }
    }

    /// The long-lived changelogs of the table whose snapshots `snapshots` reads.
    pub fn of(snapshots: &SnapshotManager) -> Self {
        ChangelogManager { io: snapshots.io().clone() }
    }

    pub fn changelog_path(id: i64) -> String {
        CHANGELOGS.path(id)
    }

    /// The ids of the changelog files, ascending.
    pub async fn list_ids(&self) -> Result<Vec<i64>> {
        CHANGELOGS.list_ids(&self.io).await
    }

    /// The newest long-lived changelog id, trusting `LATEST` only when the next changelog does not exist.
    pub async fn latest_id(&self) -> Result<Option<i64>> {
        CHANGELOGS.latest_id(&self.io).await
    }

    /// The oldest long-lived changelog id, trusting `EARLIEST` only when that changelog exists.
    pub async fn earliest_id(&self) -> Result<Option<i64>> {
        CHANGELOGS.earliest_id(&self.io).await
    }

    pub async fn exists(&self, id: i64) -> Result<bool> {
        self.io.exists(&Self::changelog_path(id)).await
    }

    /// The changelog `id`; [`Error::NotFound`] when there is none.
    pub async fn changelog(&self, id: i64) -> Result<Snapshot> {
        CHANGELOGS.read(&self.io, id).await
    }

    /// Every long-lived changelog, ascending (those deleted while listing are left out).
    pub async fn all(&self) -> Result<Vec<Snapshot>> {
        let mut out = Vec::new();
        for id in self.list_ids().await? {
            match self.changelog(id).await {
                Ok(s) => out.push(s),
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Writes `snapshot` as its long-lived changelog (an overwrite: a re-run after a crash writes the same
    /// content), then the `LATEST` hint.
    pub async fn commit(&self, snapshot: &Snapshot) -> Result<()> {
        self.io.write(&Self::changelog_path(snapshot.id), snapshot.to_json_bytes()?).await?;
        self.io.write("changelog/LATEST", Bytes::from(snapshot.id.to_string())).await
    }

    pub async fn write_earliest_hint(&self, id: i64) -> Result<()> {
        self.io.write("changelog/EARLIEST", Bytes::from(id.to_string())).await
    }

    pub async fn delete(&self, id: i64) -> Result<()> {
        self.io.delete(&Self::changelog_path(id)).await
    }
}

/// Snapshot `id`, or its long-lived changelog when the snapshot expired: what a reader of changes follows.
/// [`Error::NotFound`] when neither exists.
pub async fn snapshot_or_changelog(
    snapshots: &SnapshotManager,
    changelogs: &ChangelogManager,
    id: i64,
) -> Result<Snapshot> {
    match snapshots.snapshot(id).await {
        Err(Error::NotFound(_)) => changelogs.changelog(id).await,
        other => other,
    }
}

/// The first id changes can be read from: the earliest long-lived changelog, else the earliest snapshot.
pub async fn earliest_change_id(snapshots: &SnapshotManager, changelogs: &ChangelogManager) -> Result<Option<i64>> {
    let earliest = snapshots.earliest_id().await?;
    Ok(match (changelogs.earliest_id().await?, earliest) {
        (Some(c), Some(s)) => Some(c.min(s)),
        (c, s) => c.or(s),
    })
}
