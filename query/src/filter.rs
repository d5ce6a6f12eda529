//! Translating DataFusion filter expressions into storage [`Predicate`]s.
//!
//! Only expressions whose storage evaluation gives the same rows as DataFusion's are translated: a
//! column of the table compared with a literal of the column's own Arrow type (DataFusion's type
//! coercion and simplifier put literals into that form), combined with AND / OR. Anything else (casts,
//! functions, NOT, LIKE, literals of another type, NULL literals) is left to DataFusion.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType as ArrowType, TimeUnit};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::prelude::{SessionConfig, SessionContext};
use dyntable_storage::types::TypeKind;
use dyntable_storage::{CmpOp, Datum, Predicate, TableSchema};

/// Translates `expr` into a predicate over `schema`, or `None` when it cannot be translated exactly.
///
/// Supported: `col <op> lit` and `lit <op> col` for `=`, `<>`, `<`, `<=`, `>`, `>=`; `col [NOT] IN (lits)`;
/// `col [NOT] BETWEEN lit AND lit`; `col IS [NOT] NULL`; `AND` / `OR` of supported expressions.
pub fn expr_to_predicate(expr: &Expr, schema: &TableSchema) -> Option<Predicate> {
    let p = translate(expr, schema)?;
    // The storage checks literals against column types again; anything it rejects stays in DataFusion.
    p.validate(schema).ok()?;
    Some(p)
}

/// Parses `text`, a SQL boolean expression over the columns of `schema` such as
/// `dt = '2024-01-01' AND (id > 3 OR name IS NULL) AND k IN (1, 2)`, into a storage predicate.
///
/// DataFusion's SQL parser and planner read the expression against the table's Arrow schema (column names
/// are case-sensitive, quoted with `"` or `` ` `` when needed); its type coercion and simplifier then put
/// literals into the columns' types (`id > 3` on an INT column, `ts < '2024-01-02'` on a timestamp), and
/// [`expr_to_predicate`] translates the result. The error names the expression: when it does not parse or
/// plan (a syntax error, an unknown column), or when it is not one the storage evaluates exactly (see
/// [`expr_to_predicate`] for what is).
pub fn parse_predicate(text: &str, schema: &TableSchema) -> dyntable_storage::Result<Predicate> {
    let invalid = |why: String| dyntable_storage::Error::invalid(format!("filter `{text}`: {why}"));
    let df_schema = DFSchema::try_from(schema.arrow_schema()).map_err(|e| invalid(e.to_string()))?;
    let mut config = SessionConfig::new();
    config.options_mut().sql_parser.enable_ident_normalization = false;
    let expr = SessionContext::new_with_config(config)
        .parse_sql_expr(text, &df_schema)
        .map_err(|e| invalid(format!("cannot parse it: {e}")))?;
    let simplifier = ExprSimplifier::new(SimplifyContext::builder().with_schema(Arc::new(df_schema.clone())).build());
    let expr = simplifier
        .coerce(expr, &df_schema)
        .and_then(|e| simplifier.simplify(e))
        .map_err(|e| invalid(format!("cannot type it: {e}")))?;
    expr_to_predicate(&expr, schema).ok_or_else(|| {
        invalid(format!(
            "the storage cannot evaluate `{expr}`: it takes comparisons (=, <>, <, <=, >, >=) of a column with a \
             literal of the column's type, [NOT] IN, [NOT] BETWEEN, IS [NOT] NULL, and AND / OR of those"
        ))
    })
}

/// Translates every filter and ANDs them; `None` when no filter is given.
///
/// Filters that cannot be translated are skipped, so the result is implied by (never stronger than)
/// the conjunction of `filters`.
pub fn filters_to_predicate(filters: &[Expr], schema: &TableSchema) -> Option<Predicate> {
    let mut parts: Vec<Predicate> = Vec::new();
    for f in filters {
        match expr_to_predicate(f, schema) {
            Some(Predicate::And(ps)) => parts.extend(ps),
            Some(p) => parts.push(p),
            None => {}
        }
    }
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Predicate::And(parts)),
    }
}

fn translate(expr: &Expr, schema: &TableSchema) -> Option<Predicate> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => Some(flatten_and(vec![translate(left, schema)?, translate(right, schema)?])),
            Operator::Or => Some(flatten_or(vec![translate(left, schema)?, translate(right, schema)?])),
            _ => {
                let op = cmp_op(*op)?;
                if let (Some(c), Expr::Literal(v, _)) = (column(left, schema), right.as_ref()) {
                    Some(Predicate::Cmp(c.to_string(), op, literal(v, schema, c)?))
                } else if let (Expr::Literal(v, _), Some(c)) = (left.as_ref(), column(right, schema)) {
                    Some(Predicate::Cmp(c.to_string(), flip(op), literal(v, schema, c)?))
                } else {
                    None
                }
            }
        },
        Expr::IsNull(e) => Some(Predicate::IsNull(column(e, schema)?.to_string())),
        Expr::IsNotNull(e) => Some(Predicate::IsNotNull(column(e, schema)?.to_string())),
        Expr::InList(list) => {
            let c = column(&list.expr, schema)?;
            let values = list
                .list
                .iter()
                .map(|e| match e {
                    Expr::Literal(v, _) => literal(v, schema, c),
                    _ => None,
                })
                .collect::<Option<Vec<Datum>>>()?;
            if values.is_empty() {
                return None;
            }
            if list.negated {
                // `c NOT IN (a, b)` is `c <> a AND c <> b` in three-valued logic.
                Some(flatten_and(values.into_iter().map(|v| Predicate::Cmp(c.to_string(), CmpOp::NotEq, v)).collect()))
            } else {
                Some(Predicate::In(c.to_string(), values))
            }
        }
        Expr::Between(Between { expr, negated, low, high }) => {
            let c = column(expr, schema)?;
            let (Expr::Literal(lo, _), Expr::Literal(hi, _)) = (low.as_ref(), high.as_ref()) else {
                return None;
            };
            let (lo, hi) = (literal(lo, schema, c)?, literal(hi, schema, c)?);
            Some(if *negated {
                Predicate::Or(vec![
                    Predicate::Cmp(c.to_string(), CmpOp::Lt, lo),
                    Predicate::Cmp(c.to_string(), CmpOp::Gt, hi),
                ])
            } else {
                Predicate::And(vec![
                    Predicate::Cmp(c.to_string(), CmpOp::GtEq, lo),
                    Predicate::Cmp(c.to_string(), CmpOp::LtEq, hi),
                ])
            })
        }
        _ => None,
    }
}

fn flatten_and(parts: Vec<Predicate>) -> Predicate {
    let mut out = Vec::new();
    for p in parts {
        match p {
            Predicate::And(ps) => out.extend(ps),
            p => out.push(p),
        }
    }
    Predicate::And(out)
}

fn flatten_or(parts: Vec<Predicate>) -> Predicate {
    let mut out = Vec::new();
    for p in parts {
        match p {
            Predicate::Or(ps) => out.extend(ps),
            p => out.push(p),
        }
    }
    Predicate::Or(out)
}

/// The name of a table column referenced directly (no cast, no function).
fn column<'a>(expr: &'a Expr, schema: &TableSchema) -> Option<&'a str> {
    match expr {
        Expr::Column(c) if schema.field(&c.name).is_some() => Some(c.name.as_str()),
        _ => None,
    }
}

fn cmp_op(op: Operator) -> Option<CmpOp> {
    Some(match op {
        Operator::Eq => CmpOp::Eq,
        Operator::NotEq => CmpOp::NotEq,
        Operator::Lt => CmpOp::Lt,
        Operator::LtEq => CmpOp::LtEq,
        Operator::Gt => CmpOp::Gt,
        Operator::GtEq => CmpOp::GtEq,
        _ => return None,
    })
}

/// `lit op col` as `col flip(op) lit`.
fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Eq,
        CmpOp::NotEq => CmpOp::NotEq,
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::LtEq => CmpOp::GtEq,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::GtEq => CmpOp::LtEq,
    }
}

/// Converts a literal compared with column `col` into a [`Datum`], only when the conversion and the
/// storage's comparison are exact: the literal has the column's Arrow type (integers of any width and
/// strings of any Arrow encoding are accepted; range is checked by the caller's `validate`).
fn literal(value: &ScalarValue, schema: &TableSchema, col: &str) -> Option<Datum> {
    let ty = &schema.field(col)?.data_type;
    let value = match value {
        ScalarValue::Dictionary(_, inner) => inner.as_ref(),
        v => v,
    };
    if value.is_null() {
        return None;
    }
    let int = |v: &ScalarValue| -> Option<i64> {
        Some(match v {
            ScalarValue::Int8(Some(v)) => *v as i64,
            ScalarValue::Int16(Some(v)) => *v as i64,
            ScalarValue::Int32(Some(v)) => *v as i64,
            ScalarValue::Int64(Some(v)) => *v,
            ScalarValue::UInt8(Some(v)) => *v as i64,
            ScalarValue::UInt16(Some(v)) => *v as i64,
            ScalarValue::UInt32(Some(v)) => *v as i64,
            ScalarValue::UInt64(Some(v)) => i64::try_from(*v).ok()?,
            _ => return None,
        })
    };
    let d = match (&ty.kind, value) {
        (TypeKind::Boolean, ScalarValue::Boolean(Some(b))) => Datum::Bool(*b),
        (TypeKind::TinyInt | TypeKind::SmallInt | TypeKind::Int | TypeKind::BigInt, v) => Datum::I64(int(v)?),
        (TypeKind::Float, ScalarValue::Float32(Some(v))) => Datum::F32(*v),
        (TypeKind::Double, ScalarValue::Float64(Some(v))) => Datum::F64(*v),
        (TypeKind::Decimal { scale, .. }, ScalarValue::Decimal128(Some(v), _, s)) if *s >= 0 && *s as u8 == *scale => {
            Datum::Decimal(*v, 38, *scale)
        }
        (
            TypeKind::Char(_) | TypeKind::VarChar(_),
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)),
        ) => Datum::String(s.clone()),
        (
            TypeKind::Binary(_) | TypeKind::VarBinary(_),
            ScalarValue::Binary(Some(b)) | ScalarValue::LargeBinary(Some(b)) | ScalarValue::BinaryView(Some(b)),
        ) => Datum::Bytes(b.clone()),
        (TypeKind::Date, ScalarValue::Date32(Some(d))) => Datum::Date(*d),
        (TypeKind::Time(_), ScalarValue::Time32Millisecond(Some(t))) => Datum::Time(*t),
        (TypeKind::Timestamp(_) | TypeKind::TimestampLtz(_), v) => {
            let ArrowType::Timestamp(unit, col_tz) = ty.to_arrow() else {
                return None;
            };
            let (lit_unit, value, lit_tz) = match v {
                ScalarValue::TimestampMillisecond(Some(x), tz) => (TimeUnit::Millisecond, *x, tz),
                ScalarValue::TimestampMicrosecond(Some(x), tz) => (TimeUnit::Microsecond, *x, tz),
                ScalarValue::TimestampNanosecond(Some(x), tz) => (TimeUnit::Nanosecond, *x, tz),
                _ => return None,
            };
            // Same unit (no rounding); a zoned literal only against a zoned (LTZ) column, where values are
            // UTC instants whatever the zone's name.
            if lit_unit != unit || col_tz.is_some() != lit_tz.is_some() {
                return None;
            }
            match unit {
                TimeUnit::Millisecond => Datum::Timestamp(value, 0),
                TimeUnit::Microsecond => {
                    Datum::Timestamp(value.div_euclid(1000), (value.rem_euclid(1000) * 1000) as i32)
                }
                TimeUnit::Nanosecond => {
                    Datum::Timestamp(value.div_euclid(1_000_000), value.rem_euclid(1_000_000) as i32)
                }
                TimeUnit::Second => return None,
            }
        }
        _ => return None,
    };
    // Exactly representable in the column's type (e.g. an integer literal within the column's range).
    d.coerce_to(ty).ok()
}

/// Displays a predicate in SQL-like form, e.g. `dt = '2024-01-01' AND id IN (1, 2)`.
pub struct DisplayPredicate<'a>(pub &'a Predicate);

impl fmt::Display for DisplayPredicate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn write(p: &Predicate, f: &mut fmt::Formatter<'_>, nested: bool) -> fmt::Result {
            let join = |f: &mut fmt::Formatter<'_>, ps: &[Predicate], sep: &str| -> fmt::Result {
                if nested {
                    f.write_str("(")?;
                }
                for (i, p) in ps.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    write(p, f, true)?;
                }
                if nested {
                    f.write_str(")")?;
                }
                Ok(())
            };
            match p {
                Predicate::Cmp(c, op, v) => {
                    let op = match op {
                        CmpOp::Eq => "=",
                        CmpOp::NotEq => "<>",
                        CmpOp::Lt => "<",
                        CmpOp::LtEq => "<=",
                        CmpOp::Gt => ">",
                        CmpOp::GtEq => ">=",
                    };
                    write!(f, "{c} {op} {v}")
                }
                Predicate::In(c, vs) => {
                    write!(f, "{c} IN (")?;
                    for (i, v) in vs.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{v}")?;
                    }
                    f.write_str(")")
                }
                Predicate::IsNull(c) => write!(f, "{c} IS NULL"),
                Predicate::IsNotNull(c) => write!(f, "{c} IS NOT NULL"),
                Predicate::And(ps) => join(f, ps, " AND "),
                Predicate::Or(ps) => join(f, ps, " OR "),
            }
        }
        write(self.0, f, false)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use datafusion::prelude::{col, lit};

    use super::*;

    fn schema() -> TableSchema {
        let (fields, highest) = dyntable_storage::types::parse_sql_fields(
            "id INT NOT NULL, name STRING, price DECIMAL(10, 2), ts TIMESTAMP(3), f DOUBLE",
        )
        .unwrap();
        TableSchema::new(fields, highest, vec![], vec![], BTreeMap::new(), None).unwrap()
    }

    /// Comparisons translate both ways round, with the operator flipped when the literal is on the left.
    #[test]
    fn comparisons() {
        let s = schema();
        assert_eq!(
            expr_to_predicate(&col("id").eq(lit(5i32)), &s),
            Some(Predicate::Cmp("id".into(), CmpOp::Eq, Datum::I32(5)))
        );
        assert_eq!(
            expr_to_predicate(&lit(5i64).lt(col("id")), &s),
            Some(Predicate::Cmp("id".into(), CmpOp::Gt, Datum::I32(5)))
        );
        assert_eq!(
            expr_to_predicate(&col("name").not_eq(lit("x")), &s),
            Some(Predicate::Cmp("name".into(), CmpOp::NotEq, Datum::String("x".into())))
        );
        assert_eq!(
            expr_to_predicate(&col("price").gt_eq(lit(ScalarValue::Decimal128(Some(1250), 10, 2))), &s),
            Some(Predicate::Cmp("price".into(), CmpOp::GtEq, Datum::Decimal(1250, 10, 2)))
        );
        assert_eq!(
            expr_to_predicate(&col("ts").lt(lit(ScalarValue::TimestampMillisecond(Some(1500), None))), &s),
            Some(Predicate::Cmp("ts".into(), CmpOp::Lt, Datum::Timestamp(1500, 0)))
        );
    }

    /// IN, NOT IN, BETWEEN, IS [NOT] NULL and AND/OR trees translate; flattened where possible.
    #[test]
    fn compound() {
        let s = schema();
        let e = col("id")
            .in_list(vec![lit(1i32), lit(2i32)], false)
            .and(col("name").is_not_null())
            .or(col("f").between(lit(1.0f64), lit(2.0f64)));
        let p = expr_to_predicate(&e, &s).unwrap();
        assert_eq!(DisplayPredicate(&p).to_string(), "(id IN (1, 2) AND name IS NOT NULL) OR (f >= 1 AND f <= 2)");
        let e = col("id").in_list(vec![lit(1i32), lit(2i32)], true);
        assert_eq!(DisplayPredicate(&expr_to_predicate(&e, &s).unwrap()).to_string(), "id <> 1 AND id <> 2");
        let e = col("id").not_between(lit(1i32), lit(9i32));
        assert_eq!(DisplayPredicate(&expr_to_predicate(&e, &s).unwrap()).to_string(), "id < 1 OR id > 9");
        let p =
            filters_to_predicate(&[col("id").gt(lit(1i32)), col("name").like(lit("a%")), col("id").lt(lit(5i32))], &s)
                .unwrap();
        assert_eq!(DisplayPredicate(&p).to_string(), "id > 1 AND id < 5");
    }

    /// SQL text parses into the same predicates as the expressions DataFusion plans; errors name the filter.
    #[test]
    fn parses_sql_filters() {
        let s = schema();
        let p = parse_predicate("name = 'x' AND (id > 3 OR name IS NULL) AND f IN (1.5, 2.5, 3.5, 4.5)", &s).unwrap();
        let Predicate::And(parts) = &p else { panic!("expected AND: {p:?}") };
        assert_eq!(parts.len(), 3, "{p:?}");
        assert_eq!(parts[0], Predicate::Cmp("name".into(), CmpOp::Eq, Datum::String("x".into())));
        assert_eq!(DisplayPredicate(&parts[1]).to_string(), "id > 3 OR name IS NULL");
        assert!(matches!(&parts[2], Predicate::In(c, vs) if c == "f" && vs.len() == 4), "{p:?}");
        assert_eq!(
            parse_predicate("`id` <= -2", &s).unwrap(),
            Predicate::Cmp("id".into(), CmpOp::LtEq, Datum::I32(-2)),
            "an INT column compares with an INT literal; backticks quote"
        );
        assert_eq!(
            parse_predicate("ts < '1970-01-01 00:00:01.5'", &s).unwrap(),
            Predicate::Cmp("ts".into(), CmpOp::Lt, Datum::Timestamp(1500, 0))
        );
        for (text, says) in
            [("id >", "cannot parse"), ("id = 1 garbage", "garbage"), ("nope = 1", "nope"), ("name LIKE 'a%'", "LIKE")]
        {
            let e = parse_predicate(text, &s).unwrap_err().to_string();
            assert!(e.contains(&format!("filter `{text}`")) && e.contains(says), "{text}: {e}");
        }
    }

    /// What cannot be evaluated identically stays with DataFusion.
    #[test]
    fn untranslatable() {
        let s = schema();
        let none = |e: Expr| assert_eq!(expr_to_predicate(&e, &s), None, "{e}");
        none(col("nope").eq(lit(1i32)));
        none(col("id").eq(lit(1.5f64)));
        none(col("id").eq(lit(i64::MAX)));
        none(col("f").eq(lit(1.5f32)));
        none(col("id").eq(col("id")));
        none(col("id").eq(lit(ScalarValue::Int32(None))));
        none(col("name").like(lit("a%")));
        none(!col("id").eq(lit(1i32)));
        none(col("price").eq(lit(ScalarValue::Decimal128(Some(1), 10, 3))));
        none(col("ts").eq(lit(ScalarValue::TimestampMicrosecond(Some(1), None))));
        none(col("id").eq(lit(1i32)).and(col("name").like(lit("a%"))));
        none(col("id").eq(lit(1i32)).or(col("name").like(lit("a%"))));
    }
}
