//! The test harness: a fresh app per test on a fresh database, port 0, one helper per endpoint.
// Not every suite uses every helper.
#![allow(dead_code)]

mod accounting;
mod app;
mod backends;
mod buyers;
mod catalog;
mod claims;
mod lines;
mod metrics;
mod orders;
mod processes;
mod receivers;
mod requests;
mod round_events;
mod rounds;
mod sse;
mod tokens;

pub use accounting::{PollAtMost, abandon, assert_accounted, reconcile_once, settled};
pub use app::{DbHandle, TEST_POOL, TestApp};
pub use backends::{MysqlDatabase, RedisKind, mysql_url, redis_target, redis_url, uuid_like};
pub use buyers::{Buyer, every_user_buys, order_as_buyer};
pub use claims::CLAIM_SECONDS;
pub use lines::users;
pub use metrics::{sample, scrape_at};
pub use processes::{
    Instance, ServedBinary, assert_finished_exactly, notifying_env, process_client, recipients_of,
    restock_at, send, start, wait_for_end,
};
pub use receivers::{KillWatch, bodies, signal_at, told, told_sorted};
pub use requests::{assert_error, assert_invalid, connect, item_ids, merged, tally};
pub use round_events::{checkpoints_at, final_event, started_so_far};
pub use rounds::Tuning;
pub use sse::EventStream;
pub use tokens::SECRET;

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

/// Runs each `async fn case(Db)` as two tests of the names given: on SQLite, and on MySQL
/// when `DROPLINE_TEST_MYSQL_URL` is set.
#[macro_export]
macro_rules! on_each_database {
    ($($case:ident: $sqlite:ident, $mysql:ident;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $sqlite() {
                $case($crate::helpers::Db::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $mysql() {
                if $crate::helpers::mysql_url().is_some() {
                    $case($crate::helpers::Db::Mysql).await;
                }
            }
        )*
    };
}
