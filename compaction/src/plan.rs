//! One call from "these are the bucket's levels" to "this is the compaction to run" (Paimon's
//! `MergeTreeCompactManager.triggerCompaction` without the executor).

use crate::levels::Levels;
use crate::options::CompactionOptions;
use crate::rewrite::{plan_rewrite, CompactAction, RewriteSettings};
use crate::strategy::{pick_full_compaction, CompactStrategy, CompactUnit};

/// Why a compaction is being planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionTrigger {
    /// The writer's regular check after a flush: the strategy decides whether anything is due.
    Normal,
    /// A user or a `full-compaction` changelog producer asks for everything in the max level.
    Full,
}

/// A compaction ready for the job that does the I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionPlan<K = Vec<u8>> {
    pub unit: CompactUnit<K>,
    /// Rewrites may leave delete rows out (already set on every `Rewrite` action).
    pub drop_deletes: bool,
    /// Every file of the unit appears in exactly one action.
    pub actions: Vec<CompactAction<K>>,
}

/// Whether a compaction writing to `output_level` may drop delete rows.
///
/// A delete row only matters while an older version of its key may sit in a lower-priority run. Output on level 0
/// may have older data anywhere; output at or above the highest non-empty level has none below it, because the
/// picked runs are a prefix and everything older is on a higher level.
pub fn drop_deletes<K>(output_level: u32, levels: &Levels<K>) -> bool {
    output_level != 0 && levels.non_empty_highest_level().is_none_or(|highest| output_level >= highest)
}

/// Picks and plans a compaction of `levels`, or `None` when there is nothing worth doing.
///
/// A normal pick that would only move one file onto the level it already has is dropped, as Paimon does.
pub fn plan_compaction<K, S>(
    strategy: &S,
    levels: &Levels<K>,
    options: &CompactionOptions,
    trigger: CompactionTrigger,
) -> Option<CompactionPlan<K>>
where
    K: Ord + Clone,
    S: CompactStrategy<K> + ?Sized,
{
    let runs = levels.level_sorted_runs();
    let num_levels = levels.number_of_levels();
    let unit = match trigger {
        CompactionTrigger::Full => pick_full_compaction(num_levels, &runs, |_| false)?,
        CompactionTrigger::Normal => strategy.pick(num_levels, &runs).filter(|unit| match unit.files.as_slice() {
            [] => false,
            [only] => only.level != unit.output_level,
            _ => true,
        })?,
    };
    let drop_deletes = drop_deletes(unit.output_level, levels);
    let settings = RewriteSettings {
        max_level: levels.max_level(),
        upgrade_file_size_bytes_min: options.upgrade_file_size_bytes_min(),
        drop_deletes,
    };
    let actions = plan_rewrite(&unit, &settings);
    Some(CompactionPlan { unit, drop_deletes, actions })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::levels::FileInfo;
    use crate::strategy::UniversalCompaction;

    fn file(name: &str, level: u32, keys: (u32, u32), size_bytes: u64, sequence: i64) -> FileInfo<u32> {
        FileInfo {
            name: name.to_string(),
            size_bytes,
            level,
            min_key: keys.0,
            max_key: keys.1,
            max_sequence_number: sequence,
            delete_row_count: Some(1),
        }
    }

    fn options() -> CompactionOptions {
        CompactionOptions {
            num_sorted_run_compaction_trigger: 2,
            num_sorted_run_stop_trigger: 5,
            num_levels: 4,
            target_file_size_bytes: 100,
            ..CompactionOptions::default()
        }
    }

    #[test]
    fn deletes_are_dropped_only_with_no_older_data_below() {
        // Output at or above the highest non-empty level drops deletes; below it, or on level 0, it must not.
        let levels = Levels::new(vec![file("a", 0, (0, 1), 1, 2), file("b", 2, (0, 1), 1, 1)], 4).unwrap();
        assert!(!drop_deletes(0, &levels));
        assert!(!drop_deletes(1, &levels));
        assert!(drop_deletes(2, &levels));
        assert!(drop_deletes(3, &levels));
        assert!(drop_deletes(1, &Levels::<u32>::new(Vec::new(), 4).unwrap()));
    }

    #[test]
    fn normal_trigger_plans_a_size_ratio_merge() {
        // Two overlapping level-0 files of 10 bytes (trigger 2) merge by size ratio; the level-3 file of 1000 stays,
        // so the output goes to level 2 and keeps its deletes.
        let levels = Levels::new(
            vec![file("new", 0, (0, 9), 10, 3), file("old", 0, (5, 15), 10, 2), file("base", 3, (0, 99), 1000, 1)],
            4,
        )
        .unwrap();
        let options = options();
        let plan =
            plan_compaction(&UniversalCompaction::from_options(&options), &levels, &options, CompactionTrigger::Normal)
                .unwrap();
        assert_eq!(plan.unit.output_level, 2);
        assert!(!plan.drop_deletes);
        assert_eq!(plan.actions.len(), 1);
        assert!(matches!(&plan.actions[0], CompactAction::Rewrite { sections, output_level: 2, drop_deletes: false }
            if sections.len() == 1 && sections[0].len() == 2));
    }

    #[test]
    fn a_pick_that_moves_nothing_is_dropped() {
        // A strategy returning a single file already on its output level gives no plan, and an empty bucket none.
        struct SameLevel;
        impl CompactStrategy<u32> for SameLevel {
            fn pick(&self, _num_levels: u32, runs: &[crate::levels::LevelSortedRun<u32>]) -> Option<CompactUnit<u32>> {
                Some(CompactUnit::from_level_runs(runs[0].level, &runs[..1], false))
            }
        }
        let levels = Levels::new(vec![file("only", 2, (0, 1), 10, 1)], 4).unwrap();
        assert_eq!(plan_compaction(&SameLevel, &levels, &options(), CompactionTrigger::Normal), None);
        let strategy: &dyn CompactStrategy<u32> = &UniversalCompaction::from_options(&options());
        let empty = Levels::<u32>::new(Vec::new(), 4).unwrap();
        assert_eq!(plan_compaction(strategy, &empty, &options(), CompactionTrigger::Full), None);
    }

    #[test]
    fn full_trigger_moves_everything_to_the_max_level_dropping_deletes() {
        // A forced full compaction of one small file takes it to the max level; it holds deletes, so it is
        // rewritten alone with deletes dropped rather than upgraded.
        let levels = Levels::new(vec![file("only", 1, (0, 1), 10, 1)], 4).unwrap();
        let options = options();
        let plan =
            plan_compaction(&UniversalCompaction::from_options(&options), &levels, &options, CompactionTrigger::Full)
                .unwrap();
        assert!(plan.unit.full);
        assert!(plan.drop_deletes);
        assert!(matches!(&plan.actions[..], [CompactAction::Rewrite { output_level: 3, drop_deletes: true, .. }]));
    }
}
