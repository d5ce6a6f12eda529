//! Snapshots (`snapshot/snapshot-N`, JSON version 3), the `LATEST`/`EARLIEST` hints, and tags.
//!
//! Invariant: a snapshot file is created once by a conditional create and never overwritten, so two
//! writers can never both publish snapshot N. The hints are only hints: readers verify them.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::FileIO;

pub const BATCH_COMMIT_IDENTIFIER: i64 = i64::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommitKind {
    Append,
    Compact,
    Overwrite,
    Analyze,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub version: i32,
    pub id: i64,
    pub schema_id: i64,
    pub base_manifest_list: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_manifest_list_size: Option<i64>,
    pub delta_manifest_list: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_manifest_list_size: Option<i64>,
    #[serde(default)]
    pub changelog_manifest_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog_manifest_list_size: Option<i64>,
    #[serde(default)]
    pub index_manifest: Option<String>,
    pub commit_user: String,
    pub commit_identifier: i64,
    pub commit_kind: CommitKind,
    pub time_millis: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_offsets: Option<BTreeMap<i32, i64>>,
    #[serde(default)]
    pub total_record_count: Option<i64>,
    #[serde(default)]
    pub delta_record_count: Option<i64>,
    #[serde(default)]
    pub changelog_record_count: Option<i64>,
    #[serde(default)]
    pub watermark: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<String>,
}

impl Snapshot {
    pub fn to_json_bytes(&self) -> Result<Bytes> {
        self.validate("<new snapshot>")?;
        Ok(Bytes::from(serde_json::to_vec_pretty(self).map_err(|e| Error::Internal(e.to_string()))?))
    }

    pub fn from_json_bytes(bytes: &[u8], path: &str) -> Result<Self> {
        let s: Snapshot = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(path, format!("snapshot is not valid json: {e}")))?;
        s.validate(path)?;
        Ok(s)
    }

    fn validate(&self, path: &str) -> Result<()> {
        if self.id < 1 {
            return Err(Error::corrupt(path, format!("snapshot id must be >= 1, got {}", self.id)));
        }
        if self.base_manifest_list.is_empty() || self.delta_manifest_list.is_empty() {
            return Err(Error::corrupt(path, "snapshot names no manifest list"));
        }
        Ok(())
    }
}

/// Reads and publishes snapshots and tags of one table.
#[derive(Clone, Debug)]
pub struct SnapshotManager {
    io: FileIO,
}

impl SnapshotManager {
    pub fn new(table_io: FileIO) -> Self {
        SnapshotManager { io: table_io }
    }

    /// The table's file access (what the other metadata stores of the table are made from).
    pub(crate) fn io(&self) -> &FileIO {
        &self.io
    }

    pub fn snapshot_path(id: i64) -> String {
        SNAPSHOTS.path(id)
    }

    /// The latest snapshot id, trusting `LATEST` only when the next snapshot does not exist.
    pub async fn latest_id(&self) -> Result<Option<i64>> {
        SNAPSHOTS.latest_id(&self.io).await
    }

    /// The earliest snapshot id, trusting `EARLIEST` only when that snapshot exists.
    pub async fn earliest_id(&self) -> Result<Option<i64>> {
        SNAPSHOTS.earliest_id(&self.io).await
    }

    pub async fn snapshot(&self, id: i64) -> Result<Snapshot> {
        SNAPSHOTS.read(&self.io, id).await
    }

    pub async fn latest(&self) -> Result<Option<Snapshot>> {
        match self.latest_id().await? {
            Some(id) => Ok(Some(self.snapshot(id).await?)),
            None => Ok(None),
        }
    }

    /// All snapshots from the earliest to the latest (those expired while listing are left out).
    pub async fn all(&self) -> Result<Vec<Snapshot>> {
        let mut out = Vec::new();
        for id in SNAPSHOTS.list_ids(&self.io).await? {
            match self.snapshot(id).await {
                Ok(s) => out.push(s),
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The latest snapshot committed at or before `time_millis`.
    pub async fn at_or_before(&self, time_millis: i64) -> Result<Option<Snapshot>> {
        let mut found = None;
        for id in SNAPSHOTS.list_ids(&self.io).await? {
            let s = match self.snapshot(id).await {
                Ok(s) => s,
                // Expired since the listing: older than every snapshot still there.
                Err(Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            if s.time_millis <= time_millis {
                found = Some(s);
            } else {
                break;
            }
        }
        Ok(found)
    }

    /// Publishes `snapshot` by conditional create. `Ok(false)` means another writer already holds its id.
    pub async fn try_publish(&self, snapshot: &Snapshot) -> Result<bool> {
        let created = self.io.create(&Self::snapshot_path(snapshot.id), snapshot.to_json_bytes()?).await?;
        if created {
            // Hints are best effort: a stale hint is corrected by readers.
            let _ = self.io.write("snapshot/LATEST", Bytes::from(snapshot.id.to_string())).await;
            if snapshot.id == 1 || !self.io.exists("snapshot/EARLIEST").await.unwrap_or(true) {
                let _ = self.io.write("snapshot/EARLIEST", Bytes::from(snapshot.id.to_string())).await;
            }
        }
        Ok(created)
    }

    // --- tags ---

    pub async fn create_tag(&self, name: &str, snapshot: &Snapshot) -> Result<()> {
        validate_tag_name(name)?;
        let mut v = serde_json::to_value(snapshot).map_err(|e| Error::Internal(e.to_string()))?;
        let millis = self.io.seams().now_millis();
        let now = chrono::DateTime::from_timestamp_millis(millis)
            .ok_or_else(|| Error::Internal(format!("clock reading {millis} ms is out of range")))?
            .naive_utc();
        v["tagCreateTime"] = serde_json::json!([
            now.format("%Y").to_string().parse::<i32>().unwrap_or(1970),
            chrono::Datelike::month(&now),
            chrono::Datelike::day(&now),
            chrono::Timelike::hour(&now),
            chrono::Timelike::minute(&now),
            chrono::Timelike::second(&now),
            chrono::Timelike::nanosecond(&now)
        ]);
        v["tagTimeRetained"] = serde_json::Value::Null;
        let body = Bytes::from(serde_json::to_vec_pretty(&v).map_err(|e| Error::Internal(e.to_string()))?);
        if !self.io.create(&format!("tag/tag-{name}"), body).await? {
            return Err(Error::AlreadyExists(format!("tag `{name}`")));
        }
        Ok(())
    }

    pub async fn delete_tag(&self, name: &str) -> Result<()> {
        validate_tag_name(name)?;
        let rel = format!("tag/tag-{name}");
        if !self.io.exists(&rel).await? {
            return Err(Error::NotFound(format!("tag `{name}`")));
        }
        self.io.delete(&rel).await
    }

    pub async fn tag(&self, name: &str) -> Result<Snapshot> {
        validate_tag_name(name)?;
        let rel = format!("tag/tag-{name}");
        let path = self.io.path(&rel).to_string();
        let bytes = self.io.read_opt(&rel).await?.ok_or_else(|| Error::NotFound(format!("tag `{name}`")))?;
        Snapshot::from_json_bytes(&bytes, &path)
    }

    pub async fn tags(&self) -> Result<Vec<(String, Snapshot)>> {
        let mut out = Vec::new();
        for n in self.io.list_names("tag").await? {
            if let Some(name) = n.strip_prefix("tag-") {
                out.push((name.to_string(), self.tag(name).await?));
            }
        }
        out.sort_by_key(|(_, s)| s.id);
        Ok(out)
    }
}

fn validate_tag_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.chars().any(|c| c == '/' || c.is_whitespace())
        || name.chars().all(|c| c.is_ascii_digit())
    {
        return Err(Error::invalid(format!(
            "invalid tag name `{name}`: must be non-empty, without '/' or spaces, and not only digits"
        )));
    }
    Ok(())
}

/// Numbered snapshot-JSON files in one directory with `LATEST`/`EARLIEST` hints: the snapshots
/// (`snapshot/snapshot-N`) and the long-lived changelogs (`changelog/changelog-N`).
pub(crate) struct NumberedFiles {
    pub(crate) dir: &'static str,
    /// What one file is, for messages and file names (`snapshot` makes `snapshot-N`).
    pub(crate) kind: &'static str,
}

pub(crate) const SNAPSHOTS: NumberedFiles = NumberedFiles { dir: "snapshot", kind: "snapshot" };

impl NumberedFiles {
    pub(crate) fn path(&self, id: i64) -> String {
        format!("{}/{}-{id}", self.dir, self.kind)
    }

    async fn read_hint(&self, io: &FileIO, name: &str) -> Result<Option<i64>> {
        Ok(io
            .read_opt(&format!("{}/{name}", self.dir))
            .await?
            .and_then(|b| std::str::from_utf8(&b).ok()?.trim().parse().ok()))
    }

    /// The ids of the files, ascending.
    pub(crate) async fn list_ids(&self, io: &FileIO) -> Result<Vec<i64>> {
        let prefix = format!("{}-", self.kind);
        let mut ids: Vec<i64> =
            io.list_names(self.dir).await?.iter().filter_map(|n| n.strip_prefix(&prefix)?.parse().ok()).collect();
        ids.sort();
        Ok(ids)
    }

    /// The newest id, trusting `LATEST` only when the next file does not exist.
    pub(crate) async fn latest_id(&self, io: &FileIO) -> Result<Option<i64>> {
        if let Some(hint) = self.read_hint(io, "LATEST").await? {
            if io.exists(&self.path(hint)).await? && !io.exists(&self.path(hint + 1)).await? {
                return Ok(Some(hint));
            }
        }
        Ok(self.list_ids(io).await?.last().copied())
    }

    /// The oldest id, trusting `EARLIEST` only when that file exists.
    pub(crate) async fn earliest_id(&self, io: &FileIO) -> Result<Option<i64>> {
        if let Some(hint) = self.read_hint(io, "EARLIEST").await? {
            if io.exists(&self.path(hint)).await? {
                return Ok(Some(hint));
            }
        }
        Ok(self.list_ids(io).await?.first().copied())
    }

    /// File `id`; [`Error::NotFound`] when there is none, corrupt when it holds another id.
    pub(crate) async fn read(&self, io: &FileIO, id: i64) -> Result<Snapshot> {
        let rel = self.path(id);
        let path = io.path(&rel).to_string();
        let kind = self.kind;
        let bytes = io.read_opt(&rel).await?.ok_or_else(|| Error::NotFound(format!("{kind} {id} (path `{path}`)")))?;
        let s = Snapshot::from_json_bytes(&bytes, &path)?;
        if s.id != id {
            return Err(Error::corrupt(path, format!("file holds {kind} id {} instead of {id}", s.id)));
        }
        Ok(s)
    }
}
