//! Connection handling of the server main runs: slow or idle sockets are closed after the
//! header timeout, open connections are capped, and a 429 says it closes the connection.
use crate::common;

use std::time::{Duration, Instant};

use common::{serve_with, TestDb};
use nhs_organisations::config::ServerSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn settings() -> ServerSettings {
    let mut s = common::settings();
    s.header_read_timeout_secs = 1;
    s
}

async fn connect(base: &str) -> TcpStream {
    TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Waits until the server closes the socket; returns how long that took and what it sent.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<(Duration, Vec<u8>)> {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(
            within.saturating_sub(started.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((started.elapsed(), got)),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_slowloris_is_cut_off_at_the_header_timeout() {
    let t = TestDb::seeded().await;
    let base = serve_with(&t, settings()).await;
    let mut stream = connect(&base).await;
    let started = Instant::now();
    let head = b"GET /health HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed_after = None;
    for byte in head.iter() {
        if stream.write_all(&[*byte]).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 256];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await
        {
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let closed_after = closed_after.expect("the server closed the slow connection");
    assert!(closed_after < Duration::from_secs(3), "{closed_after:?}");
}

#[tokio::test]
async fn idle_sockets_are_closed_before_and_after_a_request() {
    let t = TestDb::seeded().await;
    let base = serve_with(&t, settings()).await;
    let mut silent = connect(&base).await;
    let (after, _) = until_closed(&mut silent, Duration::from_secs(5))
        .await
        .expect("an idle socket is closed");
    assert!(after < Duration::from_secs(3), "{after:?}");

    let mut kept_alive = connect(&base).await;
    kept_alive
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let (after, got) = until_closed(&mut kept_alive, Duration::from_secs(5))
        .await
        .expect("a kept-alive idle socket is closed");
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    assert!(after < Duration::from_secs(3), "{after:?}");
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_and_health_comes_back() {
    let t = TestDb::seeded().await;
    let mut s = settings();
    s.max_connections = 3;
    let base = serve_with(&t, s).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(connect(&base).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = connect(&base).await;
    let _ = over
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let (after, got) = until_closed(&mut over, Duration::from_secs(5))
        .await
        .expect("closed");
    assert!(got.is_empty(), "no answer over the cap");
    assert!(after < Duration::from_millis(900), "{after:?}");
    // The idle ones time out, and the slots are free again.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let health = reqwest::get(format!("{base}/health"))
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_429_says_connection_close() {
    let t = TestDb::seeded().await;
    let mut s = settings();
    s.rate_limit_rps = 1;
    s.rate_limit_burst = 1;
    let base = serve_with(&t, s).await;
    let client = reqwest::Client::new();
    let mut limited = None;
    for _ in 0..5 {
        let r = client
            .post(format!("{base}/graphql"))
            .json(&serde_json::json!({"query": "{ countries { code } }"}))
            .send()
            .await
            .expect("answer");
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("a 429");
    assert_eq!(
        r.headers().get("connection").and_then(|v| v.to_str().ok()),
        Some("close")
    );
    assert!(r.headers().get("retry-after").is_some());
}
