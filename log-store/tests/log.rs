//! End-to-end tests of `Log` through its public API: round trips, restarts, recovery from torn tails and damage,
//! retention, group commit under concurrency, tailing and poisoning.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::Duration;

mod common;

use dyntable_log_store::{
    AppendAck, Batch, Error, ErrorKind, FaultInjection, Log, LogOptions, SyncPolicy, BATCH_PAYLOAD_BYTES_MAX,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Frame header bytes: magic, length, crc, base offset, record count, flags.
const FRAME_HEADER_BYTES: u64 = 22;
/// A bound on how long a tailer may take to wake; generous because CI machines are shared.
const WAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn small_segments() -> LogOptions {
    LogOptions { segment_bytes_max: 1024, index_interval_bytes: 128, ..LogOptions::default() }
}

fn open(dir: &Path, options: LogOptions) -> Log {
    let (log, report) = Log::open(dir, options).expect("log opens");
    assert_eq!(report.truncated_bytes, 0, "unexpected truncation: {:?}", report.warnings);
    log
}

/// A payload that names its batch, padded to a length that varies with `index`.
fn payload(index: usize) -> Vec<u8> {
    let mut bytes = format!("batch-{index}-").into_bytes();
    bytes.resize(bytes.len() + (index * 37) % 150, b'a' + (index % 26) as u8);
    bytes
}

fn record_count(index: usize) -> u32 {
    (index % 5) as u32 + 1
}

/// Appends `count` batches made by `payload`/`record_count` and returns their acks.
fn append_batches(log: &Log, range: std::ops::Range<usize>) -> Vec<AppendAck> {
    range.map(|index| log.append(&payload(index), record_count(index)).expect("append succeeds")).collect()
}

fn read_all(log: &Log, offset: u64) -> Vec<Batch> {
    log.read_from(offset).expect("read starts").collect::<Result<Vec<_>, _>>().expect("every batch reads")
}

fn segment_file(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(format!("{base_offset:020}.log"))
}

fn index_file(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(format!("{base_offset:020}.index"))
}

/// Copies the log's files (not its lock) into a fresh directory, so one prepared log can be damaged many ways.
fn copy_log(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("tempdir");
    for entry in fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name != "LOCK" {
            fs::copy(entry.path(), to.path().join(name)).expect("copy");
        }
    }
    to
}

fn flip_byte(path: &Path, position: u64) {
    let mut bytes = fs::read(path).expect("read");
    bytes[position as usize] ^= 0x40;
    fs::write(path, bytes).expect("write");
}

/// Every appended batch reads back with its offsets and payload, from the start and from every offset in the
/// log (a read starts at the batch containing the offset), across many segments and index entries, with and
/// without compression.
#[test]
fn round_trip_from_every_offset() {
    for compression in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = open(dir.path(), LogOptions { compression, ..small_segments() });
        let acks = append_batches(&log, 0..60);
        assert_eq!(acks[0].base_offset, 0);
        for pair in acks.windows(2) {
            assert_eq!(pair[1].base_offset, pair[0].next_offset);
        }
        let segments = log.segment_base_offsets().len();
        assert!(segments > 2, "the test needs several segments. segments={segments}");

        let batches = read_all(&log, 0);
        assert_eq!(batches.len(), acks.len());
        for (index, (batch, ack)) in batches.iter().zip(&acks).enumerate() {
            assert_eq!(batch.base_offset, ack.base_offset);
            assert_eq!(batch.next_offset(), ack.next_offset);
            assert_eq!(batch.record_count, record_count(index));
            assert_eq!(batch.payload.as_ref(), payload(index).as_slice());
        }
        for offset in 0..log.next_offset() {
            let first = log.read_from(offset).expect("read starts").next().expect("a batch").expect("reads");
            assert!(first.base_offset <= offset && offset < first.next_offset(), "offset {offset} -> {first:?}");
        }
        assert!(log.read_from(log.next_offset()).expect("read at the end").next().is_none());
    }
}

/// Offsets survive a restart: a reopened log reports the same end and continues numbering from it, and batches
/// from before and after the restart read back in one pass.
#[test]
fn restart_keeps_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = {
        let log = open(dir.path(), small_segments());
        append_batches(&log, 0..25)
    };
    let (log, report) = Log::open(dir.path(), small_segments()).expect("reopens");
    assert_eq!(report.next_offset, before.last().expect("acks").next_offset);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.rebuilt_indexes, 0, "sealed segments keep their index files");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let after = append_batches(&log, 25..40);
    assert_eq!(after[0].base_offset, before.last().expect("acks").next_offset);
    let stats = log.stats();
    assert_eq!(stats.batches_appended, 15);
    assert_eq!(stats.segment_syncs, 15, "EveryBatch fsyncs once per batch, and a roll finds nothing unsynced");
    let batches = read_all(&log, 0);
    assert_eq!(batches.len(), 40);
    for (index, batch) in batches.iter().enumerate() {
        assert_eq!(batch.payload.as_ref(), payload(index).as_slice());
    }
}

/// A crash mid-append leaves part of the last frame. Cutting the last segment at every byte inside its last
/// frame, recovery truncates exactly the partial frame, keeps every earlier batch, and the next append reuses the
/// unacknowledged offsets.
#[test]
fn torn_tail_is_truncated_at_every_cut() {
    let prepared = tempfile::tempdir().expect("tempdir");
    let acks = {
        let log = open(prepared.path(), small_segments());
        append_batches(&log, 0..20)
    };
    let last_ack = *acks.last().expect("acks");
    let last_base = *segment_bases(prepared.path()).last().expect("segments");
    let last_segment_bytes = fs::metadata(segment_file(prepared.path(), last_base)).expect("stat").len();
    let last_frame_bytes = FRAME_HEADER_BYTES + payload(19).len() as u64;
    let last_frame_start = last_segment_bytes - last_frame_bytes;

    for cut in last_frame_start + 1..last_segment_bytes {
        let dir = copy_log(prepared.path());
        let segment = segment_file(dir.path(), last_base);
        fs::OpenOptions::new().write(true).open(&segment).and_then(|file| file.set_len(cut)).expect("cut");
        let (log, report) = Log::open(dir.path(), small_segments()).expect("recovers");
        assert_eq!(report.truncated_bytes, cut - last_frame_start, "cut at {cut}");
        assert_eq!(report.truncated_segment.as_deref(), Some(segment.as_path()));
        assert_eq!(report.warnings.len(), 1);
        assert_eq!(report.next_offset, last_ack.base_offset);
        assert_eq!(fs::metadata(&segment).expect("stat").len(), last_frame_start);
        assert_eq!(read_all(&log, 0).len(), 19);
        let again = log.append(b"after recovery", 1).expect("append after recovery");
        assert_eq!(again.base_offset, last_ack.base_offset);
    }
}

/// A last frame whose crc fails, or zeros left after the last frame (a file extended but never written), are
/// torn tails too: nothing valid follows, so they are truncated.
#[test]
fn crc_mismatch_or_zeros_at_the_tail_are_truncated() {
    let prepared = tempfile::tempdir().expect("tempdir");
    let acks = {
        let log = open(prepared.path(), small_segments());
        append_batches(&log, 0..20)
    };
    let last_base = *segment_bases(prepared.path()).last().expect("segments");
    let segment_bytes = fs::metadata(segment_file(prepared.path(), last_base)).expect("stat").len();

    let flipped = copy_log(prepared.path());
    flip_byte(&segment_file(flipped.path(), last_base), segment_bytes - 3);
    let (log, report) = Log::open(flipped.path(), small_segments()).expect("recovers");
    assert_eq!(report.truncated_bytes, FRAME_HEADER_BYTES + payload(19).len() as u64);
    assert!(report.warnings[0].contains("crc mismatch"), "{:?}", report.warnings);
    assert_eq!(log.next_offset(), acks[19].base_offset);
    drop(log);

    let zeros = copy_log(prepared.path());
    let segment = segment_file(zeros.path(), last_base);
    let mut bytes = fs::read(&segment).expect("read");
    bytes.extend_from_slice(&[0u8; 4096]);
    fs::write(&segment, bytes).expect("write");
    let (log, report) = Log::open(zeros.path(), small_segments()).expect("recovers");
    assert_eq!(report.truncated_bytes, 4096);
    assert_eq!(log.next_offset(), acks[19].next_offset);
}

/// Damage to a frame that valid batches follow in the last segment is not a torn tail: open fails with
/// `Corrupt` naming the segment and the frame's position, and does not truncate anything.
#[test]
fn bit_flip_before_valid_data_in_the_last_segment_is_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = open(dir.path(), LogOptions::default());
        append_batches(&log, 0..10);
    }
    let segment = segment_file(dir.path(), 0);
    let segment_bytes = fs::metadata(&segment).expect("stat").len();
    // Batch 3 starts after batches 0..3; flip a byte in its payload.
    let position: u64 = (0..3).map(|index| FRAME_HEADER_BYTES + payload(index).len() as u64).sum();
    flip_byte(&segment, position + FRAME_HEADER_BYTES + 2);

    let error = Log::open(dir.path(), LogOptions::default()).expect_err("damage is detected");
    match &error {
        Error::Corrupt { segment: named, position: at, reason } => {
            assert_eq!(named, &segment);
            assert_eq!(*at, position);
            assert!(reason.contains("crc mismatch"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(error.kind(), ErrorKind::Data);
    assert!(error.to_string().starts_with("segment is corrupt. segment=`"), "{error}");
    assert_eq!(fs::metadata(&segment).expect("stat").len(), segment_bytes, "nothing was truncated");
}

/// Damage inside a sealed segment is corruption, never truncation: with its index intact it surfaces when a
/// read reaches the frame; with the index gone, the full scan at open finds it. Both name the segment and
/// position.
#[test]
fn bit_flip_in_a_sealed_segment_is_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = open(dir.path(), small_segments());
        append_batches(&log, 0..40);
    }
    let segment = segment_file(dir.path(), 0);
    flip_byte(&segment, FRAME_HEADER_BYTES + 1);

    {
        let (log, _) = Log::open(dir.path(), small_segments()).expect("the damage is before the last index entry");
        let error = read_all_result(&log, 0).expect_err("the read meets the damage");
        assert!(matches!(&error, Error::Corrupt { segment: named, position: 0, .. } if named == &segment), "{error:?}");
        // A read that starts after the damage, via the index, is unaffected.
        let later = log.segment_base_offsets()[1];
        assert!(read_all_result(&log, later).is_ok());
    }

    fs::remove_file(index_file(dir.path(), 0)).expect("remove index");
    let error = Log::open(dir.path(), small_segments()).expect_err("the full scan finds the damage");
    assert!(matches!(&error, Error::Corrupt { segment: named, position: 0, .. } if named == &segment), "{error:?}");
}

fn read_all_result(log: &Log, offset: u64) -> Result<Vec<Batch>, Error> {
    log.read_from(offset)?.collect()
}

fn segment_bases(dir: &Path) -> Vec<u64> {
    let mut bases: Vec<u64> = fs::read_dir(dir)
        .expect("list")
        .filter_map(|entry| {
            let name = entry.expect("entry").file_name().into_string().expect("utf-8");
            name.strip_suffix(".log").map(|digits| digits.parse().expect("digits"))
        })
        .collect();
    bases.sort_unstable();
    bases
}

/// A missing index is rebuilt on open and reported; reads through it still work.
#[test]
fn missing_index_is_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = open(dir.path(), small_segments());
        append_batches(&log, 0..40);
    }
    fs::remove_file(index_file(dir.path(), 0)).expect("remove index");
    fs::write(index_file(dir.path(), segment_bases(dir.path())[1]), b"torn").expect("damage index");
    let (log, report) = Log::open(dir.path(), small_segments()).expect("opens");
    assert_eq!(report.rebuilt_indexes, 2);
    assert!(index_file(dir.path(), 0).exists());
    assert_eq!(read_all(&log, 0).len(), 40);
}

/// A segment missing between two others is a gap in the offsets: open fails naming the segment before the gap,
/// the base offset that should follow it and the one found instead.
#[test]
fn missing_segment_is_an_error_naming_the_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = open(dir.path(), small_segments());
        append_batches(&log, 0..40);
    }
    let bases = segment_bases(dir.path());
    assert!(bases.len() >= 4);
    fs::remove_file(segment_file(dir.path(), bases[1])).expect("remove segment");
    let error = Log::open(dir.path(), small_segments()).expect_err("gap is detected");
    common::assert_missing_segment(&error, &segment_file(dir.path(), bases[0]), bases[1], bases[2]);
}

/// Reading past the end fails with the requested offset and the log's range; reading at the end is allowed.
#[test]
fn offset_past_the_end_is_out_of_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), LogOptions::default());
    append_batches(&log, 0..3);
    let end = log.next_offset();
    assert!(log.read_from(end).is_ok());
    let error = log.read_from(end + 1).expect_err("past the end");
    assert!(
        matches!(error, Error::OffsetOutOfRange { requested, start: 0, end: reported } if requested == end + 1 && reported == end),
        "{error:?}"
    );
    assert_eq!(error.kind(), ErrorKind::Invalid);
}

/// Retention deletes only whole sealed segments below the offset, never the active one; reads below the new
/// start fail with `OffsetDeleted`, and the new start survives a restart.
#[test]
fn retention_deletes_whole_segments_then_reads_below_are_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), small_segments());
    append_batches(&log, 0..40);
    let bases = log.segment_base_offsets();
    // An offset inside the third segment: the first two go, the third holds records at or above it and stays.
    let offset = bases[2] + 1;
    let report = log.truncate_before(offset).expect("retention");
    assert_eq!(report.deleted_segments, 2);
    assert_eq!(report.log_start_offset, bases[2]);
    assert_eq!(log.log_start_offset(), bases[2]);
    assert!(!segment_file(dir.path(), bases[0]).exists());
    assert!(!index_file(dir.path(), bases[0]).exists());

    let error = log.read_from(bases[2] - 1).expect_err("deleted");
    assert!(
        matches!(error, Error::OffsetDeleted { requested, log_start } if requested == bases[2] - 1 && log_start == bases[2]),
        "{error:?}"
    );
    assert_eq!(read_all(&log, bases[2])[0].base_offset, bases[2]);

    let report = log.truncate_before(u64::MAX).expect("retention of everything");
    let active = *bases.last().expect("segments");
    assert_eq!(report.log_start_offset, active, "the active segment stays");
    assert_eq!(log.segment_base_offsets(), vec![active]);
    let end = log.next_offset();
    drop(log);

    let log = open(dir.path(), small_segments());
    assert_eq!(log.log_start_offset(), active);
    assert_eq!(log.next_offset(), end);
    assert_eq!(log.append(b"more", 1).expect("append").base_offset, end);
}

/// Under group commit, appends from many threads each get a unique, contiguous offset range (the ranges tile
/// `[0, end)` with no gap or overlap), and after a reopen every batch reads back at its acknowledged offset.
#[test]
fn group_commit_gives_unique_contiguous_offsets() {
    let seed: u64 =
        std::env::var("LOG_STORE_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or_else(rand::random);
    println!("seed={seed} (replay with LOG_STORE_SEED={seed})");
    const THREADS: usize = 8;
    const APPENDS_PER_THREAD: usize = 60;
    let options = LogOptions {
        segment_bytes_max: 16 << 10,
        index_interval_bytes: 1024,
        sync: SyncPolicy::GroupCommit { max_delay: Duration::from_millis(2), max_bytes: 32 << 10 },
        compression: true,
        ..LogOptions::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(open(dir.path(), options.clone()));
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let log = log.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(thread as u64));
                start.wait();
                (0..APPENDS_PER_THREAD)
                    .map(|index| {
                        let count = rng.random_range(1..=20u32);
                        let filler = rng.random_range(0..300usize);
                        let mut body = format!("thread-{thread}-append-{index}-").into_bytes();
                        body.resize(body.len() + filler, b'z');
                        let ack = log.append(&body, count).expect("append succeeds");
                        assert_eq!(ack.next_offset - ack.base_offset, u64::from(count));
                        (ack, body)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked: Vec<(AppendAck, Vec<u8>)> =
        handles.into_iter().flat_map(|handle| handle.join().expect("thread")).collect();
    acked.sort_by_key(|(ack, _)| ack.base_offset);
    assert_eq!(acked.len(), THREADS * APPENDS_PER_THREAD);
    assert_eq!(acked[0].0.base_offset, 0);
    for pair in acked.windows(2) {
        assert_eq!(pair[1].0.base_offset, pair[0].0.next_offset, "offset ranges must tile");
    }
    let end = acked.last().expect("acks").0.next_offset;
    assert_eq!(log.next_offset(), end);
    let stats = log.stats();
    assert_eq!(stats.batches_appended, acked.len() as u64);
    // Each group costs one fsync plus one per segment it seals; with eight appenders and a 2 ms window, groups
    // hold several batches, so far fewer fsyncs than appends happen.
    assert!(stats.segment_syncs < stats.batches_appended / 2, "group commit shared no fsyncs. stats={stats:?}");
    drop(Arc::try_unwrap(log).expect("threads are done"));

    let log = open(dir.path(), options);
    assert_eq!(log.next_offset(), end);
    let batches = read_all(&log, 0);
    assert_eq!(batches.len(), acked.len());
    for (batch, (ack, body)) in batches.iter().zip(&acked) {
        assert_eq!(batch.base_offset, ack.base_offset);
        assert_eq!(batch.next_offset(), ack.next_offset);
        assert_eq!(batch.payload.as_ref(), body.as_slice());
    }
}

/// A tailer at the end of the log is woken by an append from another thread (through the durable-end watch,
/// not by polling), yields batches in order across segment rolls, and `wait_for` returns once the offset is
/// durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tailer_wakes_on_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(open(dir.path(), small_segments()));
    log.append(b"before", 1).expect("append");
    let mut tailer = log.tailer(0).expect("tailer");
    let first = tailer.next_batch().await.expect("first batch");
    assert_eq!(first.payload.as_ref(), b"before");

    let waiting = tokio::spawn(async move {
        let mut received = Vec::new();
        while received.len() < 30 {
            received.push(tailer.next_batch().await.expect("tailed batch"));
        }
        received
    });
    let wait_log = log.clone();
    let waiter = tokio::spawn(async move { wait_log.wait_for(20).await });
    let appender_log = log.clone();
    let acks = tokio::task::spawn_blocking(move || append_batches(&appender_log, 0..30)).await.expect("appender");
    let received = tokio::time::timeout(WAKE_TIMEOUT, waiting).await.expect("tailer woke").expect("task");
    for ((batch, ack), index) in received.iter().zip(&acks).zip(0..) {
        assert_eq!(batch.base_offset, ack.base_offset);
        assert_eq!(batch.payload.as_ref(), payload(index).as_slice());
    }
    assert!(log.segment_base_offsets().len() > 2, "the tailer crossed segment rolls");
    let durable_end =
        tokio::time::timeout(WAKE_TIMEOUT, waiter).await.expect("waiter woke").expect("task").expect("wait_for");
    assert!(durable_end > 20);
}

/// Dropping the log wakes a waiting tailer with `Closed` instead of leaving it hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tailer_sees_closed_when_log_drops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), LogOptions::default());
    let mut tailer = log.tailer(0).expect("tailer");
    let waiting = tokio::spawn(async move { tailer.next_batch().await });
    tokio::task::yield_now().await;
    drop(log);
    let result = tokio::time::timeout(WAKE_TIMEOUT, waiting).await.expect("tailer woke").expect("task");
    assert!(matches!(result, Err(Error::Closed)), "{result:?}");
}

/// A failed fsync poisons the log: the append whose fsync failed gets the I/O error, every later append gets
/// `Poisoned` (the fsync is never retried), waiters are told, reads of durable data still work, and a reopen
/// recovers a usable log whose offsets continue past everything acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fsync_poisons_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = FaultInjection::new();
    let options = LogOptions { fault_injection: Some(faults.clone()), ..LogOptions::default() };
    let log = open(dir.path(), options);
    let acked = log.append(b"durable", 1).expect("append");
    let waiter = {
        let mut tailer = log.tailer(acked.next_offset).expect("tailer");
        tokio::spawn(async move { tailer.next_batch().await })
    };

    faults.fail_next_sync();
    let error = log.append(b"unknown fate", 1).expect_err("fsync fails");
    assert!(matches!(&error, Error::Io { action: "sync segment", .. }), "{error:?}");
    for _ in 0..3 {
        let error = log.append(b"refused", 1).expect_err("poisoned");
        assert!(matches!(error, Error::Poisoned { .. }), "{error:?}");
        assert_eq!(error.kind(), ErrorKind::Unavailable);
    }
    assert!(log.is_poisoned());
    assert_eq!(log.next_offset(), acked.next_offset, "nothing after the failure became visible");
    let tailed = tokio::time::timeout(WAKE_TIMEOUT, waiter).await.expect("tailer woke").expect("task");
    assert!(matches!(tailed, Err(Error::Poisoned { .. })), "{tailed:?}");
    assert_eq!(read_all(&log, 0).len(), 1);
    drop(log);

    let (log, _) = Log::open(dir.path(), LogOptions::default()).expect("reopens");
    assert!(log.next_offset() >= acked.next_offset);
    let after = log.append(b"after reopen", 1).expect("append after reopen");
    assert_eq!(after.base_offset, log.next_offset() - 1);
    assert_eq!(read_all(&log, 0)[0].payload.as_ref(), b"durable");
}

/// A second `Log` on the same directory is refused while the first is open, and allowed once it is dropped.
#[test]
fn second_writer_is_locked_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), LogOptions::default());
    let error = Log::open(dir.path(), LogOptions::default()).expect_err("locked");
    assert!(matches!(error, Error::Locked { .. }), "{error:?}");
    drop(log);
    open(dir.path(), LogOptions::default());
}

/// A batch larger than the segment size gets a segment of its own; zero-record batches, oversized payloads and
/// bad options are refused without harming the log.
#[test]
fn batch_size_limits_and_bad_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), small_segments());
    log.append(b"small", 1).expect("append");
    let big = vec![b'x'; 5000];
    let ack = log.append(&big, 3).expect("big append");
    log.append(b"small again", 1).expect("append");
    assert_eq!(log.segment_base_offsets(), vec![0, ack.base_offset, ack.next_offset]);
    assert_eq!(read_all(&log, ack.base_offset)[0].payload.len(), 5000);

    assert!(matches!(log.append(b"x", 0), Err(Error::InvalidArgument { .. })));
    let oversized = vec![0u8; BATCH_PAYLOAD_BYTES_MAX + 1];
    assert!(matches!(log.append(&oversized, 1), Err(Error::InvalidArgument { .. })));
    assert!(!log.is_poisoned());
    log.append(b"still fine", 1).expect("append");
    assert_eq!(log.stats().batches_appended, 4, "refused batches are not counted");

    let other = tempfile::tempdir().expect("tempdir");
    let bad = LogOptions { index_interval_bytes: 0, ..LogOptions::default() };
    assert!(matches!(Log::open(other.path(), bad), Err(Error::InvalidArgument { .. })));
}

/// Compression shrinks compressible payloads on disk and is transparent to readers, also after a reopen without
/// compression (the flag is per frame).
#[test]
fn compression_is_per_frame_and_transparent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = b"the same words again and again. ".repeat(200);
    {
        let log = open(dir.path(), LogOptions { compression: true, ..LogOptions::default() });
        log.append(&body, 10).expect("append");
    }
    let segment_bytes = fs::metadata(segment_file(dir.path(), 0)).expect("stat").len();
    assert!(segment_bytes < body.len() as u64 / 4, "segment_bytes={segment_bytes}");
    let log = open(dir.path(), LogOptions::default());
    log.append(&body, 10).expect("append uncompressed");
    let batches = read_all(&log, 0);
    assert_eq!(batches.len(), 2);
    assert!(batches.iter().all(|batch| batch.payload.as_ref() == body.as_slice()));
}

/// While four threads append under group commit and segments roll, a tailer started at offset 0 receives every
/// acknowledged batch exactly once, in offset order, and never meets a half-written frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tailer_keeps_up_with_concurrent_group_commits() {
    const THREADS: usize = 4;
    const APPENDS_PER_THREAD: usize = 100;
    let options = LogOptions {
        segment_bytes_max: 2 << 10,
        index_interval_bytes: 256,
        sync: SyncPolicy::GroupCommit { max_delay: Duration::from_micros(500), max_bytes: 16 << 10 },
        ..LogOptions::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(open(dir.path(), options));
    let mut tailer = log.tailer(0).expect("tailer");
    let total = THREADS * APPENDS_PER_THREAD;
    let tailing = tokio::spawn(async move {
        let mut received = Vec::with_capacity(total);
        while received.len() < total {
            received.push(tailer.next_batch().await.expect("tailed batch"));
        }
        received
    });
    let appenders: Vec<_> = (0..THREADS)
        .map(|thread| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..APPENDS_PER_THREAD)
                    .map(|index| {
                        let body = format!("thread-{thread}-append-{index}").into_bytes();
                        (log.append(&body, 2).expect("append"), body)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked: Vec<(AppendAck, Vec<u8>)> =
        appenders.into_iter().flat_map(|handle| handle.join().expect("appender")).collect();
    acked.sort_by_key(|(ack, _)| ack.base_offset);
    let received = tokio::time::timeout(WAKE_TIMEOUT, tailing).await.expect("tailer kept up").expect("task");
    assert_eq!(received.len(), acked.len());
    for (batch, (ack, body)) in received.iter().zip(&acked) {
        assert_eq!(batch.base_offset, ack.base_offset);
        assert_eq!(batch.payload.as_ref(), body.as_slice());
    }
    assert!(log.segment_base_offsets().len() > 2, "segments rolled during the run");
}
