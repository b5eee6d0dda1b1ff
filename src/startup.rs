//! Building and running the service: callable from `main`, tests and the demo alike.

use anyhow::Context;
use rand::RngCore;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{Principal, TokenKeys};
use crate::config::Settings;
use crate::coord::Shared;
use crate::coord::product_feed::ProductFeed;
use crate::domain::clock::Clock;
use crate::events::EventHub;
use crate::gate::StockGate;
use crate::notify::limiter::Limiter;
use crate::notify::{EngineParts, Notifier};
use crate::state::AppState;
use crate::store::Store;
use crate::store::cache::{CachedStore, ProductCache};
use crate::{coord, http, notify, shop, store, workers};

/// Fewest bytes of a configured JWT secret: HS256 keys shorter than the hash are guessable.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// A service ready to serve: database migrated, gate loaded, listener bound.
pub struct Application {
    state: AppState,
    shared: Option<Shared>,
    /// The product change feed, started with the workers when there is a Redis.
    feed: Option<ProductFeed>,
    listener: TcpListener,
    /// How long client connections may keep the server waiting.
    timeouts: http::serve::Timeouts,
    /// The admin token minted for this run when no secret was configured.
    dev_admin_token: Option<String>,
    /// Cross-origin requests, when origins are configured.
    cors: Option<tower_http::cors::CorsLayer>,
}

impl Application {
    /// Connects, migrates and loads everything `run` needs; `listener` may be bound to port 0.
    pub async fn build(settings: &Settings, listener: TcpListener) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, listener, Clock::default()).await
    }

    /// As [`Application::build`], on a given clock (tests keep their moved time across a restart).
    /// Each step is a function of its own below, in the order they run.
    pub async fn build_with_clock(
        settings: &Settings,
        listener: TcpListener,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        // Settings that cannot work are refused before anything connects.
        let cors = http::cors::layer(&settings.http.cors_origins)?;
        let database = connect_database(settings).await?;
        let (keys, dev_admin_token) = token_keys(settings)?;
        let shared = Shared::connect(&settings.redis).await?;
        let (store, products, feed) = cache_products(database, shared.is_some());
        let gate = stock_gate(&store, shared.as_ref()).await?;
        let events = Arc::new(EventHub::new());
        let notifier = round_engine(settings, &store, &gate, &clock, &events, shared.as_ref())?;
        let state = AppState {
            store,
            keys,
            clock,
            products,
            gate,
            events,
            notifier,
            tasks: TaskTracker::new(),
            key_locks: Arc::default(),
            live_rooms: Arc::default(),
        };
        load_stock(&state).await?;
        // Rounds a dead instance left running continue at once, not when its lease lapses.
        state
            .notifier
            .take_over_at_start()
            .await
            .context("Failed to take over the rounds left running")?;
        Ok(Self {
            state,
            shared,
            feed,
            listener,
            timeouts: http::serve::Timeouts {
                header_read: Duration::from_millis(settings.http.header_read_timeout_ms),
                keep_alive: Duration::from_millis(settings.http.keep_alive_timeout_ms),
                body_read: Duration::from_millis(settings.http.body_read_timeout_ms),
            },
            dev_admin_token,
            cors,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listener
            .local_addr()
            .context("Failed to read the listener's address")
    }

    /// The shared state (tests reach the clock and the gate through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The admin token minted for this run, when no JWT secret was configured.
    pub fn dev_admin_token(&self) -> Option<&str> {
        self.dev_admin_token.as_deref()
    }

    /// Serves HTTP and runs the background workers until `shutdown` fires, then drains both.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let tracker = self.state.tasks.clone();
        let coordination = self.shared.as_ref().map(|shared| workers::Coordination {
            shared,
            feed: self.feed,
        });
        workers::spawn_all(&self.state, coordination, &tracker, &shutdown);
        let app = http::router(self.state.clone(), self.cors.clone());
        http::serve::serve(self.listener, app, self.timeouts, shutdown.clone()).await;
        shutdown.cancel();
        tracker.close();
        tracker.wait().await;
        self.state.notifier.drain().await;
        self.state.store.close().await;
        Ok(())
    }
}

/// Step 1: connects to the database and applies the migrations. The store's writers end
/// with its last handle, after the drain in `run`: on the drained tracker they would keep its
/// wait from ending, so they get a tracked set of their own.
async fn connect_database(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::connect_with(
        &settings.database.database_url,
        settings.database.database_max_connections,
        &TaskTracker::new(),
    )
    .await
    .context("Failed to connect to the database")?;
    store
        .migrate()
        .await
        .context("Failed to apply the database migrations")?;
    Ok(store)
}

/// Step 2: the token keys from the configured secret, or (none configured) from a random
/// one, with an admin token minted for this run.
fn token_keys(settings: &Settings) -> anyhow::Result<(TokenKeys, Option<String>)> {
    match &settings.jwt_secret {
        Some(secret) if secret.expose().len() < MIN_JWT_SECRET_BYTES => anyhow::bail!(
            "DROPLINE_JWT_SECRET is too short: {} bytes, at least {MIN_JWT_SECRET_BYTES} are \
             needed (for example the output of `openssl rand -base64 32`)",
            secret.expose().len()
        ),
        Some(secret) => Ok((TokenKeys::new(secret.expose().as_bytes()), None)),
        None => {
            let mut secret = [0u8; 32];
            rand::rng().fill_bytes(&mut secret);
            let keys = TokenKeys::new(&secret);
            let token = keys
                .mint(Principal::Admin, Duration::from_secs(24 * 3600))
                .context("Failed to mint the development admin token")?;
            Ok((keys, Some(token)))
        }
    }
}

/// Step 3: product reads come from memory; with several instances (`fed`), the product
/// change feed keeps the copy current.
fn cache_products(
    database: Arc<dyn Store>,
    fed: bool,
) -> (Arc<dyn Store>, Arc<ProductCache>, Option<ProductFeed>) {
    let (products, feed) = if fed {
        let (cache, changes) = ProductCache::fed();
        let cache = Arc::new(cache);
        (cache.clone(), Some(ProductFeed::new(cache, changes)))
    } else {
        (Arc::new(ProductCache::local()), None)
    };
    let store: Arc<dyn Store> = Arc::new(CachedStore::new(database, products.clone()));
    (store, products, feed)
}

/// Step 4: the stock gate, in process or over the Redis counters of this database.
async fn stock_gate(
    store: &Arc<dyn Store>,
    shared: Option<&Shared>,
) -> anyhow::Result<Arc<StockGate>> {
    Ok(Arc::new(match shared {
        Some(shared) => {
            let deployment = store
                .deployment_id()
                .await
                .context("Failed to read the database's deployment id")?;
            StockGate::shared(shared.stock(&deployment))
        }
        None => StockGate::new(),
    }))
}

/// Step 5: the round engine, with its channel and its one global rate (shared through
/// Redis by every instance when there is one).
fn round_engine(
    settings: &Settings,
    store: &Arc<dyn Store>,
    gate: &Arc<StockGate>,
    clock: &Clock,
    events: &Arc<EventHub>,
    shared: Option<&Shared>,
) -> anyhow::Result<Notifier> {
    let rate = settings.notify.notify_rate;
    let limiter = match shared {
        Some(shared) => Limiter::shared(shared.schedule(rate), rate),
        None => Limiter::new(rate),
    };
    let parts = EngineParts {
        store: store.clone(),
        gate: gate.clone(),
        clock: clock.clone(),
        channel: notify::channel_from(&settings.notify)
            .context("Failed to set up the notification channel")?,
        limiter: Arc::new(limiter),
        events: events.clone(),
    };
    Ok(Notifier::new(parts, notify::config_from(&settings.notify)))
}

/// Step 6: holds that passed while the server was down expire, then the gate gets the
/// stock (with Redis: checked usable, this instance registered, the mirror refreshed).
async fn load_stock(state: &AppState) -> anyhow::Result<()> {
    shop::holds::expire_all_due(&state.shop())
        .await
        .context("Failed to expire the holds that passed while stopped")?;
    let all_stock = state
        .store
        .all_stock()
        .await
        .context("Failed to load stock")?;
    // The recorder first, or the series registered below would go nowhere.
    crate::telemetry::metrics::install();
    for record in &all_stock {
        crate::telemetry::metrics::notifications_registered(record.product);
    }
    let Some(redis) = state.gate.shared_backend() else {
        for record in &all_stock {
            state.gate.load(record.product, record.stock);
        }
        return Ok(());
    };
    // Refuse to start on a Redis the scripts cannot run on, naming the cause: an instance
    // that started would answer every order 503.
    if let Err(e) = redis.probe().await {
        anyhow::bail!(
            "Redis is not usable, so this instance does not start: {}",
            coord::target::explain(&e)
        );
    }
    redis
        .heartbeat()
        .await
        .context("Failed to register this instance in Redis")?;
    // The gate is trusted (and /readyz ready) once the health check has seen the scripts
    // run and the change subscription up.
    crate::gate::sync::GateSync {
        store: state.store.clone(),
        gate: state.gate.clone(),
        redis: redis.clone(),
    }
    .resync()
    .await;
    Ok(())
}

/// Resolves when the process receives Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
