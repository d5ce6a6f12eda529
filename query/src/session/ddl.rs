//! DDL and catalog statements: `CREATE DATABASE`, `CREATE TABLE`, `DROP TABLE`, `SHOW ...`, `DESCRIBE`, `ALTER
//! TABLE SET/RESET`, `ALTER TABLE ... DROP PARTITION`.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use datafusion::error::Result;
use dyntable_storage::options::CoreOptions;
use dyntable_storage::schema::SchemaManager;
use dyntable_storage::types::parse_sql_fields;
use dyntable_storage::{Identifier, TableSchema};

use super::columns::type_text;
use super::parser::Parser;
use super::result::StatementResult;
use super::DyntableSession;
use crate::error::{external, plan_err, unsupported};

impl DyntableSession {
    pub(super) async fn create_database(&self, p: &mut Parser<'_>) -> Result<StatementResult> {
        let if_not_exists = p.eat_kws(&["IF", "NOT", "EXISTS"]);
        let name = p.ident()?;
        p.expect_end()?;
        self.catalog.create_database(&name, if_not_exists).await.map_err(external)?;
        self.refresh_databases().await?;
        Ok(StatementResult::command(None))
    }

    pub(super) async fn create_table(&self, p: &mut Parser<'_>) -> Result<StatementResult> {
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

    pub(super) async fn drop_table(&self, p: &mut Parser<'_>) -> Result<StatementResult> {
        let if_exists = p.eat_kws(&["IF", "EXISTS"]);
        let ident = self.table_ident(p)?;
        p.expect_end()?;
        self.catalog.drop_table(&ident, if_exists).await.map_err(external)?;
        Ok(StatementResult::command(None))
    }

    pub(super) async fn show(&self, p: &mut Parser<'_>, statement: &str) -> Result<StatementResult> {
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

    pub(super) async fn describe(&self, ident: &Identifier) -> Result<StatementResult> {
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

    pub(super) async fn alter(&self, p: &mut Parser<'_>, statement: &str) -> Result<StatementResult> {
        p.next();
        p.expect_kw("TABLE")?;
        let ident = self.table_ident(p)?;
        let table = self.table(&ident).await?;
        if p.peek_kw("DROP") && !p.peek_at(1).is_some_and(|t| t.is_kw(p.src, "PARTITION")) || !p.peek_kw("DROP") {
            if let Some(changes) = super::alter_columns::parse(p, &table)? {
                table.alter_columns(&changes).await.map_err(|e| plan_err(format!("ALTER TABLE `{ident}`: {e}")))?;
                return Ok(StatementResult::command(None));
            }
        }
        if p.eat_kw("DROP") {
            // `DROP PARTITION (k = 'v', ...) [, PARTITION (...)]`: an OVERWRITE snapshot deleting their files.
            let mut specs = Vec::new();
            loop {
                p.expect_kw("PARTITION")?;
                specs.push(p.partition_spec()?);
                if !p.eat_punct(",") {
                    break;
                }
            }
            p.expect_end()?;
            let dropped = table.drop_partitions(&specs).await.map_err(external)?;
            return Ok(StatementResult::command(Some(dropped.len() as u64)));
        }
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
        next.check_create().map_err(|e| plan_err(format!("ALTER TABLE `{ident}`: {e}")))?;
        manager.commit(&next).await.map_err(external)?;
        Ok(StatementResult::command(None))
    }
}

/// Options that define how data is laid out; changing them would make existing files unreadable.
const IMMUTABLE_OPTIONS: &[&str] =
    &["bucket", "bucket-key", "merge-engine", "sequence.field", "rowkind.field", "partition.default-name", "path"];

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
