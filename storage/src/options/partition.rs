//! The options of partition expiration (Paimon's `PartitionExpire` with the `values-time` strategy, see
//! [`crate::partition_expire`]): `partition.expiration-time`, `partition.expiration-check-interval`,
//! `partition.timestamp-formatter`, `partition.timestamp-pattern`, and the time a partition's values stand for.
//!
//! A partition's time: `partition.timestamp-pattern` (e.g. `$dt $hour:00:00`) with every `$<partition key>`
//! replaced by the partition's value (in partition-key order, as Java's `replaceAll`), or, without a pattern,
//! the first partition field's value; then parsed with `partition.timestamp-formatter` (a Java
//! `DateTimeFormatter` pattern of the letters y, M, d, H, m, s and literals) or, without one, Java's default
//! (`yyyy-M-d` optionally followed by ` H:m` or ` H:m:s`). The time is read as UTC (Java reads it in the JVM's
//! zone).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use super::parse::{opt_err, parse_duration};
use crate::error::Result;

pub const PARTITION_EXPIRATION_TIME: &str = "partition.expiration-time";
pub const PARTITION_EXPIRATION_CHECK_INTERVAL: &str = "partition.expiration-check-interval";
pub const PARTITION_TIMESTAMP_FORMATTER: &str = "partition.timestamp-formatter";
pub const PARTITION_TIMESTAMP_PATTERN: &str = "partition.timestamp-pattern";
/// `values-time` only (the time comes from the partition values); Paimon's `update-time` is refused.
pub const PARTITION_EXPIRATION_STRATEGY: &str = "partition.expiration-strategy";

/// The partition options, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionExpireOptions {
    /// [`PARTITION_EXPIRATION_TIME`]; `None`: partitions never expire.
    pub expiration_time: Option<Duration>,
    /// [`PARTITION_EXPIRATION_CHECK_INTERVAL`] (default 1 h): a writer checks at most this often.
    pub check_interval: Duration,
    /// [`PARTITION_TIMESTAMP_FORMATTER`], uncompiled (see [`TimestampFormatter::compile`]).
    pub formatter: Option<String>,
    /// [`PARTITION_TIMESTAMP_PATTERN`].
    pub pattern: Option<String>,
}

impl PartitionExpireOptions {
    /// Parses the durations (a malformed one is an error whatever wrote the table); the formatter is compiled
    /// by [`Self::time_extractor`] and checked at creation by [`Self::check_create`].
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Self> {
        let get = |k: &str| raw.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let duration = |key: &str| -> Result<Option<Duration>> {
            get(key)
                .map(|v| {
                    parse_duration(&v).ok_or_else(|| opt_err(key, &v, "expected a duration such as `7 d` or `1 h`"))
                })
                .transpose()
        };
        let expiration_time = duration(PARTITION_EXPIRATION_TIME)?;
        if expiration_time == Some(Duration::ZERO) {
            return Err(opt_err(PARTITION_EXPIRATION_TIME, "0", "must be positive"));
        }
        Ok(PartitionExpireOptions {
            expiration_time,
            check_interval: duration(PARTITION_EXPIRATION_CHECK_INTERVAL)?.unwrap_or(Duration::from_secs(3600)),
            formatter: get(PARTITION_TIMESTAMP_FORMATTER),
            pattern: get(PARTITION_TIMESTAMP_PATTERN),
        })
    }

    /// The checks of a table dyntable creates or alters: the formatter compiles, the pattern names partition
    /// keys only, and expiration needs a partitioned table with the `values-time` strategy.
    pub fn check_create(raw: &BTreeMap<String, String>, partition_keys: &[String]) -> Result<()> {
        let o = Self::parse(raw)?;
        if let Some(v) = raw.get(PARTITION_EXPIRATION_STRATEGY) {
            if !v.trim().eq_ignore_ascii_case("values-time") {
                return Err(opt_err(
                    PARTITION_EXPIRATION_STRATEGY,
                    v,
                    "dyntable does not support this strategy: only `values-time` (the time comes from the partition values)",
                ));
            }
        }
        o.time_extractor(partition_keys)?;
        if o.expiration_time.is_some() && partition_keys.is_empty() {
            return Err(opt_err(
                PARTITION_EXPIRATION_TIME,
                raw.get(PARTITION_EXPIRATION_TIME).map_or("", String::as_str),
                "the table has no partition keys: there is no partition to expire",
            ));
        }
        Ok(())
    }

    /// The compiled formatter and pattern; an error names the option whose value dyntable cannot use.
    pub fn time_extractor(&self, partition_keys: &[String]) -> Result<PartitionTimeExtractor> {
        let formatter = match &self.formatter {
            Some(f) => Some(TimestampFormatter::compile(f).map_err(|e| opt_err(PARTITION_TIMESTAMP_FORMATTER, f, &e))?),
            None => None,
        };
        if let Some(p) = &self.pattern {
            let mut rest = p.as_str();
            while let Some(at) = rest.find('$') {
                rest = &rest[at + 1..];
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !partition_keys.iter().any(|k| rest.starts_with(k.as_str())) {
                    return Err(opt_err(
                        PARTITION_TIMESTAMP_PATTERN,
                        p,
                        &format!("`${name}` is not a partition key (partition keys: {partition_keys:?})"),
                    ));
                }
            }
        }
        Ok(PartitionTimeExtractor { pattern: self.pattern.clone(), formatter })
    }
}

/// Turns a partition's values into its time (Java's `PartitionTimeExtractor`).
#[derive(Debug, Clone)]
pub struct PartitionTimeExtractor {
    pattern: Option<String>,
    formatter: Option<TimestampFormatter>,
}

impl PartitionTimeExtractor {
    /// The time of the partition with `values` (strings, in the order of `keys`), or an error saying why the
    /// values do not make one.
    pub fn extract(&self, keys: &[String], values: &[String]) -> std::result::Result<NaiveDateTime, String> {
        let text = match &self.pattern {
            Some(p) => {
                let mut text = p.clone();
                for (k, v) in keys.iter().zip(values) {
                    text = text.replace(&format!("${k}"), v);
                }
                text
            }
            None => values.first().cloned().ok_or("the table has no partition keys")?,
        };
        let parsed = match &self.formatter {
            Some(f) => f.parse(&text),
            None => DEFAULT_FORMATS
                .iter()
                .find_map(|f| TimestampFormatter::compile(f).expect("the default formats compile").parse(&text)),
        };
        parsed.ok_or_else(|| match &self.formatter {
            Some(f) => format!("`{text}` does not match `{PARTITION_TIMESTAMP_FORMATTER}` = '{}'", f.pattern),
            None => format!("`{text}` is not a date (`yyyy-MM-dd`) or a timestamp (`yyyy-MM-dd HH:mm:ss`)"),
        })
    }
}

/// Java's default partition timestamp parser, as patterns of this module (single letters take 1 or 2 digits).
const DEFAULT_FORMATS: [&str; 3] = ["yyyy-M-d H:m:s", "yyyy-M-d H:m", "yyyy-M-d"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A numeric field of `min..=max` digits; a two-letter year is 2000 + the value.
    Number {
        field: Field,
        min: usize,
        max: usize,
        two_digit_year: bool,
    },
    Literal(char),
}

/// A Java `DateTimeFormatter` pattern restricted to the letters y, M, d, H, m, s (numeric), quoted text and
/// other literal characters.
#[derive(Debug, Clone)]
pub struct TimestampFormatter {
    pattern: String,
    tokens: Vec<Token>,
}

impl TimestampFormatter {
    /// Compiles `pattern`; the error says what dyntable does not support in it.
    pub fn compile(pattern: &str) -> std::result::Result<Self, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // Quoted text; '' is a quote.
                let mut j = i + 1;
                if chars.get(j) == Some(&'\'') {
                    tokens.push(Token::Literal('\''));
                    i = j + 1;
                    continue;
                }
                loop {
                    match chars.get(j) {
                        None => return Err("unterminated quoted text".into()),
                        Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                            tokens.push(Token::Literal('\''));
                            j += 2;
                        }
                        Some('\'') => break,
                        Some(q) => {
                            tokens.push(Token::Literal(*q));
                            j += 1;
                        }
                    }
                }
                i = j + 1;
                continue;
            }
            if c.is_ascii_alphabetic() {
                let n = chars[i..].iter().take_while(|x| **x == c).count();
                let field = match c {
                    'y' => Field::Year,
                    'M' => Field::Month,
                    'd' => Field::Day,
                    'H' => Field::Hour,
                    'm' => Field::Minute,
                    's' => Field::Second,
                    _ => {
                        return Err(format!(
                            "pattern letter `{c}` is not supported: dyntable supports y, M, d, H, m, s and literals"
                        ))
                    }
                };
                let (min, max) = match (field, n) {
                    (Field::Year, 2) => (2, 2),
                    (Field::Year, n) => (n, 9),
                    (_, 1) => (1, 2),
                    (_, 2) => (2, 2),
                    _ => return Err(format!("`{}` is not supported: use one or two `{c}`", c.to_string().repeat(n))),
                };
                tokens.push(Token::Number { field, min, max, two_digit_year: field == Field::Year && n == 2 });
                i += n;
                continue;
            }
            if matches!(c, '[' | ']' | '{' | '}' | '#') {
                return Err(format!("`{c}` (optional sections, reserved characters) is not supported"));
            }
            tokens.push(Token::Literal(c));
            i += 1;
        }
        // A year directly followed by another number has a fixed width (Java's adjacent value parsing).
        for k in 0..tokens.len().saturating_sub(1) {
            if let (Token::Number { field: Field::Year, min, .. }, Token::Number { .. }) = (&tokens[k], &tokens[k + 1])
            {
                let min = *min;
                if let Token::Number { max, .. } = &mut tokens[k] {
                    *max = min;
                }
            }
        }
        for (need, letter) in [(Field::Year, 'y'), (Field::Month, 'M'), (Field::Day, 'd')] {
            if !tokens.iter().any(|t| matches!(t, Token::Number { field, .. } if *field == need)) {
                return Err(format!("the pattern has no `{letter}`: a partition time needs a year, month and day"));
            }
        }
        Ok(TimestampFormatter { pattern: pattern.to_string(), tokens })
    }

    /// Parses the whole of `text`; `None` when it does not match or is not a valid date and time.
    pub fn parse(&self, text: &str) -> Option<NaiveDateTime> {
        let bytes: Vec<char> = text.chars().collect();
        let mut at = 0;
        let (mut y, mut mo, mut d, mut h, mut mi, mut s) = (None, None, None, 0u32, 0u32, 0u32);
        for t in &self.tokens {
            match t {
                Token::Literal(c) => {
                    if bytes.get(at) != Some(c) {
                        return None;
                    }
                    at += 1;
                }
                Token::Number { field, min, max, two_digit_year } => {
                    let digits = bytes[at..].iter().take(*max).take_while(|c| c.is_ascii_digit()).count();
                    if digits < *min {
                        return None;
                    }
                    let v: i64 = bytes[at..at + digits].iter().collect::<String>().parse().ok()?;
                    at += digits;
                    let small = || u32::try_from(v).ok();
                    match field {
                        Field::Year => y = Some(if *two_digit_year { 2000 + v } else { v }),
                        Field::Month => mo = small(),
                        Field::Day => d = small(),
                        Field::Hour => h = small()?,
                        Field::Minute => mi = small()?,
                        Field::Second => s = small()?,
                    }
                }
            }
        }
        if at != bytes.len() {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(i32::try_from(y?).ok()?, mo?, d?)?;
        Some(date.and_time(NaiveTime::from_hms_opt(h, mi, s)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_opt(h, mi, s).unwrap()
    }

    /// Java pattern letters y, M, d, H, m, s with their widths, literals and quoted text; invalid dates and
    /// trailing text do not parse.
    #[test]
    fn formatter_patterns() {
        let f = TimestampFormatter::compile("yyyyMMdd").unwrap();
        assert_eq!(f.parse("20240131"), Some(at(2024, 1, 31, 0, 0, 0)));
        for bad in ["2024013", "202401311", "20240231", "2024-01-31", ""] {
            assert_eq!(f.parse(bad), None, "{bad}");
        }
        let f = TimestampFormatter::compile("yyyy-MM-dd HH:mm:ss").unwrap();
        assert_eq!(f.parse("2024-02-29 23:59:58"), Some(at(2024, 2, 29, 23, 59, 58)));
        assert_eq!(f.parse("2024-02-29 24:00:00"), None);
        let f = TimestampFormatter::compile("yyyy-MM-dd").unwrap();
        assert_eq!(f.parse("2023-12-01"), Some(at(2023, 12, 1, 0, 0, 0)));
        assert_eq!(f.parse("2023-1-01"), None);
        let f = TimestampFormatter::compile("yyyyMMddHH").unwrap();
        assert_eq!(f.parse("2024013107"), Some(at(2024, 1, 31, 7, 0, 0)));
        let f = TimestampFormatter::compile("yy/M/d'T'H").unwrap();
        assert_eq!(f.parse("24/1/5T9"), Some(at(2024, 1, 5, 9, 0, 0)));
        for (pattern, says) in [
            ("yyyy-MM-dd HH:mm:ss.SSS", "`S`"),
            ("yyyy-MMM-dd", "MMM"),
            ("yyyy-MM", "no `d`"),
            ("yyyy-MM-dd[ HH]", "optional"),
            ("yyyy-MM-dd'", "unterminated"),
        ] {
            let e = TimestampFormatter::compile(pattern).unwrap_err();
            assert!(e.contains(says), "{pattern}: {e}");
        }
    }

    /// Without a pattern the first value is parsed; with one, every `$key` is substituted; without a formatter,
    /// Java's default date / timestamp forms are accepted.
    #[test]
    fn extractor_patterns_and_defaults() {
        let keys = vec!["dt".to_string(), "hour".to_string()];
        let o = PartitionExpireOptions::parse(&opts(&[])).unwrap();
        let e = o.time_extractor(&keys).unwrap();
        assert_eq!(e.extract(&keys, &["2024-01-05".into(), "3".into()]), Ok(at(2024, 1, 5, 0, 0, 0)));
        assert_eq!(e.extract(&keys, &["2024-1-5 10:20:30".into(), "3".into()]), Ok(at(2024, 1, 5, 10, 20, 30)));
        assert!(e.extract(&keys, &["yesterday".into(), "3".into()]).unwrap_err().contains("yesterday"));
        let o = PartitionExpireOptions::parse(&opts(&[
            (PARTITION_TIMESTAMP_PATTERN, "$dt $hour:00:00"),
            (PARTITION_TIMESTAMP_FORMATTER, "yyyyMMdd HH:mm:ss"),
        ]))
        .unwrap();
        let e = o.time_extractor(&keys).unwrap();
        assert_eq!(e.extract(&keys, &["20240105".into(), "07".into()]), Ok(at(2024, 1, 5, 7, 0, 0)));
        let err = e.extract(&keys, &["20240105".into(), "x".into()]).unwrap_err();
        assert!(err.contains("20240105 x:00:00") && err.contains("yyyyMMdd HH:mm:ss"), "{err}");
    }

    /// Defaults, and bad values rejected naming the option and the value.
    #[test]
    fn options_and_errors() {
        let o = PartitionExpireOptions::parse(&opts(&[])).unwrap();
        assert_eq!((o.expiration_time, o.check_interval), (None, Duration::from_secs(3600)));
        let o = PartitionExpireOptions::parse(&opts(&[
            (PARTITION_EXPIRATION_TIME, "7 d"),
            (PARTITION_EXPIRATION_CHECK_INTERVAL, "10 min"),
        ]))
        .unwrap();
        assert_eq!(
            (o.expiration_time, o.check_interval),
            (Some(Duration::from_secs(7 * 86_400)), Duration::from_secs(600))
        );
        let keys = vec!["dt".to_string()];
        for (k, v) in [
            (PARTITION_EXPIRATION_TIME, "a week"),
            (PARTITION_EXPIRATION_TIME, "0"),
            (PARTITION_EXPIRATION_CHECK_INTERVAL, "often"),
            (PARTITION_TIMESTAMP_FORMATTER, "yyyy-MM-dd HH:mm:ss.SSS"),
            (PARTITION_TIMESTAMP_PATTERN, "$day"),
            (PARTITION_EXPIRATION_STRATEGY, "update-time"),
        ] {
            let e = PartitionExpireOptions::check_create(&opts(&[(k, v)]), &keys).unwrap_err().to_string();
            assert!(e.contains(k) && e.contains(v), "{e}");
        }
        let e = PartitionExpireOptions::check_create(&opts(&[(PARTITION_EXPIRATION_TIME, "1 d")]), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains(PARTITION_EXPIRATION_TIME) && e.contains("no partition keys"), "{e}");
        PartitionExpireOptions::check_create(
            &opts(&[(PARTITION_EXPIRATION_TIME, "1 d"), (PARTITION_EXPIRATION_STRATEGY, "values-time")]),
            &keys,
        )
        .unwrap();
    }
}
