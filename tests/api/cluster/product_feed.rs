//! Product reads from memory on several instances: a change made on one is read on every
//! other within 100 ms, and an instance that lost the change feed reads the database.

use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

use crate::helpers::{TestApp, redis_url, uuid_like};

crate::on_every_cluster!(a_change_on_one_instance_is_read_on_every_instance_within_100_ms);

/// Cutting one instance off takes a Redis user on the standalone server, so this case runs
/// there (on both backends); the cluster and TLS runs share the feed code it tests.
mod lost_feed {
    use crate::helpers::{Db, TestApp};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        if let Some(apps) = TestApp::spawn_cluster(Db::Sqlite, 3).await {
            super::an_instance_that_lost_the_feed_reads_the_database_until_it_is_back(apps).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn mysql() {
        if let Some(apps) = TestApp::spawn_cluster(Db::Mysql, 3).await {
            super::an_instance_that_lost_the_feed_reads_the_database_until_it_is_back(apps).await;
        }
    }
}

/// How soon a change must be visible on every instance once its write answered.
const VISIBLE_WITHIN: Duration = Duration::from_millis(100);

/// Waits (bounded) until the instance's copy of products is vouched for by its feed.
async fn serving(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app.state.products.is_serving() {
        assert!(Instant::now() < deadline, "the feed was never heard");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every instance holds the product in memory, as the database has it.
async fn held_everywhere(apps: &[TestApp], product: i64) {
    for app in apps {
        serving(app).await;
        app.assert_read_is_current(product).await;
    }
}

/// Reads the product on `apps` until every one shows `wanted`; fails when that takes longer
/// than [`VISIBLE_WITHIN`] from `since` (when the write answered).
async fn visible_on(apps: &[&TestApp], product: i64, since: Instant, wanted: &Value) {
    loop {
        let started = Instant::now();
        assert!(
            started.duration_since(since) <= VISIBLE_WITHIN,
            "product {product} was not {wanted} everywhere within {VISIBLE_WITHIN:?}"
        );
        let mut all = true;
        for app in apps {
            all &= app.read_product(product).await == *wanted;
        }
        if all {
            return;
        }
    }
}

async fn a_change_on_one_instance_is_read_on_every_instance_within_100_ms(apps: Vec<TestApp>) {
    let product = apps[0].product(json!({ "stock": 5 })).await;

    // A PATCH on the first instance.
    held_everywhere(&apps, product).await;
    let patched = apps[0]
        .patch_product(product, json!({ "name": "Tent x Kith", "price": 123000 }))
        .await;
    let since = Instant::now();
    visible_on(&[&apps[1], &apps[2]], product, since, &patched).await;

    // An order on the second.
    held_everywhere(&apps, product).await;
    apps[1].reserve(product, 1).await;
    let since = Instant::now();
    let mut ordered = patched.clone();
    ordered["stock"] = json!(4);
    visible_on(&[&apps[0], &apps[2]], product, since, &ordered).await;
    assert_eq!(apps[1].read_product(product).await, ordered);

    // A restock on the third.
    held_everywhere(&apps, product).await;
    let round = apps[2].restock_and_wait(product, Some(3)).await;
    let since = Instant::now();
    assert_eq!(round["status"], "COMPLETED", "{round}");
    let restocked = apps[2].listed_product(product).await;
    assert_eq!(restocked["stock"], 7);
    assert_eq!(restocked["restock_round"], 1);
    visible_on(&[&apps[0], &apps[1]], product, since, &restocked).await;
}

/// A Redis user of the shared server for one instance, so the test can cut that instance
/// off alone; removed when dropped.
struct RedisUser {
    name: String,
    server: String,
}

impl RedisUser {
    fn create(server: &str) -> Self {
        let user = Self {
            name: format!("dropline-feed-{}", uuid_like()),
            server: server.to_owned(),
        };
        user.acl(&["SETUSER", &user.name, "on", "nopass", "~*", "&*", "+@all"]);
        user
    }

    /// The server's URL, logged in as this user.
    fn url(&self) -> String {
        self.server
            .replacen("redis://", &format!("redis://{}:x@", self.name), 1)
    }

    /// Refuses the user's logins and closes every connection it has.
    fn cut_off(&self) {
        self.acl(&["SETUSER", &self.name, "off"]);
        let mut c = self.conn();
        let _: redis::RedisResult<i64> = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("USER")
            .arg(&self.name)
            .query(&mut c);
    }

    fn let_back(&self) {
        self.acl(&["SETUSER", &self.name, "on"]);
    }

    fn conn(&self) -> redis::Connection {
        redis::Client::open(self.server.as_str())
            .and_then(|c| c.get_connection())
            .expect("redis")
    }

    fn acl(&self, args: &[&str]) {
        let mut cmd = redis::cmd("ACL");
        for a in args {
            cmd.arg(*a);
        }
        let _: () = cmd.query(&mut self.conn()).expect("ACL");
    }
}

impl Drop for RedisUser {
    fn drop(&mut self) {
        if let Ok(mut c) =
            redis::Client::open(self.server.as_str()).and_then(|c| c.get_connection())
        {
            let _: redis::RedisResult<i64> = redis::cmd("ACL")
                .arg("DELUSER")
                .arg(&self.name)
                .query(&mut c);
        }
    }
}

async fn an_instance_that_lost_the_feed_reads_the_database_until_it_is_back(
    mut apps: Vec<TestApp>,
) {
    let Some(server) = redis_url() else { return };
    let user = RedisUser::create(&server);
    let cut = apps.remove(1);
    let cut = cut.restart_with(|s| s.redis.url = Some(user.url())).await;
    apps.insert(1, cut);
    let (writer, cut) = (&apps[0], &apps[1]);
    let product = writer.product(json!({ "stock": 5 })).await;
    held_everywhere(std::slice::from_ref(cut), product).await;

    // The instance loses its Redis connections, feed included, and cannot log in again.
    user.cut_off();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cut.state.products.is_serving() {
        assert!(Instant::now() < deadline, "the lost feed went unnoticed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let patched = writer
        .patch_product(product, json!({ "price": 77000 }))
        .await;
    // Nothing reaches it, and it reads what the database holds.
    let hits = cut.state.products.hits();
    assert_eq!(cut.read_product(product).await, patched);
    assert_eq!(cut.read_product(product).await, patched);
    assert_eq!(cut.state.products.hits(), hits, "no read came from memory");

    // Once it is let back, it follows the feed again.
    user.let_back();
    held_everywhere(std::slice::from_ref(cut), product).await;
    let patched = writer
        .patch_product(product, json!({ "price": 78000 }))
        .await;
    let since = Instant::now();
    visible_on(&[cut], product, since, &patched).await;
}
