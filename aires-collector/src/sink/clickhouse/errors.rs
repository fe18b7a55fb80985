//! Which ClickHouse failures are worth retrying.

use clickhouse::error::Error;

use crate::sink::SinkError;

/// ClickHouse error codes that describe a passing condition.
const TRANSIENT_CODES: &[u32] = &[
    3,   // UNEXPECTED_END_OF_FILE (connection cut)
    159, // TIMEOUT_EXCEEDED
    164, // READONLY (a replica catching up)
    201, // QUOTA_EXCEEDED
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    203, // NO_FREE_CONNECTION
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    236, // ABORTED
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY
    252, // TOO_MANY_PARTS
    285, // TOO_FEW_LIVE_REPLICAS
    319, // UNKNOWN_STATUS_OF_INSERT
    394, // QUERY_WAS_CANCELLED
    425, // SYSTEM_ERROR
    439, // CANNOT_SCHEDULE_TASK
    999, // KEEPER_EXCEPTION
];

/// Transient or permanent, with ClickHouse's message.
pub fn classify(error: &Error) -> SinkError {
    let message = error.to_string();
    let transient = match error {
        Error::Network(_) | Error::TimedOut => true,
        Error::BadResponse(text) => match exception_code(text) {
            Some(code) => TRANSIENT_CODES.contains(&code),
            // No ClickHouse code: the HTTP status decides. A 4xx from a
            // proxy or a wrong URL will not fix itself (408 and 429 may);
            // a 5xx or anything else may be a server that is starting.
            None => match http_status(text) {
                Some(408 | 429) => true,
                Some(status) => !(400..500).contains(&status),
                None => true,
            },
        },
        _ => false,
    };
    if transient {
        SinkError::transient(message)
    } else {
        SinkError::permanent(message)
    }
}

/// The status of a code-less "NNN Reason" error text.
fn http_status(text: &str) -> Option<u16> {
    let digits: String = text
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (digits.len() == 3).then(|| digits.parse().ok()).flatten()
}

/// The `N` of `Code: N.` in a ClickHouse error text.
fn exception_code(text: &str) -> Option<u32> {
    let at = text.find("Code: ")? + "Code: ".len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::SinkErrorKind;

    fn kind(error: Error) -> SinkErrorKind {
        classify(&error).kind
    }

    #[test]
    fn sorts_failures_as_documented() {
        assert_eq!(kind(Error::TimedOut), SinkErrorKind::Transient);
        let too_many_parts = "Code: 252. DB::Exception: Too many parts (300)".to_string();
        assert_eq!(
            kind(Error::BadResponse(too_many_parts)),
            SinkErrorKind::Transient
        );
        let bare_503 = "503 Service Unavailable".to_string();
        assert_eq!(kind(Error::BadResponse(bare_503)), SinkErrorKind::Transient);
        let wrong_path = "404 Not Found".to_string();
        assert_eq!(
            kind(Error::BadResponse(wrong_path)),
            SinkErrorKind::Permanent
        );
        let throttled = "429 Too Many Requests".to_string();
        assert_eq!(
            kind(Error::BadResponse(throttled)),
            SinkErrorKind::Transient
        );
        let auth = "Code: 516. DB::Exception: default: Authentication failed".to_string();
        assert_eq!(kind(Error::BadResponse(auth)), SinkErrorKind::Permanent);
        let no_column = "Code: 16. DB::Exception: No such column foo".to_string();
        assert_eq!(
            kind(Error::BadResponse(no_column)),
            SinkErrorKind::Permanent
        );
        assert_eq!(
            kind(Error::SchemaMismatch("column x is String".into())),
            SinkErrorKind::Permanent
        );
    }
}
