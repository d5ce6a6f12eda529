//! Crash tests of the embedded changelog: a writer process (`dyntable-bench-log writer`) is killed with
//! SIGKILL many times, at varied points of its appends and commits, and restarted. Afterwards:
//! - every acknowledged record is in the log exactly once (and no record twice);
//! - the log and the snapshots agree: offsets only grow, the latest snapshot covers the whole log, and the
//!   table at each snapshot equals the log's changes below that snapshot's offsets, applied in order;
//! - a tailing reader from the first snapshot delivers exactly the log, and its changes applied give the table.
//!
//! `DYNTABLE_SEED` replays a run; `DYNTABLE_CRASH_RUNS` sets the number of kills (default 25).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use dyntable_benches::table::create_pk_table;
use dyntable_log_store::LogFollower;
use dyntable_storage::changelog::{bucket_log_dir, decode_changes};
use dyntable_storage::stream::{ChangeReader, StartFrom};
use dyntable_storage::Catalog;
use dyntable_storage::{FileStoreTable, ScanFrom};
use rand::{Rng, SeedableRng};

const KEYS: i64 = 50;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// One change as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    kind: i8,
    k: i64,
    id: i64,
    v: String,
}

fn changes_of(kinds: &[i8], values: &RecordBatch) -> Vec<Change> {
    let k = values.column_by_name("k").unwrap().as_primitive::<Int64Type>();
    let id = values.column_by_name("id").unwrap().as_primitive::<Int64Type>();
    let v = values.column_by_name("v").unwrap().as_string::<i32>();
    (0..values.num_rows())
        .map(|i| Change { kind: kinds[i], k: k.value(i), id: id.value(i), v: v.value(i).to_string() })
        .collect()
}

/// Every bucket's log as (offset, change) in order.
fn read_logs(table: &FileStoreTable) -> BTreeMap<i32, Vec<(i64, Change)>> {
    let mut out = BTreeMap::new();
    for bucket in 0..2 {
        let follower = LogFollower::open(bucket_log_dir(table.log_dir().unwrap(), bucket)).unwrap();
        let mut changes = Vec::new();
        for batch in follower.read_from(0).unwrap() {
            let batch = batch.unwrap();
            let decoded = decode_changes(&batch.payload).unwrap();
            for (i, change) in changes_of(decoded.kinds.values(), &decoded.values).into_iter().enumerate() {
                changes.push((batch.base_offset as i64 + i as i64, change));
            }
        }
        out.insert(bucket, changes);
    }
    out
}

/// The table a sequence of changes makes (deduplicate engine: the last change of a key wins, -D removes).
fn apply<'a>(changes: impl IntoIterator<Item = &'a Change>) -> BTreeMap<i64, (i64, String)> {
    let mut state = BTreeMap::new();
    for c in changes {
        if c.kind == 1 || c.kind == 3 {
            state.remove(&c.k);
        } else {
            state.insert(c.k, (c.id, c.v.clone()));
        }
    }
    state
}

async fn table_state(table: &FileStoreTable, from: &ScanFrom) -> BTreeMap<i64, (i64, String)> {
    let mut state = BTreeMap::new();
    for b in table.scan_collect(from, None, None).await.unwrap() {
        for c in changes_of(&vec![0; b.num_rows()], &b) {
            state.insert(c.k, (c.id, c.v));
        }
    }
    state
}

/// Runs the writer until it has printed `kill_after` lines (then SIGKILL), or to the end; returns its lines.
fn run_writer(warehouse: &str, first_id: i64, commit_every: usize, kill_after: Option<(usize, u64)>) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dyntable-bench-log"))
        .args(["writer", "--warehouse", warehouse, "--table", "db.crash", "--first-id", &first_id.to_string()])
        .args([
            "--batches",
            "120",
            "--rows",
            "15",
            "--commit-every",
            &commit_every.to_string(),
            "--keys",
            &KEYS.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the writer");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    if let Some((after, micros)) = kill_after {
        while lines.len() < after {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => lines.push(line),
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_micros(micros));
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    if kill_after.is_none() {
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(status.success(), "the final writer failed: {stderr}\n{lines:?}");
        assert_eq!(lines.last().map(String::as_str), Some("DONE"), "{lines:?}");
    }
    lines
}

#[test]
fn killed_writers_lose_no_acknowledged_record() {
    let seed: u64 = std::env::var("DYNTABLE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let runs: usize = std::env::var("DYNTABLE_CRASH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(25);
    eprintln!("crash test seed {seed} (DYNTABLE_SEED={seed} replays it), {runs} kills");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().to_str().unwrap().to_string();
    rt().block_on(async {
        let catalog = Catalog::open(&warehouse, true).unwrap();
        let options = [
            ("bucket", "2".to_string()),
            ("log.system", "embedded".to_string()),
            ("log.consistency", "eventual".to_string()),
            ("log.segment.size", "8 kb".to_string()),
            ("write-only", "true".to_string()),
        ];
        create_pk_table(&catalog, "db.crash", "k BIGINT NOT NULL, id BIGINT, v STRING", &["k"], &options)
            .await
            .unwrap();
    });

    let mut acked: HashSet<i64> = HashSet::new();
    let mut replayed_total = 0u64;
    let mut kills_in_commit = 0;
    for run in 0..runs {
        let commit_every = rng.random_range(1..=3);
        // Kill after 1..40 output lines (ACK and COMMIT lines interleave), then a random few microseconds
        // more, so the kill lands inside an append, between appends, or inside a commit.
        let kill = (rng.random_range(1..=40), rng.random_range(0..3000));
        let lines = run_writer(&warehouse, (run as i64 + 1) * 1_000_000, commit_every, Some(kill));
        for line in &lines {
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["ACK", _, first, last] => acked.extend(first.parse::<i64>().unwrap()..=last.parse::<i64>().unwrap()),
                ["OPEN", replayed, _] => {
                    replayed_total += replayed.trim_start_matches("replayed=").parse::<u64>().unwrap()
                }
                _ => {}
            }
        }
        if lines.last().is_some_and(|l| l.starts_with("ACK"))
            && (lines.iter().filter(|l| l.starts_with("ACK")).count()).is_multiple_of(commit_every)
        {
            kills_in_commit += 1;
        }
    }
    // A clean run commits whatever the last killed writer left uncommitted.
    let lines = run_writer(&warehouse, 999_000_000, 1, None);
    for line in &lines {
        if let ["ACK", _, first, last] = line.split_whitespace().collect::<Vec<_>>().as_slice() {
            acked.extend(first.parse::<i64>().unwrap()..=last.parse::<i64>().unwrap());
        }
    }
    eprintln!("{} acknowledged records, {replayed_total} replayed after kills, {kills_in_commit} kills right after an ACK that triggers a commit", acked.len());
    assert!(
        replayed_total > 0,
        "no kill left acknowledged but uncommitted records: the test does not exercise recovery (seed {seed})"
    );

    rt().block_on(async {
        let catalog = Catalog::open(&warehouse, false).unwrap();
        let table = catalog.get_table(&dyntable_storage::Identifier::parse("db.crash").unwrap()).await.unwrap();
        let logs = read_logs(&table);

        // Exactly once: every acknowledged id once, no id twice.
        let mut count: HashMap<i64, usize> = HashMap::new();
        for changes in logs.values() {
            for (_, c) in changes {
                *count.entry(c.id).or_default() += 1;
            }
        }
        let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "records in the log more than once: {twice:?} (seed {seed})");
        let lost: Vec<_> = acked.iter().filter(|id| !count.contains_key(id)).collect();
        assert!(
            lost.is_empty(),
            "acknowledged records missing from the log: {} of them, e.g. {:?} (seed {seed})",
            lost.len(),
            lost.iter().take(5).collect::<Vec<_>>()
        );

        // The snapshots agree with the log.
        let snapshots = table.snapshot_manager().all().await.unwrap();
        let ends: BTreeMap<i32, i64> = logs.iter().map(|(b, c)| (*b, c.last().map_or(0, |(o, _)| o + 1))).collect();
        let mut previous: BTreeMap<i32, i64> = BTreeMap::new();
        for s in &snapshots {
            let offsets = s.log_offsets.clone().unwrap_or_default();
            for (b, o) in &offsets {
                assert!(
                    *o >= previous.get(b).copied().unwrap_or(0),
                    "snapshot {} moves bucket {b} back (seed {seed})",
                    s.id
                );
                assert!(*o <= ends[b], "snapshot {} points past the log of bucket {b} (seed {seed})", s.id);
            }
            previous = offsets;
        }
        assert_eq!(previous, ends, "the latest snapshot covers the whole log (seed {seed})");
        let step = (snapshots.len() / 8).max(1);
        for s in snapshots.iter().step_by(step).chain(snapshots.last()) {
            let offsets = s.log_offsets.clone().unwrap_or_default();
            let prefix = logs
                .iter()
                .flat_map(|(b, c)| c.iter().filter(|(o, _)| *o < offsets.get(b).copied().unwrap_or(0)).map(|(_, c)| c));
            assert_eq!(
                table_state(&table, &ScanFrom::Snapshot(s.id)).await,
                apply(prefix),
                "table at snapshot {} vs its log prefix (seed {seed})",
                s.id
            );
        }

        // A tailing reader from the first snapshot delivers the log exactly, bucket by bucket.
        let mut reader = ChangeReader::open(&table, StartFrom::FromSnapshot(1)).await.unwrap();
        let total: usize = logs.values().map(Vec::len).sum();
        let mut delivered: Vec<Change> = Vec::new();
        while delivered.len() < total {
            let next = tokio::time::timeout(Duration::from_secs(10), reader.next())
                .await
                .expect("the reader stalled")
                .unwrap();
            let values = next.batch.project(&(1..next.batch.num_columns()).collect::<Vec<_>>()).unwrap();
            let kinds: Vec<i8> = next
                .batch
                .column(0)
                .as_string::<i32>()
                .iter()
                .map(|k| dyntable_storage::RowKind::parse(k.unwrap()).unwrap() as i8)
                .collect();
            delivered.extend(changes_of(&kinds, &values));
        }
        assert_eq!(delivered.len(), total);
        let mut by_bucket: BTreeMap<i32, Vec<Change>> = BTreeMap::new();
        let bucket_of_k: HashMap<i64, i32> =
            logs.iter().flat_map(|(b, c)| c.iter().map(move |(_, c)| (c.k, *b))).collect();
        for c in &delivered {
            by_bucket.entry(bucket_of_k[&c.k]).or_default().push(c.clone());
        }
        for (b, changes) in &logs {
            let expected: Vec<Change> = changes.iter().map(|(_, c)| c.clone()).collect();
            assert_eq!(
                by_bucket.get(b).cloned().unwrap_or_default(),
                expected,
                "the reader's changes of bucket {b} (seed {seed})"
            );
        }
        let in_log_order = logs.values().flat_map(|c| c.iter().map(|(_, c)| c));
        assert_eq!(
            table_state(&table, &ScanFrom::Latest).await,
            apply(in_log_order),
            "the table vs its whole log (seed {seed})"
        );
    });
}
