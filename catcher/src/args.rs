//! The command line of the example servers.

use crate::{AuthFile, RecipientPolicy};
use clap::{ArgGroup, Parser};
use regex::Regex;
use smtp_proto::proxy::{Cidr, ProxyConfig, TrustedNetworks};
use smtp_proto::{Protocol, Text};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A development mail catcher: accepts every message and stores it in a Maildir.
///
/// The flags are shared by the tokio and the blocking example server, so that both behave the
/// same. Parse with `Args::parse()` ([`Parser`](crate::Parser) is re-exported).
///
/// ```
/// use smtp_catcher::Args;
/// use smtp_catcher::Parser;
/// let args = Args::try_parse_from(["smtpd", "--max-size", "1000", "--reject-recipients", "^bounce@"]).unwrap();
/// assert_eq!(args.listen.to_string(), "127.0.0.1:2525");
/// assert_eq!(args.config().max_message_size, 1000);
/// assert!(args.policy().check("bounce@example.com").is_some());
/// ```
#[derive(Debug, Clone, Parser)]
#[command(
    version,
    about = "A development mail catcher: accepts mail over SMTP and stores each message in a Maildir.",
    long_about = None,
    group(ArgGroup::new("tls").args(["tls_cert", "self_signed"]))
)]
#[non_exhaustive]
pub struct Args {
    /// Address to listen on for plain SMTP (with STARTTLS when TLS is configured).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2525")]
    pub listen: SocketAddr,

    /// PEM file with the certificate chain for TLS (STARTTLS and --implicit-tls-listen).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM file with the private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Generate a self-signed certificate at start (for trying TLS locally; clients must be
    /// told not to verify it).
    #[arg(long)]
    pub self_signed: bool,

    /// Also listen for implicit TLS (port 465 style, RFC 8314) on this address. Needs
    /// --tls-cert/--tls-key or --self-signed.
    #[arg(long, value_name = "ADDR", requires = "tls")]
    pub implicit_tls_listen: Option<SocketAddr>,

    /// Refuse mail before STARTTLS (530 5.7.0, RFC 3207). Needs --tls-cert/--tls-key or
    /// --self-signed.
    #[arg(long, requires = "tls")]
    pub require_tls: bool,

    /// Largest accepted message in octets, advertised as SIZE; 0 for no limit.
    #[arg(long, value_name = "BYTES", default_value_t = 25 << 20)]
    pub max_size: u64,

    /// Most recipients per message (RFC 5321 requires at least 100).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_recipients: usize,

    /// Connections served at once; the ones beyond get `421 4.3.2` and are closed.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_connections: usize,

    /// Maildir to store messages in (created with tmp/, new/ and cur/ if missing).
    #[arg(long, value_name = "DIR", default_value = "maildir")]
    pub maildir: PathBuf,

    /// The server's name in the greeting, the EHLO reply and the Received header.
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    pub hostname: String,

    /// Refuse recipients whose address (user@domain, no angle brackets) matches this regex,
    /// with 550 5.1.1: to see how your application handles bounces.
    #[arg(long, value_name = "REGEX")]
    pub reject_recipients: Option<Regex>,

    /// Defer recipients whose address matches this regex, with 451 4.3.0: to see how your
    /// application handles temporary failures.
    #[arg(long, value_name = "REGEX")]
    pub defer_recipients: Option<Regex>,

    /// Accept every message and store nothing (for benchmarks).
    #[arg(long, conflicts_with = "maildir")]
    pub discard: bool,

    /// File of `user:password` lines (blank lines and `#` comments skipped): offer AUTH PLAIN
    /// and LOGIN (RFC 4954) and accept these users. AUTH is offered only under TLS unless
    /// --allow-insecure-auth.
    #[arg(long, value_name = "PATH")]
    pub auth_file: Option<PathBuf>,

    /// Refuse MAIL before a successful AUTH (530 5.7.0), as a submission server does. Needs
    /// --auth-file.
    #[arg(long, requires = "auth_file")]
    pub require_auth: bool,

    /// Offer and accept AUTH on connections without TLS: passwords cross the network in
    /// clear text. For local testing only. Needs --auth-file.
    #[arg(long, requires = "auth_file")]
    pub allow_insecure_auth: bool,

    /// Speak LMTP (RFC 2033) instead of SMTP on --listen: LHLO, and one reply per recipient
    /// after the message.
    #[arg(long)]
    pub lmtp: bool,

    /// Also serve LMTP on this Unix-domain socket (an existing file at the path is replaced;
    /// the socket is removed at exit).
    #[arg(long, value_name = "PATH")]
    pub lmtp_socket: Option<PathBuf>,

    /// Expect the PROXY protocol header (HAProxy's, v1 or v2) from the --trusted-proxy peers
    /// on --listen and --implicit-tls-listen: the client address it carries is the one logged
    /// and written to Received. A trusted peer must send one (else it is disconnected); other
    /// peers are served as plain SMTP with their own address.
    #[arg(long)]
    pub proxy_protocol: bool,

    /// A network whose peers are proxies that send the PROXY header, as a CIDR (10.0.0.0/8,
    /// 192.0.2.7/32, ::1/128); repeatable. Default with --proxy-protocol: the loopback
    /// addresses 127.0.0.1/32 and ::1/128.
    #[arg(long, value_name = "CIDR", requires = "proxy_protocol")]
    pub trusted_proxy: Vec<Cidr>,

    /// Log the SMTP protocol trace (every command and reply; AUTH payloads masked). The
    /// RUST_LOG environment variable, when set, takes precedence.
    #[arg(short, long)]
    pub verbose: bool,
}

impl Args {
    /// The session configuration these flags describe: host name and limits. The TLS policy
    /// is the adapter's to set, from [`tls_config`](Self::tls_config) and `require_tls`.
    pub fn config(&self) -> smtp_proto::Config {
        let mut config = smtp_proto::Config::new(self.hostname.clone());
        config.max_message_size = self.max_size;
        config.max_recipients = self.max_recipients;
        if self.auth_file.is_some() {
            config.auth_mechanisms = vec![Text::from_static("PLAIN"), Text::from_static("LOGIN")];
            config.require_auth = self.require_auth;
            config.allow_insecure_auth = self.allow_insecure_auth;
        }
        if self.lmtp {
            config.protocol = Protocol::Lmtp;
        }
        config
    }

    /// The configuration for `--lmtp-socket`: [`config`](Self::config) speaking LMTP.
    pub fn lmtp_config(&self) -> smtp_proto::Config {
        let mut config = self.config();
        config.protocol = Protocol::Lmtp;
        config
    }

    /// The users of `--auth-file`, if given.
    pub fn auth_users(&self) -> std::io::Result<Option<AuthFile>> {
        self.auth_file.as_ref().map(AuthFile::load).transpose()
    }

    /// With `--proxy-protocol`: the trusted proxies (`--trusted-proxy`, default loopback) and
    /// the decoder settings (a header is required, within 5 seconds).
    pub fn proxy(&self) -> Option<(TrustedNetworks, ProxyConfig)> {
        if !self.proxy_protocol {
            return None;
        }
        let trusted = match self.trusted_proxy.is_empty() {
            true => "127.0.0.1/32, ::1/128".parse().expect("valid networks"),
            false => self.trusted_proxy.iter().copied().collect(),
        };
        Some((trusted, ProxyConfig::default()))
    }

    /// The recipient policy of `--reject-recipients` and `--defer-recipients`.
    pub fn policy(&self) -> RecipientPolicy {
        RecipientPolicy {
            reject: self.reject_recipients.clone(),
            defer: self.defer_recipients.clone(),
        }
    }

    /// The rustls configuration of `--tls-cert`/`--tls-key` or `--self-signed`, if any.
    pub fn tls_config(&self) -> std::io::Result<Option<Arc<rustls::ServerConfig>>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => crate::tls::load_pem(cert, key).map(Some),
            _ if self.self_signed => crate::tls::self_signed_config(&[&self.hostname]).map(Some),
            _ => Ok(None),
        }
    }

    /// The `tracing` filter for these flags: `info`, plus the adapters' protocol trace with
    /// `-v`.
    pub fn log_filter(&self) -> &'static str {
        if self.verbose {
            "info,smtp_tokio=trace,smtp_blocking=trace"
        } else {
            "info"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn tls_flags_need_a_certificate() {
        assert!(Args::try_parse_from(["smtpd", "--require-tls"]).is_err());
        assert!(
            Args::try_parse_from(["smtpd", "--implicit-tls-listen", "127.0.0.1:4650"]).is_err()
        );
        assert!(Args::try_parse_from(["smtpd", "--tls-cert", "c.pem"]).is_err());
        assert!(Args::try_parse_from([
            "smtpd",
            "--self-signed",
            "--tls-cert",
            "c",
            "--tls-key",
            "k"
        ])
        .is_err());
        let a = Args::try_parse_from(["smtpd", "--self-signed", "--require-tls", "-v"]).unwrap();
        assert!(a.require_tls && a.verbose);
        assert!(a.tls_config().unwrap().is_some());
    }

    #[test]
    fn connection_cap_defaults_to_the_adapters_and_can_be_raised() {
        let default = Args::try_parse_from(["smtpd"]).unwrap();
        assert_eq!(default.max_connections, 1000);
        let raised = Args::try_parse_from(["smtpd", "--max-connections", "20000"]).unwrap();
        assert_eq!(raised.max_connections, 20000);
        assert!(Args::try_parse_from(["smtpd", "--max-connections", "many"]).is_err());
    }

    #[test]
    fn discard_conflicts_only_with_an_explicit_maildir() {
        assert!(
            Args::try_parse_from(["smtpd", "--discard"])
                .unwrap()
                .discard
        );
        assert!(Args::try_parse_from(["smtpd", "--discard", "--maildir", "m"]).is_err());
    }

    #[test]
    fn auth_lmtp_and_proxy_flags() {
        assert!(Args::try_parse_from(["smtpd", "--require-auth"]).is_err());
        assert!(Args::try_parse_from(["smtpd", "--allow-insecure-auth"]).is_err());
        assert!(Args::try_parse_from(["smtpd", "--trusted-proxy", "10.0.0.0/8"]).is_err());
        assert!(Args::try_parse_from([
            "smtpd",
            "--proxy-protocol",
            "--trusted-proxy",
            "10.0.0.1/8"
        ])
        .is_err());
        let a = Args::try_parse_from([
            "smtpd",
            "--auth-file",
            "users",
            "--require-auth",
            "--lmtp",
            "--proxy-protocol",
            "--trusted-proxy",
            "10.0.0.0/8",
            "--trusted-proxy",
            "2001:db8::/32",
        ])
        .unwrap();
        let config = a.config();
        assert_eq!(config.auth_mechanisms.len(), 2);
        assert!(config.require_auth && !config.allow_insecure_auth);
        assert_eq!(config.protocol, Protocol::Lmtp);
        let (trusted, proxy) = a.proxy().unwrap();
        assert!(trusted.contains("10.1.2.3".parse().unwrap()));
        assert!(trusted.contains("2001:db8::7".parse().unwrap()));
        assert!(!trusted.contains("127.0.0.1".parse().unwrap()));
        assert!(proxy.required);
        let plain = Args::try_parse_from(["smtpd", "--proxy-protocol"]).unwrap();
        assert!(plain.proxy().unwrap().0.contains("::1".parse().unwrap()));
        assert!(plain.config().auth_mechanisms.is_empty());
        assert_eq!(plain.lmtp_config().protocol, Protocol::Lmtp);
    }

    #[test]
    fn bad_regex_is_a_usage_error() {
        assert!(Args::try_parse_from(["smtpd", "--reject-recipients", "("]).is_err());
    }
}
