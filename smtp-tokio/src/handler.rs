//! The application's side: [`Handler`], what it learns about a connection, and [`serve`].

use crate::{Body, ConnInfo, Envelope, Server, TlsInfo};
use smtp_proto::address::{ForwardPath, ReversePath};
use smtp_proto::params::{MailParams, RcptParams};
use smtp_proto::{Credentials, Decision, Reply, Secret};
use std::future::Future;
use std::io;

use tokio::net::TcpListener;

/// The error a handler may return. It becomes a `451 4.3.0` reply (`554 5.3.0` at the end of
/// data), never a dropped connection; it is logged at `warn`.
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The application's side of one SMTP connection.
///
/// The server clones a prototype handler for every connection it accepts ([`Server::serve`]),
/// so each connection has its own handler value to keep its envelope in; share state across
/// connections with an `Arc` inside. Every method has a default that accepts (except AUTH,
/// which refuses). Methods that
/// return a [`Decision`] answer the client with it: [`Decision::Accept`] for the standard
/// reply, [`Decision::AcceptWith`] for a `2xx` of your own, [`Decision::Reject`] for a `4xx`
/// or `5xx` (a `421` also closes the connection). An `Err` becomes `451 4.3.0` (`554 5.3.0`
/// from [`data`](Self::data)), and so does a `Reject` with a `2xx` or an `AcceptWith` with an
/// error code.
///
/// Implement the methods with `async fn`; the futures must be `Send`.
///
/// The addresses and parameters the methods are given share the connection's read buffer
/// (they are not copied out of it): a clone kept past the call keeps that buffer alive, and
/// the connection's next read then allocates a new one. Cheap for a few messages; a handler
/// that keeps the envelope of every message can keep it as text instead
/// ([`Mailbox::as_str`](crate::proto::address::Mailbox::as_str)), as the example `smtpd`
/// does.
///
/// ```
/// use smtp_tokio::proto::address::ForwardPath;
/// use smtp_tokio::proto::params::RcptParams;
/// use smtp_tokio::{Body, Decision, Error, Handler, Reply};
/// use tokio::io::AsyncReadExt;
///
/// #[derive(Clone, Default)]
/// struct OnlyPostmaster {
///     recipients: Vec<ForwardPath>,
/// }
///
/// impl Handler for OnlyPostmaster {
///     async fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<Decision, Error> {
///         if *to != ForwardPath::Postmaster {
///             return Ok(Decision::Reject(Reply::new(550, Some("5.1.1".parse()?), "No such user")?));
///         }
///         self.recipients.push(to.clone());
///         Ok(Decision::Accept)
///     }
///
///     async fn data(&mut self, mut body: Body) -> Result<Decision, Error> {
///         let mut message = Vec::new();
///         body.read_to_end(&mut message).await?;
///         println!("{} octets for {:?}", message.len(), self.recipients);
///         Ok(Decision::Accept)
///     }
///
///     async fn reset(&mut self) {
///         self.recipients.clear();
///     }
/// }
/// ```
pub trait Handler: Send + 'static {
    /// A client connected. `Reject` refuses the session (use `554`, RFC 5321 section 3.1: the
    /// client may then only QUIT; or `421` to close at once). An `Err` closes with `421 4.3.0`.
    fn connect(&mut self, info: &ConnInfo) -> impl Future<Output = Result<Decision, Error>> + Send {
        let _ = info;
        async { Ok(Decision::Accept) }
    }

    /// HELO (`esmtp == false`) or EHLO. Any transaction in progress was reset before.
    fn helo(
        &mut self,
        domain: &str,
        esmtp: bool,
    ) -> impl Future<Output = Result<Decision, Error>> + Send {
        let _ = (domain, esmtp);
        async { Ok(Decision::Accept) }
    }

    /// The STARTTLS handshake completed. The client will say EHLO again (RFC 3207 4.2).
    fn tls(&mut self, info: &TlsInfo) -> impl Future<Output = ()> + Send {
        let _ = info;
        async {}
    }

    /// AUTH (RFC 4954), offered only when [`Config::auth_mechanisms`](crate::Config) lists
    /// mechanisms. Verify the credentials: `Accept` (`235 2.7.0`), `Reject` (conventionally
    /// `535 5.7.8`), or for a mechanism of your own [`Decision::Challenge`] to continue the
    /// exchange. An `Err` becomes `454 4.7.0`. The default refuses every credential.
    fn auth(
        &mut self,
        mechanism: &str,
        credentials: &Credentials,
    ) -> impl Future<Output = Result<Decision, Error>> + Send {
        let _ = (mechanism, credentials);
        async { Ok(Decision::Reject(Reply::BAD_CREDENTIALS)) }
    }

    /// The client's answer to a [`Decision::Challenge`]. The default refuses.
    fn auth_response(
        &mut self,
        response: &Secret,
    ) -> impl Future<Output = Result<Decision, Error>> + Send {
        let _ = response;
        async { Ok(Decision::Reject(Reply::BAD_CREDENTIALS)) }
    }

    /// MAIL FROM: accepting starts a transaction.
    fn mail(
        &mut self,
        from: &ReversePath,
        params: &MailParams,
    ) -> impl Future<Output = Result<Decision, Error>> + Send {
        let _ = (from, params);
        async { Ok(Decision::Accept) }
    }

    /// RCPT TO: accepting adds the recipient to the transaction.
    fn rcpt(
        &mut self,
        to: &ForwardPath,
        params: &RcptParams,
    ) -> impl Future<Output = Result<Decision, Error>> + Send {
        let _ = (to, params);
        async { Ok(Decision::Accept) }
    }

    /// The message body: called when it starts, and answered once it has ended. Read `body`
    /// as it arrives; return when you have stored the message (RFC 5321 6.1: an accepted
    /// message is your responsibility). The answer is used only if the body completed; in
    /// LMTP mode it answers for every accepted recipient. The default accepts and throws the
    /// body away.
    ///
    /// The future runs in the connection's task, polled between reads of the socket: do
    /// blocking work (file IO, `fsync`) on `tokio::task::spawn_blocking`, to which the body
    /// can be moved. A panic in it closes the connection with `421 4.3.0`, not the server.
    fn data(&mut self, body: Body) -> impl Future<Output = Result<Decision, Error>> + Send {
        drop(body);
        async { Ok(Decision::Accept) }
    }

    /// The message body in LMTP mode ([`Protocol::Lmtp`](smtp_proto::Protocol)): like
    /// [`data`](Self::data), but answered with one decision per accepted recipient, in RCPT
    /// order (RFC 2033 section 4.2: a message can be delivered to one mailbox and fail for
    /// another). Keep the accepted recipients from [`rcpt`](Self::rcpt) to know the order.
    /// A list of one decision answers for every recipient; a list of another length answers
    /// every recipient `554 5.3.0`. The default calls
    /// [`data`](Self::data) and answers every recipient with its decision.
    fn lmtp_data(
        &mut self,
        body: Body,
    ) -> impl Future<Output = Result<Vec<Decision>, Error>> + Send {
        let verdict = self.data(body);
        async move { Ok(vec![verdict.await?]) }
    }

    /// The transaction begun by an accepted MAIL is over without a verdict from
    /// [`data`](Self::data): RSET, a new HELO/EHLO, STARTTLS, a body that did not complete, a
    /// `421`, or the connection closing ([`Event::Reset`](smtp_proto::Event::Reset)).
    /// Forget the envelope.
    fn reset(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// The [`Handler`] of [`serve`]: collects the envelope and calls the closure with the body.
#[derive(Clone)]
struct FnHandler<F> {
    f: F,
    envelope: Envelope,
}

impl<F, Fut> Handler for FnHandler<F>
where
    F: Fn(Envelope, Body) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Decision, Error>> + Send + 'static,
{
    async fn connect(&mut self, info: &ConnInfo) -> Result<Decision, Error> {
        self.envelope = Envelope::new(info);
        Ok(Decision::Accept)
    }

    async fn helo(&mut self, domain: &str, _: bool) -> Result<Decision, Error> {
        self.envelope.helo = domain.to_owned();
        Ok(Decision::Accept)
    }

    async fn tls(&mut self, info: &TlsInfo) {
        self.envelope.tls = Some(info.clone());
    }

    async fn mail(&mut self, from: &ReversePath, _: &MailParams) -> Result<Decision, Error> {
        self.envelope.from = from.clone();
        self.envelope.to.clear();
        Ok(Decision::Accept)
    }

    async fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<Decision, Error> {
        self.envelope.to.push(to.clone());
        Ok(Decision::Accept)
    }

    fn data(&mut self, body: Body) -> impl Future<Output = Result<Decision, Error>> + Send {
        let envelope = self.envelope.clone();
        self.envelope.to.clear();
        (self.f)(envelope, body)
    }

    async fn reset(&mut self) {
        self.envelope.to.clear();
    }
}

/// Runs an SMTP server on `listener` with the default [`Config`](crate::Config), calling `f`
/// with the envelope and the body of every message, until the process ends. The common case
/// in one call, like Go's `ListenAndServe(addr, handler)`; use [`Server`] for TLS, limits,
/// timeouts, shutdown and a full [`Handler`].
///
/// ```no_run
/// use smtp_tokio::{Decision, Envelope, Body};
/// # #[tokio::main]
/// # async fn main() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:2525").await?;
/// smtp_tokio::serve(listener, |envelope: Envelope, body: Body| async move {
///     let message = body.to_bytes().await?;
///     println!("{} -> {:?}: {} octets", envelope.from, envelope.to, message.len());
///     Ok(Decision::Accept)
/// })
/// .await
/// # }
/// ```
pub async fn serve<F, Fut>(listener: TcpListener, f: F) -> io::Result<()>
where
    F: Fn(Envelope, Body) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Decision, Error>> + Send + 'static,
{
    let server = Server::builder().listener(listener).build().await?;
    let placeholder = ConnInfo::new(([0, 0, 0, 0], 0).into(), ([0, 0, 0, 0], 0).into());
    let envelope = Envelope::new(&placeholder); // replaced at connect
    server.serve(FnHandler { f, envelope }).await
}
