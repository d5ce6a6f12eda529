//! Rows as text: JSON lines in and out (DATE `YYYY-MM-DD`, TIMESTAMP ISO-8601 without zone, DECIMAL as a
//! string, BYTES as hex), CSV and Parquet input, and the canonical form the Paimon oracles print.

use std::sync::Arc;

use arrow::array::*;
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::*;
use dyntable_storage::datum::{
    format_date, format_decimal, format_timestamp, hex_encode, parse_date, parse_decimal, parse_timestamp, Datum as D,
};
use dyntable_storage::types::{DataField, DataType as PType, TypeKind};
use dyntable_storage::{Error, Result, TableSchema};
use serde_json::{Map, Value};

/// Builds a batch of `fields` (plus an optional extra STRING column, e.g. a row-kind column) from JSON objects.
pub fn json_to_batch(rows: &[Value], fields: &[DataField], extra_string_column: Option<&str>) -> Result<RecordBatch> {
    let mut arrays: Vec<ArrayRef> = Vec::new();
    let mut schema_fields: Vec<Field> = Vec::new();
    for f in fields {
        let values: Vec<&Value> = rows.iter().map(|r| r.get(&f.name).unwrap_or(&Value::Null)).collect();
        let a =
            json_to_array(&values, &f.data_type).map_err(|e| Error::invalid(format!("column `{}`: {e}", f.name)))?;
        schema_fields.push(f.to_arrow().with_nullable(true));
        arrays.push(a);
    }
    if let Some(c) = extra_string_column {
        let values: Vec<Option<String>> =
            rows.iter().map(|r| r.get(c).and_then(|v| v.as_str().map(str::to_string))).collect();
        schema_fields.push(Field::new(c, DataType::Utf8, true));
        arrays.push(Arc::new(StringArray::from(values)));
    }
    for (i, r) in rows.iter().enumerate() {
        let obj = r.as_object().ok_or_else(|| Error::invalid(format!("row {i} is not a JSON object")))?;
        for k in obj.keys() {
            if !fields.iter().any(|f| &f.name == k) && extra_string_column != Some(k.as_str()) {
                return Err(Error::SchemaMismatch(format!("row {i} has column `{k}`, which is not in the table")));
            }
        }
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(Arc::new(Schema::new(schema_fields)), arrays, &options)?)
}

fn bad(v: &Value, what: &str) -> Error {
    Error::invalid(format!("value {v} is not a valid {what}"))
}

/// Converts JSON values to an array of Paimon type `ty`.
pub fn json_to_array(values: &[&Value], ty: &PType) -> Result<ArrayRef> {
    macro_rules! ints {
        ($arr:ty, $t:ty, $name:expr) => {{
            let mut out: Vec<Option<$t>> = Vec::with_capacity(values.len());
            for v in values {
                out.push(match v {
                    Value::Null => None,
                    Value::Number(n) => {
                        Some(n.as_i64().and_then(|x| <$t>::try_from(x).ok()).ok_or_else(|| bad(v, $name))?)
                    }
                    Value::String(s) => Some(s.trim().parse::<$t>().map_err(|_| bad(v, $name))?),
                    _ => return Err(bad(v, $name)),
                });
            }
            Arc::new(<$arr>::from(out)) as ArrayRef
        }};
    }
    let floats = |name: &str| -> Result<Vec<Option<f64>>> {
        values
            .iter()
            .map(|v| match v {
                Value::Null => Ok(None),
                Value::Number(n) => n.as_f64().map(Some).ok_or_else(|| bad(v, name)),
                Value::String(s) => match s.as_str() {
                    "NaN" | "nan" => Ok(Some(f64::NAN)),
                    "Infinity" | "inf" => Ok(Some(f64::INFINITY)),
                    "-Infinity" | "-inf" => Ok(Some(f64::NEG_INFINITY)),
                    _ => s.parse().map(Some).map_err(|_| bad(v, name)),
                },
                _ => Err(bad(v, name)),
            })
            .collect()
    };
    let strings = |name: &str| -> Result<Vec<Option<String>>> {
        values
            .iter()
            .map(|v| match v {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                Value::Object(o) if o.len() == 1 && (o.contains_key("$decimal") || o.contains_key("$bytes")) => {
                    Ok(o.values().next().and_then(|x| x.as_str()).map(str::to_string))
                }
                Value::Number(n) => Ok(Some(n.to_string())),
                _ => Err(bad(v, name)),
            })
            .collect()
    };
    let a: ArrayRef = match &ty.kind {
        TypeKind::Boolean => Arc::new(BooleanArray::from(
            values
                .iter()
                .map(|v| match v {
                    Value::Null => Ok(None),
                    Value::Bool(b) => Ok(Some(*b)),
                    Value::String(s) if s == "true" || s == "false" => Ok(Some(s == "true")),
                    _ => Err(bad(v, "BOOLEAN")),
                })
                .collect::<Result<Vec<_>>>()?,
        )),
        TypeKind::TinyInt => ints!(Int8Array, i8, "TINYINT"),
        TypeKind::SmallInt => ints!(Int16Array, i16, "SMALLINT"),
        TypeKind::Int => ints!(Int32Array, i32, "INT"),
        TypeKind::BigInt => ints!(Int64Array, i64, "BIGINT"),
        TypeKind::Float => {
            Arc::new(Float32Array::from(floats("FLOAT")?.into_iter().map(|v| v.map(|x| x as f32)).collect::<Vec<_>>()))
        }
        TypeKind::Double => Arc::new(Float64Array::from(floats("DOUBLE")?)),
        TypeKind::Decimal { precision, scale } => {
            let mut out = Vec::with_capacity(values.len());
            for s in strings("DECIMAL")? {
                out.push(match s {
                    None => None,
                    Some(s) => match parse_decimal(&s, *precision, *scale)? {
                        D::Decimal(v, _, _) => Some(v),
                        _ => unreachable!("parse_decimal returns decimals"),
                    },
                });
            }
            Arc::new(Decimal128Array::from(out).with_precision_and_scale(*precision, *scale as i8)?)
        }
        TypeKind::Char(_) | TypeKind::VarChar(_) => Arc::new(StringArray::from(strings("STRING")?)),
        TypeKind::Binary(_) | TypeKind::VarBinary(_) => {
            let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(values.len());
            for s in strings("BYTES (hex)")? {
                out.push(match s {
                    None => None,
                    Some(s) => {
                        Some(hex::decode(s.trim()).map_err(|_| Error::invalid(format!("`{s}` is not hex bytes")))?)
                    }
                });
            }
            Arc::new(BinaryArray::from(out.iter().map(|o| o.as_deref()).collect::<Vec<_>>()))
        }
        TypeKind::Date => Arc::new(Date32Array::from(
            strings("DATE")?.into_iter().map(|s| s.map(|s| parse_date(&s)).transpose()).collect::<Result<Vec<_>>>()?,
        )),
        TypeKind::Time(_) => {
            let mut out = Vec::with_capacity(values.len());
            for s in strings("TIME")? {
                out.push(match s {
                    None => None,
                    Some(s) => {
                        let t = chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M:%S%.f")
                            .map_err(|e| Error::invalid(format!("`{s}` is not a time (HH:MM:SS[.fff]): {e}")))?;
                        Some(
                            (chrono::Timelike::num_seconds_from_midnight(&t) * 1000
                                + chrono::Timelike::nanosecond(&t) / 1_000_000) as i32,
                        )
                    }
                });
            }
            Arc::new(Time32MillisecondArray::from(out))
        }
        TypeKind::Timestamp(p) | TypeKind::TimestampLtz(p) => {
            let mut nanos: Vec<Option<i64>> = Vec::with_capacity(values.len());
            for s in strings("TIMESTAMP")? {
                nanos.push(match s {
                    None => None,
                    Some(s) => {
                        let s = s.trim().trim_end_matches("+00:00").to_string();
                        let (ms, ns) = parse_timestamp(&s)?;
                        Some(
                            ms.checked_mul(1_000_000)
                                .ok_or_else(|| Error::invalid(format!("timestamp `{s}` out of range")))?
                                + ns as i64,
                        )
                    }
                });
            }
            let tz = if matches!(ty.kind, TypeKind::TimestampLtz(_)) { Some(Arc::from("UTC")) } else { None };
            let unit = dyntable_storage::types::timestamp_unit(*p);
            let div = match unit {
                TimeUnit::Millisecond => 1_000_000,
                TimeUnit::Microsecond => 1_000,
                _ => 1,
            };
            let v: Vec<Option<i64>> = nanos.into_iter().map(|x| x.map(|n| n.div_euclid(div))).collect();
            let arr: ArrayRef = match unit {
                TimeUnit::Millisecond => Arc::new(TimestampMillisecondArray::from(v).with_timezone_opt(tz)),
                TimeUnit::Microsecond => Arc::new(TimestampMicrosecondArray::from(v).with_timezone_opt(tz)),
                _ => Arc::new(TimestampNanosecondArray::from(v).with_timezone_opt(tz)),
            };
            arr
        }
        TypeKind::Array(element) => {
            let mut offsets = vec![0i32];
            let mut children: Vec<&Value> = Vec::new();
            let mut nulls = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    Value::Null => nulls.push(false),
                    Value::Array(items) => {
                        children.extend(items.iter());
                        nulls.push(true);
                    }
                    _ => return Err(bad(v, "ARRAY")),
                }
                offsets.push(children.len() as i32);
            }
            let child = json_to_array(&children, element)?;
            let field = Arc::new(Field::new("element", element.to_arrow(), true));
            let ty_field = match ty.to_arrow() {
                DataType::List(f) => f,
                _ => field,
            };
            Arc::new(ListArray::try_new(
                ty_field,
                OffsetBuffer::new(ScalarBuffer::from(offsets)),
                child,
                Some(nulls.into()),
            )?)
        }
        TypeKind::Map(kt, vt) => {
            let mut offsets = vec![0i32];
            let mut keys: Vec<Value> = Vec::new();
            let mut vals: Vec<&Value> = Vec::new();
            let mut nulls = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    Value::Null => nulls.push(false),
                    Value::Object(m) => {
                        for (k, x) in m {
                            keys.push(Value::String(k.clone()));
                            vals.push(x);
                        }
                        nulls.push(true);
                    }
                    Value::Array(pairs) => {
                        for p in pairs {
                            match p.as_array().map(|a| a.as_slice()) {
                                Some([k, x]) => {
                                    keys.push(k.clone());
                                    vals.push(x);
                                }
                                _ => return Err(bad(p, "MAP entry [key, value]")),
                            }
                        }
                        nulls.push(true);
                    }
                    _ => return Err(bad(v, "MAP")),
                }
                offsets.push(vals.len() as i32);
            }
            let key_refs: Vec<&Value> = keys.iter().collect();
            let k = json_to_array(&key_refs, kt)?;
            let x = json_to_array(&vals, vt)?;
            let DataType::Map(entries_field, sorted) = ty.to_arrow() else {
                unreachable!("map type maps to arrow map")
            };
            let DataType::Struct(entry_fields) = entries_field.data_type().clone() else {
                unreachable!("map entries are structs")
            };
            let entries = StructArray::try_new(entry_fields, vec![k, x], None)?;
            Arc::new(MapArray::try_new(
                entries_field,
                OffsetBuffer::new(ScalarBuffer::from(offsets)),
                entries,
                Some(nulls.into()),
                sorted,
            )?)
        }
        TypeKind::Row(fields) => {
            let mut nulls = Vec::with_capacity(values.len());
            let mut children = Vec::new();
            for f in fields {
                let vs: Vec<&Value> = values.iter().map(|v| v.get(&f.name).unwrap_or(&Value::Null)).collect();
                children.push(json_to_array(&vs, &f.data_type)?);
            }
            for v in values {
                match v {
                    Value::Null => nulls.push(false),
                    Value::Object(_) => nulls.push(true),
                    _ => return Err(bad(v, "ROW")),
                }
            }
            let DataType::Struct(arrow_fields) = ty.to_arrow() else { unreachable!("row maps to struct") };
            let arrow_fields: Fields =
                arrow_fields.iter().map(|f| Arc::new(f.as_ref().clone().with_nullable(true))).collect();
            Arc::new(StructArray::try_new(arrow_fields, children, Some(nulls.into()))?)
        }
    };
    Ok(a)
}

/// How values are spelled in JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonStyle {
    /// The CLI's jsonl: DECIMAL as a string, BYTES as hex, MAP as an object.
    Plain,
    /// What the Paimon oracle scripts print: `{"$decimal": ..}`, `{"$bytes": ..}`, MAP as `[[k, v], ..]`,
    /// zoned timestamps with `+00:00`.
    Oracle,
}

/// Converts row `row` of `array` (Paimon type `ty`) to JSON.
pub fn value_to_json(array: &dyn Array, row: usize, ty: &PType, style: JsonStyle) -> Result<Value> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    let float = |x: f64| -> Value {
        if x.is_nan() {
            if style == JsonStyle::Oracle {
                serde_json::json!({"$float": "nan"})
            } else {
                Value::String("NaN".into())
            }
        } else if x.is_infinite() {
            let s = if x > 0.0 { "inf" } else { "-inf" };
            if style == JsonStyle::Oracle {
                serde_json::json!({"$float": s})
            } else {
                Value::String(s.into())
            }
        } else {
            serde_json::Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null)
        }
    };
    Ok(match &ty.kind {
        TypeKind::Array(element) => {
            let list = array.as_list::<i32>();
            let child = list.value(row);
            Value::Array(
                (0..child.len()).map(|i| value_to_json(child.as_ref(), i, element, style)).collect::<Result<_>>()?,
            )
        }
        TypeKind::Map(kt, vt) => {
            let map = array.as_map();
            let entries = map.value(row);
            let (k, v) = (entries.column(0), entries.column(1));
            if style == JsonStyle::Oracle {
                Value::Array(
                    (0..entries.len())
                        .map(|i| {
                            Ok(Value::Array(vec![
                                value_to_json(k.as_ref(), i, kt, style)?,
                                value_to_json(v.as_ref(), i, vt, style)?,
                            ]))
                        })
                        .collect::<Result<_>>()?,
                )
            } else {
                let mut m = Map::new();
                for i in 0..entries.len() {
                    let key = match value_to_json(k.as_ref(), i, kt, style)? {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    m.insert(key, value_to_json(v.as_ref(), i, vt, style)?);
                }
                Value::Object(m)
            }
        }
        TypeKind::Row(fields) => {
            let s = array.as_struct();
            let mut m = Map::new();
            for (i, f) in fields.iter().enumerate() {
                m.insert(f.name.clone(), value_to_json(s.column(i).as_ref(), row, &f.data_type, style)?);
            }
            Value::Object(m)
        }
        _ => {
            let d = D::from_array(array, row, ty)?;
            match d {
                D::Null => Value::Null,
                D::Bool(b) => Value::Bool(b),
                D::I8(v) => v.into(),
                D::I16(v) => v.into(),
                D::I32(v) => v.into(),
                D::I64(v) => v.into(),
                D::F32(v) => float(v as f64),
                D::F64(v) => float(v),
                D::Decimal(v, _, s) => {
                    let text = format_decimal(v, s);
                    if style == JsonStyle::Oracle {
                        serde_json::json!({"$decimal": text})
                    } else {
                        Value::String(text)
                    }
                }
                D::String(s) => Value::String(s),
                D::Bytes(b) => {
                    if style == JsonStyle::Oracle {
                        serde_json::json!({"$bytes": hex_encode(&b)})
                    } else {
                        Value::String(hex_encode(&b))
                    }
                }
                D::Date(days) => Value::String(format_date(days)),
                D::Time(ms) => {
                    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
                    Value::String(if frac == 0 {
                        format!("{h:02}:{m:02}:{s:02}")
                    } else {
                        format!("{h:02}:{m:02}:{s:02}.{:06}", frac * 1000)
                    })
                }
                D::Timestamp(ms, ns) => {
                    let p = match ty.kind {
                        TypeKind::Timestamp(p) | TypeKind::TimestampLtz(p) => p,
                        _ => 6,
                    };
                    let mut text = format_timestamp(ms, ns, p);
                    if matches!(ty.kind, TypeKind::TimestampLtz(_)) && style == JsonStyle::Oracle {
                        text.push_str("+00:00");
                    }
                    Value::String(text)
                }
            }
        }
    })
}

/// One JSON object per row, keys in column order.
pub fn batch_to_json_rows(
    batch: &RecordBatch,
    fields: &[DataField],
    style: JsonStyle,
) -> Result<Vec<Map<String, Value>>> {
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let mut m = Map::new();
        for (i, f) in fields.iter().enumerate() {
            m.insert(f.name.clone(), value_to_json(batch.column(i).as_ref(), row, &f.data_type, style)?);
        }
        out.push(m);
    }
    Ok(out)
}

/// Rows in the oracles' canonical form: compact JSON, keys sorted, lines sorted.
pub fn canonical_lines(batches: &[RecordBatch], fields: &[DataField]) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for b in batches {
        for row in batch_to_json_rows(b, fields, JsonStyle::Oracle)? {
            let sorted: std::collections::BTreeMap<String, Value> = row.into_iter().collect();
            lines.push(canonical_json(&serde_json::to_value(sorted).map_err(|e| Error::Internal(e.to_string()))?));
        }
    }
    lines.sort();
    Ok(lines)
}

/// Compact JSON with object keys sorted recursively (Python's `json.dumps(sort_keys=True)`).
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", serde_json::to_string(k).expect("string"), canonical_json(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canonical_json).collect::<Vec<_>>().join(",")),
        Value::Number(n) => {
            // Python prints floats with a fractional part ("20.0"), serde_json too; integers stay integers.
            n.to_string()
        }
        other => other.to_string(),
    }
}

/// Reads a CSV file with a header into a batch of the table's columns (plus a STRING row-kind column).
pub fn read_csv(
    path: &std::path::Path,
    schema: &TableSchema,
    row_kind_column: Option<&str>,
) -> Result<Vec<RecordBatch>> {
    let file =
        std::fs::File::open(path).map_err(|e| Error::invalid(format!("cannot open `{}`: {e}", path.display())))?;
    let mut header = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(std::fs::File::open(path).map_err(|e| Error::invalid(e.to_string()))?),
        &mut header,
    )
    .map_err(|e| Error::invalid(format!("cannot read `{}`: {e}", path.display())))?;
    let mut fields = Vec::new();
    for name in header.trim_end().split(',') {
        let name = name.trim().trim_matches('"');
        if Some(name) == row_kind_column {
            fields.push(Field::new(name, DataType::Utf8, true));
        } else {
            let f = schema.field(name).ok_or_else(|| {
                Error::SchemaMismatch(format!("CSV column `{name}` of `{}` is not in the table", path.display()))
            })?;
            if !f.data_type.is_atomic() {
                return Err(Error::invalid(format!("column `{name}` has a nested type; use jsonl or parquet for it")));
            }
            let t = match f.data_type.kind {
                TypeKind::Binary(_) | TypeKind::VarBinary(_) => DataType::Utf8,
                _ => f.data_type.to_arrow(),
            };
            fields.push(Field::new(name, t, true));
        }
    }
    let csv_schema = Arc::new(Schema::new(fields));
    let reader = arrow::csv::ReaderBuilder::new(csv_schema)
        .with_header(true)
        .build(file)
        .map_err(|e| Error::invalid(format!("cannot read CSV `{}`: {e}", path.display())))?;
    let mut out = Vec::new();
    for b in reader {
        let b = b.map_err(|e| Error::invalid(format!("bad CSV in `{}`: {e}", path.display())))?;
        // BYTES columns arrive as hex text.
        let mut cols = Vec::new();
        let mut fs = Vec::new();
        for (i, f) in b.schema().fields().iter().enumerate() {
            let col = b.column(i).clone();
            match schema.field(f.name()).map(|x| &x.data_type.kind) {
                Some(TypeKind::Binary(_) | TypeKind::VarBinary(_)) => {
                    let s = col.as_string::<i32>();
                    let v: Vec<Option<Vec<u8>>> = s
                        .iter()
                        .map(|x| {
                            x.map(|h| hex::decode(h).map_err(|_| Error::invalid(format!("`{h}` is not hex bytes"))))
                                .transpose()
                        })
                        .collect::<Result<_>>()?;
                    cols.push(
                        Arc::new(BinaryArray::from(v.iter().map(|o| o.as_deref()).collect::<Vec<_>>())) as ArrayRef
                    );
                    fs.push(Field::new(f.name(), DataType::Binary, true));
                }
                _ => {
                    cols.push(col);
                    fs.push(f.as_ref().clone());
                }
            }
        }
        out.push(RecordBatch::try_new(Arc::new(Schema::new(fs)), cols)?);
    }
    Ok(out)
}

/// Reads every row group of a Parquet file.
pub fn read_parquet(path: &std::path::Path) -> Result<Vec<RecordBatch>> {
    let file =
        std::fs::File::open(path).map_err(|e| Error::invalid(format!("cannot open `{}`: {e}", path.display())))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::corrupt(path.display(), format!("not a readable parquet file: {e}")))?
        .build()
        .map_err(|e| Error::corrupt(path.display(), e))?;
    reader.map(|b| b.map_err(|e| Error::corrupt(path.display(), e))).collect()
}

/// Reads a JSON-lines file; `line N` in errors counts from 1.
pub fn read_jsonl(
    path: &std::path::Path,
    schema: &TableSchema,
    row_kind_column: Option<&str>,
) -> Result<Vec<RecordBatch>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::invalid(format!("cannot read `{}`: {e}", path.display())))?;
    let mut rows = Vec::new();
    let mut batches = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| Error::invalid(format!("`{}` line {}: not JSON: {e}", path.display(), i + 1)))?;
        rows.push(v);
        if rows.len() == 65_536 {
            batches.push(
                json_to_batch(&rows, &schema.fields, row_kind_column)
                    .map_err(|e| Error::invalid(format!("`{}`: {e}", path.display())))?,
            );
            rows.clear();
        }
    }
    if !rows.is_empty() || batches.is_empty() {
        batches.push(
            json_to_batch(&rows, &schema.fields, row_kind_column)
                .map_err(|e| Error::invalid(format!("`{}`: {e}", path.display())))?,
        );
    }
    Ok(batches)
}
