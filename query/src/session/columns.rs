//! Query output as table columns: the casts SQL assignment allows, static partition values, the row-kind column
//! of DELETE / UPDATE; and column types as users write them.

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, RecordBatch, StringArray};
use arrow::compute::{self, CastOptions};
use arrow::datatypes::{DataType as ArrowType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use dyntable_storage::types::TypeKind;
use dyntable_storage::{DataField, DataType, TableSchema};

use crate::error::plan_err;

/// The column that carries row kinds from the session to the table writer (not stored).
pub(super) const ROW_KIND_COLUMN: &str = "__dyntable_rowkind";

pub(super) fn column_names(schema: &TableSchema) -> String {
    schema.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// A type as users write it, without its nullability: `BIGINT`, `DECIMAL(10, 2)`, `ARRAY<STRING>`,
/// `MAP<STRING, INT NOT NULL>`, `ROW<a INT, b STRING>` (nested types keep theirs).
pub fn type_text(t: &DataType) -> String {
    let full = |t: &DataType| if t.nullable { type_text(t) } else { format!("{} NOT NULL", type_text(t)) };
    match &t.kind {
        TypeKind::Array(e) => format!("ARRAY<{}>", full(e)),
        TypeKind::Map(k, v) => format!("MAP<{}, {}>", full(k), full(v)),
        TypeKind::Row(fields) => format!(
            "ROW<{}>",
            fields.iter().map(|f| format!("`{}` {}", f.name, full(&f.data_type))).collect::<Vec<_>>().join(", ")
        ),
        _ => match t.not_null().to_json() {
            serde_json::Value::String(s) => s.trim_end_matches(" NOT NULL").to_string(),
            other => other.to_string(),
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Null,
    Bool,
    Integer,
    Decimal,
    Float,
    String,
    Binary,
    Date,
    Time,
    Timestamp,
    Other,
}

fn family(t: &ArrowType) -> Family {
    use ArrowType::*;
    match t {
        Null => Family::Null,
        Boolean => Family::Bool,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => Family::Integer,
        Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => Family::Decimal,
        Float16 | Float32 | Float64 => Family::Float,
        Utf8 | LargeUtf8 | Utf8View => Family::String,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Family::Binary,
        Date32 | Date64 => Family::Date,
        Time32(_) | Time64(_) => Family::Time,
        Timestamp(..) => Family::Timestamp,
        Dictionary(_, v) => family(v),
        _ => Family::Other,
    }
}

/// Casts a value column to a table column's type when SQL assignment allows it: numbers widen (no
/// float or decimal into an integer), strings into string, date, time and timestamp columns, NULL
/// anywhere. Overflow and unparsable text are errors, never silently NULL.
pub(super) fn cast_to_column(array: &ArrayRef, field: &DataField, what: &str) -> Result<ArrayRef> {
    let want = field.data_type.to_arrow();
    if array.data_type() == &want {
        return Ok(array.clone());
    }
    let (from, to) = (family(array.data_type()), family(&want));
    use Family::*;
    let allowed = match (from, to) {
        (Null, _) => true,
        (Integer, Integer | Decimal | Float) | (Decimal, Decimal | Float) | (Float, Float | Decimal) => true,
        (String, String | Date | Time | Timestamp) => true,
        (Date, Date | Timestamp) | (Timestamp, Timestamp | Date) => true,
        (a, b) => a == b,
    };
    if !allowed {
        return Err(plan_err(format!(
            "{what}: type mismatch for column `{}`: it is {}, the value is {}",
            field.name,
            type_text(&field.data_type),
            array.data_type()
        )));
    }
    let opts = CastOptions { safe: false, ..Default::default() };
    compute::cast_with_options(array, &want, &opts).map_err(|e| {
        plan_err(format!(
            "{what}: cannot store a value of type {} in column `{}` ({}): {e}",
            array.data_type(),
            field.name,
            type_text(&field.data_type)
        ))
    })
}

/// Builds a batch of the table's columns from query output: `target[i]` takes column i, `statics` are
/// constants (static partition values), other columns are NULL.
pub(super) fn conform(
    schema: &TableSchema,
    target: &[String],
    statics: &[(String, ArrayRef)],
    batch: &RecordBatch,
    what: &str,
) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields.len());
    for f in &schema.fields {
        let col = if let Some(i) = target.iter().position(|t| *t == f.name) {
            cast_to_column(batch.column(i), f, what)?
        } else if let Some((_, a)) = statics.iter().find(|(k, _)| *k == f.name) {
            ScalarValue::try_from_array(a.as_ref(), 0)?.to_array_of_size(n)?
        } else {
            // Left out: null, which reads as the column's default when it has one (`fields.<f>.default-value`,
            // filled when read, as Java Paimon 0.9 does, so a changed default applies to it too).
            new_null_array(&f.data_type.to_arrow(), n)
        };
        if !f.data_type.nullable && col.null_count() > 0 {
            return Err(plan_err(format!("{what}: column `{}` is NOT NULL but would get NULL", f.name)));
        }
        columns.push(col);
    }
    let fields: Vec<Field> = schema.fields.iter().map(|f| f.to_arrow().with_nullable(true)).collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

pub(super) fn with_row_kind(batch: &RecordBatch, kind: &str) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(ROW_KIND_COLUMN, ArrowType::Utf8, false));
    let mut cols = batch.columns().to_vec();
    cols.push(Arc::new(StringArray::from(vec![kind; batch.num_rows()])));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}
