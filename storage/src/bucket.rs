//! Naming a bucket of a table: its partition (as serialized BinaryRow bytes) and its bucket number.

/// One bucket of a table: the serialized partition row and the bucket number. Orders by partition bytes, then
/// bucket (as the `(partition, bucket)` pairs of the manifests do).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketKey {
    pub partition: Vec<u8>,
    pub bucket: i32,
}

impl BucketKey {
    pub fn new(partition: Vec<u8>, bucket: i32) -> Self {
        BucketKey { partition, bucket }
    }
}
