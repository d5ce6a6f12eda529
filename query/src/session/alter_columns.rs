//! `ALTER TABLE` column changes (Flink's and Spark's spellings) as Paimon's schema changes
//! (`dyntable_storage::SchemaChange`), applied atomically in one new schema:
//!
//! - `ADD [COLUMN | COLUMNS] col TYPE [COMMENT '..'] [FIRST | AFTER c]`, or several in parentheses;
//! - `DROP [COLUMN | COLUMNS] c` or `DROP (c1, c2)` (`DROP PARTITION` is in `ddl.rs`);
//! - `RENAME [COLUMN] a TO b`;
//! - `MODIFY [COLUMN] col TYPE [NOT NULL] [COMMENT '..']`, or several in parentheses: a type widening, a
//!   nullability relaxed, a comment; what the storage refuses (narrowing, key columns) comes back with its reason.

use dyntable_storage::types::parse_sql_fields;
use dyntable_storage::{ColumnPosition, FileStoreTable, SchemaChange};

use datafusion::error::Result;

use super::parser::Parser;
use crate::error::plan_err;
use crate::lexer::{Kind, Token};

/// One column as written after ADD or MODIFY.
struct ColumnDef {
    name: String,
    field: dyntable_storage::types::DataField,
    comment: Option<String>,
    position: Option<ColumnPosition>,
}

/// The schema changes of the rest of an `ALTER TABLE` statement after its table name, whose first keyword
/// (`ADD`, `DROP`, `RENAME`, `MODIFY`) is next; `None` when it is none of these.
pub(super) fn parse(p: &mut Parser<'_>, table: &FileStoreTable) -> Result<Option<Vec<SchemaChange>>> {
    let src = p.src;
    if p.eat_kw("ADD") {
        let defs = column_defs(p, src, &["COLUMN", "COLUMNS"])?;
        let mut out = Vec::new();
        for d in defs {
            if !d.field.data_type.nullable {
                return Err(plan_err(format!(
                    "ADD COLUMN `{}`: a new column must be nullable (its old rows have no value)",
                    d.name
                )));
            }
            out.push(SchemaChange::AddColumn {
                name: d.name,
                data_type: d.field.data_type,
                comment: d.comment,
                position: d.position.unwrap_or(ColumnPosition::Last),
            });
        }
        return Ok(Some(out));
    }
    if p.eat_kw("DROP") {
        p.eat_kw("COLUMNS");
        p.eat_kw("COLUMN");
        let names = if opens_paren(p) { p.ident_list()? } else { vec![p.ident()?] };
        p.expect_end()?;
        return Ok(Some(names.into_iter().map(SchemaChange::DropColumn).collect()));
    }
    if p.eat_kw("RENAME") {
        if p.peek_kw("TO") {
            return Err(plan_err("ALTER TABLE ... RENAME TO (renaming a table) is not supported"));
        }
        p.eat_kw("COLUMN");
        let from = p.ident()?;
        p.expect_kw("TO")?;
        let to = p.ident()?;
        p.expect_end()?;
        return Ok(Some(vec![SchemaChange::RenameColumn { from, to }]));
    }
    if p.eat_kw("MODIFY") {
        let defs = column_defs(p, src, &["COLUMN", "COLUMNS"])?;
        let schema = table.schema();
        let mut out = Vec::new();
        for d in defs {
            let current = schema
                .fields
                .iter()
                .find(|f| f.name == d.name)
                .ok_or_else(|| plan_err(format!("MODIFY: table `{}` has no column `{}`", table.name(), d.name)))?;
            if d.position.is_some() {
                return Err(plan_err(format!("MODIFY `{}`: moving a column (FIRST / AFTER) is not supported", d.name)));
            }
            let (mut want, have) = (d.field.data_type.clone(), current.data_type.clone());
            want.nullable = have.nullable;
            if want != have {
                out.push(SchemaChange::UpdateColumnType { name: d.name.clone(), data_type: d.field.data_type.clone() });
            }
            if d.field.data_type.nullable != have.nullable {
                out.push(SchemaChange::UpdateColumnNullability {
                    name: d.name.clone(),
                    nullable: d.field.data_type.nullable,
                });
            }
            if d.comment.is_some() && d.comment != current.description {
                out.push(SchemaChange::UpdateColumnComment { name: d.name.clone(), comment: d.comment });
            }
        }
        return Ok(Some(out));
    }
    Ok(None)
}

/// `[COLUMN] def` or `[COLUMNS] (def, def, ...)` to the end of the statement.
fn column_defs(p: &mut Parser<'_>, src: &str, optional: &[&str]) -> Result<Vec<ColumnDef>> {
    for kw in optional {
        p.eat_kw(kw);
    }
    if opens_paren(p) {
        let elements = p.paren_elements()?;
        p.expect_end()?;
        elements.into_iter().map(|el| column_def(&mut Parser::from_tokens(src, el), src)).collect()
    } else {
        let rest: Vec<Token> = p.toks[p.pos..].to_vec();
        p.pos = p.toks.len();
        Ok(vec![column_def(&mut Parser::from_tokens(src, rest), src)?])
    }
}

/// `name TYPE [NOT NULL] [COMMENT '..'] [FIRST | AFTER c]`.
fn column_def(e: &mut Parser<'_>, src: &str) -> Result<ColumnDef> {
    let name = e.ident()?;
    let type_start = e.pos;
    while let Some(t) = e.peek() {
        if t.is_kw(src, "COMMENT") || t.is_kw(src, "FIRST") || t.is_kw(src, "AFTER") {
            break;
        }
        e.next();
    }
    if type_start == e.pos {
        return Err(plan_err(format!("column `{name}` has no type")));
    }
    let type_text = &src[e.toks[type_start].start..e.toks[e.pos - 1].end];
    let (mut fields, _) = parse_sql_fields(&format!("`{}` {type_text}", name.replace('`', "")))
        .map_err(|e| plan_err(format!("column `{name}`: {e}")))?;
    let field = fields.pop().ok_or_else(|| plan_err(format!("column `{name}` has no type")))?;
    let mut comment = None;
    let mut position = None;
    loop {
        if e.eat_kw("COMMENT") {
            comment = Some(e.string()?);
        } else if e.eat_kw("FIRST") {
            position = Some(ColumnPosition::First);
        } else if e.eat_kw("AFTER") {
            position = Some(ColumnPosition::After(e.ident()?));
        } else if e.peek().is_some() {
            return Err(plan_err(format!("column `{name}`: unexpected `{}`", e.rest())));
        } else {
            break;
        }
    }
    Ok(ColumnDef { name, field, comment, position })
}

fn opens_paren(p: &Parser<'_>) -> bool {
    p.peek().is_some_and(|t| t.kind == Kind::Punct && t.text(p.src) == "(")
}
