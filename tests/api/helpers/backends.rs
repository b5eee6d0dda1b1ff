//! The backends a test runs on: a throwaway MySQL database, and the MySQL and Redis servers
//! named by the environment (reported once when unset).

use sqlx::Connection;

/// A throwaway MySQL database, dropped when the test ends (also on panic).
pub struct MysqlDatabase {
    server_url: String,
    name: String,
}

impl MysqlDatabase {
    /// Creates a database of a fresh name on the server at `server_url`.
    pub async fn create(server_url: &str) -> Self {
        let name = format!("dropline_t_{}", uuid_like());
        let mut conn = sqlx::MySqlConnection::connect(server_url)
            .await
            .expect("DROPLINE_TEST_MYSQL_URL does not answer");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        Self {
            server_url: server_url.to_owned(),
            name,
        }
    }

    /// The URL of this database on its server.
    pub fn url(&self) -> String {
        let base = self
            .server_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&self.server_url);
        format!("{base}/{}", self.name)
    }
}

impl Drop for MysqlDatabase {
    fn drop(&mut self) {
        let url = self.server_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime: do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::MySqlConnection::connect(&url).await {
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS `{name}`"
                        )))
                        .execute(&mut conn)
                        .await;
                    }
                });
            }
        })
        .join();
    }
}

/// The MySQL server the MySQL variants run on, or None (reported once) when unset.
pub fn mysql_url() -> Option<String> {
    backend_url("DROPLINE_TEST_MYSQL_URL", "MySQL", &MYSQL_SKIPPED)
}

/// The Redis server the multi-instance cases run on, or None (reported once) when unset.
pub fn redis_url() -> Option<String> {
    backend_url("DROPLINE_TEST_REDIS_URL", "Redis", &REDIS_SKIPPED)
}

static MYSQL_SKIPPED: std::sync::Once = std::sync::Once::new();
static REDIS_SKIPPED: std::sync::Once = std::sync::Once::new();
static REDIS_CLUSTER_SKIPPED: std::sync::Once = std::sync::Once::new();
static REDIS_TLS_SKIPPED: std::sync::Once = std::sync::Once::new();

/// Which kind of Redis the multi-instance cases share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisKind {
    /// One server (`DROPLINE_TEST_REDIS_URL`).
    Standalone,
    /// A Redis Cluster (`DROPLINE_TEST_REDIS_CLUSTER_URL`: its nodes, comma-separated).
    Cluster,
    /// A TLS-only Redis (`DROPLINE_TEST_REDIS_TLS_URL`, rediss://) whose certificate the CA in
    /// `DROPLINE_TEST_REDIS_CA_FILE` signed.
    Tls,
}

/// The URL (and CA file) of `kind`, or None (reported once) when unset.
pub fn redis_target(kind: RedisKind) -> Option<(String, Option<String>)> {
    match kind {
        RedisKind::Standalone => redis_url().map(|u| (u, None)),
        RedisKind::Cluster => backend_url(
            "DROPLINE_TEST_REDIS_CLUSTER_URL",
            "Redis Cluster",
            &REDIS_CLUSTER_SKIPPED,
        )
        .map(|u| (u, None)),
        RedisKind::Tls => {
            let url = backend_url(
                "DROPLINE_TEST_REDIS_TLS_URL",
                "Redis TLS",
                &REDIS_TLS_SKIPPED,
            )?;
            let ca = std::env::var("DROPLINE_TEST_REDIS_CA_FILE")
                .ok()
                .filter(|c| !c.is_empty());
            assert!(
                ca.is_some(),
                "DROPLINE_TEST_REDIS_TLS_URL is set but DROPLINE_TEST_REDIS_CA_FILE is not"
            );
            Some((url, ca))
        }
    }
}

fn backend_url(var: &str, name: &str, once: &std::sync::Once) -> Option<String> {
    let url = std::env::var(var).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        once.call_once(|| {
            use std::io::Write;
            // Straight to stderr, past the test harness' capture, so the skip is visible.
            let _ = writeln!(
                std::io::stderr(),
                "dropline tests: backend {name} SKIPPED ({var} is not set); its cases pass without running"
            );
        });
    }
    url
}

/// Sixteen random hex digits, for names no other test uses.
pub fn uuid_like() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..16)
        .map(|_| format!("{:x}", rng.random_range(0..16u8)))
        .collect()
}
