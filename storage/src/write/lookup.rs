//! The `lookup` producer's write path: each bucket's exact changes computed before anything is logged or
//! buffered, logged with the input rows, then the input buffered and the changes kept for changelog files.

use std::collections::BTreeMap;

use arrow::array::{Int8Array, RecordBatch};

use super::{FileStoreWrite, LookupPrepared, Routed, CHANGELOG_ROLL_BYTES};
use crate::changelog::{encode_lookup_changes, take_changes};
use crate::error::Result;

impl FileStoreWrite {
    /// `changelog-producer = lookup`: computes each bucket's exact changes (failing before anything is logged
    /// or buffered when the merge engine rejects a row), logs changes and input together (one log batch per
    /// bucket), then buffers the input and keeps the changes for the changelog files.
    pub(super) async fn write_lookup(&mut self, values: &RecordBatch, kinds: &Int8Array, groups: Routed) -> Result<()> {
        let mut groups: Vec<_> = groups.into_iter().collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        let mut prepared: Vec<LookupPrepared> = Vec::with_capacity(groups.len());
        for (key, (partition, indices)) in groups {
            let computed = match take_changes(values, kinds, &indices) {
                Ok((rows, row_kinds)) => match self.file_rows(&key, &rows, row_kinds, None) {
                    Ok(kv) => {
                        let lookup = self.lookup.as_mut().expect("lookup producer");
                        match lookup.changes(&key, &partition, &kv).await {
                            // Retractions of keys without a visible row are not kept (`Staged::retained`).
                            Ok((changes, staged)) => match staged.retained(&kv) {
                                Ok(kv) => Ok((kv, changes, staged)),
                                Err(e) => {
                                    lookup.discard(staged);
                                    Err(e)
                                }
                            },
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match computed {
                Ok((kv, changes, staged)) => prepared.push((key, partition, kv, changes, staged)),
                Err(e) => {
                    // Nothing of this batch is accepted: take back the key states the other buckets changed.
                    self.discard_lookup(prepared);
                    return Err(e);
                }
            }
        }
        if let Some(log) = self.log.clone() {
            let mut per_bucket: BTreeMap<i32, (Vec<RecordBatch>, Vec<RecordBatch>)> = BTreeMap::new();
            for (key, _, kv, changes, _) in &prepared {
                let e = per_bucket.entry(key.bucket).or_default();
                e.0.push(changes.clone());
                e.1.push(kv.clone());
            }
            let mut appends = Vec::with_capacity(per_bucket.len());
            for (bucket, (changes, input)) in per_bucket {
                let changes = self.logged_rows(&changes)?;
                let input = self.logged_rows(&input)?;
                let records = (changes.kinds.len() + input.kinds.len()) as u32;
                if records == 0 {
                    // Only dropped retractions: nothing to log.
                    continue;
                }
                appends.push((bucket, encode_lookup_changes(self.schema.id, &changes, &input)?, records));
            }
            if let Err(e) = log.append(appends).await {
                self.log_failed = Some(format!("log append failed: {e}"));
                self.discard_lookup(prepared);
                return Err(e);
            }
        }
        for (key, partition, kv, changes, staged) in prepared {
            if let Err(e) = self.lookup.as_mut().expect("lookup producer").apply(staged) {
                self.log_failed = Some(format!("the lookup producer's key states failed: {e}"));
                return Err(e);
            }
            if changes.num_rows() > 0 {
                let pending = self.changelog.entry(key.clone()).or_default();
                pending.push(changes);
                let bytes: usize = pending.iter().map(|b| b.get_array_memory_size()).sum();
                if bytes as u64 >= CHANGELOG_ROLL_BYTES.min(self.options.write_buffer_size) {
                    let batches = std::mem::take(pending);
                    self.roll_changelog(&key, &partition, batches);
                }
            }
            if kv.num_rows() > 0 {
                self.push_buffer(key, partition, kv);
            }
        }
        // At most two rolled changelog files in flight: their rows are held until written.
        let mut flushed = self.collect_encoding_to(2).await;
        if flushed.is_ok() {
            flushed = self.maybe_flush().await;
        }
        if let (Err(e), Some(_)) = (&flushed, &self.log) {
            self.log_failed = Some(format!("buffering logged changes failed: {e}"));
        }
        flushed
    }

    /// Takes back the `lookup` key-state changes of a batch that is not accepted (latest first).
    fn discard_lookup(&mut self, prepared: Vec<LookupPrepared>) {
        let lookup = self.lookup.as_mut().expect("lookup producer");
        for (_, _, _, _, staged) in prepared.into_iter().rev() {
            lookup.discard(staged);
        }
    }
}
