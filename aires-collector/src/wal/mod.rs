//! A write-ahead log: records appended to segment files under a
//! directory, each with its sequence number (LSN) and a checksum, read back
//! in order when the log is opened again.
//!
//! - **Format.** A segment is `{first_lsn:020}.wal`: the magic
//!   `AIRESWL1`, then records `[len u32][crc u32][lsn u64][kind u8]
//!   [payload: len bytes]` (little-endian; the CRC-32 covers the LSN, the
//!   kind and the payload). A segment is closed at `segment_bytes` and a new
//!   one started; appends go to the newest segment only.
//! - **Durability.** Appends are written to the file at once (the kernel's
//!   page cache); [`Wal::sync`] makes everything appended so far durable
//!   (`fdatasync`). When to call it is the caller's policy.
//! - **Recovery.** [`Wal::open`] reads every segment in order. A record
//!   that is cut short or fails its checksum at the end of the newest
//!   segment is a torn write: the segment is truncated there. Anywhere else
//!   it is corruption: the rest of that segment is skipped and reported,
//!   never a panic and never a crash loop. Appends after recovery start a
//!   new segment.
//! - **Space.** [`Wal::release`] deletes the segments whose records are all
//!   below an LSN (stored, so no longer needed); [`Wal::bytes`] is what the
//!   log holds on disk, for the caller's bound.

mod segment;

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use segment::{Segment, SegmentReader};

/// One record read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub lsn: u64,
    pub kind: u8,
    pub payload: Bytes,
}

/// What opening the log found.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Every valid record, in LSN order.
    pub entries: Vec<Entry>,
    /// Bytes cut off the newest segment's end (a torn write).
    pub truncated_bytes: u64,
    /// Segments found damaged, and why; their records from the damage on
    /// were skipped.
    pub corrupt: Vec<(PathBuf, String)>,
}

/// An open log.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    segment_bytes: u64,
    /// Closed segments, oldest first: their path, first LSN and size.
    closed: VecDeque<(PathBuf, u64, u64)>,
    active: Segment,
    next_lsn: u64,
}

impl Wal {
    /// Opens (or creates) the log in `dir`, closing segments at
    /// `segment_bytes`, and reads back what it holds.
    pub fn open(dir: &Path, segment_bytes: u64) -> io::Result<(Wal, Recovery)> {
        fs::create_dir_all(dir)?;
        let mut paths: Vec<(u64, PathBuf)> = fs::read_dir(dir)?
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let first = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".wal")?
                    .parse::<u64>()
                    .ok()?;
                Some((first, path))
            })
            .collect();
        paths.sort();
        let mut recovery = Recovery::default();
        let mut closed = VecDeque::new();
        let mut next_lsn = 0;
        let newest = paths.len().checked_sub(1);
        for (n, (first, path)) in paths.into_iter().enumerate() {
            // LSNs never go back, even when every record was released and
            // only an empty segment names where they had got to.
            next_lsn = next_lsn.max(first);
            let mut reader = match SegmentReader::open(&path) {
                Ok(reader) => reader,
                // The newest segment, cut short while being created.
                Err(_) if Some(n) == newest && segment::is_torn_header(&path) => {
                    recovery.truncated_bytes += fs::metadata(&path).map_or(0, |m| m.len());
                    segment::remove(&path)?;
                    continue;
                }
                Err(error) => {
                    recovery.corrupt.push((path.clone(), error.to_string()));
                    closed.push_back((path, first, 0));
                    continue;
                }
            };
            loop {
                match reader.next_record() {
                    Ok(Some(entry)) => {
                        next_lsn = next_lsn.max(entry.lsn + 1);
                        recovery.entries.push(entry);
                    }
                    Ok(None) => break,
                    // At the end of the newest segment: a torn write.
                    Err(_) if Some(n) == newest => {
                        recovery.truncated_bytes += reader.truncate_here()?;
                        break;
                    }
                    Err(damage) => {
                        recovery.corrupt.push((path.clone(), damage));
                        break;
                    }
                }
            }
            let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            closed.push_back((path, first, size));
        }
        // Records of damaged segments may be out of order with the rest.
        recovery.entries.sort_by_key(|entry| entry.lsn);
        recovery.entries.dedup_by_key(|entry| entry.lsn);
        // A newest segment that holds no record is replaced by the new
        // active one of the same name.
        if closed
            .back()
            .is_some_and(|(_, first, _)| *first == next_lsn)
        {
            closed.pop_back();
        }
        let active = Segment::create(dir, next_lsn)?;
        Ok((
            Wal {
                dir: dir.to_owned(),
                segment_bytes: segment_bytes.max(1),
                closed,
                active,
                next_lsn,
            },
            recovery,
        ))
    }

    /// Appends a record of `kind` holding `payload`, and returns its LSN.
    /// The record is durable once [`Wal::sync`] returns.
    pub fn append(&mut self, kind: u8, payload: &[u8]) -> io::Result<u64> {
        self.append_parts(kind, &[payload])
    }

    /// Appends a record whose payload is `parts` joined (written as they
    /// are, without copying them together).
    pub fn append_parts(&mut self, kind: u8, parts: &[&[u8]]) -> io::Result<u64> {
        if self.active.bytes() >= self.segment_bytes && self.active.records() > 0 {
            self.active.sync()?;
            let next = Segment::create(&self.dir, self.next_lsn)?;
            let full = std::mem::replace(&mut self.active, next);
            self.closed
                .push_back((full.path().to_owned(), full.first_lsn(), full.bytes()));
        }
        let lsn = self.next_lsn;
        self.active.append(lsn, kind, parts)?;
        self.next_lsn += 1;
        Ok(lsn)
    }

    /// Makes every record appended so far durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.active.sync()
    }

    /// A handle on the segment being appended to: syncing it (outside any
    /// lock on the log) makes every record appended before the call
    /// durable, as [`Wal::sync`] does (closed segments were synced when
    /// they were closed).
    pub fn sync_handle(&self) -> io::Result<fs::File> {
        self.active.handle()
    }

    /// Deletes the closed segments whose records are all below `lsn`.
    pub fn release(&mut self, lsn: u64) -> io::Result<()> {
        // A closed segment ends where the next one (or the active one)
        // starts.
        while !self.closed.is_empty() {
            let next_first = self
                .closed
                .get(1)
                .map_or(self.active.first_lsn(), |(_, first, _)| *first);
            if next_first > lsn {
                break;
            }
            let (path, _, _) = self.closed.pop_front().expect("not empty");
            segment::remove(&path)?;
        }
        Ok(())
    }

    /// Bytes the log holds on disk.
    pub fn bytes(&self) -> u64 {
        self.closed.iter().map(|(_, _, size)| size).sum::<u64>() + self.active.bytes()
    }

    /// The LSN the next record will get.
    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }
}

#[cfg(test)]
mod tests;
