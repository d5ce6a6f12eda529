//! The configuration of a [`Log`](crate::Log): [`LogOptions`], [`SyncPolicy`] and the [`FaultInjection`] test
//! hook.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::frame::FRAME_HEADER_BYTES;

/// When an append's fsync happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Each batch is written and fsync'd on its own.
    EveryBatch,
    /// Batches from concurrent appenders share one fsync. After the first batch of a group arrives the writer
    /// waits up to `max_delay` for more, and stops collecting once the group holds `max_bytes` of frames.
    /// Every append still returns only after the fsync that covers it.
    GroupCommit { max_delay: Duration, max_bytes: usize },
}

/// A test hook that makes fsyncs of segment files fail, to exercise poisoning. The failure is simulated in
/// place of the `sync_data` call (the data is then genuinely not known to be durable), and only segment syncs
/// are affected, not directory or index syncs. Production code leaves [`LogOptions::fault_injection`] unset.
#[derive(Debug, Clone, Default)]
pub struct FaultInjection {
    fail_next_sync: Arc<AtomicBool>,
}

impl FaultInjection {
    pub fn new() -> FaultInjection {
        FaultInjection::default()
    }

    /// Makes the next fsync of a segment file fail with an I/O error.
    pub fn fail_next_sync(&self) {
        self.fail_next_sync.store(true, Ordering::SeqCst);
    }

    pub(crate) fn take_sync_failure(&self) -> bool {
        self.fail_next_sync.swap(false, Ordering::SeqCst)
    }
}

/// Configuration of a [`Log`](crate::Log).
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// A segment is sealed and a new one started when the next frame would take it past this size. A single
    /// frame larger than this gets a segment of its own. At most `u32::MAX` (index positions are u32).
    pub segment_bytes_max: u64,
    /// Compress each payload with zstd (kept uncompressed when that does not make it smaller).
    pub compression: bool,
    pub sync: SyncPolicy,
    /// Bytes of frames between two entries of the sparse offset index; smaller means faster seeks and larger
    /// index files.
    pub index_interval_bytes: u64,
    /// Test hook, see [`FaultInjection`]; `None` in production.
    pub fault_injection: Option<FaultInjection>,
    /// Retention may delete only segments that are in the object store: [`Log::truncate_before`](crate::Log::truncate_before) is refused
    /// and [`Log::truncate_before_uploaded`](crate::Log::truncate_before_uploaded), which checks the store first, must be used instead.
    pub require_upload_before_delete: bool,
}

impl Default for LogOptions {
    fn default() -> LogOptions {
        LogOptions {
            segment_bytes_max: 64 << 20,
            compression: false,
            sync: SyncPolicy::EveryBatch,
            index_interval_bytes: 4096,
            fault_injection: None,
            require_upload_before_delete: false,
        }
    }
}

impl LogOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::InvalidArgument { reason });
        if self.segment_bytes_max < FRAME_HEADER_BYTES as u64 || self.segment_bytes_max > u64::from(u32::MAX) {
            return invalid(format!(
                "segment_bytes_max must be between one frame header and u32::MAX. segment_bytes_max=`{}`",
                self.segment_bytes_max
            ));
        }
        if self.index_interval_bytes == 0 {
            return invalid("index_interval_bytes must be positive. index_interval_bytes=`0`".to_string());
        }
        Ok(())
    }
}
