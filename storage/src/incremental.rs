//! Changes read from snapshots' files, as Paimon reads them without a log: the **delta** files a snapshot
//! added (followed only in `APPEND` snapshots; `COMPACT` snapshots add no logical change) or the **changelog**
//! files a changelog producer wrote (every snapshot whose `changelogManifestList` is set; they have the layout
//! of data files). Each row carries its `_VALUE_KIND`.
//!
//! Two readers use this: [`crate::stream`] follows snapshots one by one (every change, in order), and the
//! batch read of the changes between two snapshots (`incremental-between`, Paimon's option, start exclusive,
//! end inclusive; `incremental-between-scan-mode` picks the files).
//!
//! Semantics of `incremental-between`, checked against Java Paimon 0.9:
//! - `delta`: the delta files of the range's `APPEND` snapshots merged per key by the table's merge engine,
//!   retractions kept: each changed key once, with its latest change (what Java returns).
//! - `changelog`: every row of the range's changelog files, in snapshot order (what a streaming reader gets).
//!   For a one-snapshot range this is what Java returns; over several snapshots Java 0.9 merges the changelog
//!   files as if they were data files, which mangles `lookup`'s `-U`/`+U` pairs (a key can come back as `+I`
//!   old value and `+U` new value, the `-U` lost), so dyntable does not follow it there.
//! - `start == end` is empty; `start > end`, and a range outside the snapshots that exist, are errors.
//!
//! Layering: below [`crate::table`] (which offers `incremental_between`) and [`crate::stream`]; it takes the
//! snapshot and manifest stores and a [`TableRead`], never a table handle.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::Int8Type;
use arrow_schema::{DataType as ArrowType, Field, Schema as ArrowSchema, SchemaRef};
use futures::{StreamExt, TryStreamExt};

use crate::binary_row::deserialize_row;
use crate::bucket::BucketKey;
use crate::error::{Error, Result};
use crate::long_lived::{snapshot_or_changelog, ChangelogManager};
use crate::manifest::{FileKind, ManifestEntry, ManifestStore};
use crate::read::{BatchStream, TableRead};
use crate::row_kind::RowKind;
use crate::scan::{merge_entries, DataSplit};
use crate::schema::TableSchema;
use crate::snapshot::{CommitKind, Snapshot, SnapshotManager};

/// The option naming the range of a batch incremental read.
pub const INCREMENTAL_BETWEEN: &str = "incremental-between";
/// The option naming the range of a batch incremental read by commit times (milliseconds since the epoch).
pub const INCREMENTAL_BETWEEN_TIMESTAMP: &str = "incremental-between-timestamp";
/// The option choosing the files an incremental read takes.
pub const INCREMENTAL_BETWEEN_SCAN_MODE: &str = "incremental-between-scan-mode";

/// Which files an incremental read takes (`incremental-between-scan-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChangeScanMode {
    /// Changelog files if the table has a changelog producer, else delta files.
    #[default]
    Auto,
    Delta,
    Changelog,
}

impl FromStr for ChangeScanMode {
    type Err = Error;

    fn from_str(text: &str) -> Result<ChangeScanMode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(ChangeScanMode::Auto),
            "delta" => Ok(ChangeScanMode::Delta),
            "changelog" => Ok(ChangeScanMode::Changelog),
            _ => Err(Error::invalid(format!(
                "`{INCREMENTAL_BETWEEN_SCAN_MODE}` = '{text}': expected auto, delta or changelog"
            ))),
        }
    }
}

impl std::fmt::Display for ChangeScanMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChangeScanMode::Auto => "auto",
            ChangeScanMode::Delta => "delta",
            ChangeScanMode::Changelog => "changelog",
        })
    }
}

/// The files changes are read from, once `auto` is resolved for a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeFiles {
    Delta,
    Changelog,
}

impl ChangeScanMode {
    /// Resolves `auto` by the table's `changelog-producer` option. An append table's data files are its changes
    /// (its writers write no changelog files whatever the option says), so it reads delta files.
    pub fn files(self, schema: &TableSchema) -> Result<ChangeFiles> {
        Ok(match self {
            ChangeScanMode::Delta => ChangeFiles::Delta,
            ChangeScanMode::Changelog => ChangeFiles::Changelog,
            ChangeScanMode::Auto => {
                if schema.primary_keys.is_empty()
                    || schema.options()?.changelog_producer == crate::options::ChangelogProducer::None
                {
                    ChangeFiles::Delta
                } else {
                    ChangeFiles::Changelog
                }
            }
        })
    }
}

/// What `incremental-between` names: two snapshot ids, or two tags (a tag name is never only digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Between {
    Snapshots(i64, i64),
    Tags(String, String),
}

/// Parses `incremental-between` = 'START,END': snapshot ids, or tag names (as Java Paimon, where a tag's
/// range is the difference between the two tagged snapshots, see [`between_tags`]).
pub fn parse_between(text: &str) -> Result<Between> {
    let bad = |why: &str| Error::invalid(format!("`{INCREMENTAL_BETWEEN}` = '{text}': {why}"));
    let (a, b) = text.split_once(',').ok_or_else(|| bad("expected two snapshot ids or tag names, e.g. '3,7'"))?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() || b.is_empty() || b.contains(',') {
        return Err(bad("expected two snapshot ids or tag names, e.g. '3,7'"));
    }
    let id = |s: &str| s.parse::<i64>().ok().filter(|id| *id >= 0);
    match (id(a), id(b)) {
        (Some(a), Some(b)) => Ok(Between::Snapshots(a, b)),
        _ if a.starts_with('-') || b.starts_with('-') => Err(bad("a snapshot id is not negative")),
        (None, None) => Ok(Between::Tags(a.to_string(), b.to_string())),
        _ => Err(bad("give two snapshot ids or two tag names, not one of each")),
    }
}

/// Parses `incremental-between-timestamp` = 'START,END' (milliseconds since the epoch).
pub fn parse_between_timestamp(text: &str) -> Result<(i64, i64)> {
    let bad = |why: &str| Error::invalid(format!("`{INCREMENTAL_BETWEEN_TIMESTAMP}` = '{text}': {why}"));
    let (a, b) = text
        .split_once(',')
        .ok_or_else(|| bad("expected two timestamps in milliseconds, e.g. '1700000000000,1700000600000'"))?;
    let millis = |s: &str| {
        s.trim()
            .parse::<i64>()
            .ok()
            .filter(|t| *t >= 0)
            .ok_or_else(|| bad(&format!("`{}` is not a timestamp in milliseconds since the epoch", s.trim())))
    };
    Ok((millis(a)?, millis(b)?))
}

/// The snapshot range (start exclusive, end inclusive) of `incremental-between-timestamp` = 'START,END', as Java
/// Paimon resolves it: the start is the latest snapshot committed at or before START (the one before the
/// earliest when none is, so that the earliest snapshot's changes are included); the end is the latest snapshot
/// committed at or before END (the start itself when none is: an empty range).
pub async fn snapshots_between_timestamps(snapshots: &SnapshotManager, start: i64, end: i64) -> Result<(i64, i64)> {
    if start > end {
        return Err(Error::invalid(format!(
            "`{INCREMENTAL_BETWEEN_TIMESTAMP}` = '{start},{end}': the start must not be after the end"
        )));
    }
    let Some(earliest) = snapshots.earliest_id().await? else {
        return Err(Error::invalid(format!(
            "`{INCREMENTAL_BETWEEN_TIMESTAMP}` = '{start},{end}': the table has no snapshots"
        )));
    };
    let from = match snapshots.at_or_before(start).await? {
        Some(s) => s.id,
        None => earliest - 1,
    };
    let to = match snapshots.at_or_before(end).await? {
        Some(s) => s.id,
        None => from,
    };
    Ok((from, to))
}

/// The files holding the changes `snapshot` made, as splits per (partition, bucket) in manifest order; `None`
/// when the snapshot has none of that kind (a non-`APPEND` snapshot for delta files, a snapshot without a
/// changelog manifest list for changelog files).
pub async fn snapshot_change_splits(
    manifests: &ManifestStore,
    schema: &TableSchema,
    snapshot: &Snapshot,
    files: ChangeFiles,
) -> Result<Option<Vec<DataSplit>>> {
    let list = match files {
        ChangeFiles::Delta if snapshot.commit_kind == CommitKind::Append => &snapshot.delta_manifest_list,
        ChangeFiles::Delta => return Ok(None),
        ChangeFiles::Changelog => match &snapshot.changelog_manifest_list {
            Some(list) => list,
            None => return Ok(None),
        },
    };
    let mut entries = Vec::new();
    for m in manifests.read_list(list).await? {
        entries.extend(manifests.read_manifest(&m.file_name).await?);
    }
    // The files this snapshot added (an ADD cancelled by a DELETE in the same list is no change).
    let added: Vec<ManifestEntry> = merge_entries(entries).into_iter().filter(|e| e.kind == FileKind::Add).collect();
    Ok(Some(group(schema, added)?))
}

/// Groups entries into splits per (partition, bucket), keeping their order within each.
fn group(schema: &TableSchema, entries: Vec<ManifestEntry>) -> Result<Vec<DataSplit>> {
    let partition_types = schema.partition_types();
    let mut splits: BTreeMap<BucketKey, DataSplit> = BTreeMap::new();
    for e in entries {
        let key = BucketKey::new(e.partition.clone(), e.bucket);
        if let Some(split) = splits.get_mut(&key) {
            split.files.push(e.file);
            continue;
        }
        let partition = deserialize_row(&e.partition, &partition_types)
            .map_err(|err| Error::corrupt(format!("manifest entry of `{}`", e.file.file_name), err))?;
        splits.insert(
            key,
            DataSplit {
                partition,
                partition_bytes: e.partition,
                bucket: e.bucket,
                total_buckets: e.total_buckets,
                files: vec![e.file],
            },
        );
    }
    Ok(splits.into_values().collect())
}

/// The schema of delivered changes: `rowkind` (`+I`, `-U`, `+U`, `-D`) then the table's columns.
pub fn change_schema(schema: &TableSchema) -> SchemaRef {
    let mut fields = vec![Field::new("rowkind", ArrowType::Utf8, false)];
    fields.extend(schema.arrow_schema().fields().iter().map(|f| f.as_ref().clone()));
    Arc::new(ArrowSchema::new(fields))
}

/// A batch of [`TableRead::read_changes`] (`_VALUE_KIND` first) with the kind as text, in `schema`.
pub fn with_kind_text(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let kinds = batch
        .column(0)
        .as_primitive_opt::<Int8Type>()
        .ok_or_else(|| Error::Internal("a change batch does not start with `_VALUE_KIND`".into()))?;
    let mut text = Vec::with_capacity(kinds.len());
    for k in kinds.values().iter() {
        text.push(
            RowKind::from_byte(*k)
                .map(RowKind::short_string)
                .ok_or_else(|| Error::corrupt("a changed row", format!("unknown `_VALUE_KIND` {k}")))?,
        );
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(text))];
    columns.extend(batch.columns().iter().skip(1).cloned());
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The changes of `splits` as batches of [`change_schema`]: merged per key over the files of each split when
/// `merge` is set (see [`TableRead::read_changes`]).
pub fn read_change_splits(read: &TableRead, splits: Vec<DataSplit>, merge: bool) -> BatchStream {
    let read = read.clone();
    let schema = change_schema(read.schema());
    Box::pin(
        futures::stream::iter(splits)
            .then(move |split| {
                let read = read.clone();
                async move { read.read_changes(split, merge) }
            })
            .try_flatten()
            .and_then(move |b| futures::future::ready(with_kind_text(&b, &schema))),
    )
}

/// `incremental-between`: the changes of snapshots `start + 1 ..= end` (see the module docs), as batches of
/// [`change_schema`]. `table_name` is for the error messages.
pub async fn between(
    snapshots: &SnapshotManager,
    manifests: &ManifestStore,
    read: &TableRead,
    table_name: &str,
    start: i64,
    end: i64,
    mode: ChangeScanMode,
) -> Result<(SchemaRef, BatchStream)> {
    let schema = read.schema().clone();
    let out = change_schema(&schema);
    if start > end {
        return Err(Error::invalid(format!(
            "`{INCREMENTAL_BETWEEN}` = '{start},{end}' of table `{table_name}`: the start snapshot must not be after the end snapshot"
        )));
    }
    if start == end {
        return Ok((out, Box::pin(futures::stream::empty())));
    }
    let changelogs = ChangelogManager::of(snapshots);
    let (earliest, latest) = (snapshots.earliest_id().await?, snapshots.latest_id().await?);
    // Long-lived changelogs extend the range back.
    let first_changelog = changelogs.earliest_id().await?.filter(|c| earliest.is_some_and(|e| *c < e));
    let range = match (earliest, latest, first_changelog) {
        (Some(e), Some(l), Some(c)) => format!("changelogs {c}..{e} and snapshots {e}..={l} exist"),
        (Some(e), Some(l), None) => format!("snapshots {e}..={l} exist"),
        _ => "it has no snapshots".to_string(),
    };
    let earliest = first_changelog.or(earliest);
    let missing = |id: i64| {
        Error::NotFound(format!(
            "snapshot {id} of table `{table_name}`, named by `{INCREMENTAL_BETWEEN}` = '{start},{end}' ({range}; a start snapshot may be one before the earliest)"
        ))
    };
    match (earliest, latest) {
        (Some(e), Some(l)) => {
            if start < e - 1 {
                return Err(missing(start));
            }
            if end > l {
                return Err(missing(end));
            }
        }
        _ => return Err(missing(end)),
    }
    let files = mode.files(&schema)?;
    let mut entries: BTreeMap<BucketKey, DataSplit> = BTreeMap::new();
    for id in start + 1..=end {
        let snapshot = match snapshot_or_changelog(snapshots, &changelogs, id).await {
            Ok(s) => s,
            Err(Error::NotFound(_)) => return Err(missing(id)),
            Err(e) => return Err(e),
        };
        let Some(splits) = snapshot_change_splits(manifests, &schema, &snapshot, files).await? else { continue };
        for split in splits {
            match entries.get_mut(&split.bucket_key()) {
                Some(s) => s.files.extend(split.files),
                None => {
                    entries.insert(split.bucket_key(), split);
                }
            }
        }
    }
    let merge = files == ChangeFiles::Delta;
    Ok((out, read_change_splits(read, entries.into_values().collect(), merge)))
}

/// `incremental-between` = 'TAG1,TAG2', as Java Paimon 0.9 reads it (`IncrementalTagStartingScanner`, checked
/// against it in `tests/interop_changes.rs`): per bucket, the files of TAG2's snapshot that TAG1's does not have
/// ("after") against the files of TAG1's that TAG2's does not have ("before"), each side merged per key. A
/// bucket with no before files gives its after rows as they are, retractions included. Otherwise retractions
/// count as no row: a key only after is its after row; a key only before is a `-D` of its before row; a key
/// on both sides is its after row unless the values are the same. Append tables: the before files' rows as
/// `-D`, the after files' rows as they are. TAG2's snapshot must be after TAG1's.
pub async fn between_tags(
    snapshots: &SnapshotManager,
    manifests: &ManifestStore,
    read: &TableRead,
    table_name: &str,
    start_tag: &str,
    end_tag: &str,
) -> Result<(SchemaRef, BatchStream)> {
    let schema = read.schema().clone();
    let out = change_schema(&schema);
    let named = |e: Error| match e {
        Error::NotFound(m) => Error::NotFound(format!(
            "{m} (named by `{INCREMENTAL_BETWEEN}` = '{start_tag},{end_tag}' of table `{table_name}`)"
        )),
        other => other,
    };
    let start = snapshots.tag(start_tag).await.map_err(named)?;
    let end = snapshots.tag(end_tag).await.map_err(named)?;
    if end.id <= start.id {
        return Err(Error::invalid(format!(
            "`{INCREMENTAL_BETWEEN}` = '{start_tag},{end_tag}' of table `{table_name}`: the end tag `{end_tag}` (snapshot {}) must be after the start tag `{start_tag}` (snapshot {})",
            end.id, start.id
        )));
    }
    let before_entries = crate::scan::live_entries(manifests, &start).await?;
    let after_entries = crate::scan::live_entries(manifests, &end).await?;
    let names = |entries: &[ManifestEntry]| -> std::collections::HashSet<(BucketKey, String)> {
        entries.iter().map(|e| (BucketKey::new(e.partition.clone(), e.bucket), e.file.file_name.clone())).collect()
    };
    let (in_before, in_after) = (names(&before_entries), names(&after_entries));
    let only = |entries: Vec<ManifestEntry>, other: &std::collections::HashSet<(BucketKey, String)>| {
        entries
            .into_iter()
            .filter(|e| !other.contains(&(BucketKey::new(e.partition.clone(), e.bucket), e.file.file_name.clone())))
            .collect::<Vec<_>>()
    };
    let before: BTreeMap<BucketKey, DataSplit> = group(&schema, only(before_entries, &in_after))?
        .into_iter()
        .map(|s| (BucketKey::new(s.partition_bytes.clone(), s.bucket), s))
        .collect();
    let mut after: BTreeMap<BucketKey, DataSplit> = group(&schema, only(after_entries, &in_before))?
        .into_iter()
        .map(|s| (BucketKey::new(s.partition_bytes.clone(), s.bucket), s))
        .collect();
    let mut buckets: Vec<(Option<DataSplit>, Option<DataSplit>)> = Vec::new();
    for (k, b) in before {
        buckets.push((Some(b), after.remove(&k)));
    }
    buckets.extend(after.into_values().map(|a| (None, Some(a))));
    let mut batches = Vec::new();
    for (b, a) in buckets {
        let side = |split: Option<DataSplit>| async {
            match split {
                Some(s) => read.read_changes(s, true)?.try_collect::<Vec<RecordBatch>>().await,
                None => Ok(Vec::new()),
            }
        };
        let (b, a) = (side(b).await?, side(a).await?);
        if let Some(diff) = diff_sides(&schema, &b, &a)? {
            batches.push(with_kind_text(&diff, &out)?);
        }
    }
    Ok((out, Box::pin(futures::stream::iter(batches.into_iter().map(Ok)))))
}

/// The difference of one bucket's merged before and after rows (batches of `_VALUE_KIND` and the table's
/// columns), see [`between_tags`]; `None` when there is none.
fn diff_sides(schema: &TableSchema, before: &[RecordBatch], after: &[RecordBatch]) -> Result<Option<RecordBatch>> {
    let all: Vec<&RecordBatch> = before.iter().chain(after).collect();
    let Some(first) = all.first() else { return Ok(None) };
    let retract = |b: &RecordBatch, r: usize| {
        RowKind::from_byte(b.column(0).as_primitive::<Int8Type>().value(r)).is_some_and(RowKind::is_retract)
    };
    // (side batch index in `all`, row, kind to emit)
    let mut picks: Vec<(usize, usize, RowKind)> = Vec::new();
    if before.is_empty() {
        // Nothing left the bucket: its new files' merged rows as they are, retractions included (Java reads
        // such a bucket as plain merged files).
        for (i, b) in all.iter().enumerate() {
            for r in 0..b.num_rows() {
                let kind =
                    RowKind::from_byte(b.column(0).as_primitive::<Int8Type>().value(r)).unwrap_or(RowKind::Insert);
                picks.push((i, r, kind));
            }
        }
    } else if schema.primary_keys.is_empty() {
        for (i, b) in all.iter().enumerate() {
            let kind = if i < before.len() { Some(RowKind::Delete) } else { None };
            for r in 0..b.num_rows() {
                let k = kind.unwrap_or_else(|| {
                    RowKind::from_byte(b.column(0).as_primitive::<Int8Type>().value(r)).unwrap_or(RowKind::Insert)
                });
                picks.push((i, r, k));
            }
        }
    } else {
        let key_cols: Vec<usize> = schema
            .primary_keys
            .iter()
            .map(|k| schema.field_index(k).map(|i| i + 1).ok_or_else(|| Error::Internal(format!("key `{k}`"))))
            .collect::<Result<_>>()?;
        let sort = |cols: &[usize]| {
            arrow::row::RowConverter::new(
                cols.iter().map(|c| arrow::row::SortField::new(first.column(*c).data_type().clone())).collect(),
            )
        };
        let keys = sort(&key_cols)?;
        let value_cols: Vec<usize> = (1..first.num_columns()).collect();
        let values = sort(&value_cols)?;
        let rows_of = |b: &RecordBatch, conv: &arrow::row::RowConverter, cols: &[usize]| {
            conv.convert_columns(&cols.iter().map(|c| b.column(*c).clone()).collect::<Vec<_>>())
        };
        let key_rows: Vec<arrow::row::Rows> =
            all.iter().map(|b| rows_of(b, &keys, &key_cols)).collect::<std::result::Result<_, _>>()?;
        let value_rows: Vec<arrow::row::Rows> =
            all.iter().map(|b| rows_of(b, &values, &value_cols)).collect::<std::result::Result<_, _>>()?;
        let mut before_rows: std::collections::HashMap<&[u8], (usize, usize)> = std::collections::HashMap::new();
        for (i, rows) in key_rows.iter().enumerate().take(before.len()) {
            for r in 0..rows.num_rows() {
                before_rows.insert(rows.row(r).data(), (i, r));
            }
        }
        for (i, rows) in key_rows.iter().enumerate().skip(before.len()) {
            for r in 0..rows.num_rows() {
                let after_kind =
                    RowKind::from_byte(all[i].column(0).as_primitive::<Int8Type>().value(r)).unwrap_or(RowKind::Insert);
                if retract(all[i], r) {
                    // A retraction on the after side is no row (the key then counts as only before).
                    continue;
                }
                match before_rows.remove(rows.row(r).data()) {
                    Some((bi, br)) => {
                        let same =
                            !retract(all[bi], br) && value_rows[bi].row(br).data() == value_rows[i].row(r).data();
                        if !same {
                            picks.push((i, r, after_kind));
                        }
                    }
                    None => picks.push((i, r, after_kind)),
                }
            }
        }
        let mut gone: Vec<(usize, usize)> =
            before_rows.into_values().filter(|(bi, br)| !retract(all[*bi], *br)).collect();
        gone.sort_unstable();
        picks.extend(gone.into_iter().map(|(bi, br)| (bi, br, RowKind::Delete)));
    }
    if picks.is_empty() {
        return Ok(None);
    }
    let indices: Vec<(usize, usize)> = picks.iter().map(|(i, r, _)| (*i, *r)).collect();
    let gathered = arrow::compute::interleave_record_batch(&all, &indices)?;
    let mut columns = gathered.columns().to_vec();
    columns[0] = Arc::new(arrow::array::Int8Array::from(picks.iter().map(|p| p.2 as i8).collect::<Vec<_>>()));
    Ok(Some(RecordBatch::try_new(gathered.schema(), columns)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options parse Paimon's spellings and reject anything else with the option's name.
    #[test]
    fn options_parse_or_name_themselves() {
        assert_eq!(parse_between("3,7").unwrap(), Between::Snapshots(3, 7));
        assert_eq!(parse_between(" 0 , 2 ").unwrap(), Between::Snapshots(0, 2));
        assert_eq!(parse_between("t1, t2").unwrap(), Between::Tags("t1".into(), "t2".into()));
        for bad in ["3", "a,3", "3,", "-1,2", "1,2,3"] {
            let e = parse_between(bad).unwrap_err().to_string();
            assert!(e.contains(INCREMENTAL_BETWEEN) && e.contains(bad), "{bad}: {e}");
        }
        assert_eq!(parse_between_timestamp("1000, 2000").unwrap(), (1000, 2000));
        for bad in ["1000", "x,2000", "-5,2000", "1000,2000,3000"] {
            let e = parse_between_timestamp(bad).unwrap_err().to_string();
            assert!(e.contains(INCREMENTAL_BETWEEN_TIMESTAMP) && e.contains(bad), "{bad}: {e}");
        }
        assert_eq!("DELTA".parse::<ChangeScanMode>().unwrap(), ChangeScanMode::Delta);
        assert_eq!("changelog".parse::<ChangeScanMode>().unwrap(), ChangeScanMode::Changelog);
        assert_eq!("auto".parse::<ChangeScanMode>().unwrap(), ChangeScanMode::Auto);
        let e = "diff".parse::<ChangeScanMode>().unwrap_err().to_string();
        assert!(e.contains(INCREMENTAL_BETWEEN_SCAN_MODE) && e.contains("diff"), "{e}");
    }
}
