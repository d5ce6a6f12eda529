//! dyntable-storage: dyntable's table store in the Apache Paimon on-disk format.
//!
//! A tour, in the order data flows:
//! - [`types`], [`schema`], [`options`]: what a table is (`schema/schema-N`) and how it is configured.
//! - [`mod@write`]: Arrow batches in, routed to (partition, bucket) by Paimon's bucket hash ([`binary_row`]),
//!   buffered, sorted and merged (the merge engines), flushed as Parquet data files ([`datafile`]) with
//!   statistics ([`stats`]).
//! - `commit`: the files become manifests ([`manifest`], Avro) and a snapshot, published by conditional create
//!   so concurrent writers never both win ([`TableCommit`], [`Snapshot`]).
//! - [`scan`] and [`read`]: a snapshot's live files, pruned by a [`Predicate`], read back with merge-on-read.
//! - [`expire`]: snapshot expiration (Paimon's retention options), run after every commit of a [`TableWriter`];
//!   [`partition_expire`]: partition expiration (`partition.expiration-time`) and dropping partitions;
//!   [`rollback`] (back to a snapshot or tag) and [`orphan`] (unreferenced files): administrative maintenance.
//! - [`compact`]: the compaction job and its scheduler; [`changelog`], [`consumer`] and [`stream`]: the table
//!   as a stream.
//! - [`catalog`]: warehouses (path, `file://`, `memory://`, `s3://`), databases and tables.
//! - [`FileStoreTable`] and [`TableWriter`]: the handles that tie them together over any `object_store` ([`io`]),
//!   reading time and ids through [`seams`].
//!
//! **API boundary.** The modules other crates (query, the CLI, the benchmarks, tests) use are `pub`; `bucket`,
//! `commit`, `error`, `merge`, `predicate`, `references`, `row_kind`, `snapshot` and `table` are private, and the
//! types users name from them are re-exported here.
//!
//! The format facts this crate follows are in `docs/paimon-format.md` of the project.

pub mod binary_row;
mod bucket;
pub mod catalog;
pub mod changelog;
mod commit;
pub mod compact;
pub mod consumer;
pub mod datafile;
pub mod datum;
pub mod defaults;
mod error;
pub mod expire;
pub mod incremental;
pub mod io;
pub mod long_lived;
pub mod lookup;
pub mod manifest;
mod merge;
#[cfg(test)]
mod option_effects_tests;
pub mod options;
pub mod orphan;
pub mod partition_expire;
mod predicate;
pub mod producer;
pub mod read;
mod references;
pub mod rollback;
mod row_kind;
pub mod scan;
pub mod schema;
pub mod schema_change;
#[cfg(test)]
mod schema_evolution_tests;
pub mod seams;
mod snapshot;
pub mod stats;
pub mod stream;
mod table;
pub mod types;
pub mod write;

pub use bucket::BucketKey;
pub use catalog::{Catalog, Identifier, TableSpec};
pub use commit::{OverwriteScope, TableCommit};
pub use datum::Datum;
pub use error::{Error, ErrorKind, Result};
pub use expire::{ExpireConfig, ExpireReport, ExpireSnapshots};
pub use incremental::ChangeScanMode;
pub use io::FileIO;
pub use lookup::{BucketLookup, LookupCache, LookupResult, TableLookup};
pub use orphan::{OrphanFilesClean, OrphanReport};
pub use partition_expire::{PartitionExpireReport, PartitionSpec};
pub use predicate::{CmpOp, Predicate};
pub use rollback::{ConsumerReset, Rollback, RollbackReport, RollbackTarget};
pub use row_kind::RowKind;
pub use scan::{DataSplit, ScanFrom, ScanPlan};
pub use schema::TableSchema;
pub use schema_change::{ColumnPosition, SchemaChange};
pub use snapshot::{CommitKind, Snapshot, SnapshotManager};
pub use table::{FileStoreTable, LogRecovery, TableWriter, WriteMetrics};
pub use types::{DataField, DataType, TypeKind};
