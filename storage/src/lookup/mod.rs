//! Point lookups: the merged row of given primary keys, now or as of a snapshot, without scanning.
//!
//! A key is routed to its partition (partition keys are part of a fixed-bucket table's primary key) and its
//! bucket (Paimon's bucket hash, as the writer routes it). In the bucket, each sorted run contributes at most
//! one version of the key: a file is consulted only when the key lies in its manifest min/max key; in the file,
//! row groups are skipped by the first key column's statistics and by the key columns' Parquet bloom filters
//! (written with `dyntable.parquet.key-bloom-filter`), and only the page of that key column whose min/max can
//! hold the key is decoded (the rows of that page, all columns). The versions found are merged with the table's
//! merge engine ([`crate::merge`]), as merge-on-read would; a key whose merge is a retraction is absent.
//!
//! Decoded pages and bloom filters are kept in a [`LookupCache`] bounded by `lookup.cache-max-memory-size`
//! (least recently used first out); data files never change, so an entry never goes stale.
//!
//! Two forms: [`TableLookup::lookup`] (keys anywhere in the table, at a [`ScanFrom`]), and [`BucketLookup`], a
//! bucket's sorted runs held for answering many keys of that bucket (what a writer looking up each written
//! key's previous row needs). Layering: above [`crate::table`], which does not import this module.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::Int64Type;
use arrow::row::{RowConverter, SortField};
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::bloom_filter::Sbbf;

use crate::binary_row::{bucket_of, deserialize_row, encode_row, serialize_row};
use crate::datafile::prune::{page_bounds, row_group_stats};
use crate::datafile::{bucket_dir, DataFileRead, MetadataCache, ReadColumns, SystemColumns, KEY_PREFIX};
use crate::datum::Datum;
use crate::error::{Error, Result};
use crate::manifest::DataFileMeta;
use crate::merge::{MergeSpec, OutputBuilder, Versions};
use crate::options::CoreOptions;
use crate::read::TableRead;
use crate::scan::{plan, DataSplit, ScanFrom};
use crate::schema::{SchemaManager, TableSchema};
use crate::snapshot::Snapshot;
use crate::table::FileStoreTable;
use crate::types::{DataField, DataType, TypeKind};

impl std::fmt::Debug for TableLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableLookup")
            .field("table", &self.inner.table.name())
            .field("cache", &self.inner.cache)
            .finish()
    }
}

/// Point lookups on one table, with a cache shared by its clones (and by the [`BucketLookup`]s it makes).
#[derive(Clone)]
pub struct TableLookup {
    inner: Arc<LookupInner>,
}

struct LookupInner {
    table: FileStoreTable,
    schema: Arc<TableSchema>,
    /// Column defaults, filled into the rows a lookup returns (parsed once, not per lookup).
    defaults: crate::defaults::DefaultValues,
    options: CoreOptions,
    spec: MergeSpec,
    read: TableRead,
    /// The trimmed primary key (what `_KEY_*` columns hold).
    key_fields: Vec<DataField>,
    key_types: Vec<DataType>,
    key_converter: Arc<RowConverter>,
    value_names: Vec<String>,
    value_types: Vec<DataType>,
    /// `sequence.field` columns as indices into the table's columns.
    seq_fields: Vec<usize>,
    cache: Arc<LookupCache>,
    metadata: Arc<MetadataCache>,
    schemas: Mutex<HashMap<i64, Arc<TableSchema>>>,
    /// The buckets of the last few snapshots looked up in, oldest first.
    snapshots: Mutex<std::collections::VecDeque<(i64, SnapshotBuckets)>>,
}

/// The buckets of one snapshot, each with its files' key ranges decoded.
type SnapshotBuckets = Arc<Vec<Arc<BucketFiles>>>;

/// Data files of a bucket searched at once by one lookup.
const CONCURRENT_FILE_SEARCHES: usize = 8;

/// Snapshots whose bucket layout a [`TableLookup`] keeps.
const SNAPSHOTS_KEPT: usize = 4;

/// A key asked for, normalised: where it lives and its key in comparable forms.
#[derive(Debug, Clone)]
struct Probe {
    /// Serialized partition row; `None` when the partition cannot be told from the key (search all).
    partition: Option<Vec<u8>>,
    /// `None` when the table's buckets are not fixed (search every bucket of the partition).
    bucket: Option<i32>,
    /// The trimmed key as row-format bytes (compares in key order).
    key: Vec<u8>,
    /// The trimmed key's values.
    values: Vec<Datum>,
}

/// One version of a key: a decoded page and a row of it.
type Version = (Arc<DecodedPage>, usize);

/// What one file search found: the keys searched (indices), and per hit the position among them and the version.
type FileHits = (Vec<usize>, Vec<(usize, Version)>);

impl FileStoreTable {
    /// A lookup handle with its own cache of `lookup.cache-max-memory-size`; keep it to reuse the cache.
    pub fn new_lookup(&self) -> Result<TableLookup> {
        TableLookup::new(self)
    }

    /// The merged rows of `keys` (a batch of the primary-key columns, by name) in the snapshot `from` picks.
    pub async fn lookup(&self, keys: &RecordBatch, from: &ScanFrom) -> Result<LookupResult> {
        self.new_lookup()?.lookup(keys, from).await
    }
}

impl TableLookup {
    pub fn new(table: &FileStoreTable) -> Result<Self> {
        let schema = table.schema().clone();
        if schema.primary_keys.is_empty() {
            return Err(Error::invalid(format!(
                "table `{}` has no primary key: point lookups need one; scan with a filter instead",
                table.name()
            )));
        }
        let options = schema.options()?;
        let cache = Arc::new(LookupCache::for_options(&options)?);
        let key_fields = schema.key_fields();
        let key_types: Vec<DataType> = key_fields.iter().map(|f| f.data_type.clone()).collect();
        let key_converter =
            Arc::new(RowConverter::new(key_types.iter().map(|t| SortField::new(t.to_arrow())).collect())?);
        let seq_fields = match &options.sequence_field {
            Some(sf) => sf.split(',').filter_map(|s| schema.field_index(s.trim())).collect(),
            None => Vec::new(),
        };
        Ok(TableLookup {
            inner: Arc::new(LookupInner {
                table: table.clone(),
                defaults: schema.default_values()?,
                spec: MergeSpec::new(&schema)?,
                read: table.new_read(None, None)?,
                key_fields,
                key_types,
                key_converter,
                value_names: schema.fields.iter().map(|f| f.name.clone()).collect(),
                value_types: schema.fields.iter().map(|f| f.data_type.clone()).collect(),
                seq_fields,
                options,
                schema,
                cache,
                metadata: Arc::new(MetadataCache::new(MetadataCache::DEFAULT_CAPACITY_BYTES)),
                schemas: Mutex::new(HashMap::new()),
                snapshots: Mutex::new(Default::default()),
            }),
        })
    }

    /// Uses `cache` instead of this handle's own (to share one bound between several handles).
    pub fn with_cache(self, cache: Arc<LookupCache>) -> Self {
        let metadata = self.inner.metadata.clone();
        self.rebuilt(cache, metadata)
    }

    /// Takes data files' Parquet metadata from `cache` (shared with scans) instead of this handle's own.
    pub fn with_metadata_cache(self, metadata: Arc<MetadataCache>) -> Self {
        let cache = self.inner.cache.clone();
        self.rebuilt(cache, metadata)
    }

    fn rebuilt(&self, cache: Arc<LookupCache>, metadata: Arc<MetadataCache>) -> Self {
        let inner = &self.inner;
        TableLookup {
            inner: Arc::new(LookupInner {
                table: inner.table.clone(),
                schema: inner.schema.clone(),
                defaults: inner.defaults.clone(),
                options: inner.options.clone(),
                spec: inner.spec.clone(),
                read: inner.read.clone(),
                key_fields: inner.key_fields.clone(),
                key_types: inner.key_types.clone(),
                key_converter: inner.key_converter.clone(),
                value_names: inner.value_names.clone(),
                value_types: inner.value_types.clone(),
                seq_fields: inner.seq_fields.clone(),
                cache,
                metadata,
                schemas: Mutex::new(HashMap::new()),
                snapshots: Mutex::new(Default::default()),
            }),
        }
    }

    pub fn cache(&self) -> &Arc<LookupCache> {
        &self.inner.cache
    }

    pub fn table(&self) -> &FileStoreTable {
        &self.inner.table
    }

    /// The merged rows of `keys` in the snapshot `from` picks (none on a table without snapshots).
    pub async fn lookup(&self, keys: &RecordBatch, from: &ScanFrom) -> Result<LookupResult> {
        let probes = self.probes(keys)?;
        let this = &self.inner;
        let Some(snapshot) = this.table.resolve(from).await? else {
            return Ok(LookupResult::empty(&this.schema, probes.len()));
        };
        if probes.is_empty() {
            return Ok(LookupResult::empty(&this.schema, 0));
        }
        let buckets = self.snapshot_buckets(snapshot).await?;
        // Keys whose partition and bucket are known go to that bucket only.
        let mut routed: HashMap<(&[u8], i32), Vec<usize>> = HashMap::new();
        let mut anywhere: Vec<usize> = Vec::new();
        for (i, p) in probes.iter().enumerate() {
            match (&p.partition, p.bucket) {
                (Some(part), Some(b)) => routed.entry((part.as_slice(), b)).or_default().push(i),
                _ => anywhere.push(i),
            }
        }
        let mut versions: Vec<Vec<Version>> = vec![Vec::new(); probes.len()];
        for files in buckets.iter() {
            let split = &files.split;
            let mut mine: Vec<usize> = if split.total_buckets != this.options.bucket {
                // Written with another bucket count: the hash does not tell; every key of the partition may be here.
                (0..probes.len())
                    .filter(|&i| probes[i].partition.as_ref().is_none_or(|b| *b == split.partition_bytes))
                    .collect()
            } else {
                let mut v = routed.get(&(split.partition_bytes.as_slice(), split.bucket)).cloned().unwrap_or_default();
                v.extend(anywhere.iter().copied().filter(|&i| {
                    let p = &probes[i];
                    p.partition.as_ref().is_none_or(|b| *b == split.partition_bytes)
                        && p.bucket.is_none_or(|b| b == split.bucket)
                }));
                v
            };
            if mine.is_empty() {
                continue;
            }
            mine.sort_unstable();
            let bucket = BucketLookup { lookup: self.clone(), files: files.clone() };
            let found = bucket.versions(&probes, &mine).await?;
            for (i, v) in mine.into_iter().zip(found) {
                if !v.is_empty() {
                    // Without a known partition a key may sit in several buckets; its versions are those of
                    // the last bucket that has it (a cross-partition table keeps each key in one place).
                    versions[i] = v;
                }
            }
        }
        // Nulls of columns with a default read as it (as a scan reads them).
        let mut result = self.merge(versions)?;
        result.rows = this.defaults.fill(&result.rows)?;
        Ok(result)
    }

    /// The buckets of `snapshot` with their files' key ranges decoded, kept for the last few snapshots asked
    /// (a snapshot never changes).
    async fn snapshot_buckets(&self, snapshot: Snapshot) -> Result<SnapshotBuckets> {
        let this = &self.inner;
        let id = snapshot.id;
        if let Some(b) =
            this.snapshots.lock().ok().and_then(|s| s.iter().find(|(i, _)| *i == id).map(|(_, b)| b.clone()))
        {
            return Ok(b);
        }
        let plan = plan(&this.table.manifest_store(), &this.schema, Some(snapshot), None).await?;
        let buckets = Arc::new(
            plan.splits.into_iter().map(|s| BucketFiles::new(self, s).map(Arc::new)).collect::<Result<Vec<_>>>()?,
        );
        if let Ok(mut s) = this.snapshots.lock() {
            s.push_back((id, buckets.clone()));
            while s.len() > SNAPSHOTS_KEPT {
                s.pop_front();
            }
        }
        Ok(buckets)
    }

    /// A [`BucketLookup`] over the live files of every bucket of the snapshot `from` picks.
    pub async fn buckets(&self, from: &ScanFrom) -> Result<Vec<BucketLookup>> {
        let Some(snapshot) = self.inner.table.resolve(from).await? else { return Ok(Vec::new()) };
        let buckets = self.snapshot_buckets(snapshot).await?;
        Ok(buckets.iter().map(|files| BucketLookup { lookup: self.clone(), files: files.clone() }).collect())
    }

    /// `keys` validated and cast to the primary-key columns' types, with their partition and bucket.
    fn probes(&self, keys: &RecordBatch) -> Result<Vec<Probe>> {
        let this = &self.inner;
        let schema = &this.schema;
        let columns = self.key_columns(keys)?;
        let n = keys.num_rows();
        let partition_fields: Vec<Option<(usize, DataType)>> = schema
            .partition_keys
            .iter()
            .map(|p| {
                let i = schema.primary_keys.iter().position(|k| k == p)?;
                Some((i, schema.field(p)?.data_type.clone()))
            })
            .collect();
        let partition_known = partition_fields.iter().all(Option::is_some);
        let partition_types = schema.partition_types();
        let bucket_keys = schema.bucket_keys()?;
        let bucket_fields: Vec<(usize, DataType)> = bucket_keys
            .iter()
            .filter_map(|b| {
                let i = schema.primary_keys.iter().position(|k| k == b)?;
                Some((i, schema.field(b)?.data_type.clone()))
            })
            .collect();
        let buckets = this.options.bucket;
        let trimmed: Vec<usize> = this
            .key_fields
            .iter()
            .map(|f| schema.primary_keys.iter().position(|k| *k == f.name).expect("trimmed key is in the key"))
            .collect();
        let key_rows =
            this.key_converter.convert_columns(&trimmed.iter().map(|i| columns[*i].clone()).collect::<Vec<_>>())?;
        let mut probes = Vec::with_capacity(n);
        for row in 0..n {
            let partition = if partition_known {
                let values = partition_fields
                    .iter()
                    .flatten()
                    .map(|(i, ty)| Datum::from_array(columns[*i].as_ref(), row, ty))
                    .collect::<Result<Vec<_>>>()?;
                Some(serialize_row(&values, &partition_types)?)
            } else {
                None
            };
            let bucket = if buckets == 1 {
                Some(0)
            } else if buckets > 1 && bucket_fields.len() == bucket_keys.len() {
                let values = bucket_fields
                    .iter()
                    .map(|(i, ty)| Datum::from_array(columns[*i].as_ref(), row, ty))
                    .collect::<Result<Vec<_>>>()?;
                let types: Vec<DataType> = bucket_fields.iter().map(|(_, t)| t.clone()).collect();
                Some(bucket_of(&encode_row(&values, &types)?, buckets))
            } else {
                None
            };
            let values = trimmed
                .iter()
                .zip(&this.key_types)
                .map(|(i, ty)| Datum::from_array(columns[*i].as_ref(), row, ty))
                .collect::<Result<Vec<_>>>()?;
            probes.push(Probe { partition, bucket, key: key_rows.row(row).as_ref().to_vec(), values });
        }
        Ok(probes)
    }

    /// The primary-key columns of `keys`, in primary-key order, cast to their types; errors name a missing,
    /// unknown or non-key column, a value of the wrong type, or a null.
    fn key_columns(&self, keys: &RecordBatch) -> Result<Vec<ArrayRef>> {
        let schema = &self.inner.schema;
        let table = self.inner.table.name();
        for f in keys.schema().fields() {
            if !schema.primary_keys.contains(f.name()) {
                return Err(Error::invalid(match schema.field(f.name()) {
                    Some(_) => format!(
                        "lookup key column `{}` is not part of the primary key ({}) of table `{table}`",
                        f.name(),
                        schema.primary_keys.join(", ")
                    ),
                    None => format!("table `{table}` has no column `{}`", f.name()),
                }));
            }
        }
        let mut out = Vec::with_capacity(schema.primary_keys.len());
        for k in &schema.primary_keys {
            let field = schema.field(k).ok_or_else(|| Error::Internal(format!("primary key `{k}` has no field")))?;
            let col = keys.column_by_name(k).ok_or_else(|| {
                Error::invalid(format!(
                    "lookup keys lack primary-key column `{k}` of table `{table}` (the key is {})",
                    schema.primary_keys.join(", ")
                ))
            })?;
            let ty = field.data_type.to_arrow();
            let cast =
                cast_with_options(col, &ty, &CastOptions { safe: false, ..Default::default() }).map_err(|e| {
                    Error::invalid(format!(
                        "lookup key column `{k}` holds {} values, which do not convert to {}: {e}",
                        col.data_type(),
                        field.data_type.to_json()
                    ))
                })?;
            if let Some(row) = (0..cast.len()).find(|r| cast.is_null(*r)) {
                return Err(Error::invalid(format!(
                    "lookup key column `{k}` is null in row {row}; primary-key columns are never null"
                )));
            }
            out.push(cast);
        }
        Ok(out)
    }

    /// Merges each key's versions (newest run first) into the result.
    fn merge(&self, versions: Vec<Vec<Version>>) -> Result<LookupResult> {
        let this = &self.inner;
        let nkeys = this.key_fields.len();
        let mut slots: Vec<RecordBatch> = Vec::new();
        let mut slot_of: HashMap<*const DecodedPage, usize> = HashMap::new();
        let mut out = OutputBuilder::new();
        let mut found = Vec::with_capacity(versions.len());
        for mut v in versions {
            if v.is_empty() {
                found.push(None);
                continue;
            }
            v.sort_by(|a, b| self.older(a, b));
            let rows: Vec<(&RecordBatch, usize)> = v.iter().map(|(p, r)| (&p.batch, *r)).collect();
            let merged =
                this.spec.merge(&Versions { rows: &rows, nkeys, value_names: &this.value_names }, &this.value_types)?;
            let Some(m) = merged.filter(|m| !m.kind.is_retract()) else {
                found.push(None);
                continue;
            };
            let version_slots: Vec<(usize, usize)> = v
                .iter()
                .map(|(p, r)| {
                    let slot = *slot_of.entry(Arc::as_ptr(p)).or_insert_with(|| {
                        slots.push(p.batch.clone());
                        slots.len() - 1
                    });
                    (slot, *r)
                })
                .collect();
            let seq_max = v.iter().map(|(p, r)| seq_of(&p.batch, nkeys, *r)).max().unwrap_or(0);
            out.push(&m, &version_slots, seq_max);
            found.push(Some(out.len() - 1));
        }
        if out.is_empty() {
            return Ok(LookupResult::empty(&this.schema, found.len()));
        }
        let kv = out.finish(&slots, nkeys)?;
        let schema = this.schema.arrow_schema();
        let columns: Vec<ArrayRef> = (nkeys + 2..kv.num_columns()).map(|c| kv.column(c).clone()).collect();
        let rows = RecordBatch::try_new(schema, columns)?;
        Ok(LookupResult { rows, found })
    }

    /// Orders two versions of a key, older first: by `sequence.field`, then sequence number.
    fn older(&self, a: &Version, b: &Version) -> std::cmp::Ordering {
        let this = &self.inner;
        let nkeys = this.key_fields.len();
        for &f in &this.seq_fields {
            let ty = &this.value_types[f];
            let va = Datum::from_array(a.0.batch.column(nkeys + 2 + f).as_ref(), a.1, ty).unwrap_or(Datum::Null);
            let vb = Datum::from_array(b.0.batch.column(nkeys + 2 + f).as_ref(), b.1, ty).unwrap_or(Datum::Null);
            let o = match (va.is_null(), vb.is_null()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Less,
                (false, true) => std::cmp::Ordering::Greater,
                (false, false) => va.partial_cmp_value(&vb).unwrap_or(std::cmp::Ordering::Equal),
            };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        seq_of(&a.0.batch, nkeys, a.1).cmp(&seq_of(&b.0.batch, nkeys, b.1))
    }

    async fn file_schema(&self, id: i64) -> Result<Arc<TableSchema>> {
        let this = &self.inner;
        if id == this.schema.id {
            return Ok(this.schema.clone());
        }
        if let Some(s) = this.schemas.lock().ok().and_then(|c| c.get(&id).cloned()) {
            return Ok(s);
        }
        let s = Arc::new(SchemaManager::new(this.table.io().clone()).schema(id).await?);
        if let Ok(mut c) = this.schemas.lock() {
            c.insert(id, s.clone());
        }
        Ok(s)
    }
}

fn seq_of(batch: &RecordBatch, nkeys: usize, row: usize) -> i64 {
    batch.column(nkeys).as_primitive::<Int64Type>().value(row)
}

/// One data file of a bucket with its key range in comparable form.
#[derive(Debug, Clone)]
struct FileRange {
    meta: DataFileMeta,
    min: Vec<u8>,
    max: Vec<u8>,
}

/// A bucket's files as sorted runs (newest first, each run's files in key order), key ranges decoded.
struct BucketFiles {
    split: DataSplit,
    runs: Vec<Vec<FileRange>>,
}

impl BucketFiles {
    fn new(lookup: &TableLookup, split: DataSplit) -> Result<Self> {
        let this = &lookup.inner;
        let mut runs = Vec::new();
        for run in this.read.sorted_runs(&split.files)? {
            let mut files = Vec::with_capacity(run.len());
            for meta in run {
                let bound = |bytes: &[u8], what: &str| -> Result<Vec<u8>> {
                    let values = deserialize_row(bytes, &this.key_types)
                        .map_err(|e| Error::corrupt(&meta.file_name, format!("{what} key: {e}")))?;
                    let arrays =
                        values.iter().zip(&this.key_types).map(|(v, t)| v.to_array(t)).collect::<Result<Vec<_>>>()?;
                    Ok(this.key_converter.convert_columns(&arrays)?.row(0).as_ref().to_vec())
                };
                let (min, max) = (bound(&meta.min_key, "min")?, bound(&meta.max_key, "max")?);
                files.push(FileRange { meta, min, max });
            }
            runs.push(files);
        }
        Ok(BucketFiles { split, runs })
    }
}

/// The sorted runs of one bucket, held to answer lookups of many keys of that bucket (the writer's form).
pub struct BucketLookup {
    lookup: TableLookup,
    files: Arc<BucketFiles>,
}

impl BucketLookup {
    /// Holds `split`'s files (a bucket's live files, as a plan or a writer knows them).
    pub fn new(lookup: &TableLookup, split: DataSplit) -> Result<Self> {
        Ok(BucketLookup { lookup: lookup.clone(), files: Arc::new(BucketFiles::new(lookup, split)?) })
    }

    /// The bucket's partition values and number.
    pub fn partition(&self) -> &[Datum] {
        &self.files.split.partition
    }

    pub fn bucket(&self) -> i32 {
        self.files.split.bucket
    }

    /// Sorted runs held.
    pub fn sorted_runs(&self) -> usize {
        self.files.runs.len()
    }

    /// The merged rows of `keys` (primary-key columns, by name; all keys of this bucket, in any order).
    pub async fn lookup(&self, keys: &RecordBatch) -> Result<LookupResult> {
        let probes = self.lookup.probes(keys)?;
        let all: Vec<usize> = (0..probes.len()).collect();
        let versions = self.versions(&probes, &all).await?;
        self.lookup.merge(versions)
    }

    /// The versions of `probes[i]` for each `i` of `which`, newest run first.
    async fn versions(&self, probes: &[Probe], which: &[usize]) -> Result<Vec<Vec<Version>>> {
        let mut order: Vec<usize> = (0..which.len()).collect();
        order.sort_by(|a, b| probes[which[*a]].key.cmp(&probes[which[*b]].key));
        // Every file whose key range holds some of the keys, with those keys (in key order); the files are
        // searched concurrently (each search waits on object-store reads when its pages are not cached).
        let mut searches: Vec<(usize, usize, Vec<usize>)> = Vec::new();
        for (r, run) in self.files.runs.iter().enumerate() {
            for (f, file) in run.iter().enumerate() {
                let from = order.partition_point(|&o| probes[which[o]].key.as_slice() < file.min.as_slice());
                let to = order.partition_point(|&o| probes[which[o]].key.as_slice() <= file.max.as_slice());
                if from < to {
                    searches.push((r, f, order[from..to].to_vec()));
                }
            }
        }
        let results: Vec<FileHits> = futures::stream::iter(searches)
            .map(|(r, f, inside)| async move {
                let keys: Vec<&Probe> = inside.iter().map(|o| &probes[which[*o]]).collect();
                let hits = self.search_file(&self.files.runs[r][f], &keys).await?;
                Ok::<_, Error>((inside, hits))
            })
            .buffered(CONCURRENT_FILE_SEARCHES)
            .try_collect()
            .await?;
        let mut out: Vec<Vec<Version>> = vec![Vec::new(); which.len()];
        for (inside, hits) in results {
            for (pos, version) in hits {
                out[inside[pos]].push(version);
            }
        }
        Ok(out)
    }

    /// Finds `probes` (in key order) in one file: `(index into probes, version)` for those it holds.
    async fn search_file(&self, file: &FileRange, probes: &[&Probe]) -> Result<Vec<(usize, Version)>> {
        let this = &self.lookup.inner;
        let file_schema = self.lookup.file_schema(file.meta.schema_id).await?;
        let split = &self.files.split;
        let dir = bucket_dir(&this.schema, &split.partition, split.bucket, &this.options.partition_default_name);
        let rel = match &file.meta.external_path {
            Some(p) => p.clone(),
            None => format!("{dir}/{}", file.meta.file_name),
        };
        let cols = ReadColumns { system: SystemColumns::All, values: this.schema.fields.clone() };
        let read = DataFileRead {
            io: this.table.io(),
            rel_path: &rel,
            file_size: file.meta.file_size as u64,
            current: &this.schema,
            file_schema: &file_schema,
            cols: &cols,
            batch_size: 8192,
            prune: None,
            counters: None,
            metadata_cache: Some(&this.metadata),
        };
        let metadata = read.metadata(true).await?;
        let meta = metadata.metadata().clone();
        // Cache entries are keyed by the file's full path, so one cache may serve several tables.
        let full_path = this.table.io().path(&rel).to_string();
        // Leaf columns of the `_KEY_*` columns in this file (by the file schema's names of the key fields).
        let leaves: Vec<Option<usize>> = this
            .key_fields
            .iter()
            .map(|k| {
                let name = format!("{KEY_PREFIX}{}", file_schema.field_by_id(k.id)?.name);
                meta.file_metadata()
                    .schema_descr()
                    .columns()
                    .iter()
                    .position(|c| c.path().parts().len() == 1 && c.path().parts()[0] == name)
            })
            .collect();
        let first_leaf = leaves.first().copied().flatten();
        let first_type = &this.key_types[0];
        let mut hits = Vec::new();
        // Exact page bounds (not truncated byte arrays) never decrease from page to page in a file sorted by
        // key, so the pages that may hold a value can be found by binary search.
        let exact_bounds = !matches!(
            first_type.kind,
            TypeKind::Char(_) | TypeKind::VarChar(_) | TypeKind::Binary(_) | TypeKind::VarBinary(_)
        );
        // A key is held by at most one row of a file: once found it is not searched further.
        let mut found = vec![false; probes.len()];
        let mut left = probes.len();
        for rg in 0..meta.num_row_groups() {
            if left == 0 {
                break;
            }
            let rows = meta.row_group(rg).num_rows().max(0) as usize;
            let stats = first_leaf
                .and_then(|l| row_group_stats(&meta, rg, l, first_type))
                .filter(|s| !s.min.is_null() && !s.max.is_null());
            let mut candidates: Vec<usize> = (0..probes.len())
                .filter(|&p| !found[p] && stats.as_ref().is_none_or(|s| within(&probes[p].values[0], &s.min, &s.max)))
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let has_bloom =
                leaves.iter().flatten().any(|l| meta.row_group(rg).column(*l).bloom_filter_offset().is_some());
            if has_bloom {
                let blooms = self.blooms(&read, &metadata, &full_path, rg, &leaves).await?;
                candidates.retain(|&p| {
                    probes[p].values.iter().zip(blooms.iter()).zip(&this.key_types).all(|((v, b), ty)| match b {
                        Some(b) => bloom_may_hold(b, v, ty),
                        None => true,
                    })
                });
            }
            let pages = first_leaf.and_then(|l| page_bounds(&meta, rg, l, first_type));
            for p in candidates {
                let v = &probes[p].values[0];
                // Pages (row ranges) whose bounds on the first key column hold the key's value.
                let ranges: Vec<(usize, usize)> = match &pages {
                    Some(pages) => {
                        let from = if exact_bounds {
                            pages.partition_point(|b| b.max.partial_cmp_value(v).is_some_and(|o| o.is_lt()))
                        } else {
                            0
                        };
                        let mut out = Vec::new();
                        for (i, b) in pages.iter().enumerate().skip(from) {
                            if within(v, &b.min, &b.max) {
                                out.push((b.first_row, pages.get(i + 1).map_or(rows, |n| n.first_row)));
                            } else if exact_bounds && b.min.partial_cmp_value(v).is_some_and(|o| o.is_gt()) {
                                break;
                            }
                        }
                        out
                    }
                    None => vec![(0, rows)],
                };
                for (start, end) in ranges {
                    let page = self.page(&read, &metadata, &full_path, rg, start, end).await?;
                    if let Some(row) = page.find(&probes[p].key) {
                        hits.push((p, (page, row)));
                        found[p] = true;
                        left -= 1;
                        break;
                    }
                }
            }
        }
        Ok(hits)
    }

    /// Rows `start..end` of row group `rg`, decoded (from the cache, or read and cached).
    async fn page(
        &self,
        read: &DataFileRead<'_>,
        metadata: &ArrowReaderMetadata,
        file: &str,
        rg: usize,
        start: usize,
        end: usize,
    ) -> Result<Arc<DecodedPage>> {
        let this = &self.lookup.inner;
        let key = CacheKey::Page { file: file.to_string(), row_group: rg, first_row: start };
        if let Some(CacheValue::Page(p)) = this.cache.get(&key) {
            return Ok(p);
        }
        let sub = DataFileRead { batch_size: (end - start).max(1), ..*read };
        let batches: Vec<RecordBatch> = sub.open_rows(metadata.clone(), rg, start..end)?.try_collect().await?;
        let schema =
            ReadColumns { system: SystemColumns::All, values: this.schema.fields.clone() }.output_schema(&this.schema);
        let batch = match batches.as_slice() {
            [one] => one.clone(),
            _ => arrow::compute::concat_batches(&batches.first().map_or(schema, |b| b.schema()), &batches)?,
        };
        let nkeys = this.key_fields.len();
        let keys = this.key_converter.convert_columns(&batch.columns()[..nkeys])?.try_into_binary()?;
        this.cache.decoded_rows.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        let bytes = batch.get_array_memory_size() + keys.get_array_memory_size();
        let page = Arc::new(DecodedPage { batch, keys, bytes });
        this.cache.put(key, CacheValue::Page(page.clone()));
        Ok(page)
    }

    /// The bloom filters of the key columns in row group `rg` (`None` for a column without one).
    async fn blooms(
        &self,
        read: &DataFileRead<'_>,
        metadata: &ArrowReaderMetadata,
        file: &str,
        rg: usize,
        leaves: &[Option<usize>],
    ) -> Result<Arc<Vec<Option<Sbbf>>>> {
        let this = &self.lookup.inner;
        let key = CacheKey::Bloom { file: file.to_string(), row_group: rg };
        if let Some(CacheValue::Bloom(b)) = this.cache.get(&key) {
            return Ok(b);
        }
        let mut out = Vec::with_capacity(leaves.len());
        for leaf in leaves {
            out.push(match leaf {
                Some(l) => read.bloom_filter(metadata, rg, *l).await?,
                None => None,
            });
        }
        let out = Arc::new(out);
        this.cache.put(key, CacheValue::Bloom(out.clone()));
        Ok(out)
    }
}

mod cache;
mod prune;
mod result;
#[cfg(test)]
mod tests;

pub use cache::LookupCache;
use cache::{CacheKey, CacheValue, DecodedPage};
use prune::{bloom_may_hold, within};
pub use result::LookupResult;
