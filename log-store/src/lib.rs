//! dyntable's append-only changelog: a durable log of record batches, one [`Log`] per (partition, bucket)
//! directory.
//!
//! The crate knows nothing of tables. A batch is an opaque payload plus the number of records in it; what the
//! records are, and their row kinds, is the caller's business. Offsets count records: a batch of `n` records
//! takes offsets `[base, base + n)`, and the next batch starts at `base + n`.
//!
//! # Using it
//!
//! ```no_run
//! use dyntable_log_store::{Log, LogOptions};
//!
//! # fn main() -> Result<(), dyntable_log_store::Error> {
//! let (log, report) = Log::open("/data/log/p=0/bucket-3", LogOptions::default())?;
//! for warning in &report.warnings {
//!     eprintln!("{warning}");
//! }
//! let ack = log.append(b"opaque bytes for 2 records", 2)?; // durable once this returns
//! for batch in log.read_from(ack.base_offset)? {
//!     let batch = batch?;
//!     assert_eq!(batch.record_count, 2);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # On-disk format
//!
//! A log directory holds:
//!
//! - `<base_offset:020>.log`: segments, each a sequence of frames; `base_offset` is the offset of its first
//!   record. Segments are contiguous: each one starts where the one before ends.
//! - `<base_offset:020>.index`: the sparse offset index of a sealed segment, written when the segment is sealed.
//!   Each 8-byte entry is (offset relative to the base: u32 LE, byte position of that batch's frame: u32 LE),
//!   one entry per `index_interval_bytes` of frames. It is only a hint and is rebuilt when missing or stale.
//! - `LOCK`: an OS file lock held by the open `Log`, so two writers never share a directory.
//! - `DURABLE`: the durable watermark for readers in other processes, 16 bytes: magic `b"DLW1"`, the next
//!   offset (u64 LE; every offset below it is fsync'd), crc32 of the first 12 bytes (u32 LE).
//!
//! A frame (all integers little endian; 22-byte header):
//!
//! ```text
//! 0       u8   magic/version, 0xD1
//! 1..5    u32  length: bytes after this field (17 + stored payload length)
//! 5..9    u32  crc32 (IEEE, crc32fast) of bytes 9..end
//! 9..17   u64  base offset
//! 17..21  u32  record count (>= 1)
//! 21      u8   flags: bit 0 = payload is zstd-compressed; other bits zero
//! 22..    payload as stored
//! ```
//!
//! # Guarantees
//!
//! - **Durable appends.** [`Log::append`] returns only after the segment was fsync'd (`sync_data`), and after
//!   the directory was fsync'd when the batch started a new segment. Under [`SyncPolicy::GroupCommit`]
//!   concurrent appends share one fsync, but each still returns only after the fsync that covers it.
//! - **Monotonic offsets.** Offsets only grow, are never reused and survive restarts: recovery only removes
//!   batches that were never acknowledged.
//! - **Readers see only durable data.** Reads and tailers stop at the durable end, so nothing a reader saw can
//!   be lost in a crash.
//! - **Poisoning.** If a write or fsync fails, the log is poisoned: that append fails, and every later one
//!   returns [`Error::Poisoned`] until the log is reopened. A failed fsync is never retried, because the kernel
//!   may already have dropped the dirty pages, so a retry could report success over lost data.
//! - **Recovery.** On open, the last segment is scanned. A bad frame (incomplete, or failing its crc) in the
//!   last segment with no valid batch after it is a torn write and is truncated, as reported in
//!   [`OpenReport`]. A bad frame anywhere else (a sealed segment, or followed by valid data) is
//!   [`Error::Corrupt`], naming the segment and position. A gap between segments is
//!   [`Error::MissingSegment`]. Sealed segments are checked from their last index entry to their end, so damage
//!   further inside them is reported when a read reaches it.
//! - **Retention.** [`Log::truncate_before`] deletes whole sealed segments whose records are all below the
//!   given offset, never the active segment; reads below the new start fail with [`Error::OffsetDeleted`].
//!
//! - **The watermark.** After each fsync that makes a group durable, and at open after recovery, the writer
//!   rewrites `DURABLE` in place with one positional write (one per group, not per batch). It is never
//!   fsync'd: it is written only after the fsync covering the offsets it names, so it is never ahead of the
//!   durable data, and a copy lost in a crash only makes followers wait until the next open rewrites it. A
//!   failed watermark write poisons the log like a failed fsync.
//! - **Reading from another process.** [`LogFollower`] takes no lock, repairs nothing and reads only frames
//!   whose expected base offset is below the watermark, so it never sees a frame that is still being written
//!   or that recovery could still cut; a bad frame below the watermark is [`Error::Corrupt`] (segment and
//!   position). Its [`FollowerTailer`] is woken by file-system notification on `DURABLE` (inotify on Linux,
//!   through the `notify` crate), with a re-check after [`FollowerOptions::recheck_interval`] (1 s) as the
//!   only timer, a fallback against missed events and file systems without notification. [`Tailer`] and
//!   [`FollowerTailer`] are also `Stream`s (`into_stream`), cancel-safe.
//! - **Upload.** A segment is sealed once a later one exists; it never changes again. [`upload_sealed_segments`]
//!   copies sealed segments and their indexes to an `object_store` as `<prefix>/<base_offset:020>.log|.index`,
//!   idempotently (an object already present with the local size is skipped) and only after checking every
//!   frame. [`RemoteLog`] reads them back with the same checks and errors, naming the object path. Retention
//!   that must not lose history uses [`Log::truncate_before_uploaded`], which deletes only segments already in
//!   the store; [`LogOptions::require_upload_before_delete`] makes plain [`Log::truncate_before`] refuse.
//!
//! Not covered: a crash can make writeback reach disk out of order, so an unacknowledged group can leave valid
//! frames behind a damaged one; recovery then reports corruption instead of guessing, because it cannot tell
//! that case from damage to acknowledged data. A missing *last* segment, or missing *first* segments, look
//! like a shorter log and cannot be detected. Directory fsync is Unix-only.

mod error;
mod follower;
mod frame;
mod index;
mod log;
mod options;
mod reader;
mod remote;
mod segment;
mod shared;
mod types;
mod watermark;
mod writer;

pub use crate::error::{Error, ErrorKind, Result};
pub use crate::follower::{FollowerOptions, FollowerReader, FollowerTailer, LogFollower};
pub use crate::frame::BATCH_PAYLOAD_BYTES_MAX;
pub use crate::log::{Log, OpenReport, RetentionReport};
pub use crate::options::{FaultInjection, LogOptions, SyncPolicy};
pub use crate::reader::{LogReader, Tailer};
pub use crate::remote::{
    index_object_path, sealed_segments_in, segment_object_path, upload_sealed_segments, RemoteLog, SealedSegment,
    UploadReport,
};
pub use crate::types::{AppendAck, Batch, LogStats};
