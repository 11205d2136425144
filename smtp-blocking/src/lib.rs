//! The blocking (std::net) adapter for [`smtp_proto`]. Not written yet: see issue 4.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use smtp_proto as proto;
