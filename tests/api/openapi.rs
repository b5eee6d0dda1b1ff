//! The OpenAPI document: every path of the contract, operation ids, enums, required fields,
//! security, servers and tags, and the docs page.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::helpers::TestApp;

crate::on_every_backend!(
    the_openapi_document_lists_every_path_of_the_contract,
    the_docs_page_is_served_with_its_assets,
    every_operation_has_a_distinct_operation_id_named_for_what_it_does,
    closed_sets_of_strings_are_enums,
    fields_always_sent_are_required_and_nullable_where_null,
    public_operations_have_empty_security_and_the_rest_name_bearer,
    the_document_names_its_servers_tags_and_examples,
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
    ("/products/{id}/entry", &["put", "delete"]),
    ("/me/entries", &["get"]),
    ("/products/{id}/draw", &["get"]),
    ("/products/{id}/draw/entries", &["get"]),
    ("/products/{id}/queue", &["put", "delete", "get"]),
    ("/admin/products/{id}/queue", &["get"]),
    ("/admin/products/{id}/queue/members", &["get"]),
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

/// Every operation of the document: (path, method, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                ops.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    ops
}

async fn spec(app: &TestApp) -> Value {
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    doc
}

async fn every_operation_has_a_distinct_operation_id_named_for_what_it_does(app: TestApp) {
    let doc = spec(&app).await;
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (path, method, op) in operations(&doc) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
            .to_owned();
        if let Some(before) = seen.insert(id.clone(), format!("{method} {path}")) {
            panic!("operationId {id} is used by {before} and {method} {path}");
        }
    }
    let expected = [
        ("/products", "get", "listProducts"),
        ("/products", "post", "createProduct"),
        ("/products/{id}", "get", "getProduct"),
        ("/products/{id}", "patch", "updateProduct"),
        ("/brands", "get", "listBrands"),
        ("/brands", "post", "createBrand"),
        ("/products/{id}/orders", "post", "placeOrder"),
        ("/orders/{id}", "get", "getOrder"),
        ("/orders/{id}/pay", "post", "payOrder"),
        ("/orders/{id}/cancel", "post", "cancelOrder"),
        ("/me/orders", "get", "listMyOrders"),
        ("/products/{id}/subscription", "put", "joinLine"),
        ("/products/{id}/subscription", "delete", "leaveLine"),
        ("/me/subscriptions", "get", "listMySubscriptions"),
        ("/products/{id}/entry", "put", "enterDraw"),
        ("/products/{id}/entry", "delete", "withdrawFromDraw"),
        ("/me/entries", "get", "listMyEntries"),
        ("/products/{id}/draw", "get", "getDraw"),
        ("/products/{id}/draw/entries", "get", "listDrawEntries"),
        (
            "/products/{id}/notifications/re-stock",
            "post",
            "restockProduct",
        ),
        (
            "/admin/products/{id}/notifications/re-stock",
            "post",
            "resumeRound",
        ),
        ("/products/{id}/notifications/rounds", "get", "listRounds"),
        (
            "/products/{id}/notifications/rounds/{round}",
            "get",
            "getRound",
        ),
    ];
    for (path, method, id) in expected {
        assert_eq!(
            doc["paths"][path][method]["operationId"], id,
            "{method} {path}"
        );
    }
}

/// Resolves a property schema to the enum it names (through `$ref` or a nullable `oneOf`).
fn enum_of(doc: &Value, schema: &Value) -> Vec<String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return enum_of(doc, &doc["components"]["schemas"][name]);
    }
    if let Some(variants) = schema["oneOf"].as_array() {
        return variants.iter().flat_map(|v| enum_of(doc, v)).collect();
    }
    schema["enum"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|v| v.as_str().expect("string enum").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn closed_sets_of_strings_are_enums(app: TestApp) {
    let doc = spec(&app).await;
    let schemas = &doc["components"]["schemas"];
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "Round",
            "status",
            &[
                "IN_PROGRESS",
                "COMPLETED",
                "CANCELED_BY_SOLD_OUT",
                "CANCELED_BY_ERROR",
            ],
        ),
        (
            "Order",
            "status",
            &["RESERVED", "PAID", "CANCELED", "EXPIRED"],
        ),
        ("Product", "stock_status", &["IN_STOCK", "SOLD_OUT"]),
        ("Product", "line_policy", &["restart", "rotate"]),
        ("Brand", "category", &["camping", "fashion", "other"]),
        ("CreateBrand", "category", &["camping", "fashion", "other"]),
        ("CreateProduct", "line_policy", &["restart", "rotate"]),
        ("PatchProduct", "line_policy", &["restart", "rotate"]),
        ("Product", "sale_mode", &["first_come", "draw"]),
        ("CreateProduct", "sale_mode", &["first_come", "draw"]),
        ("PatchProduct", "sale_mode", &["first_come", "draw"]),
        (
            "Entry",
            "status",
            &["ENTERED", "WON", "WAITLISTED", "WITHDRAWN"],
        ),
        ("Draw", "status", &["OPEN", "CLOSED", "DRAWN"]),
        (
            "QueueStanding",
            "state",
            &[
                "WAITING_FOR_OPEN",
                "WAITING",
                "ADMITTED",
                "ORDERED",
                "EXPIRED",
                "LEFT",
                "SOLD_OUT",
            ],
        ),
        (
            "QueueMember",
            "state",
            &[
                "WAITING_FOR_OPEN",
                "WAITING",
                "ADMITTED",
                "ORDERED",
                "EXPIRED",
                "LEFT",
                "SOLD_OUT",
            ],
        ),
    ];
    for (schema, field, values) in cases {
        let prop = &schemas[*schema]["properties"][*field];
        assert_eq!(enum_of(&doc, prop), *values, "{schema}.{field}: {prop}");
    }
}

async fn fields_always_sent_are_required_and_nullable_where_null(app: TestApp) {
    let doc = spec(&app).await;
    let schemas = &doc["components"]["schemas"];
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "Product",
            &[
                "id",
                "name",
                "brand_ids",
                "price",
                "stock",
                "stock_status",
                "restock_round",
                "per_user_limit",
                "hold_seconds",
                "line_policy",
                "sale_mode",
                "queue",
                "created_at",
                "updated_at",
            ],
            &[
                "sale_starts_at",
                "sale_ends_at",
                "draw_seed_hash",
                "queue_seed_hash",
                "queue_seed",
            ],
        ),
        (
            "QueueSettings",
            &["enabled", "admit_seconds", "admit_rate"],
            &["opens_at"],
        ),
        ("QueueStanding", &["state"], &[]),
        (
            "QueueMember",
            &["user_id", "state", "joined_before_start", "joined_at"],
            &["rank_key", "admitted_until"],
        ),
        ("QueueMemberPage", &["items"], &["next"]),
        (
            "QueueCounts",
            &[
                "waiting", "admitted", "ordered", "expired", "left", "sold_out",
            ],
            &[],
        ),
        (
            "Entry",
            &["product_id", "user_id", "quantity", "status", "created_at"],
            &["rank", "order_id"],
        ),
        (
            "Draw",
            &["product_id", "status", "entries", "seed_hash"],
            &["seed", "drawn_at", "entries_digest", "units"],
        ),
        ("EntryPage", &["items"], &["next"]),
        (
            "Round",
            &[
                "product_id",
                "round",
                "status",
                "notified_count",
                "started_at",
            ],
            &["last_sent_user_id", "finished_at", "error"],
        ),
        (
            "Order",
            &[
                "id",
                "product_id",
                "user_id",
                "quantity",
                "status",
                "created_at",
                "expires_at",
            ],
            &["paid_at"],
        ),
        ("Brand", &["id", "name", "category"], &[]),
        (
            "Subscription",
            &["product_id", "user_id", "active", "created_at"],
            &[],
        ),
        ("ProductPage", &["items"], &["next"]),
        ("ErrorBody", &["error"], &[]),
        ("ErrorDetail", &["code", "message"], &[]),
    ];
    for (schema, always, nullable) in cases {
        let s = &schemas[*schema];
        let required: Vec<&str> = s["required"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema} has no required list"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for field in always.iter().chain(nullable.iter()) {
            assert!(
                required.contains(field),
                "{schema}.{field} is not required: {s}"
            );
        }
        for field in *nullable {
            let ty = &s["properties"][*field]["type"];
            assert!(
                ty.as_array().is_some_and(|t| t.contains(&json!("null"))),
                "{schema}.{field} is not nullable: {ty}"
            );
        }
        for field in *always {
            let ty = &s["properties"][*field]["type"];
            assert!(
                !ty.as_array().is_some_and(|t| t.contains(&json!("null"))),
                "{schema}.{field} is nullable: {ty}"
            );
        }
    }
}

async fn public_operations_have_empty_security_and_the_rest_name_bearer(app: TestApp) {
    let doc = spec(&app).await;
    let public = [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/brands", "get"),
        ("/products", "get"),
        ("/products/{id}", "get"),
        ("/products/{id}/draw", "get"),
    ];
    for (path, method, op) in operations(&doc) {
        let expected = if public.contains(&(path.as_str(), method.as_str())) {
            json!([])
        } else {
            json!([{"bearer": []}])
        };
        assert_eq!(op["security"], expected, "{method} {path}");
    }
}

async fn the_document_names_its_servers_tags_and_examples(app: TestApp) {
    let doc = spec(&app).await;
    assert_eq!(doc["servers"][0]["url"], "/");
    let tags = doc["tags"].as_array().expect("tags");
    for tag in tags {
        assert!(
            tag["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{tag}"
        );
    }
    // Every operation's tag is declared.
    let declared: Vec<&Value> = tags.iter().map(|t| &t["name"]).collect();
    for (path, method, op) in operations(&doc) {
        for tag in op["tags"].as_array().expect("tags") {
            assert!(declared.contains(&tag), "{method} {path}: tag {tag}");
        }
    }
    // Request bodies and the main responses carry an example.
    let schemas = &doc["components"]["schemas"];
    for name in [
        "CreateBrand",
        "CreateProduct",
        "PatchProduct",
        "ImportRequest",
        "RestockRequest",
        "PlaceBody",
        "PayBody",
        "Brand",
        "Product",
        "Subscription",
        "Round",
        "Order",
        "Recipient",
        "ImportView",
        "ErrorBody",
    ] {
        assert!(
            schemas[name]["example"].is_object(),
            "{name} has no example"
        );
    }
    assert_eq!(schemas["Product"]["example"]["stock_status"], "SOLD_OUT");
}
