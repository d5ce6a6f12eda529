//! `dyntable --warehouse W sql`: an interactive SQL shell (line editing and history in
//! `~/.dyntable_history`), or one-shot with `-c/--command SQL` or `-f/--file FILE`.
//!
//! Output as an ASCII table, CSV or JSON lines (`--format`); each statement's row count and time go to
//! stderr (`--quiet` turns them off). In the shell a statement ends with `;`; `\q`, `quit` or `exit`
//! leaves. With `-c`/`-f` the first failing statement stops the run with its error.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;

use crate::lexer::{is_complete, split_statements};
use crate::session::{DyntableSession, StatementKind, StatementResult};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Jsonl,
}

/// Arguments of the `sql` command.
#[derive(Debug, Clone, clap::Args)]
pub struct ShellArgs {
    /// Run these statements (separated by `;`) and exit.
    #[arg(short = 'c', long = "command")]
    pub command: Option<String>,
    /// Run the statements of this file and exit.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Do not print row counts and timings.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Maps a DataFusion error to the storage error type the CLI reports (storage errors pass through).
fn to_storage_error(e: DataFusionError) -> dyntable_storage::Error {
    match e {
        DataFusionError::External(inner) => match inner.downcast::<dyntable_storage::Error>() {
            Ok(s) => *s,
            Err(other) => dyntable_storage::Error::Invalid(other.to_string()),
        },
        other => dyntable_storage::Error::Invalid(other.to_string()),
    }
}

/// Runs the shell (or the `-c` / `-f` statements) against `warehouse`.
pub async fn run(warehouse: &str, args: ShellArgs) -> dyntable_storage::Result<()> {
    let session = DyntableSession::open(warehouse).await.map_err(to_storage_error)?;
    let mut out = std::io::stdout();
    let script = match (&args.command, &args.file) {
        (Some(_), Some(_)) => {
            return Err(dyntable_storage::Error::invalid("give either -c/--command or -f/--file, not both"))
        }
        (Some(c), None) => Some(c.clone()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| dyntable_storage::Error::invalid(format!("cannot read `{}`: {e}", f.display())))?,
        ),
        (None, None) => None,
    };
    if let Some(script) = script {
        for stmt in split_statements(&script).map_err(to_storage_error)? {
            run_one(&session, &stmt, &args, &mut out).await.map_err(to_storage_error)?;
        }
        return Ok(());
    }
    repl(&session, &args).await
}

async fn run_one(
    session: &DyntableSession,
    stmt: &str,
    args: &ShellArgs,
    out: &mut impl Write,
) -> Result<(), DataFusionError> {
    let start = Instant::now();
    let result = session.execute(stmt).await?;
    print_result(&result, args.format, out)?;
    if !args.quiet {
        let elapsed = start.elapsed().as_secs_f64();
        match (result.kind, result.affected_rows) {
            (StatementKind::Query, _) => eprintln!("{} row(s) in {elapsed:.3}s", result.num_rows()),
            (StatementKind::Command, Some(n)) => eprintln!("{n} row(s) written in {elapsed:.3}s"),
            (StatementKind::Command, None) => eprintln!("ok in {elapsed:.3}s"),
        }
    }
    Ok(())
}

async fn repl(session: &DyntableSession, args: &ShellArgs) -> dyntable_storage::Result<()> {
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| dyntable_storage::Error::invalid(format!("cannot start the line editor: {e}")))?;
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".dyntable_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    eprintln!("dyntable SQL on `{}`; end statements with `;`, `\\q` to quit.", session.catalog().warehouse());
    let mut buffer = String::new();
    let mut out = std::io::stdout();
    loop {
        let prompt = if buffer.is_empty() { format!("{}> ", session.current_database()) } else { "   -> ".to_string() };
        let line = match editor.readline(&prompt) {
            Ok(l) => l,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(dyntable_storage::Error::invalid(format!("cannot read input: {e}"))),
        };
        if buffer.is_empty() && matches!(line.trim(), "\\q" | "quit" | "exit" | "quit;" | "exit;") {
            break;
        }
        if !buffer.is_empty() {
            buffer.push('\n');
        }
        buffer.push_str(&line);
        if !is_complete(&buffer) {
            continue;
        }
        let _ = editor.add_history_entry(buffer.as_str());
        match split_statements(&buffer) {
            Ok(stmts) => {
                for stmt in stmts {
                    if let Err(e) = run_one(session, &stmt, args, &mut out).await {
                        eprintln!("error: {e}");
                        break;
                    }
                }
            }
            Err(e) => eprintln!("error: {e}"),
        }
        buffer.clear();
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

/// Prints a statement's rows in `format` (nothing for a command without rows).
pub fn print_result(
    result: &StatementResult,
    format: OutputFormat,
    out: &mut impl Write,
) -> Result<(), DataFusionError> {
    if result.kind == StatementKind::Command {
        return Ok(());
    }
    let io = |e: std::io::Error| DataFusionError::Execution(format!("cannot write output: {e}"));
    match format {
        OutputFormat::Table => {
            let text = if result.batches.is_empty() {
                arrow::util::pretty::pretty_format_batches(&[RecordBatch::new_empty(result.schema.clone())])?
            } else {
                arrow::util::pretty::pretty_format_batches(&result.batches)?
            };
            writeln!(out, "{text}").map_err(io)?;
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut *out);
            if result.batches.is_empty() {
                w.write(&RecordBatch::new_empty(result.schema.clone()))?;
            }
            for b in &result.batches {
                w.write(b)?;
            }
        }
        OutputFormat::Jsonl => {
            for b in &result.batches {
                for line in json_lines(b)? {
                    writeln!(out, "{line}").map_err(io)?;
                }
            }
        }
    }
    out.flush().map_err(io)
}

/// Each row of `batch` as a JSON object: numbers and booleans as JSON values, NULL as null, everything
/// else as its display string.
pub fn json_lines(batch: &RecordBatch) -> Result<Vec<String>, DataFusionError> {
    let opts = FormatOptions::default();
    let schema = batch.schema();
    let formatters =
        batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &opts)).collect::<Result<Vec<_>, _>>()?;
    let mut lines = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let mut obj = serde_json::Map::new();
        for (i, f) in schema.fields().iter().enumerate() {
            let col = batch.column(i);
            let v = if col.is_null(r) {
                serde_json::Value::Null
            } else {
                let text = formatters[i].value(r).to_string();
                match f.data_type() {
                    DataType::Boolean => serde_json::Value::Bool(text == "true"),
                    t if t.is_integer() || t.is_floating() => text
                        .parse::<serde_json::Number>()
                        .map(serde_json::Value::Number)
                        .unwrap_or(serde_json::Value::String(text)),
                    _ => serde_json::Value::String(text),
                }
            };
            obj.insert(f.name().clone(), v);
        }
        lines.push(serde_json::Value::Object(obj).to_string());
    }
    Ok(lines)
}
