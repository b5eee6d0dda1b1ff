//! The buyer's drop page at `/drops/{id}`: plain HTML, JavaScript and CSS compiled into the
//! binary like the dashboard. The page reads the product, the waiting room and its event
//! stream with the buyer's token, which the brand's site passes in the URL fragment.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use crate::state::AppState;

const PAGE: &str = include_str!("../../assets/drop/index.html");
const SCRIPT: &str = include_str!("../../assets/drop/drop.js");
const STYLE: &str = include_str!("../../assets/drop/drop.css");

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/drops/{id}", get(page))
        .route("/assets/drop.js", get(script))
        .route("/assets/drop.css", get(style))
}

/// The page is the same for every drop: its script reads the id from the path.
async fn page() -> impl IntoResponse {
    ([(CACHE_CONTROL, "no-cache")], Html(PAGE))
}

async fn script() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
}

async fn style() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        STYLE,
    )
}
