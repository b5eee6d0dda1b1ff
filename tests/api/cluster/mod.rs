//! Several instances on one database and one Redis: one stock truth, sell-out seen everywhere.
//! Each case runs when DROPLINE_TEST_REDIS_URL is set (CI sets it), on both backends.

mod failover;
mod gate;
pub(crate) mod processes;
mod product_feed;
mod rounds;

/// Runs each named `async fn(Vec<TestApp>)` on three instances sharing a database and Redis.
#[macro_export]
macro_rules! on_every_cluster {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(apps) = $crate::helpers::TestApp::spawn_cluster($crate::helpers::Db::Sqlite, 3).await {
                        super::$name(apps).await;
                    }
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(apps) = $crate::helpers::TestApp::spawn_cluster($crate::helpers::Db::Mysql, 3).await {
                        super::$name(apps).await;
                    }
                }
            )*
        }
    };
}
