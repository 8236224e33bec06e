//! rustls' own cost for N messages of S octets: a client and a server connection (ring,
//! default suites: TLS 1.3 AES-256-GCM) joined in memory, no sockets. Prints three
//! timings: `encrypt` (client writes + TLS records out), `decrypt` (server reads the
//! records + plaintext out) and `both` (in one thread, what a single core would do).
//!
//!   rustls-alone [--messages 200] [--size 1048576] [--write 65536]
//!
//! `--write` is the plaintext handed to rustls per call: 64 KiB (the default) is rustls'
//! best case here; a single 1 MiB write makes rustls queue 64 records at once and costs
//! ~2x in page faults and copies.
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("number"))
        .unwrap_or(default)
}

fn pair() -> (rustls::ClientConnection, rustls::ServerConnection) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().self_signed(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(cert.der().to_vec())).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut c = rustls::ClientConnection::new(Arc::new(client), ServerName::try_from("localhost").unwrap()).unwrap();
    let mut s = rustls::ServerConnection::new(Arc::new(server)).unwrap();
    while c.is_handshaking() || s.is_handshaking() {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        s.read_tls(&mut &buf[..]).unwrap();
        s.process_new_packets().unwrap();
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        c.read_tls(&mut &buf[..]).unwrap();
        c.process_new_packets().unwrap();
    }
    (c, s)
}

/// Client side: plaintext in, records out to `wire` (cleared per message).
// Not inlined: `valgrind --tool=callgrind --toggle-collect='rustls_alone::encrypt'`
// counts the instructions of the encryption alone.
#[inline(never)]
fn encrypt(c: &mut rustls::ClientConnection, msg: &[u8], write: usize, wire: &mut Vec<u8>) {
    wire.clear();
    for piece in msg.chunks(write) {
        c.writer().write_all(piece).unwrap();
        while c.wants_write() {
            c.write_tls(wire).unwrap();
        }
    }
}

/// Server side: records in, plaintext out (into `plain`, reused).
#[inline(never)]
fn decrypt(s: &mut rustls::ServerConnection, mut wire: &[u8], plain: &mut [u8]) -> usize {
    let mut got = 0;
    while !wire.is_empty() {
        s.read_tls(&mut wire).unwrap();
        s.process_new_packets().unwrap();
        loop {
            match s.reader().read(plain) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
    got
}

fn main() {
    let (n, size, write) = (arg("--messages", 200), arg("--size", 1 << 20), arg("--write", 1 << 16));
    let msg = vec![b'x'; size];
    let mut plain = vec![0u8; 1 << 20];
    let (mut c, mut s) = pair();
    c.set_buffer_limit(None);
    s.set_buffer_limit(None);
    let mut wire = Vec::with_capacity(size + size / 8);
    // Encrypt only (the client's share), then decrypt the same records count.
    let (mut enc, mut dec) = (0f64, 0f64);
    let t = Instant::now();
    for _ in 0..n {
        let t0 = Instant::now();
        encrypt(&mut c, &msg, write, &mut wire);
        enc += t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let got = decrypt(&mut s, &wire, &mut plain);
        dec += t1.elapsed().as_secs_f64();
        assert_eq!(got, size);
    }
    let both = t.elapsed().as_secs_f64();
    let mb = (n * size) as f64 / 1e6;
    println!(
        "messages={n} size={size} encrypt_s={enc:.6} decrypt_s={dec:.6} both_s={both:.6} encrypt_MBps={:.0} decrypt_MBps={:.0} both_MBps={:.0} suite={:?}",
        mb / enc,
        mb / dec,
        mb / both,
        c.negotiated_cipher_suite().map(|s| s.suite())
    );
}
