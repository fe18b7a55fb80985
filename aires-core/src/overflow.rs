//! The overflow list of [`OverflowPolicy::Grow`](crate::OverflowPolicy):
//! where events go while the queue is full, up to a byte budget, instead
//! of being dropped.
//!
//! The queue's ring keeps its fixed size (its slots are what makes the
//! common case cheap); what does not fit is built on the heap and appended
//! here, under a lock, as quill's unbounded queue and the OpenTelemetry
//! SDKs' lists do. Only a burst that outruns the worker pays for it.
//!
//! Order per thread is kept by one rule: once an event has gone to the
//! list, every caller sends its events to the list too (`active`) until the
//! worker has emptied it. The worker takes from the list only when the ring
//! is empty, checked under the list's lock, so everything a thread put in
//! the ring before it spilled has been taken before its spilled events;
//! and it clears `active` only when it has taken the last one.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::event::Event;

/// Events the worker moves out of the list at a time.
const CHUNK: usize = 256;

#[derive(Debug)]
pub(crate) struct Overflow {
    /// Whether callers must append to the list (it is not empty).
    active: CachePadded<AtomicBool>,
    events: Mutex<VecDeque<(Event, usize)>>,
    /// Bytes held: the events in the list and those the worker took and
    /// has not encoded yet.
    bytes: AtomicUsize,
    /// Events held, counted the same way.
    len: AtomicUsize,
    /// Events ever appended (only grows): their part of `events_enqueued`.
    appended: AtomicU64,
    max_bytes: usize,
}

impl Overflow {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Overflow {
            active: CachePadded::new(AtomicBool::new(false)),
            events: Mutex::new(VecDeque::new()),
            bytes: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            appended: AtomicU64::new(0),
            max_bytes,
        }
    }

    /// Whether callers must append here rather than to the ring.
    #[inline(always)]
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Whether anything is listed, for the worker about to park (after it
    /// announced it, see the queue's module docs).
    pub(crate) fn has_events(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// Appends an event; false (the event dropped) when it would pass the
    /// budget.
    pub(crate) fn push(&self, event: Event) -> bool {
        let size = event.footprint();
        let mut events = self.events.lock();
        if self.bytes.load(Ordering::Relaxed) + size > self.max_bytes {
            return false;
        }
        self.bytes.fetch_add(size, Ordering::Relaxed);
        self.len.fetch_add(1, Ordering::Relaxed);
        self.appended.fetch_add(1, Ordering::Relaxed);
        events.push_back((event, size));
        // SeqCst: pairs with the worker's look before it parks (as the
        // queue's `tail` does with `sleeping`).
        self.active.store(true, Ordering::SeqCst);
        true
    }

    /// Moves up to a chunk of events, oldest first, into `out`, if
    /// `ring_is_empty` says so under the lock. Clears `active` when the list
    /// is left empty. Returns whether it took any.
    pub(crate) fn take(
        &self,
        ring_is_empty: impl FnOnce() -> bool,
        out: &mut VecDeque<(Event, usize)>,
    ) -> bool {
        let mut events = self.events.lock();
        if events.is_empty() || !ring_is_empty() {
            return false;
        }
        let n = events.len().min(CHUNK);
        out.extend(events.drain(..n));
        if events.is_empty() {
            self.active.store(false, Ordering::Release);
        }
        true
    }

    /// The worker has encoded (or dropped) an event it took.
    pub(crate) fn settled(&self, size: usize) {
        self.bytes.fetch_sub(size, Ordering::Relaxed);
        self.len.fetch_sub(1, Ordering::Relaxed);
    }

    /// Events ever appended.
    pub(crate) fn appended(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }

    /// Events held (listed or taken and not yet encoded).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Bytes held.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Empties the list (after shutdown); returns how many it held.
    pub(crate) fn clear(&self) -> usize {
        let mut events = self.events.lock();
        let n = events.len();
        for (_, size) in events.drain(..) {
            self.settled(size);
        }
        self.active.store(false, Ordering::Release);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::Level;

    fn event(n: u64) -> Event {
        Event::builder(Level::Info, "m").attr("n", n).build()
    }

    #[test]
    fn holds_up_to_its_budget_and_gives_back_the_rest() {
        let size = event(0).footprint();
        let overflow = Overflow::new(size * 3);
        assert!(!overflow.is_active());
        for n in 0..3 {
            assert!(overflow.push(event(n)));
        }
        assert!(overflow.is_active());
        assert!(!overflow.push(event(3)), "past the budget");
        assert_eq!((overflow.len(), overflow.bytes()), (3, size * 3));
        let mut taken = VecDeque::new();
        assert!(overflow.take(|| true, &mut taken));
        assert!(!overflow.is_active(), "emptied");
        // Taken but not yet encoded: still held.
        assert_eq!(overflow.len(), 3);
        for (_, size) in taken.drain(..) {
            overflow.settled(size);
        }
        assert_eq!((overflow.len(), overflow.bytes()), (0, 0));
    }

    #[test]
    fn nothing_is_taken_while_the_ring_holds_events() {
        let overflow = Overflow::new(1 << 20);
        assert!(overflow.push(event(1)));
        let mut taken = VecDeque::new();
        assert!(!overflow.take(|| false, &mut taken));
        assert!(taken.is_empty());
        assert!(overflow.is_active());
        assert!(overflow.take(|| true, &mut taken));
        assert_eq!(taken.len(), 1);
    }
}
