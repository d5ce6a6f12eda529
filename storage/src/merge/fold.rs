//! The aggregate functions' folds (the `aggregation` engine, and partial-update's aggregated columns): one
//! column's value over a key's versions, oldest first, with retractions as Java Paimon 0.9 takes them
//! (`tests/interop_aggregates.rs` checks every function against it).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, MapArray, StructArray};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::row::{RowConverter, SortField};
use arrow_schema::DataType as ArrowType;

use super::{ColSrc, Versions};
use crate::datum::Datum;
use crate::error::{Error, Result};
use crate::options::AggFn;
use crate::types::DataType;

fn numeric_op(a: &Datum, b: &Datum, retract: bool, product: bool, name: &str) -> Result<Datum> {
    use Datum::*;
    let err = || Error::invalid(format!("aggregation of column `{name}` overflowed or divided by zero"));
    macro_rules! int {
        ($x:expr, $y:expr, $w:ident) => {{
            let r = match (product, retract) {
                (false, false) => $x.checked_add($y),
                (false, true) => $x.checked_sub($y),
                (true, false) => $x.checked_mul($y),
                (true, true) => $x.checked_div($y),
            };
            $w(r.ok_or_else(err)?)
        }};
    }
    Ok(match (a, b) {
        (I8(x), I8(y)) => int!(*x, *y, I8),
        (I16(x), I16(y)) => int!(*x, *y, I16),
        (I32(x), I32(y)) => int!(*x, *y, I32),
        (I64(x), I64(y)) => int!(*x, *y, I64),
        (F32(x), F32(y)) => F32(match (product, retract) {
            (false, false) => x + y,
            (false, true) => x - y,
            (true, false) => x * y,
            (true, true) => x / y,
        }),
        (F64(x), F64(y)) => F64(match (product, retract) {
            (false, false) => x + y,
            (false, true) => x - y,
            (true, false) => x * y,
            (true, true) => x / y,
        }),
        (Decimal(x, p, s), Decimal(y, _, _)) => {
            let scale = 10i128.pow(*s as u32);
            let r = match (product, retract) {
                (false, false) => x.checked_add(*y),
                (false, true) => x.checked_sub(*y),
                (true, false) => x.checked_mul(*y).map(|m| m / scale),
                (true, true) => x.checked_mul(scale).and_then(|m| m.checked_div(*y)),
            };
            Decimal(r.ok_or_else(err)?, *p, *s)
        }
        _ => return Err(Error::Internal(format!("cannot aggregate {a} and {b}"))),
    })
}

pub(super) fn fold(
    agg: &AggFn,
    ignore_retract: bool,
    as_values: bool,
    v: &Versions,
    c: usize,
    ty: &DataType,
    name: &str,
) -> Result<ColSrc> {
    let n = v.rows.len();
    let is_retract = |i: usize| !as_values && v.kind(i).is_retract();
    let datum = |i: usize| -> Result<Datum> {
        let (a, r) = v.col(i, c);
        Datum::from_array(a.as_ref(), r, ty)
    };
    let retract_ok = |i: usize| -> Result<bool> {
        if !is_retract(i) {
            return Ok(false);
        }
        if ignore_retract {
            return Ok(true);
        }
        if !agg.supports_retract() {
            return Err(Error::invalid(format!(
                "aggregate function `{}` of column `{name}` cannot retract; set fields.{name}.ignore-retract",
                agg.name()
            )));
        }
        Ok(true)
    };
    match agg {
        AggFn::LastValue
        | AggFn::LastNonNullValue
        | AggFn::FirstValue
        | AggFn::FirstNonNullValue
        | AggFn::Max
        | AggFn::Min
        | AggFn::BoolAnd
        | AggFn::BoolOr => {
            let mut cur: Option<usize> = None; // version index holding the current value, None = null
            let mut computed: Option<Datum> = None;
            let mut seen_first = false;
            for i in 0..n {
                if retract_ok(i)? {
                    // Java: last_value's retraction clears it; last_non_null_value's only when not null.
                    let clears = match agg {
                        AggFn::LastValue => true,
                        AggFn::LastNonNullValue => !v.is_null(i, c),
                        _ => false,
                    };
                    if !ignore_retract && clears {
                        cur = None;
                    }
                    continue;
                }
                let null = v.is_null(i, c);
                match agg {
                    AggFn::LastValue => cur = Some(i),
                    AggFn::LastNonNullValue => {
                        if !null {
                            cur = Some(i)
                        }
                    }
                    AggFn::FirstValue => {
                        if !seen_first {
                            cur = Some(i);
                            seen_first = true;
                        }
                    }
                    AggFn::FirstNonNullValue => {
                        if cur.is_none() && !null {
                            cur = Some(i)
                        }
                    }
                    AggFn::Max | AggFn::Min => {
                        if !null {
                            let better = match cur {
                                None => true,
                                Some(j) => {
                                    let o = datum(i)?.partial_cmp_value(&datum(j)?);
                                    if matches!(agg, AggFn::Max) {
                                        o == Some(std::cmp::Ordering::Greater)
                                    } else {
                                        o == Some(std::cmp::Ordering::Less)
                                    }
                                }
                            };
                            if better {
                                cur = Some(i)
                            }
                        }
                    }
                    AggFn::BoolAnd | AggFn::BoolOr => {
                        if let Datum::Bool(b) = datum(i)? {
                            let acc = match &computed {
                                Some(Datum::Bool(a)) => {
                                    if matches!(agg, AggFn::BoolAnd) {
                                        *a && b
                                    } else {
                                        *a || b
                                    }
                                }
                                _ => b,
                            };
                            computed = Some(Datum::Bool(acc));
                        }
                    }
                    _ => unreachable!("handled in other arms"),
                }
            }
            Ok(match (computed, cur) {
                (Some(d), _) => ColSrc::Value(d.to_array(ty)?),
                (None, Some(i)) if !v.is_null(i, c) || matches!(agg, AggFn::LastValue | AggFn::FirstValue) => {
                    ColSrc::Pick(i)
                }
                _ => ColSrc::Null,
            })
        }
        AggFn::Sum | AggFn::Product => {
            let mut acc = Datum::Null;
            for i in 0..n {
                let retract = is_retract(i);
                if retract && ignore_retract {
                    continue;
                }
                let d = datum(i)?;
                if d.is_null() {
                    continue;
                }
                acc = if acc.is_null() {
                    if retract && matches!(agg, AggFn::Sum) {
                        // Retracting from nothing: a sum starts at zero (Java: -x).
                        numeric_op(&Datum::I64(0).coerce_to(ty)?, &d, true, false, name)?
                    } else {
                        // An insert, or a product's retraction from nothing, which Java takes as the value.
                        d
                    }
                } else {
                    numeric_op(&acc, &d, retract, matches!(agg, AggFn::Product), name)?
                };
            }
            Ok(if acc.is_null() { ColSrc::Null } else { ColSrc::Value(acc.to_array(ty)?) })
        }
        AggFn::ListAgg(delim) => {
            let mut parts: Vec<String> = Vec::new();
            for i in 0..n {
                if retract_ok(i)? {
                    continue;
                }
                if let Datum::String(s) = datum(i)? {
                    parts.push(s);
                }
            }
            Ok(if parts.is_empty() {
                ColSrc::Null
            } else {
                ColSrc::Value(Datum::String(parts.join(delim)).to_array(ty)?)
            })
        }
        AggFn::Collect { distinct } => collect(v, c, ty, *distinct, ignore_retract, as_values),
        AggFn::MergeMap => merge_map(v, c, ty, ignore_retract, as_values),
        AggFn::Rbm32 => {
            // As Java's `FieldRoaringBitmap32Agg`: a single value stays as its bytes; several are unioned.
            let mut values = Vec::new();
            for i in 0..n {
                if retract_ok(i)? || v.is_null(i, c) {
                    continue;
                }
                values.push(i);
            }
            match values.as_slice() {
                [] => Ok(ColSrc::Null),
                [one] => Ok(ColSrc::Pick(*one)),
                _ => {
                    let mut union = roaring::RoaringBitmap::new();
                    for &i in &values {
                        let Datum::Bytes(bytes) = datum(i)? else {
                            return Err(Error::Internal(format!("rbm32 column `{name}` is not binary")));
                        };
                        union |= roaring::RoaringBitmap::deserialize_from(&bytes[..]).map_err(|e| {
                            Error::invalid(format!(
                                "column `{name}` (rbm32) holds bytes that are not a Roaring bitmap in the portable format: {e}"
                            ))
                        })?;
                    }
                    let mut out = Vec::with_capacity(union.serialized_size());
                    union.serialize_into(&mut out).map_err(|e| Error::Internal(format!("rbm32: {e}")))?;
                    Ok(ColSrc::Value(Datum::Bytes(out).to_array(ty)?))
                }
            }
        }
    }
}

/// Element rows of a list/map value, for comparing elements.
fn element_rows(values: &ArrayRef) -> Result<arrow::row::Rows> {
    let conv = RowConverter::new(vec![SortField::new(values.data_type().clone())])?;
    Ok(conv.convert_columns(std::slice::from_ref(values))?)
}

fn collect(
    v: &Versions,
    c: usize,
    ty: &DataType,
    distinct: bool,
    ignore_retract: bool,
    as_values: bool,
) -> Result<ColSrc> {
    // In order, as Java's `FieldCollectAgg`: an insert appends its elements (`distinct`: those not collected
    // yet), a retraction removes one collected occurrence of each of its elements (nothing when nothing was
    // collected: it does not reach later inserts), a null changes nothing. All retracted leaves an empty list.
    let mut pieces: Vec<ArrayRef> = Vec::new();
    // The collected elements: (piece, index in piece, row bytes).
    let mut acc: Option<Vec<(usize, usize, Vec<u8>)>> = None;
    for i in 0..v.rows.len() {
        let (a, r) = v.col(i, c);
        if a.is_null(r) {
            continue;
        }
        let values = a.as_list::<i32>().value(r);
        let rows = element_rows(&values)?;
        if !as_values && v.kind(i).is_retract() {
            if ignore_retract {
                continue;
            }
            if let Some(acc) = acc.as_mut() {
                for x in rows.iter() {
                    if let Some(p) = acc.iter().position(|(_, _, k)| k.as_slice() == x.as_ref()) {
                        acc.remove(p);
                    }
                }
            }
            continue;
        }
        let piece = pieces.len();
        pieces.push(values);
        let acc = acc.get_or_insert_with(Vec::new);
        for (e, x) in rows.iter().enumerate() {
            if distinct && acc.iter().any(|(_, _, k)| k.as_slice() == x.as_ref()) {
                continue;
            }
            acc.push((piece, e, x.as_ref().to_vec()));
        }
    }
    let Some(acc) = acc else { return Ok(ColSrc::Null) };
    let ArrowType::List(field) = ty.to_arrow() else { return Err(Error::Internal("collect on a non-list".into())) };
    let picks: Vec<(usize, usize)> = acc.iter().map(|(p, e, _)| (*p, *e)).collect();
    let values = if pieces.is_empty() {
        arrow::array::new_empty_array(field.data_type())
    } else {
        let refs: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
        arrow::compute::interleave(&refs, &picks)?
    };
    let list = ListArray::try_new(
        field,
        OffsetBuffer::new(ScalarBuffer::from(vec![0i32, values.len() as i32])),
        values,
        None,
    )?;
    Ok(ColSrc::Value(Arc::new(list)))
}

fn merge_map(v: &Versions, c: usize, ty: &DataType, ignore_retract: bool, as_values: bool) -> Result<ColSrc> {
    let mut entries: Vec<StructArray> = Vec::new();
    let mut is_retract: Vec<bool> = Vec::new();
    for i in 0..v.rows.len() {
        let (a, r) = v.col(i, c);
        if a.is_null(r) {
            continue;
        }
        let retract = !as_values && v.kind(i).is_retract();
        if retract && ignore_retract {
            continue;
        }
        entries.push(a.as_map().value(r));
        is_retract.push(retract);
    }
    if !is_retract.iter().any(|r| !r) {
        return Ok(ColSrc::Null);
    }
    // Later entries overwrite earlier ones by key; a retraction removes its keys.
    let mut order: Vec<Vec<u8>> = Vec::new();
    let mut latest: HashMap<Vec<u8>, Option<(usize, usize)>> = HashMap::new();
    for (e, s) in entries.iter().enumerate() {
        let keys = element_rows(s.column(0))?;
        for i in 0..s.len() {
            let k = keys.row(i).as_ref().to_vec();
            if !latest.contains_key(&k) {
                order.push(k.clone());
            }
            latest.insert(k, if is_retract[e] { None } else { Some((e, i)) });
        }
    }
    let picks: Vec<(usize, usize)> = order.iter().filter_map(|k| latest[k]).collect();
    let refs: Vec<&dyn Array> = entries.iter().map(|s| s as &dyn Array).collect();
    let merged = arrow::compute::interleave(&refs, &picks)?;
    let ArrowType::Map(field, sorted) = ty.to_arrow() else {
        return Err(Error::Internal("merge_map on a non-map".into()));
    };
    let s = merged.as_struct().clone();
    let map =
        MapArray::try_new(field, OffsetBuffer::new(ScalarBuffer::from(vec![0i32, s.len() as i32])), s, None, sorted)?;
    Ok(ColSrc::Value(Arc::new(map)))
}
