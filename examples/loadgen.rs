//! Load generator for `bench/load.sh`: many concurrent clients sending a realistic mix of
//! queries (and the odd admin mutation) to one server, checking every answer.
//!
//! Exits non-zero on any 5xx, any transport error, any unexpected GraphQL error, or a 429 when
//! `--allow-429` is not given. Inside `--outage START:END` (seconds from the start) INTERNAL
//! errors and failed connections are expected and only counted.
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

#[derive(Parser, Clone)]
struct Args {
    /// Base URL of the server (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// An admin key: some requests then run the `whoami` mutation.
    #[arg(long, env = "LOADGEN_ADMIN_KEY")]
    admin_key: Option<String>,
    /// Seconds from the start during which the database is expected to be away, e.g. 25:45.
    #[arg(long)]
    outage: Option<String>,
    /// 429 answers are expected (the rate limit is on).
    #[arg(long)]
    allow_429: bool,
    /// Seconds per line of the timeline.
    #[arg(long, default_value_t = 5)]
    bucket: u64,
    /// Seconds to wait for /health before starting.
    #[arg(long, default_value_t = 60)]
    wait_healthy: u64,
}

const ORGANISATION: &str = "query($c: String!) { organisation(odsCode: $c) { odsCode name postcode active trust { odsCode name } integratedCareBoard { name } paediatricDiabetesUnit { pzCode } country { name } } }";
const PAGE: &str =
    "query($o: Int) { organisations(limit: 20, offset: $o) { odsCode name city trust { name } } }";
const SEARCH: &str = "query($n: String) { organisations(filter: {nameContains: $n}) { odsCode name parent { odsCode name } } }";
const TRUST: &str = "query($c: String!) { trust(odsCode: $c) { odsCode name organisations { odsCode name paediatricDiabetesUnit { pzCode } } } }";
const TRUSTS: &str = "{ trusts { odsCode name active organisations { odsCode name } } }";
const UNITS: &str = "{ paediatricDiabetesUnits { pzCode paediatricDiabetesNetwork { pnCode name } organisations { odsCode name } } }";
const TREE: &str = "{ nhsEnglandRegions { name integratedCareBoards { name organisations { name paediatricDiabetesUnit { pzCode paediatricDiabetesNetwork { name } } } } } }";
const WHOAMI: &str = "mutation { whoami }";

const SEARCH_TERMS: &[&str] = &[
    "royal",
    "general",
    "children",
    "ysbyty",
    "community",
    "st ",
    "university",
    "infirmary",
];

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Organisation,
    Page,
    Search,
    Trust,
    Trusts,
    Units,
    Tree,
    Get,
    Whoami,
}

/// The mix, in percent.
const MIX: &[(Kind, u32)] = &[
    (Kind::Organisation, 45),
    (Kind::Page, 15),
    (Kind::Search, 10),
    (Kind::Trust, 10),
    (Kind::Trusts, 5),
    (Kind::Units, 5),
    (Kind::Tree, 5),
    (Kind::Get, 4),
    (Kind::Whoami, 1),
];

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    /// Successful requests by kind, for the per-kind table.
    by_kind: Vec<(Kind, u32)>,
    /// How long failed requests took (do they fail fast?).
    failed_us: Vec<u32>,
    ok: u64,
    too_many: u64,
    server_errors: u64,
    transport_errors: u64,
    unexpected: u64,
    during_outage: u64,
    /// (second, ok, failed) per request, for the timeline.
    timeline: Vec<(u32, bool)>,
    first_failures: Vec<String>,
}

impl Tally {
    fn fail(&mut self, what: String) {
        if self.first_failures.len() < 5 {
            self.first_failures.push(what);
        }
    }
}

struct Fixture {
    sites: Vec<String>,
    trusts: Vec<String>,
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Value,
    key: Option<&str>,
) -> Result<(u16, Value), String> {
    let mut req = client.post(format!("{url}/graphql")).json(&body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.map_err(|e| format!("transport: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

async fn fixture(client: &reqwest::Client, url: &str) -> Result<Fixture, String> {
    let (_, body) = post(
        client,
        url,
        json!({"query": "{ organisations { odsCode } trusts { odsCode } }"}),
        None,
    )
    .await?;
    let codes = |k: &str| -> Vec<String> {
        body["data"][k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|o| o["odsCode"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let f = Fixture {
        sites: codes("organisations"),
        trusts: codes("trusts"),
    };
    if f.sites.is_empty() || f.trusts.is_empty() {
        return Err(format!("no sites or trusts to query: {body}"));
    }
    Ok(f)
}

fn pick_kind(rng: &mut impl Rng, has_key: bool) -> Kind {
    loop {
        let mut roll = rng.gen_range(0..100);
        for (kind, weight) in MIX {
            if roll < *weight {
                if *kind == Kind::Whoami && !has_key {
                    break;
                }
                return *kind;
            }
            roll -= weight;
        }
    }
}

async fn client_loop(
    args: Arc<Args>,
    fix: Arc<Fixture>,
    started: Instant,
    outage: Option<(u64, u64)>,
) -> Tally {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_entropy();
    let mut t = Tally::default();
    let end = started + Duration::from_secs(args.duration);
    while Instant::now() < end {
        let kind = pick_kind(&mut rng, args.admin_key.is_some());
        let site = fix.sites.choose(&mut rng).cloned().unwrap_or_default();
        let trust = fix.trusts.choose(&mut rng).cloned().unwrap_or_default();
        let body = match kind {
            Kind::Organisation => json!({"query": ORGANISATION, "variables": {"c": site}}),
            Kind::Page => json!({"query": PAGE, "variables": {"o": rng.gen_range(0..320)}}),
            Kind::Search => {
                json!({"query": SEARCH, "variables": {"n": SEARCH_TERMS.choose(&mut rng)}})
            }
            Kind::Trust => json!({"query": TRUST, "variables": {"c": trust}}),
            Kind::Trusts => json!({"query": TRUSTS}),
            Kind::Units => json!({"query": UNITS}),
            Kind::Tree => json!({"query": TREE}),
            Kind::Whoami => json!({"query": WHOAMI}),
            Kind::Get => Value::Null,
        };
        let sent = Instant::now();
        let result = if kind == Kind::Get {
            let q = format!("{{ organisation(odsCode: \"{site}\") {{ odsCode name }} }}");
            match client
                .get(format!("{}/graphql", args.url))
                .query(&[("query", q)])
                .send()
                .await
            {
                Ok(r) => {
                    let s = r.status().as_u16();
                    Ok((s, r.json().await.unwrap_or(Value::Null)))
                }
                Err(e) => Err(format!("transport: {e}")),
            }
        } else {
            let key = (kind == Kind::Whoami)
                .then_some(args.admin_key.as_deref())
                .flatten();
            post(&client, &args.url, body, key).await
        };
        let elapsed = sent.elapsed();
        let elapsed_us = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
        let second = started.elapsed().as_secs();
        let in_outage = outage.is_some_and(|(a, b)| (a..b).contains(&second));
        let ok = match result {
            Err(e) => {
                if in_outage {
                    t.during_outage += 1;
                } else {
                    t.transport_errors += 1;
                    t.fail(format!("{kind:?} at {second}s: {e}"));
                }
                false
            }
            Ok((429, _)) => {
                t.too_many += 1;
                if !args.allow_429 {
                    t.fail(format!("{kind:?} at {second}s: 429"));
                }
                false
            }
            Ok((s, body)) if s >= 500 => {
                t.server_errors += 1;
                t.fail(format!("{kind:?} at {second}s: {s} {body}"));
                false
            }
            Ok((s, body)) => {
                let errors = body["errors"].as_array().map(Vec::len).unwrap_or(0);
                let data_ok = !body["data"].is_null();
                if s == 200 && errors == 0 && data_ok {
                    t.ok += 1;
                    t.latencies_us.push(elapsed_us);
                    t.by_kind.push((kind, elapsed_us));
                    true
                } else {
                    let internal = body["errors"][0]["extensions"]["code"] == "INTERNAL";
                    if in_outage && internal {
                        t.during_outage += 1;
                    } else {
                        t.unexpected += 1;
                        t.fail(format!("{kind:?} at {second}s: {s} {body}"));
                    }
                    false
                }
            }
        };
        t.timeline
            .push((u32::try_from(second).unwrap_or(u32::MAX), ok));
        if !ok {
            t.failed_us.push(elapsed_us);
            // Do not spin on a failing server.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    t
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

async fn wait_healthy(url: &str, secs: u64) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if let Ok(r) = reqwest::get(format!("{url}/health")).await {
            if r.status() == 200 {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !(args.url.starts_with("http://127.0.0.1") || args.url.starts_with("http://localhost")) {
        eprintln!("loadgen only talks to a server on this machine (http://127.0.0.1:…)");
        return ExitCode::FAILURE;
    }
    let outage = match args.outage.as_deref().map(|o| o.split_once(':')) {
        None => None,
        Some(Some((a, b))) => match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(a), Ok(b)) if a < b => Some((a, b)),
            _ => {
                eprintln!("--outage is START:END in seconds");
                return ExitCode::FAILURE;
            }
        },
        Some(None) => {
            eprintln!("--outage is START:END in seconds");
            return ExitCode::FAILURE;
        }
    };
    if !wait_healthy(&args.url, args.wait_healthy).await {
        eprintln!("{}/health did not answer 200", args.url);
        return ExitCode::FAILURE;
    }
    let fix = match fixture(&reqwest::Client::new(), &args.url).await {
        Ok(f) => Arc::new(f),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let args = Arc::new(args);
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.clients)
        .map(|_| tokio::spawn(client_loop(args.clone(), fix.clone(), started, outage)))
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        let Ok(t) = task.await else {
            eprintln!("a client panicked");
            return ExitCode::FAILURE;
        };
        all.latencies_us.extend(t.latencies_us);
        all.by_kind.extend(t.by_kind);
        all.failed_us.extend(t.failed_us);
        all.ok += t.ok;
        all.too_many += t.too_many;
        all.server_errors += t.server_errors;
        all.transport_errors += t.transport_errors;
        all.unexpected += t.unexpected;
        all.during_outage += t.during_outage;
        all.timeline.extend(t.timeline);
        for f in t.first_failures {
            if all.first_failures.len() < 10 {
                all.first_failures.push(f);
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let l = &all.latencies_us;

    println!("timeline ({} s buckets): requests ok / failed", args.bucket);
    let buckets = args.duration.div_ceil(args.bucket.max(1));
    for b in 0..buckets {
        let (lo, hi) = (b * args.bucket, (b + 1) * args.bucket);
        let in_bucket = all
            .timeline
            .iter()
            .filter(|(s, _)| (lo..hi).contains(&u64::from(*s)));
        let (ok, failed) =
            in_bucket.fold(
                (0u64, 0u64),
                |(o, f), (_, good)| if *good { (o + 1, f) } else { (o, f + 1) },
            );
        println!(
            "  {lo:>4}-{hi:<4} s  {:>8.1} ok/s  {failed:>6} failed",
            ok as f64 / args.bucket as f64
        );
    }
    println!("clients            {}", args.clients);
    println!("duration           {elapsed:.1} s");
    println!("ok responses       {}", all.ok);
    println!("throughput         {:.0} req/s", all.ok as f64 / elapsed);
    println!(
        "latency ms         p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        percentile(l, 0.50),
        percentile(l, 0.90),
        percentile(l, 0.99),
        percentile(l, 1.0)
    );
    println!("by kind            count     p50 ms    p99 ms");
    all.by_kind.sort_unstable();
    for chunk in all.by_kind.chunk_by(|a, b| a.0 == b.0) {
        let times: Vec<u32> = chunk.iter().map(|(_, us)| *us).collect();
        println!(
            "  {:<16} {:>7} {:>10.2} {:>9.2}",
            format!("{:?}", chunk[0].0),
            times.len(),
            percentile(&times, 0.50),
            percentile(&times, 0.99)
        );
    }
    println!("5xx                {}", all.server_errors);
    println!("transport errors   {}", all.transport_errors);
    println!("unexpected errors  {}", all.unexpected);
    println!("429                {}", all.too_many);
    if outage.is_some() {
        println!("failed in outage   {}", all.during_outage);
        let failing: Vec<u32> = all
            .timeline
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(s, _)| *s)
            .collect();
        if let (Some(first), Some(last)) = (failing.iter().min(), failing.iter().max()) {
            println!("failures between   {first} s and {last} s");
        }
        all.failed_us.sort_unstable();
        println!(
            "failed requests ms p50 {:.0}  max {:.0}",
            percentile(&all.failed_us, 0.5),
            percentile(&all.failed_us, 1.0)
        );
    }
    for f in &all.first_failures {
        println!("failure: {}", f.chars().take(300).collect::<String>());
    }
    // After an outage, the server must be answering again by the end.
    let recovered = outage.is_none_or(|(_, end)| {
        all.timeline
            .iter()
            .any(|(s, ok)| *ok && u64::from(*s) >= end)
    });
    let failed = all.server_errors > 0
        || all.transport_errors > 0
        || all.unexpected > 0
        || (all.too_many > 0 && !args.allow_429)
        || all.ok == 0
        || !recovered;
    if failed {
        println!(
            "RESULT: FAIL{}",
            if recovered {
                ""
            } else {
                " (no successful request after the outage)"
            }
        );
        ExitCode::FAILURE
    } else {
        println!("RESULT: PASS");
        ExitCode::SUCCESS
    }
}
