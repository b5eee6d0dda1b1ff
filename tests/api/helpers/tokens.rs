//! Tokens a test signs: admin, user and brand tokens, and an expired one.

use dropline::auth::{Claims, Principal};
use dropline::domain::ids::{BrandId, UserId};
use std::time::Duration;

use super::TestApp;

/// The signing secret of every test app.
pub const SECRET: &str = "test-secret-of-a-decent-length-for-hs256";

impl TestApp {
    /// An admin token good for an hour.
    pub fn admin(&self) -> String {
        self.token(Principal::Admin)
    }

    /// A token of user `id` good for an hour.
    pub fn user(&self, id: i64) -> String {
        self.token(Principal::User(UserId::from_db(id)))
    }

    /// A token of brand `id` good for an hour.
    pub fn brand(&self, id: i64) -> String {
        self.token(Principal::Brand(BrandId::from_db(id)))
    }

    /// A token of `principal` good for an hour.
    fn token(&self, principal: Principal) -> String {
        self.keys
            .mint(principal, Duration::from_secs(3600))
            .expect("mint")
    }

    /// An admin token that expired long ago.
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
}
