//! Changelog expiration (Java Paimon's `ExpireChangelogImpl`): deletes long-lived changelogs
//! (`changelog/changelog-N`, [`crate::long_lived`]) beyond `changelog.num-retained.min`/`.max` and
//! `changelog.time-retained`, with the files only they kept. It ends every snapshot expiration run, so a
//! table whose options no longer keep changelogs longer than snapshots still sheds the ones it has.
//!
//! **Which changelogs.** With `latest` the newest snapshot id, the changelogs `[earliest changelog, end)`
//! expire, where `end` is the smallest of: `latest - min + 1`, the consumers' smallest `nextSnapshot`, the
//! earliest changelog + `snapshot.expire.limit`, the newest changelog id (as Java, the newest long-lived
//! changelog stays), and the first changelog from `latest - max + 1` on committed at or after
//! `now - changelog.time-retained`.
//!
//! **Which files.** A changelog with a changelog list: the files that list ADDs, its manifests and the list
//! (one snapshot's alone). Without one (no changelog producer: its changes are its delta's ADDed files): the
//! data files its delta DELETEd, which snapshot expiration left for it, unless a tag's snapshot still has them,
//! then its delta and base lists and the manifests no kept snapshot names. A file DELETEd by changelog N was live
//! in no later snapshot (file names are unique), and a manifest of N's lists that a retained snapshot names is
//! named by every snapshot in between, so the kept ones are the earliest snapshot, changelog `end` and the tags.
//!
//! **Crash safety.** Per changelog its files, then its `changelog-N` file, oldest first; `EARLIEST` last. A
//! re-run starts from the oldest changelog file still present and treats missing files as deleted before.

use std::collections::HashSet;

use super::{ExpireReport, ExpireSnapshots};
use crate::error::{Error, Result};
use crate::manifest::FileKind;
use crate::scan::live_entries;
use crate::snapshot::Snapshot;

impl ExpireSnapshots {
    /// Expires long-lived changelogs as the table's changelog options say, at time `now` (ms since the
    /// epoch), counting what went in `report`.
    pub(crate) async fn expire_changelogs(&self, now: i64, report: &mut ExpireReport) -> Result<()> {
        let Some(latest) = self.snapshots.latest_id().await? else { return Ok(()) };
        // One listing (not the hints): it runs after every commit, and most tables have no changelog directory.
        let ids = self.changelogs.list_ids().await?;
        let (Some(&earliest_changelog), Some(&latest_changelog)) = (ids.first(), ids.last()) else { return Ok(()) };
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let retain_min = count(self.options.changelog_num_retained_min);
        let retain_max = count(self.options.changelog_num_retained_max);
        let retained_ms = i64::try_from(self.options.changelog_time_retained.as_millis()).unwrap_or(i64::MAX);
        let older_than = now.saturating_sub(retained_ms);
        let beyond_max = (latest.saturating_sub(retain_max) + 1).max(earliest_changelog);
        let mut max_exclusive = latest - retain_min + 1;
        if let Some(next) = self.consumers.min_next_snapshot().await? {
            max_exclusive = max_exclusive.min(next);
        }
        max_exclusive = max_exclusive
            .min(earliest_changelog.saturating_add(count(self.options.snapshot_expire_limit)))
            .min(latest_changelog);
        let mut end = max_exclusive;
        for id in beyond_max..=max_exclusive {
            match self.changelogs.changelog(id).await {
                Ok(c) if c.time_millis >= older_than => {
                    end = id;
                    break;
                }
                Ok(_) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.expire_changelogs_until(earliest_changelog, end, report).await
    }

    async fn expire_changelogs_until(&self, earliest: i64, end: i64, report: &mut ExpireReport) -> Result<()> {
        if end <= earliest {
            return Ok(());
        }
        let tags: Vec<Snapshot> =
            self.snapshots.tags().await?.into_iter().map(|(_, s)| s).filter(|s| s.id < end).collect();
        let mut kept_manifests: HashSet<String> = HashSet::new();
        let mut kept: Vec<Snapshot> = tags.clone();
        if let Some(id) = self.snapshots.earliest_id().await? {
            kept.push(self.snapshots.snapshot(id).await?);
        }
        match self.changelogs.changelog(end).await {
            Ok(c) => kept.push(c),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        for s in &kept {
            for list in [&s.base_manifest_list, &s.delta_manifest_list] {
                kept_manifests.insert(list.clone());
                kept_manifests.extend(self.list_if_present(list).await?.into_iter().map(|m| m.file_name));
            }
        }
        let mut tag_data: HashSet<String> = HashSet::new();
        for tag in &tags {
            for e in live_entries(&self.manifests, tag).await? {
                tag_data.insert(self.data_path(&e)?);
            }
        }
        let files = &mut report.deleted_changelog_files;
        for id in earliest..end {
            let changelog = match self.changelogs.changelog(id).await {
                Ok(c) => c,
                Err(Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            match &changelog.changelog_manifest_list {
                Some(list) => {
                    for e in self.entries_if_present(list).await? {
                        if e.kind == FileKind::Add {
                            let path = self.data_path(&e)?;
                            self.delete_with_extras(&path, &e, files).await?;
                        }
                    }
                    self.delete_list(list, &HashSet::new()).await?;
                }
                None => {
                    for (path, e) in self.deleted_by_delta(&changelog.delta_manifest_list).await? {
                        if !tag_data.contains(&path) {
                            self.delete_with_extras(&path, &e, files).await?;
                        }
                    }
                    for list in [&changelog.delta_manifest_list, &changelog.base_manifest_list] {
                        if !kept_manifests.contains(list) {
                            self.delete_list(list, &kept_manifests).await?;
                        }
                    }
                }
            }
            self.changelogs.delete(id).await?;
            report.expired_changelogs += 1;
        }
        self.changelogs.write_earliest_hint(end).await
    }

    /// Deletes the manifests `list` names (except `kept` ones), then the list.
    async fn delete_list(&self, list: &str, kept: &HashSet<String>) -> Result<()> {
        for meta in self.list_if_present(list).await? {
            if !kept.contains(&meta.file_name) {
                self.io.delete(&format!("manifest/{}", meta.file_name)).await?;
            }
        }
        self.io.delete(&format!("manifest/{list}")).await
    }
}

#[cfg(test)]
#[path = "changelog_tests.rs"]
mod tests;
