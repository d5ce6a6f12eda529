//! Incremental reads of tables other Paimon implementations wrote, checked against their own reading: Java
//! Paimon 0.9 tables with `changelog-producer` none, input and lookup (Java compacting as it writes), read by
//! dyntable's `incremental_between` (Rust API and SQL `t$audit_log`), `ChangeReader` and `dyntable tail`, and
//! by Java's `t$audit_log` with `incremental-between` / `incremental-between-scan-mode`; pypaimon 2.1 tables
//! (producer none and input) tailed by dyntable and streamed by pypaimon. Runs with `--features interop`;
//! missing oracles fail the tests, never skip them.
#![cfg(feature = "interop")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use common::{oracles_dir, rt, scripts};
use dyntable::convert::{batch_to_json_rows, canonical_json, JsonStyle};
use dyntable::{Catalog, Identifier};
use dyntable_storage::stream::{ChangeReader, StartFrom};
use dyntable_storage::{ChangeScanMode, CommitKind, FileStoreTable};
use futures::TryStreamExt;
use serde_json::{json, Value};

fn python(env: &str) -> Command {
    let mut c = Command::new(oracles_dir().join(env).join("bin/python"));
    c.env("ORACLES", oracles_dir());
    c
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("start oracle");
    assert!(
        out.status.success(),
        "oracle failed ({:?}): {}\n{}",
        cmd,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// One Java read of `db.table` with scan options.
struct JavaRead {
    db: String,
    table: String,
    options: Vec<(String, String)>,
}

/// Java's answers to `reads`, all in one JVM: the sorted lines of each, or its error message.
fn java_reads(wh: &Path, reads: &[JavaRead]) -> Vec<Result<Vec<String>, String>> {
    let requests: Vec<Value> = reads
        .iter()
        .map(|r| {
            let options: serde_json::Map<String, Value> =
                r.options.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            json!({"db": r.db, "table": r.table, "options": options})
        })
        .collect();
    let path = wh.join(format!("java-reads-{}.json", reads.len()));
    std::fs::write(&path, serde_json::to_vec(&requests).unwrap()).unwrap();
    let out = run(python("java").arg(scripts().join("java_reads.py")).arg(wh).arg(&path));
    let answers: Vec<Result<Vec<String>, String>> = out
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json answer");
            match v.get("lines") {
                Some(lines) => Ok(lines.as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect()),
                None => Err(v["error"].as_str().unwrap_or_default().to_string()),
            }
        })
        .collect();
    assert_eq!(answers.len(), reads.len(), "an answer per read: {out}");
    answers
}

/// Change batches (`rowkind` first) as the oracles print rows: canonical JSON, a `rowkind` field.
fn change_lines(batches: &[RecordBatch], table: &FileStoreTable) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let values = b.project(&(1..b.num_columns()).collect::<Vec<_>>()).unwrap();
        let kinds = b.column(0).as_string::<i32>();
        for (i, mut row) in
            batch_to_json_rows(&values, &table.schema().fields, JsonStyle::Oracle).unwrap().into_iter().enumerate()
        {
            row.insert("rowkind".into(), Value::String(kinds.value(i).to_string()));
            out.push(canonical_json(&Value::Object(row)));
        }
    }
    sorted(out)
}

async fn between(t: &FileStoreTable, start: i64, end: i64, mode: ChangeScanMode) -> Vec<String> {
    let (_, stream) = t.incremental_between(start, end, mode).await.unwrap();
    let batches: Vec<RecordBatch> = stream.try_collect().await.unwrap();
    change_lines(&batches, t)
}

/// Every change a reader from `from` delivers now (stops when nothing arrives for 500 ms).
async fn tail(t: &FileStoreTable, from: StartFrom) -> Vec<String> {
    let mut reader = ChangeReader::open(t, from).await.unwrap();
    let mut batches = Vec::new();
    while let Ok(next) = tokio::time::timeout(Duration::from_millis(500), reader.next()).await {
        batches.push(next.unwrap().batch);
    }
    change_lines(&batches, t)
}

fn assert_same(what: &str, ours: &[String], theirs: &[String]) {
    if ours != theirs {
        let only_ours: Vec<_> = ours.iter().filter(|l| !theirs.contains(l)).collect();
        let only_theirs: Vec<_> = theirs.iter().filter(|l| !ours.contains(l)).collect();
        panic!(
            "{what}: changes differ\nonly in dyntable: {only_ours:#?}\nonly in Java/oracle: {only_theirs:#?}\ndyntable: {ours:#?}\noracle: {theirs:#?}"
        );
    }
}

/// Commit `c` of the Java tables: 12 keys, each at most once per commit; inserts, then updates and deletes.
fn commit_rows(c: i64) -> Vec<Value> {
    (0..8)
        .map(|i| {
            let id = (i * 5 + c * 3) % 12;
            let op = match (c, i % 4) {
                (0, _) => "+I",
                (_, 0) => "-D",
                (_, 1) => "+I",
                _ => "+U",
            };
            json!({"id": id, "v": format!("c{c}-{i}"), "dt": format!("d{}", id % 2), "_op": op})
        })
        .collect()
}

const PRODUCERS: [&str; 3] = ["none", "input", "lookup"];

/// Java-written tables with each changelog producer: for every snapshot, dyntable's changes of that snapshot
/// (`incremental_between(s - 1, s)`, auto and explicit modes) equal Java's `t$audit_log` with
/// `incremental-between`; the delta of the whole range equals Java's (merged per key); a reader from
/// `snapshot:1`, `dyntable tail` and SQL deliver exactly the union of the snapshots' changes; invalid ranges fail
/// in both.
#[test]
fn java_tables_changes_match_java() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    let files: Vec<PathBuf> = (0..7)
        .map(|c| {
            let path = wh.join(format!("c{c}.jsonl"));
            std::fs::write(&path, commit_rows(c).iter().map(|r| r.to_string() + "\n").collect::<String>()).unwrap();
            path
        })
        .collect();
    for p in PRODUCERS {
        run(python("java").arg(scripts().join("java_paimon.py")).arg("create").arg(wh).arg(format!("db.t_{p}")).args(
            [
                "--schema",
                "id BIGINT NOT NULL, v STRING, dt STRING NOT NULL, _op STRING",
                "--primary-key",
                "id,dt",
                "--partition",
                "dt",
                "--option",
                "bucket=2",
                "--option",
                "rowkind.field=_op",
                "--option",
                &format!("changelog-producer={p}"),
                "--option",
                "num-sorted-run.compaction-trigger=2",
            ],
        ));
        run(python("java")
            .arg(scripts().join("java_paimon.py"))
            .arg("write")
            .arg(wh)
            .arg(format!("db.t_{p}"))
            .args(&files));
    }
    let catalog = Catalog::open(wh.to_str().unwrap(), false).unwrap();
    let tables: Vec<FileStoreTable> = rt().block_on(async {
        let mut out = Vec::new();
        for p in PRODUCERS {
            out.push(catalog.get_table(&Identifier::parse(&format!("db.t_{p}")).unwrap()).await.unwrap());
        }
        out
    });
    let snapshots: Vec<Vec<dyntable_storage::Snapshot>> = rt().block_on(async {
        futures::future::join_all(tables.iter().map(|t| async { t.snapshot_manager().all().await.unwrap() })).await
    });
    for (p, s) in PRODUCERS.iter().zip(&snapshots) {
        assert!(s.iter().any(|s| s.commit_kind == CommitKind::Compact), "Java compacted db.t_{p}");
    }
    assert!(snapshots[2].iter().any(|s| s.commit_kind == CommitKind::Compact && s.changelog_manifest_list.is_some()));

    // What Java reads: per snapshot (its own mode, and delta), the whole range as delta, and invalid ranges.
    let mut reads = Vec::new();
    let mut asked = Vec::new();
    for (p, s) in PRODUCERS.iter().zip(&snapshots) {
        let latest = s.last().unwrap().id;
        let mut ask = |start: i64, end: i64, mode: Option<ChangeScanMode>| {
            let mut options = vec![("incremental-between".to_string(), format!("{start},{end}"))];
            if let Some(m) = mode {
                options.push(("incremental-between-scan-mode".to_string(), m.to_string()));
            }
            reads.push(JavaRead { db: "db".into(), table: format!("t_{p}$audit_log"), options });
            asked.push((*p, start, end, mode));
        };
        for id in 1..=latest {
            ask(id - 1, id, None);
            ask(id - 1, id, Some(ChangeScanMode::Delta));
            if *p != "none" {
                ask(id - 1, id, Some(ChangeScanMode::Changelog));
            }
        }
        ask(0, latest, Some(ChangeScanMode::Delta));
        ask(latest, latest, None);
        ask(0, latest + 1, None);
        ask(latest, latest - 1, None);
    }
    let answers = java_reads(wh, &reads);

    rt().block_on(async {
        let mut per_snapshot_union: Vec<Vec<String>> = vec![Vec::new(); PRODUCERS.len()];
        for ((p, start, end, mode), answer) in asked.iter().zip(&answers) {
            let at = PRODUCERS.iter().position(|x| x == p).unwrap();
            let t = &tables[at];
            let what = format!("db.t_{p} incremental-between {start},{end} mode {mode:?}");
            let ours = t.incremental_between(*start, *end, mode.unwrap_or_default()).await;
            match (ours, answer) {
                (Ok((_, stream)), Ok(theirs)) => {
                    let batches: Vec<RecordBatch> = stream.try_collect().await.unwrap();
                    let ours = change_lines(&batches, t);
                    assert_same(&what, &ours, theirs);
                    if mode.is_none() && end - start == 1 {
                        per_snapshot_union[at].extend(ours);
                    }
                }
                (Err(e), Err(java)) => {
                    assert!(e.to_string().contains("incremental-between"), "{what}: {e} (Java: {java})");
                }
                (Ok(_), Err(java)) => panic!("{what}: Java fails ({java}), dyntable does not"),
                (Err(e), Ok(_)) => panic!("{what}: dyntable fails ({e}), Java does not"),
            }
        }

        // Streaming: a reader from snapshot 1 delivers every snapshot's changes, each once.
        for (at, p) in PRODUCERS.iter().enumerate() {
            let expect = sorted(per_snapshot_union[at].clone());
            assert!(!expect.is_empty());
            assert_same(&format!("tail db.t_{p} from snapshot:1"), &tail(&tables[at], StartFrom::FromSnapshot(1)).await, &expect);
        }

        // SQL: a lookup changelog with -U/+U pairs (a COMPACT snapshot's), through t$audit_log.
        let (at, compact) = asked
            .iter()
            .enumerate()
            .find_map(|(i, a)| {
                let with_pairs = answers[i].as_ref().is_ok_and(|l| l.iter().any(|l| l.contains(r#""rowkind":"-U""#)));
                (a.0 == "lookup" && a.3 == Some(ChangeScanMode::Changelog) && with_pairs).then_some((i, a.2))
            })
            .expect("Java's lookup changelog has -U/+U pairs");
        let theirs = answers[at].clone().unwrap();
        let session = dyntable_query::session::DyntableSession::open(wh.to_str().unwrap()).await.unwrap();
        let got = session
            .sql(&format!(
                "SELECT * FROM db.t_lookup$audit_log /*+ OPTIONS('incremental-between' = '{},{compact}', 'incremental-between-scan-mode' = 'changelog') */",
                compact - 1
            ))
            .await
            .unwrap();
        assert_same("SQL db.t_lookup$audit_log", &change_lines(&got, &tables[2]), &theirs);
    });

    // The CLI's tail of the input table prints the same changes.
    let out = Command::new(env!("CARGO_BIN_EXE_dyntable"))
        .arg("--warehouse")
        .arg(wh)
        .args(["tail", "db.t_input", "--from", "snapshot:1", "--idle-exit-ms", "500"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| canonical_json(&serde_json::from_str::<Value>(l).unwrap()))
        .collect();
    let expect = rt().block_on(tail(&tables[1], StartFrom::FromSnapshot(1)));
    assert_same("dyntable tail db.t_input", &sorted(printed), &expect);
}

/// pypaimon's stream read of `db.table` from snapshot `from`, as change lines (`_row_kind` as `rowkind`,
/// `_snapshot` dropped).
fn pypaimon_stream(wh: &Path, db: &str, table: &str, from: i64) -> Vec<String> {
    let out = run(python("py")
        .arg(scripts().join("read_pypaimon.py"))
        .arg(wh)
        .arg(db)
        .arg(table)
        .arg("--stream-from")
        .arg(from.to_string()));
    sorted(
        out.lines()
            .map(|l| {
                let mut v: serde_json::Map<String, Value> = serde_json::from_str(l).unwrap();
                v.remove("_snapshot");
                let kind = v.remove("_row_kind").expect("a _row_kind field");
                v.insert("rowkind".into(), kind);
                canonical_json(&Value::Object(v))
            })
            .collect(),
    )
}

/// pypaimon-written tables (producer none: delta files; input: changelog files) tailed by dyntable give what
/// pypaimon's own stream read gives, from the first and from a later snapshot; Java reads each snapshot's
/// changes of them as dyntable does.
#[test]
fn pypaimon_tables_changes_match_pypaimon_and_java() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    run(python("py").arg(scripts().join("write_pypaimon.py")).arg(wh));
    run(python("py").arg(scripts().join("write_pypaimon_changes.py")).arg(wh));
    let catalog = Catalog::open(wh.to_str().unwrap(), false).unwrap();
    let mut reads = Vec::new();
    let mut asked = Vec::new();
    for table in ["pk", "inp"] {
        let t = rt().block_on(catalog.get_table(&Identifier::parse(&format!("db_py.{table}")).unwrap())).unwrap();
        let latest = rt().block_on(t.snapshot_manager().latest_id()).unwrap().unwrap();
        assert!(latest >= 3);
        for from in [1, 2] {
            assert_same(
                &format!("db_py.{table} from snapshot {from}"),
                &rt().block_on(tail(&t, StartFrom::FromSnapshot(from))),
                &pypaimon_stream(wh, "db_py", table, from),
            );
        }
        for id in 1..=latest {
            reads.push(JavaRead {
                db: "db_py".into(),
                table: format!("{table}$audit_log"),
                options: vec![("incremental-between".into(), format!("{},{id}", id - 1))],
            });
            asked.push((t.clone(), id));
        }
    }
    for ((t, id), answer) in asked.iter().zip(java_reads(wh, &reads)) {
        let theirs = answer.unwrap_or_else(|e| panic!("Java reads the changes of snapshot {id} of {}: {e}", t.name()));
        let ours = rt().block_on(between(t, id - 1, *id, ChangeScanMode::Auto));
        assert_same(&format!("{} snapshot {id}", t.name()), &ours, &theirs);
    }
}

/// `incremental-between` with tag names reads the difference between the two tagged snapshots: dyntable's
/// answer equals Java Paimon 0.9's on a dyntable-written primary-key table (updates to a new and to the same
/// value, a key inserted and deleted in the range, a full compaction between tags, two buckets) and append
/// table, for every ordered pair of tags; a reversed pair and an unknown tag are errors on both sides.
#[test]
fn tag_ranges_match_java() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    let catalog = Catalog::open(wh.to_str().unwrap(), true).unwrap();
    let mut reads = Vec::new();
    let mut asked = Vec::new();
    rt().block_on(async {
        let pk = common::create(&catalog, "db.tags", "id BIGINT NOT NULL, v STRING", &["id"], &[], &[("bucket", "2")])
            .await
            .unwrap();
        let append = common::create(&catalog, "db.tags_append", "id BIGINT, v STRING", &[], &[], &[]).await.unwrap();
        let steps: Vec<Vec<Value>> = vec![
            (0..8).map(|i| json!({"id": i, "v": format!("a{i}")})).collect(),
            vec![json!({"id": 1, "v": "B"}), json!({"id": 2, "v": "a2"}), json!({"id": 9, "v": "n"})],
            vec![json!({"_op": "-D", "id": 3, "v": "a3"}), json!({"_op": "+I", "id": 10, "v": "x"})],
            vec![json!({"_op": "-D", "id": 10, "v": "x"}), json!({"_op": "+I", "id": 4, "v": "C"})],
        ];
        let mut tags = Vec::new();
        for (n, rows) in steps.iter().enumerate() {
            for t in [&pk, &append] {
                let rows: Vec<Value> = if t.schema().primary_keys.is_empty() {
                    rows.iter()
                        .filter(|r| r.get("_op").is_none_or(|op| op == "+I"))
                        .map(|r| json!({"id": r["id"], "v": r["v"]}))
                        .collect()
                } else {
                    rows.clone()
                };
                let mut w = t.writer().await.unwrap();
                if rows.iter().any(|r| r.get("_op").is_some()) {
                    w = w.with_row_kind_column(Some("_op".into()));
                }
                w.write(&common::batch(t, &rows)).await.unwrap();
                w.commit().await.unwrap();
                t.create_tag(&format!("s{n}"), None).await.unwrap();
            }
            tags.push(format!("s{n}"));
            if n == 2 {
                pk.compact(true, None).await.unwrap();
                pk.create_tag("full", None).await.unwrap();
                tags.push("full".into());
            }
        }
        for t in [&pk, &append] {
            let names: Vec<String> = t.snapshot_manager().tags().await.unwrap().into_iter().map(|(n, _)| n).collect();
            for (i, a) in tags.iter().enumerate() {
                for b in &tags[i + 1..] {
                    if !(names.contains(a) && names.contains(b)) {
                        continue;
                    }
                    reads.push(JavaRead {
                        db: "db".into(),
                        table: format!("{}$audit_log", t.name().split('.').next_back().unwrap()),
                        options: vec![("incremental-between".into(), format!("{a},{b}"))],
                    });
                    asked.push((t.clone(), a.clone(), b.clone()));
                }
            }
        }
    });
    for bad in ["s3,s0", "s0,nope"] {
        reads.push(JavaRead {
            db: "db".into(),
            table: "tags$audit_log".into(),
            options: vec![("incremental-between".into(), bad.into())],
        });
    }
    let answers = java_reads(wh, &reads);
    for ((t, a, b), answer) in asked.iter().zip(&answers) {
        let theirs = answer.clone().unwrap_or_else(|e| panic!("Java reads {} between tags {a},{b}: {e}", t.name()));
        let (_, stream) = rt().block_on(t.incremental_between_tags(a, b)).unwrap();
        let batches: Vec<RecordBatch> = rt().block_on(stream.try_collect()).unwrap();
        assert_same(&format!("{} between tags {a},{b}", t.name()), &change_lines(&batches, t), &theirs);
    }
    let pk = asked.iter().find(|(t, _, _)| !t.schema().primary_keys.is_empty()).unwrap().0.clone();
    for (bad, answer) in ["s3,s0", "s0,nope"].iter().zip(&answers[asked.len()..]) {
        let java = answer.as_ref().expect_err("Java refuses it");
        let (a, b) = bad.split_once(',').unwrap();
        let ours = rt().block_on(pk.incremental_between_tags(a, b)).err().expect("dyntable refuses it").to_string();
        assert!(ours.contains(if *bad == "s3,s0" { "must be after" } else { "nope" }), "{bad}: {ours} (Java: {java})");
    }
}

/// Options that keep changelogs longer than snapshots (as the oracle check of Java 0.9 used): one snapshot
/// survives a commit, the changelogs of the last six.
const LONG_LIVED: [(&str, &str); 6] = [
    ("snapshot.num-retained.min", "1"),
    ("snapshot.num-retained.max", "2"),
    ("snapshot.time-retained", "1 ms"),
    ("changelog.num-retained.min", "1"),
    ("changelog.num-retained.max", "6"),
    ("changelog.time-retained", "1 h"),
];

/// Commit `c` of the long-lived changelog tables: five upserts over eight keys.
fn upsert_rows(c: i64) -> Vec<Value> {
    (0..5).map(|i| json!({"id": (c * 3 + i) % 8, "v": format!("c{c}-{i}")})).collect()
}

fn java_create(wh: &Path, name: &str, options: &[(&str, &str)]) {
    let mut cmd = python("java");
    cmd.arg(scripts().join("java_paimon.py")).arg("create").arg(wh).arg(name);
    cmd.args(["--schema", "id BIGINT NOT NULL, v STRING", "--primary-key", "id", "--option", "bucket=1"]);
    for (k, v) in options {
        cmd.arg("--option").arg(format!("{k}={v}"));
    }
    run(&mut cmd);
}

fn java_write(wh: &Path, name: &str, files: &[PathBuf]) {
    run(python("java").arg(scripts().join("java_paimon.py")).arg("write").arg(wh).arg(name).args(files));
}

/// Long-lived changelogs across implementations. Java Paimon 0.9 writes a table whose snapshots expire into
/// `changelog/changelog-N`: dyntable reads each expired snapshot's changes from them exactly as Java reads the
/// same snapshot of a twin table that kept its snapshots (Java itself refuses ranges below its earliest
/// snapshot, which is asserted: dyntable reads further). Then Java goes on writing a dyntable table with
/// long-lived changelogs (Java's expiration runs over dyntable's changelog directory): both read its rows
/// identically and every changelog left reads as it did when dyntable wrote it.
#[test]
fn long_lived_changelogs_match_java() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    let files: Vec<PathBuf> = (0..10)
        .map(|c| {
            let path = wh.join(format!("u{c}.jsonl"));
            std::fs::write(&path, upsert_rows(c).iter().map(|r| r.to_string() + "\n").collect::<String>()).unwrap();
            path
        })
        .collect();
    let producers = ["none", "input", "lookup"];
    for p in producers {
        let producer = ("changelog-producer", p);
        java_create(wh, &format!("db.kept_{p}"), &[producer]);
        let mut options = LONG_LIVED.to_vec();
        options.push(producer);
        java_create(wh, &format!("db.expired_{p}"), &options);
        java_write(wh, &format!("db.kept_{p}"), &files);
        java_write(wh, &format!("db.expired_{p}"), &files);
    }
    let catalog = Catalog::open(wh.to_str().unwrap(), true).unwrap();
    let get = |name: String| rt().block_on(catalog.get_table(&Identifier::parse(&name).unwrap())).unwrap();

    // Java's reading of every snapshot of the kept tables, and of the expired tables' changelog range.
    let mut reads = Vec::new();
    let mut asked = Vec::new();
    let mut ranges = Vec::new();
    for p in producers {
        let (kept, expired) = (get(format!("db.kept_{p}")), get(format!("db.expired_{p}")));
        let (changelogs, latest) = rt().block_on(async {
            let sm = expired.snapshot_manager();
            let ids = expired.changelog_manager().list_ids().await.unwrap();
            // The twin tables made the same snapshots (Java compacts deterministically in batch writes).
            for id in &ids {
                let (a, b) = (
                    expired.changelog_manager().changelog(*id).await.unwrap(),
                    kept.snapshot_manager().snapshot(*id).await.unwrap(),
                );
                assert_eq!(
                    (a.commit_kind, a.delta_record_count),
                    (b.commit_kind, b.delta_record_count),
                    "{p}: snapshot {id}"
                );
            }
            (ids, sm.latest_id().await.unwrap().unwrap())
        });
        assert_eq!(changelogs, (latest - 5..latest).collect::<Vec<_>>(), "Java kept the changelogs of db.expired_{p}");
        for id in latest - 5..=latest {
            reads.push(JavaRead {
                db: "db".into(),
                table: format!("kept_{p}$audit_log"),
                options: vec![("incremental-between".into(), format!("{},{id}", id - 1))],
            });
            asked.push((p, id));
        }
        reads.push(JavaRead {
            db: "db".into(),
            table: format!("expired_{p}$audit_log"),
            options: vec![("incremental-between".into(), format!("{},{latest}", latest - 5))],
        });
        ranges.push((p, latest));
    }
    let answers = java_reads(wh, &reads);
    rt().block_on(async {
        let mut union: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut answers = answers.into_iter();
        for (p, latest) in &ranges {
            let expired = catalog.get_table(&Identifier::parse(&format!("db.expired_{p}")).unwrap()).await.unwrap();
            for _ in latest - 5..=*latest {
                let (_, id) = asked.remove(0);
                let theirs = answers.next().unwrap().expect("Java reads its kept table");
                let what = format!("db.expired_{p}: changes of snapshot {id} (Java: db.kept_{p})");
                assert_same(&what, &between(&expired, id - 1, id, ChangeScanMode::Auto).await, &theirs);
                union.entry(p).or_default().extend(theirs);
            }
            let java = answers.next().unwrap().expect_err("Java 0.9 reads no long-lived changelog");
            assert!(java.contains("out of available snapshotId range"), "{java}");
            let expect = sorted(union[p].clone());
            assert_same(
                &format!("tail db.expired_{p} from its earliest changelog"),
                &tail(&expired, StartFrom::FromSnapshot(latest - 5)).await,
                &expect,
            );
        }
    });

    // Java writes on into a dyntable table whose changelogs dyntable kept.
    let (name, recorded) = rt().block_on(async {
        let mut options = LONG_LIVED.to_vec();
        options.extend([("bucket", "1"), ("changelog-producer", "input")]);
        let t =
            common::create(&catalog, "db.ours", "id BIGINT NOT NULL, v STRING", &["id"], &[], &options).await.unwrap();
        let mut recorded = BTreeMap::new();
        let mut w = t.writer().await.unwrap();
        for c in 0..8 {
            w.write(&common::batch(&t, &upsert_rows(c))).await.unwrap();
            let id = w.commit().await.unwrap().expect("a snapshot");
            recorded.insert(id, between(&t, id - 1, id, ChangeScanMode::Auto).await);
        }
        let ids = t.changelog_manager().list_ids().await.unwrap();
        assert!(ids.len() >= 5, "dyntable kept long-lived changelogs: {ids:?}");
        ("db.ours".to_string(), recorded)
    });
    java_write(wh, &name, &files[8..]);
    let t = get(name);
    rt().block_on(async {
        let sm = t.snapshot_manager();
        let latest = sm.latest_id().await.unwrap().unwrap();
        let ids = t.changelog_manager().list_ids().await.unwrap();
        assert_eq!(ids, (latest - 5..latest).collect::<Vec<_>>(), "Java expired dyntable's changelogs its way");
        for &id in ids.iter().filter(|id| recorded.contains_key(id)) {
            assert_same(
                &format!("db.ours: changes of {id}"),
                &between(&t, id - 1, id, ChangeScanMode::Auto).await,
                &recorded[&id],
            );
        }
        let theirs = java_reads(wh, &[JavaRead { db: "db".into(), table: "ours".into(), options: vec![] }]);
        let ours = common::lines(&t, &dyntable_storage::ScanFrom::Latest).await;
        assert_same("db.ours rows", &sorted(ours), theirs[0].as_ref().unwrap());
    });
}
