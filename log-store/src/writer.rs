//! The writer thread: the only code that writes to segment files.
//!
//! Appending threads encode their frame (compression and most of the crc happen there, in parallel), send it
//! over a channel and block on a reply. The writer thread takes a *group* of queued requests, assigns offsets,
//! writes the frames, fsyncs once, publishes the new durable end and only then replies. Under
//! [`SyncPolicy::EveryBatch`] a group is one request. Under [`SyncPolicy::GroupCommit`] the group is whatever is
//! queued plus whatever arrives within `max_delay` of the first request, up to `max_bytes`; appenders that
//! arrive while an fsync runs queue up and share the next one, which is where group commit gets its throughput.
//!
//! A dedicated thread was chosen over a mutex/condvar leader-follower scheme because one owner of the file
//! handle, the offset counter and the poisoned flag leaves no lock ordering to get wrong, and segment rolls
//! happen in one place.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::frame::EncodedFrame;
use crate::index::IndexBuilder;
use crate::options::{LogOptions, SyncPolicy};
use crate::segment;
use crate::shared::{SegmentEntry, Shared, StatCounters};
use crate::types::AppendAck;
use crate::watermark::WatermarkFile;

/// One append waiting for the writer.
pub(crate) struct AppendRequest {
    pub(crate) frame: EncodedFrame,
    pub(crate) reply: SyncSender<Result<AppendAck>>,
}

/// The segment that receives appends.
struct ActiveSegment {
    base_offset: u64,
    path: PathBuf,
    file: File,
    segment_bytes: u64,
    builder: IndexBuilder,
    /// Bytes were written since the last fsync.
    dirty: bool,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    options: LogOptions,
    active: ActiveSegment,
    /// Offset the next batch gets. Equal to the published durable end between groups.
    next_offset: u64,
    /// Set by the first failed write or fsync; from then on every append is refused.
    poisoned: Option<String>,
    /// The `DURABLE` file that tells followers in other processes how far they may read.
    watermark: WatermarkFile,
}

impl Writer {
    /// Takes over the recovered last segment, whose file is `segment_bytes` long.
    pub(crate) fn new(
        shared: Arc<Shared>,
        options: LogOptions,
        base_offset: u64,
        segment_bytes: u64,
        builder: IndexBuilder,
        next_offset: u64,
        watermark: WatermarkFile,
    ) -> Result<Writer> {
        let path = segment::segment_path(&shared.dir, base_offset);
        let file = open_for_append(&path, segment_bytes)?;
        Ok(Writer {
            shared,
            options,
            active: ActiveSegment { base_offset, path, file, segment_bytes, builder, dirty: false },
            next_offset,
            poisoned: None,
            watermark,
        })
    }

    /// Serves requests until every sender is gone (the `Log` was dropped).
    pub(crate) fn run(mut self, requests: Receiver<AppendRequest>) {
        while let Ok(first) = requests.recv() {
            let group = self.gather(first, &requests);
            self.commit(group);
        }
    }

    /// Collects the group that `first` starts, following the sync policy.
    fn gather(&self, first: AppendRequest, requests: &Receiver<AppendRequest>) -> Vec<AppendRequest> {
        let SyncPolicy::GroupCommit { max_delay, max_bytes } = self.options.sync else {
            return vec![first];
        };
        let deadline = Instant::now() + max_delay;
        let mut group_bytes = first.frame.len();
        let mut group = vec![first];
        while group_bytes < max_bytes {
            let request = match requests.try_recv() {
                Ok(request) => request,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let Some(wait) = deadline.checked_duration_since(Instant::now()) else {
                        break;
                    };
                    match requests.recv_timeout(wait) {
                        Ok(request) => request,
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            group_bytes += request.frame.len();
            group.push(request);
        }
        group
    }

    /// Writes a group, makes it durable with one fsync and replies to every request in it.
    fn commit(&mut self, group: Vec<AppendRequest>) {
        if let Some(reason) = &self.poisoned {
            for request in group {
                reply(&request.reply, Err(Error::Poisoned { reason: reason.clone() }));
            }
            return;
        }
        let mut written = Vec::with_capacity(group.len());
        let mut not_written = Vec::new();
        let mut failure = None;
        for mut request in group {
            if failure.is_some() {
                not_written.push(request.reply);
                continue;
            }
            let base_offset = self.next_offset;
            let Some(next_offset) = base_offset.checked_add(u64::from(request.frame.record_count)) else {
                // Refused before anything is written, so the log stays healthy.
                reply(
                    &request.reply,
                    Err(Error::InvalidArgument {
                        reason: format!(
                            "offsets would overflow u64. next_offset=`{base_offset}`, record_count=`{}`",
                            request.frame.record_count
                        ),
                    }),
                );
                continue;
            };
            match self.write(&mut request.frame, base_offset) {
                Ok(()) => {
                    self.next_offset = next_offset;
                    written.push((request.reply, AppendAck { base_offset, next_offset }));
                }
                Err(error) => {
                    failure = Some(error);
                    not_written.push(request.reply);
                }
            }
        }
        if failure.is_none() && !written.is_empty() {
            // The watermark is written only after the fsync, so it never names offsets that are not durable. A
            // failure to write it poisons the log like a failed fsync: followers in other processes would
            // otherwise stall silently behind acknowledged data.
            failure = self.sync_active().and_then(|()| self.watermark.publish(self.next_offset)).err();
        }
        match failure {
            None => {
                let (durable_end, active_base_offset, active_durable_bytes) =
                    (self.next_offset, self.active.base_offset, self.active.segment_bytes);
                // One update, so readers never see the new end without the byte bound that covers it.
                self.shared.durable.send_modify(|state| {
                    state.next_offset = durable_end;
                    state.active_base_offset = active_base_offset;
                    state.active_durable_bytes = active_durable_bytes;
                });
                StatCounters::add(&self.shared.stats.batches_appended, written.len() as u64);
                for (reply_to, ack) in written {
                    reply(&reply_to, Ok(ack));
                }
            }
            Some(error) => {
                // Never retry: after a failed fsync the kernel may have dropped the dirty pages and marked them
                // clean, so a second fsync could "succeed" over lost data. Recovery on reopen finds what is
                // really on disk.
                let reason = error.to_string();
                self.poisoned = Some(reason.clone());
                self.shared.durable.send_modify(|state| state.poisoned = true);
                let mut replies = written.into_iter().map(|(reply_to, _)| reply_to).chain(not_written);
                if let Some(first) = replies.next() {
                    reply(&first, Err(error));
                }
                for reply_to in replies {
                    reply(&reply_to, Err(Error::Poisoned { reason: reason.clone() }));
                }
            }
        }
    }

    /// Appends one frame to the active segment, rolling to a new segment first if it would overflow.
    fn write(&mut self, frame: &mut EncodedFrame, base_offset: u64) -> Result<()> {
        self.roll_if_needed(frame.len() as u64, base_offset)?;
        let active = &mut self.active;
        let relative_offset = base_offset - active.base_offset;
        // `roll_if_needed` keeps both inside u32: positions stay below `segment_bytes_max`, relative offsets are
        // checked directly.
        let (Ok(relative_offset), Ok(position)) = (u32::try_from(relative_offset), u32::try_from(active.segment_bytes))
        else {
            return Err(Error::Internal {
                reason: format!(
                    "segment outgrew the index's u32 range. relative_offset=`{relative_offset}`, position=`{}`",
                    active.segment_bytes
                ),
            });
        };
        frame.seal(base_offset);
        // The index entry may become visible before the frame is durable; readers never read past the durable
        // end, so an entry for a not-yet-durable batch is never followed.
        if let Some(entry) = active.builder.on_frame(relative_offset, position, frame.len() as u64) {
            self.shared.with_segments_mut(|segments| {
                if let Some(last) = segments.last_mut() {
                    debug_assert_eq!(last.base_offset, active.base_offset);
                    last.index.push(entry);
                }
            });
        }
        active.dirty = true;
        active.file.write_all(&frame.bytes).map_err(|source| Error::io("write batch", &active.path, source))?;
        active.segment_bytes += frame.len() as u64;
        StatCounters::add(&self.shared.stats.bytes_written, frame.len() as u64);
        Ok(())
    }

    fn roll_if_needed(&mut self, frame_bytes: u64, base_offset: u64) -> Result<()> {
        let sealed_base_offset = self.active.base_offset;
        if self.active.segment_bytes == 0 {
            return Ok(());
        }
        let too_many_bytes = self.active.segment_bytes + frame_bytes > self.options.segment_bytes_max;
        let too_many_offsets = base_offset - sealed_base_offset > u64::from(u32::MAX);
        if !too_many_bytes && !too_many_offsets {
            return Ok(());
        }
        // Seal: everything in the old segment is durable, and so is its index, before the new segment exists.
        // Open relies on this: only the last segment may have a torn tail.
        self.sync_active()?;
        let sealed_index = self.shared.with_segments(|segments| {
            segments
                .iter()
                .find(|segment| segment.base_offset == sealed_base_offset)
                .map(|segment| segment.index.clone())
                .unwrap_or_default()
        });
        segment::write_index(&self.shared.dir, sealed_base_offset, &sealed_index)?;

        let path = segment::segment_path(&self.shared.dir, base_offset);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| Error::io("create segment", &path, source))?;
        segment::sync_dir(&self.shared.dir)?;
        self.shared.with_segments_mut(|segments| segments.push(SegmentEntry { base_offset, index: Vec::new() }));
        self.active = ActiveSegment {
            base_offset,
            path,
            file,
            segment_bytes: 0,
            builder: IndexBuilder::new(self.options.index_interval_bytes, 0),
            dirty: false,
        };
        Ok(())
    }

    fn sync_active(&mut self) -> Result<()> {
        let active = &mut self.active;
        if !active.dirty {
            return Ok(());
        }
        let injected = self.options.fault_injection.as_ref().is_some_and(|faults| faults.take_sync_failure());
        if injected {
            return Err(Error::io(
                "sync segment",
                &active.path,
                std::io::Error::other("fsync failure injected by FaultInjection"),
            ));
        }
        active.file.sync_data().map_err(|source| Error::io("sync segment", &active.path, source))?;
        active.dirty = false;
        StatCounters::add(&self.shared.stats.segment_syncs, 1);
        Ok(())
    }
}

fn open_for_append(path: &std::path::Path, segment_bytes: u64) -> Result<File> {
    use std::io::{Seek, SeekFrom};
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|source| Error::io("open segment for append", path, source))?;
    file.seek(SeekFrom::Start(segment_bytes)).map_err(|source| Error::io("seek segment", path, source))?;
    Ok(file)
}

fn reply(reply_to: &SyncSender<Result<AppendAck>>, result: Result<AppendAck>) {
    // The appender blocks on the reply until it arrives, so a send can only fail if that thread is gone; then
    // nobody is left to tell.
    let _ = reply_to.send(result);
}
