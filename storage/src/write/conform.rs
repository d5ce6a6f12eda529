//! Which Arrow types a batch column may have to be stored in a table column (a checked cast).

use arrow_schema::{DataType as ArrowType, TimeUnit};

/// Whether a batch column of type `from` may be stored in a column of type `to` by a checked cast.
pub(super) fn compatible(from: &ArrowType, to: &ArrowType) -> bool {
    use ArrowType::*;
    let int_rank = |t: &ArrowType| match t {
        Int8 => Some(1),
        Int16 => Some(2),
        Int32 => Some(3),
        Int64 => Some(4),
        UInt8 => Some(2),
        UInt16 => Some(3),
        UInt32 => Some(4),
        _ => None,
    };
    match (from, to) {
        (Utf8View | LargeUtf8 | Dictionary(..), Utf8) => true,
        (BinaryView | LargeBinary | FixedSizeBinary(_), Binary) => true,
        (Timestamp(_, _), Timestamp(_, _)) => true,
        (Decimal128(..) | Decimal32(..) | Decimal64(..), Decimal128(..)) => true,
        (Float32, Float64) | (Float16, Float32 | Float64) => true,
        (Date64, Date32) => true,
        (Time32(_) | Time64(_), Time32(TimeUnit::Millisecond)) => true,
        (List(_) | LargeList(_), List(_)) | (Map(..), Map(..)) | (Struct(_), Struct(_)) => true,
        (a, b) => matches!((int_rank(a), int_rank(b)), (Some(x), Some(y)) if x <= y),
    }
}
