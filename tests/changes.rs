//! Incremental reads of tables without the embedded log, as Paimon's streaming read does them: a
//! `ChangeReader` follows the snapshots and reads the delta files of `APPEND` snapshots (compactions skipped)
//! from every start position (`latest`, `full`, `snapshot:N`, `snapshot-full:N`, `timestamp:T`), named
//! consumers resume where they stopped, and the batch read of the changes between two snapshots
//! (`FileStoreTable::incremental_between`, SQL `t$audit_log` with `incremental-between`) with its edge cases.

mod common;

use std::time::Duration;

use arrow::array::RecordBatch;
use common::{batch, change_lines, create, drain, rt};
use dyntable::Catalog;
use dyntable_storage::consumer::StreamPosition;
use dyntable_storage::stream::{ChangeReader, StartFrom};
use dyntable_storage::{ChangeScanMode, CommitKind, ErrorKind, FileStoreTable};
use futures::TryStreamExt;
use serde_json::{json, Value};

const SCHEMA: &str = "id BIGINT NOT NULL, name STRING, dt STRING NOT NULL, _op STRING";

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn row(kind: &str, id: i64, name: &str) -> Value {
    json!({"id": id, "name": name, "dt": format!("d{}", id % 2), "_op": kind})
}

/// A change line as the reader prints it.
fn change(kind: &str, id: i64, name: &str) -> String {
    let mut v = row(kind, id, name);
    v["rowkind"] = json!(kind);
    dyntable::convert::canonical_json(&v)
}

/// A row of a full snapshot, delivered as an insert (the stored `_op` is the one its last write carried).
fn snapshot_row(op: &str, id: i64, name: &str) -> String {
    let mut v = row(op, id, name);
    v["rowkind"] = json!("+I");
    dyntable::convert::canonical_json(&v)
}

/// The commits of the test table, one per snapshot it writes (a full compaction after the second).
fn commits() -> Vec<Vec<Value>> {
    vec![
        (1..=6).map(|i| row("+I", i, &format!("n{i}"))).collect(),
        vec![row("+U", 1, "n1b"), row("-D", 2, "n2"), row("+I", 7, "n7")],
        vec![row("+I", 8, "n8"), row("+U", 3, "n3b")],
        vec![row("-D", 4, "n4")],
    ]
}

/// The changes of each snapshot of the test table: 1, 2 (APPEND), 3 (COMPACT: none), 4, 5 (APPEND).
fn changes_of(snapshot: i64) -> Vec<String> {
    let c = commits();
    let of = |rows: &[Value]| {
        sorted(
            rows.iter()
                .map(|r| change(r["_op"].as_str().unwrap(), r["id"].as_i64().unwrap(), r["name"].as_str().unwrap()))
                .collect(),
        )
    };
    match snapshot {
        1 => of(&c[0]),
        2 => of(&c[1]),
        3 => Vec::new(),
        4 => of(&c[2]),
        5 => of(&c[3]),
        _ => panic!("no snapshot {snapshot}"),
    }
}

/// A table without log (primary key, 2 buckets, partitioned): snapshots 1, 2 (APPEND), 3 (COMPACT), 4, 5
/// (APPEND), a few milliseconds apart.
async fn test_table(catalog: &Catalog) -> FileStoreTable {
    let t = create(catalog, "db.t", SCHEMA, &["id", "dt"], &["dt"], &[("bucket", "2"), ("rowkind.field", "_op")])
        .await
        .unwrap();
    for (i, rows) in commits().iter().enumerate() {
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, rows)).await.unwrap();
        w.commit().await.unwrap();
        w.finish().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        if i == 1 {
            t.compact(true, None).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let kinds: Vec<CommitKind> = t.snapshot_manager().all().await.unwrap().iter().map(|s| s.commit_kind).collect();
    use CommitKind::{Append, Compact};
    assert_eq!(kinds, vec![Append, Append, Compact, Append, Append]);
    t
}

/// Each start position delivers what Paimon's streaming read does: the changes of the APPEND snapshots from the
/// start (the COMPACT one adds nothing), after the rows of the start snapshot for the full modes.
#[test]
fn tail_a_table_without_log_from_each_start_position() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().to_str().unwrap(), true).unwrap();
        let t = test_table(&catalog).await;
        let snapshots = t.snapshot_manager();

        // snapshot:N: the changes of N and later, in snapshot order.
        let mut reader = ChangeReader::open(&t, StartFrom::FromSnapshot(2)).await.unwrap();
        let got = drain(&mut reader, &t).await;
        let expect: Vec<String> = [2, 4, 5].iter().flat_map(|s| changes_of(*s)).collect();
        assert_eq!(sorted(got[..3].to_vec()), changes_of(2), "snapshot 2 first: {got:#?}");
        assert_eq!(sorted(got.clone()), sorted(expect));
        assert_eq!(reader.position(), StreamPosition { next_snapshot: 6, log_offsets: Default::default() });

        // snapshot-full:N: the rows of N as inserts, then the changes after N.
        let mut reader = ChangeReader::open(&t, StartFrom::FromSnapshotFull(2)).await.unwrap();
        assert!(reader.in_snapshot_phase());
        let got = drain(&mut reader, &t).await;
        let rows_of_2 = vec![
            snapshot_row("+U", 1, "n1b"),
            snapshot_row("+I", 3, "n3"),
            snapshot_row("+I", 4, "n4"),
            snapshot_row("+I", 5, "n5"),
            snapshot_row("+I", 6, "n6"),
            snapshot_row("+I", 7, "n7"),
        ];
        assert_eq!(sorted(got[..6].to_vec()), sorted(rows_of_2));
        assert_eq!(sorted(got[6..].to_vec()), sorted([4, 5].iter().flat_map(|s| changes_of(*s)).collect()));

        // compacted-full: the rows of the latest COMPACT snapshot, then the changes after it.
        let mut compacted = None;
        for s in snapshots.all().await.unwrap() {
            if s.commit_kind == dyntable_storage::CommitKind::Compact {
                compacted = Some(s.id);
            }
        }
        let compacted = compacted.expect("the test table has a COMPACT snapshot");
        let mut reader = ChangeReader::open(&t, "compacted-full".parse().unwrap()).await.unwrap();
        let got = drain(&mut reader, &t).await;
        let mut same = ChangeReader::open(&t, StartFrom::FromSnapshotFull(compacted)).await.unwrap();
        assert_eq!(sorted(got.clone()), sorted(drain(&mut same, &t).await));
        assert!(!got.is_empty());

        // full: the latest rows, then nothing until a new commit.
        let mut reader = ChangeReader::open(&t, "full".parse().unwrap()).await.unwrap();
        let got = drain(&mut reader, &t).await;
        assert_eq!(got.len(), 6, "ids 1, 3, 5, 6, 7, 8 live: {got:#?}");
        assert!(got.iter().all(|l| l.contains(r#""rowkind":"+I""#)));

        // timestamp:T: the snapshots committed at or after T (here: 4 and 5).
        let at = snapshots.snapshot(4).await.unwrap().time_millis;
        let iso = dyntable_storage::datum::format_timestamp(at, 0, 3).replace(' ', "T");
        let from: StartFrom = format!("timestamp:{iso}").parse().unwrap();
        assert_eq!(from, StartFrom::FromTimestamp(at));
        let mut reader = ChangeReader::open(&t, from).await.unwrap();
        let got = drain(&mut reader, &t).await;
        assert_eq!(sorted(got), sorted([4, 5].iter().flat_map(|s| changes_of(*s)).collect()));
        // A time after every snapshot starts at the next commit.
        let mut late = ChangeReader::open(&t, StartFrom::FromTimestamp(at + 3_600_000)).await.unwrap();
        assert!(drain(&mut late, &t).await.is_empty());

        // latest: only what is committed after opening; the reader waits for it (the snapshot watcher).
        let mut latest = ChangeReader::open(&t, StartFrom::Latest).await.unwrap();
        assert!(latest.try_next().await.unwrap().is_none());
        let writer_table = t.clone();
        let write = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut w = writer_table.writer().await.unwrap();
            w.write(&batch(&writer_table, &[row("+I", 9, "n9"), row("-D", 5, "n5")])).await.unwrap();
            w.commit().await.unwrap();
            w.finish().await.unwrap();
        });
        let next = tokio::time::timeout(Duration::from_secs(10), latest.next()).await.expect("woken").unwrap();
        write.await.unwrap();
        let mut got = change_lines(&next.batch, &t);
        got.extend(drain(&mut latest, &t).await);
        assert_eq!(sorted(got), sorted(vec![change("+I", 9, "n9"), change("-D", 5, "n5")]));
        assert_eq!(latest.position().next_snapshot, 7);
        // The late reader sees that commit too.
        assert_eq!(drain(&mut late, &t).await.len(), 2);

        // Errors name what is wrong.
        let e = ChangeReader::open(&t, StartFrom::FromSnapshot(42)).await.err().unwrap();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.to_string().contains("snapshot 42"), "{e}");
        for bad in ["timestamp:yesterday", "snapshot:0", "from-timestamp:"] {
            let e = bad.parse::<StartFrom>().unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    });
}

/// A named consumer resumes after the last batch it saved, in the middle of the table's history, and a
/// consumer file Paimon wrote (`{"nextSnapshot": N}`) resumes at N; an expired position is an error naming it.
#[test]
fn consumers_resume_where_they_stopped() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().to_str().unwrap(), true).unwrap();
        let t = test_table(&catalog).await;
        let mut reader = ChangeReader::open_consumer(&t, "c1", StartFrom::FromSnapshot(1)).await.unwrap();
        // Read until snapshot 1 is wholly delivered, saving each batch's position.
        let mut first = Vec::new();
        while first.len() < 6 {
            let next = reader.next().await.unwrap();
            first.extend(change_lines(&next.batch, &t));
            t.consumers().save("c1", &next.position).await.unwrap();
        }
        assert_eq!(sorted(first), changes_of(1));
        assert_eq!(t.consumers().load("c1").await.unwrap().unwrap().next_snapshot, 2);
        drop(reader);
        let mut resumed = ChangeReader::open_consumer(&t, "c1", StartFrom::Latest).await.unwrap();
        let rest = drain(&mut resumed, &t).await;
        assert_eq!(sorted(rest), sorted([2, 4, 5].iter().flat_map(|s| changes_of(*s)).collect()));

        // A consumer file as Paimon writes it.
        let io = t.io().clone();
        io.write("consumer/consumer-java", bytes::Bytes::from_static(br#"{"nextSnapshot":4}"#)).await.unwrap();
        let mut java = ChangeReader::open_consumer(&t, "java", StartFrom::Latest).await.unwrap();
        assert_eq!(sorted(drain(&mut java, &t).await), sorted([4, 5].iter().flat_map(|s| changes_of(*s)).collect()));

        // Snapshot 1 expires (as Paimon's expiration deletes it): a position before the earliest snapshot fails.
        io.delete("snapshot/snapshot-1").await.unwrap();
        io.write("snapshot/EARLIEST", bytes::Bytes::from_static(b"2")).await.unwrap();
        let position = StreamPosition { next_snapshot: 1, log_offsets: Default::default() };
        let mut stale = ChangeReader::resume(&t, position).await.unwrap();
        let e = stale.try_next().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.to_string().contains("snapshot 1") && e.to_string().contains("expired"), "{e}");
    });
}

async fn between(
    t: &FileStoreTable,
    start: i64,
    end: i64,
    mode: ChangeScanMode,
) -> dyntable_storage::Result<Vec<String>> {
    let (_, stream) = t.incremental_between(start, end, mode).await?;
    let batches: Vec<RecordBatch> = stream.try_collect().await?;
    Ok(sorted(batches.iter().flat_map(|b| change_lines(b, t)).collect()))
}

/// `incremental_between(start, end)`: the changes of snapshots start+1..=end, one per key (its latest, as Java
/// Paimon merges the delta files of the range); the COMPACT snapshot adds nothing; edge cases fail clearly.
#[test]
fn incremental_between_snapshots() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().to_str().unwrap(), true).unwrap();
        let t = test_table(&catalog).await;
        for s in 1..=5 {
            assert_eq!(between(&t, s - 1, s, ChangeScanMode::Auto).await.unwrap(), changes_of(s), "snapshot {s}");
        }
        let all = between(&t, 0, 5, ChangeScanMode::Delta).await.unwrap();
        let expect = vec![
            change("+U", 1, "n1b"),
            change("-D", 2, "n2"),
            change("+U", 3, "n3b"),
            change("-D", 4, "n4"),
            change("+I", 5, "n5"),
            change("+I", 6, "n6"),
            change("+I", 7, "n7"),
            change("+I", 8, "n8"),
        ];
        assert_eq!(all, sorted(expect));
        assert_eq!(between(&t, 2, 3, ChangeScanMode::Delta).await.unwrap(), Vec::<String>::new(), "COMPACT");
        assert_eq!(between(&t, 3, 3, ChangeScanMode::Delta).await.unwrap(), Vec::<String>::new(), "start == end");
        // No changelog producer: no changelog files.
        assert!(between(&t, 0, 5, ChangeScanMode::Changelog).await.unwrap().is_empty());

        let e = between(&t, 4, 3, ChangeScanMode::Auto).await.unwrap_err().to_string();
        assert!(e.contains("incremental-between") && e.contains("4,3"), "{e}");
        let e = between(&t, 0, 9, ChangeScanMode::Auto).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.to_string().contains("snapshot 9"), "{e}");
        // Expired: snapshot 1 gone, so a range must start at 1 or later.
        t.io().delete("snapshot/snapshot-1").await.unwrap();
        t.io().write("snapshot/EARLIEST", bytes::Bytes::from_static(b"2")).await.unwrap();
        let e = between(&t, 0, 3, ChangeScanMode::Auto).await.unwrap_err();
        assert!(e.to_string().contains("snapshot 0") && e.to_string().contains("2..=5"), "{e}");
        assert_eq!(between(&t, 1, 2, ChangeScanMode::Auto).await.unwrap(), changes_of(2));
    });
}

/// SQL: `t$audit_log` with the `incremental-between` options gives the same rows; malformed values are errors
/// naming the option.
#[test]
fn sql_audit_log_incremental_between() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().to_str().unwrap(), true).unwrap();
        let t = test_table(&catalog).await;
        let session = dyntable_query::session::DyntableSession::open(dir.path().to_str().unwrap()).await.unwrap();
        let sql = |hint: &str| format!("SELECT * FROM db.t$audit_log /*+ OPTIONS({hint}) */");
        let lines = |batches: Vec<RecordBatch>| sorted(batches.iter().flat_map(|b| change_lines(b, &t)).collect());
        let got = lines(session.sql(&sql("'incremental-between' = '1,2'")).await.unwrap());
        assert_eq!(got, changes_of(2));
        let got = lines(
            session
                .sql(&sql("'incremental-between' = '0,5', 'incremental-between-scan-mode' = 'delta'"))
                .await
                .unwrap(),
        );
        assert_eq!(got, between(&t, 0, 5, ChangeScanMode::Delta).await.unwrap());
        let got = session
            .sql("SELECT rowkind, count(*) AS n FROM db.t$audit_log /*+ OPTIONS('incremental-between' = '3,5') */ GROUP BY rowkind ORDER BY rowkind")
            .await
            .unwrap();
        let pretty = arrow::util::pretty::pretty_format_batches(&got).unwrap().to_string();
        assert!(pretty.contains("+I") && pretty.contains("+U") && pretty.contains("-D"), "{pretty}");

        for (hint, named) in [
            ("'incremental-between' = '1'", "incremental-between"),
            ("'incremental-between' = 'a,b'", "incremental-between"),
            ("'incremental-between' = '1,2', 'incremental-between-scan-mode' = 'diff'", "incremental-between-scan-mode"),
            ("'incremental-between-scan-mode' = 'delta'", "incremental-between-scan-mode"),
            ("'incremental-between' = '1,2', 'scan.snapshot-id' = '1'", "scan.snapshot-id"),
            ("'incremental-between' = '3,1'", "incremental-between"),
            ("'incremental-between' = '1,9'", "snapshot 9"),
        ] {
            let e = session.sql(&sql(hint)).await.unwrap_err().to_string();
            assert!(e.contains(named), "{hint}: {e}");
        }
        let e = session.sql("SELECT * FROM db.t /*+ OPTIONS('incremental-between' = '1,2') */").await.unwrap_err();
        assert!(e.to_string().contains("audit_log"), "{e}");

        // `incremental-between-timestamp`: commit times name the same ranges (start: the last snapshot committed
        // at or before it, or the one before the earliest; end: the last committed at or before it).
        let times: Vec<(i64, i64)> =
            t.snapshot_manager().all().await.unwrap().iter().map(|s| (s.id, s.time_millis)).collect();
        let at_or_before = |ms: i64| times.iter().filter(|(_, t)| *t <= ms).map(|(id, _)| *id).max();
        for (from, to) in [(0, times[3].1), (times[1].1, times[3].1), (times[0].1, times[times.len() - 1].1)] {
            let (a, b) = (at_or_before(from).unwrap_or(0), at_or_before(to).unwrap_or(0));
            let hint = format!("'incremental-between-timestamp' = '{from},{to}', 'incremental-between-scan-mode' = 'delta'");
            let got = lines(session.sql(&sql(&hint)).await.unwrap());
            assert_eq!(got, between(&t, a, b, ChangeScanMode::Delta).await.unwrap(), "{hint}: snapshots {a},{b}");
        }
        // Tag names: the difference between the tagged snapshots (`FileStoreTable::incremental_between_tags`).
        t.create_tag("first", Some(1)).await.unwrap();
        t.create_tag("third", Some(3)).await.unwrap();
        let got = lines(session.sql(&sql("'incremental-between' = 'first,third'")).await.unwrap());
        let (_, stream) = t.incremental_between_tags("first", "third").await.unwrap();
        let want: Vec<RecordBatch> = stream.try_collect().await.unwrap();
        assert_eq!(got, lines(want));
        assert!(!got.is_empty());
        for (hint, named) in [
            ("'incremental-between' = 'first,3'", "not one of each"),
            ("'incremental-between' = 'third,first'", "must be after"),
            ("'incremental-between' = 'first,nope'", "nope"),
            ("'incremental-between' = 'first,third', 'incremental-between-scan-mode' = 'delta'", "tagged snapshots"),
            ("'incremental-between-timestamp' = '5'", "incremental-between-timestamp"),
            ("'incremental-between-timestamp' = '9,1'", "incremental-between-timestamp"),
            ("'incremental-between-timestamp' = '1,2', 'incremental-between' = '1,2'", "give one"),
        ] {
            let e = session.sql(&sql(hint)).await.unwrap_err().to_string();
            assert!(e.contains(named), "{hint}: {e}");
        }
    });
}

/// An append table (no primary key) streams and reads its new files as inserts.
#[test]
fn append_table_changes_are_inserts() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().to_str().unwrap(), true).unwrap();
        let t = create(&catalog, "db.a", "k INT, v STRING", &[], &[], &[]).await.unwrap();
        for c in 0..3 {
            let mut w = t.writer().await.unwrap();
            w.write(&batch(&t, &[json!({"k": c, "v": format!("v{c}")}), json!({"k": c, "v": "dup"})])).await.unwrap();
            w.commit().await.unwrap();
            w.finish().await.unwrap();
        }
        let mut reader = ChangeReader::open(&t, StartFrom::FromSnapshot(2)).await.unwrap();
        let got = drain(&mut reader, &t).await;
        let line = |k: i64, v: &str| dyntable::convert::canonical_json(&json!({"k": k, "v": v, "rowkind": "+I"}));
        assert_eq!(sorted(got), sorted(vec![line(1, "v1"), line(1, "dup"), line(2, "v2"), line(2, "dup")]));
        assert_eq!(between(&t, 0, 1, ChangeScanMode::Auto).await.unwrap(), sorted(vec![line(0, "v0"), line(0, "dup")]));
    });
}

/// `timestamp:T` on a table with the embedded log starts at the first snapshot committed at or after T, as
/// `snapshot:N` does there (the log from that snapshot's start offsets); after every snapshot, at the log's end.
#[test]
fn timestamp_start_on_a_table_with_the_log() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().to_str().unwrap(), true).unwrap();
        let t = create(
            &catalog,
            "db.l",
            SCHEMA,
            &["id", "dt"],
            &["dt"],
            &[("bucket", "2"), ("rowkind.field", "_op"), ("log.system", "embedded")],
        )
        .await
        .unwrap();
        let mut w = t.writer().await.unwrap();
        for rows in commits().iter().take(3) {
            w.write(&batch(&t, rows)).await.unwrap();
            w.commit().await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        w.finish().await.unwrap();
        let at = t.snapshot_manager().snapshot(2).await.unwrap().time_millis;
        let mut from_time = ChangeReader::open(&t, StartFrom::FromTimestamp(at)).await.unwrap();
        let mut from_two = ChangeReader::open(&t, StartFrom::FromSnapshot(2)).await.unwrap();
        let got = sorted(drain(&mut from_time, &t).await);
        assert_eq!(got.len(), 5, "the changes of snapshots 2 and 3: {got:#?}");
        assert_eq!(got, sorted(drain(&mut from_two, &t).await));
        let mut late = ChangeReader::open(&t, StartFrom::FromTimestamp(at + 3_600_000)).await.unwrap();
        assert!(drain(&mut late, &t).await.is_empty());
    });
}

/// A table dyntable writes with `changelog-producer = lookup` (no embedded log) streams its exact changes from
/// its changelog files: `-U` old / `+U` new for an update, `-D` with the whole old row, `+I` for a new key, and
/// `incremental_between` in the changelog mode (which `auto` picks) returns them per snapshot.
#[test]
fn lookup_producer_table_streams_exact_changes_from_its_changelog_files() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().to_str().unwrap(), true).unwrap();
        let options = [("bucket", "2"), ("rowkind.field", "_op"), ("changelog-producer", "lookup")];
        let t = create(&catalog, "db.lk", SCHEMA, &["id", "dt"], &["dt"], &options).await.unwrap();
        for rows in commits() {
            let mut w = t.writer().await.unwrap();
            w.write(&batch(&t, &rows)).await.unwrap();
            w.commit().await.unwrap();
            w.finish().await.unwrap();
        }
        // The exact changelog of the four commits (the stored `_op` column is the row's last written value).
        let per_snapshot = [
            (1..=6).map(|i| change("+I", i, &format!("n{i}"))).collect::<Vec<_>>(),
            vec![
                snapshot_kind("-U", "+I", 1, "n1"),
                snapshot_kind("+U", "+U", 1, "n1b"),
                snapshot_kind("-D", "+I", 2, "n2"),
                change("+I", 7, "n7"),
            ],
            vec![change("+I", 8, "n8"), snapshot_kind("-U", "+I", 3, "n3"), snapshot_kind("+U", "+U", 3, "n3b")],
            vec![snapshot_kind("-D", "+I", 4, "n4")],
        ];
        let snapshots = t.snapshot_manager().all().await.unwrap();
        let appends: Vec<i64> =
            snapshots.iter().filter(|s| s.commit_kind == CommitKind::Append).map(|s| s.id).collect();
        assert_eq!(appends.len(), 4, "{snapshots:?}");
        for (id, expect) in appends.iter().zip(&per_snapshot) {
            let got = between(&t, id - 1, *id, ChangeScanMode::Auto).await.unwrap();
            assert_eq!(got, sorted(expect.clone()), "snapshot {id}");
        }
        let mut reader = ChangeReader::open(&t, StartFrom::FromSnapshot(1)).await.unwrap();
        let streamed = drain(&mut reader, &t).await;
        assert_eq!(sorted(streamed), sorted(per_snapshot.concat()));
    });
}

/// A change whose stored `_op` value differs from its row kind (the old row of an update or delete keeps the
/// `_op` it was written with).
fn snapshot_kind(kind: &str, op: &str, id: i64, name: &str) -> String {
    let mut v = row(op, id, name);
    v["rowkind"] = json!(kind);
    dyntable::convert::canonical_json(&v)
}
