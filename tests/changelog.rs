//! The embedded changelog of tables (`log.system = 'embedded'`): log appends on write, offsets in snapshots,
//! recovery of acknowledged but uncommitted writes, hybrid reads (latest-full, latest, from-snapshot),
//! consistency modes, consumers and retention, and the errors of bad input.

mod common;

use std::time::Duration;

use common::{batch, canon, change_lines, create, drain, lines, rt};
use dyntable::Catalog;
use dyntable_storage::changelog::bucket_log_dir;
use dyntable_storage::consumer::StreamPosition;
use dyntable_storage::stream::{ChangeReader, StartFrom};
use dyntable_storage::{ErrorKind, FileStoreTable, ScanFrom};
use serde_json::json;

const SCHEMA: &str = "id BIGINT NOT NULL, name STRING, dt STRING NOT NULL";

fn local_catalog(dir: &tempfile::TempDir) -> Catalog {
    Catalog::open(dir.path().to_str().unwrap(), true).unwrap()
}

async fn log_table(catalog: &Catalog, name: &str, extra: &[(&str, &str)]) -> FileStoreTable {
    let mut options = vec![("bucket", "2"), ("log.system", "embedded")];
    options.extend_from_slice(extra);
    create(catalog, name, SCHEMA, &["id", "dt"], &["dt"], &options).await.unwrap()
}

/// A one-bucket table with 4 kb log segments, so a few dozen writes roll segments.
async fn small_segment_table(catalog: &Catalog) -> FileStoreTable {
    create(
        catalog,
        "db.r",
        "id BIGINT NOT NULL, name STRING",
        &["id"],
        &[],
        &[("bucket", "1"), ("log.system", "embedded"), ("log.segment.size", "4 kb")],
    )
    .await
    .unwrap()
}

/// Writes one row with a 60-character name (one log batch of about 100 bytes).
async fn write_padded(w: &mut dyntable_storage::TableWriter, t: &FileStoreTable, id: i64) {
    w.write(&batch(t, &[json!({"id": id, "name": format!("name-{id:0>60}")})])).await.unwrap();
}

fn change(kind: &str, id: i64, name: &str, dt: &str) -> String {
    dyntable::convert::canonical_json(&json!({"rowkind": kind, "id": id, "name": name, "dt": dt}))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Writes go to the log before the buffer; each snapshot records per-bucket offsets that cover exactly
/// what it committed; `full` delivers the snapshot's rows then later changes without gap or duplicate;
/// `snapshot:N` starts at the changes of snapshot N; `latest` only sees what comes after.
#[test]
fn hybrid_reads_have_no_gap_and_no_duplicate() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        let t = log_table(&catalog, "db.t", &[]).await;
        let mut w = t.writer().await.unwrap().with_row_kind_column(Some("_op".into()));
        w.write(&batch(
            &t,
            &[
                json!({"_op": "+I", "id": 1, "name": "a", "dt": "d1"}),
                json!({"_op": "+I", "id": 2, "name": "b", "dt": "d1"}),
            ],
        ))
        .await
        .unwrap();
        assert_eq!(w.commit().await.unwrap(), Some(1));
        let s1 = t.snapshot_manager().snapshot(1).await.unwrap();
        let offsets = s1.log_offsets.clone().unwrap();
        assert_eq!(offsets.values().sum::<i64>(), 2, "{offsets:?}");
        assert_eq!(offsets.keys().copied().collect::<Vec<_>>(), vec![0, 1]);

        let mut full = ChangeReader::open(&t, StartFrom::LatestFull).await.unwrap();
        let mut latest = ChangeReader::open(&t, StartFrom::Latest).await.unwrap();
        w.write(&batch(
            &t,
            &[
                json!({"_op": "+I", "id": 1, "name": "a2", "dt": "d1"}),
                json!({"_op": "-D", "id": 2, "name": "b", "dt": "d1"}),
            ],
        ))
        .await
        .unwrap();
        w.commit().await.unwrap();
        w.write(&batch(&t, &[json!({"_op": "+I", "id": 3, "name": "c", "dt": "d2"})])).await.unwrap();
        w.commit().await.unwrap();

        let got = drain(&mut full, &t).await;
        let snapshot_rows = vec![change("+I", 1, "a", "d1"), change("+I", 2, "b", "d1")];
        let later = vec![change("+I", 1, "a2", "d1"), change("-D", 2, "b", "d1"), change("+I", 3, "c", "d2")];
        assert_eq!(sorted(got[..2].to_vec()), snapshot_rows);
        assert_eq!(sorted(got[2..].to_vec()), sorted(later.clone()));
        assert_eq!(sorted(drain(&mut latest, &t).await), sorted(later.clone()));

        let mut from2 = ChangeReader::open(&t, StartFrom::FromSnapshot(2)).await.unwrap();
        assert_eq!(sorted(drain(&mut from2, &t).await), sorted(later.clone()));
        // The same as a Stream.
        let mut stream = ChangeReader::open(&t, StartFrom::FromSnapshot(2)).await.unwrap().into_stream();
        let mut streamed = Vec::new();
        while streamed.len() < later.len() {
            let next = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut stream))
                .await
                .unwrap()
                .unwrap();
            streamed.extend(change_lines(&next.unwrap().batch, &t));
        }
        assert_eq!(sorted(streamed), sorted(later.clone()));
        let mut from1 = ChangeReader::open(&t, StartFrom::FromSnapshot(1)).await.unwrap();
        assert_eq!(drain(&mut from1, &t).await.len(), 5);
        let mut full2 = ChangeReader::open(&t, StartFrom::FromSnapshotFull(2)).await.unwrap();
        let got = drain(&mut full2, &t).await;
        assert_eq!(sorted(got[..1].to_vec()), vec![change("+I", 1, "a2", "d1")]);
        assert_eq!(got[1..].to_vec(), vec![change("+I", 3, "c", "d2")]);

        // Applying the changes from `full` gives the table.
        let table_rows = lines(&t, &ScanFrom::Latest).await;
        assert_eq!(
            table_rows,
            canon(&[json!({"id": 1, "name": "a2", "dt": "d1"}), json!({"id": 3, "name": "c", "dt": "d2"})])
        );
    });
}

/// Transactional readers see changes once committed; eventual readers once durable in the log.
#[test]
fn consistency_modes() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        for (name, mode) in [("db.tx", "transactional"), ("db.ev", "eventual")] {
            let t = log_table(&catalog, name, &[("log.consistency", mode)]).await;
            let mut reader = ChangeReader::open(&t, StartFrom::Latest).await.unwrap();
            let mut w = t.writer().await.unwrap();
            w.write(&batch(&t, &[json!({"id": 7, "name": "x", "dt": "d"})])).await.unwrap();
            let before_commit = drain(&mut reader, &t).await;
            w.commit().await.unwrap();
            let after_commit = drain(&mut reader, &t).await;
            let expected = vec![change("+I", 7, "x", "d")];
            if mode == "transactional" {
                assert!(before_commit.is_empty(), "{before_commit:?}");
                assert_eq!(after_commit, expected);
            } else {
                assert_eq!(before_commit, expected);
                assert!(after_commit.is_empty(), "{after_commit:?}");
            }
        }
    });
}

/// A tailing reader is woken by a commit (no polling delay of a second or more).
#[test]
fn tailing_reader_wakes_on_commit() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        let t = log_table(&catalog, "db.t", &[]).await;
        let mut reader = ChangeReader::open(&t, StartFrom::Latest).await.unwrap();
        let t2 = t.clone();
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut w = t2.writer().await.unwrap();
            w.write(&batch(&t2, &[json!({"id": 1, "name": "a", "dt": "d"})])).await.unwrap();
            w.commit().await.unwrap();
            std::time::Instant::now()
        });
        let next = tokio::time::timeout(Duration::from_secs(10), reader.next()).await.unwrap().unwrap();
        let seen = std::time::Instant::now();
        let committed = writer.await.unwrap();
        assert_eq!(change_lines(&next.batch, &t), vec![change("+I", 1, "a", "d")]);
        let lag = seen.saturating_duration_since(committed);
        assert!(
            lag < Duration::from_millis(900),
            "woken {lag:?} after the commit: looks like the re-check timer, not a notification"
        );
    });
}

/// A writer that stops without committing (a crash) loses nothing acknowledged: reopening replays the log
/// after the latest snapshot's offsets, and the next commit records them.
#[test]
fn uncommitted_writes_are_replayed_after_a_crash() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        let t = log_table(&catalog, "db.t", &[]).await;
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 1, "name": "a", "dt": "d1"})])).await.unwrap();
        w.commit().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 2, "name": "b", "dt": "d1"}), json!({"id": 1, "name": "a2", "dt": "d1"})]))
            .await
            .unwrap();
        drop(w); // acknowledged, never committed

        let t = catalog.get_table(&dyntable::Identifier::parse("db.t").unwrap()).await.unwrap();
        let mut w = t.writer().await.unwrap();
        assert_eq!(w.log_recovery().replayed_records, 2);
        w.write(&batch(&t, &[json!({"id": 3, "name": "c", "dt": "d2"})])).await.unwrap();
        assert_eq!(w.commit().await.unwrap(), Some(2));
        drop(w);
        assert_eq!(
            lines(&t, &ScanFrom::Latest).await,
            canon(&[
                json!({"id": 1, "name": "a2", "dt": "d1"}),
                json!({"id": 2, "name": "b", "dt": "d1"}),
                json!({"id": 3, "name": "c", "dt": "d2"})
            ])
        );
        let s2 = t.snapshot_manager().snapshot(2).await.unwrap();
        assert_eq!(s2.log_offsets.unwrap().values().sum::<i64>(), 4);
        // Nothing left to replay.
        assert_eq!(t.writer().await.unwrap().log_recovery().replayed_records, 0);
    });
}

/// A consumer resumes where it saved its position; retention deletes sealed segments only below what the
/// earliest snapshot and every consumer still need; a reader asking for deleted offsets gets a clear error.
#[test]
fn consumers_and_retention() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        let t = small_segment_table(&catalog).await;
        let mut w = t.writer().await.unwrap();
        let write_some = async |w: &mut dyntable_storage::TableWriter, from: i64| {
            for i in from..from + 40 {
                write_padded(w, &t, i).await;
            }
            w.commit().await.unwrap();
        };
        write_some(&mut w, 0).await;
        // The consumer reads the first 40 changes and saves its position.
        let mut reader = ChangeReader::open_consumer(&t, "app1", StartFrom::FromSnapshot(1)).await.unwrap();
        assert_eq!(drain(&mut reader, &t).await.len(), 40);
        t.consumers().save("app1", &reader.position()).await.unwrap();
        let consumers = t.consumers().list().await.unwrap();
        assert_eq!(consumers.len(), 1);
        assert_eq!(consumers[0].1, StreamPosition { next_snapshot: 2, log_offsets: [(0, 40)].into() });

        write_some(&mut w, 100).await;
        let log_dir = bucket_log_dir(t.log_dir().unwrap(), 0);
        let segments = || {
            std::fs::read_dir(&log_dir)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".log"))
                .count()
        };
        assert!(segments() > 2, "small segments roll");

        // Snapshot 1 is retained, so nothing may go yet. Resuming the consumer delivers exactly the second 40
        // changes.
        assert_eq!(
            std::fs::read_dir(&log_dir)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy() == format!("{:020}.log", 0))
                .count(),
            1
        );
        let mut resumed = ChangeReader::open_consumer(&t, "app1", StartFrom::LatestFull).await.unwrap();
        let got = drain(&mut resumed, &t).await;
        assert_eq!(got.len(), 40);
        assert!(got[0].contains("\"id\":100"), "{}", got[0]);

        // Expiring snapshot 1 and moving the consumer forward lets retention delete old segments.
        t.consumers().save("app1", &resumed.position()).await.unwrap();
        let before = segments();
        t.io().delete("snapshot/snapshot-1").await.unwrap();
        t.io().write("snapshot/EARLIEST", bytes::Bytes::from("2")).await.unwrap();
        write_some(&mut w, 200).await;
        assert!(segments() < before, "retention deleted sealed segments: {} -> {}", before, segments());
        let e = match ChangeReader::resume(&t, StreamPosition { next_snapshot: 1, log_offsets: [(0, 0)].into() }).await
        {
            Err(e) => e,
            Ok(_) => panic!("reading deleted offsets must fail"),
        };
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert!(e.to_string().contains("deleted by log retention"), "{e}");
        let e = ChangeReader::resume(&t, StreamPosition { next_snapshot: 9, log_offsets: [(0, 1_000_000)].into() })
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("beyond the end of its log"), "{e}");
        // The consumer itself still reads on.
        let mut resumed = ChangeReader::open_consumer(&t, "app1", StartFrom::LatestFull).await.unwrap();
        assert_eq!(drain(&mut resumed, &t).await.len(), 40);
    });
}

/// Bad input: a snapshot a table without a log lacks, unknown start points, snapshots that do not exist, a damaged
/// log batch, and an overwrite (which a changelog cannot express). Nothing committed is harmed.
#[test]
fn bad_input_is_a_clear_error() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        let plain = create(&catalog, "db.plain", SCHEMA, &["id", "dt"], &["dt"], &[("bucket", "1")]).await.unwrap();
        // A table without the log is followed through its snapshots (tests/changes.rs): nothing yet.
        let mut reader = ChangeReader::open(&plain, StartFrom::Latest).await.unwrap();
        assert!(reader.try_next().await.unwrap().is_none());
        let e = ChangeReader::open(&plain, StartFrom::FromSnapshot(1)).await.err().unwrap();
        assert!(e.to_string().contains("no snapshots"), "{e}");
        for bad in ["sometime", "snapshot:x", "snapshot:-1"] {
            let e = bad.parse::<StartFrom>().unwrap_err();
            assert!(e.to_string().contains(bad.split(':').next_back().unwrap()), "{e}");
        }
        let e = create(&catalog, "db.badopt", SCHEMA, &["id", "dt"], &["dt"], &[("log.system", "kafka")])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("log.system") && e.to_string().contains("kafka"), "{e}");

        let t = log_table(&catalog, "db.t", &[]).await;
        let e = ChangeReader::open(&t, StartFrom::FromSnapshot(3)).await.err().unwrap();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 1, "name": "a", "dt": "d1"})])).await.unwrap();
        w.commit().await.unwrap();
        assert!(t.check_overwrite().unwrap_err().to_string().contains("overwrite"));
        // Even past the check, an overwrite is refused and the rows already in the log stay buffered, so the
        // next commit commits them and the log and the snapshots still agree.
        w.write(&batch(&t, &[json!({"id": 2, "name": "b", "dt": "d1"})])).await.unwrap();
        let e = w.overwrite(dyntable_storage::OverwriteScope::Table).await.unwrap_err();
        assert!(e.to_string().contains("overwrite"), "{e}");
        assert_eq!(lines(&t, &ScanFrom::Latest).await, canon(&[json!({"id": 1, "name": "a", "dt": "d1"})]));
        w.commit().await.unwrap();
        assert_eq!(lines(&t, &ScanFrom::Latest).await.len(), 2);
        let latest = t.snapshot_manager().latest().await.unwrap().unwrap();
        assert_eq!(latest.log_offsets.unwrap().values().sum::<i64>(), 2);
        drop(w);

        // Flip a payload byte of a batch below the durable end: the reader names the segment and position.
        let log_dir = t.log_dir().unwrap().to_path_buf();
        let mut damaged = None;
        for bucket in 0..2 {
            let segment = bucket_log_dir(&log_dir, bucket).join(format!("{:020}.log", 0));
            let mut bytes = std::fs::read(&segment).unwrap();
            if bytes.len() > 40 {
                bytes[30] ^= 0xff;
                std::fs::write(&segment, bytes).unwrap();
                damaged = Some(segment);
                break;
            }
        }
        let damaged = damaged.expect("a bucket has data");
        let mut reader = ChangeReader::open(&t, StartFrom::FromSnapshot(1)).await.unwrap();
        let e = loop {
            match tokio::time::timeout(Duration::from_secs(2), reader.next()).await {
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => break e,
                Err(_) => panic!("the damaged batch was not reported"),
            }
        };
        assert!(e.to_string().contains(damaged.file_name().unwrap().to_str().unwrap()), "{e}");
        assert_eq!(e.kind(), ErrorKind::Data, "{e}");
        // The committed table is untouched.
        assert_eq!(lines(&t, &ScanFrom::Latest).await.len(), 2);
    });
}

/// With an object-store warehouse the logs live in a local directory and writers upload sealed segments to
/// the table's `log/`; a reader without the local logs (another machine) reads the uploaded changes.
#[test]
fn remote_readers_read_uploaded_segments() {
    rt().block_on(async {
        let logs = tempfile::tempdir().unwrap();
        let writer_catalog = common::memory_catalog().with_log_dir(logs.path());
        let remote_catalog = Catalog::from_io(writer_catalog.io().clone());
        let t = small_segment_table(&writer_catalog).await;
        let mut w = t.writer().await.unwrap();
        for i in 0..120 {
            write_padded(&mut w, &t, i).await;
            if i % 10 == 9 {
                w.commit().await.unwrap();
            }
        }
        let local = t.log_dir().unwrap().join("bucket-0");
        let sealed = dyntable_log_store::sealed_segments_in(&local).unwrap();
        assert!(sealed.len() >= 2, "segments rolled");
        let uploaded_end = sealed.last().unwrap().end_offset as usize;

        let remote = remote_catalog.get_table(&dyntable::Identifier::parse("db.r").unwrap()).await.unwrap();
        assert!(remote.log_dir().is_none());
        let mut reader = ChangeReader::open(&remote, StartFrom::FromSnapshot(1)).await.unwrap();
        let got = drain(&mut reader, &remote).await;
        assert_eq!(got.len(), uploaded_end, "the remote reader sees exactly the sealed, uploaded segments");
        let mut local_reader = ChangeReader::open(&t, StartFrom::FromSnapshot(1)).await.unwrap();
        let all = drain(&mut local_reader, &t).await;
        assert_eq!(all.len(), 120);
        assert_eq!(got, all[..uploaded_end].to_vec());

        // More writes seal more segments; the remote reader picks them up by listing again.
        for i in 120..200 {
            write_padded(&mut w, &t, i).await;
        }
        w.commit().await.unwrap();
        let sealed_end = dyntable_log_store::sealed_segments_in(&local).unwrap().last().unwrap().end_offset as usize;
        assert!(sealed_end > uploaded_end);
        let more = drain(&mut reader, &remote).await;
        assert_eq!(more.len(), sealed_end - uploaded_end);
    });
}

/// A torn tail (a half-written batch a crash left at the end of a log) is cut when the writer reopens, with
/// a warning; every acknowledged change survives.
#[test]
fn torn_tail_is_repaired_with_a_warning() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        let t = small_segment_table(&catalog).await;
        let mut w = t.writer().await.unwrap();
        write_padded(&mut w, &t, 1).await;
        w.commit().await.unwrap();
        write_padded(&mut w, &t, 2).await; // acknowledged, not committed
        drop(w);
        let segment = t.log_dir().unwrap().join("bucket-0").join(format!("{:020}.log", 0));
        let mut bytes = std::fs::read(&segment).unwrap();
        let whole = bytes.len();
        bytes.extend_from_within(..30); // the start of a frame, cut short
        std::fs::write(&segment, bytes).unwrap();

        let mut w = t.writer().await.unwrap();
        let recovery = w.log_recovery().clone();
        assert_eq!(recovery.replayed_records, 1);
        assert!(recovery.warnings.iter().any(|w| w.contains("torn")), "{:?}", recovery.warnings);
        assert_eq!(std::fs::metadata(&segment).unwrap().len() as usize, whole);
        w.commit().await.unwrap();
        let rows = lines(&t, &ScanFrom::Latest).await;
        assert_eq!(rows.len(), 2, "{rows:?}");
    });
}

/// SQL DML on a table with the changelog: INSERT, UPDATE and DELETE appear in the log as +I, -U/+U and -D, and
/// INSERT OVERWRITE is refused with the reason.
#[test]
fn sql_dml_is_logged() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let session = dyntable_query::session::DyntableSession::open(dir.path().to_str().unwrap()).await.unwrap();
        session
            .sql("CREATE TABLE db.s (id BIGINT NOT NULL, name STRING, PRIMARY KEY (id) NOT ENFORCED) WITH ('bucket' = '1', 'log.system' = 'embedded')")
            .await
            .unwrap();
        session.sql("INSERT INTO db.s VALUES (1, 'a'), (2, 'b')").await.unwrap();
        session.sql("UPDATE db.s SET name = 'a2' WHERE id = 1").await.unwrap();
        session.sql("DELETE FROM db.s WHERE id = 2").await.unwrap();
        let e = session.sql("INSERT OVERWRITE db.s VALUES (3, 'c')").await.unwrap_err();
        assert!(e.to_string().contains("overwrite"), "{e}");
        // Refused before anything was written: a later writer has nothing to replay.
        let t = session.catalog().get_table(&dyntable::Identifier::parse("db.s").unwrap()).await.unwrap();
        assert_eq!(t.writer().await.unwrap().log_recovery().replayed_records, 0);

        let mut reader = ChangeReader::open(&t, StartFrom::FromSnapshot(1)).await.unwrap();
        let got = drain(&mut reader, &t).await;
        let c = |kind: &str, id: i64, name: &str| dyntable::convert::canonical_json(&json!({"rowkind": kind, "id": id, "name": name}));
        assert_eq!(got, vec![c("+I", 1, "a"), c("+I", 2, "b"), c("-U", 1, "a"), c("+U", 1, "a2"), c("-D", 2, "b")]);
        assert_eq!(lines(&t, &ScanFrom::Latest).await, canon(&[json!({"id": 1, "name": "a2"})]));
    });
}

/// A writer whose data files cannot be written after its changes were logged refuses to commit (its offsets
/// would claim changes its files lack); reopened, it replays the log and commits everything.
#[test]
fn a_failed_flush_after_logging_stops_the_writer_until_reopened() {
    rt().block_on(async {
        let logs = tempfile::tempdir().unwrap();
        let faulty =
            std::sync::Arc::new(common::FaultyStore::new(std::sync::Arc::new(object_store::memory::InMemory::new())));
        let io = dyntable_storage::FileIO::new(faulty.clone(), object_store::path::Path::from("wh"));
        let catalog = Catalog::from_io(io).with_log_dir(logs.path());
        let t = log_table(&catalog, "db.f", &[]).await;
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 1, "name": "a", "dt": "d1"})])).await.unwrap();
        faulty.arm(".parquet", 0, 1);
        let e = w.commit().await.unwrap_err();
        assert!(e.to_string().contains("injected"), "{e}");
        let e = w.commit().await.unwrap_err();
        assert!(e.to_string().contains("reopen"), "{e}");
        let e = w.write(&batch(&t, &[json!({"id": 2, "name": "b", "dt": "d1"})])).await.unwrap_err();
        assert!(e.to_string().contains("reopen"), "{e}");
        drop(w);
        assert!(t.snapshot_manager().latest().await.unwrap().is_none());

        let mut w = t.writer().await.unwrap();
        assert_eq!(w.log_recovery().replayed_records, 1);
        w.commit().await.unwrap();
        assert_eq!(lines(&t, &ScanFrom::Latest).await, canon(&[json!({"id": 1, "name": "a", "dt": "d1"})]));

        // The same when the snapshot cannot be published (after every retry).
        w.write(&batch(&t, &[json!({"id": 3, "name": "c", "dt": "d1"})])).await.unwrap();
        faulty.arm("snapshot/snapshot-", 0, 100);
        assert!(w.commit().await.is_err());
        faulty.arm("snapshot/snapshot-", 0, 0);
        w.write(&batch(&t, &[json!({"id": 4, "name": "d", "dt": "d1"})])).await.unwrap_err();
        drop(w);
        let mut w = t.writer().await.unwrap();
        assert_eq!(w.log_recovery().replayed_records, 1);
        w.commit().await.unwrap();
        assert_eq!(lines(&t, &ScanFrom::Latest).await.len(), 2);
    });
}

/// A snapshot committed by a writer that keeps no changelog (Java Paimon writes `logOffsets: {}`) does not
/// reset the offsets: readers and recovering writers use the closest earlier snapshot that recorded them, so
/// nothing is delivered or replayed twice.
#[test]
fn snapshots_without_offsets_do_not_reset_the_log() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        let t = log_table(&catalog, "db.j", &[]).await;
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 1, "name": "a", "dt": "d1"}), json!({"id": 2, "name": "b", "dt": "d2"})]))
            .await
            .unwrap();
        w.commit().await.unwrap();
        drop(w);
        // Make snapshot 2 look like a foreign commit: the same files, `logOffsets` empty.
        let s1 = t.snapshot_manager().snapshot(1).await.unwrap();
        let foreign = dyntable_storage::Snapshot {
            id: 2,
            log_offsets: Some(Default::default()),
            commit_user: "java".into(),
            ..s1
        };
        assert!(t.snapshot_manager().try_publish(&foreign).await.unwrap());

        let mut w = t.writer().await.unwrap();
        assert_eq!(w.log_recovery().replayed_records, 0, "nothing is replayed twice");
        let mut reader = ChangeReader::open(&t, StartFrom::Latest).await.unwrap();
        w.write(&batch(&t, &[json!({"id": 3, "name": "c", "dt": "d1"})])).await.unwrap();
        w.commit().await.unwrap();
        assert_eq!(drain(&mut reader, &t).await, vec![change("+I", 3, "c", "d1")]);
        assert_eq!(lines(&t, &ScanFrom::Latest).await.len(), 3);
    });
}
