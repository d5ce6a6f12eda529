//! [`DyntableSession`]: SQL end to end over a warehouse, in the dialect Paimon and Flink users write.
//!
//! Statements dyntable handles itself (parsed with [`crate::lexer`]):
//!
//! | statement | notes |
//! | --- | --- |
//! | `CREATE DATABASE [IF NOT EXISTS] db` | |
//! | `CREATE TABLE [IF NOT EXISTS] [db.]t (col TYPE [NOT NULL] [COMMENT '..'], ..., PRIMARY KEY (..) NOT ENFORCED) [COMMENT '..'] [PARTITIONED BY (..)] [WITH ('k' = 'v', ..)]` | Paimon types (`STRING`, `DECIMAL(p, s)`, `TIMESTAMP(3)`, `ARRAY<INT>`, ...) |
//! | `DROP TABLE [IF EXISTS] t` | |
//! | `SHOW DATABASES`, `SHOW TABLES [FROM db]`, `SHOW CREATE TABLE t`, `DESCRIBE t`, `USE db` | |
//! | `INSERT INTO t [PARTITION (k = v, ..)] [(cols)] VALUES ... \| SELECT ...` | positional; types must be compatible (no string to number) |
//! | `INSERT OVERWRITE t [PARTITION (k = v, ..)] ...` | replaces the whole table (unpartitioned), the partitions of the `PARTITION` spec, or else the partitions the new rows fall in (dynamic overwrite, as Paimon's default `dynamic-partition-overwrite`) |
//! | `DELETE FROM t [WHERE ..]` | primary-key tables: matching rows are written as `-D` |
//! | `UPDATE t SET c = expr, .. [WHERE ..]` | primary-key tables: `-U` (old) and `+U` (new) rows; key columns cannot be set |
//! | `ALTER TABLE t SET ('k' = 'v', ..)`, `ALTER TABLE t RESET ('k', ..)` | publishes schema N+1 |
//! | `CALL sys.create_tag('db.t', 'tag'[, snapshot_id])`, `CALL sys.delete_tag('db.t', 'tag')` | |
//!
//! Queries (`SELECT`, `WITH`, `VALUES`, `EXPLAIN`) go to DataFusion, after rewriting time travel:
//!
//! - `FROM t FOR SYSTEM_TIME AS OF TIMESTAMP '2024-01-01 12:00:00'` (Flink; also a bare string, or a number
//!   of epoch milliseconds): the latest snapshot committed at or before that time (UTC);
//! - `FROM t VERSION AS OF 3` (Spark): snapshot 3; `VERSION AS OF 'tag'`: a tag;
//!   `FROM t TIMESTAMP AS OF '2024-01-01 12:00:00'`: as `FOR SYSTEM_TIME`;
//! - `FROM t /*+ OPTIONS('scan.snapshot-id' = '3') */` (Flink dynamic options): `scan.snapshot-id`,
//!   `scan.tag-name`, `scan.timestamp-millis`, `scan.timestamp`, `scan.version`.
//!
//! System tables are `t$snapshots`, `t$schemas`, `t$options`, `t$files`, `t$manifests`, `t$partitions`,
//! `t$audit_log`, `t$tags`, `t$consumers` (see [`crate::system`]).
//!
//! Unquoted names are case-insensitive (folded to lower case, as DataFusion does); quote to keep case.
//! Every failure is an error naming what is wrong; a failed statement commits nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow::array::{new_null_array, Array, ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::compute::{self, CastOptions};
use arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{SessionConfig, SessionContext};
use dyntable_storage::options::CoreOptions;
use dyntable_storage::schema::SchemaManager;
use dyntable_storage::types::{parse_sql_fields, TypeKind};
use dyntable_storage::{
    Catalog, CmpOp, DataField, DataType, Datum, FileStoreTable, Identifier, OverwriteScope, Predicate, ScanFrom,
    TableSchema,
};
use futures::StreamExt;

use crate::catalog::{external, DyntableCatalogProvider, TableName, CATALOG_NAME};
use crate::lexer::{split_statements, tokenize, Kind, Token};

/// The column that carries row kinds from the session to the table writer (not stored).
const ROW_KIND_COLUMN: &str = "__dyntable_rowkind";

/// What a statement was: a query with rows, or a command (DDL, DML) with an optional row count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    Query,
    Command,
}

/// The result of one statement.
#[derive(Debug, Clone)]
pub struct StatementResult {
    pub kind: StatementKind,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// Rows written by INSERT / DELETE / UPDATE.
    pub affected_rows: Option<u64>,
}

impl StatementResult {
    fn command(affected_rows: Option<u64>) -> Self {
        StatementResult {
            kind: StatementKind::Command,
            schema: Arc::new(Schema::empty()),
            batches: Vec::new(),
            affected_rows,
        }
    }

    fn rows(columns: Vec<(&str, ArrayRef)>) -> Result<Self> {
        let schema = Arc::new(Schema::new(
            columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect())?;
        Ok(StatementResult { kind: StatementKind::Query, schema, batches: vec![batch], affected_rows: None })
    }

    /// The number of result rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// A SQL session over one warehouse: DataFusion plus dyntable's catalog, DDL and DML.
pub struct DyntableSession {
    ctx: SessionContext,
    catalog: Catalog,
    provider: Arc<DyntableCatalogProvider>,
    database: Mutex<String>,
}

fn plan_err(msg: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(msg.into())
}

impl DyntableSession {
    /// Opens (creating if needed) the warehouse at `warehouse` with a `default` database.
    pub async fn open(warehouse: &str) -> Result<Self> {
        let catalog = Catalog::open(warehouse, true).map_err(external)?;
        Self::new(catalog, SessionConfig::new()).await
    }

    /// A session over `catalog`; `config` tunes DataFusion (e.g. `target_partitions`).
    pub async fn new(catalog: Catalog, config: SessionConfig) -> Result<Self> {
        catalog.create_database("default", true).await.map_err(external)?;
        let config = config
            .with_default_catalog_and_schema(CATALOG_NAME, "default")
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false);
        let ctx = SessionContext::new_with_config(config);
        let databases = catalog.list_databases().await.map_err(external)?;
        let provider = Arc::new(DyntableCatalogProvider::new(catalog.clone(), databases));
        ctx.register_catalog(CATALOG_NAME, provider.clone());
        Ok(DyntableSession { ctx, catalog, provider, database: Mutex::new("default".into()) })
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The database unqualified table names resolve in.
    pub fn current_database(&self) -> String {
        self.database.lock().map(|d| d.clone()).unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Runs every statement of `text` (separated by `;`) and returns the last one's rows; a command
    /// returns one `count` row when it wrote rows, else nothing.
    pub async fn sql(&self, text: &str) -> Result<Vec<RecordBatch>> {
        let mut last = Vec::new();
        for stmt in split_statements(text)? {
            let r = self.execute(&stmt).await?;
            last = match (r.kind, r.affected_rows) {
                (StatementKind::Command, Some(n)) => {
                    let schema = Arc::new(Schema::new(vec![Field::new("count", ArrowType::UInt64, false)]));
                    vec![RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from(vec![n]))])?]
                }
                _ => r.batches,
            };
        }
        Ok(last)
    }

    /// Runs one statement (no trailing `;` needed).
    pub async fn execute(&self, statement: &str) -> Result<StatementResult> {
        let statement = statement.trim().trim_end_matches(';');
        let mut p = Parser::new(statement)?;
        let Some(first) = p.peek() else { return Err(plan_err("empty statement")) };
        let first = first.text(statement).to_ascii_uppercase();
        match first.as_str() {
            "SELECT" | "WITH" | "VALUES" | "EXPLAIN" | "(" => self.query(statement).await,
            "CREATE" => {
                p.next();
                if p.eat_kw("DATABASE") || p.eat_kw("SCHEMA") {
                    self.create_database(&mut p).await
                } else if p.eat_kw("TABLE") {
                    self.create_table(&mut p).await
                } else {
                    Err(unsupported(statement))
                }
            }
            "DROP" => {
                p.next();
                if p.eat_kw("TABLE") {
                    let if_exists = p.eat_kws(&["IF", "EXISTS"]);
                    let ident = self.table_ident(&mut p)?;
                    p.expect_end()?;
                    self.catalog.drop_table(&ident, if_exists).await.map_err(external)?;
                    Ok(StatementResult::command(None))
                } else {
                    Err(unsupported(statement))
                }
            }
            "SHOW" => self.show(&mut p, statement).await,
            "DESCRIBE" | "DESC" => {
                p.next();
                let ident = self.table_ident(&mut p)?;
                p.expect_end()?;
                self.describe(&ident).await
            }
            "USE" => {
                p.next();
                let db = p.ident()?;
                p.expect_end()?;
                if !self.catalog.list_databases().await.map_err(external)?.contains(&db) {
                    return Err(plan_err(format!("database `{db}` does not exist")));
                }
                self.ctx.state_ref().write().config_mut().options_mut().catalog.default_schema = db.clone();
                *self.database.lock().unwrap_or_else(|e| e.into_inner()) = db;
                Ok(StatementResult::command(None))
            }
            "INSERT" => self.insert(&mut p).await,
            "DELETE" => self.delete(&mut p).await,
            "UPDATE" => self.update(&mut p).await,
            "ALTER" => self.alter(&mut p, statement).await,
            "CALL" => self.call(&mut p).await,
            _ => Err(unsupported(statement)),
        }
    }

    // ---------------------------------------------------------------- queries

    async fn query(&self, text: &str) -> Result<StatementResult> {
        let rewritten = self.rewrite_query(text)?;
        let df = self
            .ctx
            .sql_with_options(&rewritten, SQLOptions::new().with_allow_ddl(false).with_allow_dml(false))
            .await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        Ok(StatementResult { kind: StatementKind::Query, schema, batches, affected_rows: None })
    }

    /// Runs a query for DML and streams its batches into `each`.
    async fn stream_query(&self, text: &str) -> Result<(SchemaRef, datafusion::execution::SendableRecordBatchStream)> {
        let rewritten = self.rewrite_query(text)?;
        let df = self
            .ctx
            .sql_with_options(&rewritten, SQLOptions::new().with_allow_ddl(false).with_allow_dml(false))
            .await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        Ok((schema, df.execute_stream().await?))
    }

    /// Rewrites time travel clauses and `OPTIONS` hints into encoded table names DataFusion resolves
    /// through [`crate::catalog`].
    pub fn rewrite_query(&self, text: &str) -> Result<String> {
        let tokens = tokenize(text)?;
        let sig: Vec<Token> = tokens.into_iter().filter(|t| t.kind != Kind::Space).collect();
        let mut edits: Vec<(usize, usize, String)> = Vec::new();
        let mut i = 0;
        while i < sig.len() {
            let t = sig[i];
            let kw = |j: usize, k: &str| sig.get(j).is_some_and(|t| t.is_kw(text, k));
            // (clause start, clause end index exclusive, target)
            let found: Option<(usize, usize, ScanFrom)> = if t.kind == Kind::Hint {
                Some((i, i + 1, parse_hint(t.text(text))?))
            } else if t.is_kw(text, "FOR") && kw(i + 1, "SYSTEM_TIME") && kw(i + 2, "AS") && kw(i + 3, "OF") {
                let (from, end) = time_value(text, &sig, i + 4, "FOR SYSTEM_TIME AS OF")?;
                Some((i, end, from))
            } else if (t.is_kw(text, "VERSION") || t.is_kw(text, "TIMESTAMP"))
                && kw(i + 1, "AS")
                && kw(i + 2, "OF")
                && i > 0
                && is_name_token(&sig[i - 1])
            {
                if t.is_kw(text, "VERSION") {
                    let v =
                        sig.get(i + 3).ok_or_else(|| plan_err("VERSION AS OF needs a snapshot id or a tag name"))?;
                    let from = match v.kind {
                        Kind::Number => ScanFrom::Snapshot(parse_snapshot_id(v.text(text))?),
                        Kind::String => {
                            let s = v.value(text);
                            match s.parse::<i64>() {
                                Ok(id) => ScanFrom::Snapshot(id),
                                Err(_) => ScanFrom::Tag(s),
                            }
                        }
                        _ => {
                            return Err(plan_err(format!(
                                "VERSION AS OF needs a snapshot id or a tag name, got `{}`",
                                v.text(text)
                            )))
                        }
                    };
                    Some((i, i + 4, from))
                } else {
                    let (from, end) = time_value(text, &sig, i + 3, "TIMESTAMP AS OF")?;
                    Some((i, end, from))
                }
            } else {
                None
            };
            let Some((clause_start, clause_end, from)) = found else {
                i += 1;
                continue;
            };
            // The table name right before the clause: ident ('.' ident)*.
            let mut name_start = clause_start;
            let mut parts = Vec::new();
            loop {
                if name_start == 0 || !is_name_token(&sig[name_start - 1]) {
                    break;
                }
                parts.insert(0, sig[name_start - 1]);
                name_start -= 1;
                if name_start >= 2 && sig[name_start - 1].is_punct(text, ".") {
                    name_start -= 1;
                } else {
                    break;
                }
            }
            let preceded_ok = name_start > 0 && {
                let p = sig[name_start - 1];
                p.is_kw(text, "FROM") || p.is_kw(text, "JOIN") || p.is_punct(text, ",")
            };
            if parts.is_empty() || !preceded_ok {
                return Err(plan_err(format!(
                    "`{}` must follow a table name in a FROM clause",
                    sig[clause_start].text(text)
                )));
            }
            let names: Vec<String> = parts.iter().map(|p| ident_value(p, text)).collect();
            let ident = self.resolve_name(&names)?;
            let mut replacement =
                format!("{}.{}", quote(&ident.database), quote(&TableName::encode(&ident.table, &from)));
            let next = sig.get(clause_end);
            let has_alias = next.is_some_and(|n| {
                n.kind == Kind::QuotedIdent
                    || (n.kind == Kind::Word && !RESERVED_AFTER_TABLE.iter().any(|r| n.is_kw(text, r)))
            });
            if !has_alias {
                replacement.push_str(&format!(" AS {}", quote(&ident.table)));
            }
            edits.push((sig[name_start].start, sig[clause_end - 1].end, replacement));
            i = clause_end;
        }
        let mut out = text.to_string();
        for (start, end, replacement) in edits.into_iter().rev() {
            out.replace_range(start..end, &replacement);
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- names

    /// `t`, `db.t` or `catalog.db.t` as an identifier in the current database.
    fn resolve_name(&self, parts: &[String]) -> Result<Identifier> {
        let (database, table) = match parts {
            [t] => (self.current_database(), t.clone()),
            [db, t] => (db.clone(), t.clone()),
            [_, db, t] => (db.clone(), t.clone()),
            _ => return Err(plan_err(format!("`{}` is not a table name", parts.join(".")))),
        };
        if table.contains('@') || table.contains('$') {
            return Err(plan_err(format!(
                "`{database}.{table}`: `$` and `@` are reserved for system tables and time travel"
            )));
        }
        Ok(Identifier { database, table })
    }

    fn table_ident(&self, p: &mut Parser) -> Result<Identifier> {
        let parts = p.object_name()?;
        self.resolve_name(&parts)
    }

    async fn table(&self, ident: &Identifier) -> Result<FileStoreTable> {
        self.catalog.get_table(ident).await.map_err(external)
    }

    async fn refresh_databases(&self) -> Result<()> {
        self.provider.set_databases(self.catalog.list_databases().await.map_err(external)?);
        Ok(())
    }

    // ---------------------------------------------------------------- DDL

    async fn create_database(&self, p: &mut Parser<'_>) -> Result<StatementResult> {
        let if_not_exists = p.eat_kws(&["IF", "NOT", "EXISTS"]);
        let name = p.ident()?;
        p.expect_end()?;
        self.catalog.create_database(&name, if_not_exists).await.map_err(external)?;
        self.refresh_databases().await?;
        Ok(StatementResult::command(None))
    }

    async fn create_table(&self, p: &mut Parser<'_>) -> Result<StatementResult> {
        let if_not_exists = p.eat_kws(&["IF", "NOT", "EXISTS"]);
        let ident = self.table_ident(p)?;
        if p.peek_kw("AS") || p.peek_kw("LIKE") {
            return Err(plan_err("CREATE TABLE ... AS SELECT / LIKE is not supported; create the table with its columns, then INSERT INTO ... SELECT"));
        }
        let src = p.src;
        let elements = p.paren_elements()?;
        let mut columns: Vec<(String, String, Option<String>)> = Vec::new();
        let mut primary_key: Vec<String> = Vec::new();
        for el in elements {
            let mut e = Parser::from_tokens(src, el);
            if e.eat_kw("CONSTRAINT") {
                e.ident()?;
            }
            if e.eat_kw("PRIMARY") {
                e.expect_kw("KEY")?;
                if !primary_key.is_empty() {
                    return Err(plan_err(format!("table `{ident}` declares its primary key twice")));
                }
                primary_key = e.ident_list()?;
                e.eat_kws(&["NOT", "ENFORCED"]);
                e.expect_end()?;
                continue;
            }
            if e.peek_kw("WATERMARK") || e.peek_kw("LIKE") {
                return Err(plan_err(format!("`{}` in CREATE TABLE is not supported", e.rest())));
            }
            let name = e.ident()?;
            let type_start = e.pos;
            while let Some(t) = e.peek() {
                if t.is_kw(src, "PRIMARY") || t.is_kw(src, "COMMENT") || t.is_kw(src, "AS") || t.is_kw(src, "METADATA")
                {
                    break;
                }
                e.next();
            }
            if type_start == e.pos {
                return Err(plan_err(format!("column `{name}` of table `{ident}` has no type")));
            }
            let type_text = src[e.toks[type_start].start..e.toks[e.pos - 1].end].to_string();
            let mut comment = None;
            loop {
                if e.eat_kw("PRIMARY") {
                    e.expect_kw("KEY")?;
                    e.eat_kws(&["NOT", "ENFORCED"]);
                    if !primary_key.is_empty() {
                        return Err(plan_err(format!("table `{ident}` declares its primary key twice")));
                    }
                    primary_key = vec![name.clone()];
                } else if e.eat_kw("COMMENT") {
                    comment = Some(e.string()?);
                } else if e.peek().is_some() {
                    return Err(plan_err(format!(
                        "column `{name}`: `{}` is not supported (computed and metadata columns are not)",
                        e.rest()
                    )));
                } else {
                    break;
                }
            }
            columns.push((name, type_text, comment));
        }
        let mut comment = None;
        let mut partition = Vec::new();
        let mut options = BTreeMap::new();
        while p.peek().is_some() {
            if p.eat_kw("COMMENT") {
                comment = Some(p.string()?);
            } else if p.eat_kws(&["PARTITIONED", "BY"]) {
                partition = p.ident_list()?;
            } else if p.eat_kw("WITH") {
                options = p.option_list()?;
            } else {
                return Err(plan_err(format!("unexpected `{}` after the columns of CREATE TABLE `{ident}`", p.rest())));
            }
        }
        if columns.is_empty() {
            return Err(plan_err(format!("table `{ident}` has no columns")));
        }
        let mut text = String::new();
        for (i, (name, ty, _)) in columns.iter().enumerate() {
            if name.contains('`') {
                return Err(plan_err(format!("column name `{name}` must not contain a backtick")));
            }
            if i > 0 {
                text.push_str(", ");
            }
            text.push_str(&format!("`{name}` {ty}"));
        }
        let (mut fields, highest) =
            parse_sql_fields(&text).map_err(|e| plan_err(format!("CREATE TABLE `{ident}`: {e}")))?;
        for (f, (_, _, c)) in fields.iter_mut().zip(&columns) {
            f.description = c.clone();
        }
        let schema = TableSchema::new(fields, highest, partition, primary_key, options, comment)
            .map_err(|e| plan_err(format!("CREATE TABLE `{ident}`: {e}")))?;
        self.catalog.create_table_with_schema(&ident, schema, if_not_exists).await.map_err(external)?;
        self.refresh_databases().await?;
        Ok(StatementResult::command(None))
    }

    async fn show(&self, p: &mut Parser<'_>, statement: &str) -> Result<StatementResult> {
        p.next();
        if p.eat_kw("DATABASES") || p.eat_kw("SCHEMAS") {
            p.expect_end()?;
            let dbs = self.catalog.list_databases().await.map_err(external)?;
            return StatementResult::rows(vec![("database_name", Arc::new(StringArray::from(dbs)) as ArrayRef)]);
        }
        if p.eat_kw("TABLES") {
            let db = if p.eat_kw("FROM") || p.eat_kw("IN") { p.ident()? } else { self.current_database() };
            p.expect_end()?;
            if !self.catalog.list_databases().await.map_err(external)?.contains(&db) {
                return Err(plan_err(format!("database `{db}` does not exist")));
            }
            let tables = self.catalog.list_tables(&db).await.map_err(external)?;
            return StatementResult::rows(vec![("table_name", Arc::new(StringArray::from(tables)) as ArrayRef)]);
        }
        if p.eat_kws(&["CREATE", "TABLE"]) {
            let ident = self.table_ident(p)?;
            p.expect_end()?;
            let table = self.table(&ident).await?;
            return StatementResult::rows(vec![(
                "create_statement",
                Arc::new(StringArray::from(vec![show_create(&ident, table.schema())])) as ArrayRef,
            )]);
        }
        Err(unsupported(statement))
    }

    async fn describe(&self, ident: &Identifier) -> Result<StatementResult> {
        let table = self.table(ident).await?;
        let s = table.schema();
        let f = &s.fields;
        StatementResult::rows(vec![
            ("name", Arc::new(StringArray::from(f.iter().map(|f| f.name.clone()).collect::<Vec<_>>())) as ArrayRef),
            ("type", Arc::new(StringArray::from(f.iter().map(|f| type_text(&f.data_type)).collect::<Vec<_>>()))),
            (
                "nullable",
                Arc::new(arrow::array::BooleanArray::from(f.iter().map(|f| f.data_type.nullable).collect::<Vec<_>>())),
            ),
            (
                "primary_key",
                Arc::new(arrow::array::BooleanArray::from(
                    f.iter().map(|f| s.primary_keys.contains(&f.name)).collect::<Vec<_>>(),
                )),
            ),
            (
                "partition_key",
                Arc::new(arrow::array::BooleanArray::from(
                    f.iter().map(|f| s.partition_keys.contains(&f.name)).collect::<Vec<_>>(),
                )),
            ),
            ("comment", Arc::new(StringArray::from(f.iter().map(|f| f.description.clone()).collect::<Vec<_>>()))),
        ])
    }

    async fn alter(&self, p: &mut Parser<'_>, statement: &str) -> Result<StatementResult> {
        p.next();
        p.expect_kw("TABLE")?;
        let ident = self.table_ident(p)?;
        let table = self.table(&ident).await?;
        let manager = SchemaManager::new(table.io().clone());
        let latest = manager
            .latest()
            .await
            .map_err(external)?
            .ok_or_else(|| plan_err(format!("table `{ident}` has no schema")))?;
        let mut next = latest.clone();
        let changed: Vec<String>;
        if p.eat_kw("SET") {
            let options = p.option_list()?;
            p.expect_end()?;
            CoreOptions::check_known_keys(&options).map_err(|e| plan_err(format!("ALTER TABLE `{ident}`: {e}")))?;
            changed = options.keys().cloned().collect();
            next.options.extend(options);
        } else if p.eat_kw("RESET") {
            let keys = p.string_list()?;
            p.expect_end()?;
            for k in &keys {
                next.options.remove(k);
            }
            changed = keys;
        } else {
            return Err(unsupported(statement));
        }
        for k in &changed {
            if IMMUTABLE_OPTIONS.contains(&k.as_str()) && latest.options.get(k) != next.options.get(k) {
                return Err(plan_err(format!(
                    "ALTER TABLE `{ident}`: option `{k}` cannot be changed on an existing table"
                )));
            }
        }
        next.id = latest.id + 1;
        next.validate().map_err(|e| plan_err(format!("ALTER TABLE `{ident}`: {e}")))?;
        manager.commit(&next).await.map_err(external)?;
        Ok(StatementResult::command(None))
    }

    async fn call(&self, p: &mut Parser<'_>) -> Result<StatementResult> {
        p.next();
        let name = p.object_name()?.join(".");
        let args = p.call_args()?;
        p.expect_end()?;
        let arg = |i: usize, named: &str| -> Option<String> {
            args.iter()
                .find(|(n, _)| n.as_deref() == Some(named))
                .or_else(|| args.get(i).filter(|a| a.0.is_none()))
                .map(|a| a.1.clone())
        };
        let table_arg = |ident_text: Option<String>| -> Result<Identifier> {
            let t = ident_text
                .ok_or_else(|| plan_err(format!("CALL {name}: the first argument names the table ('db.t')")))?;
            let parts: Vec<String> = t.split('.').map(str::to_string).collect();
            self.resolve_name(&parts)
        };
        match name.as_str() {
            "sys.create_tag" => {
                let ident = table_arg(arg(0, "table"))?;
                let tag = arg(1, "tag").ok_or_else(|| plan_err("CALL sys.create_tag: missing the tag name"))?;
                let snapshot = match arg(2, "snapshot_id") {
                    Some(s) => Some(parse_snapshot_id(&s)?),
                    None => None,
                };
                self.table(&ident).await?.create_tag(&tag, snapshot).await.map_err(external)?;
            }
            "sys.delete_tag" => {
                let ident = table_arg(arg(0, "table"))?;
                let tag = arg(1, "tag").ok_or_else(|| plan_err("CALL sys.delete_tag: missing the tag name"))?;
                self.table(&ident).await?.delete_tag(&tag).await.map_err(external)?;
            }
            other => {
                return Err(plan_err(format!("unknown procedure `{other}`; supported: sys.create_tag, sys.delete_tag")))
            }
        }
        Ok(StatementResult::command(None))
    }

    // ---------------------------------------------------------------- DML

    async fn insert(&self, p: &mut Parser<'_>) -> Result<StatementResult> {
        p.next();
        let overwrite = if p.eat_kw("INTO") {
            false
        } else if p.eat_kw("OVERWRITE") {
            true
        } else {
            return Err(plan_err("expected INSERT INTO or INSERT OVERWRITE"));
        };
        p.eat_kw("TABLE");
        let ident = self.table_ident(p)?;
        let table = self.table(&ident).await?;
        let schema = table.schema().clone();
        let what = format!("INSERT INTO `{ident}`");
        // Static partition values.
        let mut statics: Vec<(String, ArrayRef)> = Vec::new();
        if p.eat_kw("PARTITION") {
            p.expect_punct("(")?;
            loop {
                let k = p.ident()?;
                let f = schema
                    .field(&k)
                    .ok_or_else(|| plan_err(format!("{what}: PARTITION names unknown column `{k}`")))?;
                if !schema.partition_keys.contains(&k) {
                    return Err(plan_err(format!(
                        "{what}: `{k}` is not a partition key (partition keys: {:?})",
                        schema.partition_keys
                    )));
                }
                p.expect_punct("=")?;
                let v = p.literal()?;
                let arr = cast_to_column(&v.to_array()?, f, &what)?;
                statics.push((k, arr));
                if !p.eat_punct(",") {
                    break;
                }
            }
            p.expect_punct(")")?;
        }
        // An explicit column list, unless the parenthesis opens the query.
        let target: Vec<String>;
        if p.peek().is_some_and(|t| t.is_punct(p.src, "("))
            && !p
                .peek_at(1)
                .is_some_and(|t| t.is_kw(p.src, "SELECT") || t.is_kw(p.src, "WITH") || t.is_kw(p.src, "VALUES"))
        {
            target = p.ident_list()?;
            for c in &target {
                if schema.field(c).is_none() {
                    return Err(plan_err(format!("{what}: unknown column `{c}` (columns: {})", column_names(&schema))));
                }
                if statics.iter().any(|(k, _)| k == c) {
                    return Err(plan_err(format!(
                        "{what}: column `{c}` is given both in PARTITION and in the column list"
                    )));
                }
            }
        } else {
            target =
                schema.fields.iter().map(|f| f.name.clone()).filter(|n| !statics.iter().any(|(k, _)| k == n)).collect();
        }
        let query = p.rest();
        if query.is_empty() {
            return Err(plan_err(format!("{what}: missing VALUES or SELECT")));
        }
        let (source_schema, mut stream) = self.stream_query(query).await?;
        if source_schema.fields().len() != target.len() {
            return Err(plan_err(format!(
                "{what}: the query produces {} column(s) but {} are expected ({})",
                source_schema.fields().len(),
                target.len(),
                target.join(", ")
            )));
        }
        if overwrite {
            table.check_overwrite().map_err(external)?;
        }
        let mut writer = table.writer().await.map_err(external)?;
        let mut rows = 0u64;
        let mut partitions: BTreeMap<String, Vec<Datum>> = BTreeMap::new();
        let dynamic = overwrite && statics.is_empty() && !schema.partition_keys.is_empty();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            let out = conform(&schema, &target, &statics, &batch, &what)?;
            if dynamic {
                for row in 0..out.num_rows() {
                    let values = schema
                        .partition_keys
                        .iter()
                        .map(|k| {
                            let f = schema.field(k).expect("partition key is a column");
                            let i = schema.field_index(k).expect("partition key is a column");
                            Datum::from_array(out.column(i).as_ref(), row, &f.data_type).map_err(external)
                        })
                        .collect::<Result<Vec<_>>>()?;
                    partitions.entry(format!("{values:?}")).or_insert(values);
                }
            }
            rows += out.num_rows() as u64;
            writer.write(&out).await.map_err(external)?;
        }
        if !overwrite {
            writer.commit().await.map_err(external)?;
            return Ok(StatementResult::command(Some(rows)));
        }
        let scope = if schema.partition_keys.is_empty() {
            OverwriteScope::Table
        } else if !statics.is_empty() {
            let parts = statics
                .iter()
                .map(|(k, a)| {
                    let f = schema.field(k).expect("checked");
                    let d = Datum::from_array(a.as_ref(), 0, &f.data_type).map_err(external)?;
                    Ok(if d.is_null() { Predicate::IsNull(k.clone()) } else { Predicate::Cmp(k.clone(), CmpOp::Eq, d) })
                })
                .collect::<Result<Vec<_>>>()?;
            OverwriteScope::Partitions(Predicate::And(parts))
        } else {
            if partitions.is_empty() {
                // Dynamic overwrite of no partitions changes nothing.
                return Ok(StatementResult::command(Some(0)));
            }
            let ors = partitions
                .into_values()
                .map(|values| {
                    Predicate::And(
                        schema
                            .partition_keys
                            .iter()
                            .zip(values)
                            .map(|(k, d)| {
                                if d.is_null() {
                                    Predicate::IsNull(k.clone())
                                } else {
                                    Predicate::Cmp(k.clone(), CmpOp::Eq, d)
                                }
                            })
                            .collect(),
                    )
                })
                .collect();
            OverwriteScope::Partitions(Predicate::Or(ors))
        };
        writer.overwrite(scope).await.map_err(external)?;
        Ok(StatementResult::command(Some(rows)))
    }

    /// The table for DELETE / UPDATE: must have a primary key.
    async fn pk_table(&self, ident: &Identifier, verb: &str) -> Result<FileStoreTable> {
        let table = self.table(ident).await?;
        if table.schema().primary_keys.is_empty() {
            return Err(plan_err(format!(
                "{verb} is only supported on primary-key tables; `{ident}` is an append table (no primary key). Use INSERT OVERWRITE to rewrite it"
            )));
        }
        Ok(table)
    }

    async fn delete(&self, p: &mut Parser<'_>) -> Result<StatementResult> {
        p.next();
        p.expect_kw("FROM")?;
        let ident = self.table_ident(p)?;
        let table = self.pk_table(&ident, "DELETE").await?;
        let filter = self.where_clause(p)?;
        let query = format!(
            "SELECT * FROM {}.{} AS {}{filter}",
            quote(&ident.database),
            quote(&ident.table),
            quote(&ident.table)
        );
        let (_, mut stream) = self.stream_query(&query).await?;
        let schema = table.schema().clone();
        let mut writer = table.writer().await.map_err(external)?.with_row_kind_column(Some(ROW_KIND_COLUMN.into()));
        let mut rows = 0u64;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            rows += batch.num_rows() as u64;
            let names: Vec<String> = schema.fields.iter().map(|f| f.name.clone()).collect();
            let out = conform(&schema, &names, &[], &batch, &format!("DELETE FROM `{ident}`"))?;
            writer.write(&with_row_kind(&out, "-D")?).await.map_err(external)?;
        }
        writer.commit().await.map_err(external)?;
        Ok(StatementResult::command(Some(rows)))
    }

    async fn update(&self, p: &mut Parser<'_>) -> Result<StatementResult> {
        p.next();
        let ident = self.table_ident(p)?;
        let table = self.pk_table(&ident, "UPDATE").await?;
        let schema = table.schema().clone();
        let what = format!("UPDATE `{ident}`");
        p.expect_kw("SET")?;
        let mut sets: Vec<(String, String)> = Vec::new();
        loop {
            let col = p.ident()?;
            if schema.field(&col).is_none() {
                return Err(plan_err(format!("{what}: unknown column `{col}` (columns: {})", column_names(&schema))));
            }
            if schema.primary_keys.contains(&col) || schema.partition_keys.contains(&col) {
                return Err(plan_err(format!(
                    "{what}: cannot SET key column `{col}` (primary and partition keys identify the row)"
                )));
            }
            if sets.iter().any(|(c, _)| *c == col) {
                return Err(plan_err(format!("{what}: column `{col}` is set twice")));
            }
            p.expect_punct("=")?;
            let expr = p.expression_until(&["WHERE"])?;
            sets.push((col, expr));
            if !p.eat_punct(",") {
                break;
            }
        }
        let filter = self.where_clause(p)?;
        let exprs: String =
            sets.iter().enumerate().map(|(i, (_, e))| format!(", ({e}) AS \"__dyntable_set_{i}\"")).collect();
        let query = format!(
            "SELECT *{exprs} FROM {}.{} AS {}{filter}",
            quote(&ident.database),
            quote(&ident.table),
            quote(&ident.table)
        );
        let (_, mut stream) = self.stream_query(&query).await?;
        let mut writer = table.writer().await.map_err(external)?.with_row_kind_column(Some(ROW_KIND_COLUMN.into()));
        let names: Vec<String> = schema.fields.iter().map(|f| f.name.clone()).collect();
        let n = names.len();
        let mut rows = 0u64;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            let old = conform(&schema, &names, &[], &batch.project(&(0..n).collect::<Vec<_>>())?, &what)?;
            let mut new_cols: Vec<ArrayRef> = old.columns().to_vec();
            for (i, (col, _)) in sets.iter().enumerate() {
                let idx = schema.field_index(col).expect("checked");
                new_cols[idx] = cast_to_column(batch.column(n + i), &schema.fields[idx], &what)?;
            }
            let new = RecordBatch::try_new(old.schema(), new_cols)?;
            rows += old.num_rows() as u64;
            // The retraction first, so the +U row gets the higher sequence number and wins the merge.
            writer.write(&with_row_kind(&old, "-U")?).await.map_err(external)?;
            writer.write(&with_row_kind(&new, "+U")?).await.map_err(external)?;
        }
        writer.commit().await.map_err(external)?;
        Ok(StatementResult::command(Some(rows)))
    }

    /// ` WHERE <rest>` (rewritten for time travel by the caller's query) or nothing.
    fn where_clause(&self, p: &mut Parser<'_>) -> Result<String> {
        if p.peek().is_none() {
            return Ok(String::new());
        }
        if !p.eat_kw("WHERE") {
            return Err(plan_err(format!("expected WHERE, found `{}`", p.rest())));
        }
        let cond = p.rest();
        if cond.is_empty() {
            return Err(plan_err("WHERE needs a condition"));
        }
        Ok(format!(" WHERE {cond}"))
    }
}

/// Options that define how data is laid out; changing them would make existing files unreadable.
const IMMUTABLE_OPTIONS: &[&str] =
    &["bucket", "bucket-key", "merge-engine", "sequence.field", "rowkind.field", "partition.default-name", "path"];

/// Words after a table reference that are not an alias.
const RESERVED_AFTER_TABLE: &[&str] = &[
    "WHERE",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "CROSS",
    "NATURAL",
    "ON",
    "USING",
    "GROUP",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "HAVING",
    "WINDOW",
    "QUALIFY",
    "FETCH",
    "FOR",
    "VERSION",
    "TIMESTAMP",
];

fn unsupported(statement: &str) -> DataFusionError {
    let head: String = statement.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    DataFusionError::NotImplemented(format!(
        "unsupported statement `{head} ...`; dyntable SQL supports SELECT/WITH/VALUES/EXPLAIN, CREATE DATABASE, CREATE TABLE, DROP TABLE, SHOW DATABASES/TABLES/CREATE TABLE, DESCRIBE, USE, INSERT INTO/OVERWRITE, DELETE, UPDATE, ALTER TABLE SET/RESET and CALL sys.create_tag/delete_tag"
    ))
}

/// `"name"` with embedded quotes doubled.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn is_name_token(t: &Token) -> bool {
    matches!(t.kind, Kind::Word | Kind::QuotedIdent)
}

/// An identifier's value: quoted names as written, unquoted ones folded to lower case (as DataFusion).
fn ident_value(t: &Token, src: &str) -> String {
    match t.kind {
        Kind::QuotedIdent => t.value(src),
        _ => t.text(src).to_ascii_lowercase(),
    }
}

fn parse_snapshot_id(text: &str) -> Result<i64> {
    text.trim().parse::<i64>().map_err(|_| plan_err(format!("`{text}` is not a snapshot id")))
}

fn parse_time(text: &str) -> Result<i64> {
    if let Ok(ms) = text.trim().parse::<i64>() {
        return Ok(ms);
    }
    dyntable_storage::datum::parse_timestamp(text).map(|(ms, _)| ms).map_err(|e| plan_err(format!("time travel: {e}")))
}

/// The value after `FOR SYSTEM_TIME AS OF` / `TIMESTAMP AS OF`: `TIMESTAMP '...'`, `'...'` or epoch millis.
fn time_value(src: &str, sig: &[Token], at: usize, clause: &str) -> Result<(ScanFrom, usize)> {
    let mut i = at;
    if sig.get(i).is_some_and(|t| t.is_kw(src, "TIMESTAMP") || t.is_kw(src, "TIMESTAMP_LTZ")) {
        i += 1;
    }
    match sig.get(i) {
        Some(t) if t.kind == Kind::String => Ok((ScanFrom::Timestamp(parse_time(&t.value(src))?), i + 1)),
        Some(t) if t.kind == Kind::Number => Ok((ScanFrom::Timestamp(parse_time(t.text(src))?), i + 1)),
        Some(t) => Err(plan_err(format!(
            "{clause} needs a timestamp literal (TIMESTAMP '2024-01-01 12:00:00') or epoch milliseconds, got `{}`",
            t.text(src)
        ))),
        None => Err(plan_err(format!("{clause} needs a timestamp"))),
    }
}

/// `/*+ OPTIONS('scan.snapshot-id' = '3') */` as a scan target.
fn parse_hint(hint: &str) -> Result<ScanFrom> {
    let body = &hint[3..hint.len() - 2];
    let mut p = Parser::new(body)?;
    if !p.eat_kw("OPTIONS") {
        return Err(plan_err(format!(
            "unsupported hint `{}`; dyntable supports /*+ OPTIONS('scan.snapshot-id' = 'N') */ and similar",
            hint.trim()
        )));
    }
    let options = p.option_list()?;
    p.expect_end()?;
    let mut from: Option<ScanFrom> = None;
    for (k, v) in options {
        let f = match k.as_str() {
            "scan.snapshot-id" => ScanFrom::Snapshot(parse_snapshot_id(&v)?),
            "scan.tag-name" => ScanFrom::Tag(v),
            "scan.timestamp-millis" => ScanFrom::Timestamp(v.trim().parse().map_err(|_| plan_err(format!("scan.timestamp-millis `{v}` is not a number")))?),
            "scan.timestamp" => ScanFrom::Timestamp(parse_time(&v)?),
            "scan.version" => match v.parse::<i64>() {
                Ok(id) => ScanFrom::Snapshot(id),
                Err(_) => ScanFrom::Tag(v),
            },
            other => {
                return Err(plan_err(format!(
                    "unsupported option `{other}` in an OPTIONS hint; supported: scan.snapshot-id, scan.tag-name, scan.timestamp-millis, scan.timestamp, scan.version"
                )))
            }
        };
        if from.is_some() {
            return Err(plan_err("an OPTIONS hint may name only one of scan.snapshot-id, scan.tag-name, scan.timestamp(-millis), scan.version"));
        }
        from = Some(f);
    }
    from.ok_or_else(|| plan_err("an empty OPTIONS hint"))
}

fn column_names(schema: &TableSchema) -> String {
    schema.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// A type as users write it, without its nullability: `BIGINT`, `DECIMAL(10, 2)`, `ARRAY<STRING>`,
/// `MAP<STRING, INT NOT NULL>`, `ROW<a INT, b STRING>` (nested types keep theirs).
pub fn type_text(t: &DataType) -> String {
    let full = |t: &DataType| if t.nullable { type_text(t) } else { format!("{} NOT NULL", type_text(t)) };
    match &t.kind {
        TypeKind::Array(e) => format!("ARRAY<{}>", full(e)),
        TypeKind::Map(k, v) => format!("MAP<{}, {}>", full(k), full(v)),
        TypeKind::Row(fields) => format!(
            "ROW<{}>",
            fields.iter().map(|f| format!("`{}` {}", f.name, full(&f.data_type))).collect::<Vec<_>>().join(", ")
        ),
        _ => match t.not_null().to_json() {
            serde_json::Value::String(s) => s.trim_end_matches(" NOT NULL").to_string(),
            other => other.to_string(),
        },
    }
}

/// The CREATE TABLE statement of a table.
fn show_create(ident: &Identifier, s: &TableSchema) -> String {
    let mut out = format!("CREATE TABLE {ident} (\n");
    let mut lines: Vec<String> = s
        .fields
        .iter()
        .map(|f| {
            let mut l = format!("  `{}` {}", f.name, type_text(&f.data_type));
            if !f.data_type.nullable {
                l.push_str(" NOT NULL");
            }
            if let Some(c) = &f.description {
                l.push_str(&format!(" COMMENT '{}'", c.replace('\'', "''")));
            }
            l
        })
        .collect();
    if !s.primary_keys.is_empty() {
        lines.push(format!(
            "  PRIMARY KEY ({}) NOT ENFORCED",
            s.primary_keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    out.push_str(&lines.join(",\n"));
    out.push_str("\n)");
    if let Some(c) = &s.comment {
        out.push_str(&format!(" COMMENT '{}'", c.replace('\'', "''")));
    }
    if !s.partition_keys.is_empty() {
        out.push_str(&format!(
            " PARTITIONED BY ({})",
            s.partition_keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    if !s.options.is_empty() {
        let opts: Vec<String> =
            s.options.iter().map(|(k, v)| format!("  '{k}' = '{}'", v.replace('\'', "''"))).collect();
        out.push_str(&format!(" WITH (\n{}\n)", opts.join(",\n")));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Null,
    Bool,
    Integer,
    Decimal,
    Float,
    String,
    Binary,
    Date,
    Time,
    Timestamp,
    Other,
}

fn family(t: &ArrowType) -> Family {
    use ArrowType::*;
    match t {
        Null => Family::Null,
        Boolean => Family::Bool,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => Family::Integer,
        Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => Family::Decimal,
        Float16 | Float32 | Float64 => Family::Float,
        Utf8 | LargeUtf8 | Utf8View => Family::String,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Family::Binary,
        Date32 | Date64 => Family::Date,
        Time32(_) | Time64(_) => Family::Time,
        Timestamp(..) => Family::Timestamp,
        Dictionary(_, v) => family(v),
        _ => Family::Other,
    }
}

/// Casts a value column to a table column's type when SQL assignment allows it: numbers widen (no
/// float or decimal into an integer), strings into string, date, time and timestamp columns, NULL
/// anywhere. Overflow and unparsable text are errors, never silently NULL.
fn cast_to_column(array: &ArrayRef, field: &DataField, what: &str) -> Result<ArrayRef> {
    let want = field.data_type.to_arrow();
    if array.data_type() == &want {
        return Ok(array.clone());
    }
    let (from, to) = (family(array.data_type()), family(&want));
    use Family::*;
    let allowed = match (from, to) {
        (Null, _) => true,
        (Integer, Integer | Decimal | Float) | (Decimal, Decimal | Float) | (Float, Float | Decimal) => true,
        (String, String | Date | Time | Timestamp) => true,
        (Date, Date | Timestamp) | (Timestamp, Timestamp | Date) => true,
        (a, b) => a == b,
    };
    if !allowed {
        return Err(plan_err(format!(
            "{what}: type mismatch for column `{}`: it is {}, the value is {}",
            field.name,
            type_text(&field.data_type),
            array.data_type()
        )));
    }
    let opts = CastOptions { safe: false, ..Default::default() };
    compute::cast_with_options(array, &want, &opts).map_err(|e| {
        plan_err(format!(
            "{what}: cannot store a value of type {} in column `{}` ({}): {e}",
            array.data_type(),
            field.name,
            type_text(&field.data_type)
        ))
    })
}

/// Builds a batch of the table's columns from query output: `target[i]` takes column i, `statics` are
/// constants (static partition values), other columns are NULL.
fn conform(
    schema: &TableSchema,
    target: &[String],
    statics: &[(String, ArrayRef)],
    batch: &RecordBatch,
    what: &str,
) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields.len());
    for f in &schema.fields {
        let col = if let Some(i) = target.iter().position(|t| *t == f.name) {
            cast_to_column(batch.column(i), f, what)?
        } else if let Some((_, a)) = statics.iter().find(|(k, _)| *k == f.name) {
            ScalarValue::try_from_array(a.as_ref(), 0)?.to_array_of_size(n)?
        } else {
            new_null_array(&f.data_type.to_arrow(), n)
        };
        if !f.data_type.nullable && col.null_count() > 0 {
            return Err(plan_err(format!("{what}: column `{}` is NOT NULL but would get NULL", f.name)));
        }
        columns.push(col);
    }
    let fields: Vec<Field> = schema.fields.iter().map(|f| f.to_arrow().with_nullable(true)).collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

fn with_row_kind(batch: &RecordBatch, kind: &str) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(ROW_KIND_COLUMN, ArrowType::Utf8, false));
    let mut cols = batch.columns().to_vec();
    cols.push(Arc::new(StringArray::from(vec![kind; batch.num_rows()])));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

/// A literal in PARTITION specs and procedure arguments.
#[derive(Debug, Clone)]
enum Literal {
    String(String),
    Number(String),
    Bool(bool),
    Null,
}

impl Literal {
    fn to_array(&self) -> Result<ArrayRef> {
        let v = match self {
            Literal::String(s) => ScalarValue::Utf8(Some(s.clone())),
            Literal::Number(n) => match n.parse::<i64>() {
                Ok(i) => ScalarValue::Int64(Some(i)),
                Err(_) => {
                    ScalarValue::Float64(Some(n.parse().map_err(|_| plan_err(format!("`{n}` is not a number")))?))
                }
            },
            Literal::Bool(b) => ScalarValue::Boolean(Some(*b)),
            Literal::Null => ScalarValue::Null,
        };
        v.to_array_of_size(1)
    }

    fn text(&self) -> String {
        match self {
            Literal::String(s) | Literal::Number(s) => s.clone(),
            Literal::Bool(b) => b.to_string(),
            Literal::Null => "NULL".into(),
        }
    }
}

/// A cursor over the meaningful tokens of a statement (whitespace, comments and hints skipped).
struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Self> {
        let toks = tokenize(src)?.into_iter().filter(|t| t.kind != Kind::Space && t.kind != Kind::Hint).collect();
        Ok(Parser { src, toks, pos: 0 })
    }

    fn from_tokens(src: &'a str, toks: Vec<Token>) -> Self {
        Parser { src, toks, pos: 0 }
    }

    fn peek(&self) -> Option<Token> {
        self.toks.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<Token> {
        self.toks.get(self.pos + ahead).copied()
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.peek();
        self.pos += 1;
        t
    }

    fn peek_kw(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.is_kw(self.src, kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Eats all of `kws` in order, or none.
    fn eat_kws(&mut self, kws: &[&str]) -> bool {
        if kws.iter().enumerate().all(|(i, k)| self.peek_at(i).is_some_and(|t| t.is_kw(self.src, k))) {
            self.pos += kws.len();
            true
        } else {
            false
        }
    }

    fn rest(&self) -> &'a str {
        match self.peek() {
            Some(t) => self.src[t.start..].trim(),
            None => "",
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(t) => format!("`{}`", t.text(self.src)),
            None => "the end of the statement".into(),
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<()> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(plan_err(format!("expected {kw}, found {}", self.found())))
        }
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_punct(self.src, p)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, p: &str) -> Result<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(plan_err(format!("expected `{p}`, found {}", self.found())))
        }
    }

    fn expect_end(&self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(plan_err(format!("unexpected `{}`", self.rest()))),
        }
    }

    fn ident(&mut self) -> Result<String> {
        match self.peek() {
            Some(t) if is_name_token(&t) => {
                self.pos += 1;
                Ok(ident_value(&t, self.src))
            }
            _ => Err(plan_err(format!("expected a name, found {}", self.found()))),
        }
    }

    fn object_name(&mut self) -> Result<Vec<String>> {
        let mut parts = vec![self.ident()?];
        while self.eat_punct(".") {
            parts.push(self.ident()?);
        }
        Ok(parts)
    }

    fn string(&mut self) -> Result<String> {
        match self.peek() {
            Some(t) if t.kind == Kind::String => {
                self.pos += 1;
                Ok(t.value(self.src))
            }
            _ => Err(plan_err(format!("expected a string literal, found {}", self.found()))),
        }
    }

    fn literal(&mut self) -> Result<Literal> {
        let negative = self.eat_punct("-");
        let t = self.next().ok_or_else(|| plan_err("expected a literal"))?;
        Ok(match t.kind {
            Kind::String if !negative => Literal::String(t.value(self.src)),
            Kind::Number => Literal::Number(format!("{}{}", if negative { "-" } else { "" }, t.text(self.src))),
            Kind::Word if !negative && t.is_kw(self.src, "TRUE") => Literal::Bool(true),
            Kind::Word if !negative && t.is_kw(self.src, "FALSE") => Literal::Bool(false),
            Kind::Word if !negative && t.is_kw(self.src, "NULL") => Literal::Null,
            _ => return Err(plan_err(format!("expected a literal, found `{}`", t.text(self.src)))),
        })
    }

    /// `(a, b, c)`
    fn ident_list(&mut self) -> Result<Vec<String>> {
        self.expect_punct("(")?;
        let mut out = vec![self.ident()?];
        while self.eat_punct(",") {
            out.push(self.ident()?);
        }
        self.expect_punct(")")?;
        Ok(out)
    }

    /// `('a', 'b')`
    fn string_list(&mut self) -> Result<Vec<String>> {
        self.expect_punct("(")?;
        let mut out = vec![self.string()?];
        while self.eat_punct(",") {
            out.push(self.string()?);
        }
        self.expect_punct(")")?;
        Ok(out)
    }

    /// `('k' = 'v', ...)`
    fn option_list(&mut self) -> Result<BTreeMap<String, String>> {
        self.expect_punct("(")?;
        let mut out = BTreeMap::new();
        if self.eat_punct(")") {
            return Ok(out);
        }
        loop {
            let k = self.string()?;
            self.expect_punct("=")?;
            let v = self.literal()?.text();
            out.insert(k, v);
            if !self.eat_punct(",") {
                break;
            }
        }
        self.expect_punct(")")?;
        Ok(out)
    }

    /// `(arg, name => arg, ...)` of literals.
    fn call_args(&mut self) -> Result<Vec<(Option<String>, String)>> {
        self.expect_punct("(")?;
        let mut out = Vec::new();
        if self.eat_punct(")") {
            return Ok(out);
        }
        loop {
            let named = if self.peek_at(1).is_some_and(|t| t.is_punct(self.src, "="))
                && self.peek_at(2).is_some_and(|t| t.is_punct(self.src, ">"))
            {
                let n = self.ident()?;
                self.pos += 2;
                Some(n)
            } else {
                None
            };
            out.push((named, self.literal()?.text()));
            if !self.eat_punct(",") {
                break;
            }
        }
        self.expect_punct(")")?;
        Ok(out)
    }

    /// The tokens of each comma-separated element of a parenthesized list, with nested `()` and `<>`.
    fn paren_elements(&mut self) -> Result<Vec<Vec<Token>>> {
        self.expect_punct("(")?;
        let mut out = Vec::new();
        let mut current = Vec::new();
        let mut depth = 0i32;
        loop {
            let t = self.next().ok_or_else(|| plan_err("unbalanced parentheses: missing `)`"))?;
            let text = t.text(self.src);
            if t.kind == Kind::Punct {
                match text {
                    "(" | "<" => depth += 1,
                    ")" if depth == 0 => {
                        if !current.is_empty() {
                            out.push(std::mem::take(&mut current));
                        }
                        return Ok(out);
                    }
                    ")" | ">" => depth -= 1,
                    "," if depth == 0 => {
                        out.push(std::mem::take(&mut current));
                        continue;
                    }
                    _ => {}
                }
            }
            current.push(t);
        }
    }

    /// The source text of an expression up to a top-level `,`, one of `stops` (keywords) or the end.
    fn expression_until(&mut self, stops: &[&str]) -> Result<String> {
        let start = self.pos;
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            if depth == 0 && (t.is_punct(self.src, ",") || stops.iter().any(|s| t.is_kw(self.src, s))) {
                break;
            }
            if t.is_punct(self.src, "(") {
                depth += 1;
            } else if t.is_punct(self.src, ")") {
                depth -= 1;
            }
            self.pos += 1;
        }
        if start == self.pos {
            return Err(plan_err(format!("expected an expression, found {}", self.found())));
        }
        Ok(self.src[self.toks[start].start..self.toks[self.pos - 1].end].to_string())
    }
}
