//! OpenTelemetry logs (OTLP) into the same `events` table: any
//! OpenTelemetry SDK can use the collector as its logs backend.
//!
//! - OTLP/gRPC: `opentelemetry.proto.collector.logs.v1.LogsService/Export`
//!   on the gRPC listener, beside `aires.v1.Collector` (one port, as the
//!   OpenTelemetry Collector serves 4317), behind the same API keys, TLS,
//!   message size limit and limit on calls in progress ([`grpc`]).
//! - OTLP/HTTP: `POST /v1/logs` with `application/x-protobuf` or
//!   `application/json` bodies, gzip or not, on `--otlp-http-listen`
//!   (4318 by convention; off unless set) ([`http`]).
//!
//! Both transcode a request into `aires.v1` batches ([`transcode`], in
//! one pass over its bytes) and submit them to the pipeline like any other
//! batch: the write-ahead log,
//! the memory budget (backpressure), the per-record checks and the rule
//! that a request is answered only after its rows are stored all apply.
//! A record the decoder refuses (a trace id that is not 16 bytes, ...) is
//! counted in `partial_success.rejected_log_records`, named in its
//! `error_message`, and its neighbours are stored.
//!
//! ## The mapping
//!
//! | OTLP | Aires column |
//! |---|---|
//! | resource `service.name` (the first, if repeated) | `service` (none: `unknown_service`) |
//! | resource `deployment.environment.name` (or the older `deployment.environment`) | `environment` |
//! | resource `telemetry.sdk.language`, `telemetry.sdk.version` | `sdk_name` (`otlp-<language>`, or `otlp`), `sdk_version` |
//! | `time_unix_nano`, else `observed_time_unix_nano`, else the time received | `timestamp` (a time before 2000 or more than an hour ahead is replaced by the time received and kept in attribute `aires.original_timestamp_ns`, as for every SDK) |
//! | `severity_number` 1–4, 5–8, 9–12, 13–16, 17–20, 21–24 | `severity` trace, debug, info, warn, error, fatal; without a number, the `severity_text`'s level name; else info |
//! | `severity_text` | attribute `severity_text` |
//! | `event_name` | attribute `event.name` |
//! | `body` | `message` (a string as it is; bytes as base64; any other value as JSON text) |
//! | `trace_id`, `span_id` | `trace_id`, `span_id`. A record whose id has another length than 16 / 8 bytes, or with an attribute whose key is empty, is refused and counted in the partial success (where OTLP lets a receiver read a malformed id as none, Aires refuses the record, so the fault is seen) |
//! | attribute `session.id` | `session_id` |
//! | attributes `exception.type`, `exception.message`, `exception.stacktrace` | `error_type`, `error_message`, `error_backtrace` |
//! | attributes `http.request.method`, `http.route`, `url.path`, `http.response.status_code`, `user_agent.original`, `client.address`, `server.address`, `url.scheme`, `http.request.body.size`, `http.response.body.size` (and their older names `http.method`, `http.target`, `http.status_code`, `http.user_agent`, `http.client_ip`, `http.host`, `http.scheme`, `http.request_content_length`, `http.response_content_length`); `http.duration_ms`, `http.server.request.duration` (seconds) | the `http_*` columns |
//! | attributes `code.file.path`, `code.line.number`, `code.function.name` (and `code.filepath`, `code.lineno`, `code.function`); `code.namespace`, else the scope's name | the call site's file, line, function, module |
//! | every other record attribute, the scope's attributes, the resource's other attributes | typed attributes: strings, ints, doubles and bools keep their type; bytes are base64 text, arrays and maps JSON text. On a repeated key the record's own wins over the scope's, which wins over the resource's |
//! | (nothing) | `id`: a UUID v7 per record, made from its batch's digest and the time received |
//!
//! ## Retries
//!
//! OTLP has no batch id, so a retried export is recognised by its bytes:
//! the batches a request becomes are a function of its bytes alone (see
//! [`transcode::transcode`]), their ids made from a hash of the whole
//! request. A retry with the same bytes (after decompression; over JSON,
//! the same JSON) from the same API key, while the first attempt is being
//! stored or among the last batches this collector stored for that key
//! (65,536), gets the first attempt's answer and is not stored again; a
//! request that was stored in part (one resource's batch stored, another's
//! store failed) stores only the rest. A request with a record that has
//! neither time nor observed time is the exception: its batches get fresh
//! ids, since two such requests with the same bytes may be two events.
//!
//! Beyond that window (a retry sent to another instance, or after a
//! restart, unless its batches are still in this collector's write-ahead
//! log) it is stored again: an OTLP batch is not looked up in the store's
//! ledger, since a first attempt cannot be told from a retry and a query
//! per batch would cost more than it saves. There OTLP is at-least-once.

pub mod grpc;
pub mod http;
pub mod json;
pub mod mapping;
pub mod transcode;
#[cfg(any(test, feature = "reference"))]
pub mod translate;

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use tokio::sync::watch;
use tonic::{Code, Status};

use crate::decode::EncodedBatch;
use crate::identity::Scope;
use crate::pipeline::{AckOutcome, Pipeline};
use crate::server::CountOnDrop;
use crate::telemetry::Metrics;

/// How many refused records an answer names in its `error_message`.
const NAMED_REJECTIONS: usize = 8;

/// The part OTLP/gRPC and OTLP/HTTP share: a request in, an answer out
/// once its records are stored.
#[derive(Clone, Debug)]
pub struct LogsIngest {
    pipeline: Pipeline,
    metrics: Arc<Metrics>,
    stopping: watch::Receiver<bool>,
    limits: transcode::Limits,
}

impl LogsIngest {
    /// An ingest feeding `pipeline`, refusing requests once `stopping`,
    /// for requests of at most `max_message_bytes`.
    pub fn new(
        pipeline: Pipeline,
        metrics: Arc<Metrics>,
        stopping: watch::Receiver<bool>,
        max_message_bytes: usize,
    ) -> Self {
        LogsIngest {
            pipeline,
            metrics,
            stopping,
            limits: transcode::Limits::for_messages_of(max_message_bytes),
        }
    }

    /// Stores the records of `request` (an encoded
    /// `ExportLogsServiceRequest`) and answers once they are stored: every
    /// record is stored, or counted in the partial success with why, or
    /// the error says nothing can be assumed stored (though records of an
    /// earlier resource may have been; see the module docs on retries).
    pub async fn export(
        &self,
        request: &[u8],
        scope: Scope,
    ) -> Result<ExportLogsServiceResponse, Status> {
        // A client that goes away before its answer is counted as such (a
        // failure is counted where it is answered).
        let cancelled = CountOnDrop::armed(self.metrics.clone());
        let answer = self.store(request, scope).await;
        cancelled.disarm();
        answer
    }

    async fn store(
        &self,
        request: &[u8],
        scope: Scope,
    ) -> Result<ExportLogsServiceResponse, Status> {
        if *self.stopping.borrow() {
            return Err(Status::unavailable(
                "the collector is shutting down; retry on another instance",
            ));
        }
        let received = now_ns();
        // A part at a time (the first pass checks the whole request): a
        // small request whose resource is copied into thousands of records
        // never holds more than a part of its events at once.
        // Its batches are submitted one after another (each waits for room
        // in the memory budget). Each answer is awaited beside the next
        // submissions, and gives its share of the budget back as soon as
        // it comes: a request bigger than the budget then waits for its
        // own first batches to be stored, rather than for itself.
        let mut pending = Vec::new();
        let mut part = Some(transcode::Part::default());
        // Records past the limit on a request's events: refused, and said.
        let mut refused_tail = None;
        while let Some(from) = part {
            let transcoded = transcode::transcode(request, self.limits, from)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            part = transcoded.next;
            if transcoded.refused > 0 {
                // Counted on every attempt: a refused record never becomes
                // an event, so no retry is answered for it from memory.
                let refused = transcoded.refused as u64;
                self.metrics.otlp_log_records_received.inc_by(refused);
                self.metrics.otlp_log_records_refused.inc_by(refused);
                refused_tail = Some(transcoded.refused);
            }
            let records: usize = transcoded.batches.iter().map(|b| b.records).sum();
            self.metrics
                .otlp_log_records_received
                .inc_by(records as u64);
            for batch in transcoded.batches {
                let encoded = EncodedBatch::scan(batch.encoded.into()).map_err(|e| {
                    Status::internal(format!("OTLP records did not transcode to a batch: {e}"))
                })?;
                let answer = self
                    .pipeline
                    .submit(encoded, scope, received as i64)
                    .await
                    .map_err(crate::server::submit_status)?;
                let outcome = tokio::spawn(async move { answer.answer().await.outcome });
                pending.push((batch.records, outcome));
            }
        }
        let mut rejected = 0i64;
        let mut reasons = Vec::new();
        // Records the reasons account for.
        let mut explained = 0usize;
        let mut first_record = 0usize;
        let mut failure = None;
        for (records, outcome) in pending {
            let outcome = outcome.await.unwrap_or_else(|_| AckOutcome::Failed {
                code: tonic::Code::Unavailable,
                message: "the collector stopped before storing this request".into(),
            });
            match outcome {
                AckOutcome::Stored {
                    rejected: count,
                    rejections,
                    ..
                } => {
                    rejected += i64::from(count);
                    for rejection in rejections {
                        if reasons.len() < NAMED_REJECTIONS {
                            reasons.push(format!(
                                "log record {}: {}",
                                first_record + rejection.index as usize,
                                rejection.reason
                            ));
                            explained += 1;
                        }
                    }
                }
                AckOutcome::Failed { code, message } => {
                    failure.get_or_insert(Status::new(code, message));
                }
            }
            first_record += records;
        }
        if let Some(status) = failure {
            return Err(status);
        }
        // The refused tail is said last, after the records refused in the
        // batches (named, then counted).
        let tail = refused_tail.map(|count| {
            let records = match count {
                1 => format!("log record {first_record}"),
                _ => format!("log records {first_record} to {}", first_record + count - 1),
            };
            rejected += count as i64;
            explained += count;
            format!(
                "{records}: not stored, the request's records come to more than {} bytes as \
                 events (a resource's attributes are copied into each of its records); send \
                 fewer records, or smaller resources, per request",
                self.limits.total_bytes
            )
        });
        let partial_success = (rejected > 0).then(|| {
            let more = (rejected as usize).saturating_sub(explained);
            let mut error_message = reasons.join("; ");
            if reasons.is_empty() && tail.is_none() {
                // A retry answered from the first attempt, which named them.
                error_message = format!(
                    "{more} log records refused (this request was taken before, and its first \
                     answer said why)"
                );
            } else if more > 0 {
                let and = if error_message.is_empty() {
                    ""
                } else {
                    "; and "
                };
                error_message.push_str(&format!("{and}{more} more refused"));
            }
            if let Some(tail) = tail {
                if !error_message.is_empty() {
                    error_message.push_str("; ");
                }
                error_message.push_str(&tail);
            }
            ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message,
            }
        });
        Ok(ExportLogsServiceResponse { partial_success })
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Whether a client may retry a request that failed with `code` (the OTLP
/// specification's retryable gRPC codes).
pub fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unavailable
            | Code::DataLoss
            | Code::ResourceExhausted
    )
}

#[cfg(test)]
mod tests {
    /// The mapping table is written twice, for users (README) and for
    /// readers of the code (these docs); they must say the same.
    #[test]
    fn the_readme_shows_the_mapping_table_of_these_docs() {
        let docs: Vec<&str> = include_str!("mod.rs")
            .lines()
            .filter_map(|line| line.strip_prefix("//! |"))
            .collect();
        let readme: Vec<&str> = include_str!("../../../README.md")
            .lines()
            .filter_map(|line| line.strip_prefix('|'))
            .collect();
        assert!(docs.len() > 10, "the table is found");
        let at = readme
            .windows(docs.len())
            .position(|rows| rows == docs.as_slice());
        assert!(
            at.is_some(),
            "README.md lacks the table of otlp/mod.rs, row for row"
        );
    }
}
