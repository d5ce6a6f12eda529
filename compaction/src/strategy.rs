//! Pickers: which sorted runs to merge next, and to which level. Paimon's universal compaction lives here.
//!
//! A picker sees the runs newest first and returns a [`CompactUnit`]: the files of a contiguous prefix of those
//! runs and an output level above every picked run and below every run left out. Merging anything but a prefix
//! would let an older version of a key end up in front of a newer one, so every picker keeps to prefixes.

use crate::levels::{FileInfo, LevelSortedRun};
use crate::options::CompactionOptions;

/// Files picked for one compaction, and where the result goes (Paimon's `CompactUnit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactUnit<K = Vec<u8>> {
    pub output_level: u32,
    /// The picked files, run by run, newest run first.
    pub files: Vec<FileInfo<K>>,
    /// Every sorted run of the bucket is in the unit, so the output is the oldest data there is.
    pub full: bool,
    /// Each file is rewritten on its own instead of merged (Paimon's `fileRewrite`): a full compaction of a
    /// bucket that is already one run at the max level only rewrites the files that need it.
    pub file_rewrite: bool,
}

impl<K: Clone> CompactUnit<K> {
    /// A unit holding every file of `runs`, in run order.
    pub fn from_level_runs(output_level: u32, runs: &[LevelSortedRun<K>], full: bool) -> Self {
        let files = runs.iter().flat_map(|run| run.run.files.iter().cloned()).collect();
        CompactUnit { output_level, files, full, file_rewrite: false }
    }
}

/// A compaction policy: given the runs of a bucket, newest first, which to merge now.
///
/// Rules every implementation keeps (the crate's property test checks them for [`UniversalCompaction`]):
/// the unit's files are those of a contiguous prefix of `runs`; the output level is at least the level of every
/// picked run, below the level of the first run not picked, and never 0; all runs picked means the max level.
pub trait CompactStrategy<K = Vec<u8>> {
    /// Picks a unit, or `None` when nothing needs compacting. `num_levels` counts level 0.
    fn pick(&self, num_levels: u32, runs: &[LevelSortedRun<K>]) -> Option<CompactUnit<K>>;
}

/// A forced full compaction (Paimon's `CompactStrategy.pickFullCompaction`): every run into the max level.
///
/// When the bucket already is a single run at the max level, merging it again would change nothing, so only the
/// files `must_rewrite` selects (files with expired records or deletion vectors, or all of them when the user
/// forces a rewrite) are picked, each to be rewritten on its own; `None` if it selects none.
pub fn pick_full_compaction<K: Clone>(
    num_levels: u32,
    runs: &[LevelSortedRun<K>],
    must_rewrite: impl Fn(&FileInfo<K>) -> bool,
) -> Option<CompactUnit<K>> {
    let max_level = max_level(num_levels);
    match runs {
        [] => None,
        [only] if only.level == max_level => {
            let files: Vec<FileInfo<K>> = only.run.files.iter().filter(|file| must_rewrite(file)).cloned().collect();
            if files.is_empty() {
                None
            } else {
                Some(CompactUnit { output_level: max_level, files, full: true, file_rewrite: true })
            }
        }
        _ => Some(CompactUnit::from_level_runs(max_level, runs, true)),
    }
}

fn max_level(num_levels: u32) -> u32 {
    debug_assert!(num_levels >= 2, "an lsm tree needs at least two levels");
    num_levels.saturating_sub(1)
}

/// Paimon's universal compaction (after RocksDB's), checked in this order:
///
/// 1. size amplification: with at least `trigger` runs, if all runs but the oldest together exceed
///    `max-size-amplification-percent` of the oldest, compact everything into the max level;
/// 2. size ratio: with at least `trigger` runs, grow a candidate from the newest run while
///    `candidate * (100 + size-ratio) / 100 >= next run`; once two runs are in, keep taking runs of level 0 and 1
///    regardless of size, so small runs are not left stranded under a big output;
/// 3. file number: with more than `trigger` runs, take the newest `runs - trigger + 1` and grow by size ratio.
///
/// The time-based parts of Paimon's picker (`compaction.optimization-interval`, off-peak ratios) need a clock and
/// are left out, which is the same as leaving those options unset in Java.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UniversalCompaction {
    max_size_amplification_percent: u32,
    size_ratio_percent: u32,
    num_sorted_run_compaction_trigger: usize,
}

impl UniversalCompaction {
    pub fn new(
        max_size_amplification_percent: u32,
        size_ratio_percent: u32,
        num_sorted_run_compaction_trigger: u32,
    ) -> Self {
        UniversalCompaction {
            max_size_amplification_percent,
            size_ratio_percent,
            num_sorted_run_compaction_trigger: num_sorted_run_compaction_trigger as usize,
        }
    }

    pub fn from_options(options: &CompactionOptions) -> Self {
        UniversalCompaction::new(
            options.max_size_amplification_percent,
            options.size_ratio_percent,
            options.num_sorted_run_compaction_trigger,
        )
    }

    /// A forced full compaction of every run (see [`pick_full_compaction`]); nothing to rewrite in place.
    pub fn pick_full<K: Clone>(&self, num_levels: u32, runs: &[LevelSortedRun<K>]) -> Option<CompactUnit<K>> {
        pick_full_compaction(num_levels, runs, |_| false)
    }

    /// Rule 1: everything into the max level when the newer runs are too large next to the oldest.
    pub fn pick_for_size_amplification<K: Clone>(
        &self,
        max_level: u32,
        runs: &[LevelSortedRun<K>],
    ) -> Option<CompactUnit<K>> {
        if runs.len() < self.num_sorted_run_compaction_trigger {
            return None;
        }
        let (oldest, newer) = runs.split_last()?;
        let newer_size_bytes: u128 = newer.iter().map(|run| u128::from(run.total_size_bytes())).sum();
        let oldest_size_bytes = u128::from(oldest.total_size_bytes());
        // u128 keeps `size * percent` exact for any u64 size.
        if newer_size_bytes * 100 > u128::from(self.max_size_amplification_percent) * oldest_size_bytes {
            return Some(CompactUnit::from_level_runs(max_level, runs, true));
        }
        None
    }

    /// Rule 2: a candidate grown from the newest run by size ratio.
    pub fn pick_for_size_ratio<K: Clone>(&self, max_level: u32, runs: &[LevelSortedRun<K>]) -> Option<CompactUnit<K>> {
        if runs.len() < self.num_sorted_run_compaction_trigger {
            return None;
        }
        self.grow_by_size_ratio(max_level, runs, 1, CandidateStart::NeedsSecondRun)
    }

    /// Grows a candidate of the newest `candidate_count` runs by size ratio and makes a unit of it, or `None` when
    /// the candidate stayed a single run and `start` does not force it.
    fn grow_by_size_ratio<K: Clone>(
        &self,
        max_level: u32,
        runs: &[LevelSortedRun<K>],
        mut candidate_count: usize,
        start: CandidateStart,
    ) -> Option<CompactUnit<K>> {
        debug_assert!(candidate_count >= 1 && candidate_count <= runs.len());
        let mut candidate_size_bytes: u128 =
            runs[..candidate_count].iter().map(|run| u128::from(run.total_size_bytes())).sum();
        let mut triggered = start == CandidateStart::Forced || candidate_count > 1;
        for next in &runs[candidate_count..] {
            let next_size_bytes = u128::from(next.total_size_bytes());
            // Java computes `candidate * (100.0 + ratio) / 100.0 < next` in doubles; this is the exact form.
            let next_is_larger =
                candidate_size_bytes * (100 + u128::from(self.size_ratio_percent)) < next_size_bytes * 100;
            // Once a compaction is on, runs of levels 0 and 1 are swept in whatever their size: leaving them would
            // only make the output land on level 0 or leave a tiny level 1 under it.
            if next_is_larger && (!triggered || next.level > 1) {
                break;
            }
            candidate_size_bytes += next_size_bytes;
            candidate_count += 1;
            triggered = true;
        }
        if triggered {
            Some(self.create_unit(max_level, runs, candidate_count))
        } else {
            None
        }
    }

    /// Makes a unit of the newest `run_count` runs, choosing the output level (Paimon's `createUnit`).
    ///
    /// The output goes one level below the next older run, so the order of runs is kept. If that is level 0 (the
    /// next run is on level 0 or 1), the unit is extended through the first run above level 0 and writes to that
    /// run's level instead: compaction output never goes to level 0. Taking every run writes to the max level.
    pub fn create_unit<K: Clone>(
        &self,
        max_level: u32,
        runs: &[LevelSortedRun<K>],
        mut run_count: usize,
    ) -> CompactUnit<K> {
        debug_assert!(run_count >= 1 && run_count <= runs.len());
        let mut output_level =
            if run_count == runs.len() { max_level } else { runs[run_count].level.saturating_sub(1) };
        if output_level == 0 {
            for next in &runs[run_count..] {
                run_count += 1;
                if next.level != 0 {
                    output_level = next.level;
                    break;
                }
            }
        }
        let full = run_count == runs.len();
        if full {
            output_level = max_level;
        }
        CompactUnit::from_level_runs(output_level, &runs[..run_count], full)
    }

    /// Paimon's `forcePickL0`: all level-0 runs, grown by size ratio, even if that is a single file. Used where
    /// level 0 must be emptied (lookup changelog, deletion vectors).
    pub fn force_pick_level0<K: Clone>(&self, num_levels: u32, runs: &[LevelSortedRun<K>]) -> Option<CompactUnit<K>> {
        let level0_runs = runs.iter().take_while(|run| run.level == 0).count();
        if level0_runs == 0 {
            return None;
        }
        self.grow_by_size_ratio(max_level(num_levels), runs, level0_runs, CandidateStart::Forced)
    }
}

/// Whether a single-run candidate is a compaction by itself (forced) or needs a second run first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CandidateStart {
    NeedsSecondRun,
    Forced,
}

impl<K: Clone> CompactStrategy<K> for UniversalCompaction {
    fn pick(&self, num_levels: u32, runs: &[LevelSortedRun<K>]) -> Option<CompactUnit<K>> {
        let max_level = max_level(num_levels);
        if let Some(unit) = self.pick_for_size_amplification(max_level, runs) {
            return Some(unit);
        }
        if let Some(unit) = self.pick_for_size_ratio(max_level, runs) {
            return Some(unit);
        }
        if runs.len() > self.num_sorted_run_compaction_trigger {
            let candidate_count = runs.len() - self.num_sorted_run_compaction_trigger + 1;
            return self.grow_by_size_ratio(max_level, runs, candidate_count, CandidateStart::NeedsSecondRun);
        }
        None
    }
}

/// Paimon's `ForceUpLevel0Compaction`: universal compaction, and when it picks nothing, all of level 0 anyway.
///
/// Tables with `changelog-producer = lookup` or deletion vectors use it, because their readers only see data
/// once it has left level 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForceUpLevel0Compaction {
    pub universal: UniversalCompaction,
}

impl<K: Clone> CompactStrategy<K> for ForceUpLevel0Compaction {
    fn pick(&self, num_levels: u32, runs: &[LevelSortedRun<K>]) -> Option<CompactUnit<K>> {
        self.universal.pick(num_levels, runs).or_else(|| self.universal.force_pick_level0(num_levels, runs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::levels::SortedRun;

    fn run(level: u32, size_bytes: u64) -> LevelSortedRun<u32> {
        LevelSortedRun {
            level,
            run: SortedRun::single(FileInfo {
                name: format!("l{level}-{size_bytes}"),
                size_bytes,
                level,
                min_key: 0,
                max_key: 0,
                max_sequence_number: 0,
                delete_row_count: Some(0),
            }),
        }
    }

    fn level0(sizes: &[u64]) -> Vec<LevelSortedRun<u32>> {
        sizes.iter().map(|size| run(0, *size)).collect()
    }

    /// Runs where the i-th run sits on level i, as Paimon's size-ratio tests build them.
    fn staircase(sizes: &[u64]) -> Vec<LevelSortedRun<u32>> {
        sizes.iter().enumerate().map(|(level, size)| run(level as u32, *size)).collect()
    }

    fn sizes(unit: &CompactUnit<u32>) -> Vec<u64> {
        unit.files.iter().map(|file| file.size_bytes).collect()
    }

    #[test]
    fn nothing_is_picked_under_the_trigger() {
        // Below the trigger no rule applies, even when the sizes would call for size amplification or ratio.
        let universal = UniversalCompaction::new(200, 1, 5);
        assert_eq!(universal.pick(6, &level0(&[100, 1, 1, 1])), None);
        assert_eq!(universal.pick(6, &level0(&[1, 1, 1, 1])), None);
        assert_eq!(universal.pick(6, &level0(&[])), None);
        // At the trigger with a dominant oldest run and growing sizes, nothing fires either.
        assert_eq!(universal.pick(6, &level0(&[1, 3, 9, 27, 1000])), None);
    }

    #[test]
    fn size_amplification_compacts_everything_into_the_max_level() {
        // 1 + 2 + 3 = 6 newer bytes against an oldest run of 3: 600 > 25 * 3, so all runs go to the max level.
        let universal = UniversalCompaction::new(25, 1, 3);
        let unit = universal.pick(3, &level0(&[1, 2, 3, 3])).unwrap();
        assert_eq!(sizes(&unit), vec![1, 2, 3, 3]);
        assert_eq!(unit.output_level, 2);
        assert!(unit.full);
        // At the default 200%: 1 + 1 + 1 + 1 = 4 newer bytes against an oldest run of 1 is 400 > 200 * 1.
        let universal = UniversalCompaction::new(200, 1, 5);
        let unit = universal.pick(6, &[run(0, 1), run(0, 1), run(0, 1), run(0, 1), run(5, 1)]).unwrap();
        assert_eq!(unit.output_level, 5);
        assert!(unit.full);
        // Exactly 200% is not above the limit: 4 newer bytes against 2 gives 4 * 100 = 200 * 2, which is not `>`.
        let universal = UniversalCompaction::new(200, 0, 5);
        let unit = universal.pick_for_size_amplification(5, &[run(0, 1), run(0, 1), run(0, 1), run(0, 1), run(5, 2)]);
        assert_eq!(unit, None);
    }

    #[test]
    fn size_amplification_sequence_matches_paimon() {
        // Appending a 1-byte run each step with amp 25% and trigger 1 replays Paimon's own expected sequence.
        let universal = UniversalCompaction::new(25, 0, 1);
        let mut current: Vec<u64> = vec![1];
        let expected: [&[u64]; 17] = [
            &[2],
            &[3],
            &[4],
            &[1, 4],
            &[6],
            &[1, 6],
            &[8],
            &[1, 8],
            &[1, 1, 8],
            &[11],
            &[1, 11],
            &[1, 1, 11],
            &[14],
            &[1, 14],
            &[1, 1, 14],
            &[1, 1, 1, 14],
            &[18],
        ];
        for want in expected {
            current.insert(0, 1);
            if let Some(unit) = universal.pick_for_size_amplification(2, &level0(&current)) {
                current = vec![unit.files.iter().map(|file| file.size_bytes).sum()];
            }
            assert_eq!(current, want);
        }
    }

    #[test]
    fn size_ratio_picks_a_prefix() {
        // 1 absorbs the next 1 (1.01 >= 1), 2 absorbs the next 1, then 3 * 1.01 < 50 on level 3 stops the candidate.
        let universal = UniversalCompaction::new(25, 1, 3);
        let unit = universal.pick(4, &staircase(&[1, 1, 1, 50])).unwrap();
        assert_eq!(sizes(&unit), vec![1, 1, 1]);
        assert_eq!(unit.output_level, 2);
        assert!(!unit.full);
        // The ratio is a percentage of slack: 8 * 1.10 = 8.8 < 9 stops at once, 8 * 1.20 = 9.6 >= 9 takes all.
        let runs = staircase(&[8, 9, 10]);
        assert_eq!(UniversalCompaction::new(25, 10, 2).pick_for_size_ratio(2, &runs), None);
        let unit = UniversalCompaction::new(25, 20, 2).pick_for_size_ratio(2, &runs).unwrap();
        assert_eq!(sizes(&unit), vec![8, 9, 10]);
    }

    #[test]
    fn size_ratio_sweeps_level0_and_level1_once_triggered() {
        // After 1 + 1 triggers, the third level-0 run joins (2 * 1.01 >= 1), the level-1 run of 100 is taken although
        // 3 * 1.01 < 100, and the candidate stops only at the level-3 run of 1000 (103 * 1.01 < 1000).
        let universal = UniversalCompaction::new(1000, 1, 3);
        let runs = vec![run(0, 1), run(0, 1), run(0, 1), run(1, 100), run(3, 1000)];
        let unit = universal.pick(4, &runs).unwrap();
        assert_eq!(sizes(&unit), vec![1, 1, 1, 100]);
        assert_eq!(unit.output_level, 2);
    }

    #[test]
    fn size_ratio_sequence_matches_paimon() {
        // Appending a 1-byte run to a staircase with ratio 1% and trigger 5 replays Paimon's expected sequence.
        let universal = UniversalCompaction::new(25, 1, 5);
        let mut current: Vec<u64> = vec![1, 1, 1, 1];
        let expected: [&[u64]; 22] = [
            &[5],
            &[1, 5],
            &[1, 1, 5],
            &[1, 1, 1, 5],
            &[4, 5],
            &[1, 4, 5],
            &[1, 1, 4, 5],
            &[3, 4, 5],
            &[1, 3, 4, 5],
            &[2, 3, 4, 5],
            &[1, 2, 3, 4, 5],
            &[16],
            &[1, 16],
            &[1, 1, 16],
            &[1, 1, 1, 16],
            &[4, 16],
            &[1, 4, 16],
            &[1, 1, 4, 16],
            &[3, 4, 16],
            &[1, 3, 4, 16],
            &[2, 3, 4, 16],
            &[1, 2, 3, 4, 16],
        ];
        for want in expected {
            current.insert(0, 1);
            let runs = staircase(&current);
            if let Some(unit) = universal.pick_for_size_ratio(current.len() as u32, &runs) {
                let picked = unit.files.len();
                let merged: u64 = unit.files.iter().map(|file| file.size_bytes).sum();
                current = std::iter::once(merged).chain(current[picked..].iter().copied()).collect();
            }
            assert_eq!(current, want);
        }
    }

    #[test]
    fn file_number_picks_the_surplus_runs_and_grows_by_ratio() {
        // With trigger 3 and 4 runs neither size rule fires (1 * 1.01 < 2), so the file-number rule takes the
        // newest 4 - 3 + 1 = 2 runs, grows by ratio to include 3 (3.03 >= 3), and stops at 50.
        let universal = UniversalCompaction::new(25, 1, 3);
        let unit = universal.pick(4, &staircase(&[1, 2, 3, 50])).unwrap();
        assert_eq!(sizes(&unit), vec![1, 2, 3]);
        assert_eq!(unit.output_level, 2);
        // Default options: 7 growing level-0 runs under a large level-5 run. Amp: 1+2+4+8+16+32 = 63 < 2 * 10000.
        // Ratio: 1 * 1.01 < 2. File number: 7 - 5 + 1 = 3 runs, then level-0 runs are swept in.
        let universal = UniversalCompaction::new(200, 1, 5);
        let runs = vec![run(0, 1), run(0, 2), run(0, 4), run(0, 8), run(0, 16), run(0, 32), run(5, 10_000)];
        let unit = universal.pick(6, &runs).unwrap();
        assert_eq!(sizes(&unit), vec![1, 2, 4, 8, 16, 32]);
        assert_eq!(unit.output_level, 4);
    }

    #[test]
    fn output_level_is_one_below_the_next_run_and_never_zero() {
        // For runs on levels 0, 0, 1, 3, 4 (max level 5), taking 1..=5 runs writes to 1, 1, 2, 3 and 5, as Paimon.
        let universal = UniversalCompaction::new(25, 1, 3);
        let runs: Vec<_> = [0, 0, 1, 3, 4].iter().map(|level| run(*level, 1)).collect();
        let outputs: Vec<u32> = (1..=5).map(|count| universal.create_unit(5, &runs, count).output_level).collect();
        assert_eq!(outputs, vec![1, 1, 2, 3, 5]);
        // Taking one run of level 0 before another level-0 run would write to level 0, so the unit grows through
        // the first run above level 0 (level 1, 3 runs) and writes there.
        assert_eq!(universal.create_unit(5, &runs, 1).files.len(), 3);
        // When only level-0 runs follow, the unit grows to everything and goes to the max level.
        let runs = level0(&[1, 1, 1, 1024, 1024 * 1024]);
        let unit = UniversalCompaction::new(200, 1, 5).pick(6, &runs).unwrap();
        assert_eq!(sizes(&unit), vec![1, 1, 1, 1024, 1024 * 1024]);
        assert_eq!(unit.output_level, 5);
        assert!(unit.full);
        // Paimon's `testNoOutputLevel0`: two level-0 runs, level 1 and a big level 2.
        let unit = universal.pick(3, &[run(0, 1), run(0, 1), run(1, 1), run(2, 50)]).unwrap();
        assert_eq!(sizes(&unit), vec![1, 1, 1]);
        assert_eq!(unit.output_level, 1);
    }

    #[test]
    fn full_compaction_takes_everything_unless_already_one_max_level_run() {
        // A forced full compaction merges every run into the max level, picks nothing for an empty bucket, and
        // for a bucket that is one max-level run picks only the files that must be rewritten, one by one.
        let universal = UniversalCompaction::new(200, 1, 5);
        let unit = universal.pick_full(6, &[run(0, 1), run(2, 5)]).unwrap();
        assert_eq!(sizes(&unit), vec![1, 5]);
        assert_eq!((unit.output_level, unit.full, unit.file_rewrite), (5, true, false));
        assert_eq!(universal.pick_full::<u32>(6, &[]), None);
        assert_eq!(universal.pick_full(6, &[run(5, 7)]), None);
        let unit = pick_full_compaction(6, &[run(5, 7)], |file| file.size_bytes == 7).unwrap();
        assert_eq!((unit.output_level, unit.full, unit.file_rewrite), (5, true, true));
        // A single run below the max level is still moved up.
        assert_eq!(universal.pick_full(6, &[run(3, 7)]).unwrap().output_level, 5);
    }

    #[test]
    fn force_up_level0_empties_level0_when_universal_picks_nothing() {
        // Paimon's lookup cases: below the trigger, level 0 is still compacted, growing by size ratio.
        let strategy = ForceUpLevel0Compaction { universal: UniversalCompaction::new(25, 1, 3) };
        let unit = strategy.pick(3, &level0(&[1, 2, 2, 2])).unwrap();
        assert_eq!((sizes(&unit), unit.output_level), (vec![1, 2, 2, 2], 2));
        let unit = strategy.pick(3, &[run(0, 1), run(1, 2), run(2, 2)]).unwrap();
        assert_eq!((sizes(&unit), unit.output_level), (vec![1, 2, 2], 2));
        let unit = strategy.pick(3, &[run(0, 1), run(2, 2)]).unwrap();
        assert_eq!((sizes(&unit), unit.output_level), (vec![1], 1));
        assert_eq!(strategy.pick(3, &[run(1, 1), run(2, 2)]), None);
    }
}
