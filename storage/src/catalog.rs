//! The catalog: a warehouse on an object store (local path, `file://`, `memory://`, `s3://bucket/prefix`),
//! with databases as `<db>.db` directories and tables below them, as Paimon's filesystem catalog lays out.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::io::FileIO;
use crate::types::parse_sql_fields;
use crate::{Error, FileStoreTable, Result, TableSchema};
use object_store::path::Path;
use object_store::ObjectStore;

/// `db.table`, as users write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier {
    pub database: String,
    pub table: String,
}

impl Identifier {
    pub fn parse(text: &str) -> Result<Self> {
        let (db, t) = text
            .split_once('.')
            .ok_or_else(|| Error::invalid(format!("table name `{text}` must be `database.table`")))?;
        for part in [db, t] {
            if part.is_empty() || part.contains('/') || part.contains('.') {
                return Err(Error::invalid(format!(
                    "table name `{text}` must be `database.table` with non-empty names without '/' or '.'"
                )));
            }
        }
        Ok(Identifier { database: db.to_string(), table: t.to_string() })
    }
}

impl std::fmt::Display for Identifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

/// What a new table looks like, in the terms of the CLI and the SQL DDL.
#[derive(Debug, Clone, Default)]
pub struct TableSpec {
    /// `id BIGINT NOT NULL, name STRING, ...`
    pub schema: String,
    pub primary_key: Vec<String>,
    pub partition: Vec<String>,
    pub options: BTreeMap<String, String>,
    pub comment: Option<String>,
}

impl TableSpec {
    /// A table of `schema` (SQL column list) with these key, partition columns and options, no comment.
    pub fn new(schema: &str, primary_key: &[&str], partition: &[&str], options: &[(&str, &str)]) -> TableSpec {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        TableSpec {
            schema: schema.to_string(),
            primary_key: owned(primary_key),
            partition: owned(partition),
            options: options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            comment: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Catalog {
    io: FileIO,
    /// The local directory of a file-system warehouse (databases are real directories there).
    local_root: Option<std::path::PathBuf>,
    /// Where tables keep their embedded logs (`log.system = 'embedded'`): the warehouse itself when it is
    /// local, else a local directory given with [`Catalog::with_log_dir`].
    log_root: Option<std::path::PathBuf>,
    warehouse: String,
}

impl Catalog {
    /// Opens a warehouse. A local warehouse is created when `create` is set, else it must exist.
    pub fn open(warehouse: &str, create: bool) -> Result<Self> {
        if let Some(rest) = warehouse.strip_prefix("memory://") {
            let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
            return Ok(Catalog {
                io: FileIO::new(store, Path::from(rest)),
                local_root: None,
                log_root: None,
                warehouse: warehouse.to_string(),
            });
        }
        if warehouse.starts_with("s3://") || warehouse.starts_with("s3a://") {
            return Self::open_s3(warehouse);
        }
        if let Some((scheme, _)) = warehouse.split_once("://") {
            if scheme != "file" {
                return Err(Error::invalid(format!(
                    "warehouse `{warehouse}`: unsupported scheme `{scheme}` (use a path, file://, memory:// or s3://)"
                )));
            }
        }
        let local = warehouse.strip_prefix("file://").unwrap_or(warehouse);
        let path = std::path::PathBuf::from(local);
        if !path.exists() {
            if !create {
                return Err(Error::NotFound(format!("warehouse `{warehouse}` does not exist")));
            }
            std::fs::create_dir_all(&path)
                .map_err(|e| Error::invalid(format!("cannot create warehouse `{warehouse}`: {e}")))?;
        }
        if !path.is_dir() {
            return Err(Error::invalid(format!("warehouse `{warehouse}` is not a directory")));
        }
        let abs = std::fs::canonicalize(&path)
            .map_err(|e| Error::invalid(format!("cannot open warehouse `{warehouse}`: {e}")))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&abs)
            .map_err(|e| Error::invalid(format!("cannot open warehouse `{warehouse}`: {e}")))?;
        Ok(Catalog {
            io: FileIO::new(Arc::new(store), Path::from("")),
            local_root: Some(abs.clone()),
            log_root: Some(abs),
            warehouse: warehouse.to_string(),
        })
    }

    #[cfg(feature = "s3")]
    fn open_s3(warehouse: &str) -> Result<Self> {
        let rest = warehouse.split_once("://").map(|x| x.1).unwrap_or_default();
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::invalid(format!("warehouse `{warehouse}` names no bucket")));
        }
        // Configured the usual AWS way: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
        // AWS_REGION / AWS_DEFAULT_REGION, AWS_ALLOW_HTTP.
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
            builder = builder.with_endpoint(endpoint);
        }
        let store = builder.build().map_err(|e| Error::invalid(format!("cannot open warehouse `{warehouse}`: {e}")))?;
        Ok(Catalog {
            io: FileIO::new(Arc::new(store), Path::from(prefix)),
            local_root: None,
            log_root: None,
            warehouse: warehouse.to_string(),
        })
    }

    #[cfg(not(feature = "s3"))]
    fn open_s3(warehouse: &str) -> Result<Self> {
        Err(Error::invalid(format!(
            "warehouse `{warehouse}`: this build has no S3 support; build with `--features s3`"
        )))
    }

    /// A catalog over an existing object store (tests, embedding).
    pub fn from_io(io: FileIO) -> Self {
        Catalog { warehouse: io.root.to_string(), io, local_root: None, log_root: None }
    }

    /// Keeps tables' embedded logs under `dir` (as `<db>.db/<table>/log/`): needed for tables with
    /// `log.system = 'embedded'` in a warehouse that is not a local directory, since a log is fsync'd locally.
    pub fn with_log_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.log_root = Some(dir.into());
        self
    }

    /// The directory of a table's embedded logs, if this catalog has a place for them.
    pub fn table_log_dir(&self, ident: &Identifier) -> Option<std::path::PathBuf> {
        self.log_root
            .as_ref()
            .map(|root| root.join(format!("{}.db", ident.database)).join(&ident.table).join(crate::changelog::LOG_DIR))
    }

    /// Logs kept outside the warehouse (an object store) are uploaded to it as their segments are sealed.
    fn uploads_logs(&self) -> bool {
        self.log_root.is_some() && self.local_root.is_none()
    }

    pub fn warehouse(&self) -> &str {
        &self.warehouse
    }

    pub fn io(&self) -> &FileIO {
        &self.io
    }

    fn table_io(&self, ident: &Identifier) -> FileIO {
        self.io.child(&format!("{}.db", ident.database)).child(&ident.table)
    }

    pub async fn create_database(&self, name: &str, ignore_if_exists: bool) -> Result<()> {
        if name.is_empty() || name.contains('/') || name.contains('.') {
            return Err(Error::invalid(format!("invalid database name `{name}`")));
        }
        let exists = self.list_databases().await?.iter().any(|d| d == name);
        if exists && !ignore_if_exists {
            return Err(Error::AlreadyExists(format!("database `{name}`")));
        }
        if let Some(root) = &self.local_root {
            std::fs::create_dir_all(root.join(format!("{name}.db"))).map_err(|e| {
                Error::invalid(format!("cannot create database `{name}` in warehouse `{}`: {e}", self.warehouse))
            })?;
        }
        Ok(())
    }

    pub async fn list_databases(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .io
            .list_dirs("")
            .await?
            .into_iter()
            .filter_map(|d| d.strip_suffix(".db").map(str::to_string))
            .collect();
        if let Some(root) = &self.local_root {
            // Empty local directories are databases too, though object stores cannot see them.
            if let Ok(rd) = std::fs::read_dir(root) {
                for e in rd.flatten() {
                    if let Some(n) = e.file_name().to_str().and_then(|n| n.strip_suffix(".db")) {
                        if !out.iter().any(|o| o == n) {
                            out.push(n.to_string());
                        }
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    pub async fn list_tables(&self, database: &str) -> Result<Vec<String>> {
        let db = self.io.child(&format!("{database}.db"));
        let mut out = Vec::new();
        for t in db.list_dirs("").await? {
            if !db.child(&t).list_names("schema").await?.is_empty() {
                out.push(t);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Creates a table (and its database when missing) from a spec.
    pub async fn create_table(
        &self,
        ident: &Identifier,
        spec: &TableSpec,
        ignore_if_exists: bool,
    ) -> Result<FileStoreTable> {
        let (fields, highest) = parse_sql_fields(&spec.schema)?;
        let schema = TableSchema::new(
            fields,
            highest,
            spec.partition.clone(),
            spec.primary_key.clone(),
            spec.options.clone(),
            spec.comment.clone(),
        )?;
        self.create_table_with_schema(ident, schema, ignore_if_exists).await
    }

    pub async fn create_table_with_schema(
        &self,
        ident: &Identifier,
        mut schema: TableSchema,
        ignore_if_exists: bool,
    ) -> Result<FileStoreTable> {
        // Primary-key tables default to one fixed bucket: dyntable does not write dynamic buckets.
        if !schema.primary_keys.is_empty() && !schema.options.contains_key("bucket") {
            schema.options.insert("bucket".into(), "1".into());
        }
        schema.validate()?;
        schema.check_create()?;
        self.create_database(&ident.database, true).await?;
        if !self.table_io(ident).list_names("schema").await?.is_empty() {
            if ignore_if_exists {
                return self.get_table(ident).await;
            }
            return Err(Error::AlreadyExists(format!("table `{ident}`")));
        }
        let table = FileStoreTable::create(self.table_io(ident), ident.to_string(), schema)
            .await?
            .with_log_dir(self.table_log_dir(ident))
            .with_log_upload(self.uploads_logs());
        table.create_logs()?;
        Ok(table)
    }

    pub async fn get_table(&self, ident: &Identifier) -> Result<FileStoreTable> {
        let table = FileStoreTable::open(self.table_io(ident), ident.to_string()).await.map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound(format!("table `{ident}` in warehouse `{}`", self.warehouse)),
            other => other,
        })?;
        Ok(table.with_log_dir(self.table_log_dir(ident)).with_log_upload(self.uploads_logs()))
    }

    pub async fn drop_table(&self, ident: &Identifier, ignore_if_missing: bool) -> Result<()> {
        if self.table_io(ident).list_names("schema").await?.is_empty() {
            if ignore_if_missing {
                return Ok(());
            }
            return Err(Error::NotFound(format!("table `{ident}`")));
        }
        self.io.child(&format!("{}.db", ident.database)).delete_dir(&ident.table).await?;
        if let Some(root) = &self.local_root {
            let _ = std::fs::remove_dir_all(root.join(format!("{}.db", ident.database)).join(&ident.table));
        }
        if let Some(dir) = self.table_log_dir(ident) {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
    }
}
