//! smtp-blocking's `SmtpClient` API, method for method, over the async client: the
//! blocking crate's real-server test cases (`smtp-blocking/tests/real_servers/cases.rs`)
//! run unchanged on each async runtime. The including test file defines `block_on` and
//! `runtime()` for its runtime.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use smtp_async::proto::Capabilities;
use smtp_async::proto::command::{MailParams, Mechanism, RcptParams};
use smtp_async::proto::sasl::Credentials;
use smtp_async::{Envelope, Error, Options, SendReport, ServerReply};

use super::{block_on, runtime};

/// A message body, as in smtp-blocking (a reader must be `Send` to cross into the async
/// client).
pub(crate) enum Body<'a> {
    /// In memory.
    Bytes(&'a [u8]),
    /// Read to the end.
    Reader(&'a mut (dyn io::Read + Send)),
}

/// A blocking reader seen as an async one (the tests read from memory).
struct SyncReader<'a>(&'a mut (dyn io::Read + Send));

impl futures_io::AsyncRead for SyncReader<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.get_mut().0.read(buf))
    }
}

enum Source<'a> {
    Bytes(&'a [u8]),
    Reader(SyncReader<'a>),
}

impl<'a> Source<'a> {
    fn new(b: Body<'a>) -> Self {
        match b {
            Body::Bytes(b) => Source::Bytes(b),
            Body::Reader(r) => Source::Reader(SyncReader(r)),
        }
    }

    fn body(&mut self) -> smtp_async::Body<'_> {
        match self {
            Source::Bytes(b) => smtp_async::Body::Bytes(b),
            Source::Reader(r) => smtp_async::Body::Reader(r),
        }
    }
}

/// The async client behind smtp-blocking's API.
#[derive(Debug)]
pub(crate) struct SmtpClient {
    inner: smtp_async::SmtpClient,
}

#[allow(dead_code)]
impl SmtpClient {
    pub(crate) fn connect(server: &str, opts: Options) -> Result<SmtpClient, Error> {
        let inner = block_on(smtp_async::SmtpClient::connect_on(runtime(), server, opts))?;
        Ok(SmtpClient { inner })
    }

    pub(crate) fn ehlo_or_helo_if_needed(&mut self) -> Result<(), Error> {
        block_on(self.inner.ehlo_or_helo_if_needed())
    }
    pub(crate) fn ehlo(&mut self) -> Result<ServerReply, Error> {
        block_on(self.inner.ehlo())
    }
    pub(crate) fn helo(&mut self) -> Result<ServerReply, Error> {
        block_on(self.inner.helo())
    }
    pub(crate) fn capabilities(&self) -> Option<&Capabilities> {
        self.inner.capabilities()
    }
    pub(crate) fn has_extn(&self, name: &str) -> bool {
        self.inner.has_extn(name)
    }
    pub(crate) fn esmtp_features(&self) -> Vec<(String, String)> {
        self.inner.esmtp_features()
    }
    pub(crate) fn greeting(&self) -> Option<&ServerReply> {
        self.inner.greeting()
    }
    pub(crate) fn is_helo_only(&self) -> bool {
        self.inner.is_helo_only()
    }
    pub(crate) fn is_encrypted(&self) -> bool {
        self.inner.is_encrypted()
    }
    pub(crate) fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
    pub(crate) fn take_transcript(&mut self) -> Vec<String> {
        self.inner.take_transcript()
    }
    pub(crate) fn verify(&mut self, address: &str) -> Result<ServerReply, Error> {
        block_on(self.inner.verify(address))
    }
    pub(crate) fn expn(&mut self, list: &str) -> Result<ServerReply, Error> {
        block_on(self.inner.expn(list))
    }
    pub(crate) fn help(&mut self, topic: Option<&str>) -> Result<ServerReply, Error> {
        block_on(self.inner.help(topic))
    }
    pub(crate) fn noop(&mut self) -> Result<ServerReply, Error> {
        block_on(self.inner.noop())
    }
    pub(crate) fn rset(&mut self) -> Result<ServerReply, Error> {
        block_on(self.inner.rset())
    }
    pub(crate) fn mail(&mut self, from: &str, params: MailParams) -> Result<ServerReply, Error> {
        block_on(self.inner.mail(from, params))
    }
    pub(crate) fn rcpt(&mut self, to: &str, params: RcptParams) -> Result<ServerReply, Error> {
        block_on(self.inner.rcpt(to, params))
    }
    pub(crate) fn data(&mut self, message: &[u8]) -> Result<ServerReply, Error> {
        block_on(self.inner.data(message))
    }
    pub(crate) fn docmd(&mut self, line: &str) -> Result<ServerReply, Error> {
        block_on(self.inner.docmd(line))
    }
    pub(crate) fn login(&mut self, user: &str, password: &str) -> Result<ServerReply, Error> {
        block_on(self.inner.login(user, password))
    }
    pub(crate) fn login_with(
        &mut self,
        credentials: Credentials,
        allowed: &[Mechanism],
        fallback: bool,
    ) -> Result<ServerReply, Error> {
        block_on(self.inner.login_with(credentials, allowed, fallback))
    }
    pub(crate) fn auth(
        &mut self,
        mechanism: &str,
        credentials: Credentials,
    ) -> Result<ServerReply, Error> {
        block_on(self.inner.auth(mechanism, credentials))
    }
    pub(crate) fn sendmail(
        &mut self,
        from: &str,
        to: &[&str],
        message: &[u8],
        mail_options: MailParams,
        rcpt_options: RcptParams,
    ) -> Result<SendReport, Error> {
        block_on(
            self.inner
                .sendmail(from, to, message, mail_options, rcpt_options),
        )
    }
    pub(crate) fn send_message(
        &mut self,
        message: &[u8],
        from: Option<&str>,
        to: Option<&[&str]>,
    ) -> Result<SendReport, Error> {
        block_on(self.inner.send_message(message, from, to))
    }
    pub(crate) fn send(&mut self, env: Envelope, body: Body<'_>) -> Result<SendReport, Error> {
        let mut src = Source::new(body);
        block_on(self.inner.send(env, src.body()))
    }
    /// As smtp-blocking's; `on_done` is called once the batch is over, in order.
    pub(crate) fn send_all<'b>(
        &mut self,
        messages: impl IntoIterator<Item = (Envelope, Body<'b>)>,
        mut on_done: impl FnMut(usize, Result<SendReport, Error>),
    ) -> Result<(), Error> {
        let mut items: Vec<(Envelope, Source<'b>)> = messages
            .into_iter()
            .map(|(e, b)| (e, Source::new(b)))
            .collect();
        let batch: Vec<(Envelope, smtp_async::Body<'_>)> = items
            .iter_mut()
            .map(|(e, s)| (e.clone(), s.body()))
            .collect();
        let mut results = Vec::new();
        let r = block_on(self.inner.send_all(batch, |i, r| results.push((i, r))));
        for (i, r) in results {
            on_done(i, r);
        }
        r
    }
    pub(crate) fn quit(&mut self) -> Result<Option<ServerReply>, Error> {
        block_on(self.inner.quit())
    }
    pub(crate) fn close(&mut self) {
        self.inner.close()
    }
}
