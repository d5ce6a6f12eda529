//! Changelog producers (`changelog-producer`): the write-time side of the `lookup` producer, and reading the
//! changelog files snapshots commit.
//!
//! With `lookup`, every row a writer accepts becomes the exact change of the key's merged row: `+I` for a key
//! that had no visible row, `-U` old merged row then `+U` new merged row for an update (dropped when equal and
//! `changelog-producer.row-deduplicate` is set), `-D` with the old merged row when the merge removes the key;
//! `first-row` emits only the first `+I` of a key. dyntable computes these when the row is written (Java
//! computes them at compaction), so the embedded log carries them as soon as `write` returns and the
//! changelog files of the `APPEND` snapshot hold the same changes.
//!
//! - `state.rs`: a bucket's key states (a key's merged row as a reference into batches the writer holds),
//!   changed in place with an undo log.
//! - `previous.rs`: [`PreviousRows`], where the committed merged rows of keys the state does not know come from
//!   ([`MergeReadPreviousRows`]: the whole committed bucket by merge-on-read).
//! - `lookup_changelog.rs`: [`LookupChangelog`], the change computation.
//! - `files.rs`: reading a snapshot's changelog files.
//!
//! A key's state is its merged row *as the merge engine leaves it*, retractions included (an aggregation of
//! only retractions stays a `-U`), so that merging it with the next row gives what merge-on-read over all
//! versions gives; a retracted state is not visible (no `-U`/`-D` is emitted for it).

mod files;
mod lookup_changelog;
mod previous;
mod state;

pub use files::{changelog_entries, read_changelog};
pub use lookup_changelog::{LookupChangelog, Staged};
pub use previous::{MergeReadPreviousRows, Previous, PreviousRows};
