//! Allocations and bytes allocated per seed-workload session, counted by dhat's allocator.
//!
//! `cargo bench -p smtp-benches --bench alloc_count`
//! The seed published 303 allocations and 165,258 bytes per op for the same session.

use smtp_benches::{run_session, seed_session_input};
use smtp_proto::Config;
use std::sync::Arc;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let config = Arc::new(Config::new("bench.example"));
    let input = seed_session_input();
    run_session(&config, &[&input]); // warm-up: nothing lazily initialised is counted
    let _profiler = dhat::Profiler::builder().testing().build();
    let runs = 1000u64;
    let before = dhat::HeapStats::get();
    for _ in 0..runs {
        std::hint::black_box(run_session(&config, &[&input]));
    }
    let after = dhat::HeapStats::get();
    let allocs = (after.total_blocks - before.total_blocks) as f64 / runs as f64;
    let bytes = (after.total_bytes - before.total_bytes) as f64 / runs as f64;
    println!("seed_session: {allocs:.1} allocations/op, {bytes:.0} bytes allocated/op");
    println!("(seed: 303 allocations/op, 165258 bytes/op; commands in the session: 6)");
}
