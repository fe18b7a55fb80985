//! Which gRPC failures are worth retrying, and which may have delivered
//! the batch.

use std::error::Error as _;

use aires_core::transport::TransportError;
use tonic::{Code, Status};

/// Maps a failed call to a transport error, deciding whether the batch may
/// have reached the collector:
///
/// - a status the collector sent is its word: `UNAVAILABLE` and
///   `RESOURCE_EXHAUSTED` say it did not take the batch (retryable),
///   `DEADLINE_EXCEEDED`, `ABORTED`, `CANCELLED`, `UNKNOWN` and `INTERNAL`
///   leave it unknown (retryable), the rest refuse it (permanent);
/// - a failure of the connection itself is "not delivered" only when the
///   connection was never made; a connection lost after the request went
///   out, or a deadline that passed, leaves the outcome unknown.
pub(crate) fn call_error(status: &Status) -> TransportError {
    if status.source().is_some() && never_connected(status) {
        return TransportError::retryable(format!("collector unreachable: {}", status.message()))
            .with_source(Status::new(status.code(), status.message().to_owned()));
    }
    let from_connection = status.source().is_some();
    match status_to_error(status) {
        error if error.is_retryable() && (from_connection || outcome_unknown(status.code())) => {
            TransportError::outcome_unknown(error.message().to_owned())
        }
        error => error,
    }
}

/// Codes that leave open whether the collector stored the batch.
fn outcome_unknown(code: Code) -> bool {
    matches!(
        code,
        Code::DeadlineExceeded | Code::Aborted | Code::Cancelled | Code::Unknown | Code::Internal
    )
}

/// Whether the failure's cause is a connection that was never made.
fn never_connected(status: &Status) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = status.source();
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused | AddrNotAvailable | NetworkUnreachable | HostUnreachable
            ) {
                return true;
            }
        }
        let text = error.to_string();
        if text.contains("tcp connect error") || text.contains("error trying to connect") {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Maps a gRPC status to a transport error the pipeline understands.
///
/// Retryable: `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `RESOURCE_EXHAUSTED`,
/// `ABORTED`, and the codes a broken connection produces (`CANCELLED`,
/// `UNKNOWN`, `INTERNAL`). Permanent: everything that says the request
/// itself is wrong (`INVALID_ARGUMENT`, `UNAUTHENTICATED`,
/// `PERMISSION_DENIED`, `UNIMPLEMENTED`, `FAILED_PRECONDITION`, ...), and a
/// `RESOURCE_EXHAUSTED` that says the message is too large (the SDK cuts
/// batches at `max_batch_bytes` so this does not happen).
pub(crate) fn status_to_error(status: &Status) -> TransportError {
    let message = if status.message().is_empty() {
        format!("collector answered {:?}", status.code())
    } else {
        format!(
            "collector answered {:?}: {}",
            status.code(),
            status.message()
        )
    };
    // A message over the collector's size limit fails the same way every
    // time: retrying it only delays the drop.
    let too_large =
        status.code() == Code::ResourceExhausted && status.message().contains("too large");
    if is_retryable(status.code()) && !too_large {
        TransportError::retryable(message)
    } else {
        TransportError::permanent(message)
    }
}

/// Whether a call that failed with `code` may succeed if tried again.
pub(crate) fn is_retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Cancelled
            | Code::Unknown
            | Code::Internal
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_codes_as_documented() {
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
            Code::Aborted,
        ] {
            assert!(
                status_to_error(&Status::new(code, "x")).is_retryable(),
                "{code:?}"
            );
        }
        for code in [
            Code::InvalidArgument,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Unimplemented,
            Code::FailedPrecondition,
        ] {
            assert!(
                !status_to_error(&Status::new(code, "x")).is_retryable(),
                "{code:?}"
            );
        }
        let too_large = Status::resource_exhausted(
            "batch too large: the collector accepts messages up to 4096 bytes",
        );
        assert!(!status_to_error(&too_large).is_retryable());
        let err = status_to_error(&Status::unauthenticated("missing API key"));
        assert!(err.to_string().contains("missing API key"), "{err}");
    }

    #[test]
    fn a_connection_never_made_is_not_delivered_and_one_lost_after_sending_is_unknown() {
        let refused = Status::from_error(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        let error = call_error(&refused);
        assert!(
            error.is_retryable() && !error.is_outcome_unknown(),
            "{error}"
        );
        let reset = Status::from_error(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        let error = call_error(&reset);
        assert!(
            error.is_retryable() && error.is_outcome_unknown(),
            "{error}"
        );
    }

    #[test]
    fn the_collectors_own_answer_says_whether_the_outcome_is_known() {
        let refused = call_error(&Status::unavailable("shutting down"));
        assert!(refused.is_retryable() && !refused.is_outcome_unknown());
        let busy = call_error(&Status::resource_exhausted("over the limit"));
        assert!(busy.is_retryable() && !busy.is_outcome_unknown());
        for code in [
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::Cancelled,
            Code::Unknown,
            Code::Internal,
        ] {
            let error = call_error(&Status::new(code, "x"));
            assert!(
                error.is_retryable() && error.is_outcome_unknown(),
                "{code:?}"
            );
        }
        let invalid = call_error(&Status::invalid_argument("bad batch"));
        assert!(!invalid.is_retryable() && !invalid.is_outcome_unknown());
    }
}
