//! Helpers shared by the follower and remote-log tests: small segments, recognisable payloads, file damage.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dyntable_log_store::{AppendAck, Batch, Error, Log, LogOptions};

/// A bound on how long a wake-up may take; generous because CI machines are shared.
pub const WAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frame header bytes: magic, length, crc, base offset, record count, flags.
pub const FRAME_HEADER_BYTES: u64 = 22;

pub fn small_segments() -> LogOptions {
    LogOptions { segment_bytes_max: 1024, index_interval_bytes: 128, ..LogOptions::default() }
}

pub fn open(dir: &Path, options: LogOptions) -> Log {
    let (log, report) = Log::open(dir, options).expect("log opens");
    assert_eq!(report.truncated_bytes, 0, "unexpected truncation: {:?}", report.warnings);
    log
}

/// A payload that names its batch, padded to a length that varies with `index`.
pub fn payload(index: usize) -> Vec<u8> {
    let mut bytes = format!("batch-{index}-").into_bytes();
    bytes.resize(bytes.len() + (index * 37) % 150, b'a' + (index % 26) as u8);
    bytes
}

pub fn record_count(index: usize) -> u32 {
    (index % 5) as u32 + 1
}

pub fn append_batches(log: &Log, range: std::ops::Range<usize>) -> Vec<AppendAck> {
    range.map(|index| log.append(&payload(index), record_count(index)).expect("append succeeds")).collect()
}

/// Asserts that `batches` are exactly the batches `indexes` appended with `acks`.
pub fn assert_batches(batches: &[Batch], acks: &[AppendAck], indexes: std::ops::Range<usize>) {
    assert_eq!(batches.len(), indexes.len(), "batch count");
    for (batch, index) in batches.iter().zip(indexes) {
        assert_eq!(batch.base_offset, acks[index].base_offset, "batch {index}");
        assert_eq!(batch.next_offset(), acks[index].next_offset, "batch {index}");
        assert_eq!(batch.payload.as_ref(), payload(index).as_slice(), "batch {index}");
    }
}

pub fn segment_file(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(format!("{base_offset:020}.log"))
}

pub fn flip_byte(path: &Path, position: u64) {
    let mut bytes = fs::read(path).expect("read");
    bytes[position as usize] ^= 0x40;
    fs::write(path, bytes).expect("write");
}

/// The bytes of the `DURABLE` watermark file for `next_offset`, built from the documented format.
pub fn watermark_bytes(next_offset: u64) -> Vec<u8> {
    let mut bytes = b"DLW1".to_vec();
    bytes.extend_from_slice(&next_offset.to_le_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// Asserts that `error` is `MissingSegment` after the segment `after`, expecting `expected` and finding `found`.
pub fn assert_missing_segment(error: &Error, after: &Path, expected: u64, found: u64) {
    match error {
        Error::MissingSegment { after: named, expected_base_offset, found_base_offset } => {
            assert_eq!(named, after);
            assert_eq!(*expected_base_offset, expected);
            assert_eq!(*found_base_offset, found);
        }
        other => panic!("expected MissingSegment, got {other:?}"),
    }
}
