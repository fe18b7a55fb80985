//! The pipeline works the same whether the application runs no async
//! runtime, a current-thread Tokio runtime on its own thread, or a
//! multi-thread one: the worker brings its own threads and runtime.

mod common;

use std::time::Duration;

use aires::transport::MemoryTransport;
use common::{global_lock, test_config};

const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn works_inside_a_current_thread_runtime_on_its_own_thread() {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    let seen = memory.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let guard = aires::init(test_config(memory)).unwrap();
            for i in 0..100 {
                aires::info!("from async", i = i);
                if i % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            aires::flush(DEADLINE).unwrap();
            guard.shutdown(DEADLINE).unwrap();
        });
    })
    .join()
    .unwrap();
    assert_eq!(seen.event_count(), 100);
}

#[test]
fn works_from_many_tasks_of_a_multi_thread_runtime() {
    let _lock = global_lock();
    let memory = MemoryTransport::new();
    let guard = aires::init(test_config(memory.clone())).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|task| {
                tokio::spawn(async move {
                    for i in 0..250 {
                        aires::info!("task event", task = task, i = i);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    // Shutting down from outside any runtime, after the app's runtime is gone.
    drop(runtime);
    guard.shutdown(DEADLINE).unwrap();
    assert_eq!(memory.event_count(), 2_000);
}
