//! The log against a model: a list of the records appended, and what a
//! crash may take away (only what was not synced, only from the end).

use super::*;
use proptest::prelude::*;
use std::fs::OpenOptions;

fn dir() -> tempdir::Dir {
    tempdir::Dir::new()
}

/// A scratch directory removed when dropped.
mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    static NEXT: AtomicU32 = AtomicU32::new(0);

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Self {
            let path = std::env::temp_dir().join(format!(
                "aires-wal-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = std::fs::remove_dir_all(&path);
            Dir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn records_come_back_in_order_across_segments_and_reopens() {
    let dir = dir();
    let (mut wal, recovery) = Wal::open(dir.path(), 100).unwrap();
    assert!(recovery.entries.is_empty());
    for n in 0..10u8 {
        assert_eq!(wal.append(n % 3, &[n; 30]).unwrap(), u64::from(n));
    }
    wal.sync().unwrap();
    drop(wal);
    let (mut wal, recovery) = Wal::open(dir.path(), 100).unwrap();
    assert!(recovery.corrupt.is_empty() && recovery.truncated_bytes == 0);
    let lsns: Vec<u64> = recovery.entries.iter().map(|e| e.lsn).collect();
    assert_eq!(lsns, (0..10).collect::<Vec<_>>());
    assert_eq!(recovery.entries[4].kind, 1);
    assert_eq!(&recovery.entries[4].payload[..], &[4; 30]);
    assert!(segments(dir.path()).len() > 3, "closed at 100 bytes");
    // Appends go on from the next LSN.
    assert_eq!(wal.append(9, b"after").unwrap(), 10);
}

#[test]
fn a_torn_tail_is_cut_off_and_the_rest_kept() {
    let dir = dir();
    let (mut wal, _) = Wal::open(dir.path(), 1 << 20).unwrap();
    for n in 0..5u8 {
        wal.append(1, &[n; 100]).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    let newest = segments(dir.path()).pop().unwrap();
    let len = fs::metadata(&newest).unwrap().len();
    // Half of the last record made it to disk.
    OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap()
        .set_len(len - 60)
        .unwrap();
    let (_, recovery) = Wal::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(recovery.entries.len(), 4);
    assert_eq!(recovery.truncated_bytes, 117 - 60);
    assert!(recovery.corrupt.is_empty());
}

#[test]
fn a_corrupt_segment_is_reported_and_skipped_never_a_panic() {
    let dir = dir();
    let (mut wal, _) = Wal::open(dir.path(), 250).unwrap();
    for n in 0..9u8 {
        wal.append(1, &[n; 100]).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    let first = segments(dir.path()).remove(0);
    let mut bytes = fs::read(&first).unwrap();
    bytes[8 + 17 + 5] ^= 0xff; // inside the first record's payload
    fs::write(&first, bytes).unwrap();
    let garbage = dir.path().join(format!("{:020}.wal", 1_000));
    fs::write(&garbage, b"not a segment at all").unwrap();
    let (_, recovery) = Wal::open(dir.path(), 250).unwrap();
    assert_eq!(recovery.corrupt.len(), 2, "{:?}", recovery.corrupt);
    assert!(
        recovery.corrupt[0].1.contains("checksum"),
        "{:?}",
        recovery.corrupt
    );
    // The other segments' records are all there.
    assert!(recovery.entries.iter().all(|e| e.lsn >= 2));
    assert_eq!(recovery.entries.last().unwrap().lsn, 8);
}

#[test]
fn released_segments_are_deleted_and_the_space_given_back() {
    let dir = dir();
    let (mut wal, _) = Wal::open(dir.path(), 250).unwrap();
    for n in 0..9u8 {
        wal.append(1, &[n; 100]).unwrap();
    }
    let before = wal.bytes();
    wal.release(4).unwrap();
    assert!(wal.bytes() < before);
    drop(wal);
    let (_, recovery) = Wal::open(dir.path(), 250).unwrap();
    let first = recovery.entries.first().unwrap().lsn;
    assert!(first <= 4 && first > 0, "kept from {first}");
    assert_eq!(recovery.entries.last().unwrap().lsn, 8);
}

#[derive(Clone, Debug)]
enum Op {
    Append(u8, Vec<u8>),
    Sync,
    Release(u64),
    /// The process dies: of what was appended since the last sync, the
    /// page cache may have written any prefix of the file's bytes.
    Crash(u64),
    /// A byte of the oldest closed segment goes bad on disk.
    Corrupt(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(k, p)| Op::Append(k, p)),
        2 => Just(Op::Sync),
        1 => (0u64..40).prop_map(Op::Release),
        1 => any::<u64>().prop_map(Op::Crash),
        1 => any::<u64>().prop_map(Op::Corrupt),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_log_keeps_every_synced_record_and_only_loses_an_unsynced_tail(
        ops in proptest::collection::vec(op(), 1..60)
    ) {
        let dir = dir();
        let (mut wal, _) = Wal::open(dir.path(), 700).unwrap();
        // The model: every record appended, and the LSNs below which
        // records are synced and not released.
        let mut appended: Vec<Entry> = Vec::new();
        let mut synced = 0u64;
        let mut released = 0u64;
        // The newest segment and its length at the last sync: what a crash
        // cannot take away from it.
        let mut durable: Option<(PathBuf, u64)> = None;
        // Once a byte went bad, records after it in its segment are lost
        // for good: only "no garbage, and the damage reported" holds.
        let mut damaged = false;
        for op in ops {
            match op {
                Op::Append(kind, payload) => {
                    let lsn = wal.append(kind, &payload).unwrap();
                    prop_assert_eq!(lsn, appended.len() as u64);
                    appended.push(Entry { lsn, kind, payload: payload.into() });
                }
                Op::Sync => {
                    wal.sync().unwrap();
                    synced = appended.len() as u64;
                    let newest = segments(dir.path()).pop().unwrap();
                    let len = fs::metadata(&newest).unwrap().len();
                    durable = Some((newest, len));
                }
                Op::Release(lsn) => {
                    wal.release(lsn).unwrap();
                    released = released.max(lsn.min(appended.len() as u64));
                }
                Op::Corrupt(at) => {
                    let all = segments(dir.path());
                    if all.len() >= 2 {
                        let mut bytes = fs::read(&all[0]).unwrap();
                        if bytes.len() > 8 {
                            let i = 8 + (at % (bytes.len() as u64 - 8)) as usize;
                            // Never undone by a later corruption of the
                            // same byte (an XOR twice would restore it).
                            bytes[i] = bytes[i].wrapping_add(1);
                            fs::write(&all[0], bytes).unwrap();
                            damaged = true;
                        }
                    }
                }
                Op::Crash(cut) => {
                    drop(wal);
                    // Cut the newest segment anywhere after the synced part.
                    if let Some(newest) = segments(dir.path()).pop() {
                        let len = fs::metadata(&newest).unwrap().len();
                        let durable = match &durable {
                            Some((path, synced_len)) if *path == newest => *synced_len,
                            // Synced at creation: its magic alone.
                            _ => 8,
                        };
                        if len > durable {
                            let keep = durable.max(len - cut % (len - durable + 1));
                            OpenOptions::new().write(true).open(&newest).unwrap().set_len(keep).unwrap();
                        }
                    }
                    let (reopened, recovery) = Wal::open(dir.path(), 700).unwrap();
                    let lsns: Vec<u64> = recovery.entries.iter().map(|e| e.lsn).collect();
                    // No record comes back changed or made up.
                    for entry in &recovery.entries {
                        prop_assert_eq!(entry, &appended[entry.lsn as usize]);
                    }
                    if damaged {
                        // Reported, unless the damage was released since.
                        prop_assert!(
                            !recovery.corrupt.is_empty() || released > 0,
                            "damage not reported"
                        );
                        appended.truncate(reopened.next_lsn() as usize);
                        synced = reopened.next_lsn();
                        durable = None;
                        wal = reopened;
                        continue;
                    }
                    prop_assert!(recovery.corrupt.is_empty(), "{:?}", recovery.corrupt);
                    // Every synced record not released is back; after
                    // them, a prefix of the unsynced ones.
                    for lsn in released..synced {
                        prop_assert!(lsns.contains(&lsn), "synced record {} lost", lsn);
                    }
                    let contiguous = lsns.windows(2).all(|w| w[1] == w[0] + 1);
                    prop_assert!(contiguous, "a hole in {:?}", lsns);
                    // LSNs go on after every record kept; any gap before
                    // them is records released earlier.
                    let next = reopened.next_lsn();
                    let after_kept = lsns.last().map_or(0, |l| l + 1);
                    prop_assert!(next >= after_kept.max(synced), "next LSN {}", next);
                    prop_assert!(next <= appended.len() as u64);
                    prop_assert!(next == after_kept || next <= released, "records lost before {}", next);
                    // The lost tail is gone from the model too.
                    appended.truncate(next as usize);
                    synced = next;
                    durable = None;
                    wal = reopened;
                }
            }
        }
    }
}
