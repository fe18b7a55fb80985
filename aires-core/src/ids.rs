//! W3C trace and span ids.

use std::fmt;
use std::num::{NonZeroU128, NonZeroU64};
use std::str::FromStr;

/// The error returned when a trace or span id does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The text is not `expected` hexadecimal digits.
    #[error("{kind} must be {expected} hex digits, got {got:?}")]
    BadHex {
        /// "trace id" or "span id".
        kind: &'static str,
        /// How many hex digits the id has.
        expected: usize,
        /// The rejected text.
        got: String,
    },
    /// All-zero ids are invalid in W3C Trace Context.
    #[error("{0} must not be all zeros")]
    Zero(&'static str),
}

/// A 16-byte W3C trace id. All-zero is invalid, which lets `Option<TraceId>`
/// stay 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(NonZeroU128);

/// An 8-byte W3C span id. All-zero is invalid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

macro_rules! id_type {
    ($ty:ident, $int:ty, $nonzero:ty, $bytes:literal, $kind:literal) => {
        impl $ty {
            /// The id from its big-endian bytes; `None` when all zero.
            pub const fn from_bytes(bytes: [u8; $bytes]) -> Option<Self> {
                match <$nonzero>::new(<$int>::from_be_bytes(bytes)) {
                    Some(v) => Some($ty(v)),
                    None => None,
                }
            }

            /// The id from an integer; `None` when zero.
            pub const fn from_int(value: $int) -> Option<Self> {
                match <$nonzero>::new(value) {
                    Some(v) => Some($ty(v)),
                    None => None,
                }
            }

            /// The id's big-endian bytes, as sent on the wire.
            pub const fn to_bytes(self) -> [u8; $bytes] {
                self.0.get().to_be_bytes()
            }

            /// Parses lower- or upper-case hex of exactly the right length.
            pub fn from_hex(text: &str) -> Result<Self, IdError> {
                let bad = || IdError::BadHex {
                    kind: $kind,
                    expected: $bytes * 2,
                    got: text.to_owned(),
                };
                if text.len() != $bytes * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad());
                }
                let value = <$int>::from_str_radix(text, 16).map_err(|_| bad())?;
                Self::from_int(value).ok_or(IdError::Zero($kind))
            }
        }

        impl FromStr for $ty {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_hex(s)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:0width$x}", self.0.get(), width = $bytes * 2)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self)
            }
        }

        impl From<$nonzero> for $ty {
            fn from(v: $nonzero) -> Self {
                $ty(v)
            }
        }
    };
}

id_type!(TraceId, u128, NonZeroU128, 16, "trace id");
id_type!(SpanId, u64, NonZeroU64, 8, "span id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let t = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        assert_eq!(t.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.to_bytes()[0], 0x4b);
        let s: SpanId = "00f067aa0ba902b7".parse().unwrap();
        assert_eq!(s.to_string(), "00f067aa0ba902b7");
    }

    #[test]
    fn rejects_bad_ids_with_reasons() {
        let err = TraceId::from_hex("abc").unwrap_err();
        assert!(err.to_string().contains("32 hex digits"), "{err}");
        assert!(SpanId::from_hex("00f067aa0ba902bz").is_err());
        assert!(SpanId::from_hex("+0f067aa0ba902b7").is_err());
        assert_eq!(
            SpanId::from_hex("0000000000000000"),
            Err(IdError::Zero("span id"))
        );
        assert_eq!(TraceId::from_bytes([0; 16]), None);
    }

    #[test]
    fn option_of_id_costs_no_space() {
        assert_eq!(std::mem::size_of::<Option<TraceId>>(), 16);
        assert_eq!(std::mem::size_of::<Option<SpanId>>(), 8);
    }
}
