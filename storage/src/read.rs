//! Reading splits: merge-on-read across the sorted runs of a primary-key bucket with the merge engine,
//! streamed batch by batch (a bucket is never held in memory whole), then the row filter and projection.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute;
use arrow::datatypes::{Int64Type, Int8Type};
use arrow::row::{RowConverter, Rows, SortField};
use arrow_schema::SchemaRef;
use futures::{Stream, StreamExt, TryStreamExt};

use crate::binary_row::deserialize_row;
use crate::datafile::{bucket_dir, read_data_file, ReadColumns, RowKind};
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::manifest::DataFileMeta;
use crate::options::{CoreOptions, MergeEngine};
use crate::predicate::Predicate;
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
    projection: Vec<DataField>,
    filter: Option<Predicate>,
    batch_size: usize,
    schemas: SchemaCache,
}

impl TableRead {
    pub fn new(io: FileIO, schema: Arc<TableSchema>, projection: Option<&[String]>, filter: Option<Predicate>) -> Result<Self> {
        let options = schema.options()?;
        let projection = match projection {
            None => schema.fields.clone(),
            Some(names) => names
                .iter()
                .map(|n| schema.field(n).cloned().ok_or_else(|| Error::invalid(format!("projection names unknown column `{n}`"))))
                .collect::<Result<Vec<_>>>()?,
        };
        if let Some(f) = &filter {
            f.validate(&schema)?;
        }
        if !schema.primary_keys.is_empty() && options.merge_engine != MergeEngine::Deduplicate {
            return Err(Error::InvalidOption {
                key: "merge-engine".into(),
                value: options.raw.get("merge-engine").cloned().unwrap_or_default(),
                reason: "dyntable reads the deduplicate merge engine only so far".into(),
            });
        }
        let schemas: SchemaCache = Default::default();
        Ok(TableRead { io, schema, options, projection, filter, batch_size: 8192, schemas })
    }

    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// The schema of the batches this read yields.
    pub fn output_schema(&self) -> SchemaRef {
        Arc::new(arrow_schema::Schema::new(self.projection.iter().map(DataField::to_arrow).collect::<Vec<_>>()))
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

    /// Value columns to read: the projection plus what the filter and `sequence.field` need.
    fn read_columns(&self) -> ReadColumns {
        let mut names: Vec<String> = self.projection.iter().map(|f| f.name.clone()).collect();
        if let Some(f) = &self.filter {
            f.columns(&mut names);
        }
        if let Some(sf) = &self.options.sequence_field {
            for s in sf.split(',') {
                if !names.iter().any(|n| n == s.trim()) {
                    names.push(s.trim().to_string());
                }
            }
        }
        let values = self.schema.fields.iter().filter(|f| names.contains(&f.name)).cloned().collect();
        ReadColumns { with_system: !self.schema.primary_keys.is_empty(), values }
    }

    async fn open_file(&self, split: &DataSplit, file: &DataFileMeta, cols: &ReadColumns) -> Result<BatchStream> {
        let file_schema = self.file_schema(file.schema_id).await?;
        let dir = bucket_dir(&self.schema, &split.partition, split.bucket, &self.options.partition_default_name);
        let rel = match &file.external_path {
            Some(p) => p.clone(),
            None => format!("{dir}/{}", file.file_name),
        };
        let s = read_data_file(&self.io, &rel, file.file_size as u64, &self.schema, &file_schema, cols, self.batch_size).await?;
        Ok(Box::pin(s))
    }

    /// Streams the rows of one split.
    pub async fn read_split(&self, split: DataSplit) -> Result<BatchStream> {
        let cols = self.read_columns();
        let pk = !self.schema.primary_keys.is_empty();
        let this = self.clone();
        let raw: BatchStream = if !pk {
            let files = split.files.clone();
            let cols2 = cols.clone();
            Box::pin(
                futures::stream::iter(files.into_iter().map(move |f| (f, this.clone(), split.clone(), cols2.clone())))
                    .then(|(f, this, split, cols)| async move { this.open_file(&split, &f, &cols).await })
                    .try_flatten(),
            )
        } else {
            let runs = self.sorted_runs(&split.files)?;
            if runs.len() == 1 {
                let files: Vec<DataFileMeta> = runs.into_iter().next().expect("one run").into();
                let cols2 = cols.clone();
                let stream = futures::stream::iter(files.into_iter().map(move |f| (f, this.clone(), split.clone(), cols2.clone())))
                    .then(|(f, this, split, cols)| async move { this.open_file(&split, &f, &cols).await })
                    .try_flatten();
                let nkeys = self.schema.key_fields().len();
                Box::pin(stream.and_then(move |b| futures::future::ready(drop_retracts(&b, nkeys))))
            } else {
                let mut cursors = Vec::new();
                for run in runs {
                    cursors.push(RunCursor { files: run, stream: None, batch: None, keys: None, seq_keys: None, pos: 0, slot: 0 });
                }
                let nkeys = self.schema.key_fields().len();
                let key_converter = RowConverter::new(self.schema.key_fields().iter().map(|f| SortField::new(f.data_type.to_arrow())).collect())?;
                let seq_cols: Vec<usize> = match &self.options.sequence_field {
                    Some(sf) => sf.split(',').filter_map(|s| cols.values.iter().position(|v| v.name == s.trim()).map(|i| nkeys + 2 + i)).collect(),
                    None => Vec::new(),
                };
                let merge = MergeState {
                    read: this,
                    split,
                    cols: cols.clone(),
                    cursors,
                    key_converter,
                    seq_cols: (!seq_cols.is_empty()).then_some(seq_cols),
                    seq_converter: None,
                    nkeys,
                    slots: Vec::new(),
                    out: Vec::new(),
                    done: false,
                };
                Box::pin(futures::stream::try_unfold(merge, |mut m| async move {
                    let b = m.next_batch().await?;
                    Ok(b.map(|b| (b, m)))
                }))
            }
        };
        let schema = self.schema.clone();
        let filter = self.filter.clone();
        let projection: Vec<String> = self.projection.iter().map(|f| f.name.clone()).collect();
        let out_schema = self.output_schema();
        Ok(Box::pin(
            raw.and_then(move |b| {
                let r = finish(&b, filter.as_ref(), &schema, &projection, &out_schema);
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

    /// Groups files into sorted runs, oldest data last: each level-0 file is a run (newest first), each
    /// level >= 1 one run with files ordered by min key.
    fn sorted_runs(&self, files: &[DataFileMeta]) -> Result<Vec<VecDeque<DataFileMeta>>> {
        let mut level0: Vec<&DataFileMeta> = files.iter().filter(|f| f.level == 0).collect();
        level0.sort_by(|a, b| b.max_sequence_number.cmp(&a.max_sequence_number));
        let mut runs: Vec<VecDeque<DataFileMeta>> = level0.into_iter().map(|f| VecDeque::from(vec![f.clone()])).collect();
        let mut levels: Vec<i32> = files.iter().map(|f| f.level).filter(|l| *l > 0).collect();
        levels.sort();
        levels.dedup();
        let key_types: Vec<_> = self.schema.key_fields().iter().map(|f| f.data_type.clone()).collect();
        for level in levels {
            let mut in_level: Vec<(Vec<crate::datum::Datum>, DataFileMeta)> = Vec::new();
            for f in files.iter().filter(|f| f.level == level) {
                let k = deserialize_row(&f.min_key, &key_types).map_err(|e| Error::corrupt(&f.file_name, format!("min key: {e}")))?;
                in_level.push((k, f.clone()));
            }
            in_level.sort_by(|a, b| cmp_keys(&a.0, &b.0));
            runs.push(in_level.into_iter().map(|(_, f)| f).collect());
        }
        Ok(runs)
    }
}

fn cmp_keys(a: &[crate::datum::Datum], b: &[crate::datum::Datum]) -> std::cmp::Ordering {
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

/// Drops rows whose latest kind retracts them (-U, -D) from a batch with each key once.
fn drop_retracts(batch: &RecordBatch, nkeys: usize) -> Result<RecordBatch> {
    let kinds = batch.column(nkeys + 1).as_primitive::<Int8Type>();
    if !kinds.values().iter().any(|k| RowKind::from_byte(*k).map(RowKind::is_retract).unwrap_or(false)) {
        return Ok(batch.clone());
    }
    let keep: arrow::array::BooleanArray = kinds.values().iter().map(|k| Some(!RowKind::from_byte(*k).map(RowKind::is_retract).unwrap_or(false))).collect();
    Ok(compute::filter_record_batch(batch, &keep)?)
}

/// Applies the row filter and the projection.
fn finish(batch: &RecordBatch, filter: Option<&Predicate>, schema: &TableSchema, projection: &[String], out_schema: &SchemaRef) -> Result<RecordBatch> {
    let batch = match filter {
        Some(f) => {
            let mask = f.evaluate(batch, schema)?;
            compute::filter_record_batch(batch, &mask)?
        }
        None => batch.clone(),
    };
    let cols = projection
        .iter()
        .map(|n| batch.column_by_name(n).cloned().ok_or_else(|| Error::Internal(format!("column `{n}` was not read"))))
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new_with_options(out_schema.clone(), cols, &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())))?)
}

/// One sorted run being read in key order.
struct RunCursor {
    files: VecDeque<DataFileMeta>,
    stream: Option<BatchStream>,
    batch: Option<RecordBatch>,
    keys: Option<Rows>,
    seq_keys: Option<Rows>,
    pos: usize,
    slot: usize,
}

struct MergeState {
    read: TableRead,
    split: DataSplit,
    cols: ReadColumns,
    cursors: Vec<RunCursor>,
    key_converter: RowConverter,
    seq_cols: Option<Vec<usize>>,
    seq_converter: Option<RowConverter>,
    nkeys: usize,
    /// Batches referenced by `out` (by slot index).
    slots: Vec<RecordBatch>,
    out: Vec<(usize, usize)>,
    done: bool,
}

impl MergeState {
    /// Makes sure cursor `i` has a current row (loading the next batch or file); false when exhausted.
    async fn fill(&mut self, i: usize) -> Result<bool> {
        loop {
            let c = &mut self.cursors[i];
            if let Some(b) = &c.batch {
                if c.pos < b.num_rows() {
                    return Ok(true);
                }
                c.batch = None;
                c.keys = None;
                c.seq_keys = None;
            }
            if let Some(s) = c.stream.as_mut() {
                match s.next().await {
                    Some(b) => {
                        let b = b?;
                        if b.num_rows() == 0 {
                            continue;
                        }
                        let keys = self.key_converter.convert_columns(&b.columns()[..self.nkeys])?;
                        let seq_keys = match &self.seq_cols {
                            Some(cols) => {
                                let arrays: Vec<_> = cols.iter().map(|c| b.column(*c).clone()).collect();
                                if self.seq_converter.is_none() {
                                    self.seq_converter = Some(RowConverter::new(arrays.iter().map(|a| SortField::new(a.data_type().clone())).collect())?);
                                }
                                Some(self.seq_converter.as_ref().expect("set").convert_columns(&arrays)?)
                            }
                            None => None,
                        };
                        let c = &mut self.cursors[i];
                        c.slot = self.slots.len();
                        self.slots.push(b.clone());
                        c.batch = Some(b);
                        c.keys = Some(keys);
                        c.seq_keys = seq_keys;
                        c.pos = 0;
                        continue;
                    }
                    None => {
                        self.cursors[i].stream = None;
                    }
                }
            }
            let Some(f) = self.cursors[i].files.pop_front() else { return Ok(false) };
            let s = self.read.open_file(&self.split, &f, &self.cols).await?;
            self.cursors[i].stream = Some(s);
        }
    }

    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.done {
            return Ok(None);
        }
        let batch_size = self.read.batch_size;
        loop {
            // Find the smallest key among cursors that still have rows.
            let mut live = Vec::with_capacity(self.cursors.len());
            for i in 0..self.cursors.len() {
                if self.fill(i).await? {
                    live.push(i);
                }
            }
            if live.is_empty() {
                self.done = true;
                break;
            }
            let mut min = live[0];
            for &i in &live[1..] {
                let (a, b) = (&self.cursors[i], &self.cursors[min]);
                if a.keys.as_ref().expect("filled").row(a.pos) < b.keys.as_ref().expect("filled").row(b.pos) {
                    min = i;
                }
            }
            // All cursors positioned on that key hold versions of it; the merge engine picks the winner.
            let mut winner = min;
            let mut same = Vec::with_capacity(live.len());
            for &i in &live {
                let (a, b) = (&self.cursors[i], &self.cursors[min]);
                if i == min || a.keys.as_ref().expect("filled").row(a.pos) == b.keys.as_ref().expect("filled").row(b.pos) {
                    same.push(i);
                    if i != winner && self.newer(i, winner) {
                        winner = i;
                    }
                }
            }
            let w = &self.cursors[winner];
            let kind = w.batch.as_ref().expect("filled").column(self.nkeys + 1).as_primitive::<Int8Type>().value(w.pos);
            if !RowKind::from_byte(kind).map(RowKind::is_retract).unwrap_or(false) {
                self.out.push((w.slot, w.pos));
            }
            for i in same {
                self.cursors[i].pos += 1;
            }
            if self.out.len() >= batch_size {
                break;
            }
        }
        if self.out.is_empty() {
            return Ok(None);
        }
        let refs: Vec<&RecordBatch> = self.slots.iter().collect();
        let batch = compute::interleave_record_batch(&refs, &self.out)?;
        self.out.clear();
        // Keep only the batches cursors still point into, renumbering their slots.
        let mut kept = Vec::new();
        for c in self.cursors.iter_mut() {
            if let Some(b) = &c.batch {
                c.slot = kept.len();
                kept.push(b.clone());
            }
        }
        self.slots = kept;
        Ok(Some(batch))
    }

    /// Whether cursor `a`'s current row is a newer version than cursor `b`'s.
    fn newer(&self, a: usize, b: usize) -> bool {
        let (ca, cb) = (&self.cursors[a], &self.cursors[b]);
        if let (Some(sa), Some(sb)) = (&ca.seq_keys, &cb.seq_keys) {
            let (ra, rb) = (sa.row(ca.pos), sb.row(cb.pos));
            if ra != rb {
                return ra > rb;
            }
        }
        let seq = |c: &RunCursor| c.batch.as_ref().expect("filled").column(self.nkeys).as_primitive::<Int64Type>().value(c.pos);
        seq(ca) > seq(cb)
    }
}

/// Collects a stream of batches (for tests and small tables).
pub async fn collect(stream: BatchStream) -> Result<Vec<RecordBatch>> {
    stream.try_collect().await
}
