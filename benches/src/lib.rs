//! What dyntable's benchmark binaries (`src/bin/dyntable-bench*.rs`) and criterion benches (`benches/`) share:
//! the generated data sets ([`gen`]), plain-Parquet baselines ([`plain`]), table helpers ([`table`]), medians,
//! timers and memory figures ([`stats`]), and a working directory ([`WorkDir`]).
//!
//! `docs/benchmarks.md` says what each benchmark measures on each side of its ratios.

use std::path::PathBuf;

#[cfg(feature = "bench-sql")]
pub mod counting_store;
pub mod gen;
pub mod plain;
pub mod stats;
pub mod table;

/// The benchmarks' error: anything, with its message.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A benchmark's working directory: the one given, or a fresh `<temp>/<name>-<pid>` that is removed when this
/// is dropped (also after an error) unless `keep` is set.
#[derive(Debug)]
pub struct WorkDir {
    pub path: PathBuf,
    remove: bool,
}

impl WorkDir {
    /// Creates the directory; the error names it.
    pub fn new(dir: Option<PathBuf>, name: &str, keep: bool) -> Result<WorkDir, String> {
        let work = match dir {
            Some(path) => WorkDir { path, remove: false },
            None => {
                WorkDir { path: std::env::temp_dir().join(format!("{name}-{}", std::process::id())), remove: !keep }
            }
        };
        std::fs::create_dir_all(&work.path)
            .map_err(|e| format!("cannot create working directory `{}`: {e}", work.path.display()))?;
        Ok(work)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
