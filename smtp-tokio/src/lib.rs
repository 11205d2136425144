//! The tokio adapter for [`smtp_proto`]. Not written yet: see issue 3.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use smtp_proto as proto;
