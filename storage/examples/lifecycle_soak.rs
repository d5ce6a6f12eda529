//! Soak benchmark of the table lifecycle (issue 11): many small commits into a primary-key table with the
//! embedded log, background compaction, snapshot expiration after every commit and log retention, while a named
//! consumer in the same process tails every change. Reports whether files, snapshots and log segments stay
//! bounded, whether commit latency stays flat, and what expiring snapshots costs.
//!
//! ```text
//! cargo build --release -p dyntable-storage --example lifecycle_soak
//! target/release/examples/lifecycle_soak [--commits 10000] [--rows 20] [--keys 5000] [--segment-size '256 kb']
//!     [--expire-commits 1500] [--changelog-retained N] [--producer none|input|lookup] [--dir DIR] [--keep]
//!     [--json FILE]
//! ```
//!
//! `--changelog-retained N` keeps the changelogs of the last N snapshots (`changelog.num-retained.max`, beyond
//! the 50 snapshots kept; `changelog.time-retained = 1 h`): expired snapshots leave long-lived changelogs
//! (`changelog/changelog-N`), which must stay bounded too.
//!
//! ```text
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::Int64Type;
use dyntable_storage::consumer::{recorded_log_offsets, StreamPosition};
use dyntable_storage::stream::{ChangeReader, StartFrom};
use dyntable_storage::{Catalog, ExpireConfig, FileStoreTable, Identifier, ScanFrom, TableSpec};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

type Res<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const CONSUMER: &str = "soak-tail";

struct Args {
    commits: usize,
    rows: usize,
    keys: u64,
    segment_size: String,
    expire_commits: usize,
    changelog_retained: Option<usize>,
    producer: String,
    dir: Option<PathBuf>,
    keep: bool,
    json: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut a = Args {
        commits: 10_000,
        rows: 20,
        keys: 5_000,
        segment_size: "256 kb".into(),
        expire_commits: 1_500,
        changelog_retained: None,
        producer: "none".into(),
        dir: None,
        keep: false,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--commits" => a.commits = val().parse().expect("--commits N"),
            "--rows" => a.rows = val().parse().expect("--rows N"),
            "--keys" => a.keys = val().parse().expect("--keys N"),
            "--segment-size" => a.segment_size = val(),
            "--expire-commits" => a.expire_commits = val().parse().expect("--expire-commits N"),
            "--changelog-retained" => a.changelog_retained = Some(val().parse().expect("--changelog-retained N")),
            "--producer" => a.producer = val(),
            "--dir" => a.dir = Some(PathBuf::from(val())),
            "--json" => a.json = Some(PathBuf::from(val())),
            "--keep" => a.keep = true,
            "--help" | "-h" => {
                println!("lifecycle_soak [--commits N] [--rows N] [--keys N] [--segment-size SIZE] [--expire-commits N] [--changelog-retained N] [--producer P] [--dir DIR] [--keep] [--json FILE]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other} (see --help)"),
        }
    }
    assert!(a.rows as u64 <= a.keys, "--rows must not exceed --keys");
    a
}

/// Files under the table directory, by kind.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct DirStats {
    data_files: u64,
    manifest_files: u64,
    snapshot_files: u64,
    log_segments: u64,
    log_index_files: u64,
    changelog_metadata_files: u64,
    changelog_data_files: u64,
    other_files: u64,
    total_files: u64,
    total_bytes: u64,
    data_bytes: u64,
    manifest_bytes: u64,
    log_bytes: u64,
}

impl DirStats {
    /// Raises every count to at least `other`'s.
    fn max_with(&mut self, o: &DirStats) {
        let pairs = [
            (&mut self.data_files, o.data_files),
            (&mut self.manifest_files, o.manifest_files),
            (&mut self.snapshot_files, o.snapshot_files),
            (&mut self.log_segments, o.log_segments),
            (&mut self.log_index_files, o.log_index_files),
            (&mut self.changelog_metadata_files, o.changelog_metadata_files),
            (&mut self.changelog_data_files, o.changelog_data_files),
            (&mut self.other_files, o.other_files),
            (&mut self.total_files, o.total_files),
            (&mut self.total_bytes, o.total_bytes),
            (&mut self.data_bytes, o.data_bytes),
            (&mut self.manifest_bytes, o.manifest_bytes),
            (&mut self.log_bytes, o.log_bytes),
        ];
        for (m, v) in pairs {
            *m = (*m).max(v);
        }
    }
}

fn dir_stats(table_dir: &Path) -> DirStats {
    let mut s = DirStats::default();
    let mut stack = vec![table_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(path);
                continue;
            }
            let name = e.file_name().to_string_lossy().to_string();
            let rel = path.strip_prefix(table_dir).unwrap_or(&path).to_string_lossy().to_string();
            let len = md.len();
            s.total_files += 1;
            s.total_bytes += len;
            if rel.starts_with("bucket-") && name.starts_with("data-") {
                s.data_files += 1;
                s.data_bytes += len;
            } else if rel.starts_with("manifest/") {
                s.manifest_files += 1;
                s.manifest_bytes += len;
            } else if rel.starts_with("snapshot/") && name.starts_with("snapshot-") {
                s.snapshot_files += 1;
            } else if rel.starts_with("log/") && name.ends_with(".log") {
                s.log_segments += 1;
                s.log_bytes += len;
            } else if rel.starts_with("changelog/") && name.starts_with("changelog-") {
                s.changelog_metadata_files += 1;
            } else if rel.starts_with("bucket-") && name.starts_with("changelog-") {
                s.changelog_data_files += 1;
                s.data_bytes += len;
            } else if rel.starts_with("log/") && name.ends_with(".index") {
                s.log_index_files += 1;
                s.log_bytes += len;
            } else {
                s.other_files += 1;
            }
        }
    }
    s
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

#[derive(Debug, Clone, serde::Serialize)]
struct Lat {
    p50_ms: f64,
    p99_ms: f64,
}

fn lat(samples: &[f64]) -> Lat {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    Lat { p50_ms: percentile(&v, 0.5), p99_ms: percentile(&v, 0.99) }
}

fn spec(options: &[(&str, &str)]) -> TableSpec {
    TableSpec {
        schema: "id BIGINT NOT NULL, v STRING".into(),
        primary_key: vec!["id".into()],
        partition: vec![],
        options: options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        comment: None,
    }
}

/// 20 (or `rows`) distinct keys out of `keys`, each with a ~60-byte value naming the commit.
fn batch(rng: &mut SmallRng, rows: usize, keys: u64, commit: usize) -> RecordBatch {
    let mut ids: Vec<i64> = Vec::with_capacity(rows);
    while ids.len() < rows {
        let k = rng.random_range(0..keys) as i64;
        if !ids.contains(&k) {
            ids.push(k);
        }
    }
    let values: Vec<String> = ids.iter().map(|k| format!("commit-{commit:08}-key-{k:08}-{:0>32}", k * 7919)).collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("v", Arc::new(StringArray::from(values)) as ArrayRef),
    ])
    .expect("batch")
}

/// What the tailing consumer has seen, shared with the main task.
#[derive(Default)]
struct ConsumerState {
    rows: BTreeMap<i64, String>,
    changes: u64,
    batches: u64,
    reopens: u64,
    position: StreamPosition,
    error: Option<String>,
}

/// The consumer: reads every change of the table through the named consumer, applies it to a map, checks that
/// log offsets advance contiguously (each batch moves exactly one bucket by exactly its row count), saves its
/// position after every batch, and re-opens itself from the saved position every `reopen_every` batches.
async fn consume(table: FileStoreTable, state: Arc<Mutex<ConsumerState>>, reopen_every: u64) {
    let result: Res<()> = async {
        let mut reader = ChangeReader::open_consumer(&table, CONSUMER, StartFrom::Latest).await?;
        let mut prev = reader.position();
        table.consumers().save(CONSUMER, &prev).await?;
        let mut since_open = 0u64;
        loop {
            let cb = reader.next().await?;
            let b = &cb.batch;
            let kinds = b.column(0).as_string::<i32>();
            let ids = b.column(1).as_primitive::<Int64Type>();
            let vs = b.column(2).as_string::<i32>();
            let n = b.num_rows() as i64;
            // Contiguity: one bucket advanced by exactly the rows delivered, the others did not move.
            let mut moved = 0i64;
            for (bucket, off) in &cb.position.log_offsets {
                let before = prev.log_offsets.get(bucket).copied().unwrap_or(0);
                if *off < before {
                    return Err(format!("bucket {bucket} went back from {before} to {off}").into());
                }
                moved += off - before;
            }
            if moved != n {
                return Err(format!(
                    "offsets moved by {moved} for a batch of {n} changes: {:?} -> {:?}",
                    prev.log_offsets, cb.position.log_offsets
                )
                .into());
            }
            table.consumers().save(CONSUMER, &cb.position).await?;
            {
                let mut st = state.lock().expect("state");
                for r in 0..b.num_rows() {
                    match kinds.value(r) {
                        "+I" | "+U" => {
                            st.rows.insert(ids.value(r), vs.value(r).to_string());
                        }
                        "-D" => {
                            st.rows.remove(&ids.value(r));
                        }
                        _ => {}
                    }
                }
                st.changes += n as u64;
                st.batches += 1;
                st.position = cb.position.clone();
            }
            prev = cb.position;
            since_open += 1;
            if since_open >= reopen_every {
                // Drop the reader and resume from the position stored in the consumer file.
                drop(reader);
                reader = ChangeReader::open_consumer(&table, CONSUMER, StartFrom::Latest).await?;
                let resumed = reader.position();
                if resumed.log_offsets != prev.log_offsets {
                    return Err(format!("resumed at {resumed:?}, stopped at {prev:?}").into());
                }
                state.lock().expect("state").reopens += 1;
                since_open = 0;
            }
        }
    }
    .await;
    if let Err(e) = result {
        state.lock().expect("state").error = Some(e.to_string());
    }
}

#[derive(serde::Serialize)]
struct Report {
    commits: usize,
    rows_per_commit: usize,
    keys: u64,
    segment_size: String,
    changelog_retained: Option<usize>,
    producer: String,
    wall_seconds: f64,
    start: DirStats,
    end: DirStats,
    max_during: DirStats,
    commit_first: Lat,
    commit_last: Lat,
    write_commit_first: Lat,
    write_commit_last: Lat,
    commit_p50_ratio: f64,
    commit_p99_ratio: f64,
    write_commit_p50_ratio: f64,
    write_commit_p99_ratio: f64,
    snapshots_made: i64,
    expired_in_writer: u64,
    compactions: String,
    consumer_changes: u64,
    consumer_batches: u64,
    consumer_reopens: u64,
    rows_written: u64,
    consumer_matches_table: bool,
    expire_commits: usize,
    expire_snapshots_before: usize,
    expire_expired: usize,
    expire_deleted_data_files: usize,
    expire_deleted_manifests: usize,
    expire_ms: f64,
    expire_ms_per_1000: f64,
    load_before: String,
    load_after: String,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_string()).unwrap_or_default()
}

fn main() -> Res<()> {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> Res<()> {
    let tmp = tempfile::Builder::new().prefix("lifecycle-soak-").tempdir()?;
    let root = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => tmp.path().to_path_buf(),
    };
    let catalog = Catalog::open(root.to_str().expect("utf-8 path"), true)?;
    catalog.create_database("db", true).await?;
    let load_before = loadavg();
    let seg = args.segment_size.clone();
    let soak_options = [
        ("bucket", "2"),
        ("log.system", "embedded"),
        ("log.segment.size", seg.as_str()),
        ("snapshot.num-retained.min", "10"),
        ("snapshot.num-retained.max", "50"),
        ("snapshot.time-retained", "1 s"),
    ];
    let retained = args.changelog_retained.map(|n| n.to_string());
    let mut soak_options = soak_options.to_vec();
    soak_options.push(("changelog-producer", args.producer.as_str()));
    if let Some(n) = &retained {
        soak_options.extend([("changelog.num-retained.max", n.as_str()), ("changelog.time-retained", "1 h")]);
    }
    let ident = Identifier::parse("db.soak")?;
    let table = catalog.create_table(&ident, &spec(&soak_options), false).await?;
    let table_dir = root.join("db.db").join("soak");
    println!("warehouse {} ; table {}", root.display(), table_dir.display());

    // The tailing consumer.
    let state = Arc::new(Mutex::new(ConsumerState::default()));
    let consumer = tokio::spawn(consume(table.clone(), state.clone(), 2_000));

    let mut w = table.writer().await?;
    let mut rng = SmallRng::seed_from_u64(42);
    let mut commit_ms = Vec::with_capacity(args.commits);
    let mut write_commit_ms = Vec::with_capacity(args.commits);
    let mut start_stats = DirStats::default();
    let mut max_during = DirStats::default();
    let mut rows_written = 0u64;
    let t0 = Instant::now();
    println!(
        "{:>7} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>10} {:>9} {:>9}",
        "commit", "data", "manif", "snapshot", "chlog", "log.seg", "files", "MiB", "p50 ms", "p99 ms"
    );
    for c in 0..args.commits {
        let b = batch(&mut rng, args.rows, args.keys, c);
        // Timed: the write (buffering + the log append, fsync'd) and the commit (snapshot, expiration, log
        // retention, compaction scheduling / committing a finished compaction).
        let ts = Instant::now();
        w.write(&b).await?;
        let tc = Instant::now();
        w.commit().await?;
        let end = Instant::now();
        commit_ms.push((end - tc).as_secs_f64() * 1e3);
        write_commit_ms.push((end - ts).as_secs_f64() * 1e3);
        rows_written += b.num_rows() as u64;
        if let Some(e) = state.lock().expect("state").error.clone() {
            return Err(format!("consumer failed at commit {c}: {e}").into());
        }
        let done = c + 1;
        if done == 100 || done % 1_000 == 0 || done == args.commits {
            let s = dir_stats(&table_dir);
            max_during.max_with(&s);
            let window = &commit_ms[done.saturating_sub(1_000)..done];
            let l = lat(window);
            println!(
                "{:>7} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>10.2} {:>9.2} {:>9.2}",
                done,
                s.data_files + s.changelog_data_files,
                s.manifest_files,
                s.snapshot_files,
                s.changelog_metadata_files,
                s.log_segments,
                s.total_files,
                s.total_bytes as f64 / 1048576.0,
                l.p50_ms,
                l.p99_ms
            );
            if done == 100 {
                start_stats = s;
            }
        }
    }
    let soak_wall = t0.elapsed().as_secs_f64();
    w.finish().await?;
    let metrics = w.metrics().clone();
    let latest = table.snapshot_manager().latest().await?.expect("a snapshot");
    let target = recorded_log_offsets(&table.snapshot_manager(), &latest).await?;
    // Wait for the consumer to reach the latest snapshot's offsets, then stop it (nothing is beyond them).
    let wait_start = Instant::now();
    loop {
        {
            let st = state.lock().expect("state");
            if let Some(e) = &st.error {
                return Err(format!("consumer failed: {e}").into());
            }
            if target.iter().all(|(b, o)| st.position.log_offsets.get(b).copied().unwrap_or(0) >= *o) {
                break;
            }
        }
        if wait_start.elapsed() > Duration::from_secs(120) {
            return Err("the consumer did not reach the latest snapshot within 120 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    consumer.abort();
    let _ = consumer.await;
    let end_stats = dir_stats(&table_dir);

    // Check: the table's latest rows equal the consumer's changes applied to an empty map, and the consumer
    // received every acknowledged change (the log offsets count every change written).
    let mut table_rows = BTreeMap::new();
    for b in table.scan_collect(&ScanFrom::Latest, None, None).await? {
        let ids = b.column(0).as_primitive::<Int64Type>();
        let vs = b.column(1).as_string::<i32>();
        for r in 0..b.num_rows() {
            table_rows.insert(ids.value(r), vs.value(r).to_string());
        }
    }
    let (consumer_changes, consumer_batches, consumer_reopens, matches) = {
        let st = state.lock().expect("state");
        (st.changes, st.batches, st.reopens, st.rows == table_rows)
    };
    let logged: i64 = target.values().sum();
    println!(
        "consumer: {consumer_changes} changes in {consumer_batches} batches ({consumer_reopens} re-opens from the consumer file); rows written {rows_written}; log offsets at the latest snapshot sum to {logged}; consumer map == table: {matches}"
    );
    if consumer_changes != rows_written || logged as u64 != rows_written || !matches {
        return Err("the consumer did not receive exactly every acknowledged change".into());
    }

    // Expiration cost: a table with the same options but expiration off during its commits, then one explicit
    // expire_snapshots run down to 10 snapshots (timed: that call only).
    println!("expiration phase: {} commits with expiration off ...", args.expire_commits);
    let exp_options = [
        ("bucket", "2"),
        ("log.system", "embedded"),
        ("log.segment.size", seg.as_str()),
        ("snapshot.num-retained.min", "10"),
        ("snapshot.num-retained.max", "2147483647"),
        ("snapshot.time-retained", "100000 d"),
    ];
    let et = catalog.create_table(&Identifier::parse("db.expire")?, &spec(&exp_options), false).await?;
    let mut ew = et.writer().await?;
    for c in 0..args.expire_commits {
        ew.write(&batch(&mut rng, args.rows, args.keys, c)).await?;
        ew.commit().await?;
    }
    ew.finish().await?;
    let snaps_before = dir_stats(&root.join("db.db").join("expire")).snapshot_files as usize;
    let config = ExpireConfig {
        retain_max: Some(10),
        retain_min: Some(10),
        older_than_millis: None,
        max_deletes: Some(usize::MAX),
    };
    let te = Instant::now();
    let report = et.expire_snapshots_report(&config).await?;
    let expire_ms = te.elapsed().as_secs_f64() * 1e3;
    let expire_per_1000 = expire_ms * 1000.0 / report.expired_snapshots.max(1) as f64;
    let load_after = loadavg();

    let cf = lat(&commit_ms[..commit_ms.len().min(500)]);
    let cl = lat(&commit_ms[commit_ms.len().saturating_sub(500)..]);
    let wf = lat(&write_commit_ms[..write_commit_ms.len().min(500)]);
    let wl = lat(&write_commit_ms[write_commit_ms.len().saturating_sub(500)..]);
    let rep = Report {
        commits: args.commits,
        rows_per_commit: args.rows,
        keys: args.keys,
        segment_size: args.segment_size.clone(),
        changelog_retained: args.changelog_retained,
        producer: args.producer.clone(),
        wall_seconds: soak_wall,
        start: start_stats,
        end: end_stats,
        max_during,
        commit_p50_ratio: cl.p50_ms / cf.p50_ms,
        commit_p99_ratio: cl.p99_ms / cf.p99_ms,
        write_commit_p50_ratio: wl.p50_ms / wf.p50_ms,
        write_commit_p99_ratio: wl.p99_ms / wf.p99_ms,
        commit_first: cf,
        commit_last: cl,
        write_commit_first: wf,
        write_commit_last: wl,
        snapshots_made: latest.id,
        expired_in_writer: metrics.expired_snapshots,
        compactions: format!("{:?}", metrics.compaction),
        consumer_changes,
        consumer_batches,
        consumer_reopens,
        rows_written,
        consumer_matches_table: matches,
        expire_commits: args.expire_commits,
        expire_snapshots_before: snaps_before,
        expire_expired: report.expired_snapshots,
        expire_deleted_data_files: report.deleted_data_files,
        expire_deleted_manifests: report.deleted_manifests,
        expire_ms,
        expire_ms_per_1000: expire_per_1000,
        load_before,
        load_after,
    };
    print_report(&rep);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&rep)?)?;
        println!("JSON written to {}", path.display());
    }
    if args.keep {
        let kept = tmp.keep();
        if args.dir.is_none() {
            println!("kept {}", kept.display());
        }
    }
    Ok(())
}

fn print_report(r: &Report) {
    println!();
    println!(
        "== lifecycle soak: {} commits of {} upserts over {} keys, bucket 2, log.segment.size {}, snapshot.num-retained 10..50, time-retained 1 s, changelog-producer {}, changelog.num-retained.max {}; soak wall {:.1} s ==",
        r.commits,
        r.rows_per_commit,
        r.keys,
        r.segment_size,
        r.producer,
        r.changelog_retained.map_or("unset".to_string(), |n| n.to_string()),
        r.wall_seconds
    );
    println!("Files under the table directory (after commit 100 = start; after the last commit and finish() = end; max = largest seen at the 1,000-commit checkpoints):");
    println!("| | start | end | max |");
    println!("|---|---|---|---|");
    type Column = (&'static str, fn(&DirStats) -> u64);
    let rows: [Column; 10] = [
        ("data files", |s| s.data_files),
        ("changelog files (bucket-N/changelog-*)", |s| s.changelog_data_files),
        ("long-lived changelogs (changelog/changelog-N)", |s| s.changelog_metadata_files),
        ("manifest files + lists", |s| s.manifest_files),
        ("snapshot files", |s| s.snapshot_files),
        ("log segments (.log)", |s| s.log_segments),
        ("log index files", |s| s.log_index_files),
        ("other files (schema, hints, consumer)", |s| s.other_files),
        ("all files", |s| s.total_files),
        ("total bytes", |s| s.total_bytes),
    ];
    for (name, f) in rows {
        println!("| {name} | {} | {} | {} |", f(&r.start), f(&r.end), f(&r.max_during));
    }
    println!("Latency per commit, ms (commit = TableWriter::commit: snapshot, expiration, log retention, compaction scheduling; write+commit adds the fsync'd log append):");
    println!("| | first 500 p50 | first 500 p99 | last 500 p50 | last 500 p99 | end/start p50 | end/start p99 |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| commit | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}x | {:.2}x |",
        r.commit_first.p50_ms,
        r.commit_first.p99_ms,
        r.commit_last.p50_ms,
        r.commit_last.p99_ms,
        r.commit_p50_ratio,
        r.commit_p99_ratio
    );
    println!(
        "| write+commit | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}x | {:.2}x |",
        r.write_commit_first.p50_ms,
        r.write_commit_first.p99_ms,
        r.write_commit_last.p50_ms,
        r.write_commit_last.p99_ms,
        r.write_commit_p50_ratio,
        r.write_commit_p99_ratio
    );
    println!(
        "Snapshots made {} (APPEND + COMPACT), expired by the writer {}; compaction {}",
        r.snapshots_made, r.expired_in_writer, r.compactions
    );
    println!(
        "Consumer `{CONSUMER}`: {} changes in {} batches, {} re-opens; rows written {}; consumer map equals the table: {}",
        r.consumer_changes, r.consumer_batches, r.consumer_reopens, r.rows_written, r.consumer_matches_table
    );
    println!(
        "Expiration (separate table, {} commits with expiration off, {} snapshot files; one expire_snapshots run down to 10): expired {} snapshots, deleted {} data files and {} manifests in {:.1} ms = {:.1} ms per 1,000 expired snapshots",
        r.expire_commits, r.expire_snapshots_before, r.expire_expired, r.expire_deleted_data_files, r.expire_deleted_manifests, r.expire_ms, r.expire_ms_per_1000
    );
    println!("Load average before: {} ; after: {}", r.load_before, r.load_after);
}
