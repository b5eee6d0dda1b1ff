//! `/products`: limited-edition collaborations, their sale settings and stock.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Created;
use super::access::{ManagedProduct, load};
use super::error::{ApiError, ApiResult};
use super::extract::{Caller, DeferredJson};
use super::query::PageQuery;
use super::queue::settings::{QueueBody, QueueView, parse_queue, queue_view};
use super::schemas::page_schema;
use super::schemas::{BadBody, ErrorBody, Invalid, NeedsToken, UnknownId};
use crate::auth::Principal;
use crate::domain::brand::Name;
use crate::domain::claim::{AlertMode, AlertSettings};
use crate::domain::draws::SaleMode;
use crate::domain::ids::{BrandId, ProductId};
use crate::domain::page::Page;
use crate::domain::product::{LinePolicy, NewProduct, Product, ProductChanges, SaleSettings};
use crate::domain::queue::QueueSettings;
use crate::shop;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products", get(list).post(create))
        .route("/products/{id}", get(show).patch(update))
}

/// Whether a product has units free to order now.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StockStatus {
    /// At least one unit is free.
    InStock,
    /// No unit is free.
    SoldOut,
}

/// A product as clients see it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Product, example = json!({
    "id": 3, "name": "Chair One x Kith", "brand_ids": [1, 2], "price": 189000, "stock": 0,
    "stock_status": "SOLD_OUT", "restock_round": 1, "sale_starts_at": "2026-12-14T10:00:00Z",
    "sale_ends_at": null, "per_user_limit": 1, "hold_seconds": 1800, "line_policy": "restart",
    "sale_mode": "first_come", "draw_seed_hash": null, "alert_mode": "broadcast",
    "claim_seconds": 600, "queue": {"enabled": false, "opens_at": null, "admit_seconds": 120,
    "admit_rate": 500}, "queue_seed_hash": null, "queue_seed": null, "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-14T10:05:00Z"}))]
pub struct ProductView {
    #[schema(value_type = i64, minimum = 1)]
    id: ProductId,
    name: String,
    #[schema(value_type = Vec<i64>)]
    brand_ids: Vec<BrandId>,
    /// Price in minor units (KRW won).
    price: i64,
    /// Units free to order now.
    stock: i64,
    stock_status: StockStatus,
    /// The number of the latest restock round (0 before the first).
    restock_round: i64,
    /// Null: on sale from creation.
    #[schema(required = true)]
    sale_starts_at: Option<DateTime<Utc>>,
    /// Null: no end.
    #[schema(required = true)]
    sale_ends_at: Option<DateTime<Utc>>,
    per_user_limit: i64,
    hold_seconds: i64,
    line_policy: LinePolicy,
    sale_mode: SaleMode,
    /// Lowercase hex SHA-256 of the draw's secret seed; null unless `sale_mode` is `draw`.
    #[schema(required = true)]
    draw_seed_hash: Option<String>,
    alert_mode: AlertMode,
    /// How long a claim sets its unit aside (claim rounds).
    claim_seconds: i64,
    queue: QueueView,
    /// Lowercase hex SHA-256 of the waiting room's seed; null without a room.
    #[schema(required = true)]
    queue_seed_hash: Option<String>,
    /// The room's seed (64 hex digits), from `sale_starts_at` on; null before.
    #[schema(required = true)]
    queue_seed: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ProductView {
    /// The product as clients see it at `now` (the room's seed shows once the sale started).
    pub fn new(mut p: Product, now: DateTime<Utc>) -> Self {
        let (queue, queue_seed_hash, queue_seed) = queue_view(&mut p, now);
        Self {
            queue,
            queue_seed_hash,
            queue_seed,
            id: p.id,
            name: p.name,
            brand_ids: p.brand_ids,
            price: p.price,
            stock: p.stock,
            stock_status: if p.stock > 0 {
                StockStatus::InStock
            } else {
                StockStatus::SoldOut
            },
            restock_round: p.restock_round,
            sale_starts_at: p.sale_starts_at,
            sale_ends_at: p.sale_ends_at,
            per_user_limit: p.per_user_limit,
            hold_seconds: p.hold_seconds,
            line_policy: p.line_policy,
            sale_mode: p.sale_mode,
            draw_seed_hash: p.draw_seed_hash,
            alert_mode: p.alert.alert_mode,
            claim_seconds: p.alert.claim_seconds,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// The body of `POST /products`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Chair One x Kith", "brand_ids": [1, 2], "price": 189000,
    "stock": 100, "sale_starts_at": "2026-12-14T10:00:00Z", "per_user_limit": 2}))]
pub struct CreateProduct {
    name: String,
    brand_ids: Vec<i64>,
    price: i64,
    stock: i64,
    /// RFC 3339, in the years 1970 to 9999 (422 otherwise).
    sale_starts_at: Option<DateTime<Utc>>,
    /// RFC 3339, in the years 1970 to 9999 (422 otherwise).
    sale_ends_at: Option<DateTime<Utc>>,
    per_user_limit: Option<i64>,
    hold_seconds: Option<i64>,
    /// Default `restart`.
    #[schema(value_type = Option<LinePolicy>)]
    line_policy: Option<String>,
    /// Default `first_come`; `draw` needs `sale_starts_at` and `sale_ends_at`.
    #[schema(value_type = Option<SaleMode>)]
    sale_mode: Option<String>,
    /// Default `broadcast`.
    #[schema(value_type = Option<AlertMode>)]
    alert_mode: Option<String>,
    /// 5..=86400, default 600.
    claim_seconds: Option<i64>,
    /// The waiting room; default none.
    queue: Option<QueueBody>,
}

/// The alert settings of a body, over `current` where it leaves a field out.
fn parse_alert(
    mode: Option<&str>,
    seconds: Option<i64>,
    current: AlertSettings,
) -> ApiResult<AlertSettings> {
    Ok(AlertSettings {
        alert_mode: mode
            .map(AlertMode::try_from)
            .transpose()?
            .unwrap_or(current.alert_mode),
        claim_seconds: seconds.unwrap_or(current.claim_seconds),
    }
    .validate()?)
}

fn parse_mode(raw: Option<&str>, current: SaleMode) -> Result<SaleMode, ApiError> {
    Ok(raw.map(SaleMode::try_from).transpose()?.unwrap_or(current))
}

fn parse_policy(raw: Option<&str>, current: LinePolicy) -> Result<LinePolicy, ApiError> {
    Ok(raw
        .map(LinePolicy::try_from)
        .transpose()?
        .unwrap_or(current))
}

/// Creates a collaboration (admin, or a brand listed in `brand_ids`).
#[utoipa::path(post, path = "/products", operation_id = "createProduct", tag = "products", request_body = CreateProduct,
    security(("bearer" = [])),
    responses((status = 201, description = "Created", body = ProductView, headers(("Location" = String, description = "The path of the product"))),
        BadBody, NeedsToken, Invalid))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: DeferredJson,
) -> ApiResult<Created<ProductView>> {
    match caller.0 {
        Principal::Admin => {}
        Principal::Brand(brand) => {
            // A brand's right depends on the body: it must list the brand, whatever else is
            // wrong with it; a body that cannot be read lists nobody.
            if !body.peek().is_some_and(|raw| lists_brand(&raw, brand)) {
                return Err(ApiError::Forbidden);
            }
        }
        Principal::User(_) => return Err(ApiError::Forbidden),
    }
    let body: CreateProduct = body.parse()?;
    let sale = SaleSettings {
        price: body.price,
        sale_starts_at: body.sale_starts_at,
        sale_ends_at: body.sale_ends_at,
        per_user_limit: body
            .per_user_limit
            .unwrap_or(SaleSettings::DEFAULT_PER_USER_LIMIT),
        hold_seconds: body
            .hold_seconds
            .unwrap_or(SaleSettings::DEFAULT_HOLD_SECONDS),
        line_policy: parse_policy(body.line_policy.as_deref(), LinePolicy::default())?,
        sale_mode: parse_mode(body.sale_mode.as_deref(), SaleMode::default())?,
    };
    let queue = QueueSettings::default();
    let queue = parse_queue(body.queue, queue, sale.sale_mode, sale.sale_starts_at)?;
    let mut product = NewProduct::parse(&body.name, &body.brand_ids, body.stock, sale)?;
    product.queue = queue;
    product.alert = parse_alert(
        body.alert_mode.as_deref(),
        body.claim_seconds,
        AlertSettings::default(),
    )?;
    caller.require_admin_or_brand(&product.brand_ids)?;
    let created = shop::products::create(&state.shop(), product).await?;
    let (path, now) = (format!("/products/{}", created.id), state.clock.now());
    Ok(Created(path, ProductView::new(created, now)))
}

/// Whether a product body's `brand_ids` lists `brand`.
fn lists_brand(raw: &serde_json::Value, brand: BrandId) -> bool {
    raw.get("brand_ids")
        .and_then(|ids| ids.as_array())
        .is_some_and(|ids| ids.iter().any(|id| id.as_i64() == Some(brand.get())))
}

/// Reads one product.
#[utoipa::path(get, path = "/products/{id}", operation_id = "getProduct", tag = "products", params(("id" = i64, Path, description = "Product id")),
    responses((status = 200, description = "The product", body = ProductView),
        UnknownId))]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProductView>> {
    Ok(Json(ProductView::new(
        load(&state, &id).await?,
        state.clock.now(),
    )))
}

/// Lists products by id.
#[utoipa::path(get, path = "/products", operation_id = "listProducts", tag = "products", params(PageQuery),
    responses((status = 200, description = "A page of products", body = ProductPage),
        Invalid))]
async fn list(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<ProductView>>> {
    let page = q.parse()?;
    let products = shop::products::list(&state.shop(), &page).await?;
    let now = state.clock.now();
    Ok(Json(products.map(|p| ProductView::new(p, now))))
}

/// The body of `PATCH /products/{id}`: absent fields stay, a null sale time clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"price": 199000, "sale_ends_at": null, "line_policy": "rotate"}))]
pub struct PatchProduct {
    name: Option<String>,
    price: Option<i64>,
    /// RFC 3339, in the years 1970 to 9999 (422 otherwise); null clears it.
    #[serde(default, deserialize_with = "super::extract::some_or_null")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    sale_starts_at: Option<Option<DateTime<Utc>>>,
    /// RFC 3339, in the years 1970 to 9999 (422 otherwise); null clears it.
    #[serde(default, deserialize_with = "super::extract::some_or_null")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    sale_ends_at: Option<Option<DateTime<Utc>>>,
    per_user_limit: Option<i64>,
    hold_seconds: Option<i64>,
    #[schema(value_type = Option<LinePolicy>)]
    line_policy: Option<String>,
    /// Cannot change once the product has an order or an entry (409 `sale_mode_locked`).
    #[schema(value_type = Option<SaleMode>)]
    sale_mode: Option<String>,
    /// Takes effect from the next round.
    #[schema(value_type = Option<AlertMode>)]
    alert_mode: Option<String>,
    /// 5..=86400; takes effect from the next round.
    claim_seconds: Option<i64>,
    /// The waiting room's settings; absent fields stay.
    queue: Option<QueueBody>,
}

/// Changes a product's name or sale settings (admin or an owning brand).
#[utoipa::path(patch, path = "/products/{id}", operation_id = "updateProduct", tag = "products", params(("id" = i64, Path, description = "Product id")), request_body = PatchProduct,
    security(("bearer" = [])),
    responses((status = 200, description = "The changed product", body = ProductView),
        (status = 409, description = "`sale_mode_locked`: the product has orders or entries; `queue_locked`: `queue.enabled` changed after someone joined", body = ErrorBody),
        BadBody, NeedsToken, UnknownId, Invalid))]
async fn update(
    State(state): State<AppState>,
    ManagedProduct(current): ManagedProduct,
    body: DeferredJson,
) -> ApiResult<Json<ProductView>> {
    let body: PatchProduct = body.parse()?;
    let sale = SaleSettings {
        price: body.price.unwrap_or(current.price),
        sale_starts_at: body.sale_starts_at.unwrap_or(current.sale_starts_at),
        sale_ends_at: body.sale_ends_at.unwrap_or(current.sale_ends_at),
        per_user_limit: body.per_user_limit.unwrap_or(current.per_user_limit),
        hold_seconds: body.hold_seconds.unwrap_or(current.hold_seconds),
        line_policy: parse_policy(body.line_policy.as_deref(), current.line_policy)?,
        sale_mode: parse_mode(body.sale_mode.as_deref(), current.sale_mode)?,
    }
    .validate()?;
    let queue = parse_queue(
        body.queue,
        current.queue,
        sale.sale_mode,
        sale.sale_starts_at,
    )?;
    let changes = ProductChanges {
        name: Name::parse("name", body.name.as_deref().unwrap_or(&current.name))?,
        sale,
        draw_seed: None,
        alert: parse_alert(
            body.alert_mode.as_deref(),
            body.claim_seconds,
            current.alert,
        )?,
        queue,
        queue_seed: None,
    };
    let updated = shop::products::update(&state.shop(), &current, changes).await?;
    Ok(Json(ProductView::new(updated, state.clock.now())))
}

page_schema!(ProductPage, ProductView);
