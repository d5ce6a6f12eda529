//! Tests of snapshot expiration: which snapshots go (count, time, limit, consumers), that exactly the files
//! only expired snapshots used are deleted while every retained snapshot and tag reads the same rows, crash
//! recovery, and the errors of readers that held an expired snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::Int64Type;
use futures::TryStreamExt;
use object_store::ObjectStore;

use super::*;
use crate::catalog::{Catalog, Identifier, TableSpec};
use crate::options::DEFAULT_PARTITION_NAME;
use crate::scan::{live_entries, ScanFrom};
use crate::seams::{Clock, ManualClock, Seams, SeededIds, SystemClock};
use crate::table::{FileStoreTable, TableWriter};

pub(crate) const MINUTE: i64 = 60_000;

/// A `num-sorted-run.compaction-trigger` no test reaches: writers that expire but never compact on their own.
pub(crate) const NO_COMPACTION: &str = "1000";

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A primary-key table `id BIGINT, v STRING` in one bucket on an in-memory store whose clock is `clock`.
/// Writers never compact on their own (a compaction trigger no test reaches; not `write-only`, whose writers do
/// not expire either): compactions come from [`FileStoreTable::compact`].
pub(crate) async fn create(clock: Arc<ManualClock>, options: &[(&str, &str)]) -> FileStoreTable {
    create_with(clock, "id BIGINT NOT NULL, v STRING", &["id"], &[], options).await
}

pub(crate) async fn create_with(
    clock: Arc<ManualClock>,
    schema: &str,
    pk: &[&str],
    partition: &[&str],
    options: &[(&str, &str)],
) -> FileStoreTable {
    let seams = Seams { clock, ids: Arc::new(SeededIds::new(7)) };
    let io = FileIO::new(Arc::new(object_store::memory::InMemory::new()), "wh".into()).with_seams(seams);
    let mut spec = TableSpec::new(schema, pk, partition, options);
    spec.options.insert("bucket".into(), "1".into());
    spec.options.insert("num-sorted-run.compaction-trigger".into(), NO_COMPACTION.into());
    Catalog::from_io(io).create_table(&Identifier::parse("db.t").unwrap(), &spec, false).await.unwrap()
}

pub(crate) type Rows = BTreeMap<i64, String>;

/// Upserts `ids` with value `v{round}` through `w`, commits, and records the expected rows of the snapshot made.
pub(crate) async fn upsert(
    w: &mut TableWriter,
    model: &mut Rows,
    history: &mut BTreeMap<i64, Rows>,
    ids: &[i64],
    round: i64,
) {
    write_rows(w, model, history, ids, round, false).await
}

/// As [`upsert`]; with `partitioned`, also a partition column `p` = id % 2.
pub(crate) async fn write_rows(
    w: &mut TableWriter,
    model: &mut Rows,
    history: &mut BTreeMap<i64, Rows>,
    ids: &[i64],
    round: i64,
    partitioned: bool,
) {
    let values: Vec<String> = ids.iter().map(|_| format!("v{round}")).collect();
    let mut columns = vec![
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
        ("v", Arc::new(StringArray::from(values.clone())) as ArrayRef),
    ];
    if partitioned {
        let p: Vec<i32> = ids.iter().map(|id| (id % 2) as i32).collect();
        columns.push(("p", Arc::new(arrow::array::Int32Array::from(p)) as ArrayRef));
    }
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    w.write(&batch).await.unwrap();
    let id = w.commit().await.unwrap().expect("a snapshot");
    for (k, v) in ids.iter().zip(values) {
        model.insert(*k, v);
    }
    history.insert(id, model.clone());
}

pub(crate) async fn rows(t: &FileStoreTable, from: &ScanFrom) -> Result<Rows> {
    let mut out = Rows::new();
    for b in t.scan_collect(from, None, None).await? {
        let ids = b.column(0).as_primitive::<Int64Type>();
        let vs = b.column(1).as_string::<i32>();
        for r in 0..b.num_rows() {
            out.insert(ids.value(r), vs.value(r).to_string());
        }
    }
    Ok(out)
}

pub(crate) async fn earliest_latest(t: &FileStoreTable) -> (i64, i64) {
    let sm = t.snapshot_manager();
    (sm.earliest_id().await.unwrap().unwrap(), sm.latest_id().await.unwrap().unwrap())
}

/// Every file under the table's root, relative to it.
pub(crate) async fn actual_files(t: &FileStoreTable) -> BTreeSet<String> {
    let root = format!("{}/", t.io().root);
    let listed: Vec<_> = t.io().store.list(Some(&t.io().root)).try_collect().await.unwrap();
    listed.into_iter().map(|m| m.location.as_ref().strip_prefix(&root).unwrap().to_string()).collect()
}

/// The files the retained snapshots and the tags use: schema, hints, snapshot files, their manifest lists and
/// manifests, their live data files and their changelog files. Exactly these must remain after expiration.
pub(crate) async fn expected_files(t: &FileStoreTable) -> BTreeSet<String> {
    let sm = t.snapshot_manager();
    let ms = t.manifest_store();
    let schema = t.schema();
    let path = |e: &ManifestEntry| {
        let partition = deserialize_row(&e.partition, &schema.partition_types()).unwrap();
        format!("{}/{}", bucket_dir(schema, &partition, e.bucket, DEFAULT_PARTITION_NAME), e.file.file_name)
    };
    let mut out: BTreeSet<String> =
        ["schema/schema-0", "snapshot/LATEST", "snapshot/EARLIEST"].iter().map(|s| s.to_string()).collect();
    let mut kept: Vec<Snapshot> = sm.all().await.unwrap();
    for s in &kept {
        out.insert(SnapshotManager::snapshot_path(s.id));
    }
    for (id, _) in t.consumers().list().await.unwrap() {
        out.insert(format!("consumer/consumer-{id}"));
    }
    let snapshots = kept.len();
    for (name, s) in sm.tags().await.unwrap() {
        out.insert(format!("tag/tag-{name}"));
        kept.push(s);
    }
    for (i, s) in kept.iter().enumerate() {
        // A tag keeps its data, not its changelog (expiration deletes that with the tagged snapshot).
        let changelog = s.changelog_manifest_list.as_ref().filter(|_| i < snapshots);
        let lists = [Some(&s.base_manifest_list), Some(&s.delta_manifest_list), changelog];
        for list in lists.into_iter().flatten() {
            out.insert(format!("manifest/{list}"));
            for m in ms.read_list(list).await.unwrap() {
                out.insert(format!("manifest/{}", m.file_name));
                if Some(list) == changelog {
                    for e in ms.read_manifest(&m.file_name).await.unwrap() {
                        out.insert(path(&e));
                    }
                }
            }
        }
        for e in live_entries(&ms, s).await.unwrap() {
            out.insert(path(&e));
        }
    }
    out
}

/// Checks that every retained snapshot reads what it read when it was committed, and that exactly the files
/// the retained snapshots and tags use remain.
pub(crate) async fn check_retained(t: &FileStoreTable, history: &BTreeMap<i64, Rows>) {
    let (earliest, latest) = earliest_latest(t).await;
    for id in earliest..=latest {
        assert_eq!(&rows(t, &ScanFrom::Snapshot(id)).await.unwrap(), &history[&id], "snapshot {id}");
    }
    assert_eq!(rows(t, &ScanFrom::Latest).await.unwrap(), history[&latest]);
    let (actual, expected) = (actual_files(t).await, expected_files(t).await);
    assert_eq!(actual, expected, "leaked: {:?}", actual.difference(&expected).collect::<Vec<_>>());
}

/// `snapshot.num-retained.max` expires after every commit, including the compaction snapshots that delete
/// files; `snapshot.num-retained.min` keeps snapshots younger than the time limit's reach.
#[test]
fn expires_by_count_after_every_commit() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(1_000_000, 1));
        let t = create(clock.clone(), &[("snapshot.num-retained.min", "2"), ("snapshot.num-retained.max", "4")]).await;
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 0..9 {
            upsert(&mut w, &mut model, &mut history, &[round % 4, 10 + round], round).await;
            if round % 3 == 2 {
                let (id, _) = t.compact(true, None).await.unwrap();
                history.insert(id.unwrap(), model.clone());
            }
            let (earliest, latest) = earliest_latest(&t).await;
            assert_eq!(earliest, (latest - 3).max(1), "round {round}");
        }
        assert!(w.metrics().expired_snapshots > 0);
        check_retained(&t, &history).await;
        // The minimum stays whatever the time says: an on-demand run cannot go below it.
        let expired = t
            .expire_snapshots(&ExpireConfig { older_than_millis: Some(i64::MAX), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(expired, 2);
        let (earliest, latest) = earliest_latest(&t).await;
        assert_eq!(latest - earliest + 1, 2);
        check_retained(&t, &history).await;
    });
}

/// `write-only` writers neither compact nor expire (Paimon's option: a dedicated compaction job does both);
/// [`FileStoreTable::compact`], that job, expires.
#[test]
fn write_only_writers_leave_expiration_to_the_compaction_job() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(1_000_000, 1));
        let options = [("snapshot.num-retained.min", "1"), ("snapshot.num-retained.max", "2"), ("write-only", "true")];
        let t = create(clock.clone(), &options).await;
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 0..5 {
            upsert(&mut w, &mut model, &mut history, &[round], round).await;
        }
        assert_eq!(earliest_latest(&t).await, (1, 5));
        assert_eq!(w.metrics().expired_snapshots, 0);
        let (id, _) = t.compact(true, None).await.unwrap();
        history.insert(id.unwrap(), model.clone());
        assert_eq!(earliest_latest(&t).await, (5, 6));
        check_retained(&t, &history).await;
    });
}

/// `snapshot.time-retained`: snapshots older than it expire (by their commit time), down to the minimum.
#[test]
fn expires_by_time() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(1_000_000, 1));
        let t =
            create(clock.clone(), &[("snapshot.num-retained.min", "1"), ("snapshot.time-retained", "10 min")]).await;
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        // Commits at minutes 0, 7, 14, ..., 35: after the commit at minute m, those before m - 10 expire.
        for round in 0..6 {
            if round > 0 {
                clock.advance(7 * MINUTE);
            }
            upsert(&mut w, &mut model, &mut history, &[round, 100], round).await;
            let expected_earliest = (0..=round).find(|r| r * 7 >= round * 7 - 10).unwrap() + 1;
            assert_eq!(earliest_latest(&t).await, (expected_earliest, round + 1), "round {round}");
        }
        check_retained(&t, &history).await;
        // Nothing is old enough now that the time limit has not passed again.
        assert_eq!(t.expire_snapshots(&ExpireConfig::default()).await.unwrap(), 0);
        // A retention time alone never expires the latest snapshot.
        clock.advance(600 * MINUTE);
        assert_eq!(t.expire_snapshots(&ExpireConfig::default()).await.unwrap(), 1);
        assert_eq!(earliest_latest(&t).await, (6, 6));
        check_retained(&t, &history).await;
    });
}

/// `snapshot.expire.limit` (and the `max_deletes` override) bound one run; the overrides are checked and
/// errors name the option and the value.
#[test]
fn limit_and_overrides() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(1_000_000, 1));
        let t = create(clock.clone(), &[("snapshot.num-retained.min", "1"), ("snapshot.expire.limit", "2")]).await;
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 0..8 {
            upsert(&mut w, &mut model, &mut history, &[round], round).await;
        }
        let all = ExpireConfig { older_than_millis: Some(i64::MAX), ..Default::default() };
        let mut runs = Vec::new();
        for _ in 0..3 {
            runs.push(t.expire_snapshots(&all).await.unwrap());
        }
        assert_eq!(runs, [2, 2, 2]);
        check_retained(&t, &history).await;
        let one = ExpireConfig { max_deletes: Some(5), ..all.clone() };
        assert_eq!(t.expire_snapshots(&one).await.unwrap(), 1);
        assert_eq!(earliest_latest(&t).await, (8, 8));
        assert_eq!(t.expire_snapshots(&one).await.unwrap(), 0);
        check_retained(&t, &history).await;

        for (config, key, value) in [
            (ExpireConfig { retain_min: Some(0), ..Default::default() }, "snapshot.num-retained.min", "0"),
            (
                ExpireConfig { retain_min: Some(5), retain_max: Some(3), ..Default::default() },
                "snapshot.num-retained.min",
                "5",
            ),
            (ExpireConfig { max_deletes: Some(0), ..Default::default() }, "snapshot.expire.limit", "0"),
        ] {
            let e = t.expire_snapshots(&config).await.unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Invalid);
            let e = e.to_string();
            assert!(e.contains(key) && e.contains(&format!("`{value}`")), "{e}");
        }
    });
}

/// A consumer keeps every snapshot from its next snapshot on; once its file is older than
/// `consumer.expiration-time` it is deleted and keeps nothing.
#[test]
fn consumers_protect_until_they_expire() {
    rt().block_on(async {
        // Consumer files carry the store's (real) write time, so the table's clock starts at the real time.
        let clock = Arc::new(ManualClock::new(SystemClock.now_millis(), 1));
        let t = create(
            clock.clone(),
            &[
                ("snapshot.num-retained.min", "1"),
                ("snapshot.time-retained", "10 min"),
                ("consumer.expiration-time", "1 h"),
            ],
        )
        .await;
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 0..3 {
            upsert(&mut w, &mut model, &mut history, &[round], round).await;
        }
        let position = crate::consumer::StreamPosition { next_snapshot: 2, ..Default::default() };
        t.consumers().save("reader", &position).await.unwrap();
        clock.advance(20 * MINUTE);
        upsert(&mut w, &mut model, &mut history, &[3], 3).await;
        // Snapshots 1..=3 are older than 10 minutes, but the consumer still needs 2 and 3.
        assert_eq!(earliest_latest(&t).await, (2, 4));
        assert_eq!(t.consumers().list().await.unwrap().len(), 1);
        check_retained(&t, &history).await;

        clock.advance(120 * MINUTE);
        let report = t.expiration().unwrap().expire().await.unwrap();
        assert_eq!(report.expired_consumers, vec!["reader".to_string()]);
        assert_eq!(report.expired_snapshots, 2);
        assert_eq!(earliest_latest(&t).await, (4, 4));
        assert!(t.consumers().list().await.unwrap().is_empty());
        check_retained(&t, &history).await;
    });
}

/// A table with a compaction and a tag on an expired snapshot: the data files the tag uses stay and the tag
/// reads its rows; the files only expired snapshots used go.
#[test]
fn tags_keep_their_files() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(1_000_000, 1));
        let t = create(clock.clone(), &[("snapshot.num-retained.min", "1")]).await;
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 0..3 {
            upsert(&mut w, &mut model, &mut history, &[1, 2, 10 + round], round).await;
        }
        t.create_tag("before-compaction", Some(2)).await.unwrap();
        let (id, _) = t.compact(true, None).await.unwrap();
        history.insert(id.unwrap(), model.clone());
        upsert(&mut w, &mut model, &mut history, &[1], 9).await;
        let all = ExpireConfig { older_than_millis: Some(i64::MAX), ..Default::default() };
        assert_eq!(t.expire_snapshots(&all).await.unwrap(), 4);
        assert_eq!(rows(&t, &ScanFrom::Tag("before-compaction".into())).await.unwrap(), history[&2]);
        check_retained(&t, &history).await;
    });
}

/// A run stopped after deleting data files, or after deleting manifests (a crash), leaves the retained
/// snapshots readable; the next run finishes the work. Files deleted by hand are not an error either.
#[test]
fn a_rerun_after_a_crash_finishes() {
    rt().block_on(async {
        for stop in [StopAfter::DataFiles, StopAfter::Manifests] {
            let clock = Arc::new(ManualClock::new(1_000_000, 1));
            let t = create(clock.clone(), &[("snapshot.num-retained.min", "2")]).await;
            let mut w = t.writer().await.unwrap();
            let (mut model, mut history) = (Rows::new(), BTreeMap::new());
            for round in 0..6 {
                upsert(&mut w, &mut model, &mut history, &[round % 3, 50 + round], round).await;
                if round % 2 == 1 {
                    let (id, _) = t.compact(true, None).await.unwrap();
                    history.insert(id.unwrap(), model.clone());
                }
            }
            let all = ExpireConfig { older_than_millis: Some(i64::MAX), ..Default::default() };
            let mut crashing = t.expiration().unwrap();
            crashing.stop_after = Some(stop);
            let report = crashing.expire_with(&all).await.unwrap();
            assert_eq!(report.expired_snapshots, 0);
            assert!(report.deleted_data_files > 0, "{stop:?}: {report:?}");
            let latest = earliest_latest(&t).await.1;
            for id in latest - 1..=latest {
                assert_eq!(rows(&t, &ScanFrom::Snapshot(id)).await.unwrap(), history[&id], "{stop:?}");
            }
            if stop == StopAfter::Manifests {
                // The half-expired snapshot still has its file, but reading it says it expired.
                let e = rows(&t, &ScanFrom::Snapshot(1)).await.unwrap_err();
                assert_eq!(e.kind(), crate::ErrorKind::NotFound);
                assert!(e.to_string().contains("snapshot 1 has expired"), "{e}");
            }
            let mut remaining = latest as usize - 2;
            if stop == StopAfter::Manifests {
                // A crash while deleting snapshot files (oldest first) leaves the newer ones.
                t.io().delete(&SnapshotManager::snapshot_path(1)).await.unwrap();
                t.io().delete(&SnapshotManager::snapshot_path(2)).await.unwrap();
                remaining -= 2;
            }
            let report = t.expiration().unwrap().expire_with(&all).await.unwrap();
            assert_eq!(report.expired_snapshots, remaining, "{stop:?}");
            assert_eq!(earliest_latest(&t).await, (latest - 1, latest));
            check_retained(&t, &history).await;
        }
    });
}

/// A reader that resolved a snapshot before it expired gets an error saying so, not a corrupt-file error.
#[test]
fn readers_of_expired_snapshots_get_a_clear_error() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(1_000_000, 1));
        let t = create(clock.clone(), &[("snapshot.num-retained.min", "1")]).await;
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 0..3 {
            upsert(&mut w, &mut model, &mut history, &[1, 2, 3], round).await;
        }
        t.compact(true, None).await.unwrap();
        let planned = t.plan(&ScanFrom::Snapshot(2), None).await.unwrap();
        let held = t.snapshot_manager().snapshot(2).await.unwrap();
        let all = ExpireConfig { older_than_millis: Some(i64::MAX), ..Default::default() };
        assert_eq!(t.expire_snapshots(&all).await.unwrap(), 3);

        let read = t.new_read(None, None).unwrap();
        let e = read.read_splits(planned.splits).try_collect::<Vec<_>>().await.unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::NotFound);
        assert!(e.to_string().contains("is gone") && e.to_string().contains("expired"), "{e}");
        let e = live_entries(&t.manifest_store(), &held).await.unwrap_err();
        assert!(e.to_string().contains("snapshot 2 has expired"), "{e}");
        let e = rows(&t, &ScanFrom::Snapshot(2)).await.unwrap_err();
        assert!(e.to_string().contains("snapshot 2 has expired") && e.to_string().contains("4..=4"), "{e}");
        assert_eq!(rows(&t, &ScanFrom::Latest).await.unwrap(), model);
    });
}

/// With `log.system = 'embedded'`, log segments only expired snapshots needed are freed by the writer's
/// commits, and never those a retained snapshot's changes start from.
#[test]
fn embedded_log_is_freed_after_expiration() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().to_str().unwrap(), true).unwrap();
        let spec = TableSpec::new(
            "id BIGINT NOT NULL, v STRING",
            &["id"],
            &[],
            &[
                ("bucket", "1"),
                ("num-sorted-run.compaction-trigger", NO_COMPACTION),
                ("log.system", "embedded"),
                ("log.segment.size", "4 kb"),
                ("log.compression", "none"),
                ("snapshot.num-retained.min", "1"),
                ("snapshot.num-retained.max", "2"),
            ],
        );
        let t = catalog.create_table(&Identifier::parse("db.logged").unwrap(), &spec, false).await.unwrap();
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 0..12 {
            let ids: Vec<i64> = (round * 300..round * 300 + 300).collect();
            upsert(&mut w, &mut model, &mut history, &ids, round).await;
        }
        let (earliest, latest) = earliest_latest(&t).await;
        assert_eq!(latest - earliest + 1, 2);
        let sm = t.snapshot_manager();
        let needed = crate::consumer::recorded_log_offsets(&sm, &sm.snapshot(earliest).await.unwrap()).await.unwrap();
        let log = w.table_log().unwrap().log(0).unwrap();
        let start = log.log_start_offset() as i64;
        assert!(start > 0, "no segment was freed");
        assert!(start <= needed[&0], "freed offsets {start}.. that snapshot {earliest} needs ({needed:?})");
        assert_eq!(rows(&t, &ScanFrom::Latest).await.unwrap(), model);
    });
}

/// A partitioned table with `changelog-producer = input`: the data files of expired snapshots go from their
/// partition directories, and so do their changelog files; the retained snapshots read the same rows.
#[test]
fn partitioned_changelog_table() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(1_000_000, 1));
        let t = create_with(
            clock.clone(),
            "id BIGINT NOT NULL, v STRING, p INT NOT NULL",
            &["p", "id"],
            &["p"],
            &[("changelog-producer", "input"), ("snapshot.num-retained.min", "2"), ("snapshot.num-retained.max", "3")],
        )
        .await;
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 0..7 {
            write_rows(&mut w, &mut model, &mut history, &[round % 3, 20 + round], round, true).await;
            if round % 3 == 1 {
                let (id, _) = t.compact(true, None).await.unwrap();
                history.insert(id.unwrap(), model.clone());
            }
        }
        let (earliest, latest) = earliest_latest(&t).await;
        assert_eq!(latest - earliest + 1, 3);
        let files = actual_files(&t).await;
        assert!(files.iter().any(|f| f.starts_with("p=1/bucket-0/changelog-")), "{files:?}");
        check_retained(&t, &history).await;
    });
}
