//! dyntable-query: SQL over dyntable tables with [DataFusion](https://datafusion.apache.org).
//!
//! Two entry points:
//!
//! - [`DyntableSession`] ([`session`]): SQL end to end over a warehouse in the Flink / Paimon dialect:
//!   DDL (`CREATE TABLE ... PRIMARY KEY (..) NOT ENFORCED PARTITIONED BY (..) WITH (..)`), DML
//!   (`INSERT INTO/OVERWRITE`, `DELETE`, `UPDATE` on primary-key tables), `ALTER TABLE SET/RESET`, time
//!   travel (`FOR SYSTEM_TIME AS OF`, `VERSION AS OF`, `/*+ OPTIONS('scan.snapshot-id' = '3') */`),
//!   system tables (`t$snapshots`, `t$files`, `t$audit_log`, ... in [`system`]) and tag procedures.
//!   The statement reference is in the [`session`] module docs; [`shell`] is `dyntable sql`.
//! - [`DyntableTableProvider`]: one table as a DataFusion `TableProvider`, for embedding.
//!
//! The `.slt` files in `tests/slt/` pin DDL, DML, merge-on-read results, pruning (`EXPLAIN`), time
//! travel and system tables.
//!
//! [`DyntableTableProvider`] exposes a [`FileStoreTable`] as a DataFusion table at a snapshot chosen by
//! [`ScanFrom`] (latest by default, or a snapshot id, tag or timestamp). [`register_table`] adds one to a
//! [`SessionContext`]; [`sql_to_batches`] runs a query and collects the result.
//!
//! # What is pushed down
//!
//! - **Projection**: only the selected columns (plus what the filter needs) are read from the Parquet
//!   files; primary-key tables always read their key and system columns to merge.
//! - **Filters**: conjuncts of the form `col <op> literal` / `literal <op> col` (`=`, `<>`, `<`, `<=`, `>`,
//!   `>=`), `col [NOT] IN (literals)`, `col [NOT] BETWEEN lit AND lit`, `col IS [NOT] NULL`, and AND / OR
//!   of those, when the literal has the column's own type (see [`filter`]). Each is translated to a
//!   storage [`Predicate`](dyntable_storage::Predicate) and used twice:
//!   - to **prune** at planning time: manifests and files whose partition values (and, for append
//!     tables, value statistics; for primary-key tables, key statistics) prove no row can match are
//!     skipped. Pruning is conservative and never drops a matching row;
//!   - to **filter rows** in the read, after merge-on-read, so a primary-key table filters the latest
//!     version of each row (never an older version that a filter would resurrect).
//! - **Row groups and pages**: where no other version of a row can sit in another file (append tables,
//!   primary-key buckets that are one sorted run), the filter also skips Parquet row groups by their
//!   column-chunk statistics and pages by the page index (column and offset indexes, which dyntable's
//!   writer always writes); the skipped rows provably cannot match, and the remaining rows are still
//!   filtered. `EXPLAIN` shows how many files qualify (`parquet_prunable_files=N`); `EXPLAIN ANALYZE`
//!   shows what was skipped (`row_groups`, `row_groups_pruned`, `pages`, `pages_pruned`,
//!   `page_rows_pruned`), which is only known once the files' footers are read.
//! - **Buckets**: when the filter fixes every bucket-key column (the primary key without partition
//!   keys, or `bucket-key`) by `=` / `IN`, only the splits of the buckets those values hash to are read
//!   (`pruned_buckets=N` in `EXPLAIN`).
//! - **Statistics**: row counts (exact for an unfiltered append table, so `count(*)` is answered from
//!   the manifests) and inexact min/max per column from the files' value statistics.
//! - **Limit**: each partition stops reading once it has produced `limit` rows (DataFusion only passes
//!   a limit when no filter remains above the scan).
//!
//! # Exact vs inexact
//!
//! The storage row filter is exact for every translated filter (same Arrow comparison kernels, SQL null
//! semantics: a comparison with NULL does not match). By default the provider still answers
//! [`Inexact`](datafusion::logical_expr::TableProviderFilterPushDown::Inexact), so DataFusion keeps its
//! own `FilterExec` above the scan and re-checks the (already filtered) rows; call
//! [`DyntableTableProvider::with_exact_filters`] to answer `Exact` and drop that re-check. Filters that
//! cannot be translated (functions, casts, `LIKE`, `NOT`, comparisons between columns...) are
//! `Unsupported` and evaluated by DataFusion only.
//!
//! # Execution
//!
//! A scan plans the snapshot's splits (one per partition and bucket) and spreads them over at most
//! `target_partitions` DataFusion partitions (largest first, by bytes); each partition streams its
//! splits one after another through the storage read. Storage errors surface as
//! [`DataFusionError::External`](datafusion::error::DataFusionError::External). `EXPLAIN` shows the scan
//! as `DyntableScan: table=..., snapshot=N, partitions=P, splits=S, files=F, pruned_files=X, pruned_manifests=M,
//! pruned_buckets=B, projection=[...], filter=[...]`. Primary-key buckets with one sorted run are read
//! without merging; others are merged by the storage read (a streaming k-way merge, one batch per run in
//! memory).

pub mod catalog;
mod error;
pub mod exec;
pub mod filter;
pub mod lexer;
pub mod lookup;
pub mod provider;
pub mod session;
pub mod shell;
pub mod system;

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use dyntable_storage::{FileStoreTable, ScanFrom};

pub use exec::DyntableScanExec;
pub use filter::{expr_to_predicate, filters_to_predicate, DisplayPredicate};
pub use lookup::DyntableLookupExec;
pub use provider::DyntableTableProvider;
pub use session::{DyntableSession, StatementKind, StatementResult};

/// Registers `table` (latest snapshot) in `ctx` as `name`.
///
/// `name` is parsed as a DataFusion table reference: `t` or a quoted `"db.t"`; an unquoted `db.t` names
/// table `t` in schema `db`, which must exist in the context's catalog.
pub fn register_table(ctx: &SessionContext, name: &str, table: FileStoreTable) -> Result<()> {
    register_table_at(ctx, name, table, ScanFrom::Latest)
}

/// Registers `table` read at `from` (snapshot id, tag, timestamp) in `ctx` as `name`.
pub fn register_table_at(ctx: &SessionContext, name: &str, table: FileStoreTable, from: ScanFrom) -> Result<()> {
    ctx.register_table(name, Arc::new(DyntableTableProvider::new(table).with_scan_from(from)))?;
    Ok(())
}

/// Runs `sql` in `ctx` and collects the result batches.
pub async fn sql_to_batches(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    ctx.sql(sql).await?.collect().await
}
