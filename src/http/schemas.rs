//! What the handlers' OpenAPI annotations share: the error answers several operations
//! document alike, the error envelope's schema, and the macro that declares the schema of a
//! keyset page. Handlers import this file; `openapi.rs` gathers the handlers.

use std::collections::BTreeMap;
use utoipa::IntoResponses;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder, ResponsesBuilder};

pub use super::error::{ErrorBody, ErrorDetail};

/// Declares the schema of one keyset page of `$item` (the JSON of `Page<$item>`).
macro_rules! page_schema {
    ($name:ident, $item:ty) => {
        #[doc = concat!("A page of ", stringify!($item), ".")]
        #[derive(serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            items: Vec<$item>,
            /// The cursor of the next page, null on the last one.
            #[schema(required = true)]
            next: Option<String>,
        }
    };
}
pub(crate) use page_schema;

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
