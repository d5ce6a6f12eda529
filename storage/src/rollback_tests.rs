//! Tests of rollback: to a snapshot and to a tag (also one whose snapshot expired), what is deleted and what
//! is kept, consumers past the target, a crash midway, the errors, and the refusal for the embedded log.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::catalog::{Catalog, Identifier, TableSpec};
use crate::consumer::StreamPosition;
use crate::expire::tests::{check_retained, create, create_with, earliest_latest, rows, rt, upsert, write_rows, Rows};
use crate::expire::ExpireConfig;
use crate::scan::ScanFrom;
use crate::seams::ManualClock;
use crate::table::FileStoreTable;
use crate::ErrorKind;

/// A partitioned table with `changelog-producer = input` (so snapshots have changelog files), written in
/// `rounds` commits with a full compaction after every third; returns it with the rows of every snapshot.
async fn history_table(rounds: i64, options: &[(&str, &str)]) -> (FileStoreTable, Rows, BTreeMap<i64, Rows>) {
    let clock = Arc::new(ManualClock::new(1_000_000, 1));
    let mut opts = vec![("changelog-producer", "input")];
    opts.extend_from_slice(options);
    let t = create_with(clock, "id BIGINT NOT NULL, v STRING, p INT NOT NULL", &["p", "id"], &["p"], &opts).await;
    let mut w = t.writer().await.unwrap();
    let (mut model, mut history) = (Rows::new(), BTreeMap::new());
    for round in 0..rounds {
        write_rows(&mut w, &mut model, &mut history, &[round % 3, 20 + round], round, true).await;
        if round % 3 == 2 {
            let (id, _) = t.compact(true, None).await.unwrap();
            history.insert(id.unwrap(), model.clone());
        }
    }
    (t, model, history)
}

/// After a rollback to `target`: the history beyond it is gone, and a new writer continues at `target + 1`.
async fn write_after(t: &FileStoreTable, history: &mut BTreeMap<i64, Rows>, target: i64) {
    history.retain(|id, _| *id <= target);
    let mut model = history[&target].clone();
    let mut w = t.writer().await.unwrap();
    write_rows(&mut w, &mut model, history, &[1, 77], 100, true).await;
    assert_eq!(earliest_latest(t).await.1, target + 1);
    assert_eq!(rows(t, &ScanFrom::Latest).await.unwrap(), model);
}

#[test]
fn rolls_back_to_a_snapshot() {
    rt().block_on(async {
        let (t, _, mut history) = history_table(8, &[]).await;
        let latest = earliest_latest(&t).await.1;
        assert_eq!(latest, 10);
        t.create_tag("early", Some(2)).await.unwrap();
        t.create_tag("late", Some(7)).await.unwrap();
        let consumers = t.consumers();
        for (id, next) in [("behind", 3), ("at-target", 6), ("ahead", latest + 1)] {
            consumers.save(id, &StreamPosition { next_snapshot: next, ..Default::default() }).await.unwrap();
        }

        let report = t.rollback_to(RollbackTarget::Snapshot(5)).await.unwrap();
        assert_eq!(report.snapshot, 5);
        assert_eq!(report.removed_snapshots, (6..=latest).rev().collect::<Vec<_>>());
        assert_eq!(report.removed_tags, vec!["late".to_string()]);
        assert_eq!(
            report.reset_consumers,
            vec![ConsumerReset { consumer: "ahead".into(), from_snapshot: latest + 1, to_snapshot: 6 }]
        );
        assert!(report.deleted_data_files > 0 && report.deleted_changelog_files > 0, "{report:?}");
        assert!(report.deleted_manifests > 0, "{report:?}");
        assert_eq!(report.recreated_from_tag, None);
        assert_eq!(consumers.load("behind").await.unwrap().unwrap().next_snapshot, 3);
        assert_eq!(consumers.load("at-target").await.unwrap().unwrap().next_snapshot, 6);

        // Every retained snapshot and the remaining tag read as before; exactly their files remain.
        assert_eq!(earliest_latest(&t).await, (1, 5));
        assert_eq!(t.snapshot_manager().tags().await.unwrap().len(), 1);
        history.retain(|id, _| *id <= 5);
        check_retained(&t, &history).await;
        assert_eq!(rows(&t, &ScanFrom::Tag("early".into())).await.unwrap(), history[&2]);
        let e = rows(&t, &ScanFrom::Snapshot(6)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);

        write_after(&t, &mut history, 5).await;
        check_retained(&t, &history).await;
        // A rollback to the latest snapshot has nothing to do.
        let again = t.rollback_to(RollbackTarget::Snapshot(6)).await.unwrap();
        assert_eq!(again, RollbackReport { snapshot: 6, ..Default::default() });
    });
}

/// A tag whose snapshot expired: the snapshot file is recreated from the tag (without the changelog list that
/// expiration deleted), whether the target is named by the tag or by the snapshot id the tag holds.
#[test]
fn rolls_back_to_a_tag_whose_snapshot_expired() {
    rt().block_on(async {
        for target in [RollbackTarget::Tag("old".into()), RollbackTarget::Snapshot(2)] {
            let (t, _, mut history) = history_table(2, &[("snapshot.num-retained.min", "1")]).await;
            t.create_tag("old", Some(2)).await.unwrap();
            t.create_tag("older", Some(1)).await.unwrap();
            let mut w = t.writer().await.unwrap();
            let mut model = history[&2].clone();
            for round in 2..6 {
                write_rows(&mut w, &mut model, &mut history, &[round % 3, 20 + round], round, true).await;
            }
            t.compact(true, None).await.unwrap();
            let all = ExpireConfig { older_than_millis: Some(i64::MAX), ..Default::default() };
            t.expire_snapshots(&all).await.unwrap();
            let (earliest, latest) = earliest_latest(&t).await;
            assert_eq!(earliest, latest);
            assert!(t.snapshot_manager().tag("old").await.unwrap().changelog_manifest_list.is_some());
            drop(w);

            let report = t.rollback_to(target.clone()).await.unwrap();
            assert_eq!(report.snapshot, 2, "{target}");
            assert_eq!(report.recreated_from_tag, Some("old".to_string()), "{target}");
            assert_eq!(report.removed_snapshots, vec![latest], "{target}");
            assert!(report.deleted_data_files > 0, "{target}: {report:?}");
            assert_eq!(earliest_latest(&t).await, (2, 2), "{target}");
            assert_eq!(t.io().read("snapshot/EARLIEST").await.unwrap(), "2".as_bytes());
            let recreated = t.snapshot_manager().snapshot(2).await.unwrap();
            // Expiration deleted the tagged snapshot's changelog list: the recreated snapshot names none.
            assert_eq!(recreated.changelog_manifest_list, None);
            // The tag on snapshot 1 stays (and keeps its files); the table reads the tag's rows.
            assert_eq!(rows(&t, &ScanFrom::Tag("older".into())).await.unwrap(), history[&1]);
            history.retain(|id, _| *id <= 2);
            history.remove(&1);
            check_retained(&t, &history).await;
            write_after(&t, &mut history, 2).await;
            check_retained(&t, &history).await;
        }
    });
}

/// A rollback stopped after deleting the snapshot files (a crash) leaves a table whose latest snapshot is the
/// target and reads it; a re-run finishes: tags, consumers and the files of the removed snapshots.
#[test]
fn a_rerun_after_a_crash_finishes() {
    rt().block_on(async {
        let (t, _, mut history) = history_table(7, &[]).await;
        let latest = earliest_latest(&t).await.1;
        t.create_tag("late", Some(latest)).await.unwrap();
        let ahead = StreamPosition { next_snapshot: latest + 1, ..Default::default() };
        t.consumers().save("reader", &ahead).await.unwrap();

        let mut crashing = Rollback::new(t.io().clone(), "t", t.schema().clone()).unwrap();
        crashing.stop_after_snapshots = true;
        let report = crashing.rollback_to(&RollbackTarget::Snapshot(4)).await.unwrap();
        assert_eq!(report.removed_snapshots, (5..=latest).rev().collect::<Vec<_>>());
        assert_eq!((report.deleted_data_files, report.removed_tags.len()), (0, 0));
        assert_eq!(earliest_latest(&t).await, (1, 4));
        assert_eq!(rows(&t, &ScanFrom::Latest).await.unwrap(), history[&4]);

        let report = t.rollback_to(RollbackTarget::Snapshot(4)).await.unwrap();
        assert!(report.removed_snapshots.is_empty());
        assert_eq!(report.removed_tags, vec!["late".to_string()]);
        assert_eq!(report.reset_consumers.len(), 1);
        assert!(report.deleted_data_files > 0 && report.deleted_manifests > 0, "{report:?}");
        history.retain(|id, _| *id <= 4);
        check_retained(&t, &history).await;
        write_after(&t, &mut history, 4).await;
        check_retained(&t, &history).await;
    });
}

/// Targets that do not exist are errors naming them, and change nothing.
#[test]
fn unknown_targets_are_errors() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(1_000_000, 1));
        let t = create(clock, &[("snapshot.num-retained.min", "1")]).await;
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 0..4 {
            upsert(&mut w, &mut model, &mut history, &[round], round).await;
        }
        let some = ExpireConfig { older_than_millis: Some(i64::MAX), retain_min: Some(2), ..Default::default() };
        t.expire_snapshots(&some).await.unwrap();
        assert_eq!(earliest_latest(&t).await, (3, 4));
        for (target, words) in [
            (RollbackTarget::Snapshot(9), vec!["snapshot 9", "3..=4", "no tag"]),
            (RollbackTarget::Snapshot(1), vec!["snapshot 1", "expired"]),
            (RollbackTarget::Snapshot(0), vec!["snapshot 0"]),
            (RollbackTarget::Tag("nope".into()), vec!["tag `nope`", "none"]),
        ] {
            let e = t.rollback_to(target.clone()).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound, "{target}: {e}");
            let e = e.to_string();
            assert!(words.iter().all(|w| e.contains(w)), "{target}: {e}");
        }
        let e = t.rollback_to(RollbackTarget::Tag("a/b".into())).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert_eq!(earliest_latest(&t).await, (3, 4));
        check_retained(&t, &history).await;
        // A target whose manifests an interrupted expiration deleted is refused before anything changes.
        let list = t.snapshot_manager().snapshot(3).await.unwrap().delta_manifest_list;
        t.io().delete(&format!("manifest/{list}")).await.unwrap();
        let e = t.rollback_to(RollbackTarget::Snapshot(3)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.to_string().contains("snapshot 3") && e.to_string().contains(&list), "{e}");
        assert_eq!(earliest_latest(&t).await, (3, 4));
        assert_eq!(rows(&t, &ScanFrom::Latest).await.unwrap(), history[&4]);
    });
}

/// A table with the embedded log is refused, and keeps its snapshots.
#[test]
fn embedded_log_tables_are_refused() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().to_str().unwrap(), true).unwrap();
        let options = [("bucket", "1"), ("write-only", "true"), ("log.system", "embedded")];
        let spec = TableSpec::new("id BIGINT NOT NULL, v STRING", &["id"], &[], &options);
        let t = catalog.create_table(&Identifier::parse("db.logged").unwrap(), &spec, false).await.unwrap();
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 0..2 {
            upsert(&mut w, &mut model, &mut history, &[round], round).await;
        }
        let e = t.rollback_to(RollbackTarget::Snapshot(1)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid);
        let e = e.to_string();
        assert!(e.contains("embedded") && e.contains("logged`") && e.contains("snapshot 1"), "{e}");
        assert_eq!(earliest_latest(&t).await, (1, 2));
        assert_eq!(rows(&t, &ScanFrom::Latest).await.unwrap(), model);
    });
}
