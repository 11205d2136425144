//! [`Config`]: every limit and every extension of a session, with safe defaults.

use crate::{Reply, Text};
use std::time::Duration;

/// What to do with a bare CR or bare LF inside message data (RFC 5321 section 2.3.8: they
/// must not appear except as part of CRLF).
///
/// Whatever the policy, only `<CRLF>.<CRLF>` ends the data, so the smuggling attacks of
/// CVE-2023-51764/51765/51766 never split one message into two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BareLineEndings {
    /// Reject the message with `550 5.6.0` after its terminator (like Postfix's
    /// `smtpd_forbid_bare_newline = yes`). The default.
    #[default]
    Reject,
    /// Accept them as ordinary data bytes, passed through unchanged.
    Accept,
}

/// What to do with a client that sends before the greeting has been sent ("early talker",
/// a sign of spam software that does not wait for the server).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EarlyTalkers {
    /// Answer `554 5.5.1` instead of the greeting and close. The default. Detection needs a
    /// [`Timeouts::greeting_delay`]; with no delay the greeting is sent before the first read.
    #[default]
    Reject,
    /// Ignore the early bytes' timing and process them as commands after the greeting.
    Allow,
}

/// How STARTTLS is offered (RFC 3207).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsPolicy {
    /// The adapter has no TLS configuration: STARTTLS is neither offered nor accepted.
    #[default]
    Disabled,
    /// STARTTLS is offered; plain-text sessions may go on without it.
    Optional,
    /// STARTTLS is offered and required: before TLS, every command but NOOP, EHLO, STARTTLS
    /// and QUIT is answered `530 5.7.0` (RFC 3207 section 4).
    Required,
}

/// Which protocol the session speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// SMTP (RFC 5321). The default.
    #[default]
    Smtp,
    /// LMTP (RFC 2033): `LHLO` instead of HELO/EHLO, and after the message one reply per
    /// accepted recipient, in RCPT order (the application decides each).
    Lmtp,
}

/// The timers of a session, after RFC 5321 section 4.5.3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Hold the greeting back this long and watch for early talkers. Default: zero.
    pub greeting_delay: Duration,
    /// Waiting for the next command: 5 minutes (RFC 5321 4.5.3.2.7, server timeout).
    pub command: Duration,
    /// Waiting for the next block of DATA or BDAT bytes: 5 minutes (RFC 5321 4.5.3.2.7; the
    /// client's own wait per data block is 3 minutes, 4.5.3.2.5).
    pub data_block: Duration,
    /// The adapter's TLS handshake after STARTTLS: 1 minute.
    pub tls_handshake: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            greeting_delay: Duration::ZERO,
            command: Duration::from_secs(300),
            data_block: Duration::from_secs(300),
            tls_handshake: Duration::from_secs(60),
        }
    }
}

/// Which service extensions the EHLO reply advertises and the session accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Extensions {
    /// PIPELINING (RFC 2920). Replies are grouped either way; this only advertises it.
    pub pipelining: bool,
    /// 8BITMIME (RFC 6152): `BODY=8BITMIME`.
    pub eight_bit_mime: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034): enhanced codes in replies.
    pub enhanced_status_codes: bool,
    /// SMTPUTF8 (RFC 6531): UTF-8 addresses with the `SMTPUTF8` parameter.
    pub smtputf8: bool,
    /// CHUNKING (RFC 3030): the BDAT command.
    pub chunking: bool,
    /// BINARYMIME (RFC 3030): `BODY=BINARYMIME`, which needs CHUNKING.
    pub binary_mime: bool,
    /// DSN (RFC 3461): RET, ENVID, NOTIFY, ORCPT.
    pub dsn: bool,
    /// REQUIRETLS (RFC 8689), advertised only under TLS.
    pub requiretls: bool,
    /// LIMITS (RFC 9422): advertise `RCPTMAX`.
    pub limits: bool,
}

impl Default for Extensions {
    fn default() -> Extensions {
        Extensions {
            pipelining: true,
            eight_bit_mime: true,
            enhanced_status_codes: true,
            smtputf8: true,
            chunking: true,
            binary_mime: true,
            dsn: true,
            requiretls: true,
            limits: true,
        }
    }
}

/// Configuration shared by the sessions of a server (wrap it in an `Arc`).
///
/// Every limit has a safe default. The struct is `#[non_exhaustive]`: start from
/// [`Config::default`] or [`Config::new`] and change fields.
///
/// ```
/// let mut config = smtp_proto::Config::new("mx.example.com");
/// config.max_recipients = 50;
/// config.max_message_size = 10 << 20;
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The server's name in the greeting, the EHLO reply and the trace fields. Default: `localhost`.
    pub hostname: Text,
    /// The longest command line in octets, CRLF included. Default 512 (RFC 5321 4.5.3.1.4).
    /// Longer lines get `500 5.5.2` and memory stays bounded even if no LF ever comes.
    pub max_line_length: usize,
    /// The largest message in octets (after dot-unstuffing), advertised as `SIZE`. A larger
    /// message is drained and answered `552 5.3.4`. Zero means no limit. Default 25 MiB.
    pub max_message_size: u64,
    /// Accepted recipients per transaction; beyond it `452 4.5.3` (RFC 5321 4.5.3.1.10).
    /// Default 100, the RFC's minimum.
    pub max_recipients: usize,
    /// Protocol errors (syntax, sequence, unknown commands) before `421 4.7.0` and close.
    /// Default 20.
    pub max_errors: usize,
    /// Bytes of replies queued but not yet taken by [`poll_transmit`](crate::Session::poll_transmit)
    /// before the session stops parsing input (a client that pipelines without reading is not
    /// read further). Default 64 KiB.
    pub max_pending_output: usize,
    /// Policy for bare CR / bare LF in message data.
    pub bare_line_endings: BareLineEndings,
    /// Policy for clients that talk before the greeting.
    pub early_talkers: EarlyTalkers,
    /// STARTTLS: disabled, optional or required.
    pub tls: TlsPolicy,
    /// Check that the HELO/EHLO argument is a domain or address literal (RFC 5321 4.1.1.1) and
    /// answer `501 5.5.4` otherwise. Default false: many real clients send names with `_`.
    pub strict_hello: bool,
    /// SMTP or LMTP.
    pub protocol: Protocol,
    /// SASL mechanisms offered by AUTH (RFC 4954), e.g. `PLAIN` and `LOGIN` (decoded by the
    /// core) or names the application handles itself (e.g. `XOAUTH2`, see
    /// [`Credentials::Other`](crate::Credentials::Other)). Empty (the default): no AUTH.
    pub auth_mechanisms: Vec<Text>,
    /// Offer and accept AUTH without TLS. Default false: passwords never cross the network in
    /// clear text unless you say so.
    pub allow_insecure_auth: bool,
    /// MAIL needs a successful AUTH first (`530 5.7.0`, RFC 4954 section 6), as on a
    /// submission server (port 587). Default false.
    pub require_auth: bool,
    /// The longest line of an AUTH exchange, CRLF included: 12288 octets (RFC 4954 section 4).
    pub max_auth_line_length: usize,
    /// The service extensions.
    pub extensions: Extensions,
    /// The timers.
    pub timeouts: Timeouts,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            hostname: Text::from_static("localhost"),
            max_line_length: 512,
            max_message_size: 25 << 20,
            max_recipients: 100,
            max_errors: 20,
            max_pending_output: 64 << 10,
            bare_line_endings: BareLineEndings::default(),
            early_talkers: EarlyTalkers::default(),
            tls: TlsPolicy::default(),
            strict_hello: false,
            protocol: Protocol::Smtp,
            auth_mechanisms: Vec::new(),
            allow_insecure_auth: false,
            require_auth: false,
            max_auth_line_length: 12288,
            extensions: Extensions::default(),
            timeouts: Timeouts::default(),
        }
    }
}

impl Config {
    /// `reply` with this server's host name in front of its text, the way RFC 5321 writes
    /// `220`, `221` and `421` replies (section 4.2, 3.8): `421 4.3.0 mx.example.com Service
    /// shutting down, try again later`. If the name cannot go into a reply, `reply` as is.
    ///
    /// ```
    /// use smtp_proto::{Config, Reply};
    /// let reply = Config::new("mx.example.com").host_reply(&Reply::SHUTTING_DOWN);
    /// assert_eq!(reply.code(), 421);
    /// assert_eq!(reply.text(), "mx.example.com Service shutting down, try again later");
    /// ```
    pub fn host_reply(&self, reply: &Reply) -> Reply {
        let text = format!("{} {}", self.hostname, reply.text());
        Reply::new(reply.code(), reply.enhanced(), text).unwrap_or_else(|_| reply.clone())
    }

    /// The defaults, with this host name.
    pub fn new(hostname: impl Into<String>) -> Config {
        Config {
            hostname: Text::from(hostname.into()),
            ..Config::default()
        }
    }
}
