//! Read benchmark: serves a seeded database on loopback, with the response cache off and on,
//! and measures five queries unloaded (one client) and loaded.
//!
//! `cargo bench --bench reads` (SQLite in a temp dir), or with `BENCH_DATABASE_URL=postgres://…`
//! pointing at an empty database. `BENCH_SECONDS` (default 5) and `BENCH_CLIENTS` (default 8)
//! set the length and concurrency of each run. Reports requests/s, p50/p99 latency, response
//! bytes and SQL statements per request; exits non-zero if any response has GraphQL errors.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nhs_organisations::config::ServerSettings;
use nhs_organisations::{db, http};

const QUERIES: [(&str, &str); 5] = [
    (
        "one organisation with all parents",
        r#"{ organisation(odsCode: "RVV01") { odsCode name trust { odsCode name } localHealthBoard { odsCode } parent { odsCode name } integratedCareBoard { odsCode name } nhsEnglandRegion { regionCode name } paediatricDiabetesUnit { pzCode paediatricDiabetesNetwork { pnCode name } } openUkNetwork { code name } londonBorough { gssCode name } country { code name } } }"#,
    ),
    (
        "all organisations, code and name",
        r#"{ organisations { odsCode name } }"#,
    ),
    (
        "all trusts with their organisations and PDUs",
        r#"{ trusts { odsCode name organisations { odsCode name paediatricDiabetesUnit { pzCode } } } }"#,
    ),
    (
        "whole region > ICB > organisation > PDU > network tree",
        r#"{ nhsEnglandRegions { regionCode name integratedCareBoards { odsCode name organisations { odsCode name paediatricDiabetesUnit { pzCode paediatricDiabetesNetwork { pnCode name } } } } } }"#,
    ),
    (
        "NPDA seeder: PDUs with network, parent and primary organisation",
        r#"{ paediatricDiabetesUnits { pzCode paediatricDiabetesNetwork { pnCode name } parent { odsCode name } primaryOrganisation { odsCode name } } }"#,
    ),
];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Latencies of `clients` loops sending `body` until `deadline`, and the failures.
async fn run(
    client: &reqwest::Client,
    endpoint: &str,
    body: &serde_json::Value,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<(Vec<Duration>, usize, usize, f64)> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = client.clone();
        let endpoint = endpoint.to_string();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut bytes = 0usize;
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                match client.post(&endpoint).json(&body).send().await {
                    Ok(r) if r.status().is_success() => match r.bytes().await {
                        Ok(b) => {
                            lat.push(t.elapsed());
                            bytes += b.len();
                            if b.windows(9).any(|w| w == b"\"errors\":") {
                                errors += 1;
                            }
                        }
                        Err(_) => errors += 1,
                    },
                    _ => errors += 1,
                }
            }
            (lat, bytes, errors)
        }));
    }
    let mut lat = Vec::new();
    let (mut bytes, mut errors) = (0usize, 0usize);
    for t in tasks {
        let (l, b, e) = t.await?;
        lat.extend(l);
        bytes += b;
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    Ok((lat, bytes, errors, elapsed))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = env_u64("BENCH_SECONDS", 5);
    let clients = env_u64("BENCH_CLIENTS", 8) as usize;
    let dir = tempfile::TempDir::new()?;
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let setup = db::connect(&url).await?;
    db::prepare(&setup).await?;

    // A counting connection: every statement the servers run is tallied.
    let statements = Arc::new(AtomicUsize::new(0));
    let mut conn = db::connect(&url).await?;
    let counter = statements.clone();
    conn.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    // Two servers over the same data: response cache off, and on.
    let mut endpoints = Vec::new();
    for cache_mb in [0, 64] {
        let mut settings = ServerSettings::default_from_env();
        settings.rate_limit_rps = 0;
        settings.response_cache_mb = cache_mb;
        let state = http::AppState::new(conn.clone(), None, &settings.limits);
        let built = Instant::now();
        state.store.refresh().await?;
        if cache_mb == 0 {
            println!(
                "snapshot build (load + derive): {:.1} ms",
                built.elapsed().as_secs_f64() * 1e3
            );
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // The server main runs, connection handling included (`BENCH_SERVER=axum` compares
        // axum's own accept loop over the same router).
        if std::env::var("BENCH_SERVER").as_deref() == Ok("axum") {
            let app = http::router(state, &settings);
            tokio::spawn(async move {
                let _ = axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
                )
                .await;
            });
        } else {
            tokio::spawn(async move {
                let _ =
                    http::serve_listener(listener, state, &settings, std::future::pending()).await;
            });
        }
        endpoints.push((cache_mb > 0, format!("http://{addr}/graphql")));
    }
    let client = reqwest::Client::new();
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "backend: {backend}; unloaded = 1 client, loaded = {clients} clients, {seconds} s each; release build: {}",
        !cfg!(debug_assertions)
    );
    println!("| query | cache | unloaded p50 ms | loaded req/s | loaded p50 ms | loaded p99 ms | bytes/resp | SQL/req |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut failed = false;
    for (name, query) in QUERIES {
        let body = serde_json::json!({ "query": query });
        for (cached, endpoint) in &endpoints {
            // Warm up once and check the answer.
            let first: serde_json::Value = client
                .post(endpoint)
                .json(&body)
                .send()
                .await?
                .json()
                .await?;
            if first.get("errors").is_some() {
                eprintln!("{name}: GraphQL errors: {}", first["errors"]);
                failed = true;
                continue;
            }
            statements.store(0, Ordering::Relaxed);
            let (unloaded, _, e1, _) = run(&client, endpoint, &body, 1, seconds).await?;
            let (lat, bytes, e2, elapsed) = run(&client, endpoint, &body, clients, seconds).await?;
            let n = (unloaded.len() + lat.len()).max(1);
            println!(
                "| {name} | {} | {:.3} | {:.0} | {:.2} | {:.2} | {} | {:.1} |",
                if *cached { "on" } else { "off" },
                percentile(&unloaded, 0.50).as_secs_f64() * 1e3,
                lat.len() as f64 / elapsed,
                percentile(&lat, 0.50).as_secs_f64() * 1e3,
                percentile(&lat, 0.99).as_secs_f64() * 1e3,
                bytes / lat.len().max(1),
                statements.load(Ordering::Relaxed) as f64 / n as f64,
            );
            if e1 + e2 > 0 {
                eprintln!("{name}: {} failed responses", e1 + e2);
                failed = true;
            }
        }
    }
    if failed {
        anyhow::bail!("some responses failed or had GraphQL errors");
    }
    Ok(())
}
