//! Parsers of option values shared by the option groups: booleans, memory sizes, durations, and the error
//! that names a malformed option.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::Error;

/// Parses Paimon memory sizes: `1024`, `64 kb`, `128mb`, `1 gb`, `2 tb` (units are powers of 1024). One parser
/// serves the table options and the compaction options.
pub use dyntable_compaction::parse_memory_size;

pub(super) fn opt_err(key: &str, value: &str, reason: &str) -> Error {
    Error::InvalidOption { key: key.to_string(), value: value.to_string(), reason: reason.to_string() }
}

/// `true` or `false`, in any case; anything else is `None` (a malformed value).
pub(super) fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Whether option `key` is set to `true` (in any case, surrounding blanks ignored); any other value reads as
/// false. For the boolean options that are not validated.
pub(super) fn is_true(options: &BTreeMap<String, String>, key: &str) -> bool {
    options.get(key).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Parses `500 ms`, `2s`, `1 min`, `1 h`, `7 d` (Paimon's duration units); a bare number is milliseconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let value: u64 = text[..split].parse().ok()?;
    let unit = text[split..].trim();
    let millis = match unit {
        "" | "ms" | "millis" | "milliseconds" => value,
        "s" | "sec" | "secs" | "second" | "seconds" => value.checked_mul(1000)?,
        "min" | "mins" | "minute" | "minutes" => value.checked_mul(60_000)?,
        "h" | "hour" | "hours" => value.checked_mul(3_600_000)?,
        "d" | "day" | "days" => value.checked_mul(86_400_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(millis))
}
