//! Criterion benches of the ingest and scan hot paths at a small size (200k rows over 20k keys), each next to
//! its plain Parquet baseline in the same group so the two compare as a ratio from one run:
//! - `ingest/plain_parquet_write` vs `ingest/pk_table_upsert` (write every batch, one commit, then the
//!   writer's `finish()`, which waits for a compaction the commit started);
//! - `scan/plain_parquet_read` vs `scan/pk_table_one_run` (a table whose live rows are one data file).
//!
//! The data set and both sides are those of the `dyntable-bench` binary (the macro benchmark with the issue's
//! full sizes; see docs/benchmarks.md), from `dyntable_benches`.

use std::path::Path;
use std::time::Duration;

use arrow::array::RecordBatch;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dyntable_benches::gen::{keyed_columns_sql, KeyedRows};
use dyntable_benches::plain::{read_columns, write_batches, zstd1_props};
use dyntable_benches::table::{create_pk_table, ingest, scan_rows};
use dyntable_storage::Catalog;
use dyntable_storage::{FileStoreTable, ScanFrom};

const ROWS: usize = 200_000;
const KEYS: usize = 20_000;
const BATCH_ROWS: usize = 65_536;
const SEED: u64 = 42;

fn write_plain(path: &Path, batches: &[RecordBatch]) {
    write_batches(path, batches, zstd1_props()).expect("write plain file");
}

async fn create_table(catalog: &Catalog, name: &str) -> FileStoreTable {
    create_pk_table(catalog, name, &keyed_columns_sql(), &["key"], &[("bucket", "1".to_string())])
        .await
        .expect("create table")
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = Catalog::open(dir.path().join("warehouse").to_str().expect("utf-8 path"), true).expect("catalog");
    let rows = KeyedRows::generate(ROWS, KEYS, SEED);
    let batches = rows.to_batches(None, BATCH_ROWS).expect("batches");
    let latest = rows.latest_in_key_order(KEYS);
    let latest_batches = rows.to_batches(Some(&latest), BATCH_ROWS).expect("latest batches");

    let mut group = c.benchmark_group("ingest");
    group.sample_size(10).measurement_time(Duration::from_secs(10)).warm_up_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(ROWS as u64));
    let plain_all = dir.path().join("plain-all.parquet");
    group.bench_function("plain_parquet_write", |b| b.iter(|| write_plain(&plain_all, &batches)));
    group.bench_function("pk_table_upsert", |b| {
        b.iter_batched(
            || runtime.block_on(create_table(&catalog, "bench.ingest")),
            |table| runtime.block_on(ingest(&table, &batches, 0)).expect("ingest"),
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let plain_latest = dir.path().join("plain-latest.parquet");
    write_plain(&plain_latest, &latest_batches);
    let table = runtime.block_on(async {
        let t = create_table(&catalog, "bench.scan").await;
        ingest(&t, &latest_batches, 0).await.expect("ingest");
        t
    });
    let files = runtime.block_on(table.files(&ScanFrom::Latest)).expect("files");
    assert_eq!(files.len(), 1, "the scan table holds its live rows in one data file");
    assert_eq!(read_columns(&plain_latest, None).expect("read"), latest.len());
    assert_eq!(runtime.block_on(scan_rows(&table)).expect("scan"), latest.len());

    let mut group = c.benchmark_group("scan");
    group.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(latest.len() as u64));
    group.bench_function("plain_parquet_read", |b| b.iter(|| read_columns(&plain_latest, None).expect("read")));
    group.bench_function("pk_table_one_run", |b| b.iter(|| runtime.block_on(scan_rows(&table)).expect("scan")));
    group.finish();
}

criterion_group!(ingest_scan, benches);
criterion_main!(ingest_scan);
