//! End-to-end tests of the table API: writes, commits, merge-on-read scans, time travel, overwrite,
//! pruning, concurrency, idempotent commits, conflicts, schema evolution and bad input.

mod common;

use std::sync::Arc;

use common::*;
use dyntable::Catalog;
use dyntable_storage::io::FileIO;
use dyntable_storage::manifest::DataFileMeta;
use dyntable_storage::write::CommitMessage;
use dyntable_storage::{CmpOp, Datum, ErrorKind, OverwriteScope, Predicate, ScanFrom};
use object_store::path::Path;
use serde_json::json;

const PK_SCHEMA: &str = "id BIGINT NOT NULL, name STRING, amount DOUBLE, dt STRING NOT NULL";

/// Upserts and deletes over several commits merge on read; every snapshot stays readable by id, by time
/// and through a tag.
#[test]
fn primary_key_upserts_deletes_and_time_travel() {
    rt().block_on(async {
        let catalog = memory_catalog();
        let t = create(&catalog, "db.t", PK_SCHEMA, &["id", "dt"], &["dt"], &[("bucket", "2")]).await.unwrap();
        let mut w = t.writer().await.unwrap().with_row_kind_column(Some("_op".into()));
        w.write(&batch(
            &t,
            &[
                json!({"id": 1, "name": "a", "amount": 1.5, "dt": "2024-01-01", "_op": "+I"}),
                json!({"id": 2, "name": "b", "amount": 2.5, "dt": "2024-01-01", "_op": "+I"}),
                json!({"id": 3, "name": "c", "amount": null, "dt": "2024-01-02", "_op": "+I"}),
            ],
        ))
        .await
        .unwrap();
        assert_eq!(w.commit().await.unwrap(), Some(1));
        let s1_time = t.snapshot_manager().snapshot(1).await.unwrap().time_millis;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        w.write(&batch(
            &t,
            &[
                json!({"id": 2, "name": "b", "amount": 2.5, "dt": "2024-01-01", "_op": "-U"}),
                json!({"id": 2, "name": "b2", "amount": 20.0, "dt": "2024-01-01", "_op": "+U"}),
                json!({"id": 3, "dt": "2024-01-02", "_op": "-D"}),
            ],
        ))
        .await
        .unwrap();
        assert_eq!(w.commit().await.unwrap(), Some(2));
        w.write(&batch(
            &t,
            &[
                json!({"id": 4, "name": "d", "amount": 4.0, "dt": "2024-01-02", "_op": "+I"}),
                json!({"id": 1, "name": "a1", "amount": 1.0, "dt": "2024-01-01", "_op": "+U"}),
            ],
        ))
        .await
        .unwrap();
        assert_eq!(w.commit().await.unwrap(), Some(3));

        let latest = lines(&t, &ScanFrom::Latest).await;
        assert_eq!(
            latest,
            canon(&[
                json!({"id": 1, "name": "a1", "amount": 1.0, "dt": "2024-01-01"}),
                json!({"id": 2, "name": "b2", "amount": 20.0, "dt": "2024-01-01"}),
                json!({"id": 4, "name": "d", "amount": 4.0, "dt": "2024-01-02"}),
            ])
        );
        let first = canon(&[
            json!({"id": 1, "name": "a", "amount": 1.5, "dt": "2024-01-01"}),
            json!({"id": 2, "name": "b", "amount": 2.5, "dt": "2024-01-01"}),
            json!({"id": 3, "name": "c", "amount": null, "dt": "2024-01-02"}),
        ]);
        assert_eq!(lines(&t, &ScanFrom::Snapshot(1)).await, first);
        assert_eq!(lines(&t, &ScanFrom::Timestamp(s1_time)).await, first);
        t.create_tag("v1", Some(1)).await.unwrap();
        assert_eq!(lines(&t, &ScanFrom::Tag("v1".into())).await, first);
        assert!(t.create_tag("v1", Some(2)).await.is_err(), "a tag name is created once");
        t.delete_tag("v1").await.unwrap();
        assert_eq!(
            t.scan_collect(&ScanFrom::Tag("v1".into()), None, None).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        let e = t.scan_collect(&ScanFrom::Snapshot(9), None, None).await.unwrap_err();
        assert!(e.to_string().contains("snapshot 9") && e.to_string().contains("1..=3"), "{e}");
        let e = t.scan_collect(&ScanFrom::Timestamp(0), None, None).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);

        // A writer opened later continues the sequence numbers, so its rows win.
        let mut w2 = t.writer().await.unwrap();
        w2.write(&batch(&t, &[json!({"id": 4, "name": "d2", "amount": 4.5, "dt": "2024-01-02"})])).await.unwrap();
        w2.commit().await.unwrap();
        assert!(lines(&t, &ScanFrom::Latest).await.contains(&dyntable::convert::canonical_json(
            &json!({"id": 4, "name": "d2", "amount": 4.5, "dt": "2024-01-02"})
        )));
        let snaps = t.snapshot_manager().all().await.unwrap();
        assert_eq!(
            snaps.iter().map(|s| s.total_record_count.unwrap()).collect::<Vec<_>>(),
            vec![3, 5, 7, 8],
            "the -U/+U pair of id 2 merges in the write buffer"
        );
    });
}

/// Rows land in the bucket Java Paimon chooses: `id = 1` hashes to bucket 0 of 2 (format page, section 8).
#[test]
fn bucket_assignment_matches_java() {
    rt().block_on(async {
        let catalog = memory_catalog();
        let t =
            create(&catalog, "db.b", "id BIGINT NOT NULL, v STRING", &["id"], &[], &[("bucket", "2")]).await.unwrap();
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 1, "v": "x"})])).await.unwrap();
        w.commit().await.unwrap();
        let files = t.files(&ScanFrom::Latest).await.unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].bucket, 0);
        assert_eq!(files[0].total_buckets, 2);
    });
}

/// Append tables, unbucketed and bucketed by a bucket key, keep every row including duplicates.
#[test]
fn append_tables() {
    rt().block_on(async {
        let catalog = memory_catalog();
        for (name, opts) in [("db.a1", vec![]), ("db.a2", vec![("bucket", "3"), ("bucket-key", "k")])] {
            let t = create(&catalog, name, "k INT, v STRING, dt STRING", &[], &["dt"], &opts).await.unwrap();
            let mut w = t.writer().await.unwrap();
            let rows: Vec<_> = (0..20)
                .map(|i| json!({"k": i % 7, "v": format!("v{i}"), "dt": if i % 2 == 0 { "x" } else { "y" }}))
                .collect();
            w.write(&batch(&t, &rows)).await.unwrap();
            w.commit().await.unwrap();
            w.write(&batch(&t, &rows[..3])).await.unwrap();
            w.commit().await.unwrap();
            let got = lines(&t, &ScanFrom::Latest).await;
            let mut want = rows.clone();
            want.extend_from_slice(&rows[..3]);
            assert_eq!(got, canon(&want), "{name}");
            let buckets: std::collections::BTreeSet<i32> =
                t.files(&ScanFrom::Latest).await.unwrap().iter().map(|e| e.bucket).collect();
            if name == "db.a2" {
                assert!(buckets.len() > 1, "bucket-key spreads rows: {buckets:?}");
            } else {
                assert_eq!(buckets, [0].into());
            }
            // Append tables take only inserts.
            let e = w.write(&batch(&t, &[json!({"k": 1, "v": "x", "dt": "x", "_op": "-D"})])).await;
            assert!(e.is_err());
        }
    });
}

/// OVERWRITE replaces one partition, or the whole table, in one snapshot.
#[test]
fn overwrite_partition_and_table() {
    rt().block_on(async {
        let catalog = memory_catalog();
        let t = create(&catalog, "db.o", PK_SCHEMA, &["id", "dt"], &["dt"], &[("bucket", "2")]).await.unwrap();
        let mut w = t.writer().await.unwrap();
        w.write(&batch(
            &t,
            &[
                json!({"id": 1, "name": "a", "amount": 1.0, "dt": "p1"}),
                json!({"id": 2, "name": "b", "amount": 2.0, "dt": "p2"}),
            ],
        ))
        .await
        .unwrap();
        w.commit().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 9, "name": "z", "amount": 9.0, "dt": "p1"})])).await.unwrap();
        let id =
            w.overwrite(OverwriteScope::Partitions(Predicate::eq("dt", Datum::String("p1".into())))).await.unwrap();
        assert_eq!(
            t.snapshot_manager().snapshot(id).await.unwrap().commit_kind,
            dyntable_storage::CommitKind::Overwrite
        );
        assert_eq!(
            lines(&t, &ScanFrom::Latest).await,
            canon(&[
                json!({"id": 9, "name": "z", "amount": 9.0, "dt": "p1"}),
                json!({"id": 2, "name": "b", "amount": 2.0, "dt": "p2"})
            ])
        );
        w.write(&batch(&t, &[json!({"id": 5, "name": "e", "amount": 5.0, "dt": "p3"})])).await.unwrap();
        w.overwrite(OverwriteScope::Table).await.unwrap();
        assert_eq!(
            lines(&t, &ScanFrom::Latest).await,
            canon(&[json!({"id": 5, "name": "e", "amount": 5.0, "dt": "p3"})])
        );
        assert_eq!(lines(&t, &ScanFrom::Snapshot(1)).await.len(), 2, "older snapshots are untouched");
    });
}

/// A small write buffer flushes several level-0 files within one commit and small target files roll;
/// merge-on-read across all those sorted runs still returns the newest version of each key.
#[test]
fn write_buffer_flush_and_file_rolling() {
    rt().block_on(async {
        let catalog = memory_catalog();
        let t = create(
            &catalog,
            "db.f",
            "id BIGINT NOT NULL, v STRING",
            &["id"],
            &[],
            &[("bucket", "1"), ("write-buffer-size", "64 kb"), ("target-file-size", "32 kb")],
        )
        .await
        .unwrap();
        let mut w = t.writer().await.unwrap();
        let mut expect = std::collections::BTreeMap::new();
        for round in 0..6 {
            let rows: Vec<_> = (0..3000)
                .map(
                    |i| json!({"id": (i * 7 + round * 13) % 4000, "v": format!("round{round}-{i}-{}", "x".repeat(20))}),
                )
                .collect();
            for r in &rows {
                expect.insert(r["id"].as_i64().unwrap(), r.clone());
            }
            w.write(&batch(&t, &rows)).await.unwrap();
        }
        w.commit().await.unwrap();
        let files = t.files(&ScanFrom::Latest).await.unwrap();
        assert!(files.len() >= 4, "expected several flushed/rolled files, got {}", files.len());
        let want: Vec<_> = expect.into_values().collect();
        assert_eq!(lines(&t, &ScanFrom::Latest).await, canon(&want));
    });
}

/// `sequence.field` orders versions by a user column instead of arrival.
#[test]
fn sequence_field_orders_versions() {
    rt().block_on(async {
        let catalog = memory_catalog();
        let t = create(
            &catalog,
            "db.s",
            "id BIGINT NOT NULL, v STRING, ts BIGINT",
            &["id"],
            &[],
            &[("bucket", "1"), ("sequence.field", "ts")],
        )
        .await
        .unwrap();
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 1, "v": "new", "ts": 20}), json!({"id": 1, "v": "old", "ts": 10})]))
            .await
            .unwrap();
        w.commit().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 1, "v": "older", "ts": 5})])).await.unwrap();
        w.commit().await.unwrap();
        assert_eq!(lines(&t, &ScanFrom::Latest).await, canon(&[json!({"id": 1, "v": "new", "ts": 20})]));
    });
}

/// Filters prune partitions and files by statistics and are applied exactly to rows; projection works.
#[test]
fn filters_prune_and_filter_rows() {
    rt().block_on(async {
        let catalog = memory_catalog();
        let t = create(&catalog, "db.p", PK_SCHEMA, &["id", "dt"], &["dt"], &[("bucket", "1")]).await.unwrap();
        let mut w = t.writer().await.unwrap();
        for day in 1..=4 {
            let rows: Vec<_> = (0..10).map(|i| json!({"id": day * 100 + i, "name": format!("n{i}"), "amount": i as f64, "dt": format!("d{day}")})).collect();
            w.write(&batch(&t, &rows)).await.unwrap();
            w.commit().await.unwrap();
        }
        let f = Predicate::eq("dt", Datum::String("d2".into()));
        let plan = t.plan(&ScanFrom::Latest, Some(&f)).await.unwrap();
        // Manifest partition statistics skip the three other days' manifests without reading them.
        assert_eq!((plan.prune.manifests_total, plan.prune.manifests_pruned), (4, 3));
        assert_eq!(plan.splits.len(), 1);
        let f = Predicate::And(vec![Predicate::cmp("id", CmpOp::GtEq, Datum::I64(305)), Predicate::cmp("id", CmpOp::Lt, Datum::I64(402))]);
        let plan = t.plan(&ScanFrom::Latest, Some(&f)).await.unwrap();
        assert_eq!(plan.prune.files_pruned, 2, "key statistics prune days 1 and 2");
        let rows = t.scan_collect(&ScanFrom::Latest, Some(&["id".to_string()]), Some(f)).await.unwrap();
        let mut ids: Vec<i64> = rows.iter().flat_map(|b| b.column(0).as_any().downcast_ref::<arrow::array::Int64Array>().unwrap().values().to_vec()).collect();
        ids.sort();
        assert_eq!(ids, vec![305, 306, 307, 308, 309, 400, 401]);
        let f = Predicate::Or(vec![Predicate::In("dt".into(), vec![Datum::String("d1".into()), Datum::String("d4".into())]), Predicate::IsNull("name".into())]);
        let rows = t.scan_collect(&ScanFrom::Latest, None, Some(f)).await.unwrap();
        assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 20);
        assert!(t.scan_collect(&ScanFrom::Latest, Some(&["nope".to_string()]), None).await.is_err());
        assert!(t.plan(&ScanFrom::Latest, Some(&Predicate::eq("nope", Datum::I64(1)))).await.is_err());
    });
}

/// Bad input is rejected with an error naming the problem, and the table does not change.
#[test]
fn bad_input_is_rejected_and_table_unchanged() {
    rt().block_on(async {
        let catalog = memory_catalog();
        let t = create(&catalog, "db.bad", PK_SCHEMA, &["id", "dt"], &["dt"], &[("bucket", "2")]).await.unwrap();
        let mut w = t.writer().await.unwrap().with_row_kind_column(Some("_op".into()));
        w.write(&batch(&t, &[json!({"id": 1, "name": "a", "amount": 1.0, "dt": "x", "_op": "+I"})])).await.unwrap();
        w.commit().await.unwrap();
        let before = lines(&t, &ScanFrom::Latest).await;

        let schema = t.schema().arrow_schema();
        let missing = arrow::array::RecordBatch::try_new(
            Arc::new(arrow::datatypes::Schema::new(vec![schema.field(0).clone()])),
            vec![Arc::new(arrow::array::Int64Array::from(vec![2]))],
        )
        .unwrap();
        let e = w.write(&missing).await.unwrap_err().to_string();
        assert!(e.contains("`name`") && e.contains("missing"), "{e}");
        let wrong = arrow::array::RecordBatch::try_new(
            Arc::new(arrow::datatypes::Schema::new(vec![
                arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Utf8, false),
                schema.field(1).clone(),
                schema.field(2).clone(),
                schema.field(3).clone(),
            ])),
            vec![
                Arc::new(arrow::array::StringArray::from(vec!["1"])),
                Arc::new(arrow::array::StringArray::from(vec!["n"])),
                Arc::new(arrow::array::Float64Array::from(vec![1.0])),
                Arc::new(arrow::array::StringArray::from(vec!["x"])),
            ],
        )
        .unwrap();
        let e = w.write(&wrong).await.unwrap_err().to_string();
        assert!(e.contains("`id`") && e.contains("BIGINT"), "{e}");
        let e = dyntable::convert::json_to_batch(
            &[json!({"id": null, "name": "n", "amount": 1.0, "dt": "x"})],
            &t.schema().fields,
            None,
        )
        .map(|b| futures::executor::block_on(w.write(&b)));
        let e = e.unwrap().unwrap_err().to_string();
        assert!(e.contains("`id`") && e.contains("NOT NULL"), "{e}");
        let e = w
            .write(&batch(&t, &[json!({"id": 5, "name": "a", "amount": 1.0, "dt": "x", "_op": "+X"})]))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("+X"), "{e}");
        let e = dyntable::convert::json_to_batch(&[json!({"id": 5, "extra": 1, "dt": "x"})], &t.schema().fields, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("extra"), "{e}");
        assert_eq!(w.commit().await.unwrap(), None, "nothing was buffered by the failed writes");
        assert_eq!(lines(&t, &ScanFrom::Latest).await, before);
        assert_eq!(t.snapshot_manager().latest_id().await.unwrap(), Some(1));

        // Table definitions.
        let e =
            create(&catalog, "db.x1", PK_SCHEMA, &["id"], &["dt"], &[("bucket", "2")]).await.unwrap_err().to_string();
        assert!(e.contains("partition key `dt`"), "{e}");
        let e = create(&catalog, "db.x2", PK_SCHEMA, &["id", "dt"], &["dt"], &[("buckets", "2")])
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("buckets") && e.contains("unknown option"), "{e}");
        let e = create(&catalog, "db.x3", PK_SCHEMA, &["id", "dt"], &["dt"], &[("bucket", "two")])
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("`bucket` = `two`"), "{e}");
        let e = create(&catalog, "db.x4", "id BIGINT, v WHATEVER", &[], &[], &[]).await.unwrap_err().to_string();
        assert!(e.contains("WHATEVER"), "{e}");
        assert!(create(&catalog, "db.bad", PK_SCHEMA, &["id", "dt"], &["dt"], &[("bucket", "2")])
            .await
            .unwrap_err()
            .to_string()
            .contains("already exists"));
        assert!(catalog.list_tables("db").await.unwrap() == vec!["bad".to_string()]);
    });
}

/// Damaged snapshot, manifest and data files give errors that name the file; nothing panics.
#[test]
fn corrupt_files_name_the_file() {
    rt().block_on(async {
        let store: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let catalog = Catalog::from_io(FileIO::new(store.clone(), Path::from("wh")));
        let t =
            create(&catalog, "db.c", "id BIGINT NOT NULL, v STRING", &["id"], &[], &[("bucket", "1")]).await.unwrap();
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 1, "v": "a"})])).await.unwrap();
        w.commit().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 2, "v": "b"})])).await.unwrap();
        w.commit().await.unwrap();
        let io = t.io().clone();
        let put = |rel: String, data: Vec<u8>| {
            let io = io.clone();
            async move { io.write(&rel, bytes::Bytes::from(data)).await.unwrap() }
        };
        // Truncated data file.
        let entry = t
            .files(&ScanFrom::Latest)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.file.row_count == 1 && e.file.min_sequence_number == 1)
            .unwrap();
        let rel = format!("bucket-0/{}", entry.file.file_name);
        let data = io.read(&rel).await.unwrap();
        put(rel.clone(), data[..data.len() / 2].to_vec()).await;
        let e = t.scan_collect(&ScanFrom::Latest, None, None).await.unwrap_err();
        assert!(e.to_string().contains(&entry.file.file_name), "{e}");
        assert_eq!(e.kind(), ErrorKind::Data);
        put(rel, data.to_vec()).await;
        // Corrupt manifest list of snapshot 2.
        let s2 = t.snapshot_manager().snapshot(2).await.unwrap();
        let rel = format!("manifest/{}", s2.delta_manifest_list);
        let data = io.read(&rel).await.unwrap();
        put(rel.clone(), data[..data.len() - 9].to_vec()).await;
        let e = t.scan_collect(&ScanFrom::Latest, None, None).await.unwrap_err();
        assert!(e.to_string().contains(&s2.delta_manifest_list), "{e}");
        assert_eq!(lines(&t, &ScanFrom::Snapshot(1)).await.len(), 1, "snapshot 1 is still readable");
        put(rel, data.to_vec()).await;
        // Garbage snapshot file.
        put("snapshot/snapshot-2".into(), b"{not json".to_vec()).await;
        let e = t.scan_collect(&ScanFrom::Latest, None, None).await.unwrap_err();
        assert!(e.to_string().contains("snapshot-2"), "{e}");
        assert_eq!(e.kind(), ErrorKind::Data);
    });
}

/// A missing or unwritable warehouse is a clear error.
#[test]
fn warehouse_errors() {
    let e = Catalog::open("/nonexistent/dyntable/wh", false).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/dyntable/wh") && e.contains("does not exist"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let e = Catalog::open(file.join("wh").to_str().unwrap(), true).unwrap_err().to_string();
    assert!(e.contains("cannot create warehouse"), "{e}");
    let e = Catalog::open("ftp://host/wh", true).unwrap_err().to_string();
    assert!(e.contains("unsupported scheme"), "{e}");
}

/// Concurrent writers each get their own snapshot id (conditional create) and no row is lost.
#[test]
fn concurrent_commits_rebase_and_retry() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().to_str().unwrap(), true).unwrap();
        let t = create(
            &catalog,
            "db.cc",
            "id BIGINT NOT NULL, w INT",
            &["id"],
            &[],
            &[("bucket", "2"), ("commit.max-retries", "50")],
        )
        .await
        .unwrap();
        let mut tasks = Vec::new();
        for writer in 0..4i64 {
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                let mut w = t.writer().await.unwrap();
                for c in 0..5i64 {
                    w.write(&batch(&t, &[json!({"id": writer * 100 + c, "w": writer})])).await.unwrap();
                    w.commit().await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        // Every commit made one APPEND snapshot; the writers' background compactions add COMPACT snapshots
        // (or are discarded when another writer compacted the same files first). Ids stay contiguous.
        let snaps = t.snapshot_manager().all().await.unwrap();
        assert_eq!(snaps.iter().filter(|s| s.commit_kind == dyntable_storage::CommitKind::Append).count(), 20);
        assert_eq!(snaps.iter().map(|s| s.id).collect::<Vec<_>>(), (1..=snaps.len() as i64).collect::<Vec<_>>());
        assert_eq!(lines(&t, &ScanFrom::Latest).await.len(), 20);
    });
}

/// After an ambiguous failure (the snapshot was created but the reply was lost) the commit finds its own
/// snapshot and does not commit twice; a failure before the write is retried.
#[test]
fn ambiguous_commit_failure_is_idempotent() {
    rt().block_on(async {
        let faulty = Arc::new(FaultyStore::new(Arc::new(object_store::memory::InMemory::new())));
        let catalog = Catalog::from_io(FileIO::new(faulty.clone(), Path::from("wh")));
        let t =
            create(&catalog, "db.i", "id BIGINT NOT NULL, v STRING", &["id"], &[], &[("bucket", "1")]).await.unwrap();
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 1, "v": "a"})])).await.unwrap();
        faulty.arm("snapshot/snapshot-", 1, 0);
        assert_eq!(w.commit().await.unwrap(), Some(1));
        assert_eq!(t.snapshot_manager().all().await.unwrap().len(), 1, "committed exactly once");
        w.write(&batch(&t, &[json!({"id": 2, "v": "b"})])).await.unwrap();
        faulty.arm("snapshot/snapshot-", 0, 2);
        assert_eq!(w.commit().await.unwrap(), Some(2));
        assert_eq!(lines(&t, &ScanFrom::Latest).await.len(), 2);
        // The same (user, identifier) is found again instead of being committed again.
        let commit = t.new_commit(w.commit_user().to_string()).unwrap();
        assert_eq!(commit.find_committed(2, dyntable_storage::CommitKind::Append, 0).await.unwrap(), Some(2));
    });
}

fn msg(partition: Vec<Datum>, before: Vec<DataFileMeta>, after: Vec<DataFileMeta>) -> CommitMessage {
    CommitMessage {
        partition,
        bucket: 0,
        total_buckets: 1,
        new_files: vec![],
        compact_before: before,
        compact_after: after,
        new_changelog: Vec::new(),
        compact_changelog: Vec::new(),
    }
}

/// Real conflicts fail clearly: deleting a file that is no longer live, overlapping files in a level >= 1.
#[test]
fn real_conflicts_fail() {
    rt().block_on(async {
        let catalog = memory_catalog();
        let t =
            create(&catalog, "db.k", "id BIGINT NOT NULL, v STRING", &["id"], &[], &[("bucket", "1")]).await.unwrap();
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 1, "v": "a"}), json!({"id": 5, "v": "e"})])).await.unwrap();
        w.commit().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 3, "v": "c"}), json!({"id": 9, "v": "i"})])).await.unwrap();
        w.commit().await.unwrap();
        let files: Vec<DataFileMeta> = t.files(&ScanFrom::Latest).await.unwrap().into_iter().map(|e| e.file).collect();
        let commit = t.new_commit("compactor").unwrap();
        // Move both files to level 1: their key ranges [1,5] and [3,9] overlap.
        let up = |f: &DataFileMeta| DataFileMeta { level: 1, ..f.clone() };
        let e = commit.commit(&[msg(vec![], files.clone(), files.iter().map(up).collect())], 1).await.unwrap_err();
        assert!(e.to_string().contains("LSM conflicts"), "{e}");
        // One file up is fine, then deleting the level-0 original again is a deletion conflict.
        commit.commit(&[msg(vec![], vec![files[0].clone()], vec![up(&files[0])])], 2).await.unwrap();
        let e = commit.commit(&[msg(vec![], vec![files[0].clone()], vec![])], 3).await.unwrap_err();
        assert!(e.to_string().contains("file deletion conflicts"), "{e}");
        assert_eq!(e.kind(), ErrorKind::Conflict);
        // Reads merge across level 0 and level 1.
        assert_eq!(lines(&t, &ScanFrom::Latest).await.len(), 4);
    });
}

/// Files written under an older schema read correctly after a column is added and another renamed
/// (columns are matched by field id).
#[test]
fn files_of_older_schemas_read_correctly() {
    rt().block_on(async {
        let catalog = memory_catalog();
        let t =
            create(&catalog, "db.e", "id BIGINT NOT NULL, v STRING", &["id"], &[], &[("bucket", "1")]).await.unwrap();
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 1, "v": "a"}), json!({"id": 2, "v": "b"})])).await.unwrap();
        w.commit().await.unwrap();
        let mut s1 = (**t.schema()).clone();
        s1.id = 1;
        s1.fields[1].name = "v_renamed".into();
        s1.fields.push(dyntable_storage::DataField::new(
            2,
            "extra",
            dyntable_storage::types::parse_sql_type("INT").unwrap(),
        ));
        s1.highest_field_id = 2;
        dyntable_storage::schema::SchemaManager::new(t.io().clone()).commit(&s1).await.unwrap();
        let t = catalog.get_table(&dyntable::Identifier::parse("db.e").unwrap()).await.unwrap();
        assert_eq!(t.schema().id, 1);
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 2, "v_renamed": "b2", "extra": 7})])).await.unwrap();
        w.commit().await.unwrap();
        assert_eq!(
            lines(&t, &ScanFrom::Latest).await,
            canon(&[
                json!({"id": 1, "v_renamed": "a", "extra": null}),
                json!({"id": 2, "v_renamed": "b2", "extra": 7})
            ])
        );
    });
}

/// Every supported type is stored and read back as the same value.
#[test]
fn all_types_round_trip() {
    rt().block_on(async {
        let catalog = memory_catalog();
        let schema = "id INT NOT NULL, b BOOLEAN, ti TINYINT, si SMALLINT, bi BIGINT, f FLOAT, d DOUBLE, dec DECIMAL(10, 2), dec38 DECIMAL(38, 6), \
            c CHAR(3), vc VARCHAR(20), s STRING, bin BINARY(2), vb VARBINARY(10), by BYTES, dt DATE, tm TIME, ts0 TIMESTAMP(0), ts3 TIMESTAMP(3), \
            ts6 TIMESTAMP(6), ts9 TIMESTAMP(9), ltz TIMESTAMP_LTZ(6), arr ARRAY<INT>, m MAP<STRING, BIGINT>, r ROW<x INT, y STRING>";
        let t = create(&catalog, "db.types", schema, &["id"], &[], &[("bucket", "2")]).await.unwrap();
        let rows = vec![
            json!({"id": 1, "b": true, "ti": -8, "si": 300, "bi": 9_000_000_000i64, "f": 1.5, "d": -2.25, "dec": "12.34", "dec38": "-12345678901234567890.123456",
                   "c": "abc", "vc": "hello", "s": "a longer string value", "bin": "0102", "vb": "ff00", "by": "deadbeef", "dt": "2024-02-29", "tm": "12:34:56.789",
                   "ts0": "2024-01-01T00:00:01", "ts3": "2024-01-01T00:00:01.123", "ts6": "2024-01-01T00:00:01.123456", "ts9": "2024-01-01T00:00:01.123456789",
                   "ltz": "2024-01-01T00:00:01.5", "arr": [1, null, 3], "m": {"k1": 1, "k2": null}, "r": {"x": 1, "y": "why"}}),
            json!({"id": 2}),
        ];
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &rows)).await.unwrap();
        w.commit().await.unwrap();
        let batches = t.scan_collect(&ScanFrom::Latest, None, None).await.unwrap();
        let mut got: Vec<_> = batches.iter().flat_map(|b| dyntable::convert::batch_to_json_rows(b, &t.schema().fields, dyntable::convert::JsonStyle::Plain).unwrap()).collect();
        got.sort_by_key(|r| r["id"].as_i64());
        assert_eq!(got[0]["dec38"], json!("-12345678901234567890.123456"));
        assert_eq!(got[0]["ts9"], json!("2024-01-01T00:00:01.123456789"));
        assert_eq!(got[0]["ltz"], json!("2024-01-01T00:00:01.500000"));
        assert_eq!(got[0]["tm"], json!("12:34:56.789000"));
        assert_eq!(got[0]["m"], json!({"k1": 1, "k2": null}));
        assert_eq!(got[0]["arr"], json!([1, null, 3]));
        assert_eq!(got[0]["r"], json!({"x": 1, "y": "why"}));
        assert_eq!(got[0]["by"], json!("deadbeef"));
        assert_eq!(got[0]["dt"], json!("2024-02-29"));
        assert!(got[1].iter().filter(|(k, _)| *k != "id").all(|(_, v)| v.is_null()));
    });
}

/// `metadata.stats-mode` decides what value statistics files carry: full values, truncated strings,
/// only null counts, or nothing.
#[test]
fn stats_modes() {
    use dyntable_storage::stats::from_simple_stats;
    rt().block_on(async {
        let catalog = memory_catalog();
        let long = "abcdefghijklmnopqrstuvwxyz";
        for (i, mode) in ["full", "truncate(16)", "counts", "none"].into_iter().enumerate() {
            let t =
                create(&catalog, &format!("db.st{i}"), "k INT, s STRING", &[], &[], &[("metadata.stats-mode", mode)])
                    .await
                    .unwrap();
            let mut w = t.writer().await.unwrap();
            w.write(&batch(&t, &[json!({"k": 1, "s": long}), json!({"k": 7, "s": null})])).await.unwrap();
            w.commit().await.unwrap();
            let f = t.files(&ScanFrom::Latest).await.unwrap().remove(0).file;
            let types: Vec<_> = t.schema().fields.iter().map(|f| f.data_type.clone()).collect();
            let st = from_simple_stats(&f.value_stats, &types);
            match mode {
                "full" => {
                    assert_eq!(
                        (st[0].min.clone(), st[0].max.clone(), st[1].null_count),
                        (Datum::I32(1), Datum::I32(7), Some(1))
                    );
                    assert_eq!(st[1].max, Datum::String(long.into()));
                }
                "truncate(16)" => {
                    assert_eq!(st[1].min, Datum::String(long[..16].into()));
                    assert_eq!(st[1].max, Datum::String("abcdefghijklmnoq".into()));
                }
                "counts" => assert_eq!((st[0].min.clone(), st[1].null_count), (Datum::Null, Some(1))),
                _ => assert_eq!((st[0].min.clone(), st[1].null_count), (Datum::Null, None)),
            }
        }
    });
}

/// With `commit.force-compact`, every commit waits for compaction (as Paimon's batch writers do), so a
/// bucket never holds more sorted runs than the compaction trigger after a commit.
#[test]
fn force_compact_keeps_runs_under_the_trigger() {
    rt().block_on(async {
        let catalog = memory_catalog();
        let t = create(
            &catalog,
            "db.fc",
            "id BIGINT NOT NULL, v STRING",
            &["id"],
            &[],
            &[("bucket", "1"), ("commit.force-compact", "true"), ("num-sorted-run.compaction-trigger", "3")],
        )
        .await
        .unwrap();
        let mut w = t.writer().await.unwrap();
        for c in 0..12 {
            let rows: Vec<_> = (0..50).map(|i| json!({"id": (i * 7 + c * 3) % 80, "v": format!("c{c}")})).collect();
            w.write(&batch(&t, &rows)).await.unwrap();
            w.commit().await.unwrap();
            let plan = t.plan(&ScanFrom::Latest, None).await.unwrap();
            assert!(dyntable_storage::compact::sorted_run_count(&plan.splits[0].files) <= 3, "commit {c}");
        }
        assert!(w.metrics().compaction.compactions > 0);
        assert!(w.metrics().write_amplification() > 1.0);
    });
}

/// A filter skips Parquet row groups whose statistics exclude it (append tables and single sorted runs), and
/// the rows returned stay exact.
#[test]
fn row_groups_are_pruned_by_statistics() {
    rt().block_on(async {
        let catalog = memory_catalog();
        let t =
            create(&catalog, "db.rg", "k BIGINT, s STRING", &[], &[], &[("dyntable.parquet.row-group-rows", "100")])
                .await
                .unwrap();
        let mut w = t.writer().await.unwrap();
        let rows: Vec<_> = (0..1000).map(|i| json!({"k": i, "s": format!("s{i:04}")})).collect();
        w.write(&batch(&t, &rows)).await.unwrap();
        w.commit().await.unwrap();
        let entry = t.files(&ScanFrom::Latest).await.unwrap().remove(0);
        let filter = Predicate::And(vec![
            Predicate::cmp("k", CmpOp::GtEq, Datum::I64(150)),
            Predicate::cmp("k", CmpOp::Lt, Datum::I64(180)),
        ]);
        let cols = dyntable_storage::datafile::ReadColumns {
            system: dyntable_storage::datafile::SystemColumns::None,
            values: t.schema().fields.clone(),
        };
        let read_rows = |prune: Option<Predicate>| {
            let t = t.clone();
            let cols = cols.clone();
            let rel = format!("bucket-0/{}", entry.file.file_name);
            async move {
                use futures::TryStreamExt;
                let s = dyntable_storage::datafile::read_data_file(
                    t.io(),
                    &rel,
                    entry.file.file_size as u64,
                    t.schema(),
                    t.schema(),
                    &cols,
                    1024,
                    prune.as_ref(),
                )
                .await
                .unwrap();
                let batches: Vec<arrow::array::RecordBatch> = s.try_collect().await.unwrap();
                batches.iter().map(|b| b.num_rows()).sum::<usize>()
            }
        };
        assert_eq!(read_rows(None).await, 1000);
        assert_eq!(read_rows(Some(filter.clone())).await, 100, "only the row group holding 100..199 is read");
        let got = t.scan_collect(&ScanFrom::Latest, Some(&["k".to_string()]), Some(filter)).await.unwrap();
        assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 30);
    });
}
