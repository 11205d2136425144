//! The application's side: [`Handler`], what it learns about a connection, and [`serve`].

use crate::{Body, ConnInfo, Envelope, Server, TlsInfo};
use smtp_proto::address::{ForwardPath, ReversePath};
use smtp_proto::params::{MailParams, RcptParams};
use smtp_proto::{Credentials, Decision, Reply, Secret};
use std::io;
use std::net::TcpListener;

/// The error a handler may return. It becomes a `451 4.3.0` reply (`554 5.3.0` at the end of
/// data), never a dropped connection; it is logged at `warn`.
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The application's side of one SMTP connection: `smtp-tokio`'s handler, synchronous.
///
/// The server clones a prototype handler for every connection ([`Server::serve`]) and calls
/// it on that connection's thread. Every method has a default that accepts (except AUTH,
/// which refuses). [`Decision::Accept`] gives the standard reply, [`Decision::AcceptWith`] a
/// `2xx` of your own, [`Decision::Reject`] a `4xx` or `5xx` (a `421` also closes). An `Err`
/// becomes `451 4.3.0` (`554 5.3.0` from [`data`](Self::data)), and so does a reply of the
/// wrong class.
///
/// ```
/// use smtp_blocking::proto::address::ForwardPath;
/// use smtp_blocking::proto::params::RcptParams;
/// use smtp_blocking::{Body, Decision, Error, Handler, Reply};
/// use std::io::Read;
///
/// #[derive(Clone, Default)]
/// struct OnlyPostmaster {
///     recipients: Vec<ForwardPath>,
/// }
///
/// impl Handler for OnlyPostmaster {
///     fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<Decision, Error> {
///         if *to != ForwardPath::Postmaster {
///             return Ok(Decision::Reject(Reply::new(550, Some("5.1.1".parse()?), "No such user")?));
///         }
///         self.recipients.push(to.clone());
///         Ok(Decision::Accept)
///     }
///
///     fn data(&mut self, body: &mut Body<'_>) -> Result<Decision, Error> {
///         let mut message = Vec::new();
///         body.read_to_end(&mut message)?;
///         println!("{} octets for {:?}", message.len(), self.recipients);
///         Ok(Decision::Accept)
///     }
///
///     fn reset(&mut self) {
///         self.recipients.clear();
///     }
/// }
/// ```
pub trait Handler: Send + 'static {
    /// A client connected. `Reject` refuses the session (`554`: the client may then only
    /// QUIT; `421`: closed at once). An `Err` closes with `421 4.3.0`.
    fn connect(&mut self, info: &ConnInfo) -> Result<Decision, Error> {
        let _ = info;
        Ok(Decision::Accept)
    }

    /// HELO (`esmtp == false`) or EHLO. Any transaction in progress was reset before.
    fn helo(&mut self, domain: &str, esmtp: bool) -> Result<Decision, Error> {
        let _ = (domain, esmtp);
        Ok(Decision::Accept)
    }

    /// The STARTTLS handshake completed. The client will say EHLO again (RFC 3207 4.2).
    fn tls(&mut self, info: &TlsInfo) {
        let _ = info;
    }

    /// AUTH (RFC 4954), offered only when [`Config::auth_mechanisms`](crate::Config) lists
    /// mechanisms: `Accept` (`235 2.7.0`), `Reject` (conventionally `535 5.7.8`) or
    /// [`Decision::Challenge`]. An `Err` becomes `454 4.7.0`. The default refuses.
    fn auth(&mut self, mechanism: &str, credentials: &Credentials) -> Result<Decision, Error> {
        let _ = (mechanism, credentials);
        Ok(Decision::Reject(Reply::BAD_CREDENTIALS))
    }

    /// The client's answer to a [`Decision::Challenge`]. The default refuses.
    fn auth_response(&mut self, response: &Secret) -> Result<Decision, Error> {
        let _ = response;
        Ok(Decision::Reject(Reply::BAD_CREDENTIALS))
    }

    /// MAIL FROM: accepting starts a transaction.
    fn mail(&mut self, from: &ReversePath, params: &MailParams) -> Result<Decision, Error> {
        let _ = (from, params);
        Ok(Decision::Accept)
    }

    /// RCPT TO: accepting adds the recipient to the transaction.
    fn rcpt(&mut self, to: &ForwardPath, params: &RcptParams) -> Result<Decision, Error> {
        let _ = (to, params);
        Ok(Decision::Accept)
    }

    /// The message body: called when it starts, answered once it has ended. Read `body` as
    /// it arrives (each read pulls from the client); return when you have stored the message
    /// (RFC 5321 6.1). Whatever you leave unread is read and thrown away after you return.
    /// The answer is used only if the body completed; in LMTP mode it answers for every
    /// accepted recipient. The default accepts and throws the body away.
    fn data(&mut self, body: &mut Body<'_>) -> Result<Decision, Error> {
        let _ = body;
        Ok(Decision::Accept)
    }

    /// The message body in LMTP mode ([`Protocol::Lmtp`](smtp_proto::Protocol)): like
    /// [`data`](Self::data), but answered with one decision per accepted recipient, in RCPT
    /// order (RFC 2033 section 4.2). A list of one decision answers for every recipient; a
    /// list of another length answers every recipient `554 5.3.0`. The default calls
    /// [`data`](Self::data) and answers every recipient with its decision.
    fn lmtp_data(&mut self, body: &mut Body<'_>) -> Result<Vec<Decision>, Error> {
        Ok(vec![self.data(body)?])
    }

    /// The transaction begun by an accepted MAIL is over without a verdict from
    /// [`data`](Self::data): RSET, a new HELO/EHLO, STARTTLS, a body that did not complete, a
    /// `421`, or the connection closing ([`Event::Reset`](smtp_proto::Event::Reset)).
    fn reset(&mut self) {}
}

/// The [`Handler`] of [`serve`]: collects the envelope and calls the closure with the body.
#[derive(Clone)]
struct FnHandler<F> {
    f: F,
    envelope: Envelope,
}

impl<F> Handler for FnHandler<F>
where
    F: Fn(Envelope, &mut Body<'_>) -> Result<Decision, Error> + Clone + Send + Sync + 'static,
{
    fn connect(&mut self, info: &ConnInfo) -> Result<Decision, Error> {
        self.envelope = Envelope::new(info);
        Ok(Decision::Accept)
    }

    fn helo(&mut self, domain: &str, _: bool) -> Result<Decision, Error> {
        self.envelope.helo = domain.to_owned();
        Ok(Decision::Accept)
    }

    fn tls(&mut self, info: &TlsInfo) {
        self.envelope.tls = Some(info.clone());
    }

    fn mail(&mut self, from: &ReversePath, _: &MailParams) -> Result<Decision, Error> {
        self.envelope.from = from.clone();
        self.envelope.to.clear();
        Ok(Decision::Accept)
    }

    fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<Decision, Error> {
        self.envelope.to.push(to.clone());
        Ok(Decision::Accept)
    }

    fn data(&mut self, body: &mut Body<'_>) -> Result<Decision, Error> {
        let envelope = self.envelope.clone();
        self.envelope.to.clear();
        (self.f)(envelope, body)
    }

    fn reset(&mut self) {
        self.envelope.to.clear();
    }
}

/// Runs an SMTP server on `listener` with the default [`Config`](crate::Config), calling `f`
/// with the envelope and the body of every message, until the process ends. Use [`Server`]
/// for TLS, limits, timeouts, shutdown and a full [`Handler`].
///
/// ```no_run
/// use smtp_blocking::{Body, Decision, Envelope};
/// use std::io::Read;
/// # fn main() -> std::io::Result<()> {
/// let listener = std::net::TcpListener::bind("127.0.0.1:2525")?;
/// smtp_blocking::serve(listener, |envelope: Envelope, body: &mut Body<'_>| {
///     let mut message = Vec::new();
///     body.read_to_end(&mut message)?;
///     println!("{} -> {:?}: {} octets", envelope.from, envelope.to, message.len());
///     Ok(Decision::Accept)
/// })
/// # }
/// ```
pub fn serve<F>(listener: TcpListener, f: F) -> io::Result<()>
where
    F: Fn(Envelope, &mut Body<'_>) -> Result<Decision, Error> + Clone + Send + Sync + 'static,
{
    let server = Server::builder().listener(listener).build()?;
    let placeholder = ConnInfo::new(([0, 0, 0, 0], 0).into(), ([0, 0, 0, 0], 0).into());
    let envelope = Envelope::new(&placeholder); // replaced at connect
    server.serve(FnHandler { f, envelope })
}
