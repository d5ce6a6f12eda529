//! Schema evolution: Paimon's `SchemaChange` for columns, applied to the latest schema and published as the
//! next `schema/schema-N` (Java Paimon's `SchemaManager.commitChanges`).
//!
//! Every change of a call applies to one working copy in order; the result is validated like any schema and
//! published once, so several changes land atomically or not at all. Field ids are what data files, manifests'
//! key statistics and log records refer to, so:
//!
//! - an added column gets `highest_field_id + 1` (its nested fields the ids after it) and reads as NULL in
//!   files written before;
//! - a dropped column's id is never reused; its values stay in old files and are no longer read;
//! - a renamed column keeps its id, so old files' values are found under the old name;
//! - a widened column keeps its id and old values are cast to the new type when read.
//!
//! What is refused (each error names the column and the reason): a NOT NULL column added to an existing table
//! (Java 0.9: "cannot specify NOT NULL"), dropping or renaming a primary-key or partition column (as Java 0.9),
//! dropping the last column, changing the type of a primary-key, partition or bucket-key column (their bytes
//! are hashed and compared in manifests), any type change but a lossless widening (dyntable is stricter than
//! Java 0.9, which allows every explicit cast), making a column NOT NULL or a primary-key column nullable.
//! A column other options name (`sequence.field`, `bucket-key`, `fields.<name>.*`, ...) cannot be dropped or
//! renamed away from them: the new schema fails validation and names the option.

use crate::error::{Error, Result};
use crate::schema::{SchemaManager, TableSchema};
use crate::types::{DataField, DataType, TypeKind};

/// Where [`SchemaChange::AddColumn`] puts the new column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnPosition {
    First,
    /// Right after the named column.
    After(String),
    /// At the end (Paimon's default).
    Last,
}

/// One change to a table's columns (Java Paimon's `SchemaChange` of the same names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaChange {
    /// A new nullable column; its type's nullability must be `true`.
    AddColumn { name: String, data_type: DataType, comment: Option<String>, position: ColumnPosition },
    /// Removes a column that is neither a primary-key nor a partition column.
    DropColumn(String),
    /// Renames a column that is neither a primary-key nor a partition column; it keeps its field id.
    RenameColumn { from: String, to: String },
    /// Widens a column's type losslessly (see [`widening_allowed`]); the column keeps its nullability
    /// (the nullability of `data_type` is ignored; see [`SchemaChange::UpdateColumnNullability`]).
    UpdateColumnType { name: String, data_type: DataType },
    /// Only `nullable: true` (relaxing NOT NULL) is accepted, and not on a primary-key column.
    UpdateColumnNullability { name: String, nullable: bool },
    /// Sets (or with `None` removes) a column's comment.
    UpdateColumnComment { name: String, comment: Option<String> },
}

impl SchemaChange {
    pub fn add_column(name: impl Into<String>, data_type: DataType) -> Self {
        SchemaChange::AddColumn { name: name.into(), data_type, comment: None, position: ColumnPosition::Last }
    }
}

/// Whether values of `from` convert to `to` without loss (ignoring nullability): the type changes
/// [`SchemaChange::UpdateColumnType`] accepts. Integers widen to wider integers, to DOUBLE (and TINYINT,
/// SMALLINT to FLOAT) and to a DECIMAL with enough integer digits; FLOAT to DOUBLE; DECIMAL(p, s) to
/// DECIMAL(p', s') with s' >= s and p' - s' >= p - s; CHAR(n) and VARCHAR(n) to VARCHAR(m >= n) (STRING);
/// BINARY(n) and VARBINARY(n) to VARBINARY(m >= n) (BYTES); TIMESTAMP(p) to TIMESTAMP(p' >= p), the same
/// WITH LOCAL TIME ZONE. Complex types only "change" to themselves.
pub fn widening_allowed(from: &TypeKind, to: &TypeKind) -> bool {
    use TypeKind::*;
    fn int_digits(k: &TypeKind) -> Option<u8> {
        match k {
            TinyInt => Some(3),
            SmallInt => Some(5),
            Int => Some(10),
            BigInt => Some(19),
            _ => None,
        }
    }
    fn int_rank(k: &TypeKind) -> Option<u8> {
        match k {
            TinyInt => Some(1),
            SmallInt => Some(2),
            Int => Some(3),
            BigInt => Some(4),
            _ => None,
        }
    }
    if from == to {
        return true;
    }
    match (from, to) {
        (a, b) if int_rank(a).is_some() && int_rank(b).is_some() => int_rank(a) < int_rank(b),
        (TinyInt | SmallInt | Int, Double) | (TinyInt | SmallInt, Float) | (Float, Double) => true,
        (a, Decimal { precision, scale }) if int_digits(a).is_some() => {
            int_digits(a).is_some_and(|d| precision.saturating_sub(*scale) >= d)
        }
        (Decimal { precision: p, scale: s }, Decimal { precision: p2, scale: s2 }) => {
            s2 >= s && p2.saturating_sub(*s2) >= p.saturating_sub(*s)
        }
        (Char(n) | VarChar(n), VarChar(m)) => m >= n,
        (Binary(n) | VarBinary(n), VarBinary(m)) => m >= n,
        (Timestamp(p), Timestamp(p2)) | (TimestampLtz(p), TimestampLtz(p2)) => p2 >= p,
        _ => false,
    }
}

/// The SQL spelling of a type for messages (`VARCHAR(10)`, `ARRAY<INT>` as JSON for complex types).
fn type_name(t: &DataType) -> String {
    match t.to_json() {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Gives the fields nested in `t` fresh ids after `highest` (Java's `ReassignFieldId`), raising `highest`.
fn reassign_nested_ids(t: &mut DataType, highest: &mut i32) {
    match &mut t.kind {
        TypeKind::Row(fields) => {
            for f in fields.iter_mut() {
                *highest += 1;
                f.id = *highest;
                reassign_nested_ids(&mut f.data_type, highest);
            }
        }
        TypeKind::Array(e) => reassign_nested_ids(e, highest),
        TypeKind::Map(k, v) => {
            reassign_nested_ids(k, highest);
            reassign_nested_ids(v, highest);
        }
        _ => {}
    }
}

impl TableSchema {
    /// The schema `changes` make of this one, with the next id (not yet published: see
    /// [`SchemaManager::commit_changes`]). Fails, naming the column and the reason, on the first change that is
    /// refused or when the result is not a valid table (for instance a dropped column an option still names).
    pub fn apply_changes(&self, changes: &[SchemaChange]) -> Result<TableSchema> {
        if changes.is_empty() {
            return Err(Error::invalid("no schema change given"));
        }
        let mut next = self.clone();
        next.id = self.id + 1;
        next.time_millis = 0;
        for change in changes {
            next.apply_one(change)?;
        }
        next.validate().map_err(|e| Error::invalid(format!("the altered schema is not valid: {e}")))?;
        Ok(next)
    }

    fn column_index(&self, name: &str) -> Result<usize> {
        self.field_index(name).ok_or_else(|| Error::invalid(format!("column `{name}` does not exist in the table")))
    }

    fn is_key_column(&self, name: &str) -> Option<&'static str> {
        if self.primary_keys.iter().any(|k| k == name) {
            Some("primary key")
        } else if self.partition_keys.iter().any(|k| k == name) {
            Some("partition")
        } else {
            None
        }
    }

    fn apply_one(&mut self, change: &SchemaChange) -> Result<()> {
        match change {
            SchemaChange::AddColumn { name, data_type, comment, position } => {
                if self.field(name).is_some() {
                    return Err(Error::invalid(format!("cannot add column `{name}`: it already exists in the table")));
                }
                if name.trim().is_empty() {
                    return Err(Error::invalid("cannot add a column with an empty name"));
                }
                if !data_type.nullable {
                    return Err(Error::invalid(format!(
                        "column `{name}` cannot specify NOT NULL in the table: rows written before have no value for it"
                    )));
                }
                let index = match position {
                    ColumnPosition::First => 0,
                    ColumnPosition::Last => self.fields.len(),
                    ColumnPosition::After(other) => {
                        self.field_index(other).ok_or_else(|| {
                            Error::invalid(format!(
                            "cannot add column `{name}` after `{other}`: column `{other}` does not exist in the table"
                        ))
                        })? + 1
                    }
                };
                self.highest_field_id += 1;
                let id = self.highest_field_id;
                let mut data_type = data_type.clone();
                reassign_nested_ids(&mut data_type, &mut self.highest_field_id);
                let field = DataField { id, name: name.clone(), data_type, description: comment.clone() };
                self.fields.insert(index, field);
            }
            SchemaChange::DropColumn(name) => {
                let index = self.column_index(name)?;
                if let Some(what) = self.is_key_column(name) {
                    return Err(Error::invalid(format!("cannot drop column `{name}`: it is a {what} column")));
                }
                if self.fields.len() == 1 {
                    return Err(Error::invalid(format!(
                        "cannot drop column `{name}`: it is the last column of the table"
                    )));
                }
                self.fields.remove(index);
            }
            SchemaChange::RenameColumn { from, to } => {
                let index = self.column_index(from)?;
                if let Some(what) = self.is_key_column(from) {
                    return Err(Error::invalid(format!("cannot rename column `{from}`: it is a {what} column")));
                }
                if from != to && self.field(to).is_some() {
                    return Err(Error::invalid(format!(
                        "cannot rename column `{from}` to `{to}`: column `{to}` already exists"
                    )));
                }
                if to.trim().is_empty() {
                    return Err(Error::invalid(format!("cannot rename column `{from}` to an empty name")));
                }
                self.fields[index].name = to.clone();
            }
            SchemaChange::UpdateColumnType { name, data_type } => {
                let index = self.column_index(name)?;
                let old = self.fields[index].data_type.clone();
                let new = DataType::new(data_type.kind.clone(), old.nullable);
                if old.kind == new.kind {
                    return Ok(());
                }
                let (from_name, to_name) = (type_name(&old), type_name(&new));
                if let Some(what) = self.is_key_column(name) {
                    return Err(Error::invalid(format!(
                        "cannot change the type of column `{name}` from {from_name} to {to_name}: it is a {what} column"
                    )));
                }
                if self.options()?.bucket_key.iter().any(|k| k == name) {
                    return Err(Error::invalid(format!(
                        "cannot change the type of column `{name}` from {from_name} to {to_name}: it is a bucket-key column (rows are hashed to buckets by its bytes)"
                    )));
                }
                if !widening_allowed(&old.kind, &new.kind) {
                    return Err(Error::invalid(format!(
                        "cannot change the type of column `{name}` from {from_name} to {to_name}: only lossless widening is supported"
                    )));
                }
                self.fields[index].data_type = new;
            }
            SchemaChange::UpdateColumnNullability { name, nullable } => {
                let index = self.column_index(name)?;
                let old = self.fields[index].data_type.nullable;
                if old == *nullable {
                    return Ok(());
                }
                if !nullable {
                    return Err(Error::invalid(format!(
                        "cannot make column `{name}` NOT NULL: rows already written may hold nulls in it"
                    )));
                }
                if self.primary_keys.iter().any(|k| k == name) {
                    return Err(Error::invalid(format!(
                        "cannot make column `{name}` nullable: it is a primary key column (primary keys are NOT NULL)"
                    )));
                }
                self.fields[index].data_type.nullable = true;
            }
            SchemaChange::UpdateColumnComment { name, comment } => {
                let index = self.column_index(name)?;
                self.fields[index].description = comment.clone();
            }
        }
        Ok(())
    }
}

impl SchemaManager {
    /// Applies `changes` to the latest schema and publishes the result as the next `schema/schema-N` (a
    /// conditional create). When another process published that id first, the changes are applied again to
    /// the new latest schema (as Java's `commitChanges` loops), a few times at most. Returns the published schema.
    pub async fn commit_changes(&self, changes: &[SchemaChange]) -> Result<TableSchema> {
        const ATTEMPTS: usize = 10;
        let mut last_error = None;
        for _ in 0..ATTEMPTS {
            let latest = self.latest().await?.ok_or_else(|| Error::NotFound("the table has no schema".into()))?;
            let next = latest.apply_changes(changes)?;
            match self.commit(&next).await {
                Ok(published) => return Ok(published),
                Err(e @ Error::AlreadyExists(_)) => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "schema change lost the race for the next schema id {ATTEMPTS} times; last: {}",
            last_error.map(|e| e.to_string()).unwrap_or_default()
        )))
    }
}
