//! The point-lookup path of SQL: a filter that binds every primary-key column by `=` or `IN` (in a
//! conjunction, with any other conditions beside) is answered by looking the keys up
//! ([`dyntable_storage::lookup`]) instead of scanning their buckets. `EXPLAIN` shows it as
//! `DyntableLookup: table=t, snapshot=N, keys=K, projection=[...], filter=[...]`.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, ReplaceChildrenOptions,
    SendableRecordBatchStream,
};
use dyntable_storage::lookup::TableLookup;
use dyntable_storage::{CmpOp, Datum, Predicate, ScanFrom, TableSchema};

use crate::error::external;
use crate::filter::DisplayPredicate;

/// At most this many keys (the product of the key columns' value lists) take the lookup path; more are
/// scanned.
pub const MAX_LOOKUP_KEYS: usize = 1024;

/// The keys a predicate binds when its conjuncts fix every primary-key column by `=`, `IN`, or an `OR` of
/// `=` on that column (as DataFusion spells `IN`): a batch of the primary-key columns, one row per
/// combination. `None` when some key column is not bound, a value does not convert to the column's type, or
/// there are more than [`MAX_LOOKUP_KEYS`] combinations.
pub fn bound_keys(schema: &TableSchema, predicate: &Predicate) -> Option<RecordBatch> {
    if schema.primary_keys.is_empty() {
        return None;
    }
    let conjuncts: Vec<&Predicate> = match predicate {
        Predicate::And(ps) => ps.iter().collect(),
        p => vec![p],
    };
    let mut choices: Vec<Vec<Datum>> = Vec::new();
    for k in &schema.primary_keys {
        let field = schema.field(k)?;
        // The first conjunct that binds the column gives its values; the whole filter is checked again on the
        // rows found, so other conjuncts on it need not be intersected here.
        let values: Vec<Datum> = conjuncts.iter().find_map(|p| bound_values(p, k))?;
        let mut coerced: Vec<Datum> = Vec::new();
        for v in values {
            if v.is_null() {
                continue;
            }
            let d = v.coerce_to(&field.data_type).ok()?;
            if !coerced.contains(&d) {
                coerced.push(d);
            }
        }
        choices.push(coerced);
    }
    let combinations = choices.iter().try_fold(1usize, |acc, c| acc.checked_mul(c.len()))?;
    if combinations > MAX_LOOKUP_KEYS {
        return None;
    }
    let mut columns: Vec<Vec<Datum>> = vec![Vec::with_capacity(combinations); choices.len()];
    let mut index = vec![0usize; choices.len()];
    for _ in 0..combinations {
        for (col, (i, c)) in columns.iter_mut().zip(index.iter().zip(&choices)) {
            col.push(c[*i].clone());
        }
        for (slot, c) in index.iter_mut().zip(&choices) {
            *slot += 1;
            if *slot < c.len() {
                break;
            }
            *slot = 0;
        }
    }
    let mut arrays: Vec<(String, ArrayRef)> = Vec::with_capacity(columns.len());
    for (k, values) in schema.primary_keys.iter().zip(columns) {
        let ty = &schema.field(k)?.data_type;
        let pieces: Vec<ArrayRef> =
            values.iter().map(|v| v.to_array(ty)).collect::<dyntable_storage::Result<_>>().ok()?;
        let refs: Vec<&dyn arrow::array::Array> = pieces.iter().map(|a| a.as_ref()).collect();
        let array = if refs.is_empty() {
            arrow::array::new_empty_array(&ty.to_arrow())
        } else {
            arrow::compute::concat(&refs).ok()?
        };
        arrays.push((k.clone(), array));
    }
    RecordBatch::try_from_iter(arrays).ok()
}

/// The values a conjunct binds column `k` to, if it binds it (`k = v`, `k IN (..)`, and `k = a OR k = b`, the
/// form in which DataFusion hands over `k IN (a, b)`).
pub(crate) fn bound_values(p: &Predicate, k: &str) -> Option<Vec<Datum>> {
    match p {
        Predicate::Cmp(c, CmpOp::Eq, v) if c == k => Some(vec![v.clone()]),
        Predicate::In(c, vs) if c == k => Some(vs.clone()),
        Predicate::Or(ps) => ps
            .iter()
            .map(|p| match p {
                Predicate::Cmp(c, CmpOp::Eq, v) if c == k => Some(v.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// Looks up the keys a filter binds and yields their merged rows that pass the whole filter, projected.
pub struct DyntableLookupExec {
    table: String,
    snapshot: Option<i64>,
    lookup: TableLookup,
    keys: RecordBatch,
    schema: Arc<TableSchema>,
    projection: Vec<String>,
    filter: Predicate,
    limit: Option<usize>,
    properties: Arc<PlanProperties>,
    output: SchemaRef,
}

impl fmt::Debug for DyntableLookupExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DyntableLookupExec")
            .field("table", &self.table)
            .field("snapshot", &self.snapshot)
            .field("keys", &self.keys.num_rows())
            .field("projection", &self.projection)
            .field("filter", &self.filter)
            .finish()
    }
}

impl DyntableLookupExec {
    pub(crate) fn new(
        lookup: TableLookup,
        snapshot: Option<i64>,
        keys: RecordBatch,
        projection: Vec<String>,
        filter: Predicate,
        limit: Option<usize>,
    ) -> Result<Self> {
        let schema = lookup.table().schema().clone();
        let fields = projection
            .iter()
            .map(|n| {
                schema
                    .field(n)
                    .map(|f| f.to_arrow())
                    .ok_or_else(|| DataFusionError::Plan(format!("projection names unknown column `{n}`")))
            })
            .collect::<Result<Vec<_>>>()?;
        let output: SchemaRef = Arc::new(arrow::datatypes::Schema::new(fields));
        let properties = PlanProperties::new(
            EquivalenceProperties::new(output.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Ok(DyntableLookupExec {
            table: lookup.table().name().to_string(),
            snapshot,
            lookup,
            keys,
            schema,
            projection,
            filter,
            limit,
            properties: Arc::new(properties),
            output,
        })
    }

    /// The keys looked up.
    pub fn keys(&self) -> &RecordBatch {
        &self.keys
    }

    pub fn snapshot(&self) -> Option<i64> {
        self.snapshot
    }

    async fn run(self: Arc<Self>) -> dyntable_storage::Result<RecordBatch> {
        let Some(snapshot) = self.snapshot else { return Ok(RecordBatch::new_empty(self.output.clone())) };
        let found = self.lookup.lookup(&self.keys, &ScanFrom::Snapshot(snapshot)).await?;
        let mask = self.filter.evaluate(&found.rows, &self.schema)?;
        let rows = arrow::compute::filter_record_batch(&found.rows, &mask)?;
        let rows = match self.limit {
            Some(l) if rows.num_rows() > l => rows.slice(0, l),
            _ => rows,
        };
        let columns: Vec<ArrayRef> = self
            .projection
            .iter()
            .map(|n| {
                rows.column_by_name(n)
                    .cloned()
                    .ok_or_else(|| dyntable_storage::Error::Internal(format!("lookup rows lack column `{n}`")))
            })
            .collect::<dyntable_storage::Result<_>>()?;
        Ok(RecordBatch::try_new_with_options(
            self.output.clone(),
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows.num_rows())),
        )?)
    }
}

impl DisplayAs for DyntableLookupExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let snapshot = self.snapshot.map(|s| s.to_string()).unwrap_or_else(|| "none".into());
        let filter = DisplayPredicate(&self.filter).to_string();
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(
                    f,
                    "DyntableLookup: table={}, snapshot={snapshot}, keys={}, projection=[{}], filter=[{filter}]",
                    self.table,
                    self.keys.num_rows(),
                    self.projection.join(", "),
                )?;
                if let Some(l) = self.limit {
                    write!(f, ", limit={l}")?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => {
                writeln!(f, "table={}", self.table)?;
                writeln!(f, "snapshot={snapshot}")?;
                writeln!(f, "keys={}", self.keys.num_rows())?;
                write!(f, "filter=[{filter}]")
            }
        }
    }
}

impl ExecutionPlan for DyntableLookupExec {
    fn name(&self) -> &str {
        "DyntableLookupExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        crate::exec::leaf_children(self, children)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        crate::exec::leaf_children(self, children)
    }

    fn execute(&self, partition: usize, _context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "DyntableLookupExec has 1 partition, asked for partition {partition}"
            )));
        }
        let this = Arc::new(DyntableLookupExec {
            table: self.table.clone(),
            snapshot: self.snapshot,
            lookup: self.lookup.clone(),
            keys: self.keys.clone(),
            schema: self.schema.clone(),
            projection: self.projection.clone(),
            filter: self.filter.clone(),
            limit: self.limit,
            properties: self.properties.clone(),
            output: self.output.clone(),
        });
        let stream = futures::stream::once(async move { this.run().await.map_err(external) });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.output.clone(), stream)))
    }
}
