//! Paimon's BinaryRow: the byte layout of partition values, min/max keys and statistics in manifests,
//! and the input of the bucket hash.
//!
//! Layout (docs/paimon-format.md section 7): a header of `((arity + 63 + 8) / 64) * 8` bytes whose
//! first byte is the row kind and whose bits from 8 on are the null bits; one little-endian 8-byte slot
//! per field; then a variable part for values that do not fit a slot. Manifests prefix it with a 4-byte
//! big-endian arity.

use crate::datum::Datum;
use crate::error::{Error, Result};
use crate::types::{DataType, TypeKind};

const fn null_bits_size(arity: usize) -> usize {
    ((arity + 63 + 8) / 64) * 8
}

// The header grows by a word once the null bits (arity + 8 row-kind bits) pass 64.
const _: () = assert!(null_bits_size(56) == 8);
const _: () = assert!(null_bits_size(57) == 16);

/// Encodes `values` of `types` as a BinaryRow (without the arity prefix), row kind 0.
pub fn encode_row(values: &[Datum], types: &[DataType]) -> Result<Vec<u8>> {
    if values.len() != types.len() {
        return Err(Error::Internal(format!(
            "binary row arity mismatch: {} values for {} types",
            values.len(),
            types.len()
        )));
    }
    let arity = values.len();
    let fixed = null_bits_size(arity) + arity * 8;
    let mut buf = vec![0u8; fixed];
    for (i, (v, t)) in values.iter().zip(types).enumerate() {
        let slot = null_bits_size(arity) + i * 8;
        if v.is_null() || !t.is_atomic() {
            let bit = i + 8;
            buf[bit / 8] |= 1 << (bit % 8);
            continue;
        }
        let v = v.coerce_to(t)?;
        match (&t.kind, &v) {
            (_, Datum::Bool(b)) => buf[slot] = *b as u8,
            (_, Datum::I8(x)) => buf[slot] = *x as u8,
            (_, Datum::I16(x)) => buf[slot..slot + 2].copy_from_slice(&x.to_le_bytes()),
            (_, Datum::I32(x)) | (_, Datum::Date(x)) | (_, Datum::Time(x)) => {
                buf[slot..slot + 4].copy_from_slice(&x.to_le_bytes())
            }
            (_, Datum::I64(x)) => buf[slot..slot + 8].copy_from_slice(&x.to_le_bytes()),
            (_, Datum::F32(x)) => buf[slot..slot + 4].copy_from_slice(&x.to_le_bytes()),
            (_, Datum::F64(x)) => buf[slot..slot + 8].copy_from_slice(&x.to_le_bytes()),
            (TypeKind::Decimal { precision, .. }, Datum::Decimal(u, _, _)) => {
                if *precision <= 18 {
                    buf[slot..slot + 8].copy_from_slice(&(*u as i64).to_le_bytes());
                } else {
                    // Java reserves 16 bytes and writes BigInteger.toByteArray() (minimal big-endian) at the start.
                    let bytes = minimal_be_bytes(*u);
                    let offset = buf.len();
                    buf.extend_from_slice(&[0u8; 16]);
                    buf[offset..offset + bytes.len()].copy_from_slice(&bytes);
                    let word = ((offset as u64) << 32) | bytes.len() as u64;
                    buf[slot..slot + 8].copy_from_slice(&word.to_le_bytes());
                }
            }
            (TypeKind::Timestamp(p) | TypeKind::TimestampLtz(p), Datum::Timestamp(ms, ns)) => {
                if *p <= 3 {
                    buf[slot..slot + 8].copy_from_slice(&ms.to_le_bytes());
                } else {
                    let offset = buf.len();
                    buf.extend_from_slice(&ms.to_le_bytes());
                    let word = ((offset as u64) << 32) | (*ns as u32 as u64);
                    buf[slot..slot + 8].copy_from_slice(&word.to_le_bytes());
                }
            }
            (_, Datum::String(s)) => write_var(&mut buf, slot, s.as_bytes()),
            (_, Datum::Bytes(b)) => write_var(&mut buf, slot, b),
            (k, d) => return Err(Error::Internal(format!("cannot encode {d} as {k:?} in a binary row"))),
        }
    }
    Ok(buf)
}

fn write_var(buf: &mut Vec<u8>, slot: usize, data: &[u8]) {
    if data.len() <= 7 {
        buf[slot..slot + data.len()].copy_from_slice(data);
        buf[slot + 7] = 0x80 | data.len() as u8;
    } else {
        let offset = buf.len();
        buf.extend_from_slice(data);
        let padded = data.len().div_ceil(8) * 8;
        buf.resize(offset + padded, 0);
        let word = ((offset as u64) << 32) | data.len() as u64;
        buf[slot..slot + 8].copy_from_slice(&word.to_le_bytes());
    }
}

fn minimal_be_bytes(v: i128) -> Vec<u8> {
    let full = v.to_be_bytes();
    let mut start = 0;
    // Drop leading bytes that only repeat the sign, as BigInteger.toByteArray does.
    while start < 15 {
        let b = full[start];
        let next_high_bit = full[start + 1] & 0x80;
        if (b == 0x00 && next_high_bit == 0) || (b == 0xff && next_high_bit != 0) {
            start += 1;
        } else {
            break;
        }
    }
    full[start..].to_vec()
}

/// Encodes with the 4-byte big-endian arity prefix that manifests use.
pub fn serialize_row(values: &[Datum], types: &[DataType]) -> Result<Vec<u8>> {
    let mut out = (values.len() as u32).to_be_bytes().to_vec();
    out.extend(encode_row(values, types)?);
    Ok(out)
}

/// Decodes a manifest BinaryRow (with arity prefix). An empty byte string decodes as the empty row.
pub fn deserialize_row(bytes: &[u8], types: &[DataType]) -> Result<Vec<Datum>> {
    if bytes.is_empty() {
        return Ok(vec![Datum::Null; types.len()]);
    }
    if bytes.len() < 4 {
        return Err(Error::invalid(format!("binary row of {} bytes is shorter than its arity prefix", bytes.len())));
    }
    let arity = u32::from_be_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
    if arity != types.len() {
        return Err(Error::invalid(format!("binary row has arity {arity}, expected {}", types.len())));
    }
    decode_row(&bytes[4..], types)
}

/// Decodes a BinaryRow without the arity prefix.
pub fn decode_row(row: &[u8], types: &[DataType]) -> Result<Vec<Datum>> {
    let arity = types.len();
    let header = null_bits_size(arity);
    if row.len() < header + arity * 8 {
        return Err(Error::invalid(format!("binary row of {} bytes is too short for {arity} fields", row.len())));
    }
    let mut out = Vec::with_capacity(arity);
    for (i, t) in types.iter().enumerate() {
        let bit = i + 8;
        if row[bit / 8] & (1 << (bit % 8)) != 0 || !t.is_atomic() {
            out.push(Datum::Null);
            continue;
        }
        let slot = header + i * 8;
        let s = &row[slot..slot + 8];
        let word = u64::from_le_bytes(s.try_into().expect("8 bytes"));
        let var = |offset: usize, len: usize| -> Result<&[u8]> {
            row.get(offset..offset + len).ok_or_else(|| {
                Error::invalid(format!("binary row field {i} points outside the row ({offset}+{len} > {})", row.len()))
            })
        };
        let d = match &t.kind {
            TypeKind::Boolean => Datum::Bool(s[0] != 0),
            TypeKind::TinyInt => Datum::I8(s[0] as i8),
            TypeKind::SmallInt => Datum::I16(i16::from_le_bytes([s[0], s[1]])),
            TypeKind::Int => Datum::I32(i32::from_le_bytes(s[0..4].try_into().expect("4"))),
            TypeKind::Date => Datum::Date(i32::from_le_bytes(s[0..4].try_into().expect("4"))),
            TypeKind::Time(_) => Datum::Time(i32::from_le_bytes(s[0..4].try_into().expect("4"))),
            TypeKind::BigInt => Datum::I64(word as i64),
            TypeKind::Float => Datum::F32(f32::from_le_bytes(s[0..4].try_into().expect("4"))),
            TypeKind::Double => Datum::F64(f64::from_le_bytes(s.try_into().expect("8"))),
            TypeKind::Decimal { precision, scale } => {
                if *precision <= 18 {
                    Datum::Decimal(word as i64 as i128, *precision, *scale)
                } else {
                    let bytes = var((word >> 32) as usize, (word & 0xffff_ffff) as usize)?;
                    if bytes.is_empty() || bytes.len() > 16 {
                        return Err(Error::invalid(format!("binary row decimal field {i} has {} bytes", bytes.len())));
                    }
                    let mut full = if bytes[0] & 0x80 != 0 { [0xffu8; 16] } else { [0u8; 16] };
                    full[16 - bytes.len()..].copy_from_slice(bytes);
                    Datum::Decimal(i128::from_be_bytes(full), *precision, *scale)
                }
            }
            TypeKind::Timestamp(p) | TypeKind::TimestampLtz(p) => {
                if *p <= 3 {
                    Datum::Timestamp(word as i64, 0)
                } else {
                    let ms = var((word >> 32) as usize, 8)?;
                    Datum::Timestamp(i64::from_le_bytes(ms.try_into().expect("8")), (word & 0xffff_ffff) as i32)
                }
            }
            TypeKind::Char(_) | TypeKind::VarChar(_) | TypeKind::Binary(_) | TypeKind::VarBinary(_) => {
                let data = if s[7] & 0x80 != 0 {
                    let len = (s[7] & 0x7f) as usize;
                    if len > 7 {
                        return Err(Error::invalid(format!("binary row inline field {i} claims {len} bytes")));
                    }
                    &s[..len]
                } else {
                    var((word >> 32) as usize, (word & 0xffff_ffff) as usize)?
                };
                if matches!(t.kind, TypeKind::Char(_) | TypeKind::VarChar(_)) {
                    Datum::String(
                        String::from_utf8(data.to_vec())
                            .map_err(|_| Error::invalid(format!("binary row string field {i} is not utf-8")))?,
                    )
                } else {
                    Datum::Bytes(data.to_vec())
                }
            }
            TypeKind::Array(_) | TypeKind::Map(..) | TypeKind::Row(_) => Datum::Null,
        };
        out.push(d);
    }
    Ok(out)
}

/// MurmurHash3 x86_32 over 4-byte little-endian words, seed 42, finalised with the length, as
/// Paimon's `MurmurHashUtils.hashBytesByWords` (row bytes are always a multiple of 8 long).
pub fn hash_by_words(bytes: &[u8]) -> i32 {
    debug_assert!(bytes.len().is_multiple_of(4));
    let mut h1: u32 = 42;
    for chunk in bytes.chunks_exact(4) {
        let mut k1 = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
        k1 = k1.wrapping_mul(0xcc9e_2d51);
        k1 = k1.rotate_left(15);
        k1 = k1.wrapping_mul(0x1b87_3593);
        h1 ^= k1;
        h1 = h1.rotate_left(13);
        h1 = h1.wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    h1 ^= bytes.len() as u32;
    h1 ^= h1 >> 16;
    h1 = h1.wrapping_mul(0x85eb_ca6b);
    h1 ^= h1 >> 13;
    h1 = h1.wrapping_mul(0xc2b2_ae35);
    h1 ^= h1 >> 16;
    h1 as i32
}

/// The bucket Java Paimon chooses for a bucket-key row: `abs(hash % n)`.
pub fn bucket_of(row_bytes: &[u8], num_buckets: i32) -> i32 {
    (hash_by_words(row_bytes) % num_buckets).abs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{parse_sql_type, TypeKind};

    fn t(s: &str) -> DataType {
        parse_sql_type(s).unwrap()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The byte examples of docs/paimon-format.md section 7 and the bucket example of section 8.
    #[test]
    fn format_page_examples() {
        let row = serialize_row(&[Datum::String("2024-01-01".into())], &[t("STRING")]).unwrap();
        assert_eq!(
            hex(&row),
            "00000001".to_string() + "0000000000000000" + "0a00000010000000" + "323032342d30312d3031000000000000"
        );
        assert_eq!(
            hex(&serialize_row(&[Datum::I64(2)], &[t("BIGINT")]).unwrap()),
            "0000000100000000000000000200000000000000"
        );
        assert_eq!(hex(&serialize_row(&[], &[]).unwrap()), "000000000000000000000000");
        let key = encode_row(&[Datum::I64(1)], &[t("BIGINT")]).unwrap();
        assert_eq!(hash_by_words(&key), 1465514398);
        assert_eq!(bucket_of(&key, 2), 0);
    }

    /// Every atomic type round-trips, including nulls, long strings, wide decimals and precise timestamps.
    #[test]
    fn round_trip_all_atomic_types() {
        let types = vec![
            t("BOOLEAN"),
            t("TINYINT"),
            t("SMALLINT"),
            t("INT"),
            t("BIGINT"),
            t("FLOAT"),
            t("DOUBLE"),
            t("DECIMAL(10, 2)"),
            t("DECIMAL(38, 4)"),
            t("STRING"),
            t("STRING"),
            t("BYTES"),
            t("DATE"),
            t("TIME"),
            t("TIMESTAMP(3)"),
            t("TIMESTAMP(9)"),
            t("INT"),
        ];
        let values = vec![
            Datum::Bool(true),
            Datum::I8(-3),
            Datum::I16(-300),
            Datum::I32(123456),
            Datum::I64(-9_000_000_000),
            Datum::F32(1.5),
            Datum::F64(-2.25),
            Datum::Decimal(-12345, 10, 2),
            Datum::Decimal(-123456789012345678901234567i128, 38, 4),
            Datum::String("short".into()),
            Datum::String("a string longer than seven bytes".into()),
            Datum::Bytes(vec![0, 1, 2, 255]),
            Datum::Date(19723),
            Datum::Time(3_600_000),
            Datum::Timestamp(1_700_000_000_123, 0),
            Datum::Timestamp(-1_700_000_000_123, 456_789),
            Datum::Null,
        ];
        let bytes = serialize_row(&values, &types).unwrap();
        assert_eq!(deserialize_row(&bytes, &types).unwrap(), values);
        // A positive wide decimal whose top byte has the high bit set needs a leading zero byte.
        let v = vec![Datum::Decimal(0x80, 20, 0)];
        let ty = vec![DataType::new(TypeKind::Decimal { precision: 20, scale: 0 }, true)];
        assert_eq!(deserialize_row(&serialize_row(&v, &ty).unwrap(), &ty).unwrap(), v);
    }

    /// Truncated or lying rows give an error, never a panic.
    #[test]
    fn corrupt_rows_are_errors() {
        let types = vec![t("STRING")];
        let mut bytes = serialize_row(&[Datum::String("a string longer than seven bytes".into())], &types).unwrap();
        bytes.truncate(20);
        assert!(deserialize_row(&bytes, &types).is_err());
        assert!(deserialize_row(&[0, 0], &types).is_err());
        assert!(deserialize_row(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0], &types).is_err());
    }
}
