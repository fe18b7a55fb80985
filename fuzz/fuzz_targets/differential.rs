//! Any bytes through the decoder and through the reference path (prost's
//! structs, then the same rules), with the same receive time and digest:
//! both refuse, or both give the same rows and the same rejections, a
//! rejection for malformed input compared by its "malformed event: "
//! prefix only. As `assert_same` in aires-collector/src/decode/tests.rs,
//! except that float attributes are compared by their bits (NaN), and
//! with the decoder's invariants checked too (`check_decoded`).
#![no_main]

use aires_collector::decode::{decode_batch, EncodedBatch};
use aires_collector::reference::transform_batch;
use aires_collector_fuzz::{check_decoded, reasons, same_rows, DIGEST, NOW};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let expected = transform_batch(data, NOW, DIGEST);
    let actual = decode_batch(data, NOW, DIGEST);
    match (expected, actual) {
        (None, Err(_)) => {}
        (Some(expected), Ok(actual)) => {
            assert_eq!(actual.rows.len(), expected.rows.len(), "row count");
            if !same_rows(&actual.rows, &expected.rows) {
                // The rows as assert_eq! shows them.
                assert_eq!(actual.rows, expected.rows);
                panic!("rows differ in the bits of a float attribute");
            }
            assert_eq!(reasons(&actual), reasons(&expected));
            let events = EncodedBatch::scan(Bytes::copy_from_slice(data))
                .expect("decode_batch decoded it")
                .events;
            check_decoded(data, events, &actual);
        }
        (expected, actual) => panic!(
            "the reference path {} but the decoder {} ({data:02x?})",
            if expected.is_some() {
                "decodes"
            } else {
                "refuses"
            },
            match actual {
                Ok(_) => "decodes".to_string(),
                Err(e) => format!("refuses: {e}"),
            }
        ),
    }
});
