//! The fuzz targets of `smtp-proto`, as plain functions.
//!
//! Each `fuzz/fuzz_targets/NAME.rs` is one line that calls the function `NAME` here, and
//! `tests/corpus.rs` replays every file of `fuzz/corpus/NAME/` through the same function under
//! plain `cargo test`, so CI runs every input the fuzzers ever kept, on stable Rust.
//!
//! The targets assert invariants, not just "no panic": replies are well-formed, buffers stay
//! within their limits, any split of the input into reads gives the same session, every body
//! octet comes out exactly once, and the parsers agree with reference models. See
//! `fuzz/README.md`.
#![forbid(unsafe_code)]

mod body;
pub mod driver;
mod lmtp;
mod mime;
pub mod model;
mod parsers;
mod proxy;
pub mod seeds;
mod session;
pub mod wire;

pub use body::{body_roundtrip, data_decoder};
pub use lmtp::{session_lmtp, LmtpControl};
pub use mime::{headers, mime};
pub use parsers::{address, command_line, params};
pub use proxy::proxy;
pub use session::{from_alphabet, into_alphabet, session, session_alphabet, Control, FuzzConfig};

/// Whether the session targets require the literal call order of `Session` to be enough: after
/// `poll_event` and `poll_transmit` return `None`, an adapter that sees `wants_read()` reads,
/// so the session must not still owe replies it could give without more input.
///
/// (A core bug the fuzzer found, fixed since: smtp-proto/tests/fuzz_regressions.rs,
/// `capped_output_does_not_stall_the_call_order`.)
pub const STRICT_CALL_ORDER: bool = true;

/// Whether the session targets hold `buffered()` to `max_line_length` plus the last read during
/// the greeting delay too.
///
/// (A core bug the fuzzer found, fixed since: smtp-proto/tests/fuzz_regressions.rs,
/// `early_input_during_the_greeting_delay_is_bounded`.)
pub const STRICT_GREETING_BUFFER: bool = true;

/// A target's body: one input, checked; panics on a violated invariant.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/` file and `fuzz/corpus/` directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("command_line", command_line),
    ("address", address),
    ("params", params),
    ("data_decoder", data_decoder),
    ("body_roundtrip", body_roundtrip),
    ("session", session),
    ("session_alphabet", session_alphabet),
    ("session_lmtp", session_lmtp),
    ("mime", mime),
    ("headers", headers),
    ("proxy", proxy),
];

/// Splits a structured input into its control part (a little-endian `u16` length, then that
/// many octets, decoded with `arbitrary`) and the raw octets after it. Keeping the raw bytes out
/// of `arbitrary`'s encoding lets a seed be `[0, 0]` followed by a plain transcript, and lets the
/// fuzzer mutate the transcript bytes directly.
pub(crate) fn split_control(data: &[u8]) -> (&[u8], &[u8]) {
    match data {
        [lo, hi, rest @ ..] => {
            let n = usize::from(u16::from_le_bytes([*lo, *hi])).min(rest.len());
            rest.split_at(n)
        }
        _ => (&[], data),
    }
}
