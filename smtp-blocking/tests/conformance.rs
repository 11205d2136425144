//! The shared conformance suite (`smtp-conformance`) against the blocking adapter.

use smtp_blocking::proto::address::{ForwardPath, ReversePath};
use smtp_blocking::proto::params::{MailParams, RcptParams};
use smtp_blocking::{Body, ConnInfo, Credentials, Decision, Error, Handler, Server, TlsInfo};
use smtp_conformance::{Adapter, Recorder, RunningServer, TestConfig};
use std::io::Read;

/// The suite's handler policy, forwarded to its [`Recorder`].
#[derive(Clone)]
struct TestHandler(Recorder);

impl Handler for TestHandler {
    fn connect(&mut self, info: &ConnInfo) -> Result<Decision, Error> {
        self.0.connect(info.peer);
        if info.tls.is_some() {
            self.0.tls();
        }
        Ok(Decision::Accept)
    }

    fn tls(&mut self, _: &TlsInfo) {
        self.0.tls();
    }

    fn auth(&mut self, _: &str, credentials: &Credentials) -> Result<Decision, Error> {
        Ok(self.0.auth(credentials))
    }

    fn mail(&mut self, from: &ReversePath, _: &MailParams) -> Result<Decision, Error> {
        Ok(self.0.mail(&from.to_string()))
    }

    fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<Decision, Error> {
        Ok(self.0.rcpt(&to.to_string())?)
    }

    fn data(&mut self, body: &mut Body<'_>) -> Result<Decision, Error> {
        if !self.0.wants_body() {
            return Ok(self.0.skip_body());
        }
        let mut message = Vec::new();
        body.read_to_end(&mut message)?;
        Ok(self.0.deliver(message)?)
    }

    fn lmtp_data(&mut self, body: &mut Body<'_>) -> Result<Vec<Decision>, Error> {
        let mut message = Vec::new();
        body.read_to_end(&mut message)?;
        Ok(self.0.deliver_lmtp(message))
    }

    fn reset(&mut self) {
        self.0.reset();
    }
}

struct Blocking;

impl Adapter for Blocking {
    fn start(test: TestConfig) -> RunningServer {
        let local = "127.0.0.1:0".parse().unwrap();
        let mut builder = Server::builder()
            .config(test.config)
            .bind(local)
            .max_connections(test.max_connections)
            .shutdown_timeout(test.shutdown_timeout);
        if let Some(tls) = test.tls {
            builder = builder.tls(tls).require_tls(test.require_tls);
            if test.implicit_tls {
                builder = builder.implicit_tls_bind(local);
            }
        }
        if let Some((trusted, config)) = test.proxy {
            builder = builder.proxy_protocol(trusted, config);
        }
        #[cfg(unix)]
        if let Some(path) = &test.unix {
            let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
            builder = builder.unix_listener(listener);
        }
        let server = builder.build().expect("the server starts");
        let addr = server.local_addr().unwrap();
        let tls_addr = server.implicit_tls_local_addr();
        let stop = server.shutdown_handle();
        let handler = TestHandler(Recorder::new(test.sink.clone()));
        let serving = std::thread::spawn(move || server.serve(handler));
        RunningServer::new(addr, tls_addr, test.sink, move || {
            stop.shutdown();
            let _ = serving.join();
        })
    }
}

smtp_conformance::suite!(Blocking);
