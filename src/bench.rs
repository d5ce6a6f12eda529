//! Helpers shared by the benchmark binaries (`src/bin/dyntable-bench*.rs`).

use std::path::PathBuf;

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
