//! Data files: the physical Parquet layout of primary-key (`_KEY_*`, `_SEQUENCE_NUMBER`, `_VALUE_KIND`,
//! then the table columns) and append tables, writing sorted rows into rolling files with their manifest
//! metadata, and reading files back in the current schema (files written under older schemas are mapped
//! by field id).
//!
//! - [`layout`]: the file schema, the system columns, bucket directories.
//! - [`writer`]: [`DataFileWriter`] and its [`RollingWriter`].
//! - [`reader`]: [`DataFileRead`], schema evolution by field id.
//! - [`prune`]: row-group and page-index pruning by a predicate.
//! - [`cache`]: [`MetadataCache`], Parquet footers and page indexes of files read before.

pub mod cache;
pub mod layout;
pub mod prune;
pub mod reader;
pub mod writer;

pub use cache::MetadataCache;
pub use layout::{
    bucket_dir, escape_path_name, file_schema, key_field, kind_field, sequence_field, KEY_FIELD_ID_START, KEY_PREFIX,
    SEQUENCE_NUMBER, SEQUENCE_NUMBER_FIELD_ID, VALUE_KIND, VALUE_KIND_FIELD_ID,
};
pub use prune::PruneCounters;
pub use reader::{read_data_file, DataFileRead, ReadColumns, SystemColumns};
pub use writer::{DataFileWriter, RollingWriter, DATA_PAGE_ROWS, DICTIONARY_PAGE_BYTES};
