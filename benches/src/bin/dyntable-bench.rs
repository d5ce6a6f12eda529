//! `dyntable-bench`: the macro benchmark of the targets, measured in one process and one run so the
//! figures compare as ratios on a noisy shared machine.
//!
//! On one generated data set (`--rows` rows over `--keys` distinct primary keys; columns `id`, `key`, `a`,
//! `b`, `ts`) it measures:
//! - plain write: the same batches through arrow-rs `ArrowWriter` into one Parquet file, with the writer
//!   properties dyntable's `DataFileWriter` uses (zstd level 1);
//! - ingest: upserts into a primary-key table (`key`, `bucket = 1`, default options), one commit at the end,
//!   and again with a commit every `--commit-every-rows` rows; each ingest ends with the writer's `finish()`
//!   (waiting for a compaction its last commit started, and committing it) inside the timed section, so no
//!   ingest work runs on into the next measurement;
//! - scan: a full scan of a table holding the live rows as exactly one sorted run (one data file), against
//!   reading the same rows from a plain Parquet file with `ParquetRecordBatchReaderBuilder`; for information
//!   also the async object_store reader on that file and the merge-on-read scan of the multi-file ingest table.
//!
//! All batches are generated before any timing starts. Beside the times it reports bytes written, files,
//! write amplification (table data bytes per plain Parquet byte) and peak RSS (`VmHWM`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use dyntable_benches::gen::{keyed_columns_sql, KeyedRows};
use dyntable_benches::plain::{read_async, read_columns, write_batches, zstd1_props};
use dyntable_benches::stats::{dir_bytes, median, mib, proc_status_kib, timed, timed_async};
use dyntable_benches::table::{create_pk_table, ingest, scan_rows};
use dyntable_benches::{BoxError, WorkDir};
use dyntable_storage::{Catalog, Identifier};
use dyntable_storage::{FileStoreTable, ScanFrom};

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
    /// Also ingest (one commit, and a commit every `--commit-every-rows`) into tables with these
    /// `changelog-producer`s (comma-separated: input, lookup, full-compaction), interleaved with the `none` ingest,
    /// and report each over `none`.
    #[arg(long, value_delimiter = ',')]
    producers: Vec<String>,
}

/// The upsert table: primary key `key`, one bucket, default options (so background compaction is on).
async fn create_keyed_table(catalog: &Catalog, name: &str) -> Result<FileStoreTable, BoxError> {
    create_pk_table(catalog, name, &keyed_columns_sql(), &["key"], &[("bucket", "1".to_string())]).await
}

/// The upsert table with a changelog producer.
async fn create_producer_table(catalog: &Catalog, name: &str, producer: &str) -> Result<FileStoreTable, BoxError> {
    let options = [("bucket", "1".to_string()), ("changelog-producer", producer.to_string())];
    create_pk_table(catalog, name, &keyed_columns_sql(), &["key"], &options).await
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

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    if args.rows == 0 || args.keys == 0 || args.batch_rows == 0 || args.repeat == 0 || args.scan_repeat == 0 {
        return Err("--rows, --keys, --batch-rows, --repeat and --scan-repeat must be positive".into());
    }
    if args.keys > u32::MAX as usize || args.rows >= u32::MAX as usize {
        return Err("--rows and --keys must be below 2^32".into());
    }
    let work = WorkDir::new(args.dir.clone(), "dyntable-bench", args.keep)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run_in(&args, &work.path))
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
    let rows = KeyedRows::generate(args.rows, args.keys, args.seed);
    let batches = rows.to_batches(None, args.batch_rows)?;
    let latest_order = rows.latest_in_key_order(args.keys);
    let latest = rows.to_batches(Some(&latest_order), args.batch_rows)?;
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
    let (mut ingest_finish_s, mut ingest_commits_finish_s) = (Vec::new(), Vec::new());
    let mut plain_bytes = 0;
    let mut ingest_files = None;
    let mut ingest_commits_files = None;
    let mut ingest_dir_bytes = 0;
    let mut commits_made = 0;
    // Per producer: seconds of the one-commit ingest and of the many-commits ingest, per repetition.
    let mut producer_s: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); args.producers.len()];
    for r in 0..args.repeat {
        let (bytes, s) = timed(|| write_batches(&plain_all, &batches, zstd1_props()))?;
        plain_bytes = bytes;
        plain_write_s.push(s);
        eprintln!("[{r}] plain write: {s:.2}s");

        let table = create_keyed_table(&catalog, "bench.ingest").await?;
        let (done, s) = timed_async(ingest(&table, &batches, 0)).await?;
        ingest_s.push(s);
        ingest_finish_s.push(done.finish_s);
        let files = table_files(&table).await?;
        ingest_dir_bytes = dir_bytes(&warehouse.join("bench.db").join("ingest"));
        eprintln!(
            "[{r}] ingest, one commit: {s:.2}s (of which {:.2}s waiting for its compaction), {} files",
            done.finish_s, files.files
        );
        ingest_files = Some(files);

        if args.commit_every_rows > 0 {
            let table = create_keyed_table(&catalog, "bench.ingest_commits").await?;
            let (done, s) = timed_async(ingest(&table, &batches, args.commit_every_rows)).await?;
            commits_made = done.commits;
            ingest_commits_s.push(s);
            ingest_commits_finish_s.push(done.finish_s);
            let files = table_files(&table).await?;
            eprintln!(
                "[{r}] ingest, {} commits: {s:.2}s (of which {:.2}s waiting for the last compaction), {} files",
                done.commits, done.finish_s, files.files
            );
            ingest_commits_files = Some(files);
            // Keep only the one-commit table's files around for the multi-file scan below.
            catalog.drop_table(&Identifier::parse("bench.ingest_commits")?, true).await?;
        }

        for (p, producer) in args.producers.iter().enumerate() {
            let name = "bench.ingest_producer";
            let table = create_producer_table(&catalog, name, producer).await?;
            let (_, s) = timed_async(ingest(&table, &batches, 0)).await?;
            eprintln!("[{r}] ingest, changelog-producer={producer}, one commit: {s:.2}s");
            producer_s[p].0.push(s);
            if args.commit_every_rows > 0 {
                let table = create_producer_table(&catalog, name, producer).await?;
                let (done, s) = timed_async(ingest(&table, &batches, args.commit_every_rows)).await?;
                eprintln!("[{r}] ingest, changelog-producer={producer}, {} commits: {s:.2}s", done.commits);
                producer_s[p].1.push(s);
            }
            catalog.drop_table(&Identifier::parse(name)?, true).await?;
        }
    }
    let ingest_files = ingest_files.expect("repeat >= 1");
    drop(batches);

    // Scan side: one table whose live rows are exactly one sorted run, and the same rows as plain Parquet.
    let plain_latest_bytes = write_batches(&plain_latest, &latest, zstd1_props())?;
    let scan_table_handle = create_keyed_table(&catalog, "bench.scan").await?;
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
        let (n, s) = timed(|| read_columns(&plain_latest, None))?;
        assert_eq!(n, live_rows, "plain read returns every live row");
        plain_read_s.push(s);
        let (n, s) = timed_async(scan_rows(&scan_table_handle)).await?;
        assert_eq!(n, live_rows, "the one-run scan returns every live row");
        scan_s.push(s);
        let (n, s) = timed_async(read_async(&plain_latest)).await?;
        assert_eq!(n, live_rows, "the async plain read returns every live row");
        plain_read_async_s.push(s);
        let (n, s) = timed_async(scan_rows(&ingest_table)).await?;
        scan_multi_rows = n;
        scan_multi_s.push(s);
        let (n, s) = timed(|| read_columns(&scan_data_file, None))?;
        assert_eq!(n, live_rows, "the table's data file holds every live row");
        file_all_s.push(s);
        let (_, s) = timed(|| read_columns(&scan_data_file, Some(VALUE_COLUMNS_AND_KIND)))?;
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
    for (producer, (one, many)) in args.producers.iter().zip(&producer_s) {
        let one = median(one.clone());
        let many = (!many.is_empty()).then(|| median(many.clone()));
        let many_text = match (many, ingest_many) {
            (Some(m), Some(base)) => format!(", {:.2}x with a commit every {} rows", base / m, args.commit_every_rows),
            _ => String::new(),
        };
        println!(
            "ingest with changelog-producer={producer} / none: {:.2}x with one commit ({one:.3}s vs {ingest_one:.3}s){many_text}",
            ingest_one / one
        );
    }
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
            "ingest_one_commit": { "seconds": ingest_s, "finish_seconds": ingest_finish_s, "rows_per_s": rows_total / ingest_one, "files": ingest_files.files, "sorted_runs": ingest_files.sorted_runs, "data_bytes": ingest_files.data_bytes, "table_dir_bytes": ingest_dir_bytes, "file_rows": ingest_files.rows },
            "ingest_many_commits": ingest_many.map(|s| serde_json::json!({ "seconds": ingest_commits_s, "finish_seconds": ingest_commits_finish_s, "rows_per_s": rows_total / s, "commits": commits_made, "files": ingest_commits_files.as_ref().map(|f| f.files), "data_bytes": ingest_commits_files.as_ref().map(|f| f.data_bytes) })),
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
