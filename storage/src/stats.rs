//! Column statistics (min, max, null count) of data files, computed with Arrow's aggregate kernels and
//! stored as `SimpleStats` under the table's `metadata.stats-mode`.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute;
use arrow::datatypes as adt;
use arrow_schema::{DataType as ArrowType, TimeUnit};

use crate::binary_row::{deserialize_row, serialize_row};
use crate::datum::Datum;
use crate::error::Result;
use crate::manifest::SimpleStats;
use crate::options::StatsMode;
use crate::types::{DataType, TypeKind};

/// Statistics of one column over some rows; `min`/`max` are `Null` when unknown or all-null.
#[derive(Debug, Clone, PartialEq)]
pub struct ColStats {
    pub min: Datum,
    pub max: Datum,
    pub null_count: Option<i64>,
}

impl ColStats {
    pub fn unknown() -> Self {
        ColStats { min: Datum::Null, max: Datum::Null, null_count: None }
    }

    /// Combines the stats of two row sets.
    pub fn merge(&self, other: &ColStats) -> ColStats {
        let pick = |a: &Datum, b: &Datum, want: std::cmp::Ordering| -> Datum {
            match (a.is_null(), b.is_null()) {
                (true, _) => b.clone(),
                (_, true) => a.clone(),
                _ => {
                    if b.partial_cmp_value(a) == Some(want) {
                        b.clone()
                    } else {
                        a.clone()
                    }
                }
            }
        };
        ColStats {
            min: pick(&self.min, &other.min, std::cmp::Ordering::Less),
            max: pick(&self.max, &other.max, std::cmp::Ordering::Greater),
            null_count: match (self.null_count, other.null_count) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            },
        }
    }
}

/// Exact min/max/null count of an array as Paimon type `ty` (complex types get only a null count).
pub fn column_stats(array: &ArrayRef, ty: &DataType) -> Result<ColStats> {
    let null_count = Some(array.null_count() as i64);
    if !ty.is_atomic() || array.len() == array.null_count() {
        return Ok(ColStats { min: Datum::Null, max: Datum::Null, null_count });
    }
    macro_rules! prim {
        ($t:ty, $wrap:expr) => {{
            let a = array.as_primitive::<$t>();
            (compute::min(a).map($wrap).unwrap_or(Datum::Null), compute::max(a).map($wrap).unwrap_or(Datum::Null))
        }};
    }
    let (min, max) = match (&ty.kind, array.data_type()) {
        (TypeKind::Boolean, _) => {
            let a = array.as_boolean();
            (
                compute::min_boolean(a).map(Datum::Bool).unwrap_or(Datum::Null),
                compute::max_boolean(a).map(Datum::Bool).unwrap_or(Datum::Null),
            )
        }
        (TypeKind::TinyInt, _) => prim!(adt::Int8Type, Datum::I8),
        (TypeKind::SmallInt, _) => prim!(adt::Int16Type, Datum::I16),
        (TypeKind::Int, _) => prim!(adt::Int32Type, Datum::I32),
        (TypeKind::BigInt, _) => prim!(adt::Int64Type, Datum::I64),
        (TypeKind::Float, _) => prim!(adt::Float32Type, Datum::F32),
        (TypeKind::Double, _) => prim!(adt::Float64Type, Datum::F64),
        (TypeKind::Date, _) => prim!(adt::Date32Type, Datum::Date),
        (TypeKind::Time(_), _) => prim!(adt::Time32MillisecondType, Datum::Time),
        (TypeKind::Decimal { precision, scale }, _) => {
            let (p, s) = (*precision, *scale);
            prim!(adt::Decimal128Type, |v| Datum::Decimal(v, p, s))
        }
        (TypeKind::Char(_) | TypeKind::VarChar(_), _) => {
            let a = array.as_string::<i32>();
            (
                compute::min_string(a).map(|s| Datum::String(s.to_string())).unwrap_or(Datum::Null),
                compute::max_string(a).map(|s| Datum::String(s.to_string())).unwrap_or(Datum::Null),
            )
        }
        (TypeKind::Binary(_) | TypeKind::VarBinary(_), _) => {
            let a = array.as_binary::<i32>();
            (
                compute::min_binary(a).map(|s| Datum::Bytes(s.to_vec())).unwrap_or(Datum::Null),
                compute::max_binary(a).map(|s| Datum::Bytes(s.to_vec())).unwrap_or(Datum::Null),
            )
        }
        (TypeKind::Timestamp(_) | TypeKind::TimestampLtz(_), ArrowType::Timestamp(unit, _)) => {
            let to = |v: i64| match unit {
                TimeUnit::Second => Datum::Timestamp(v * 1000, 0),
                TimeUnit::Millisecond => Datum::Timestamp(v, 0),
                TimeUnit::Microsecond => Datum::Timestamp(v.div_euclid(1000), (v.rem_euclid(1000) * 1000) as i32),
                TimeUnit::Nanosecond => Datum::Timestamp(v.div_euclid(1_000_000), v.rem_euclid(1_000_000) as i32),
            };
            let (mn, mx) = match unit {
                TimeUnit::Second => prim!(adt::TimestampSecondType, Datum::I64),
                TimeUnit::Millisecond => prim!(adt::TimestampMillisecondType, Datum::I64),
                TimeUnit::Microsecond => prim!(adt::TimestampMicrosecondType, Datum::I64),
                TimeUnit::Nanosecond => prim!(adt::TimestampNanosecondType, Datum::I64),
            };
            let conv = |d: Datum| if let Datum::I64(v) = d { to(v) } else { Datum::Null };
            (conv(mn), conv(mx))
        }
        _ => (Datum::Null, Datum::Null),
    };
    Ok(ColStats { min, max, null_count })
}

/// Applies a stats mode to exact stats (truncating strings for `truncate(n)`).
fn apply_mode(s: &ColStats, mode: StatsMode) -> ColStats {
    match mode {
        StatsMode::Full => s.clone(),
        StatsMode::None => ColStats::unknown(),
        StatsMode::Counts => ColStats { min: Datum::Null, max: Datum::Null, null_count: s.null_count },
        StatsMode::Truncate(n) => {
            ColStats { min: truncate_min(&s.min, n), max: truncate_max(&s.max, n), null_count: s.null_count }
        }
    }
}

fn truncate_min(d: &Datum, n: usize) -> Datum {
    match d {
        Datum::String(s) if s.chars().count() > n => Datum::String(s.chars().take(n).collect()),
        other => other.clone(),
    }
}

/// A string max is cut to `n` characters and its last character incremented, so it stays an upper bound;
/// when that is impossible the max is dropped (unknown), as Paimon does.
fn truncate_max(d: &Datum, n: usize) -> Datum {
    match d {
        Datum::String(s) if s.chars().count() > n => {
            let mut chars: Vec<char> = s.chars().take(n).collect();
            while let Some(last) = chars.pop() {
                if let Some(next) = char::from_u32(last as u32 + 1) {
                    chars.push(next);
                    return Datum::String(chars.into_iter().collect());
                }
            }
            Datum::Null
        }
        other => other.clone(),
    }
}

/// Serializes per-column stats into `SimpleStats` under `mode`.
pub fn to_simple_stats(stats: &[ColStats], types: &[DataType], mode: StatsMode) -> Result<SimpleStats> {
    let applied: Vec<ColStats> = stats.iter().map(|s| apply_mode(s, mode)).collect();
    let mins: Vec<Datum> = applied.iter().map(|s| s.min.clone()).collect();
    let maxs: Vec<Datum> = applied.iter().map(|s| s.max.clone()).collect();
    Ok(SimpleStats {
        min_values: serialize_row(&mins, types)?,
        max_values: serialize_row(&maxs, types)?,
        null_counts: Some(applied.iter().map(|s| s.null_count).collect()),
    })
}

/// Decodes `SimpleStats` of columns `types`; unreadable stats become unknown rather than failing a scan.
pub fn from_simple_stats(stats: &SimpleStats, types: &[DataType]) -> Vec<ColStats> {
    let mins = deserialize_row(&stats.min_values, types).ok();
    let maxs = deserialize_row(&stats.max_values, types).ok();
    (0..types.len())
        .map(|i| ColStats {
            min: mins.as_ref().map(|m| m[i].clone()).unwrap_or(Datum::Null),
            max: maxs.as_ref().map(|m| m[i].clone()).unwrap_or(Datum::Null),
            null_count: stats.null_counts.as_ref().and_then(|c| c.get(i).copied().flatten()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// truncate(16) keeps the min a lower bound and the max an upper bound.
    #[test]
    fn truncation_keeps_bounds() {
        let a: ArrayRef = Arc::new(arrow::array::StringArray::from(vec![
            Some("aaaaaaaaaaaaaaaaaaaaz"),
            None,
            Some("bbbbbbbbbbbbbbbbbbbbbb"),
        ]));
        let ty = crate::types::parse_sql_type("STRING").unwrap();
        let s = column_stats(&a, &ty).unwrap();
        assert_eq!(s.null_count, Some(1));
        let t = apply_mode(&s, StatsMode::Truncate(16));
        assert_eq!(t.min, Datum::String("a".repeat(16)));
        assert_eq!(t.max, Datum::String(format!("{}c", "b".repeat(15))));
        let ss = to_simple_stats(std::slice::from_ref(&s), std::slice::from_ref(&ty), StatsMode::Full).unwrap();
        assert_eq!(from_simple_stats(&ss, &[ty]), vec![s]);
    }
}
