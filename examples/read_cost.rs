//! CPU cost of one read through the whole router (no sockets), for instruction counting under
//! callgrind, where wall-clock figures are too noisy on a shared machine:
//!
//! ```sh
//! cargo build --release --example read_cost
//! valgrind --tool=callgrind --toggle-collect='read_cost::measured' \
//!   target/release/examples/read_cost trusts 200
//! ```
//!
//! Queries: `trusts`, `tree`, `one_organisation` (as `bench/wrk.sh` sends them). Seeds SQLite in
//! a temp dir, answers once to warm up and check the response, then answers N more times inside
//! `measured`; instructions per request = the collected total / N.
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use tower::ServiceExt;

use nhs_organisations::config::ServerSettings;
use nhs_organisations::{db, http};

fn query(name: &str) -> Option<&'static str> {
    Some(match name {
        "trusts" => "{ trusts { odsCode name organisations { odsCode name paediatricDiabetesUnit { pzCode } } } }",
        "tree" => "{ nhsEnglandRegions { regionCode name integratedCareBoards { odsCode name organisations { odsCode name paediatricDiabetesUnit { pzCode paediatricDiabetesNetwork { pnCode name } } } } } }",
        "one_organisation" => "{ organisation(odsCode: \"RVV01\") { odsCode name trust { odsCode name } parent { odsCode name } integratedCareBoard { odsCode name } paediatricDiabetesUnit { pzCode } } }",
        _ => return None,
    })
}

/// One POST through the router; returns the body length. `check` looks for GraphQL errors (only
/// on the warm-up: scanning the body is not the server's cost).
async fn once(app: &axum::Router, body: &str, check: bool) -> anyhow::Result<usize> {
    let req = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))?;
    let resp = app.clone().oneshot(req).await?;
    anyhow::ensure!(resp.status() == StatusCode::OK, "status {}", resp.status());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await?;
    anyhow::ensure!(
        !check || !bytes.windows(9).any(|w| w == b"\"errors\":"),
        "GraphQL errors: {}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(bytes.len())
}

/// The part callgrind collects (`--toggle-collect`).
#[inline(never)]
fn measured(
    rt: &tokio::runtime::Runtime,
    app: &axum::Router,
    body: &str,
    n: usize,
) -> anyhow::Result<()> {
    rt.block_on(async {
        for _ in 0..n {
            once(app, body, false).await?;
        }
        Ok(())
    })
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "trusts".into());
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let q = query(&name).ok_or_else(|| anyhow::anyhow!("unknown query {name}"))?;
    let body = serde_json::json!({ "query": q }).to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let dir = tempfile::TempDir::new()?;
    let url = format!("sqlite://{}", dir.path().join("cost.db").display());
    let app = rt.block_on(async {
        let conn = db::connect(&url).await?;
        db::prepare(&conn).await?;
        let mut settings = ServerSettings::default_from_env();
        settings.rate_limit_rps = 0;
        settings.response_cache_mb = 0;
        let state = http::AppState::new(conn, None, &settings.limits);
        state.store.refresh().await?;
        let app = http::router(state, &settings);
        let len = once(&app, &body, true).await?;
        println!("{name}: {len} bytes per response");
        anyhow::Ok(app)
    })?;
    measured(&rt, &app, &body, n)?;
    println!("{name}: {n} requests answered");
    Ok(())
}
