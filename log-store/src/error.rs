//! The log store's one error enum and the coarse [`ErrorKind`] that tells a caller what to do about an error.
//!
//! Variants carry the file and byte position they are about, so that a corrupt or missing segment can be found
//! on disk from the message alone.

use std::io;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the log store reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system call on a log file or directory failed.
    #[error("log file operation failed. action=`{action}`, path=`{}`", path.display())]
    Io {
        /// What the log was doing, in the present tense (`"sync segment"`).
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A segment holds bytes that are not a valid batch where a valid batch must be: a bad frame in a sealed
    /// segment, a bad frame in the last segment that valid data follows (so it is not a torn write), or a bad
    /// frame below the durable watermark (for a follower). For a [`RemoteLog`](crate::RemoteLog), `segment` is
    /// the object path.
    #[error("segment is corrupt. segment=`{}`, position=`{position}`, reason=`{reason}`", segment.display())]
    Corrupt {
        segment: PathBuf,
        /// Byte position of the bad frame inside `segment`.
        position: u64,
        reason: String,
    },

    /// The base offsets of two neighbouring segments leave a gap: a segment file between them is missing.
    #[error(
        "log is missing a segment. after=`{}`, expected_base_offset=`{expected_base_offset}`, \
         found_base_offset=`{found_base_offset}`",
        after.display()
    )]
    MissingSegment {
        /// The segment that ends where the missing one should begin.
        after: PathBuf,
        /// The base offset the next segment should have had.
        expected_base_offset: u64,
        /// The base offset the next segment on disk actually has.
        found_base_offset: u64,
    },

    /// A read asked for an offset past the end of the log.
    #[error("offset is out of range. requested=`{requested}`, start=`{start}`, end=`{end}`")]
    OffsetOutOfRange { requested: u64, start: u64, end: u64 },

    /// A read asked for an offset whose segment retention has deleted.
    #[error("offset was deleted by retention. requested=`{requested}`, log_start=`{log_start}`")]
    OffsetDeleted { requested: u64, log_start: u64 },

    /// An earlier write or fsync failed, so the durable state of the active segment is unknown; the log refuses
    /// all further appends until it is reopened (recovery then finds the last valid batch).
    #[error("log is poisoned by an earlier failed write or fsync and must be reopened. reason=`{reason}`")]
    Poisoned { reason: String },

    /// Another `Log` (in this or another process) holds the directory's lock file.
    #[error("log directory is locked by another writer. path=`{}`", path.display())]
    Locked { path: PathBuf },

    /// An object-store request failed (uploading sealed segments or reading them back).
    #[error("object store operation failed. action=`{action}`, path=`{path}`")]
    ObjectStore {
        /// What the log was doing, in the present tense (`"put object"`).
        action: &'static str,
        /// The object path (or prefix) the request was about.
        path: String,
        #[source]
        source: object_store::Error,
    },

    /// The caller passed an argument or option the log cannot accept.
    #[error("invalid argument. reason=`{reason}`")]
    InvalidArgument { reason: String },

    /// The `Log` was dropped while a tailer or waiter was still waiting for data.
    #[error("log is closed")]
    Closed,

    /// A bug: an invariant of this crate does not hold.
    #[error("log store internal error. reason=`{reason}`")]
    Internal { reason: String },
}

/// What a caller should do about an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Fix the input (bad argument, offset out of range or already deleted).
    Invalid,
    /// A file on disk is corrupt or missing; an operator has to look.
    Data,
    /// Retry later or elsewhere (I/O failure, the directory is locked, the log must be reopened).
    Unavailable,
    /// The log is gone; stop using this handle.
    Closed,
    /// A bug in the log store.
    Internal,
}

impl Error {
    /// The coarse kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Unavailable,
            Error::ObjectStore { .. } => ErrorKind::Unavailable,
            Error::Corrupt { .. } => ErrorKind::Data,
            Error::MissingSegment { .. } => ErrorKind::Data,
            Error::OffsetOutOfRange { .. } => ErrorKind::Invalid,
            Error::OffsetDeleted { .. } => ErrorKind::Invalid,
            Error::Poisoned { .. } => ErrorKind::Unavailable,
            Error::Locked { .. } => ErrorKind::Unavailable,
            Error::InvalidArgument { .. } => ErrorKind::Invalid,
            Error::Closed => ErrorKind::Closed,
            Error::Internal { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io { action, path: path.into(), source }
    }

    pub(crate) fn object_store(
        action: &'static str,
        path: &object_store::path::Path,
        source: object_store::Error,
    ) -> Error {
        Error::ObjectStore { action, path: path.to_string(), source }
    }
}
