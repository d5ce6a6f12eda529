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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_as_the_partition_bucket_pair() {
        let pairs: Vec<(Vec<u8>, i32)> =
            vec![(vec![1], 2), (vec![], 7), (vec![1], -1), (vec![0, 9], 0), (vec![1, 0], 0), (vec![], 0)];
        let mut keys: Vec<BucketKey> = pairs.iter().map(|(p, b)| BucketKey::new(p.clone(), *b)).collect();
        let mut sorted = pairs.clone();
        sorted.sort();
        keys.sort();
        assert_eq!(keys.into_iter().map(|k| (k.partition, k.bucket)).collect::<Vec<_>>(), sorted);
    }
}
