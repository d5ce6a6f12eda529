//! Column default values (`fields.<f>.default-value`, Paimon's): a column's nulls read as its default, as Java
//! Paimon 0.9's `DefaultValueAssigner` reads them (checked against it: the files keep the nulls, so a changed
//! default applies to every null, and an INSERT that leaves the column out writes a null that reads so).
//! Primary-key and partition columns take none. A filter on a column with a default cannot prune files, pages or
//! row groups by their statistics (a null there reads as the default), so it is left out of pruning
//! ([`crate::predicate::Predicate::without_columns`]) and applied to the rows after they are filled.
//!
//! Layering: below [`crate::schema`] (which parses a table's defaults with it), [`crate::read`] and
//! [`crate::lookup`]; needs only the types.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, Scalar};
use arrow::compute;

use std::collections::BTreeMap;

use crate::datum::Datum;
use crate::error::{Error, Result};
use crate::types::{DataField, DataType, TypeKind};

/// The option key of column `name`'s default value.
pub fn option_key(name: &str) -> String {
    format!("fields.{name}.default-value")
}

/// A table's column defaults, parsed and checked against its schema.
#[derive(Debug, Clone, Default)]
pub struct DefaultValues {
    /// (column, one-element array of the default, in the column's Arrow type).
    columns: Vec<(String, ArrayRef)>,
}

impl DefaultValues {
    /// The defaults `options` declare for a table with columns `fields`, primary key `primary_keys` and
    /// partition `partition_keys` (see [`crate::schema::TableSchema::default_values`]); an error names the option
    /// when a default names an unknown, primary-key or partition column, or does not parse as the column's type.
    pub fn parse(
        options: &BTreeMap<String, String>,
        fields: &[DataField],
        primary_keys: &[String],
        partition_keys: &[String],
    ) -> Result<DefaultValues> {
        let mut columns = Vec::new();
        for (k, v) in options {
            let Some(name) = k.strip_prefix("fields.").and_then(|r| r.strip_suffix(".default-value")) else {
                continue;
            };
            let invalid = |reason: String| Error::InvalidOption { key: k.clone(), value: v.clone(), reason };
            let field = fields
                .iter()
                .find(|f| f.name == name)
                .ok_or_else(|| invalid(format!("names unknown column `{name}`")))?;
            if primary_keys.iter().any(|p| p == name) || partition_keys.iter().any(|p| p == name) {
                return Err(invalid(format!(
                    "`{name}` is a primary-key or partition column, which cannot have a default value"
                )));
            }
            let datum =
                parse(v, &field.data_type).map_err(|e| invalid(format!("not a {}: {e}", field.data_type.to_json())))?;
            columns.push((name.to_string(), datum.to_array(&field.data_type)?));
        }
        Ok(DefaultValues { columns })
    }

    /// The columns that have a default.
    pub fn columns(&self) -> Vec<&str> {
        self.columns.iter().map(|(n, _)| n.as_str()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// `batch` with the nulls of its columns that have defaults replaced by them.
    pub fn fill(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        if self.columns.is_empty() {
            return Ok(batch.clone());
        }
        let schema = batch.schema();
        let mut columns = batch.columns().to_vec();
        let mut changed = false;
        for (name, default) in &self.columns {
            let Ok(i) = schema.index_of(name) else { continue };
            let col = &columns[i];
            if col.null_count() == 0 {
                continue;
            }
            let default = Scalar::new(arrow::compute::cast(default, col.data_type())?);
            columns[i] = compute::kernels::zip::zip(&compute::is_not_null(col)?, col, &default)?;
            changed = true;
        }
        if !changed {
            return Ok(batch.clone());
        }
        Ok(RecordBatch::try_new_with_options(
            schema,
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )?)
    }
}

/// A default value's text as a value of type `ty`.
fn parse(text: &str, ty: &DataType) -> Result<Datum> {
    let t = text.trim();
    match ty.kind {
        TypeKind::TinyInt | TypeKind::SmallInt | TypeKind::Int | TypeKind::BigInt => {
            Datum::I64(t.parse().map_err(|_| Error::invalid(format!("`{t}` is not an integer")))?).coerce_to(ty)
        }
        TypeKind::Float | TypeKind::Double => {
            Datum::F64(t.parse().map_err(|_| Error::invalid(format!("`{t}` is not a number")))?).coerce_to(ty)
        }
        TypeKind::Boolean => match t.to_ascii_lowercase().as_str() {
            "true" => Ok(Datum::Bool(true)),
            "false" => Ok(Datum::Bool(false)),
            _ => Err(Error::invalid(format!("`{t}` is not true or false"))),
        },
        TypeKind::Char(_) | TypeKind::VarChar(_) => Ok(Datum::String(text.to_string())),
        _ => Datum::String(t.to_string()).coerce_to(ty),
    }
}

/// Shared handle (the reader clones it into its streams).
pub type SharedDefaults = Arc<DefaultValues>;
