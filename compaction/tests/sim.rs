//! Tests of the compaction simulator (`dyntable_compaction::sim`): it replays exactly per seed, keeps the bucket's
//! rows equal to an oracle of live keys, and its amplification figures keep the bounds the policy promises.

use dyntable_compaction::sim::{simulate, SimConfig, SimReport, Simulator, Workload};
use dyntable_compaction::CompactionOptions;

/// A workload small enough for a debug build: 100 flushes of 1,000 writes over 20,000 keys.
fn small(workload: Workload) -> SimConfig {
    let write_buffer_rows = 1_000;
    let row_bytes = 10;
    SimConfig {
        key_space: 20_000,
        rows: 100_000,
        write_buffer_rows,
        row_bytes,
        options: SimConfig::default_options(write_buffer_rows, row_bytes),
        ..SimConfig::new(workload)
    }
}

/// Option variants the invariants must hold under: (name, options, compact every N flushes).
fn variants() -> Vec<(&'static str, CompactionOptions, u64)> {
    let base = small(Workload::Uniform).options;
    vec![
        ("default", base.clone(), 1),
        (
            "trigger=2",
            CompactionOptions {
                num_sorted_run_compaction_trigger: 2,
                num_sorted_run_stop_trigger: 2,
                num_levels: 3,
                ..base.clone()
            },
            1,
        ),
        (
            "trigger=8",
            CompactionOptions {
                num_sorted_run_compaction_trigger: 8,
                num_sorted_run_stop_trigger: 11,
                num_levels: 9,
                ..base.clone()
            },
            1,
        ),
        ("size-ratio=20", CompactionOptions { size_ratio_percent: 20, ..base.clone() }, 1),
        ("max-size-amp=50", CompactionOptions { max_size_amplification_percent: 50, ..base.clone() }, 1),
        ("num-levels=2", CompactionOptions { num_levels: 2, ..base.clone() }, 1),
        (
            "half-buffer-files",
            CompactionOptions { target_file_size_bytes: base.target_file_size_bytes / 2, ..base.clone() },
            1,
        ),
        ("compact-every=5", base, 5),
    ]
}

/// Runs a config flush by flush, checking after each that merging every file gives exactly the oracle's live keys.
fn run_checked(config: &SimConfig, context: &str) -> SimReport {
    let mut simulator = Simulator::new(config.clone()).expect("valid config");
    let mut points = Vec::new();
    while let Some(point) = simulator.step().expect("the simulation applies every plan") {
        // Comparing every key set each flush is quadratic; every tenth flush and the last one are enough.
        if point.flush % 10 == 0 {
            assert_eq!(
                simulator.live_keys_by_merge(),
                simulator.live_keys_expected(),
                "flush={}. {context}",
                point.flush
            );
        }
        points.push(point);
    }
    assert_eq!(simulator.live_keys_by_merge(), simulator.live_keys_expected(), "at the end. {context}");
    SimReport { points, summary: simulator.summary() }
}

#[test]
fn one_seed_replays_identically() {
    // The simulator draws only from its seeded generator, so two runs of one config give equal reports, and a
    // different seed gives different keys and so different numbers.
    for workload in Workload::ALL {
        let config = SimConfig { delete_fraction: 0.1, ..small(workload) };
        let first = simulate(&config).expect("valid config");
        let second = simulate(&config).expect("valid config");
        assert_eq!(first, second, "workload={workload}");
        assert_eq!(first.points.len(), 100);
        let other_seed = simulate(&SimConfig { seed: config.seed + 1, ..config.clone() }).expect("valid config");
        assert_ne!(first.points, other_seed.points, "workload={workload}");
    }
}

#[test]
fn append_only_keys_are_upgraded_not_rewritten() {
    // Increasing keys make every flushed file overlap nothing, and a flushed file of one write buffer is at least
    // 70% of the target size, so compaction only moves files: nothing is rewritten, write amplification is
    // exactly 1, no reader merges two runs, and no byte is stored twice.
    let report = simulate(&small(Workload::Append)).expect("valid config");
    let summary = &report.summary;
    assert!(summary.compactions > 0, "{summary:?}");
    assert_eq!(summary.compaction_written_bytes, 0, "{summary:?}");
    assert_eq!(summary.write_amplification, 1.0, "{summary:?}");
    assert!(summary.upgraded_bytes >= summary.flushed_bytes / 2, "{summary:?}");
    assert_eq!(summary.merge_width_max, 1, "{summary:?}");
    assert_eq!(summary.space_amplification_max, 1.0, "{summary:?}");

    // A few deletes of old keys undo all of that: each flush's key range now reaches back to a deleted key, so
    // every file overlaps the older ones and is rewritten (and a file holding deletes is never upgraded into the
    // max level), and since an append-only table keeps growing, each full compaction rewrites more.
    let with_deletes =
        simulate(&SimConfig { delete_fraction: 0.01, ..small(Workload::Append) }).expect("valid config").summary;
    assert!(with_deletes.write_amplification > 2.0, "{with_deletes:?}");
    assert!(with_deletes.upgraded_bytes < with_deletes.flushed_bytes / 10, "{with_deletes:?}");
    assert!(with_deletes.merge_width_max > 1, "{with_deletes:?}");
}

#[test]
fn uniform_keys_with_default_options_stay_within_the_stop_trigger() {
    // Compacting after every flush, the picker keeps the runs at or below the trigger after compaction and the
    // writer never stalls; a reader sees at most one run more (the flush waiting for its compaction).
    let config = small(Workload::Uniform);
    let report = simulate(&config).expect("valid config");
    let trigger = config.options.num_sorted_run_compaction_trigger as usize;
    let stop_trigger = config.options.num_sorted_run_stop_trigger as usize;
    for point in &report.points {
        assert!(point.sorted_runs_after_compaction <= trigger, "{point:?}");
        assert!(point.sorted_runs_at_read <= trigger + 1, "{point:?}");
        assert!(point.sorted_runs_at_read <= stop_trigger, "{point:?}");
        assert!(!point.stalled, "{point:?}");
    }
    assert_eq!(report.summary.stalls, 0);
    // Uniform keys overlap everywhere, so the runs a reader merges for one key range are all of them.
    assert_eq!(report.summary.merge_width_max, report.summary.read_amplification_max);
    assert!(report.summary.write_amplification > 1.5, "uniform keys must be rewritten: {:?}", report.summary);
}

#[test]
fn summaries_keep_their_invariants_across_workloads_and_options() {
    // Under every workload (with deletes) and option variant: the files always hold exactly the oracle's live
    // keys; write and space amplification are at least 1; a reader never sees more runs than the stop trigger
    // plus one flush's files; and the running figures add up to the summary.
    for workload in Workload::ALL {
        for (variant, options, compact_every_flushes) in variants() {
            let config = SimConfig { delete_fraction: 0.05, options, compact_every_flushes, ..small(workload) };
            let context = format!("workload={workload}, variant={variant}");
            let report = run_checked(&config, &context);
            let summary = &report.summary;
            let stop_trigger = config.options.num_sorted_run_stop_trigger as usize;
            let files_per_flush =
                (config.write_buffer_rows * config.row_bytes).div_ceil(config.options.target_file_size_bytes) as usize;

            assert!(summary.write_amplification >= 1.0, "{context}: {summary:?}");
            assert!(summary.space_amplification_final >= 1.0, "{context}: {summary:?}");
            assert!(summary.space_amplification_max >= summary.space_amplification_final, "{context}: {summary:?}");
            assert!(summary.read_amplification_max <= stop_trigger + files_per_flush, "{context}: {summary:?}");
            assert!(summary.read_amplification_mean <= summary.read_amplification_max as f64, "{context}: {summary:?}");
            assert!(summary.merge_width_max <= summary.read_amplification_max, "{context}: {summary:?}");
            assert!(summary.final_sorted_runs <= stop_trigger, "{context}: {summary:?}");
            assert_eq!(summary.user_rows, config.rows, "{context}");
            assert_eq!(summary.flushes, 100, "{context}");
            if files_per_flush == 1 {
                assert!(summary.read_amplification_max <= stop_trigger + 1, "{context}: {summary:?}");
            }
            for point in &report.points {
                assert!(point.write_amplification >= 1.0, "{context}: {point:?}");
                assert!(point.space_amplification >= 1.0, "{context}: {point:?}");
                assert!(point.space_amplification_at_read >= 1.0, "{context}: {point:?}");
                assert!(point.sorted_runs_after_compaction <= stop_trigger, "{context}: {point:?}");
                assert!(point.merge_width_at_read <= point.sorted_runs_at_read, "{context}: {point:?}");
            }
            let last = report.points.last().expect("a hundred flushes");
            assert_eq!(last.flushed_bytes, summary.flushed_bytes, "{context}");
            assert_eq!(last.compaction_written_bytes, summary.compaction_written_bytes, "{context}");
            assert_eq!(last.stored_bytes, summary.final_stored_bytes, "{context}");
        }
    }
}

#[test]
fn a_slow_compactor_stalls_the_writer() {
    // Asking for a compaction only every 20 flushes lets the runs reach the stop trigger; the stall then forces
    // compaction, so the runs never stay above it.
    let config = SimConfig { compact_every_flushes: 20, ..small(Workload::Uniform) };
    let report = simulate(&config).expect("valid config");
    let stop_trigger = config.options.num_sorted_run_stop_trigger as usize;
    assert!(report.summary.stalls > 0, "{:?}", report.summary);
    assert!(report.points.iter().all(|point| point.sorted_runs_after_compaction <= stop_trigger));
    assert!(report.points.iter().any(|point| point.sorted_runs_at_read == stop_trigger + 1));
}

#[test]
fn hot_keys_merge_in_the_write_buffer() {
    // Zipfian writes repeat hot keys within one buffer, so fewer rows are flushed than written, and rewrites
    // collapse the rest: per user byte the zipfian workload writes less than the uniform one.
    let zipfian = simulate(&small(Workload::Zipfian)).expect("valid config").summary;
    let uniform = simulate(&small(Workload::Uniform)).expect("valid config").summary;
    assert!(zipfian.flushed_bytes < zipfian.user_bytes * 9 / 10, "{zipfian:?}");
    assert!(
        zipfian.user_write_amplification < uniform.user_write_amplification,
        "zipfian={zipfian:?} uniform={uniform:?}"
    );
    assert!(zipfian.final_live_bytes < uniform.final_live_bytes, "zipfian={zipfian:?} uniform={uniform:?}");
}
