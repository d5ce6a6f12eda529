//! Changelog producers (`changelog-producer`): the write-time side of the `lookup` producer.
//!
//! With `lookup`, every row a writer accepts becomes the exact change of the key's merged row: `+I` for a key
//! that had no visible row, `-U` old merged row then `+U` new merged row for an update (dropped when equal and
//! `changelog-producer.row-deduplicate` is set), `-D` with the old merged row when the merge removes the key;
//! `first-row` emits only the first `+I` of a key. dyntable computes these when the row is written (Java
//! computes them at compaction), so the embedded log carries them as soon as `write` returns and the
//! changelog files of the `APPEND` snapshot hold the same changes.
//!
//! The key's previous merged row comes from the writer's own state first (every key it changed since its last
//! commit: unflushed rows and flushed-but-uncommitted files alike), then from the bucket's committed LSM
//! through [`PreviousRows`]. [`MergeReadPreviousRows`] reads the committed bucket with the merge-on-read of
//! [`crate::read`]; a point-lookup primitive can replace it.
//!
//! A key's state is its merged row *as the merge engine leaves it*, retractions included (an aggregation of
//! only retractions stays a `-U`), so that merging it with the next row gives what merge-on-read over all
//! versions gives; a retracted state is not visible (no `-U`/`-D` is emitted for it).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int8Array, RecordBatch};
use arrow::compute;
use arrow::datatypes::Int8Type;
use arrow::row::{RowConverter, SortField};
use async_trait::async_trait;
use futures::TryStreamExt;

use crate::bucket::BucketKey;
use crate::datafile::file_schema;
use crate::datum::Datum;
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::manifest::ManifestStore;
use crate::merge::{MergeSpec, OutputBuilder, Versions};
use crate::options::{CoreOptions, MergeEngine};
use crate::read::TableRead;
use crate::row_kind::RowKind;
use crate::scan::{live_entries, DataSplit};
use crate::schema::TableSchema;
use crate::snapshot::SnapshotManager;
use crate::types::DataType;

/// Previous merged rows of keys in a bucket's committed LSM.
#[async_trait]
pub trait PreviousRows: Send + Sync {
    /// For each row of `keys` (the trimmed primary-key columns), its merged row in the bucket's latest
    /// committed state, retractions included: a batch in the key-value file layout and, per requested key,
    /// the row of it or `None` when the bucket has no version of the key.
    async fn previous(
        &mut self,
        bucket: &BucketKey,
        partition: &[Datum],
        keys: &[ArrayRef],
    ) -> Result<(RecordBatch, Vec<Option<usize>>)>;

    /// Forgets what was read (the writer committed: the committed state changed).
    fn invalidate(&mut self);
}

/// [`PreviousRows`] by merge-on-read: the first lookup in a bucket after a commit reads the whole bucket of
/// the latest snapshot through [`TableRead::merge_runs`] (retractions kept) and keeps it until the next
/// commit. Memory is the bucket's merged rows; a point lookup can replace it.
pub struct MergeReadPreviousRows {
    schema: Arc<TableSchema>,
    read: TableRead,
    snapshots: SnapshotManager,
    manifests: ManifestStore,
    keys: RowConverter,
    cache: HashMap<BucketKey, (RecordBatch, HashMap<Vec<u8>, usize>)>,
}

impl MergeReadPreviousRows {
    pub fn new(io: FileIO, schema: Arc<TableSchema>) -> Result<Self> {
        let read = TableRead::new(io.clone(), schema.clone(), None, None)?;
        Ok(MergeReadPreviousRows {
            keys: key_converter(&schema)?,
            read,
            snapshots: SnapshotManager::new(io.clone()),
            manifests: ManifestStore::new(io),
            schema,
            cache: HashMap::new(),
        })
    }

    async fn load(&self, bucket: &BucketKey, partition: &[Datum]) -> Result<(RecordBatch, HashMap<Vec<u8>, usize>)> {
        let target = file_schema(&self.schema);
        let empty = || (RecordBatch::new_empty(target.clone()), HashMap::new());
        let Some(latest) = self.snapshots.latest().await? else { return Ok(empty()) };
        let entries = live_entries(&self.manifests, &latest).await?;
        let in_bucket: Vec<_> =
            entries.iter().filter(|e| e.partition == bucket.partition && e.bucket == bucket.bucket).collect();
        let Some(first) = in_bucket.first() else { return Ok(empty()) };
        let split = DataSplit {
            partition: partition.to_vec(),
            partition_bytes: bucket.partition.clone(),
            bucket: bucket.bucket,
            total_buckets: first.total_buckets,
            files: in_bucket.iter().map(|e| e.file.clone()).collect(),
        };
        let runs = self.read.sorted_runs(&split.files)?;
        let stream = self.read.merge_runs(split, runs, self.read.full_columns(), true)?;
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        let batches = batches
            .into_iter()
            .map(|b| RecordBatch::try_new(target.clone(), b.columns().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let all = compute::concat_batches(&target, &batches)?;
        let nkeys = self.schema.key_fields().len();
        let rows = self.keys.convert_columns(&all.columns()[..nkeys])?;
        let index = (0..rows.num_rows()).map(|i| (rows.row(i).as_ref().to_vec(), i)).collect();
        Ok((all, index))
    }
}

#[async_trait]
impl PreviousRows for MergeReadPreviousRows {
    async fn previous(
        &mut self,
        bucket: &BucketKey,
        partition: &[Datum],
        keys: &[ArrayRef],
    ) -> Result<(RecordBatch, Vec<Option<usize>>)> {
        if !self.cache.contains_key(bucket) {
            let loaded = self.load(bucket, partition).await?;
            self.cache.insert(bucket.clone(), loaded);
        }
        let (batch, index) = &self.cache[bucket];
        let rows = self.keys.convert_columns(keys)?;
        let found = (0..rows.num_rows()).map(|i| index.get(rows.row(i).as_ref()).copied()).collect();
        Ok((batch.clone(), found))
    }

    fn invalidate(&mut self) {
        self.cache.clear();
    }
}

fn key_converter(schema: &TableSchema) -> Result<RowConverter> {
    Ok(RowConverter::new(schema.key_fields().iter().map(|f| SortField::new(f.data_type.to_arrow())).collect())?)
}

/// A key's merged row: one row of a key-value batch (its kind may be a retraction).
type KeyState = Option<RecordBatch>;

/// Key states computed for one batch, applied once the batch is accepted.
pub struct Staged {
    bucket: BucketKey,
    states: HashMap<Vec<u8>, KeyState>,
}

/// The `lookup` producer's change computation (see the module docs).
pub struct LookupChangelog {
    schema: Arc<TableSchema>,
    spec: MergeSpec,
    engine: MergeEngine,
    row_deduplicate: bool,
    nkeys: usize,
    value_names: Vec<String>,
    value_types: Vec<DataType>,
    /// Value columns of `sequence.field`, in the key-value layout.
    sequence_columns: Vec<usize>,
    keys: RowConverter,
    previous: Box<dyn PreviousRows>,
    /// Per bucket, the merged row of every key changed since the last commit.
    state: HashMap<BucketKey, HashMap<Vec<u8>, KeyState>>,
}

impl LookupChangelog {
    pub fn new(schema: Arc<TableSchema>, options: &CoreOptions, previous: Box<dyn PreviousRows>) -> Result<Self> {
        let spec = MergeSpec::new(&schema)?;
        let nkeys = schema.key_fields().len();
        let sequence_columns = match &options.sequence_field {
            Some(sf) => sf
                .split(',')
                .map(|f| {
                    schema
                        .field_index(f.trim())
                        .map(|i| nkeys + 2 + i)
                        .ok_or_else(|| Error::invalid(format!("sequence.field `{f}` is not a column")))
                })
                .collect::<Result<_>>()?,
            None => Vec::new(),
        };
        Ok(LookupChangelog {
            engine: spec.engine,
            spec,
            row_deduplicate: options.changelog_row_deduplicate,
            nkeys,
            value_names: schema.fields.iter().map(|f| f.name.clone()).collect(),
            value_types: schema.fields.iter().map(|f| f.data_type.clone()).collect(),
            sequence_columns,
            keys: key_converter(&schema)?,
            previous,
            schema,
            state: HashMap::new(),
        })
    }

    /// Replaces where previous rows come from (e.g. a point-lookup primitive).
    pub fn with_previous_rows(mut self, previous: Box<dyn PreviousRows>) -> Self {
        self.previous = previous;
        self
    }

    /// The exact changes of `input` (rows of one bucket in the key-value layout, in arrival order, with their
    /// sequence numbers) in the key-value layout, and the key states after them (apply them with
    /// [`Self::apply`] once the rows are accepted; nothing changes here). Fails as the merge engine would
    /// (e.g. a delete on partial-update without a delete option).
    pub async fn changes(
        &mut self,
        bucket: &BucketKey,
        partition: &[Datum],
        input: &RecordBatch,
    ) -> Result<(RecordBatch, Staged)> {
        let nkeys = self.nkeys;
        let rows = self.keys.convert_columns(&input.columns()[..nkeys])?;
        let known = self.state.get(bucket);
        // Keys neither in this writer's state nor earlier in the batch: one lookup for all of them.
        let mut missing: Vec<u32> = Vec::new();
        let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
        for i in 0..rows.num_rows() {
            let k = rows.row(i).data();
            if !known.is_some_and(|s| s.contains_key(k)) && seen.insert(k) {
                missing.push(i as u32);
            }
        }
        let mut staged: HashMap<Vec<u8>, KeyState> = HashMap::new();
        if !missing.is_empty() {
            let take = arrow::array::UInt32Array::from(missing.clone());
            let keys: Vec<ArrayRef> = input.columns()[..nkeys]
                .iter()
                .map(|c| compute::take(c.as_ref(), &take, None))
                .collect::<std::result::Result<_, _>>()?;
            let (found_batch, found) = self.previous.previous(bucket, partition, &keys).await?;
            let target = file_schema(&self.schema);
            for (i, f) in missing.iter().zip(found) {
                let state = match f {
                    Some(r) => Some(RecordBatch::try_new(target.clone(), found_batch.slice(r, 1).columns().to_vec())?),
                    None => None,
                };
                staged.insert(rows.row(*i as usize).data().to_vec(), state);
            }
        }
        let mut out = Changes::default();
        let kinds = input.column(nkeys + 1).as_primitive::<Int8Type>();
        for i in 0..input.num_rows() {
            let k = rows.row(i).data();
            if self.spec.ignore_delete && RowKind::from_byte(kinds.value(i)).is_some_and(RowKind::is_retract) {
                // The merge engine ignores it (`*.ignore-delete`): no change, not even -U/+U of the same row.
                continue;
            }
            let old: KeyState = match staged.get(k) {
                Some(s) => s.clone(),
                None => known.and_then(|s| s.get(k)).cloned().flatten(),
            };
            let new = self.merge_one(old.as_ref(), input, i)?;
            self.emit(old.as_ref(), new.as_ref(), &mut out)?;
            staged.insert(k.to_vec(), new);
        }
        let changes = out.finish(file_schema(&self.schema), nkeys)?;
        Ok((changes, Staged { bucket: bucket.clone(), states: staged }))
    }

    /// Makes staged key states current.
    pub fn apply(&mut self, staged: Staged) {
        self.state.entry(staged.bucket).or_default().extend(staged.states);
    }

    /// Forgets the key states (after a commit: the committed LSM now holds them).
    pub fn committed(&mut self) {
        self.state.clear();
        self.previous.invalidate();
    }

    /// The merged row of a key after row `i` of `input`, given its state before.
    fn merge_one(&self, old: Option<&RecordBatch>, input: &RecordBatch, i: usize) -> Result<KeyState> {
        if self.engine == MergeEngine::Deduplicate && self.sequence_columns.is_empty() {
            // Deduplicate by arrival: the merged row is the input row itself, kind included (what `build` gives
            // for this engine, without building a batch).
            return Ok(Some(input.slice(i, 1)));
        }
        let Some(old) = old else {
            let v = Versions { rows: &[(input, i)], nkeys: self.nkeys, value_names: &self.value_names };
            return self.build(&v, &[(1, i)], input, input);
        };
        // Versions oldest first: by `sequence.field`, then arrival (the state is older).
        let input_older = !self.sequence_columns.is_empty() && self.sequence_cmp(input, i, old, 0)?.is_lt();
        type Pair<'a> = ([(&'a RecordBatch, usize); 2], [(usize, usize); 2]);
        let (rows, slots): Pair = if input_older {
            ([(input, i), (old, 0)], [(1, i), (0, 0)])
        } else {
            ([(old, 0), (input, i)], [(0, 0), (1, i)])
        };
        let v = Versions { rows: &rows, nkeys: self.nkeys, value_names: &self.value_names };
        self.build(&v, &slots, old, input)
    }

    /// Merges versions whose `slots` index `[old, input]`.
    fn build(
        &self,
        v: &Versions,
        slots: &[(usize, usize)],
        old: &RecordBatch,
        input: &RecordBatch,
    ) -> Result<KeyState> {
        let Some(m) = self.spec.merge(v, &self.value_types)? else { return Ok(None) };
        let seq =
            |(b, r): (&RecordBatch, usize)| b.column(self.nkeys).as_primitive::<arrow::datatypes::Int64Type>().value(r);
        let seq_max = v.rows.iter().map(|r| seq(*r)).max().unwrap_or(0);
        let mut builder = OutputBuilder::new();
        builder.push(&m, slots, seq_max);
        Ok(Some(builder.finish(&[old.clone(), input.clone()], self.nkeys)?))
    }

    fn sequence_cmp(&self, a: &RecordBatch, i: usize, b: &RecordBatch, j: usize) -> Result<std::cmp::Ordering> {
        for c in &self.sequence_columns {
            let cmp = arrow::array::make_comparator(
                a.column(*c).as_ref(),
                b.column(*c).as_ref(),
                arrow_schema::SortOptions { descending: false, nulls_first: true },
            )?(i, j);
            if cmp.is_ne() {
                return Ok(cmp);
            }
        }
        Ok(std::cmp::Ordering::Equal)
    }

    /// Appends the changes from `old` to `new` (key states) to `out`.
    fn emit(&self, old: Option<&RecordBatch>, new: Option<&RecordBatch>, out: &mut Changes) -> Result<()> {
        let visible = |s: Option<&RecordBatch>| -> Option<RecordBatch> {
            s.filter(|b| {
                let kind = b.column(self.nkeys + 1).as_primitive::<Int8Type>().value(0);
                !RowKind::from_byte(kind).unwrap_or(RowKind::Insert).is_retract()
            })
            .cloned()
        };
        let (old, new) = (visible(old), visible(new));
        match (old, new) {
            (None, Some(n)) => out.push(n, RowKind::Insert),
            (Some(_), Some(_)) if self.engine == MergeEngine::FirstRow => {}
            (Some(o), Some(n)) => {
                if self.row_deduplicate && self.values_equal(&o, &n) {
                    return Ok(());
                }
                out.push(o, RowKind::UpdateBefore);
                out.push(n, RowKind::UpdateAfter);
            }
            (Some(o), None) => out.push(o, RowKind::Delete),
            (None, None) => {}
        }
        Ok(())
    }

    fn values_equal(&self, a: &RecordBatch, b: &RecordBatch) -> bool {
        (self.nkeys + 2..a.num_columns()).all(|c| a.column(c).to_data() == b.column(c).to_data())
    }
}

/// The changes of one input batch as they are found: one-row key states and the kind each is emitted with,
/// gathered into one batch at the end (one `interleave` per column, not a batch per change).
#[derive(Default)]
struct Changes {
    rows: Vec<RecordBatch>,
    kinds: Vec<i8>,
}

impl Changes {
    fn push(&mut self, row: RecordBatch, kind: RowKind) {
        self.rows.push(row);
        self.kinds.push(kind as i8);
    }

    /// The changes in the key-value layout `schema`, `_VALUE_KIND` set to each change's kind.
    fn finish(self, schema: arrow_schema::SchemaRef, nkeys: usize) -> Result<RecordBatch> {
        if self.rows.is_empty() {
            return Ok(RecordBatch::new_empty(schema));
        }
        let mut columns = Vec::with_capacity(schema.fields().len());
        let picks: Vec<(usize, usize)> = (0..self.rows.len()).map(|i| (i, 0)).collect();
        for c in 0..schema.fields().len() {
            if c == nkeys + 1 {
                columns.push(Arc::new(Int8Array::from(self.kinds.clone())) as ArrayRef);
                continue;
            }
            let arrays: Vec<&dyn Array> = self.rows.iter().map(|r| r.column(c).as_ref()).collect();
            columns.push(compute::interleave(&arrays, &picks)?);
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// The changelog files of `snapshot` (its `changelogManifestList`), in manifest order.
pub async fn changelog_entries(
    manifests: &ManifestStore,
    snapshot: &crate::snapshot::Snapshot,
) -> Result<Vec<crate::manifest::ManifestEntry>> {
    let Some(list) = &snapshot.changelog_manifest_list else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for m in manifests.read_list(list).await? {
        out.extend(manifests.read_manifest(&m.file_name).await?);
    }
    Ok(out)
}

/// The rows of `snapshot`'s changelog files, in the key-value layout of the current schema (`_KEY_*`,
/// `_SEQUENCE_NUMBER`, `_VALUE_KIND`, value columns), file by file in manifest order and each file in its
/// order: the changes the snapshot committed.
pub async fn read_changelog(
    io: &FileIO,
    schema: &Arc<TableSchema>,
    snapshot: &crate::snapshot::Snapshot,
) -> Result<Vec<RecordBatch>> {
    let options = schema.options()?;
    let schemas = crate::schema::SchemaManager::new(io.clone());
    let cols =
        crate::datafile::ReadColumns { system: crate::datafile::SystemColumns::All, values: schema.fields.clone() };
    let mut out = Vec::new();
    for e in changelog_entries(&ManifestStore::new(io.clone()), snapshot).await? {
        let partition_types = schema.partition_types();
        let partition = crate::binary_row::deserialize_row(&e.partition, &partition_types)?;
        let dir = crate::datafile::bucket_dir(schema, &partition, e.bucket, &options.partition_default_name);
        let file_schema = if e.file.schema_id == schema.id {
            schema.as_ref().clone()
        } else {
            schemas.schema(e.file.schema_id).await?
        };
        let stream = crate::datafile::read_data_file(
            io,
            &format!("{dir}/{}", e.file.file_name),
            e.file.file_size as u64,
            schema,
            &file_schema,
            &cols,
            8192,
            None,
        )
        .await?;
        out.extend(stream.try_collect::<Vec<_>>().await?);
    }
    Ok(out)
}
