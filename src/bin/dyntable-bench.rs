//! `dyntable-bench`: the macro benchmark of the targets, measured in one process and one run so the
//! figures compare as ratios on a noisy shared machine.
//!
//! On one generated data set (`--rows` rows over `--keys` distinct primary keys; columns `id`, `key`, `a`,
//! `b`, `ts`) it measures:
//! - plain write: the same batches through arrow-rs `ArrowWriter` into one Parquet file, with the writer
//!   properties dyntable's `DataFileWriter` uses (zstd level 1);
//! - ingest: upserts into a primary-key table (`key`, `bucket = 1`, default options), one commit at the end,
//!   and again with a commit every `--commit-every-rows` rows;
//! - scan: a full scan of a table holding the live rows as exactly one sorted run (one data file), against
//!   reading the same rows from a plain Parquet file with `ParquetRecordBatchReaderBuilder`; for information
//!   also the async object_store reader on that file and the merge-on-read scan of the multi-file ingest table.
//!
//! All batches are generated before any timing starts. Beside the times it reports bytes written, files,
//! write amplification (table data bytes per plain Parquet byte) and peak RSS (`VmHWM`).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringBuilder, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use clap::Parser;
use dyntable::{Catalog, Identifier, TableSpec};
use dyntable_storage::{FileStoreTable, ScanFrom};
use futures::StreamExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

#[derive(Parser, Debug)]
#[command(
    name = "dyntable-bench",
    about = "Ingest and scan throughput of dyntable against plain Parquet, as ratios from one run"
)]
struct Args {
    /// Rows to ingest.
    #[arg(long, default_value_t = 10_000_000)]
    rows: usize,
    /// Distinct primary keys the rows are drawn from.
    #[arg(long, default_value_t = 1_000_000)]
    keys: usize,
    /// Rows per generated Arrow batch.
    #[arg(long, default_value_t = 65_536)]
    batch_rows: usize,
    /// Working directory (warehouse and plain files); default a fresh directory under /tmp, removed at the end.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Times each measurement is repeated (interleaved); the median is reported.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Times each scan measurement is repeated (scans are short, so they are repeated more); the median is reported.
    #[arg(long, default_value_t = 5)]
    scan_repeat: usize,
    /// Also ingest with a commit every this many rows (0 skips that measurement).
    #[arg(long, default_value_t = 1_000_000)]
    commit_every_rows: usize,
    /// Seed of the data generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Writes the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keeps the working directory when it was created by the benchmark.
    #[arg(long)]
    keep: bool,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

use dyntable_compaction::sim::SplitMix64;

const TABLE_COLUMNS_SQL: &str = "id BIGINT NOT NULL, key STRING NOT NULL, a DOUBLE, b BIGINT, ts TIMESTAMP(6)";
const TS_BASE_MICROS: i64 = 1_704_067_200_000_000;

fn arrow_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("a", DataType::Float64, true),
        Field::new("b", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
    ]))
}

/// One generated row's values; the key is kept as its number so the latest rows can be found cheaply.
struct Rows {
    ids: Vec<i64>,
    keys: Vec<u32>,
    a: Vec<f64>,
    b: Vec<i64>,
    ts: Vec<i64>,
}

fn generate(rows: usize, keys: usize, seed: u64) -> Rows {
    let mut rng = SplitMix64::new(seed);
    let mut out = Rows {
        ids: Vec::with_capacity(rows),
        keys: Vec::with_capacity(rows),
        a: Vec::with_capacity(rows),
        b: Vec::with_capacity(rows),
        ts: Vec::with_capacity(rows),
    };
    for i in 0..rows {
        out.ids.push(i as i64);
        out.keys.push((rng.next_u64() % keys as u64) as u32);
        out.a.push((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 1000.0);
        out.b.push((rng.next_u64() % 1_000_000) as i64);
        out.ts.push(TS_BASE_MICROS + i as i64 * 1_000);
    }
    out
}

/// Builds Arrow batches of `batch_rows` from the rows at `order` (all rows in order when `None`).
fn to_batches(rows: &Rows, order: Option<&[u32]>, batch_rows: usize) -> Result<Vec<RecordBatch>, BoxError> {
    let schema = arrow_schema();
    let n = order.map(|o| o.len()).unwrap_or(rows.ids.len());
    let mut out = Vec::with_capacity(n.div_ceil(batch_rows));
    let mut start = 0;
    while start < n {
        let end = (start + batch_rows).min(n);
        let idx: Vec<usize> = match order {
            Some(o) => o[start..end].iter().map(|i| *i as usize).collect(),
            None => (start..end).collect(),
        };
        let mut keys = StringBuilder::with_capacity(idx.len(), idx.len() * 11);
        for &i in &idx {
            keys.append_value(format!("key-{:07}", rows.keys[i]));
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(idx.iter().map(|i| rows.ids[*i]))),
            Arc::new(keys.finish()),
            Arc::new(Float64Array::from_iter_values(idx.iter().map(|i| rows.a[*i]))),
            Arc::new(Int64Array::from_iter_values(idx.iter().map(|i| rows.b[*i]))),
            Arc::new(TimestampMicrosecondArray::from_iter_values(idx.iter().map(|i| rows.ts[*i]))),
        ];
        out.push(RecordBatch::try_new(schema.clone(), columns)?);
        start = end;
    }
    Ok(out)
}

/// The latest row of every key, in key order: what the table holds after the upserts.
fn latest_rows_in_key_order(rows: &Rows, keys: usize) -> Vec<u32> {
    let mut last: Vec<u32> = vec![u32::MAX; keys];
    for (i, k) in rows.keys.iter().enumerate() {
        last[*k as usize] = i as u32;
    }
    last.into_iter().filter(|i| *i != u32::MAX).collect()
}

/// The writer properties of dyntable's `DataFileWriter` under default table options (zstd level 1).
fn plain_writer_props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("zstd level 1 is valid")))
        .build()
}

fn write_plain(path: &Path, batches: &[RecordBatch]) -> Result<u64, BoxError> {
    let file = File::create(path)?;
    let mut writer =
        ArrowWriter::try_new(BufWriter::with_capacity(1 << 20, file), batches[0].schema(), Some(plain_writer_props()))?;
    for b in batches {
        writer.write(b)?;
    }
    writer.close()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Reads a Parquet file with the synchronous arrow-rs reader at dyntable's read batch size.
fn read_plain(path: &Path) -> Result<usize, BoxError> {
    read_plain_columns(path, None)
}

/// Reads the named top-level columns (all when `None`) of a Parquet file with the synchronous reader.
fn read_plain_columns(path: &Path, columns: Option<&[&str]>) -> Result<usize, BoxError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?.with_batch_size(8192);
    let builder = match columns {
        None => builder,
        Some(names) => {
            let roots: Vec<usize> = builder
                .schema()
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| names.contains(&f.name().as_str()))
                .map(|(i, _)| i)
                .collect();
            let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), roots);
            builder.with_projection(mask)
        }
    };
    let reader = builder.build()?;
    let mut rows = 0;
    for b in reader {
        rows += b?.num_rows();
    }
    Ok(rows)
}

/// Reads a Parquet file through `ParquetObjectReader` on a local object store, the way dyntable opens data files.
async fn read_plain_async(path: &Path) -> Result<usize, BoxError> {
    use object_store::ObjectStoreExt;
    let abs = std::fs::canonicalize(path)?;
    let store: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::local::LocalFileSystem::new());
    let location = object_store::path::Path::from_absolute_path(&abs)?;
    let size = store.head(&location).await?.size;
    #[allow(deprecated)]
    let reader = parquet::arrow::async_reader::ParquetObjectReader::new(store, location).with_file_size(size);
    let mut stream =
        parquet::arrow::ParquetRecordBatchStreamBuilder::new(reader).await?.with_batch_size(8192).build()?;
    let mut rows = 0;
    while let Some(b) = stream.next().await {
        rows += b?.num_rows();
    }
    Ok(rows)
}

async fn create_pk_table(catalog: &Catalog, name: &str) -> Result<FileStoreTable, BoxError> {
    let ident = Identifier::parse(name)?;
    catalog.drop_table(&ident, true).await?;
    let spec = TableSpec {
        schema: TABLE_COLUMNS_SQL.into(),
        primary_key: vec!["key".into()],
        options: [("bucket".to_string(), "1".to_string())].into(),
        ..Default::default()
    };
    Ok(catalog.create_table(&ident, &spec, false).await?)
}

/// Upserts all batches, committing every `commit_every_rows` rows (0: once at the end).
async fn ingest(table: &FileStoreTable, batches: &[RecordBatch], commit_every_rows: usize) -> Result<usize, BoxError> {
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
    Ok(commits)
}

async fn scan_table(table: &FileStoreTable) -> Result<usize, BoxError> {
    let (_, mut stream) = table.scan(&ScanFrom::Latest, None, None).await?;
    let mut rows = 0;
    while let Some(b) = stream.next().await {
        rows += b?.num_rows();
    }
    Ok(rows)
}

struct TableFiles {
    files: usize,
    /// Path of the first data file relative to the table directory.
    first_file: Option<String>,
    sorted_runs: usize,
    data_bytes: u64,
    rows: i64,
}

async fn table_files(table: &FileStoreTable) -> Result<TableFiles, BoxError> {
    let entries = table.files(&ScanFrom::Latest).await?;
    let level0 = entries.iter().filter(|e| e.file.level == 0).count();
    let mut higher: Vec<i32> = entries.iter().map(|e| e.file.level).filter(|l| *l > 0).collect();
    higher.sort();
    higher.dedup();
    Ok(TableFiles {
        files: entries.len(),
        first_file: entries.first().map(|e| format!("bucket-{}/{}", e.bucket, e.file.file_name)),
        sorted_runs: level0 + higher.len(),
        data_bytes: entries.iter().map(|e| e.file.file_size as u64).sum(),
        rows: entries.iter().map(|e| e.file.row_count).sum(),
    })
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(path) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// A /proc/self/status field in KiB (`VmHWM` = peak RSS, `VmRSS` = current RSS).
fn proc_status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).expect("durations are not NaN"));
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn timed<T>(f: impl FnOnce() -> Result<T, BoxError>) -> Result<(T, f64), BoxError> {
    let start = Instant::now();
    let v = f()?;
    Ok((v, start.elapsed().as_secs_f64()))
}

async fn timed_async<T>(f: impl std::future::Future<Output = Result<T, BoxError>>) -> Result<(T, f64), BoxError> {
    let start = Instant::now();
    let v = f.await?;
    Ok((v, start.elapsed().as_secs_f64()))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    if args.rows == 0 || args.keys == 0 || args.batch_rows == 0 || args.repeat == 0 || args.scan_repeat == 0 {
        return Err("--rows, --keys, --batch-rows, --repeat and --scan-repeat must be positive".into());
    }
    if args.keys > u32::MAX as usize || args.rows >= u32::MAX as usize {
        return Err("--rows and --keys must be below 2^32".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<(), BoxError> {
    let (dir, remove_dir) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("dyntable-bench-{}", std::process::id())), !args.keep),
    };
    std::fs::create_dir_all(&dir)?;
    let result = run_in(&args, &dir).await;
    if remove_dir {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn run_in(args: &Args, dir: &Path) -> Result<(), BoxError> {
    eprintln!(
        "dyntable-bench: {} rows, {} keys, {} rows per batch, repeat {}, dir {}",
        args.rows,
        args.keys,
        args.batch_rows,
        args.repeat,
        dir.display()
    );

    // Generate everything before timing.
    let gen_start = Instant::now();
    let rows = generate(args.rows, args.keys, args.seed);
    let batches = to_batches(&rows, None, args.batch_rows)?;
    let latest_order = latest_rows_in_key_order(&rows, args.keys);
    let latest = to_batches(&rows, Some(&latest_order), args.batch_rows)?;
    drop(rows);
    let live_rows = latest_order.len();
    drop(latest_order);
    let input_arrow_bytes: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
    let rss_after_generate_kib = proc_status_kib("VmRSS:").unwrap_or(0);
    eprintln!(
        "generated {} batches ({:.0} MiB in memory) and {} live rows in {:.1}s",
        batches.len(),
        mib(input_arrow_bytes as u64),
        live_rows,
        gen_start.elapsed().as_secs_f64()
    );

    let warehouse = dir.join("warehouse");
    let catalog = Catalog::open(warehouse.to_str().ok_or("working directory is not UTF-8")?, true)?;
    let plain_all = dir.join("plain-all.parquet");
    let plain_latest = dir.join("plain-latest.parquet");

    // Ingest side, interleaved per repetition: plain write, upsert ingest with one commit, with many commits.
    let (mut plain_write_s, mut ingest_s, mut ingest_commits_s) = (Vec::new(), Vec::new(), Vec::new());
    let mut plain_bytes = 0;
    let mut ingest_files = None;
    let mut ingest_commits_files = None;
    let mut ingest_dir_bytes = 0;
    let mut commits_made = 0;
    for r in 0..args.repeat {
        let (bytes, s) = timed(|| write_plain(&plain_all, &batches))?;
        plain_bytes = bytes;
        plain_write_s.push(s);
        eprintln!("[{r}] plain write: {s:.2}s");

        let table = create_pk_table(&catalog, "bench.ingest").await?;
        let (_, s) = timed_async(ingest(&table, &batches, 0)).await?;
        ingest_s.push(s);
        let files = table_files(&table).await?;
        ingest_dir_bytes = dir_bytes(&warehouse.join("bench.db").join("ingest"));
        eprintln!("[{r}] ingest, one commit: {s:.2}s, {} files", files.files);
        ingest_files = Some(files);

        if args.commit_every_rows > 0 {
            let table = create_pk_table(&catalog, "bench.ingest_commits").await?;
            let (commits, s) = timed_async(ingest(&table, &batches, args.commit_every_rows)).await?;
            commits_made = commits;
            ingest_commits_s.push(s);
            let files = table_files(&table).await?;
            eprintln!("[{r}] ingest, {commits} commits: {s:.2}s, {} files", files.files);
            ingest_commits_files = Some(files);
            // Keep only the one-commit table's files around for the multi-file scan below.
            catalog.drop_table(&Identifier::parse("bench.ingest_commits")?, true).await?;
        }
    }
    let ingest_files = ingest_files.expect("repeat >= 1");
    drop(batches);

    // Scan side: one table whose live rows are exactly one sorted run, and the same rows as plain Parquet.
    let plain_latest_bytes = write_plain(&plain_latest, &latest)?;
    let scan_table_handle = create_pk_table(&catalog, "bench.scan").await?;
    ingest(&scan_table_handle, &latest, 0).await?;
    drop(latest);
    let scan_files = table_files(&scan_table_handle).await?;
    if scan_files.files != 1 || scan_files.sorted_runs != 1 {
        return Err(format!(
            "the scan table should hold one file in one sorted run, it holds {} files in {} runs",
            scan_files.files, scan_files.sorted_runs
        )
        .into());
    }
    let ingest_table = catalog.get_table(&Identifier::parse("bench.ingest")?).await?;
    // The scan table's one data file, read directly, splits the scan's cost into extra columns and read path.
    let scan_data_file =
        warehouse.join("bench.db").join("scan").join(scan_files.first_file.as_deref().expect("one file"));
    const VALUE_COLUMNS_AND_KIND: &[&str] = &["_VALUE_KIND", "id", "key", "a", "b", "ts"];

    let (mut plain_read_s, mut scan_s, mut plain_read_async_s, mut scan_multi_s) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut file_all_s, mut file_values_s) = (Vec::new(), Vec::new());
    let mut scan_multi_rows = 0;
    for r in 0..args.scan_repeat {
        let (n, s) = timed(|| read_plain(&plain_latest))?;
        assert_eq!(n, live_rows, "plain read returns every live row");
        plain_read_s.push(s);
        let (n, s) = timed_async(scan_table(&scan_table_handle)).await?;
        assert_eq!(n, live_rows, "the one-run scan returns every live row");
        scan_s.push(s);
        let (n, s) = timed_async(read_plain_async(&plain_latest)).await?;
        assert_eq!(n, live_rows, "the async plain read returns every live row");
        plain_read_async_s.push(s);
        let (n, s) = timed_async(scan_table(&ingest_table)).await?;
        scan_multi_rows = n;
        scan_multi_s.push(s);
        let (n, s) = timed(|| read_plain_columns(&scan_data_file, None))?;
        assert_eq!(n, live_rows, "the table's data file holds every live row");
        file_all_s.push(s);
        let (_, s) = timed(|| read_plain_columns(&scan_data_file, Some(VALUE_COLUMNS_AND_KIND)))?;
        file_values_s.push(s);
        eprintln!(
            "[{r}] plain read {:.3}s, scan {:.3}s, plain async read {:.3}s, multi-run scan {:.3}s, table file all columns {:.3}s, table file values+kind {:.3}s",
            plain_read_s[r], scan_s[r], plain_read_async_s[r], scan_multi_s[r], file_all_s[r], s
        );
    }
    if scan_multi_rows != live_rows {
        return Err(format!("the multi-run scan returned {scan_multi_rows} rows, expected {live_rows}").into());
    }

    let peak_rss_kib = proc_status_kib("VmHWM:").unwrap_or(0);
    let rows_total = args.rows as f64;
    let live = live_rows as f64;
    let plain_write = median(plain_write_s.clone());
    let ingest_one = median(ingest_s.clone());
    let ingest_many = (!ingest_commits_s.is_empty()).then(|| median(ingest_commits_s.clone()));
    let plain_read = median(plain_read_s.clone());
    let scan = median(scan_s.clone());
    let plain_read_async = median(plain_read_async_s.clone());
    let scan_multi = median(scan_multi_s.clone());
    let file_all = median(file_all_s.clone());
    let file_values = median(file_values_s.clone());
    let ingest_ratio = plain_write / ingest_one;
    let scan_ratio = plain_read / scan;

    println!();
    println!(
        "dyntable-bench: {} rows, {} keys ({} live), {} rows/batch, median of {} ingest run(s) and {} scan run(s)",
        args.rows, args.keys, live_rows, args.batch_rows, args.repeat, args.scan_repeat
    );
    println!("{:<48} {:>9} {:>13} {:>7} {:>10}", "measurement", "seconds", "rows/s", "files", "MiB");
    println!(
        "{:<48} {:>9.3} {:>13.0} {:>7} {:>10.1}",
        "plain parquet write (ArrowWriter, zstd 1)",
        plain_write,
        rows_total / plain_write,
        1,
        mib(plain_bytes)
    );
    println!(
        "{:<48} {:>9.3} {:>13.0} {:>7} {:>10.1}",
        "ingest into pk table, 1 commit",
        ingest_one,
        rows_total / ingest_one,
        ingest_files.files,
        mib(ingest_files.data_bytes)
    );
    if let (Some(s), Some(f)) = (ingest_many, &ingest_commits_files) {
        println!(
            "{:<48} {:>9.3} {:>13.0} {:>7} {:>10.1}",
            format!("ingest into pk table, {commits_made} commits"),
            s,
            rows_total / s,
            f.files,
            mib(f.data_bytes)
        );
    }
    println!(
        "{:<48} {:>9.3} {:>13.0} {:>7} {:>10.1}",
        "plain parquet read (sync reader)",
        plain_read,
        live / plain_read,
        1,
        mib(plain_latest_bytes)
    );
    println!(
        "{:<48} {:>9.3} {:>13.0} {:>7} {:>10.1}",
        "scan pk table, one sorted run",
        scan,
        live / scan,
        scan_files.files,
        mib(scan_files.data_bytes)
    );
    println!(
        "{:<48} {:>9.3} {:>13.0} {:>7} {:>10.1}",
        "plain parquet read (async object_store)",
        plain_read_async,
        live / plain_read_async,
        1,
        mib(plain_latest_bytes)
    );
    println!(
        "{:<48} {:>9.3} {:>13.0} {:>7} {:>10.1}",
        format!("scan ingest table ({} runs, merge)", ingest_files.sorted_runs),
        scan_multi,
        live / scan_multi,
        ingest_files.files,
        mib(ingest_files.data_bytes)
    );
    println!(
        "{:<48} {:>9.3} {:>13.0} {:>7} {:>10.1}",
        "table's data file, all 8 columns (sync reader)",
        file_all,
        live / file_all,
        1,
        mib(scan_files.data_bytes)
    );
    println!(
        "{:<48} {:>9.3} {:>13.0} {:>7} {:>10.1}",
        "table's data file, values + kind (sync reader)",
        file_values,
        live / file_values,
        1,
        mib(scan_files.data_bytes)
    );
    println!();
    println!(
        "ingest / plain write: {:.2}x (target >= 0.70x) {}",
        ingest_ratio,
        if ingest_ratio >= 0.7 { "met" } else { "MISSED" }
    );
    println!(
        "scan / plain read:    {:.2}x (target >= 0.80x) {}",
        scan_ratio,
        if scan_ratio >= 0.8 { "met" } else { "MISSED" }
    );
    println!(
        "ingest table: {} rows in {} files, data {:.1} MiB, table dir {:.1} MiB; data bytes per plain byte {:.2}; input {:.0} MiB in Arrow",
        ingest_files.rows,
        ingest_files.files,
        mib(ingest_files.data_bytes),
        mib(ingest_dir_bytes),
        ingest_files.data_bytes as f64 / plain_bytes as f64,
        mib(input_arrow_bytes as u64)
    );
    println!(
        "rss after generating data: {:.0} MiB; peak rss: {:.0} MiB",
        rss_after_generate_kib as f64 / 1024.0,
        peak_rss_kib as f64 / 1024.0
    );

    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "rows": args.rows,
            "keys": args.keys,
            "live_rows": live_rows,
            "batch_rows": args.batch_rows,
            "repeat": args.repeat,
            "seed": args.seed,
            "plain_write": { "seconds": plain_write_s, "rows_per_s": rows_total / plain_write, "bytes": plain_bytes },
            "ingest_one_commit": { "seconds": ingest_s, "rows_per_s": rows_total / ingest_one, "files": ingest_files.files, "sorted_runs": ingest_files.sorted_runs, "data_bytes": ingest_files.data_bytes, "table_dir_bytes": ingest_dir_bytes, "file_rows": ingest_files.rows },
            "ingest_many_commits": ingest_many.map(|s| serde_json::json!({ "seconds": ingest_commits_s, "rows_per_s": rows_total / s, "commits": commits_made, "files": ingest_commits_files.as_ref().map(|f| f.files), "data_bytes": ingest_commits_files.as_ref().map(|f| f.data_bytes) })),
            "plain_read": { "seconds": plain_read_s, "rows_per_s": live / plain_read, "bytes": plain_latest_bytes },
            "scan_one_run": { "seconds": scan_s, "rows_per_s": live / scan, "files": scan_files.files, "data_bytes": scan_files.data_bytes },
            "plain_read_async": { "seconds": plain_read_async_s, "rows_per_s": live / plain_read_async },
            "scan_repeat": args.scan_repeat,
            "table_file_all_columns_read": { "seconds": file_all_s, "rows_per_s": live / file_all },
            "table_file_values_and_kind_read": { "seconds": file_values_s, "rows_per_s": live / file_values },
            "scan_multi_run": { "seconds": scan_multi_s, "rows_per_s": live / scan_multi, "sorted_runs": ingest_files.sorted_runs },
            "ratios": { "ingest_over_plain_write": ingest_ratio, "scan_over_plain_read": scan_ratio },
            "input_arrow_bytes": input_arrow_bytes,
            "rss_after_generate_bytes": rss_after_generate_kib * 1024,
            "peak_rss_bytes": peak_rss_kib * 1024,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
    }
    Ok(())
}
