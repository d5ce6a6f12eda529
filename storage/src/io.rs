//! File access on any `object_store`: the few operations the table format needs, with errors that name
//! the path and the action.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{Error, Result};
use crate::seams::Seams;

/// An object store plus the root path of a warehouse or table, and the clock and id source ([`Seams`]) of
/// everything that writes through it.
#[derive(Clone, Debug)]
pub struct FileIO {
    pub store: Arc<dyn ObjectStore>,
    pub root: Path,
    seams: Seams,
}

impl FileIO {
    /// A FileIO with the system clock and random ids.
    pub fn new(store: Arc<dyn ObjectStore>, root: Path) -> Self {
        FileIO { store, root, seams: Seams::system() }
    }

    /// The same FileIO reading time and ids from `seams` (and so does every child made from it).
    pub fn with_seams(mut self, seams: Seams) -> Self {
        self.seams = seams;
        self
    }

    pub fn seams(&self) -> &Seams {
        &self.seams
    }

    /// A FileIO rooted at `root/child`.
    pub fn child(&self, child: &str) -> FileIO {
        FileIO { store: self.store.clone(), root: self.path(child), seams: self.seams.clone() }
    }

    pub fn path(&self, relative: &str) -> Path {
        let mut p = self.root.clone();
        for part in relative.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    pub async fn read(&self, relative: &str) -> Result<Bytes> {
        let path = self.path(relative);
        let r = self.store.get(&path).await.map_err(|e| io_err("read", &path, e))?;
        r.bytes().await.map_err(|e| io_err("read", &path, e))
    }

    /// Reads a file that may be absent.
    pub async fn read_opt(&self, relative: &str) -> Result<Option<Bytes>> {
        match self.read(relative).await {
            Ok(b) => Ok(Some(b)),
            Err(Error::Io { source: object_store::Error::NotFound { .. }, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn size(&self, relative: &str) -> Result<u64> {
        let path = self.path(relative);
        Ok(self.store.head(&path).await.map_err(|e| io_err("stat", &path, e))?.size)
    }

    /// When the file was last written (milliseconds since the epoch, as the store reports it); `None` when
    /// it does not exist.
    pub async fn last_modified_millis(&self, relative: &str) -> Result<Option<i64>> {
        let path = self.path(relative);
        match self.store.head(&path).await {
            Ok(meta) => Ok(Some(meta.last_modified.timestamp_millis())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(io_err("stat", &path, e)),
        }
    }

    pub async fn exists(&self, relative: &str) -> Result<bool> {
        let path = self.path(relative);
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(io_err("stat", &path, e)),
        }
    }

    /// Writes (or overwrites) a file. Only used for files with unique names or for hints.
    pub async fn write(&self, relative: &str, data: Bytes) -> Result<()> {
        let path = self.path(relative);
        self.store.put(&path, PutPayload::from_bytes(data)).await.map_err(|e| io_err("write", &path, e))?;
        Ok(())
    }

    /// Creates a file only if it does not exist (`PutMode::Create`). Returns false when it already existed.
    pub async fn create(&self, relative: &str, data: Bytes) -> Result<bool> {
        let path = self.path(relative);
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&path, PutPayload::from_bytes(data), opts).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(io_err("create", &path, e)),
        }
    }

    /// Names (relative to `dir`) of the files directly under `dir`.
    pub async fn list_names(&self, dir: &str) -> Result<Vec<String>> {
        let path = self.path(dir);
        let listing = self.store.list_with_delimiter(Some(&path)).await;
        match listing {
            Ok(l) => Ok(l.objects.into_iter().filter_map(|o| o.location.filename().map(str::to_string)).collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(io_err("list", &path, e)),
        }
    }

    /// Names of the sub-directories directly under `dir`.
    pub async fn list_dirs(&self, dir: &str) -> Result<Vec<String>> {
        let path = self.path(dir);
        match self.store.list_with_delimiter(Some(&path)).await {
            Ok(l) => Ok(l.common_prefixes.into_iter().filter_map(|p| p.filename().map(str::to_string)).collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(io_err("list", &path, e)),
        }
    }

    /// Every file under `dir` (all depths, `""` for the whole root): its path relative to this FileIO's root, size
    /// and last-modified time (milliseconds since the epoch, as the store reports it).
    pub async fn list_recursive(&self, dir: &str) -> Result<Vec<ListedFile>> {
        let path = self.path(dir);
        let prefix = format!("{}/", self.root);
        let listed: Vec<object_store::ObjectMeta> = match self.store.list(Some(&path)).try_collect().await {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(io_err("list", &path, e)),
        };
        Ok(listed
            .into_iter()
            .map(|m| {
                let full = m.location.as_ref();
                let relative =
                    if self.root.as_ref().is_empty() { full } else { full.strip_prefix(&prefix).unwrap_or(full) };
                ListedFile {
                    path: relative.to_string(),
                    size: m.size,
                    last_modified_millis: m.last_modified.timestamp_millis(),
                }
            })
            .collect())
    }

    /// Deletes a file; a file already gone is not an error (a crashed earlier run may have deleted it).
    pub async fn delete(&self, relative: &str) -> Result<()> {
        let path = self.path(relative);
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_err("delete", &path, e)),
        }
    }

    /// Deletes everything under `dir`.
    pub async fn delete_dir(&self, dir: &str) -> Result<()> {
        let path = self.path(dir);
        let files: Vec<_> = self
            .store
            .list(Some(&path))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|e| io_err("list", &path, e))?;
        for f in files {
            match self.store.delete(&f).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(io_err("delete", &f, e)),
            }
        }
        Ok(())
    }
}

/// A file found by [`FileIO::list_recursive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    /// Relative to the listing FileIO's root.
    pub path: String,
    pub size: u64,
    pub last_modified_millis: i64,
}

pub fn io_err(action: &'static str, path: &Path, source: object_store::Error) -> Error {
    Error::Io { action, path: path.to_string(), source }
}
