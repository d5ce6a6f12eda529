//! `dyntable-bench-log`: the embedded changelog's benchmark, and the writer process its crash tests kill.
//!
//! - `latency`: commit-to-visible latency between two processes. A child process (`paced-writer`) writes one
//!   row at a time into a table with `log.system = 'embedded'` and records when each write (or commit) was
//!   acknowledged; this process tails the table and records when it saw each row. Three ways, one run:
//!   through the log with `log.consistency = 'eventual'` (visible once durable), through the log with
//!   `transactional` (visible once committed; the writer commits every write), and by polling snapshots as a
//!   Paimon streaming reader does (the writer commits every write; the reader checks for a new snapshot every
//!   `--poll-ms` and reads the rows it has not seen).
//! - `throughput`: append throughput of the log store, records/s and MB/s, with an fsync per batch (one
//!   appender) and with group commit (`--appenders` concurrent appenders), against the raw throughput of
//!   sequential writes of the same batch size each followed by `fdatasync`, measured in the same run on the
//!   same disk; plus the table writer's throughput with and without the embedded log.
//! - `writer`: writes numbered batches and prints `ACK <batch> <first id> <last id>` once each write returned
//!   and `COMMIT <snapshot>` after each commit (used by the crash tests, which kill it at random points).

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::Int64Type;
use clap::{Parser, Subcommand};
use dyntable_benches::stats::percentiles;
use dyntable_benches::table::create_pk_table;
use dyntable_benches::WorkDir;
use dyntable_log_store::{Log, LogOptions, SyncPolicy};
use dyntable_storage::stream::{ChangeReader, StartFrom};
use dyntable_storage::{Catalog, Identifier};
use dyntable_storage::{FileStoreTable, Predicate, Result, ScanFrom};
use futures::TryStreamExt;

#[derive(Parser)]
#[command(
    name = "dyntable-bench-log",
    about = "Latency and throughput of dyntable's embedded changelog; the crash tests' writer"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Commit-to-visible latency, writer and reader in two processes.
    Latency {
        /// Writes per measured way.
        #[arg(long, default_value_t = 500)]
        writes: usize,
        /// Pause between two writes, milliseconds.
        #[arg(long, default_value_t = 10)]
        interval_ms: u64,
        /// Snapshot polling interval of the polling reader, milliseconds.
        #[arg(long, default_value_t = 100)]
        poll_ms: u64,
        /// Working directory; default a fresh one under /tmp, removed at the end.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Append throughput of the log against raw fsync'd sequential writes.
    Throughput {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Records per appended batch.
        #[arg(long, default_value_t = 100)]
        batch_records: usize,
        /// Bytes per record.
        #[arg(long, default_value_t = 100)]
        record_bytes: usize,
        /// Interleaved repetitions of the log and raw measurements (medians are reported).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Concurrent appenders under group commit (each waits for its acknowledgement before the next append,
        /// so this bounds how many batches one fsync can cover).
        #[arg(long, default_value_t = 64)]
        appenders: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Writes numbered batches, printing an ACK line after each acknowledged write (for crash tests).
    Writer {
        #[arg(long)]
        warehouse: String,
        #[arg(long)]
        table: String,
        /// First id of this run (ids are unique across runs).
        #[arg(long)]
        first_id: i64,
        #[arg(long, default_value_t = 100)]
        batches: usize,
        #[arg(long, default_value_t = 20)]
        rows: usize,
        /// Commit after this many batches.
        #[arg(long, default_value_t = 2)]
        commit_every: usize,
        /// Distinct keys the rows update (every 7th change of a key deletes it).
        #[arg(long, default_value_t = 50)]
        keys: i64,
    },
    /// Internal: the latency benchmark's writer process.
    PacedWriter {
        #[arg(long)]
        warehouse: String,
        #[arg(long)]
        table: String,
        #[arg(long)]
        writes: usize,
        #[arg(long)]
        interval_ms: u64,
        /// Commit after every write and time the commit's acknowledgement instead of the write's.
        #[arg(long)]
        commit_each: bool,
        /// File to write `id start_nanos ack_nanos` lines to (start: the write call; ack: its return, or the
        /// commit's with --commit-each).
        #[arg(long)]
        acks: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Latency { writes, interval_ms, poll_ms, dir } => latency(writes, interval_ms, poll_ms, dir).await,
        Cmd::Throughput { seconds, batch_records, record_bytes, repeat, appenders, dir } => {
            throughput(seconds, batch_records, record_bytes, repeat, appenders, dir).await
        }
        Cmd::Writer { warehouse, table, first_id, batches, rows, commit_every, keys } => {
            crash_writer(&warehouse, &table, first_id, batches, rows, commit_every, keys).await
        }
        Cmd::PacedWriter { warehouse, table, writes, interval_ms, commit_each, acks } => {
            paced_writer(&warehouse, &table, writes, interval_ms, commit_each, &acks).await
        }
    }
}

// Cross-process latency is measured on the wall clock, which both processes share.
#[allow(clippy::disallowed_methods)]
fn now_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

fn err(message: impl std::fmt::Display) -> dyntable_storage::Error {
    dyntable_storage::Error::invalid(message.to_string())
}

/// The latency and throughput tables: `id BIGINT NOT NULL` (the primary key), `payload STRING`.
async fn payload_table(catalog: &Catalog, name: &str, options: &[(&str, String)]) -> Result<FileStoreTable> {
    create_pk_table(catalog, name, "id BIGINT NOT NULL, payload STRING", &["id"], options).await.map_err(err)
}

// ---------------------------------------------------------------------------------------------------------
// crash-test writer

/// The crash tests' table rows: `k` (primary key), `id` (unique per change), `v`; with a `rk` row-kind column.
fn change_batch(first_id: i64, rows: usize, keys: i64) -> Result<RecordBatch> {
    let ids: Vec<i64> = (first_id..first_id + rows as i64).collect();
    let k: Vec<i64> = ids.iter().map(|id| id % keys).collect();
    let kinds: Vec<&str> = ids.iter().map(|id| if (id / keys) % 7 == 6 { "-D" } else { "+I" }).collect();
    let v: Vec<String> = ids.iter().map(|id| format!("value-{id}")).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("k", Arc::new(Int64Array::from(k))),
        ("id", Arc::new(Int64Array::from(ids))),
        ("v", Arc::new(StringArray::from(v))),
        ("rk", Arc::new(StringArray::from(kinds))),
    ];
    Ok(RecordBatch::try_from_iter(columns)?)
}

async fn crash_writer(
    warehouse: &str,
    table: &str,
    first_id: i64,
    batches: usize,
    rows: usize,
    commit_every: usize,
    keys: i64,
) -> Result<()> {
    let t = Catalog::open(warehouse, false)?.get_table(&Identifier::parse(table)?).await?;
    let mut writer = t.writer().await?.with_row_kind_column(Some("rk".into()));
    let recovery = writer.log_recovery().clone();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "OPEN replayed={} warnings={}", recovery.replayed_records, recovery.warnings.len());
    for batch in 0..batches {
        let first = first_id + (batch * rows) as i64;
        writer.write(&change_batch(first, rows, keys)?).await?;
        let _ = writeln!(out, "ACK {batch} {first} {}", first + rows as i64 - 1);
        let _ = out.flush();
        if (batch + 1) % commit_every.max(1) == 0 {
            if let Some(id) = writer.commit().await? {
                let _ = writeln!(out, "COMMIT {id}");
                let _ = out.flush();
            }
        }
    }
    if let Some(id) = writer.commit().await? {
        let _ = writeln!(out, "COMMIT {id}");
    }
    writer.finish().await?;
    let _ = writeln!(out, "DONE");
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// latency

async fn paced_writer(
    warehouse: &str,
    table: &str,
    writes: usize,
    interval_ms: u64,
    commit_each: bool,
    acks: &Path,
) -> Result<()> {
    let t = Catalog::open(warehouse, false)?.get_table(&Identifier::parse(table)?).await?;
    let mut writer = t.writer().await?;
    let mut times = Vec::with_capacity(writes);
    for id in 0..writes as i64 {
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(vec![id])) as ArrayRef),
            ("payload", Arc::new(StringArray::from(vec![format!("change {id}")])) as ArrayRef),
        ])?;
        let start = now_nanos();
        writer.write(&batch).await?;
        if commit_each {
            writer.commit().await?;
        }
        times.push((id, start, now_nanos()));
        tokio::time::sleep(Duration::from_millis(interval_ms)).await;
    }
    writer.commit().await?;
    let text: String = times.iter().map(|(id, start, ack)| format!("{id} {start} {ack}\n")).collect();
    std::fs::write(acks, text).map_err(|e| err(format!("cannot write `{}`: {e}", acks.display())))?;
    Ok(())
}

/// How the latency reader sees the writer's rows.
#[derive(Clone, Copy, Debug)]
enum Way {
    LogEventual,
    LogTransactional,
    SnapshotPolling,
    /// Eventual log on a `changelog-producer = lookup` table whose keys all exist: every write is an update,
    /// delivered as its `-U` before-image and `+U` (the reader counts a write seen when both arrived).
    LookupBeforeImage,
}

async fn latency(writes: usize, interval_ms: u64, poll_ms: u64, dir: Option<PathBuf>) -> Result<()> {
    let work = WorkDir::new(dir, "dyntable-bench-log", false).map_err(err)?;
    let exe = std::env::current_exe().map_err(|e| err(format!("cannot find this executable: {e}")))?;
    println!("commit-to-visible latency: {writes} single-row writes {interval_ms} ms apart, writer and reader in two processes, one run");
    println!("{:<50} {:>9} {:>9} {:>9} {:>12} {:>12}", "way", "ack->seen", "", "", "start->seen", "");
    println!("{:<50} {:>9} {:>9} {:>9} {:>12} {:>12}", "", "p50 ms", "p99 ms", "max ms", "p50 ms", "p99 ms");
    let ways = [Way::LogEventual, Way::LogTransactional, Way::SnapshotPolling, Way::LookupBeforeImage];
    for (i, way) in ways.into_iter().enumerate() {
        let warehouse = work.path.join(format!("wh{i}"));
        let catalog = Catalog::open(warehouse.to_str().ok_or_else(|| err("non-utf8 path"))?, true)?;
        let mut options = vec![("bucket", "1".to_string()), ("write-only", "true".to_string())];
        match way {
            Way::LogEventual => {
                options.push(("log.system", "embedded".into()));
                options.push(("log.consistency", "eventual".into()));
            }
            Way::LogTransactional => options.push(("log.system", "embedded".into())),
            Way::SnapshotPolling => {}
            Way::LookupBeforeImage => {
                options.push(("log.system", "embedded".into()));
                options.push(("log.consistency", "eventual".into()));
                options.push(("changelog-producer", "lookup".into()));
            }
        }
        let table = payload_table(&catalog, "bench.latency", &options).await?;
        if matches!(way, Way::LookupBeforeImage) {
            // Every key the paced writer will write exists (committed) beforehand.
            let ids: Vec<i64> = (0..writes as i64).collect();
            let payloads: Vec<String> = ids.iter().map(|id| format!("before {id}")).collect();
            let batch = RecordBatch::try_from_iter(vec![
                ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
                ("payload", Arc::new(StringArray::from(payloads)) as ArrayRef),
            ])?;
            let mut w = table.writer().await?;
            w.write(&batch).await?;
            w.commit().await?;
            w.finish().await?;
        }
        let acks = work.path.join(format!("acks{i}"));
        let mut child = Command::new(&exe)
            .args(["paced-writer", "--warehouse", warehouse.to_str().unwrap_or_default(), "--table", "bench.latency"])
            .args([
                "--writes",
                &writes.to_string(),
                "--interval-ms",
                &interval_ms.to_string(),
                "--acks",
                acks.to_str().unwrap_or_default(),
            ])
            .args(if matches!(way, Way::LogEventual | Way::LookupBeforeImage) { vec![] } else { vec!["--commit-each"] })
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| err(format!("cannot start the writer process: {e}")))?;
        let seen = match way {
            Way::LogEventual | Way::LogTransactional => seen_through_log(&table, writes).await?,
            Way::LookupBeforeImage => seen_with_before_images(&table, writes).await?,
            Way::SnapshotPolling => seen_by_polling(&table, writes, poll_ms).await?,
        };
        let status = child.wait().map_err(|e| err(format!("writer process: {e}")))?;
        if !status.success() {
            return Err(err(format!("the writer process failed: {status}")));
        }
        let acked: HashMap<i64, (i64, i64)> = std::fs::read_to_string(&acks)
            .map_err(|e| err(format!("cannot read `{}`: {e}", acks.display())))?
            .lines()
            .filter_map(|l| {
                let mut parts = l.split(' ').map(|p| p.parse::<i64>().ok());
                Some((parts.next()??, (parts.next()??, parts.next()??)))
            })
            .collect();
        let mut from_ack = Vec::with_capacity(writes);
        let mut from_start = Vec::with_capacity(writes);
        for (id, seen_at) in &seen {
            if let Some((start, ack)) = acked.get(id) {
                from_ack.push((seen_at - ack) as f64 / 1e6);
                from_start.push((seen_at - start) as f64 / 1e6);
            }
        }
        if from_ack.len() != writes {
            return Err(err(format!("{way:?}: saw {} of {writes} acknowledged writes", from_ack.len())));
        }
        let label = match way {
            Way::LogEventual => "log, eventual".to_string(),
            Way::LogTransactional => "log, transactional (commit per write)".to_string(),
            Way::SnapshotPolling => format!("snapshot polling every {poll_ms} ms (commit per write)"),
            Way::LookupBeforeImage => "log, eventual, lookup producer: -U and +U of an update".to_string(),
        };
        let (ack, start) = (percentiles(from_ack), percentiles(from_start));
        println!("{label:<50} {:>9.2} {:>9.2} {:>9.2} {:>12.2} {:>12.2}", ack.0, ack.1, ack.2, start.0, start.1);
    }
    println!("ack -> seen: from the writer's acknowledgement (write returned; commit returned with a commit per write) to the reader's receipt; negative when the reader sees the change before the writer's call returns (eventual: visible once fsync'd, before the write call finishes buffering)");
    println!("start -> seen: from the start of the write call to the reader's receipt");
    Ok(())
}

/// Tails the table from its start and records when each id was first seen.
async fn seen_through_log(table: &FileStoreTable, writes: usize) -> Result<HashMap<i64, i64>> {
    let mut reader = ChangeReader::open(table, StartFrom::Latest).await?;
    let mut seen = HashMap::with_capacity(writes);
    while seen.len() < writes {
        let changes = tokio::time::timeout(Duration::from_secs(30), reader.next())
            .await
            .map_err(|_| err("no change arrived for 30 s"))??;
        let at = now_nanos();
        let ids =
            changes.batch.column_by_name("id").ok_or_else(|| err("no id column"))?.as_primitive::<Int64Type>().clone();
        for id in ids.values() {
            seen.entry(*id).or_insert(at);
        }
    }
    Ok(seen)
}

/// Like [`seen_through_log`] for updates: a write is seen when both its `-U` (with the old payload) and its `+U`
/// arrived. A before-image that is not the committed row is an error.
async fn seen_with_before_images(table: &FileStoreTable, writes: usize) -> Result<HashMap<i64, i64>> {
    let mut reader = ChangeReader::open(table, StartFrom::Latest).await?;
    let mut halves: HashMap<i64, u8> = HashMap::with_capacity(writes);
    let mut seen = HashMap::with_capacity(writes);
    while seen.len() < writes {
        let changes = tokio::time::timeout(Duration::from_secs(30), reader.next())
            .await
            .map_err(|_| err("no change arrived for 30 s"))??;
        let at = now_nanos();
        let batch = &changes.batch;
        let ids = batch.column_by_name("id").ok_or_else(|| err("no id column"))?.as_primitive::<Int64Type>().clone();
        let payloads = batch.column_by_name("payload").ok_or_else(|| err("no payload column"))?.as_string::<i32>();
        let kinds = batch.column(0).as_string::<i32>();
        for r in 0..batch.num_rows() {
            let (id, kind) = (ids.value(r), kinds.value(r));
            let bit = match kind {
                "-U" if payloads.value(r) == format!("before {id}") => 1,
                "+U" => 2,
                other => return Err(err(format!("key {id}: unexpected change {other} `{}`", payloads.value(r)))),
            };
            let got = halves.entry(id).or_insert(0);
            *got |= bit;
            if *got == 3 {
                seen.entry(id).or_insert(at);
            }
        }
    }
    Ok(seen)
}

/// Polls for new snapshots every `poll_ms` and reads the rows not seen yet, as a snapshot-based streaming
/// reader does.
async fn seen_by_polling(table: &FileStoreTable, writes: usize, poll_ms: u64) -> Result<HashMap<i64, i64>> {
    let mut seen = HashMap::with_capacity(writes);
    let mut last_snapshot = 0;
    let mut max_id = -1i64;
    let started = Instant::now();
    while seen.len() < writes {
        if started.elapsed() > Duration::from_secs(120) {
            return Err(err("snapshot polling: the writer's rows did not all arrive in 120 s"));
        }
        tokio::time::sleep(Duration::from_millis(poll_ms)).await;
        let Some(latest) = table.snapshot_manager().latest_id().await? else { continue };
        if latest == last_snapshot {
            continue;
        }
        last_snapshot = latest;
        let filter = Predicate::cmp("id", dyntable_storage::CmpOp::Gt, dyntable_storage::Datum::I64(max_id));
        let batches: Vec<RecordBatch> = table
            .scan(&ScanFrom::Snapshot(latest), Some(&["id".to_string()]), Some(filter))
            .await?
            .1
            .try_collect()
            .await?;
        let at = now_nanos();
        for b in &batches {
            for id in b.column(0).as_primitive::<Int64Type>().values() {
                seen.entry(*id).or_insert(at);
                max_id = max_id.max(*id);
            }
        }
    }
    Ok(seen)
}

// ---------------------------------------------------------------------------------------------------------
// throughput

struct Rate {
    records: u64,
    bytes: u64,
    seconds: f64,
}

impl Rate {
    fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.seconds
    }
    fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / self.seconds / 1e6
    }
}

/// The measurement with the median byte rate.
fn median(mut rates: Vec<Rate>) -> Rate {
    rates.sort_by(|a, b| a.mb_per_sec().total_cmp(&b.mb_per_sec()));
    rates.swap_remove(rates.len() / 2)
}

/// Sequential writes of `chunk` bytes, each followed by `fdatasync`, for `seconds`.
fn raw_fsync_writes(path: &Path, chunk: usize, seconds: f64) -> Result<Rate> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)
        .map_err(|e| err(format!("`{}`: {e}", path.display())))?;
    let data = vec![0x5au8; chunk];
    let started = Instant::now();
    let mut writes = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        file.write_all(&data).map_err(|e| err(format!("`{}`: {e}", path.display())))?;
        file.sync_data().map_err(|e| err(format!("`{}`: {e}", path.display())))?;
        writes += 1;
    }
    Ok(Rate { records: writes, bytes: writes * chunk as u64, seconds: started.elapsed().as_secs_f64() })
}

/// Appends batches of `payload` from `appenders` threads for `seconds`.
fn log_appends(
    dir: &Path,
    sync: SyncPolicy,
    payload: &[u8],
    batch_records: u32,
    appenders: usize,
    seconds: f64,
) -> Result<Rate> {
    let _ = std::fs::remove_dir_all(dir);
    let options = LogOptions { sync, compression: false, ..LogOptions::default() };
    let (log, _) = Log::open(dir, options).map_err(|e| err(format!("open log: {e}")))?;
    let log = Arc::new(log);
    let started = Instant::now();
    let threads: Vec<_> = (0..appenders)
        .map(|_| {
            let log = log.clone();
            let payload = payload.to_vec();
            std::thread::spawn(move || -> std::result::Result<u64, String> {
                let mut batches = 0u64;
                while started.elapsed().as_secs_f64() < seconds {
                    log.append(&payload, batch_records).map_err(|e| e.to_string())?;
                    batches += 1;
                }
                Ok(batches)
            })
        })
        .collect();
    let mut batches = 0;
    for thread in threads {
        batches += thread.join().map_err(|_| err("an appender thread panicked"))?.map_err(err)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Rate { records: batches * u64::from(batch_records), bytes: batches * payload.len() as u64, seconds })
}

async fn table_ingest(dir: &Path, with_log: bool, batch_records: usize, seconds: f64) -> Result<Rate> {
    let warehouse = dir.join(if with_log { "wh-log" } else { "wh-nolog" });
    let catalog = Catalog::open(warehouse.to_str().ok_or_else(|| err("non-utf8 path"))?, true)?;
    let mut options = vec![("bucket", "1".to_string()), ("write-only", "true".to_string())];
    if with_log {
        options.push(("log.system", "embedded".into()));
    }
    let table = payload_table(&catalog, "bench.ingest", &options).await?;
    let mut writer = table.writer().await?;
    let started = Instant::now();
    let mut records = 0u64;
    let mut bytes = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        let ids: Vec<i64> = (records as i64..records as i64 + batch_records as i64).collect();
        let payload: Vec<String> = ids.iter().map(|i| format!("{i:0>90}")).collect();
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
            ("payload", Arc::new(StringArray::from(payload)) as ArrayRef),
        ])?;
        bytes += batch.columns().iter().map(|c| c.get_buffer_memory_size() as u64).sum::<u64>();
        writer.write(&batch).await?;
        records += batch_records as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    writer.commit().await?;
    Ok(Rate { records, bytes, seconds })
}

/// The write size of the raw baseline: large enough that fsync latency no longer dominates.
const RAW_LARGE_CHUNK: usize = 1 << 20;

async fn throughput(
    seconds: f64,
    batch_records: usize,
    record_bytes: usize,
    repeat: usize,
    appenders: usize,
    dir: Option<PathBuf>,
) -> Result<()> {
    let work = WorkDir::new(dir, "dyntable-bench-log", false).map_err(err)?;
    let payload = vec![0x42u8; batch_records * record_bytes];
    let records = batch_records as u32;
    println!(
        "append throughput: batches of {batch_records} records x {record_bytes} B = {} B, {seconds} s per measurement, median of {repeat} interleaved, one run, disk of `{}`",
        payload.len(),
        work.path.display()
    );
    // Interleaved repetitions, medians: the disk is shared and its speed drifts within seconds.
    let (mut raws, mut raw_batches, mut per_batches, mut groups) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeat.max(1) {
        raws.push(raw_fsync_writes(&work.path.join("raw-large"), RAW_LARGE_CHUNK, seconds)?);
        raw_batches.push(raw_fsync_writes(&work.path.join("raw"), payload.len(), seconds)?);
        per_batches.push(log_appends(
            &work.path.join("log-batch"),
            SyncPolicy::EveryBatch,
            &payload,
            records,
            1,
            seconds,
        )?);
        groups.push(log_appends(
            &work.path.join("log-group"),
            SyncPolicy::GroupCommit { max_delay: Duration::from_millis(1), max_bytes: 4 << 20 },
            &payload,
            records,
            appenders,
            seconds,
        )?);
    }
    let (raw, raw_batch, per_batch, group) = (median(raws), median(raw_batches), median(per_batches), median(groups));
    let table_plain = table_ingest(&work.path, false, batch_records, seconds).await?;
    let table_log = table_ingest(&work.path, true, batch_records, seconds).await?;
    println!("{:<52} {:>14} {:>10} {:>12}", "way", "records/s", "MB/s", "vs raw MB/s");
    let line = |label: &str, rate: &Rate| {
        println!(
            "{label:<52} {:>14.0} {:>10.2} {:>11.2}x",
            rate.records_per_sec(),
            rate.mb_per_sec(),
            rate.mb_per_sec() / raw.mb_per_sec()
        );
    };
    line(
        &format!("raw: {} KiB writes, fdatasync after each", RAW_LARGE_CHUNK >> 10),
        &Rate { records: raw.bytes / record_bytes as u64, ..raw },
    );
    line(
        "raw: batch-sized writes, fdatasync after each",
        &Rate { records: raw_batch.records * batch_records as u64, ..raw_batch },
    );
    line("log, fsync per batch (1 appender)", &per_batch);
    line(&format!("log, group commit ({appenders} appenders)"), &group);
    line("table writer, no log (write-only, buffered)", &table_plain);
    line("table writer, embedded log (fsync per write)", &table_log);
    Ok(())
}
