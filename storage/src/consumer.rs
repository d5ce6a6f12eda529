//! Where change readers stand, and which log offsets the snapshots and consumers still need.
//!
//! A named consumer stores its [`StreamPosition`] in `consumer/consumer-<id>` (Paimon's consumer file, with the
//! `logOffsets` added); log retention keeps what any consumer still needs. The offsets a snapshot covers are
//! its `logOffsets`, or those of the closest earlier snapshot that recorded some.
//!
//! Layering: this module sits below both `table` (the writer's log recovery and log retention) and
//! [`crate::stream`] (the change reader); it needs only the table's [`FileIO`] and [`SnapshotManager`], never a
//! table handle.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::snapshot::{Snapshot, SnapshotManager};

/// Where a reader stands: every change below `log_offsets[bucket]` was delivered, and `next_snapshot` is the
/// first snapshot not wholly delivered (Paimon's consumer field, which pins snapshots).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StreamPosition {
    #[serde(rename = "nextSnapshot")]
    pub next_snapshot: i64,
    #[serde(rename = "logOffsets", default)]
    pub log_offsets: BTreeMap<i32, i64>,
}

impl StreamPosition {
    pub fn to_json(&self) -> Result<Bytes> {
        Ok(Bytes::from(
            serde_json::to_vec(self)
                .map_err(|e| Error::Internal(format!("cannot serialize a stream position: {e}")))?,
        ))
    }

    pub fn from_json(bytes: &[u8], path: &str) -> Result<StreamPosition> {
        let position: StreamPosition =
            serde_json::from_slice(bytes).map_err(|e| Error::corrupt(path, format!("not a consumer position: {e}")))?;
        if position.next_snapshot < 0 || position.log_offsets.values().any(|o| *o < 0) {
            return Err(Error::corrupt(path, "a consumer position has a negative snapshot id or offset"));
        }
        Ok(position)
    }
}

/// The consumers of one table: the `consumer/consumer-<id>` files under its root.
#[derive(Clone, Debug)]
pub struct ConsumerStore {
    io: FileIO,
}

fn consumer_path(id: &str) -> String {
    format!("consumer/consumer-{id}")
}

fn check_consumer_id(id: &str) -> Result<()> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
        return Err(Error::invalid(format!(
            "consumer id `{id}` must be non-empty and use only letters, digits, `-`, `_` and `.`"
        )));
    }
    Ok(())
}

impl ConsumerStore {
    /// The consumers of the table rooted at `table_io`.
    pub fn new(table_io: FileIO) -> Self {
        ConsumerStore { io: table_io }
    }

    /// The registered consumers and their positions.
    pub async fn list(&self) -> Result<Vec<(String, StreamPosition)>> {
        let mut out = Vec::new();
        for name in self.io.list_names("consumer").await? {
            let Some(id) = name.strip_prefix("consumer-") else { continue };
            if let Some(position) = self.read_position(id).await? {
                out.push((id.to_string(), position));
            }
        }
        Ok(out)
    }

    /// Reads a consumer's saved position, if it exists.
    pub async fn load(&self, id: &str) -> Result<Option<StreamPosition>> {
        check_consumer_id(id)?;
        self.read_position(id).await
    }

    async fn read_position(&self, id: &str) -> Result<Option<StreamPosition>> {
        match self.io.read_opt(&consumer_path(id)).await? {
            Some(bytes) => Ok(Some(StreamPosition::from_json(&bytes, self.io.path(&consumer_path(id)).as_ref())?)),
            None => Ok(None),
        }
    }

    /// Saves a consumer's position (one atomic object write).
    pub async fn save(&self, id: &str, position: &StreamPosition) -> Result<()> {
        check_consumer_id(id)?;
        self.io.write(&consumer_path(id), position.to_json()?).await
    }

    /// The smallest `next_snapshot` of the registered consumers: every snapshot from it on is still needed.
    pub async fn min_next_snapshot(&self) -> Result<Option<i64>> {
        Ok(self.list().await?.iter().map(|(_, p)| p.next_snapshot).min())
    }

    /// Deletes the consumer files last written before `before_millis` (Paimon's `consumer.expiration-time`):
    /// an abandoned reader stops pinning snapshots. Returns the ids of the consumers deleted.
    pub async fn expire_written_before(&self, before_millis: i64) -> Result<Vec<String>> {
        let mut expired = Vec::new();
        for name in self.io.list_names("consumer").await? {
            let Some(id) = name.strip_prefix("consumer-") else { continue };
            let written = self.io.last_modified_millis(&consumer_path(id)).await?;
            if written.is_some_and(|t| t < before_millis) {
                self.io.delete(&consumer_path(id)).await?;
                expired.push(id.to_string());
            }
        }
        Ok(expired)
    }

    /// Points consumer `id` at snapshot `next` (Paimon's `reset_consumer`): its next read starts with that
    /// snapshot's changes (the log offsets before it, for a table with the embedded log). `next` must be a
    /// snapshot (or long-lived changelog) that exists, or the one after the latest.
    pub async fn reset(&self, snapshots: &SnapshotManager, id: &str, next: i64) -> Result<()> {
        let latest = snapshots.latest_id().await?.unwrap_or(0);
        let changelogs = crate::long_lived::ChangelogManager::of(snapshots);
        let earliest = crate::long_lived::earliest_change_id(snapshots, &changelogs).await?.unwrap_or(1);
        if next < earliest || next > latest + 1 {
            return Err(Error::invalid(format!(
                "consumer `{id}` cannot be reset to snapshot {next}: changes can be read from snapshots {earliest}..={}",
                latest + 1
            )));
        }
        self.save(id, &StreamPosition { next_snapshot: next, log_offsets: Default::default() }).await
    }

    /// Removes a consumer, releasing what it pinned.
    pub async fn delete(&self, id: &str) -> Result<()> {
        check_consumer_id(id)?;
        self.io.delete(&consumer_path(id)).await
    }
}

/// The log offsets a consumer still needs: its own, or (for a consumer written by Paimon, which has only
/// `nextSnapshot`) those of the snapshot before its next one. `table_name` is for the error messages.
pub async fn consumer_needed_offsets(
    snapshots: &SnapshotManager,
    table_name: &str,
    position: &StreamPosition,
) -> Result<BTreeMap<i32, i64>> {
    if !position.log_offsets.is_empty() {
        return Ok(position.log_offsets.clone());
    }
    offsets_before(snapshots, table_name, position.next_snapshot).await
}

/// The offsets where the changes of snapshot `id` begin: those recorded up to the snapshot before it (zero
/// before the first snapshot). `table_name` is for the error messages.
pub async fn offsets_before(snapshots: &SnapshotManager, table_name: &str, id: i64) -> Result<BTreeMap<i32, i64>> {
    if id <= 1 {
        return Ok(BTreeMap::new());
    }
    // An expired snapshot's long-lived changelog records the same offsets.
    let found = match snapshots.snapshot(id - 1).await {
        Err(Error::NotFound(_)) => crate::long_lived::ChangelogManager::of(snapshots).changelog(id - 1).await,
        other => other,
    };
    match found {
        Ok(s) => recorded_log_offsets(snapshots, &s).await,
        Err(Error::NotFound(_)) | Err(Error::Io { .. }) => Err(Error::NotFound(format!(
            "snapshot {} (where the changes of snapshot {id} begin) of table `{table_name}` has expired or never existed",
            id - 1,
        ))),
        Err(e) => Err(e),
    }
}

/// The log offsets covered by `snapshot`: its own `logOffsets`, or, when it has none (a commit by a writer that
/// keeps no changelog, e.g. Java Paimon, which writes `{}`), those of the closest earlier snapshot that has
/// them. Taking `{}` at face value would make a reader deliver, and a recovering writer replay, the whole log.
pub async fn recorded_log_offsets(snapshots: &SnapshotManager, snapshot: &Snapshot) -> Result<BTreeMap<i32, i64>> {
    if let Some(offsets) = snapshot.log_offsets.as_ref().filter(|o| !o.is_empty()) {
        return Ok(offsets.clone());
    }
    let earliest = snapshots.earliest_id().await?.unwrap_or(1);
    let mut id = snapshot.id - 1;
    while id >= earliest {
        match snapshots.snapshot(id).await {
            Ok(s) => {
                if let Some(offsets) = s.log_offsets.filter(|o| !o.is_empty()) {
                    return Ok(offsets);
                }
            }
            // Expired while walking back: nothing older can be found.
            Err(Error::NotFound(_)) | Err(Error::Io { .. }) => break,
            Err(e) => return Err(e),
        }
        id -= 1;
    }
    Ok(BTreeMap::new())
}
