//! The table options that steer compaction, under Paimon's names and with Paimon's defaults.
//!
//! A table written by Java Paimon carries these options in its schema file; reading them with the same names,
//! defaults and units means a Java writer and dyntable compact one bucket the same way.

use std::collections::BTreeMap;

use crate::error::{CompactionError, Result};

/// `num-sorted-run.compaction-trigger`: sorted runs at which a compaction starts.
pub const NUM_SORTED_RUN_COMPACTION_TRIGGER: &str = "num-sorted-run.compaction-trigger";
/// `num-sorted-run.stop-trigger`: sorted runs above which writes wait for compaction.
pub const NUM_SORTED_RUN_STOP_TRIGGER: &str = "num-sorted-run.stop-trigger";
/// `compaction.max-size-amplification-percent`: extra size, in percent of the oldest run, before a full compaction.
pub const COMPACTION_MAX_SIZE_AMPLIFICATION_PERCENT: &str = "compaction.max-size-amplification-percent";
/// `compaction.size-ratio`: percent of flexibility when comparing sorted run sizes.
pub const COMPACTION_SIZE_RATIO: &str = "compaction.size-ratio";
/// `num-levels`: number of LSM levels, level 0 included.
pub const NUM_LEVELS: &str = "num-levels";
/// `target-file-size`: the size a rolling file writer aims for.
pub const TARGET_FILE_SIZE: &str = "target-file-size";

/// Paimon's default compaction trigger.
pub const DEFAULT_NUM_SORTED_RUN_COMPACTION_TRIGGER: u32 = 5;
/// Paimon's stop trigger is the compaction trigger plus this many runs.
pub const DEFAULT_STOP_TRIGGER_EXTRA_RUNS: u32 = 3;
/// Paimon's default `compaction.max-size-amplification-percent`.
pub const DEFAULT_MAX_SIZE_AMPLIFICATION_PERCENT: u32 = 200;
/// Paimon's default `compaction.size-ratio`.
pub const DEFAULT_SIZE_RATIO_PERCENT: u32 = 1;
/// Paimon's default `target-file-size` for primary-key tables (the only tables this policy compacts).
pub const DEFAULT_TARGET_FILE_SIZE_BYTES: u64 = 128 * 1024 * 1024;

// Java reads these options as `int`; keeping the same ceiling means a value Java accepts is accepted here.
const JAVA_INT_MAX: u32 = i32::MAX as u32;

/// The compaction settings of one table, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionOptions {
    /// Sorted runs at which universal compaction starts picking by size ratio and file number.
    pub num_sorted_run_compaction_trigger: u32,
    /// Sorted runs above which a flush waits for compaction (write stall).
    pub num_sorted_run_stop_trigger: u32,
    /// Size of all runs but the oldest, in percent of the oldest, above which everything is compacted.
    pub max_size_amplification_percent: u32,
    /// Percent by which a candidate may be smaller than the next run and still absorb it.
    pub size_ratio_percent: u32,
    /// Number of levels, level 0 included; the max level is `num_levels - 1`.
    pub num_levels: u32,
    /// The size a rolling writer aims for; files of at least 70% of it are upgraded instead of rewritten.
    pub target_file_size_bytes: u64,
}

impl Default for CompactionOptions {
    fn default() -> Self {
        CompactionOptions {
            num_sorted_run_compaction_trigger: DEFAULT_NUM_SORTED_RUN_COMPACTION_TRIGGER,
            num_sorted_run_stop_trigger: DEFAULT_NUM_SORTED_RUN_COMPACTION_TRIGGER + DEFAULT_STOP_TRIGGER_EXTRA_RUNS,
            max_size_amplification_percent: DEFAULT_MAX_SIZE_AMPLIFICATION_PERCENT,
            size_ratio_percent: DEFAULT_SIZE_RATIO_PERCENT,
            num_levels: DEFAULT_NUM_SORTED_RUN_COMPACTION_TRIGGER + 1,
            target_file_size_bytes: DEFAULT_TARGET_FILE_SIZE_BYTES,
        }
    }
}

impl CompactionOptions {
    /// Reads the compaction options out of a table's options (a `&BTreeMap` or `&HashMap` of strings).
    ///
    /// Options this crate does not know are ignored: the same map holds every other table option.
    /// `compaction.optimization-interval` and off-peak hours need a clock, so they are not honoured here.
    pub fn from_table_options<'a, I>(table_options: I) -> Result<Self>
    where
        I: IntoIterator<Item = (&'a String, &'a String)>,
    {
        let table_options: BTreeMap<&str, &str> =
            table_options.into_iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        let get = |option: &str| table_options.get(option).copied();

        let trigger = match get(NUM_SORTED_RUN_COMPACTION_TRIGGER) {
            Some(value) => parse_int(NUM_SORTED_RUN_COMPACTION_TRIGGER, value, 1)?,
            None => DEFAULT_NUM_SORTED_RUN_COMPACTION_TRIGGER,
        };
        let stop_trigger = match get(NUM_SORTED_RUN_STOP_TRIGGER) {
            Some(value) => parse_int(NUM_SORTED_RUN_STOP_TRIGGER, value, trigger)?,
            // Java adds "safely": the sum saturates at Integer.MAX_VALUE instead of wrapping.
            None => trigger.saturating_add(DEFAULT_STOP_TRIGGER_EXTRA_RUNS).min(JAVA_INT_MAX),
        };
        let max_size_amplification_percent = match get(COMPACTION_MAX_SIZE_AMPLIFICATION_PERCENT) {
            Some(value) => parse_int(COMPACTION_MAX_SIZE_AMPLIFICATION_PERCENT, value, 0)?,
            None => DEFAULT_MAX_SIZE_AMPLIFICATION_PERCENT,
        };
        let size_ratio_percent = match get(COMPACTION_SIZE_RATIO) {
            Some(value) => parse_int(COMPACTION_SIZE_RATIO, value, 0)?,
            None => DEFAULT_SIZE_RATIO_PERCENT,
        };
        let num_levels = match get(NUM_LEVELS) {
            Some(value) => parse_int(NUM_LEVELS, value, 2)?,
            // One level above the trigger keeps the output of a file-number pick off level 0.
            None => trigger.saturating_add(1).min(JAVA_INT_MAX),
        };
        let target_file_size_bytes = match get(TARGET_FILE_SIZE) {
            Some(value) => parse_memory_size(value)
                .filter(|bytes| *bytes > 0)
                .ok_or_else(|| invalid(TARGET_FILE_SIZE, value, MEMORY_SIZE_ALLOWED.to_string()))?,
            None => DEFAULT_TARGET_FILE_SIZE_BYTES,
        };

        let options = CompactionOptions {
            num_sorted_run_compaction_trigger: trigger,
            num_sorted_run_stop_trigger: stop_trigger,
            max_size_amplification_percent,
            size_ratio_percent,
            num_levels,
            target_file_size_bytes,
        };
        options.validate()?;
        Ok(options)
    }

    /// Checks the relations between the fields, for options built in code rather than parsed.
    pub fn validate(&self) -> Result<()> {
        if self.num_sorted_run_compaction_trigger < 1 || self.num_sorted_run_compaction_trigger > JAVA_INT_MAX {
            return Err(invalid(
                NUM_SORTED_RUN_COMPACTION_TRIGGER,
                &self.num_sorted_run_compaction_trigger.to_string(),
                int_allowed(1),
            ));
        }
        // Java clamps a stop trigger below the compaction trigger up to it; rejecting it instead tells the user
        // their setting has no effect.
        if self.num_sorted_run_stop_trigger < self.num_sorted_run_compaction_trigger
            || self.num_sorted_run_stop_trigger > JAVA_INT_MAX
        {
            return Err(invalid(
                NUM_SORTED_RUN_STOP_TRIGGER,
                &self.num_sorted_run_stop_trigger.to_string(),
                stop_trigger_allowed(self.num_sorted_run_compaction_trigger),
            ));
        }
        if self.max_size_amplification_percent > JAVA_INT_MAX {
            return Err(invalid(
                COMPACTION_MAX_SIZE_AMPLIFICATION_PERCENT,
                &self.max_size_amplification_percent.to_string(),
                int_allowed(0),
            ));
        }
        if self.size_ratio_percent > JAVA_INT_MAX {
            return Err(invalid(COMPACTION_SIZE_RATIO, &self.size_ratio_percent.to_string(), int_allowed(0)));
        }
        if self.num_levels < 2 || self.num_levels > JAVA_INT_MAX {
            return Err(invalid(NUM_LEVELS, &self.num_levels.to_string(), int_allowed(2)));
        }
        if self.target_file_size_bytes == 0 {
            return Err(invalid(TARGET_FILE_SIZE, "0", MEMORY_SIZE_ALLOWED.to_string()));
        }
        Ok(())
    }

    /// The highest level, where a full compaction writes and where deletes are dropped.
    pub fn max_level(&self) -> u32 {
        self.num_levels - 1
    }

    /// The smallest file that is upgraded (moved to the output level) rather than rewritten.
    ///
    /// Paimon uses 70% of the target: a rolled file often ends a little under the target because compression is
    /// estimated, and rewriting such a file again would only burn I/O. The integer form (`/ 10 * 7`) is Java's.
    pub fn upgrade_file_size_bytes_min(&self) -> u64 {
        self.target_file_size_bytes / 10 * 7
    }
}

const MEMORY_SIZE_ALLOWED: &str =
    "a memory size above zero: digits with an optional unit b, k/kb, m/mb, g/gb or t/tb, e.g. `128 mb`, `1gb`, `1024`";

fn invalid(option: &str, value: &str, allowed: String) -> CompactionError {
    CompactionError::InvalidOption { option: option.to_string(), value: value.to_string(), allowed }
}

fn int_allowed(min: u32) -> String {
    format!("an integer from {min} to {JAVA_INT_MAX}")
}

fn stop_trigger_allowed(trigger: u32) -> String {
    format!("an integer from {NUM_SORTED_RUN_COMPACTION_TRIGGER} ({trigger}) to {JAVA_INT_MAX}")
}

/// Parses a Java `int` option that must be at least `min`.
fn parse_int(option: &str, value: &str, min: u32) -> Result<u32> {
    let allowed = || {
        if option == NUM_SORTED_RUN_STOP_TRIGGER {
            stop_trigger_allowed(min)
        } else {
            int_allowed(min)
        }
    };
    let parsed: i64 = value.trim().parse().map_err(|_| invalid(option, value, allowed()))?;
    if parsed < i64::from(min) || parsed > i64::from(JAVA_INT_MAX) {
        return Err(invalid(option, value, allowed()));
    }
    // The range check above keeps the value inside u32.
    Ok(parsed as u32)
}

/// Parses a Paimon/Flink memory size such as `128 mb`, `256MB`, `1 gb`, `64 kb` or `1024` into bytes.
///
/// Units are binary (1 kb = 1024 bytes) and case-insensitive; no unit means bytes. Returns `None` for text that
/// is not digits followed by a known unit, and for sizes that overflow `u64`.
pub fn parse_memory_size(text: &str) -> Option<u64> {
    let trimmed = text.trim();
    let digits_end = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    if number.is_empty() {
        return None;
    }
    let number: u64 = number.parse().ok()?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kibibytes" => 1 << 10,
        "m" | "mb" | "mebibytes" => 1 << 20,
        "g" | "gb" | "gibibytes" => 1 << 30,
        "t" | "tb" | "tebibytes" => 1 << 40,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::collections::HashMap;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
    }

    fn parse_error(pairs: &[(&str, &str)]) -> CompactionError {
        CompactionOptions::from_table_options(&options(pairs)).expect_err("options should be rejected")
    }

    #[test]
    fn empty_options_give_paimon_defaults() {
        // With no compaction option set, every value equals Paimon's documented default for a primary-key table.
        let parsed = CompactionOptions::from_table_options(&options(&[])).unwrap();
        assert_eq!(parsed, CompactionOptions::default());
        assert_eq!(parsed.num_sorted_run_compaction_trigger, 5);
        assert_eq!(parsed.num_sorted_run_stop_trigger, 8);
        assert_eq!(parsed.max_size_amplification_percent, 200);
        assert_eq!(parsed.size_ratio_percent, 1);
        assert_eq!(parsed.num_levels, 6);
        assert_eq!(parsed.max_level(), 5);
        assert_eq!(parsed.target_file_size_bytes, 128 * 1024 * 1024);
        assert_eq!(parsed.upgrade_file_size_bytes_min(), 128 * 1024 * 1024 / 10 * 7);
    }

    #[test]
    fn derived_defaults_follow_the_trigger() {
        // Setting only the trigger moves the stop trigger (trigger + 3) and num-levels (trigger + 1) with it,
        // and unrelated table options in the same map are ignored.
        let parsed = CompactionOptions::from_table_options(&options(&[
            (NUM_SORTED_RUN_COMPACTION_TRIGGER, "3"),
            ("bucket", "4"),
            ("compaction.optimization-interval", "1 h"),
        ]))
        .unwrap();
        assert_eq!(parsed.num_sorted_run_compaction_trigger, 3);
        assert_eq!(parsed.num_sorted_run_stop_trigger, 6);
        assert_eq!(parsed.num_levels, 4);
    }

    #[test]
    fn explicit_values_are_read_from_a_hash_map_too() {
        // Every option is read under its Paimon name, whichever map type the caller holds.
        let table_options: HashMap<String, String> = [
            (NUM_SORTED_RUN_COMPACTION_TRIGGER, "4"),
            (NUM_SORTED_RUN_STOP_TRIGGER, "10"),
            (COMPACTION_MAX_SIZE_AMPLIFICATION_PERCENT, "150"),
            (COMPACTION_SIZE_RATIO, "0"),
            (NUM_LEVELS, "3"),
            (TARGET_FILE_SIZE, "64 kb"),
        ]
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
        let parsed = CompactionOptions::from_table_options(&table_options).unwrap();
        assert_eq!(
            parsed,
            CompactionOptions {
                num_sorted_run_compaction_trigger: 4,
                num_sorted_run_stop_trigger: 10,
                max_size_amplification_percent: 150,
                size_ratio_percent: 0,
                num_levels: 3,
                target_file_size_bytes: 64 * 1024,
            }
        );
    }

    #[test]
    fn memory_sizes_parse_like_paimon() {
        // The memory-size grammar accepts Paimon's spellings (binary units, any case, optional space).
        assert_eq!(parse_memory_size("128 mb"), Some(128 << 20));
        assert_eq!(parse_memory_size("256MB"), Some(256 << 20));
        assert_eq!(parse_memory_size("1 gb"), Some(1 << 30));
        assert_eq!(parse_memory_size("1024"), Some(1024));
        assert_eq!(parse_memory_size("64 kb"), Some(64 << 10));
        assert_eq!(parse_memory_size(" 7 b "), Some(7));
        assert_eq!(parse_memory_size("2m"), Some(2 << 20));
        assert_eq!(parse_memory_size("1 tebibytes"), Some(1 << 40));
        assert_eq!(parse_memory_size("mb"), None);
        assert_eq!(parse_memory_size("1.5 mb"), None);
        assert_eq!(parse_memory_size("-1"), None);
        assert_eq!(parse_memory_size("12 parsecs"), None);
        assert_eq!(parse_memory_size("99999999999 tb"), None);
    }

    #[test]
    fn a_zero_or_negative_trigger_is_rejected() {
        // A trigger below one names the option, the value and the allowed range.
        for value in ["0", "-2"] {
            let error = parse_error(&[(NUM_SORTED_RUN_COMPACTION_TRIGGER, value)]);
            assert_eq!(
                error,
                CompactionError::InvalidOption {
                    option: NUM_SORTED_RUN_COMPACTION_TRIGGER.to_string(),
                    value: value.to_string(),
                    allowed: "an integer from 1 to 2147483647".to_string(),
                }
            );
            assert_eq!(error.kind(), ErrorKind::Invalid);
        }
    }

    #[test]
    fn a_stop_trigger_below_the_trigger_is_rejected() {
        // A stop trigger smaller than the compaction trigger would never stall before compaction; it is refused.
        let error = parse_error(&[(NUM_SORTED_RUN_COMPACTION_TRIGGER, "6"), (NUM_SORTED_RUN_STOP_TRIGGER, "5")]);
        assert_eq!(
            error.to_string(),
            "table option has an invalid value. option=`num-sorted-run.stop-trigger`, value=`5`, \
             allowed=`an integer from num-sorted-run.compaction-trigger (6) to 2147483647`"
        );
    }

    #[test]
    fn fewer_than_two_levels_are_rejected() {
        // An LSM tree with only level 0 has nowhere to compact to.
        let error = parse_error(&[(NUM_LEVELS, "1")]);
        assert_eq!(
            error,
            CompactionError::InvalidOption {
                option: NUM_LEVELS.to_string(),
                value: "1".to_string(),
                allowed: "an integer from 2 to 2147483647".to_string()
            }
        );
    }

    #[test]
    fn unparsable_numbers_and_sizes_are_rejected() {
        // Text that is not a Java int or a memory size gives the option, the raw value and what would be accepted.
        let error = parse_error(&[(COMPACTION_SIZE_RATIO, "one")]);
        assert!(matches!(&error, CompactionError::InvalidOption { option, value, .. }
            if option == COMPACTION_SIZE_RATIO && value == "one"));
        let error = parse_error(&[(COMPACTION_MAX_SIZE_AMPLIFICATION_PERCENT, "3000000000")]);
        assert!(matches!(&error, CompactionError::InvalidOption { option, .. }
            if option == COMPACTION_MAX_SIZE_AMPLIFICATION_PERCENT));
        for value in ["lots", "0", "0 mb", "12 parsecs"] {
            let error = parse_error(&[(TARGET_FILE_SIZE, value)]);
            assert_eq!(
                error,
                CompactionError::InvalidOption {
                    option: TARGET_FILE_SIZE.to_string(),
                    value: value.to_string(),
                    allowed: MEMORY_SIZE_ALLOWED.to_string()
                }
            );
        }
    }

    #[test]
    fn validate_catches_options_built_in_code() {
        // Options built as a struct literal get the same checks as parsed ones.
        let options = CompactionOptions { num_levels: 1, ..CompactionOptions::default() };
        assert!(
            matches!(options.validate(), Err(CompactionError::InvalidOption { option, .. }) if option == NUM_LEVELS)
        );
        let options = CompactionOptions { target_file_size_bytes: 0, ..CompactionOptions::default() };
        assert!(options.validate().is_err());
        assert!(CompactionOptions::default().validate().is_ok());
    }
}
