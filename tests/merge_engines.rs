//! The merge engines end to end: the same results whether versions meet in the write buffer (one commit)
//! or on read (separate commits, several sorted runs), and invalid engine options rejected at creation.

mod common;

use common::*;
use dyntable_storage::{FileStoreTable, ScanFrom};
use serde_json::{json, Value};

/// Writes `commits` (each a list of rows) and returns the latest rows; also writes all rows in one commit to
/// a twin table and checks the two agree (buffer merge == read merge).
async fn run(name: &str, schema: &str, options: &[(&str, &str)], commits: &[Vec<Value>]) -> Vec<String> {
    let catalog = memory_catalog();
    let mut results = Vec::new();
    for (suffix, split) in [("a", true), ("b", false)] {
        let t: FileStoreTable =
            create(&catalog, &format!("db.{name}_{suffix}"), schema, &["id"], &[], options).await.unwrap();
        let mut w = t.writer().await.unwrap().with_row_kind_column(Some("_op".into()));
        for rows in commits {
            w.write(&batch(&t, rows)).await.unwrap();
            if split {
                w.commit().await.unwrap();
            }
        }
        w.commit().await.unwrap();
        results.push(lines(&t, &ScanFrom::Latest).await);
    }
    assert_eq!(results[0], results[1], "{name}: merging on read and in the write buffer agree");
    results.remove(0)
}

/// first-row keeps the oldest insert and ignores later versions and retractions.
#[test]
fn first_row() {
    rt().block_on(async {
        let got = run(
            "fr",
            "id BIGINT NOT NULL, v STRING",
            &[("merge-engine", "first-row")],
            &[
                vec![json!({"id": 1, "v": "first", "_op": "+I"})],
                vec![json!({"id": 1, "v": "second", "_op": "+I"}), json!({"id": 2, "v": "x", "_op": "+I"})],
                vec![json!({"id": 1, "_op": "-D"})],
            ],
        )
        .await;
        assert_eq!(got, canon(&[json!({"id": 1, "v": "first"}), json!({"id": 2, "v": "x"})]));
    });
}

/// partial-update: non-null fields overwrite; a delete removes the row with remove-record-on-delete.
#[test]
fn partial_update() {
    rt().block_on(async {
        let got = run(
            "pu",
            "id BIGINT NOT NULL, a STRING, b INT, c DOUBLE",
            &[("merge-engine", "partial-update"), ("partial-update.remove-record-on-delete", "true")],
            &[
                vec![json!({"id": 1, "a": "a1", "_op": "+I"}), json!({"id": 2, "a": "gone", "b": 1, "_op": "+I"})],
                vec![json!({"id": 1, "b": 10, "_op": "+I"}), json!({"id": 2, "_op": "-D"})],
                vec![json!({"id": 1, "a": "a2", "c": 0.5, "_op": "+I"})],
            ],
        )
        .await;
        assert_eq!(got, canon(&[json!({"id": 1, "a": "a2", "b": 10, "c": 0.5})]));
    });
}

/// partial-update with a sequence group: the group's fields move together, only from rows whose group
/// sequence is not older.
#[test]
fn partial_update_sequence_group() {
    rt().block_on(async {
        let got = run(
            "psg",
            "id BIGINT NOT NULL, a STRING, b STRING, g INT, x STRING",
            &[("merge-engine", "partial-update"), ("fields.g.sequence-group", "a,b")],
            &[
                vec![json!({"id": 1, "a": "a5", "b": "b5", "g": 5, "x": "x1", "_op": "+I"})],
                vec![json!({"id": 1, "a": "old", "b": "old", "g": 3, "x": "x2", "_op": "+I"})],
                vec![json!({"id": 1, "a": "a7", "b": null, "g": 7, "_op": "+I"})],
            ],
        )
        .await;
        assert_eq!(got, canon(&[json!({"id": 1, "a": "a7", "b": null, "g": 7, "x": "x2"})]));
    });
}

/// aggregation: per-field functions with retraction where supported.
#[test]
fn aggregation() {
    rt().block_on(async {
        let options = [
            ("merge-engine", "aggregation"),
            ("fields.total.aggregate-function", "sum"),
            ("fields.hi.aggregate-function", "max"),
            ("fields.lo.aggregate-function", "min"),
            ("fields.hi.ignore-retract", "true"),
            ("fields.lo.ignore-retract", "true"),
            ("fields.names.aggregate-function", "listagg"),
            ("fields.names.ignore-retract", "true"),
            ("fields.ok.aggregate-function", "bool_and"),
            ("fields.ok.ignore-retract", "true"),
            ("fields.tags.aggregate-function", "collect"),
            ("fields.tags.distinct", "true"),
            ("fields.attrs.aggregate-function", "merge_map"),
            ("fields.first.aggregate-function", "first_non_null_value"),
            ("fields.first.ignore-retract", "true"),
        ];
        let got = run(
            "agg",
            "id BIGINT NOT NULL, total DECIMAL(10, 2), hi INT, lo INT, names STRING, ok BOOLEAN, tags ARRAY<STRING>, attrs MAP<STRING, INT>, first STRING, last STRING",
            &options,
            &[
                vec![json!({"id": 1, "total": "1.50", "hi": 3, "lo": 3, "names": "a", "ok": true, "tags": ["x"], "attrs": {"k": 1}, "first": null, "last": "l1", "_op": "+I"})],
                vec![json!({"id": 1, "total": "2.25", "hi": 9, "lo": 1, "names": "b", "ok": true, "tags": ["x", "y"], "attrs": {"k": 2, "j": 5}, "first": "f2", "last": null, "_op": "+I"})],
                vec![json!({"id": 1, "total": "1.00", "hi": 100, "lo": -100, "names": "c", "ok": false, "tags": ["y"], "attrs": {"j": 5}, "first": "f3", "last": null, "_op": "-U"})],
            ],
        )
        .await;
        assert_eq!(
            got,
            canon(&[json!({"id": 1, "total": {"$decimal": "2.75"}, "hi": 9, "lo": 1, "names": "a,b", "ok": true, "tags": ["x"], "attrs": [["k", 2]], "first": "f2", "last": null})])
        );
    });
}

/// Invalid engine options are rejected at creation, naming the option and the allowed values.
#[test]
fn invalid_engine_options() {
    rt().block_on(async {
        let catalog = memory_catalog();
        let bad = [
            (vec![("merge-engine", "aggregation"), ("fields.v.aggregate-function", "median")], "median"),
            (vec![("merge-engine", "aggregation"), ("fields.v.aggregate-function", "sum")], "cannot aggregate"),
            (vec![("merge-engine", "partial-update"), ("fields.nope.sequence-group", "v")], "unknown field `nope`"),
            (vec![("num-sorted-run.compaction-trigger", "0")], "num-sorted-run.compaction-trigger"),
            (
                vec![("num-sorted-run.compaction-trigger", "5"), ("num-sorted-run.stop-trigger", "3")],
                "num-sorted-run.stop-trigger",
            ),
        ];
        for (i, (opts, want)) in bad.into_iter().enumerate() {
            let e = create(&catalog, &format!("db.bad{i}"), "id BIGINT NOT NULL, v STRING", &["id"], &[], &opts)
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{opts:?}: {e}");
        }
        // partial-update refuses deletes unless configured to take them.
        let t = create(
            &catalog,
            "db.pu",
            "id BIGINT NOT NULL, v STRING",
            &["id"],
            &[],
            &[("merge-engine", "partial-update")],
        )
        .await
        .unwrap();
        let mut w = t.writer().await.unwrap().with_row_kind_column(Some("_op".into()));
        w.write(&batch(&t, &[json!({"id": 1, "v": "a", "_op": "+I"}), json!({"id": 1, "_op": "-D"})])).await.unwrap();
        let e = w.commit().await.unwrap_err().to_string();
        assert!(e.contains("ignore-delete"), "{e}");
    });
}

/// first-row ignores a delete that follows the first insert in the same write buffer.
#[test]
fn first_row_delete_in_same_buffer() {
    rt().block_on(async {
        let got = run(
            "fr2",
            "id BIGINT NOT NULL, v STRING",
            &[("merge-engine", "first-row")],
            &[vec![
                json!({"id": 32, "v": "x", "_op": "+U"}),
                json!({"id": 1, "v": "y", "_op": "+I"}),
                json!({"id": 32, "_op": "-D"}),
            ]],
        )
        .await;
        assert_eq!(got, canon(&[json!({"id": 1, "v": "y"}), json!({"id": 32, "v": "x"})]));
    });
}
