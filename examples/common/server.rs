//! A benchmark's server: the service started in the benchmark's process on a runtime of its
//! own, so the client's load does not share the server's worker threads.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use dropline::config::Settings;
use dropline::startup::Application;

/// Starts the server on `url` with `threads` worker threads and `secret` for its tokens;
/// answers its base URL and a stop handle.
#[allow(dead_code)] // Not every benchmark that includes this file calls both starts.
pub fn start_server(
    url: String,
    threads: usize,
    secret: &'static str,
) -> anyhow::Result<(String, CancellationToken)> {
    let mut settings = Settings::for_database(url);
    settings.jwt_secret = Some(secret.into());
    start_with(settings, threads)
}

/// Starts the server with `settings` and `threads` worker threads; answers its base URL and
/// a stop handle.
pub fn start_with(
    settings: Settings,
    threads: usize,
) -> anyhow::Result<(String, CancellationToken)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build();
        let Ok(rt) = rt else { return };
        rt.block_on(async move {
            let started = async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                Application::build(&settings, listener).await
            };
            match started.await {
                Ok(app) => {
                    let addr = app.local_addr().map(|a| format!("http://{a}"));
                    let _ = tx.send(addr);
                    let _ = app.run(shutdown).await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
    });
    Ok((rx.recv().context("server thread died")??, stop))
}

/// The database a benchmark runs on: `given`, or a fresh SQLite file `name` in `dir`.
#[allow(dead_code)] // Not every benchmark that includes this file picks its database so.
pub fn database_url(given: Option<&str>, dir: &std::path::Path, name: &str) -> String {
    match given {
        Some(u) => u.to_owned(),
        None => format!("sqlite://{}?mode=rwc", dir.join(name).display()),
    }
}
