//! The values of the extensions that carry parameters (SIZE, DELIVERBY, MT-PRIORITY,
//! FUTURERELEASE, LIMITS) and the generic [`Extension`] line.

use std::num::NonZeroU64;

use super::grammar::{self, EhloLine, complete};

/// The SIZE extension's value (RFC 1870).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SizeLimit {
    /// `SIZE` alone or `SIZE 0`: the server announces no fixed maximum.
    NoFixedLimit,
    /// `SIZE n`: messages above `n` octets are refused.
    Max(NonZeroU64),
}

impl SizeLimit {
    /// `Some(SizeLimit::Max(n))`, or `Some(NoFixedLimit)` for 0: the value `SIZE n` yields.
    ///
    /// ```
    /// use smtp_proto::ehlo::SizeLimit;
    /// assert_eq!(SizeLimit::max(0), Some(SizeLimit::NoFixedLimit));
    /// assert_eq!(SizeLimit::max(10).unwrap().limit(), Some(10));
    /// ```
    pub fn max(n: u64) -> Option<Self> {
        Some(NonZeroU64::new(n).map_or(Self::NoFixedLimit, Self::Max))
    }

    /// The maximum in octets, `None` when there is no fixed limit.
    pub fn limit(self) -> Option<u64> {
        match self {
            Self::NoFixedLimit => None,
            Self::Max(n) => Some(n.get()),
        }
    }

    /// Whether a message of `octets` octets is within the limit.
    pub fn allows(self, octets: u64) -> bool {
        self.limit().is_none_or(|max| octets <= max)
    }
}

/// The DELIVERBY extension's parameter (RFC 2852).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeliverBy {
    /// The minimum by-time in seconds the server accepts, if it announced one.
    pub min_by_time: Option<u32>,
}

/// The MT-PRIORITY extension's parameter (RFC 6710).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MtPriority<'a> {
    /// The priority assignment policy name (such as `MIXER`), verbatim, if announced.
    pub policy: Option<&'a str>,
}

/// The FUTURERELEASE extension's parameters (RFC 4865).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FutureRelease<'a> {
    /// The longest accepted hold, in seconds (`max-future-release-interval`).
    pub max_interval: u32,
    /// The latest accepted release time, an RFC 3339 date-time, verbatim
    /// (`max-future-release-date-time`).
    pub max_date_time: &'a str,
}

/// The LIMITS extension's values (RFC 9422).
///
/// The three registered limits are numbers. Any other `NAME=value` pair, a registered limit
/// whose value is not a number that fits `u32`, and repeats of a limit (the first wins) are
/// kept verbatim in [`other`](Self::other).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Limits {
    mail_max: Option<u32>,
    rcpt_max: Option<u32>,
    rcpt_domain_max: Option<u32>,
    /// The other pairs, `NAME=value` joined by SP.
    other: Box<str>,
}

impl Limits {
    /// `MAILMAX`: the most transactions (MAIL commands) per session.
    pub fn mail_max(&self) -> Option<u32> {
        self.mail_max
    }

    /// `RCPTMAX`: the most recipients per transaction.
    pub fn rcpt_max(&self) -> Option<u32> {
        self.rcpt_max
    }

    /// `RCPTDOMAINMAX`: the most distinct recipient domains per transaction.
    pub fn rcpt_domain_max(&self) -> Option<u32> {
        self.rcpt_domain_max
    }

    /// The other `(name, value)` pairs, verbatim, in order.
    pub fn other(&self) -> impl Iterator<Item = (&str, &str)> {
        self.other
            .split(' ')
            .filter_map(|pair| pair.split_once('='))
    }

    pub(super) fn parse(params: &[u8]) -> Option<Limits> {
        complete(grammar::limits_params, params)?;
        let mut limits = Limits::default();
        let mut other = String::new();
        for pair in params.split(|&b| b == b' ').filter(|p| !p.is_empty()) {
            let (name, value) = complete(grammar::limit, pair)?;
            let slot = if name.eq_ignore_ascii_case(b"MAILMAX") {
                Some(&mut limits.mail_max)
            } else if name.eq_ignore_ascii_case(b"RCPTMAX") {
                Some(&mut limits.rcpt_max)
            } else if name.eq_ignore_ascii_case(b"RCPTDOMAINMAX") {
                Some(&mut limits.rcpt_domain_max)
            } else {
                None
            };
            match (slot, complete(grammar::number_u32, value)) {
                (Some(slot @ None), Some(n)) => *slot = Some(n),
                _ => {
                    if !other.is_empty() {
                        other.push(' ');
                    }
                    // The grammar admits only printable ASCII.
                    other.push_str(std::str::from_utf8(pair).ok()?);
                }
            }
        }
        limits.other = other.into();
        Some(limits)
    }

    pub(super) fn render(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"LIMITS");
        for (name, value) in [
            ("MAILMAX", self.mail_max),
            ("RCPTMAX", self.rcpt_max),
            ("RCPTDOMAINMAX", self.rcpt_domain_max),
        ] {
            if let Some(v) = value {
                out.extend_from_slice(format!(" {name}={v}").as_bytes());
            }
        }
        if !self.other.is_empty() {
            out.push(b' ');
            out.extend_from_slice(self.other.as_bytes());
        }
    }
}

/// One well-formed extension line: a keyword and its parameters.
///
/// ```
/// use smtp_proto::ehlo::Extension;
/// let ext = Extension::parse(b"AUTH=PLAIN LOGIN").unwrap();
/// assert_eq!(ext.keyword(), "AUTH");
/// assert_eq!(ext.params(), "PLAIN LOGIN");
/// assert_eq!(ext.param_list().collect::<Vec<_>>(), ["PLAIN", "LOGIN"]);
/// assert!(Extension::parse(b"SIZE\t100").is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Extension<'a> {
    keyword: &'a str,
    params: &'a str,
}

impl<'a> Extension<'a> {
    /// Parses one line's text as an `ehlo-line` (see the [module docs](super)), `None` if it
    /// does not match.
    pub fn parse(line: &'a [u8]) -> Option<Self> {
        let EhloLine {
            keyword, params, ..
        } = grammar::ehlo_line(line)?;
        // The grammar admits only printable ASCII.
        Some(Extension {
            keyword: std::str::from_utf8(keyword).ok()?,
            params: std::str::from_utf8(params).ok()?,
        })
    }

    /// The keyword as sent (compare with `eq_ignore_ascii_case`).
    pub fn keyword(&self) -> &'a str {
        self.keyword
    }

    /// The parameters after the keyword's separator, verbatim (empty if none).
    pub fn params(&self) -> &'a str {
        self.params
    }

    /// The parameters, split on spaces.
    pub fn param_list(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.params.split(' ').filter(|p| !p.is_empty())
    }
}
