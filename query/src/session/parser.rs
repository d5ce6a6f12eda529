//! The hand-written statement parser: a cursor ([`Parser`]) over the tokens of [`crate::lexer`], with the
//! pieces of syntax the statements share (names, literals, lists, option lists).

use std::collections::BTreeMap;

use arrow::array::ArrayRef;
use datafusion::common::ScalarValue;
use datafusion::error::Result;

use crate::error::plan_err;
use crate::lexer::{tokenize, Kind, Token};

/// `"name"` with embedded quotes doubled.
pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(super) fn is_name_token(t: &Token) -> bool {
    matches!(t.kind, Kind::Word | Kind::QuotedIdent)
}

/// An identifier's value, quoted or not, with its case (names are case-sensitive, as in Flink SQL over Paimon).
pub(super) fn ident_value(t: &Token, src: &str) -> String {
    match t.kind {
        Kind::QuotedIdent => t.value(src),
        _ => t.text(src).to_string(),
    }
}

/// A literal in PARTITION specs and procedure arguments.
#[derive(Debug, Clone)]
pub(super) enum Literal {
    String(String),
    Number(String),
    Bool(bool),
    Null,
}

impl Literal {
    pub(super) fn to_array(&self) -> Result<ArrayRef> {
        let v = match self {
            Literal::String(s) => ScalarValue::Utf8(Some(s.clone())),
            Literal::Number(n) => match n.parse::<i64>() {
                Ok(i) => ScalarValue::Int64(Some(i)),
                Err(_) => {
                    ScalarValue::Float64(Some(n.parse().map_err(|_| plan_err(format!("`{n}` is not a number")))?))
                }
            },
            Literal::Bool(b) => ScalarValue::Boolean(Some(*b)),
            Literal::Null => ScalarValue::Null,
        };
        v.to_array_of_size(1)
    }

    pub(super) fn text(&self) -> String {
        match self {
            Literal::String(s) | Literal::Number(s) => s.clone(),
            Literal::Bool(b) => b.to_string(),
            Literal::Null => "NULL".into(),
        }
    }
}

/// A cursor over the meaningful tokens of a statement (whitespace, comments and hints skipped).
pub(super) struct Parser<'a> {
    pub(super) src: &'a str,
    pub(super) toks: Vec<Token>,
    pub(super) pos: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn new(src: &'a str) -> Result<Self> {
        let toks = tokenize(src)?.into_iter().filter(|t| t.kind != Kind::Space && t.kind != Kind::Hint).collect();
        Ok(Parser { src, toks, pos: 0 })
    }

    pub(super) fn from_tokens(src: &'a str, toks: Vec<Token>) -> Self {
        Parser { src, toks, pos: 0 }
    }

    /// The `/*+ ... */` hints between the previous token and the current one (the cursor skips hints).
    pub(super) fn hints_before_current(&self) -> Result<Vec<&'a str>> {
        let start = self.pos.checked_sub(1).and_then(|i| self.toks.get(i)).map_or(0, |t| t.end);
        let end = self.peek().map_or(self.src.len(), |t| t.start);
        let between = &self.src[start..end];
        Ok(tokenize(between)?.into_iter().filter(|t| t.kind == Kind::Hint).map(|t| &between[t.start..t.end]).collect())
    }

    pub(super) fn peek(&self) -> Option<Token> {
        self.toks.get(self.pos).copied()
    }

    pub(super) fn peek_at(&self, ahead: usize) -> Option<Token> {
        self.toks.get(self.pos + ahead).copied()
    }

    pub(super) fn next(&mut self) -> Option<Token> {
        let t = self.peek();
        self.pos += 1;
        t
    }

    pub(super) fn peek_kw(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.is_kw(self.src, kw))
    }

    pub(super) fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Eats all of `kws` in order, or none.
    pub(super) fn eat_kws(&mut self, kws: &[&str]) -> bool {
        if kws.iter().enumerate().all(|(i, k)| self.peek_at(i).is_some_and(|t| t.is_kw(self.src, k))) {
            self.pos += kws.len();
            true
        } else {
            false
        }
    }

    pub(super) fn rest(&self) -> &'a str {
        match self.peek() {
            Some(t) => self.src[t.start..].trim(),
            None => "",
        }
    }

    pub(super) fn found(&self) -> String {
        match self.peek() {
            Some(t) => format!("`{}`", t.text(self.src)),
            None => "the end of the statement".into(),
        }
    }

    pub(super) fn expect_kw(&mut self, kw: &str) -> Result<()> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(plan_err(format!("expected {kw}, found {}", self.found())))
        }
    }

    pub(super) fn eat_punct(&mut self, p: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_punct(self.src, p)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn expect_punct(&mut self, p: &str) -> Result<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(plan_err(format!("expected `{p}`, found {}", self.found())))
        }
    }

    pub(super) fn expect_end(&self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(plan_err(format!("unexpected `{}`", self.rest()))),
        }
    }

    pub(super) fn ident(&mut self) -> Result<String> {
        match self.peek() {
            Some(t) if is_name_token(&t) => {
                self.pos += 1;
                Ok(ident_value(&t, self.src))
            }
            _ => Err(plan_err(format!("expected a name, found {}", self.found()))),
        }
    }

    pub(super) fn object_name(&mut self) -> Result<Vec<String>> {
        let mut parts = vec![self.ident()?];
        while self.eat_punct(".") {
            parts.push(self.ident()?);
        }
        Ok(parts)
    }

    pub(super) fn string(&mut self) -> Result<String> {
        match self.peek() {
            Some(t) if t.kind == Kind::String => {
                self.pos += 1;
                Ok(t.value(self.src))
            }
            _ => Err(plan_err(format!("expected a string literal, found {}", self.found()))),
        }
    }

    pub(super) fn literal(&mut self) -> Result<Literal> {
        let negative = self.eat_punct("-");
        let t = self.next().ok_or_else(|| plan_err("expected a literal"))?;
        Ok(match t.kind {
            Kind::String if !negative => Literal::String(t.value(self.src)),
            Kind::Number => Literal::Number(format!("{}{}", if negative { "-" } else { "" }, t.text(self.src))),
            Kind::Word if !negative && t.is_kw(self.src, "TRUE") => Literal::Bool(true),
            Kind::Word if !negative && t.is_kw(self.src, "FALSE") => Literal::Bool(false),
            Kind::Word if !negative && t.is_kw(self.src, "NULL") => Literal::Null,
            _ => return Err(plan_err(format!("expected a literal, found `{}`", t.text(self.src)))),
        })
    }

    /// `(a, b, c)`
    pub(super) fn ident_list(&mut self) -> Result<Vec<String>> {
        self.expect_punct("(")?;
        let mut out = vec![self.ident()?];
        while self.eat_punct(",") {
            out.push(self.ident()?);
        }
        self.expect_punct(")")?;
        Ok(out)
    }

    /// `('a', 'b')`
    pub(super) fn string_list(&mut self) -> Result<Vec<String>> {
        self.expect_punct("(")?;
        let mut out = vec![self.string()?];
        while self.eat_punct(",") {
            out.push(self.string()?);
        }
        self.expect_punct(")")?;
        Ok(out)
    }

    /// `(k = 'v', ...)`: a partition spec (column names, literal values).
    pub(super) fn partition_spec(&mut self) -> Result<BTreeMap<String, String>> {
        self.expect_punct("(")?;
        self.key_values(Self::ident)
    }

    /// `('k' = 'v', ...)`
    pub(super) fn option_list(&mut self) -> Result<BTreeMap<String, String>> {
        self.expect_punct("(")?;
        if self.eat_punct(")") {
            return Ok(BTreeMap::new());
        }
        self.key_values(Self::string)
    }

    /// `k = literal, ...)` after an opening parenthesis, each key read by `key`.
    fn key_values(&mut self, key: fn(&mut Self) -> Result<String>) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        loop {
            let k = key(self)?;
            self.expect_punct("=")?;
            let v = self.literal()?.text();
            out.insert(k, v);
            if !self.eat_punct(",") {
                break;
            }
        }
        self.expect_punct(")")?;
        Ok(out)
    }

    /// `(arg, name => arg, ...)` of literals.
    pub(super) fn call_args(&mut self) -> Result<Vec<(Option<String>, String)>> {
        self.expect_punct("(")?;
        let mut out = Vec::new();
        if self.eat_punct(")") {
            return Ok(out);
        }
        loop {
            let named = if self.peek_at(1).is_some_and(|t| t.is_punct(self.src, "="))
                && self.peek_at(2).is_some_and(|t| t.is_punct(self.src, ">"))
            {
                let n = self.ident()?;
                self.pos += 2;
                Some(n)
            } else {
                None
            };
            out.push((named, self.literal()?.text()));
            if !self.eat_punct(",") {
                break;
            }
        }
        self.expect_punct(")")?;
        Ok(out)
    }

    /// The tokens of each comma-separated element of a parenthesized list, with nested `()` and `<>`.
    pub(super) fn paren_elements(&mut self) -> Result<Vec<Vec<Token>>> {
        self.expect_punct("(")?;
        let mut out = Vec::new();
        let mut current = Vec::new();
        let mut depth = 0i32;
        loop {
            let t = self.next().ok_or_else(|| plan_err("unbalanced parentheses: missing `)`"))?;
            let text = t.text(self.src);
            if t.kind == Kind::Punct {
                match text {
                    "(" | "<" => depth += 1,
                    ")" if depth == 0 => {
                        if !current.is_empty() {
                            out.push(std::mem::take(&mut current));
                        }
                        return Ok(out);
                    }
                    ")" | ">" => depth -= 1,
                    "," if depth == 0 => {
                        out.push(std::mem::take(&mut current));
                        continue;
                    }
                    _ => {}
                }
            }
            current.push(t);
        }
    }

    /// The source text of an expression up to a top-level `,`, one of `stops` (keywords) or the end.
    pub(super) fn expression_until(&mut self, stops: &[&str]) -> Result<String> {
        let start = self.pos;
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            if depth == 0 && (t.is_punct(self.src, ",") || stops.iter().any(|s| t.is_kw(self.src, s))) {
                break;
            }
            if t.is_punct(self.src, "(") {
                depth += 1;
            } else if t.is_punct(self.src, ")") {
                depth -= 1;
            }
            self.pos += 1;
        }
        if start == self.pos {
            return Err(plan_err(format!("expected an expression, found {}", self.found())));
        }
        Ok(self.src[self.toks[start].start..self.toks[self.pos - 1].end].to_string())
    }
}
