//! The event queue: a bounded ring of event slots that callers build their
//! events in, and the batch worker takes them out of.
//!
//! Why not a channel: a channel's `send(event)` moves the finished event
//! into its slot, and an event is a few hundred bytes (attributes inline,
//! so that emitting allocates nothing). Profiles of the emit path showed
//! those copies, not the synchronisation, as its largest cost. Here a caller
//! first claims a slot, then builds the event in it ([`Claim::write`]), so
//! the event is written once, where the worker will read it.
//!
//! The algorithm is Dmitry Vyukov's bounded MPMC queue as crossbeam's
//! `ArrayQueue` implements it (a stamp per slot; producers race on `tail`
//! with one compare-and-swap), with a single consumer. Between the claim and
//! the publish the slot is not ready; the consumer sees "not ready" and
//! comes back later, it never blocks on it.
//!
//! Telling "full" without touching the worker's lines: a caller that finds
//! the queue full must not read what the worker writes for every event (the
//! head position, the stamp of the slot it is reading), or every refused
//! call pulls those lines away from the worker and a burst of refused calls
//! slows the drain to a fraction of its rate. So the worker also publishes
//! its position as a hint, on a line of its own, every [`HINT_STEP`] events
//! and whenever it stops draining; callers compare the hint with `tail` and
//! refuse without looking further when it says full. The hint lags the head
//! by less than a step, so a refusal can come up to a step early while the
//! worker is draining (the queue is then all but full); never late, since
//! the slots' stamps still guard every claim.
//!
//! Waking the worker: the worker sets `sleeping` before it parks and then
//! looks at `tail` once more; a producer looks at `sleeping` after its
//! claim (a sequentially consistent read-modify-write of `tail`). One of the
//! two always sees the other, so no wake-up is lost, and a busy worker costs
//! producers one plain load.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread::{self, Thread};
use std::time::Instant;

use crossbeam_utils::{Backoff, CachePadded};

use crate::event::{Event, EventBuilder};
use crate::level::Level;
use crate::value::Str;

/// How long a blocked caller waits on a head slot that its caller never
/// finishes writing before it gives up (see [`EventQueue::claim_until`]):
/// far longer than a writer preempted or throttled (a container's CPU
/// quota can stop a thread for ~100 ms) ever takes.
const WRITER_STALL: std::time::Duration = std::time::Duration::from_secs(5);

/// How many slots ahead of the one it reads the worker asks the CPU to
/// fetch (when they are known to be published): the lines of a slot
/// another core wrote then arrive while the worker encodes the slots
/// before it, instead of one miss after another.
const PREFETCH_AHEAD: usize = 4;

/// How far ahead of its own slot a caller that claims one asks for a
/// slot's lines, for writing (see `try_claim`): the next slot's lines,
/// asked for one event before they are written, were still on their way
/// from the worker's core (the stamp's load and the claim's locked
/// instruction waited on them); four events ahead they have arrived.
/// Measured: the calling thread's samples for 10M five-field events fell
/// by a fifth from one slot ahead to four (eight: no better).
const CLAIM_PREFETCH_AHEAD: usize = 4;

/// Events the worker takes between two publications of its position to the
/// callers (see the module docs): one cache-line transfer per step instead
/// of one per event. Smaller for small queues: a step is a power of two of
/// at most an eighth of the capacity.
const HINT_STEP: usize = 32;

/// One slot: its stamp says whose turn it is; its value is the event,
/// unless `abandoned` says the caller's code panicked while building it.
/// Aligned to cache lines, so a caller writing one slot and the worker
/// reading the one before never share a line.
#[repr(align(64))]
struct Slot {
    stamp: AtomicUsize,
    abandoned: UnsafeCell<bool>,
    value: UnsafeCell<MaybeUninit<Event>>,
}

/// What the consumer found at the head of the queue.
pub(crate) enum Pop {
    /// The next event, in queue order, was handed to the consumer.
    Event,
    /// A slot whose builder panicked: nothing to send, count it.
    Abandoned,
    /// A caller has claimed the next slot and is still writing it.
    NotReady,
    /// Nothing is queued.
    Empty,
}

pub(crate) struct EventQueue {
    head: CachePadded<AtomicUsize>,
    /// `head` as the callers see it: published every `hint_mask + 1` events
    /// and whenever the worker stops draining; never ahead of `head`.
    head_hint: CachePadded<AtomicUsize>,
    hint_mask: usize,
    /// The worker's last look at `tail` (only the worker writes it): slots
    /// before it are claimed, and far enough behind it, written.
    seen_tail: CachePadded<AtomicUsize>,
    tail: CachePadded<AtomicUsize>,
    buffer: Box<[Slot]>,
    cap: usize,
    one_lap: usize,
    /// Whether this processor has `prefetchw` (see [`prefetch_for_write`]).
    prefetchw: bool,
    sleeping: CachePadded<AtomicBool>,
    worker: OnceLock<Thread>,
}

// SAFETY: slots are handed between threads by their stamps: a producer
// writes a slot only between its claim and its publish, the consumer reads
// it only after the publish, and the values (events) are `Send`.
unsafe impl Send for EventQueue {}
unsafe impl Sync for EventQueue {}

impl std::fmt::Debug for EventQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventQueue")
            .field("capacity", &self.cap)
            .field("len", &self.len())
            .finish()
    }
}

impl EventQueue {
    pub(crate) fn new(cap: usize) -> EventQueue {
        assert!(cap > 0, "capacity must be positive");
        let buffer = (0..cap)
            .map(|i| Slot {
                stamp: AtomicUsize::new(i),
                abandoned: UnsafeCell::new(false),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        EventQueue {
            head: CachePadded::new(AtomicUsize::new(0)),
            head_hint: CachePadded::new(AtomicUsize::new(0)),
            hint_mask: prev_power_of_two((cap / 8).clamp(1, HINT_STEP)) - 1,
            seen_tail: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            buffer,
            cap,
            one_lap: (cap + 1).next_power_of_two(),
            prefetchw: has_prefetchw(),
            sleeping: CachePadded::new(AtomicBool::new(false)),
            worker: OnceLock::new(),
        }
    }

    /// Claims the next slot, or `None` when the queue is full.
    #[inline(always)]
    pub(crate) fn try_claim(&self) -> Option<Claim<'_>> {
        let backoff = Backoff::new();
        // The hint first: it is never ahead of `head`, which is never ahead
        // of a `tail` read after it, so the distance below is well formed.
        let hint = self.head_hint.load(Ordering::Acquire);
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if self.distance(hint, tail) >= self.cap {
                return None;
            }
            let index = tail & (self.one_lap - 1);
            let lap = tail & !(self.one_lap - 1);
            let new_tail = if index + 1 < self.cap {
                tail + 1
            } else {
                lap.wrapping_add(self.one_lap)
            };
            // SAFETY: `index < cap` by construction of the positions.
            let slot = unsafe { self.buffer.get_unchecked(index) };
            let stamp = slot.stamp.load(Ordering::Acquire);
            if tail == stamp {
                // SeqCst: pairs with the worker's `sleeping` store and
                // `tail` load in `prepare_to_park`.
                match self.tail.compare_exchange_weak(
                    tail,
                    new_tail,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // Not when the queue is nearly full: that slot
                        // may be the one the worker is about to read.
                        if self.prefetchw
                            && self.distance(hint, tail) + CLAIM_PREFETCH_AHEAD < self.cap
                        {
                            // `CLAIM_PREFETCH_AHEAD < cap` (just checked).
                            let mut next = index + CLAIM_PREFETCH_AHEAD;
                            if next >= self.cap {
                                next -= self.cap;
                            }
                            // SAFETY: `next < cap`; the processor has the
                            // instruction.
                            unsafe { prefetch_for_write(self.buffer.get_unchecked(next)) };
                        }
                        return Some(Claim {
                            queue: self,
                            slot,
                            stamp: tail + 1,
                            written: false,
                        });
                    }
                    Err(current) => {
                        tail = current;
                        backoff.spin();
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds the event of the previous lap: full,
                // unless the consumer has just moved on.
                std::sync::atomic::fence(Ordering::SeqCst);
                let head = self.head.load(Ordering::Relaxed);
                if head.wrapping_add(self.one_lap) == tail {
                    return None;
                }
                backoff.spin();
                tail = self.tail.load(Ordering::Relaxed);
            } else if stamp.wrapping_add(self.one_lap) == tail {
                // The previous lap's caller claimed this slot and is still
                // writing it (its fill may run user code): the queue is
                // full. Waiting here could wait forever, for example when
                // that caller's fill itself logs.
                return None;
            } else {
                // Another producer moved `tail` on; look again.
                backoff.snooze();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Claims a slot, waiting for room until `deadline` (or for as long as
    /// it takes, with none) or until `closed` is set. The queue is full
    /// because the worker is busy (or held back by delivery), so this
    /// sleeps, in growing steps up to 1 ms, rather than spinning.
    ///
    /// One wait would never end: the worker waits for the slot at the head,
    /// and the caller writing that slot is this very thread, logging from
    /// inside one of its event's fields. So a head slot that stays claimed
    /// and unwritten for [`WRITER_STALL`] ends the wait (the event is
    /// dropped and counted). Writing a slot takes microseconds.
    pub(crate) fn claim_until(
        &self,
        deadline: Option<Instant>,
        closed: &AtomicBool,
    ) -> Option<Claim<'_>> {
        let mut pause = std::time::Duration::from_micros(10);
        let mut stalled: Option<(usize, Instant)> = None;
        loop {
            // `closed` first: a caller waiting when the pipeline shuts down
            // is released (and its event counted as dropped after the
            // shutdown), not handed a slot the shutdown's last drain frees.
            if closed.load(Ordering::Relaxed) {
                return None;
            }
            if let Some(claim) = self.try_claim() {
                return Some(claim);
            }
            let now = Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                return None;
            }
            match (self.head_being_written(), stalled) {
                (Some(head), Some((stalled_at, since))) if head == stalled_at => {
                    if now.duration_since(since) >= WRITER_STALL {
                        return None;
                    }
                }
                (Some(head), _) => stalled = Some((head, now)),
                (None, _) => stalled = None,
            }
            let nap = deadline.map_or(pause, |deadline| pause.min(deadline - now));
            thread::sleep(nap);
            pause = (pause * 2).min(std::time::Duration::from_millis(1));
        }
    }

    /// Slots from position `from` to position `to` (`from` not after `to`).
    #[inline(always)]
    fn distance(&self, from: usize, to: usize) -> usize {
        let mask = self.one_lap - 1;
        // `one_lap` is a power of two: a shift, not a division.
        let laps = (to & !mask).wrapping_sub(from & !mask) >> self.one_lap.trailing_zeros();
        (laps * self.cap)
            .wrapping_add(to & mask)
            .wrapping_sub(from & mask)
    }

    /// Publishes the worker's position to the callers now (see the module
    /// docs); the worker calls this whenever it stops draining.
    pub(crate) fn publish_head(&self) {
        let head = self.head.load(Ordering::Relaxed);
        if self.head_hint.load(Ordering::Relaxed) != head {
            self.head_hint.store(head, Ordering::Release);
        }
        self.seen_tail
            .store(self.tail.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Asks the CPU to fetch the slot `PREFETCH_AHEAD` places after the
    /// head at `index`, if it was claimed long enough ago to be written (a
    /// slot still being written is left to its caller).
    #[inline(always)]
    fn prefetch_ahead(&self, head: usize, index: usize) {
        // Positions only grow (a lap adds `one_lap`), so they compare as
        // numbers; the head may have passed the tail last seen.
        let seen_tail = self.seen_tail.load(Ordering::Relaxed);
        if self.cap <= 2 * PREFETCH_AHEAD
            || seen_tail <= head
            || self.distance(head, seen_tail) <= 2 * PREFETCH_AHEAD
        {
            return;
        }
        let mut ahead = index + PREFETCH_AHEAD;
        if ahead >= self.cap {
            ahead -= self.cap;
        }
        // SAFETY: `ahead < cap`.
        let slot = unsafe { self.buffer.get_unchecked(ahead) };
        prefetch(slot);
    }

    /// The head's position, if its slot is claimed by a caller and not yet
    /// written.
    fn head_being_written(&self) -> Option<usize> {
        let head = self.head.load(Ordering::Acquire);
        // SAFETY: `index < cap` by construction of the positions.
        let slot = unsafe { self.buffer.get_unchecked(head & (self.one_lap - 1)) };
        let claimed =
            slot.stamp.load(Ordering::Acquire) == head && self.tail.load(Ordering::Acquire) != head;
        claimed.then_some(head)
    }

    /// Hands the event at the head to `take` (in place: the consumer reads
    /// it where the caller wrote it), then drops it and frees the slot.
    /// Only the batch worker (the single consumer) calls this, or the
    /// pipeline once the worker has gone.
    pub(crate) fn pop_with(&self, take: impl FnOnce(&Event)) -> Pop {
        let head = self.head.load(Ordering::Relaxed);
        let index = head & (self.one_lap - 1);
        let lap = head & !(self.one_lap - 1);
        // SAFETY: `index < cap` by construction of the positions.
        let slot = unsafe { self.buffer.get_unchecked(index) };
        let stamp = slot.stamp.load(Ordering::Acquire);
        if head + 1 == stamp {
            let new_head = if index + 1 < self.cap {
                head + 1
            } else {
                lap.wrapping_add(self.one_lap)
            };
            // Frees the slot even if `take` unwinds.
            self.prefetch_ahead(head, index);
            let release = Release {
                queue: self,
                slot,
                head: new_head,
                stamp: head.wrapping_add(self.one_lap),
                publish: (index + 1) & self.hint_mask == 0,
            };
            // SAFETY: the stamp says a producer published this slot (its
            // Release store pairs with the Acquire load above) and no one
            // else reads it: there is one consumer.
            unsafe {
                if std::mem::take(&mut *slot.abandoned.get()) {
                    return Pop::Abandoned;
                }
                let event = (*slot.value.get()).as_mut_ptr();
                let _drop_event = DropInPlace(event);
                take(&*event);
            }
            drop(release);
            Pop::Event
        } else if self.tail.load(Ordering::SeqCst) == head {
            Pop::Empty
        } else {
            Pop::NotReady
        }
    }

    /// The position the next claim will take: a consumer that drains until
    /// [`EventQueue::head_position`] reaches it has taken everything
    /// claimed before this call.
    pub(crate) fn tail_position(&self) -> usize {
        self.tail.load(Ordering::SeqCst)
    }

    /// Slots claimed since the queue was made: every event that entered
    /// it (abandoned ones included). One load of `tail`, so it is exact at
    /// any moment.
    pub(crate) fn claims(&self) -> u64 {
        self.distance(0, self.tail.load(Ordering::SeqCst)) as u64
    }

    /// The position of the next event to take.
    pub(crate) fn head_position(&self) -> usize {
        self.head.load(Ordering::Relaxed)
    }

    /// Slots claimed after the head, for the worker (which alone moves the
    /// head): one load of `tail`, where [`EventQueue::len`] may retry.
    pub(crate) fn backlog(&self) -> usize {
        self.distance(
            self.head.load(Ordering::Relaxed),
            self.tail.load(Ordering::Acquire),
        )
    }

    /// Events queued (including slots claimed and still being written).
    pub(crate) fn len(&self) -> usize {
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            if self.tail.load(Ordering::SeqCst) != tail {
                continue;
            }
            let hix = head & (self.one_lap - 1);
            let tix = tail & (self.one_lap - 1);
            return if hix < tix {
                tix - hix
            } else if hix > tix {
                self.cap - hix + tix
            } else if tail == head {
                0
            } else {
                self.cap
            };
        }
    }

    /// Called once by the worker thread, so producers can wake it.
    pub(crate) fn register_worker(&self) {
        let _ = self.worker.set(thread::current());
    }

    /// The worker's side of parking: announce, then look once more. Returns
    /// false (do not park) when something was queued meanwhile.
    pub(crate) fn prepare_to_park(&self) -> bool {
        self.sleeping.store(true, Ordering::SeqCst);
        let head = self.head.load(Ordering::Relaxed);
        if self.tail.load(Ordering::SeqCst) != head {
            self.sleeping.store(false, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The worker is awake again.
    pub(crate) fn awake(&self) {
        self.sleeping.store(false, Ordering::Relaxed);
    }

    /// Wakes the worker if it is parked (or about to park).
    #[inline]
    pub(crate) fn wake_worker_if_sleeping(&self) {
        if self.sleeping.load(Ordering::SeqCst) {
            self.wake_worker();
        }
    }

    /// Wakes the worker whatever it is doing; a wake-up before it parks
    /// makes its next park return at once.
    pub(crate) fn wake_worker(&self) {
        self.sleeping.store(false, Ordering::Relaxed);
        if let Some(worker) = self.worker.get() {
            worker.unpark();
        }
    }
}

impl Drop for EventQueue {
    fn drop(&mut self) {
        // Drop the events still queued. No producer can be between claim
        // and publish: they hold a reference to the queue.
        while let Pop::Event | Pop::Abandoned = self.pop_with(|_| {}) {}
    }
}

/// Fetches a slot's cache lines into this core's cache, ahead of use.
#[inline(always)]
fn prefetch(slot: &Slot) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = (slot as *const Slot).cast::<i8>();
        for line in 0..std::mem::size_of::<Slot>() / 64 {
            // SAFETY: a prefetch is a hint; the address is inside the slot.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(line * 64)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

/// Asks for a slot's cache lines in this core's cache, owned for writing,
/// ahead of the caller that will claim it (see [`CLAIM_PREFETCH_AHEAD`]):
/// its lines, last read by the worker's core, then arrive while earlier
/// events are built instead of stalling that event's stores.
///
/// # Safety
/// The processor must have `prefetchw` ([`has_prefetchw`]).
#[inline(always)]
unsafe fn prefetch_for_write(slot: &Slot) {
    #[cfg(target_arch = "x86_64")]
    {
        let start = (slot as *const Slot).cast::<u8>();
        for line in 0..std::mem::size_of::<Slot>() / 64 {
            // SAFETY: a prefetch is a hint (it never faults); the address
            // is inside the slot, and the caller checked the instruction.
            unsafe {
                std::arch::asm!(
                    "prefetchw [{0}]",
                    in(reg) start.add(line * 64),
                    options(nostack, preserves_flags, readonly)
                );
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

/// Whether the processor has `prefetchw` (CPUID leaf 0x8000_0001, ECX bit
/// 8: every x86-64 processor of AMD, Intel's since Broadwell).
fn has_prefetchw() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        // CPUID exists on every x86-64 processor; the leaf is checked to
        // exist before it is read.
        __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

fn prev_power_of_two(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.leading_zeros())
}

/// Hands a consumed slot back to the producers.
struct Release<'a> {
    queue: &'a EventQueue,
    slot: &'a Slot,
    head: usize,
    stamp: usize,
    /// Also publish the position to the callers (once a step).
    publish: bool,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.queue.head.store(self.head, Ordering::Release);
        self.slot.stamp.store(self.stamp, Ordering::Release);
        if self.publish {
            self.queue.head_hint.store(self.head, Ordering::Release);
            let tail = self.queue.tail.load(Ordering::Relaxed);
            self.queue.seen_tail.store(tail, Ordering::Relaxed);
        }
    }
}

/// Drops a consumed event where it lies.
struct DropInPlace(*mut Event);

impl Drop for DropInPlace {
    fn drop(&mut self) {
        // SAFETY: points at a published event the consumer owns until its
        // slot is released (after this guard: it is declared later).
        unsafe { std::ptr::drop_in_place(self.0) }
    }
}

/// A claimed slot. Writing it publishes it; dropping it unwritten, or a
/// panic while building the event, publishes it as abandoned.
pub(crate) struct Claim<'a> {
    queue: &'a EventQueue,
    slot: &'a Slot,
    stamp: usize,
    written: bool,
}

impl Claim<'_> {
    /// Builds the event in the slot: the timestamp, id and message, then
    /// `fill` adds the rest through the builder.
    #[inline(always)]
    pub(crate) fn write_new(
        mut self,
        level: Level,
        message: Str,
        fill: impl FnOnce(&mut EventBuilder),
    ) {
        let event = self.value();
        // SAFETY: this claim owns the slot until it publishes (on drop),
        // and the slot holds no event.
        unsafe { Event::write_new(event, level, message) };
        self.written = true;
        let abandon_on_unwind = Abandon(self.slot);
        // SAFETY: just initialised; nothing else refers to it.
        fill(EventBuilder::from_event_mut(unsafe { &mut *event }));
        std::mem::forget(abandon_on_unwind);
    }

    /// Moves a finished event into the slot.
    #[inline(always)]
    pub(crate) fn write(mut self, event: Event) {
        // SAFETY: as in `write_new`.
        unsafe { self.value().write(event) };
        self.written = true;
    }

    fn value(&self) -> *mut Event {
        // SAFETY: the cell belongs to this claim until it publishes.
        unsafe { (*self.slot.value.get()).as_mut_ptr() }
    }
}

impl Drop for Claim<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if !self.written {
            // SAFETY: the slot is this claim's until the store below.
            unsafe { *self.slot.abandoned.get() = true };
        }
        self.slot.stamp.store(self.stamp, Ordering::Release);
        self.queue.wake_worker_if_sleeping();
    }
}

/// Drops the half-built event and marks the slot abandoned if building it
/// unwinds, so the consumer finds a well-formed slot.
struct Abandon<'a>(&'a Slot);

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        // SAFETY: runs only while the claim (not yet published) owns the
        // slot, whose event was initialised before this guard was made.
        unsafe {
            (*self.0.value.get()).assume_init_drop();
            *self.0.abandoned.get() = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The `prefetchw` check agrees with what the kernel reports (Linux
    /// names the CPUID bit `3dnowprefetch`). On AMD (and Hygon) the kernel
    /// also sets the flag for any 64-bit CPU whose CPUID (under a
    /// hypervisor, say) leaves the bit clear; there the check may only be
    /// more careful.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn prefetchw_detection_agrees_with_the_kernel() {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
        let line = |name: &str| {
            cpuinfo
                .lines()
                .find(|line| line.starts_with(name))
                .unwrap_or_default()
        };
        let flags = line("flags");
        let kernel = flags.split_whitespace().any(|flag| flag == "3dnowprefetch");
        let vendor = line("vendor_id");
        if vendor.contains("AuthenticAMD") || vendor.contains("HygonGenuine") {
            assert!(!has_prefetchw() || kernel, "{flags}");
        } else {
            assert_eq!(has_prefetchw(), kernel, "{flags}");
        }
    }

    fn push(queue: &EventQueue, n: u64) -> bool {
        match queue.try_claim() {
            Some(claim) => {
                claim.write_new(Level::Info, "m".into(), |b| b.push_attr("n", n));
                true
            }
            None => false,
        }
    }

    /// Pops one event and returns its `n` attribute.
    fn pop_n(queue: &EventQueue) -> Option<u64> {
        let mut n = None;
        queue.pop_with(|event| match event.attributes()[0].value {
            crate::Value::U64(value) => n = Some(value),
            _ => panic!("unexpected value"),
        });
        n
    }

    #[test]
    fn a_slot_is_eight_cache_lines() {
        // The README states the default queue's memory from this.
        assert_eq!(std::mem::size_of::<Slot>(), 512);
    }

    #[test]
    fn fifo_full_and_wrap_around_with_an_odd_capacity() {
        let queue = EventQueue::new(3);
        for round in 0..5u64 {
            assert!(push(&queue, round * 10));
            assert!(push(&queue, round * 10 + 1));
            assert!(push(&queue, round * 10 + 2));
            assert!(!push(&queue, 99), "a fourth event fits in capacity 3");
            assert_eq!(queue.len(), 3);
            assert_eq!(pop_n(&queue), Some(round * 10));
            assert_eq!(pop_n(&queue), Some(round * 10 + 1));
            assert_eq!(pop_n(&queue), Some(round * 10 + 2));
            assert!(matches!(queue.pop_with(|_| {}), Pop::Empty));
            assert_eq!(queue.len(), 0);
        }
    }

    #[test]
    fn callers_see_room_a_step_at_a_time_and_all_of_it_once_published() {
        let queue = EventQueue::new(256);
        let step = HINT_STEP as u64;
        let fill = |queue: &EventQueue| {
            let mut n = 0;
            while push(queue, n) {
                n += 1;
            }
            n
        };
        assert_eq!(fill(&queue), 256);
        for _ in 0..20 {
            // Fewer than a step taken: the callers' view is unchanged.
            for _ in 0..step - 1 {
                assert!(pop_n(&queue).is_some());
            }
            assert_eq!(fill(&queue), 0, "room shown before a step was taken");
            // The step's last event publishes the room of the whole step.
            assert!(pop_n(&queue).is_some());
            assert_eq!(fill(&queue), step, "the room of one step");
            assert_eq!(queue.len(), 256);
        }
        // Published on demand too (the worker does when it stops draining).
        for _ in 0..3 {
            assert!(pop_n(&queue).is_some());
        }
        assert_eq!(fill(&queue), 0);
        queue.publish_head();
        assert_eq!(fill(&queue), 3);
        let mut drained = 0;
        while pop_n(&queue).is_some() {
            drained += 1;
        }
        assert_eq!(drained, 256);
    }

    #[test]
    fn a_claimed_slot_is_not_ready_until_written() {
        let queue = EventQueue::new(4);
        let claim = queue.try_claim().expect("room");
        assert!(matches!(queue.pop_with(|_| {}), Pop::NotReady));
        assert_eq!(queue.len(), 1);
        claim.write_new(Level::Warn, "late".into(), |_| {});
        let mut message = String::new();
        assert!(matches!(
            queue.pop_with(|event| message = event.message().to_owned()),
            Pop::Event
        ));
        assert_eq!(message, "late");
    }

    #[test]
    fn an_unwritten_claim_publishes_an_abandoned_slot() {
        let queue = EventQueue::new(2);
        drop(queue.try_claim().expect("room"));
        assert!(matches!(queue.pop_with(|_| {}), Pop::Abandoned));
        assert!(matches!(queue.pop_with(|_| {}), Pop::Empty));
    }

    #[test]
    fn a_full_queue_whose_oldest_slot_is_still_being_written_refuses_at_once() {
        let queue = EventQueue::new(2);
        let oldest = queue.try_claim().expect("room");
        assert!(push(&queue, 1));
        // Full, and the head slot is claimed but unpublished: a claim must
        // say "full" rather than wait for the writer.
        assert!(queue.try_claim().is_none());
        oldest.write_new(Level::Info, "oldest".into(), |_| {});
        assert!(matches!(queue.pop_with(|_| {}), Pop::Event));
        assert!(push(&queue, 2));
    }

    #[test]
    fn a_panicking_builder_leaves_an_abandoned_slot_and_the_queue_usable() {
        let queue = EventQueue::new(2);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            queue
                .try_claim()
                .expect("room")
                .write_new(Level::Info, "m".into(), |_| panic!("user code"));
        }));
        assert!(result.is_err());
        assert!(matches!(queue.pop_with(|_| {}), Pop::Abandoned));
        assert!(push(&queue, 7));
        assert_eq!(pop_n(&queue), Some(7));
    }

    #[test]
    fn many_producers_lose_nothing_and_keep_each_producers_order() {
        const PRODUCERS: u64 = 4;
        const EACH: u64 = 20_000;
        let queue = Arc::new(EventQueue::new(64));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let queue = queue.clone();
                thread::spawn(move || {
                    for i in 0..EACH {
                        while !push(&queue, p << 32 | i) {
                            thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let mut next = [0u64; PRODUCERS as usize];
        let mut received = 0;
        while received < PRODUCERS * EACH {
            let mut taken = None;
            match queue.pop_with(|event| taken = Some(event.attributes()[0].value.clone())) {
                Pop::Event => {
                    let Some(crate::Value::U64(n)) = taken else {
                        panic!("unexpected value")
                    };
                    let (p, i) = ((n >> 32) as usize, n & 0xffff_ffff);
                    assert_eq!(i, next[p], "producer {p} out of order");
                    next[p] += 1;
                    received += 1;
                }
                Pop::Abandoned => panic!("nothing panicked"),
                Pop::NotReady | Pop::Empty => thread::yield_now(),
            }
        }
        for producer in producers {
            producer.join().unwrap();
        }
        assert!(matches!(queue.pop_with(|_| {}), Pop::Empty));
    }
}
