//! The protobuf wire format, read as prost reads it: varints, keys,
//! length-delimited fields, UTF-8 text, and skipping unknown fields.

use super::DecodeError;

/// prost's limit on nested messages (and groups), kept so that both accept
/// the same input.
pub(crate) const RECURSION_LIMIT: u32 = 100;

// Wire types.
pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LENGTH_DELIMITED: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// `bytes` as text, or the error prost gives for text that is not UTF-8.
/// Short ASCII text (most of it here) is recognised without a call.
#[inline(always)]
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    if short_ascii(bytes) || (bytes.len() <= 256 && bytes.is_ascii()) {
        // SAFETY: ASCII is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes)
        .map_err(|_| DecodeError::new("invalid string value: data is not UTF-8 encoded"))
}

/// Whether `bytes` is at most 16 bytes of ASCII, checked a word at a time
/// (two overlapping loads cover any length from 8 to 16, or from 4 to 8).
#[inline(always)]
pub(crate) fn short_ascii(bytes: &[u8]) -> bool {
    let n = bytes.len();
    let high = if n >= 8 {
        if n > 16 {
            return false;
        }
        let head = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let tail = u64::from_le_bytes(bytes[n - 8..].try_into().expect("8 bytes"));
        (head | tail) & 0x8080_8080_8080_8080
    } else if n >= 4 {
        let head = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
        let tail = u32::from_le_bytes(bytes[n - 4..].try_into().expect("4 bytes"));
        u64::from((head | tail) & 0x8080_8080)
    } else {
        bytes.iter().fold(0, |high, &b| high | u64::from(b & 0x80))
    };
    high == 0
}

/// Reads a varint, as prost does (at most ten bytes).
#[inline(always)]
pub(crate) fn varint(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    match *buf {
        [byte, ref rest @ ..] if *byte < 0x80 => {
            *buf = rest;
            Ok(u64::from(*byte))
        }
        [low, high, ref rest @ ..] if *high < 0x80 => {
            *buf = rest;
            Ok(u64::from(low & 0x7f) | u64::from(*high) << 7)
        }
        _ => long_varint(buf),
    }
}

#[cold]
fn long_varint(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for (i, &byte) in buf.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                break;
            }
            *buf = &buf[i + 1..];
            return Ok(value);
        }
    }
    Err(DecodeError::new("invalid varint"))
}

/// Reads a field key: the field number and the wire type.
#[inline(always)]
pub(crate) fn key(buf: &mut &[u8]) -> Result<(u32, u8), DecodeError> {
    let key = varint(buf)?;
    if key > u64::from(u32::MAX) {
        return Err(DecodeError::new(format!("invalid key value: {key}")));
    }
    let wire = (key & 7) as u8;
    if wire > FIXED32 {
        return Err(DecodeError::new(format!("invalid wire type value: {wire}")));
    }
    let tag = (key >> 3) as u32;
    if tag == 0 {
        return Err(DecodeError::new("invalid tag value: 0"));
    }
    Ok((tag, wire))
}

#[inline(always)]
pub(crate) fn expect(wire: u8, expected: u8) -> Result<(), DecodeError> {
    if wire == expected {
        Ok(())
    } else {
        Err(DecodeError::new(format!(
            "invalid wire type: {wire} (expected {expected})"
        )))
    }
}

#[inline(always)]
pub(crate) fn length_delimited<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let len = varint(buf)?;
    if len > buf.len() as u64 {
        return Err(DecodeError::new("buffer underflow"));
    }
    let (value, rest) = buf.split_at(len as usize);
    *buf = rest;
    Ok(value)
}

#[inline(always)]
pub(crate) fn fixed64(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    let Some((value, rest)) = buf.split_first_chunk::<8>() else {
        return Err(DecodeError::new("buffer underflow"));
    };
    *buf = rest;
    Ok(u64::from_le_bytes(*value))
}

#[inline(always)]
pub(crate) fn bytes_field<'a>(wire: u8, buf: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    expect(wire, LENGTH_DELIMITED)?;
    length_delimited(buf)
}

#[inline(always)]
pub(crate) fn string_field<'a>(wire: u8, buf: &mut &'a [u8]) -> Result<&'a str, DecodeError> {
    utf8(bytes_field(wire, buf)?)
}

#[inline(always)]
pub(crate) fn varint_field(wire: u8, buf: &mut &[u8]) -> Result<u64, DecodeError> {
    expect(wire, VARINT)?;
    varint(buf)
}

/// Skips a field this decoder does not know, as prost does (`depth` is
/// what is left of [`RECURSION_LIMIT`]).
pub(crate) fn skip(wire: u8, tag: u32, buf: &mut &[u8], depth: u32) -> Result<(), DecodeError> {
    if depth == 0 {
        return Err(DecodeError::new("recursion limit reached"));
    }
    let len = match wire {
        VARINT => varint(buf).map(|_| 0)?,
        FIXED64 => 8,
        LENGTH_DELIMITED => varint(buf)?,
        START_GROUP => loop {
            let (inner_tag, inner_wire) = key(buf)?;
            if inner_wire == END_GROUP {
                if inner_tag != tag {
                    return Err(DecodeError::new("unexpected end group tag"));
                }
                break 0;
            }
            skip(inner_wire, inner_tag, buf, depth - 1)?;
        },
        END_GROUP => return Err(DecodeError::new("unexpected end group tag")),
        _ => 4,
    };
    if len > buf.len() as u64 {
        return Err(DecodeError::new("buffer underflow"));
    }
    *buf = &buf[len as usize..];
    Ok(())
}
