//! Tests of the core options: parsing, defaults, refusals and the keys accepted at creation.
use super::*;

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Defaults match Paimon's, and malformed or unknown options are rejected naming the option.
#[test]
fn parse_and_validate() {
    let o = CoreOptions::parse(&opts(&[])).unwrap();
    assert_eq!(o.bucket, -1);
    assert_eq!(o.write_buffer_size, 256 << 20);
    assert_eq!(o.stats_mode, StatsMode::Truncate(16));
    assert_eq!(o.target_file_size(true), 128 << 20);
    assert_eq!(o.target_file_size(false), 256 << 20);
    let o = CoreOptions::parse(&opts(&[
        ("bucket", "4"),
        ("write-buffer-size", "64 mb"),
        ("metadata.stats-mode", "truncate(8)"),
    ]))
    .unwrap();
    assert_eq!((o.bucket, o.write_buffer_size, o.stats_mode), (4, 64 << 20, StatsMode::Truncate(8)));
    for (k, v) in [
        ("bucket", "0"),
        ("bucket", "x"),
        ("write-buffer-size", "12 parsecs"),
        ("merge-engine", "newest"),
        ("metadata.stats-mode", "truncate(0)"),
        ("file.format", "orc"),
        ("changelog-producer", "kafka"),
        ("changelog-producer.row-deduplicate", "maybe"),
        ("full-compaction.delta-commits", "0"),
    ] {
        let e = CoreOptions::parse(&opts(&[(k, v)])).unwrap_err().to_string();
        assert!(e.contains(k) && e.contains(v), "{e}");
    }
    let e = CoreOptions::check_known_keys(&opts(&[("buckets", "2")])).unwrap_err().to_string();
    assert!(e.contains("buckets") && e.contains("unknown option"), "{e}");
    CoreOptions::check_known_keys(&opts(&[("fields.v.aggregate-function", "sum"), ("bucket", "2")])).unwrap();
    let o = CoreOptions::parse(&opts(&[])).unwrap();
    assert_eq!((o.lookup_cache_max_memory_size, o.key_bloom_filter), (256 << 20, false));
    let o = CoreOptions::parse(&opts(&[("lookup.cache-max-memory-size", "1 mb"), (KEY_BLOOM_FILTER, "true")])).unwrap();
    assert_eq!((o.lookup_cache_max_memory_size, o.key_bloom_filter), (1 << 20, true));
    let e = CoreOptions::parse(&opts(&[("lookup.cache-max-memory-size", "lots")])).unwrap_err().to_string();
    assert!(e.contains("lookup.cache-max-memory-size") && e.contains("lots"), "{e}");
    CoreOptions::check_known_keys(&opts(&[("lookup.cache-max-disk-size", "1 gb"), (LOOKUP_CACHE_DIR, "/x")])).unwrap();
    let o = CoreOptions::parse(&opts(&[("lookup.cache-max-disk-size", "1 gb"), (LOOKUP_CACHE_DIR, "/x")])).unwrap();
    assert_eq!((o.lookup_cache_max_disk_size, o.lookup_cache_dir.as_deref()), (Some(1 << 30), Some("/x")));
    assert_eq!(CoreOptions::parse(&opts(&[])).unwrap().lookup_cache_max_disk_size, None);
    let e = CoreOptions::parse(&opts(&[("lookup.cache-max-disk-size", "huge")])).unwrap_err().to_string();
    assert!(e.contains("lookup.cache-max-disk-size") && e.contains("huge"), "{e}");
    for (mode, want) in [
        ("none", ChangelogProducer::None),
        ("input", ChangelogProducer::Input),
        ("LOOKUP", ChangelogProducer::Lookup),
        ("full-compaction", ChangelogProducer::FullCompaction),
    ] {
        let o = CoreOptions::parse(&opts(&[("changelog-producer", mode)])).unwrap();
        assert_eq!(o.changelog_producer, want);
        o.check_for_table(true).unwrap();
    }
    let o = CoreOptions::parse(&opts(&[
        ("changelog-producer", "lookup"),
        ("changelog-producer.row-deduplicate", "true"),
        ("full-compaction.delta-commits", "3"),
    ]))
    .unwrap();
    assert!(o.changelog_row_deduplicate);
    assert_eq!(o.full_compaction_delta_commits, Some(3));
    for mode in ["lookup", "full-compaction"] {
        let o = CoreOptions::parse(&opts(&[("changelog-producer", mode)])).unwrap();
        let e = o.check_for_table(false).unwrap_err().to_string();
        assert!(e.contains("changelog-producer") && e.contains(mode) && e.contains("primary key"), "{e}");
    }
    CoreOptions::parse(&opts(&[("changelog-producer", "input")])).unwrap().check_for_table(false).unwrap();
}

/// The expiration options: Paimon's defaults, positive counts, min <= max, durations with units, and
/// `async` refused naming the option and the value.
#[test]
fn expiration_options() {
    let o = CoreOptions::parse(&opts(&[])).unwrap();
    assert_eq!((o.snapshot_num_retained_min, o.snapshot_num_retained_max), (10, i32::MAX as usize));
    assert_eq!((o.snapshot_time_retained, o.snapshot_expire_limit), (Duration::from_secs(3600), 10));
    assert_eq!(o.consumer_expiration_time, None);
    let o = CoreOptions::parse(&opts(&[
        (SNAPSHOT_NUM_RETAINED_MIN, "2"),
        (SNAPSHOT_NUM_RETAINED_MAX, "5"),
        (SNAPSHOT_TIME_RETAINED, "30 min"),
        (SNAPSHOT_EXPIRE_LIMIT, "3"),
        (CONSUMER_EXPIRATION_TIME, "1 d"),
        (SNAPSHOT_EXPIRE_EXECUTION_MODE, "SYNC"),
    ]))
    .unwrap();
    assert_eq!((o.snapshot_num_retained_min, o.snapshot_num_retained_max, o.snapshot_expire_limit), (2, 5, 3));
    assert_eq!(o.snapshot_time_retained, Duration::from_secs(1800));
    assert_eq!(o.consumer_expiration_time, Some(Duration::from_secs(86_400)));
    CoreOptions::check_known_keys(&opts(&[(SNAPSHOT_TIME_RETAINED, "2 h"), (CONSUMER_EXPIRATION_TIME, "1h")])).unwrap();
    for (k, v) in [
        (SNAPSHOT_NUM_RETAINED_MIN, "0"),
        (SNAPSHOT_NUM_RETAINED_MIN, "-1"),
        (SNAPSHOT_NUM_RETAINED_MAX, "0"),
        (SNAPSHOT_NUM_RETAINED_MAX, "many"),
        (SNAPSHOT_TIME_RETAINED, "an hour"),
        (SNAPSHOT_EXPIRE_LIMIT, "0"),
        (CONSUMER_EXPIRATION_TIME, "1 fortnight"),
        (SNAPSHOT_EXPIRE_EXECUTION_MODE, "lazy"),
    ] {
        let e = CoreOptions::parse(&opts(&[(k, v)])).unwrap_err().to_string();
        assert!(e.contains(k) && e.contains(v), "{e}");
    }
    let e = CoreOptions::parse(&opts(&[(SNAPSHOT_NUM_RETAINED_MIN, "6"), (SNAPSHOT_NUM_RETAINED_MAX, "5")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains(SNAPSHOT_NUM_RETAINED_MIN) && e.contains('6') && e.contains(SNAPSHOT_NUM_RETAINED_MAX), "{e}");
    // Changelog retention falls back to the snapshots'; longer retention decouples the changelog.
    let o = CoreOptions::parse(&opts(&[(SNAPSHOT_NUM_RETAINED_MAX, "5"), (SNAPSHOT_NUM_RETAINED_MIN, "2")])).unwrap();
    assert_eq!((o.changelog_num_retained_min, o.changelog_num_retained_max), (2, 5));
    assert!(!o.changelog_decoupled());
    CoreOptions::check_known_keys(&opts(&[(CHANGELOG_NUM_RETAINED_MAX, "100")])).unwrap();
    let o =
        CoreOptions::parse(&opts(&[(CHANGELOG_NUM_RETAINED_MAX, "100"), (SNAPSHOT_NUM_RETAINED_MAX, "20")])).unwrap();
    assert!(o.changelog_decoupled());
    let o = CoreOptions::parse(&opts(&[(CHANGELOG_TIME_RETAINED, "2 h")])).unwrap();
    assert!(o.changelog_decoupled());
    let e = CoreOptions::parse(&opts(&[(CHANGELOG_NUM_RETAINED_MIN, "30"), (CHANGELOG_NUM_RETAINED_MAX, "20")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains(CHANGELOG_NUM_RETAINED_MIN) && e.contains("30") && e.contains("20"), "{e}");
    let e = CoreOptions::parse(&opts(&[(CHANGELOG_NUM_RETAINED_MIN, "0")])).unwrap_err().to_string();
    assert!(e.contains(CHANGELOG_NUM_RETAINED_MIN) && e.contains("positive"), "{e}");
    // A table another engine wrote with `async` opens; creating one is refused.
    CoreOptions::parse(&opts(&[(SNAPSHOT_EXPIRE_EXECUTION_MODE, "async")])).unwrap();
    let e = CoreOptions::check_known_keys(&opts(&[(SNAPSHOT_EXPIRE_EXECUTION_MODE, "async")])).unwrap_err().to_string();
    assert!(e.contains(SNAPSHOT_EXPIRE_EXECUTION_MODE) && e.contains("async") && e.contains("does not support"), "{e}");
}

/// Options dyntable does not honour are refused at creation naming the option and saying so, the values it
/// honours pass, and `parse` (which also runs when a table is opened) accepts them all.
#[test]
fn refusals_at_creation_only() {
    for (k, v) in [
        (DELETION_VECTORS, "true"),
        (WRITE_BUFFER_SPILLABLE, "true"),
        (MANIFEST_FORMAT, "orc"),
        (MANIFEST_COMPRESSION, "snappy"),
        (COMPACTION_OPTIMIZATION_INTERVAL, "2 h"),
        ("path", "s3://elsewhere"),
        ("log.format", "debezium-json"),
        ("fields.v.nested-key", "k"),
    ] {
        let e = CoreOptions::check_known_keys(&opts(&[(k, v)])).unwrap_err().to_string();
        assert!(e.contains(k) && e.contains(v) && e.contains("does not support"), "{e}");
        CoreOptions::parse(&opts(&[(k, v)])).unwrap();
    }
    for (k, v) in [
        (DELETION_VECTORS, "false"),
        (WRITE_BUFFER_SPILLABLE, "FALSE"),
        (MANIFEST_FORMAT, "avro"),
        (MANIFEST_COMPRESSION, "ZSTD"),
        ("log.fsync", "group"),
        ("fields.v.ignore-retract", "true"),
        ("fields.default-aggregate-function", "sum"),
        ("owner", "me"),
        (PAGE_SIZE, "1 mb"),
        (READ_BATCH_SIZE, "512"),
        (MANIFEST_TARGET_FILE_SIZE, "2 mb"),
    ] {
        CoreOptions::check_known_keys(&opts(&[(k, v)])).unwrap();
    }
    let o = CoreOptions::parse(&opts(&[(PAGE_SIZE, "1 mb"), (READ_BATCH_SIZE, "512")])).unwrap();
    assert_eq!((o.page_size, o.read_batch_size, o.manifest_target_file_size), (Some(1 << 20), Some(512), 8 << 20));
    let o = CoreOptions::parse(&opts(&[("first-row.ignore-delete", "true")])).unwrap();
    assert!(o.ignore_delete);
    // Dynamic buckets: refused for primary-key tables only; partition expiration refused with the log.
    let e = CoreOptions::check_create(&opts(&[(BUCKET, "-1")]), true, &[], false).unwrap_err().to_string();
    assert!(e.contains("bucket") && e.contains("-1") && e.contains("does not support dynamic buckets"), "{e}");
    CoreOptions::check_create(&opts(&[(BUCKET, "-1")]), false, &[], false).unwrap();
    let dt = vec!["dt".to_string()];
    let expiring = opts(&[("partition.expiration-time", "1 d")]);
    CoreOptions::check_create(&expiring, true, &dt, false).unwrap();
    let e = CoreOptions::check_create(&expiring, true, &dt, true).unwrap_err().to_string();
    assert!(e.contains("partition.expiration-time") && e.contains("log.system"), "{e}");
}
