//! Data files: the physical Parquet layout of primary-key (`_KEY_*`, `_SEQUENCE_NUMBER`, `_VALUE_KIND`,
//! then the table columns) and append tables, writing sorted rows into rolling files with their manifest
//! metadata, and reading files back in the current schema (files written under older schemas are mapped
//! by field id).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::Int8Type;
use arrow_schema::{DataType as ArrowType, Field, Schema as ArrowSchema, SchemaRef};
use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
#[allow(deprecated)] // still the simplest object_store adapter in parquet 59
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::{ArrowWriter, ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::binary_row::serialize_row;
use crate::datum::Datum;
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::manifest::{DataFileMeta, SimpleStats};
use crate::options::{Compression, CoreOptions};
use crate::schema::TableSchema;
use crate::stats::{column_stats, to_simple_stats, ColStats};
use crate::types::{DataField, TypeKind};

pub const KEY_PREFIX: &str = "_KEY_";
/// dyntable's own option: rows per Parquet row group (smaller groups prune finer; default 1M rows).
pub const ROW_GROUP_ROWS: &str = "dyntable.parquet.row-group-rows";
pub const SEQUENCE_NUMBER: &str = "_SEQUENCE_NUMBER";
pub const VALUE_KIND: &str = "_VALUE_KIND";
pub const KEY_FIELD_ID_START: i32 = i32::MAX / 2;
pub const SEQUENCE_NUMBER_FIELD_ID: i32 = i32::MAX - 1;
pub const VALUE_KIND_FIELD_ID: i32 = i32::MAX - 2;

/// A change's kind, stored in `_VALUE_KIND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum RowKind {
    Insert = 0,
    UpdateBefore = 1,
    UpdateAfter = 2,
    Delete = 3,
}

impl RowKind {
    pub fn parse(s: &str) -> Result<RowKind> {
        match s.trim() {
            "+I" => Ok(RowKind::Insert),
            "-U" => Ok(RowKind::UpdateBefore),
            "+U" => Ok(RowKind::UpdateAfter),
            "-D" => Ok(RowKind::Delete),
            other => Err(Error::invalid(format!("unknown row kind `{other}`: expected +I, -U, +U or -D"))),
        }
    }
    pub fn from_byte(b: i8) -> Option<RowKind> {
        match b {
            0 => Some(RowKind::Insert),
            1 => Some(RowKind::UpdateBefore),
            2 => Some(RowKind::UpdateAfter),
            3 => Some(RowKind::Delete),
            _ => None,
        }
    }
    pub fn short_string(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }
    /// -U and -D retract a row; +I and +U add one.
    pub fn is_retract(self) -> bool {
        matches!(self, RowKind::UpdateBefore | RowKind::Delete)
    }
}

/// The Arrow field of `_KEY_<name>` for a key field.
pub fn key_field(f: &DataField) -> Field {
    Field::new(format!("{KEY_PREFIX}{}", f.name), f.data_type.to_arrow(), false)
        .with_metadata([("PARQUET:field_id".to_string(), (KEY_FIELD_ID_START + f.id).to_string())].into())
}

pub fn sequence_field() -> Field {
    Field::new(SEQUENCE_NUMBER, ArrowType::Int64, false).with_metadata([("PARQUET:field_id".to_string(), SEQUENCE_NUMBER_FIELD_ID.to_string())].into())
}

pub fn kind_field() -> Field {
    Field::new(VALUE_KIND, ArrowType::Int8, false).with_metadata([("PARQUET:field_id".to_string(), VALUE_KIND_FIELD_ID.to_string())].into())
}

/// The physical schema of the table's data files.
pub fn file_schema(schema: &TableSchema) -> SchemaRef {
    if schema.primary_keys.is_empty() {
        return schema.arrow_schema();
    }
    let mut fields: Vec<Field> = schema.key_fields().iter().map(key_field).collect();
    fields.push(sequence_field());
    fields.push(kind_field());
    fields.extend(schema.fields.iter().map(DataField::to_arrow));
    Arc::new(ArrowSchema::new(fields))
}

/// The relative directory of a bucket: `k1=v1/k2=v2/bucket-N`.
pub fn bucket_dir(schema: &TableSchema, partition: &[Datum], bucket: i32, default_name: &str) -> String {
    let mut parts: Vec<String> = schema
        .partition_keys
        .iter()
        .zip(partition)
        .map(|(k, v)| format!("{}={}", escape_path_name(k), if v.is_null() { default_name.to_string() } else { escape_path_name(&v.to_partition_string()) }))
        .collect();
    parts.push(format!("bucket-{bucket}"));
    parts.join("/")
}

/// Hive's path escaping, as Paimon's `PartitionPathUtils.escapePathName`.
pub fn escape_path_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let needs = (c as u32) < 0x20 || matches!(c, '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '\x7f' | '{' | '[' | ']' | '^');
        if needs {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes sorted rows of one bucket into Parquet files, rolling at the target file size.
#[derive(Clone)]
pub struct DataFileWriter {
    io: FileIO,
    schema: Arc<TableSchema>,
    options: CoreOptions,
    props: WriterProperties,
    prefix: String,
    counter: Arc<AtomicU64>,
}

impl DataFileWriter {
    pub fn new(io: FileIO, schema: Arc<TableSchema>, options: CoreOptions, writer_uuid: &str, counter: Arc<AtomicU64>) -> Self {
        let compression = match options.compression {
            Compression::Zstd(level) => PqCompression::ZSTD(ZstdLevel::try_new(level).unwrap_or_default()),
            Compression::Snappy => PqCompression::SNAPPY,
            Compression::Lz4 => PqCompression::LZ4_RAW,
            Compression::Gzip => PqCompression::GZIP(Default::default()),
            Compression::None => PqCompression::UNCOMPRESSED,
        };
        let mut builder = WriterProperties::builder().set_compression(compression);
        if let Some(rows) = options.raw.get(ROW_GROUP_ROWS).and_then(|v| v.trim().parse::<usize>().ok()).filter(|r| *r > 0) {
            builder = builder.set_max_row_group_row_count(Some(rows));
        }
        // Java Paimon 0.9 cannot read dictionary-encoded FIXED_LEN_BYTE_ARRAY decimals (precision > 18).
        for f in &schema.fields {
            if let TypeKind::Decimal { precision, .. } = f.data_type.kind {
                if precision > 18 {
                    builder = builder.set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from(f.name.clone()), false);
                    let key = format!("{KEY_PREFIX}{}", f.name);
                    builder = builder.set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from(key), false);
                }
            }
        }
        DataFileWriter { io, schema, options, props: builder.build(), prefix: format!("data-{writer_uuid}-"), counter }
    }

    fn next_file_name(&self) -> String {
        format!("{}{}.parquet", self.prefix, self.counter.fetch_add(1, Ordering::Relaxed))
    }

    /// Writes `batch` (in the table's file schema; for primary-key tables sorted by key with each key once)
    /// to `bucket_dir`, at `level`. Returns one `DataFileMeta` per file written.
    pub async fn write(&self, bucket_dir: &str, batch: &RecordBatch, level: i32, file_source: i32) -> Result<Vec<DataFileMeta>> {
        let mut w = self.rolling(bucket_dir, level, file_source);
        w.write(batch).await?;
        w.close().await
    }

    /// A writer that takes sorted batches one after another and rolls files at `target-file-size`.
    pub fn rolling(&self, bucket_dir: &str, level: i32, file_source: i32) -> RollingWriter<'_> {
        RollingWriter { parent: self, dir: bucket_dir.to_string(), level, file_source, current: None, done: Vec::new() }
    }
}

/// An open output file and the statistics of what went into it so far.
struct InProgress {
    name: String,
    writer: ArrowWriter<Vec<u8>>,
    rows: i64,
    value_stats: Vec<ColStats>,
    key_stats: Vec<ColStats>,
    min_key: Option<Vec<Datum>>,
    max_key: Option<Vec<Datum>>,
    min_seq: i64,
    max_seq: i64,
    deletes: i64,
}

/// Writes a sorted stream of batches of one bucket into files rolled at `target-file-size`; statistics are
/// accumulated per batch so a file's rows are never held in memory (only its encoded bytes).
pub struct RollingWriter<'a> {
    parent: &'a DataFileWriter,
    dir: String,
    level: i32,
    file_source: i32,
    current: Option<InProgress>,
    done: Vec<DataFileMeta>,
}

impl RollingWriter<'_> {
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let target = self.parent.options.target_file_size(!self.parent.schema.primary_keys.is_empty());
        let slice_rows = 8192;
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = slice_rows.min(batch.num_rows() - offset);
            let slice = batch.slice(offset, len);
            offset += len;
            if self.current.is_none() {
                let name = self.parent.next_file_name();
                let writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(self.parent.props.clone()))
                    .map_err(|e| Error::Parquet { path: name.clone(), source: e })?;
                self.current = Some(InProgress {
                    name,
                    writer,
                    rows: 0,
                    value_stats: Vec::new(),
                    key_stats: Vec::new(),
                    min_key: None,
                    max_key: None,
                    min_seq: i64::MAX,
                    max_seq: i64::MIN,
                    deletes: 0,
                });
            }
            let cur = self.current.as_mut().expect("opened above");
            cur.writer.write(&slice).map_err(|e| Error::Parquet { path: cur.name.clone(), source: e })?;
            self.parent.accumulate(cur, &slice)?;
            if (cur.writer.bytes_written() + cur.writer.in_progress_size()) as u64 >= target {
                self.finish_file().await?;
            }
        }
        Ok(())
    }

    async fn finish_file(&mut self) -> Result<()> {
        let Some(cur) = self.current.take() else { return Ok(()) };
        let name = cur.name.clone();
        let bytes = cur.writer.into_inner().map_err(|e| Error::Parquet { path: name.clone(), source: e })?;
        let schema = &self.parent.schema;
        let mode = self.parent.options.stats_mode;
        let value_types: Vec<_> = schema.fields.iter().map(|f| f.data_type.clone()).collect();
        let empty = serialize_row(&[], &[])?;
        let (min_key, max_key, key_stats, min_seq, max_seq) = if schema.primary_keys.is_empty() {
            (empty.clone(), empty, SimpleStats::empty(), 0, 0)
        } else {
            let key_types: Vec<_> = schema.key_fields().iter().map(|f| f.data_type.clone()).collect();
            (
                serialize_row(&cur.min_key.unwrap_or_default(), &key_types)?,
                serialize_row(&cur.max_key.unwrap_or_default(), &key_types)?,
                to_simple_stats(&cur.key_stats, &key_types, mode)?,
                cur.min_seq,
                cur.max_seq,
            )
        };
        let meta = DataFileMeta {
            file_name: name.clone(),
            file_size: bytes.len() as i64,
            row_count: cur.rows,
            min_key,
            max_key,
            key_stats,
            value_stats: to_simple_stats(&cur.value_stats, &value_types, mode)?,
            min_sequence_number: min_seq,
            max_sequence_number: max_seq,
            schema_id: schema.id,
            level: self.level,
            extra_files: Vec::new(),
            creation_time_millis: Some(chrono::Utc::now().timestamp_millis()),
            delete_row_count: Some(cur.deletes),
            embedded_index: None,
            file_source: Some(self.file_source),
            value_stats_cols: None,
            external_path: None,
            first_row_id: None,
            write_cols: None,
        };
        self.parent.io.write(&format!("{}/{name}", self.dir), Bytes::from(bytes)).await?;
        self.done.push(meta);
        Ok(())
    }

    /// Finishes the open file and returns the metadata of every file written.
    pub async fn close(mut self) -> Result<Vec<DataFileMeta>> {
        self.finish_file().await?;
        Ok(self.done)
    }
}

impl DataFileWriter {
    fn accumulate(&self, cur: &mut InProgress, rows: &RecordBatch) -> Result<()> {
        let schema = &self.schema;
        let merge = |acc: &mut Vec<ColStats>, new: Vec<ColStats>| {
            if acc.is_empty() {
                *acc = new;
            } else {
                for (a, n) in acc.iter_mut().zip(new) {
                    *a = a.merge(&n);
                }
            }
        };
        let value_offset = if schema.primary_keys.is_empty() { 0 } else { schema.key_fields().len() + 2 };
        let vs: Vec<ColStats> =
            schema.fields.iter().enumerate().map(|(i, f)| column_stats(rows.column(value_offset + i), &f.data_type)).collect::<Result<_>>()?;
        merge(&mut cur.value_stats, vs);
        cur.rows += rows.num_rows() as i64;
        if !schema.primary_keys.is_empty() && rows.num_rows() > 0 {
            let key_fields = schema.key_fields();
            let row_key =
                |r: usize| -> Result<Vec<Datum>> { key_fields.iter().enumerate().map(|(i, f)| Datum::from_array(rows.column(i), r, &f.data_type)).collect() };
            if cur.min_key.is_none() {
                cur.min_key = Some(row_key(0)?);
            }
            cur.max_key = Some(row_key(rows.num_rows() - 1)?);
            let ks: Vec<ColStats> = key_fields.iter().enumerate().map(|(i, f)| column_stats(rows.column(i), &f.data_type)).collect::<Result<_>>()?;
            merge(&mut cur.key_stats, ks);
            let seq = rows.column(key_fields.len()).as_primitive::<arrow::datatypes::Int64Type>();
            let kinds = rows.column(key_fields.len() + 1).as_primitive::<Int8Type>();
            cur.deletes += kinds.values().iter().filter(|k| **k == RowKind::UpdateBefore as i8 || **k == RowKind::Delete as i8).count() as i64;
            cur.min_seq = cur.min_seq.min(arrow::compute::min(seq).unwrap_or(i64::MAX));
            cur.max_seq = cur.max_seq.max(arrow::compute::max(seq).unwrap_or(i64::MIN));
        }
        Ok(())
    }
}

/// Which system columns a read needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemColumns {
    /// None (append tables; primary-key files known to hold no retractions).
    None,
    /// Only `_VALUE_KIND` (a single sorted run: no merge, but retractions are dropped).
    KindOnly,
    /// `_KEY_*`, `_SEQUENCE_NUMBER`, `_VALUE_KIND` (merge-on-read, compaction).
    All,
}

/// What a reader wants from data files: physical columns named as in the *current* schema.
#[derive(Debug, Clone)]
pub struct ReadColumns {
    /// System columns to read before the values (primary-key tables).
    pub system: SystemColumns,
    /// Value fields of the current schema to read.
    pub values: Vec<DataField>,
}

impl ReadColumns {
    /// The Arrow schema of batches the reader yields.
    pub fn output_schema(&self, current: &TableSchema) -> SchemaRef {
        let mut fields = Vec::new();
        match self.system {
            SystemColumns::None => {}
            SystemColumns::KindOnly => fields.push(kind_field()),
            SystemColumns::All => {
                fields.extend(current.key_fields().iter().map(key_field));
                fields.push(sequence_field());
                fields.push(kind_field());
            }
        }
        fields.extend(self.values.iter().map(DataField::to_arrow));
        Arc::new(ArrowSchema::new(fields))
    }
}

/// Opens one data file and streams its rows as `cols` of the current schema. `file_schema` is the schema
/// the file was written with (its `schemaId`); columns are matched by field id, so renamed columns are
/// found and columns added later read as null.
pub async fn read_data_file(
    io: &FileIO,
    rel_path: &str,
    file_size: u64,
    current: &TableSchema,
    file_schema: &TableSchema,
    cols: &ReadColumns,
    batch_size: usize,
    prune: Option<&crate::predicate::Predicate>,
) -> Result<impl Stream<Item = Result<RecordBatch>> + Send + 'static> {
    let path = io.path(rel_path);
    let display = path.to_string();
    #[allow(deprecated)]
    let reader = ParquetObjectReader::new(io.store.clone(), path).with_file_size(file_size);
    let builder = ParquetRecordBatchStreamBuilder::new_with_options(reader, ArrowReaderOptions::new())
        .await
        .map_err(|e| Error::corrupt(&display, format!("cannot open parquet file: {e}")))?;
    let parquet_schema = builder.schema().clone();
    let out_schema = cols.output_schema(current);

    // For each output column: the name of the column in the file, or None for "not in this file".
    let mut sources: Vec<Option<String>> = Vec::new();
    match cols.system {
        SystemColumns::None => {}
        SystemColumns::KindOnly => sources.push(Some(VALUE_KIND.to_string())),
        SystemColumns::All => {
            for kf in current.key_fields() {
                sources.push(file_schema.field_by_id(kf.id).map(|f| format!("{KEY_PREFIX}{}", f.name)));
            }
            sources.push(Some(SEQUENCE_NUMBER.to_string()));
            sources.push(Some(VALUE_KIND.to_string()));
        }
    }
    let required = match cols.system {
        SystemColumns::None => 0,
        SystemColumns::KindOnly => 1,
        SystemColumns::All => current.key_fields().len() + 2,
    };
    for v in &cols.values {
        sources.push(file_schema.field_by_id(v.id).map(|f| f.name.clone()));
    }
    let index_of: HashMap<&str, usize> = parquet_schema.fields().iter().enumerate().map(|(i, f)| (f.name().as_str(), i)).collect();
    let mut roots: Vec<usize> = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        if let Some(name) = s {
            match index_of.get(name.as_str()) {
                Some(idx) => roots.push(*idx),
                None if i < required => {
                    return Err(Error::corrupt(&display, format!("required column `{name}` is missing in the data file")));
                }
                None => {}
            }
        }
    }
    roots.sort();
    roots.dedup();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let row_groups = prune.map(|p| prune_row_groups(builder.metadata(), current, file_schema, p));
    let builder = match row_groups {
        Some(keep) => builder.with_row_groups(keep),
        None => builder,
    };
    let stream =
        builder.with_projection(mask).with_batch_size(batch_size).build().map_err(|e| Error::corrupt(&display, format!("cannot read parquet file: {e}")))?;
    let display2 = display.clone();
    Ok(stream.map_err(move |e| Error::corrupt(&display2, format!("cannot decode parquet data: {e}"))).and_then(move |batch| {
        let out = conform(&batch, &sources, &out_schema).map_err(|e| Error::corrupt(&display, e));
        futures::future::ready(out)
    }))
}

/// Row groups of a file that may hold rows matching `predicate`, judged by their Parquet statistics (columns
/// matched by field id; a column without usable statistics never prunes).
fn prune_row_groups(
    meta: &parquet::file::metadata::ParquetMetaData,
    current: &TableSchema,
    file_schema: &TableSchema,
    predicate: &crate::predicate::Predicate,
) -> Vec<usize> {
    let mut cols = Vec::new();
    predicate.columns(&mut cols);
    // For each predicate column: its Paimon type and its leaf column index in the file (top-level primitives).
    let mut lookup: HashMap<String, (crate::types::DataType, usize)> = HashMap::new();
    for name in &cols {
        let Some(f) = current.field(name) else { continue };
        let Some(old) = file_schema.field_by_id(f.id) else { continue };
        if !f.data_type.is_atomic() || old.data_type.kind != f.data_type.kind {
            continue;
        }
        let leaf = meta.file_metadata().schema_descr().columns().iter().position(|c| c.path().parts().len() == 1 && c.path().parts()[0] == old.name);
        if let Some(i) = leaf {
            lookup.insert(name.clone(), (f.data_type.clone(), i));
        }
    }
    (0..meta.num_row_groups())
        .filter(|rg| {
            let group = meta.row_group(*rg);
            let stats = |c: &str| -> Option<ColStats> {
                let (ty, i) = lookup.get(c)?;
                parquet_col_stats(group.column(*i).statistics()?, ty)
            };
            predicate.might_match(&stats, group.num_rows())
        })
        .collect()
}

/// A Parquet column chunk's statistics as Paimon values.
fn parquet_col_stats(stats: &parquet::file::statistics::Statistics, ty: &crate::types::DataType) -> Option<ColStats> {
    use parquet::file::statistics::Statistics as S;
    let null_count = stats.null_count_opt().map(|n| n as i64);
    let pair = |min: Option<Datum>, max: Option<Datum>| Some(ColStats { min: min.unwrap_or(Datum::Null), max: max.unwrap_or(Datum::Null), null_count });
    let ts = |v: i64, p: u8| match p {
        0..=3 => Datum::Timestamp(v, 0),
        4..=6 => Datum::Timestamp(v.div_euclid(1000), (v.rem_euclid(1000) * 1000) as i32),
        _ => Datum::Timestamp(v.div_euclid(1_000_000), v.rem_euclid(1_000_000) as i32),
    };
    match (stats, &ty.kind) {
        (S::Boolean(s), TypeKind::Boolean) => pair(s.min_opt().map(|v| Datum::Bool(*v)), s.max_opt().map(|v| Datum::Bool(*v))),
        (S::Int32(s), TypeKind::TinyInt) => pair(s.min_opt().map(|v| Datum::I8(*v as i8)), s.max_opt().map(|v| Datum::I8(*v as i8))),
        (S::Int32(s), TypeKind::SmallInt) => pair(s.min_opt().map(|v| Datum::I16(*v as i16)), s.max_opt().map(|v| Datum::I16(*v as i16))),
        (S::Int32(s), TypeKind::Int) => pair(s.min_opt().map(|v| Datum::I32(*v)), s.max_opt().map(|v| Datum::I32(*v))),
        (S::Int32(s), TypeKind::Date) => pair(s.min_opt().map(|v| Datum::Date(*v)), s.max_opt().map(|v| Datum::Date(*v))),
        (S::Int32(s), TypeKind::Decimal { precision, scale }) => {
            pair(s.min_opt().map(|v| Datum::Decimal(*v as i128, *precision, *scale)), s.max_opt().map(|v| Datum::Decimal(*v as i128, *precision, *scale)))
        }
        (S::Int64(s), TypeKind::BigInt) => pair(s.min_opt().map(|v| Datum::I64(*v)), s.max_opt().map(|v| Datum::I64(*v))),
        (S::Int64(s), TypeKind::Decimal { precision, scale }) => {
            pair(s.min_opt().map(|v| Datum::Decimal(*v as i128, *precision, *scale)), s.max_opt().map(|v| Datum::Decimal(*v as i128, *precision, *scale)))
        }
        (S::Int64(s), TypeKind::Timestamp(p) | TypeKind::TimestampLtz(p)) => pair(s.min_opt().map(|v| ts(*v, *p)), s.max_opt().map(|v| ts(*v, *p))),
        (S::Float(s), TypeKind::Float) => pair(s.min_opt().map(|v| Datum::F32(*v)), s.max_opt().map(|v| Datum::F32(*v))),
        (S::Double(s), TypeKind::Double) => pair(s.min_opt().map(|v| Datum::F64(*v)), s.max_opt().map(|v| Datum::F64(*v))),
        (S::ByteArray(s), TypeKind::Char(_) | TypeKind::VarChar(_)) => pair(
            s.min_opt().and_then(|v| std::str::from_utf8(v.data()).ok()).map(|v| Datum::String(v.to_string())),
            if s.max_is_exact() { s.max_opt().and_then(|v| std::str::from_utf8(v.data()).ok()).map(|v| Datum::String(v.to_string())) } else { None },
        ),
        _ => None,
    }
}

/// Builds a batch of `out_schema` from a file batch: picks columns by name, fills missing ones with nulls,
/// casts types that differ (e.g. a decimal stored narrower, a list field named differently).
fn conform(batch: &RecordBatch, sources: &[Option<String>], out_schema: &SchemaRef) -> std::result::Result<RecordBatch, String> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(sources.len());
    let mut fields: Vec<Field> = Vec::with_capacity(sources.len());
    for (src, field) in sources.iter().zip(out_schema.fields()) {
        let col = match src.as_deref().and_then(|n| batch.column_by_name(n)) {
            Some(c) => c.clone(),
            None => new_null_array(field.data_type(), batch.num_rows()),
        };
        if col.data_type() == field.data_type() {
            fields.push(field.as_ref().clone());
            columns.push(col);
        } else {
            match arrow::compute::cast(&col, field.data_type()) {
                Ok(c) => {
                    fields.push(field.as_ref().clone());
                    columns.push(c);
                }
                Err(_) => {
                    fields.push(Field::new(field.name(), col.data_type().clone(), true));
                    columns.push(col);
                }
            }
        }
    }
    let schema = Arc::new(ArrowSchema::new(fields));
    RecordBatch::try_new_with_options(schema, columns, &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Partition values with path-special characters are escaped the way Hive and Paimon do.
    #[test]
    fn escapes_partition_paths() {
        assert_eq!(escape_path_name("a/b=c:d"), "a%2Fb%3Dc%3Ad");
        assert_eq!(escape_path_name("2024-01-01"), "2024-01-01");
    }

    /// Row kinds parse from their short strings and reject anything else.
    #[test]
    fn row_kinds() {
        assert_eq!(RowKind::parse("-D").unwrap(), RowKind::Delete);
        assert!(RowKind::parse("+X").unwrap_err().to_string().contains("+X"));
        assert!(RowKind::UpdateBefore.is_retract());
    }
}
