//! The sparse offset index of a segment: every `index_interval_bytes` of frames, one entry maps a batch's
//! offset (relative to the segment's base offset) to the byte position of its frame.
//!
//! The index is a hint that speeds up `read_from`; the segment is the truth. The active segment's index lives in
//! memory and is written to `<base_offset:020>.index` (8 bytes per entry: relative offset u32 LE, position u32 LE)
//! when the segment is sealed; recovery rebuilds any index that is missing or does not match its segment.

/// Bytes per entry in an index file.
pub(crate) const INDEX_ENTRY_BYTES: usize = 8;

/// One index entry: the batch starting at `base_offset + relative_offset` begins at byte `position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) relative_offset: u32,
    pub(crate) position: u32,
}

/// Decides where index entries go while frames are appended or scanned, so that the writer and recovery build
/// the same index for the same segment.
#[derive(Debug, Clone)]
pub(crate) struct IndexBuilder {
    interval_bytes: u64,
    bytes_since_entry: u64,
}

impl IndexBuilder {
    /// A builder for a segment whose frames after the last entry (or the segment start) span `bytes_since_entry`.
    pub(crate) fn new(interval_bytes: u64, bytes_since_entry: u64) -> IndexBuilder {
        debug_assert!(interval_bytes > 0);
        IndexBuilder { interval_bytes, bytes_since_entry }
    }

    /// Called for each frame in order; returns the entry to add for it, if any. The first frame of a segment
    /// never gets one: position zero is where a lookup without an entry starts anyway.
    pub(crate) fn on_frame(&mut self, relative_offset: u32, position: u32, frame_bytes: u64) -> Option<IndexEntry> {
        let entry = (self.bytes_since_entry >= self.interval_bytes).then(|| {
            self.bytes_since_entry = 0;
            IndexEntry { relative_offset, position }
        });
        self.bytes_since_entry += frame_bytes;
        entry
    }
}

/// The last entry at or below `relative_offset`, i.e. where a scan for that offset should start.
pub(crate) fn lookup(entries: &[IndexEntry], relative_offset: u64) -> Option<IndexEntry> {
    let after = entries.partition_point(|entry| u64::from(entry.relative_offset) <= relative_offset);
    after.checked_sub(1).map(|last| entries[last])
}

pub(crate) fn encode(entries: &[IndexEntry]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(entries.len() * INDEX_ENTRY_BYTES);
    for entry in entries {
        bytes.extend_from_slice(&entry.relative_offset.to_le_bytes());
        bytes.extend_from_slice(&entry.position.to_le_bytes());
    }
    bytes
}

/// Parses an index file and checks its shape against the segment: whole entries, offsets and positions strictly
/// increasing, positions inside the segment. Returns why it is unusable otherwise; whether each entry points at
/// the right frame is checked when it is used.
pub(crate) fn decode(bytes: &[u8], segment_bytes: u64) -> Result<Vec<IndexEntry>, String> {
    if !bytes.len().is_multiple_of(INDEX_ENTRY_BYTES) {
        return Err(format!("index length is not a whole number of entries. index_bytes=`{}`", bytes.len()));
    }
    let entries: Vec<IndexEntry> = bytes
        .chunks_exact(INDEX_ENTRY_BYTES)
        .map(|chunk| IndexEntry {
            relative_offset: u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]),
            position: u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]),
        })
        .collect();
    for pair in entries.windows(2) {
        if pair[1].relative_offset <= pair[0].relative_offset {
            return Err(format!("index offsets do not increase. relative_offset=`{}`", pair[1].relative_offset));
        }
        if pair[1].position <= pair[0].position {
            return Err(format!("index positions do not increase. position=`{}`", pair[1].position));
        }
    }
    if let Some(last) = entries.last() {
        if u64::from(last.position) >= segment_bytes {
            return Err(format!(
                "index points past the end of the segment. position=`{}`, segment_bytes=`{segment_bytes}`",
                last.position
            ));
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries survive an encode/decode round trip, and lookup picks the last entry at or below the target.
    #[test]
    fn round_trip_and_lookup() {
        let entries = vec![
            IndexEntry { relative_offset: 10, position: 4096 },
            IndexEntry { relative_offset: 25, position: 8200 },
        ];
        let decoded = decode(&encode(&entries), 10_000).expect("valid");
        assert_eq!(decoded, entries);
        assert_eq!(lookup(&entries, 3), None);
        assert_eq!(lookup(&entries, 10), Some(entries[0]));
        assert_eq!(lookup(&entries, 24), Some(entries[0]));
        assert_eq!(lookup(&entries, 1000), Some(entries[1]));
    }

    /// Torn, unordered and out-of-bounds index files are refused so that recovery rebuilds them.
    #[test]
    fn malformed_indexes_are_refused() {
        let entries =
            vec![IndexEntry { relative_offset: 10, position: 4096 }, IndexEntry { relative_offset: 5, position: 8200 }];
        assert!(decode(&encode(&entries), 10_000).is_err());
        assert!(decode(&encode(&entries[..1]), 4096).is_err());
        assert!(decode(&encode(&entries[..1])[..7], 10_000).is_err());
    }

    /// The builder adds an entry once at least `interval` bytes of frames precede the frame.
    #[test]
    fn builder_spaces_entries_by_interval() {
        let mut builder = IndexBuilder::new(100, 0);
        let mut added = Vec::new();
        let mut position = 0u32;
        for relative_offset in 0..10u32 {
            if let Some(entry) = builder.on_frame(relative_offset, position, 40) {
                added.push(entry);
            }
            position += 40;
        }
        let positions: Vec<u32> = added.iter().map(|entry| entry.position).collect();
        assert_eq!(positions, vec![120, 240, 360]);
    }
}
