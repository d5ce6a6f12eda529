//! Helpers shared by the integration tests: building batches from JSON rows, reading a table's rows in
//! the oracles' canonical form, and an object store that injects faults.
#![allow(dead_code)]

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use dyntable::convert::{canonical_lines, json_to_batch};
use dyntable::{Catalog, Identifier, TableSpec};
use dyntable_storage::io::FileIO;
use dyntable_storage::{FileStoreTable, ScanFrom};
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult,
};
use serde_json::Value;

/// Changes as canonical JSON lines with their `rowkind`, in delivery order.
pub fn change_lines(batch: &RecordBatch, table: &FileStoreTable) -> Vec<String> {
    let values = batch.project(&(1..batch.num_columns()).collect::<Vec<_>>()).unwrap();
    let kinds = arrow::array::AsArray::as_string::<i32>(batch.column(0));
    dyntable::convert::batch_to_json_rows(&values, &table.schema().fields, dyntable::convert::JsonStyle::Plain)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(i, mut row)| {
            row.insert("rowkind".into(), Value::String(kinds.value(i).to_string()));
            dyntable::convert::canonical_json(&Value::Object(row))
        })
        .collect()
}

/// Reads every change deliverable now (stops when nothing arrives for 300 ms).
pub async fn drain(reader: &mut dyntable_storage::stream::ChangeReader, table: &FileStoreTable) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(next) = tokio::time::timeout(std::time::Duration::from_millis(300), reader.next()).await {
        out.extend(change_lines(&next.unwrap().batch, table));
    }
    out
}

/// The Paimon oracles' directory (`scripts/setup-oracles.sh`); a missing oracle fails the test, never skips it.
pub fn oracles_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("DYNTABLE_ORACLES").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::PathBuf::from(std::env::var("HOME").expect("HOME is set")).join(".cache/paimon-oracles")
    });
    for python in ["py/bin/python", "java/bin/python"] {
        assert!(
            dir.join(python).exists(),
            "Paimon oracles are missing: {} not found. Run scripts/setup-oracles.sh (the README's test command does).",
            dir.join(python).display()
        );
    }
    dir
}

/// The interop scripts (`tests/interop/`).
pub fn scripts() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// A batch of the table's columns (plus `_op` when rows carry it) from JSON objects.
pub fn batch(table: &FileStoreTable, rows: &[Value]) -> RecordBatch {
    let with_op = rows.iter().any(|r| r.get("_op").is_some());
    json_to_batch(rows, &table.schema().fields, with_op.then_some("_op")).expect("rows match the table")
}

/// The table's rows at `from`, as sorted canonical JSON lines.
pub async fn lines(table: &FileStoreTable, from: &ScanFrom) -> Vec<String> {
    let batches = table.scan_collect(from, None, None).await.expect("scan");
    canonical_lines(&batches, &table.schema().fields).expect("canonical")
}

pub fn canon(rows: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(dyntable::convert::canonical_json).collect();
    v.sort();
    v
}

pub async fn create(
    catalog: &Catalog,
    name: &str,
    schema: &str,
    pk: &[&str],
    partition: &[&str],
    options: &[(&str, &str)],
) -> dyntable_storage::Result<FileStoreTable> {
    let spec = TableSpec::new(schema, pk, partition, options);
    catalog.create_table(&Identifier::parse(name)?, &spec, false).await
}

pub fn memory_catalog() -> Catalog {
    Catalog::from_io(FileIO::new(Arc::new(object_store::memory::InMemory::new()), Path::from("wh")))
}

/// Wraps a store; the next `fail_after_put` puts whose path contains `pattern` apply and then report an
/// error (an ambiguous failure: the write happened, the reply was lost), and `fail_put` ones fail outright.
#[derive(Debug)]
pub struct FaultyStore {
    pub inner: Arc<dyn ObjectStore>,
    pub pattern: std::sync::Mutex<String>,
    pub fail_after_put: AtomicUsize,
    pub fail_put: AtomicUsize,
    pub puts: AtomicUsize,
    /// The next this many deletes whose path contains `pattern` fail (nothing is deleted).
    pub fail_delete: Arc<AtomicUsize>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        FaultyStore {
            inner,
            pattern: std::sync::Mutex::new(String::new()),
            fail_after_put: AtomicUsize::new(0),
            fail_put: AtomicUsize::new(0),
            puts: AtomicUsize::new(0),
            fail_delete: Arc::new(AtomicUsize::new(0)),
        }
    }
    /// Fails the next `deletes` deletes whose path contains `pattern`.
    pub fn arm_delete(&self, pattern: &str, deletes: usize) {
        *self.pattern.lock().unwrap() = pattern.to_string();
        self.fail_delete.store(deletes, Ordering::SeqCst);
    }
    pub fn arm(&self, pattern: &str, after_put: usize, before_put: usize) {
        *self.pattern.lock().unwrap() = pattern.to_string();
        self.fail_after_put.store(after_put, Ordering::SeqCst);
        self.fail_put.store(before_put, Ordering::SeqCst);
    }
    fn take(counter: &AtomicUsize) -> bool {
        counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

fn injected(path: &Path) -> object_store::Error {
    object_store::Error::Generic { store: "faulty", source: format!("injected failure at {path}").into() }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        let matches = location.as_ref().contains(self.pattern.lock().unwrap().as_str());
        if matches && Self::take(&self.fail_put) {
            return Err(injected(location));
        }
        let r = self.inner.put_opts(location, payload, opts).await?;
        if matches && Self::take(&self.fail_after_put) {
            return Err(injected(location));
        }
        Ok(r)
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        use futures::StreamExt;
        let (inner, pattern, failing) =
            (self.inner.clone(), self.pattern.lock().unwrap().clone(), self.fail_delete.clone());
        locations
            .then(move |path| {
                let (inner, pattern, failing) = (inner.clone(), pattern.clone(), failing.clone());
                async move {
                    let path = path?;
                    if path.as_ref().contains(pattern.as_str()) && Self::take(&failing) {
                        return Err(injected(&path));
                    }
                    let one = futures::stream::once(async move { Ok(path.clone()) }).boxed();
                    match inner.delete_stream(one).next().await {
                        Some(r) => r,
                        None => {
                            Err(object_store::Error::Generic { store: "faulty", source: "no delete result".into() })
                        }
                    }
                }
            })
            .boxed()
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
