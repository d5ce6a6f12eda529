//! The storage crate's error type, and the coarse kind that tells a caller what to do about it.

use std::fmt;

/// What a caller should do about an error: retry, fix its input, or give up on a damaged file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Another writer won; re-read and retry the commit (or give up if the conflict is real).
    Conflict,
    /// A transient storage failure; the operation may be retried.
    Unavailable,
    /// The input is wrong (schema, option, value); fix it.
    Invalid,
    /// A file is corrupt, truncated or not in a format we understand.
    Data,
    /// A table, snapshot, tag or database that does not exist.
    NotFound,
    /// A bug in dyntable.
    Internal,
}

/// Errors of the storage layer. Messages are lowercase and name the file, field or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("invalid option `{key}` = `{value}`: {reason}")]
    InvalidOption { key: String, value: String, reason: String },
    #[error("schema mismatch: {0}")]
    SchemaMismatch(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("corrupt or unreadable file. path=`{path}`: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("commit conflict: {0}")]
    Conflict(String),
    #[error("storage error while trying to {action}. path=`{path}`: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: object_store::Error,
    },
    #[error("parquet error. path=`{path}`: {source}")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("changelog error ({context}): {source}")]
    Log {
        context: String,
        #[source]
        source: Box<dyntable_log_store::Error>,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The coarse kind; exhaustive so that a new variant must say what callers do with it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid(_) | Error::InvalidOption { .. } | Error::SchemaMismatch(_) => ErrorKind::Invalid,
            Error::AlreadyExists(_) => ErrorKind::Invalid,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Corrupt { .. } | Error::Parquet { .. } => ErrorKind::Data,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Io { source, .. } => match source {
                object_store::Error::NotFound { .. } => ErrorKind::NotFound,
                object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
                    ErrorKind::Conflict
                }
                _ => ErrorKind::Unavailable,
            },
            Error::Arrow(_) => ErrorKind::Invalid,
            Error::Log { source, .. } => match source.kind() {
                dyntable_log_store::ErrorKind::Invalid => ErrorKind::Invalid,
                dyntable_log_store::ErrorKind::Data => ErrorKind::Data,
                dyntable_log_store::ErrorKind::Unavailable | dyntable_log_store::ErrorKind::Closed => {
                    ErrorKind::Unavailable
                }
                dyntable_log_store::ErrorKind::Internal => ErrorKind::Internal,
            },
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    pub fn log(context: impl fmt::Display, source: dyntable_log_store::Error) -> Self {
        Error::Log { context: context.to_string(), source: Box::new(source) }
    }

    pub fn corrupt(path: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Error::Corrupt { path: path.to_string(), reason: reason.to_string() }
    }

    pub fn invalid(msg: impl fmt::Display) -> Self {
        Error::Invalid(msg.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
