//! dyntable: a lakehouse dynamic-table store in the Apache Paimon format.
//!
//! This crate is the facade users embed: a [`Catalog`] over a warehouse on any object store, table
//! handles from [`dyntable_storage`], and text conversions for the `dyntable` CLI. The format itself lives
//! in `dyntable-storage`; the changelog in `dyntable-log-store`; the compaction policy in
//! `dyntable-compaction`; SQL in `dyntable-query`.
//!
//! ```no_run
//! # async fn demo() -> dyntable_storage::Result<()> {
//! use dyntable::{Catalog, Identifier, TableSpec};
//! use dyntable_storage::ScanFrom;
//! let catalog = Catalog::open("/tmp/warehouse", true)?;
//! let spec = TableSpec { schema: "id BIGINT NOT NULL, name STRING".into(), primary_key: vec!["id".into()], ..Default::default() };
//! let table = catalog.create_table(&Identifier::parse("db.people")?, &spec, true).await?;
//! let mut writer = table.writer().await?;
//! // writer.write(&record_batch).await?; writer.commit().await?;
//! let batches = table.scan_collect(&ScanFrom::Latest, None, None).await?;
//! # Ok(()) }
//! ```

pub mod convert;
pub mod demo;

pub use dyntable_storage as storage;
pub use dyntable_storage::catalog;
pub use dyntable_storage::{Catalog, Identifier, TableSpec};
