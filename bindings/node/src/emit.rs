//! The hot path: one event from JavaScript into the core's pipeline.

use std::cell::RefCell;
use std::{panic, ptr};

use aires_core::{CallSite, ErrorInfo, EventBuilder, Level};
use napi::bindgen_prelude::Object;
use napi::{sys, Env, Error, JsError, JsTypeError, JsValue, Result, Status};
use napi_derive::napi;

use crate::encoded::{self, FieldKeys};
use crate::fields::{self, Decoded};
use crate::keys::Interner;
use crate::text::JsText;

fn level(level: u32) -> Result<Level> {
    Level::ALL
        .get((level as usize).wrapping_sub(1))
        .copied()
        .ok_or_else(|| {
            Error::new(
                Status::InvalidArg,
                format!("level must be 1..=6, got {level}"),
            )
        })
}

/// What one call needs besides its arguments, kept per thread and reused.
#[derive(Debug)]
struct Scratch {
    text: Vec<u8>,
    fields: Decoded,
    keys: Interner,
    messages: Interner,
    /// The ids of field keys in encoded fields (see [`crate::encoded`]).
    field_keys: FieldKeys,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        text: Vec::new(),
        fields: Decoded::default(),
        keys: Interner::keys(),
        messages: Interner::messages(),
        field_keys: FieldKeys::default(),
    });
}

/// The fields argument of a call.
enum FieldsArg<'a> {
    None,
    /// JSON text (see [`crate::fields`]).
    Json(JsText),
    /// Bytes the TypeScript layer encoded (see [`crate::encoded`]).
    Encoded(&'a [u8]),
}

/// Decodes the arguments, then builds the event in the core's queue with
/// `finish` adding what else the call has. Malformed fields are an error
/// before any event is started.
fn emit_event(
    level_number: u32,
    message: JsText,
    fields_arg: FieldsArg<'_>,
    finish: impl FnOnce(&mut EventBuilder),
) -> Result<()> {
    let level = level(level_number)?;
    SCRATCH.with(|scratch| {
        let Scratch {
            text,
            fields,
            keys,
            messages,
            field_keys,
        } = &mut *scratch.borrow_mut();
        // Empty unless a panic cut the previous call short.
        fields.clear();
        let result =
            (|| {
                match fields_arg {
                    FieldsArg::None => {}
                    FieldsArg::Json(json) => fields::decode(json.read(text)?, fields, keys)
                        .map_err(|e| {
                            Error::new(
                                Status::InvalidArg,
                                format!("fields are not a JSON object: {e}"),
                            )
                        })?,
                    FieldsArg::Encoded(bytes) => encoded::decode(bytes, field_keys, fields)
                        .map_err(|encoded::Malformed(why, at)| {
                            Error::new(
                                Status::InvalidArg,
                                format!("encoded fields are malformed at byte {at}: {why}"),
                            )
                        })?,
                }
                let message = messages.at(0, message.read(text)?);
                aires_core::__private::dispatch_with(level, message, |builder| {
                    fields.apply(builder);
                    finish(builder);
                });
                Ok(())
            })();
        // The event may have been dropped without `apply` running (no
        // pipeline, a full queue), or refused half decoded: what is left
        // belongs to no later event.
        fields.clear();
        result
    })
}

/// The id of a field key in encoded fields, for the calling thread; -1 when
/// the key must go as JSON instead (reserved, longer than 64 bytes, or the
/// thread's 4096 ids are given out).
#[napi(catch_unwind)]
pub fn define_field_key(key: String) -> i32 {
    SCRATCH.with(|scratch| {
        let Scratch {
            keys, field_keys, ..
        } = &mut *scratch.borrow_mut();
        field_keys.define(&key, keys).map_or(-1, i32::from)
    })
}

/// Emits one event: `emit(level, message, fields?, length?)`, `level` 1
/// (trace) to 6 (fatal); the fields either as JSON text (see
/// [`crate::fields`]) or as an ArrayBuffer whose first `length` bytes hold
/// them encoded (see [`crate::encoded`]). The caller has already checked
/// the level against the threshold; this checks its range.
///
/// Registered by hand ([`register`]) rather than through `#[napi]`: the
/// generated wrapper sets up napi-rs' borrow-tracking scope on every call
/// (a shared allocation and several thread-local operations), about a
/// thousand instructions per event, for arguments that are never borrowed
/// past the call. This is the only function called once per event.
///
/// # Safety
///
/// Called by Node-API with the current call's `env` and `info`.
unsafe extern "C" fn emit_callback(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut argc = 4;
    let mut argv = [ptr::null_mut(); 4];
    // SAFETY: argv has room for argc values.
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    let outcome = if status != sys::Status::napi_ok {
        Err(Error::new(
            Status::InvalidArg,
            "emit: cannot read arguments",
        ))
    } else {
        // Missing arguments read as `undefined` (Node-API fills them).
        panic::catch_unwind(panic::AssertUnwindSafe(|| emit_args(env, argv)))
            .unwrap_or_else(|p| Err(napi::bindgen_prelude::panic_to_error(p)))
    };
    if let Err(error) = outcome {
        let type_error = matches!(error.status, Status::InvalidArg | Status::StringExpected);
        // SAFETY: env is the current call's.
        unsafe {
            if type_error {
                JsTypeError::from(error).throw_into(env);
            } else {
                JsError::from(error).throw_into(env);
            }
        }
    }
    ptr::null_mut()
}

fn emit_args(
    env: sys::napi_env,
    [level, message, fields, length]: [sys::napi_value; 4],
) -> Result<()> {
    let level = integer(env, level, "level")?;
    let message = JsText::new(env, message);
    match value_type(env, fields)? {
        sys::ValueType::napi_undefined | sys::ValueType::napi_null => {
            emit_event(level, message, FieldsArg::None, |_| {})
        }
        sys::ValueType::napi_object => {
            let mut is_buffer = false;
            let mut data = ptr::null_mut();
            let mut size = 0;
            // A plain ArrayBuffer only: newer Node versions also answer
            // `napi_get_arraybuffer_info` for a SharedArrayBuffer, which
            // another thread could write while it is read here.
            // SAFETY: env and value come from the current call.
            let status = unsafe {
                match sys::napi_is_arraybuffer(env, fields, &mut is_buffer) {
                    sys::Status::napi_ok if is_buffer => {
                        sys::napi_get_arraybuffer_info(env, fields, &mut data, &mut size)
                    }
                    _ => sys::Status::napi_invalid_arg,
                }
            };
            if status != sys::Status::napi_ok {
                return Err(Error::new(
                    Status::InvalidArg,
                    "fields must be JSON text or an ArrayBuffer",
                ));
            }
            let length = integer(env, length, "length")? as usize;
            if length > size {
                return Err(Error::new(
                    Status::InvalidArg,
                    format!("length {length} is past the buffer's {size} bytes"),
                ));
            }
            let bytes = if length == 0 {
                &[][..]
            } else {
                // SAFETY: V8 keeps the buffer's `size` bytes at `data` for
                // the whole call: nothing here runs JavaScript that could
                // detach or resize it, no other thread can write a
                // (non-shared) ArrayBuffer, and `length <= size`.
                unsafe { std::slice::from_raw_parts(data.cast::<u8>(), length) }
            };
            emit_event(level, message, FieldsArg::Encoded(bytes), |_| {})
        }
        _ => emit_event(
            level,
            message,
            FieldsArg::Json(JsText::new(env, fields)),
            |_| {},
        ),
    }
}

/// An integer argument from 0 to `u32::MAX`, taken as it is (Node-API's
/// own `uint32` conversion would wrap `2 ** 32 + 3` to 3 and cut 3.9 to 3).
fn integer(env: sys::napi_env, value: sys::napi_value, what: &str) -> Result<u32> {
    let mut number = 0.0;
    // SAFETY: env and value come from the current call.
    let status = unsafe { sys::napi_get_value_double(env, value, &mut number) };
    if status == sys::Status::napi_ok
        && number.fract() == 0.0
        && (0.0..=f64::from(u32::MAX)).contains(&number)
    {
        Ok(number as u32)
    } else {
        Err(Error::new(
            Status::InvalidArg,
            format!("{what} must be an integer from 0 to 4294967295"),
        ))
    }
}

fn value_type(env: sys::napi_env, value: sys::napi_value) -> Result<sys::napi_valuetype> {
    let mut kind = 0;
    // SAFETY: env and value come from the current call.
    match unsafe { sys::napi_typeof(env, value, &mut kind) } {
        sys::Status::napi_ok => Ok(kind),
        _ => Err(Error::new(Status::InvalidArg, "cannot read an argument")),
    }
}

/// Adds [`emit_callback`] to the module's exports as `emit`.
#[napi(module_exports)]
pub fn register(exports: Object, env: Env) -> Result<()> {
    let mut function = ptr::null_mut();
    // SAFETY: the env of module registration; the name is a valid buffer.
    check(unsafe {
        sys::napi_create_function(
            env.raw(),
            c"emit".as_ptr(),
            // NAPI_AUTO_LENGTH: the name is NUL-terminated.
            -1,
            Some(emit_callback),
            ptr::null_mut(),
            &mut function,
        )
    })?;
    // SAFETY: as above; exports is the module's exports object.
    check(unsafe {
        sys::napi_set_named_property(env.raw(), exports.raw(), c"emit".as_ptr(), function)
    })
}

fn check(status: sys::napi_status) -> Result<()> {
    match status {
        sys::Status::napi_ok => Ok(()),
        _ => Err(Error::new(Status::GenericFailure, "cannot register emit")),
    }
}

/// An error as the TypeScript layer describes it.
#[napi(object)]
#[derive(Debug)]
pub struct ErrorInput {
    /// `error.name`, for example `TypeError`.
    pub name: String,
    /// `error.message`.
    pub message: String,
    /// `error.stack`, when there is one.
    pub stack: Option<String>,
    /// The `cause` chain, outermost first, each as `Name: message`.
    pub causes: Vec<String>,
}

/// Where the log call was made (opt-in, see `captureCallSite`).
#[napi(object)]
#[derive(Debug)]
pub struct CallSiteInput {
    pub file: String,
    pub line: u32,
    pub function: String,
}

/// [`emit`] with an error and/or a call site.
#[napi(
    catch_unwind,
    ts_args_type = "level: number, message: string, fieldsJson?: string | undefined | null, error?: ErrorInput | undefined | null, callSite?: CallSiteInput | undefined | null"
)]
pub fn emit_with(
    level: u32,
    message: JsText,
    fields_json: Option<JsText>,
    error: Option<ErrorInput>,
    call_site: Option<CallSiteInput>,
) -> Result<()> {
    let fields = fields_json.map_or(FieldsArg::None, FieldsArg::Json);
    emit_event(level, message, fields, |builder| {
        if let Some(error) = error {
            let mut info = ErrorInfo::new(error.name, error.message);
            info.chain = error.causes;
            info.backtrace = error.stack;
            builder.set_error_info(info);
        }
        if let Some(site) = call_site {
            builder.set_call_site_owned(CallSite::new(site.file, site.line, "", site.function));
        }
    })
}
