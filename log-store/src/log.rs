//! [`Log`]: opening (with recovery), durable appends, reads, waiting for new data, and retention; plus its
//! reports ([`OpenReport`], [`RetentionReport`]). Its configuration is in `options.rs`, the state it shares with
//! the writer thread and readers in `shared.rs`.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::frame::EncodedFrame;
use crate::options::LogOptions;
use crate::reader::{LogReader, Tailer};
use crate::remote::{self, SealedSegment};
use crate::segment;
use crate::shared::{wait_past, DurableState, SegmentEntry, Shared};
use crate::types::{AppendAck, LogStats};
use crate::watermark::WatermarkFile;
use crate::writer::{AppendRequest, Writer};

/// Name of the lock file that keeps two `Log`s from appending to one directory.
const LOCK_FILE_NAME: &str = "LOCK";

/// What opening a log found and repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    pub segment_count: usize,
    pub log_start_offset: u64,
    pub next_offset: u64,
    /// Bytes cut from a torn tail of the last segment; zero when the log was closed cleanly.
    pub truncated_bytes: u64,
    /// The segment that was truncated, if any.
    pub truncated_segment: Option<PathBuf>,
    /// Sealed segments whose index was missing or stale and was rebuilt.
    pub rebuilt_indexes: usize,
    /// Human-readable warnings (truncation, rebuilt indexes, removed orphan files) for the caller to log.
    pub warnings: Vec<String>,
}

/// What [`Log::truncate_before`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    pub deleted_segments: usize,
    /// The first offset still readable.
    pub log_start_offset: u64,
}

/// A durable append-only log of batches in one directory. See the crate docs for the format and guarantees.
///
/// All methods take `&self`; share a `Log` between threads with an `Arc`. Dropping it stops the writer thread
/// (after it has answered every append already sent) and wakes tailers with [`Error::Closed`].
#[derive(Debug)]
pub struct Log {
    shared: Arc<Shared>,
    requests: Option<mpsc::Sender<AppendRequest>>,
    writer: Option<JoinHandle<()>>,
    compression: bool,
    require_upload_before_delete: bool,
    /// Held for the `Log`'s life; the OS releases the lock when it is closed, even after a crash.
    _lock: File,
}

impl Log {
    /// Opens the log in `dir`, creating the directory and a first segment at offset 0 if needed, and recovers
    /// it: sealed segments are checked for gaps and damage, a torn tail of the last segment is truncated.
    pub fn open(dir: impl AsRef<Path>, options: LogOptions) -> Result<(Log, OpenReport)> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(|source| Error::io("create log directory", &dir, source))?;
            if let Some(parent) = dir.parent().filter(|parent| !parent.as_os_str().is_empty()) {
                segment::sync_dir(parent)?;
            }
        }
        let lock = lock_dir(&dir)?;
        let mut warnings = Vec::new();

        let (mut bases, index_bases) = segment::list_dir(&dir)?;
        if bases.is_empty() {
            let path = segment::segment_path(&dir, 0);
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|source| Error::io("create segment", &path, source))?;
            segment::sync_dir(&dir)?;
            bases.push(0);
        }
        for orphan in index_bases.iter().filter(|base| bases.binary_search(base).is_err()) {
            // Left by retention interrupted between deleting a segment and its index.
            let path = segment::index_path(&dir, *orphan);
            fs::remove_file(&path).map_err(|source| Error::io("remove orphan index", &path, source))?;
            warnings.push(format!("removed an index without a segment. path=`{}`", path.display()));
        }

        let mut segments = Vec::with_capacity(bases.len());
        let mut rebuilt_indexes = 0;
        for pair in bases.windows(2) {
            let (base_offset, next_base_offset) = (pair[0], pair[1]);
            let sealed = segment::load_sealed(&dir, base_offset, options.index_interval_bytes)?;
            let path = segment::segment_path(&dir, base_offset);
            if sealed.end_offset < next_base_offset {
                return Err(Error::MissingSegment {
                    after: path,
                    expected_base_offset: sealed.end_offset,
                    found_base_offset: next_base_offset,
                });
            }
            if sealed.end_offset > next_base_offset {
                return Err(Error::Corrupt {
                    reason: format!(
                        "segment overlaps the next segment. end_offset=`{}`, next_base_offset=`{next_base_offset}`",
                        sealed.end_offset
                    ),
                    position: fs::metadata(&path).map_or(0, |metadata| metadata.len()),
                    segment: path,
                });
            }
            if sealed.index_rebuilt {
                rebuilt_indexes += 1;
                warnings.push(format!("rebuilt a missing or stale segment index. segment=`{}`", path.display()));
            }
            segments.push(SegmentEntry { base_offset, index: sealed.index });
        }

        let last_base_offset = *bases.last().unwrap_or(&0);
        let recovered = segment::recover_last(&dir, last_base_offset, options.index_interval_bytes)?;
        let last_path = segment::segment_path(&dir, last_base_offset);
        let (truncated_bytes, truncated_segment) = match &recovered.truncated {
            Some((bytes, reason)) => {
                warnings.push(format!(
                    "truncated a torn tail. segment=`{}`, position=`{}`, truncated_bytes=`{bytes}`, reason=`{reason}`",
                    last_path.display(),
                    recovered.segment_bytes
                ));
                (*bytes, Some(last_path))
            }
            None => (0, None),
        };
        segments.push(SegmentEntry { base_offset: last_base_offset, index: recovered.index });

        let report = OpenReport {
            segment_count: segments.len(),
            log_start_offset: segments[0].base_offset,
            next_offset: recovered.next_offset,
            truncated_bytes,
            truncated_segment,
            rebuilt_indexes,
            warnings,
        };
        let (durable, _) = watch::channel(DurableState {
            next_offset: recovered.next_offset,
            active_base_offset: last_base_offset,
            active_durable_bytes: recovered.segment_bytes,
            poisoned: false,
            closed: false,
        });
        let shared = Arc::new(Shared::new(dir, segments, durable));
        // Recovery may have moved the durable end (a first open, a torn tail cut); followers learn it from here.
        let watermark = WatermarkFile::open(&shared.dir)?;
        watermark.publish(recovered.next_offset)?;
        let (compression, require_upload_before_delete) = (options.compression, options.require_upload_before_delete);
        let writer = Writer::new(
            shared.clone(),
            options,
            last_base_offset,
            recovered.segment_bytes,
            recovered.builder,
            recovered.next_offset,
            watermark,
        )?;
        let (requests, receiver) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("dyntable-log-writer".to_string())
            .spawn(move || writer.run(receiver))
            .map_err(|source| Error::io("spawn log writer thread", &shared.dir, source))?;
        let log = Log {
            shared,
            requests: Some(requests),
            writer: Some(writer),
            compression,
            require_upload_before_delete,
            _lock: lock,
        };
        Ok((log, report))
    }

    /// Appends one batch of `record_count` records and returns its offsets once it is durable (fsync'd, and
    /// the directory fsync'd if the batch started a new segment). Blocks the calling thread; from async code
    /// call it inside `spawn_blocking`.
    ///
    /// An error means the batch's fate is unknown: it may or may not be in the log after a reopen. After an
    /// I/O failure the log is poisoned and every later append returns [`Error::Poisoned`].
    pub fn append(&self, payload: &[u8], record_count: u32) -> Result<AppendAck> {
        let frame = EncodedFrame::encode(payload, record_count, self.compression)
            .map_err(|reason| Error::InvalidArgument { reason })?;
        let (reply, response) = mpsc::sync_channel(1);
        let requests = self.requests.as_ref().ok_or(Error::Closed)?;
        requests.send(AppendRequest { frame, reply }).map_err(|_| writer_gone())?;
        response.recv().map_err(|_| writer_gone())?
    }

    /// Reads batches from the one containing `offset` up to the durable end. `offset` may equal the end (the
    /// reader then yields nothing until more is appended).
    pub fn read_from(&self, offset: u64) -> Result<LogReader> {
        LogReader::new(self.shared.clone(), offset)
    }

    /// A [`Tailer`] that yields batches from the one containing `offset` and then waits for new ones.
    pub fn tailer(&self, offset: u64) -> Result<Tailer> {
        Ok(Tailer::new(self.read_from(offset)?))
    }

    /// Waits until the record at `offset` is durable and returns the durable end (greater than `offset`).
    /// Woken by appends, not by polling. Fails with [`Error::Poisoned`] if the log is poisoned first.
    pub async fn wait_for(&self, offset: u64) -> Result<u64> {
        wait_past(self.shared.durable.subscribe(), offset).await
    }

    /// Deletes every sealed segment whose records are all below `offset`. The active segment is never deleted,
    /// so the log start can stay below `offset`. Readers already inside a deleted segment finish it (the open
    /// file outlives the name on Unix); new reads below the new start get [`Error::OffsetDeleted`].
    ///
    /// Refused with [`Error::InvalidArgument`] when [`LogOptions::require_upload_before_delete`] is set.
    pub fn truncate_before(&self, offset: u64) -> Result<RetentionReport> {
        if self.require_upload_before_delete {
            return Err(Error::InvalidArgument {
                reason: format!(
                    "this log requires upload before delete; use truncate_before_uploaded. dir=`{}`, offset=`{offset}`",
                    self.shared.dir.display()
                ),
            });
        }
        self.delete_segments_before(offset)
    }

    /// Like [`Log::truncate_before`], but deletes a sealed segment only once it and its index are in `store`
    /// under `prefix` with their local sizes (as [`upload_sealed_segments`](crate::upload_sealed_segments)
    /// puts them), oldest first: it stops at the first segment not uploaded, so the local log stays
    /// contiguous. Costs two HEAD requests per deletable segment. Works whether or not
    /// [`LogOptions::require_upload_before_delete`] is set.
    pub async fn truncate_before_uploaded(
        &self,
        offset: u64,
        store: &dyn object_store::ObjectStore,
        prefix: &object_store::path::Path,
    ) -> Result<RetentionReport> {
        let mut bound = self.log_start_offset();
        for sealed in self.sealed_segments().into_iter().take_while(|sealed| sealed.end_offset <= offset) {
            let sizes = (fs::metadata(&sealed.segment_path), fs::metadata(&sealed.index_path));
            let (Ok(segment_metadata), Ok(index_metadata)) = sizes else {
                // Deleted by a concurrent retention call; nothing of it is left to protect.
                bound = sealed.end_offset;
                continue;
            };
            let segment_uploaded = remote::remote_has(
                store,
                &remote::segment_object_path(prefix, sealed.base_offset),
                segment_metadata.len(),
            )
            .await?;
            let index_uploaded =
                remote::remote_has(store, &remote::index_object_path(prefix, sealed.base_offset), index_metadata.len())
                    .await?;
            if !segment_uploaded || !index_uploaded {
                break;
            }
            bound = sealed.end_offset;
        }
        self.delete_segments_before(bound)
    }

    fn delete_segments_before(&self, offset: u64) -> Result<RetentionReport> {
        // Segments leave the list before their files go, so no new reader picks one that is being deleted.
        let (deleted, log_start_offset) = self.shared.with_segments_mut(|segments| {
            let mut deletable = 0;
            while deletable + 1 < segments.len() && segments[deletable + 1].base_offset <= offset {
                deletable += 1;
            }
            let deleted: Vec<u64> = segments.drain(..deletable).map(|segment| segment.base_offset).collect();
            (deleted, segments[0].base_offset)
        });
        for base_offset in &deleted {
            segment::remove_segment(&self.shared.dir, *base_offset)?;
        }
        if !deleted.is_empty() {
            segment::sync_dir(&self.shared.dir)?;
        }
        Ok(RetentionReport { deleted_segments: deleted.len(), log_start_offset })
    }

    /// Offset after the last durable batch: the base offset the next append will get.
    pub fn next_offset(&self) -> u64 {
        self.shared.durable_state().next_offset
    }

    /// The first offset not deleted by retention.
    pub fn log_start_offset(&self) -> u64 {
        self.shared.log_start_offset()
    }

    /// The sealed segments (every one but the active segment), oldest first: complete and immutable, ready for
    /// [`upload_sealed_segments`](crate::upload_sealed_segments).
    pub fn sealed_segments(&self) -> Vec<SealedSegment> {
        let dir = &self.shared.dir;
        self.shared.with_segments(|segments| {
            segments
                .windows(2)
                .map(|pair| SealedSegment {
                    base_offset: pair[0].base_offset,
                    end_offset: pair[1].base_offset,
                    segment_path: segment::segment_path(dir, pair[0].base_offset),
                    index_path: segment::index_path(dir, pair[0].base_offset),
                })
                .collect()
        })
    }

    /// Base offsets of the segments, oldest first; the last one is the active segment.
    pub fn segment_base_offsets(&self) -> Vec<u64> {
        self.shared.with_segments(|segments| segments.iter().map(|segment| segment.base_offset).collect())
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// What the writer has done since the log was opened.
    pub fn stats(&self) -> LogStats {
        self.shared.stats.snapshot()
    }

    /// Whether an I/O failure has poisoned the log.
    pub fn is_poisoned(&self) -> bool {
        self.shared.durable_state().poisoned
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        // Closing the channel ends the writer's loop once it has answered what was sent; joining makes the
        // directory free for the next `Log::open` as soon as `drop` returns.
        drop(self.requests.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        self.shared.durable.send_modify(|state| state.closed = true);
    }
}
fn writer_gone() -> Error {
    Error::Internal { reason: "the log writer thread stopped unexpectedly".to_string() }
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE_NAME);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| Error::io("open lock file", &path, source))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(Error::Locked { path }),
        Err(TryLockError::Error(source)) => Err(Error::io("lock log directory", &path, source)),
    }
}
