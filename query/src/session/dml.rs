//! DML: `INSERT INTO/OVERWRITE`, and `DELETE` and `UPDATE` on primary-key tables (written as `-D`, `-U`/`+U`
//! rows).

use std::collections::BTreeMap;

use arrow::array::{ArrayRef, RecordBatch};
use datafusion::error::Result;
use dyntable_storage::{CmpOp, Datum, FileStoreTable, Identifier, OverwriteScope, Predicate};
use futures::StreamExt;

use super::columns::{cast_to_column, column_names, conform, with_row_kind, ROW_KIND_COLUMN};
use super::parser::{quote, Parser};
use super::result::StatementResult;
use super::DyntableSession;
use crate::error::{external, plan_err};

impl DyntableSession {
    pub(super) async fn insert(&self, p: &mut Parser<'_>) -> Result<StatementResult> {
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
        let dynamic_overwrite = insert_hint(p, overwrite, &ident)?;
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
        let dynamic = overwrite && dynamic_overwrite && statics.is_empty() && !schema.partition_keys.is_empty();
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
        // Static overwrite (`dynamic-partition-overwrite` = 'false') without a PARTITION clause replaces the whole
        // table, as Flink's Paimon sink does.
        let scope = if schema.partition_keys.is_empty() || (!dynamic_overwrite && statics.is_empty()) {
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

    pub(super) async fn delete(&self, p: &mut Parser<'_>) -> Result<StatementResult> {
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

    pub(super) async fn update(&self, p: &mut Parser<'_>) -> Result<StatementResult> {
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

/// The `/*+ OPTIONS(...) */` hint on an INSERT's target table: `dynamic-partition-overwrite` (Paimon's,
/// default true) for INSERT OVERWRITE; every other option, or a hint of another kind, is refused. Returns whether
/// an overwrite is dynamic.
fn insert_hint(p: &Parser<'_>, overwrite: bool, ident: &Identifier) -> Result<bool> {
    let mut dynamic = true;
    for hint in p.hints_before_current()? {
        let body = &hint[3..hint.len() - 2];
        let mut h = Parser::new(body)?;
        if !h.eat_kw("OPTIONS") {
            return Err(plan_err(format!("INSERT into `{ident}`: unsupported hint `{}`", hint.trim())));
        }
        let options = h.option_list()?;
        h.expect_end()?;
        for (k, v) in options {
            match k.as_str() {
                "dynamic-partition-overwrite" if overwrite => {
                    dynamic = match v.trim().to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(plan_err(format!(
                                "INSERT OVERWRITE `{ident}`: `dynamic-partition-overwrite` = '{v}' is not true or false"
                            )))
                        }
                    }
                }
                "dynamic-partition-overwrite" => {
                    return Err(plan_err(format!(
                        "INSERT INTO `{ident}`: `dynamic-partition-overwrite` applies to INSERT OVERWRITE"
                    )))
                }
                other => {
                    return Err(plan_err(format!(
                        "INSERT into `{ident}`: dyntable does not support the option `{other}` in a hint on the target table (supported: dynamic-partition-overwrite)"
                    )))
                }
            }
        }
    }
    Ok(dynamic)
}
