//! Extractors that check the caller's rights on what a request names before the handler runs.
//! Each answers in the order its handlers did when they took `Caller` and the path or query
//! themselves: the token (401), the path's or query's rejection (400), then its [`Check`]
//! (403, 404, 422), so moving a check here changes no answer. A handler that parses its body
//! before these checks (`Body`, `OptionalBody`) keeps its own steps, so body errors still
//! come first there.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiResult};
use super::extract::{Caller, path_id};
use super::query::PageQuery;
use crate::auth::Principal;
use crate::domain::ids::{ProductId, UserId};
use crate::domain::page::PageRequest;
use crate::domain::product::Product;
use crate::domain::round::RoundRef;
use crate::state::AppState;

/// A user reading a page of its own list (`/me/…?limit=&after=`).
pub struct OwnPage {
    /// The user the token speaks for.
    pub user: UserId,
    /// The page asked for.
    pub page: PageRequest,
}

/// A user acting on the product its path names (`/products/{id}/…`).
pub struct UserOnProduct {
    /// The user the token speaks for.
    pub user: UserId,
    /// The product of the path.
    pub product: Product,
}

/// The product a path names, for those who manage it (admin or an owning brand).
pub struct ManagedProduct(pub Product);

/// The product a path names, for admins.
pub struct AdminProduct(pub Product);

/// A page of a product's list (`/products/{id}/…?limit=&after=`) with the product, which `P`
/// checks: [`ManagedProduct`] or [`AdminProduct`].
pub struct ProductPage<P> {
    /// The product of the path.
    pub product: Product,
    /// The page asked for.
    pub page: PageRequest,
    checked_by: PhantomData<P>,
}

/// A page of a list of one round of a product the caller manages
/// (`/products/{id}/notifications/rounds/{round}/…?limit=&after=`): the product's check
/// (403, 404), the round's number (404), the page's values (422), then the round (404).
pub struct PageOfRound {
    /// The round of the path, which exists, of the product of the path.
    pub round: RoundRef,
    /// The page asked for.
    pub page: PageRequest,
}

impl From<ManagedProduct> for Product {
    fn from(ManagedProduct(product): ManagedProduct) -> Self {
        product
    }
}

impl From<AdminProduct> for Product {
    fn from(AdminProduct(product): AdminProduct) -> Self {
        product
    }
}

/// Loads a product or answers 404.
pub async fn load(state: &AppState, raw_id: &str) -> ApiResult<Product> {
    let id: ProductId = path_id(raw_id, "product")?;
    crate::shop::products::get(&state.shop(), id)
        .await?
        .ok_or(ApiError::NotFound("product"))
}

/// Loads a product the caller may manage (admin or an owning brand), or answers 404/403.
pub async fn load_managed(state: &AppState, caller: &Caller, raw_id: &str) -> ApiResult<Product> {
    if let Principal::User(_) = caller.0 {
        return Err(ApiError::Forbidden);
    }
    let product = load(state, raw_id).await?;
    caller.require_admin_or_brand(&product.brand_ids)?;
    Ok(product)
}

/// A round number from the path; anything but a positive integer names no round (404).
pub fn round_number(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|r| *r > 0)
        .ok_or(ApiError::NotFound("round"))
}

/// How an extractor of this module checks the request, once the caller and `Parts` are read.
trait Check: Sized {
    /// The parts of the request it reads after the caller.
    type Parts: FromRequestParts<AppState>;

    /// The value, or the answer (403, 404, 422) the handler would have given.
    async fn check(state: &AppState, caller: Caller, parts: Self::Parts) -> ApiResult<Self>;
}

/// Implements `FromRequestParts` for each type with its [`Check`].
macro_rules! checked {
    ($($scope:ty),* $(,)?) => {$(
        impl FromRequestParts<AppState> for $scope {
            type Rejection = Response;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, Self::Rejection> {
                let caller = part::<Caller>(parts, state).await?;
                let read = part(parts, state).await?;
                <$scope as Check>::check(state, caller, read)
                    .await
                    .map_err(IntoResponse::into_response)
            }
        }
    )*};
}

/// One part of the request; its rejection is the answer.
async fn part<T: FromRequestParts<AppState>>(
    parts: &mut Parts,
    state: &AppState,
) -> Result<T, Response> {
    T::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)
}

checked!(
    OwnPage,
    UserOnProduct,
    ManagedProduct,
    AdminProduct,
    ProductPage<ManagedProduct>,
    ProductPage<AdminProduct>,
    PageOfRound
);

impl Check for OwnPage {
    type Parts = Query<PageQuery>;

    async fn check(_: &AppState, caller: Caller, Query(q): Self::Parts) -> ApiResult<Self> {
        let user = caller.require_user()?;
        let page = q.parse()?;
        Ok(Self { user, page })
    }
}

impl Check for UserOnProduct {
    type Parts = Path<String>;

    async fn check(state: &AppState, caller: Caller, Path(id): Self::Parts) -> ApiResult<Self> {
        let user = caller.require_user()?;
        let product = load(state, &id).await?;
        Ok(Self { user, product })
    }
}

impl Check for ManagedProduct {
    type Parts = Path<String>;

    async fn check(state: &AppState, caller: Caller, Path(id): Self::Parts) -> ApiResult<Self> {
        load_managed(state, &caller, &id).await.map(Self)
    }
}

impl Check for AdminProduct {
    type Parts = Path<String>;

    async fn check(state: &AppState, caller: Caller, Path(id): Self::Parts) -> ApiResult<Self> {
        caller.require_admin()?;
        load(state, &id).await.map(Self)
    }
}

impl<P: Check<Parts = Path<String>> + Into<Product>> Check for ProductPage<P> {
    type Parts = (Path<String>, Query<PageQuery>);

    /// The product's check first, then the page's values (422).
    async fn check(state: &AppState, caller: Caller, parts: Self::Parts) -> ApiResult<Self> {
        let (path, Query(q)) = parts;
        let product = P::check(state, caller, path).await?.into();
        let page = q.parse()?;
        Ok(Self {
            product,
            page,
            checked_by: PhantomData,
        })
    }
}

impl Check for PageOfRound {
    type Parts = (Path<(String, String)>, Query<PageQuery>);

    async fn check(state: &AppState, caller: Caller, parts: Self::Parts) -> ApiResult<Self> {
        let (Path((id, round)), Query(q)) = parts;
        let product = load_managed(state, &caller, &id).await?;
        let round = round_number(&round)?;
        let page = q.parse()?;
        let round = RoundRef {
            product: product.id,
            round,
        };
        crate::shop::rounds::get(&state.shop(), round)
            .await?
            .ok_or(ApiError::NotFound("round"))?;
        Ok(Self { round, page })
    }
}
