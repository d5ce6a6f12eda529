//! The table's embedded changelog (`log.system = 'embedded'`): every change a writer accepts is appended,
//! durably, to a per-bucket log of `dyntable-log-store` before it enters the write buffer, and every snapshot
//! records in `logOffsets` where each bucket's log stood when the snapshot was committed.
//!
//! This module holds the table's side of it: the record codec, the writer's [`TableLog`] and the decoder that
//! turns log batches back into rows of the current schema. The `log.*` options are parsed in
//! [`crate::options::log`]; hybrid reads (snapshot + log) are in [`crate::stream`].
//!
//! # Layout
//! One log per bucket (Paimon's `logOffsets` is keyed by bucket, as its log was a Kafka topic with one
//! partition per bucket): `<table>/log/bucket-<b>/` for a table in a local warehouse, or
//! `<log dir>/<db>.db/<table>/log/bucket-<b>/` when the warehouse is an object store and the catalog was given
//! a local log directory. Records carry all columns, partition fields included. An unbucketed append table has
//! one log, bucket 0.
//!
//! # A log batch
//! `[version u8 = 1][schema id i64 LE][Arrow IPC stream]`, the IPC batch holding `_ROW_KIND` (Int8, Paimon's
//! row-kind bytes: 0 `+I`, 1 `-U`, 2 `+U`, 3 `-D`) and then the table's columns as the schema with that id
//! names them. Readers map columns to the current schema by field id, as they do for data files.
//!
//! # Consistency
//! - `transactional` (the default, as in Paimon): a tailing reader sees a bucket's records only up to the
//!   offset recorded by the latest snapshot, so it never sees a change that a batch reader of the table cannot
//!   see yet.
//! - `eventual`: a tailing reader sees records as soon as they are durable in the log (fsync'd), before the
//!   commit. A record in the log is always committed eventually: a writer that crashed replays every record
//!   after the latest snapshot's offsets into its buffer when it is reopened, so the log and the table agree
//!   without any normalize step downstream.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, Int64Array, Int8Array, RecordBatch};
use arrow::compute;
use arrow::datatypes::Int8Type;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow_schema::{DataType as ArrowType, Field, Schema as ArrowSchema, SchemaRef};
use dyntable_log_store::Log;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;

use crate::error::{Error, Result};
use crate::schema::{SchemaManager, TableSchema};

use crate::options::LogConfig;

/// The directory of a table's logs, relative to the table directory.
pub const LOG_DIR: &str = "log";
/// The row-kind column of a log batch.
pub const KIND_COLUMN: &str = "_ROW_KIND";
const FORMAT_VERSION: u8 = 1;
/// A log batch of a `changelog-producer = lookup` table: the exact changes and, apart, the input rows.
const FORMAT_VERSION_LOOKUP: u8 = 2;
/// The role column of a version-2 log batch: [`ROLE_CHANGE`] or [`ROLE_INPUT`].
pub const ROLE_COLUMN: &str = "_ROLE";
/// A row readers see (an exact change).
pub const ROLE_CHANGE: i8 = 1;
/// A row only the writer's recovery replays (an input row the changes were computed from).
pub const ROLE_INPUT: i8 = 2;
/// The sequence-number column of a version-2 log batch.
pub const SEQUENCE_COLUMN: &str = "_SEQUENCE_NUMBER";
const HEADER_BYTES: usize = 9;

/// The directory of one bucket's log under a table's log directory.
pub fn bucket_log_dir(log_dir: &Path, bucket: i32) -> PathBuf {
    log_dir.join(format!("bucket-{bucket}"))
}

/// The buckets a table keeps logs for: `0..bucket`, or bucket 0 alone for an unbucketed table.
pub fn log_buckets(schema: &TableSchema) -> Result<Vec<i32>> {
    let buckets = schema.options()?.bucket;
    Ok((0..buckets.max(1)).collect())
}

/// Encodes changes (the table's columns in `values`, Paimon row-kind bytes in `kinds`) as one log batch.
pub fn encode_changes(schema_id: i64, values: &RecordBatch, kinds: &Int8Array) -> Result<Vec<u8>> {
    let mut fields = vec![Field::new(KIND_COLUMN, ArrowType::Int8, false)];
    fields.extend(values.schema().fields().iter().map(|f| f.as_ref().clone()));
    let mut columns: Vec<ArrayRef> = vec![Arc::new(kinds.clone())];
    columns.extend(values.columns().iter().cloned());
    let batch = RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), columns)?;
    encode_batch(FORMAT_VERSION, schema_id, &batch)
}

/// Rows with their kinds and sequence numbers, in the table's columns.
#[derive(Debug, Clone)]
pub struct LoggedRows {
    pub kinds: Int8Array,
    pub sequence: Int64Array,
    pub values: RecordBatch,
}

/// Encodes a `changelog-producer = lookup` log batch (version 2): `_ROW_KIND`, `_ROLE`, `_SEQUENCE_NUMBER`,
/// then the table's columns; the exact `changes` (role 1, what readers see) then the `input` rows they were
/// computed from (role 2, what recovery replays into the write buffer). The batch's record count is all its
/// rows.
pub fn encode_lookup_changes(schema_id: i64, changes: &LoggedRows, input: &LoggedRows) -> Result<Vec<u8>> {
    let values = compute::concat_batches(&input.values.schema(), [&changes.values, &input.values])?;
    let kinds = compute::concat(&[&changes.kinds, &input.kinds])?;
    let sequence = compute::concat(&[&changes.sequence, &input.sequence])?;
    let roles = Int8Array::from_iter_values(
        std::iter::repeat_n(ROLE_CHANGE, changes.kinds.len()).chain(std::iter::repeat_n(ROLE_INPUT, input.kinds.len())),
    );
    let mut fields = vec![
        Field::new(KIND_COLUMN, ArrowType::Int8, false),
        Field::new(ROLE_COLUMN, ArrowType::Int8, false),
        Field::new(SEQUENCE_COLUMN, ArrowType::Int64, false),
    ];
    fields.extend(values.schema().fields().iter().map(|f| f.as_ref().clone()));
    let mut columns: Vec<ArrayRef> = vec![kinds, Arc::new(roles), sequence];
    columns.extend(values.columns().iter().cloned());
    let batch = RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), columns)?;
    encode_batch(FORMAT_VERSION_LOOKUP, schema_id, &batch)
}

fn encode_batch(version: u8, schema_id: i64, batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(HEADER_BYTES + batch.get_array_memory_size());
    out.push(version);
    out.extend_from_slice(&schema_id.to_le_bytes());
    let mut writer = StreamWriter::try_new(&mut out, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// A decoded log batch, still in the schema it was written with.
#[derive(Debug, Clone)]
pub struct DecodedChanges {
    pub schema_id: i64,
    /// The kinds of the changes readers see.
    pub kinds: Int8Array,
    /// The changes' columns as schema `schema_id` had them.
    pub values: RecordBatch,
    /// Sequence numbers of the changes (version-2 batches only).
    pub sequence: Option<Int64Array>,
    /// The input rows the changes were computed from, when they differ (version 2: `lookup`); `None` when the
    /// changes are the input.
    pub input: Option<LoggedRows>,
    /// Records (log offsets) the batch covers: its rows, changes and input alike.
    pub records: usize,
}

/// Decodes one log batch; the error says what is wrong with it (the caller adds bucket and offset).
pub fn decode_changes(payload: &[u8]) -> std::result::Result<DecodedChanges, String> {
    if payload.len() < HEADER_BYTES {
        return Err(format!("log batch of {} bytes is shorter than its {HEADER_BYTES}-byte header", payload.len()));
    }
    let version = payload[0];
    if version != FORMAT_VERSION && version != FORMAT_VERSION_LOOKUP {
        return Err(format!(
            "unknown log batch version {version} (this dyntable reads versions {FORMAT_VERSION} and {FORMAT_VERSION_LOOKUP})"
        ));
    }
    let schema_id = i64::from_le_bytes(payload[1..HEADER_BYTES].try_into().map_err(|_| "short header".to_string())?);
    let reader = StreamReader::try_new(Cursor::new(&payload[HEADER_BYTES..]), None)
        .map_err(|e| format!("bad Arrow IPC stream: {e}"))?;
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch.map_err(|e| format!("bad Arrow IPC batch: {e}"))?);
    }
    let batch = match batches.len() {
        1 => batches.pop().expect("one batch"),
        n => return Err(format!("expected one Arrow batch in a log batch, found {n}")),
    };
    if batch.num_columns() == 0
        || batch.schema().field(0).name() != KIND_COLUMN
        || batch.column(0).data_type() != &ArrowType::Int8
    {
        return Err(format!("the first column of a log batch must be `{KIND_COLUMN}` (Int8)"));
    }
    let kinds = batch.column(0).as_primitive::<Int8Type>().clone();
    let records = batch.num_rows();
    if version == FORMAT_VERSION {
        let values = batch.project(&(1..batch.num_columns()).collect::<Vec<_>>()).map_err(|e| e.to_string())?;
        return Ok(DecodedChanges { schema_id, kinds, values, sequence: None, input: None, records });
    }
    let schema = batch.schema();
    if batch.num_columns() < 3
        || schema.field(1).name() != ROLE_COLUMN
        || batch.column(1).data_type() != &ArrowType::Int8
        || schema.field(2).name() != SEQUENCE_COLUMN
        || batch.column(2).data_type() != &ArrowType::Int64
    {
        return Err(format!(
            "a version-2 log batch must start with `{KIND_COLUMN}`, `{ROLE_COLUMN}`, `{SEQUENCE_COLUMN}`"
        ));
    }
    let roles = batch.column(1).as_primitive::<Int8Type>();
    if let Some(r) = roles.values().iter().find(|r| **r != ROLE_CHANGE && **r != ROLE_INPUT) {
        return Err(format!("unknown row role {r} in a version-2 log batch"));
    }
    let pick = |role: i8| -> std::result::Result<LoggedRows, String> {
        let mask: arrow::array::BooleanArray = roles.values().iter().map(|r| Some(*r == role)).collect();
        let rows = compute::filter_record_batch(&batch, &mask).map_err(|e| e.to_string())?;
        Ok(LoggedRows {
            kinds: rows.column(0).as_primitive::<Int8Type>().clone(),
            sequence: rows.column(2).as_primitive::<arrow::datatypes::Int64Type>().clone(),
            values: rows.project(&(3..rows.num_columns()).collect::<Vec<_>>()).map_err(|e| e.to_string())?,
        })
    };
    let changes = pick(ROLE_CHANGE)?;
    Ok(DecodedChanges {
        schema_id,
        kinds: changes.kinds,
        values: changes.values,
        sequence: Some(changes.sequence),
        input: Some(pick(ROLE_INPUT)?),
        records,
    })
}

/// Turns decoded log batches into rows of the current schema (columns matched by field id; a column added
/// since is null, a widened type is cast), loading older schemas once.
pub struct ChangeConformer {
    current: Arc<TableSchema>,
    /// The current schema's Arrow layout, built once.
    target: SchemaRef,
    schemas: SchemaManager,
    older: BTreeMap<i64, Arc<TableSchema>>,
}

impl ChangeConformer {
    pub fn new(current: Arc<TableSchema>, schemas: SchemaManager) -> ChangeConformer {
        ChangeConformer { target: current.arrow_schema(), current, schemas, older: BTreeMap::new() }
    }

    pub fn schema(&self) -> &Arc<TableSchema> {
        &self.current
    }

    /// The values of `changes` in the current schema's Arrow layout.
    pub async fn conform(&mut self, changes: &DecodedChanges) -> Result<RecordBatch> {
        self.conform_values(changes.schema_id, &changes.values).await
    }

    /// `values`, written with schema `schema_id`, in the current schema's Arrow layout.
    pub async fn conform_values(&mut self, schema_id: i64, values: &RecordBatch) -> Result<RecordBatch> {
        let target = self.target.clone();
        if schema_id == self.current.id && values.schema().fields().len() == target.fields().len() {
            return Ok(RecordBatch::try_new(target, values.columns().to_vec())?);
        }
        let written = match self.older.get(&schema_id) {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(self.schemas.schema(schema_id).await?);
                self.older.insert(schema_id, s.clone());
                s
            }
        };
        let rows = values.num_rows();
        let mut columns = Vec::with_capacity(self.current.fields.len());
        for (field, arrow_field) in self.current.fields.iter().zip(target.fields()) {
            let source = written.field_by_id(field.id).and_then(|old| values.column_by_name(&old.name));
            let column = match source {
                None => new_null_array(arrow_field.data_type(), rows),
                Some(c) if c.data_type() == arrow_field.data_type() => c.clone(),
                Some(c) => compute::cast(c, arrow_field.data_type()).map_err(|e| {
                    Error::SchemaMismatch(format!(
                        "log column `{}` of schema {} cannot be read as {}: {e}",
                        field.name,
                        schema_id,
                        arrow_field.data_type()
                    ))
                })?,
            };
            columns.push(column);
        }
        Ok(RecordBatch::try_new(target, columns)?)
    }
}

/// The writer's logs: one open [`Log`] per bucket, appended to before rows enter the write buffer.
pub struct TableLog {
    dir: PathBuf,
    logs: BTreeMap<i32, Arc<Log>>,
    /// Where sealed segments are uploaded (the table's `log/` in its object store), when the logs are kept
    /// outside the table directory; with it, retention deletes only uploaded segments.
    upload: Option<LogUpload>,
}

struct LogUpload {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// Per bucket, how many sealed segments were uploaded so far (uploads happen when this grows).
    sealed_uploaded: Mutex<BTreeMap<i32, usize>>,
}

/// The object-store prefix of one bucket's uploaded log segments under a table's `log/` prefix.
pub fn bucket_log_prefix(log_prefix: &ObjectPath, bucket: i32) -> ObjectPath {
    log_prefix.clone().join(format!("bucket-{bucket}"))
}

impl std::fmt::Debug for TableLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableLog")
            .field("dir", &self.dir)
            .field("buckets", &self.logs.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl TableLog {
    /// Opens (creating and recovering as needed) the logs of `buckets` under `dir`; returns the recovery
    /// warnings (a truncated torn tail, rebuilt indexes) for the caller to show.
    pub fn open(dir: &Path, config: &LogConfig, buckets: &[i32]) -> Result<(TableLog, Vec<String>)> {
        let mut logs = BTreeMap::new();
        let mut warnings = Vec::new();
        for bucket in buckets {
            let path = bucket_log_dir(dir, *bucket);
            let (log, report) = Log::open(&path, config.log_options())
                .map_err(|e| Error::log(format!("open the log of bucket {bucket}"), e))?;
            warnings.extend(report.warnings.into_iter().map(|w| format!("log of bucket {bucket}: {w}")));
            logs.insert(*bucket, Arc::new(log));
        }
        Ok((TableLog { dir: dir.to_path_buf(), logs, upload: None }, warnings))
    }

    /// Uploads sealed segments to `prefix/bucket-<b>/` of `store` (see [`TableLog::upload_sealed`]).
    pub fn with_upload(mut self, store: Arc<dyn ObjectStore>, prefix: ObjectPath) -> Self {
        self.upload = Some(LogUpload { store, prefix, sealed_uploaded: Mutex::new(BTreeMap::new()) });
        self
    }

    /// Uploads the segments sealed since the last call (idempotently: objects already there are skipped);
    /// returns how many were uploaded. Does nothing without an upload target.
    pub async fn upload_sealed(&self) -> Result<usize> {
        let Some(upload) = &self.upload else { return Ok(0) };
        let mut uploaded = 0;
        for (bucket, log) in &self.logs {
            let sealed = log.segment_base_offsets().len().saturating_sub(1);
            let done = upload
                .sealed_uploaded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(bucket)
                .copied()
                .unwrap_or(0);
            if sealed <= done {
                continue;
            }
            let prefix = bucket_log_prefix(&upload.prefix, *bucket);
            let report =
                dyntable_log_store::upload_sealed_segments(log.dir(), upload.store.clone(), &prefix).await.map_err(
                    |e| Error::log(format!("upload the sealed log segments of bucket {bucket} to `{prefix}`"), e),
                )?;
            uploaded += report.uploaded_segments.len();
            upload.sealed_uploaded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(*bucket, sealed);
        }
        Ok(uploaded)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log(&self, bucket: i32) -> Result<&Arc<Log>> {
        self.logs.get(&bucket).ok_or_else(|| {
            Error::Internal(format!("no log is open for bucket {bucket} under `{}`", self.dir.display()))
        })
    }

    /// Appends one batch per bucket, concurrently (so their fsyncs overlap), and returns once all are durable.
    /// On an error some buckets may hold their batch and others not; the caller must stop writing.
    pub async fn append(&self, batches: Vec<(i32, Vec<u8>, u32)>) -> Result<()> {
        let mut tasks = Vec::with_capacity(batches.len());
        for (bucket, payload, records) in batches {
            let log = self.log(bucket)?.clone();
            tasks.push(tokio::task::spawn_blocking(move || (bucket, log.append(&payload, records))));
        }
        let mut first_error = None;
        for task in tasks {
            let (bucket, result) = task.await.map_err(|e| Error::Internal(format!("log append task failed: {e}")))?;
            if let Err(e) = result {
                first_error.get_or_insert(Error::log(format!("append to the log of bucket {bucket}"), e));
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Each bucket's durable end: the offsets a snapshot of everything appended so far records.
    pub fn next_offsets(&self) -> BTreeMap<i32, i64> {
        self.logs.iter().map(|(b, log)| (*b, log.next_offset() as i64)).collect()
    }

    /// Whether any bucket's log has a sealed segment (only those can be deleted by retention).
    pub fn has_sealed_segments(&self) -> bool {
        self.logs.values().any(|log| log.segment_base_offsets().len() > 1)
    }

    /// Deletes, per bucket, whole sealed segments below `keep[bucket]`; returns the number deleted.
    /// With an upload target only segments already uploaded are deleted.
    pub async fn truncate_before(&self, keep: &BTreeMap<i32, i64>) -> Result<usize> {
        let mut deleted = 0;
        for (bucket, offset) in keep {
            if let Some(log) = self.logs.get(bucket) {
                let offset = (*offset).max(0) as u64;
                let report = match &self.upload {
                    Some(upload) => {
                        log.truncate_before_uploaded(
                            offset,
                            upload.store.as_ref(),
                            &bucket_log_prefix(&upload.prefix, *bucket),
                        )
                        .await
                    }
                    None => log.truncate_before(offset),
                }
                .map_err(|e| Error::log(format!("retention of bucket {bucket}"), e))?;
                deleted += report.deleted_segments;
            }
        }
        Ok(deleted)
    }
}

/// Row kinds of `values` selected by `indices` (a whole batch when `indices` covers it).
pub(crate) fn take_changes(
    values: &RecordBatch,
    kinds: &Int8Array,
    indices: &[u32],
) -> Result<(RecordBatch, Int8Array)> {
    if indices.len() == values.num_rows() && indices.iter().enumerate().all(|(i, r)| i as u32 == *r) {
        return Ok((values.clone(), kinds.clone()));
    }
    let idx = arrow::array::UInt32Array::from(indices.to_vec());
    Ok((
        compute::take_record_batch(values, &idx)?,
        compute::take(kinds, &idx, None)?.as_primitive::<Int8Type>().clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    /// A batch survives encoding with its schema id, kinds and values; damaged payloads are named errors.
    #[test]
    fn codec_round_trip_and_errors() {
        let schema = Arc::new(ArrowSchema::new(vec![
            Field::new("k", ArrowType::Int64, false),
            Field::new("v", ArrowType::Utf8, true),
        ]));
        let values = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(StringArray::from(vec![Some("a"), None]))],
        )
        .unwrap();
        let kinds = Int8Array::from(vec![0, 3]);
        let payload = encode_changes(7, &values, &kinds).unwrap();
        let decoded = decode_changes(&payload).unwrap();
        assert_eq!(decoded.schema_id, 7);
        assert_eq!(decoded.kinds, kinds);
        assert_eq!(decoded.values, values);
        assert!(decode_changes(&payload[..5]).unwrap_err().contains("shorter"));
        let mut bad = payload.clone();
        bad[0] = 9;
        assert!(decode_changes(&bad).unwrap_err().contains("version 9"));
        assert!(decode_changes(&payload[..payload.len() / 2]).unwrap_err().contains("Arrow"));
        assert!(decoded.input.is_none() && decoded.sequence.is_none());
    }

    /// A `lookup` log batch (version 2) keeps the changes (what readers get) apart from the input rows (what
    /// recovery replays), each with its sequence numbers; its records are both.
    #[test]
    fn lookup_batches_keep_changes_and_input_apart() {
        let schema = Arc::new(ArrowSchema::new(vec![Field::new("k", ArrowType::Int64, false)]));
        let rows =
            |keys: Vec<i64>| RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(keys))]).unwrap();
        let changes = LoggedRows {
            kinds: Int8Array::from(vec![1, 2, 3]),
            sequence: Int64Array::from(vec![4, 9, 5]),
            values: rows(vec![1, 1, 2]),
        };
        let input = LoggedRows {
            kinds: Int8Array::from(vec![0, 3]),
            sequence: Int64Array::from(vec![9, 10]),
            values: rows(vec![1, 2]),
        };
        let payload = encode_lookup_changes(3, &changes, &input).unwrap();
        let decoded = decode_changes(&payload).unwrap();
        assert_eq!((decoded.schema_id, decoded.records), (3, 5));
        assert_eq!((&decoded.kinds, &decoded.values), (&changes.kinds, &changes.values));
        assert_eq!(decoded.sequence.as_ref(), Some(&changes.sequence));
        let replay = decoded.input.unwrap();
        assert_eq!((replay.kinds, replay.sequence, replay.values), (input.kinds, input.sequence, input.values));
        let mut bad = payload.clone();
        bad[0] = 3;
        assert!(decode_changes(&bad).unwrap_err().contains("version 3"));
    }
}
