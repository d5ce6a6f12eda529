//! [`DyntableTableProvider`]: a dyntable table as a DataFusion table.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use dyntable_storage::{FileStoreTable, ScanFrom};

use crate::exec::DyntableScanExec;
use crate::filter::{expr_to_predicate, filters_to_predicate};

/// A dyntable [`FileStoreTable`] read at a [`ScanFrom`] (the latest snapshot unless told otherwise).
///
/// The snapshot is resolved when a query is planned, so with [`ScanFrom::Latest`] every query sees the
/// newest commit. The schema is the table handle's schema (the one it was opened with).
#[derive(Clone)]
pub struct DyntableTableProvider {
    table: FileStoreTable,
    from: ScanFrom,
    schema: SchemaRef,
    exact_filters: bool,
}

impl fmt::Debug for DyntableTableProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DyntableTableProvider")
            .field("table", &self.table.name())
            .field("from", &self.from)
            .field("exact_filters", &self.exact_filters)
            .finish()
    }
}

impl DyntableTableProvider {
    /// Reads the latest snapshot.
    pub fn new(table: FileStoreTable) -> Self {
        let schema = table.schema().arrow_schema();
        DyntableTableProvider { table, from: ScanFrom::Latest, schema, exact_filters: false }
    }

    /// Reads the snapshot `from` selects: an id, a tag, or the latest at or before a timestamp.
    pub fn with_scan_from(mut self, from: ScanFrom) -> Self {
        self.from = from;
        self
    }

    /// Reads snapshot `id`.
    pub fn at_snapshot(self, id: i64) -> Self {
        self.with_scan_from(ScanFrom::Snapshot(id))
    }

    /// Reads the snapshot tagged `tag`.
    pub fn at_tag(self, tag: impl Into<String>) -> Self {
        self.with_scan_from(ScanFrom::Tag(tag.into()))
    }

    /// Reads the latest snapshot committed at or before `epoch_millis`.
    pub fn at_timestamp(self, epoch_millis: i64) -> Self {
        self.with_scan_from(ScanFrom::Timestamp(epoch_millis))
    }

    /// Answers [`TableProviderFilterPushDown::Exact`] instead of `Inexact` for translated filters, so
    /// DataFusion drops its own filter above the scan. The storage read evaluates translated filters
    /// exactly on the merged rows, so this is correct; it is off by default as a belt-and-braces choice
    /// (the cost is DataFusion re-checking rows that already passed).
    pub fn with_exact_filters(mut self, exact: bool) -> Self {
        self.exact_filters = exact;
        self
    }

    pub fn table(&self) -> &FileStoreTable {
        &self.table
    }

    pub fn scan_from(&self) -> &ScanFrom {
        &self.from
    }
}

fn external(e: dyntable_storage::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[async_trait]
impl TableProvider for DyntableTableProvider {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        let schema = self.table.schema();
        Ok(filters
            .iter()
            .map(|f| match expr_to_predicate(f, schema) {
                Some(_) if self.exact_filters => TableProviderFilterPushDown::Exact,
                Some(_) => TableProviderFilterPushDown::Inexact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(&self, state: &dyn Session, projection: Option<&Vec<usize>>, filters: &[Expr], limit: Option<usize>) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.table.schema();
        let names: Vec<String> = match projection {
            Some(indices) => indices
                .iter()
                .map(|i| {
                    schema
                        .fields
                        .get(*i)
                        .map(|f| f.name.clone())
                        .ok_or_else(|| DataFusionError::Plan(format!("projection index {i} out of range for table `{}`", self.table.name())))
                })
                .collect::<Result<_>>()?,
            None => schema.fields.iter().map(|f| f.name.clone()).collect(),
        };
        let predicate = filters_to_predicate(filters, schema);
        let read = self.table.new_read(Some(&names), predicate.clone()).map_err(external)?;
        let plan = self.table.plan(&self.from, predicate.as_ref()).await.map_err(external)?;
        Ok(Arc::new(DyntableScanExec::new(
            self.table.name().to_string(),
            plan.snapshot.as_ref().map(|s| s.id),
            read,
            plan.splits,
            plan.prune,
            names,
            predicate,
            limit,
            state.config().target_partitions(),
        )))
    }
}
