//! Criterion benches of the ingest and scan hot paths at a small size (200k rows over 20k keys), each next to
//! its plain Parquet baseline in the same group so the two compare as a ratio from one run:
//! - `ingest/plain_parquet_write` vs `ingest/pk_table_upsert` (write every batch, one commit);
//! - `scan/plain_parquet_read` vs `scan/pk_table_one_run` (a table whose live rows are one data file).
//!
//! The macro benchmark with the full sizes is the `dyntable-bench` binary; see docs/benchmarks.md.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringBuilder, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dyntable::{Catalog, Identifier, TableSpec};
use dyntable_storage::{FileStoreTable, ScanFrom};
use futures::StreamExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const ROWS: usize = 200_000;
const KEYS: u32 = 20_000;
const BATCH_ROWS: usize = 65_536;

/// Generated rows: `(id, key number, a, b, ts)`.
type Row = (i64, u32, f64, i64, i64);

fn generate() -> Vec<Row> {
    let mut rng = SmallRng::seed_from_u64(42);
    (0..ROWS)
        .map(|i| {
            (
                i as i64,
                rng.random_range(0..KEYS),
                rng.random::<f64>() * 1000.0,
                rng.random_range(0..1_000_000),
                1_704_067_200_000_000 + i as i64 * 1_000,
            )
        })
        .collect()
}

fn to_batches(rows: &[Row]) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("a", DataType::Float64, true),
        Field::new("b", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
    ]));
    rows.chunks(BATCH_ROWS)
        .map(|chunk| {
            let mut keys = StringBuilder::with_capacity(chunk.len(), chunk.len() * 11);
            for r in chunk {
                keys.append_value(format!("key-{:07}", r.1));
            }
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.0))),
                Arc::new(keys.finish()),
                Arc::new(Float64Array::from_iter_values(chunk.iter().map(|r| r.2))),
                Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.3))),
                Arc::new(TimestampMicrosecondArray::from_iter_values(chunk.iter().map(|r| r.4))),
            ];
            RecordBatch::try_new(schema.clone(), columns).expect("generated columns match the schema")
        })
        .collect()
}

/// The latest row of every key, in key order.
fn latest_rows(rows: &[Row]) -> Vec<Row> {
    let mut last: Vec<Option<Row>> = vec![None; KEYS as usize];
    for r in rows {
        last[r.1 as usize] = Some(*r);
    }
    last.into_iter().flatten().collect()
}

/// The writer properties of dyntable's `DataFileWriter` under default options.
fn props() -> WriterProperties {
    WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level"))).build()
}

fn write_plain(path: &Path, batches: &[RecordBatch]) {
    let file = BufWriter::with_capacity(1 << 20, File::create(path).expect("create plain file"));
    let mut w = ArrowWriter::try_new(file, batches[0].schema(), Some(props())).expect("arrow writer");
    for b in batches {
        w.write(b).expect("write batch");
    }
    w.close().expect("close plain file");
}

fn read_plain(path: &Path) -> usize {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).expect("open plain file"))
        .expect("parquet footer")
        .with_batch_size(8192)
        .build()
        .expect("reader");
    reader.map(|b| b.expect("decode").num_rows()).sum()
}

async fn create_pk_table(catalog: &Catalog, name: &str) -> FileStoreTable {
    let ident = Identifier::parse(name).expect("valid name");
    catalog.drop_table(&ident, true).await.expect("drop table");
    let spec = TableSpec {
        schema: "id BIGINT NOT NULL, key STRING NOT NULL, a DOUBLE, b BIGINT, ts TIMESTAMP(6)".into(),
        primary_key: vec!["key".into()],
        options: [("bucket".to_string(), "1".to_string())].into(),
        ..Default::default()
    };
    catalog.create_table(&ident, &spec, false).await.expect("create table")
}

async fn ingest(table: &FileStoreTable, batches: &[RecordBatch]) {
    let mut writer = table.writer().await.expect("writer");
    for b in batches {
        writer.write(b).await.expect("write");
    }
    writer.commit().await.expect("commit");
}

async fn scan(table: &FileStoreTable) -> usize {
    let (_, mut stream) = table.scan(&ScanFrom::Latest, None, None).await.expect("scan");
    let mut rows = 0;
    while let Some(b) = stream.next().await {
        rows += b.expect("scan batch").num_rows();
    }
    rows
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let catalog = Catalog::open(dir.path().join("warehouse").to_str().expect("utf-8 path"), true).expect("catalog");
    let rows = generate();
    let batches = to_batches(&rows);
    let latest = latest_rows(&rows);
    let latest_batches = to_batches(&latest);

    let mut group = c.benchmark_group("ingest");
    group.sample_size(10).measurement_time(Duration::from_secs(10)).warm_up_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(ROWS as u64));
    let plain_all = dir.path().join("plain-all.parquet");
    group.bench_function("plain_parquet_write", |b| b.iter(|| write_plain(&plain_all, &batches)));
    group.bench_function("pk_table_upsert", |b| {
        b.iter_batched(
            || runtime.block_on(create_pk_table(&catalog, "bench.ingest")),
            |table| runtime.block_on(ingest(&table, &batches)),
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let plain_latest = dir.path().join("plain-latest.parquet");
    write_plain(&plain_latest, &latest_batches);
    let table = runtime.block_on(async {
        let t = create_pk_table(&catalog, "bench.scan").await;
        ingest(&t, &latest_batches).await;
        t
    });
    let files = runtime.block_on(table.files(&ScanFrom::Latest)).expect("files");
    assert_eq!(files.len(), 1, "the scan table holds its live rows in one data file");
    assert_eq!(read_plain(&plain_latest), latest.len());
    assert_eq!(runtime.block_on(scan(&table)), latest.len());

    let mut group = c.benchmark_group("scan");
    group.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(latest.len() as u64));
    group.bench_function("plain_parquet_read", |b| b.iter(|| read_plain(&plain_latest)));
    group.bench_function("pk_table_one_run", |b| b.iter(|| runtime.block_on(scan(&table))));
    group.finish();
}

criterion_group!(ingest_scan, benches);
criterion_main!(ingest_scan);
