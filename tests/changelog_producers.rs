//! Changelog producers (`changelog-producer`): option validation, changelog files committed with snapshots, and
//! a seeded model test of every merge engine x producer with random upserts, partial rows, deletes, compactions
//! and writer restarts (the embedded log replays what a dropped writer acknowledged).
//!
//! What the model checks after every commit:
//! - `lookup`: applying the changes of the changelog files of snapshots 1..=S to an empty map reproduces the
//!   table at S, where every `-U`/`-D` must retract exactly the row the map holds and every `+I`/`+U` must add a
//!   key the map does not hold; a running SUM/COUNT by group over the stream with retractions equals a GROUP BY
//!   of the table; the embedded log carries the same changes (per key, in the same order) and applying it gives
//!   the table too.
//! - `full-compaction`: the same, against the max level of the LSM (the result of the last full compaction),
//!   and against the whole table after a full compaction with nothing written since.
//! - `input`: per key, the changelog rows are exactly the rows written (kinds and values, in order; deletes an
//!   `ignore-delete` engine's writer drops are not written).
//! - `none`: no snapshot has changelog files.
//!
//! Replay a failure with `DYNTABLE_SEED=<seed> cargo test --test changelog_producers`.

mod common;

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType as ArrowType, Int64Type, Int8Type};
use common::{batch, create, rt};
use dyntable::{Catalog, Identifier};
use dyntable_storage::producer::read_changelog;
use dyntable_storage::stream::{ChangeReader, StartFrom};
use dyntable_storage::{FileStoreTable, RowKind, ScanFrom, TableWriter};
use futures::TryStreamExt;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// `num-levels` of the model's tables.
const NUM_LEVELS: i32 = 4;
const SCHEMA: &str = "p STRING NOT NULL, k BIGINT NOT NULL, v STRING, n BIGINT, g INT";

type Key = (String, i64);
type Vals = (Option<String>, Option<i64>, Option<i64>);
type Change = (RowKind, Key, Vals);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Engine {
    Deduplicate,
    DeduplicateSequenceField,
    FirstRow,
    PartialUpdate,
    PartialUpdateGroups,
    /// Partial-update with an aggregated member (`n` sums in `g`'s sequence order).
    PartialUpdateGroupAgg,
    Aggregation,
}

impl Engine {
    const ALL: [Engine; 7] = [
        Engine::Deduplicate,
        Engine::DeduplicateSequenceField,
        Engine::FirstRow,
        Engine::PartialUpdate,
        Engine::PartialUpdateGroups,
        Engine::PartialUpdateGroupAgg,
        Engine::Aggregation,
    ];

    fn options(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Engine::Deduplicate => vec![],
            Engine::DeduplicateSequenceField => vec![("sequence.field", "g")],
            Engine::FirstRow => vec![("merge-engine", "first-row")],
            // Retractions reach the merge engine, which ignores them.
            Engine::PartialUpdate => vec![("merge-engine", "partial-update"), ("partial-update.ignore-delete", "true")],
            // `v` updates only from rows whose `g` is not older; a retraction clears the group when newer.
            Engine::PartialUpdateGroups => vec![("merge-engine", "partial-update"), ("fields.g.sequence-group", "v")],
            Engine::PartialUpdateGroupAgg => vec![
                ("merge-engine", "partial-update"),
                ("fields.g.sequence-group", "v,n"),
                ("fields.n.aggregate-function", "sum"),
            ],
            Engine::Aggregation => vec![
                ("merge-engine", "aggregation"),
                ("fields.n.aggregate-function", "sum"),
                ("fields.g.aggregate-function", "max"),
                ("fields.g.ignore-retract", "true"),
                ("fields.v.ignore-retract", "true"),
            ],
        }
    }

    /// Whether rows may leave columns null (as partial rows).
    fn partial(self) -> bool {
        matches!(
            self,
            Engine::PartialUpdate | Engine::PartialUpdateGroups | Engine::PartialUpdateGroupAgg | Engine::Aggregation
        )
    }
}

fn local_catalog(dir: &tempfile::TempDir) -> Catalog {
    Catalog::open(dir.path().to_str().unwrap(), true).unwrap()
}

fn opt_str(a: &dyn Array, i: usize) -> Option<String> {
    let a = cast(a, &ArrowType::Utf8).unwrap();
    let s = a.as_string::<i32>();
    (!s.is_null(i)).then(|| s.value(i).to_string())
}

fn opt_i64(a: &dyn Array, i: usize) -> Option<i64> {
    let a = cast(a, &ArrowType::Int64).unwrap();
    let s = a.as_primitive::<Int64Type>();
    (!s.is_null(i)).then(|| s.value(i))
}

fn row_of(b: &RecordBatch, i: usize) -> (Key, Vals) {
    let col = |n: &str| b.column_by_name(n).unwrap_or_else(|| panic!("column {n}")).as_ref();
    (
        (opt_str(col("p"), i).unwrap(), opt_i64(col("k"), i).unwrap()),
        (opt_str(col("v"), i), opt_i64(col("n"), i), opt_i64(col("g"), i)),
    )
}

/// Changes from key-value batches (changelog files).
fn kv_changes(batches: &[RecordBatch]) -> Vec<Change> {
    let mut out = Vec::new();
    for b in batches {
        let kinds = b.column_by_name("_VALUE_KIND").unwrap().as_primitive::<Int8Type>();
        for i in 0..b.num_rows() {
            let (k, v) = row_of(b, i);
            out.push((RowKind::from_byte(kinds.value(i)).unwrap(), k, v));
        }
    }
    out
}

/// Changes from a change reader's batches (`rowkind` strings first).
fn reader_changes(b: &RecordBatch) -> Vec<Change> {
    let kinds = b.column(0).as_string::<i32>();
    (0..b.num_rows())
        .map(|i| {
            let (k, v) = row_of(b, i);
            (RowKind::parse(kinds.value(i)).unwrap(), k, v)
        })
        .collect()
}

async fn table_rows(t: &FileStoreTable, from: &ScanFrom) -> BTreeMap<Key, Vals> {
    let batches = t.scan_collect(from, None, None).await.unwrap();
    batches.iter().flat_map(|b| (0..b.num_rows()).map(|i| row_of(b, i))).collect()
}

/// The rows of the max level of every bucket at `snapshot` (the result of the last full compaction).
async fn max_level_rows(t: &FileStoreTable, snapshot: i64) -> BTreeMap<Key, Vals> {
    let max_level = NUM_LEVELS - 1;
    let mut plan = t.plan(&ScanFrom::Snapshot(snapshot), None).await.unwrap();
    for s in &mut plan.splits {
        s.files.retain(|f| f.level == max_level);
    }
    plan.splits.retain(|s| !s.files.is_empty());
    let read = t.new_read(None, None).unwrap();
    let batches: Vec<RecordBatch> = read.read_splits(plan.splits).try_collect().await.unwrap();
    batches.iter().flat_map(|b| (0..b.num_rows()).map(|i| row_of(b, i))).collect()
}

/// Applies exact changes, checking each retraction retracts the row held and each addition adds a new key.
fn apply_exact(map: &mut BTreeMap<Key, Vals>, changes: &[Change], what: &str) {
    for (kind, key, vals) in changes {
        if kind.is_retract() {
            let held = map.remove(key);
            assert_eq!(
                held.as_ref(),
                Some(vals),
                "{what}: {kind:?} of {key:?} retracts a row the stream does not hold"
            );
        } else {
            let before = map.insert(key.clone(), vals.clone());
            assert!(before.is_none(), "{what}: {kind:?} of {key:?} adds a key already held ({before:?})");
        }
    }
}

/// SUM(n) and COUNT(*) per `k % 3`.
type Groups = BTreeMap<i64, (i64, i64)>;

fn running_groups(groups: &mut Groups, changes: &[Change]) {
    for (kind, (_, k), (_, n, _)) in changes {
        let sign = if kind.is_retract() { -1 } else { 1 };
        let e = groups.entry(k % 3).or_default();
        e.0 += sign * n.unwrap_or(0);
        e.1 += sign;
    }
    groups.retain(|_, v| *v != (0, 0));
}

fn group_by(rows: &BTreeMap<Key, Vals>) -> Groups {
    let mut groups = Groups::new();
    for ((_, k), (_, n, _)) in rows {
        let e = groups.entry(k % 3).or_default();
        e.0 += n.unwrap_or(0);
        e.1 += 1;
    }
    groups
}

fn per_key(changes: &[Change]) -> HashMap<Key, Vec<(RowKind, Vals)>> {
    let mut out: HashMap<Key, Vec<(RowKind, Vals)>> = HashMap::new();
    for (kind, key, vals) in changes {
        out.entry(key.clone()).or_default().push((*kind, vals.clone()));
    }
    out
}

fn random_rows(rng: &mut SmallRng, engine: Engine) -> Vec<Value> {
    let n = rng.random_range(1..=5);
    (0..n)
        .map(|_| {
            let k = rng.random_range(0..12);
            let p = ["a", "b"][rng.random_range(0..2)];
            let op = match rng.random_range(0..100) {
                // Retractions for every engine. Two table behaviours once made a write-time changelog inexact, and
                // the `lookup` writer now drops the rows behind them (`Staged::retained`): with `sequence.field`,
                // a compaction dropping a delete at the max level while an older-sequence row sat in a newer
                // level-0 file made that row visible with no write (seed 7, key ("a", 1): -D g=0, -D g=5, +I g=3);
                // with aggregation, a retraction of an absent key folded into a retraction-only row that such a
                // compaction dropped (seed 99, key ("b", 1): -U n=-4, then +I n=3: 7, then 3 after the COMPACT).
                0..=59 => "+I",
                60..=74 => "+U",
                75..=82 => "-U",
                _ => "-D",
            };
            let partial = engine.partial() && rng.random_bool(0.35);
            let v = if partial && rng.random_bool(0.5) {
                Value::Null
            } else {
                json!(format!("v{}", rng.random_range(0..50)))
            };
            let n = if partial && v.is_string() { Value::Null } else { json!(rng.random_range(-4..10)) };
            let grouped = matches!(engine, Engine::PartialUpdateGroups | Engine::PartialUpdateGroupAgg);
            let g = if grouped && rng.random_bool(0.1) { Value::Null } else { json!(rng.random_range(0..6)) };
            json!({"_op": op, "p": p, "k": k, "v": v, "n": n, "g": g})
        })
        .collect()
}

fn written_change(row: &Value) -> Change {
    let kind = RowKind::parse(row["_op"].as_str().unwrap()).unwrap();
    (
        kind,
        (row["p"].as_str().unwrap().to_string(), row["k"].as_i64().unwrap()),
        (row["v"].as_str().map(str::to_string), row["n"].as_i64(), row["g"].as_i64()),
    )
}

async fn open_writer(t: &FileStoreTable) -> TableWriter {
    t.writer().await.unwrap().with_row_kind_column(Some("_op".into()))
}

/// Every change deliverable now from the table's log, from snapshot 1 on.
async fn log_changes(t: &FileStoreTable) -> Vec<Change> {
    let mut reader = ChangeReader::open(t, StartFrom::FromSnapshot(1)).await.unwrap();
    let mut out = Vec::new();
    while let Some(b) = reader.try_next().await.unwrap() {
        out.extend(reader_changes(&b.batch));
    }
    out
}

fn run_model(seed: u64, steps: usize, engine: Engine, producer: &str) {
    let what = format!("seed={seed} engine={engine:?} producer={producer} (replay with DYNTABLE_SEED={seed})");
    println!("{what}");
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        let mut options = vec![
            ("bucket", "2"),
            ("log.system", "embedded"),
            ("changelog-producer", producer),
            ("num-sorted-run.compaction-trigger", "3"),
            ("num-levels", "4"),
        ];
        options.extend(engine.options());
        let t = create(&catalog, "db.t", SCHEMA, &["p", "k"], &["p"], &options).await.unwrap();
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut w = open_writer(&t).await;
        let mut written: Vec<Change> = Vec::new();
        let mut stream: Vec<Change> = Vec::new();
        let mut map: BTreeMap<Key, Vals> = BTreeMap::new();
        let mut groups = Groups::new();
        let mut checked = 0i64;
        for step in 0..steps {
            let what = format!("{what} step {step}");
            match rng.random_range(0..100) {
                0..=54 => {
                    let rows = random_rows(&mut rng, engine);
                    w.write(&batch(&t, &rows)).await.unwrap_or_else(|e| panic!("{what}: write: {e}"));
                    // A merge engine told to ignore deletes (`*.ignore-delete`) has its writer drop them, as
                    // Java's sink does: they are not written, so they are not in the input changelog either.
                    let ignored = engine == Engine::PartialUpdate;
                    written.extend(rows.iter().map(written_change).filter(|c| !(ignored && c.0.is_retract())));
                }
                55..=74 => {
                    w.commit().await.unwrap_or_else(|e| panic!("{what}: commit: {e}"));
                }
                75..=84 => {
                    // A writer dropped before its commit: the log replays what it acknowledged.
                    drop(w);
                    let t2 = catalog.get_table(&Identifier::parse("db.t").unwrap()).await.unwrap();
                    w = open_writer(&t2).await;
                }
                _ => {
                    w.commit().await.unwrap_or_else(|e| panic!("{what}: commit: {e}"));
                    let full = producer == "full-compaction" || rng.random_bool(0.5);
                    t.compact(full, None).await.unwrap_or_else(|e| panic!("{what}: compact: {e}"));
                }
            }
            // Check every snapshot made since the last check.
            let latest = t.snapshot_manager().latest_id().await.unwrap().unwrap_or(0);
            while checked < latest {
                checked += 1;
                let snapshot = t.snapshot_manager().snapshot(checked).await.unwrap();
                let changes = kv_changes(&read_changelog(t.io(), t.schema(), &snapshot).await.unwrap());
                assert_eq!(
                    snapshot.changelog_record_count,
                    Some(changes.len() as i64),
                    "{what}: changelogRecordCount of snapshot {checked}"
                );
                assert_eq!(snapshot.changelog_manifest_list.is_some(), !changes.is_empty(), "{what}");
                stream.extend(changes.iter().cloned());
                let at = ScanFrom::Snapshot(checked);
                match producer {
                    "none" => assert!(changes.is_empty(), "{what}: producer none wrote a changelog"),
                    "input" => {}
                    _ => {
                        let snap_what = format!("{what} snapshot {checked}");
                        apply_exact(&mut map, &changes, &snap_what);
                        running_groups(&mut groups, &changes);
                        let expected = if producer == "lookup" {
                            table_rows(&t, &at).await
                        } else {
                            max_level_rows(&t, checked).await
                        };
                        if map != expected {
                            let (w, c) = (per_key(&written), per_key(&stream));
                            for k in expected.keys().chain(map.keys()) {
                                if map.get(k) != expected.get(k) {
                                    eprintln!("key {k:?}\n written {:?}\n changes {:?}", w.get(k), c.get(k));
                                    for id in 1..=checked {
                                        let s = t.snapshot_manager().snapshot(id).await.unwrap();
                                        let r = table_rows(&t, &ScanFrom::Snapshot(id)).await;
                                        let m = max_level_rows(&t, id).await;
                                        let c = kv_changes(&read_changelog(t.io(), t.schema(), &s).await.unwrap());
                                        let c: Vec<_> = c.iter().filter(|x| &x.1 == k).collect();
                                        let files: Vec<_> = t
                                            .files(&ScanFrom::Snapshot(id))
                                            .await
                                            .unwrap()
                                            .iter()
                                            .filter(|e| e.bucket == 0 || e.bucket == 1)
                                            .map(|e| (e.bucket, e.file.level, e.file.file_name[..16].to_string()))
                                            .collect();
                                        eprintln!(
                                            "  snapshot {id} {:?} {}: table {:?} max level {:?} changes {c:?} files {files:?}",
                                            s.commit_kind,
                                            s.commit_user,
                                            r.get(k),
                                            m.get(k)
                                        );
                                    }
                                }
                            }
                        }
                        assert_eq!(map, expected, "{snap_what}: the changelog applied differs from the table");
                        assert_eq!(groups, group_by(&expected), "{snap_what}: running SUM/COUNT by group");
                    }
                }
            }
        }
        w.commit().await.unwrap();
        w.finish().await.unwrap();
        drop(w);
        let latest = t.snapshot_manager().latest_id().await.unwrap().unwrap_or(0);
        for id in checked + 1..=latest {
            let snapshot = t.snapshot_manager().snapshot(id).await.unwrap();
            let changes = kv_changes(&read_changelog(t.io(), t.schema(), &snapshot).await.unwrap());
            stream.extend(changes.iter().cloned());
            if producer == "lookup" || producer == "full-compaction" {
                apply_exact(&mut map, &changes, &what);
            }
        }
        match producer {
            "input" => {
                // Per key, the changelog rows are the rows written, in order (replayed ones included).
                assert_eq!(per_key(&stream), per_key(&written), "{what}: input changelog differs from the input");
            }
            "lookup" => {
                assert_eq!(map, table_rows(&t, &ScanFrom::Latest).await, "{what}: final table");
                // The log carries the same changes: per key, the same sequence; applied, the same table.
                let logged = log_changes(&t).await;
                assert_eq!(per_key(&logged), per_key(&stream), "{what}: log and changelog files differ");
                let mut from_log = BTreeMap::new();
                apply_exact(&mut from_log, &logged, &format!("{what} (log)"));
                assert_eq!(from_log, map, "{what}: the log applied differs from the table");
            }
            "full-compaction" => {
                // A full compaction with nothing written since: the stream is the table.
                let (id, _) = t.compact(true, None).await.unwrap();
                if let Some(id) = id {
                    let snapshot = t.snapshot_manager().snapshot(id).await.unwrap();
                    let changes = kv_changes(&read_changelog(t.io(), t.schema(), &snapshot).await.unwrap());
                    apply_exact(&mut map, &changes, &what);
                    running_groups(&mut groups, &changes);
                }
                let rows = table_rows(&t, &ScanFrom::Latest).await;
                assert_eq!(map, rows, "{what}: after a last full compaction");
            }
            _ => {}
        }
    });
}

fn seeds() -> Vec<u64> {
    match std::env::var("DYNTABLE_SEED") {
        Ok(s) => vec![s.parse().expect("DYNTABLE_SEED is a number")],
        Err(_) => vec![7, 1234],
    }
}

/// Every engine, or the one `DYNTABLE_ENGINE` names (its Debug name).
fn engines() -> Vec<Engine> {
    match std::env::var("DYNTABLE_ENGINE") {
        Ok(e) => Engine::ALL.into_iter().filter(|x| format!("{x:?}") == e).collect(),
        Err(_) => Engine::ALL.to_vec(),
    }
}

#[test]
fn model_lookup() {
    for seed in seeds() {
        for engine in engines() {
            run_model(seed, 120, engine, "lookup");
        }
    }
}

#[test]
fn model_full_compaction() {
    for seed in seeds() {
        for engine in engines() {
            run_model(seed, 120, engine, "full-compaction");
        }
    }
}

#[test]
fn model_input_and_none() {
    for seed in seeds() {
        for engine in engines() {
            run_model(seed, 80, engine, "input");
            run_model(seed, 40, engine, "none");
        }
    }
}

/// `sequence.field`: a row older (by the field) than a delete of its key stays deleted, through commits and
/// compactions, and the lookup changelog agrees.
#[test]
fn sequence_field_delete_wins_over_an_older_insert() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        let options = [("bucket", "1"), ("changelog-producer", "lookup"), ("sequence.field", "g")];
        let t = create(&catalog, "db.t", SCHEMA, &["p", "k"], &["p"], &options).await.unwrap();
        let mut w = open_writer(&t).await;
        let row = |op: &str, v: &str, g: i64| json!({"_op": op, "p": "a", "k": 1, "v": v, "n": 1, "g": g});
        w.write(&batch(&t, &[row("+I", "x", 1)])).await.unwrap();
        w.commit().await.unwrap();
        w.write(&batch(&t, &[row("-D", "x", 5)])).await.unwrap();
        w.commit().await.unwrap();
        t.compact(false, None).await.unwrap();
        w.write(&batch(&t, &[row("+I", "y", 3)])).await.unwrap();
        w.commit().await.unwrap();
        let rows = table_rows(&t, &ScanFrom::Latest).await;
        let mut map = BTreeMap::new();
        let latest = t.snapshot_manager().latest_id().await.unwrap().unwrap();
        for id in 1..=latest {
            let snapshot = t.snapshot_manager().snapshot(id).await.unwrap();
            apply_exact(&mut map, &kv_changes(&read_changelog(t.io(), t.schema(), &snapshot).await.unwrap()), "seq");
        }
        assert_eq!(map, rows);
        t.compact(true, None).await.unwrap();
        assert_eq!(table_rows(&t, &ScanFrom::Latest).await, rows, "a full compaction changed the table");
    });
}

/// A batch the merge engine rejects in one bucket changes no key state in the others: the next change of a
/// key in a bucket that came before the failing one starts from the state before the rejected batch.
#[test]
fn a_rejected_batch_leaves_the_key_states_as_they_were() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        let options = [("bucket", "1"), ("changelog-producer", "lookup"), ("merge-engine", "partial-update")];
        let t = create(&catalog, "db.t", SCHEMA, &["p", "k"], &["p"], &options).await.unwrap();
        let mut w = open_writer(&t).await;
        let row = |op: &str, p: &str, v: &str| json!({"_op": op, "p": p, "k": 1, "v": v, "n": 1, "g": 1});
        w.write(&batch(&t, &[row("+I", "a", "w"), row("+I", "b", "w")])).await.unwrap();
        w.commit().await.unwrap();
        // Partition `a` sorts first and is fine; partition `b`'s delete (of a row it has: a delete of a key with
        // no row is dropped before the merge engine sees it) is rejected by partial-update.
        let e = w.write(&batch(&t, &[row("+I", "a", "x"), row("-D", "b", "z")])).await.unwrap_err();
        assert!(e.to_string().contains("delete"), "{e}");
        w.write(&batch(&t, &[row("+I", "a", "y")])).await.unwrap();
        w.commit().await.unwrap();
        let latest = t.snapshot_manager().latest().await.unwrap().unwrap();
        let changes = kv_changes(&read_changelog(t.io(), t.schema(), &latest).await.unwrap());
        let kinds_and_v: Vec<(RowKind, Option<String>)> = changes.iter().map(|c| (c.0, c.2 .0.clone())).collect();
        assert_eq!(
            kinds_and_v,
            vec![(RowKind::UpdateBefore, Some("w".into())), (RowKind::UpdateAfter, Some("y".into()))],
            "{changes:?}"
        );
    });
}

/// `changelog-producer` and its options are validated when a table is created (ALTER TABLE validates the next
/// schema the same way, `TableSchema::validate`): unknown modes, `lookup`/`full-compaction` without a primary
/// key, malformed `row-deduplicate` and `delta-commits`; errors name the option.
#[test]
fn options_are_validated() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        let append = "id BIGINT, name STRING";
        for (i, (pk, options, needle)) in [
            (vec![], vec![("changelog-producer", "lookup")], "primary key"),
            (vec![], vec![("changelog-producer", "full-compaction")], "primary key"),
            (vec!["id"], vec![("changelog-producer", "kafka")], "allowed: none, input, lookup, full-compaction"),
            (vec!["id"], vec![("changelog-producer.row-deduplicate", "yes")], "true or false"),
            (vec!["id"], vec![("full-compaction.delta-commits", "-1")], "positive integer"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut opts = vec![("bucket", "1")];
            opts.extend(options.iter().copied());
            let schema = if pk.is_empty() { append } else { "id BIGINT NOT NULL, name STRING" };
            let e = create(&catalog, &format!("db.t{i}"), schema, &pk, &[], &opts).await.unwrap_err().to_string();
            assert!(e.contains(options[0].0) && e.contains(options[0].1) && e.contains(needle), "{e}");
        }
        // `input` on an append table is accepted (its data files are its changelog: no changelog files).
        let t = create(&catalog, "db.ok", append, &[], &[], &[("changelog-producer", "input")]).await.unwrap();
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &[json!({"id": 1, "name": "a"})])).await.unwrap();
        w.commit().await.unwrap();
        let s = t.snapshot_manager().latest().await.unwrap().unwrap();
        assert_eq!((s.changelog_manifest_list, s.changelog_record_count), (None, Some(0)));
    });
}

/// A `lookup` writer dropped before its commit and reopened replays the log: the next commit's changelog files
/// hold exactly the changes the log held (in order, per bucket), the table is right, and an overwrite is refused.
#[test]
fn lookup_writer_restart_replays_exact_changes() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        let options = [("bucket", "1"), ("log.system", "embedded"), ("changelog-producer", "lookup")];
        let t = create(&catalog, "db.t", SCHEMA, &["p", "k"], &["p"], &options).await.unwrap();
        let row = |op: &str, k: i64, v: &str| json!({"_op": op, "p": "a", "k": k, "v": v, "n": k, "g": 0});
        let mut w = open_writer(&t).await;
        w.write(&batch(&t, &[row("+I", 1, "x"), row("+I", 2, "y")])).await.unwrap();
        w.commit().await.unwrap();
        w.write(&batch(&t, &[row("+U", 1, "x2"), row("-D", 2, "")])).await.unwrap();
        w.write(&batch(&t, &[row("+I", 1, "x3"), row("+I", 3, "z")])).await.unwrap();
        let before = log_changes(&t).await; // nothing committed yet past snapshot 1: transactional readers see 2
        assert_eq!(before.len(), 2);
        drop(w);
        let t = catalog.get_table(&Identifier::parse("db.t").unwrap()).await.unwrap();
        let mut w = open_writer(&t).await;
        // Two logged batches, each 3 changes and 2 input rows (a lookup log batch's records are both).
        assert_eq!(w.log_recovery().replayed_records, 10);
        w.write(&batch(&t, &[row("+I", 3, "z2")])).await.unwrap();
        let id = w.commit().await.unwrap().unwrap();
        let snapshot = t.snapshot_manager().snapshot(id).await.unwrap();
        let files = kv_changes(&read_changelog(t.io(), t.schema(), &snapshot).await.unwrap());
        let key = |k: i64| ("a".to_string(), k);
        let vals = |v: &str, n: i64| (Some(v.to_string()), Some(n), Some(0));
        let expected = vec![
            (RowKind::UpdateBefore, key(1), vals("x", 1)),
            (RowKind::UpdateAfter, key(1), vals("x2", 1)),
            (RowKind::Delete, key(2), vals("y", 2)),
            (RowKind::UpdateBefore, key(1), vals("x2", 1)),
            (RowKind::UpdateAfter, key(1), vals("x3", 1)),
            (RowKind::Insert, key(3), vals("z", 3)),
            (RowKind::UpdateBefore, key(3), vals("z", 3)),
            (RowKind::UpdateAfter, key(3), vals("z2", 3)),
        ];
        assert_eq!(files, expected);
        let logged = log_changes(&t).await;
        assert_eq!(logged[2..].to_vec(), expected, "the log range of the snapshot holds the same changes");
        let rows = table_rows(&t, &ScanFrom::Latest).await;
        assert_eq!(rows, BTreeMap::from([(key(1), vals("x3", 1)), (key(3), vals("z2", 3))]));
        let e = t.check_overwrite().unwrap_err().to_string();
        assert!(e.contains("changelog-producer") && e.contains("overwrite"), "{e}");
    });
}

/// `full-compaction.delta-commits = 2`: every second commit forces a full compaction, whose COMPACT snapshot
/// carries the changes since the previous one.
#[test]
fn full_compaction_delta_commits_force_full_compactions() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        let options = [
            ("bucket", "1"),
            ("changelog-producer", "full-compaction"),
            ("full-compaction.delta-commits", "2"),
            ("num-sorted-run.compaction-trigger", "10"),
        ];
        let t = create(&catalog, "db.t", SCHEMA, &["p", "k"], &["p"], &options).await.unwrap();
        let row = |k: i64, v: &str| json!({"p": "a", "k": k, "v": v, "n": 1, "g": 0});
        let mut w = t.writer().await.unwrap();
        w.write(&batch(&t, &[row(1, "x")])).await.unwrap();
        assert_eq!(w.commit().await.unwrap(), Some(1));
        w.write(&batch(&t, &[row(1, "x2"), row(2, "y")])).await.unwrap();
        assert_eq!(w.commit().await.unwrap(), Some(3), "the second commit forces a full compaction");
        let s3 = t.snapshot_manager().snapshot(3).await.unwrap();
        assert_eq!(s3.commit_kind, dyntable_storage::CommitKind::Compact);
        let changes = kv_changes(&read_changelog(t.io(), t.schema(), &s3).await.unwrap());
        let vals = |v: &str| (Some(v.to_string()), Some(1), Some(0));
        assert_eq!(
            changes,
            vec![(RowKind::Insert, ("a".into(), 1), vals("x2")), (RowKind::Insert, ("a".into(), 2), vals("y"))]
        );
        w.write(&batch(&t, &[row(2, "y2")])).await.unwrap();
        assert_eq!(w.commit().await.unwrap(), Some(4), "no full compaction after one commit");
        w.write(&batch(&t, &[row(3, "z")])).await.unwrap();
        assert_eq!(w.commit().await.unwrap(), Some(6));
        let s6 = t.snapshot_manager().snapshot(6).await.unwrap();
        let changes = kv_changes(&read_changelog(t.io(), t.schema(), &s6).await.unwrap());
        assert_eq!(
            changes,
            vec![
                (RowKind::UpdateBefore, ("a".into(), 2), vals("y")),
                (RowKind::UpdateAfter, ("a".into(), 2), vals("y2")),
                (RowKind::Insert, ("a".into(), 3), vals("z")),
            ]
        );
    });
}

/// Retractions a merge engine ignores (`partial-update.ignore-delete`) change nothing: no -U/+U pair of the same
/// row in the `lookup` changelog.
#[test]
fn ignored_deletes_produce_no_change() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let catalog = local_catalog(&dir);
        let options = [
            ("bucket", "1"),
            ("changelog-producer", "lookup"),
            ("merge-engine", "partial-update"),
            ("partial-update.ignore-delete", "true"),
        ];
        let t = create(&catalog, "db.t", SCHEMA, &["p", "k"], &["p"], &options).await.unwrap();
        let mut w = open_writer(&t).await;
        let rows = [
            json!({"_op": "+I", "p": "a", "k": 1, "v": "x", "n": 1, "g": 0}),
            json!({"_op": "-D", "p": "a", "k": 1, "v": "x", "n": 1, "g": 0}),
            json!({"_op": "+I", "p": "a", "k": 1, "v": null, "n": 2, "g": null}),
        ];
        w.write(&batch(&t, &rows)).await.unwrap();
        let id = w.commit().await.unwrap().unwrap();
        let snapshot = t.snapshot_manager().snapshot(id).await.unwrap();
        let changes = kv_changes(&read_changelog(t.io(), t.schema(), &snapshot).await.unwrap());
        let key = ("a".to_string(), 1);
        assert_eq!(
            changes,
            vec![
                (RowKind::Insert, key.clone(), (Some("x".into()), Some(1), Some(0))),
                (RowKind::UpdateBefore, key.clone(), (Some("x".into()), Some(1), Some(0))),
                (RowKind::UpdateAfter, key, (Some("x".into()), Some(2), Some(0))),
            ]
        );
    });
}
