//! The first connection at start-up, made by hand so a failure names its cause (unknown
//! host, refused, bad password, no answer) instead of the pool's bare "timed out".

use sqlx::Connection;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError};
use std::io::ErrorKind;
use std::time::Duration;

use crate::store::StoreError;

/// MySQL's "access denied" error number.
const ACCESS_DENIED: u16 = 1045;
/// MySQL's "unknown database" error number.
const UNKNOWN_DATABASE: u16 = 1049;

/// Opens and closes one connection within `timeout`, or says why it could not.
pub(super) async fn check(
    options: &MySqlConnectOptions,
    timeout: Duration,
) -> Result<(), StoreError> {
    let (host, port) = (options.get_host(), options.get_port());
    let at = format!("{host}:{port}");
    let unreachable = |why: String| Err(StoreError::Unreachable(why));
    if tokio::net::lookup_host((host, port)).await.is_err() {
        return unreachable(format!("unknown host {host}: the name does not resolve"));
    }
    let connected = tokio::time::timeout(timeout, MySqlConnection::connect_with(options)).await;
    match connected {
        Err(_) => unreachable(format!(
            "no answer from {at} within {} s (timed out)",
            timeout.as_secs()
        )),
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(sqlx::Error::Io(e))) if e.kind() == ErrorKind::ConnectionRefused => unreachable(
            format!("connection refused by {at}: is MySQL running and listening there?"),
        ),
        Ok(Err(sqlx::Error::Io(e))) => unreachable(format!("cannot reach {at}: {e}")),
        Ok(Err(sqlx::Error::Database(db))) => {
            let number = db
                .try_downcast_ref::<MySqlDatabaseError>()
                .map(MySqlDatabaseError::number);
            let what = if number == Some(ACCESS_DENIED) || db.code().as_deref() == Some("28000") {
                "access denied: wrong user name or password"
            } else if number == Some(UNKNOWN_DATABASE) {
                "the database does not exist"
            } else {
                "the server refused the connection"
            };
            unreachable(format!("{what} ({at} said: {})", db.message()))
        }
        Ok(Err(e)) => unreachable(format!("cannot connect to {at}: {e}")),
    }
}
