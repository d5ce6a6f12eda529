//! Compaction: the job that compacts one bucket ([`job`]), its scheduling inside a writer ([`scheduler`]: the
//! background task, write stalls, `COMPACT` commits after `APPEND` ones), and write amplification read back
//! from the manifests ([`write_stats`]).
//!
//! Layering: below `table`, which owns a [`CompactionScheduler`] per writer and calls
//! [`compact_latest`] for a manual compaction; this module takes the snapshot and manifest stores it needs and
//! never imports the table.

pub mod job;
pub mod scheduler;
pub mod write_stats;

pub use job::{files_by_level, levels_of, sorted_run_count, BucketCompactor, CompactionMetrics, KeyEncoder};
pub use scheduler::{compact_latest, CompactionScheduler, SchedulerMetrics};
pub use write_stats::{manifest_write_stats, ManifestWriteStats};
