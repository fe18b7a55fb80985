//! Which gRPC failures are worth retrying.

use aires_core::TransportError;
use tonic::{Code, Status};

/// Maps a gRPC status to a transport error the pipeline understands.
///
/// Retryable: `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `RESOURCE_EXHAUSTED`,
/// `ABORTED`, and the codes a broken connection produces (`CANCELLED`,
/// `UNKNOWN`, `INTERNAL`). Permanent: everything that says the request
/// itself is wrong (`INVALID_ARGUMENT`, `UNAUTHENTICATED`,
/// `PERMISSION_DENIED`, `UNIMPLEMENTED`, `FAILED_PRECONDITION`, ...), and a
/// `RESOURCE_EXHAUSTED` that says the message is too large (the SDK cuts
/// batches at `max_batch_bytes` so this does not happen).
pub fn status_to_error(status: &Status) -> TransportError {
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
pub fn is_retryable(code: Code) -> bool {
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
}
