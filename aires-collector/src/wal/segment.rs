//! One segment file of the log: writing records to it, and reading them
//! back with their checks.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::Entry;

/// The first bytes of every segment: the format and its version.
const MAGIC: &[u8; 8] = b"AIRESWL1";

/// Bytes of a record before its payload: length, checksum, LSN, kind.
const HEADER: usize = 4 + 4 + 8 + 1;

/// A record's payload is at most this long (a larger length is damage).
const MAX_PAYLOAD: u32 = 64 << 20;

/// The segment being appended to.
#[derive(Debug)]
pub(super) struct Segment {
    path: PathBuf,
    file: File,
    first_lsn: u64,
    bytes: u64,
    records: u64,
}

impl Segment {
    /// A new, empty segment whose first record will be `first_lsn` (an
    /// existing file of that name, which can only hold no record, is
    /// replaced).
    pub(super) fn create(dir: &Path, first_lsn: u64) -> io::Result<Segment> {
        let path = dir.join(format!("{first_lsn:020}.wal"));
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        file.write_all(MAGIC)?;
        // The directory entry of the new file must survive a crash too.
        File::open(dir)?.sync_all()?;
        Ok(Segment {
            path,
            file,
            first_lsn,
            bytes: MAGIC.len() as u64,
            records: 0,
        })
    }

    /// Appends a record whose payload is `parts`, joined, written with
    /// one vectored write (the parts are not copied).
    pub(super) fn append(&mut self, lsn: u64, kind: u8, parts: &[&[u8]]) -> io::Result<()> {
        let total: usize = parts.iter().map(|part| part.len()).sum();
        let len = u32::try_from(total)
            .ok()
            .filter(|len| *len <= MAX_PAYLOAD)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("a log record holds at most {MAX_PAYLOAD} bytes"),
                )
            })?;
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&len.to_le_bytes());
        header[4..8].copy_from_slice(&checksum(lsn, kind, parts).to_le_bytes());
        header[8..16].copy_from_slice(&lsn.to_le_bytes());
        header[16] = kind;
        let mut slices: Vec<IoSlice<'_>> = std::iter::once(IoSlice::new(&header))
            .chain(parts.iter().map(|part| IoSlice::new(part)))
            .collect();
        if let Err(error) = write_all_vectored(&mut self.file, &mut slices) {
            // A record written in part (a full disk) would read as damage
            // in the middle of the log once more records follow it.
            let _ = self.file.set_len(self.bytes);
            let _ = self.file.seek(SeekFrom::Start(self.bytes));
            return Err(error);
        }
        self.bytes += (HEADER + total) as u64;
        self.records += 1;
        Ok(())
    }

    pub(super) fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Another handle on the file, to make it durable without holding the
    /// segment.
    pub(super) fn handle(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn first_lsn(&self) -> u64 {
        self.first_lsn
    }

    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(super) fn records(&self) -> u64 {
        self.records
    }
}

/// The CRC-32 of a record's LSN, kind and payload (in parts).
fn checksum(lsn: u64, kind: u8, payload: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&lsn.to_le_bytes());
    hasher.update(&[kind]);
    for part in payload {
        hasher.update(part);
    }
    hasher.finalize()
}

/// `Write::write_all_vectored`, which std has not stabilised.
fn write_all_vectored(file: &mut File, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Reads a segment's records in order.
pub(super) struct SegmentReader {
    path: PathBuf,
    data: Vec<u8>,
    /// Where the next record starts.
    at: usize,
}

impl SegmentReader {
    /// Reads the whole segment and checks its magic.
    pub(super) fn open(path: &Path) -> io::Result<SegmentReader> {
        let mut data = Vec::new();
        File::open(path)?.read_to_end(&mut data)?;
        if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a log segment (bad magic)",
            ));
        }
        Ok(SegmentReader {
            path: path.to_owned(),
            data,
            at: MAGIC.len(),
        })
    }

    /// The next record, `None` at the end, or what is wrong with the bytes
    /// where the next record should be.
    pub(super) fn next_record(&mut self) -> Result<Option<Entry>, String> {
        let rest = &self.data[self.at..];
        if rest.is_empty() {
            return Ok(None);
        }
        if rest.len() < HEADER {
            return Err(format!("a record cut short at byte {}", self.at));
        }
        let word = |at: usize| u32::from_le_bytes(rest[at..at + 4].try_into().expect("4 bytes"));
        let len = word(0);
        let crc = word(4);
        let lsn = u64::from_le_bytes(rest[8..16].try_into().expect("8 bytes"));
        let kind = rest[16];
        if len > MAX_PAYLOAD {
            return Err(format!("a record length of {len} at byte {}", self.at));
        }
        let end = HEADER + len as usize;
        if rest.len() < end {
            return Err(format!("a record cut short at byte {}", self.at));
        }
        let payload = &rest[HEADER..end];
        if checksum(lsn, kind, &[payload]) != crc {
            return Err(format!("a record failing its checksum at byte {}", self.at));
        }
        let entry = Entry {
            lsn,
            kind,
            payload: Bytes::copy_from_slice(payload),
        };
        self.at += end;
        Ok(Some(entry))
    }

    /// Cuts the file off where the next record should start; returns how
    /// many bytes were cut.
    pub(super) fn truncate_here(&self) -> io::Result<u64> {
        let cut = (self.data.len() - self.at) as u64;
        let mut file = OpenOptions::new().write(true).open(&self.path)?;
        file.set_len(self.at as u64)?;
        file.seek(SeekFrom::End(0))?;
        file.sync_all()?;
        Ok(cut)
    }
}

/// Removes a segment file; one already gone is fine.
pub(super) fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Whether the file at `path` is shorter than a segment's magic: a segment
/// whose creation was cut short.
pub(super) fn is_torn_header(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.len() < MAGIC.len() as u64)
}
