//! The shared conformance suite (`smtp-conformance`) against the tokio adapter.

use smtp_conformance::{Adapter, Recorder, RunningServer, TestConfig};
use smtp_tokio::proto::address::{ForwardPath, ReversePath};
use smtp_tokio::proto::params::{MailParams, RcptParams};
use smtp_tokio::{Body, ConnInfo, Credentials, Decision, Error, Handler, Server, TlsInfo};

/// The suite's handler policy, forwarded to its [`Recorder`].
#[derive(Clone)]
struct TestHandler(Recorder);

impl Handler for TestHandler {
    async fn connect(&mut self, info: &ConnInfo) -> Result<Decision, Error> {
        self.0.connect(info.peer);
        if info.tls.is_some() {
            self.0.tls();
        }
        Ok(Decision::Accept)
    }

    async fn tls(&mut self, _: &TlsInfo) {
        self.0.tls();
    }

    async fn auth(&mut self, _: &str, credentials: &Credentials) -> Result<Decision, Error> {
        Ok(self.0.auth(credentials))
    }

    async fn mail(&mut self, from: &ReversePath, _: &MailParams) -> Result<Decision, Error> {
        Ok(self.0.mail(&from.to_string()))
    }

    async fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<Decision, Error> {
        Ok(self.0.rcpt(&to.to_string())?)
    }

    async fn data(&mut self, body: Body) -> Result<Decision, Error> {
        if !self.0.wants_body() {
            drop(body);
            return Ok(self.0.skip_body());
        }
        let message = body.to_bytes().await?;
        Ok(self.0.deliver(message.to_vec())?)
    }

    async fn lmtp_data(&mut self, body: Body) -> Result<Vec<Decision>, Error> {
        let message = body.to_bytes().await?;
        Ok(self.0.deliver_lmtp(message.to_vec()))
    }

    async fn reset(&mut self) {
        self.0.reset();
    }
}

struct Tokio;

impl Adapter for Tokio {
    fn start(test: TestConfig) -> RunningServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
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
            let listener = runtime.block_on(async { tokio::net::UnixListener::bind(path) });
            builder = builder.unix_listener(listener.unwrap());
        }
        let server = runtime
            .block_on(builder.build())
            .expect("the server starts");
        let addr = server.local_addr().unwrap();
        let tls_addr = server.implicit_tls_local_addr();
        let handler = TestHandler(Recorder::new(test.sink.clone()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = std::thread::spawn(move || {
            runtime.block_on(server.serve_with_shutdown(handler, async {
                let _ = stopped.await;
            }))
        });
        RunningServer::new(addr, tls_addr, test.sink, move || {
            let _ = stop.send(());
            let _ = serving.join();
        })
    }
}

smtp_conformance::suite!(Tokio);
