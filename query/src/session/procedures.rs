//! `CALL` procedures: `sys.create_tag`, `sys.delete_tag`, `sys.expire_snapshots`, `sys.rollback_to` and
//! `sys.remove_orphan_files`, with Paimon's arguments (named or in order).

use std::sync::Arc;

use arrow::array::{Int64Array, StringArray};
use datafusion::error::Result;
use dyntable_storage::{Identifier, RollbackTarget};

use super::parser::Parser;
use super::result::StatementResult;
use super::time_travel::parse_snapshot_id;
use super::DyntableSession;
use crate::error::{external, plan_err};

impl DyntableSession {
    pub(super) async fn call(&self, p: &mut Parser<'_>) -> Result<StatementResult> {
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
        // Paimon's argument names per procedure, in order; a name not in the list, or more unnamed arguments
        // than it has, is an error (an argument dyntable does not honour is never dropped).
        let signature: &[&str] = match name.as_str() {
            "sys.create_tag" => &["table", "tag", "snapshot_id", "time_retained"],
            "sys.create_tag_from_timestamp" => &["table", "tag", "timestamp", "time_retained"],
            "sys.delete_tag" => &["table", "tag"],
            "sys.expire_snapshots" => &["table", "retain_max", "retain_min", "older_than", "max_deletes"],
            "sys.rollback_to" => &["table", "tag", "snapshot_id"],
            "sys.remove_orphan_files" => &["table", "older_than", "dry_run"],
            "sys.expire_partitions" => &[
                "table",
                "expiration_time",
                "timestamp_formatter",
                "timestamp_pattern",
                "expire_strategy",
                "max_expires",
            ],
            "sys.compact" => &[
                "table",
                "partitions",
                "order_strategy",
                "order_by",
                "options",
                "where",
                "partition_idle_time",
                "compact_strategy",
            ],
            "sys.reset_consumer" => &["table", "consumer_id", "next_snapshot_id"],
            "sys.alter_column_default_value" => &["table", "column", "default_value"],
            _ => &[],
        };
        if !signature.is_empty() {
            if let Some((Some(n), _)) = args.iter().find(|(n, _)| n.as_deref().is_some_and(|n| !signature.contains(&n)))
            {
                return Err(plan_err(format!(
                    "CALL {name}: unknown argument `{n}` (arguments: {})",
                    signature.join(", ")
                )));
            }
            let unnamed = args.iter().filter(|(n, _)| n.is_none()).count();
            if unnamed > signature.len() {
                return Err(plan_err(format!(
                    "CALL {name}: {unnamed} arguments given, it takes at most {} ({})",
                    signature.len(),
                    signature.join(", ")
                )));
            }
        }
        match name.as_str() {
            "sys.create_tag" | "sys.create_tag_from_timestamp" => {
                let ident = table_arg(arg(0, "table"))?;
                let tag = arg(1, "tag").ok_or_else(|| plan_err(format!("CALL {name}: missing the tag name")))?;
                if let Some(t) = arg(3, "time_retained") {
                    return Err(plan_err(format!(
                        "CALL {name}: dyntable does not support `time_retained` = '{t}' (tags do not expire by time)"
                    )));
                }
                let table = self.table(&ident).await?;
                let snapshot = if name == "sys.create_tag" {
                    match arg(2, "snapshot_id") {
                        Some(s) => Some(parse_snapshot_id(&s)?),
                        None => None,
                    }
                } else {
                    // The first snapshot committed at or after the timestamp (Paimon's `laterOrEqualTimeMills`).
                    let t = arg(2, "timestamp")
                        .ok_or_else(|| plan_err("CALL sys.create_tag_from_timestamp: missing the timestamp"))?;
                    let millis: i64 = t.trim().parse().map_err(|_| {
                        plan_err(format!(
                            "CALL sys.create_tag_from_timestamp: `timestamp` = '{t}' is not milliseconds since the epoch"
                        ))
                    })?;
                    let found = table.snapshot_manager().all().await.map_err(external)?.into_iter().find(|s| s.time_millis >= millis);
                    Some(found.map(|s| s.id).ok_or_else(|| {
                        plan_err(format!(
                            "CALL sys.create_tag_from_timestamp: no snapshot of `{ident}` was committed at or after {millis}"
                        ))
                    })?)
                };
                table.create_tag(&tag, snapshot).await.map_err(external)?;
            }
            "sys.delete_tag" => {
                // Paimon takes several tags separated by commas.
                let ident = table_arg(arg(0, "table"))?;
                let tags = arg(1, "tag").ok_or_else(|| plan_err("CALL sys.delete_tag: missing the tag name"))?;
                let table = self.table(&ident).await?;
                for tag in tags.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    table.delete_tag(tag).await.map_err(external)?;
                }
            }
            "sys.alter_column_default_value" => {
                // Paimon's: table, column, default_value: sets `fields.<column>.default-value` (validated as
                // ALTER TABLE ... SET validates it).
                let ident = table_arg(arg(0, "table"))?;
                let column = arg(1, "column")
                    .ok_or_else(|| plan_err("CALL sys.alter_column_default_value: missing the column"))?;
                let value = arg(2, "default_value")
                    .ok_or_else(|| plan_err("CALL sys.alter_column_default_value: missing the default value"))?;
                let quote_ident = |s: &str| format!("`{}`", s.replace('`', "``"));
                let statement = format!(
                    "ALTER TABLE {}.{} SET ('{}' = '{}')",
                    quote_ident(&ident.database),
                    quote_ident(&ident.table),
                    dyntable_storage::defaults::option_key(&column).replace('\'', "''"),
                    value.replace('\'', "''")
                );
                Box::pin(self.execute(&statement)).await?;
            }
            "sys.reset_consumer" => {
                // Paimon's: table, consumer_id, next_snapshot_id (none: the consumer is deleted).
                let ident = table_arg(arg(0, "table"))?;
                let id = arg(1, "consumer_id").ok_or_else(|| plan_err("CALL sys.reset_consumer: missing the consumer id"))?;
                let table = self.table(&ident).await?;
                match arg(2, "next_snapshot_id") {
                    None => table.consumers().delete(&id).await.map_err(external)?,
                    Some(n) => {
                        let next = parse_snapshot_id(&n)?;
                        table.consumers().reset(&table.snapshot_manager(), &id, next).await.map_err(external)?;
                    }
                }
            }
            "sys.expire_snapshots" => {
                // Paimon's arguments: table, retain_max, retain_min, older_than, max_deletes (named or in order).
                let ident = table_arg(arg(0, "table"))?;
                let config = expire_config(&args)?;
                let expired = self.table(&ident).await?.expire_snapshots(&config).await.map_err(external)?;
                let column = Arc::new(Int64Array::from(vec![expired as i64]));
                return StatementResult::rows(vec![("expired_snapshots", column)]);
            }
            "sys.compact" => {
                // Paimon's: table, partitions, order_strategy, order_by, options, where, partition_idle_time,
                // compact_strategy.
                let ident = table_arg(arg(0, "table"))?;
                for (i, unsupported) in
                    [(2, "order_strategy"), (3, "order_by"), (4, "options"), (5, "where"), (6, "partition_idle_time")]
                {
                    let ignorable = |v: &str| {
                        v.trim().is_empty() || (unsupported == "order_strategy" && v.trim().eq_ignore_ascii_case("none"))
                    };
                    match arg(i, unsupported) {
                        Some(v) if !ignorable(&v) => {
                            return Err(plan_err(format!(
                                "CALL sys.compact: dyntable does not support `{unsupported}` = '{v}' (sorting compaction, per-call options, filters and idle partitions are not implemented)"
                            )))
                        }
                        _ => {}
                    }
                }
                let full = match arg(7, "compact_strategy").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
                    None | Some("full") => true,
                    Some("minor") => false,
                    Some(other) => {
                        return Err(plan_err(format!(
                            "CALL sys.compact: `compact_strategy` = '{other}' is not 'full' or 'minor'"
                        )))
                    }
                };
                let table = self.table(&ident).await?;
                let filter = match arg(1, "partitions") {
                    Some(p) if !p.trim().is_empty() => Some(partitions_filter(&table, &p)?),
                    _ => None,
                };
                let (id, _) = table.compact(full, filter.as_ref()).await.map_err(external)?;
                return StatementResult::rows(vec![
                    ("result", Arc::new(arrow::array::BooleanArray::from(vec![true]))),
                    ("snapshot_id", Arc::new(Int64Array::from(vec![id]))),
                ]);
            }
            "sys.rollback_to" => {
                // Paimon's: table, tag, snapshot_id (a snapshot id or a tag name).
                let ident = table_arg(arg(0, "table"))?;
                let target = match (arg(1, "tag"), arg(2, "snapshot_id")) {
                    (Some(tag), None) => match tag.trim().parse::<i64>() {
                        // An unnamed second argument that is a number is a snapshot id (Paimon's `version`).
                        Ok(id) if args.get(1).is_some_and(|a| a.0.is_none()) => RollbackTarget::Snapshot(id),
                        _ => RollbackTarget::Tag(tag),
                    },
                    (None, Some(id)) => RollbackTarget::Snapshot(parse_snapshot_id(&id)?),
                    _ => {
                        return Err(plan_err(
                            "CALL sys.rollback_to: give the table and one of tag => 'name' or snapshot_id => N",
                        ))
                    }
                };
                let r = self.table(&ident).await?.rollback_to(target).await.map_err(external)?;
                let column = Arc::new(Int64Array::from(vec![r.snapshot]));
                return StatementResult::rows(vec![("snapshot_id", column)]);
            }
            "sys.remove_orphan_files" => {
                // Paimon's: table, older_than, dry_run.
                let ident = table_arg(arg(0, "table"))?;
                let older_than = timestamp_arg("sys.remove_orphan_files", "older_than", arg(1, "older_than"))?;
                let dry_run = match arg(2, "dry_run").map(|v| v.trim().to_ascii_lowercase()) {
                    None => false,
                    Some(v) if v == "true" => true,
                    Some(v) if v == "false" => false,
                    Some(v) => {
                        return Err(plan_err(format!("CALL sys.remove_orphan_files: `dry_run` = '{v}' is not true or false")))
                    }
                };
                let r = self.table(&ident).await?.remove_orphan_files(older_than, dry_run).await.map_err(external)?;
                let paths = Arc::new(StringArray::from(r.orphans.iter().map(|f| f.path.clone()).collect::<Vec<_>>()));
                let sizes = Arc::new(Int64Array::from(r.orphans.iter().map(|f| f.size as i64).collect::<Vec<_>>()));
                return StatementResult::rows(vec![("path", paths), ("bytes", sizes)]);
            }
            "sys.expire_partitions" => {
                // Paimon's: table, expiration_time, timestamp_formatter, timestamp_pattern, expire_strategy
                // (each overriding the table's `partition.*` option of that name for this run).
                let ident = table_arg(arg(0, "table"))?;
                let mut overrides = std::collections::BTreeMap::new();
                for (i, (name, key)) in [
                    ("expiration_time", "partition.expiration-time"),
                    ("timestamp_formatter", "partition.timestamp-formatter"),
                    ("timestamp_pattern", "partition.timestamp-pattern"),
                    ("expire_strategy", "partition.expiration-strategy"),
                ]
                .into_iter()
                .enumerate()
                {
                    if let Some(v) = arg(i + 1, name) {
                        overrides.insert(key.to_string(), v);
                    }
                }
                let table = self.table(&ident).await?;
                let max_expires = match arg(5, "max_expires") {
                    None => None,
                    Some(v) => Some(v.trim().parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        plan_err(format!("CALL sys.expire_partitions: `max_expires` = '{v}' is not a positive count"))
                    })?),
                };
                let r = table.expire_partitions_with(&overrides, None, max_expires).await.map_err(external)?;
                let names: Vec<String> = r
                    .expired
                    .iter()
                    .map(|p| p.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
                    .collect();
                return StatementResult::rows(vec![("expired_partition", Arc::new(StringArray::from(names)))]);
            }
            other => {
                return Err(plan_err(format!(
                    "unknown procedure `{other}`; supported: sys.alter_column_default_value, sys.compact, sys.create_tag, sys.create_tag_from_timestamp, sys.delete_tag, sys.reset_consumer, sys.expire_snapshots, sys.rollback_to, sys.remove_orphan_files, sys.expire_partitions"
                )))
            }
        }
        Ok(StatementResult::command(None))
    }
}

/// `partitions` of `sys.compact` (Paimon's form: `k1=v1,k2=v2;k1=v3`): the partitions whose keys have these
/// values, as a filter on the partition columns (values typed as the columns are).
fn partitions_filter(table: &dyntable_storage::FileStoreTable, text: &str) -> Result<dyntable_storage::Predicate> {
    use dyntable_storage::datum::Datum;
    use dyntable_storage::types::TypeKind;
    let schema = table.schema();
    let mut any = Vec::new();
    for spec in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let mut all = Vec::new();
        for pair in spec.split(',') {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                plan_err(format!("CALL sys.compact: partition `{pair}` in `partitions` = '{text}' is not key=value"))
            })?;
            let (k, v) = (k.trim(), v.trim());
            let field =
                schema.partition_keys.iter().any(|p| p == k).then(|| schema.field(k)).flatten().ok_or_else(|| {
                    plan_err(format!(
                        "CALL sys.compact: `{k}` is not a partition key of {} (partition keys: {:?})",
                        table.name(),
                        schema.partition_keys
                    ))
                })?;
            let literal = match field.data_type.kind {
                TypeKind::TinyInt | TypeKind::SmallInt | TypeKind::Int | TypeKind::BigInt => {
                    v.parse::<i64>().map(Datum::I64).map_err(|_| {
                        plan_err(format!("CALL sys.compact: partition value `{k}` = '{v}' is not an integer"))
                    })
                }
                TypeKind::Boolean => v.parse::<bool>().map(Datum::Bool).map_err(|_| {
                    plan_err(format!("CALL sys.compact: partition value `{k}` = '{v}' is not true or false"))
                }),
                _ => Ok(Datum::String(v.to_string())),
            }?
            .coerce_to(&field.data_type)
            .map_err(|e| plan_err(format!("CALL sys.compact: partition value `{k}` = '{v}': {e}")))?;
            all.push(dyntable_storage::Predicate::eq(k, literal));
        }
        any.push(if all.len() == 1 { all.remove(0) } else { dyntable_storage::Predicate::And(all) });
    }
    Ok(if any.len() == 1 { any.remove(0) } else { dyntable_storage::Predicate::Or(any) })
}

/// The arguments of `sys.expire_snapshots` after the table (Paimon's: retain_max, retain_min, older_than,
/// max_deletes; named or in order).
fn expire_config(args: &[(Option<String>, String)]) -> Result<dyntable_storage::ExpireConfig> {
    let arg = |i: usize, named: &str| -> Option<String> {
        args.iter()
            .find(|(n, _)| n.as_deref() == Some(named))
            .or_else(|| args.get(i).filter(|a| a.0.is_none()))
            .map(|a| a.1.clone())
    };
    let count = |i: usize, named: &str| -> Result<Option<usize>> {
        match arg(i, named) {
            None => Ok(None),
            Some(v) => v.trim().parse::<usize>().map(Some).map_err(|_| {
                plan_err(format!("CALL sys.expire_snapshots: `{named}` = '{v}' is not a non-negative count"))
            }),
        }
    };
    let older_than_millis = timestamp_arg("sys.expire_snapshots", "older_than", arg(3, "older_than"))?;
    Ok(dyntable_storage::ExpireConfig {
        retain_max: count(1, "retain_max")?,
        retain_min: count(2, "retain_min")?,
        older_than_millis,
        max_deletes: count(4, "max_deletes")?,
    })
}

/// A procedure's timestamp argument (ISO-8601) as milliseconds since the epoch; errors name the argument.
fn timestamp_arg(procedure: &str, name: &str, value: Option<String>) -> Result<Option<i64>> {
    value
        .map(|t| {
            dyntable_storage::datum::parse_timestamp(&t)
                .map(|(ms, _)| ms)
                .map_err(|e| plan_err(format!("CALL {procedure}: `{name}` = '{t}': {e}")))
        })
        .transpose()
}
