//! Typed attribute values.

use std::borrow::Cow;
use std::fmt;

/// Text that is either `'static` (free to carry) or owned. String literals
/// in the macros become `Cow::Borrowed`, so they cost no allocation.
pub type Str = Cow<'static, str>;

/// A typed attribute value. These are the types the wire format and the
/// ClickHouse schema keep apart (one typed map per kind).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// UTF-8 text.
    Str(Str),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer (kept apart so `u64::MAX` survives).
    U64(u64),
    /// A float, including NaN and the infinities.
    F64(f64),
    /// A boolean.
    Bool(bool),
}

impl Value {
    /// A `'static` string value; `const`, so it can live in statics.
    pub const fn from_static(s: &'static str) -> Value {
        Value::Str(Cow::Borrowed(s))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::I64(v) => v.fmt(f),
            Value::U64(v) => v.fmt(f),
            Value::F64(v) => v.fmt(f),
            Value::Bool(v) => v.fmt(f),
        }
    }
}

macro_rules! value_from {
    ($variant:ident: $($ty:ty),*) => {$(
        impl From<$ty> for Value {
            #[inline]
            fn from(v: $ty) -> Self {
                Value::$variant(v.into())
            }
        }
    )*};
}

value_from!(I64: i8, i16, i32, i64);
value_from!(U64: u8, u16, u32, u64);
value_from!(F64: f32, f64);
value_from!(Bool: bool);

impl From<isize> for Value {
    #[inline]
    fn from(v: isize) -> Self {
        Value::I64(v as i64)
    }
}

impl From<usize> for Value {
    #[inline]
    fn from(v: usize) -> Self {
        Value::U64(v as u64)
    }
}

impl From<String> for Value {
    #[inline]
    fn from(v: String) -> Self {
        Value::Str(Cow::Owned(v))
    }
}

/// Borrowed text is copied, since the event outlives the borrow. Use a
/// string literal (or `Cow::Borrowed`) to avoid the copy.
impl From<&str> for Value {
    #[inline]
    fn from(v: &str) -> Self {
        Value::Str(Cow::Owned(v.to_owned()))
    }
}

impl From<&String> for Value {
    #[inline]
    fn from(v: &String) -> Self {
        Value::Str(Cow::Owned(v.clone()))
    }
}

impl From<Str> for Value {
    #[inline]
    fn from(v: Str) -> Self {
        Value::Str(v)
    }
}

impl From<char> for Value {
    fn from(v: char) -> Self {
        Value::Str(Cow::Owned(v.to_string()))
    }
}

macro_rules! value_from_ref {
    ($($ty:ty),*) => {$(
        impl From<&$ty> for Value {
            #[inline]
            fn from(v: &$ty) -> Self {
                (*v).into()
            }
        }
    )*};
}

value_from_ref!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64, bool);

/// An attribute: a key and its typed value.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    /// The field name, for example `"order_id"` or `"user.email"`.
    pub key: Str,
    /// The typed value.
    pub value: Value,
}

impl Attribute {
    /// An attribute from anything that converts into a key and a value.
    #[inline]
    pub fn new(key: impl Into<Str>, value: impl Into<Value>) -> Self {
        Attribute {
            key: key.into(),
            value: value.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_keep_their_signedness() {
        assert_eq!(Value::from(-3i8), Value::I64(-3));
        assert_eq!(Value::from(u64::MAX), Value::U64(u64::MAX));
        assert_eq!(Value::from(7usize), Value::U64(7));
        assert_eq!(Value::from(&5u16), Value::U64(5));
    }

    #[test]
    fn strings_borrow_only_when_static() {
        assert!(matches!(
            Value::from_static("x"),
            Value::Str(Cow::Borrowed("x"))
        ));
        let owned = String::from("y");
        assert!(matches!(
            Value::from(owned.as_str()),
            Value::Str(Cow::Owned(_))
        ));
        assert_eq!(Value::from(owned).to_string(), "y");
    }

    #[test]
    fn value_stays_small() {
        // The niche in Cow lets the enum tag hide inside the string; a value
        // is three words, an attribute six. The event's inline capacity is
        // sized with this in mind.
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(std::mem::size_of::<Attribute>(), 48);
    }
}
