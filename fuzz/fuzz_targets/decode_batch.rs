//! Any bytes as an encoded `EventBatch`, through the collector's decoder
//! (`decode_batch`, and `EncodedBatch::scan` then `decode`): no panic; the
//! two agree; every event gives a row or a rejection, rejections are in
//! order, rows hold their invariants, and the decoded memory is within the
//! admission charge.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    aires_collector_fuzz::decode_and_check(data);
});
