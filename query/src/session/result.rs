//! What a statement returns: [`StatementResult`] and its [`StatementKind`].

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::error::Result;

/// What a statement was: a query with rows, or a command (DDL, DML) with an optional row count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    Query,
    Command,
}

/// The result of one statement.
#[derive(Debug, Clone)]
pub struct StatementResult {
    pub kind: StatementKind,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// Rows written by INSERT / DELETE / UPDATE.
    pub affected_rows: Option<u64>,
}

impl StatementResult {
    pub(super) fn command(affected_rows: Option<u64>) -> Self {
        StatementResult {
            kind: StatementKind::Command,
            schema: Arc::new(Schema::empty()),
            batches: Vec::new(),
            affected_rows,
        }
    }

    pub(super) fn rows(columns: Vec<(&str, ArrayRef)>) -> Result<Self> {
        let schema = Arc::new(Schema::new(
            columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect())?;
        Ok(StatementResult { kind: StatementKind::Query, schema, batches: vec![batch], affected_rows: None })
    }

    /// The number of result rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}
