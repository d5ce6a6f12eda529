//! DataFusion catalog and schema providers over a dyntable warehouse: `db.table` resolves lazily to a
//! [`DyntableTableProvider`] at query planning time, `db.table$snapshots` (and the other `$` names) to a
//! system table, and `db.table@snapshot=3` / `@tag=name` / `@timestamp=millis` to the table read at that
//! snapshot (the session rewrites `FOR SYSTEM_TIME AS OF`, `VERSION AS OF` and `OPTIONS` hints into
//! these names).

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use dyntable_storage::datafile::MetadataCache;
use dyntable_storage::lookup::TableLookup;
use dyntable_storage::manifest::ManifestCache;
use dyntable_storage::{Catalog, Error as StorageError, Identifier, ScanFrom};

pub use crate::error::external;
use crate::provider::DyntableTableProvider;
use crate::system::{self, Incremental, Range};

/// The name the session registers the warehouse under (`paimon.db.t` resolves as `db.t`).
pub const CATALOG_NAME: &str = "paimon";

/// Every database of the warehouse, as DataFusion schemas.
#[derive(Debug)]
pub struct DyntableCatalogProvider {
    catalog: Catalog,
    /// Database names known to this session (DataFusion asks for them synchronously).
    databases: RwLock<Vec<String>>,
    /// Parquet footers of data files, shared by every table this session reads.
    metadata_cache: Arc<MetadataCache>,
    /// Decoded manifests, shared likewise.
    manifest_cache: Arc<ManifestCache>,
    /// Point lookups per table, with their page caches (sized by the table's `lookup.cache-max-memory-size`).
    lookups: Lookups,
}

/// Per table (by identifier), the lookup handle (page cache, bucket layouts of recent snapshots) its point
/// lookups share across the session's queries.
pub(crate) type Lookups = Arc<std::sync::Mutex<std::collections::HashMap<String, TableLookup>>>;

impl DyntableCatalogProvider {
    pub fn new(catalog: Catalog, databases: Vec<String>) -> Self {
        let metadata_cache = Arc::new(MetadataCache::new(MetadataCache::DEFAULT_CAPACITY_BYTES));
        let manifest_cache = Arc::new(ManifestCache::new(ManifestCache::DEFAULT_CAPACITY_RECORDS));
        DyntableCatalogProvider {
            catalog,
            databases: RwLock::new(databases),
            metadata_cache,
            manifest_cache,
            lookups: Default::default(),
        }
    }

    /// Replaces the cached database list (after CREATE DATABASE).
    pub fn set_databases(&self, databases: Vec<String>) {
        if let Ok(mut d) = self.databases.write() {
            *d = databases;
        }
    }
}

impl CatalogProvider for DyntableCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        self.databases.read().map(|d| d.clone()).unwrap_or_default()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        // Resolved lazily: a database created by another process is visible without refreshing.
        Some(Arc::new(DyntableSchemaProvider {
            catalog: self.catalog.clone(),
            database: name.to_string(),
            metadata_cache: self.metadata_cache.clone(),
            manifest_cache: self.manifest_cache.clone(),
            lookups: self.lookups.clone(),
        }))
    }
}

/// The tables of one database.
#[derive(Debug)]
pub struct DyntableSchemaProvider {
    catalog: Catalog,
    metadata_cache: Arc<MetadataCache>,
    manifest_cache: Arc<ManifestCache>,
    lookups: Lookups,
    database: String,
}

/// A table name as the session encodes it: `t`, `t$snapshots`, `t@snapshot=3`, `t@tag=x`, `t@timestamp=ms`,
/// `t$audit_log@incremental=3,7,delta` (an `incremental-between` read).
#[derive(Debug, Clone, PartialEq)]
pub struct TableName {
    pub table: String,
    pub system: Option<String>,
    pub from: ScanFrom,
    /// `incremental-between` (start, end) and `incremental-between-scan-mode`.
    pub incremental: Option<Incremental>,
}

impl TableName {
    pub fn parse(name: &str) -> Result<TableName> {
        let (rest, from, incremental) = match name.split_once('@') {
            None => (name, ScanFrom::Latest, None),
            Some((t, spec)) if spec.starts_with("incremental=") || spec.starts_with("incremental-timestamp=") => {
                let (v, timestamps) = match spec.strip_prefix("incremental=") {
                    Some(v) => (v, false),
                    None => (&spec["incremental-timestamp=".len()..], true),
                };
                let (between, mode) = v.rsplit_once(',').ok_or_else(|| {
                    DataFusionError::Plan(format!("malformed incremental read in table name `{name}`"))
                })?;
                let incremental = if timestamps {
                    Incremental::parse_timestamps(between, Some(mode))?
                } else {
                    Incremental::parse(between, Some(mode))?
                };
                (t, ScanFrom::Latest, Some(incremental))
            }
            Some((t, spec)) => {
                let (k, v) = spec
                    .split_once('=')
                    .ok_or_else(|| DataFusionError::Plan(format!("malformed time travel in table name `{name}`")))?;
                let num = |v: &str| {
                    v.parse::<i64>().map_err(|_| {
                        DataFusionError::Plan(format!("time travel value `{v}` in `{name}` is not a number"))
                    })
                };
                let from = match k {
                    "snapshot" => ScanFrom::Snapshot(num(v)?),
                    "timestamp" => ScanFrom::Timestamp(num(v)?),
                    "tag" => ScanFrom::Tag(v.to_string()),
                    _ => {
                        return Err(DataFusionError::Plan(format!(
                            "unknown time travel kind `{k}` in table name `{name}`"
                        )))
                    }
                };
                (t, from, None)
            }
        };
        let (table, system) = match rest.split_once('$') {
            Some((t, s)) => (t.to_string(), Some(s.to_ascii_lowercase())),
            None => (rest.to_string(), None),
        };
        Ok(TableName { table, system, from, incremental })
    }

    /// The encoded name of `table` read incrementally.
    pub fn encode_incremental(table: &str, incremental: &Incremental) -> String {
        let (by, start, end) = match &incremental.range {
            Range::Snapshots(a, b) => ("incremental", a.to_string(), b.to_string()),
            Range::Tags(a, b) => ("incremental", a.clone(), b.clone()),
            Range::Timestamps(a, b) => ("incremental-timestamp", a.to_string(), b.to_string()),
        };
        format!("{table}@{by}={start},{end},{}", incremental.mode)
    }

    /// The encoded name of `table` read at `from`.
    pub fn encode(table: &str, from: &ScanFrom) -> String {
        match from {
            ScanFrom::Latest => table.to_string(),
            ScanFrom::Snapshot(id) => format!("{table}@snapshot={id}"),
            ScanFrom::Timestamp(ms) => format!("{table}@timestamp={ms}"),
            ScanFrom::Tag(t) => format!("{table}@tag={t}"),
        }
    }
}

/// Describes a time travel target for error messages.
pub fn describe_from(from: &ScanFrom) -> String {
    match from {
        ScanFrom::Latest => "the latest snapshot".into(),
        ScanFrom::Snapshot(id) => format!("snapshot {id}"),
        ScanFrom::Timestamp(ms) => {
            format!("timestamp {} ({ms} ms)", dyntable_storage::datum::format_timestamp(*ms, 0, 3))
        }
        ScanFrom::Tag(t) => format!("tag `{t}`"),
    }
}

#[async_trait]
impl SchemaProvider for DyntableSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        // Listing needs I/O; SHOW TABLES is answered by the session instead.
        Vec::new()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let parsed = TableName::parse(name)?;
        let ident = Identifier { database: self.database.clone(), table: parsed.table.clone() };
        let table = match self.catalog.get_table(&ident).await {
            Ok(t) => t,
            Err(StorageError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(external(e)),
        };
        if let Some(incremental) = &parsed.incremental {
            if parsed.system.as_deref() != Some("audit_log") {
                return Err(DataFusionError::Plan(format!(
                    "`incremental-between` reads the changes of a table with their row kinds: query `{ident}$audit_log`"
                )));
            }
            return system::audit_log_between(&table, incremental).await.map(Some);
        }
        if let Some(sys) = &parsed.system {
            if parsed.from != ScanFrom::Latest {
                return Err(DataFusionError::Plan(format!(
                    "system table `{ident}${sys}` does not support time travel"
                )));
            }
            return system::system_table(&table, sys).await.map(Some);
        }
        if parsed.from != ScanFrom::Latest {
            // Resolve now, so a missing snapshot or tag fails planning with a clear message.
            table.resolve(&parsed.from).await.map_err(|e| {
                DataFusionError::Plan(format!(
                    "cannot time travel table `{ident}` to {}: {e}",
                    describe_from(&parsed.from)
                ))
            })?;
        }
        let mut provider = DyntableTableProvider::new(table.clone())
            .with_scan_from(parsed.from)
            .with_exact_filters(true)
            .with_metadata_cache(self.metadata_cache.clone())
            .with_manifest_cache(self.manifest_cache.clone());
        if !table.schema().primary_keys.is_empty() {
            let options = table.schema().options().map_err(external)?;
            let capacity = usize::try_from(options.lookup_cache_max_memory_size).unwrap_or(usize::MAX);
            let disk = match options.lookup_cache_max_disk_size {
                Some(0) => None,
                bound => Some(bound.unwrap_or(u64::MAX)),
            };
            if let Ok(mut lookups) = self.lookups.lock() {
                // Reused while the table's schema and cache bound stay (ALTER TABLE starts a new one).
                let current = lookups.get(&ident.to_string()).filter(|l| {
                    l.table().schema().id == table.schema().id
                        && l.cache().capacity_bytes() == capacity
                        && l.cache().disk_capacity_bytes() == disk
                });
                let lookup = match current {
                    Some(l) => l.clone(),
                    None => {
                        let l = TableLookup::new(&table.clone().with_manifest_cache(self.manifest_cache.clone()))
                            .map_err(external)?
                            .with_metadata_cache(self.metadata_cache.clone());
                        lookups.insert(ident.to_string(), l.clone());
                        l
                    }
                };
                provider = provider.with_lookup(lookup);
            }
        }
        Ok(Some(Arc::new(provider)))
    }

    fn table_exist(&self, _name: &str) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dyntable_storage::ChangeScanMode;

    /// Encoded names round-trip and split off system table suffixes.
    #[test]
    fn table_names() {
        for from in
            [ScanFrom::Latest, ScanFrom::Snapshot(3), ScanFrom::Tag("v1".into()), ScanFrom::Timestamp(1700000000000)]
        {
            let n = TableName::parse(&TableName::encode("t", &from)).unwrap();
            assert_eq!(n, TableName { table: "t".into(), system: None, from, incremental: None });
        }
        for range in [Range::Snapshots(3, 7), Range::Timestamps(3, 7), Range::Tags("a".into(), "b".into())] {
            let inc = Incremental { range, mode: ChangeScanMode::Changelog };
            let n = TableName::parse(&TableName::encode_incremental("t$audit_log", &inc)).unwrap();
            assert_eq!((n.system.as_deref(), n.incremental.as_ref()), (Some("audit_log"), Some(&inc)));
        }
        assert!(TableName::parse("t$audit_log@incremental=3,7,diff").unwrap_err().to_string().contains("diff"));
        assert_eq!(TableName::parse("t$Snapshots").unwrap().system.as_deref(), Some("snapshots"));
        assert!(TableName::parse("t@snapshot=x").is_err());
        assert!(TableName::parse("t@when=1").is_err());
    }
}
