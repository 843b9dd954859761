//! Snapshot cost: build time and memory for today's data and for synthetic data 10x and 100x
//! larger (every record, membership and change-log row copied with fresh ids and codes).
//!
//! `cargo bench --bench snapshot` (SQLite in a temp dir, or `BENCH_DATABASE_URL=postgres://…`
//! pointing at an empty database).
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use nhs_organisations::db;
use nhs_organisations::snapshot::{load_rows, Kind, Rows, Snapshot};

/// Counts live heap bytes, so the snapshot's own size can be read off.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const STEP: i32 = 1_000_000;

fn copy_models<M: Kind>(models: &[M], copy: i32) -> Vec<M> {
    models
        .iter()
        .filter_map(|m| {
            let mut v = serde_json::to_value(m).ok()?;
            let key = M::TABLE.code_column;
            let code = format!("{}X{copy}", m.code());
            v.as_object_mut()?.insert(key.into(), code.into());
            let mut c: M = serde_json::from_value(v).ok()?;
            c.set_id(m.id() + copy * STEP);
            Some(c)
        })
        .collect()
}

/// `rows` and `times - 1` renamed copies of it.
fn scaled(rows: &Rows, times: i32) -> Rows {
    let mut out = rows.clone();
    for copy in 1..times {
        out.organisations
            .extend(copy_models(&rows.organisations, copy));
        out.trusts.extend(copy_models(&rows.trusts, copy));
        out.local_health_boards
            .extend(copy_models(&rows.local_health_boards, copy));
        out.integrated_care_boards
            .extend(copy_models(&rows.integrated_care_boards, copy));
        out.nhs_england_regions
            .extend(copy_models(&rows.nhs_england_regions, copy));
        out.paediatric_diabetes_units
            .extend(copy_models(&rows.paediatric_diabetes_units, copy));
        out.paediatric_diabetes_networks
            .extend(copy_models(&rows.paediatric_diabetes_networks, copy));
        out.open_uk_networks
            .extend(copy_models(&rows.open_uk_networks, copy));
        out.london_boroughs
            .extend(copy_models(&rows.london_boroughs, copy));
        out.countries.extend(copy_models(&rows.countries, copy));
        for (i, (_, list)) in rows.memberships.iter().enumerate() {
            let copies: Vec<_> = list
                .iter()
                .map(|m| {
                    let mut m = m.clone();
                    m.id += copy * STEP;
                    m.child_id += copy * STEP;
                    m.parent_id += copy * STEP;
                    m
                })
                .collect();
            out.memberships[i].1.extend(copies);
        }
        out.change_log.extend(rows.change_log.iter().map(|e| {
            let mut e = e.clone();
            e.id += copy * STEP;
            e.code = format!("{}X{copy}", e.code);
            e
        }));
    }
    out
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|pages| pages * 4096.0 / 1_048_576.0)
        .unwrap_or(0.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::TempDir::new()?;
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let conn = db::connect(&url).await?;
    db::prepare(&conn).await?;
    let started = Instant::now();
    let rows = load_rows(&conn).await?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    println!(
        "load from the database ({}): {load_ms:.1} ms; release build: {}",
        if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        !cfg!(debug_assertions)
    );
    println!("| data | records | memberships | change-log rows | derive ms | snapshot MiB | process RSS MiB |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for times in [1, 10, 100] {
        let before = LIVE.load(Ordering::Relaxed);
        let input = scaled(&rows, times);
        let records = input.organisations.len()
            + input.trusts.len()
            + input.local_health_boards.len()
            + input.integrated_care_boards.len()
            + input.nhs_england_regions.len()
            + input.paediatric_diabetes_units.len()
            + input.paediatric_diabetes_networks.len()
            + input.open_uk_networks.len()
            + input.london_boroughs.len()
            + input.countries.len();
        let memberships: usize = input.memberships.iter().map(|(_, l)| l.len()).sum();
        let log = input.change_log.len();
        let started = Instant::now();
        // The build consumes its input; only what the snapshot keeps stays allocated.
        let snapshot = Snapshot::build(input, chrono::Utc::now());
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let kept = LIVE.load(Ordering::Relaxed) - before;
        println!(
            "| {times}x | {records} | {memberships} | {log} | {ms:.1} | {:.1} | {:.0} |",
            kept as f64 / 1_048_576.0,
            rss_mib()
        );
        drop(snapshot);
    }
    Ok(())
}
