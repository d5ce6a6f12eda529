//! Sealed segments in an object store: [`upload_sealed_segments`] copies them there, [`RemoteLog`] reads them
//! back, so that readers on other machines can read a log's history.
//!
//! Objects are named like the local files, under a caller-chosen prefix: `<prefix>/<base_offset:020>.log` and
//! `<prefix>/<base_offset:020>.index`. Only sealed segments are uploaded (a segment is sealed once a later
//! segment exists: it was fsync'd in full and its index written before that), so an uploaded object never
//! changes, and "present with the local file's size" is a sufficient test for "already uploaded".
//!
//! Object-store cost: an upload call makes 2 HEADs per sealed segment on disk, plus one PUT per object it
//! uploads; [`RemoteLog::open`] makes one LIST plus up to 2 GETs (the last segment's index and its tail);
//! reading a segment is one GET (two for the first segment of a read that starts inside it: index, then the
//! range from the index entry on).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, ObjectStore, PutOptions, PutPayload};

use crate::error::{Error, Result};
use crate::frame::{self, FrameHeader, FrameRead};
use crate::index;
use crate::segment;
use crate::types::Batch;

/// A sealed segment on local disk: complete, immutable, and safe to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSegment {
    pub base_offset: u64,
    /// Offset after its last record: the next segment's base offset.
    pub end_offset: u64,
    pub segment_path: PathBuf,
    pub index_path: PathBuf,
}

/// The sealed segments in a log directory (every segment but the last), oldest first.
pub fn sealed_segments_in(dir: impl AsRef<Path>) -> Result<Vec<SealedSegment>> {
    let dir = dir.as_ref();
    let (bases, _) = segment::list_dir(dir)?;
    Ok(bases
        .windows(2)
        .map(|pair| SealedSegment {
            base_offset: pair[0],
            end_offset: pair[1],
            segment_path: segment::segment_path(dir, pair[0]),
            index_path: segment::index_path(dir, pair[0]),
        })
        .collect())
}

/// The object holding the segment with this base offset under `prefix`.
pub fn segment_object_path(prefix: &ObjectPath, base_offset: u64) -> ObjectPath {
    prefix.clone().join(segment::segment_file_name(base_offset))
}

/// The object holding that segment's index under `prefix`.
pub fn index_object_path(prefix: &ObjectPath, base_offset: u64) -> ObjectPath {
    prefix.clone().join(segment::index_file_name(base_offset))
}

/// What one [`upload_sealed_segments`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Base offsets of the segments this call uploaded (segment, index or both), oldest first.
    pub uploaded_segments: Vec<u64>,
    /// Sealed segments whose objects were already present with the right sizes.
    pub already_uploaded_segments: usize,
    /// Sealed segments that retention deleted locally while the call ran.
    pub deleted_segments: usize,
    pub bytes_uploaded: u64,
}

/// Uploads every sealed segment of the log in `dir` (and its index) that is not yet under `prefix` with the
/// right size, oldest first. Idempotent: call it after each roll or periodically, from the writer's process or
/// any other (it takes no lock and only reads the directory). Each segment's frames are checked (crc, offsets
/// contiguous from the base to the next segment's base) before upload, so a locally damaged segment is
/// reported as [`Error::Corrupt`] and never uploaded. The segment object goes up before its index: a reader
/// that finds no index scans the segment from its start.
pub async fn upload_sealed_segments(
    dir: impl AsRef<Path>,
    store: Arc<dyn ObjectStore>,
    prefix: &ObjectPath,
) -> Result<UploadReport> {
    let mut report = UploadReport::default();
    for sealed in sealed_segments_in(dir)? {
        let segment_object = segment_object_path(prefix, sealed.base_offset);
        let index_object = index_object_path(prefix, sealed.base_offset);
        let (Some(segment_bytes), Some(index_bytes)) =
            (local_len(&sealed.segment_path)?, local_len(&sealed.index_path)?)
        else {
            report.deleted_segments += 1;
            continue;
        };
        let segment_present = remote_has(store.as_ref(), &segment_object, segment_bytes).await?;
        let index_present = remote_has(store.as_ref(), &index_object, index_bytes).await?;
        if segment_present && index_present {
            report.already_uploaded_segments += 1;
            continue;
        }
        if !segment_present {
            let Some(bytes) = read_local(&sealed.segment_path).await? else {
                report.deleted_segments += 1;
                continue;
            };
            let end_offset =
                scan_frames(&bytes, 0, sealed.base_offset, |_, _| Ok(())).map_err(|(position, reason)| {
                    Error::Corrupt { segment: sealed.segment_path.clone(), position, reason }
                })?;
            if end_offset != sealed.end_offset {
                return Err(Error::Corrupt {
                    segment: sealed.segment_path.clone(),
                    position: bytes.len() as u64,
                    reason: format!(
                        "sealed segment does not end where the next segment starts. end_offset=`{end_offset}`, next_base_offset=`{}`",
                        sealed.end_offset
                    ),
                });
            }
            report.bytes_uploaded += bytes.len() as u64;
            put(store.as_ref(), &segment_object, bytes).await?;
        }
        if !index_present {
            let Some(bytes) = read_local(&sealed.index_path).await? else {
                report.deleted_segments += 1;
                continue;
            };
            index::decode(&bytes, segment_bytes).map_err(|reason| Error::Corrupt {
                segment: sealed.index_path.clone(),
                position: 0,
                reason,
            })?;
            report.bytes_uploaded += bytes.len() as u64;
            put(store.as_ref(), &index_object, bytes).await?;
        }
        report.uploaded_segments.push(sealed.base_offset);
    }
    Ok(report)
}

/// Whether `object` exists with exactly `bytes` bytes.
pub(crate) async fn remote_has(store: &dyn ObjectStore, object: &ObjectPath, bytes: u64) -> Result<bool> {
    match store.get_opts(object, GetOptions::new().with_head(true)).await {
        Ok(result) => Ok(result.meta.size == bytes),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(source) => Err(Error::object_store("head object", object, source)),
    }
}

async fn put(store: &dyn ObjectStore, object: &ObjectPath, bytes: Vec<u8>) -> Result<()> {
    store
        .put_opts(object, PutPayload::from(bytes), PutOptions::default())
        .await
        .map(|_| ())
        .map_err(|source| Error::object_store("put object", object, source))
}

fn local_len(path: &Path) -> Result<Option<u64>> {
    match std::fs::metadata(path) {
        Ok(metadata) => Ok(Some(metadata.len())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::io("stat segment file", path, source)),
    }
}

async fn read_local(path: &Path) -> Result<Option<Vec<u8>>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::io("read segment file", path, source)),
    }
}

/// Checks the frames in `bytes` (which start at byte `start_position` of a segment, with the batch at
/// `start_offset`), calling `on_frame` for each, and returns the offset after the last one. Every byte must
/// belong to a valid frame whose offsets continue the one before; otherwise the position and reason of the
/// first bad frame.
fn scan_frames(
    bytes: &[u8],
    start_position: u64,
    start_offset: u64,
    mut on_frame: impl FnMut(&FrameHeader, Vec<u8>) -> Result<(), String>,
) -> Result<u64, (u64, String)> {
    let mut remaining = bytes;
    let mut position = start_position;
    let mut expected_offset = start_offset;
    loop {
        let mut stored = Vec::new();
        let remaining_bytes = remaining.len() as u64;
        let read = frame::read_frame(&mut remaining, Some(remaining_bytes), &mut stored)
            .map_err(|error| (position, format!("reading from memory failed. error=`{error}`")))?;
        let frame = match read {
            FrameRead::End => return Ok(expected_offset),
            FrameRead::Defect(reason) => return Err((position, reason)),
            FrameRead::Frame(frame) => frame,
        };
        if frame.base_offset != expected_offset {
            return Err((
                position,
                format!(
                    "batch has an unexpected base offset. found=`{}`, expected=`{expected_offset}`",
                    frame.base_offset
                ),
            ));
        }
        on_frame(&frame, stored).map_err(|reason| (position, reason))?;
        // `read_frame` refuses frames whose offsets overflow; the fallback keeps remote bytes from an unwrap.
        expected_offset = frame.next_offset().unwrap_or(u64::MAX);
        position += frame.frame_bytes;
    }
}

/// A segment object found by listing.
#[derive(Debug, Clone)]
struct RemoteSegment {
    base_offset: u64,
    object: ObjectPath,
    object_bytes: u64,
    /// The index object and its size, when one was listed.
    index: Option<(ObjectPath, u64)>,
}

impl RemoteSegment {
    /// The object path as errors name it.
    fn error_path(&self) -> PathBuf {
        PathBuf::from(self.object.as_ref())
    }
}

/// The uploaded segments of one log, read back from an object store. Reads verify every frame's crc and the
/// offsets' continuity, and fail with the same errors as local reads ([`Error::Corrupt`],
/// [`Error::MissingSegment`], [`Error::OffsetDeleted`], [`Error::OffsetOutOfRange`]) naming the object path.
///
/// The view is the listing taken at [`RemoteLog::open`]; open again to see later uploads. A missing *last*
/// uploaded segment, or missing *first* ones, look like a shorter log and cannot be detected.
#[derive(Debug, Clone)]
pub struct RemoteLog {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    segments: Arc<Vec<RemoteSegment>>,
    end_offset: u64,
}

impl RemoteLog {
    /// Lists the segments under `prefix` and reads the tail of the last one to learn where the log ends.
    pub async fn open(store: Arc<dyn ObjectStore>, prefix: &ObjectPath) -> Result<RemoteLog> {
        let depth = prefix.parts().count() + 1;
        let mut segments = Vec::new();
        let mut indexes = Vec::new();
        let mut listing = store.list(Some(prefix));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|source| Error::object_store("list segments", prefix, source))?;
            if meta.location.parts().count() != depth {
                continue;
            }
            let Some(name) = meta.location.filename() else { continue };
            if let Some(base_offset) = segment::parse_base_offset(name, segment::SEGMENT_SUFFIX) {
                segments.push(RemoteSegment {
                    base_offset,
                    object: meta.location.clone(),
                    object_bytes: meta.size,
                    index: None,
                });
            } else if let Some(base_offset) = segment::parse_base_offset(name, segment::INDEX_SUFFIX) {
                indexes.push((base_offset, meta.location.clone(), meta.size));
            }
        }
        drop(listing);
        segments.sort_by_key(|segment| segment.base_offset);
        for (base_offset, object, size) in indexes {
            if let Ok(at) = segments.binary_search_by_key(&base_offset, |segment| segment.base_offset) {
                segments[at].index = Some((object, size));
            }
        }
        let end_offset = match segments.last() {
            Some(last) => {
                // The last index entry is the latest place to start a scan that still reaches the end.
                read_segment(store.as_ref(), last, u64::MAX, false).await?.1
            }
            None => 0,
        };
        Ok(RemoteLog { store, prefix: prefix.clone(), segments: Arc::new(segments), end_offset })
    }

    pub fn prefix(&self) -> &ObjectPath {
        &self.prefix
    }

    /// The base offset of the oldest uploaded segment (0 when there is none).
    pub fn log_start_offset(&self) -> u64 {
        self.segments.first().map_or(0, |segment| segment.base_offset)
    }

    /// Offset after the last uploaded batch.
    pub fn next_offset(&self) -> u64 {
        self.end_offset
    }

    /// Base offsets of the uploaded segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<u64> {
        self.segments.iter().map(|segment| segment.base_offset).collect()
    }

    /// Batches from the one containing `offset` to the end of the uploaded segments, as a stream. Each segment
    /// is fetched and verified whole before its batches are yielded, so memory holds one segment at a time.
    /// After an error the stream yields it and ends.
    pub fn read_from(&self, offset: u64) -> Result<BoxStream<'static, Result<Batch>>> {
        let log_start = self.log_start_offset();
        if offset < log_start {
            return Err(Error::OffsetDeleted { requested: offset, log_start });
        }
        if offset > self.end_offset {
            return Err(Error::OffsetOutOfRange { requested: offset, start: log_start, end: self.end_offset });
        }
        let holding = self.segments.partition_point(|segment| segment.base_offset <= offset);
        let cursor = RemoteCursor {
            store: self.store.clone(),
            segments: self.segments.clone(),
            next_segment: holding.saturating_sub(1),
            next_offset: offset,
            target: offset,
            end_offset: self.end_offset,
            buffered: VecDeque::new(),
            previous: None,
        };
        Ok(futures::stream::unfold(Some(cursor), |state| async move {
            let mut cursor = state?;
            match cursor.next_batch().await {
                Ok(Some(batch)) => Some((Ok(batch), Some(cursor))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        })
        .boxed())
    }
}

/// The position of a remote read.
struct RemoteCursor {
    store: Arc<dyn ObjectStore>,
    segments: Arc<Vec<RemoteSegment>>,
    /// Index into `segments` of the next segment to fetch.
    next_segment: usize,
    /// Offset after the last batch fetched (before the first fetch, the requested offset).
    next_offset: u64,
    /// Batches ending at or below this are not yielded.
    target: u64,
    end_offset: u64,
    buffered: VecDeque<Batch>,
    /// The segment fetched last, to name in a gap error.
    previous: Option<RemoteSegment>,
}

impl RemoteCursor {
    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        loop {
            if let Some(batch) = self.buffered.pop_front() {
                return Ok(Some(batch));
            }
            if self.next_offset >= self.end_offset {
                return Ok(None);
            }
            let Some(segment) = self.segments.get(self.next_segment).cloned() else {
                return Ok(None);
            };
            if let Some(previous) = &self.previous {
                if segment.base_offset > self.next_offset {
                    return Err(Error::MissingSegment {
                        after: previous.error_path(),
                        expected_base_offset: self.next_offset,
                        found_base_offset: segment.base_offset,
                    });
                }
                if segment.base_offset < self.next_offset {
                    return Err(Error::Corrupt {
                        segment: previous.error_path(),
                        position: previous.object_bytes,
                        reason: format!(
                            "segment overlaps the next segment. end_offset=`{}`, next_base_offset=`{}`",
                            self.next_offset, segment.base_offset
                        ),
                    });
                }
            }
            let (batches, end_offset) = read_segment(self.store.as_ref(), &segment, self.next_offset, true).await?;
            let target = self.target;
            self.buffered.extend(batches.into_iter().filter(|batch| batch.next_offset() > target));
            self.next_offset = end_offset;
            self.next_segment += 1;
            self.previous = Some(segment);
        }
    }
}

/// Fetches one segment object from the batch containing `offset` on (using its index when that saves bytes),
/// verifies every frame, and returns the batches (when `decode`) and the offset after the last one.
async fn read_segment(
    store: &dyn ObjectStore,
    segment: &RemoteSegment,
    offset: u64,
    decode: bool,
) -> Result<(Vec<Batch>, u64)> {
    let corrupt =
        |(position, reason): (u64, String)| Error::Corrupt { segment: segment.error_path(), position, reason };
    let scan = |bytes: &[u8], start_position: u64, start_offset: u64| {
        let mut batches = Vec::new();
        let end_offset = scan_frames(bytes, start_position, start_offset, |frame, stored| {
            if decode {
                let payload = frame::decode_payload(frame, stored)?;
                batches.push(Batch { base_offset: frame.base_offset, record_count: frame.record_count, payload });
            }
            Ok(())
        })?;
        Ok::<_, (u64, String)>((batches, end_offset))
    };
    if let Some((position, frame_offset)) = index_start(store, segment, offset).await? {
        let bytes = get(store, &segment.object, Some(position..segment.object_bytes)).await?;
        // A stale or damaged index falls through to a full read, which then names the real problem, if any.
        if let Ok(scanned) = scan(&bytes, position, frame_offset) {
            return Ok(scanned);
        }
    }
    let bytes = get(store, &segment.object, None).await?;
    if bytes.is_empty() {
        return Err(corrupt((0, "segment object is empty".to_string())));
    }
    scan(&bytes, 0, segment.base_offset).map_err(corrupt)
}

/// Where the index says a scan for `offset` should start: (byte position, base offset of the batch there).
/// `None` without a usable index, or when the segment start is as good.
async fn index_start(store: &dyn ObjectStore, segment: &RemoteSegment, offset: u64) -> Result<Option<(u64, u64)>> {
    let Some((index_object, _)) = &segment.index else {
        return Ok(None);
    };
    if offset <= segment.base_offset {
        return Ok(None);
    }
    let bytes = match store.get_opts(index_object, GetOptions::new()).await {
        Ok(result) => {
            result.bytes().await.map_err(|source| Error::object_store("get index object", index_object, source))?
        }
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(source) => return Err(Error::object_store("get index object", index_object, source)),
    };
    let Ok(entries) = index::decode(&bytes, segment.object_bytes) else {
        return Ok(None);
    };
    Ok(index::lookup(&entries, offset - segment.base_offset)
        .map(|entry| (u64::from(entry.position), segment.base_offset + u64::from(entry.relative_offset))))
}

async fn get(
    store: &dyn ObjectStore,
    object: &ObjectPath,
    range: Option<std::ops::Range<u64>>,
) -> Result<bytes::Bytes> {
    let options = GetOptions::new().with_range(range);
    let result = store
        .get_opts(object, options)
        .await
        .map_err(|source| Error::object_store("get segment object", object, source))?;
    result.bytes().await.map_err(|source| Error::object_store("get segment object", object, source))
}
