//! Writing sorted rows of one bucket into Parquet data files, rolled at the target file size, with the
//! statistics their manifest entries carry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int8Type;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::layout::KEY_PREFIX;
use crate::binary_row::serialize_row;
use crate::datum::Datum;
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::manifest::{DataFileMeta, SimpleStats};
use crate::options::{Compression, CoreOptions};
use crate::row_kind::RowKind;
use crate::schema::TableSchema;
use crate::stats::{column_stats, to_simple_stats, ColStats};
use crate::types::TypeKind;

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

/// False-positive rate of the key bloom filters (`dyntable.parquet.key-bloom-filter`): 1%, about 10 bits a key.
pub const KEY_BLOOM_FILTER_FPP: f64 = 0.01;

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
        if let Some(rows) = options.row_group_rows {
            builder = builder.set_max_row_group_row_count(Some(rows));
        }
        // `page-size`: a data page is closed once it holds about this many bytes. parquet-rs checks the size
        // after each write batch of rows (1024 by default), so small pages get smaller batches (32 bytes a row
        // assumed); the row limit above still applies.
        if let Some(bytes) = options.page_size {
            let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
            builder = builder.set_data_page_size_limit(bytes).set_write_batch_size((bytes / 32).clamp(1, 1024));
        }
        // Bloom filters on the key columns (opt-in): sized for a row group, folded down to the rows it got.
        if options.key_bloom_filter && !schema.primary_keys.is_empty() {
            for k in schema.key_fields() {
                let col = parquet::schema::types::ColumnPath::from(format!("{KEY_PREFIX}{}", k.name));
                builder = builder
                    .set_column_bloom_filter_enabled(col.clone(), true)
                    .set_column_bloom_filter_fpp(col, KEY_BLOOM_FILTER_FPP);
            }
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

    /// The same writer naming its files `changelog-<uuid>-<n>.parquet` (changelog files share the data files'
    /// layout).
    pub fn for_changelog(&self, writer_uuid: &str) -> Self {
        DataFileWriter { prefix: format!("changelog-{writer_uuid}-"), ..self.clone() }
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::ArrayRef;
    use parquet::file::page_index::column_index::ColumnIndexMetaData;

    fn append_schema(columns: &str) -> TableSchema {
        let (fields, highest) = crate::types::parse_sql_fields(columns).unwrap();
        TableSchema::new(fields, highest, vec![], vec![], Default::default(), None).unwrap()
    }

    fn memory_io() -> FileIO {
        FileIO::new(Arc::new(object_store::memory::InMemory::new()), object_store::path::Path::from("t"))
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().build().unwrap()
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
}
