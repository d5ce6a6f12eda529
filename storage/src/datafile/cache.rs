//! A bounded cache of the Parquet metadata of data files read before.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use parquet::arrow::arrow_reader::ArrowReaderMetadata;

/// Parquet metadata (footers, and page indexes once a filter needed them) of data files read before, so a
/// repeated query does not fetch and decode them again. A data file is never rewritten (its name is never
/// reused), so an entry cannot go stale; entries are keyed by path and size. At most `capacity_bytes` of
/// metadata are held; the oldest entries are dropped first.
pub struct MetadataCache {
    capacity_bytes: usize,
    inner: std::sync::Mutex<MetadataCacheInner>,
    hits: AtomicU64,
}

#[derive(Default)]
struct MetadataCacheInner {
    entries: HashMap<(String, u64), CachedMetadata>,
    order: VecDeque<(String, u64)>,
    bytes: usize,
}

struct CachedMetadata {
    metadata: ArrowReaderMetadata,
    /// Whether the page index was asked for when this was loaded.
    page_index: bool,
    bytes: usize,
}

impl std::fmt::Debug for MetadataCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataCache")
            .field("capacity_bytes", &self.capacity_bytes)
            .field("entries", &self.len())
            .field("hits", &self.hits())
            .finish()
    }
}

impl MetadataCache {
    /// The default bound: 64 MiB of metadata (a 100 MB data file's footer and page index take tens of KiB).
    pub const DEFAULT_CAPACITY_BYTES: usize = 64 << 20;

    pub fn new(capacity_bytes: usize) -> Self {
        MetadataCache { capacity_bytes, inner: Default::default(), hits: AtomicU64::new(0) }
    }

    /// Files whose metadata is held.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.entries.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens answered from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub(super) fn get(&self, path: &str, size: u64, page_index: bool) -> Option<ArrowReaderMetadata> {
        let inner = self.inner.lock().ok()?;
        let entry = inner.entries.get(&(path.to_string(), size)).filter(|e| e.page_index || !page_index)?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(entry.metadata.clone())
    }

    pub(super) fn insert(&self, path: &str, size: u64, metadata: ArrowReaderMetadata, page_index: bool) {
        let bytes = metadata.metadata().memory_size();
        if bytes > self.capacity_bytes {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else { return };
        let key = (path.to_string(), size);
        if let Some(old) = inner.entries.insert(key.clone(), CachedMetadata { metadata, page_index, bytes }) {
            inner.bytes -= old.bytes;
        } else {
            inner.order.push_back(key);
        }
        inner.bytes += bytes;
        while inner.bytes > self.capacity_bytes {
            let Some(oldest) = inner.order.pop_front() else { break };
            if let Some(e) = inner.entries.remove(&oldest) {
                inner.bytes -= e.bytes;
            }
        }
    }
}
