//! Each compaction option, set as a table option, changes what the picker does (the values a table carries are
//! honoured, not just accepted).

use std::collections::BTreeMap;

use dyntable_compaction::*;

fn options(pairs: &[(&str, &str)]) -> CompactionOptions {
    let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    CompactionOptions::from_table_options(&map).unwrap()
}

/// Level-0 files of the given sizes, newest first (the highest sequence number first), with overlapping keys.
fn level0(sizes: &[u64]) -> Vec<FileInfo> {
    let n = sizes.len() as i64;
    sizes
        .iter()
        .enumerate()
        .map(|(i, size)| FileInfo {
            name: format!("f{i}"),
            size_bytes: *size,
            level: 0,
            min_key: b"a".to_vec(),
            max_key: b"z".to_vec(),
            max_sequence_number: n - i as i64,
            delete_row_count: Some(0),
        })
        .collect()
}

/// The picked files' sizes and the output level of a normal pick, or `None`.
fn pick(o: &CompactionOptions, sizes: &[u64]) -> Option<(Vec<u64>, u32)> {
    pick_files(o, level0(sizes))
}

fn pick_files(o: &CompactionOptions, files: Vec<FileInfo>) -> Option<(Vec<u64>, u32)> {
    let levels = Levels::new(files, o.num_levels).unwrap();
    let plan = plan_compaction(&UniversalCompaction::from_options(o), &levels, o, CompactionTrigger::Normal)?;
    Some((plan.unit.files.iter().map(|f| f.size_bytes).collect(), plan.unit.output_level))
}

#[test]
fn compaction_trigger_sets_when_picking_starts() {
    let runs = [10, 10, 10];
    assert_eq!(pick(&options(&[]), &runs), None, "default trigger 5: three runs wait");
    let (files, _) = pick(&options(&[("num-sorted-run.compaction-trigger", "3")]), &runs).unwrap();
    assert_eq!(files.len(), 3);
}

#[test]
fn stop_trigger_sets_when_writes_stall() {
    let runs = Levels::new(level0(&[1; 6]), 6).unwrap();
    assert!(!runs.should_stall(&options(&[])), "default stop trigger 8");
    assert!(runs.should_stall(&options(&[("num-sorted-run.stop-trigger", "5")])));
}

#[test]
fn size_amplification_percent_forces_a_full_compaction() {
    // Three level-0 runs of 10 over a max-level run of 100: 30% amplification. The default (200%) leaves the
    // oldest run alone (size ratio takes the three small ones, 30 * 1.01 < 100); 20% takes every run.
    let trigger = ("num-sorted-run.compaction-trigger", "3");
    let runs = || {
        let mut files = level0(&[10, 10, 10]);
        files.push(FileInfo {
            name: "old".into(),
            size_bytes: 100,
            level: 3,
            max_sequence_number: 0,
            ..files[0].clone()
        });
        files
    };
    let (files, level) = pick_files(&options(&[trigger]), runs()).unwrap();
    assert_eq!((files, level), (vec![10, 10, 10], 2));
    let o = options(&[trigger, ("compaction.max-size-amplification-percent", "20")]);
    let (files, level) = pick_files(&o, runs()).unwrap();
    assert_eq!((files, level), (vec![10, 10, 10, 100], o.max_level()));
}

#[test]
fn size_ratio_sets_which_runs_merge() {
    // 10 * 1.01 < 12: with the default ratio (1%) no candidate grows past one run and three runs do not exceed
    // the trigger; with 50% the 10 absorbs the 12 and then the 13.
    let runs = [10, 12, 13];
    let trigger = ("num-sorted-run.compaction-trigger", "3");
    assert_eq!(pick(&options(&[trigger]), &runs), None);
    let (files, _) = pick(&options(&[trigger, ("compaction.size-ratio", "50")]), &runs).unwrap();
    assert_eq!(files, vec![10, 12, 13]);
}

#[test]
fn num_levels_sets_the_max_level() {
    let runs = [10, 10, 10];
    let trigger = ("num-sorted-run.compaction-trigger", "3");
    assert_eq!(pick(&options(&[trigger]), &runs).unwrap().1, 3, "default: trigger + 1 levels");
    assert_eq!(pick(&options(&[trigger, ("num-levels", "8")]), &runs).unwrap().1, 7);
}
