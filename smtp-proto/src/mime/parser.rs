//! [`Parser`]: the streaming MIME machine.

use super::decode::{Base64Decoder, QpDecoder};
use super::event::{MimeEvent, MimeWarning, PartEnd, PartInfo, PartKind, WarningKind};
use super::header::{ContentDisposition, ContentType, HeaderField, TransferEncoding};
use crate::Text;
use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;

/// The longest boundary accepted. RFC 2046 section 5.1.1 allows 70 characters; some mailers
/// write longer ones, so more are accepted, but a bound keeps the held-back tail small.
const MAX_BOUNDARY: usize = 256;

/// The most transport padding (white space) accepted after a delimiter (RFC 2046 section
/// 5.1.1, `transport-padding`). Longer runs make the line not a delimiter.
const MAX_PADDING: usize = 256;

/// Limits of a [`Parser`]. Every one has a safe default; none depends on the size of a part.
///
/// ```
/// let mut config = smtp_proto::mime::MimeConfig::default();
/// config.max_parts = 100;
/// let parser = smtp_proto::mime::Parser::new(config);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MimeConfig {
    /// Deepest nesting of multiparts and enclosed messages; the message itself is depth 0.
    /// A multipart or message at this depth is read as a leaf ([`WarningKind::TooDeep`]).
    /// Default 20.
    pub max_depth: usize,
    /// Most parts in a message, counting the message itself and every nested part. Later
    /// parts are skipped ([`WarningKind::TooManyParts`]). Default 1000.
    pub max_parts: usize,
    /// Most octets in one entity's header block; fields past it are dropped
    /// ([`WarningKind::HeaderBlockTooLarge`]). Default 64 KiB.
    pub max_header_block: usize,
    /// Most octets in one header line, line break included; longer lines are dropped
    /// ([`WarningKind::HeaderLineTooLong`]). Default 8 KiB. (RFC 5322 section 2.1.1 allows
    /// 998 octets plus CRLF; [`validate_headers`](super::validate_headers) reports lines over
    /// that, and this limit only bounds memory.)
    pub max_header_line: usize,
}

impl Default for MimeConfig {
    fn default() -> Self {
        MimeConfig {
            max_depth: 20,
            max_parts: 1000,
            max_header_block: 64 * 1024,
            max_header_line: 8 * 1024,
        }
    }
}

/// A streaming MIME parser (RFC 2045, RFC 2046): message octets in, [`MimeEvent`]s out.
///
/// Sans-IO in the manner of [`Session`](crate::Session):
/// - **Inputs:** [`feed`](Self::feed) with the next octets of the message (any size, any
///   split), [`finish`](Self::finish) at the end of the message.
/// - **Output:** [`poll_event`](Self::poll_event). Call it until it returns `None` after
///   every input: parsing happens there, lazily, and only then does the parser let go of the
///   octets it was fed. Held between calls: at most one header block, a few octets that
///   could start a delimiter line, and O(1) decoder state.
/// - **Getters:** [`is_done`](Self::is_done): everything after `finish` has been yielded;
///   [`buffered`](Self::buffered): octets held.
///
/// See the [module documentation](super) for the order of events and a complete example.
#[derive(Debug)]
pub struct Parser {
    cfg: MimeConfig,
    buf: BytesMut,
    /// Octets removed from the front of `buf` since the start.
    consumed: u64,
    events: VecDeque<MimeEvent>,
    /// The open entities, outermost first; `frames[i].depth == i`.
    frames: Vec<Frame>,
    /// The delimiters of open multiparts, outermost first.
    bounds: Vec<Bound>,
    state: State,
    /// Parts started so far.
    parts: usize,
    /// `finish` was called.
    eof: bool,
    /// The current region (body, preamble, ...) starts at `buf[0]` and `buf[0]` is the first
    /// octet of a line, so a delimiter may start right there.
    at_line_start: bool,
}

#[derive(Debug)]
struct Bound {
    /// `--` followed by the boundary.
    delim: Vec<u8>,
    /// Index in `frames` of the multipart it belongs to.
    frame: usize,
}

#[derive(Debug)]
struct Frame {
    index: usize,
    kind: FrameKind,
    /// Offset where the body starts.
    body_start: u64,
    /// Decoded octets of this part (leaves) or of the leaves inside it.
    decoded: u64,
}

#[derive(Debug)]
enum FrameKind {
    Leaf(Decoder),
    Multipart {
        /// multipart/digest: children default to message/rfc822.
        digest: bool,
        /// A delimiter of this multipart was seen.
        delimited: bool,
        /// The close delimiter was seen (its boundary is no longer active).
        closed: bool,
    },
    Message,
}

#[derive(Debug)]
enum Decoder {
    Identity,
    Base64(Base64Decoder),
    Qp(QpDecoder),
}

#[derive(Debug)]
enum State {
    /// Reading the header block of a new entity at depth `frames.len()`.
    Headers(HeaderState),
    /// Body of the leaf on top of `frames`.
    Body,
    /// Octets that belong to no part: preamble, epilogue, skipped parts.
    Discard(Region),
    /// Everything after `finish` has been queued.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegionKind {
    Preamble,
    Epilogue,
    Skipped,
}

#[derive(Debug)]
struct Region {
    kind: RegionKind,
    octets: u64,
    /// Something other than white space was in it.
    text: bool,
}

#[derive(Debug, Default)]
struct HeaderState {
    fields: Vec<HeaderField>,
    /// Octets of the fields kept so far.
    size: usize,
    /// `buf[..open]` holds the lines of a field that may still continue.
    open: usize,
    /// `buf[..scanned]` has been searched for LF without finding one.
    scanned: usize,
    /// Dropping the rest of an over-long line.
    discarding: bool,
    /// Dropping the continuation lines of a field that outgrew the header block.
    dropping_field: bool,
    /// The children of a multipart/digest default to message/rfc822.
    in_digest: bool,
    warned_block: bool,
    /// Warnings about this block, given out after its PartStart (at most one per kind).
    warnings: Vec<MimeWarning>,
    /// No line of this block has been read yet.
    first_line: bool,
}

/// What the search for a delimiter line found.
enum Scan {
    /// A delimiter line: content ends at `body_end` (its line break belongs to the
    /// delimiter), and the line ends at `line_end`.
    Delim {
        body_end: usize,
        line_end: usize,
        bound: usize,
        close: bool,
    },
    /// No delimiter: `buf[..safe]` is content for sure; the rest might start one.
    Content { safe: usize },
}

enum Match {
    Yes {
        line_end: usize,
        bound: usize,
        close: bool,
    },
    No,
    NeedMore,
}

impl Parser {
    /// A parser at the start of a message.
    pub fn new(config: MimeConfig) -> Parser {
        Parser {
            cfg: config,
            buf: BytesMut::new(),
            consumed: 0,
            events: VecDeque::new(),
            frames: Vec::new(),
            bounds: Vec::new(),
            state: State::Headers(HeaderState {
                first_line: true,
                ..HeaderState::default()
            }),
            parts: 0,
            eof: false,
            at_line_start: true,
        }
    }

    /// Feeds the next octets of the message. Octets fed after [`finish`](Self::finish) are
    /// ignored.
    pub fn feed(&mut self, chunk: &[u8]) {
        if !self.eof {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Marks the end of the message: the parts still open end here (a multipart without its
    /// close delimiter gets a warning).
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// Whether [`finish`](Self::finish) was called and every event has been yielded.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done) && self.events.is_empty()
    }

    /// Octets fed but not yet let go of. After [`poll_event`](Self::poll_event) has returned
    /// `None`, this is bounded by the limits (a partial header line, or the start of a
    /// possible delimiter line), whatever the size of the part.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next event, or `None` when more input (or [`finish`](Self::finish)) is needed, or
    /// when the parser is done.
    pub fn poll_event(&mut self) -> Option<MimeEvent> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            if !self.step() {
                return None;
            }
        }
    }

    /// Does one piece of work. `false` when nothing can be done without more input.
    fn step(&mut self) -> bool {
        match self.state {
            State::Headers(_) => self.step_headers(),
            State::Body | State::Discard(_) => self.step_region(),
            State::Done => false,
        }
    }

    fn warn(&mut self, kind: WarningKind) {
        let warning = MimeWarning {
            kind,
            part: self.frames.last().map_or(self.parts, |f| f.index),
            offset: self.consumed,
        };
        match &mut self.state {
            // A header block's warnings wait for its PartStart, so that every warning names a
            // part already started. One per kind: a block of junk lines stays O(1).
            State::Headers(hs) => {
                let kind = std::mem::discriminant(&warning.kind);
                if !hs
                    .warnings
                    .iter()
                    .any(|w| std::mem::discriminant(&w.kind) == kind)
                {
                    hs.warnings.push(MimeWarning {
                        part: self.parts,
                        ..warning
                    });
                }
            }
            _ => self.events.push_back(MimeEvent::Warning(warning)),
        }
    }

    fn advance(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.advance(n);
        self.consumed += n as u64;
    }

    // ---- Header blocks (RFC 5322 section 2.2, RFC 2045 section 3) ----

    fn step_headers(&mut self) -> bool {
        let State::Headers(hs) = &mut self.state else {
            return false;
        };
        let ls = hs.open;
        let from = hs.scanned.max(ls);
        let discarding = hs.discarding;
        let dropping_field = hs.dropping_field;
        let first_line = hs.first_line;
        let found = self
            .buf
            .get(from..)
            .and_then(|rest| memchr::memchr(b'\n', rest))
            .map(|i| from + i + 1);
        let le = match found {
            Some(le) => le,
            None if self.eof => {
                if self.buf.len() > ls {
                    self.buf.len() // a last line without a line break
                } else {
                    self.close_field();
                    self.end_headers();
                    return true;
                }
            }
            None => {
                let len = self.buf.len();
                if discarding {
                    // Still inside an over-long line: drop what came of it.
                    self.advance(len);
                    return false;
                }
                if len - ls <= self.cfg.max_header_line {
                    if let State::Headers(hs) = &mut self.state {
                        hs.scanned = len;
                    }
                    return false;
                }
                self.close_field();
                let rest = self.buf.len();
                self.advance(rest);
                if let State::Headers(hs) = &mut self.state {
                    hs.discarding = true;
                    hs.scanned = 0;
                }
                self.warn(WarningKind::HeaderLineTooLong);
                return true;
            }
        };
        if let State::Headers(hs) = &mut self.state {
            hs.scanned = 0;
            hs.discarding = false;
            hs.first_line = false;
        }
        if discarding {
            self.advance(le);
            return true;
        }
        if le - ls > self.cfg.max_header_line {
            self.close_field();
            self.advance(le - ls);
            self.warn(WarningKind::HeaderLineTooLong);
            return true;
        }
        let line = self.buf.get(ls..le).unwrap_or_default();
        if line == b"\n" || line == b"\r\n" {
            self.close_field();
            self.advance(le - ls);
            self.end_headers();
            return true;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if ls > 0 && le > self.cfg.max_header_block {
                // The open field alone outgrows the header block: drop it whole.
                self.advance(le);
                self.block_too_large();
                if let State::Headers(hs) = &mut self.state {
                    hs.open = 0;
                    hs.dropping_field = true;
                }
            } else if ls > 0 {
                // A continuation line of the open field.
                if let State::Headers(hs) = &mut self.state {
                    hs.open = le;
                }
            } else {
                self.advance(le);
                if !dropping_field {
                    self.warn(WarningKind::HeaderWithoutColon);
                }
            }
            return true;
        }
        if let State::Headers(hs) = &mut self.state {
            hs.dropping_field = false;
        }
        let is_delim = !self.bounds.is_empty()
            && line.starts_with(b"--")
            && matches!(self.match_delim(ls), Match::Yes { .. });
        let is_field = !is_delim && is_field_start(line);
        let mbox_from = first_line && self.frames.is_empty() && line.starts_with(b"From ");
        self.close_field();
        if is_field {
            if let State::Headers(hs) = &mut self.state {
                hs.open = le - ls;
            }
            return true;
        }
        if !is_delim {
            self.warn(WarningKind::HeaderWithoutColon);
            if mbox_from {
                // An mbox "From " line before the message: not part of it.
                self.advance(le - ls);
                return true;
            }
        }
        // The line stays: it is a delimiter, or the first line of the body.
        self.end_headers();
        true
    }

    /// Ends the open field (if any): `buf[..open]` becomes a [`HeaderField`].
    fn close_field(&mut self) {
        let State::Headers(hs) = &mut self.state else {
            return;
        };
        let n = std::mem::take(&mut hs.open);
        if n == 0 {
            return;
        }
        hs.scanned = hs.scanned.saturating_sub(n);
        let raw = {
            let n = n.min(self.buf.len());
            self.consumed += n as u64;
            self.buf.split_to(n).freeze()
        };
        let State::Headers(hs) = &mut self.state else {
            return;
        };
        if hs.size + raw.len() > self.cfg.max_header_block {
            self.block_too_large();
            return;
        }
        hs.size += raw.len();
        if let Some(field) = HeaderField::parse(raw) {
            hs.fields.push(field);
        }
    }

    /// Warns, once per header block, that fields are being dropped.
    fn block_too_large(&mut self) {
        if let State::Headers(hs) = &mut self.state {
            if !std::mem::replace(&mut hs.warned_block, true) {
                self.warn(WarningKind::HeaderBlockTooLarge);
            }
        }
    }

    /// The header block is over (the blank line was consumed, or the next line is a
    /// delimiter or the first body line, or the input ended): start the entity.
    fn end_headers(&mut self) {
        let State::Headers(hs) =
            std::mem::replace(&mut self.state, State::Discard(region(RegionKind::Skipped)))
        else {
            return;
        };
        let depth = self.frames.len();
        let index = self.parts;
        self.parts += 1;
        let fields = hs.fields;
        let mut warnings = Vec::new();

        let content_type = match fields.iter().find(|f| f.is("Content-Type")) {
            Some(f) => {
                let ct = ContentType::parse(&f.unfolded());
                if !ct.is_valid() {
                    warnings.push(WarningKind::InvalidContentType);
                }
                ct
            }
            None => ContentType::default_for(hs.in_digest),
        };
        let transfer_encoding = fields
            .iter()
            .find(|f| f.is("Content-Transfer-Encoding"))
            .map_or(TransferEncoding::SevenBit, |f| {
                TransferEncoding::parse(&f.unfolded())
            });
        let disposition = fields
            .iter()
            .find(|f| f.is("Content-Disposition"))
            .map(|f| ContentDisposition::parse(&f.unfolded()));
        let filename = disposition
            .as_ref()
            .and_then(|d| d.param("filename"))
            .or_else(|| content_type.param("name"))
            .map(|s| Text::from(s.to_string()));
        let charset = content_type
            .param("charset")
            .map(|s| Text::from(s.to_string()));

        let main = content_type.main_type();
        let composite = main == "multipart"
            || matches!(
                content_type.mime_type(),
                "message/rfc822" | "message/global"
            );
        let mut boundary = None;
        let mut kind = PartKind::Leaf;
        if composite {
            if depth >= self.cfg.max_depth {
                warnings.push(WarningKind::TooDeep);
            } else if !transfer_encoding.is_identity() {
                warnings.push(WarningKind::EncodedComposite);
            } else if main == "multipart" {
                match content_type.param("boundary") {
                    Some(b)
                        if !b.is_empty()
                            && b.len() <= MAX_BOUNDARY
                            && !b.contains(['\r', '\n']) =>
                    {
                        boundary = Some(Text::from(b.to_string()));
                        kind = PartKind::Multipart;
                    }
                    _ => warnings.push(WarningKind::InvalidBoundary),
                }
            } else {
                kind = PartKind::Message;
            }
        }
        let decoder = match &transfer_encoding {
            TransferEncoding::Base64 => Decoder::Base64(Base64Decoder::default()),
            TransferEncoding::QuotedPrintable => Decoder::Qp(QpDecoder::default()),
            TransferEncoding::Other(name) => {
                if kind == PartKind::Leaf {
                    warnings.push(WarningKind::UnknownTransferEncoding(name.clone()));
                }
                Decoder::Identity
            }
            _ => Decoder::Identity,
        };
        let digest = content_type.mime_type() == "multipart/digest";

        let info = PartInfo {
            index,
            depth,
            kind,
            headers: fields,
            content_type,
            boundary: boundary.clone(),
            transfer_encoding,
            charset,
            disposition,
            filename,
        };
        self.events.push_back(MimeEvent::PartStart(Box::new(info)));
        let frame_kind = match kind {
            PartKind::Leaf => FrameKind::Leaf(decoder),
            PartKind::Multipart => FrameKind::Multipart {
                digest,
                delimited: false,
                closed: false,
            },
            PartKind::Message => FrameKind::Message,
        };
        self.frames.push(Frame {
            index,
            kind: frame_kind,
            body_start: self.consumed,
            decoded: 0,
        });
        self.events
            .extend(hs.warnings.into_iter().map(MimeEvent::Warning));
        for w in warnings {
            self.warn(w);
        }
        self.at_line_start = true;
        self.state = match kind {
            PartKind::Leaf => State::Body,
            PartKind::Multipart => {
                let mut delim = b"--".to_vec();
                delim.extend_from_slice(boundary.as_deref().unwrap_or_default().as_bytes());
                self.bounds.push(Bound {
                    delim,
                    frame: depth,
                });
                State::Discard(region(RegionKind::Preamble))
            }
            PartKind::Message => self.child_state(false),
        };
    }

    /// The state for a new child entity: its header block, or skipping when the part limit
    /// is reached.
    fn child_state(&mut self, in_digest: bool) -> State {
        if self.parts >= self.cfg.max_parts {
            self.warn(WarningKind::TooManyParts);
            return State::Discard(region(RegionKind::Skipped));
        }
        State::Headers(HeaderState {
            in_digest,
            first_line: true,
            ..HeaderState::default()
        })
    }

    // ---- Bodies, preambles and epilogues (RFC 2046 section 5.1.1) ----

    fn step_region(&mut self) -> bool {
        match self.scan() {
            Scan::Content { safe } => {
                if safe > 0 {
                    self.content(safe);
                    self.at_line_start = false;
                    return true;
                }
                if self.eof && self.buf.is_empty() {
                    self.end_of_input();
                    return true;
                }
                false
            }
            Scan::Delim {
                body_end,
                line_end,
                bound,
                close,
            } => {
                if body_end > 0 {
                    self.content(body_end);
                }
                self.delimiter(line_end - body_end, bound, close);
                true
            }
        }
    }

    /// Hands `buf[..n]` to the current region: decoded into a body event, or counted.
    fn content(&mut self, n: usize) {
        match &mut self.state {
            State::Discard(r) => {
                let bytes = self.buf.get(..n).unwrap_or_default();
                r.octets += n as u64;
                r.text |= bytes.iter().any(|b| !b.is_ascii_whitespace());
                self.advance(n);
            }
            State::Body => {
                let Some(frame) = self.frames.last_mut() else {
                    self.advance(n);
                    return;
                };
                let FrameKind::Leaf(decoder) = &mut frame.kind else {
                    self.advance(n);
                    return;
                };
                let out = match decoder {
                    Decoder::Identity => {
                        let b = {
                            let n = n.min(self.buf.len());
                            self.consumed += n as u64;
                            self.buf.split_to(n).freeze()
                        };
                        frame.decoded += b.len() as u64;
                        if !b.is_empty() {
                            self.events.push_back(MimeEvent::Body(b));
                        }
                        return;
                    }
                    Decoder::Base64(d) => {
                        let mut out = Vec::new();
                        d.decode(self.buf.get(..n).unwrap_or_default(), &mut out);
                        out
                    }
                    Decoder::Qp(d) => {
                        let mut out = Vec::new();
                        d.decode(self.buf.get(..n).unwrap_or_default(), &mut out);
                        out
                    }
                };
                frame.decoded += out.len() as u64;
                self.advance(n);
                if !out.is_empty() {
                    self.events.push_back(MimeEvent::Body(Bytes::from(out)));
                }
            }
            _ => self.advance(n),
        }
    }

    /// A delimiter line of `bounds[bound]`, `len` octets (with the line break before it),
    /// is at the front of `buf`.
    fn delimiter(&mut self, len: usize, bound: usize, close: bool) {
        let Some(owner) = self.bounds.get(bound).map(|b| b.frame) else {
            self.advance(len);
            return;
        };
        // Every entity inside the multipart that owns the delimiter ends here.
        self.end_region();
        while self.frames.len() > owner + 1 {
            self.close_frame();
        }
        self.advance(len);
        let mut digest = false;
        if let Some(Frame {
            kind:
                FrameKind::Multipart {
                    delimited,
                    closed,
                    digest: d,
                },
            ..
        }) = self.frames.last_mut()
        {
            *delimited = true;
            digest = *d;
            if close {
                *closed = true;
            }
        }
        self.at_line_start = true;
        if close {
            self.bounds.truncate(bound);
            self.state = State::Discard(region(RegionKind::Epilogue));
        } else {
            self.state = self.child_state(digest);
        }
    }

    /// The current region ends: report a preamble or epilogue with text in it.
    fn end_region(&mut self) {
        if let State::Discard(r) =
            std::mem::replace(&mut self.state, State::Discard(region(RegionKind::Skipped)))
        {
            if r.text {
                match r.kind {
                    RegionKind::Preamble => self.warn(WarningKind::Preamble { octets: r.octets }),
                    RegionKind::Epilogue => self.warn(WarningKind::Epilogue { octets: r.octets }),
                    RegionKind::Skipped => {}
                }
            }
        }
    }

    /// Ends the innermost open entity.
    fn close_frame(&mut self) {
        let Some(mut frame) = self.frames.pop() else {
            return;
        };
        let depth = self.frames.len();
        let mut warnings = Vec::new();
        match &mut frame.kind {
            FrameKind::Leaf(decoder) => {
                let mut out = Vec::new();
                match decoder {
                    Decoder::Identity => {}
                    Decoder::Base64(d) => {
                        d.finish(&mut out);
                        if d.errors > 0 {
                            warnings.push(WarningKind::InvalidBase64 { errors: d.errors });
                        }
                    }
                    Decoder::Qp(d) => {
                        d.finish(&mut out);
                        if d.errors > 0 {
                            warnings.push(WarningKind::InvalidQuotedPrintable { errors: d.errors });
                        }
                    }
                }
                frame.decoded += out.len() as u64;
                if !out.is_empty() {
                    self.events.push_back(MimeEvent::Body(Bytes::from(out)));
                }
            }
            FrameKind::Multipart {
                delimited, closed, ..
            } => {
                if !*delimited {
                    warnings.push(WarningKind::NoParts);
                } else if !*closed {
                    warnings.push(WarningKind::MissingCloseDelimiter);
                }
                if let Some(pos) = self.bounds.iter().position(|b| b.frame == depth) {
                    self.bounds.truncate(pos);
                }
            }
            FrameKind::Message => {}
        }
        for kind in warnings {
            self.events.push_back(MimeEvent::Warning(MimeWarning {
                kind,
                part: frame.index,
                offset: self.consumed,
            }));
        }
        if let Some(parent) = self.frames.last_mut() {
            parent.decoded += frame.decoded;
        }
        self.events.push_back(MimeEvent::PartEnd(PartEnd {
            index: frame.index,
            depth,
            raw_size: self.consumed.saturating_sub(frame.body_start),
            decoded_size: frame.decoded,
        }));
    }

    /// All input is consumed after `finish`: every open entity ends.
    fn end_of_input(&mut self) {
        self.end_region();
        while !self.frames.is_empty() {
            self.close_frame();
        }
        self.state = State::Done;
    }

    /// Finds the first delimiter line of an open multipart in `buf`.
    fn scan(&self) -> Scan {
        let buf = &self.buf[..];
        if self.bounds.is_empty() {
            return Scan::Content { safe: buf.len() };
        }
        if self.at_line_start {
            match self.match_delim(0) {
                Match::Yes {
                    line_end,
                    bound,
                    close,
                } => {
                    return Scan::Delim {
                        body_end: 0,
                        line_end,
                        bound,
                        close,
                    }
                }
                Match::NeedMore => return Scan::Content { safe: 0 },
                Match::No => {}
            }
        }
        let finder = memchr::memmem::Finder::new(b"\n--");
        let mut from = 0;
        while let Some(i) = buf.get(from..).and_then(|rest| finder.find(rest)) {
            let p = from + i;
            let line_break = if p > 0 && buf.get(p - 1) == Some(&b'\r') {
                p - 1
            } else {
                p
            };
            match self.match_delim(p + 1) {
                Match::Yes {
                    line_end,
                    bound,
                    close,
                } => {
                    return Scan::Delim {
                        body_end: line_break,
                        line_end,
                        bound,
                        close,
                    }
                }
                Match::NeedMore => return Scan::Content { safe: line_break },
                Match::No => from = p + 1,
            }
        }
        if self.eof {
            return Scan::Content { safe: buf.len() };
        }
        // Hold back what could still become "\r\n--".
        let n = buf.len();
        let mut hold = if buf.ends_with(b"\n-") {
            n - 2
        } else if buf.ends_with(b"\n") || buf.ends_with(b"\r") {
            n - 1
        } else {
            n
        };
        if hold > 0
            && hold < n
            && buf.get(hold) == Some(&b'\n')
            && buf.get(hold - 1) == Some(&b'\r')
        {
            hold -= 1;
        }
        Scan::Content { safe: hold }
    }

    /// Whether a delimiter line of an open multipart starts at `buf[at]` (RFC 2046 section
    /// 5.1.1: `"--" boundary ["--"] transport-padding CRLF`). The innermost multipart is
    /// tried first. A bare LF ends the line too (messages stored with local line endings);
    /// so does the end of input.
    fn match_delim(&self, at: usize) -> Match {
        let line = self.buf.get(at..).unwrap_or_default();
        let mut need_more = false;
        for (bound, b) in self.bounds.iter().enumerate().rev() {
            let d = &b.delim[..];
            if line.len() < d.len() {
                if !self.eof && d.starts_with(line) {
                    need_more = true;
                }
                continue;
            }
            if !line.starts_with(d) {
                continue;
            }
            let mut k = d.len();
            let rest = line.get(k..).unwrap_or_default();
            let close = rest.starts_with(b"--");
            if close {
                k += 2;
            } else if rest == b"-" {
                if !self.eof {
                    need_more = true;
                }
                continue;
            }
            let pad = line
                .get(k..)
                .unwrap_or_default()
                .iter()
                .take(MAX_PADDING + 1)
                .take_while(|&&c| c == b' ' || c == b'\t')
                .count();
            if pad > MAX_PADDING {
                continue;
            }
            k += pad;
            match line.get(k..).unwrap_or_default() {
                [] if self.eof => {
                    return Match::Yes {
                        line_end: at + k,
                        bound,
                        close,
                    }
                }
                [] | [b'\r'] if !self.eof => need_more = true,
                [b'\r'] => {
                    return Match::Yes {
                        line_end: at + k + 1,
                        bound,
                        close,
                    }
                }
                [b'\n', ..] => {
                    return Match::Yes {
                        line_end: at + k + 1,
                        bound,
                        close,
                    }
                }
                [b'\r', b'\n', ..] => {
                    return Match::Yes {
                        line_end: at + k + 2,
                        bound,
                        close,
                    }
                }
                _ => {}
            }
        }
        if need_more {
            Match::NeedMore
        } else {
            Match::No
        }
    }
}

fn region(kind: RegionKind) -> Region {
    Region {
        kind,
        octets: 0,
        text: false,
    }
}

/// Whether `line` starts a header field: a name of printable ASCII (RFC 5322 section 3.6.8;
/// octets over 127 tolerated), optional white space (obsolete syntax, section 4.5), a colon.
fn is_field_start(line: &[u8]) -> bool {
    let Some(colon) = memchr::memchr(b':', line) else {
        return false;
    };
    let name = line.get(..colon).unwrap_or_default();
    let end = name
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |p| p + 1);
    end > 0
        && name
            .get(..end)
            .unwrap_or_default()
            .iter()
            .all(|&b| b > b' ' && b != 0x7F)
}
