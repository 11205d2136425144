//! Trace header fields (RFC 5321 section 4.4): `Return-Path` and `Received`.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// What a `Received` field records about one hop (RFC 5321 section 4.4).
#[derive(Debug, Clone)]
pub struct Trace<'a> {
    /// The reverse-path of MAIL FROM with its angle brackets: `<a@example.com>`, or `<>`.
    pub return_path: &'a str,
    /// The name the client gave in HELO/EHLO.
    pub helo: &'a str,
    /// The client's IP address.
    pub peer: IpAddr,
    /// This server's name.
    pub by: &'a str,
    /// The protocol, from [`protocol`]: `SMTP`, `ESMTP` or `ESMTPS`.
    pub protocol: &'a str,
    /// The TLS version and cipher, recorded as a comment, when the session used TLS.
    pub tls: Option<&'a str>,
    /// A local identifier of the message (characters outside RFC 5322 `atext` become `_`).
    pub id: &'a str,
    /// The recipient, with angle brackets, for a message with exactly one (RFC 5321 4.4 leaves
    /// the `for` clause optional; naming one of several would leak the others' existence).
    pub recipient: Option<&'a str>,
    /// When the message was received.
    pub date: SystemTime,
}

/// The `with` protocol of a `Received` field (RFC 5321 section 4.4, RFC 3848).
pub fn protocol(esmtp: bool, tls: bool) -> &'static str {
    match (esmtp, tls) {
        (true, true) => "ESMTPS",
        (true, false) => "ESMTP",
        (false, _) => "SMTP",
    }
}

/// The `with` protocol of a `Received` field with everything RFC 3848 distinguishes: SMTP or
/// LMTP, extended (EHLO/LHLO), under TLS (`S`), authenticated (`A`).
///
/// ```
/// use smtp_catcher::received_protocol;
/// assert_eq!(received_protocol(false, true, true, true), "ESMTPSA");
/// assert_eq!(received_protocol(true, true, false, false), "LMTP");
/// assert_eq!(received_protocol(false, false, false, false), "SMTP");
/// ```
pub fn received_protocol(lmtp: bool, esmtp: bool, tls: bool, authenticated: bool) -> &'static str {
    match (lmtp, esmtp, tls, authenticated) {
        (true, _, false, false) => "LMTP",
        (true, _, false, true) => "LMTPA",
        (true, _, true, false) => "LMTPS",
        (true, _, true, true) => "LMTPSA",
        (false, false, _, _) => "SMTP",
        (false, true, false, false) => "ESMTP",
        (false, true, false, true) => "ESMTPA",
        (false, true, true, false) => "ESMTPS",
        (false, true, true, true) => "ESMTPSA",
    }
}

/// The `Return-Path:` and `Received:` fields to put in front of a delivered message, with
/// CRLF line endings, folded so that no line is longer than 78 characters when the names are
/// reasonable (and never longer than 998 octets).
///
/// ```
/// use smtp_catcher::{trace_headers, Trace};
/// use std::time::{Duration, UNIX_EPOCH};
/// let fields = trace_headers(&Trace {
///     return_path: "<app@example.com>",
///     helo: "client.example",
///     peer: "127.0.0.1".parse().unwrap(),
///     by: "localhost",
///     protocol: "ESMTP",
///     tls: None,
///     id: "17Q0",
///     recipient: Some("<you@example.net>"),
///     date: UNIX_EPOCH + Duration::from_secs(951782400),
/// });
/// assert_eq!(
///     fields,
///     "Return-Path: <app@example.com>\r\n\
///      Received: from client.example ([127.0.0.1])\r\n\
///      \tby localhost with ESMTP id 17Q0\r\n\
///      \tfor <you@example.net>; Tue, 29 Feb 2000 00:00:00 +0000\r\n"
/// );
/// ```
pub fn trace_headers(t: &Trace<'_>) -> String {
    let peer = match t.peer {
        IpAddr::V4(ip) => format!("[{ip}]"),
        IpAddr::V6(ip) => format!("[IPv6:{ip}]"),
    };
    let id: String =
        t.id.chars()
            .map(|c| if is_atext(c) { c } else { '_' })
            .collect();
    let mut out = String::with_capacity(256);
    let _ = write!(out, "Return-Path: {}\r\n", clean(t.return_path));
    let _ = write!(out, "Received: from {} ({peer})\r\n", clean(t.helo));
    if let Some(tls) = t.tls {
        let _ = write!(
            out,
            "\t(using {})\r\n",
            clean(tls).replace(['(', ')', '\\'], "_")
        );
    }
    let _ = write!(out, "\tby {} with {} id {id}", clean(t.by), t.protocol);
    match t.recipient {
        Some(rcpt) => {
            let _ = write!(out, "\r\n\tfor {}; ", clean(rcpt));
        }
        None => out.push_str(";\r\n\t"),
    }
    let _ = write!(out, "{}\r\n", rfc5322_date(t.date));
    out
}

/// Drops anything that could end the header line or break its syntax (the core has already
/// refused control characters in names and addresses; this is a second fence).
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(900).collect()
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// `date-time` of RFC 5322 section 3.3, in UTC: `Tue, 29 Feb 2000 00:00:00 +0000`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// assert_eq!(smtp_catcher::rfc5322_date(UNIX_EPOCH), "Thu, 1 Jan 1970 00:00:00 +0000");
/// ```
pub fn rfc5322_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm, proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[(days + 4).rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> String {
        rfc5322_date(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn dates() {
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(at(951_868_799), "Tue, 29 Feb 2000 23:59:59 +0000");
        assert_eq!(at(1_234_567_890), "Fri, 13 Feb 2009 23:31:30 +0000");
        assert_eq!(at(4_102_444_800), "Fri, 1 Jan 2100 00:00:00 +0000");
        assert_eq!(at(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 +0000");
    }

    #[test]
    fn received_with_tls_and_ipv6_and_no_single_recipient() {
        let fields = trace_headers(&Trace {
            return_path: "<>",
            helo: "[::1]",
            peer: "::1".parse().unwrap(),
            by: "mx.example",
            protocol: protocol(true, true),
            tls: Some("TLSv1_3 TLS13_AES_128_GCM_SHA256"),
            id: "1.M2P3Q4.host\\072x",
            recipient: None,
            date: UNIX_EPOCH,
        });
        assert_eq!(
            fields,
            "Return-Path: <>\r\nReceived: from [::1] ([IPv6:::1])\r\n\
             \t(using TLSv1_3 TLS13_AES_128_GCM_SHA256)\r\n\
             \tby mx.example with ESMTPS id 1_M2P3Q4_host_072x;\r\n\
             \tThu, 1 Jan 1970 00:00:00 +0000\r\n"
        );
        assert!(fields.lines().all(|l| l.len() <= 78));
    }

    #[test]
    fn protocols() {
        assert_eq!(protocol(false, true), "SMTP");
        assert_eq!(protocol(true, false), "ESMTP");
    }
}
