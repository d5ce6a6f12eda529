//! The physical scan: planned splits spread over DataFusion partitions, each partition streaming its
//! splits through the storage read (merge-on-read, row filter, projection), with what Parquet row-group
//! and page-index pruning skipped as `EXPLAIN ANALYZE` metrics.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow::datatypes::SchemaRef;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, ReplaceChildrenOptions,
    SendableRecordBatchStream,
};
use dyntable_storage::datafile::PruneCounters;
use dyntable_storage::read::{BatchStream, TableRead};
use dyntable_storage::scan::PruneStats;
use dyntable_storage::stats::from_simple_stats;
use dyntable_storage::{DataSplit, Datum, Predicate, TableSchema};
use futures::{Stream, StreamExt, TryStreamExt};

use crate::filter::DisplayPredicate;

/// Scans planned splits of a dyntable table; one DataFusion partition per group of splits.
///
/// Shown by `EXPLAIN` as
/// `DyntableScan: table=t, snapshot=3, partitions=2, splits=4, files=10, pruned_files=6, ..., projection=[a, b], filter=[...]`;
/// with a filter also `parquet_prunable_files=N`: the files whose row groups and pages the filter may
/// skip (append tables, buckets with one sorted run). What they skipped is only known once the footers
/// are read, so `EXPLAIN ANALYZE` shows it as metrics: `row_groups`, `row_groups_pruned`, `pages`
/// (of the filter's columns), `pages_pruned` and `page_rows_pruned`.
pub struct DyntableScanExec {
    table: String,
    snapshot: Option<i64>,
    read: TableRead,
    groups: Vec<Vec<DataSplit>>,
    prune: PruneStats,
    buckets_pruned: usize,
    /// Whether the files' row counts are exactly the rows the scan yields (append table, no filter).
    exact_rows: bool,
    schema: Arc<TableSchema>,
    projection: Vec<String>,
    filter: Option<Predicate>,
    limit: Option<usize>,
    /// Files whose Parquet statistics the filter may prune (known at planning).
    prunable_files: usize,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl fmt::Debug for DyntableScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DyntableScanExec")
            .field("table", &self.table)
            .field("snapshot", &self.snapshot)
            .field("partitions", &self.groups.len())
            .field("splits", &self.num_splits())
            .field("prune", &self.prune)
            .field("projection", &self.projection)
            .field("filter", &self.filter)
            .field("limit", &self.limit)
            .finish()
    }
}

impl DyntableScanExec {
    /// Builds the scan. `read` must have been created with `projection` and `filter`; `schema` is its
    /// output schema. The splits are spread over at most `target_partitions` partitions.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        table: String,
        snapshot: Option<i64>,
        read: TableRead,
        splits: Vec<DataSplit>,
        prune: PruneStats,
        buckets_pruned: usize,
        exact_rows: bool,
        table_schema: Arc<TableSchema>,
        projection: Vec<String>,
        filter: Option<Predicate>,
        limit: Option<usize>,
        target_partitions: usize,
    ) -> Self {
        let schema = read.output_schema();
        // A split whose run layout cannot be read (a corrupt min key) counts as not prunable here; reading it
        // reports the error.
        let prunable_files = splits.iter().map(|s| read.prunable_files(s).unwrap_or(0)).sum();
        let groups = group_splits(splits, target_partitions);
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(groups.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        DyntableScanExec {
            table,
            snapshot,
            read,
            groups,
            prune,
            buckets_pruned,
            exact_rows,
            schema: table_schema,
            projection,
            filter,
            limit,
            prunable_files,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The snapshot read, `None` for a table without snapshots.
    pub fn snapshot(&self) -> Option<i64> {
        self.snapshot
    }

    /// What planning pruned (manifests and files).
    pub fn prune_stats(&self) -> &PruneStats {
        &self.prune
    }

    /// The predicate pushed into planning and the read.
    pub fn filter(&self) -> Option<&Predicate> {
        self.filter.as_ref()
    }

    /// The splits of each output partition.
    pub fn split_groups(&self) -> &[Vec<DataSplit>] {
        &self.groups
    }

    fn num_splits(&self) -> usize {
        self.groups.iter().map(Vec::len).sum()
    }

    fn num_files(&self) -> usize {
        self.groups.iter().flatten().map(|s| s.files.len()).sum()
    }
}

/// Spreads splits over at most `target` groups, largest first onto the least loaded group (by bytes),
/// keeping each group's splits in plan order. Always at least one (possibly empty) group.
fn group_splits(splits: Vec<DataSplit>, target: usize) -> Vec<Vec<DataSplit>> {
    let n = target.max(1).min(splits.len()).max(1);
    let size = |s: &DataSplit| s.files.iter().map(|f| f.file_size.max(0) as u64).sum::<u64>();
    let mut order: Vec<usize> = (0..splits.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(size(&splits[*i])));
    let mut load = vec![0u64; n];
    let mut assigned = vec![0usize; splits.len()];
    for i in order {
        let g = (0..n).min_by_key(|g| (load[*g], *g)).expect("at least one group");
        load[g] += size(&splits[i]);
        assigned[i] = g;
    }
    let mut groups: Vec<Vec<DataSplit>> = (0..n).map(|_| Vec::new()).collect();
    for (i, s) in splits.into_iter().enumerate() {
        groups[assigned[i]].push(s);
    }
    groups
}

impl DisplayAs for DyntableScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let snapshot = self.snapshot.map(|s| s.to_string()).unwrap_or_else(|| "none".into());
        let filter = self.filter.as_ref().map(|p| DisplayPredicate(p).to_string()).unwrap_or_default();
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(
                    f,
                    "DyntableScan: table={}, snapshot={snapshot}, partitions={}, splits={}, files={}, pruned_files={}, pruned_manifests={}, pruned_buckets={}, projection=[{}], filter=[{filter}]",
                    self.table,
                    self.groups.len(),
                    self.num_splits(),
                    self.num_files(),
                    self.prune.files_pruned,
                    self.prune.manifests_pruned,
                    self.buckets_pruned,
                    self.projection.join(", "),
                )?;
                if self.filter.is_some() {
                    write!(f, ", parquet_prunable_files={}", self.prunable_files)?;
                }
                if let Some(l) = self.limit {
                    write!(f, ", limit={l}")?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => {
                writeln!(f, "table={}", self.table)?;
                writeln!(f, "snapshot={snapshot}")?;
                writeln!(f, "splits={}", self.num_splits())?;
                writeln!(f, "files={}", self.num_files())?;
                writeln!(f, "pruned_files={}", self.prune.files_pruned)?;
                write!(f, "filter=[{filter}]")
            }
        }
    }
}

impl ExecutionPlan for DyntableScanExec {
    fn name(&self) -> &str {
        "DyntableScanExec"
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
        leaf_children(self, children)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        leaf_children(self, children)
    }

    #[allow(deprecated)]
    fn partition_statistics(&self, partition: Option<usize>) -> Result<Arc<Statistics>> {
        let splits: Vec<&DataSplit> = match partition {
            Some(p) => self.groups.get(p).map(|g| g.iter().collect()).unwrap_or_default(),
            None => self.groups.iter().flatten().collect(),
        };
        Ok(Arc::new(split_statistics(&splits, &self.schema, &self.projection, self.exact_rows && self.limit.is_none())))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let splits = self.groups.get(partition).cloned().ok_or_else(|| {
            DataFusionError::Internal(format!(
                "DyntableScanExec has {} partitions, asked for partition {partition}",
                self.groups.len()
            ))
        })?;
        let counters = Arc::new(PruneCounters::default());
        let read = self
            .read
            .clone()
            .with_default_batch_size(context.session_config().batch_size())
            .with_prune_counters(counters.clone());
        let schema: SchemaRef = self.schema();
        let counted = PruneMetricsStream::new(read.read_splits(splits), counters, &self.metrics, partition);
        let stream = counted.map_err(|e| DataFusionError::External(Box::new(e)));
        let stream = match self.limit {
            None => stream.boxed(),
            // Stop reading once the partition has produced `limit` rows (DataFusion trims the excess).
            Some(limit) => stream
                .scan(0usize, move |seen, batch| {
                    let done = *seen >= limit;
                    if let Ok(b) = &batch {
                        *seen += b.num_rows();
                    }
                    futures::future::ready((!done).then_some(batch))
                })
                .boxed(),
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// The names of the pruning metrics, in the order of [`PruneCounters::snapshot`].
const PRUNE_METRICS: [&str; 5] = ["row_groups", "row_groups_pruned", "pages", "pages_pruned", "page_rows_pruned"];

/// Passes a partition's batches through and, whenever the read makes progress, adds what the storage
/// read's pruning counted since the last time to the partition's metrics (so a file whose row groups were
/// all skipped, and so yields no batch, is counted at the next batch or at the end).
struct PruneMetricsStream {
    inner: BatchStream,
    counters: Arc<PruneCounters>,
    metrics: [Count; 5],
    reported: [u64; 5],
}

impl PruneMetricsStream {
    fn new(inner: BatchStream, counters: Arc<PruneCounters>, set: &ExecutionPlanMetricsSet, partition: usize) -> Self {
        let metrics = PRUNE_METRICS.map(|name| MetricBuilder::new(set).counter(name, partition));
        PruneMetricsStream { inner, counters, metrics, reported: [0; 5] }
    }

    fn publish(&mut self) {
        let now = self.counters.snapshot();
        for ((metric, reported), value) in self.metrics.iter().zip(self.reported.iter_mut()).zip(now) {
            metric.add(value.saturating_sub(*reported) as usize);
            *reported = value.max(*reported);
        }
    }
}

impl Stream for PruneMetricsStream {
    type Item = dyntable_storage::Result<arrow::array::RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        if polled.is_ready() {
            self.publish();
        }
        polled
    }
}

/// `with_new_children` of a leaf plan (dyntable's scans and lookups): no children, or an error.
pub(crate) fn leaf_children<P: ExecutionPlan + 'static>(
    plan: Arc<P>,
    children: Vec<Arc<dyn ExecutionPlan>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    if children.is_empty() {
        Ok(plan)
    } else {
        Err(DataFusionError::Internal(format!("{} is a leaf and takes no children", plan.name())))
    }
}

/// Statistics of the splits from manifest metadata: the row count (exact only for an unfiltered append
/// table; an upper bound for primary-key tables, whose files hold several versions of a row), the byte
/// size of the files, and per projected column the min/max bounds of the files' value statistics (every
/// row the scan yields lies within them, merged or not; they are inexact because of truncation).
fn split_statistics(
    splits: &[&DataSplit],
    schema: &TableSchema,
    projection: &[String],
    exact_rows: bool,
) -> Statistics {
    let files = splits.iter().flat_map(|s| s.files.iter());
    let rows: i64 = files.clone().map(|f| f.row_count.max(0)).sum();
    let bytes: i64 = files.clone().map(|f| f.file_size.max(0)).sum();
    let mut columns = Vec::with_capacity(projection.len());
    for name in projection {
        let mut bounds: Option<(Datum, Datum)> = None;
        let mut known = true;
        let field = schema.field(name);
        for f in files.clone() {
            let (Some(field), true) = (field, f.schema_id == schema.id) else {
                known = false;
                break;
            };
            let cols: Vec<String> = match &f.value_stats_cols {
                None => schema.fields.iter().map(|f| f.name.clone()).collect(),
                Some(c) => c.clone(),
            };
            let types: Vec<_> = cols.iter().filter_map(|c| schema.field(c).map(|f| f.data_type.clone())).collect();
            let Some(i) = cols.iter().position(|c| c == name).filter(|_| types.len() == cols.len()) else {
                known = false;
                break;
            };
            let stats = from_simple_stats(&f.value_stats, &types);
            let s = &stats[i];
            if f.row_count > 0 && s.null_count == Some(f.row_count) {
                continue; // only nulls: no bound to merge
            }
            if s.min.is_null() || s.max.is_null() {
                known = false;
                break;
            }
            let _ = field;
            bounds = Some(match bounds {
                None => (s.min.clone(), s.max.clone()),
                Some((lo, hi)) => {
                    let lo =
                        if s.min.partial_cmp_value(&lo) == Some(std::cmp::Ordering::Less) { s.min.clone() } else { lo };
                    let hi = if s.max.partial_cmp_value(&hi) == Some(std::cmp::Ordering::Greater) {
                        s.max.clone()
                    } else {
                        hi
                    };
                    (lo, hi)
                }
            });
        }
        let mut c = ColumnStatistics::new_unknown();
        if let (true, Some((lo, hi)), Some(field)) = (known, bounds, field) {
            let scalar = |d: &Datum| {
                d.to_array(&field.data_type).ok().and_then(|a| ScalarValue::try_from_array(a.as_ref(), 0).ok())
            };
            if let (Some(lo), Some(hi)) = (scalar(&lo), scalar(&hi)) {
                c = c.with_min_value(Precision::Inexact(lo)).with_max_value(Precision::Inexact(hi));
            }
        }
        columns.push(c);
    }
    let num_rows = if exact_rows { Precision::Exact(rows as usize) } else { Precision::Inexact(rows as usize) };
    Statistics { num_rows, total_byte_size: Precision::Inexact(bytes as usize), column_statistics: columns }
}
