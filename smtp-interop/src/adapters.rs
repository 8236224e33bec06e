//! The adapters the matrix runs: [`all`] lists them, in column order.

use smtp_blocking::proto::command::{MailParams, RcptParams};
use smtp_blocking::proto::sasl::Credentials;
use smtp_blocking::{Body, Envelope, Error, Options, SendReport, ServerReply, SmtpClient};

use crate::{Adapter, Capabilities, Session};

/// Every adapter of the matrix, in column order.
pub fn all() -> Vec<Box<dyn Adapter>> {
    #[allow(unused_mut)]
    let mut v: Vec<Box<dyn Adapter>> = vec![Box::new(Blocking)];
    // ---- smtp-async: the lead adds the async adapters here (see `async_adapters` below).
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
    fn greeting(&self) -> Option<ServerReply> {
        SmtpClient::greeting(self).cloned()
    }
    fn capabilities(&self) -> Option<Capabilities> {
        SmtpClient::capabilities(self).cloned()
    }
    fn has_extn(&self, name: &str) -> bool {
        SmtpClient::has_extn(self, name)
    }
    fn is_encrypted(&self) -> bool {
        SmtpClient::is_encrypted(self)
    }
    fn is_closed(&self) -> bool {
        SmtpClient::is_closed(self)
    }
    fn take_transcript(&mut self) -> Vec<String> {
        SmtpClient::take_transcript(self)
    }
    fn ehlo(&mut self) -> Result<ServerReply, Error> {
        SmtpClient::ehlo(self)
    }
    fn verify(&mut self, address: &str) -> Result<ServerReply, Error> {
        SmtpClient::verify(self, address)
    }
    fn expn(&mut self, list: &str) -> Result<ServerReply, Error> {
        SmtpClient::expn(self, list)
    }
    fn help(&mut self, topic: Option<&str>) -> Result<ServerReply, Error> {
        SmtpClient::help(self, topic)
    }
    fn noop(&mut self) -> Result<ServerReply, Error> {
        SmtpClient::noop(self)
    }
    fn rset(&mut self) -> Result<ServerReply, Error> {
        SmtpClient::rset(self)
    }
    fn mail(&mut self, from: &str, params: MailParams) -> Result<ServerReply, Error> {
        SmtpClient::mail(self, from, params)
    }
    fn rcpt(&mut self, to: &str, params: RcptParams) -> Result<ServerReply, Error> {
        SmtpClient::rcpt(self, to, params)
    }
    fn data(&mut self, message: &[u8]) -> Result<ServerReply, Error> {
        SmtpClient::data(self, message)
    }
    fn docmd(&mut self, line: &str) -> Result<ServerReply, Error> {
        SmtpClient::docmd(self, line)
    }
    fn login(&mut self, user: &str, password: &str) -> Result<ServerReply, Error> {
        SmtpClient::login(self, user, password)
    }
    fn auth(&mut self, mechanism: &str, credentials: Credentials) -> Result<ServerReply, Error> {
        SmtpClient::auth(self, mechanism, credentials)
    }
    fn sendmail(
        &mut self,
        from: &str,
        to: &[&str],
        message: &[u8],
        mail_options: MailParams,
        rcpt_options: RcptParams,
    ) -> Result<SendReport, Error> {
        SmtpClient::sendmail(self, from, to, message, mail_options, rcpt_options)
    }
    fn send(&mut self, env: Envelope, body: Body<'_>) -> Result<SendReport, Error> {
        SmtpClient::send(self, env, body)
    }
    fn send_all(
        &mut self,
        messages: Vec<(Envelope, Vec<u8>)>,
    ) -> Result<Vec<Result<SendReport, Error>>, Error> {
        let mut out: Vec<Option<Result<SendReport, Error>>> =
            (0..messages.len()).map(|_| None).collect();
        SmtpClient::send_all(
            self,
            messages.iter().map(|(e, m)| (e.clone(), Body::Bytes(m))),
            |i, r| out[i] = Some(r),
        )?;
        out.into_iter()
            .enumerate()
            .map(|(i, r)| r.ok_or_else(|| Error::InvalidInput(format!("message {i}: no result"))))
            .collect()
    }
    fn quit(&mut self) -> Result<Option<ServerReply>, Error> {
        SmtpClient::quit(self)
    }
}

/// The smtp-async adapters: the async client on tokio and on smol, each call blocked on
/// through [`facade::AsyncClient`](crate::facade::AsyncClient).
pub mod async_adapters {
    use std::marker::PhantomData;

    use smtp_blocking::proto::command::{MailParams, RcptParams};
    use smtp_blocking::proto::sasl::Credentials;
    use smtp_blocking::{Body, Envelope, Error, Options, SendReport, ServerReply};

    use crate::facade::{self, AsyncClient, BlockOn, OnSmol, OnTokio};
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

    impl<R: BlockOn> Session for AsyncClient<R> {
        fn greeting(&self) -> Option<ServerReply> {
            AsyncClient::greeting(self).cloned()
        }
        fn capabilities(&self) -> Option<Capabilities> {
            AsyncClient::capabilities(self).cloned()
        }
        fn has_extn(&self, name: &str) -> bool {
            AsyncClient::has_extn(self, name)
        }
        fn is_encrypted(&self) -> bool {
            AsyncClient::is_encrypted(self)
        }
        fn is_closed(&self) -> bool {
            AsyncClient::is_closed(self)
        }
        fn take_transcript(&mut self) -> Vec<String> {
            AsyncClient::take_transcript(self)
        }
        fn ehlo(&mut self) -> Result<ServerReply, Error> {
            AsyncClient::ehlo(self)
        }
        fn verify(&mut self, address: &str) -> Result<ServerReply, Error> {
            AsyncClient::verify(self, address)
        }
        fn expn(&mut self, list: &str) -> Result<ServerReply, Error> {
            AsyncClient::expn(self, list)
        }
        fn help(&mut self, topic: Option<&str>) -> Result<ServerReply, Error> {
            AsyncClient::help(self, topic)
        }
        fn noop(&mut self) -> Result<ServerReply, Error> {
            AsyncClient::noop(self)
        }
        fn rset(&mut self) -> Result<ServerReply, Error> {
            AsyncClient::rset(self)
        }
        fn mail(&mut self, from: &str, params: MailParams) -> Result<ServerReply, Error> {
            AsyncClient::mail(self, from, params)
        }
        fn rcpt(&mut self, to: &str, params: RcptParams) -> Result<ServerReply, Error> {
            AsyncClient::rcpt(self, to, params)
        }
        fn data(&mut self, message: &[u8]) -> Result<ServerReply, Error> {
            AsyncClient::data(self, message)
        }
        fn docmd(&mut self, line: &str) -> Result<ServerReply, Error> {
            AsyncClient::docmd(self, line)
        }
        fn login(&mut self, user: &str, password: &str) -> Result<ServerReply, Error> {
            AsyncClient::login(self, user, password)
        }
        fn auth(
            &mut self,
            mechanism: &str,
            credentials: Credentials,
        ) -> Result<ServerReply, Error> {
            AsyncClient::auth(self, mechanism, credentials)
        }
        fn sendmail(
            &mut self,
            from: &str,
            to: &[&str],
            message: &[u8],
            mail_options: MailParams,
            rcpt_options: RcptParams,
        ) -> Result<SendReport, Error> {
            AsyncClient::sendmail(self, from, to, message, mail_options, rcpt_options)
        }
        fn send(&mut self, env: Envelope, b: Body<'_>) -> Result<SendReport, Error> {
            match b {
                Body::Bytes(b) => AsyncClient::send(self, env, facade::Body::Bytes(b)),
                // The caller's reader need not be `Send`: read it first, then hand the
                // client a reader over the bytes, so the size stays unknown to it.
                Body::Reader(r) => {
                    let mut v = Vec::new();
                    r.read_to_end(&mut v)?;
                    AsyncClient::send(self, env, facade::Body::Reader(&mut v.as_slice()))
                }
            }
        }
        fn send_all(
            &mut self,
            messages: Vec<(Envelope, Vec<u8>)>,
        ) -> Result<Vec<Result<SendReport, Error>>, Error> {
            let mut out: Vec<Option<Result<SendReport, Error>>> =
                (0..messages.len()).map(|_| None).collect();
            AsyncClient::send_all(
                self,
                messages
                    .iter()
                    .map(|(e, m)| (e.clone(), facade::Body::Bytes(m))),
                |i, r| out[i] = Some(r),
            )?;
            out.into_iter()
                .enumerate()
                .map(|(i, r)| {
                    r.ok_or_else(|| Error::InvalidInput(format!("message {i}: no result")))
                })
                .collect()
        }
        fn quit(&mut self) -> Result<Option<ServerReply>, Error> {
            AsyncClient::quit(self)
        }
    }
}
