//! Tests of uploading sealed segments to an object store and reading them back with `RemoteLog`: round trips on
//! the in-memory and local-file-system stores, idempotent re-upload, corruption and gaps in the store, a
//! damaged local segment refused before upload, and retention that waits for the upload.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use dyntable_log_store::{
    index_object_path, segment_object_path, upload_sealed_segments, Batch, Error, Log, LogFollower, LogOptions,
    RemoteLog, UploadReport,
};
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

async fn read_remote(remote: &RemoteLog, offset: u64) -> Result<Vec<Batch>, Error> {
    remote.read_from(offset)?.try_collect().await
}

fn prefix() -> ObjectPath {
    ObjectPath::from("logs/p=0/bucket-3")
}

/// Uploads, then checks the report: every sealed segment went up, and a second call uploads nothing.
async fn upload_all(log: &Log, store: &Arc<dyn ObjectStore>) -> UploadReport {
    let report = upload_sealed_segments(log.dir(), store.clone(), &prefix()).await.expect("upload");
    let sealed: Vec<u64> = log.sealed_segments().iter().map(|segment| segment.base_offset).collect();
    let again = upload_sealed_segments(log.dir(), store.clone(), &prefix()).await.expect("re-upload");
    assert_eq!(
        again,
        UploadReport { already_uploaded_segments: sealed.len(), ..UploadReport::default() },
        "re-upload is a no-op"
    );
    report
}

/// Every sealed segment uploads once (a repeated call uploads nothing, a call after more rolls uploads only the
/// new ones), and `RemoteLog` reads back exactly the local batches below the active segment, from the start and
/// from an offset in the middle of a segment, on the in-memory store and on the local file system.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_and_remote_read_round_trip() {
    let store_dir = tempfile::tempdir().expect("tempdir");
    let stores: Vec<Arc<dyn ObjectStore>> = vec![
        Arc::new(InMemory::new()),
        Arc::new(LocalFileSystem::new_with_prefix(store_dir.path()).expect("local store")),
    ];
    for store in stores {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = open(dir.path(), LogOptions { compression: true, ..small_segments() });
        // Compressed frames are small, so it takes this many batches to fill several segments.
        let acks = append_batches(&log, 0..150);
        let sealed = log.sealed_segments();
        assert!(sealed.len() > 3, "the test needs several sealed segments");
        let report = upload_all(&log, &store).await;
        assert_eq!(report.uploaded_segments, sealed.iter().map(|segment| segment.base_offset).collect::<Vec<_>>());
        assert!(report.bytes_uploaded > 0);

        let remote = RemoteLog::open(store.clone(), &prefix()).await.expect("remote opens");
        let remote_end = sealed.last().expect("sealed").end_offset;
        assert_eq!(remote.log_start_offset(), 0);
        assert_eq!(remote.next_offset(), remote_end);
        let uploaded_batches =
            acks.iter().position(|ack| ack.base_offset == remote_end).expect("a batch starts the active segment");
        assert_batches(&read_remote(&remote, 0).await.expect("remote read"), &acks, 0..uploaded_batches);
        // An offset inside a batch in the middle of a later segment: the read starts at the batch holding it.
        let middle = uploaded_batches * 2 / 3;
        let inside = acks[middle].next_offset - 1;
        assert_batches(&read_remote(&remote, inside).await.expect("remote read"), &acks, middle..uploaded_batches);
        assert!(read_remote(&remote, remote_end).await.expect("read at the end").is_empty());
        let error = remote.read_from(remote_end + 1).err().expect("past the end");
        assert!(
            matches!(error, Error::OffsetOutOfRange { requested, end, .. } if requested == remote_end + 1 && end == remote_end),
            "{error:?}"
        );

        append_batches(&log, 150..200);
        let newly_sealed: Vec<u64> =
            log.sealed_segments().iter().skip(sealed.len()).map(|segment| segment.base_offset).collect();
        assert!(!newly_sealed.is_empty());
        let report = upload_all(&log, &store).await;
        assert_eq!(report.uploaded_segments, newly_sealed);
        assert_eq!(report.already_uploaded_segments, sealed.len());
    }
}

/// A bit flip in an uploaded segment object is `Corrupt` naming the object path and the frame's position; a
/// damaged local segment is refused before upload with `Corrupt` naming the local file, and nothing of it is
/// uploaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corruption_is_detected_remotely_and_before_upload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), small_segments());
    append_batches(&log, 0..40);
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    upload_all(&log, &store).await;
    let bases = log.segment_base_offsets();
    let damaged = segment_object_path(&prefix(), bases[1]);
    let mut bytes = store.get(&damaged).await.expect("get").bytes().await.expect("bytes").to_vec();
    bytes[FRAME_HEADER_BYTES as usize + 3] ^= 0x08;
    store.put(&damaged, PutPayload::from(bytes)).await.expect("put damaged");
    let remote = RemoteLog::open(store.clone(), &prefix()).await.expect("remote opens");
    let error = read_remote(&remote, 0).await.expect_err("damage is found");
    assert!(
        matches!(&error, Error::Corrupt { segment, position: 0, reason } if segment == &PathBuf::from(damaged.as_ref()) && reason.contains("crc mismatch")),
        "{error:?}"
    );
    assert!(error.to_string().contains("logs/p=0/bucket-3/"), "{error}");

    let other = tempfile::tempdir().expect("tempdir");
    let other_log = open(other.path(), small_segments());
    append_batches(&other_log, 0..40);
    let local_segment = segment_file(other.path(), 0);
    flip_byte(&local_segment, FRAME_HEADER_BYTES + 1);
    let fresh: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let error = upload_sealed_segments(other.path(), fresh.clone(), &prefix()).await.expect_err("refused");
    assert!(matches!(&error, Error::Corrupt { segment, position: 0, .. } if segment == &local_segment), "{error:?}");
    let error = fresh.head(&segment_object_path(&prefix(), 0)).await.expect_err("nothing uploaded");
    assert!(matches!(error, object_store::Error::NotFound { .. }), "{error:?}");
}

/// A segment object missing between two others is `MissingSegment` naming the object before the gap, the base
/// offset expected there and the one found; the batches before the gap are still yielded first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_remote_segment_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), small_segments());
    let acks = append_batches(&log, 0..40);
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    upload_all(&log, &store).await;
    let bases = log.segment_base_offsets();
    store.delete(&segment_object_path(&prefix(), bases[1])).await.expect("delete segment object");
    store.delete(&index_object_path(&prefix(), bases[1])).await.expect("delete index object");
    let remote = RemoteLog::open(store.clone(), &prefix()).await.expect("remote opens");
    let results: Vec<Result<Batch, Error>> = remote.read_from(0).expect("read starts").collect().await;
    let (before_gap, error) = results.split_at(results.len() - 1);
    let before_gap: Vec<Batch> = before_gap.iter().map(|batch| batch.as_ref().expect("valid").clone()).collect();
    let first_segment_batches =
        acks.iter().position(|ack| ack.base_offset == bases[1]).expect("batch at a segment start");
    assert_batches(&before_gap, &acks, 0..first_segment_batches);
    let error = error[0].as_ref().expect_err("the gap is an error");
    assert_missing_segment(error, &PathBuf::from(segment_object_path(&prefix(), 0).as_ref()), bases[1], bases[2]);
}

/// With `require_upload_before_delete`, plain `truncate_before` is refused; `truncate_before_uploaded` deletes
/// only the oldest segments that are in the store and stops at the first one that is not; after the upload it
/// deletes the rest, and the deleted history is still readable from the store while local readers get
/// `OffsetDeleted`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_waits_for_upload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(dir.path(), LogOptions { require_upload_before_delete: true, ..small_segments() });
    let acks = append_batches(&log, 0..40);
    let bases = log.segment_base_offsets();
    let error = log.truncate_before(u64::MAX).expect_err("refused");
    assert!(matches!(error, Error::InvalidArgument { .. }), "{error:?}");

    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let report = log.truncate_before_uploaded(u64::MAX, store.as_ref(), &prefix()).await.expect("retention");
    assert_eq!(report.deleted_segments, 0, "nothing is uploaded yet");

    upload_all(&log, &store).await;
    store.delete(&index_object_path(&prefix(), bases[2])).await.expect("delete one index object");
    let report = log.truncate_before_uploaded(u64::MAX, store.as_ref(), &prefix()).await.expect("retention");
    assert_eq!(report.deleted_segments, 2, "segments 0 and 1 are uploaded, segment 2's index is not");
    assert_eq!(log.log_start_offset(), bases[2]);

    let report = upload_sealed_segments(log.dir(), store.clone(), &prefix()).await.expect("upload");
    assert_eq!(report.uploaded_segments, vec![bases[2]]);
    let report = log.truncate_before_uploaded(u64::MAX, store.as_ref(), &prefix()).await.expect("retention");
    let active = *bases.last().expect("segments");
    assert_eq!(report.log_start_offset, active);

    let follower = LogFollower::open(dir.path()).expect("follower opens");
    assert!(
        matches!(follower.read_from(0), Err(Error::OffsetDeleted { requested: 0, log_start }) if log_start == active)
    );
    let remote = RemoteLog::open(store.clone(), &prefix()).await.expect("remote opens");
    let uploaded_batches = acks.iter().position(|ack| ack.base_offset == active).expect("batch at a segment start");
    assert_batches(&read_remote(&remote, 0).await.expect("history from the store"), &acks, 0..uploaded_batches);
}
