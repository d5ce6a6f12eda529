//! Merge engines: how the versions of one key combine into one row. One implementation serves the write
//! buffer, merge-on-read and compaction, so all three agree by construction.
//!
//! - `deduplicate`: the newest version wins, whatever its kind (a newest -U/-D removes the key).
//! - `first-row`: the oldest insert wins; later versions and retractions are ignored.
//! - `partial-update`: each column takes the newest non-null value; `fields.<g>.sequence-group = a,b` makes
//!   `a,b` update together, only from rows whose `g` is not older; deletes need `ignore-delete`,
//!   `partial-update.remove-record-on-delete` or sequence groups (retracting the group's fields). A column with
//!   `fields.<f>.aggregate-function` (or `fields.default-aggregate-function`) folds instead: in its group's
//!   sequence order, or over every insert outside the groups (which then must exist).
//! - `aggregation`: each value column folds with `fields.<f>.aggregate-function` (default
//!   `fields.default-aggregate-function`, else `last_non_null_value`); -U/-D retract where the function can
//!   (sum, product, last_value, last_non_null_value, collect, merge_map) unless `fields.<f>.ignore-retract`.
//!
//! Versions are given oldest first (ascending `sequence.field`, then sequence number).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::Int8Type;

use crate::error::{Error, Result};
use crate::options::{AggFn, MergeEngine, MergeOptions};
use crate::row_kind::RowKind;
use crate::schema::TableSchema;
use crate::types::DataType;

mod fold;
use fold::fold;

/// A table's merge engine: its options ([`MergeOptions`]) and the merge of one key's versions.
#[derive(Debug, Clone)]
pub struct MergeSpec {
    pub engine: MergeEngine,
    pub ignore_delete: bool,
    pub remove_record_on_delete: bool,
    /// Partial-update sequence groups: (sequence fields, member fields).
    pub sequence_groups: Vec<(Vec<String>, Vec<String>)>,
    /// Aggregation: per value column, its function and whether it ignores retractions.
    pub aggs: HashMap<String, (AggFn, bool)>,
    pub primary_keys: Vec<String>,
}

impl MergeSpec {
    /// Parses and validates the merge engine options against the schema.
    pub fn new(schema: &TableSchema) -> Result<MergeSpec> {
        let MergeOptions { engine, ignore_delete, remove_record_on_delete, sequence_groups, aggs } =
            MergeOptions::parse(&schema.options()?, &schema.fields, &schema.primary_keys)?;
        Ok(MergeSpec {
            engine,
            ignore_delete,
            remove_record_on_delete,
            sequence_groups,
            aggs,
            primary_keys: schema.primary_keys.clone(),
        })
    }

    /// Value columns a reader must also read so the merge is correct when only `wanted` are projected.
    pub fn required_columns(&self, wanted: &[String]) -> Vec<String> {
        let mut out: Vec<String> = wanted.to_vec();
        for (seq, members) in &self.sequence_groups {
            if members.iter().any(|m| wanted.contains(m)) || seq.iter().any(|s| wanted.contains(s)) {
                for s in seq.iter().chain(members) {
                    if !out.contains(s) {
                        out.push(s.clone());
                    }
                }
            }
        }
        out
    }

    /// Whether every version can be merged by picking one whole row (no per-column work).
    pub fn picks_whole_rows(&self) -> bool {
        matches!(self.engine, MergeEngine::Deduplicate | MergeEngine::FirstRow)
    }
}

/// Where one output column's value comes from.
#[derive(Debug, Clone)]
pub enum ColSrc {
    /// The value of version `i` (an index into the versions given to `merge`).
    Pick(usize),
    Null,
    /// A computed one-element array.
    Value(ArrayRef),
}

/// The merge of one key's versions.
#[derive(Debug, Clone)]
pub struct Merged {
    pub kind: RowKind,
    /// The version whose key and sequence number the output carries (the newest contributing one).
    pub base: usize,
    /// `None`: the whole row of `base`; else one source per value column.
    pub columns: Option<Vec<ColSrc>>,
}

/// A key's versions: rows of batches in the key-value layout (`_KEY_*`, `_SEQUENCE_NUMBER`, `_VALUE_KIND`,
/// value columns), oldest first.
pub struct Versions<'a> {
    pub rows: &'a [(&'a RecordBatch, usize)],
    pub nkeys: usize,
    /// Names of the value columns present in the batches, in order.
    pub value_names: &'a [String],
}

impl Versions<'_> {
    fn kind(&self, i: usize) -> RowKind {
        let (b, r) = self.rows[i];
        RowKind::from_byte(b.column(self.nkeys + 1).as_primitive::<Int8Type>().value(r)).unwrap_or(RowKind::Insert)
    }
    fn col(&self, i: usize, c: usize) -> (&ArrayRef, usize) {
        let (b, r) = self.rows[i];
        (b.column(self.nkeys + 2 + c), r)
    }
    fn is_null(&self, i: usize, c: usize) -> bool {
        let (a, r) = self.col(i, c);
        a.is_null(r)
    }
}

impl MergeSpec {
    /// Merges the versions of one key; `None` when nothing remains (e.g. first-row with only retractions).
    pub fn merge(&self, v: &Versions, types: &[DataType]) -> Result<Option<Merged>> {
        let n = v.rows.len();
        debug_assert!(n > 0);
        match self.engine {
            MergeEngine::Deduplicate => Ok(Some(Merged { kind: v.kind(n - 1), base: n - 1, columns: None })),
            MergeEngine::FirstRow => Ok((0..n).find(|i| !v.kind(*i).is_retract()).map(|i| Merged {
                kind: RowKind::Insert,
                base: i,
                columns: None,
            })),
            MergeEngine::PartialUpdate => self.partial_update(v, types),
            MergeEngine::Aggregation => self.aggregate(v, types).map(Some),
        }
    }

    fn partial_update(&self, v: &Versions, types: &[DataType]) -> Result<Option<Merged>> {
        let ncols = v.value_names.len();
        let mut cols: Vec<ColSrc> = vec![ColSrc::Null; ncols];
        let mut grouped = vec![false; ncols];
        let idx = |name: &str| v.value_names.iter().position(|n| n == name);
        for (seq, members) in &self.sequence_groups {
            for m in seq.iter().chain(members) {
                if let Some(c) = idx(m) {
                    grouped[c] = true;
                }
            }
        }
        // Group state: the version whose sequence tuple is current.
        let mut group_owner: Vec<Option<usize>> = vec![None; self.sequence_groups.len()];
        let mut alive = false;
        let mut base = 0;
        for i in 0..v.rows.len() {
            let kind = v.kind(i);
            if kind.is_retract() {
                if self.ignore_delete {
                    continue;
                }
                if !self.sequence_groups.is_empty() {
                    // A retraction clears the fields of each group whose sequence it does not lag behind.
                    for (g, (seq, members)) in self.sequence_groups.iter().enumerate() {
                        if self.group_newer(v, i, group_owner[g], seq)? {
                            for m in seq.iter().chain(members) {
                                if let Some(c) = idx(m) {
                                    cols[c] = if seq.contains(m) { ColSrc::Pick(i) } else { ColSrc::Null };
                                }
                            }
                            group_owner[g] = Some(i);
                        }
                    }
                    base = i;
                    continue;
                }
                if self.remove_record_on_delete && kind == RowKind::Delete {
                    cols = vec![ColSrc::Null; ncols];
                    alive = false;
                    base = i;
                    continue;
                }
                return Err(Error::invalid(
                    "partial-update cannot take delete records by default: set 'ignore-delete', 'partial-update.remove-record-on-delete' or sequence groups",
                ));
            }
            alive = true;
            base = i;
            for (g, (seq, members)) in self.sequence_groups.iter().enumerate() {
                if self.group_newer(v, i, group_owner[g], seq)? {
                    for m in seq.iter().chain(members) {
                        if let Some(c) = idx(m) {
                            cols[c] = ColSrc::Pick(i);
                        }
                    }
                    group_owner[g] = Some(i);
                }
            }
            for c in 0..ncols {
                if !grouped[c] && !v.is_null(i, c) {
                    cols[c] = ColSrc::Pick(i);
                }
            }
        }
        // Aggregated group members; over retractions only, folded as values (the merged row stays a retraction,
        // so merged later with older rows it retracts their total).
        for (seq, members) in &self.sequence_groups {
            for m in members {
                let (Some(c), Some((agg, ignore_retract))) = (idx(m), self.aggs.get(m)) else { continue };
                cols[c] = self.group_aggregate(v, seq, c, (agg, *ignore_retract, !alive), &types[c], m)?;
            }
        }
        if !alive {
            if !self.sequence_groups.is_empty() {
                // Retractions only: one retraction row carrying each group's newest sequence (members null,
                // aggregated members their retracted total), so that merging it later equals merging the
                // retractions one by one; the other columns (keys included) are the last retraction's.
                for (c, col) in cols.iter_mut().enumerate() {
                    if !grouped[c] {
                        *col = ColSrc::Pick(base);
                    }
                }
                return Ok(Some(Merged { kind: RowKind::Delete, base, columns: Some(cols) }));
            }
            let deleted = (0..v.rows.len()).rev().find(|i| v.kind(*i).is_retract());
            return Ok(deleted.map(|i| Merged { kind: RowKind::Delete, base: i, columns: None }).or(None));
        }
        // A column outside every group with a function folds every insert (nulls included) in arrival order;
        // retractions do not touch it (as Java).
        for (c, name) in v.value_names.iter().enumerate() {
            let Some((agg, _)) = self.aggs.get(name).filter(|_| !grouped[c]) else { continue };
            let inserts: Vec<(&RecordBatch, usize)> =
                (0..v.rows.len()).filter(|&i| !v.kind(i).is_retract()).map(|i| v.rows[i]).collect();
            let order: Vec<usize> = (0..v.rows.len()).filter(|&i| !v.kind(i).is_retract()).collect();
            let ordered = Versions { rows: &inserts, nkeys: v.nkeys, value_names: v.value_names };
            cols[c] = match fold(agg, true, false, &ordered, c, &types[c], name)? {
                ColSrc::Pick(j) => ColSrc::Pick(order[j]),
                other => other,
            };
        }
        Ok(Some(Merged { kind: RowKind::Insert, base, columns: Some(cols) }))
    }

    /// Partial-update aggregation (Java's `PartialUpdateMergeFunction` with field aggregators): a member `c` of
    /// a sequence group folds with its function over the versions whose group sequence is not null, in the
    /// group's sequence order: a version not older than the group's current sequence comes after what was
    /// folded so far, an older one before it (Java's `aggReversed`; `collect` appends it); retractions retract
    /// whatever their sequence.
    fn group_aggregate(
        &self,
        v: &Versions,
        seq: &[String],
        c: usize,
        (agg, ignore_retract, as_values): (&AggFn, bool, bool),
        ty: &DataType,
        name: &str,
    ) -> Result<ColSrc> {
        let mut order: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
        let mut owner: Option<usize> = None;
        for i in 0..v.rows.len() {
            let retract = v.kind(i).is_retract();
            if retract && self.ignore_delete {
                continue;
            }
            let Some(cmp) = self.group_seq_cmp(v, i, owner, seq)? else { continue };
            // `collect` appends older rows' elements too (Java's `FieldCollectAgg` folds in arrival order).
            if retract || cmp.is_ge() || matches!(agg, AggFn::Collect { .. }) {
                order.push_back(i);
            } else {
                order.push_front(i);
            }
            if cmp.is_gt() {
                owner = Some(i);
            }
        }
        let order: Vec<usize> = order.into();
        let rows: Vec<(&RecordBatch, usize)> = order.iter().map(|&i| v.rows[i]).collect();
        let ordered = Versions { rows: &rows, nkeys: v.nkeys, value_names: v.value_names };
        Ok(match fold(agg, ignore_retract, as_values, &ordered, c, ty, name)? {
            ColSrc::Pick(j) => ColSrc::Pick(order[j]),
            other => other,
        })
    }

    /// How version `i`'s group sequence compares with the current owner's (`Greater` without an owner);
    /// `None` when all its sequence fields are null (the version does not touch the group).
    fn group_seq_cmp(
        &self,
        v: &Versions,
        i: usize,
        owner: Option<usize>,
        seq: &[String],
    ) -> Result<Option<std::cmp::Ordering>> {
        let idx: Vec<usize> = seq.iter().filter_map(|s| v.value_names.iter().position(|n| n == s)).collect();
        if idx.is_empty() || idx.iter().all(|c| v.is_null(i, *c)) {
            return Ok(None);
        }
        let Some(o) = owner else { return Ok(Some(std::cmp::Ordering::Greater)) };
        for c in idx {
            let (a, r) = v.col(i, c);
            let (b, s) = v.col(o, c);
            let cmp = arrow::array::make_comparator(
                a.as_ref(),
                b.as_ref(),
                arrow_schema::SortOptions { descending: false, nulls_first: true },
            )?(r, s);
            if cmp.is_ne() {
                return Ok(Some(cmp));
            }
        }
        Ok(Some(std::cmp::Ordering::Equal))
    }

    /// Whether version `i`'s sequence tuple for a group is not older than the current owner's (a null tuple
    /// never updates the group).
    fn group_newer(&self, v: &Versions, i: usize, owner: Option<usize>, seq: &[String]) -> Result<bool> {
        Ok(self.group_seq_cmp(v, i, owner, seq)?.is_some_and(|c| c.is_ge()))
    }

    fn aggregate(&self, v: &Versions, types: &[DataType]) -> Result<Merged> {
        let n = v.rows.len();
        // Only retractions: fold them as values and keep the result a retraction, so that merged later with
        // older versions (on read or in compaction) it still retracts them.
        let only_retractions = (0..n).all(|i| v.kind(i).is_retract());
        let mut cols = Vec::with_capacity(v.value_names.len());
        for (c, name) in v.value_names.iter().enumerate() {
            if self.primary_keys.contains(name) {
                cols.push(ColSrc::Pick(n - 1));
                continue;
            }
            let (agg, ignore_retract) = self.aggs.get(name).cloned().unwrap_or((AggFn::LastNonNullValue, false));
            cols.push(fold(&agg, ignore_retract, only_retractions, v, c, &types[c], name)?);
        }
        Ok(Merged {
            kind: if only_retractions { RowKind::UpdateBefore } else { RowKind::Insert },
            base: n - 1,
            columns: Some(cols),
        })
    }
}

/// Builds output rows (in the key-value layout of `schema`) from merged results over a set of batches.
pub struct OutputBuilder {
    /// (batch slot, row) for whole-row outputs.
    rows: Vec<OutRow>,
}

/// A merged column: where its value comes from (batch slot, row) or a computed single value.
type OutCol = (Option<(usize, usize)>, Option<ArrayRef>);

enum OutRow {
    Whole { slot: usize, row: usize, kind: RowKind },
    Cols { key: (usize, usize), seq: i64, kind: RowKind, cols: Vec<OutCol> },
}

impl Default for OutputBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl OutputBuilder {
    pub fn new() -> Self {
        OutputBuilder { rows: Vec::new() }
    }
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Adds a key whose output is row `row` of batch slot `slot` as it is, with kind `kind`.
    pub fn push_whole(&mut self, slot: usize, row: usize, kind: RowKind) {
        self.rows.push(OutRow::Whole { slot, row, kind });
    }

    /// Adds a merged key. `slots[i]` is the batch slot of version `i`, `rows[i]` its row.
    pub fn push(&mut self, m: &Merged, version_slots: &[(usize, usize)], seq_max: i64) {
        match &m.columns {
            None => {
                let (slot, row) = version_slots[m.base];
                self.rows.push(OutRow::Whole { slot, row, kind: m.kind });
            }
            Some(cols) => {
                let cols = cols
                    .iter()
                    .map(|c| match c {
                        ColSrc::Pick(i) => (Some(version_slots[*i]), None),
                        ColSrc::Null => (None, None),
                        ColSrc::Value(a) => (None, Some(a.clone())),
                    })
                    .collect();
                self.rows.push(OutRow::Cols { key: version_slots[m.base], seq: seq_max, kind: m.kind, cols });
            }
        }
    }

    /// Builds a batch of `_VALUE_KIND` and the value columns only (no `_KEY_*`, no `_SEQUENCE_NUMBER`) and
    /// clears the builder: what a scan needs, without gathering the key and sequence of every row.
    pub fn finish_values(&mut self, slots: &[RecordBatch], nkeys: usize) -> Result<RecordBatch> {
        if !self.rows.iter().all(|r| matches!(r, OutRow::Whole { .. })) {
            let full = self.finish(slots, nkeys)?;
            let keep: Vec<usize> = (nkeys + 1..full.num_columns()).collect();
            return Ok(full.project(&keep)?);
        }
        let capacity = self.rows.capacity();
        let rows = std::mem::replace(&mut self.rows, Vec::with_capacity(capacity));
        let schema = slots[0].schema();
        let picks: Vec<(usize, usize)> =
            rows.iter().map(|r| if let OutRow::Whole { slot, row, .. } = r { (*slot, *row) } else { (0, 0) }).collect();
        let kinds: Vec<i8> =
            rows.iter().map(|r| if let OutRow::Whole { kind, .. } = r { *kind as i8 } else { 0 }).collect();
        let mut fields = vec![schema.field(nkeys + 1).clone()];
        let mut columns: Vec<ArrayRef> = vec![Arc::new(arrow::array::Int8Array::from(kinds))];
        for c in nkeys + 2..schema.fields().len() {
            let arrays: Vec<&dyn Array> = slots.iter().map(|b| b.column(c).as_ref()).collect();
            fields.push(schema.field(c).clone());
            columns.push(arrow::compute::interleave(&arrays, &picks)?);
        }
        Ok(RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns)?)
    }

    /// Builds the batch and clears the builder.
    pub fn finish(&mut self, slots: &[RecordBatch], nkeys: usize) -> Result<RecordBatch> {
        let capacity = self.rows.capacity();
        let rows = std::mem::replace(&mut self.rows, Vec::with_capacity(capacity));
        let refs: Vec<&RecordBatch> = slots.iter().collect();
        if rows.iter().all(|r| matches!(r, OutRow::Whole { .. })) {
            let picks: Vec<(usize, usize)> = rows
                .iter()
                .map(|r| if let OutRow::Whole { slot, row, .. } = r { (*slot, *row) } else { unreachable!() })
                .collect();
            let batch = arrow::compute::interleave_record_batch(&refs, &picks)?;
            // The output kind may differ from the picked row's (first-row emits +I).
            let kinds: Vec<i8> =
                rows.iter().map(|r| if let OutRow::Whole { kind, .. } = r { *kind as i8 } else { 0 }).collect();
            let mut cols = batch.columns().to_vec();
            cols[nkeys + 1] = Arc::new(arrow::array::Int8Array::from(kinds));
            return Ok(RecordBatch::try_new(batch.schema(), cols)?);
        }
        let schema = slots[0].schema();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        let key_picks: Vec<(usize, usize)> = rows
            .iter()
            .map(|r| match r {
                OutRow::Whole { slot, row, .. } => (*slot, *row),
                OutRow::Cols { key, .. } => *key,
            })
            .collect();
        for k in 0..nkeys {
            let arrays: Vec<&dyn Array> = slots.iter().map(|b| b.column(k).as_ref()).collect();
            columns.push(arrow::compute::interleave(&arrays, &key_picks)?);
        }
        let seq_arrays: Vec<&dyn Array> = slots.iter().map(|b| b.column(nkeys).as_ref()).collect();
        let seq_base = arrow::compute::interleave(&seq_arrays, &key_picks)?;
        let seqs: Vec<i64> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| match r {
                OutRow::Whole { .. } => seq_base.as_primitive::<arrow::datatypes::Int64Type>().value(i),
                OutRow::Cols { seq, .. } => *seq,
            })
            .collect();
        columns.push(Arc::new(arrow::array::Int64Array::from(seqs)));
        columns.push(Arc::new(arrow::array::Int8Array::from(
            rows.iter()
                .map(|r| match r {
                    OutRow::Whole { kind, .. } | OutRow::Cols { kind, .. } => *kind as i8,
                })
                .collect::<Vec<_>>(),
        )));
        for c in (nkeys + 2)..schema.fields().len() {
            let vc = c - nkeys - 2;
            let dt = schema.field(c).data_type();
            let simple = rows.iter().all(|r| match r {
                OutRow::Whole { .. } => true,
                OutRow::Cols { cols, .. } => cols[vc].1.is_none(),
            });
            if simple {
                // Every value is a pick or a null: one interleave over the slots plus a null array.
                let null = new_null_array(dt, 1);
                let mut arrays: Vec<&dyn Array> = slots.iter().map(|b| b.column(c).as_ref()).collect();
                arrays.push(null.as_ref());
                let null_slot = slots.len();
                let picks: Vec<(usize, usize)> = rows
                    .iter()
                    .map(|r| match r {
                        OutRow::Whole { slot, row, .. } => (*slot, *row),
                        OutRow::Cols { cols, .. } => cols[vc].0.unwrap_or((null_slot, 0)),
                    })
                    .collect();
                columns.push(arrow::compute::interleave(&arrays, &picks)?);
            } else {
                let pieces: Vec<ArrayRef> = rows
                    .iter()
                    .map(|r| match r {
                        OutRow::Whole { slot, row, .. } => slots[*slot].column(c).slice(*row, 1),
                        OutRow::Cols { cols, .. } => match &cols[vc] {
                            (Some((s, r)), _) => slots[*s].column(c).slice(*r, 1),
                            (None, Some(a)) => arrow::compute::cast(a, dt).unwrap_or_else(|_| a.clone()),
                            (None, None) => new_null_array(dt, 1),
                        },
                    })
                    .collect();
                let refs: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
                columns.push(arrow::compute::concat(&refs)?);
            }
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}
