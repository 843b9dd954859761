//! Starting the binary with bad settings: one line on stderr saying what is wrong, a non-zero
//! exit, no panic, no secret; and a missing SQLite file is said loudly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::BIN;

fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("x.db").display()),
        )
        .env("RUST_LOG", "off")
        .env_remove("PORT")
        .env_remove("CORS_ORIGINS")
        .env_remove("MAX_BODY_BYTES");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the binary")
}

fn stderr_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

fn assert_one_line_failure(o: &Output, mentions: &str) {
    assert!(!o.status.success());
    let lines = stderr_lines(o);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(mentions), "{lines:?}");
    assert!(!lines[0].contains("panicked"), "{lines:?}");
}

#[test]
fn unusable_server_settings_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("dir");
    for (var, value) in [
        ("PORT", "0"),
        ("MAX_BODY_BYTES", "0"),
        ("CORS_ORIGINS", "*"),
        ("CORS_ORIGINS", "not an origin"),
    ] {
        let o = run(dir.path(), &["serve"], &[(var, value)]);
        assert_one_line_failure(&o, var);
        assert!(!dir.path().join("x.db").exists(), "{var}: nothing migrated");
    }
}

#[test]
fn a_bad_flag_is_one_line() {
    let dir = tempfile::tempdir().expect("dir");
    let o = run(dir.path(), &["serve", "--port", "abc"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_failure(&o, "abc");
    let o = run(dir.path(), &["no-such-command"], &[]);
    assert_one_line_failure(&o, "no-such-command");
}

#[test]
fn a_mistyped_database_url_never_prints_its_password() {
    let dir = tempfile::tempdir().expect("dir");
    for url in [
        "postgress://admin:s3cr3t-pw@127.0.0.1:5432/db",
        "mysql://admin:s3cr3t-pw@127.0.0.1/db",
    ] {
        let o = run(dir.path(), &["migrate"], &[("DATABASE_URL", url)]);
        assert_one_line_failure(&o, "DATABASE_URL");
        assert!(!String::from_utf8_lossy(&o.stderr).contains("s3cr3t"));
    }
}

#[test]
fn a_garbage_rust_log_is_reported() {
    let dir = tempfile::tempdir().expect("dir");
    let o = run(
        dir.path(),
        &["serve"],
        &[("RUST_LOG", "[[[=="), ("PORT", "0")],
    );
    assert!(!o.status.success());
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(text.contains("RUST_LOG"), "{text}");
}

#[test]
fn serving_without_a_database_file_says_so_loudly() {
    let dir = tempfile::tempdir().expect("dir");
    let port = crate::common::free_port();
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("gone.db").display()),
        )
        .env("RUST_LOG", "warn")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let until = Instant::now() + Duration::from_secs(30);
    let mut found = false;
    while Instant::now() < until {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains("NO DATABASE FILE") => {
                found = true;
                break;
            }
            _ => {}
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "the warning was logged");
}

#[test]
fn a_database_error_is_said_once() {
    let dir = tempfile::tempdir().expect("dir");
    let o = run(
        dir.path(),
        &["migrate"],
        &[("DATABASE_URL", "sqlite:///nonexistent-dir/for/sure/x.db")],
    );
    assert_one_line_failure(&o, "unable to open database file");
    let text = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        text.matches("unable to open database file").count(),
        1,
        "{text}"
    );
}

#[test]
fn a_bad_variable_for_the_default_command_is_one_line() {
    let dir = tempfile::tempdir().expect("dir");
    let o = run(dir.path(), &[], &[("PORT", "abc")]);
    assert_one_line_failure(&o, "abc");
}

/// Each command's `--help` lists the options it takes and no other: the database for those
/// that open it, ORD for those that call it, the server's for `serve`.
#[test]
fn each_help_lists_only_the_options_its_command_takes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (
            &["--help"],
            &[],
            &["--database-url", "--ord-base-url", "--port"],
        ),
        (
            &["schema", "--help"],
            &[],
            &["--database-url", "--ord-base-url"],
        ),
        (
            &["openapi", "--help"],
            &[],
            &["--database-url", "--ord-base-url"],
        ),
        (
            &["migrate", "--help"],
            &["--database-url"],
            &["--ord-base-url", "--port", "--sync-every"],
        ),
        (
            &["seed", "--help"],
            &["--database-url"],
            &["--ord-base-url", "--port"],
        ),
        (
            &["admin-key", "create", "--help"],
            &["--database-url", "A name for the key's holder"],
            &["--ord-base-url", "--port"],
        ),
        (
            &["admin-key", "list", "--help"],
            &["--database-url"],
            &["--ord-base-url"],
        ),
        (
            &["sync", "--help"],
            &[
                "--database-url",
                "--ord-base-url",
                "--ord-max-rps",
                "--since",
            ],
            &["--port", "--sync-every"],
        ),
        (
            &["merger", "create", "--help"],
            &["--database-url", "--ord-base-url", "--coordinates"],
            &["--port", "--sync-every"],
        ),
        (
            &["merger", "delete", "--help"],
            &["--database-url", "--yes"],
            &["--ord-base-url"],
        ),
        (
            &["merger", "memberships", "--help"],
            &["--database-url", "--pdu"],
            &["--ord-base-url"],
        ),
        (
            &["check", "--help"],
            &["--database-url", "--as-of", "--json"],
            &["--ord-base-url", "--port"],
        ),
        (
            &["serve", "--help"],
            &[
                "--database-url",
                "--ord-base-url",
                "--port",
                "--sync-every",
                "--response-cache-mb",
            ],
            &[],
        ),
    ];
    for (args, has, lacks) in cases {
        let out = run(dir.path(), args, &[]);
        assert!(out.status.success(), "{args:?}: {out:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        for h in *has {
            assert!(help.contains(h), "{args:?} should mention {h}:\n{help}");
        }
        for l in *lacks {
            assert!(
                !help.contains(l),
                "{args:?} should not mention {l}:\n{help}"
            );
        }
    }
}
