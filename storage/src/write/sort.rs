//! Sorting and merging a bucket's write buffer at flush: each key once, in key order, merged by the engine.

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute;
use arrow::row::{RowConverter, SortField};

use crate::error::{Error, Result};
use crate::merge::{MergeSpec, OutputBuilder, Versions};
use crate::options::{CoreOptions, MergeEngine};
use crate::schema::TableSchema;
use crate::types::DataType;

/// The deduplicate engine's buffer merge: the newest row of each key (rows arrive oldest first), in key order,
/// gathered from the buffered batches in one pass.
pub fn deduplicate_batches(batches: &[RecordBatch], nkeys: usize) -> Result<RecordBatch> {
    let picks = deduplicate_picks(batches, nkeys)?;
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    Ok(compute::interleave_record_batch(&refs, &picks)?)
}

/// The (batch, row) of the newest row of each key, in key order.
pub fn deduplicate_picks(batches: &[RecordBatch], nkeys: usize) -> Result<Vec<(usize, usize)>> {
    let converter =
        RowConverter::new((0..nkeys).map(|i| SortField::new(batches[0].column(i).data_type().clone())).collect())?;
    let keys: Vec<arrow::row::Rows> = batches
        .iter()
        .map(|b| converter.convert_columns(&b.columns()[..nkeys]))
        .collect::<std::result::Result<_, _>>()?;
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut last: hashbrown::HashMap<&[u8], (usize, usize)> = hashbrown::HashMap::with_capacity(total / 2);
    for (b, rows) in keys.iter().enumerate() {
        for i in 0..rows.num_rows() {
            last.insert(rows.row(i).data(), (b, i));
        }
    }
    let mut picks: Vec<(&[u8], (usize, usize))> = last.into_iter().collect();
    picks.sort_unstable_by(|a, b| a.0.cmp(b.0));
    Ok(picks.into_iter().map(|(_, p)| p).collect())
}

/// Sorts a bucket's buffered rows by key and merges the versions of each key with the merge engine, so a
/// flushed file holds each key once. Rows arrive in sequence-number order.
pub fn sort_and_merge(
    batch: &RecordBatch,
    schema: &TableSchema,
    options: &CoreOptions,
    spec: &MergeSpec,
) -> Result<RecordBatch> {
    let nkeys = schema.key_fields().len();
    let n = batch.num_rows();
    let converter =
        RowConverter::new((0..nkeys).map(|i| SortField::new(batch.column(i).data_type().clone())).collect())?;
    let keys = converter.convert_columns(&batch.columns()[..nkeys])?;
    if spec.engine == MergeEngine::Deduplicate && options.sequence_field.is_none() {
        // The newest version wins and rows arrive oldest first: keep the last row per key, then sort only those.
        let mut last: HashMap<&[u8], u32> = HashMap::with_capacity(n / 2);
        for i in 0..n {
            last.insert(keys.row(i).data(), i as u32);
        }
        let mut keep: Vec<u32> = last.into_values().collect();
        keep.sort_unstable_by(|a, b| keys.row(*a as usize).cmp(&keys.row(*b as usize)));
        return Ok(compute::take_record_batch(batch, &UInt32Array::from(keep))?);
    }
    // General case: order by key, then `sequence.field`, then arrival (a stable sort keeps arrival order).
    let seq_rows = match &options.sequence_field {
        Some(sf) => {
            let cols: Vec<ArrayRef> = sf
                .split(',')
                .map(|f| {
                    let idx = schema
                        .field_index(f.trim())
                        .ok_or_else(|| Error::invalid(format!("sequence.field `{f}` is not a column")))?;
                    Ok(batch.column(nkeys + 2 + idx).clone())
                })
                .collect::<Result<_>>()?;
            let conv = RowConverter::new(cols.iter().map(|c| SortField::new(c.data_type().clone())).collect())?;
            Some(conv.convert_columns(&cols)?)
        }
        None => None,
    };
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by(|a, b| {
        let (a, b) = (*a as usize, *b as usize);
        keys.row(a)
            .cmp(&keys.row(b))
            .then_with(|| seq_rows.as_ref().map(|s| s.row(a).cmp(&s.row(b))).unwrap_or(std::cmp::Ordering::Equal))
    });
    let value_names: Vec<String> = schema.fields.iter().map(|f| f.name.clone()).collect();
    let value_types: Vec<DataType> = schema.fields.iter().map(|f| f.data_type.clone()).collect();
    let seqs = batch.column(nkeys).as_primitive::<arrow::datatypes::Int64Type>();
    let slots = [batch.clone()];
    let mut out = OutputBuilder::new();
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && keys.row(order[end] as usize) == keys.row(order[start] as usize) {
            end += 1;
        }
        let group = &order[start..end];
        let rows: Vec<(&RecordBatch, usize)> = group.iter().map(|i| (batch, *i as usize)).collect();
        let version_slots: Vec<(usize, usize)> = group.iter().map(|i| (0, *i as usize)).collect();
        let v = Versions { rows: &rows, nkeys, value_names: &value_names };
        if let Some(m) = spec.merge(&v, &value_types)? {
            let seq_max = group.iter().map(|i| seqs.value(*i as usize)).max().unwrap_or(0);
            out.push(&m, &version_slots, seq_max);
        }
        start = end;
    }
    if out.is_empty() {
        return Ok(batch.slice(0, 0));
    }
    out.finish(&slots, nkeys)
}
