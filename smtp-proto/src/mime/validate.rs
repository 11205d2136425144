//! RFC 5322 header validation: the field counts of section 3.6 and the syntax of the fields
//! that a submission server checks (after maddy's submission checks, which the seed's TODO
//! pointed to).

use super::date::DateTime;
use super::rfc5322;
use super::HeaderField;
use crate::Text;
use std::fmt;

/// The fields RFC 5322 section 3.6 (table on page 21) allows at most once, with the lower
/// bound: `From` and `Date` are required.
const COUNTED: [(&str, bool); 11] = [
    ("Date", true),
    ("From", true),
    ("Sender", false),
    ("Reply-To", false),
    ("To", false),
    ("Cc", false),
    ("Bcc", false),
    ("Message-ID", false),
    ("In-Reply-To", false),
    ("References", false),
    ("Subject", false),
];

/// The longest line RFC 5322 section 2.1.1 allows, without the CRLF.
const MAX_LINE: usize = 998;

/// One way a header block breaks RFC 5322.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// The field concerned: its name as sent, or the RFC's spelling for a count rule.
    pub field: Text,
    /// What is wrong.
    pub kind: ViolationKind,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.kind)
    }
}

/// The kinds of [`Violation`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ViolationKind {
    /// A required field (`From`, `Date`) is missing (RFC 5322 section 3.6).
    #[error("required field missing (RFC 5322 section 3.6)")]
    Missing,
    /// A field allowed at most once appears more often (RFC 5322 section 3.6).
    #[error("appears {count} times, at most once allowed (RFC 5322 section 3.6)")]
    Duplicate {
        /// How many times it appears.
        count: usize,
    },
    /// `From` names several mailboxes and there is no `Sender` (RFC 5322 section 3.6.2).
    #[error("From has {mailboxes} mailboxes and there is no Sender (RFC 5322 section 3.6.2)")]
    SenderRequired {
        /// Mailboxes in `From`.
        mailboxes: usize,
    },
    /// The field name is empty, has characters outside printable US-ASCII, or white space
    /// before the colon (RFC 5322 sections 2.2 and 3.6.8; section 4.5 forbids generating the
    /// obsolete white space).
    #[error("field name not printable US-ASCII without colon (RFC 5322 section 3.6.8)")]
    InvalidName,
    /// `Date` (or `Resent-Date`) is not a `date-time` (RFC 5322 section 3.3).
    #[error("not a valid date-time (RFC 5322 section 3.3)")]
    InvalidDate,
    /// An address field does not parse: `From` as a `mailbox-list`, `Sender` as a `mailbox`,
    /// `Reply-To`, `To` and `Cc` as an `address-list`, `Bcc` as an `address-list` or nothing
    /// (RFC 5322 sections 3.4 and 3.6.2-3.6.3).
    #[error("not a valid address (RFC 5322 section 3.4)")]
    InvalidAddress,
    /// A line longer than 998 octets without its CRLF (RFC 5322 section 2.1.1).
    #[error("line of {length} octets, at most 998 allowed (RFC 5322 section 2.1.1)")]
    LineTooLong {
        /// The longest line's length, without the line break.
        length: usize,
    },
    /// A CR not followed by LF, or an LF not preceded by CR (RFC 5322 section 2.2: CR and
    /// LF only occur together as CRLF).
    #[error("bare CR or LF (RFC 5322 section 2.2)")]
    BareLineEnding,
}

/// Validates a message's top-level header fields, fed one at a time (for example from the
/// [`PartInfo::headers`](super::PartInfo::headers) of the depth-0
/// [`MimeEvent::PartStart`](super::MimeEvent::PartStart)).
///
/// It checks, per RFC 5322:
/// - section 3.6: exactly one `From` and one `Date`; at most one each of `Sender`,
///   `Reply-To`, `To`, `Cc`, `Bcc`, `Message-ID`, `In-Reply-To`, `References`, `Subject`;
/// - section 3.6.2: a `Sender` when `From` has more than one mailbox;
/// - sections 2.2 and 3.6.8: field names of printable US-ASCII, no colon;
/// - section 3.3: `Date` parses as a `date-time` ([`DateTime`]);
/// - section 3.4: `From`, `Sender`, `Reply-To`, `To`, `Cc`, `Bcc` parse as addresses;
/// - section 2.1.1: no line over 998 octets; section 2.2: no bare CR or LF.
///
/// Each field is reported at most once per rule.
///
/// ```
/// use smtp_proto::mime::{HeaderField, HeaderValidator, ViolationKind};
/// let mut v = HeaderValidator::new();
/// for line in ["From: a@example.org, b@example.org\r\n", "Subject: x\r\n", "Subject: y\r\n"] {
///     v.field(&HeaderField::parse(line.into()).unwrap());
/// }
/// let kinds: Vec<_> = v.finish().into_iter().map(|v| (v.field.to_string(), v.kind)).collect();
/// assert_eq!(kinds, [
///     ("Date".to_string(), ViolationKind::Missing),
///     ("Subject".to_string(), ViolationKind::Duplicate { count: 2 }),
///     ("Sender".to_string(), ViolationKind::SenderRequired { mailboxes: 2 }),
/// ]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct HeaderValidator {
    counts: [usize; COUNTED.len()],
    from_mailboxes: usize,
    violations: Vec<Violation>,
}

impl HeaderValidator {
    /// A validator that has seen no field.
    pub fn new() -> HeaderValidator {
        HeaderValidator::default()
    }

    /// Checks one field and counts it.
    pub fn field(&mut self, field: &HeaderField) {
        let name = field.name().clone();
        let raw = field.raw();
        let raw_name = raw.get(..field.colon()).unwrap_or_default();
        if raw_name.is_empty() || !raw_name.iter().all(|&b| (33..=126).contains(&b)) {
            self.push(&name, ViolationKind::InvalidName);
        }
        let longest = raw
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line).len())
            .max()
            .unwrap_or(0);
        if longest > MAX_LINE {
            self.push(&name, ViolationKind::LineTooLong { length: longest });
        }
        if has_bare_line_ending(raw) {
            self.push(&name, ViolationKind::BareLineEnding);
        }

        let Some(i) = COUNTED.iter().position(|(n, _)| field.is(n)) else {
            if field.is("Resent-Date") && DateTime::parse(&field.unfolded()).is_none() {
                self.push(&name, ViolationKind::InvalidDate);
            }
            return;
        };
        self.counts[i] += 1;
        let value = field.unfolded();
        let ok = match COUNTED[i].0 {
            "Date" => DateTime::parse(&value).is_some(),
            "From" => match rfc5322::mailbox_list(&value) {
                Ok(n) => {
                    self.from_mailboxes = self.from_mailboxes.max(n);
                    true
                }
                Err(_) => false,
            },
            "Sender" => rfc5322::single_mailbox(&value).is_ok(),
            "Reply-To" | "To" | "Cc" => rfc5322::address_list(&value, false).is_ok(),
            "Bcc" => rfc5322::address_list(&value, true).is_ok(),
            _ => true,
        };
        if !ok {
            let kind = if COUNTED[i].0 == "Date" {
                ViolationKind::InvalidDate
            } else {
                ViolationKind::InvalidAddress
            };
            self.push(&name, kind);
        }
    }

    /// The violations found, field rules first (in field order), then the count rules.
    pub fn finish(mut self) -> Vec<Violation> {
        for (i, &(name, required)) in COUNTED.iter().enumerate() {
            let count = self.counts[i];
            if count == 0 && required {
                self.push(&Text::from_static(name), ViolationKind::Missing);
            } else if count > 1 {
                self.push(&Text::from_static(name), ViolationKind::Duplicate { count });
            }
        }
        let senders = COUNTED
            .iter()
            .position(|(n, _)| *n == "Sender")
            .map_or(0, |i| self.counts[i]);
        if self.from_mailboxes > 1 && senders == 0 {
            self.push(
                &Text::from_static("Sender"),
                ViolationKind::SenderRequired {
                    mailboxes: self.from_mailboxes,
                },
            );
        }
        self.violations
    }

    fn push(&mut self, field: &Text, kind: ViolationKind) {
        self.violations.push(Violation {
            field: field.clone(),
            kind,
        });
    }
}

/// Validates a header block at once: [`HeaderValidator`] over `fields`.
///
/// ```
/// use smtp_proto::mime::{validate_headers, HeaderField};
/// let fields: Vec<HeaderField> = ["From: a@example.org\r\n", "Date: Fri, 21 Nov 1997 09:55:06 -0600\r\n"]
///     .into_iter()
///     .map(|l| HeaderField::parse(l.into()).unwrap())
///     .collect();
/// assert!(validate_headers(&fields).is_empty());
/// ```
pub fn validate_headers<'a>(fields: impl IntoIterator<Item = &'a HeaderField>) -> Vec<Violation> {
    let mut v = HeaderValidator::new();
    for f in fields {
        v.field(f);
    }
    v.finish()
}

fn has_bare_line_ending(raw: &[u8]) -> bool {
    let mut from = 0;
    while let Some(i) = raw
        .get(from..)
        .and_then(|r| memchr::memchr2(b'\r', b'\n', r))
    {
        let p = from + i;
        match raw.get(p) {
            Some(b'\r') if raw.get(p + 1) == Some(&b'\n') => from = p + 2,
            _ => return true,
        }
    }
    false
}
