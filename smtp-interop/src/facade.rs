//! smtp-async's client on a runtime `R` ([`OnTokio`], [`OnSmol`]) as a blocking
//! [`Session`](crate::Session): each operation of the shared layer blocks on the async
//! client's `execute`. The real-server cases (`tests/real_servers/cases.rs`) run on each
//! runtime through it (`tests/real_servers_{tokio,smol}.rs`) as on the blocking client
//! (`tests/real_servers_blocking.rs`), and so does the interop matrix (its async
//! [`Adapter`](crate::Adapter)s).

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use smtp_async::{Envelope, Error, Options, Reply, SendReport};
use smtp_blocking::Body;
use smtp_blocking::proto::sasl::SaslMechanism;
use smtp_client::{TokenProvider, ops};

/// A `&dyn TokenProvider` as a sized provider (so that it is an `AsyncTokenProvider`).
struct Provider<'a>(&'a dyn TokenProvider);

impl TokenProvider for Provider<'_> {
    fn token(&self, user: &str, refresh: bool) -> Result<String, Error> {
        self.0.token(user, refresh)
    }
}

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

impl<R: BlockOn> AsyncClient<R> {
    /// Connects on runtime `R` (greeting, EHLO/LHLO, STARTTLS per policy).
    pub fn connect(server: &str, opts: Options) -> Result<Self, Error> {
        Ok(AsyncClient {
            inner: R::block_on(smtp_async::SmtpClient::connect_on(
                R::runtime(),
                server,
                opts,
            ))?,
            rt: PhantomData,
        })
    }
}

impl<R: BlockOn> crate::Session for AsyncClient<R> {
    fn state(&self) -> &smtp_client::Session {
        self.inner.session()
    }
    fn take_transcript(&mut self) -> Vec<String> {
        self.inner.take_transcript()
    }
    fn simple(&mut self, op: ops::Simple) -> Result<Reply, Error> {
        R::block_on(self.inner.execute(op))
    }
    fn data(&mut self, message: &[u8]) -> Result<Reply, Error> {
        R::block_on(self.inner.execute(ops::Data::new(message)))
    }
    fn authenticate(&mut self, op: ops::Login) -> Result<Reply, Error> {
        R::block_on(self.inner.execute(op))
    }
    fn auth_with(&mut self, mechanism: Box<dyn SaslMechanism>) -> Result<Reply, Error> {
        R::block_on(self.inner.auth_with(mechanism))
    }
    fn login_oauth(&mut self, user: &str, provider: &dyn TokenProvider) -> Result<Reply, Error> {
        R::block_on(self.inner.login_oauth(user, &Provider(provider)))
    }
    fn send(&mut self, env: Envelope, body: Body<'_>) -> Result<SendReport, Error> {
        let mut src = Source::new(body)?;
        R::block_on(self.inner.execute(ops::SendOne::new(env, src.body())))
    }
    /// `on_done` is called once the batch is over, in order (the async client's callback
    /// must be `Send`).
    fn send_batch(
        &mut self,
        messages: Vec<(Envelope, Body<'_>)>,
        on_done: &mut dyn FnMut(usize, Result<SendReport, Error>),
    ) -> Result<(), Error> {
        let mut items: Vec<(Envelope, Source<'_>)> = messages
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
    fn quit(&mut self) -> Result<Option<Reply>, Error> {
        R::block_on(self.inner.quit())
    }
    fn close(&mut self) {
        self.inner.close()
    }
}
