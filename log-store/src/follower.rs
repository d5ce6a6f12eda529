//! [`LogFollower`]: reads a log directory that a writer [`Log`](crate::Log) in another process appends to.
//!
//! A follower takes no lock and repairs nothing. It learns how far it may read from the `DURABLE` watermark
//! file (see `watermark.rs`), and reads a frame only when the frame's expected base offset is below the
//! watermark: such a frame was fsync'd in full before the watermark was written, so it is complete, and a
//! defect in it is corruption rather than a write in progress. Waiting for the watermark to move is woken by
//! file-system notification (inotify on Linux, through the `notify` crate), with a bounded re-check timer as a
//! fallback against missed events (e.g. on network file systems, where notification may not work at all).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::frame::{self, FrameRead};
use crate::index;
use crate::reader::{batch_stream, fuse, WaitingSource};
use crate::segment;
use crate::types::Batch;
use crate::watermark::{self, WATERMARK_FILE_NAME};

/// Read buffer per open segment.
const READ_BUFFER_BYTES: usize = 64 << 10;

/// Configuration of a [`LogFollower`].
#[derive(Debug, Clone)]
pub struct FollowerOptions {
    /// A waiting tailer re-reads the watermark after this long even without a file-system event, so that a
    /// missed or unsupported notification delays it by at most this much instead of forever. Wake-ups normally
    /// come from notifications within milliseconds; this is not a polling interval.
    pub recheck_interval: Duration,
}

impl Default for FollowerOptions {
    fn default() -> FollowerOptions {
        FollowerOptions { recheck_interval: Duration::from_secs(1) }
    }
}

/// State shared by a follower, its readers and tailers.
struct FollowerShared {
    dir: PathBuf,
    options: FollowerOptions,
    /// The highest valid watermark read so far. The file's value only grows (recovery never cuts below a
    /// published watermark), so keeping the maximum hides a torn or lost file without ever reading too far.
    watermark: AtomicU64,
    /// Bumped by the watcher thread on every event that may have changed the watermark file.
    changes: Arc<watch::Sender<u64>>,
    /// Kept alive for the follower's life; dropping it stops the watcher thread.
    _watcher: Mutex<notify::RecommendedWatcher>,
}

impl FollowerShared {
    /// Re-reads the watermark file and returns the watermark. The file read happens before any segment read
    /// that relies on the result, so the bytes below the watermark are visible by then.
    fn refresh(&self) -> Result<u64> {
        if let Some(next_offset) = watermark::read(&self.dir)? {
            self.watermark.fetch_max(next_offset, Ordering::AcqRel);
        }
        Ok(self.watermark.load(Ordering::Acquire))
    }
}

/// A read-only view of a log directory for another process: no `LOCK`, no recovery, safe while a writer
/// appends. See the module docs for how it stays below the durable end.
///
/// A log whose writer has not yet published a watermark (no `DURABLE` file, or an unreadable one) reads as
/// empty until it does.
pub struct LogFollower {
    shared: Arc<FollowerShared>,
}

impl std::fmt::Debug for LogFollower {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LogFollower")
            .field("dir", &self.shared.dir)
            .field("watermark", &self.shared.watermark.load(Ordering::Relaxed))
            .finish()
    }
}

impl LogFollower {
    /// Opens a follower on `dir` with default options. The directory must exist.
    pub fn open(dir: impl AsRef<Path>) -> Result<LogFollower> {
        LogFollower::open_with(dir, FollowerOptions::default())
    }

    pub fn open_with(dir: impl AsRef<Path>, options: FollowerOptions) -> Result<LogFollower> {
        let dir = dir.as_ref().to_path_buf();
        if options.recheck_interval.is_zero() {
            return Err(Error::InvalidArgument {
                reason: "recheck_interval must be positive. recheck_interval=`0s`".to_string(),
            });
        }
        let metadata = std::fs::metadata(&dir).map_err(|source| Error::io("open log directory", &dir, source))?;
        if !metadata.is_dir() {
            return Err(Error::InvalidArgument {
                reason: format!("log path is not a directory. path=`{}`", dir.display()),
            });
        }
        let (changes, _) = watch::channel(0u64);
        let changes = Arc::new(changes);
        let notifier = changes.clone();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Accesses (including the opens that followers themselves make) are ignored, or followers would wake
            // each other forever; errors wake everyone, since a re-check is cheap.
            let relevant = match &event {
                Ok(event) => {
                    event.need_rescan()
                        || (!matches!(event.kind, EventKind::Access(_))
                            && event.paths.iter().any(|path| path.file_name() == Some(OsStr::new(WATERMARK_FILE_NAME))))
                }
                Err(_) => true,
            };
            if relevant {
                notifier.send_modify(|count| *count = count.wrapping_add(1));
            }
        })
        .map_err(|error| Error::io("start file-system watcher", &dir, notify_to_io(error)))?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|error| Error::io("watch log directory", &dir, notify_to_io(error)))?;
        let shared = Arc::new(FollowerShared {
            dir,
            options,
            watermark: AtomicU64::new(0),
            changes,
            _watcher: Mutex::new(watcher),
        });
        shared.refresh()?;
        Ok(LogFollower { shared })
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The durable end as the writer last published it: every offset below it may be read.
    pub fn next_offset(&self) -> Result<u64> {
        self.shared.refresh()
    }

    /// The base offset of the oldest segment on disk (0 for a directory without segments).
    pub fn log_start_offset(&self) -> Result<u64> {
        let (bases, _) = segment::list_dir(&self.shared.dir)?;
        Ok(bases.first().copied().unwrap_or(0))
    }

    /// Reads batches from the one containing `offset` up to the watermark (re-read whenever the reader reaches
    /// it). `offset` may equal the watermark. Errors: [`Error::OffsetDeleted`] below the oldest segment,
    /// [`Error::OffsetOutOfRange`] past the watermark.
    pub fn read_from(&self, offset: u64) -> Result<FollowerReader> {
        FollowerReader::new(self.shared.clone(), offset)
    }

    /// A [`FollowerTailer`] that yields batches from the one containing `offset` and then waits for the writer.
    pub fn tailer(&self, offset: u64) -> Result<FollowerTailer> {
        let reader = self.read_from(offset)?;
        let changes = self.shared.changes.subscribe();
        Ok(FollowerTailer { reader, changes })
    }
}

fn notify_to_io(error: notify::Error) -> std::io::Error {
    match error.kind {
        notify::ErrorKind::Io(source) => source,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// The segment a follower reader is inside.
struct FollowerSegment {
    base_offset: u64,
    path: PathBuf,
    reader: BufReader<File>,
    /// Position of the next frame.
    position: u64,
    /// The reader started at a position taken from the segment's index file, not yet confirmed by a frame. A
    /// stale index falls back to a scan from the segment start instead of being reported as corruption.
    from_index: bool,
}

impl FollowerSegment {
    fn open(path: PathBuf, base_offset: u64, position: u64, from_index: bool) -> std::io::Result<FollowerSegment> {
        let mut file = File::open(&path)?;
        file.seek(SeekFrom::Start(position))?;
        Ok(FollowerSegment {
            base_offset,
            path,
            reader: BufReader::with_capacity(READ_BUFFER_BYTES, file),
            position,
            from_index,
        })
    }

    /// Drops read-ahead bytes: they were read under an older watermark and may belong to a frame that was still
    /// being written then.
    fn discard_buffer(&mut self) -> Result<()> {
        self.reader
            .seek(SeekFrom::Start(self.position))
            .map(|_| ())
            .map_err(|source| Error::io("seek segment", &self.path, source))
    }
}

/// What reading at the current position found, decided before the reader's state changes.
enum Step {
    Batch(Batch),
    /// Skipped a batch before the requested offset.
    Skipped,
    /// The segment ended; the next batch starts the next segment.
    SegmentEnd,
    /// The index pointed at the wrong place; rescan from the segment start.
    RetryFromStart,
}

/// Iterates batches from the requested offset up to the writer's watermark. After an error the iterator ends.
pub struct FollowerReader {
    shared: Arc<FollowerShared>,
    /// Base offset of the next frame to read.
    next_offset: u64,
    /// Batches ending at or below this are skipped: they precede the requested offset but share its index
    /// interval.
    skip_through: Option<u64>,
    /// The watermark this reader trusts; bytes in the read buffer were read after it was read.
    watermark: u64,
    current: Option<FollowerSegment>,
    /// The last segment this reader finished, to name in errors about what follows it.
    previous: Option<PathBuf>,
    failed: bool,
}

impl std::fmt::Debug for FollowerReader {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FollowerReader")
            .field("dir", &self.shared.dir)
            .field("next_offset", &self.next_offset)
            .field("watermark", &self.watermark)
            .field("failed", &self.failed)
            .finish()
    }
}

impl FollowerReader {
    fn new(shared: Arc<FollowerShared>, offset: u64) -> Result<FollowerReader> {
        let watermark = shared.refresh()?;
        let dir = shared.dir.clone();
        let (bases, _) = segment::list_dir(&dir)?;
        let log_start = bases.first().copied().unwrap_or(0);
        if offset < log_start {
            return Err(Error::OffsetDeleted { requested: offset, log_start });
        }
        if offset > watermark {
            return Err(Error::OffsetOutOfRange { requested: offset, start: log_start, end: watermark });
        }
        let mut reader = FollowerReader {
            shared,
            next_offset: offset,
            skip_through: None,
            watermark,
            current: None,
            previous: None,
            failed: false,
        };
        let holding = bases.partition_point(|base| *base <= offset);
        let Some(at) = holding.checked_sub(1) else {
            // No segment at all: an empty log whose first segment will start at `offset` (zero).
            return Ok(reader);
        };
        let base_offset = bases[at];
        let path = segment::segment_path(&dir, base_offset);
        // Retention removed the segment between the listing and its use: report the start as it is now.
        let deleted = || Error::OffsetDeleted {
            requested: offset,
            log_start: segment::list_dir(&dir)
                .ok()
                .and_then(|(bases, _)| bases.first().copied())
                .unwrap_or(base_offset + 1),
        };
        // Only a segment with a successor is sealed, and its index file was complete (and fsync'd) before the
        // successor was created; the active segment has no index file worth reading.
        let (position, frame_offset, from_index) = if at + 1 < bases.len() {
            let segment_bytes = match std::fs::metadata(&path) {
                Ok(metadata) => metadata.len(),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(deleted()),
                Err(source) => return Err(Error::io("stat segment", &path, source)),
            };
            let entries = segment::read_index(&dir, base_offset, segment_bytes)?.unwrap_or_default();
            match index::lookup(&entries, offset - base_offset) {
                Some(entry) => (u64::from(entry.position), base_offset + u64::from(entry.relative_offset), true),
                None => (0, base_offset, false),
            }
        } else {
            (0, base_offset, false)
        };
        let segment = match FollowerSegment::open(path.clone(), base_offset, position, from_index) {
            Ok(segment) => segment,
            // Retention removed it between the listing and the open.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(deleted()),
            Err(source) => return Err(Error::io("open segment", &path, source)),
        };
        reader.current = Some(segment);
        reader.next_offset = frame_offset;
        reader.skip_through = (frame_offset < offset).then_some(offset);
        Ok(reader)
    }

    /// The offset the next returned batch will start at or contain.
    pub fn next_offset(&self) -> u64 {
        self.skip_through.unwrap_or(self.next_offset).max(self.next_offset)
    }

    /// Reads the next batch below the watermark; `None` at the watermark. Does not fuse: after an error the
    /// position is unchanged, so a retry meets the same frame again.
    pub(crate) fn next_batch(&mut self) -> Result<Option<Batch>> {
        loop {
            if self.next_offset >= self.watermark {
                let watermark = self.shared.refresh()?;
                if watermark > self.watermark {
                    self.watermark = watermark;
                    if let Some(current) = &mut self.current {
                        current.discard_buffer()?;
                    }
                }
                if self.next_offset >= self.watermark {
                    return Ok(None);
                }
            }
            // The batch at `next_offset` is below the watermark, so its frame is complete and fsync'd.
            if self.current.is_none() {
                self.current = Some(self.open_next_segment()?);
            }
            match self.step()? {
                Step::Batch(batch) => return Ok(Some(batch)),
                Step::Skipped => {}
                Step::SegmentEnd => self.previous = self.current.take().map(|segment| segment.path),
                Step::RetryFromStart => {
                    let Some(stale) = self.current.take() else {
                        return Err(Error::Internal { reason: "follower lost its segment while retrying".to_string() });
                    };
                    let target = self.next_offset();
                    let segment = FollowerSegment::open(stale.path.clone(), stale.base_offset, 0, false)
                        .map_err(|source| Error::io("open segment", &stale.path, source))?;
                    self.next_offset = stale.base_offset;
                    self.skip_through = (stale.base_offset < target).then_some(target);
                    self.current = Some(segment);
                }
            }
        }
    }

    /// Reads the frame at the current position of the current segment.
    fn step(&mut self) -> Result<Step> {
        let Some(current) = self.current.as_mut() else {
            return Err(Error::Internal { reason: "follower has no open segment".to_string() });
        };
        let position = current.position;
        let mut stored = Vec::new();
        let read = frame::read_frame(&mut current.reader, None, &mut stored)
            .map_err(|source| Error::io("read segment", &current.path, source))?;
        let corrupt = |reason: String| Error::Corrupt { segment: current.path.clone(), position, reason };
        let frame = match read {
            FrameRead::Frame(frame) if frame.base_offset == self.next_offset => frame,
            FrameRead::Frame(_) | FrameRead::Defect(_) if current.from_index => return Ok(Step::RetryFromStart),
            FrameRead::Frame(frame) => {
                return Err(corrupt(format!(
                    "batch has an unexpected base offset. found=`{}`, expected=`{}`",
                    frame.base_offset, self.next_offset
                )))
            }
            FrameRead::Defect(reason) => return Err(corrupt(reason)),
            FrameRead::End if current.from_index => return Ok(Step::RetryFromStart),
            FrameRead::End if current.base_offset == self.next_offset => {
                return Err(corrupt(format!(
                    "segment is empty below the durable watermark. watermark=`{}`",
                    self.watermark
                )))
            }
            FrameRead::End => return Ok(Step::SegmentEnd),
        };
        current.from_index = false;
        let Some(next_offset) = frame.next_offset() else {
            return Err(Error::Internal { reason: "a validated frame's offsets overflow".to_string() });
        };
        let payload = frame::decode_payload(&frame, stored).map_err(corrupt)?;
        current.position += frame.frame_bytes;
        self.next_offset = next_offset;
        if let Some(target) = self.skip_through {
            if next_offset <= target {
                return Ok(Step::Skipped);
            }
            self.skip_through = None;
        }
        Ok(Step::Batch(Batch { base_offset: frame.base_offset, record_count: frame.record_count, payload }))
    }

    /// Opens the segment that must start at `next_offset`, or says why there is none.
    fn open_next_segment(&self) -> Result<FollowerSegment> {
        let dir = &self.shared.dir;
        let path = segment::segment_path(dir, self.next_offset);
        match FollowerSegment::open(path.clone(), self.next_offset, 0, false) {
            Ok(segment) => return Ok(segment),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::io("open segment", &path, source)),
        }
        let (bases, _) = segment::list_dir(dir)?;
        if let Some(&log_start) = bases.first().filter(|first| **first > self.next_offset) {
            return Err(Error::OffsetDeleted { requested: self.next_offset, log_start });
        }
        let after = self.previous.clone().unwrap_or_else(|| {
            let before = bases.partition_point(|base| *base < self.next_offset);
            before.checked_sub(1).map_or_else(|| dir.clone(), |at| segment::segment_path(dir, bases[at]))
        });
        match bases.iter().find(|base| **base > self.next_offset) {
            Some(&found_base_offset) => Err(Error::MissingSegment { after, expected_base_offset: self.next_offset, found_base_offset }),
            None => Err(Error::Corrupt {
                position: std::fs::metadata(&after).map_or(0, |metadata| metadata.len()),
                segment: after,
                reason: format!(
                    "the durable watermark is past the last segment, but no segment starts at its end. end_offset=`{}`, watermark=`{}`",
                    self.next_offset, self.watermark
                ),
            }),
        }
    }
}

impl Iterator for FollowerReader {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.failed {
            return None;
        }
        let read = self.next_batch();
        fuse(&mut self.failed, read)
    }
}

/// Follows a log written by another process: yields every batch from the starting offset on, and at the
/// watermark waits for a file-system event on the watermark file (or the re-check timer) before looking again.
///
/// `next_batch` is cancel-safe: dropping its future loses nothing. Frames are read with blocking file reads on
/// the calling task, as with [`Tailer`](crate::Tailer). The follower cannot tell a stopped writer from an idle
/// one, so it waits for as long as the caller does.
#[derive(Debug)]
pub struct FollowerTailer {
    reader: FollowerReader,
    changes: watch::Receiver<u64>,
}

impl FollowerTailer {
    /// The next batch, waiting for the writer to publish one if the tailer is at the watermark.
    pub async fn next_batch(&mut self) -> Result<Batch> {
        let recheck_interval = self.reader.shared.options.recheck_interval;
        loop {
            // Marking events seen before reading the watermark means an event that lands after the read wakes
            // the wait below, so no update can be missed between the two.
            self.changes.borrow_and_update();
            if let Some(batch) = self.reader.next_batch()? {
                return Ok(batch);
            }
            match tokio::time::timeout(recheck_interval, self.changes.changed()).await {
                Ok(Ok(())) | Err(_) => {}
                Ok(Err(_)) => {
                    return Err(Error::Internal { reason: "the file-system watcher's channel closed".to_string() })
                }
            }
        }
    }

    /// The offset the next returned batch will start at or contain.
    pub fn next_offset(&self) -> u64 {
        self.reader.next_offset()
    }

    /// The tailer as a `Stream` of batches. The stream never ends on its own; after an error it yields that
    /// error and ends. Polling it is cancel-safe: dropping a `next()` future loses no batch.
    pub fn into_stream(self) -> BoxStream<'static, Result<Batch>> {
        batch_stream(self)
    }
}

impl WaitingSource for FollowerTailer {
    fn next_batch(&mut self) -> impl std::future::Future<Output = Result<Batch>> + Send {
        FollowerTailer::next_batch(self)
    }
}
