//! Write amplification read back from a table's manifests (any Paimon table, whoever wrote it).
//!
//! Layering: below `table`; it takes the snapshot and manifest stores, not a table handle.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::manifest::{FileKind, ManifestStore};
use crate::snapshot::{CommitKind, SnapshotManager};

/// Write amplification of any Paimon table from its manifests alone: bytes ADDed by APPEND/OVERWRITE
/// commits versus bytes ADDed by COMPACT commits (a file re-added under the same name is an upgrade: no bytes
/// written).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestWriteStats {
    pub snapshots: u64,
    pub compact_snapshots: u64,
    pub appended_bytes: u64,
    pub appended_files: u64,
    pub compacted_bytes_by_level: BTreeMap<i32, u64>,
    pub compacted_files: u64,
    pub upgraded_files: u64,
    pub upgraded_bytes: u64,
}

impl ManifestWriteStats {
    /// (bytes of files written by appends and compactions) / (bytes written by appends).
    pub fn write_amplification(&self) -> f64 {
        if self.appended_bytes == 0 {
            return 0.0;
        }
        (self.appended_bytes + self.compacted_bytes_by_level.values().sum::<u64>()) as f64 / self.appended_bytes as f64
    }
    /// The literal measure: bytes of all files ever ADDed (upgrades counted again) / bytes ADDed by appends.
    pub fn added_bytes_ratio(&self) -> f64 {
        if self.appended_bytes == 0 {
            return 0.0;
        }
        (self.appended_bytes + self.compacted_bytes_by_level.values().sum::<u64>() + self.upgraded_bytes) as f64
            / self.appended_bytes as f64
    }
}

/// Reads every retained snapshot's delta manifests and sums what was written.
pub async fn manifest_write_stats(
    snapshots: &SnapshotManager,
    manifests: &ManifestStore,
) -> Result<ManifestWriteStats> {
    let mut out = ManifestWriteStats::default();
    for s in snapshots.all().await? {
        out.snapshots += 1;
        let mut entries = Vec::new();
        for m in manifests.read_list(&s.delta_manifest_list).await? {
            entries.extend(manifests.read_manifest(&m.file_name).await?);
        }
        let deleted: HashSet<&str> =
            entries.iter().filter(|e| e.kind == FileKind::Delete).map(|e| e.file.file_name.as_str()).collect();
        if s.commit_kind == CommitKind::Compact {
            out.compact_snapshots += 1;
        }
        for e in entries.iter().filter(|e| e.kind == FileKind::Add) {
            let size = e.file.file_size.max(0) as u64;
            match s.commit_kind {
                CommitKind::Compact if deleted.contains(e.file.file_name.as_str()) => {
                    out.upgraded_files += 1;
                    out.upgraded_bytes += size;
                }
                CommitKind::Compact => {
                    *out.compacted_bytes_by_level.entry(e.file.level).or_default() += size;
                    out.compacted_files += 1;
                }
                _ => {
                    out.appended_bytes += size;
                    out.appended_files += 1;
                }
            }
        }
    }
    Ok(out)
}
