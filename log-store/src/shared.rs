//! The state a [`Log`](crate::Log) shares with its writer thread, readers and tailers: the segment list, the
//! durable end (a `watch` channel that wakes waiters) and the writer's counters.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::index::{self, IndexEntry};
use crate::types::LogStats;

/// The writer's counters; relaxed atomics because they are statistics, not synchronization.
#[derive(Debug, Default)]
pub(crate) struct StatCounters {
    pub(crate) batches_appended: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) segment_syncs: AtomicU64,
}

impl StatCounters {
    pub(crate) fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LogStats {
        LogStats {
            batches_appended: self.batches_appended.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            segment_syncs: self.segment_syncs.load(Ordering::Relaxed),
        }
    }
}

/// The durable end of the log as published to readers and waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DurableState {
    /// Every offset below this is fsync'd and may be read.
    pub(crate) next_offset: u64,
    /// The segment appends go to, and how many of its bytes are durable. Readers in that segment read no
    /// further, so they never buffer bytes of a frame the writer is still writing.
    pub(crate) active_base_offset: u64,
    pub(crate) active_durable_bytes: u64,
    pub(crate) poisoned: bool,
    /// The `Log` was dropped; no more appends will come.
    pub(crate) closed: bool,
}

/// A segment as readers see it.
#[derive(Debug, Clone)]
pub(crate) struct SegmentEntry {
    pub(crate) base_offset: u64,
    pub(crate) index: Vec<IndexEntry>,
}

/// State shared by the `Log`, its writer thread, readers and tailers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    /// Sorted by base offset; never empty; the last one is the active segment.
    segments: RwLock<Vec<SegmentEntry>>,
    pub(crate) durable: watch::Sender<DurableState>,
    pub(crate) stats: StatCounters,
}

impl Shared {
    /// `segments` sorted by base offset, not empty, the last one the active segment.
    pub(crate) fn new(dir: PathBuf, segments: Vec<SegmentEntry>, durable: watch::Sender<DurableState>) -> Shared {
        Shared { dir, segments: RwLock::new(segments), durable, stats: StatCounters::default() }
    }

    // A panic while the lock was held cannot leave the vector half-updated (each change is one push, drain or
    // index push), so a poisoned lock is still safe to use.
    pub(crate) fn with_segments<T>(&self, read: impl FnOnce(&[SegmentEntry]) -> T) -> T {
        let segments = self.segments.read().unwrap_or_else(PoisonError::into_inner);
        read(&segments)
    }

    pub(crate) fn with_segments_mut<T>(&self, write: impl FnOnce(&mut Vec<SegmentEntry>) -> T) -> T {
        let mut segments = self.segments.write().unwrap_or_else(PoisonError::into_inner);
        write(&mut segments)
    }

    pub(crate) fn durable_state(&self) -> DurableState {
        *self.durable.borrow()
    }

    /// Where a read of `offset` starts: the segment holding it, the byte position to seek to and the base
    /// offset of the batch there. Errors if `offset` is outside `[log_start, durable end]`.
    pub(crate) fn locate(&self, offset: u64) -> Result<(u64, u64, u64)> {
        let end = self.durable_state().next_offset;
        self.with_segments(|segments| {
            let log_start = segments.first().map_or(0, |segment| segment.base_offset);
            if offset < log_start {
                return Err(Error::OffsetDeleted { requested: offset, log_start });
            }
            if offset > end {
                return Err(Error::OffsetOutOfRange { requested: offset, start: log_start, end });
            }
            let holding = segments.partition_point(|segment| segment.base_offset <= offset);
            let Some(segment) = holding.checked_sub(1).map(|at| &segments[at]) else {
                return Err(Error::Internal {
                    reason: format!("no segment holds an offset inside the log. offset=`{offset}`"),
                });
            };
            Ok(match index::lookup(&segment.index, offset - segment.base_offset) {
                Some(entry) => (
                    segment.base_offset,
                    u64::from(entry.position),
                    segment.base_offset + u64::from(entry.relative_offset),
                ),
                None => (segment.base_offset, 0, segment.base_offset),
            })
        })
    }

    pub(crate) fn log_start_offset(&self) -> u64 {
        self.with_segments(|segments| segments.first().map_or(0, |segment| segment.base_offset))
    }

    /// Whether a segment with exactly this base offset is in the log.
    pub(crate) fn has_segment(&self, base_offset: u64) -> bool {
        self.with_segments(|segments| {
            segments.binary_search_by_key(&base_offset, |segment| segment.base_offset).is_ok()
        })
    }
}

/// Waits until the durable end passes `offset`.
pub(crate) async fn wait_past(mut durable: watch::Receiver<DurableState>, offset: u64) -> Result<u64> {
    let state = *durable
        .wait_for(|state| state.next_offset > offset || state.poisoned || state.closed)
        .await
        .map_err(|_| Error::Closed)?;
    if state.next_offset > offset {
        Ok(state.next_offset)
    } else if state.poisoned {
        Err(Error::Poisoned { reason: "an earlier write or fsync failed".to_string() })
    } else {
        Err(Error::Closed)
    }
}
