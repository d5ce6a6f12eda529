//! The plain-Parquet side of the ratios: files written by arrow-rs `ArrowWriter` with dyntable's data-file
//! writer properties, read back by arrow-rs readers.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::StreamExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::BoxError;

/// The compression of dyntable's `DataFileWriter` under default table options (zstd level 1), with arrow-rs'
/// other defaults.
pub fn zstd1_props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("zstd level 1 is valid")))
        .build()
}

/// Everything of dyntable's `DataFileWriter` layout under default options: zstd 1, page statistics, its page
/// and dictionary size limits, so both sides read the same Parquet layout.
pub fn table_layout_props() -> WriterProperties {
    zstd1_props()
        .into_builder()
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_data_page_row_count_limit(dyntable_storage::datafile::DATA_PAGE_ROWS)
        .set_dictionary_page_size_limit(dyntable_storage::datafile::DICTIONARY_PAGE_BYTES)
        .build()
}

/// Writes `batches` (of `schema`) into one Parquet file at `path`; returns the file's size.
pub fn write_file<E: Into<BoxError>>(
    path: &Path,
    schema: SchemaRef,
    props: WriterProperties,
    batches: impl IntoIterator<Item = Result<RecordBatch, E>>,
) -> Result<u64, BoxError> {
    let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut writer = ArrowWriter::try_new(file, schema, Some(props))?;
    for b in batches {
        writer.write(&b.map_err(Into::into)?)?;
    }
    writer.close()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Writes `batches` (at least one) into one Parquet file at `path`; returns the file's size.
pub fn write_batches(path: &Path, batches: &[RecordBatch], props: WriterProperties) -> Result<u64, BoxError> {
    let schema = batches.first().ok_or("no batches to write")?.schema();
    write_file(path, schema, props, batches.iter().map(|b| Ok::<_, BoxError>(b.clone())))
}

/// Reads the named top-level columns (all when `None`) of a Parquet file with the synchronous arrow-rs
/// reader at dyntable's read batch size (8192); returns the rows read.
pub fn read_columns(path: &Path, columns: Option<&[&str]>) -> Result<usize, BoxError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?.with_batch_size(8192);
    let builder = match columns {
        None => builder,
        Some(names) => {
            let roots: Vec<usize> = builder
                .schema()
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| names.contains(&f.name().as_str()))
                .map(|(i, _)| i)
                .collect();
            let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), roots);
            builder.with_projection(mask)
        }
    };
    let mut rows = 0;
    for b in builder.build()? {
        rows += b?.num_rows();
    }
    Ok(rows)
}

/// Reads a Parquet file through `ParquetObjectReader` on a local object store, the way dyntable opens data
/// files; returns the rows read.
pub async fn read_async(path: &Path) -> Result<usize, BoxError> {
    use object_store::ObjectStoreExt;
    let abs = std::fs::canonicalize(path)?;
    let store: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::local::LocalFileSystem::new());
    let location = object_store::path::Path::from_absolute_path(&abs)?;
    let size = store.head(&location).await?.size;
    #[allow(deprecated)]
    let reader = parquet::arrow::async_reader::ParquetObjectReader::new(store, location).with_file_size(size);
    let mut stream =
        parquet::arrow::ParquetRecordBatchStreamBuilder::new(reader).await?.with_batch_size(8192).build()?;
    let mut rows = 0;
    while let Some(b) = stream.next().await {
        rows += b?.num_rows();
    }
    Ok(rows)
}
