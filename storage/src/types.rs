//! Paimon's data types: parsing and printing their JSON/SQL spelling, and their Arrow mapping.
//!
//! Schema files spell atomic types as SQL strings (`"BIGINT NOT NULL"`, `"DECIMAL(10, 2)"`) and
//! complex types as JSON objects (`{"type":"ARRAY","element":"INT"}`); the CLI takes the SQL form with
//! angle brackets (`ARRAY<INT>`, `MAP<STRING, INT>`, `ROW<a INT, b STRING>`).

use std::sync::Arc;

use arrow_schema::{DataType as ArrowType, Field, Fields, TimeUnit};
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Paimon's maximum length, used by STRING (= VARCHAR(MAX)) and BYTES (= VARBINARY(MAX)).
pub const MAX_LENGTH: u32 = i32::MAX as u32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeKind {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Float,
    Double,
    Decimal { precision: u8, scale: u8 },
    Char(u32),
    VarChar(u32),
    Binary(u32),
    VarBinary(u32),
    Date,
    Time(u8),
    Timestamp(u8),
    TimestampLtz(u8),
    Array(Box<DataType>),
    Map(Box<DataType>, Box<DataType>),
    Row(Vec<DataField>),
}

/// A type and its nullability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataType {
    pub kind: TypeKind,
    pub nullable: bool,
}

/// A named field with Paimon's stable field id (ids survive renames).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataField {
    pub id: i32,
    pub name: String,
    pub data_type: DataType,
    pub description: Option<String>,
}

impl DataType {
    pub fn new(kind: TypeKind, nullable: bool) -> Self {
        DataType { kind, nullable }
    }

    pub fn not_null(&self) -> Self {
        DataType { kind: self.kind.clone(), nullable: false }
    }

    pub fn is_atomic(&self) -> bool {
        !matches!(self.kind, TypeKind::Array(_) | TypeKind::Map(..) | TypeKind::Row(_))
    }

    /// The SQL spelling of an atomic type as schema files write it (`"VARCHAR(20) NOT NULL"`).
    fn atomic_sql(&self) -> String {
        let base = match &self.kind {
            TypeKind::Boolean => "BOOLEAN".to_string(),
            TypeKind::TinyInt => "TINYINT".to_string(),
            TypeKind::SmallInt => "SMALLINT".to_string(),
            TypeKind::Int => "INT".to_string(),
            TypeKind::BigInt => "BIGINT".to_string(),
            TypeKind::Float => "FLOAT".to_string(),
            TypeKind::Double => "DOUBLE".to_string(),
            TypeKind::Decimal { precision, scale } => format!("DECIMAL({precision}, {scale})"),
            TypeKind::Char(n) => format!("CHAR({n})"),
            TypeKind::VarChar(n) if *n == MAX_LENGTH => "STRING".to_string(),
            TypeKind::VarChar(n) => format!("VARCHAR({n})"),
            TypeKind::Binary(n) => format!("BINARY({n})"),
            TypeKind::VarBinary(n) if *n == MAX_LENGTH => "BYTES".to_string(),
            TypeKind::VarBinary(n) => format!("VARBINARY({n})"),
            TypeKind::Date => "DATE".to_string(),
            TypeKind::Time(p) => format!("TIME({p})"),
            TypeKind::Timestamp(p) => format!("TIMESTAMP({p})"),
            TypeKind::TimestampLtz(p) => format!("TIMESTAMP({p}) WITH LOCAL TIME ZONE"),
            TypeKind::Array(_) => "ARRAY".to_string(),
            TypeKind::Map(..) => "MAP".to_string(),
            TypeKind::Row(_) => "ROW".to_string(),
        };
        if self.nullable {
            base
        } else {
            format!("{base} NOT NULL")
        }
    }

    /// The schema-file JSON of this type.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            TypeKind::Array(element) => json!({"type": self.atomic_sql(), "element": element.to_json()}),
            TypeKind::Map(k, v) => json!({"type": self.atomic_sql(), "key": k.to_json(), "value": v.to_json()}),
            TypeKind::Row(fields) => {
                json!({"type": self.atomic_sql(), "fields": fields.iter().map(DataField::to_json).collect::<Vec<_>>()})
            }
            _ => Value::String(self.atomic_sql()),
        }
    }

    pub fn from_json(value: &Value) -> Result<Self> {
        match value {
            Value::String(s) => parse_sql_type(s),
            Value::Object(map) => {
                let type_str = map
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::invalid(format!("type object without `type`: {value}")))?;
                let (name, nullable) = strip_not_null(type_str);
                let kind = match name.to_ascii_uppercase().as_str() {
                    "ARRAY" | "MULTISET" => {
                        let element = map
                            .get("element")
                            .ok_or_else(|| Error::invalid(format!("array type without `element`: {value}")))?;
                        TypeKind::Array(Box::new(DataType::from_json(element)?))
                    }
                    "MAP" => {
                        let k =
                            map.get("key").ok_or_else(|| Error::invalid(format!("map type without `key`: {value}")))?;
                        let v = map
                            .get("value")
                            .ok_or_else(|| Error::invalid(format!("map type without `value`: {value}")))?;
                        TypeKind::Map(Box::new(DataType::from_json(k)?), Box::new(DataType::from_json(v)?))
                    }
                    "ROW" => {
                        let fields = map
                            .get("fields")
                            .and_then(Value::as_array)
                            .ok_or_else(|| Error::invalid(format!("row type without `fields`: {value}")))?;
                        TypeKind::Row(fields.iter().map(DataField::from_json).collect::<Result<_>>()?)
                    }
                    other => return Err(Error::invalid(format!("unknown complex type `{other}`"))),
                };
                Ok(DataType { kind, nullable })
            }
            other => Err(Error::invalid(format!("a type must be a string or an object, got {other}"))),
        }
    }

    /// The Arrow type this Paimon type is read and written as.
    pub fn to_arrow(&self) -> ArrowType {
        match &self.kind {
            TypeKind::Boolean => ArrowType::Boolean,
            TypeKind::TinyInt => ArrowType::Int8,
            TypeKind::SmallInt => ArrowType::Int16,
            TypeKind::Int => ArrowType::Int32,
            TypeKind::BigInt => ArrowType::Int64,
            TypeKind::Float => ArrowType::Float32,
            TypeKind::Double => ArrowType::Float64,
            TypeKind::Decimal { precision, scale } => ArrowType::Decimal128(*precision, *scale as i8),
            TypeKind::Char(_) | TypeKind::VarChar(_) => ArrowType::Utf8,
            TypeKind::Binary(_) | TypeKind::VarBinary(_) => ArrowType::Binary,
            TypeKind::Date => ArrowType::Date32,
            TypeKind::Time(_) => ArrowType::Time32(TimeUnit::Millisecond),
            TypeKind::Timestamp(p) => ArrowType::Timestamp(timestamp_unit(*p), None),
            TypeKind::TimestampLtz(p) => ArrowType::Timestamp(timestamp_unit(*p), Some(Arc::from("UTC"))),
            TypeKind::Array(element) => {
                ArrowType::List(Arc::new(Field::new("element", element.to_arrow(), element.nullable)))
            }
            TypeKind::Map(k, v) => {
                let entries = Field::new(
                    "key_value",
                    ArrowType::Struct(Fields::from(vec![
                        Field::new("key", k.to_arrow(), false),
                        Field::new("value", v.to_arrow(), v.nullable),
                    ])),
                    false,
                );
                ArrowType::Map(Arc::new(entries), false)
            }
            TypeKind::Row(fields) => {
                ArrowType::Struct(Fields::from(fields.iter().map(DataField::to_arrow).collect::<Vec<_>>()))
            }
        }
    }
}

/// Paimon stores TIMESTAMP(p<=3) as millis, (p<=6) as micros, above as nanos.
pub fn timestamp_unit(precision: u8) -> TimeUnit {
    match precision {
        0..=3 => TimeUnit::Millisecond,
        4..=6 => TimeUnit::Microsecond,
        _ => TimeUnit::Nanosecond,
    }
}

impl DataField {
    pub fn new(id: i32, name: impl Into<String>, data_type: DataType) -> Self {
        DataField { id, name: name.into(), data_type, description: None }
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({"id": self.id, "name": self.name, "type": self.data_type.to_json()});
        if let Some(d) = &self.description {
            v["description"] = Value::String(d.clone());
        }
        v
    }

    pub fn from_json(value: &Value) -> Result<Self> {
        let id = value
            .get("id")
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::invalid(format!("field without integer `id`: {value}")))?;
        let name = value
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid(format!("field without `name`: {value}")))?;
        let data_type = DataType::from_json(
            value.get("type").ok_or_else(|| Error::invalid(format!("field `{name}` without `type`")))?,
        )?;
        let description = value.get("description").and_then(Value::as_str).map(str::to_string);
        Ok(DataField { id: id as i32, name: name.to_string(), data_type, description })
    }

    /// The Arrow field, carrying the Paimon field id as Parquet's field id.
    pub fn to_arrow(&self) -> Field {
        Field::new(&self.name, self.data_type.to_arrow(), self.data_type.nullable)
            .with_metadata([("PARQUET:field_id".to_string(), self.id.to_string())].into())
    }
}

fn strip_not_null(s: &str) -> (&str, bool) {
    let t = s.trim();
    let upper = t.to_ascii_uppercase();
    if upper.ends_with("NOT NULL") {
        (t[..t.len() - "NOT NULL".len()].trim_end(), false)
    } else if upper.ends_with(" NULL") {
        (t[..t.len() - " NULL".len()].trim_end(), true)
    } else {
        (t, true)
    }
}

/// Parses a type in SQL spelling: `BIGINT NOT NULL`, `DECIMAL(10, 2)`, `ARRAY<INT>`, `MAP<STRING, INT>`,
/// `ROW<a INT, b STRING>`, `TIMESTAMP(3) WITH LOCAL TIME ZONE`, `TIMESTAMP_LTZ(6)`.
pub fn parse_sql_type(text: &str) -> Result<DataType> {
    let mut parser = TypeParser { text, chars: text.char_indices().collect(), pos: 0, next_id: 0 };
    let t = parser.parse_type()?;
    parser.skip_ws();
    if parser.pos != parser.chars.len() {
        return Err(Error::invalid(format!("unexpected text after type in `{text}` at position {}", parser.pos)));
    }
    Ok(t)
}

/// Parses `name TYPE, name TYPE NOT NULL, ...` into fields numbered from 0 (nested ROW fields get
/// ids after the top-level ones, as Paimon numbers them). Returns the fields and the highest id.
pub fn parse_sql_fields(text: &str) -> Result<(Vec<DataField>, i32)> {
    let mut parser = TypeParser { text, chars: text.char_indices().collect(), pos: 0, next_id: 0 };
    let mut fields = Vec::new();
    loop {
        parser.skip_ws();
        if parser.pos >= parser.chars.len() {
            break;
        }
        let name = parser.ident()?;
        let data_type = parser.parse_type()?;
        fields.push(DataField::new(0, name, data_type));
        parser.skip_ws();
        if !parser.eat(',') {
            break;
        }
    }
    parser.skip_ws();
    if parser.pos != parser.chars.len() {
        return Err(Error::invalid(format!("cannot parse schema `{text}` at position {}", parser.pos)));
    }
    if fields.is_empty() {
        return Err(Error::invalid("schema has no columns"));
    }
    let mut next_id = 0;
    for f in fields.iter_mut() {
        f.id = next_id;
        next_id += 1;
    }
    for f in fields.iter_mut() {
        assign_nested_ids(&mut f.data_type, &mut next_id);
    }
    Ok((fields, next_id - 1))
}

fn assign_nested_ids(t: &mut DataType, next_id: &mut i32) {
    match &mut t.kind {
        TypeKind::Row(fields) => {
            for f in fields.iter_mut() {
                f.id = *next_id;
                *next_id += 1;
            }
            for f in fields.iter_mut() {
                assign_nested_ids(&mut f.data_type, next_id);
            }
        }
        TypeKind::Array(e) => assign_nested_ids(e, next_id),
        TypeKind::Map(k, v) => {
            assign_nested_ids(k, next_id);
            assign_nested_ids(v, next_id);
        }
        _ => {}
    }
}

struct TypeParser<'a> {
    text: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
    next_id: i32,
}

impl TypeParser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos].1.is_whitespace() {
            self.pos += 1;
        }
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|c| c.1)
    }
    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn ident(&mut self) -> Result<String> {
        self.skip_ws();
        if self.peek() == Some('`') {
            self.pos += 1;
            let mut s = String::new();
            while let Some(c) = self.peek() {
                self.pos += 1;
                if c == '`' {
                    return Ok(s);
                }
                s.push(c);
            }
            return Err(Error::invalid(format!("unterminated quoted name in `{}`", self.text)));
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || c == '_' || c == '$' {
                self.pos += 1;
            } else {
                break;
            }
        }
        if start == self.pos {
            return Err(Error::invalid(format!("expected a name at position {start} in `{}`", self.text)));
        }
        Ok(self.chars[start..self.pos].iter().map(|c| c.1).collect())
    }
    fn number(&mut self) -> Result<u32> {
        self.skip_ws();
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
            self.pos += 1;
        }
        let s: String = self.chars[start..self.pos].iter().map(|c| c.1).collect();
        s.parse().map_err(|_| Error::invalid(format!("expected a number at position {start} in `{}`", self.text)))
    }
    fn args(&mut self) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        if self.eat('(') {
            loop {
                out.push(self.number()?);
                if self.eat(')') {
                    break;
                }
                if !self.eat(',') {
                    return Err(Error::invalid(format!("expected `,` or `)` in `{}`", self.text)));
                }
            }
        }
        Ok(out)
    }
    fn keyword_ahead(&mut self, words: &[&str]) -> bool {
        let save = self.pos;
        for w in words {
            match self.ident() {
                Ok(id) if id.eq_ignore_ascii_case(w) => {}
                _ => {
                    self.pos = save;
                    return false;
                }
            }
        }
        true
    }
    fn parse_type(&mut self) -> Result<DataType> {
        let name = self.ident()?.to_ascii_uppercase();
        let precision = |args: &[u32], default: u32, max: u32, what: &str| -> Result<u8> {
            let p = args.first().copied().unwrap_or(default);
            if p > max {
                return Err(Error::invalid(format!("{what} precision must be between 0 and {max}, got {p}")));
            }
            Ok(p as u8)
        };
        let kind = match name.as_str() {
            "BOOLEAN" | "BOOL" => TypeKind::Boolean,
            "TINYINT" => TypeKind::TinyInt,
            "SMALLINT" => TypeKind::SmallInt,
            "INT" | "INTEGER" => TypeKind::Int,
            "BIGINT" => TypeKind::BigInt,
            "FLOAT" => TypeKind::Float,
            "DOUBLE" => {
                self.keyword_ahead(&["PRECISION"]);
                TypeKind::Double
            }
            "DECIMAL" | "NUMERIC" | "DEC" => {
                let a = self.args()?;
                let p = a.first().copied().unwrap_or(10);
                let s = a.get(1).copied().unwrap_or(0);
                if !(1..=38).contains(&p) || s > p {
                    return Err(Error::invalid(format!(
                        "DECIMAL({p}, {s}) is out of range: precision 1..38, scale 0..precision"
                    )));
                }
                TypeKind::Decimal { precision: p as u8, scale: s as u8 }
            }
            "CHAR" | "CHARACTER" => TypeKind::Char(self.args()?.first().copied().unwrap_or(1)),
            "VARCHAR" => TypeKind::VarChar(self.args()?.first().copied().unwrap_or(1)),
            "STRING" => TypeKind::VarChar(MAX_LENGTH),
            "BINARY" => TypeKind::Binary(self.args()?.first().copied().unwrap_or(1)),
            "VARBINARY" => TypeKind::VarBinary(self.args()?.first().copied().unwrap_or(1)),
            "BYTES" => TypeKind::VarBinary(MAX_LENGTH),
            "DATE" => TypeKind::Date,
            "TIME" => {
                let a = self.args()?;
                let p = precision(&a, 0, 9, "TIME")?;
                self.keyword_ahead(&["WITHOUT", "TIME", "ZONE"]);
                TypeKind::Time(p)
            }
            "TIMESTAMP" => {
                let a = self.args()?;
                let p = precision(&a, 6, 9, "TIMESTAMP")?;
                if self.keyword_ahead(&["WITH", "LOCAL", "TIME", "ZONE"]) {
                    TypeKind::TimestampLtz(p)
                } else {
                    self.keyword_ahead(&["WITHOUT", "TIME", "ZONE"]);
                    TypeKind::Timestamp(p)
                }
            }
            "TIMESTAMP_LTZ" => {
                let a = self.args()?;
                TypeKind::TimestampLtz(precision(&a, 6, 9, "TIMESTAMP_LTZ")?)
            }
            "ARRAY" => {
                self.expect('<')?;
                let e = self.parse_type()?;
                self.expect('>')?;
                TypeKind::Array(Box::new(e))
            }
            "MAP" => {
                self.expect('<')?;
                let k = self.parse_type()?;
                self.expect(',')?;
                let v = self.parse_type()?;
                self.expect('>')?;
                TypeKind::Map(Box::new(k), Box::new(v))
            }
            "ROW" => {
                self.expect('<')?;
                let mut fields = Vec::new();
                loop {
                    let n = self.ident()?;
                    let t = self.parse_type()?;
                    fields.push(DataField::new(self.next_id, n, t));
                    self.next_id += 1;
                    if self.eat('>') {
                        break;
                    }
                    self.expect(',')?;
                }
                TypeKind::Row(fields)
            }
            other => return Err(Error::invalid(format!("unknown type `{other}` in `{}`", self.text))),
        };
        let nullable = if self.keyword_ahead(&["NOT", "NULL"]) {
            false
        } else {
            self.keyword_ahead(&["NULL"]);
            true
        };
        Ok(DataType { kind, nullable })
    }
    fn expect(&mut self, c: char) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(Error::invalid(format!("expected `{c}` at position {} in `{}`", self.pos, self.text)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every type round-trips through its schema-file JSON, and the SQL spelling parses as expected.
    #[test]
    fn types_round_trip_through_json() {
        let (fields, highest) = parse_sql_fields(
            "a BOOLEAN, b TINYINT NOT NULL, c DECIMAL(38, 10), d VARCHAR(20), e STRING NOT NULL, f BYTES, g BINARY(4), \
             h TIMESTAMP(3), i TIMESTAMP_LTZ(6), j TIME, k DATE, l ARRAY<INT NOT NULL>, m MAP<STRING NOT NULL, DOUBLE>, \
             n ROW<x INT, y ROW<z STRING>>",
        )
        .unwrap();
        assert_eq!(fields.len(), 14);
        assert_eq!(highest, 16);
        for f in &fields {
            let back = DataField::from_json(&f.to_json()).unwrap();
            assert_eq!(&back, f);
        }
        assert_eq!(fields[4].data_type.to_json(), Value::String("STRING NOT NULL".into()));
        assert_eq!(fields[2].data_type.to_json(), Value::String("DECIMAL(38, 10)".into()));
        assert_eq!(fields[8].data_type.to_json(), Value::String("TIMESTAMP(6) WITH LOCAL TIME ZONE".into()));
    }

    /// Malformed type strings are rejected with a message naming the problem.
    #[test]
    fn bad_types_are_rejected() {
        assert!(parse_sql_type("BIGINTEGER").unwrap_err().to_string().contains("unknown type"));
        assert!(parse_sql_type("DECIMAL(40, 2)").unwrap_err().to_string().contains("out of range"));
        assert!(parse_sql_type("TIMESTAMP(12)").unwrap_err().to_string().contains("precision"));
        assert!(parse_sql_fields("a INT,, b INT").is_err());
    }
}
