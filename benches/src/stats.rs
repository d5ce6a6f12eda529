//! Medians, percentiles, timers and memory figures of the benchmark reports.

use std::path::Path;
use std::time::Instant;

use crate::BoxError;

/// The median of `xs` (the mean of the two middle values for an even count); NaN when empty.
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// (p50, p99, max) of `values` (nearest rank); `values` must not be empty.
pub fn percentiles(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let pct = |p: f64| values[((values.len() as f64 * p).ceil() as usize).clamp(1, values.len()) - 1];
    (pct(0.50), pct(0.99), values[values.len() - 1])
}

/// Bytes in MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A /proc/self/status field in KiB (`VmHWM:` = peak RSS, `VmRSS:` = current RSS); `None` off Linux.
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
}

/// Runs `f` and returns its value with its wall time in seconds.
pub fn timed<T>(f: impl FnOnce() -> Result<T, BoxError>) -> Result<(T, f64), BoxError> {
    let start = Instant::now();
    let v = f()?;
    Ok((v, start.elapsed().as_secs_f64()))
}

/// Awaits `f` and returns its value with its wall time in seconds.
pub async fn timed_async<T>(f: impl std::future::Future<Output = Result<T, BoxError>>) -> Result<(T, f64), BoxError> {
    let start = Instant::now();
    let v = f.await?;
    Ok((v, start.elapsed().as_secs_f64()))
}

/// Bytes of all files below `path` (0 when it cannot be read).
pub fn dir_bytes(path: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(path) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Odd and even counts, and the nearest-rank percentiles.
    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentiles(values), (50.0, 99.0, 100.0));
    }
}
