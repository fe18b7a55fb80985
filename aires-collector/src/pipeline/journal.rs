//! The pipeline's journal: what it writes to the write-ahead log
//! ([`crate::wal`]) under `--data-dir`, so that a collector killed at any
//! moment stores every batch it took exactly once when it starts again.
//!
//! Three records, in LSN order:
//! - **batch**: a batch taken from a client, before it is processed: its
//!   scope, digest, receive time and every byte. Rows are a function of
//!   these (see [`crate::identity`]), so decoding it again gives the same
//!   rows.
//! - **cut**: an insert about to be written: the LSNs of its batches.
//! - **settled**: a cut's insert was stored (or refused for good); its
//!   batches are done, and the log's segments below the oldest batch not
//!   done are deleted.
//! - **done**: batches done without an insert (no rows, or found already
//!   stored).
//!
//! What is not settled when the log is opened again is replayed batch by
//! batch (see [`super::replay`]): a batch may have been stored by its cut's
//! insert before the crash, or by another collector its client retried
//! through meanwhile, so each is looked up first and, if absent, inserted
//! on its own, under a token that names only the batch.
//!
//! Durability ([`FsyncPolicy`]): a batch record is written to the file
//! before the batch is processed, and synced per the policy. Cut and
//! settled records are not synced: lost, they leave batches to be looked up
//! again, never stored twice.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::identity::{Digest, Scope};
use crate::wal::{Entry, Recovery, Wal};

/// Record kinds.
const BATCH: u8 = 1;
const CUT: u8 = 2;
const SETTLED: u8 = 3;
const DONE: u8 = 4;

/// When the log is made durable (`fdatasync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Before every batch is processed (and answered): nothing taken is
    /// lost even to a power cut, at the cost of a disk flush per request.
    Always,
    /// Every `--wal-fsync-interval-ms`: a process crash loses nothing (the
    /// kernel has every record), a machine crash at most the last interval.
    Interval,
    /// Never explicitly: the kernel writes when it likes. A process crash
    /// loses nothing; a machine crash may lose anything not yet written.
    Off,
}

/// The journal's options.
#[derive(Clone, Debug)]
pub struct JournalConfig {
    pub fsync: FsyncPolicy,
    pub fsync_interval: Duration,
    /// The log's size on disk at most; a full log makes new batches wait.
    pub max_bytes: u64,
    /// Segments are closed (and can be deleted once settled) at this size.
    pub segment_bytes: u64,
}

/// A batch read back from the log.
#[derive(Clone, Debug)]
pub struct LoggedBatch {
    pub lsn: u64,
    pub scope: Scope,
    pub digest: Digest,
    pub received_ns: i64,
    pub encoded: Bytes,
}

/// What the log held that is not settled.
#[derive(Debug, Default)]
pub struct Unsettled {
    /// Batches taken and not settled, oldest first.
    pub batches: Vec<LoggedBatch>,
    /// How many of them were in an insert that may have been sent.
    pub in_inserts: usize,
    /// Bytes cut off a torn tail.
    pub truncated_bytes: u64,
    /// Damaged segments, and why.
    pub corrupt: Vec<(std::path::PathBuf, String)>,
}

/// The open journal, shared by the pipeline's parts.
#[derive(Debug)]
pub struct Journal {
    wal: Mutex<Wal>,
    config: JournalConfig,
    /// Every record below this LSN is durable.
    synced_below: AtomicU64,
    sync_lock: Mutex<()>,
    /// Batches logged and not settled: the log keeps everything from the
    /// oldest of them.
    live: Mutex<BTreeSet<u64>>,
    /// Signalled when segments are deleted (the log has room again).
    room: Notify,
}

impl Journal {
    /// Opens the log in `dir` and reads back what is not settled.
    pub fn open(dir: &Path, config: JournalConfig) -> io::Result<(Arc<Journal>, Unsettled)> {
        let (wal, recovery) = Wal::open(dir, config.segment_bytes)?;
        let unsettled = unsettled(recovery);
        let live = unsettled.batches.iter().map(|batch| batch.lsn).collect();
        let next = wal.next_lsn();
        let journal = Arc::new(Journal {
            wal: Mutex::new(wal),
            config,
            synced_below: AtomicU64::new(next),
            sync_lock: Mutex::new(()),
            live: Mutex::new(live),
            room: Notify::new(),
        });
        if journal.config.fsync == FsyncPolicy::Interval {
            let weak = Arc::downgrade(&journal);
            let interval = journal.config.fsync_interval;
            std::thread::Builder::new()
                .name("aires-wal-sync".into())
                .spawn(move || {
                    while let Some(journal) = weak.upgrade() {
                        drop(journal);
                        std::thread::sleep(interval);
                        let Some(journal) = weak.upgrade() else { break };
                        if let Err(error) = journal.make_durable() {
                            tracing::error!("syncing the write-ahead log failed: {error}");
                        }
                    }
                })?;
        }
        Ok((journal, unsettled))
    }

    /// Waits while the log is full. Callers wait here before they take
    /// any other share of the pipeline, so the batches that will free the
    /// log can always move.
    pub async fn room(&self) {
        loop {
            let room = self.room.notified();
            if self.wal.lock().bytes() < self.config.max_bytes {
                return;
            }
            room.await;
        }
    }

    /// Logs a batch taken from a client of `scope`, and makes it durable if
    /// the policy says every batch. Returns its LSN. If the call is
    /// abandoned (its client went away) or the sync fails, the record is
    /// marked done: the batch was never answered, and its client retries.
    pub async fn log_batch(
        self: &Arc<Self>,
        scope: Scope,
        digest: Digest,
        received_ns: i64,
        encoded: &[u8],
    ) -> io::Result<u64> {
        let mut head = [0u8; 32];
        head[..8].copy_from_slice(&scope.as_u64().to_le_bytes());
        head[8..24].copy_from_slice(&digest.0);
        head[24..].copy_from_slice(&received_ns.to_le_bytes());
        let lsn = {
            let mut wal = self.wal.lock();
            let lsn = wal.append_parts(BATCH, &[&head, encoded])?;
            self.live.lock().insert(lsn);
            lsn
        };
        if self.config.fsync == FsyncPolicy::Always {
            let mut forget = ForgetOnDrop(Some((self, lsn)));
            self.durable(lsn).await?;
            forget.0 = None;
        }
        Ok(lsn)
    }

    /// Logs an insert of the batches `lsns`. Returns the cut's LSN.
    pub fn log_cut(&self, lsns: &[u64]) -> io::Result<u64> {
        self.wal.lock().append(CUT, &lsns_payload(lsns))
    }

    /// The insert of `cut` (the batches `lsns`) is stored or refused for
    /// good: its batches are done, and segments no longer needed go.
    pub fn settle(&self, cut: u64, lsns: &[u64]) {
        self.finish(SETTLED, &cut.to_le_bytes(), lsns)
    }

    /// The batches `lsns` are done without an insert (they gave no rows, or
    /// were found stored already).
    pub fn forget(&self, lsns: &[u64]) {
        self.finish(DONE, &lsns_payload(lsns), lsns)
    }

    /// Records that `lsns` are done, and deletes the segments no batch
    /// still needs. The record is a hint for a restart (without it, the
    /// batches are looked up again): if it cannot be written, the batches
    /// are still done here, and the failure is logged.
    fn finish(&self, kind: u8, payload: &[u8], lsns: &[u64]) {
        let mut wal = self.wal.lock();
        let recorded = wal.append(kind, payload);
        let oldest_live = {
            let mut live = self.live.lock();
            for lsn in lsns {
                live.remove(lsn);
            }
            live.first().copied().unwrap_or(u64::MAX)
        };
        let next = wal.next_lsn();
        let released = wal.release(oldest_live.min(next));
        drop(wal);
        self.room.notify_waiters();
        if let Err(error) = recorded.map(drop).and(released) {
            tracing::error!("updating the write-ahead log failed: {error}");
        }
    }

    /// Bytes the log holds on disk.
    pub fn bytes(&self) -> u64 {
        self.wal.lock().bytes()
    }

    /// Makes the record `lsn` (and all before it) durable, sharing one
    /// sync with every caller waiting at the same time.
    async fn durable(self: &Arc<Self>, lsn: u64) -> io::Result<()> {
        if self.synced_below.load(Ordering::Acquire) > lsn {
            return Ok(());
        }
        // The sync blocks: not on the async runtime's threads.
        let journal = self.clone();
        tokio::task::spawn_blocking(move || {
            if journal.synced_below.load(Ordering::Acquire) > lsn {
                return Ok(());
            }
            journal.make_durable()
        })
        .await
        .unwrap_or_else(|_| Err(io::Error::other("syncing the log panicked")))
    }

    /// Syncs everything appended so far.
    fn make_durable(&self) -> io::Result<()> {
        let _one_at_a_time = self.sync_lock.lock();
        let (file, below) = {
            let wal = self.wal.lock();
            (wal.sync_handle()?, wal.next_lsn())
        };
        if self.synced_below.load(Ordering::Acquire) >= below {
            return Ok(());
        }
        file.sync_data()?;
        self.synced_below.fetch_max(below, Ordering::AcqRel);
        Ok(())
    }
}

/// Marks a logged batch done if the call that logged it is abandoned
/// before it hands the batch on.
struct ForgetOnDrop<'a>(Option<(&'a Journal, u64)>);

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        if let Some((journal, lsn)) = self.0.take() {
            journal.forget(&[lsn]);
        }
    }
}

/// The batches recovery read that no settled cut covers.
fn unsettled(recovery: Recovery) -> Unsettled {
    let mut batches = std::collections::BTreeMap::new();
    let mut cuts: Vec<(u64, Vec<u64>)> = Vec::new();
    let mut settled = std::collections::HashSet::new();
    for Entry { lsn, kind, payload } in recovery.entries {
        match kind {
            BATCH => {
                if let Some(batch) = read_batch(lsn, payload) {
                    batches.insert(lsn, batch);
                }
            }
            CUT => cuts.push((lsn, read_lsns(&payload))),
            SETTLED => {
                if let Ok(bytes) = <[u8; 8]>::try_from(payload.as_ref()) {
                    settled.insert(u64::from_le_bytes(bytes));
                }
            }
            DONE => {
                for lsn in read_lsns(&payload) {
                    batches.remove(&lsn);
                }
            }
            _ => {}
        }
    }
    let mut in_inserts = 0;
    for (cut, lsns) in cuts {
        for lsn in lsns {
            if settled.contains(&cut) {
                batches.remove(&lsn);
            } else if batches.contains_key(&lsn) {
                in_inserts += 1;
            }
        }
    }
    Unsettled {
        batches: batches.into_values().collect(),
        in_inserts,
        truncated_bytes: recovery.truncated_bytes,
        corrupt: recovery.corrupt,
    }
}

fn read_batch(lsn: u64, payload: Bytes) -> Option<LoggedBatch> {
    if payload.len() < 32 {
        return None;
    }
    let scope = Scope::from_u64(u64::from_le_bytes(payload[..8].try_into().ok()?));
    let digest = Digest(payload[8..24].try_into().ok()?);
    let received_ns = i64::from_le_bytes(payload[24..32].try_into().ok()?);
    Some(LoggedBatch {
        lsn,
        scope,
        digest,
        received_ns,
        encoded: payload.slice(32..),
    })
}

fn lsns_payload(lsns: &[u64]) -> BytesMut {
    let mut payload = BytesMut::with_capacity(4 + 8 * lsns.len());
    payload.put_u32_le(lsns.len() as u32);
    for lsn in lsns {
        payload.put_u64_le(*lsn);
    }
    payload
}

fn read_lsns(payload: &[u8]) -> Vec<u64> {
    let Some(count) = payload.get(..4) else {
        return Vec::new();
    };
    let count = u32::from_le_bytes(count.try_into().expect("4 bytes")) as usize;
    payload[4..]
        .chunks_exact(8)
        .take(count)
        .map(|lsn| u64::from_le_bytes(lsn.try_into().expect("8 bytes")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> JournalConfig {
        JournalConfig {
            fsync: FsyncPolicy::Always,
            fsync_interval: Duration::from_millis(100),
            max_bytes: 1 << 30,
            segment_bytes: 16 << 20,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_batch_not_settled_comes_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let scope = Scope::of_api_key("k");
        {
            let (journal, unsettled) = Journal::open(dir.path(), config()).unwrap();
            assert!(unsettled.batches.is_empty());
            let mut lsns = Vec::new();
            for n in 0..5u8 {
                let digest = Digest([n; 16]);
                lsns.push(
                    journal
                        .log_batch(scope, digest, n as i64, &[n; 10])
                        .await
                        .unwrap(),
                );
            }
            let stored = journal.log_cut(&lsns[..2]).unwrap();
            journal.settle(stored, &lsns[..2]);
            // Cut, sent maybe, and the process dies before it is settled.
            journal.log_cut(&[lsns[3], lsns[2]]).unwrap();
        }
        let (_journal, unsettled) = Journal::open(dir.path(), config()).unwrap();
        let left: Vec<_> = unsettled.batches.iter().map(|b| b.digest).collect();
        assert_eq!(left, [Digest([2; 16]), Digest([3; 16]), Digest([4; 16])]);
        assert_eq!(unsettled.in_inserts, 2);
        let batch = &unsettled.batches[1];
        assert_eq!((batch.scope, batch.received_ns), (scope, 3));
        assert_eq!(batch.encoded.as_ref(), &[3u8; 10]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_log_makes_new_batches_wait_until_settling_frees_room() {
        let dir = tempfile::tempdir().unwrap();
        let small = JournalConfig {
            max_bytes: 100,
            segment_bytes: 64,
            ..config()
        };
        let (journal, _) = Journal::open(dir.path(), small).unwrap();
        // The first record fits (the log holds only its header)...
        journal.room().await;
        let first = journal
            .log_batch(Scope::ANONYMOUS, Digest([1; 16]), 0, &[0; 200])
            .await
            .unwrap();
        // ...the next waits.
        let waiting = {
            let journal = journal.clone();
            tokio::spawn(async move {
                journal.room().await;
                journal
                    .log_batch(Scope::ANONYMOUS, Digest([2; 16]), 0, &[0; 10])
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiting.is_finished(), "a full log takes nothing more");
        // The first batch is stored: its segment goes, and the wait ends.
        let cut = journal.log_cut(&[first]).unwrap();
        journal.settle(cut, &[first]);
        let second = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("room again")
            .unwrap()
            .unwrap();
        assert!(second > cut);
    }

    mod model {
        //! The journal against a model: the set of batches logged and not
        //! settled, through cuts, settlements, batches done without an
        //! insert, and reopens (a process crash: nothing written is lost).

        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        #[derive(Clone, Debug)]
        enum Op {
            Log(u8),
            /// Cut the `n` oldest batches not in a cut.
            Cut(usize),
            /// Settle the `n`th open cut.
            Settle(usize),
            /// The `n`th batch not in a cut gave no rows.
            Forget(usize),
            Reopen,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => any::<u8>().prop_map(Op::Log),
                2 => (1usize..4).prop_map(Op::Cut),
                2 => any::<usize>().prop_map(Op::Settle),
                1 => any::<usize>().prop_map(Op::Forget),
                1 => Just(Op::Reopen),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn a_reopened_journal_gives_back_exactly_the_batches_not_settled(
                ops in proptest::collection::vec(op(), 1..60)
            ) {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .unwrap();
                let dir = tempfile::tempdir().unwrap();
                let small = JournalConfig { segment_bytes: 256, fsync: FsyncPolicy::Off, ..config() };
                let (mut journal, _) = Journal::open(dir.path(), small.clone()).unwrap();
                // LSN -> the byte logged; batches in no cut; open cuts.
                let mut live: BTreeMap<u64, u8> = BTreeMap::new();
                let mut uncut: Vec<u64> = Vec::new();
                let mut cuts: Vec<(u64, Vec<u64>)> = Vec::new();
                for op in ops {
                    match op {
                        Op::Log(byte) => {
                            let lsn = runtime
                                .block_on(journal.log_batch(Scope::ANONYMOUS, Digest([byte; 16]), 0, &[byte; 40]))
                                .unwrap();
                            live.insert(lsn, byte);
                            uncut.push(lsn);
                        }
                        Op::Cut(n) => {
                            let members: Vec<u64> = uncut.drain(..n.min(uncut.len())).collect();
                            if !members.is_empty() {
                                cuts.push((journal.log_cut(&members).unwrap(), members));
                            }
                        }
                        Op::Settle(n) if !cuts.is_empty() => {
                            let (cut, members) = cuts.remove(n % cuts.len());
                            journal.settle(cut, &members);
                            for lsn in members {
                                live.remove(&lsn);
                            }
                        }
                        Op::Forget(n) if !uncut.is_empty() => {
                            let lsn = uncut.remove(n % uncut.len());
                            journal.forget(&[lsn]);
                            live.remove(&lsn);
                        }
                        Op::Settle(_) | Op::Forget(_) => {}
                        Op::Reopen => {
                            drop(journal);
                            let (reopened, unsettled) = Journal::open(dir.path(), small.clone()).unwrap();
                            journal = reopened;
                            let got: BTreeMap<u64, u8> = unsettled
                                .batches
                                .iter()
                                .map(|b| (b.lsn, b.encoded[0]))
                                .collect();
                            prop_assert_eq!(&got, &live);
                            // A restarted collector treats every one of them
                            // afresh: none is in a cut or waiting any more.
                            uncut = live.keys().copied().collect();
                            cuts.clear();
                        }
                    }
                }
            }
        }
    }
}
