//! Streaming Content-Transfer-Encoding decoders (RFC 2045 sections 6.7 and 6.8).
//!
//! Each decoder keeps O(1) state between calls (at most a few held-back octets, bounded), so a
//! part of any size is decoded in constant memory. Errors never stop decoding: they are
//! counted, and the parser turns the first one of a part into a warning.

/// What a base64 octet means: a sextet value (0..=63), or one of these markers.
const B64_PAD: u8 = 0xFD;
const B64_SKIP: u8 = 0xFE;
const B64_BAD: u8 = 0xFF;

/// The base64 alphabet of RFC 2045 section 6.8, Table 1, as a lookup table. CR, LF, space and
/// tab are skipped (line breaks and transport padding); every other octet outside the
/// alphabet "must be ignored" (6.8) and is counted as an error.
const B64: [u8; 256] = {
    let mut t = [B64_BAD; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t[b'=' as usize] = B64_PAD;
    t[b'\r' as usize] = B64_SKIP;
    t[b'\n' as usize] = B64_SKIP;
    t[b' ' as usize] = B64_SKIP;
    t[b'\t' as usize] = B64_SKIP;
    t
};

/// A streaming base64 decoder (RFC 2045 section 6.8).
#[derive(Debug, Clone, Default)]
pub(crate) struct Base64Decoder {
    /// Sextets of the quantum in progress, packed from the top.
    acc: u32,
    /// How many sextets `acc` holds (0..=3).
    n: u8,
    /// A `=` was seen: the encoded data is over (more data after it is an error, but decoding
    /// resumes as a new stream, as lenient decoders do).
    padded: bool,
    /// Octets that were not base64 (or misplaced padding).
    pub(crate) errors: u64,
}

impl Base64Decoder {
    /// Decodes `input`, appending the octets to `out`.
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() / 4 * 3 + 3);
        let mut i = 0;
        while i < input.len() {
            if self.n == 0 && !self.padded {
                // The hot path: whole quanta, four table look-ups and three octets at a time
                // (`out` was reserved for all of them above).
                for q in input.get(i..).unwrap_or_default().chunks_exact(4) {
                    let (a, b, c, d) = (
                        B64[usize::from(q[0])],
                        B64[usize::from(q[1])],
                        B64[usize::from(q[2])],
                        B64[usize::from(q[3])],
                    );
                    if (a | b | c | d) & 0xC0 != 0 {
                        break;
                    }
                    let v = (u32::from(a) << 18)
                        | (u32::from(b) << 12)
                        | (u32::from(c) << 6)
                        | u32::from(d);
                    out.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
                    i += 4;
                }
                if i >= input.len() {
                    break;
                }
            }
            let Some(&byte) = input.get(i) else { break };
            i += 1;
            match B64[byte as usize] {
                B64_SKIP => {}
                B64_PAD => {
                    // "=" ends the data: a quantum of 2 or 3 sextets gives 1 or 2 octets.
                    match self.n {
                        2 => out.push((self.acc >> 16) as u8),
                        3 => {
                            out.extend_from_slice(&[(self.acc >> 16) as u8, (self.acc >> 8) as u8])
                        }
                        _ if self.padded => {} // the second "=" of "=="
                        _ => self.errors += 1,
                    }
                    self.acc = 0;
                    self.n = 0;
                    self.padded = true;
                }
                B64_BAD => self.errors += 1,
                v => {
                    if self.padded {
                        // Data after the end of the data: decode it as a new stream.
                        self.errors += 1;
                        self.padded = false;
                    }
                    self.acc |= u32::from(v) << (18 - 6 * u32::from(self.n));
                    self.n += 1;
                    if self.n == 4 {
                        let v = self.acc;
                        out.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
                        self.acc = 0;
                        self.n = 0;
                    }
                }
            }
        }
    }

    /// Ends the data: a quantum left without its padding still gives its octets (lenient),
    /// but counts as an error; a single sextet cannot make an octet.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        match self.n {
            0 => {}
            1 => self.errors += 1,
            2 => {
                out.push((self.acc >> 16) as u8);
                self.errors += 1;
            }
            _ => {
                out.extend_from_slice(&[(self.acc >> 16) as u8, (self.acc >> 8) as u8]);
                self.errors += 1;
            }
        }
        self.acc = 0;
        self.n = 0;
    }
}

/// The most trailing white space a quoted-printable decoder holds back while it waits to see
/// whether a line break follows. Longer runs are not transport padding of a legal (76-octet)
/// line; they are passed on as data.
const QP_MAX_HELD: usize = 256;

/// A streaming quoted-printable decoder (RFC 2045 section 6.7).
///
/// Rule 3: white space at the end of an encoded line is removed. Rule 5: `=` at the end of a
/// line is a soft line break and is removed with the line break. A hard line break is passed
/// on as it came (CRLF, or a bare LF in a message stored with local line endings). An `=`
/// not followed by two hex digits is passed on literally and counted as an error (6.7, note 1).
#[derive(Debug, Clone, Default)]
pub(crate) struct QpDecoder {
    /// The undecided end of the input so far: trailing white space, a `\r`, or an incomplete
    /// `=` escape. Bounded by `QP_MAX_HELD + 3`.
    held: Vec<u8>,
    /// Malformed escapes seen.
    pub(crate) errors: u64,
}

impl QpDecoder {
    /// Decodes `input`, appending the octets to `out`.
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if self.held.is_empty() {
            let keep = self.decode_lines(input, out);
            self.held.extend_from_slice(keep);
        } else {
            let mut data = std::mem::take(&mut self.held);
            data.extend_from_slice(input);
            let keep = self.decode_lines(&data, out);
            let keep = keep.to_vec();
            self.held = keep;
        }
    }

    /// Decodes the complete lines of `data` and the safe start of its last line, and returns
    /// the undecided tail.
    fn decode_lines<'a>(&mut self, data: &'a [u8], out: &mut Vec<u8>) -> &'a [u8] {
        out.reserve(data.len());
        let mut rest = data;
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (line, after) = rest.split_at(nl + 1);
            let body = &line[..nl];
            let (body, crlf) = match body.strip_suffix(b"\r") {
                Some(b) => (b, true),
                None => (body, false),
            };
            let body = trim_end_ws(body);
            if let Some(soft) = body.strip_suffix(b"=") {
                self.unescape(soft, out);
            } else {
                self.unescape(body, out);
                out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            }
            rest = after;
        }
        // The last, incomplete line: hold back what the next octets may change.
        let mut hold = rest.len() - trim_end_ws_cr(rest).len();
        if hold > QP_MAX_HELD {
            hold = 0;
        }
        let end = rest.len() - hold;
        // An escape cut short ("=" or "=X"), or "=" before the held white space.
        let from = end.saturating_sub(2);
        let cut = rest
            .get(from..end)
            .and_then(|tail| tail.iter().position(|&b| b == b'='))
            .map_or(end, |p| from + p);
        self.unescape(rest.get(..cut).unwrap_or_default(), out);
        rest.get(cut..).unwrap_or_default()
    }

    /// Decodes `=XX` escapes in one line's text (no line break in it).
    fn unescape(&mut self, mut s: &[u8], out: &mut Vec<u8>) {
        while let Some(eq) = memchr::memchr(b'=', s) {
            out.extend_from_slice(&s[..eq]);
            match (
                s.get(eq + 1).and_then(|&h| hex(h)),
                s.get(eq + 2).and_then(|&l| hex(l)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    s = &s[eq + 3..];
                }
                _ => {
                    self.errors += 1;
                    out.push(b'=');
                    s = &s[eq + 1..];
                }
            }
        }
        out.extend_from_slice(s);
    }

    /// Ends the data: the held tail is a last line without a line break.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        let held = std::mem::take(&mut self.held);
        let body = trim_end_ws_cr(&held);
        match body.strip_suffix(b"=") {
            Some(soft) => self.unescape(soft, out),
            None => self.unescape(body, out),
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10), // lenient: RFC 2045 asks for upper case
        _ => None,
    }
}

fn trim_end_ws(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |p| p + 1);
    &s[..n]
}

fn trim_end_ws_cr(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t' && b != b'\r')
        .map_or(0, |p| p + 1);
    &s[..n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b64_chunks(input: &[u8], cut: usize) -> (Vec<u8>, u64) {
        let mut d = Base64Decoder::default();
        let mut out = Vec::new();
        let cut = cut.min(input.len());
        d.decode(&input[..cut], &mut out);
        d.decode(&input[cut..], &mut out);
        d.finish(&mut out);
        (out, d.errors)
    }

    fn qp_chunks(input: &[u8], cut: usize) -> (Vec<u8>, u64) {
        let mut d = QpDecoder::default();
        let mut out = Vec::new();
        let cut = cut.min(input.len());
        d.decode(&input[..cut], &mut out);
        d.decode(&input[cut..], &mut out);
        d.finish(&mut out);
        (out, d.errors)
    }

    #[test]
    fn base64_rfc4648_vectors() {
        for (enc, dec) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
            ("Zm9v\r\nYmFy\r\n", "foobar"),
        ] {
            for cut in 0..=enc.len() {
                assert_eq!(
                    b64_chunks(enc.as_bytes(), cut),
                    (dec.as_bytes().to_vec(), 0),
                    "{enc} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn base64_errors_are_counted_and_skipped() {
        assert_eq!(b64_chunks(b"Zm9v!YmFy", 3), (b"foobar".to_vec(), 1));
        assert_eq!(
            b64_chunks(b"Zm9vYg", 3),
            (b"foob".to_vec(), 1),
            "missing padding"
        );
        assert_eq!(
            b64_chunks(b"Zg==Zg==", 5),
            (b"ff".to_vec(), 1),
            "data after padding"
        );
        assert_eq!(b64_chunks(b"Z", 0), (b"".to_vec(), 1));
        assert_eq!(b64_chunks(b"=", 0), (b"".to_vec(), 1));
    }

    #[test]
    fn qp_rules() {
        let cases: &[(&[u8], &[u8], u64)] = &[
            (b"a=3Db", b"a=b", 0),
            (b"soft=\r\nbreak", b"softbreak", 0),
            (b"soft=  \r\nbreak", b"softbreak", 0),
            (b"trailing   \r\nws", b"trailing\r\nws", 0),
            (b"keep  =\r\n", b"keep  ", 0),
            (b"lf\nonly", b"lf\nonly", 0),
            (b"bad=G1", b"bad=G1", 1),
            (b"end=", b"end", 0),
            (b"end  ", b"end", 0),
            (b"=E2=82=AC", "€".as_bytes(), 0),
            (b"low=e2=82=ac", "low€".as_bytes(), 0),
        ];
        for &(enc, dec, errors) in cases {
            for cut in 0..=enc.len() {
                assert_eq!(
                    qp_chunks(enc, cut),
                    (dec.to_vec(), errors),
                    "{:?} cut {cut}",
                    String::from_utf8_lossy(enc)
                );
            }
        }
    }

    proptest! {
        #[test]
        fn qp_never_panics_and_held_is_bounded(data in proptest::collection::vec(any::<u8>(), 0..600), cuts in proptest::collection::vec(0usize..600, 0..8)) {
            let mut d = QpDecoder::default();
            let mut out = Vec::new();
            let mut at = 0;
            for c in cuts {
                let c = c.clamp(at, data.len());
                d.decode(&data[at..c], &mut out);
                prop_assert!(d.held.len() <= QP_MAX_HELD + 3);
                at = c;
            }
            d.decode(&data[at..], &mut out);
            d.finish(&mut out);
        }

        #[test]
        fn base64_split_anywhere(data in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..400) {
            let enc = reference_b64(&data);
            prop_assert_eq!(b64_chunks(enc.as_bytes(), cut), (data, 0));
        }
    }

    fn reference_b64(data: &[u8]) -> String {
        let a = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for (i, c) in data.chunks(3).enumerate() {
            if i > 0 && i % 19 == 0 {
                s.push_str("\r\n");
            }
            let v = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for k in 0..4 {
                if k <= c.len() {
                    s.push(a[(v >> (18 - 6 * k)) as usize & 63] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s
    }
}
