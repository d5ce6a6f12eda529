//! SQL over dyntable tables through DataFusion: merge-on-read results, filter and projection pushdown,
//! partition pruning shown by EXPLAIN, aggregates, time travel, errors.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::physical_plan::displayable;
use datafusion::prelude::{SessionConfig, SessionContext};
use dyntable_query::{register_table, register_table_at, sql_to_batches, DyntableTableProvider};
use dyntable_storage::types::parse_sql_fields;
use dyntable_storage::{FileIO, FileStoreTable, ScanFrom, TableSchema};
use object_store::memory::InMemory;
use object_store::path::Path;

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

const DAYS: [&str; 3] = ["2024-01-01", "2024-01-02", "2024-01-03"];

/// Which model rows a filter keeps.
type Keep = Box<dyn Fn(&(String, i64), &(Option<String>, i64)) -> bool>;

/// The rows a primary-key table should hold: (dt, id) -> (name, amount).
type Model = BTreeMap<(String, i64), (Option<String>, i64)>;

fn memory_io() -> FileIO {
    FileIO::new(Arc::new(InMemory::new()), Path::from("db.db/t"))
}

fn schema(sql: &str, partition: &[&str], pk: &[&str], options: &[(&str, &str)]) -> TableSchema {
    let (fields, highest) = parse_sql_fields(sql).unwrap();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let options = options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    TableSchema::new(fields, highest, s(partition), s(pk), options, None).unwrap()
}

/// One change to the primary-key table: (row kind, dt, id, name, amount).
type Change = (&'static str, &'static str, i64, Option<&'static str>, i64);

async fn write_changes(
    table: &FileStoreTable,
    model: &mut Model,
    changes: &[Change],
) -> std::result::Result<i64, Box<dyn std::error::Error>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("dt", DataType::Utf8, false),
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Int64, false),
        Field::new("_op", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(changes.iter().map(|c| c.1).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(changes.iter().map(|c| c.2).collect::<Vec<_>>())),
            Arc::new(StringArray::from(changes.iter().map(|c| c.3).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(changes.iter().map(|c| c.4).collect::<Vec<_>>())),
            Arc::new(StringArray::from(changes.iter().map(|c| c.0).collect::<Vec<_>>())),
        ],
    )?;
    let mut writer = table.writer().await?.with_row_kind_column(Some("_op".into()));
    writer.write(&batch).await?;
    let snapshot = writer.commit().await?.expect("a commit");
    for (op, dt, id, name, amount) in changes {
        let key = (dt.to_string(), *id);
        match *op {
            "+I" | "+U" => {
                model.insert(key, (name.map(str::to_string), *amount));
            }
            _ => {
                model.remove(&key);
            }
        }
    }
    Ok(snapshot)
}

/// A primary-key table partitioned by `dt`, two buckets, three commits with upserts and deletes.
/// Returns the table and the model after each commit (index 0 = snapshot 1).
async fn orders() -> std::result::Result<(FileStoreTable, Vec<Model>), Box<dyn std::error::Error>> {
    let s = schema(
        "dt STRING NOT NULL, id BIGINT NOT NULL, name STRING, amount BIGINT NOT NULL",
        &["dt"],
        &["dt", "id"],
        &[("bucket", "2")],
    );
    let table = FileStoreTable::create(memory_io(), "db.t", s).await?;
    let mut model = Model::new();
    let mut models = Vec::new();
    let mut first: Vec<Change> = Vec::new();
    for dt in DAYS {
        for id in 1..=6 {
            first.push(("+I", dt, id, Some(["a", "b", "c"][id as usize % 3]), id * 10));
        }
    }
    assert_eq!(write_changes(&table, &mut model, &first).await?, 1);
    models.push(model.clone());
    let second: Vec<Change> = vec![
        ("+U", "2024-01-01", 2, Some("b2"), 200),
        ("-D", "2024-01-02", 3, None, 0),
        ("+I", "2024-01-03", 7, None, 70),
        ("+U", "2024-01-03", 1, Some("a2"), 110),
    ];
    assert_eq!(write_changes(&table, &mut model, &second).await?, 2);
    models.push(model.clone());
    let third: Vec<Change> = vec![
        ("+U", "2024-01-01", 1, None, 1000),
        ("-D", "2024-01-01", 4, None, 0),
        ("+U", "2024-01-01", 2, Some("b3"), 20),
    ];
    assert_eq!(write_changes(&table, &mut model, &third).await?, 3);
    models.push(model);
    Ok((table, models))
}

/// Each row of `batches` as its cells joined by `|` (NULL for nulls).
fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let fmts: Vec<_> = b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap()).collect();
        for r in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(r).to_string()).collect::<Vec<_>>().join("|"));
        }
    }
    out
}

fn model_rows(model: &Model, keep: impl Fn(&(String, i64), &(Option<String>, i64)) -> bool) -> Vec<String> {
    model
        .iter()
        .filter(|(k, v)| keep(k, v))
        .map(|((dt, id), (name, amount))| format!("{dt}|{id}|{}|{amount}", name.as_deref().unwrap_or("NULL")))
        .collect()
}

/// The physical plan of `sql` as text.
async fn physical_plan(ctx: &SessionContext, sql: &str) -> std::result::Result<String, Box<dyn std::error::Error>> {
    let plan = ctx.sql(sql).await?.create_physical_plan().await?;
    let text = displayable(plan.as_ref()).indent(true).to_string();
    Ok(text)
}

/// The `DyntableScan` line of a plan.
fn scan_line(plan: &str) -> String {
    plan.lines()
        .find(|l| l.contains("DyntableScan:"))
        .unwrap_or_else(|| panic!("no DyntableScan in\n{plan}"))
        .trim()
        .to_string()
}

/// A `key=N` number in a scan line.
fn stat(line: &str, key: &str) -> usize {
    let at = line.find(&format!("{key}=")).unwrap_or_else(|| panic!("no {key} in {line}"));
    line[at + key.len() + 1..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
}

/// SELECT * over a primary-key table returns the merged rows: upserts replace, deletes remove.
#[tokio::test]
async fn select_merges_upserts_and_deletes() -> TestResult {
    let (table, models) = orders().await?;
    let ctx = SessionContext::new();
    register_table(&ctx, "t", table)?;
    let got = rows(&sql_to_batches(&ctx, "SELECT dt, id, name, amount FROM t ORDER BY dt, id").await?);
    assert_eq!(got, model_rows(&models[2], |_, _| true));
    // Reading with several partitions (splits spread over them) gives the same rows.
    for target in [1, 2, 8] {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(target));
        register_table(&ctx, "t", orders().await?.0)?;
        let got = rows(&sql_to_batches(&ctx, "SELECT * FROM t ORDER BY dt, id").await?);
        assert_eq!(got, model_rows(&models[2], |_, _| true), "target_partitions={target}");
        let line = scan_line(&physical_plan(&ctx, "SELECT * FROM t").await?);
        // 3 partitions x 2 buckets = 6 splits.
        assert_eq!(stat(&line, "splits"), 6, "{line}");
        assert_eq!(stat(&line, "partitions"), target.min(6), "{line}");
    }
    Ok(())
}

/// A filter on the partition column prunes the other partitions' files (EXPLAIN shows it) and
/// returns exactly that partition's rows.
#[tokio::test]
async fn partition_filter_prunes() -> TestResult {
    let (table, models) = orders().await?;
    let ctx = SessionContext::new();
    register_table(&ctx, "t", table)?;

    let all = scan_line(&physical_plan(&ctx, "SELECT * FROM t").await?);
    assert_eq!(stat(&all, "pruned_files"), 0, "{all}");
    let files_total = stat(&all, "files");

    let sql = "SELECT dt, id, name, amount FROM t WHERE dt = '2024-01-02' ORDER BY id";
    let line = scan_line(&physical_plan(&ctx, sql).await?);
    assert!(line.contains("filter=[dt = '2024-01-02']"), "{line}");
    assert!(line.contains("table=db.t") && line.contains("snapshot=3"), "{line}");
    assert!(stat(&line, "pruned_files") > 0, "{line}");
    // Files of pruned manifests are not counted by the storage plan, so the sum may fall short.
    assert!(stat(&line, "files") + stat(&line, "pruned_files") <= files_total, "{line}");
    assert!(stat(&line, "files") < files_total, "{line}");
    assert_eq!(stat(&line, "splits"), 2, "{line}");
    assert_eq!(rows(&sql_to_batches(&ctx, sql).await?), model_rows(&models[2], |k, _| k.0 == "2024-01-02"));

    // The same through SQL EXPLAIN, as a user sees it.
    let explain = arrow::util::pretty::pretty_format_batches(&sql_to_batches(&ctx, &format!("EXPLAIN {sql}")).await?)?
        .to_string();
    assert!(explain.contains("DyntableScan: table=db.t") && explain.contains("pruned_files="), "{explain}");

    // IN lists, BETWEEN and OR on the partition column prune too.
    for (sql, days) in [
        (
            "SELECT dt, id, name, amount FROM t WHERE dt IN ('2024-01-01', '2024-01-03') ORDER BY dt, id",
            vec!["2024-01-01", "2024-01-03"],
        ),
        (
            "SELECT dt, id, name, amount FROM t WHERE dt BETWEEN '2024-01-02' AND '2024-01-09' ORDER BY dt, id",
            vec!["2024-01-02", "2024-01-03"],
        ),
        (
            "SELECT dt, id, name, amount FROM t WHERE dt = '2024-01-01' OR dt > '2024-01-02' ORDER BY dt, id",
            vec!["2024-01-01", "2024-01-03"],
        ),
        ("SELECT dt, id, name, amount FROM t WHERE '2024-01-02' > dt ORDER BY dt, id", vec!["2024-01-01"]),
    ] {
        let line = scan_line(&physical_plan(&ctx, sql).await?);
        assert!(stat(&line, "pruned_files") > 0, "{sql}: {line}");
        assert_eq!(
            rows(&sql_to_batches(&ctx, sql).await?),
            model_rows(&models[2], |k, _| days.contains(&k.0.as_str())),
            "{sql}"
        );
    }
    Ok(())
}

/// Value filters on a primary-key table apply to the merged (latest) row: an older version that
/// matched does not come back. Exact and inexact pushdown agree.
#[tokio::test]
async fn value_filters_after_merge() -> TestResult {
    let (table, models) = orders().await?;
    let model = &models[2];
    let inexact = SessionContext::new();
    register_table(&inexact, "t", table.clone())?;
    let exact = SessionContext::new();
    exact.register_table("t", Arc::new(DyntableTableProvider::new(table).with_exact_filters(true)))?;

    let cases: Vec<(&str, Keep)> = vec![
        // (2024-01-01, 2) was 20, then 200, then 20 again; (2024-01-02, 2) is 20 throughout.
        ("amount = 20", Box::new(|_, v| v.1 == 20)),
        // (2024-01-01, 1) had name 'b' in snapshot 1 and NULL now.
        ("name = 'b'", Box::new(|_, v| v.0.as_deref() == Some("b"))),
        ("name IS NULL", Box::new(|_, v| v.0.is_none())),
        ("name IS NOT NULL AND amount >= 50", Box::new(|_, v| v.0.is_some() && v.1 >= 50)),
        ("id IN (1, 4, 7) AND dt <> '2024-01-02'", Box::new(|k, _| [1, 4, 7].contains(&k.1) && k.0 != "2024-01-02")),
        ("id NOT IN (1, 2)", Box::new(|k, _| ![1, 2].contains(&k.1))),
        ("amount NOT BETWEEN 20 AND 100", Box::new(|_, v| !(20..=100).contains(&v.1))),
        ("amount > 100 OR name = 'c'", Box::new(|_, v| v.1 > 100 || v.0.as_deref() == Some("c"))),
        // Not translatable: evaluated by DataFusion alone.
        ("name LIKE 'b%'", Box::new(|_, v| v.0.as_deref().is_some_and(|n| n.starts_with('b')))),
        ("amount + id > 60", Box::new(|k, v| v.1 + k.1 > 60)),
    ];
    for (filter, keep) in cases {
        let sql = format!("SELECT dt, id, name, amount FROM t WHERE {filter} ORDER BY dt, id");
        let want = model_rows(model, |k, v| keep(k, v));
        assert_eq!(rows(&sql_to_batches(&inexact, &sql).await?), want, "inexact: {filter}");
        assert_eq!(rows(&sql_to_batches(&exact, &sql).await?), want, "exact: {filter}");
    }

    // Translated filters are shown in the scan; inexact keeps DataFusion's FilterExec, exact drops it.
    let sql = "SELECT id FROM t WHERE amount = 20";
    let plan = physical_plan(&inexact, sql).await?;
    assert!(scan_line(&plan).contains("filter=[amount = 20]") && plan.contains("FilterExec"), "{plan}");
    let plan = physical_plan(&exact, sql).await?;
    assert!(scan_line(&plan).contains("filter=[amount = 20]") && !plan.contains("FilterExec"), "{plan}");
    // An untranslatable filter is not pushed.
    let plan = physical_plan(&exact, "SELECT id FROM t WHERE name LIKE 'b%'").await?;
    assert!(scan_line(&plan).contains("filter=[]") && plan.contains("FilterExec"), "{plan}");
    Ok(())
}

/// Only the selected columns are read and returned.
#[tokio::test]
async fn projection_is_pushed() -> TestResult {
    let (table, models) = orders().await?;
    let ctx = SessionContext::new();
    register_table(&ctx, "t", table)?;
    let plan = physical_plan(&ctx, "SELECT name FROM t").await?;
    assert!(scan_line(&plan).contains("projection=[name]"), "{plan}");
    let batches = sql_to_batches(&ctx, "SELECT amount, id FROM t WHERE dt = '2024-01-03' ORDER BY id").await?;
    assert_eq!(batches[0].schema().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>(), ["amount", "id"]);
    let want: Vec<String> =
        models[2].iter().filter(|(k, _)| k.0 == "2024-01-03").map(|(k, v)| format!("{}|{}", v.1, k.1)).collect();
    assert_eq!(rows(&batches), want);
    Ok(())
}

/// count(*), sum() and GROUP BY over the merged rows.
#[tokio::test]
async fn aggregates() -> TestResult {
    let (table, models) = orders().await?;
    let model = &models[2];
    let ctx = SessionContext::new();
    register_table(&ctx, "t", table)?;
    let got = rows(&sql_to_batches(&ctx, "SELECT count(*), sum(amount) FROM t").await?);
    assert_eq!(got, [format!("{}|{}", model.len(), model.values().map(|v| v.1).sum::<i64>())]);
    let got = rows(&sql_to_batches(&ctx, "SELECT dt, count(*), sum(amount) FROM t GROUP BY dt ORDER BY dt").await?);
    let want: Vec<String> = DAYS
        .iter()
        .map(|d| {
            let part: Vec<_> = model.iter().filter(|(k, _)| k.0 == *d).collect();
            format!("{d}|{}|{}", part.len(), part.iter().map(|(_, v)| v.1).sum::<i64>())
        })
        .collect();
    assert_eq!(got, want);
    let got = rows(&sql_to_batches(&ctx, "SELECT count(*) FROM t WHERE dt = '2024-01-01'").await?);
    assert_eq!(got, [model.keys().filter(|k| k.0 == "2024-01-01").count().to_string()]);
    Ok(())
}

/// Older snapshots and tags are readable; the latest provider sees new commits without re-registering.
#[tokio::test]
async fn time_travel() -> TestResult {
    let (table, models) = orders().await?;
    table.create_tag("first", Some(1)).await?;
    let ctx = SessionContext::new();
    register_table(&ctx, "latest", table.clone())?;
    register_table_at(&ctx, "s1", table.clone(), ScanFrom::Snapshot(1))?;
    ctx.register_table("s2", Arc::new(DyntableTableProvider::new(table.clone()).at_snapshot(2)))?;
    ctx.register_table("tagged", Arc::new(DyntableTableProvider::new(table.clone()).at_tag("first")))?;
    ctx.register_table("by_time", Arc::new(DyntableTableProvider::new(table.clone()).at_timestamp(i64::MAX)))?;
    let q = |t: &str| format!("SELECT dt, id, name, amount FROM {t} ORDER BY dt, id");
    assert_eq!(rows(&sql_to_batches(&ctx, &q("s1")).await?), model_rows(&models[0], |_, _| true));
    assert_eq!(rows(&sql_to_batches(&ctx, &q("s2")).await?), model_rows(&models[1], |_, _| true));
    assert_eq!(rows(&sql_to_batches(&ctx, &q("tagged")).await?), model_rows(&models[0], |_, _| true));
    assert_eq!(rows(&sql_to_batches(&ctx, &q("by_time")).await?), model_rows(&models[2], |_, _| true));
    assert!(scan_line(&physical_plan(&ctx, "SELECT * FROM s1").await?).contains("snapshot=1"));

    let mut model = models[2].clone();
    let snapshot = write_changes(&table, &mut model, &[("-D", "2024-01-03", 7, None, 0)]).await?;
    assert_eq!(snapshot, 4);
    assert_eq!(rows(&sql_to_batches(&ctx, &q("latest")).await?), model_rows(&model, |_, _| true));
    assert_eq!(rows(&sql_to_batches(&ctx, &q("s1")).await?), model_rows(&models[0], |_, _| true));
    Ok(())
}

/// An append-only table (no primary key) on the local file system: file statistics prune value filters.
#[tokio::test]
async fn append_table() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path())?);
    let io = FileIO::new(store, Path::from("db.db/events"));
    let table = FileStoreTable::create(io, "db.events", schema("k INT, x BIGINT, s STRING", &[], &[], &[])).await?;
    let batch_schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int32, true),
        Field::new("x", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let mut all: Vec<(i32, i64, Option<String>)> = Vec::new();
    // Four commits, each one file with x in [c*100, c*100+9].
    for c in 0..4i64 {
        let ks: Vec<i32> = (0..10).map(|i| i % 3).collect();
        let xs: Vec<i64> = (0..10).map(|i| c * 100 + i).collect();
        let ss: Vec<Option<String>> = (0..10).map(|i| (i % 4 != 0).then(|| format!("s{c}-{i}"))).collect();
        for i in 0..10 {
            all.push((ks[i], xs[i], ss[i].clone()));
        }
        let batch = RecordBatch::try_new(
            batch_schema.clone(),
            vec![Arc::new(Int32Array::from(ks)), Arc::new(Int64Array::from(xs)), Arc::new(StringArray::from(ss))],
        )?;
        let mut w = table.writer().await?;
        w.write(&batch).await?;
        w.commit().await?;
    }
    let ctx = SessionContext::new();
    register_table(&ctx, "events", table)?;

    let got = rows(&sql_to_batches(&ctx, "SELECT count(*), sum(x), count(s) FROM events").await?);
    assert_eq!(
        got,
        [format!(
            "{}|{}|{}",
            all.len(),
            all.iter().map(|r| r.1).sum::<i64>(),
            all.iter().filter(|r| r.2.is_some()).count()
        )]
    );

    let sql = "SELECT k, x, s FROM events WHERE x >= 200 AND x < 205 ORDER BY x";
    let line = scan_line(&physical_plan(&ctx, sql).await?);
    assert_eq!((stat(&line, "files"), stat(&line, "pruned_files")), (1, 3), "{line}");
    let want: Vec<String> = all
        .iter()
        .filter(|r| (200..205).contains(&r.1))
        .map(|r| format!("{}|{}|{}", r.0, r.1, r.2.as_deref().unwrap_or("NULL")))
        .collect();
    assert_eq!(rows(&sql_to_batches(&ctx, sql).await?), want);

    let got = rows(
        &sql_to_batches(&ctx, "SELECT k, count(*), sum(x) FROM events WHERE s IS NULL GROUP BY k ORDER BY k").await?,
    );
    let mut want: BTreeMap<i32, (usize, i64)> = BTreeMap::new();
    for r in all.iter().filter(|r| r.2.is_none()) {
        let e = want.entry(r.0).or_default();
        e.0 += 1;
        e.1 += r.1;
    }
    assert_eq!(got, want.iter().map(|(k, (n, s))| format!("{k}|{n}|{s}")).collect::<Vec<_>>());

    // LIMIT stops early and still returns the requested number of rows.
    let got = sql_to_batches(&ctx, "SELECT x FROM events LIMIT 3").await?;
    assert_eq!(got.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
    let xs: BTreeSet<i64> =
        got.iter().flat_map(|b| b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec()).collect();
    assert!(xs.iter().all(|x| all.iter().any(|r| r.1 == *x)));
    Ok(())
}

/// A table without snapshots is an empty table.
#[tokio::test]
async fn empty_table() -> TestResult {
    let table = FileStoreTable::create(
        memory_io(),
        "db.t",
        schema("id BIGINT NOT NULL, v STRING", &[], &["id"], &[("bucket", "1")]),
    )
    .await?;
    let ctx = SessionContext::new();
    register_table(&ctx, "t", table)?;
    assert_eq!(rows(&sql_to_batches(&ctx, "SELECT count(*) FROM t").await?), ["0"]);
    assert!(rows(&sql_to_batches(&ctx, "SELECT * FROM t WHERE id = 1").await?).is_empty());
    assert!(scan_line(&physical_plan(&ctx, "SELECT * FROM t").await?).contains("snapshot=none"));
    Ok(())
}

/// Bad queries are DataFusion errors, not panics.
#[tokio::test]
async fn errors_are_datafusion_errors() -> TestResult {
    let (table, _) = orders().await?;
    let ctx = SessionContext::new();
    register_table(&ctx, "t", table.clone())?;
    let e = sql_to_batches(&ctx, "SELECT nope FROM t").await.unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    let e = sql_to_batches(&ctx, "SELECT * FROM t WHERE nope = 1").await.unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    // A snapshot that does not exist fails when the query is planned.
    register_table_at(&ctx, "gone", table, ScanFrom::Snapshot(99))?;
    let e = sql_to_batches(&ctx, "SELECT * FROM gone").await.unwrap_err();
    assert!(matches!(e.find_root(), datafusion::error::DataFusionError::External(_)), "{e:?}");
    assert!(e.to_string().contains("snapshot 99"), "{e}");
    Ok(())
}

/// Row-group and page-index pruning, on a primary-key table whose bucket is one sorted run: plain EXPLAIN
/// says how many files the filter may prune inside; EXPLAIN ANALYZE reports the row groups and pages the
/// read skipped; the result is the same as without pruning.
#[tokio::test]
async fn explain_analyze_shows_row_group_and_page_pruning() -> TestResult {
    // 1000 keys in one file of 4 row groups (250 rows), each of pages of at most 20,000 rows (so one page
    // per column chunk): row-group statistics prune 3 of the 4 groups for a narrow key range.
    let table = FileStoreTable::create(
        memory_io(),
        "db.t",
        schema(
            "id BIGINT NOT NULL, v STRING",
            &[],
            &["id"],
            &[("bucket", "1"), ("dyntable.parquet.row-group-rows", "250")],
        ),
    )
    .await?;
    let batch_schema =
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("v", DataType::Utf8, true)]));
    let ids: Vec<i64> = (0..1000).collect();
    let vs: Vec<String> = ids.iter().map(|i| format!("v{i}")).collect();
    let batch =
        RecordBatch::try_new(batch_schema, vec![Arc::new(Int64Array::from(ids)), Arc::new(StringArray::from(vs))])?;
    let mut w = table.writer().await?;
    w.write(&batch).await?;
    w.commit().await?;
    let ctx = SessionContext::new();
    register_table(&ctx, "t", table)?;

    let sql = "SELECT id, v FROM t WHERE id >= 600 AND id < 610";
    let line = scan_line(&physical_plan(&ctx, sql).await?);
    assert_eq!(stat(&line, "parquet_prunable_files"), 1, "{line}");
    let analyzed = rows(&sql_to_batches(&ctx, &format!("EXPLAIN ANALYZE {sql}")).await?).join("\n");
    let scan =
        analyzed.lines().find(|l| l.contains("DyntableScan:")).unwrap_or_else(|| panic!("no scan in {analyzed}"));
    assert_eq!(stat(scan, "row_groups"), 4, "{scan}");
    assert_eq!(stat(scan, "row_groups_pruned"), 3, "{scan}");
    let got = rows(&sql_to_batches(&ctx, &format!("{sql} ORDER BY id")).await?);
    assert_eq!(got, (600..610).map(|i| format!("{i}|v{i}")).collect::<Vec<_>>());

    // Without a filter nothing is counted as prunable.
    let line = scan_line(&physical_plan(&ctx, "SELECT id FROM t").await?);
    assert!(!line.contains("parquet_prunable_files"), "{line}");
    Ok(())
}

/// Names are case-sensitive, as Paimon's filesystem catalog under Flink SQL: `CREATE TABLE T` lives in
/// `default.db/T`, `t` is another table, columns keep their case; the Rust API and the SQL name the same table.
#[tokio::test]
async fn names_keep_their_case() -> TestResult {
    let dir = tempfile::tempdir()?;
    let session = dyntable_query::DyntableSession::open(dir.path().to_str().unwrap()).await?;
    session.execute("CREATE TABLE T (ID INT NOT NULL, Name STRING, PRIMARY KEY (ID) NOT ENFORCED)").await?;
    session.execute("CREATE TABLE t (id INT)").await?;
    assert!(dir.path().join("default.db/T/schema/schema-0").exists());
    assert!(dir.path().join("default.db/t/schema/schema-0").exists());
    session.execute("INSERT INTO T VALUES (1, 'upper')").await?;
    session.execute("INSERT INTO t VALUES (2)").await?;
    let got = session.execute("SELECT ID, Name FROM T").await?;
    assert_eq!(rows(&got.batches), vec!["1|upper"]);
    let got = session.execute("SELECT id FROM t").await?;
    assert_eq!(rows(&got.batches), vec!["2"]);
    // `id` is not a column of `T` (its column is `ID`).
    let e = session.execute("SELECT id FROM T").await.unwrap_err().to_string();
    assert!(e.contains("id"), "{e}");
    // The Rust API names the same table.
    let table = session.catalog().get_table(&dyntable_storage::Identifier::parse("default.T")?).await?;
    assert_eq!(table.schema().fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["ID", "Name"]);
    Ok(())
}
