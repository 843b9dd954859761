//! What a newcomer meets: `GET /` points to GraphiQL, REST, OpenAPI and health; every request
//! is logged in one line at the default `RUST_LOG=info`.
use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{serve, TestDb, BIN};

#[tokio::test]
async fn the_root_points_to_every_way_in() {
    let db = TestDb::seeded().await;
    let base = serve(&db).await;
    let client = reqwest::Client::new();
    let json: serde_json::Value = client
        .get(format!("{base}/"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(json["graphql"], "/graphql");
    assert_eq!(json["rest"], "/v1/");
    assert_eq!(json["openapi"], "/v1/openapi.json");
    assert_eq!(json["health"], "/health");
    let page = client
        .get(format!("{base}/"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("body");
    for link in [
        "href=\"/graphql\"",
        "href=\"/v1/organisations/\"",
        "href=\"/v1/openapi.json\"",
        "href=\"/health\"",
    ] {
        assert!(html.contains(link), "{link}");
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
}

#[test]
fn every_request_is_logged_in_one_line_at_info() {
    let dir = tempfile::tempdir().expect("dir");
    let port = crate::common::free_port();
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display()),
        )
        .env_remove("RUST_LOG")
        .env("PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let (tx, rx) = std::sync::mpsc::channel();
    for out in [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let until = Instant::now() + Duration::from_secs(60);
    let mut found = None;
    let mut asked = false;
    while Instant::now() < until && found.is_none() {
        if !asked {
            asked = std::net::TcpStream::connect(("127.0.0.1", port))
                .and_then(|mut s| {
                    use std::io::Write;
                    s.write_all(
                        b"GET /v1/trusts/RGT/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    )?;
                    let mut sink = String::new();
                    std::io::Read::read_to_string(&mut s, &mut sink)
                })
                .is_ok();
        }
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if line.contains("GET /v1/trusts/RGT/ 200") {
                found = Some(line);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = found.expect("the request was logged");
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains(" ms request_id="), "{line}");
}
