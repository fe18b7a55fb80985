//! The two other ways of passing fields across the boundary that
//! `bench/crossing.js` measures against the JSON string of [`crate::emit`]:
//! the object read property by property, and flat key / value arrays. They
//! build the same event and are kept only so the measurement can be
//! repeated; the TypeScript layer does not use them.

use aires_core::{Event, Value};
use napi::bindgen_prelude::{Either3, JsObjectValue, Object};
use napi::Result;
use napi_derive::napi;

fn value(v: Either3<String, f64, bool>) -> Value {
    match v {
        Either3::A(s) => Value::Str(s.into()),
        Either3::B(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Value::I64(n as i64),
        Either3::B(n) => Value::F64(n),
        Either3::C(b) => Value::Bool(b),
    }
}

fn level(level: u32) -> aires_core::Level {
    aires_core::Level::ALL[(level as usize).clamp(1, 6) - 1]
}

/// Fields as a JavaScript object, read property by property.
#[napi(js_name = "_emitObject")]
pub fn emit_object(level_number: u32, message: String, fields: Object) -> Result<()> {
    let mut builder = Event::builder(level(level_number), message);
    let names = fields.get_property_names()?;
    for i in 0..names.get_array_length()? {
        let key: String = names.get_element(i)?;
        let v: Either3<String, f64, bool> = fields.get_named_property(&key)?;
        builder.push_attr(key, value(v));
    }
    builder.emit();
    Ok(())
}

/// Fields as two flat arrays, keys and values.
#[napi(js_name = "_emitFlat")]
pub fn emit_flat(
    level_number: u32,
    message: String,
    keys: Vec<String>,
    values: Vec<Either3<String, f64, bool>>,
) -> Result<()> {
    let mut builder = Event::builder(level(level_number), message);
    for (key, v) in keys.into_iter().zip(values) {
        builder.push_attr(key, value(v));
    }
    builder.emit();
    Ok(())
}
