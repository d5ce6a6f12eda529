//! What a table's snapshots, tags and long-lived changelogs reference: manifest lists, manifests, data files
//! (with their extra files) and changelog files. Rollback ([`crate::rollback`]) keeps what the retained ones
//! reference; orphan cleanup ([`crate::orphan`]) deletes what none references.
//!
//! The sets are conservative: every file an entry of a referenced manifest names counts, `ADD` or `DELETE`
//! (a file a delta deleted may still be live in the snapshot before it), so a reference set only errs on the
//! side of keeping.
//!
//! **Missing files.** Snapshot expiration deletes manifests before snapshot files, so after a crashed run the
//! oldest snapshots may name manifests that are gone (Java's expiration does the same). [`References::add_snapshots`]
//! accepts that only for a prefix of the snapshots (the oldest ones); a missing manifest of a snapshot newer
//! than a whole one is damage and an error naming both, because a cleanup that went on would delete what the
//! damaged snapshot's lost manifest still protected.
//!
//! Layering: needs only the table's [`FileIO`], schema, snapshots and manifests; below `rollback` and `orphan`.

use std::collections::HashSet;
use std::sync::Arc;

use crate::binary_row::deserialize_row;
use crate::datafile::bucket_dir;
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::manifest::{ManifestEntry, ManifestFileMeta, ManifestStore};
use crate::schema::TableSchema;
use crate::snapshot::Snapshot;
use crate::types::DataType;

/// Files referenced by some set of snapshots.
#[derive(Debug, Default, Clone)]
pub(crate) struct References {
    /// Manifest lists and manifest files (names under `manifest/`).
    pub manifests: HashSet<String>,
    /// Data, changelog and extra files (paths relative to the table root).
    pub files: HashSet<String>,
}

/// Reads what snapshots reference, for one table.
#[derive(Clone, Debug)]
pub(crate) struct ReferenceReader {
    schema: Arc<TableSchema>,
    partition_types: Vec<DataType>,
    default_partition: String,
    manifests: ManifestStore,
}

/// Whether `e` says a file does not exist.
pub(crate) fn is_missing(e: &Error) -> bool {
    matches!(e, Error::Io { source: object_store::Error::NotFound { .. }, .. })
}

impl ReferenceReader {
    pub fn new(table_io: FileIO, schema: Arc<TableSchema>) -> Result<Self> {
        Ok(ReferenceReader {
            default_partition: schema.options()?.partition_default_name,
            partition_types: schema.partition_types(),
            schema,
            manifests: ManifestStore::new(table_io),
        })
    }

    /// The table-relative path of an entry's file (as the reader opens it).
    pub fn entry_path(&self, e: &ManifestEntry) -> Result<String> {
        if let Some(p) = &e.file.external_path {
            return Ok(p.clone());
        }
        let partition = deserialize_row(&e.partition, &self.partition_types)?;
        let dir = bucket_dir(&self.schema, &partition, e.bucket, &self.default_partition);
        Ok(format!("{dir}/{}", e.file.file_name))
    }

    /// The paths of an entry's file and its extra files.
    pub fn entry_paths(&self, e: &ManifestEntry) -> Result<Vec<String>> {
        let path = self.entry_path(e)?;
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        let mut out = vec![path];
        out.extend(e.file.extra_files.iter().map(|x| format!("{dir}/{x}")));
        Ok(out)
    }

    /// A manifest list, `None` when it does not exist.
    pub async fn list_opt(&self, name: &str) -> Result<Option<Vec<ManifestFileMeta>>> {
        match self.manifests.read_list(name).await {
            Ok(metas) => Ok(Some(metas)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A manifest's entries, `None` when it does not exist.
    pub async fn manifest_opt(&self, name: &str) -> Result<Option<Vec<ManifestEntry>>> {
        match self.manifests.read_manifest(name).await {
            Ok(entries) => Ok(Some(entries)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Adds what `snapshot` references: its base and delta lists (and its changelog list with
    /// `with_changelog`), the manifests they name and every file those name. Returns the first file found
    /// missing (what could be read is added all the same).
    pub async fn add(
        &self,
        refs: &mut References,
        snapshot: &Snapshot,
        with_changelog: bool,
    ) -> Result<Option<String>> {
        let mut lists = vec![snapshot.base_manifest_list.clone(), snapshot.delta_manifest_list.clone()];
        if with_changelog {
            lists.extend(snapshot.changelog_manifest_list.clone());
        }
        let mut missing = None;
        for list in &lists {
            refs.manifests.insert(list.clone());
            let Some(metas) = self.list_opt(list).await? else {
                missing.get_or_insert_with(|| format!("manifest/{list}"));
                continue;
            };
            for meta in metas {
                // Manifests are shared between snapshots: each is read once.
                if !refs.manifests.insert(meta.file_name.clone()) {
                    continue;
                }
                let Some(entries) = self.manifest_opt(&meta.file_name).await? else {
                    missing.get_or_insert_with(|| format!("manifest/{}", meta.file_name));
                    continue;
                };
                for e in &entries {
                    refs.files.extend(self.entry_paths(e)?);
                }
            }
        }
        Ok(missing)
    }

    /// Adds what `snapshots` (ascending ids, with their changelogs) reference. Snapshots with missing manifests
    /// are accepted only as a prefix (half-expired by a crashed expiration); their ids are returned. A later one
    /// is an error naming it and the missing file.
    pub async fn add_snapshots(&self, refs: &mut References, snapshots: &[Snapshot]) -> Result<Vec<i64>> {
        let mut half_expired = Vec::new();
        let mut whole: Option<i64> = None;
        for s in snapshots {
            match self.add(refs, s, true).await? {
                None => {
                    whole.get_or_insert(s.id);
                }
                Some(file) => match whole {
                    None => half_expired.push(s.id),
                    Some(older) => {
                        return Err(Error::corrupt(
                            file,
                            format!(
                            "snapshot {} names this file but it is missing while the older snapshot {older} is whole: \
                                 the table is damaged; nothing was deleted",
                            s.id
                        ),
                        ))
                    }
                },
            }
        }
        Ok(half_expired)
    }

    /// Adds what tags reference (their data, not their changelog: expiration keeps only that). A tag with a
    /// missing manifest is damage: an error naming the tag.
    pub async fn add_tags(&self, refs: &mut References, tags: &[(String, Snapshot)]) -> Result<()> {
        for (name, s) in tags {
            if let Some(file) = self.add(refs, s, false).await? {
                return Err(Error::corrupt(
                    file,
                    format!("tag `{name}` (snapshot {}) names this file but it is missing; nothing was deleted", s.id),
                ));
            }
        }
        Ok(())
    }
}
