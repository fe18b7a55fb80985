//! Every event arrives, in order per thread; batches are cut by size and by
//! age; a full queue drops and counts, blocks, or grows when asked to.

mod common;

use std::time::{Duration, Instant};

use aires::transport::MemoryTransport;
use aires::{Event, Level, OverflowPolicy};
use aires_core::Pipeline;
use common::{int_attr, test_config, GatedTransport};

const DEADLINE: Duration = Duration::from_secs(20);
/// The smallest `max_batch_bytes`: while the window is full, the worker's
/// batch grows up to it before the queue starts to fill.
const GROWN_BATCH_BYTES: usize = 64 * 1024;
/// At most this many events are out of the queue and not yet sent with a
/// transport that holds every send and one slot in flight: three such
/// batches (the one waiting for the window, the one handed over behind it,
/// the one the worker holds), each event taking at least 20 bytes (its id
/// and time alone).
const HELD_PAST_THE_QUEUE: usize = 3 * GROWN_BATCH_BYTES / 20;

/// A pipeline with a queue of 16 and one batch in flight into `gated`,
/// which holds every send until it is opened.
fn behind_a_shut_gate(gated: &GatedTransport, overflow: OverflowPolicy) -> Pipeline {
    Pipeline::start(
        test_config(gated.clone())
            .queue_capacity(16)
            .batch_size(4)
            .max_in_flight(1)
            .max_batch_bytes(GROWN_BATCH_BYTES)
            .overflow(overflow),
    )
    .unwrap()
}

#[test]
fn every_event_from_every_thread_arrives_in_order() {
    const THREADS: i64 = 4;
    const PER_THREAD: i64 = 5_000;
    let memory = MemoryTransport::new();
    let pipeline = Pipeline::start(
        test_config(memory.clone()).queue_capacity((THREADS * PER_THREAD) as usize),
    )
    .unwrap();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let pipeline = pipeline.clone();
            scope.spawn(move || {
                for seq in 0..PER_THREAD {
                    pipeline.emit(
                        Event::builder(Level::Info, "tick")
                            .attr("thread", thread)
                            .attr("seq", seq)
                            .build(),
                    );
                }
            });
        }
    });
    pipeline.shutdown(DEADLINE).unwrap();
    let events = memory.events();
    assert_eq!(events.len(), (THREADS * PER_THREAD) as usize);
    let mut next = vec![0i64; THREADS as usize];
    for event in &events {
        let thread = int_attr(event, "thread") as usize;
        assert_eq!(
            int_attr(event, "seq"),
            next[thread],
            "thread {thread} out of order"
        );
        next[thread] += 1;
    }
    let metrics = pipeline.metrics();
    assert_eq!(metrics.events_enqueued, (THREADS * PER_THREAD) as u64);
    assert_eq!(metrics.events_sent, (THREADS * PER_THREAD) as u64);
    assert_eq!(metrics.events_dropped(), 0);
}

#[test]
fn batches_are_cut_at_batch_size() {
    let memory = MemoryTransport::new();
    let pipeline = Pipeline::start(
        test_config(memory.clone())
            .batch_size(10)
            .batch_timeout(Duration::from_secs(3600)),
    )
    .unwrap();
    for i in 0..35 {
        pipeline.emit(Event::builder(Level::Info, "e").attr("i", i).build());
    }
    // Three full batches go out on size alone; the timeout is an hour.
    assert!(memory.wait_for_events(30, DEADLINE));
    let sizes: Vec<usize> = memory.batches().iter().map(|b| b.event_count).collect();
    assert_eq!(sizes, vec![10, 10, 10]);
    pipeline.flush(DEADLINE).unwrap();
    let sizes: Vec<usize> = memory.batches().iter().map(|b| b.event_count).collect();
    assert_eq!(sizes, vec![10, 10, 10, 5]);
    assert_eq!(pipeline.metrics().batches_sent, 4);
}

#[test]
fn a_partial_batch_is_cut_when_its_timeout_passes() {
    let memory = MemoryTransport::new();
    let pipeline = Pipeline::start(
        test_config(memory.clone())
            .batch_size(1000)
            .batch_timeout(Duration::from_millis(50)),
    )
    .unwrap();
    for _ in 0..3 {
        pipeline.emit(Event::builder(Level::Info, "e").build());
    }
    // No flush, and far fewer events than batch_size: only the batch
    // timeout can send these.
    assert!(memory.wait_for_events(3, DEADLINE));
    assert!(memory.batches().iter().all(|b| b.event_count < 1000));
    let decoded = &memory.decoded_batches()[0];
    assert_eq!(decoded.service, "test-service");
    assert_eq!(decoded.environment, "test");
    assert_eq!(decoded.sdk_name, "aires-rust");
    assert_eq!(decoded.batch_id.len(), 16);
}

/// `events_enqueued + events_dropped_queue_full` is every call, at any
/// moment, also while the worker is draining: it was the worker's count
/// plus the queue's length, two values it moves at two instants, and a
/// snapshot between them was one off.
#[test]
fn every_snapshot_counts_each_call_once_while_the_worker_drains() {
    // With the default policy, and with the overflow list taking what the
    // queue cannot.
    for overflow in [OverflowPolicy::DropNewest, OverflowPolicy::grow()] {
        let pipeline = Pipeline::start(
            test_config(aires::transport::NullTransport::new())
                .queue_capacity(1 << 16)
                .batch_size(16)
                .overflow(overflow),
        )
        .unwrap();
        const EMITTED: u64 = 200_000;
        for i in 0..EMITTED {
            pipeline.emit(Event::builder(Level::Info, "e").attr("i", i).build());
        }
        let mut snapshots = 0;
        let mut last_enqueued = 0;
        loop {
            let metrics = pipeline.metrics();
            assert_eq!(
                metrics.events_enqueued + metrics.events_dropped_queue_full,
                EMITTED,
                "{overflow:?}, snapshot {snapshots}: {metrics:?}"
            );
            assert!(metrics.events_enqueued >= last_enqueued, "it only grows");
            last_enqueued = metrics.events_enqueued;
            snapshots += 1;
            if metrics.queue_depth == 0 && snapshots >= 1_000 {
                break;
            }
        }
        pipeline.shutdown(DEADLINE).unwrap();
    }
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let gated = GatedTransport::new();
    let pipeline = Pipeline::start(
        test_config(gated.clone())
            .queue_capacity(64)
            .batch_size(16)
            .max_in_flight(1),
    )
    .unwrap();
    const EMITTED: u64 = 2_000;
    for i in 0..EMITTED {
        pipeline.emit(Event::builder(Level::Info, "e").attr("i", i).build());
    }
    let metrics = pipeline.metrics();
    assert!(metrics.events_dropped_queue_full > 0, "{metrics:?}");
    assert_eq!(
        metrics.events_enqueued + metrics.events_dropped_queue_full,
        EMITTED,
        "{metrics:?}"
    );
    gated.open();
    pipeline.shutdown(DEADLINE).unwrap();
    let metrics = pipeline.metrics();
    assert_eq!(gated.memory.event_count() as u64, metrics.events_enqueued);
    assert_eq!(metrics.events_sent, metrics.events_enqueued);
}

#[test]
fn the_grow_policy_lists_a_burst_behind_a_full_queue_in_order_per_thread() {
    const THREADS: i64 = 4;
    // More than the worker and delivery hold past the queue.
    const PER_THREAD: i64 = HELD_PAST_THE_QUEUE as i64 / 2;
    let gated = GatedTransport::new();
    let pipeline = behind_a_shut_gate(&gated, OverflowPolicy::grow());
    // Nothing is sent while the gate is shut: all but a few events must
    // wait in the queue and the list behind it, and no caller blocks.
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let pipeline = pipeline.clone();
            scope.spawn(move || {
                for i in 0..PER_THREAD {
                    // Both ways in: a finished event and one built in place.
                    if i % 2 == 0 {
                        pipeline.emit(
                            Event::builder(Level::Info, "e")
                                .attr("t", t)
                                .attr("i", i)
                                .build(),
                        );
                    } else {
                        pipeline.emit_with(Level::Info, "e", |b| {
                            b.push_attr("t", t);
                            b.push_attr("i", i);
                        });
                    }
                }
            });
        }
    });
    let metrics = pipeline.metrics();
    assert_eq!(metrics.events_dropped(), 0, "{metrics:?}");
    assert_eq!(metrics.events_enqueued, (THREADS * PER_THREAD) as u64);
    assert!(
        metrics.queue_depth > 16,
        "the list holds events: {metrics:?}"
    );
    gated.open();
    pipeline.shutdown(DEADLINE).unwrap();
    let mut next = [0i64; THREADS as usize];
    for event in gated.memory.events() {
        let t = int_attr(&event, "t") as usize;
        assert_eq!(int_attr(&event, "i"), next[t], "thread {t} out of order");
        next[t] += 1;
    }
    assert_eq!(next, [PER_THREAD; THREADS as usize]);
    let metrics = pipeline.metrics();
    assert_eq!(metrics.events_sent, (THREADS * PER_THREAD) as u64);
    assert_eq!(metrics.queue_depth, 0);
}

#[test]
fn with_the_grow_policy_an_event_whose_fields_panic_behind_a_full_queue_is_counted() {
    let gated = GatedTransport::new();
    let pipeline = behind_a_shut_gate(&gated, OverflowPolicy::grow());
    // Past the queue and what the worker and delivery hold: the list is in
    // use when the panicking event comes.
    let before = HELD_PAST_THE_QUEUE as i64 + 32;
    for i in 0..before {
        pipeline.emit(Event::builder(Level::Info, "e").attr("i", i).build());
    }
    assert!(pipeline.metrics().queue_depth > 16, "the list holds events");
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pipeline.emit_with(Level::Info, "panics", |b| {
            b.push_attr("i", -1);
            panic!("a field's value failed");
        })
    }));
    assert!(unwound.is_err(), "the panic reaches the caller");
    pipeline.emit(Event::builder(Level::Info, "e").attr("i", before).build());
    gated.open();
    pipeline.shutdown(DEADLINE).unwrap();
    let metrics = pipeline.metrics();
    assert_eq!(metrics.events_dropped_abandoned, 1, "{metrics:?}");
    assert_eq!(metrics.events_dropped(), 1, "{metrics:?}");
    let sent: Vec<i64> = gated
        .memory
        .events()
        .iter()
        .map(|e| int_attr(e, "i"))
        .collect();
    assert_eq!(sent, (0..=before).collect::<Vec<_>>());
}

#[test]
fn the_grow_policy_drops_and_counts_past_its_budget() {
    let gated = GatedTransport::new();
    let budget = 60_000;
    let pipeline = behind_a_shut_gate(&gated, OverflowPolicy::Grow { max_bytes: budget });
    const EMITTED: u64 = 30_000;
    for i in 0..EMITTED {
        pipeline.emit(Event::builder(Level::Info, "e").attr("i", i).build());
    }
    let metrics = pipeline.metrics();
    assert!(metrics.events_dropped_queue_full > 0, "{metrics:?}");
    // Waiting: the queue's 16 and what the budget holds (an event takes
    // at least its inline size); beyond them, the batches in delivery and
    // the worker.
    let listed_at_most = budget / std::mem::size_of::<Event>();
    assert!(metrics.queue_depth > 16, "{metrics:?}");
    assert!(
        metrics.queue_depth as usize <= 16 + listed_at_most,
        "{metrics:?}"
    );
    assert!(
        metrics.events_enqueued - metrics.queue_depth <= 16 + HELD_PAST_THE_QUEUE as u64,
        "{metrics:?}"
    );
    assert_eq!(
        metrics.events_enqueued + metrics.events_dropped_queue_full,
        EMITTED
    );
    gated.open();
    pipeline.shutdown(DEADLINE).unwrap();
    let metrics = pipeline.metrics();
    assert_eq!(gated.memory.event_count() as u64, metrics.events_enqueued);
    assert_eq!(metrics.events_sent, metrics.events_enqueued);
}

#[test]
fn the_block_policy_waits_out_a_long_stall_and_loses_nothing() {
    let gated = GatedTransport::new();
    let pipeline = Pipeline::start(
        test_config(gated.clone())
            .queue_capacity(8)
            .batch_size(4)
            .max_in_flight(1)
            .overflow(OverflowPolicy::Block),
    )
    .unwrap();
    let opener = {
        let gated = gated.clone();
        let pipeline = pipeline.clone();
        std::thread::spawn(move || {
            // Open only once the producers are stuck on a full queue, and
            // keep them there longer than any bounded wait would last.
            assert!(common::wait_until(DEADLINE, || pipeline
                .metrics()
                .queue_depth
                == 8));
            std::thread::sleep(Duration::from_millis(500));
            gated.open();
        })
    };
    let producers: Vec<_> = (0..4)
        .map(|t| {
            let pipeline = pipeline.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    pipeline.emit(
                        Event::builder(Level::Info, "e")
                            .attr("t", t)
                            .attr("i", i)
                            .build(),
                    );
                }
            })
        })
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }
    opener.join().unwrap();
    pipeline.shutdown(DEADLINE).unwrap();
    assert_eq!(gated.memory.event_count(), 2_000);
    let metrics = pipeline.metrics();
    assert_eq!(metrics.events_dropped(), 0);
    assert_eq!(metrics.events_sent, 2_000);
}

#[test]
fn a_caller_blocked_on_a_full_queue_is_released_by_shutdown_and_counted() {
    let gated = GatedTransport::new();
    let pipeline = Pipeline::start(
        test_config(gated.clone())
            .queue_capacity(4)
            .batch_size(2)
            .max_in_flight(1)
            .overflow(OverflowPolicy::Block)
            .diagnostics(|_| {}),
    )
    .unwrap();
    let producer = {
        let pipeline = pipeline.clone();
        std::thread::spawn(move || {
            for _ in 0..100 {
                pipeline.emit(Event::builder(Level::Info, "e").build());
            }
        })
    };
    assert!(common::wait_until(DEADLINE, || pipeline
        .metrics()
        .queue_depth
        == 4));
    // The transport never answers: only the shutdown can end the wait.
    let _ = pipeline.shutdown(Duration::from_millis(300));
    producer.join().unwrap();
    let metrics = pipeline.metrics();
    assert!(metrics.events_dropped_after_shutdown > 0, "{metrics:?}");
    assert_eq!(metrics.events_dropped_queue_full, 0);
}

#[test]
fn the_block_policy_does_not_wait_for_itself_when_a_field_logs() {
    // A field whose conversion logs through the same pipeline while the
    // queue is full: the outer event's slot cannot be published until the
    // inner call returns, so the inner call must not wait for room.
    let gated = GatedTransport::new();
    let pipeline = Pipeline::start(
        test_config(gated.clone())
            .queue_capacity(2)
            .batch_size(8)
            .max_in_flight(1)
            .overflow(OverflowPolicy::Block),
    )
    .unwrap();
    let inner = pipeline.clone();
    pipeline.emit_with(Level::Info, "outer", |event| {
        inner.emit(Event::builder(Level::Info, "first").build());
        inner.emit(Event::builder(Level::Info, "second").build());
        // The queue (2) holds the outer slot and "first": no room.
        inner.emit(Event::builder(Level::Info, "third").build());
        event.set_session_id("after the inner calls");
    });
    gated.open();
    pipeline.shutdown(DEADLINE).unwrap();
    let metrics = pipeline.metrics();
    assert_eq!(metrics.events_dropped_queue_full, 2, "{metrics:?}");
    assert_eq!(gated.memory.event_count(), 2);
}

#[test]
fn the_block_policy_waits_its_timeout_then_drops_and_counts() {
    let timeout = Duration::from_millis(200);
    let gated = GatedTransport::new();
    let pipeline = Pipeline::start(
        test_config(gated.clone())
            .queue_capacity(4)
            .batch_size(2)
            .max_in_flight(1)
            .max_batch_bytes(GROWN_BATCH_BYTES)
            .overflow(OverflowPolicy::BlockFor(timeout)),
    )
    .unwrap();
    // The transport holds every send, so (once the worker's batch has grown
    // to its limit) the queue fills; the first call that finds no room
    // waits for the timeout, then drops its event.
    let mut emitted = 0;
    let waited = loop {
        assert!(
            emitted < 20 + HELD_PAST_THE_QUEUE as u64,
            "the queue never filled"
        );
        let started = Instant::now();
        pipeline.emit(Event::builder(Level::Info, "e").build());
        emitted += 1;
        if pipeline.metrics().events_dropped_queue_full > 0 {
            break started.elapsed();
        }
    };
    // A drop policy would have dropped at once; this one waited first.
    assert!(
        waited >= timeout,
        "dropped after {waited:?}, before the {timeout:?} wait"
    );
    let metrics = pipeline.metrics();
    assert_eq!(metrics.events_dropped_queue_full, 1);
    assert_eq!(metrics.events_enqueued + 1, emitted);
    gated.open();
    pipeline.shutdown(DEADLINE).unwrap();
    assert_eq!(gated.memory.event_count() as u64, emitted - 1);
}

#[test]
fn up_to_max_in_flight_batches_are_sent_at_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Holds each send until released, recording how many overlap.
    #[derive(Clone, Default)]
    struct Overlap {
        now: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
        gate: GatedTransport,
    }
    impl aires::transport::Transport for Overlap {
        fn send(&self, batch: aires::transport::EncodedBatch) -> aires::transport::SendFuture<'_> {
            Box::pin(async move {
                let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
                self.peak.fetch_max(now, Ordering::SeqCst);
                let result = self.gate.send(batch).await;
                self.now.fetch_sub(1, Ordering::SeqCst);
                result
            })
        }
    }

    let overlap = Overlap::default();
    let pipeline =
        Pipeline::start(test_config(overlap.clone()).batch_size(1).max_in_flight(3)).unwrap();
    for i in 0..10 {
        pipeline.emit(Event::builder(Level::Info, "e").attr("i", i).build());
    }
    // Three sends start and wait at the gate; no fourth starts.
    assert!(common::wait_until(DEADLINE, || overlap
        .now
        .load(Ordering::SeqCst)
        == 3));
    assert_eq!(pipeline.metrics().batches_in_flight, 3);
    overlap.gate.open();
    pipeline.shutdown(DEADLINE).unwrap();
    assert_eq!(overlap.peak.load(Ordering::SeqCst), 3);
    assert_eq!(overlap.gate.memory.event_count(), 10);
}

#[test]
fn while_the_window_is_full_batches_grow_and_callers_do_not_wait() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let gated = GatedTransport::new();
    let pipeline = Pipeline::start(
        test_config(gated.clone())
            .batch_size(10)
            .max_in_flight(1)
            .queue_capacity(64)
            .batch_timeout(Duration::from_secs(3600))
            .overflow(OverflowPolicy::Block),
    )
    .unwrap();
    for i in 0..10 {
        pipeline.emit(Event::builder(Level::Info, "e").attr("i", i).build());
    }
    // The first batch takes the only slot of the window and waits there.
    assert!(common::wait_until(DEADLINE, || pipeline
        .metrics()
        .batches_in_flight
        == 1));
    // Ten times the queue's capacity, under the blocking policy: with
    // batches cut at batch_size, the worker would wait behind the window
    // and the callers behind the full queue until the gate opens.
    let emitted = AtomicUsize::new(10);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 10..650 {
                pipeline.emit(Event::builder(Level::Info, "e").attr("i", i).build());
                emitted.fetch_add(1, Ordering::SeqCst);
            }
        });
        assert!(
            common::wait_until(DEADLINE, || emitted.load(Ordering::SeqCst) == 650),
            "callers waited behind the window: {} of 650 emitted",
            emitted.load(Ordering::SeqCst)
        );
    });
    assert_eq!(gated.memory.event_count(), 0, "the gate is still shut");
    gated.open();
    pipeline.shutdown(DEADLINE).unwrap();
    let sizes: Vec<usize> = gated
        .memory
        .batches()
        .iter()
        .map(|b| b.event_count)
        .collect();
    assert_eq!(sizes[0], 10);
    assert!(
        sizes[1] > 10 * 10,
        "the next batch grew while the window was full: {sizes:?}"
    );
    let order: Vec<i64> = gated
        .memory
        .events()
        .iter()
        .map(|e| int_attr(e, "i"))
        .collect();
    assert_eq!(order, (0..650).collect::<Vec<i64>>());
    assert_eq!(pipeline.metrics().events_dropped(), 0);
}

#[test]
fn batches_are_cut_before_they_pass_max_batch_bytes() {
    let memory = MemoryTransport::new();
    const LIMIT: usize = 64 * 1024;
    let pipeline = Pipeline::start(
        test_config(memory.clone())
            .batch_size(1000)
            .max_batch_bytes(LIMIT)
            .batch_timeout(Duration::from_secs(3600)),
    )
    .unwrap();
    let big = "y".repeat(10_000);
    for i in 0..50 {
        pipeline.emit(
            Event::builder(Level::Info, "big")
                .attr("i", i)
                .attr("payload", big.clone())
                .build(),
        );
    }
    pipeline.shutdown(DEADLINE).unwrap();
    let batches = memory.batches();
    assert!(batches.len() >= 8, "50 events of 10 KB in 64 KiB batches");
    assert!(
        batches.iter().all(|b| b.payload.len() <= LIMIT),
        "a batch passed its limit"
    );
    let events = memory.events();
    let order: Vec<i64> = events.iter().map(|e| int_attr(e, "i")).collect();
    assert_eq!(order, (0..50).collect::<Vec<_>>());
}
