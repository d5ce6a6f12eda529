//! Reading splits: merge-on-read across the sorted runs of a primary-key bucket with the table's merge
//! engine (`merge`), streamed batch by batch (a bucket is never held in memory whole), then the row
//! filter and projection. The same sorted-run merge serves compaction (which keeps retractions unless it
//! writes the max level).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::compute;
use arrow::datatypes::Int8Type;
use arrow::row::{RowConverter, SortField};
use arrow_schema::SchemaRef;
use futures::{Stream, StreamExt, TryStreamExt};

use crate::binary_row::deserialize_row;
use crate::datafile::{
    bucket_dir, kind_field, DataFileRead, MetadataCache, PruneCounters, ReadColumns, SystemColumns, VALUE_KIND,
};
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::manifest::DataFileMeta;
use crate::merge::{MergeSpec, OutputBuilder};
use crate::options::CoreOptions;
use crate::predicate::Predicate;
use crate::row_kind::RowKind;
use crate::scan::{DataSplit, SchemaCache};
use crate::schema::{SchemaManager, TableSchema};
use crate::types::DataField;

pub type BatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>;

/// Reads splits of one table into batches of `projection` (table column names), filtered by `filter`.
#[derive(Clone)]
pub struct TableRead {
    io: FileIO,
    schema: Arc<TableSchema>,
    options: CoreOptions,
    spec: Arc<MergeSpec>,
    projection: Vec<DataField>,
    filter: Option<Predicate>,
    /// Column defaults (nulls read as them, [`crate::defaults`]) and what of `filter` may prune by statistics.
    defaults: crate::defaults::SharedDefaults,
    prune_filter: Option<Predicate>,
    batch_size: usize,
    schemas: SchemaCache,
    /// Where Parquet pruning adds what it skipped (`None`: not counted).
    counters: Option<Arc<PruneCounters>>,
    /// Whether batches start with the merged row's `_VALUE_KIND` (audit log).
    with_row_kind: bool,
    /// Where data files' Parquet footers are kept between reads (`None`: read every time).
    metadata_cache: Option<Arc<MetadataCache>>,
}

impl TableRead {
    pub fn new(
        io: FileIO,
        schema: Arc<TableSchema>,
        projection: Option<&[String]>,
        filter: Option<Predicate>,
    ) -> Result<Self> {
        let options = schema.options()?;
        let projection = match projection {
            None => schema.fields.clone(),
            Some(names) => names
                .iter()
                .map(|n| {
                    schema
                        .field(n)
                        .cloned()
                        .ok_or_else(|| Error::invalid(format!("projection names unknown column `{n}`")))
                })
                .collect::<Result<Vec<_>>>()?,
        };
        if let Some(f) = &filter {
            f.validate(&schema)?;
        }
        let spec = Arc::new(MergeSpec::new(&schema)?);
        let defaults = Arc::new(schema.default_values()?);
        let prune_filter = filter.as_ref().and_then(|f| f.without_columns(&defaults.columns()));
        let schemas: SchemaCache = Default::default();
        Ok(TableRead {
            batch_size: options.read_batch_size.unwrap_or(8192),
            io,
            schema,
            options,
            spec,
            projection,
            filter,
            defaults,
            prune_filter,
            schemas,
            counters: None,
            with_row_kind: false,
            metadata_cache: None,
        })
    }

    /// Rows per batch this read yields, whatever the table's `read.batch-size` says.
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Rows per batch unless the table sets `read.batch-size` (which wins: SQL passes its session's size here).
    pub fn with_default_batch_size(self, n: usize) -> Self {
        let n = self.options.read_batch_size.unwrap_or(n);
        self.with_batch_size(n)
    }

    /// Adds what Parquet row-group and page-index pruning skips to `counters` (shared by clones of this read).
    pub fn with_prune_counters(mut self, counters: Arc<PruneCounters>) -> Self {
        self.counters = Some(counters);
        self
    }

    /// Takes data files' Parquet metadata from `cache` (and adds what it reads to it).
    pub fn with_metadata_cache(mut self, cache: Arc<MetadataCache>) -> Self {
        self.metadata_cache = Some(cache);
        self
    }

    /// Makes every batch start with a `_VALUE_KIND` column (Int8, [`RowKind`] bytes): the kind of the row
    /// the merge engine produced for the key (`+I`/`+U` from deduplicate, `+I` from partial-update,
    /// aggregation and first-row; always `+I` for append tables). Retracted keys are still left out.
    pub fn with_row_kind(mut self, on: bool) -> Self {
        self.with_row_kind = on;
        self
    }

    /// The schema of the batches this read yields.
    pub fn output_schema(&self) -> SchemaRef {
        let kind = self.with_row_kind.then(kind_field);
        Arc::new(arrow_schema::Schema::new(
            kind.into_iter().chain(self.projection.iter().map(DataField::to_arrow)).collect::<Vec<_>>(),
        ))
    }

    /// The files of `split` whose Parquet statistics a filter may prune: all files of an append table, the
    /// files of a bucket that is one sorted run (no other version of a key elsewhere); none without a filter.
    pub fn prunable_files(&self, split: &DataSplit) -> Result<usize> {
        if self.prune_filter.is_none() {
            return Ok(0);
        }
        if self.schema.primary_keys.is_empty() || self.sorted_runs(&split.files)?.len() == 1 {
            return Ok(split.files.len());
        }
        Ok(0)
    }

    async fn file_schema(&self, id: i64) -> Result<Arc<TableSchema>> {
        if id == self.schema.id {
            return Ok(self.schema.clone());
        }
        let mut cache = self.schemas.lock().await;
        if let Some(s) = cache.get(&id) {
            return Ok(s.clone());
        }
        let s = Arc::new(SchemaManager::new(self.io.clone()).schema(id).await?);
        cache.insert(id, s.clone());
        Ok(s)
    }

    /// Value columns to read: the projection plus what the filter, `sequence.field` and the merge engine need.
    fn read_columns(&self, system: SystemColumns) -> ReadColumns {
        let mut names: Vec<String> = self.projection.iter().map(|f| f.name.clone()).collect();
        if let Some(f) = &self.filter {
            f.columns(&mut names);
        }
        if system == SystemColumns::All {
            if let Some(sf) = &self.options.sequence_field {
                for s in sf.split(',') {
                    if !names.iter().any(|n| n == s.trim()) {
                        names.push(s.trim().to_string());
                    }
                }
            }
            names = self.spec.required_columns(&names);
        }
        let values = self.schema.fields.iter().filter(|f| names.contains(&f.name)).cloned().collect();
        ReadColumns { system, values }
    }

    /// All value columns with all system columns (what compaction rewrites).
    pub fn full_columns(&self) -> ReadColumns {
        ReadColumns { system: SystemColumns::All, values: self.schema.fields.clone() }
    }

    async fn open_file(&self, split: &DataSplit, file: &DataFileMeta, cols: &ReadColumns) -> Result<BatchStream> {
        let file_schema = self.file_schema(file.schema_id).await?;
        let dir = bucket_dir(&self.schema, &split.partition, split.bucket, &self.options.partition_default_name);
        let rel = match &file.external_path {
            Some(p) => p.clone(),
            None => format!("{dir}/{}", file.file_name),
        };
        // Row-group statistics may prune only where no other version of a row can sit in another file: append
        // tables and single sorted runs (reads without the merge's system columns).
        let prune = if cols.system == SystemColumns::All { None } else { self.prune_filter.as_ref() };
        let read = DataFileRead {
            io: &self.io,
            rel_path: &rel,
            file_size: file.file_size as u64,
            current: &self.schema,
            file_schema: &file_schema,
            cols,
            batch_size: self.batch_size,
            prune,
            counters: self.counters.as_deref(),
            metadata_cache: self.metadata_cache.as_deref(),
        };
        let s = read.open().await?;
        Ok(Box::pin(s))
    }

    fn concat_files(&self, split: &DataSplit, files: Vec<DataFileMeta>, cols: &ReadColumns) -> BatchStream {
        let this = self.clone();
        let split = split.clone();
        let cols = cols.clone();
        Box::pin(
            futures::stream::iter(files.into_iter().map(move |f| (f, this.clone(), split.clone(), cols.clone())))
                .then(|(f, this, split, cols)| async move { this.open_file(&split, &f, &cols).await })
                .try_flatten(),
        )
    }

    /// Streams the rows of one split.
    pub async fn read_split(&self, split: DataSplit) -> Result<BatchStream> {
        let pk = !self.schema.primary_keys.is_empty();
        let raw: BatchStream = if !pk {
            self.concat_files(&split, split.files.clone(), &self.read_columns(SystemColumns::None))
        } else {
            let runs = self.sorted_runs(&split.files)?;
            if runs.len() == 1 {
                // One sorted run holds each key once: no merge, only retractions to drop (and no kind column
                // at all when the files say they hold none).
                let files: Vec<DataFileMeta> = runs.into_iter().next().expect("one run").into();
                if !self.with_row_kind && files.iter().all(|f| f.delete_row_count == Some(0)) {
                    self.concat_files(&split, files, &self.read_columns(SystemColumns::None))
                } else {
                    let s = self.concat_files(&split, files, &self.read_columns(SystemColumns::KindOnly));
                    Box::pin(s.and_then(|b| futures::future::ready(drop_retracts(&b))))
                }
            } else {
                let cols = self.read_columns(SystemColumns::All);
                let s = self.merge(split, runs, cols, false, true)?;
                Box::pin(s.and_then(|b| futures::future::ready(drop_retracts(&b))))
            }
        };
        let schema = self.schema.clone();
        let filter = self.filter.clone();
        let projection: Vec<String> = self.projection.iter().map(|f| f.name.clone()).collect();
        let out_schema = self.output_schema();
        let with_row_kind = self.with_row_kind;
        let defaults = self.defaults.clone();
        Ok(Box::pin(
            raw.and_then(move |b| {
                let r = defaults
                    .fill(&b)
                    .and_then(|b| finish(&b, filter.as_ref(), &schema, &projection, with_row_kind, &out_schema));
                futures::future::ready(r)
            })
            .try_filter(|b| futures::future::ready(b.num_rows() > 0)),
        ))
    }

    /// Merges sorted runs (oldest last) into key-value batches of `cols` (which must include all system
    /// columns), one row per key, in key order. With `keep_retractions` false, keys whose merge result is a
    /// retraction are left out.
    pub fn merge_runs(
        &self,
        split: DataSplit,
        runs: Vec<VecDeque<DataFileMeta>>,
        cols: ReadColumns,
        keep_retractions: bool,
    ) -> Result<BatchStream> {
        self.merge(split, runs, cols, keep_retractions, false)
    }

    /// [`Self::merge_runs`]; with `values_only`, batches hold only `_VALUE_KIND` and the value columns (what a
    /// scan needs), which spares gathering the key and sequence columns of every merged row.
    fn merge(
        &self,
        split: DataSplit,
        runs: Vec<VecDeque<DataFileMeta>>,
        cols: ReadColumns,
        keep_retractions: bool,
        values_only: bool,
    ) -> Result<BatchStream> {
        debug_assert_eq!(cols.system, SystemColumns::All);
        let nkeys = self.schema.key_fields().len();
        let key_converter = RowConverter::new(
            self.schema.key_fields().iter().map(|f| SortField::new(f.data_type.to_arrow())).collect(),
        )?;
        let int_key = matches!(self.schema.key_fields().as_slice(), [k] if matches!(k.data_type.to_arrow(), arrow_schema::DataType::Int64 | arrow_schema::DataType::Int32 | arrow_schema::DataType::Int16 | arrow_schema::DataType::Int8));
        let seq_cols: Vec<usize> = match &self.options.sequence_field {
            Some(sf) => sf
                .split(',')
                .filter_map(|s| cols.values.iter().position(|v| v.name == s.trim()).map(|i| nkeys + 2 + i))
                .collect(),
            None => Vec::new(),
        };
        let cursors = runs
            .into_iter()
            .map(|files| RunCursor { files, stream: None, batch: None, keys: None, seq_keys: None, pos: 0, slot: 0 })
            .collect();
        let merge = MergeState {
            read: self.clone(),
            split,
            value_names: cols.values.iter().map(|f| f.name.clone()).collect(),
            value_types: cols.values.iter().map(|f| f.data_type.clone()).collect(),
            cols,
            cursors,
            key_converter,
            int_key,
            seq_cols: (!seq_cols.is_empty()).then_some(seq_cols),
            seq_converter: None,
            nkeys,
            slots: Vec::new(),
            out: OutputBuilder::new(),
            keep_retractions,
            values_only,
            done: false,
        };
        Ok(Box::pin(futures::stream::try_unfold(merge, |mut m| async move {
            let b = m.next_batch().await?;
            Ok(b.map(|b| (b, m)))
        })))
    }

    /// Streams the changes the files of `split` hold (delta or changelog files), each row with its
    /// `_VALUE_KIND` (the batches of [`Self::output_schema`] with the row kind on). Without `merge`, every row of
    /// every file in the given order (a streaming read: every change); with `merge`, one row per key, the
    /// latest of the files by the merge engine, retractions kept (Paimon's batch `incremental-between` over delta
    /// files). Rows of append tables are inserts.
    pub fn read_changes(&self, split: DataSplit, merge: bool) -> Result<BatchStream> {
        let this = self.clone().with_row_kind(true);
        let pk = !this.schema.primary_keys.is_empty();
        let raw: BatchStream = if !pk {
            this.concat_files(&split, split.files.clone(), &this.read_columns(SystemColumns::None))
        } else if merge && split.files.len() > 1 {
            // Each file its own sorted run, newest first: the merge keeps each key's latest change.
            let mut files = split.files.clone();
            files.sort_by_key(|f| std::cmp::Reverse(f.max_sequence_number));
            let runs = files.into_iter().map(|f| VecDeque::from(vec![f])).collect();
            let cols = this.read_columns(SystemColumns::All);
            this.merge(split.clone(), runs, cols, true, true)?
        } else {
            this.concat_files(&split, split.files.clone(), &this.read_columns(SystemColumns::KindOnly))
        };
        let schema = this.schema.clone();
        let filter = this.filter.clone();
        let projection: Vec<String> = this.projection.iter().map(|f| f.name.clone()).collect();
        let out_schema = this.output_schema();
        Ok(Box::pin(
            raw.and_then(move |b| {
                let r = finish(&b, filter.as_ref(), &schema, &projection, true, &out_schema);
                futures::future::ready(r)
            })
            .try_filter(|b| futures::future::ready(b.num_rows() > 0)),
        ))
    }

    /// Streams all splits one after another.
    pub fn read_splits(&self, splits: Vec<DataSplit>) -> BatchStream {
        let this = self.clone();
        Box::pin(
            futures::stream::iter(splits)
                .then(move |s| {
                    let this = this.clone();
                    async move { this.read_split(s).await }
                })
                .try_flatten(),
        )
    }

    /// Groups files into sorted runs, newest first: each level-0 file is a run (newest first), each
    /// level >= 1 one run with files ordered by min key.
    pub fn sorted_runs(&self, files: &[DataFileMeta]) -> Result<Vec<VecDeque<DataFileMeta>>> {
        let mut level0: Vec<&DataFileMeta> = files.iter().filter(|f| f.level == 0).collect();
        level0.sort_by_key(|f| std::cmp::Reverse(f.max_sequence_number));
        let mut runs: Vec<VecDeque<DataFileMeta>> =
            level0.into_iter().map(|f| VecDeque::from(vec![f.clone()])).collect();
        let mut levels: Vec<i32> = files.iter().map(|f| f.level).filter(|l| *l > 0).collect();
        levels.sort();
        levels.dedup();
        let key_types: Vec<_> = self.schema.key_fields().iter().map(|f| f.data_type.clone()).collect();
        for level in levels {
            let mut in_level: Vec<(Vec<crate::datum::Datum>, DataFileMeta)> = Vec::new();
            for f in files.iter().filter(|f| f.level == level) {
                let k = deserialize_row(&f.min_key, &key_types)
                    .map_err(|e| Error::corrupt(&f.file_name, format!("min key: {e}")))?;
                in_level.push((k, f.clone()));
            }
            in_level.sort_by(|a, b| cmp_keys(&a.0, &b.0));
            runs.push(in_level.into_iter().map(|(_, f)| f).collect());
        }
        Ok(runs)
    }

    pub fn schema(&self) -> &Arc<TableSchema> {
        &self.schema
    }
}

pub fn cmp_keys(a: &[crate::datum::Datum], b: &[crate::datum::Datum]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x.is_null(), y.is_null()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            _ => x.partial_cmp_value(y).unwrap_or(std::cmp::Ordering::Equal),
        };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

/// Drops rows whose kind retracts them (-U, -D) from a batch with each key once.
fn drop_retracts(batch: &RecordBatch) -> Result<RecordBatch> {
    let Some(kinds) = batch.column_by_name(VALUE_KIND) else { return Ok(batch.clone()) };
    let kinds = kinds.as_primitive::<Int8Type>();
    if !kinds.values().iter().any(|k| RowKind::from_byte(*k).map(RowKind::is_retract).unwrap_or(false)) {
        return Ok(batch.clone());
    }
    let keep: arrow::array::BooleanArray = kinds
        .values()
        .iter()
        .map(|k| Some(!RowKind::from_byte(*k).map(RowKind::is_retract).unwrap_or(false)))
        .collect();
    Ok(compute::filter_record_batch(batch, &keep)?)
}

/// Applies the row filter and the projection (after the row kind, when asked for; rows read without a
/// kind column are inserts).
fn finish(
    batch: &RecordBatch,
    filter: Option<&Predicate>,
    schema: &TableSchema,
    projection: &[String],
    with_row_kind: bool,
    out_schema: &SchemaRef,
) -> Result<RecordBatch> {
    let batch = match filter {
        Some(f) => {
            let mask = f.evaluate(batch, schema)?;
            compute::filter_record_batch(batch, &mask)?
        }
        None => batch.clone(),
    };
    let mut cols = Vec::with_capacity(projection.len() + 1);
    if with_row_kind {
        cols.push(match batch.column_by_name(VALUE_KIND) {
            Some(kinds) => kinds.clone(),
            None => Arc::new(arrow::array::Int8Array::from_value(RowKind::Insert as i8, batch.num_rows())),
        });
    }
    for n in projection {
        cols.push(
            batch.column_by_name(n).cloned().ok_or_else(|| Error::Internal(format!("column `{n}` was not read")))?,
        );
    }
    Ok(RecordBatch::try_new_with_options(
        out_schema.clone(),
        cols,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )?)
}

/// Collects a stream of batches (for tests and small tables).
pub async fn collect(stream: BatchStream) -> Result<Vec<RecordBatch>> {
    stream.try_collect().await
}

mod merge_runs;
use merge_runs::{MergeState, RunCursor};
