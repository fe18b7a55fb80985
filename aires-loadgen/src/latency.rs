//! Event-to-ack latency: a transport wrapper that, for a sample of the
//! acknowledged batches, measures how long each event waited between its
//! timestamp and the acknowledgement.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aires::transport::{EncodedBatch, SendFuture, Transport};
use aires_proto::v1 as proto;
use parking_lot::Mutex;
use prost::Message;

/// At most this many latency samples are kept.
const MAX_SAMPLES: usize = 200_000;

/// Collects latency samples from the transports it wraps.
#[derive(Clone, Debug)]
pub struct AckTimer {
    every: u64,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    batches: u64,
    samples: Vec<f64>,
}

/// A transport whose acknowledgements are timed.
#[derive(Debug)]
pub struct Timed<T> {
    inner: T,
    timer: AckTimer,
}

impl AckTimer {
    /// Samples one acknowledged batch in `every`.
    pub fn new(every: u64) -> Self {
        AckTimer {
            every: every.max(1),
            state: Arc::default(),
        }
    }

    /// Wraps `inner` so its acknowledgements are timed here.
    pub fn wrap<T: Transport>(&self, inner: T) -> Timed<T> {
        Timed {
            inner,
            timer: self.clone(),
        }
    }

    /// p50, p90, p99 in milliseconds, and the sample count.
    pub fn percentiles(&self) -> (f64, f64, f64, usize) {
        let mut samples = self.state.lock().samples.clone();
        samples.sort_by(f64::total_cmp);
        let at = |p: f64| {
            if samples.is_empty() {
                return 0.0;
            }
            let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            (samples[rank - 1] * 10.0).round() / 10.0
        };
        (at(0.5), at(0.9), at(0.99), samples.len())
    }

    fn record(&self, payload: &[u8]) {
        let sample = {
            let mut state = self.state.lock();
            state.batches += 1;
            state.batches.is_multiple_of(self.every) && state.samples.len() < MAX_SAMPLES
        };
        if !sample {
            return;
        }
        let Ok(batch) = proto::EventBatch::decode(payload) else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let waits = batch
            .events
            .iter()
            .map(|e| now.saturating_sub(e.timestamp_unix_nano) as f64 / 1e6);
        self.state.lock().samples.extend(waits);
    }
}

impl<T: Transport> Transport for Timed<T> {
    fn send(&self, batch: EncodedBatch) -> SendFuture<'_> {
        let payload = batch.payload.clone();
        let sent = self.inner.send(batch);
        Box::pin(async move {
            let result = sent.await;
            if result.is_ok() {
                self.timer.record(&payload);
            }
            result
        })
    }
}
