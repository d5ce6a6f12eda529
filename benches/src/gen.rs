//! The benchmarks' generated rows. Every data set is `id BIGINT`, one or two string columns, `a DOUBLE`,
//! `b BIGINT`, `ts TIMESTAMP(6)` ([`bench_schema`], [`bench_columns_sql`]); values come from a seeded
//! [`SplitMix64`] (or, for the SQL benchmark, from [`mix`] of the row's id), so runs are repeatable.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringBuilder, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;

pub use dyntable_compaction::sim::{SplitMix64, ZipfSampler};

/// `ts` of row 0 (2024-01-01T00:00:00Z); row i is `i` milliseconds later.
pub const TS_BASE_MICROS: i64 = 1_704_067_200_000_000;

/// The Arrow schema `id BIGINT NOT NULL, <middle>, a DOUBLE, b BIGINT, ts TIMESTAMP(6)`.
pub fn bench_schema(middle: &[Field]) -> SchemaRef {
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    fields.extend_from_slice(middle);
    fields.push(Field::new("a", DataType::Float64, true));
    fields.push(Field::new("b", DataType::Int64, true));
    fields.push(Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true));
    Arc::new(Schema::new(fields))
}

/// The table columns of [`bench_schema`] in dyntable's SQL, `middle` being the SQL of the middle columns.
pub fn bench_columns_sql(middle: &str) -> String {
    format!("id BIGINT NOT NULL, {middle}, a DOUBLE, b BIGINT, ts TIMESTAMP(6)")
}

/// SplitMix64's output function: a well-mixed 64-bit value of `x`.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key-value upserts of `dyntable-bench` and the criterion `ingest_scan` benches: row i has `id = i`,
/// a uniformly drawn key number (the primary key is the string `key-NNNNNNN`), `a` in [0, 1000),
/// `b` in [0, 10^6) and `ts` one millisecond per row. The key is kept as its number so the latest row
/// of every key can be found cheaply.
pub struct KeyedRows {
    pub ids: Vec<i64>,
    pub keys: Vec<u32>,
    pub a: Vec<f64>,
    pub b: Vec<i64>,
    pub ts: Vec<i64>,
}

/// The primary-key table of [`KeyedRows`], keyed by `key`.
pub fn keyed_columns_sql() -> String {
    bench_columns_sql("key STRING NOT NULL")
}

pub fn keyed_schema() -> SchemaRef {
    bench_schema(&[Field::new("key", DataType::Utf8, false)])
}

impl KeyedRows {
    /// `rows` rows over `keys` distinct keys.
    pub fn generate(rows: usize, keys: usize, seed: u64) -> KeyedRows {
        let mut rng = SplitMix64::new(seed);
        let mut out = KeyedRows {
            ids: Vec::with_capacity(rows),
            keys: Vec::with_capacity(rows),
            a: Vec::with_capacity(rows),
            b: Vec::with_capacity(rows),
            ts: Vec::with_capacity(rows),
        };
        for i in 0..rows {
            out.ids.push(i as i64);
            out.keys.push((rng.next_u64() % keys as u64) as u32);
            out.a.push((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 1000.0);
            out.b.push((rng.next_u64() % 1_000_000) as i64);
            out.ts.push(TS_BASE_MICROS + i as i64 * 1_000);
        }
        out
    }

    /// Arrow batches of `batch_rows` from the rows at `order` (all rows in order when `None`).
    pub fn to_batches(&self, order: Option<&[u32]>, batch_rows: usize) -> Result<Vec<RecordBatch>, ArrowError> {
        let schema = keyed_schema();
        let n = order.map(|o| o.len()).unwrap_or(self.ids.len());
        let mut out = Vec::with_capacity(n.div_ceil(batch_rows));
        let mut start = 0;
        while start < n {
            let end = (start + batch_rows).min(n);
            let idx: Vec<usize> = match order {
                Some(o) => o[start..end].iter().map(|i| *i as usize).collect(),
                None => (start..end).collect(),
            };
            let mut keys = StringBuilder::with_capacity(idx.len(), idx.len() * 11);
            for &i in &idx {
                keys.append_value(format!("key-{:07}", self.keys[i]));
            }
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(idx.iter().map(|i| self.ids[*i]))),
                Arc::new(keys.finish()),
                Arc::new(Float64Array::from_iter_values(idx.iter().map(|i| self.a[*i]))),
                Arc::new(Int64Array::from_iter_values(idx.iter().map(|i| self.b[*i]))),
                Arc::new(TimestampMicrosecondArray::from_iter_values(idx.iter().map(|i| self.ts[*i]))),
            ];
            out.push(RecordBatch::try_new(schema.clone(), columns)?);
            start = end;
        }
        Ok(out)
    }

    /// The latest row of every key, in key order: what the table holds after the upserts (`keys` is the key
    /// count the rows were generated with).
    pub fn latest_in_key_order(&self, keys: usize) -> Vec<u32> {
        let mut last: Vec<u32> = vec![u32::MAX; keys];
        for (i, k) in self.keys.iter().enumerate() {
            last[*k as usize] = i as u32;
        }
        last.into_iter().filter(|i| *i != u32::MAX).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same seed gives the same rows; the latest rows are one per key, each the key's last row.
    #[test]
    fn keyed_rows() {
        let rows = KeyedRows::generate(1000, 50, 7);
        assert_eq!(rows.keys, KeyedRows::generate(1000, 50, 7).keys);
        let latest = rows.latest_in_key_order(50);
        assert!(latest.len() <= 50);
        for &i in &latest {
            assert!(!rows.keys[i as usize + 1..].contains(&rows.keys[i as usize]));
        }
        let batches = rows.to_batches(Some(&latest), 16).unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), latest.len());
        assert_eq!(bench_columns_sql("key STRING NOT NULL"), keyed_columns_sql());
    }
}
