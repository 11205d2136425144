//! Obviously-correct reference models, one byte at a time, to compare the fast code against.

/// What decoding a DATA body from its first byte produces (RFC 5321 4.5.2 transparency, and
/// only `<CRLF>.<CRLF>` ends the data).
#[derive(Debug, PartialEq, Eq)]
pub struct Unstuffed {
    /// The body after dot-unstuffing, up to what can be decided.
    pub body: Vec<u8>,
    /// Octets consumed through the terminator, if the terminator was found.
    pub end_at: Option<usize>,
    /// A bare CR (not followed by LF) or bare LF (not preceded by CR) was consumed.
    pub bare: bool,
    /// Octets not consumed: after the terminator, or held back undecided.
    pub rest: Vec<u8>,
    /// Stuffed dots removed.
    pub dots: usize,
}

/// Decodes `input` as DATA body bytes, the way the server must.
pub fn unstuff(input: &[u8]) -> Unstuffed {
    let mut body = Vec::new();
    let mut bare = false;
    let mut dots = 0;
    let mut i = 0;
    let mut line_start = true;
    let mut end_at = None;
    loop {
        let rest = &input[i..];
        if line_start {
            if rest.starts_with(b".\r\n") {
                i += 3;
                end_at = Some(i);
                break;
            }
            if b".\r\n".starts_with(rest) {
                break; // "", "." or ".\r": undecided
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
                None => break, // a CR at the end: undecided
                Some(b'\n') => {
                    body.extend_from_slice(b"\r\n");
                    i += 2;
                    line_start = true;
                }
                Some(_) => {
                    bare = true;
                    body.push(c);
                    i += 1;
                }
            },
            b'\n' => {
                bare = true;
                body.push(c);
                i += 1;
            }
            _ => {
                body.push(c);
                i += 1;
            }
        }
    }
    Unstuffed {
        body,
        end_at,
        bare,
        rest: input[i..].to_vec(),
        dots,
    }
}

/// The message body a client transmits for `body` (RFC 5321 4.1.1.4): a final CRLF added if
/// the body does not end with one, a dot doubled at the start of every line (lines end with
/// CRLF only; a bare CR or LF does not start a line), then the terminator `.` CRLF. Returns the
/// wire bytes and the body as the server must deliver it.
pub fn stuff(body: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut expected = body.to_vec();
    if !expected.is_empty() && !expected.ends_with(b"\r\n") {
        expected.extend_from_slice(b"\r\n");
    }
    let mut wire = Vec::with_capacity(expected.len() + 8);
    for (i, &c) in expected.iter().enumerate() {
        let line_start = i == 0 || expected[..i].ends_with(b"\r\n");
        if line_start && c == b'.' {
            wire.push(b'.');
        }
        wire.push(c);
    }
    wire.extend_from_slice(b".\r\n");
    (wire, expected)
}

/// The offset of the first bare CR or bare LF in `body`.
pub fn first_bare_line_ending(body: &[u8]) -> Option<usize> {
    (0..body.len()).find(|&i| match body[i] {
        b'\r' => body.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || body[i - 1] != b'\r',
        _ => false,
    })
}
