//! What a point lookup returns.

use arrow::array::RecordBatch;

use crate::schema::TableSchema;

/// What a lookup found: the merged rows of the keys that exist, and for every key asked where its row is.
#[derive(Debug, Clone)]
pub struct LookupResult {
    /// One row per key found, in the table's columns, in the order the keys were asked.
    pub rows: RecordBatch,
    /// Per key asked (in order), the index of its row in `rows`; `None` when the key has no row (never
    /// written, deleted, or retracted by the merge engine).
    pub found: Vec<Option<usize>>,
}

impl LookupResult {
    /// The row of key `i` as a one-row batch, or `None`.
    pub fn row(&self, i: usize) -> Option<RecordBatch> {
        self.found.get(i).copied().flatten().map(|r| self.rows.slice(r, 1))
    }

    /// Keys that have a row.
    pub fn found_count(&self) -> usize {
        self.found.iter().filter(|f| f.is_some()).count()
    }

    pub(super) fn empty(schema: &TableSchema, keys: usize) -> Self {
        LookupResult { rows: RecordBatch::new_empty(schema.arrow_schema()), found: vec![None; keys] }
    }
}
