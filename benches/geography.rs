//! Geography cost: preparing the bundled boundaries (time and heap), `locate` for one point,
//! `organisationsNear` for 10 km and 100 km, and the ICB FeatureCollection (first answer and
//! from the prepared shapes), all in-process on today's seeded data.
//!
//! `cargo bench --bench geography` (SQLite in a temp dir), or `bench/geography.sh`.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use nhs_organisations::directory::OrganisationFilter;
use nhs_organisations::geography::{self, BoundaryKind};
use nhs_organisations::snapshot::SnapshotStore;

/// Counts live heap bytes, so the prepared boundaries' size can be read off.
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

/// Runs `f` repeatedly for about a second; returns the median of 15 batches, per call.
fn time<R>(mut f: impl FnMut() -> R) -> Duration {
    let started = Instant::now();
    let mut calls = 0u32;
    while started.elapsed() < Duration::from_millis(100) {
        std::hint::black_box(f());
        calls += 1;
    }
    let batch = (calls / 10).max(1);
    let mut batches: Vec<Duration> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                std::hint::black_box(f());
            }
            t.elapsed() / batch
        })
        .collect();
    batches.sort();
    batches[batches.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::TempDir::new()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let conn = nhs_organisations::db::connect(&url).await?;
    nhs_organisations::db::prepare(&conn).await?;
    let snapshot = SnapshotStore::new(conn).pinned().await?;
    let day = chrono::Utc::now().date_naive();
    println!(
        "release build: {}; {} cores",
        !cfg!(debug_assertions),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let before = LIVE.load(Ordering::Relaxed);
    let started = Instant::now();
    let atlas = geography::atlas()?;
    let prepare = started.elapsed();
    let heap = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "prepare the boundaries: {:.0} ms, {:.1} MiB heap ({} vertices, estimate {:.1} MiB)",
        prepare.as_secs_f64() * 1e3,
        heap as f64 / 1_048_576.0,
        atlas.vertices(),
        atlas.memory_bytes() as f64 / 1_048_576.0
    );

    println!("| operation | µs per call |");
    println!("|---|---:|");
    for (label, lat, lon) in [
        ("locate: Cambridge", 52.175, 0.1408),
        ("locate: central London", 51.508, -0.128),
        ("locate: the North Sea", 54.0, 2.5),
    ] {
        let point = geography::point(lat, lon)?;
        let t = time(|| geography::locate(&snapshot, point, day));
        println!("| {label} | {} |", us(t));
    }
    let cambridge = geography::point(52.175, 0.1408)?;
    let all = OrganisationFilter::default();
    for km in [10.0, 100.0] {
        let found = geography::near(&snapshot, cambridge, km, Some(1000), &all, day)?.len();
        let t = time(|| geography::near(&snapshot, cambridge, km, Some(1000), &all, day));
        println!("| organisationsNear {km} km ({found} sites) | {} |", us(t));
    }
    let json = |tolerance: f64| -> anyhow::Result<usize> {
        let list = geography::features(
            &snapshot,
            BoundaryKind::IntegratedCareBoards,
            day,
            tolerance,
        )?;
        let features: Vec<_> = list
            .iter()
            .map(|f| serde_json::json!({"type": "Feature", "geometry": f.geometry.as_ref().ok().map(|g| g.as_ref())}))
            .collect();
        Ok(serde_json::to_vec(
            &serde_json::json!({"type": "FeatureCollection", "features": features}),
        )?
        .len())
    };
    for tolerance in [0.0, 500.0] {
        let started = Instant::now();
        let bytes = json(tolerance)?;
        let first = started.elapsed();
        let t = time(|| json(tolerance));
        println!(
            "| ICB FeatureCollection, simplify {tolerance} m ({bytes} B): first answer | {} |",
            us(first)
        );
        println!(
            "| ICB FeatureCollection, simplify {tolerance} m: prepared shapes, serialised | {} |",
            us(t)
        );
    }
    Ok(())
}
