//! Liveness and readiness answer OK; unknown routes and methods answer in the error envelope.

use reqwest::StatusCode;

use crate::helpers::TestApp;

crate::on_every_backend!(
    health_and_readiness_answer_ok,
    unknown_routes_are_404_in_the_envelope
);

async fn health_and_readiness_answer_ok(app: TestApp) {
    assert_eq!(app.get("/healthz", None).await.0, StatusCode::OK);
    let (s, b) = app.get("/readyz", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["status"], "ready");
}

async fn unknown_routes_are_404_in_the_envelope(app: TestApp) {
    let got = app.get("/nope", None).await;
    crate::helpers::assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got = app
        .call("DELETE", "/brands", Some(&app.admin()), None)
        .await;
    crate::helpers::assert_error(&got, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}
