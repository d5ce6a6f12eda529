//! The LSM shape of one bucket: data files, sorted runs, and the `Levels` view the pickers read.
//!
//! Level 0 holds one sorted run per file, newest first; every level from 1 to the max level holds at most one
//! sorted run whose files do not overlap in key range. The pickers only see `LevelSortedRun`s in that order
//! (newest to oldest), which is what makes "a contiguous prefix of runs" a safe unit to merge.

use std::collections::HashSet;

use crate::error::{CompactionError, Result};
use crate::options::CompactionOptions;

/// What the policy needs to know about one data file (Paimon's `DataFileMeta`, trimmed).
///
/// `K` is the key type; it must order keys the way the table's key comparator does. The default, `Vec<u8>`, fits
/// keys encoded so that byte order is key order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileInfo<K = Vec<u8>> {
    /// The file name, unique within a bucket.
    pub name: String,
    pub size_bytes: u64,
    pub level: u32,
    pub min_key: K,
    pub max_key: K,
    /// The highest sequence number in the file; orders level-0 files newest first.
    pub max_sequence_number: i64,
    /// Rows of kind -D in the file; `None` when the writer recorded no count (older Paimon), which must be read
    /// as "may hold deletes".
    pub delete_row_count: Option<u64>,
}

impl<K> FileInfo<K> {
    /// Whether the file may hold delete rows, which must not be moved into the max level without a rewrite.
    pub fn may_hold_deletes(&self) -> bool {
        self.delete_row_count != Some(0)
    }
}

/// A sorted run: files whose key ranges do not overlap, in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedRun<K = Vec<u8>> {
    pub files: Vec<FileInfo<K>>,
}

impl<K> SortedRun<K> {
    /// A run of one file, as every level-0 file is.
    pub fn single(file: FileInfo<K>) -> Self {
        SortedRun { files: vec![file] }
    }

    pub fn total_size_bytes(&self) -> u64 {
        self.files.iter().map(|file| file.size_bytes).sum()
    }
}

/// A sorted run together with the level it lives on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelSortedRun<K = Vec<u8>> {
    pub level: u32,
    pub run: SortedRun<K>,
}

impl<K> LevelSortedRun<K> {
    pub fn total_size_bytes(&self) -> u64 {
        self.run.total_size_bytes()
    }
}

/// All live data files of one bucket, arranged in levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Levels<K = Vec<u8>> {
    /// Level-0 files, newest first: descending max sequence number, then ascending name.
    level0: Vec<FileInfo<K>>,
    /// `upper[i]` holds the files of level `i + 1`, sorted by min key.
    upper: Vec<Vec<FileInfo<K>>>,
}

impl<K: Ord + Clone> Levels<K> {
    /// Arranges a bucket's files into levels.
    ///
    /// Like Paimon, a file on a level at or beyond `num_levels` raises the number of levels instead of failing:
    /// a table may have been written with a larger `num-levels` than it is read with. Files of one level >= 1
    /// that overlap, or a file name listed twice, mean the table metadata is damaged.
    pub fn new(files: Vec<FileInfo<K>>, num_levels: u32) -> Result<Self> {
        let highest_file_level = files.iter().map(|file| file.level).max();
        let num_levels = highest_file_level.map_or(num_levels, |level| num_levels.max(level.saturating_add(1)));
        if num_levels < 2 {
            return Err(CompactionError::TooFewLevels { num_levels });
        }
        let mut levels = Levels { level0: Vec::new(), upper: vec![Vec::new(); (num_levels - 1) as usize] };
        levels.insert_files(files)?;
        levels.check_shape()?;
        Ok(levels)
    }
}

impl<K> Levels<K> {
    /// Levels including level 0.
    pub fn number_of_levels(&self) -> u32 {
        self.upper.len() as u32 + 1
    }

    pub fn max_level(&self) -> u32 {
        self.upper.len() as u32
    }

    /// Sorted runs: one per level-0 file plus one per non-empty higher level.
    pub fn number_of_sorted_runs(&self) -> usize {
        self.level0.len() + self.upper.iter().filter(|files| !files.is_empty()).count()
    }

    /// The highest level holding a file, or `None` when the bucket is empty.
    pub fn non_empty_highest_level(&self) -> Option<u32> {
        match self.upper.iter().rposition(|files| !files.is_empty()) {
            Some(index) => Some(index as u32 + 1),
            None if self.level0.is_empty() => None,
            None => Some(0),
        }
    }

    /// Level-0 files, newest first.
    pub fn level0(&self) -> &[FileInfo<K>] {
        &self.level0
    }

    /// The files of one level in key order (level 0 in newest-first order).
    pub fn files_of_level(&self, level: u32) -> &[FileInfo<K>] {
        match level {
            0 => &self.level0,
            _ => self.upper.get(level as usize - 1).map_or(&[], Vec::as_slice),
        }
    }

    pub fn total_size_bytes(&self) -> u64 {
        self.level0.iter().chain(self.upper.iter().flatten()).map(|file| file.size_bytes).sum()
    }

    /// Whether a flush should wait for compaction (Paimon's `shouldWaitForLatestCompaction`).
    pub fn should_stall(&self, options: &CompactionOptions) -> bool {
        self.number_of_sorted_runs() > options.num_sorted_run_stop_trigger as usize
    }
}

impl<K: Ord + Clone> Levels<K> {
    /// The runs the pickers read: level-0 files newest first, then levels 1 to max that hold files.
    pub fn level_sorted_runs(&self) -> Vec<LevelSortedRun<K>> {
        let level0_runs =
            self.level0.iter().map(|file| LevelSortedRun { level: 0, run: SortedRun::single(file.clone()) });
        let upper_runs =
            self.upper.iter().enumerate().filter(|(_, files)| !files.is_empty()).map(|(index, files)| LevelSortedRun {
                level: index as u32 + 1,
                run: SortedRun { files: files.clone() },
            });
        level0_runs.chain(upper_runs).collect()
    }

    /// Every file, in run order.
    pub fn all_files(&self) -> Vec<FileInfo<K>> {
        self.level0.iter().chain(self.upper.iter().flatten()).cloned().collect()
    }

    /// Applies a compaction or flush result: removes `before` (matched by name and level) and adds `after`.
    ///
    /// An upgraded file appears in both, at its old level in `before` and its new level in `after`. The update is
    /// all or nothing: on error the levels are unchanged, so a caller's bug cannot leave a half-applied result.
    pub fn update(&mut self, before: &[FileInfo<K>], after: &[FileInfo<K>]) -> Result<()> {
        let mut updated = self.clone();
        for file in before {
            updated.remove_file(file)?;
        }
        updated.insert_files(after.to_vec())?;
        updated.check_shape()?;
        *self = updated;
        Ok(())
    }

    fn remove_file(&mut self, file: &FileInfo<K>) -> Result<()> {
        let unknown = || CompactionError::UnknownFile { file: file.name.clone(), level: file.level };
        let files = match file.level {
            0 => &mut self.level0,
            level => self.upper.get_mut(level as usize - 1).ok_or_else(unknown)?,
        };
        let position = files.iter().position(|candidate| candidate.name == file.name).ok_or_else(unknown)?;
        files.remove(position);
        Ok(())
    }

    fn insert_files(&mut self, files: Vec<FileInfo<K>>) -> Result<()> {
        let max_level = self.max_level();
        for file in files {
            match file.level {
                0 => self.level0.push(file),
                level if level <= max_level => self.upper[level as usize - 1].push(file),
                level => {
                    return Err(CompactionError::LevelOutOfRange { file: file.name, level, max_level });
                }
            }
        }
        // Ties on the sequence number happen when two jobs write one bucket; the name keeps the order total.
        self.level0.sort_by(|a, b| b.max_sequence_number.cmp(&a.max_sequence_number).then_with(|| a.name.cmp(&b.name)));
        for files in &mut self.upper {
            files.sort_by(|a, b| a.min_key.cmp(&b.min_key).then_with(|| a.max_key.cmp(&b.max_key)));
        }
        Ok(())
    }

    /// Checks that names are unique and that no two files of a level >= 1 overlap (Paimon's "LSM conflicts").
    fn check_shape(&self) -> Result<()> {
        let mut names = HashSet::new();
        for file in self.level0.iter().chain(self.upper.iter().flatten()) {
            if !names.insert(file.name.as_str()) {
                return Err(CompactionError::DuplicateFile { file: file.name.clone() });
            }
        }
        for (index, files) in self.upper.iter().enumerate() {
            for pair in files.windows(2) {
                // Sorted by min key, so a file overlaps some earlier file exactly when it overlaps its predecessor
                // (the predecessor's max key is the largest so far in a valid run).
                if pair[1].min_key <= pair[0].max_key {
                    return Err(CompactionError::OverlappingFiles {
                        level: index as u32 + 1,
                        file: pair[0].name.clone(),
                        other_file: pair[1].name.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Builds the newest-first runs of a bucket from a flat list of its files (see [`Levels::new`]).
pub fn level_sorted_runs_from_files<K: Ord + Clone>(
    files: Vec<FileInfo<K>>,
    num_levels: u32,
) -> Result<Vec<LevelSortedRun<K>>> {
    Ok(Levels::new(files, num_levels)?.level_sorted_runs())
}

/// Whether a flush should wait for compaction: more sorted runs than `num-sorted-run.stop-trigger`.
pub fn should_stall<K>(runs: &[LevelSortedRun<K>], options: &CompactionOptions) -> bool {
    runs.len() > options.num_sorted_run_stop_trigger as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn file(name: &str, level: u32, keys: (u32, u32), sequence: i64) -> FileInfo<u32> {
        FileInfo {
            name: name.to_string(),
            size_bytes: 10,
            level,
            min_key: keys.0,
            max_key: keys.1,
            max_sequence_number: sequence,
            delete_row_count: Some(0),
        }
    }

    fn run_shape(runs: &[LevelSortedRun<u32>]) -> Vec<(u32, Vec<&str>)> {
        runs.iter().map(|run| (run.level, run.run.files.iter().map(|file| file.name.as_str()).collect())).collect()
    }

    #[test]
    fn runs_are_level0_newest_first_then_one_per_level() {
        // Level-0 files become one run each ordered by descending max sequence number (name breaks ties), and
        // each non-empty higher level becomes a single run in key order; empty levels give no run.
        let files = vec![
            file("l3-b", 3, (50, 60), 1),
            file("l0-old", 0, (0, 100), 10),
            file("l1", 1, (5, 6), 5),
            file("l0-new", 0, (0, 100), 30),
            file("l3-a", 3, (10, 20), 2),
            file("l0-tie-b", 0, (0, 100), 20),
            file("l0-tie-a", 0, (0, 100), 20),
        ];
        let runs = level_sorted_runs_from_files(files, 6).unwrap();
        assert_eq!(
            run_shape(&runs),
            vec![
                (0, vec!["l0-new"]),
                (0, vec!["l0-tie-a"]),
                (0, vec!["l0-tie-b"]),
                (0, vec!["l0-old"]),
                (1, vec!["l1"]),
                (3, vec!["l3-a", "l3-b"]),
            ]
        );
        let levels = Levels::new(runs.iter().flat_map(|run| run.run.files.clone()).collect(), 6).unwrap();
        assert_eq!(levels.number_of_sorted_runs(), 6);
        assert_eq!(levels.non_empty_highest_level(), Some(3));
        assert_eq!(levels.max_level(), 5);
    }

    #[test]
    fn a_file_beyond_num_levels_raises_the_level_count() {
        // Like Paimon, levels restored from a table written with more levels grow to hold the highest file.
        let levels = Levels::new(vec![file("deep", 7, (0, 1), 1)], 3).unwrap();
        assert_eq!(levels.number_of_levels(), 8);
        assert_eq!(levels.non_empty_highest_level(), Some(7));
        assert_eq!(Levels::<u32>::new(Vec::new(), 1), Err(CompactionError::TooFewLevels { num_levels: 1 }));
        assert_eq!(Levels::<u32>::new(Vec::new(), 2).unwrap().non_empty_highest_level(), None);
    }

    #[test]
    fn overlapping_files_in_a_level_are_rejected() {
        // Two level-1 files sharing a key break the one-run-per-level rule; touching ranges count as overlap.
        let error = Levels::new(vec![file("a", 1, (0, 10), 1), file("b", 1, (10, 20), 2)], 3).unwrap_err();
        assert_eq!(error, CompactionError::OverlappingFiles { level: 1, file: "a".into(), other_file: "b".into() });
        assert_eq!(error.kind(), ErrorKind::Data);
        // Level 0 may overlap freely.
        assert!(Levels::new(vec![file("a", 0, (0, 10), 1), file("b", 0, (10, 20), 2)], 3).is_ok());
    }

    #[test]
    fn update_moves_files_and_is_all_or_nothing() {
        // An update removes `before`, adds `after`, and leaves the levels untouched when any part is invalid.
        let mut levels = Levels::new(vec![file("a", 0, (0, 10), 1), file("b", 0, (5, 20), 2)], 3).unwrap();
        let merged = file("c", 2, (0, 20), 2);
        let flushed = levels.level0().to_vec();
        levels.update(&flushed, std::slice::from_ref(&merged)).unwrap();
        assert_eq!(levels.all_files(), vec![merged.clone()]);

        let snapshot = levels.clone();
        let unknown = file("missing", 0, (0, 1), 1);
        assert_eq!(
            levels.update(&[unknown], &[]),
            Err(CompactionError::UnknownFile { file: "missing".into(), level: 0 })
        );
        let overlapping = file("d", 2, (20, 30), 3);
        assert!(levels.update(&[], &[overlapping]).is_err());
        let too_deep = file("e", 3, (40, 50), 3);
        assert_eq!(levels.update(&[], &[too_deep]).unwrap_err().kind(), ErrorKind::Internal);
        assert_eq!(levels.update(&[], &[merged]).unwrap_err(), CompactionError::DuplicateFile { file: "c".into() });
        assert_eq!(levels, snapshot);
    }

    #[test]
    fn stall_starts_above_the_stop_trigger() {
        // Writes stall only when the sorted runs exceed the stop trigger, not when they equal it.
        let options = CompactionOptions { num_sorted_run_stop_trigger: 2, ..CompactionOptions::default() };
        let two = vec![file("a", 0, (0, 1), 1), file("b", 0, (0, 1), 2)];
        let levels = Levels::new(two.clone(), 3).unwrap();
        assert!(!levels.should_stall(&options));
        assert!(!should_stall(&levels.level_sorted_runs(), &options));
        let mut three = two;
        three.push(file("c", 1, (0, 1), 0));
        let levels = Levels::new(three, 3).unwrap();
        assert!(levels.should_stall(&options));
        assert!(should_stall(&levels.level_sorted_runs(), &options));
    }
}
