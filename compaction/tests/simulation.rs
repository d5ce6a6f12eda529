//! Seeded simulation of buckets under the compaction policy: random flushes, compactions planned by the policy
//! and applied the way the storage job applies them, and the LSM invariants checked after every step.
//!
//! The seed is printed; set `DYNTABLE_SEED=<seed>` to replay a failing run exactly.

use std::collections::{BTreeMap, HashMap};
use std::env;

use dyntable_compaction::{
    plan_compaction, CompactAction, CompactStrategy, CompactionOptions, CompactionPlan, CompactionTrigger, FileInfo,
    ForceUpLevel0Compaction, LevelSortedRun, Levels, UniversalCompaction,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const KEY_SPACE: u64 = 10_000;
const TARGET_FILE_SIZE_BYTES: u64 = 1_000;
const SCENARIOS: usize = 40;
const FLUSHES_PER_SCENARIO: usize = 300;

fn seed() -> u64 {
    let seed = match env::var("DYNTABLE_SEED") {
        Ok(text) => text.trim().parse().expect("DYNTABLE_SEED must be an unsigned 64-bit integer"),
        Err(_) => rand::random(),
    };
    println!("compaction simulation seed={seed} (replay with DYNTABLE_SEED={seed})");
    seed
}

/// One bucket: its levels, plus what the checks need that the policy does not track.
struct Bucket {
    levels: Levels<u64>,
    options: CompactionOptions,
    strategy: Box<dyn CompactStrategy<u64>>,
    /// The lowest sequence number in each live file, to check that newer data always shadows older data.
    min_sequence_by_file: HashMap<String, i64>,
    next_sequence: i64,
    next_file_id: u64,
    flushed_bytes: u64,
    /// A line per event, so two runs of one seed can be compared.
    trace: Vec<String>,
    context: String,
}

impl Bucket {
    fn random(rng: &mut SmallRng, scenario: usize, seed: u64) -> Self {
        let trigger = rng.random_range(1..=8u32);
        let num_levels = if rng.random_bool(0.5) { trigger + 1 } else { rng.random_range(2..=8u32) };
        let options = CompactionOptions {
            num_sorted_run_compaction_trigger: trigger,
            num_sorted_run_stop_trigger: trigger + rng.random_range(0..=4u32),
            max_size_amplification_percent: rng.random_range(0..=400u32),
            size_ratio_percent: rng.random_range(0..=20u32),
            num_levels,
            target_file_size_bytes: TARGET_FILE_SIZE_BYTES,
        };
        options.validate().expect("the generated options are valid");
        let universal = UniversalCompaction::from_options(&options);
        let force_level0 = rng.random_bool(0.25);
        let strategy: Box<dyn CompactStrategy<u64>> =
            if force_level0 { Box::new(ForceUpLevel0Compaction { universal }) } else { Box::new(universal) };
        let context = format!("seed={seed}, scenario={scenario}, force_level0={force_level0}, options={options:?}");
        Bucket {
            levels: Levels::new(Vec::new(), options.num_levels).expect("empty levels"),
            options,
            strategy,
            min_sequence_by_file: HashMap::new(),
            next_sequence: 0,
            next_file_id: 0,
            flushed_bytes: 0,
            trace: Vec::new(),
            context,
        }
    }

    fn new_file_name(&mut self, prefix: &str) -> String {
        self.next_file_id += 1;
        format!("{prefix}-{}", self.next_file_id)
    }

    /// Adds a level-0 file as a flush does: a fresh range of sequence numbers over a random key range.
    fn flush(&mut self, rng: &mut SmallRng) {
        // Mostly narrow ranges, so lone non-overlapping files (upgrade candidates) are common.
        let width = if rng.random_bool(0.6) { rng.random_range(1..=200) } else { rng.random_range(1..=KEY_SPACE) };
        let min_key = rng.random_range(0..=KEY_SPACE - width);
        let rows = rng.random_range(1..=50i64);
        let delete_row_count = match rng.random_range(0..10) {
            0 => None,
            1..=4 => Some(rng.random_range(1..=5)),
            _ => Some(0),
        };
        let file = FileInfo {
            name: self.new_file_name("flush"),
            size_bytes: rng.random_range(1..=1_200),
            level: 0,
            min_key,
            max_key: min_key + width - 1,
            max_sequence_number: self.next_sequence + rows - 1,
            delete_row_count,
        };
        self.min_sequence_by_file.insert(file.name.clone(), self.next_sequence);
        self.next_sequence += rows;
        self.flushed_bytes += file.size_bytes;
        self.trace
            .push(format!("flush {} keys={}..={} size={}", file.name, file.min_key, file.max_key, file.size_bytes));
        self.levels.update(&[], &[file]).unwrap_or_else(|error| panic!("flush rejected: {error}. {}", self.context));
        self.check_shape();
    }

    /// Plans a compaction, checks the plan against the levels it was made for, and applies it.
    fn compact(&mut self, trigger: CompactionTrigger) -> bool {
        let Some(plan) = plan_compaction(self.strategy.as_ref(), &self.levels, &self.options, trigger) else {
            self.trace.push(format!("{trigger:?}: nothing to compact"));
            return false;
        };
        let runs_before = self.levels.number_of_sorted_runs();
        self.check_plan(&plan);
        self.apply(&plan);
        self.check_shape();
        let runs_after = self.levels.number_of_sorted_runs();
        // Picked runs all end on the output level, so a unit of k runs leaves k - 1 fewer (at least none fewer).
        assert!(runs_after <= runs_before, "a compaction added sorted runs. {}", self.context);
        true
    }

    fn check_plan(&self, plan: &CompactionPlan<u64>) {
        let context = &self.context;
        let unit = &plan.unit;
        let runs = self.levels.level_sorted_runs();
        let max_level = self.levels.max_level();

        // The unit is exactly the files of a contiguous newest-first prefix of the runs.
        let picked: Vec<&str> = unit.files.iter().map(|file| file.name.as_str()).collect();
        let mut prefix_files: Vec<&str> = Vec::new();
        let mut prefix_runs = 0;
        while prefix_files.len() < picked.len() && prefix_runs < runs.len() {
            prefix_files.extend(runs[prefix_runs].run.files.iter().map(|file| file.name.as_str()));
            prefix_runs += 1;
        }
        assert_eq!(picked, prefix_files, "the unit is not a prefix of the runs. {context}");
        assert!(prefix_runs >= 1, "an empty unit was planned. {context}");

        // Output level: never 0, at most the max level, not below a picked run, below the first run left out.
        assert!(unit.output_level >= 1, "output on level 0. {context}");
        assert!(unit.output_level <= max_level, "output beyond the max level. {context}");
        for file in &unit.files {
            assert!(file.level <= unit.output_level, "a picked file is above the output level. {context}");
        }
        if let Some(next) = runs.get(prefix_runs) {
            assert!(unit.output_level < next.level, "output level not below the next older run. {context}");
            assert!(!unit.full, "a partial unit is marked full. {context}");
        } else {
            assert_eq!(unit.output_level, max_level, "all runs picked but output below the max level. {context}");
            assert!(unit.full, "a unit of every run is not marked full. {context}");
        }

        // Deletes are dropped exactly when nothing older can lie under the output.
        let highest = self.levels.non_empty_highest_level().expect("a plan implies files");
        assert_eq!(plan.drop_deletes, unit.output_level >= highest, "drop_deletes disagrees. {context}");

        // Every picked file is in exactly one action, and each action keeps the upgrade rules.
        let mut covered: Vec<&str> =
            plan.actions.iter().flat_map(|action| action.input_files()).map(|f| f.name.as_str()).collect();
        let mut expected = picked.clone();
        covered.sort_unstable();
        expected.sort_unstable();
        assert_eq!(covered, expected, "actions do not cover the unit exactly once. {context}");
        for action in &plan.actions {
            match action {
                CompactAction::Upgrade { file, output_level } => {
                    assert_eq!(*output_level, unit.output_level, "{context}");
                    assert_ne!(file.level, unit.output_level, "an upgrade that moves nothing. {context}");
                    assert!(
                        unit.output_level != max_level || !file.may_hold_deletes(),
                        "a file that may hold deletes was upgraded into the max level. {context}"
                    );
                }
                CompactAction::Rewrite { sections, output_level, drop_deletes } => {
                    assert_eq!(*output_level, unit.output_level, "{context}");
                    assert_eq!(*drop_deletes, plan.drop_deletes, "{context}");
                    assert!(!sections.is_empty(), "an empty rewrite. {context}");
                }
                CompactAction::Unchanged { file } => {
                    assert_eq!(file.level, unit.output_level, "an unchanged file off the output level. {context}");
                }
            }
        }
    }

    /// Applies a plan the way the job does: upgrades move, rewrites produce new files rolled at the target size.
    fn apply(&mut self, plan: &CompactionPlan<u64>) {
        let mut before = Vec::new();
        let mut after = Vec::new();
        for action in &plan.actions {
            let kind = match action {
                CompactAction::Upgrade { .. } => "action upgrade",
                CompactAction::Rewrite { .. } => "action rewrite",
                CompactAction::Unchanged { .. } => "action unchanged",
            };
            self.trace.push(kind.to_string());
            match action {
                CompactAction::Upgrade { file, output_level } => {
                    before.push(file.clone());
                    after.push(FileInfo { level: *output_level, ..file.clone() });
                }
                CompactAction::Unchanged { .. } => {}
                CompactAction::Rewrite { sections, output_level, drop_deletes } => {
                    for section in sections {
                        let inputs: Vec<&FileInfo<u64>> = section.iter().flat_map(|run| run.files.iter()).collect();
                        before.extend(inputs.iter().map(|file| (*file).clone()));
                        after.extend(self.rewrite_section(&inputs, *output_level, *drop_deletes));
                    }
                }
            }
        }
        self.trace.push(format!(
            "compact to {} full={} drop_deletes={}: {} files out, {} files in",
            plan.unit.output_level,
            plan.unit.full,
            plan.drop_deletes,
            before.len(),
            after.len()
        ));
        for file in &before {
            if !after.iter().any(|output| output.name == file.name) {
                self.min_sequence_by_file.remove(&file.name);
            }
        }
        self.levels
            .update(&before, &after)
            .unwrap_or_else(|error| panic!("applying the plan broke the levels: {error}. {}", self.context));
    }

    /// The merged output of one section: its key range split into files of about the target size.
    fn rewrite_section(
        &mut self,
        inputs: &[&FileInfo<u64>],
        output_level: u32,
        drop_deletes: bool,
    ) -> Vec<FileInfo<u64>> {
        let min_key = inputs.iter().map(|file| file.min_key).min().expect("a section has files");
        let max_key = inputs.iter().map(|file| file.max_key).max().expect("a section has files");
        let size_bytes: u64 = inputs.iter().map(|file| file.size_bytes).sum();
        let max_sequence_number =
            inputs.iter().map(|file| file.max_sequence_number).max().expect("a section has files");
        let min_sequence_number =
            inputs.iter().map(|file| self.min_sequence_by_file[&file.name]).min().expect("a section has files");
        let delete_row_count =
            if drop_deletes { Some(0) } else { inputs.iter().map(|file| file.delete_row_count).sum::<Option<u64>>() };
        let width = max_key - min_key + 1;
        let outputs = size_bytes.div_ceil(TARGET_FILE_SIZE_BYTES).clamp(1, width);
        let mut files = Vec::new();
        for index in 0..outputs {
            let chunk_min = min_key + width * index / outputs;
            let chunk_max = min_key + width * (index + 1) / outputs - 1;
            let chunk_size = size_bytes * (index + 1) / outputs - size_bytes * index / outputs;
            let name = self.new_file_name("compact");
            self.min_sequence_by_file.insert(name.clone(), min_sequence_number);
            files.push(FileInfo {
                name,
                size_bytes: chunk_size,
                level: output_level,
                min_key: chunk_min,
                max_key: chunk_max,
                max_sequence_number,
                delete_row_count,
            });
        }
        files
    }

    /// Checks the LSM shape: one file per level-0 run, one run per higher level, ascending levels, no lost bytes,
    /// and that where two runs overlap, every row of the newer run is newer than every row of the older one.
    fn check_shape(&self) {
        let context = &self.context;
        let runs: Vec<LevelSortedRun<u64>> = self.levels.level_sorted_runs();
        for pair in runs.windows(2) {
            assert!(
                pair[0].level < pair[1].level || (pair[0].level == 0 && pair[1].level == 0),
                "runs out of order or two runs on one level. {context}"
            );
        }
        for run in &runs {
            if run.level == 0 {
                assert_eq!(run.run.files.len(), 1, "a level-0 run of several files. {context}");
            }
            for pair in run.run.files.windows(2) {
                assert!(pair[0].max_key < pair[1].min_key, "overlap inside a run. {context}");
            }
        }
        assert_eq!(self.levels.total_size_bytes(), self.flushed_bytes, "bytes lost or made up. {context}");
        for (newer_index, newer) in runs.iter().enumerate() {
            for older in &runs[newer_index + 1..] {
                for newer_file in &newer.run.files {
                    for older_file in &older.run.files {
                        let overlap =
                            newer_file.min_key <= older_file.max_key && older_file.min_key <= newer_file.max_key;
                        if overlap {
                            assert!(
                                self.min_sequence_by_file[&newer_file.name] > older_file.max_sequence_number,
                                "older data shadows newer data: {} over {}. {context}",
                                older_file.name,
                                newer_file.name
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Runs one scenario: flushes, compacting every `compact_every` flushes and whenever the writer would stall.
fn run_scenario(rng: &mut SmallRng, scenario: usize, seed: u64) -> Vec<String> {
    let mut bucket = Bucket::random(rng, scenario, seed);
    let compact_every = rng.random_range(1..=4usize);
    let trigger = bucket.options.num_sorted_run_compaction_trigger as usize;
    let stop_trigger = bucket.options.num_sorted_run_stop_trigger as usize;
    for flush in 1..=FLUSHES_PER_SCENARIO {
        // A flush waits while the runs exceed the stop trigger; above it the file-number rule always fires.
        while bucket.levels.should_stall(&bucket.options) {
            bucket.trace.push("stall".to_string());
            assert!(bucket.compact(CompactionTrigger::Normal), "stalled with nothing to compact. {}", bucket.context);
        }
        bucket.flush(rng);
        let runs = bucket.levels.number_of_sorted_runs();
        assert!(runs <= stop_trigger + 1, "runs grew past the stop trigger. runs={runs}. {}", bucket.context);

        if rng.random_range(0..60) == 0 {
            bucket.compact(CompactionTrigger::Full);
            let runs = bucket.levels.number_of_sorted_runs();
            assert!(runs <= 1, "a full compaction left several runs. runs={runs}. {}", bucket.context);
        } else if flush % compact_every == 0 {
            let runs_before = bucket.levels.number_of_sorted_runs();
            let compacted = bucket.compact(CompactionTrigger::Normal);
            if runs_before > trigger {
                assert!(compacted, "over the trigger but nothing picked. {}", bucket.context);
            }
            if compact_every == 1 {
                // Compacting after every flush holds the runs at the trigger.
                let runs = bucket.levels.number_of_sorted_runs();
                assert!(runs <= trigger, "runs above the trigger after compaction. runs={runs}. {}", bucket.context);
            }
        }
    }
    bucket.trace
}

fn run_simulation(seed: u64) -> Vec<Vec<String>> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..SCENARIOS).map(|scenario| run_scenario(&mut rng, scenario, seed)).collect()
}

#[test]
fn random_flushes_and_compactions_keep_the_lsm_invariants() {
    // Random buckets under random valid options take flushes and policy-planned compactions; after every step the
    // picks are newest-first prefixes, output never lands on level 0, levels >= 1 hold one non-overlapping run,
    // newer data shadows older, no bytes are lost, and the run count stays within the triggers.
    let seed = seed();
    let traces = run_simulation(seed);
    // The run must have exercised every kind of decision, or it proves little.
    let count = |prefix: &str| traces.iter().flatten().filter(|line| line.starts_with(prefix)).count();
    let counts = [
        ("compact to", count("compact to")),
        ("drop_deletes=true", traces.iter().flatten().filter(|line| line.contains("drop_deletes=true")).count()),
        ("drop_deletes=false", traces.iter().flatten().filter(|line| line.contains("drop_deletes=false")).count()),
        ("action upgrade", count("action upgrade")),
        ("action rewrite", count("action rewrite")),
        ("action unchanged", count("action unchanged")),
        ("stall", count("stall")),
    ];
    println!("decision counts: {counts:?}");
    for (decision, times) in counts {
        assert!(times > 0, "the simulation never made this decision. decision=`{decision}`, seed={seed}");
    }
}

#[test]
fn one_seed_replays_identically() {
    // The policy is deterministic: two runs of one seed produce the same sequence of flushes and compactions.
    let seed = seed();
    assert_eq!(run_simulation(seed), run_simulation(seed), "seed={seed}");
}

#[test]
fn the_policy_reads_table_options_end_to_end() {
    // A bucket built from string table options, flushed five times with the default trigger of 5, compacts every
    // level-0 file in one go (size amplification: no older run, so all five merge into the max level).
    let table_options = BTreeMap::from([("target-file-size".to_string(), "1 kb".to_string())]);
    let options = CompactionOptions::from_table_options(&table_options).expect("valid options");
    let strategy = UniversalCompaction::from_options(&options);
    let files: Vec<FileInfo<u64>> = (0..5)
        .map(|index| FileInfo {
            name: format!("f{index}"),
            size_bytes: 100,
            level: 0,
            min_key: 0,
            max_key: 100,
            max_sequence_number: index,
            delete_row_count: Some(0),
        })
        .collect();
    let levels = Levels::new(files[..4].to_vec(), options.num_levels).expect("valid levels");
    assert_eq!(plan_compaction(&strategy, &levels, &options, CompactionTrigger::Normal), None);
    let levels = Levels::new(files, options.num_levels).expect("valid levels");
    let plan = plan_compaction(&strategy, &levels, &options, CompactionTrigger::Normal).expect("trigger reached");
    assert_eq!(plan.unit.files.len(), 5);
    assert_eq!(plan.unit.output_level, 5);
    assert!(plan.drop_deletes);
    assert!(matches!(&plan.actions[..], [CompactAction::Rewrite { output_level: 5, .. }]));
}
