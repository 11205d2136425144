//! # smtp-conformance: one behavioural suite for every adapter
//!
//! The tests here are written once, against a real server on `127.0.0.1`, and run against
//! each adapter (`smtp-tokio`, `smtp-blocking`) through the [`Adapter`] trait: "start a
//! server with this configuration". An adapter's test file implements the trait with a
//! handler that follows the suite's [`Recorder`] policy, then instantiates every test with
//! [`suite!`]:
//!
//! ```no_run
//! use smtp_conformance::{Adapter, RunningServer, TestConfig};
//!
//! struct MyAdapter;
//!
//! impl Adapter for MyAdapter {
//!     fn start(config: TestConfig) -> RunningServer {
//!         // Bind 127.0.0.1:0, start the server with `config` and a handler that forwards
//!         // to a `Recorder::new(config.sink.clone())`, and return
//!         // `RunningServer::new(addr, tls_addr, config.sink, stop)`.
//!         # unimplemented!()
//!     }
//! }
//!
//! smtp_conformance::suite!(MyAdapter);
//! ```
//!
//! Every wait is bounded (socket timeouts of [`CLIENT_TIMEOUT`]), certificates are made in
//! the test (rcgen), and [`RunningServer`] stops the server and joins its threads when it is
//! stopped or dropped.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod client;
mod recorder;
pub mod tests;

pub use client::{Client, ServerReply};
pub use recorder::{Delivered, Recorder, Sink};

use smtp_proto::proxy::{ProxyConfig, TrustedNetworks};
use smtp_proto::Config;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The longest any client read in the suite waits.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a test asks the adapter to start.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TestConfig {
    /// The session configuration (its `tls` policy is the adapter's to set from the fields
    /// below, as its builder does).
    pub config: Config,
    /// Offer STARTTLS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// TLS-required mode.
    pub require_tls: bool,
    /// Also listen for implicit TLS (on another port).
    pub implicit_tls: bool,
    /// The connection cap.
    pub max_connections: usize,
    /// The graceful-shutdown deadline.
    pub shutdown_timeout: Duration,
    /// Where the handler reports (see [`Recorder`]).
    pub sink: Sink,
    /// The PROXY protocol: from which peers, with which decoder settings.
    pub proxy: Option<(TrustedNetworks, ProxyConfig)>,
    /// Also serve on a Unix-domain socket at this path (bound by the adapter).
    pub unix: Option<PathBuf>,
}

impl TestConfig {
    /// Host name `mx.test`, the core's defaults, no TLS, 1000 connections, 5 s shutdown.
    pub fn new() -> TestConfig {
        TestConfig {
            config: Config::new("mx.test"),
            tls: None,
            require_tls: false,
            implicit_tls: false,
            max_connections: 1000,
            shutdown_timeout: Duration::from_secs(5),
            sink: Sink::default(),
            proxy: None,
            unix: None,
        }
    }
}

impl Default for TestConfig {
    fn default() -> TestConfig {
        TestConfig::new()
    }
}

/// A server an adapter started for a test. Stopping (or dropping) it shuts the server down
/// gracefully and waits for it.
pub struct RunningServer {
    /// The SMTP listener.
    pub addr: SocketAddr,
    /// The implicit-TLS listener, when asked for.
    pub tls_addr: Option<SocketAddr>,
    /// What the handler saw.
    pub sink: Sink,
    stop: Option<Box<dyn FnOnce() + Send>>,
}

impl RunningServer {
    /// A running server; `stop` must shut it down gracefully and return once it is done.
    pub fn new(
        addr: SocketAddr,
        tls_addr: Option<SocketAddr>,
        sink: Sink,
        stop: impl FnOnce() + Send + 'static,
    ) -> RunningServer {
        RunningServer {
            addr,
            tls_addr,
            sink,
            stop: Some(Box::new(stop)),
        }
    }

    /// Connects a plain client and reads the greeting.
    pub fn client(&self) -> Client {
        let mut client = Client::connect(self.addr);
        client.expect(220);
        client
    }

    /// Shuts the server down gracefully and waits for it.
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
    }
}

/// An adapter under test: starts a server for a [`TestConfig`], on `127.0.0.1` port 0,
/// with a handler that follows [`Recorder`].
pub trait Adapter {
    /// Starts the server and returns once it accepts connections.
    fn start(config: TestConfig) -> RunningServer;
}

/// A test certificate for `localhost` (rcgen), the server configuration for it, and a client
/// configuration that trusts it.
#[derive(Clone, Debug)]
pub struct TestCert {
    /// For [`TestConfig::tls`].
    pub server: Arc<rustls::ServerConfig>,
    /// For [`Client::starttls`] and [`Client::connect_tls`].
    pub client: Arc<rustls::ClientConfig>,
}

impl TestCert {
    /// A fresh certificate.
    pub fn new() -> TestCert {
        let (chain, key) = smtp_catcher::tls::self_signed(&["localhost"]).expect("a certificate");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(chain[0].clone()).expect("a root");
        let server = smtp_catcher::tls::server_config(chain, key).expect("a server config");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TestCert {
            server,
            client: Arc::new(client),
        }
    }
}

impl Default for TestCert {
    fn default() -> TestCert {
        TestCert::new()
    }
}

/// Instantiates every test of [`tests`] as a `#[test]` for the adapter type `$adapter`.
#[macro_export]
macro_rules! suite {
    ($adapter:ty) => {
        $crate::suite!(@tests $adapter;
            full_transaction,
            pipelined_group_replies_in_order,
            rset_semantics,
            line_length_at_the_edge,
            message_size_at_the_edge_with_drain,
            recipient_limit_at_the_edge,
            error_limit_at_the_edge,
            command_timeout,
            data_timeout,
            starttls_reehlo_and_injection_discarded,
            implicit_tls,
            tls_required,
            smuggling_variants_rejected,
            smuggling_variants_accepted_as_data,
            bdat_chunks,
            bdat_after_rejected_rcpt_is_data,
            early_return_from_data_drains,
            connection_cap,
            graceful_shutdown,
            concurrent_clients,
            lmtp_reply_per_recipient,
            handler_errors_become_replies,
            shutdown_deadline_closes_transactions,
            bdat_rset_between_chunks,
            greeting_delay_and_early_talkers,
            auth_after_starttls,
            proxy_protocol_gives_the_client_address,
            proxy_protocol_refusals,
            proxy_protocol_before_implicit_tls,
        );
    };
    (@tests $adapter:ty; $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                $crate::tests::$name::<$adapter>();
            }
        )*

        #[cfg(unix)]
        #[test]
        fn lmtp_over_a_unix_socket() {
            $crate::tests::lmtp_over_a_unix_socket::<$adapter>();
        }

        #[test]
        #[ignore = "a measurement: run in release with --ignored --nocapture"]
        fn measure_throughput() {
            $crate::tests::measure_throughput::<$adapter>();
        }
    };
}
