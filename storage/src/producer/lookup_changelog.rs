//! The `lookup` producer's change computation: each row of a batch merged with its key's state, and the change
//! from the old merged row to the new one.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int8Array, RecordBatch};
use arrow::compute;
use arrow::row::{RowConverter, Rows, SortField};

use super::previous::{Previous, PreviousRows};
use super::state::{kinds_of, BucketState, KeyState, Undo};
use crate::bucket::BucketKey;
use crate::datafile::file_schema;
use crate::datum::Datum;
use crate::error::{Error, Result};
use crate::merge::{MergeSpec, OutputBuilder, Versions};
use crate::options::{CoreOptions, MergeEngine};
use crate::row_kind::RowKind;
use crate::schema::TableSchema;
use crate::types::DataType;

/// A batch's changes of one bucket's key states, made in place: keep them with [`LookupChangelog::apply`] or
/// take them back with [`LookupChangelog::discard`].
pub struct Staged {
    bucket: BucketKey,
    /// The bucket's source count before the batch (the batch's sources come after).
    batch_sources: usize,
    rows: Rows,
    undo: Vec<Undo>,
    /// Input rows the writer must not keep: retractions of keys without a visible row (see
    /// [`Staged::retained`]).
    dropped: Vec<u32>,
}

impl Staged {
    /// The rows of `input` (the batch given to [`LookupChangelog::changes`]) the writer keeps: all but the
    /// retractions of keys that had no visible row when they came. Such a retraction changes nothing a reader
    /// sees now, but kept in a file it would change how later rows of the key merge until a compaction to the
    /// last level drops it, so a key would read differently depending on when compactions ran (an aggregate
    /// retracted from nothing, a partial-update group taken over by a retraction); dropped at write time, the
    /// key reads as it would after that compaction, always, and the changelog is exact.
    pub fn retained(&self, input: &RecordBatch) -> Result<RecordBatch> {
        if self.dropped.is_empty() {
            return Ok(input.clone());
        }
        let mut keep = vec![true; input.num_rows()];
        for &i in &self.dropped {
            keep[i as usize] = false;
        }
        Ok(compute::filter_record_batch(input, &arrow::array::BooleanArray::from(keep))?)
    }
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
        let keys =
            RowConverter::new(schema.key_fields().iter().map(|f| SortField::new(f.data_type.to_arrow())).collect())?;
        Ok(LookupChangelog {
            engine: spec.engine,
            spec,
            row_deduplicate: options.changelog_row_deduplicate,
            nkeys,
            value_names: schema.fields.iter().map(|f| f.name.clone()).collect(),
            value_types: schema.fields.iter().map(|f| f.data_type.clone()).collect(),
            sequence_columns,
            keys,
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
    /// sequence numbers) in the key-value layout. The key states change with them: keep that with
    /// [`Self::apply`] once the rows are accepted, or take it back with [`Self::discard`]. Fails as the merge
    /// engine would (e.g. a delete on partial-update without a delete option), leaving the states as they were.
    pub async fn changes(
        &mut self,
        bucket: &BucketKey,
        partition: &[Datum],
        input: &RecordBatch,
    ) -> Result<(RecordBatch, Staged)> {
        let mut held = self.state.remove(bucket).unwrap_or_default();
        let input = RecordBatch::try_new(file_schema(&self.schema), input.columns().to_vec());
        let result = match input {
            Ok(input) => self.changes_in(&mut held, bucket, partition, &input).await,
            Err(e) => Err(e.into()),
        };
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
        let rows = self.keys.convert_columns(&input.columns()[..nkeys])?;
        let kinds = kinds_of(input, nkeys);
        // Rows that change their key (a retraction the merge engine ignores changes nothing, not even -U/+U).
        let live: Vec<u32> = (0..input.num_rows() as u32)
            .filter(|&i| {
                !(self.spec.ignore_delete
                    && RowKind::from_byte(kinds.value(i as usize)).is_some_and(RowKind::is_retract))
            })
            .collect();
        if !held.complete {
            // Keys the state does not know: one lookup for all of them.
            let mut seen: hashbrown::HashSet<&[u8]> = hashbrown::HashSet::new();
            let missing: Vec<u32> = live
                .iter()
                .copied()
                .filter(|&i| {
                    let k = rows.row(i as usize).data();
                    !held.contains(k) && seen.insert(k)
                })
                .collect();
            if !missing.is_empty() {
                self.look_up(held, bucket, partition, input, &rows, &missing).await?;
            }
        }
        let batch_sources = held.sources.len();
        let input_source = held.push_source(input.clone());
        let mut undo = Vec::new();
        let mut dropped = Vec::new();
        let mut out = Changes::default();
        let computed = if self.engine == MergeEngine::Deduplicate && self.sequence_columns.is_empty() {
            // Deduplicate by arrival: the merged row is the input row itself, kind included.
            for &i in &live {
                if is_retract(kinds, i) && held.get(rows.row(i as usize).data()).visible().is_none() {
                    dropped.push(i);
                    continue;
                }
                let new = KeyState::at(input_source, i, kinds);
                let old = held.set(&rows, i, new, input_source, &mut undo);
                self.emit(&held.sources, i, old, new, &mut out);
            }
            Ok(())
        } else {
            self.merge_rounds(held, &rows, &live, input_source, &mut undo, &mut out, &mut dropped)
        };
        dropped.sort_unstable();
        let changes =
            computed.and_then(|()| out.finish(&held.sources, input_source, &self.from_input, input.schema(), nkeys));
        match changes {
            Ok(changes) => Ok((changes, Staged { bucket: bucket.clone(), batch_sources, rows, undo, dropped })),
            Err(e) => {
                held.undo(&rows, &undo, batch_sources);
                Err(e)
            }
        }
    }

    /// Looks up the committed rows of the keys of `input`'s rows `missing` and records them in the state (facts
    /// about the committed bucket, kept whether or not the batch is accepted).
    async fn look_up(
        &mut self,
        held: &mut BucketState,
        bucket: &BucketKey,
        partition: &[Datum],
        input: &RecordBatch,
        rows: &Rows,
        missing: &[u32],
    ) -> Result<()> {
        let take = arrow::array::UInt32Array::from(missing.to_vec());
        let key_columns: Vec<ArrayRef> = input.columns()[..self.nkeys]
            .iter()
            .map(|c| compute::take(c.as_ref(), &take, None))
            .collect::<std::result::Result<_, _>>()?;
        match self.previous.previous(bucket, partition, &key_columns).await? {
            Previous::Bucket(batch) => {
                // Every key of the bucket: the keys this writer changed keep their (newer) states.
                let batch = RecordBatch::try_new(input.schema(), batch.columns().to_vec())?;
                let found = self.keys.convert_columns(&batch.columns()[..self.nkeys])?;
                let kinds = kinds_of(&batch, self.nkeys).clone();
                let source = held.push_source(batch);
                for r in 0..found.num_rows() {
                    held.learn(found.row(r).data(), KeyState::at(source, r as u32, &kinds));
                }
                held.complete = true;
            }
            Previous::Keys(batch, found) => {
                let batch = RecordBatch::try_new(input.schema(), batch.columns().to_vec())?;
                let kinds = kinds_of(&batch, self.nkeys).clone();
                let source = if found.iter().any(Option::is_some) { held.push_source(batch) } else { 0 };
                for (&i, f) in missing.iter().zip(found) {
                    let state = match f {
                        Some(r) => KeyState::at(source, r as u32, &kinds),
                        None => KeyState::Absent,
                    };
                    held.learn(rows.row(i as usize).data(), state);
                }
            }
        }
        Ok(())
    }

    /// Merges each row with its key's state. Rows are taken in rounds (a key's first row in the batch, then
    /// its second, ...) so that every round merges distinct keys and builds its merged rows as one batch.
    #[allow(clippy::too_many_arguments)]
    fn merge_rounds(
        &self,
        held: &mut BucketState,
        rows: &Rows,
        live: &[u32],
        input_source: u32,
        undo: &mut Vec<Undo>,
        out: &mut Changes,
        dropped: &mut Vec<u32>,
    ) -> Result<()> {
        let mut rounds: Vec<Vec<u32>> = Vec::new();
        {
            let mut seen: hashbrown::HashMap<&[u8], usize> = hashbrown::HashMap::new();
            for &i in live {
                let n = seen.entry(rows.row(i as usize).data()).or_insert(0);
                if rounds.len() <= *n {
                    rounds.push(Vec::new());
                }
                rounds[*n].push(i);
                *n += 1;
            }
        }
        let seq =
            |b: &RecordBatch, r: usize| b.column(self.nkeys).as_primitive::<arrow::datatypes::Int64Type>().value(r);
        let ins = input_source as usize;
        let input_kinds = kinds_of(&held.sources[ins], self.nkeys).clone();
        for round in rounds {
            let round_source = held.sources.len() as u32;
            let mut builder = OutputBuilder::new();
            let mut merged_rows: Vec<Option<u32>> = Vec::with_capacity(round.len());
            // Rows that cannot change what the key reads now but would once a compaction dropped a retraction
            // are dropped (see `Staged::retained` and `droppable`).
            let mut round_kept = Vec::with_capacity(round.len());
            for i in round {
                if self.droppable(held, rows, &input_kinds, ins, i)? {
                    dropped.push(i);
                } else {
                    round_kept.push(i);
                }
            }
            let round = round_kept;
            {
                let input = &held.sources[ins];
                for &i in &round {
                    let i = i as usize;
                    let merged = match held.get(rows.row(i).data()) {
                        KeyState::Absent => {
                            let v = Versions { rows: &[(input, i)], nkeys: self.nkeys, value_names: &self.value_names };
                            self.spec.merge(&v, &self.value_types)?.map(|m| (m, vec![(ins, i)], seq(input, i)))
                        }
                        KeyState::At { source, row, .. } => {
                            let old_batch = &held.sources[source as usize];
                            let (o, n) = ((old_batch, row as usize), (input, i));
                            let (os, ns) = ((source as usize, row as usize), (ins, i));
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
                    merged_rows.push(merged.map(|(m, slots, seq_max)| {
                        let row = builder.len() as u32;
                        builder.push(&m, &slots, seq_max);
                        row
                    }));
                }
            }
            let kinds = if builder.is_empty() {
                None
            } else {
                let merged = builder.finish(&held.sources, self.nkeys)?;
                let kinds = kinds_of(&merged, self.nkeys).clone();
                held.push_source(merged);
                Some(kinds)
            };
            for (&i, merged) in round.iter().zip(merged_rows) {
                let new = match (merged, &kinds) {
                    (Some(row), Some(kinds)) => KeyState::at(round_source, row, kinds),
                    _ => KeyState::Absent,
                };
                let old = held.set(rows, i, new, input_source, undo);
                self.emit(&held.sources, i, old, new, out);
            }
        }
        // Back to arrival order (rounds emit a key's later rows after other keys' first rows).
        out.sort_by_row();
        Ok(())
    }

    /// Whether input row `i` (of source `input`) is one the writer drops: a retraction of a key with no visible
    /// row, or, with `sequence.field` on deduplicate, a row older (by sequence) than the deletion the key's
    /// state is. Kept, either would change how the key merges once a compaction to the last level dropped a
    /// retraction (a deletion resurrecting an older row written after it), so the key's rows would depend on
    /// when compactions ran; dropped, the key reads the same whatever they do.
    fn droppable(&self, held: &BucketState, rows: &Rows, kinds: &Int8Array, input: usize, i: u32) -> Result<bool> {
        let retract = is_retract(kinds, i);
        let dedup_by_sequence = self.engine == MergeEngine::Deduplicate && !self.sequence_columns.is_empty();
        if !retract && !dedup_by_sequence {
            // Most rows: no probe of the key states here (the merge probes them once).
            return Ok(false);
        }
        let state = held.get(rows.row(i as usize).data());
        if retract && state.visible().is_none() {
            return Ok(true);
        }
        match state {
            KeyState::At { source, row, visible: false } if dedup_by_sequence => {
                let (new, old) = (&held.sources[input], &held.sources[source as usize]);
                Ok(self.sequence_cmp(new, i as usize, old, row as usize)?.is_lt())
            }
            _ => Ok(false),
        }
    }

    /// Keeps a batch's changes of the key states (the batch was accepted).
    pub fn apply(&mut self, staged: Staged) -> Result<()> {
        match self.state.get_mut(&staged.bucket) {
            Some(state) => state.maybe_compact(),
            None => Ok(()),
        }
    }

    /// Takes back a batch's changes of the key states (the batch was not accepted). Batches are discarded in
    /// the reverse order of their `changes`.
    pub fn discard(&mut self, staged: Staged) {
        if let Some(state) = self.state.get_mut(&staged.bucket) {
            state.undo(&staged.rows, &staged.undo, staged.batch_sources);
        }
    }

    /// The writer committed everything it wrote: the committed LSM now holds the key states, so they stay
    /// (this writer is the bucket's only writer) while they fit in `lookup.cache-max-memory-size`. A bucket
    /// holding a retraction state (an aggregate of retractions, a delete) is dropped unless the engine is
    /// deduplicate by arrival: compaction to the last level removes retractions, so the committed state may no
    /// longer have that row, and merging with it or with nothing differs for the other engines.
    pub fn committed(&mut self) {
        let limit = self.cache_bytes;
        let dedup = self.engine == MergeEngine::Deduplicate && self.sequence_columns.is_empty();
        self.state.retain(|_, s| s.memory() <= limit && (dedup || !s.holds_retraction()));
        self.previous.invalidate();
    }

    /// Forgets the key states of the buckets of these partitions (serialized rows): their rows were dropped.
    pub fn forget_partitions(&mut self, partitions: &std::collections::HashSet<Vec<u8>>) {
        self.state.retain(|bucket, _| !partitions.contains(&bucket.partition));
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

    /// Appends the changes of input row `at` from state `old` to state `new` to `out`.
    fn emit(&self, sources: &[RecordBatch], at: u32, old: KeyState, new: KeyState, out: &mut Changes) {
        match (old.visible(), new.visible()) {
            (None, Some(n)) => out.push(at, n, RowKind::Insert),
            (Some(_), Some(_)) if self.engine == MergeEngine::FirstRow => {}
            (Some(o), Some(n)) => {
                if self.row_deduplicate && self.values_equal(sources, o, n) {
                    return;
                }
                out.push(at, o, RowKind::UpdateBefore);
                out.push(at, n, RowKind::UpdateAfter);
            }
            (Some(o), None) => out.push(at, o, RowKind::Delete),
            (None, None) => {}
        }
    }

    fn values_equal(&self, sources: &[RecordBatch], (sa, ra): (u32, u32), (sb, rb): (u32, u32)) -> bool {
        let (a, b) = (&sources[sa as usize], &sources[sb as usize]);
        (self.nkeys + 2..a.num_columns())
            .all(|c| a.column(c).slice(ra as usize, 1).to_data() == b.column(c).slice(rb as usize, 1).to_data())
    }
}

/// Whether row `i` of a batch whose kinds are `kinds` is a retraction (-U or -D).
fn is_retract(kinds: &Int8Array, i: u32) -> bool {
    RowKind::from_byte(kinds.value(i as usize)).is_some_and(RowKind::is_retract)
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
        sources: &[RecordBatch],
        input: u32,
        from_input: &[bool],
        schema: arrow_schema::SchemaRef,
        nkeys: usize,
    ) -> Result<RecordBatch> {
        if self.picks.is_empty() {
            return Ok(RecordBatch::new_empty(schema));
        }
        let at = arrow::array::UInt32Array::from(self.at);
        let mut columns = Vec::with_capacity(schema.fields().len());
        for (c, &same_in_key) in from_input.iter().enumerate() {
            if c == nkeys + 1 {
                columns.push(Arc::new(Int8Array::from(self.kinds.clone())) as ArrayRef);
            } else if same_in_key {
                columns.push(compute::take(sources[input as usize].column(c).as_ref(), &at, None)?);
            } else {
                let arrays: Vec<&dyn Array> = sources.iter().map(|r| r.column(c).as_ref()).collect();
                columns.push(compute::interleave(&arrays, &self.picks)?);
            }
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}
