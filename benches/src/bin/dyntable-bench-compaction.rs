//! `dyntable-bench-compaction`: the compaction benchmark of issue 3, measured in one run.
//!
//! For each workload (`uniform`, `zipfian` with s = 0.99) it upserts `--rows` rows over `--keys` primary keys
//! into a primary-key table (`id BIGINT NOT NULL` the key, `name STRING`, `a DOUBLE`, `b BIGINT`,
//! `ts TIMESTAMP(6)`; `bucket = 1`, otherwise Paimon's default options), committing every
//! `--commit-every-rows` rows, twice:
//! - with background compaction (the default table): ingest rows/s over the whole run including the final
//!   `finish()`, sorted runs of the bucket after each commit (`table.plan(Latest)` + `sorted_run_count`),
//!   write amplification from `writer.metrics()` and from the manifests (`manifest_write_stats`), peak RSS;
//! - into a `write-only = true` table (no compaction), for the ingest-rate ratio.
//!
//! Each ingest runs in a child process of its own (this binary with `--child`), so its peak RSS (`VmHWM`)
//! is its own. The rows are generated batch by batch while ingesting (never all in memory); the generator
//! time is measured and left out of the ingest rate (the rate including it is reported too).
//!
//! Two helper modes serve the comparison with Java Paimon 0.9 (`scripts/bench-java-compaction.py`):
//! - `--emit-jsonl DIR`: writes the same workload as JSON-lines files, one per commit, instead of ingesting;
//! - `--measure-table WAREHOUSE DB.T`: measures any Paimon table from its snapshots and manifests: write
//!   amplification (`manifest_write_stats`) and the sorted runs of every snapshot.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, SchemaRef};
use clap::{Parser, ValueEnum};
use dyntable_benches::gen::{bench_columns_sql, bench_schema, SplitMix64, ZipfSampler, TS_BASE_MICROS};
use dyntable_benches::stats::{mib, proc_status_kib};
use dyntable_benches::table::{create_pk_table, max_sorted_runs};
use dyntable_benches::{BoxError, WorkDir};
use dyntable_storage::compact::manifest_write_stats;
use dyntable_storage::{Catalog, Identifier};
use dyntable_storage::{CommitKind, FileStoreTable, ScanFrom};
use serde_json::{json, Value};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "dyntable-bench-compaction",
    about = "Upserts with background compaction: write amplification, ingest rate, sorted runs, peak memory"
)]
struct Args {
    /// Rows (upserts) per workload.
    #[arg(long, default_value_t = 20_000_000)]
    rows: usize,
    /// Distinct primary keys the rows are drawn from.
    #[arg(long, default_value_t = 2_000_000)]
    keys: usize,
    #[arg(long, value_enum, default_value_t = WorkloadArg::Both)]
    workload: WorkloadArg,
    /// Rows per commit.
    #[arg(long, default_value_t = 1_000_000)]
    commit_every_rows: usize,
    /// Table option `k=v` (repeatable); default none, i.e. Paimon's defaults with `bucket = 1`.
    #[arg(long = "option")]
    options: Vec<String>,
    /// Rows per generated Arrow batch.
    #[arg(long, default_value_t = 65_536)]
    batch_rows: usize,
    /// Zipfian exponent.
    #[arg(long, default_value_t = 0.99)]
    zipf_s: f64,
    /// Seed of the data generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Skips the write-only (no compaction) ingest.
    #[arg(long)]
    skip_write_only: bool,
    /// Working directory; default a fresh directory under /tmp, removed at the end unless `--keep`.
    #[arg(long)]
    dir: Option<PathBuf>,
    #[arg(long)]
    keep: bool,
    /// Writes the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Writes the workload(s) as JSON-lines files, one per commit, under DIR/<workload>/, and nothing else.
    #[arg(long, value_name = "DIR")]
    emit_jsonl: Option<PathBuf>,
    /// Measures an existing table (any Paimon writer) and exits: WAREHOUSE DB.T.
    #[arg(long, num_args = 2, value_names = ["WAREHOUSE", "DB.T"])]
    measure_table: Option<Vec<String>>,
    /// Internal: runs one ingest (WORKLOAD:MODE, MODE = compaction | write-only) and prints its result as JSON.
    #[arg(long, hide = true)]
    child: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum WorkloadArg {
    Uniform,
    Zipfian,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Uniform,
    Zipfian,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Uniform => "uniform",
            Workload::Zipfian => "zipfian",
        }
    }
    fn parse(s: &str) -> Result<Self, BoxError> {
        match s {
            "uniform" => Ok(Workload::Uniform),
            "zipfian" => Ok(Workload::Zipfian),
            _ => Err(format!("unknown workload `{s}`").into()),
        }
    }
}

fn workloads(w: WorkloadArg) -> Vec<Workload> {
    match w {
        WorkloadArg::Uniform => vec![Workload::Uniform],
        WorkloadArg::Zipfian => vec![Workload::Zipfian],
        WorkloadArg::Both => vec![Workload::Uniform, Workload::Zipfian],
    }
}

/// The workload's columns: `id` (the primary key), `name`, `a`, `b`, `ts`.
fn arrow_schema() -> SchemaRef {
    bench_schema(&[Field::new("name", DataType::Utf8, true)])
}

/// The workload's rows, in order, batch by batch: row i upserts key `key(i)` with fresh values.
/// Zipfian ranks are scattered over the key space by a multiplicative bijection, so hot keys are not adjacent.
struct Generator {
    workload: Workload,
    keys: u64,
    rng: SplitMix64,
    zipf: Option<ZipfSampler>,
    next_row: u64,
    schema: SchemaRef,
}

/// A prime far above any key count, coprime with every `--keys` below it.
const SCATTER: u128 = 2_654_435_761;

impl Generator {
    fn new(workload: Workload, keys: usize, zipf_s: f64, seed: u64) -> Self {
        let salt = match workload {
            Workload::Uniform => 0x0075_6e69,
            Workload::Zipfian => 0x007a_6970,
        };
        Generator {
            workload,
            keys: keys as u64,
            rng: SplitMix64::new(seed ^ salt),
            zipf: (workload == Workload::Zipfian).then(|| ZipfSampler::new(keys as u64, zipf_s)),
            next_row: 0,
            schema: arrow_schema(),
        }
    }

    fn next_key(&mut self) -> i64 {
        match self.workload {
            Workload::Uniform => (self.rng.next_u64() % self.keys) as i64,
            Workload::Zipfian => {
                let rank = self.zipf.as_ref().expect("zipfian has a sampler").sample(&mut self.rng) - 1;
                ((rank as u128 * SCATTER) % self.keys as u128) as i64
            }
        }
    }

    fn next_batch(&mut self, rows: usize) -> Result<RecordBatch, BoxError> {
        use std::fmt::Write as _;
        let mut ids = Vec::with_capacity(rows);
        let mut names = StringBuilder::with_capacity(rows, rows * 14);
        let mut a = Vec::with_capacity(rows);
        let mut b = Vec::with_capacity(rows);
        let mut ts = Vec::with_capacity(rows);
        for _ in 0..rows {
            let i = self.next_row;
            self.next_row += 1;
            let key = self.next_key();
            ids.push(key);
            let r = self.rng.next_u64();
            write!(names, "n{key:07}-{:04}", r % 10_000).expect("writing to a string builder");
            names.append_value("");
            a.push(((r >> 20) % 100_000_000) as f64 / 1000.0);
            b.push((self.rng.next_u64() % 1_000_000) as i64);
            ts.push(TS_BASE_MICROS + i as i64 * 1_000);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(names.finish()),
            Arc::new(Float64Array::from(a)),
            Arc::new(Int64Array::from(b)),
            Arc::new(TimestampMicrosecondArray::from(ts)),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// Rows of `batch` as JSON lines in the encoding `tests/interop/java_paimon.py write` reads.
fn write_jsonl(out: &mut impl std::io::Write, batch: &RecordBatch) -> Result<(), BoxError> {
    let id = batch.column(0).as_any().downcast_ref::<Int64Array>().expect("id");
    let name = batch.column(1).as_any().downcast_ref::<StringArray>().expect("name");
    let a = batch.column(2).as_any().downcast_ref::<Float64Array>().expect("a");
    let b = batch.column(3).as_any().downcast_ref::<Int64Array>().expect("b");
    let ts = batch.column(4).as_any().downcast_ref::<TimestampMicrosecondArray>().expect("ts");
    for r in 0..batch.num_rows() {
        let t = chrono::DateTime::from_timestamp_micros(ts.value(r)).expect("timestamp in range").naive_utc();
        // `{:?}` of an f64 always has a fraction or exponent, so JSON reads it back as the same double.
        writeln!(
            out,
            "{{\"id\":{},\"name\":\"{}\",\"a\":{:?},\"b\":{},\"ts\":\"{}\"}}",
            id.value(r),
            name.value(r),
            a.value(r),
            b.value(r),
            t.format("%Y-%m-%dT%H:%M:%S%.6f")
        )?;
    }
    Ok(())
}

fn parse_options(args: &Args) -> Result<Vec<(String, String)>, BoxError> {
    args.options
        .iter()
        .map(|o| {
            o.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| format!("--option `{o}` must be k=v").into())
        })
        .collect()
}

fn stats(xs: &[usize]) -> Value {
    if xs.is_empty() {
        return json!({ "count": 0, "max": 0, "mean": 0.0 });
    }
    json!({
        "count": xs.len(),
        "max": xs.iter().max().copied().unwrap_or(0),
        "mean": xs.iter().sum::<usize>() as f64 / xs.len() as f64,
    })
}

/// What a table's snapshots and manifests say, the same way for any writer: write amplification from the
/// manifests, and the bucket's sorted runs (max over buckets) at every snapshot: at APPEND snapshots, at all
/// snapshots, and at the end of every commit (the last snapshot before the next APPEND, or the last one):
/// the state a reader sees between commits.
async fn measure(table: &FileStoreTable) -> Result<Value, BoxError> {
    let w = manifest_write_stats(&table.snapshot_manager(), &table.manifest_store()).await?;
    let snapshots = table.snapshot_manager().all().await?;
    let mut per_snapshot = Vec::new();
    for s in &snapshots {
        per_snapshot.push((s.id, s.commit_kind, max_sorted_runs(table, &ScanFrom::Snapshot(s.id)).await?));
    }
    let append: Vec<usize> = per_snapshot.iter().filter(|p| p.1 == CommitKind::Append).map(|p| p.2).collect();
    let all: Vec<usize> = per_snapshot.iter().map(|p| p.2).collect();
    let mut end_of_commit = Vec::new();
    for (i, p) in per_snapshot.iter().enumerate() {
        let next_is_append = per_snapshot.get(i + 1).map(|n| n.1 == CommitKind::Append).unwrap_or(true);
        if next_is_append && per_snapshot[..=i].iter().any(|q| q.1 == CommitKind::Append) {
            end_of_commit.push(p.2);
        }
    }
    let plan = table.plan(&ScanFrom::Latest, None).await?;
    let levels = dyntable_storage::compact::files_by_level(&plan.splits);
    Ok(json!({
        "snapshots": w.snapshots,
        "compact_snapshots": w.compact_snapshots,
        "appended_bytes": w.appended_bytes,
        "appended_files": w.appended_files,
        "compacted_bytes_by_level": w.compacted_bytes_by_level,
        "compacted_files": w.compacted_files,
        "upgraded_files": w.upgraded_files,
        "write_amplification": w.write_amplification(),
        "added_bytes_ratio": w.added_bytes_ratio(),
        "sorted_runs_at_append_snapshots": stats(&append),
        "sorted_runs_at_all_snapshots": stats(&all),
        "sorted_runs_at_end_of_commit": stats(&end_of_commit),
        "sorted_runs_per_snapshot": per_snapshot.iter().map(|p| json!([p.0, format!("{:?}", p.1).to_uppercase(), p.2])).collect::<Vec<_>>(),
        "live_files_by_level": levels.iter().map(|(l, (n, b))| (l.to_string(), json!({"files": n, "bytes": b}))).collect::<serde_json::Map<_, _>>(),
    }))
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    if args.rows == 0 || args.keys == 0 || args.batch_rows == 0 || args.commit_every_rows == 0 {
        return Err("--rows, --keys, --batch-rows and --commit-every-rows must be positive".into());
    }
    if args.keys as u128 >= SCATTER {
        return Err("--keys must be below 2654435761".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if let Some(m) = &args.measure_table {
        return runtime.block_on(async {
            let catalog = Catalog::open(&m[0], false)?;
            let table = catalog.get_table(&Identifier::parse(&m[1])?).await?;
            let v = measure(&table).await?;
            print_measure(&m[1], &v);
            if let Some(p) = &args.json {
                std::fs::write(p, serde_json::to_string_pretty(&v)?)?;
            }
            Ok(())
        });
    }
    if let Some(dir) = &args.emit_jsonl {
        return emit_jsonl(&args, dir);
    }
    if let Some(spec) = &args.child {
        let (w, mode) = spec.split_once(':').ok_or("--child WORKLOAD:MODE")?;
        let result = runtime.block_on(child(&args, Workload::parse(w)?, mode == "write-only"))?;
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    drop(runtime);
    parent(&args)
}

fn emit_jsonl(args: &Args, dir: &Path) -> Result<(), BoxError> {
    for w in workloads(args.workload) {
        let out_dir = dir.join(w.name());
        std::fs::create_dir_all(&out_dir)?;
        let mut generator = Generator::new(w, args.keys, args.zipf_s, args.seed);
        let mut done = 0;
        let mut commit = 0;
        while done < args.rows {
            commit += 1;
            let n = args.commit_every_rows.min(args.rows - done);
            let path = out_dir.join(format!("commit-{commit:05}.jsonl"));
            let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
            let mut left = n;
            while left > 0 {
                let batch = generator.next_batch(left.min(args.batch_rows))?;
                left -= batch.num_rows();
                write_jsonl(&mut out, &batch)?;
            }
            out.flush()?;
            done += n;
            println!("{}", path.display());
        }
    }
    Ok(())
}

/// One ingest in this process: creates the table, upserts the workload commit by commit, waits for the last
/// compaction, and measures.
async fn child(args: &Args, workload: Workload, write_only: bool) -> Result<Value, BoxError> {
    let dir = args.dir.clone().ok_or("--child needs --dir")?;
    let warehouse = dir.join("warehouse");
    let catalog = Catalog::open(warehouse.to_str().ok_or("non-UTF-8 dir")?, true)?;
    let name = format!("bench.{}_{}", workload.name(), if write_only { "write_only" } else { "compaction" });
    let mut options: std::collections::BTreeMap<String, String> = [("bucket".to_string(), "1".to_string())].into();
    options.extend(parse_options(args)?);
    if write_only {
        options.insert("write-only".into(), "true".into());
    }
    let option_list: Vec<(&str, String)> = options.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let table = create_pk_table(&catalog, &name, &bench_columns_sql("name STRING"), &["id"], &option_list).await?;
    let write_buffer_size = table.schema().options()?.write_buffer_size;
    let mut generator = Generator::new(workload, args.keys, args.zipf_s, args.seed);

    let rss_before_kib = proc_status_kib("VmRSS:").unwrap_or(0);
    let hwm_before_kib = proc_status_kib("VmHWM:").unwrap_or(0);
    let start = Instant::now();
    let mut writer = table.writer().await?;
    let mut gen_s = 0.0;
    let mut sample_s = 0.0;
    let mut commit_s = Vec::new();
    let mut runs_after_commit = Vec::new();
    let mut done = 0;
    while done < args.rows {
        let n = args.commit_every_rows.min(args.rows - done);
        let mut left = n;
        while left > 0 {
            let g = Instant::now();
            let batch = generator.next_batch(left.min(args.batch_rows))?;
            gen_s += g.elapsed().as_secs_f64();
            left -= batch.num_rows();
            writer.write(&batch).await?;
        }
        let c = Instant::now();
        writer.commit().await?;
        commit_s.push(c.elapsed().as_secs_f64());
        done += n;
        let s = Instant::now();
        runs_after_commit.push(max_sorted_runs(&table, &ScanFrom::Latest).await?);
        sample_s += s.elapsed().as_secs_f64();
        eprintln!(
            "  {} {}: {done} rows, {} commits, {:.1}s, sorted runs {}, rss {:.0} MiB",
            workload.name(),
            if write_only { "write-only" } else { "compaction" },
            runs_after_commit.len(),
            start.elapsed().as_secs_f64(),
            runs_after_commit.last().unwrap_or(&0),
            proc_status_kib("VmRSS:").unwrap_or(0) as f64 / 1024.0
        );
    }
    let f = Instant::now();
    writer.finish().await?;
    let finish_s = f.elapsed().as_secs_f64();
    let wall_s = start.elapsed().as_secs_f64();
    let ingest_s = wall_s - gen_s - sample_s;
    let peak_kib = proc_status_kib("VmHWM:").unwrap_or(0);
    let m = writer.metrics().clone();
    drop(writer);
    let runs_final = max_sorted_runs(&table, &ScanFrom::Latest).await?;
    let measured = measure(&table).await?;
    let rows = args.rows as f64;
    Ok(json!({
        "workload": workload.name(),
        "mode": if write_only { "write-only" } else { "compaction" },
        "table": name,
        "options": options,
        "rows": args.rows,
        "keys": args.keys,
        "commits": runs_after_commit.len(),
        "write_buffer_size": write_buffer_size,
        "wall_s": wall_s,
        "generate_s": gen_s,
        "sample_s": sample_s,
        "ingest_s": ingest_s,
        "finish_s": finish_s,
        "commit_s_max": commit_s.iter().cloned().fold(0.0, f64::max),
        "rows_per_s": rows / ingest_s,
        "rows_per_s_with_generation": rows / (wall_s - sample_s),
        "sorted_runs_after_commit": stats(&runs_after_commit),
        "sorted_runs_after_commit_list": runs_after_commit,
        "sorted_runs_final": runs_final,
        "writer_metrics": m,
        "writer_write_amplification": m.write_amplification(),
        "rss_before_bytes": rss_before_kib * 1024,
        "hwm_before_bytes": hwm_before_kib * 1024,
        "peak_rss_bytes": peak_kib * 1024,
        "manifests": measured,
    }))
}

fn parent(args: &Args) -> Result<(), BoxError> {
    let work = WorkDir::new(args.dir.clone(), "dyntable-bench-compaction", args.keep)?;
    parent_in(args, &work.path)
}

fn run_child(args: &Args, dir: &Path, workload: Workload, mode: &str) -> Result<Value, BoxError> {
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--child").arg(format!("{}:{mode}", workload.name()));
    cmd.arg("--dir").arg(dir);
    cmd.arg("--rows").arg(args.rows.to_string());
    cmd.arg("--keys").arg(args.keys.to_string());
    cmd.arg("--commit-every-rows").arg(args.commit_every_rows.to_string());
    cmd.arg("--batch-rows").arg(args.batch_rows.to_string());
    cmd.arg("--zipf-s").arg(args.zipf_s.to_string());
    cmd.arg("--seed").arg(args.seed.to_string());
    for o in &args.options {
        cmd.arg("--option").arg(o);
    }
    cmd.stderr(std::process::Stdio::inherit());
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!(
            "{} {mode} ingest failed ({}): {}",
            workload.name(),
            out.status,
            String::from_utf8_lossy(&out.stdout)
        )
        .into());
    }
    let text = String::from_utf8(out.stdout)?;
    let last = text.lines().last().ok_or("child printed nothing")?;
    Ok(serde_json::from_str(last)?)
}

fn parent_in(args: &Args, dir: &Path) -> Result<(), BoxError> {
    eprintln!(
        "dyntable-bench-compaction: {} rows over {} keys, a commit every {} rows, options {:?}, dir {}",
        args.rows,
        args.keys,
        args.commit_every_rows,
        args.options,
        dir.display()
    );
    let mut results = Vec::new();
    for w in workloads(args.workload) {
        let compaction = run_child(args, dir, w, "compaction")?;
        let write_only = if args.skip_write_only { None } else { Some(run_child(args, dir, w, "write-only")?) };
        results.push((w, compaction, write_only));
    }

    println!();
    println!(
        "dyntable-bench-compaction: {} rows over {} keys, {} rows per commit, options {:?}",
        args.rows, args.keys, args.commit_every_rows, args.options
    );
    println!(
        "{:<24} {:>8} {:>10} {:>10} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "run",
        "ingest s",
        "rows/s",
        "rows/s+gen",
        "WA wr",
        "WA man",
        "runs max",
        "runs mean",
        "final",
        "peak MiB",
        "rss0 MiB"
    );
    let mut summary = Vec::new();
    for (w, c, wo) in &results {
        for r in std::iter::once(c).chain(wo.iter()) {
            println!(
                "{:<24} {:>8.2} {:>10.0} {:>10.0} {:>7.3} {:>7.3} {:>9} {:>9.2} {:>9} {:>9.0} {:>9.0}",
                format!("{} {}", w.name(), r["mode"].as_str().unwrap_or("?")),
                r["ingest_s"].as_f64().unwrap_or(0.0),
                r["rows_per_s"].as_f64().unwrap_or(0.0),
                r["rows_per_s_with_generation"].as_f64().unwrap_or(0.0),
                r["writer_write_amplification"].as_f64().unwrap_or(0.0),
                r["manifests"]["write_amplification"].as_f64().unwrap_or(0.0),
                r["sorted_runs_after_commit"]["max"],
                r["sorted_runs_after_commit"]["mean"].as_f64().unwrap_or(0.0),
                r["sorted_runs_final"],
                r["peak_rss_bytes"].as_u64().unwrap_or(0) as f64 / 1048576.0,
                r["rss_before_bytes"].as_u64().unwrap_or(0) as f64 / 1048576.0,
            );
        }
    }
    println!();
    for (w, c, wo) in &results {
        let m = &c["manifests"];
        let wb = c["write_buffer_size"].as_u64().unwrap_or(0);
        let peak = c["peak_rss_bytes"].as_u64().unwrap_or(0);
        let before = c["rss_before_bytes"].as_u64().unwrap_or(0);
        let over_buffer = peak as i64 - before as i64 - wb as i64;
        println!(
            "{}: WA {:.3} (writer) / {:.3} (manifests); sorted runs at APPEND snapshots max {} mean {:.2}, at end of commit max {} mean {:.2}; {} compactions, {} files upgraded, {} stalls, {} conflicts",
            w.name(),
            c["writer_write_amplification"].as_f64().unwrap_or(0.0),
            m["write_amplification"].as_f64().unwrap_or(0.0),
            m["sorted_runs_at_append_snapshots"]["max"],
            m["sorted_runs_at_append_snapshots"]["mean"].as_f64().unwrap_or(0.0),
            m["sorted_runs_at_end_of_commit"]["max"],
            m["sorted_runs_at_end_of_commit"]["mean"].as_f64().unwrap_or(0.0),
            c["writer_metrics"]["compaction"]["compactions"],
            c["writer_metrics"]["compaction"]["files_upgraded"],
            c["writer_metrics"]["stalls"],
            c["writer_metrics"]["compaction_conflicts"],
        );
        println!(
            "{}: peak RSS {:.0} MiB, RSS before ingest {:.0} MiB: peak - before = {:.0} MiB = write-buffer-size {:.0} MiB {:+.0} MiB",
            w.name(),
            mib(peak),
            mib(before),
            mib(peak.saturating_sub(before)),
            mib(wb),
            over_buffer as f64 / 1048576.0
        );
        let mut s = json!({ "workload": w.name(), "compaction": c, "write_only": wo });
        if let Some(wo) = wo {
            let ratio = c["rows_per_s"].as_f64().unwrap_or(0.0) / wo["rows_per_s"].as_f64().unwrap_or(f64::INFINITY);
            let ratio_gen = c["rows_per_s_with_generation"].as_f64().unwrap_or(0.0)
                / wo["rows_per_s_with_generation"].as_f64().unwrap_or(f64::INFINITY);
            println!(
                "{}: ingest with compaction / write-only = {:.2}x (target >= 0.50x) {}; including data generation {:.2}x",
                w.name(),
                ratio,
                if ratio >= 0.5 { "met" } else { "MISSED" },
                ratio_gen
            );
            s["ingest_ratio"] = json!(ratio);
            s["ingest_ratio_with_generation"] = json!(ratio_gen);
        }
        summary.push(s);
    }
    if let Some(path) = &args.json {
        let json = json!({
            "rows": args.rows,
            "keys": args.keys,
            "commit_every_rows": args.commit_every_rows,
            "batch_rows": args.batch_rows,
            "zipf_s": args.zipf_s,
            "seed": args.seed,
            "options": args.options,
            "workloads": summary,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
    }
    Ok(())
}

fn print_measure(name: &str, v: &Value) {
    println!(
        "{name}: {} snapshots ({} COMPACT); appended {:.1} MiB in {} files; compaction wrote {} by level; {} files upgraded",
        v["snapshots"],
        v["compact_snapshots"],
        mib(v["appended_bytes"].as_u64().unwrap_or(0)),
        v["appended_files"],
        v["compacted_bytes_by_level"],
        v["upgraded_files"]
    );
    println!("write amplification {:.3} (manifests)", v["write_amplification"].as_f64().unwrap_or(0.0));
    for k in ["sorted_runs_at_append_snapshots", "sorted_runs_at_end_of_commit", "sorted_runs_at_all_snapshots"] {
        println!("{k}: max {} mean {:.2} over {}", v[k]["max"], v[k]["mean"].as_f64().unwrap_or(0.0), v[k]["count"]);
    }
    println!("live files by level: {}", v["live_files_by_level"]);
}
