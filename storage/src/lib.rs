//! dyntable-storage: dyntable's table store in the Apache Paimon on-disk format.
//!
//! A tour, in the order data flows:
//! - [`types`], [`schema`], [`options`]: what a table is (`schema/schema-N`) and how it is configured.
//! - [`write`]: Arrow batches in, routed to (partition, bucket) by Paimon's bucket hash ([`binary_row`]),
//!   buffered, sorted and merged, flushed as Parquet data files ([`datafile`]) with statistics ([`stats`]).
//! - [`commit`]: the files become manifests ([`manifest`], Avro) and a snapshot ([`snapshot`]), published
//!   by conditional create so concurrent writers never both win.
//! - [`scan`] and [`read`]: a snapshot's live files, pruned by a [`predicate`], read back with merge-on-read.
//! - [`catalog`]: warehouses (path, `file://`, `memory://`, `s3://`), databases and tables.
//! - [`table`]: the handle that ties them together over any `object_store` ([`io`]).
//!
//! The format facts this crate follows are in `docs/paimon-format.md` of the project.

pub mod binary_row;
pub mod bucket;
pub mod catalog;
pub mod changelog;
pub mod commit;
pub mod compact;
pub mod consumer;
pub mod datafile;
pub mod datum;
pub mod error;
pub mod io;
pub mod manifest;
pub mod merge;
pub mod options;
pub mod predicate;
pub mod producer;
pub mod read;
pub mod row_kind;
pub mod scan;
pub mod schema;
pub mod seams;
pub mod snapshot;
pub mod stats;
pub mod stream;
pub mod table;
pub mod types;
pub mod write;

pub use bucket::BucketKey;
pub use catalog::{Catalog, Identifier, TableSpec};
pub use commit::{OverwriteScope, TableCommit};
pub use datum::Datum;
pub use error::{Error, ErrorKind, Result};
pub use io::FileIO;
pub use predicate::{CmpOp, Predicate};
pub use row_kind::RowKind;
pub use scan::{DataSplit, ScanFrom, ScanPlan};
pub use schema::TableSchema;
pub use snapshot::{CommitKind, Snapshot};
pub use table::{FileStoreTable, TableWriter, WriteMetrics};
pub use types::{DataField, DataType, TypeKind};
