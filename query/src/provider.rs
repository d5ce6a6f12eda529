//! [`DyntableTableProvider`]: a dyntable table as a DataFusion table.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use std::collections::BTreeSet;

use dyntable_storage::binary_row::{bucket_of, encode_row};
use dyntable_storage::datafile::MetadataCache;
use dyntable_storage::lookup::TableLookup;
use dyntable_storage::manifest::ManifestCache;
use dyntable_storage::{DataSplit, Datum, FileStoreTable, Predicate, ScanFrom, TableSchema};

use crate::error::external;
use crate::exec::DyntableScanExec;
use crate::filter::{expr_to_predicate, filters_to_predicate};
use crate::lookup::{bound_keys, bound_values, DyntableLookupExec};

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
    /// Parquet footers and page indexes of the data files this provider's scans opened.
    metadata_cache: Arc<MetadataCache>,
    /// Point lookups (filters binding the whole primary key) through this handle and its page cache; `None`:
    /// each query makes its own, with a cache sized by the table's `lookup.cache-max-memory-size`.
    lookup: Option<TableLookup>,
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
        let metadata_cache = Arc::new(MetadataCache::new(MetadataCache::DEFAULT_CAPACITY_BYTES));
        // Every query plans a scan: keep the (immutable) manifests decoded between them.
        let table = table.with_manifest_cache(Arc::new(ManifestCache::new(ManifestCache::DEFAULT_CAPACITY_RECORDS)));
        DyntableTableProvider {
            table,
            from: ScanFrom::Latest,
            schema,
            exact_filters: false,
            metadata_cache,
            lookup: None,
        }
    }

    /// Shares a manifest cache (e.g. one per SQL session) instead of this provider's own.
    pub fn with_manifest_cache(mut self, cache: Arc<ManifestCache>) -> Self {
        self.table = self.table.with_manifest_cache(cache);
        self
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

    /// Shares `cache` for the data files' Parquet metadata (a session shares one across its providers, which
    /// it makes per query). Data files are immutable, so a cached footer never goes stale.
    pub fn with_metadata_cache(mut self, cache: Arc<MetadataCache>) -> Self {
        self.metadata_cache = cache;
        self
    }

    /// Answers point lookups through `lookup` (a session keeps one per table across its providers, so its
    /// page cache and the bucket layouts of recent snapshots outlive a query). It must be of this table.
    pub fn with_lookup(mut self, lookup: TableLookup) -> Self {
        self.lookup = Some(lookup);
        self
    }

    pub fn metadata_cache(&self) -> &Arc<MetadataCache> {
        &self.metadata_cache
    }

    pub fn table(&self) -> &FileStoreTable {
        &self.table
    }

    pub fn scan_from(&self) -> &ScanFrom {
        &self.from
    }
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

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.table.schema();
        let names: Vec<String> = match projection {
            Some(indices) => indices
                .iter()
                .map(|i| {
                    schema.fields.get(*i).map(|f| f.name.clone()).ok_or_else(|| {
                        DataFusionError::Plan(format!(
                            "projection index {i} out of range for table `{}`",
                            self.table.name()
                        ))
                    })
                })
                .collect::<Result<_>>()?,
            None => schema.fields.iter().map(|f| f.name.clone()).collect(),
        };
        let predicate = filters_to_predicate(filters, schema);
        // A filter binding the whole primary key: look the keys up instead of scanning their buckets.
        if let Some((p, keys)) = predicate.as_ref().and_then(|p| Some((p, bound_keys(schema, p)?))) {
            let snapshot = self.table.resolve(&self.from).await.map_err(external)?.map(|s| s.id);
            let lookup = match &self.lookup {
                Some(l) => l.clone(),
                None => {
                    TableLookup::new(&self.table).map_err(external)?.with_metadata_cache(self.metadata_cache.clone())
                }
            };
            return Ok(Arc::new(DyntableLookupExec::new(lookup, snapshot, keys, names, p.clone(), limit)?));
        }
        let read = self
            .table
            .new_read(Some(&names), predicate.clone())
            .map_err(external)?
            .with_metadata_cache(self.metadata_cache.clone());
        let mut plan = self.table.plan(&self.from, predicate.as_ref()).await.map_err(external)?;
        let buckets_pruned = match &predicate {
            Some(p) => prune_buckets(schema, p, &mut plan.splits).map_err(external)?,
            None => (0, 0),
        };
        plan.prune.files_pruned += buckets_pruned.1;
        let exact_rows = schema.primary_keys.is_empty() && predicate.is_none() && filters.is_empty();
        Ok(Arc::new(DyntableScanExec::new(
            self.table.name().to_string(),
            plan.snapshot.as_ref().map(|s| s.id),
            read,
            plan.splits,
            plan.prune,
            buckets_pruned.0,
            exact_rows,
            schema.clone(),
            names,
            predicate,
            limit,
            state.config().target_partitions(),
        )))
    }
}

/// The buckets a predicate can match when it fixes every bucket-key column by `=` or `IN` (at most 64
/// combinations); `None` when it does not.
pub fn matching_buckets(
    schema: &TableSchema,
    predicate: &Predicate,
    total_buckets: i32,
) -> dyntable_storage::Result<Option<BTreeSet<i32>>> {
    let keys = schema.bucket_keys()?;
    if keys.is_empty() || total_buckets < 1 {
        return Ok(None);
    }
    let conjuncts: Vec<&Predicate> = match predicate {
        Predicate::And(ps) => ps.iter().collect(),
        p => vec![p],
    };
    let mut choices: Vec<Vec<Datum>> = Vec::new();
    let mut types = Vec::new();
    for k in &keys {
        let Some(field) = schema.field(k) else { return Ok(None) };
        let values: Option<Vec<Datum>> = conjuncts.iter().find_map(|p| bound_values(p, k));
        let Some(values) = values else { return Ok(None) };
        let mut coerced = Vec::new();
        for v in values {
            if v.is_null() {
                continue;
            }
            match v.coerce_to(&field.data_type) {
                Ok(d) => coerced.push(d),
                Err(_) => return Ok(None),
            }
        }
        choices.push(coerced);
        types.push(field.data_type.clone());
    }
    let combinations: usize = choices.iter().map(Vec::len).product();
    if combinations > 64 {
        return Ok(None);
    }
    let mut buckets = BTreeSet::new();
    let mut index = vec![0usize; choices.len()];
    for _ in 0..combinations {
        let row: Vec<Datum> = index.iter().zip(&choices).map(|(i, c)| c[*i].clone()).collect();
        buckets.insert(bucket_of(&encode_row(&row, &types)?, total_buckets));
        for (slot, c) in index.iter_mut().zip(&choices) {
            *slot += 1;
            if *slot < c.len() {
                break;
            }
            *slot = 0;
        }
    }
    Ok(Some(buckets))
}

/// Drops splits of buckets the predicate cannot match (bucket pruning for key equality). Returns the
/// number of splits and files dropped. Splits written with another bucket count are kept.
fn prune_buckets(
    schema: &TableSchema,
    predicate: &Predicate,
    splits: &mut Vec<DataSplit>,
) -> dyntable_storage::Result<(usize, usize)> {
    let total = schema.options()?.bucket;
    if total <= 1 {
        return Ok((0, 0));
    }
    let Some(buckets) = matching_buckets(schema, predicate, total)? else { return Ok((0, 0)) };
    let (mut dropped_splits, mut dropped_files) = (0, 0);
    splits.retain(|s| {
        let keep = s.total_buckets != total || buckets.contains(&s.bucket);
        if !keep {
            dropped_splits += 1;
            dropped_files += s.files.len();
        }
        keep
    });
    Ok((dropped_splits, dropped_files))
}
