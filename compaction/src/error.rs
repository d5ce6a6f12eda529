//! The compaction crate's error type, and the coarse kind that tells a caller what to do about it.
//!
//! The policy is pure, so it can only fail two ways: a table option it cannot accept (the user fixes the
//! option), or a set of data files that breaks the LSM shape (a damaged or foreign table, or a bug in the
//! caller that applied a compaction result).

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is wrong (a table option); fix it.
    Invalid,
    /// The data files listed for a bucket do not form a valid LSM tree; the table metadata is damaged.
    Data,
    /// A caller handed back a compaction result that does not match the levels it was planned on: a bug.
    Internal,
}

/// Errors of the compaction policy. Messages are lowercase with the variables last.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactionError {
    #[error("table option has an invalid value. option=`{option}`, value=`{value}`, allowed=`{allowed}`")]
    InvalidOption { option: String, value: String, allowed: String },

    #[error("an lsm tree needs at least two levels. num_levels=`{num_levels}`")]
    TooFewLevels { num_levels: u32 },

    #[error(
        "two data files of one level overlap in key range. level=`{level}`, file=`{file}`, other_file=`{other_file}`"
    )]
    OverlappingFiles { level: u32, file: String, other_file: String },

    #[error("a data file is listed twice in one bucket. file=`{file}`")]
    DuplicateFile { file: String },

    #[error("a data file has a level beyond the max level. file=`{file}`, level=`{level}`, max_level=`{max_level}`")]
    LevelOutOfRange { file: String, level: u32, max_level: u32 },

    #[error("a compaction removes a data file that is not in the levels. file=`{file}`, level=`{level}`")]
    UnknownFile { file: String, level: u32 },

    #[error("writes stall above the stop trigger but the picker chose nothing. sorted_runs=`{sorted_runs}`, stop_trigger=`{stop_trigger}`")]
    StallWithoutCompaction { sorted_runs: usize, stop_trigger: u32 },
}

impl CompactionError {
    /// The coarse kind; exhaustive so that a new variant must say what callers do with it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CompactionError::InvalidOption { .. } | CompactionError::TooFewLevels { .. } => ErrorKind::Invalid,
            CompactionError::OverlappingFiles { .. } | CompactionError::DuplicateFile { .. } => ErrorKind::Data,
            CompactionError::LevelOutOfRange { .. }
            | CompactionError::UnknownFile { .. }
            | CompactionError::StallWithoutCompaction { .. } => ErrorKind::Internal,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = CompactionError> = std::result::Result<T, E>;
