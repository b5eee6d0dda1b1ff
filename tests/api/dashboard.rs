//! The dashboard and its assets, served from the binary.

use reqwest::StatusCode;

use crate::helpers::TestApp;

crate::on_every_backend!(the_dashboard_and_its_assets_are_served_from_the_binary);

async fn the_dashboard_and_its_assets_are_served_from_the_binary(app: TestApp) {
    let get = |path: &str| {
        let url = format!("{}{path}", app.addr);
        let client = app.client.clone();
        async move {
            let resp = client.get(url).send().await.expect("get");
            let status = resp.status();
            let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
            (status, ct, resp.text().await.expect("body"))
        }
    };
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
