//! Runs every `tests/slt/*.slt` sqllogictest file against a fresh temporary warehouse through
//! [`DyntableSession`], one session per file. Cells print as DataFusion shows them, NULL as `NULL`,
//! the empty string as `(empty)`; commands answer `statement ok` (`statement count N` for DML).
//! `SLT=name` runs only files whose path contains `name`; `SLT_COMPLETE=1` rewrites expected results.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionConfig;
use dyntable_query::{DyntableSession, StatementKind};
use dyntable_storage::Catalog;
use sqllogictest::{DBOutput, DefaultColumnType};

struct SltDb {
    session: Arc<DyntableSession>,
}

#[async_trait]
impl sqllogictest::AsyncDB for SltDb {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let result = self.session.execute(sql).await?;
        if result.kind == StatementKind::Command {
            return Ok(DBOutput::StatementComplete(result.affected_rows.unwrap_or(0)));
        }
        let opts = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &result.batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
                .collect::<Result<Vec<_>, _>>()?;
            for r in 0..batch.num_rows() {
                let row: Vec<String> = formatters
                    .iter()
                    .map(|f| {
                        let s = f.value(r).to_string();
                        if s.is_empty() {
                            "(empty)".to_string()
                        } else {
                            s
                        }
                    })
                    .collect();
                // Multi-line cells (plans, SHOW CREATE TABLE) become one row per line.
                if row.iter().any(|c| c.contains('\n')) {
                    rows.extend(row.join(" ").lines().map(|l| vec![l.trim_end().to_string()]));
                } else {
                    rows.push(row);
                }
            }
        }
        let types = result.schema.fields().iter().map(|_| DefaultColumnType::Any).collect();
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "dyntable"
    }
}

/// Every .slt file passes against a fresh warehouse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictests() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    let only = std::env::var("SLT").ok();
    let mut failures = Vec::new();
    for file in &files {
        if only.as_deref().is_some_and(|o| !file.to_string_lossy().contains(o)) {
            continue;
        }
        let warehouse = tempfile::tempdir()?;
        let catalog = Catalog::open(warehouse.path().to_str().expect("utf-8 temp path"), true)?;
        let session = Arc::new(DyntableSession::new(catalog, SessionConfig::new().with_target_partitions(4)).await?);
        let mut runner = sqllogictest::Runner::new(move || {
            let session = session.clone();
            async move { Ok::<_, DataFusionError>(SltDb { session }) }
        });
        if std::env::var("SLT_COMPLETE").is_ok() {
            // Rewrites the expected results with what dyntable returns (review the diff before committing).
            runner
                .update_test_file(
                    file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .map_err(|e| e.to_string())?;
            continue;
        }
        if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}: {e}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{} slt file(s) failed:\n{}", failures.len(), failures.join("\n\n"));
    Ok(())
}
