//! A single typed value (`Datum`), used where Paimon works on one row at a time: partition values,
//! min/max keys, statistics, predicates. Bulk data stays in Arrow arrays.

use std::cmp::Ordering;
use std::fmt;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes as adt;
use arrow_schema::{DataType as ArrowType, TimeUnit};

use crate::error::{Error, Result};
use crate::types::{DataType, TypeKind};

#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    Null,
    Bool(bool),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    /// Unscaled value with its precision and scale.
    Decimal(i128, u8, u8),
    String(String),
    Bytes(Vec<u8>),
    /// Days since the epoch.
    Date(i32),
    /// Milliseconds of the day.
    Time(i32),
    /// Epoch milliseconds plus nanoseconds within the millisecond.
    Timestamp(i64, i32),
}

impl Datum {
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// Orders two values of the same type; `None` when the types differ or either is null.
    pub fn partial_cmp_value(&self, other: &Datum) -> Option<Ordering> {
        use Datum::*;
        match (self, other) {
            (Bool(a), Bool(b)) => a.partial_cmp(b),
            (I8(a), I8(b)) => a.partial_cmp(b),
            (I16(a), I16(b)) => a.partial_cmp(b),
            (I32(a), I32(b)) => a.partial_cmp(b),
            (I64(a), I64(b)) => a.partial_cmp(b),
            (F32(a), F32(b)) => a.partial_cmp(b),
            (F64(a), F64(b)) => a.partial_cmp(b),
            (Decimal(a, _, sa), Decimal(b, _, sb)) if sa == sb => a.partial_cmp(b),
            (String(a), String(b)) => a.as_bytes().partial_cmp(b.as_bytes()),
            (Bytes(a), Bytes(b)) => a.partial_cmp(b),
            (Date(a), Date(b)) => a.partial_cmp(b),
            (Time(a), Time(b)) => a.partial_cmp(b),
            (Timestamp(a, an), Timestamp(b, bn)) => (a, an).partial_cmp(&(b, bn)),
            // Integers of different widths compare numerically (a predicate literal may be wider).
            _ => match (self.as_i128(), other.as_i128()) {
                (Some(a), Some(b)) if !matches!(self, Decimal(..)) && !matches!(other, Decimal(..)) => {
                    a.partial_cmp(&b)
                }
                _ => match (self.as_f64(), other.as_f64()) {
                    (Some(a), Some(b)) => a.partial_cmp(&b),
                    _ => None,
                },
            },
        }
    }

    fn as_i128(&self) -> Option<i128> {
        match self {
            Datum::I8(v) => Some(*v as i128),
            Datum::I16(v) => Some(*v as i128),
            Datum::I32(v) => Some(*v as i128),
            Datum::I64(v) => Some(*v as i128),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Datum::F32(v) => Some(*v as f64),
            Datum::F64(v) => Some(*v),
            Datum::Decimal(v, _, s) => Some(*v as f64 / 10f64.powi(*s as i32)),
            _ => self.as_i128().map(|v| v as f64),
        }
    }

    /// Reads row `row` of `array`, interpreting it as Paimon type `ty`.
    pub fn from_array(array: &dyn Array, row: usize, ty: &DataType) -> Result<Datum> {
        if array.is_null(row) {
            return Ok(Datum::Null);
        }
        let d = match (&ty.kind, array.data_type()) {
            (TypeKind::Boolean, _) => Datum::Bool(array.as_boolean().value(row)),
            (TypeKind::TinyInt, _) => Datum::I8(array.as_primitive::<adt::Int8Type>().value(row)),
            (TypeKind::SmallInt, _) => Datum::I16(array.as_primitive::<adt::Int16Type>().value(row)),
            (TypeKind::Int, _) => Datum::I32(array.as_primitive::<adt::Int32Type>().value(row)),
            (TypeKind::BigInt, _) => Datum::I64(array.as_primitive::<adt::Int64Type>().value(row)),
            (TypeKind::Float, _) => Datum::F32(array.as_primitive::<adt::Float32Type>().value(row)),
            (TypeKind::Double, _) => Datum::F64(array.as_primitive::<adt::Float64Type>().value(row)),
            (TypeKind::Decimal { precision, scale }, _) => {
                Datum::Decimal(array.as_primitive::<adt::Decimal128Type>().value(row), *precision, *scale)
            }
            (TypeKind::Char(_) | TypeKind::VarChar(_), _) => {
                Datum::String(array.as_string::<i32>().value(row).to_string())
            }
            (TypeKind::Binary(_) | TypeKind::VarBinary(_), _) => {
                Datum::Bytes(array.as_binary::<i32>().value(row).to_vec())
            }
            (TypeKind::Date, _) => Datum::Date(array.as_primitive::<adt::Date32Type>().value(row)),
            (TypeKind::Time(_), _) => Datum::Time(array.as_primitive::<adt::Time32MillisecondType>().value(row)),
            (TypeKind::Timestamp(_) | TypeKind::TimestampLtz(_), ArrowType::Timestamp(unit, _)) => {
                let (millis, nanos) = match unit {
                    TimeUnit::Second => (array.as_primitive::<adt::TimestampSecondType>().value(row) * 1000, 0),
                    TimeUnit::Millisecond => (array.as_primitive::<adt::TimestampMillisecondType>().value(row), 0),
                    TimeUnit::Microsecond => {
                        let v = array.as_primitive::<adt::TimestampMicrosecondType>().value(row);
                        (v.div_euclid(1000), (v.rem_euclid(1000) * 1000) as i32)
                    }
                    TimeUnit::Nanosecond => {
                        let v = array.as_primitive::<adt::TimestampNanosecondType>().value(row);
                        (v.div_euclid(1_000_000), v.rem_euclid(1_000_000) as i32)
                    }
                };
                Datum::Timestamp(millis, nanos)
            }
            (k, a) => return Err(Error::Internal(format!("no scalar view of type {k:?} over arrow {a}"))),
        };
        Ok(d)
    }

    /// A one-element Arrow array holding this value as type `ty` (used to compare columns with literals).
    pub fn to_array(&self, ty: &DataType) -> Result<ArrayRef> {
        use arrow::array::{
            BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int16Array,
            Int32Array, Int64Array, Int8Array, StringArray, Time32MillisecondArray, TimestampMicrosecondArray,
            TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
        };
        use std::sync::Arc;
        let arrow_type = ty.to_arrow();
        if self.is_null() {
            return Ok(arrow::array::new_null_array(&arrow_type, 1));
        }
        let coerce = self.coerce_to(ty)?;
        let a: ArrayRef = match (&coerce, &arrow_type) {
            (Datum::Bool(v), _) => Arc::new(BooleanArray::from(vec![*v])),
            (Datum::I8(v), _) => Arc::new(Int8Array::from(vec![*v])),
            (Datum::I16(v), _) => Arc::new(Int16Array::from(vec![*v])),
            (Datum::I32(v), _) => Arc::new(Int32Array::from(vec![*v])),
            (Datum::I64(v), _) => Arc::new(Int64Array::from(vec![*v])),
            (Datum::F32(v), _) => Arc::new(Float32Array::from(vec![*v])),
            (Datum::F64(v), _) => Arc::new(Float64Array::from(vec![*v])),
            (Datum::Decimal(v, p, s), _) => {
                Arc::new(Decimal128Array::from(vec![*v]).with_precision_and_scale(*p, *s as i8)?)
            }
            (Datum::String(v), _) => Arc::new(StringArray::from(vec![v.as_str()])),
            (Datum::Bytes(v), _) => Arc::new(BinaryArray::from(vec![v.as_slice()])),
            (Datum::Date(v), _) => Arc::new(Date32Array::from(vec![*v])),
            (Datum::Time(v), _) => Arc::new(Time32MillisecondArray::from(vec![*v])),
            (Datum::Timestamp(ms, ns), ArrowType::Timestamp(unit, tz)) => {
                let arr: ArrayRef = match unit {
                    TimeUnit::Second => Arc::new(TimestampSecondArray::from(vec![ms.div_euclid(1000)])),
                    TimeUnit::Millisecond => Arc::new(TimestampMillisecondArray::from(vec![*ms])),
                    TimeUnit::Microsecond => {
                        Arc::new(TimestampMicrosecondArray::from(vec![ms * 1000 + (*ns as i64) / 1000]))
                    }
                    TimeUnit::Nanosecond => Arc::new(TimestampNanosecondArray::from(vec![ms * 1_000_000 + *ns as i64])),
                };
                arrow::compute::cast(&arr, &ArrowType::Timestamp(*unit, tz.clone()))?
            }
            (d, t) => return Err(Error::invalid(format!("value {d} cannot be used as {t}"))),
        };
        Ok(a)
    }

    /// Converts a literal to the representation of `ty` (e.g. an integer literal for a BIGINT column).
    pub fn coerce_to(&self, ty: &DataType) -> Result<Datum> {
        use Datum::*;
        let fail = || Error::invalid(format!("value {self} does not fit type {}", ty.to_json()));
        let int = self.as_i128();
        Ok(match (&ty.kind, self) {
            (_, Null) => Null,
            (TypeKind::Boolean, Bool(b)) => Bool(*b),
            (TypeKind::TinyInt, _) if int.is_some() => I8(i8::try_from(int.unwrap()).map_err(|_| fail())?),
            (TypeKind::SmallInt, _) if int.is_some() => I16(i16::try_from(int.unwrap()).map_err(|_| fail())?),
            (TypeKind::Int, _) if int.is_some() => I32(i32::try_from(int.unwrap()).map_err(|_| fail())?),
            (TypeKind::BigInt, _) if int.is_some() => I64(i64::try_from(int.unwrap()).map_err(|_| fail())?),
            (TypeKind::Float, _) => F32(self.as_f64().ok_or_else(fail)? as f32),
            (TypeKind::Double, _) => F64(self.as_f64().ok_or_else(fail)?),
            (TypeKind::Decimal { precision, scale }, Decimal(v, _, s)) if s == scale => Decimal(*v, *precision, *scale),
            (TypeKind::Decimal { precision, scale }, _) if int.is_some() => {
                Decimal(int.unwrap() * 10i128.pow(*scale as u32), *precision, *scale)
            }
            (TypeKind::Decimal { precision, scale }, String(s)) => parse_decimal(s, *precision, *scale)?,
            (TypeKind::Char(_) | TypeKind::VarChar(_), String(s)) => String(s.clone()),
            (TypeKind::Binary(_) | TypeKind::VarBinary(_), Bytes(b)) => Bytes(b.clone()),
            (TypeKind::Date, Date(d)) => Date(*d),
            (TypeKind::Date, String(s)) => Date(parse_date(s)?),
            (TypeKind::Time(_), Time(t)) => Time(*t),
            (TypeKind::Timestamp(_) | TypeKind::TimestampLtz(_), Timestamp(a, b)) => Timestamp(*a, *b),
            (TypeKind::Timestamp(_) | TypeKind::TimestampLtz(_), String(s)) => {
                let (ms, ns) = parse_timestamp(s)?;
                Timestamp(ms, ns)
            }
            _ => return Err(fail()),
        })
    }

    /// The text Paimon uses in partition paths and in printed output.
    pub fn to_partition_string(&self) -> String {
        match self {
            Datum::Null => "null".into(),
            Datum::Bool(v) => v.to_string(),
            Datum::I8(v) => v.to_string(),
            Datum::I16(v) => v.to_string(),
            Datum::I32(v) => v.to_string(),
            Datum::I64(v) => v.to_string(),
            Datum::F32(v) => v.to_string(),
            Datum::F64(v) => v.to_string(),
            Datum::Decimal(v, _, s) => format_decimal(*v, *s),
            Datum::String(v) => v.clone(),
            Datum::Bytes(v) => hex_encode(v),
            Datum::Date(d) => format_date(*d),
            Datum::Time(t) => {
                format!("{:02}:{:02}:{:02}.{:03}", t / 3_600_000, t / 60_000 % 60, t / 1000 % 60, t % 1000)
            }
            Datum::Timestamp(ms, ns) => format_timestamp(*ms, *ns, 9),
        }
    }
}

impl fmt::Display for Datum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::String(s) => write!(f, "'{s}'"),
            other => write!(f, "{}", other.to_partition_string()),
        }
    }
}

pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn format_decimal(unscaled: i128, scale: u8) -> String {
    if scale == 0 {
        return unscaled.to_string();
    }
    let negative = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded =
        if digits.len() <= scale { format!("{}{}", "0".repeat(scale + 1 - digits.len()), digits) } else { digits };
    let (int_part, frac) = padded.split_at(padded.len() - scale);
    format!("{}{}.{}", if negative { "-" } else { "" }, int_part, frac)
}

pub fn parse_decimal(text: &str, precision: u8, scale: u8) -> Result<Datum> {
    let bad = || Error::invalid(format!("`{text}` is not a DECIMAL({precision}, {scale})"));
    let t = text.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int_part, frac) = t.split_once('.').unwrap_or((t, ""));
    if int_part.is_empty() && frac.is_empty()
        || !int_part.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    if frac.len() > scale as usize && frac[scale as usize..].chars().any(|c| c != '0') {
        return Err(Error::invalid(format!(
            "`{text}` has more than {scale} fractional digits for DECIMAL({precision}, {scale})"
        )));
    }
    let mut frac_digits: String = frac.chars().take(scale as usize).collect();
    while frac_digits.len() < scale as usize {
        frac_digits.push('0');
    }
    let all = format!("{int_part}{frac_digits}");
    let trimmed = all.trim_start_matches('0');
    if trimmed.len() > precision as usize {
        return Err(Error::invalid(format!("`{text}` does not fit DECIMAL({precision}, {scale})")));
    }
    let v: i128 = if trimmed.is_empty() { 0 } else { trimmed.parse().map_err(|_| bad())? };
    Ok(Datum::Decimal(if negative { -v } else { v }, precision, scale))
}

pub fn format_date(days: i32) -> String {
    let d = chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163);
    d.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_else(|| days.to_string())
}

pub fn parse_date(text: &str) -> Result<i32> {
    let d = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|e| Error::invalid(format!("`{text}` is not a date (YYYY-MM-DD): {e}")))?;
    Ok(d.num_days_from_ce() - 719_163)
}

use chrono::Datelike;

/// ISO-8601 without zone, with as many fractional digits as needed up to `precision` (Python's isoformat style:
/// none when zero, else 6 or 9 digits... we print micros when the nanos fit, like datetime.isoformat).
pub fn format_timestamp(millis: i64, nanos_of_milli: i32, precision: u8) -> String {
    let secs = millis.div_euclid(1000);
    let nanos = (millis.rem_euclid(1000) * 1_000_000) as u32 + nanos_of_milli as u32;
    let Some(dt) = chrono::DateTime::from_timestamp(secs, nanos) else { return format!("{millis}ms") };
    let naive = dt.naive_utc();
    let base = naive.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos == 0 {
        base
    } else if nanos.is_multiple_of(1000) || precision <= 6 {
        format!("{base}.{:06}", nanos / 1000)
    } else {
        format!("{base}.{nanos:09}")
    }
}

/// Parses `YYYY-MM-DD[ T]HH:MM:SS[.fffffffff]` (no zone) into epoch millis and nanos within the milli.
pub fn parse_timestamp(text: &str) -> Result<(i64, i32)> {
    let t = text.trim().replace(' ', "T");
    let t = t.strip_suffix('Z').unwrap_or(&t);
    let dt = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M"))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists"))
        })
        .map_err(|e| Error::invalid(format!("`{text}` is not a timestamp (YYYY-MM-DDTHH:MM:SS[.f]): {e}")))?;
    let utc = dt.and_utc();
    let secs = utc.timestamp();
    let nanos = utc.timestamp_subsec_nanos() as i64;
    Ok((secs * 1000 + nanos / 1_000_000, (nanos % 1_000_000) as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decimal text round-trips and rejects values that do not fit.
    #[test]
    fn decimal_text() {
        assert_eq!(parse_decimal("12.50", 10, 2).unwrap(), Datum::Decimal(1250, 10, 2));
        assert_eq!(parse_decimal("-0.05", 10, 2).unwrap(), Datum::Decimal(-5, 10, 2));
        assert_eq!(format_decimal(-5, 2), "-0.05");
        assert_eq!(format_decimal(123456, 3), "123.456");
        assert!(parse_decimal("1.234", 10, 2).is_err());
        assert!(parse_decimal("123456789", 5, 0).is_err());
        assert!(parse_decimal("abc", 5, 0).is_err());
    }

    /// Dates and timestamps print as ISO-8601 and parse back.
    #[test]
    fn temporal_text() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(parse_date("2024-01-01").unwrap(), 19723);
        let (ms, ns) = parse_timestamp("2024-01-01T12:00:00.123456").unwrap();
        assert_eq!(format_timestamp(ms, ns, 6), "2024-01-01T12:00:00.123456");
        assert_eq!(format_timestamp(0, 0, 3), "1970-01-01T00:00:00");
        let (ms, ns) = parse_timestamp("1969-12-31T23:59:59.999999999").unwrap();
        assert_eq!(format_timestamp(ms, ns, 9), "1969-12-31T23:59:59.999999999");
    }
}
