//! The `dyntable` command line: create tables, write files into them (one commit per call), scan with
//! time travel, list snapshots and files, manage tags, and run the demo.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use arrow::array::{AsArray, RecordBatch};
use clap::{Parser, Subcommand, ValueEnum};
use dyntable::convert::{batch_to_json_rows, read_csv, read_jsonl, read_parquet, JsonStyle};
use dyntable::filter::parse_filter;
use dyntable::{Catalog, Identifier, TableSpec};
use dyntable_storage::stream::{ChangeReader, StartFrom};
use dyntable_storage::{Error, FileStoreTable, Result, ScanFrom};
use futures::TryStreamExt;

#[derive(Parser)]
#[command(name = "dyntable", version, about = "A dynamic-table store in the Apache Paimon format")]
struct Cli {
    /// Warehouse: a local path, file://, memory:// or s3://bucket/prefix.
    #[arg(long, global = true, default_value = "./warehouse")]
    warehouse: String,
    /// Local directory for tables' embedded logs (`log.system = 'embedded'`) when the warehouse is not a
    /// local directory (a local warehouse keeps them in the table directories).
    #[arg(long, global = true)]
    log_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum OutFormat {
    Table,
    Jsonl,
}

#[derive(Clone, Copy, ValueEnum)]
enum TailFormat {
    Jsonl,
}

#[derive(Clone, Copy, ValueEnum)]
enum InFormat {
    Jsonl,
    Csv,
    Parquet,
}

#[derive(Subcommand)]
enum Command {
    /// Create a table (and its database when missing).
    CreateTable {
        table: String,
        /// Columns: 'id BIGINT NOT NULL, name STRING, dt STRING NOT NULL'.
        #[arg(long)]
        schema: String,
        #[arg(long, value_delimiter = ',')]
        primary_key: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        partition: Vec<String>,
        /// Table option k=v (repeatable), e.g. bucket=2.
        #[arg(long = "option")]
        options: Vec<String>,
        #[arg(long)]
        comment: Option<String>,
        #[arg(long)]
        if_not_exists: bool,
    },
    /// Write a file into a table as one commit.
    Write {
        table: String,
        file: PathBuf,
        /// Input format (default: from the file extension).
        #[arg(long)]
        format: Option<InFormat>,
        /// A column holding +I, -U, +U, -D; it is not stored.
        #[arg(long)]
        row_kind_column: Option<String>,
        /// Replace the whole table (or the partitions matching --overwrite-filter) instead of appending.
        #[arg(long)]
        overwrite: bool,
        /// With --overwrite: replace only partitions matching this filter on partition columns.
        #[arg(long)]
        overwrite_filter: Option<String>,
    },
    /// Print a table's rows.
    Scan {
        table: String,
        #[arg(long)]
        snapshot: Option<i64>,
        #[arg(long)]
        tag: Option<String>,
        /// Time travel to the latest snapshot at or before this time (ISO-8601, UTC) or epoch millis.
        #[arg(long)]
        timestamp: Option<String>,
        #[arg(long, value_delimiter = ',')]
        columns: Option<Vec<String>>,
        /// e.g. "dt = '2024-01-01' AND id > 3"
        #[arg(long)]
        filter: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: OutFormat,
    },
    /// List snapshots.
    Snapshots {
        table: String,
        #[arg(long, value_enum, default_value = "table")]
        format: OutFormat,
    },
    /// List the live data files of a snapshot.
    Files {
        table: String,
        #[arg(long)]
        snapshot: Option<i64>,
        #[arg(long, value_enum, default_value = "table")]
        format: OutFormat,
    },
    /// Create, delete or list tags.
    Tag {
        #[command(subcommand)]
        action: TagAction,
    },
    /// List databases, or the tables of one database.
    List { database: Option<String> },
    /// Drop a table and its files.
    DropTable {
        table: String,
        #[arg(long)]
        if_exists: bool,
    },
    /// SQL: an interactive shell, or `-c SQL` / `-f FILE` (Flink/Paimon DDL, DML, time travel, system tables).
    Sql(dyntable_query::shell::ShellArgs),
    /// Compact a primary-key table now (a COMPACT snapshot): the universal policy's pick, or --full.
    Compact {
        table: String,
        #[arg(long)]
        full: bool,
        /// Only partitions matching k=v (repeatable).
        #[arg(long = "partition")]
        partitions: Vec<String>,
    },
    /// Write amplification and LSM shape of a table, computed from its manifests.
    Stats {
        table: String,
        #[arg(long, value_enum, default_value = "table")]
        format: OutFormat,
    },
    /// Print a table's changes as they arrive, one JSON object per change with a `rowkind` field (tables with
    /// `log.system = 'embedded'`). Runs until interrupted unless --max-changes or --idle-exit-ms is given.
    Tail {
        table: String,
        /// Where to start: `latest` (changes from now), `full` (the latest snapshot's rows, then changes),
        /// `snapshot:N` (the changes of snapshot N and later) or `snapshot-full:N`.
        #[arg(long, default_value = "full")]
        from: String,
        /// A consumer id: resume where this consumer stopped (ignoring --from once it has run) and save its
        /// position as it goes; log retention keeps what it still needs.
        #[arg(long)]
        consumer: Option<String>,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: TailFormat,
        /// Stop once at least this many changes were printed (at the end of a batch of changes, so that a
        /// consumer's saved position stays exact).
        #[arg(long)]
        max_changes: Option<u64>,
        /// Stop when no change arrived for this many milliseconds.
        #[arg(long)]
        idle_exit_ms: Option<u64>,
    },
    /// Run the demo: a table receiving upserts and deletes, with scans, time travel and snapshots.
    Demo {
        #[arg(long, default_value_t = 5)]
        commits: usize,
        #[arg(long, default_value_t = 1000)]
        rows: usize,
    },
}

#[derive(Subcommand)]
enum TagAction {
    Create {
        table: String,
        name: String,
        #[arg(long)]
        snapshot: Option<i64>,
    },
    Delete {
        table: String,
        name: String,
    },
    List {
        table: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn open_table(warehouse: &str, log_dir: Option<&PathBuf>, name: &str) -> Result<FileStoreTable> {
    open_catalog(warehouse, log_dir, false)?.get_table(&Identifier::parse(name)?).await
}

fn open_catalog(warehouse: &str, log_dir: Option<&PathBuf>, create: bool) -> Result<Catalog> {
    let catalog = Catalog::open(warehouse, create)?;
    Ok(match log_dir {
        Some(dir) => catalog.with_log_dir(dir),
        None => catalog,
    })
}

fn parse_time(text: &str) -> Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let (ms, _) = dyntable_storage::datum::parse_timestamp(text)?;
    Ok(ms)
}

async fn run(cli: Cli) -> Result<()> {
    let wh = cli.warehouse.as_str();
    let log_dir = cli.log_dir.as_ref();
    let mut stdout = std::io::stdout().lock();
    let mut emit = |s: &str| -> Result<()> {
        writeln!(stdout, "{s}").map_err(|e| Error::invalid(format!("cannot write output: {e}")))
    };
    match cli.command {
        Command::CreateTable { table, schema, primary_key, partition, options, comment, if_not_exists } => {
            let mut opts = std::collections::BTreeMap::new();
            for o in options {
                let (k, v) =
                    o.split_once('=').ok_or_else(|| Error::invalid(format!("option `{o}` must be key=value")))?;
                opts.insert(k.trim().to_string(), v.trim().to_string());
            }
            let catalog = open_catalog(wh, log_dir, true)?;
            let ident = Identifier::parse(&table)?;
            let spec = TableSpec { schema, primary_key, partition, options: opts, comment };
            catalog.create_table(&ident, &spec, if_not_exists).await?;
            emit(&format!("created table {ident}"))?;
        }
        Command::Write { table, file, format, row_kind_column, overwrite, overwrite_filter } => {
            let t = open_table(wh, log_dir, &table).await?;
            let format = match format {
                Some(f) => f,
                None => match file.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
                    Some("csv") => InFormat::Csv,
                    Some("parquet") => InFormat::Parquet,
                    Some("jsonl") | Some("json") | Some("ndjson") => InFormat::Jsonl,
                    _ => {
                        return Err(Error::invalid(format!(
                            "cannot tell the format of `{}`; pass --format jsonl|csv|parquet",
                            file.display()
                        )))
                    }
                },
            };
            let batches = match format {
                InFormat::Jsonl => read_jsonl(&file, t.schema(), row_kind_column.as_deref())?,
                InFormat::Csv => read_csv(&file, t.schema(), row_kind_column.as_deref())?,
                InFormat::Parquet => read_parquet(&file)?,
            };
            let total: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {per_sec} {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            if total < 200_000 {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            if overwrite {
                t.check_overwrite()?;
            }
            let mut writer = t.writer().await?.with_row_kind_column(row_kind_column);
            for warning in &writer.log_recovery().warnings {
                eprintln!("warning: {warning}");
            }
            if writer.log_recovery().replayed_records > 0 {
                eprintln!(
                    "recovered {} acknowledged but uncommitted changes from the table's log",
                    writer.log_recovery().replayed_records
                );
            }
            for b in &batches {
                writer.write(b).await?;
                bar.inc(b.num_rows() as u64);
            }
            bar.finish_and_clear();
            let id = if overwrite {
                let scope = match overwrite_filter {
                    Some(f) => {
                        let p = parse_filter(&f)?;
                        if !p.only_reads(&t.schema().partition_keys) {
                            return Err(Error::invalid(format!(
                                "--overwrite-filter `{f}` may only use partition columns {:?}",
                                t.schema().partition_keys
                            )));
                        }
                        dyntable_storage::OverwriteScope::Partitions(p)
                    }
                    None => dyntable_storage::OverwriteScope::Table,
                };
                Some(writer.overwrite(scope).await?)
            } else {
                writer.commit().await?
            };
            match id {
                Some(id) => emit(&format!("wrote {total} rows to {table}: snapshot {id}"))?,
                None => emit(&format!("nothing to write to {table}: {} has no rows", file.display()))?,
            }
        }
        Command::Tail { table, from, consumer, format: TailFormat::Jsonl, max_changes, idle_exit_ms } => {
            let t = open_table(wh, log_dir, &table).await?;
            let from: StartFrom = from.parse()?;
            let mut reader = match &consumer {
                Some(id) => ChangeReader::open_consumer(&t, id, from).await?,
                None => ChangeReader::open(&t, from).await?,
            };
            let fields = t.schema().fields.clone();
            let mut printed = 0u64;
            let mut last_save = std::time::Instant::now();
            let mut unsaved = false;
            while max_changes.is_none_or(|max| printed < max) {
                let next = match idle_exit_ms {
                    Some(ms) => match tokio::time::timeout(std::time::Duration::from_millis(ms), reader.next()).await {
                        Ok(next) => next?,
                        Err(_) => break,
                    },
                    None => reader.next().await?,
                };
                let values = next.batch.project(&(1..next.batch.num_columns()).collect::<Vec<_>>())?;
                let kinds = next.batch.column(0).as_string::<i32>().clone();
                // Whole batches only, so that a consumer's saved position never skips a change.
                for (row, mut object) in batch_to_json_rows(&values, &fields, JsonStyle::Plain)?.into_iter().enumerate()
                {
                    object.insert("rowkind".to_string(), serde_json::Value::String(kinds.value(row).to_string()));
                    emit(&serde_json::Value::Object(object).to_string())?;
                    printed += 1;
                }
                std::io::stdout().flush().map_err(|e| Error::invalid(format!("cannot write output: {e}")))?;
                if let (Some(id), false) = (&consumer, reader.in_snapshot_phase()) {
                    unsaved = true;
                    if last_save.elapsed() >= std::time::Duration::from_millis(200) {
                        t.consumers().save(id, &reader.position()).await?;
                        last_save = std::time::Instant::now();
                        unsaved = false;
                    }
                }
            }
            if let (Some(id), true) = (&consumer, unsaved) {
                t.consumers().save(id, &reader.position()).await?;
            }
        }
        Command::Scan { table, snapshot, tag, timestamp, columns, filter, format } => {
            let t = open_table(wh, log_dir, &table).await?;
            let from = match (snapshot, tag, timestamp) {
                (Some(id), None, None) => ScanFrom::Snapshot(id),
                (None, Some(tag), None) => ScanFrom::Tag(tag),
                (None, None, Some(ts)) => ScanFrom::Timestamp(parse_time(&ts)?),
                (None, None, None) => ScanFrom::Latest,
                _ => return Err(Error::invalid("give at most one of --snapshot, --tag, --timestamp")),
            };
            let filter = filter.map(|f| parse_filter(&f)).transpose()?;
            let (_, stream) = t.scan(&from, columns.as_deref(), filter).await?;
            let batches: Vec<RecordBatch> = stream.try_collect().await?;
            let fields: Vec<_> = match &columns {
                Some(cs) => cs.iter().filter_map(|c| t.schema().field(c).cloned()).collect(),
                None => t.schema().fields.clone(),
            };
            print_batches(&batches, &fields, format, &mut emit)?;
        }
        Command::Snapshots { table, format } => {
            let t = open_table(wh, log_dir, &table).await?;
            let snaps = t.snapshot_manager().all().await?;
            if format == OutFormat::Jsonl {
                for s in &snaps {
                    emit(&serde_json::to_string(s).map_err(|e| Error::Internal(e.to_string()))?)?;
                }
            } else {
                let mut tbl = vec![vec![
                    "id".to_string(),
                    "schema".into(),
                    "kind".into(),
                    "commit user".into(),
                    "identifier".into(),
                    "time (UTC)".into(),
                    "total rows".into(),
                    "delta rows".into(),
                ]];
                for s in &snaps {
                    tbl.push(vec![
                        s.id.to_string(),
                        s.schema_id.to_string(),
                        format!("{:?}", s.commit_kind).to_uppercase(),
                        s.commit_user.clone(),
                        s.commit_identifier.to_string(),
                        dyntable_storage::datum::format_timestamp(s.time_millis, 0, 3),
                        s.total_record_count.map(|x| x.to_string()).unwrap_or_default(),
                        s.delta_record_count.map(|x| x.to_string()).unwrap_or_default(),
                    ]);
                }
                emit(&text_table(&tbl))?;
            }
        }
        Command::Files { table, snapshot, format } => {
            let t = open_table(wh, log_dir, &table).await?;
            let from = snapshot.map(ScanFrom::Snapshot).unwrap_or(ScanFrom::Latest);
            let plan = t.plan(&from, None).await?;
            let mut tbl = vec![vec![
                "partition".to_string(),
                "bucket".into(),
                "level".into(),
                "file".into(),
                "rows".into(),
                "bytes".into(),
                "min seq".into(),
                "max seq".into(),
                "schema".into(),
            ]];
            for split in &plan.splits {
                let part = t
                    .schema()
                    .partition_keys
                    .iter()
                    .zip(&split.partition)
                    .map(|(k, v)| format!("{k}={}", v.to_partition_string()))
                    .collect::<Vec<_>>()
                    .join("/");
                for f in &split.files {
                    if format == OutFormat::Jsonl {
                        emit(&serde_json::json!({"partition": part, "bucket": split.bucket, "level": f.level, "file": f.file_name, "rows": f.row_count, "bytes": f.file_size, "minSequenceNumber": f.min_sequence_number, "maxSequenceNumber": f.max_sequence_number, "schemaId": f.schema_id}).to_string())?;
                    } else {
                        tbl.push(vec![
                            part.clone(),
                            split.bucket.to_string(),
                            f.level.to_string(),
                            f.file_name.clone(),
                            f.row_count.to_string(),
                            f.file_size.to_string(),
                            f.min_sequence_number.to_string(),
                            f.max_sequence_number.to_string(),
                            f.schema_id.to_string(),
                        ]);
                    }
                }
            }
            if format == OutFormat::Table {
                emit(&text_table(&tbl))?;
            }
        }
        Command::Tag { action } => match action {
            TagAction::Create { table, name, snapshot } => {
                open_table(wh, log_dir, &table).await?.create_tag(&name, snapshot).await?;
                emit(&format!("created tag {name}"))?;
            }
            TagAction::Delete { table, name } => {
                open_table(wh, log_dir, &table).await?.delete_tag(&name).await?;
                emit(&format!("deleted tag {name}"))?;
            }
            TagAction::List { table } => {
                for (name, s) in open_table(wh, log_dir, &table).await?.snapshot_manager().tags().await? {
                    emit(&format!("{name}\tsnapshot {}", s.id))?;
                }
            }
        },
        Command::List { database } => {
            let catalog = open_catalog(wh, log_dir, false)?;
            match database {
                None => {
                    for d in catalog.list_databases().await? {
                        emit(&d)?;
                    }
                }
                Some(db) => {
                    for t in catalog.list_tables(&db).await? {
                        emit(&format!("{db}.{t}"))?;
                    }
                }
            }
        }
        Command::DropTable { table, if_exists } => {
            let catalog = open_catalog(wh, log_dir, false)?;
            catalog.drop_table(&Identifier::parse(&table)?, if_exists).await?;
            emit(&format!("dropped table {table}"))?;
        }
        Command::Sql(args) => dyntable_query::shell::run(wh, args).await?,
        Command::Compact { table, full, partitions } => {
            let t = open_table(wh, log_dir, &table).await?;
            let mut preds = Vec::new();
            for p in &partitions {
                let (k, v) =
                    p.split_once('=').ok_or_else(|| Error::invalid(format!("--partition `{p}` must be key=value")))?;
                if !t.schema().partition_keys.iter().any(|pk| pk == k) {
                    return Err(Error::invalid(format!(
                        "--partition `{p}`: `{k}` is not a partition column of {table} (partition columns: {:?})",
                        t.schema().partition_keys
                    )));
                }
                preds.push(dyntable_storage::Predicate::eq(k, dyntable_storage::Datum::String(v.to_string())));
            }
            let filter = match preds.len() {
                0 => None,
                1 => preds.pop(),
                _ => Some(dyntable_storage::Predicate::And(preds)),
            };
            let (id, m) = t.compact(full, filter.as_ref()).await?;
            match id {
                Some(id) => emit(&format!(
                    "compacted {table}: snapshot {id}; read {} bytes, wrote {} bytes in {} files, rewrote {} files, upgraded {}",
                    m.bytes_read,
                    m.bytes_written(),
                    m.files_written,
                    m.files_rewritten,
                    m.files_upgraded
                ))?,
                None => emit(&format!("nothing to compact in {table}"))?,
            }
        }
        Command::Stats { table, format } => {
            let t = open_table(wh, log_dir, &table).await?;
            let w = dyntable_storage::compact::manifest_write_stats(&t.snapshot_manager(), &t.manifest_store()).await?;
            let plan = t.plan(&ScanFrom::Latest, None).await?;
            let runs: Vec<usize> =
                plan.splits.iter().map(|s| dyntable_storage::compact::sorted_run_count(&s.files)).collect();
            let levels = dyntable_storage::compact::files_by_level(&plan.splits);
            let json = serde_json::json!({
                "snapshots": w.snapshots,
                "compactSnapshots": w.compact_snapshots,
                "appendedBytes": w.appended_bytes,
                "appendedFiles": w.appended_files,
                "compactedBytesByLevel": w.compacted_bytes_by_level,
                "compactedFiles": w.compacted_files,
                "upgradedFiles": w.upgraded_files,
                "writeAmplification": w.write_amplification(),
                "addedBytesRatio": w.added_bytes_ratio(),
                "buckets": runs.len(),
                "sortedRunsMax": runs.iter().max().copied().unwrap_or(0),
                "sortedRunsMean": if runs.is_empty() { 0.0 } else { runs.iter().sum::<usize>() as f64 / runs.len() as f64 },
                "liveFilesByLevel": levels.iter().map(|(l, (n, b))| (l.to_string(), serde_json::json!({"files": n, "bytes": b}))).collect::<serde_json::Map<_, _>>(),
            });
            if format == OutFormat::Jsonl {
                emit(&json.to_string())?;
            } else {
                emit(&format!("snapshots             {} ({} COMPACT)", w.snapshots, w.compact_snapshots))?;
                emit(&format!("appended              {} bytes in {} files", w.appended_bytes, w.appended_files))?;
                for (l, b) in &w.compacted_bytes_by_level {
                    emit(&format!("compaction -> level {l}  {b} bytes"))?;
                }
                emit(&format!("upgraded files        {}", w.upgraded_files))?;
                emit(&format!(
                    "write amplification   {:.2} (bytes written by appends and compactions / bytes appended)",
                    w.write_amplification()
                ))?;
                emit(&format!(
                    "sorted runs now       max {} mean {:.2} over {} buckets",
                    json["sortedRunsMax"],
                    json["sortedRunsMean"].as_f64().unwrap_or(0.0),
                    runs.len()
                ))?;
                for (l, (n, b)) in &levels {
                    emit(&format!("level {l}               {n} files, {b} bytes"))?;
                }
            }
        }
        Command::Demo { commits, rows } => {
            let mut result = Ok(());
            dyntable::demo::run(wh, commits, rows, |s| {
                if result.is_ok() {
                    result = emit(s);
                }
            })
            .await?;
            result?;
        }
    }
    Ok(())
}

fn print_batches(
    batches: &[RecordBatch],
    fields: &[dyntable_storage::DataField],
    format: OutFormat,
    emit: &mut impl FnMut(&str) -> Result<()>,
) -> Result<()> {
    match format {
        OutFormat::Jsonl => {
            for b in batches {
                for row in batch_to_json_rows(b, fields, JsonStyle::Plain)? {
                    emit(&serde_json::Value::Object(row).to_string())?;
                }
            }
        }
        OutFormat::Table => {
            let text = arrow::util::pretty::pretty_format_batches(batches)?;
            emit(&text.to_string())?;
            emit(&format!("{} rows", batches.iter().map(|b| b.num_rows()).sum::<usize>()))?;
        }
    }
    Ok(())
}

fn text_table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map(|r| r.len()).unwrap_or(0);
    let widths: Vec<usize> = (0..cols).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let line: Vec<String> = r.iter().enumerate().map(|(c, v)| format!("{v:<w$}", w = widths[c])).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
            out.push('\n');
        }
    }
    out.trim_end().to_string()
}
