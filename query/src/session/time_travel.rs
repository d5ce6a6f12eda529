//! Time travel in queries: `FOR SYSTEM_TIME AS OF`, `VERSION AS OF`, `TIMESTAMP AS OF` and `/*+ OPTIONS(..) */`
//! hints are rewritten into the encoded table names [`crate::catalog`] resolves.

use datafusion::error::Result;
use dyntable_storage::incremental::{
    INCREMENTAL_BETWEEN, INCREMENTAL_BETWEEN_SCAN_MODE, INCREMENTAL_BETWEEN_TIMESTAMP,
};
use dyntable_storage::ScanFrom;

use super::parser::{ident_value, is_name_token, quote, Parser};
use super::DyntableSession;
use crate::catalog::TableName;
use crate::error::plan_err;
use crate::lexer::{tokenize, Kind, Token};
use crate::system::Incremental;

impl DyntableSession {
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
            let found: Option<(usize, usize, Target)> = if t.kind == Kind::Hint {
                Some((i, i + 1, parse_hint(t.text(text))?))
            } else if t.is_kw(text, "FOR") && kw(i + 1, "SYSTEM_TIME") && kw(i + 2, "AS") && kw(i + 3, "OF") {
                let (from, end) = time_value(text, &sig, i + 4, "FOR SYSTEM_TIME AS OF")?;
                Some((i, end, Target::At(from)))
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
                    Some((i, i + 4, Target::At(from)))
                } else {
                    let (from, end) = time_value(text, &sig, i + 3, "TIMESTAMP AS OF")?;
                    Some((i, end, Target::At(from)))
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
            let mut names: Vec<String> = parts.iter().map(|p| ident_value(p, text)).collect();
            // An incremental read names a system table (`t$audit_log`): resolve the table, keep the suffix.
            let mut system = String::new();
            if let (Target::Incremental(_), Some(last)) = (&from, names.last_mut()) {
                if let Some(at) = last.find('$') {
                    system = last.split_off(at);
                }
            }
            let ident = self.resolve_name(&names)?;
            let encoded = match &from {
                Target::At(at) => TableName::encode(&ident.table, at),
                Target::Incremental(incremental) => {
                    TableName::encode_incremental(&format!("{}{system}", ident.table), incremental)
                }
            };
            let mut replacement = format!("{}.{}", quote(&ident.database), quote(&encoded));
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
}

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

pub(super) fn parse_snapshot_id(text: &str) -> Result<i64> {
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

/// What a clause or hint makes of the table before it.
enum Target {
    /// The table at a snapshot.
    At(ScanFrom),
    /// The changes between two snapshots (`t$audit_log` only).
    Incremental(Incremental),
}

/// `/*+ OPTIONS('scan.snapshot-id' = '3') */` as a scan target, or `/*+ OPTIONS('incremental-between' = '3,7')
/// */` (with `incremental-between-scan-mode`) as an incremental read.
fn parse_hint(hint: &str) -> Result<Target> {
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
    let value = |key: &str| options.get(key).cloned();
    let between = value(INCREMENTAL_BETWEEN);
    let between_ts = value(INCREMENTAL_BETWEEN_TIMESTAMP);
    let mode = value(INCREMENTAL_BETWEEN_SCAN_MODE);
    if between.is_some() || between_ts.is_some() || mode.is_some() {
        let incremental_keys = [INCREMENTAL_BETWEEN, INCREMENTAL_BETWEEN_TIMESTAMP, INCREMENTAL_BETWEEN_SCAN_MODE];
        if let Some(other) = options.keys().find(|k| !incremental_keys.contains(&k.as_str())) {
            return Err(plan_err(format!(
                "option `{other}` cannot be combined with `{INCREMENTAL_BETWEEN}` or `{INCREMENTAL_BETWEEN_TIMESTAMP}` in an OPTIONS hint"
            )));
        }
        let incremental = match (between, between_ts) {
            (Some(between), None) => Incremental::parse(&between, mode.as_deref())?,
            (None, Some(between)) => Incremental::parse_timestamps(&between, mode.as_deref())?,
            (Some(_), Some(_)) => {
                return Err(plan_err(format!(
                    "`{INCREMENTAL_BETWEEN}` and `{INCREMENTAL_BETWEEN_TIMESTAMP}` name the same thing: give one"
                )))
            }
            (None, None) => {
                return Err(plan_err(format!(
                    "`{INCREMENTAL_BETWEEN_SCAN_MODE}` needs `{INCREMENTAL_BETWEEN}` = 'START,END' (or `{INCREMENTAL_BETWEEN_TIMESTAMP}`) in the same OPTIONS hint"
                )))
            }
        };
        return Ok(Target::Incremental(incremental));
    }
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
                    "unsupported option `{other}` in an OPTIONS hint; supported: scan.snapshot-id, scan.tag-name, scan.timestamp-millis, scan.timestamp, scan.version, incremental-between, incremental-between-timestamp, incremental-between-scan-mode"
                )))
            }
        };
        if from.is_some() {
            return Err(plan_err("an OPTIONS hint may name only one of scan.snapshot-id, scan.tag-name, scan.timestamp(-millis), scan.version"));
        }
        from = Some(f);
    }
    from.map(Target::At).ok_or_else(|| plan_err("an empty OPTIONS hint"))
}
