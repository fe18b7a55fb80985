//! Reading a JavaScript string into a reused buffer: the fields text is
//! decoded and dropped within the call, so copying it into a fresh `String`
//! (which also measures its UTF-8 length first) is wasted work.

use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, TypeName, ValueType};
use napi::{sys, Error, Result, Status};

/// A JavaScript string argument, read lazily by [`JsText::read`]. Public
/// only because the `#[napi]` functions taking it are.
#[derive(Debug)]
pub struct JsText {
    env: sys::napi_env,
    value: sys::napi_value,
}

impl FromNapiValue for JsText {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        Ok(JsText { env, value })
    }
}

impl TypeName for JsText {
    fn type_name() -> &'static str {
        "String"
    }
    fn value_type() -> ValueType {
        ValueType::String
    }
}

/// Room V8 may leave unused when it stops before a multi-byte character.
const SLACK: usize = 4;

impl JsText {
    /// A string argument of the current call (read and checked by [`JsText::read`]).
    pub(crate) fn new(env: sys::napi_env, value: sys::napi_value) -> Self {
        JsText { env, value }
    }

    /// Reads the text into `buffer` (reused by the caller from call to
    /// call) and returns it.
    pub(crate) fn read<'b>(&self, buffer: &'b mut Vec<u8>) -> Result<&'b str> {
        buffer.clear();
        if buffer.capacity() < 256 {
            buffer.reserve(4096);
        }
        let mut written = self.read_into(buffer)?;
        if written + SLACK >= buffer.capacity() {
            // Perhaps cut short: size the buffer exactly and read again.
            let mut len = 0;
            // SAFETY: env and value come from the current call; a null
            // buffer asks for the length only.
            check(unsafe {
                sys::napi_get_value_string_utf8(self.env, self.value, ptr::null_mut(), 0, &mut len)
            })?;
            buffer.reserve(len + 1);
            written = self.read_into(buffer)?;
        }
        // SAFETY: V8 wrote `written` bytes.
        unsafe { buffer.set_len(written) };
        std::str::from_utf8(buffer)
            .map_err(|e| Error::new(Status::InvalidArg, format!("invalid UTF-8: {e}")))
    }

    fn read_into(&self, buffer: &mut Vec<u8>) -> Result<usize> {
        let mut written = 0;
        // SAFETY: the buffer has `capacity` writable bytes; V8 writes at most
        // that many, including the terminating NUL.
        check(unsafe {
            sys::napi_get_value_string_utf8(
                self.env,
                self.value,
                buffer.as_mut_ptr().cast(),
                buffer.capacity(),
                &mut written,
            )
        })?;
        Ok(written)
    }
}

fn check(status: sys::napi_status) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(
            Status::StringExpected,
            "expected a string (the message, or the fields as JSON text)",
        ))
    }
}
