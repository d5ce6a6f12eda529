//! Reading a data file back in the current schema: columns are matched by field id (files written under
//! older schemas are mapped, added columns read as null, narrower types are cast), with optional pruning
//! and a metadata cache.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema as ArrowSchema, SchemaRef};
use futures::{Stream, TryStreamExt};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, RowSelection, RowSelector};
#[allow(deprecated)] // still the simplest object_store adapter in parquet 59
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::bloom_filter::Sbbf;
use parquet::file::metadata::PageIndexPolicy;

use super::cache::MetadataCache;
use super::layout::{key_field, kind_field, sequence_field, KEY_PREFIX, SEQUENCE_NUMBER, VALUE_KIND};
use super::prune::{self, PruneCounters};
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::predicate::Predicate;
use crate::schema::TableSchema;
use crate::types::DataField;

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
    prune: Option<&Predicate>,
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
    pub prune: Option<&'a Predicate>,
    pub counters: Option<&'a PruneCounters>,
    pub metadata_cache: Option<&'a MetadataCache>,
}

impl DataFileRead<'_> {
    #[allow(deprecated)]
    fn object_reader(&self) -> (ParquetObjectReader, String) {
        let path = self.io.path(self.rel_path);
        let display = path.to_string();
        (ParquetObjectReader::new(self.io.store.clone(), path).with_file_size(self.file_size), display)
    }

    /// The file's Parquet metadata (footer; with `page_index` also the column and offset indexes), from the
    /// metadata cache when it holds them.
    pub async fn metadata(&self, page_index: bool) -> Result<ArrowReaderMetadata> {
        let (mut reader, display) = self.object_reader();
        if let Some(m) = self.metadata_cache.and_then(|c| c.get(&display, self.file_size, page_index)) {
            return Ok(m);
        }
        let policy = if page_index { PageIndexPolicy::Optional } else { PageIndexPolicy::Skip };
        let loaded =
            ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new().with_page_index_policy(policy))
                .await;
        let m = match loaded {
            Ok(m) => m,
            // A file that is gone is not a corrupt one: snapshot expiration deleted it after the read was planned.
            Err(_) if !self.io.exists(self.rel_path).await? => {
                return Err(Error::NotFound(format!(
                    "data file `{display}` is gone: the snapshot being read has expired and its files were deleted; plan the read again at a retained snapshot"
                )))
            }
            Err(e) => return Err(Error::corrupt(&display, format!("cannot open parquet file: {e}"))),
        };
        if let Some(c) = self.metadata_cache {
            c.insert(&display, self.file_size, m.clone(), page_index);
        }
        Ok(m)
    }

    /// The split block bloom filter of leaf column `column` in row group `row_group`, if the file has one.
    pub async fn bloom_filter(
        &self,
        metadata: &ArrowReaderMetadata,
        row_group: usize,
        column: usize,
    ) -> Result<Option<Sbbf>> {
        let (reader, display) = self.object_reader();
        let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata.clone());
        builder
            .get_row_group_column_bloom_filter(row_group, column)
            .await
            .map_err(|e| Error::corrupt(&display, format!("cannot read the bloom filter of column {column}: {e}")))
    }

    /// Opens the file (footer, and the page index when pruning) and streams its rows.
    pub async fn open(self) -> Result<impl Stream<Item = Result<RecordBatch>> + Send + 'static> {
        // The page index (column and offset indexes) is only fetched when there is something to prune with.
        let metadata = self.metadata(self.prune.is_some()).await?;
        let (row_groups, selection) = match self.prune {
            Some(p) => {
                let (keep, rows) = prune::plan(metadata.metadata(), self.current, self.file_schema, p, self.counters);
                (Some(keep), rows)
            }
            None => (None, None),
        };
        self.stream(metadata, row_groups, selection)
    }

    /// Streams rows `rows` of row group `row_group` only (Parquet fetches and decodes only the pages that
    /// hold them when the file has an offset index).
    pub fn open_rows(
        self,
        metadata: ArrowReaderMetadata,
        row_group: usize,
        rows: std::ops::Range<usize>,
    ) -> Result<impl Stream<Item = Result<RecordBatch>> + Send + 'static> {
        let total = metadata.metadata().row_group(row_group).num_rows().max(0) as usize;
        let end = rows.end.min(total);
        let start = rows.start.min(end);
        let mut selectors = Vec::with_capacity(3);
        if start > 0 {
            selectors.push(RowSelector::skip(start));
        }
        selectors.push(RowSelector::select(end - start));
        if end < total {
            selectors.push(RowSelector::skip(total - end));
        }
        self.stream(metadata, Some(vec![row_group]), Some(RowSelection::from(selectors)))
    }

    fn stream(
        self,
        metadata: ArrowReaderMetadata,
        row_groups: Option<Vec<usize>>,
        selection: Option<RowSelection>,
    ) -> Result<impl Stream<Item = Result<RecordBatch>> + Send + 'static> {
        let (reader, display) = self.object_reader();
        let DataFileRead { current, file_schema, cols, batch_size, .. } = self;
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
        let mut builder = builder;
        if let Some(keep) = row_groups {
            builder = builder.with_row_groups(keep);
        }
        if let Some(rows) = selection {
            builder = builder.with_row_selection(rows);
        }
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
    use arrow::array::AsArray;
    use bytes::Bytes;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    use crate::datum::Datum;

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
        prune: Option<&Predicate>,
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
        prune: Option<&Predicate>,
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
        prune: Option<Predicate>,
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
}
