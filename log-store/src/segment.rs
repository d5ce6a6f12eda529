//! Segment files on disk: naming, listing, directory fsync, and the scans that open a log: checking sealed
//! segments (using their index to read only the tail) and recovering the last segment (truncating a torn tail).

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::frame::{self, FrameRead};
use crate::index::{self, IndexBuilder, IndexEntry};

pub(crate) const SEGMENT_SUFFIX: &str = ".log";
pub(crate) const INDEX_SUFFIX: &str = ".index";
/// Digits in a file name's base offset: enough for any u64, so names sort in offset order.
const BASE_OFFSET_DIGITS: usize = 20;
/// Read buffer for scans; large enough that a scan is a few big reads.
const SCAN_BUFFER_BYTES: usize = 256 << 10;

pub(crate) fn segment_file_name(base_offset: u64) -> String {
    format!("{base_offset:0BASE_OFFSET_DIGITS$}{SEGMENT_SUFFIX}")
}

pub(crate) fn index_file_name(base_offset: u64) -> String {
    format!("{base_offset:0BASE_OFFSET_DIGITS$}{INDEX_SUFFIX}")
}

pub(crate) fn segment_path(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(segment_file_name(base_offset))
}

pub(crate) fn index_path(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(index_file_name(base_offset))
}

pub(crate) fn parse_base_offset(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != BASE_OFFSET_DIGITS || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Base offsets of the segment files and of the index files in `dir`, each sorted. Other files are ignored.
pub(crate) fn list_dir(dir: &Path) -> Result<(Vec<u64>, Vec<u64>)> {
    let mut segments = Vec::new();
    let mut indexes = Vec::new();
    let entries = fs::read_dir(dir).map_err(|source| Error::io("list log directory", dir, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::io("list log directory", dir, source))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base_offset) = parse_base_offset(name, SEGMENT_SUFFIX) {
            segments.push(base_offset);
        } else if let Some(base_offset) = parse_base_offset(name, INDEX_SUFFIX) {
            indexes.push(base_offset);
        }
    }
    segments.sort_unstable();
    indexes.sort_unstable();
    Ok((segments, indexes))
}

/// Makes creations, renames and deletions in `dir` durable. Without it a crash can forget a new segment file
/// even though its contents were fsync'd.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let handle = File::open(dir).map_err(|source| Error::io("open log directory", dir, source))?;
        handle.sync_all().map_err(|source| Error::io("sync log directory", dir, source))?;
    }
    // Other platforms offer no directory fsync through std; their metadata journaling is relied on instead.
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes a sealed segment's index and makes it durable. Written in place: a torn index fails `index::decode`
/// or the frame check at open and is rebuilt, so it needs no rename dance.
pub(crate) fn write_index(dir: &Path, base_offset: u64, entries: &[IndexEntry]) -> Result<()> {
    let path = index_path(dir, base_offset);
    let mut file = File::create(&path).map_err(|source| Error::io("create index", &path, source))?;
    file.write_all(&index::encode(entries)).map_err(|source| Error::io("write index", &path, source))?;
    file.sync_data().map_err(|source| Error::io("sync index", &path, source))?;
    Ok(())
}

/// Where a scan stopped early: a frame that is not valid, or one with the wrong base offset.
#[derive(Debug)]
struct Stop {
    position: u64,
    reason: String,
    /// The frame passed its crc but has the wrong base offset; it is data, not a torn write.
    frame_is_valid: bool,
}

/// The result of scanning a segment's frames from some position to the end of the file or to the first bad frame.
#[derive(Debug)]
struct Scan {
    /// Offset after the last valid frame.
    end_offset: u64,
    /// Byte position after the last valid frame.
    end_position: u64,
    /// Entries for frames after the start position.
    index: Vec<IndexEntry>,
    builder: IndexBuilder,
    stop: Option<Stop>,
}

/// Scans frames from `start_position`, where the batch at `start_offset` must begin, checking that each frame is
/// valid and continues the offsets of the one before.
fn scan(
    path: &Path,
    segment_base_offset: u64,
    start_position: u64,
    start_offset: u64,
    mut builder: IndexBuilder,
) -> Result<Scan> {
    let file = File::open(path).map_err(|source| Error::io("open segment", path, source))?;
    let segment_bytes = file.metadata().map_err(|source| Error::io("stat segment", path, source))?.len();
    let mut reader = BufReader::with_capacity(SCAN_BUFFER_BYTES, file);
    reader.seek(SeekFrom::Start(start_position)).map_err(|source| Error::io("seek segment", path, source))?;
    let mut position = start_position;
    let mut expected_offset = start_offset;
    let mut entries = Vec::new();
    let mut payload = Vec::new();
    let stop = loop {
        let remaining_bytes = segment_bytes.saturating_sub(position);
        let read = frame::read_frame(&mut reader, Some(remaining_bytes), &mut payload)
            .map_err(|source| Error::io("read segment", path, source))?;
        let frame = match read {
            FrameRead::End => break None,
            FrameRead::Defect(reason) => break Some(Stop { position, reason, frame_is_valid: false }),
            FrameRead::Frame(frame) => frame,
        };
        if frame.base_offset != expected_offset {
            break Some(Stop {
                position,
                reason: format!(
                    "batch has an unexpected base offset. found=`{}`, expected=`{expected_offset}`",
                    frame.base_offset
                ),
                frame_is_valid: true,
            });
        }
        let relative_offset = expected_offset - segment_base_offset;
        let (Ok(relative_offset), Ok(frame_position)) = (u32::try_from(relative_offset), u32::try_from(position))
        else {
            break Some(Stop {
                position,
                reason: format!(
                    "segment exceeds the index's u32 range. relative_offset=`{relative_offset}`, position=`{position}`"
                ),
                frame_is_valid: true,
            });
        };
        if let Some(entry) = builder.on_frame(relative_offset, frame_position, frame.frame_bytes) {
            entries.push(entry);
        }
        position += frame.frame_bytes;
        // `read_frame` refuses frames whose offsets overflow, so this holds; the fallback keeps disk bytes from
        // reaching an unwrap.
        expected_offset = frame.next_offset().unwrap_or(u64::MAX);
    };
    Ok(Scan { end_offset: expected_offset, end_position: position, index: entries, builder, stop })
}

/// A sealed (not last) segment after its check at open.
#[derive(Debug)]
pub(crate) struct SealedSegment {
    pub(crate) index: Vec<IndexEntry>,
    /// Offset after the segment's last batch: the next segment must start here.
    pub(crate) end_offset: u64,
    pub(crate) index_rebuilt: bool,
}

/// Checks a sealed segment. With a usable index only the frames after its last entry are read, so opening a
/// long log costs about one index interval per segment; otherwise the whole segment is scanned and its index
/// rewritten. Any bad frame is corruption: a sealed segment was fsync'd in full before its successor existed.
pub(crate) fn load_sealed(dir: &Path, base_offset: u64, index_interval_bytes: u64) -> Result<SealedSegment> {
    let path = segment_path(dir, base_offset);
    let segment_bytes = fs::metadata(&path).map_err(|source| Error::io("stat segment", &path, source))?.len();
    let stored_index = read_index(dir, base_offset, segment_bytes)?;
    if let Some(entries) = stored_index {
        let (start_position, start_offset) = match entries.last() {
            Some(last) => (u64::from(last.position), base_offset + u64::from(last.relative_offset)),
            None => (0, base_offset),
        };
        // The builder state does not matter here: a complete index has no entries past its last one.
        let tail = scan(&path, base_offset, start_position, start_offset, IndexBuilder::new(u64::MAX, 0))?;
        if tail.stop.is_none() && tail.end_position == segment_bytes {
            return Ok(SealedSegment { index: entries, end_offset: tail.end_offset, index_rebuilt: false });
        }
        // The index disagrees with the segment, or the tail is damaged; the full scan below tells which.
    }
    let full = scan(&path, base_offset, 0, base_offset, IndexBuilder::new(index_interval_bytes, 0))?;
    if let Some(stop) = full.stop {
        return Err(Error::Corrupt { segment: path, position: stop.position, reason: stop.reason });
    }
    write_index(dir, base_offset, &full.index)?;
    Ok(SealedSegment { index: full.index, end_offset: full.end_offset, index_rebuilt: true })
}

/// Reads a segment's index file; `None` when it is missing or malformed (the caller rebuilds it).
pub(crate) fn read_index(dir: &Path, base_offset: u64, segment_bytes: u64) -> Result<Option<Vec<IndexEntry>>> {
    let path = index_path(dir, base_offset);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::io("read index", &path, source)),
    };
    Ok(index::decode(&bytes, segment_bytes).ok())
}

/// The last segment after recovery.
#[derive(Debug)]
pub(crate) struct RecoveredSegment {
    pub(crate) index: Vec<IndexEntry>,
    pub(crate) builder: IndexBuilder,
    pub(crate) next_offset: u64,
    pub(crate) segment_bytes: u64,
    /// Bytes cut from a torn tail, with the reason the first cut frame was bad.
    pub(crate) truncated: Option<(u64, String)>,
}

/// Recovers the last segment: scans every frame (its index file, if any, predates appends since and is ignored)
/// and, if the scan stops at a bad frame that no valid batch follows, truncates the file there. A crash while
/// appending leaves exactly such a tail: a frame that was not acknowledged because its fsync never returned.
pub(crate) fn recover_last(dir: &Path, base_offset: u64, index_interval_bytes: u64) -> Result<RecoveredSegment> {
    let path = segment_path(dir, base_offset);
    let scanned = scan(&path, base_offset, 0, base_offset, IndexBuilder::new(index_interval_bytes, 0))?;
    let Some(stop) = scanned.stop else {
        return Ok(RecoveredSegment {
            index: scanned.index,
            builder: scanned.builder,
            next_offset: scanned.end_offset,
            segment_bytes: scanned.end_position,
            truncated: None,
        });
    };
    if stop.frame_is_valid {
        return Err(Error::Corrupt { segment: path, position: stop.position, reason: stop.reason });
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| Error::io("open segment for recovery", &path, source))?;
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(stop.position))
        .and_then(|_| file.read_to_end(&mut tail))
        .map_err(|source| Error::io("read segment tail", &path, source))?;
    if let Some(valid_at) = frame::find_valid_frame_after_start(&tail, scanned.end_offset) {
        return Err(Error::Corrupt {
            segment: path,
            position: stop.position,
            reason: format!(
                "{}; a valid batch follows, so this is not a torn tail. valid_batch_position=`{}`",
                stop.reason,
                stop.position + valid_at as u64
            ),
        });
    }
    file.set_len(stop.position).map_err(|source| Error::io("truncate torn tail", &path, source))?;
    // The truncation must be durable before new batches land behind it, or a crash could resurrect the torn
    // bytes between acknowledged batches.
    file.sync_all().map_err(|source| Error::io("sync truncated segment", &path, source))?;
    Ok(RecoveredSegment {
        index: scanned.index,
        builder: scanned.builder,
        next_offset: scanned.end_offset,
        segment_bytes: stop.position,
        truncated: Some((tail.len() as u64, stop.reason)),
    })
}

/// Removes a segment and its index. The segment goes first: a crash in between leaves an orphan index, which
/// the next open deletes, rather than a segment without its index.
pub(crate) fn remove_segment(dir: &Path, base_offset: u64) -> Result<()> {
    for path in [segment_path(dir, base_offset), index_path(dir, base_offset)] {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::io("remove segment file", &path, source)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// File names carry 20-digit base offsets; names of any other shape are not taken for segments.
    #[test]
    fn file_names_parse_only_in_the_canonical_form() {
        let dir = Path::new("/logs");
        let path = segment_path(dir, 42);
        assert_eq!(path, Path::new("/logs/00000000000000000042.log"));
        assert_eq!(parse_base_offset("00000000000000000042.log", SEGMENT_SUFFIX), Some(42));
        assert_eq!(parse_base_offset("18446744073709551615.index", INDEX_SUFFIX), Some(u64::MAX));
        assert_eq!(parse_base_offset("42.log", SEGMENT_SUFFIX), None);
        assert_eq!(parse_base_offset("0000000000000000004x.log", SEGMENT_SUFFIX), None);
        assert_eq!(parse_base_offset("99999999999999999999.log", SEGMENT_SUFFIX), None);
    }
}
