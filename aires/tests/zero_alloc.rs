//! The emit path makes no heap allocation on the calling thread for an event
//! with a static message and up to eight primitive or literal fields.
//!
//! A counting global allocator counts allocations made by this test's thread
//! only while armed; the worker threads allocate freely.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use aires::transport::MemoryTransport;
use aires::{Event, Level, SpanId, TraceId};

struct CountingAllocator;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Allocations made by `body` on this thread.
fn allocations_in(body: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    ARMED.with(|a| a.set(true));
    body();
    ARMED.with(|a| a.set(false));
    ALLOCATIONS.with(|n| n.get())
}

#[test]
fn emitting_a_static_event_with_primitive_fields_does_not_allocate() {
    let _lock = common::global_lock();
    let memory = MemoryTransport::new();
    let guard = aires::init(common::test_config(memory.clone()).queue_capacity(1024)).unwrap();
    let trace = TraceId::from_int(0x1234).unwrap();
    let span = SpanId::from_int(0x56).unwrap();
    // Eight fields of every primitive kind and literal text, plus the ids.
    let emit = |i: u64| {
        aires::info!(
            "order placed",
            order_id = i,
            amount = 9.99,
            paid = true,
            currency = "EUR",
            quantity = 3i64,
            ratio = 0.5f32,
            region = "eu-west-1",
            retried = false,
            trace_id = trace,
            span_id = span,
        );
    };
    // Warm up this thread's lazily created state (its cached pipeline
    // handle, its counter stripe), as any first call does.
    emit(0);
    aires::flush(Duration::from_secs(10)).unwrap();

    // The queue holds 1024 events: emitting 5000 also exercises the
    // drop-and-count path, which must not allocate either.
    let allocations = allocations_in(|| {
        for i in 0..5_000 {
            emit(i);
        }
    });
    assert_eq!(allocations, 0, "the emit path allocated");

    // The counter does see allocations, so the zero above means something:
    // a formatted message allocates its String, and a ninth field moves the
    // attributes to the heap (with room in the queue: a dropped event is
    // not built).
    aires::flush(Duration::from_secs(10)).unwrap();
    let formatted = allocations_in(|| aires::info!("order {}", 7));
    assert!(formatted >= 1, "a formatted message allocates its String");
    let nine = allocations_in(|| {
        aires::info!(
            "nine",
            a = 1,
            b = 2,
            c = 3,
            d = 4,
            e = 5,
            f = 6,
            g = 7,
            h = 8,
            i = 9
        )
    });
    assert_eq!(nine, 1, "a ninth attribute spills to the heap once");

    guard.shutdown(Duration::from_secs(10)).unwrap();
    let metrics = aires::metrics();
    assert_eq!(
        metrics.events_enqueued + metrics.events_dropped_queue_full,
        5_003
    );
    assert!(memory.event_count() >= 1024);
}

#[test]
fn building_an_event_with_the_builder_does_not_allocate() {
    let allocations = allocations_in(|| {
        for i in 0..1000 {
            let event = Event::builder(Level::Warn, "slow query")
                .attr("ms", i)
                .attr("table", aires::Value::from_static("orders"))
                .attr("cached", false)
                .attr("rows", 12u64)
                .attr("cost", 0.25)
                .attr("shard", -3i64)
                .attr("replica", aires::Value::from_static("b"))
                .attr("hedged", true)
                .build();
            std::hint::black_box(event);
        }
    });
    assert_eq!(allocations, 0);
}
