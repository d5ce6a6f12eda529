//! The compaction job: picks with the universal compaction policy of `dyntable-compaction` (pure, no I/O),
//! then does the I/O: upgrades files in metadata, or merges the picked sorted runs with the table's merge
//! engine (streaming, memory bounded) into the output level, rolled at `target-file-size`, dropping
//! retractions only where no older data can sit below. The result is a `CommitMessage` of
//! compact-before/after files, committed as a `COMPACT` snapshot.
//!
//! Layering: below `table` and the [scheduler](super::scheduler); it works on one bucket's
//! [`DataSplit`] and never sees a table handle.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int8Array, RecordBatch};
use arrow::compute;
use arrow::row::{RowConverter, SortField};
use dyntable_compaction::{
    plan_compaction, CompactAction, CompactionOptions, CompactionTrigger, FileInfo, Levels, UniversalCompaction,
};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::binary_row::deserialize_row;
use crate::datafile::{bucket_dir, file_schema, DataFileWriter};
use crate::error::{Error, Result};
use crate::io::FileIO;
use crate::manifest::DataFileMeta;
use crate::options::ChangelogProducer;
use crate::read::TableRead;
use crate::row_kind::RowKind;
use crate::scan::DataSplit;
use crate::schema::TableSchema;
use crate::write::CommitMessage;

/// Bytes and files one compaction (or many, summed) moved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionMetrics {
    pub compactions: u64,
    pub bytes_read: u64,
    /// Bytes written, per output level.
    pub bytes_written_by_level: BTreeMap<i32, u64>,
    pub files_rewritten: u64,
    pub files_written: u64,
    pub files_upgraded: u64,
}

impl CompactionMetrics {
    pub fn add(&mut self, other: &CompactionMetrics) {
        self.compactions += other.compactions;
        self.bytes_read += other.bytes_read;
        for (l, b) in &other.bytes_written_by_level {
            *self.bytes_written_by_level.entry(*l).or_default() += b;
        }
        self.files_rewritten += other.files_rewritten;
        self.files_written += other.files_written;
        self.files_upgraded += other.files_upgraded;
    }
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written_by_level.values().sum()
    }
}

/// Encodes keys so that byte order is the table's key order (what the picker compares).
pub struct KeyEncoder {
    converter: RowConverter,
    types: Vec<crate::types::DataType>,
}

impl KeyEncoder {
    pub fn new(schema: &TableSchema) -> Result<Self> {
        let types: Vec<_> = schema.key_fields().iter().map(|f| f.data_type.clone()).collect();
        let converter = RowConverter::new(types.iter().map(|t| SortField::new(t.to_arrow())).collect())?;
        Ok(KeyEncoder { converter, types })
    }

    /// The sortable bytes of a serialized BinaryRow key.
    pub fn encode(&self, binary_row: &[u8], file: &str) -> Result<Vec<u8>> {
        let datums = deserialize_row(binary_row, &self.types).map_err(|e| Error::corrupt(file, format!("key: {e}")))?;
        let arrays: Vec<ArrayRef> =
            datums.iter().zip(&self.types).map(|(d, t)| d.to_array(t)).collect::<Result<_>>()?;
        let rows = self.converter.convert_columns(&arrays)?;
        Ok(rows.row(0).as_ref().to_vec())
    }
}

fn file_info(f: &DataFileMeta, keys: &KeyEncoder) -> Result<FileInfo<Vec<u8>>> {
    Ok(FileInfo {
        name: f.file_name.clone(),
        size_bytes: f.file_size.max(0) as u64,
        level: f.level.max(0) as u32,
        min_key: keys.encode(&f.min_key, &f.file_name)?,
        max_key: keys.encode(&f.max_key, &f.file_name)?,
        max_sequence_number: f.max_sequence_number,
        delete_row_count: f.delete_row_count.map(|d| d.max(0) as u64),
    })
}

/// Builds the LSM levels of one bucket's live files.
pub fn levels_of(files: &[DataFileMeta], schema: &TableSchema, options: &CompactionOptions) -> Result<Levels<Vec<u8>>> {
    let keys = KeyEncoder::new(schema)?;
    let infos = files.iter().map(|f| file_info(f, &keys)).collect::<Result<Vec<_>>>()?;
    let num_levels = options.num_levels.max(files.iter().map(|f| f.level as u32 + 1).max().unwrap_or(0));
    Levels::new(infos, num_levels).map_err(|e| Error::corrupt("bucket levels", e))
}

/// Sorted runs at read time of one bucket: each level-0 file plus each non-empty level >= 1.
pub fn sorted_run_count(files: &[DataFileMeta]) -> usize {
    let level0 = files.iter().filter(|f| f.level == 0).count();
    let mut higher: Vec<i32> = files.iter().filter(|f| f.level > 0).map(|f| f.level).collect();
    higher.sort();
    higher.dedup();
    level0 + higher.len()
}

/// Live files and bytes per level over some splits.
pub fn files_by_level(splits: &[DataSplit]) -> BTreeMap<i32, (u64, u64)> {
    let mut levels: BTreeMap<i32, (u64, u64)> = BTreeMap::new();
    for f in splits.iter().flat_map(|s| &s.files) {
        let e = levels.entry(f.level).or_default();
        e.0 += 1;
        e.1 += f.file_size.max(0) as u64;
    }
    levels
}

/// Compacts one bucket. Returns `None` when the policy picks nothing.
pub struct BucketCompactor {
    schema: Arc<TableSchema>,
    options: CompactionOptions,
    read: TableRead,
    writer: DataFileWriter,
    changelog_writer: DataFileWriter,
    producer: ChangelogProducer,
    row_deduplicate: bool,
}

impl BucketCompactor {
    pub fn new(io: FileIO, schema: Arc<TableSchema>) -> Result<Self> {
        let options =
            CompactionOptions::from_table_options(&schema.options).map_err(|e| Error::invalid(e.to_string()))?;
        let core = schema.options()?;
        let read = TableRead::new(io.clone(), schema.clone(), None, None)?;
        let uuid = io.seams().new_id();
        let (producer, row_deduplicate) = (core.changelog_producer, core.changelog_row_deduplicate);
        let writer = DataFileWriter::new(io.clone(), schema.clone(), core, &uuid, Arc::new(AtomicU64::new(0)));
        let changelog_writer = writer.for_changelog(&uuid);
        Ok(BucketCompactor { schema, options, read, writer, changelog_writer, producer, row_deduplicate })
    }

    pub fn options(&self) -> &CompactionOptions {
        &self.options
    }

    pub fn schema(&self) -> &Arc<TableSchema> {
        &self.schema
    }

    pub async fn compact(&self, split: &DataSplit, full: bool) -> Result<Option<(CommitMessage, CompactionMetrics)>> {
        if self.schema.primary_keys.is_empty() {
            return Err(Error::invalid("compaction of append tables is not supported yet"));
        }
        // Rewriting a file of a newer schema in this older one would lose the columns added since.
        if let Some(newer) = split.files.iter().find(|f| f.schema_id > self.schema.id) {
            return Err(Error::SchemaMismatch(format!(
                "cannot compact bucket {} with schema {}: data file `{}` was written with the newer schema {} and would lose its columns; open the table again to compact with the latest schema",
                split.bucket, self.schema.id, newer.file_name, newer.schema_id
            )));
        }
        let levels = levels_of(&split.files, &self.schema, &self.options)?;
        let trigger = if full { CompactionTrigger::Full } else { CompactionTrigger::Normal };
        let strategy = UniversalCompaction::from_options(&self.options);
        let Some(plan) = plan_compaction(&strategy, &levels, &self.options, trigger) else { return Ok(None) };
        let by_name: HashMap<&str, &DataFileMeta> = split.files.iter().map(|f| (f.file_name.as_str(), f)).collect();
        let meta = |name: &str| -> Result<DataFileMeta> {
            by_name
                .get(name)
                .map(|m| (*m).clone())
                .ok_or_else(|| Error::Internal(format!("picked unknown file `{name}`")))
        };
        let dir =
            bucket_dir(&self.schema, &split.partition, split.bucket, &self.schema.options()?.partition_default_name);
        let mut before = Vec::new();
        let mut after = Vec::new();
        let mut metrics = CompactionMetrics { compactions: 1, ..Default::default() };
        for action in &plan.actions {
            match action {
                CompactAction::Unchanged { .. } => {}
                CompactAction::Upgrade { file, output_level } => {
                    let m = meta(&file.name)?;
                    after.push(DataFileMeta { level: *output_level as i32, ..m.clone() });
                    before.push(m);
                    metrics.files_upgraded += 1;
                }
                CompactAction::Rewrite { sections, output_level, drop_deletes } => {
                    let mut out = self.writer.rolling(&dir, *output_level as i32, 1);
                    for section in sections {
                        // Runs of a section, newest first (level 0 first, then ascending level).
                        let mut runs: Vec<(u32, i64, VecDeque<DataFileMeta>)> = Vec::new();
                        for run in section {
                            let files: VecDeque<DataFileMeta> =
                                run.files.iter().map(|f| meta(&f.name)).collect::<Result<_>>()?;
                            for f in &files {
                                metrics.bytes_read += f.file_size as u64;
                                metrics.files_rewritten += 1;
                                before.push(f.clone());
                            }
                            let level = run.files.first().map(|f| f.level).unwrap_or(0);
                            let seq = run.files.iter().map(|f| f.max_sequence_number).max().unwrap_or(0);
                            runs.push((level, seq, files));
                        }
                        runs.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
                        let runs: Vec<VecDeque<DataFileMeta>> = runs.into_iter().map(|r| r.2).collect();
                        let mut stream =
                            self.read.merge_runs(split.clone(), runs, self.read.full_columns(), !*drop_deletes)?;
                        while let Some(batch) = stream.try_next().await? {
                            out.write(&batch).await?;
                        }
                    }
                    for f in out.close().await? {
                        *metrics.bytes_written_by_level.entry(f.level).or_default() += f.file_size as u64;
                        metrics.files_written += 1;
                        after.push(f);
                    }
                }
            }
        }
        if before.is_empty() && after.is_empty() {
            return Ok(None);
        }
        let mut compact_changelog = Vec::new();
        let max_level = levels.max_level() as i32;
        // (A rewrite into the max level may write no file at all, when every key of the bucket was deleted.)
        let writes_max_level = plan.actions.iter().any(|a| match a {
            CompactAction::Upgrade { output_level, .. } | CompactAction::Rewrite { output_level, .. } => {
                *output_level as i32 == max_level
            }
            CompactAction::Unchanged { .. } => false,
        });
        if self.producer == ChangelogProducer::FullCompaction && writes_max_level {
            // A full compaction (only one that takes every run writes the max level): its changelog is the
            // difference between the previous full compaction's result (the max level before) and this one's.
            let replaced: std::collections::HashSet<&str> = before.iter().map(|f| f.file_name.as_str()).collect();
            let old: Vec<DataFileMeta> = split.files.iter().filter(|f| f.level == max_level).cloned().collect();
            let new: Vec<DataFileMeta> = old
                .iter()
                .filter(|f| !replaced.contains(f.file_name.as_str()))
                .chain(after.iter().filter(|f| f.level == max_level))
                .cloned()
                .collect();
            let rows = self.full_compaction_changes(split, &old, &new, max_level).await?;
            if rows.num_rows() > 0 {
                compact_changelog = self.changelog_writer.write(&dir, &rows, 0, 1).await?;
            }
        }
        let msg = CommitMessage {
            partition: split.partition.clone(),
            bucket: split.bucket,
            total_buckets: split.total_buckets,
            new_files: Vec::new(),
            compact_before: before,
            compact_after: after,
            new_changelog: Vec::new(),
            compact_changelog,
        };
        Ok(Some((msg, metrics)))
    }
}

impl BucketCompactor {
    /// The merged rows (key-value layout, retractions left out) of `files` of `split`.
    async fn read_run(&self, split: &DataSplit, files: &[DataFileMeta]) -> Result<RecordBatch> {
        self.read_merged(split, files, false).await
    }

    async fn read_merged(&self, split: &DataSplit, files: &[DataFileMeta], retractions: bool) -> Result<RecordBatch> {
        let schema = file_schema(&self.schema);
        if files.is_empty() {
            return Ok(RecordBatch::new_empty(schema));
        }
        let runs = self.read.sorted_runs(files)?;
        let batches: Vec<RecordBatch> =
            self.read.merge_runs(split.clone(), runs, self.read.full_columns(), retractions)?.try_collect().await?;
        let batches = batches
            .into_iter()
            .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(compute::concat_batches(&schema, &batches)?)
    }

    /// `full-compaction` changes between two results of full compactions (`old`, `new`: the max level's files),
    /// in key order, as Java's full-compaction changelog: `+I` for a new key, `-D` with the old row for a key
    /// that is gone, `-U` old / `+U` new for a key whose row changed, and for a key written since the last full
    /// compaction (in a file of `split` below the max level) whose row is unchanged unless
    /// `changelog-producer.row-deduplicate` is set.
    async fn full_compaction_changes(
        &self,
        split: &DataSplit,
        old: &[DataFileMeta],
        new: &[DataFileMeta],
        max_level: i32,
    ) -> Result<RecordBatch> {
        let old = self.read_run(split, old).await?;
        let new = self.read_run(split, new).await?;
        let written: Vec<DataFileMeta> = split.files.iter().filter(|f| f.level < max_level).cloned().collect();
        let touched = if self.row_deduplicate || written.is_empty() {
            RecordBatch::new_empty(file_schema(&self.schema))
        } else {
            self.read_merged(split, &written, true).await?
        };
        let nkeys = self.schema.key_fields().len();
        let converter = RowConverter::new(
            self.schema.key_fields().iter().map(|f| SortField::new(f.data_type.to_arrow())).collect(),
        )?;
        let old_keys = converter.convert_columns(&old.columns()[..nkeys])?;
        let new_keys = converter.convert_columns(&new.columns()[..nkeys])?;
        let touched_keys = converter.convert_columns(&touched.columns()[..nkeys])?;
        let touched: std::collections::HashSet<&[u8]> =
            (0..touched_keys.num_rows()).map(|i| touched_keys.row(i).data()).collect();
        let equal = |i: usize, j: usize| {
            (nkeys + 2..old.num_columns())
                .all(|c| old.column(c).slice(i, 1).to_data() == new.column(c).slice(j, 1).to_data())
        };
        // (slot 0 = old, 1 = new, row, kind)
        let mut picks: Vec<(usize, usize, RowKind)> = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < old.num_rows() || j < new.num_rows() {
            let order = match (i < old.num_rows(), j < new.num_rows()) {
                (true, true) => old_keys.row(i).cmp(&new_keys.row(j)),
                (true, false) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match order {
                std::cmp::Ordering::Less => {
                    picks.push((0, i, RowKind::Delete));
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    picks.push((1, j, RowKind::Insert));
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    if !equal(i, j) || touched.contains(new_keys.row(j).data()) {
                        picks.push((0, i, RowKind::UpdateBefore));
                        picks.push((1, j, RowKind::UpdateAfter));
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        let gather: Vec<(usize, usize)> = picks.iter().map(|(s, r, _)| (*s, *r)).collect();
        let out = compute::interleave_record_batch(&[&old, &new], &gather)?;
        let mut cols = out.columns().to_vec();
        cols[nkeys + 1] = Arc::new(Int8Array::from_iter_values(picks.iter().map(|(_, _, k)| *k as i8)));
        Ok(RecordBatch::try_new(out.schema(), cols)?)
    }
}
