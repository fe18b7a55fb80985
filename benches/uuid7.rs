//! UUID v7 generation: this crate's generator against `uuid::Uuid::now_v7()`.

use std::hint::black_box;

use aires::Uuid7;
use criterion::{criterion_group, criterion_main, Criterion};

fn uuid7(c: &mut Criterion) {
    let mut group = c.benchmark_group("uuid7");
    group.bench_function("aires_uuid7_now", |b| b.iter(|| black_box(Uuid7::now())));
    group.bench_function("aires_uuid7_from_event_timestamp", |b| {
        let nanos = aires_core::__private::now_unix_nanos();
        b.iter(|| black_box(Uuid7::generate(black_box(nanos))))
    });
    group.bench_function("uuid_crate_now_v7", |b| {
        b.iter(|| black_box(uuid::Uuid::now_v7()))
    });
    group.bench_function("clock_now_unix_nanos", |b| {
        b.iter(|| black_box(aires_core::__private::now_unix_nanos()))
    });
    group.finish();
}

criterion_group!(benches, uuid7);
criterion_main!(benches);
