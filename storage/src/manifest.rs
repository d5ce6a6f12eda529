//! Manifest files and manifest lists: Avro (zstd) files listing data files added and deleted per commit.
//!
//! The writer emits the full field set of docs/paimon-format.md sections 4 and 5 (fields 0..20), so that
//! pypaimon 2.1 (which reads without a reader schema) and Java 0.9 (which skips unknown fields) both read
//! them. The reader looks fields up by name and accepts files that stop at field 15 (Java 0.9's).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use apache_avro::types::Value;
use apache_avro::{Codec, Reader, Schema, Writer};
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::io::FileIO;

/// Statistics of a set of columns: BinaryRow-serialized min and max rows and per-column null counts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SimpleStats {
    pub min_values: Vec<u8>,
    pub max_values: Vec<u8>,
    pub null_counts: Option<Vec<Option<i64>>>,
}

impl SimpleStats {
    /// Stats of zero columns (an empty row for min and max).
    pub fn empty() -> Self {
        let empty = crate::binary_row::serialize_row(&[], &[]).expect("empty row encodes");
        SimpleStats { min_values: empty.clone(), max_values: empty, null_counts: Some(Vec::new()) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Add,
    Delete,
}

/// The metadata of one data file, as a manifest entry's `_FILE` record holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFileMeta {
    pub file_name: String,
    pub file_size: i64,
    pub row_count: i64,
    pub min_key: Vec<u8>,
    pub max_key: Vec<u8>,
    pub key_stats: SimpleStats,
    pub value_stats: SimpleStats,
    pub min_sequence_number: i64,
    pub max_sequence_number: i64,
    pub schema_id: i64,
    pub level: i32,
    pub extra_files: Vec<String>,
    pub creation_time_millis: Option<i64>,
    pub delete_row_count: Option<i64>,
    pub embedded_index: Option<Vec<u8>>,
    /// 0 = APPEND, 1 = COMPACT.
    pub file_source: Option<i32>,
    /// `None` = stats for all columns; `Some([])` = no value stats.
    pub value_stats_cols: Option<Vec<String>>,
    pub external_path: Option<String>,
    pub first_row_id: Option<i64>,
    pub write_cols: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    pub kind: FileKind,
    pub partition: Vec<u8>,
    pub bucket: i32,
    pub total_buckets: i32,
    pub file: DataFileMeta,
}

/// What identifies a data file across ADD and DELETE entries.
pub type FileIdentifier = (Vec<u8>, i32, i32, String);

impl ManifestEntry {
    pub fn identifier(&self) -> FileIdentifier {
        (self.partition.clone(), self.bucket, self.file.level, self.file.file_name.clone())
    }
}

/// One manifest file as a manifest list records it.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestFileMeta {
    pub file_name: String,
    pub file_size: i64,
    pub num_added_files: i64,
    pub num_deleted_files: i64,
    pub partition_stats: SimpleStats,
    pub schema_id: i64,
    pub min_bucket: Option<i32>,
    pub max_bucket: Option<i32>,
    pub min_level: Option<i32>,
    pub max_level: Option<i32>,
}

fn stats_schema(name: &str) -> String {
    format!(
        r#"{{"type":"record","name":"{name}","fields":[
            {{"name":"_MIN_VALUES","type":"bytes"}},
            {{"name":"_MAX_VALUES","type":"bytes"}},
            {{"name":"_NULL_COUNTS","type":["null",{{"type":"array","items":["null","long"]}}],"default":null}}]}}"#
    )
}

fn entry_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        let text = format!(
            r#"{{"type":"record","name":"record","namespace":"org.apache.paimon.avro.generated","fields":[
            {{"name":"_VERSION","type":"int"}},
            {{"name":"_KIND","type":"int"}},
            {{"name":"_PARTITION","type":"bytes"}},
            {{"name":"_BUCKET","type":"int"}},
            {{"name":"_TOTAL_BUCKETS","type":"int"}},
            {{"name":"_FILE","type":{{"type":"record","name":"record__FILE","fields":[
                {{"name":"_FILE_NAME","type":"string"}},
                {{"name":"_FILE_SIZE","type":"long"}},
                {{"name":"_ROW_COUNT","type":"long"}},
                {{"name":"_MIN_KEY","type":"bytes"}},
                {{"name":"_MAX_KEY","type":"bytes"}},
                {{"name":"_KEY_STATS","type":{}}},
                {{"name":"_VALUE_STATS","type":{}}},
                {{"name":"_MIN_SEQUENCE_NUMBER","type":"long"}},
                {{"name":"_MAX_SEQUENCE_NUMBER","type":"long"}},
                {{"name":"_SCHEMA_ID","type":"long"}},
                {{"name":"_LEVEL","type":"int"}},
                {{"name":"_EXTRA_FILES","type":{{"type":"array","items":"string"}}}},
                {{"name":"_CREATION_TIME","type":["null",{{"type":"long","logicalType":"timestamp-millis"}}],"default":null}},
                {{"name":"_DELETE_ROW_COUNT","type":["null","long"],"default":null}},
                {{"name":"_EMBEDDED_FILE_INDEX","type":["null","bytes"],"default":null}},
                {{"name":"_FILE_SOURCE","type":["null","int"],"default":null}},
                {{"name":"_VALUE_STATS_COLS","type":["null",{{"type":"array","items":"string"}}],"default":null}},
                {{"name":"_EXTERNAL_PATH","type":["null","string"],"default":null}},
                {{"name":"_FIRST_ROW_ID","type":["null","long"],"default":null}},
                {{"name":"_WRITE_COLS","type":["null",{{"type":"array","items":"string"}}],"default":null}},
                {{"name":"_WRITE_COLS_SEQUENCES","type":["null",{{"type":"array","items":"long"}}],"default":null}}
            ]}}}}]}}"#,
            stats_schema("record__FILE__KEY_STATS"),
            stats_schema("record__FILE__VALUE_STATS")
        );
        Schema::parse_str(&text).expect("manifest entry schema is valid avro")
    })
}

fn list_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        let text = format!(
            r#"{{"type":"record","name":"record","namespace":"org.apache.paimon.avro.generated","fields":[
            {{"name":"_VERSION","type":"int"}},
            {{"name":"_FILE_NAME","type":"string"}},
            {{"name":"_FILE_SIZE","type":"long"}},
            {{"name":"_NUM_ADDED_FILES","type":"long"}},
            {{"name":"_NUM_DELETED_FILES","type":"long"}},
            {{"name":"_PARTITION_STATS","type":{}}},
            {{"name":"_SCHEMA_ID","type":"long"}},
            {{"name":"_MIN_BUCKET","type":["null","int"],"default":null}},
            {{"name":"_MAX_BUCKET","type":["null","int"],"default":null}},
            {{"name":"_MIN_LEVEL","type":["null","int"],"default":null}},
            {{"name":"_MAX_LEVEL","type":["null","int"],"default":null}},
            {{"name":"_MIN_ROW_ID","type":["null","long"],"default":null}},
            {{"name":"_MAX_ROW_ID","type":["null","long"],"default":null}}]}}"#,
            stats_schema("record__PARTITION_STATS")
        );
        Schema::parse_str(&text).expect("manifest list schema is valid avro")
    })
}

// --- encoding ---

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
    match v {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(x) => Value::Union(1, Box::new(f(x))),
    }
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.clone())).collect())
}

fn stats_value(s: &SimpleStats) -> Value {
    Value::Record(vec![
        ("_MIN_VALUES".into(), Value::Bytes(s.min_values.clone())),
        ("_MAX_VALUES".into(), Value::Bytes(s.max_values.clone())),
        (
            "_NULL_COUNTS".into(),
            opt(s.null_counts.as_ref(), |c| Value::Array(c.iter().map(|n| opt(*n, Value::Long)).collect())),
        ),
    ])
}

fn entry_value(e: &ManifestEntry) -> Value {
    let f = &e.file;
    let file = Value::Record(vec![
        ("_FILE_NAME".into(), Value::String(f.file_name.clone())),
        ("_FILE_SIZE".into(), Value::Long(f.file_size)),
        ("_ROW_COUNT".into(), Value::Long(f.row_count)),
        ("_MIN_KEY".into(), Value::Bytes(f.min_key.clone())),
        ("_MAX_KEY".into(), Value::Bytes(f.max_key.clone())),
        ("_KEY_STATS".into(), stats_value(&f.key_stats)),
        ("_VALUE_STATS".into(), stats_value(&f.value_stats)),
        ("_MIN_SEQUENCE_NUMBER".into(), Value::Long(f.min_sequence_number)),
        ("_MAX_SEQUENCE_NUMBER".into(), Value::Long(f.max_sequence_number)),
        ("_SCHEMA_ID".into(), Value::Long(f.schema_id)),
        ("_LEVEL".into(), Value::Int(f.level)),
        ("_EXTRA_FILES".into(), strings(&f.extra_files)),
        ("_CREATION_TIME".into(), opt(f.creation_time_millis, Value::TimestampMillis)),
        ("_DELETE_ROW_COUNT".into(), opt(f.delete_row_count, Value::Long)),
        ("_EMBEDDED_FILE_INDEX".into(), opt(f.embedded_index.clone(), Value::Bytes)),
        ("_FILE_SOURCE".into(), opt(f.file_source, Value::Int)),
        ("_VALUE_STATS_COLS".into(), opt(f.value_stats_cols.as_deref(), strings)),
        ("_EXTERNAL_PATH".into(), opt(f.external_path.clone(), Value::String)),
        ("_FIRST_ROW_ID".into(), opt(f.first_row_id, Value::Long)),
        ("_WRITE_COLS".into(), opt(f.write_cols.as_deref(), strings)),
        ("_WRITE_COLS_SEQUENCES".into(), opt(None::<i64>, Value::Long)),
    ]);
    Value::Record(vec![
        ("_VERSION".into(), Value::Int(2)),
        ("_KIND".into(), Value::Int(if e.kind == FileKind::Add { 0 } else { 1 })),
        ("_PARTITION".into(), Value::Bytes(e.partition.clone())),
        ("_BUCKET".into(), Value::Int(e.bucket)),
        ("_TOTAL_BUCKETS".into(), Value::Int(e.total_buckets)),
        ("_FILE".into(), file),
    ])
}

fn list_value(m: &ManifestFileMeta) -> Value {
    Value::Record(vec![
        ("_VERSION".into(), Value::Int(2)),
        ("_FILE_NAME".into(), Value::String(m.file_name.clone())),
        ("_FILE_SIZE".into(), Value::Long(m.file_size)),
        ("_NUM_ADDED_FILES".into(), Value::Long(m.num_added_files)),
        ("_NUM_DELETED_FILES".into(), Value::Long(m.num_deleted_files)),
        ("_PARTITION_STATS".into(), stats_value(&m.partition_stats)),
        ("_SCHEMA_ID".into(), Value::Long(m.schema_id)),
        ("_MIN_BUCKET".into(), opt(m.min_bucket, Value::Int)),
        ("_MAX_BUCKET".into(), opt(m.max_bucket, Value::Int)),
        ("_MIN_LEVEL".into(), opt(m.min_level, Value::Int)),
        ("_MAX_LEVEL".into(), opt(m.max_level, Value::Int)),
        ("_MIN_ROW_ID".into(), opt(None::<i64>, Value::Long)),
        ("_MAX_ROW_ID".into(), opt(None::<i64>, Value::Long)),
    ])
}

fn write_avro(schema: &Schema, values: impl Iterator<Item = Value>) -> Result<Vec<u8>> {
    let codec = Codec::Zstandard(apache_avro::ZstandardSettings::new(1));
    let mut w = Writer::with_codec(schema, Vec::new(), codec);
    for v in values {
        w.append(v).map_err(|e| Error::Internal(format!("avro encode: {e}")))?;
    }
    w.into_inner().map_err(|e| Error::Internal(format!("avro encode: {e}")))
}

/// Encodes manifest entries as an Avro manifest file.
pub fn encode_manifest(entries: &[ManifestEntry]) -> Result<Vec<u8>> {
    write_avro(entry_schema(), entries.iter().map(entry_value))
}

/// Encodes a manifest list.
pub fn encode_manifest_list(metas: &[ManifestFileMeta]) -> Result<Vec<u8>> {
    write_avro(list_schema(), metas.iter().map(list_value))
}

// --- decoding ---

struct Rec<'a> {
    fields: HashMap<&'a str, &'a Value>,
    path: &'a str,
    what: &'static str,
}

fn unwrap_union(v: &Value) -> &Value {
    match v {
        Value::Union(_, inner) => inner,
        other => other,
    }
}

impl<'a> Rec<'a> {
    fn new(v: &'a Value, path: &'a str, what: &'static str) -> Result<Self> {
        match unwrap_union(v) {
            Value::Record(fields) => {
                Ok(Rec { fields: fields.iter().map(|(k, v)| (k.as_str(), unwrap_union(v))).collect(), path, what })
            }
            other => Err(Error::corrupt(path, format!("{what} is not an avro record: {other:?}"))),
        }
    }
    fn err(&self, name: &str) -> Error {
        Error::corrupt(self.path, format!("{} field `{name}` is missing or has the wrong type", self.what))
    }
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.fields.get(name).copied().filter(|v| !matches!(v, Value::Null))
    }
    fn long(&self, name: &str) -> Result<i64> {
        self.opt_long(name)?.ok_or_else(|| self.err(name))
    }
    fn opt_long(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Long(v)) | Some(Value::TimestampMillis(v)) | Some(Value::LocalTimestampMillis(v)) => {
                Ok(Some(*v))
            }
            Some(Value::TimestampMicros(v)) | Some(Value::LocalTimestampMicros(v)) => Ok(Some(*v / 1000)),
            Some(Value::Int(v)) => Ok(Some(*v as i64)),
            Some(_) => Err(self.err(name)),
        }
    }
    fn int(&self, name: &str) -> Result<i32> {
        self.opt_int(name)?.ok_or_else(|| self.err(name))
    }
    fn opt_int(&self, name: &str) -> Result<Option<i32>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Int(v)) => Ok(Some(*v)),
            Some(Value::Long(v)) => Ok(Some(*v as i32)),
            Some(_) => Err(self.err(name)),
        }
    }
    fn string(&self, name: &str) -> Result<String> {
        self.opt_string(name)?.ok_or_else(|| self.err(name))
    }
    fn opt_string(&self, name: &str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(name)),
        }
    }
    fn bytes(&self, name: &str) -> Result<Vec<u8>> {
        self.opt_bytes(name)?.ok_or_else(|| self.err(name))
    }
    fn opt_bytes(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bytes(b)) | Some(Value::Fixed(_, b)) => Ok(Some(b.clone())),
            Some(_) => Err(self.err(name)),
        }
    }
    fn opt_strings(&self, name: &str) -> Result<Option<Vec<String>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match unwrap_union(v) {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(self.err(name)),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(self.err(name)),
        }
    }
    fn stats(&self, name: &str) -> Result<SimpleStats> {
        let v = self.get(name).ok_or_else(|| self.err(name))?;
        let r = Rec::new(v, self.path, "stats")?;
        let null_counts = match r.get("_NULL_COUNTS") {
            None => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| match unwrap_union(v) {
                        Value::Null => Ok(None),
                        Value::Long(n) => Ok(Some(*n)),
                        Value::Int(n) => Ok(Some(*n as i64)),
                        _ => Err(r.err("_NULL_COUNTS")),
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => return Err(r.err("_NULL_COUNTS")),
        };
        Ok(SimpleStats { min_values: r.bytes("_MIN_VALUES")?, max_values: r.bytes("_MAX_VALUES")?, null_counts })
    }
}

fn read_avro(bytes: &[u8], path: &str) -> Result<Vec<Value>> {
    let reader = Reader::new(bytes).map_err(|e| Error::corrupt(path, format!("not a readable avro file: {e}")))?;
    reader.map(|r| r.map_err(|e| Error::corrupt(path, format!("avro record cannot be decoded: {e}")))).collect()
}

pub fn decode_manifest(bytes: &[u8], path: &str) -> Result<Vec<ManifestEntry>> {
    read_avro(bytes, path)?
        .iter()
        .map(|v| {
            let r = Rec::new(v, path, "manifest entry")?;
            let kind = match r.int("_KIND")? {
                0 => FileKind::Add,
                1 => FileKind::Delete,
                k => return Err(Error::corrupt(path, format!("manifest entry has unknown kind {k}"))),
            };
            let f = Rec::new(r.get("_FILE").ok_or_else(|| r.err("_FILE"))?, path, "data file meta")?;
            let file = DataFileMeta {
                file_name: f.string("_FILE_NAME")?,
                file_size: f.long("_FILE_SIZE")?,
                row_count: f.long("_ROW_COUNT")?,
                min_key: f.bytes("_MIN_KEY")?,
                max_key: f.bytes("_MAX_KEY")?,
                key_stats: f.stats("_KEY_STATS")?,
                value_stats: f.stats("_VALUE_STATS")?,
                min_sequence_number: f.long("_MIN_SEQUENCE_NUMBER")?,
                max_sequence_number: f.long("_MAX_SEQUENCE_NUMBER")?,
                schema_id: f.long("_SCHEMA_ID")?,
                level: f.int("_LEVEL")?,
                extra_files: f.opt_strings("_EXTRA_FILES")?.unwrap_or_default(),
                creation_time_millis: f.opt_long("_CREATION_TIME")?,
                delete_row_count: f.opt_long("_DELETE_ROW_COUNT")?,
                embedded_index: f.opt_bytes("_EMBEDDED_FILE_INDEX")?,
                file_source: f.opt_int("_FILE_SOURCE")?,
                value_stats_cols: f.opt_strings("_VALUE_STATS_COLS")?,
                external_path: f.opt_string("_EXTERNAL_PATH")?,
                first_row_id: f.opt_long("_FIRST_ROW_ID")?,
                write_cols: f.opt_strings("_WRITE_COLS")?,
            };
            if file.file_name.contains('/') || file.file_name.is_empty() {
                return Err(Error::corrupt(path, format!("manifest entry has invalid file name `{}`", file.file_name)));
            }
            Ok(ManifestEntry {
                kind,
                partition: r.bytes("_PARTITION")?,
                bucket: r.int("_BUCKET")?,
                total_buckets: r.opt_int("_TOTAL_BUCKETS")?.unwrap_or(-1),
                file,
            })
        })
        .collect()
}

pub fn decode_manifest_list(bytes: &[u8], path: &str) -> Result<Vec<ManifestFileMeta>> {
    read_avro(bytes, path)?
        .iter()
        .map(|v| {
            let r = Rec::new(v, path, "manifest list entry")?;
            Ok(ManifestFileMeta {
                file_name: r.string("_FILE_NAME")?,
                file_size: r.long("_FILE_SIZE")?,
                num_added_files: r.long("_NUM_ADDED_FILES")?,
                num_deleted_files: r.long("_NUM_DELETED_FILES")?,
                partition_stats: r.stats("_PARTITION_STATS")?,
                schema_id: r.long("_SCHEMA_ID")?,
                min_bucket: r.opt_int("_MIN_BUCKET")?,
                max_bucket: r.opt_int("_MAX_BUCKET")?,
                min_level: r.opt_int("_MIN_LEVEL")?,
                max_level: r.opt_int("_MAX_LEVEL")?,
            })
        })
        .collect()
}

/// Decoded manifests and manifest lists, so that planning a scan (every SQL query plans one) does not read and
/// decode the same files again: a manifest file is written once under a unique name and never rewritten, so a
/// cached file never goes stale. Opt-in (the SQL session and provider use one); bounded by the number of records
/// held, the oldest files dropped first.
pub struct ManifestCache {
    inner: Mutex<CacheInner>,
    capacity_records: usize,
}

impl std::fmt::Debug for ManifestCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifestCache").field("capacity_records", &self.capacity_records).finish()
    }
}

struct CacheInner {
    files: HashMap<String, Cached>,
    order: VecDeque<String>,
    records: usize,
}

enum Cached {
    Manifest(Arc<Vec<ManifestEntry>>),
    List(Arc<Vec<ManifestFileMeta>>),
}

impl Cached {
    fn records(&self) -> usize {
        match self {
            Cached::Manifest(m) => m.len().max(1),
            Cached::List(l) => l.len().max(1),
        }
    }
}

impl ManifestCache {
    /// About 100 MB of decoded records at most.
    pub const DEFAULT_CAPACITY_RECORDS: usize = 250_000;

    pub fn new(capacity_records: usize) -> ManifestCache {
        ManifestCache {
            inner: Mutex::new(CacheInner { files: HashMap::new(), order: VecDeque::new(), records: 0 }),
            capacity_records,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn manifest(&self, key: &str) -> Option<Arc<Vec<ManifestEntry>>> {
        match self.lock().files.get(key) {
            Some(Cached::Manifest(m)) => Some(m.clone()),
            _ => None,
        }
    }

    fn list(&self, key: &str) -> Option<Arc<Vec<ManifestFileMeta>>> {
        match self.lock().files.get(key) {
            Some(Cached::List(l)) => Some(l.clone()),
            _ => None,
        }
    }

    /// Files currently held.
    pub fn len(&self) -> usize {
        self.lock().files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, key: String, value: Cached) {
        let records = value.records();
        if records > self.capacity_records {
            return;
        }
        let mut this = self.lock();
        while this.records + records > self.capacity_records {
            let Some(oldest) = this.order.pop_front() else { break };
            if let Some(old) = this.files.remove(&oldest) {
                this.records -= old.records();
            }
        }
        if let Some(old) = this.files.insert(key.clone(), value) {
            this.records -= old.records();
        } else {
            this.order.push_back(key);
        }
        this.records += records;
    }
}

/// Reads and writes manifests and manifest lists under `<table>/manifest/`.
#[derive(Clone, Debug)]
pub struct ManifestStore {
    io: FileIO,
    cache: Option<Arc<ManifestCache>>,
}

impl ManifestStore {
    pub fn new(table_io: FileIO) -> Self {
        ManifestStore { io: table_io, cache: None }
    }

    /// Serves repeated reads of a manifest or manifest list from `cache`.
    pub fn with_cache(mut self, cache: Option<Arc<ManifestCache>>) -> Self {
        self.cache = cache;
        self
    }

    fn rel(name: &str) -> String {
        format!("manifest/{name}")
    }

    /// The cache key of a manifest file: the store instance and the full path (file names are unique, and a
    /// manifest file is never rewritten, so a decoded file never goes stale).
    fn cache_key(&self, rel: &str) -> String {
        format!("{:x}/{}", Arc::as_ptr(&self.io.store) as *const () as usize, self.io.path(rel))
    }

    pub async fn read_manifest(&self, name: &str) -> Result<Vec<ManifestEntry>> {
        let rel = Self::rel(name);
        let key = self.cache_key(&rel);
        if let Some(entries) = self.cache.as_ref().and_then(|c| c.manifest(&key)) {
            return Ok(entries.as_ref().clone());
        }
        let bytes = self.io.read(&rel).await?;
        let entries = decode_manifest(&bytes, self.io.path(&rel).as_ref())?;
        if let Some(cache) = &self.cache {
            cache.insert(key, Cached::Manifest(Arc::new(entries.clone())));
        }
        Ok(entries)
    }

    pub async fn read_list(&self, name: &str) -> Result<Vec<ManifestFileMeta>> {
        let rel = Self::rel(name);
        let key = self.cache_key(&rel);
        if let Some(metas) = self.cache.as_ref().and_then(|c| c.list(&key)) {
            return Ok(metas.as_ref().clone());
        }
        let bytes = self.io.read(&rel).await?;
        let metas = decode_manifest_list(&bytes, self.io.path(&rel).as_ref())?;
        if let Some(cache) = &self.cache {
            cache.insert(key, Cached::List(Arc::new(metas.clone())));
        }
        Ok(metas)
    }

    /// Writes a manifest file holding `entries`; returns its list record.
    pub async fn write_manifest(
        &self,
        name: &str,
        entries: &[ManifestEntry],
        schema_id: i64,
        partition_stats: SimpleStats,
    ) -> Result<ManifestFileMeta> {
        let body = encode_manifest(entries)?;
        let size = body.len() as i64;
        self.io.write(&Self::rel(name), Bytes::from(body)).await?;
        Ok(ManifestFileMeta {
            file_name: name.to_string(),
            file_size: size,
            num_added_files: entries.iter().filter(|e| e.kind == FileKind::Add).count() as i64,
            num_deleted_files: entries.iter().filter(|e| e.kind == FileKind::Delete).count() as i64,
            partition_stats,
            schema_id,
            min_bucket: entries.iter().map(|e| e.bucket).min(),
            max_bucket: entries.iter().map(|e| e.bucket).max(),
            min_level: entries.iter().map(|e| e.file.level).min(),
            max_level: entries.iter().map(|e| e.file.level).max(),
        })
    }

    /// Writes a manifest list; returns its size in bytes.
    pub async fn write_list(&self, name: &str, metas: &[ManifestFileMeta]) -> Result<i64> {
        let body = encode_manifest_list(metas)?;
        let size = body.len() as i64;
        self.io.write(&Self::rel(name), Bytes::from(body)).await?;
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample_file(name: &str) -> DataFileMeta {
        DataFileMeta {
            file_name: name.into(),
            file_size: 1234,
            row_count: 10,
            min_key: vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
            max_key: vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0],
            key_stats: SimpleStats { min_values: vec![1], max_values: vec![2], null_counts: Some(vec![Some(0), None]) },
            value_stats: SimpleStats::empty(),
            min_sequence_number: 0,
            max_sequence_number: 9,
            schema_id: 0,
            level: 0,
            extra_files: vec![],
            creation_time_millis: Some(1_700_000_000_000),
            delete_row_count: Some(1),
            embedded_index: None,
            file_source: Some(0),
            value_stats_cols: None,
            external_path: None,
            first_row_id: None,
            write_cols: None,
        }
    }

    /// Manifest entries and lists survive an encode/decode round trip with every optional field.
    #[test]
    fn manifest_round_trip() {
        let entries = vec![
            ManifestEntry {
                kind: FileKind::Add,
                partition: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                bucket: 1,
                total_buckets: 2,
                file: sample_file("data-a-0.parquet"),
            },
            ManifestEntry {
                kind: FileKind::Delete,
                partition: vec![],
                bucket: 0,
                total_buckets: 2,
                file: DataFileMeta { value_stats_cols: Some(vec![]), ..sample_file("data-b-1.parquet") },
            },
        ];
        let bytes = encode_manifest(&entries).unwrap();
        assert_eq!(decode_manifest(&bytes, "m").unwrap(), entries);
        let metas = vec![ManifestFileMeta {
            file_name: "manifest-x-0".into(),
            file_size: 99,
            num_added_files: 1,
            num_deleted_files: 1,
            partition_stats: SimpleStats::empty(),
            schema_id: 0,
            min_bucket: Some(0),
            max_bucket: Some(1),
            min_level: None,
            max_level: Some(0),
        }];
        assert_eq!(decode_manifest_list(&encode_manifest_list(&metas).unwrap(), "l").unwrap(), metas);
    }

    /// Garbage and truncated manifests are errors that name the file.
    #[test]
    fn corrupt_manifest_names_the_file() {
        let e = decode_manifest(b"not avro at all", "wh/t/manifest/manifest-1").unwrap_err().to_string();
        assert!(e.contains("manifest-1"), "{e}");
        let entries = vec![ManifestEntry {
            kind: FileKind::Add,
            partition: vec![],
            bucket: 0,
            total_buckets: 1,
            file: sample_file("f"),
        }];
        let bytes = encode_manifest(&entries).unwrap();
        let e = decode_manifest(&bytes[..bytes.len() - 7], "wh/t/manifest/manifest-2").unwrap_err().to_string();
        assert!(e.contains("manifest-2"), "{e}");
    }

    /// A cached store serves repeated reads without the file (immutable files never go stale); a store without
    /// a cache, or a cache too small for the file, reads the file each time.
    #[test]
    fn manifest_cache_serves_repeated_reads() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let io = FileIO::new(Arc::new(object_store::memory::InMemory::new()), object_store::path::Path::from("t"));
            let entries = vec![ManifestEntry {
                kind: FileKind::Add,
                partition: vec![],
                bucket: 0,
                total_buckets: 1,
                file: sample_file("f"),
            }];
            let cache = Arc::new(ManifestCache::new(ManifestCache::DEFAULT_CAPACITY_RECORDS));
            let cached = ManifestStore::new(io.clone()).with_cache(Some(cache.clone()));
            let meta = cached.write_manifest("manifest-a-0", &entries, 0, SimpleStats::empty()).await.unwrap();
            cached.write_list("manifest-list-a-1", std::slice::from_ref(&meta)).await.unwrap();
            assert_eq!(cached.read_manifest("manifest-a-0").await.unwrap(), entries);
            assert_eq!(cached.read_list("manifest-list-a-1").await.unwrap(), vec![meta.clone()]);
            assert_eq!(cache.len(), 2);
            io.delete("manifest/manifest-a-0").await.unwrap();
            io.delete("manifest/manifest-list-a-1").await.unwrap();
            assert_eq!(cached.read_manifest("manifest-a-0").await.unwrap(), entries);
            assert_eq!(cached.read_list("manifest-list-a-1").await.unwrap(), vec![meta]);
            assert!(ManifestStore::new(io.clone()).read_manifest("manifest-a-0").await.is_err(), "no cache, no file");

            let tiny = ManifestStore::new(io.clone()).with_cache(Some(Arc::new(ManifestCache::new(0))));
            tiny.write_manifest("manifest-b-0", &entries, 0, SimpleStats::empty()).await.unwrap();
            tiny.read_manifest("manifest-b-0").await.unwrap();
            io.delete("manifest/manifest-b-0").await.unwrap();
            assert!(tiny.read_manifest("manifest-b-0").await.is_err(), "a file larger than the cache is not kept");
        });
    }
}
