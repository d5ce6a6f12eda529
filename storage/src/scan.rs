//! Planning a batch scan: choosing the snapshot (latest, by id, by time, by tag), reading its manifests,
//! merging ADD/DELETE entries into the live file set, and pruning partitions and files with a predicate.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::binary_row::deserialize_row;
use crate::bucket::BucketKey;
use crate::datum::Datum;
use crate::error::{Error, Result};
use crate::manifest::{DataFileMeta, FileIdentifier, FileKind, ManifestEntry, ManifestFileMeta, ManifestStore};
use crate::predicate::Predicate;
use crate::schema::TableSchema;
use crate::snapshot::{Snapshot, SnapshotManager};
use crate::stats::{from_simple_stats, ColStats};

/// Which snapshot a scan reads.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanFrom {
    Latest,
    Snapshot(i64),
    /// The latest snapshot committed at or before this epoch-millis time.
    Timestamp(i64),
    Tag(String),
}

/// The live files of one (partition, bucket).
#[derive(Debug, Clone)]
pub struct DataSplit {
    pub partition: Vec<Datum>,
    pub partition_bytes: Vec<u8>,
    pub bucket: i32,
    pub total_buckets: i32,
    pub files: Vec<DataFileMeta>,
}

impl DataSplit {
    /// The (serialized partition, bucket) this split covers.
    pub fn bucket_key(&self) -> BucketKey {
        BucketKey::new(self.partition_bytes.clone(), self.bucket)
    }
}

/// How much a plan pruned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneStats {
    pub manifests_total: usize,
    pub manifests_pruned: usize,
    pub files_total: usize,
    pub files_pruned: usize,
}

#[derive(Debug, Clone)]
pub struct ScanPlan {
    pub snapshot: Option<Snapshot>,
    pub splits: Vec<DataSplit>,
    pub prune: PruneStats,
}

/// Resolves `from` to a snapshot; `Ok(None)` only for `Latest` on an empty table.
pub async fn resolve_snapshot(snapshots: &SnapshotManager, from: &ScanFrom) -> Result<Option<Snapshot>> {
    match from {
        ScanFrom::Latest => snapshots.latest().await,
        ScanFrom::Snapshot(id) => {
            let earliest = snapshots.earliest_id().await?;
            let latest = snapshots.latest_id().await?;
            match (earliest, latest) {
                (Some(e), Some(l)) if *id >= e && *id <= l => Ok(Some(snapshots.snapshot(*id).await?)),
                (e, l) => Err(Error::NotFound(format!(
                    "snapshot {id} has expired or never existed: the table has snapshots {}",
                    match (e, l) {
                        (Some(e), Some(l)) => format!("{e}..={l}"),
                        _ => "none".to_string(),
                    }
                ))),
            }
        }
        ScanFrom::Timestamp(ts) => snapshots.at_or_before(*ts).await?.map(Some).ok_or_else(|| {
            Error::NotFound(format!(
                "snapshot at or before timestamp {ts} ({})",
                crate::datum::format_timestamp(*ts, 0, 3)
            ))
        }),
        ScanFrom::Tag(name) => snapshots.tag(name).await.map(Some),
    }
}

/// The manifests of a snapshot: base list then delta list.
/// A manifest list that is gone means the snapshot expired after it was resolved: an error saying so.
pub async fn data_manifests(manifests: &ManifestStore, snapshot: &Snapshot) -> Result<Vec<ManifestFileMeta>> {
    let expired = |e: Error| {
        match e {
        Error::Io { source: object_store::Error::NotFound { .. }, path, .. } => Error::NotFound(format!(
            "snapshot {} has expired: its manifest list `{path}` was deleted by snapshot expiration; read a retained snapshot",
            snapshot.id
        )),
        other => other,
    }
    };
    let mut metas = manifests.read_list(&snapshot.base_manifest_list).await.map_err(expired)?;
    metas.extend(manifests.read_list(&snapshot.delta_manifest_list).await.map_err(expired)?);
    Ok(metas)
}

/// Merges entries in order: an ADD makes a file live, a later DELETE of the same file removes it.
pub fn merge_entries(entries: impl IntoIterator<Item = ManifestEntry>) -> Vec<ManifestEntry> {
    let mut live: indexmap_like::OrderedMap = indexmap_like::OrderedMap::default();
    for e in entries {
        match e.kind {
            FileKind::Add => live.insert(e.identifier(), e),
            FileKind::Delete => live.remove(&e.identifier()),
        }
    }
    live.into_values()
}

/// A tiny insertion-ordered map, so that merged entries keep manifest order (deterministic plans).
mod indexmap_like {
    use super::*;
    #[derive(Default)]
    pub struct OrderedMap {
        index: HashMap<FileIdentifier, usize>,
        slots: Vec<Option<ManifestEntry>>,
    }
    impl OrderedMap {
        pub fn insert(&mut self, k: FileIdentifier, v: ManifestEntry) {
            if let Some(i) = self.index.get(&k) {
                self.slots[*i] = Some(v);
            } else {
                self.index.insert(k, self.slots.len());
                self.slots.push(Some(v));
            }
        }
        pub fn remove(&mut self, k: &FileIdentifier) {
            if let Some(i) = self.index.remove(k) {
                self.slots[i] = None;
            }
        }
        pub fn into_values(self) -> Vec<ManifestEntry> {
            self.slots.into_iter().flatten().collect()
        }
    }
}

/// All live entries of `snapshot` (no pruning).
pub async fn live_entries(manifests: &ManifestStore, snapshot: &Snapshot) -> Result<Vec<ManifestEntry>> {
    let mut all = Vec::new();
    for m in data_manifests(manifests, snapshot).await? {
        all.extend(manifests.read_manifest(&m.file_name).await?);
    }
    Ok(merge_entries(all))
}

/// Plans a scan of `snapshot` with an optional filter.
pub async fn plan(
    manifests: &ManifestStore,
    schema: &TableSchema,
    snapshot: Option<Snapshot>,
    filter: Option<&Predicate>,
) -> Result<ScanPlan> {
    let mut prune = PruneStats::default();
    let Some(snapshot) = snapshot else { return Ok(ScanPlan { snapshot: None, splits: Vec::new(), prune }) };
    let partition_types = schema.partition_types();
    let partition_filter = filter.and_then(|f| f.restrict_to(&schema.partition_keys));
    let pk = !schema.primary_keys.is_empty();
    // Primary-key tables may only prune by key columns: a value filter on one file version could drop the
    // newer version of a row while an older one in another file survives.
    let file_filter =
        filter.and_then(|f| if pk { f.restrict_to(&schema.trimmed_primary_keys()) } else { Some(f.clone()) });
    let key_fields = schema.key_fields();
    let key_types: Vec<_> = key_fields.iter().map(|f| f.data_type.clone()).collect();
    let value_types: Vec<_> = schema.fields.iter().map(|f| f.data_type.clone()).collect();

    let mut all = Vec::new();
    for m in data_manifests(manifests, &snapshot).await? {
        prune.manifests_total += 1;
        if let Some(pf) = &partition_filter {
            let stats = from_simple_stats(&m.partition_stats, &partition_types);
            let count = m.num_added_files + m.num_deleted_files;
            let lookup = |c: &str| schema.partition_keys.iter().position(|k| k == c).map(|i| stats[i].clone());
            // Partition null counts count files, so compare against the file count.
            if !pf.might_match(&lookup, count) {
                prune.manifests_pruned += 1;
                // Count the live files the skipped manifest holds as pruned, so totals stay comparable.
                let files = (m.num_added_files - m.num_deleted_files).max(0) as usize;
                prune.files_total += files;
                prune.files_pruned += files;
                continue;
            }
        }
        all.extend(manifests.read_manifest(&m.file_name).await?);
    }
    let live = merge_entries(all);
    let mut splits: BTreeMap<BucketKey, DataSplit> = BTreeMap::new();
    let mut partition_cache: HashMap<Vec<u8>, (Vec<Datum>, bool)> = HashMap::new();
    for e in live {
        prune.files_total += 1;
        let (partition, keep) = match partition_cache.get(&e.partition) {
            Some(v) => v.clone(),
            None => {
                let values = deserialize_row(&e.partition, &partition_types)
                    .map_err(|err| Error::corrupt(format!("manifest entry of `{}`", e.file.file_name), err))?;
                let keep = match &partition_filter {
                    Some(pf) => {
                        let lookup = |c: &str| {
                            schema.partition_keys.iter().position(|k| k == c).map(|i| ColStats {
                                min: values[i].clone(),
                                max: values[i].clone(),
                                null_count: Some(values[i].is_null() as i64),
                            })
                        };
                        pf.might_match(&lookup, 1)
                    }
                    None => true,
                };
                partition_cache.insert(e.partition.clone(), (values.clone(), keep));
                (values, keep)
            }
        };
        if !keep {
            prune.files_pruned += 1;
            continue;
        }
        if let Some(ff) = &file_filter {
            if e.file.schema_id == schema.id {
                let matches = if pk {
                    let stats = from_simple_stats(&e.file.key_stats, &key_types);
                    let lookup = |c: &str| key_fields.iter().position(|k| k.name == c).map(|i| stats[i].clone());
                    ff.might_match(&lookup, e.file.row_count)
                } else {
                    let names: Option<Vec<String>> = e.file.value_stats_cols.clone();
                    let (types, fields): (Vec<_>, Vec<String>) = match &names {
                        None => (value_types.clone(), schema.fields.iter().map(|f| f.name.clone()).collect()),
                        Some(cols) => (
                            cols.iter().filter_map(|c| schema.field(c).map(|f| f.data_type.clone())).collect(),
                            cols.clone(),
                        ),
                    };
                    if types.len() != fields.len() {
                        true
                    } else {
                        let stats = from_simple_stats(&e.file.value_stats, &types);
                        let lookup = |c: &str| fields.iter().position(|k| k == c).map(|i| stats[i].clone());
                        ff.might_match(&lookup, e.file.row_count)
                    }
                };
                if !matches {
                    prune.files_pruned += 1;
                    continue;
                }
            }
        }
        splits
            .entry(BucketKey::new(e.partition.clone(), e.bucket))
            .or_insert_with(|| DataSplit {
                partition: partition.clone(),
                partition_bytes: e.partition.clone(),
                bucket: e.bucket,
                total_buckets: e.total_buckets,
                files: Vec::new(),
            })
            .files
            .push(e.file);
    }
    Ok(ScanPlan { snapshot: Some(snapshot), splits: splits.into_values().collect(), prune })
}

/// The largest sequence number per (partition, bucket) among live files: where a new writer continues.
pub fn max_sequence_numbers(entries: &[ManifestEntry]) -> HashMap<BucketKey, i64> {
    let mut out: HashMap<BucketKey, i64> = HashMap::new();
    for e in entries {
        let v = out.entry(BucketKey::new(e.partition.clone(), e.bucket)).or_insert(i64::MIN);
        *v = (*v).max(e.file.max_sequence_number);
    }
    out
}

pub type SchemaCache = Arc<tokio::sync::Mutex<HashMap<i64, Arc<TableSchema>>>>;
