//! What the server may put on the wire: a sequence of well-formed replies (RFC 5321 4.2).

/// The longest reply line, CRLF included (RFC 5321 section 4.5.3.1.5).
const MAX_REPLY_LINE: usize = 512;

/// Checks reply bytes as they leave the session, one `poll_transmit` buffer at a time.
#[derive(Debug, Default)]
pub struct ReplyChecker {
    /// The code of an unfinished multi-line reply (after `NNN-` lines).
    open: Option<[u8; 3]>,
    /// Whether enhanced status codes are in use (then a leading `c.s.d` must agree with the code).
    enhanced: bool,
    /// Complete replies seen, with their codes.
    pub codes: Vec<u16>,
}

impl ReplyChecker {
    /// A checker; `enhanced` says whether ENHANCEDSTATUSCODES is on.
    pub fn new(enhanced: bool) -> ReplyChecker {
        ReplyChecker {
            enhanced,
            ..ReplyChecker::default()
        }
    }

    /// One `poll_transmit` buffer: non-empty, whole lines, and it ends at the end of a reply
    /// (a transmit never leaves a multi-line reply half-written).
    pub fn transmit(&mut self, bytes: &[u8]) {
        assert!(!bytes.is_empty(), "poll_transmit returned an empty buffer");
        assert!(
            bytes.ends_with(b"\r\n"),
            "transmit does not end with CRLF: {:?}",
            String::from_utf8_lossy(bytes)
        );
        let mut rest = bytes;
        while !rest.is_empty() {
            let end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("every line ends with CRLF");
            self.line(&rest[..end]);
            rest = &rest[end + 2..];
        }
        assert!(
            self.open.is_none(),
            "transmit ends inside a multi-line reply: {:?}",
            String::from_utf8_lossy(bytes)
        );
    }

    /// One reply line without its CRLF.
    fn line(&mut self, line: &[u8]) {
        let shown = String::from_utf8_lossy(line);
        assert!(
            line.len() + 2 <= MAX_REPLY_LINE,
            "reply line over 512 octets: {shown:?}"
        );
        assert!(line.len() >= 4, "reply line too short: {shown:?}");
        let code = [line[0], line[1], line[2]];
        assert!(
            matches!(code[0], b'2'..=b'5')
                && matches!(code[1], b'0'..=b'5')
                && code[2].is_ascii_digit(),
            "bad reply code: {shown:?}"
        );
        let text = &line[4..];
        assert!(
            text.iter()
                .all(|&c| c == b'\t' || (b' '..=b'~').contains(&c)),
            "reply text outside %d9 / %d32-126 (CR, LF or a control in a reply): {shown:?}"
        );
        if let Some(open) = self.open {
            assert_eq!(open, code, "multi-line reply changes its code: {shown:?}");
        }
        if self.enhanced {
            if let Some(class) = enhanced_class(text) {
                assert_eq!(
                    class, code[0],
                    "enhanced code class differs from the reply code: {shown:?}"
                );
            }
        }
        match line[3] {
            b'-' => self.open = Some(code),
            b' ' => {
                self.open = None;
                let n = code.iter().fold(0u16, |a, &d| a * 10 + u16::from(d - b'0'));
                self.codes.push(n);
            }
            _ => panic!("reply code not followed by SP or '-': {shown:?}"),
        }
    }
}

/// The class digit of a leading enhanced status code `c.sss.ddd ` (RFC 3463), if the text
/// starts with one.
fn enhanced_class(text: &[u8]) -> Option<u8> {
    let word = text.split(|&c| c == b' ').next()?;
    let mut parts = word.split(|&c| c == b'.');
    let class = parts.next()?;
    let subject = parts.next()?;
    let detail = parts.next()?;
    let digits =
        |p: &[u8], max: usize| !p.is_empty() && p.len() <= max && p.iter().all(u8::is_ascii_digit);
    (parts.next().is_none()
        && class.len() == 1
        && digits(class, 1)
        && digits(subject, 3)
        && digits(detail, 3))
    .then_some(class[0])
}
