//! Table schemas (`schema/schema-N` JSON files) and the derived views writers and readers need.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_schema::{Field, Schema as ArrowSchema, SchemaRef};
use bytes::Bytes;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::options::{CoreOptions, LogConfig, MergeOptions};
use crate::types::{DataField, DataType};

/// One version of a table's schema.
#[derive(Debug, Clone)]
pub struct TableSchema {
    pub id: i64,
    pub fields: Vec<DataField>,
    pub highest_field_id: i32,
    pub partition_keys: Vec<String>,
    pub primary_keys: Vec<String>,
    pub options: BTreeMap<String, String>,
    pub comment: Option<String>,
    pub time_millis: i64,
}

impl TableSchema {
    /// Builds and validates a new schema (id 0) the way Java Paimon's `SchemaManager.createTable` does.
    pub fn new(
        fields: Vec<DataField>,
        highest_field_id: i32,
        partition_keys: Vec<String>,
        primary_keys: Vec<String>,
        options: BTreeMap<String, String>,
        comment: Option<String>,
    ) -> Result<Self> {
        let mut fields = fields;
        let (mut options, mut partition_keys, mut primary_keys) = (options, partition_keys, primary_keys);
        // Keys given as table options (`'primary-key' = 'a,b'`, `'partition' = 'dt'`, as Spark and Java users
        // set them) become the schema's keys, as Java's `Schema` normalizes them.
        for (key, keys, what) in
            [("primary-key", &mut primary_keys, "primary key"), ("partition", &mut partition_keys, "partition")]
        {
            if let Some(v) = options.remove(key) {
                if !keys.is_empty() {
                    return Err(Error::InvalidOption {
                        key: key.into(),
                        value: v,
                        reason: format!("Cannot define {what} on DDL and table options at the same time."),
                    });
                }
                *keys = v.split(',').map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect();
            }
        }
        // Primary-key columns are NOT NULL, as in Java.
        for f in fields.iter_mut() {
            if primary_keys.contains(&f.name) {
                f.data_type.nullable = false;
            }
        }
        let schema = TableSchema {
            id: 0,
            fields,
            highest_field_id,
            partition_keys,
            primary_keys,
            options,
            comment,
            // Stamped by `SchemaManager::commit` when published.
            time_millis: 0,
        };
        schema.validate()?;
        CoreOptions::check_known_keys(&schema.options)?;
        schema.check_create()?;
        Ok(schema)
    }

    /// The checks of a schema dyntable creates or alters beyond [`Self::validate`] (which also runs on schemas
    /// read from disk): options dyntable refuses for these keys (see [`CoreOptions::check_create`]).
    pub fn check_create(&self) -> Result<()> {
        CoreOptions::check_create(
            &self.options,
            !self.primary_keys.is_empty(),
            &self.partition_keys,
            LogConfig::from_options(&self.options)?.embedded,
        )
    }

    /// Checks the rules a table must satisfy (also applied to schemas read from disk).
    /// The column defaults its options declare (`fields.<f>.default-value`, [`crate::defaults`]).
    pub fn default_values(&self) -> Result<crate::defaults::DefaultValues> {
        crate::defaults::DefaultValues::parse(&self.options, &self.fields, &self.primary_keys, &self.partition_keys)
    }

    pub fn validate(&self) -> Result<()> {
        self.default_values()?;
        let mut seen = std::collections::HashSet::new();
        for f in &self.fields {
            if !seen.insert(f.name.as_str()) {
                return Err(Error::invalid(format!("duplicate column `{}`", f.name)));
            }
            if f.name.starts_with("_KEY_") || f.name == "_SEQUENCE_NUMBER" || f.name == "_VALUE_KIND" {
                return Err(Error::invalid(format!("column name `{}` is reserved by the Paimon format", f.name)));
            }
        }
        for (what, keys) in [("partition key", &self.partition_keys), ("primary key", &self.primary_keys)] {
            for k in keys {
                if self.field(k).is_none() {
                    return Err(Error::invalid(format!("{what} `{k}` is not a column")));
                }
            }
        }
        for k in self.partition_keys.iter().chain(&self.primary_keys) {
            let f = self.field(k).expect("checked above");
            if !f.data_type.is_atomic() {
                return Err(Error::invalid(format!(
                    "key column `{k}` must have an atomic type, not {}",
                    f.data_type.to_json()
                )));
            }
        }
        let options = CoreOptions::parse(&self.options)?;
        options.check_for_table(!self.primary_keys.is_empty())?;
        dyntable_compaction::CompactionOptions::from_table_options(&self.options)
            .map_err(|e| Error::invalid(e.to_string()))?;
        LogConfig::from_options(&self.options)?;
        if !self.primary_keys.is_empty() {
            MergeOptions::parse(&options, &self.fields, &self.primary_keys)?;
            if options.bucket > 0 {
                for p in &self.partition_keys {
                    if !self.primary_keys.contains(p) {
                        return Err(Error::invalid(format!(
                            "primary key {:?} must contain the partition key `{p}` on a fixed-bucket table (a cross-partition update needs bucket = -1)",
                            self.primary_keys
                        )));
                    }
                }
            }
            if self.trimmed_primary_keys().is_empty() {
                return Err(Error::invalid("the primary key must contain a column that is not a partition key"));
            }
        }
        for k in &options.bucket_key {
            if self.field(k).is_none() {
                return Err(Error::invalid(format!("bucket-key `{k}` is not a column")));
            }
            if !self.primary_keys.is_empty() && !self.trimmed_primary_keys().contains(k) {
                return Err(Error::invalid(format!(
                    "bucket-key `{k}` must be part of the primary key (without partition keys)"
                )));
            }
        }
        for (opt, col) in [("sequence.field", &options.sequence_field), ("rowkind.field", &options.rowkind_field)] {
            if let Some(c) = col {
                for part in c.split(',') {
                    if self.field(part.trim()).is_none() {
                        return Err(Error::InvalidOption {
                            key: opt.into(),
                            value: c.clone(),
                            reason: "names a column that does not exist".into(),
                        });
                    }
                }
            }
        }
        if let Some(c) = &options.rowkind_field {
            let f = self.field(c).expect("checked");
            if !matches!(f.data_type.kind, crate::types::TypeKind::VarChar(_) | crate::types::TypeKind::Char(_)) {
                return Err(Error::InvalidOption {
                    key: "rowkind.field".into(),
                    value: c.clone(),
                    reason: "must name a STRING column".into(),
                });
            }
        }
        Ok(())
    }

    pub fn options(&self) -> Result<CoreOptions> {
        CoreOptions::parse(&self.options)
    }

    pub fn field(&self, name: &str) -> Option<&DataField> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    pub fn field_by_id(&self, id: i32) -> Option<&DataField> {
        self.fields.iter().find(|f| f.id == id)
    }

    /// The primary key without the partition keys: what `_KEY_*` columns and min/max keys hold.
    pub fn trimmed_primary_keys(&self) -> Vec<String> {
        let trimmed: Vec<String> =
            self.primary_keys.iter().filter(|k| !self.partition_keys.contains(k)).cloned().collect();
        if trimmed.is_empty() {
            self.primary_keys.clone()
        } else {
            trimmed
        }
    }

    /// Columns hashed to choose a bucket.
    pub fn bucket_keys(&self) -> Result<Vec<String>> {
        let o = self.options()?;
        if !o.bucket_key.is_empty() {
            return Ok(o.bucket_key);
        }
        if !self.primary_keys.is_empty() {
            return Ok(self.trimmed_primary_keys());
        }
        Ok(Vec::new())
    }

    pub fn fields_named(&self, names: &[String]) -> Vec<DataField> {
        names.iter().filter_map(|n| self.field(n).cloned()).collect()
    }

    pub fn partition_types(&self) -> Vec<DataType> {
        self.fields_named(&self.partition_keys).into_iter().map(|f| f.data_type).collect()
    }

    pub fn key_fields(&self) -> Vec<DataField> {
        self.fields_named(&self.trimmed_primary_keys())
    }

    /// The Arrow schema of the table's rows.
    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::new(ArrowSchema::new(self.fields.iter().map(DataField::to_arrow).collect::<Vec<Field>>()))
    }

    pub fn to_json(&self) -> Value {
        json!({
            "version": 3,
            "id": self.id,
            "fields": self.fields.iter().map(DataField::to_json).collect::<Vec<_>>(),
            "highestFieldId": self.highest_field_id,
            "partitionKeys": self.partition_keys,
            "primaryKeys": self.primary_keys,
            "options": self.options,
            "comment": self.comment,
            "timeMillis": self.time_millis,
        })
    }

    pub fn from_json(bytes: &[u8], path: &str) -> Result<Self> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(path, format!("schema is not valid json: {e}")))?;
        let bad = |what: &str| Error::corrupt(path, format!("schema field `{what}` is missing or malformed"));
        let strings = |key: &str| -> Result<Vec<String>> {
            match v.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) => {
                    a.iter().map(|s| s.as_str().map(str::to_string).ok_or_else(|| bad(key))).collect()
                }
                _ => Err(bad(key)),
            }
        };
        let fields = v
            .get("fields")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("fields"))?
            .iter()
            .map(DataField::from_json)
            .collect::<Result<Vec<_>>>()
            .map_err(|e| Error::corrupt(path, e))?;
        let options = match v.get("options") {
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        };
        let schema = TableSchema {
            id: v.get("id").and_then(Value::as_i64).ok_or_else(|| bad("id"))?,
            highest_field_id: v
                .get("highestFieldId")
                .and_then(Value::as_i64)
                .map(|x| x as i32)
                .unwrap_or_else(|| fields.iter().map(|f| f.id).max().unwrap_or(-1)),
            fields,
            partition_keys: strings("partitionKeys")?,
            primary_keys: strings("primaryKeys")?,
            options,
            comment: v.get("comment").and_then(Value::as_str).map(str::to_string),
            time_millis: v.get("timeMillis").and_then(Value::as_i64).unwrap_or(0),
        };
        Ok(schema)
    }
}

/// Reads and writes `schema/schema-N` under a table directory.
#[derive(Clone, Debug)]
pub struct SchemaManager {
    io: FileIO,
}

impl SchemaManager {
    pub fn new(table_io: FileIO) -> Self {
        SchemaManager { io: table_io }
    }

    pub async fn list_ids(&self) -> Result<Vec<i64>> {
        let mut ids: Vec<i64> = self
            .io
            .list_names("schema")
            .await?
            .iter()
            .filter_map(|n| n.strip_prefix("schema-")?.parse().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    pub async fn latest(&self) -> Result<Option<TableSchema>> {
        match self.list_ids().await?.last() {
            Some(id) => Ok(Some(self.schema(*id).await?)),
            None => Ok(None),
        }
    }

    pub async fn schema(&self, id: i64) -> Result<TableSchema> {
        let rel = format!("schema/schema-{id}");
        let bytes = self
            .io
            .read_opt(&rel)
            .await?
            .ok_or_else(|| Error::NotFound(format!("schema {id} (path `{}`)", self.io.path(&rel))))?;
        TableSchema::from_json(&bytes, self.io.path(&rel).as_ref())
    }

    /// Publishes a schema version; fails if that id already exists.
    /// Its `time_millis` is the clock's reading at publication; the published schema is returned.
    pub async fn commit(&self, schema: &TableSchema) -> Result<TableSchema> {
        let mut schema = schema.clone();
        schema.time_millis = self.io.seams().now_millis();
        let rel = format!("schema/schema-{}", schema.id);
        let body = serde_json::to_vec_pretty(&schema.to_json()).map_err(|e| Error::Internal(e.to_string()))?;
        if !self.io.create(&rel, Bytes::from(body)).await? {
            return Err(Error::AlreadyExists(format!("schema {} at `{}`", schema.id, self.io.path(&rel))));
        }
        Ok(schema)
    }
}
