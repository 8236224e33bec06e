//! The error type of the command encoder and of every argument constructor.

/// Why a command argument or a whole command line was refused.
///
/// Nothing is ever written when one of these is returned. Offsets are byte offsets into
/// the string handed to the constructor that failed (for [`Command::encode`] checks,
/// into the named field's text).
///
/// [`Command::encode`]: crate::command::Command::encode
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// A value that must not be empty was empty.
    #[error("{field}: must not be empty")]
    Empty {
        /// The argument or parameter concerned.
        field: &'static str,
    },
    /// A C0 control byte (including CR, LF and NUL) or DEL was found.
    #[error("{field}: forbidden control byte {byte:#04x} at offset {offset}")]
    ControlByte {
        /// The argument or parameter concerned.
        field: &'static str,
        /// Byte offset of the control byte.
        offset: usize,
        /// The control byte itself.
        byte: u8,
    },
    /// The value does not match its grammar.
    #[error("{field}: unexpected {} at offset {offset}, expected {expected}", found.map_or_else(|| "end of input".to_owned(), |c| format!("{c:?}")))]
    Syntax {
        /// The argument or parameter concerned.
        field: &'static str,
        /// Byte offset of the offending character (or of the end of input).
        offset: usize,
        /// The offending character, `None` at the end of input.
        found: Option<char>,
        /// What the grammar allows at that position.
        expected: &'static str,
    },
    /// Non-ASCII text was used while SMTPUTF8 (RFC 6531) is not in effect.
    #[error("{field}: non-ASCII character at offset {offset} requires SMTPUTF8")]
    Utf8NotEnabled {
        /// The argument or parameter concerned.
        field: &'static str,
        /// Byte offset of the first non-ASCII byte.
        offset: usize,
    },
    /// A length limit was exceeded.
    #[error("{field}: {len} octets exceeds the limit of {max}")]
    TooLong {
        /// The argument, parameter or limit concerned (e.g. `local-part`, `path`).
        field: &'static str,
        /// The actual length in octets.
        len: usize,
        /// The maximum allowed length in octets.
        max: usize,
    },
    /// A number is outside its allowed range.
    #[error("{field}: {value} is outside {min}..={max}")]
    OutOfRange {
        /// The parameter concerned.
        field: &'static str,
        /// The refused value.
        value: i64,
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// A value is well-formed but not meaningful (e.g. `NOTIFY` with no condition).
    #[error("{field}: {reason}")]
    Invalid {
        /// The argument or parameter concerned.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The same ESMTP parameter keyword appears twice on one command.
    #[error("parameter {keyword} given more than once")]
    DuplicateParameter {
        /// The repeated keyword, as given.
        keyword: String,
    },
    /// An extra ESMTP parameter uses a keyword that has a typed field.
    #[error("parameter {keyword} must be set through its typed field")]
    ReservedParameter {
        /// The reserved keyword, as given.
        keyword: String,
    },
    /// The encoded command line would exceed its length limit.
    #[error("command line would be {len} octets, the limit is {max} including CRLF")]
    LineTooLong {
        /// Length the line would have, CRLF included.
        len: usize,
        /// The limit, CRLF included.
        max: usize,
    },
}

impl CommandError {
    /// Shifts the offset of offset-carrying errors by `by` (for wrappers that strip a prefix).
    pub(crate) fn shifted(self, by: usize) -> Self {
        match self {
            Self::ControlByte {
                field,
                offset,
                byte,
            } => Self::ControlByte {
                field,
                offset: offset + by,
                byte,
            },
            Self::Syntax {
                field,
                offset,
                found,
                expected,
            } => Self::Syntax {
                field,
                offset: offset + by,
                found,
                expected,
            },
            Self::Utf8NotEnabled { field, offset } => Self::Utf8NotEnabled {
                field,
                offset: offset + by,
            },
            other => other,
        }
    }
}
