//! A bucket's key states for the `lookup` producer: per key, its merged row as a reference into the batches the
//! writer holds (input batches, looked-up rows, merged rows), found by one hash probe of the key's row-format
//! bytes (inline when short, so the probe reads no other memory). A batch changes the states in place and keeps
//! an undo log, so that a batch the writer does not accept (a later bucket failed) leaves no trace.

use arrow::array::{AsArray, Int8Array, RecordBatch};
use arrow::compute;
use arrow::datatypes::Int8Type;
use arrow::row::Rows;

use crate::error::Result;
use crate::row_kind::RowKind;

/// A key's merged row: a row of one of the bucket's source batches (key-value layout), or no row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyState {
    Absent,
    /// `visible`: the row is not a retraction (kept here so that a change reads its old row only when it
    /// emits it).
    At {
        source: u32,
        row: u32,
        visible: bool,
    },
}

impl KeyState {
    /// The state of row `row` of source `source`, whose kinds are `kinds`.
    pub(super) fn at(source: u32, row: u32, kinds: &Int8Array) -> KeyState {
        let visible = !RowKind::from_byte(kinds.value(row as usize)).unwrap_or(RowKind::Insert).is_retract();
        KeyState::At { source, row, visible }
    }

    /// The (source, row) of a state whose row is visible.
    pub(super) fn visible(self) -> Option<(u32, u32)> {
        match self {
            KeyState::At { source, row, visible: true } => Some((source, row)),
            _ => None,
        }
    }
}

/// The kinds column of a batch in the key-value layout.
pub(super) fn kinds_of(batch: &RecordBatch, nkeys: usize) -> &Int8Array {
    batch.column(nkeys + 1).as_primitive::<Int8Type>()
}

/// A key's bytes (row format), inline when short.
#[derive(Clone)]
enum KeyBytes {
    Inline { len: u8, bytes: [u8; 22] },
    Heap(Box<[u8]>),
}

impl KeyBytes {
    fn new(k: &[u8]) -> Self {
        if k.len() <= 22 {
            let mut bytes = [0u8; 22];
            bytes[..k.len()].copy_from_slice(k);
            KeyBytes::Inline { len: k.len() as u8, bytes }
        } else {
            KeyBytes::Heap(k.into())
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            KeyBytes::Inline { len, bytes } => &bytes[..*len as usize],
            KeyBytes::Heap(b) => b,
        }
    }
}

impl PartialEq for KeyBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for KeyBytes {}

impl std::hash::Hash for KeyBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `[u8]` hashes, so that `&[u8]` finds it (`Borrow`).
        self.as_slice().hash(state)
    }
}

impl std::borrow::Borrow<[u8]> for KeyBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

/// How to undo a batch's change of one key: its state before, or `None` when the batch added the key.
pub(super) type Undo = (u32, Option<KeyState>);

/// One bucket's key states: every key the writer changed or looked up since it began (states outlive commits
/// while they fit the cache size, see `LookupChangelog::committed`).
#[derive(Default)]
pub(super) struct BucketState {
    pub(super) sources: Vec<RecordBatch>,
    rows_held: usize,
    keys: hashbrown::HashMap<KeyBytes, KeyState>,
    /// Whether `keys` holds every key the bucket has (a key not in it has no row).
    pub(super) complete: bool,
}

impl BucketState {
    /// Bytes held: the sources' Arrow memory and the key map.
    pub(super) fn memory(&self) -> usize {
        self.sources.iter().map(|s| s.get_array_memory_size()).sum::<usize>()
            + self.keys.capacity() * (std::mem::size_of::<(KeyBytes, KeyState)>() + 1)
    }

    /// Whether some key's state is a retraction.
    pub(super) fn holds_retraction(&self) -> bool {
        self.keys.values().any(|k| matches!(k, KeyState::At { visible: false, .. }))
    }

    pub(super) fn contains(&self, key: &[u8]) -> bool {
        self.keys.contains_key(key)
    }

    pub(super) fn get(&self, key: &[u8]) -> KeyState {
        self.keys.get(key).copied().unwrap_or(KeyState::Absent)
    }

    /// Adds a source batch; returns its number.
    pub(super) fn push_source(&mut self, batch: RecordBatch) -> u32 {
        self.rows_held += batch.num_rows();
        self.sources.push(batch);
        self.sources.len() as u32 - 1
    }

    /// Records a looked-up state of a key the state does not know (a fact about the committed bucket, kept
    /// whatever happens to the batch that asked).
    pub(super) fn learn(&mut self, key: &[u8], state: KeyState) {
        if !self.keys.contains_key(key) {
            self.keys.insert(KeyBytes::new(key), state);
        }
    }

    /// Sets the state of the key of row `i` of `rows` to `new` and returns its state before. The first change of
    /// a key in a batch (whose sources are numbered from `batch_sources`) is logged in `undo`.
    pub(super) fn set(
        &mut self,
        rows: &Rows,
        i: u32,
        new: KeyState,
        batch_sources: u32,
        undo: &mut Vec<Undo>,
    ) -> KeyState {
        let k = rows.row(i as usize).data();
        match self.keys.get_mut(k) {
            Some(s) => {
                let old = std::mem::replace(s, new);
                let changed_by_batch = matches!(old, KeyState::At { source, .. } if source >= batch_sources);
                if !changed_by_batch {
                    undo.push((i, Some(old)));
                }
                old
            }
            None => {
                self.keys.insert(KeyBytes::new(k), new);
                undo.push((i, None));
                KeyState::Absent
            }
        }
    }

    /// Takes back a batch's changes (`undo` in the order logged, sources from `batch_sources` on).
    pub(super) fn undo(&mut self, rows: &Rows, undo: &[Undo], batch_sources: usize) {
        for (i, old) in undo.iter().rev() {
            let k = rows.row(*i as usize).data();
            match old {
                Some(s) => {
                    if let Some(v) = self.keys.get_mut(k) {
                        *v = *s;
                    }
                }
                None => {
                    self.keys.remove(k);
                }
            }
        }
        for s in self.sources.drain(batch_sources.min(self.sources.len())..) {
            self.rows_held -= s.num_rows();
        }
    }

    /// Bounds the sources: when there are more than 32, the live rows of the oldest 16 (by then mostly
    /// replaced by newer rows) are gathered into one batch; when the sources hold more than four times as many
    /// rows as there are keys, all live rows are.
    pub(super) fn maybe_compact(&mut self) -> Result<()> {
        if self.rows_held > 4 * self.keys.len() + 65_536 && self.sources.len() > 1 {
            self.compact_oldest(self.sources.len())
        } else if self.sources.len() > 32 {
            self.compact_oldest(16)
        } else {
            Ok(())
        }
    }

    /// Gathers the live rows of sources `0..n` into one batch, source 0; later sources move down.
    fn compact_oldest(&mut self, n: usize) -> Result<()> {
        let mut picks: Vec<(usize, usize)> = Vec::new();
        for v in self.keys.values() {
            if let KeyState::At { source, row, .. } = *v {
                if (source as usize) < n {
                    picks.push((source as usize, row as usize));
                }
            }
        }
        let refs: Vec<&RecordBatch> = self.sources[..n].iter().collect();
        let batch = compute::interleave_record_batch(&refs, &picks)?;
        let mut j = 0u32;
        for v in self.keys.values_mut() {
            if let KeyState::At { source, row, .. } = v {
                if (*source as usize) < n {
                    (*source, *row) = (0, j);
                    j += 1;
                } else {
                    *source -= n as u32 - 1;
                }
            }
        }
        let dropped: usize = self.sources[..n].iter().map(|s| s.num_rows()).sum();
        self.rows_held = self.rows_held - dropped + batch.num_rows();
        self.sources.splice(..n, [batch]);
        Ok(())
    }
}
