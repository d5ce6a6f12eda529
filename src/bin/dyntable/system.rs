//! The subcommands that print system tables: `snapshots`, `files`.

use super::*;

/// `snapshots`: the table format shows the query crate's `t$snapshots` system table (its columns under the
/// CLI's headers); jsonl prints each snapshot file as Paimon stores it (every field, e.g. `logOffsets`).
pub(super) async fn snapshots(cx: &mut Cx, table: &str, format: OutFormat) -> Result<()> {
    let t = cx.table(table).await?;
    match format {
        OutFormat::Jsonl => {
            for s in t.snapshot_manager().all().await? {
                cx.emit(&serde_json::to_string(&s).map_err(|e| Error::Internal(e.to_string()))?)?;
            }
            Ok(())
        }
        OutFormat::Table => {
            let columns =
                "snapshot_id AS id, schema_id AS schema, commit_kind AS kind, commit_user AS \"commit user\", \
                 commit_identifier AS identifier, commit_time AS \"time (UTC)\", total_record_count AS \"total rows\", \
                 delta_record_count AS \"delta rows\"";
            let provider = dyntable_query::system::system_table(&t, "snapshots")
                .await
                .map_err(|e| system_table_error("snapshots", e))?;
            let (header, rows) = system_table_rows(provider, "snapshots", columns).await?;
            emit_system_rows(cx, header, rows, OutFormat::Table)
        }
    }
}

/// The columns `columns` (a SQL select list) of a system table of the query crate (`provider`, registered as
/// `name`): the column names, then a row of JSON values per row (integers as numbers, NULL as null, the rest as
/// Arrow's text).
pub(super) async fn system_table_rows(
    provider: Arc<dyn TableProvider>,
    name: &str,
    columns: &str,
) -> Result<(Vec<String>, Vec<Vec<serde_json::Value>>)> {
    let sql_error = |e| system_table_error(name, e);
    let ctx = SessionContext::new();
    ctx.register_table(name, provider).map_err(sql_error)?;
    let frame = ctx.sql(&format!("SELECT {columns} FROM {name}")).await.map_err(sql_error)?;
    let header = frame.schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>();
    let mut rows = Vec::new();
    let options = FormatOptions::default();
    for b in frame.collect().await.map_err(sql_error)? {
        let formatters =
            b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options)).collect::<Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            let row = b.columns().iter().zip(&formatters).map(|(c, f)| {
                if c.is_null(r) {
                    serde_json::Value::Null
                } else if c.data_type().is_integer() {
                    let text = f.value(r).to_string();
                    text.parse::<i64>().map(serde_json::Value::from).unwrap_or(serde_json::Value::String(text))
                } else {
                    serde_json::Value::String(f.value(r).to_string())
                }
            });
            rows.push(row.collect());
        }
    }
    Ok((header, rows))
}

/// A storage error that reached us through DataFusion is that error again (e.g. "not found: snapshot 9");
/// anything else is named after the system table.
pub(super) fn system_table_error(name: &str, e: datafusion::error::DataFusionError) -> Error {
    match e {
        datafusion::error::DataFusionError::External(inner) => match inner.downcast::<Error>() {
            Ok(storage) => *storage,
            Err(other) => Error::Internal(format!("system table `{name}`: {other}")),
        },
        other => Error::Internal(format!("system table `{name}`: {other}")),
    }
}

/// Prints system-table rows as a text table or as JSON objects keyed by column name.
pub(super) fn emit_system_rows(
    cx: &mut Cx,
    header: Vec<String>,
    rows: Vec<Vec<serde_json::Value>>,
    format: OutFormat,
) -> Result<()> {
    match format {
        OutFormat::Jsonl => {
            for row in rows {
                let object: serde_json::Map<String, serde_json::Value> = header.iter().cloned().zip(row).collect();
                cx.emit(&serde_json::Value::Object(object).to_string())?;
            }
            Ok(())
        }
        OutFormat::Table => {
            let text = |v: serde_json::Value| match v {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            let mut tbl = vec![header];
            tbl.extend(rows.into_iter().map(|r| r.into_iter().map(text).collect()));
            cx.emit(&text_table(&tbl))
        }
    }
}

/// `files`: the live data files of a snapshot, as the query crate's `t$files` system table lists them.
pub(super) async fn files(cx: &mut Cx, table: &str, snapshot: Option<i64>, format: OutFormat) -> Result<()> {
    let t = cx.table(table).await?;
    let from = snapshot.map(ScanFrom::Snapshot).unwrap_or(ScanFrom::Latest);
    let provider = dyntable_query::system::files_at(&t, &from).await.map_err(|e| system_table_error("files", e))?;
    let columns = "partition, bucket, level, file_path AS file, record_count AS rows, file_size_in_bytes AS bytes, \
                   min_sequence_number AS \"min seq\", max_sequence_number AS \"max seq\", schema_id AS schema";
    let (header, rows) = system_table_rows(provider, "files", columns).await?;
    emit_system_rows(cx, header, rows, format)
}
