//! Retractions in the `aggregation` merge engine, every aggregate function against Java Paimon 0.9 on the same
//! input (issue 12): `tests/interop/java_aggregate_retractions.py` writes each scenario with Java (one row per
//! commit, all rows in one commit, and with full compactions between) and records what Java reads after each
//! commit, or its error. dyntable then (1) reads every Java table and (2) writes the same rows commit by commit
//! into its own table, reading after each commit; both must give Java's rows, and fail where Java fails. Runs
//! with `--features interop`; missing oracles fail the test, never skip it.
#![cfg(feature = "interop")]

mod common;

use std::process::Command;

use common::{oracles_dir, rt, scripts};
use dyntable::convert::{batch_to_json_rows, JsonStyle};
use dyntable::{Catalog, Identifier};
use dyntable_storage::{FileStoreTable, ScanFrom};
use serde_json::{json, Value};

/// What dyntable reads of `t` (the rows of key 1), as Java's script prints them: `{"id", "v"}` objects.
async fn read(t: &FileStoreTable) -> Result<Vec<Value>, String> {
    let batches = t.scan_collect(&ScanFrom::Latest, None, None).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for b in &batches {
        for row in batch_to_json_rows(b, &t.schema().fields, JsonStyle::Oracle).map_err(|e| e.to_string())? {
            out.push(Value::Object(row));
        }
    }
    Ok(out)
}

/// A row's `v` compared as Java's and dyntable's printing agree: maps as sorted `[key, value]` pairs (Java prints
/// an object), `collect` with `distinct` as a sorted list (Java's order is its `HashSet`'s).
fn normalized(function: &str, rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let mut v = r["v"].clone();
            if let Value::Object(m) = &v {
                v = Value::Array(m.iter().map(|(k, x)| json!([k, x])).collect());
            }
            if function == "merge_map" || function == "collect_distinct" {
                if let Value::Array(items) = &mut v {
                    items.sort_by_key(|x| x.to_string());
                }
            }
            json!({"id": r["id"], "v": v})
        })
        .collect()
}

/// The input rows of one scenario as dyntable's JSON rows (`_op` as the row kind), or `None` for a compaction.
fn input_row(row: &Value) -> Option<Value> {
    let op = row[0].as_str().unwrap();
    if op == "COMPACT" {
        return None;
    }
    Some(json!({"id": 1, "v": row[1], "_op": op}))
}

#[test]
fn aggregate_retractions_match_java() {
    let dir = tempfile::tempdir().unwrap();
    let java_wh = dir.path().join("java");
    let out = Command::new(oracles_dir().join("java/bin/python"))
        .env("ORACLES", oracles_dir())
        .arg(scripts().join("java_aggregate_retractions.py"))
        .arg(&java_wh)
        .args(["--variant", "api"])
        .output()
        .expect("start the Java oracle");
    assert!(out.status.success(), "Java oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    let cases: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(cases.len() >= 16 * 8 * 3, "a case per function, scenario and mode: {}", cases.len());
    let java = Catalog::open(java_wh.to_str().unwrap(), false).unwrap();
    let ours = Catalog::open(dir.path().join("ours").to_str().unwrap(), true).unwrap();
    let mut checked = (0, 0);
    rt().block_on(async {
        for case in &cases {
            let function = case["function"].as_str().unwrap();
            let (scenario, mode) = (case["scenario"].as_str().unwrap(), case["commits"].as_str().unwrap());
            let short = match mode {
                "per-commit" => "pc",
                "one-commit" => "oc",
                _ => "pcfc",
            };
            let name = format!("{function}_{scenario}_{short}_api");
            let what = format!("{function} {scenario} {mode}");
            if case["error"]["stage"] == "create" {
                panic!("{what}: Java could not create the table: {}", case["error"]);
            }
            let reads = case["reads"].as_array().unwrap();
            // (1) Java's table as dyntable reads it (unless Java could not write it).
            let wrote = case["error"]["stage"] != "write";
            if wrote {
                let t = java.get_table(&Identifier::parse(&format!("db.{name}")).unwrap()).await.unwrap();
                let last = reads.last().unwrap();
                match (read(&t).await, last.get("error")) {
                    (Ok(rows), None) => assert_eq!(
                        normalized(function, &rows),
                        normalized(function, last.as_array().unwrap()),
                        "{what}: dyntable reading Java's table"
                    ),
                    (Err(e), Some(_)) => assert!(e.contains("retract"), "{what}: {e}"),
                    (Ok(rows), Some(j)) => panic!("{what}: Java fails to read ({j}), dyntable reads {rows:?}"),
                    (Err(e), None) => panic!("{what}: dyntable fails to read Java's table ({e})"),
                }
                checked.0 += 1;
            }
            // (2) The same rows written by dyntable, commit by commit (Java's per-commit modes).
            if mode == "one-commit" {
                continue;
            }
            let options: Vec<(String, String)> = case["options"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let options: Vec<(&str, &str)> = options.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let ty = match function {
                "sum" | "product" | "max" | "min" | "max_ignore_retract" => "INT",
                "bool_and" | "bool_or" => "BOOLEAN",
                "collect" | "collect_distinct" => "ARRAY<STRING>",
                "merge_map" => "MAP<STRING, INT>",
                _ => "STRING",
            };
            let schema = format!("id BIGINT NOT NULL, v {ty}");
            let t = common::create(&ours, &format!("db.{name}"), &schema, &["id"], &[], &options).await.unwrap();
            let mut steps: Vec<Option<Value>> = case["rows"].as_array().unwrap().iter().map(input_row).collect();
            if mode == "per-commit+full-compact" {
                steps.push(None);
            }
            assert_eq!(steps.len(), reads.len(), "{what}: a read per commit");
            for (i, (step, java_read)) in steps.iter().zip(reads).enumerate() {
                let done = match step {
                    Some(row) => {
                        let mut w = t.writer().await.unwrap().with_row_kind_column(Some("_op".into()));
                        match w.write(&common::batch(&t, std::slice::from_ref(row))).await {
                            Ok(()) => w.commit().await.map(|_| ()),
                            Err(e) => Err(e),
                        }
                    }
                    None => t.compact(true, None).await.map(|_| ()),
                };
                let got = match done {
                    Ok(()) => read(&t).await,
                    Err(e) => Err(e.to_string()),
                };
                match (got, java_read.get("error")) {
                    (Ok(rows), None) => assert_eq!(
                        normalized(function, &rows),
                        normalized(function, java_read.as_array().unwrap()),
                        "{what}: dyntable's own table after commit {}",
                        i + 1
                    ),
                    // Java fails when it merges the retraction (at read for separate commits, at compaction);
                    // dyntable at the same commit, at its write, compaction or read.
                    (Err(e), Some(_)) => {
                        assert!(e.contains("retract"), "{what} commit {}: {e}", i + 1);
                        break;
                    }
                    (Ok(rows), Some(j)) => {
                        panic!("{what} commit {}: Java fails ({j}), dyntable reads {rows:?}", i + 1)
                    }
                    (Err(e), None) => panic!("{what} commit {}: dyntable fails ({e}), Java does not", i + 1),
                }
            }
            checked.1 += 1;
        }
    });
    assert!(checked.0 > 100 && checked.1 > 100, "cases checked: {checked:?}");
}
