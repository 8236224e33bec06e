//! smtp-blocking's `SmtpClient` API, method for method, over smtp-async's client on a
//! runtime `R` ([`OnTokio`], [`OnSmol`]): each call blocks on the async one. The blocking
//! crate's real-server cases (`smtp-blocking/tests/real_servers/cases.rs`) run unchanged on
//! each runtime through it (`tests/real_servers_{tokio,smol}.rs`), and so does the interop
//! matrix (its async [`Adapter`](crate::Adapter)s).

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use smtp_async::proto::Capabilities;
use smtp_async::proto::command::{MailParams, Mechanism, RcptParams};
use smtp_async::proto::sasl::Credentials;
use smtp_async::{Envelope, Error, Options, Reply, SendReport};
use smtp_blocking::Body;

use smtp_async::Runtime;

/// An async runtime to block on.
pub trait BlockOn: Send + Sync + 'static {
    /// The matrix column name.
    const NAME: &'static str;
    /// The runtime the client runs on.
    fn runtime() -> &'static dyn Runtime;
    /// Runs `f` to completion on this thread.
    fn block_on<F: Future>(f: F) -> F::Output;
}

/// tokio (a current-thread runtime per thread).
#[derive(Debug)]
pub struct OnTokio;

impl BlockOn for OnTokio {
    const NAME: &'static str = "tokio";
    fn runtime() -> &'static dyn Runtime {
        &smtp_async::Tokio
    }
    fn block_on<F: Future>(f: F) -> F::Output {
        thread_local! {
            static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
        }
        RT.with(|rt| rt.block_on(f))
    }
}

/// smol (the `futures-io` runtime, async-io's reactor).
#[derive(Debug)]
pub struct OnSmol;

impl BlockOn for OnSmol {
    const NAME: &'static str = "smol";
    fn runtime() -> &'static dyn Runtime {
        &smtp_async::AsyncIo
    }
    fn block_on<F: Future>(f: F) -> F::Output {
        smol::block_on(f)
    }
}

/// A caller's blocking reader, read to the end first (it need not be `Send`, as the async
/// client's readers must be) and then handed to the async client as a reader, so that the
/// body's size stays unknown to it, as with the blocking client.
struct Buffered {
    data: Vec<u8>,
    pos: usize,
}

impl futures_io::AsyncRead for Buffered {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let n = buf.len().min(me.data.len() - me.pos);
        buf[..n].copy_from_slice(&me.data[me.pos..me.pos + n]);
        me.pos += n;
        Poll::Ready(Ok(n))
    }
}

enum Source<'a> {
    Bytes(&'a [u8]),
    Reader(Buffered),
}

impl<'a> Source<'a> {
    fn new(b: Body<'a>) -> io::Result<Self> {
        Ok(match b {
            Body::Bytes(b) => Source::Bytes(b),
            Body::Reader(r) => {
                let mut data = Vec::new();
                r.read_to_end(&mut data)?;
                Source::Reader(Buffered { data, pos: 0 })
            }
        })
    }

    fn body(&mut self) -> smtp_async::Body<'_> {
        match self {
            Source::Bytes(b) => smtp_async::Body::Bytes(b),
            Source::Reader(r) => smtp_async::Body::Reader(r),
        }
    }
}

/// The async client on runtime `R` behind smtp-blocking's API.
#[derive(Debug)]
pub struct AsyncClient<R> {
    inner: smtp_async::SmtpClient,
    rt: PhantomData<R>,
}

#[allow(missing_docs)]
impl<R: BlockOn> AsyncClient<R> {
    pub fn connect(server: &str, opts: Options) -> Result<Self, Error> {
        let inner = R::block_on(smtp_async::SmtpClient::connect_on(
            R::runtime(),
            server,
            opts,
        ))?;
        Ok(AsyncClient {
            inner,
            rt: PhantomData,
        })
    }

    pub fn ehlo_or_helo_if_needed(&mut self) -> Result<(), Error> {
        R::block_on(self.inner.ehlo_or_helo_if_needed())
    }
    pub fn ehlo(&mut self) -> Result<Reply, Error> {
        R::block_on(self.inner.ehlo())
    }
    pub fn helo(&mut self) -> Result<Reply, Error> {
        R::block_on(self.inner.helo())
    }
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.inner.capabilities()
    }
    pub fn has_extn(&self, name: &str) -> bool {
        self.inner.has_extn(name)
    }
    pub fn esmtp_features(&self) -> Vec<(String, String)> {
        self.inner.esmtp_features()
    }
    pub fn greeting(&self) -> Option<&Reply> {
        self.inner.greeting()
    }
    pub fn is_helo_only(&self) -> bool {
        self.inner.is_helo_only()
    }
    pub fn is_encrypted(&self) -> bool {
        self.inner.is_encrypted()
    }
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
    pub fn take_transcript(&mut self) -> Vec<String> {
        self.inner.take_transcript()
    }
    pub fn verify(&mut self, address: &str) -> Result<Reply, Error> {
        R::block_on(self.inner.verify(address))
    }
    pub fn expn(&mut self, list: &str) -> Result<Reply, Error> {
        R::block_on(self.inner.expn(list))
    }
    pub fn help(&mut self, topic: Option<&str>) -> Result<Reply, Error> {
        R::block_on(self.inner.help(topic))
    }
    pub fn noop(&mut self) -> Result<Reply, Error> {
        R::block_on(self.inner.noop())
    }
    pub fn rset(&mut self) -> Result<Reply, Error> {
        R::block_on(self.inner.rset())
    }
    pub fn mail(&mut self, from: &str, params: MailParams) -> Result<Reply, Error> {
        R::block_on(self.inner.mail(from, params))
    }
    pub fn rcpt(&mut self, to: &str, params: RcptParams) -> Result<Reply, Error> {
        R::block_on(self.inner.rcpt(to, params))
    }
    pub fn data(&mut self, message: &[u8]) -> Result<Reply, Error> {
        R::block_on(self.inner.data(message))
    }
    pub fn docmd(&mut self, line: &str) -> Result<Reply, Error> {
        R::block_on(self.inner.docmd(line))
    }
    pub fn login(&mut self, user: &str, password: &str) -> Result<Reply, Error> {
        R::block_on(self.inner.login(user, password))
    }
    pub fn login_with(
        &mut self,
        credentials: Credentials,
        allowed: &[Mechanism],
        fallback: bool,
    ) -> Result<Reply, Error> {
        R::block_on(self.inner.login_with(credentials, allowed, fallback))
    }
    pub fn auth(&mut self, mechanism: &str, credentials: Credentials) -> Result<Reply, Error> {
        R::block_on(self.inner.auth(mechanism, credentials))
    }
    pub fn sendmail(
        &mut self,
        from: &str,
        to: &[&str],
        message: &[u8],
        mail_options: MailParams,
        rcpt_options: RcptParams,
    ) -> Result<SendReport, Error> {
        R::block_on(
            self.inner
                .sendmail(from, to, message, mail_options, rcpt_options),
        )
    }
    pub fn send_message(
        &mut self,
        message: &[u8],
        from: Option<&str>,
        to: Option<&[&str]>,
    ) -> Result<SendReport, Error> {
        R::block_on(self.inner.send_message(message, from, to))
    }
    pub fn send(&mut self, env: Envelope, body: Body<'_>) -> Result<SendReport, Error> {
        let mut src = Source::new(body)?;
        R::block_on(self.inner.send(env, src.body()))
    }
    /// As smtp-blocking's; `on_done` is called once the batch is over, in order.
    pub fn send_all<'b>(
        &mut self,
        messages: impl IntoIterator<Item = (Envelope, Body<'b>)>,
        mut on_done: impl FnMut(usize, Result<SendReport, Error>),
    ) -> Result<(), Error> {
        let mut items: Vec<(Envelope, Source<'b>)> = messages
            .into_iter()
            .map(|(e, b)| Ok((e, Source::new(b)?)))
            .collect::<io::Result<_>>()?;
        let batch: Vec<(Envelope, smtp_async::Body<'_>)> = items
            .iter_mut()
            .map(|(e, s)| (e.clone(), s.body()))
            .collect();
        let mut results = Vec::new();
        let r = R::block_on(self.inner.send_all(batch, |i, r| results.push((i, r))));
        for (i, r) in results {
            on_done(i, r);
        }
        r
    }
    pub fn quit(&mut self) -> Result<Option<Reply>, Error> {
        R::block_on(self.inner.quit())
    }
    pub fn close(&mut self) {
        self.inner.close()
    }
}
