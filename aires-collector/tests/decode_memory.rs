//! The pipeline's memory accounting against the allocator: what a decoded
//! batch is charged (`budget::decoded_bytes`) covers what its rows really
//! hold on the heap, counted by a counting global allocator, and the
//! admission charge (`budget::admission_bytes`) covers that, for realistic
//! batches and for the worst shapes known. One test in this file: the
//! allocator counts every thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use aires_collector::decode::{decode_batch, EncodedBatch};
use aires_collector::identity::Digest;
use aires_collector::pipeline::budget::{admission_bytes, decoded_bytes};
use aires_proto::v1 as proto;
use prost::Message;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::SeqCst);
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        // SAFETY: as above, for `dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::SeqCst);
        // SAFETY: as above, for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn attribute(key: &str, value: proto::attribute::Value) -> proto::Attribute {
    proto::Attribute {
        key: key.into(),
        value: Some(value),
    }
}

/// An event as an SDK sends one: message, five fields, HTTP, call site,
/// ids; every fifth with an error and its causes.
fn realistic(n: usize) -> proto::Event {
    use proto::attribute::Value as V;
    proto::Event {
        id: vec![n as u8; 16].into(),
        timestamp_unix_nano: 1_780_000_000_000_000_000 - n as u64,
        severity: 3,
        message: format!("request handled for user {n}"),
        trace_id: vec![0xab; 16].into(),
        span_id: vec![0xcd; 8].into(),
        attributes: vec![
            attribute("user_id", V::IntValue(n as i64)),
            attribute("path", V::StringValue(format!("/api/orders/{n}"))),
            attribute("status", V::UintValue(200)),
            attribute("latency_ms", V::DoubleValue(12.5)),
            attribute("ok", V::BoolValue(true)),
        ],
        http: Some(Box::new(proto::HttpInfo {
            method: "GET".into(),
            route: "/api/orders/:id".into(),
            path: format!("/api/orders/{n}"),
            status_code: 200,
            duration_nanos: 1_830_000,
            user_agent: "curl/8.5".into(),
            client_ip: "10.0.0.7".into(),
            ..Default::default()
        })),
        error: n.is_multiple_of(5).then(|| {
            Box::new(proto::ErrorInfo {
                r#type: "std::io::Error".into(),
                message: "connection reset".into(),
                chain: vec!["timed out".into(), "peer gone".into()],
                backtrace: String::new(),
            })
        }),
        call_site: Some(proto::CallSite {
            file: "src/orders.rs".into(),
            line: 42,
            module: "shop::orders".into(),
            function: "get".into(),
        }),
        ..Default::default()
    }
}

fn batch(events: Vec<proto::Event>) -> Vec<u8> {
    proto::EventBatch {
        attempt: 0,
        batch_id: vec![1; 16].into(),
        sdk_name: "aires-rust".into(),
        sdk_version: "0.1.0".into(),
        service: "checkout".into(),
        environment: "prod".into(),
        events,
    }
    .encode_to_vec()
}

#[test]
fn the_charges_cover_what_decoded_rows_really_hold() {
    let mut tiny_tags = realistic(1);
    tiny_tags.tags = (0..4097)
        .map(|n| {
            if n % 2 == 0 {
                String::new()
            } else {
                "t".into()
            }
        })
        .collect();
    let mut tiny_causes = realistic(2);
    tiny_causes.error = Some(Box::new(proto::ErrorInfo {
        chain: vec!["c".into(); 4097],
        ..Default::default()
    }));
    let mut many_keys = realistic(3);
    many_keys.attributes = (0..5000)
        .map(|n| attribute(&n.to_string(), proto::attribute::Value::BoolValue(true)))
        .collect();
    let mut long_text = realistic(4);
    long_text.message = "é".repeat(500_000);
    let small: Vec<_> = (0..3000)
        .map(|_| proto::Event {
            severity: 3,
            ..Default::default()
        })
        .collect();
    let shapes = [
        (
            "256 realistic events",
            batch((0..256).map(realistic).collect()),
        ),
        ("4097 tiny tags", batch(vec![tiny_tags])),
        ("4097 one-byte causes", batch(vec![tiny_causes])),
        ("5000 distinct keys", batch(vec![many_keys])),
        ("a 1 MB message", batch(vec![long_text])),
        ("3000 four-byte events", batch(small)),
    ];
    for (name, encoded) in shapes {
        let events = EncodedBatch::scan(encoded.clone().into()).unwrap().events;
        let before = LIVE.load(Ordering::SeqCst);
        let out = decode_batch(&encoded, 1_780_000_000_000_000_000, Digest::default()).unwrap();
        let held = (LIVE.load(Ordering::SeqCst) - before).max(0) as usize;
        let charged = decoded_bytes(&out);
        let admitted = admission_bytes(encoded.len(), events);
        eprintln!(
            "{name}: {} bytes encoded, {held} held, charged {charged}, admitted {admitted}",
            encoded.len()
        );
        assert!(
            held <= charged,
            "{name}: {held} bytes held, charged only {charged}"
        );
        assert!(
            charged <= admitted,
            "{name}: charged {charged}, admitted {admitted}"
        );
        drop(out);
    }
}
