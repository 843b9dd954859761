//! Removing what a run creates outside itself: its PostgreSQL databases (`nhs_test_<pid>_…`),
//! each as its test ends and all that are left when the process exits, the databases of
//! earlier runs that crashed (their process is gone), and the SQLite template directory.
use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, Once, OnceLock};

use nhs_organisations::db;
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, Statement};

const PREFIX: &str = "nhs_test_";

static STARTED: Once = Once::new();
static DROPPER: OnceLock<Mutex<Sender<String>>> = OnceLock::new();
static ADMIN_URL: OnceLock<String> = OnceLock::new();
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
}

/// Runs `at_exit` when the process exits, whether the tests passed or not (libtest returns
/// from `main` or calls `exit`; both run `atexit` handlers).
fn register_at_exit() {
    AT_EXIT.call_once(|| {
        // SAFETY: `at_exit` is a plain function that catches its own panics.
        let registered = unsafe { atexit(at_exit) };
        assert_eq!(registered, 0, "atexit");
    });
}

/// Once per run, before its first PostgreSQL database: drops the databases of runs whose
/// process is gone, and arranges for this run's to be dropped at exit.
pub fn run_started(admin_url: &str) {
    STARTED.call_once(|| {
        let _ = ADMIN_URL.set(admin_url.to_string());
        register_at_exit();
        let url = admin_url.to_string();
        let swept = std::thread::spawn(move || {
            block_on(async move {
                let admin = db::connect(&url).await.map_err(|e| e.to_string())?;
                sweep(&admin, |pid| !process_alive(pid)).await;
                let _ = admin.close().await;
                Ok::<_, String>(())
            })
        })
        .join();
        if let Ok(Some(Err(e))) = swept {
            eprintln!("could not look for stale test databases: {e}");
        }
    });
}

/// Drops a test's database soon, on the dropper's own thread (the test does not wait).
pub fn drop_later(name: String) {
    let sender = DROPPER.get_or_init(|| Mutex::new(spawn_dropper()));
    if let Ok(s) = sender.lock() {
        // A closed channel means the dropper is gone: the exit sweep drops it instead.
        let _ = s.send(name);
    }
}

/// Removes a directory when the process exits.
pub fn remove_at_exit(dir: PathBuf) {
    register_at_exit();
    if let Ok(mut dirs) = DIRS.lock() {
        dirs.push(dir);
    }
}

fn spawn_dropper() -> Sender<String> {
    let (tx, rx) = channel::<String>();
    std::thread::spawn(move || {
        let Some(url) = ADMIN_URL.get() else { return };
        block_on(async move {
            let mut admin: Option<DatabaseConnection> = None;
            while let Ok(name) = rx.recv() {
                if admin.is_none() {
                    admin = db::connect(url).await.ok();
                }
                if let Some(a) = &admin {
                    if drop_database(a, &name).await.is_err() {
                        // Reconnect for the next one; the exit sweep retries this one.
                        admin = None;
                    }
                }
            }
        });
    });
    tx
}

/// The process exits: drop every database of this run, and the registered directories. On a
/// thread of its own: the main thread's thread-locals (tokio's among them) are gone by now.
extern "C" fn at_exit() {
    let _ = std::panic::catch_unwind(|| {
        if let Ok(dirs) = DIRS.lock() {
            for dir in dirs.iter() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        let Some(url) = ADMIN_URL.get() else { return };
        let me = std::process::id();
        let _ = std::thread::spawn(move || {
            block_on(async move {
                if let Ok(admin) = db::connect(url).await {
                    sweep(&admin, |pid| pid == me).await;
                    let _ = admin.close().await;
                }
            })
        })
        .join();
    });
}

/// Drops the test databases whose creating process `doomed` picks.
async fn sweep(admin: &DatabaseConnection, doomed: impl Fn(u32) -> bool) {
    #[derive(FromQueryResult)]
    struct Name {
        datname: String,
    }
    let list = Statement::from_string(
        admin.get_database_backend(),
        format!("SELECT datname::text AS datname FROM pg_database WHERE starts_with(datname, '{PREFIX}')"),
    );
    let Ok(names) = Name::find_by_statement(list).all(admin).await else {
        return;
    };
    for Name { datname } in names {
        if pid_of(&datname).is_some_and(&doomed) {
            let _ = drop_database(admin, &datname).await;
        }
    }
}

/// `nhs_test_<pid>_…` → pid.
fn pid_of(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('_').next()?.parse().ok()
}

async fn drop_database(admin: &DatabaseConnection, name: &str) -> Result<(), sea_orm::DbErr> {
    // Only names this module made (letters, digits, `_`) ever reach the SQL.
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Ok(());
    }
    // FORCE: the test's pool (or a server it started) may still hold connections.
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .map(|_| ())
}

/// Whether a process of this machine is still running; unknown (taken as alive) off Linux.
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()
        .map(|rt| rt.block_on(f))
}
