//! Several instances on one database and one Redis: one stock truth, sell-out seen everywhere.
//! Each case runs when DROPLINE_TEST_REDIS_URL is set (CI sets it), on both backends.

mod contention;
mod failover;
mod gate;
pub(crate) mod processes;
mod product_feed;
mod redis_loss;
mod rounds;
mod stock_feed;
mod unusable;

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
