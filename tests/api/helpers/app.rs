//! A running app on a fresh database: start, restart, stop, a cluster of instances sharing
//! one Redis, and the database and Redis as an operator reaches them.

use dropline::auth::TokenKeys;
use dropline::config::Settings;
use dropline::domain::clock::Clock;
use dropline::startup::Application;
use dropline::state::AppState;
use sqlx::Connection;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::Db;
use super::backends::{MysqlDatabase, RedisKind, mysql_url, redis_target, uuid_like};
use super::tokens::SECRET;

/// Where a test's database lives; kept alive as long as the app (or the process) using it.
pub enum DbHandle {
    Sqlite(tempfile::TempDir),
    Mysql(MysqlDatabase),
    /// Another instance's database: that instance owns (and drops) it.
    Borrowed(String),
}

impl DbHandle {
    /// A fresh database on `db`, or None when that backend is not configured here.
    pub async fn new(db: Db) -> Option<Self> {
        match db {
            Db::Sqlite => Some(Self::Sqlite(tempfile::tempdir().expect("tempdir"))),
            Db::Mysql => {
                let url = mysql_url()?;
                Some(Self::Mysql(MysqlDatabase::create(&url).await))
            }
        }
    }

    /// The URL the app connects to.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("dropline.db").display()
            ),
            Self::Mysql(db) => db.url(),
            Self::Borrowed(url) => url.clone(),
        }
    }
}

/// A running app on a fresh database.
pub struct TestApp {
    pub addr: String,
    pub db: Db,
    pub state: AppState,
    pub keys: TokenKeys,
    pub client: reqwest::Client,
    pub settings: Settings,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    handle: DbHandle,
}

/// Connections an app of these tests opens to MySQL at most: the suite runs several apps at
/// once against one server with its default max_connections (151).
pub const TEST_POOL: u32 = 8;

/// Settings of a test app on `url`: the test secret and a small MySQL pool.
fn test_settings(url: String) -> Settings {
    let mut settings = Settings::for_database(url);
    settings.jwt_secret = Some(SECRET.into());
    settings.database.database_max_connections = TEST_POOL;
    settings
}

impl TestApp {
    /// Starts an app on `db`; panics when the backend is not configured.
    pub async fn spawn(db: Db) -> Self {
        Self::try_spawn(db).await.expect("backend not configured")
    }

    /// Starts an app on `db`, or None when that backend is not configured here.
    pub async fn try_spawn(db: Db) -> Option<Self> {
        let handle = DbHandle::new(db).await?;
        let settings = test_settings(handle.url());
        Some(Self::start(db, handle, settings, Clock::default()).await)
    }

    async fn start(db: Db, handle: DbHandle, settings: Settings, clock: Clock) -> Self {
        // Logs only when asked for: RUST_LOG=dropline=debug cargo test -- --nocapture
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let app = Application::build_with_clock(&settings, listener, clock)
            .await
            .expect("build app");
        let addr = format!("http://{}", app.local_addr().expect("addr"));
        let state = app.state().clone();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(app.run(shutdown.clone()));
        Self {
            addr,
            db,
            state,
            keys: TokenKeys::new(SECRET.as_bytes()),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            settings,
            shutdown,
            server: Some(server),
            handle,
        }
    }

    /// Starts `n` instances on one fresh database sharing one Redis (a unique key prefix per
    /// call), as several servers behind a load balancer; None when Redis or the backend is not
    /// configured here. The first instance owns the database.
    pub async fn spawn_cluster(db: Db, n: usize) -> Option<Vec<Self>> {
        Self::spawn_cluster_on(db, RedisKind::Standalone, n).await
    }

    /// As [`TestApp::spawn_cluster`], on the Redis of `kind`.
    pub async fn spawn_cluster_on(db: Db, kind: RedisKind, n: usize) -> Option<Vec<Self>> {
        Self::spawn_cluster_on_under(db, kind, n, &format!("dropline-test-{}", uuid_like())).await
    }

    /// As [`TestApp::spawn_cluster`], under a given Redis key prefix.
    pub async fn spawn_cluster_under(db: Db, n: usize, prefix: &str) -> Option<Vec<Self>> {
        Self::spawn_cluster_on_under(db, RedisKind::Standalone, n, prefix).await
    }

    /// As [`TestApp::spawn_cluster_on`], under a given Redis key prefix.
    pub async fn spawn_cluster_on_under(
        db: Db,
        kind: RedisKind,
        n: usize,
        prefix: &str,
    ) -> Option<Vec<Self>> {
        let (redis, ca) = redis_target(kind)?;
        let owner = DbHandle::new(db).await?;
        let url = owner.url();
        let prefix = prefix.to_owned();
        let mut apps = Vec::with_capacity(n);
        let mut handle = Some(owner);
        for i in 0..n {
            let mut settings = test_settings(url.clone());
            settings.redis.url = Some(redis.clone());
            settings.redis.ca_file = ca.clone();
            settings.redis.prefix = prefix.clone();
            settings.redis.instance_id = Some(format!("instance-{i}"));
            let h = handle
                .take()
                .unwrap_or_else(|| DbHandle::Borrowed(url.clone()));
            apps.push(Self::start(db, h, settings, Clock::default()).await);
        }
        Some(apps)
    }

    /// A connection to this app's Redis (standalone, cluster or TLS), as the app connects.
    pub async fn redis_conn(&self) -> dropline::coord::conn::RedisConn {
        let target = dropline::coord::target::Target::from_settings(&self.settings.redis)
            .expect("redis settings")
            .expect("a Redis URL");
        target.connect().await.expect("connect to Redis").0
    }

    /// Deletes every Redis key under this app's prefix on every node (Redis losing its data,
    /// as in a restart without persistence); answers how many went.
    pub async fn wipe_redis(&self) -> usize {
        let target = dropline::coord::target::Target::from_settings(&self.settings.redis)
            .expect("redis settings")
            .expect("a Redis URL");
        let (conn, _) = target.connect().await.expect("connect to Redis");
        let pattern = format!("*{}:*", self.settings.redis.prefix);
        let mut gone = 0;
        for client in target.node_clients(&conn).await {
            // KEYS walks the whole keyspace of a Redis other suites share: allow for it.
            let config = redis::AsyncConnectionConfig::new()
                .set_response_timeout(Some(Duration::from_secs(30)));
            let mut node = client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .expect("connect to a Redis node");
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query_async(&mut node)
                .await
                .expect("KEYS");
            // One key per DEL: keys of several slots in one command are refused by a cluster.
            for key in keys {
                let n: usize = redis::cmd("DEL")
                    .arg(&key)
                    .query_async(&mut node)
                    .await
                    .expect("DEL");
                gone += n;
            }
        }
        gone
    }

    /// Runs one SQL statement on this app's database, as an operator would (restores, faults).
    pub async fn raw_sql(&self, sql: &str) {
        let url = self.settings.database.database_url.clone();
        if url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut conn)
                .await
                .expect("sql");
        } else {
            let mut conn = sqlx::MySqlConnection::connect(&url).await.expect("mysql");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut conn)
                .await
                .expect("sql");
        }
    }

    /// Stops this app and starts a new one on the same database (a restart). Time moved
    /// with the clock stays moved: the new instance runs on the same clock.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let handle = std::mem::replace(
            &mut self.handle,
            DbHandle::Sqlite(tempfile::tempdir().expect("tempdir")),
        );
        let clock = self.state.clock.clone();
        Self::start(self.db, handle, self.settings.clone(), clock).await
    }

    /// Stops this app and starts a new one on the same database with changed settings.
    pub async fn restart_with(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        self.stop().await;
        let handle = std::mem::replace(
            &mut self.handle,
            DbHandle::Sqlite(tempfile::tempdir().expect("tempdir")),
        );
        let mut settings = self.settings.clone();
        change(&mut settings);
        let clock = self.state.clock.clone();
        Self::start(self.db, handle, settings, clock).await
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
