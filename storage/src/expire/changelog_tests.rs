//! Tests of the long-lived changelog: snapshot expiration keeps each expired snapshot's changes readable for
//! every changelog producer, changelog expiration deletes them (and exactly what only they kept) as the
//! changelog options say, consumers and tags protect what they need, and readers name the range they can read.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use futures::TryStreamExt;

use crate::consumer::StreamPosition;
use crate::expire::tests::{create, rows, rt, upsert, Rows, MINUTE};
use crate::expire::ExpireConfig;
use crate::incremental::ChangeScanMode;
use crate::scan::ScanFrom;
use crate::seams::{Clock, ManualClock};
use crate::stream::{ChangeReader, StartFrom};
use crate::table::FileStoreTable;

const HOUR: i64 = 60 * MINUTE;

fn set(clock: &ManualClock, millis: i64) {
    clock.advance(millis - clock.now_millis());
}

/// `kind id v` lines of change batches (`rowkind` first).
fn lines(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let (kinds, ids, vs) =
            (b.column(0).as_string::<i32>(), b.column(1).as_primitive::<Int64Type>(), b.column(2).as_string::<i32>());
        for r in 0..b.num_rows() {
            out.push(format!("{} {} {}", kinds.value(r), ids.value(r), vs.value(r)));
        }
    }
    out.sort();
    out
}

/// The sorted changes of snapshot `id` alone (`incremental-between` = `id - 1, id`).
async fn changes_of(t: &FileStoreTable, id: i64) -> crate::error::Result<Vec<String>> {
    let (_, stream) = t.incremental_between(id - 1, id, ChangeScanMode::Auto).await?;
    Ok(lines(&stream.try_collect::<Vec<_>>().await?))
}

/// Every change a file-following reader delivers from snapshot `from` on.
async fn stream_from(t: &FileStoreTable, from: i64) -> crate::error::Result<Vec<String>> {
    let mut reader = ChangeReader::open(t, StartFrom::FromSnapshot(from)).await?;
    let mut batches = Vec::new();
    while let Some(b) = reader.try_next().await? {
        batches.push(b.batch);
    }
    Ok(lines(&batches))
}

async fn changelog_ids(t: &FileStoreTable) -> Vec<i64> {
    t.changelog_manager().list_ids().await.unwrap()
}

/// Nothing under the table is unreferenced (dry run; every file counts as old enough).
async fn assert_no_orphans(t: &FileStoreTable, what: &str) {
    let report = t.remove_orphan_files(Some(i64::MAX), true).await.unwrap();
    let orphans: Vec<&str> = report.orphans.iter().map(|f| f.path.as_str()).collect();
    assert!(orphans.is_empty(), "{what}: files nothing references remain: {orphans:?}");
}

/// A table with `producer` whose changelogs outlive its snapshots by time (1 h vs 3 h), eight commits one
/// minute apart (keys overlapping between commits) with a full compaction after the fourth; returns the table,
/// its clock, the changes of every snapshot and the rows of each snapshot.
async fn written(
    producer: &str,
) -> (FileStoreTable, Arc<ManualClock>, BTreeMap<i64, Vec<String>>, BTreeMap<i64, Rows>) {
    let clock = Arc::new(ManualClock::new(0, 0));
    let options = [
        ("changelog-producer", producer),
        ("snapshot.num-retained.min", "1"),
        ("snapshot.expire.limit", "100"),
        ("changelog.time-retained", "3 h"),
    ];
    let t = create(clock.clone(), &options).await;
    let mut w = t.writer().await.unwrap();
    let (mut model, mut history) = (Rows::new(), BTreeMap::new());
    for round in 1..=8 {
        set(&clock, round * MINUTE);
        let ids: Vec<i64> = (0..5).map(|i| (round % 4) * 3 + i).collect();
        upsert(&mut w, &mut model, &mut history, &ids, round).await;
        if round == 4 {
            let (id, _) = t.compact(true, None).await.unwrap();
            history.insert(id.expect("a compaction"), model.clone());
        }
    }
    let latest = t.snapshot_manager().latest_id().await.unwrap().unwrap();
    let mut changes = BTreeMap::new();
    for id in 1..=latest {
        changes.insert(id, changes_of(&t, id).await.unwrap());
    }
    (t, clock, changes, history)
}

/// For every producer: once snapshots expire, their changes are read from the long-lived changelogs exactly as
/// before (per snapshot and as one stream), every file stays referenced, and changelog expiration then deletes
/// all but the newest changelog and everything only they kept.
#[test]
fn long_lived_changelogs_keep_expired_changes_readable_for_every_producer() {
    rt().block_on(async {
        for producer in ["none", "input", "lookup", "full-compaction"] {
            let (t, clock, changes, history) = written(producer).await;
            let latest = *changes.keys().last().unwrap();
            let all: Vec<String> = {
                let mut v: Vec<String> = changes.values().flatten().cloned().collect();
                v.sort();
                v
            };
            assert_eq!(stream_from(&t, 1).await.unwrap(), all, "{producer}: before expiration");

            set(&clock, 8 * MINUTE + HOUR + MINUTE);
            let report = t.expire_snapshots_report(&ExpireConfig::default()).await.unwrap();
            assert_eq!(report.expired_snapshots as i64, latest - 1, "{producer}");
            assert_eq!(report.kept_changelogs as i64, latest - 1, "{producer}");
            assert_eq!(report.expired_changelogs, 0, "{producer}");
            assert_eq!(t.snapshot_manager().earliest_id().await.unwrap(), Some(latest), "{producer}");
            assert_eq!(changelog_ids(&t).await, (1..latest).collect::<Vec<_>>(), "{producer}");
            for (id, expected) in &changes {
                assert_eq!(&changes_of(&t, *id).await.unwrap(), expected, "{producer}: changes of {id}");
            }
            assert_eq!(stream_from(&t, 1).await.unwrap(), all, "{producer}: from the long-lived changelogs");
            assert_eq!(rows(&t, &ScanFrom::Latest).await.unwrap(), history[&latest], "{producer}");
            assert_no_orphans(&t, producer).await;

            // Three hours on, every changelog but the newest (kept, as Java does) expires.
            set(&clock, 8 * MINUTE + 4 * HOUR);
            let report = t.expire_snapshots_report(&ExpireConfig::default()).await.unwrap();
            assert_eq!(report.expired_changelogs as i64, latest - 2, "{producer}");
            assert_eq!(changelog_ids(&t).await, vec![latest - 1], "{producer}");
            let e = stream_from(&t, 1).await.unwrap_err().to_string();
            assert!(e.contains("snapshot 1") && e.contains(&format!("changelogs {}..{latest}", latest - 1)), "{e}");
            let e = changes_of(&t, 2).await.unwrap_err().to_string();
            assert!(e.contains(&format!("changelogs {}..{latest}", latest - 1)), "{e}");
            assert_eq!(changes_of(&t, latest - 1).await.unwrap(), changes[&(latest - 1)], "{producer}");
            assert_eq!(rows(&t, &ScanFrom::Latest).await.unwrap(), history[&latest], "{producer}");
            assert_no_orphans(&t, producer).await;
            assert_eq!(
                t.io().read("changelog/EARLIEST").await.unwrap(),
                (latest - 1).to_string().as_bytes(),
                "{producer}"
            );
        }
    })
}

/// A consumer's next snapshot holds back snapshot and changelog expiration; a tag keeps its rows readable
/// after the changelogs that kept its files expire.
#[test]
fn consumers_and_tags_protect_long_lived_changelogs() {
    rt().block_on(async {
        for producer in ["none", "input"] {
            let (t, clock, changes, history) = written(producer).await;
            let latest = *changes.keys().last().unwrap();
            t.create_tag("t2", Some(2)).await.unwrap();
            let consumer = |n| StreamPosition { next_snapshot: n, log_offsets: Default::default() };
            t.consumers().save("c", &consumer(3)).await.unwrap();

            set(&clock, 8 * MINUTE + HOUR + MINUTE);
            t.expire_snapshots_report(&ExpireConfig::default()).await.unwrap();
            assert_eq!(t.snapshot_manager().earliest_id().await.unwrap(), Some(3), "{producer}");
            assert_eq!(changelog_ids(&t).await, vec![1, 2], "{producer}");
            set(&clock, 8 * MINUTE + 4 * HOUR);
            t.expire_snapshots_report(&ExpireConfig::default()).await.unwrap();
            // Changelog 1 goes (the consumer needs 3 on); 2, the newest, stays.
            assert_eq!(changelog_ids(&t).await, vec![2], "{producer}");

            // The consumer moves on: snapshots up to it expire into changelogs, and the old changelogs go.
            t.consumers().save("c", &consumer(latest)).await.unwrap();
            t.expire_snapshots_report(&ExpireConfig::default()).await.unwrap();
            assert_eq!(changelog_ids(&t).await, vec![latest - 1], "{producer}");
            let mut expected = changes[&latest].clone();
            expected.extend(changes[&(latest - 1)].iter().cloned());
            expected.sort();
            assert_eq!(stream_from(&t, latest - 1).await.unwrap(), expected, "{producer}");
            assert_eq!(rows(&t, &ScanFrom::Tag("t2".into())).await.unwrap(), history[&2], "{producer}: the tag");
            assert_no_orphans(&t, producer).await;
        }
    })
}

/// A table whose changelogs do not outlive its snapshots writes none; changelog options are checked.
#[test]
fn changelogs_are_kept_only_when_they_outlive_snapshots() {
    rt().block_on(async {
        let clock = Arc::new(ManualClock::new(0, 0));
        let t = create(clock.clone(), &[("snapshot.num-retained.min", "1"), ("changelog.num-retained.max", "1")]).await;
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 1..=3 {
            set(&clock, round * MINUTE);
            upsert(&mut w, &mut model, &mut history, &[round], round).await;
        }
        set(&clock, HOUR + 4 * MINUTE);
        let report = t.expire_snapshots_report(&ExpireConfig::default()).await.unwrap();
        assert_eq!((report.expired_snapshots, report.kept_changelogs), (2, 0));
        assert!(changelog_ids(&t).await.is_empty());
        assert!(!t.io().exists("changelog/LATEST").await.unwrap());
    })
}

/// With the embedded log, a reader can start inside the long-lived changelog range (from the one after the
/// earliest changelog: where its changes begin is recorded there), gets every change from there on, and log
/// retention keeps those segments while deleting older ones.
#[test]
fn log_readers_start_in_the_long_lived_changelog_range() {
    use crate::catalog::{Catalog, Identifier, TableSpec};
    use crate::expire::tests::NO_COMPACTION;
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().to_str().unwrap(), true).unwrap();
        let options = [
            ("bucket", "1"),
            ("log.system", "embedded"),
            ("log.segment.size", "4 kb"),
            ("log.compression", "none"),
            ("snapshot.num-retained.min", "1"),
            ("snapshot.num-retained.max", "2"),
            ("changelog.num-retained.max", "6"),
            ("changelog.time-retained", "1 h"),
            ("num-sorted-run.compaction-trigger", NO_COMPACTION),
        ];
        let spec = TableSpec::new("id BIGINT NOT NULL, v STRING", &["id"], &[], &options);
        let t = catalog.create_table(&Identifier::parse("db.logged").unwrap(), &spec, false).await.unwrap();
        let mut w = t.writer().await.unwrap();
        let (mut model, mut history) = (Rows::new(), BTreeMap::new());
        for round in 1..=10 {
            let ids: Vec<i64> = (round * 300..round * 300 + 300).collect();
            upsert(&mut w, &mut model, &mut history, &ids, round).await;
        }
        assert_eq!(t.snapshot_manager().earliest_id().await.unwrap(), Some(9));
        assert_eq!(changelog_ids(&t).await, vec![5, 6, 7, 8]);
        // From snapshot 6 (a changelog now): exactly the rows of commits 6..=10, as +I.
        let mut reader = ChangeReader::open(&t, StartFrom::FromSnapshot(6)).await.unwrap();
        let mut batches = Vec::new();
        while let Some(b) = reader.try_next().await.unwrap() {
            batches.push(b.batch);
        }
        let mut expected: Vec<String> =
            (6..=10i64).flat_map(|r| (r * 300..r * 300 + 300).map(move |id| format!("+I {id} v{r}"))).collect();
        expected.sort();
        assert_eq!(lines(&batches), expected);
        // Where commit 5's changes begin is not recorded any more (changelog 4 expired): a clear error.
        let e = ChangeReader::open(&t, StartFrom::FromSnapshot(5)).await.err().expect("an error").to_string();
        assert!(e.contains("snapshot 4") && e.contains("expired"), "{e}");
        // Log retention kept the segments from changelog 5's offsets on and deleted older ones.
        let log = w.table_log().unwrap().log(0).unwrap();
        let sm = t.snapshot_manager();
        let kept = crate::consumer::recorded_log_offsets(&sm, &t.changelog_manager().changelog(5).await.unwrap())
            .await
            .unwrap();
        assert!(log.log_start_offset() > 0, "older segments were deleted");
        assert!(log.log_start_offset() as i64 <= kept[&0], "segments from changelog 5's offsets stay");
    })
}
