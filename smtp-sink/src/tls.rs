//! Server-side TLS over rustls' unbuffered API: records are decrypted in place in a
//! 1 MiB buffer of received TLS and copied once into the reader's buffer (rustls' buffered
//! `StreamOwned` reads 4 KiB at a time and copies every record twice more: 46% of the
//! sink's CPU went to those copies).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};

const IN: usize = 1 << 20;
const READ: usize = 128 * 1024;

pub(crate) struct Tls {
    conn: UnbufferedServerConnection,
    pub(crate) sock: TcpStream,
    inbuf: Vec<u8>,
    inlen: usize,
    outbuf: Vec<u8>,
    outlen: usize,
    /// Decrypted plaintext that did not fit the last read.
    leftover: Vec<u8>,
    leftover_pos: usize,
    /// Plaintext written, encrypted on flush.
    pending: Vec<u8>,
}

enum Got {
    Data(usize),
    Progress,
    NeedRead,
    Closed,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Room for `n` octets of plaintext once encrypted (TLS 1.3: 22 octets per record).
fn sealed_len(n: usize) -> usize {
    n + (n / 16_384 + 1) * 64 + 1024
}

impl Tls {
    /// Runs the handshake on `sock`.
    pub(crate) fn accept(config: Arc<rustls::ServerConfig>, sock: TcpStream) -> io::Result<Self> {
        let conn = UnbufferedServerConnection::new(config).map_err(other)?;
        let mut t = Tls {
            conn,
            sock,
            inbuf: vec![0; IN],
            inlen: 0,
            outbuf: vec![0; 64 * 1024],
            outlen: 0,
            leftover: Vec::new(),
            leftover_pos: 0,
            pending: Vec::new(),
        };
        loop {
            match t.step(None, true)? {
                Got::Data(_) => return Ok(t),
                Got::Progress => {}
                Got::NeedRead => {
                    if t.read_more()? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Got::Closed => return Err(io::ErrorKind::UnexpectedEof.into()),
            }
        }
    }

    fn read_more(&mut self) -> io::Result<usize> {
        if self.inlen == self.inbuf.len() {
            self.inbuf.resize(self.inbuf.len() * 2, 0);
        }
        // Reads of at most READ octets keep the TLS records, their decryption and the copy
        // out within the L2 cache (1 MiB reads doubled the sink's CPU per octet).
        let end = (self.inlen + READ).min(self.inbuf.len());
        let n = self.sock.read(&mut self.inbuf[self.inlen..end])?;
        self.inlen += n;
        Ok(n)
    }

    /// One turn of rustls' state machine. `out`: where to put plaintext. `handshake`: stop
    /// (with `Data(0)`) as soon as application data may flow.
    fn step(&mut self, out: Option<&mut [u8]>, handshake: bool) -> io::Result<Got> {
        let Tls {
            conn,
            sock,
            inbuf,
            inlen,
            outbuf,
            outlen,
            leftover,
            ..
        } = self;
        let UnbufferedStatus { mut discard, state } =
            conn.process_tls_records(&mut inbuf[..*inlen]);
        let got = match state.map_err(other)? {
            ConnectionState::ReadTraffic(mut r) => {
                if handshake {
                    Got::Data(0)
                } else {
                    let mut n = 0;
                    if let Some(out) = out {
                        while n < out.len() {
                            let Some(rec) = r.next_record() else { break };
                            let rec = rec.map_err(other)?;
                            discard += rec.discard;
                            let take = rec.payload.len().min(out.len() - n);
                            out[n..n + take].copy_from_slice(&rec.payload[..take]);
                            leftover.extend_from_slice(&rec.payload[take..]);
                            n += take;
                        }
                    }
                    if n > 0 { Got::Data(n) } else { Got::Progress }
                }
            }
            ConnectionState::EncodeTlsData(mut e) => {
                loop {
                    match e.encode(&mut outbuf[*outlen..]) {
                        Ok(n) => {
                            *outlen += n;
                            break;
                        }
                        Err(EncodeError::InsufficientSize(s)) => {
                            outbuf.resize(*outlen + s.required_size + 1024, 0);
                        }
                        Err(e) => return Err(other(format!("{e:?}"))),
                    }
                }
                Got::Progress
            }
            ConnectionState::TransmitTlsData(t) => {
                sock.write_all(&outbuf[..*outlen])?;
                *outlen = 0;
                t.done();
                Got::Progress
            }
            ConnectionState::BlockedHandshake => Got::NeedRead,
            ConnectionState::WriteTraffic(_) => {
                if handshake {
                    Got::Data(0)
                } else {
                    Got::NeedRead
                }
            }
            ConnectionState::PeerClosed | ConnectionState::Closed => Got::Closed,
            _ => return Err(other("unexpected TLS state")),
        };
        if discard > 0 {
            inbuf.copy_within(discard..*inlen, 0);
            *inlen -= discard;
        }
        Ok(got)
    }

    /// Encrypts and sends the pending plaintext (and `close_notify` when `close`).
    fn send_pending(&mut self, close: bool) -> io::Result<()> {
        loop {
            let Tls {
                conn,
                sock,
                outbuf,
                outlen,
                pending,
                ..
            } = self;
            let UnbufferedStatus { state, .. } = conn.process_tls_records(&mut []);
            match state.map_err(other)? {
                ConnectionState::WriteTraffic(mut w) => {
                    let need = *outlen + sealed_len(pending.len());
                    if outbuf.len() < need {
                        outbuf.resize(need, 0);
                    }
                    if !pending.is_empty() {
                        match w.encrypt(pending, &mut outbuf[*outlen..]) {
                            Ok(n) => *outlen += n,
                            Err(EncryptError::InsufficientSize(s)) => {
                                outbuf.resize(*outlen + s.required_size + 1024, 0);
                                continue;
                            }
                            Err(e) => return Err(other(format!("{e:?}"))),
                        }
                    }
                    if close {
                        if outbuf.len() < *outlen + 1024 {
                            outbuf.resize(*outlen + 1024, 0);
                        }
                        let n = w
                            .queue_close_notify(&mut outbuf[*outlen..])
                            .map_err(|e| other(format!("{e:?}")))?;
                        *outlen += n;
                    }
                    sock.write_all(&outbuf[..*outlen])?;
                    *outlen = 0;
                    pending.clear();
                    return Ok(());
                }
                ConnectionState::EncodeTlsData(mut e) => loop {
                    match e.encode(&mut outbuf[*outlen..]) {
                        Ok(n) => {
                            *outlen += n;
                            break;
                        }
                        Err(EncodeError::InsufficientSize(s)) => {
                            outbuf.resize(*outlen + s.required_size + 1024, 0);
                        }
                        Err(e) => return Err(other(format!("{e:?}"))),
                    }
                },
                ConnectionState::TransmitTlsData(t) => {
                    sock.write_all(&outbuf[..*outlen])?;
                    *outlen = 0;
                    t.done();
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
                _ => return Err(other("TLS not ready to write")),
            }
        }
    }

    /// Sends `close_notify` (after anything pending).
    pub(crate) fn close_notify(&mut self) -> io::Result<()> {
        self.send_pending(true)
    }
}

impl Read for Tls {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.leftover_pos < self.leftover.len() {
                let rest = &self.leftover[self.leftover_pos..];
                let n = rest.len().min(out.len());
                out[..n].copy_from_slice(&rest[..n]);
                self.leftover_pos += n;
                if self.leftover_pos == self.leftover.len() {
                    self.leftover.clear();
                    self.leftover_pos = 0;
                }
                return Ok(n);
            }
            match self.step(Some(out), false)? {
                Got::Data(n) => return Ok(n),
                Got::Progress => {}
                Got::NeedRead => {
                    if self.read_more()? == 0 {
                        // End of TCP without close_notify.
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Got::Closed => return Ok(0),
            }
        }
    }
}

impl Write for Tls {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.send_pending(false)
    }
}
