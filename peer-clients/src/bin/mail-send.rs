//! mail-send (Stalwart), tokio multi-thread runtime (default worker count).
//! C tasks, each with its own SmtpClient (SmtpClientBuilder::connect_plain),
//! calling client.send(Message) repeatedly (MAIL, RCPT..., DATA, body; no
//! RSET/NOOP between messages), then QUIT. The body is borrowed (Cow), not copied.
//! `--nodelay 1` sets TCP_NODELAY on the (public) SmtpClient::stream after the
//! EHLO (NOT mail-send's default: mail-send never sets TCP_NODELAY).
//! TLS (this copy only): `--tls starttls|implicit --ca FILE`: SmtpClientBuilder::connect()
//! with a tokio-rustls connector trusting the CA (new_with_tls_connector).
use mail_send::smtp::message::{Address, Message};
use mail_send::{SmtpClient, SmtpClientBuilder};
use tokio::io::{AsyncRead, AsyncWrite};
use smtp_bench_clients::*;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let a = parse_args();
    let msg: Arc<Vec<u8>> = Arc::new(build_message(a.size, a.rcpts));
    let rc: Arc<Vec<String>> = Arc::new(rcpts(a.rcpts));
    let c = a.connections;
    let nodelay = a.extra("nodelay") == Some("1");
    let mode = tls_mode(&a).to_string();
    let connector = (mode != "none").then(|| tokio_rustls::TlsConnector::from(rustls_client_config(&a)));

    let timer = Timer::start();
    let mut set = tokio::task::JoinSet::new();
    for k in 0..c {
        let (msg, rc) = (msg.clone(), rc.clone());
        let (host, port) = (a.host.clone(), a.port);
        let n = share(a.messages, c, k);
        let (mode, connector) = (mode.clone(), connector.clone());
        set.spawn(async move {
            let builder = match connector {
                Some(tc) => SmtpClientBuilder::new_with_tls_connector(host, port, tc),
                None => SmtpClientBuilder::new(host, port).expect("builder"),
            }
            .implicit_tls(mode == "implicit")
            .helo_host(HELO)
            .timeout(Duration::from_secs(300));
            if mode == "none" {
                let client = builder.connect_plain().await.expect("connect failed");
                if nodelay {
                    client.stream.set_nodelay(true).expect("set_nodelay");
                }
                run(client, n, &msg, &rc).await;
            } else {
                let client = builder.connect().await.expect("connect failed");
                if nodelay {
                    client.stream.get_ref().0.set_nodelay(true).expect("set_nodelay");
                }
                run(client, n, &msg, &rc).await;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("task panicked");
    }
    timer.report(a.messages);
}

async fn run<T: AsyncRead + AsyncWrite + Unpin>(mut client: SmtpClient<T>, n: u64, msg: &[u8], rc: &[String]) {
    let m = Message {
        mail_from: Address::from(FROM),
        rcpt_to: rc.iter().map(|r| Address::from(r.as_str())).collect(),
        body: Cow::Borrowed(msg),
    };
    for _ in 0..n {
        client.send(m.clone()).await.expect("mail-send send failed");
    }
    client.quit().await.expect("QUIT failed");
}
