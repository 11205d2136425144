//! The DATA body decoder: finds the end-of-data indication and undoes dot-stuffing
//! (RFC 5321 sections 2.3.8, 4.1.1.4 and 4.5.2).
//!
//! This is the SMTP smuggling defence (CVE-2023-51764, CVE-2023-51765, CVE-2023-51766): ONLY
//! `<CRLF>.<CRLF>` ends the data. A bare LF or a bare CR never ends a line, so it never makes
//! the next byte a "line start": `<LF>.<LF>`, `<LF>.<CRLF>`, `<CRLF>.<LF>`, `<CR>.<CRLF>`, ...
//! are ordinary body bytes and never end the data early. Whether a message has them at all is
//! a question about the decoded chunks ([`has_bare_line_ending`]), asked by the session only
//! when its policy rejects them: removing a stuffed dot never makes or unmakes a bare CR or
//! LF, and a CRLF never straddles two chunks.
//!
//! The decoder is zero-copy: chunks are split off the receive buffer. When a stuffed dot is
//! removed, the remaining bytes are compacted in place inside the buffer, so one call still
//! yields a single chunk; when no dot is removed, nothing is copied at all.

use bytes::{Buf, Bytes, BytesMut};

/// The end-of-data line, without the CRLF that precedes it (that CRLF ends the last body line,
/// or the DATA command itself).
const TERMINATOR_LINE: &[u8] = b".\r\n";

/// Decodes a DATA body: dot-unstuffing and end-of-data detection. O(1) state.
#[derive(Debug, Clone)]
pub(crate) struct DataDecoder {
    /// The next unconsumed byte is the first byte of a line (it follows a CRLF, or it is the
    /// first byte of the body).
    at_line_start: bool,
    /// The terminator was consumed.
    ended: bool,
}

/// Finds `CRLF .`: the only place where a line can start with a dot. Built once per process.
fn crlf_dot() -> &'static memchr::memmem::Finder<'static> {
    static FINDER: std::sync::OnceLock<memchr::memmem::Finder<'static>> =
        std::sync::OnceLock::new();
    FINDER.get_or_init(|| memchr::memmem::Finder::new(b"\r\n."))
}

/// How many dots that do not start a line [`find_crlf_dot`] steps over before it hands the
/// rest of the search to `memmem`. One: a dot inside a line says the text has dots (prose,
/// headers), and each further miss would cost a call (~40 instructions); measured with 4, the
/// seed session cost 478 instructions more, with 1, 111.
const DOT_MISSES: usize = 1;

/// The index of the first `CRLF .` in `hay`, as `crlf_dot().find(hay)`, but cheaper where dots
/// are rare (base64, most of the octets of mail, has none): it looks for the dot alone, with
/// memchr's single-octet search, which reads several vectors per step (~0.13 instructions
/// per octet against `memmem`'s ~0.33), and checks the two octets before it. Where dots are
/// common (prose), a miss hands the rest to `memmem`, whose pair search does not stop at
/// every dot.
fn find_crlf_dot(hay: &[u8]) -> Option<usize> {
    // A dot at 0 or 1 has no CRLF before it inside `hay`.
    let mut from = 2;
    for _ in 0..DOT_MISSES {
        let dot = from + memchr::memchr(b'.', hay.get(from..)?)?;
        if hay[dot - 2..dot] == *b"\r\n" {
            return Some(dot - 2);
        }
        from = dot + 1;
    }
    // Every dot before `from` was checked: a match starts at `from - 2` or later.
    let start = from - 2;
    crlf_dot().find(&hay[start..]).map(|i| start + i)
}

/// What one call to [`DataDecoder::decode`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DataStep {
    /// Non-empty, dot-unstuffed body bytes.
    Chunk(Bytes),
    /// Nothing can be decided without more input.
    NeedMore,
    /// The end-of-data line `.` CRLF was consumed.
    End,
}

/// Why the scan in [`DataDecoder::decode`] stopped.
enum Stop {
    /// The input is exhausted, except for bytes that may still start a terminator (or a CRLF).
    Hold,
    /// The terminator line starts at the read cursor.
    Terminator,
}

impl Default for DataDecoder {
    fn default() -> Self {
        DataDecoder::new()
    }
}

impl DataDecoder {
    /// A decoder positioned at the start of the first body line (the CRLF that ended the DATA
    /// command counts as the line end before it, so "DATA\r\n.\r\n" is an empty message).
    pub(crate) fn new() -> DataDecoder {
        DataDecoder {
            at_line_start: true,
            ended: false,
        }
    }

    /// Decodes as much of `buf` as it can and removes what it consumed from the front of `buf`.
    ///
    /// - `Chunk(b)`: `b` is non-empty, dot-unstuffed body bytes (everything decodable right now,
    ///   up to the terminator or up to the last bytes that could still start one).
    /// - `End`: the terminator line "." CRLF was next; it has been consumed from `buf` (the CRLF
    ///   that precedes the dot belongs to the body and was already returned in a chunk). Bytes
    ///   after the terminator stay in `buf` untouched (they are the next pipelined commands).
    /// - `NeedMore`: nothing can be decided without more input (`buf` is empty or holds only a
    ///   partial possible terminator such as "\r", ".", ".\r").
    ///
    /// After `End` the decoder must not be used again; if it is, it returns `End` again and
    /// leaves `buf` alone.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> DataStep {
        if self.ended {
            return DataStep::End;
        }
        let len = buf.len();
        // Read cursor: bytes before it are consumed. Write cursor: bytes before it are output.
        // They differ once a stuffed dot has been removed; output is then compacted in place.
        let mut r = 0;
        let mut w = 0;
        let mut line_start = self.at_line_start;

        let stop = loop {
            if line_start {
                match &buf[r..] {
                    [b'.', b'\r', b'\n', ..] => break Stop::Terminator,
                    // A possible terminator, still incomplete.
                    [] | [b'.'] | [b'.', b'\r'] => break Stop::Hold,
                    // Dot-stuffing: a line starting with "." that is not the terminator loses
                    // its first dot (also when a bare CR or bare LF follows the dot).
                    [b'.', ..] => r += 1,
                    _ => {}
                }
            }
            // Only a CRLF followed by a dot needs a look: skip to the next one in one search,
            // whatever the number of lines in between.
            let rest = &buf[r..];
            // (end of the run, stop after it, the byte after it starts a line)
            let (end, hold, next_line_start) = match find_crlf_dot(rest) {
                Some(i) => (r + i + 2, false, true),
                // None in sight: take everything but a final CR, whose LF may follow; after a
                // final CRLF the next byte starts a line.
                None if rest.ends_with(b"\r\n") => (len, true, true),
                None if rest.ends_with(b"\r") => (len - 1, true, false),
                None => (len, true, false),
            };
            line_start = next_line_start;
            w = keep(buf, r, end, w);
            r = end;
            if hold {
                break Stop::Hold;
            }
        };

        self.at_line_start = line_start;
        if w > 0 {
            // Everything decodable so far, as one chunk; the terminator (if found) stays in
            // `buf` and is reported by the next call.
            let chunk = buf.split_to(w).freeze();
            buf.advance(r - w);
            return DataStep::Chunk(chunk);
        }
        match stop {
            Stop::Terminator => {
                buf.advance(r + TERMINATOR_LINE.len());
                self.ended = true;
                DataStep::End
            }
            Stop::Hold => {
                buf.advance(r);
                DataStep::NeedMore
            }
        }
    }
}

/// Whether a decoded chunk has a bare CR (not followed by LF) or a bare LF (not preceded by
/// CR), RFC 5321 section 2.3.8: `s[i] == LF` must hold exactly when `s[i - 1] == CR`. One pass
/// without branches, which the compiler vectorises.
///
/// The chunk's answer is the wire's: a removed stuffed dot sat between an LF and the next
/// byte, which is bare after the dot exactly when it is bare after the LF (an LF, or a CR not
/// followed by LF). A chunk never starts with the LF of a CRLF split from the previous chunk
/// (the decoder holds back a final CR), so an LF first is bare; a chunk ends with a CR only
/// when another CR follows, so a CR last is bare too.
pub(crate) fn has_bare_line_ending(s: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (s.first(), s.last()) else {
        return false;
    };
    let mismatch = s.iter().zip(&s[1..]).fold(0u8, |acc, (&prev, &cur)| {
        acc | (u8::from(cur == b'\n') ^ u8::from(prev == b'\r'))
    });
    first == b'\n' || last == b'\r' || mismatch != 0
}

/// Where the first bare CR or LF of a decoded chunk is, once [`has_bare_line_ending`] said
/// there is one (the session cuts the message there). Slower, but asked at most once per
/// message.
pub(crate) fn first_bare_line_ending(chunk: &[u8]) -> Option<usize> {
    memchr::memchr2_iter(b'\r', b'\n', chunk).find(|&i| match chunk[i] {
        b'\r' => chunk.get(i + 1) != Some(&b'\n'),
        _ => i == 0 || chunk[i - 1] != b'\r',
    })
}

/// Keeps the input bytes `buf[r..end]` as output at the write cursor `w` (moving them only when
/// a removed dot separates the cursors) and returns the new write cursor.
#[inline]
fn keep(buf: &mut [u8], r: usize, end: usize, w: usize) -> usize {
    if r != w {
        buf.copy_within(r..end, w);
    }
    w + (end - r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The result of decoding an input.
    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        /// The concatenated chunks.
        body: Vec<u8>,
        /// How many input bytes were consumed when `End` was returned.
        end_at: Option<usize>,
        /// Whether [`has_bare_line_ending`] was true for a chunk (the session's question).
        flag: bool,
        /// Bytes left in the buffer plus the pieces never fed.
        rest: Vec<u8>,
    }

    /// Feeds `input` cut into pieces of the given lengths (the remainder as a last piece),
    /// calling `decode` until `NeedMore` after each piece. Checks the per-call contract.
    fn feed(input: &[u8], cuts: &[usize]) -> Outcome {
        let mut pieces = Vec::new();
        let mut at = 0;
        for &n in cuts {
            let n = n.min(input.len() - at);
            pieces.push(&input[at..at + n]);
            at += n;
        }
        pieces.push(&input[at..]);

        let mut dec = DataDecoder::new();
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut flag = false;
        let mut fed = 0;
        let mut end_at = None;
        let mut next = 0;
        'outer: while next < pieces.len() {
            buf.extend_from_slice(pieces[next]);
            fed += pieces[next].len();
            next += 1;
            loop {
                let before = buf.len();
                match dec.decode(&mut buf) {
                    DataStep::Chunk(c) => {
                        assert!(!c.is_empty(), "empty chunk");
                        assert!(before - buf.len() >= c.len());
                        body.extend_from_slice(&c);
                        flag |= has_bare_line_ending(&c);
                    }
                    DataStep::NeedMore => {
                        assert!(buf.len() <= 2, "held back {:?}", &buf[..]);
                        break;
                    }
                    DataStep::End => {
                        end_at = Some(fed - buf.len());
                        break 'outer;
                    }
                }
            }
        }
        let mut rest = buf.to_vec();
        for p in &pieces[next..] {
            rest.extend_from_slice(p);
        }
        Outcome {
            body,
            end_at,
            flag,
            rest,
        }
    }

    fn feed_whole(input: &[u8]) -> Outcome {
        feed(input, &[])
    }

    /// An obviously-correct byte-at-a-time model over the whole input. Returns the outcome
    /// and the number of removed dots.
    fn reference(input: &[u8]) -> (Outcome, usize) {
        let mut body = Vec::new();
        let mut flag = false;
        let mut dots = 0;
        let mut i = 0;
        let mut line_start = true;
        let mut end_at = None;
        loop {
            let rest = &input[i..];
            if line_start {
                if rest.starts_with(b".\r\n") {
                    end_at = Some(i + 3);
                    i += 3;
                    break;
                }
                if b".\r\n".starts_with(rest) {
                    break; // "", ".", ".\r": undecided
                }
                if rest[0] == b'.' {
                    dots += 1;
                    i += 1;
                }
                line_start = false;
                continue;
            }
            let Some(&c) = input.get(i) else { break };
            match c {
                b'\r' => match input.get(i + 1) {
                    None => break, // held back
                    Some(b'\n') => {
                        body.extend_from_slice(b"\r\n");
                        i += 2;
                        line_start = true;
                    }
                    Some(_) => {
                        flag = true;
                        body.push(c);
                        i += 1;
                    }
                },
                b'\n' => {
                    flag = true;
                    body.push(c);
                    i += 1;
                }
                _ => {
                    body.push(c);
                    i += 1;
                }
            }
        }
        let outcome = Outcome {
            body,
            end_at,
            flag,
            rest: input[i..].to_vec(),
        };
        (outcome, dots)
    }

    const NEXT: &[u8] = b"MAIL FROM:<x@y>\r\n";

    fn msg(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn dot_first_search_steps_over_dots_then_hands_over_to_memmem() {
        for misses in 0..=DOT_MISSES + 2 {
            // `misses` dots inside lines, then a line that starts with a dot.
            let mut hay = b"a.".repeat(misses);
            let at = hay.len();
            hay.extend_from_slice(b"\r\n.x\r\n.");
            assert_eq!(find_crlf_dot(&hay), Some(at), "{misses} dots before");
            assert_eq!(
                find_crlf_dot(&hay[..at + 2]),
                None,
                "{misses} dots, no match"
            );
        }
        assert_eq!(find_crlf_dot(b".\r\n."), Some(1));
        assert_eq!(find_crlf_dot(b"\n."), None);
        assert_eq!(find_crlf_dot(b""), None);
    }

    #[test]
    fn empty_message() {
        let out = feed_whole(&msg(&[b".\r\n", NEXT]));
        assert_eq!(out.body, b"");
        assert_eq!(out.end_at, Some(3));
        assert!(!out.flag);
        assert_eq!(out.rest, NEXT);
    }

    #[test]
    fn empty_message_single_call_returns_end_directly() {
        let mut dec = DataDecoder::new();
        let mut buf = BytesMut::from(&b".\r\nQUIT\r\n"[..]);
        assert_eq!(dec.decode(&mut buf), DataStep::End);
        assert_eq!(&buf[..], b"QUIT\r\n");
        // Used again after End: still End, buffer untouched.
        assert_eq!(dec.decode(&mut buf), DataStep::End);
        assert_eq!(&buf[..], b"QUIT\r\n");
    }

    #[test]
    fn single_line() {
        let out = feed_whole(b"Subject: hi\r\n.\r\n");
        assert_eq!(out.body, b"Subject: hi\r\n");
        assert_eq!(out.end_at, Some(16));
        assert!(!out.flag);
        assert!(out.rest.is_empty());
    }

    #[test]
    fn chunk_then_end_then_untouched_rest() {
        let mut dec = DataDecoder::new();
        let mut buf = BytesMut::from(&b"a\r\nb\r\n.\r\nRSET\r\n.\r\n"[..]);
        assert_eq!(
            dec.decode(&mut buf),
            DataStep::Chunk(Bytes::from_static(b"a\r\nb\r\n"))
        );
        assert_eq!(&buf[..], b".\r\nRSET\r\n.\r\n");
        assert_eq!(dec.decode(&mut buf), DataStep::End);
        assert_eq!(&buf[..], b"RSET\r\n.\r\n");
    }

    #[test]
    fn dot_stuffed_lines() {
        let out = feed_whole(b"..x\r\nA..b\r\n...\r\n..\r\n.y.\r\n.\r\n");
        assert_eq!(out.body, b".x\r\nA..b\r\n..\r\n.\r\ny.\r\n");
        assert!(!out.flag);
        assert!(out.rest.is_empty());
    }

    #[test]
    fn line_that_is_only_two_dots() {
        let out = feed_whole(b"..\r\n.\r\n");
        assert_eq!(out.body, b".\r\n");
        assert_eq!(out.end_at, Some(7));
        let out = feed_whole(b"x\r\n..\r\n.\r\n");
        assert_eq!(out.body, b"x\r\n.\r\n");
    }

    #[test]
    fn dot_followed_by_bare_line_ending_is_unstuffed() {
        let out = feed_whole(b"a\r\n.\nb\r\n.\rc\r\n.\r\n");
        assert_eq!(out.body, b"a\r\n\nb\r\n\rc\r\n");
        assert!(out.flag);
    }

    #[test]
    fn smuggling_variants_do_not_terminate() {
        // (variant, expected body bytes for it, expected flag)
        let variants: &[(&[u8], &[u8], bool)] = &[
            (b"\n.\n", b"\n.\n", true),
            (b"\n.\r\n", b"\n.\r\n", true),
            (b"\r\n.\n", b"\r\n\n", true), // line ".<LF>...": the stuffed dot is removed
            (b"\r.\r\n", b"\r.\r\n", true),
            (b"\r\n.\rX", b"\r\n\rX", true), // line ".<CR>X": the stuffed dot is removed
            (b"\r.\r", b"\r.\r", true),
            (b"\r\n\x00.\r\n", b"\r\n\x00.\r\n", false), // no bare CR/LF, just not a terminator
        ];
        for &(variant, expected, flag) in variants {
            for prefix in [&b""[..], b"Subject: x\r\n\r\nbody"] {
                let smuggled = msg(&[b"MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\n"]);
                let input = msg(&[prefix, variant, &smuggled, b"\r\n.\r\n", NEXT]);
                for cuts in [vec![], vec![1; input.len()]] {
                    let out = feed(&input, &cuts);
                    let body = msg(&[prefix, expected, &smuggled, b"\r\n"]);
                    assert_eq!(
                        out.body,
                        body,
                        "variant {:?}",
                        String::from_utf8_lossy(variant)
                    );
                    assert_eq!(out.end_at, Some(input.len() - NEXT.len()));
                    assert_eq!(out.flag, flag, "variant {variant:?}");
                    assert_eq!(out.rest, NEXT);
                }
            }
        }
    }

    #[test]
    fn bare_line_endings_set_flag() {
        assert!(feed_whole(b"a\nb\r\n.\r\n").flag);
        assert!(feed_whole(b"a\rb\r\n.\r\n").flag);
        assert!(feed_whole(b"\n\r\n.\r\n").flag);
        assert!(feed_whole(b"\r\r\n.\r\n").flag);
        assert!(!feed_whole(b"a\r\n\r\nb\r\n.\r\n").flag);
    }

    #[test]
    fn trailing_cr_is_held_back_then_resolved() {
        let mut dec = DataDecoder::new();
        let mut buf = BytesMut::from(&b"ab\r"[..]);
        assert_eq!(
            dec.decode(&mut buf),
            DataStep::Chunk(Bytes::from_static(b"ab"))
        );
        assert_eq!(&buf[..], b"\r");
        assert_eq!(dec.decode(&mut buf), DataStep::NeedMore);
        buf.extend_from_slice(b"x");
        assert_eq!(
            dec.decode(&mut buf),
            DataStep::Chunk(Bytes::from_static(b"\rx"))
        );
        assert!(has_bare_line_ending(b"\rx"));
        assert!(!has_bare_line_ending(b"ab"));
    }

    #[test]
    fn partial_terminators_need_more() {
        for partial in [&b""[..], b".", b".\r"] {
            let mut dec = DataDecoder::new();
            let mut buf = BytesMut::from(partial);
            assert_eq!(dec.decode(&mut buf), DataStep::NeedMore);
            assert_eq!(&buf[..], partial);
        }
        let mut dec = DataDecoder::new();
        let mut buf = BytesMut::from(&b"x\r\n.\r"[..]);
        assert_eq!(
            dec.decode(&mut buf),
            DataStep::Chunk(Bytes::from_static(b"x\r\n"))
        );
        assert_eq!(dec.decode(&mut buf), DataStep::NeedMore);
        assert_eq!(&buf[..], b".\r");
        buf.extend_from_slice(b"\nNOOP\r\n");
        assert_eq!(dec.decode(&mut buf), DataStep::End);
        assert_eq!(&buf[..], b"NOOP\r\n");
    }

    #[test]
    fn terminator_split_at_every_position() {
        let input = msg(&[b"line one\r\n..two\r\nthree", b"\r\n.\r\n", NEXT]);
        let whole = feed_whole(&input);
        assert_eq!(whole.body, b"line one\r\n.two\r\nthree\r\n");
        assert_eq!(whole.end_at, Some(input.len() - NEXT.len()));
        assert_eq!(whole.rest, NEXT);
        // Byte by byte.
        assert_eq!(feed(&input, &vec![1; input.len()]), whole);
        // Two pieces, cut at every position.
        for cut in 0..=input.len() {
            assert_eq!(feed(&input, &[cut]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn no_copy_when_no_dot_removed() {
        let mut dec = DataDecoder::new();
        let mut buf = BytesMut::from(&b"hello\r\nworld\r\n.\r\n"[..]);
        let ptr = buf.as_ptr();
        match dec.decode(&mut buf) {
            DataStep::Chunk(c) => {
                assert_eq!(c.as_ptr(), ptr);
                assert_eq!(&c[..], b"hello\r\nworld\r\n");
            }
            other => panic!("expected a chunk, got {other:?}"),
        }
        assert_eq!(dec.decode(&mut buf), DataStep::End);
    }

    #[test]
    fn dots_removed_in_place_as_one_chunk() {
        let mut dec = DataDecoder::new();
        let mut buf = BytesMut::from(&b"..a\r\nb\r\n..c\r\n.\r\nQUIT\r\n"[..]);
        let ptr = buf.as_ptr();
        match dec.decode(&mut buf) {
            DataStep::Chunk(c) => {
                assert_eq!(c.as_ptr(), ptr, "compacted within the receive buffer");
                assert_eq!(&c[..], b".a\r\nb\r\n.c\r\n");
            }
            other => panic!("expected a chunk, got {other:?}"),
        }
        assert_eq!(&buf[..], b".\r\nQUIT\r\n");
        assert_eq!(dec.decode(&mut buf), DataStep::End);
        assert_eq!(&buf[..], b"QUIT\r\n");
    }

    #[test]
    fn matches_reference_on_examples() {
        for input in [
            &b""[..],
            b".",
            b"..",
            b".\r",
            b".\n",
            b"\r",
            b"\r\n",
            b"\r\n.",
            b"\r\n.\r",
            b"\r\n.\r\n",
            b"a\r\r\n.\r\n",
            b"\n.\r\n.\r\n",
        ] {
            assert_eq!(feed_whole(input), reference(input).0, "{input:?}");
        }
    }

    /// Bytes biased towards the interesting ones.
    fn wire_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                3 => Just(b'\r'),
                3 => Just(b'\n'),
                3 => Just(b'.'),
                1 => Just(b'a'),
                1 => any::<u8>(),
            ],
            0..max,
        )
    }

    /// A body made of CRLF-terminated lines without CR or LF inside, often starting with dots.
    fn lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let line = (
            0usize..4,
            prop::collection::vec(
                any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
                0..20,
            ),
        )
            .prop_map(|(dots, rest)| {
                let mut l = vec![b'.'; dots];
                l.extend(rest);
                l
            });
        prop::collection::vec(line, 0..12)
    }

    proptest! {
        #[test]
        fn any_split_gives_same_result(
            input in wire_bytes(120),
            cuts in prop::collection::vec(0usize..8, 0..40),
        ) {
            prop_assert_eq!(feed(&input, &cuts), feed_whole(&input));
        }

        #[test]
        fn any_split_of_terminated_message(
            body in wire_bytes(80),
            cuts in prop::collection::vec(0usize..8, 0..40),
        ) {
            let input = msg(&[&body, b"\r\n.\r\n", NEXT]);
            let whole = feed_whole(&input);
            prop_assert!(whole.end_at.is_some());
            prop_assert_eq!(feed(&input, &cuts), whole);
        }

        #[test]
        fn dot_stuffing_round_trip(lines in lines(), trailing in wire_bytes(10)) {
            let mut body = Vec::new();
            let mut stuffed = Vec::new();
            for l in &lines {
                body.extend_from_slice(l);
                body.extend_from_slice(b"\r\n");
                if l.first() == Some(&b'.') {
                    stuffed.push(b'.');
                }
                stuffed.extend_from_slice(l);
                stuffed.extend_from_slice(b"\r\n");
            }
            stuffed.extend_from_slice(b".\r\n");
            let end = stuffed.len();
            stuffed.extend_from_slice(&trailing);
            let out = feed_whole(&stuffed);
            prop_assert_eq!(&out.body, &body);
            prop_assert_eq!(out.end_at, Some(end));
            prop_assert!(!out.flag);
            prop_assert_eq!(&out.rest, &trailing);
        }

        #[test]
        fn arbitrary_bytes_account_for_every_byte(input in wire_bytes(200)) {
            let out = feed_whole(&input);
            let (expected, dots) = reference(&input);
            prop_assert_eq!(&out, &expected);
            let consumed = input.len() - out.rest.len();
            let terminator = if out.end_at.is_some() { TERMINATOR_LINE.len() } else { 0 };
            prop_assert_eq!(out.body.len() + dots + terminator, consumed);
            prop_assert_eq!(out.end_at.unwrap_or(consumed), consumed);
        }

        #[test]
        fn the_bare_line_ending_check_and_its_locator_agree(chunk in wire_bytes(200)) {
            prop_assert_eq!(
                has_bare_line_ending(&chunk),
                first_bare_line_ending(&chunk).is_some()
            );
        }

        #[test]
        fn dot_first_search_finds_what_memmem_finds(hay in wire_bytes(300)) {
            prop_assert_eq!(find_crlf_dot(&hay), crlf_dot().find(&hay));
        }

        #[test]
        fn fully_random_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..300)) {
            let out = feed_whole(&input);
            let (expected, _) = reference(&input);
            prop_assert_eq!(out, expected);
        }
    }
}
