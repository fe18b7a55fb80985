//! The generated events: what a busy web service logs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aires::HttpInfo;

/// xorshift64*: plausible variety, not cryptography.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

const ROUTES: [&str; 4] = ["/orders/:id", "/orders", "/pay", "/search"];

/// Emits events until `stop`, or `limit` events, paced to `rate` per
/// second (0 = as fast as the SDK takes them). Adds the count to `emitted`.
pub fn produce(thread: u32, limit: Option<u64>, rate: f64, stop: &AtomicBool, emitted: &AtomicU64) {
    let mut random =
        Random(0x9e37_79b9_7f4a_7c15 ^ (u64::from(thread) + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9));
    let start = Instant::now();
    let mut count = 0u64;
    while !stop.load(Ordering::Relaxed) && limit.is_none_or(|n| count < n) {
        if rate > 0.0 {
            let due = start + Duration::from_secs_f64(count as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        emit_one(&mut random, thread, count);
        count += 1;
        if count.is_multiple_of(1024) {
            emitted.fetch_add(1024, Ordering::Relaxed);
        }
    }
    emitted.fetch_add(count % 1024, Ordering::Relaxed);
}

/// One event: 2% errors with HTTP info, 30% request logs, the rest
/// business events with 3 to 8 fields.
fn emit_one(random: &mut Random, thread: u32, seq: u64) {
    let pick = random.next();
    let route = ROUTES[(pick >> 8) as usize % ROUTES.len()];
    let micros = 500 + (pick >> 16) % 50_000;
    match pick % 100 {
        0..=1 => {
            let err = std::io::Error::new(std::io::ErrorKind::TimedOut, "upstream timed out");
            aires::error!(
                "request failed",
                http = HttpInfo::new("POST", route)
                    .status(502)
                    .duration(Duration::from_micros(micros)),
                error = &err,
                thread = thread,
                seq = seq,
                retryable = true,
            );
        }
        2..=31 => aires::info!(
            "request served",
            http = HttpInfo::new("GET", route)
                .status(200)
                .duration(Duration::from_micros(micros)),
            thread = thread,
            seq = seq,
            cache_hit = pick & 1 == 0,
            bytes = micros * 3,
        ),
        32..=65 => aires::info!("order placed", thread = thread, seq = seq, amount = 9.99),
        66..=85 => aires::info!(
            "cart updated",
            thread = thread,
            seq = seq,
            items = pick % 12,
            currency = "EUR",
            total = micros as f64 / 100.0,
        ),
        _ => aires::info!(
            "cache refreshed",
            thread = thread,
            seq = seq,
            keys = pick % 1000,
            region = "eu-west",
            hit_ratio = (pick % 100) as f64 / 100.0,
            warm = true,
            shard = pick % 16,
            generation = seq / 1000,
        ),
    }
}
