//! Benchmarks for the workspace. Not written yet: see issue 8.
#![forbid(unsafe_code)]
