//! A table handle over the format pieces: open/create, write + commit, plan + read, tags.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::TryStreamExt;

use crate::commit::{OverwriteScope, TableCommit};
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::manifest::{ManifestEntry, ManifestStore};
use crate::predicate::Predicate;
use crate::read::{BatchStream, TableRead};
use crate::scan::{live_entries, max_sequence_numbers, plan, resolve_snapshot, ScanFrom, ScanPlan};
use crate::schema::{SchemaManager, TableSchema};
use crate::snapshot::{Snapshot, SnapshotManager};
use crate::write::TableWrite;

#[derive(Clone, Debug)]
pub struct FileStoreTable {
    io: FileIO,
    name: String,
    schema: Arc<TableSchema>,
}

impl FileStoreTable {
    /// Opens the table rooted at `io` with its latest schema.
    pub async fn open(io: FileIO, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let schema =
            SchemaManager::new(io.clone()).latest().await?.ok_or_else(|| Error::NotFound(format!("table `{name}` (no schema under `{}`)", io.root)))?;
        schema.validate().map_err(|e| Error::corrupt(io.path(&format!("schema/schema-{}", schema.id)), e))?;
        Ok(FileStoreTable { io, name, schema: Arc::new(schema) })
    }

    /// Creates the table by publishing `schema/schema-0`; fails if it exists.
    pub async fn create(io: FileIO, name: impl Into<String>, schema: TableSchema) -> Result<Self> {
        let name = name.into();
        schema.validate()?;
        SchemaManager::new(io.clone()).commit(&schema).await.map_err(|e| match e {
            Error::AlreadyExists(_) => Error::AlreadyExists(format!("table `{name}`")),
            other => other,
        })?;
        Ok(FileStoreTable { io, name, schema: Arc::new(schema) })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn schema(&self) -> &Arc<TableSchema> {
        &self.schema
    }
    pub fn io(&self) -> &FileIO {
        &self.io
    }
    pub fn snapshot_manager(&self) -> SnapshotManager {
        SnapshotManager::new(self.io.clone())
    }
    pub fn manifest_store(&self) -> ManifestStore {
        ManifestStore::new(self.io.clone())
    }

    /// A writer continuing the sequence numbers of the latest snapshot.
    pub async fn new_write(&self) -> Result<TableWrite> {
        let entries = match self.snapshot_manager().latest().await? {
            Some(s) => live_entries(&self.manifest_store(), &s).await?,
            None => Vec::new(),
        };
        TableWrite::new(self.io.clone(), self.schema.clone(), max_sequence_numbers(&entries))
    }

    pub fn new_commit(&self, commit_user: impl Into<String>) -> Result<TableCommit> {
        TableCommit::new(self.io.clone(), self.schema.clone(), commit_user.into())
    }

    /// A writer and committer pair with its own commit user, numbering its commits 1, 2, 3...
    pub async fn writer(&self) -> Result<TableWriter> {
        Ok(TableWriter { write: self.new_write().await?, commit: self.new_commit(uuid::Uuid::new_v4().to_string())?, next_identifier: 1 })
    }

    pub fn new_read(&self, projection: Option<&[String]>, filter: Option<Predicate>) -> Result<TableRead> {
        TableRead::new(self.io.clone(), self.schema.clone(), projection, filter)
    }

    pub async fn resolve(&self, from: &ScanFrom) -> Result<Option<Snapshot>> {
        resolve_snapshot(&self.snapshot_manager(), from).await
    }

    pub async fn plan(&self, from: &ScanFrom, filter: Option<&Predicate>) -> Result<ScanPlan> {
        if let Some(f) = filter {
            f.validate(&self.schema)?;
        }
        let snapshot = self.resolve(from).await?;
        plan(&self.manifest_store(), &self.schema, snapshot, filter).await
    }

    /// Live manifest entries of a snapshot (all files, unpruned).
    pub async fn files(&self, from: &ScanFrom) -> Result<Vec<ManifestEntry>> {
        match self.resolve(from).await? {
            Some(s) => live_entries(&self.manifest_store(), &s).await,
            None => Ok(Vec::new()),
        }
    }

    /// Plans and streams a scan.
    pub async fn scan(&self, from: &ScanFrom, projection: Option<&[String]>, filter: Option<Predicate>) -> Result<(SchemaRef, BatchStream)> {
        let read = self.new_read(projection, filter.clone())?;
        let plan = self.plan(from, filter.as_ref()).await?;
        Ok((read.output_schema(), read.read_splits(plan.splits)))
    }

    /// Scans into memory.
    pub async fn scan_collect(&self, from: &ScanFrom, projection: Option<&[String]>, filter: Option<Predicate>) -> Result<Vec<RecordBatch>> {
        let (_, s) = self.scan(from, projection, filter).await?;
        s.try_collect().await
    }

    pub async fn create_tag(&self, name: &str, snapshot_id: Option<i64>) -> Result<()> {
        let sm = self.snapshot_manager();
        let s = match snapshot_id {
            Some(id) => resolve_snapshot(&sm, &ScanFrom::Snapshot(id)).await?.expect("snapshot by id resolves or errors"),
            None => sm.latest().await?.ok_or_else(|| Error::invalid(format!("table `{}` has no snapshot to tag", self.name)))?,
        };
        sm.create_tag(name, &s).await
    }

    pub async fn delete_tag(&self, name: &str) -> Result<()> {
        self.snapshot_manager().delete_tag(name).await
    }
}

/// Writes and commits with one commit user; each `commit` publishes one snapshot.
pub struct TableWriter {
    write: TableWrite,
    commit: TableCommit,
    next_identifier: i64,
}

impl TableWriter {
    pub fn with_row_kind_column(mut self, column: Option<String>) -> Self {
        self.write = self.write.with_row_kind_column(column);
        self
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write.write(batch).await
    }

    pub fn buffered_bytes(&self) -> usize {
        self.write.buffered_bytes()
    }

    /// Commits everything written since the last commit; `None` when nothing was written.
    pub async fn commit(&mut self) -> Result<Option<i64>> {
        let messages = self.write.prepare_commit().await?;
        let identifier = self.next_identifier;
        self.next_identifier += 1;
        Ok(self.commit.commit(&messages, identifier).await?.last().copied())
    }

    /// Replaces the rows in `scope` with what was written since the last commit.
    pub async fn overwrite(&mut self, scope: OverwriteScope) -> Result<i64> {
        let messages = self.write.prepare_commit().await?;
        let identifier = self.next_identifier;
        self.next_identifier += 1;
        self.commit.overwrite(&messages, scope, identifier).await
    }

    pub fn commit_user(&self) -> &str {
        self.commit.commit_user()
    }
}
