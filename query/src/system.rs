//! System tables: `t$snapshots`, `t$schemas`, `t$options`, `t$files`, `t$manifests`, `t$partitions`,
//! `t$audit_log`, `t$tags`, `t$consumers`, with Paimon's column names.
//!
//! Each is materialized from the table's metadata when a query is planned (metadata is small: one row
//! per snapshot, schema, file...). `t$audit_log` reads the table's data through the merge-on-read of the
//! table's merge engine: the merged rows with the row kind the merge produced (`+I`, `+U`); with the
//! `incremental-between` option (an `OPTIONS` hint) it holds the changes between two snapshots instead.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::compute;
use arrow::datatypes::{DataType as ArrowType, Field, Int8Type, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use dyntable_storage::binary_row::deserialize_row;
use dyntable_storage::datafile::bucket_dir;
use dyntable_storage::incremental::{parse_between, parse_between_timestamp, Between};
use dyntable_storage::manifest::ManifestStore;
use dyntable_storage::schema::SchemaManager;
use dyntable_storage::{ChangeScanMode, Datum, FileStoreTable, RowKind, ScanFrom, TableSchema};
use futures::TryStreamExt;

use crate::error::external;

/// The system tables, by suffix.
pub const SYSTEM_TABLES: &[&str] =
    &["snapshots", "schemas", "options", "files", "manifests", "partitions", "audit_log", "tags", "consumers"];

/// Builds system table `name` of `table`.
pub async fn system_table(table: &FileStoreTable, name: &str) -> Result<Arc<dyn TableProvider>> {
    let batch = match name {
        "snapshots" => snapshots(table).await?,
        "schemas" => schemas(table).await?,
        "options" => options(table)?,
        "files" => files(table, &ScanFrom::Latest).await?,
        "manifests" => manifests(table).await?,
        "partitions" => partitions(table).await?,
        "audit_log" => audit_log(table).await?,
        "tags" => tags(table).await?,
        "consumers" => consumers(table).await?,
        other => {
            return Err(DataFusionError::Plan(format!(
                "unknown system table `{}${other}`; system tables are: {}",
                table.name(),
                SYSTEM_TABLES.iter().map(|s| format!("${s}")).collect::<Vec<_>>().join(", ")
            )))
        }
    };
    Ok(Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?))
}

/// The `files` system table of `table` as of `from` (Paimon's `t$files` read with `scan.snapshot-id` / `scan.tag-name`).
pub async fn files_at(table: &FileStoreTable, from: &ScanFrom) -> Result<Arc<dyn TableProvider>> {
    let batch = files(table, from).await?;
    Ok(Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?))
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns.into_iter().map(|(_, a)| a).collect())?)
}

fn strings<I: IntoIterator<Item = Option<String>>>(v: I) -> ArrayRef {
    Arc::new(StringArray::from(v.into_iter().collect::<Vec<_>>()))
}

fn longs<I: IntoIterator<Item = Option<i64>>>(v: I) -> ArrayRef {
    Arc::new(Int64Array::from(v.into_iter().collect::<Vec<_>>()))
}

fn times<I: IntoIterator<Item = Option<i64>>>(v: I) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from(v.into_iter().collect::<Vec<_>>()))
}

/// `{v1, v2}` as Paimon prints partitions and keys.
fn row_text(values: &[Datum]) -> String {
    format!("{{{}}}", values.iter().map(|d| d.to_partition_string()).collect::<Vec<_>>().join(", "))
}

fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

async fn snapshots(table: &FileStoreTable) -> Result<RecordBatch> {
    let all = table.snapshot_manager().all().await.map_err(external)?;
    batch(vec![
        ("snapshot_id", longs(all.iter().map(|s| Some(s.id)))),
        ("schema_id", longs(all.iter().map(|s| Some(s.schema_id)))),
        ("commit_user", strings(all.iter().map(|s| Some(s.commit_user.clone())))),
        ("commit_identifier", longs(all.iter().map(|s| Some(s.commit_identifier)))),
        ("commit_kind", strings(all.iter().map(|s| Some(json_text(&s.commit_kind).trim_matches('"').to_string())))),
        ("commit_time", times(all.iter().map(|s| Some(s.time_millis)))),
        ("base_manifest_list", strings(all.iter().map(|s| Some(s.base_manifest_list.clone())))),
        ("delta_manifest_list", strings(all.iter().map(|s| Some(s.delta_manifest_list.clone())))),
        ("changelog_manifest_list", strings(all.iter().map(|s| s.changelog_manifest_list.clone()))),
        ("total_record_count", longs(all.iter().map(|s| s.total_record_count))),
        ("delta_record_count", longs(all.iter().map(|s| s.delta_record_count))),
        ("changelog_record_count", longs(all.iter().map(|s| s.changelog_record_count))),
        ("watermark", longs(all.iter().map(|s| s.watermark))),
    ])
}

async fn schemas(table: &FileStoreTable) -> Result<RecordBatch> {
    let manager = SchemaManager::new(table.io().clone());
    let mut all = Vec::new();
    for id in manager.list_ids().await.map_err(external)? {
        all.push(manager.schema(id).await.map_err(external)?);
    }
    batch(vec![
        ("schema_id", longs(all.iter().map(|s| Some(s.id)))),
        (
            "fields",
            strings(
                all.iter().map(|s| {
                    Some(serde_json::Value::Array(s.fields.iter().map(|f| f.to_json()).collect()).to_string())
                }),
            ),
        ),
        ("partition_keys", strings(all.iter().map(|s| Some(json_text(&s.partition_keys))))),
        ("primary_keys", strings(all.iter().map(|s| Some(json_text(&s.primary_keys))))),
        ("options", strings(all.iter().map(|s| Some(json_text(&s.options))))),
        ("comment", strings(all.iter().map(|s| s.comment.clone()))),
        ("update_time", times(all.iter().map(|s| Some(s.time_millis)))),
    ])
}

fn options(table: &FileStoreTable) -> Result<RecordBatch> {
    let o = &table.schema().options;
    batch(vec![
        ("key", strings(o.keys().map(|k| Some(k.clone())))),
        ("value", strings(o.values().map(|v| Some(v.clone())))),
    ])
}

async fn files(table: &FileStoreTable, from: &ScanFrom) -> Result<RecordBatch> {
    let schema = table.schema();
    let default_name = schema.options().map_err(external)?.partition_default_name;
    let entries = table.files(from).await.map_err(external)?;
    let partition_types = schema.partition_types();
    let key_types: Vec<_> = schema.key_fields().iter().map(|f| f.data_type.clone()).collect();
    let pk = !schema.primary_keys.is_empty();
    let (mut partition, mut path, mut min_key, mut max_key) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for e in &entries {
        let values = deserialize_row(&e.partition, &partition_types).map_err(external)?;
        path.push(Some(match &e.file.external_path {
            Some(p) => p.clone(),
            None => format!("{}/{}", bucket_dir(schema, &values, e.bucket, &default_name), e.file.file_name),
        }));
        partition.push(Some(row_text(&values)));
        let key = |bytes: &[u8]| -> Option<String> {
            if pk {
                deserialize_row(bytes, &key_types).ok().map(|k| row_text(&k))
            } else {
                None
            }
        };
        min_key.push(key(&e.file.min_key));
        max_key.push(key(&e.file.max_key));
    }
    batch(vec![
        ("partition", strings(partition)),
        ("bucket", Arc::new(Int32Array::from(entries.iter().map(|e| Some(e.bucket)).collect::<Vec<_>>()))),
        ("file_path", strings(path)),
        ("file_format", strings(entries.iter().map(|_| Some("parquet".to_string())))),
        ("schema_id", longs(entries.iter().map(|e| Some(e.file.schema_id)))),
        ("level", Arc::new(Int32Array::from(entries.iter().map(|e| Some(e.file.level)).collect::<Vec<_>>()))),
        ("record_count", longs(entries.iter().map(|e| Some(e.file.row_count)))),
        ("file_size_in_bytes", longs(entries.iter().map(|e| Some(e.file.file_size)))),
        ("min_key", strings(min_key)),
        ("max_key", strings(max_key)),
        ("min_sequence_number", longs(entries.iter().map(|e| Some(e.file.min_sequence_number)))),
        ("max_sequence_number", longs(entries.iter().map(|e| Some(e.file.max_sequence_number)))),
        ("creation_time", times(entries.iter().map(|e| e.file.creation_time_millis))),
    ])
}

async fn manifests(table: &FileStoreTable) -> Result<RecordBatch> {
    let metas = match table.snapshot_manager().latest().await.map_err(external)? {
        Some(s) => dyntable_storage::scan::data_manifests(&ManifestStore::new(table.io().clone()), &s)
            .await
            .map_err(external)?,
        None => Vec::new(),
    };
    batch(vec![
        ("file_name", strings(metas.iter().map(|m| Some(m.file_name.clone())))),
        ("file_size", longs(metas.iter().map(|m| Some(m.file_size)))),
        ("num_added_files", longs(metas.iter().map(|m| Some(m.num_added_files)))),
        ("num_deleted_files", longs(metas.iter().map(|m| Some(m.num_deleted_files)))),
        ("schema_id", longs(metas.iter().map(|m| Some(m.schema_id)))),
    ])
}

async fn partitions(table: &FileStoreTable) -> Result<RecordBatch> {
    let schema = table.schema();
    let types = schema.partition_types();
    // partition text -> (records, bytes, files, last update)
    let mut acc: BTreeMap<String, (i64, i64, i64, Option<i64>)> = BTreeMap::new();
    for e in table.files(&ScanFrom::Latest).await.map_err(external)? {
        let values = deserialize_row(&e.partition, &types).map_err(external)?;
        let a = acc.entry(row_text(&values)).or_default();
        a.0 += e.file.row_count;
        a.1 += e.file.file_size;
        a.2 += 1;
        a.3 = a.3.max(e.file.creation_time_millis);
    }
    batch(vec![
        ("partition", strings(acc.keys().map(|k| Some(k.clone())))),
        ("record_count", longs(acc.values().map(|a| Some(a.0)))),
        ("file_size_in_bytes", longs(acc.values().map(|a| Some(a.1)))),
        ("file_count", longs(acc.values().map(|a| Some(a.2)))),
        ("last_update_time", times(acc.values().map(|a| a.3))),
    ])
}

async fn tags(table: &FileStoreTable) -> Result<RecordBatch> {
    let tags = table.snapshot_manager().tags().await.map_err(external)?;
    batch(vec![
        ("tag_name", strings(tags.iter().map(|(n, _)| Some(n.clone())))),
        ("snapshot_id", longs(tags.iter().map(|(_, s)| Some(s.id)))),
        ("schema_id", longs(tags.iter().map(|(_, s)| Some(s.schema_id)))),
        ("commit_time", times(tags.iter().map(|(_, s)| Some(s.time_millis)))),
        ("record_count", longs(tags.iter().map(|(_, s)| s.total_record_count))),
    ])
}

async fn consumers(table: &FileStoreTable) -> Result<RecordBatch> {
    let io = table.io();
    let mut rows: Vec<(String, i64)> = Vec::new();
    for name in io.list_names("consumer").await.map_err(external)? {
        let Some(id) = name.strip_prefix("consumer-") else { continue };
        let Some(bytes) = io.read_opt(&format!("consumer/{name}")).await.map_err(external)? else { continue };
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            DataFusionError::Execution(format!(
                "consumer file `{}` is not valid json: {e}",
                io.path(&format!("consumer/{name}"))
            ))
        })?;
        let next = v.get("nextSnapshot").and_then(serde_json::Value::as_i64).ok_or_else(|| {
            DataFusionError::Execution(format!(
                "consumer file `{}` has no `nextSnapshot` number",
                io.path(&format!("consumer/{name}"))
            ))
        })?;
        rows.push((id.to_string(), next));
    }
    rows.sort();
    batch(vec![
        ("consumer_id", strings(rows.iter().map(|r| Some(r.0.clone())))),
        ("next_snapshot_id", longs(rows.iter().map(|r| Some(r.1)))),
    ])
}

/// The changes between two snapshots, as the `incremental-between` options name them: by snapshot ids, by
/// tags (the difference between the tagged snapshots), or by commit times (`incremental-between-timestamp`,
/// resolved to snapshots when read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incremental {
    pub range: Range,
    pub mode: ChangeScanMode,
}

/// What an incremental read's range names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    Snapshots(i64, i64),
    Tags(String, String),
    /// Milliseconds since the epoch.
    Timestamps(i64, i64),
}

impl Incremental {
    /// From the option values (errors name the option).
    pub fn parse(between: &str, mode: Option<&str>) -> Result<Incremental> {
        let range = match parse_between(between).map_err(|e| DataFusionError::Plan(e.to_string()))? {
            Between::Snapshots(a, b) => Range::Snapshots(a, b),
            Between::Tags(a, b) => Range::Tags(a, b),
        };
        Ok(Incremental { range, mode: parse_mode(mode)? })
    }

    /// From `incremental-between-timestamp` (and the scan mode).
    pub fn parse_timestamps(between: &str, mode: Option<&str>) -> Result<Incremental> {
        let (start, end) = parse_between_timestamp(between).map_err(|e| DataFusionError::Plan(e.to_string()))?;
        Ok(Incremental { range: Range::Timestamps(start, end), mode: parse_mode(mode)? })
    }
}

fn parse_mode(mode: Option<&str>) -> Result<ChangeScanMode> {
    match mode {
        Some(m) => m.parse::<ChangeScanMode>().map_err(|e| DataFusionError::Plan(e.to_string())),
        None => Ok(ChangeScanMode::Auto),
    }
}

/// `t$audit_log` read with `incremental-between` or `incremental-between-timestamp` (and
/// `incremental-between-scan-mode`): the changes of the snapshots after the start up to the end, each row with
/// its kind (see `dyntable_storage::incremental`).
pub async fn audit_log_between(table: &FileStoreTable, incremental: &Incremental) -> Result<Arc<dyn TableProvider>> {
    let mode = incremental.mode;
    let (schema, stream) = match &incremental.range {
        Range::Snapshots(start, end) => table.incremental_between(*start, *end, mode).await,
        Range::Timestamps(start, end) => table.incremental_between_timestamps(*start, *end, mode).await,
        Range::Tags(start, end) => {
            if mode != ChangeScanMode::Auto {
                return Err(DataFusionError::Plan(format!(
                    "`incremental-between-scan-mode` = '{mode}' applies to snapshot ranges; a range of tags ('{start},{end}') reads the difference between the tagged snapshots"
                )));
            }
            table.incremental_between_tags(start, end).await
        }
    }
    .map_err(external)?;
    let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(external)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
}

/// The schema of `t$audit_log`: `rowkind` then the table's columns.
fn audit_schema(schema: &TableSchema) -> SchemaRef {
    let mut fields = vec![Field::new("rowkind", ArrowType::Utf8, false)];
    fields.extend(schema.arrow_schema().fields().iter().map(|f| f.as_ref().clone()));
    Arc::new(Schema::new(fields))
}

/// `t$audit_log` in batch mode, as Paimon reads it: the table's merged rows (what a scan returns, for
/// every merge engine), each with the row kind the merge produced (`+I`/`+U` for deduplicate, `+I` for
/// partial-update, aggregation and first-row and for append tables); retracted keys are left out.
async fn audit_log(table: &FileStoreTable) -> Result<RecordBatch> {
    let out_schema = audit_schema(table.schema());
    let plan = table.plan(&ScanFrom::Latest, None).await.map_err(external)?;
    let read = table.new_read(None, None).map_err(external)?.with_row_kind(true);
    let batches: Vec<RecordBatch> = read.read_splits(plan.splits).try_collect().await.map_err(external)?;
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let kind_text: StringArray = b
            .column(0)
            .as_primitive::<Int8Type>()
            .values()
            .iter()
            .map(|k| Some(RowKind::from_byte(*k).map(RowKind::short_string).unwrap_or("?")))
            .collect();
        let mut columns: Vec<ArrayRef> = vec![Arc::new(kind_text)];
        for (c, f) in b.columns().iter().skip(1).zip(out_schema.fields().iter().skip(1)) {
            columns.push(if c.data_type() == f.data_type() {
                c.clone()
            } else {
                compute::cast(c, f.data_type()).unwrap_or_else(|_| new_null_array(f.data_type(), c.len()))
            });
        }
        out.push(RecordBatch::try_new(out_schema.clone(), columns)?);
    }
    Ok(compute::concat_batches(&out_schema, &out)?)
}
