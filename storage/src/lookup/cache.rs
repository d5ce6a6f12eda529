//! The lookup cache: decoded pages of data files and key bloom filters, least recently used first out; pages
//! pushed out of memory go to a bounded local-disk tier (Arrow IPC files in a private directory, removed with
//! the cache) when one is configured, and come back from it without reading or decoding the data file.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, BinaryArray, RecordBatch};
use arrow::datatypes::{DataType as ArrowType, Field, Schema};
use parquet::bloom_filter::Sbbf;

use crate::error::{Error, Result};

/// A bounded cache of what lookups decode: pages of data files (the rows of one page of the first key
/// column, all columns, with their keys in sortable form) and row groups' key bloom filters. Least recently
/// used entries go first once more than `capacity_bytes` are held.
pub struct LookupCache {
    capacity_bytes: usize,
    inner: Mutex<CacheInner>,
    disk: Option<Mutex<DiskTier>>,
    hits: AtomicU64,
    misses: AtomicU64,
    disk_hits: AtomicU64,
    pub(super) decoded_rows: AtomicU64,
}

#[derive(Default)]
struct CacheInner {
    entries: HashMap<CacheKey, (CacheValue, u64)>,
    /// Last use tick -> key, oldest first.
    order: BTreeMap<u64, CacheKey>,
    tick: u64,
    bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum CacheKey {
    /// Rows of the page starting at `first_row` of `row_group` of a data file.
    Page { file: String, row_group: usize, first_row: usize },
    /// The key columns' bloom filters of a row group.
    Bloom { file: String, row_group: usize },
}

#[derive(Clone)]
pub(super) enum CacheValue {
    Page(Arc<DecodedPage>),
    Bloom(Arc<Vec<Option<Sbbf>>>),
}

impl CacheValue {
    fn bytes(&self) -> usize {
        match self {
            CacheValue::Page(p) => p.bytes,
            // A split block bloom filter is blocks of 32 bytes.
            CacheValue::Bloom(b) => 64 + b.iter().flatten().map(|f| f.num_blocks() * 32 + 24).sum::<usize>(),
        }
    }
}

/// The rows of one page: key-value layout (`_KEY_*`, `_SEQUENCE_NUMBER`, `_VALUE_KIND`, all table columns)
/// and their keys as comparable bytes, in file order (which is key order).
pub(super) struct DecodedPage {
    pub(super) batch: RecordBatch,
    /// Row-format bytes of each row's key (`arrow::row`), comparable as bytes.
    pub(super) keys: BinaryArray,
    pub(super) bytes: usize,
}

impl DecodedPage {
    /// The row holding `key` (row-format bytes), if any.
    pub(super) fn find(&self, key: &[u8]) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.keys.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.keys.value(mid).cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

impl std::fmt::Debug for LookupCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupCache")
            .field("capacity_bytes", &self.capacity_bytes)
            .field("bytes", &self.bytes())
            .field("entries", &self.len())
            .finish()
    }
}

impl LookupCache {
    /// A cache of at most `capacity_bytes` in memory, without a disk tier.
    pub fn new(capacity_bytes: usize) -> Self {
        LookupCache {
            capacity_bytes,
            inner: Default::default(),
            disk: None,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            disk_hits: AtomicU64::new(0),
            decoded_rows: AtomicU64::new(0),
        }
    }

    /// Adds a disk tier of at most `capacity_bytes` in a new private directory under `parent` (removed when the
    /// cache is dropped): pages pushed out of memory are written there and read back on a miss.
    pub fn with_disk(mut self, parent: &std::path::Path, capacity_bytes: u64) -> Result<Self> {
        let dir = tempdir_under(parent)?;
        self.disk = Some(Mutex::new(DiskTier {
            dir,
            capacity_bytes,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            bytes: 0,
            next_file: 0,
        }));
        Ok(self)
    }

    /// The cache a table's options ask for: `lookup.cache-max-memory-size` in memory and, unless
    /// `lookup.cache-max-disk-size` is 0, a disk tier of that size (unlimited by default, as Paimon) under
    /// `dyntable.lookup.cache-dir` (default: the system's temporary directory).
    pub fn for_options(options: &crate::options::CoreOptions) -> Result<Self> {
        let cache = LookupCache::new(usize::try_from(options.lookup_cache_max_memory_size).unwrap_or(usize::MAX));
        match options.lookup_cache_max_disk_size {
            Some(0) => Ok(cache),
            bound => {
                let parent = options.lookup_cache_dir.as_ref().map_or_else(std::env::temp_dir, PathBuf::from);
                cache.with_disk(&parent, bound.unwrap_or(u64::MAX))
            }
        }
    }

    /// The disk tier's bound (`None` without one).
    pub fn disk_capacity_bytes(&self) -> Option<u64> {
        self.disk.as_ref().and_then(|d| d.lock().ok().map(|d| d.capacity_bytes))
    }

    /// Bytes held in the disk tier (0 without one).
    pub fn disk_bytes(&self) -> u64 {
        self.disk.as_ref().and_then(|d| d.lock().ok().map(|d| d.bytes)).unwrap_or(0)
    }

    /// Pages answered from the disk tier so far.
    pub fn disk_hits(&self) -> u64 {
        self.disk_hits.load(Ordering::Relaxed)
    }

    pub fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    /// Bytes held now (never more than the capacity).
    pub fn bytes(&self) -> usize {
        self.inner.lock().map(|i| i.bytes).unwrap_or(0)
    }

    /// Entries held (pages and bloom filters).
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.entries.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pages and bloom filters answered from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Pages and bloom filters read from files so far.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Rows decoded from data files by the lookups using this cache (each page read adds its rows).
    pub fn decoded_rows(&self) -> u64 {
        self.decoded_rows.load(Ordering::Relaxed)
    }

    pub(super) fn get(&self, key: &CacheKey) -> Option<CacheValue> {
        {
            let mut guard = self.inner.lock().ok()?;
            let inner = &mut *guard;
            inner.tick += 1;
            let tick = inner.tick;
            if let Some((value, last)) = inner.entries.get_mut(key) {
                inner.order.remove(last);
                *last = tick;
                inner.order.insert(tick, key.clone());
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Some(value.clone());
            }
        }
        // A page the disk tier holds comes back into memory (a damaged or missing file is a miss).
        let page = self.disk.as_ref().and_then(|d| d.lock().ok()?.read(key))?;
        self.disk_hits.fetch_add(1, Ordering::Relaxed);
        let value = CacheValue::Page(Arc::new(page));
        self.put(key.clone(), value.clone());
        Some(value)
    }

    pub(super) fn put(&self, key: CacheKey, value: CacheValue) {
        let bytes = value.bytes();
        let mut evicted = Vec::new();
        if bytes > self.capacity_bytes {
            evicted.push((key, value));
        } else {
            let Ok(mut guard) = self.inner.lock() else { return };
            let inner = &mut *guard;
            inner.tick += 1;
            let tick = inner.tick;
            if let Some((old, last)) = inner.entries.insert(key.clone(), (value, tick)) {
                inner.order.remove(&last);
                inner.bytes -= old.bytes();
            }
            inner.order.insert(tick, key);
            inner.bytes += bytes;
            while inner.bytes > self.capacity_bytes {
                let Some((_, oldest)) = inner.order.pop_first() else { break };
                if let Some((v, _)) = inner.entries.remove(&oldest) {
                    inner.bytes -= v.bytes();
                    evicted.push((oldest, v));
                }
            }
        }
        // Pages leaving memory go to the disk tier (bloom filters are small and cheap to read again).
        let Some(disk) = &self.disk else { return };
        for (k, v) in evicted {
            if let CacheValue::Page(page) = v {
                if let Ok(mut d) = disk.lock() {
                    d.write(k, &page);
                }
            }
        }
    }
}

/// The disk tier: one Arrow IPC file per page (its columns and its keys' bytes), least recently used out.
struct DiskTier {
    dir: PathBuf,
    capacity_bytes: u64,
    /// Key -> (file number, bytes, last use tick).
    entries: HashMap<CacheKey, (u64, u64, u64)>,
    order: BTreeMap<u64, CacheKey>,
    tick: u64,
    bytes: u64,
    next_file: u64,
}

impl DiskTier {
    fn path(&self, n: u64) -> PathBuf {
        self.dir.join(format!("page-{n}.arrow"))
    }

    /// Writes `page` (a failed write leaves the page out: the tier is a cache).
    fn write(&mut self, key: CacheKey, page: &DecodedPage) {
        if self.entries.contains_key(&key) {
            return;
        }
        let n = self.next_file;
        self.next_file += 1;
        let path = self.path(n);
        let Ok(bytes) = write_page(&path, page) else {
            let _ = std::fs::remove_file(&path);
            return;
        };
        if bytes > self.capacity_bytes {
            let _ = std::fs::remove_file(&path);
            return;
        }
        self.tick += 1;
        self.entries.insert(key.clone(), (n, bytes, self.tick));
        self.order.insert(self.tick, key);
        self.bytes += bytes;
        while self.bytes > self.capacity_bytes {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            if let Some((n, b, _)) = self.entries.remove(&oldest) {
                let _ = std::fs::remove_file(self.path(n));
                self.bytes -= b;
            }
        }
    }

    /// The page of `key`, if held and readable (an unreadable file is dropped from the tier).
    fn read(&mut self, key: &CacheKey) -> Option<DecodedPage> {
        let (n, bytes, last) = *self.entries.get(key)?;
        match read_page(&self.path(n)) {
            Ok(page) => {
                self.tick += 1;
                self.order.remove(&last);
                self.order.insert(self.tick, key.clone());
                if let Some(e) = self.entries.get_mut(key) {
                    e.2 = self.tick;
                }
                Some(page)
            }
            Err(_) => {
                self.entries.remove(key);
                self.order.remove(&last);
                self.bytes -= bytes;
                let _ = std::fs::remove_file(self.path(n));
                None
            }
        }
    }
}

impl Drop for DiskTier {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The column holding a page's key bytes in its disk file.
const KEYS_COLUMN: &str = "__dyntable_lookup_keys";

fn write_page(path: &std::path::Path, page: &DecodedPage) -> Result<u64> {
    let mut fields: Vec<Field> = page.batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(KEYS_COLUMN, ArrowType::Binary, false));
    let mut columns: Vec<ArrayRef> = page.batch.columns().to_vec();
    columns.push(Arc::new(page.keys.clone()));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    let file = std::fs::File::create(path)
        .map_err(|e| Error::Internal(format!("lookup disk cache: cannot create {}: {e}", path.display())))?;
    let mut writer = arrow::ipc::writer::FileWriter::try_new(std::io::BufWriter::new(file), &batch.schema())?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
}

fn read_page(path: &std::path::Path) -> Result<DecodedPage> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::Internal(format!("lookup disk cache: cannot open {}: {e}", path.display())))?;
    let mut reader = arrow::ipc::reader::FileReader::try_new(std::io::BufReader::new(file), None)?;
    let batch = reader
        .next()
        .ok_or_else(|| Error::Internal(format!("lookup disk cache: {} holds no page", path.display())))??;
    let n = batch.num_columns();
    let keys = batch
        .column(n - 1)
        .as_any()
        .downcast_ref::<BinaryArray>()
        .ok_or_else(|| Error::Internal(format!("lookup disk cache: {} has no key column", path.display())))?
        .clone();
    let batch = batch.project(&(0..n - 1).collect::<Vec<_>>())?;
    let bytes = batch.get_array_memory_size() + keys.get_array_memory_size();
    Ok(DecodedPage { batch, keys, bytes })
}

/// A new directory under `parent` for one cache's disk tier.
fn tempdir_under(parent: &std::path::Path) -> Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::invalid(format!("lookup disk cache directory {}: {e}", parent.display())))?;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("dyntable-lookup-cache-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::invalid(format!("lookup disk cache directory {}: {e}", dir.display())));
            }
        }
    }
}
