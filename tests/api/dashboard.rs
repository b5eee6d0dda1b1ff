//! The dashboard and the buyer's drop page, with their assets, served from the binary.

use reqwest::StatusCode;

use crate::helpers::TestApp;

crate::on_every_backend!(
    the_dashboard_and_its_assets_are_served_from_the_binary,
    the_drop_page_and_its_assets_are_served_from_the_binary,
);

/// GET `path`: the status, content type and body.
async fn get(app: &TestApp, path: &str) -> (StatusCode, String, String) {
    let resp = app
        .client
        .get(format!("{}{path}", app.addr))
        .send()
        .await
        .expect("get");
    let status = resp.status();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    (status, ct, resp.text().await.expect("body"))
}

async fn the_dashboard_and_its_assets_are_served_from_the_binary(app: TestApp) {
    let get = |path: &'static str| get(&app, path);
    let (s, ct, html) = get("/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/html"), "{ct}");
    for needle in [
        "/assets/dashboard.js",
        "/assets/dashboard.css",
        "id=\"token\"",
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    // No asset comes from another host.
    assert!(!html.contains("http://") && !html.contains("https://"));
    let (s, ct, js) = get("/assets/dashboard.js").await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/javascript"), "{ct}");
    assert!(js.contains("/admin/events?token="));
    assert!(js.contains("/draw/entries"), "the dashboard shows draws");
    let (s, ct, _) = get("/assets/dashboard.css").await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/css"), "{ct}");
}

async fn the_drop_page_and_its_assets_are_served_from_the_binary(app: TestApp) {
    let (s, ct, html) = get(&app, "/drops/7").await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/html"), "{ct}");
    for needle in [
        "/assets/drop.js",
        "/assets/drop.css",
        "id=\"join\"",
        "id=\"buy\"",
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
    let (s, ct, js) = get(&app, "/assets/drop.js").await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/javascript"), "{ct}");
    assert!(js.contains("/queue/events?token="));
    assert!(
        js.contains("/subscription"),
        "the page joins the restock line"
    );
    // The token stays in memory: the page never stores it.
    assert!(!js.contains("localStorage") && !js.contains("sessionStorage"));
    let (s, ct, _) = get(&app, "/assets/drop.css").await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/css"), "{ct}");
}
