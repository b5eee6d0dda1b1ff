//! The OpenAPI document, generated from the handlers' annotations, and the offline docs page.

use axum::Router;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder, ResponsesBuilder};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

pub use super::error::{ErrorBody, ErrorDetail};
use utoipa_swagger_ui::SwaggerUi;

use super::brands::BrandView;
use super::claims::{ClaimView, MyClaimView};
use super::draws::EntryView;
use super::orders::OrderView;
use super::products::ProductView;
use super::round_reads::RecipientView;
use super::rounds::RoundView;
use super::subscriptions::{LineEntryView, SubscriptionView};
use super::{
    brands, claims, draws, events, health, ops, orders, products, round_reads, rounds,
    subscriptions,
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
        events::stream,
        orders::place, orders::show, orders::pay, orders::cancel, orders::mine,
        draws::enter, draws::withdraw, draws::mine, draws::draw, draws::entries,
        claims::round_claims, claims::mine,
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

/// Declares the schema of one keyset page of `$item` (the JSON of `Page<$item>`).
macro_rules! page_schema {
    ($name:ident, $item:ty) => {
        #[doc = concat!("A page of ", stringify!($item), ".")]
        #[derive(Serialize, ToSchema)]
        pub struct $name {
            items: Vec<$item>,
            /// The cursor of the next page, null on the last one.
            #[schema(required = true)]
            next: Option<String>,
        }
    };
}

page_schema!(BrandPage, BrandView);
page_schema!(ProductPage, ProductView);
page_schema!(SubscriptionPage, SubscriptionView);
page_schema!(LinePage, LineEntryView);
page_schema!(OrderPage, OrderView);
page_schema!(RoundPage, RoundView);
page_schema!(RecipientPage, RecipientView);
page_schema!(EntryPage, EntryView);
page_schema!(ClaimPage, ClaimView);
page_schema!(MyClaimPage, MyClaimView);

/// Declares error answers that several operations document alike, each in one place: an
/// operation lists them in its `responses(...)` after its own answers.
macro_rules! shared_errors {
    ($($(#[$doc:meta])* $name:ident: $(($status:literal, $description:literal))+;)+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                ResponsesBuilder::new()
                    $(.response($status, error_answer($description)))+
                    .build()
                    .into()
            }
        }
    )+};
}

shared_errors! {
    /// 400, 408 and 413: the body is not JSON or not sent as JSON, did not arrive in time, or
    /// is over the endpoint's limit.
    BadBody: ("400", "Malformed JSON or wrong content type")
        ("408", "`body_read_timeout`: the whole body did not arrive within the body read timeout of the request's head; the connection is closed")
        ("413", "`payload_too_large`: the body is over the endpoint's limit (64 KiB; 4 MiB for a line import)");
    /// 401 and 403: the operation needs a token that allows it.
    NeedsToken: ("401", "No or bad token") ("403", "The token does not allow this");
    /// 404: the path names nothing.
    UnknownId: ("404", "Unknown id");
    /// 409, with the code of whichever conflict refused the request.
    Refused: ("409", "The state of things refuses the request");
    /// 422: a value breaks a rule.
    Invalid: ("422", "A field has an invalid value");
    /// 503 `unavailable` with `Retry-After`: concurrent writes kept the database from
    /// committing this one (a deadlock or lock wait lost on every try); nothing was changed.
    Busy: ("503", "The database could not commit this under concurrent writes; nothing changed, send it again (Retry-After)");
}

/// An error answer: `description`, with the error envelope as its JSON body.
fn error_answer(description: &str) -> Response {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", body)
        .build()
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
