//! lettre (async, tokio 1, multi-thread runtime with the default worker count).
//! Variants (--variant):
//!   pool  AsyncSmtpTransport<Tokio1Executor> (pool, max_size = C) shared by C
//!         tasks; the pool sends NOOP on every checkout (one extra round trip).
//!   conn  one explicit AsyncSmtpConnection per task.
//!   conn-nodelay  as conn, but the task opens the tokio TcpStream itself, sets
//!         TCP_NODELAY and hands it to AsyncSmtpConnection::connect_with_transport
//!         (NOT lettre's default: lettre never sets TCP_NODELAY).
//! TLS (this copy only): `--tls starttls|implicit --ca FILE`. pool: lettre's own
//! Tls::Required / Tls::Wrapper with the CA added (no TCP_NODELAY possible). conn-nodelay:
//! STARTTLS through AsyncSmtpConnection::starttls; implicit TLS through a tokio-rustls
//! stream on the NODELAY socket handed to connect_with_transport. conn: lettre's own.
use lettre::address::Envelope;
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, Tls, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::PoolConfig;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use smtp_bench_clients::*;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// tokio-rustls over a NODELAY socket, as a lettre transport (implicit TLS).
#[derive(Debug)]
struct TlsWrap(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl AsyncRead for TlsWrap {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsWrap {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsWrap {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

#[tokio::main]
async fn main() {
    let a = parse_args();
    let variant = a.extra("variant").unwrap_or("pool").to_string();
    let env = Arc::new(
        Envelope::new(
            Some(FROM.parse::<Address>().unwrap()),
            rcpts(a.rcpts).iter().map(|r| r.parse::<Address>().unwrap()).collect(),
        )
        .unwrap(),
    );
    let msg: Arc<Vec<u8>> = Arc::new(build_message(a.size, a.rcpts));
    let timeout = Some(Duration::from_secs(300));
    let helo = ClientId::Domain(HELO.into());
    let c = a.connections;
    let mode = tls_mode(&a).to_string();
    let params = (mode != "none").then(|| {
        TlsParameters::builder(a.host.clone())
            .add_root_certificate(Certificate::from_pem(&ca_pem(&a)).expect("CA PEM"))
            .build_rustls()
            .expect("TLS parameters")
    });
    let tls = match (mode.as_str(), &params) {
        ("starttls", Some(p)) => Tls::Required(p.clone()),
        ("implicit", Some(p)) => Tls::Wrapper(p.clone()),
        _ => Tls::None,
    };
    let connector = (mode != "none").then(|| tokio_rustls::TlsConnector::from(rustls_client_config(&a)));

    let timer = Timer::start();
    let mut set = tokio::task::JoinSet::new();
    match variant.as_str() {
        "pool" => {
            let t: AsyncSmtpTransport<Tokio1Executor> =
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(a.host.clone())
                    .port(a.port)
                    .hello_name(helo)
                    .timeout(timeout)
                    .tls(tls.clone())
                    .pool_config(PoolConfig::new().max_size(c as u32))
                    .build();
            for k in 0..c {
                let (t, env, msg) = (t.clone(), env.clone(), msg.clone());
                let n = share(a.messages, c, k);
                set.spawn(async move {
                    for _ in 0..n {
                        t.send_raw(&env, &msg).await.expect("lettre async send_raw failed");
                    }
                });
            }
            while let Some(r) = set.join_next().await {
                r.expect("task panicked");
            }
            t.shutdown().await;
        }
        "conn" | "conn-nodelay" => {
            let nodelay = variant == "conn-nodelay";
            for k in 0..c {
                let (env, msg, helo) = (env.clone(), msg.clone(), helo.clone());
                let (mode, params, connector) = (mode.clone(), params.clone(), connector.clone());
                let (host, port) = (a.host.clone(), a.port);
                let n = share(a.messages, c, k);
                set.spawn(async move {
                    let mut conn = if nodelay {
                        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
                            .await
                            .expect("connect failed");
                        tcp.set_nodelay(true).expect("set_nodelay");
                        if mode == "implicit" {
                            let name = rustls::pki_types::ServerName::try_from(host.clone()).expect("name");
                            let s = connector.as_ref().unwrap().connect(name, tcp).await.expect("TLS");
                            AsyncSmtpConnection::connect_with_transport(Box::new(TlsWrap(s)), &helo)
                                .await
                                .expect("connect failed")
                        } else {
                            let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &helo)
                                .await
                                .expect("connect failed");
                            if mode == "starttls" {
                                conn.starttls(params.clone().unwrap(), &helo).await.expect("STARTTLS");
                            }
                            conn
                        }
                    } else {
                        let implicit = (mode == "implicit").then(|| params.clone().unwrap());
                        let mut conn = AsyncSmtpConnection::connect_tokio1(
                            (host.as_str(), port), timeout, &helo, implicit, None,
                        )
                        .await
                        .expect("connect failed");
                        if mode == "starttls" {
                            conn.starttls(params.clone().unwrap(), &helo).await.expect("STARTTLS");
                        }
                        conn
                    };
                    for _ in 0..n {
                        conn.send(&env, &msg).await.expect("lettre async send failed");
                    }
                    conn.quit().await.expect("QUIT failed");
                });
            }
            while let Some(r) = set.join_next().await {
                r.expect("task panicked");
            }
        }
        v => panic!("unknown --variant {v}"),
    }
    timer.report(a.messages);
}
