//! `dyntable-bench-lookup`: point lookups on a compacted primary-key table, on one core.
//!
//! The table holds the upserts of `dyntable-bench`'s generator (`--rows` rows over `--keys` keys, primary key
//! `key STRING`, `--buckets` buckets), fully compacted (one sorted run per bucket). On `--lookups` random keys
//! (uniform over the key numbers, so a few may be absent when `--rows` is small) it measures, each lookup timed
//! alone (latency p50/p99 and lookups per second):
//! - `lookup cold`: `TableLookup::lookup` of one key with an empty page cache each time (the data files'
//!   Parquet footers and the manifests stay cached, as in a long-running process);
//! - `lookup warm`: the same keys again through one cache of `--cache` bytes, after a pass over all of them;
//! - `bucket batch`: the writer's form, all keys of a bucket in one `BucketLookup::lookup` call (warm), as
//!   keys per second;
//! - `sql lookup`: `SELECT * FROM t WHERE key = '...'` through a `DyntableSession` (which plans it as a
//!   point lookup, `DyntableLookup`), the session's cache warm;
//! - `filtered scan`: the storage scan with the predicate `key = '...'` (what SQL ran before point lookups:
//!   bucket, file and page-index pruning, then merge-on-read of what is left).
//!
//! With `--level0-runs N` the table is left as N level-0 sorted runs instead (each file spans the whole key
//! range, so the page index narrows little and `--bloom` filters decide which files are read).
//!
//! Everything runs on a current-thread runtime (one core). Data is generated before timing starts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use clap::Parser;
use dyntable_benches::gen::{keyed_columns_sql, KeyedRows, SplitMix64};
use dyntable_benches::stats::{percentiles, timed_async};
use dyntable_benches::table::{create_pk_table, data_files, ingest, max_sorted_runs};
use dyntable_benches::{BoxError, WorkDir};
use dyntable_query::DyntableSession;
use dyntable_storage::lookup::{LookupCache, TableLookup};
use dyntable_storage::options::parse_memory_size;
use dyntable_storage::Catalog;
use dyntable_storage::{Datum, Predicate, ScanFrom};
use futures::TryStreamExt;

#[derive(Parser, Debug)]
#[command(
    name = "dyntable-bench-lookup",
    about = "Point-lookup latency on a compacted table, against SQL and a filtered scan"
)]
struct Args {
    /// Rows to ingest.
    #[arg(long, default_value_t = 10_000_000)]
    rows: usize,
    /// Distinct primary keys the rows are drawn from.
    #[arg(long, default_value_t = 1_000_000)]
    keys: usize,
    /// Buckets of the table.
    #[arg(long, default_value_t = 1)]
    buckets: usize,
    /// Rows per generated Arrow batch.
    #[arg(long, default_value_t = 65_536)]
    batch_rows: usize,
    /// Point lookups per measurement.
    #[arg(long, default_value_t = 10_000)]
    lookups: usize,
    /// Lookups through SQL and through the filtered scan (slower, so fewer by default).
    #[arg(long, default_value_t = 1_000)]
    sql_lookups: usize,
    /// The lookup cache bound of the warm measurements (`lookup.cache-max-memory-size` syntax).
    #[arg(long, default_value = "256 mb")]
    cache: String,
    /// Write Parquet bloom filters on the key column (`dyntable.parquet.key-bloom-filter`).
    #[arg(long)]
    bloom: bool,
    /// Instead of one compacted run: ingest in this many commits and leave them as level-0 sorted runs (what
    /// a writer looking up its keys meets between compactions).
    #[arg(long, default_value_t = 0)]
    level0_runs: usize,
    /// Seed of the data generator and of the keys looked up.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Working directory; default a fresh directory under /tmp, removed at the end.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keeps the working directory when it was created by the benchmark.
    #[arg(long)]
    keep: bool,
    /// Writes the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    if args.rows == 0 || args.keys == 0 || args.buckets == 0 || args.lookups == 0 || args.batch_rows == 0 {
        return Err("--rows, --keys, --buckets, --lookups and --batch-rows must be positive".into());
    }
    if args.keys > u32::MAX as usize || args.rows >= u32::MAX as usize {
        return Err("--rows and --keys must be below 2^32".into());
    }
    let cache_bytes = parse_memory_size(&args.cache)
        .ok_or_else(|| format!("--cache `{}` is not a memory size such as `256 mb`", args.cache))?;
    let work = WorkDir::new(args.dir.clone(), "dyntable-bench-lookup", args.keep)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run(&args, &work.path, cache_bytes as usize))
}

/// One measurement: per-lookup latencies in seconds, and rows found.
struct Measured {
    name: &'static str,
    latencies: Vec<f64>,
    found: usize,
}

impl Measured {
    fn report(&self) -> serde_json::Value {
        let (p50, p99, max) = percentiles(self.latencies.clone());
        let total: f64 = self.latencies.iter().sum();
        let per_s = self.latencies.len() as f64 / total;
        println!(
            "{:<14} {:>6} lookups, {:>6} found: p50 {:>9.1} us  p99 {:>9.1} us  max {:>9.1} us  {:>9.0} lookups/s",
            self.name,
            self.latencies.len(),
            self.found,
            p50 * 1e6,
            p99 * 1e6,
            max * 1e6,
            per_s
        );
        serde_json::json!({
            "lookups": self.latencies.len(), "found": self.found,
            "p50_us": p50 * 1e6, "p99_us": p99 * 1e6, "max_us": max * 1e6, "lookups_per_s": per_s,
        })
    }
}

fn key_name(k: u64) -> String {
    format!("key-{k:07}")
}

fn key_batch(keys: &[String]) -> Result<RecordBatch, BoxError> {
    Ok(RecordBatch::try_from_iter(vec![("key", Arc::new(StringArray::from(keys.to_vec())) as ArrayRef)])?)
}

async fn run(args: &Args, dir: &Path, cache_bytes: usize) -> Result<(), BoxError> {
    eprintln!(
        "dyntable-bench-lookup: {} rows, {} keys, {} buckets, {} lookups, bloom {}, dir {}",
        args.rows,
        args.keys,
        args.buckets,
        args.lookups,
        args.bloom,
        dir.display()
    );
    let rows = KeyedRows::generate(args.rows, args.keys, args.seed);
    let batches = rows.to_batches(None, args.batch_rows)?;
    drop(rows);
    let mut rng = SplitMix64::new(args.seed ^ 0x5eed);
    let keys: Vec<String> = (0..args.lookups).map(|_| key_name(rng.next_u64() % args.keys as u64)).collect();

    let warehouse = dir.join("warehouse");
    let warehouse = warehouse.to_str().ok_or("working directory is not UTF-8")?;
    let catalog = Catalog::open(warehouse, true)?;
    let mut options = vec![("bucket", args.buckets.to_string()), ("write-only", "true".to_string())];
    if args.bloom {
        options.push(("dyntable.parquet.key-bloom-filter", "true".to_string()));
    }
    let table = create_pk_table(&catalog, "bench.kv", &keyed_columns_sql(), &["key"], &options).await?;
    let every = if args.level0_runs > 0 { args.rows.div_ceil(args.level0_runs) } else { 0 };
    let (_, ingest_s) = timed_async(ingest(&table, &batches, every)).await?;
    drop(batches);
    let (_, compact_s) = if args.level0_runs == 0 {
        timed_async(async { Ok(table.compact(true, None).await?) }).await?
    } else {
        ((None, Default::default()), 0.0)
    };
    let (files, bytes) = data_files(&table).await?;
    let runs = max_sorted_runs(&table, &ScanFrom::Latest).await?;
    eprintln!(
        "ingested in {ingest_s:.1}s, compacted in {compact_s:.1}s: {files} files, {:.1} MiB, {runs} sorted run(s) per bucket",
        bytes as f64 / (1 << 20) as f64
    );
    let table = table.with_manifest_cache(Arc::new(dyntable_storage::manifest::ManifestCache::new(
        dyntable_storage::manifest::ManifestCache::DEFAULT_CAPACITY_RECORDS,
    )));

    // Cold: an empty page cache for every lookup (footers and manifests stay cached).
    let base = TableLookup::new(&table)?;
    let mut cold = Measured { name: "lookup cold", latencies: Vec::new(), found: 0 };
    let mut decoded_cold = 0;
    for k in &keys {
        let lookup = base.clone().with_cache(Arc::new(LookupCache::new(cache_bytes)));
        let batch = key_batch(std::slice::from_ref(k))?;
        let start = Instant::now();
        let r = lookup.lookup(&batch, &ScanFrom::Latest).await?;
        cold.latencies.push(start.elapsed().as_secs_f64());
        cold.found += r.found_count();
        decoded_cold += lookup.cache().decoded_rows();
    }

    // Warm: one cache, filled by a pass over the same keys.
    let warm_lookup = base.clone().with_cache(Arc::new(LookupCache::new(cache_bytes)));
    for k in &keys {
        warm_lookup.lookup(&key_batch(std::slice::from_ref(k))?, &ScanFrom::Latest).await?;
    }
    let mut warm = Measured { name: "lookup warm", latencies: Vec::new(), found: 0 };
    for k in &keys {
        let batch = key_batch(std::slice::from_ref(k))?;
        let start = Instant::now();
        let r = warm_lookup.lookup(&batch, &ScanFrom::Latest).await?;
        warm.latencies.push(start.elapsed().as_secs_f64());
        warm.found += r.found_count();
    }
    let cache = warm_lookup.cache();
    eprintln!(
        "warm cache: {:.1} MiB held of {:.1} MiB, {} entries; cold lookups decoded {:.0} rows each",
        cache.bytes() as f64 / (1 << 20) as f64,
        cache.capacity_bytes() as f64 / (1 << 20) as f64,
        cache.len(),
        decoded_cold as f64 / keys.len() as f64
    );

    // The writer's form: every bucket answers all the keys in one call (keys of other buckets are absent).
    let buckets = warm_lookup.buckets(&ScanFrom::Latest).await?;
    let all = key_batch(&keys)?;
    let start = Instant::now();
    let mut batch_found = 0;
    for b in &buckets {
        batch_found += b.lookup(&all).await?.found_count();
    }
    let batch_s = start.elapsed().as_secs_f64();
    println!(
        "bucket batch   {:>6} keys in {} call(s), {:>6} found: {:.1} ms, {:.0} keys/s",
        keys.len(),
        buckets.len(),
        batch_found,
        batch_s * 1e3,
        keys.len() as f64 / batch_s
    );

    // SQL: the session plans `key = '...'` as a point lookup; its cache warms over the loop.
    let session = DyntableSession::open(warehouse).await?;
    let sql_keys = &keys[..args.sql_lookups.min(keys.len())];
    let mut sql = Measured { name: "sql lookup", latencies: Vec::new(), found: 0 };
    let explain = session.sql(&format!("EXPLAIN SELECT * FROM bench.kv WHERE key = '{}'", sql_keys[0])).await?;
    let plan = arrow::util::pretty::pretty_format_batches(&explain)?.to_string();
    if !plan.contains("DyntableLookup") {
        return Err(format!("the SQL query is not planned as a point lookup:\n{plan}").into());
    }
    for k in sql_keys {
        let start = Instant::now();
        let out = session.sql(&format!("SELECT * FROM bench.kv WHERE key = '{k}'")).await?;
        sql.latencies.push(start.elapsed().as_secs_f64());
        sql.found += out.iter().map(|b| b.num_rows()).sum::<usize>();
    }

    // The filtered scan SQL ran before (bucket, file and page pruning, merge-on-read of the rest).
    let mut scan = Measured { name: "filtered scan", latencies: Vec::new(), found: 0 };
    for k in sql_keys {
        let start = Instant::now();
        let filter = Predicate::eq("key", Datum::String(k.clone()));
        let (_, stream) = table.scan(&ScanFrom::Latest, None, Some(filter)).await?;
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        scan.latencies.push(start.elapsed().as_secs_f64());
        scan.found += batches.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    if scan.found != sql.found {
        return Err(format!("SQL found {} rows, the filtered scan {}", sql.found, scan.found).into());
    }

    let report = serde_json::json!({
        "rows": args.rows, "keys": args.keys, "buckets": args.buckets, "bloom": args.bloom,
        "level0_runs": args.level0_runs, "sorted_runs": runs,
        "files": files, "data_bytes": bytes,
        "lookup_cold": cold.report(),
        "lookup_warm": warm.report(),
        "sql_lookup": sql.report(),
        "filtered_scan": scan.report(),
        "bucket_batch": {"keys": keys.len(), "found": batch_found, "seconds": batch_s},
        "cold_decoded_rows_per_lookup": decoded_cold as f64 / keys.len() as f64,
    });
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    if cold.found != warm.found {
        return Err(format!("cold lookups found {} rows, warm ones {}", cold.found, warm.found).into());
    }
    Ok(())
}
