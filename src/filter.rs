//! A small filter language for the CLI: `dt = '2024-01-01' AND (id > 3 OR name IS NULL) AND k IN (1, 2)`.

use dyntable_storage::{CmpOp, Datum, Error, Predicate, Result};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Op(String),
    LParen,
    RParen,
    Comma,
}

fn lex(text: &str) -> Result<Vec<Tok>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if c == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(Error::invalid(format!("unterminated string in filter `{text}`"))),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else if "=<>!".contains(c) {
            let mut op = c.to_string();
            if let Some(n) = chars.get(i + 1) {
                if (*n == '=' && c != '=') || (c == '<' && *n == '>') {
                    op.push(*n);
                }
            }
            i += op.len();
            out.push(Tok::Op(op));
        } else if c.is_ascii_digit() || c == '-' || c == '.' {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '-' || chars[i] == '+')
            {
                i += 1;
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c.is_alphanumeric() || c == '_' || c == '`' {
            let quoted = c == '`';
            let start = if quoted { i + 1 } else { i };
            i += 1;
            while i < chars.len()
                && (if quoted { chars[i] != '`' } else { chars[i].is_alphanumeric() || chars[i] == '_' })
            {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
            if quoted {
                i += 1;
            }
        } else {
            return Err(Error::invalid(format!("unexpected `{c}` in filter `{text}`")));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    text: String,
}

impl Parser {
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }
    fn err(&self, what: &str) -> Error {
        Error::invalid(format!("filter `{}`: expected {what} at token {}", self.text, self.pos + 1))
    }
    fn or(&mut self) -> Result<Predicate> {
        let mut parts = vec![self.and()?];
        while self.peek_kw("OR") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.pop().expect("one") } else { Predicate::Or(parts) })
    }
    fn and(&mut self) -> Result<Predicate> {
        let mut parts = vec![self.atom()?];
        while self.peek_kw("AND") {
            self.pos += 1;
            parts.push(self.atom()?);
        }
        Ok(if parts.len() == 1 { parts.pop().expect("one") } else { Predicate::And(parts) })
    }
    fn literal(&mut self) -> Result<Datum> {
        let t = self.toks.get(self.pos).cloned().ok_or_else(|| self.err("a literal"))?;
        self.pos += 1;
        Ok(match t {
            Tok::Str(s) => Datum::String(s),
            Tok::Num(n) => match n.parse::<i64>() {
                Ok(i) => Datum::I64(i),
                Err(_) => Datum::F64(n.parse().map_err(|_| self.err("a number"))?),
            },
            Tok::Ident(s) if s.eq_ignore_ascii_case("true") => Datum::Bool(true),
            Tok::Ident(s) if s.eq_ignore_ascii_case("false") => Datum::Bool(false),
            Tok::Ident(s) if s.eq_ignore_ascii_case("null") => Datum::Null,
            _ => return Err(self.err("a literal")),
        })
    }
    fn atom(&mut self) -> Result<Predicate> {
        if self.toks.get(self.pos) == Some(&Tok::LParen) {
            self.pos += 1;
            let p = self.or()?;
            if self.toks.get(self.pos) != Some(&Tok::RParen) {
                return Err(self.err("`)`"));
            }
            self.pos += 1;
            return Ok(p);
        }
        let Some(Tok::Ident(col)) = self.toks.get(self.pos).cloned() else { return Err(self.err("a column name")) };
        self.pos += 1;
        if self.peek_kw("IS") {
            self.pos += 1;
            let not = self.peek_kw("NOT");
            if not {
                self.pos += 1;
            }
            if !self.peek_kw("NULL") {
                return Err(self.err("NULL"));
            }
            self.pos += 1;
            return Ok(if not { Predicate::IsNotNull(col) } else { Predicate::IsNull(col) });
        }
        if self.peek_kw("IN") {
            self.pos += 1;
            if self.toks.get(self.pos) != Some(&Tok::LParen) {
                return Err(self.err("`(`"));
            }
            self.pos += 1;
            let mut vals = vec![self.literal()?];
            while self.toks.get(self.pos) == Some(&Tok::Comma) {
                self.pos += 1;
                vals.push(self.literal()?);
            }
            if self.toks.get(self.pos) != Some(&Tok::RParen) {
                return Err(self.err("`)`"));
            }
            self.pos += 1;
            return Ok(Predicate::In(col, vals));
        }
        let Some(Tok::Op(op)) = self.toks.get(self.pos).cloned() else { return Err(self.err("a comparison operator")) };
        self.pos += 1;
        let op = match op.as_str() {
            "=" => CmpOp::Eq,
            "!=" | "<>" => CmpOp::NotEq,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::LtEq,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::GtEq,
            _ => return Err(self.err("one of = != <> < <= > >=")),
        };
        Ok(Predicate::Cmp(col, op, self.literal()?))
    }
}

/// Parses a filter expression.
pub fn parse_filter(text: &str) -> Result<Predicate> {
    let mut p = Parser { toks: lex(text)?, pos: 0, text: text.to_string() };
    let pred = p.or()?;
    if p.pos != p.toks.len() {
        return Err(p.err("end of filter"));
    }
    Ok(pred)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filter language parses comparisons, IN, IS NULL, AND/OR with parentheses, and rejects junk.
    #[test]
    fn parses_filters() {
        let p = parse_filter("dt = '2024-01-01' AND (id > 3 OR name IS NULL) AND k IN (1, 2)").unwrap();
        let Predicate::And(parts) = p else { panic!("expected AND") };
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], Predicate::eq("dt", Datum::String("2024-01-01".into())));
        assert_eq!(parts[2], Predicate::In("k".into(), vec![Datum::I64(1), Datum::I64(2)]));
        assert!(parse_filter("id >").is_err());
        assert!(parse_filter("id = 'x").is_err());
        assert!(parse_filter("id = 1 garbage").is_err());
    }
}
