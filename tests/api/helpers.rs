//! The test harness: a fresh app per test on a fresh database, port 0, one helper per endpoint.
// Not every suite uses every helper.
#![allow(dead_code)]

use dropline::auth::{Claims, Principal, TokenKeys};
use dropline::config::Settings;
use dropline::domain::clock::Clock;
use dropline::domain::ids::{BrandId, UserId};
use dropline::startup::Application;
use dropline::state::AppState;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Mysql,
}

/// Runs each named `async fn(TestApp)` once per backend: `sqlite::name` and `mysql::name`.
/// The MySQL variant runs only when `DROPLINE_TEST_MYSQL_URL` is set.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let app = $crate::helpers::TestApp::spawn($crate::helpers::Db::Sqlite).await;
                    super::$name(app).await;
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(app) = $crate::helpers::TestApp::try_spawn($crate::helpers::Db::Mysql).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

/// A throwaway MySQL database, dropped when the test ends (also on panic).
pub struct MysqlDatabase {
    server_url: String,
    name: String,
}

impl MysqlDatabase {
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

pub fn uuid_like() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..16)
        .map(|_| format!("{:x}", rng.random_range(0..16u8)))
        .collect()
}

/// Where a test's database lives; kept alive as long as the app.
enum DbHandle {
    Sqlite(tempfile::TempDir),
    Mysql(MysqlDatabase),
    /// Another instance's database: that instance owns (and drops) it.
    Borrowed(String),
}

impl DbHandle {
    async fn new(db: Db) -> Option<Self> {
        match db {
            Db::Sqlite => Some(Self::Sqlite(tempfile::tempdir().expect("tempdir"))),
            Db::Mysql => {
                let url = mysql_url()?;
                Some(Self::Mysql(MysqlDatabase::create(&url).await))
            }
        }
    }

    fn url(&self) -> String {
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

pub const SECRET: &str = "test-secret-of-a-decent-length-for-hs256";

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

    pub fn admin(&self) -> String {
        self.keys
            .mint(Principal::Admin, Duration::from_secs(3600))
            .expect("mint")
    }

    pub fn user(&self, id: i64) -> String {
        self.keys
            .mint(
                Principal::User(UserId::from_db(id)),
                Duration::from_secs(3600),
            )
            .expect("mint")
    }

    pub fn brand(&self, id: i64) -> String {
        self.keys
            .mint(
                Principal::Brand(BrandId::from_db(id)),
                Duration::from_secs(3600),
            )
            .expect("mint")
    }

    pub fn expired_admin(&self) -> String {
        self.keys
            .sign(&Claims {
                sub: None,
                role: "admin".into(),
                brand_id: None,
                exp: 1_000_000,
            })
            .expect("sign")
    }

    /// Sends a request; returns the status and the JSON body (Null when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("{}{}", self.addr, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call("GET", path, token, None).await
    }

    /// Every item of the list at `path` (which has no query yet), read as admin in pages of
    /// `limit`, following `next` to the last page.
    pub async fn every_item(&self, path: &str, limit: u32) -> Vec<Value> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut page = format!("{path}?limit={limit}");
            if let Some(a) = &after {
                page.push_str(&format!("&after={a}"));
            }
            let (s, b) = self.get(&page, Some(&self.admin())).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            items.extend(b["items"].as_array().expect("items").iter().cloned());
            match b["next"].as_str() {
                Some(n) => after = Some(n.to_owned()),
                None => return items,
            }
        }
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, token, Some(body)).await
    }

    pub async fn create_brand(&self, name: &str, category: &str) -> i64 {
        let (s, b) = self
            .post(
                "/brands",
                Some(&self.admin()),
                json!({"name": name, "category": category}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["id"].as_i64().expect("brand id")
    }

    /// Creates a product from `extra` merged over sane defaults (two brands, stock 10, on sale now).
    pub async fn create_product(&self, extra: Value) -> Value {
        let (s, b) = self.try_create_product(&self.admin(), extra).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }

    pub async fn try_create_product(&self, token: &str, extra: Value) -> (StatusCode, Value) {
        let mut body = json!({"name": "Chair One x Fleece", "price": 189000, "stock": 10});
        if extra.get("brand_ids").is_none() {
            let a = self.create_brand("Helinox", "camping").await;
            let b = self.create_brand("Kith", "fashion").await;
            body["brand_ids"] = json!([a, b]);
        }
        if let (Some(obj), Some(more)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                obj.insert(k.clone(), v.clone());
            }
        }
        self.post("/products", Some(token), body).await
    }

    pub async fn join(&self, product: i64, user: i64) -> StatusCode {
        self.call(
            "PUT",
            &format!("/products/{product}/subscription"),
            Some(&self.user(user)),
            None,
        )
        .await
        .0
    }

    pub async fn leave(&self, product: i64, user: i64) -> StatusCode {
        self.call(
            "DELETE",
            &format!("/products/{product}/subscription"),
            Some(&self.user(user)),
            None,
        )
        .await
        .0
    }

    pub async fn import(&self, product: i64, users: &[i64]) -> (StatusCode, Value) {
        self.post(
            &format!("/admin/products/{product}/subscriptions/import"),
            Some(&self.admin()),
            json!({ "user_ids": users }),
        )
        .await
    }

    /// The whole active line of a product, front first, following every page.
    pub async fn line(&self, product: i64) -> Vec<i64> {
        let mut users = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/admin/products/{product}/subscriptions?limit=1000&after={a}"),
                None => format!("/admin/products/{product}/subscriptions?limit=1000"),
            };
            let (s, b) = self.get(&path, Some(&self.admin())).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            users.extend(
                b["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|i| i["user_id"].as_i64().expect("user")),
            );
            match b["next"].as_str() {
                Some(n) => after = Some(n.to_owned()),
                None => return users,
            }
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Asserts an error envelope with `status` and `code`; returns the message.
pub fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) -> String {
    assert_eq!(got.0, status, "body: {}", got.1);
    assert_eq!(got.1["error"]["code"], code, "body: {}", got.1);
    got.1["error"]["message"]
        .as_str()
        .expect("message")
        .to_owned()
}

/// A `dropline serve` process on a free loopback port with only the `DROPLINE_*` settings
/// given (none inherited, no colours), killed when dropped; its log lines arrive on `lines`.
pub struct ServedBinary {
    pub child: tokio::process::Child,
    /// `host:port` it listens on.
    pub addr: String,
    pub lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl ServedBinary {
    /// How long the binary may take to start listening, or to log a line asked for.
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

    pub async fn start(envs: &[(&str, &str)]) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_dropline"));
        for (k, _) in std::env::vars() {
            if k.starts_with("DROPLINE_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0"])
            .envs(envs.iter().copied())
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn dropline");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        // Read every line, so the child never blocks on a full pipe.
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Self {
            child,
            addr: String::new(),
            lines,
        };
        let listening = served.line_with("dropline is listening").await;
        served.addr = listening
            .rsplit("addr=")
            .next()
            .expect("addr")
            .trim()
            .to_owned();
        served
    }

    /// The next log line that contains `needle`.
    pub async fn line_with(&mut self, needle: &str) -> String {
        tokio::time::timeout(Self::PATIENCE, async {
            loop {
                let line = self.lines.recv().await.expect("dropline ended");
                if line.contains(needle) {
                    return line;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no log line with {needle}"))
    }
}
