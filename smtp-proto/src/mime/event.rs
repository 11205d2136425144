//! What the MIME [`Parser`](super::Parser) yields.

use super::{ContentDisposition, ContentType, HeaderField, TransferEncoding};
use crate::Text;
use bytes::Bytes;
use std::fmt;

/// One step of a parsed message, from [`Parser::poll_event`](super::Parser::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MimeEvent {
    /// An entity's header block ended (RFC 2045 section 2.4: the message itself, a part of a
    /// multipart, or the message inside a `message/rfc822` part): its fields and what they
    /// say about the body that follows.
    PartStart(Box<PartInfo>),
    /// Body octets of the current leaf part, decoded from its Content-Transfer-Encoding
    /// (base64 and quoted-printable decoded; 7bit, 8bit, binary and unknown encodings as
    /// they came). Never empty. The line break before a boundary delimiter belongs to the
    /// delimiter (RFC 2046 section 5.1.1) and is not part of the body.
    Body(Bytes),
    /// The part that started with the matching [`PartStart`](Self::PartStart) is over.
    /// Starts and ends nest like parentheses.
    PartEnd(PartEnd),
    /// Something malformed was found; parsing went on.
    Warning(MimeWarning),
}

/// How a part's body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PartKind {
    /// A leaf: [`MimeEvent::Body`] events follow.
    Leaf,
    /// A `multipart/*` with a usable boundary (RFC 2046 section 5.1): child parts follow.
    Multipart,
    /// A `message/rfc822` or `message/global` (RFC 2046 section 5.2.1, RFC 6532 section 3.5):
    /// one child entity follows, the enclosed message.
    Message,
}

/// An entity's header block and what the parser read from it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartInfo {
    /// Position of this part in the message, in order of appearance: 0 is the message
    /// itself.
    pub index: usize,
    /// Nesting depth: 0 for the message itself, 1 for its parts, and so on (an enclosed
    /// `message/rfc822` adds one level too).
    pub depth: usize,
    /// How the body is read. A `multipart/*` or `message/*` type read as a leaf (no boundary,
    /// too deep, encoded) comes with a warning.
    pub kind: PartKind,
    /// The header fields, in order (bounded by [`MimeConfig::max_header_block`](super::MimeConfig)).
    pub headers: Vec<HeaderField>,
    /// The Content-Type (RFC 2045 section 5), or the default when absent or invalid:
    /// `text/plain; charset=us-ascii`, or `message/rfc822` in a multipart/digest (RFC 2046
    /// section 5.1.5).
    pub content_type: ContentType,
    /// The `boundary` parameter of a multipart (RFC 2046 section 5.1.1).
    pub boundary: Option<Text>,
    /// The Content-Transfer-Encoding (RFC 2045 section 6); `7bit` when absent.
    pub transfer_encoding: TransferEncoding,
    /// The declared `charset` parameter, as written (RFC 2046 section 4.1.2: absent means
    /// US-ASCII for text). Body octets are never converted.
    pub charset: Option<Text>,
    /// The Content-Disposition (RFC 2183), if any.
    pub disposition: Option<ContentDisposition>,
    /// The file name: the Content-Disposition `filename` parameter (RFC 2183 section 2.3,
    /// RFC 2231 encoded values decoded), else the Content-Type `name` parameter (RFC 1341,
    /// still common). It comes from the sender: never use it as a path unchecked.
    pub filename: Option<Text>,
}

impl PartInfo {
    /// The first header field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&HeaderField> {
        self.headers.iter().find(|f| f.is(name))
    }
}

/// The end of a part, with its sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartEnd {
    /// The part's [`PartInfo::index`].
    pub index: usize,
    /// The part's [`PartInfo::depth`].
    pub depth: usize,
    /// Octets of the body as it was in the message (after the header block, up to the line
    /// break before the next delimiter or the end of input).
    pub raw_size: u64,
    /// Octets of decoded body: of this leaf's [`MimeEvent::Body`] events, or, for a multipart
    /// or message, of all the leaves inside it.
    pub decoded_size: u64,
}

/// Something malformed in the message, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MimeWarning {
    /// What.
    pub kind: WarningKind,
    /// The [`PartInfo::index`] of the part it concerns: always a part already started. A
    /// problem in a header block is given right after that part's
    /// [`MimeEvent::PartStart`], once per kind and block; any other where it was found,
    /// naming the innermost open part.
    pub part: usize,
    /// Octets of input consumed when it was found (a position in the message, roughly).
    pub offset: u64,
}

impl fmt::Display for MimeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "part {} (offset {}): {}",
            self.part, self.offset, self.kind
        )
    }
}

/// The kinds of [`MimeWarning`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WarningKind {
    /// A line in a header block that is neither a field nor a continuation (RFC 5322 section
    /// 2.2). As mail readers do, the header block ends there and the line starts the body
    /// (a continuation line with no field before it is dropped).
    #[error("header line without a colon; the body is taken to start there")]
    HeaderWithoutColon,
    /// A header line longer than [`MimeConfig::max_header_line`](super::MimeConfig): it was
    /// dropped.
    #[error("header line too long; dropped")]
    HeaderLineTooLong,
    /// The header block exceeded [`MimeConfig::max_header_block`](super::MimeConfig): the
    /// fields after the limit were dropped.
    #[error("header block too large; later fields dropped")]
    HeaderBlockTooLarge,
    /// The Content-Type was not a valid `type/subtype` (RFC 2045 section 5.2): the part is
    /// read as `text/plain`.
    #[error("invalid Content-Type; read as text/plain")]
    InvalidContentType,
    /// A multipart without a usable `boundary` parameter (RFC 2046 section 5.1.1: 1 to 70
    /// characters; up to 256 are accepted): read as a leaf.
    #[error("multipart without a usable boundary; read as a leaf")]
    InvalidBoundary,
    /// A Content-Transfer-Encoding the parser does not know (RFC 2045 section 6.4 says to
    /// treat the body as application/octet-stream): passed on undecoded.
    #[error("unknown Content-Transfer-Encoding {0:?}; body passed on undecoded")]
    UnknownTransferEncoding(Text),
    /// A multipart or message part with base64 or quoted-printable encoding, which RFC 2045
    /// section 6.4 forbids: read as an (undecoded) leaf.
    #[error("encoded multipart or message part; read as a leaf")]
    EncodedComposite,
    /// Octets that are not base64 were skipped, or the padding was wrong (RFC 2045 section
    /// 6.8). Reported once, at the end of the part.
    #[error("{errors} invalid base64 octets or padding errors")]
    InvalidBase64 {
        /// How many.
        errors: u64,
    },
    /// `=` escapes not followed by two hex digits were passed on literally (RFC 2045 section
    /// 6.7). Reported once, at the end of the part.
    #[error("{errors} malformed quoted-printable escapes")]
    InvalidQuotedPrintable {
        /// How many.
        errors: u64,
    },
    /// Text other than white space before the first delimiter of a multipart. RFC 2046
    /// section 5.1.1 allows it and says to ignore it (MUAs write "This is a multi-part
    /// message in MIME format."); reported because content could hide there.
    #[error("{octets} octets of text before the first part, ignored")]
    Preamble {
        /// Octets ignored.
        octets: u64,
    },
    /// Text other than white space after the close delimiter of a multipart, ignored (RFC
    /// 2046 section 5.1.1).
    #[error("{octets} octets of text after the last part, ignored")]
    Epilogue {
        /// Octets ignored.
        octets: u64,
    },
    /// A multipart ended (at the end of input, or at a delimiter of an enclosing multipart)
    /// without its close delimiter (RFC 2046 section 5.1.1).
    #[error("multipart without its close delimiter")]
    MissingCloseDelimiter,
    /// A multipart in which no delimiter was found at all: it has no parts.
    #[error("multipart without any part")]
    NoParts,
    /// A multipart or message nested deeper than [`MimeConfig::max_depth`](super::MimeConfig):
    /// read as a leaf.
    #[error("nested too deep; read as a leaf")]
    TooDeep,
    /// More parts than [`MimeConfig::max_parts`](super::MimeConfig): the remaining parts
    /// of this multipart are skipped.
    #[error("too many parts; the rest are skipped")]
    TooManyParts,
}
