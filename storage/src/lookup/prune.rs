//! What lets a lookup skip a file or row group: key bounds and key bloom filters.

use parquet::bloom_filter::Sbbf;

use crate::datum::Datum;
use crate::types::{DataType, TypeKind};

/// Whether `v` lies within `[min, max]` (bounds that do not compare with it never exclude it).
pub(super) fn within(v: &Datum, min: &Datum, max: &Datum) -> bool {
    let above_min = min.is_null() || v.partial_cmp_value(min).is_none_or(|o| o.is_ge());
    let below_max = max.is_null() || v.partial_cmp_value(max).is_none_or(|o| o.is_le());
    above_min && below_max
}

/// Whether a column's bloom filter may hold `v` (hashed as Parquet stores the type); true for types whose
/// stored form is not derived here.
pub(super) fn bloom_may_hold(bloom: &Sbbf, v: &Datum, ty: &DataType) -> bool {
    match (v, &ty.kind) {
        (Datum::I64(x), TypeKind::BigInt) => bloom.check(x),
        (Datum::I32(x), TypeKind::Int) | (Datum::Date(x), TypeKind::Date) => bloom.check(x),
        (Datum::I16(x), TypeKind::SmallInt) => bloom.check(&(*x as i32)),
        (Datum::I8(x), TypeKind::TinyInt) => bloom.check(&(*x as i32)),
        (Datum::String(s), TypeKind::Char(_) | TypeKind::VarChar(_)) => bloom.check(s.as_str()),
        (Datum::Bytes(b), TypeKind::Binary(_) | TypeKind::VarBinary(_)) => bloom.check(b.as_slice()),
        (Datum::Decimal(u, ..), TypeKind::Decimal { precision, .. }) if *precision <= 9 => bloom.check(&(*u as i32)),
        (Datum::Decimal(u, ..), TypeKind::Decimal { precision, .. }) if *precision <= 18 => bloom.check(&(*u as i64)),
        _ => true,
    }
}
