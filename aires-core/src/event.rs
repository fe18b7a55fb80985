//! The event and its builder.
//!
//! An [`Event`] is laid out so that the common case (a static message, a
//! static call site, ids and up to [`INLINE_ATTRIBUTES`] primitive or
//! static-string fields) lives entirely inline: building and enqueueing it
//! makes no heap allocation. Rarer parts (session id, tags, HTTP, error) sit
//! behind one optional box.

use std::error::Error;

use smallvec::SmallVec;

use crate::callsite::{CallSite, CallSiteRef};
use crate::clock;
use crate::error_info::ErrorInfo;
use crate::http::HttpInfo;
use crate::ids::{SpanId, TraceId};
use crate::level::Level;
use crate::uuid7::Uuid7;
use crate::value::{Attribute, Str, Value};

/// How many attributes an event holds without allocating.
pub const INLINE_ATTRIBUTES: usize = 8;

/// The attribute list of an event.
pub type Attributes = SmallVec<[Attribute; INLINE_ATTRIBUTES]>;

/// One structured event, ready to be enqueued.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub(crate) id: Uuid7,
    pub(crate) timestamp_unix_nanos: u64,
    pub(crate) level: Level,
    pub(crate) message: Str,
    pub(crate) call_site: Option<CallSiteRef>,
    pub(crate) trace_id: Option<TraceId>,
    pub(crate) span_id: Option<SpanId>,
    pub(crate) attributes: Attributes,
    pub(crate) extras: Option<Box<Extras>>,
}

/// The parts of an event that most events do not have.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Extras {
    pub(crate) session_id: Option<Str>,
    pub(crate) tags: Vec<Str>,
    pub(crate) http: Option<HttpInfo>,
    pub(crate) error: Option<ErrorInfo>,
}

impl Event {
    /// Starts an event now: takes the timestamp and a fresh UUID v7.
    ///
    /// ```
    /// use aires_core::{Event, HttpInfo, Level, TraceId};
    ///
    /// let event = Event::builder(Level::Warn, "slow request")
    ///     .attr("ms", 812)
    ///     .tag("checkout")
    ///     .trace_id(TraceId::from_int(0xabc))
    ///     .http(HttpInfo::new("GET", "/orders").status(200))
    ///     .build();
    /// assert_eq!(event.message(), "slow request");
    /// assert_eq!(event.attributes().len(), 1);
    /// ```
    #[inline(always)]
    pub fn builder(level: Level, message: impl Into<Str>) -> EventBuilder {
        let timestamp_unix_nanos = clock::now_unix_nanos();
        EventBuilder {
            event: Event {
                id: Uuid7::generate(timestamp_unix_nanos),
                timestamp_unix_nanos,
                level,
                message: message.into(),
                call_site: None,
                trace_id: None,
                span_id: None,
                attributes: SmallVec::new(),
                extras: None,
            },
        }
    }

    /// Starts an event now, like [`Event::builder`], writing it field by
    /// field at `event` (a queue slot) instead of returning it, so it is
    /// not built elsewhere and then copied.
    ///
    /// # Safety
    /// `event` must be valid for writes and hold no event (whatever it
    /// holds is overwritten, not dropped).
    #[inline(always)]
    pub(crate) unsafe fn write_new(event: *mut Event, level: Level, message: Str) {
        let timestamp_unix_nanos = clock::now_unix_nanos();
        // A struct literal, so that a field added to `Event` and forgotten
        // here is a compile error; the write is built in place (the same
        // instructions per event as field-by-field writes, see BENCHMARKS.md).
        // SAFETY: the caller gives a pointer valid for writes; whatever it
        // held is overwritten, not dropped.
        unsafe {
            event.write(Event {
                id: Uuid7::generate(timestamp_unix_nanos),
                timestamp_unix_nanos,
                level,
                message,
                call_site: None,
                trace_id: None,
                span_id: None,
                attributes: SmallVec::new(),
                extras: None,
            });
        }
    }

    /// About how many bytes this event holds, inline and on the heap (for
    /// the budget of [`OverflowPolicy::Grow`](crate::OverflowPolicy)).
    pub(crate) fn footprint(&self) -> usize {
        fn owned(s: &Str) -> usize {
            match s {
                std::borrow::Cow::Owned(s) => s.capacity(),
                std::borrow::Cow::Borrowed(_) => 0,
            }
        }
        let spilled = if self.attributes.spilled() {
            self.attributes.capacity() * std::mem::size_of::<Attribute>()
        } else {
            0
        };
        let attributes: usize = self
            .attributes
            .iter()
            .map(|a| {
                owned(&a.key)
                    + match &a.value {
                        Value::Str(s) => owned(s),
                        _ => 0,
                    }
            })
            .sum();
        // Extras (HTTP, error, tags) are rare; counted at a round 1 KiB.
        let extras = if self.extras.is_some() { 1024 } else { 0 };
        std::mem::size_of::<Event>() + owned(&self.message) + spilled + attributes + extras
    }

    /// The event's UUID v7.
    pub fn id(&self) -> Uuid7 {
        self.id
    }

    /// Creation time, nanoseconds since the Unix epoch.
    pub fn timestamp_unix_nanos(&self) -> u64 {
        self.timestamp_unix_nanos
    }

    /// The severity.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The formatted message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the event was emitted, if known.
    pub fn call_site(&self) -> Option<&CallSite> {
        self.call_site.as_deref()
    }

    /// The W3C trace id, if set.
    pub fn trace_id(&self) -> Option<TraceId> {
        self.trace_id
    }

    /// The W3C span id, if set.
    pub fn span_id(&self) -> Option<SpanId> {
        self.span_id
    }

    /// The typed fields, in the order they were added.
    pub fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    /// The session id, if set.
    pub fn session_id(&self) -> Option<&str> {
        self.extras.as_ref()?.session_id.as_deref()
    }

    /// The tags.
    pub fn tags(&self) -> &[Str] {
        self.extras.as_ref().map_or(&[], |e| &e.tags)
    }

    /// HTTP information, if set.
    pub fn http(&self) -> Option<&HttpInfo> {
        self.extras.as_ref()?.http.as_ref()
    }

    /// Error information, if set.
    pub fn error(&self) -> Option<&ErrorInfo> {
        self.extras.as_ref()?.error.as_ref()
    }
}

/// Sets the optional parts of an [`Event`]. Made by [`Event::builder`].
///
/// ```
/// use aires_core::{Event, Level, HttpInfo};
/// let event = Event::builder(Level::Info, "order placed")
///     .attr("order_id", 123)
///     .attr("currency", "EUR")
///     .tag("checkout")
///     .http(HttpInfo::new("POST", "/orders").status(201))
///     .build();
/// assert_eq!(event.attributes().len(), 2);
/// assert_eq!(event.http().unwrap().status, 201);
/// ```
#[derive(Debug)]
#[must_use = "an event builder does nothing until built or emitted"]
#[repr(transparent)]
pub struct EventBuilder {
    event: Event,
}

impl EventBuilder {
    /// The builder view of an event that lives elsewhere (a queue slot),
    /// so the in-place setters build it where it is.
    #[inline(always)]
    pub(crate) fn from_event_mut(event: &mut Event) -> &mut EventBuilder {
        // SAFETY: `EventBuilder` is a `repr(transparent)` wrapper of `Event`.
        unsafe { &mut *(event as *mut Event).cast::<EventBuilder>() }
    }

    /// Adds a typed field. Fields keep their order; keys may repeat.
    #[inline(always)]
    pub fn attr(mut self, key: impl Into<Str>, value: impl Into<Value>) -> Self {
        self.push_attr(key, value);
        self
    }

    /// Adds many fields.
    pub fn attrs(mut self, attributes: impl IntoIterator<Item = Attribute>) -> Self {
        self.event.attributes.extend(attributes);
        self
    }

    /// Sets (or, with `None`, clears) the trace id.
    #[inline(always)]
    pub fn trace_id(mut self, trace_id: impl Into<Option<TraceId>>) -> Self {
        self.set_trace_id(trace_id);
        self
    }

    /// Sets (or clears) the span id.
    #[inline(always)]
    pub fn span_id(mut self, span_id: impl Into<Option<SpanId>>) -> Self {
        self.set_span_id(span_id);
        self
    }

    /// Sets the session id.
    pub fn session_id(mut self, session_id: impl Into<Str>) -> Self {
        self.set_session_id(session_id);
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<Str>) -> Self {
        self.extend_tags([tag]);
        self
    }

    /// Adds tags.
    pub fn tags<T: Into<Str>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.extend_tags(tags);
        self
    }

    /// Attaches HTTP request information.
    pub fn http(mut self, http: HttpInfo) -> Self {
        self.set_http(http);
        self
    }

    /// Records an error and its `source()` chain.
    pub fn error<E: Error + ?Sized>(mut self, error: &E) -> Self {
        self.set_error(error);
        self
    }

    /// Attaches error information built by hand (bindings).
    pub fn error_info(mut self, error: ErrorInfo) -> Self {
        self.set_error_info(error);
        self
    }

    /// Points the event at a `static` call site (what the macros do).
    #[inline(always)]
    pub fn call_site(mut self, call_site: &'static CallSite) -> Self {
        self.set_call_site(call_site);
        self
    }

    /// Attaches a call site built at run time (bindings).
    pub fn call_site_owned(mut self, call_site: CallSite) -> Self {
        self.set_call_site_owned(call_site);
        self
    }

    // In-place forms. The event is a few hundred bytes; passing the builder
    // by value through a chain of calls copies it at each step unless the
    // compiler manages to elide the moves, so the macros (and loops in
    // bindings) build in place with these. They mirror the by-value
    // methods above, so they are plumbing, hidden from the documentation.

    #[doc(hidden)]
    /// Replaces the fields, in place: for bindings that decode a whole
    /// list before the event starts (one move instead of a push per field).
    #[inline]
    pub fn set_attributes(&mut self, attributes: Attributes) {
        self.event.attributes = attributes;
    }

    #[doc(hidden)]
    /// Where a key was given twice, keeps only its last value: bindings
    /// that add context first and the call's fields after use this, so the
    /// call wins, as in every SDK.
    pub fn keep_last_of_each_key(&mut self) {
        self.keep_one_of_each_key(|attributes, i| &attributes[i + 1..]);
    }

    #[doc(hidden)]
    /// Where a key was given twice, keeps only its first value: for bridges
    /// that add attributes in order of precedence (an event's own fields,
    /// then its enclosing spans' from the innermost out). The encoder's
    /// `max_attributes` then cuts the least preferred ones.
    pub fn keep_first_of_each_key(&mut self) {
        self.keep_one_of_each_key(|attributes, i| &attributes[..i]);
    }

    /// Removes each attribute whose key is found again among `others(i)`.
    fn keep_one_of_each_key(&mut self, others: fn(&[Attribute], usize) -> &[Attribute]) {
        let attributes = &mut self.event.attributes;
        let mut i = 0;
        while i < attributes.len() {
            let repeated = others(attributes, i)
                .iter()
                .any(|other| other.key == attributes[i].key);
            if repeated {
                attributes.remove(i);
            } else {
                i += 1;
            }
        }
    }

    #[doc(hidden)]
    /// Adds a typed field in place.
    #[inline(always)]
    pub fn push_attr(&mut self, key: impl Into<Str>, value: impl Into<Value>) {
        self.event.attributes.push(Attribute::new(key, value));
    }

    #[doc(hidden)]
    /// Appends fields in place, keeping the count in a register until the
    /// writer is dropped: what the macros use for an event's fields.
    #[inline(always)]
    pub fn attribute_writer(&mut self) -> AttributeWriter<'_> {
        // Held as a raw pointer, like `base`: a `&mut` stored beside a
        // pointer derived from it would be reborrowed when moved, which
        // the aliasing rules count as a write that retires the pointer.
        let attributes: *mut Attributes = &mut self.event.attributes;
        // SAFETY: `attributes` comes from a live `&mut`, for `'_`.
        let list = unsafe { &mut *attributes };
        AttributeWriter {
            len: list.len(),
            cap: list.capacity(),
            base: list.as_mut_ptr(),
            attributes,
            _list: std::marker::PhantomData,
        }
    }

    #[doc(hidden)]
    /// Sets (or clears) the trace id in place.
    #[inline(always)]
    pub fn set_trace_id(&mut self, trace_id: impl Into<Option<TraceId>>) {
        self.event.trace_id = trace_id.into();
    }

    #[doc(hidden)]
    /// Sets (or clears) the span id in place.
    #[inline(always)]
    pub fn set_span_id(&mut self, span_id: impl Into<Option<SpanId>>) {
        self.event.span_id = span_id.into();
    }

    #[doc(hidden)]
    /// Sets the session id in place.
    pub fn set_session_id(&mut self, session_id: impl Into<Str>) {
        self.extras().session_id = Some(session_id.into());
    }

    #[doc(hidden)]
    /// Adds tags in place.
    pub fn extend_tags<T: Into<Str>>(&mut self, tags: impl IntoIterator<Item = T>) {
        self.extras().tags.extend(tags.into_iter().map(Into::into));
    }

    #[doc(hidden)]
    /// Attaches HTTP information in place.
    pub fn set_http(&mut self, http: HttpInfo) {
        self.extras().http = Some(http);
    }

    #[doc(hidden)]
    /// Records an error and its `source()` chain in place.
    pub fn set_error<E: Error + ?Sized>(&mut self, error: &E) {
        self.set_error_info(ErrorInfo::from_error(error));
    }

    #[doc(hidden)]
    /// Attaches error information in place.
    pub fn set_error_info(&mut self, error: ErrorInfo) {
        self.extras().error = Some(error);
    }

    #[doc(hidden)]
    /// Attaches a call site built at run time (bindings), in place.
    pub fn set_call_site_owned(&mut self, call_site: CallSite) {
        self.event.call_site = Some(CallSiteRef::Owned(Box::new(call_site)));
    }

    #[doc(hidden)]
    /// Points the event at a `static` call site, in place.
    #[inline(always)]
    pub fn set_call_site(&mut self, call_site: &'static CallSite) {
        self.event.call_site = Some(CallSiteRef::Static(call_site));
    }

    /// Replaces the message, in place: for bridges that find the message
    /// among the fields, in the same pass as the rest.
    #[doc(hidden)]
    #[inline]
    pub fn set_message(&mut self, message: impl Into<Str>) {
        self.event.message = message.into();
    }

    /// Overrides the timestamp (nanoseconds since the Unix epoch), for
    /// events replayed from elsewhere. The id keeps its creation time.
    pub fn timestamp_unix_nanos(mut self, nanos: u64) -> Self {
        self.event.timestamp_unix_nanos = nanos;
        self
    }

    /// The finished event.
    #[inline(always)]
    pub fn build(self) -> Event {
        self.event
    }

    /// Sends the event to the global pipeline (see [`crate::init`]).
    #[inline(always)]
    pub fn emit(self) {
        crate::global::dispatch(self.event);
    }

    fn extras(&mut self) -> &mut Extras {
        self.event.extras.get_or_insert_with(Box::default)
    }
}

/// Appends attributes to an event in its slot (see
/// [`EventBuilder::attribute_writer`]).
///
/// Why not `SmallVec::push` per field: each push reads the length back from
/// the slot, a line the caller is still taking over from the worker's core,
/// and assembles the attribute on the stack before copying it in (read back
/// in wider pieces than it was written, which stalls store forwarding).
/// Here the length lives in a register, each key and value is written once
/// where it stays, and the length is stored once, when the writer is
/// dropped (also on unwind, so the event stays well formed).
#[doc(hidden)]
pub struct AttributeWriter<'a> {
    attributes: *mut Attributes,
    base: *mut Attribute,
    len: usize,
    cap: usize,
    _list: std::marker::PhantomData<&'a mut Attributes>,
}

impl AttributeWriter<'_> {
    /// Adds a typed field.
    #[inline(always)]
    pub fn push(&mut self, key: impl Into<Str>, value: impl Into<Value>) {
        let (key, value) = (key.into(), value.into());
        if self.len < self.cap {
            // SAFETY: `len < cap`: the element at `len` is allocated and
            // unused; `Drop` makes it part of the list.
            unsafe {
                let slot = self.base.add(self.len);
                std::ptr::addr_of_mut!((*slot).key).write(key);
                std::ptr::addr_of_mut!((*slot).value).write(value);
            }
            self.len += 1;
        } else {
            self.grow(Attribute { key, value });
        }
    }

    /// The list is full (a ninth field, or more): the slow path, which may
    /// move the list to the heap.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, attribute: Attribute) {
        // SAFETY: the writer borrows the list for its life; the first
        // `len` elements were written by `push`.
        let list = unsafe { &mut *self.attributes };
        unsafe { list.set_len(self.len) };
        list.push(attribute);
        self.len = list.len();
        self.cap = list.capacity();
        self.base = list.as_mut_ptr();
    }
}

impl std::fmt::Debug for AttributeWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttributeWriter")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Drop for AttributeWriter<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: the writer borrows the list for its life; the first
        // `len` elements are initialised (the list's own and those `push`
        // wrote); `len <= cap`.
        unsafe { (*self.attributes).set_len(self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_writer_keeps_order_past_the_inline_list_and_on_unwind() {
        let mut builder = Event::builder(Level::Info, "m").attr("first", 0u64);
        {
            let mut fields = builder.attribute_writer();
            for i in 1..12u64 {
                fields.push(format!("k{i}"), i);
            }
        }
        let keys: Vec<String> = builder
            .event
            .attributes
            .iter()
            .map(|a| a.key.to_string())
            .collect();
        let mut expected = vec!["first".to_string()];
        expected.extend((1..12).map(|i| format!("k{i}")));
        assert_eq!(keys, expected);
        assert_eq!(builder.event.attributes[11].value, Value::U64(11));

        // A value that panics while being converted: the fields written
        // before it stay, and the list stays well formed (dropped cleanly).
        let mut builder = Event::builder(Level::Info, "m");
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut fields = builder.attribute_writer();
            fields.push("a", String::from("owned"));
            fields.push("b", 2u64);
            fields.push("c", Panics);
        }));
        assert!(unwound.is_err());
        assert_eq!(builder.event.attributes.len(), 2);
        assert_eq!(
            builder.event.attributes[0].value,
            Value::Str("owned".into())
        );
        drop(builder);
    }

    #[test]
    fn a_repeated_key_keeps_its_first_or_its_last_value_and_the_order() {
        let pairs = [("a", 1u64), ("b", 2), ("a", 3), ("c", 4), ("b", 5)];
        let keys_values = |builder: &EventBuilder| -> Vec<(String, Value)> {
            let event = &builder.event;
            event
                .attributes
                .iter()
                .map(|a| (a.key.to_string(), a.value.clone()))
                .collect()
        };
        let mut first = Event::builder(Level::Info, "m");
        let mut last = Event::builder(Level::Info, "m");
        for (key, value) in pairs {
            first.push_attr(key, value);
            last.push_attr(key, value);
        }
        first.keep_first_of_each_key();
        last.keep_last_of_each_key();
        let kv = |k: &str, v: u64| (k.to_string(), Value::U64(v));
        assert_eq!(keys_values(&first), [kv("a", 1), kv("b", 2), kv("c", 4)]);
        assert_eq!(keys_values(&last), [kv("a", 3), kv("c", 4), kv("b", 5)]);
    }

    struct Panics;
    impl From<Panics> for Value {
        fn from(_: Panics) -> Value {
            panic!("a value that cannot be converted")
        }
    }

    #[test]
    fn builder_sets_every_part() {
        static SITE: CallSite = CallSite::new_static("src/main.rs", 7, "app");
        let trace = TraceId::from_int(0xabc).unwrap();
        let event = Event::builder(Level::Warn, "slow")
            .attr("ms", 812u32)
            .trace_id(trace)
            .span_id(SpanId::from_int(9))
            .session_id("s-1")
            .tags(["db", "slow"])
            .call_site(&SITE)
            .build();
        assert_eq!(event.level(), Level::Warn);
        assert_eq!(event.message(), "slow");
        assert_eq!(event.trace_id(), Some(trace));
        assert_eq!(event.span_id().unwrap().to_string(), "0000000000000009");
        assert_eq!(event.session_id(), Some("s-1"));
        assert_eq!(event.tags().len(), 2);
        assert_eq!(event.call_site().unwrap().line, 7);
        assert_eq!(event.attributes()[0].value, Value::U64(812));
        assert!(event.timestamp_unix_nanos() > 1_600_000_000_000_000_000);
        // Other threads may have pushed the id clock a little ahead.
        assert!(event.id().unix_millis() >= event.timestamp_unix_nanos() / 1_000_000);
    }

    #[test]
    fn events_without_extras_have_none() {
        let event = Event::builder(Level::Info, "plain").build();
        assert!(event.extras.is_none());
        assert!(event.tags().is_empty());
        assert!(event.http().is_none() && event.error().is_none());
    }
}
