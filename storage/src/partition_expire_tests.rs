//! Tests of partition expiration and dropping: which partitions go (time, formatter, pattern, unparsable
//! values), the `OVERWRITE` snapshot that drops them, the writer's check interval, `drop_partitions`, and the
//! refusals.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::Int64Type;

use crate::catalog::{Catalog, Identifier, TableSpec};
use crate::expire::tests::{create_with, rt};
use crate::io::FileIO;
use crate::manifest::FileKind;
use crate::scan::ScanFrom;
use crate::seams::{ManualClock, Seams, SeededIds};
use crate::snapshot::CommitKind;
use crate::table::{FileStoreTable, TableWriter};

/// 2024-01-10T00:00:00Z.
const JAN_10: i64 = 1_704_844_800_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// A primary-key table `dt STRING, id BIGINT, v STRING` partitioned by `dt`.
async fn dt_table(clock: Arc<ManualClock>, options: &[(&str, &str)]) -> FileStoreTable {
    create_with(clock, "dt STRING NOT NULL, id BIGINT NOT NULL, v STRING", &["dt", "id"], &["dt"], options).await
}

/// Writes one row per `(dt, id)` and commits.
async fn write(w: &mut TableWriter, rows: &[(&str, i64)]) -> Option<i64> {
    let batch = RecordBatch::try_from_iter([
        ("dt", Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())) as ArrayRef),
        ("id", Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>()))),
        ("v", Arc::new(StringArray::from(rows.iter().map(|_| "x").collect::<Vec<_>>()))),
    ])
    .unwrap();
    w.write(&batch).await.unwrap();
    w.commit().await.unwrap()
}

/// The (dt, id) rows a snapshot reads.
async fn read(t: &FileStoreTable, from: &ScanFrom) -> BTreeSet<(String, i64)> {
    let mut out = BTreeSet::new();
    for b in t.scan_collect(from, None, None).await.unwrap() {
        let dt = b.column_by_name("dt").unwrap().as_string::<i32>();
        let id = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            out.insert((dt.value(r).to_string(), id.value(r)));
        }
    }
    out
}

fn dts(rows: &BTreeSet<(String, i64)>) -> BTreeSet<String> {
    rows.iter().map(|(dt, _)| dt.clone()).collect()
}

fn spec(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Partitions older than now - expiration-time are dropped by one OVERWRITE snapshot whose delta DELETEs all
/// their files; an unparsable partition is skipped and reported; the older snapshot still reads everything.
#[test]
fn expires_by_time_and_skips_unparsable_partitions() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(JAN_10, 1));
        let t = dt_table(clock.clone(), &[("partition.expiration-time", "3 d")]).await;
        let mut w = t.writer().await.unwrap();
        write(&mut w, &[("2024-01-01", 1), ("2024-01-05", 2), ("2024-01-09", 3), ("someday", 4)]).await;
        let before = write(&mut w, &[("2024-01-01", 5)]).await.unwrap();
        let all = read(&t, &ScanFrom::Latest).await;
        assert_eq!(all.len(), 5);

        let report = t.expire_partitions(None).await.unwrap();
        assert_eq!(report.expired, vec![spec(&[("dt", "2024-01-01")]), spec(&[("dt", "2024-01-05")])]);
        assert_eq!(report.skipped.len(), 1);
        assert_eq!(report.skipped[0].0, spec(&[("dt", "someday")]));
        assert!(report.skipped[0].1.contains("someday"), "{}", report.skipped[0].1);
        let id = report.snapshot_id.unwrap();
        assert_eq!(id, before + 1);
        let snapshot = t.snapshot_manager().snapshot(id).await.unwrap();
        assert_eq!(snapshot.commit_kind, CommitKind::Overwrite);
        let ms = t.manifest_store();
        let mut delta = Vec::new();
        for m in ms.read_list(&snapshot.delta_manifest_list).await.unwrap() {
            delta.extend(ms.read_manifest(&m.file_name).await.unwrap());
        }
        assert!(delta.iter().all(|e| e.kind == FileKind::Delete));
        let dropped_files =
            t.files(&ScanFrom::Snapshot(before)).await.unwrap().len() - t.files(&ScanFrom::Latest).await.unwrap().len();
        assert_eq!(delta.len(), dropped_files);
        assert_eq!(dts(&read(&t, &ScanFrom::Latest).await), ["2024-01-09", "someday"].map(String::from).into());
        assert_eq!(read(&t, &ScanFrom::Snapshot(before)).await, all);
        // Nothing more to expire: no snapshot.
        let again = t.expire_partitions(None).await.unwrap();
        assert_eq!((again.expired.len(), again.snapshot_id), (0, None));
        // A later `now` reaches 2024-01-09 (before Jan 13).
        let later = t.expire_partitions(Some(JAN_10 + 4 * DAY)).await.unwrap();
        assert_eq!(later.expired, vec![spec(&[("dt", "2024-01-09")])]);
        assert_eq!(dts(&read(&t, &ScanFrom::Latest).await), ["someday".to_string()].into());
    });
}

/// `yyyyMMdd` formatter, and a two-field pattern `$dt $hour:00:00` with `yyyyMMdd HH:mm:ss`.
#[test]
fn formatter_and_two_field_pattern() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(JAN_10, 1));
        let t = dt_table(
            clock.clone(),
            &[("partition.expiration-time", "2 d"), ("partition.timestamp-formatter", "yyyyMMdd")],
        )
        .await;
        let mut w = t.writer().await.unwrap();
        write(&mut w, &[("20240107", 1), ("20240109", 2), ("2024-01-01", 3)]).await;
        // Before Jan 8 (a few clock readings after): Jan 7 goes, Jan 9 stays.
        let report = t.expire_partitions(None).await.unwrap();
        assert_eq!(report.expired, vec![spec(&[("dt", "20240107")])]);
        assert_eq!(report.skipped.iter().map(|s| s.0.clone()).collect::<Vec<_>>(), vec![spec(&[("dt", "2024-01-01")])]);
        assert!(report.skipped[0].1.contains("yyyyMMdd"), "{}", report.skipped[0].1);

        let t = create_with(
            clock.clone(),
            "dt STRING NOT NULL, hour STRING NOT NULL, id BIGINT NOT NULL",
            &["dt", "hour", "id"],
            &["dt", "hour"],
            &[
                ("partition.expiration-time", "90 min"),
                ("partition.timestamp-formatter", "yyyyMMdd HH:mm:ss"),
                ("partition.timestamp-pattern", "$dt $hour:00:00"),
            ],
        )
        .await;
        let mut w = t.writer().await.unwrap();
        let batch = RecordBatch::try_from_iter([
            ("dt", Arc::new(StringArray::from(vec!["20240109", "20240109", "20240109", "20240110"])) as ArrayRef),
            ("hour", Arc::new(StringArray::from(vec!["21", "22", "23", "00"]))),
            ("id", Arc::new(Int64Array::from(vec![1, 2, 3, 4]))),
        ])
        .unwrap();
        w.write(&batch).await.unwrap();
        w.commit().await.unwrap();
        // now = Jan 10 00:00: 21:00 and 22:00 are older than 90 minutes, 23:00 and 00:00 are not.
        let report = t.expire_partitions(None).await.unwrap();
        assert_eq!(
            report.expired,
            vec![spec(&[("dt", "20240109"), ("hour", "21")]), spec(&[("dt", "20240109"), ("hour", "22")])]
        );
        assert!(report.skipped.is_empty());
    });
}

/// The writer checks after a commit only once `partition.expiration-check-interval` has passed since its last
/// check (the first one since it opened), on the table's clock.
#[test]
fn writer_checks_once_per_interval() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(JAN_10, 1));
        let t = dt_table(
            clock.clone(),
            &[("partition.expiration-time", "2 d"), ("partition.expiration-check-interval", "1 h")],
        )
        .await;
        let mut w = t.writer().await.unwrap();
        // Within the first interval: the old partition stays.
        clock.advance(10 * 60_000);
        let id = write(&mut w, &[("2024-01-01", 1), ("2024-01-09", 2)]).await.unwrap();
        assert_eq!(t.snapshot_manager().latest_id().await.unwrap(), Some(id));
        assert_eq!(dts(&read(&t, &ScanFrom::Latest).await).len(), 2);
        // An hour later the commit is followed by the drop, whose snapshot the commit returns.
        clock.advance(HOUR);
        let id = write(&mut w, &[("2024-01-09", 3)]).await.unwrap();
        let latest = t.snapshot_manager().latest().await.unwrap().unwrap();
        assert_eq!((latest.id, latest.commit_kind), (id, CommitKind::Overwrite));
        assert_eq!(dts(&read(&t, &ScanFrom::Latest).await), ["2024-01-09".to_string()].into());
        assert_eq!(w.metrics().expired_partitions, 1);
        // Right after a check: an old partition written again stays until the next interval.
        let id = write(&mut w, &[("2024-01-02", 4)]).await.unwrap();
        assert_eq!(t.snapshot_manager().snapshot(id).await.unwrap().commit_kind, CommitKind::Append);
        assert!(dts(&read(&t, &ScanFrom::Latest).await).contains("2024-01-02"));
        clock.advance(HOUR);
        write(&mut w, &[("2024-01-09", 5)]).await;
        assert_eq!(dts(&read(&t, &ScanFrom::Latest).await), ["2024-01-09".to_string()].into());
        assert_eq!(w.metrics().expired_partitions, 2);
        // The writer goes on writing into the remaining partition.
        write(&mut w, &[("2024-01-09", 6)]).await;
        assert_eq!(read(&t, &ScanFrom::Latest).await.len(), 4);
    });
}

/// `drop_partitions` by full and partial specs (values as the partition directories spell them); nothing
/// matched makes no snapshot; bad specs are errors naming the column.
#[test]
fn drop_partitions_by_spec() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(JAN_10, 1));
        let t = create_with(
            clock,
            "dt STRING NOT NULL, hour INT NOT NULL, id BIGINT NOT NULL",
            &["dt", "hour", "id"],
            &["dt", "hour"],
            &[],
        )
        .await;
        let mut w = t.writer().await.unwrap();
        let batch = RecordBatch::try_from_iter([
            ("dt", Arc::new(StringArray::from(vec!["a", "a", "b", "b", "c"])) as ArrayRef),
            ("hour", Arc::new(arrow::array::Int32Array::from(vec![1, 2, 1, 2, 1]))),
            ("id", Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5]))),
        ])
        .unwrap();
        w.write(&batch).await.unwrap();
        let before = w.commit().await.unwrap().unwrap();
        let m = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let dropped = t.drop_partitions(&[m(&[("dt", "a"), ("hour", "2")]), m(&[("dt", "b")])]).await.unwrap();
        assert_eq!(
            dropped,
            vec![
                spec(&[("dt", "a"), ("hour", "2")]),
                spec(&[("dt", "b"), ("hour", "1")]),
                spec(&[("dt", "b"), ("hour", "2")])
            ]
        );
        let ids = |batches: Vec<RecordBatch>| -> Vec<i64> {
            let mut out: Vec<i64> = batches
                .iter()
                .flat_map(|b| b.column_by_name("id").unwrap().as_primitive::<Int64Type>().values().to_vec())
                .collect();
            out.sort();
            out
        };
        assert_eq!(ids(t.scan_collect(&ScanFrom::Latest, None, None).await.unwrap()), vec![1, 5]);
        assert_eq!(ids(t.scan_collect(&ScanFrom::Snapshot(before), None, None).await.unwrap()), vec![1, 2, 3, 4, 5]);
        let latest = t.snapshot_manager().latest_id().await.unwrap();
        assert!(t.drop_partitions(&[m(&[("dt", "zzz")])]).await.unwrap().is_empty());
        assert_eq!(t.snapshot_manager().latest_id().await.unwrap(), latest, "no snapshot for nothing dropped");
        let e = t.drop_partitions(&[m(&[("id", "1")])]).await.unwrap_err().to_string();
        assert!(e.contains("`id` is not a partition key"), "{e}");
        let e = t.drop_partitions(&[m(&[])]).await.unwrap_err().to_string();
        assert!(e.contains("empty partition spec"), "{e}");
        // On-demand expiration without the option says which option to set.
        let e = t.expire_partitions(None).await.unwrap_err().to_string();
        assert!(e.contains("partition.expiration-time"), "{e}");
    });
}

fn spec_table(options: &[(&str, &str)], partition: &[&str]) -> TableSpec {
    let mut spec = TableSpec::new("dt STRING NOT NULL, id BIGINT NOT NULL", &["dt", "id"], partition, options);
    spec.options.insert("bucket".into(), "1".into());
    spec
}

/// Tables with the embedded log refuse dropping and expiring partitions (and the option at creation); bad
/// option values are rejected at creation naming the option and the value.
#[test]
fn refusals_and_bad_options() {
    rt().block_on(async {
        let seams = Seams { clock: Arc::new(ManualClock::new(JAN_10, 1)), ids: Arc::new(SeededIds::new(3)) };
        let io = FileIO::new(Arc::new(object_store::memory::InMemory::new()), "wh".into()).with_seams(seams);
        let catalog = Catalog::from_io(io);
        let ident = |t: &str| Identifier::parse(&format!("db.{t}")).unwrap();
        let log_spec = spec_table(&[("log.system", "embedded")], &["dt"]);
        let log = catalog.create_table(&ident("log"), &log_spec, false).await.unwrap();
        for e in [
            log.drop_partitions(&[BTreeMap::from([("dt".to_string(), "a".to_string())])]).await.unwrap_err(),
            log.expire_partitions(None).await.unwrap_err(),
        ] {
            let e = e.to_string();
            assert!(e.contains("log.system") && e.contains("-D records"), "{e}");
        }
        let e = catalog
            .create_table(
                &ident("log2"),
                &spec_table(&[("log.system", "embedded"), ("partition.expiration-time", "1 d")], &["dt"]),
                false,
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("partition.expiration-time") && e.contains("does not support"), "{e}");
        for (k, v, partition) in [
            ("partition.expiration-time", "a while", &["dt"][..]),
            ("partition.expiration-check-interval", "hourly", &["dt"][..]),
            ("partition.timestamp-formatter", "dd.MM.yyyy G", &["dt"][..]),
            ("partition.timestamp-pattern", "$day", &["dt"][..]),
            ("partition.expiration-time", "1 d", &[][..]),
        ] {
            let e = catalog.create_table(&ident("bad"), &spec_table(&[(k, v)], partition), false).await;
            let e = e.unwrap_err().to_string();
            assert!(e.contains(k) && e.contains(v), "{e}");
        }
    });
}

/// With `changelog-producer` = 'lookup', the writer that drops a partition forgets its key states there: a key
/// written again into the dropped partition is a new row (+I), not an update of a dropped one.
#[test]
fn lookup_writer_forgets_dropped_partitions() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(JAN_10, 1));
        let t = dt_table(
            clock.clone(),
            &[
                ("changelog-producer", "lookup"),
                ("partition.expiration-time", "2 d"),
                ("partition.expiration-check-interval", "0"),
            ],
        )
        .await;
        let mut w = t.writer().await.unwrap();
        write(&mut w, &[("2024-01-09", 1)]).await;
        // The commit of the old partition's row is followed by its drop (interval 0: every commit checks).
        let dropped = write(&mut w, &[("2024-01-01", 7)]).await.unwrap();
        assert_eq!(t.snapshot_manager().snapshot(dropped).await.unwrap().commit_kind, CommitKind::Overwrite);
        assert!(!dts(&read(&t, &ScanFrom::Latest).await).contains("2024-01-01"));
        // Written again (and dropped again by this commit's check): its changelog says +I.
        let id = write(&mut w, &[("2024-01-01", 7)]).await.unwrap();
        let (_, changes) =
            t.incremental_between(dropped, id, crate::incremental::ChangeScanMode::Changelog).await.unwrap();
        let changes: Vec<RecordBatch> = futures::TryStreamExt::try_collect(changes).await.unwrap();
        let kinds: Vec<String> = changes
            .iter()
            .flat_map(|b| {
                b.column_by_name("rowkind").unwrap().as_string::<i32>().iter().map(|k| k.unwrap().to_string())
            })
            .collect();
        assert_eq!(kinds, vec!["+I".to_string()]);
    });
}
