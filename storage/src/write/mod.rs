//! The file-store write layer ([`FileStoreWrite`], Paimon's `KeyValueFileStoreWrite` /
//! `AppendOnlyFileStoreWrite`): validates incoming Arrow batches, routes rows to (partition, bucket), keeps them
//! in a memory-bounded write buffer, and flushes each bucket as sorted, merged level-0 files. It neither commits
//! nor compacts: the user-facing [`crate::table::TableWriter`] wraps it with the commit and compaction.
//!
//! Invariant: within a bucket, sequence numbers only grow, starting after the largest one already
//! committed, so a later write of a key always wins over an earlier one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, Int8Array, RecordBatch, UInt32Array};
use arrow::compute;
use arrow_schema::DataType as ArrowType;

use crate::binary_row::{bucket_of, encode_row, serialize_row};
use crate::bucket::BucketKey;
use crate::changelog::{encode_changes, take_changes, DecodedChanges, LoggedRows, TableLog};
use crate::datafile::{bucket_dir, file_schema, DataFileWriter};
use crate::datum::Datum;
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::manifest::DataFileMeta;
use crate::merge::MergeSpec;
use crate::options::{ChangelogProducer, CoreOptions, MergeEngine};
use crate::producer::{LookupChangelog, MergeReadPreviousRows, PreviousRows};
use crate::row_kind::RowKind;
use crate::schema::TableSchema;
use crate::types::DataType;

mod conform;
mod lookup;
mod sort;

use conform::compatible;

pub use sort::{deduplicate_batches, deduplicate_picks, sort_and_merge};

/// The files one bucket produced for a commit.
#[derive(Debug, Clone)]
pub struct CommitMessage {
    pub partition: Vec<Datum>,
    pub bucket: i32,
    pub total_buckets: i32,
    pub new_files: Vec<DataFileMeta>,
    /// Files this change removes (compaction before-files).
    pub compact_before: Vec<DataFileMeta>,
    /// Files a compaction produced.
    pub compact_after: Vec<DataFileMeta>,
    /// Changelog files (`changelog-*.parquet`) of the new files, committed with the `APPEND` snapshot.
    pub new_changelog: Vec<DataFileMeta>,
    /// Changelog files a compaction produced (`full-compaction` producer), committed with the `COMPACT` snapshot.
    pub compact_changelog: Vec<DataFileMeta>,
}

/// A bucket's flushed rows: sorted and merged, or buffered batches plus the rows to gather from them in order.
enum Flushed {
    Sorted(RecordBatch),
    Gather(Vec<RecordBatch>, Vec<(usize, usize)>),
}

/// A batch's row indices per bucket, with the bucket's partition values.
type Routed = HashMap<BucketKey, (Vec<Datum>, Vec<u32>)>;

/// Level-0 data files and changelog files of a flushed bucket being encoded.
type EncodingTask = tokio::task::JoinHandle<Result<(Vec<DataFileMeta>, Vec<DataFileMeta>)>>;

/// A bucket ready to be encoded: its partition, its sorted rows (`None` when the merge left nothing) and its
/// changelog rows (`changelog-producer` `input` or `lookup`).
type SortedBucket = (BucketKey, Vec<Datum>, Option<Flushed>, Option<RecordBatch>);

/// Bytes of a bucket's `lookup` changes held before they are written as a changelog file (or
/// `write-buffer-size` when smaller).
const CHANGELOG_ROLL_BYTES: u64 = 64 << 20;

/// One bucket's rows of a `lookup` write: partition, input rows (key-value layout), their exact changes, and
/// the key states after them.
type LookupPrepared = (BucketKey, Vec<Datum>, RecordBatch, RecordBatch, crate::producer::Staged);

struct BucketBuffer {
    partition: Vec<Datum>,
    batches: Vec<RecordBatch>,
}

/// Writes rows of one table as level-0 data files; `prepare_commit` hands the produced files to a commit (see the
/// module docs for how it differs from [`crate::table::TableWriter`]).
pub struct FileStoreWrite {
    io: FileIO,
    schema: Arc<TableSchema>,
    options: CoreOptions,
    file_writer: DataFileWriter,
    /// Writes `changelog-<uuid>-<n>.parquet` files.
    changelog_writer: DataFileWriter,
    producer: ChangelogProducer,
    /// The `lookup` producer's change computation (primary-key tables with `changelog-producer = lookup`).
    lookup: Option<LookupChangelog>,
    /// `lookup`: per bucket, the exact changes (key-value layout) not yet flushed to changelog files.
    changelog: HashMap<BucketKey, Vec<RecordBatch>>,
    row_kind_column: Option<String>,
    buffers: HashMap<BucketKey, BucketBuffer>,
    buffered_bytes: usize,
    next_sequence: HashMap<BucketKey, i64>,
    pending: HashMap<BucketKey, CommitMessage>,
    /// Flushed buckets whose files are still being encoded (at most one flush round in flight).
    encoding: Vec<(BucketKey, Vec<Datum>, EncodingTask)>,
    partition_types: Vec<DataType>,
    key_indices: Vec<usize>,
    bucket_key_indices: Vec<usize>,
    partition_indices: Vec<usize>,
    spec: MergeSpec,
    log: Option<Arc<TableLog>>,
    /// Set when a log append failed: the log may hold part of a batch the buffer does not.
    log_failed: Option<String>,
}

impl FileStoreWrite {
    /// `max_sequence` holds, per (serialized partition, bucket), the largest sequence number committed so far.
    pub fn new(io: FileIO, schema: Arc<TableSchema>, max_sequence: HashMap<BucketKey, i64>) -> Result<Self> {
        let options = schema.options()?;
        let pk = !schema.primary_keys.is_empty();
        if pk && options.bucket < 1 {
            return Err(Error::InvalidOption {
                key: "bucket".into(),
                value: options.bucket.to_string(),
                reason: "dyntable writes primary-key tables with fixed buckets only; set bucket to a positive number"
                    .into(),
            });
        }
        if options.deletion_vectors {
            return Err(Error::InvalidOption {
                key: "deletion-vectors.enabled".into(),
                value: "true".into(),
                reason: "dyntable does not write deletion vectors".into(),
            });
        }
        let idx = |names: &[String]| -> Vec<usize> { names.iter().filter_map(|n| schema.field_index(n)).collect() };
        let key_indices = idx(&schema.trimmed_primary_keys());
        let bucket_key_indices = idx(&schema.bucket_keys()?);
        let partition_indices = idx(&schema.partition_keys);
        let uuid = io.seams().new_id();
        let file_writer =
            DataFileWriter::new(io.clone(), schema.clone(), options.clone(), &uuid, Arc::new(AtomicU64::new(0)));
        let changelog_writer = file_writer.for_changelog(&uuid);
        let spec = MergeSpec::new(&schema)?;
        // Append tables: the data files are the changelog, whatever the producer (lookup and full-compaction are
        // rejected for them when the table is created).
        let producer = if pk { options.changelog_producer } else { ChangelogProducer::None };
        let lookup = match producer {
            ChangelogProducer::Lookup => {
                let previous = Box::new(MergeReadPreviousRows::new(io.clone(), schema.clone())?);
                Some(LookupChangelog::new(schema.clone(), &options, previous)?)
            }
            _ => None,
        };
        Ok(FileStoreWrite {
            changelog_writer,
            producer,
            lookup,
            changelog: HashMap::new(),
            spec,
            io,
            partition_types: schema.partition_types(),
            schema,
            options,
            file_writer,
            row_kind_column: None,
            buffers: HashMap::new(),
            buffered_bytes: 0,
            next_sequence: max_sequence.into_iter().map(|(k, v)| (k, v + 1)).collect(),
            pending: HashMap::new(),
            encoding: Vec::new(),
            key_indices,
            bucket_key_indices,
            partition_indices,
            log: None,
            log_failed: None,
        })
    }

    /// Replaces where the `lookup` producer finds a key's committed merged row (a no-op for other producers).
    pub fn with_previous_rows(mut self, previous: Box<dyn PreviousRows>) -> Self {
        self.lookup = self.lookup.map(|l| l.with_previous_rows(previous));
        self
    }

    /// Names a column of the incoming batches that holds row kinds (`+I`, `-U`, `+U`, `-D`) and is not stored.
    pub fn with_row_kind_column(mut self, column: Option<String>) -> Self {
        self.row_kind_column = column;
        self
    }

    pub fn schema(&self) -> &Arc<TableSchema> {
        &self.schema
    }

    /// Bytes currently held in the write buffer.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// Validates `batch` and buffers its rows; flushes when the buffer exceeds `write-buffer-size`.
    /// On error nothing of this batch is buffered.
    ///
    /// With an embedded log (`with_log`), the changes are first appended to the logs of their buckets and this
    /// returns once they are durable there; if that fails the writer refuses every later write (the log may
    /// hold part of the batch) and must be reopened, which replays the log.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if let Some(reason) = &self.log_failed {
            return Err(Error::invalid(format!(
                "this writer stopped after a failure ({reason}); reopen the table writer to recover from its log"
            )));
        }
        let (values, kinds) = self.conform(batch)?;
        if values.num_rows() == 0 {
            return Ok(());
        }
        let groups = self.route(&values)?;
        if self.lookup.is_some() {
            return self.write_lookup(&values, &kinds, groups).await;
        }
        if let Some(log) = self.log.clone() {
            let mut per_bucket: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
            for (key, (_, indices)) in &groups {
                per_bucket.entry(key.bucket).or_default().extend_from_slice(indices);
            }
            let mut appends = Vec::with_capacity(per_bucket.len());
            for (bucket, mut indices) in per_bucket {
                // Input order within a bucket, so that a key's changes stay in the order they were written.
                indices.sort_unstable();
                let (rows, row_kinds) = take_changes(&values, &kinds, &indices)?;
                appends.push((bucket, encode_changes(self.schema.id, &rows, &row_kinds)?, indices.len() as u32));
            }
            if let Err(e) = log.append(appends).await {
                self.log_failed = Some(format!("log append failed: {e}"));
                return Err(e);
            }
        }
        let buffered = self.buffer(&values, &kinds, groups).await;
        if let (Err(e), Some(_)) = (&buffered, &self.log) {
            // The changes are in the log but maybe not in the buffer: committing now could record offsets
            // that the files do not cover.
            self.log_failed = Some(format!("buffering logged changes failed: {e}"));
        }
        buffered
    }

    /// Key-value batches of one log bucket as logged rows (kinds, sequence numbers, table columns).
    fn logged_rows(&self, kv: &[RecordBatch]) -> Result<LoggedRows> {
        let schema = file_schema(&self.schema);
        let all = compute::concat_batches(&schema, kv)?;
        let nkeys = self.key_indices.len();
        Ok(LoggedRows {
            kinds: all.column(nkeys + 1).as_primitive::<arrow::datatypes::Int8Type>().clone(),
            sequence: all.column(nkeys).as_primitive::<arrow::datatypes::Int64Type>().clone(),
            values: RecordBatch::try_new(self.schema.arrow_schema(), all.columns()[nkeys + 2..].to_vec())?,
        })
    }

    /// Buffers changes read back from the log after a restart (already conformed and logged). `values` are the
    /// batch's changes in the current schema and `input` its input rows (conformed too) when they differ (a
    /// `lookup` log batch): the input rows are buffered with their logged sequence numbers and rebuild the
    /// `lookup` key states; the logged changes become the changelog rows as they were, so the log and the
    /// changelog files agree.
    pub async fn replay(
        &mut self,
        decoded: &DecodedChanges,
        values: &RecordBatch,
        input: Option<&RecordBatch>,
    ) -> Result<()> {
        let (Some(logged), Some(input)) = (&decoded.input, input) else {
            if values.num_rows() == 0 {
                return Ok(());
            }
            let groups = self.route(values)?;
            return self.buffer(values, &decoded.kinds, groups).await;
        };
        let pk = !self.schema.primary_keys.is_empty();
        if input.num_rows() > 0 {
            let mut groups: Vec<_> = self.route(input)?.into_iter().collect();
            groups.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, (partition, indices)) in groups {
                let (rows, row_kinds) = take_changes(input, &logged.kinds, &indices)?;
                let seqs = compute::take(&logged.sequence, &UInt32Array::from(indices.clone()), None)?;
                let kv = self.file_rows(&key, &rows, row_kinds, Some(seqs.as_primitive()))?;
                let kv = match self.lookup.as_mut() {
                    // Rebuilds the key states; the changes themselves come from the log below.
                    Some(lookup) => {
                        let (_, staged) = lookup.changes(&key, &partition, &kv).await?;
                        let kv = staged.retained(&kv)?;
                        lookup.apply(staged)?;
                        kv
                    }
                    None => kv,
                };
                self.push_buffer(key, partition, kv);
            }
        }
        if pk && self.lookup.is_some() && values.num_rows() > 0 {
            let sequence = decoded
                .sequence
                .as_ref()
                .ok_or_else(|| Error::Internal("a lookup log batch without sequence numbers".into()))?;
            for (key, (_, indices)) in self.route(values)? {
                let (rows, row_kinds) = take_changes(values, &decoded.kinds, &indices)?;
                let seqs = compute::take(sequence, &UInt32Array::from(indices), None)?;
                let kv = self.kv_batch(&rows, row_kinds, seqs)?;
                self.changelog.entry(key).or_default().push(kv);
            }
        }
        self.maybe_flush().await
    }

    /// Stops this writer (with a changelog) after a failure that left the log ahead of what can be committed;
    /// reopening it replays the log.
    pub fn stop_after_failure(&mut self, reason: String) {
        if self.log.is_some() {
            self.log_failed = Some(reason);
        }
    }

    /// Appends every later write to `log` before buffering it.
    pub fn with_log(mut self, log: Option<Arc<TableLog>>) -> Self {
        self.log = log;
        self
    }

    async fn buffer(&mut self, values: &RecordBatch, kinds: &Int8Array, groups: Routed) -> Result<()> {
        let mut groups: Vec<_> = groups.into_iter().collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, (partition, indices)) in groups {
            let (rows, row_kinds) = take_changes(values, kinds, &indices)?;
            let mut file_batch = self.file_rows(&key, &rows, row_kinds, None)?;
            if let Some(lookup) = self.lookup.as_mut() {
                // Replaying a log batch written without the lookup producer: compute its changes now.
                let (changes, staged) = lookup.changes(&key, &partition, &file_batch).await?;
                file_batch = staged.retained(&file_batch)?;
                lookup.apply(staged)?;
                if changes.num_rows() > 0 {
                    self.changelog.entry(key.clone()).or_default().push(changes);
                }
            }
            self.push_buffer(key, partition, file_batch);
        }
        self.maybe_flush().await
    }

    /// The rows of one bucket in the file layout: for a primary-key table, keys, sequence numbers (`seqs`, or
    /// the bucket's next ones) and kinds before the values; an append table's rows as they are.
    fn file_rows(
        &mut self,
        key: &BucketKey,
        rows: &RecordBatch,
        row_kinds: Int8Array,
        seqs: Option<&Int64Array>,
    ) -> Result<RecordBatch> {
        if self.schema.primary_keys.is_empty() {
            return Ok(rows.clone());
        }
        let next = self.next_sequence.entry(key.clone()).or_insert(0);
        let seq = match seqs {
            Some(s) => {
                if let Some(max) = s.values().iter().max() {
                    *next = (*next).max(max + 1);
                }
                s.clone()
            }
            None => {
                let seq = Int64Array::from_iter_values(*next..*next + rows.num_rows() as i64);
                *next += rows.num_rows() as i64;
                seq
            }
        };
        self.kv_batch(rows, row_kinds, Arc::new(seq))
    }

    fn kv_batch(&self, rows: &RecordBatch, row_kinds: Int8Array, seq: ArrayRef) -> Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> = self.key_indices.iter().map(|i| rows.column(*i).clone()).collect();
        cols.push(seq);
        cols.push(Arc::new(row_kinds));
        cols.extend(rows.columns().iter().cloned());
        Ok(RecordBatch::try_new(file_schema(&self.schema), cols)?)
    }

    fn push_buffer(&mut self, key: BucketKey, partition: Vec<Datum>, file_batch: RecordBatch) {
        let pk = !self.schema.primary_keys.is_empty();
        // Key columns share the value columns' buffers: count the values, plus sequence number and kind.
        let row_bytes = if pk { file_batch.num_rows() * 9 } else { 0 };
        let value_cols = if pk { &file_batch.columns()[self.key_indices.len() + 2..] } else { file_batch.columns() };
        self.buffered_bytes += value_cols.iter().map(|c| c.get_array_memory_size()).sum::<usize>() + row_bytes;
        let buf = self.buffers.entry(key).or_insert_with(|| BucketBuffer { partition, batches: Vec::new() });
        buf.batches.push(file_batch);
    }

    async fn maybe_flush(&mut self) -> Result<()> {
        if self.buffered_bytes as u64 >= self.options.write_buffer_size {
            self.flush_all().await?;
        }
        Ok(())
    }

    /// Checks the batch against the table schema and returns the table columns and the row kinds.
    fn conform(&self, batch: &RecordBatch) -> Result<(RecordBatch, Int8Array)> {
        let schema = &self.schema;
        for f in batch.schema().fields() {
            let is_kind_col = self.row_kind_column.as_deref() == Some(f.name().as_str());
            if !is_kind_col && schema.field(f.name()).is_none() {
                return Err(Error::SchemaMismatch(format!(
                    "column `{}` is not in the table (columns: {})",
                    f.name(),
                    schema.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let mut columns = Vec::with_capacity(schema.fields.len());
        for f in &schema.fields {
            let col = batch
                .column_by_name(&f.name)
                .ok_or_else(|| Error::SchemaMismatch(format!("column `{}` is missing from the batch", f.name)))?;
            let want = f.data_type.to_arrow();
            let col = if col.data_type() == &want {
                col.clone()
            } else if compatible(col.data_type(), &want) {
                let opts = compute::CastOptions { safe: false, ..Default::default() };
                compute::cast_with_options(col, &want, &opts).map_err(|e| {
                    Error::SchemaMismatch(format!(
                        "column `{}` cannot be stored as {}: {e}",
                        f.name,
                        f.data_type.to_json()
                    ))
                })?
            } else {
                return Err(Error::SchemaMismatch(format!(
                    "column `{}` has type {}, the table expects {}",
                    f.name,
                    col.data_type(),
                    f.data_type.to_json()
                )));
            };
            if !f.data_type.nullable && col.null_count() > 0 {
                return Err(Error::SchemaMismatch(format!(
                    "column `{}` is NOT NULL but the batch has {} null(s) in it",
                    f.name,
                    col.null_count()
                )));
            }
            columns.push(col);
        }
        let values = RecordBatch::try_new(schema.arrow_schema(), columns)?;
        let kind_source = self.row_kind_column.clone().or_else(|| self.options.rowkind_field.clone());
        let kinds = match kind_source {
            None => Int8Array::from(vec![RowKind::Insert as i8; batch.num_rows()]),
            Some(c) => {
                let col = batch
                    .column_by_name(&c)
                    .ok_or_else(|| Error::SchemaMismatch(format!("row kind column `{c}` is missing from the batch")))?;
                let s = compute::cast(col, &ArrowType::Utf8)
                    .map_err(|_| Error::SchemaMismatch(format!("row kind column `{c}` must be a string column")))?;
                let s = s.as_string::<i32>();
                let mut out = Vec::with_capacity(s.len());
                for i in 0..s.len() {
                    if s.is_null(i) {
                        return Err(Error::invalid(format!("row kind column `{c}` is null at row {i}")));
                    }
                    out.push(
                        RowKind::parse(s.value(i))
                            .map_err(|e| Error::invalid(format!("{e} at row {i} of column `{c}`")))?
                            as i8,
                    );
                }
                Int8Array::from(out)
            }
        };
        if self.schema.primary_keys.is_empty() {
            if let Some(i) = kinds.values().iter().position(|k| *k != RowKind::Insert as i8) {
                return Err(Error::invalid(format!(
                    "append table accepts only +I rows, row {i} has kind {}",
                    RowKind::from_byte(kinds.value(i)).map(|k| k.short_string()).unwrap_or("?")
                )));
            }
        }
        if self.options.ignore_delete {
            let keep: arrow::array::BooleanArray = kinds
                .iter()
                .map(|k| Some(!RowKind::from_byte(k.unwrap_or(0)).map(RowKind::is_retract).unwrap_or(false)))
                .collect();
            let values = compute::filter_record_batch(&values, &keep)?;
            let kinds = compute::filter(&kinds, &keep)?.as_primitive::<arrow::datatypes::Int8Type>().clone();
            return Ok((values, kinds));
        }
        Ok((values, kinds))
    }

    /// Groups row indices by (partition, bucket).
    fn route(&self, values: &RecordBatch) -> Result<Routed> {
        let n = values.num_rows();
        let mut groups: Routed = HashMap::new();
        let buckets = self.options.bucket;
        let fixed = buckets > 0 && !self.bucket_key_indices.is_empty();
        if self.partition_indices.is_empty() && !(fixed && buckets > 1) {
            // One bucket (or an unbucketed append table): everything goes to bucket 0.
            let bucket = 0;
            groups.insert(BucketKey::new(serialize_row(&[], &[])?, bucket), (Vec::new(), (0..n as u32).collect()));
            return Ok(groups);
        }
        let bucket_types: Vec<DataType> =
            self.bucket_key_indices.iter().map(|i| self.schema.fields[*i].data_type.clone()).collect();
        let mut bucket_vals = Vec::with_capacity(bucket_types.len());
        let mut part_vals = Vec::with_capacity(self.partition_indices.len());
        let mut last_part: Option<(Vec<Datum>, Vec<u8>)> = None;
        for row in 0..n {
            part_vals.clear();
            for i in &self.partition_indices {
                part_vals.push(Datum::from_array(values.column(*i), row, &self.schema.fields[*i].data_type)?);
            }
            let part_bytes = match &last_part {
                Some((v, b)) if *v == part_vals => b.clone(),
                _ => {
                    let b = serialize_row(&part_vals, &self.partition_types)?;
                    last_part = Some((part_vals.clone(), b.clone()));
                    b
                }
            };
            let bucket = if fixed && buckets > 1 {
                bucket_vals.clear();
                for i in &self.bucket_key_indices {
                    bucket_vals.push(Datum::from_array(values.column(*i), row, &self.schema.fields[*i].data_type)?);
                }
                bucket_of(&encode_row(&bucket_vals, &bucket_types)?, buckets)
            } else {
                0
            };
            groups
                .entry(BucketKey::new(part_bytes, bucket))
                .or_insert_with(|| (part_vals.clone(), Vec::new()))
                .1
                .push(row as u32);
        }
        Ok(groups)
    }

    /// Flushes every bucket's buffer to level-0 files.
    pub async fn flush_all(&mut self) -> Result<()> {
        let keys: Vec<_> = self.buffers.keys().cloned().collect();
        let mut sorted = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(s) = self.sort_bucket(&k)? {
                sorted.push(s);
            }
        }
        // The previous round's encoding overlapped the sorting above; wait for it so that at most one round
        // of sorted rows is held besides the buffer.
        self.collect_encoding().await?;
        for (key, partition, batch, changelog) in sorted {
            let dir = bucket_dir(&self.schema, &partition, key.bucket, &self.options.partition_default_name);
            let writer = self.file_writer.clone();
            let changelog_writer = self.changelog_writer.clone();
            let task = tokio::spawn(async move {
                let files = match batch {
                    None => Vec::new(),
                    Some(batch) => {
                        let batch = match batch {
                            Flushed::Sorted(b) => b,
                            Flushed::Gather(batches, picks) => {
                                let refs: Vec<&RecordBatch> = batches.iter().collect();
                                compute::interleave_record_batch(&refs, &picks)?
                            }
                        };
                        writer.write(&dir, &batch, 0, 0).await?
                    }
                };
                let changelog = match changelog {
                    Some(c) if c.num_rows() > 0 => changelog_writer.write(&dir, &c, 0, 0).await?,
                    _ => Vec::new(),
                };
                Ok((files, changelog))
            });
            self.encoding.push((key, partition, task));
        }
        self.buffered_bytes = 0;
        Ok(())
    }

    /// Sorts and merges one bucket's buffer, and gathers its changelog rows; `None` when nothing remains.
    fn sort_bucket(&mut self, key: &BucketKey) -> Result<Option<SortedBucket>> {
        let lookup_changes = self.changelog.remove(key);
        let Some(buf) = self.buffers.remove(key) else { return Ok(None) };
        if buf.batches.is_empty() {
            return Ok(None);
        }
        let changelog = match self.producer {
            // The input rows, in arrival order, with their sequence numbers and kinds.
            ChangelogProducer::Input => Some(compute::concat_batches(&buf.batches[0].schema(), &buf.batches)?),
            ChangelogProducer::Lookup => match lookup_changes {
                Some(c) => Some(compute::concat_batches(&file_schema(&self.schema), &c)?),
                None => None,
            },
            ChangelogProducer::None | ChangelogProducer::FullCompaction => None,
        };
        let sorted = if self.schema.primary_keys.is_empty() {
            compute::concat_batches(&buf.batches[0].schema(), &buf.batches)?
        } else if self.spec.engine == MergeEngine::Deduplicate && self.options.sequence_field.is_none() {
            // Picks the newest row per key straight from the buffered batches; the gather itself runs with the
            // encoding, on the other worker.
            let picks = deduplicate_picks(&buf.batches, self.key_indices.len())?;
            return Ok(Some((key.clone(), buf.partition, Some(Flushed::Gather(buf.batches, picks)), changelog)));
        } else {
            let merged = compute::concat_batches(&buf.batches[0].schema(), &buf.batches)?;
            sort_and_merge(&merged, &self.schema, &self.options, &self.spec)?
        };
        let data = (sorted.num_rows() > 0).then_some(Flushed::Sorted(sorted));
        if data.is_none() && changelog.as_ref().is_none_or(|c| c.num_rows() == 0) {
            return Ok(None);
        }
        Ok(Some((key.clone(), buf.partition, data, changelog)))
    }

    /// `lookup`: writes a bucket's pending changes as a changelog file in the background (on another worker,
    /// while the writer computes the next changes), before the data files of the same rows: the bucket's
    /// changelog files stay in the order of its changes.
    fn roll_changelog(&mut self, key: &BucketKey, partition: &[Datum], batches: Vec<RecordBatch>) {
        let dir = bucket_dir(&self.schema, partition, key.bucket, &self.options.partition_default_name);
        let writer = self.changelog_writer.clone();
        let schema = file_schema(&self.schema);
        let task = tokio::spawn(async move {
            let changes = compute::concat_batches(&schema, &batches)?;
            drop(batches);
            Ok((Vec::new(), writer.write(&dir, &changes, 0, 0).await?))
        });
        self.encoding.push((key.clone(), partition.to_vec(), task));
    }

    /// Waits for the files being encoded and adds them to the pending commit.
    async fn collect_encoding(&mut self) -> Result<()> {
        self.collect_encoding_to(0).await
    }

    /// Waits for the oldest files being encoded until at most `keep` are left in flight.
    async fn collect_encoding_to(&mut self, keep: usize) -> Result<()> {
        let total_buckets = self.options.bucket;
        let done = self.encoding.len().saturating_sub(keep);
        for (key, partition, task) in self.encoding.drain(..done).collect::<Vec<_>>() {
            let (files, changelog) =
                task.await.map_err(|e| Error::Internal(format!("file encoding task failed: {e}")))??;
            let msg = self.pending.entry(key.clone()).or_insert_with(|| CommitMessage {
                partition,
                bucket: key.bucket,
                total_buckets,
                new_files: Vec::new(),
                compact_before: Vec::new(),
                compact_after: Vec::new(),
                new_changelog: Vec::new(),
                compact_changelog: Vec::new(),
            });
            msg.new_files.extend(files);
            msg.new_changelog.extend(changelog);
        }
        Ok(())
    }

    /// Flushes everything and returns the files written since the last call, one message per bucket.
    pub async fn prepare_commit(&mut self) -> Result<Vec<CommitMessage>> {
        if let Some(reason) = &self.log_failed {
            return Err(Error::invalid(format!(
                "this writer cannot commit after a failure ({reason}); reopen the table writer to recover from its log"
            )));
        }
        let mut flushed = self.flush_all().await;
        if flushed.is_ok() {
            flushed = self.collect_encoding().await;
        }
        if let (Err(e), Some(_)) = (&flushed, &self.log) {
            self.log_failed = Some(format!("flushing logged changes failed: {e}"));
        }
        flushed?;
        if let Some(lookup) = self.lookup.as_mut() {
            // Everything changed since the last commit is in these files: after the commit, the committed LSM
            // holds the key states.
            lookup.committed();
        }
        let mut out: Vec<CommitMessage> = self.pending.drain().map(|(_, m)| m).collect();
        out.sort_by(|a, b| (format!("{:?}", a.partition), a.bucket).cmp(&(format!("{:?}", b.partition), b.bucket)));
        Ok(out)
    }

    /// Forgets what this writer knows of the partitions with these serialized rows, dropped by an overwrite
    /// (the `lookup` producer's key states). Call between commits.
    pub fn forget_partitions(&mut self, partitions: &HashSet<Vec<u8>>) {
        if let Some(lookup) = self.lookup.as_mut() {
            lookup.forget_partitions(partitions);
        }
    }

    /// Drops buffered rows and forgets uncommitted files (they stay on disk as orphans until cleaned).
    pub fn abort(&mut self) {
        self.encoding.clear();
        self.buffers.clear();
        self.pending.clear();
        self.changelog.clear();
        if let Some(lookup) = self.lookup.as_mut() {
            lookup.committed();
        }
        self.buffered_bytes = 0;
    }

    pub fn io(&self) -> &FileIO {
        &self.io
    }
}
