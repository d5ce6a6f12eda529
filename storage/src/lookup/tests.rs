//! Tests of point lookups.
use std::collections::BTreeMap;

use arrow::array::{Int32Array, Int64Array, StringArray};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::catalog::{Catalog, Identifier, TableSpec};
use crate::io::FileIO;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

async fn create(name: &str, schema: &str, pk: &[&str], partition: &[&str], options: &[(&str, &str)]) -> FileStoreTable {
    let catalog = Catalog::from_io(FileIO::new(Arc::new(object_store::memory::InMemory::new()), "wh".into()));
    let spec = TableSpec {
        schema: schema.into(),
        primary_key: pk.iter().map(|s| s.to_string()).collect(),
        partition: partition.iter().map(|s| s.to_string()).collect(),
        options: options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        comment: None,
    };
    catalog.create_table(&Identifier::parse(name).unwrap(), &spec, false).await.unwrap()
}

/// Each row of `batches` as strings, keyed by the strings of its primary-key columns.
fn rows_by_key(schema: &TableSchema, batches: &[RecordBatch]) -> BTreeMap<Vec<String>, Vec<String>> {
    let mut out = BTreeMap::new();
    for b in batches {
        let row_strings = format_rows(b);
        for r in row_strings {
            let key = schema.primary_keys.iter().map(|k| r[schema.field_index(k).unwrap()].clone()).collect();
            out.insert(key, r);
        }
    }
    out
}

fn format_rows(b: &RecordBatch) -> Vec<Vec<String>> {
    let opts = FormatOptions::default().with_null("NULL");
    let fmts: Vec<ArrayFormatter> = b.columns().iter().map(|c| ArrayFormatter::try_new(c, &opts).unwrap()).collect();
    (0..b.num_rows()).map(|r| fmts.iter().map(|f| f.value(r).to_string()).collect()).collect()
}

/// A key batch for the (dt, id, k2) key.
fn keys3(keys: &[(String, i64, i32)]) -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        ("dt", Arc::new(StringArray::from_iter_values(keys.iter().map(|k| k.0.clone()))) as ArrayRef),
        ("id", Arc::new(Int64Array::from_iter_values(keys.iter().map(|k| k.1))) as ArrayRef),
        ("k2", Arc::new(Int32Array::from_iter_values(keys.iter().map(|k| k.2))) as ArrayRef),
    ])
    .unwrap()
}

/// Looks up `keys` at `from` and checks each against the scan of the same snapshot.
/// Returns (keys found, keys absent).
async fn check_against_scan(
    t: &FileStoreTable,
    lookup: &TableLookup,
    keys: &[(String, i64, i32)],
    from: &ScanFrom,
) -> (usize, usize) {
    let scanned = rows_by_key(t.schema(), &t.scan_collect(from, None, None).await.unwrap());
    let got = lookup.lookup(&keys3(keys), from).await.unwrap();
    assert_eq!(got.found.len(), keys.len());
    let got_rows = format_rows(&got.rows);
    for (i, k) in keys.iter().enumerate() {
        let key = vec![k.0.clone(), k.1.to_string(), k.2.to_string()];
        let want = scanned.get(&key);
        let have = got.found[i].map(|r| &got_rows[r]);
        assert_eq!(have, want, "key {key:?} at {from:?}");
    }
    (got.found_count(), keys.len() - got.found_count())
}

/// Random upserts and deletes over several commits and compactions, on a partitioned table with a
/// composite key in three buckets: every lookup (present, deleted and never-written keys) agrees with the
/// merge-on-read scan of the same snapshot, now and as of every earlier snapshot, for every merge engine.
/// Deduplicate is also checked against an independent model.
#[test]
fn lookups_agree_with_scans_for_every_merge_engine() {
    let engines: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("deduplicate", vec![]),
        (
            "partial_update",
            vec![("merge-engine", "partial-update"), ("partial-update.remove-record-on-delete", "true")],
        ),
        ("aggregation", vec![("merge-engine", "aggregation"), ("fields.v.aggregate-function", "sum")]),
        ("first_row", vec![("merge-engine", "first-row"), ("ignore-delete", "true")]),
        ("dedup_sequence_field", vec![("sequence.field", "v")]),
        ("partial_update_group", vec![("merge-engine", "partial-update"), ("fields.v.sequence-group", "s")]),
    ];
    rt().block_on(async {
        for (engine, options) in engines {
            let mut options = options.clone();
            options.push(("bucket", "3"));
            options.push(("write-only", "true"));
            let t = create(
                &format!("db.t_{engine}"),
                "dt STRING NOT NULL, id BIGINT NOT NULL, k2 INT NOT NULL, v BIGINT, s STRING",
                &["dt", "id", "k2"],
                &["dt"],
                &options,
            )
            .await;
            let seed = 42 + engine.len() as u64;
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut model: BTreeMap<(String, i64, i32), Option<(i64, String)>> = BTreeMap::new();
            let mut snapshots = Vec::new();
            let lookup = t.new_lookup().unwrap();
            let mut totals = (0, 0);
            for round in 0..6 {
                let mut w = t.writer().await.unwrap().with_row_kind_column(Some("_op".into()));
                let n = 600;
                let (mut dts, mut ids, mut k2s, mut vs, mut ss, mut ops) =
                    (vec![], vec![], vec![], vec![], vec![], vec![]);
                let mut seen = std::collections::HashSet::new();
                for _ in 0..n {
                    let key = (
                        ["2024-01-01", "2024-01-02"][rng.random_range(0..2)].to_string(),
                        rng.random_range(0..400i64),
                        rng.random_range(0..3i32),
                    );
                    if !seen.insert(key.clone()) {
                        continue;
                    }
                    let delete = engine != "first_row" && rng.random_range(0..100) < 20;
                    let v = rng.random_range(0..1000i64);
                    let s = format!("r{round}-{v}");
                    dts.push(key.0.clone());
                    ids.push(key.1);
                    k2s.push(key.2);
                    vs.push(Some(v));
                    ss.push(Some(s.clone()));
                    ops.push(if delete { "-D" } else { "+I" });
                    model.insert(key, (!delete).then_some((v, s)));
                }
                let batch = RecordBatch::try_from_iter(vec![
                    ("dt", Arc::new(StringArray::from_iter_values(dts)) as ArrayRef),
                    ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
                    ("k2", Arc::new(Int32Array::from(k2s)) as ArrayRef),
                    ("v", Arc::new(Int64Array::from(vs)) as ArrayRef),
                    ("s", Arc::new(StringArray::from(ss)) as ArrayRef),
                    ("_op", Arc::new(StringArray::from(ops)) as ArrayRef),
                ])
                .unwrap();
                w.write(&batch).await.unwrap();
                let id = w.commit().await.unwrap().unwrap();
                snapshots.push(id);
                if round == 2 {
                    t.compact(false, None).await.unwrap();
                }
                if round == 4 {
                    t.compact(true, None).await.unwrap();
                }
                let mut keys: Vec<(String, i64, i32)> = (0..150)
                    .map(|_| {
                        (
                            ["2024-01-01", "2024-01-02"][rng.random_range(0..2)].to_string(),
                            rng.random_range(0..420i64),
                            rng.random_range(0..3i32),
                        )
                    })
                    .collect();
                keys.push(("2024-01-03".into(), 1, 0));
                let (found, absent) = check_against_scan(&t, &lookup, &keys, &ScanFrom::Latest).await;
                totals = (totals.0 + found, totals.1 + absent);
                if engine == "deduplicate" {
                    let got = lookup.lookup(&keys3(&keys), &ScanFrom::Latest).await.unwrap();
                    for (i, k) in keys.iter().enumerate() {
                        let want = model.get(k).cloned().flatten();
                        let have = got.row(i).map(|r| {
                            let f = &format_rows(&r)[0];
                            (f[3].parse::<i64>().unwrap(), f[4].clone())
                        });
                        assert_eq!(have, want, "{k:?}");
                    }
                }
            }
            assert!(totals.0 > 200 && totals.1 > 100, "{engine}: (found, absent) = {totals:?}");
            // As of every snapshot (APPEND and COMPACT ones alike), with a fresh cache and the warm one.
            let latest = t.snapshot_manager().latest_id().await.unwrap().unwrap();
            for id in 1..=latest {
                let keys: Vec<(String, i64, i32)> = (0..80)
                    .map(|_| {
                        (
                            ["2024-01-01", "2024-01-02"][rng.random_range(0..2)].to_string(),
                            rng.random_range(0..400i64),
                            rng.random_range(0..3i32),
                        )
                    })
                    .collect();
                check_against_scan(&t, &lookup, &keys, &ScanFrom::Snapshot(id)).await;
                check_against_scan(&t, &t.new_lookup().unwrap(), &keys, &ScanFrom::Snapshot(id)).await;
            }
        }
    });
}

fn id_batch(ids: impl IntoIterator<Item = i64>) -> RecordBatch {
    RecordBatch::try_from_iter(vec![("id", Arc::new(Int64Array::from_iter_values(ids)) as ArrayRef)]).unwrap()
}

/// Writes `ids` with `v` = "<tag>-<id>" in one commit.
async fn write_ids(t: &FileStoreTable, ids: &[i64], tag: &str) {
    let mut w = t.writer().await.unwrap();
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
        ("v", Arc::new(StringArray::from_iter_values(ids.iter().map(|i| format!("{tag}-{i}")))) as ArrayRef),
    ])
    .unwrap();
    w.write(&batch).await.unwrap();
    w.commit().await.unwrap();
}

fn v_of(r: &LookupResult, i: usize) -> Option<String> {
    r.row(i).map(|b| b.column(1).as_string::<i32>().value(0).to_string())
}

/// A lookup decodes one page (at most `DATA_PAGE_ROWS` rows) of the file holding the key; the cache never
/// holds more bytes than its bound and evicts the least recently used pages; repeated keys are hits.
#[test]
fn decodes_one_page_per_key_within_the_cache_bound() {
    rt().block_on(async {
        let t = create(
            "db.paged",
            "id BIGINT NOT NULL, v STRING",
            &["id"],
            &[],
            &[
                ("bucket", "1"),
                ("write-only", "true"),
                ("lookup.cache-max-memory-size", "300 kb"),
                ("lookup.cache-max-disk-size", "0"),
            ],
        )
        .await;
        let ids: Vec<i64> = (0..40_000).map(|i| i * 2).collect();
        write_ids(&t, &ids, "a").await;
        let lookup = t.new_lookup().unwrap();
        let cache = lookup.cache().clone();
        assert_eq!((cache.capacity_bytes(), cache.disk_capacity_bytes()), (300 << 10, None));
        let got = lookup.lookup(&id_batch([40_000]), &ScanFrom::Latest).await.unwrap();
        assert_eq!(v_of(&got, 0).as_deref(), Some("a-40000"));
        let page_rows = cache.decoded_rows();
        assert!(page_rows > 0 && page_rows <= crate::datafile::DATA_PAGE_ROWS as u64, "decoded {page_rows} rows");
        // An absent key inside the same page: answered from the cached page, nothing decoded.
        let got = lookup.lookup(&id_batch([40_001, 40_000]), &ScanFrom::Latest).await.unwrap();
        assert_eq!(got.found, vec![None, Some(0)]);
        assert_eq!(cache.decoded_rows(), page_rows);
        assert!(cache.hits() >= 2);
        // Keys all over the file: every page is decoded once the cache cannot keep them, and the bound holds.
        for round in 0..2 {
            for i in (0..80_000).step_by(997) {
                let got = lookup.lookup(&id_batch([i]), &ScanFrom::Latest).await.unwrap();
                assert_eq!(v_of(&got, 0), (i % 2 == 0).then(|| format!("a-{i}")), "round {round} id {i}");
                assert!(cache.bytes() <= cache.capacity_bytes(), "{} > {}", cache.bytes(), cache.capacity_bytes());
            }
        }
        assert!(cache.bytes() > 0);
        let pages = (40_000 / crate::datafile::DATA_PAGE_ROWS + 1) as u64;
        assert!(
            cache.decoded_rows() > 40_000,
            "a 300 kb cache cannot hold {pages} pages of 40000 rows, so the second round decodes again: {} rows",
            cache.decoded_rows()
        );
        // A cache big enough for the file: the second round decodes nothing.
        let big = t.new_lookup().unwrap().with_cache(Arc::new(LookupCache::new(256 << 20)));
        for _ in 0..2 {
            let keys: Vec<i64> = (0..80_000).step_by(997).collect();
            let got = big.lookup(&id_batch(keys.clone()), &ScanFrom::Latest).await.unwrap();
            assert_eq!(got.found_count(), keys.iter().filter(|k| *k % 2 == 0).count());
        }
        assert!(big.cache().decoded_rows() <= 40_000, "{}", big.cache().decoded_rows());
    });
}

/// The disk tier (`lookup.cache-max-disk-size`, `dyntable.lookup.cache-dir`): pages pushed out of memory are
/// answered from local files without decoding the data file again; the tier stays within its bound, a damaged
/// file is a miss (the answer stays right), and the directory goes with the cache.
#[test]
fn the_disk_tier_answers_what_memory_cannot_hold() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("lookup-cache");
        let options = [
            ("bucket", "1"),
            ("write-only", "true"),
            ("lookup.cache-max-memory-size", "100 kb"),
            ("dyntable.lookup.cache-dir", cache_dir.to_str().unwrap()),
        ];
        let t = create("db.disk", "id BIGINT NOT NULL, v STRING", &["id"], &[], &options).await;
        let ids: Vec<i64> = (0..40_000).map(|i| i * 2).collect();
        write_ids(&t, &ids, "a").await;
        let lookup = t.new_lookup().unwrap();
        let cache = lookup.cache().clone();
        assert_eq!(cache.disk_capacity_bytes(), Some(u64::MAX), "unlimited by default, as Paimon");
        let keys: Vec<i64> = (0..80_000).step_by(997).collect();
        let check = |got: &LookupResult| {
            for (n, k) in keys.iter().enumerate() {
                assert_eq!(v_of(got, n), (k % 2 == 0).then(|| format!("a-{k}")), "id {k}");
            }
        };
        for k in &keys {
            check_one(&lookup, *k).await;
        }
        let decoded = cache.decoded_rows();
        let full = cache.disk_bytes();
        assert!(decoded > 0 && full > 0, "decoded {decoded}, disk {full}");
        // Second pass: memory holds a few pages, the disk tier the rest: nothing is decoded again.
        let got = lookup.lookup(&id_batch(keys.clone()), &ScanFrom::Latest).await.unwrap();
        check(&got);
        assert_eq!(cache.decoded_rows(), decoded);
        assert!(cache.disk_hits() > 0);
        // A damaged page file is a miss: the page is decoded again and the answer is right.
        let tier = std::fs::read_dir(&cache_dir).unwrap().next().unwrap().unwrap().path();
        for f in std::fs::read_dir(&tier).unwrap() {
            std::fs::write(f.unwrap().path(), b"garbage").unwrap();
        }
        let got = lookup.lookup(&id_batch(keys.clone()), &ScanFrom::Latest).await.unwrap();
        check(&got);
        assert!(cache.decoded_rows() > decoded);
        drop(got);
        drop(lookup);
        drop(cache);
        assert!(!tier.exists(), "the tier's directory goes with the cache");

        // A bounded tier (half of what the pages take) never holds more than its bound.
        let small = LookupCache::new(1).with_disk(&cache_dir, full / 2).unwrap();
        let lookup = t.new_lookup().unwrap().with_cache(Arc::new(small));
        let got = lookup.lookup(&id_batch(keys.clone()), &ScanFrom::Latest).await.unwrap();
        check(&got);
        let c = lookup.cache();
        assert!(c.disk_bytes() > 0 && c.disk_bytes() <= full / 2, "{} of {full}", c.disk_bytes());
    });
}

async fn check_one(lookup: &TableLookup, k: i64) {
    let got = lookup.lookup(&id_batch([k]), &ScanFrom::Latest).await.unwrap();
    assert_eq!(v_of(&got, 0), (k % 2 == 0).then(|| format!("a-{k}")), "id {k}");
}

/// With key bloom filters, a file whose key range holds the key but whose rows do not is not read; the
/// answers are the same as without them.
#[test]
fn bloom_filters_skip_files_without_the_key() {
    rt().block_on(async {
        let mut decoded = Vec::new();
        for bloom in ["true", "false"] {
            let t = create(
                &format!("db.bloom_{bloom}"),
                "id BIGINT NOT NULL, v STRING",
                &["id"],
                &[],
                &[("bucket", "1"), ("write-only", "true"), ("dyntable.parquet.key-bloom-filter", bloom)],
            )
            .await;
            let even: Vec<i64> = (0..2000).map(|i| i * 2).collect();
            let odd: Vec<i64> = (0..2000).map(|i| i * 2 + 1).collect();
            write_ids(&t, &even, "even").await;
            write_ids(&t, &odd, "odd").await;
            let lookup = t.new_lookup().unwrap();
            let got = lookup.lookup(&id_batch([1001, 1000, 5000]), &ScanFrom::Latest).await.unwrap();
            assert_eq!(v_of(&got, 0).as_deref(), Some("odd-1001"));
            assert_eq!(v_of(&got, 1).as_deref(), Some("even-1000"));
            assert_eq!(got.found[2], None);
            let fresh = t.new_lookup().unwrap();
            fresh.lookup(&id_batch([1001]), &ScanFrom::Latest).await.unwrap();
            decoded.push(fresh.cache().decoded_rows());
        }
        assert_eq!(decoded[0], 2000, "with bloom filters only the odd file's page is read");
        assert_eq!(decoded[1], 4000, "without, both files' pages are");
    });
}

/// Bad keys are refused with a message naming the column (and the value or type at fault).
#[test]
fn bad_keys_name_the_column() {
    rt().block_on(async {
        let t = create("db.bad", "id BIGINT NOT NULL, v STRING", &["id"], &[], &[("bucket", "2")]).await;
        write_ids(&t, &[1, 2, 3], "x").await;
        let err = |b: RecordBatch| {
            let t = t.clone();
            async move { t.lookup(&b, &ScanFrom::Latest).await.unwrap_err().to_string() }
        };
        let e =
            err(RecordBatch::try_from_iter(vec![("v", Arc::new(StringArray::from(vec!["a"])) as ArrayRef)]).unwrap())
                .await;
        assert!(e.contains("`v`") && e.contains("not part of the primary key"), "{e}");
        let e = err(
            RecordBatch::try_from_iter(vec![("nope", Arc::new(StringArray::from(vec!["a"])) as ArrayRef)]).unwrap()
        )
        .await;
        assert!(e.contains("no column `nope`"), "{e}");
        let e = err(
            RecordBatch::try_from_iter(vec![("id", Arc::new(StringArray::from(vec!["12x"])) as ArrayRef)]).unwrap()
        )
        .await;
        assert!(e.contains("`id`") && e.contains("BIGINT") && e.contains("12x"), "{e}");
        let e =
            err(RecordBatch::try_from_iter(vec![("id", Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef)])
                .unwrap())
            .await;
        assert!(e.contains("`id`") && e.contains("null in row 1"), "{e}");
        let t2 =
            create("db.pk2", "a INT NOT NULL, b INT NOT NULL, v STRING", &["a", "b"], &[], &[("bucket", "1")]).await;
        let e = t2
            .lookup(
                &RecordBatch::try_from_iter(vec![("a", Arc::new(Int32Array::from(vec![1])) as ArrayRef)]).unwrap(),
                &ScanFrom::Latest,
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("lack primary-key column `b`"), "{e}");
        let append = create("db.app", "id BIGINT, v STRING", &[], &[], &[]).await;
        assert!(append.new_lookup().unwrap_err().to_string().contains("no primary key"));
        // Keys given as another integer type are cast; a table without snapshots finds nothing.
        let got = t
            .lookup(
                &RecordBatch::try_from_iter(vec![("id", Arc::new(Int32Array::from(vec![2, 7])) as ArrayRef)]).unwrap(),
                &ScanFrom::Latest,
            )
            .await
            .unwrap();
        assert_eq!(got.found, vec![Some(0), None]);
        assert_eq!(
            t2.lookup(
                &RecordBatch::try_from_iter(vec![
                    ("a", Arc::new(Int32Array::from(vec![1])) as ArrayRef),
                    ("b", Arc::new(Int32Array::from(vec![1])) as ArrayRef)
                ])
                .unwrap(),
                &ScanFrom::Latest
            )
            .await
            .unwrap()
            .found,
            vec![None]
        );
    });
}

/// A bucket's lookup (the writer's form) answers the keys of that bucket as the table lookup does.
#[test]
fn bucket_lookups_answer_their_keys() {
    rt().block_on(async {
        let t =
            create("db.bl", "id BIGINT NOT NULL, v STRING", &["id"], &[], &[("bucket", "4"), ("write-only", "true")])
                .await;
        write_ids(&t, &(0..500).collect::<Vec<_>>(), "one").await;
        write_ids(&t, &(250..750).collect::<Vec<_>>(), "two").await;
        let lookup = t.new_lookup().unwrap();
        let buckets = lookup.buckets(&ScanFrom::Latest).await.unwrap();
        assert_eq!(buckets.len(), 4);
        let mut found = 0;
        for b in &buckets {
            assert_eq!(b.sorted_runs(), 2);
            let keys: Vec<i64> = (0..800).collect();
            let got = b.lookup(&id_batch(keys.clone())).await.unwrap();
            for (i, k) in keys.iter().enumerate() {
                if let Some(v) = v_of(&got, i) {
                    found += 1;
                    let want = if *k < 250 { format!("one-{k}") } else { format!("two-{k}") };
                    assert_eq!(v, want);
                    let whole = lookup.lookup(&id_batch([*k]), &ScanFrom::Latest).await.unwrap();
                    assert_eq!(v_of(&whole, 0), Some(v));
                }
            }
        }
        assert_eq!(found, 750, "every written key is found in exactly one bucket");
    });
}
