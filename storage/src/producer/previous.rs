//! Where the `lookup` producer finds the committed merged rows of keys its state does not know.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute;
use async_trait::async_trait;
use futures::TryStreamExt;

use crate::bucket::BucketKey;
use crate::datafile::file_schema;
use crate::datum::Datum;
use crate::error::Result;
use crate::io::FileIO;
use crate::manifest::ManifestStore;
use crate::read::TableRead;
use crate::scan::{live_entries, DataSplit};
use crate::schema::TableSchema;
use crate::snapshot::SnapshotManager;

/// What [`PreviousRows`] found: merged rows in the key-value layout, retractions included.
pub enum Previous {
    /// Every committed row of the bucket: a key without a row here has none (the producer then knows every
    /// key of the bucket and looks nothing up again while it keeps its state).
    Bucket(RecordBatch),
    /// Per requested key, its row in the batch or `None` when the bucket has no version of it.
    Keys(RecordBatch, Vec<Option<usize>>),
}

/// Previous merged rows of keys in a bucket's committed LSM.
#[async_trait]
pub trait PreviousRows: Send + Sync {
    /// The merged rows of `keys` (the trimmed primary-key columns) in the bucket's latest committed state.
    async fn previous(&mut self, bucket: &BucketKey, partition: &[Datum], keys: &[ArrayRef]) -> Result<Previous>;

    /// Forgets what was read (the writer committed: the committed state changed).
    fn invalidate(&mut self);
}

/// [`PreviousRows`] by merge-on-read: reads the whole bucket of the latest snapshot through
/// [`TableRead::merge_runs`] (retractions kept), once per bucket while the producer keeps its state.
pub struct MergeReadPreviousRows {
    schema: Arc<TableSchema>,
    read: TableRead,
    snapshots: SnapshotManager,
    manifests: ManifestStore,
}

impl MergeReadPreviousRows {
    pub fn new(io: FileIO, schema: Arc<TableSchema>) -> Result<Self> {
        let read = TableRead::new(io.clone(), schema.clone(), None, None)?;
        Ok(MergeReadPreviousRows {
            read,
            snapshots: SnapshotManager::new(io.clone()),
            manifests: ManifestStore::new(io),
            schema,
        })
    }
}

#[async_trait]
impl PreviousRows for MergeReadPreviousRows {
    async fn previous(&mut self, bucket: &BucketKey, partition: &[Datum], _keys: &[ArrayRef]) -> Result<Previous> {
        let target = file_schema(&self.schema);
        let empty = || Previous::Bucket(RecordBatch::new_empty(target.clone()));
        let Some(latest) = self.snapshots.latest().await? else { return Ok(empty()) };
        let entries = live_entries(&self.manifests, &latest).await?;
        let in_bucket: Vec<_> =
            entries.iter().filter(|e| e.partition == bucket.partition && e.bucket == bucket.bucket).collect();
        let Some(first) = in_bucket.first() else { return Ok(empty()) };
        let split = DataSplit {
            partition: partition.to_vec(),
            partition_bytes: bucket.partition.clone(),
            bucket: bucket.bucket,
            total_buckets: first.total_buckets,
            files: in_bucket.iter().map(|e| e.file.clone()).collect(),
        };
        let runs = self.read.sorted_runs(&split.files)?;
        let stream = self.read.merge_runs(split, runs, self.read.full_columns(), true)?;
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        let batches = batches
            .into_iter()
            .map(|b| RecordBatch::try_new(target.clone(), b.columns().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Previous::Bucket(compute::concat_batches(&target, &batches)?))
    }

    fn invalidate(&mut self) {}
}
