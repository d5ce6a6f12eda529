//! Tests of `LogFollower` (reading a log that another process writes) and of the `Stream` adapters: wake-ups by
//! file-system notification, the watermark bound, a follower in a second process, corruption, retention and
//! gaps.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use dyntable_log_store::{Batch, Error, FollowerOptions, LogFollower, LogOptions};
use futures::StreamExt;

/// Options under which only a file-system notification can wake a waiting follower within a test's lifetime.
fn notification_only() -> FollowerOptions {
    FollowerOptions { recheck_interval: Duration::from_secs(3600) }
}

fn read_all(follower: &LogFollower, offset: u64) -> Result<Vec<Batch>, Error> {
    follower.read_from(offset)?.collect()
}

/// A follower tailing from offset 0 receives every batch a writer in the same process appends, in order and
/// across segment rolls. Its re-check timer is an hour, so only inotify events on the watermark file can have
/// woken it within the timeout; the follower code has no sleep loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_is_woken_by_appends_across_segment_rolls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(open(dir.path(), small_segments()));
    let follower = LogFollower::open_with(dir.path(), notification_only()).expect("follower opens");
    assert_eq!(follower.next_offset().expect("watermark"), 0);
    let stream = follower.tailer(0).expect("tailer").into_stream();
    let tailing = tokio::spawn(stream.take(40).map(|batch| batch.expect("tailed batch")).collect::<Vec<_>>());
    let appender = log.clone();
    let acks = tokio::task::spawn_blocking(move || {
        (0..40)
            .map(|index| {
                // Pauses let the follower reach the watermark and wait between appends, so wake-ups are exercised.
                if index % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(20));
                }
                appender.append(&payload(index), record_count(index)).expect("append")
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("appender");
    let received =
        tokio::time::timeout(WAKE_TIMEOUT, tailing).await.expect("follower woke for every append").expect("task");
    assert_batches(&received, &acks, 0..40);
    assert!(log.segment_base_offsets().len() > 3, "the follower crossed segment rolls");
    assert_eq!(follower.next_offset().expect("watermark"), log.next_offset());
    assert_eq!(follower.log_start_offset().expect("start"), 0);
}

/// The follower reads only below the watermark: with the watermark file set behind the last batches it yields
/// exactly the batches below it; bytes of a half-written frame past the watermark at the end of the active
/// segment are never read as a batch nor reported as corruption, and once the writer overwrites them with a
/// real batch the follower yields that batch (bytes it buffered before are discarded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_never_reads_past_the_watermark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let acks = {
        let log = open(dir.path(), LogOptions::default());
        append_batches(&log, 0..5)
    };
    fs::write(dir.path().join("DURABLE"), watermark_bytes(acks[3].base_offset)).expect("set watermark back");
    let follower = LogFollower::open(dir.path()).expect("follower opens");
    assert_eq!(follower.next_offset().expect("watermark"), acks[3].base_offset);
    assert_batches(&read_all(&follower, 0).expect("reads"), &acks, 0..3);
    let error = follower.read_from(acks[4].base_offset).expect_err("past the watermark");
    assert!(
        matches!(error, Error::OffsetOutOfRange { requested, start: 0, end } if requested == acks[4].base_offset && end == acks[3].base_offset),
        "{error:?}"
    );
    drop(follower);

    // The writer reopens (publishing the real end) and keeps appending while a frame's first half sits past
    // the watermark at the end of its active segment.
    let log = open(dir.path(), LogOptions::default());
    let follower = LogFollower::open_with(dir.path(), notification_only()).expect("follower opens");
    let segment = segment_file(dir.path(), 0);
    let durable_bytes = fs::metadata(&segment).expect("stat").len();
    let mut half_frame = vec![0xD1u8];
    half_frame.extend_from_slice(&500u32.to_le_bytes());
    half_frame.extend_from_slice(&[0x5A; 40]);
    fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .and_then(|mut file| file.write_all(&half_frame))
        .expect("write half a frame");
    assert_eq!(fs::metadata(&segment).expect("stat").len(), durable_bytes + half_frame.len() as u64);

    let mut tailer = follower.tailer(0).expect("tailer");
    for index in 0..5 {
        let batch = tailer.next_batch().await.expect("batch below the watermark");
        assert_eq!(batch.payload.as_ref(), payload(index).as_slice());
    }
    let waited = tokio::time::timeout(Duration::from_millis(200), tailer.next_batch()).await;
    assert!(waited.is_err(), "the half-written frame must not be read: {waited:?}");

    // The writer's file position is the durable end, so its next frame overwrites the hand-written bytes.
    let ack = log.append(b"written over the half frame", 1).expect("append");
    let batch = tokio::time::timeout(WAKE_TIMEOUT, tailer.next_batch()).await.expect("woken").expect("batch");
    assert_eq!(batch.base_offset, ack.base_offset);
    assert_eq!(batch.payload.as_ref(), b"written over the half frame");
}

/// Re-executed as a child process by `follower_in_another_process_tails_a_writer` (it does nothing when the
/// environment variable is unset): follows the log and prints each batch's base offset as it arrives.
fn run_follower_child(dir: &str, batches: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let follower = LogFollower::open(dir).expect("child follower opens");
        let mut stream = follower.tailer(0).expect("child tailer").into_stream();
        println!("follower-ready");
        std::io::stdout().flush().expect("flush");
        for _ in 0..batches {
            // Bounded, so that a child whose parent test failed exits instead of waiting forever.
            let next =
                tokio::time::timeout(CHILD_WAIT_MAX, stream.next()).await.expect("the parent appends within the bound");
            let batch = next.expect("stream continues").expect("child reads a batch");
            println!("follower-batch {} {}", batch.base_offset, String::from_utf8_lossy(&batch.payload));
            std::io::stdout().flush().expect("flush");
        }
    });
}

const CHILD_DIR_VARIABLE: &str = "LOG_STORE_FOLLOWER_CHILD_DIR";
const CROSS_PROCESS_BATCHES: usize = 40;
/// How long the child waits for any one batch before giving up.
const CHILD_WAIT_MAX: Duration = Duration::from_secs(30);

/// Kills the child follower when the parent test ends early (a failed assertion), so no process outlives it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A follower in another process (this test binary re-executed with an environment variable and a filter that
/// selects this test) tails a writer in this process across segment rolls. The time from an append's
/// acknowledgement to the child printing that batch is well under the follower's 1 s fallback re-check: the
/// median must be under 100 ms and the maximum under 900 ms, so notification, not the timer, woke it.
#[test]
fn follower_in_another_process_tails_a_writer() {
    if let Ok(dir) = std::env::var(CHILD_DIR_VARIABLE) {
        run_follower_child(&dir, CROSS_PROCESS_BATCHES);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), small_segments());
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "follower_in_another_process_tails_a_writer", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_VARIABLE, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("child stdout");
    let stderr = child.stderr.take().expect("child stderr");
    let mut child = KillOnDrop(child);
    let errors = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let (lines, received) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // libtest prints the test's name without a newline before the test's own output, so a marker may
            // start mid-line.
            let Some(at) = line.find("follower-") else { continue };
            if lines.send((line[at..].to_string(), Instant::now())).is_err() {
                break;
            }
        }
    });
    let (ready, _) = received.recv_timeout(Duration::from_secs(60)).expect("child becomes ready");
    assert_eq!(ready, "follower-ready");

    let mut latencies = Vec::with_capacity(CROSS_PROCESS_BATCHES);
    for index in 0..CROSS_PROCESS_BATCHES {
        let body = format!("cross-process-{index}-{}", "x".repeat(80));
        let ack = log.append(body.as_bytes(), 1).expect("append");
        let acknowledged = Instant::now();
        let (line, seen) = received.recv_timeout(WAKE_TIMEOUT).expect("child saw the batch");
        assert_eq!(line, format!("follower-batch {} {body}", ack.base_offset));
        latencies.push(seen.saturating_duration_since(acknowledged));
        // Pacing in the writer, so the child is idle and waiting when each append lands.
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = child.0.wait().expect("child exits");
    assert!(status.success(), "the child follower failed: {}", errors.join().expect("stderr thread"));
    reader.join().expect("reader thread");
    assert!(log.segment_base_offsets().len() > 2, "the child crossed segment rolls");
    latencies.sort();
    let (median, max) = (latencies[latencies.len() / 2], latencies[latencies.len() - 1]);
    println!("append-to-follower latency in another process: p50={median:?}, max={max:?}");
    assert!(median < Duration::from_millis(100), "p50={median:?}");
    assert!(max < Duration::from_millis(900), "max={max:?}");
}

/// A bit flip in a frame below the watermark is corruption for a follower, naming the segment and the frame's
/// position, both in a sealed segment and in the last frame of the active segment (which a writer's recovery
/// would take for a torn tail: the follower knows better, because the watermark covers it).
#[test]
fn follower_reports_corruption_below_the_watermark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let acks = {
        let log = open(dir.path(), small_segments());
        append_batches(&log, 0..40)
    };
    let follower = LogFollower::open(dir.path()).expect("follower opens");
    let bases = {
        let log = open(dir.path(), small_segments());
        log.segment_base_offsets()
    };
    let first = segment_file(dir.path(), 0);
    flip_byte(&first, FRAME_HEADER_BYTES + 1);
    let error = read_all(&follower, 0).expect_err("damage is found");
    assert!(
        matches!(&error, Error::Corrupt { segment, position: 0, reason } if segment == &first && reason.contains("crc mismatch")),
        "{error:?}"
    );
    flip_byte(&first, FRAME_HEADER_BYTES + 1);

    let last_base = *bases.last().expect("segments");
    let last = segment_file(dir.path(), last_base);
    let last_bytes = fs::metadata(&last).expect("stat").len();
    let last_frame_position = last_bytes - (FRAME_HEADER_BYTES + payload(39).len() as u64);
    flip_byte(&last, last_bytes - 2);
    let batches: Vec<_> = follower.read_from(last_base).expect("read starts").collect();
    let (good, bad) = batches.split_at(batches.len() - 1);
    assert_eq!(good.last().expect("earlier batches").as_ref().expect("valid").next_offset(), acks[39].base_offset);
    assert!(
        matches!(&bad[0], Err(Error::Corrupt { segment, position, .. }) if segment == &last && *position == last_frame_position),
        "{:?}",
        bad[0]
    );
}

/// Retention racing a follower: a tailer already inside a deleted segment finishes it (the open file outlives
/// its name) and then gets `OffsetDeleted` for the next, deleted segment; a new read below the start gets
/// `OffsetDeleted` with the new start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_under_a_follower_is_offset_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), small_segments());
    let acks = append_batches(&log, 0..40);
    let bases = log.segment_base_offsets();
    let follower = LogFollower::open(dir.path()).expect("follower opens");
    let mut tailer = follower.tailer(0).expect("tailer");
    let first = tailer.next_batch().await.expect("first batch");
    assert_eq!(first.base_offset, 0);

    log.truncate_before(bases[2]).expect("retention");
    assert_eq!(follower.log_start_offset().expect("start"), bases[2]);
    let mut yielded = 1;
    let error = loop {
        match tailer.next_batch().await {
            Ok(batch) => {
                assert_eq!(batch.base_offset, acks[yielded].base_offset);
                yielded += 1;
            }
            Err(error) => break error,
        }
    };
    assert_eq!(acks[yielded].base_offset, bases[1], "the tailer finished the segment it had open");
    assert!(
        matches!(error, Error::OffsetDeleted { requested, log_start } if requested == bases[1] && log_start == bases[2]),
        "{error:?}"
    );
    let error = follower.read_from(0).expect_err("deleted");
    assert!(matches!(error, Error::OffsetDeleted { requested: 0, log_start } if log_start == bases[2]), "{error:?}");
    let kept = acks.iter().position(|ack| ack.base_offset == bases[2]).expect("a batch starts the kept segment");
    assert_batches(&read_all(&follower, bases[2]).expect("reads"), &acks, kept..40);
}

/// An offset past the watermark is `OffsetOutOfRange` with the follower's range, reading at the watermark yields
/// nothing, and a segment missing between two others is `MissingSegment` naming the one before the gap.
#[test]
fn follower_out_of_range_and_missing_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (end, bases) = {
        let log = open(dir.path(), small_segments());
        append_batches(&log, 0..40);
        (log.next_offset(), log.segment_base_offsets())
    };
    let follower = LogFollower::open(dir.path()).expect("follower opens");
    let error = follower.read_from(end + 1).expect_err("past the end");
    assert!(
        matches!(error, Error::OffsetOutOfRange { requested, start: 0, end: reported } if requested == end + 1 && reported == end),
        "{error:?}"
    );
    assert!(read_all(&follower, end).expect("read at the end").is_empty());

    fs::remove_file(segment_file(dir.path(), bases[1])).expect("remove a middle segment");
    let error = read_all(&follower, 0).expect_err("gap");
    assert_missing_segment(&error, &segment_file(dir.path(), bases[0]), bases[1], bases[2]);
}

/// `Tailer::into_stream` and `FollowerTailer::into_stream` yield the same batches; a `next()` dropped by a
/// timeout while waiting loses nothing (the following `next()` gets the batch appended after it); the in-process
/// stream ends when the `Log` is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_yield_batches_and_are_cancel_safe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), small_segments());
    let acks = append_batches(&log, 0..12);
    let follower = LogFollower::open_with(dir.path(), notification_only()).expect("follower opens");
    let mut local = log.tailer(0).expect("tailer").into_stream();
    let mut remote = follower.tailer(0).expect("follower tailer").into_stream();
    for stream in [&mut local, &mut remote] {
        let mut batches = Vec::new();
        for _ in 0..12 {
            batches.push(stream.next().await.expect("stream continues").expect("batch"));
        }
        assert_batches(&batches, &acks, 0..12);
        let cancelled = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
        assert!(cancelled.is_err(), "nothing to read yet: {cancelled:?}");
    }
    let ack = log.append(b"after the cancelled next", 2).expect("append");
    for stream in [&mut local, &mut remote] {
        let batch = tokio::time::timeout(WAKE_TIMEOUT, stream.next())
            .await
            .expect("woken")
            .expect("stream continues")
            .expect("batch");
        assert_eq!(batch.base_offset, ack.base_offset);
        assert_eq!(batch.payload.as_ref(), b"after the cancelled next");
    }
    drop(log);
    let ended = tokio::time::timeout(WAKE_TIMEOUT, local.next()).await.expect("woken by the drop");
    assert!(ended.is_none(), "the in-process stream ends with the log: {ended:?}");
}
