//! Table options: Paimon's option names, their defaults, and validation of what dyntable supports.
//!
//! Options live in the schema file as a string map. Options dyntable does not know are rejected when a
//! table is created (a typo must not silently do nothing), but tolerated when a table written by another
//! Paimon implementation is opened.
//!
//! - [`core_options`]: [`CoreOptions`], the options every part of the engine reads.
//! - [`log`]: [`LogConfig`], the embedded changelog's `log.*` options.
//! - [`merge`]: [`MergeOptions`], the merge engine's options, checked against the table's columns.
//! - [`partition`]: [`PartitionExpireOptions`], the `partition.*` expiration options and the partition time.
//! - [`parse`]: parsers of option values the groups share.

pub mod core_options;
pub mod log;
pub mod merge;
pub mod parse;
pub mod partition;

pub use core_options::*;
pub use log::{LogConfig, LogConsistency};
pub use merge::{AggFn, MergeOptions, AGG_FUNCTIONS};
pub use parse::{parse_duration, parse_memory_size};
pub use partition::{PartitionExpireOptions, PartitionTimeExtractor, TimestampFormatter};
