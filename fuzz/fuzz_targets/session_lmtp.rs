//! The body is `smtp_fuzz_harness::session_lmtp`, shared with the corpus replay test
//! (`cargo test -p smtp-fuzz-harness`); see fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| smtp_fuzz_harness::session_lmtp(data));
