//! The built binary at start-up: help that keeps secrets out, and settings refused with a
//! message that names the cause. Every child process is killed after a bounded time.

use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::process::Command;

/// The longest any one run of the binary may take here.
const LIMIT: Duration = Duration::from_secs(60);

/// A 32-byte JWT secret, long enough to be accepted.
const JWT: &str = "binary-test-jwt-value-0123456789abcdef";

/// Runs `dropline args…` with only `envs` among the `DROPLINE_*` variables; panics when it has
/// not ended within [`LIMIT`] (the child is killed then).
async fn run(args: &[&str], envs: &[(&str, &str)]) -> (Output, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dropline"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("DROPLINE_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(envs.iter().copied());
    let child = cmd.spawn().expect("spawn dropline");
    let out = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("dropline {args:?} still running after {LIMIT:?}"))
        .expect("wait for dropline");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display())
}

#[tokio::test]
async fn serve_help_shows_no_configured_secret() {
    let notify = "whsec_aGVscC10ZXN0LW5vdGlmeS1zZWNyZXQtYnl0ZXM=";
    let secrets = [
        ("DROPLINE_JWT_SECRET", JWT),
        ("DROPLINE_NOTIFY_SECRET", notify),
        ("DROPLINE_DATABASE_URL", "mysql://u:pw-secret@h/db"),
        (
            "DROPLINE_REDIS_URL",
            "redis://:redis-pw-secret@127.0.0.1:6379/",
        ),
    ];

    let (out, stdout, stderr) = run(&["serve", "--help"], &secrets).await;

    assert!(out.status.success(), "{stderr}");
    for (name, value) in secrets {
        assert!(
            stdout.contains(&format!("[env: {name}]")),
            "{name}:\n{stdout}"
        );
        assert!(!stdout.contains(value), "{name} shown:\n{stdout}");
        assert!(!stderr.contains(value), "{name} shown:\n{stderr}");
    }
    for part in [
        "pw-secret",
        "redis-pw-secret",
        "binary-test-jwt",
        "aGVscC10ZXN0",
    ] {
        assert!(!stdout.contains(part), "{part} shown:\n{stdout}");
    }
}

/// Runs `serve` with `envs`, expects it to stop at start, and answers what it said.
async fn refused_start(envs: &[(&str, &str)]) -> String {
    let (out, _, stderr) = run(&["serve", "--listen", "127.0.0.1:0"], envs).await;
    assert!(!out.status.success(), "{stderr}");
    stderr
}

/// `serve` on the MySQL `url` stops at start saying `cause`.
async fn mysql_start_says(url: &str, cause: &str) -> String {
    let stderr =
        refused_start(&[("DROPLINE_DATABASE_URL", url), ("DROPLINE_JWT_SECRET", JWT)]).await;
    assert!(stderr.contains(cause), "{stderr}");
    stderr
}

#[tokio::test]
async fn serve_refuses_a_short_jwt_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(&dir);
    let short = "only-31-bytes-of-jwt-secret-abc";
    assert_eq!(short.len(), 31);
    let stderr = refused_start(&[
        ("DROPLINE_DATABASE_URL", &db),
        ("DROPLINE_JWT_SECRET", short),
    ])
    .await;
    assert!(
        stderr.contains("DROPLINE_JWT_SECRET is too short: 31 bytes, at least 32"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(short),
        "the secret itself is shown:\n{stderr}"
    );
}

#[tokio::test]
async fn serve_refuses_an_invalid_log_filter() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(&dir);
    let stderr = refused_start(&[
        ("DROPLINE_DATABASE_URL", &db),
        ("DROPLINE_JWT_SECRET", JWT),
        ("DROPLINE_LOG_LEVEL", "dropline=loudest"),
    ])
    .await;
    assert!(
        stderr.contains(
            "DROPLINE_LOG_LEVEL / --log-level \"dropline=loudest\" is not a valid filter"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_says_when_mysql_refuses_the_connection() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("mysql://root@127.0.0.1:{port}/db");
    mysql_start_says(&url, &format!("connection refused by 127.0.0.1:{port}")).await;
}

#[tokio::test]
async fn serve_says_when_the_mysql_host_is_unknown() {
    mysql_start_says(
        "mysql://root@no-such-host.invalid:3306/db",
        "unknown host no-such-host.invalid: the name does not resolve",
    )
    .await;
}

#[tokio::test]
async fn serve_says_when_mysql_never_answers() {
    // A listener that accepts and then says nothing, as a black-holed address would.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let url = format!("mysql://root@127.0.0.1:{port}/db");
    mysql_start_says(
        &url,
        &format!("no answer from 127.0.0.1:{port} within 10 s (timed out)"),
    )
    .await;
    silent.abort();
}

#[tokio::test]
async fn serve_says_when_the_mysql_password_is_wrong() {
    let Some(server) = crate::helpers::mysql_url() else {
        return;
    };
    // The configured server, with a user that exists nowhere and a password.
    let rest = server.split_once('@').map_or(server.as_str(), |(_, r)| r);
    let url = format!("mysql://nobody-here:wrong-password@{rest}");
    let stderr = mysql_start_says(&url, "access denied: wrong user name or password").await;
    assert!(
        !stderr.contains("wrong-password"),
        "the password is shown:\n{stderr}"
    );
}
