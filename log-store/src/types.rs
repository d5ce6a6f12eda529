//! Plain values the log hands out: a read [`Batch`], an append's [`AppendAck`] and the writer's [`LogStats`].

use bytes::Bytes;

/// One batch as appended: `record_count` records at offsets `[base_offset, base_offset + record_count)` and the
/// caller's payload (decompressed if it was stored compressed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub base_offset: u64,
    pub record_count: u32,
    pub payload: Bytes,
}

impl Batch {
    /// Offset after the batch's last record.
    pub fn next_offset(&self) -> u64 {
        self.base_offset + u64::from(self.record_count)
    }
}

/// The offsets an append received; returned once the batch is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendAck {
    /// Offset of the batch's first record.
    pub base_offset: u64,
    /// Offset after the batch's last record (`base_offset + record_count`), the next batch's base offset.
    pub next_offset: u64,
}

/// Counters of the writer's work since the log was opened, for metrics and for checking that group commit
/// really shares fsyncs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Batches acknowledged as durable.
    pub batches_appended: u64,
    /// Frame bytes written to segments (headers included, payloads as stored).
    pub bytes_written: u64,
    /// Fsyncs of segment files (directory and index fsyncs excluded).
    pub segment_syncs: u64,
}
