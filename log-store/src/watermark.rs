//! The durable watermark file `DURABLE`: the writer's durable end (next offset), published for readers in other
//! processes, which cannot see the in-process watch channel.
//!
//! The file is 16 bytes, all integers little endian:
//!
//! ```text
//! 0..4    magic/version, b"DLW1"
//! 4..12   u64  next offset: every offset below it is fsync'd in a segment
//! 12..16  u32  crc32 (IEEE) of bytes 0..12
//! ```
//!
//! It is rewritten in place with one positional write after each fsync that makes a group durable, and once at
//! open after recovery. It is never fsync'd: it is a hint that is never ahead of the fsync'd data (it is written
//! only after the fsync that covers the offsets it names), so losing it in a crash only makes followers wait
//! until the next open rewrites it. A torn or damaged file fails its crc and is ignored by readers, which then
//! keep the last watermark they saw.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Name of the watermark file inside a log directory.
pub(crate) const WATERMARK_FILE_NAME: &str = "DURABLE";
const WATERMARK_MAGIC: [u8; 4] = *b"DLW1";
const WATERMARK_BYTES: usize = 16;
/// A reader that meets a torn file (a concurrent in-place write) re-reads this many times before giving up.
const TORN_READ_ATTEMPTS: usize = 3;

const _: () = assert!(WATERMARK_BYTES == WATERMARK_MAGIC.len() + 8 + 4);

pub(crate) fn watermark_path(dir: &Path) -> PathBuf {
    dir.join(WATERMARK_FILE_NAME)
}

pub(crate) fn encode(next_offset: u64) -> [u8; WATERMARK_BYTES] {
    let mut bytes = [0u8; WATERMARK_BYTES];
    bytes[..4].copy_from_slice(&WATERMARK_MAGIC);
    bytes[4..12].copy_from_slice(&next_offset.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..12]);
    bytes[12..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

/// Parses a watermark file's bytes; the error says why they are not a watermark.
pub(crate) fn decode(bytes: &[u8]) -> Result<u64, String> {
    if bytes.len() != WATERMARK_BYTES {
        return Err(format!(
            "watermark file has the wrong length. length=`{}`, expected=`{WATERMARK_BYTES}`",
            bytes.len()
        ));
    }
    if bytes[..4] != WATERMARK_MAGIC {
        return Err(format!("watermark file has a bad magic. found=`{:02x?}`", &bytes[..4]));
    }
    let stored = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let computed = crc32fast::hash(&bytes[..12]);
    if stored != computed {
        return Err(format!("watermark file crc mismatch. stored=`{stored:#010x}`, computed=`{computed:#010x}`"));
    }
    let mut next_offset = [0u8; 8];
    next_offset.copy_from_slice(&bytes[4..12]);
    Ok(u64::from_le_bytes(next_offset))
}

/// The writer's handle on the watermark file, kept open so each publish is a single positional write.
#[derive(Debug)]
pub(crate) struct WatermarkFile {
    path: PathBuf,
    file: File,
}

impl WatermarkFile {
    /// Opens (creating if needed) the watermark file of `dir`.
    pub(crate) fn open(dir: &Path) -> Result<WatermarkFile> {
        let path = watermark_path(dir);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| Error::io("open watermark file", &path, source))?;
        Ok(WatermarkFile { path, file })
    }

    /// Records `next_offset` as the durable end. Callers publish only offsets that are already fsync'd.
    pub(crate) fn publish(&self, next_offset: u64) -> Result<()> {
        let bytes = encode(next_offset);
        write_at_start(&self.file, &bytes).map_err(|source| Error::io("write durable watermark", &self.path, source))
    }
}

#[cfg(unix)]
fn write_at_start(file: &File, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(bytes, 0)
}

#[cfg(not(unix))]
fn write_at_start(mut file: &File, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(0))?;
    file.write_all(bytes)
}

/// Reads the watermark of `dir`: `None` when the file is missing (no writer of this version opened the log yet)
/// or stays unreadable after a few attempts (torn by a concurrent write, or damaged).
pub(crate) fn read(dir: &Path) -> Result<Option<u64>> {
    let path = watermark_path(dir);
    for _ in 0..TORN_READ_ATTEMPTS {
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::io("read durable watermark", &path, source)),
        };
        if let Ok(next_offset) = decode(&bytes) {
            return Ok(Some(next_offset));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A watermark round-trips, and every single-bit flip or truncation is refused.
    #[test]
    fn round_trip_and_damage() {
        let bytes = encode(0x0123_4567_89ab_cdef);
        assert_eq!(decode(&bytes), Ok(0x0123_4567_89ab_cdef));
        for byte in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes;
                damaged[byte] ^= 1 << bit;
                assert!(decode(&damaged).is_err(), "flip at byte {byte} bit {bit} went unnoticed");
            }
        }
        assert!(decode(&bytes[..15]).is_err());
        assert!(decode(&[0u8; 16]).is_err());
    }
}
