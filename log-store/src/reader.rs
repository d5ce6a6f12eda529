//! Reading the log: [`LogReader`] iterates batches up to the durable end, [`Tailer`] also waits for new ones.
//!
//! Readers open segment files on their own, independently of the writer, and never read at or past the durable
//! end: bytes there may be written but not yet fsync'd, and a crash could still take them back.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use futures::stream::{BoxStream, StreamExt};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::frame::{self, FrameRead};
use crate::segment;
use crate::shared::{self, DurableState, Shared};
use crate::types::Batch;

/// Read buffer per open segment.
const READ_BUFFER_BYTES: usize = 64 << 10;

/// A segment file that reads no further than `limit`. In the active segment the limit is the durable byte
/// length, so the read buffer never holds bytes of a frame that is still being written.
struct BoundedFile {
    file: File,
    position: u64,
    limit: u64,
}

impl Read for BoundedFile {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let allowed = self.limit.saturating_sub(self.position);
        let length = buffer.len().min(usize::try_from(allowed).unwrap_or(usize::MAX));
        if length == 0 {
            return Ok(0);
        }
        let read = self.file.read(&mut buffer[..length])?;
        self.position += read as u64;
        Ok(read)
    }
}

/// The segment a reader is inside.
struct OpenSegment {
    base_offset: u64,
    path: PathBuf,
    reader: BufReader<BoundedFile>,
    /// Position of the next frame (the bounded file's own position runs ahead by what is buffered).
    position: u64,
}

/// Iterates batches from the one containing the requested offset up to the durable end at the time of each
/// `next` call. After an error the iterator ends.
pub struct LogReader {
    shared: Arc<Shared>,
    /// Base offset of the next frame to read.
    next_offset: u64,
    /// Batches ending at or below this are skipped: they precede the requested offset but share its index
    /// interval.
    skip_through: Option<u64>,
    current: Option<OpenSegment>,
    failed: bool,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LogReader")
            .field("dir", &self.shared.dir)
            .field("next_offset", &self.next_offset)
            .field("failed", &self.failed)
            .finish()
    }
}

impl LogReader {
    pub(crate) fn new(shared: Arc<Shared>, offset: u64) -> Result<LogReader> {
        let (segment_base_offset, position, frame_offset) = shared.locate(offset)?;
        let current = open_segment(&shared, segment_base_offset, position, frame_offset)?;
        Ok(LogReader {
            shared,
            next_offset: frame_offset,
            skip_through: (frame_offset < offset).then_some(offset),
            current: Some(current),
            failed: false,
        })
    }

    /// The offset the next returned batch will start at or contain.
    pub fn next_offset(&self) -> u64 {
        self.skip_through.unwrap_or(self.next_offset).max(self.next_offset)
    }

    /// Reads the next durable batch; `None` at the durable end. Does not fuse: after an error the position is
    /// unchanged, so a retry meets the same frame again.
    pub(crate) fn next_batch(&mut self) -> Result<Option<Batch>> {
        let mut stored = Vec::new();
        loop {
            let durable = self.shared.durable_state();
            if self.next_offset >= durable.next_offset {
                return Ok(None);
            }
            let current = match &mut self.current {
                Some(current) => current,
                None => self.current.insert(open_segment(&self.shared, self.next_offset, 0, self.next_offset)?),
            };
            // Sealed segments were fsync'd in full before their successor existed, so they need no bound.
            current.reader.get_mut().limit =
                if current.base_offset == durable.active_base_offset { durable.active_durable_bytes } else { u64::MAX };
            let position = current.position;
            let read = frame::read_frame(&mut current.reader, None, &mut stored)
                .map_err(|source| Error::io("read segment", &current.path, source))?;
            let frame = match read {
                FrameRead::Frame(frame) => frame,
                FrameRead::Defect(reason) => {
                    return Err(Error::Corrupt { segment: current.path.clone(), position, reason })
                }
                FrameRead::End => {
                    // The durable end is further on, so the next batch starts the next segment.
                    if !self.shared.has_segment(self.next_offset) && self.next_offset >= self.shared.log_start_offset()
                    {
                        return Err(Error::Corrupt {
                            segment: current.path.clone(),
                            position,
                            reason: format!(
                                "segment ends but no segment starts at its end offset. end_offset=`{}`",
                                self.next_offset
                            ),
                        });
                    }
                    if current.base_offset == self.next_offset {
                        return Err(Error::Internal {
                            reason: format!(
                                "segment is empty below the durable end. segment=`{}`",
                                current.path.display()
                            ),
                        });
                    }
                    self.current = None;
                    continue;
                }
            };
            if frame.base_offset != self.next_offset {
                return Err(Error::Corrupt {
                    segment: current.path.clone(),
                    position,
                    reason: format!(
                        "batch has an unexpected base offset. found=`{}`, expected=`{}`",
                        frame.base_offset, self.next_offset
                    ),
                });
            }
            let Some(next_offset) = frame.next_offset() else {
                return Err(Error::Internal { reason: "a validated frame's offsets overflow".to_string() });
            };
            current.position += frame.frame_bytes;
            self.next_offset = next_offset;
            if let Some(target) = self.skip_through {
                if next_offset <= target {
                    continue;
                }
                self.skip_through = None;
            }
            let payload = frame::decode_payload(&frame, std::mem::take(&mut stored))
                .map_err(|reason| Error::Corrupt { segment: current.path.clone(), position, reason })?;
            return Ok(Some(Batch { base_offset: frame.base_offset, record_count: frame.record_count, payload }));
        }
    }
}

impl Iterator for LogReader {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.failed {
            return None;
        }
        let read = self.next_batch();
        fuse(&mut self.failed, read)
    }
}

/// Opens the segment with base offset `base_offset` at `position`, where the batch at `frame_offset` starts.
fn open_segment(shared: &Shared, base_offset: u64, position: u64, frame_offset: u64) -> Result<OpenSegment> {
    let path = segment::segment_path(&shared.dir, base_offset);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        // Retention deleted it between the lookup and the open.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !shared.has_segment(base_offset) => {
            return Err(Error::OffsetDeleted { requested: frame_offset, log_start: shared.log_start_offset() })
        }
        Err(source) => return Err(Error::io("open segment", &path, source)),
    };
    file.seek(SeekFrom::Start(position)).map_err(|source| Error::io("seek segment", &path, source))?;
    let bounded = BoundedFile { file, position, limit: u64::MAX };
    let reader = BufReader::with_capacity(READ_BUFFER_BYTES, bounded);
    Ok(OpenSegment { base_offset, path, reader, position })
}

/// Follows the log: yields every batch from the starting offset on, waiting for appends at the end.
///
/// `next_batch` is cancel-safe: dropping its future loses nothing, the next call resumes at the same batch.
/// Frames are read with blocking file reads on the calling task; freshly appended batches come from the page
/// cache, but a tailer that starts far behind on a cold log should catch up with [`LogReader`] inside
/// `spawn_blocking` first.
pub struct Tailer {
    reader: LogReader,
    durable: watch::Receiver<DurableState>,
}

impl std::fmt::Debug for Tailer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Tailer").field("reader", &self.reader).finish()
    }
}

impl Tailer {
    pub(crate) fn new(reader: LogReader) -> Tailer {
        let durable = reader.shared.durable.subscribe();
        Tailer { reader, durable }
    }

    /// The next batch, waiting for an append if the tailer is at the durable end. Fails with
    /// [`Error::Closed`] when the `Log` is dropped and [`Error::Poisoned`] when it is poisoned while waiting.
    pub async fn next_batch(&mut self) -> Result<Batch> {
        loop {
            if let Some(batch) = self.reader.next_batch()? {
                return Ok(batch);
            }
            shared::wait_past(self.durable.clone(), self.reader.next_offset).await?;
        }
    }

    /// The offset the next returned batch will start at or contain.
    pub fn next_offset(&self) -> u64 {
        self.reader.next_offset()
    }

    /// The tailer as a `Stream` of batches. The stream ends when the `Log` is dropped ([`Error::Closed`] is
    /// not yielded); any other error is yielded once and ends it. Polling it is cancel-safe: dropping a
    /// `next()` future loses no batch.
    pub fn into_stream(self) -> BoxStream<'static, Result<Batch>> {
        batch_stream(self)
    }
}

impl WaitingSource for Tailer {
    fn next_batch(&mut self) -> impl std::future::Future<Output = Result<Batch>> + Send {
        Tailer::next_batch(self)
    }
}

/// A reader that waits for batches: what [`batch_stream`] turns into a `Stream`.
pub(crate) trait WaitingSource: Send + 'static {
    fn next_batch(&mut self) -> impl std::future::Future<Output = Result<Batch>> + Send;
}

/// A `Stream` over a waiting reader: it ends on [`Error::Closed`] (not yielded), and after any other error,
/// which it yields first. The reader lives in the stream between polls, so dropping a `next()` future loses
/// nothing when the reader's own `next_batch` is cancel-safe.
pub(crate) fn batch_stream<S: WaitingSource>(source: S) -> BoxStream<'static, Result<Batch>> {
    futures::stream::unfold(Some(source), |state| async move {
        let mut source = state?;
        match source.next_batch().await {
            Ok(batch) => Some((Ok(batch), Some(source))),
            Err(Error::Closed) => None,
            Err(error) => Some((Err(error), None)),
        }
    })
    .boxed()
}

/// One iterator step of a reader that ends after its first error: sets `failed` when `read` is an error.
pub(crate) fn fuse(failed: &mut bool, read: Result<Option<Batch>>) -> Option<Result<Batch>> {
    match read {
        Ok(batch) => batch.map(Ok),
        Err(error) => {
            *failed = true;
            Some(Err(error))
        }
    }
}
