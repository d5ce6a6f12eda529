//! Tests of orphan file cleanup: stray files older than the margin go, young ones and everything a snapshot or
//! tag references stay (every snapshot and tag reads the same afterwards), protected directories are never
//! touched, and a dry run deletes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::expire::tests::{
    actual_files, check_retained, create, create_with, earliest_latest, rows, rt, upsert, write_rows, Rows,
};
use crate::expire::ExpireConfig;
use crate::scan::ScanFrom;
use crate::seams::{Clock, ManualClock, SystemClock};

const DAY: i64 = ORPHAN_DEFAULT_MARGIN_MILLIS;

/// Files a crashed writer could leave, all unreferenced.
const STRAYS: &[&str] = &[
    "p=0/bucket-0/data-stray-0.parquet",
    "p=1/bucket-0/.data-crashed.parquet.tmp",
    "manifest/manifest-stray-0",
    "manifest/manifest-list-stray-0",
];

/// Unreferenced files in places cleanup never touches.
const PROTECTED: &[&str] = &[
    "snapshot/snapshot-99.tmp",
    "schema/.schema-1.tmp",
    "tag/stray.tmp",
    "consumer/stray.tmp",
    "index/index-stray-0",
    "statistics/stat-stray-0",
    "manifest/index-manifest-stray-0",
    "stray-at-the-root",
];

async fn put(t: &crate::table::FileStoreTable, paths: &[&str]) {
    for p in paths {
        t.io().write(p, Bytes::from(format!("junk of {p}"))).await.unwrap();
    }
}

/// A partitioned changelog table with compactions, a tag on an expired snapshot and one on a retained one,
/// strays in every kind of place: a cleanup deletes exactly the strays once they are older than the margin.
#[test]
fn deletes_old_strays_and_keeps_every_snapshot_and_tag() {
    rt().block_on(async {
        // The in-memory store stamps files with the real time, so the table's clock starts there.
        let clock = Arc::new(ManualClock::new(SystemClock.now_millis(), 1));
        let t = create_with(
            clock.clone(),
            "id BIGINT NOT NULL, v STRING, p INT NOT NULL",
            &["p", "id"],
            &["p"],
            &[("changelog-producer", "input")],
        )
        .await;
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 0..8 {
            write_rows(&mut w, &mut model, &mut history, &[round % 3, 20 + round], round, true).await;
            if round % 3 == 1 {
                let (id, _) = t.compact(true, None).await.unwrap();
                history.insert(id.unwrap(), model.clone());
            }
        }
        t.create_tag("expired", Some(2)).await.unwrap();
        t.create_tag("retained", Some(9)).await.unwrap();
        let some = ExpireConfig { older_than_millis: Some(i64::MAX), retain_min: Some(3), ..Default::default() };
        assert!(t.expire_snapshots(&some).await.unwrap() > 0);
        put(&t, STRAYS).await;
        put(&t, PROTECTED).await;
        let before = actual_files(&t).await;

        // Everything is younger than a day: nothing is an orphan yet.
        let report = t.remove_orphan_files(None, false).await.unwrap();
        assert!(report.orphans.is_empty(), "{report:?}");
        assert_eq!((report.kept_young, report.deleted), (STRAYS.len(), 0));

        clock.advance(2 * DAY);
        let dry = t.remove_orphan_files(None, true).await.unwrap();
        let found: Vec<&str> = dry.orphans.iter().map(|f| f.path.as_str()).collect();
        let mut expected: Vec<&str> = STRAYS.to_vec();
        expected.sort();
        assert_eq!(found, expected);
        assert_eq!(dry.bytes, STRAYS.iter().map(|p| format!("junk of {p}").len() as u64).sum::<u64>());
        assert_eq!(dry.deleted, 0);
        assert!(dry.dry_run);
        assert_eq!(actual_files(&t).await, before, "a dry run deleted something");

        let report = t.remove_orphan_files(None, false).await.unwrap();
        assert_eq!(report.deleted, STRAYS.len());
        assert_eq!(report.orphans, dry.orphans);
        let after = actual_files(&t).await;
        let gone: BTreeSet<String> = before.difference(&after).cloned().collect();
        assert_eq!(gone, STRAYS.iter().map(|s| s.to_string()).collect());
        // Every retained snapshot and both tags read as before; apart from the protected strays, exactly the
        // files they use remain.
        for name in PROTECTED {
            t.io().delete(name).await.unwrap();
        }
        check_retained(&t, &history).await;
        assert_eq!(rows(&t, &ScanFrom::Tag("expired".into())).await.unwrap(), history[&2]);
        assert_eq!(rows(&t, &ScanFrom::Tag("retained".into())).await.unwrap(), history[&9]);
        // Nothing is left to find.
        assert!(t.remove_orphan_files(None, false).await.unwrap().orphans.is_empty());
    });
}

/// `older_than_millis` sets the margin: a stray written after it is kept; the table's own files, however old,
/// are not orphans.
#[test]
fn young_strays_are_kept() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(SystemClock.now_millis(), 1));
        let t = create(clock.clone(), &[]).await;
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 0..3 {
            upsert(&mut w, &mut model, &mut history, &[round, 10], round).await;
        }
        put(&t, &["bucket-0/data-old-stray.parquet"]).await;
        std::thread::sleep(std::time::Duration::from_millis(20));
        let cutoff = SystemClock.now_millis();
        std::thread::sleep(std::time::Duration::from_millis(20));
        put(&t, &["bucket-0/data-young-stray.parquet", "manifest/manifest-young-stray"]).await;

        let report = t.remove_orphan_files(Some(cutoff), false).await.unwrap();
        let found: Vec<&str> = report.orphans.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(found, ["bucket-0/data-old-stray.parquet"]);
        assert_eq!((report.deleted, report.kept_young), (1, 2));
        assert_eq!(report.older_than_millis, cutoff);
        assert!(t.io().exists("bucket-0/data-young-stray.parquet").await.unwrap());
        assert!(!t.io().exists("bucket-0/data-old-stray.parquet").await.unwrap());

        // Far in the future every file is old; only the strays go.
        let report = t.remove_orphan_files(Some(i64::MAX), false).await.unwrap();
        assert_eq!(report.deleted, 2);
        assert_eq!(earliest_latest(&t).await, (1, 3));
        check_retained(&t, &history).await;
    });
}

/// A snapshot newer than a whole one that names a missing manifest is damage: the cleanup fails, naming the
/// snapshot, and deletes nothing.
#[test]
fn a_damaged_table_is_left_alone() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(SystemClock.now_millis(), 1));
        let t = create(clock, &[]).await;
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 0..3 {
            upsert(&mut w, &mut model, &mut history, &[round], round).await;
        }
        let s3 = t.snapshot_manager().snapshot(3).await.unwrap();
        t.io().delete(&format!("manifest/{}", s3.delta_manifest_list)).await.unwrap();
        put(&t, &["bucket-0/data-stray.parquet"]).await;
        let e = t.remove_orphan_files(Some(i64::MAX), false).await.unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Data);
        assert!(e.to_string().contains("snapshot 3") && e.to_string().contains(&s3.delta_manifest_list), "{e}");
        assert!(t.io().exists("bucket-0/data-stray.parquet").await.unwrap());
    });
}
