//! A small SQL lexer with byte offsets, used to split scripts into statements, to parse the statements
//! dyntable handles itself (DDL, DML, procedures) and to rewrite Flink/Spark syntax DataFusion lacks
//! (time travel clauses, `/*+ OPTIONS(...) */` hints) before a query goes to DataFusion.
//!
//! It only needs to be right about token boundaries: strings (`'it''s'`), quoted identifiers (`"a b"`,
//! `` `a b` ``), comments (`-- ...`, `/* ... */`, hints `/*+ ... */`), words (letters, digits, `_`, `$`),
//! numbers and punctuation.

use datafusion::error::{DataFusionError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An unquoted word: keyword or identifier.
    Word,
    /// `"..."` or `` `...` ``.
    QuotedIdent,
    /// `'...'`.
    String,
    Number,
    /// One punctuation character, or a two-character operator (`<=`, `>=`, `<>`, `!=`, `||`, `::`).
    Punct,
    /// `/*+ ... */`: a hint, kept as a token.
    Hint,
    /// Whitespace and ordinary comments.
    Space,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }

    /// Whether this is the (case-insensitive) keyword `kw`.
    pub fn is_kw(&self, src: &str, kw: &str) -> bool {
        self.kind == Kind::Word && self.text(src).eq_ignore_ascii_case(kw)
    }

    pub fn is_punct(&self, src: &str, p: &str) -> bool {
        self.kind == Kind::Punct && self.text(src) == p
    }

    /// The value of a string literal or quoted identifier (quotes removed, doubled quotes undone); the
    /// text itself for other tokens.
    pub fn value(&self, src: &str) -> String {
        let t = self.text(src);
        match self.kind {
            Kind::String => t[1..t.len() - 1].replace("''", "'"),
            Kind::QuotedIdent if t.starts_with('"') => t[1..t.len() - 1].replace("\"\"", "\""),
            Kind::QuotedIdent => t[1..t.len() - 1].replace("``", "`"),
            _ => t.to_string(),
        }
    }
}

/// Splits `src` into tokens, whitespace and comments included (so offsets cover the whole text).
pub fn tokenize(src: &str) -> Result<Vec<Token>> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err =
        |what: &str, at: usize| DataFusionError::Plan(format!("SQL syntax error: {what} starting at offset {at}"));
    while i < bytes.len() {
        let start = i;
        let c = src[i..].chars().next().expect("in bounds");
        let kind = if c.is_whitespace() {
            i += c.len_utf8();
            while let Some(c) = src[i..].chars().next().filter(|c| c.is_whitespace()) {
                i += c.len_utf8();
            }
            Kind::Space
        } else if src[i..].starts_with("--") {
            i = src[i..].find('\n').map(|n| i + n + 1).unwrap_or(bytes.len());
            Kind::Space
        } else if src[i..].starts_with("/*") {
            let end = src[i + 2..].find("*/").ok_or_else(|| err("unterminated comment", start))?;
            let hint = src[i..].starts_with("/*+");
            i = i + 2 + end + 2;
            if hint {
                Kind::Hint
            } else {
                Kind::Space
            }
        } else if c == '\'' || c == '"' || c == '`' {
            let q = c as u8;
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err(err("unterminated quoted text", start)),
                    Some(b) if *b == q && bytes.get(i + 1) == Some(&q) => i += 2,
                    Some(b) if *b == q => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            if c == '\'' {
                Kind::String
            } else {
                Kind::QuotedIdent
            }
        } else if c.is_alphabetic() || c == '_' {
            while let Some(c) = src[i..].chars().next().filter(|c| c.is_alphanumeric() || *c == '_' || *c == '$') {
                i += c.len_utf8();
            }
            Kind::Word
        } else if c.is_ascii_digit() || (c == '.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            // Exponent: 1e10, 1.5E-3.
            if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                let mut j = i + 1;
                if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j].is_ascii_digit() {
                    i = j;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            Kind::Number
        } else {
            let two = src.get(i..i + 2).unwrap_or("");
            i += if ["<=", ">=", "<>", "!=", "||", "::"].contains(&two) { 2 } else { c.len_utf8() };
            Kind::Punct
        };
        out.push(Token { kind, start, end: i });
    }
    Ok(out)
}

/// Splits a script into statements at `;` (outside strings and comments); empty statements are dropped.
pub fn split_statements(src: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut start = 0;
    for t in tokenize(src)? {
        if t.is_punct(src, ";") {
            push_statement(&mut out, &src[start..t.start]);
            start = t.end;
        }
    }
    push_statement(&mut out, &src[start..]);
    Ok(out)
}

fn push_statement(out: &mut Vec<String>, text: &str) {
    // A statement of only comments and whitespace is no statement.
    let meaningful = tokenize(text).map(|ts| ts.iter().any(|t| t.kind != Kind::Space)).unwrap_or(true);
    if meaningful {
        out.push(text.trim().to_string());
    }
}

/// Whether `src` ends a statement: its last meaningful token is `;` (used by the REPL to know when a
/// multi-line statement is complete). Unterminated quotes or comments are not complete.
pub fn is_complete(src: &str) -> bool {
    match tokenize(src) {
        Ok(ts) => ts.iter().rev().find(|t| t.kind != Kind::Space).is_some_and(|t| t.is_punct(src, ";")),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Semicolons inside strings, quoted names and comments do not split statements.
    #[test]
    fn splits_statements() {
        let s = "SELECT 'a;b', \"c;d\" -- x;y\n; /* ; */ INSERT INTO t VALUES (1);; ";
        assert_eq!(
            split_statements(s).unwrap(),
            vec!["SELECT 'a;b', \"c;d\" -- x;y".to_string(), "/* ; */ INSERT INTO t VALUES (1)".to_string()]
        );
        assert!(is_complete("SELECT 1;"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1"));
    }

    /// Tokens carry their kind and exact span; hints are tokens, comments are space.
    #[test]
    fn tokens() {
        let s = "t$files /*+ OPTIONS('a'='b') */ <= 'it''s' 1.5e3";
        let ts: Vec<_> = tokenize(s).unwrap().into_iter().filter(|t| t.kind != Kind::Space).collect();
        let kinds: Vec<_> = ts.iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [Kind::Word, Kind::Hint, Kind::Punct, Kind::String, Kind::Number]);
        assert_eq!(ts[0].text(s), "t$files");
        assert_eq!(ts[2].text(s), "<=");
        assert_eq!(ts[3].value(s), "it's");
        assert_eq!(ts[4].text(s), "1.5e3");
        assert!(tokenize("SELECT 'x").is_err());
    }
}
