//! Property checks shared by the `cargo fuzz` targets of `smtp-proto`.
//!
//! Each target in `fuzz_targets/` is a one-line call into this crate, so that every
//! property lives in one place and can be called from a debugger or a test on a saved
//! input. A property that does not hold panics: libFuzzer records the input as a crash.
//! Saved crashes live in `regressions/<target>/`; `scripts/fuzz-smoke` runs them first.
//!
//! | target         | input                                    | entry point         |
//! |----------------|------------------------------------------|---------------------|
//! | `reply`        | config byte + server bytes               | [`reply`]           |
//! | `reply_chunks` | [`ChunkedInput`] (config, splits, bytes) | [`reply_chunks`]    |
//! | `command`      | [`CommandInput`] (structured arguments)  | [`command`]         |
//! | `ehlo`         | mode byte + EHLO reply bytes             | [`ehlo()`]          |
//! | `data_encoder` | [`BodyInput`] (mode, splits, body)       | [`data_encoder`]    |
//! | `session`      | config byte + script of steps            | [`session()`]       |
//! | `differential` | a byte (ignored) + server bytes          | [`differential()`]  |

mod body;
mod command;
mod differential;
mod ehlo;
mod input;
mod reply;
mod session;

pub use body::{BodyInput, data_encoder};
pub use differential::differential;
pub use ehlo::ehlo;

pub use command::{CommandInput, MailInput, RcptInput, command};
pub use input::{FuzzBytes, FuzzStr, VOCAB};
pub use reply::{ChunkedInput, ReplyConfig, reply, reply_chunks};
pub use session::{REPLIES, session};
