//! The `dyntable` CLI as other tools call it: create-table, write (jsonl, csv, parquet, row kinds),
//! scan (time travel, columns, filter, jsonl), snapshots, files, tags, and errors with a non-zero exit.

use std::path::Path;
use std::process::{Command, Output};

fn dyntable(wh: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dyntable")).arg("--warehouse").arg(wh).args(args).output().expect("run dyntable")
}

fn ok(wh: &Path, args: &[&str]) -> String {
    let out = dyntable(wh, args);
    assert!(out.status.success(), "dyntable {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn fails(wh: &Path, args: &[&str]) -> String {
    let out = dyntable(wh, args);
    assert!(!out.status.success(), "dyntable {args:?} should fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// The documented command shapes work end to end and jsonl output uses the documented encodings.
#[test]
fn cli_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    ok(
        &wh,
        &[
            "create-table",
            "db.t",
            "--schema",
            "id BIGINT NOT NULL, name STRING, price DECIMAL(10, 2), day DATE, ts TIMESTAMP(6), raw BYTES, dt STRING NOT NULL",
            "--primary-key",
            "id,dt",
            "--partition",
            "dt",
            "--option",
            "bucket=2",
        ],
    );
    let f1 = dir.path().join("c1.jsonl");
    std::fs::write(
        &f1,
        concat!(
            r#"{"id": 1, "name": "a", "price": "1.50", "day": "2024-01-01", "ts": "2024-01-01T10:00:00.123456", "raw": "00ff", "dt": "x", "op": "+I"}"#,
            "\n",
            r#"{"id": 2, "name": "b", "price": "2.00", "day": "2024-01-02", "ts": "2024-01-01T10:00:00", "raw": null, "dt": "y", "op": "+I"}"#,
            "\n",
        ),
    )
    .unwrap();
    assert!(ok(&wh, &["write", "db.t", f1.to_str().unwrap(), "--row-kind-column", "op"]).contains("snapshot 1"));
    let f2 = dir.path().join("c2.csv");
    std::fs::write(
        &f2,
        "id,name,price,day,ts,raw,dt,op\n2,,,,,,y,-D\n3,c,3.25,2024-01-03,2024-01-03T00:00:00,abcd,x,+I\n",
    )
    .unwrap();
    assert!(ok(&wh, &["write", "db.t", f2.to_str().unwrap(), "--row-kind-column", "op"]).contains("snapshot 2"));
    let out = ok(&wh, &["scan", "db.t", "--format", "jsonl"]);
    let mut rows: Vec<&str> = out.lines().collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            r#"{"id":1,"name":"a","price":"1.50","day":"2024-01-01","ts":"2024-01-01T10:00:00.123456","raw":"00ff","dt":"x"}"#,
            r#"{"id":3,"name":"c","price":"3.25","day":"2024-01-03","ts":"2024-01-03T00:00:00","raw":"abcd","dt":"x"}"#,
        ]
    );
    let out = ok(&wh, &["scan", "db.t", "--snapshot", "1", "--columns", "id,name", "--format", "jsonl"]);
    assert_eq!(out.lines().count(), 2);
    assert!(out.contains(r#"{"id":2,"name":"b"}"#), "{out}");
    let out = ok(&wh, &["scan", "db.t", "--filter", "dt = 'x' AND id > 1", "--format", "jsonl"]);
    assert_eq!(
        out.trim(),
        r#"{"id":3,"name":"c","price":"3.25","day":"2024-01-03","ts":"2024-01-03T00:00:00","raw":"abcd","dt":"x"}"#
    );
    let out =
        ok(&wh, &["scan", "db.t", "--filter", "(id IN (1, 7) OR name IS NULL) AND price >= 1.5", "--format", "jsonl"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains(r#""id":1"#), "{out}");
    assert!(ok(&wh, &["scan", "db.t"]).contains("| id |"));
    let snaps = ok(&wh, &["snapshots", "db.t", "--format", "jsonl"]);
    assert_eq!(snaps.lines().count(), 2);
    assert!(snaps.contains(r#""commitKind":"APPEND""#));
    assert!(ok(&wh, &["snapshots", "db.t"]).contains("APPEND"));
    assert!(ok(&wh, &["files", "db.t"]).contains("bucket-") || ok(&wh, &["files", "db.t"]).contains(".parquet"));
    // `files` prints the `t$files` system table as of a snapshot: snapshot 1 holds fewer files than the latest.
    let files_at = |snapshot: &str| -> Vec<serde_json::Value> {
        ok(&wh, &["files", "db.t", "--snapshot", snapshot, "--format", "jsonl"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON object per file"))
            .collect()
    };
    let (first, latest) = (files_at("1"), files_at("2"));
    assert!(!first.is_empty() && first.len() < latest.len(), "{first:?} / {latest:?}");
    for f in &first {
        assert!(f["file"].as_str().is_some_and(|p| p.ends_with(".parquet")), "{f}");
        assert!(f["rows"].as_i64().is_some_and(|r| r > 0) && f["level"].as_i64() == Some(0), "{f}");
    }
    let missing = fails(&wh, &["files", "db.t", "--snapshot", "99"]);
    assert!(missing.contains("snapshot 99") && !missing.contains("External"), "{missing}");
    ok(&wh, &["tag", "create", "db.t", "first", "--snapshot", "1"]);
    assert_eq!(ok(&wh, &["scan", "db.t", "--tag", "first", "--format", "jsonl"]).lines().count(), 2);
    assert!(ok(&wh, &["tag", "list", "db.t"]).contains("first"));
    ok(&wh, &["tag", "delete", "db.t", "first"]);
    // From a timestamp (the first snapshot committed at or after it: snapshot 1 for time 0), and several tags
    // deleted at once, as Paimon's procedures.
    ok(&wh, &["tag", "create", "db.t", "t0", "--timestamp", "0"]);
    ok(&wh, &["tag", "create", "db.t", "t1"]);
    let tags = ok(&wh, &["tag", "list", "db.t"]);
    assert!(tags.contains("t0\tsnapshot 1") && tags.contains("t1\tsnapshot 2"), "{tags}");
    let late = fails(&wh, &["tag", "create", "db.t", "t9", "--timestamp", "99999999999999"]);
    assert!(late.contains("no snapshot of db.t was committed at or after 99999999999999"), "{late}");
    ok(&wh, &["tag", "delete", "db.t", "t0,t1"]);
    assert!(ok(&wh, &["tag", "list", "db.t"]).trim().is_empty());
    assert!(ok(&wh, &["list", "db"]).contains("db.t"));

    // A parquet file written by dyntable's own scan path is accepted as input too.
    let pq = dir.path().join("in.parquet");
    {
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, false),
            arrow::datatypes::Field::new("name", arrow::datatypes::DataType::Utf8, true),
            arrow::datatypes::Field::new("dt", arrow::datatypes::DataType::Utf8, false),
        ]));
        let batch = arrow::array::RecordBatch::try_new(
            schema.clone(),
            vec![
                std::sync::Arc::new(arrow::array::Int64Array::from(vec![10, 11])),
                std::sync::Arc::new(arrow::array::StringArray::from(vec![Some("p"), None])),
                std::sync::Arc::new(arrow::array::StringArray::from(vec!["z", "z"])),
            ],
        )
        .unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&pq).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    let e = fails(&wh, &["write", "db.t", pq.to_str().unwrap()]);
    assert!(e.contains("`price`") && e.contains("missing"), "{e}");
}

/// Errors give a message and a non-zero exit, and leave the table unchanged.
#[test]
fn cli_errors() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let e = fails(&wh, &["scan", "db.t"]);
    assert!(e.contains("does not exist"), "{e}");
    ok(&wh, &["create-table", "db.t", "--schema", "id BIGINT NOT NULL, v STRING", "--primary-key", "id"]);
    assert!(fails(&wh, &["create-table", "db.t", "--schema", "id BIGINT NOT NULL", "--primary-key", "id"])
        .contains("already exists"));
    assert!(fails(&wh, &["create-table", "db.u", "--schema", "id BIGINT NOT NULL", "--option", "bukket=2"])
        .contains("bukket"));
    assert!(fails(&wh, &["scan", "db.nope"]).contains("db.nope"));
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\": 1, \"v\": \"a\", \"op\": \"+I\"}\n{\"id\": 2, \"v\": \"b\", \"op\": \"+Q\"}\n")
        .unwrap();
    assert!(fails(&wh, &["write", "db.t", bad.to_str().unwrap(), "--row-kind-column", "op"]).contains("+Q"));
    std::fs::write(&bad, "{\"id\": \"one\"}\n").unwrap();
    assert!(fails(&wh, &["write", "db.t", bad.to_str().unwrap()]).contains("id"));
    std::fs::write(&bad, "{\"id\": null, \"v\": \"x\"}\n").unwrap();
    assert!(fails(&wh, &["write", "db.t", bad.to_str().unwrap()]).contains("NOT NULL"));
    std::fs::write(&bad, "not json\n").unwrap();
    assert!(fails(&wh, &["write", "db.t", bad.to_str().unwrap()]).contains("line 1"));
    assert!(fails(&wh, &["scan", "db.t", "--snapshot", "3"]).contains("snapshot 3"));
    assert!(fails(&wh, &["scan", "db.t", "--filter", "id >"]).contains("filter"));
    let e = fails(&wh, &["scan", "db.t", "--filter", "v LIKE 'a%'"]);
    assert!(e.contains("filter `v LIKE 'a%'`") && e.contains("cannot evaluate"), "{e}");
    assert!(fails(&wh, &["scan", "db.t", "--filter", "nope = 1"]).contains("nope"));
    assert_eq!(
        ok(&wh, &["snapshots", "db.t", "--format", "jsonl"]).lines().count(),
        0,
        "no failed write committed anything"
    );
}

/// The demo runs end to end on a fresh warehouse (the README's main command).
#[test]
fn demo_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&dir.path().join("wh"), &["demo", "--commits", "3", "--rows", "100"]);
    assert!(out.contains("time travel to snapshot 1"), "{out}");
    assert!(out.contains("its 100 changes read back from the log"), "{out}");
    assert!(out.contains("snapshots:"), "{out}");
}

/// `compact` rewrites a table into fewer sorted runs (a COMPACT snapshot) and `stats` reports write
/// amplification and the LSM shape from the manifests; scans are unchanged by compaction.
#[test]
fn cli_compact_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    ok(
        &wh,
        &[
            "create-table",
            "db.c",
            "--schema",
            "id BIGINT NOT NULL, v STRING, dt STRING NOT NULL",
            "--primary-key",
            "id,dt",
            "--partition",
            "dt",
            "--option",
            "bucket=1",
            "--option",
            "write-only=true",
        ],
    );
    for c in 0..4 {
        let f = dir.path().join(format!("c{c}.jsonl"));
        let rows: String = (0..20)
            .map(|i| format!("{{\"id\": {}, \"v\": \"c{c}\", \"dt\": \"d{}\"}}\n", (i * 3 + c) % 25, i % 2))
            .collect();
        std::fs::write(&f, rows).unwrap();
        ok(&wh, &["write", "db.c", f.to_str().unwrap()]);
    }
    let before = ok(&wh, &["scan", "db.c", "--format", "jsonl"]);
    assert!(
        ok(&wh, &["compact", "db.c", "--partition", "dt=d0"]).contains("nothing to compact"),
        "write-only tables stay uncompacted until asked, and 4 runs are under the trigger"
    );
    assert!(ok(&wh, &["compact", "db.c", "--full", "--partition", "dt=d0"]).contains("snapshot 5"));
    assert!(ok(&wh, &["compact", "db.c", "--full"]).contains("snapshot 6"));
    let mut a: Vec<&str> = before.lines().collect();
    let after = ok(&wh, &["scan", "db.c", "--format", "jsonl"]);
    let mut b: Vec<&str> = after.lines().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    let stats = ok(&wh, &["stats", "db.c", "--format", "jsonl"]);
    let v: serde_json::Value = serde_json::from_str(stats.trim()).unwrap();
    assert_eq!(v["compactSnapshots"], 2);
    assert_eq!(v["sortedRunsMax"], 1);
    assert!(v["writeAmplification"].as_f64().unwrap() > 1.0, "{stats}");
    assert!(fails(&wh, &["compact", "db.c", "--partition", "nope=1"]).contains("nope"));

    // `expire-snapshots`: keep the 2 newest of the 6 snapshots; the table reads the same.
    let out = ok(&wh, &["expire-snapshots", "db.c", "--retain-max", "2", "--retain-min", "1"]);
    assert!(out.contains("expired 4 snapshots") && out.contains("earliest snapshot now 5"), "{out}");
    let snapshots = ok(&wh, &["snapshots", "db.c", "--format", "jsonl"]);
    assert_eq!(snapshots.lines().count(), 2, "{snapshots}");
    let mut c: Vec<String> = ok(&wh, &["scan", "db.c", "--format", "jsonl"]).lines().map(str::to_string).collect();
    c.sort();
    assert_eq!(c, b);
    assert!(fails(&wh, &["scan", "db.c", "--snapshot", "2"]).contains("expired"));
    assert!(fails(&wh, &["expire-snapshots", "db.c", "--older-than", "yesterday"]).contains("--older-than"));

    // `rollback`: back to snapshot 5 (the full compaction of partition d0 only); it reads the same rows.
    let out = ok(&wh, &["rollback", "db.c", "--to-snapshot", "5"]);
    assert!(out.contains("rolled back db.c to snapshot 5") && out.contains("[6]"), "{out}");
    assert_eq!(ok(&wh, &["snapshots", "db.c", "--format", "jsonl"]).lines().count(), 1);
    let mut d: Vec<String> = ok(&wh, &["scan", "db.c", "--format", "jsonl"]).lines().map(str::to_string).collect();
    d.sort();
    assert_eq!(d, b);
    assert!(fails(&wh, &["rollback", "db.c", "--to-snapshot", "9"]).contains("snapshot 9"));
    assert!(fails(&wh, &["rollback", "db.c", "--to-tag", "nope"]).contains("nope"));

    // `remove-orphan-files`: a stray file in a bucket directory goes (the cutoff in the future makes it old
    // enough); the table reads the same.
    let stray = wh.join("db.db/c/dt=d0/bucket-0/data-stray.parquet");
    std::fs::write(&stray, b"not a data file").unwrap();
    let dry = ok(&wh, &["remove-orphan-files", "db.c", "--older-than", "2999-01-01T00:00:00", "--dry-run"]);
    assert!(dry.contains("would delete dt=d0/bucket-0/data-stray.parquet") && dry.contains("dry run"), "{dry}");
    assert!(stray.exists());
    let out = ok(&wh, &["remove-orphan-files", "db.c", "--older-than", "2999-01-01T00:00:00"]);
    assert!(out.contains("deleted dt=d0/bucket-0/data-stray.parquet"), "{out}");
    assert!(!stray.exists());
    let young = ok(&wh, &["remove-orphan-files", "db.c"]);
    assert!(young.contains("0 orphan files"), "{young}");
    let mut e: Vec<String> = ok(&wh, &["scan", "db.c", "--format", "jsonl"]).lines().map(str::to_string).collect();
    e.sort();
    assert_eq!(e, b);
}

/// `dyntable tail` prints a table's changes as JSON objects with `rowkind`: the snapshot's rows with `full`,
/// the changes of later snapshots, and, with a consumer, resumes after what it already printed.
#[test]
fn cli_tail() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let create = [
        "create-table",
        "db.t",
        "--schema",
        "id BIGINT NOT NULL, name STRING",
        "--primary-key",
        "id",
        "--option",
        "bucket=2",
        "--option",
        "log.system=embedded",
    ];
    ok(&wh, &create);
    let f1 = dir.path().join("1.jsonl");
    std::fs::write(&f1, "{\"id\": 1, \"name\": \"a\"}\n{\"id\": 2, \"name\": \"b\"}\n").unwrap();
    ok(&wh, &["write", "db.t", f1.to_str().unwrap()]);
    let f2 = dir.path().join("2.jsonl");
    std::fs::write(&f2, "{\"id\": 2, \"name\": \"b\", \"op\": \"-D\"}\n{\"id\": 3, \"name\": \"c\", \"op\": \"+I\"}\n")
        .unwrap();
    ok(&wh, &["write", "db.t", f2.to_str().unwrap(), "--row-kind-column", "op"]);

    let sorted = |text: String| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    let full = ok(&wh, &["tail", "db.t", "--from", "snapshot-full:1", "--idle-exit-ms", "300"]);
    assert_eq!(
        sorted(full),
        vec![
            r#"{"id":1,"name":"a","rowkind":"+I"}"#,
            r#"{"id":2,"name":"b","rowkind":"+I"}"#,
            r#"{"id":2,"name":"b","rowkind":"-D"}"#,
            r#"{"id":3,"name":"c","rowkind":"+I"}"#,
        ]
    );
    let first = ok(&wh, &["tail", "db.t", "--from", "snapshot:1", "--consumer", "c1", "--max-changes", "2"]);
    assert!(first.lines().count() >= 2, "{first}");
    let rest = ok(&wh, &["tail", "db.t", "--consumer", "c1", "--idle-exit-ms", "300"]);
    let mut both: Vec<String> = first.lines().chain(rest.lines()).map(str::to_string).collect();
    both.sort();
    assert_eq!(both.len(), 4, "the consumer resumes after what it printed: {first}\n{rest}");

    let err = fails(&wh, &["tail", "db.t", "--from", "yesterday"]);
    assert!(err.contains("yesterday"), "{err}");
    // A table without the embedded log is tailed from its snapshots' files, compactions skipped.
    ok(&wh, &["create-table", "db.plain", "--schema", "id BIGINT NOT NULL, name STRING", "--primary-key", "id"]);
    ok(&wh, &["write", "db.plain", f1.to_str().unwrap()]);
    ok(&wh, &["compact", "db.plain", "--full"]);
    ok(&wh, &["write", "db.plain", f2.to_str().unwrap(), "--row-kind-column", "op"]);
    let changes = ok(&wh, &["tail", "db.plain", "--from", "snapshot:2", "--consumer", "p1", "--idle-exit-ms", "300"]);
    assert_eq!(sorted(changes), vec![r#"{"id":2,"name":"b","rowkind":"-D"}"#, r#"{"id":3,"name":"c","rowkind":"+I"}"#]);
    let all = ok(&wh, &["tail", "db.plain", "--from", "snapshot:1", "--idle-exit-ms", "300"]);
    assert_eq!(all.lines().count(), 4, "snapshots 1 and 3, not the compaction (2): {all}");
    let f3 = dir.path().join("3.jsonl");
    std::fs::write(&f3, "{\"id\": 4, \"name\": \"d\"}\n").unwrap();
    ok(&wh, &["write", "db.plain", f3.to_str().unwrap()]);
    let resumed = ok(&wh, &["tail", "db.plain", "--consumer", "p1", "--idle-exit-ms", "300"]);
    assert_eq!(sorted(resumed), vec![r#"{"id":4,"name":"d","rowkind":"+I"}"#], "the consumer resumes after snapshot 3");
    let err = fails(&wh, &["tail", "db.plain", "--from", "snapshot:9"]);
    assert!(err.contains("snapshot 9"), "{err}");
}

/// `get` prints the merged row of whole primary keys (now and as of a snapshot), says which keys have no
/// row, and names the column and value of a bad key.
#[test]
fn get_looks_up_primary_keys() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    ok(
        &wh,
        &[
            "create-table",
            "db.g",
            "--schema",
            "id BIGINT NOT NULL, dt DATE NOT NULL, name STRING, price DECIMAL(10, 2)",
            "--primary-key",
            "id,dt",
            "--partition",
            "dt",
            "--option",
            "bucket=2",
        ],
    );
    let f1 = dir.path().join("c1.jsonl");
    std::fs::write(
        &f1,
        concat!(
            r#"{"id": 5, "dt": "2024-01-01", "name": "five", "price": "1.50"}"#,
            "\n",
            r#"{"id": 6, "dt": "2024-01-01", "name": "six", "price": "2.00"}"#,
            "\n",
            r#"{"id": 5, "dt": "2024-01-02", "name": "five-b", "price": null}"#,
            "\n",
        ),
    )
    .unwrap();
    ok(&wh, &["write", "db.g", f1.to_str().unwrap()]);
    let f2 = dir.path().join("c2.jsonl");
    std::fs::write(
        &f2,
        concat!(
            r#"{"id": 5, "dt": "2024-01-01", "name": "FIVE", "price": "9.99", "op": "+U"}"#,
            "\n",
            r#"{"id": 6, "dt": "2024-01-01", "op": "-D"}"#,
            "\n",
        ),
    )
    .unwrap();
    ok(&wh, &["write", "db.g", f2.to_str().unwrap(), "--row-kind-column", "op"]);
    let out =
        ok(&wh, &["get", "db.g", "--key", "id=5,dt=2024-01-01", "--key", "dt=2024-01-02,id=5", "--format", "jsonl"]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![
            r#"{"id":5,"dt":"2024-01-01","name":"FIVE","price":"9.99"}"#,
            r#"{"id":5,"dt":"2024-01-02","name":"five-b","price":null}"#
        ]
    );
    // A deleted key has no row now, and its row as of snapshot 1.
    let o = dyntable(&wh, &["get", "db.g", "--key", "id=6,dt=2024-01-01", "--format", "jsonl"]);
    assert!(o.status.success());
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no row for key id=6,dt=2024-01-01"));
    let out = ok(&wh, &["get", "db.g", "--key", "id=6,dt=2024-01-01", "--snapshot", "1", "--format", "jsonl"]);
    assert_eq!(out.trim(), r#"{"id":6,"dt":"2024-01-01","name":"six","price":"2.00"}"#);
    let table = ok(&wh, &["get", "db.g", "--key", "id=5,dt=2024-01-01"]);
    assert!(table.contains("FIVE") && table.contains("1 rows"), "{table}");

    let e = fails(&wh, &["get", "db.g", "--key", "id=5"]);
    assert!(e.contains("`dt` is missing"), "{e}");
    let e = fails(&wh, &["get", "db.g", "--key", "id=5,dt=2024-01-01,nope=1"]);
    assert!(e.contains("no column `nope`"), "{e}");
    let e = fails(&wh, &["get", "db.g", "--key", "id=5,dt=2024-01-01,name=x"]);
    assert!(e.contains("`name` is not part of the primary key"), "{e}");
    let e = fails(&wh, &["get", "db.g", "--key", "id=five,dt=2024-01-01"]);
    assert!(e.contains("`five`") && e.contains("column `id`") && e.contains("BIGINT"), "{e}");
    let e = fails(&wh, &["get", "db.g", "--key", "id=5,dt=yesterday"]);
    assert!(e.contains("`yesterday`") && e.contains("column `dt`") && e.contains("DATE"), "{e}");
    let e = fails(&wh, &["get", "db.g", "--key", "id=5,dt=2024-01-01", "--snapshot", "9"]);
    assert!(e.contains("snapshot 9"), "{e}");
}
