//! Tests that the table options dyntable accepts do what Paimon documents (`read.batch-size`, `page-size`,
//! `manifest.target-file-size`, the `*.ignore-delete` spellings), and that the ones it refuses are refused at
//! creation naming the option while a table carrying them still opens.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::Int64Type;
use futures::TryStreamExt;

use crate::catalog::{Catalog, Identifier, TableSpec};
use crate::expire::tests::{create, rt};
use crate::io::FileIO;
use crate::scan::ScanFrom;
use crate::schema::TableSchema;
use crate::seams::{ManualClock, Seams, SeededIds};
use crate::table::{FileStoreTable, TableWriter};

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_000_000, 1))
}

async fn write_ids(w: &mut TableWriter, ids: impl Iterator<Item = i64>, kind: &str) {
    let ids: Vec<i64> = ids.collect();
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids.clone())) as ArrayRef),
        ("v", Arc::new(StringArray::from(ids.iter().map(|i| format!("v{i}")).collect::<Vec<_>>()))),
        ("kind", Arc::new(StringArray::from(ids.iter().map(|_| kind).collect::<Vec<_>>()))),
    ])
    .unwrap();
    w.write(&batch).await.unwrap();
    w.commit().await.unwrap();
}

async fn ids(t: &FileStoreTable) -> Vec<i64> {
    let mut out: Vec<i64> = t
        .scan_collect(&ScanFrom::Latest, None, None)
        .await
        .unwrap()
        .iter()
        .flat_map(|b| b.column_by_name("id").unwrap().as_primitive::<Int64Type>().values().to_vec())
        .collect();
    out.sort();
    out
}

/// `read.batch-size`: the read yields batches of at most that many rows, and the SQL layer's default
/// (`with_default_batch_size`) does not override it; without it the default applies.
#[test]
fn read_batch_size_bounds_batches() {
    rt().block_on(async {
        for (option, session, want) in [(Some("7"), 1000, 7), (None, 10, 10)] {
            let options: Vec<(&str, &str)> = option.map(|v| ("read.batch-size", v)).into_iter().collect();
            let t = create(clock(), &options).await;
            let mut w = t.writer().await.unwrap().with_row_kind_column(Some("kind".into()));
            write_ids(&mut w, 0..100, "+I").await;
            let read = t.new_read(None, None).unwrap().with_default_batch_size(session);
            let plan = t.plan(&ScanFrom::Latest, None).await.unwrap();
            let batches: Vec<RecordBatch> = read.read_splits(plan.splits).try_collect().await.unwrap();
            assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 100);
            assert!(batches.iter().all(|b| b.num_rows() <= want), "{option:?}");
            assert_eq!(batches.iter().map(RecordBatch::num_rows).max(), Some(want));
        }
    });
}

/// `page-size`: data pages close at about that many bytes, so a small page size makes more pages.
#[test]
fn page_size_sets_the_parquet_page_size() {
    rt().block_on(async {
        let mut pages = Vec::new();
        for options in [&[][..], &[("page-size", "2 kb")][..]] {
            let t = create(clock(), options).await;
            let mut w = t.writer().await.unwrap().with_row_kind_column(Some("kind".into()));
            write_ids(&mut w, 0..4000, "+I").await;
            let files = t.files(&ScanFrom::Latest).await.unwrap();
            assert_eq!(files.len(), 1);
            let bytes = t.io().read(&format!("bucket-0/{}", files[0].file.file_name)).await.unwrap();
            let reader = parquet::file::serialized_reader::SerializedFileReader::new_with_options(
                bytes,
                parquet::file::serialized_reader::ReadOptionsBuilder::new().with_page_index().build(),
            )
            .unwrap();
            let meta = parquet::file::reader::FileReader::metadata(&reader);
            let offsets = meta.offset_index().expect("offset index");
            // The `id` column: 4000 distinct values, dictionary indices of 12 bits: about 6 kb of page data.
            let v = meta.file_metadata().schema_descr().columns().iter().position(|c| c.name() == "id").unwrap();
            pages.push(offsets[0][v].page_locations().len());
        }
        assert_eq!(pages[0], 1, "by default 4000 rows fit one page");
        assert!(pages[1] >= 3, "2 kb pages: {pages:?}");
    });
}

/// `manifest.target-file-size`: merged base manifests hold about that many bytes each.
#[test]
fn manifest_target_file_size_rolls_merged_manifests() {
    rt().block_on(async {
        let mut counts = Vec::new();
        for target in ["8 mb", "1 b"] {
            let t = create(clock(), &[("manifest.merge-min-count", "2"), ("manifest.target-file-size", target)]).await;
            let mut w = t.writer().await.unwrap().with_row_kind_column(Some("kind".into()));
            for i in 0..6 {
                write_ids(&mut w, i..i + 1, "+I").await;
            }
            let latest = t.snapshot_manager().latest().await.unwrap().unwrap();
            let ms = t.manifest_store();
            let base = ms.read_list(&latest.base_manifest_list).await.unwrap();
            let mut entries = Vec::new();
            for m in &base {
                entries.push(ms.read_manifest(&m.file_name).await.unwrap().len());
            }
            counts.push(entries);
            assert_eq!(ids(&t).await, (0..6).collect::<Vec<_>>());
        }
        assert_eq!(counts[0].len(), 1, "one merged manifest: {counts:?}");
        assert!(counts[1].len() >= 4 && counts[1].iter().all(|n| *n == 1), "one entry per manifest: {counts:?}");
    });
}

/// Paimon's older spellings of `ignore-delete` drop deletes as `ignore-delete` does; without them a delete
/// of a deduplicate table removes the row.
#[test]
fn ignore_delete_spellings_drop_deletes() {
    rt().block_on(async {
        for (options, kept) in [
            (vec![("merge-engine", "first-row"), ("first-row.ignore-delete", "true")], true),
            (vec![("merge-engine", "partial-update"), ("partial-update.ignore-delete", "true")], true),
            (vec![("deduplicate.ignore-delete", "true")], true),
            (vec![("ignore-delete", "true")], true),
            (vec![], false),
        ] {
            let t = create(clock(), &options).await;
            let mut w = t.writer().await.unwrap().with_row_kind_column(Some("kind".into()));
            write_ids(&mut w, 0..3, "+I").await;
            write_ids(&mut w, 1..2, "-D").await;
            let want: Vec<i64> = if kept { vec![0, 1, 2] } else { vec![0, 2] };
            assert_eq!(ids(&t).await, want, "{options:?}");
        }
    });
}

fn memory_catalog() -> Catalog {
    let seams = Seams { clock: clock(), ids: Arc::new(SeededIds::new(5)) };
    Catalog::from_io(FileIO::new(Arc::new(object_store::memory::InMemory::new()), "wh".into()).with_seams(seams))
}

fn table_spec(pk: bool, options: &[(&str, &str)]) -> TableSpec {
    TableSpec::new("id BIGINT NOT NULL, v STRING", if pk { &["id"] } else { &[] }, &[], options)
}

/// Refused options: creation fails naming the option and saying dyntable does not support it; the values
/// dyntable honours are accepted; a table another engine wrote with the refused options still opens.
#[test]
fn refused_options_name_the_option() {
    rt().block_on(async {
        let catalog = memory_catalog();
        let refused: &[(&str, &str, bool)] = &[
            ("bucket", "-1", true),
            ("deletion-vectors.enabled", "true", true),
            ("write-buffer-spillable", "true", true),
            ("manifest.format", "orc", true),
            ("manifest.compression", "lz4", true),
            ("compaction.optimization-interval", "1 h", true),
            ("path", "/elsewhere", false),
            ("log.kafka.bootstrap.servers", "localhost:9092", false),
            ("fields.v.nested-key", "id", false),
        ];
        for (i, (k, v, pk)) in refused.iter().enumerate() {
            let ident = Identifier::parse(&format!("db.r{i}")).unwrap();
            let e = catalog.create_table(&ident, &table_spec(*pk, &[(k, v)]), false).await.unwrap_err().to_string();
            assert!(e.contains(k) && e.contains(v) && e.contains("does not support"), "{e}");
        }
        let accepted: &[(&str, &str)] = &[
            ("deletion-vectors.enabled", "false"),
            ("write-buffer-spillable", "false"),
            ("manifest.format", "avro"),
            ("manifest.compression", "zstd"),
            ("owner", "ops"),
            ("log.segment.size", "1 mb"),
        ];
        // An aggregate function on an engine that does not fold names the engines it applies to.
        let e = catalog
            .create_table(
                &Identifier::parse("db.agg_dedup").unwrap(),
                &table_spec(true, &[("fields.v.aggregate-function", "last_value")]),
                false,
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("fields.v.aggregate-function") && e.contains("'aggregation' or 'partial-update'"), "{e}");
        let ok = Identifier::parse("db.ok").unwrap();
        catalog.create_table(&ok, &table_spec(true, accepted), false).await.unwrap();
        // Append tables keep the dynamic default.
        catalog
            .create_table(&Identifier::parse("db.app").unwrap(), &table_spec(false, &[("bucket", "-1")]), false)
            .await
            .unwrap();
        // Malformed values of validated options.
        for (k, v) in [
            ("page-size", "big"),
            ("read.batch-size", "0"),
            ("manifest.target-file-size", "0 kb"),
            ("dyntable.parquet.row-group-rows", "many"),
            ("commit.force-compact", "yes"),
            ("first-row.ignore-delete", "sometimes"),
        ] {
            let ident = Identifier::parse("db.m").unwrap();
            let e = catalog.create_table(&ident, &table_spec(true, &[(k, v)]), false).await.unwrap_err().to_string();
            assert!(e.contains(k) && e.contains(v), "{e}");
        }
        // A schema another engine wrote with refused options opens (validation of what is on disk).
        let options: BTreeMap<String, String> = refused
            .iter()
            .filter(|(k, _, _)| *k != "bucket")
            .map(|(k, v, _)| (k.to_string(), v.to_string()))
            .chain([("bucket".to_string(), "-1".to_string())])
            .collect();
        let fields = crate::types::parse_sql_fields("id BIGINT NOT NULL, v STRING").unwrap();
        let schema = TableSchema {
            id: 0,
            fields: fields.0,
            highest_field_id: fields.1,
            partition_keys: Vec::new(),
            primary_keys: vec!["id".into()],
            options,
            comment: None,
            time_millis: 0,
        };
        schema.validate().unwrap();
        let io = FileIO::new(Arc::new(object_store::memory::InMemory::new()), "java".into());
        FileStoreTable::create(io.clone(), "java", schema).await.unwrap();
        let t = FileStoreTable::open(io, "java").await.unwrap();
        // Writing is where the unsupported layout shows.
        let e = t.writer().await.err().expect("no dynamic-bucket writer").to_string();
        assert!(e.contains("bucket"), "{e}");
    });
}
