//! A compaction simulator: replays a key workload through the picker on one bucket and measures write, read and
//! space amplification over time. Pure and deterministic: no I/O, no clock, randomness only from a seeded
//! SplitMix64, so one [`SimConfig`] always gives the same [`SimReport`].
//!
//! # The model
//!
//! One bucket's LSM tree, with the rows themselves tracked so that deduplication is exact:
//! - The writer takes `write_buffer_rows` user writes (upserts, or deletes with `delete_fraction`), keeps the
//!   newest version of each key (the write buffer merges), and flushes the result as level-0 files rolled at
//!   `target-file-size`, as Paimon's `MergeTreeWriter` does: each flushed file is its own sorted run.
//! - Keys come from the [`Workload`]: uniform over `key_space`, zipfian (exponent `zipf_exponent`, 0.99 by
//!   default, hot keys scattered over the key space as YCSB does), or append-only (every write a new, higher
//!   key; deletes, if any, hit an earlier key).
//! - After every `compact_every_flushes`-th flush the writer asks [`plan_compaction`] with
//!   [`UniversalCompaction`] for one compaction and applies it at once; when the runs exceed
//!   `num-sorted-run.stop-trigger` (write stall) it compacts, whatever the schedule, until they no longer do.
//! - Applying a plan: an upgrade moves a file without writing a byte; a rewrite merges its sections newest
//!   version first, drops delete rows when the plan says so (output at or above the highest non-empty level),
//!   and rolls the output at `target-file-size`. A file's size is its rows times `row_bytes`.
//!
//! # The metrics
//!
//! - Write amplification: (bytes flushed + bytes written by compaction) / bytes flushed. The denominator is the
//!   bytes the writer must persist, after the write buffer merged repeated keys; the user-facing variant,
//!   [`SimSummary::user_write_amplification`], divides by every user write instead and can fall below 1 for hot
//!   keys.
//! - Read amplification: the sorted runs of the bucket, sampled when a flush has committed and its compaction
//!   has not (the worst a reader sees while the compaction runs); max and mean over flushes. Beside it the merge
//!   width: the most runs that overlap one key range (Paimon's `IntervalPartition`), which is what a
//!   merge-on-read reader really merges; for append-only keys it stays 1 however many runs there are.
//! - Space amplification: bytes stored in all files / bytes of the live keys (keys whose newest version is not
//!   a delete); max over the read points and the points after compaction, mean over the points after
//!   compaction, and after the last compaction (final, which depends on where in a cycle the run ends).
//!
//! Not modelled: time-based options (`compaction.optimization-interval`, off-peak hours), a compaction that
//! takes long enough for several flushes to land (approximate it with `compact_every_flushes`), lookup or
//! deletion-vector tables (`ForceUpLevel0Compaction`), compression (file sizes are rows times `row_bytes`).
//!
//! # Results
//!
//! `cargo run --release -p dyntable-compaction --bin dyntable-compaction-sim -- --compare` runs uniform, zipfian
//! and append-only keys under Paimon's defaults and six variants; its output, with and without deletes, and what
//! it says, is in `compaction/SIMULATION.md`. In short, with default options: uniform keys WA 3.74, at most 6
//! runs at read time (mean 4.8), space amplification at most 2.11; zipfian WA 3.14 (1.68 per user byte);
//! append-only WA exactly 1 (every compaction an upgrade) until a few deletes of old keys make every file overlap.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use crate::error::{CompactionError, Result};
use crate::levels::{FileInfo, Levels};
use crate::options::CompactionOptions;
use crate::plan::{plan_compaction, CompactionTrigger};
use crate::rewrite::{interval_partition, CompactAction};
use crate::strategy::UniversalCompaction;

use crate::random::Scatter;
pub use crate::random::{SplitMix64, ZipfSampler};

/// Paimon's write buffer and target file size both hold hundreds of megabytes; the simulator's defaults keep
/// the ratios of key space, buffer and file size but in rows small enough to replay in seconds.
pub const DEFAULT_SIM_KEY_SPACE: u64 = 200_000;
pub const DEFAULT_SIM_ROWS: u64 = 1_000_000;
pub const DEFAULT_SIM_WRITE_BUFFER_ROWS: u64 = 5_000;
pub const DEFAULT_SIM_ROW_BYTES: u64 = 100;
/// YCSB's zipfian constant.
pub const DEFAULT_ZIPF_EXPONENT: f64 = 0.99;

/// How the keys of the user writes are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// Every key of the key space equally likely.
    Uniform,
    /// Zipfian ranks (a few keys take most writes), the ranks scattered over the key space.
    Zipfian,
    /// Monotonically increasing keys, as an event log or an auto-increment id writes them.
    Append,
}

impl Workload {
    pub const ALL: [Workload; 3] = [Workload::Uniform, Workload::Zipfian, Workload::Append];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Uniform => "uniform",
            Workload::Zipfian => "zipfian",
            Workload::Append => "append",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = CompactionError;

    fn from_str(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "uniform" => Ok(Workload::Uniform),
            "zipfian" | "zipf" => Ok(Workload::Zipfian),
            "append" | "append-only" => Ok(Workload::Append),
            _ => Err(invalid("workload", text, "uniform, zipfian or append")),
        }
    }
}

/// Everything a simulation run depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub workload: Workload,
    /// Distinct keys writes are drawn from (uniform, zipfian); append-only writes ignore it.
    pub key_space: u64,
    /// User writes in total; the last flush may hold fewer than `write_buffer_rows`.
    pub rows: u64,
    /// User writes per flush, before the buffer merges repeated keys.
    pub write_buffer_rows: u64,
    /// Bytes of one row on disk.
    pub row_bytes: u64,
    /// Fraction of writes that delete a key instead of upserting it, in [0, 1].
    pub delete_fraction: f64,
    /// Exponent of the zipfian workload, above 0.
    pub zipf_exponent: f64,
    pub seed: u64,
    /// Ask for a compaction after every this many flushes (1 is what the writer does); stalls compact anyway.
    pub compact_every_flushes: u64,
    /// The table's compaction options; see [`SimConfig::default_options`] for the target file size.
    pub options: CompactionOptions,
}

impl SimConfig {
    /// The default workload of the given kind, with Paimon's default options except `target-file-size`, which is
    /// one write buffer (Paimon's 128 MB target sits next to a 256 MB in-memory buffer that compresses to roughly
    /// that on disk).
    pub fn new(workload: Workload) -> Self {
        SimConfig {
            workload,
            key_space: DEFAULT_SIM_KEY_SPACE,
            rows: DEFAULT_SIM_ROWS,
            write_buffer_rows: DEFAULT_SIM_WRITE_BUFFER_ROWS,
            row_bytes: DEFAULT_SIM_ROW_BYTES,
            delete_fraction: 0.0,
            zipf_exponent: DEFAULT_ZIPF_EXPONENT,
            seed: 42,
            compact_every_flushes: 1,
            options: Self::default_options(DEFAULT_SIM_WRITE_BUFFER_ROWS, DEFAULT_SIM_ROW_BYTES),
        }
    }

    /// Paimon's defaults with `target-file-size` set to one write buffer of rows.
    pub fn default_options(write_buffer_rows: u64, row_bytes: u64) -> CompactionOptions {
        CompactionOptions {
            target_file_size_bytes: write_buffer_rows.saturating_mul(row_bytes).max(1),
            ..CompactionOptions::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.key_space == 0 {
            return Err(invalid("key_space", &self.key_space.to_string(), "an integer above 0"));
        }
        if self.write_buffer_rows == 0 {
            return Err(invalid("write_buffer_rows", &self.write_buffer_rows.to_string(), "an integer above 0"));
        }
        if self.row_bytes == 0 {
            return Err(invalid("row_bytes", &self.row_bytes.to_string(), "an integer above 0"));
        }
        if self.compact_every_flushes == 0 {
            return Err(invalid(
                "compact_every_flushes",
                &self.compact_every_flushes.to_string(),
                "an integer above 0",
            ));
        }
        if !(0.0..=1.0).contains(&self.delete_fraction) {
            return Err(invalid("delete_fraction", &self.delete_fraction.to_string(), "a number from 0 to 1"));
        }
        if !(self.zipf_exponent > 0.0 && self.zipf_exponent.is_finite()) {
            return Err(invalid("zipf_exponent", &self.zipf_exponent.to_string(), "a finite number above 0"));
        }
        self.options.validate()
    }

    fn flushes(&self) -> u64 {
        self.rows.div_ceil(self.write_buffer_rows)
    }
}

/// The bucket after one flush (and the compaction it triggered).
#[derive(Debug, Clone, PartialEq)]
pub struct SimPoint {
    /// 1 for the first flush.
    pub flush: u64,
    /// User writes so far.
    pub user_rows: u64,
    pub flushed_bytes: u64,
    /// Bytes written by compaction rewrites so far (upgrades write none).
    pub compaction_written_bytes: u64,
    /// (flushed + compaction written) / flushed, so far.
    pub write_amplification: f64,
    /// Sorted runs once the flush committed, before its compaction: what a reader merges meanwhile.
    pub sorted_runs_at_read: usize,
    /// Sorted runs once the compaction (if any) was applied.
    pub sorted_runs_after_compaction: usize,
    /// At the read point, the most runs any key range has to merge: the widest section of Paimon's
    /// `IntervalPartition` over all files, which is what a merge-on-read reader actually merges. Equal to
    /// `sorted_runs_at_read` when every run spans the key space, 1 when no two files overlap (append-only keys).
    pub merge_width_at_read: usize,
    /// Bytes in all files, and the space amplification, at the read point.
    pub stored_bytes_at_read: u64,
    pub space_amplification_at_read: f64,
    /// Bytes in all files after the compaction.
    pub stored_bytes: u64,
    /// Bytes of the keys whose newest version is not a delete.
    pub live_bytes: u64,
    pub space_amplification: f64,
    /// Compactions applied after this flush (0 when none was due or none was picked; more than 1 when stalled).
    pub compactions: u32,
    pub stalled: bool,
}

/// The whole run, in one line of numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSummary {
    pub flushes: u64,
    pub user_rows: u64,
    pub user_bytes: u64,
    pub flushed_bytes: u64,
    pub compaction_written_bytes: u64,
    /// Bytes compaction read (every file of a rewrite).
    pub compaction_read_bytes: u64,
    /// Bytes moved to a higher level in metadata only.
    pub upgraded_bytes: u64,
    pub compactions: u64,
    /// Compactions that took every run.
    pub full_compactions: u64,
    /// Flushes after which the runs exceeded the stop trigger.
    pub stalls: u64,
    /// (flushed + compaction written) / flushed.
    pub write_amplification: f64,
    /// (flushed + compaction written) / every user write; below 1 when the write buffer merged many writes.
    pub user_write_amplification: f64,
    /// Sorted runs at the read point (see [`SimPoint::sorted_runs_at_read`]), max and mean over flushes.
    pub read_amplification_max: usize,
    pub read_amplification_mean: f64,
    /// Runs a reader merges for one key range (see [`SimPoint::merge_width_at_read`]), max and mean over flushes.
    pub merge_width_max: usize,
    pub merge_width_mean: f64,
    /// After the last flush's compaction.
    pub space_amplification_final: f64,
    /// Max over the read points and the points after compaction.
    pub space_amplification_max: f64,
    /// Mean over the points after compaction.
    pub space_amplification_mean: f64,
    pub final_sorted_runs: usize,
    pub final_files: usize,
    pub final_stored_bytes: u64,
    pub final_live_bytes: u64,
}

/// A run's time series (one point per flush) and summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SimReport {
    pub points: Vec<SimPoint>,
    pub summary: SimSummary,
}

/// Runs a whole simulation.
pub fn simulate(config: &SimConfig) -> Result<SimReport> {
    let mut simulator = Simulator::new(config.clone())?;
    let mut points = Vec::with_capacity(config.flushes() as usize);
    while let Some(point) = simulator.step()? {
        points.push(point);
    }
    let summary = simulator.summary();
    Ok(SimReport { points, summary })
}

/// One version of one key in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    key: u64,
    sequence: u64,
    delete: bool,
}

/// A simulation in progress, one flush per [`Simulator::step`], for callers that print as it goes.
#[derive(Debug)]
pub struct Simulator {
    config: SimConfig,
    strategy: UniversalCompaction,
    rng: SplitMix64,
    keys: KeyGenerator,
    levels: Levels<u64>,
    /// The rows of every live file, sorted by key, by file name.
    contents: HashMap<String, Vec<Entry>>,
    /// The oracle: whether each key's newest version is an upsert.
    live: Bitset,
    next_sequence: u64,
    next_file_id: u64,
    user_rows: u64,
    flushes: u64,
    flushed_bytes: u64,
    compaction_written_bytes: u64,
    compaction_read_bytes: u64,
    upgraded_bytes: u64,
    compactions: u64,
    full_compactions: u64,
    stalls: u64,
    read_runs_max: usize,
    read_runs_sum: u64,
    merge_width_max: usize,
    merge_width_sum: u64,
    space_amplification_max: f64,
    space_amplification_sum: f64,
}

impl Simulator {
    pub fn new(config: SimConfig) -> Result<Self> {
        config.validate()?;
        let mut rng = SplitMix64::new(config.seed);
        let keys = KeyGenerator::new(&config, &mut rng);
        let live_capacity = match config.workload {
            Workload::Append => config.rows,
            Workload::Uniform | Workload::Zipfian => config.key_space,
        };
        Ok(Simulator {
            strategy: UniversalCompaction::from_options(&config.options),
            levels: Levels::new(Vec::new(), config.options.num_levels)?,
            live: Bitset::new(live_capacity),
            contents: HashMap::new(),
            rng,
            keys,
            config,
            next_sequence: 0,
            next_file_id: 0,
            user_rows: 0,
            flushes: 0,
            flushed_bytes: 0,
            compaction_written_bytes: 0,
            compaction_read_bytes: 0,
            upgraded_bytes: 0,
            compactions: 0,
            full_compactions: 0,
            stalls: 0,
            read_runs_max: 0,
            read_runs_sum: 0,
            merge_width_max: 0,
            merge_width_sum: 0,
            space_amplification_max: 0.0,
            space_amplification_sum: 0.0,
        })
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The bucket's levels as they stand.
    pub fn levels(&self) -> &Levels<u64> {
        &self.levels
    }

    /// Takes one write buffer of user writes, flushes it, and compacts as the writer would; `None` once every
    /// user write is in.
    pub fn step(&mut self) -> Result<Option<SimPoint>> {
        if self.user_rows >= self.config.rows {
            return Ok(None);
        }
        self.flush()?;
        let sorted_runs_at_read = self.levels.number_of_sorted_runs();
        let merge_width_at_read = interval_partition(&self.levels.all_files()).iter().map(Vec::len).max().unwrap_or(0);
        let stored_bytes_at_read = self.levels.total_size_bytes();
        let space_amplification_at_read = self.space_amplification(stored_bytes_at_read);

        let options = &self.config.options;
        let stalled = self.levels.should_stall(options);
        let mut compactions = 0;
        if self.flushes.is_multiple_of(self.config.compact_every_flushes) || stalled {
            compactions += u32::from(self.compact()?);
        }
        // A stalled writer waits until compaction brings the runs back to the stop trigger.
        while self.levels.should_stall(&self.config.options) {
            if !self.compact()? {
                // Above the stop trigger the file-number rule always picks; getting here is a picker bug.
                return Err(CompactionError::StallWithoutCompaction {
                    sorted_runs: self.levels.number_of_sorted_runs(),
                    stop_trigger: self.config.options.num_sorted_run_stop_trigger,
                });
            }
            compactions += 1;
        }
        self.stalls += u64::from(stalled);

        self.read_runs_max = self.read_runs_max.max(sorted_runs_at_read);
        self.read_runs_sum += sorted_runs_at_read as u64;
        self.merge_width_max = self.merge_width_max.max(merge_width_at_read);
        self.merge_width_sum += merge_width_at_read as u64;
        let stored_bytes = self.levels.total_size_bytes();
        let space_amplification = self.space_amplification(stored_bytes);
        self.space_amplification_max =
            self.space_amplification_max.max(space_amplification_at_read).max(space_amplification);
        self.space_amplification_sum += space_amplification;
        Ok(Some(SimPoint {
            flush: self.flushes,
            user_rows: self.user_rows,
            flushed_bytes: self.flushed_bytes,
            compaction_written_bytes: self.compaction_written_bytes,
            write_amplification: self.write_amplification(),
            sorted_runs_at_read,
            sorted_runs_after_compaction: self.levels.number_of_sorted_runs(),
            merge_width_at_read,
            stored_bytes_at_read,
            space_amplification_at_read,
            stored_bytes,
            live_bytes: self.live_bytes(),
            space_amplification,
            compactions,
            stalled,
        }))
    }

    /// The numbers so far (of the whole run once [`Simulator::step`] returned `None`).
    pub fn summary(&self) -> SimSummary {
        let stored_bytes = self.levels.total_size_bytes();
        let written_bytes = self.flushed_bytes + self.compaction_written_bytes;
        let user_bytes = self.user_rows * self.config.row_bytes;
        SimSummary {
            flushes: self.flushes,
            user_rows: self.user_rows,
            user_bytes,
            flushed_bytes: self.flushed_bytes,
            compaction_written_bytes: self.compaction_written_bytes,
            compaction_read_bytes: self.compaction_read_bytes,
            upgraded_bytes: self.upgraded_bytes,
            compactions: self.compactions,
            full_compactions: self.full_compactions,
            stalls: self.stalls,
            write_amplification: self.write_amplification(),
            user_write_amplification: ratio(written_bytes, user_bytes),
            read_amplification_max: self.read_runs_max,
            read_amplification_mean: self.mean_over_flushes(self.read_runs_sum as f64),
            merge_width_max: self.merge_width_max,
            merge_width_mean: self.mean_over_flushes(self.merge_width_sum as f64),
            space_amplification_final: self.space_amplification(stored_bytes),
            space_amplification_max: self.space_amplification_max,
            space_amplification_mean: self.mean_over_flushes(self.space_amplification_sum),
            final_sorted_runs: self.levels.number_of_sorted_runs(),
            final_files: self.levels.all_files().len(),
            final_stored_bytes: stored_bytes,
            final_live_bytes: self.live_bytes(),
        }
    }

    /// The live keys a reader would see: every file merged, newest version of each key first, deletes removed.
    /// Tests compare it with the oracle of live keys.
    pub fn live_keys_by_merge(&self) -> Vec<u64> {
        let mut entries: Vec<Entry> = self.contents.values().flatten().copied().collect();
        newest_first(&mut entries);
        entries.dedup_by_key(|entry| entry.key);
        entries.into_iter().filter(|entry| !entry.delete).map(|entry| entry.key).collect()
    }

    /// The live keys the oracle tracked from the user writes.
    pub fn live_keys_expected(&self) -> Vec<u64> {
        self.live.ones().collect()
    }

    fn mean_over_flushes(&self, sum: f64) -> f64 {
        if self.flushes == 0 {
            0.0
        } else {
            sum / self.flushes as f64
        }
    }

    fn write_amplification(&self) -> f64 {
        ratio(self.flushed_bytes + self.compaction_written_bytes, self.flushed_bytes)
    }

    fn live_bytes(&self) -> u64 {
        self.live.count() * self.config.row_bytes
    }

    /// Stored over live bytes; with nothing live, 1 when nothing is stored either, else infinite.
    fn space_amplification(&self, stored_bytes: u64) -> f64 {
        let live_bytes = self.live_bytes();
        if live_bytes == 0 {
            return if stored_bytes == 0 { 1.0 } else { f64::INFINITY };
        }
        stored_bytes as f64 / live_bytes as f64
    }

    fn target_file_rows(&self) -> usize {
        (self.config.options.target_file_size_bytes / self.config.row_bytes).max(1) as usize
    }

    fn flush(&mut self) -> Result<()> {
        let writes = self.config.write_buffer_rows.min(self.config.rows - self.user_rows);
        // The write buffer keeps the newest version of each key, like Paimon's sort buffer with its merge function.
        let mut buffer: BTreeMap<u64, Entry> = BTreeMap::new();
        for _ in 0..writes {
            let delete = self.config.delete_fraction > 0.0 && self.rng.next_f64() < self.config.delete_fraction;
            let key = self.keys.next_key(&mut self.rng, delete);
            let sequence = self.next_sequence;
            self.next_sequence += 1;
            buffer.insert(key, Entry { key, sequence, delete });
            self.live.set(key, !delete);
        }
        self.user_rows += writes;
        self.flushes += 1;
        let entries: Vec<Entry> = buffer.into_values().collect();
        let files = self.roll_files(entries, 0);
        self.flushed_bytes += files.iter().map(|file| file.size_bytes).sum::<u64>();
        self.levels.update(&[], &files)
    }

    /// Splits sorted entries into files of `target-file-size` (the last one smaller), as a rolling writer does,
    /// and registers their rows.
    fn roll_files(&mut self, entries: Vec<Entry>, level: u32) -> Vec<FileInfo<u64>> {
        let target_rows = self.target_file_rows();
        let mut files = Vec::with_capacity(entries.len().div_ceil(target_rows));
        for chunk in entries.chunks(target_rows) {
            let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else { continue };
            self.next_file_id += 1;
            let name = format!("{}-{}", if level == 0 { "flush" } else { "compact" }, self.next_file_id);
            let max_sequence = chunk.iter().map(|entry| entry.sequence).max().unwrap_or(0);
            files.push(FileInfo {
                name: name.clone(),
                size_bytes: chunk.len() as u64 * self.config.row_bytes,
                level,
                min_key: first.key,
                max_key: last.key,
                max_sequence_number: i64::try_from(max_sequence).unwrap_or(i64::MAX),
                delete_row_count: Some(chunk.iter().filter(|entry| entry.delete).count() as u64),
            });
            self.contents.insert(name, chunk.to_vec());
        }
        files
    }

    /// Plans one normal compaction and applies it; `false` when the picker found nothing to do.
    fn compact(&mut self) -> Result<bool> {
        let Some(plan) = plan_compaction(&self.strategy, &self.levels, &self.config.options, CompactionTrigger::Normal)
        else {
            return Ok(false);
        };
        self.compactions += 1;
        self.full_compactions += u64::from(plan.unit.full);
        let mut before = Vec::new();
        let mut after = Vec::new();
        for action in plan.actions {
            match action {
                CompactAction::Unchanged { .. } => {}
                CompactAction::Upgrade { file, output_level } => {
                    self.upgraded_bytes += file.size_bytes;
                    after.push(FileInfo { level: output_level, ..file.clone() });
                    before.push(file);
                }
                CompactAction::Rewrite { sections, output_level, drop_deletes } => {
                    // Sections are disjoint and in key order, so their merged outputs concatenate into one sorted
                    // stream that a single rolling writer splits into files.
                    let mut output = Vec::new();
                    for section in sections {
                        let mut merged = Vec::new();
                        for file in section.into_iter().flat_map(|run| run.files) {
                            self.compaction_read_bytes += file.size_bytes;
                            if let Some(entries) = self.contents.remove(&file.name) {
                                merged.extend(entries);
                            }
                            before.push(file);
                        }
                        newest_first(&mut merged);
                        merged.dedup_by_key(|entry| entry.key);
                        if drop_deletes {
                            merged.retain(|entry| !entry.delete);
                        }
                        output.extend(merged);
                    }
                    let files = self.roll_files(output, output_level);
                    self.compaction_written_bytes += files.iter().map(|file| file.size_bytes).sum::<u64>();
                    after.extend(files);
                }
            }
        }
        self.levels.update(&before, &after)?;
        Ok(true)
    }
}

/// Sorts by key, newest version first, so `dedup_by_key` keeps the version a reader sees. Each file's rows are
/// sorted already, and the stable sort finds those runs, so merging k files costs about a k-way merge.
fn newest_first(entries: &mut [Entry]) {
    entries.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| b.sequence.cmp(&a.sequence)));
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        return 1.0;
    }
    numerator as f64 / denominator as f64
}

fn invalid(option: &str, value: &str, allowed: &str) -> CompactionError {
    CompactionError::InvalidOption {
        option: option.to_string(),
        value: value.to_string(),
        allowed: allowed.to_string(),
    }
}

/// Draws the key of each write.
#[derive(Debug)]
enum KeyGenerator {
    Uniform { key_space: u64 },
    Zipfian { sampler: ZipfSampler, scatter: Scatter },
    Append { next_key: u64 },
}

impl KeyGenerator {
    fn new(config: &SimConfig, rng: &mut SplitMix64) -> Self {
        match config.workload {
            Workload::Uniform => KeyGenerator::Uniform { key_space: config.key_space },
            Workload::Zipfian => KeyGenerator::Zipfian {
                sampler: ZipfSampler::new(config.key_space, config.zipf_exponent),
                scatter: Scatter::new(config.key_space, rng.next_u64()),
            },
            Workload::Append => KeyGenerator::Append { next_key: 0 },
        }
    }

    fn next_key(&mut self, rng: &mut SplitMix64, delete: bool) -> u64 {
        match self {
            KeyGenerator::Uniform { key_space } => rng.below(*key_space),
            KeyGenerator::Zipfian { sampler, scatter } => scatter.apply(sampler.sample(rng) - 1),
            // An append-only table deletes old rows (retention); a delete before any insert deletes key 0.
            KeyGenerator::Append { next_key } if delete => rng.below((*next_key).max(1)),
            KeyGenerator::Append { next_key } => {
                let key = *next_key;
                *next_key += 1;
                key
            }
        }
    }
}

/// One bit per key, with a running count of set bits.
#[derive(Debug, Clone)]
struct Bitset {
    words: Vec<u64>,
    count: u64,
}

impl Bitset {
    fn new(bits: u64) -> Self {
        Bitset { words: vec![0; bits.div_ceil(64) as usize], count: 0 }
    }

    fn set(&mut self, bit: u64, value: bool) {
        let index = (bit / 64) as usize;
        if index >= self.words.len() {
            self.words.resize(index + 1, 0);
        }
        let mask = 1u64 << (bit % 64);
        let was_set = self.words[index] & mask != 0;
        match (was_set, value) {
            (false, true) => {
                self.words[index] |= mask;
                self.count += 1;
            }
            (true, false) => {
                self.words[index] &= !mask;
                self.count -= 1;
            }
            _ => {}
        }
    }

    fn count(&self) -> u64 {
        self.count
    }

    fn ones(&self) -> impl Iterator<Item = u64> + '_ {
        self.words.iter().enumerate().flat_map(|(index, word)| {
            (0..64).filter(move |bit| word & (1u64 << bit) != 0).map(move |bit| index as u64 * 64 + bit)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_sampler_follows_the_power_law() {
        // Rank 1 is drawn about 2^s times as often as rank 2 and 10^s times as often as rank 10, and no rank
        // falls outside [1, n].
        let sampler = ZipfSampler::new(1_000, DEFAULT_ZIPF_EXPONENT);
        let mut rng = SplitMix64::new(7);
        let mut counts = vec![0u64; 1_001];
        for _ in 0..400_000 {
            let rank = sampler.sample(&mut rng);
            assert!((1..=1_000).contains(&rank));
            counts[rank as usize] += 1;
        }
        let ratio_2 = counts[1] as f64 / counts[2] as f64;
        let ratio_10 = counts[1] as f64 / counts[10] as f64;
        assert!((ratio_2 - 2f64.powf(0.99)).abs() < 0.1, "ratio_2={ratio_2}");
        assert!((ratio_10 - 10f64.powf(0.99)).abs() < 1.0, "ratio_10={ratio_10}");
    }

    #[test]
    fn scatter_is_a_bijection() {
        // Every rank maps to a distinct key of the key space, for a prime and a highly composite size.
        for n in [97u64, 1_000, 1] {
            let scatter = Scatter::new(n, 0xdead_beef);
            let mut keys: Vec<u64> = (0..n).map(|rank| scatter.apply(rank)).collect();
            keys.sort_unstable();
            assert_eq!(keys, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn bitset_counts_set_bits() {
        // Setting a bit twice counts once; clearing it uncounts; iteration yields the set bits in order.
        let mut bits = Bitset::new(10);
        bits.set(3, true);
        bits.set(3, true);
        bits.set(130, true);
        bits.set(64, true);
        bits.set(64, false);
        assert_eq!(bits.count(), 2);
        assert_eq!(bits.ones().collect::<Vec<_>>(), vec![3, 130]);
    }

    #[test]
    fn invalid_configs_are_rejected() {
        // Each field outside its range is an `Invalid` error naming the field.
        let base = SimConfig::new(Workload::Uniform);
        let bad = [
            SimConfig { key_space: 0, ..base.clone() },
            SimConfig { write_buffer_rows: 0, ..base.clone() },
            SimConfig { row_bytes: 0, ..base.clone() },
            SimConfig { compact_every_flushes: 0, ..base.clone() },
            SimConfig { delete_fraction: 1.5, ..base.clone() },
            SimConfig { zipf_exponent: 0.0, ..base.clone() },
        ];
        for config in bad {
            assert_eq!(config.validate().unwrap_err().kind(), crate::ErrorKind::Invalid);
        }
        assert!("zipf".parse::<Workload>().is_ok());
        assert!("sequential".parse::<Workload>().is_err());
    }
}
