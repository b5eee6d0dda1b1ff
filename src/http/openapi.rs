//! The OpenAPI document, generated from the handlers' annotations, and the offline docs page.

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::schemas::{ErrorBody, ErrorDetail};
use super::{
    brands, claims, deliveries, draws, events, health, ops, orders, products, queue, round_reads,
    rounds, subscriptions,
};
use crate::state::AppState;

/// Where the document is served.
pub const SPEC_PATH: &str = "/openapi.json";

/// The whole API as OpenAPI 3.1.
#[derive(OpenApi)]
#[openapi(
    info(title = "dropline", description = "Limited-edition collaboration drops and restock alerts",
        license(name = "MIT", identifier = "MIT")),
    servers((url = "/", description = "The server that serves this document")),
    paths(
        health::healthz, health::readyz, ops::scrape, spec,
        brands::list, brands::create,
        products::list, products::create, products::show, products::update,
        subscriptions::show, subscriptions::join, subscriptions::leave, subscriptions::mine,
        subscriptions::line, subscriptions::import,
        rounds::restock, rounds::resume, round_reads::list, round_reads::show, round_reads::recipients,
        deliveries::of_round, deliveries::of_notification, deliveries::replay,
        events::stream,
        orders::place, orders::show, orders::pay, orders::cancel, orders::mine,
        draws::enter, draws::withdraw, draws::mine, draws::draw, draws::entries,
        claims::round_claims, claims::mine,
        queue::join, queue::leave, queue::standing, queue::events::stream, queue::admin::counts, queue::admin::members,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth, &PublicOperations),
    tags(
        (name = "brands", description = "The labels that release collaborations"),
        (name = "products", description = "Limited-edition collaborations, their sale settings and stock"),
        (name = "line", description = "Restock-alert subscriptions: the line a restock notifies in join order"),
        (name = "rounds", description = "Restocks and the notification rounds they open"),
        (name = "orders", description = "First come, first served orders with a payment hold"),
        (name = "draws", description = "Limited editions sold by a verifiable lottery over an entry window"),
        (name = "queue", description = "The waiting room of a first-come sale: a verifiable order, stock-aware admissions"),
        (name = "operations", description = "Probes, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer-token scheme the secured operations name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An HS256 JWT whose `role` claim is `admin`, `brand` (with `brand_id`) \
                         or `user` (with `sub`, the user id); a token whose header names critical \
                         extensions (`crit`) is refused, as none is understood",
                    ))
                    .build(),
            ),
        );
    }
}

/// Marks every operation that names no security scheme as public with an explicit
/// `security: []`, so tools do not read the omission as "unspecified".
struct PublicOperations;

impl Modify for PublicOperations {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ]
            .into_iter()
            .flatten()
            {
                op.security.get_or_insert_with(Vec::new);
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "getOpenApiDocument",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)))]
#[allow(dead_code)]
fn spec() {}

/// `/openapi.json` and the docs page at `/docs` (its assets are compiled in).
pub fn router() -> Router<AppState> {
    Router::from(SwaggerUi::new("/docs").url(SPEC_PATH, ApiDoc::openapi()))
}
