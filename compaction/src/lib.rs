//! dyntable-compaction: the pure policy half of LSM compaction, in Apache Paimon's semantics.
//!
//! Every bucket of a primary-key table is an LSM tree: flushes add level-0 files, each its own sorted run, and
//! compaction merges runs upward so reads have fewer runs to merge. This crate decides *what* to compact and
//! *how* (upgrade a file in metadata, or rewrite it); it never touches a file. The job that reads and writes data
//! files lives in `dyntable-storage` and the root crate, and calls in here. Because a Java Paimon writer may share
//! the table, the rules and option names are Paimon's (see `paimon-format.md` section 10).
//!
//! Architecture invariant: the policy does no I/O and reads no clock and no randomness. Given the same levels and
//! options it always returns the same plan, which is what lets the tests replay any sequence exactly.
//!
//! # A guided tour
//!
//! 1. [`CompactionOptions::from_table_options`] reads `num-sorted-run.compaction-trigger`,
//!    `num-sorted-run.stop-trigger`, `compaction.max-size-amplification-percent`, `compaction.size-ratio`,
//!    `num-levels` and `target-file-size` from the table options, with Paimon's defaults.
//! 2. [`Levels::new`] arranges a bucket's [`FileInfo`]s: level-0 files newest first (by max sequence number),
//!    then one sorted run per non-empty level; [`Levels::level_sorted_runs`] is what the pickers see.
//! 3. A [`CompactStrategy`] picks a [`CompactUnit`]: [`UniversalCompaction`] checks size amplification, then size
//!    ratio, then file number, and chooses an output level one below the next older run (never level 0), or the
//!    max level when it takes every run. [`pick_full_compaction`] is the forced full compaction.
//! 4. [`plan_rewrite`] splits a unit into sections of overlapping files ([`interval_partition`]) and decides per
//!    file: [`CompactAction::Upgrade`] for a large file that overlaps nothing, [`CompactAction::Rewrite`] for the
//!    rest; deletes are dropped only when no older data can lie below ([`drop_deletes`]).
//! 5. [`plan_compaction`] does steps 3 and 4 in one call, and [`Levels::update`] applies the job's result.
//! 6. [`should_stall`]: a flush waits for compaction once the runs exceed the stop trigger.
//! 7. [`sim`] replays uniform, zipfian or append-only writes through the picker on one modelled bucket and
//!    reports write, read and space amplification (the `dyntable-compaction-sim` binary prints them).
//!
//! ```
//! use std::collections::BTreeMap;
//! use dyntable_compaction::*;
//!
//! let options = CompactionOptions::from_table_options(&BTreeMap::from([
//!     ("num-sorted-run.compaction-trigger".to_string(), "2".to_string()),
//!     ("target-file-size".to_string(), "1 kb".to_string()),
//! ]))?;
//! let flushed = |name: &str, sequence: i64| FileInfo {
//!     name: name.to_string(),
//!     size_bytes: 100,
//!     level: 0,
//!     min_key: b"a".to_vec(),
//!     max_key: b"m".to_vec(),
//!     max_sequence_number: sequence,
//!     delete_row_count: Some(0),
//! };
//! let levels = Levels::new(vec![flushed("f1", 1), flushed("f2", 2)], options.num_levels)?;
//! let strategy = UniversalCompaction::from_options(&options);
//! let plan = plan_compaction(&strategy, &levels, &options, CompactionTrigger::Normal).expect("two runs reach the trigger");
//! // Both runs are taken, so the output is the max level and deletes may be dropped.
//! assert_eq!(plan.unit.output_level, options.max_level());
//! assert!(matches!(&plan.actions[..], [CompactAction::Rewrite { drop_deletes: true, .. }]));
//! # Ok::<(), CompactionError>(())
//! ```

mod error;
mod levels;
mod options;
mod plan;
pub mod random;
mod rewrite;
pub mod sim;
mod strategy;

pub use error::{CompactionError, ErrorKind, Result};
pub use levels::{level_sorted_runs_from_files, should_stall, FileInfo, LevelSortedRun, Levels, SortedRun};
pub use options::{
    parse_memory_size, CompactionOptions, COMPACTION_MAX_SIZE_AMPLIFICATION_PERCENT, COMPACTION_SIZE_RATIO,
    DEFAULT_MAX_SIZE_AMPLIFICATION_PERCENT, DEFAULT_NUM_SORTED_RUN_COMPACTION_TRIGGER, DEFAULT_SIZE_RATIO_PERCENT,
    DEFAULT_STOP_TRIGGER_EXTRA_RUNS, DEFAULT_TARGET_FILE_SIZE_BYTES, NUM_LEVELS, NUM_SORTED_RUN_COMPACTION_TRIGGER,
    NUM_SORTED_RUN_STOP_TRIGGER, TARGET_FILE_SIZE,
};
pub use plan::{drop_deletes, plan_compaction, CompactionPlan, CompactionTrigger};
pub use rewrite::{interval_partition, plan_rewrite, CompactAction, RewriteSettings};
pub use strategy::{pick_full_compaction, CompactStrategy, CompactUnit, ForceUpLevel0Compaction, UniversalCompaction};
