//! `/brands`: the labels that release collaborations.

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;

use super::error::ApiResult;
use super::extract::{Body, Caller};
use super::query::PageQuery;
use crate::domain::brand::{Brand, BrandCategory, Name, NewBrand};
use crate::domain::page::Page;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/brands", get(list).post(create))
}

#[derive(Debug, Deserialize)]
struct CreateBrand {
    name: String,
    category: String,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateBrand>,
) -> ApiResult<(StatusCode, Json<Brand>)> {
    caller.require_admin()?;
    let brand = NewBrand {
        name: Name::parse("name", &body.name)?,
        category: BrandCategory::try_from(body.category.as_str())?,
    };
    let created = state.store.create_brand(&brand, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn list(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<Brand>>> {
    let page = q.parse()?;
    let rows = state.store.list_brands(&page).await?;
    Ok(Json(Page::from_rows(rows, &page, |b| b.id.get())))
}
