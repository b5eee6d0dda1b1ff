//! `/brands`: the labels that release collaborations.

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Created;
use super::error::ApiResult;
use super::extract::{Caller, DeferredJson};
use super::query::PageQuery;
use super::schemas::page_schema;
use super::schemas::{BadBody, Invalid, NeedsToken};
use crate::domain::brand::{Brand, BrandCategory, Name, NewBrand};
use crate::domain::ids::BrandId;
use crate::domain::page::Page;
use crate::shop;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/brands", get(list).post(create))
}

/// A brand as clients see it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Brand, example = json!({"id": 1, "name": "Helinox", "category": "camping"}))]
pub struct BrandView {
    #[schema(value_type = i64, minimum = 1)]
    id: BrandId,
    name: String,
    category: BrandCategory,
}

impl From<Brand> for BrandView {
    fn from(b: Brand) -> Self {
        Self {
            id: b.id,
            name: b.name,
            category: b.category,
        }
    }
}

/// The body of `POST /brands`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Helinox", "category": "camping"}))]
pub struct CreateBrand {
    /// 1..=200 characters.
    name: String,
    #[schema(value_type = BrandCategory)]
    category: String,
}

/// Creates a brand (admin).
#[utoipa::path(post, path = "/brands", operation_id = "createBrand", tag = "brands", request_body = CreateBrand,
    security(("bearer" = [])),
    responses((status = 201, description = "Created", body = BrandView, headers(("Location" = String, description = "The path of the brand"))),
        BadBody, NeedsToken, Invalid))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: DeferredJson,
) -> ApiResult<Created<BrandView>> {
    caller.require_admin()?;
    let body: CreateBrand = body.parse()?;
    let brand = NewBrand {
        name: Name::parse("name", &body.name)?,
        category: BrandCategory::try_from(body.category.as_str())?,
    };
    let created = shop::brands::create(&state.shop(), &brand).await?;
    Ok(Created(format!("/brands/{}", created.id), created.into()))
}

/// Lists brands by id.
#[utoipa::path(get, path = "/brands", operation_id = "listBrands", tag = "brands", params(PageQuery),
    responses((status = 200, description = "A page of brands", body = BrandPage),
        Invalid))]
async fn list(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<BrandView>>> {
    let page = q.parse()?;
    let brands = shop::brands::list(&state.shop(), &page).await?;
    Ok(Json(brands.map(BrandView::from)))
}

page_schema!(BrandPage, BrandView);
