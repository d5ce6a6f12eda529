//! Errors as DataFusion sees them: storage errors wrapped for DataFusion, and the session's plan errors.

use datafusion::error::DataFusionError;
use dyntable_storage::Error as StorageError;

/// Wraps a storage error for DataFusion.
pub fn external(e: StorageError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// A planning error: the statement is wrong (unknown name, bad syntax, unsupported construct).
pub(crate) fn plan_err(msg: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(msg.into())
}

/// A statement dyntable does not handle; the message lists what it does.
pub(crate) fn unsupported(statement: &str) -> DataFusionError {
    let head: String = statement.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    DataFusionError::NotImplemented(format!(
        "unsupported statement `{head} ...`; dyntable SQL supports SELECT/WITH/VALUES/EXPLAIN, CREATE DATABASE, CREATE TABLE, DROP TABLE, SHOW DATABASES/TABLES/CREATE TABLE, DESCRIBE, USE, INSERT INTO/OVERWRITE, DELETE, UPDATE, ALTER TABLE SET/RESET and CALL sys.create_tag/delete_tag"
    ))
}
