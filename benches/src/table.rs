//! The dyntable side: creating the benchmarks' tables, ingesting, scanning, and their shape.

use arrow::array::RecordBatch;
use dyntable_storage::compact::sorted_run_count;
use dyntable_storage::{Catalog, Identifier, TableSpec};
use dyntable_storage::{FileStoreTable, ScanFrom};
use futures::StreamExt;

use crate::BoxError;

/// (Re)creates primary-key table `name` (dropping one of that name first) with `columns` (dyntable SQL),
/// primary key `key` and `options`.
pub async fn create_pk_table(
    catalog: &Catalog,
    name: &str,
    columns: &str,
    key: &[&str],
    options: &[(&str, String)],
) -> Result<FileStoreTable, BoxError> {
    let ident = Identifier::parse(name)?;
    catalog.drop_table(&ident, true).await?;
    let spec = TableSpec {
        schema: columns.into(),
        primary_key: key.iter().map(|k| k.to_string()).collect(),
        options: options.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        ..Default::default()
    };
    Ok(catalog.create_table(&ident, &spec, false).await?)
}

/// What an ingest did: its commits and the time its final `finish()` waited for a running compaction.
#[derive(Debug, Clone, Copy)]
pub struct Ingested {
    pub commits: usize,
    pub finish_s: f64,
}

/// Upserts all batches with one writer, committing every `commit_every_rows` rows (0: once at the end), and
/// finishes the writer: waits for a compaction the last commit started and commits it, so no background
/// work of this ingest outlives the call (and the caller's timing).
pub async fn ingest(
    table: &FileStoreTable,
    batches: &[RecordBatch],
    commit_every_rows: usize,
) -> Result<Ingested, BoxError> {
    let mut writer = table.writer().await?;
    let mut since_commit = 0;
    let mut commits = 0;
    for b in batches {
        writer.write(b).await?;
        since_commit += b.num_rows();
        if commit_every_rows > 0 && since_commit >= commit_every_rows {
            writer.commit().await?;
            commits += 1;
            since_commit = 0;
        }
    }
    if since_commit > 0 || commits == 0 {
        writer.commit().await?;
        commits += 1;
    }
    let start = std::time::Instant::now();
    writer.finish().await?;
    Ok(Ingested { commits, finish_s: start.elapsed().as_secs_f64() })
}

/// A full scan of the latest snapshot (merge-on-read); returns the rows.
pub async fn scan_rows(table: &FileStoreTable) -> Result<usize, BoxError> {
    let (_, mut stream) = table.scan(&ScanFrom::Latest, None, None).await?;
    let mut rows = 0;
    while let Some(b) = stream.next().await {
        rows += b?.num_rows();
    }
    Ok(rows)
}

/// The sorted runs of every split (partition and bucket) at `from`.
pub async fn sorted_runs(table: &FileStoreTable, from: &ScanFrom) -> Result<Vec<usize>, BoxError> {
    let plan = table.plan(from, None).await?;
    Ok(plan.splits.iter().map(|s| sorted_run_count(&s.files)).collect())
}

/// The most sorted runs of any bucket at `from` (0 for an empty table).
pub async fn max_sorted_runs(table: &FileStoreTable, from: &ScanFrom) -> Result<usize, BoxError> {
    Ok(sorted_runs(table, from).await?.into_iter().max().unwrap_or(0))
}

/// The live data files of the latest snapshot: (files, bytes).
pub async fn data_files(table: &FileStoreTable) -> Result<(usize, u64), BoxError> {
    let files = table.files(&ScanFrom::Latest).await?;
    Ok((files.len(), files.iter().map(|e| e.file.file_size as u64).sum()))
}
