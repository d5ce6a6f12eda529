//! Pruning a data file by a predicate before reading it: row groups by their column-chunk statistics, then
//! pages by the page index (column index min/max/null counts, offset index page starts).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::page_index::column_index::ColumnIndexMetaData;

use crate::datum::Datum;
use crate::predicate::Predicate;
use crate::schema::TableSchema;
use crate::stats::ColStats;
use crate::types::{DataType, TypeKind};

/// What Parquet statistics pruned while opening data files: shared by the reads of one scan (atomics,
/// so the readers of several files may add to it), read by whoever reports the scan (`EXPLAIN ANALYZE`).
#[derive(Debug, Default)]
pub struct PruneCounters {
    /// Row groups of the files opened with a pruning predicate.
    pub row_groups: AtomicU64,
    /// Of those, row groups skipped by their column-chunk statistics.
    pub row_groups_pruned: AtomicU64,
    /// Pages of the predicate's columns in the row groups that were read (those with a column index).
    pub pages: AtomicU64,
    /// Of those, pages whose rows were all skipped by the page index (column index min/max/null counts).
    pub pages_pruned: AtomicU64,
    /// Rows of kept row groups that the page index skipped.
    pub rows_pruned: AtomicU64,
}

impl PruneCounters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `(row_groups, row_groups_pruned, pages, pages_pruned, rows_pruned)` as they stand.
    pub fn snapshot(&self) -> [u64; 5] {
        [&self.row_groups, &self.row_groups_pruned, &self.pages, &self.pages_pruned, &self.rows_pruned]
            .map(|c| c.load(Ordering::Relaxed))
    }
}

/// The row groups of a file that `predicate` leaves to read, and the rows within them when the page index
/// skips some (`None`: read the kept row groups whole); what was skipped is added to `counters`.
pub(crate) fn plan(
    meta: &ParquetMetaData,
    current: &TableSchema,
    file_schema: &TableSchema,
    predicate: &Predicate,
    counters: Option<&PruneCounters>,
) -> (Vec<usize>, Option<RowSelection>) {
    let lookup = predicate_leaves(meta, current, file_schema, predicate);
    let keep = prune_row_groups(meta, &lookup, predicate);
    let selection = select_pages(meta, &keep, &lookup, predicate);
    if let Some(c) = counters {
        PruneCounters::add(&c.row_groups, meta.num_row_groups());
        PruneCounters::add(&c.row_groups_pruned, meta.num_row_groups() - keep.len());
        PruneCounters::add(&c.pages, selection.pages);
        PruneCounters::add(&c.pages_pruned, selection.pages_pruned);
        PruneCounters::add(&c.rows_pruned, selection.rows_pruned);
    }
    (keep, selection.selection)
}

/// One page of a column: the row (in its row group) it starts at and its min/max as Paimon values.
#[derive(Debug, Clone)]
pub(crate) struct PageBounds {
    pub first_row: usize,
    pub min: Datum,
    pub max: Datum,
}

/// Column chunk `leaf` of row group `rg` as statistics of type `ty` (`None`: none usable).
pub(crate) fn row_group_stats(meta: &ParquetMetaData, rg: usize, leaf: usize, ty: &DataType) -> Option<ColStats> {
    parquet_col_stats(meta.row_group(rg).column(leaf).statistics()?, ty)
}

/// The pages of column `leaf` in row group `rg` with their bounds, in row order; `None` when the file has no
/// usable page index for it (absent, inconsistent, or a page without both bounds).
pub(crate) fn page_bounds(meta: &ParquetMetaData, rg: usize, leaf: usize, ty: &DataType) -> Option<Vec<PageBounds>> {
    let index = meta.column_index()?.get(rg)?.get(leaf)?;
    let offsets = meta.offset_index()?.get(rg)?.get(leaf)?;
    let rows = meta.row_group(rg).num_rows().max(0) as usize;
    let starts: Vec<usize> = offsets.page_locations().iter().map(|p| p.first_row_index.max(0) as usize).collect();
    let consistent = !starts.is_empty()
        && starts[0] == 0
        && starts.windows(2).all(|w| w[0] < w[1])
        && starts.last().is_some_and(|l| *l < rows.max(1));
    if matches!(index, ColumnIndexMetaData::NONE) || index.num_pages() as usize != starts.len() || !consistent {
        return None;
    }
    let mut out = Vec::with_capacity(starts.len());
    for (page, first_row) in starts.iter().enumerate() {
        let page_rows = starts.get(page + 1).copied().unwrap_or(rows) - first_row;
        let stats = page_col_stats(index, page, page_rows, page_rows, ty)?;
        if stats.min.is_null() || stats.max.is_null() {
            return None;
        }
        out.push(PageBounds { first_row: *first_row, min: stats.min, max: stats.max });
    }
    Some(out)
}

/// For each column the predicate reads: its Paimon type and its leaf column index in the file (top-level
/// primitive columns, matched by field id; a column whose type changed since the file was written is left
/// out, so it never prunes).
fn predicate_leaves(
    meta: &ParquetMetaData,
    current: &TableSchema,
    file_schema: &TableSchema,
    predicate: &Predicate,
) -> HashMap<String, (DataType, usize)> {
    let mut cols = Vec::new();
    predicate.columns(&mut cols);
    let mut lookup = HashMap::new();
    for name in &cols {
        let Some(f) = current.field(name) else { continue };
        let Some(old) = file_schema.field_by_id(f.id) else { continue };
        if !f.data_type.is_atomic() || old.data_type.kind != f.data_type.kind {
            continue;
        }
        let leaf = meta
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.path().parts().len() == 1 && c.path().parts()[0] == old.name);
        if let Some(i) = leaf {
            lookup.insert(name.clone(), (f.data_type.clone(), i));
        }
    }
    lookup
}

/// Row groups of a file that may hold rows matching `predicate`, judged by their Parquet statistics (a
/// column without usable statistics never prunes).
fn prune_row_groups(
    meta: &ParquetMetaData,
    lookup: &HashMap<String, (DataType, usize)>,
    predicate: &Predicate,
) -> Vec<usize> {
    (0..meta.num_row_groups())
        .filter(|rg| {
            let group = meta.row_group(*rg);
            let stats = |c: &str| -> Option<ColStats> {
                let (ty, i) = lookup.get(c)?;
                parquet_col_stats(group.column(*i).statistics()?, ty)
            };
            predicate.might_match(&stats, group.num_rows())
        })
        .collect()
}

/// The rows of the kept row groups that the page index leaves to read, and what it skipped.
#[derive(Debug, Default)]
struct PageSelection {
    /// `None` when no page can be skipped (read the kept row groups whole).
    selection: Option<RowSelection>,
    pages: usize,
    pages_pruned: usize,
    rows_pruned: usize,
}

/// One predicate column's pages in a row group: where each page starts (row index in the row group) and
/// its column-index entry.
struct ColumnPages<'a> {
    name: &'a str,
    ty: &'a DataType,
    starts: Vec<usize>,
    index: &'a ColumnIndexMetaData,
}

/// Page-index pruning. Pages of different columns start at different rows, so each kept row group is cut
/// at every page start of every predicate column; each piece lies in exactly one page per column, and
/// is skipped when the predicate cannot match that page's min/max/null count of every column (the
/// same conservative test as for row groups and files). Pieces are then joined into a [`RowSelection`].
fn select_pages(
    meta: &ParquetMetaData,
    row_groups: &[usize],
    lookup: &HashMap<String, (DataType, usize)>,
    predicate: &Predicate,
) -> PageSelection {
    let mut out = PageSelection::default();
    let (Some(column_index), Some(offset_index)) = (meta.column_index(), meta.offset_index()) else { return out };
    let mut selectors: Vec<RowSelector> = Vec::new();
    let push = |selectors: &mut Vec<RowSelector>, rows: usize, skip: bool| match selectors.last_mut() {
        Some(last) if last.skip == skip => last.row_count += rows,
        _ if rows > 0 => selectors.push(RowSelector { row_count: rows, skip }),
        _ => {}
    };
    for &rg in row_groups {
        let rows = meta.row_group(rg).num_rows().max(0) as usize;
        let mut columns: Vec<ColumnPages> = Vec::new();
        for (name, (ty, leaf)) in lookup {
            let (Some(index), Some(offsets)) =
                (column_index.get(rg).and_then(|c| c.get(*leaf)), offset_index.get(rg).and_then(|c| c.get(*leaf)))
            else {
                continue;
            };
            let starts: Vec<usize> =
                offsets.page_locations().iter().map(|p| p.first_row_index.max(0) as usize).collect();
            // An index that does not line up with the pages (or is absent) is not used.
            let consistent = !starts.is_empty()
                && starts[0] == 0
                && starts.windows(2).all(|w| w[0] < w[1])
                && starts.last().is_some_and(|l| *l < rows.max(1));
            if matches!(index, ColumnIndexMetaData::NONE) || index.num_pages() as usize != starts.len() || !consistent {
                continue;
            }
            columns.push(ColumnPages { name, ty, starts, index });
        }
        if columns.is_empty() {
            push(&mut selectors, rows, false);
            continue;
        }
        let mut cuts: Vec<usize> = columns.iter().flat_map(|c| c.starts.iter().copied()).collect();
        cuts.push(rows);
        cuts.sort_unstable();
        cuts.dedup();
        let mut skipped = vec![false; cuts.len() - 1];
        for (piece, w) in cuts.windows(2).enumerate() {
            let (from, to) = (w[0], w[1]);
            let stats = |c: &str| -> Option<ColStats> {
                let col = columns.iter().find(|p| p.name == c)?;
                let page = col.starts.partition_point(|s| *s <= from) - 1;
                let page_rows = col.starts.get(page + 1).copied().unwrap_or(rows) - col.starts[page];
                page_col_stats(col.index, page, page_rows, to - from, col.ty)
            };
            skipped[piece] = !predicate.might_match(&stats, (to - from) as i64);
            push(&mut selectors, to - from, skipped[piece]);
            if skipped[piece] {
                out.rows_pruned += to - from;
            }
        }
        for col in &columns {
            out.pages += col.starts.len();
            for (page, start) in col.starts.iter().enumerate() {
                let end = col.starts.get(page + 1).copied().unwrap_or(rows);
                let first = cuts.partition_point(|c| c < start);
                let last = cuts.partition_point(|c| *c < end);
                if (first..last).all(|piece| skipped[piece]) {
                    out.pages_pruned += 1;
                }
            }
        }
    }
    if out.rows_pruned > 0 {
        out.selection = Some(RowSelection::from(selectors));
    }
    out
}

/// A Parquet value as stored (physical type), before it is read as a Paimon value.
enum Physical<'a> {
    Bool(bool),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Bytes(&'a [u8]),
}

/// A stored statistic value as a Paimon value of type `ty`; `None` when the pair is not one the reader
/// understands (or the bytes are not UTF-8), which never prunes.
fn physical_datum(v: Physical<'_>, ty: &DataType) -> Option<Datum> {
    let ts = |v: i64, p: u8| match p {
        0..=3 => Datum::Timestamp(v, 0),
        4..=6 => Datum::Timestamp(v.div_euclid(1000), (v.rem_euclid(1000) * 1000) as i32),
        _ => Datum::Timestamp(v.div_euclid(1_000_000), v.rem_euclid(1_000_000) as i32),
    };
    Some(match (v, &ty.kind) {
        (Physical::Bool(v), TypeKind::Boolean) => Datum::Bool(v),
        (Physical::I32(v), TypeKind::TinyInt) => Datum::I8(v as i8),
        (Physical::I32(v), TypeKind::SmallInt) => Datum::I16(v as i16),
        (Physical::I32(v), TypeKind::Int) => Datum::I32(v),
        (Physical::I32(v), TypeKind::Date) => Datum::Date(v),
        (Physical::I32(v), TypeKind::Decimal { precision, scale }) => Datum::Decimal(v as i128, *precision, *scale),
        (Physical::I64(v), TypeKind::BigInt) => Datum::I64(v),
        (Physical::I64(v), TypeKind::Decimal { precision, scale }) => Datum::Decimal(v as i128, *precision, *scale),
        (Physical::I64(v), TypeKind::Timestamp(p) | TypeKind::TimestampLtz(p)) => ts(v, *p),
        (Physical::F32(v), TypeKind::Float) => Datum::F32(v),
        (Physical::F64(v), TypeKind::Double) => Datum::F64(v),
        (Physical::Bytes(v), TypeKind::Char(_) | TypeKind::VarChar(_)) => {
            Datum::String(std::str::from_utf8(v).ok()?.to_string())
        }
        _ => return None,
    })
}

/// A Parquet column chunk's statistics as Paimon values.
fn parquet_col_stats(stats: &parquet::file::statistics::Statistics, ty: &DataType) -> Option<ColStats> {
    use parquet::file::statistics::Statistics as S;
    if !physical_matches(stats, ty) {
        return None;
    }
    let null_count = stats.null_count_opt().map(|n| n as i64);
    let (min, max) = match stats {
        S::Boolean(s) => (s.min_opt().map(|v| Physical::Bool(*v)), s.max_opt().map(|v| Physical::Bool(*v))),
        S::Int32(s) => (s.min_opt().map(|v| Physical::I32(*v)), s.max_opt().map(|v| Physical::I32(*v))),
        S::Int64(s) => (s.min_opt().map(|v| Physical::I64(*v)), s.max_opt().map(|v| Physical::I64(*v))),
        S::Float(s) => (s.min_opt().map(|v| Physical::F32(*v)), s.max_opt().map(|v| Physical::F32(*v))),
        S::Double(s) => (s.min_opt().map(|v| Physical::F64(*v)), s.max_opt().map(|v| Physical::F64(*v))),
        // A truncated maximum of a row-group statistic is not trusted as a bound.
        S::ByteArray(s) => (
            s.min_opt().map(|v| Physical::Bytes(v.data())),
            s.max_opt().filter(|_| s.max_is_exact()).map(|v| Physical::Bytes(v.data())),
        ),
        _ => return None,
    };
    let datum = |v: Option<Physical<'_>>| v.and_then(|v| physical_datum(v, ty)).unwrap_or(Datum::Null);
    Some(ColStats { min: datum(min), max: datum(max), null_count })
}

/// Whether a column chunk's physical type is the one `ty` is stored as.
fn physical_matches(stats: &parquet::file::statistics::Statistics, ty: &DataType) -> bool {
    use parquet::file::statistics::Statistics as S;
    matches!(
        (stats, &ty.kind),
        (S::Boolean(_), TypeKind::Boolean)
            | (
                S::Int32(_),
                TypeKind::TinyInt | TypeKind::SmallInt | TypeKind::Int | TypeKind::Date | TypeKind::Decimal { .. }
            )
            | (
                S::Int64(_),
                TypeKind::BigInt | TypeKind::Decimal { .. } | TypeKind::Timestamp(_) | TypeKind::TimestampLtz(_)
            )
            | (S::Float(_), TypeKind::Float)
            | (S::Double(_), TypeKind::Double)
            | (S::ByteArray(_), TypeKind::Char(_) | TypeKind::VarChar(_))
    )
}

/// Page `page` of a column index as statistics of a piece of `piece_rows` rows inside it (the page holds
/// `page_rows`). The page's null count tells the piece's only when the page is all nulls or has none.
/// Floating-point pages are not used: their min/max leave NaN out, and NaN compares above every number.
/// Byte-array bounds in a column index may be truncated, but stay bounds (the maximum is rounded up).
fn page_col_stats(
    index: &ColumnIndexMetaData,
    page: usize,
    page_rows: usize,
    piece_rows: usize,
    ty: &DataType,
) -> Option<ColStats> {
    let (min, max) = match index {
        ColumnIndexMetaData::BOOLEAN(ix) => {
            (ix.min_value(page).map(|v| Physical::Bool(*v)), ix.max_value(page).map(|v| Physical::Bool(*v)))
        }
        ColumnIndexMetaData::INT32(ix) => {
            (ix.min_value(page).map(|v| Physical::I32(*v)), ix.max_value(page).map(|v| Physical::I32(*v)))
        }
        ColumnIndexMetaData::INT64(ix) => {
            (ix.min_value(page).map(|v| Physical::I64(*v)), ix.max_value(page).map(|v| Physical::I64(*v)))
        }
        ColumnIndexMetaData::BYTE_ARRAY(ix) if matches!(ty.kind, TypeKind::Char(_) | TypeKind::VarChar(_)) => {
            (ix.min_value(page).map(Physical::Bytes), ix.max_value(page).map(Physical::Bytes))
        }
        _ => return None,
    };
    let null_count = match index.null_count(page) {
        _ if index.is_null_page(page) => Some(piece_rows as i64),
        Some(n) if n as usize >= page_rows => Some(piece_rows as i64),
        Some(0) => Some(0),
        _ => None,
    };
    let datum = |v: Option<Physical<'_>>| v.and_then(|v| physical_datum(v, ty)).unwrap_or(Datum::Null);
    Some(ColStats { min: datum(min), max: datum(max), null_count })
}
