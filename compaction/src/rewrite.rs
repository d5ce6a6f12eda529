//! What to do with each file of a picked unit: move it up a level in metadata only, or rewrite it.
//!
//! Rewriting a file costs reading and writing all of it; moving it ("upgrade") costs one manifest entry. Paimon's
//! `MergeTreeCompactTask` upgrades a file when nothing else in the unit overlaps it and it is already close to the
//! target size, and merges the rest. The same rules are kept here, so that a bucket compacted by dyntable and one
//! compacted by Java end up with the same files.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::mem;

use crate::levels::{FileInfo, SortedRun};
use crate::strategy::CompactUnit;

/// Splits files into sections whose key ranges do not overlap one another, each section split into the fewest
/// sorted runs (Paimon's `IntervalPartition`).
///
/// Sections come in key order, so a merge can handle one section at a time and concatenate the outputs.
pub fn interval_partition<K: Ord + Clone>(files: &[FileInfo<K>]) -> Vec<Vec<SortedRun<K>>> {
    let mut sorted = files.to_vec();
    sorted.sort_by(|a, b| a.min_key.cmp(&b.min_key).then_with(|| a.max_key.cmp(&b.max_key)));

    let mut sections = Vec::new();
    let mut section: Vec<FileInfo<K>> = Vec::new();
    // The largest max key of the current section; a file starting above it starts a new section.
    let mut bound: Option<K> = None;
    for file in sorted {
        if bound.as_ref().is_some_and(|bound| file.min_key > *bound) {
            sections.push(split_into_runs(mem::take(&mut section)));
            bound = None;
        }
        if bound.as_ref().is_none_or(|bound| file.max_key > *bound) {
            bound = Some(file.max_key.clone());
        }
        section.push(file);
    }
    if !section.is_empty() {
        sections.push(split_into_runs(section));
    }
    sections
}

/// Greedily packs files sorted by min key into runs: each file joins the run that ends earliest if it starts
/// after that run's end, else opens a new run. This gives the fewest runs for interval data.
fn split_into_runs<K: Ord + Clone>(files: Vec<FileInfo<K>>) -> Vec<SortedRun<K>> {
    let mut runs: Vec<Vec<FileInfo<K>>> = Vec::new();
    // Min-heap on (end key of the run, run index); the index makes ties deterministic.
    let mut ends: BinaryHeap<Reverse<(K, usize)>> = BinaryHeap::new();
    for file in files {
        let fits_earliest_run = ends.peek().is_some_and(|Reverse((end, _))| file.min_key > *end);
        let end = file.max_key.clone();
        if fits_earliest_run {
            if let Some(Reverse((_, index))) = ends.pop() {
                runs[index].push(file);
                ends.push(Reverse((end, index)));
            }
        } else {
            ends.push(Reverse((end, runs.len())));
            runs.push(vec![file]);
        }
    }
    runs.into_iter().map(|files| SortedRun { files }).collect()
}

/// How one part of a unit is compacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompactAction<K = Vec<u8>> {
    /// Move the file to `output_level` in metadata only: it is deleted at its old level and added, unchanged, at
    /// the new one.
    Upgrade { file: FileInfo<K>, output_level: u32 },
    /// Merge these files and write the result, rolled at `target-file-size`, to `output_level`. Each section is
    /// merged on its own (a merge sort of its runs) and the sections' outputs are concatenated in order; with
    /// `drop_deletes` the merge leaves -D rows out, which is only correct when no older data can sit below.
    Rewrite { sections: Vec<Vec<SortedRun<K>>>, output_level: u32, drop_deletes: bool },
    /// The file already is a large, non-overlapping file on the output level: nothing to do. Listed so that every
    /// file of the unit appears in exactly one action.
    Unchanged { file: FileInfo<K> },
}

impl<K> CompactAction<K> {
    /// The unit's files this action consumes.
    pub fn input_files(&self) -> Vec<&FileInfo<K>> {
        match self {
            CompactAction::Upgrade { file, .. } | CompactAction::Unchanged { file } => vec![file],
            CompactAction::Rewrite { sections, .. } => {
                sections.iter().flatten().flat_map(|run| run.files.iter()).collect()
            }
        }
    }
}

/// The facts about the bucket and table that the upgrade-or-rewrite decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewriteSettings {
    /// The max level of the bucket's levels.
    pub max_level: u32,
    /// Files at least this large that overlap nothing are upgraded (70% of `target-file-size`).
    pub upgrade_file_size_bytes_min: u64,
    /// Whether rewrites may drop delete rows (see [`crate::plan::drop_deletes`]).
    pub drop_deletes: bool,
}

/// Decides, per file of `unit`, whether it is upgraded, rewritten or left alone (Paimon's `MergeTreeCompactTask`).
///
/// Walking the sections in key order: a section of several runs is merged; a lone file smaller than the upgrade
/// size waits to be merged with its neighbours; a lone large file ends the batch of waiting sections (they are
/// merged together) and is upgraded. Files are never skipped over, so rewritten outputs keep key order. A batch
/// of a single lone small file is upgraded too, since rewriting one file alone merges nothing. A file that may
/// hold deletes is never upgraded into the max level: it is rewritten alone so its deletes can be dropped.
pub fn plan_rewrite<K: Ord + Clone>(unit: &CompactUnit<K>, settings: &RewriteSettings) -> Vec<CompactAction<K>> {
    let mut planner =
        RewritePlanner { output_level: unit.output_level, settings, actions: Vec::new(), waiting: Vec::new() };
    if unit.file_rewrite {
        for file in &unit.files {
            planner.rewrite_alone(file.clone());
        }
        return planner.actions;
    }
    for section in interval_partition(&unit.files) {
        if section.len() > 1 {
            planner.waiting.push(section);
            continue;
        }
        for run in section {
            for file in run.files {
                if file.size_bytes < settings.upgrade_file_size_bytes_min {
                    planner.waiting.push(vec![SortedRun::single(file)]);
                } else {
                    planner.flush_waiting();
                    planner.upgrade(file);
                }
            }
        }
    }
    planner.flush_waiting();
    planner.actions
}

struct RewritePlanner<'a, K> {
    output_level: u32,
    settings: &'a RewriteSettings,
    actions: Vec<CompactAction<K>>,
    /// Sections waiting to be merged together, in key order.
    waiting: Vec<Vec<SortedRun<K>>>,
}

impl<K: Ord + Clone> RewritePlanner<'_, K> {
    fn upgrade(&mut self, file: FileInfo<K>) {
        if file.level == self.output_level {
            self.actions.push(CompactAction::Unchanged { file });
        } else if self.output_level != self.settings.max_level || !file.may_hold_deletes() {
            self.actions.push(CompactAction::Upgrade { file, output_level: self.output_level });
        } else {
            self.rewrite_alone(file);
        }
    }

    fn rewrite_alone(&mut self, file: FileInfo<K>) {
        self.actions.push(CompactAction::Rewrite {
            sections: vec![vec![SortedRun::single(file)]],
            output_level: self.output_level,
            drop_deletes: self.settings.drop_deletes,
        });
    }

    fn flush_waiting(&mut self) {
        let waiting = mem::take(&mut self.waiting);
        if let [section] = waiting.as_slice() {
            if let [run] = section.as_slice() {
                for file in run.files.clone() {
                    self.upgrade(file);
                }
                return;
            }
        }
        if !waiting.is_empty() {
            self.actions.push(CompactAction::Rewrite {
                sections: waiting,
                output_level: self.output_level,
                drop_deletes: self.settings.drop_deletes,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, level: u32, keys: (u32, u32), size_bytes: u64) -> FileInfo<u32> {
        FileInfo {
            name: name.to_string(),
            size_bytes,
            level,
            min_key: keys.0,
            max_key: keys.1,
            max_sequence_number: 0,
            delete_row_count: Some(0),
        }
    }

    fn names(sections: &[Vec<SortedRun<u32>>]) -> Vec<Vec<Vec<&str>>> {
        sections
            .iter()
            .map(|section| {
                section.iter().map(|run| run.files.iter().map(|file| file.name.as_str()).collect()).collect()
            })
            .collect()
    }

    /// A compact rendering of actions: ("upgrade", name), ("rewrite", names), ("unchanged", name).
    fn describe(actions: &[CompactAction<u32>]) -> Vec<String> {
        actions
            .iter()
            .map(|action| match action {
                CompactAction::Upgrade { file, output_level } => {
                    format!("upgrade {} to {output_level}", file.name)
                }
                CompactAction::Rewrite { sections, output_level, drop_deletes } => {
                    format!("rewrite {:?} to {output_level} drop_deletes={drop_deletes}", names(sections))
                }
                CompactAction::Unchanged { file } => format!("unchanged {}", file.name),
            })
            .collect()
    }

    fn unit(output_level: u32, files: Vec<FileInfo<u32>>) -> CompactUnit<u32> {
        CompactUnit { output_level, files, full: false, file_rewrite: false }
    }

    const SETTINGS: RewriteSettings =
        RewriteSettings { max_level: 5, upgrade_file_size_bytes_min: 70, drop_deletes: false };

    #[test]
    fn interval_partition_groups_overlapping_files() {
        // Files sharing any key (touching ends included) land in one section, split into the fewest runs;
        // disjoint files get sections of their own, in key order.
        let files = vec![
            file("e", 0, (35, 36), 1),
            file("a", 0, (0, 10), 1),
            file("d", 0, (31, 40), 1),
            file("c", 0, (20, 30), 1),
            file("b", 0, (5, 15), 1),
            file("f", 0, (41, 50), 1),
            file("g", 0, (50, 60), 1),
            file("h", 0, (59, 62), 1),
            file("i", 0, (55, 58), 1),
        ];
        assert_eq!(
            names(&interval_partition(&files)),
            vec![
                vec![vec!["a"], vec!["b"]],
                vec![vec!["c"]],
                vec![vec!["d"], vec!["e"]],
                // f and g touch at 50, so g opens a second run; i and then h each start after the run that ends
                // first (f's, then f-i's), so they extend it.
                vec![vec!["f", "i", "h"], vec!["g"]],
            ]
        );
        assert!(interval_partition::<u32>(&[]).is_empty());
    }

    #[test]
    fn large_lone_files_are_upgraded_and_the_rest_rewritten() {
        // Target 100 bytes makes 70 the upgrade size. A (80, alone) is upgraded; B and C (10 each, alone) wait
        // and are merged together when D (80, alone) arrives and is upgraded; E and F overlap and are merged.
        let files = vec![
            file("F", 0, (85, 95), 10),
            file("E", 0, (80, 90), 80),
            file("D", 0, (60, 70), 80),
            file("C", 0, (40, 50), 10),
            file("B", 0, (20, 30), 10),
            file("A", 1, (0, 10), 80),
        ];
        assert_eq!(
            describe(&plan_rewrite(&unit(2, files), &SETTINGS)),
            vec![
                "upgrade A to 2",
                r#"rewrite [[["B"]], [["C"]]] to 2 drop_deletes=false"#,
                "upgrade D to 2",
                r#"rewrite [[["E"], ["F"]]] to 2 drop_deletes=false"#,
            ]
        );
    }

    #[test]
    fn a_lone_small_file_is_upgraded_not_rewritten() {
        // Rewriting one small file by itself merges nothing, so it is moved instead; the exact upgrade size
        // (70 of 100) counts as large.
        let actions = plan_rewrite(&unit(1, vec![file("small", 0, (0, 1), 5)]), &SETTINGS);
        assert_eq!(describe(&actions), vec!["upgrade small to 1"]);
        let actions = plan_rewrite(&unit(1, vec![file("edge", 0, (0, 1), 70), file("tiny", 0, (5, 6), 1)]), &SETTINGS);
        assert_eq!(describe(&actions), vec!["upgrade edge to 1", "upgrade tiny to 1"]);
    }

    #[test]
    fn a_large_file_already_on_the_output_level_is_left_alone() {
        // The level-3 file overlaps nothing and is large, so it stays where it is; the level-0 file that
        // overlaps nothing is upgraded to level 3 beside it.
        let actions = plan_rewrite(&unit(3, vec![file("new", 0, (0, 5), 90), file("big", 3, (10, 20), 90)]), &SETTINGS);
        assert_eq!(describe(&actions), vec!["upgrade new to 3", "unchanged big"]);
    }

    #[test]
    fn files_that_may_hold_deletes_are_rewritten_into_the_max_level() {
        // Into the max level (5) a file with deletes, or with no recorded delete count, is rewritten alone so its
        // deletes can be dropped; a file known to hold none is upgraded. Below the max level all are upgraded.
        let mut with_deletes = file("deletes", 0, (0, 10), 90);
        with_deletes.delete_row_count = Some(3);
        let mut unknown = file("unknown", 0, (20, 30), 90);
        unknown.delete_row_count = None;
        let clean = file("clean", 0, (40, 50), 90);
        let files = vec![with_deletes, unknown, clean];
        let settings = RewriteSettings { drop_deletes: true, ..SETTINGS };
        assert_eq!(
            describe(&plan_rewrite(&unit(5, files.clone()), &settings)),
            vec![
                r#"rewrite [[["deletes"]]] to 5 drop_deletes=true"#,
                r#"rewrite [[["unknown"]]] to 5 drop_deletes=true"#,
                "upgrade clean to 5",
            ]
        );
        assert_eq!(
            describe(&plan_rewrite(&unit(4, files), &SETTINGS)),
            vec!["upgrade deletes to 4", "upgrade unknown to 4", "upgrade clean to 4"]
        );
    }

    #[test]
    fn a_file_rewrite_unit_rewrites_each_file_alone() {
        // A full compaction of a bucket that already is one max-level run rewrites the chosen files one by one.
        let mut rewrite_unit = unit(5, vec![file("x", 5, (0, 1), 90), file("y", 5, (2, 3), 1)]);
        rewrite_unit.file_rewrite = true;
        let settings = RewriteSettings { drop_deletes: true, ..SETTINGS };
        assert_eq!(
            describe(&plan_rewrite(&rewrite_unit, &settings)),
            vec![r#"rewrite [[["x"]]] to 5 drop_deletes=true"#, r#"rewrite [[["y"]]] to 5 drop_deletes=true"#]
        );
    }
}
