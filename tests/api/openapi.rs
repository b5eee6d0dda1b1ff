use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

crate::on_every_backend!(
    the_openapi_document_lists_every_path_of_the_contract,
    the_docs_page_is_served_with_its_assets,
);

/// Every path and method of shared/API.md, as OpenAPI spells them.
const CONTRACT: &[(&str, &[&str])] = &[
    ("/brands", &["get", "post"]),
    ("/products", &["get", "post"]),
    ("/products/{id}", &["get"]),
    ("/products/{id}/subscription", &["put", "delete"]),
    ("/me/subscriptions", &["get"]),
    ("/admin/products/{id}/subscriptions/import", &["post"]),
    ("/products/{id}/notifications/re-stock", &["post"]),
    ("/admin/products/{id}/notifications/re-stock", &["post"]),
    ("/products/{id}/notifications/rounds", &["get"]),
    ("/products/{id}/notifications/rounds/{round}", &["get"]),
    (
        "/products/{id}/notifications/rounds/{round}/recipients",
        &["get"],
    ),
    ("/products/{id}/orders", &["post"]),
    ("/orders/{id}/pay", &["post"]),
    ("/orders/{id}/cancel", &["post"]),
    ("/orders/{id}", &["get"]),
    ("/me/orders", &["get"]),
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
    ("/metrics", &["get"]),
    ("/openapi.json", &["get"]),
];

async fn the_openapi_document_lists_every_path_of_the_contract(app: TestApp) {
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().expect("paths");
    let mut missing = Vec::new();
    for (path, methods) in CONTRACT {
        for method in *methods {
            if paths.get(*path).and_then(|p| p.get(*method)).is_none() {
                missing.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "missing from /openapi.json: {missing:?}"
    );
    // Secured operations name the bearer scheme the document declares.
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        paths["/brands"]["post"]["security"][0]["bearer"],
        Value::Array(vec![])
    );
    let product = &doc["components"]["schemas"]["Product"]["properties"];
    for field in ["id", "brand_ids", "stock", "stock_status", "restock_round"] {
        assert!(product.get(field).is_some(), "Product.{field}");
    }
}

async fn the_docs_page_is_served_with_its_assets(app: TestApp) {
    let page = app
        .client
        .get(format!("{}/docs/", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let init = app
        .client
        .get(format!("{}/docs/swagger-initializer.js", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), StatusCode::OK);
    assert!(init.text().await.unwrap().contains("/openapi.json"));
    let css = app
        .client
        .get(format!("{}/docs/swagger-ui.css", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
}
