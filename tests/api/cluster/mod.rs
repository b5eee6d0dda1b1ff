//! Several instances on one database and one Redis: one stock truth, sell-out seen everywhere.
//! Each case runs when DROPLINE_TEST_REDIS_URL is set (CI sets it), on both backends.

mod contention;
mod failover;
mod gate;
mod processes;
mod product_feed;
mod queue;
mod queue_killed;
mod redis_loss;
mod rounds;
mod stock_feed;
mod unusable_redis;

/// A product with a line of `n` (and 1 unit) whose round 1 was opened by `instance-gone`, an
/// instance that died with its lease good for `lease_secs` more; answers the product and line.
pub(crate) async fn round_left_by_a_gone_instance(
    app: &crate::helpers::TestApp,
    n: i64,
    lease_secs: i64,
) -> (i64, Vec<i64>) {
    let line = crate::helpers::users(n);
    let product = app.product_with_line(1, &line, serde_json::json!({})).await;
    let gone = dropline::domain::round::Lease {
        owner: "instance-gone".into(),
        expires_at: app.state.clock.now() + chrono::Duration::seconds(lease_secs),
    };
    let now = app.state.clock.now();
    app.state
        .store
        .open_round(
            dropline::domain::ids::ProductId::from_db(product),
            0,
            &gone,
            now,
        )
        .await
        .expect("open the round");
    (product, line)
}

/// Runs each named `async fn(Vec<TestApp>)` on three instances sharing a database and Redis:
/// on both databases, and on each kind of Redis (standalone as `sqlite::name`, a Redis
/// Cluster as `redis_cluster::sqlite::name`, TLS as `redis_tls::sqlite::name`). A kind whose
/// URL is unset is skipped with one visible line.
#[macro_export]
macro_rules! on_every_cluster {
    ($($name:ident),* $(,)?) => {
        $crate::on_every_cluster!(@dbs Standalone; $($name),*);
        mod redis_cluster {
            use super::*;
            $crate::on_every_cluster!(@dbs Cluster; $($name),*);
        }
        mod redis_tls {
            use super::*;
            $crate::on_every_cluster!(@dbs Tls; $($name),*);
        }
    };
    (@dbs $kind:ident; $($name:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(apps) = $crate::helpers::TestApp::spawn_cluster_on($crate::helpers::Db::Sqlite, $crate::helpers::RedisKind::$kind, 3).await {
                        super::$name(apps).await;
                    }
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(apps) = $crate::helpers::TestApp::spawn_cluster_on($crate::helpers::Db::Mysql, $crate::helpers::RedisKind::$kind, 3).await {
                        super::$name(apps).await;
                    }
                }
            )*
        }
    };
}
