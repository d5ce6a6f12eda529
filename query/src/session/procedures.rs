//! `CALL` procedures: `sys.create_tag`, `sys.delete_tag` and `sys.expire_snapshots`.

use datafusion::error::Result;
use dyntable_storage::Identifier;

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
            "sys.expire_snapshots" => {
                // Paimon's arguments: table, retain_max, retain_min, older_than, max_deletes (named or in order).
                let ident = table_arg(arg(0, "table"))?;
                let config = expire_config(&args)?;
                let expired = self.table(&ident).await?.expire_snapshots(&config).await.map_err(external)?;
                let column = std::sync::Arc::new(arrow::array::Int64Array::from(vec![expired as i64]));
                return StatementResult::rows(vec![("expired_snapshots", column)]);
            }
            other => {
                return Err(plan_err(format!(
                    "unknown procedure `{other}`; supported: sys.create_tag, sys.delete_tag, sys.expire_snapshots"
                )))
            }
        }
        Ok(StatementResult::command(None))
    }
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
    let older_than_millis = match arg(3, "older_than") {
        None => None,
        Some(t) => Some(
            dyntable_storage::datum::parse_timestamp(&t)
                .map_err(|e| plan_err(format!("CALL sys.expire_snapshots: `older_than` = '{t}': {e}")))?
                .0,
        ),
    };
    Ok(dyntable_storage::ExpireConfig {
        retain_max: count(1, "retain_max")?,
        retain_min: count(2, "retain_min")?,
        older_than_millis,
        max_deletes: count(4, "max_deletes")?,
    })
}
