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
//! | `INSERT OVERWRITE t [/*+ OPTIONS('dynamic-partition-overwrite' = 'false') */] [PARTITION (k = v, ..)] ...` | replaces the whole table (unpartitioned, or static overwrite without PARTITION), the partitions of the `PARTITION` spec, or else the partitions the new rows fall in (dynamic overwrite, Paimon's default `dynamic-partition-overwrite`); other hint options on the target, and hints on statements other than queries and INSERT, are refused |
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
//! Names are case-sensitive and keep their case, quoted or not (Flink SQL over Paimon's catalog): `CREATE TABLE T`
//! makes `default.db/T`, and `t` names another table.
//! Every failure is an error naming what is wrong; a failed statement commits nothing.
//!
//! The files: this one holds [`DyntableSession`] and its statement dispatch; `ddl.rs`, `dml.rs`, `procedures.rs`
//! (`CALL`) and `time_travel.rs` (the query rewrite) its statements; `parser.rs` the token cursor over
//! [`crate::lexer`]; `columns.rs` the conversion of query output to table columns; `result.rs` what a statement
//! returns.

mod alter_columns;
mod columns;
mod ddl;
mod dml;
mod parser;
mod procedures;
mod result;
mod time_travel;

use std::sync::{Arc, Mutex};

use arrow::array::{RecordBatch, UInt64Array};
use arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef};
use datafusion::error::Result;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{SessionConfig, SessionContext};
use dyntable_storage::{Catalog, FileStoreTable, Identifier};

use crate::catalog::{DyntableCatalogProvider, CATALOG_NAME};
use crate::error::{external, plan_err, unsupported};
use crate::lexer::split_statements;

pub use self::columns::type_text;
use self::parser::Parser;
pub use self::result::{StatementKind, StatementResult};

/// A SQL session over one warehouse: DataFusion plus dyntable's catalog, DDL and DML.
pub struct DyntableSession {
    ctx: SessionContext,
    catalog: Catalog,
    provider: Arc<DyntableCatalogProvider>,
    database: Mutex<String>,
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
        // Names keep their case, as in Flink SQL over Paimon's catalog (case-sensitive: `CREATE TABLE T` lives in
        // `default.db/T`); quoted or not, `T` and `t` are different tables and columns.
        let mut config = config;
        config.options_mut().sql_parser.enable_ident_normalization = false;
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
        // Queries read their `/*+ OPTIONS(..) */` hints (time travel, incremental reads), INSERT its target's;
        // a hint on any other statement would be dropped, so it is refused.
        if !matches!(first.as_str(), "SELECT" | "WITH" | "VALUES" | "EXPLAIN" | "(" | "INSERT") {
            if let Some(hint) =
                crate::lexer::tokenize(statement)?.into_iter().find(|t| t.kind == crate::lexer::Kind::Hint)
            {
                return Err(plan_err(format!(
                    "{first} statements take no hints; `{}` is not supported here",
                    &statement[hint.start..hint.end]
                )));
            }
        }
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
                    self.drop_table(&mut p).await
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
}
