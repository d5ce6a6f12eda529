//! The on-disk batch frame: encoding on the append path, decoding and validation on the read and recovery paths.
//!
//! One frame holds one batch. All integers are little endian:
//!
//! ```text
//! byte  0        magic/version (0xD1 = dyntable log frame, version 1)
//! bytes 1..5     length: u32, bytes that follow this field (17 + stored payload length)
//! bytes 5..9     crc32 (crc32fast, IEEE) of bytes 9..end, i.e. every header field after the crc and the payload
//! bytes 9..17    base offset: u64, offset of the batch's first record
//! bytes 17..21   record count: u32, at least 1
//! byte  21       flags: bit 0 = payload is zstd-compressed; other bits must be zero
//! bytes 22..end  stored payload
//! ```
//!
//! The magic byte and the length are outside the crc on purpose: the magic is checked on its own, and a damaged
//! length makes the crc cover the wrong bytes, which then fails the check.

use std::io::{self, Read};

use bytes::Bytes;

/// First byte of every frame; a change of frame layout takes a new value.
pub(crate) const FRAME_MAGIC_V1: u8 = 0xD1;
/// Bytes before the payload: magic, length, crc, base offset, record count, flags.
pub(crate) const FRAME_HEADER_BYTES: usize = 22;
/// Bytes counted by the length field that are not payload: crc, base offset, record count, flags.
const FRAME_LENGTH_FIXED_BYTES: usize = 17;
/// The crc covers the frame from this byte (the base offset) to its end.
const FRAME_CRC_START: usize = 9;
/// Largest payload, before or after compression, that one batch may carry. It bounds what a reader allocates
/// for a frame whose length field is damaged.
pub const BATCH_PAYLOAD_BYTES_MAX: usize = 256 << 20;
/// Flag bit: the stored payload is a zstd frame of the caller's payload.
pub(crate) const FLAG_ZSTD: u8 = 0b0000_0001;
const FLAGS_KNOWN: u8 = FLAG_ZSTD;
/// zstd's default level: a good ratio at a speed that keeps up with an fsync-bound writer.
const ZSTD_LEVEL: i32 = 3;

const _: () = assert!(FRAME_HEADER_BYTES == 1 + 4 + FRAME_LENGTH_FIXED_BYTES);
const _: () = assert!(FRAME_CRC_START == 1 + 4 + 4);
const _: () = assert!(FRAME_LENGTH_FIXED_BYTES + BATCH_PAYLOAD_BYTES_MAX <= u32::MAX as usize);

/// A frame built by the appending thread, complete except for its base offset and crc, which only the writer
/// knows. The crc of everything after the base offset is computed here so the single writer thread only hashes
/// eight bytes per batch.
#[derive(Debug)]
pub(crate) struct EncodedFrame {
    pub(crate) bytes: Vec<u8>,
    pub(crate) record_count: u32,
    crc_after_base_offset: crc32fast::Hasher,
}

impl EncodedFrame {
    /// Builds the frame for `payload`, compressing it when `compress` is set and compression makes it smaller.
    pub(crate) fn encode(payload: &[u8], record_count: u32, compress: bool) -> Result<EncodedFrame, String> {
        if record_count == 0 {
            return Err("a batch must hold at least one record. record_count=`0`".to_string());
        }
        if payload.len() > BATCH_PAYLOAD_BYTES_MAX {
            return Err(format!(
                "batch payload is too large. payload_bytes=`{}`, payload_bytes_max=`{BATCH_PAYLOAD_BYTES_MAX}`",
                payload.len()
            ));
        }
        let compressed = if compress {
            let compressed = zstd::bulk::compress(payload, ZSTD_LEVEL)
                .map_err(|error| format!("zstd compression failed. error=`{error}`"))?;
            // Incompressible payloads are stored as they are: the reader then skips a pointless decompression.
            (compressed.len() < payload.len()).then_some(compressed)
        } else {
            None
        };
        let (stored, flags) = match &compressed {
            Some(compressed) => (compressed.as_slice(), FLAG_ZSTD),
            None => (payload, 0),
        };
        let length = u32::try_from(FRAME_LENGTH_FIXED_BYTES + stored.len())
            .map_err(|_| format!("batch frame is too large. stored_bytes=`{}`", stored.len()))?;

        let mut bytes = Vec::with_capacity(FRAME_HEADER_BYTES + stored.len());
        bytes.push(FRAME_MAGIC_V1);
        bytes.extend_from_slice(&length.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes()); // crc, filled in by `seal`
        bytes.extend_from_slice(&0u64.to_le_bytes()); // base offset, filled in by `seal`
        bytes.extend_from_slice(&record_count.to_le_bytes());
        bytes.push(flags);
        bytes.extend_from_slice(stored);
        debug_assert_eq!(bytes.len(), 5 + length as usize);

        let mut crc_after_base_offset = crc32fast::Hasher::new();
        crc_after_base_offset.update(&bytes[FRAME_CRC_START + 8..]);
        Ok(EncodedFrame { bytes, record_count, crc_after_base_offset })
    }

    /// Writes the base offset and the crc into the frame.
    pub(crate) fn seal(&mut self, base_offset: u64) {
        let base_offset_bytes = base_offset.to_le_bytes();
        let mut crc = crc32fast::Hasher::new();
        crc.update(&base_offset_bytes);
        crc.combine(&self.crc_after_base_offset);
        self.bytes[FRAME_CRC_START..FRAME_CRC_START + 8].copy_from_slice(&base_offset_bytes);
        self.bytes[5..9].copy_from_slice(&crc.finalize().to_le_bytes());
        debug_assert!(validate_frame_bytes(&self.bytes).is_ok());
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }
}

/// The header fields of a frame that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub(crate) base_offset: u64,
    pub(crate) record_count: u32,
    pub(crate) flags: u8,
    /// Whole frame, header included.
    pub(crate) frame_bytes: u64,
}

impl FrameHeader {
    /// Offset one past the batch's last record; `None` if it does not fit a u64 (only a corrupt frame).
    pub(crate) fn next_offset(&self) -> Option<u64> {
        self.base_offset.checked_add(u64::from(self.record_count))
    }
}

/// What reading one frame from a position found.
#[derive(Debug)]
pub(crate) enum FrameRead {
    /// A valid frame; its stored payload is in the caller's buffer.
    Frame(FrameHeader),
    /// The file ends exactly at this position.
    End,
    /// The bytes here are not a valid frame (torn, damaged or garbage); the string says why.
    Defect(String),
}

/// Checks the fixed header fields that do not need the payload.
fn parse_header(header: &[u8; FRAME_HEADER_BYTES]) -> Result<(FrameHeader, usize), String> {
    if header[0] != FRAME_MAGIC_V1 {
        return Err(format!("frame has a bad magic byte. found=`{:#04x}`", header[0]));
    }
    let length = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if !(FRAME_LENGTH_FIXED_BYTES..=FRAME_LENGTH_FIXED_BYTES + BATCH_PAYLOAD_BYTES_MAX).contains(&length) {
        return Err(format!("frame has an impossible length. length=`{length}`"));
    }
    let mut base_offset = [0u8; 8];
    base_offset.copy_from_slice(&header[9..17]);
    let record_count = u32::from_le_bytes([header[17], header[18], header[19], header[20]]);
    let flags = header[21];
    let frame = FrameHeader {
        base_offset: u64::from_le_bytes(base_offset),
        record_count,
        flags,
        frame_bytes: 5 + length as u64,
    };
    Ok((frame, length - FRAME_LENGTH_FIXED_BYTES))
}

/// Checks the fields that the crc vouches for; run after the crc so that a damaged frame reports the crc.
fn check_fields(frame: &FrameHeader) -> Result<(), String> {
    if frame.flags & !FLAGS_KNOWN != 0 {
        return Err(format!("frame has unknown flags. flags=`{:#04x}`", frame.flags));
    }
    if frame.record_count == 0 {
        return Err("frame has a record count of zero".to_string());
    }
    if frame.next_offset().is_none() {
        return Err(format!(
            "frame's offsets overflow. base_offset=`{}`, record_count=`{}`",
            frame.base_offset, frame.record_count
        ));
    }
    Ok(())
}

fn frame_crc(header: &[u8; FRAME_HEADER_BYTES], stored_payload: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header[FRAME_CRC_START..]);
    crc.update(stored_payload);
    crc.finalize()
}

fn stored_crc(header: &[u8; FRAME_HEADER_BYTES]) -> u32 {
    u32::from_le_bytes([header[5], header[6], header[7], header[8]])
}

/// Reads and validates the frame at the reader's position, leaving the stored payload in `payload`.
///
/// `remaining_bytes`, when known, is how many bytes the file holds from this position; a frame that claims more
/// is reported as a defect before anything is allocated for it.
pub(crate) fn read_frame<R: Read>(
    reader: &mut R,
    remaining_bytes: Option<u64>,
    payload: &mut Vec<u8>,
) -> io::Result<FrameRead> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    let mut filled = 0;
    while filled < FRAME_HEADER_BYTES {
        match reader.read(&mut header[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
    if filled == 0 {
        return Ok(FrameRead::End);
    }
    if filled < FRAME_HEADER_BYTES {
        return Ok(FrameRead::Defect(format!("frame header is incomplete. header_bytes=`{filled}`")));
    }
    let (frame, payload_bytes) = match parse_header(&header) {
        Ok(parsed) => parsed,
        Err(reason) => return Ok(FrameRead::Defect(reason)),
    };
    if let Some(remaining_bytes) = remaining_bytes {
        if frame.frame_bytes > remaining_bytes {
            return Ok(FrameRead::Defect(format!(
                "frame extends past the end of the segment. frame_bytes=`{}`, remaining_bytes=`{remaining_bytes}`",
                frame.frame_bytes
            )));
        }
    }
    payload.clear();
    // `take` + `read_to_end` grows the buffer as bytes arrive, so a damaged length costs no large allocation.
    reader.take(payload_bytes as u64).read_to_end(payload)?;
    if payload.len() < payload_bytes {
        return Ok(FrameRead::Defect(format!(
            "frame payload is incomplete. payload_bytes=`{}`, expected_bytes=`{payload_bytes}`",
            payload.len()
        )));
    }
    let computed = frame_crc(&header, payload);
    let stored = stored_crc(&header);
    if computed != stored {
        return Ok(FrameRead::Defect(format!(
            "frame crc mismatch. stored=`{stored:#010x}`, computed=`{computed:#010x}`"
        )));
    }
    if let Err(reason) = check_fields(&frame) {
        return Ok(FrameRead::Defect(reason));
    }
    Ok(FrameRead::Frame(frame))
}

/// Validates a complete frame held in memory; returns its header.
pub(crate) fn validate_frame_bytes(bytes: &[u8]) -> Result<FrameHeader, String> {
    let mut reader = bytes;
    let mut payload = Vec::new();
    match read_frame(&mut reader, Some(bytes.len() as u64), &mut payload) {
        Ok(FrameRead::Frame(frame)) => Ok(frame),
        Ok(FrameRead::End) => Err("no frame: zero bytes".to_string()),
        Ok(FrameRead::Defect(reason)) => Err(reason),
        Err(error) => Err(format!("reading from memory failed. error=`{error}`")),
    }
}

/// Looks for a valid frame that starts after the first byte of `bytes` and holds offsets at or above
/// `base_offset_min`. Recovery uses it to tell a torn tail (nothing valid follows the bad frame) from damage in
/// the middle of the log (a valid batch follows). The offset bound keeps bytes that merely look like an older
/// frame from turning a torn tail into corruption, while any frame that could be a real later batch counts, so
/// recovery never silently drops acknowledged data.
pub(crate) fn find_valid_frame_after_start(bytes: &[u8], base_offset_min: u64) -> Option<usize> {
    let last_start = bytes.len().checked_sub(FRAME_HEADER_BYTES)?;
    (1..=last_start).find(|&start| {
        if bytes[start] != FRAME_MAGIC_V1 {
            return false;
        }
        let mut header = [0u8; FRAME_HEADER_BYTES];
        header.copy_from_slice(&bytes[start..start + FRAME_HEADER_BYTES]);
        let Ok((frame, payload_bytes)) = parse_header(&header) else {
            return false;
        };
        let payload_start = start + FRAME_HEADER_BYTES;
        let Some(payload) = bytes.get(payload_start..payload_start + payload_bytes) else {
            return false;
        };
        frame.base_offset >= base_offset_min
            && check_fields(&frame).is_ok()
            && frame_crc(&header, payload) == stored_crc(&header)
    })
}

/// Turns a stored payload back into the caller's bytes.
pub(crate) fn decode_payload(frame: &FrameHeader, stored: Vec<u8>) -> Result<Bytes, String> {
    if frame.flags & FLAG_ZSTD == 0 {
        return Ok(Bytes::from(stored));
    }
    let mut decoder = zstd::stream::read::Decoder::new(stored.as_slice())
        .map_err(|error| format!("zstd decoder failed to start. error=`{error}`"))?;
    let mut payload = Vec::new();
    // One byte more than the limit detects a payload that would decompress past it.
    (&mut decoder)
        .take(BATCH_PAYLOAD_BYTES_MAX as u64 + 1)
        .read_to_end(&mut payload)
        .map_err(|error| format!("payload failed to decompress. error=`{error}`"))?;
    if payload.len() > BATCH_PAYLOAD_BYTES_MAX {
        return Err(format!("payload decompresses past the limit. payload_bytes_max=`{BATCH_PAYLOAD_BYTES_MAX}`"));
    }
    Ok(Bytes::from(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(payload: &[u8], record_count: u32, compress: bool, base_offset: u64) -> Vec<u8> {
        let mut frame = EncodedFrame::encode(payload, record_count, compress).expect("encodes");
        frame.seal(base_offset);
        frame.bytes
    }

    fn decode(bytes: &[u8]) -> (FrameHeader, Bytes) {
        let mut reader = bytes;
        let mut stored = Vec::new();
        match read_frame(&mut reader, Some(bytes.len() as u64), &mut stored).expect("reads") {
            FrameRead::Frame(frame) => {
                let payload = decode_payload(&frame, stored).expect("decodes");
                (frame, payload)
            }
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Encoding then decoding returns the same offsets, count and payload, with and without compression, for
    /// empty, small, compressible and incompressible payloads.
    #[test]
    fn frame_round_trips() {
        let compressible = vec![7u8; 10_000];
        let incompressible: Vec<u8> = (0..10_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for payload in [&b""[..], b"hello", &compressible, &incompressible] {
            for compress in [false, true] {
                let bytes = sealed(payload, 3, compress, 1 << 40);
                let (frame, decoded) = decode(&bytes);
                assert_eq!(frame.base_offset, 1 << 40);
                assert_eq!(frame.record_count, 3);
                assert_eq!(frame.frame_bytes, bytes.len() as u64);
                assert_eq!(decoded.as_ref(), payload);
            }
        }
        let compressed = sealed(&compressible, 1, true, 0);
        assert_eq!(compressed[21] & FLAG_ZSTD, FLAG_ZSTD);
        assert!(compressed.len() < compressible.len() / 10);
    }

    /// The crc that `seal` computes from the precomputed tail hash equals a crc of the whole covered range.
    #[test]
    fn sealed_crc_matches_a_direct_crc() {
        let bytes = sealed(b"some payload bytes", 9, false, 12_345);
        let direct = crc32fast::hash(&bytes[FRAME_CRC_START..]);
        assert_eq!(u32::from_le_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]), direct);
    }

    /// Every single-bit flip anywhere in a frame is caught as a defect.
    #[test]
    fn every_bit_flip_is_detected() {
        let bytes = sealed(b"payload under test", 2, false, 77);
        for byte in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[byte] ^= 1 << bit;
                assert!(validate_frame_bytes(&damaged).is_err(), "flip at byte {byte} bit {bit} went unnoticed");
            }
        }
    }

    /// A frame cut at any byte is reported as a defect (or as the end when cut at zero), never as a frame.
    #[test]
    fn truncated_frames_are_defects() {
        let bytes = sealed(b"payload under test", 2, false, 77);
        for cut in 1..bytes.len() {
            let mut reader = &bytes[..cut];
            let mut stored = Vec::new();
            let read = read_frame(&mut reader, None, &mut stored).expect("reads");
            assert!(matches!(read, FrameRead::Defect(_)), "cut at {cut} gave {read:?}");
        }
    }

    /// Zero record counts and oversized payloads are refused at encoding time.
    #[test]
    fn encode_rejects_bad_batches() {
        assert!(EncodedFrame::encode(b"x", 0, false).is_err());
        let too_large = vec![0u8; BATCH_PAYLOAD_BYTES_MAX + 1];
        assert!(EncodedFrame::encode(&too_large, 1, false).is_err());
    }

    /// The forward search finds a later valid frame past garbage, and ignores frames below the offset bound.
    #[test]
    fn find_valid_frame_respects_the_offset_bound() {
        let mut bytes = vec![0xAB; 13];
        let frame = sealed(b"later", 1, false, 50);
        bytes.extend_from_slice(&frame);
        assert_eq!(find_valid_frame_after_start(&bytes, 40), Some(13));
        assert_eq!(find_valid_frame_after_start(&bytes, 51), None);
        assert_eq!(find_valid_frame_after_start(&frame, 0), None, "position zero is not searched");
    }
}
