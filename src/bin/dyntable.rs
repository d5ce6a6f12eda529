//! The `dyntable` command line: create tables, write files into them (one commit per call), scan with
//! time travel, list snapshots and files, manage tags, and run the demo.

use std::collections::BTreeMap;
use std::io::{StdoutLock, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use clap::{Args, Parser, Subcommand, ValueEnum};
use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;
use dyntable::convert::{batch_to_json_rows, read_csv, read_jsonl, read_parquet, JsonStyle};
use dyntable::{Catalog, Identifier, TableSpec};
use dyntable_query::filter::parse_predicate;
use dyntable_storage::stream::{ChangeReader, StartFrom};
use dyntable_storage::{
    Datum, Error, ExpireConfig, FileStoreTable, OverwriteScope, Predicate, Result, RollbackTarget, ScanFrom,
};
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
    CreateTable(CreateTableArgs),
    /// Write a file into a table as one commit.
    Write(WriteArgs),
    /// Print a table's rows.
    Scan(ScanArgs),
    /// Print the current (or as-of-snapshot) merged row of primary keys, by point lookup (no scan).
    Get(GetArgs),
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
    /// Expire old snapshots now, as Paimon's `expire_snapshots` (the table's `snapshot.*` options unless
    /// overridden): deletes the files only expired snapshots use, then the snapshots.
    ExpireSnapshots {
        table: String,
        /// Keep at most this many snapshots.
        #[arg(long)]
        retain_max: Option<usize>,
        /// Keep at least this many snapshots.
        #[arg(long)]
        retain_min: Option<usize>,
        /// Expire snapshots committed before this time (ISO-8601, e.g. 2024-01-01T12:00:00) instead of those
        /// older than `snapshot.time-retained`.
        #[arg(long)]
        older_than: Option<String>,
        /// Expire at most this many snapshots.
        #[arg(long)]
        max_deletes: Option<usize>,
    },
    /// Roll a table back to a snapshot or tag (Paimon's `rollback_to`): later snapshots, their tags and the files
    /// only they used are deleted; consumers past the target are reset to it. An administrative operation: no
    /// writer may run on the table meanwhile. Refused for tables with the embedded log.
    Rollback {
        table: String,
        #[arg(long, conflicts_with = "to_tag", required_unless_present = "to_tag")]
        to_snapshot: Option<i64>,
        #[arg(long)]
        to_tag: Option<String>,
    },
    /// Delete files under the table that no snapshot, tag or changelog references and that are older than
    /// --older-than (default: one day ago, as Paimon), so an in-flight commit is never broken.
    RemoveOrphanFiles {
        table: String,
        /// Only files last modified before this time (ISO-8601).
        #[arg(long)]
        older_than: Option<String>,
        /// List the orphans without deleting them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write amplification and LSM shape of a table, computed from its manifests.
    Stats {
        table: String,
        #[arg(long, value_enum, default_value = "table")]
        format: OutFormat,
    },
    /// Print a table's changes as they arrive, one JSON object per change with a `rowkind` field (tables with
    /// `log.system = 'embedded'`). Runs until interrupted unless --max-changes or --idle-exit-ms is given.
    Tail(TailArgs),
    /// Run the demo: a table receiving upserts and deletes, with scans, time travel and snapshots.
    Demo {
        #[arg(long, default_value_t = 5)]
        commits: usize,
        #[arg(long, default_value_t = 1000)]
        rows: usize,
    },
}

#[derive(Args)]
struct CreateTableArgs {
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
}

#[derive(Args)]
struct WriteArgs {
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
    /// With --overwrite: replace only partitions matching this filter (a SQL expression) on partition columns.
    #[arg(long)]
    overwrite_filter: Option<String>,
}

#[derive(Args)]
struct ScanArgs {
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
    /// A SQL expression on the table's columns, e.g. "dt = '2024-01-01' AND id > 3".
    #[arg(long)]
    filter: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    format: OutFormat,
}

#[derive(Args)]
struct GetArgs {
    table: String,
    /// A primary key as column=value pairs, e.g. `id=5,dt=2024-01-01` (every primary-key column once;
    /// repeatable for several keys).
    #[arg(long = "key", required = true)]
    keys: Vec<String>,
    #[arg(long)]
    snapshot: Option<i64>,
    #[arg(long, value_enum, default_value = "table")]
    format: OutFormat,
}

#[derive(Args)]
struct TailArgs {
    table: String,
    /// Where to start: `latest` (changes from now), `full` (the latest snapshot's rows, then changes),
    /// `compacted-full` (the latest compaction's snapshot's rows, then changes), `snapshot:N` (the changes of snapshot N and later), `snapshot-full:N` or `timestamp:T` (the changes of
    /// snapshots committed at or after T, ISO-8601 UTC or epoch millis). Tables without the embedded log are
    /// followed snapshot by snapshot (delta files, or changelog files with a changelog producer).
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
}

#[derive(Subcommand)]
enum TagAction {
    /// Tags a snapshot: `--snapshot N`, or the first committed at or after `--timestamp MS` (Paimon's
    /// `create_tag_from_timestamp`), else the latest.
    Create {
        table: String,
        name: String,
        #[arg(long, conflicts_with = "timestamp")]
        snapshot: Option<i64>,
        /// Milliseconds since the epoch.
        #[arg(long)]
        timestamp: Option<i64>,
    },
    /// Deletes tags (several separated by commas, as Paimon's `delete_tag`).
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

#[path = "dyntable/lifecycle.rs"]
mod lifecycle;
#[path = "dyntable/system.rs"]
mod system;

use lifecycle::{expire_snapshots, parse_older_than, remove_orphan_files, rollback};
use system::{files, snapshots};

/// What every subcommand works with: the warehouse, the directory of embedded logs, and standard output.
struct Cx {
    warehouse: String,
    log_dir: Option<PathBuf>,
    out: StdoutLock<'static>,
}

impl Cx {
    /// Prints one line.
    fn emit(&mut self, s: &str) -> Result<()> {
        writeln!(self.out, "{s}").map_err(|e| Error::invalid(format!("cannot write output: {e}")))
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::invalid(format!("cannot write output: {e}")))
    }

    fn catalog(&self, create: bool) -> Result<Catalog> {
        let catalog = Catalog::open(&self.warehouse, create)?;
        Ok(match &self.log_dir {
            Some(dir) => catalog.with_log_dir(dir),
            None => catalog,
        })
    }

    async fn table(&self, name: &str) -> Result<FileStoreTable> {
        self.catalog(false)?.get_table(&Identifier::parse(name)?).await
    }
}

fn parse_time(text: &str) -> Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let (ms, _) = dyntable_storage::datum::parse_timestamp(text)?;
    Ok(ms)
}

async fn run(cli: Cli) -> Result<()> {
    let mut cx = Cx { warehouse: cli.warehouse, log_dir: cli.log_dir, out: std::io::stdout().lock() };
    match cli.command {
        Command::CreateTable(args) => create_table(&mut cx, args).await,
        Command::Write(args) => write(&mut cx, args).await,
        Command::Tail(args) => tail(&mut cx, args).await,
        Command::Scan(args) => scan(&mut cx, args).await,
        Command::Get(args) => get(&mut cx, args).await,
        Command::Snapshots { table, format } => snapshots(&mut cx, &table, format).await,
        Command::Files { table, snapshot, format } => files(&mut cx, &table, snapshot, format).await,
        Command::Tag { action } => tag(&mut cx, action).await,
        Command::List { database } => list(&mut cx, database).await,
        Command::DropTable { table, if_exists } => {
            cx.catalog(false)?.drop_table(&Identifier::parse(&table)?, if_exists).await?;
            cx.emit(&format!("dropped table {table}"))
        }
        Command::Sql(args) => dyntable_query::shell::run(&cx.warehouse, args).await,
        Command::Compact { table, full, partitions } => compact(&mut cx, &table, full, &partitions).await,
        Command::Stats { table, format } => stats(&mut cx, &table, format).await,
        Command::ExpireSnapshots { table, retain_max, retain_min, older_than, max_deletes } => {
            let older_than_millis = older_than.as_deref().map(parse_older_than).transpose()?;
            let config = ExpireConfig { retain_max, retain_min, older_than_millis, max_deletes };
            expire_snapshots(&mut cx, &table, &config).await
        }
        Command::Rollback { table, to_snapshot, to_tag } => {
            let target = match (to_snapshot, to_tag) {
                (Some(id), None) => RollbackTarget::Snapshot(id),
                (None, Some(tag)) => RollbackTarget::Tag(tag),
                _ => return Err(Error::invalid("give one of --to-snapshot N, --to-tag T")),
            };
            rollback(&mut cx, &table, target).await
        }
        Command::RemoveOrphanFiles { table, older_than, dry_run } => {
            let older_than_millis = older_than.as_deref().map(parse_older_than).transpose()?;
            remove_orphan_files(&mut cx, &table, older_than_millis, dry_run).await
        }
        Command::Demo { commits, rows } => demo(&mut cx, commits, rows).await,
    }
}

async fn create_table(cx: &mut Cx, args: CreateTableArgs) -> Result<()> {
    let CreateTableArgs { table, schema, primary_key, partition, options, comment, if_not_exists } = args;
    let mut opts = BTreeMap::new();
    for o in options {
        let (k, v) = o.split_once('=').ok_or_else(|| Error::invalid(format!("option `{o}` must be key=value")))?;
        opts.insert(k.trim().to_string(), v.trim().to_string());
    }
    let catalog = cx.catalog(true)?;
    let ident = Identifier::parse(&table)?;
    let spec = TableSpec { schema, primary_key, partition, options: opts, comment };
    catalog.create_table(&ident, &spec, if_not_exists).await?;
    cx.emit(&format!("created table {ident}"))
}

async fn write(cx: &mut Cx, args: WriteArgs) -> Result<()> {
    let WriteArgs { table, file, format, row_kind_column, overwrite, overwrite_filter } = args;
    let t = cx.table(&table).await?;
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
                let p = parse_predicate(&f, t.schema())?;
                if !p.only_reads(&t.schema().partition_keys) {
                    return Err(Error::invalid(format!(
                        "--overwrite-filter `{f}` may only use partition columns {:?}",
                        t.schema().partition_keys
                    )));
                }
                OverwriteScope::Partitions(p)
            }
            None => OverwriteScope::Table,
        };
        Some(writer.overwrite(scope).await?)
    } else {
        writer.commit().await?
    };
    match id {
        Some(id) => cx.emit(&format!("wrote {total} rows to {table}: snapshot {id}")),
        None => cx.emit(&format!("nothing to write to {table}: {} has no rows", file.display())),
    }
}

async fn tail(cx: &mut Cx, args: TailArgs) -> Result<()> {
    let TailArgs { table, from, consumer, format: TailFormat::Jsonl, max_changes, idle_exit_ms } = args;
    let t = cx.table(&table).await?;
    let from: StartFrom = from.parse()?;
    let mut reader = match &consumer {
        Some(id) => ChangeReader::open_consumer(&t, id, from).await?,
        None => ChangeReader::open(&t, from).await?,
    };
    let fields = t.schema().fields.clone();
    let mut printed = 0u64;
    let mut last_save = Instant::now();
    let mut unsaved = false;
    while max_changes.is_none_or(|max| printed < max) {
        let next = match idle_exit_ms {
            Some(ms) => match tokio::time::timeout(Duration::from_millis(ms), reader.next()).await {
                Ok(next) => next?,
                Err(_) => break,
            },
            None => reader.next().await?,
        };
        let values = next.batch.project(&(1..next.batch.num_columns()).collect::<Vec<_>>())?;
        let kinds = next.batch.column(0).as_string::<i32>().clone();
        // Whole batches only, so that a consumer's saved position never skips a change.
        for (row, mut object) in batch_to_json_rows(&values, &fields, JsonStyle::Plain)?.into_iter().enumerate() {
            object.insert("rowkind".to_string(), serde_json::Value::String(kinds.value(row).to_string()));
            cx.emit(&serde_json::Value::Object(object).to_string())?;
            printed += 1;
        }
        cx.flush()?;
        if let (Some(id), false) = (&consumer, reader.in_snapshot_phase()) {
            unsaved = true;
            if last_save.elapsed() >= Duration::from_millis(200) {
                t.consumers().save(id, &reader.position()).await?;
                last_save = Instant::now();
                unsaved = false;
            }
        }
    }
    if let (Some(id), true) = (&consumer, unsaved) {
        t.consumers().save(id, &reader.position()).await?;
    }
    Ok(())
}

async fn scan(cx: &mut Cx, args: ScanArgs) -> Result<()> {
    let ScanArgs { table, snapshot, tag, timestamp, columns, filter, format } = args;
    let t = cx.table(&table).await?;
    let from = match (snapshot, tag, timestamp) {
        (Some(id), None, None) => ScanFrom::Snapshot(id),
        (None, Some(tag), None) => ScanFrom::Tag(tag),
        (None, None, Some(ts)) => ScanFrom::Timestamp(parse_time(&ts)?),
        (None, None, None) => ScanFrom::Latest,
        _ => return Err(Error::invalid("give at most one of --snapshot, --tag, --timestamp")),
    };
    let filter = filter.map(|f| parse_predicate(&f, t.schema())).transpose()?;
    let (_, stream) = t.scan(&from, columns.as_deref(), filter).await?;
    let batches: Vec<RecordBatch> = stream.try_collect().await?;
    let fields: Vec<_> = match &columns {
        Some(cs) => cs.iter().filter_map(|c| t.schema().field(c).cloned()).collect(),
        None => t.schema().fields.clone(),
    };
    print_batches(&batches, &fields, format, cx)
}

/// `get`: point lookups of whole primary keys. Each `--key` gives every primary-key column as `column=value`;
/// values parse as the column's type. Found rows print in key order; keys without a row are named on stderr.
async fn get(cx: &mut Cx, args: GetArgs) -> Result<()> {
    let GetArgs { table, keys, snapshot, format } = args;
    let t = cx.table(&table).await?;
    let schema = t.schema().clone();
    if schema.primary_keys.is_empty() {
        return Err(Error::invalid(format!(
            "table {table} has no primary key: `get` looks up primary keys; use `scan --filter`"
        )));
    }
    // Per key column, the value of each key (as text).
    let mut texts: BTreeMap<String, Vec<String>> =
        schema.primary_keys.iter().map(|k| (k.clone(), Vec::new())).collect();
    for key in &keys {
        let mut seen: Vec<&str> = Vec::new();
        for pair in key.split(',') {
            let (col, value) = pair
                .split_once('=')
                .ok_or_else(|| Error::invalid(format!("--key `{key}`: `{pair}` must be column=value")))?;
            let col = col.trim();
            let Some(values) = texts.get_mut(col) else {
                return Err(Error::invalid(match schema.field(col) {
                    Some(_) => format!(
                        "--key `{key}`: column `{col}` is not part of the primary key ({}) of {table}",
                        schema.primary_keys.join(", ")
                    ),
                    None => format!("--key `{key}`: {table} has no column `{col}`"),
                }));
            };
            if seen.contains(&col) {
                return Err(Error::invalid(format!("--key `{key}`: column `{col}` is given twice")));
            }
            seen.push(col);
            values.push(value.to_string());
        }
        if let Some(missing) = schema.primary_keys.iter().find(|k| !seen.contains(&k.as_str())) {
            return Err(Error::invalid(format!(
                "--key `{key}`: primary-key column `{missing}` is missing (the key of {table} is {})",
                schema.primary_keys.join(", ")
            )));
        }
    }
    let mut columns: Vec<(String, arrow::array::ArrayRef)> = Vec::new();
    for (col, values) in texts {
        let field = schema.field(&col).ok_or_else(|| Error::invalid(format!("no column `{col}`")))?;
        let strings = arrow::array::StringArray::from(values.clone());
        let ty = field.data_type.to_arrow();
        let opts = arrow::compute::CastOptions { safe: false, ..Default::default() };
        let array = match arrow::compute::cast_with_options(&strings, &ty, &opts) {
            Ok(a) => a,
            Err(_) => {
                // Name the first value that does not parse.
                let bad = values
                    .iter()
                    .find(|v| {
                        let one = arrow::array::StringArray::from(vec![v.as_str()]);
                        arrow::compute::cast_with_options(&one, &ty, &opts).is_err()
                    })
                    .cloned()
                    .unwrap_or_default();
                return Err(Error::invalid(format!(
                    "--key: `{bad}` is not a value of column `{col}` (type {})",
                    field
                        .data_type
                        .to_json()
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| field.data_type.to_json().to_string())
                )));
            }
        };
        columns.push((col, array));
    }
    let batch = RecordBatch::try_from_iter(columns)?;
    let from = snapshot.map_or(ScanFrom::Latest, ScanFrom::Snapshot);
    let result = t.lookup(&batch, &from).await?;
    for (i, found) in result.found.iter().enumerate() {
        if found.is_none() {
            eprintln!("no row for key {}", keys[i]);
        }
    }
    // Rows are in the order of the keys that have one.
    print_batches(&[result.rows], &schema.fields, format, cx)
}

async fn tag(cx: &mut Cx, action: TagAction) -> Result<()> {
    match action {
        TagAction::Create { table, name, snapshot, timestamp } => {
            let t = cx.table(&table).await?;
            let snapshot = match timestamp {
                Some(ms) => {
                    let found = t.snapshot_manager().all().await?.into_iter().find(|s| s.time_millis >= ms);
                    Some(found.map(|s| s.id).ok_or_else(|| {
                        Error::invalid(format!("no snapshot of {table} was committed at or after {ms}"))
                    })?)
                }
                None => snapshot,
            };
            t.create_tag(&name, snapshot).await?;
            cx.emit(&format!("created tag {name}"))
        }
        TagAction::Delete { table, name } => {
            let t = cx.table(&table).await?;
            for tag in name.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                t.delete_tag(tag).await?;
                cx.emit(&format!("deleted tag {tag}"))?;
            }
            Ok(())
        }
        TagAction::List { table } => {
            for (name, s) in cx.table(&table).await?.snapshot_manager().tags().await? {
                cx.emit(&format!("{name}\tsnapshot {}", s.id))?;
            }
            Ok(())
        }
    }
}

async fn list(cx: &mut Cx, database: Option<String>) -> Result<()> {
    let catalog = cx.catalog(false)?;
    match database {
        None => {
            for d in catalog.list_databases().await? {
                cx.emit(&d)?;
            }
        }
        Some(db) => {
            for t in catalog.list_tables(&db).await? {
                cx.emit(&format!("{db}.{t}"))?;
            }
        }
    }
    Ok(())
}

async fn compact(cx: &mut Cx, table: &str, full: bool, partitions: &[String]) -> Result<()> {
    let t = cx.table(table).await?;
    let mut preds = Vec::new();
    for p in partitions {
        let (k, v) = p.split_once('=').ok_or_else(|| Error::invalid(format!("--partition `{p}` must be key=value")))?;
        if !t.schema().partition_keys.iter().any(|pk| pk == k) {
            return Err(Error::invalid(format!(
                "--partition `{p}`: `{k}` is not a partition column of {table} (partition columns: {:?})",
                t.schema().partition_keys
            )));
        }
        preds.push(Predicate::eq(k, Datum::String(v.to_string())));
    }
    let filter = match preds.len() {
        0 => None,
        1 => preds.pop(),
        _ => Some(Predicate::And(preds)),
    };
    let (id, m) = t.compact(full, filter.as_ref()).await?;
    match id {
        Some(id) => cx.emit(&format!(
            "compacted {table}: snapshot {id}; read {} bytes, wrote {} bytes in {} files, rewrote {} files, upgraded {}",
            m.bytes_read,
            m.bytes_written(),
            m.files_written,
            m.files_rewritten,
            m.files_upgraded
        )),
        None => cx.emit(&format!("nothing to compact in {table}")),
    }
}

async fn stats(cx: &mut Cx, table: &str, format: OutFormat) -> Result<()> {
    let t = cx.table(table).await?;
    let w = dyntable_storage::compact::manifest_write_stats(&t.snapshot_manager(), &t.manifest_store()).await?;
    let plan = t.plan(&ScanFrom::Latest, None).await?;
    let runs: Vec<usize> = plan.splits.iter().map(|s| dyntable_storage::compact::sorted_run_count(&s.files)).collect();
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
        return cx.emit(&json.to_string());
    }
    cx.emit(&format!("snapshots             {} ({} COMPACT)", w.snapshots, w.compact_snapshots))?;
    cx.emit(&format!("appended              {} bytes in {} files", w.appended_bytes, w.appended_files))?;
    for (l, b) in &w.compacted_bytes_by_level {
        cx.emit(&format!("compaction -> level {l}  {b} bytes"))?;
    }
    cx.emit(&format!("upgraded files        {}", w.upgraded_files))?;
    cx.emit(&format!(
        "write amplification   {:.2} (bytes written by appends and compactions / bytes appended)",
        w.write_amplification()
    ))?;
    cx.emit(&format!(
        "sorted runs now       max {} mean {:.2} over {} buckets",
        json["sortedRunsMax"],
        json["sortedRunsMean"].as_f64().unwrap_or(0.0),
        runs.len()
    ))?;
    for (l, (n, b)) in &levels {
        cx.emit(&format!("level {l}               {n} files, {b} bytes"))?;
    }
    Ok(())
}

async fn demo(cx: &mut Cx, commits: usize, rows: usize) -> Result<()> {
    let mut result = Ok(());
    let warehouse = cx.warehouse.clone();
    dyntable::demo::run(&warehouse, commits, rows, |s| {
        if result.is_ok() {
            result = cx.emit(s);
        }
    })
    .await?;
    result
}

fn print_batches(
    batches: &[RecordBatch],
    fields: &[dyntable_storage::DataField],
    format: OutFormat,
    cx: &mut Cx,
) -> Result<()> {
    match format {
        OutFormat::Jsonl => {
            for b in batches {
                for row in batch_to_json_rows(b, fields, JsonStyle::Plain)? {
                    cx.emit(&serde_json::Value::Object(row).to_string())?;
                }
            }
        }
        OutFormat::Table => {
            let text = arrow::util::pretty::pretty_format_batches(batches)?;
            cx.emit(&text.to_string())?;
            cx.emit(&format!("{} rows", batches.iter().map(|b| b.num_rows()).sum::<usize>()))?;
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
