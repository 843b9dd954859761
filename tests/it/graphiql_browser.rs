//! GraphiQL works offline: the page names no external URL, its scripts and styles come from
//! the binary, and headless Chromium (Debian `chromium`), with every host but 127.0.0.1
//! unresolvable, renders the editor and has a query (GraphiQL's schema introspection) answered
//! by the server. Skipped with a message when `chromium` is not installed, unless
//! `REQUIRE_BROWSER_TEST` is set (CI sets it).
use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{serve, TestDb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|c| c.to_string())
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_from_the_binary() {
    let db = TestDb::seeded().await;
    let base = serve(&db).await;
    let client = reqwest::Client::new();
    let page = client
        .get(format!("{base}/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("page");
    assert!(
        !page.contains("http://") && !page.contains("https://") && !page.contains("//unpkg"),
        "no external URL in the page"
    );
    let prefix = nhs_organisations::graphiql::ASSET_PREFIX;
    for file in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    ] {
        assert!(page.contains(&format!("{prefix}/{file}")), "{file}");
        let resp = client
            .get(format!("{base}{prefix}/{file}"))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200, "{file}");
        assert!(resp.bytes().await.expect("body").len() > 10_000, "{file}");
    }
    let missing = client
        .get(format!("{base}{prefix}/nope.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), 404);
}

/// A loopback proxy in front of the server that counts answered GraphQL POSTs.
async fn counting_proxy(upstream: String, posts: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let upstream = upstream.trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let posts = posts.clone();
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut pending_post = false;
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if buf[..n].starts_with(b"POST /graphql") {
                            pending_post = true;
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown().await;
                    pending_post
                };
                let down = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut answered = 0;
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if buf[..n].starts_with(b"HTTP/1.1 200") {
                            answered += 1;
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    answered
                };
                let (posted, answered) = tokio::join!(up, down);
                if posted && answered > 0 {
                    posts.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn graphiql_renders_and_answers_offline_in_chromium() {
    let Some(browser) = chromium() else {
        if std::env::var("REQUIRE_BROWSER_TEST").is_ok() {
            panic!("chromium is not installed and REQUIRE_BROWSER_TEST is set");
        }
        eprintln!("skipped: chromium is not installed (apt-get install chromium to run it)");
        return;
    };
    let db = TestDb::seeded().await;
    let base = serve(&db).await;
    let posts = Arc::new(AtomicUsize::new(0));
    let front = counting_proxy(base, posts.clone()).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let url = format!(
        "{front}/graphql?query=%7B%20trust(odsCode%3A%20%22RGT%22)%20%7B%20name%20%7D%20%7D"
    );
    let mut last = String::new();
    // One retry: a cold browser start on a busy machine can exhaust the virtual time budget.
    for _attempt in 0..2 {
        let run = tokio::process::Command::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
                // The network is blocked: no host resolves but loopback.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=20000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(&url)
            .kill_on_drop(true)
            .output();
        let out = match tokio::time::timeout(Duration::from_secs(90), run).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => panic!("could not run {browser}: {e}"),
            Err(_) => {
                last = "chromium timed out".into();
                continue;
            }
        };
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        let rendered = last.contains("graphiql-container")
            && last.contains("CodeMirror")
            && last.contains("RGT");
        if rendered && posts.load(Ordering::SeqCst) > 0 {
            return;
        }
    }
    panic!(
        "GraphiQL did not render and answer offline ({} GraphQL POSTs answered); DOM: {}",
        posts.load(Ordering::SeqCst),
        last.chars().take(2000).collect::<String>()
    );
}
