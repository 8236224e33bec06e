//! The adapters the matrix runs: [`all`] lists them, in column order.

use smtp_blocking::proto::command::{MailParams, RcptParams};
use smtp_blocking::proto::sasl::Credentials;
use smtp_blocking::{Body, Envelope, Error, Options, Reply, SendReport, SmtpClient};

use crate::{Adapter, Capabilities, Session};

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

/// `Session` for a client type with smtp-blocking's API (smtp-blocking's own, and the
/// async client behind [`facade::AsyncClient`](crate::facade::AsyncClient)): every method
/// forwards to the inherent one of the same name.
macro_rules! session_for {
    (impl[$($g:tt)*] $ty:ty) => {
        impl<$($g)*> Session for $ty {
        fn greeting(&self) -> Option<Reply> {
            <$ty>::greeting(self).cloned()
        }
        fn capabilities(&self) -> Option<Capabilities> {
            <$ty>::capabilities(self).cloned()
        }
        fn has_extn(&self, name: &str) -> bool {
            <$ty>::has_extn(self, name)
        }
        fn is_encrypted(&self) -> bool {
            <$ty>::is_encrypted(self)
        }
        fn is_closed(&self) -> bool {
            <$ty>::is_closed(self)
        }
        fn take_transcript(&mut self) -> Vec<String> {
            <$ty>::take_transcript(self)
        }
        fn ehlo(&mut self) -> Result<Reply, Error> {
            <$ty>::ehlo(self)
        }
        fn verify(&mut self, address: &str) -> Result<Reply, Error> {
            <$ty>::verify(self, address)
        }
        fn expn(&mut self, list: &str) -> Result<Reply, Error> {
            <$ty>::expn(self, list)
        }
        fn help(&mut self, topic: Option<&str>) -> Result<Reply, Error> {
            <$ty>::help(self, topic)
        }
        fn noop(&mut self) -> Result<Reply, Error> {
            <$ty>::noop(self)
        }
        fn rset(&mut self) -> Result<Reply, Error> {
            <$ty>::rset(self)
        }
        fn mail(&mut self, from: &str, params: MailParams) -> Result<Reply, Error> {
            <$ty>::mail(self, from, params)
        }
        fn rcpt(&mut self, to: &str, params: RcptParams) -> Result<Reply, Error> {
            <$ty>::rcpt(self, to, params)
        }
        fn data(&mut self, message: &[u8]) -> Result<Reply, Error> {
            <$ty>::data(self, message)
        }
        fn docmd(&mut self, line: &str) -> Result<Reply, Error> {
            <$ty>::docmd(self, line)
        }
        fn login(&mut self, user: &str, password: &str) -> Result<Reply, Error> {
            <$ty>::login(self, user, password)
        }
        fn auth(&mut self, mechanism: &str, credentials: Credentials) -> Result<Reply, Error> {
            <$ty>::auth(self, mechanism, credentials)
        }
        fn sendmail(
            &mut self,
            from: &str,
            to: &[&str],
            message: &[u8],
            mail_options: MailParams,
            rcpt_options: RcptParams,
        ) -> Result<SendReport, Error> {
            <$ty>::sendmail(self, from, to, message, mail_options, rcpt_options)
        }
        fn send(&mut self, env: Envelope, body: Body<'_>) -> Result<SendReport, Error> {
            <$ty>::send(self, env, body)
        }
        fn send_all(
            &mut self,
            messages: Vec<(Envelope, Vec<u8>)>,
        ) -> Result<Vec<Result<SendReport, Error>>, Error> {
            let mut out: Vec<Option<Result<SendReport, Error>>> =
                (0..messages.len()).map(|_| None).collect();
            <$ty>::send_all(
                self,
                messages.iter().map(|(e, m)| (e.clone(), Body::Bytes(m))),
                |i, r| out[i] = Some(r),
            )?;
            out.into_iter()
                .enumerate()
                .map(|(i, r)| r.ok_or_else(|| Error::InvalidInput(format!("message {i}: no result"))))
                .collect()
        }
        fn quit(&mut self) -> Result<Option<Reply>, Error> {
            <$ty>::quit(self)
        }

        }
    };
}

session_for!(impl[] SmtpClient);

/// The smtp-async adapters: the async client on tokio and on smol, each call blocked on
/// through [`facade::AsyncClient`](crate::facade::AsyncClient).
pub mod async_adapters {
    use std::marker::PhantomData;

    use smtp_blocking::proto::command::{MailParams, RcptParams};
    use smtp_blocking::proto::sasl::Credentials;
    use smtp_blocking::{Body, Envelope, Error, Options, Reply, SendReport};

    use crate::facade::{AsyncClient, BlockOn, OnSmol, OnTokio};
    use crate::{Adapter, Capabilities, Session};

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

    session_for!(impl[R: BlockOn] AsyncClient<R>);
}
