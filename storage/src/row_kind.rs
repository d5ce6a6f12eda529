//! A change's kind: insert, update before/after, delete, as Paimon's `RowKind` (the byte values are Paimon's).

use crate::error::{Error, Result};

/// A change's kind, stored in `_VALUE_KIND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum RowKind {
    Insert = 0,
    UpdateBefore = 1,
    UpdateAfter = 2,
    Delete = 3,
}

impl RowKind {
    pub fn parse(s: &str) -> Result<RowKind> {
        match s.trim() {
            "+I" => Ok(RowKind::Insert),
            "-U" => Ok(RowKind::UpdateBefore),
            "+U" => Ok(RowKind::UpdateAfter),
            "-D" => Ok(RowKind::Delete),
            other => Err(Error::invalid(format!("unknown row kind `{other}`: expected +I, -U, +U or -D"))),
        }
    }
    pub fn from_byte(b: i8) -> Option<RowKind> {
        match b {
            0 => Some(RowKind::Insert),
            1 => Some(RowKind::UpdateBefore),
            2 => Some(RowKind::UpdateAfter),
            3 => Some(RowKind::Delete),
            _ => None,
        }
    }
    pub fn short_string(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }
    /// -U and -D retract a row; +I and +U add one.
    pub fn is_retract(self) -> bool {
        matches!(self, RowKind::UpdateBefore | RowKind::Delete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row kinds parse from their short strings and reject anything else.
    #[test]
    fn row_kinds() {
        assert_eq!(RowKind::parse("-D").unwrap(), RowKind::Delete);
        assert!(RowKind::parse("+X").unwrap_err().to_string().contains("+X"));
        assert!(RowKind::UpdateBefore.is_retract());
    }
}
