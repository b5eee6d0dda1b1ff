//! A webhook channel that watches every start: how many, when, and how many came after the
//! gate already said sold out.

use super::*;

/// Counts starts made while the gate already said sold out, and keeps every start's time.
pub(crate) struct Watching {
    inner: WebhookChannel,
    gate: Arc<StockGate>,
    product: ProductId,
    pub(crate) starts: AtomicU64,
    pub(crate) late: AtomicU64,
    pub(crate) times: Mutex<Vec<tokio::time::Instant>>,
}

#[async_trait]
impl Channel for Watching {
    async fn send(&self, n: &Notification) -> Result<Option<u16>, SendError> {
        self.times
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tokio::time::Instant::now());
        self.starts.fetch_add(1, Ordering::Relaxed);
        if self.gate.level(self.product).is_sold_out() {
            self.late.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.send(n).await
    }
}

/// A paced engine (default tuning, 500/s) whose channel is a [`Watching`] webhook to `url`.
pub(crate) fn watched_engine(
    store: &Arc<dyn Store>,
    gate: &Arc<StockGate>,
    product: ProductId,
    url: &str,
) -> anyhow::Result<(Arc<Watching>, Notifier)> {
    let channel = Arc::new(Watching {
        inner: WebhookChannel::new(url, Duration::from_secs(10), 64)?,
        gate: gate.clone(),
        product,
        starts: AtomicU64::new(0),
        late: AtomicU64::new(0),
        times: Mutex::new(Vec::new()),
    });
    let notifier = engine(
        store,
        gate,
        channel.clone(),
        Limiter::new(500),
        EngineConfig::default(),
    );
    Ok((channel, notifier))
}
