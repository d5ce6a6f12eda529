//! The physical layout of data files: primary-key files hold `_KEY_*`, `_SEQUENCE_NUMBER`, `_VALUE_KIND`,
//! then the table columns; append files hold the table columns. Also where a bucket's files live.

use std::sync::Arc;

use arrow_schema::{DataType as ArrowType, Field, Schema as ArrowSchema, SchemaRef};

use crate::datum::Datum;
use crate::schema::TableSchema;
use crate::types::DataField;

pub const KEY_PREFIX: &str = "_KEY_";
pub const SEQUENCE_NUMBER: &str = "_SEQUENCE_NUMBER";
pub const VALUE_KIND: &str = "_VALUE_KIND";
pub const KEY_FIELD_ID_START: i32 = i32::MAX / 2;
pub const SEQUENCE_NUMBER_FIELD_ID: i32 = i32::MAX - 1;
pub const VALUE_KIND_FIELD_ID: i32 = i32::MAX - 2;

/// The Arrow field of `_KEY_<name>` for a key field.
pub fn key_field(f: &DataField) -> Field {
    Field::new(format!("{KEY_PREFIX}{}", f.name), f.data_type.to_arrow(), false)
        .with_metadata([("PARQUET:field_id".to_string(), (KEY_FIELD_ID_START + f.id).to_string())].into())
}

pub fn sequence_field() -> Field {
    Field::new(SEQUENCE_NUMBER, ArrowType::Int64, false)
        .with_metadata([("PARQUET:field_id".to_string(), SEQUENCE_NUMBER_FIELD_ID.to_string())].into())
}

pub fn kind_field() -> Field {
    Field::new(VALUE_KIND, ArrowType::Int8, false)
        .with_metadata([("PARQUET:field_id".to_string(), VALUE_KIND_FIELD_ID.to_string())].into())
}

/// The physical schema of the table's data files.
pub fn file_schema(schema: &TableSchema) -> SchemaRef {
    if schema.primary_keys.is_empty() {
        return schema.arrow_schema();
    }
    let mut fields: Vec<Field> = schema.key_fields().iter().map(key_field).collect();
    fields.push(sequence_field());
    fields.push(kind_field());
    fields.extend(schema.fields.iter().map(DataField::to_arrow));
    Arc::new(ArrowSchema::new(fields))
}

/// The relative directory of a bucket: `k1=v1/k2=v2/bucket-N`.
pub fn bucket_dir(schema: &TableSchema, partition: &[Datum], bucket: i32, default_name: &str) -> String {
    let mut parts: Vec<String> = schema
        .partition_keys
        .iter()
        .zip(partition)
        .map(|(k, v)| {
            format!(
                "{}={}",
                escape_path_name(k),
                if v.is_null() { default_name.to_string() } else { escape_path_name(&v.to_partition_string()) }
            )
        })
        .collect();
    parts.push(format!("bucket-{bucket}"));
    parts.join("/")
}

/// Hive's path escaping, as Paimon's `PartitionPathUtils.escapePathName`.
pub fn escape_path_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let needs = (c as u32) < 0x20
            || matches!(
                c,
                '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '\x7f' | '{' | '[' | ']' | '^'
            );
        if needs {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Partition values with path-special characters are escaped the way Hive and Paimon do.
    #[test]
    fn escapes_partition_paths() {
        assert_eq!(escape_path_name("a/b=c:d"), "a%2Fb%3Dc%3Ad");
        assert_eq!(escape_path_name("2024-01-01"), "2024-01-01");
    }
}
