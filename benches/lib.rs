//! Shared pieces of the benchmarks.

pub mod peers;

use std::time::{Duration, Instant};

use aires::{Event, HttpInfo, Level};

/// Runs `emit` `iters` times, timing only the calls, in chunks small enough
/// for the queue; between chunks (untimed) the pipeline is flushed, so the
/// queue never overflows and no call takes the cheaper drop path.
pub fn timed_in_chunks(iters: u64, chunk: u64, emit: impl FnMut(u64)) -> Duration {
    timed_in_chunks_with(iters, chunk, emit, || {
        aires::flush(Duration::from_secs(30)).expect("flush")
    })
}

/// [`timed_in_chunks`] with the pipeline's own flush, for the peers'
/// pipelines in the side-by-side benches: each peer drains its queue between
/// chunks too, so no peer is timed on its drop path either.
pub fn timed_in_chunks_with(
    iters: u64,
    chunk: u64,
    mut emit: impl FnMut(u64),
    mut flush: impl FnMut(),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = chunk.min(iters - done);
        let start = Instant::now();
        for i in done..done + n {
            emit(i);
        }
        total += start.elapsed();
        flush();
        done += n;
    }
    total
}

/// A realistic batch: messages with 3-5 typed fields, HTTP info on a third.
pub fn sample_events(count: usize) -> Vec<Event> {
    (0..count)
        .map(|i| {
            let mut builder = Event::builder(Level::Info, "request served")
                .attr("order_id", i as u64)
                .attr("amount", 9.99 + i as f64)
                .attr("currency", aires::Value::from_static("EUR"))
                .attr("cache_hit", i % 2 == 0);
            if i % 3 == 0 {
                builder = builder.http(
                    HttpInfo::new("GET", "/orders/:id")
                        .status(200)
                        .duration(Duration::from_micros(1830)),
                );
            }
            builder.build()
        })
        .collect()
}
