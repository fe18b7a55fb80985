//! The hot path: one event from JavaScript into the core's pipeline.

use std::cell::RefCell;

use aires_core::{CallSite, ErrorInfo, Event, Level};
use napi::{Error, Result, Status};
use napi_derive::napi;

use crate::fields::{self, Fields};
use crate::keys::Keys;
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
#[derive(Debug, Default)]
struct Scratch {
    text: Vec<u8>,
    fields: Fields,
    keys: Keys,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn build(
    level_number: u32,
    message: JsText,
    fields_json: Option<JsText>,
) -> Result<aires_core::EventBuilder> {
    let level = level(level_number)?;
    SCRATCH.with(|scratch| {
        let Scratch { text, fields, keys } = &mut *scratch.borrow_mut();
        let mut builder = Event::builder(level, message.read(text)?.to_owned());
        if let Some(json) = fields_json {
            fields.clear();
            fields::decode(json.read(text)?, &mut builder, fields, keys).map_err(|e| {
                Error::new(
                    Status::InvalidArg,
                    format!("fields are not a JSON object: {e}"),
                )
            })?;
            for attribute in fields.drain(..) {
                builder.push_attr(attribute.key, attribute.value);
            }
        }
        Ok(builder)
    })
}

/// Emits one event: `level` 1 (trace) to 6 (fatal), the message, and the
/// fields as JSON text (see the `fields` module for the encoding). The
/// level check has already been done by the caller.
#[napi(
    catch_unwind,
    ts_args_type = "level: number, message: string, fieldsJson?: string | undefined | null"
)]
pub fn emit(level: u32, message: JsText, fields_json: Option<JsText>) -> Result<()> {
    build(level, message, fields_json)?.emit();
    Ok(())
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
    let mut builder = build(level, message, fields_json)?;
    if let Some(error) = error {
        let mut info = ErrorInfo::new(error.name, error.message);
        info.chain = error.causes;
        info.backtrace = error.stack;
        builder.set_error_info(info);
    }
    if let Some(site) = call_site {
        builder = builder.call_site_owned(CallSite {
            file: site.file.into(),
            line: site.line,
            module: "".into(),
            function: site.function.into(),
        });
    }
    builder.emit();
    Ok(())
}
