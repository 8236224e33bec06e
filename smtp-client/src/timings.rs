//! How long each phase of opening a session took ([`Timings`]), from the instants the
//! driver hands the session (`now`); nothing here reads a clock.

use std::time::{Duration, Instant};

/// How long each phase of opening a session took, as measured from the `now`s the driver
/// reported ([`Session::timings`](crate::Session::timings)). A phase that did not happen
/// (no STARTTLS, a failure before it) is `None`.
///
/// With implicit TLS the handshake comes first and the only EHLO is
/// [`ehlo`](Self::ehlo); with STARTTLS, [`ehlo`](Self::ehlo) is the EHLO in plaintext and
/// [`ehlo_after_tls`](Self::ehlo_after_tls) the one after the handshake.
///
/// ```
/// use std::time::{Duration, Instant};
/// use smtp_client::{Exchange, Options, Session, Step, TlsPolicy, ops};
///
/// let t0 = Instant::now();
/// let ms = |n| t0 + Duration::from_millis(n);
/// let opts = Options::new().with_tls(TlsPolicy::Never);
/// let mut s = Session::new(&opts, "localhost", None, ms(3))?; // connected at 3 ms
/// s.record_connect_start(t0);
/// let mut x: Exchange<'_, '_, dyn std::io::Read, _> = Exchange::new(&mut s, ops::Ready)?;
/// assert!(matches!(x.step(), Step::Read));
/// x.received(b"220 mx ESMTP\r\n", ms(10));
/// assert!(matches!(x.step(), Step::Write));
/// let n = x.session().core().pending_output().len();
/// x.wrote(n, ms(11));
/// assert!(matches!(x.step(), Step::Read));
/// x.received(b"250 mx\r\n", ms(15));
/// assert!(matches!(x.step(), Step::Done(Ok(()))));
/// let t = s.timings();
/// assert_eq!(t.connect, Some(Duration::from_millis(3)));
/// assert_eq!(t.greeting, Some(Duration::from_millis(7)));
/// assert_eq!(t.ehlo, Some(Duration::from_millis(5)));
/// assert_eq!(t.tls_handshake, None);
/// # Ok::<(), smtp_client::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timings {
    /// Connecting (resolving included), when the driver recorded its start
    /// ([`Session::record_connect_start`](crate::Session::record_connect_start)).
    pub connect: Option<Duration>,
    /// From the connection (or the implicit TLS handshake) to the greeting.
    pub greeting: Option<Duration>,
    /// From the greeting to the EHLO reply (to the HELO's after a refused EHLO).
    pub ehlo: Option<Duration>,
    /// From the EHLO reply to the 220 to STARTTLS.
    pub starttls: Option<Duration>,
    /// The TLS handshake (implicit TLS, or after STARTTLS's 220).
    pub tls_handshake: Option<Duration>,
    /// From the end of the STARTTLS handshake to the new EHLO reply.
    pub ehlo_after_tls: Option<Duration>,
}

/// The instants behind [`Timings`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Marks {
    pub(crate) connect_start: Option<Instant>,
    pub(crate) opened: Instant,
    /// The latest time input arrived (what an event polled now was caused by).
    pub(crate) last_input: Instant,
    pub(crate) greeting: Option<Instant>,
    pub(crate) hello: Option<Instant>,
    pub(crate) tls_start: Option<Instant>,
    pub(crate) tls_done: Option<Instant>,
    pub(crate) hello_tls: Option<Instant>,
}

impl Marks {
    pub(crate) fn new(opened: Instant) -> Marks {
        Marks {
            connect_start: None,
            opened,
            last_input: opened,
            greeting: None,
            hello: None,
            tls_start: None,
            tls_done: None,
            hello_tls: None,
        }
    }

    /// An EHLO/LHLO/HELO exchange of the opening ended with the last input.
    pub(crate) fn hello_done(&mut self) {
        if self.greeting.is_none() {
            return;
        }
        let at = self.last_input;
        match (self.hello, self.tls_done) {
            (None, _) => self.hello = Some(at),
            (Some(h), Some(d)) if d > h && at >= d && self.hello_tls.is_none() => {
                self.hello_tls = Some(at)
            }
            _ => {}
        }
    }

    /// The driver is asked for a TLS handshake: after STARTTLS's 220 (the last input), or
    /// with implicit TLS right after connecting.
    pub(crate) fn tls_requested(&mut self) {
        if self.tls_start.is_none() {
            self.tls_start = Some(if self.greeting.is_some() {
                self.last_input
            } else {
                self.opened
            });
        }
    }

    pub(crate) fn timings(&self) -> Timings {
        let span = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_duration_since(a)),
            _ => None,
        };
        // Implicit TLS: the handshake precedes the greeting.
        let implicit = matches!((self.tls_done, self.greeting), (Some(d), Some(g)) if d <= g)
            || (self.tls_done.is_some() && self.greeting.is_none());
        let greeting_from = if implicit {
            self.tls_done
        } else {
            Some(self.opened)
        };
        Timings {
            connect: span(self.connect_start, Some(self.opened)),
            greeting: span(greeting_from, self.greeting),
            ehlo: span(self.greeting, self.hello),
            starttls: if implicit {
                None
            } else {
                span(self.hello, self.tls_start)
            },
            tls_handshake: span(self.tls_start, self.tls_done),
            ehlo_after_tls: if implicit {
                None
            } else {
                span(self.tls_done, self.hello_tls)
            },
        }
    }
}
