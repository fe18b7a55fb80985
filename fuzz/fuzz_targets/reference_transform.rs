//! Any bytes through the reference path (prost's structs, then the rules):
//! no panic, and every event gives a row or a rejection.
#![no_main]

use aires_collector::reference::transform_batch;
use aires_collector_fuzz::{DIGEST, NOW};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(out) = transform_batch(data, NOW, DIGEST) {
        let mut previous = None;
        for rejection in &out.rejections {
            assert!(previous.is_none_or(|p| p < rejection.index));
            previous = Some(rejection.index);
        }
        for row in &out.rows {
            aires_collector_fuzz::check_row(row);
        }
    }
});
