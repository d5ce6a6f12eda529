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

/// What [`PreviousRows`] found: merged rows in the key-value layout, retractions included.
pub enum Previous {
    /// Every committed row of the bucket: a key without a row here has none (the producer then knows every
    /// key of the bucket and looks nothing up again while it keeps its state).
    Bucket(RecordBatch),
    /// Per requested key, its row in the batch or `None` when the bucket has no version of it.
    Keys(RecordBatch, Vec<Option<usize>>),
}

/// Previous merged rows of keys in a bucket's committed LSM.
#[async_trait]
pub trait PreviousRows: Send + Sync {
    /// The merged rows of `keys` (the trimmed primary-key columns) in the bucket's latest committed state.
    async fn previous(&mut self, bucket: &BucketKey, partition: &[Datum], keys: &[ArrayRef]) -> Result<Previous>;

    /// Forgets what was read (the writer committed: the committed state changed).
    fn invalidate(&mut self);
}

/// [`PreviousRows`] by merge-on-read: reads the whole bucket of the latest snapshot through
/// [`TableRead::merge_runs`] (retractions kept), once per bucket while the producer keeps its state.
pub struct MergeReadPreviousRows {
    schema: Arc<TableSchema>,
    read: TableRead,
    snapshots: SnapshotManager,
    manifests: ManifestStore,
}

impl MergeReadPreviousRows {
    pub fn new(io: FileIO, schema: Arc<TableSchema>) -> Result<Self> {
        let read = TableRead::new(io.clone(), schema.clone(), None, None)?;
        Ok(MergeReadPreviousRows {
            read,
            snapshots: SnapshotManager::new(io.clone()),
            manifests: ManifestStore::new(io),
            schema,
        })
    }
}

#[async_trait]
impl PreviousRows for MergeReadPreviousRows {
    async fn previous(&mut self, bucket: &BucketKey, partition: &[Datum], _keys: &[ArrayRef]) -> Result<Previous> {
        let target = file_schema(&self.schema);
        let empty = || Previous::Bucket(RecordBatch::new_empty(target.clone()));
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
        Ok(Previous::Bucket(compute::concat_batches(&target, &batches)?))
    }

    fn invalidate(&mut self) {}
}

fn key_converter(schema: &TableSchema) -> Result<RowConverter> {
    Ok(RowConverter::new(schema.key_fields().iter().map(|f| SortField::new(f.data_type.to_arrow())).collect())?)
}

/// A key's merged row: a row of one of a bucket's source batches (key-value layout; its kind may be a
/// retraction), or no row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyState {
    Absent,
    /// `visible`: the row is not a retraction (kept here so that the change of a key reads its old row only
    /// when it emits it).
    At {
        source: u32,
        row: u32,
        visible: bool,
    },
}

/// Whether a row of kind `kind` (`_VALUE_KIND`) is visible: not a retraction.
fn visible_kind(kind: i8) -> bool {
    !RowKind::from_byte(kind).unwrap_or(RowKind::Insert).is_retract()
}

/// The kinds column of a batch in the key-value layout.
fn kinds_of(batch: &RecordBatch, nkeys: usize) -> &arrow::array::Int8Array {
    batch.column(nkeys + 1).as_primitive::<Int8Type>()
}

/// A key's bytes (row format), inline when short: a probe that finds its key reads no other memory.
#[derive(Clone)]
enum KeyBytes {
    Inline { len: u8, bytes: [u8; 22] },
    Heap(Box<[u8]>),
}

impl KeyBytes {
    fn new(k: &[u8]) -> Self {
        if k.len() <= 22 {
            let mut bytes = [0u8; 22];
            bytes[..k.len()].copy_from_slice(k);
            KeyBytes::Inline { len: k.len() as u8, bytes }
        } else {
            KeyBytes::Heap(k.into())
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            KeyBytes::Inline { len, bytes } => &bytes[..*len as usize],
            KeyBytes::Heap(b) => b,
        }
    }
}

impl PartialEq for KeyBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for KeyBytes {}

impl std::hash::Hash for KeyBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `[u8]` hashes, so that `&[u8]` finds it (`Borrow`).
        self.as_slice().hash(state)
    }
}

impl std::borrow::Borrow<[u8]> for KeyBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

/// One bucket's key states: every key changed since the last commit (or looked up since), as a slot of
/// `states` found through `index`, pointing into `sources` (input batches, looked-up rows, merged rows), which
/// are compacted to the live rows when they hold mostly dead ones.
#[derive(Default)]
struct BucketState {
    sources: Vec<RecordBatch>,
    rows_held: usize,
    index: hashbrown::HashMap<KeyBytes, u32>,
    states: Vec<KeyState>,
    /// Whether `index` holds every key the bucket has (a key not in it has no row).
    complete: bool,
}

impl BucketState {
    /// Bytes held: the sources' Arrow memory and the key index.
    fn memory(&self) -> usize {
        self.sources.iter().map(|s| s.get_array_memory_size()).sum::<usize>()
            + self.index.capacity() * (std::mem::size_of::<(KeyBytes, u32)>() + 1)
            + self.states.capacity() * std::mem::size_of::<KeyState>()
    }
}

/// Key states computed for one batch, applied once the batch is accepted: the sources they add (numbered
/// from `base`) and the new state of each key slot the batch changed.
pub struct Staged {
    bucket: BucketKey,
    base: usize,
    sources: Vec<RecordBatch>,
    keys: Vec<(u32, KeyState)>,
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
    /// Per key-value column: whether it is a key or primary-key value column (equal in all rows of a key).
    from_input: Vec<bool>,
    /// `lookup.cache-max-memory-size`: key states kept across commits up to this size per bucket.
    cache_bytes: usize,
    previous: Box<dyn PreviousRows>,
    state: HashMap<BucketKey, BucketState>,
}

/// A bucket's sources as one numbering: the applied ones, then those a batch adds.
struct Sources<'a> {
    held: &'a [RecordBatch],
    added: &'a [RecordBatch],
}

impl Sources<'_> {
    fn get(&self, i: u32) -> &RecordBatch {
        let i = i as usize;
        if i < self.held.len() {
            &self.held[i]
        } else {
            &self.added[i - self.held.len()]
        }
    }

    fn all(&self) -> Vec<RecordBatch> {
        self.held.iter().chain(self.added).cloned().collect()
    }
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
            from_input: (0..nkeys)
                .map(|_| true)
                .chain([false, false])
                .chain(schema.fields.iter().map(|f| schema.primary_keys.contains(&f.name)))
                .collect(),
            cache_bytes: options.lookup_cache_max_memory_size as usize,
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
        let mut held = self.state.remove(bucket).unwrap_or_default();
        let result = self.changes_in(&mut held, bucket, partition, input).await;
        self.state.insert(bucket.clone(), held);
        result
    }

    async fn changes_in(
        &mut self,
        held: &mut BucketState,
        bucket: &BucketKey,
        partition: &[Datum],
        input: &RecordBatch,
    ) -> Result<(RecordBatch, Staged)> {
        let nkeys = self.nkeys;
        let target = file_schema(&self.schema);
        let input = RecordBatch::try_new(target.clone(), input.columns().to_vec())?;
        let rows = self.keys.convert_columns(&input.columns()[..nkeys])?;
        let kinds = input.column(nkeys + 1).as_primitive::<Int8Type>();
        // Rows that change their key (a retraction the merge engine ignores changes nothing, not even -U/+U).
        let live: Vec<u32> = (0..input.num_rows() as u32)
            .filter(|&i| {
                !(self.spec.ignore_delete
                    && RowKind::from_byte(kinds.value(i as usize)).is_some_and(RowKind::is_retract))
            })
            .collect();
        // The batch's distinct keys (slot, state as the batch goes) and each live row's index among them. A key
        // the bucket state does not know gets a slot now and its committed row looked up below.
        let mut keys: Vec<(u32, KeyState)> = Vec::new();
        let mut key_of: Vec<u32> = Vec::with_capacity(live.len());
        let known_slots = held.states.len();
        let mut missing: Vec<u32> = Vec::new();
        {
            let mut local: hashbrown::HashMap<u32, u32> = hashbrown::HashMap::with_capacity(live.len());
            for &i in &live {
                let k = rows.row(i as usize).data();
                let slot = match held.index.get(k) {
                    Some(&s) => s,
                    None => {
                        let s = held.states.len() as u32;
                        held.index.insert(KeyBytes::new(k), s);
                        held.states.push(KeyState::Absent);
                        if !held.complete {
                            missing.push(i);
                        }
                        s
                    }
                };
                let n = *local.entry(slot).or_insert_with(|| {
                    keys.push((slot, KeyState::Absent));
                    keys.len() as u32 - 1
                });
                key_of.push(n);
            }
        }
        if !missing.is_empty() {
            if let Err(e) = self.look_up(held, bucket, partition, &input, &missing).await {
                // Forget the slots given above: their committed rows are unknown.
                for &i in &missing {
                    held.index.remove(rows.row(i as usize).data());
                }
                held.states.truncate(known_slots);
                held.index.retain(|_, s| (*s as usize) < known_slots);
                return Err(e);
            }
        }
        for k in keys.iter_mut() {
            k.1 = held.states[k.0 as usize];
        }
        let base = held.sources.len();
        let mut added = vec![input.clone()];
        let input_source = base as u32;
        let mut out = Changes::default();
        if self.engine == MergeEngine::Deduplicate && self.sequence_columns.is_empty() {
            // Deduplicate by arrival: the merged row is the input row itself, kind included.
            let sources = Sources { held: &held.sources, added: &added };
            for (&i, &n) in live.iter().zip(&key_of) {
                let new = KeyState::At { source: input_source, row: i, visible: visible_kind(kinds.value(i as usize)) };
                let old = std::mem::replace(&mut keys[n as usize].1, new);
                self.emit(&sources, i, old, new, &mut out)?;
            }
        } else {
            self.merge_rounds(&live, &key_of, &held.sources, &mut added, &mut keys, &mut out)?;
        }
        let sources = Sources { held: &held.sources, added: &added };
        let changes = out.finish(&sources, input_source, &self.from_input, target, nkeys)?;
        Ok((changes, Staged { bucket: bucket.clone(), base, sources: added, keys }))
    }

    /// Looks up the committed rows of the keys of `input`'s rows `missing` (slots just given, state
    /// `Absent`) and records what is found as their states (facts about the committed bucket, kept whether or
    /// not the batch is accepted).
    async fn look_up(
        &mut self,
        held: &mut BucketState,
        bucket: &BucketKey,
        partition: &[Datum],
        input: &RecordBatch,
        missing: &[u32],
    ) -> Result<()> {
        let take = arrow::array::UInt32Array::from(missing.to_vec());
        let key_columns: Vec<ArrayRef> = input.columns()[..self.nkeys]
            .iter()
            .map(|c| compute::take(c.as_ref(), &take, None))
            .collect::<std::result::Result<_, _>>()?;
        let first_new = held.states.len() - missing.len();
        let (found_batch, found) = match self.previous.previous(bucket, partition, &key_columns).await? {
            Previous::Keys(batch, found) => (batch, found),
            Previous::Bucket(batch) => {
                // Every key of the bucket: those this writer has not seen get a slot, the ones just given get
                // their row; the keys it changed keep their (newer) states.
                let rows = self.keys.convert_columns(&batch.columns()[..self.nkeys])?;
                let batch = RecordBatch::try_new(input.schema(), batch.columns().to_vec())?;
                let source = held.sources.len() as u32;
                let kinds = kinds_of(&batch, self.nkeys);
                for r in 0..rows.num_rows() {
                    let state = KeyState::At { source, row: r as u32, visible: visible_kind(kinds.value(r)) };
                    let k = rows.row(r).data();
                    match held.index.get(k) {
                        Some(&slot) if slot as usize >= first_new => held.states[slot as usize] = state,
                        Some(_) => {}
                        None => {
                            held.index.insert(KeyBytes::new(k), held.states.len() as u32);
                            held.states.push(state);
                        }
                    }
                }
                held.complete = true;
                held.rows_held += batch.num_rows();
                held.sources.push(batch);
                return Ok(());
            }
        };
        if !found.iter().any(Option::is_some) {
            return Ok(());
        }
        let source = held.sources.len() as u32;
        let found_batch = RecordBatch::try_new(input.schema(), found_batch.columns().to_vec())?;
        let kinds = kinds_of(&found_batch, self.nkeys).clone();
        held.rows_held += found_batch.num_rows();
        held.sources.push(found_batch);
        for (n, f) in found.into_iter().enumerate() {
            if let Some(r) = f {
                held.states[first_new + n] =
                    KeyState::At { source, row: r as u32, visible: visible_kind(kinds.value(r)) };
            }
        }
        Ok(())
    }

    /// Merges each row with its key's state. Rows are taken in rounds (a key's first row in the batch, then
    /// its second, ...) so that every round merges distinct keys and builds its merged rows as one batch.
    #[allow(clippy::too_many_arguments)]
    fn merge_rounds(
        &self,
        live: &[u32],
        slot_of: &[u32],
        held: &[RecordBatch],
        added: &mut Vec<RecordBatch>,
        keys: &mut [(u32, KeyState)],
        out: &mut Changes,
    ) -> Result<()> {
        let input_source = held.len();
        let mut rounds: Vec<Vec<(u32, u32)>> = Vec::new();
        {
            let mut seen: Vec<usize> = vec![0; keys.len()];
            for (&i, &slot) in live.iter().zip(slot_of) {
                let n = &mut seen[slot as usize];
                if rounds.len() <= *n {
                    rounds.push(Vec::new());
                }
                rounds[*n].push((i, slot));
                *n += 1;
            }
        }
        let seq =
            |b: &RecordBatch, r: usize| b.column(self.nkeys).as_primitive::<arrow::datatypes::Int64Type>().value(r);
        for round in rounds {
            let round_source = (held.len() + added.len()) as u32;
            let mut builder = OutputBuilder::new();
            let mut news: Vec<KeyState> = Vec::with_capacity(round.len());
            {
                let sources = Sources { held, added };
                let input = sources.get(input_source as u32);
                for &(i, slot) in &round {
                    let i = i as usize;
                    let merged = match keys[slot as usize].1 {
                        KeyState::Absent => {
                            let v = Versions { rows: &[(input, i)], nkeys: self.nkeys, value_names: &self.value_names };
                            self.spec.merge(&v, &self.value_types)?.map(|m| (m, vec![(input_source, i)], seq(input, i)))
                        }
                        KeyState::At { source, row, .. } => {
                            let old_batch = sources.get(source);
                            let (o, n) = ((old_batch, row as usize), (input, i));
                            let (os, ns) = ((source as usize, row as usize), (input_source, i));
                            // Versions oldest first: by `sequence.field`, then arrival (the state is older).
                            let input_older = !self.sequence_columns.is_empty()
                                && self.sequence_cmp(input, i, old_batch, row as usize)?.is_lt();
                            let (versions, slots) =
                                if input_older { ([n, o], vec![ns, os]) } else { ([o, n], vec![os, ns]) };
                            let v = Versions { rows: &versions, nkeys: self.nkeys, value_names: &self.value_names };
                            let seq_max = seq(o.0, o.1).max(seq(n.0, n.1));
                            self.spec.merge(&v, &self.value_types)?.map(|m| (m, slots, seq_max))
                        }
                    };
                    news.push(match merged {
                        Some((m, slots, seq_max)) => {
                            let row = builder.len() as u32;
                            builder.push(&m, &slots, seq_max);
                            KeyState::At { source: round_source, row, visible: true }
                        }
                        None => KeyState::Absent,
                    });
                }
            }
            if !builder.is_empty() {
                let all = Sources { held, added }.all();
                let merged = builder.finish(&all, self.nkeys)?;
                let kinds = kinds_of(&merged, self.nkeys);
                for n in news.iter_mut() {
                    if let KeyState::At { row, visible, .. } = n {
                        *visible = visible_kind(kinds.value(*row as usize));
                    }
                }
                added.push(merged);
            }
            let sources = Sources { held, added };
            for (&(i, slot), new) in round.iter().zip(news) {
                let old = std::mem::replace(&mut keys[slot as usize].1, new);
                self.emit(&sources, i, old, new, out)?;
            }
        }
        // Back to arrival order (rounds emit a key's later rows after other keys' first rows).
        out.sort_by_row();
        Ok(())
    }

    /// Makes staged key states current.
    pub fn apply(&mut self, staged: Staged) -> Result<()> {
        let state = self.state.entry(staged.bucket).or_default();
        let shift = state.sources.len() as i64 - staged.base as i64;
        for s in &staged.sources {
            state.rows_held += s.num_rows();
        }
        state.sources.extend(staged.sources);
        for (i, mut v) in staged.keys {
            if let KeyState::At { source, .. } = &mut v {
                if *source as usize >= staged.base {
                    *source = (*source as i64 + shift) as u32;
                }
            }
            state.states[i as usize] = v;
        }
        if state.sources.len() > 16 && state.rows_held > 2 * state.states.len() + 65_536 {
            compact_state(state)?;
        }
        Ok(())
    }

    /// Forgets the key states (after a commit: the committed LSM now holds them).
    /// The writer committed everything it wrote: the committed LSM now holds the key states, so they stay
    /// (this writer is the bucket's only writer) while they fit in `lookup.cache-max-memory-size`. A bucket
    /// holding a retraction state (an aggregate of retractions, a delete) is dropped: compaction to the last
    /// level removes retractions, so the committed state may no longer have that row.
    pub fn committed(&mut self) {
        let limit = self.cache_bytes;
        let dedup = self.engine == MergeEngine::Deduplicate && self.sequence_columns.is_empty();
        self.state.retain(|_, s| {
            s.memory() <= limit && (dedup || s.states.iter().all(|k| !matches!(k, KeyState::At { visible: false, .. })))
        });
        self.previous.invalidate();
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

    /// The (source, row) of a state whose row is visible (not a retraction).
    fn visible(s: KeyState) -> Option<(u32, u32)> {
        match s {
            KeyState::At { source, row, visible: true } => Some((source, row)),
            _ => None,
        }
    }

    /// Appends the changes of input row `at` from state `old` to state `new` to `out`.
    fn emit(&self, sources: &Sources, at: u32, old: KeyState, new: KeyState, out: &mut Changes) -> Result<()> {
        match (Self::visible(old), Self::visible(new)) {
            (None, Some(n)) => out.push(at, n, RowKind::Insert),
            (Some(_), Some(_)) if self.engine == MergeEngine::FirstRow => {}
            (Some(o), Some(n)) => {
                if self.row_deduplicate && self.values_equal(sources, o, n) {
                    return Ok(());
                }
                out.push(at, o, RowKind::UpdateBefore);
                out.push(at, n, RowKind::UpdateAfter);
            }
            (Some(o), None) => out.push(at, o, RowKind::Delete),
            (None, None) => {}
        }
        Ok(())
    }

    fn values_equal(&self, sources: &Sources, (sa, ra): (u32, u32), (sb, rb): (u32, u32)) -> bool {
        let (a, b) = (sources.get(sa), sources.get(sb));
        (self.nkeys + 2..a.num_columns())
            .all(|c| a.column(c).slice(ra as usize, 1).to_data() == b.column(c).slice(rb as usize, 1).to_data())
    }
}

/// Gathers a bucket's live key states into one source batch.
fn compact_state(state: &mut BucketState) -> Result<()> {
    let mut picks: Vec<(usize, usize)> = Vec::with_capacity(state.states.len());
    let mut live: Vec<&mut KeyState> = Vec::with_capacity(state.states.len());
    for v in state.states.iter_mut() {
        if let KeyState::At { source, row, .. } = *v {
            picks.push((source as usize, row as usize));
            live.push(v);
        }
    }
    let refs: Vec<&RecordBatch> = state.sources.iter().collect();
    let batch = compute::interleave_record_batch(&refs, &picks)?;
    for (j, v) in live.into_iter().enumerate() {
        if let KeyState::At { source, row, .. } = v {
            (*source, *row) = (0, j as u32);
        }
    }
    state.rows_held = batch.num_rows();
    state.sources = vec![batch];
    Ok(())
}

/// The changes of one input batch as they are found: (source, row) of each changed row, the kind it is
/// emitted with and the input row it comes from, gathered into one batch at the end (one `interleave` per
/// column).
#[derive(Default)]
struct Changes {
    at: Vec<u32>,
    picks: Vec<(usize, usize)>,
    kinds: Vec<i8>,
}

impl Changes {
    fn push(&mut self, at: u32, (source, row): (u32, u32), kind: RowKind) {
        self.at.push(at);
        self.picks.push((source as usize, row as usize));
        self.kinds.push(kind as i8);
    }

    /// Orders the changes by the input row they come from (stable: a row's -U stays before its +U).
    fn sort_by_row(&mut self) {
        if self.at.windows(2).all(|w| w[0] <= w[1]) {
            return;
        }
        let mut order: Vec<usize> = (0..self.at.len()).collect();
        order.sort_by_key(|&i| self.at[i]);
        self.picks = order.iter().map(|&i| self.picks[i]).collect();
        self.kinds = order.iter().map(|&i| self.kinds[i]).collect();
        self.at = order.iter().map(|&i| self.at[i]).collect();
    }

    /// The changes in the key-value layout `schema`, `_VALUE_KIND` set to each change's kind. Columns in
    /// `from_input` (the key and primary-key columns: equal in every change of a key) are taken from the input
    /// row of each change (source `input`): read in order, not from wherever the old row lies.
    fn finish(
        self,
        sources: &Sources,
        input: u32,
        from_input: &[bool],
        schema: arrow_schema::SchemaRef,
        nkeys: usize,
    ) -> Result<RecordBatch> {
        if self.picks.is_empty() {
            return Ok(RecordBatch::new_empty(schema));
        }
        let all: Vec<&RecordBatch> = sources.held.iter().chain(sources.added).collect();
        let at = arrow::array::UInt32Array::from(self.at);
        let mut columns = Vec::with_capacity(schema.fields().len());
        for (c, &same_in_key) in from_input.iter().enumerate() {
            if c == nkeys + 1 {
                columns.push(Arc::new(Int8Array::from(self.kinds.clone())) as ArrayRef);
            } else if same_in_key {
                columns.push(compute::take(sources.get(input).column(c).as_ref(), &at, None)?);
            } else {
                let arrays: Vec<&dyn Array> = all.iter().map(|r| r.column(c).as_ref()).collect();
                columns.push(compute::interleave(&arrays, &self.picks)?);
            }
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
