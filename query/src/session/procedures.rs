//! `CALL` procedures: `sys.create_tag` and `sys.delete_tag`.

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
            other => {
                return Err(plan_err(format!("unknown procedure `{other}`; supported: sys.create_tag, sys.delete_tag")))
            }
        }
        Ok(StatementResult::command(None))
    }
}
