//! The change stream of a table without the embedded log, as Paimon's streaming read: follow the snapshots in
//! order and read the changes each made from its files ([`crate::incremental`]): the delta files of `APPEND`
//! snapshots when the table has no changelog producer, else the changelog files of every snapshot that has some.
//!
//! A position is the next snapshot to read. A snapshot's changes are delivered in batches; every batch but the
//! last carries the position of the snapshot itself (resuming re-reads it: at least once), the last one the
//! position after it, so a reader that saves each batch's position resumes exactly after what it handled.

use std::path::PathBuf;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::SchemaRef;
use futures::StreamExt;

use super::{require_snapshot, ChangeBatch, SnapshotWatch, StartFrom};
use crate::consumer::StreamPosition;
use crate::error::{Error, Result};
use crate::incremental::{change_schema, read_change_splits, snapshot_change_splits, ChangeFiles, ChangeScanMode};
use crate::long_lived::{earliest_change_id, snapshot_or_changelog, ChangelogManager};
use crate::read::{BatchStream, TableRead};
use crate::row_kind::RowKind;
use crate::scan::ScanFrom;
use crate::snapshot::{Snapshot, SnapshotManager};
use crate::table::FileStoreTable;

pub(super) struct FileReader {
    table: FileStoreTable,
    files: ChangeFiles,
    read: TableRead,
    schema: SchemaRef,
    /// Rows of the start snapshot still to deliver.
    full: Option<BatchStream>,
    /// The first snapshot whose changes are not all delivered.
    next_snapshot: i64,
    /// The changes of snapshot `next_snapshot` being read.
    current: Option<BatchStream>,
    /// A batch of `current` read ahead, so that the snapshot's last batch is known as such.
    ahead: Option<RecordBatch>,
    watch: SnapshotWatch,
}

impl FileReader {
    pub(super) async fn open(
        table: &FileStoreTable,
        from: Option<StartFrom>,
        position: Option<StreamPosition>,
        snapshot_dir: Option<PathBuf>,
    ) -> Result<FileReader> {
        let snapshots = table.snapshot_manager();
        let latest = snapshots.latest().await?;
        let after_latest = latest.as_ref().map_or(1, |s| s.id + 1);
        let (full_snapshot, next_snapshot) = match (from, position) {
            (_, Some(p)) => {
                if p.next_snapshot < 1 {
                    return Err(Error::invalid(format!(
                        "a position of table `{}` names snapshot {}; snapshot ids start at 1",
                        table.name(),
                        p.next_snapshot
                    )));
                }
                (None, p.next_snapshot)
            }
            (Some(StartFrom::Latest), None) => (None, after_latest),
            (Some(StartFrom::LatestFull), None) => (latest.clone(), after_latest),
            (Some(StartFrom::FromSnapshot(id)), None) => {
                require_change_start(table, latest.as_ref(), id).await?;
                (None, id)
            }
            (Some(StartFrom::FromSnapshotFull(id)), None) => {
                (Some(require_snapshot(table, latest.as_ref(), id).await?), id + 1)
            }
            (Some(StartFrom::FromTimestamp(millis)), None) => {
                (None, first_change_at_or_after(&snapshots, millis).await?.unwrap_or(after_latest))
            }
            (Some(StartFrom::CompactedFull), None) | (None, None) => {
                return Err(Error::Internal("a change reader needs a resolved start point or a position".into()))
            }
        };
        let full = match &full_snapshot {
            Some(s) => Some(table.scan(&ScanFrom::Snapshot(s.id), None, None).await?.1),
            None => None,
        };
        Ok(FileReader {
            table: table.clone(),
            files: ChangeScanMode::Auto.files(table.schema())?,
            read: table.new_read(None, None)?,
            schema: change_schema(table.schema()),
            full,
            next_snapshot,
            current: None,
            ahead: None,
            watch: SnapshotWatch::new(snapshot_dir),
        })
    }

    pub(super) fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub(super) fn position(&self) -> StreamPosition {
        StreamPosition { next_snapshot: self.next_snapshot, log_offsets: Default::default() }
    }

    pub(super) fn in_snapshot_phase(&self) -> bool {
        self.full.is_some()
    }

    pub(super) async fn wait(&mut self) {
        self.watch.wait().await
    }

    fn change(&self, batch: RecordBatch, next_snapshot: i64) -> ChangeBatch {
        ChangeBatch {
            batch,
            position: StreamPosition { next_snapshot, log_offsets: Default::default() },
            from_snapshot: false,
        }
    }

    pub(super) async fn try_next(&mut self) -> Result<Option<ChangeBatch>> {
        if let Some(full) = &mut self.full {
            match full.next().await {
                Some(batch) => {
                    let batch = batch?;
                    let kinds: ArrayRef =
                        std::sync::Arc::new(StringArray::from(vec![RowKind::Insert.short_string(); batch.num_rows()]));
                    let mut columns = vec![kinds];
                    columns.extend(batch.columns().iter().cloned());
                    return Ok(Some(ChangeBatch {
                        batch: RecordBatch::try_new(self.schema.clone(), columns)?,
                        position: self.position(),
                        from_snapshot: true,
                    }));
                }
                None => self.full = None,
            }
        }
        loop {
            if let Some(current) = &mut self.current {
                match current.next().await {
                    Some(batch) => {
                        if let Some(previous) = self.ahead.replace(batch?) {
                            return Ok(Some(self.change(previous, self.next_snapshot)));
                        }
                    }
                    None => {
                        self.current = None;
                        self.next_snapshot += 1;
                        if let Some(last) = self.ahead.take() {
                            return Ok(Some(self.change(last, self.next_snapshot)));
                        }
                    }
                }
                continue;
            }
            if !self.open_next().await? {
                return Ok(None);
            }
        }
    }

    /// Starts reading the changes of snapshot `next_snapshot` (or skips it when it has none of the kind
    /// followed); false when that snapshot does not exist yet.
    async fn open_next(&mut self) -> Result<bool> {
        let snapshots = self.table.snapshot_manager();
        let id = self.next_snapshot;
        let Some(latest) = snapshots.latest_id().await? else { return Ok(false) };
        if id > latest {
            return Ok(false);
        }
        let changelogs = ChangelogManager::of(&snapshots);
        let earliest = earliest_change_id(&snapshots, &changelogs).await?.unwrap_or(latest);
        // Below the earliest snapshot, a long-lived changelog holds the expired snapshot's changes.
        let snapshot = match snapshot_or_changelog(&snapshots, &changelogs, id).await {
            Ok(s) if id >= earliest => s,
            Ok(_) | Err(Error::NotFound(_)) => {
                return Err(Error::NotFound(format!(
                    "snapshot {id} of table `{}`, where this reader's changes continue: it has expired ({}); start from a later point, e.g. `full` or `snapshot:{earliest}`",
                    self.table.name(),
                    change_range(&snapshots, latest).await?,
                )))
            }
            Err(e) => return Err(e),
        };
        let manifests = self.table.manifest_store();
        match snapshot_change_splits(&manifests, self.table.schema(), &snapshot, self.files).await? {
            Some(splits) => self.current = Some(read_change_splits(&self.read, splits, false)),
            None => self.next_snapshot += 1,
        }
        Ok(true)
    }
}

/// Which snapshot ids changes can be read from, for messages: the snapshots, and the long-lived changelogs
/// before them.
async fn change_range(snapshots: &SnapshotManager, latest: i64) -> Result<String> {
    let earliest = snapshots.earliest_id().await?.unwrap_or(latest);
    Ok(match ChangelogManager::of(snapshots).earliest_id().await? {
        Some(c) if c < earliest => {
            format!("changelogs {c}..{earliest} and snapshots {earliest}..={latest} exist")
        }
        _ => format!("snapshots {earliest}..={latest} exist"),
    })
}

/// That changes can be read from snapshot `id` on: a snapshot or a long-lived changelog.
pub(super) async fn require_change_start(table: &FileStoreTable, latest: Option<&Snapshot>, id: i64) -> Result<()> {
    let Some(latest) = latest else { return require_snapshot(table, None, id).await.map(|_| ()) };
    let snapshots = table.snapshot_manager();
    if (1..=latest.id).contains(&id) {
        match snapshot_or_changelog(&snapshots, &ChangelogManager::of(&snapshots), id).await {
            Ok(_) => return Ok(()),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Err(Error::NotFound(format!(
        "snapshot {id} of table `{}` ({})",
        table.name(),
        change_range(&snapshots, latest.id).await?
    )))
}

/// The first snapshot or long-lived changelog committed at or after `millis` (ids grow with commit times).
async fn first_change_at_or_after(snapshots: &SnapshotManager, millis: i64) -> Result<Option<i64>> {
    let changelogs = ChangelogManager::of(snapshots);
    let (Some(earliest), Some(latest)) =
        (earliest_change_id(snapshots, &changelogs).await?, snapshots.latest_id().await?)
    else {
        return Ok(None);
    };
    let (mut lo, mut hi) = (earliest, latest + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if snapshot_or_changelog(snapshots, &changelogs, mid).await?.time_millis >= millis {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok((lo <= latest).then_some(lo))
}
