//! Error details attached to an event: type, message, cause chain, backtrace.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::error::Error;

use crate::value::Str;

/// What an event records about an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorInfo {
    /// The error's type name, for example `"std::io::error::Error"`; empty
    /// when the type is not known (an error given as `&dyn Error` or
    /// `Box<dyn Error>`).
    pub type_name: Str,
    /// The error's `Display` text.
    pub message: String,
    /// The `Display` text of each `source()`, outermost first.
    pub chain: Vec<String>,
    /// A backtrace, when one was captured.
    pub backtrace: Option<String>,
}

impl ErrorInfo {
    /// Records `error`, its `source()` chain and, when `RUST_BACKTRACE` or
    /// `RUST_LIB_BACKTRACE` enables it, a backtrace of the place the event is
    /// emitted (std offers no stable way to read the error's own).
    pub fn from_error<E: Error + ?Sized>(error: &E) -> Self {
        let mut chain = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push(cause.to_string());
            source = cause.source();
        }
        let backtrace = Backtrace::capture();
        ErrorInfo {
            type_name: Str::Borrowed(known_type_name::<E>()),
            message: error.to_string(),
            chain,
            backtrace: (backtrace.status() == BacktraceStatus::Captured)
                .then(|| backtrace.to_string()),
        }
    }

    /// An error described by its parts, for bindings whose errors are not
    /// Rust errors.
    pub fn new(type_name: impl Into<Str>, message: impl Into<String>) -> Self {
        ErrorInfo {
            type_name: type_name.into(),
            message: message.into(),
            ..ErrorInfo::default()
        }
    }
}

/// `E`'s name, or "" when `E` erases the error's type (`dyn Error`,
/// `Arc<dyn Error>`): that name would be the same for every
/// error, one value lumping them all together where views group by type.
fn known_type_name<E: ?Sized>() -> &'static str {
    const POINTERS: [&str; 5] = [
        "&mut ",
        "&",
        "alloc::boxed::Box<",
        "alloc::sync::Arc<",
        "alloc::rc::Rc<",
    ];
    let mut name = std::any::type_name::<E>();
    // The type behind references and pointers: `&io::Error` and
    // `Arc<io::Error>` are grouped as `std::io::error::Error`.
    while let Some(pointer) = POINTERS.iter().find(|p| name.starts_with(**p)) {
        name = &name[pointer.len()..];
        if pointer.ends_with('<') {
            name = name.strip_suffix('>').unwrap_or(name);
        }
    }
    if name.starts_with("dyn ") {
        ""
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("payment failed")
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn records_type_message_and_chain() {
        let inner = std::io::Error::new(std::io::ErrorKind::TimedOut, "gateway timed out");
        let info = ErrorInfo::from_error(&Outer(inner));
        assert!(info.type_name.ends_with("Outer"), "{}", info.type_name);
        assert_eq!(info.message, "payment failed");
        assert_eq!(info.chain, vec!["gateway timed out".to_string()]);
    }

    #[test]
    fn an_erased_type_is_left_empty_and_its_message_and_chain_kept() {
        let outer = Outer(std::io::Error::other("gateway timed out"));
        let erased: &(dyn Error + 'static) = &outer;
        let info = ErrorInfo::from_error(erased);
        assert_eq!(info.type_name, "");
        assert_eq!(info.message, "payment failed");
        assert_eq!(info.chain, ["gateway timed out"]);
        let boxed: Box<dyn Error + Send + Sync> = Box::new(std::io::Error::other("x"));
        assert_eq!(ErrorInfo::from_error(&*boxed).type_name, "");
        let shared: std::sync::Arc<dyn Error> = std::sync::Arc::new(std::io::Error::other("x"));
        assert_eq!(ErrorInfo::from_error(&shared).type_name, "");
        let referenced: &dyn Error = &outer;
        assert_eq!(ErrorInfo::from_error(&referenced).type_name, "");
        let send: std::sync::mpsc::SendError<Box<dyn std::any::Any + Send>> =
            std::sync::mpsc::SendError(Box::new(1));
        let name = ErrorInfo::from_error(&send).type_name;
        assert!(name.contains("SendError<"), "{name}");
        let io = std::io::Error::other("z");
        let behind: &std::io::Error = &io;
        assert_eq!(
            ErrorInfo::from_error(&behind).type_name,
            "std::io::error::Error"
        );
        let shared_io = std::sync::Arc::new(std::io::Error::other("z"));
        assert_eq!(
            ErrorInfo::from_error(&shared_io).type_name,
            "std::io::error::Error"
        );
        // A concrete type keeps its name.
        assert_eq!(
            ErrorInfo::from_error(&std::io::Error::other("y")).type_name,
            "std::io::error::Error"
        );
    }
}
