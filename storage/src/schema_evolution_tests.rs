//! Tests of schema evolution: a primary-key and an append table written under schema 0, altered (add with a
//! position, drop, rename, widen INT -> BIGINT, FLOAT -> DOUBLE and VARCHAR(5) -> VARCHAR(20)/STRING, relax
//! NOT NULL, comment) and written again; full scans, scans with predicates on renamed, widened and added
//! columns, point lookups, compaction, time travel, a writer opened before the change, the embedded log's
//! records across it, and every refused change with its message.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::util::display::array_value_to_string;
use arrow_schema::DataType as ArrowType;

use crate::catalog::{Catalog, Identifier, TableSpec};
use crate::datum::Datum;
use crate::io::FileIO;
use crate::predicate::{CmpOp, Predicate};
use crate::scan::ScanFrom;
use crate::schema::SchemaManager;
use crate::schema_change::{widening_allowed, ColumnPosition, SchemaChange};
use crate::stream::{ChangeReader, StartFrom};
use crate::table::FileStoreTable;
use crate::types::{parse_sql_type, TypeKind};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn ty(sql: &str) -> crate::types::DataType {
    parse_sql_type(sql).unwrap()
}

/// A table `db.t` on an in-memory store; writers never compact on their own (`write-only`).
async fn create(schema: &str, pk: &[&str], partition: &[&str], options: &[(&str, &str)]) -> FileStoreTable {
    let io = FileIO::new(Arc::new(object_store::memory::InMemory::new()), "wh".into());
    let mut spec = TableSpec::new(schema, pk, partition, options);
    spec.options.insert("write-only".into(), "true".into());
    Catalog::from_io(io).create_table(&Identifier::parse("db.t").unwrap(), &spec, false).await.unwrap()
}

async fn reopen(t: &FileStoreTable) -> FileStoreTable {
    FileStoreTable::open(t.io().clone(), "db.t").await.unwrap()
}

/// Rows of `batches` as `a|b|c` strings (`null` for nulls), sorted.
fn render(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| if c.is_null(r) { "null".to_string() } else { array_value_to_string(c, r).unwrap() })
                .collect();
            out.push(cells.join("|"));
        }
    }
    out.sort();
    out
}

async fn scan(t: &FileStoreTable, from: &ScanFrom, filter: Option<Predicate>) -> Vec<String> {
    render(&t.scan_collect(from, None, filter).await.unwrap())
}

fn lines(rows: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn strings(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

/// Every row the predicate selects starts with one of `keys` (the first column), and exactly those.
async fn check_filter(t: &FileStoreTable, filter: Predicate, column: usize, expected: &[&str]) {
    let got = t.scan_collect(&ScanFrom::Latest, None, Some(filter.clone())).await.unwrap();
    let mut keys: Vec<String> =
        render(&got).iter().map(|row| row.split('|').nth(column).unwrap().to_string()).collect();
    keys.sort();
    assert_eq!(keys, expected, "filter {filter:?}");
}

const PK_SCHEMA_0: &str = "id BIGINT NOT NULL, a INT, f FLOAT, s STRING, w VARCHAR(5), n STRING NOT NULL, old STRING";

/// Writes rows of schema 0 of the primary-key table and commits.
async fn write_pk_v0(t: &FileStoreTable, rows: &[(i64, i32, &str)]) {
    let mut w = t.writer().await.unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids.clone())) as ArrayRef),
        ("a", Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.1))) as ArrayRef),
        ("f", Arc::new(Float32Array::from_iter_values(ids.iter().map(|i| *i as f32 + 0.5))) as ArrayRef),
        ("s", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| format!("s{}", r.2))))),
        ("w", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| format!("w{}", r.2))))),
        ("n", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| format!("n{}", r.2))))),
        ("old", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| format!("o{}", r.2))))),
    ])
    .unwrap();
    w.write(&batch).await.unwrap();
    w.commit().await.unwrap().expect("a snapshot");
    w.finish().await.unwrap();
}

fn pk_changes() -> Vec<SchemaChange> {
    vec![
        SchemaChange::AddColumn {
            name: "c1".into(),
            data_type: ty("STRING"),
            comment: Some("added".into()),
            position: ColumnPosition::After("id".into()),
        },
        SchemaChange::DropColumn("old".into()),
        SchemaChange::RenameColumn { from: "s".into(), to: "name".into() },
        SchemaChange::UpdateColumnType { name: "a".into(), data_type: ty("BIGINT") },
        SchemaChange::UpdateColumnType { name: "f".into(), data_type: ty("DOUBLE") },
        SchemaChange::UpdateColumnType { name: "w".into(), data_type: ty("VARCHAR(20)") },
        SchemaChange::UpdateColumnNullability { name: "n".into(), nullable: true },
        SchemaChange::UpdateColumnComment { name: "a".into(), comment: Some("widened".into()) },
    ]
}

/// The primary-key table's rows after the writes under both schemas, in schema 1
/// (`id|c1|a|f|name|w|n`).
const PK_EXPECTED: [&str; 5] = [
    "1|null|10|1.5|s1|w1|n1",
    "2|c2|5000000000|2.25|s2new|wide-value-2|null",
    "3|null|35|3.5|s3b|w3b|n3b",
    "4|null|40|4.5|s4|w4|n4",
    "5|c5|50|5.5|s5|w5|n5",
];

/// Scans with predicates on the renamed, widened and added columns, and point lookups, all against
/// [`PK_EXPECTED`].
async fn check_pk_reads(t: &FileStoreTable) {
    assert_eq!(scan(t, &ScanFrom::Latest, None).await, lines(&PK_EXPECTED));
    let eq = |c: &str, v: Datum| Predicate::eq(c, v);
    let s = |v: &str| Datum::String(v.into());
    check_filter(t, eq("name", s("s1")), 0, &["1"]).await;
    check_filter(t, eq("name", s("s2")), 0, &[]).await; // the old version of row 2 is merged away
    check_filter(t, eq("name", s("s2new")), 0, &["2"]).await;
    check_filter(t, Predicate::cmp("a", CmpOp::Gt, Datum::I64(1_000_000_000)), 0, &["2"]).await;
    check_filter(t, eq("a", Datum::I64(35)), 0, &["3"]).await;
    check_filter(t, Predicate::cmp("f", CmpOp::Gt, Datum::F64(4.0)), 0, &["4", "5"]).await;
    check_filter(t, Predicate::IsNull("c1".into()), 0, &["1", "3", "4"]).await;
    check_filter(t, eq("c1", s("c5")), 0, &["5"]).await;
    check_filter(t, eq("w", s("wide-value-2")), 0, &["2"]).await;
    check_filter(t, Predicate::IsNull("n".into()), 0, &["2"]).await;
    check_filter(t, eq("id", Datum::I64(3)), 0, &["3"]).await;

    let keys = RecordBatch::try_from_iter(vec![("id", Arc::new(Int64Array::from(vec![1i64, 2, 3, 5, 9])) as ArrayRef)])
        .unwrap();
    let found = t.new_lookup().unwrap().lookup(&keys, &ScanFrom::Latest).await.unwrap();
    let got: Vec<Option<Vec<String>>> = (0..5).map(|i| found.row(i).map(|b| render(&[b]))).collect();
    let one = |r: &str| Some(vec![r.to_string()]);
    assert_eq!(got, vec![one(PK_EXPECTED[0]), one(PK_EXPECTED[1]), one(PK_EXPECTED[2]), one(PK_EXPECTED[4]), None]);
}

/// A primary-key table written under schema 0 (two sorted runs), altered by every kind of change in one
/// call, written under schema 1, then compacted: every read sees the rows in schema 1; time travel to an
/// old snapshot reads it in the schema it was committed with.
#[test]
fn primary_key_table_evolves() {
    rt().block_on(async {
        let t = create(PK_SCHEMA_0, &["id"], &[], &[]).await;
        write_pk_v0(&t, &[(1, 10, "1"), (2, 20, "2"), (3, 30, "3"), (4, 40, "4")]).await;
        write_pk_v0(&t, &[(3, 35, "3b")]).await;

        let altered = t.alter_columns(&pk_changes()).await.unwrap();
        assert_eq!(altered.id, 1);
        let names: Vec<&str> = altered.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["id", "c1", "a", "f", "name", "w", "n"]);
        let ids: Vec<i32> = altered.fields.iter().map(|f| f.id).collect();
        assert_eq!(ids, [0, 7, 1, 2, 3, 4, 5], "the added column takes highest_field_id + 1; others keep theirs");
        assert_eq!(altered.highest_field_id, 7);
        assert_eq!(altered.field("c1").unwrap().description.as_deref(), Some("added"));
        assert_eq!(altered.field("a").unwrap().description.as_deref(), Some("widened"));
        assert_eq!(altered.field("a").unwrap().data_type, ty("BIGINT"));
        assert_eq!(altered.field("w").unwrap().data_type, ty("VARCHAR(20)"));
        assert!(altered.field("n").unwrap().data_type.nullable);
        assert_eq!(t.schema().id, 0, "an open handle keeps its schema");
        let on_disk = SchemaManager::new(t.io().clone()).latest().await.unwrap().unwrap();
        assert_eq!(on_disk.to_json()["fields"], altered.to_json()["fields"]);

        let t1 = reopen(&t).await;
        assert_eq!(t1.schema().id, 1);
        let (schema, _) = t1.scan(&ScanFrom::Latest, None, None).await.unwrap();
        assert_eq!(schema.field_with_name("a").unwrap().data_type(), &ArrowType::Int64);
        assert_eq!(schema.field_with_name("f").unwrap().data_type(), &ArrowType::Float64);
        assert_eq!(
            scan(&t1, &ScanFrom::Latest, None).await,
            lines(&[
                "1|null|10|1.5|s1|w1|n1",
                "2|null|20|2.5|s2|w2|n2",
                "3|null|35|3.5|s3b|w3b|n3b",
                "4|null|40|4.5|s4|w4|n4"
            ])
        );

        // Written under schema 1: an update of row 2 (a value beyond INT, a string beyond VARCHAR(5), a null
        // in the relaxed column) and a new row.
        let mut w = t1.writer().await.unwrap();
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(vec![2i64, 5])) as ArrayRef),
            ("c1", strings(&[Some("c2"), Some("c5")])),
            ("a", Arc::new(Int64Array::from(vec![5_000_000_000i64, 50])) as ArrayRef),
            ("f", Arc::new(Float64Array::from(vec![2.25, 5.5])) as ArrayRef),
            ("name", strings(&[Some("s2new"), Some("s5")])),
            ("w", strings(&[Some("wide-value-2"), Some("w5")])),
            ("n", strings(&[None, Some("n5")])),
        ])
        .unwrap();
        w.write(&batch).await.unwrap();
        assert_eq!(w.commit().await.unwrap(), Some(3));
        w.finish().await.unwrap();
        let schema_ids: Vec<i64> =
            t1.files(&ScanFrom::Latest).await.unwrap().iter().map(|e| e.file.schema_id).collect();
        assert_eq!(schema_ids.iter().filter(|id| **id == 0).count(), 2, "{schema_ids:?}");
        check_pk_reads(&t1).await;

        let e = t.compact(true, None).await.unwrap_err();
        assert!(e.to_string().contains("written with the newer schema 1"), "a stale handle refuses to compact: {e}");
        let (compacted, _) = t1.compact(true, None).await.unwrap();
        assert_eq!(compacted, Some(4));
        let files = t1.files(&ScanFrom::Latest).await.unwrap();
        assert!(files.iter().all(|e| e.file.schema_id == 1), "compaction rewrites in the current schema");
        check_pk_reads(&t1).await;

        // An old snapshot: in the latest schema by a plain scan, in its own schema by time travel.
        assert_eq!(
            scan(&t1, &ScanFrom::Snapshot(2), None).await,
            lines(&[
                "1|null|10|1.5|s1|w1|n1",
                "2|null|20|2.5|s2|w2|n2",
                "3|null|35|3.5|s3b|w3b|n3b",
                "4|null|40|4.5|s4|w4|n4"
            ])
        );
        let old = t1.travel_to(&ScanFrom::Snapshot(2)).await.unwrap();
        assert_eq!(old.schema().id, 0);
        assert_eq!(
            scan(&old, &ScanFrom::Snapshot(2), None).await,
            lines(&[
                "1|10|1.5|s1|w1|n1|o1",
                "2|20|2.5|s2|w2|n2|o2",
                "3|35|3.5|s3b|w3b|n3b|o3b",
                "4|40|4.5|s4|w4|n4|o4"
            ])
        );
        assert_eq!(t1.travel_to(&ScanFrom::Latest).await.unwrap().schema().id, 1);
    });
}

/// An append table: a writer opened before the change keeps writing schema 0 files after it; a dropped
/// column's name is reused by a renamed one (old files' values of the dropped column must not show); reads
/// with predicates on the renamed, widened and added columns prune old files by field id.
#[test]
fn append_table_evolves() {
    rt().block_on(async {
        let t = create("k BIGINT, a INT, f FLOAT, s STRING, w VARCHAR(5), old STRING", &[], &[], &[]).await;
        let v0 = |ks: &[i64]| {
            RecordBatch::try_from_iter(vec![
                ("k", Arc::new(Int64Array::from(ks.to_vec())) as ArrayRef),
                ("a", Arc::new(Int32Array::from_iter_values(ks.iter().map(|k| *k as i32 * 10))) as ArrayRef),
                ("f", Arc::new(Float32Array::from_iter_values(ks.iter().map(|k| *k as f32 + 0.5))) as ArrayRef),
                ("s", Arc::new(StringArray::from_iter_values(ks.iter().map(|k| format!("s{k}"))))),
                ("w", Arc::new(StringArray::from_iter_values(ks.iter().map(|k| format!("w{k}"))))),
                ("old", Arc::new(StringArray::from_iter_values(ks.iter().map(|k| format!("o{k}"))))),
            ])
            .unwrap()
        };
        let mut w = t.writer().await.unwrap();
        w.write(&v0(&[1, 2, 3])).await.unwrap();
        assert_eq!(w.commit().await.unwrap(), Some(1));

        let altered = t
            .alter_columns(&[
                SchemaChange::DropColumn("old".into()),
                SchemaChange::RenameColumn { from: "s".into(), to: "old".into() },
                SchemaChange::AddColumn {
                    name: "c1".into(),
                    data_type: ty("INT"),
                    comment: None,
                    position: ColumnPosition::First,
                },
                SchemaChange::UpdateColumnType { name: "a".into(), data_type: ty("BIGINT") },
                SchemaChange::UpdateColumnType { name: "f".into(), data_type: ty("DOUBLE") },
                SchemaChange::UpdateColumnType { name: "w".into(), data_type: ty("STRING") },
            ])
            .await
            .unwrap();
        let names: Vec<&str> = altered.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["c1", "k", "a", "f", "old", "w"]);
        assert_eq!((altered.field("c1").unwrap().id, altered.field("old").unwrap().id), (6, 3));

        // The writer opened before the change still writes schema 0 (Paimon's writers pick a new schema up
        // when restarted).
        w.write(&v0(&[4])).await.unwrap();
        assert_eq!(w.commit().await.unwrap(), Some(2));
        w.finish().await.unwrap();
        // Its snapshot records the latest schema (as Java's commit does); its file keeps schema 0.
        assert_eq!(t.snapshot_manager().snapshot(2).await.unwrap().schema_id, 1);
        let files = t.files(&ScanFrom::Snapshot(2)).await.unwrap();
        assert_eq!(files.iter().map(|e| e.file.schema_id).collect::<Vec<_>>(), [0, 0]);

        let t1 = reopen(&t).await;
        let mut w1 = t1.writer().await.unwrap();
        let batch = RecordBatch::try_from_iter(vec![
            ("c1", Arc::new(Int32Array::from(vec![55])) as ArrayRef),
            ("k", Arc::new(Int64Array::from(vec![5i64])) as ArrayRef),
            ("a", Arc::new(Int64Array::from(vec![5_000_000_000i64])) as ArrayRef),
            ("f", Arc::new(Float64Array::from(vec![5.5])) as ArrayRef),
            ("old", strings(&[Some("s5")])),
            ("w", strings(&[Some("long-string-5")])),
        ])
        .unwrap();
        w1.write(&batch).await.unwrap();
        assert_eq!(w1.commit().await.unwrap(), Some(3));
        w1.finish().await.unwrap();

        assert_eq!(
            scan(&t1, &ScanFrom::Latest, None).await,
            lines(&[
                "null|1|10|1.5|s1|w1",
                "null|2|20|2.5|s2|w2",
                "null|3|30|3.5|s3|w3",
                "null|4|40|4.5|s4|w4",
                "55|5|5000000000|5.5|s5|long-string-5",
            ])
        );
        let s = |v: &str| Datum::String(v.into());
        check_filter(&t1, Predicate::eq("old", s("s2")), 1, &["2"]).await;
        check_filter(&t1, Predicate::eq("old", s("o4")), 1, &[]).await;
        check_filter(&t1, Predicate::cmp("old", CmpOp::GtEq, s("s4")), 1, &["4", "5"]).await;
        check_filter(&t1, Predicate::cmp("a", CmpOp::Gt, Datum::I64(100)), 1, &["5"]).await;
        check_filter(&t1, Predicate::cmp("a", CmpOp::LtEq, Datum::I64(20)), 1, &["1", "2"]).await;
        check_filter(&t1, Predicate::cmp("f", CmpOp::Lt, Datum::F64(2.0)), 1, &["1"]).await;
        check_filter(&t1, Predicate::IsNull("c1".into()), 1, &["1", "2", "3", "4"]).await;
        check_filter(&t1, Predicate::eq("c1", Datum::I32(55)), 1, &["5"]).await;
        check_filter(&t1, Predicate::eq("w", s("long-string-5")), 1, &["5"]).await;
        check_filter(&t1, Predicate::eq("k", Datum::I64(3)), 1, &["3"]).await;

        let old = t1.travel_to(&ScanFrom::Snapshot(1)).await.unwrap();
        assert_eq!(old.schema().id, 0);
        assert_eq!(
            scan(&old, &ScanFrom::Snapshot(1), None).await,
            lines(&["1|10|1.5|s1|w1|o1", "2|20|2.5|s2|w2|o2", "3|30|3.5|s3|w3|o3"])
        );
        let second = t1.travel_to(&ScanFrom::Snapshot(2)).await.unwrap();
        assert_eq!(second.schema().id, 1);
        assert_eq!(
            scan(&second, &ScanFrom::Snapshot(2), None).await,
            lines(&["null|1|10|1.5|s1|w1", "null|2|20|2.5|s2|w2", "null|3|30|3.5|s3|w3", "null|4|40|4.5|s4|w4"])
        );
    });
}

/// With `log.system = 'embedded'`, records written under schema 0 and under schema 1 read from the log in
/// schema 1: the added column null in the old ones, the renamed and widened ones with their values.
#[test]
fn embedded_log_reads_records_across_the_change() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path().to_str().unwrap(), true).unwrap();
        let options =
            [("bucket", "1"), ("write-only", "true"), ("log.system", "embedded"), ("log.compression", "none")];
        let spec = TableSpec::new("id BIGINT NOT NULL, v INT, s STRING", &["id"], &[], &options);
        let ident = Identifier::parse("db.logged").unwrap();
        let t = catalog.create_table(&ident, &spec, false).await.unwrap();
        let mut w = t.writer().await.unwrap();
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(vec![1i64, 2])) as ArrayRef),
            ("v", Arc::new(Int32Array::from(vec![10, 20])) as ArrayRef),
            ("s", strings(&[Some("a"), Some("b")])),
        ])
        .unwrap();
        w.write(&batch).await.unwrap();
        w.commit().await.unwrap();
        w.finish().await.unwrap();
        drop(w);

        t.alter_columns(&[
            SchemaChange::add_column("extra", ty("STRING")),
            SchemaChange::RenameColumn { from: "s".into(), to: "label".into() },
            SchemaChange::UpdateColumnType { name: "v".into(), data_type: ty("BIGINT") },
        ])
        .await
        .unwrap();
        let t1 = catalog.get_table(&ident).await.unwrap();
        let mut w1 = t1.writer().await.unwrap();
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(vec![2i64, 3])) as ArrayRef),
            ("v", Arc::new(Int64Array::from(vec![7_000_000_000i64, 30])) as ArrayRef),
            ("label", strings(&[Some("b2"), Some("c")])),
            ("extra", strings(&[Some("x2"), None])),
        ])
        .unwrap();
        w1.write(&batch).await.unwrap();
        w1.commit().await.unwrap();
        w1.finish().await.unwrap();
        drop(w1);

        let mut reader = ChangeReader::open(&t1, StartFrom::FromSnapshot(1)).await.unwrap();
        let names: Vec<String> = reader.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["rowkind", "id", "v", "label", "extra"]);
        let mut batches = Vec::new();
        while let Some(b) = reader.try_next().await.unwrap() {
            batches.push(b.batch);
        }
        assert_eq!(
            render(&batches),
            lines(&["+I|1|10|a|null", "+I|2|20|b|null", "+I|2|7000000000|b2|x2", "+I|3|30|c|null"])
        );
        assert_eq!(
            scan(&t1, &ScanFrom::Latest, None).await,
            lines(&["1|10|a|null", "2|7000000000|b2|x2", "3|30|c|null"])
        );
    });
}

/// Every refused change fails with a message naming the column and the reason, and publishes nothing: not
/// even the valid changes given with it.
#[test]
fn refused_changes_name_the_column_and_reason() {
    rt().block_on(async {
        let t = create(
            "dt STRING NOT NULL, id BIGINT NOT NULL, seq INT, b BIGINT, d DOUBLE, v VARCHAR(10), x STRING",
            &["dt", "id"],
            &["dt"],
            &[("sequence.field", "seq")],
        )
        .await;
        let add = |name: &str, sql: &str, position: ColumnPosition| SchemaChange::AddColumn {
            name: name.into(),
            data_type: ty(sql),
            comment: None,
            position,
        };
        let retype = |name: &str, sql: &str| SchemaChange::UpdateColumnType { name: name.into(), data_type: ty(sql) };
        let rename = |from: &str, to: &str| SchemaChange::RenameColumn { from: from.into(), to: to.into() };
        let cases: Vec<(Vec<SchemaChange>, &str)> = vec![
            (vec![add("x", "INT", ColumnPosition::Last)], "cannot add column `x`: it already exists"),
            (vec![add("y", "INT NOT NULL", ColumnPosition::Last)], "column `y` cannot specify NOT NULL"),
            (vec![add("y", "INT", ColumnPosition::After("nope".into()))], "column `nope` does not exist"),
            (vec![SchemaChange::DropColumn("id".into())], "cannot drop column `id`: it is a primary key column"),
            (vec![SchemaChange::DropColumn("nope".into())], "column `nope` does not exist"),
            (vec![rename("id", "id2")], "cannot rename column `id`: it is a primary key column"),
            (vec![rename("x", "v")], "cannot rename column `x` to `v`: column `v` already exists"),
            (
                vec![retype("b", "INT")],
                "cannot change the type of column `b` from BIGINT to INT: only lossless widening",
            ),
            (vec![retype("d", "FLOAT")], "column `d` from DOUBLE to FLOAT"),
            (vec![retype("v", "VARCHAR(5)")], "column `v` from VARCHAR(10) to VARCHAR(5)"),
            (vec![retype("x", "INT")], "column `x` from STRING to INT"),
            (vec![retype("b", "DOUBLE")], "column `b` from BIGINT to DOUBLE"),
            (
                vec![retype("id", "DECIMAL(38, 0)")],
                "type of column `id` from BIGINT NOT NULL to DECIMAL(38, 0) NOT NULL: it is a primary key column",
            ),
            (
                vec![retype("dt", "VARCHAR(10)")],
                "column `dt` from STRING NOT NULL to VARCHAR(10) NOT NULL: it is a primary key column",
            ),
            (
                vec![SchemaChange::UpdateColumnNullability { name: "x".into(), nullable: false }],
                "cannot make column `x` NOT NULL",
            ),
            (
                vec![SchemaChange::UpdateColumnNullability { name: "id".into(), nullable: true }],
                "cannot make column `id` nullable: it is a primary key column",
            ),
            (vec![SchemaChange::DropColumn("seq".into())], "`sequence.field`"),
            (vec![rename("seq", "seq2")], "`sequence.field`"),
            (
                vec![add("y", "INT", ColumnPosition::Last), SchemaChange::DropColumn("id".into())],
                "cannot drop column `id`",
            ),
            (vec![], "no schema change given"),
            (vec![add(" ", "INT", ColumnPosition::Last)], "cannot add a column with an empty name"),
            (vec![rename("x", "")], "cannot rename column `x` to an empty name"),
            (vec![add("_KEY_id", "INT", ColumnPosition::Last)], "column name `_KEY_id` is reserved"),
        ];
        for (changes, message) in cases {
            let e = t.alter_columns(&changes).await.unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Invalid, "{e}");
            assert!(e.to_string().contains(message), "{changes:?}: `{e}` should contain `{message}`");
        }
        assert_eq!(SchemaManager::new(t.io().clone()).list_ids().await.unwrap(), vec![0], "nothing was published");

        // A partition column of a table whose primary key does not hold it, and the last column.
        let p = create("p INT, v STRING", &[], &["p"], &[]).await;
        let e = p.alter_columns(&[SchemaChange::DropColumn("p".into())]).await.unwrap_err();
        assert!(e.to_string().contains("cannot drop column `p`: it is a partition column"), "{e}");
        let e = p.alter_columns(&[rename("p", "q")]).await.unwrap_err();
        assert!(e.to_string().contains("cannot rename column `p`: it is a partition column"), "{e}");
        let e = p.alter_columns(&[retype("p", "BIGINT")]).await.unwrap_err();
        assert!(e.to_string().contains("type of column `p` from INT to BIGINT: it is a partition column"), "{e}");
        let e = p
            .alter_columns(&[SchemaChange::DropColumn("v".into()), add("v2", "INT", ColumnPosition::First)])
            .await
            .map(|s| s.fields.len());
        assert_eq!(e.unwrap(), 2, "dropping and adding in one change keeps a column");
        let one = create("only INT", &[], &[], &[]).await;
        let e = one.alter_columns(&[SchemaChange::DropColumn("only".into())]).await.unwrap_err();
        assert!(e.to_string().contains("cannot drop column `only`: it is the last column"), "{e}");
    });
}

/// The widenings accepted, and a few refused.
#[test]
fn widening_rules() {
    let k = |sql: &str| ty(sql).kind;
    for (from, to) in [
        ("TINYINT", "SMALLINT"),
        ("SMALLINT", "INT"),
        ("INT", "BIGINT"),
        ("TINYINT", "BIGINT"),
        ("INT", "DOUBLE"),
        ("SMALLINT", "FLOAT"),
        ("FLOAT", "DOUBLE"),
        ("INT", "DECIMAL(10, 0)"),
        ("BIGINT", "DECIMAL(21, 2)"),
        ("DECIMAL(10, 2)", "DECIMAL(12, 2)"),
        ("DECIMAL(10, 2)", "DECIMAL(12, 4)"),
        ("VARCHAR(5)", "VARCHAR(20)"),
        ("VARCHAR(5)", "STRING"),
        ("CHAR(3)", "VARCHAR(3)"),
        ("CHAR(3)", "STRING"),
        ("BINARY(4)", "BYTES"),
        ("TIMESTAMP(3)", "TIMESTAMP(6)"),
    ] {
        assert!(widening_allowed(&k(from), &k(to)), "{from} -> {to}");
    }
    for (from, to) in [
        ("BIGINT", "INT"),
        ("BIGINT", "DOUBLE"),
        ("INT", "FLOAT"),
        ("DOUBLE", "FLOAT"),
        ("INT", "DECIMAL(9, 0)"),
        ("DECIMAL(10, 2)", "DECIMAL(11, 4)"),
        ("DECIMAL(10, 2)", "DECIMAL(12, 1)"),
        ("STRING", "VARCHAR(10)"),
        ("VARCHAR(5)", "CHAR(5)"),
        ("INT", "STRING"),
        ("TIMESTAMP(6)", "TIMESTAMP(3)"),
        ("TIMESTAMP(3)", "TIMESTAMP(3) WITH LOCAL TIME ZONE"),
    ] {
        assert!(!widening_allowed(&k(from), &k(to)), "{from} -> {to}");
    }
    assert!(matches!(k("ARRAY<INT>"), TypeKind::Array(_)));
    assert!(!widening_allowed(&k("ARRAY<INT>"), &k("ARRAY<BIGINT>")));
}

/// An added ROW column takes `highest_field_id + 1` and its nested fields the ids after it (Java's
/// `ReassignFieldId`); a later addition continues after them.
#[test]
fn added_nested_fields_get_fresh_ids() {
    let (fields, highest) = crate::types::parse_sql_fields("k BIGINT, r ROW<a INT, b STRING>").unwrap();
    let schema = crate::schema::TableSchema::new(fields, highest, vec![], vec![], Default::default(), None).unwrap();
    assert_eq!(schema.highest_field_id, 3);
    let next = schema
        .apply_changes(&[
            SchemaChange::add_column("r2", ty("ROW<x INT, y ARRAY<ROW<z INT>>>")),
            SchemaChange::add_column("after", ty("INT")),
        ])
        .unwrap();
    let r2 = next.field("r2").unwrap();
    assert_eq!(r2.id, 4);
    let TypeKind::Row(nested) = &r2.data_type.kind else { panic!("{r2:?}") };
    assert_eq!(nested.iter().map(|f| f.id).collect::<Vec<_>>(), [5, 6]);
    let TypeKind::Array(element) = &nested[1].data_type.kind else { panic!("{nested:?}") };
    let TypeKind::Row(inner) = &element.kind else { panic!("{element:?}") };
    assert_eq!(inner[0].id, 7);
    assert_eq!((next.field("after").unwrap().id, next.highest_field_id), (8, 8));
    assert_eq!(next.id, schema.id + 1);
}
