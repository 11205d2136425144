//! Crate-internal parsers, exposed for the fuzz targets in `fuzz/` and their corpus replay
//! tests. Compiled only with the `fuzzing` feature and hidden from the docs: this is not an API,
//! and it changes whenever the internals do.
//!
//! Each function forwards to the parser the session itself uses, so a fuzz target that calls it
//! tests exactly the code that faces the network.

use crate::address::{AddressError, Domain, ForwardPath, ReversePath};
use crate::command;
use crate::data;
use crate::params::{MailParams, ParamError, RcptParams};
use bytes::{Bytes, BytesMut};

/// `command::split`: the verb of a command line (CRLF removed), by name, and its argument.
///
/// The name is the verb's variant in upper case (`"HELO"`, ..., `"STARTTLS"`, `"HTTP"` for the
/// HTTP methods the session refuses, `"UNKNOWN"`), so verbs added to the core need no change
/// here.
pub fn split(line: &[u8]) -> (String, &[u8]) {
    let (verb, arg) = command::split(line);
    (format!("{verb:?}").to_ascii_uppercase(), arg)
}

/// `command::parse_bdat`: the argument of BDAT, `chunk-size [SP "LAST"]`.
pub fn parse_bdat(arg: &[u8]) -> Option<(u64, bool)> {
    command::parse_bdat(arg)
}

/// `command::strip_prefix_ci`: strips `FROM:` / `TO:` case-insensitively.
pub fn strip_prefix_ci<'a>(arg: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    command::strip_prefix_ci(arg, prefix)
}

/// `command::trim_end_sp`: the argument without trailing spaces.
pub fn trim_end_sp(arg: &[u8]) -> &[u8] {
    command::trim_end_sp(arg)
}

/// `address::parse_reverse_path`: the path of `MAIL FROM:`, and the octets it used.
pub fn parse_reverse_path(src: &Bytes) -> Result<(ReversePath, usize), AddressError> {
    crate::address::parse_reverse_path(src)
}

/// `address::parse_forward_path`: the path of `RCPT TO:`, and the octets it used.
pub fn parse_forward_path(src: &Bytes) -> Result<(ForwardPath, usize), AddressError> {
    crate::address::parse_forward_path(src)
}

/// `address::parse_domain`: exactly a domain or an address literal (the strict HELO check).
pub fn parse_domain(src: &Bytes) -> Result<Domain, AddressError> {
    crate::address::parse_domain(src)
}

/// `params::parse_mail_params`: what follows the reverse-path.
pub fn parse_mail_params(src: &Bytes) -> Result<MailParams, ParamError> {
    crate::params::parse_mail_params(src)
}

/// `params::parse_rcpt_params`: what follows the forward-path.
pub fn parse_rcpt_params(src: &Bytes) -> Result<RcptParams, ParamError> {
    crate::params::parse_rcpt_params(src)
}

/// What one [`DataDecoder::decode`] call produced (mirrors the internal `DataStep`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataStep {
    /// Non-empty, dot-unstuffed body bytes.
    Chunk(Bytes),
    /// Nothing can be decided without more input.
    NeedMore,
    /// The end-of-data line `.` CRLF was consumed.
    End,
}

/// The DATA body decoder the session uses (dot-unstuffing and end-of-data detection).
#[derive(Debug, Clone, Default)]
pub struct DataDecoder(data::DataDecoder);

impl DataDecoder {
    /// A decoder at the start of the first body line.
    pub fn new() -> DataDecoder {
        DataDecoder(data::DataDecoder::new())
    }

    /// Decodes what it can of `buf` and removes what it consumed from its front.
    pub fn decode(&mut self, buf: &mut BytesMut) -> DataStep {
        match self.0.decode(buf) {
            data::DataStep::Chunk(c) => DataStep::Chunk(c),
            data::DataStep::NeedMore => DataStep::NeedMore,
            data::DataStep::End => DataStep::End,
        }
    }
}

/// Whether a decoded DATA chunk has a bare CR or bare LF (the session asks this of every chunk
/// when its policy rejects them).
pub fn has_bare_line_ending(chunk: &[u8]) -> bool {
    data::has_bare_line_ending(chunk)
}
