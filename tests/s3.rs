//! The table store on S3 (moto's server, started by scripts/test.sh): writes, commits, scans, and
//! concurrent writers racing for snapshot ids through S3's conditional create (`If-None-Match: *`).
//! Runs with `--features s3`; a missing server fails the test, it is never skipped.
#![cfg(feature = "s3")]

mod common;

use common::*;
use dyntable::Catalog;
use dyntable_storage::ScanFrom;
use serde_json::json;

fn s3_catalog(prefix: &str) -> Catalog {
    let url = std::env::var("DYNTABLE_S3_TEST_URL")
        .expect("DYNTABLE_S3_TEST_URL is not set: run the suite with scripts/test.sh, which starts an S3 server");
    Catalog::open(&format!("{url}/{prefix}-{}", uuid_like()), false).expect("open the S3 warehouse")
}

// A unique prefix per run in the shared bucket; not engine code.
#[allow(clippy::disallowed_methods)]
fn uuid_like() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// A primary-key table round-trips on S3 with upserts, deletes and time travel.
#[test]
fn table_on_s3() {
    rt().block_on(async {
        let catalog = s3_catalog("basic");
        let t = create(
            &catalog,
            "db.t",
            "id BIGINT NOT NULL, v STRING, dt STRING NOT NULL",
            &["id", "dt"],
            &["dt"],
            &[("bucket", "2")],
        )
        .await
        .unwrap();
        let mut w = t.writer().await.unwrap().with_row_kind_column(Some("_op".into()));
        w.write(&batch(
            &t,
            &[json!({"id": 1, "v": "a", "dt": "x", "_op": "+I"}), json!({"id": 2, "v": "b", "dt": "y", "_op": "+I"})],
        ))
        .await
        .unwrap();
        w.commit().await.unwrap();
        w.write(&batch(
            &t,
            &[json!({"id": 1, "v": "a2", "dt": "x", "_op": "+U"}), json!({"id": 2, "dt": "y", "_op": "-D"})],
        ))
        .await
        .unwrap();
        w.commit().await.unwrap();
        assert_eq!(lines(&t, &ScanFrom::Latest).await, canon(&[json!({"id": 1, "v": "a2", "dt": "x"})]));
        assert_eq!(lines(&t, &ScanFrom::Snapshot(1)).await.len(), 2);
        assert_eq!(catalog.list_tables("db").await.unwrap(), vec!["t".to_string()]);
    });
}

/// Writers racing on S3 never both win a snapshot id: every commit gets its own id and no row is lost.
#[test]
fn concurrent_writers_on_s3() {
    rt().block_on(async {
        let catalog = s3_catalog("race");
        let t = create(
            &catalog,
            "db.race",
            "id BIGINT NOT NULL, w INT",
            &["id"],
            &[],
            &[("bucket", "2"), ("commit.max-retries", "100")],
        )
        .await
        .unwrap();
        let mut tasks = Vec::new();
        for writer in 0..4i64 {
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                let mut w = t.writer().await.unwrap();
                for c in 0..4i64 {
                    w.write(&batch(&t, &[json!({"id": writer * 100 + c, "w": writer})])).await.unwrap();
                    w.commit().await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let snaps = t.snapshot_manager().all().await.unwrap();
        assert_eq!(snaps.iter().filter(|s| s.commit_kind == dyntable_storage::CommitKind::Append).count(), 16);
        assert_eq!(snaps.iter().map(|s| s.id).collect::<Vec<_>>(), (1..=snaps.len() as i64).collect::<Vec<_>>());
        assert_eq!(lines(&t, &ScanFrom::Latest).await.len(), 16);
        // Publishing an existing id again is refused by the conditional create.
        let again = t.snapshot_manager().snapshot(snaps.len() as i64).await.unwrap();
        assert!(!t.snapshot_manager().try_publish(&again).await.unwrap());
    });
}

/// A log-enabled table on S3: the writer keeps its logs in a local directory and uploads sealed segments to
/// the table's `log/`; a reader with no local logs (another machine) tails the uploaded changes.
#[test]
fn changelog_segments_uploaded_to_s3() {
    use dyntable_storage::stream::{ChangeReader, StartFrom};
    rt().block_on(async {
        let url = std::env::var("DYNTABLE_S3_TEST_URL")
            .expect("DYNTABLE_S3_TEST_URL is not set: run the suite with scripts/test.sh");
        let warehouse = format!("{url}/log-{}", uuid_like());
        let logs = tempfile::tempdir().unwrap();
        let writer_catalog = Catalog::open(&warehouse, false).unwrap().with_log_dir(logs.path());
        let options = [("bucket", "1"), ("log.system", "embedded"), ("log.segment.size", "4 kb")];
        let t = create(&writer_catalog, "db.t", "id BIGINT NOT NULL, v STRING", &["id"], &[], &options).await.unwrap();
        let mut w = t.writer().await.unwrap();
        for i in 0..100 {
            w.write(&batch(&t, &[json!({"id": i, "v": format!("{i:0>80}")})])).await.unwrap();
            if i % 20 == 19 {
                w.commit().await.unwrap();
            }
        }
        let sealed = dyntable_log_store::sealed_segments_in(t.log_dir().unwrap().join("bucket-0")).unwrap();
        assert!(!sealed.is_empty());
        let expected = sealed.last().unwrap().end_offset as usize;

        let remote = Catalog::open(&warehouse, false)
            .unwrap()
            .get_table(&dyntable::Identifier::parse("db.t").unwrap())
            .await
            .unwrap();
        let mut reader = ChangeReader::open(&remote, StartFrom::FromSnapshot(1)).await.unwrap();
        let mut seen = 0;
        while seen < expected {
            let next = tokio::time::timeout(std::time::Duration::from_secs(10), reader.next())
                .await
                .expect("uploaded changes arrive")
                .unwrap();
            seen += next.batch.num_rows();
        }
        assert_eq!(seen, expected);
    });
}
