//! A table read as a stream of changes ([`ChangeReader`]). A table with the embedded log is read hybrid, the
//! stream-table duality: the rows of a snapshot first (when asked for) and then every later change from the log,
//! starting exactly at the offsets that snapshot recorded, so there is no gap and no duplicate between the two.
//! Any other table is read as Paimon's streaming read does, snapshot by snapshot from its delta or changelog
//! files ([`files`], over [`crate::incremental`]).
//!
//! Start points ([`StartFrom`]):
//! - `latest-full`: the rows of the latest snapshot as `+I`, then the changes after it;
//! - `latest`: only changes after now (after the latest snapshot; with `log.consistency = 'eventual'`,
//!   after the log's durable end);
//! - `from-snapshot N`: the changes committed by snapshot N and every later one (the log from the offsets
//!   of snapshot N - 1);
//! - `from-snapshot-full N`: the rows of snapshot N, then the changes after it;
//! - `from-timestamp T`: the changes of the snapshots committed at or after T (Paimon's `from-timestamp`).
//!
//! A reader's [`StreamPosition`] (the next snapshot and, with the log, per bucket the next log offset) can be
//! saved and resumed from; a named consumer stores it in `consumer/consumer-<id>` (Paimon's consumer file, with
//! the `logOffsets` added), which also keeps log retention from deleting what it still needs. Delivery to a
//! consumer is at least once: a position saved after a batch was handled resumes after it.
//!
//! Tailing readers are woken by the log store (file-system notification of the durable end) and, in
//! transactional mode and without the log, by notification of new snapshot files (polling on object stores);
//! a bounded re-check covers missed events.
//!
//! Layering: this module sits above `table` (it reads a [`FileStoreTable`]), [`crate::consumer`]
//! (positions, consumer files, recorded offsets) and [`crate::incremental`]; none of them imports it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType as ArrowType, Field, Schema as ArrowSchema, SchemaRef};
use dyntable_log_store::{Batch, FollowerReader, LogFollower, RemoteLog};
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;

use crate::changelog::{bucket_log_dir, bucket_log_prefix, decode_changes, log_buckets, ChangeConformer, LOG_DIR};
use crate::consumer::{offsets_before, recorded_log_offsets, StreamPosition};
use crate::error::{Error, Result};
use crate::options::LogConsistency;
use crate::read::BatchStream;
use crate::row_kind::RowKind;
use crate::scan::ScanFrom;
use crate::schema::SchemaManager;
use crate::snapshot::{Snapshot, SnapshotManager};
use crate::table::FileStoreTable;

mod files;

use files::FileReader;

/// How long a waiting reader sleeps at most before re-checking, in case a file-system event was missed.
const RECHECK: Duration = Duration::from_millis(1000);
/// Remote (non-local) tables have no file-system events: their snapshots are polled this often.
const REMOTE_POLL: Duration = Duration::from_millis(100);

/// Where a change stream starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartFrom {
    LatestFull,
    Latest,
    FromSnapshot(i64),
    FromSnapshotFull(i64),
    /// Paimon's `from-timestamp`: the changes of every snapshot committed at or after this epoch-millis time.
    FromTimestamp(i64),
    /// Paimon's `scan.mode = compacted-full`: the rows of the latest `COMPACT` snapshot (the latest snapshot
    /// when none was compacted), then the changes of the later snapshots.
    CompactedFull,
}

impl FromStr for StartFrom {
    type Err = Error;

    /// `latest`, `full` / `latest-full`, `compacted-full`, `snapshot:N` / `from-snapshot:N`, `snapshot-full:N`,
    /// `timestamp:T` / `from-timestamp:T` (T an ISO-8601 UTC time, `2024-05-01T12:00:00[.fff]`, or epoch millis).
    fn from_str(text: &str) -> Result<StartFrom> {
        let text = text.trim();
        let id = |n: &str| {
            n.trim().parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                Error::invalid(format!("start point `{text}`: `{n}` is not a snapshot id (a positive number)"))
            })
        };
        match text {
            "latest" => Ok(StartFrom::Latest),
            "full" | "latest-full" => Ok(StartFrom::LatestFull),
            "compacted-full" => Ok(StartFrom::CompactedFull),
            _ => {
                if let Some(n) =
                    text.strip_prefix("snapshot-full:").or_else(|| text.strip_prefix("from-snapshot-full:"))
                {
                    Ok(StartFrom::FromSnapshotFull(id(n)?))
                } else if let Some(n) = text.strip_prefix("snapshot:").or_else(|| text.strip_prefix("from-snapshot:")) {
                    Ok(StartFrom::FromSnapshot(id(n)?))
                } else if let Some(t) = text.strip_prefix("timestamp:").or_else(|| text.strip_prefix("from-timestamp:"))
                {
                    let millis = match t.trim().parse::<i64>() {
                        Ok(ms) => ms,
                        Err(_) => {
                            crate::datum::parse_timestamp(t)
                                .map_err(|e| Error::invalid(format!("start point `{text}`: {e}")))?
                                .0
                        }
                    };
                    Ok(StartFrom::FromTimestamp(millis))
                } else {
                    Err(Error::invalid(format!(
                        "unknown start point `{text}` (use latest, full, compacted-full, snapshot:N, snapshot-full:N or timestamp:T)"
                    )))
                }
            }
        }
    }
}

/// Changes as delivered: `rowkind` (`+I`, `-U`, `+U`, `-D`) then the table's columns; and the position after
/// them.
#[derive(Debug, Clone)]
pub struct ChangeBatch {
    pub batch: RecordBatch,
    pub position: StreamPosition,
    /// True for rows of the snapshot read at the start (`latest-full`, `from-snapshot-full`).
    pub from_snapshot: bool,
}

/// Wakes a reader when a new snapshot appears: file-system notification on a local table's `snapshot/`
/// directory, else polling.
struct SnapshotWatch {
    _watcher: Option<notify::RecommendedWatcher>,
    wake: Arc<tokio::sync::Notify>,
    fallback: Duration,
}

impl SnapshotWatch {
    fn new(snapshot_dir: Option<PathBuf>) -> SnapshotWatch {
        let wake = Arc::new(tokio::sync::Notify::new());
        let watcher = snapshot_dir.and_then(|dir| {
            std::fs::create_dir_all(&dir).ok()?;
            let notify_wake = wake.clone();
            let mut watcher =
                notify::recommended_watcher(move |_event: notify::Result<notify::Event>| notify_wake.notify_one())
                    .ok()?;
            notify::Watcher::watch(&mut watcher, &dir, notify::RecursiveMode::NonRecursive).ok()?;
            Some(watcher)
        });
        let fallback = if watcher.is_some() { RECHECK } else { REMOTE_POLL };
        SnapshotWatch { _watcher: watcher, wake, fallback }
    }

    async fn wait(&self) {
        let _ = tokio::time::timeout(self.fallback, self.wake.notified()).await;
    }
}

/// One bucket's log as a reader follows it.
struct BucketLog {
    bucket: i32,
    source: Source,
    next: i64,
}

/// Where a bucket's log is read from: the local log directory (on the writer's machine), or the sealed
/// segments writers uploaded to the table's `log/` in its object store.
enum Source {
    Local {
        follower: LogFollower,
        /// A reader left at the bucket's position by the last read, reused while it stays there.
        reader: Option<FollowerReader>,
    },
    Remote {
        store: Arc<dyn ObjectStore>,
        prefix: ObjectPath,
        /// The listing of uploaded segments, dropped when a read reaches its end so the next read sees new
        /// uploads.
        log: Option<RemoteLog>,
        stream: Option<(u64, BoxStream<'static, dyntable_log_store::Result<Batch>>)>,
    },
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Local { follower, .. } => follower.dir().display().to_string(),
            Source::Remote { prefix, .. } => prefix.to_string(),
        }
    }

    async fn remote_log(
        store: &Arc<dyn ObjectStore>,
        prefix: &ObjectPath,
        log: &mut Option<RemoteLog>,
    ) -> dyntable_log_store::Result<()> {
        if log.is_none() {
            *log = Some(RemoteLog::open(store.clone(), prefix).await?);
        }
        Ok(())
    }

    /// (first offset still readable, end of what is readable now).
    async fn bounds(&mut self) -> dyntable_log_store::Result<(i64, i64)> {
        match self {
            Source::Local { follower, .. } => Ok((follower.log_start_offset()? as i64, follower.next_offset()? as i64)),
            Source::Remote { store, prefix, log, .. } => {
                Self::remote_log(store, prefix, log).await?;
                let log = log.as_ref().expect("opened above");
                Ok((log.log_start_offset() as i64, log.next_offset() as i64))
            }
        }
    }

    /// The batch at `next`, if it can be read now.
    async fn read(&mut self, next: i64) -> dyntable_log_store::Result<Option<Batch>> {
        match self {
            Source::Local { follower, reader } => {
                if reader.as_ref().is_none_or(|r| r.next_offset() != next as u64) {
                    *reader = Some(follower.read_from(next as u64)?);
                }
                match reader.as_mut().expect("set above").next() {
                    Some(Ok(batch)) => Ok(Some(batch)),
                    Some(Err(e)) => {
                        *reader = None;
                        Err(e)
                    }
                    None => {
                        *reader = None;
                        Ok(None)
                    }
                }
            }
            Source::Remote { store, prefix, log, stream } => {
                if stream.as_ref().is_none_or(|(at, _)| *at != next as u64) {
                    Self::remote_log(store, prefix, log).await?;
                    let remote = log.as_ref().expect("opened above");
                    if next as u64 >= remote.next_offset() {
                        // Nothing new in this listing: list again next time.
                        *log = None;
                        *stream = None;
                        return Ok(None);
                    }
                    *stream = Some((next as u64, remote.read_from(next as u64)?));
                }
                let (at, batches) = stream.as_mut().expect("set above");
                match batches.next().await {
                    Some(Ok(batch)) => {
                        *at = batch.next_offset();
                        Ok(Some(batch))
                    }
                    Some(Err(e)) => {
                        *stream = None;
                        Err(e)
                    }
                    None => {
                        *log = None;
                        *stream = None;
                        Ok(None)
                    }
                }
            }
        }
    }
}

/// A table read as a stream of changes; see the module docs.
pub struct ChangeReader {
    inner: Inner,
}

enum Inner {
    /// A table with the embedded log.
    Log(Box<LogReader>),
    /// Any other table: its snapshots' delta or changelog files.
    Files(Box<FileReader>),
}

impl ChangeReader {
    /// Opens a change stream of `table` from `from`: from its embedded log if it keeps one, else from its
    /// snapshots' files.
    pub async fn open(table: &FileStoreTable, from: StartFrom) -> Result<ChangeReader> {
        Self::open_inner(table, Some(from), None).await
    }

    /// Opens a change stream at a saved position.
    pub async fn resume(table: &FileStoreTable, position: StreamPosition) -> Result<ChangeReader> {
        Self::open_inner(table, None, Some(position)).await
    }

    /// Resumes consumer `id` where it stopped, or starts it at `from` when it has never run.
    pub async fn open_consumer(table: &FileStoreTable, id: &str, from: StartFrom) -> Result<ChangeReader> {
        match table.consumers().load(id).await? {
            Some(position) => Self::resume(table, position).await,
            None => Self::open(table, from).await,
        }
    }

    async fn open_inner(
        table: &FileStoreTable,
        from: Option<StartFrom>,
        position: Option<StreamPosition>,
    ) -> Result<ChangeReader> {
        let from = match from {
            Some(StartFrom::CompactedFull) => {
                // The latest COMPACT snapshot, read whole, then what followed (Paimon's `compacted-full`).
                let mut compacted = None;
                for s in table.snapshot_manager().all().await?.into_iter().rev() {
                    if s.commit_kind == crate::snapshot::CommitKind::Compact {
                        compacted = Some(s.id);
                        break;
                    }
                }
                Some(compacted.map_or(StartFrom::LatestFull, StartFrom::FromSnapshotFull))
            }
            other => other,
        };
        let inner = if table.log_config()?.embedded {
            Inner::Log(Box::new(LogReader::open(table, from, position).await?))
        } else {
            Inner::Files(Box::new(FileReader::open(table, from, position, snapshot_dir(table)).await?))
        };
        Ok(ChangeReader { inner })
    }

    /// The schema of delivered batches: `rowkind` then the table's columns.
    pub fn schema(&self) -> SchemaRef {
        match &self.inner {
            Inner::Log(r) => r.schema.clone(),
            Inner::Files(r) => r.schema(),
        }
    }

    /// Where the reader stands (meaningful for resuming once the start snapshot's rows are delivered).
    pub fn position(&self) -> StreamPosition {
        match &self.inner {
            Inner::Log(r) => r.position(),
            Inner::Files(r) => r.position(),
        }
    }

    /// Whether the rows of the start snapshot are still being delivered.
    pub fn in_snapshot_phase(&self) -> bool {
        match &self.inner {
            Inner::Log(r) => r.full.is_some(),
            Inner::Files(r) => r.in_snapshot_phase(),
        }
    }

    /// The next batch of changes, waiting for one.
    pub async fn next(&mut self) -> Result<ChangeBatch> {
        loop {
            if let Some(batch) = self.try_next().await? {
                return Ok(batch);
            }
            match &mut self.inner {
                Inner::Log(r) => r.wait().await?,
                Inner::Files(r) => r.wait().await,
            }
        }
    }

    /// The reader as an endless `Stream` of change batches (it ends after yielding an error).
    pub fn into_stream(self) -> BoxStream<'static, Result<ChangeBatch>> {
        futures::stream::unfold(Some(self), |state| async move {
            let mut reader = state?;
            match reader.next().await {
                Ok(batch) => Some((Ok(batch), Some(reader))),
                Err(e) => Some((Err(e), None)),
            }
        })
        .boxed()
    }

    /// The next batch if one can be delivered now.
    pub async fn try_next(&mut self) -> Result<Option<ChangeBatch>> {
        match &mut self.inner {
            Inner::Log(r) => r.try_next().await,
            Inner::Files(r) => r.try_next().await,
        }
    }
}

/// A local table's `snapshot/` directory (to watch), found next to its log directory; `None` for a table in
/// an object store.
fn snapshot_dir(table: &FileStoreTable) -> Option<PathBuf> {
    table
        .log_dir()
        .and_then(|log_dir| log_dir.parent())
        .filter(|table_dir| table_dir.join("schema").is_dir())
        .map(|table_dir| table_dir.join("snapshot"))
}

/// The change stream of a table with the embedded log.
struct LogReader {
    table: FileStoreTable,
    consistency: LogConsistency,
    buckets: Vec<BucketLog>,
    /// Rows of the start snapshot still to deliver.
    full: Option<BatchStream>,
    /// The latest snapshot seen: its id and offsets (the transactional limits).
    latest_id: i64,
    committed: BTreeMap<i32, i64>,
    next_snapshot: i64,
    conformer: ChangeConformer,
    watch: SnapshotWatch,
    schema: SchemaRef,
    round_robin: usize,
    /// A batch a tailer delivered while the reader waited: (index into `buckets`, batch).
    pending: Option<(usize, Batch)>,
    /// Reading uploaded segments from the object store (no local log on this machine).
    remote: bool,
}

impl LogReader {
    async fn open(
        table: &FileStoreTable,
        from: Option<StartFrom>,
        position: Option<StreamPosition>,
    ) -> Result<LogReader> {
        let config = table.log_config()?;
        let snapshots = table.snapshot_manager();
        let latest = snapshots.latest().await?;
        // Read the local logs when this machine has them, else what writers uploaded to the object store.
        let local = table.log_dir().map(Path::to_path_buf);
        let mut sources = BTreeMap::new();
        for bucket in log_buckets(table.schema())? {
            let source = match &local {
                Some(log_dir) => {
                    let dir = bucket_log_dir(log_dir, bucket);
                    if !dir.is_dir() {
                        return Err(Error::NotFound(format!(
                            "the log of bucket {bucket} of table `{}` (`{}`); it is created with the table or by its first writer",
                            table.name(),
                            dir.display()
                        )));
                    }
                    let follower = LogFollower::open(&dir)
                        .map_err(|e| Error::log(format!("open the log of bucket {bucket} to read"), e))?;
                    Source::Local { follower, reader: None }
                }
                None => Source::Remote {
                    store: table.io().store.clone(),
                    prefix: bucket_log_prefix(&table.io().path(LOG_DIR), bucket),
                    log: None,
                    stream: None,
                },
            };
            sources.insert(bucket, source);
        }
        let mut bounds = BTreeMap::new();
        for (bucket, source) in sources.iter_mut() {
            bounds.insert(
                *bucket,
                source
                    .bounds()
                    .await
                    .map_err(|e| Error::log(format!("open the log of bucket {bucket} (`{}`)", source.describe()), e))?,
            );
        }
        // `from-timestamp`: the snapshot it starts at, or the end of the table when nothing is that recent.
        let from = match from {
            Some(StartFrom::FromTimestamp(millis)) => match first_at_or_after(&snapshots, millis).await? {
                Some(id) => Some(StartFrom::FromSnapshot(id)),
                None => Some(StartFrom::Latest),
            },
            other => other,
        };
        let latest_offsets = match &latest {
            Some(s) => recorded_log_offsets(&snapshots, s).await?,
            None => BTreeMap::new(),
        };
        let (full_snapshot, start_offsets, next_snapshot): (Option<Snapshot>, BTreeMap<i32, i64>, i64) =
            match (from, position) {
                (_, Some(p)) => {
                    let offsets = p.log_offsets.clone();
                    let offsets = if offsets.is_empty() {
                        offsets_before(&snapshots, table.name(), p.next_snapshot).await?
                    } else {
                        offsets
                    };
                    (None, offsets, p.next_snapshot)
                }
                (Some(StartFrom::LatestFull), None) => {
                    let next = latest.as_ref().map_or(1, |s| s.id + 1);
                    (latest.clone(), latest_offsets.clone(), next)
                }
                (Some(StartFrom::Latest), None) => {
                    let offsets = match config.consistency {
                        LogConsistency::Transactional => latest_offsets.clone(),
                        LogConsistency::Eventual => bounds.iter().map(|(b, (_, end))| (*b, *end)).collect(),
                    };
                    (None, offsets, latest.as_ref().map_or(1, |s| s.id + 1))
                }
                (Some(StartFrom::FromSnapshot(id)), None) => {
                    // A snapshot, or a long-lived changelog of an expired one (its offsets are recorded too).
                    files::require_change_start(table, latest.as_ref(), id).await?;
                    (None, offsets_before(&snapshots, table.name(), id).await?, id)
                }
                (Some(StartFrom::FromSnapshotFull(id)), None) => {
                    let snapshot = require_snapshot(table, latest.as_ref(), id).await?;
                    let offsets = recorded_log_offsets(&snapshots, &snapshot).await?;
                    (Some(snapshot), offsets, id + 1)
                }
                (Some(StartFrom::FromTimestamp(_)), None) | (Some(StartFrom::CompactedFull), None) | (None, None) => {
                    return Err(Error::Internal("a change reader needs a start point or a position".into()))
                }
            };
        let mut buckets = Vec::new();
        for (bucket, source) in sources {
            let next = start_offsets.get(&bucket).copied().unwrap_or(0);
            let (start, end) = bounds[&bucket];
            // Uploaded segments lag the log, so only a local log can tell a position is past its end.
            if next > end && local.is_some() {
                return Err(Error::invalid(format!(
                    "the position of bucket {bucket} of table `{}` is offset {next}, beyond the end of its log ({end}): the position belongs to another table or the log lost records",
                    table.name()
                )));
            }
            if next < start {
                return Err(Error::invalid(format!(
                    "the changes of bucket {bucket} of table `{}` from offset {next} were deleted by log retention (the log starts at {start}); start from a later point, e.g. `full`",
                    table.name()
                )));
            }
            buckets.push(BucketLog { bucket, source, next });
        }
        let full = match &full_snapshot {
            Some(s) => Some(table.scan(&ScanFrom::Snapshot(s.id), None, None).await?.1),
            None => None,
        };
        // A local table's log lives in the table directory, next to `schema/` and `snapshot/`.
        let snapshot_dir = snapshot_dir(table);
        let mut fields = vec![Field::new("rowkind", ArrowType::Utf8, false)];
        fields.extend(table.schema().arrow_schema().fields().iter().map(|f| f.as_ref().clone()));
        Ok(LogReader {
            conformer: ChangeConformer::new(table.schema().clone(), SchemaManager::new(table.io().clone())),
            table: table.clone(),
            consistency: config.consistency,
            buckets,
            full,
            latest_id: latest.as_ref().map_or(0, |s| s.id),
            committed: latest_offsets,
            next_snapshot,
            watch: SnapshotWatch::new(snapshot_dir),
            remote: local.is_none(),
            schema: Arc::new(ArrowSchema::new(fields)),
            round_robin: 0,
            pending: None,
        })
    }

    /// Where the reader stands (meaningful for resuming once the start snapshot's rows are delivered).
    fn position(&self) -> StreamPosition {
        StreamPosition {
            next_snapshot: self.next_snapshot,
            log_offsets: self.buckets.iter().map(|b| (b.bucket, b.next)).collect(),
        }
    }

    /// The next batch if one can be delivered now.
    async fn try_next(&mut self) -> Result<Option<ChangeBatch>> {
        if let Some(full) = &mut self.full {
            match full.next().await {
                Some(batch) => {
                    let batch = batch?;
                    let kinds: ArrayRef =
                        Arc::new(StringArray::from(vec![RowKind::Insert.short_string(); batch.num_rows()]));
                    return Ok(Some(ChangeBatch {
                        batch: self.with_kinds(kinds, &batch)?,
                        position: self.position(),
                        from_snapshot: true,
                    }));
                }
                None => self.full = None,
            }
        }
        if let Some(batch) = self.read_any().await? {
            return Ok(Some(batch));
        }
        // Caught up with what was visible: look for a newer snapshot (the transactional limits, and the
        // consumer's next snapshot), and read again if it moved.
        if self.refresh_committed().await? {
            if let Some(batch) = self.read_any().await? {
                return Ok(Some(batch));
            }
        }
        self.advance_next_snapshot();
        Ok(None)
    }

    /// The next batch of any bucket within its limit, buckets taken in turn.
    async fn read_any(&mut self) -> Result<Option<ChangeBatch>> {
        let count = self.buckets.len();
        for step in 0..count {
            let at = (self.round_robin + step) % count;
            if let Some(batch) = self.read_bucket(at).await? {
                self.round_robin = (at + 1) % count;
                self.advance_next_snapshot();
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }

    /// Reads the next log batch of bucket `at` within its visible limit.
    async fn read_bucket(&mut self, at: usize) -> Result<Option<ChangeBatch>> {
        let limit = match self.consistency {
            LogConsistency::Transactional => self.committed.get(&self.buckets[at].bucket).copied().unwrap_or(0),
            LogConsistency::Eventual => i64::MAX,
        };
        let batch = match self.pending.take() {
            Some((bucket_at, batch)) if bucket_at == at => batch,
            other => {
                self.pending = other;
                let bucket = &mut self.buckets[at];
                if bucket.next >= limit {
                    return Ok(None);
                }
                match bucket.source.read(bucket.next).await {
                    Ok(Some(batch)) => batch,
                    Ok(None) => return Ok(None),
                    Err(e) => {
                        let context = format!(
                            "read the log of bucket {} of `{}` (`{}`)",
                            bucket.bucket,
                            self.table.name(),
                            bucket.source.describe()
                        );
                        return Err(Error::log(context, e));
                    }
                }
            }
        };
        let bucket = &self.buckets[at];
        let (bucket_id, next) = (bucket.bucket, bucket.next);
        let decoded = decode_changes(&batch.payload).map_err(|e| {
            Error::corrupt(
                bucket.source.describe(),
                format!("log batch at offset {} of bucket {bucket_id}: {e}", batch.base_offset),
            )
        })?;
        let values = self.conformer.conform(&decoded).await?;
        // Deliver only [next, limit) of the batch (a batch never straddles either, but stay exact if it did).
        let base = batch.base_offset as i64;
        let first = (next - base).max(0) as usize;
        let end = (limit.min(batch.next_offset() as i64) - base).max(first as i64) as usize;
        let (first, len) = if decoded.input.is_none() {
            (first, end - first)
        } else if first == 0 && end == decoded.records {
            // A `lookup` batch: its records are its changes and its input rows; the changes are delivered whole.
            (0, values.num_rows())
        } else if first == end {
            (0, 0)
        } else {
            return Err(Error::corrupt(
                self.buckets[at].source.describe(),
                format!(
                    "offsets [{}, {}) fall inside the lookup log batch at offset {} of bucket {bucket_id}",
                    base + first as i64,
                    base + end as i64,
                    batch.base_offset
                ),
            ));
        };
        let values = values.slice(first, len);
        let kinds = decoded.kinds.slice(first, len);
        let kinds: ArrayRef = Arc::new(StringArray::from_iter_values(
            kinds.values().iter().map(|k| RowKind::from_byte(*k).map(RowKind::short_string).unwrap_or("?")),
        ));
        self.buckets[at].next = base + end as i64;
        let out = self.with_kinds(kinds, &values)?;
        Ok(Some(ChangeBatch { batch: out, position: self.position(), from_snapshot: false }))
    }

    fn with_kinds(&self, kinds: ArrayRef, values: &RecordBatch) -> Result<RecordBatch> {
        let mut columns = vec![kinds];
        columns.extend(values.columns().iter().cloned());
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    /// Re-reads the latest snapshot when it changed (its offsets are the transactional limits); returns
    /// whether it did.
    async fn refresh_committed(&mut self) -> Result<bool> {
        let snapshots = self.table.snapshot_manager();
        let Some(latest_id) = snapshots.latest_id().await? else { return Ok(false) };
        if latest_id == self.latest_id {
            return Ok(false);
        }
        let latest = snapshots.snapshot(latest_id).await?;
        self.latest_id = latest_id;
        self.committed = recorded_log_offsets(&snapshots, &latest).await?;
        Ok(true)
    }

    /// Moves `next_snapshot` past the latest snapshot once all its changes are delivered.
    fn advance_next_snapshot(&mut self) {
        if self.full.is_some() || self.latest_id < self.next_snapshot {
            return;
        }
        let delivered = self.buckets.iter().all(|b| self.committed.get(&b.bucket).copied().unwrap_or(0) <= b.next);
        if delivered {
            self.next_snapshot = self.latest_id + 1;
        }
    }

    /// Waits until there may be more to read: a new snapshot (transactional) or a log moving past the
    /// reader (eventual).
    async fn wait(&mut self) -> Result<()> {
        if self.remote {
            // Object stores send no events: look again after a while.
            tokio::time::sleep(REMOTE_POLL).await;
            return Ok(());
        }
        match self.consistency {
            LogConsistency::Transactional => {
                self.watch.wait().await;
                Ok(())
            }
            LogConsistency::Eventual => {
                // A tailer per bucket at its position; the first batch to arrive is kept for `try_next`, the
                // other waits are dropped (tailers are cancel-safe).
                let name = self.table.name().to_string();
                let mut tailers = Vec::with_capacity(self.buckets.len());
                for bucket in &self.buckets {
                    let Source::Local { follower, .. } = &bucket.source else {
                        return Err(Error::Internal("a local reader has a remote bucket".into()));
                    };
                    let tailer = follower
                        .tailer(bucket.next as u64)
                        .map_err(|e| Error::log(format!("tail the log of bucket {} of `{name}`", bucket.bucket), e))?;
                    tailers.push(tailer);
                }
                let waits = tailers.iter_mut().map(|t| Box::pin(t.next_batch()));
                let (result, at, _) = futures::future::select_all(waits).await;
                let batch = result.map_err(|e| Error::log(format!("tail the log of `{name}`"), e))?;
                self.pending = Some((at, batch));
                Ok(())
            }
        }
    }
}

/// The first snapshot committed at or after `millis`, if any.
async fn first_at_or_after(snapshots: &SnapshotManager, millis: i64) -> Result<Option<i64>> {
    let (Some(earliest), Some(latest)) = (snapshots.earliest_id().await?, snapshots.latest_id().await?) else {
        return Ok(None);
    };
    // Commit times grow with snapshot ids: search for the first at or after `millis`.
    let (mut lo, mut hi) = (earliest, latest + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if snapshots.snapshot(mid).await?.time_millis >= millis {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok((lo <= latest).then_some(lo))
}

async fn require_snapshot(table: &FileStoreTable, latest: Option<&Snapshot>, id: i64) -> Result<Snapshot> {
    let snapshots = table.snapshot_manager();
    let earliest = snapshots.earliest_id().await?;
    match (earliest, latest) {
        (Some(e), Some(l)) if (e..=l.id).contains(&id) => snapshots.snapshot(id).await,
        (Some(e), Some(l)) => {
            Err(Error::NotFound(format!("snapshot {id} of table `{}` (snapshots {e}..={} exist)", table.name(), l.id)))
        }
        _ => Err(Error::NotFound(format!("snapshot {id} of table `{}` (it has no snapshots yet)", table.name()))),
    }
}
