//! The adapters the matrix runs: [`all`] lists them, in column order.

use smtp_blocking::proto::sasl::SaslMechanism;
use smtp_blocking::{Body, Envelope, Error, Options, Reply, SendReport, SmtpClient};
use smtp_client::{TokenProvider, ops};

use crate::{Adapter, Session};

/// Every adapter of the matrix, in column order.
pub fn all() -> Vec<Box<dyn Adapter>> {
    let mut v: Vec<Box<dyn Adapter>> = vec![Box::new(Blocking)];
    v.extend(async_adapters::all());
    v
}

/// smtp-blocking's [`SmtpClient`].
pub struct Blocking;

impl Adapter for Blocking {
    fn name(&self) -> &'static str {
        "blocking"
    }
    fn connect(&self, server: &str, opts: Options) -> Result<Box<dyn Session + '_>, Error> {
        Ok(Box::new(SmtpClient::connect(server, opts)?))
    }
}

impl Session for SmtpClient {
    fn state(&self) -> &smtp_client::Session {
        self.session()
    }
    fn take_transcript(&mut self) -> Vec<String> {
        SmtpClient::take_transcript(self)
    }
    fn simple(&mut self, op: ops::Simple) -> Result<Reply, Error> {
        self.execute(op)
    }
    fn data(&mut self, message: &[u8]) -> Result<Reply, Error> {
        self.execute(ops::Data::new(message))
    }
    fn authenticate(&mut self, op: ops::Login) -> Result<Reply, Error> {
        self.execute(op)
    }
    fn auth_with(&mut self, mechanism: Box<dyn SaslMechanism>) -> Result<Reply, Error> {
        SmtpClient::auth_with(self, mechanism)
    }
    fn login_oauth(&mut self, user: &str, provider: &dyn TokenProvider) -> Result<Reply, Error> {
        SmtpClient::login_oauth(self, user, provider)
    }
    fn send(&mut self, env: Envelope, body: Body<'_>) -> Result<SendReport, Error> {
        self.execute(ops::SendOne::new(env, body))
    }
    fn send_batch(
        &mut self,
        messages: Vec<(Envelope, Body<'_>)>,
        on_done: &mut dyn FnMut(usize, Result<SendReport, Error>),
    ) -> Result<(), Error> {
        self.execute(ops::SendAll::new(messages, on_done))
    }
    fn quit(&mut self) -> Result<Option<Reply>, Error> {
        SmtpClient::quit(self)
    }
    fn close(&mut self) {
        SmtpClient::close(self)
    }
}

/// The smtp-async adapters: the async client on tokio and on smol, each call blocked on
/// through [`facade::AsyncClient`](crate::facade::AsyncClient).
pub mod async_adapters {
    use std::marker::PhantomData;

    use smtp_blocking::{Error, Options};

    use crate::facade::{AsyncClient, BlockOn, OnSmol, OnTokio};
    use crate::{Adapter, Session};

    /// The async adapters, in column order: tokio, smol.
    pub fn all() -> Vec<Box<dyn Adapter>> {
        vec![
            Box::new(Async::<OnTokio>(PhantomData)),
            Box::new(Async::<OnSmol>(PhantomData)),
        ]
    }

    /// smtp-async's client on the runtime `R`.
    pub struct Async<R>(PhantomData<R>);

    impl<R: BlockOn> Adapter for Async<R> {
        fn name(&self) -> &'static str {
            R::NAME
        }
        fn connect(&self, server: &str, opts: Options) -> Result<Box<dyn Session + '_>, Error> {
            Ok(Box::new(AsyncClient::<R>::connect(server, opts)?))
        }
    }
}
