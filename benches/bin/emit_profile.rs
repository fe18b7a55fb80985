//! Emits N copies of the side-by-side event through one set-up and exits:
//! the subject for `valgrind --tool=callgrind`, whose instruction counts
//! are repeatable on a noisy machine where wall-clock times are not.
//! `scripts/bench` counts only `measured` (after a warm-up), on the calling
//! thread, twice per set-up (N and 2N events), and reports the difference
//! per event.
//!
//!     emit-profile <aires|tracing-json|tracing-opentelemetry|log> <events>
//!
//! The bridge set-ups emit the five-field event instead (`peers::tracing_info_5`):
//! `aires-5` (Aires' own macro), `tracing-aires` (the Aires layer),
//! `tracing-opentelemetry-5`, `tracing-json-5`; and `tracing-visit-only-5`
//! (a layer that only visits the fields: `tracing`'s own part).

use std::time::Duration;

use aires_benches::peers;

/// Events between flushes, as in the criterion benches.
const CHUNK: u64 = 1_024;

/// Warms up (one-time set-up such as clock calibration happens here),
/// then emits `events` inside [`measured`].
fn run(events: u64, emit: impl Fn(u64), flush: impl Fn()) {
    emit_chunks(CHUNK, &emit, &flush);
    measured(events, &emit, &flush);
}

/// What callgrind counts (`--toggle-collect=*measured*`).
#[inline(never)]
fn measured(events: u64, emit: &dyn Fn(u64), flush: &dyn Fn()) {
    emit_chunks(events, emit, flush);
}

/// The loop of `aires_benches::timed_in_chunks_with` without its clock
/// reads: calling that helper here changed how the emit call is inlined,
/// and with it the counts (by 25 to 70 instructions per event).
fn emit_chunks(events: u64, emit: &dyn Fn(u64), flush: &dyn Fn()) {
    let mut done = 0;
    while done < events {
        let n = CHUNK.min(events - done);
        for i in done..done + n {
            emit(i);
        }
        flush();
        done += n;
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(setup), Some(events)) = (args.next(), args.next()) else {
        eprintln!("usage: emit-profile <aires|tracing-json|tracing-opentelemetry|log> <events>");
        std::process::exit(2);
    };
    let events: u64 = events.parse().expect("events: a number");
    match setup.as_str() {
        "aires" => {
            let guard = peers::init_aires();
            run(events, peers::aires_info, || {
                aires::flush(Duration::from_secs(60)).expect("flush")
            });
            assert_eq!(aires::metrics().events_dropped(), 0);
            guard.shutdown(Duration::from_secs(60)).expect("shutdown");
        }
        "tracing-json" => {
            let (subscriber, _writer) = peers::tracing_json();
            tracing::subscriber::with_default(subscriber, || {
                run(events, peers::tracing_info, || {})
            });
        }
        "tracing-opentelemetry" => {
            let (subscriber, provider) = peers::tracing_opentelemetry();
            tracing::subscriber::with_default(subscriber, || {
                run(events, peers::tracing_info, || {
                    provider.force_flush().expect("force_flush")
                })
            });
            provider.shutdown().expect("shutdown");
        }
        "aires-5" => {
            let guard = peers::init_aires();
            run(events, peers::aires_info_5, || {
                aires::flush(Duration::from_secs(60)).expect("flush")
            });
            assert_eq!(aires::metrics().events_dropped(), 0);
            guard.shutdown(Duration::from_secs(60)).expect("shutdown");
        }
        "tracing-aires" => {
            let guard = peers::init_aires();
            tracing::subscriber::with_default(peers::tracing_aires(), || {
                run(events, peers::tracing_info_5, || {
                    aires::flush(Duration::from_secs(60)).expect("flush")
                })
            });
            assert_eq!(aires::metrics().events_dropped(), 0);
            guard.shutdown(Duration::from_secs(60)).expect("shutdown");
        }
        "tracing-visit-only-5" => {
            tracing::subscriber::with_default(peers::tracing_visit_only(), || {
                run(events, peers::tracing_info_5, || {})
            });
        }
        "tracing-opentelemetry-5" => {
            let (subscriber, provider) = peers::tracing_opentelemetry();
            tracing::subscriber::with_default(subscriber, || {
                run(events, peers::tracing_info_5, || {
                    provider.force_flush().expect("force_flush")
                })
            });
            provider.shutdown().expect("shutdown");
        }
        "tracing-json-5" => {
            let (subscriber, _writer) = peers::tracing_json();
            tracing::subscriber::with_default(subscriber, || {
                run(events, peers::tracing_info_5, || {})
            });
        }
        "log" => {
            peers::install_env_logger();
            run(events, peers::log_info, || {});
        }
        other => {
            eprintln!("unknown set-up {other:?}");
            std::process::exit(2);
        }
    }
}
