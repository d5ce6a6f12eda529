//! Data files: the physical Parquet layout of primary-key (`_KEY_*`, `_SEQUENCE_NUMBER`, `_VALUE_KIND`,
//! then the table columns) and append tables, writing sorted rows into rolling files with their manifest
//! metadata, and reading files back in the current schema (files written under older schemas are mapped
//! by field id).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::Int8Type;
use arrow_schema::{DataType as ArrowType, Field, Schema as ArrowSchema, SchemaRef};
use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, RowSelection, RowSelector};
#[allow(deprecated)] // still the simplest object_store adapter in parquet 59
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::{ArrowWriter, ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

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
/// Rows per Parquet data page at most (parquet-rs defaults to 20,000). The page is what the page index skips,
/// and a primary-key table spreads a key range over every bucket, so each bucket's over-read is up to two
/// pages per column: in `dyntable-bench-sql` a 1% key range over 10M rows in 4 buckets read 6.8 MiB with
/// 20,000-row pages and 1 MiB dictionaries, 1.5 MiB with these limits; files came out 10% smaller and full
/// scans no slower.
pub const DATA_PAGE_ROWS: usize = 4096;
/// Bytes of a column chunk's dictionary page at most (parquet-rs defaults to 1 MiB). A reader must fetch and
/// decompress the dictionary page to read any page of the chunk, so a high-cardinality column that fills a
/// large dictionary before falling back to plain encoding makes every selective read pay for it; low-
/// cardinality columns (the ones dictionaries help) fit well within 64 KiB.
pub const DICTIONARY_PAGE_BYTES: usize = 64 << 10;
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
    Field::new(SEQUENCE_NUMBER, ArrowType::Int64, false)
        .with_metadata([("PARQUET:field_id".to_string(), SEQUENCE_NUMBER_FIELD_ID.to_string())].into())
}

pub fn kind_field() -> Field {
    Field::new(VALUE_KIND, ArrowType::Int8, false)
        .with_metadata([("PARQUET:field_id".to_string(), VALUE_KIND_FIELD_ID.to_string())].into())
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
        .map(|(k, v)| {
            format!(
                "{}={}",
                escape_path_name(k),
                if v.is_null() { default_name.to_string() } else { escape_path_name(&v.to_partition_string()) }
            )
        })
        .collect();
    parts.push(format!("bucket-{bucket}"));
    parts.join("/")
}

/// Hive's path escaping, as Paimon's `PartitionPathUtils.escapePathName`.
pub fn escape_path_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let needs = (c as u32) < 0x20
            || matches!(
                c,
                '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '\x7f' | '{' | '[' | ']' | '^'
            );
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
    pub fn new(
        io: FileIO,
        schema: Arc<TableSchema>,
        options: CoreOptions,
        writer_uuid: &str,
        counter: Arc<AtomicU64>,
    ) -> Self {
        let compression = match options.compression {
            Compression::Zstd(level) => PqCompression::ZSTD(ZstdLevel::try_new(level).unwrap_or_default()),
            Compression::Snappy => PqCompression::SNAPPY,
            Compression::Lz4 => PqCompression::LZ4_RAW,
            Compression::Gzip => PqCompression::GZIP(Default::default()),
            Compression::None => PqCompression::UNCOMPRESSED,
        };
        // Page-level statistics (parquet's default, set here so it stays so) make the writer emit a column index
        // and an offset index per column chunk: the page index that `read_data_file` prunes pages with.
        let mut builder = WriterProperties::builder()
            .set_compression(compression)
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_data_page_row_count_limit(DATA_PAGE_ROWS)
            .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES);
        if let Some(rows) =
            options.raw.get(ROW_GROUP_ROWS).and_then(|v| v.trim().parse::<usize>().ok()).filter(|r| *r > 0)
        {
            builder = builder.set_max_row_group_row_count(Some(rows));
        }
        // Java Paimon 0.9 cannot read dictionary-encoded FIXED_LEN_BYTE_ARRAY decimals (precision > 18).
        for f in &schema.fields {
            if let TypeKind::Decimal { precision, .. } = f.data_type.kind {
                if precision > 18 {
                    builder = builder
                        .set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from(f.name.clone()), false);
                    let key = format!("{KEY_PREFIX}{}", f.name);
                    builder =
                        builder.set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from(key), false);
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
    pub async fn write(
        &self,
        bucket_dir: &str,
        batch: &RecordBatch,
        level: i32,
        file_source: i32,
    ) -> Result<Vec<DataFileMeta>> {
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
            creation_time_millis: Some(self.parent.io.seams().now_millis()),
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
        let vs: Vec<ColStats> = schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| column_stats(rows.column(value_offset + i), &f.data_type))
            .collect::<Result<_>>()?;
        merge(&mut cur.value_stats, vs);
        cur.rows += rows.num_rows() as i64;
        if !schema.primary_keys.is_empty() && rows.num_rows() > 0 {
            let key_fields = schema.key_fields();
            let row_key = |r: usize| -> Result<Vec<Datum>> {
                key_fields.iter().enumerate().map(|(i, f)| Datum::from_array(rows.column(i), r, &f.data_type)).collect()
            };
            if cur.min_key.is_none() {
                cur.min_key = Some(row_key(0)?);
            }
            cur.max_key = Some(row_key(rows.num_rows() - 1)?);
            let ks: Vec<ColStats> = key_fields
                .iter()
                .enumerate()
                .map(|(i, f)| column_stats(rows.column(i), &f.data_type))
                .collect::<Result<_>>()?;
            merge(&mut cur.key_stats, ks);
            let seq = rows.column(key_fields.len()).as_primitive::<arrow::datatypes::Int64Type>();
            let kinds = rows.column(key_fields.len() + 1).as_primitive::<Int8Type>();
            cur.deletes += kinds
                .values()
                .iter()
                .filter(|k| **k == RowKind::UpdateBefore as i8 || **k == RowKind::Delete as i8)
                .count() as i64;
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

/// What Parquet statistics pruned while opening data files: shared by the reads of one scan (atomics,
/// so the readers of several files may add to it), read by whoever reports the scan (`EXPLAIN ANALYZE`).
#[derive(Debug, Default)]
pub struct PruneCounters {
    /// Row groups of the files opened with a pruning predicate.
    pub row_groups: AtomicU64,
    /// Of those, row groups skipped by their column-chunk statistics.
    pub row_groups_pruned: AtomicU64,
    /// Pages of the predicate's columns in the row groups that were read (those with a column index).
    pub pages: AtomicU64,
    /// Of those, pages whose rows were all skipped by the page index (column index min/max/null counts).
    pub pages_pruned: AtomicU64,
    /// Rows of kept row groups that the page index skipped.
    pub rows_pruned: AtomicU64,
}

impl PruneCounters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `(row_groups, row_groups_pruned, pages, pages_pruned, rows_pruned)` as they stand.
    pub fn snapshot(&self) -> [u64; 5] {
        [&self.row_groups, &self.row_groups_pruned, &self.pages, &self.pages_pruned, &self.rows_pruned]
            .map(|c| c.load(Ordering::Relaxed))
    }
}

/// Opens one data file and streams its rows as `cols` of the current schema. `file_schema` is the schema
/// the file was written with (its `schemaId`); columns are matched by field id, so renamed columns are
/// found and columns added later read as null.
///
/// With `prune`, row groups and pages that cannot hold a row matching it are skipped (by row-group
/// statistics, then by the page index); the rows returned are a superset of the matching ones, so the
/// caller still evaluates the predicate. Only pass `prune` where no other version of a row can sit in
/// another file (append tables, a single sorted run).
#[allow(clippy::too_many_arguments)]
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
    DataFileRead {
        io,
        rel_path,
        file_size,
        current,
        file_schema,
        cols,
        batch_size,
        prune,
        counters: None,
        metadata_cache: None,
    }
    .open()
    .await
}

/// Parquet metadata (footers, and page indexes once a filter needed them) of data files read before, so a
/// repeated query does not fetch and decode them again. A data file is never rewritten (its name is never
/// reused), so an entry cannot go stale; entries are keyed by path and size. At most `capacity_bytes` of
/// metadata are held; the oldest entries are dropped first.
pub struct MetadataCache {
    capacity_bytes: usize,
    inner: std::sync::Mutex<MetadataCacheInner>,
    hits: AtomicU64,
}

#[derive(Default)]
struct MetadataCacheInner {
    entries: HashMap<(String, u64), CachedMetadata>,
    order: VecDeque<(String, u64)>,
    bytes: usize,
}

struct CachedMetadata {
    metadata: ArrowReaderMetadata,
    /// Whether the page index was asked for when this was loaded.
    page_index: bool,
    bytes: usize,
}

impl std::fmt::Debug for MetadataCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataCache")
            .field("capacity_bytes", &self.capacity_bytes)
            .field("entries", &self.len())
            .field("hits", &self.hits())
            .finish()
    }
}

impl MetadataCache {
    /// The default bound: 64 MiB of metadata (a 100 MB data file's footer and page index take tens of KiB).
    pub const DEFAULT_CAPACITY_BYTES: usize = 64 << 20;

    pub fn new(capacity_bytes: usize) -> Self {
        MetadataCache { capacity_bytes, inner: Default::default(), hits: AtomicU64::new(0) }
    }

    /// Files whose metadata is held.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.entries.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens answered from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn get(&self, path: &str, size: u64, page_index: bool) -> Option<ArrowReaderMetadata> {
        let inner = self.inner.lock().ok()?;
        let entry = inner.entries.get(&(path.to_string(), size)).filter(|e| e.page_index || !page_index)?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(entry.metadata.clone())
    }

    fn insert(&self, path: &str, size: u64, metadata: ArrowReaderMetadata, page_index: bool) {
        let bytes = metadata.metadata().memory_size();
        if bytes > self.capacity_bytes {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else { return };
        let key = (path.to_string(), size);
        if let Some(old) = inner.entries.insert(key.clone(), CachedMetadata { metadata, page_index, bytes }) {
            inner.bytes -= old.bytes;
        } else {
            inner.order.push_back(key);
        }
        inner.bytes += bytes;
        while inner.bytes > self.capacity_bytes {
            let Some(oldest) = inner.order.pop_front() else { break };
            if let Some(e) = inner.entries.remove(&oldest) {
                inner.bytes -= e.bytes;
            }
        }
    }
}

/// One data file to read: [`read_data_file`]'s arguments, plus `counters` that pruning adds what it skipped to
/// and a `metadata_cache` to take the file's footer from (and put it in).
pub struct DataFileRead<'a> {
    pub io: &'a FileIO,
    /// Path relative to the table's root.
    pub rel_path: &'a str,
    pub file_size: u64,
    /// The schema to read in.
    pub current: &'a TableSchema,
    /// The schema the file was written with.
    pub file_schema: &'a TableSchema,
    pub cols: &'a ReadColumns,
    pub batch_size: usize,
    pub prune: Option<&'a crate::predicate::Predicate>,
    pub counters: Option<&'a PruneCounters>,
    pub metadata_cache: Option<&'a MetadataCache>,
}

impl DataFileRead<'_> {
    /// Opens the file (footer, and the page index when pruning) and streams its rows.
    pub async fn open(self) -> Result<impl Stream<Item = Result<RecordBatch>> + Send + 'static> {
        let DataFileRead {
            io,
            rel_path,
            file_size,
            current,
            file_schema,
            cols,
            batch_size,
            prune,
            counters,
            metadata_cache,
        } = self;
        let path = io.path(rel_path);
        let display = path.to_string();
        #[allow(deprecated)]
        let mut reader = ParquetObjectReader::new(io.store.clone(), path).with_file_size(file_size);
        // The page index (column and offset indexes) is only fetched when there is something to prune with.
        let page_index = prune.is_some();
        let metadata = match metadata_cache.and_then(|c| c.get(&display, file_size, page_index)) {
            Some(m) => m,
            None => {
                let policy = if page_index { PageIndexPolicy::Optional } else { PageIndexPolicy::Skip };
                let m = ArrowReaderMetadata::load_async(
                    &mut reader,
                    ArrowReaderOptions::new().with_page_index_policy(policy),
                )
                .await
                .map_err(|e| Error::corrupt(&display, format!("cannot open parquet file: {e}")))?;
                if let Some(c) = metadata_cache {
                    c.insert(&display, file_size, m.clone(), page_index);
                }
                m
            }
        };
        let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata);
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
        // A value column that is also a key column is read once, from its `_KEY_` copy (the two always hold
        // the same values), when the key columns are read anyway.
        let key_ids: Vec<i32> = if cols.system == SystemColumns::All {
            current.key_fields().iter().map(|k| k.id).collect()
        } else {
            Vec::new()
        };
        for v in &cols.values {
            sources.push(file_schema.field_by_id(v.id).map(|f| {
                if key_ids.contains(&v.id) {
                    format!("{KEY_PREFIX}{}", f.name)
                } else {
                    f.name.clone()
                }
            }));
        }
        let index_of: HashMap<&str, usize> =
            parquet_schema.fields().iter().enumerate().map(|(i, f)| (f.name().as_str(), i)).collect();
        let mut roots: Vec<usize> = Vec::new();
        for (i, s) in sources.iter().enumerate() {
            if let Some(name) = s {
                match index_of.get(name.as_str()) {
                    Some(idx) => roots.push(*idx),
                    None if i < required => {
                        return Err(Error::corrupt(
                            &display,
                            format!("required column `{name}` is missing in the data file"),
                        ));
                    }
                    None => {}
                }
            }
        }
        roots.sort();
        roots.dedup();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let builder = match prune {
            Some(p) => {
                let meta = builder.metadata().clone();
                let lookup = predicate_leaves(&meta, current, file_schema, p);
                let keep = prune_row_groups(&meta, &lookup, p);
                let selection = select_pages(&meta, &keep, &lookup, p);
                if let Some(c) = counters {
                    PruneCounters::add(&c.row_groups, meta.num_row_groups());
                    PruneCounters::add(&c.row_groups_pruned, meta.num_row_groups() - keep.len());
                    PruneCounters::add(&c.pages, selection.pages);
                    PruneCounters::add(&c.pages_pruned, selection.pages_pruned);
                    PruneCounters::add(&c.rows_pruned, selection.rows_pruned);
                }
                let builder = builder.with_row_groups(keep);
                match selection.selection {
                    Some(rows) => builder.with_row_selection(rows),
                    None => builder,
                }
            }
            None => builder,
        };
        let stream = builder
            .with_projection(mask)
            .with_batch_size(batch_size)
            .build()
            .map_err(|e| Error::corrupt(&display, format!("cannot read parquet file: {e}")))?;
        let display2 = display.clone();
        Ok(stream.map_err(move |e| Error::corrupt(&display2, format!("cannot decode parquet data: {e}"))).and_then(
            move |batch| {
                let out = conform(&batch, &sources, &out_schema).map_err(|e| Error::corrupt(&display, e));
                futures::future::ready(out)
            },
        ))
    }
}

/// For each column the predicate reads: its Paimon type and its leaf column index in the file (top-level
/// primitive columns, matched by field id; a column whose type changed since the file was written is left
/// out, so it never prunes).
fn predicate_leaves(
    meta: &ParquetMetaData,
    current: &TableSchema,
    file_schema: &TableSchema,
    predicate: &crate::predicate::Predicate,
) -> HashMap<String, (crate::types::DataType, usize)> {
    let mut cols = Vec::new();
    predicate.columns(&mut cols);
    let mut lookup = HashMap::new();
    for name in &cols {
        let Some(f) = current.field(name) else { continue };
        let Some(old) = file_schema.field_by_id(f.id) else { continue };
        if !f.data_type.is_atomic() || old.data_type.kind != f.data_type.kind {
            continue;
        }
        let leaf = meta
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.path().parts().len() == 1 && c.path().parts()[0] == old.name);
        if let Some(i) = leaf {
            lookup.insert(name.clone(), (f.data_type.clone(), i));
        }
    }
    lookup
}

/// Row groups of a file that may hold rows matching `predicate`, judged by their Parquet statistics (a
/// column without usable statistics never prunes).
fn prune_row_groups(
    meta: &ParquetMetaData,
    lookup: &HashMap<String, (crate::types::DataType, usize)>,
    predicate: &crate::predicate::Predicate,
) -> Vec<usize> {
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

/// The rows of the kept row groups that the page index leaves to read, and what it skipped.
#[derive(Debug, Default)]
struct PageSelection {
    /// `None` when no page can be skipped (read the kept row groups whole).
    selection: Option<RowSelection>,
    pages: usize,
    pages_pruned: usize,
    rows_pruned: usize,
}

/// One predicate column's pages in a row group: where each page starts (row index in the row group) and
/// its column-index entry.
struct ColumnPages<'a> {
    name: &'a str,
    ty: &'a crate::types::DataType,
    starts: Vec<usize>,
    index: &'a ColumnIndexMetaData,
}

/// Page-index pruning. Pages of different columns start at different rows, so each kept row group is cut
/// at every page start of every predicate column; each piece lies in exactly one page per column, and
/// is skipped when the predicate cannot match that page's min/max/null count of every column (the
/// same conservative test as for row groups and files). Pieces are then joined into a [`RowSelection`].
fn select_pages(
    meta: &ParquetMetaData,
    row_groups: &[usize],
    lookup: &HashMap<String, (crate::types::DataType, usize)>,
    predicate: &crate::predicate::Predicate,
) -> PageSelection {
    let mut out = PageSelection::default();
    let (Some(column_index), Some(offset_index)) = (meta.column_index(), meta.offset_index()) else { return out };
    let mut selectors: Vec<RowSelector> = Vec::new();
    let push = |selectors: &mut Vec<RowSelector>, rows: usize, skip: bool| match selectors.last_mut() {
        Some(last) if last.skip == skip => last.row_count += rows,
        _ if rows > 0 => selectors.push(RowSelector { row_count: rows, skip }),
        _ => {}
    };
    for &rg in row_groups {
        let rows = meta.row_group(rg).num_rows().max(0) as usize;
        let mut columns: Vec<ColumnPages> = Vec::new();
        for (name, (ty, leaf)) in lookup {
            let (Some(index), Some(offsets)) =
                (column_index.get(rg).and_then(|c| c.get(*leaf)), offset_index.get(rg).and_then(|c| c.get(*leaf)))
            else {
                continue;
            };
            let starts: Vec<usize> =
                offsets.page_locations().iter().map(|p| p.first_row_index.max(0) as usize).collect();
            // An index that does not line up with the pages (or is absent) is not used.
            let consistent = !starts.is_empty()
                && starts[0] == 0
                && starts.windows(2).all(|w| w[0] < w[1])
                && starts.last().is_some_and(|l| *l < rows.max(1));
            if matches!(index, ColumnIndexMetaData::NONE) || index.num_pages() as usize != starts.len() || !consistent {
                continue;
            }
            columns.push(ColumnPages { name, ty, starts, index });
        }
        if columns.is_empty() {
            push(&mut selectors, rows, false);
            continue;
        }
        let mut cuts: Vec<usize> = columns.iter().flat_map(|c| c.starts.iter().copied()).collect();
        cuts.push(rows);
        cuts.sort_unstable();
        cuts.dedup();
        let mut skipped = vec![false; cuts.len() - 1];
        for (piece, w) in cuts.windows(2).enumerate() {
            let (from, to) = (w[0], w[1]);
            let stats = |c: &str| -> Option<ColStats> {
                let col = columns.iter().find(|p| p.name == c)?;
                let page = col.starts.partition_point(|s| *s <= from) - 1;
                let page_rows = col.starts.get(page + 1).copied().unwrap_or(rows) - col.starts[page];
                page_col_stats(col.index, page, page_rows, to - from, col.ty)
            };
            skipped[piece] = !predicate.might_match(&stats, (to - from) as i64);
            push(&mut selectors, to - from, skipped[piece]);
            if skipped[piece] {
                out.rows_pruned += to - from;
            }
        }
        for col in &columns {
            out.pages += col.starts.len();
            for (page, start) in col.starts.iter().enumerate() {
                let end = col.starts.get(page + 1).copied().unwrap_or(rows);
                let first = cuts.partition_point(|c| c < start);
                let last = cuts.partition_point(|c| *c < end);
                if (first..last).all(|piece| skipped[piece]) {
                    out.pages_pruned += 1;
                }
            }
        }
    }
    if out.rows_pruned > 0 {
        out.selection = Some(RowSelection::from(selectors));
    }
    out
}

/// A Parquet value as stored (physical type), before it is read as a Paimon value.
enum Physical<'a> {
    Bool(bool),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Bytes(&'a [u8]),
}

/// A stored statistic value as a Paimon value of type `ty`; `None` when the pair is not one the reader
/// understands (or the bytes are not UTF-8), which never prunes.
fn physical_datum(v: Physical<'_>, ty: &crate::types::DataType) -> Option<Datum> {
    let ts = |v: i64, p: u8| match p {
        0..=3 => Datum::Timestamp(v, 0),
        4..=6 => Datum::Timestamp(v.div_euclid(1000), (v.rem_euclid(1000) * 1000) as i32),
        _ => Datum::Timestamp(v.div_euclid(1_000_000), v.rem_euclid(1_000_000) as i32),
    };
    Some(match (v, &ty.kind) {
        (Physical::Bool(v), TypeKind::Boolean) => Datum::Bool(v),
        (Physical::I32(v), TypeKind::TinyInt) => Datum::I8(v as i8),
        (Physical::I32(v), TypeKind::SmallInt) => Datum::I16(v as i16),
        (Physical::I32(v), TypeKind::Int) => Datum::I32(v),
        (Physical::I32(v), TypeKind::Date) => Datum::Date(v),
        (Physical::I32(v), TypeKind::Decimal { precision, scale }) => Datum::Decimal(v as i128, *precision, *scale),
        (Physical::I64(v), TypeKind::BigInt) => Datum::I64(v),
        (Physical::I64(v), TypeKind::Decimal { precision, scale }) => Datum::Decimal(v as i128, *precision, *scale),
        (Physical::I64(v), TypeKind::Timestamp(p) | TypeKind::TimestampLtz(p)) => ts(v, *p),
        (Physical::F32(v), TypeKind::Float) => Datum::F32(v),
        (Physical::F64(v), TypeKind::Double) => Datum::F64(v),
        (Physical::Bytes(v), TypeKind::Char(_) | TypeKind::VarChar(_)) => {
            Datum::String(std::str::from_utf8(v).ok()?.to_string())
        }
        _ => return None,
    })
}

/// A Parquet column chunk's statistics as Paimon values.
fn parquet_col_stats(stats: &parquet::file::statistics::Statistics, ty: &crate::types::DataType) -> Option<ColStats> {
    use parquet::file::statistics::Statistics as S;
    if !physical_matches(stats, ty) {
        return None;
    }
    let null_count = stats.null_count_opt().map(|n| n as i64);
    let (min, max) = match stats {
        S::Boolean(s) => (s.min_opt().map(|v| Physical::Bool(*v)), s.max_opt().map(|v| Physical::Bool(*v))),
        S::Int32(s) => (s.min_opt().map(|v| Physical::I32(*v)), s.max_opt().map(|v| Physical::I32(*v))),
        S::Int64(s) => (s.min_opt().map(|v| Physical::I64(*v)), s.max_opt().map(|v| Physical::I64(*v))),
        S::Float(s) => (s.min_opt().map(|v| Physical::F32(*v)), s.max_opt().map(|v| Physical::F32(*v))),
        S::Double(s) => (s.min_opt().map(|v| Physical::F64(*v)), s.max_opt().map(|v| Physical::F64(*v))),
        // A truncated maximum of a row-group statistic is not trusted as a bound.
        S::ByteArray(s) => (
            s.min_opt().map(|v| Physical::Bytes(v.data())),
            s.max_opt().filter(|_| s.max_is_exact()).map(|v| Physical::Bytes(v.data())),
        ),
        _ => return None,
    };
    let datum = |v: Option<Physical<'_>>| v.and_then(|v| physical_datum(v, ty)).unwrap_or(Datum::Null);
    Some(ColStats { min: datum(min), max: datum(max), null_count })
}

/// Whether a column chunk's physical type is the one `ty` is stored as.
fn physical_matches(stats: &parquet::file::statistics::Statistics, ty: &crate::types::DataType) -> bool {
    use parquet::file::statistics::Statistics as S;
    matches!(
        (stats, &ty.kind),
        (S::Boolean(_), TypeKind::Boolean)
            | (
                S::Int32(_),
                TypeKind::TinyInt | TypeKind::SmallInt | TypeKind::Int | TypeKind::Date | TypeKind::Decimal { .. }
            )
            | (
                S::Int64(_),
                TypeKind::BigInt | TypeKind::Decimal { .. } | TypeKind::Timestamp(_) | TypeKind::TimestampLtz(_)
            )
            | (S::Float(_), TypeKind::Float)
            | (S::Double(_), TypeKind::Double)
            | (S::ByteArray(_), TypeKind::Char(_) | TypeKind::VarChar(_))
    )
}

/// Page `page` of a column index as statistics of a piece of `piece_rows` rows inside it (the page holds
/// `page_rows`). The page's null count tells the piece's only when the page is all nulls or has none.
/// Floating-point pages are not used: their min/max leave NaN out, and NaN compares above every number.
/// Byte-array bounds in a column index may be truncated, but stay bounds (the maximum is rounded up).
fn page_col_stats(
    index: &ColumnIndexMetaData,
    page: usize,
    page_rows: usize,
    piece_rows: usize,
    ty: &crate::types::DataType,
) -> Option<ColStats> {
    let (min, max) = match index {
        ColumnIndexMetaData::BOOLEAN(ix) => {
            (ix.min_value(page).map(|v| Physical::Bool(*v)), ix.max_value(page).map(|v| Physical::Bool(*v)))
        }
        ColumnIndexMetaData::INT32(ix) => {
            (ix.min_value(page).map(|v| Physical::I32(*v)), ix.max_value(page).map(|v| Physical::I32(*v)))
        }
        ColumnIndexMetaData::INT64(ix) => {
            (ix.min_value(page).map(|v| Physical::I64(*v)), ix.max_value(page).map(|v| Physical::I64(*v)))
        }
        ColumnIndexMetaData::BYTE_ARRAY(ix) if matches!(ty.kind, TypeKind::Char(_) | TypeKind::VarChar(_)) => {
            (ix.min_value(page).map(Physical::Bytes), ix.max_value(page).map(Physical::Bytes))
        }
        _ => return None,
    };
    let null_count = match index.null_count(page) {
        _ if index.is_null_page(page) => Some(piece_rows as i64),
        Some(n) if n as usize >= page_rows => Some(piece_rows as i64),
        Some(0) => Some(0),
        _ => None,
    };
    let datum = |v: Option<Physical<'_>>| v.and_then(|v| physical_datum(v, ty)).unwrap_or(Datum::Null);
    Some(ColStats { min: datum(min), max: datum(max), null_count })
}

/// Builds a batch of `out_schema` from a file batch: picks columns by name, fills missing ones with nulls,
/// casts types that differ (e.g. a decimal stored narrower, a list field named differently).
fn conform(
    batch: &RecordBatch,
    sources: &[Option<String>],
    out_schema: &SchemaRef,
) -> std::result::Result<RecordBatch, String> {
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
    RecordBatch::try_new_with_options(
        schema,
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
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

    fn append_schema(columns: &str) -> TableSchema {
        let (fields, highest) = crate::types::parse_sql_fields(columns).unwrap();
        TableSchema::new(fields, highest, vec![], vec![], Default::default(), None).unwrap()
    }

    fn memory_io() -> FileIO {
        FileIO::new(Arc::new(object_store::memory::InMemory::new()), object_store::path::Path::from("t"))
    }

    /// `s` of row `k`: descending in `k`, 41 bytes long.
    fn s_value(rows: i64, k: i64) -> String {
        format!("s{:05}-{}", rows - 1 - k, "x".repeat(34))
    }

    /// Writes `k` = 0..rows (BIGINT, ascending) and `s` = [`s_value`] (descending) as one row group. `k`'s
    /// pages hold `page_rows` rows; `s`'s pages are cut earlier by a small page size limit (plain encoded
    /// long strings), so the two columns' page boundaries differ.
    async fn write_paged_file(io: &FileIO, schema: &TableSchema, rows: i64, page_rows: usize) -> u64 {
        let k: ArrayRef = Arc::new(arrow::array::Int64Array::from_iter_values(0..rows));
        let s: ArrayRef = Arc::new(arrow::array::StringArray::from_iter_values((0..rows).map(|k| s_value(rows, k))));
        let batch = RecordBatch::try_new(schema.arrow_schema(), vec![k, s]).unwrap();
        let props = WriterProperties::builder()
            .set_data_page_row_count_limit(page_rows)
            .set_data_page_size_limit(page_rows * 20)
            .set_dictionary_enabled(false)
            .set_write_batch_size(5)
            .build();
        let mut w = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        let bytes = w.into_inner().unwrap();
        let size = bytes.len() as u64;
        io.write("f.parquet", Bytes::from(bytes)).await.unwrap();
        size
    }

    /// Reads `f.parquet` (written by the helpers above) through [`DataFileRead`].
    async fn read_file(
        io: &FileIO,
        schema: &TableSchema,
        size: u64,
        prune: Option<&crate::predicate::Predicate>,
        counters: Option<&PruneCounters>,
        metadata_cache: Option<&MetadataCache>,
    ) -> Vec<RecordBatch> {
        let cols = ReadColumns { system: SystemColumns::None, values: schema.fields.clone() };
        let read = DataFileRead {
            io,
            rel_path: "f.parquet",
            file_size: size,
            current: schema,
            file_schema: schema,
            cols: &cols,
            batch_size: 64,
            prune,
            counters,
            metadata_cache,
        };
        read.open().await.unwrap().try_collect().await.unwrap()
    }

    /// The `k` values read.
    async fn read_with(
        io: &FileIO,
        schema: &TableSchema,
        size: u64,
        prune: Option<&crate::predicate::Predicate>,
        counters: &PruneCounters,
    ) -> Vec<i64> {
        let batches = read_file(io, schema, size, prune, Some(counters), None).await;
        batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<arrow::datatypes::Int64Type>().values().to_vec())
            .collect()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().build().unwrap()
    }

    /// A predicate that only one page's min/max can satisfy reads that page's rows and no other: the
    /// file has one row group of 1000 rows in 10 pages of `k`, so row-group statistics alone prune nothing.
    #[test]
    fn page_index_skips_pages_that_cannot_match() {
        rt().block_on(async {
            use crate::predicate::{CmpOp, Predicate};
            let io = memory_io();
            let schema = append_schema("k BIGINT, s STRING");
            let size = write_paged_file(&io, &schema, 1000, 100).await;
            let all = read_with(&io, &schema, size, None, &PruneCounters::default()).await;
            assert_eq!(all, (0..1000).collect::<Vec<_>>());

            let counters = PruneCounters::default();
            let p = Predicate::And(vec![
                Predicate::cmp("k", CmpOp::GtEq, Datum::I64(250)),
                Predicate::cmp("k", CmpOp::Lt, Datum::I64(260)),
            ]);
            let got = read_with(&io, &schema, size, Some(&p), &counters).await;
            assert_eq!(got, (200..300).collect::<Vec<_>>(), "only the page holding k = 200..299 is read");
            let [row_groups, row_groups_pruned, pages, pages_pruned, rows_pruned] = counters.snapshot();
            assert_eq!((row_groups, row_groups_pruned), (1, 0));
            assert_eq!(pages, 10);
            assert_eq!(pages_pruned, 9);
            assert_eq!(rows_pruned, 900);
        });
    }

    /// Pages of two columns with different boundaries: an OR keeps the rows either column's pages allow,
    /// an AND only the rows both allow; every matching row is among the rows read.
    #[test]
    fn page_index_combines_columns_with_different_page_boundaries() {
        rt().block_on(async {
            use crate::predicate::{CmpOp, Predicate};
            let io = memory_io();
            let schema = append_schema("k BIGINT, s STRING");
            let size = write_paged_file(&io, &schema, 1000, 100).await;
            let or = Predicate::Or(vec![
                Predicate::cmp("k", CmpOp::Lt, Datum::I64(50)),
                Predicate::cmp("k", CmpOp::GtEq, Datum::I64(950)),
            ]);
            let got = read_with(&io, &schema, size, Some(&or), &PruneCounters::default()).await;
            assert_eq!(got, (0..100).chain(900..1000).collect::<Vec<_>>());
            let bound = s_value(1000, 750);
            let and = Predicate::And(vec![
                Predicate::cmp("k", CmpOp::Lt, Datum::I64(350)),
                Predicate::cmp("s", CmpOp::LtEq, Datum::String(bound.clone())),
            ]);
            let got = read_with(&io, &schema, size, Some(&and), &PruneCounters::default()).await;
            // s <= bound holds for k >= 249 and k < 350 for k < 350: every such row is read, nothing from k's pages
            // at or above 400, and s's pages that lie wholly below k = 249 are skipped.
            let matching: Vec<i64> = (0..1000).filter(|k| *k < 350 && s_value(1000, *k) <= bound).collect();
            assert!(matching.iter().all(|k| got.contains(k)), "every matching row is read");
            assert!(got.iter().all(|k| *k < 400), "k's pages from 400 on are skipped");
            assert!(got.len() < 300, "s's pages below k = 249 are skipped too: read {}", got.len());
            let none = Predicate::cmp("k", CmpOp::Gt, Datum::I64(5000));
            assert!(read_with(&io, &schema, size, Some(&none), &PruneCounters::default()).await.is_empty());
        });
    }

    /// The number of rows read through `cache`.
    async fn open_cached(
        io: &FileIO,
        schema: &TableSchema,
        size: u64,
        cache: &MetadataCache,
        prune: Option<crate::predicate::Predicate>,
    ) -> usize {
        read_file(io, schema, size, prune.as_ref(), None, Some(cache)).await.iter().map(RecordBatch::num_rows).sum()
    }

    /// The metadata cache answers a second open of a file; an entry loaded without the page index does not
    /// answer a read that prunes (which needs it); a cache smaller than one footer holds nothing.
    #[test]
    fn metadata_cache_serves_repeated_opens() {
        rt().block_on(async {
            use crate::predicate::{CmpOp, Predicate};
            let io = memory_io();
            let schema = append_schema("k BIGINT, s STRING");
            let size = write_paged_file(&io, &schema, 1000, 100).await;
            let open = |cache, prune| open_cached(&io, &schema, size, cache, prune);
            let cache = MetadataCache::new(MetadataCache::DEFAULT_CAPACITY_BYTES);
            assert_eq!(open(&cache, None).await, 1000);
            assert_eq!((cache.len(), cache.hits()), (1, 0));
            assert_eq!(open(&cache, None).await, 1000);
            assert_eq!(cache.hits(), 1);
            let p = Predicate::cmp("k", CmpOp::Lt, Datum::I64(100));
            assert_eq!(open(&cache, Some(p.clone())).await, 100, "loaded again with the page index, and pruned");
            assert_eq!(cache.hits(), 1);
            assert_eq!(open(&cache, Some(p)).await, 100);
            assert_eq!(open(&cache, None).await, 1000);
            assert_eq!((cache.len(), cache.hits()), (1, 3));

            let tiny = MetadataCache::new(16);
            assert_eq!(open(&tiny, None).await, 1000);
            assert!(tiny.is_empty());
        });
    }

    /// IS NULL prunes pages without nulls; a page that is all nulls is skipped by a comparison.
    #[test]
    fn page_index_uses_null_counts() {
        rt().block_on(async {
            use crate::predicate::{CmpOp, Predicate};
            let io = memory_io();
            let schema = append_schema("k BIGINT, s STRING");
            // s is null for k in 100..200 (exactly k's second page).
            let k: ArrayRef = Arc::new(arrow::array::Int64Array::from_iter_values(0..300));
            let s: ArrayRef = Arc::new(arrow::array::StringArray::from_iter(
                (0..300).map(|i| (!(100..200).contains(&i)).then(|| format!("v{i:03}"))),
            ));
            let batch = RecordBatch::try_new(schema.arrow_schema(), vec![k, s]).unwrap();
            let props =
                WriterProperties::builder().set_data_page_row_count_limit(100).set_write_batch_size(100).build();
            let mut w = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props)).unwrap();
            w.write(&batch).unwrap();
            let bytes = w.into_inner().unwrap();
            let size = bytes.len() as u64;
            io.write("f.parquet", Bytes::from(bytes)).await.unwrap();
            let got =
                read_with(&io, &schema, size, Some(&Predicate::IsNull("s".into())), &PruneCounters::default()).await;
            assert_eq!(got, (100..200).collect::<Vec<_>>());
            let got = read_with(
                &io,
                &schema,
                size,
                Some(&Predicate::cmp("s", CmpOp::GtEq, Datum::String("v000".into()))),
                &PruneCounters::default(),
            )
            .await;
            assert_eq!(got, (0..100).chain(200..300).collect::<Vec<_>>());
        });
    }

    /// The table writer writes page statistics, so its files carry a column index and an offset index.
    #[test]
    fn data_files_carry_a_page_index() {
        rt().block_on(async {
            let io = memory_io();
            let schema = Arc::new(append_schema("k BIGINT, s STRING"));
            let options = schema.options().unwrap();
            let writer = DataFileWriter::new(io.clone(), schema.clone(), options, "w", Arc::new(AtomicU64::new(0)));
            let k: ArrayRef = Arc::new(arrow::array::Int64Array::from_iter_values(0..50_000));
            let s: ArrayRef =
                Arc::new(arrow::array::StringArray::from_iter_values((0..50_000).map(|i| format!("s{i}"))));
            let batch = RecordBatch::try_new(schema.arrow_schema(), vec![k, s]).unwrap();
            let metas = writer.write("bucket-0", &batch, 0, 0).await.unwrap();
            assert_eq!(metas.len(), 1);
            let bytes = io.read(&format!("bucket-0/{}", metas[0].file_name)).await.unwrap();
            let reader = parquet::file::serialized_reader::SerializedFileReader::new_with_options(
                bytes,
                parquet::file::serialized_reader::ReadOptionsBuilder::new().with_page_index().build(),
            )
            .unwrap();
            let meta = parquet::file::reader::FileReader::metadata(&reader);
            let column_index = meta.column_index().expect("column index written");
            let offset_index = meta.offset_index().expect("offset index written");
            assert!(matches!(column_index[0][0], ColumnIndexMetaData::INT64(_)));
            // 50,000 rows at DATA_PAGE_ROWS rows per page: 13 pages to prune between.
            assert_eq!(offset_index[0][0].page_locations().len(), 50_000usize.div_ceil(DATA_PAGE_ROWS));
        });
    }

    /// Row kinds parse from their short strings and reject anything else.
    #[test]
    fn row_kinds() {
        assert_eq!(RowKind::parse("-D").unwrap(), RowKind::Delete);
        assert!(RowKind::parse("+X").unwrap_err().to_string().contains("+X"));
        assert!(RowKind::UpdateBefore.is_retract());
    }
}
