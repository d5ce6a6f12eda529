//! The streaming k-way merge of a bucket's sorted runs (merge-on-read and compaction): a cursor per run, keys
//! compared natively for one integer key column, versions of a key merged with the table's merge engine.

use std::collections::VecDeque;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, Int8Type};
use arrow::row::{RowConverter, Rows, SortField};
use futures::StreamExt;

use super::{BatchStream, TableRead};
use crate::datafile::ReadColumns;
use crate::error::{Error, Result};
use crate::manifest::DataFileMeta;
use crate::merge::{OutputBuilder, Versions};
use crate::row_kind::RowKind;
use crate::scan::DataSplit;
use crate::types::DataType;

/// The keys of a cursor's batch in a form that compares in key order: the native values when the key is
/// one integer column (no row encoding, a plain integer compare per step of the merge), else arrow rows.
pub(super) enum CursorKeys {
    Ints(Vec<i64>),
    Rows(Rows),
}

impl CursorKeys {
    /// Compares key `i` of these keys with key `j` of `other` (of the same form).
    #[inline]
    fn cmp_at(&self, i: usize, other: &CursorKeys, j: usize) -> std::cmp::Ordering {
        match (self, other) {
            (CursorKeys::Ints(a), CursorKeys::Ints(b)) => a[i].cmp(&b[j]),
            (CursorKeys::Rows(a), CursorKeys::Rows(b)) => a.row(i).cmp(&b.row(j)),
            // One merge uses one form for every cursor (chosen from the key type), so this is unreachable;
            // ordering the forms keeps the merge total rather than panicking.
            (CursorKeys::Ints(_), CursorKeys::Rows(_)) => std::cmp::Ordering::Less,
            (CursorKeys::Rows(_), CursorKeys::Ints(_)) => std::cmp::Ordering::Greater,
        }
    }
}

/// One sorted run being read in key order.
pub(super) struct RunCursor {
    pub(super) files: VecDeque<DataFileMeta>,
    pub(super) stream: Option<BatchStream>,
    pub(super) batch: Option<RecordBatch>,
    pub(super) keys: Option<CursorKeys>,
    pub(super) seq_keys: Option<Rows>,
    pub(super) pos: usize,
    pub(super) slot: usize,
}

pub(super) struct MergeState {
    pub(super) read: TableRead,
    pub(super) split: DataSplit,
    pub(super) cols: ReadColumns,
    pub(super) value_names: Vec<String>,
    pub(super) value_types: Vec<DataType>,
    pub(super) cursors: Vec<RunCursor>,
    pub(super) key_converter: RowConverter,
    /// Whether the key is one integer column, compared natively ([`CursorKeys::Ints`]).
    pub(super) int_key: bool,
    pub(super) seq_cols: Option<Vec<usize>>,
    pub(super) seq_converter: Option<RowConverter>,
    pub(super) nkeys: usize,
    /// Batches referenced by `out` (by slot index).
    pub(super) slots: Vec<RecordBatch>,
    pub(super) out: OutputBuilder,
    pub(super) keep_retractions: bool,
    /// Output only `_VALUE_KIND` and the values (see [`TableRead::merge_runs`]'s sibling `merge`).
    pub(super) values_only: bool,
    pub(super) done: bool,
}

impl MergeState {
    /// Makes sure cursor `i` has a current row (loading the next batch or file); false when exhausted.
    async fn fill(&mut self, i: usize) -> Result<bool> {
        loop {
            let c = &mut self.cursors[i];
            if let Some(b) = &c.batch {
                if c.pos < b.num_rows() {
                    return Ok(true);
                }
                c.batch = None;
                c.keys = None;
                c.seq_keys = None;
            }
            if let Some(s) = c.stream.as_mut() {
                match s.next().await {
                    Some(b) => {
                        let b = b?;
                        if b.num_rows() == 0 {
                            continue;
                        }
                        let keys = if self.int_key {
                            CursorKeys::Ints(
                                int_keys(b.column(0)).map_err(|e| Error::corrupt(self.split_display(), e))?,
                            )
                        } else {
                            CursorKeys::Rows(self.key_converter.convert_columns(&b.columns()[..self.nkeys])?)
                        };
                        let seq_keys = match &self.seq_cols {
                            Some(cols) => {
                                let arrays: Vec<_> = cols.iter().map(|c| b.column(*c).clone()).collect();
                                if self.seq_converter.is_none() {
                                    self.seq_converter = Some(RowConverter::new(
                                        arrays.iter().map(|a| SortField::new(a.data_type().clone())).collect(),
                                    )?);
                                }
                                Some(self.seq_converter.as_ref().expect("set").convert_columns(&arrays)?)
                            }
                            None => None,
                        };
                        let c = &mut self.cursors[i];
                        c.slot = self.slots.len();
                        self.slots.push(b.clone());
                        c.batch = Some(b);
                        c.keys = Some(keys);
                        c.seq_keys = seq_keys;
                        c.pos = 0;
                        continue;
                    }
                    None => {
                        self.cursors[i].stream = None;
                    }
                }
            }
            let Some(f) = self.cursors[i].files.pop_front() else { return Ok(false) };
            let s = self.read.open_file(&self.split, &f, &self.cols).await?;
            self.cursors[i].stream = Some(s);
        }
    }

    fn seq(&self, i: usize) -> i64 {
        let c = &self.cursors[i];
        c.batch.as_ref().expect("filled").column(self.nkeys).as_primitive::<Int64Type>().value(c.pos)
    }

    /// Orders two cursors' current versions, older first (by `sequence.field`, then sequence number).
    fn older(&self, a: usize, b: usize) -> std::cmp::Ordering {
        let (ca, cb) = (&self.cursors[a], &self.cursors[b]);
        if let (Some(sa), Some(sb)) = (&ca.seq_keys, &cb.seq_keys) {
            let o = sa.row(ca.pos).cmp(&sb.row(cb.pos));
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        self.seq(a).cmp(&self.seq(b))
    }

    pub(super) async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.done {
            return Ok(None);
        }
        let batch_size = self.read.batch_size;
        let mut live: Vec<usize> = Vec::with_capacity(self.cursors.len());
        for i in 0..self.cursors.len() {
            if self.fill(i).await? {
                live.push(i);
            }
        }
        let whole_rows = self.read.spec.picks_whole_rows();
        let first_row = self.read.spec.engine == crate::options::MergeEngine::FirstRow;
        loop {
            if live.is_empty() {
                self.done = true;
                break;
            }
            // One pass over the cursors: the smallest key, whether another cursor is on it too, and the
            // cursor with the next smallest key.
            let mut min = live[0];
            let mut tie = false;
            let mut second: Option<usize> = None;
            for &i in &live[1..] {
                let (a, b) = (&self.cursors[i], &self.cursors[min]);
                match a.keys.as_ref().expect("filled").cmp_at(a.pos, b.keys.as_ref().expect("filled"), b.pos) {
                    std::cmp::Ordering::Less => {
                        // The old minimum is at or below every other key seen, so it is the next smallest.
                        second = Some(min);
                        min = i;
                        tie = false;
                    }
                    std::cmp::Ordering::Equal => tie = true,
                    std::cmp::Ordering::Greater => {
                        let below = second.is_none_or(|s| {
                            let c = &self.cursors[s];
                            a.keys
                                .as_ref()
                                .expect("filled")
                                .cmp_at(a.pos, c.keys.as_ref().expect("filled"), c.pos)
                                .is_lt()
                        });
                        if below {
                            second = Some(i);
                        }
                    }
                }
            }
            if !tie && whole_rows {
                // Fast path: the key has one version, so the row is output as it is, and so are the rows after
                // it in the same batch while their keys stay below every other cursor's (a run holds each
                // key once, so none of them has another version).
                let c = &self.cursors[min];
                let batch = c.batch.as_ref().expect("filled");
                let keys = c.keys.as_ref().expect("filled");
                let kinds = batch.column(self.nkeys + 1).as_primitive::<Int8Type>();
                let room = batch_size.saturating_sub(self.out.len()).max(1);
                let mut end = c.pos + 1;
                if let Some(s) = second {
                    let other = &self.cursors[s];
                    let (bound, bound_pos) = (other.keys.as_ref().expect("filled"), other.pos);
                    while end < batch.num_rows() && end - c.pos < room && keys.cmp_at(end, bound, bound_pos).is_lt() {
                        end += 1;
                    }
                } else {
                    end = batch.num_rows().min(c.pos + room);
                }
                for row in c.pos..end {
                    let kind = RowKind::from_byte(kinds.value(row)).unwrap_or(RowKind::Insert);
                    let kind = match (first_row, kind.is_retract()) {
                        // first-row drops a lone retraction and emits +I for an insert.
                        (true, true) => continue,
                        (true, false) => RowKind::Insert,
                        (false, _) => kind,
                    };
                    if self.keep_retractions || !kind.is_retract() {
                        self.out.push_whole(c.slot, row, kind);
                    }
                }
                self.cursors[min].pos = end;
                let exhausted = self.cursors[min].batch.as_ref().is_none_or(|b| end >= b.num_rows());
                if exhausted && !self.fill(min).await? {
                    live.retain(|x| *x != min);
                }
                if self.out.len() >= batch_size {
                    break;
                }
                continue;
            }
            // Every cursor positioned on that key holds one version of it (a run has each key once).
            let mut same: Vec<usize> = live
                .iter()
                .copied()
                .filter(|&i| {
                    let (a, b) = (&self.cursors[i], &self.cursors[min]);
                    i == min
                        || a.keys
                            .as_ref()
                            .expect("filled")
                            .cmp_at(a.pos, b.keys.as_ref().expect("filled"), b.pos)
                            .is_eq()
                })
                .collect();
            same.sort_by(|a, b| self.older(*a, *b));
            let slots: Vec<(usize, usize)> =
                same.iter().map(|&i| (self.cursors[i].slot, self.cursors[i].pos)).collect();
            let seq_max = same.iter().map(|&i| self.seq(i)).max().unwrap_or(0);
            let merged = if same.len() == 1 && self.read.spec.picks_whole_rows() {
                let kind = {
                    let c = &self.cursors[same[0]];
                    RowKind::from_byte(
                        c.batch
                            .as_ref()
                            .expect("filled")
                            .column(self.nkeys + 1)
                            .as_primitive::<Int8Type>()
                            .value(c.pos),
                    )
                    .unwrap_or(RowKind::Insert)
                };
                let kind = if self.read.spec.engine == crate::options::MergeEngine::FirstRow && !kind.is_retract() {
                    RowKind::Insert
                } else {
                    kind
                };
                if self.read.spec.engine == crate::options::MergeEngine::FirstRow && kind.is_retract() {
                    None
                } else {
                    Some(crate::merge::Merged { kind, base: 0, columns: None })
                }
            } else {
                let rows: Vec<(&RecordBatch, usize)> = same
                    .iter()
                    .map(|&i| (self.cursors[i].batch.as_ref().expect("filled"), self.cursors[i].pos))
                    .collect();
                let v = Versions { rows: &rows, nkeys: self.nkeys, value_names: &self.value_names };
                self.read.spec.merge(&v, &self.value_types)?
            };
            if let Some(m) = merged {
                if self.keep_retractions || !m.kind.is_retract() {
                    self.out.push(&m, &slots, seq_max);
                }
            }
            for &i in &same {
                self.cursors[i].pos += 1;
                let exhausted = self.cursors[i].batch.as_ref().is_none_or(|b| self.cursors[i].pos >= b.num_rows());
                if exhausted && !self.fill(i).await? {
                    live.retain(|x| *x != i);
                }
            }
            if self.out.len() >= batch_size {
                break;
            }
        }
        if self.out.is_empty() {
            return Ok(None);
        }
        let batch = if self.values_only {
            self.out.finish_values(&self.slots, self.nkeys)?
        } else {
            self.out.finish(&self.slots, self.nkeys)?
        };
        // Keep only the batches cursors still point into, renumbering their slots.
        let mut kept = Vec::new();
        for c in self.cursors.iter_mut() {
            if let Some(b) = &c.batch {
                c.slot = kept.len();
                kept.push(b.clone());
            }
        }
        self.slots = kept;
        Ok(Some(batch))
    }
}

impl MergeState {
    /// The bucket being merged, for error messages.
    fn split_display(&self) -> String {
        format!("partition {:?} bucket {}", self.split.partition, self.split.bucket)
    }
}

/// An integer key column as i64 values in key order; a null key (which a primary key never holds) is an error.
fn int_keys(column: &arrow::array::ArrayRef) -> std::result::Result<Vec<i64>, String> {
    if column.null_count() > 0 {
        return Err(format!("primary key column holds {} nulls", column.null_count()));
    }
    let values: Vec<i64> = match column.data_type() {
        arrow_schema::DataType::Int64 => column.as_primitive::<Int64Type>().values().to_vec(),
        arrow_schema::DataType::Int32 => {
            column.as_primitive::<arrow::datatypes::Int32Type>().values().iter().map(|v| *v as i64).collect()
        }
        arrow_schema::DataType::Int16 => {
            column.as_primitive::<arrow::datatypes::Int16Type>().values().iter().map(|v| *v as i64).collect()
        }
        arrow_schema::DataType::Int8 => column.as_primitive::<Int8Type>().values().iter().map(|v| *v as i64).collect(),
        other => return Err(format!("primary key column has type {other}, expected an integer")),
    };
    Ok(values)
}
