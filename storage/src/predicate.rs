//! Predicates on columns: evaluated exactly on rows (Arrow kernels) and conservatively on statistics
//! (partition values, file min/max/null counts) to prune what cannot match.

use arrow::array::{Array, BooleanArray, RecordBatch, Scalar};
use arrow::compute::kernels::{boolean, cmp};
use arrow::compute::{is_not_null, is_null};

use crate::datum::Datum;
use crate::error::{Error, Result};
use crate::schema::TableSchema;
use crate::stats::ColStats;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    Cmp(String, CmpOp, Datum),
    In(String, Vec<Datum>),
    IsNull(String),
    IsNotNull(String),
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
}

impl Predicate {
    /// What of this filter may prune by statistics when `columns` read differently from what the files store
    /// (defaults fill their nulls): the conjuncts that name none of them; `None` when nothing is left.
    pub fn without_columns(&self, columns: &[&str]) -> Option<Predicate> {
        let touches = |p: &Predicate| {
            let mut names = Vec::new();
            p.columns(&mut names);
            names.iter().any(|n| columns.contains(&n.as_str()))
        };
        if columns.is_empty() {
            return Some(self.clone());
        }
        match self {
            Predicate::And(parts) => {
                let kept: Vec<Predicate> = parts.iter().filter(|p| !touches(p)).cloned().collect();
                match kept.len() {
                    0 => None,
                    1 => kept.into_iter().next(),
                    _ => Some(Predicate::And(kept)),
                }
            }
            p if touches(p) => None,
            p => Some(p.clone()),
        }
    }

    pub fn eq(col: &str, v: Datum) -> Self {
        Predicate::Cmp(col.into(), CmpOp::Eq, v)
    }
    pub fn cmp(col: &str, op: CmpOp, v: Datum) -> Self {
        Predicate::Cmp(col.into(), op, v)
    }

    /// Columns the predicate reads.
    pub fn columns(&self, out: &mut Vec<String>) {
        match self {
            Predicate::Cmp(c, ..) | Predicate::In(c, _) | Predicate::IsNull(c) | Predicate::IsNotNull(c) => {
                if !out.contains(c) {
                    out.push(c.clone())
                }
            }
            Predicate::And(ps) | Predicate::Or(ps) => ps.iter().for_each(|p| p.columns(out)),
        }
    }

    /// Checks that every column exists and every literal fits its column's type.
    pub fn validate(&self, schema: &TableSchema) -> Result<()> {
        let check = |c: &str, vals: &[&Datum]| -> Result<()> {
            let f = schema.field(c).ok_or_else(|| Error::invalid(format!("filter names unknown column `{c}`")))?;
            for v in vals {
                v.coerce_to(&f.data_type).map_err(|e| Error::invalid(format!("filter on `{c}`: {e}")))?;
            }
            Ok(())
        };
        match self {
            Predicate::Cmp(c, _, v) => check(c, &[v]),
            Predicate::In(c, vs) => check(c, &vs.iter().collect::<Vec<_>>()),
            Predicate::IsNull(c) | Predicate::IsNotNull(c) => check(c, &[]),
            Predicate::And(ps) | Predicate::Or(ps) => ps.iter().try_for_each(|p| p.validate(schema)),
        }
    }

    /// True when the predicate only reads columns in `cols`.
    pub fn only_reads(&self, cols: &[String]) -> bool {
        let mut used = Vec::new();
        self.columns(&mut used);
        used.iter().all(|c| cols.contains(c))
    }

    /// Keeps the parts of an AND that only read `cols` (a weaker predicate, safe for pruning).
    pub fn restrict_to(&self, cols: &[String]) -> Option<Predicate> {
        match self {
            Predicate::And(ps) => {
                let kept: Vec<_> = ps.iter().filter_map(|p| p.restrict_to(cols)).collect();
                match kept.len() {
                    0 => None,
                    1 => kept.into_iter().next(),
                    _ => Some(Predicate::And(kept)),
                }
            }
            p if p.only_reads(cols) => Some(p.clone()),
            _ => None,
        }
    }

    /// Whether rows whose column stats are `stats(col)` (and `row_count` rows) might match. Unknown stats
    /// answer true: pruning must never drop a matching row.
    pub fn might_match(&self, stats: &dyn Fn(&str) -> Option<ColStats>, row_count: i64) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Predicate::And(ps) => ps.iter().all(|p| p.might_match(stats, row_count)),
            Predicate::Or(ps) => ps.iter().any(|p| p.might_match(stats, row_count)),
            Predicate::IsNull(c) => match stats(c).and_then(|s| s.null_count) {
                Some(n) => n > 0,
                None => true,
            },
            Predicate::IsNotNull(c) => match stats(c).and_then(|s| s.null_count) {
                Some(n) => n < row_count,
                None => true,
            },
            Predicate::In(c, vs) => {
                vs.iter().any(|v| Predicate::Cmp(c.clone(), CmpOp::Eq, v.clone()).might_match(stats, row_count))
            }
            Predicate::Cmp(c, op, v) => {
                let Some(s) = stats(c) else { return true };
                if v.is_null() {
                    return false;
                }
                if s.null_count == Some(row_count) && row_count > 0 {
                    return false;
                }
                let (min, max) = (&s.min, &s.max);
                let lo = if min.is_null() { None } else { v.partial_cmp_value(min) };
                let hi = if max.is_null() { None } else { v.partial_cmp_value(max) };
                match op {
                    CmpOp::Eq => lo != Some(Less) && hi != Some(Greater),
                    CmpOp::NotEq => !(lo == Some(Equal) && hi == Some(Equal)),
                    // col < v is possible unless min >= v
                    CmpOp::Lt => !matches!(lo, Some(Less) | Some(Equal)),
                    CmpOp::LtEq => lo != Some(Less),
                    CmpOp::Gt => !matches!(hi, Some(Greater) | Some(Equal)),
                    CmpOp::GtEq => hi != Some(Greater),
                }
            }
        }
    }

    /// Evaluates on rows; null comparisons are false (SQL semantics for a WHERE clause).
    pub fn evaluate(&self, batch: &RecordBatch, schema: &TableSchema) -> Result<BooleanArray> {
        let column = |c: &str| {
            batch.column_by_name(c).cloned().ok_or_else(|| Error::Internal(format!("filter column `{c}` was not read")))
        };
        let ty = |c: &str| {
            schema
                .field(c)
                .map(|f| f.data_type.clone())
                .ok_or_else(|| Error::invalid(format!("filter names unknown column `{c}`")))
        };
        let out = match self {
            Predicate::Cmp(c, op, v) => {
                let col = column(c)?;
                if v.is_null() {
                    BooleanArray::from(vec![false; batch.num_rows()])
                } else {
                    let lit = v.to_array(&ty(c)?)?;
                    let lit = arrow::compute::cast(&lit, col.data_type())?;
                    let s = Scalar::new(lit);
                    match op {
                        CmpOp::Eq => cmp::eq(&col, &s)?,
                        CmpOp::NotEq => cmp::neq(&col, &s)?,
                        CmpOp::Lt => cmp::lt(&col, &s)?,
                        CmpOp::LtEq => cmp::lt_eq(&col, &s)?,
                        CmpOp::Gt => cmp::gt(&col, &s)?,
                        CmpOp::GtEq => cmp::gt_eq(&col, &s)?,
                    }
                }
            }
            Predicate::In(c, vs) => {
                let mut acc = BooleanArray::from(vec![false; batch.num_rows()]);
                for v in vs {
                    let m = Predicate::Cmp(c.clone(), CmpOp::Eq, v.clone()).evaluate(batch, schema)?;
                    acc = boolean::or_kleene(&acc, &m)?;
                }
                acc
            }
            Predicate::IsNull(c) => is_null(&column(c)?)?,
            Predicate::IsNotNull(c) => is_not_null(&column(c)?)?,
            Predicate::And(ps) => {
                let mut acc = BooleanArray::from(vec![true; batch.num_rows()]);
                for p in ps {
                    acc = boolean::and_kleene(&acc, &p.evaluate(batch, schema)?)?;
                }
                acc
            }
            Predicate::Or(ps) => {
                let mut acc = BooleanArray::from(vec![false; batch.num_rows()]);
                for p in ps {
                    acc = boolean::or_kleene(&acc, &p.evaluate(batch, schema)?)?;
                }
                acc
            }
        };
        // Nulls (unknown) do not match.
        Ok(if out.null_count() > 0 { boolean::and(&out, &is_not_null(&out)?)? } else { out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(min: i64, max: i64, nulls: i64) -> ColStats {
        ColStats { min: Datum::I64(min), max: Datum::I64(max), null_count: Some(nulls) }
    }

    /// Pruning answers false only when stats prove no row can match.
    #[test]
    fn stats_pruning() {
        let s = |_: &str| Some(st(10, 20, 0));
        let p = |op, v| Predicate::cmp("x", op, Datum::I64(v));
        assert!(!p(CmpOp::Eq, 5).might_match(&s, 10));
        assert!(p(CmpOp::Eq, 10).might_match(&s, 10));
        assert!(!p(CmpOp::Lt, 10).might_match(&s, 10));
        assert!(p(CmpOp::LtEq, 10).might_match(&s, 10));
        assert!(!p(CmpOp::Gt, 20).might_match(&s, 10));
        assert!(p(CmpOp::GtEq, 20).might_match(&s, 10));
        assert!(!Predicate::IsNull("x".into()).might_match(&s, 10));
        assert!(Predicate::In("x".into(), vec![Datum::I64(1), Datum::I64(15)]).might_match(&s, 10));
        assert!(!Predicate::And(vec![p(CmpOp::Eq, 15), p(CmpOp::Eq, 30)]).might_match(&s, 10));
        assert!(Predicate::Or(vec![p(CmpOp::Eq, 15), p(CmpOp::Eq, 30)]).might_match(&s, 10));
        // Integer literals of another width still compare.
        assert!(!Predicate::cmp("x", CmpOp::Eq, Datum::I32(5)).might_match(&s, 10));
        let unknown = |_: &str| None;
        assert!(p(CmpOp::Eq, 5).might_match(&unknown, 10));
    }
}
