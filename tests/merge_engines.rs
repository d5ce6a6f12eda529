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
            // `last` (last_non_null_value by default): the retraction carries a null, which (as Java 0.9) does
            // not clear it (`tests/interop_aggregates.rs` checks every function's retraction against Java).
            canon(&[json!({"id": 1, "total": {"$decimal": "2.75"}, "hi": 9, "lo": 1, "names": "a,b", "ok": true, "tags": ["x"], "attrs": [["k", 2]], "first": "f2", "last": "l1"})])
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

/// Partial-update with aggregation, as Java Paimon 0.9 merges it (each expected row below is what Java 0.9 read
/// for the same commits; `/tmp/pua` of the session that checked them): a sequence group's member folds with
/// its function in the group's sequence order, an older row before what was folded (`aggReversed`).
#[test]
fn partial_update_aggregation_in_sequence_order() {
    rt().block_on(async {
        let commits = |b1: Value, b2: Value| {
            vec![
                vec![json!({"id": 1, "a": 5, "b": b1, "_op": "+I"})],
                vec![json!({"id": 1, "a": 3, "b": b2, "_op": "+I"})],
                vec![json!({"id": 1, "c": 5, "d": 1, "_op": "+I"})],
                vec![json!({"id": 1, "c": 3, "d": 7, "_op": "+I"})],
            ]
        };
        for (function, b) in [
            ("first_value", 20),
            ("last_value", 10),
            ("last_non_null_value", 10),
            ("max", 20),
            ("min", 10),
            ("sum", 30),
        ] {
            let options = [
                ("merge-engine", "partial-update"),
                ("fields.a.sequence-group", "b"),
                ("fields.b.aggregate-function", function),
                ("fields.c.sequence-group", "d"),
                ("fields.d.aggregate-function", "sum"),
            ];
            let schema = "id BIGINT NOT NULL, a INT, b INT, c INT, d INT";
            let got = run(&format!("pua_{function}"), schema, &options, &commits(json!(10), json!(20))).await;
            assert_eq!(got, canon(&[json!({"id": 1, "a": 5, "b": b, "c": 5, "d": 8})]), "{function}");
        }
        let options = [
            ("merge-engine", "partial-update"),
            ("fields.a.sequence-group", "b"),
            ("fields.b.aggregate-function", "listagg"),
            ("fields.c.sequence-group", "d"),
            ("fields.d.aggregate-function", "sum"),
        ];
        let got = run(
            "pua_listagg",
            "id BIGINT NOT NULL, a INT, b STRING, c INT, d INT",
            &options,
            &commits(json!("x10"), json!("x20")),
        )
        .await;
        assert_eq!(got, canon(&[json!({"id": 1, "a": 5, "b": "x20,x10", "c": 5, "d": 8})]));
    });
}

/// `fields.default-aggregate-function` on partial-update applies to every column without its own function but
/// the primary key and the sequence fields (Java 0.9 also folds the sequence field itself, reading `a` = 3 here,
/// which makes its result depend on the column order; later Paimon versions leave sequence fields alone, as
/// dyntable does); a column outside every group folds every insert, nulls included; a function needs a group.
#[test]
fn partial_update_default_aggregation() {
    rt().block_on(async {
        let options = [
            ("merge-engine", "partial-update"),
            ("fields.a.sequence-group", "b,c"),
            ("fields.default-aggregate-function", "sum"),
        ];
        let got = run(
            "pud_sum",
            "id BIGINT NOT NULL, a INT, b INT, c INT, e INT",
            &options,
            &[
                vec![json!({"id": 1, "a": 1, "b": 10, "c": 100, "e": 1000, "_op": "+I"})],
                vec![json!({"id": 1, "a": 2, "b": 20, "c": 200, "e": 2000, "_op": "+I"})],
            ],
        )
        .await;
        assert_eq!(got, canon(&[json!({"id": 1, "a": 2, "b": 30, "c": 300, "e": 3000})]));
        let options = [
            ("merge-engine", "partial-update"),
            ("fields.a.sequence-group", "b"),
            ("fields.default-aggregate-function", "last_value"),
        ];
        let got = run(
            "pud_last",
            "id BIGINT NOT NULL, a INT, b INT, e INT",
            &options,
            &[
                vec![json!({"id": 1, "a": 1, "b": 10, "e": 100, "_op": "+I"})],
                vec![json!({"id": 1, "a": 2, "b": null, "e": null, "_op": "+I"})],
            ],
        )
        .await;
        assert_eq!(got, canon(&[json!({"id": 1, "a": 2, "b": null, "e": null})]));
        // A function on a column outside the groups (another column has one).
        let options = [
            ("merge-engine", "partial-update"),
            ("fields.a.sequence-group", "c"),
            ("fields.b.aggregate-function", "sum"),
        ];
        let got = run(
            "pud_outside",
            "id BIGINT NOT NULL, a INT, b INT, c INT",
            &options,
            &[
                vec![json!({"id": 1, "a": 1, "b": 10, "c": 100, "_op": "+I"})],
                vec![json!({"id": 1, "a": 2, "b": 20, "c": 200, "_op": "+I"})],
            ],
        )
        .await;
        assert_eq!(got, canon(&[json!({"id": 1, "a": 2, "b": 30, "c": 200})]));
        // No sequence group at all: refused (Java: "Must use sequence group for aggregation functions.").
        let catalog = memory_catalog();
        for (i, opts) in [
            vec![("merge-engine", "partial-update"), ("fields.v.aggregate-function", "sum")],
            vec![("merge-engine", "partial-update"), ("fields.default-aggregate-function", "sum")],
        ]
        .into_iter()
        .enumerate()
        {
            let e = create(&catalog, &format!("db.nogroup{i}"), "id BIGINT NOT NULL, v INT", &["id"], &[], &opts)
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains("Must use sequence group") && e.contains("aggregate-function"), "{e}");
        }
    });
}

/// Retractions on partial-update with aggregation (Java 0.9's results): a retraction of a group retracts its
/// aggregated members whatever its sequence, nulls its other members and moves the sequence only when not
/// older, skips the group when its sequence is null, and never deletes the row.
#[test]
fn partial_update_aggregation_retractions() {
    rt().block_on(async {
        let options = [
            ("merge-engine", "partial-update"),
            ("fields.a.sequence-group", "b"),
            ("fields.b.aggregate-function", "sum"),
        ];
        let schema = "id BIGINT NOT NULL, a INT, b INT";
        let base = || {
            vec![
                vec![json!({"id": 1, "a": 1, "b": 10, "_op": "+I"})],
                vec![json!({"id": 1, "a": 2, "b": 5, "_op": "+I"})],
            ]
        };
        for (name, last, a, b) in [
            ("update_before", json!({"id": 1, "a": 3, "b": 5, "_op": "-U"}), 3, 10),
            ("delete", json!({"id": 1, "a": 3, "b": 5, "_op": "-D"}), 3, 10),
            ("older", json!({"id": 1, "a": 1, "b": 5, "_op": "-U"}), 2, 10),
            ("null_sequence", json!({"id": 1, "a": null, "b": 5, "_op": "-U"}), 2, 15),
        ] {
            let mut commits = base();
            commits.push(vec![last]);
            let got = run(&format!("pur_{name}"), schema, &options, &commits).await;
            assert_eq!(got, canon(&[json!({"id": 1, "a": a, "b": b})]), "{name}");
        }
        // A member without a function is nulled by a retraction that is not older.
        let options = [
            ("merge-engine", "partial-update"),
            ("fields.a.sequence-group", "b,c"),
            ("fields.c.aggregate-function", "sum"),
        ];
        let got = run(
            "pur_member",
            "id BIGINT NOT NULL, a INT, b INT, c INT",
            &options,
            &[
                vec![json!({"id": 1, "a": 1, "b": 10, "c": 100, "_op": "+I"})],
                vec![json!({"id": 1, "a": 2, "b": 5, "c": 50, "_op": "-U"})],
            ],
        )
        .await;
        assert_eq!(got, canon(&[json!({"id": 1, "a": 2, "b": null, "c": 50})]));
        // A null group sequence leaves the group alone.
        let got = run(
            "pur_null_insert",
            "id BIGINT NOT NULL, a INT, b INT",
            &[
                ("merge-engine", "partial-update"),
                ("fields.a.sequence-group", "b"),
                ("fields.b.aggregate-function", "sum"),
            ],
            &[
                vec![json!({"id": 1, "a": 1, "b": 10, "_op": "+I"})],
                vec![json!({"id": 1, "a": null, "b": 7, "_op": "+I"})],
            ],
        )
        .await;
        assert_eq!(got, canon(&[json!({"id": 1, "a": 1, "b": 10})]));
    });
}

/// `collect` and `merge_map` in a sequence group (Java 0.9): an older row's elements are appended after the
/// collected ones, its map entries never replace existing keys; a null-sequence row is skipped.
#[test]
fn partial_update_collect_and_merge_map() {
    rt().block_on(async {
        for (distinct, expect) in [("false", json!([1, 2, 3, 1, 9])), ("true", json!([1, 2, 3, 9]))] {
            let options = [
                ("merge-engine", "partial-update"),
                ("fields.a.sequence-group", "b,m"),
                ("fields.b.aggregate-function", "collect"),
                ("fields.b.distinct", distinct),
                ("fields.m.aggregate-function", "merge_map"),
            ];
            let got = run(
                &format!("puc_{distinct}"),
                "id BIGINT NOT NULL, a INT, b ARRAY<INT>, m MAP<INT, STRING>",
                &options,
                &[
                    vec![json!({"id": 1, "a": 1, "b": [1, 2], "m": {"1": "x"}, "_op": "+I"})],
                    vec![json!({"id": 1, "a": 2, "b": [3, 1], "m": {"2": "y"}, "_op": "+I"})],
                    vec![json!({"id": 1, "a": 0, "b": [9], "m": {"1": "old", "3": "z"}, "_op": "+I"})],
                    vec![json!({"id": 1, "a": null, "b": [7], "m": {"4": "w"}, "_op": "+I"})],
                ],
            )
            .await;
            // Map entries compare as a set (a map has no order; Java printed its own).
            assert_eq!(got.len(), 1);
            let mut row: Value = serde_json::from_str(&got[0]).unwrap();
            row["m"].as_array_mut().unwrap().sort_by_key(|e| e[0].as_i64());
            assert_eq!(row, json!({"id": 1, "a": 2, "b": expect, "m": [[1, "x"], [2, "y"], [3, "z"]]}), "{distinct}");
        }
    });
}

/// `rbm32` (Java Paimon 0.9's `FieldRoaringBitmap32Agg`): the union of Roaring bitmaps in the portable format.
/// The inputs are the bytes Java's `RoaringBitmap` writes for {1, 2, 3} and {3, 4}; Java's own merge writes the
/// union run-optimized (`3b30...`), dyntable as an array container (`3a30...`, what Java writes for
/// `bitmapOf(1, 2, 3, 4)` without `runOptimize`): the same bitmap, which both read. A run container written by
/// Java reads back too (the union with {5}).
#[test]
fn rbm32_unions_roaring_bitmaps_as_java() {
    rt().block_on(async {
        let java_123 = "3a300000010000000000020010000000010002000300";
        let java_34 = "3a30000001000000000001001000000003000400";
        let java_union_runs = "3b3000000100000300010001000300";
        let options = [("merge-engine", "aggregation"), ("fields.v.aggregate-function", "rbm32")];
        let got = run(
            "rbm",
            "id BIGINT NOT NULL, v BYTES",
            &options,
            &[vec![json!({"id": 1, "v": java_123, "_op": "+I"})], vec![json!({"id": 1, "v": java_34, "_op": "+I"})]],
        )
        .await;
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("3a3000000100000000000300100000000100020003000400"), "{got:?}");
        let got = run(
            "rbm_runs",
            "id BIGINT NOT NULL, v BYTES",
            &options,
            &[
                vec![json!({"id": 1, "v": java_union_runs, "_op": "+I"})],
                vec![json!({"id": 1, "v": "3a300000010000000000000010000000" .to_string() + "0500", "_op": "+I"})],
            ],
        )
        .await;
        assert!(got[0].contains("3a30000001000000000004001000000001000200030004000500"), "{got:?}");
        // A single value stays as written (Java returns it unchanged).
        let got = run(
            "rbm_one",
            "id BIGINT NOT NULL, v BYTES",
            &options,
            &[vec![json!({"id": 1, "v": java_union_runs, "_op": "+I"})]],
        )
        .await;
        assert!(got[0].contains(java_union_runs), "{got:?}");
        // Functions Java has that dyntable does not fold are refused by name.
        let catalog = memory_catalog();
        let e = create(
            &catalog,
            "db.rbm64",
            "id BIGINT NOT NULL, v BYTES",
            &["id"],
            &[],
            &[("merge-engine", "aggregation"), ("fields.v.aggregate-function", "rbm64")],
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not support Paimon's `rbm64`") && e.contains("Roaring64Bitmap"), "{e}");
    });
}
