//! The options of the merge engines (`merge-engine`, `fields.<f>.*`, the `*ignore-delete` family), checked
//! against the table's columns. The merges themselves are in `merge`.

use std::collections::{BTreeMap, HashMap};

use super::core_options::{CoreOptions, MergeEngine};
use super::parse::is_true;
use crate::error::{Error, Result};
use crate::types::{DataField, DataType, TypeKind};

/// Aggregate functions of the `aggregation` engine (and partial-update's per-field aggregation).
#[derive(Debug, Clone, PartialEq)]
pub enum AggFn {
    Sum,
    Product,
    Max,
    Min,
    LastValue,
    LastNonNullValue,
    FirstValue,
    FirstNonNullValue,
    ListAgg(String),
    BoolAnd,
    BoolOr,
    Collect {
        distinct: bool,
    },
    MergeMap,
    /// The union of 32-bit Roaring bitmaps (BYTES in the portable format Java's `RoaringBitmap` writes).
    Rbm32,
}

pub const AGG_FUNCTIONS: &str =
    "sum, product, max, min, last_value, last_non_null_value, first_value, first_non_null_value, listagg, bool_and, bool_or, collect, merge_map, rbm32";

/// Functions Java Paimon has that dyntable does not fold (refused by name rather than as unknown).
const JAVA_ONLY_FUNCTIONS: [(&str, &str); 4] = [
    ("rbm64", "its bytes are Java's `Roaring64Bitmap` serialization, which no Rust library reads"),
    ("hll_sketch", "its bytes are Apache DataSketches' HLL sketches, which no Rust library here writes as Java does"),
    (
        "theta_sketch",
        "its bytes are Apache DataSketches' theta sketches, which no Rust library here writes as Java does",
    ),
    ("nested_update", "nested row tables are not implemented"),
];

impl AggFn {
    fn parse(name: &str, field: &str, options: &BTreeMap<String, String>) -> Result<AggFn> {
        Ok(match name.trim() {
            "sum" => AggFn::Sum,
            "product" => AggFn::Product,
            "max" => AggFn::Max,
            "min" => AggFn::Min,
            "last_value" => AggFn::LastValue,
            "last_non_null_value" => AggFn::LastNonNullValue,
            "first_value" => AggFn::FirstValue,
            "first_non_null_value" => AggFn::FirstNonNullValue,
            "listagg" => AggFn::ListAgg(
                options.get(&format!("fields.{field}.list-agg-delimiter")).cloned().unwrap_or_else(|| ",".into()),
            ),
            "bool_and" => AggFn::BoolAnd,
            "bool_or" => AggFn::BoolOr,
            "collect" => AggFn::Collect {
                distinct: options
                    .get(&format!("fields.{field}.distinct"))
                    .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            },
            "merge_map" => AggFn::MergeMap,
            "rbm32" => AggFn::Rbm32,
            other if JAVA_ONLY_FUNCTIONS.iter().any(|(n, _)| *n == other) => {
                let why = JAVA_ONLY_FUNCTIONS.iter().find(|(n, _)| *n == other).map_or("", |(_, w)| w);
                return Err(Error::InvalidOption {
                    key: format!("fields.{field}.aggregate-function"),
                    value: other.into(),
                    reason: format!("dyntable does not support Paimon's `{other}`: {why}; allowed: {AGG_FUNCTIONS}"),
                });
            }
            other => {
                return Err(Error::InvalidOption {
                    key: format!("fields.{field}.aggregate-function"),
                    value: other.into(),
                    reason: format!("unknown aggregate function; allowed: {AGG_FUNCTIONS}"),
                })
            }
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            AggFn::Sum => "sum",
            AggFn::Product => "product",
            AggFn::Max => "max",
            AggFn::Min => "min",
            AggFn::LastValue => "last_value",
            AggFn::LastNonNullValue => "last_non_null_value",
            AggFn::FirstValue => "first_value",
            AggFn::FirstNonNullValue => "first_non_null_value",
            AggFn::ListAgg(_) => "listagg",
            AggFn::BoolAnd => "bool_and",
            AggFn::BoolOr => "bool_or",
            AggFn::Collect { .. } => "collect",
            AggFn::MergeMap => "merge_map",
            AggFn::Rbm32 => "rbm32",
        }
    }

    /// Whether the function can take a value of type `t`.
    fn accepts(&self, t: &DataType) -> bool {
        let numeric = matches!(
            t.kind,
            TypeKind::TinyInt
                | TypeKind::SmallInt
                | TypeKind::Int
                | TypeKind::BigInt
                | TypeKind::Float
                | TypeKind::Double
                | TypeKind::Decimal { .. }
        );
        match self {
            AggFn::Sum | AggFn::Product => numeric,
            AggFn::Max | AggFn::Min => t.is_atomic() && !matches!(t.kind, TypeKind::Boolean),
            AggFn::ListAgg(_) => matches!(t.kind, TypeKind::VarChar(_) | TypeKind::Char(_)),
            AggFn::BoolAnd | AggFn::BoolOr => matches!(t.kind, TypeKind::Boolean),
            AggFn::Collect { .. } => matches!(t.kind, TypeKind::Array(_)),
            AggFn::MergeMap => matches!(t.kind, TypeKind::Map(..)),
            AggFn::Rbm32 => matches!(t.kind, TypeKind::Binary(_) | TypeKind::VarBinary(_)),
            _ => true,
        }
    }

    /// Whether a -U/-D can be taken back out of the aggregate.
    pub fn supports_retract(&self) -> bool {
        matches!(
            self,
            AggFn::Sum
                | AggFn::Product
                | AggFn::LastValue
                | AggFn::LastNonNullValue
                | AggFn::Collect { .. }
                | AggFn::MergeMap
        )
    }
}

/// A table's merge engine options, parsed and checked against its columns.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    pub engine: MergeEngine,
    pub ignore_delete: bool,
    pub remove_record_on_delete: bool,
    /// Partial-update sequence groups: (sequence fields, member fields).
    pub sequence_groups: Vec<(Vec<String>, Vec<String>)>,
    /// Aggregation: per value column, its function and whether it ignores retractions.
    pub aggs: HashMap<String, (AggFn, bool)>,
}

impl MergeOptions {
    /// Parses and validates the merge engine options of a table with columns `fields` and primary key
    /// `primary_keys`.
    pub fn parse(options: &CoreOptions, fields: &[DataField], primary_keys: &[String]) -> Result<MergeOptions> {
        let o = &options.raw;
        let engine = options.merge_engine;
        let column = |name: &str| fields.iter().find(|f| f.name == name);
        let mut m = MergeOptions {
            engine,
            ignore_delete: options.ignore_delete
                || is_true(o, "partial-update.ignore-delete")
                || is_true(o, "first-row.ignore-delete"),
            remove_record_on_delete: is_true(o, "partial-update.remove-record-on-delete"),
            sequence_groups: Vec::new(),
            aggs: HashMap::new(),
        };
        for (k, v) in o {
            let Some(rest) = k.strip_prefix("fields.") else { continue };
            if let Some(seq) = rest.strip_suffix(".sequence-group") {
                let seq_fields: Vec<String> = seq.split(',').map(|s| s.trim().to_string()).collect();
                let members: Vec<String> =
                    v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                for f in seq_fields.iter().chain(&members) {
                    if column(f).is_none() {
                        return Err(Error::InvalidOption {
                            key: k.clone(),
                            value: v.clone(),
                            reason: format!("sequence group names unknown field `{f}`"),
                        });
                    }
                }
                if engine != MergeEngine::PartialUpdate {
                    return Err(Error::InvalidOption {
                        key: k.clone(),
                        value: v.clone(),
                        reason: "sequence groups need merge-engine = partial-update".into(),
                    });
                }
                m.sequence_groups.push((seq_fields, members));
            } else if let Some(field) = rest.strip_suffix(".aggregate-function") {
                let f = column(field).ok_or_else(|| Error::InvalidOption {
                    key: k.clone(),
                    value: v.clone(),
                    reason: format!("names unknown field `{field}`"),
                })?;
                let agg = AggFn::parse(v, field, o)?;
                if !agg.accepts(&f.data_type) {
                    return Err(Error::InvalidOption {
                        key: k.clone(),
                        value: v.clone(),
                        reason: format!(
                            "aggregate function `{}` cannot aggregate column `{field}` of type {}",
                            agg.name(),
                            f.data_type.to_json()
                        ),
                    });
                }
                if primary_keys.contains(&field.to_string()) {
                    return Err(Error::InvalidOption {
                        key: k.clone(),
                        value: v.clone(),
                        reason: "a primary-key column cannot be aggregated".into(),
                    });
                }
                m.aggs.insert(field.to_string(), (agg, is_true(o, &format!("fields.{field}.ignore-retract"))));
            }
        }
        if engine == MergeEngine::PartialUpdate {
            // Java 0.9: every field without its own function takes the default, and any function needs a
            // sequence group. A group's sequence fields are never aggregated here (0.9 also folds them, which
            // makes the result depend on column order; later Paimon versions do not).
            if let Some(d) = o.get("fields.default-aggregate-function") {
                let default = AggFn::parse(d, "default", o)?;
                let sequence_fields: Vec<String> = m.sequence_groups.iter().flat_map(|(seq, _)| seq).cloned().collect();
                m.default_for_others(&default, fields, &[primary_keys, &sequence_fields].concat(), o)?;
            }
            if !m.aggs.is_empty() && m.sequence_groups.is_empty() {
                let field = m.aggs.keys().min().expect("not empty");
                let own = format!("fields.{field}.aggregate-function");
                let key = if o.contains_key(&own) { own } else { "fields.default-aggregate-function".into() };
                return Err(Error::InvalidOption {
                    key,
                    value: m.aggs[field].0.name().into(),
                    reason: "Must use sequence group for aggregation functions: a partial-update table aggregates only with a `fields.<seq>.sequence-group`".into(),
                });
            }
        }
        if engine == MergeEngine::Aggregation {
            let default = o
                .get("fields.default-aggregate-function")
                .map(|d| AggFn::parse(d, "default", o))
                .transpose()?
                .unwrap_or(AggFn::LastNonNullValue);
            m.default_for_others(&default, fields, primary_keys, o)?;
        }
        Ok(m)
    }

    /// Gives `default` to every column of `fields` without its own function, except those in `skip`; fails,
    /// naming `fields.default-aggregate-function`, when it cannot aggregate one of them.
    fn default_for_others(
        &mut self,
        default: &AggFn,
        fields: &[DataField],
        skip: &[String],
        o: &BTreeMap<String, String>,
    ) -> Result<()> {
        for f in fields {
            if skip.contains(&f.name) || self.aggs.contains_key(&f.name) {
                continue;
            }
            if !default.accepts(&f.data_type) {
                return Err(Error::InvalidOption {
                    key: "fields.default-aggregate-function".into(),
                    value: default.name().into(),
                    reason: format!("cannot aggregate column `{}` of type {}", f.name, f.data_type.to_json()),
                });
            }
            self.aggs
                .insert(f.name.clone(), (default.clone(), is_true(o, &format!("fields.{}.ignore-retract", f.name))));
        }
        Ok(())
    }
}
