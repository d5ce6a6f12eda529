//! Reading the changelog files a snapshot committed.

use std::sync::Arc;

use arrow::array::RecordBatch;
use futures::TryStreamExt;

use crate::error::Result;
use crate::io::FileIO;
use crate::manifest::ManifestStore;
use crate::schema::TableSchema;

/// The changelog files of `snapshot` (its `changelogManifestList`), in manifest order.
pub async fn changelog_entries(
    manifests: &ManifestStore,
    snapshot: &crate::snapshot::Snapshot,
) -> Result<Vec<crate::manifest::ManifestEntry>> {
    let Some(list) = &snapshot.changelog_manifest_list else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for m in manifests.read_list(list).await? {
        out.extend(manifests.read_manifest(&m.file_name).await?);
    }
    Ok(out)
}

/// The rows of `snapshot`'s changelog files, in the key-value layout of the current schema (`_KEY_*`,
/// `_SEQUENCE_NUMBER`, `_VALUE_KIND`, value columns), file by file in manifest order and each file in its
/// order: the changes the snapshot committed.
pub async fn read_changelog(
    io: &FileIO,
    schema: &Arc<TableSchema>,
    snapshot: &crate::snapshot::Snapshot,
) -> Result<Vec<RecordBatch>> {
    let options = schema.options()?;
    let schemas = crate::schema::SchemaManager::new(io.clone());
    let cols =
        crate::datafile::ReadColumns { system: crate::datafile::SystemColumns::All, values: schema.fields.clone() };
    let mut out = Vec::new();
    for e in changelog_entries(&ManifestStore::new(io.clone()), snapshot).await? {
        let partition_types = schema.partition_types();
        let partition = crate::binary_row::deserialize_row(&e.partition, &partition_types)?;
        let dir = crate::datafile::bucket_dir(schema, &partition, e.bucket, &options.partition_default_name);
        let file_schema = if e.file.schema_id == schema.id {
            schema.as_ref().clone()
        } else {
            schemas.schema(e.file.schema_id).await?
        };
        let stream = crate::datafile::read_data_file(
            io,
            &format!("{dir}/{}", e.file.file_name),
            e.file.file_size as u64,
            schema,
            &file_schema,
            &cols,
            8192,
            None,
        )
        .await?;
        out.extend(stream.try_collect::<Vec<_>>().await?);
    }
    Ok(out)
}
