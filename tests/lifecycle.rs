//! The table lifecycle under storage failures (a fault-injecting store): an expiration, a rollback or an orphan
//! cleanup whose deletes fail midway leaves a table that reads correctly, and running it again finishes the job.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{batch, create, lines, rt, FaultyStore};
use dyntable::Catalog;
use dyntable_storage::io::FileIO;
use dyntable_storage::{ExpireConfig, FileStoreTable, RollbackTarget, ScanFrom};
use object_store::path::Path;
use serde_json::json;

/// A table on a fault-injecting in-memory store with `commits` commits, and its rows at every snapshot.
async fn table(commits: i64) -> (Arc<FaultyStore>, FileStoreTable, BTreeMap<i64, Vec<String>>) {
    let store = Arc::new(FaultyStore::new(Arc::new(object_store::memory::InMemory::new())));
    let catalog = Catalog::from_io(FileIO::new(store.clone(), Path::from("wh")));
    let options = [("bucket", "2"), ("snapshot.num-retained.min", "1"), ("write-only", "true")];
    let t = create(&catalog, "db.t", "id BIGINT NOT NULL, v STRING", &["id"], &[], &options).await.unwrap();
    let mut rows_at = BTreeMap::new();
    for c in 0..commits {
        let rows: Vec<_> = (0..5).map(|i| json!({"id": (i * 3 + c) % 11, "v": format!("c{c}-{i}")})).collect();
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &rows)).await.unwrap();
        w.commit().await.unwrap();
        if c % 3 == 2 {
            t.compact(true, None).await.unwrap();
        }
    }
    for s in t.snapshot_manager().all().await.unwrap() {
        rows_at.insert(s.id, lines(&t, &ScanFrom::Snapshot(s.id)).await);
    }
    (store, t, rows_at)
}

async fn reads_as_recorded(t: &FileStoreTable, rows_at: &BTreeMap<i64, Vec<String>>, what: &str) {
    for s in t.snapshot_manager().all().await.unwrap() {
        assert_eq!(&lines(t, &ScanFrom::Snapshot(s.id)).await, &rows_at[&s.id], "{what}: snapshot {}", s.id);
    }
}

#[test]
fn expiration_interrupted_by_failed_deletes_finishes_on_the_next_run() {
    rt().block_on(async {
        // Fail at each step in turn: a data file, a manifest, a snapshot file.
        for (pattern, step) in
            [("bucket-", "data files"), ("manifest/", "manifests"), ("snapshot/snapshot-", "snapshots")]
        {
            let (store, t, rows_at) = table(9).await;
            let latest = t.snapshot_manager().latest_id().await.unwrap().unwrap();
            let config = ExpireConfig { retain_max: Some(2), retain_min: Some(1), ..Default::default() };
            store.arm_delete(pattern, 1);
            let e = t.expire_snapshots(&config).await.unwrap_err();
            assert!(e.to_string().contains("injected"), "{step}: {e}");
            // What remains is readable: the latest rows, and every snapshot still whole.
            assert_eq!(lines(&t, &ScanFrom::Latest).await, rows_at[&latest], "{step}: latest after the failure");
            let earliest = t.snapshot_manager().earliest_id().await.unwrap().unwrap();
            for id in (latest - 1).max(earliest)..=latest {
                assert_eq!(lines(&t, &ScanFrom::Snapshot(id)).await, rows_at[&id], "{step}: retained snapshot {id}");
            }
            // The next run finishes: two snapshots left, both reading as they did.
            t.expire_snapshots(&config).await.unwrap();
            let left: Vec<i64> = t.snapshot_manager().all().await.unwrap().iter().map(|s| s.id).collect();
            assert_eq!(left, vec![latest - 1, latest], "{step}");
            reads_as_recorded(&t, &rows_at, step).await;
        }
    });
}

#[test]
fn rollback_interrupted_by_failed_deletes_finishes_on_the_next_run() {
    rt().block_on(async {
        let (store, t, rows_at) = table(6).await;
        let latest = t.snapshot_manager().latest_id().await.unwrap().unwrap();
        let target = 3;
        // Snapshot files go newest first: the second one fails, so the latest is then the one before.
        store.arm_delete(&format!("snapshot/snapshot-{}", latest - 1), 1);
        let e = t.rollback_to(RollbackTarget::Snapshot(target)).await.unwrap_err();
        assert!(e.to_string().contains("injected"), "{e}");
        let now = t.snapshot_manager().latest_id().await.unwrap().unwrap();
        assert_eq!(now, latest - 1);
        assert_eq!(lines(&t, &ScanFrom::Latest).await, rows_at[&now], "a whole snapshot is the latest");
        // A failed data-file delete on the re-run, then a run that finishes.
        store.arm_delete("bucket-", 1);
        assert!(t.rollback_to(RollbackTarget::Snapshot(target)).await.is_err());
        t.rollback_to(RollbackTarget::Snapshot(target)).await.unwrap();
        assert_eq!(t.snapshot_manager().latest_id().await.unwrap(), Some(target));
        reads_as_recorded(&t, &rows_at, "after the rollback").await;
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 100, "v": "after"})])).await.unwrap();
        assert_eq!(w.commit().await.unwrap(), Some(target + 1));
    });
}

#[test]
fn orphan_cleanup_interrupted_by_failed_deletes_finishes_on_the_next_run() {
    rt().block_on(async {
        let (store, t, rows_at) = table(4).await;
        for i in 0..3 {
            t.io().write(&format!("bucket-0/data-stray-{i}.parquet"), bytes::Bytes::from_static(b"x")).await.unwrap();
        }
        store.arm_delete("data-stray-1", 1);
        assert!(t.remove_orphan_files(Some(i64::MAX), false).await.is_err());
        reads_as_recorded(&t, &rows_at, "after the failed cleanup").await;
        let r = t.remove_orphan_files(Some(i64::MAX), false).await.unwrap();
        assert!(r.deleted >= 1, "{r:?}");
        let again = t.remove_orphan_files(Some(i64::MAX), false).await.unwrap();
        assert!(again.orphans.is_empty(), "{again:?}");
        reads_as_recorded(&t, &rows_at, "after the cleanup").await;
    });
}
